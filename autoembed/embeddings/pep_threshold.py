"""PEP's soft threshold ``V_hat = sign(V) * relu(|V| - sigmoid(s))`` as one fused autograd op.

``sign(v) * relu(|v| - g)`` equals ``v - clamp(v, -g, g)`` for ``g >= 0``: two elementwise
kernels instead of five, and the backward needs only the output (an entry is active exactly
where the output is nonzero). Gradients are those of the reference formula:
``dV = grad * [|v| > g]`` and ``ds = -sum(grad * sign(v) * [|v| > g]) * g * (1 - g)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

GRANULARITIES = ("global", "dimension", "feature", "feature_dim", "field", "field_dim")


def threshold_shape(granularity: str, num_features: int, num_fields: int, dim: int) -> tuple[int, int]:
    """Shape of ``s`` for ``granularity``: [1,1], [1,D], [N,1], [N,D], [F,1] or [F,D]."""
    shapes = {
        "global": (1, 1),
        "dimension": (1, dim),
        "feature": (num_features, 1),
        "feature_dim": (num_features, dim),
        "field": (num_fields, 1),
        "field_dim": (num_fields, dim),
    }
    if granularity not in shapes:
        raise ValueError(
            f"unknown PEP granularity {granularity!r}; choose one of {', '.join(GRANULARITIES)}"
        )
    return shapes[granularity]


def is_per_feature(granularity: str) -> bool:
    """True when ``s`` has one row per feature (gathered with the batch, like ``V``)."""
    return granularity in ("feature", "feature_dim")


class _SoftThreshold(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        g = torch.sigmoid(s)
        if s.numel() == 1 and v.device.type == "cpu":  # one fused kernel (softshrink)
            out = torch.nn.functional.softshrink(v, float(g))
        else:
            out = torch.clamp(v, -g, g).neg_().add_(v)  # v - clamp(v, -g, g), one allocation
        ctx.save_for_backward(out, g)
        ctx.s_shape = s.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        # Float arithmetic only (a bool mask takes a slow path on CPU), and few fresh buffers
        # (each new large buffer costs page faults on CPU).
        out, g = ctx.saved_tensors
        active_sign = torch.sign(out)  # +-1 where |v| > g, else 0
        signed = grad * active_sign
        grad_s = None
        if ctx.needs_input_grad[1]:
            neg_slope = g * (g - 1.0)  # -g'(s) = -g (1 - g), shaped like s
            grad_s = signed.sum_to_size(ctx.s_shape) * neg_slope
        grad_v = signed.mul_(active_sign) if ctx.needs_input_grad[0] else None  # grad*[|v|>g]
        return grad_v, grad_s


def soft_threshold(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``sign(v) * relu(|v| - sigmoid(s))``; ``s`` broadcasts against ``v``."""
    return _SoftThreshold.apply(v, s)


def unique_rows(ids: torch.Tensor, num_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, inverse)``: the distinct ids, ascending, and each id's position among them
    (``rows[inverse] == ids``). A table no larger than a few batches is marked in one pass
    (O(table), no sort); a large one is sorted (``torch.unique``, O(batch log batch))."""
    if num_rows > 8 * ids.numel():
        return torch.unique(ids, return_inverse=True)
    seen = torch.zeros(num_rows, dtype=torch.bool, device=ids.device)
    seen[ids] = True
    rows = seen.nonzero().squeeze(1)
    position = torch.empty(num_rows, dtype=torch.int64, device=ids.device)
    position[rows] = torch.arange(rows.numel(), device=ids.device)
    return rows, position[ids]


def reference_threshold(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The paper's formula, unfused (tests compare against it)."""
    return torch.sign(v) * torch.relu(torch.abs(v) - torch.sigmoid(s))


def kept_chunks(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                field_of_feature: torch.Tensor, chunk_rows: int = 1 << 16
                ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(lo, hi, kept)`` over row chunks, ``kept = |V[lo:hi]| > sigmoid(s)`` (bool), so a
    full-table pass never allocates more than one chunk of temporaries."""
    with torch.no_grad():
        for lo in range(0, weight.shape[0], chunk_rows):
            hi = min(weight.shape[0], lo + chunk_rows)
            g = torch.sigmoid(rows_of_threshold(s, granularity, field_of_feature, lo, hi))
            yield lo, hi, weight[lo:hi].abs() > g


def count_nonzeros(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                   field_of_feature: torch.Tensor) -> torch.Tensor:
    """Exact nonzeros per row of the pruned table (int64 [N])."""
    out = torch.empty(weight.shape[0], dtype=torch.int64, device=weight.device)
    for lo, hi, kept in kept_chunks(weight, s, granularity, field_of_feature):
        out[lo:hi] = kept.sum(dim=1)
    return out


def pruned_mask(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                field_of_feature: torch.Tensor) -> torch.Tensor:
    """Bool ``[N, D]``: the entries the threshold keeps (``|V| > sigmoid(s)``)."""
    mask = torch.empty(weight.shape, dtype=torch.bool, device=weight.device)
    for lo, hi, kept in kept_chunks(weight, s, granularity, field_of_feature):
        mask[lo:hi] = kept
    return mask


def rows_of_threshold(s: torch.Tensor, granularity: str, field_of_feature: torch.Tensor,
                      lo: int, hi: int) -> torch.Tensor:
    """``s`` expanded to table rows ``lo:hi`` (broadcastable to ``[hi-lo, D]``)."""
    if is_per_feature(granularity):
        return s[lo:hi]
    if granularity in ("field", "field_dim"):
        return s[field_of_feature[lo:hi]]
    return s


def _drift(threshold_init: float, lr: float, weight_decay: float,
           betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> Iterator[float]:
    """``s`` after each Adam step driven only by coupled L2 (``grad = wd * s``), forever."""
    b1, b2 = betas
    s, m, v, t = float(threshold_init), 0.0, 0.0, 0
    while True:
        t += 1
        g = weight_decay * s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        s -= lr / (1 - b1**t) * m / (math.sqrt(v / (1 - b2**t)) + eps)
        yield s


def drift_schedule(threshold_init: float, lr: float, weight_decay: float, steps: int) -> np.ndarray:
    """``s`` after each of ``steps`` Adam steps (lr, coupled L2 ``weight_decay``, default betas)
    with no task gradient: the pruning schedule of a saturated init, where the task gradient on
    ``s`` is exactly 0 while ``sigmoid(s)`` underflows. The drift is about ``lr`` per step at
    first and slows as ``|s|`` falls below its own recent history (Adam's second moment
    remembers ~1/(1-b2) = 1000 steps)."""
    return np.fromiter(_drift(threshold_init, lr, weight_decay), dtype=np.float64, count=steps)


def predicted_pruning_start(threshold_init: float, lr: float, weight_decay: float,
                            magnitude: float, max_steps: int = 10**6) -> int | None:
    """First step at which ``sigmoid(s)`` on the drift schedule exceeds ``magnitude`` (the size
    of the smallest entries), or None if it does not within ``max_steps``."""
    logit = math.log(magnitude / (1 - magnitude))
    for step, s in enumerate(_drift(threshold_init, lr, weight_decay), start=1):
        if s > logit:
            return step
        if step >= max_steps:
            return None
    return None
