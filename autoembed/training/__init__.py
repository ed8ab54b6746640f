"""Training: the fast trainer, exact global metrics, typed result records."""

from autoembed.training.metrics import auc, logloss
from autoembed.training.records import EpochRecord, TrainResult
from autoembed.training.trainer import NonFiniteLossError, Trainer, train

__all__ = ["EpochRecord", "NonFiniteLossError", "TrainResult", "Trainer", "auc", "logloss", "train"]
