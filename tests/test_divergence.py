"""A run whose loss explodes is a failure: a failed row with the reason, a non-zero exit, and
never a point on a front or in a budget table."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

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
