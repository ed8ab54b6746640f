"""The row-gather backward kernel: it builds here and sums exactly as ``index_add_`` does."""

from __future__ import annotations

import pytest
import torch

from autoembed.embeddings import gather
from autoembed.embeddings.gather import accumulate_rows, gather_rows


def _reference(grad: torch.Tensor, index: torch.Tensor, num_rows: int) -> torch.Tensor:
    width = grad.shape[index.dim():]
    return grad.new_zeros(num_rows, *width).index_add_(0, index.reshape(-1),
                                                      grad.reshape(-1, *width))


def test_the_kernel_builds_on_this_machine():
    assert gather.KERNEL.load() is not None


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("n", "rows", "width"), [
    (8192, 13567, 32),  # ML-1M's ids at batch 1024, D=32: threaded
    (32768, 13567, 16),  # batch 4096
    (8192, 13567, 1),  # FM's first-order weights: one thread
    (3000, 40, 13),  # a small table, a width with a scalar tail
    (7, 5, 3),
])
def test_bit_identical_to_index_add(threads, n, rows, width):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(n + rows + width)
        index = torch.randint(0, rows, (n,), generator=gen)
        index[: n // 3] = index[0]  # one hot row summed many times: order matters in float32
        grad = torch.randn(n, width, generator=gen) * torch.logspace(-6, 2, n).unsqueeze(1)
        out = accumulate_rows(grad, index, rows)
        assert torch.equal(out, _reference(grad, index, rows))
        assert out.shape == (rows, width)
        assert not out[torch.ones(rows, dtype=torch.bool).index_fill_(0, index, False)].any()
    finally:
        torch.set_num_threads(before)


def test_shapes_int32_ids_and_the_fallback_agree():
    gen = torch.Generator().manual_seed(1)
    index = torch.randint(0, 300, (64, 39), generator=gen, dtype=torch.int32)  # the trainer's ids
    grad = torch.randn(64, 39, 16, generator=gen)
    out = accumulate_rows(grad, index, 300)
    assert torch.equal(out, _reference(grad, index.long(), 300))
    with gather.KERNEL.unfused():
        assert torch.equal(accumulate_rows(grad, index, 300), out)
    empty = accumulate_rows(grad[:0], index[:0], 300)
    assert empty.shape == (300, 16) and not empty.any()


def test_gather_rows_gradient():
    table = torch.randn(50, 8, requires_grad=True)
    index = torch.tensor([[3, 3, 49], [0, 3, 7]])
    upstream = torch.randn(2, 3, 8)
    gather_rows(table, index).backward(upstream)
    expected = torch.zeros(50, 8).index_add_(0, index.reshape(-1), upstream.reshape(-1, 8))
    assert torch.equal(table.grad, expected)


def test_an_index_out_of_range_is_an_error_not_a_silent_drop():
    with pytest.raises(RuntimeError, match="index 5 at position 1 out of range for 4 rows"):
        accumulate_rows(torch.randn(4, 2), torch.tensor([0, 5, 1, 9]), 4)  # the first one named
    with pytest.raises(RuntimeError, match="out of range"):
        accumulate_rows(torch.randn(40000, 2), torch.full((40000,), -1), 100)
