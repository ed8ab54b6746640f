"""End-to-end sweeps on a real local Ray (the session's ``ray_session``): rows, retries, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sweep_helpers import attempts, flaky_spec, read_rows

from autoembed.cli import main
from autoembed.results import REQUIRED_COLUMNS
from autoembed.tune.driver import run_sweep
from autoembed.tune.spaces import load_spec

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.ray


def test_smoke_sweep_writes_one_row_per_trial_and_point(ray_session, tmp_path: Path) -> None:
    out = run_sweep(load_spec(ROOT / "search_spaces" / "smoke.yaml"),
                    storage_path=str(tmp_path), name="smoke", verbose=False)
    df = read_rows(out.results_dir)
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    assert (df["status"] == "ok").all(), df[["method", "status", "error"]]
    assert (df["trial_id"].str.len() > 0).all()
    assert not df.duplicated(["trial_id", "phase", "point"]).any()
    uniform = df[df["method"] == "uniform"]
    assert sorted(uniform["embedding_dim"]) == [4, 8] and (uniform["point"] == "final").all()
    pep = df[df["method"] == "pep"]
    assert pep["trial_id"].nunique() == 1 and len(pep) >= 2  # one search, several retrain points
    assert (pep["phase"] == "retrain").all()
    assert df["test_auc"].between(0.0, 1.0).all()
    assert (out.experiment_path.endswith("/smoke")) and Path(out.experiment_path, "sweep_spec.yaml").exists()


def test_retry_resumes_from_checkpoint_and_failure_becomes_a_row(ray_session, tmp_path: Path) -> None:
    spec_path = flaky_spec(tmp_path, ["recovers", "broken"], {"fail_at_step": 20})
    control = tmp_path / "control"
    (control / "recovers.once").touch()  # first attempt dies in epoch 2, after a checkpoint
    (control / "broken.always").touch()
    out = run_sweep(load_spec(spec_path), name="faults", verbose=False)
    df = read_rows(out.results_dir).set_index("hp_tag")
    assert (out.trials, out.finished, out.errored, out.unfinished) == (2, 1, 1, 0)

    assert not (control / "recovers.once").exists()  # the planned failure happened
    ok = df.loc["recovers"]
    assert ok["status"] == "ok" and ok["epochs"] == 3
    log = attempts(control)
    # resumed from its epoch checkpoint: the embedding came from the checkpoint, not re-built
    assert [a for a in log if a[1] == "recovers"] == [(ok["trial_id"], "recovers")]

    bad = df.loc["broken"]
    assert bad["status"] == "failed" and "planned permanent failure" in bad["error"]
    assert bad["method"] == "flaky" and bad["dataset"] == "synthetic"
    # its retry resumed from the checkpoint too (one construction), then failed again for good
    assert len([a for a in log if a[1] == "broken"]) == 1


def test_optuna_gives_each_method_its_budget(ray_session, tmp_path: Path) -> None:
    raw = {
        "name": "optuna",
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "fm", "dim": 4}],
        "methods": {
            "uniform": {"trials": 2, "space": {"model.dim": {"type": "choice", "values": [2, 4]}}},
            "mde": {"trials": 2, "space": {"alpha": {"type": "uniform", "low": 0.1, "high": 0.5}}},
        },
        "train": {"epochs": 1, "batch_size": 2048, "threads": 1},
        "searcher": {"type": "optuna", "sampler": "nsga2"},
        "max_concurrent": 2,
        "storage_path": str(tmp_path),
    }
    from autoembed.tune.spaces import parse_spec

    out = run_sweep(parse_spec(raw), name="optuna", verbose=False)
    df = read_rows(out.results_dir)
    assert (df["status"] == "ok").all()
    assert df.groupby("method")["trial_id"].nunique().to_dict() == {"mde": 2, "uniform": 2}
    assert df[df["method"] == "mde"]["hp_alpha"].between(0.1, 0.5).all()


def test_a_sweep_with_a_diverged_point_exits_nonzero_and_keeps_it_off_the_front(
    ray_session, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = {
        "name": "diverge", "storage_path": str(tmp_path),
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "fm", "dim": 4}],
        "methods": {"uniform": {"space": {"train.lr": [0.003, 1000.0]}}},
        "train": {"epochs": 1, "max_steps": 30, "threads": 1},
        "max_failures": 0,
    }
    path = tmp_path / "diverge.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--name", "d"]) == 1
    printed = capsys.readouterr()
    assert "1 of 2 trial(s) failed" in printed.err and "autoembed sweep --resume" in printed.err
    assert "Pareto front synthetic x fm (1 of 1 points)" in printed.out

    from analysis.budgets import best_at_budgets
    from analysis.load import load_results
    from analysis.pareto import overall_fronts

    df = load_results(tmp_path / "d")
    failed = df[df["status"] == "failed"]
    assert len(failed) == 1 and failed["error"].str.contains("diverged").all()
    assert failed.index[0] not in overall_fronts(df).index
    budgets = best_at_budgets(df, budgets=(1.0,))
    assert len(budgets) == 1 and budgets["test_auc"].notna().all()
