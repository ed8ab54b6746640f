"""What each method's trials cost. Every row a sweep stores carries ``info_trial_seconds``: the
wall seconds its trial had run when the row was made (over all attempts of a retried trial), so
a trial's cost is the largest value among its rows — its search and every retrain included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

TRIAL_SECONDS = "info_trial_seconds"
KEYS = ["dataset", "model", "method"]
PLACES = ("node_id", "hostname", "device")  # where a row ran


def fill_trial_seconds(df: pd.DataFrame) -> pd.DataFrame:
    """Rows without ``info_trial_seconds`` (sweeps older than that column) get their trial's
    ``time_total_s`` from Ray Tune's ``<experiment>/<trial_id>/result.json`` where it exists."""
    df = df.copy()
    if TRIAL_SECONDS not in df.columns:
        df[TRIAL_SECONDS] = np.nan
    seconds = pd.to_numeric(df[TRIAL_SECONDS], errors="coerce")
    read: dict[Path, float] = {}  # one read per trial, however many rows it has
    for i in df.index[seconds.isna()]:
        trial = str(df.at[i, "trial_id"])
        if trial:
            path = Path(df.at[i, "experiment_dir"]) / trial / "result.json"
            seconds.at[i] = read[path] if path in read else read.setdefault(path, _ray_seconds(path))
    df[TRIAL_SECONDS] = seconds
    return df


def _ray_seconds(result_json: Path) -> float:
    lines = result_json.read_text().splitlines() if result_json.is_file() else []
    lines = [ln for ln in lines if ln.strip()]
    return float(json.loads(lines[-1]).get("time_total_s", "nan")) if lines else float("nan")


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x method: trials, seeds, total and mean wall seconds per trial (trials
    with no recorded time are left out); empty when no row carries a time."""
    if TRIAL_SECONDS not in df.columns:
        return pd.DataFrame()
    rows = df[df["trial_id"].astype(str) != ""].assign(
        seconds=pd.to_numeric(df[TRIAL_SECONDS], errors="coerce"))
    per_trial = (rows.groupby([*KEYS, "seed", "trial_id"], sort=True)["seconds"].max()
                 .dropna().reset_index())
    if per_trial.empty:
        return pd.DataFrame()
    table = (per_trial.groupby(KEYS, sort=True)
             .agg(trials=("trial_id", "nunique"), seeds=("seed", "nunique"),
                  total_seconds=("seconds", "sum"), seconds_per_trial=("seconds", "mean"))
             .reset_index())
    return table.merge(_placement(rows), on=KEYS, how="left")


def _placement(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x method: where its rows ran (Ray nodes, hosts, devices)."""
    def names(values: pd.Series) -> set[str]:
        return {str(v) for v in values} - {"", "nan", "None"}

    place = rows.assign(**{c: rows[c] if c in rows.columns else "" for c in PLACES})
    return (place.groupby(KEYS, sort=True)
            .agg(nodes=("node_id", lambda v: len(names(v))),
                 hosts=("hostname", lambda v: ", ".join(sorted(names(v))) or "–"),
                 devices=("device", lambda v: ", ".join(sorted(names(v))) or "–"))
            .reset_index())
