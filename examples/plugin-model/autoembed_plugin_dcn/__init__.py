"""DCN-v2 (Wang et al. 2021, "DCN V2: Improved Deep & Cross Network"): a cross network of
``x_{l+1} = x0 * (W x_l + b) + x_l`` over the flattened field embeddings, with a DNN beside it
(parallel) or on top of it (stacked). An example of an autoembed plugin model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.base import CTRModel
from autoembed.models.layers import MLP, DNNConfig, init_dense
from autoembed.models.precision import Logit


class CrossLayer(nn.Module):
    """One DCN-v2 cross layer; ``rank > 0`` factors ``W`` as ``U V`` (the paper's low-rank cost saving)."""

    def __init__(self, width: int, rank: int = 0) -> None:
        super().__init__()
        self.w = (nn.Sequential(nn.Linear(width, rank, bias=False), nn.Linear(rank, width))
                  if rank else nn.Linear(width, width))

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.w(x) + x


class DCNv2(CTRModel):
    """DCN-v2 (Wang et al. 2021): a cross network over the field embeddings plus a DNN."""

    name = "dcnv2"

    @dataclass
    class Config(DNNConfig):  # dnn_hidden, dropout, batch_norm, dense_init come with the DNN tower
        cross_layers: int = field(default=3, metadata={"help": "cross layers (>= 1)"})
        structure: Literal["parallel", "stacked", "cross_only"] = field(
            default="parallel", metadata={"help": "DNN beside the cross network, on top, or none"})
        low_rank: int = field(default=0, metadata={"help": "rank of each W (0: full rank)"})

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.cross_layers < 1:
                raise ValueError(f"cross_layers must be >= 1, got {self.cross_layers}")
            if self.low_rank < 0:
                raise ValueError(f"low_rank must be >= 0, got {self.low_rank}")

    def __init__(self, embedding: EmbeddingMethod, spec: EmbeddingSpec, cfg: Config | None = None) -> None:
        super().__init__(embedding, spec)
        cfg = cfg or self.Config()
        width = spec.num_fields * spec.dim
        self.structure = cfg.structure
        self.cross = nn.ModuleList(CrossLayer(width, cfg.low_rank) for _ in range(cfg.cross_layers))
        # parallel: a linear layer over [cross, dnn] is the sum of one logit from each
        self.cross_out = None if cfg.structure == "stacked" else Logit(width, 1)
        self.dnn = None if cfg.structure == "cross_only" else MLP.from_config(width, cfg)
        init_dense(self, cfg.dense_init)  # the inherited option: honour it, not ignore it

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x0 = self.embed(ids).flatten(1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        if self.structure == "stacked":
            return self.dnn(x).squeeze(1)
        logit = self.cross_out(x).squeeze(1)
        return logit if self.dnn is None else logit + self.dnn(x0).squeeze(1)
