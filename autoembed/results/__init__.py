"""The results schema: one row per (trial, evaluated point). Written by the trainer/driver,
read by ``analysis``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any


def ray_node_id() -> str:
    """The Ray node this process runs on (hex id), or ``""`` outside Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ""
    return str(ray.get_runtime_context().get_node_id())


@dataclass
class ResultRow:
    dataset: str
    model: str
    method: str
    seed: int
    phase: str  # "train" (single phase) | "retrain" (after a search) | "search"
    point: str  # label of the evaluated point ("final", "sparsity=0.10", ...)
    params: int  # embedding parameters a served model stores (paper's count)
    storage_bytes: int  # real bytes of the served embedding
    dense_params: int  # num_features * D: the uniform table at the model's width (budget base)
    val_auc: float
    val_logloss: float
    test_auc: float
    test_logloss: float
    epochs: int
    best_epoch: int
    train_seconds: float
    samples_per_sec: float
    device: str
    embedding_dim: int
    hparams: dict[str, Any] = field(default_factory=dict)  # the method's hyperparameters
    info: dict[str, Any] = field(default_factory=dict)  # point extras (target, search step ...)
    trial_id: str = ""
    status: str = "ok"  # ok | failed
    error: str = ""
    git_rev: str = ""
    bayes_auc: float | None = None  # synthetic data: teacher's test AUC (ceiling)
    recovery: float | None = None  # synthetic data: agreement of feature_dims with planted sizes
    feature_dims_path: str = ""  # .npy with feature_dims() for this point (analysis figures)
    trace_path: str = ""  # .csv with the search trace (PEP nonzeros over steps)
    # where the row was made (with ``device``): set when the row is built, on the node that ran it
    hostname: str = field(default_factory=socket.gethostname)
    node_id: str = field(default_factory=ray_node_id)

    def to_flat(self) -> dict[str, Any]:
        """Tidy form: hyperparameters as ``hp_<name>`` columns, info as ``info_<name>``,
        and both also as JSON strings (so the CSV round-trips)."""
        d = asdict(self)
        hp, info = d.pop("hparams"), d.pop("info")
        for k, v in hp.items():
            d[f"hp_{k}"] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
        for k, v in info.items():
            d[f"info_{k}"] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
        d["hparams_json"] = json.dumps(hp, sort_keys=True, default=str)
        d["info_json"] = json.dumps(info, sort_keys=True, default=str)
        return d


PLACE_COLUMNS: tuple[str, ...] = ("hostname", "node_id")  # absent from older results: read as ""
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(ResultRow) if f.name not in ("hparams", "info", *PLACE_COLUMNS)
) + ("hparams_json", "info_json")



@lru_cache(maxsize=1)
def git_revision() -> str:
    """The project's git revision (with ``-dirty``), or ``""`` outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""
