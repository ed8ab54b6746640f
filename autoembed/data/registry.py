"""Datasets are found through the entry-point group ``autoembed.datasets``, the built-ins included."""

from __future__ import annotations

from autoembed.data.dataset import Dataset
from autoembed.plugins import PluginInfo, Registry

GROUP = "autoembed.datasets"
RESERVED = ("fields", "drop_fields")  # taken out of every dataset's options by the loader
DATASETS: Registry[type[Dataset]] = Registry(GROUP, "dataset", Dataset, "option", reserved=RESERVED)


def register_dataset(name: str, cls: type[Dataset]) -> None:
    """Register ``cls`` as dataset ``name`` in this process (an installed entry point wins)."""
    DATASETS.register(name, cls)


def discover_datasets() -> dict[str, PluginInfo]:
    """Every registered dataset; one that fails to import is listed with its error."""
    return DATASETS.discover()


def get_dataset(name: str) -> Dataset:
    """An instance of the dataset registered as ``name``; a clear error lists the available ones."""
    return DATASETS.get(name)()
