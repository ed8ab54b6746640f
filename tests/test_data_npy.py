"""The .npy writer (rows in order or each stretch at its place), the buffers a parse reuses
(the newline mask, the blocks the file is read into), and the vocabulary jobs' scheduling."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from autoembed.data.blocks import iter_blocks, split_lines
from autoembed.data.buffers import Scratch
from autoembed.data.npy import NpyWriter


def test_stretches_written_out_of_order_from_threads(tmp_path):
    rng = np.random.default_rng(0)
    expected = rng.integers(0, 1000, (1000, 7), dtype=np.int32)
    stretches = [(lo, expected[lo : lo + 90]) for lo in range(0, 1000, 90)][::-1]
    with NpyWriter(tmp_path / "ids.npy", expected.shape, np.int32) as ids, \
            ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: ids.write_at(*s), stretches))
    assert np.array_equal(np.load(tmp_path / "ids.npy"), expected)


def test_rows_in_order_and_checks(tmp_path):
    with NpyWriter(tmp_path / "labels.npy", (5,), np.float32) as labels:
        labels.write(np.array([1, 0], np.float32))
        labels.write(np.array([0, 0, 1], np.float32))
        with pytest.raises(ValueError, match="do not fit"):
            labels.write(np.zeros(1, np.float32))
    assert np.load(tmp_path / "labels.npy").tolist() == [1, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="wrote 3 of 4 rows"), \
            NpyWriter(tmp_path / "short.npy", (4, 2), np.int32) as short:
        short.write_at(1, np.ones((3, 2), np.int32))


def test_split_lines_with_a_reused_mask():
    scratch = Scratch(bool)
    for lines in (10, 3, 25, 7):  # shorter and longer blocks through the same buffer
        block = bytearray(b"".join(f"{i}\tx\n".encode() for i in range(lines)))
        pieces = list(split_lines(block, 4, scratch))
        assert b"".join(pieces) == block
        counts = [p.count(b"\n") for p in pieces]
        assert max(counts) <= 4 and len(counts) == -(-lines // 4)  # no more pieces than needed


def test_blocks_read_into_spare_buffers_are_the_same(tmp_path):
    rng = np.random.default_rng(0)
    lines = [b"\t".join(rng.integers(0, 10**6, int(rng.integers(1, 30))).astype(str).astype(bytes))
             for _ in range(3000)]
    path = tmp_path / "f.txt"
    path.write_bytes(b"\n".join(lines))  # no newline at the end
    fresh = [bytes(b) for b in iter_blocks(path, 4096)]
    spare: deque[bytearray] = deque([bytearray(b"x" * 9000), bytearray(10)])  # any size
    reused = []
    for block in iter_blocks(path, 4096, spare=spare):
        reused.append(bytes(block))
        spare.append(block)  # done with it: read into again
    assert reused == fresh and b"".join(fresh) == b"\n".join(lines) + b"\n"


def test_largest_jobs_start_first_and_results_keep_job_order():
    from autoembed.data.tabular import _largest_first

    started = []
    jobs = [lambda i=i: started.append(i) or i * 10 for i in range(5)]
    assert _largest_first(jobs, [3, 50, 1, 7, 50], threads=1) == [0, 10, 20, 30, 40]
    assert started == [1, 4, 3, 0, 2]

