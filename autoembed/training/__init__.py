"""Training: the fast trainer, exact global metrics, typed result records."""

from autoembed.training.metrics import auc, logloss
from autoembed.training.records import EpochRecord, TrainResult
from autoembed.training.trainer import DivergedError, NonFiniteLossError, Trainer, train

__all__ = ["DivergedError", "EpochRecord", "NonFiniteLossError", "TrainResult", "Trainer", "auc", "logloss", "train"]
