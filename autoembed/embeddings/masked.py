"""A fixed-mask embedding: PEP's retrain phase (lottery-ticket rewind under a saved mask).

The mask is frozen: the forward multiplies the gathered rows by their mask rows, so a pruned
entry's output and gradient are exactly zero; with a zero gradient and a zero value, Adam
(coupled L2 or AdamW), SGD and momentum leave the stored value exactly zero too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, dense_bytes


def column_index_dtype(dim: int) -> np.dtype:
    """Smallest unsigned integer holding a column index < ``dim`` (uint8 for D <= 256,
    uint16 for D <= 65536, else int32)."""
    if dim <= 1 << 8:
        return np.dtype(np.uint8)
    if dim <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def row_pointer_dtype(nnz: int) -> np.dtype:
    """int32 row pointers while ``nnz`` fits, int64 beyond."""
    return np.dtype(np.int32) if nnz < 2**31 else np.dtype(np.int64)


def csr_bytes(num_rows: int, dim: int, nnz: int) -> int:
    """Bytes of a CSR table: float32 values + column indices + ``num_rows + 1`` row pointers."""
    return (nnz * 4 + nnz * column_index_dtype(dim).itemsize
            + (num_rows + 1) * row_pointer_dtype(nnz).itemsize)


def pruned_storage_bytes(num_rows: int, dim: int, nnz: int) -> int:
    """What a served pruned table takes: CSR, or the dense table where that is smaller."""
    return min(csr_bytes(num_rows, dim, nnz), dense_bytes(num_rows * dim))


@dataclass
class MaskedConfig:
    weight_decay: float | None = None  # None: the trainer's; PEP passes its own (1e-5) on


class MaskedEmbedding(EmbeddingMethod):
    """``weight * mask`` with a frozen bool mask; reports nonzeros and CSR storage."""

    name = "pep-masked"
    Config = MaskedConfig

    def __init__(self, spec: EmbeddingSpec, weight: torch.Tensor, mask: torch.Tensor,
                 config: MaskedConfig | None = None) -> None:
        super().__init__(spec, config or MaskedConfig())
        expected = (spec.num_features, spec.dim)
        if tuple(weight.shape) != expected or tuple(mask.shape) != expected:
            raise ValueError(
                f"weight {tuple(weight.shape)} and mask {tuple(mask.shape)} must both be {expected}"
            )
        mask = mask.to(torch.bool)
        self.register_buffer("mask", mask.clone())
        self.weight = nn.Parameter(torch.where(mask, weight.detach(), 0.0).float())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(ids, self.weight)
        return torch.where(self.mask[ids], rows, 0.0)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        wd = weight_decay if self.config.weight_decay is None else self.config.weight_decay
        return [{"params": [self.weight], "lr": lr, "weight_decay": wd}]

    def pruned_weight(self) -> torch.Tensor:
        """The served table (zeros where pruned)."""
        return torch.where(self.mask, self.weight.detach(), 0.0)

    def num_params(self) -> int:
        return int(self.mask.sum())

    def storage_bytes(self) -> int:
        return pruned_storage_bytes(self.spec.num_features, self.spec.dim, self.num_params())

    def feature_dims(self) -> np.ndarray:
        return self.mask.sum(dim=1).cpu().numpy().astype(np.int64)
