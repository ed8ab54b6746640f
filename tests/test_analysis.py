"""analysis: loading and validation, budgets, hypervolume, every figure and the report on results
built here in the real ResultRow schema (the stored real-run fixture is used by the notebook and
report tests)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.budgets import best_at_budgets, t_quantile_95
from analysis.figures import all_figures
from analysis.load import ResultsSchemaError, load_results
from analysis.pareto import config_means, hypervolume, hypervolume_table, pareto_front
from analysis.style import method_colour
from autoembed.results import ResultRow
from autoembed.results.artifacts import save_dataset_artifacts, save_environment

N_FEATURES = 300
DIM = 8


def _row(method: str, seed: int, params: int, auc: float, **kw) -> ResultRow:
    base = dict(dataset="synthetic", model="fm", method=method, seed=seed, phase="train",
                point="final", params=params, storage_bytes=params * 4,
                dense_params=N_FEATURES * DIM, val_auc=auc + 0.001, val_logloss=0.5,
                test_auc=auc, test_logloss=0.5, epochs=2, best_epoch=1,
                train_seconds=1.0 + params / 1000, samples_per_sec=1e4, device="cpu",
                embedding_dim=DIM, git_rev="abc1234", bayes_auc=0.80, recovery=0.5)
    base.update(kw)
    return ResultRow(**base)


def make_results(folder: Path, seeds: tuple[int, ...] = (0, 1)) -> Path:
    """A small experiment folder: uniform at 3 sizes, PEP 2 granularities x 2 inits x 2 points
    with traces, MDE, a failed trial and a plugin method; artifacts as the runner stores them."""
    rng = np.random.default_rng(0)
    counts = np.sort(rng.zipf(1.5, N_FEATURES))[::-1].astype(np.int64)
    planted = np.clip((np.log2(counts + 1)).astype(int), 0, DIM)
    save_dataset_artifacts(folder, "synthetic", counts, planted)
    art = folder / "artifacts"
    rows: list[ResultRow] = []
    for seed in seeds:
        noise = 0.002 * seed
        for d in (2, 4, 8):
            dims = np.full(N_FEATURES, d)
            np.save(art / f"u{d}_{seed}.npy", dims)
            rows.append(_row("uniform", seed, N_FEATURES * d, 0.70 + 0.01 * d + noise,
                             hparams={"dim": d}, feature_dims_path=f"artifacts/u{d}_{seed}.npy"))
        for gran in ("global", "feature"):
            for init in (-15.0, -5.0):
                tag = f"{gran}{init}_{seed}"
                steps = np.arange(0, 200, 10)
                nz = (N_FEATURES * DIM * np.exp(-steps / (50 if init == -5 else 120))).astype(int)
                pd.DataFrame({"step": steps, "nonzeros": nz, "sparsity": 1 - nz / (N_FEATURES * DIM)}
                             ).to_csv(art / f"trace_{tag}.csv", index=False)
                for frac in (0.2, 0.05):
                    dims = np.minimum(planted + rng.integers(0, 2, N_FEATURES), DIM)
                    np.save(art / f"pep_{tag}_{frac}.npy", dims)
                    rows.append(_row("pep", seed, int(N_FEATURES * DIM * frac),
                                     0.76 - frac * 0.05 + (0.01 if gran == "feature" else 0) + noise,
                                     phase="retrain", point=f"sparsity={1 - frac:.2f}",
                                     hparams={"granularity": gran, "threshold_init": init},
                                     info={"target": frac},
                                     feature_dims_path=str(art / f"pep_{tag}_{frac}.npy"),
                                     trace_path=f"artifacts/trace_{tag}.csv"))
        mde = np.clip(planted, 1, DIM)
        np.save(art / f"mde_{seed}.npy", mde)
        rows.append(_row("mde", seed, int(mde.sum()), 0.745 + noise, hparams={"alpha": 0.3},
                         feature_dims_path=f"artifacts/mde_{seed}.npy"))
        rows.append(_row("tiered_plugin", seed, 900, 0.73 + noise, hparams={"k": 10}))
    rows.append(_row("mde", 0, 0, float("nan"), status="failed", error="RuntimeError: boom",
                     hparams={"alpha": 0.9}))
    df = pd.DataFrame([r.to_flat() for r in rows])
    df.to_csv(folder / "results.csv", index=False)
    df.to_parquet(folder / "results.parquet", index=False)
    save_environment(folder, device="cpu")
    return folder


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return make_results(tmp_path / "exp")


def test_loader_reads_folder_flags_failed_rows_and_resolves_paths(results_dir: Path) -> None:
    df = load_results(results_dir)
    assert len(df) == 2 * (3 + 8 + 2) + 1
    assert df["ok"].sum() == len(df) - 1
    assert df.loc[~df["ok"], "error"].iloc[0] == "RuntimeError: boom"
    assert np.allclose(df["budget_frac"], df["params"] / df["dense_params"])
    paths = df.loc[df["feature_dims_path"] != "", "feature_dims_path"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths)
    assert df["params"].dtype == np.int64 and df["test_auc"].dtype == float


def test_loader_reads_csv_same_as_parquet_and_several_folders(results_dir: Path, tmp_path: Path) -> None:
    from_csv = load_results(results_dir / "results.csv")
    from_parquet = load_results(results_dir / "results.parquet")
    pd.testing.assert_series_equal(from_csv["test_auc"], from_parquet["test_auc"])
    other = make_results(tmp_path / "exp2", seeds=(5,))
    both = load_results([results_dir, other])
    assert len(both) == len(from_csv) + 13 + 1
    assert both["experiment_dir"].nunique() == 2


def test_loader_rejects_missing_column_naming_it_and_the_file(results_dir: Path) -> None:
    bad = results_dir / "bad.csv"
    pd.read_csv(results_dir / "results.csv").drop(columns=["dense_params", "val_auc"]).to_csv(bad)
    with pytest.raises(ResultsSchemaError) as err:
        load_results(bad)
    assert "dense_params" in str(err.value) and "val_auc" in str(err.value)
    assert str(bad) in str(err.value)


def test_loader_errors_clearly_on_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="results.parquet"):
        load_results(tmp_path)


def test_loader_falls_back_to_ray_result_json(results_dir: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(results_dir / "results.csv")
    trial = tmp_path / "ray" / "trial_0"
    trial.mkdir(parents=True)
    lines = [{"row": r, "training_iteration": i} for i, r in enumerate(rows.to_dict("records"))]
    lines.append({"val_auc": 0.7, "epoch": 1})  # an epoch report, not a row
    (trial / "result.json").write_text("\n".join(json.dumps(x, default=str) for x in lines))
    df = load_results(tmp_path / "ray")
    assert len(df) == len(rows)


def test_best_at_budgets_selects_on_validation_and_respects_budget(results_dir: Path) -> None:
    df = load_results(results_dir)
    table = best_at_budgets(df, (0.1, 0.25, 1.0))
    assert (table["budget_frac"] <= table["budget"] + 1e-9).all()
    pep10 = table[(table["method"] == "pep") & (table["budget"] == 0.1)].iloc[0]
    assert pep10["hparams_json"].find("feature") >= 0 and pep10["n_seeds"] == 2
    assert pep10["test_auc_ci95"] == pytest.approx(
        t_quantile_95(1) * np.std([0.76 - 0.0025 + 0.01, 0.76 - 0.0025 + 0.012], ddof=1) / np.sqrt(2))
    uniform = table[(table["method"] == "uniform")]
    assert set(uniform["budget"]) == {0.25, 1.0}  # 2/8 of the table fits only from 25%
    assert uniform.set_index("budget").loc[1.0, "params"] == N_FEATURES * 8


def test_hypervolume_ranks_dominating_method_first(results_dir: Path) -> None:
    df = load_results(results_dir)
    table = hypervolume_table(df)
    ranks = table.set_index("method")["rank"]
    assert ranks["pep"] == 1  # PEP dominates this made-up data everywhere
    assert (table["ref_x"] == 2 * N_FEATURES * DIM).all() and (table["ref_y"] == 0.5).all()


def test_hypervolume_of_one_point_is_the_rectangle_in_log_space() -> None:
    front = np.array([[100.0, 0.8]])
    assert hypervolume(front, 10_000, 0.5) == pytest.approx(2 * 0.3)
    assert hypervolume(np.array([[100.0, 0.8], [1000.0, 0.9]]), 10_000, 0.5) == pytest.approx(
        1 * 0.3 + 1 * 0.4)
    assert hypervolume(np.array([[20_000.0, 0.9]]), 10_000, 0.5) == 0.0


def test_pareto_front_ignores_failed_rows(results_dir: Path) -> None:
    df = load_results(results_dir)
    front = pareto_front(df[df["method"] == "mde"])
    assert front["ok"].all() and len(front) == 1


def _assert_valid_image(path: Path) -> None:
    assert path.stat().st_size > 2_000, path
    if path.suffix == ".png":
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            w, h = img.size
        assert 300 <= w <= 6000 and 200 <= h <= 6000, (path, w, h)
    else:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg")


def test_every_figure_is_written_and_valid(results_dir: Path, tmp_path: Path) -> None:
    df = load_results(results_dir)
    figures = all_figures(df, tmp_path / "figs")
    skipped = {f.name: f.skipped for f in figures if f.skipped}
    assert not skipped, skipped
    names = {f.name for f in figures}
    assert {"pareto_params", "budgets", "pep_dynamics", "pep_heatmap", "sizes_vs_frequency",
            "synthetic_recovery", "synthetic_scores"} <= names
    for fig in figures:
        assert {p.suffix for p in fig.paths} == {".png", ".svg"}
        for path in fig.paths:
            _assert_valid_image(path)


def test_figures_skip_with_reason_when_results_lack_support(results_dir: Path, tmp_path: Path) -> None:
    df = load_results(results_dir)
    uniform_only = df[df["method"] == "uniform"].assign(bayes_auc=np.nan)
    for artifact in (results_dir / "artifacts" / "synthetic").glob("*.npy"):
        artifact.unlink()
    figures = {f.name: f for f in all_figures(uniform_only, tmp_path / "figs")}
    assert figures["pareto_params"].paths
    assert "PEP" in figures["pep_dynamics"].skipped and "PEP" in figures["pep_heatmap"].skipped
    assert figures["synthetic_scores"].skipped
    assert not list((tmp_path / "figs").glob("pep_*"))
    with_mde = df[df["method"].isin(["uniform", "mde"])]
    assert "no frequencies" in {f.name: f for f in all_figures(with_mde, tmp_path / "f2")}[
        "sizes_vs_frequency"].skipped


def test_method_colours_are_fixed_or_deterministic() -> None:
    assert method_colour("pep") == "#D55E00"
    assert method_colour("my_plugin") == method_colour("my_plugin")
    assert method_colour("my_plugin").startswith("#") and len(method_colour("my_plugin")) == 7


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results_small"
ALL_FIGURES = ("pareto_params", "pareto_storage_bytes", "pareto_train_seconds", "budgets",
               "pep_dynamics", "pep_heatmap", "sizes_vs_frequency", "synthetic_recovery",
               "synthetic_scores")


def test_report_command_on_stored_real_results_writes_every_file(tmp_path: Path) -> None:
    from autoembed.cli import main

    out = tmp_path / "report"
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 0
    for name in ("report.md", "report.html", "budgets.csv", "budgets.md", "hypervolume.csv"):
        assert (out / name).stat().st_size > 100, name
    for stem in ALL_FIGURES:
        for suffix in (".png", ".svg"):
            _assert_valid_image(out / "figures" / f"{stem}{suffix}")
    md = (out / "report.md").read_text()
    assert all(f"figures/{stem}.png" in md for stem in ALL_FIGURES)
    assert "skipped" not in md
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(ALL_FIGURES)
    assert "Hypervolume ranking" in page and "environment.json" in page
    methods = set(pd.read_csv(FIXTURE / "results.csv")["method"])
    assert {"uniform", "pep", "mde"} <= methods
    assert all(m in md for m in methods)


def test_fixture_is_small_and_portable() -> None:
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 1_000_000
    df = load_results(FIXTURE)
    assert df["ok"].all() and df["seed"].nunique() == 2
    stored = pd.read_csv(FIXTURE / "results.csv")
    assert not any(str(p).startswith("/") for p in stored["feature_dims_path"].dropna())


def test_loader_keeps_sweep_failed_rows_with_empty_numbers(results_dir: Path, tmp_path: Path) -> None:
    """A failed trial as the sweep records it: identity and error only, numbers missing."""
    rows = pd.read_csv(results_dir / "results.csv")
    failed = {c: np.nan for c in rows.columns} | {
        "dataset": "synthetic", "model": "fm", "method": "pep", "seed": 0, "phase": "failed",
        "point": "failed", "trial_id": "t9", "status": "failed", "error": "ValueError: x",
        "hparams_json": "{}", "info_json": "{}"}
    path = results_dir / "with_failed.csv"  # relative artifact paths resolve against its folder
    pd.concat([rows, pd.DataFrame([failed])]).to_csv(path, index=False)
    df = load_results(path)
    assert (~df["ok"]).sum() == 2 and df.loc[df["trial_id"] == "t9", "budget_frac"].isna().all()
    assert len(best_at_budgets(df)) == len(best_at_budgets(load_results(results_dir)))
    figures = all_figures(df, tmp_path / "figs")
    assert not [f.skipped for f in figures if f.skipped]


def test_fronts_for_reading_average_seeds() -> None:
    rows = pd.DataFrame({
        "dataset": "d", "model": "m", "method": ["a", "a", "b", "b"], "ok": True,
        "config_id": ["a1", "a1", "b1", "b1"], "seed": [0, 1, 0, 1], "params": [100] * 4,
        "test_auc": [0.70, 0.80, 0.76, 0.76], "point": "final",
    })
    means = config_means(rows)
    assert means.set_index("method")["test_auc"].to_dict() == pytest.approx({"a": 0.75, "b": 0.76})
    assert (means["n_seeds"] == 2).all()
    # a's lucky seed (0.80) does not put it ahead: b's mean front is higher
    table = hypervolume_table(rows)
    assert table.set_index("method")["rank"].to_dict() == {"b": 1, "a": 2}
