"""Models: output shapes, gradients into the embedding, FM's pairwise trick, seeded init."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from autoembed.config import ModelConfig
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.uniform import UniformEmbedding
from autoembed.models import attention_kernel, build_model
from autoembed.models.layers import MultiHeadSelfAttention, fm_pairwise, short_softmax

VOCAB = (7, 5, 3, 4)
DIM = 8


def small_spec(dim: int = DIM) -> EmbeddingSpec:
    return EmbeddingSpec(VOCAB, dim, np.ones(sum(VOCAB), dtype=np.int64), ("a", "b", "c", "d"))


def random_ids(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    offsets = torch.tensor(small_spec().field_offsets)
    local = torch.stack([torch.randint(0, v, (batch,), generator=g) for v in VOCAB], dim=1)
    return local + offsets


def model_config(name: str) -> ModelConfig:
    params = {"deepfm": {"dnn_hidden": (16, 16)},
              "autoint": {"dnn_hidden": (16, 16), "attention_dim": 8, "attention_layers": 2}}
    return ModelConfig(name=name, dim=DIM, params=params.get(name, {}))


@pytest.mark.parametrize("name", ["autoint", "deepfm", "fm", "lr"])
def test_forward_shape_and_gradient_reaches_embedding(name: str) -> None:
    spec = small_spec()
    torch.manual_seed(0)
    model = build_model(model_config(name), UniformEmbedding(spec), spec, seed=0)
    ids = random_ids(32)
    logits = model(ids)
    assert logits.shape == (32,)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    grad = model.embedding.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    used = torch.unique(ids)
    assert grad[used].abs().sum(dim=1).gt(0).all()  # every gathered row gets a gradient
    own = {id(p) for p in model.embedding.parameters()}
    assert all(id(p) not in own for p in model.model_parameters())


def test_fm_pairwise_matches_brute_force() -> None:
    emb = torch.randn(5, 4, 3, dtype=torch.float64)
    brute = torch.zeros(5, dtype=torch.float64)
    for i, j in itertools.combinations(range(4), 2):
        brute += (emb[:, i] * emb[:, j]).sum(dim=1)
    torch.testing.assert_close(fm_pairwise(emb), brute)


def test_fm_is_bias_plus_first_order_plus_pairwise() -> None:
    spec = small_spec()
    model = build_model(model_config("fm"), UniformEmbedding(spec), spec, seed=0)
    with torch.no_grad():
        model.first_order.weight.normal_()
        model.first_order.bias.fill_(0.3)
    ids = random_ids(6)
    e = model.embedding.weight[ids]
    expected = 0.3 + model.first_order.weight[ids].sum(dim=(1, 2))
    for i, j in itertools.combinations(range(len(VOCAB)), 2):
        expected = expected + (e[:, i] * e[:, j]).sum(dim=1)
    torch.testing.assert_close(model(ids), expected)
    # the first-order table is the model's, not counted as embedding parameters
    assert model.embedding.num_params() == sum(VOCAB) * DIM


def test_lr_uses_the_embedding() -> None:
    spec = small_spec()
    model = build_model(model_config("lr"), UniformEmbedding(spec), spec, seed=0)
    ids = random_ids(4)
    expected = model.embedding.weight[ids].sum(dim=1) @ model.out.weight[0] + model.out.bias
    torch.testing.assert_close(model(ids), expected)


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone() -> None:
    spec = small_spec()
    emb = UniformEmbedding(spec)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model(model_config("deepfm"), emb, spec, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_model(model_config("deepfm"), emb, spec, seed=5)
    c = build_model(model_config("deepfm"), emb, spec, seed=6)
    wa, wb, wc = (m.dnn[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_unknown_model_lists_allowed() -> None:
    spec = small_spec()
    with pytest.raises(ValueError, match="available models: autoint, deepfm, fm, lr"):
        build_model(ModelConfig(name="xdeepfm", dim=DIM), UniformEmbedding(spec), spec)


def test_bad_attention_heads_is_a_clear_error() -> None:
    spec = small_spec()
    cfg = ModelConfig(name="autoint", dim=DIM, params={"attention_dim": 9, "attention_heads": 2})
    with pytest.raises(ValueError, match="divisible by attention_heads"):
        build_model(cfg, UniformEmbedding(spec), spec)


def test_short_softmax_matches_torch_softmax_and_its_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(5, 2, 8, 8, generator=g, dtype=torch.float64) * 4).requires_grad_()
    weights = torch.randn(5, 2, 8, 8, generator=g, dtype=torch.float64)
    (short_softmax(x, 0.25) * weights).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    expected = torch.softmax(x * 0.25, -1)
    (expected * weights).sum().backward()
    assert torch.allclose(short_softmax(x.detach(), 0.25).double(), expected.detach(), atol=1e-6)
    assert torch.allclose(ours, x.grad, atol=1e-6)


def test_attention_under_bf16_autocast_matches_float32_attention() -> None:
    torch.manual_seed(0)
    layer = MultiHeadSelfAttention(8, 16, 2)
    x = torch.randn(64, 4, 8)
    with attention_kernel.unfused():  # torch's ops (the CPU kernel: test_attention_kernel.py)
        reference = layer(x)  # float32: scaled_dot_product_attention
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = layer(x)  # bf16 products around a float32 softmax
    assert mixed.dtype == torch.bfloat16
    assert torch.allclose(mixed.float(), reference, atol=0.05, rtol=0.05)


@pytest.mark.parametrize("name", ["deepfm", "autoint"])
def test_dense_init_xavier_normal_reinitialises_the_models_own_linear_layers_only(name):
    spec = small_spec(8)

    def build(scheme: str):
        torch.manual_seed(0)
        embedding = UniformEmbedding(spec)
        return build_model(ModelConfig(name=name, dim=8, params={"dense_init": scheme}),
                           embedding, spec, seed=0)

    default, fuxictr = build("torch"), build("xavier_normal")
    torch.testing.assert_close(default.embedding.weight, fuxictr.embedding.weight)
    linears = [(n, m) for n, m in fuxictr.named_modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) >= 4
    for n, layer in linears:
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0, n
        fan_out, fan_in = layer.weight.shape
        if layer.weight.numel() >= 2000:  # enough entries for the std to be close
            expected = (2.0 / (fan_in + fan_out)) ** 0.5
            assert abs(layer.weight.std().item() / expected - 1) < 0.1, n
    biases = [m.bias for _, m in default.named_modules()
              if isinstance(m, torch.nn.Linear) and m.bias is not None]
    assert any(torch.count_nonzero(b) for b in biases)  # torch's default kept by "torch"
    with pytest.raises(ValueError, match="xavier_normal"):
        build("kaiming")
