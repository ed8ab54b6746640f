"""Logistic regression over the method's embeddings: ``logit = sum_f w . e_f + b``."""

from __future__ import annotations

import torch

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.precision import Logit


class LR(CTRModel):
    """Logistic regression over the summed field embeddings."""

    name = "lr"

    def __init__(
        self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: CTRModel.Config | None = None
    ) -> None:
        super().__init__(embedding, spec)
        self.out = Logit(spec.dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(ids).sum(dim=1)).squeeze(1)
