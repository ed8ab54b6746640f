"""AutoEmb: weights over candidates, bi-level updates of the controller, argmax sizes, retrain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baseline_toys import (
    assert_arch_moves_only_on_validation_steps,
    toy_data,
    toy_spec,
    toy_trainer,
)

from baselines.autoemb import AutoEmbConfig, AutoEmbEmbedding
from baselines.projected import BlockEmbedding


def test_weights_sum_to_one_and_output_shape() -> None:
    torch.manual_seed(0)
    emb = AutoEmbEmbedding(toy_spec(dim=8))
    ids = torch.tensor([[0, 3, 23], [2, 22, 222]])
    weights = emb.candidate_weights(ids)
    assert weights.shape == (2, 3, 3)  # candidates 2, 4, 8 at D = 8
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert (weights > 0).all()
    assert emb(ids).shape == (2, 3, 8)


def test_candidates_are_capped_at_d() -> None:
    emb = AutoEmbEmbedding(toy_spec(dim=8), AutoEmbConfig(candidates=(2, 4, 8, 16, 32)))
    assert emb.sizes == (2, 4, 8)
    with pytest.raises(ValueError, match="candidates"):
        AutoEmbEmbedding(toy_spec(), AutoEmbConfig(candidates=()))


def test_controller_is_the_only_arch_parameter() -> None:
    emb = AutoEmbEmbedding(toy_spec())
    arch = {id(p) for p in emb.arch_parameters()}
    assert arch == {id(p) for p in emb.controller.parameters()}
    model_side = {id(p) for g in emb.param_groups(1e-3, 0.0) for p in g["params"]}
    assert not arch & model_side
    assert {id(p) for p in emb.stack.parameters()} <= model_side


def test_controller_steps_only_on_validation_batches() -> None:
    torch.manual_seed(0)
    assert_arch_moves_only_on_validation_steps(AutoEmbEmbedding(toy_spec()))


def test_argmax_sizes_are_candidates_and_retrain_uses_them() -> None:
    torch.manual_seed(0)
    spec = toy_spec(dim=16)
    emb = AutoEmbEmbedding(spec)
    with torch.no_grad():  # make popular features pick 16, the rest 2
        emb.controller[0].weight.fill_(1.0)
        emb.controller[0].bias.zero_()
        emb.controller[2].weight.zero_()
        emb.controller[2].bias.zero_()
        emb.controller[2].weight[3].fill_(1.0)  # candidate 16 scores the popularity
    dims = emb.feature_dims()
    assert set(dims.tolist()) <= set(emb.sizes)
    popular = emb.popularity[:, 0].numpy() > 0
    assert (dims[popular] == 16).all() and (dims[~popular] == 2).all()
    points = emb.retrain_points()
    assert [p.label for p in points] == ["argmax"]
    assert points[0].info["size_histogram"][16] == int(popular.sum())
    fresh = emb.for_retrain(points[0])
    assert isinstance(fresh, BlockEmbedding) and not fresh.needs_search
    np.testing.assert_array_equal(fresh.feature_dims(), dims)
    n16, n2 = int(popular.sum()), int((~popular).sum())
    assert fresh.num_params() == n16 * 16 + n2 * 2 + 2 * 16  # one projection, for size 2
    assert fresh(torch.tensor([[0, 3, 23]])).shape == (1, 3, 16)


def test_search_then_retrain_trains_with_the_real_trainer() -> None:
    torch.manual_seed(0)
    data = toy_data()
    emb = AutoEmbEmbedding(toy_spec(data=data))
    toy_trainer(emb, data, epochs=1).fit(evaluate_test=False)
    fresh = emb.for_retrain(emb.retrain_points()[0])
    result = toy_trainer(fresh, data, epochs=2).fit()
    assert result.test_auc > 0.6  # the toy label is learnable from the ids
