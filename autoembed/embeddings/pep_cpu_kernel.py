"""PEP's per-entry / per-row soft threshold as one fused CPU pass forward and one backward.

``pep_cpu_kernel.cpp`` is compiled on first use with ``torch.utils.cpp_extension`` for this
CPU's vector ISA (AVX512, AVX2 or plain; ~30-45 s), cached in torch's extension folder
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``) and loaded from there by every
later process; concurrent first uses (Ray trials) wait for one build. Where it cannot be built
(no C++ compiler, no ninja), or with ``AUTOEMBED_PEP_KERNEL=0``, PEP uses the unfused torch ops
instead: the same numbers up to float32 rounding, slower. The kernel does the same arithmetic
as those ops (``tests/test_pep_kernel.py`` compares them).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType

import torch

ENV_SWITCH = "AUTOEMBED_PEP_KERNEL"
SOURCE = Path(__file__).with_name("pep_cpu_kernel.cpp")
ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
               "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}

STALE_LOCK_SECONDS = 600  # a build takes under a minute
_lock = threading.Lock()
_state: dict[str, ModuleType | None] = {}
_off = threading.local()


def enabled() -> bool:
    """False when ``AUTOEMBED_PEP_KERNEL=0`` or :func:`unfused` switches the kernel off."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and not getattr(_off, "depth", 0)


@contextmanager
def unfused() -> Iterator[None]:
    """Within this block (this thread), PEP uses the unfused torch ops (benchmarks, tests)."""
    _off.depth = getattr(_off, "depth", 0) + 1
    try:
        yield
    finally:
        _off.depth -= 1


def load() -> ModuleType | None:
    """The compiled kernel module, or None (switched off, or the build failed: warned once)."""
    if not enabled():
        return None
    with _lock:
        if "module" not in _state:
            _state["module"] = _build()
        return _state["module"]


def build_directory(isa: str) -> Path:
    """Where the kernel is built and cached: torch's extension folder, one subfolder per ISA and
    torch version (a cached build is reused only by the torch it was built against)."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
    version = torch.__version__.replace("+", "_").replace(".", "_")
    return Path(root) / f"autoembed_pep_kernel_{isa.lower()}_torch{version}"


def _clear_stale_lock(folder: Path) -> None:
    """torch's build lock outlives a process killed mid-build (a cancelled Ray trial), and every
    later build would wait on it forever; one older than any real build is removed."""
    lock = folder / "lock"
    with suppress(OSError):
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
            warnings.warn(f"removed a stale build lock {lock}", RuntimeWarning, stacklevel=3)


def _build() -> ModuleType | None:
    from torch.utils.cpp_extension import load as load_extension

    isa = torch.backends.cpu.get_cpu_capability()
    flags = ISA_FLAGS.get(isa, ["-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"])
    folder = build_directory(isa)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _clear_stale_lock(folder)
        return load_extension(name=f"autoembed_pep_kernel_{isa.lower()}", sources=[str(SOURCE)],
                              extra_cflags=["-O3", *flags], build_directory=str(folder),
                              verbose=False)
    except Exception as exc:  # no compiler / ninja / headers: fall back, say so once
        warnings.warn(f"PEP's fused CPU kernel could not be built ({type(exc).__name__}: {exc}); "
                      f"using the unfused torch ops (same numbers, slower). Install a C++ "
                      f"compiler and ninja, or set {ENV_SWITCH}=0 to skip the build.",
                      RuntimeWarning, stacklevel=3)
        return None


def applies(table: torch.Tensor, s: torch.Tensor) -> bool:
    """Whether the kernel serves this call: float32 CPU tensors, one ``s`` per entry or per row."""
    return (table.device.type == "cpu" and table.dtype == torch.float32 and table.dim() == 2
            and s.dtype == torch.float32 and s.shape in (table.shape, (table.shape[0], 1))
            and enabled())
