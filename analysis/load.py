"""Results of one or several experiments -> one tidy, validated DataFrame; and the per-point
artifacts (feature sizes, search traces, per-dataset frequencies) the rows point to."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from autoembed.results import PLACE_COLUMNS, REQUIRED_COLUMNS
from autoembed.results.artifacts import FEATURE_COUNTS, PLANTED_DIMS, dataset_artifact_path

RESULTS_FILES = ("results.parquet", "results.csv")  # preferred first
INT_COLUMNS = ("seed", "params", "storage_bytes", "dense_params", "epochs", "best_epoch",
               "embedding_dim")
FLOAT_COLUMNS = ("val_auc", "val_logloss", "test_auc", "test_logloss", "train_seconds",
                 "samples_per_sec", "bayes_auc", "recovery")
PATH_COLUMNS = ("feature_dims_path", "trace_path", "feature_counts_path", "planted_dims_path")
STRING_COLUMNS = ("dataset", "model", "method", "phase", "point", "device", "trial_id",
                  "status", "error", "git_rev", "hparams_json", "info_json", *PLACE_COLUMNS)
ROW_KEY = ("trial_id", "dataset", "model", "method", "seed", "phase", "point", "hparams_json")


class ResultsSchemaError(ValueError):
    """A results file lacks required columns or cannot be read."""


def load_results(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Load experiment folders or results files into one tidy DataFrame.

    A folder is read from ``results.parquet`` (else ``results.csv``), else from Ray Tune's
    ``result.json`` files below it. Added columns: ``experiment_dir`` (paths resolve against
    it), ``ok`` (status ok and a finite test AUC; failed rows are kept, flagged ``ok=False``),
    ``budget_base`` (the largest ``dense_params`` of the dataset x model: the uniform table at
    the widest model, so a uniform sweep over D shares one base), ``budget_frac`` = params /
    budget_base, and ``config_id`` (one configuration across seeds: method, D, phase, point,
    hyperparameters).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = [_read_one(Path(p)) for p in paths]
    if not frames:
        raise ValueError("load_results needs at least one experiment folder or results file")
    df = pd.concat(frames, ignore_index=True)
    return _tidy(df)


def _read_one(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}: give an experiment folder or a results file")
    if path.is_dir():
        for name in RESULTS_FILES:
            if (path / name).is_file():
                return _read_one(path / name)
        df = _read_ray_trials(path)
        source, exp_dir = path, path
    else:
        df = _read_table(path)
        source, exp_dir = path, path.parent
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ResultsSchemaError(
            f"{source} lacks required column(s) {', '.join(missing)}; results must have the "
            "columns of autoembed.results.ResultRow.to_flat() (re-run the experiment with this "
            "autoembed version, or add the column(s))"
        )
    df = df.copy()
    for col in PLACE_COLUMNS:  # results from before rows said where they ran
        if col not in df.columns:
            df[col] = ""
    df["experiment_dir"] = str(exp_dir.resolve())
    df["source_file"] = str(source)
    return df


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=True, low_memory=False)
        if suffix in (".json", ".jsonl"):
            return pd.DataFrame(_json_rows(path))
    except (OSError, ValueError) as exc:
        raise ResultsSchemaError(f"cannot read results file {path}: {exc}") from exc
    raise ResultsSchemaError(f"{path}: unknown results format {suffix!r} (use .parquet or .csv)")


def _json_rows(path: Path) -> list[dict]:
    """Rows in a Ray Tune ``result.json`` (one JSON object a line): each line that is a full
    results row, or that carries one/several under ``row``/``rows``."""
    rows: list[dict] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        candidates = record.get("rows") or [record.get("row") or record]
        if isinstance(candidates, dict):
            candidates = [candidates]
        rows.extend(r for r in candidates if isinstance(r, dict) and "method" in r and "params" in r)
    return rows


def _read_ray_trials(folder: Path) -> pd.DataFrame:
    files = sorted(folder.rglob("result.json"))
    rows = [r for f in files for r in _json_rows(f)]
    if not rows:
        raise FileNotFoundError(
            f"{folder} has neither {' nor '.join(RESULTS_FILES)} nor Ray Tune result.json files "
            f"with results rows ({len(files)} result.json found); point to the experiment folder "
            "the sweep wrote"
        )
    df = pd.DataFrame(rows)
    key = [c for c in ROW_KEY if c in df.columns]
    return df.drop_duplicates(subset=key, keep="last") if key else df


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    for col in INT_COLUMNS + FLOAT_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in INT_COLUMNS:
        if col in df.columns and not df[col].isna().any():
            df[col] = df[col].astype("int64")
    for col in STRING_COLUMNS:
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str)
    for col in PATH_COLUMNS:
        if col in df.columns:
            df[col] = [_resolve(v, base) for v, base in zip(df[col], df["experiment_dir"], strict=True)]
    df["status"] = df["status"].str.strip().str.lower().replace("", "ok")
    df["ok"] = (df["status"] == "ok") & np.isfinite(df["test_auc"].astype(float))
    dense = df["dense_params"].astype(float).where(df["dense_params"] > 0)
    df["budget_base"] = dense.groupby([df["dataset"], df["model"]]).transform("max")
    df["budget_frac"] = df["params"].astype(float) / df["budget_base"]
    df["config_id"] = (df["method"] + "|D=" + df["embedding_dim"].astype(str) + "|" + df["phase"]
                       + "|" + df["point"] + "|" + df["hparams_json"])
    return df


def _resolve(value, base: str) -> str:
    """An artifact path as an absolute path ("" when blank); relative ones are under ``base``."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return ""
    path = Path(str(value))
    return str(path if path.is_absolute() else Path(base) / path)


# --- per-point and per-dataset artifacts -------------------------------------------------------

def load_feature_dims(row: pd.Series) -> np.ndarray | None:
    """The point's size per feature, or ``None`` when it was not stored."""
    return _load_npy(row.get("feature_dims_path", ""))


def load_trace(row: pd.Series) -> pd.DataFrame | None:
    """The point's search trace (columns step, nonzeros, sparsity, ...), or ``None``."""
    path = str(row.get("trace_path", "") or "")
    if not path or not Path(path).is_file():
        return None
    trace = pd.read_csv(path)
    return trace if {"step", "nonzeros"} <= set(trace.columns) and len(trace) else None


def dataset_array(df: pd.DataFrame, dataset: str, name: str) -> np.ndarray | None:
    """A per-dataset array (``feature_counts`` or ``planted_dims``): from a ``<name>_path``
    column of that dataset's rows, else ``<experiment>/artifacts/<dataset>/<name>.npy``, else
    ``<experiment>/artifacts/<name>.npy``; ``None`` when none exists."""
    if name not in (FEATURE_COUNTS, PLANTED_DIMS):
        raise ValueError(f"unknown dataset artifact {name!r}; use {FEATURE_COUNTS!r} or {PLANTED_DIMS!r}")
    rows = df[df["dataset"] == dataset]
    candidates: list[str] = []
    if f"{name}_path" in rows.columns:
        candidates += [p for p in rows[f"{name}_path"].unique() if p]
    for exp in rows["experiment_dir"].unique():
        candidates.append(str(dataset_artifact_path(exp, dataset, name)))
        candidates.append(str(Path(exp) / "artifacts" / f"{name}.npy"))
    for path in candidates:
        array = _load_npy(path)
        if array is not None:
            return array
    return None


def _load_npy(path) -> np.ndarray | None:
    path = str(path or "")
    return np.load(path) if path and Path(path).is_file() else None
