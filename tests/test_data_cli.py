"""``autoembed data prepare|info``."""

from __future__ import annotations

import argparse

import pytest

from autoembed.commands import data as data_command


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    data_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_prepare_then_info(tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert run(["data", "info", "synthetic", "--option", "scale=tiny", "--cache-dir", cache]) == 0
    assert "not prepared yet" in capsys.readouterr().out
    assert run(["data", "prepare", "synthetic", "--option", "scale=tiny", "--option", "seed=3",
                "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert "20,000 rows, 6 fields" in out and "parsed and cached" in out and "positives 0.2" in out
    assert run(["data", "info", "synthetic", "--option", "scale=tiny", "--option", "seed=3",
                "--cache-dir", cache]) == 0
    assert "20,000 rows" in capsys.readouterr().out


def test_prepare_prints_parse_report(criteo_sample, tmp_path, capsys):
    bad = tmp_path / "train.txt"
    bad.write_text(criteo_sample.read_text().splitlines()[0] + "\nbroken line\n")
    assert run(["data", "prepare", "criteo", "--root", str(bad), "--option", "min_count=1",
                "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "1 rows, 39 fields" in out and "train.txt:2: wrong field count" in out


def test_bad_option_syntax():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        data_command.parse_option_args(["min_count"])
    assert data_command.parse_option_args(["vocab_sizes=[3, 4]", "ctr=0.3"]) == {
        "vocab_sizes": [3, 4], "ctr": 0.3}


def test_dataset_options_are_flags_generated_from_its_config(tmp_path, capsys):
    """``data prepare synthetic --scale tiny --seed 3 --drop-fields f05``: typed flags from the
    dataset's Config (and field selection), the same cache entry as the ``--option`` pairs."""
    cache = str(tmp_path / "cache")
    assert run(["data", "prepare", "synthetic", "--scale", "tiny", "--seed", "3",
                "--drop-fields", "f05", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert "20,000 rows, 5 fields" in out and "parsed and cached" in out
    assert run(["data", "info", "synthetic", "--option", "scale=tiny", "--option", "seed=3",
                "--option", "drop_fields=[f05]", "--cache-dir", cache]) == 0
    assert "20,000 rows, 5 fields" in capsys.readouterr().out


def test_dataset_flags_are_checked_and_listed(capsys):
    with pytest.raises(SystemExit):
        run(["data", "prepare", "synthetic", "--scale", "huge"])
    assert "'huge' is not one of tiny, small, ml1m, criteo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["data", "prepare", "criteo", "--scale", "tiny"])  # a synthetic option, not criteo's
    err = capsys.readouterr().err
    assert "unrecognized arguments: --scale tiny" in err and "--min-count" in err
    with pytest.raises(SystemExit):
        run(["data", "prepare", "criteo", "--help"])
    assert "options of dataset 'criteo'" in capsys.readouterr().out
