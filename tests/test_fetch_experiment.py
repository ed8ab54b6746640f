"""A fresh driver's ``fetch_experiment``: the bucket's table, epoch log and finished-trial
record joined with what this driver already holds (here a ``file://`` store stands in for S3)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from autoembed.tune.driver import fetch_experiment
from autoembed.tune.results_store import ResultsStore


def _row(trial: str, auc: float) -> dict:
    return {"trial_id": trial, "phase": "train", "point": "final", "status": "ok", "val_auc": auc}


def test_fetch_joins_rows_epochs_and_finished_trials(tmp_path: Path) -> None:
    bucket = ResultsStore(tmp_path / "bucket" / "exp")
    bucket.add([_row("a", 0.7), _row("b", 0.8)])
    bucket.log_epoch("a", "train", 1, "n1")
    bucket.mark_finished("a", {"val_auc": 0.7, "done_rows": 1, "ignored": "x"})
    local = ResultsStore(tmp_path / "local")
    local.add([_row("c", 0.9)])
    local.mark_finished("c", {"val_auc": 0.9, "done_rows": 1})

    fetch_experiment(f"file://{tmp_path / 'bucket' / 'exp'}", local.folder)

    merged = ResultsStore(local.folder).load()
    assert sorted(r["trial_id"] for r in merged.rows.values()) == ["a", "b", "c"]
    assert merged.finished() == {"a": {"val_auc": 0.7, "done_rows": 1},
                                 "c": {"val_auc": 0.9, "done_rows": 1}}
    assert list(pd.read_csv(local.folder / "epochs.csv")["trial_id"]) == ["a"]
    assert json.loads((local.folder / "finished.json").read_text())["a"]["done_rows"] == 1
