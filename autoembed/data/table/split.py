"""Train / validation / test parts of a table's rows: seeded random, or by time."""

from __future__ import annotations

import numpy as np

from autoembed.data.base import split_indices
from autoembed.data.table.schema import SplitSpec
from autoembed.data.vocab import ValueCounter

TRAIN, VAL, TEST = 0, 1, 2


def random_parts(n: int, spec: SplitSpec) -> np.ndarray:
    """int8 part of each of ``n`` rows, the same rows as :func:`split_indices` picks."""
    split = split_indices(n, spec.seed, tuple(spec.fractions))  # type: ignore[arg-type]
    parts = np.empty(n, dtype=np.int8)
    parts[split.train], parts[split.val], parts[split.test] = TRAIN, VAL, TEST
    return parts


def time_cutoffs(times: ValueCounter, spec: SplitSpec) -> tuple[float, float]:
    """Latest timestamps of train and of validation: the earliest ``fractions[0]`` of the timed
    rows train, the next ``fractions[1]`` validate (rows of one timestamp stay together)."""
    table = times.counts()
    values = table.column("values").to_numpy(zero_copy_only=False).astype(np.float64)
    counts = table.column("counts").to_numpy(zero_copy_only=False)
    if len(values) == 0:
        raise ValueError(f"split by {spec.by!r}: no row has a timestamp")
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(counts[order])
    total = cum[-1]
    train_end = values[np.searchsorted(cum, spec.fractions[0] * total, side="left")]
    val_at = min(np.searchsorted(cum, (spec.fractions[0] + spec.fractions[1]) * total, side="left"),
                 len(values) - 1)
    return float(train_end), float(max(values[val_at], train_end))


def time_parts(times: np.ndarray, cutoffs: tuple[float, float]) -> np.ndarray:
    """int8 part by timestamp; rows without one (NaN) train."""
    parts = np.full(len(times), TEST, dtype=np.int8)
    parts[times <= cutoffs[1]] = VAL
    parts[(times <= cutoffs[0]) | np.isnan(times)] = TRAIN
    return parts
