"""``autoembed train`` on tiny synthetic data; method flags generated from the Config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoembed.cli import main
from autoembed.commands.train import converter


def test_train_prints_a_table_and_writes_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rows.csv"
    code = main([
        "train", "--dataset", "synthetic", "--param", "init_std=0.01", "--model", "deepfm",
        "--dim", "8", "--dnn-hidden", "16,16", "--epochs", "2", "--batch-size", "1024",
        "--lr", "3e-3", "--threads", "1", "--device", "cpu", "--out", str(out),
        "--data-option", "scale=tiny", "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    printed = capsys.readouterr()
    assert "val_auc" in printed.out and "final" in printed.out
    assert "[train final] epoch 2" in printed.err
    frame = pd.read_csv(out)
    assert len(frame) == 1 and frame.loc[0, "hp_init_std"] == 0.01
    assert frame.loc[0, "model"] == "deepfm" and 0.5 < frame.loc[0, "test_auc"] <= 1


def test_method_flags_come_from_the_config(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--method", "uniform", "--help"])
    assert "--init-std" in capsys.readouterr().out


def test_unknown_option_lists_the_allowed_ones(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--bogus", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus 1" in err and "--init-std" in err and "--lr" in err


def test_unknown_method_and_hyperparameter_are_clear_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--method", "nope"])
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["train", "--param", "bogus=1"]) == 2
    assert "unknown hyperparameter(s) ['bogus']" in capsys.readouterr().err


def test_converter_handles_tuples_optionals_and_bools() -> None:
    assert converter(tuple[float, ...])("0.5,0.2,0.1") == (0.5, 0.2, 0.1)
    assert converter(int | None)("none") is None and converter(int | None)("3") == 3
    assert converter(bool)("false") is False
    assert converter(float)("-15") == -15.0
