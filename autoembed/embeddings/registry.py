"""Methods are found through the entry-point group ``autoembed.methods`` (lazily loaded).

The in-tree methods register exactly as an outside plugin does: one line in a pyproject.toml.
"""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from autoembed.embeddings.base import EmbeddingMethod

GROUP = "autoembed.methods"


class UnknownMethodError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class HyperParam:
    name: str
    type: str
    default: Any


@dataclass(frozen=True)
class MethodInfo:
    name: str
    target: str  # "module:attr" of the entry point
    cls: type[EmbeddingMethod] | None
    error: str = ""  # import failure, reported rather than hidden

    @property
    def hyperparams(self) -> list[HyperParam]:
        if self.cls is None:
            return []
        out = []
        for f in dataclasses.fields(self.cls.Config):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            out.append(HyperParam(f.name, typ, default))
        return out


# Methods registered at runtime (a fallback where a plugin has no installed entry-point metadata,
# e.g. a module shipped to a Ray cluster through runtime_env py_modules).
_RUNTIME: dict[str, type[EmbeddingMethod]] = {}


def register_method(name: str, cls: type[EmbeddingMethod]) -> None:
    """Register ``cls`` as method ``name`` in this process (an entry point of the same name that
    loads takes precedence)."""
    if not (isinstance(cls, type) and issubclass(cls, EmbeddingMethod)):
        raise TypeError(f"{cls!r} is not an EmbeddingMethod subclass")
    if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
        raise TypeError(f"{cls.__name__}.Config must be a dataclass of hyperparameters")
    _RUNTIME[name] = cls


def discover() -> dict[str, MethodInfo]:
    """Every registered method; one that fails to import is listed with its error."""
    found: dict[str, MethodInfo] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, EmbeddingMethod)):
                raise TypeError(f"{ep.value} is not an EmbeddingMethod subclass")
            if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
                raise TypeError(f"{ep.value}.Config must be a dataclass of hyperparameters")
            found[ep.name] = MethodInfo(ep.name, ep.value, cls)
        except Exception as exc:  # a broken plugin must not hide the others
            msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            found[ep.name] = MethodInfo(ep.name, ep.value, None, msg)
    for name, cls in _RUNTIME.items():
        if name not in found or found[name].cls is None:
            found[name] = MethodInfo(name, f"{cls.__module__}:{cls.__qualname__}", cls)
    return dict(sorted(found.items()))


def get_method(name: str) -> type[EmbeddingMethod]:
    """The class registered as ``name``; a clear error lists the available ones."""
    methods = discover()
    info = methods.get(name)
    if info is None:
        ok = [n for n, i in methods.items() if i.cls is not None]
        raise UnknownMethodError(
            f"unknown method {name!r}; available methods: {', '.join(ok) or '(none)'}"
            " (a plugin registers under the entry-point group 'autoembed.methods')"
        )
    if info.cls is None:
        raise ImportError(f"method {name!r} ({info.target}) failed to load: {info.error}")
    return info.cls


def make_config(cls: type[EmbeddingMethod], params: dict[str, Any]) -> Any:
    """``cls.Config(**params)`` with a clear error naming unknown hyperparameters."""
    allowed = [f.name for f in dataclasses.fields(cls.Config)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown} for method {cls.name!r}; "
            f"allowed: {', '.join(allowed) or '(none)'}"
        )
    return cls.Config(**params)
