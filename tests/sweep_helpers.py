"""Helpers shared by the sweep tests: tiny specs using the test-only ``flaky`` plugin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import pytest
import yaml

PLUGIN = Path(__file__).resolve().parent / "plugins" / "flaky_method.py"


def unavailable(what: str, reason: str) -> NoReturn:
    """``what`` cannot run here: skipped, except under CI (``CI`` set), where it must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} must run in CI: {reason}")
    pytest.skip(reason)


def flaky_spec(tmp_path: Path, tags: list[str], method: dict[str, Any] | None = None, **top: Any) -> Path:
    """A spec with one ``flaky`` trial per tag on tiny synthetic data; control files in tmp_path."""
    control = tmp_path / "control"
    control.mkdir(exist_ok=True)
    raw = {
        "name": "flaky",
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "fm", "dim": 4}],
        "methods": {"flaky": {"space": {"tag": tags, "control_dir": str(control), **(method or {})}}},
        "train": {"epochs": 3, "batch_size": 1024, "patience": 3, "threads": 1},
        "resources": {"cpu": 1},
        "max_concurrent": 2,
        "max_failures": 1,
        "plugins": [str(PLUGIN)],
        "storage_path": str(tmp_path / "sweeps"),
    } | top
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def read_rows(folder: Path) -> pd.DataFrame:
    """The sweep's results table (CSV and parquet must agree on the rows)."""
    csv = pd.read_csv(folder / "results.csv")
    parquet = pd.read_parquet(folder / "results.parquet")
    assert len(csv) == len(parquet)
    return parquet


def attempts(control: Path) -> list[tuple[str, str]]:
    """(trial_id, tag) of every fresh construction logged by the plugin."""
    log = control / "attempts.log"
    if not log.exists():
        return []
    return [tuple(line.split()[:2]) for line in log.read_text().splitlines() if line.strip()]
