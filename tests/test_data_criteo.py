"""Criteo: the real sample, integer binning and min_count OOV by hand, malformed lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import MalformedLineError, load_dataset
from autoembed.data.tabular import MISSING_KEY, SMALL_BASE, integer_keys


def criteo_line(label="0", ints=None, cats=None) -> str:
    ints = ints or {}
    cats = cats or {}
    return "\t".join([label] + [ints.get(i, "1") for i in range(1, 14)]
                     + [cats.get(c, "aa") for c in range(1, 27)])


def load(path: Path, tmp_path: Path, **options):
    return load_dataset(DataConfig(name="criteo", root=str(path), options=options,
                                   cache_dir=str(tmp_path / "cache")))


def test_criteo_real_sample(criteo_sample, tmp_path):
    data = load(criteo_sample, tmp_path)
    assert data.num_rows == 10_180 and data.num_fields == 39
    assert int(np.asarray(data.labels).sum()) == 2_223
    assert data.meta["parse_report"]["skipped"] == 0
    counts = np.asarray(data.feature_counts)
    in_vocab = np.ones(data.num_features, dtype=bool)
    in_vocab[data.field_offsets] = False
    assert (counts[in_vocab] >= 10).all(), "a kept value was seen fewer than min_count times"
    ids = np.asarray(data.ids)
    upper = data.field_offsets + np.asarray(data.vocab_sizes)
    assert ((ids >= data.field_offsets) & (ids < upper)).all()
    assert sum(load(criteo_sample, tmp_path, min_count=1).vocab_sizes) > data.num_features


def test_integer_binning_by_hand():
    v = np.array([3, 4, 7, 8, 20, 21, 100, 2, 1, 0, -1, np.nan])
    # ln(3)^2=1.21 ln(4)^2=1.92 ln(7)^2=3.79 ln(8)^2=4.32 ln(20)^2=8.97 ln(21)^2=9.27 ln(100)^2=21.2
    expected = [1, 1, 3, 4, 8, 9, 21, SMALL_BASE + 2, SMALL_BASE + 1, SMALL_BASE, SMALL_BASE - 1,
                MISSING_KEY]
    assert integer_keys(v).tolist() == expected


def test_binning_and_min_count_in_parsed_ids(tmp_path):
    rows = []
    for value in ["3", "4", "1", "20", "21", ""]:
        rows.append(criteo_line(ints={1: value}, cats={1: "a"}))
    rows += [criteo_line(cats={1: "b"}), criteo_line(cats={1: "b"}), criteo_line(cats={1: "c"}),
             criteo_line(cats={1: ""})]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(rows) + "\n")
    data = load(path, tmp_path, min_count=2)
    ids = np.asarray(data.ids)
    i1 = ids[:6, 0] - data.field_offsets[0]
    # 3 and 4 share bin 1; value 1 is its own value (not bin 1); 20 and 21 are bins 8 and 9 (seen
    # once each: OOV under min_count=2); missing is a value of its own, seen once: OOV.
    assert i1[0] == i1[1] != 0
    assert i1[2] != i1[0] and i1[2] != 0
    assert i1[3] == i1[4] == i1[5] == 0
    c1 = ids[:, 13] - data.field_offsets[13]
    # "a" x6 -> id 1 (most frequent), "b" x2 -> id 2, "c" x1 -> OOV, missing -> OOV
    assert c1.tolist() == [1, 1, 1, 1, 1, 1, 2, 2, 0, 0]
    assert data.vocab_sizes[13] == 3


def test_malformed_lines_reported_and_strict(tmp_path):
    lines = [
        criteo_line(),  # 1
        criteo_line(cats={26: ""}),  # 2 ok: an empty last category is still 40 fields
        "\t".join(criteo_line().split("\t")[:30]),  # 3 wrong field count
        criteo_line(ints={5: "abc"}),  # 4 non-numeric integer field
        criteo_line(label="2"),  # 5 bad label
        criteo_line(ints={2: "1.5"}),  # 6 non-integer
        criteo_line(label="1"),  # 7
    ]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines))  # no final newline
    data = load(path, tmp_path, min_count=1)
    report = data.meta["parse_report"]
    assert data.num_rows == 3 and data.labels.tolist() == [0.0, 0.0, 1.0]
    assert report["lines"] == 7
    assert report["skipped_by_reason"] == {"bad label": 1, "non-numeric integer field": 2,
                                           "wrong field count": 1}
    assert [e["line"] for e in report["first_bad_lines"]] == [3, 4, 5, 6]
    assert "I5 = 'abc'" in report["first_bad_lines"][1]["detail"]
    with pytest.raises(MalformedLineError, match="line 3: wrong field count"):
        load(path, tmp_path, min_count=1, strict=True)


def test_chunked_parse_equals_one_chunk(criteo_sample, tmp_path):
    """Streaming in small blocks gives exactly the arrays of a single-block parse."""
    whole = load(criteo_sample, tmp_path / "a")
    chunked = load(criteo_sample, tmp_path / "b", chunk_bytes=200_000)
    assert chunked.meta["cache_path"].endswith(Path(whole.meta["cache_path"]).name)
    assert np.array_equal(whole.ids, chunked.ids)
    assert np.array_equal(whole.feature_counts, chunked.feature_counts)
