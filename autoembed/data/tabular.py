"""Streaming parser for delimited CTR logs (Criteo, Avazu).

Pass 1 parses and validates every line once (blocks in two threads) and counts each field's
values, keeping the blocks' dictionary-encoded keys in a temporary Arrow stream; pass 2 encodes
that stream into ``ids.npy``. Memory holds a few blocks plus the value counts, whatever the
number of rows.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.blocks import iter_blocks, parse_block
from autoembed.data.lines import record_bad_values, to_integers
from autoembed.data.npy import NpyWriter
from autoembed.data.options import ParseOptions
from autoembed.data.report import ParseReport
from autoembed.data.vocab import ValueCounter, build_vocab, encode_dictionary, offsets_of

MISSING_KEY = -(2**62)  # an integer field's missing value: a value of its own
SMALL_BASE = -(2**40)  # integer values v <= 2 become SMALL_BASE + v, apart from the bins (>= 1)
_LABEL = "__label__"  # the label's column in a block's batch of keys
_THREADS = 2  # blocks parsed at once


def integer_keys(numbers: np.ndarray) -> np.ndarray:
    """Criteo integer binning: ``int(ln(v)^2)`` for v > 2; v <= 2 and missing keep their own keys."""
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = np.floor(np.log(np.maximum(numbers, 3.0)) ** 2)
    keys = np.where(numbers > 2, binned, SMALL_BASE + np.nan_to_num(numbers, nan=0.0))
    return np.where(np.isnan(numbers), MISSING_KEY, keys).astype(np.int64)


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
    """One block's outcome: its line count, its malformed lines (in line order) and its valid
    rows as a batch of dictionary-encoded field keys plus the label."""

    lines: int
    bad: list[dict[str, Any]]
    batch: pa.RecordBatch


def _parse_chunk(first: int, block: bytes, layout: Layout, file: str) -> _Chunk:
    """Parse and check one block (runs in a worker thread: it touches no shared state)."""
    report = ParseReport(max_examples=sys.maxsize)
    cols = parse_block(block, first, layout.sep, list(layout.columns), report, file)
    label = cols.column(layout.label)
    keep = pc.is_in(label, pa.array(["0", "1"])).to_numpy(zero_copy_only=False)
    record_bad_values(cols, ~keep, label, layout.label, "bad label", report, file)
    keys: dict[str, Any] = {}
    for name in layout.fields:
        values = cols.column(name)
        if name in layout.int_fields:
            numbers, bad = to_integers(values)
            record_bad_values(cols, bad & keep, values, name, "non-numeric integer field",
                              report, file)
            keep &= ~bad
            keys[name] = integer_keys(numbers)
        else:
            transform = layout.transforms.get(name)
            keys[name] = transform(values) if transform else values
    mask = pa.array(keep)
    columns = {name: pc.dictionary_encode(pa.array(v[keep]) if isinstance(v, np.ndarray)
                                          else v.filter(mask))
               for name, v in keys.items()}
    columns[_LABEL] = pc.equal(label.filter(mask), "1")
    return _Chunk(report.lines, sorted(report.examples, key=lambda e: e["line"]),
                  pa.record_batch(columns))


def _chunks(
    path: Path, layout: Layout, opts: ParseOptions, report: ParseReport, progress: bool
) -> Iterator[pa.RecordBatch]:
    """Each block's valid rows, in file order; blocks are parsed two at a time in threads (Arrow
    and numpy release the GIL), their malformed lines recorded in ``report`` in line order."""
    def blocks() -> Iterator[tuple[int, bytes]]:
        for first, block in iter_blocks(path, opts.chunk_bytes, progress, f"parse {path.name}"):
            if layout.has_header and first == 1:
                end = block.index(b"\n")
                header = block[:end].decode("utf-8", "replace").strip().split(layout.sep.decode())
                if tuple(header) != layout.columns:
                    raise ValueError(
                        f"{path}: header {header} is not the expected {list(layout.columns)}")
                report.lines += 1
                first, block = 2, block[end + 1 :]
                if not block:
                    continue
            yield first, block

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        pending: deque[Future[_Chunk]] = deque()
        source = blocks()
        while True:
            while len(pending) < _THREADS + 1 and (item := next(source, None)) is not None:
                pending.append(pool.submit(_parse_chunk, *item, layout, path.name))
            if not pending:
                return
            chunk = pending.popleft().result()
            report.lines += chunk.lines
            with report.chunk():
                for bad in chunk.bad:
                    report.record_bad(bad["file"], [bad["line"]], [bad["reason"]], [bad["detail"]])
            report.rows += chunk.batch.num_rows
            yield chunk.batch


def build_table(
    path: Path, layout: Layout, opts: ParseOptions, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Parse ``path`` into ``out_dir`` (ids/labels/feature_counts .npy); returns the meta.

    Pass 1 parses the file once, counting each field's values and keeping every block's
    dictionary-encoded keys in a temporary Arrow stream; pass 2 encodes that stream against the
    vocabularies (the raw text is not parsed twice).
    """
    report = ParseReport(strict=opts.strict)
    counters = {name: ValueCounter() for name in layout.fields}
    stream_path = out_dir / "keys.arrows"
    writer = None
    try:
        for batch in _chunks(path, layout, opts, report, progress):
            if writer is None:
                writer = pa.ipc.new_stream(str(stream_path), batch.schema)
            writer.write_batch(batch)
            for name in layout.fields:
                counters[name].add_encoded(batch.column(name))
    finally:
        if writer is not None:
            writer.close()
    check_not_empty(path, report, layout.has_header)
    vocabs = [
        build_vocab(counters[name].counts(), opts.min_count,
                    exclude=() if name in layout.int_fields else ("",))  # empty category = OOV
        for name in layout.fields
    ]
    del counters
    vocab_sizes = [len(v) + 1 for v in vocabs]
    offsets = offsets_of(vocab_sizes)
    n_rows = report.rows
    counts = np.zeros(sum(vocab_sizes), dtype=np.int64)
    shape = (n_rows, len(layout.fields))
    with NpyWriter(out_dir / "ids.npy", shape, np.int32) as ids, \
            NpyWriter(out_dir / "labels.npy", (n_rows,), np.float32) as labels, \
            pa.memory_map(str(stream_path)) as source:
        for batch in pa.ipc.open_stream(source):
            chunk = np.empty((batch.num_rows, len(layout.fields)), dtype=np.int32)
            for f, name in enumerate(layout.fields):
                chunk[:, f] = encode_dictionary(batch.column(name), vocabs[f]) + offsets[f]
            ids.write(chunk)
            labels.write(batch.column(_LABEL).to_numpy(zero_copy_only=False))
            counts += np.bincount(chunk.ravel(), minlength=len(counts))
    stream_path.unlink()
    np.save(out_dir / "feature_counts.npy", counts)
    return {"field_names": list(layout.fields), "vocab_sizes": vocab_sizes,
            "parse_report": report.to_dict()}


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
