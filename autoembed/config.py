"""Typed configuration of one trial: dataset, model, method, training."""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Any, Literal, get_args

Precision = Literal["auto", "fp32", "bf16"]
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_at_least(owner: str, **values: float | None) -> None:
    """Raise naming the first of ``name=(value, minimum)`` pairs below its minimum (or not a
    finite number); a ``None`` value passes."""
    for name, pair in values.items():
        value, low = pair  # type: ignore[misc]
        if value is None:
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
            raise ValueError(f"{owner}{name} must be >= {low}, got {value!r}")


@cache
def literal_fields(cls: type) -> dict[str, tuple[Any, ...]]:
    """The choices of every ``Literal``-typed field of dataclass ``cls`` (``Literal | None`` too)."""
    out = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
        if typing.get_origin(tp) is Literal:
            out[f.name] = get_args(tp)
    return out


def check_choices(obj: Any) -> None:
    """Raise naming the first ``Literal`` field of dataclass ``obj`` whose value is not a choice."""
    for name, choices in literal_fields(type(obj)).items():
        value = getattr(obj, name)
        if value is not None and value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


@dataclass
class DataConfig:
    name: str = "synthetic"  # a registered dataset (autoembed datasets list)
    root: str | None = None  # folder with the raw files (default: ../shared/data/<name> or cache)
    options: dict[str, Any] = field(default_factory=dict)  # parser options (min_count, ...)
    split_seed: int = 2021
    cache_dir: str | None = None


@dataclass
class ModelConfig:
    """Which model, at which width, with which of its own parameters.

    ``params`` are checked against the model's typed ``Config`` (``autoembed models list``) when
    it is built; in a search space they are written flat: ``{name: deepfm, dim: 16, dropout: 0.1}``.
    """

    name: str = "fm"  # a registered model: lr | fm | deepfm | autoint | a plugin's
    dim: int = 16  # D: interaction width
    params: dict[str, Any] = field(default_factory=dict)  # the model's own Config fields

    def __post_init__(self) -> None:
        check_at_least("model ", dim=(self.dim, 1))
        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise ValueError(f"model dim must be an integer, got {self.dim!r}")


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
    # divergence: a run fails once its training or validation loss exceeds this many times
    # max(label-prior logloss, ln 2) (what a constant or untrained model scores); 0: never
    diverge_factor: float = 10.0

    def __post_init__(self) -> None:
        check_at_least(
            "", epochs=(self.epochs, 1), batch_size=(self.batch_size, 1), weight_decay=(self.weight_decay, 0), arch_lr=(self.arch_lr, 0), patience=(self.patience, 0),
            eval_batch_size=(self.eval_batch_size, 1), threads=(self.threads, 1),
            max_steps=(self.max_steps, 1), diverge_factor=(self.diverge_factor, 0),
        )
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}")
        check_choices(self)


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
