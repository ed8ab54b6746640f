"""Two-pass streaming parser for delimited CTR logs (Criteo, Avazu).

Pass 1 validates every line and counts each field's values; pass 2 encodes the rows straight
into a memory-mapped ``ids.npy``. Memory holds one chunk plus the value counts, whatever the
number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.lines import (
    Columns,
    drop_rows,
    iter_line_chunks,
    record_bad_values,
    split_columns,
    to_integers,
)
from autoembed.data.npy import NpyWriter
from autoembed.data.options import ParseOptions
from autoembed.data.report import ParseReport
from autoembed.data.vocab import ValueCounter, build_vocab, encode, offsets_of

MISSING_KEY = -(2**62)  # an integer field's missing value: a value of its own
SMALL_BASE = -(2**40)  # integer values v <= 2 become SMALL_BASE + v, apart from the bins (>= 1)


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


def _valid_chunks(
    path: Path, layout: Layout, opts: ParseOptions, report: ParseReport, progress: bool, desc: str
) -> Iterator[tuple[Columns, dict[str, Any]]]:
    """Well-formed rows of each chunk and their per-field value keys."""
    for first, lines in iter_line_chunks(path, opts.chunk_bytes, progress, desc):
        if layout.has_header and first == 1:
            header = lines.pop(0).decode("utf-8", "replace").strip().split(layout.sep.decode())
            if tuple(header) != layout.columns:
                raise ValueError(f"{path}: header {header} is not the expected {list(layout.columns)}")
            report.lines += 1
            first = 2
        with report.chunk():
            cols = split_columns(lines, first, layout.sep, list(layout.columns), report, path.name)
            label = cols.column(layout.label)
            keep = pc.is_in(label, pa.array(["0", "1"])).to_numpy(zero_copy_only=False)
            record_bad_values(cols, ~keep, label, layout.label, "bad label", report, path.name)
            keys: dict[str, Any] = {}
            for name in layout.fields:
                values = cols.column(name)
                if name in layout.int_fields:
                    numbers, bad = to_integers(values)
                    record_bad_values(cols, bad & keep, values, name,
                                      "non-numeric integer field", report, path.name)
                    keep &= ~bad
                    keys[name] = integer_keys(numbers)
                else:
                    transform = layout.transforms.get(name)
                    keys[name] = transform(values) if transform else values
        report.rows += int(keep.sum())
        mask = pa.array(keep)
        yield drop_rows(cols, keep), {
            k: v[keep] if isinstance(v, np.ndarray) else v.filter(mask) for k, v in keys.items()
        }


def build_table(
    path: Path, layout: Layout, opts: ParseOptions, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Parse ``path`` into ``out_dir`` (ids/labels/feature_counts .npy); returns the meta."""
    report = ParseReport(strict=opts.strict)
    counters = {name: ValueCounter() for name in layout.fields}
    for _, keys in _valid_chunks(path, layout, opts, report, progress, f"count {path.name}"):
        for name, values in keys.items():
            counters[name].add(values)
    vocabs = [
        build_vocab(counters[name].counts(), opts.min_count,
                    exclude=() if name in layout.int_fields else ("",))  # empty category = OOV
        for name in layout.fields
    ]
    del counters
    vocab_sizes = [len(v) + 1 for v in vocabs]
    offsets = offsets_of(vocab_sizes)
    check_not_empty(path, report, layout.has_header)
    n_rows = report.rows
    counts = np.zeros(sum(vocab_sizes), dtype=np.int64)
    second = ParseReport()  # pass 2 sees the same lines; the first pass's report is the record
    shape = (n_rows, len(layout.fields))
    with NpyWriter(out_dir / "ids.npy", shape, np.int32) as ids, \
            NpyWriter(out_dir / "labels.npy", (n_rows,), np.float32) as labels:
        for cols, keys in _valid_chunks(path, layout, opts, second, progress, f"encode {path.name}"):
            chunk = np.empty((len(cols), len(layout.fields)), dtype=np.int32)
            for f, name in enumerate(layout.fields):
                chunk[:, f] = encode(keys[name], vocabs[f]) + offsets[f]
            if ids.rows + len(chunk) > n_rows:
                raise RuntimeError(f"{path} changed while parsing: more rows than counted")
            ids.write(chunk)
            labels.write(pc.equal(cols.column(layout.label), "1").to_numpy(zero_copy_only=False))
            counts += np.bincount(chunk.ravel(), minlength=len(counts))
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
