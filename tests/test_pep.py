"""PEP: the threshold's gradients, shapes, the saturated-init drift, snapshots, retrain, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoembed.embeddings import pep as pep_module
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.masked import MaskedEmbedding, csr_bytes
from autoembed.embeddings.pep import PEPConfig, PEPEmbedding
from autoembed.embeddings.pep_export import export_pruned, load_pruned
from autoembed.embeddings.pep_threshold import (
    GRANULARITIES,
    drift_schedule,
    predicted_pruning_start,
    reference_threshold,
)

torch.set_num_threads(1)

VOCAB = (5, 7, 4)  # 16 features, 3 fields
DIM = 4


def make_spec(vocab: tuple[int, ...] = VOCAB, dim: int = DIM) -> EmbeddingSpec:
    return EmbeddingSpec(vocab, dim, np.ones(sum(vocab), dtype=np.int64), ("a", "b", "c")[: len(vocab)])


def make_pep(seed: int = 0, spec: EmbeddingSpec | None = None, **cfg) -> PEPEmbedding:
    torch.manual_seed(seed)
    return PEPEmbedding(spec or make_spec(), PEPConfig(**cfg))


def random_ids(batch: int, spec: EmbeddingSpec, gen: torch.Generator) -> torch.Tensor:
    offsets = torch.as_tensor(spec.field_offsets)
    local = torch.stack([torch.randint(0, v, (batch,), generator=gen) for v in spec.vocab_sizes], 1)
    return local + offsets


def full_table_threshold(emb: PEPEmbedding) -> torch.Tensor:
    """The threshold ``s`` broadcast to the whole ``[N, D]`` table."""
    s, gran = emb.threshold, emb.config.granularity
    if gran in ("field", "field_dim"):
        s = s[emb.field_index]
    return s.expand(emb.spec.num_features, emb.spec.dim)


@pytest.mark.parametrize("full_table", [True, False])  # whole table / the batch's distinct rows
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_gradients_match_autograd_over_the_full_table(granularity, full_table, monkeypatch):
    monkeypatch.setattr(pep_module, "use_full_table", lambda num_rows, num_ids: full_table)
    emb = make_pep(granularity=granularity, threshold_init=-2.0)
    with torch.no_grad():  # varied thresholds so some entries are pruned, some kept
        emb.threshold.add_(torch.randn_like(emb.threshold))
    ids = random_ids(6, emb.spec, torch.Generator().manual_seed(1))
    ids[1] = ids[0]  # duplicate rows: gradients must accumulate
    upstream = torch.randn(6, len(VOCAB), DIM, generator=torch.Generator().manual_seed(2))

    out = emb(ids)
    (out * upstream).sum().backward()
    grad_v, grad_s = emb.weight.grad.clone(), emb.threshold.grad.clone()

    v = torch.nn.Parameter(emb.weight.detach().clone())
    s = torch.nn.Parameter(emb.threshold.detach().clone())
    emb.weight, emb.threshold = v, s  # the reference formula over the whole table, then gather
    table = reference_threshold(v, full_table_threshold(emb))
    (table[ids] * upstream).sum().backward()

    torch.testing.assert_close(out, table[ids], rtol=0, atol=0)
    assert 0 < int((grad_v != 0).sum()) < grad_v.numel()
    torch.testing.assert_close(grad_v, v.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad_s, s.grad, rtol=1e-5, atol=1e-7)
    assert grad_s.abs().sum() > 0


@pytest.mark.parametrize("granularity, shape", [
    ("global", (1, 1)), ("dimension", (1, DIM)), ("feature", (16, 1)),
    ("feature_dim", (16, DIM)), ("field", (3, 1)), ("field_dim", (3, DIM)),
])
def test_threshold_shape_per_granularity(granularity, shape):
    emb = make_pep(granularity=granularity)
    assert tuple(emb.threshold.shape) == shape
    out = emb(random_ids(3, emb.spec, torch.Generator().manual_seed(0)))
    assert out.shape == (3, len(VOCAB), DIM)


def test_bad_config_names_the_problem():
    with pytest.raises(ValueError, match="granularity"):
        PEPConfig(granularity="row")
    with pytest.raises(ValueError, match="optimizer_mode"):
        PEPConfig(optimizer_mode="lazy")
    with pytest.raises(ValueError, match="targets"):
        PEPConfig(targets=(0.5, -1))


def fit_tiny(emb: PEPEmbedding, steps: int, lr: float, trainer_wd: float = 0.0,
             batch: int = 8, seed: int = 0, probs: torch.Tensor | None = None,
             stop_when_done: bool = False, useless: float = 0.75) -> None:
    """A tiny regression task on the embedding, stepped like the trainer does (Adam, coupled L2),
    calling ``after_step`` after every step."""
    gen = torch.Generator().manual_seed(seed)
    n = emb.spec.num_features
    gen_t = torch.Generator().manual_seed(99)
    target = torch.randn(n, emb.spec.dim, generator=gen_t).mul_(0.3)
    target[torch.rand(n, emb.spec.dim, generator=gen_t) < useless] = 0  # entries worth pruning
    groups = emb.param_groups(lr, trainer_wd)
    optims = ([torch.optim.Adam(groups)] if groups else []) + emb.extra_optimizers(lr, trainer_wd)
    for step in range(1, steps + 1):
        if probs is None:
            ids = random_ids(batch, emb.spec, gen)
        else:
            ids = torch.multinomial(probs, batch * emb.spec.num_fields, True, generator=gen)
            ids = ids.view(batch, -1)
        loss = ((emb(ids) - target[ids]) ** 2).mean()
        for opt in optims:
            opt.zero_grad()
        loss.backward()
        for opt in optims:
            opt.step()
        emb.after_step(step)
        if stop_when_done and emb.search_done():
            return


def test_saturated_init_prunes_only_through_the_threshold_decay():
    """At s = -150 only Adam's coupled L2 on s moves it: with no decay on s nothing is ever
    pruned; with the default, s follows the (init, lr, wd) drift schedule and pruning starts
    when sigmoid(s) reaches the entries' magnitudes."""
    lr, steps = 0.2, 2000
    frozen = make_pep(granularity="global", threshold_init=-150.0, threshold_weight_decay=0.0,
                      targets=(0.9,), count_every=25)
    fit_tiny(frozen, steps, lr, useless=0.0)
    assert float(frozen.threshold.detach()) == -150.0
    assert frozen.num_params() == frozen.spec.num_features * DIM
    assert not frozen.snapshots

    drifting = make_pep(granularity="global", threshold_init=-150.0, targets=(0.9,), count_every=5)
    fit_tiny(drifting, steps, lr, useless=0.0)
    full = drifting.spec.num_features * DIM
    first = next(row for row in drifting.trace if row["nonzeros"] < full)
    earliest = predicted_pruning_start(-150.0, lr, 1e-5, magnitude=1e-3)
    latest = predicted_pruning_start(-150.0, lr, 1e-5, magnitude=0.5)
    assert earliest <= first["step"] <= latest + 5, (earliest, first["step"], latest)
    schedule = drift_schedule(-150.0, lr, 1e-5, steps)
    saturated = [row for row in drifting.trace if row["s_mean"] < -30]  # task gradient is 0 here
    assert len(saturated) > 100
    for row in saturated:
        assert row["s_mean"] == pytest.approx(schedule[row["step"] - 1], rel=1e-3)
    assert drifting.search_done()


def search_to_targets(**cfg) -> PEPEmbedding:
    emb = make_pep(spec=make_spec((40, 30, 30), 8), threshold_init=-6.0,
                   targets=(0.6, 0.3, 0.25), count_every=20, **cfg)
    fit_tiny(emb, 1000, 0.02, batch=16, stop_when_done=True)
    return emb


def test_snapshots_match_their_targets():
    emb = search_to_targets(granularity="feature_dim")
    assert emb.search_done(), emb.trace[-1]
    steps = [row["step"] for row in emb.trace]
    for snap in emb.snapshots:
        assert snap.nonzeros <= snap.target_count
        assert int(snap.mask.sum()) == snap.nonzeros
        previous = emb.trace[steps.index(snap.step) - 1]
        assert previous["nonzeros"] > snap.target_count
    points = emb.retrain_points()
    assert [p.label for p in points] == ["target=0.60", "target=0.30", "target=0.25"]
    assert all(p.info["nonzeros"] <= 0.6 * 800 for p in points)


def test_retrain_mask_is_frozen_and_rewound():
    emb = search_to_targets(granularity="feature")
    point = emb.retrain_points()[-1]
    ticket = emb.for_retrain(point)
    mask = point.state.mask
    assert torch.equal(ticket.weight.detach(), torch.where(mask, emb.initial_weight, 0.0))
    assert ticket.num_params() == int(mask.sum()) == point.info["nonzeros"]
    np.testing.assert_array_equal(ticket.feature_dims(), mask.sum(1).numpy())

    before = ticket.weight.detach().clone()
    opt = torch.optim.Adam(ticket.param_groups(0.05, 0.0), weight_decay=0.1)
    for group in opt.param_groups:
        group["weight_decay"] = 0.1  # strong coupled L2 on every entry
    gen = torch.Generator().manual_seed(3)
    for _ in range(50):
        ids = random_ids(16, ticket.spec, gen)
        loss = (ticket(ids) - 1.0).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = ticket.weight.detach()
    assert torch.all(after[~mask] == 0)  # exactly zero, not merely small
    assert not torch.equal(after[mask], before[mask])
    out = ticket(torch.arange(ticket.spec.num_features).view(-1, 1))
    assert torch.all(out[:, 0][~mask] == 0)

    random_ticket = search_to_targets(granularity="feature", reinit="random")
    fresh = random_ticket.for_retrain(random_ticket.retrain_points()[-1])
    assert not torch.equal(fresh.weight.detach(), ticket.weight.detach())


def test_late_rewinding_rewinds_to_the_weights_of_that_step():
    early = search_to_targets(granularity="feature_dim")
    late = search_to_targets(granularity="feature_dim", rewind_step=5)
    # same search (rewind_step changes only what is kept), different rewind targets
    assert [s.step for s in late.snapshots] == [s.step for s in early.snapshots]
    assert not torch.equal(late.initial_weight, early.initial_weight)
    replay = make_pep(spec=make_spec((40, 30, 30), 8), threshold_init=-6.0,
                      targets=(0.6, 0.3, 0.25), count_every=20)
    fit_tiny(replay, 5, 0.02, batch=16)
    assert torch.equal(late.initial_weight, replay.weight.detach())
    ticket = late.for_retrain(late.retrain_points()[0])
    mask = late.retrain_points()[0].state.mask
    assert torch.equal(ticket.weight.detach(), torch.where(mask, replay.weight.detach(), 0.0))


def test_keep_retrains_from_the_searched_thresholded_weights():
    emb = search_to_targets(granularity="feature_dim", reinit="keep", retrain_weight_decay=0.0)
    rewound = search_to_targets(granularity="feature_dim")
    for point, other in zip(emb.retrain_points(), rewound.retrain_points(), strict=True):
        snap = point.state
        assert torch.equal(snap.mask, other.state.mask)  # the same search, only the retrain differs
        ticket = emb.for_retrain(point)
        kept = ticket.weight.detach()
        assert torch.equal(kept != 0, snap.mask)  # V_hat is nonzero exactly where kept
        assert torch.equal(kept, snap.weight)
        assert not torch.equal(kept, rewound.for_retrain(other).weight.detach())
        assert ticket.param_groups(0.1, 1e-3)[0]["weight_decay"] == 0.0  # retrain_weight_decay
    assert rewound.for_retrain(other).param_groups(0.1, 1e-3)[0]["weight_decay"] == 1e-5


def test_prefix_retrain_mask_keeps_each_rows_searched_size_in_its_first_dims():
    emb = search_to_targets(granularity="feature_dim", retrain_mask="prefix")
    point = emb.retrain_points()[-1]
    searched = point.state.mask
    ticket = emb.for_retrain(point)
    sizes = searched.sum(1)
    np.testing.assert_array_equal(ticket.feature_dims(), sizes.numpy())
    assert ticket.num_params() == point.info["nonzeros"]
    assert torch.equal(ticket.mask, torch.arange(8) < sizes[:, None])
    assert not torch.equal(ticket.mask, searched)  # the entries moved, the sizes did not
    assert torch.equal(ticket.weight.detach(), torch.where(ticket.mask, emb.initial_weight, 0.0))
    with pytest.raises(ValueError, match="retrain_mask must be one of"):
        PEPConfig(retrain_mask="suffix")
    with pytest.raises(ValueError, match="reinit='keep' keeps the searched entries"):
        PEPConfig(reinit="keep", retrain_mask="prefix")


def test_storage_bytes_is_csr_or_dense_whichever_is_smaller():
    spec = make_spec((1000,), 32)
    mask = torch.zeros(1000, 32, dtype=torch.bool)
    mask[:, :3] = True  # 3000 nonzeros
    ticket = MaskedEmbedding(spec, torch.ones(1000, 32), mask)
    assert ticket.storage_bytes() == csr_bytes(1000, 32, 3000) == 3000 * 5 + 1001 * 4
    full = MaskedEmbedding(spec, torch.ones(1000, 32), torch.ones(1000, 32, dtype=torch.bool))
    assert full.storage_bytes() == 1000 * 32 * 4  # dense beats CSR


def test_export_round_trip_serves_identical_lookups(tmp_path):
    emb = search_to_targets(granularity="dimension")
    ticket = emb.for_retrain(emb.retrain_points()[1])
    with torch.no_grad():
        ticket.weight.mul_(1.7).add_(0.01)  # stands for retraining
    path = export_pruned(ticket, tmp_path / "table.npz", granularity="dimension")
    table = load_pruned(path)
    ids = random_ids(64, ticket.spec, torch.Generator().manual_seed(5))
    assert torch.equal(table.lookup(ids), ticket(ids).detach())
    assert table.nnz == ticket.num_params()
    assert table.meta["granularity"] == "dimension"
    with pytest.raises(IndexError, match="ids must lie"):
        table.lookup(torch.tensor([[100]]))
