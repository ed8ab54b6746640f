"""AutoDim: Gumbel-softmax field weights, temperature annealing, argmax per field, retrain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baseline_toys import VOCAB, assert_arch_moves_only_on_validation_steps, toy_spec

from baselines.autodim import AutoDimConfig, AutoDimEmbedding


def test_temperature_anneals_per_epoch_down_to_the_floor() -> None:
    emb = AutoDimEmbedding(toy_spec(), AutoDimConfig(temperature=1.0, decay=0.5, min_temperature=0.2))
    seen = []
    for epoch in range(1, 5):
        emb.after_step(epoch)  # per-epoch annealing ignores steps
        emb.on_epoch_end(epoch)
        seen.append(float(emb.temperature))
    assert seen == pytest.approx([0.5, 0.25, 0.2, 0.2])


def test_temperature_anneals_per_step() -> None:
    emb = AutoDimEmbedding(toy_spec(), AutoDimConfig(anneal="step", decay=0.9))
    for step in range(1, 11):
        emb.after_step(step)
    emb.on_epoch_end(1)
    assert float(emb.temperature) == pytest.approx(0.9**10)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="anneal"):
        AutoDimEmbedding(toy_spec(), AutoDimConfig(anneal="batch"))
    with pytest.raises(ValueError, match="decay"):
        AutoDimEmbedding(toy_spec(), AutoDimConfig(decay=2.0))


def test_weights_are_gumbel_samples_in_training_and_softmax_in_eval() -> None:
    torch.manual_seed(0)
    emb = AutoDimEmbedding(toy_spec())
    a, b = emb.field_weights(), emb.field_weights()
    assert a.shape == (len(VOCAB), 3)  # candidates 2, 4, 8 at D = 8
    torch.testing.assert_close(a.sum(-1), torch.ones(len(VOCAB)))
    assert not torch.equal(a, b)  # fresh noise each call
    emb.eval()
    torch.testing.assert_close(emb.field_weights(), torch.full((len(VOCAB), 3), 1 / 3))
    assert emb(torch.tensor([[0, 3, 23]])).shape == (1, 3, 8)


def test_field_logits_step_only_on_validation_batches() -> None:
    torch.manual_seed(0)
    assert_arch_moves_only_on_validation_steps(AutoDimEmbedding(toy_spec()))


def test_argmax_per_field_and_retrain() -> None:
    spec = toy_spec(dim=16)
    emb = AutoDimEmbedding(spec)
    assert emb.sizes == (2, 4, 8, 16)  # 32 capped at D = 16
    with torch.no_grad():
        emb.field_logits.zero_()
        emb.field_logits[0, 3] = 1.0  # field 0 -> 16
        emb.field_logits[1, 0] = 1.0  # field 1 -> 2
        emb.field_logits[2, 2] = 1.0  # field 2 -> 8
    dims = emb.feature_dims()
    assert dims.tolist() == [16] * VOCAB[0] + [2] * VOCAB[1] + [8] * VOCAB[2]
    point = emb.retrain_points()[0]
    assert point.label == "argmax" and point.info["size_histogram"] == {2: 20, 4: 0, 8: 200, 16: 3}
    fresh = emb.for_retrain(point)
    np.testing.assert_array_equal(fresh.feature_dims(), dims)
    # tables, then projections for sizes 2 and 8 (none for 16 = D)
    assert fresh.num_params() == 3 * 16 + 20 * 2 + 200 * 8 + 2 * 16 + 8 * 16


def test_gumbel_sample_matches_torch_gumbel_softmax() -> None:
    emb = AutoDimEmbedding(toy_spec(), AutoDimConfig(temperature=0.7))
    with torch.no_grad():
        emb.field_logits.normal_()
    emb.train()
    torch.manual_seed(3)
    ours = emb.field_weights()
    torch.manual_seed(3)
    reference = torch.nn.functional.gumbel_softmax(emb.field_logits, tau=0.7, dim=-1)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
