"""A run whose loss explodes is a failure: a failed row with the reason, a non-zero exit, and
never a point on a front or in a budget table."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autoembed.cli import main
from autoembed.config import TrainConfig
from autoembed.training.trainer import prior_logloss


def test_the_issues_diverging_train_fails(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.csv"
    code = main(["train", "--dataset", "synthetic", "--data-option", "scale=tiny", "--epochs", "2",
                 "--max-steps", "50", "--lr", "1e3", "--out", str(out)])
    assert code == 1
    assert "train final failed: diverged:" in capsys.readouterr().err
    row = pd.read_csv(out).iloc[0]
    assert row["status"] == "failed" and "lower the learning rate" in row["error"]
    assert math.isnan(row["val_auc"]) and math.isnan(row["test_auc"])


def test_a_sane_run_is_not_flagged(tmp_path: Path) -> None:
    out = tmp_path / "ok.csv"
    assert main(["train", "--dataset", "synthetic", "--data-option", "scale=tiny", "--epochs", "2",
                 "--max-steps", "50", "--lr", "3e-3", "--out", str(out)]) == 0
    assert (pd.read_csv(out)["status"] == "ok").all()


def test_the_limit_is_the_label_prior() -> None:
    import torch

    assert prior_logloss(torch.tensor([0.0, 1.0])) == pytest.approx(math.log(2))
    assert prior_logloss(torch.tensor([0.0] * 9 + [1.0])) == pytest.approx(0.3251, abs=1e-4)
    with pytest.raises(ValueError, match="diverge_factor must be >= 0"):
        TrainConfig(diverge_factor=-1)


@pytest.mark.ray
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
