"""A row gather whose backward is one ``index_add_`` (the CPU fast path for embedding tables).

``nn.functional.embedding``'s CPU backward (``embedding_dense_backward``) sorts the ids and is
about 4x slower than ``index_add_`` for CTR batch shapes (measured: 1.8 ms vs 0.5 ms for
4096 x 8 ids into a 13.5k x 32 table, one thread). On CPU ``index_add_`` accumulates in order,
so results are deterministic; on other devices (where ``index_add_`` uses atomics) this falls
back to ``nn.functional.embedding``. Any method (or the uniform baseline) may use it.
"""

from __future__ import annotations

import torch
from torch import nn


def accumulate_rows(grad: torch.Tensor, index: torch.Tensor, num_rows: int) -> torch.Tensor:
    """The gradient of ``table[index]`` w.r.t. a ``num_rows``-row ``table``: ``grad``
    (``[*index.shape, *width]``) summed into the rows ``index`` names. ``index_add_`` on CPU;
    elsewhere the deterministic ``embedding_dense_backward`` (2-D tables)."""
    width = grad.shape[index.dim():]
    flat_grad, flat_index = grad.reshape(-1, *width), index.reshape(-1)
    if grad.device.type == "cpu":
        return grad.new_zeros(num_rows, *width).index_add_(0, flat_index, flat_grad)
    return torch.ops.aten.embedding_dense_backward(flat_grad, flat_index, num_rows, -1, False)


class _RowGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(index)
        ctx.num_rows = table.shape[0]
        flat = index.reshape(-1)
        return table.index_select(0, flat).view(*index.shape, *table.shape[1:])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (index,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return accumulate_rows(grad, index, ctx.num_rows), None


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` (``[*index.shape, *table.shape[1:]]``) with a fast, exact backward."""
    if table.device.type == "cpu":
        return _RowGather.apply(table, index)
    return nn.functional.embedding(index, table)
