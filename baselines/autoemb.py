"""AutoEmb, DARTS-style (Zhao et al. 2020): per-feature soft selection over candidate sizes.

Each feature has one embedding per candidate size (projected to D, batch-normalised, tanh);
a small controller MLP reads the feature's popularity (log training frequency, standardised)
and gives softmax weights over the candidates; the embedding is their weighted sum. The
controller is the architecture: ``arch_parameters()`` returns it, so the trainer steps it only
on validation batches (first-order bi-level). After the search each feature takes its argmax
size and a fixed-size model (one table + projection per size) is retrained from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, RetrainPoint, dense_bytes
from baselines.candidates import (
    CandidateStack,
    argmax_point,
    candidate_sizes,
    mix,
    retrain_from_point,
)


@dataclass
class AutoEmbConfig:
    candidates: tuple[int, ...] = (2, 4, 8, 16, 32)  # capped at D
    controller_hidden: int = 16
    tanh: bool = True  # tanh after each candidate's batch norm, as in AutoEmb

    def __post_init__(self) -> None:
        candidate_sizes(self.candidates, max(self.candidates, default=1))  # sizes >= 1
        if self.controller_hidden < 1:
            raise ValueError(f"controller_hidden must be >= 1, got {self.controller_hidden}")


def popularity(counts: np.ndarray) -> torch.Tensor:
    """Controller input: log(1 + frequency), standardised over features; ``[num_features, 1]``."""
    logc = np.log1p(np.asarray(counts, dtype=np.float64))
    std = logc.std()
    z = (logc - logc.mean()) / (std if std > 0 else 1.0)
    return torch.tensor(z, dtype=torch.float32).unsqueeze(1)


class AutoEmbEmbedding(EmbeddingMethod):
    """AutoEmb (Zhao et al. 2020): a popularity controller mixes candidate sizes; argmax + retrain."""

    name = "autoemb"
    Config = AutoEmbConfig
    needs_search = True

    def __init__(self, spec: EmbeddingSpec, config: AutoEmbConfig | None = None) -> None:
        super().__init__(spec, config or AutoEmbConfig())
        self.sizes = candidate_sizes(self.config.candidates, spec.dim)
        self.stack = CandidateStack(spec, self.sizes, self.config.tanh)
        self.controller = nn.Sequential(
            nn.Linear(1, self.config.controller_hidden),
            nn.ReLU(),
            nn.Linear(self.config.controller_hidden, len(self.sizes)),
        )
        self.register_buffer("popularity", popularity(spec.feature_counts), persistent=False)

    def candidate_weights(self, ids: torch.Tensor) -> torch.Tensor:
        """Softmax weights over candidates for each id: ``[..., K]``, summing to 1."""
        return torch.softmax(self.controller(self.popularity[ids]), dim=-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return mix(self.stack(ids), self.candidate_weights(ids))

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.controller.parameters())

    def num_params(self) -> int:
        return self.stack.num_params()

    def storage_bytes(self) -> int:
        return dense_bytes(self.num_params())

    def feature_dims(self) -> np.ndarray:
        with torch.no_grad():
            choice = self.controller(self.popularity).argmax(dim=-1).cpu().numpy()
        return np.asarray(self.sizes, dtype=np.int64)[choice]

    def retrain_points(self) -> list[RetrainPoint]:
        return [argmax_point(self.sizes, self.feature_dims())]

    def for_retrain(self, point: RetrainPoint) -> EmbeddingMethod:
        return retrain_from_point(self.spec, point)
