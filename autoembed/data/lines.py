"""Streaming raw text files: fixed-size byte chunks split into lines, then into string columns."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from autoembed.data.report import ParseReport
from autoembed.progress import progress_bar

DEFAULT_CHUNK_BYTES = 8 << 20
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, dropped from the start of a file


def iter_line_chunks(
    path: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: bool = False, desc: str = ""
) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(number of the chunk's first line, lines)``; line numbers are 1-based.

    Lines come without their newline (``\\n`` or ``\\r\\n``); memory is bounded by ``chunk_bytes``.
    A UTF-8 byte-order mark at the start of the file is dropped.
    """
    next_line = 1
    leftover = b""
    bar = progress_bar(total=path.stat().st_size, unit="B", unit_scale=True, desc=desc or path.name,
                       disable=not progress, leave=False)
    with path.open("rb") as fh, bar:
        while True:
            block = fh.read(chunk_bytes)
            bar.update(len(block))
            if not block:
                break
            if next_line == 1 and not leftover and block.startswith(BOM):
                block = block[len(BOM):]
            data = (leftover + block).replace(b"\r\n", b"\n")
            lines = data.split(b"\n")
            leftover = lines.pop()
            if lines:
                count = len(lines)  # before the consumer can change the list (a header pop)
                yield next_line, lines
                next_line += count
        if leftover.endswith(b"\r"):
            leftover = leftover[:-1]
        if leftover:
            yield next_line, [leftover]


@dataclass
class Columns:
    """The well-formed lines of one chunk as string columns, with their 1-based line numbers."""

    table: pa.Table
    line_numbers: np.ndarray

    def __len__(self) -> int:
        return self.table.num_rows

    def column(self, name: str) -> pa.Array:
        column = self.table.column(name)  # its only chunk as is (concatenation would copy)
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def split_columns(
    lines: list[bytes],
    first_line: int,
    sep: bytes,
    names: list[str],
    report: ParseReport,
    file: str,
    encoding: str = "utf8",
) -> Columns:
    """Split ``lines`` on ``sep`` into ``len(names)`` string columns (empty string = missing).

    Lines with another field count, a carriage return inside, or that are not valid ``encoding``
    text are recorded in ``report`` and skipped.
    """
    n_sep = np.fromiter((line.count(sep) for line in lines), dtype=np.int64, count=len(lines))
    numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    report.lines += len(lines)
    sep_name = "TAB" if sep == b"\t" else repr(sep.decode())
    bad = np.flatnonzero(n_sep != len(names) - 1)
    lines, numbers = _skip(lines, numbers, bad, "wrong field count", [
        f"expected {len(names)} {sep_name}-separated fields, found {n_sep[i] + 1}" for i in bad
    ], report, file)
    data = b"\n".join(lines) + b"\n"
    if b"\r" in data:  # a CR that does not end a line (Arrow would split the line there)
        bad = np.array([i for i, line in enumerate(lines) if b"\r" in line], dtype=np.int64)
        lines, numbers = _skip(lines, numbers, bad, "carriage return inside the line",
                               [f"{lines[i][:40]!r}" for i in bad], report, file)
        data = b"\n".join(lines) + b"\n"
    bad = _undecodable(data, lines, encoding)
    if len(bad):
        lines, numbers = _skip(lines, numbers, bad, "not UTF-8",
                               [f"undecodable bytes: {lines[i][:40]!r}" for i in bad], report, file)
        data = b"\n".join(lines) + b"\n"
    if not lines:
        return Columns(pa.table({n: pa.array([], pa.string()) for n in names}), numbers)
    if len(sep) > 1:
        data = data.replace(sep, b"\t")
        sep = b"\t"
    table = pv.read_csv(
        io.BytesIO(data),
        read_options=pv.ReadOptions(column_names=names, encoding=encoding, use_threads=False,
                                    block_size=max(len(data) + 1, 1 << 20)),
        parse_options=pv.ParseOptions(delimiter=sep.decode(), quote_char=False,
                                      double_quote=False, ignore_empty_lines=False),
        convert_options=pv.ConvertOptions(column_types={n: pa.string() for n in names},
                                          strings_can_be_null=False),
    )
    return Columns(table, numbers)


def _skip(
    lines: list[bytes], numbers: np.ndarray, bad: np.ndarray, reason: str, details: list[str],
    report: ParseReport, file: str,
) -> tuple[list[bytes], np.ndarray]:
    """Record ``lines[bad]`` as malformed for ``reason``; the other lines and their numbers."""
    if not len(bad):
        return lines, numbers
    report.record_bad(file, numbers[bad], [reason] * len(bad), details)
    keep = np.ones(len(lines), dtype=bool)
    keep[bad] = False
    return [line for line, ok in zip(lines, keep, strict=True) if ok], numbers[keep]


def _undecodable(data: bytes, lines: list[bytes], encoding: str) -> np.ndarray:
    """Indices of ``lines`` that are not valid ``encoding`` (one check of ``data``, their join,
    unless it fails)."""
    try:
        data.decode(encoding)
        return np.empty(0, dtype=np.int64)
    except UnicodeDecodeError:
        pass
    bad = []
    for i, line in enumerate(lines):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(i)
    return np.asarray(bad, dtype=np.int64)


def drop_rows(columns: Columns, keep: np.ndarray) -> Columns:
    """The rows of ``columns`` where boolean ``keep`` is true."""
    if keep.all():
        return columns
    return Columns(columns.table.filter(pa.array(keep)), columns.line_numbers[keep])


def to_integers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse integer strings: (float64 values with NaN for empty, mask of non-integer entries).

    An integer is ``-?[0-9]{1,15}``; anything else but the empty string is non-integer."""
    plain = _plain_integers(values)
    if plain is not None:
        return plain
    valid = pc.match_substring_regex(values, r"^-?[0-9]{1,15}$")
    empty = pc.equal(values, "")
    bad = ~(valid.to_numpy(zero_copy_only=False) | empty.to_numpy(zero_copy_only=False))
    ints = pc.cast(pc.if_else(valid, values, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    numbers = ints.astype(np.float64)
    numbers[~valid.to_numpy(zero_copy_only=False)] = np.nan
    return numbers, bad


_DIGIT_OR_MINUS = np.zeros(256, dtype=bool)
_DIGIT_OR_MINUS[list(b"0123456789-")] = True


def _plain_integers(values: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`to_integers` without a regex, for the common case where every value is empty or
    an integer (checked on the raw bytes with numpy); None when some value is neither."""
    if values.type != pa.string() or values.null_count:
        return None
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, values.offset * 4)
    lengths = np.diff(offsets)
    data = (np.frombuffer(data_buf, np.uint8, offsets[-1] - offsets[0], offsets[0])
            if data_buf is not None else np.empty(0, np.uint8))
    if not _DIGIT_OR_MINUS[data].all():
        return None
    digits = lengths
    minus = np.flatnonzero(data == ord("-")) + offsets[0]
    if len(minus):  # a minus sign only first, and before a digit
        row = np.searchsorted(offsets, minus, side="right") - 1
        if (offsets[row] != minus).any() or (lengths[row] < 2).any():
            return None
        digits = lengths.copy()
        digits[row] -= 1
    if (digits > 15).any():
        return None
    valid = lengths > 0
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    typed = pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets), data_buf])
    # At most 15 digits: exact in float64 (Arrow's parser rounds correctly).
    numbers = pc.cast(typed, pa.float64()).to_numpy(zero_copy_only=False)
    return numbers, np.zeros(n, dtype=bool)


def record_bad_values(
    columns: Columns, bad: np.ndarray, values: pa.Array, what: str, reason: str,
    report: ParseReport, file: str,
) -> None:
    """Record rows flagged in ``bad`` as malformed, quoting the offending value."""
    idx = np.flatnonzero(bad)
    if len(idx):
        shown = values.take(pa.array(idx)).to_pylist()
        report.record_bad(
            file, columns.line_numbers[idx], [reason] * len(idx),
            [f"{what} = {str(v)[:40]!r}" for v in shown],
        )
