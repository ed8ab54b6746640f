"""Models are found through the entry-point group ``autoembed.models``, the built-ins included."""

from __future__ import annotations

from typing import Any

from autoembed.models.base import CTRModel
from autoembed.plugins import PluginInfo, Registry

GROUP = "autoembed.models"
RESERVED = ("name", "dim")  # ModelConfig's own keys: no model parameter may take these names
MODELS: Registry[type[CTRModel]] = Registry(GROUP, "model", CTRModel, reserved=RESERVED)


def register_model(name: str, cls: type[CTRModel]) -> None:
    """Register ``cls`` as model ``name`` in this process (an installed entry point wins)."""
    MODELS.register(name, cls)


def discover_models() -> dict[str, PluginInfo]:
    """Every registered model; one that fails to import is listed with its error."""
    return MODELS.discover()


def get_model(name: str) -> type[CTRModel]:
    """The model class registered as ``name``; a clear error lists the available ones."""
    return MODELS.get(name)


def model_config(name: str, params: dict[str, Any]) -> Any:
    """Model ``name``'s typed ``Config`` from ``params``; unknown keys name the allowed ones."""
    return MODELS.config(get_model(name), params)
