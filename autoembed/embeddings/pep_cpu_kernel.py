"""PEP's per-entry / per-row soft threshold as one fused CPU pass forward and one backward.

``pep_cpu_kernel.cpp`` is compiled on first use (``autoembed.cpu_extension``: per ISA, with
OpenMP, cached). Where it cannot be built, or with ``AUTOEMBED_PEP_KERNEL=0``, PEP uses the
unfused torch ops instead: the same numbers up to float32 rounding, slower. The kernel does the
same arithmetic as those ops (``tests/test_pep_kernel.py`` compares them).
"""

from __future__ import annotations

from pathlib import Path

import torch

from autoembed.cpu_extension import CpuExtension

ENV_SWITCH = "AUTOEMBED_PEP_KERNEL"
SOURCE = Path(__file__).with_name("pep_cpu_kernel.cpp")
KERNEL = CpuExtension("autoembed_pep_kernel", SOURCE, ENV_SWITCH, "PEP's fused CPU kernel",
                      "the unfused torch ops (same numbers, slower)")
enabled = KERNEL.enabled
unfused = KERNEL.unfused
load = KERNEL.load


def applies(table: torch.Tensor, s: torch.Tensor) -> bool:
    """Whether the kernel serves this call: float32 CPU tensors, one ``s`` per entry or per row."""
    return (table.device.type == "cpu" and table.dtype == torch.float32 and table.dim() == 2
            and s.dtype == torch.float32 and s.shape in (table.shape, (table.shape[0], 1))
            and enabled())
