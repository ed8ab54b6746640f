"""A frequency-tiered embedding: the most frequent features get D dimensions, the rest
``D // 4`` projected up to D. An example of an autoembed plugin method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, dense_bytes


@dataclass
class TieredConfig:
    top_fraction: float = 0.1  # share of features (by training frequency) that get D dims
    small_dim: int = 0  # size of the others; 0 means D // 4


class FrequencyTieredEmbedding(EmbeddingMethod):
    """Top features by frequency get D dims, the rest a smaller table projected to D."""

    name = "freq_tiered"
    Config = TieredConfig

    def __init__(self, spec: EmbeddingSpec, config: TieredConfig | None = None) -> None:
        super().__init__(spec, config or TieredConfig())
        n, dim = spec.num_features, spec.dim
        self.small = self.config.small_dim or max(1, dim // 4)
        k = min(n - 1, max(1, round(self.config.top_fraction * n)))
        top = np.zeros(n, dtype=bool)
        top[np.argsort(-spec.feature_counts, kind="stable")[:k]] = True
        row = np.where(top, np.cumsum(top) - 1, np.cumsum(~top) - 1)  # row inside its table
        self.register_buffer("is_top", torch.from_numpy(top), persistent=False)
        self.register_buffer("row", torch.from_numpy(row), persistent=False)
        self.top = nn.Parameter(nn.init.xavier_uniform_(torch.empty(k, dim)))
        self.rest = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n - k, self.small)))
        self.project = nn.Linear(self.small, dim, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, F, D]
        is_top, row = self.is_top[ids], self.row[ids]
        big = nn.functional.embedding(row.clamp(max=len(self.top) - 1), self.top)
        rest = nn.functional.embedding(row.clamp(max=len(self.rest) - 1), self.rest)
        return torch.where(is_top.unsqueeze(-1), big, self.project(rest))

    def num_params(self) -> int:
        return self.top.numel() + self.rest.numel() + self.project.weight.numel()

    def storage_bytes(self) -> int:
        return dense_bytes(self.num_params())

    def feature_dims(self) -> np.ndarray:
        return np.where(self.is_top.cpu().numpy(), self.spec.dim, self.small).astype(np.int64)
