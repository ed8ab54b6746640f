"""``autoembed models list``: every registered model with its parameters."""

from __future__ import annotations

import argparse

from autoembed.commands.listing import register_list
from autoembed.models.registry import MODELS


def register(sub: argparse._SubParsersAction) -> None:
    register_list(sub, "models", MODELS, lambda cls: "")
