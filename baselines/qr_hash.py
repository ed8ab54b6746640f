"""QR hashing (Shi et al. 2020, the quotient-remainder trick): a cheap memory-reduction reference.

A hashed field of ``n`` rows uses ``m = ceil(n / compression)`` remainder rows and
``ceil(n / m)`` quotient rows, both of width D; feature ``j`` (local id) gets
``Q[j // m] * R[j % m]`` (``operation="mult"``) or ``Q[j // m] + R[j % m]`` (``"add"``), a
unique embedding per feature from about ``n / compression`` rows. Fields of at most
``dense_threshold`` rows keep a dense table. With ``per_field=False`` the whole id space is
hashed as one table (small fields included). Single phase. ``feature_dims()`` is D for every
feature: the width does not shrink, the row count does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from autoembed.config import check_choices
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, dense_bytes
from autoembed.embeddings.gather import gather_rows

Operation = Literal["mult", "add"]


@dataclass
class QRHashConfig:
    compression: float = 4.0  # ids sharing one remainder row (n / m)
    operation: Operation = "mult"
    per_field: bool = True  # one QR pair per field; False: the global id space as one table
    dense_threshold: int = 200  # fields with at most this many rows stay dense (per_field only)

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.compression >= 1:
            raise ValueError(f"compression must be >= 1 (1 = no hashing), got {self.compression}")


def qr_layout(sizes: list[int], compression: float, dense_threshold: int) -> tuple[np.ndarray, ...]:
    """Per-feature (quotient row, remainder row) in shared Q / R tables, plus their row counts.

    Dense tables put their rows in R and point Q at row ``-1`` (the identity row)."""
    q_idx, r_idx, q_rows, r_rows = [], [], 0, 0
    for n in sizes:
        local = np.arange(n, dtype=np.int64)
        if n <= dense_threshold:
            q_idx.append(np.full(n, -1, dtype=np.int64))
            r_idx.append(local + r_rows)
            r_rows += n
            continue
        m = max(1, math.ceil(n / compression))
        q_idx.append(local // m + q_rows)
        r_idx.append(local % m + r_rows)
        q_rows += math.ceil(n / m)
        r_rows += m
    return np.concatenate(q_idx), np.concatenate(r_idx), np.array([q_rows, r_rows])


class QRHashEmbedding(EmbeddingMethod):
    """QR hashing (Shi et al. 2020): quotient x remainder tables, about n / compression rows."""

    name = "qr_hash"
    Config = QRHashConfig

    def __init__(self, spec: EmbeddingSpec, config: QRHashConfig | None = None) -> None:
        super().__init__(spec, config or QRHashConfig())
        cfg = self.config
        sizes = list(spec.vocab_sizes) if cfg.per_field else [spec.num_features]
        threshold = cfg.dense_threshold if cfg.per_field else -1
        q_idx, r_idx, (q_rows, r_rows) = qr_layout(sizes, cfg.compression, threshold)
        q_idx[q_idx < 0] = q_rows  # the identity row sits after the trainable quotient rows
        self.register_buffer("q_idx", torch.from_numpy(q_idx), persistent=False)
        self.register_buffer("r_idx", torch.from_numpy(r_idx), persistent=False)
        identity = 1.0 if cfg.operation == "mult" else 0.0
        self.register_buffer("identity_row", torch.full((1, spec.dim), identity), persistent=False)
        self.quotient = nn.Parameter(torch.empty(int(q_rows), spec.dim))
        self.remainder = nn.Parameter(torch.empty(int(r_rows), spec.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.remainder)
        if self.config.operation == "mult":  # near 1, so products start at the remainder's scale
            nn.init.normal_(self.quotient, 1.0, 0.05)
        elif self.quotient.numel():
            nn.init.xavier_uniform_(self.quotient)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        quotient = torch.cat([self.quotient, self.identity_row])
        q = gather_rows(quotient, self.q_idx[ids])
        r = gather_rows(self.remainder, self.r_idx[ids])
        return q * r if self.config.operation == "mult" else q + r

    def num_params(self) -> int:
        return self.quotient.numel() + self.remainder.numel()

    def storage_bytes(self) -> int:
        return dense_bytes(self.num_params())

    def feature_dims(self) -> np.ndarray:
        return np.full(self.spec.num_features, self.spec.dim, dtype=np.int64)
