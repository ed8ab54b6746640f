"""Trainer: exact AUC, early stopping with best-epoch weights, test evaluated once, NaN errors,
seeding, DARTS-style bi-level steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from autoembed.config import ModelConfig, TrainConfig
from autoembed.data.base import CTRData, split_indices
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.uniform import UniformEmbedding
from autoembed.models import build_model
from autoembed.training import NonFiniteLossError, Trainer, auc, logloss
from autoembed.training import trainer as trainer_module

DIM = 8


def toy_data(
    n: int = 3000, seed: int = 0, vocab: tuple[int, ...] = (40, 30, 10, 6), row_ids: bool = False
) -> CTRData:
    """Rows with a learnable signal: labels drawn from a random linear teacher over the ids.
    With ``row_ids`` field 0 holds the row number (``vocab[0]`` must be ``n``)."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]])
    local = np.stack([rng.integers(0, v, n) for v in vocab], 1)
    if row_ids:
        local[:, 0] = np.arange(n)
    ids = (local + offsets).astype(np.int32)
    weights = rng.normal(0, 1.0, sum(vocab))
    probs = 1 / (1 + np.exp(-weights[ids].sum(1)))
    labels = (rng.random(n) < probs).astype(np.float32)
    counts = np.bincount(ids.ravel(), minlength=sum(vocab)).astype(np.int64)
    names = tuple(f"f{i}" for i in range(len(vocab)))
    return CTRData("toy", ids, labels, names, vocab, counts)


def make_trainer(data: CTRData, model: str = "fm", **train: object) -> Trainer:
    split = split_indices(data.num_rows, 0)
    spec = EmbeddingSpec.from_data(data, DIM, split.train)
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 256, "lr": 1e-2, "threads": 1, **train})
    torch.manual_seed(cfg.seed)
    params = {"deepfm": {"dnn_hidden": (16,), "dropout": 0.2},
              "autoint": {"dnn_hidden": (16,), "dropout": 0.2, "attention_dim": 8}}
    mcfg = ModelConfig(name=model, dim=DIM, params=params.get(model, {}))
    return Trainer(build_model(mcfg, UniformEmbedding(spec), spec, seed=cfg.seed), data, split, cfg)


# --- metrics ----------------------------------------------------------------------------------
def brute_force_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 200).astype(np.float32)  # many ties
    labels = (rng.random(200) < 0.4).astype(np.float32)
    got = float(auc(torch.from_numpy(scores), torch.from_numpy(labels)))
    assert got == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_auc_extremes_and_logloss() -> None:
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert float(auc(torch.tensor([0.1, 0.2, 0.3, 0.4]), labels)) == 1.0
    assert float(auc(torch.tensor([0.4, 0.3, 0.2, 0.1]), labels)) == 0.0
    assert float(auc(torch.ones(4), labels)) == 0.5
    assert float(logloss(torch.zeros(4), labels)) == pytest.approx(np.log(2))


# --- training loop ------------------------------------------------------------------------------
def test_training_learns_and_reports() -> None:
    result = make_trainer(toy_data(), epochs=4, patience=10).fit()
    assert result.epochs_run == 4 and len(result.history) == 4
    assert result.val_auc > 0.7 and result.test_auc > 0.7
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.samples_per_sec > 0 and result.wall_samples_per_sec > 0
    assert result.history[-1].samples == 4 * 2400 and result.steps == 4 * 10


def test_early_stopping_restores_best_epoch_and_tests_once() -> None:
    trainer = make_trainer(toy_data(), epochs=10, patience=2)
    scripted = iter([0.60, 0.70, 0.65, 0.64, 0.99])  # best at epoch 2, patience runs out at 4
    real_evaluate = trainer.evaluate
    snapshots, test_calls = {}, []

    def evaluate(ids: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        if ids is trainer.test_ids:
            test_calls.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
            return real_evaluate(ids, labels)
        return next(scripted), 0.5

    trainer.evaluate = evaluate  # type: ignore[method-assign]
    result = trainer.fit(on_epoch=lambda r: snapshots.__setitem__(
        r.epoch, {k: v.clone() for k, v in trainer.model.state_dict().items()}))
    assert (result.epochs_run, result.best_epoch, result.stop_reason) == (4, 2, "early_stopping")
    assert result.val_auc == 0.70
    assert len(test_calls) == 1  # the test split is evaluated exactly once, at the end
    for key, value in snapshots[2].items():
        assert torch.equal(test_calls[0][key], value), key
    assert not torch.equal(snapshots[4]["embedding.weight"], snapshots[2]["embedding.weight"])


def test_nan_loss_is_a_clear_error() -> None:
    data = toy_data()
    data.labels[:] = np.nan
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch 1/10 .*lower the learning rate"):
        make_trainer(data).fit()


def test_same_seed_same_numbers_and_different_seed_differs() -> None:
    data = toy_data()
    a = make_trainer(data, model="deepfm", seed=1).fit()
    b = make_trainer(data, model="deepfm", seed=1).fit()
    c = make_trainer(data, model="deepfm", seed=2).fit()
    assert [r.val_auc for r in a.history] == [r.val_auc for r in b.history]
    assert (a.test_auc, a.test_logloss) == (b.test_auc, b.test_logloss)
    assert a.test_auc != c.test_auc


def test_splits_stay_int32_and_batches_reach_the_model_as_int64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trainer_module, "ROWS_PER_COPY", 7)  # many chunks per split
    data = toy_data()
    split = split_indices(data.num_rows, 0)
    trainer = make_trainer(data, epochs=1)
    assert trainer.train_ids.dtype == torch.int32 and trainer.val_labels.dtype == torch.float32
    assert np.array_equal(trainer.train_ids.numpy(), data.ids[split.train])
    assert np.array_equal(trainer.test_labels.numpy(), data.labels[split.test])
    assert np.array_equal(data.counts_in(split.train, chunk=7),
                          np.bincount(data.ids[split.train].ravel(), minlength=data.num_features))
    dtypes = set()
    trainer.model.register_forward_pre_hook(lambda _, args: dtypes.add(args[0].dtype))
    trainer.fit()
    assert dtypes == {torch.int64}  # train, validation and test batches alike


def test_stop_when_and_max_steps() -> None:
    calls = []
    result = make_trainer(toy_data(), epochs=5).fit(
        stop_when=lambda: calls.append(1) or len(calls) >= 3
    )
    assert (result.steps, result.epochs_run, result.stop_reason) == (3, 1, "stop_when")
    result = make_trainer(toy_data(), epochs=5, max_steps=15).fit()
    assert (result.steps, result.epochs_run, result.stop_reason) == (15, 2, "max_steps")


# --- DARTS-style bi-level ---------------------------------------------------------------------
class GatedEmbedding(UniformEmbedding):
    """A uniform table scaled by sigmoid(gate): ``gate`` is an architecture parameter."""

    name = "gated_test"

    def __init__(self, spec: EmbeddingSpec) -> None:
        super().__init__(spec)
        self.gate = torch.nn.Parameter(torch.zeros(1))
        self.batches: list[torch.Tensor] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.batches.append(ids[:, 0].clone())
        return super().forward(ids) * torch.sigmoid(self.gate)

    def arch_parameters(self) -> list[torch.nn.Parameter]:
        return [self.gate]


def test_arch_parameters_step_only_on_validation_batches() -> None:
    n = 2000
    data = toy_data(n=n, vocab=(n, 10, 6), row_ids=True)  # field 0 identifies the row
    split = split_indices(n, 0)
    spec = EmbeddingSpec.from_data(data, DIM, split.train)
    embedding = GatedEmbedding(spec)
    model = build_model(ModelConfig(name="fm", dim=DIM), embedding, spec, seed=0)
    trainer = Trainer(model, data, split, TrainConfig(epochs=1, batch_size=200, lr=1e-2, threads=1))
    assert trainer.arch_optimizer is not None
    val_rows = set(split.val.tolist())
    main_step, arch_step = trainer.optimizers[0].step, trainer.arch_optimizer.step
    changes = {"main": 0, "arch": 0}
    arch_batches = []

    def spy(step, kind):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            before = embedding.gate.detach().clone()
            if kind == "arch":
                arch_batches.append(embedding.batches[-1])
            out = step(*args, **kwargs)
            changes[kind] += int(not torch.equal(before, embedding.gate))
            return out
        return wrapped

    trainer.optimizers[0].step = spy(main_step, "main")  # type: ignore[method-assign]
    trainer.arch_optimizer.step = spy(arch_step, "arch")  # type: ignore[method-assign]
    trainer.fit()
    assert changes == {"main": 0, "arch": 8}  # 8 train steps, each followed by one arch step
    for batch in arch_batches:
        assert set(batch.tolist()) <= val_rows
    assert len(torch.cat(arch_batches).unique()) == len(split.val)  # cycles through val
