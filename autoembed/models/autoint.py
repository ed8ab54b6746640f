"""AutoInt+ (Song et al. 2019): stacked multi-head self-attention over fields with residuals,
plus a DNN over the flattened embeddings; the two logits are summed."""

from __future__ import annotations

import torch
from torch import nn

from autoembed.config import ModelConfig
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import MLP, MultiHeadSelfAttention
from autoembed.models.precision import Logit


class AutoInt(CTRModel):
    name = "autoint"

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: ModelConfig) -> None:
        super().__init__(embedding, spec)
        if cfg.attention_layers < 1:
            raise ValueError(f"attention_layers must be >= 1, got {cfg.attention_layers}")
        dims = [spec.dim] + [cfg.attention_dim] * cfg.attention_layers
        self.attention = nn.Sequential(*(
            MultiHeadSelfAttention(d_in, d_out, cfg.attention_heads, cfg.residual)
            for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        ))
        self.attention_out = Logit(spec.num_fields * cfg.attention_dim, 1)
        self.dnn = (
            MLP(spec.num_fields * spec.dim, tuple(cfg.dnn_hidden), 1, cfg.dropout, cfg.batch_norm)
            if cfg.dnn_hidden
            else None
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        logit = self.attention_out(self.attention(emb).flatten(1)).squeeze(1)
        if self.dnn is not None:
            logit = logit + self.dnn(emb.flatten(1)).squeeze(1)
        return logit
