"""AutoInt+ (Song et al. 2019): stacked multi-head self-attention over fields with residuals,
plus a DNN over the flattened embeddings; the two logits are summed."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import MLP, DNNConfig, MultiHeadSelfAttention, init_dense
from autoembed.models.precision import Logit


class AutoInt(CTRModel):
    """AutoInt+ (Song et al. 2019): self-attention across fields plus a DNN, logits summed.

    Under bf16 autocast the DNN and the attention's products compute in bfloat16, the
    attention's softmax and the logit layers in float32 (``MultiHeadSelfAttention``)."""

    name = "autoint"

    @dataclass
    class Config(DNNConfig):
        attention_layers: int = field(default=3, metadata={"help": "stacked interacting layers"})
        attention_heads: int = field(default=2, metadata={"help": "heads per layer"})
        attention_dim: int = field(default=32, metadata={
            "help": "each layer's output width (divisible by attention_heads)"})
        residual: bool = field(default=True, metadata={"help": "residual connections"})
        # dnn_hidden: () drops the DNN (plain AutoInt)

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.attention_layers < 1:
                raise ValueError(f"attention_layers must be >= 1, got {self.attention_layers}")
            if self.attention_heads < 1 or self.attention_dim % self.attention_heads:
                raise ValueError(f"attention_dim ({self.attention_dim}) must be divisible by "
                                 f"attention_heads ({self.attention_heads})")

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: Config | None = None) -> None:
        super().__init__(embedding, spec)
        cfg = cfg or self.Config()
        dims = [spec.dim] + [cfg.attention_dim] * cfg.attention_layers
        self.attention = nn.Sequential(*(
            MultiHeadSelfAttention(d_in, d_out, cfg.attention_heads, cfg.residual)
            for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        ))
        self.attention_out = Logit(spec.num_fields * cfg.attention_dim, 1)
        self.dnn = MLP.from_config(spec.num_fields * spec.dim, cfg) if cfg.dnn_hidden else None
        init_dense(self, cfg.dense_init)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        logit = self.attention_out(self.attention(emb).flatten(1)).squeeze(1)
        if self.dnn is not None:
            logit = logit + self.dnn(emb.flatten(1)).squeeze(1)
        return logit
