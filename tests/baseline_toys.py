"""Tiny synthetic CTR data for the baseline tests (seconds on 2 CPUs)."""

from __future__ import annotations

import numpy as np
import torch

from autoembed.config import TrainConfig
from autoembed.data.base import CTRData, split_indices
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models import FM
from autoembed.training import Trainer

VOCAB = (3, 20, 200)


def toy_data(rows: int = 2000, seed: int = 0, vocab: tuple[int, ...] = VOCAB) -> CTRData:
    """Zipf-ish ids per field; the label depends on the first two fields' ids."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]])
    local = np.stack([np.minimum(rng.zipf(1.3, rows) - 1, n - 1) for n in vocab], axis=1)
    ids = (local + offsets).astype(np.int32)
    logit = (local[:, 0] == 1) * 1.5 - (local[:, 1] % 3 == 0) * 1.0 + rng.normal(0, 0.5, rows)
    labels = (logit > 0).astype(np.float32)
    counts = np.bincount(ids.ravel(), minlength=sum(vocab)).astype(np.int64)
    names = tuple(f"f{i}" for i in range(len(vocab)))
    return CTRData("toy", ids, labels, names, tuple(vocab), counts)


def toy_spec(dim: int = 8, data: CTRData | None = None) -> EmbeddingSpec:
    return EmbeddingSpec.from_data(data or toy_data(), dim)


def toy_trainer(embedding: EmbeddingMethod, data: CTRData, **train: object) -> Trainer:
    """The project's trainer around an FM holding ``embedding`` (CPU, seeded)."""
    defaults = {"epochs": 1, "batch_size": 256, "lr": 0.01, "threads": 1, "device": "cpu"}
    cfg = TrainConfig(**{**defaults, **train})
    return Trainer(FM(embedding, embedding.spec), data, split_indices(data.num_rows, 0), cfg)


def snapshot(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def changed(before: list[torch.Tensor], params: list[torch.nn.Parameter]) -> bool:
    return any(not torch.equal(b, p.detach()) for b, p in zip(before, params, strict=True))


def assert_arch_moves_only_on_validation_steps(emb: EmbeddingMethod) -> None:
    """Runs the real trainer for a few steps and watches every optimizer step: the arch params
    must stay put across model steps (training batches) and move across arch steps (validation)."""
    data = toy_data()
    trainer = toy_trainer(emb, data, max_steps=4)
    arch = emb.arch_parameters()
    model_side = [p for g in emb.param_groups(1e-3, 0.0) for p in g["params"]]
    events: list[tuple[str, bool, bool]] = []

    def watch(kind: str, step):  # noqa: ANN001, ANN202
        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            arch_before, model_before = snapshot(arch), snapshot(model_side)
            out = step(*args, **kwargs)
            events.append((kind, changed(arch_before, arch), changed(model_before, model_side)))
            return out

        return wrapped

    for opt in trainer.optimizers:
        opt.step = watch("train", opt.step)
    assert trainer.arch_optimizer is not None
    trainer.arch_optimizer.step = watch("val", trainer.arch_optimizer.step)
    trainer.fit(evaluate_test=False)
    assert [k for k, _, _ in events] == ["train", "val"] * 4
    for kind, arch_moved, model_moved in events:
        assert arch_moved == (kind == "val"), events
        assert model_moved == (kind == "train"), events
