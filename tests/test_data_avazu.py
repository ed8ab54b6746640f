"""Avazu: the real sample, the hour option, header and malformed lines."""

from __future__ import annotations

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset
from autoembed.data.avazu import COLUMNS


def load(path, tmp_path, **options):
    return load_dataset(DataConfig(name="avazu", root=str(path), options=options,
                                   cache_dir=str(tmp_path / "cache")))


def test_avazu_real_sample(avazu_sample, tmp_path):
    data = load(avazu_sample, tmp_path, min_count=1)
    assert data.num_rows == 200 and data.num_fields == 22
    assert data.field_names == COLUMNS[2:]
    clicks = sum(line.split(",")[1] == "1" for line in avazu_sample.read_text().splitlines()[1:])
    assert int(np.asarray(data.labels).sum()) == clicks
    assert data.meta["parse_report"]["lines"] == 201
    # every field's feature counts sum to the row count
    counts = np.asarray(data.feature_counts)
    for f, off in enumerate(data.field_offsets):
        assert counts[off : off + data.vocab_sizes[f]].sum() == 200


def test_avazu_hour_of_day_option(avazu_sample, tmp_path):
    raw = load(avazu_sample, tmp_path, min_count=1)
    hod = load(avazu_sample, tmp_path, min_count=1, hour="hour_of_day")
    assert raw.meta["cache_path"] != hod.meta["cache_path"]
    hours = {line.split(",")[2][-2:] for line in avazu_sample.read_text().splitlines()[1:]}
    assert hod.vocab_sizes[0] == len(hours) + 1
    with pytest.raises(ValueError, match="hour must be one of raw, hour_of_day, got"):
        load(avazu_sample, tmp_path, hour="weekday")


def test_avazu_malformed_and_header(avazu_sample, tmp_path):
    lines = avazu_sample.read_text().splitlines()[:6]
    lines[2] = lines[2] + ",extra"  # line 3
    lines[4] = lines[4].replace(",0,", ",x,", 1)  # line 5: bad click
    path = tmp_path / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load(path, tmp_path, min_count=1)
    report = data.meta["parse_report"]
    assert data.num_rows == 3
    assert [(e["line"], e["reason"]) for e in report["first_bad_lines"]] == [
        (3, "wrong field count"), (5, "bad label")]
    bad_header = tmp_path / "other" / "train.csv"
    bad_header.parent.mkdir()
    bad_header.write_text("\n".join(["id,hour"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match="header"):
        load(bad_header, tmp_path)
