"""A sweep whose driver is killed with SIGKILL mid-run resumes with ``--resume``: every trial's
rows end up present exactly once, and the trials finished before the kill are not re-run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweep_helpers import attempts, flaky_spec, read_rows

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "autoembed", "sweep", *args, "--quiet"]


def env() -> dict[str, str]:
    e = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    e.pop("RAY_ADDRESS", None)
    return e


def finished_trials(folder: Path) -> set[str]:
    csv = folder / "results.csv"
    if not csv.exists():
        return set()
    try:
        return set(pd.read_csv(csv)["trial_id"])
    except (pd.errors.EmptyDataError, KeyError):
        return set()


@pytest.mark.parametrize("searcher", ["grid", "optuna"])
def test_killed_sweep_resumes_without_rerunning_finished_trials(tmp_path: Path, searcher: str) -> None:
    tags = [f"t{i}" for i in range(5)]
    spec = flaky_spec(tmp_path, tags, {"sleep_per_step": 0.06}, max_concurrent=1)
    if searcher == "optuna":  # NSGA-II samples 5 tags (with repeats); its state is resumed too
        raw = yaml.safe_load(spec.read_text())
        raw["methods"]["flaky"]["trials"] = len(tags)
        raw["searcher"] = {"type": "optuna", "sampler": "nsga2"}
        spec.write_text(yaml.safe_dump(raw))
    exp = tmp_path / "sweeps" / "killed"
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen(sweep_cmd(str(spec), "--name", "killed"), cwd=ROOT, env=env(),
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while len(finished_trials(exp)) < 2 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        done_before = finished_trials(exp)
        assert 2 <= len(done_before) < len(tags), "kill must land mid-sweep"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        # the embedded Ray this driver started: its own process group only
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    time.sleep(1)

    resumed = subprocess.run(sweep_cmd("--resume", str(exp)), cwd=ROOT, env=env(),
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    df = read_rows(exp)
    assert (df["status"] == "ok").all(), df[["hp_tag", "status", "error"]]
    if searcher == "grid":
        assert sorted(df["hp_tag"]) == tags  # every trial's row, exactly once
    else:  # the budget, exactly: the resumed searcher knew what it had issued
        assert df["trial_id"].nunique() == len(tags) and len(df) == len(tags)
        assert list(exp.glob("searcher-state-*.json")) and not list(exp.glob("searcher-state-*.pkl"))
    assert not df.duplicated(["trial_id", "phase", "point"]).any()
    assert done_before <= set(df["trial_id"])
    built = attempts(tmp_path / "control")
    for trial_id in done_before:  # finished before the kill: never built again
        assert [a for a in built if a[0] == trial_id] != []
        assert len([a for a in built if a[0] == trial_id]) == 1, built
