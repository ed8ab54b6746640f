"""Methods are found through the entry-point group ``autoembed.methods`` (lazily loaded).

The in-tree methods register exactly as an outside plugin does: one line in a pyproject.toml.
The machinery is :class:`autoembed.plugins.Registry`, shared with models and datasets.
"""

from __future__ import annotations

from typing import Any

from autoembed.embeddings.base import EmbeddingMethod, SearchContext
from autoembed.plugins import Param, PluginInfo, Registry, UnknownPluginError

GROUP = "autoembed.methods"
METHODS: Registry[type[EmbeddingMethod]] = Registry(GROUP, "method", EmbeddingMethod, "hyperparameter")

UnknownMethodError = UnknownPluginError
MethodInfo = PluginInfo
HyperParam = Param


def register_method(name: str, cls: type[EmbeddingMethod]) -> None:
    """Register ``cls`` as method ``name`` in this process (an entry point of the same name that
    loads takes precedence)."""
    METHODS.register(name, cls)


def discover() -> dict[str, PluginInfo]:
    """Every registered method; one that fails to import is listed with its error."""
    return METHODS.discover()


def get_method(name: str) -> type[EmbeddingMethod]:
    """The class registered as ``name``; a clear error lists the available ones."""
    return METHODS.get(name)


def make_config(
    cls: type[EmbeddingMethod], params: dict[str, Any], context: SearchContext | None = None
) -> Any:
    """``cls.Config(**params)`` with a clear error naming unknown hyperparameters; with
    ``context``, ``cls.configure`` (which may fill data-sized defaults the user left out)."""
    config = METHODS.config(cls, params)
    return config if context is None else cls.configure(params, context)
