"""``autoembed study`` on a real local Ray: two sweeps run, exported to one results folder with
its report; running it again resumes (finished trials are not re-run); labels keep datasets apart."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.costs import cost_table
from analysis.export import export_results
from analysis.load import load_feature_dims, load_results
from autoembed.cli import main
from autoembed.study import run_study

pytestmark = pytest.mark.ray

TRAIN = {"epochs": 1, "batch_size": 1024, "lr": 0.003, "patience": 1, "threads": 1}


def write_spec(folder: Path, name: str, datasets: list[dict], methods: dict) -> Path:
    raw = {
        "name": name, "datasets": datasets, "models": [{"name": "fm", "dim": 8}],
        "methods": methods, "seeds": [0], "train": TRAIN,
        "search_train": {**TRAIN, "epochs": 3, "lr": 0.01},
        "resources": {"cpu": 1, "gpu": 0}, "max_concurrent": 2, "max_failures": 0,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_study_runs_exports_reports_and_resumes(ray_session, tmp_path: Path) -> None:
    tiny = {"name": "synthetic", "options": {"scale": "tiny"}}
    specs = [
        write_spec(tmp_path, "two-labels", [{**tiny, "label": "tiny-a"},
                                            {**tiny, "options": {"scale": "tiny", "seed": 1},
                                             "label": "tiny-b"}],
                   {"uniform": {"space": {"model.dim": [4, 8]}}}),
        write_spec(tmp_path, "pep-part", [{**tiny, "label": "tiny-a"}],
                   {"pep-global": {"method": "pep",  # a method label, kept in the rows
                                   "space": {"granularity": "global", "threshold_init": -3,
                                             "targets": [0.9, 0.7]}}}),
    ]
    storage, out = tmp_path / "experiments", tmp_path / "results"
    outcome = run_study(specs, storage, out, verbose=False)

    df = pd.read_csv(outcome.results_csv)
    assert outcome.unfinished == {}  # nothing interrupted: the export is complete
    assert outcome.rows == len(df) == 4 + 2  # 2 datasets x 2 widths, one PEP search -> 2 points
    assert sorted(df["dataset"].unique()) == ["tiny-a", "tiny-b"]  # labels, not "synthetic"
    assert sorted(df["method"].unique()) == ["pep-global", "uniform"]
    assert (df["status"] == "ok").all()
    assert not df.duplicated(["trial_id", "phase", "point"]).any()
    # artifact paths are relative to the results folder and their files were copied there
    tidy = load_results(outcome.results_csv)
    sizes = [load_feature_dims(row) for _, row in tidy.iterrows()]
    assert all(s is not None and s.dtype == np.uint8 for s in sizes)
    assert all(not Path(p).is_absolute() for p in df["feature_dims_path"])
    assert (out / "artifacts" / "tiny-a" / "planted_dims.npy").is_file()
    for name in ("report.md", "report.html", "budgets.md", "figures/pareto_params.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "tiny-b" in report and "Compute per method" in report
    costs = cost_table(df)  # from the stored CSV alone
    assert costs["trials"].sum() == 5  # 4 uniform trials + 1 PEP search
    assert (costs["nodes"] == 1).all() and (costs["hosts"] == socket.gethostname()).all()
    assert (costs["devices"] == "cpu").all() and df["node_id"].str.len().min() > 0  # rows say where
    pep_rows = df[df["method"] == "pep-global"].sort_values("info_trial_seconds")
    assert (pep_rows["info_trial_seconds"] > 0).all() and pep_rows["info_trial_seconds"].is_unique
    assert costs.loc[costs["method"] == "pep-global", "total_seconds"].item() == pep_rows["info_trial_seconds"].max()

    # again: both sweeps are resumed, nothing is re-run, the export is identical
    trial_dirs = sorted(p.name for p in (storage / "two-labels").iterdir() if p.is_dir())
    again = run_study(specs, storage, out, report=False, verbose=False)
    assert again.unfinished == {}  # the resumed sweeps know their finished trials
    assert sorted(p.name for p in (storage / "two-labels").iterdir() if p.is_dir()) == trial_dirs
    pd.testing.assert_frame_equal(pd.read_csv(again.results_csv), df)


def test_export_skips_artifacts_of_large_datasets(ray_session, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "small", [{"name": "synthetic", "options": {"scale": "tiny"}}],
                      {"uniform": {"space": {"model.dim": [4]}}})
    storage = tmp_path / "experiments"
    run_study([spec], storage, tmp_path / "full", report=False, verbose=False)
    outcome = export_results([storage / "small"], tmp_path / "lean", max_artifact_features=10)
    assert outcome.skipped_artifacts == ["synthetic"]
    df = pd.read_csv(outcome.results_csv, keep_default_na=False)
    assert (df["feature_dims_path"] == "").all() and not (tmp_path / "lean" / "artifacts").exists()


def test_export_only_names_the_missing_experiment(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path, "never-run", [{"name": "synthetic"}], {"uniform": {}})
    code = main(["study", str(spec), "--export-only", "--storage-path", str(tmp_path / "nowhere")])
    assert code == 2
    err = capsys.readouterr().err
    assert "never-run" in err and "without --export-only" in err
