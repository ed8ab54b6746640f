"""The Pareto front of result rows (minimise a cost, maximise a score): the end-of-sweep summary
and ``analysis`` draw the same one."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_front(
    df: pd.DataFrame, x: str = "params", y: str = "test_auc", maximize_y: bool = True
) -> pd.DataFrame:
    """The non-dominated rows of ``df`` sorted by ``x`` (minimised) with ``y`` maximised
    (minimised when ``maximize_y=False``).

    A row is dominated when another has x <= and y >= (better-or-equal in both) and is strictly
    better in one. Rows with identical (x, y) are kept once (the first). Rows with a missing x or
    y, and rows flagged ``ok == False``, are ignored.
    """
    for col in (x, y):
        if col not in df.columns:
            raise KeyError(f"pareto_front: no column {col!r}; columns are {list(df.columns)}")
    valid = df[np.isfinite(df[x].astype(float)) & np.isfinite(df[y].astype(float))]
    if "ok" in valid.columns:
        valid = valid[valid["ok"].astype(bool)]
    if valid.empty:
        return valid.copy()
    xs = valid[x].to_numpy(dtype=float)
    ys = valid[y].to_numpy(dtype=float)
    score = ys if maximize_y else -ys
    order = np.lexsort((np.arange(len(xs)), -score, xs))  # x asc, then best y, then row order
    keep = []
    best = -np.inf
    for i in order:
        if score[i] > best:
            keep.append(i)
            best = score[i]
    return valid.iloc[keep]
