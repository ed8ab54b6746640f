"""CTR models (LR, FM, DeepFM, AutoInt+), each taking any embedding method; every model, the
built-ins included, is a plugin of the entry-point group ``autoembed.models``."""

from __future__ import annotations

from typing import Any

import torch

from autoembed.config import ModelConfig
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.autoint import AutoInt
from autoembed.models.base import CTRModel
from autoembed.models.deepfm import DeepFM
from autoembed.models.fm import FM
from autoembed.models.lr import LR
from autoembed.models.registry import (
    MODELS,
    discover_models,
    get_model,
    model_config,
    register_model,
)


def check_model_config(cfg: ModelConfig) -> tuple[type[CTRModel], Any]:
    """Model ``cfg.name``'s class and its typed ``Config`` built from ``cfg.params`` (its checks
    run); an unknown model or parameter is an error listing the allowed ones."""
    return get_model(cfg.name), model_config(cfg.name, dict(cfg.params))


def build_model(
    cfg: ModelConfig, embedding: EmbeddingMethod, spec: EmbeddingSpec, seed: int | None = None
) -> CTRModel:
    """The model ``cfg.name`` (with ``cfg.params``) around ``embedding``. With ``seed``, its own
    parameters are initialised from that seed without touching the global RNG stream."""
    cls, config = check_model_config(cfg)
    if spec.dim != cfg.dim:
        raise ValueError(f"embedding spec has dim {spec.dim} but the model config says {cfg.dim}")
    if seed is None:
        return cls(embedding, spec, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(embedding, spec, config)


__all__ = [
    "MODELS", "AutoInt", "CTRModel", "DeepFM", "FM", "LR", "build_model", "check_model_config", "discover_models",
    "get_model", "model_config", "register_model",
]
