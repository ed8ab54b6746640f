"""Mixed precision: the dtype the dense layers compute in, and the autocast that applies it.

``bf16`` runs the model's forward under ``torch.autocast`` (its backward follows): the DNN's and
attention's matrix products compute in bfloat16. Everything else stays float32: the embedding
tables and whatever a method computes from them (``CTRModel.embed`` leaves autocast), the logit
layers (``Logit``: a bf16 logit has 8 bits of mantissa, which would tie scores and blur the
AUC), the loss, PEP's thresholds and every optimizer state (the parameters themselves are
float32; autocast casts copies). ``auto`` picks the measured default of the device
(``DEFAULT_PRECISION``: bf16 on a CPU with AMX, else fp32; the figures behind it are in the
README's "Mixed precision" section). AutoInt+'s attention computes its products in bf16 and
its softmax in float32 (``layers.MultiHeadSelfAttention``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch
from torch import nn

# Measured (README, "Mixed precision" and "On a GPU"; benchmarks/ceiling.py): on a Xeon with
# AVX512-BF16 but no AMX, oneDNN's bf16 GEMMs ran at about half the fp32 rate for the DNN's
# shapes, so bf16 slowed DeepFM and AutoInt+ down; on a Xeon whose oneDNN runs bf16 on AMX tiles
# (brg_matmul:avx10_1_512_amx) they ran 5-8x faster than fp32 (2 threads: ~1.6-2.4 TFLOP/s
# against ~0.3), so ``auto`` is bf16 on a CPU with AMX. On an H200 the steps are launch-bound and
# autocast's casts make bf16 slower (DeepFM 3.67 vs 3.30 ms at batch 1024).
DEFAULT_PRECISION: dict[str, Literal["fp32", "bf16"]] = {"cpu": "fp32", "cpu+amx": "bf16",
                                                         "cuda": "fp32"}


def cpu_has_amx() -> bool:
    """Whether this CPU runs bf16 matrix products on AMX tiles: the CPU has them, the OS lets this
    process use them, and torch has oneDNN (which picks the AMX kernels)."""
    supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    init = getattr(torch.cpu, "_init_amx", None)  # asks the OS for the tile state (Linux)
    if supported is None or init is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(supported() and init())
    except RuntimeError:
        return False


def device_kind(device: torch.device) -> str:
    """The key of ``DEFAULT_PRECISION`` for ``device`` (``cpu+amx`` for a CPU with AMX)."""
    if device.type == "cpu" and cpu_has_amx():
        return "cpu+amx"
    return device.type


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """``precision`` with ``auto`` replaced by the device's default; an error if ``bf16`` is
    asked of a device that cannot compute it."""
    if precision == "auto":
        return DEFAULT_PRECISION.get(device_kind(device), "fp32")
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
