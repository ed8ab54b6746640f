"""Typed configuration of one trial: dataset, model, method, training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

Precision = Literal["auto", "fp32", "bf16"]


def check_keys(cls: type, given: dict[str, Any], where: str) -> None:
    """Raise a clear error for keys of ``given`` that ``cls`` (a dataclass) does not have."""
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in {where}; allowed keys are: {', '.join(allowed)}"
        )


@dataclass
class DataConfig:
    name: str = "synthetic"  # ml-1m | criteo | avazu | synthetic
    root: str | None = None  # folder with the raw files (default: ../shared/data/<name> or cache)
    options: dict[str, Any] = field(default_factory=dict)  # parser options (min_count, ...)
    split_seed: int = 2021
    cache_dir: str | None = None


@dataclass
class ModelConfig:
    name: str = "fm"  # lr | fm | deepfm | autoint
    dim: int = 16  # D: interaction width
    dnn_hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    batch_norm: bool = False
    attention_layers: int = 3
    attention_heads: int = 2
    attention_dim: int = 32
    residual: bool = True


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 0.0  # coupled L2 (torch.optim.Adam), applied to every param group
    arch_lr: float = 3e-4  # architecture parameters (DARTS-style methods)
    patience: int = 2  # early stopping on validation AUC
    eval_batch_size: int = 65536
    threads: int = 2
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    progress: bool = False
    max_steps: int | None = None  # cap on optimizer steps per phase (smoke tests)
    # dense layers' arithmetic: bf16 autocasts the DNN and attention (embedding tables, logits,
    # thresholds and optimizer states stay fp32); auto: the measured default of the device
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.precision not in get_args(Precision):
            raise ValueError(f"precision must be one of {', '.join(get_args(Precision))}, "
                             f"got {self.precision!r}")


@dataclass
class ExperimentConfig:
    """One trial: train ``model`` with embedding ``method`` (and its ``method_params``) on ``data``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: str = "uniform"
    method_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    search_train: TrainConfig | None = None  # search phase settings; default: same as ``train``

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
