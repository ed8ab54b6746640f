"""Best test AUC each method reaches within fixed parameter budgets (fractions of the dense
uniform table ``budget_base``, see ``analysis.load``), with a confidence interval over seeds.

Selection is honest: among a method's configurations whose parameters fit the budget on every
seed, the one with the best mean *validation* AUC is chosen, and its *test* AUC is reported
(mean, std and 95% t-interval over seeds). A configuration is ``config_id`` (method, phase,
point label and hyperparameters), i.e. the same setting run with different seeds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.tables import markdown_table

DEFAULT_BUDGETS: tuple[float, ...] = (0.05, 0.10, 0.25, 1.00)
GROUP = ["dataset", "model"]
_BUDGET_SLACK = 1e-9

# Two-sided 95% Student-t quantiles by degrees of freedom (no scipy needed).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile_95(dof: int) -> float:
    """Two-sided 95% Student-t quantile (conservative: the nearest tabulated dof below)."""
    if dof < 1:
        return math.nan
    usable = [d for d in _T975 if d <= dof]
    return _T975[max(usable)] if dof <= 30 else 1.960


def seed_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (dataset, model, method, config_id) aggregated over seeds;
    ``hp_*`` columns are carried along."""
    ok = df[df["ok"] & df["budget_frac"].notna()]
    keys = [*GROUP, "method", "config_id"]
    hp = {c: (c, "first") for c in ok.columns if c.startswith("hp_")}
    agg = ok.groupby(keys, sort=True).agg(
        **hp,
        phase=("phase", "first"), point=("point", "first"), hparams_json=("hparams_json", "first"),
        n_seeds=("seed", "nunique"), params=("params", "mean"),
        budget_frac=("budget_frac", "max"), val_auc=("val_auc", "mean"),
        test_auc=("test_auc", "mean"), test_auc_std=("test_auc", "std"),
    ).reset_index()
    agg["test_auc_std"] = agg["test_auc_std"].fillna(0.0)
    half = [t_quantile_95(n - 1) * s / math.sqrt(n) if n > 1 else math.nan
            for n, s in zip(agg["n_seeds"], agg["test_auc_std"], strict=True)]
    agg["test_auc_ci95"] = half
    return agg


def best_at_budgets(
    df: pd.DataFrame, budgets: tuple[float, ...] = DEFAULT_BUDGETS,
    by: tuple[str, ...] = ("method",),
) -> pd.DataFrame:
    """For each dataset x model x budget x method (or x ``by``, e.g. method and ``hp_*``
    columns): the configuration chosen on validation AUC among those within the budget, with
    its test AUC over seeds. Groups with nothing under a budget have no row for it."""
    if any(b <= 0 for b in budgets):
        raise ValueError(f"budgets are fractions of the dense table and must be > 0, got {budgets}")
    summary = seed_summary(df)
    rows = []
    for budget in sorted(budgets):
        fits = summary[summary["budget_frac"] <= budget + _BUDGET_SLACK]
        for _, group in fits.groupby([*GROUP, *by], sort=True, dropna=False):
            best = group.sort_values(["val_auc", "params"], ascending=[False, True]).iloc[0]
            rows.append({"budget": budget, **best.to_dict()})
    extra = [c for c in by if c != "method"]
    columns = ["dataset", "model", "budget", "method", *extra, "test_auc", "test_auc_std", "test_auc_ci95",
               "n_seeds", "val_auc", "params", "budget_frac", "phase", "point", "hparams_json",
               "config_id"]
    table = pd.DataFrame(rows)
    return table[columns] if not table.empty else pd.DataFrame(columns=columns)


def budget_label(budget: float) -> str:
    return f"{budget * 100:g}%"


def format_auc(mean: float, std: float, n: int) -> str:
    """``0.7912 ± 0.0031 (n=3)``; a single seed shows just the value."""
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.4f} ± {std:.4f} (n={n})" if n > 1 else f"{mean:.4f}"


def budget_pivot(table: pd.DataFrame, budgets: tuple[float, ...] = DEFAULT_BUDGETS) -> pd.DataFrame:
    """Wide form for reading: one row per dataset x model x method, one column per budget
    (every one of ``budgets``; "–" where nothing fits), cells ``mean ± std (n)``."""
    if table.empty:
        return pd.DataFrame()
    cells = table.assign(
        cell=[format_auc(m, s, n) for m, s, n in
              zip(table["test_auc"], table["test_auc_std"], table["n_seeds"], strict=True)],
        budget_col=table["budget"].map(budget_label),
    )
    order = [budget_label(b) for b in sorted(set(budgets) | set(table["budget"]))]
    wide = cells.pivot_table(index=[*GROUP, "method"], columns="budget_col", values="cell",
                             aggfunc="first").reindex(columns=order).fillna("–")
    wide.columns.name = None
    return wide.reset_index()


def write_budget_tables(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """``budgets.csv`` (long form, every number) and ``budgets.md`` (the readable pivot)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "budgets.csv", out / "budgets.md"
    table.to_csv(csv_path, index=False)
    md_path.write_text(
        "Best test AUC within each budget (fraction of the dense uniform table), configuration "
        "chosen on validation AUC; mean ± std over seeds (n seeds).\n\n"
        + markdown_table(budget_pivot(table)) + "\n"
    )
    return [csv_path, md_path]
