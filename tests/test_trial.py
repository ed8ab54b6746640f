"""One typed trial: the driver builds frozen ``Trial`` objects (grid, random, or from Optuna's
proposals), Ray ships them as they are, and a trial's rows come out complete."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.experiment import RowStamp, run_experiment
from autoembed.tune.plan import Trial, trial_configs
from autoembed.tune.searcher import GroupedOptunaSearch
from autoembed.tune.spaces import parse_spec

RAW = {
    "name": "typed",
    "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}, "label": "syn-a"}],
    "models": [{"name": "fm", "dim": 4}],
    "methods": {"pep-prefix": {"method": "pep", "space": {
        "granularity": ["feature", "global"], "retrain_mask": "prefix", "train.lr": [0.01]}}},
    "seeds": [3],
}


def test_grid_trials_are_frozen_and_carry_their_config() -> None:
    trials = trial_configs(parse_spec(RAW))
    assert len(trials) == 2 and all(isinstance(t, Trial) for t in trials)
    t = trials[0]
    assert (t.dataset, t.model, t.method, t.seed) == ("syn-a", "fm", "pep-prefix", 3)
    assert t.config.method == "pep" and t.config.train.lr == 0.01 and t.config.train.seed == 3
    assert t.config.method_params == {"granularity": "feature", "retrain_mask": "prefix"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.method = "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(t)) == t  # shipped to Ray as it is


def test_optuna_proposals_become_trials() -> None:
    raw = {**RAW, "searcher": "optuna", "methods": {"mde": {"trials": 2, "space": {
        "alpha": {"type": "uniform", "low": 0.1, "high": 0.5}}}}}
    search = GroupedOptunaSearch(parse_spec(raw))
    trial = search.suggest("t0")["trial"]
    assert isinstance(trial, Trial) and trial.method == "mde"
    assert 0.1 <= trial.config.method_params["alpha"] <= 0.5
    assert trial.params == {"alpha": trial.config.method_params["alpha"]}


def test_rows_come_out_complete(tmp_path) -> None:
    cfg = ExperimentConfig(
        data=DataConfig("synthetic", options={"scale": "tiny"}, cache_dir=str(tmp_path)),
        model=ModelConfig("fm", dim=4), method="uniform",
        train=TrainConfig(epochs=1, max_steps=5, threads=1, device="cpu"),
    )
    seen = []
    rows = run_experiment(cfg, stamp=RowStamp("syn-a", "uniform-wide", "trial_7", lambda: 12.5),
                          on_row=lambda r: seen.append(dataclasses.replace(r)))
    assert seen == rows  # what the driver gets is what the run made, nothing patched later
    row = rows[0]
    assert (row.dataset, row.method, row.trial_id) == ("syn-a", "uniform-wide", "trial_7")
    assert row.info["trial_seconds"] == 12.5


def test_a_checkpoint_without_its_state_starts_the_trial_over(tmp_path, monkeypatch) -> None:
    """A checkpoint whose upload was cut short (no state.pt) is not resumable: the trial starts
    over with a warning instead of failing on every retry (seen with the object store down)."""
    from ray import tune

    from autoembed.tune import trainable

    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(trainable.tune, "get_checkpoint",
                        lambda: tune.Checkpoint.from_directory(str(tmp_path / "empty")))
    reporter = trainable.TrialReporter("t0", trial_configs(parse_spec(RAW))[0])
    with pytest.warns(UserWarning, match="has no state.pt"):
        assert reporter.load() is None
