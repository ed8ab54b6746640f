"""Per-field vocabularies: count values across chunks, keep the frequent ones, encode to ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Collapse the per-chunk count tables once they hold this many entries (bounds memory).
_COLLAPSE_AT = 2_000_000


class ValueCounter:
    """Occurrence counts of one field's values, accumulated chunk by chunk."""

    def __init__(self) -> None:
        self._parts: list[pd.Series] = []
        self._size = 0

    def add(self, values: pd.Series | np.ndarray) -> None:
        counts = pd.Series(values).value_counts(sort=False)
        self._parts.append(counts)
        self._size += len(counts)
        if self._size > _COLLAPSE_AT and len(self._parts) > 1:
            self._parts = [self.counts()]
            self._size = len(self._parts[0])

    def counts(self) -> pd.Series:
        """Value -> count over everything added so far."""
        if not self._parts:
            return pd.Series([], dtype=np.int64)
        if len(self._parts) == 1:
            return self._parts[0].astype(np.int64)
        return pd.concat(self._parts).groupby(level=0, sort=False).sum().astype(np.int64)


def build_vocab(counts: pd.Series, min_count: int = 1, exclude: tuple = ()) -> pd.Index:
    """Values seen at least ``min_count`` times, most frequent first (ties by value).

    Local id of ``vocab[k]`` is ``k + 1``; id 0 is the field's OOV id (rare, excluded, unseen).
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    kept = counts[counts >= min_count]
    if exclude:
        kept = kept[~kept.index.isin(list(exclude))]
    frame = pd.DataFrame({"value": kept.index, "count": kept.to_numpy()})
    frame = frame.sort_values(["count", "value"], ascending=[False, True], kind="stable")
    return pd.Index(frame["value"].to_numpy())


def encode(values: pd.Series | np.ndarray, vocab: pd.Index) -> np.ndarray:
    """Local ids (int32): ``vocab`` position + 1, or 0 for values not in ``vocab``."""
    return (vocab.get_indexer(values) + 1).astype(np.int32)


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
