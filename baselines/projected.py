"""Per-block embedding sizes with a bias-free projection to ``D``.

The shared mechanism of the size-assignment baselines: features are partitioned into blocks
(MDE: fields or frequency blocks; AutoEmb retrain: features grouped by their size; AutoDim
retrain: fields); block ``b`` stores an ``n_b x d_b`` table and, unless ``d_b == D``, a
``d_b -> D`` projection. ``num_params`` counts tables and projections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, dense_bytes
from autoembed.embeddings.gather import gather_rows


class BlockTables(nn.Module):
    """``block_of_feature[i]`` names the block of global feature ``i``; block ``b`` has size
    ``block_dims[b]``. Forward maps ids of any shape to ``[..., D]``.

    With ``field_of_feature`` given and blocks that are exactly the fields (MDE's one block per
    field, AutoDim's retrain), a ``[B, F]`` batch is looked up column by column: no sort and no
    host sync per step (the general path needs the per-block counts on the host to split)."""

    def __init__(self, dim: int, block_of_feature: np.ndarray, block_dims: Sequence[int],
                 field_of_feature: np.ndarray | None = None) -> None:
        super().__init__()
        block_of = np.asarray(block_of_feature, dtype=np.int64)
        dims = [int(d) for d in block_dims]
        if block_of.ndim != 1 or len(block_of) == 0:
            raise ValueError("block_of_feature must be a non-empty 1-d array (one block per feature)")
        if block_of.min() < 0 or block_of.max() >= len(dims):
            raise ValueError(f"block ids must lie in [0, {len(dims)}) (one size per block)")
        if any(d < 1 or d > dim for d in dims):
            raise ValueError(f"block sizes must lie in [1, D={dim}], got {dims}")
        self.dim = dim
        self.block_dims = dims
        sizes = np.bincount(block_of, minlength=len(dims))
        # Row of each feature inside its block: rank among the features of the same block.
        order = np.argsort(block_of, kind="stable")
        rows = np.empty_like(block_of)
        rows[order] = np.arange(len(block_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        self.register_buffer("block_of", torch.from_numpy(block_of), persistent=False)
        self.register_buffer("row_of", torch.from_numpy(rows), persistent=False)
        self.rows_per_block = [int(n) for n in sizes]
        self.block_of_field = _field_blocks(block_of, field_of_feature)
        self.tables = nn.ParameterList(
            [nn.Parameter(torch.empty(n, d)) for n, d in zip(self.rows_per_block, dims, strict=True)]
        )
        self.projections = nn.ModuleList(
            [nn.Identity() if d == dim else nn.Linear(d, dim, bias=False) for d in dims]
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for table in self.tables:
            if table.numel():
                nn.init.xavier_uniform_(table)
        for proj in self.projections:
            if isinstance(proj, nn.Linear):
                nn.init.xavier_uniform_(proj.weight)

    def _lookup(self, block: int, rows: torch.Tensor) -> torch.Tensor:
        return self.projections[block](gather_rows(self.tables[block], rows))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.block_of_field is not None and ids.dim() == 2 and ids.shape[1] == len(self.block_of_field):
            rows = self.row_of[ids.long()]
            return torch.stack(
                [self._lookup(b, rows[:, f]) for f, b in enumerate(self.block_of_field)], dim=1)
        flat = ids.reshape(-1).long()
        rows = self.row_of[flat]
        if len(self.block_dims) == 1:
            out = self._lookup(0, rows)
        else:
            blocks = self.block_of[flat]
            order = torch.argsort(blocks, stable=True)
            counts = torch.bincount(blocks, minlength=len(self.block_dims)).tolist()
            pieces = [
                self._lookup(b, rows[seg]) for b, seg in enumerate(order.split(counts)) if len(seg)
            ]
            gathered = torch.cat(pieces)
            out = gathered.new_empty(gathered.shape).index_copy(0, order, gathered)
        return out.reshape(*ids.shape, self.dim)

    def num_params(self) -> int:
        tables = sum(n * d for n, d in zip(self.rows_per_block, self.block_dims, strict=True))
        projections = sum(d * self.dim for d in self.block_dims if d != self.dim)
        return int(tables + projections)

    def feature_dims(self) -> np.ndarray:
        return np.asarray(self.block_dims, dtype=np.int64)[self.block_of.cpu().numpy()]


def _field_blocks(block_of: np.ndarray, field_of: np.ndarray | None) -> list[int] | None:
    """The block of each field when blocks and fields correspond one to one, else ``None``."""
    if field_of is None:
        return None
    field_of = np.asarray(field_of, dtype=np.int64)
    pairs = np.unique(np.stack([field_of, block_of]), axis=1)  # distinct (field, block) pairs
    fields, blocks = pairs
    if len(np.unique(fields)) != len(fields) or len(np.unique(blocks)) != len(blocks):
        return None
    if not np.array_equal(fields, np.arange(len(fields))):
        return None
    return [int(b) for b in blocks]


@dataclass
class FixedSizeConfig:
    """No hyperparameters: the sizes come from a search phase."""


class BlockEmbedding(EmbeddingMethod):
    """Fixed per-block sizes, each block projected to ``D`` (the retrain form of searched sizes)."""

    name = "blocks"
    Config = FixedSizeConfig

    def __init__(
        self,
        spec: EmbeddingSpec,
        config: Any,
        block_of_feature: np.ndarray,
        block_dims: Sequence[int],
    ) -> None:
        super().__init__(spec, config)
        if len(block_of_feature) != spec.num_features:
            raise ValueError(
                f"block_of_feature has {len(block_of_feature)} entries for {spec.num_features} features"
            )
        self.blocks = BlockTables(spec.dim, block_of_feature, block_dims, spec.field_of_feature)

    @classmethod
    def grouped_by_size(cls, spec: EmbeddingSpec, dims_per_feature: np.ndarray) -> BlockEmbedding:
        """One block (table + projection) per distinct size in ``dims_per_feature``."""
        sizes, block_of = np.unique(np.asarray(dims_per_feature, dtype=np.int64), return_inverse=True)
        return cls(spec, FixedSizeConfig(), block_of, sizes.tolist())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.blocks(ids)

    def num_params(self) -> int:
        return self.blocks.num_params()

    def storage_bytes(self) -> int:
        return dense_bytes(self.num_params())

    def feature_dims(self) -> np.ndarray:
        return self.blocks.feature_dims()

