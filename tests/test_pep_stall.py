"""A PEP search whose pruning stalls (the task's pull on the thresholds outweighs their decay)
raises s's decay and reaches its targets; the targets reached before keep the reference's masks;
the boost is exact (Adam with coupled L2 wd + r) and recorded; tiny data gets enough steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.pep import MIN_SEARCH_STEPS, PEPConfig, PEPEmbedding
from autoembed.embeddings.pep_threshold import with_extra_decay
from autoembed.experiment import run_experiment


def test_the_extra_decay_steps_as_a_larger_coupled_decay() -> None:
    """Adam(wd) on ``with_extra_decay(s, r)`` takes the steps of Adam(wd + r) on ``s``."""
    torch.manual_seed(0)
    start, pull = torch.randn(50, 4) - 6, torch.randn(50, 4)
    boosted, plain = start.clone().requires_grad_(), start.clone().requires_grad_()
    opt_boosted = torch.optim.Adam([boosted], lr=0.01, weight_decay=1e-5)
    opt_plain = torch.optim.Adam([plain], lr=0.01, weight_decay=1e-5 + 1e-2)
    for _ in range(20):
        for opt, s, rate in ((opt_boosted, boosted, 1e-2), (opt_plain, plain, 0.0)):
            opt.zero_grad()
            (torch.sigmoid(with_extra_decay(s, rate)) * pull).sum().backward()
            opt.step()
    assert not torch.equal(boosted, start)
    torch.testing.assert_close(boosted, plain, rtol=1e-6, atol=1e-6)
    assert with_extra_decay(plain, 0.0) is plain


def _search(counts: list[int], **config) -> PEPEmbedding:
    """A PEP search (100 x 10 table, target 10%) whose trace holds ``counts``, one per 5 steps,
    with a cap of 100 steps (so a window is 5 steps)."""
    spec = EmbeddingSpec((100,), 10, np.ones(100, dtype=np.int64))
    pep = PEPEmbedding(spec, PEPConfig(targets=(0.1,), **config))
    pep.trace = [{"step": 5 * i, "nonzeros": n} for i, n in enumerate(counts, 1)]
    pep._cap_steps = 100
    return pep


def test_a_slowing_count_that_would_miss_the_cap_raises_the_decay() -> None:
    """From 500 to 480 in the last window (100 before): 380 more entries need 95 steps, 75 are
    left."""
    pep = _search([950, 800, 600, 500, 480])
    with pytest.warns(RuntimeWarning, match=r"pruning slowed at 48.0% kept \(step 25; .* ~95 more "
                      r"steps, the cap is 100\): s's weight decay raised to 0.0001"):
        pep._boost_on_stall(25, 480)
    assert pep.extra_decay == pytest.approx(9e-5) and pep.s_decay == pytest.approx(1e-4)
    assert pep.boosts == ({"step": 25, "nonzeros": 480, "s_weight_decay": pytest.approx(1e-4)},)
    pep.trace.append({"step": 30, "nonzeros": 470})
    pep._boost_on_stall(30, 470)  # within two windows of the boost: its effect is not measured yet
    assert len(pep.boosts) == 1


@pytest.mark.parametrize(("counts", "config", "why"), [
    ([950, 800, 600, 500, 480], {"stall_decay_factor": 1.0}, "off: the reference's fixed decay"),
    ([1000, 998, 995, 993, 992], {}, "pruning has not begun (the drift is at full speed)"),
    ([1000, 1000, 990, 980, 960], {}, "accelerating: the start of pruning"),
    ([950, 800, 600, 500, 450], {}, "slowing, but the target is reached by the cap (35 steps)"),
    ([950, 800, 600, 500, 480], {"max_threshold_weight_decay": 1e-5}, "already at the maximum"),
])
def test_no_boost(counts: list[int], config: dict, why: str) -> None:
    pep = _search(counts, **config)
    pep._boost_on_stall(25, counts[-1])
    assert pep.extra_decay == 0.0 and pep.boosts == (), why


def _tiny_stalling(tmp_path: Path, **params) -> ExperimentConfig:
    """PEP defaults on 200 synthetic rows (160 to train: one step an epoch): the model
    memorises them and, at the reference's decay, pruning stalls near 10%."""
    return ExperimentConfig(
        data=DataConfig(name="synthetic", options={"scale": "tiny", "n_rows": 200},
                        cache_dir=str(tmp_path)),
        model=ModelConfig(name="fm"), method="pep", method_params=params,
        train=TrainConfig(epochs=1, threads=1),
    )


def test_a_stalled_search_reaches_its_targets_with_the_reference_masks_before(tmp_path: Path) -> None:
    epochs: list[int] = []
    with pytest.warns(RuntimeWarning, match="target 0.05 was not reached"):
        reference = run_experiment(_tiny_stalling(tmp_path, stall_decay_factor=1.0),
                                   on_epoch=lambda m: epochs.append(m["epoch"]))
    assert max(epochs) == MIN_SEARCH_STEPS  # the cap was raised from 30 epochs to 100 steps
    with pytest.warns(RuntimeWarning, match="weight decay raised"):
        boosted = run_experiment(_tiny_stalling(tmp_path))
    assert [r.info["target"] for r in reference] == [0.5, 0.2, 0.1]
    assert [r.info["target"] for r in boosted] == [0.5, 0.2, 0.1, 0.05]
    assert boosted[-1].info["targets_not_reached"] == ""
    assert boosted[-1].info["threshold_weight_decay"] > 1e-5  # the 5% mask came after a boost
    for ref, row in zip(reference, boosted, strict=False):  # the same masks before the boost
        assert (row.info["step"], row.params, row.test_auc) == (ref.info["step"], ref.params, ref.test_auc)
        assert row.info["threshold_weight_decay"] == ref.info["threshold_weight_decay"] == 1e-5
