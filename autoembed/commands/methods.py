"""``autoembed methods list``: every registered method with its hyperparameters."""

from __future__ import annotations

import argparse

from autoembed.embeddings.registry import discover


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the registered embedding methods")
    msub = p.add_subparsers(dest="action", required=True)
    lp = msub.add_parser("list", help="each method with its hyperparameters, types and defaults")
    lp.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    broken = 0
    for name, info in discover().items():
        if info.cls is None:
            broken += 1
            print(f"{name}  [FAILED TO LOAD: {info.target}]\n    {info.error}")
            continue
        doc = (info.cls.__doc__ or "").strip().splitlines()[0:1]
        phases = "search + retrain" if info.cls.needs_search else "single phase"
        print(f"{name}  ({info.target}; {phases})  {doc[0] if doc else ''}")
        for hp in info.hyperparams:
            print(f"    {hp.name}: {hp.type} = {hp.default!r}")
    return 1 if broken else 0
