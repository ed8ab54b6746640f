"""The model contract: a CTR model holds an embedding method and maps ids ``[B, F]`` to logits ``[B]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.precision import full_precision


class CTRModel(nn.Module):
    """Base of every model. ``self.embedding`` gives ``[B, F, D]``; the model never knows which
    method it holds. Parameters outside ``self.embedding`` are the model's own.

    A model is built as ``cls(embedding, spec, cls.Config(...))``; ``Config`` is a dataclass of
    its own parameters (``Literal`` for choices), from which CLI flags and search-space checks
    are generated. Register it under the entry-point group ``autoembed.models``.
    """

    name: str = "base"

    @dataclass
    class Config:
        """No parameters of its own."""

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec) -> None:
        super().__init__()
        self.embedding = embedding
        self.num_fields = spec.num_fields
        self.dim = spec.dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, F] int64 -> logits [B]
        raise NotImplementedError

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The embeddings of ``ids``, ``[B, F, D]``, computed in float32 even under autocast
        (tables, thresholds and a method's own projections stay full precision)."""
        with full_precision(ids.device):
            return self.embedding(ids)

    def model_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that are not the embedding method's."""
        own = {id(p) for p in self.embedding.parameters()}
        return [p for p in self.parameters() if id(p) not in own and p.requires_grad]
