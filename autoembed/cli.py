"""``autoembed`` command line. Each subcommand lives in ``autoembed/commands/<name>.py`` and
exposes ``register(subparsers)`` which adds its parser and sets ``func``."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("train", "data", "methods", "models", "datasets", "sweep", "report", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoembed",
        description="Embedding-size methods for recommender models: train, sweep, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"autoembed.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError, ImportError) as exc:
        print(f"autoembed {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
