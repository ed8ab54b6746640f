"""PEP's fused CPU kernel: it builds here, and matches the unfused torch ops it replaces."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from autoembed.cpu_extension import STALE_LOCK_SECONDS, CpuExtension, clear_stale_lock
from autoembed.embeddings import pep_cpu_kernel
from autoembed.embeddings.pep_threshold import (
    pruned_gather,
    pruned_lookup,
    pruned_shared_lookup,
    reference_threshold,
)


def test_the_kernel_builds_on_this_machine():
    assert pep_cpu_kernel.load() is not None


def _case(rows: int, dim: int, per_row: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    v = (torch.rand(rows, dim, generator=gen) - 0.5) * 0.1
    v[0, 0] = 0.0  # an exact zero: pruned at any threshold
    s = torch.randn(rows, 1 if per_row else dim, generator=gen) - 3.0  # g ~ 0.05: many pruned
    ids = torch.randint(0, rows, (64, 5), generator=gen)
    ids[0, :] = 1  # duplicates: gradients summed per row
    upstream = torch.randn(64, 5, dim, generator=gen)
    return v, s, ids, upstream


def _run(v, s, ids, upstream, fused: bool):
    v, s = v.clone().requires_grad_(), s.clone().requires_grad_()
    with nullcontext() if fused else pep_cpu_kernel.unfused():
        out = pruned_gather(v, s, ids)
        out.backward(upstream)
    return out.detach(), v.grad, s.grad


@pytest.mark.parametrize("per_row", [False, True], ids=["per-entry", "per-row"])
@pytest.mark.parametrize("dim", [32, 13])  # 13: the vector loop's scalar tail
def test_fused_matches_unfused_and_autograd(per_row, dim):
    case = _case(100, dim, per_row)
    fused = _run(*case, fused=True)
    unfused = _run(*case, fused=False)
    # sigmoid may differ by an ulp (vector vs scalar exp); per-row sums run in another order
    for a, b in zip(fused, unfused, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    out, v_grad, s_grad = fused
    assert (out == 0).float().mean() > 0.2 and (out != 0).any()  # both regimes exercised
    v, s, ids, upstream = (t.clone() for t in case)
    v.requires_grad_()
    s.requires_grad_()
    reference_threshold(v, s)[ids].backward(upstream)
    torch.testing.assert_close(v_grad, v.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(s_grad, s.grad, rtol=1e-5, atol=1e-7)
    touched = torch.zeros(100, dtype=torch.bool).index_fill_(0, ids.reshape(-1), True)
    assert (v_grad[touched] == 0).any() and (v_grad[touched] != 0).any()  # masked and passed


def test_unfused_switch_and_env(monkeypatch):
    assert pep_cpu_kernel.enabled()
    with pep_cpu_kernel.unfused():
        assert not pep_cpu_kernel.enabled()
        assert pep_cpu_kernel.load() is None
    assert pep_cpu_kernel.enabled()
    monkeypatch.setenv(pep_cpu_kernel.ENV_SWITCH, "0")
    assert pep_cpu_kernel.load() is None


def test_kernel_applies_to_float32_cpu_per_entry_or_per_row_thresholds_only():
    v = torch.zeros(10, 4)
    assert pep_cpu_kernel.applies(v, torch.zeros(10, 4))
    assert pep_cpu_kernel.applies(v, torch.zeros(10, 1))
    assert not pep_cpu_kernel.applies(v, torch.zeros(1, 4))  # dimension: torch ops
    assert not pep_cpu_kernel.applies(v, torch.zeros(1, 1))  # global: torch ops
    assert not pep_cpu_kernel.applies(v.double(), torch.zeros(10, 4).double())


def test_a_failed_build_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def broken(**_):
        raise OSError("no compiler here")

    monkeypatch.setattr(cpp_extension, "load", broken)
    monkeypatch.setattr(pep_cpu_kernel.KERNEL, "_module", {})
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        assert pep_cpu_kernel.load() is None
    assert pep_cpu_kernel.load() is None  # remembered: no second build, no second warning
    case = _case(20, 8, per_row=False)
    out, v_grad, s_grad = _run(*case, fused=True)  # falls back to the torch ops
    torch.testing.assert_close(out, reference_threshold(case[0], case[1])[case[2]])


def test_a_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path):
    import os
    import time

    lock = tmp_path / "lock"
    lock.write_text("")
    clear_stale_lock(tmp_path)
    assert lock.exists()  # a build may be running: wait for it, as torch does
    old = time.time() - STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        clear_stale_lock(tmp_path)
    assert not lock.exists()
    clear_stale_lock(tmp_path)  # no lock: nothing to do


def test_build_directory_follows_torch_extensions_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    folder = pep_cpu_kernel.KERNEL.build_directory("AVX2")
    assert folder.parent == tmp_path and "avx2" in folder.name and "torch" in folder.name


def test_each_kernel_source_version_builds_in_its_own_folder(tmp_path):
    """Two autoembed versions on one machine must not rebuild over each other's kernel."""
    one, two = tmp_path / "one.cpp", tmp_path / "two.cpp"
    one.write_text("// version 1\n")
    two.write_text("// version 2\n")
    first = CpuExtension("k", one, "K_SWITCH", "k", "torch ops").build_directory("AVX512")
    again = CpuExtension("k", one, "K_SWITCH", "k", "torch ops").build_directory("AVX512")
    other = CpuExtension("k", two, "K_SWITCH", "k", "torch ops").build_directory("AVX512")
    assert first == again and first != other
    assert first != CpuExtension("k", one, "K_SWITCH", "k", "x").build_directory("AVX2")


@pytest.mark.parametrize("per_row", [False, True], ids=["per-entry", "per-row"])
@pytest.mark.parametrize("dim", [32, 13, 40])  # partial vector chunks: 13 < 16, 40 = 16+16+8
def test_lookup_matches_the_reference_on_named_rows_only(per_row, dim):
    v, s, ids, upstream = _case(100, dim, per_row)
    ids = ids[:8]  # 40 ids into 100 rows: most rows unnamed
    fused_v, fused_s = v.clone().requires_grad_(), s.clone().requires_grad_()
    out = pruned_lookup(fused_v, fused_s, ids)
    out.backward(upstream[:8])
    v.requires_grad_()
    s.requires_grad_()
    expected = reference_threshold(v, s)[ids]
    expected.backward(upstream[:8])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(fused_v.grad, v.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(fused_s.grad, s.grad, rtol=1e-5, atol=1e-7)
    with pytest.raises(RuntimeError, match="out of range"):
        pruned_lookup(fused_v, fused_s, torch.tensor([[100]]))


def test_lookup_takes_each_named_rows_threshold_once_and_marks_the_rest_unnamed():
    v, s, _, _ = _case(50, 20, per_row=False)
    ids = torch.tensor([7, 3, 7, 7, 41, 3])
    out, g, slot = pep_cpu_kernel.load().lookup_forward(v, s, ids)
    assert g.shape == (3, 20)  # rows 7, 3, 41: in order of first appearance
    assert slot[[7, 3, 41]].tolist() == [0, 1, 2]
    assert int((slot >= 0).sum()) == 3 and bool((slot[slot < 0] == -1).all())
    torch.testing.assert_close(g, torch.sigmoid(s[[7, 3, 41]]), rtol=1e-6, atol=0)
    torch.testing.assert_close(out, reference_threshold(v, s)[ids], rtol=0, atol=0)


def _shared_case(rows: int, dim: int, s_rows: int, per_row: bool, n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    v = (torch.rand(rows, dim, generator=gen) - 0.5) * 0.2
    v[0, 0] = 0.0
    s = torch.randn(s_rows, 1 if per_row else dim, generator=gen) * 0.3 - 3.0  # 35-65% pruned
    s_index = torch.randint(0, s_rows, (rows,), generator=gen) if s_rows > 1 else None
    ids = torch.randint(0, rows, (n, 5), generator=gen)
    ids[0, :] = 1
    upstream = torch.randn(n, 5, dim, generator=gen)
    return v, s, s_index, ids, upstream


def _shared_run(v, s, s_index, ids, upstream):
    v, s = v.clone().requires_grad_(), s.clone().requires_grad_()
    out = pruned_shared_lookup(v, s, ids, s_index)
    out.backward(upstream)
    return out.detach(), v.grad, s.grad


BY_TABLE, PER_ID = 100, 3000  # rows: fewer than the 1,500 ids (the backward by the table), more

@pytest.mark.parametrize("rows", [BY_TABLE, PER_ID], ids=["by-table", "per-id"])
@pytest.mark.parametrize("s_rows, per_row", [(1, True), (1, False), (4, True), (4, False)],
                         ids=["global", "dimension", "field", "field_dim"])
@pytest.mark.parametrize("dim", [32, 13, 40])
def test_shared_lookup_matches_the_reference(s_rows, per_row, dim, rows):
    """Thresholds shared by many rows (``pruned_shared_lookup``): the reference formula's values
    and gradients, over more ids than one partial-sum block, both backward paths."""
    v, s, s_index, ids, upstream = _shared_case(rows, dim, s_rows, per_row, n=300)
    out, v_grad, s_grad = _shared_run(v, s, s_index, ids, upstream)
    # the reference in float64: s's gradient sums ~1,500 terms per threshold, whose float32
    # rounding depends on the order (ours: fixed blocks of ids)
    ref_v, ref_s = v.double().requires_grad_(), s.double().requires_grad_()
    expected = reference_threshold(ref_v, ref_s if s_index is None else ref_s[s_index])[ids]
    expected.backward(upstream.double())
    torch.testing.assert_close(out, expected.float(), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(v_grad, ref_v.grad.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s_grad, ref_s.grad.float(), rtol=1e-4, atol=1e-5)
    assert (out == 0).float().mean() > 0.2 and (out != 0).any()
    assert s_grad.shape == s.shape and bool((s_grad != 0).any())


@pytest.mark.parametrize("rows", [200, 5000], ids=["by-table", "per-id"])
def test_shared_lookup_gives_the_same_bits_on_one_and_two_threads(rows):
    case = _shared_case(rows, 32, 4, False, n=900)  # 4,500 ids: five partial-sum blocks
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _shared_run(*case)
        torch.set_num_threads(2)
        two = _shared_run(*case)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


def test_shared_lookup_names_a_bad_id_and_a_bad_threshold_row():
    v, s, s_index, ids, _ = _shared_case(100, 8, 4, True, n=10)
    bad = ids.clone()
    bad[3, 2], bad[7, 0] = 100, -1
    with pytest.raises(RuntimeError, match="id 100 at position 17 out of range for 100 rows"):
        pruned_shared_lookup(v, s, bad, s_index)
    s_index = s_index.clone()
    s_index[ids[0, 0]] = 4
    with pytest.raises(RuntimeError, match="maps to threshold row 4 of 4"):
        pruned_shared_lookup(v, s, ids, s_index)
    s_index[ids[0, 0]] = 0  # a row the batch does not name: read by the backward by the table
    unnamed = int(torch.ones(100, dtype=torch.bool).index_fill_(0, ids.flatten(), False).nonzero()[0])
    s_index[unnamed] = -2
    out = pruned_shared_lookup(v.requires_grad_(), s.requires_grad_(), ids.repeat(20, 1), s_index)
    with pytest.raises(RuntimeError, match=f"row {unnamed} maps to threshold row -2 of 4"):
        out.sum().backward()


def test_shared_lookup_serves_only_what_it_can():
    v, s = torch.zeros(10, 4), torch.zeros(1, 4)
    ids = torch.zeros(3, 2, dtype=torch.int64)
    assert pruned_shared_lookup(v, torch.zeros(2, 4), ids) is None  # several rows, no s_index
    assert pruned_shared_lookup(v, torch.zeros(1, 3), ids) is None  # s fits no broadcast
    assert pruned_shared_lookup(v.double(), s.double(), ids) is None
    assert pruned_shared_lookup(v, torch.zeros(2, 1), ids, torch.zeros(9, dtype=torch.int64)) is None
    with pep_cpu_kernel.unfused():
        assert pruned_shared_lookup(v, s, ids) is None
    assert pruned_shared_lookup(v, s, ids) is not None
