"""PEP started with defaults reaches its targets; a hopeless init says so after one epoch; a target
not reached is named (warning + a field on every row), never silently dropped."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.embeddings.base import EmbeddingSpec, SearchContext
from autoembed.embeddings.pep import RECOMMENDED, PEPConfig, PEPEmbedding
from autoembed.experiment import run_experiment

ML1M_SPEC = EmbeddingSpec((13_597,), 32, np.ones(13_597, dtype=np.int64))  # FM table, D=32
ML1M_SEARCH_STEPS = 45 * 145  # the tuned cap: 45 epochs of 145 steps


def pep_config(scale: str, tmp_path: Path, search_epochs: int | None = None, **params) -> ExperimentConfig:
    """``autoembed train --method pep`` with the defaults (one retrain epoch, to be quick)."""
    train = TrainConfig(epochs=1, threads=1)
    search = TrainConfig(epochs=search_epochs, threads=1) if search_epochs else None
    return ExperimentConfig(
        data=DataConfig(name="synthetic", options={"scale": scale}, cache_dir=str(tmp_path)),
        model=ModelConfig(name="fm"), method="pep", method_params=params,
        train=train, search_train=search,
    )


@pytest.mark.parametrize("granularity", ["global", "dimension", "feature", "feature_dim"])
def test_the_sizing_rule_reproduces_the_tuned_ml1m_settings(granularity: str) -> None:
    """Untuned datasets get settings from one rule; on ml-1m's table and cap it gives back the
    tuned init and lr (within 5%), so the rule carries ml-1m's measured schedules elsewhere."""
    tuned = RECOMMENDED["ml-1m"][granularity]
    derived = PEPConfig.recommended("elsewhere", granularity, spec=ML1M_SPEC,
                                    search_steps=ML1M_SEARCH_STEPS)
    assert derived.threshold_init == pytest.approx(tuned["threshold_init"], abs=0.1)
    assert derived.threshold_lr == pytest.approx(tuned["threshold_lr"], rel=0.05)
    assert derived.s_weight_decay == tuned.get("threshold_weight_decay", derived.weight_decay)


def test_a_given_init_gets_the_lr_that_keeps_the_schedule() -> None:
    """threshold_init=-15 on ml-1m (the README's example): s must drift 11 units instead of 4,
    so its lr is ~2.7x the tuned one; a given lr is kept as given."""
    ctx = SearchContext("ml-1m", ML1M_SPEC, ML1M_SEARCH_STEPS)
    saturated = PEPEmbedding.configure({"threshold_init": -15, "targets": (0.5, 0.2, 0.1)}, ctx)
    assert saturated.threshold_init == -15 and 0.004 < saturated.threshold_lr < 0.008
    tuned = PEPEmbedding.configure({}, ctx)
    assert (tuned.threshold_init, tuned.threshold_lr) == (-8.0, 0.002)
    given = PEPEmbedding.configure({"threshold_init": -15, "threshold_lr": 1e-3}, ctx)
    assert given.threshold_lr == 1e-3


@pytest.mark.parametrize("scale", ["tiny", pytest.param("small", marks=pytest.mark.slow)])
def test_defaults_reach_every_target(scale: str, tmp_path: Path) -> None:
    rows = run_experiment(pep_config(scale, tmp_path))
    targets = PEPConfig().targets
    assert [r.info["target"] for r in rows] == list(targets)
    assert all(r.info["targets_not_reached"] == "" for r in rows)
    total = rows[0].dense_params
    assert all(r.params <= math.ceil(t * total) for r, t in zip(rows, targets, strict=True))
    assert rows[0].hparams["threshold_lr"] is not None  # sized, not the trainer's lr


def test_a_hopeless_init_fails_after_the_first_epoch(tmp_path: Path) -> None:
    epochs = []
    cfg = pep_config("tiny", tmp_path, search_epochs=20, threshold_init=-150.0, threshold_lr=1e-3)
    with pytest.raises(ValueError, match=r"cannot be reached .* threshold_init -?\d+\.\d would"):
        run_experiment(cfg, on_epoch=lambda m: epochs.append((m["phase"], m["epoch"])))
    assert epochs == [("search", 1)]


def test_a_target_not_reached_is_named(tmp_path: Path) -> None:
    cfg = pep_config("tiny", tmp_path, search_epochs=10, targets=(0.5, 1e-4),
                     threshold_init=-4.0, threshold_lr=0.05)
    with pytest.warns(RuntimeWarning, match=r"target 0\.0001 was not reached"):
        rows = run_experiment(cfg)
    assert [r.info["target"] for r in rows] == [0.5]
    assert rows[0].info["targets_not_reached"] == "0.0001"


def _searched(counts: list[int], targets=(0.5, 0.1)) -> PEPEmbedding:
    """A PEP search (10 features x 10 dims) whose trace holds ``counts``, one per 10 steps."""
    pep = PEPEmbedding(EmbeddingSpec((10,), 10, np.ones(10, dtype=np.int64)), PEPConfig(targets=targets))
    pep.trace = [{"step": 10 * i, "nonzeros": n, "sparsity": 1 - n / 100} for i, n in enumerate(counts, 1)]
    return pep


def test_a_shortfall_says_whether_more_epochs_or_more_decay_would_help() -> None:
    """Still falling at the recent rate (the 10% target's 10 entries within as many steps
    again): more epochs; falling fast early but nearly flat lately: the decay is too weak for
    the task's pull, and the message says so (an average over the search would say 'more
    epochs' there)."""
    falling = _searched([90, 80, 70, 60, 50, 40, 30, 20, 19, 18])  # no snapshots: both pending
    assert all("at the last 20 steps' rate it needs ~80 more steps: give the search more epochs" in m for m in falling.search_shortfall())
    slowing = _searched([95, 80, 60, 40, 30, 26, 25, 25, 24, 24])
    messages = slowing.search_shortfall()
    assert len(messages) == 2 and all("raise threshold_weight_decay" in m for m in messages)
    assert "25 -> 24 nonzeros over the last 20 steps" in messages[0]
