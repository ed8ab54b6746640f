"""Factorization machine: bias + first-order term + pairwise interactions of the embeddings."""

from __future__ import annotations

import torch

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import FirstOrder, fm_pairwise


class FM(CTRModel):
    """Factorization machine (Rendle 2010): bias, first-order weights and pairwise interactions."""

    name = "fm"

    def __init__(
        self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: CTRModel.Config | None = None
    ) -> None:
        super().__init__(embedding, spec)
        self.first_order = FirstOrder(spec.num_features)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.first_order(ids) + fm_pairwise(self.embed(ids))
