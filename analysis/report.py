"""The report of an experiment folder: every supported figure, ``report.md`` and ``report.html``
(figures embedded, tables, best configuration per budget, hypervolume ranking, environment)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.budgets import best_at_budgets, budget_label, budget_pivot, write_budget_tables
from analysis.costs import cost_table
from analysis.figures import FigureResult, all_figures, synthetic_scores
from analysis.load import load_results
from analysis.pareto import config_means, hypervolume_table, overall_fronts
from analysis.tables import html_table, markdown_table
from autoembed.results.artifacts import environment_info, load_environment

FIGURES_DIR = "figures"


@dataclass
class Block:
    """One piece of the report: a heading, a paragraph, a table or a figure."""

    kind: str  # heading | text | table | figure
    text: str = ""
    level: int = 2
    table: pd.DataFrame | None = None
    figure: FigureResult | None = None


@dataclass
class Report:
    out_dir: Path
    markdown: Path
    html: Path
    figures: list[FigureResult] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)

    @property
    def skipped(self) -> dict[str, str]:
        return {f.name: f.skipped for f in self.figures if f.skipped}


def write_report(experiment: str | Path | list[str | Path], out_dir: str | Path | None = None) -> Report:
    """Load ``experiment`` (folder(s) or results file(s)) and write the report into ``out_dir``
    (default: ``<first experiment folder>/report``)."""
    sources = [experiment] if isinstance(experiment, (str, Path)) else list(experiment)
    df = load_results(sources)
    first = Path(sources[0])
    out = Path(out_dir) if out_dir is not None else (first if first.is_dir() else first.parent) / "report"
    out.mkdir(parents=True, exist_ok=True)
    figures = all_figures(df, out / FIGURES_DIR)
    budgets = best_at_budgets(df)
    tables = write_budget_tables(budgets, out)
    hv = hypervolume_table(df)
    hv.to_csv(out / "hypervolume.csv", index=False)
    tables.append(out / "hypervolume.csv")
    blocks = _blocks(df, figures, budgets, hv, sources)
    costs = cost_table(df)
    if len(costs):
        at = next(i for i, b in enumerate(blocks) if b.text == "Other cost axes")
        blocks[at:at] = [
            Block("heading", "Compute per method"),
            Block("text", "Wall seconds of every trial (search and all retrains of a two-phase "
                          "method included, every attempt of a retried trial), per method, and where "
                          "they ran: Ray nodes, hosts and devices of its rows."),
            Block("table", table=costs),
        ]
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(_to_markdown(blocks))
    html_path.write_text(_to_html(blocks))
    return Report(out, md_path, html_path, figures, tables)


# --- content -----------------------------------------------------------------------------------

def _blocks(df: pd.DataFrame, figures: list[FigureResult], budgets: pd.DataFrame,
            hv: pd.DataFrame, sources: list) -> list[Block]:
    ok = df[df["ok"]]
    by_name = {f.name: f for f in figures}
    blocks = [
        Block("heading", "autoembed report", level=1),
        Block("text", f"Results: {', '.join(str(s) for s in sources)} — {len(df)} rows "
                      f"({len(ok)} ok, {len(df) - len(ok)} failed); datasets × models: "
                      f"{', '.join(sorted({f'{d} · {m}' for d, m in zip(df['dataset'], df['model'], strict=True)}))}; "
                      f"methods: {', '.join(sorted(df['method'].unique()))}; seeds: "
                      f"{', '.join(str(s) for s in sorted(df['seed'].unique()))}."),
        Block("heading", "Pareto fronts"),
        Block("figure", figure=by_name["pareto_params"]),
        Block("text", "The best configurations over all methods (the grey band; test AUC and "
                      "parameters averaged over seeds), per dataset × model:"),
        Block("table", table=_front_table(ok)),
        Block("heading", "Hypervolume ranking"),
        Block("text", "Area each method's front dominates in (log10 parameters × test AUC) space, "
                      "up to a reference shared by all methods of a dataset × model (2 × the "
                      "largest parameter count, test AUC 0.5 or the worst seen); larger is "
                      "better, rank 1 is best."),
        Block("table", table=hv[["dataset", "model", "rank", "method", "hypervolume",
                                 "front_points", "ref_x", "ref_y"]]),
        Block("heading", "Best test AUC at fixed budgets"),
        Block("figure", figure=by_name["budgets"]),
        Block("text", "Budgets are fractions of the dense uniform table at the widest model (`budget_base`: the largest `dense_params` of the dataset × model). "
                      "Configuration chosen on mean validation AUC; cells show its test AUC, "
                      "mean ± std over seeds (n seeds). Long form with every number: budgets.csv."),
        Block("table", table=budget_pivot(budgets)),
        Block("heading", "Best configuration per budget", level=3),
        Block("table", table=_best_config_table(budgets)),
        Block("heading", "Other cost axes"),
        Block("figure", figure=by_name["pareto_storage_bytes"]),
        Block("figure", figure=by_name["pareto_train_seconds"]),
        Block("heading", "PEP"),
        Block("figure", figure=by_name["pep_dynamics"]),
        Block("figure", figure=by_name["pep_heatmap"]),
        Block("heading", "Learned sizes"),
        Block("figure", figure=by_name["sizes_vs_frequency"]),
        Block("heading", "Synthetic data: known answers"),
        Block("figure", figure=by_name["synthetic_recovery"]),
        Block("figure", figure=by_name["synthetic_scores"]),
    ]
    synth = ok[ok["bayes_auc"].notna()]
    if len(synth):
        blocks.append(Block("table", table=synthetic_scores(synth)))
    failed = df[~df["ok"]]
    if len(failed):
        blocks += [Block("heading", "Failed or incomplete rows"),
                   Block("table", table=failed[["dataset", "model", "method", "seed", "trial_id",
                                                "status", "error"]])]
    blocks += [Block("heading", "Environment and provenance"), Block("table", table=_environment(df))]
    return blocks


def _front_table(ok: pd.DataFrame) -> pd.DataFrame:
    cols = ["dataset", "model", "method", "point", "n_seeds", "params", "budget_frac", "test_auc",
            "hparams_json"]
    front = overall_fronts(config_means(ok))
    return front[cols].rename(columns={"hparams_json": "hyperparameters"}) if len(front) else front


def _best_config_table(budgets: pd.DataFrame) -> pd.DataFrame:
    if budgets.empty:
        return budgets
    best = budgets.sort_values("val_auc", ascending=False).drop_duplicates(
        ["dataset", "model", "budget"]).sort_values(["dataset", "model", "budget"])
    return pd.DataFrame({
        "dataset": best["dataset"], "model": best["model"],
        "budget": best["budget"].map(budget_label), "method": best["method"],
        "point": best["point"], "hyperparameters": best["hparams_json"],
        "params": best["params"].round().astype("int64"), "val_auc": best["val_auc"], "test_auc": best["test_auc"],
        "seeds": best["n_seeds"],
    })


def _environment(df: pd.DataFrame) -> pd.DataFrame:
    """Where the numbers came from: each experiment's stored environment.json (else the
    versions generating this report, labelled so), and the rows' git revisions and devices."""
    rows = []
    for exp in sorted(df["experiment_dir"].unique()):
        part = df[df["experiment_dir"] == exp]
        stored = load_environment(exp)
        env = stored or environment_info()
        rows.append({
            "experiment": Path(exp).name,
            "git revision(s) of the rows": ", ".join(sorted(set(part["git_rev"]) - {""})) or "–",
            "device(s)": ", ".join(sorted(set(part["device"]) - {""})) or "–",
            "python": env.get("python", "?"), "torch": env.get("torch", "?"),
            "ray": env.get("ray", "?"),
            "versions from": "environment.json" if stored else "report machine (not stored)",
        })
    return pd.DataFrame(rows)


# --- rendering ---------------------------------------------------------------------------------

def _figure_caption(fig: FigureResult) -> str:
    return fig.caption or fig.title


def _to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            out.append("#" * b.level + " " + b.text)
        elif b.kind == "text":
            out.append(b.text)
        elif b.kind == "table":
            out.append(markdown_table(b.table))
        elif b.kind == "figure":
            fig = b.figure
            if fig.skipped:
                out.append(f"_{fig.title}: skipped — {fig.skipped}._")
            else:
                png = next(p for p in fig.paths if p.suffix == ".png")
                svg = next((p for p in fig.paths if p.suffix == ".svg"), None)
                out.append(f"![{fig.title}]({FIGURES_DIR}/{png.name})\n\n*{_figure_caption(fig)}*"
                           + (f" ([SVG]({FIGURES_DIR}/{svg.name}))" if svg else ""))
    return "\n\n".join(out) + "\n"


def _to_html(blocks: list[Block]) -> str:
    body: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif b.kind == "text":
            body.append(f"<p>{html.escape(b.text)}</p>")
        elif b.kind == "table":
            body.append(html_table(b.table))
        elif b.kind == "figure":
            fig = b.figure
            if fig.skipped:
                body.append(f"<p class='skipped'><em>{html.escape(fig.title)}: skipped — "
                            f"{html.escape(fig.skipped)}.</em></p>")
                continue
            png = next(p for p in fig.paths if p.suffix == ".png")
            data = base64.b64encode(png.read_bytes()).decode()
            body.append(f"<figure><img alt='{html.escape(fig.title)}' "
                        f"src='data:image/png;base64,{data}'><figcaption>"
                        f"{html.escape(_figure_caption(fig))}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}figcaption{color:#444;font-size:0.9em}"
             ".skipped{color:#888}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>autoembed report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
