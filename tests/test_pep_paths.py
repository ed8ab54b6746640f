"""PEP's fast paths (unique-row threshold, index_add gather), device moves and config."""

from __future__ import annotations

import pytest
import torch
from test_pep import fit_tiny, make_pep, make_spec, random_ids

from autoembed.embeddings import pep as pep_module
from autoembed.embeddings import pep_cpu_kernel
from autoembed.embeddings.gather import accumulate_rows, gather_rows
from autoembed.embeddings.pep import PEPConfig
from autoembed.embeddings.pep_threshold import unique_rows

torch.set_num_threads(1)


@pytest.mark.parametrize("num_rows", [50, 100_000])  # marked (small table) and sorted paths
def test_unique_rows_matches_torch_unique(num_rows):
    ids = torch.randint(0, 50, (64, 3), generator=torch.Generator().manual_seed(0)) * (num_rows // 50)
    rows, inverse = unique_rows(ids, num_rows)
    expected_rows, expected_inverse = torch.unique(ids, return_inverse=True)
    assert torch.equal(rows, expected_rows)
    assert torch.equal(inverse, expected_inverse)
    assert torch.equal(rows[inverse], ids)


def test_gather_rows_matches_embedding_forward_and_backward():
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(30, 5, generator=gen, requires_grad=True)
    ids = torch.randint(0, 30, (40, 4), generator=gen)  # with repeats: gradients accumulate
    upstream = torch.randn(40, 4, 5, generator=gen)
    (gather_rows(table, ids) * upstream).sum().backward()
    fast = table.grad.clone()
    table.grad = None
    (torch.nn.functional.embedding(ids, table) * upstream).sum().backward()
    torch.testing.assert_close(fast, table.grad)
    assert torch.equal(gather_rows(table, ids), table[ids])


def test_accumulate_rows_non_cpu_branch_has_the_right_shape():
    """Off CPU the row gradient comes from ``embedding_dense_backward`` (checked on ``meta``)."""
    grad = torch.empty(40, 4, 5, device="meta")
    ids = torch.empty(40, 4, dtype=torch.int64, device="meta")
    assert accumulate_rows(grad, ids, 30).shape == (30, 5)


def test_a_second_backward_through_one_forward_is_refused(monkeypatch):
    monkeypatch.setattr(pep_module, "pruned_shared_lookup", lambda *args: None)
    emb = make_pep(granularity="field_dim")  # the distinct-rows path (no per-id lookup)
    loss = emb(random_ids(4, emb.spec, torch.Generator().manual_seed(0))).sum()
    loss.backward(retain_graph=True)  # the fused backward reuses the forward's buffers
    with pytest.raises(RuntimeError, match="one backward per forward"):
        loss.backward()


@pytest.mark.parametrize("granularity", ["feature", "feature_dim"])
def test_the_lookup_path_keeps_its_inputs_and_reads_only_named_rows(granularity):
    """A batch smaller than the table goes through ``pruned_lookup`` (CPU kernel): it gives the
    distinct-rows path's values and gradients, zero gradients on unnamed rows, and may be
    backpropagated twice (it keeps no intermediates)."""
    emb = make_pep(granularity=granularity, threshold_init=-2.0)
    with torch.no_grad():
        emb.threshold.add_(torch.randn_like(emb.threshold))
    ids = random_ids(2, emb.spec, torch.Generator().manual_seed(0))  # 6 ids < 16 rows
    out = emb(ids)
    out.sum().backward(retain_graph=True)
    first = emb.weight.grad.clone(), emb.threshold.grad.clone()
    out.sum().backward()
    torch.testing.assert_close(emb.weight.grad, 2 * first[0])
    torch.testing.assert_close(emb.threshold.grad, 2 * first[1])
    named = torch.zeros(emb.spec.num_features, dtype=torch.bool).index_fill_(0, ids.flatten(), True)
    assert not first[0][~named].any() and not first[1][~named].any()
    with pep_cpu_kernel.unfused():  # the distinct-rows path, same numbers
        emb.weight.grad = emb.threshold.grad = None
        rows_out = emb(ids)
        rows_out.sum().backward()
    torch.testing.assert_close(rows_out, out, rtol=0, atol=0)
    torch.testing.assert_close(emb.weight.grad, first[0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(emb.threshold.grad, first[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("granularity", ["global", "dimension", "field", "field_dim"])
def test_the_shared_threshold_path_matches_the_distinct_rows_path(granularity):
    """A batch smaller than the table with thresholds shared by many rows goes through
    ``pruned_shared_lookup`` (CPU kernel, per id): the distinct-rows path's values and gradients,
    zero V gradients on unnamed rows, and it may be backpropagated twice."""
    emb = make_pep(granularity=granularity, threshold_init=-2.0)
    with torch.no_grad():
        emb.threshold.add_(torch.randn_like(emb.threshold))
    ids = random_ids(2, emb.spec, torch.Generator().manual_seed(0))  # 6 ids < 16 rows
    calls = []
    original = pep_module.pruned_shared_lookup

    def spy(*args):
        out = original(*args)
        calls.append(out is not None)
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pep_module, "pruned_shared_lookup", spy)
        out = emb(ids)
    assert calls == [True]
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * upstream).sum().backward(retain_graph=True)
    first = emb.weight.grad.clone(), emb.threshold.grad.clone()
    (out * upstream).sum().backward()
    torch.testing.assert_close(emb.weight.grad, 2 * first[0])
    torch.testing.assert_close(emb.threshold.grad, 2 * first[1])
    named = torch.zeros(emb.spec.num_features, dtype=torch.bool).index_fill_(0, ids.flatten(), True)
    assert not first[0][~named].any() and first[0][named].any() and first[1].any()
    with pep_cpu_kernel.unfused():  # the distinct-rows path, same numbers
        emb.weight.grad = emb.threshold.grad = None
        rows_out = emb(ids)
        (rows_out * upstream).sum().backward()
    torch.testing.assert_close(rows_out, out, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(emb.weight.grad, first[0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(emb.threshold.grad, first[1], rtol=1e-5, atol=1e-7)


def test_integer_threshold_init_is_accepted():
    emb = make_pep(granularity="feature_dim", threshold_init=-15)
    assert emb.threshold.dtype == torch.float32
    assert float(emb.threshold.detach()[0, 0]) == -15.0


def test_initial_weight_is_a_buffer_that_follows_the_module():
    emb = make_pep(granularity="feature")
    assert "initial_weight" in dict(emb.named_buffers())
    emb.double()
    assert emb.initial_weight.dtype == torch.float64
    assert make_pep(reinit="random").initial_weight is None


def test_sparse_lazy_state_follows_the_module():
    spec = make_spec((20, 20), 4)
    emb = make_pep(spec=spec, granularity="feature_dim", optimizer_mode="sparse_lazy",
                   threshold_init=-6.0, targets=(0.5,), count_every=5)
    fit_tiny(emb, 5, 0.02, batch=4)
    v_table, s_table = emb._lazy_tables()
    emb.double()  # stands for .to("cuda"): every tensor is replaced
    assert v_table.table is emb.weight and s_table.table is emb.threshold
    assert v_table.exp_avg.dtype == torch.float64
    before = emb.weight.clone()
    ids = random_ids(4, spec, torch.Generator().manual_seed(3))
    emb(ids).sum().backward()  # keeps training on the moved tensors
    emb._optimizer.step()
    assert emb._optimizer.completed_steps == 6
    assert not torch.equal(emb.weight[ids.unique()], before[ids.unique()])


def test_recommended_settings_are_valid_configs():
    for gran in ("global", "dimension", "feature", "feature_dim"):
        cfg = PEPConfig.recommended("ml-1m", gran)
        assert cfg.granularity == gran and cfg.threshold_init > -15
    assert PEPConfig.recommended("elsewhere", "global") == PEPConfig(granularity="global")


def test_eval_forward_matches_training_forward():
    emb = make_pep(granularity="field_dim", threshold_init=-3.0)
    ids = random_ids(8, emb.spec, torch.Generator().manual_seed(2))
    train_out = emb(ids)
    emb.eval()
    with torch.inference_mode():
        assert torch.equal(emb(ids), train_out.detach())


def test_sparse_lazy_eval_forward_reads_caught_up_rows_without_writing():
    spec = make_spec((20, 20), 4)
    emb = make_pep(spec=spec, granularity="feature", optimizer_mode="sparse_lazy",
                   threshold_init=-6.0, targets=(0.5,), weight_decay=1e-2, count_every=50)
    fit_tiny(emb, 30, 0.02, batch=2)
    stored = emb.weight.clone(), emb.threshold.clone()
    ids = torch.arange(40).view(-1, 2)
    emb.eval()
    with torch.inference_mode():
        out = emb(ids)
    assert torch.equal(emb.weight, stored[0]) and torch.equal(emb.threshold, stored[1])
    emb.materialize()  # now every row is current in place: the same table as the forward saw
    assert not torch.equal(emb.weight, stored[0])
    with torch.inference_mode():
        torch.testing.assert_close(emb(ids), out)


def test_sparse_lazy_resume_keeps_the_step_count():
    emb = make_pep(spec=make_spec((20, 20), 4), granularity="feature_dim",
                   optimizer_mode="sparse_lazy", threshold_init=-6.0, targets=(0.5,))
    fit_tiny(emb, 4, 0.02, batch=2)
    state = emb._optimizer.state_dict()
    assert state["completed_steps"] == 4
    again = emb.extra_optimizers(0.02, 0.0)[0]  # a resumed trainer builds its optimizers anew
    assert again.completed_steps == 4
    again.completed_steps = 0
    again.load_state_dict(state)
    assert again.completed_steps == 4
