"""CTR models (LR, FM, DeepFM, AutoInt+), each taking any embedding method."""

from __future__ import annotations

from collections.abc import Callable

import torch

from autoembed.config import ModelConfig
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.models.autoint import AutoInt
from autoembed.models.base import CTRModel
from autoembed.models.deepfm import DeepFM
from autoembed.models.fm import FM
from autoembed.models.lr import LR

ModelFactory = Callable[[ModelConfig, EmbeddingMethod, EmbeddingSpec], CTRModel]

MODELS: dict[str, ModelFactory] = {
    "lr": lambda cfg, emb, spec: LR(emb, spec),
    "fm": lambda cfg, emb, spec: FM(emb, spec),
    "deepfm": lambda cfg, emb, spec: DeepFM(emb, spec, cfg),
    "autoint": lambda cfg, emb, spec: AutoInt(emb, spec, cfg),
}


def check_model_config(cfg: ModelConfig) -> ModelFactory:
    """The factory of model ``cfg.name``; a clear error listing the models otherwise."""
    factory = MODELS.get(cfg.name.lower())
    if factory is None:
        raise ValueError(f"unknown model {cfg.name!r}; allowed models: {', '.join(MODELS)}")
    return factory


def build_model(
    cfg: ModelConfig, embedding: EmbeddingMethod, spec: EmbeddingSpec, seed: int | None = None
) -> CTRModel:
    """The model ``cfg.name`` around ``embedding``. With ``seed``, its own parameters are
    initialised from that seed without touching the global RNG stream."""
    factory = check_model_config(cfg)
    if spec.dim != cfg.dim:
        raise ValueError(f"embedding spec has dim {spec.dim} but the model config says {cfg.dim}")
    if seed is None:
        return factory(cfg, embedding, spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(cfg, embedding, spec)


__all__ = ["MODELS", "check_model_config", "AutoInt", "CTRModel", "DeepFM", "FM", "LR", "build_model"]
