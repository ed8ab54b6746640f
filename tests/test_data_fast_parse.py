"""The fast block parser gives exactly what the line-by-line parser gives: same arrays, same
report (reasons, true line numbers), on the real sample and on a file full of malformed lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import blocks, load_dataset, tabular


def messy_criteo(n: int, seed: int = 0) -> bytes:
    """``n`` Criteo lines, about one in ten malformed in some way, CRLF and LF endings mixed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ints = [str(int(v)) if v >= 0 else "" for v in rng.integers(-3, 200, 13)]
        cats = [f"{int(v):08x}" if v else "" for v in rng.zipf(1.5, 26) % 5000]
        line = "\t".join([str(int(rng.random() < 0.3))] + ints + cats).encode()
        kind = rng.integers(0, 100)
        if kind == 0:
            line = b""  # empty line
        elif kind == 1:
            line = line.rsplit(b"\t", 3)[0]  # wrong field count
        elif kind == 2:
            line = line.replace(b"\t", b"\t\xff", 1)  # not UTF-8
        elif kind == 3:
            line = b"2" + line[1:]  # bad label
        elif kind == 4:
            line = line.replace(b"\t", b"\t1.5x", 1)  # non-numeric integer
        elif kind == 5:
            line = line.replace(b"\t", b"\t\r", 2)  # a lone CR inside a field
        out.append(line + (b"\r\n" if kind == 6 else b"\n"))
    return b"\xef\xbb\xbf" + b"".join(out)


def load(path, cache, **options):
    return load_dataset(DataConfig(name="criteo", root=str(path), cache_dir=str(cache),
                                   options={"min_count": 2, **options}))


def same(a, b) -> None:
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.feature_counts, b.feature_counts) and a.vocab_sizes == b.vocab_sizes
    assert json.dumps(a.meta["parse_report"]) == json.dumps(b.meta["parse_report"])


@pytest.mark.parametrize("chunk_bytes", [4096, 1 << 20])
def test_fast_parse_equals_line_by_line(tmp_path, monkeypatch, chunk_bytes):
    path = tmp_path / "train.txt"
    path.write_bytes(messy_criteo(3000))
    fast = load(path, tmp_path / "fast", chunk_bytes=chunk_bytes)
    report = fast.meta["parse_report"]
    assert report["skipped"] > 100 and len(report["skipped_by_reason"]) == 5
    monkeypatch.setattr(tabular, "parse_block", blocks._line_by_line)
    slow = load(path, tmp_path / "slow", chunk_bytes=chunk_bytes)
    same(fast, slow)
    assert fast.num_rows == report["rows"] and report["lines"] == 3000


def test_fast_parse_equals_line_by_line_on_the_real_sample(criteo_sample, tmp_path, monkeypatch):
    fast = load(criteo_sample, tmp_path / "fast", chunk_bytes=256 << 10)
    monkeypatch.setattr(tabular, "parse_block", blocks._line_by_line)
    same(fast, load(criteo_sample, tmp_path / "slow", chunk_bytes=256 << 10))
