"""run_experiment: single-phase rows, two-phase search + one row per retrain point, artifacts,
synthetic ground truth, and exact resume from a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from test_trainer import toy_data
from torch import nn

import autoembed.experiment as experiment
from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, RetrainPoint, dense_bytes
from autoembed.embeddings.registry import get_method
from autoembed.experiment import FileCheckpointer, run_experiment
from autoembed.models.precision import resolve_precision

DIM = 8


# --- a tiny two-phase method ------------------------------------------------------------------
@dataclass
class ToySearchConfig:
    keep: tuple[int, ...] = (4, 2)  # one retrain point per entry: the first ``keep`` dims
    search_steps: int = 25


class ToySearch(EmbeddingMethod):
    """Searches for ``search_steps`` steps, then proposes one truncated table per ``keep``."""

    name = "toy_search"
    Config = ToySearchConfig
    needs_search = True

    def __init__(self, spec: EmbeddingSpec, config: ToySearchConfig | None = None) -> None:
        super().__init__(spec, config or ToySearchConfig())
        self.weight = nn.Parameter(torch.randn(spec.num_features, spec.dim) * 0.1)
        self.steps = 0
        self.trace: list[dict[str, float]] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(ids, self.weight)

    def num_params(self) -> int:
        return self.weight.numel()

    def storage_bytes(self) -> int:
        return dense_bytes(self.weight.numel())

    def feature_dims(self) -> np.ndarray:
        return np.full(self.spec.num_features, self.spec.dim)

    def after_step(self, step: int) -> None:
        self.steps = step
        self.trace.append({"step": step, "norm": float(self.weight.detach().norm())})

    def search_done(self) -> bool:
        return self.steps >= self.config.search_steps

    def search_trace(self) -> list[dict[str, float]]:
        return self.trace

    def retrain_points(self) -> list[RetrainPoint]:
        return [RetrainPoint(f"keep={k}", {"keep": k}, state=k) for k in self.config.keep]

    def for_retrain(self, point: RetrainPoint) -> EmbeddingMethod:
        return Truncated(self.spec, point.state)


class Truncated(EmbeddingMethod):
    """A ``num_features x keep`` table zero-padded to D."""

    name = "truncated"
    Config = ToySearchConfig

    def __init__(self, spec: EmbeddingSpec, keep: int) -> None:
        super().__init__(spec, ToySearchConfig())
        self.keep = keep
        self.weight = nn.Parameter(torch.randn(spec.num_features, keep) * 0.1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = nn.functional.embedding(ids, self.weight)
        return nn.functional.pad(e, (0, self.spec.dim - self.keep))

    def num_params(self) -> int:
        return self.weight.numel()

    def storage_bytes(self) -> int:
        return dense_bytes(self.weight.numel())

    def feature_dims(self) -> np.ndarray:
        return np.full(self.spec.num_features, self.keep)


@pytest.fixture
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        experiment, "get_method", lambda name: ToySearch if name == "toy_search" else get_method(name)
    )


SMALL_MODEL = {"deepfm": {"dnn_hidden": (16,), "dropout": 0.1},
               "autoint": {"dnn_hidden": (16,), "dropout": 0.1}}


def config(method: str = "uniform", model: str = "fm", **train: object) -> ExperimentConfig:
    t = TrainConfig(**{"epochs": 3, "batch_size": 256, "lr": 1e-2, "threads": 1, **train})
    return ExperimentConfig(
        data=DataConfig(name="toy", split_seed=0),
        model=ModelConfig(name=model, dim=DIM, params=SMALL_MODEL.get(model, {})),
        method=method,
        train=t,
        search_train=TrainConfig(epochs=4, batch_size=256, lr=1e-2, threads=1),
    )


class MemoryCheckpointer:
    """Keeps every saved state; optionally interrupts the run after the ``stop_after``-th save."""

    def __init__(self, state: dict | None = None, stop_after: int | None = None) -> None:
        self.state, self.stop_after = state, stop_after
        self.saved: list[tuple[dict, dict]] = []

    def load(self) -> dict | None:
        return self.state

    def save(self, state: dict, metrics: dict) -> None:
        self.saved.append((state, metrics))
        if self.stop_after is not None and len(self.saved) >= self.stop_after:
            raise KeyboardInterrupt("simulated kill")


def comparable(rows: list) -> list[tuple]:
    return [(r.phase, r.point, r.params, r.val_auc, r.val_logloss, r.test_auc, r.test_logloss,
             r.epochs, r.best_epoch) for r in rows]


# --- tests ------------------------------------------------------------------------------------
def test_single_phase_gives_one_final_row(tmp_path: Path) -> None:
    data = toy_data()
    epochs: list[dict] = []
    announced: list = []
    rows = run_experiment(config(), data, artifacts_dir=tmp_path, on_epoch=epochs.append,
                          on_row=announced.append)
    assert len(rows) == 1 and announced == rows
    row = rows[0]
    assert (row.phase, row.point, row.method, row.model, row.dataset) == ("train", "final", "uniform", "fm", "toy")
    assert row.params == row.dense_params == sum(data.vocab_sizes) * DIM
    assert row.storage_bytes == 4 * row.params
    assert row.hparams == {"init_std": 0.0}
    assert 0.7 < row.test_auc < 1 and row.epochs == len(epochs)
    assert set(epochs[0]) == {"phase", "point", "epoch", "val_auc", "val_logloss", "params"}
    assert np.load(row.feature_dims_path).tolist() == [DIM] * sum(data.vocab_sizes)
    assert row.bayes_auc is None and row.recovery is None


def test_two_phase_method_gives_one_row_per_point(toy_registry: None, tmp_path: Path) -> None:
    epochs: list[dict] = []
    rows = run_experiment(config("toy_search"), toy_data(), artifacts_dir=tmp_path,
                          on_epoch=epochs.append)
    auto = resolve_precision("auto", torch.device("cpu"))  # bf16 on a CPU with AMX
    assert [(r.phase, r.point, r.info) for r in rows] == [
        ("retrain", "keep=4", {"keep": 4, "precision": auto}),
        ("retrain", "keep=2", {"keep": 2, "precision": auto}),
    ]
    n = sum(toy_data().vocab_sizes)
    assert [r.params for r in rows] == [4 * n, 2 * n]
    assert all(r.dense_params == DIM * n for r in rows)
    assert rows[0].hparams == {"keep": (4, 2), "search_steps": 25}
    # search ran 25 steps = 3 epochs of 10 (ended by search_done, not its 4 epochs)
    assert [e["epoch"] for e in epochs if e["phase"] == "search"] == [1, 2, 3]
    trace = Path(rows[0].trace_path).read_text().splitlines()
    assert trace[0] == "step,norm" and len(trace) == 26
    assert np.load(rows[1].feature_dims_path).tolist() == [2] * n


def test_synthetic_rows_carry_the_ground_truth(tmp_path: Path) -> None:
    cfg = config(epochs=1)
    cfg.data = DataConfig(name="synthetic", options={"scale": "tiny"}, cache_dir=str(tmp_path))
    row = run_experiment(cfg)[0]
    assert row.dataset == "synthetic"
    assert row.bayes_auc is not None and row.test_auc < row.bayes_auc <= 1
    assert row.recovery == 0.0  # uniform sizes carry no ranking of the planted ones


@pytest.mark.parametrize("stop_after", [2, 5, 6, 8])  # search, point 1, its end, point 2
def test_resume_gives_the_same_rows(toy_registry: None, stop_after: int, tmp_path: Path) -> None:
    data = toy_data()
    cfg = config("toy_search", model="deepfm", patience=1)
    full = MemoryCheckpointer()
    reference = run_experiment(cfg, data, checkpointer=full)
    assert len(full.saved) >= 7

    interrupted = MemoryCheckpointer(stop_after=stop_after)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, data, checkpointer=interrupted)
    file = FileCheckpointer(tmp_path / "state.pt")
    file.save(*interrupted.saved[-1])  # through torch.save / torch.load, as a real restart
    announced: list = []
    resumed = run_experiment(cfg, data, checkpointer=file, on_row=announced.append)
    assert comparable(resumed) == comparable(reference)
    finished_before = len(interrupted.saved[-1][0]["rows"])
    assert len(announced) == len(reference) - finished_before
