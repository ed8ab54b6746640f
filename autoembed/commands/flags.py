"""Command-line flags generated from a plugin's typed ``Config`` dataclass (methods, models,
datasets): one flag per field, typed from its hint, ``choices=`` from a ``Literal``."""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from autoembed.plugins import field_help, literal_choices


def add_config_flags(
    parser: argparse.ArgumentParser, config_cls: type, title: str, dest_prefix: str, flag_prefix: str = ""
) -> None:
    """One ``--<flag_prefix><field-with-dashes>`` flag per field of ``config_cls`` (dest
    ``<dest_prefix><field>``); a general option of the same name wins. Only flags given on the
    command line land in the namespace (read them back with :func:`flag_values`)."""
    try:
        hints = get_type_hints(config_cls)
    except Exception:  # unresolvable annotations in a plugin: strings in, the Config checks
        hints = {}
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(config_cls):
        flag = "--" + flag_prefix + f.name.replace("_", "-")
        if flag in parser._option_string_actions:
            continue
        hint = hints.get(f.name, str)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        choices = literal_choices(hint)
        help_text = field_help(config_cls, f.name)
        group.add_argument(
            flag, dest=dest_prefix + f.name, type=converter(hint),
            default=argparse.SUPPRESS,  # only flags given on the command line override the Config
            choices=choices or None, metavar=None if choices else metavar(hint),
            help=f"{help_text} (default: {default!r})".strip(),
        )


def reject_unknown(parser: argparse.ArgumentParser, extras: list[str]) -> None:
    """Unknown command-line options: an error listing the allowed ones."""
    if extras:
        allowed = sorted(s for s in parser._option_string_actions if s.startswith("--"))
        parser.error(f"unrecognized arguments: {' '.join(extras)}; allowed options: {', '.join(allowed)}")


def flag_values(args: argparse.Namespace, dest_prefix: str) -> dict[str, Any]:
    """The generated flags given on the command line, by field name."""
    return {k[len(dest_prefix):]: v for k, v in vars(args).items() if k.startswith(dest_prefix)}


def typed_pairs(pairs: list[str], config_cls: type, flag: str) -> dict[str, Any]:
    """``["key=value", ...]`` with each value parsed by its field's type in ``config_cls``
    (a key it lacks stays a string and the Config's check names it)."""
    hints = get_type_hints(config_cls)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        key = key.strip().replace("-", "_")
        try:
            out[key] = converter(hints[key])(value) if key in hints else value
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"{flag} {key}={value}: expected {metavar(hints[key])} ({exc})") from None
    return out


def converter(hint: Any) -> Callable[[str], Any]:
    """A function parsing a command-line string into a value of type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        inner = converter(next(a for a in args if a is not type(None)))
        if type(None) not in args:
            return inner
        return lambda s: None if s.lower() in ("none", "null") else inner(s)
    if origin in (tuple, list):
        item = converter(args[0] if args else str)
        return lambda s: origin(item(x.strip()) for x in s.split(",") if x.strip())
    if origin is Literal:
        def choice(s: str) -> Any:
            for a in args:
                if str(a) == s:
                    return a
            raise argparse.ArgumentTypeError(f"{s!r} is not one of {', '.join(map(str, args))}")
        return choice
    if hint is bool:
        return parse_bool
    if hint in (int, float, str):
        return hint
    return str


def parse_bool(s: str) -> bool:
    low = s.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def metavar(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return metavar(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return "{" + ",".join(map(str, args)) + "}"
    if origin in (tuple, list):
        return "A,B,..."
    return "VALUE" if hint is Any else getattr(hint, "__name__", "VALUE").upper()
