"""End-of-sweep summary: the Pareto front (params vs test AUC) per dataset x model."""

from __future__ import annotations

import pandas as pd

from autoembed.results.pareto import pareto_front


def varying_hparams(df: pd.DataFrame, method: str) -> list[str]:
    """The ``hp_*`` columns that take more than one value among ``method``'s rows."""
    rows = df[df["method"] == method]
    return [c for c in df.columns if c.startswith("hp_") and rows[c].astype(str).nunique() > 1]


def _describe(row: pd.Series, columns: list[str]) -> str:
    parts = [f"{c[3:]}={row[c]}" for c in columns]
    return " ".join([f"D={row['embedding_dim']}", *parts])


def pareto_summary(df: pd.DataFrame) -> str:
    """A text table per dataset x model of the non-dominated (params, test AUC) points."""
    if df.empty:
        return "no results"
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    lines = []
    failed = len(df) - len(ok)
    for (dataset, model), part in ok.groupby(["dataset", "model"], sort=True):
        front = pareto_front(part)
        lines.append(f"Pareto front {dataset} x {model} ({len(front)} of {len(part)} points):")
        for _, r in front.iterrows():
            what = _describe(r, varying_hparams(ok, r["method"]))
            lines.append(
                f"  params={int(r['params']):>10,d}  test_auc={r['test_auc']:.4f}  "
                f"{r['method']:<8} {r['point']:<14} seed={r['seed']}  {what}"
            )
    if failed:
        lines.append(f"{failed} failed trial(s): see the rows with status 'failed'")
    return "\n".join(lines)
