"""Streaming parser for delimited CTR logs (Criteo, Avazu).

Pass 1 parses and validates every line once (blocks in two threads), dictionary-encodes each
field's values per block and counts them; the blocks' encoded keys go to a temporary Arrow
stream on disk. Pass 2 reads that stream back (plain reads, not a memory map) a few blocks at a
time, maps each dictionary to vocabulary ids once, and writes ``ids.npy``. ``feature_counts``
comes from pass 1's counts. Memory holds a few blocks plus the value counts, whatever the number
of rows.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.blocks import iter_blocks, parse_block, split_lines
from autoembed.data.buffers import Scratch
from autoembed.data.lines import record_bad_values, to_integers
from autoembed.data.npy import NpyWriter
from autoembed.data.options import ParseOptions
from autoembed.data.packed import pack_column
from autoembed.data.report import ParseReport
from autoembed.data.vocab import Lookup, ValueCounter, distinct, offsets_of, vocab_counts

MISSING_KEY = -(2**62)  # an integer field's missing value: a value of its own
SMALL_BASE = -(2**40)  # integer values v <= 2 become SMALL_BASE + v, apart from the bins (>= 1)
_LABEL = "__label__"  # the label's column in a block's batch of keys
_THREADS = 2  # blocks parsed (pass 1) or encoded (pass 2) at once
_PASS2_ROWS = 1 << 15  # rows encoded per vocabulary look-up in pass 2, at least (two blocks)
_TILE_ROWS = 4096
_MAX_ROWS = (1 << 16) - 1  # lines per parsed piece of a block: its keys' indices fit uint16
_T = TypeVar("_T")


def integer_keys(numbers: np.ndarray) -> np.ndarray:
    """Criteo integer binning: ``int(ln(v)^2)`` for v > 2; v <= 2 and missing keep their own keys."""
    keys = numbers + SMALL_BASE  # v <= 2: exact in float64 for |v| < 2**52
    big = numbers > 2
    keys[big] = np.floor(np.log(np.maximum(numbers[big], 3.0)) ** 2)
    keys[np.isnan(numbers)] = MISSING_KEY  # a power of two: exact in float64
    return keys.astype(np.int64)


@dataclass(frozen=True)
class Layout:
    """A delimited file's columns and what each one is."""

    sep: bytes
    columns: tuple[str, ...]
    label: str
    int_fields: tuple[str, ...] = ()  # binned integer features
    dropped: tuple[str, ...] = ()  # columns that are not features (e.g. Avazu's id)
    has_header: bool = False  # first line must equal ``columns``
    transforms: dict[str, Callable[[pa.Array], pa.Array]] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != self.label and c not in self.dropped)


@dataclass
class _Chunk:
    """One block's outcome: its line count, its malformed lines (in line order), its valid rows
    as a batch of dictionary-encoded field keys plus the label, and each field's count of each
    dictionary value."""

    lines: int
    bad: list[dict[str, Any]]
    batch: pa.RecordBatch
    counts: list[np.ndarray]


def _parse_chunk(
    block: bytes | bytearray, layout: Layout, file: str, unpacked: frozenset[str],
    spare: deque[bytearray] | None = None,
) -> _Chunk:
    """Parse and check one block (runs in a worker thread: it touches no shared state but
    ``spare``, where the block goes once read into columns); line numbers in its report count
    from the block's first line, 1. Categories are packed into integers (:mod:`packed`), those
    of fields in ``unpacked`` kept as strings; a field whose values do not pack raises
    :class:`Unpackable`."""
    report = ParseReport(max_examples=sys.maxsize)
    cols = parse_block(block, 1, layout.sep, list(layout.columns), report, file)
    if spare is not None and isinstance(block, bytearray):
        spare.append(block)  # the columns are copies: the block may be read into again
    label = cols.table.column(layout.label)
    keep = pc.is_in(label, pa.array(["0", "1"])).to_numpy()
    record_bad_values(cols, ~keep, label, layout.label, "bad label", report, file)
    keys: dict[str, tuple[pa.Array, np.ndarray]] = {}  # field -> (dictionary, indices)
    ints = [cols.table.column(name) for name in layout.int_fields]
    for name, values, (keys[name], bad) in zip(layout.int_fields, ints, _integer_fields(ints),
                                               strict=True):
        if bad is not None:
            record_bad_values(cols, bad & keep, values, name, "non-numeric integer field",
                              report, file)
            keep &= ~bad
    for name in layout.fields:
        if name not in layout.int_fields:  # after the integers: ``keep`` is final
            transform = layout.transforms.get(name)
            values = cols.table.column(name)
            keys[name] = _category_keys(name, transform(values) if transform else values, keep,
                                        name not in unpacked)
    keys = {name: keys[name] for name in layout.fields}
    if not keep.all():  # dictionary entries only bad rows used are counted 0 times
        keys = {name: (values, indices[keep]) for name, (values, indices) in keys.items()}
    columns = {name: pa.DictionaryArray.from_arrays(indices.astype(np.uint16), values)
               for name, (values, indices) in keys.items()}  # at most _MAX_ROWS values
    columns[_LABEL] = pa.array(pc.equal(label, "1").to_numpy()[keep])
    counts = [np.bincount(indices, minlength=len(values)) for values, indices in keys.values()]
    return _Chunk(report.lines, sorted(report.examples, key=lambda e: e["line"]),
                  pa.record_batch(columns), counts)


def _integer_fields(
    columns: list[pa.ChunkedArray],
) -> list[tuple[tuple[pa.Array, np.ndarray], np.ndarray | None]]:
    """Each integer column's binned keys as (the key of each distinct string, the index of each
    row's string), and the mask of its non-integer rows (None when it has none). The distinct
    strings of all the columns are parsed and binned in one call; a key may repeat in a
    dictionary (two strings, one bin), which the counts and look-ups allow. (Arrow hashes these
    short, few-valued strings faster than they pack.)"""
    parts = [distinct(values) for values in columns]
    if not parts:
        return []
    numbers, bad = to_integers(pa.concat_arrays([strings for strings, _ in parts]))
    keys = integer_keys(numbers)
    out: list[tuple[tuple[pa.Array, np.ndarray], np.ndarray | None]] = []
    start = 0
    for strings, indices in parts:
        stop = start + len(strings)
        bad_rows = bad[start:stop][indices] if bad[start:stop].any() else None
        out.append(((pa.array(keys[start:stop]), indices), bad_rows))
        start = stop
    return out


class Unpackable(Exception):
    """A block's values of a categorical field are not all short enough to pack."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _category_keys(
    name: str, values: pa.ChunkedArray, keep: np.ndarray, pack: bool
) -> tuple[pa.Array, np.ndarray]:
    """A categorical column's (distinct values, index of each row's value): packed integers
    (the empty string is 0), or the strings themselves when not ``pack``."""
    if not pack:
        return distinct(values)
    packed = pack_column(values, keep)
    if packed is None:
        raise Unpackable(name)
    return distinct(pa.chunked_array([packed], pa.uint64()))


def _ordered(jobs: Iterator[Callable[[], _T]], threads: int = _THREADS) -> Iterator[_T]:
    """Run ``jobs`` in ``threads`` threads (Arrow and numpy release the GIL), a few ahead of
    the consumer; their results in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Future[_T]] = deque()
        while True:
            while len(pending) < threads + 1 and (job := next(jobs, None)) is not None:
                pending.append(pool.submit(job))
            if not pending:
                return
            yield pending.popleft().result()


def _largest_first(jobs: list[Callable[[], _T]], sizes: list[int], threads: int = _THREADS) -> list[_T]:
    """Run all ``jobs`` in ``threads`` threads, the largest (by ``sizes``) first, so that the
    last ones to finish are small and no thread waits long on another; results in job order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
        futures = {i: pool.submit(jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def _chunks(
    path: Path, layout: Layout, opts: ParseOptions, report: ParseReport, progress: bool,
    unpacked: frozenset[str],
) -> Iterator[_Chunk]:
    """Each block's parsed chunk, in file order; blocks are parsed two at a time in threads,
    their malformed lines recorded in ``report`` in line order."""
    def jobs() -> Iterator[Callable[[], _Chunk]]:
        newlines = Scratch(bool)
        spare: deque[bytearray] = deque()  # blocks parsed, to read the file into again
        for i, block in enumerate(iter_blocks(path, opts.chunk_bytes, progress,
                                              f"parse {path.name}", spare)):
            if layout.has_header and i == 0:
                end = block.index(b"\n")
                header = block[:end].decode("utf-8", "replace").strip().split(layout.sep.decode())
                if tuple(header) != layout.columns:
                    raise ValueError(
                        f"{path}: header {header} is not the expected {list(layout.columns)}")
                report.lines += 1
                block = block[end + 1 :]
                if not block:
                    continue
            pieces = list(split_lines(block, _MAX_ROWS, newlines))  # copies, if cut
            whole = pieces[0] is block
            if not whole:
                spare.append(block)
            for piece in pieces:  # a whole block goes back to ``spare`` once parsed
                yield partial(_parse_chunk, piece, layout, path.name, unpacked,
                              spare if whole else None)

    for chunk in _ordered(jobs()):
        before = report.lines  # lines before the block's first (the header read first)
        report.lines += chunk.lines
        with report.chunk():
            for bad in chunk.bad:
                report.record_bad(bad["file"], [before + bad["line"]], [bad["reason"]],
                                  [bad["detail"]])
        report.rows += chunk.batch.num_rows
        yield chunk


def _encode_batches(
    batches: list[pa.RecordBatch], first_row: int, fields: tuple[str, ...],
    vocabs: list[Lookup], offsets: np.ndarray, ids: NpyWriter, labels: NpyWriter,
) -> None:
    """Write the global ids (int32) and float32 labels of consecutive ``batches``, rows
    ``first_row``, ``first_row + 1``, ... of ``ids`` and ``labels``: each field's dictionaries
    are joined and looked up in its vocabulary in one call, then the rows are gathered and
    written a tile at a time (two small buffers reused, no array of the whole group: fresh
    memory costs more in page faults than the gathers themselves)."""
    local = []  # per field: global id of each dictionary entry, the batches' in turn
    for f, name in enumerate(fields):
        looked_up = vocabs[f](pa.concat_arrays([b.column(name).dictionary for b in batches]))
        local.append((looked_up + np.int32(offsets[f])).astype(np.int32))
    by_field = np.empty((len(fields), _TILE_ROWS), np.int32)
    tile = np.empty((_TILE_ROWS, len(fields)), np.int32)
    starts = [0] * len(fields)  # each field's batch's stretch of ``local``
    row = first_row
    for batch in batches:
        columns = [batch.column(name) for name in fields]
        gathers = [local[f][starts[f] : starts[f] + len(c.dictionary)]
                   for f, c in enumerate(columns)]
        indices = [c.indices.to_numpy() for c in columns]
        for lo in range(0, batch.num_rows, _TILE_ROWS):
            n = min(_TILE_ROWS, batch.num_rows - lo)
            for f, gather in enumerate(gathers):
                np.take(gather, indices[f][lo : lo + n], out=by_field[f, :n])
            tile[:n] = by_field[:, :n].T
            ids.write_at(row + lo, tile[:n])
        starts = [s + len(c.dictionary) for s, c in zip(starts, columns, strict=True)]
        row += batch.num_rows
    label = np.concatenate([b.column(_LABEL).to_numpy(zero_copy_only=False) for b in batches])
    labels.write_at(first_row, label.astype(np.float32))


def _stream_groups(path: Path, rows: int) -> Iterator[tuple[list[pa.RecordBatch], int]]:
    """The batches of an Arrow stream file, read with plain reads, in groups of about ``rows``,
    each with the number of its first row."""
    group: list[pa.RecordBatch] = []
    first_row = 0
    with pa.OSFile(str(path)) as source:
        for batch in pa.ipc.open_stream(source):
            group.append(batch)
            if sum(b.num_rows for b in group) >= rows:
                yield group, first_row
                first_row += sum(b.num_rows for b in group)
                group = []
    if group:
        yield group, first_row


def build_table(
    path: Path, layout: Layout, opts: ParseOptions, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Parse ``path`` into ``out_dir`` (ids/labels/feature_counts .npy); returns the meta.

    Pass 1 parses the file once, counting each field's values and keeping every block's
    dictionary-encoded keys in a temporary Arrow stream; pass 2 encodes that stream against the
    vocabularies (the raw text is not parsed twice). Categories are packed into integers; a
    field with a value too long to pack is parsed again as strings, from the start.
    """
    unpacked = frozenset(layout.int_fields)
    while True:
        try:
            return _build(path, layout, opts, out_dir, progress, unpacked)
        except Unpackable as e:
            unpacked |= {e.field}


def _build(
    path: Path, layout: Layout, opts: ParseOptions, out_dir: Path, progress: bool,
    unpacked: frozenset[str],
) -> dict[str, Any]:
    report = ParseReport(strict=opts.strict)
    merges = ThreadPoolExecutor(max_workers=1)  # counts merged while blocks are parsed
    counters = {name: ValueCounter(merges) for name in layout.fields}
    stream_path = out_dir / "keys.arrows"
    writer = None
    try:
        for chunk in _chunks(path, layout, opts, report, progress, unpacked):
            if writer is None:
                writer = pa.ipc.new_stream(str(stream_path), chunk.batch.schema)
            writer.write_batch(chunk.batch)
            for name, counts in zip(layout.fields, chunk.counts, strict=True):
                counters[name].add_counts(chunk.batch.column(name).dictionary, counts)
    finally:
        if writer is not None:
            writer.close()
        merges.shutdown()
    check_not_empty(path, report, layout.has_header)
    kept = _largest_first(  # all fields at once, two at a time
        [partial(_field_vocab, counters[name], opts.min_count,
                 () if name in layout.int_fields else ("",) if name in unpacked else (0,))
         for name in layout.fields], [counters[name].entries for name in layout.fields])
    del counters
    vocabs = [lookup for lookup, _ in kept]
    vocab_sizes = [len(v.vocab) + 1 for v in vocabs]
    offsets = offsets_of(vocab_sizes)
    n_rows = report.rows
    # Each field's OOV id counts the rows none of its kept values took.
    counts = np.concatenate([np.concatenate(([n_rows - c.sum()], c)) for _, c in kept]
                            ).astype(np.int64)  # (no Python int per feature)
    shape = (n_rows, len(layout.fields))
    with NpyWriter(out_dir / "ids.npy", shape, np.int32) as ids, \
            NpyWriter(out_dir / "labels.npy", (n_rows,), np.float32) as labels:
        # A string vocabulary is hashed on each look-up: at least 4 rows per feature keep that
        # cheap (integer ones are hashed once).
        groups = _stream_groups(stream_path, max(_PASS2_ROWS, sum(vocab_sizes) // 4))
        for _ in _ordered(partial(_encode_batches, group, first_row, layout.fields, vocabs,
                                  offsets, ids, labels) for group, first_row in groups):
            pass
    stream_path.unlink()
    np.save(out_dir / "feature_counts.npy", counts)
    return {"field_names": list(layout.fields), "vocab_sizes": vocab_sizes,
            "parse_report": report.to_dict()}


def _field_vocab(
    counter: ValueCounter, min_count: int, exclude: tuple
) -> tuple[Lookup, np.ndarray]:
    """A field's vocabulary, ready for look-ups (its hash table built in the calling thread),
    and the count of each of its values."""
    values, counts = vocab_counts(counter, min_count, exclude)
    return Lookup(values), counts


def check_not_empty(path: Path, report: ParseReport, has_header: bool) -> None:
    """A file without a single valid row is an error naming why, not a 0-row dataset."""
    data_lines = report.lines - (1 if has_header and report.lines else 0)
    if report.lines == 0:
        raise ValueError(f"{path} is empty: no lines to parse. Point the dataset at the real file.")
    if data_lines == 0:
        raise ValueError(f"{path} has a header line but no data lines. Point the dataset at the "
                         "real file.")
    if report.rows == 0:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(report.skipped.items()))
        first = report.examples[0] if report.examples else None
        where = f"; first: line {first['line']}, {first['reason']} ({first['detail']})" if first else ""
        raise ValueError(f"{path}: none of its {data_lines} data lines is a valid row "
                         f"({reasons}){where}. Is it the right file and format?")


def single_file(root: Path, preferred: tuple[str, ...], suffix: str, what: str) -> Path:
    """``root`` itself if a file; else the first of ``preferred`` in it, else its only ``*suffix``."""
    if root.is_file():
        return root
    for name in preferred:
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob(f"*{suffix}"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(
        f"cannot tell which file in {root} is the {what}: expected one of {list(preferred)} or a "
        f"single *{suffix} file, found {[p.name for p in found]}; pass the file itself as root"
    )
