"""Mixed precision: the dtype the dense layers compute in, and the autocast that applies it.

``bf16`` runs the model's forward under ``torch.autocast`` (its backward follows): the DNN's and
attention's matrix products compute in bfloat16. Everything else stays float32: the embedding
tables and whatever a method computes from them (``CTRModel.embed`` leaves autocast), the logit
layers (``Logit``: a bf16 logit has 8 bits of mantissa, which would tie scores and blur the
AUC), the loss, PEP's thresholds and every optimizer state (the parameters themselves are
float32; autocast casts copies). ``auto`` picks the measured default of the device
(``DEFAULT_PRECISION``; the figures behind it are in the README's "Mixed precision" section).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch
from torch import nn

# Measured (README, "Mixed precision" and "On a GPU"; benchmarks/ceiling.py): on the
# AVX512-BF16 Xeon this project runs on (no AMX) oneDNN's bf16 GEMMs run at about half the fp32
# rate for the DNN's shapes, so bf16 slows DeepFM and AutoInt+ down; on an H200 the steps are
# launch-bound and autocast's casts make bf16 slower too (DeepFM 3.67 vs 3.30 ms at batch 1024).
DEFAULT_PRECISION: dict[str, Literal["fp32", "bf16"]] = {"cpu": "fp32", "cuda": "fp32"}


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """``precision`` with ``auto`` replaced by the device's default; an error if ``bf16`` is
    asked of a device that cannot compute it."""
    if precision == "auto":
        return DEFAULT_PRECISION.get(device.type, "fp32")
    if precision == "fp32":
        return "fp32"
    if precision != "bf16":
        raise ValueError(f"precision must be one of auto, fp32, bf16, got {precision!r}")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{device} has no bfloat16 support; use --precision fp32")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 autocast is supported on cpu and cuda, not {device.type}; "
                         "use --precision fp32")
    return "bf16"


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context a forward pass runs in for a resolved ``precision`` on ``device``."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def full_precision(device: torch.device) -> AbstractContextManager:
    """Leaves any autocast: what runs inside computes in the dtype of its inputs."""
    if not torch.is_autocast_enabled(device.type):
        return nullcontext()
    return torch.autocast(device.type, enabled=False)


class Logit(nn.Linear):
    """A linear layer that always computes in float32 (input cast up): the logit layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with full_precision(x.device):
            return super().forward(x.float())
