"""Typed records the trainer returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EpochRecord:
    """Metrics of one finished epoch (``epoch`` counts from 1)."""

    epoch: int
    train_loss: float
    val_auc: float
    val_logloss: float
    steps: int  # optimizer steps so far (all epochs)
    samples: int  # training samples so far (all epochs)
    step_seconds: float  # this epoch's time in train steps
    eval_seconds: float  # this epoch's validation time


@dataclass
class TrainResult:
    """Outcome of one training run; the ``val_*`` and ``test_*`` figures are those of the
    weights of ``best_epoch`` (chosen on validation AUC); ``test_*`` is NaN when the test split
    was not evaluated."""

    best_epoch: int
    epochs_run: int
    val_auc: float
    val_logloss: float
    test_auc: float
    test_logloss: float
    train_seconds: float  # wall time of all epochs, validation included
    samples_per_sec: float  # training samples per second of train-step time
    wall_samples_per_sec: float  # training samples per second of wall time (validation included)
    steps: int = 0
    stop_reason: str = ""  # epochs | early_stopping | stop_when | max_steps
    history: list[EpochRecord] = field(default_factory=list)
