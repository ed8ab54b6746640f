"""Reading one table of a schema: a file, folder or glob of text or Parquet files, streamed in
chunks of the wanted columns (renamed), with the line (text) or row (Parquet) number of each row."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from autoembed.data.lines import iter_line_chunks, split_columns
from autoembed.data.report import ParseReport
from autoembed.data.table.schema import (
    PARQUET_SUFFIXES,
    TEXT_SEPARATORS,
    ColumnType,
    FileSpec,
    SchemaError,
)

TABLE_SUFFIXES = (*PARQUET_SUFFIXES, ".csv", ".tsv", ".txt", ".dat")
_INT = r"^\s*[-+]?[0-9]{1,18}\s*$"
_FLOAT = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


@dataclass(frozen=True)
class Source:
    """One named table of the schema, its files resolved and its (renamed) columns known."""

    name: str
    spec: FileSpec
    files: tuple[Path, ...]
    parquet: bool
    raw_columns: tuple[str, ...]  # as in the files
    columns: tuple[str, ...]  # after ``rename``

    def describe(self) -> str:
        shown = ", ".join(p.name for p in self.files[:3]) + (" ..." if len(self.files) > 3 else "")
        return f"{self.name} ({shown})"


@dataclass
class Chunk:
    """Rows of one file: ``table`` holds the wanted columns; ``lines`` their line/row numbers."""

    table: pa.Table
    lines: np.ndarray
    file: str

    def filter(self, keep: np.ndarray) -> Chunk:
        if keep.all():
            return self
        return Chunk(self.table.filter(pa.array(keep)), self.lines[keep], self.file)


def resolve(name: str, spec: FileSpec, base: Path, rename: dict[str, str]) -> Source:
    """Find ``spec``'s files (relative to ``base``) and read their column names."""
    target = base / Path(spec.path).expanduser()
    if any(c in spec.path for c in "*?["):
        files = [Path(p) for p in sorted(glob.glob(str(target), recursive=True)) if Path(p).is_file()]
    elif target.is_dir():
        files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix in TABLE_SUFFIXES)
    else:
        files = [target] if target.is_file() else []
    if not files:
        raise FileNotFoundError(f"table {name!r}: no file at {target} (folders hold "
                                f"{', '.join(TABLE_SUFFIXES)} files; globs like data/part-*.csv)")
    kinds = {p.suffix in PARQUET_SUFFIXES for p in files}
    if len(kinds) > 1:
        raise SchemaError(f"table {name!r} mixes Parquet and text files under {target}; "
                          "give each format its own table or folder")
    parquet = kinds.pop()
    if parquet:
        raw = tuple(_parquet().ParquetFile(files[0]).schema_arrow.names)
    elif spec.columns is not None:  # names given (a header line, if any, is skipped)
        raw = spec.columns
    else:
        raw = tuple(_header(files[0], spec))
    columns = tuple(rename.get(c, c) for c in raw)
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise SchemaError(f"table {name!r} ({files[0].name}) has column(s) {dup} twice (after rename)")
    return Source(name, spec, tuple(files), parquet, raw, columns)


def separator(spec: FileSpec, path: Path) -> bytes:
    sep = spec.sep or TEXT_SEPARATORS.get(path.suffix)
    if not sep:
        raise SchemaError(f"{path.name}: cannot tell the separator of a {path.suffix or 'suffix-less'} "
                          "file; give it in the schema, e.g. files: {log: {path: ..., sep: '::'}}")
    return sep.encode()


def _header(path: Path, spec: FileSpec) -> list[str]:
    with path.open("rb") as fh:
        line = fh.readline().rstrip(b"\r\n")
    if not line:
        raise SchemaError(f"{path}: empty first line, expected a header; if the file has none, "
                          "name the columns in the schema (files: {name: {path: ..., columns: [...]}})")
    return line.decode(spec.encoding).split(separator(spec, path).decode())


def iter_chunks(
    source: Source, wanted: list[str], report: ParseReport, chunk_bytes: int,
) -> Iterator[Chunk]:
    """Stream ``wanted`` (renamed) columns of every file of ``source``, in file order."""
    index = {c: i for i, c in enumerate(source.columns)}
    raw_wanted = [source.raw_columns[index[c]] for c in wanted]
    for path in source.files:
        if source.parquet:
            yield from _parquet_chunks(path, raw_wanted, wanted, report, chunk_bytes)
        else:
            yield from _text_chunks(path, source, raw_wanted, wanted, report, chunk_bytes)


def _parquet() -> ModuleType:
    """``pyarrow.parquet``, imported on first use: the dataset plugins are imported together,
    and loading another dataset need not pay for it (~10 ms)."""
    import pyarrow.parquet

    return pyarrow.parquet


def _parquet_chunks(
    path: Path, raw_wanted: list[str], wanted: list[str], report: ParseReport, chunk_bytes: int
) -> Iterator[Chunk]:
    file = _parquet().ParquetFile(path)
    missing = sorted(set(raw_wanted) - set(file.schema_arrow.names))
    if missing:
        raise SchemaError(f"{path.name}: column(s) {missing} missing (it has {file.schema_arrow.names})")
    row = 0
    for batch in file.iter_batches(batch_size=max(1024, chunk_bytes // 64), columns=raw_wanted):
        table = pa.Table.from_batches([batch]).select(raw_wanted).rename_columns(wanted)
        n = table.num_rows
        report.lines += n
        yield Chunk(table, np.arange(row + 1, row + n + 1, dtype=np.int64), path.name)
        row += n


def _text_chunks(
    path: Path, source: Source, raw_wanted: list[str], wanted: list[str], report: ParseReport,
    chunk_bytes: int,
) -> Iterator[Chunk]:
    spec, sep = source.spec, separator(source.spec, path)
    names = list(source.raw_columns)
    if spec.has_header and spec.columns is None and _header(path, spec) != names:
        raise SchemaError(f"{path}: header {_header(path, spec)} differs from {names} "
                          f"(the columns of {source.files[0].name})")
    if len(sep) == 1:
        yield from _csv_chunks(path, spec, sep.decode(), names, raw_wanted, wanted, report, chunk_bytes)
        return
    for first, lines in iter_line_chunks(path, chunk_bytes):
        if spec.has_header and first == 1:
            lines.pop(0)
            report.lines += 1
            first = 2
        if not lines:
            continue
        cols = split_columns(lines, first, sep, names, report, path.name, spec.encoding)
        table = cols.table.select(raw_wanted).rename_columns(wanted)
        yield Chunk(table, cols.line_numbers, path.name)


def _csv_chunks(
    path: Path, spec: FileSpec, sep: str, names: list[str], raw_wanted: list[str],
    wanted: list[str], report: ParseReport, chunk_bytes: int,
) -> Iterator[Chunk]:
    """A one-character-separated file through pyarrow's streaming CSV reader (quoted values
    allowed, not across lines); rows with another field count are recorded and skipped."""
    skipped: list[int] = []  # line numbers not yet passed by the rows read
    invalid_rows = [0]

    def invalid(row: pv.InvalidRow) -> str:
        skipped.append(row.number)
        invalid_rows[0] += 1
        report.record_bad(path.name, np.array([row.number]), ["wrong field count"],
                          [f"expected {len(names)} {'TAB' if sep == chr(9) else repr(sep)}-separated "
                           f"fields, found {row.actual_columns}"])
        return "skip"

    reader = pv.open_csv(
        path,
        read_options=pv.ReadOptions(column_names=names, skip_rows=int(spec.has_header),
                                    encoding=spec.encoding, use_threads=False,
                                    block_size=max(chunk_bytes, 1 << 16)),
        parse_options=pv.ParseOptions(delimiter=sep, invalid_row_handler=invalid),
        convert_options=pv.ConvertOptions(column_types={c: pa.string() for c in raw_wanted},
                                          include_columns=raw_wanted, strings_can_be_null=False),
    )
    next_line = 1 + int(spec.has_header)
    report.lines += int(spec.has_header)
    for batch in reader:
        n = batch.num_rows
        report.lines += n
        # Physical line of each row: consecutive lines, minus those skipped as invalid.
        pending = np.array(skipped, dtype=np.int64)
        candidates = np.arange(next_line, next_line + n + len(pending), dtype=np.int64)
        lines = candidates[~np.isin(candidates, pending)][:n]
        next_line = int(lines[-1]) + 1 if n else next_line
        skipped[:] = [s for s in skipped if s >= next_line]
        table = pa.Table.from_batches([batch]).select(raw_wanted).rename_columns(wanted)
        yield Chunk(table, lines, path.name)
    report.lines += invalid_rows[0]


def coerce(values: pa.Array | pa.ChunkedArray, kind: ColumnType) -> tuple[pa.Array, np.ndarray]:
    """``values`` as ``kind`` (string, int64, float64; empty -> null) and the mask of entries that
    do not parse as ``kind``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    no_bad = np.zeros(n, dtype=bool)
    if kind == "string":
        return (values if pa.types.is_string(values.type) else pc.cast(values, pa.string())), no_bad
    target = pa.int64() if kind == "int" else pa.float64()
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        if kind == "int" and pa.types.is_floating(values.type):
            whole = pc.equal(pc.floor(values), values).fill_null(True)
            bad = ~whole.to_numpy(zero_copy_only=False)
            return pc.cast(pc.if_else(whole, values, 0.0), target), bad
        if pa.types.is_floating(values.type):  # NaN is missing
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)
        return pc.cast(values, target), no_bad
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    try:  # fast path: every non-empty value parses
        return pc.cast(pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values),
                       target), no_bad
    except pa.ArrowInvalid:
        pass
    valid = pc.match_substring_regex(values, _INT if kind == "int" else _FLOAT).fill_null(False)
    empty = pc.equal(pc.utf8_trim_whitespace(values), "").fill_null(True)
    bad = ~(valid.to_numpy(zero_copy_only=False) | empty.to_numpy(zero_copy_only=False))
    parsed = pc.cast(pc.utf8_trim_whitespace(pc.if_else(valid, values, "0")), target)
    return pc.if_else(valid, parsed, pa.scalar(None, target)), bad
