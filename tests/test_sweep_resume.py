"""A sweep whose driver is killed with SIGKILL mid-run resumes with ``--resume``: every trial's
rows end up present exactly once, and the trials finished before the kill are not re-run."""

from __future__ import annotations

import contextlib
import json
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


def tune_state(exp: Path) -> dict[str, bytes]:
    """Tune's own experiment-state files (not ours), by name; empty if one is half-written."""
    files = {p.name: p.read_bytes() for pattern in ("experiment_state-*.json", "basic-variant-state-*.json",
                                                     "tuner.pkl") for p in exp.glob(pattern)}
    try:
        for name, data in files.items():
            if name.startswith("experiment_state"):  # (basic-variant-state is a pickle)
                json.loads(data)
    except ValueError:
        return {}
    return files if any(n.startswith("experiment_state") for n in files) else {}


@pytest.mark.parametrize(("searcher", "lost_trial_folders"),
                         [("grid", False), ("optuna", False), ("grid", True)])
def test_killed_sweep_resumes_without_rerunning_finished_trials(
    tmp_path: Path, searcher: str, lost_trial_folders: bool
) -> None:
    """``lost_trial_folders``: Tune's saved state predates the finished trials (a driver killed
    between a trial's end and Tune's next snapshot: here the snapshot from before any trial
    finished is put back) and their trial folders are gone (a node's session folder): only the
    driver's record of finished trials keeps them from training again."""
    tags = [f"t{i}" for i in range(5)]
    # the lost-folders run: slower steps and a snapshot every second, to catch one before any
    # trial has finished
    spec = flaky_spec(tmp_path, tags, {"sleep_per_step": 0.3 if lost_trial_folders else 0.06},
                      max_concurrent=1)
    if searcher == "optuna":  # NSGA-II samples 5 tags (with repeats); its state is resumed too
        raw = yaml.safe_load(spec.read_text())
        raw["methods"]["flaky"]["trials"] = len(tags)
        raw["searcher"] = {"type": "optuna", "sampler": "nsga2"}
        spec.write_text(yaml.safe_dump(raw))
    exp = tmp_path / "sweeps" / "killed"
    with open(tmp_path / "driver.log", "w") as log:
        first = {**env(), "TUNE_GLOBAL_CHECKPOINT_S": "1"} if lost_trial_folders else env()
        driver = subprocess.Popen(sweep_cmd(str(spec), "--name", "killed"), cwd=ROOT, env=first,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        early: dict[str, bytes] = {}  # Tune's state files while no trial had finished
        while len(finished_trials(exp)) < 2 and driver.poll() is None and time.monotonic() < deadline:
            if lost_trial_folders and not finished_trials(exp):
                early = tune_state(exp) or early
            time.sleep(0.2)
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
    if lost_trial_folders:
        assert early, "no Tune state was saved before the first trial finished"
        for name in tune_state(exp):
            (exp / name).unlink()
        for name, data in early.items():
            (exp / name).write_bytes(data)
        for done_file in exp.rglob("trial_done.json"):
            done_file.unlink()
        assert (exp / "finished.json").exists()

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
