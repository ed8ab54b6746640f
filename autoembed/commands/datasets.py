"""``autoembed datasets list``: every registered dataset with its options."""

from __future__ import annotations

import argparse

from autoembed.commands.listing import register_list
from autoembed.data.registry import DATASETS, RESERVED


def kind(cls: type) -> str:
    return "generated" if cls.generated else "raw files"


def register(sub: argparse._SubParsersAction) -> None:
    register_list(sub, "datasets", DATASETS, kind)
    sub.choices["datasets"].epilog = f"Every dataset also takes {' and '.join(RESERVED)}."
