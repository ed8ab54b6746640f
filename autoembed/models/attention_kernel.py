"""AutoInt's self-attention core (``softmax(q k^T / sqrt(d)) v`` per head) as one fused CPU
kernel forward and one backward (``attention_cpu_kernel.cpp``).

The batched products it replaces multiply thousands of 8x16 matrices a step (most of AutoInt+'s
time on CPU: per-matrix overhead, and copies that give every head a contiguous block); the
kernel works one (sample, head) at a time in cache, reading the qkv projection's output in place
and writing the heads side by side as the next layer reads them. It computes in float32 (bf16
inputs under autocast are widened first). Built on first use (``autoembed.cpu_extension``);
where it cannot be built, with ``AUTOEMBED_ATTENTION_KERNEL=0``, or with attention dropout,
the torch ops are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autoembed.cpu_extension import CpuExtension

ENV_SWITCH = "AUTOEMBED_ATTENTION_KERNEL"
KERNEL = CpuExtension("autoembed_attention_kernel", Path(__file__).with_name("attention_cpu_kernel.cpp"),
                      ENV_SWITCH, "AutoInt's fused CPU attention kernel",
                      "torch's attention ops (same numbers up to rounding, slower)")
enabled = KERNEL.enabled
unfused = KERNEL.unfused


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, qkv: torch.Tensor, heads: int, scale: float, module: Any) -> torch.Tensor:  # type: ignore[override]
        out, prob = module.forward(qkv, heads, scale)
        ctx.save_for_backward(qkv, prob)
        ctx.heads, ctx.scale, ctx.module = heads, scale, module
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):  # type: ignore[override]
        qkv, prob = ctx.saved_tensors
        return ctx.module.backward(grad, qkv, prob, ctx.heads, ctx.scale), None, None, None


def fused_attention(qkv: torch.Tensor, heads: int) -> torch.Tensor | None:
    """``[B, F, 3 * heads * d]`` (q, k, v side by side, as one Linear gives them) ->
    ``[B, F, heads * d]`` float32, scaled by ``d ** -0.5``; None where the kernel does not serve
    this call (not CPU, switched off, not built)."""
    if qkv.device.type != "cpu" or qkv.dim() != 3 or qkv.shape[-1] % (3 * heads):
        return None
    module = KERNEL.load()
    if module is None:
        return None
    head_dim = qkv.shape[-1] // (3 * heads)
    return _FusedAttention.apply(qkv.float().contiguous(), heads, head_dim ** -0.5, module)
