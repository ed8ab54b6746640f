"""The cold load: the raw file's hash taken from the parser's own reads, the entry keyed after
the parse, and the cases where that parse is dropped (entry already there, file changed)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import blocks, cache, load_dataset, loader, readhash
from autoembed.data.builtin import Criteo
from autoembed.data.readhash import ReadDigest, source_hasher

LINE = "\t".join(["1"] + ["5"] * 13 + ["ab"] * 26)


@pytest.fixture
def criteo_file(tmp_path):
    path = tmp_path / "raw" / "train.txt"
    path.parent.mkdir()
    rows = [LINE.replace("ab", f"{i % 3:x}{i % 7:x}") for i in range(40)]
    path.write_text("\n".join(rows) + "\n1\t2\n")  # one malformed line
    return path


def cfg(path, cache_dir, **options) -> DataConfig:
    return DataConfig(name="criteo", root=str(path), options={"min_count": 1, **options},
                      cache_dir=str(cache_dir))


def entries(cache_dir):
    return sorted(p.name for p in (cache_dir / "datasets").iterdir())


def same_arrays(a, b) -> bool:
    return (np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)
            and np.array_equal(a.feature_counts, b.feature_counts) and a.vocab_sizes == b.vocab_sizes)


def test_cold_load_reads_the_file_once_and_keys_it_as_the_hashed_path(criteo_file, tmp_path,
                                                                      monkeypatch):
    hash_file = cache._hash_file

    def not_the_raw_file(path, digest):
        assert path.resolve() != criteo_file.resolve(), "the raw file was read twice"
        hash_file(path, digest)

    with monkeypatch.context() as m:  # the parser's reads give the hash: no second read
        m.setattr(cache, "_hash_file", not_the_raw_file)
        cold = load_dataset(cfg(criteo_file, tmp_path / "cold"))
    assert cold.meta["cache_hit"] is False
    digest = source_hasher(criteo_file.read_bytes()).hexdigest()
    assert cold.meta["sources"] == {"train.txt": digest}
    # Hashed first (the remembered-hash path): the same entry name, arrays and meta.
    cache.file_digest(criteo_file, tmp_path / "hashed")
    hashed = load_dataset(cfg(criteo_file, tmp_path / "hashed"))
    assert hashed.meta["cache_hit"] is False
    assert entries(tmp_path / "cold") == entries(tmp_path / "hashed")
    assert same_arrays(cold, hashed) and hashed.meta["parse_report"] == cold.meta["parse_report"]
    again = load_dataset(cfg(criteo_file, tmp_path / "cold"))  # warm: the hash is remembered
    assert again.meta["cache_hit"] is True and again.meta["cache_path"] == cold.meta["cache_path"]


def test_parser_without_read_digest_hashes_the_file_after(criteo_file, tmp_path, monkeypatch):
    tapped = load_dataset(cfg(criteo_file, tmp_path / "a"))
    monkeypatch.setattr(blocks, "read_tap", lambda path: None)  # a parser that reads otherwise
    untapped = load_dataset(cfg(criteo_file, tmp_path / "b"))
    assert entries(tmp_path / "a") == entries(tmp_path / "b")
    assert untapped.meta["sources"] == tapped.meta["sources"] and same_arrays(tapped, untapped)


def refuse_parse(monkeypatch) -> None:
    """From here on the test fails if the Criteo parser runs."""
    monkeypatch.setattr(Criteo, "build", lambda *a, **k: pytest.fail("parsed, not hashed first"))


def forget_hashes(cache_dir) -> None:
    (cache_dir / "hashes.json").unlink()  # a fresh node sharing the cache folder


def touch(path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same content, new stamp


def copied(path, tmp_path):
    copy = tmp_path / "elsewhere" / "train.txt"  # same content, a path not hashed before
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    return copy


@pytest.mark.parametrize("change", ["forget_hashes", "touch", "copy"])
def test_unremembered_file_hashed_first_when_the_cache_has_entries(criteo_file, tmp_path,
                                                                   monkeypatch, change):
    first = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    path = criteo_file
    if change == "forget_hashes":
        forget_hashes(tmp_path / "cache")
    elif change == "touch":
        touch(criteo_file)
    else:
        path = copied(criteo_file, tmp_path)
    refuse_parse(monkeypatch)
    second = load_dataset(cfg(path, tmp_path / "cache"))
    assert second.meta["cache_hit"] is True
    assert second.meta["cache_path"] == first.meta["cache_path"]
    assert entries(tmp_path / "cache") == [first.meta["cache_path"].rsplit("/", 1)[1]]  # no tmp left
    assert same_arrays(first, second)
    assert cache.remembered_digest(path, tmp_path / "cache") == first.meta["sources"]["train.txt"]


def test_new_content_with_entries_in_the_cache_is_hashed_then_parsed(criteo_file, tmp_path,
                                                                     monkeypatch):
    first = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    with criteo_file.open("a") as fh:
        fh.write(LINE.replace("ab", "ff") + "\n")
    build, calls = Criteo.build, []

    def counted(self, *args, **kwargs):
        calls.append(1)
        return build(self, *args, **kwargs)

    monkeypatch.setattr(Criteo, "build", counted)
    with pytest.warns(RuntimeWarning, match="changed since it was last read"):
        second = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    assert len(calls) == 1 and second.meta["cache_hit"] is False and second.num_rows == 41
    assert second.meta["sources"] == {"train.txt": source_hasher(criteo_file.read_bytes()).hexdigest()}
    assert len(entries(tmp_path / "cache")) == 2 and second.meta["cache_path"] != first.meta["cache_path"]
    monkeypatch.setattr(Criteo, "build", build)  # the same entry as on a first load
    cold = load_dataset(cfg(criteo_file, tmp_path / "cold"))
    assert entries(tmp_path / "cold")[0] == second.meta["cache_path"].rsplit("/", 1)[1]
    assert same_arrays(cold, second) and cold.meta["parse_report"] == second.meta["parse_report"]


def test_field_selection_hashed_first_when_the_cache_has_entries(criteo_file, tmp_path,
                                                                 monkeypatch):
    full = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    forget_hashes(tmp_path / "cache")
    refuse_parse(monkeypatch)
    picked = load_dataset(cfg(criteo_file, tmp_path / "cache", fields=["C1", "I2"]))
    assert set(picked.field_names) == {"C1", "I2"} and picked.num_rows == full.num_rows
    assert len(entries(tmp_path / "cache")) == 2


def test_entry_published_during_a_first_parse_is_reused(criteo_file, tmp_path, monkeypatch):
    other = load_dataset(cfg(criteo_file, tmp_path / "other"))  # another process's entry ...
    build, calls = Criteo.build, []

    def build_while_other_publishes(self, *args, **kwargs):
        calls.append(1)
        meta = build(self, *args, **kwargs)  # ... published while this one parses
        published = tmp_path / "cache" / "datasets" / other.meta["cache_path"].rsplit("/", 1)[1]
        shutil.copytree(other.meta["cache_path"], published)
        return meta

    monkeypatch.setattr(Criteo, "build", build_while_other_publishes)
    data = load_dataset(cfg(criteo_file, tmp_path / "cache"))  # a first load: parsed at once
    assert calls == [1] and data.meta["cache_hit"] is True
    assert entries(tmp_path / "cache") == entries(tmp_path / "other")  # the parse dropped
    assert same_arrays(other, data)


def test_staged_folders_and_other_datasets_are_not_entries(tmp_path):
    datasets = tmp_path / "datasets"
    (datasets / ".tmp-criteo-abc").mkdir(parents=True)
    (datasets / ".tmp-criteo-abc" / "meta.json").write_text("{}")
    (datasets / f"avazu-{'0' * 20}").mkdir()
    (datasets / f"avazu-{'0' * 20}" / "meta.json").write_text("{}")
    (datasets / f"criteo-{'1' * 20}").mkdir()  # no meta.json: not finished
    assert not cache.has_entries(tmp_path, "criteo")
    assert not cache.has_entries(tmp_path / "missing", "criteo")
    (datasets / f"criteo-{'1' * 20}" / "meta.json").write_text("{}")
    assert cache.has_entries(tmp_path, "criteo")


def test_file_changed_while_parsed_is_parsed_again(criteo_file, tmp_path, monkeypatch):
    build, calls = Criteo.build, []

    def build_then_edit(self, root, options, out_dir, progress=False):
        meta = build(self, root, options, out_dir, progress)
        calls.append(meta["parse_report"]["rows"])
        if len(calls) == 1:  # the file changes after the parser read it: its arrays are stale
            with criteo_file.open("a") as fh:
                fh.write(LINE.replace("ab", "ff") + "\n")
        return meta

    monkeypatch.setattr(Criteo, "build", build_then_edit)
    data = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    assert calls == [40, 41] and data.num_rows == 41
    assert data.meta["sources"]["train.txt"] == source_hasher(criteo_file.read_bytes()).hexdigest()
    assert len(entries(tmp_path / "cache")) == 1
    monkeypatch.setattr(Criteo, "build", build)
    again = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    assert again.meta["cache_hit"] is True and same_arrays(data, again)


def test_file_that_keeps_changing_is_not_cached(criteo_file, tmp_path, monkeypatch):
    build = Criteo.build

    def build_then_edit(self, root, options, out_dir, progress=False):
        meta = build(self, root, options, out_dir, progress)
        with criteo_file.open("a") as fh:
            fh.write(LINE + "\n")
        return meta

    monkeypatch.setattr(Criteo, "build", build_then_edit)
    with pytest.raises(RuntimeError, match="changed each of the 3 times"):
        load_dataset(cfg(criteo_file, tmp_path / "cache"))
    assert entries(tmp_path / "cache") == []
    assert not (tmp_path / "cache" / "hashes.json").exists()


def test_field_selection_on_a_cold_cache(criteo_file, tmp_path):
    picked = load_dataset(cfg(criteo_file, tmp_path / "cache", fields=["C1", "I2"]))
    full = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    assert full.meta["cache_hit"] is True  # parsed once, for the selection
    assert set(picked.field_names) == {"C1", "I2"}
    assert len(entries(tmp_path / "cache")) == 2


def test_read_digest_takes_bytes_in_file_order_only():
    data = bytes(range(256)) * 10
    digest = ReadDigest(len(data))
    digest.feed(0, data[:1000])
    digest.feed(2000, data[2000:])  # a gap: ignored
    digest.feed(0, data[:1500])  # a re-read from the top: only what continues is taken ...
    assert digest.hexdigest() is None
    digest.feed(1000, data[1000:2000])
    digest.feed(2000, data[2000:])
    assert digest.hexdigest() == source_hasher(data).hexdigest()
    digest.feed(0, data)  # a later re-read changes nothing
    assert digest.hexdigest() == source_hasher(data).hexdigest()


def without_blake3(monkeypatch) -> None:
    """As in an environment without the blake3 package: raw files hashed with sha256."""
    monkeypatch.setattr(readhash, "blake3", None)
    for module in (readhash, cache, loader):
        monkeypatch.setattr(module, "SOURCE_HASH", "sha256")


@pytest.fixture
def sha256_only(monkeypatch):
    without_blake3(monkeypatch)


def test_without_blake3_sha256_keys_are_as_before(criteo_file, tmp_path, sha256_only):
    data = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    digest = hashlib.sha256(criteo_file.read_bytes()).hexdigest()
    assert data.meta["sources"] == {"train.txt": digest} and data.meta["source_hash"] == "sha256"
    blob = json.dumps({"name": "criteo", "sources": {"train.txt": digest},  # the old key's blob
                       "options": data.meta["options"], "format": cache.FORMAT_VERSION},
                      sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()
    assert data.meta["cache_path"] == str(cache.entry_dir(tmp_path / "cache", "criteo", key))
    assert cache.cache_key("criteo", {"train.txt": digest}, data.meta["options"]) == key


def test_hash_kinds_never_share_an_entry(criteo_file, tmp_path, monkeypatch):
    if cache.SOURCE_HASH == "sha256":
        pytest.skip("the blake3 package is not installed")
    first = load_dataset(cfg(criteo_file, tmp_path / "cache"))
    without_blake3(monkeypatch)
    second = load_dataset(cfg(criteo_file, tmp_path / "cache"))  # hashes.json has no sha256 yet
    assert second.meta["cache_hit"] is False and second.meta["cache_path"] != first.meta["cache_path"]
    assert same_arrays(first, second)
