"""DeepFM: FM plus a DNN over the flattened field embeddings, logits summed."""

from __future__ import annotations

import torch

from autoembed.config import ModelConfig
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import MLP, FirstOrder, fm_pairwise


class DeepFM(CTRModel):
    name = "deepfm"

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: ModelConfig) -> None:
        super().__init__(embedding, spec)
        self.first_order = FirstOrder(spec.num_features)
        self.dnn = MLP(spec.num_fields * spec.dim, tuple(cfg.dnn_hidden), 1, cfg.dropout, cfg.batch_norm)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        fm = self.first_order(ids) + fm_pairwise(emb)
        return fm + self.dnn(emb.flatten(1)).squeeze(1)
