"""The sweep's results table, written on the driver as trials report: one row per
(trial, phase, point), saved as parquet and CSV after every change (a crash loses nothing
already finished; a resumed sweep keeps every row exactly once)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from autoembed.results import REQUIRED_COLUMNS, git_revision
from autoembed.tune.plan import Trial
from autoembed.tune.trainable import ROWS_KEY

CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"


ARTIFACT_COLUMNS = ("feature_dims_path", "trace_path")


def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("trial_id", "")), str(row.get("phase", "")), str(row.get("point", "")))


def _uniform_column(values: pd.Series) -> pd.Series:
    """Parquet needs one type per column: a column mixing types becomes strings."""
    kinds = {type(v) for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))}
    if len(kinds) <= 1 or kinds <= {int, float}:
        return values
    return values.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))


class ResultsStore:
    """Rows keyed by (trial_id, phase, point) in ``folder``/results.{csv,parquet}."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    @property
    def csv_path(self) -> Path:
        return self.folder / CSV_NAME

    @property
    def parquet_path(self) -> Path:
        return self.folder / PARQUET_NAME

    def load(self) -> ResultsStore:
        """Read the rows already on disk (a resumed sweep)."""
        if self.parquet_path.exists():
            df = pd.read_parquet(self.parquet_path)
        elif self.csv_path.exists():
            df = pd.read_csv(self.csv_path)
        else:
            return self
        for rec in df.to_dict("records"):
            clean = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in rec.items()}
            self.rows[row_key(clean)] = clean
        return self

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Insert or replace ``rows``; an ok row of a trial drops that trial's failure row."""
        for row in rows:
            self._relativise(row)
            if row.get("status", "ok") == "ok":
                self.rows.pop((str(row.get("trial_id", "")), "failed", "failed"), None)
            self.rows[row_key(row)] = row
        if rows:
            self.write()
        return len(rows)

    def _relativise(self, row: dict[str, Any]) -> None:
        """Artifact paths inside the experiment folder are stored relative to it (portable)."""
        root = self.folder.resolve()
        for key in ARTIFACT_COLUMNS:
            value = row.get(key)
            if value and Path(value).is_absolute() and Path(value).resolve().is_relative_to(root):
                row[key] = str(Path(value).resolve().relative_to(root))

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(list(self.rows.values()))
        for col in REQUIRED_COLUMNS:
            if col not in df.columns:
                df[col] = None
        front = [c for c in REQUIRED_COLUMNS if c in df.columns]
        return df[front + sorted(c for c in df.columns if c not in front)]

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        df = self.frame()
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = _uniform_column(df[col])
        for path, writer in ((self.parquet_path, df.to_parquet), (self.csv_path, df.to_csv)):
            tmp = path.with_name(f".{path.name}.tmp")
            writer(tmp, index=False)
            os.replace(tmp, path)


def failed_row(trial: Any, reason: str) -> dict[str, Any]:
    """A results row for a trial that failed after its retries."""
    t = trial.config.get("trial")
    if isinstance(t, Trial):
        group, params = {"dataset": t.dataset, "model": t.model, "method": t.method, "seed": t.seed}, t.params
    else:  # sweeps started before trials were typed
        group, params = (t or {}).get("group", {}), (t or {}).get("params", {})
    return {
        "dataset": group.get("dataset", ""), "model": group.get("model", ""),
        "method": group.get("method", ""), "seed": group.get("seed", -1),
        "phase": "failed", "point": "failed", "trial_id": trial.trial_id,
        "status": "failed", "error": reason, "git_rev": git_revision(),
        "hparams_json": json.dumps(params, sort_keys=True, default=str),
        "info_json": "{}",
        **{f"hp_{k}": v for k, v in params.items()},
    }


def error_reason(trial: Any) -> str:
    """The last line of the trial's error trace (the exception and its message).

    Tune writes the trace to the trial's local folder at once and syncs it to storage later, so
    ``trial.get_error()`` (which reads storage) can still be empty when ``on_trial_error`` runs:
    the local file is read first."""
    text = ""
    for read in (lambda: Path(trial.error_file).read_text(), lambda: str(trial.get_error() or "")):
        try:
            text = read()
        except Exception:  # missing or unreadable: try the next source, never fail the sweep
            text = ""
        if text.strip():
            break
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "unknown error (no error file)")[:2000]


class ResultsCallback(tune.Callback):
    """Driver-side: stores the rows each trial reports, and a row for each failed trial."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._store: ResultsStore | None = None

    @property
    def store(self) -> ResultsStore:
        if self._store is None:
            self._store = ResultsStore(self.folder).load()
        return self._store

    def setup(self, **info: Any) -> None:
        self._store = ResultsStore(self.folder).load()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        rows = json.loads(result.get(ROWS_KEY) or "[]")
        if rows:
            self.store.add(rows)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.add([failed_row(trial, error_reason(trial))])

    def __getstate__(self) -> dict[str, Any]:  # pickled into the experiment state: no rows
        return {"folder": self.folder, "_store": None}
