"""Build a dataclass from a user's dict (YAML) with errors that name the key and the expectation.

Core, not tuning: search spaces, table schemas and CLI parameters all go through it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SpecError(ValueError):
    """A search-space file is invalid; the message names the key and what was expected."""


def check_keys(
    allowed: type | Iterable[str], given: Iterable[str], where: str,
    error: type[Exception] = ValueError, what: str = "key",
) -> None:
    """Raise ``error`` naming the keys of ``given`` not in ``allowed`` (names, or the fields of
    a dataclass) and listing the allowed ones."""
    names = [f.name for f in dataclasses.fields(allowed)] if isinstance(allowed, type) else list(allowed)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise error(f"unknown {what}(s) {unknown} in {where}; allowed {what}s are: "
                    f"{', '.join(names) or '(none)'}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def check_value(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to type ``tp`` (int, float, str, bool, Literal, dict, tuple[int, ...],
    ``X | None``); a :class:`SpecError` naming ``where`` otherwise."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(value, arg, where)
            except SpecError as exc:
                errors.append(str(exc))
        raise SpecError(errors[0] if len(errors) == 1 else f"{where}: got {value!r}, expected {tp}")
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise SpecError(f"{where}: got {value!r}, expected one of {', '.join(map(repr, choices))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise SpecError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is list or tp is list:
        if not isinstance(value, list):
            raise SpecError(f"{where}: expected a list, got {value!r}")
        return list(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SpecError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise SpecError(f"{where}: cannot check values of type {_type_name(tp)}")


def read_yaml(path: Path, what: str, hint: str = "") -> Any:
    """The content of YAML file ``path`` (a ``what``); a clear error when absent or invalid."""
    import yaml  # only where YAML is read: the GPU check runs without pyyaml

    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist{hint}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def build(cls: type[T], given: Any, where: str) -> T:
    """``cls(**given)`` after checking keys and value types; errors name ``where.key``."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise SpecError(f"{where}: expected a mapping of {cls.__name__} fields, got {given!r}")
    check_keys(cls, given, where, SpecError)
    types_ = field_types(cls)
    values = {k: check_value(v, types_[k], f"{where}.{k}") for k, v in given.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where}: {exc}") from None
