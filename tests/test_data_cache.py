"""The parse-once cache, root resolution, option checking and the split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset, split_indices
from autoembed.data.builtin import Criteo
from autoembed.data.cache import SOURCE_HASH
from autoembed.data.loader import plan

LINE = "\t".join(["1"] + ["5"] * 13 + ["ab"] * 26)


@pytest.fixture
def criteo_file(tmp_path):
    path = tmp_path / "raw" / "train.txt"
    path.parent.mkdir()
    path.write_text("\n".join([LINE, LINE.replace("1", "0", 1)] * 5) + "\n")
    return path


def cfg(path, tmp_path, **options) -> DataConfig:
    return DataConfig(name="criteo", root=str(path), options={"min_count": 1, **options},
                      cache_dir=str(tmp_path / "cache"))


def test_second_load_reuses_cache_without_parsing(criteo_file, tmp_path, monkeypatch):
    first = load_dataset(cfg(criteo_file, tmp_path))
    assert first.meta["cache_hit"] is False

    def no_parse(*args, **kwargs):
        raise AssertionError("the raw file was parsed again")

    monkeypatch.setattr(Criteo, "build", no_parse)
    again = load_dataset(cfg(criteo_file, tmp_path))
    assert again.meta["cache_hit"] is True
    assert isinstance(again.ids, np.memmap) and isinstance(again.labels, np.memmap)
    assert np.array_equal(first.ids, again.ids) and again.vocab_sizes == first.vocab_sizes
    with pytest.raises(AssertionError, match="parsed again"):  # other options: a new entry
        load_dataset(cfg(criteo_file, tmp_path, min_count=2))


def test_options_and_content_change_the_entry(criteo_file, tmp_path):
    base = load_dataset(cfg(criteo_file, tmp_path))
    other = load_dataset(cfg(criteo_file, tmp_path, min_count=20))
    assert other.meta["cache_path"] != base.meta["cache_path"]
    assert other.vocab_sizes == (1,) * 39  # everything rarer than 20 -> OOV
    same = load_dataset(cfg(criteo_file, tmp_path, strict=True, chunk_bytes=4096))
    assert same.meta["cache_path"] == base.meta["cache_path"]  # read settings are not in the key
    criteo_file.write_text(LINE + "\n")
    changed = load_dataset(cfg(criteo_file, tmp_path))
    assert changed.meta["cache_hit"] is False and changed.num_rows == 1


def test_file_hash_is_remembered_by_size_and_mtime(criteo_file, tmp_path):
    real = plan(cfg(criteo_file, tmp_path)).sources["train.txt"]
    index_path = tmp_path / "cache" / "hashes.json"
    index = json.loads(index_path.read_text())
    index[str(criteo_file.resolve())][SOURCE_HASH] = "f" * 64
    index_path.write_text(json.dumps(index))
    assert plan(cfg(criteo_file, tmp_path)).sources["train.txt"] == "f" * 64  # not re-read
    criteo_file.write_text(criteo_file.read_text() + LINE + "\n")
    assert plan(cfg(criteo_file, tmp_path)).sources["train.txt"] not in (real, "f" * 64)


@pytest.mark.parametrize("damage", ["drop_ids", "truncate_ids", "break_meta"])
def test_damaged_entry_is_rebuilt(criteo_file, tmp_path, damage):
    first = load_dataset(cfg(criteo_file, tmp_path))
    folder = first.meta["cache_path"]
    del first
    ids_path = f"{folder}/ids.npy"
    if damage == "drop_ids":
        import os

        os.remove(ids_path)
    elif damage == "truncate_ids":
        np.save(ids_path, np.zeros((3, 39), dtype=np.int32))
    else:
        with open(f"{folder}/meta.json", "w") as fh:
            fh.write("{")
    rebuilt = load_dataset(cfg(criteo_file, tmp_path))
    assert rebuilt.meta["cache_hit"] is False and rebuilt.num_rows == 10


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="available datasets: avazu, criteo, ml-1m, synthetic, table"):
        load_dataset(DataConfig(name="netflix"))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['min_cnt'\].*min_count"):
        load_dataset(DataConfig(name="criteo", options={"min_cnt": 3}))
    monkeypatch.setenv("AUTOEMBED_DATA_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere/ml-1m.*autoembed data download ml-1m"):
        load_dataset(DataConfig(name="ml-1m", cache_dir=str(tmp_path)))


def test_env_data_root_is_used(criteo_file, tmp_path, monkeypatch):
    (tmp_path / "envroot").mkdir()
    criteo_file.rename(tmp_path / "envroot" / "criteo")  # a file named like the dataset
    monkeypatch.setenv("AUTOEMBED_DATA_ROOT", str(tmp_path / "envroot"))
    data = load_dataset(DataConfig(name="criteo", options={"min_count": 1},
                                   cache_dir=str(tmp_path / "cache")))
    assert data.num_rows == 10


def test_split_is_reproducible_and_partitions():
    a, b, c = split_indices(1000, 7), split_indices(1000, 7), split_indices(1000, 8)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)
    assert (len(a.train), len(a.val), len(a.test)) == (800, 100, 100)
    assert np.array_equal(np.sort(np.concatenate([a.train, a.val, a.test])), np.arange(1000))
