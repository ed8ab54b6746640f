"""Pareto fronts (minimise cost, maximise AUC) and their hypervolume.

Fronts for reading (figures, hypervolume, the report) are drawn over configurations averaged
over seeds (:func:`config_means`): a method run with three seeds is not credited with the luck
of its best seed at every point.

Cost is ``params`` by default; ``storage_bytes`` and ``train_seconds`` work the same way.
Hypervolume is measured in log10(cost) space — one decade of parameters counts the same at
every scale, which is how the fronts are plotted — against a reference point shared by all
methods of one dataset x model, so the numbers rank methods against each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from autoembed.results.pareto import pareto_front as pareto_front  # the core's, re-exported

GROUP = ("dataset", "model")
COSTS = ("params", "storage_bytes", "train_seconds")
RANDOM_AUC = 0.5  # default y reference: a classifier that guesses


def fronts_by(
    df: pd.DataFrame, by: tuple[str, ...] | list[str], x: str = "params", y: str = "test_auc",
    maximize_y: bool = True,
) -> pd.DataFrame:
    """The front of every group of ``by`` (e.g. dataset x model x method), concatenated."""
    parts = [pareto_front(g, x, y, maximize_y) for _, g in df.groupby(list(by), sort=True)]
    return pd.concat(parts) if parts else df.iloc[:0]


def method_fronts(df: pd.DataFrame, x: str = "params", y: str = "test_auc") -> pd.DataFrame:
    """Each method's own front per dataset x model."""
    return fronts_by(df, (*GROUP, "method"), x, y)


def overall_fronts(df: pd.DataFrame, x: str = "params", y: str = "test_auc") -> pd.DataFrame:
    """The front over all methods per dataset x model (which method wins where)."""
    return fronts_by(df, GROUP, x, y)


def config_means(df: pd.DataFrame, x: str = "params", y: str = "test_auc") -> pd.DataFrame:
    """One row per configuration (``config_id``: one setting across seeds) of the successful
    rows: ``x`` and ``y`` averaged over its seeds, ``n_seeds``, and its first point label and
    hyperparameters. Frames without ``config_id`` are returned as they are."""
    if "config_id" not in df.columns:
        return df
    ok = df[df["ok"].astype(bool)] if "ok" in df.columns else df
    keys = [*GROUP, "method", "config_id"]
    extra = {c: (c, "first") for c in ("point", "phase", "hparams_json", "budget_frac", "dense_params")
             if c in ok.columns and c not in (x, y)}
    return (ok.groupby(keys, sort=True)
            .agg(**{x: (x, "mean"), y: (y, "mean"), "n_seeds": ("seed", "nunique")}, **extra)
            .reset_index())


def hypervolume(front: pd.DataFrame | np.ndarray, ref_x: float, ref_y: float,
                x: str = "params", y: str = "test_auc") -> float:
    """Area dominated by ``front`` (minimise x, maximise y) up to the reference point, with x
    in log10 space: sum over the staircase of (log10 x_next - log10 x_i) * (y_i - ref_y).

    Points beyond the reference (x >= ref_x or y <= ref_y) add nothing; x is floored at 1.
    Units: decades of ``x`` times ``y`` (e.g. AUC). ``front`` may be a DataFrame or an
    ``[n, 2]`` array of (x, y); dominated points in it do not change the result.
    """
    pts = front[[x, y]].to_numpy(dtype=float) if isinstance(front, pd.DataFrame) else np.asarray(front, float)
    if pts.size == 0:
        return 0.0
    pts = pts[np.isfinite(pts).all(axis=1)]
    lx = np.log10(np.maximum(pts[:, 0], 1.0))
    lref = np.log10(max(ref_x, 1.0))
    inside = (lx < lref) & (pts[:, 1] > ref_y)
    lx, ys = lx[inside], pts[inside, 1]
    if lx.size == 0:
        return 0.0
    order = np.lexsort((-ys, lx))
    lx, ys = lx[order], ys[order]
    area, best = 0.0, ref_y
    edges = np.append(lx, lref)
    for i in range(len(lx)):
        best = max(best, ys[i])
        area += (edges[i + 1] - edges[i]) * (best - ref_y)
    return float(area)


@dataclass(frozen=True)
class ReferencePoint:
    x: float
    y: float


def reference_point(group: pd.DataFrame, x: str = "params", y: str = "test_auc") -> ReferencePoint:
    """The shared reference of one dataset x model: x = 2 x the largest cost seen (the dense
    table included, for params), y = 0.5 (random guessing) or the worst y seen if lower."""
    ok = group[group["ok"]] if "ok" in group.columns else group
    largest = float(np.nanmax(ok[x].to_numpy(dtype=float))) if len(ok) else 1.0
    if x == "params" and "dense_params" in ok.columns and len(ok):
        largest = max(largest, float(np.nanmax(ok["dense_params"].to_numpy(dtype=float))))
    worst = float(np.nanmin(ok[y].to_numpy(dtype=float))) if len(ok) else RANDOM_AUC
    return ReferencePoint(x=2.0 * max(largest, 1.0), y=min(RANDOM_AUC, worst))


def hypervolume_table(df: pd.DataFrame, x: str = "params", y: str = "test_auc") -> pd.DataFrame:
    """Hypervolume of each method's front (over seed-averaged configurations) per dataset x
    model, ranked (1 = best), with the reference point used and the number of points on the
    front. The reference comes from every successful row."""
    rows = []
    means = config_means(df, x, y)
    for (dataset, model), group in df.groupby(list(GROUP), sort=True):
        means_here = means[(means["dataset"] == dataset) & (means["model"] == model)]
        ref = reference_point(group, x, y)
        for method, mgroup in means_here.groupby("method", sort=True):
            front = pareto_front(mgroup, x, y)
            rows.append({"dataset": dataset, "model": model, "method": method,
                         "hypervolume": hypervolume(front, ref.x, ref.y, x, y),
                         "front_points": len(front), "ref_x": ref.x, "ref_y": ref.y})
    table = pd.DataFrame(rows, columns=["dataset", "model", "method", "hypervolume",
                                        "front_points", "ref_x", "ref_y"])
    if table.empty:
        return table.assign(rank=pd.Series(dtype=int))
    table["rank"] = table.groupby(list(GROUP))["hypervolume"].rank(ascending=False, method="min").astype(int)
    return table.sort_values([*GROUP, "rank", "method"]).reset_index(drop=True)
