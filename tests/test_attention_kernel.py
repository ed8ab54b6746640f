"""AutoInt's fused CPU attention kernel: it builds here, and matches torch's attention ops."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from autoembed.models import attention_kernel
from autoembed.models.layers import MultiHeadSelfAttention


def test_the_kernel_builds_and_serves_autoints_default_shape():
    assert attention_kernel.KERNEL.load() is not None
    qkv = torch.randn(4, 8, 3 * 32)  # 2 heads of 16, AutoInt's default
    assert attention_kernel.fused_attention(qkv, heads=2) is not None


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="OpenMP builds are Linux-only; needs 2 cores")
def test_the_kernels_run_on_torchs_threads():
    """Built without OpenMP, ATen's parallel_for inside an extension runs on one thread."""
    module = attention_kernel.KERNEL.load()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert module.parallel_threads(64) == 2
        torch.set_num_threads(1)
        assert module.parallel_threads(64) == 1
    finally:
        torch.set_num_threads(threads)


def _layer_and_input(fields: int, d_in: int, width: int, heads: int, residual: bool, seed: int = 0):
    torch.manual_seed(seed)
    layer = MultiHeadSelfAttention(d_in, width, heads, residual)
    x = torch.randn(32, fields, d_in)
    return layer, x


def _forward_backward(layer: MultiHeadSelfAttention, x: torch.Tensor, upstream: torch.Tensor):
    layer.zero_grad()
    x = x.clone().requires_grad_()
    out = layer(x)
    out.backward(upstream.to(out.dtype))
    return out.detach(), x.grad, [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize("fields,d_in,width,heads,residual", [
    (8, 16, 32, 2, True),    # AutoInt's default first layer
    (8, 32, 32, 2, True),    # its later layers (identity residual)
    (39, 16, 64, 2, True),   # Criteo's fields: more than one vector of them, a partial last one
    (3, 16, 32, 1, False),   # one head, no residual
    (22, 8, 64, 4, True),    # four heads of 16
    (8, 16, 16, 2, True),    # heads of 8: half a vector
    (5, 16, 40, 2, True),    # heads of 20: a vector and a partial one
])
def test_kernel_matches_torch_attention_in_float64(fields, d_in, width, heads, residual):
    layer, x = _layer_and_input(fields, d_in, width, heads, residual)
    upstream = torch.randn(32, fields, width)
    fused = _forward_backward(layer, x, upstream)
    reference = layer.double()
    with attention_kernel.unfused():
        expected = _forward_backward(reference, x.double(), upstream.double())
    layer.float()
    out, x_grad, grads = fused
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected[0].float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x_grad, expected[1].float(), rtol=1e-4, atol=1e-5)
    for got, want in zip(grads, expected[2], strict=True):
        torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-4)
    assert (out == 0).any() and (out > 0).any()  # the ReLU's both sides


def test_under_bf16_autocast_it_computes_in_float32_from_bf16_projections():
    layer, x = _layer_and_input(8, 16, 32, 2, True)
    upstream = torch.randn(32, 8, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = _forward_backward(layer, x, upstream)
        with attention_kernel.unfused():
            torch_ops = _forward_backward(layer, x, upstream)
    exact = _forward_backward(layer, x, upstream)
    assert all(p.grad.dtype == torch.float32 for p in layer.parameters())
    # both are bf16 approximations of the float32 layer (a ReLU can flip either way, so errors
    # are measured over whole tensors): the kernel's output is closer than torch's ops' (its
    # attention is float32); the input's gradient, dominated by the bf16 projections' backward,
    # is as close (seeds 0-5: 2.5-5.3% against 2.4-6.0%)
    def error(got: torch.Tensor, want: torch.Tensor) -> float:
        return float((got.float() - want).norm() / want.norm())

    assert error(fused[0], exact[0]) < error(torch_ops[0], exact[0]) < 0.01
    assert error(fused[1], exact[1]) < min(0.1, 2 * error(torch_ops[1], exact[1]))


def test_where_the_kernel_does_not_serve_the_torch_ops_do(monkeypatch):
    assert attention_kernel.fused_attention(torch.randn(2, 8, 3 * 2 * 16, dtype=torch.float64)
                                            .to("meta"), heads=2) is None  # not CPU
    with attention_kernel.unfused():
        assert attention_kernel.fused_attention(torch.randn(2, 8, 96), heads=2) is None
    monkeypatch.setenv(attention_kernel.ENV_SWITCH, "0")
    assert attention_kernel.fused_attention(torch.randn(2, 8, 96), heads=2) is None
    layer, x = _layer_and_input(8, 16, 32, 2, True)
    assert layer(x).shape == (32, 8, 32)  # still works, through torch's ops


def test_attention_dropout_in_training_takes_the_torch_path(monkeypatch):
    calls = []
    monkeypatch.setattr("autoembed.models.layers.fused_attention",
                        lambda *a: calls.append(a) or attention_kernel.fused_attention(*a))
    layer = MultiHeadSelfAttention(16, 32, 2, dropout=0.5)
    layer(torch.randn(4, 8, 16))
    assert not calls
    layer.eval()
    layer(torch.randn(4, 8, 16))
    assert len(calls) == 1


def test_large_scores_stay_finite_and_a_nan_is_not_hidden():
    qkv = torch.randn(4, 8, 96) * 300.0  # scores ~1e6: softmax must subtract the max
    out = attention_kernel.fused_attention(qkv, heads=2)
    assert out is not None and torch.isfinite(out).all()
    with attention_kernel.unfused():
        reference = MultiHeadSelfAttention(16, 32, 2)._attention(qkv, 0.0)
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-2)
    qkv[1, 3, 40] = float("nan")  # one key of sample 1, head 0
    out = attention_kernel.fused_attention(qkv, heads=2)
    assert torch.isnan(out[1, :, :16]).all()  # every query of that head saw it
    assert torch.isfinite(out[0]).all() and torch.isfinite(out[2:]).all()  # others untouched
