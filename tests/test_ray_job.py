"""Integration: a real local Ray head (``ray start --head`` on loopback with the job server),
a tiny sweep submitted with ``ray job submit``, its result rows checked, the head stopped.

Uses the head named by $AUTOEMBED_RAY_DASHBOARD (CI starts one with ``.ci/ray_head.sh start``),
else starts its own. Skipped where a head cannot start, except under CI (``CI`` set): a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sweep_helpers import read_rows, unavailable

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "ray_head.sh"
RAY = Path(sys.executable).parent / "ray"
pytestmark = [pytest.mark.ray, pytest.mark.slow]
EXCLUDES = [".venv", ".git", "results", "**/__pycache__", "*.egg-info", "dist", "build", ".ci"]


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    given = os.environ.get("AUTOEMBED_RAY_DASHBOARD")
    if given:
        yield given
        return
    if not RAY.exists():
        unavailable("ray job test", f"no ray CLI next to {sys.executable}")
    state = tempfile.mkdtemp(prefix="aeray-", dir="/tmp")  # short: Ray's socket paths are limited
    env = dict(os.environ, AUTOEMBED_RAY_HEAD_STATE=state, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True,
                             text=True, timeout=180)
    try:
        if started.returncode != 0:
            unavailable("ray job test", f"`ray start --head` failed: {started.stderr[-1500:]}")
        yield started.stdout.strip().rsplit("=", 1)[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def test_ray_job_submit_runs_a_sweep(dashboard: str, tmp_path: Path) -> None:
    storage = tmp_path / "sweeps"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("RAY_ADDRESS", None)
    cmd = [
        str(RAY), "job", "submit", "--address", dashboard, "--working-dir", str(ROOT),
        "--runtime-env-json", json.dumps({"excludes": EXCLUDES}),
        "--", "python", "-m", "autoembed", "sweep", "search_spaces/smoke.yaml",
        "--address", "auto", "--storage-path", str(storage), "--name", "job", "--quiet",
    ]
    job = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = job.stdout + job.stderr
    assert job.returncode == 0, out[-4000:]
    submission = re.search(r"raysubmit_\w+", out)
    assert submission, out[-4000:]
    from ray.job_submission import JobStatus, JobSubmissionClient

    status = JobSubmissionClient(dashboard).get_job_status(submission.group(0))
    assert status == JobStatus.SUCCEEDED, out[-4000:]
    df = read_rows(storage / "job")
    assert (df["status"] == "ok").all()
    assert set(df["method"]) == {"uniform", "pep"}
    assert df["trial_id"].nunique() == 3
