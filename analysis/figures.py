"""Every figure of a report. Each function takes the tidy results (``analysis.load``) and an
output folder, writes PNG + SVG, and returns a :class:`FigureResult` with the paths it wrote,
or with ``skipped`` set to the reason the results do not support it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.budgets import DEFAULT_BUDGETS, best_at_budgets, budget_label
from analysis.load import dataset_array, load_feature_dims, load_trace
from analysis.pareto import GROUP, config_means, method_fronts, overall_fronts
from analysis.style import (
    apply_style,
    log_axis,
    method_colour,
    method_label,
    method_marker,
    ordered_methods,
    panel_grid,
    save_figure,
)

COST_LABELS = {
    "params": "embedding parameters (count, log scale)",
    "storage_bytes": "embedding storage (bytes, log scale)",
    "train_seconds": "training time (seconds, log scale)",
}
SIZE_METHODS = ("pep", "mde", "autoemb")  # always shown in the size figures when present
REPRESENTATIVE_BUDGET = 0.25  # size figures show the best-validation point within this budget
MAX_SCATTER = 20_000  # points drawn per panel (a fixed random subset beyond that)


@dataclass
class FigureResult:
    """What one figure function produced: its name, files, a caption, or why it was skipped."""

    name: str
    title: str
    paths: list[Path] = field(default_factory=list)
    caption: str = ""
    skipped: str = ""


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["ok"]]


def _panel_title(dataset: str, model: str) -> str:
    return f"{dataset} · {model}"


def _method_legend(ax, methods: list[str], **kwargs) -> None:
    handles = [Line2D([], [], color=method_colour(m), marker=method_marker(m), linestyle="-",
                      label=method_label(m)) for m in methods]
    ax.legend(handles=handles, **kwargs)


# --- 1. AUC vs cost, every trial a point, each method's front a step line ---------------------

def pareto_figure(df: pd.DataFrame, out_dir: Path, x: str = "params") -> FigureResult:
    title = f"Test AUC vs {x.replace('_', ' ')}"
    result = FigureResult(f"pareto_{x}", title)
    ok = _ok(df)
    ok = ok[np.isfinite(ok[x].astype(float)) & (ok[x].astype(float) > 0)]
    if ok.empty:
        result.skipped = f"no successful rows with a positive {x}"
        return result
    apply_style()
    groups = list(ok.groupby(list(GROUP), sort=True))
    fig, axes = panel_grid(len(groups))
    means = config_means(ok, x)
    fronts = method_fronts(means, x)
    best = overall_fronts(means, x)
    methods_all = ordered_methods(ok["method"])
    for ax, ((dataset, model), group) in zip(axes, groups, strict=True):
        for method in ordered_methods(group["method"]):
            pts = group[group["method"] == method]
            ax.scatter(pts[x], pts["test_auc"], s=18, alpha=0.45, color=method_colour(method),
                       marker=method_marker(method), linewidths=0)
            front = fronts[(fronts["dataset"] == dataset) & (fronts["model"] == model)
                           & (fronts["method"] == method)]
            ax.step(front[x], front["test_auc"], where="post", color=method_colour(method),
                    linewidth=1.8, marker=method_marker(method), markersize=5)
        overall = best[(best["dataset"] == dataset) & (best["model"] == model)]
        ax.step(overall[x], overall["test_auc"], where="post", color="grey", linewidth=3,
                alpha=0.25, zorder=0)
        log_axis(ax, "x")
        ax.set_xlabel(COST_LABELS.get(x, x))
        ax.set_ylabel("test AUC")
        ax.set_title(_panel_title(dataset, model))
    _method_legend(axes[-1], methods_all, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                   title="method (line = its front)")
    fig.suptitle(title + " — points: every seed; lines: fronts of seed means; grey: best of all")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = (f"Test AUC against {COST_LABELS.get(x, x)}; each faint marker is one "
                      "evaluated point of one seed, each step line a method's Pareto front over "
                      "its configurations averaged over seeds (fewer parameters, higher AUC is "
                      "better); the grey band is the front over all methods.")
    return result


# --- 2. best AUC at fixed budgets ---------------------------------------------------------------

def budget_figure(df: pd.DataFrame, out_dir: Path,
                  budgets: tuple[float, ...] = DEFAULT_BUDGETS) -> FigureResult:
    result = FigureResult("budgets", "Best test AUC at fixed parameter budgets")
    table = best_at_budgets(df, budgets)
    if table.empty:
        result.skipped = "no successful rows with params and dense_params"
        return result
    apply_style()
    groups = list(table.groupby(list(GROUP), sort=True))
    fig, axes = panel_grid(len(groups), max_cols=2, size=(6.5, 4.0))
    any_ci = False
    for ax, ((dataset, model), group) in zip(axes, groups, strict=True):
        methods = ordered_methods(group["method"])
        width = 0.8 / max(len(methods), 1)
        for i, method in enumerate(methods):
            rows = group[group["method"] == method]
            pos = [sorted(budgets).index(b) + (i - (len(methods) - 1) / 2) * width
                   for b in rows["budget"]]
            err = rows["test_auc_ci95"].where(rows["n_seeds"] > 1)
            any_ci |= bool(err.notna().any())
            ax.bar(pos, rows["test_auc"], width=width * 0.95, color=method_colour(method),
                   label=method_label(method), yerr=err.fillna(0).to_numpy(), capsize=2,
                   error_kw={"linewidth": 0.8})
        ax.set_xticks(range(len(budgets)), [budget_label(b) for b in sorted(budgets)])
        ax.set_xlabel("parameter budget (% of the dense uniform table)")
        ax.set_ylabel("test AUC (config chosen on validation)")
        low = np.nanmin(group["test_auc"] - group["test_auc_ci95"].fillna(0))
        high = np.nanmax(group["test_auc"] + group["test_auc_ci95"].fillna(0))
        pad = max((high - low) * 0.15, 0.005)
        ax.set_ylim(low - pad, high + pad)
        ax.set_title(_panel_title(dataset, model))
    axes[-1].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=method_colour(m), label=method_label(m))
                             for m in ordered_methods(table["method"])],
                    loc="upper left", bbox_to_anchor=(1.02, 1.0), title="method")
    note = ("error bars: 95% t-interval of the mean over seeds" if any_ci
            else "single seed: no interval")
    fig.suptitle(f"Best test AUC within each budget ({note})")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = ("For each budget, each method's configuration with the best mean validation "
                      "AUC among those whose parameters fit the budget on every seed; bars show "
                      f"its mean test AUC ({note}). A missing bar: nothing fits that budget.")
    return result


# --- 3. PEP: pruning over training, granularity x init heat map --------------------------------

def _pep_rows(df: pd.DataFrame) -> pd.DataFrame:
    pep = _ok(df)
    return pep[pep["method"] == "pep"]


def pep_dynamics_figure(df: pd.DataFrame, out_dir: Path) -> FigureResult:
    result = FigureResult("pep_dynamics", "PEP: nonzero parameters over search steps")
    pep = _pep_rows(df)
    pep = pep[pep["trace_path"] != ""].drop_duplicates("trace_path")
    traces = [(row, load_trace(row)) for _, row in pep.iterrows()]
    traces = [(row, t) for row, t in traces if t is not None]
    if not traces:
        result.skipped = "no PEP rows with a readable search trace (trace_path)"
        return result
    apply_style()
    grans = sorted({str(r.get("hp_granularity", "?")) for r, _ in traces})
    inits = sorted({float(r.get("hp_threshold_init", np.nan)) for r, _ in traces})
    cmap = plt.get_cmap("viridis")
    colour = {v: cmap(0.85 * i / max(len(inits) - 1, 1)) for i, v in enumerate(inits)}  # no pale yellow
    styles = ["-", "--", ":", "-."]
    fig, axes = panel_grid(len(grans), max_cols=4, size=(4.6, 3.6))
    seeds = sorted({int(r["seed"]) for r, _ in traces})
    for ax, gran in zip(axes, grans, strict=True):
        for row, trace in traces:
            if str(row.get("hp_granularity", "?")) != gran:
                continue
            init = float(row.get("hp_threshold_init", np.nan))
            ax.plot(trace["step"], np.maximum(trace["nonzeros"], 1), color=colour[init],
                    linestyle=styles[seeds.index(int(row["seed"])) % len(styles)], linewidth=1.5)
        log_axis(ax, "y")
        ax.set_xlabel("search step (optimizer steps)")
        ax.set_ylabel("nonzero embedding parameters (log)")
        ax.set_title(f"granularity: {gran}")
    handles = [Line2D([], [], color=colour[v], label=f"init {v:g}") for v in inits]
    handles += [Line2D([], [], color="grey", linestyle=styles[i % len(styles)], label=f"seed {s}")
                for i, s in enumerate(seeds)]
    axes[-1].legend(handles=handles, loc="best", title="threshold init s₀")
    datasets = ", ".join(sorted({f"{r['dataset']}·{r['model']}" for r, _ in traces}))
    fig.suptitle(f"PEP search: nonzeros over training ({datasets})")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = ("Nonzero count of PEP's pruned table over the search phase, one panel per "
                      "threshold granularity, colour = threshold init, line style = seed.")
    return result


def _heatmap_budget(pep: pd.DataFrame, by: tuple[str, ...]) -> tuple[float, pd.DataFrame]:
    """The smallest standard budget that fills the most granularity x init cells."""
    best_budget, best_table, best_cells = DEFAULT_BUDGETS[-1], pd.DataFrame(), -1
    for budget in DEFAULT_BUDGETS:
        table = best_at_budgets(pep, (budget,), by=by)
        if len(table) > best_cells:
            best_budget, best_table, best_cells = budget, table, len(table)
    return best_budget, best_table


def pep_heatmap_figure(df: pd.DataFrame, out_dir: Path) -> FigureResult:
    result = FigureResult("pep_heatmap", "PEP: retrained test AUC by granularity x threshold init")
    pep = _pep_rows(df)
    by = ("method", "hp_granularity", "hp_threshold_init")
    if pep.empty or not {"hp_granularity", "hp_threshold_init"} <= set(pep.columns):
        result.skipped = "no PEP rows with hp_granularity and hp_threshold_init"
        return result
    if "retrain" in set(pep["phase"]):
        pep = pep[pep["phase"] == "retrain"]
    budget, table = _heatmap_budget(pep, by)
    if table.empty:
        result.skipped = "no PEP configuration within any budget"
        return result
    apply_style()
    groups = list(table.groupby(list(GROUP), sort=True))
    fig, axes = panel_grid(len(groups), max_cols=2, size=(5.6, 3.8))
    for ax, ((dataset, model), group) in zip(axes, groups, strict=True):
        grid = group.pivot_table(index="hp_granularity", columns="hp_threshold_init",
                                 values="test_auc", aggfunc="first")
        grid = grid.reindex(columns=sorted(grid.columns, key=float))
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), [f"{float(c):g}" for c in grid.columns])
        ax.set_yticks(range(grid.shape[0]), list(grid.index))
        ax.grid(False)
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            ax.text(j, i, "–" if np.isnan(value) else f"{value:.4f}", ha="center", va="center",
                    color="white" if np.isnan(value) or value < np.nanmean(grid.to_numpy()) else "black",
                    fontsize=9)
        ax.set_xlabel("threshold init s₀")
        ax.set_ylabel("threshold granularity")
        ax.set_title(_panel_title(dataset, model))
        fig.colorbar(image, ax=ax, label="test AUC (retrained)")
    fig.suptitle(f"PEP retrained test AUC at ≤ {budget_label(budget)} of the dense table "
                 "(point chosen on validation, mean over seeds)")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = (f"Each cell: the PEP point within {budget_label(budget)} of the dense table "
                      "with the best validation AUC for that granularity and threshold init; its "
                      "mean retrained test AUC over seeds ('–': nothing within the budget). The "
                      "budget is the smallest standard one that fills the most cells.")
    return result


# --- 4 and 5. learned sizes per feature ---------------------------------------------------------

def representative_rows(df: pd.DataFrame, methods: list[str] | None = None,
                        budget: float = REPRESENTATIVE_BUDGET) -> pd.DataFrame:
    """Per dataset x model x method, one row with stored feature sizes: the best validation
    AUC within ``budget`` of the dense table (the best overall when nothing fits)."""
    ok = _ok(df)
    ok = ok[ok["feature_dims_path"].map(lambda p: bool(p) and Path(p).is_file())]
    if methods is not None:
        ok = ok[ok["method"].isin(methods)]
    chosen = []
    for _, group in ok.groupby([*GROUP, "method"], sort=True):
        fits = group[group["budget_frac"] <= budget]
        pool = fits if len(fits) else group
        chosen.append(pool.sort_values(["val_auc", "seed"], ascending=[False, True]).iloc[0])
    if not chosen:
        return ok.iloc[:0]
    reps = pd.DataFrame(chosen)
    rank = {m: i for i, m in enumerate(ordered_methods(reps["method"]))}
    reps["method_rank"] = reps["method"].map(rank)
    return reps.sort_values([*GROUP, "method_rank"]).drop(columns="method_rank")


def _varying_size_methods(df: pd.DataFrame) -> list[str]:
    """Methods whose sizes differ between features (PEP, MDE, AutoEmb always when present)."""
    reps = representative_rows(df)
    keep = []
    for _, row in reps.iterrows():
        dims = load_feature_dims(row)
        if row["method"] in SIZE_METHODS or (dims is not None and np.unique(dims).size > 1):
            keep.append(row["method"])
    return ordered_methods(keep)


def _subsample(n: int, limit: int = MAX_SCATTER) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _point_label(row: pd.Series) -> str:
    frac = row["budget_frac"]
    share = f", {frac * 100:.3g}% of dense" if np.isfinite(frac) else ""
    return f"{method_label(row['method'])} ({row['point']}{share})"


def sizes_vs_frequency_figure(df: pd.DataFrame, out_dir: Path) -> FigureResult:
    result = FigureResult("sizes_vs_frequency", "Learned size per feature vs feature frequency")
    methods = _varying_size_methods(df)
    if not methods:
        result.skipped = "no PEP/MDE/AutoEmb (or varying-size) rows with stored feature_dims"
        return result
    reps = representative_rows(df, methods)
    panels, missing = [], []
    for _, row in reps.iterrows():
        counts = dataset_array(df, row["dataset"], "feature_counts")
        dims = load_feature_dims(row)
        if counts is None or dims is None or len(counts) != len(dims):
            missing.append(row["dataset"])
            continue
        panels.append((row, counts, dims))
    if not panels:
        result.skipped = ("no frequencies — store <experiment>/artifacts/<dataset>/"
                          "feature_counts.npy (autoembed.results.artifacts.save_dataset_artifacts) or a "
                          f"feature_counts_path column (datasets: {sorted(set(missing))})")
        return result
    apply_style()
    fig, axes = panel_grid(len(panels), max_cols=3, size=(4.8, 3.6))
    for ax, (row, counts, dims) in zip(axes, panels, strict=True):
        freq = counts.astype(float) + 1.0
        idx = _subsample(len(freq))
        ax.scatter(freq[idx], dims[idx], s=8, alpha=0.5 if len(idx) < 5000 else 0.2, color=method_colour(row["method"]),
                   linewidths=0, rasterized=True)  # thousands of points: raster inside the SVG
        _binned_median(ax, freq, dims.astype(float))
        log_axis(ax, "x")
        ax.set_xlabel("feature frequency in train split + 1 (count, log)")
        ax.set_ylabel("learned size (dimensions)")
        ax.set_title(f"{_panel_title(row['dataset'], row['model'])}\n{_point_label(row)}",
                     fontsize=9)
    axes[0].legend(loc="upper left")
    fig.suptitle("Learned embedding size per feature vs its frequency")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = ("One dot per feature (at most 20,000 drawn), black line: median size per "
                      "frequency bin. Shown per method: the point with the best validation AUC "
                      f"within {budget_label(REPRESENTATIVE_BUDGET)} of the dense table.")
    return result


def _binned_median(ax, freq: np.ndarray, dims: np.ndarray, bins: int = 12) -> None:
    edges = np.unique(np.geomspace(freq.min(), freq.max() * 1.0001, bins + 1))
    which = np.digitize(freq, edges) - 1
    centres, medians = [], []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            centres.append(np.sqrt(edges[b] * edges[b + 1]))
            medians.append(np.median(dims[sel]))
    ax.plot(centres, medians, color="black", linewidth=1.6, marker="o", markersize=3,
            label="median per frequency bin")


def synthetic_recovery_figure(df: pd.DataFrame, out_dir: Path) -> FigureResult:
    result = FigureResult("synthetic_recovery", "Synthetic data: learned vs planted sizes")
    synth = df[df["bayes_auc"].notna()] if "bayes_auc" in df.columns else df.iloc[:0]
    if synth.empty:
        result.skipped = "no synthetic-data rows (bayes_auc empty)"
        return result
    reps = representative_rows(synth)
    panels = []
    for _, row in reps.iterrows():
        planted = dataset_array(df, row["dataset"], "planted_dims")
        dims = load_feature_dims(row)
        if planted is not None and dims is not None and len(planted) == len(dims):
            panels.append((row, planted, dims))
    if not panels:
        result.skipped = ("no planted sizes — store <experiment>/artifacts/<dataset>/"
                          "planted_dims.npy (autoembed.results.artifacts.save_dataset_artifacts) or a "
                          "planted_dims_path column")
        return result
    apply_style()
    fig, axes = panel_grid(len(panels), max_cols=3, size=(4.4, 3.8))
    jitter = np.random.default_rng(0)
    for ax, (row, planted, dims) in zip(axes, panels, strict=True):
        idx = _subsample(len(planted))
        px = planted[idx] + jitter.uniform(-0.25, 0.25, len(idx))
        ax.scatter(px, dims[idx], s=6, alpha=0.25, color=method_colour(row["method"]),
                   linewidths=0, rasterized=True)
        levels = np.unique(planted)
        means = [dims[planted == v].mean() for v in levels]
        ax.plot(levels, means, color="black", marker="o", markersize=4, label="mean learned")
        top = max(float(planted.max()), float(dims.max()), 1.0)
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="learned = planted")
        recovery = row["recovery"]
        ax.set_title(f"{_point_label(row)}\nrecovery {recovery:.3f}" if np.isfinite(recovery)
                     else _point_label(row), fontsize=9)
        ax.set_xlabel("planted size (dimensions)")
        ax.set_ylabel("learned size (dimensions)")
    axes[0].legend(loc="upper left")
    fig.suptitle("Synthetic data: learned vs planted size per feature")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = ("One dot per feature (planted size jittered); black: mean learned size per "
                      "planted size; dashed: perfect recovery. Recovery score as computed by "
                      "autoembed.data.synthetic.recovery_score.")
    return result


def synthetic_scores_figure(df: pd.DataFrame, out_dir: Path) -> FigureResult:
    result = FigureResult("synthetic_scores", "Synthetic data: recovery score and gap to Bayes AUC")
    synth = _ok(df)
    synth = synth[synth["bayes_auc"].notna()] if "bayes_auc" in synth.columns else synth.iloc[:0]
    if synth.empty:
        result.skipped = "no successful synthetic-data rows (bayes_auc empty)"
        return result
    table = synthetic_scores(synth)
    apply_style()
    groups = list(table.groupby(list(GROUP), sort=True))
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 3.6 * len(groups)), squeeze=False)
    for (ax_rec, ax_gap), ((dataset, model), group) in zip(axes, groups, strict=True):
        methods = ordered_methods(group["method"])
        group = group.set_index("method").loc[methods]
        colours = [method_colour(m) for m in methods]
        labels = [method_label(m) for m in methods]
        ax_rec.bar(labels, group["recovery"].fillna(0), yerr=group["recovery_std"].fillna(0),
                   color=colours, capsize=3)
        ax_rec.set_ylabel("recovery of planted sizes")
        ax_rec.set_title(f"{_panel_title(dataset, model)}: recovery (higher is better)")
        ax_gap.bar(labels, group["gap"], yerr=group["gap_std"].fillna(0), color=colours, capsize=3)
        ax_gap.set_ylabel("Bayes AUC − test AUC")
        ax_gap.set_title(f"gap to Bayes ceiling {group['bayes_auc'].iloc[0]:.4f} (lower is better)")
        for ax in (ax_rec, ax_gap):
            ax.tick_params(axis="x", rotation=20)
    fig.suptitle("Synthetic data, best-validation configuration per method (mean ± std over seeds)")
    result.paths = save_figure(fig, out_dir, result.name)
    result.caption = ("Per method, the configuration with the best mean validation AUC: its "
                      "recovery score and its distance to the teacher's (Bayes) test AUC.")
    return result


def synthetic_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x method, the best-validation configuration's recovery and gap to
    the Bayes AUC (mean and std over seeds)."""
    ok = _ok(df)
    ok = ok[ok["bayes_auc"].notna()].assign(gap=lambda d: d["bayes_auc"] - d["test_auc"])
    rows = []
    for (dataset, model, method), group in ok.groupby([*GROUP, "method"], sort=True):
        by_config = group.groupby("config_id")
        best = by_config["val_auc"].mean().idxmax()
        chosen = by_config.get_group(best)
        rows.append({"dataset": dataset, "model": model, "method": method,
                     "point": chosen["point"].iloc[0], "n_seeds": chosen["seed"].nunique(),
                     "test_auc": chosen["test_auc"].mean(), "bayes_auc": chosen["bayes_auc"].mean(),
                     "gap": chosen["gap"].mean(), "gap_std": chosen["gap"].std(),
                     "recovery": chosen["recovery"].mean(), "recovery_std": chosen["recovery"].std()})
    return pd.DataFrame(rows)


FIGURE_FAMILIES = {
    "pareto": (lambda df, out: [pareto_figure(df, out, "params"),
                                pareto_figure(df, out, "storage_bytes"),
                                pareto_figure(df, out, "train_seconds")]),
    "budgets": lambda df, out: [budget_figure(df, out)],
    "pep_dynamics": lambda df, out: [pep_dynamics_figure(df, out), pep_heatmap_figure(df, out)],
    "sizes_vs_frequency": lambda df, out: [sizes_vs_frequency_figure(df, out)],
    "synthetic_recovery": lambda df, out: [synthetic_recovery_figure(df, out),
                                           synthetic_scores_figure(df, out)],
}


def all_figures(df: pd.DataFrame, out_dir: Path) -> list[FigureResult]:
    """Every figure family in report order."""
    return [fig for family in FIGURE_FAMILIES.values() for fig in family(df, Path(out_dir))]
