"""Column values -> category keys: label rules, numeric bucketing, multi-valued columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.table.schema import MultiValuedSpec, NumericSpec, Rule
from autoembed.data.tabular import MISSING_KEY, SMALL_BASE, integer_keys

QUANTILE_SAMPLE = 1_000_000  # training values kept to fit quantile buckets (seeded sample)

_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
            "==": np.equal, "!=": np.not_equal}


def matches(rule: Rule, values: np.ndarray) -> np.ndarray:
    """Boolean mask of ``values`` satisfying ``rule`` (NaN never does)."""
    with np.errstate(invalid="ignore"):
        return _COMPARE[rule.op](values, rule.value) & ~np.isnan(values)


def bucket_keys(values: np.ndarray, spec: NumericSpec, bounds: np.ndarray | None = None) -> np.ndarray:
    """int64 bucket keys of float ``values`` (NaN = missing, a key of its own).

    ``log_square``: Criteo's ``int(ln(v)^2)`` for v > 2, v <= 2 kept apart; ``log2``:
    ``floor(log2(v))`` for v >= 1, all v < 1 one key; ``quantile``: index among ``bounds``.
    """
    if spec.buckets == "log_square":
        return integer_keys(values)
    missing = np.isnan(values)
    if spec.buckets == "log2":
        with np.errstate(invalid="ignore", divide="ignore"):
            keys = np.where(values >= 1, np.floor(np.log2(np.maximum(values, 1.0))), SMALL_BASE)
    else:
        if bounds is None:
            raise ValueError("quantile buckets need bounds fitted on the training split")
        keys = np.searchsorted(bounds, np.nan_to_num(values), side="right").astype(np.float64)
    return np.where(missing, MISSING_KEY, keys).astype(np.int64)


def quantile_bounds(sample: np.ndarray, n: int) -> np.ndarray:
    """Inner edges of ``n`` equal-mass buckets over the non-missing ``sample`` (duplicates merged)."""
    sample = sample[~np.isnan(sample)]
    if len(sample) == 0:
        return np.empty(0)
    return np.unique(np.quantile(sample, np.linspace(0, 1, n + 1)[1:-1]))


def multi_valued(values: pa.Array, spec: MultiValuedSpec) -> pa.Array:
    """The whole string, or its first ``spec.sep``-separated value."""
    if spec.mode == "whole":
        return values
    return pc.list_element(pc.split_pattern(values, pattern=spec.sep, max_splits=1), 0)


def extract(values: pa.Array, regex: str) -> pa.Array:
    """The named group of ``regex`` in each value (null where it does not match)."""
    found = pc.extract_regex(values, pattern=regex)
    return pc.struct_field(found, [0])
