"""One recipe for every plugin kind: methods, models and datasets are classes with a typed
``Config`` dataclass, found through an entry-point group each (the built-ins included).

A :class:`Registry` loads its group lazily; a plugin that fails to import is listed with its
error and never hides the others.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import traceback
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from autoembed.typed import check_keys, check_value

T = TypeVar("T", bound=type)


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of ``group``; where autoembed itself runs from a source
    checkout that is not installed (``PYTHONPATH=.``, as on a bare GPU machine), its built-ins
    come from the checkout's ``pyproject.toml``, the one place they are declared."""
    found = list(importlib.metadata.entry_points(group=group))
    return found + [ep for ep in _checkout_entry_points() if ep.group == group]


@functools.cache
def _checkout_entry_points() -> tuple[importlib.metadata.EntryPoint, ...]:
    try:
        importlib.metadata.distribution("autoembed")
        return ()  # installed: its metadata already holds the built-ins
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10: install the package (pip install -e .)
        return ()
    try:
        groups = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    except (OSError, KeyError, ValueError):
        return ()
    return tuple(importlib.metadata.EntryPoint(name, value, group)
                 for group, eps in groups.items() for name, value in eps.items())


class UnknownPluginError(KeyError, ValueError):
    """No plugin of that name (a KeyError for lookups, a ValueError for config checks)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Param:
    """One field of a plugin's ``Config``: its name, type (as written), default and choices."""

    name: str
    type: str
    default: Any
    choices: tuple[Any, ...] = ()  # a Literal field's allowed values
    help: str = ""  # the field's ``metadata={"help": ...}``

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def check_choices(config_cls: type, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` after checking every value of a ``Literal`` field against its choices (a
    config's ``__post_init__`` need not: a misspelt choice would otherwise fall through to some
    branch's default behaviour)."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # unresolvable annotations in a plugin: its own checks only
        return params
    return {k: check_value(v, hints[k], f"{where}: {k}") if literal_choices(hints.get(k)) else v
            for k, v in params.items()}


def config_params(config_cls: type) -> list[Param]:
    """The fields of dataclass ``config_cls`` as :class:`Param` (choices from ``Literal``)."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # unresolvable annotations in a plugin: names and defaults only
        hints = {}
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        hint = hints.get(f.name, f.type)
        out.append(Param(f.name, type_name(hint), default, literal_choices(hint), field_help(config_cls, f.name)))
    return out


def field_help(config_cls: type, name: str) -> str:
    """Field ``name``'s ``metadata={"help": ...}``, from a base class where a subclass only
    changed its default."""
    for cls in config_cls.__mro__:
        for f in dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ():
            if f.name == name and f.metadata.get("help"):
                return str(f.metadata["help"])
    return ""


def literal_choices(hint: Any) -> tuple[Any, ...]:
    """The values of a ``Literal[...]`` (or ``Literal[...] | None``) hint; ``()`` otherwise."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is typing.Literal:
                return typing.get_args(arg)
    return ()


def type_name(hint: Any) -> str:
    if isinstance(hint, str):
        return hint
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    target: str  # "module:attr" of the entry point
    cls: type | None
    error: str = ""  # import failure, reported rather than hidden

    @property
    def params(self) -> list[Param]:
        return [] if self.cls is None else config_params(self.cls.Config)

    hyperparams = params  # the methods' word for them

    @property
    def summary(self) -> str:
        """The first line of the class docstring."""
        doc = (self.cls.__doc__ or "").strip().splitlines() if self.cls is not None else []
        return doc[0] if doc else ""


class Registry(Generic[T]):
    """Plugins of one kind: entry-point group ``group``, each a subclass of ``base`` with a
    dataclass ``Config``."""

    def __init__(
        self, group: str, kind: str, base: T, param_word: str = "parameter", reserved: tuple[str, ...] = ()
    ) -> None:
        self.group, self.kind, self.base, self.param_word = group, kind, base, param_word
        self.reserved = reserved  # names no Config field may take (the caller's own keys)
        # Registered at runtime: a fallback where a plugin has no installed entry-point metadata
        # (e.g. a module shipped to a Ray cluster through runtime_env py_modules).
        self._runtime: dict[str, T] = {}

    def check(self, cls: Any, where: str) -> T:
        """``cls`` itself, or a TypeError saying what a plugin of this kind must be."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{where} is not a {self.base.__name__} subclass")
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"{where}.Config must be a dataclass of the {self.kind}'s parameters")
        taken = [f.name for f in dataclasses.fields(cls.Config) if f.name in self.reserved]
        if taken:
            raise TypeError(f"{where}.Config may not have field(s) {taken}: they are reserved")
        return cls

    def register(self, name: str, cls: T) -> None:
        """Register ``cls`` as ``name`` in this process (an entry point of the same name that
        loads takes precedence)."""
        self._runtime[name] = self.check(cls, repr(cls))

    def discover(self) -> dict[str, PluginInfo]:
        """Every registered plugin, by name; one that fails to import is listed with its error."""
        found: dict[str, PluginInfo] = {}
        for ep in entry_points(group=self.group):
            if ep.name in found:
                continue
            try:
                found[ep.name] = PluginInfo(ep.name, ep.value, self.check(ep.load(), ep.value))
            except Exception as exc:  # a broken plugin must not hide the others
                msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                found[ep.name] = PluginInfo(ep.name, ep.value, None, msg)
        for name, cls in self._runtime.items():
            if name not in found or found[name].cls is None:
                found[name] = PluginInfo(name, f"{cls.__module__}:{cls.__qualname__}", cls)
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        """Every registered name (nothing is imported)."""
        return sorted({ep.name for ep in entry_points(group=self.group)} | set(self._runtime))

    def get(self, name: str) -> T:
        """The class registered as ``name`` (only its own module is imported); a clear error
        lists the registered names."""
        found = [ep for ep in entry_points(group=self.group) if ep.name == name]
        if found:
            try:
                return self.check(found[0].load(), found[0].value)
            except Exception as exc:
                if name in self._runtime:
                    return self._runtime[name]
                msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                raise ImportError(f"{self.kind} {name!r} ({found[0].value}) failed to load: {msg}") from None
        if name in self._runtime:
            return self._runtime[name]
        known = self.names()
        hint = "" if known else (
            " (none registered: is autoembed installed? `pip install -e .` in the checkout "
            "writes the entry points)"
        )
        raise UnknownPluginError(
            f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(known) or '(none)'}"
            f" (a plugin registers under the entry-point group {self.group!r}){hint}"
        )

    def config(self, cls: T, params: dict[str, Any]) -> Any:
        """``cls.Config(**params)`` with a clear error naming unknown keys and the allowed ones."""
        where = f"{self.kind} {getattr(cls, 'name', cls.__name__)!r}"
        check_keys(cls.Config, params, where, what=self.param_word)
        return cls.Config(**check_choices(cls.Config, params, where))
