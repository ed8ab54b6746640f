"""Integrity on load: cached arrays checked against their checksums, raw files keyed by content,
pruned-table exports checked before they serve a vector."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset
from autoembed.embeddings.pep_export import load_pruned

ROWS = ["\t".join([str(i % 2)] + [str(i % 7 + 3)] * 13 + [f"c{i % 5:02d}"] * 26) for i in range(40)]


@pytest.fixture
def criteo_file(tmp_path):
    path = tmp_path / "raw" / "train.txt"
    path.parent.mkdir()
    path.write_text("\n".join(ROWS) + "\n")
    return path


def cfg(path, tmp_path) -> DataConfig:
    return DataConfig(name="criteo", root=str(path), options={"min_count": 1},
                      cache_dir=str(tmp_path / "cache"))


def overwrite(path, offset: int, data: bytes) -> None:
    """Change bytes in place (same size), after the clock has moved on from the last write."""
    time.sleep(0.02)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


@pytest.mark.parametrize("array", ["ids", "labels"])
def test_same_size_corruption_of_a_cached_array_rebuilds_it(criteo_file, tmp_path, array):
    first = load_dataset(cfg(criteo_file, tmp_path))
    want_ids, want_labels = np.array(first.ids), np.array(first.labels)
    path = f"{first.meta['cache_path']}/{array}.npy"
    size = os.path.getsize(path)
    overwrite(path, size - 8, b"\x7f" * 8)  # the last values: still a valid .npy of that shape
    assert os.path.getsize(path) == size
    with pytest.warns(RuntimeWarning, match=rf"{array}\.npy does not match its checksum"):
        again = load_dataset(cfg(criteo_file, tmp_path))
    assert again.meta["cache_hit"] is False
    assert np.array_equal(again.ids, want_ids) and np.array_equal(again.labels, want_labels)


def test_raw_file_edited_in_place_with_size_and_mtime_kept_is_parsed_again(criteo_file, tmp_path):
    first = load_dataset(cfg(criteo_file, tmp_path))
    st = criteo_file.stat()
    text = criteo_file.read_text()
    flipped = "\n".join(("0" if r[0] == "1" else "1") + r[1:] for r in text.splitlines()) + "\n"
    assert len(flipped) == len(text)
    time.sleep(0.02)
    criteo_file.write_text(flipped)
    os.utime(criteo_file, ns=(st.st_atime_ns, st.st_mtime_ns))  # put the mtime back
    assert (criteo_file.stat().st_size, criteo_file.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    with pytest.warns(RuntimeWarning, match="changed since it was last read"):
        again = load_dataset(cfg(criteo_file, tmp_path))
    assert again.meta["cache_hit"] is False
    assert again.meta["cache_path"] != first.meta["cache_path"]
    assert np.array_equal(np.asarray(again.labels), 1 - np.asarray(first.labels))


def test_untouched_entry_is_a_hit_and_carries_checksums(criteo_file, tmp_path):
    load_dataset(cfg(criteo_file, tmp_path))
    again = load_dataset(cfg(criteo_file, tmp_path))
    assert again.meta["cache_hit"] is True
    assert set(again.meta["arrays"]) == {"ids", "labels", "feature_counts"}
    assert all(len(a["xxh3_128"]) == 32 for a in again.meta["arrays"].values())


# --- pruned-table exports ------------------------------------------------------------------
def write_csr(path, indptr, indices, n=3, d=4):
    np.savez(path, data=np.arange(len(indices), dtype=np.float32) + 1,
             indices=np.asarray(indices, dtype=np.uint8), indptr=np.asarray(indptr, dtype=np.int32),
             shape=np.array([n, d], dtype=np.int64))
    return path


def test_valid_export_loads(tmp_path):
    table = load_pruned(write_csr(tmp_path / "ok.npz", [0, 2, 2, 3], [0, 3, 1]))
    import torch

    rows = table.lookup(torch.tensor([0, 1, 2]))
    assert rows.tolist() == [[1, 0, 0, 2], [0, 0, 0, 0], [0, 3, 0, 0]]


@pytest.mark.parametrize(("indptr", "indices", "match"), [
    ([1, 3, 3, 4], [0, 3, 1], r"indptr must run from 0 to nnz = 3, got 1 to 4"),  # shifted
    ([0, 2, 1, 3], [0, 3, 1], r"indptr decreases at row 1"),
    ([0, 2, 3], [0, 3, 1], r"indptr has 3 entries for 3 rows"),
    ([0, 2, 2, 3], [0, 4, 1], r"column indices must lie in \[0, 4\), got \[0, 4\]"),
    ([0, 2, 2, 3], [0, 3], r"2 column indices for 3 values"),
])
def test_inconsistent_export_is_a_clear_error(tmp_path, indptr, indices, match):
    path = write_csr(tmp_path / "bad.npz", indptr, indices)
    if len(indices) == 2:  # values and indices of different lengths
        arrays = dict(np.load(path))
        arrays["data"] = np.ones(3, dtype=np.float32)
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"damaged pruned-table export: {match}.*export_pruned"):
        load_pruned(path)
