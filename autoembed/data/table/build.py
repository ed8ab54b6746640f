"""Parse a schema's tables into the cached arrays, streaming the log twice with bounded memory.

Pass 1 types and checks every row, joins the side tables, counts each field's values (and the
timestamps of a time split) and keeps the raw values of quantile-bucketed columns on disk.
Then the split is drawn, quantile edges are fitted on training rows only, vocabularies are
built, and pass 2 encodes the same rows into ``ids.npy``. Side tables are held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from autoembed.data.npy import NpyWriter
from autoembed.data.report import ParseReport
from autoembed.data.table.join import SideTable
from autoembed.data.table.keys import (
    QUANTILE_SAMPLE,
    bucket_keys,
    extract,
    matches,
    multi_valued,
    quantile_bounds,
)
from autoembed.data.table.reader import Chunk, Source, coerce, iter_chunks, resolve
from autoembed.data.table.schema import ColumnType, FileSpec, Schema, SchemaError
from autoembed.data.table.split import TRAIN, random_parts, time_cutoffs, time_parts
from autoembed.data.tabular import MISSING_KEY
from autoembed.data.vocab import ValueCounter, build_vocab, encode, offsets_of


@dataclass(frozen=True)
class TablePlan:
    """The schema's tables resolved, and which columns each must deliver, with their types."""

    schema: Schema
    log: Source
    sides: dict[str, Source]
    wanted: dict[str, list[str]]  # table name -> columns to read
    kinds: dict[str, ColumnType]  # column -> type it is parsed as

    @classmethod
    def make(cls, schema: Schema, root: Path) -> TablePlan:
        base = root if root.is_dir() else root.parent
        files = schema.files or {"log": FileSpec(path=str(root))}
        sources = {name: resolve(name, spec, base, schema.rename) for name, spec in files.items()}
        _check_renames(schema, sources)
        log = sources["log"]
        joined = [sources[j.table] for j in schema.join]
        wanted: dict[str, list[str]] = {name: [] for name in sources}

        def need(column: str, what: str, tables: list[Source]) -> str:
            for src in tables:
                if column in src.columns:
                    if column not in wanted[src.name]:
                        wanted[src.name].append(column)
                    return src.name
            have = "; ".join(f"{s.describe()} has {list(s.columns)}" for s in tables)
            raise SchemaError(f"column {column!r} ({what}) is in none of the tables searched: {have}")

        need(schema.label.column, "label", [log])
        if schema.split.by_time:
            need(schema.split.by, "split by time", [log])
        for j in schema.join:
            need(j.on, f"join key of {j.table}", [log])
            need(j.on, "join key", [sources[j.table]])
        for name in schema.features:
            if name in schema.extract:
                need(schema.extract[name].column, f"source of extracted {name}", [log, *joined])
            else:
                need(name, "feature", [log, *joined])
        kinds: dict[str, ColumnType] = {name: "string" for name in schema.extract}
        for columns in wanted.values():
            for c in columns:
                kinds[c] = schema.types.get(c, "string")
        for name in schema.numeric:
            kinds[name] = "float"
        kinds[schema.label.column] = "float"
        if schema.split.by_time:
            kinds[schema.split.by] = schema.types.get(schema.split.by, "float")
        unknown = sorted(set(schema.types) - set(kinds))
        if unknown:
            raise SchemaError(f"types: column(s) {unknown} are not used by the schema "
                              f"(used: {', '.join(kinds)})")
        sides = {j.table: sources[j.table] for j in schema.join}
        return cls(schema, log, sides, wanted, kinds)

    @property
    def files(self) -> list[Path]:
        return [p for src in (self.log, *self.sides.values()) for p in src.files]


def _check_renames(schema: Schema, sources: dict[str, Source]) -> None:
    raw = {c for s in sources.values() for c in s.raw_columns}
    unknown = sorted(set(schema.rename) - raw)
    if unknown:
        raise SchemaError(f"rename: column(s) {unknown} are in no table "
                          f"(columns: {', '.join(sorted(raw))})")


@dataclass
class Rows:
    """The kept rows of one log chunk: labels, per-field keys, timestamps, quantile raw values."""

    labels: np.ndarray
    keys: dict[str, Any]
    times: np.ndarray | None
    raw: dict[str, np.ndarray]


@dataclass
class Tally:
    """Pass-1 counts the checks after it need."""

    positives: int = 0
    dropped: list[int] = field(default_factory=list)
    label_min: float = np.inf
    label_max: float = -np.inf
    matched: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """Turns log chunks into :class:`Rows` (types, label rule, time, joins, extracted columns)."""

    def __init__(self, plan: TablePlan, chunk_bytes: int, report: ParseReport) -> None:
        self.plan, self.schema, self.chunk_bytes = plan, plan.schema, chunk_bytes
        self.positive = self.schema.label.positive_rule()
        self.drops = self.schema.label.drop_rules()
        self.sides = {
            j.table: SideTable.load(plan.sides[j.table], j.on,
                                    [c for c in plan.wanted[j.table] if c != j.on],
                                    lambda c: self.typed(c, report), report, chunk_bytes)
            for j in self.schema.join
        }
        self.bounds: dict[str, np.ndarray] = {}

    def typed(self, chunk: Chunk, report: ParseReport) -> Chunk:
        """``chunk`` with every column parsed as its type; rows with a value that does not parse
        are recorded in ``report`` and dropped."""
        bad_any = np.zeros(len(chunk.lines), dtype=bool)
        columns = {}
        for name in chunk.table.column_names:
            kind = self.plan.kinds[name]
            values, bad = coerce(chunk.table.column(name), kind)
            _record(report, chunk, bad & ~bad_any, name, f"{name} is not {kind}")
            bad_any |= bad
            columns[name] = values
        return Chunk(pa.table(columns), chunk.lines, chunk.file).filter(~bad_any)

    def chunks(self, report: ParseReport, tally: Tally | None = None) -> Iterator[Rows]:
        """Every log chunk's kept rows; ``report`` (and ``tally``) record what was skipped."""
        chunks = iter_chunks(self.plan.log, self.plan.wanted["log"], report, self.chunk_bytes)
        while True:
            with report.chunk():  # a chunk's bad lines are applied in line order (strict mode)
                chunk = next(chunks, None)
                if chunk is None:
                    break
                rows = self.rows(self.typed(chunk, report), report, tally)
            if rows is not None:
                report.rows += len(rows.labels)
                yield rows

    def rows(self, chunk: Chunk, report: ParseReport, tally: Tally | None) -> Rows | None:
        s = self.schema
        label = _numbers(chunk.table.column(s.label.column))
        empty = np.isnan(label)
        _record(report, chunk, empty, s.label.column, f"empty label {s.label.column}")
        keep = ~empty
        if self.positive is None:
            bad = keep & ~np.isin(label, [0.0, 1.0])
            _record(report, chunk, bad, s.label.column, f"label {s.label.column} is not 0 or 1")
            keep &= ~bad
        dropped = [matches(rule, label) & keep for rule in self.drops]
        for mask in dropped:
            keep &= ~mask
        report.note("label_dropped", int(sum(m.sum() for m in dropped)))
        times = None
        if s.split.by_time:
            times = _numbers(chunk.table.column(s.split.by))
            no_time = np.isnan(times) & keep
            report.note(f"empty_{s.split.by}", int(no_time.sum()))
            if s.split.empty == "drop":
                keep &= ~no_time
        chunk = chunk.filter(keep)
        label = label[keep]
        labels = (matches(self.positive, label) if self.positive else label == 1).astype(np.float32)
        if tally is not None:
            tally.positives += int(labels.sum())
            tally.dropped = [a + int(m.sum()) for a, m in
                             zip(tally.dropped or [0] * len(dropped), dropped, strict=True)]
            if len(label):
                tally.label_min = min(tally.label_min, float(label.min()))
                tally.label_max = max(tally.label_max, float(label.max()))
        if not len(labels):
            return None
        columns = {c: chunk.table.column(c).combine_chunks() for c in chunk.table.column_names}
        for j in s.join:
            index, matched = self.sides[j.table].lookup(columns[j.on])
            report.note(f"unmatched_{j.table}", len(index) - matched)
            if tally is not None:
                tally.matched[j.table] = tally.matched.get(j.table, 0) + matched
            wanted = [c for c in self.plan.wanted[j.table] if c != j.on and c not in columns]
            columns.update(self.sides[j.table].columns(index, wanted))
        for name, spec in s.extract.items():
            columns[name] = extract(columns[spec.column], spec.regex)
        keys: dict[str, Any] = {}
        raw: dict[str, np.ndarray] = {}
        for name in s.features:
            if name in s.numeric:
                numbers = _numbers(columns[name])
                spec = s.numeric[name]
                if spec.buckets == "quantile":
                    raw[name] = numbers
                    if name in self.bounds:
                        keys[name] = bucket_keys(numbers, spec, self.bounds[name])
                else:
                    keys[name] = bucket_keys(numbers, spec)
            elif name in s.multi_valued:
                keys[name] = multi_valued(columns[name], s.multi_valued[name])
            else:
                keys[name] = columns[name]
        return Rows(labels, keys, None if times is None else times[keep], raw)


def build_table(plan: TablePlan, opts: Any, out_dir: Path) -> dict[str, Any]:
    """Parse ``plan``'s tables into ``out_dir`` (ids, labels, feature_counts, split_parts)."""
    s = plan.schema
    report = ParseReport(strict=opts.strict)
    pipe = Pipeline(plan, opts.chunk_bytes, report)
    tally = Tally()
    quantile = [n for n, spec in s.numeric.items() if spec.buckets == "quantile"]
    counted = [n for n in s.features if n not in quantile]
    counters = {name: ValueCounter() for name in counted}
    times = ValueCounter()
    spill = {name: (out_dir / f".raw-{name}.bin").open("wb") for name in quantile}
    times_file = (out_dir / ".raw-times.bin").open("wb") if s.split.by_time else None
    for rows in pipe.chunks(report, tally):
        for name in counted:
            counters[name].add(rows.keys[name])
        for name in quantile:
            spill[name].write(rows.raw[name].tobytes())
        if rows.times is not None and times_file is not None:
            times_file.write(rows.times.tobytes())
            times.add(rows.times[~np.isnan(rows.times)])
    for fh in [*spill.values(), *([times_file] if times_file else [])]:
        fh.close()
    n = report.rows
    _check_pass_one(plan, report, tally)

    meta_split: dict[str, Any] = {"by": s.split.by}
    if s.split.by_time:
        cutoffs = time_cutoffs(times, s.split)
        parts = time_parts(np.fromfile(out_dir / ".raw-times.bin", dtype=np.float64), cutoffs)
        meta_split["cutoffs"] = list(cutoffs)
    else:
        parts = random_parts(n, s.split)
        meta_split["seed"] = s.split.seed
    meta_split["rows"] = np.bincount(parts, minlength=3).tolist()
    for name in quantile:
        pipe.bounds[name] = _fit_quantiles(out_dir / f".raw-{name}.bin", parts, s.numeric[name].n,
                                           s.split.seed)
    for path in out_dir.glob(".raw-*.bin"):
        path.unlink()

    vocabs = []
    for name in s.features:
        if name in quantile:
            vocabs.append(pa.array([*range(len(pipe.bounds[name]) + 1), MISSING_KEY], pa.int64()))
        else:
            exclude = ("",) if name not in s.numeric and plan.kinds.get(name, "string") == "string" else ()
            vocabs.append(build_vocab(counters[name].counts(), s.min_count_of(name, opts.min_count),
                                      exclude=exclude))
    del counters
    vocab_sizes = [len(v) + 1 for v in vocabs]
    offsets = offsets_of(vocab_sizes)
    counts = np.zeros(sum(vocab_sizes), dtype=np.int64)
    with NpyWriter(out_dir / "ids.npy", (n, len(vocabs)), np.int32) as ids, \
            NpyWriter(out_dir / "labels.npy", (n,), np.float32) as labels:
        for rows in pipe.chunks(ParseReport()):
            chunk = np.empty((len(rows.labels), len(vocabs)), dtype=np.int32)
            for f, name in enumerate(s.features):
                chunk[:, f] = encode(rows.keys[name], vocabs[f]) + offsets[f]
            if ids.rows + len(chunk) > n:
                raise RuntimeError(f"{plan.log.describe()} changed while parsing: more rows than counted")
            ids.write(chunk)
            labels.write(rows.labels)
            counts += np.bincount(chunk.ravel(), minlength=len(counts))
    np.save(out_dir / "feature_counts.npy", counts)
    np.save(out_dir / "split_parts.npy", parts)
    return {"field_names": list(s.features), "vocab_sizes": vocab_sizes,
            "parse_report": report.to_dict(), "split": meta_split,
            "quantile_bounds": {k: v.tolist() for k, v in pipe.bounds.items()}}


def _check_pass_one(plan: TablePlan, report: ParseReport, tally: Tally) -> None:
    """Errors for a schema that the data contradicts: no row, a rule or a join matching nothing."""
    s, where = plan.schema, plan.log.describe()
    if report.rows == 0:
        first = report.examples[0] if report.examples else None
        why = (f"; skipped {dict(report.skipped)}, first: {first['file']}:{first['line']} "
               f"{first['reason']} ({first['detail']})") if first else ""
        raise ValueError(f"no usable row in {where}{why}")
    seen = f"values of {s.label.column} seen: {tally.label_min:g} .. {tally.label_max:g}"
    rule = f"{s.label.column} {s.label.positive}" if s.label.positive else f"{s.label.column} == 1"
    if tally.positives == 0:
        raise ValueError(f"label rule '{rule}' matches no row of {where} ({seen}); fix label.positive")
    if tally.positives == report.rows:
        raise ValueError(f"label rule '{rule}' matches every row of {where} ({seen}): "
                         "a label needs both classes; fix label.positive or label.drop")
    for rule_text, count in zip(s.label.drop, tally.dropped, strict=False):
        if count == 0:
            raise ValueError(f"label.drop rule '{s.label.column} {rule_text}' matches no row of "
                             f"{where} ({seen}); remove or fix it")
    for j in s.join:
        if tally.matched.get(j.table, 0) == 0:
            raise ValueError(f"join on {j.on!r}: no row of {where} has a key found in "
                             f"{plan.sides[j.table].describe()}; check the key column and its type")


def _fit_quantiles(path: Path, parts: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Quantile edges from the training rows' values (a seeded sample when there are many)."""
    values = np.memmap(path, dtype=np.float64, mode="r") if path.stat().st_size else np.empty(0)
    train = int((parts == TRAIN).sum())
    keep_p = min(1.0, QUANTILE_SAMPLE / max(train, 1))
    rng = np.random.default_rng(seed)
    sample, step = [], 1 << 20
    for lo in range(0, len(values), step):
        mask = parts[lo : lo + step] == TRAIN
        if keep_p < 1:
            mask &= rng.random(len(mask)) < keep_p
        sample.append(np.asarray(values[lo : lo + step])[mask])
    return quantile_bounds(np.concatenate(sample) if sample else np.empty(0), n)


def _numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """float64 numpy values, NaN for null."""
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _record(report: ParseReport, chunk: Chunk, mask: np.ndarray, column: str, reason: str) -> None:
    idx = np.flatnonzero(mask)
    if len(idx):
        shown = chunk.table.column(column).take(pa.array(idx)).to_pylist()
        report.record_bad(chunk.file, chunk.lines[idx], [reason] * len(idx),
                          [f"{column} = {'' if v is None else str(v)[:40]!r}" for v in shown])
