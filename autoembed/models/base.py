"""The model contract: a CTR model holds an embedding method and maps ids ``[B, F]`` to logits ``[B]``."""

from __future__ import annotations

import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec


class CTRModel(nn.Module):
    """Base of every model. ``self.embedding`` gives ``[B, F, D]``; the model never knows which
    method it holds. Parameters outside ``self.embedding`` are the model's own."""

    name: str = "base"

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec) -> None:
        super().__init__()
        self.embedding = embedding
        self.num_fields = spec.num_fields
        self.dim = spec.dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, F] int64 -> logits [B]
        raise NotImplementedError

    def model_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that are not the embedding method's."""
        own = {id(p) for p in self.embedding.parameters()}
        return [p for p in self.parameters() if id(p) not in own and p.requires_grad]
