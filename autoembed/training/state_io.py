"""Loading checkpoints without running code from them: ``torch.load(weights_only=True)`` with an
allowlist checked BEFORE anything is unpickled.

A run's state holds tensors, plain types, numpy arrays and the embedding modules (with their
config and spec dataclasses). Those classes are allowed when their module is the project's own
(``autoembed``, ``baselines``), ``torch.nn``'s, or one the caller trusts for this load (the
module of the method being resumed, which the user already chose to import) and when they are an
``nn.Module`` subclass or a dataclass. Any other global a file names (``os.system``, a function,
a class from elsewhere) is refused with an error, and nothing in the file runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import torch

_OWN = ("autoembed", "baselines", "torch.nn.modules")
_NUMPY = frozenset({
    "numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray",
    "numpy.dtype",
})
# numpy's dtype classes (an array's dtype is rebuilt through them; not listed as globals)
_DTYPES = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
_TRUSTED: ContextVar[tuple[str, ...]] = ContextVar("trusted_modules", default=())


@contextmanager
def trusting(*modules: str) -> Iterator[None]:
    """Also allow classes (modules, dataclasses) of ``modules`` in loads inside this block."""
    token = _TRUSTED.set(_TRUSTED.get() + tuple(modules))
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def load_state(path: str | Path, map_location: str = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` allowing only the globals described above."""
    allowed = list(_DTYPES)
    for name in torch.serialization.get_unsafe_globals_in_checkpoint(str(path)):
        obj = _allowed(name)
        if obj is None:
            raise pickle.UnpicklingError(
                f"{path}: refusing to load a checkpoint that names {name!r} (only tensors, plain "
                "types, numpy arrays and the project's modules and dataclasses may appear); "
                "it was not written by autoembed, or by a method plugin not trusted here"
            )
        allowed.append(obj)
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location=map_location, weights_only=True)


def _allowed(name: str) -> Any | None:
    """The object ``name`` stands for when it may be unpickled, else None (never importing a
    module that is not trusted)."""
    module, _, attr = name.rpartition(".")
    if name in _NUMPY:
        return _resolve(module, attr)
    trusted = _OWN + _TRUSTED.get()
    if not any(module == t or module.startswith(t + ".") for t in trusted):
        return None
    obj = _resolve(module, attr)
    if isinstance(obj, type) and (issubclass(obj, torch.nn.Module) or dataclasses.is_dataclass(obj)):
        return obj
    return None


def _resolve(module: str, attr: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None
