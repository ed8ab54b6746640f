"""The restart counts a sweep prints come from epochs.csv: only a real repeat counts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from autoembed.tune.results_store import ResultsCallback, restarts


def report(callback: ResultsCallback, trial_id: str, **result: object) -> None:
    callback.on_trial_result(0, [], SimpleNamespace(trial_id=trial_id), dict(result))


def test_retrain_points_of_one_trial_are_not_epochs_trained_twice(tmp_path: Path) -> None:
    callback = ResultsCallback(str(tmp_path))
    for epoch in (1, 2):
        report(callback, "t0", phase="search", point="search", epoch=epoch)
    for point in ("target=0.50", "target=0.20, x"):  # a label with a comma stays one field
        for epoch in (1, 2):
            report(callback, "t0", phase="retrain", point=point, epoch=epoch)
    report(callback, "t0", done_rows=1)
    assert restarts(tmp_path) == {"epochs_twice": 0, "finished_rerun": 0}

    report(callback, "t0", phase="retrain", point="target=0.20, x", epoch=2)  # after a restart
    assert restarts(tmp_path) == {"epochs_twice": 1, "finished_rerun": 1}
