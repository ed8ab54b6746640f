"""Categories packed into integers give the same arrays and report as categories kept as
strings: packing is lossless and keeps the strings' order (vocabulary ties are broken by it), a
value too long to pack sends its field back to strings, and bad rows' values do not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from test_data_fast_parse import load, same
from test_data_parse_reference import EXPECTED, criteo_text, digest, parse_case

from autoembed.data import tabular
from autoembed.data.packed import pack_column, pack_strings


def test_packing_is_lossless_and_keeps_the_byte_order():
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"0aZ\x01\x7f-_ ", np.uint8)
    strings = sorted({bytes(rng.choice(alphabet, int(rng.integers(0, 9)))) for _ in range(3000)})
    packed = pack_strings(pa.array(strings, pa.binary()), np.ones(len(strings), bool))
    assert len(np.unique(packed)) == len(strings)  # distinct strings, distinct keys
    assert (np.diff(packed.astype(object)) > 0).all()  # sorted strings, sorted keys
    assert packed[0] == 0 and strings[0] == b""
    hexes = pa.array(["0123abcd", "", "ffffffff"])  # the fixed-width case: one view
    assert pack_strings(hexes, np.ones(3, bool)).tolist() == [0x3031323361626364, 0,
                                                              0x6666666666666666]
    eights = pa.array(["0123abcd", "ffffffff", "00000000", "abcdefgh"])  # all 8 bytes long
    assert pack_strings(eights, np.ones(4, bool)).tolist() == [
        0x3031323361626364, 0x6666666666666666, 0x3030303030303030, 0x6162636465666768]
    assert pack_strings(eights.slice(1, 2), np.ones(2, bool)).tolist() == [
        0x6666666666666666, 0x3030303030303030]
    assert pack_strings(pa.array(["0123abcd", "ab\x00cdefg"]), np.ones(2, bool)) is None


def test_values_that_do_not_pack():
    keep = np.array([True, False, True])
    assert pack_strings(pa.array(["a", "b", "abcdefghi"]), keep) is None  # kept, 9 bytes
    assert pack_strings(pa.array(["a", "abcdefghi", "b"]), keep)[1] == 0  # a dropped row's
    assert pack_strings(pa.array(["a", "b\x00", "c"]), keep) is None  # "b" and "b\0" alike
    assert pack_strings(pa.array(["a", None, "c"]), keep) is None
    chunked = pa.chunked_array([["ab"], ["", "abcdefghi"]])
    assert pack_column(chunked, np.array([True, True, False])).tolist() == [0x6162 << 48, 0, 0]


@pytest.mark.parametrize("case", ["criteo", "avazu-hour", "criteo-pieces", "avazu-pieces"])
def test_strings_and_pieces_give_the_reference_arrays_too(tmp_path, monkeypatch, case):
    """With packing off (every field falls back to strings, one restart each), or blocks cut
    into pieces of at most 37 lines (the most a piece may hold so that its keys' indices fit
    uint16 is 65,535), the parse still gives the reference parser's arrays."""
    if case.endswith("pieces"):
        monkeypatch.setattr(tabular, "_MAX_ROWS", 37)
        case = case.split("-")[0]
    else:
        monkeypatch.setattr(tabular, "pack_column", lambda values, keep: None)
    _, data = parse_case(tmp_path, case)
    assert digest(data) == {k: v for k, v in EXPECTED[case].items() if k != "file"}


def test_a_long_value_late_in_the_file_sends_its_field_back_to_strings(tmp_path, monkeypatch):
    lines = criteo_text(6000).split(b"\n")
    fields = lines[5000].split(b"\t")
    fields[20] = b"0123456789abcdef"  # C7, 16 bytes, in a late block (once: mapped to OOV)
    lines[5000] = b"\t".join(fields)
    fields = lines[5001].split(b"\t")
    fields[1], fields[21] = b"x", b"a" * 20  # a bad row's long value: no fallback for C8
    lines[5001] = b"\t".join(fields)
    path = tmp_path / "train.txt"
    path.write_bytes(b"\n".join(lines))
    fallbacks = []
    build = tabular._build

    def spy(path, layout, opts, out_dir, progress, unpacked):
        fallbacks.append(sorted(unpacked - set(layout.int_fields)))
        return build(path, layout, opts, out_dir, progress, unpacked)

    monkeypatch.setattr(tabular, "_build", spy)
    packed = load(path, tmp_path / "packed", chunk_bytes=64 << 10)
    assert fallbacks == [[], ["C7"]]
    assert packed.meta["parse_report"]["skipped"] > 0
    monkeypatch.setattr(tabular, "pack_column", lambda values, keep: None)
    same(packed, load(path, tmp_path / "strings", chunk_bytes=64 << 10))
