"""Uniform embedding (UE): one size ``D`` for every feature, a dense table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, dense_bytes
from autoembed.embeddings.gather import gather_rows


@dataclass
class UniformConfig:
    init_std: float = 0.0  # 0: Xavier-uniform over (num_features, D); > 0: normal(0, init_std)


class UniformEmbedding(EmbeddingMethod):
    """A dense ``num_features x D`` table; the baseline every budget is measured against."""

    name = "uniform"
    Config = UniformConfig

    def __init__(self, spec: EmbeddingSpec, config: UniformConfig | None = None) -> None:
        super().__init__(spec, config or UniformConfig())
        self.weight = nn.Parameter(torch.empty(spec.num_features, spec.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.config.init_std > 0:
            nn.init.normal_(self.weight, 0.0, self.config.init_std)
        else:
            nn.init.xavier_uniform_(self.weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return gather_rows(self.weight, ids)

    def num_params(self) -> int:
        return self.weight.numel()

    def storage_bytes(self) -> int:
        return dense_bytes(self.weight.numel(), self.weight.dtype)

    def feature_dims(self) -> np.ndarray:
        return np.full(self.spec.num_features, self.spec.dim, dtype=np.int64)
