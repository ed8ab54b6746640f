"""Per-field vocabularies: count values across chunks, keep the frequent ones, encode to ids."""

from __future__ import annotations

from concurrent.futures import Executor, Future

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Collapse the per-chunk count tables once they hold max(this, half the distinct values of the
# last collapse) entries more than that collapse left: memory stays within 1.5x the distinct
# values (plus this), and each entry is merged at most three times.
_COLLAPSE_AT = 1 << 18


def _arrow(values: pa.Array | np.ndarray | pd.Series) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, from_pandas=True)  # NaN / None -> null (missing)


class ValueCounter:
    """Occurrence counts of one field's values, accumulated chunk by chunk (nulls not counted).

    Given an ``executor``, the periodic merges of the parts run there while parts keep coming.
    """

    def __init__(self, executor: Executor | None = None) -> None:
        self._parts: list[pa.Table] = []
        self._size = 0  # entries held, those being merged included
        self._limit = _COLLAPSE_AT
        self._executor = executor
        self._merging: Future[pa.Table] | None = None
        self._merged: pa.Table | None = None  # the last merge's table: each value once

    @property
    def entries(self) -> int:
        """Count table entries held (a value may be listed once per part): the size of the
        merge that :meth:`counts` still has to do, roughly."""
        return self._size

    def add(self, values: pa.Array | np.ndarray | pd.Series) -> None:
        counts = pc.value_counts(_arrow(values).drop_null())
        self._add_part(pa.table({"values": counts.field("values"), "counts": counts.field("counts")}))

    def add_counts(self, values: pa.Array, counts: np.ndarray) -> None:
        """Add ``values`` seen ``counts`` times each (a block's dictionary and the occurrences
        of its entries; a value may be listed more than once)."""
        self._add_part(pa.table({"values": values, "counts": pa.array(counts, pa.int64())}))

    def _add_part(self, part: pa.Table) -> None:
        self._parts.append(part)
        self._size += part.num_rows
        if self._merging is not None and self._merging.done():
            self._take_merged()
        if self._size > self._limit and len(self._parts) > 1 and self._merging is None:
            if self._executor is None:
                self._parts = [self._merged] = [_merge(self._parts)]
                self._take_merged()
            else:
                self._merging = self._executor.submit(_merge, self._parts)
                self._parts = []

    def _take_merged(self) -> None:
        """Put the finished merge first among the parts; the next merge waits for half as many
        entries more than it left (at least ``_COLLAPSE_AT``)."""
        if self._merging is not None:
            self._parts.insert(0, self._merging.result())
            self._merged = self._parts[0]
            self._merging = None
        merged = self._parts[0].num_rows
        self._size = sum(p.num_rows for p in self._parts)
        self._limit = self._size + max(_COLLAPSE_AT, merged // 2)

    def counts(self) -> pa.Table:
        """Table (values, counts) over everything added so far."""
        if self._merging is not None:
            self._take_merged()
        if len(self._parts) == 1 and self._parts[0] is self._merged:
            return self._parts[0]  # (a part as added may list a value twice)
        if not self._parts:
            return pa.table({"values": pa.array([], pa.string()), "counts": pa.array([], pa.int64())})
        return _merge(self._parts)


def _merge(parts: list[pa.Table]) -> pa.Table:
    """One (values, counts) table summing ``parts``."""
    table = pa.concat_tables(parts)
    values, indices = distinct(table.column("values"))
    counts = np.bincount(indices, minlength=len(values),  # float64 sums: exact below 2**53
                         weights=table.column("counts").to_numpy())
    return pa.table({"values": values, "counts": pa.array(counts.astype(np.int64), pa.int64())})


def distinct(values: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a column, in order of first occurrence, and the index of each
    row's value (int32); its chunks are hashed in place, not joined first. Integers without
    nulls are hashed by pandas' ``factorize`` (about twice as fast as Arrow's for them)."""
    if pa.types.is_integer(values.type) and not values.null_count:
        codes, uniques = pd.factorize(values.to_numpy())
        return pa.array(uniques, values.type), codes.astype(np.int32)
    chunks = pc.dictionary_encode(values).chunks  # one dictionary, shared by the chunks
    if not chunks:
        return pa.array([], values.type), np.empty(0, np.int32)
    return chunks[0].dictionary, np.concatenate([c.indices.to_numpy() for c in chunks])


def build_vocab(counts: pa.Table, min_count: int = 1, exclude: tuple = ()) -> pa.Array:
    """Values seen at least ``min_count`` times, most frequent first (ties by value).

    Local id of ``vocab[k]`` is ``k + 1``; id 0 is the field's OOV id (rare, excluded, unseen).
    """
    return vocab_counts(counts, min_count, exclude)[0]


def vocab_counts(
    counts: pa.Table | ValueCounter, min_count: int = 1, exclude: tuple = ()
) -> tuple[pa.Array, np.ndarray]:
    """:func:`build_vocab` and the count of each of its values (int64)."""
    if isinstance(counts, ValueCounter):
        counts = counts.counts()
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    kept = counts.filter(pc.greater_equal(counts.column("counts"), min_count))
    if exclude:
        kept = kept.filter(pc.invert(pc.is_in(kept.column("values"),
                                                pa.array(list(exclude), kept.column("values").type))))
    order = pc.sort_indices(kept, sort_keys=[("counts", "descending"), ("values", "ascending")])
    kept = kept.take(order)
    return (kept.column("values").combine_chunks(),
            kept.column("counts").to_numpy().astype(np.int64))


class Lookup:
    """Local ids in one vocabulary (see :func:`encode`); for integer values the hash table of
    the vocabulary is built once, not on every call (pandas' look-up: 3-4x Arrow's for them)."""

    def __init__(self, vocab: pa.Array) -> None:
        self.vocab = vocab
        self._index = None
        if pa.types.is_integer(vocab.type) and not vocab.null_count:
            self._index = pd.Index(vocab.to_numpy())
            self._index.get_indexer(vocab.to_numpy()[:0])  # hash table built now, not in threads

    def __call__(self, values: pa.Array | np.ndarray | pd.Series) -> np.ndarray:
        values = _arrow(values)
        if self._index is not None and values.type == self.vocab.type and not values.null_count:
            return (self._index.get_indexer(values.to_numpy()) + 1).astype(np.int32)
        position = pc.index_in(values, value_set=self.vocab).fill_null(-1)
        return (position.to_numpy(zero_copy_only=False) + 1).astype(np.int32)


def encode(values: pa.Array | np.ndarray | pd.Series, vocab: pa.Array) -> np.ndarray:
    """Local ids (int32): ``vocab`` position + 1, or 0 for values not in ``vocab`` (and missing)."""
    return Lookup(vocab)(values)


def encode_columns(columns: dict[str, pd.Series], min_count: int = 1) -> tuple[np.ndarray, list[int]]:
    """Encode in-memory columns (NaN = missing -> id 0): local ids [N, F] and vocab sizes."""
    local, sizes = [], []
    for values in columns.values():
        counter = ValueCounter()
        counter.add(values)
        vocab = build_vocab(counter.counts(), min_count)
        local.append(encode(values, vocab))
        sizes.append(len(vocab) + 1)
    return np.stack(local, axis=1), sizes


def offsets_of(vocab_sizes: list[int] | tuple[int, ...]) -> np.ndarray:
    """Global id of each field's local id 0."""
    return np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
