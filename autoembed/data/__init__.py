"""Datasets: raw files parsed once into cached compact arrays (see ``load_dataset``)."""

from autoembed.data.base import CTRData, Split, split_indices
from autoembed.data.loader import load_dataset
from autoembed.data.registry import DATASETS
from autoembed.data.report import MalformedLineError

__all__ = ["DATASETS", "CTRData", "MalformedLineError", "Split", "load_dataset", "split_indices"]
