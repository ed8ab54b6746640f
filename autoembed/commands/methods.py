"""``autoembed methods list``: every registered method with its hyperparameters."""

from __future__ import annotations

import argparse

from autoembed.commands.listing import print_plugins, register_list
from autoembed.embeddings.registry import METHODS


def phases(cls: type) -> str:
    return "search + retrain" if cls.needs_search else "single phase"


def register(sub: argparse._SubParsersAction) -> None:
    register_list(sub, "methods", METHODS, phases)


def run_list(args: argparse.Namespace) -> int:
    return print_plugins(METHODS.discover(), phases)
