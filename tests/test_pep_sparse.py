"""PEP's scalable mode: row-sparse Adam with the closed-form lazy drift of untouched rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pep import fit_tiny, make_pep, make_spec

from autoembed.embeddings.sparse_adam import lazy_decay

torch.set_num_threads(1)


def iterate_reference(p, m, v, t0, gap, lr, wd, betas=(0.9, 0.999), eps=1e-8):
    """``gap`` steps of torch's Adam (coupled L2) with zero task gradient, one by one."""
    b1, b2 = betas
    for j in range(1, gap + 1):
        t = t0 + j
        g = wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * m / ((v / (1 - b2**t)).sqrt() + eps)
    return p


@pytest.mark.parametrize("gap", [1, 2, 30, 300, 3000])
def test_lazy_decay_follows_the_dense_recurrence(gap):
    gen = torch.Generator().manual_seed(0)
    lr, wd, t0 = 1e-3, 1e-5, 100
    p = (torch.rand(300, 8, generator=gen) * 2 - 1) * 0.02
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t in range(1, t0 + 1):  # realistic optimizer state: real Adam steps with task gradients
        g = torch.randn(p.shape, generator=gen) * 1e-4 + wd * p
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        p = p - lr / (1 - 0.9**t) * m / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
    expected = iterate_reference(p, m, v, t0, gap, lr, wd)
    rows = torch.full((300,), t0)
    got, _, _ = lazy_decay(p, m, v, rows, torch.full((300,), gap), lr, (0.9, 0.999), 1e-8, wd)
    moved = float((expected - p).abs().mean())
    assert moved > 0
    if gap == 1:
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)
    assert float((got - expected).abs().max()) <= 0.1 * float(p.abs().mean())
    agree = ((got.abs() > 1e-3) == (expected.abs() > 1e-3)).float().mean()
    assert agree >= 0.97


@pytest.mark.parametrize("granularity", ["feature_dim", "global"])
def test_dense_and_sparse_lazy_prune_alike(granularity):
    spec = make_spec((60, 30, 30), 8)
    ranks = torch.arange(1, spec.num_features + 1, dtype=torch.float32)
    probs = 1.0 / ranks  # Zipf-like: many rows are gathered only now and then
    common = dict(granularity=granularity, threshold_init=-7.0, targets=(0.5,),
                  weight_decay=1e-3, count_every=1)
    traces, snap_steps = {}, {}
    for mode in ("dense", "sparse_lazy"):
        emb = make_pep(seed=4, spec=spec, optimizer_mode=mode, **common)
        fit_tiny(emb, 300, 0.02, batch=4, probs=probs)
        traces[mode] = np.array([row["nonzeros"] for row in emb.trace]) / (spec.num_features * 8)
        snap_steps[mode] = [snap.step for snap in emb.snapshots]
        if mode == "sparse_lazy":
            assert not emb.param_groups(0.02, 0.0)  # V and s are stepped by its own optimizer
    dense, sparse = traces["dense"], traces["sparse_lazy"]
    n = min(len(dense), len(sparse))
    assert dense[n - 1] < 0.6  # it prunes
    assert np.abs(dense[:n] - sparse[:n]).max() <= 0.03, np.abs(dense[:n] - sparse[:n]).max()
    assert len(snap_steps["dense"]) == len(snap_steps["sparse_lazy"]) == 1
    assert abs(snap_steps["dense"][0] - snap_steps["sparse_lazy"][0]) <= 5


def test_sync_free_catch_up_matches_the_partitioned_one(monkeypatch):
    """The accelerator path (no host sync) gives the CPU path's rows for every kind of gap."""
    import autoembed.embeddings.sparse_adam as sparse_adam

    gen = torch.Generator().manual_seed(0)
    table = torch.randn(200, 8, generator=gen) * 0.05
    state = sparse_adam.LazyAdamTable(table, lr=1e-2, weight_decay=1e-3)
    state.exp_avg.copy_(torch.randn(200, 8, generator=gen) * 1e-3)
    state.exp_avg_sq.copy_(torch.rand(200, 8, generator=gen) * 1e-6)
    step = 500
    # gaps 0 (current), 1 (exact step), 2..32 (short), > 32 (long) and never touched (t0 = 0)
    state.current_at.copy_(torch.tensor([step, step - 1, step - 7, step - 32, step - 33,
                                         step - 400, 0, step - 2] * 25))
    rows = torch.randperm(200, generator=gen)[:120].sort().values
    expected = state.current_rows(rows, step)
    monkeypatch.setattr(sparse_adam, "sync_free", lambda device: True)
    got = state.current_rows(rows, step)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)
    assert not torch.equal(expected[0], table.index_select(0, rows))  # the catch-up did move rows


def test_sparse_lazy_search_is_the_same_without_host_syncs(monkeypatch):
    import autoembed.embeddings.sparse_adam as sparse_adam

    common = dict(spec=make_spec((60, 30, 30), 8), granularity="feature_dim",
                  threshold_init=-7.0, targets=(0.5,), weight_decay=1e-3, count_every=10,
                  optimizer_mode="sparse_lazy")
    plain = make_pep(seed=4, **common)
    fit_tiny(plain, 60, 0.02, batch=4)
    monkeypatch.setattr(sparse_adam, "sync_free", lambda device: True)
    synced_free = make_pep(seed=4, **common)
    fit_tiny(synced_free, 60, 0.02, batch=4)
    assert [r["nonzeros"] for r in plain.trace] == [r["nonzeros"] for r in synced_free.trace]
    torch.testing.assert_close(plain.weight, synced_free.weight, rtol=1e-5, atol=1e-7)
