"""MDE: the power-law size rule against hand-computed cases, blocks, projections, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoembed.embeddings.base import EmbeddingSpec
from baselines.mde import MDEConfig, MDEEmbedding, frequency_blocks, mde_dims


def test_d0_rule_matches_hand_computation() -> None:
    # d = 16 * (10 / n) ** 0.5: 16, 5.06 -> 5, 1.6 -> 2
    assert mde_dims([10, 100, 1000], dim=16, alpha=0.5, d0=16).tolist() == [16, 5, 2]
    # power-of-2 rounding: log2 5.06 = 2.34 -> 4, log2 1.6 = 0.68 -> 2
    assert mde_dims([10, 100, 1000], dim=16, alpha=0.5, d0=16, round_pow2=True).tolist() == [16, 4, 2]
    # the smallest block need not come first
    assert mde_dims([1000, 10], dim=16, alpha=0.5, d0=16).tolist() == [2, 16]


def test_budget_rule_matches_hand_computation() -> None:
    # lambda = 1000 / (10**.5 + 100**.5 + 1000**.5) = 22.33; d = 7.06, 2.23, 0.71 -> floor 1
    assert mde_dims([10, 100, 1000], dim=16, alpha=0.5, budget=1000).tolist() == [7, 2, 1]
    # a large budget is capped at D
    assert mde_dims([10, 100, 1000], dim=16, alpha=0.5, budget=10**6).tolist() == [16, 16, 16]


def test_alpha_zero_is_uniform_and_d0_is_capped() -> None:
    assert mde_dims([5, 50, 500], dim=8, alpha=0.0, d0=4).tolist() == [4, 4, 4]
    assert mde_dims([5, 50, 500], dim=8, alpha=0.0, d0=100).tolist() == [8, 8, 8]


def test_small_blocks_keep_d0_and_do_not_set_the_scale() -> None:
    # block of 3 rows keeps d0 = 8; n_min = 10 among the others: 8, 8 * 0.1 = 0.8 -> 1
    assert mde_dims([3, 10, 100], dim=8, alpha=1.0, d0=8, small_block=5).tolist() == [8, 8, 1]
    # budget: the small block's 3 * 8 = 24 values come off first; 144 / (1 + 1) = 72 * n**-1
    assert mde_dims([3, 10, 100], dim=8, alpha=1.0, d0=8, small_block=5, budget=168).tolist() == [
        8, 7, 1,
    ]


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="alpha"):
        mde_dims([10], dim=8, alpha=-1)
    with pytest.raises(ValueError, match="budget"):
        mde_dims([3, 10], dim=8, alpha=1, d0=8, small_block=5, budget=10)
    with pytest.raises(ValueError, match="freq_blocks"):
        MDEEmbedding(_spec(), MDEConfig(freq_blocks=0))


def test_frequency_blocks_give_the_popular_head_more_dims() -> None:
    counts = np.array([1, 100, 1, 50, 1, 1, 1])
    block_of, effective = frequency_blocks(counts, 3)
    # sizes grow 1:2:4 over features sorted by count: {1}, {3, one of the 1s}, the rest
    assert block_of[1] == 0 and block_of[3] == 1
    assert np.bincount(block_of).tolist() == [1, 2, 4]
    total = counts.sum()  # effective rows: rows * field count / block count
    np.testing.assert_allclose(effective, [total / 100, 2 * total / 51, 4 * total / 4])
    spec = EmbeddingSpec((7,), 16, counts)
    dims = MDEEmbedding(spec, MDEConfig(alpha=0.5, freq_blocks=3)).feature_dims()
    assert (dims[1], dims[3], dims[4]) == (16, 8, 2)  # 16 * (1.55 / 6.08) ** .5 = 8.1; 1.6


def _spec() -> EmbeddingSpec:
    vocab = (10, 100, 1000)
    return EmbeddingSpec(vocab, 16, np.ones(sum(vocab), dtype=np.int64))


def test_embedding_uses_field_blocks_and_counts_projections() -> None:
    spec = _spec()
    mde = MDEEmbedding(spec, MDEConfig(alpha=0.5, d0=16))
    dims = mde.feature_dims()
    assert dims.tolist() == [16] * 10 + [5] * 100 + [2] * 1000
    # tables 10*16 + 100*5 + 1000*2, projections 5*16 + 2*16 (none for the d = D block)
    assert mde.num_params() == 160 + 500 + 2000 + 80 + 32
    assert mde.storage_bytes() == 4 * mde.num_params()
    ids = torch.tensor([[0, 10, 110], [9, 109, 1109]])
    out = mde(ids)
    assert out.shape == (2, 3, 16)
    out.sum().backward()  # gradients reach every block that was gathered
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in mde.blocks.tables)


def test_same_id_same_vector_and_rows_are_independent() -> None:
    mde = MDEEmbedding(_spec(), MDEConfig(alpha=0.5))
    out = mde(torch.tensor([[3, 50, 500], [3, 51, 500]]))
    torch.testing.assert_close(out[0, 0], out[1, 0])
    torch.testing.assert_close(out[0, 2], out[1, 2])
    assert not torch.allclose(out[0, 1], out[1, 1])


def test_field_aligned_blocks_take_the_column_path_with_identical_numbers() -> None:
    torch.manual_seed(0)
    fast = MDEEmbedding(_spec(), MDEConfig(alpha=0.5))
    slow = MDEEmbedding(_spec(), MDEConfig(alpha=0.5))
    slow.load_state_dict(fast.state_dict())
    assert fast.blocks.block_of_field == [0, 1, 2]  # one block per field: the sync-free path
    slow.blocks.block_of_field = None  # the general sort-and-split path
    ids = torch.randint(0, 10, (64, 3)) + torch.tensor([0, 10, 110])
    ids[:8] = ids[0]  # duplicates accumulate gradients
    grads = []
    for emb in (fast, slow):
        out = emb(ids)
        (out * torch.linspace(-1, 1, 16)).sum().backward()
        grads.append([p.grad.clone() for p in emb.parameters()])
        outs = out.detach()
    torch.testing.assert_close(fast(ids), slow(ids), rtol=0, atol=0)
    assert outs.shape == (64, 3, 16)
    for g_fast, g_slow in zip(*grads, strict=True):
        torch.testing.assert_close(g_fast, g_slow, rtol=0, atol=0)


def test_frequency_blocks_within_a_field_use_the_general_path() -> None:
    spec = EmbeddingSpec((7,), 16, np.array([0, 100, 50, 10, 5, 1, 1, 1]))
    mde = MDEEmbedding(spec, MDEConfig(alpha=0.5, freq_blocks=3))
    assert mde.blocks.block_of_field is None
    assert mde(torch.tensor([[1], [4]])).shape == (2, 1, 16)
