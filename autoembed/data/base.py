"""The in-memory form every dataset takes: compact arrays in one global feature-id space."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class FieldLayout:
    """One global id space over fields: field ``f``'s local id ``j`` is ``field_offsets[f] + j``
    (shared by :class:`CTRData` and the embeddings' ``EmbeddingSpec``; subclasses have
    ``vocab_sizes``, the rows per field, and ``field_names``)."""

    vocab_sizes: tuple[int, ...]

    @property
    def num_fields(self) -> int:
        return len(self.vocab_sizes)

    @property
    def num_features(self) -> int:
        return int(sum(self.vocab_sizes))

    @property
    def field_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    @property
    def field_of_feature(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_fields), self.vocab_sizes)


@dataclass
class CTRData(FieldLayout):
    """A parsed CTR dataset.

    ``ids`` holds global feature ids: field ``f``'s local id ``j`` is ``field_offsets[f] + j``, so
    one embedding table of ``num_features`` rows serves every field. Each field reserves local id 0
    for out-of-vocabulary / missing values.
    """

    name: str
    ids: np.ndarray  # int32 [N, F], global ids
    labels: np.ndarray  # float32 [N] in {0, 1}
    field_names: tuple[str, ...]
    vocab_sizes: tuple[int, ...]  # rows per field, OOV id included
    feature_counts: np.ndarray  # int64 [num_features]: occurrences of each global id in ``ids``
    meta: dict[str, Any] = field(default_factory=dict)  # parse report, options, source hash ...
    # Synthetic data only: the planted truth.
    planted_dims: np.ndarray | None = None  # int [num_features]: true embedding size per feature
    teacher_probs: np.ndarray | None = None  # float32 [N]: teacher's click probability per row
    # Datasets that fix their own split (``table``): int8 [N], 0 train / 1 validation / 2 test.
    split_parts: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ids.ndim != 2 or self.ids.shape[1] != len(self.field_names):
            raise ValueError(
                f"ids must be [N, {len(self.field_names)}] for fields {self.field_names}, "
                f"got shape {self.ids.shape}"
            )
        if len(self.labels) != len(self.ids):
            raise ValueError(f"{len(self.labels)} labels for {len(self.ids)} rows")
        if len(self.vocab_sizes) != len(self.field_names):
            raise ValueError("one vocab size per field is required")

    @property
    def num_rows(self) -> int:
        return int(self.ids.shape[0])


    def counts_in(self, rows: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
        """Occurrences of each global id in ``rows`` (int64 [num_features]), counted ``chunk``
        rows at a time so a memory-mapped ``ids`` is never copied whole."""
        counts = np.zeros(self.num_features, dtype=np.int64)
        for lo in range(0, len(rows), chunk):
            counts += np.bincount(np.asarray(self.ids[rows[lo : lo + chunk]]).ravel(),
                                  minlength=self.num_features)
        return counts


@dataclass(frozen=True)
class Split:
    """Row indices of the train / validation / test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def data_split(data: CTRData, seed: int) -> Split:
    """The split a dataset fixes itself (``data.split_parts``), else a random 8:1:1 from ``seed``."""
    if data.split_parts is None:
        return split_indices(data.num_rows, seed)
    parts = np.asarray(data.split_parts)
    return Split(*(np.flatnonzero(parts == k) for k in range(3)))


def split_indices(
    n: int, seed: int, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> Split:
    """Random split of ``range(n)`` by ``ratios`` (default 8:1:1), reproducible from ``seed``."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * ratios[0]))
    n_val = int(round(n * ratios[1]))
    return Split(
        train=np.sort(perm[:n_train]),
        val=np.sort(perm[n_train : n_train + n_val]),
        test=np.sort(perm[n_train + n_val :]),
    )
