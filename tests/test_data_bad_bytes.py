"""Bad bytes are bad lines (Criteo, Avazu): non-UTF-8 lines skipped and reported with the file
and their true line number, empty and header-only files refused, a UTF-8 BOM accepted."""

from __future__ import annotations

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import MalformedLineError, load_dataset


def criteo_line(i: int) -> bytes:
    return "\t".join([str(i % 2)] + [str(i % 9)] * 13 + [f"v{i % 4}"] * 26).encode()


def load(name, path, tmp_path, **options):
    return load_dataset(DataConfig(name=name, root=str(path), options={"min_count": 1, **options},
                                   cache_dir=str(tmp_path / "cache")))


def write(path, lines: list[bytes]):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_criteo_non_utf8_line_is_skipped_with_its_true_line_number(tmp_path):
    lines = [criteo_line(i) for i in range(60)]
    lines[40] = lines[40].replace(b"v0", b"v\xff\xfe", 1)  # line 41, far past the first chunk
    path = write(tmp_path / "raw" / "train.txt", lines)
    data = load("criteo", path, tmp_path, chunk_bytes=1024)
    report = data.meta["parse_report"]
    assert data.num_rows == 59 and report["skipped_by_reason"] == {"not UTF-8": 1}
    assert report["first_bad_lines"][0]["line"] == 41
    assert report["first_bad_lines"][0]["file"] == "train.txt"
    clean = load("criteo", write(tmp_path / "clean" / "train.txt", lines[:40] + lines[41:]),
                 tmp_path)
    assert np.array_equal(data.ids, clean.ids)
    with pytest.raises(MalformedLineError, match=r"train.txt, line 41: not UTF-8"):
        load("criteo", path, tmp_path / "strict", chunk_bytes=1024, strict=True)


def test_avazu_non_utf8_line_is_skipped(avazu_sample, tmp_path):
    lines = avazu_sample.read_bytes().splitlines()
    lines[150] = lines[150][:-2] + b"\xc3("  # line 151: a broken two-byte sequence
    data = load("avazu", write(tmp_path / "train.csv", lines), tmp_path, chunk_bytes=4096)
    report = data.meta["parse_report"]
    assert data.num_rows == 199
    assert [(e["line"], e["reason"]) for e in report["first_bad_lines"]] == [(151, "not UTF-8")]


@pytest.mark.parametrize(("name", "content", "match"), [
    ("criteo", b"", "is empty"),
    ("avazu", b"", "is empty"),
    ("avazu", None, "has a header line but no data lines"),
    ("criteo", b"1\t2\t3\nx\n", r"none of its 2 data lines is a valid row \(wrong field count: 2\)"),
])
def test_empty_header_only_and_all_bad_files_are_clear_errors(avazu_sample, tmp_path, name,
                                                              content, match):
    if content is None:
        content = avazu_sample.read_bytes().splitlines()[0] + b"\n"
    path = tmp_path / ("train.txt" if name == "criteo" else "train.csv")
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load(name, path, tmp_path)


def test_utf8_bom_is_accepted(avazu_sample, tmp_path):
    plain = load("avazu", avazu_sample, tmp_path / "a")
    bom = tmp_path / "bom" / "train.csv"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + avazu_sample.read_bytes())
    with_bom = load("avazu", bom, tmp_path / "b")
    assert with_bom.meta["parse_report"]["skipped"] == 0
    assert np.array_equal(plain.ids, with_bom.ids) and with_bom.vocab_sizes == plain.vocab_sizes
    lines = [criteo_line(i) for i in range(20)]
    criteo = load("criteo", write(tmp_path / "c" / "train.txt", lines), tmp_path / "c")
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    criteo_bom = load("criteo", write(tmp_path / "d" / "train.txt", lines), tmp_path / "d")
    assert criteo_bom.num_rows == 20 and np.array_equal(criteo.ids, criteo_bom.ids)
