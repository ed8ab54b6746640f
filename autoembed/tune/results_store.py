"""The sweep's results table, written on the driver as trials report: one row per
(trial, phase, point), saved as parquet and CSV after every change (a crash loses nothing
already finished; a resumed sweep keeps every row exactly once)."""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from autoembed.results import REQUIRED_COLUMNS, git_revision
from autoembed.tune import remote
from autoembed.tune.plan import Trial
from autoembed.tune.trainable import ROWS_KEY

CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
EPOCHS_NAME = "epochs.csv"  # one line per reported epoch (and per finished report): restarts show
EPOCH_COLUMNS = ("trial_id", "phase", "epoch", "node_id", "time")  # as repeated epochs
FINISHED_NAME = "finished.json"  # {trial_id: its final report}: a resume re-reports, never re-runs
FINAL_KEYS = ("done_rows", "val_auc", "params", "test_auc", "point", "phase")


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
    """Rows keyed by (trial_id, phase, point) in ``folder``/results.{csv,parquet}; with
    ``remote`` (an experiment URI) each write is mirrored there too. An unreachable store
    does not stop the sweep: the local copy stays complete and the next write retries."""

    def __init__(self, folder: str | os.PathLike, remote: str | None = None) -> None:
        self.folder = Path(folder)
        self.remote = remote
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.unsynced = False  # the last mirror failed: the bucket's table is behind

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
        self._mirror()

    def log_epoch(self, trial_id: str, phase: str, epoch: int, node_id: str) -> None:
        """Append one reported epoch (``phase='done'`` for a trial's final report)."""
        path = self.folder / EPOCHS_NAME
        self.folder.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", newline="") as out:
            if new:
                out.write(",".join(EPOCH_COLUMNS) + "\n")
            csv.writer(out).writerow([trial_id, phase, epoch, node_id, f"{time.time():.3f}"])

    def finished(self) -> dict[str, dict[str, Any]]:
        """Each finished trial's final report, by trial id (what a resume replays)."""
        path = self.folder / FINISHED_NAME
        return json.loads(path.read_text()) if path.exists() else {}

    def mark_finished(self, trial_id: str, result: dict[str, Any]) -> None:
        """Record ``trial_id``'s final report (written before the table is mirrored)."""
        done = self.finished()
        done[trial_id] = {k: result[k] for k in FINAL_KEYS if k in result}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{FINISHED_NAME}.tmp"
        tmp.write_text(json.dumps(done, default=str, sort_keys=True))
        os.replace(tmp, self.folder / FINISHED_NAME)
        self._mirror((FINISHED_NAME,))

    def _mirror(self, names: tuple[str, ...] = (PARQUET_NAME, CSV_NAME, EPOCHS_NAME, FINISHED_NAME)) -> None:
        if not self.remote:
            return
        try:
            remote.mirror(self.folder, self.remote, names)
        except remote.StorageError as exc:
            if not self.unsynced:
                warnings.warn(f"results table not mirrored, retried at the next write: {exc}",
                              stacklevel=2)
            self.unsynced = True
            return
        self.unsynced = False

    def sync(self, attempts: int = 5, wait_s: float = 5.0) -> None:
        """Mirror the whole experiment folder (table, spec, artifacts) to ``remote``, retrying;
        a :class:`remote.StorageError` naming the local copy if the store stays unreachable."""
        if not self.remote:
            return
        for attempt in range(attempts):
            try:
                remote.mirror(self.folder, self.remote)
                self.unsynced = False
                return
            except remote.StorageError as exc:
                if attempt == attempts - 1:
                    raise remote.StorageError(
                        f"{exc}\nThe complete results are in {self.folder}; resume with "
                        f"`autoembed sweep --resume {self.remote}` once the store is back."
                    ) from exc
                time.sleep(wait_s)


def restarts(folder: str | os.PathLike) -> dict[str, int]:
    """From ``epochs.csv``: ``epochs_twice`` (an epoch of a trial's phase reported more than
    once: trained again after a restart) and ``finished_rerun`` (trials that reported an epoch
    after their final report)."""
    path = Path(folder) / EPOCHS_NAME
    if not path.exists():
        return {"epochs_twice": 0, "finished_rerun": 0}
    log = pd.read_csv(path, dtype={"trial_id": str, "phase": str})
    epochs = log[log["phase"] != "done"]
    twice = int(epochs.duplicated(["trial_id", "phase", "epoch"]).sum())
    first_done = log[log["phase"] == "done"].groupby("trial_id")["time"].min()
    after = epochs["time"] > epochs["trial_id"].map(first_done).fillna(float("inf"))
    return {"epochs_twice": twice, "finished_rerun": int(epochs.loc[after, "trial_id"].nunique())}


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

    remote: str | None = None  # experiment states pickled before this attribute lack it

    def __init__(self, folder: str, remote: str | None = None) -> None:
        self.folder = folder
        self.remote = remote
        self._store: ResultsStore | None = None

    @property
    def store(self) -> ResultsStore:
        if self._store is None:
            self._store = ResultsStore(self.folder, self.remote).load()
        return self._store

    def setup(self, **info: Any) -> None:
        self._store = ResultsStore(self.folder, self.remote).load()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        done = "done_rows" in result
        # a phase with several points (PEP retrains one per target) counts epochs per point
        phase = "/".join(str(result[k]) for k in ("phase", "point") if result.get(k))
        self.store.log_epoch(trial.trial_id, "done" if done else phase,
                             int(result.get("epoch", 0) or 0), str(result.get("node_id", "")))
        rows = json.loads(result.get(ROWS_KEY) or "[]")
        if rows:
            self.store.add(rows)
        if done:  # after its rows: a trial recorded as finished has all its rows stored
            self.store.mark_finished(trial.trial_id, result)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.add([failed_row(trial, error_reason(trial))])

    def __getstate__(self) -> dict[str, Any]:  # pickled into the experiment state: no rows
        return {"folder": self.folder, "remote": self.remote, "_store": None}
