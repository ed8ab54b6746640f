"""AutoDim (Zhao et al. WWW 2021): field-level soft selection over candidate sizes.

Each field has architecture weights over the candidate sizes; during search the candidates'
outputs (projected to D, batch-normalised) are mixed with Gumbel-softmax samples of those
weights, at a temperature annealed per epoch (``on_epoch_end``) or per step (``after_step``):
``tau = max(min_temperature, temperature * decay ** t)``. In eval mode the mix is the plain
softmax at the current temperature. The weights are ``arch_parameters()`` (stepped on
validation batches); after the search each field takes its argmax size and a fixed-size model
is retrained from scratch. Gumbel noise uses torch's global RNG, which the trainer seeds from
the trial seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from autoembed.config import check_choices
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, RetrainPoint, dense_bytes
from baselines.candidates import (
    CandidateStack,
    argmax_point,
    candidate_sizes,
    mix,
    retrain_from_point,
)

AnnealUnit = Literal["epoch", "step"]


@dataclass
class AutoDimConfig:
    candidates: tuple[int, ...] = (2, 4, 8, 16, 32)  # capped at D
    temperature: float = 1.0  # initial Gumbel-softmax temperature
    min_temperature: float = 0.05
    decay: float = 0.5  # multiplied into the temperature once per anneal unit
    anneal: AnnealUnit = "epoch"
    tanh: bool = False  # tanh after each candidate's batch norm

    def __post_init__(self) -> None:
        check_choices(self)
        candidate_sizes(self.candidates, max(self.candidates, default=1))  # sizes >= 1
        if not (0 < self.min_temperature <= self.temperature) or not (0 < self.decay <= 1):
            raise ValueError(
                "need 0 < min_temperature <= temperature and 0 < decay <= 1, got "
                f"{self.min_temperature}, {self.temperature}, {self.decay}"
            )


class AutoDimEmbedding(EmbeddingMethod):
    """AutoDim (Zhao et al. 2021): per-field Gumbel-softmax over candidate sizes; argmax + retrain."""

    name = "autodim"
    Config = AutoDimConfig
    needs_search = True

    def __init__(self, spec: EmbeddingSpec, config: AutoDimConfig | None = None) -> None:
        super().__init__(spec, config or AutoDimConfig())
        cfg = self.config
        self.sizes = candidate_sizes(cfg.candidates, spec.dim)
        self.stack = CandidateStack(spec, self.sizes, cfg.tanh)
        self.field_logits = nn.Parameter(torch.zeros(spec.num_fields, len(self.sizes)))
        self.register_buffer("temperature", torch.tensor(float(cfg.temperature)))
        self.register_buffer("anneal_count", torch.tensor(0, dtype=torch.long))

    def field_weights(self) -> torch.Tensor:
        """``[F, K]`` mixing weights: a Gumbel-softmax sample in training, the softmax in eval.
        The temperature stays a device tensor (no host sync per step); the sample is
        ``nn.functional.gumbel_softmax``'s, draw for draw."""
        logits = self.field_logits
        if self.training:
            logits = logits - torch.empty_like(logits).exponential_().log()
        return torch.softmax(logits / self.temperature, dim=-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return mix(self.stack(ids), self.field_weights())

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.field_logits]

    def _anneal(self) -> None:
        self.anneal_count += 1
        cfg = self.config
        tau = max(cfg.min_temperature, cfg.temperature * cfg.decay ** int(self.anneal_count))
        self.temperature.fill_(tau)

    def after_step(self, step: int) -> None:
        if self.config.anneal == "step":
            self._anneal()

    def on_epoch_end(self, epoch: int) -> None:
        if self.config.anneal == "epoch":
            self._anneal()

    def num_params(self) -> int:
        return self.stack.num_params()

    def storage_bytes(self) -> int:
        return dense_bytes(self.num_params())

    def feature_dims(self) -> np.ndarray:
        choice = self.field_logits.detach().argmax(dim=-1).cpu().numpy()
        return np.asarray(self.sizes, dtype=np.int64)[choice][self.spec.field_of_feature]

    def retrain_points(self) -> list[RetrainPoint]:
        return [argmax_point(self.sizes, self.feature_dims())]

    def for_retrain(self, point: RetrainPoint) -> EmbeddingMethod:
        return retrain_from_point(self.spec, point)
