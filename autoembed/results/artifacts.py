"""Where an experiment folder keeps what the rows point to, beside ``results.csv``.

Per point (paths in the rows): ``feature_dims_path`` (.npy, each feature's size) and
``trace_path`` (.csv, the search trace). Per dataset (written once by whoever runs the
experiment, read by the figures on sizes vs frequency and planted-size recovery)::

    <experiment>/artifacts/<dataset>/feature_counts.npy   int64 [num_features], train split
    <experiment>/artifacts/<dataset>/planted_dims.npy     int [num_features], synthetic only
    <experiment>/environment.json                         python/torch/ray versions, device, git

Rows may instead carry ``feature_counts_path`` / ``planted_dims_path`` columns.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

ARTIFACTS_DIR = "artifacts"
FEATURE_COUNTS = "feature_counts"
PLANTED_DIMS = "planted_dims"
ENVIRONMENT_FILE = "environment.json"


def dataset_artifact_path(experiment_dir: str | Path, dataset: str, name: str) -> Path:
    """``<experiment>/artifacts/<dataset>/<name>.npy``."""
    return Path(experiment_dir) / ARTIFACTS_DIR / dataset / f"{name}.npy"


def save_dataset_artifacts(
    experiment_dir: str | Path, dataset: str, feature_counts: np.ndarray,
    planted_dims: np.ndarray | None = None,
) -> list[Path]:
    """Store a dataset's feature frequencies (and planted sizes, synthetic data) for the figures."""
    written = []
    for name, array, dtype in ((FEATURE_COUNTS, feature_counts, np.int64),
                               (PLANTED_DIMS, planted_dims, np.int64)):
        if array is None:
            continue
        path = dataset_artifact_path(experiment_dir, dataset, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(array, dtype=dtype))
        written.append(path)
    return written


def environment_info(device: str = "") -> dict[str, Any]:
    """Versions of the software that produced the results (python, torch, ray, numpy, ...)."""
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for module in ("torch", "ray", "numpy", "pandas", "optuna"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = "not installed"
    if device:
        info["device"] = device
    from autoembed.results import git_revision

    info["git_rev"] = git_revision()
    return info


def save_environment(experiment_dir: str | Path, device: str = "") -> Path:
    """Write ``environment.json`` into the experiment folder (call once per run/sweep)."""
    path = Path(experiment_dir) / ENVIRONMENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(environment_info(device), indent=2, sort_keys=True) + "\n")
    return path


def load_environment(experiment_dir: str | Path) -> dict[str, Any] | None:
    """The stored ``environment.json`` of an experiment folder, or ``None``."""
    path = Path(experiment_dir) / ENVIRONMENT_FILE
    return json.loads(path.read_text()) if path.is_file() else None
