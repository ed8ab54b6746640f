"""``autoembed methods|models|datasets list``: every registered plugin with its parameters."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from autoembed.plugins import PluginInfo, Registry


def register_list(
    sub: argparse._SubParsersAction, command: str, registry: Registry, extra: Callable[[type], str],
) -> None:
    """Add ``autoembed <command> list`` for ``registry``; ``extra(cls)`` adds to each header."""
    p = sub.add_parser(command, help=f"list the registered {registry.kind}s")
    csub = p.add_subparsers(dest="action", required=True)
    lp = csub.add_parser(
        "list", help=f"each {registry.kind} with its {registry.param_word}s, types and defaults"
    )
    lp.set_defaults(func=lambda args: print_plugins(registry.discover(), extra))


def print_plugins(plugins: dict[str, PluginInfo], extra: Callable[[type], str]) -> int:
    """Print each plugin, its target and parameters; 1 when one failed to load, else 0."""
    broken = 0
    for name, info in plugins.items():
        if info.cls is None:
            broken += 1
            print(f"{name}  [FAILED TO LOAD: {info.target}]\n    {info.error}")
            continue
        more = extra(info.cls)
        print(f"{name}  ({info.target}{'; ' + more if more else ''})  {info.summary}")
        for p in info.params:
            default = "(required)" if p.default is dataclasses.MISSING else repr(p.default)
            typ = f"one of {', '.join(map(str, p.choices))}" if p.choices else p.type
            print(f"    {p.name}: {typ} = {default}" + (f"  # {p.help}" if p.help else ""))
    return 1 if broken else 0
