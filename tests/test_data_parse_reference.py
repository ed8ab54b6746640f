"""The Criteo and Avazu parsers give, bit for bit, the arrays and parse report the parser of
commit d5c0220 gave on generated files (digests recorded from that parser): values at every
edge of the integer rule (signs, leading zeros, 15 and 16 digits, hex, spaces), empty
categories, rare values, malformed lines, small blocks parsed in threads."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset

ODD_INTS = ("-0", "007", "-12", "999999999999999", "1000000000000000", "0000000000000001",
            "0x10", " 5", "5 ", "+5", "1.5", "-", "1e3", "")


def criteo_text(n: int, seed: int = 0) -> bytes:
    """``n`` Criteo-format lines: Zipf categories, lognormal integers, a few odd values and
    malformed lines."""
    rng = np.random.default_rng(seed)
    ints = np.floor(rng.lognormal(1.5, 2.0, (n, 13))).astype(np.int64) - 2
    missing = rng.random((n, 13)) < 0.2
    cats = rng.zipf(1.3, (n, 26)) % np.array([2 ** (3 + k % 18) for k in range(26)])
    lines = []
    for i in range(n):
        row = ["" if m else str(v) for v, m in zip(ints[i], missing[i], strict=True)]
        if rng.random() < 0.02:
            row[int(rng.integers(13))] = ODD_INTS[int(rng.integers(len(ODD_INTS)))]
        label = "1" if rng.random() < 0.25 else "0"
        if rng.random() < 0.005:
            label = ("2", "", "01", "x")[int(rng.integers(4))]
        fields = [label, *row, *("" if c == 0 else f"{c * 2654435761 % (1 << 32):08x}"
                                 for c in cats[i])]
        if rng.random() < 0.003:
            fields = fields[: int(rng.integers(1, 40))]
        lines.append("\t".join(fields))
    return ("\n".join(lines) + "\n").encode()


def avazu_text(n: int, seed: int = 0) -> bytes:
    from autoembed.data.avazu import COLUMNS

    rng = np.random.default_rng(seed)
    out = [",".join(COLUMNS)]
    for i in range(n):
        vals = rng.zipf(1.4, len(COLUMNS) - 3) % 5000
        fields = [str(10**19 + i), str(int(rng.random() < 0.2)),
                  f"1410{int(rng.integers(21, 31)):02d}{int(rng.integers(24)):02d}",
                  *(f"{v:x}" for v in vals)]
        if rng.random() < 0.003:
            fields = fields[:-1]
        out.append(",".join(fields))
    return ("\n".join(out) + "\n").encode()


def digest(data) -> dict[str, str]:
    arrays = {k: hashlib.sha256(np.ascontiguousarray(getattr(data, k)).tobytes()).hexdigest()[:16]
              for k in ("ids", "labels", "feature_counts")}
    report = json.dumps(data.meta["parse_report"], sort_keys=True)
    return {**arrays, "vocab_sizes": str(list(data.vocab_sizes)),
            "report": hashlib.sha256(report.encode()).hexdigest()[:16]}


EXPECTED = {
    "criteo": {
        "file": "72f9214f3a1715d0",
        "ids": "41c518287df3c4f4",
        "labels": "d814f1c483faaa82",
        "feature_counts": "8f0eaffa837d1179",
        "vocab_sizes": (
            "[64, 59, 65, 62, 64, 63, 60, 63, 62, 61, 62, 61, 63, 8, 16, 32, 64, 128, 256, 50"
            "1, 754, 631, 491, 436, 413, 400, 383, 395, 405, 389, 403, 8, 16, 32, 64, 128, 256, 508, 724]"),
        "report": "95ffd76218eec7f7",
    },
    "criteo-onechunk": {
        "file": "72f9214f3a1715d0",
        "ids": "eecf36da5911fed2",
        "labels": "d814f1c483faaa82",
        "feature_counts": "db48464a4a99f9b1",
        "vocab_sizes": (
            "[74, 75, 81, 76, 77, 76, 76, 77, 79, 76, 75, 82, 78, 8, 16, 32, 64, 128, 256, 51"
            "1, 993, 1611, 2232, 2406, 2633, 2649, 2773, 2708, 2773, 2715, 2773, 8, 16, 32, 64, 128, 256, 512, 999]"),
        "report": "95ffd76218eec7f7",
    },
    "avazu": {
        "file": "83ab084f3b945456",
        "ids": "a42793157405d4b0",
        "labels": "31559b601d4d61db",
        "feature_counts": "ebbed79e80a5b1d1",
        "vocab_sizes": (
            "[241, 335, 328, 311, 312, 366, 333, 324, 347, 315, 317, 314, 333, 325, 324, 332,"
            " 315, 314, 323, 325, 328, 337]"),
        "report": "7b1aea71243f6092",
    },
    "avazu-hour": {
        "file": "83ab084f3b945456",
        "ids": "0ca34992b400affb",
        "labels": "31559b601d4d61db",
        "feature_counts": "d6fb860fd58c12e8",
        "vocab_sizes": (
            "[25, 335, 328, 311, 312, 366, 333, 324, 347, 315, 317, 314, 333, 325, 324, 332, "
            "315, 314, 323, 325, 328, 337]"),
        "report": "7b1aea71243f6092",
    },
}


def parse_case(tmp_path, case: str):
    """``(raw bytes, loaded dataset)`` of an ``EXPECTED`` case: 20,000 generated lines parsed
    with that case's options."""
    name = case.split("-")[0]
    text = criteo_text(20_000) if name == "criteo" else avazu_text(20_000)
    path = tmp_path / ("train.txt" if name == "criteo" else "train.csv")
    path.write_bytes(text)
    options = {"min_count": 3, "chunk_bytes": 64 << 10}
    if case == "avazu-hour":
        options["hour"] = "hour_of_day"
    if case == "criteo-onechunk":
        options = {"min_count": 1}  # one block of the default size, several Arrow blocks
    return text, load_dataset(DataConfig(name=name, root=str(path),
                                         cache_dir=str(tmp_path / "c"), options=options))


@pytest.mark.parametrize("case", ["criteo", "criteo-onechunk", "avazu", "avazu-hour"])
def test_parse_matches_the_reference_parser(tmp_path, case):
    text, data = parse_case(tmp_path, case)
    got = {"file": hashlib.sha256(text).hexdigest()[:16], **digest(data)}
    assert got == EXPECTED[case]


@pytest.mark.parametrize("threads", [0, 1])
def test_value_counter_merges_give_the_same_counts(monkeypatch, threads):
    """Parts merged every few entries, in place or in a worker thread while parts keep coming,
    sum to the counts of everything added."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    import pyarrow as pa

    from autoembed.data import vocab

    monkeypatch.setattr(vocab, "_COLLAPSE_AT", 7)
    rng = np.random.default_rng(0)
    blocks = [rng.zipf(1.5, int(rng.integers(1, 40))) % 50 for _ in range(300)]
    with ThreadPoolExecutor(1) if threads else nullcontext() as pool:
        counter = vocab.ValueCounter(pool)
        for block in blocks:
            values, counts = np.unique(block, return_counts=True)
            counter.add_counts(pa.array(values), counts)
        got = counter.counts().to_pydict()
    expected = np.bincount(np.concatenate(blocks))
    assert dict(zip(got["values"], got["counts"], strict=True)) == {
        v: int(c) for v, c in enumerate(expected) if c}


def test_value_counter_takes_a_value_listed_twice():
    """A block's dictionary may list a value twice (two integer strings in one bin): its counts
    are summed, also when that block is the only part."""
    import pyarrow as pa

    from autoembed.data import vocab

    counter = vocab.ValueCounter()
    counter.add_counts(pa.array([5, 7, 5]), np.array([2, 1, 3]))
    assert counter.counts().to_pydict() == {"values": [5, 7], "counts": [5, 1]}
    counter.add_counts(pa.array([7, 9]), np.array([4, 0]))
    assert counter.counts().to_pydict() == {"values": [5, 7, 9], "counts": [5, 5, 0]}
