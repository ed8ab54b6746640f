"""DeepFM: FM plus a DNN over the flattened field embeddings, logits summed."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import MLP, DNNConfig, FirstOrder, fm_pairwise, init_dense


class DeepFM(CTRModel):
    """DeepFM (Guo et al. 2017): FM and a DNN over the same embeddings, logits summed."""

    name = "deepfm"

    @dataclass
    class Config(DNNConfig):
        pass

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: Config | None = None) -> None:
        super().__init__(embedding, spec)
        cfg = cfg or self.Config()
        self.first_order = FirstOrder(spec.num_features)
        self.dnn = MLP.from_config(spec.num_fields * spec.dim, cfg)
        init_dense(self, cfg.dense_init)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        fm = self.first_order(ids) + fm_pairwise(emb)
        return fm + self.dnn(emb.flatten(1)).squeeze(1)
