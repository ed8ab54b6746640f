"""Benchmark figures as JSON: several scripts write their parts of one file (gpu_check.sh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | Path, key: str, figures: dict[str, Any]) -> None:
    """Put ``figures`` under ``key`` in the JSON file at ``path``, keeping its other keys."""
    target = Path(path)
    merged = json.loads(target.read_text()) if target.exists() and target.stat().st_size else {}
    merged[key] = figures
    target.write_text(json.dumps(merged, indent=1, default=float) + "\n")
