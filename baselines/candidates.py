"""Soft selection over candidate sizes, shared by AutoEmb and AutoDim.

Every feature has one embedding per candidate size ``c`` (one ``num_features x c`` table per
candidate); each is projected to ``D`` (bias-free), batch-normalised (and optionally passed
through tanh). The search method mixes the ``K`` candidate outputs with its own weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingSpec, RetrainPoint
from autoembed.embeddings.gather import gather_rows
from baselines.projected import BlockEmbedding


def candidate_sizes(candidates: Sequence[int], dim: int) -> tuple[int, ...]:
    """Sorted distinct candidate sizes capped at ``dim``; a clear error for bad input."""
    if not candidates or any(int(c) < 1 for c in candidates):
        raise ValueError(f"candidates must be a non-empty list of sizes >= 1, got {list(candidates)}")
    return tuple(sorted({min(int(c), dim) for c in candidates}))


class CandidateStack(nn.Module):
    """Maps ids ``[B, F]`` to the candidates' outputs ``[B, F, K, D]``."""

    def __init__(self, spec: EmbeddingSpec, sizes: Sequence[int], tanh: bool) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.dim = spec.dim
        self.tanh = tanh
        self.tables = nn.ParameterList(
            [nn.Parameter(torch.empty(spec.num_features, c)) for c in self.sizes]
        )
        self.projections = nn.ModuleList([nn.Linear(c, spec.dim, bias=False) for c in self.sizes])
        self.norms = nn.ModuleList([nn.BatchNorm1d(spec.dim) for _ in self.sizes])
        for table, proj in zip(self.tables, self.projections, strict=True):
            nn.init.xavier_uniform_(table)
            nn.init.xavier_uniform_(proj.weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1)
        outs = []
        for table, proj, norm in zip(self.tables, self.projections, self.norms, strict=True):
            out = norm(proj(gather_rows(table, flat)))
            outs.append(torch.tanh(out) if self.tanh else out)
        return torch.stack(outs, dim=1).reshape(*ids.shape, len(self.sizes), self.dim)

    def num_params(self) -> int:
        """Tables, projections and batch-norm affine parameters (what the search model stores)."""
        return int(sum(p.numel() for p in self.parameters()))


def mix(candidates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum over the candidate axis: ``[B, F, K, D] x [..., K] -> [B, F, D]``."""
    return (candidates * weights.unsqueeze(-1)).sum(dim=-2)


def argmax_point(sizes: Sequence[int], dims: np.ndarray) -> RetrainPoint:
    """The single ``argmax`` retrain point of a soft-selection search."""
    dims = np.asarray(dims, dtype=np.int64)
    histogram = {int(c): int((dims == c).sum()) for c in sizes}
    return RetrainPoint(
        label="argmax",
        info={"size_histogram": histogram, "mean_dim": float(dims.mean())},
        state=dims,
    )


def retrain_from_point(spec: EmbeddingSpec, point: RetrainPoint) -> BlockEmbedding:
    """Fresh fixed-size embedding for a searched per-feature size array (one block per size)."""
    dims = np.asarray(point.state, dtype=np.int64)
    if dims.shape != (spec.num_features,):
        raise ValueError(
            f"retrain point {point.label!r} must hold one size per feature ({spec.num_features}), "
            f"got shape {dims.shape}"
        )
    return BlockEmbedding.grouped_by_size(spec, dims)
