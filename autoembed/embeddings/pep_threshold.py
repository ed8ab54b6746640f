"""PEP's soft threshold ``V_hat = sign(V) * relu(|V| - sigmoid(s))`` fused with the row gather.

``sign(v) * relu(|v| - g)`` equals ``v - clamp(v, -g, g)`` for ``g >= 0``: two elementwise
kernels instead of five, and the backward needs only the output (an entry is active exactly
where the output is nonzero). One autograd op thresholds a table (the whole table, or a batch's
distinct rows) and gathers the batch from it; its backward sums the batch's gradients per row
into one fresh buffer and turns that, in place, into the reference formula's gradients:
``dV = grad * [|v| > g]`` and ``ds = -sum(grad * sign(v) * [|v| > g]) * g * (1 - g)``.
On CPU, with one threshold per entry or per row, both directions are a single pass of a small
C++ kernel instead (``pep_cpu_kernel``; same arithmetic). For a batch smaller than the table,
``pruned_lookup`` reads the named rows of ``V`` and ``s`` in place (no distinct-row pass, no row
copies, no scatter of row gradients back into the table), and ``pruned_shared_lookup`` serves
thresholds shared by many rows (global, dimension, field, field_dim) id by id: the gather and
the threshold in one pass, the gradients masked per id and reduced per threshold in fixed
blocks (``benchmarks/pep_overhead.py --rows-path`` times these paths against the others).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal, get_args

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from autoembed.embeddings import pep_cpu_kernel
from autoembed.embeddings.gather import accumulate_rows

Granularity = Literal["global", "dimension", "feature", "feature_dim", "field", "field_dim"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)


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


class _PrunedGather(torch.autograd.Function):
    """``soft_threshold(table, s)[index]`` with one fused backward for ``table`` and ``s``."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        kernel = pep_cpu_kernel.load() if pep_cpu_kernel.applies(table, s) else None
        if kernel is not None:  # one fused pass (CPU; s per entry or per row)
            pruned, g = kernel.forward(table.contiguous(), s.contiguous())
        else:
            g = torch.sigmoid(s)
            pruned = _soft_threshold(table, g)
        ctx.save_for_backward(index)
        ctx.kernel = kernel
        ctx.buffers = (pruned, g)  # intermediates: the backward overwrites them in place
        return pruned.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        # Float arithmetic only (a bool mask takes a slow path on CPU), in place on the gather's
        # fresh [rows, D] buffer and on the forward's intermediates (no other large buffers).
        if ctx.buffers is None:
            raise RuntimeError("PEP's pruned gather supports one backward per forward")
        (index,), (pruned, g) = ctx.saved_tensors, ctx.buffers
        ctx.buffers = None
        signed = accumulate_rows(grad, index, pruned.shape[0])
        if ctx.kernel is not None:  # one fused pass, in place: signed <- dV, g <- ds
            ctx.kernel.backward_(signed, pruned, g)
            return (signed if ctx.needs_input_grad[0] else None,
                    g if ctx.needs_input_grad[1] else None, None)
        active_sign = torch.sign(pruned, out=pruned)  # +-1 where |v| > g, else 0
        signed.mul_(active_sign)
        grad_s = None
        if ctx.needs_input_grad[1]:  # -sum(grad * sign(v) * [|v| > g]) * g (1 - g), into g
            grad_s = torch.ops.aten.sigmoid_backward.grad_input(
                _sum_to(signed, g.shape), g, grad_input=g).neg_()
        grad_v = signed.mul_(active_sign) if ctx.needs_input_grad[0] else None  # grad*[|v|>g]
        return grad_v, grad_s, None


def _soft_threshold(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``v - clamp(v, -g, g)`` in a fresh buffer: one fused kernel for a scalar ``g`` on CPU,
    else a clamp (per-row ``g``: max then min, as a clamp with two broadcast bounds is not
    vectorised on CPU; per-entry ``g``: into ``-g``'s buffer) and a subtraction in place."""
    if g.numel() == 1 and v.device.type == "cpu":
        return torch.nn.functional.softshrink(v, float(g))
    neg_g = torch.neg(g)
    if g.shape[-1] == 1:
        clamped = torch.maximum(v, neg_g)
        torch.minimum(clamped, g, out=clamped)
    else:
        clamped = torch.clamp(v, neg_g, g, out=neg_g if g.shape == v.shape else None)
    return torch.sub(v, clamped, out=clamped)


def _sum_to(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``x.sum_to_size(shape)``; a per-row sum as a mat-vec (several times faster on CPU)."""
    if x.shape == shape:
        return x
    if shape == (x.shape[0], 1):
        return x @ x.new_ones(x.shape[1], 1)
    return x.sum_to_size(shape)


def pruned_gather(table: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(sign(V) * relu(|V| - sigmoid(s)))[index]`` (``[*index.shape, D]``) for a table ``V``
    (``[R, D]``) and ``s`` broadcastable to it; the gradients equal autograd's over the formula."""
    return _PrunedGather.apply(table, s, index)


class _PrunedLookup(torch.autograd.Function):
    """``soft_threshold(table, s)[index]`` on the CPU kernel, reading only the rows ``index``
    names: no distinct-row pass, no row copies; the backward sums the batch's gradients into a
    table-sized gradient (as a plain embedding's does) and fixes its named rows up in place.
    ``sigmoid(s)`` is taken once per distinct named row and shared by both directions."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        kernel = pep_cpu_kernel.load()
        flat = index.reshape(-1).contiguous()
        out, g, slot = kernel.lookup_forward(table, s, flat)  # g: sigmoid(s) of the named rows
        ctx.save_for_backward(table, s, flat, g, slot)
        ctx.kernel = kernel
        return out.view(*index.shape, table.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        table, s, flat, g, slot = ctx.saved_tensors
        dv = accumulate_rows(grad.reshape(-1, table.shape[1]), flat, table.shape[0])
        ds = ctx.kernel.lookup_backward_(dv, table, s, g, slot)
        return (dv if ctx.needs_input_grad[0] else None,
                ds if ctx.needs_input_grad[1] else None, None)


def pruned_lookup(table: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> torch.Tensor | None:
    """``pruned_gather(table, s, index)`` for a whole table with one ``s`` per entry or per row,
    on the fused CPU kernel without touching the rows ``index`` does not name (a batch smaller
    than the table); None where the kernel does not serve (then use :func:`pruned_gather`)."""
    if not (pep_cpu_kernel.applies(table, s) and table.is_contiguous() and s.is_contiguous()):
        return None
    if pep_cpu_kernel.load() is None:
        return None
    return _PrunedLookup.apply(table, s, index)


class _SharedPrunedLookup(torch.autograd.Function):
    """``soft_threshold(table, s[s_index])[index]`` for thresholds shared by many rows (global,
    dimension, field, field_dim) on the CPU kernel: the gather and the threshold in one pass per
    id (no distinct-row pass, no thresholded copy of the table); ``sigmoid(s)`` is torch's,
    taken once. The backward sums each threshold's ``grad * sign(out)`` in fixed blocks (the
    same bits on any thread count): per id for a batch with fewer ids than the table has rows
    (masked per id, then summed into the table), else by the table (summed into the table as a
    plain embedding's, then masked per row in one pass)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, s: torch.Tensor, index: torch.Tensor,  # type: ignore[override]
                s_index: torch.Tensor) -> torch.Tensor:
        kernel = pep_cpu_kernel.load()
        flat = index.reshape(-1).long().contiguous()
        g = torch.sigmoid(s).contiguous()
        out = kernel.shared_forward(table, g, flat, s_index)
        ctx.by_table = use_full_table(table.shape[0], flat.numel())
        ctx.save_for_backward(flat, s_index, g, table if ctx.by_table else out)
        ctx.kernel, ctx.num_rows = kernel, table.shape[0]
        return out.view(*index.shape, table.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        flat, s_index, g, saved = ctx.saved_tensors
        if ctx.by_table:  # saved: the table; dv <- dV in place, ds: -sum(grad*sign(out)) g(1-g)
            dv = accumulate_rows(grad.reshape(flat.numel(), -1), flat, ctx.num_rows)
            ds = ctx.kernel.shared_table_backward_(dv, saved, g, s_index)
        else:  # saved: the output
            passed, ds = ctx.kernel.shared_backward(grad.reshape(saved.shape).contiguous(), saved,
                                                    flat, s_index, g)
            dv = accumulate_rows(passed, flat, ctx.num_rows) if ctx.needs_input_grad[0] else None
        return (dv if ctx.needs_input_grad[0] else None,
                ds if ctx.needs_input_grad[1] else None, None, None)


def pruned_shared_lookup(table: torch.Tensor, s: torch.Tensor, index: torch.Tensor,
                         s_index: torch.Tensor | None = None) -> torch.Tensor | None:
    """``pruned_gather(table, s[s_index], index)`` for ``s`` shared by many rows (``[1, 1|D]``,
    or ``[S, 1|D]`` with ``s_index`` giving each table row's threshold row), per id on the CPU
    kernel; None where it does not serve (then use :func:`pruned_gather`)."""
    if not (table.device.type == "cpu" and table.dtype == torch.float32 and table.dim() == 2
            and table.is_contiguous() and s.dtype == torch.float32 and s.dim() == 2
            and s.shape[1] in (1, table.shape[1]) and pep_cpu_kernel.enabled()):
        return None
    if s_index is None:
        if s.shape[0] != 1:
            return None
        s_index = torch.empty(0, dtype=torch.int64)
    elif s_index.dtype != torch.int64 or s_index.shape != (table.shape[0],):
        return None
    if pep_cpu_kernel.load() is None:
        return None
    return _SharedPrunedLookup.apply(table, s, index, s_index.contiguous())


class _ExtraDecay(torch.autograd.Function):
    """Identity on ``s`` whose backward adds ``rate * s`` to its gradient: under Adam's coupled
    L2 ``wd`` the step is exactly that of decay ``wd + rate`` (one table-sized add)."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, rate: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(s)
        ctx.rate = rate
        return s.view_as(s)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (s,) = ctx.saved_tensors
        return grad.add(s, alpha=ctx.rate), None


def with_extra_decay(s: torch.Tensor, rate: float) -> torch.Tensor:
    """``s`` with ``rate * s`` added to its gradient (``rate == 0``: ``s`` itself)."""
    return s if rate == 0.0 else _ExtraDecay.apply(s, rate)


def use_full_table(num_rows: int, num_ids: int) -> bool:
    """Threshold the whole table rather than the batch's distinct rows: when the table has no
    more rows than the batch has ids, one pass over it is cheaper than finding those rows and
    scattering their gradients back (ML-1M, batch 4096: 13.5k rows, 32k ids)."""
    return num_rows <= num_ids


def unique_rows(ids: torch.Tensor, num_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, inverse)``: the distinct ids, ascending, and each id's position among them
    (``rows[inverse] == ids``). A table no larger than a few batches is marked in one pass
    (O(table), no sort); a large one is sorted (``torch.unique``, O(batch log batch))."""
    if num_rows > 8 * ids.numel():
        return torch.unique(ids, return_inverse=True)
    flat = ids.reshape(-1)
    seen = torch.zeros(num_rows, dtype=torch.int64, device=ids.device).index_fill_(0, flat, 1)
    rows = seen.nonzero().squeeze(1)
    position = seen.cumsum_(0).sub_(1)  # a marked row's rank among the marked rows
    return rows, position.index_select(0, flat).view_as(ids)


def reference_threshold(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The paper's formula, unfused (tests compare against it)."""
    return torch.sign(v) * torch.relu(torch.abs(v) - torch.sigmoid(s))


def threshold_chunks(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                     field_of_feature: torch.Tensor, chunk_rows: int = 1 << 16
                     ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(lo, hi, g)`` over row chunks, ``g = sigmoid(s)`` for rows ``lo:hi`` (broadcastable to
    them), without autograd, so a full-table pass never allocates more than one chunk of
    temporaries."""
    with torch.no_grad():
        for lo in range(0, weight.shape[0], chunk_rows):
            hi = min(weight.shape[0], lo + chunk_rows)
            yield lo, hi, torch.sigmoid(rows_of_threshold(s, granularity, field_of_feature, lo, hi))


def kept_chunks(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                field_of_feature: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(lo, hi, kept)`` over row chunks, ``kept = |V[lo:hi]| > sigmoid(s)`` (bool)."""
    for lo, hi, g in threshold_chunks(weight, s, granularity, field_of_feature):
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


def pruned_weight(weight: torch.Tensor, s: torch.Tensor, granularity: str,
                  field_of_feature: torch.Tensor) -> torch.Tensor:
    """The thresholded table ``sign(V) * relu(|V| - sigmoid(s))`` (``[N, D]``), row chunk by row
    chunk (no full-table temporaries)."""
    out = torch.empty_like(weight)
    for lo, hi, g in threshold_chunks(weight, s, granularity, field_of_feature):
        out[lo:hi] = _soft_threshold(weight[lo:hi], g)
    return out


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


def drift_lr(threshold_init: float, goal: float, weight_decay: float, steps: int) -> float | None:
    """The Adam lr at which the decay-only drift from ``threshold_init`` passes ``goal`` (an
    ``s``) after about ``steps`` steps (bisection on log lr); None when the init is already past
    it or the decay is 0 (nothing drifts)."""
    if threshold_init >= goal or weight_decay <= 0:
        return None
    magnitude = 1.0 / (1.0 + math.exp(-goal))
    lo, hi = 1e-7, 100.0
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        start = predicted_pruning_start(threshold_init, mid, weight_decay, magnitude, steps)
        lo, hi = (mid, hi) if start is None or start > steps else (lo, mid)
    return hi
