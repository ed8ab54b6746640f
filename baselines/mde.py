"""MDE: mixed-dimension embeddings (Ginart et al. 2019), a single-phase power-law size rule.

Blocks are fields, or ``freq_blocks`` frequency blocks inside each field (its features sorted
by training frequency and cut into blocks growing by 2x, so the popular head is the smallest
block). Block ``i`` of ``n_i`` rows gets

    d_i = d0 * (n_min / n_i) ** alpha                     (default form), or
    d_i = B / sum_j(n_j ** (1 - alpha)) * n_i ** -alpha    (``budget`` = B embedding rows x dims),

rounded (to a power of 2 with ``round_pow2``), floored at 1 and capped at D. For a frequency
block, ``n_i`` is its *effective* row count: the field's row count at the block's mean access
rate (``rows * field_count / block_count``), which equals the plain row count for a whole field,
so the popular head gets more dimensions. Blocks of at most ``small_block`` rows keep ``d0``;
``n_min`` and the budget's sum run over the other blocks (the budget minus the small blocks'
``rows * d0``). Each block has a bias-free projection ``d_i -> D`` (none when ``d_i == D``);
``num_params`` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoembed.config import check_at_least
from autoembed.embeddings.base import EmbeddingSpec
from baselines.projected import BlockEmbedding


@dataclass
class MDEConfig:
    alpha: float = 0.3  # power-law exponent; 0 gives uniform d0
    d0: int | None = None  # size of the smallest (most popular) block; default D
    budget: int | None = None  # total embedding rows x dims B; replaces d0's rule when set
    freq_blocks: int = 1  # frequency blocks per field (1: one block per field)
    small_block: int = 0  # blocks with at most this many rows keep d0
    round_pow2: bool = False  # round sizes to the nearest power of 2

    def __post_init__(self) -> None:
        check_at_least("", alpha=(self.alpha, 0), d0=(self.d0, 1), budget=(self.budget, 1),
                       freq_blocks=(self.freq_blocks, 1), small_block=(self.small_block, 0))


def mde_dims(
    rows: np.ndarray,
    dim: int,
    alpha: float,
    d0: int | None = None,
    budget: int | None = None,
    small_block: int = 0,
    round_pow2: bool = False,
    effective_rows: np.ndarray | None = None,
) -> np.ndarray:
    """The MDE size of each block of ``rows`` rows (``effective_rows`` drives the rule when given)."""
    rows = np.asarray(rows, dtype=np.float64)
    eff = rows if effective_rows is None else np.asarray(effective_rows, dtype=np.float64)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if (rows < 1).any() or eff.shape != rows.shape:
        raise ValueError("every block needs at least one row (and one effective size per block)")
    base = dim if d0 is None else int(d0)
    if base < 1:
        raise ValueError(f"d0 must be >= 1, got {d0}")
    base = min(base, dim)
    small = rows <= small_block
    dims = np.full(len(rows), base, dtype=np.int64)
    rule = ~small
    if not rule.any():
        return dims
    if budget is not None:
        left = budget - float((rows[small] * base).sum())
        if left <= 0:
            raise ValueError(
                f"budget {budget} does not cover the small blocks ({int((rows[small] * base).sum())} "
                "values at d0); raise budget or lower small_block/d0"
            )
        scale = left / float((rows[rule] * eff[rule] ** -alpha).sum())
    else:
        scale = base * eff[rule].min() ** alpha
    raw = scale * eff[rule] ** -alpha
    rounded = 2.0 ** np.round(np.log2(raw)) if round_pow2 else np.round(raw)
    dims[rule] = np.clip(rounded, 1, dim).astype(np.int64)
    return dims


def frequency_blocks(counts: np.ndarray, num_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Split one field's features (by descending ``counts``) into at most ``num_blocks`` blocks whose
    sizes grow 2x; returns (block of each feature, effective rows of each block)."""
    n = len(counts)
    weights = 2.0 ** np.arange(num_blocks)
    cuts = np.unique(np.clip(np.round(n * np.cumsum(weights) / weights.sum()), 1, n).astype(int))
    order = np.argsort(-np.asarray(counts), kind="stable")
    block_sorted = np.searchsorted(cuts, np.arange(n), side="right")
    block_of = np.empty(n, dtype=np.int64)
    block_of[order] = block_sorted
    rows = np.bincount(block_of, minlength=len(cuts)).astype(np.float64)
    hits = np.bincount(block_of, weights=counts, minlength=len(cuts))
    effective = rows * max(float(np.sum(counts)), 1.0) / np.maximum(hits, 1.0)
    return block_of, effective


class MDEEmbedding(BlockEmbedding):
    """MDE (Ginart et al. 2019): power-law block sizes with a projection to D."""

    name = "mde"
    Config = MDEConfig

    def __init__(self, spec: EmbeddingSpec, config: MDEConfig | None = None) -> None:
        config = config or MDEConfig()
        block_of, rows, effective = self._blocks(spec, config.freq_blocks)
        dims = mde_dims(
            rows, spec.dim, config.alpha, config.d0, config.budget,
            config.small_block, config.round_pow2, effective,
        )
        super().__init__(spec, config, block_of, dims.tolist())

    @staticmethod
    def _blocks(spec: EmbeddingSpec, freq_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if freq_blocks == 1:
            rows = np.asarray(spec.vocab_sizes, dtype=np.float64)
            return spec.field_of_feature.astype(np.int64), rows, rows
        block_of, effective, first = [], [], 0
        counts = np.asarray(spec.feature_counts)
        for offset, size in zip(spec.field_offsets, spec.vocab_sizes, strict=True):
            local, eff = frequency_blocks(counts[offset : offset + size], freq_blocks)
            block_of.append(local + first)
            effective.append(eff)
            first += len(eff)
        block_of_all = np.concatenate(block_of)
        rows = np.bincount(block_of_all, minlength=first).astype(np.float64)
        return block_of_all, rows, np.concatenate(effective)
