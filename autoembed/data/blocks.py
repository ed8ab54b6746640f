"""Fast path for delimited files: line-aligned byte blocks parsed by Arrow's CSV reader in one
call, with the line-by-line path (:func:`lines.split_columns`) taking any block Arrow would not
read exactly as it does (empty lines, a lone CR, bytes that are not UTF-8)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from autoembed.data.buffers import Scratch
from autoembed.data.lines import BOM, Columns, split_columns
from autoembed.data.readhash import read_tap
from autoembed.data.report import ParseReport
from autoembed.progress import progress_bar

_ARROW_BLOCK = 1 << 20  # Arrow's parse unit within a block: faster than one of the whole block


def iter_blocks(
    path: Path, chunk_bytes: int, progress: bool = False, desc: str = "",
    spare: deque[bytearray] | None = None,
) -> Iterator[bytearray]:
    """Yield blocks of whole lines, each ending in ``\\n`` (``\\r\\n`` turned into ``\\n``), about
    ``chunk_bytes`` each; a leading UTF-8 BOM is dropped. Each block is a buffer the file was
    read into (no copy of it is made): one taken from ``spare``, where the consumer puts the
    blocks it is done with (any thread), else a fresh one (new memory costs page faults and
    zeroing, several times the read itself). The bytes read also feed the file's
    :func:`~autoembed.data.readhash.read_tap` digest, if the loader opened one."""
    tap = read_tap(path)
    offset = 0
    leftover = b""
    bar = progress_bar(total=path.stat().st_size, unit="B", unit_scale=True, desc=desc or path.name,
               disable=not progress, leave=False)
    with path.open("rb", buffering=0) as fh, bar:
        first = True
        while True:
            block = _buffer(len(leftover) + chunk_bytes, spare)
            block[: len(leftover)] = leftover
            got = fh.readinto(memoryview(block)[len(leftover) :])
            if not got:
                break
            if tap is not None:
                tap.feed(offset, memoryview(block)[len(leftover) : len(leftover) + got])
            offset += got
            bar.update(got)
            del block[len(leftover) + got :]
            if first and block.startswith(BOM):
                del block[: len(BOM)]
            first = False
            end = block.rfind(b"\n")
            if end < 0:
                leftover = bytes(block)
                continue
            leftover = bytes(block[end + 1 :])
            del block[end + 1 :]
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            yield block
        if leftover.endswith(b"\r"):
            leftover = leftover[:-1]
        if leftover:
            yield bytearray(leftover.replace(b"\r\n", b"\n") + b"\n")


def _buffer(size: int, spare: deque[bytearray] | None) -> bytearray:
    """A bytearray of ``size`` bytes (contents undefined): a spare one resized, else new."""
    if not spare:
        return bytearray(size)
    block = spare.pop()
    if len(block) < size:
        block.extend(bytes(size - len(block)))  # a line or so: within its allocation mostly
    else:
        del block[size:]
    return block


def split_lines(block: bytearray, most: int, scratch: Scratch | None = None) -> Iterator[bytearray]:
    """``block`` (whole lines) in pieces of at most ``most`` lines each, as even as can be
    (no short last piece); ``scratch`` (bool) is
    reused for the newline mask, block after block."""
    data = np.frombuffer(block, np.uint8)
    out = scratch.get(len(data)) if scratch is not None else None
    newlines = np.equal(data, ord("\n"), out=out)  # numpy: 6x bytearray.count
    lines = int(np.count_nonzero(newlines))
    if lines <= most:
        yield block
        return
    size = -(-lines // -(-lines // most))  # as many lines in each piece as can be
    ends = np.flatnonzero(newlines)[size - 1 :: size] + 1
    start = 0
    for end in [*ends.tolist(), len(block)]:
        if end > start:
            yield block[start:end]
        start = end


def parse_block(
    block: bytes | bytearray, first_line: int, sep: bytes, names: list[str], report: ParseReport, file: str
) -> Columns:
    """The well-formed lines of ``block`` as string columns (as :func:`split_columns` gives them);
    lines with another field count are recorded in ``report`` and skipped."""
    if len(sep) != 1 or b"\r" in block:
        return _line_by_line(block, first_line, sep, names, report, file)
    bad: list[tuple[int, int]] = []  # (line within the block, fields found)

    def invalid(row: pv.InvalidRow) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    try:  # one check for the block (Arrow then reads bytes, unchecked)
        block.isascii() or block.decode("utf-8")
    except UnicodeDecodeError:  # found and reported line by line
        return _line_by_line(block, first_line, sep, names, report, file)
    try:
        table = pv.read_csv(
            pa.BufferReader(pa.py_buffer(block)),
            read_options=pv.ReadOptions(column_names=names, use_threads=False,
                                        block_size=_ARROW_BLOCK),
            parse_options=pv.ParseOptions(delimiter=sep.decode(), quote_char=False,
                                          double_quote=False, ignore_empty_lines=False,
                                          invalid_row_handler=invalid),
            convert_options=pv.ConvertOptions(column_types={n: pa.binary() for n in names},
                                              strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return _line_by_line(block, first_line, sep, names, report, file)
    if any(n is None or n < 1 for n, _ in bad):  # Arrow did not know the line: ask the slow path
        return _line_by_line(block, first_line, sep, names, report, file)
    # Arrow reads an empty line as a row of empty values; look for one (a slow scan) only when
    # some row's first value is empty.
    first = table.column(0)
    if (len(first) and pc.min(pc.binary_length(first)).as_py() == 0
            and (block.startswith(b"\n") or b"\n\n" in block)):
        return _line_by_line(block, first_line, sep, names, report, file)
    n_lines = table.num_rows + len(bad)  # no empty lines: each line is a row or an invalid row
    report.lines += n_lines
    numbers = np.arange(first_line, first_line + n_lines, dtype=np.int64)
    if bad:
        at = np.array([n for n, _ in bad], dtype=np.int64) - 1
        sep_name = "TAB" if sep == b"\t" else repr(sep.decode())
        report.record_bad(file, numbers[at], ["wrong field count"] * len(bad),
                          [f"expected {len(names)} {sep_name}-separated fields, found {found}"
                           for _, found in bad])
        numbers = np.delete(numbers, at)
    # Valid UTF-8 split at ASCII separators: every value is valid UTF-8, viewed as a string.
    strings = pa.table({n: pa.chunked_array([c.view(pa.string()) for c in table.column(n).chunks],
                                            pa.string()) for n in names})
    return Columns(strings, numbers)


def _line_by_line(
    block: bytes | bytearray, first_line: int, sep: bytes, names: list[str], report: ParseReport,
    file: str,
) -> Columns:
    return split_columns(bytes(block).split(b"\n")[:-1], first_line, sep, names, report, file)
