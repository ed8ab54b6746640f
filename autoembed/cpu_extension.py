"""Small C++ CPU kernels compiled on first use (``torch.utils.cpp_extension``), shared by
PEP's threshold kernel and AutoInt's attention kernel.

Each is built for this CPU's vector ISA (AVX512, AVX2 or plain; ~30-45 s) with OpenMP on
Linux, so ATen's ``parallel_for`` inside it uses torch's threads, cached in torch's extension folder
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``; one folder per source version)
and loaded from there by every later process; concurrent first uses (Ray trials) wait for one build. Where it cannot be built
(no C++ compiler, no ninja), or with its environment switch set to ``0``, callers use their torch
ops instead (warned once).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType

import torch

ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
               "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}
# Without -fopenmp, ATen's parallel_for (a header template) compiles to one thread. Linux only:
# torch's Linux wheels use GNU OpenMP, which the kernel then shares; Apple's clang has no
# -fopenmp, so elsewhere the kernels build without it (correct, one thread).
COMMON_FLAGS = ["-O3", "-fopenmp"] if sys.platform.startswith("linux") else ["-O3"]
STALE_LOCK_SECONDS = 600  # a build takes under a minute


class CpuExtension:
    """One kernel source: built once per process (thread-safe), or None with a warning."""

    def __init__(self, name: str, source: Path, env_switch: str, what: str, fallback: str) -> None:
        self.name, self.source, self.env_switch = name, source, env_switch
        self.what, self.fallback = what, fallback
        self._lock = threading.Lock()
        self._module: dict[str, ModuleType | None] = {}
        self._off = threading.local()

    def enabled(self) -> bool:
        """False when the environment switch is ``0`` or :meth:`unfused` switches it off."""
        return os.environ.get(self.env_switch, "1") != "0" and not getattr(self._off, "depth", 0)

    @contextmanager
    def unfused(self) -> Iterator[None]:
        """Within this block (this thread), callers use their torch ops (benchmarks, tests)."""
        self._off.depth = getattr(self._off, "depth", 0) + 1
        try:
            yield
        finally:
            self._off.depth -= 1

    def load(self) -> ModuleType | None:
        """The compiled module, or None (switched off, or the build failed: warned once)."""
        if not self.enabled():
            return None
        with self._lock:
            if "module" not in self._module:
                self._module["module"] = self._build()
            return self._module["module"]

    def forget(self) -> None:
        """Drop the loaded module, so the next :meth:`load` builds (or fails) again (tests)."""
        with self._lock:
            self._module.clear()

    def build_directory(self, isa: str) -> Path:
        """Where it is built and cached: torch's extension folder, one subfolder per ISA, torch
        version and kernel source (with its flags): two autoembed versions or checkouts on one
        machine keep their own builds instead of rebuilding over each other's."""
        root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
        version = torch.__version__.replace("+", "_").replace(".", "_")
        digest = hashlib.sha256(self.source.read_bytes())
        digest.update(" ".join(self.flags(isa)).encode())
        return Path(root) / f"{self.name}_{isa.lower()}_torch{version}_{digest.hexdigest()[:12]}"

    @staticmethod
    def flags(isa: str) -> list[str]:
        """The compiler flags for this ISA."""
        return [*COMMON_FLAGS,
                *ISA_FLAGS.get(isa, ["-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"])]

    def _build(self) -> ModuleType | None:
        from torch.utils.cpp_extension import load as load_extension

        isa = torch.backends.cpu.get_cpu_capability()
        folder = self.build_directory(isa)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            clear_stale_lock(folder)
            return load_extension(name=f"{self.name}_{isa.lower()}", sources=[str(self.source)],
                                  extra_cflags=self.flags(isa), build_directory=str(folder),
                                  verbose=False)
        except Exception as exc:  # no compiler / ninja / headers: fall back, say so once
            warnings.warn(f"{self.what} could not be built ({type(exc).__name__}: {exc}); using "
                          f"{self.fallback}. Install a C++ compiler and ninja, or set "
                          f"{self.env_switch}=0 to skip the build.", RuntimeWarning, stacklevel=3)
            return None


def clear_stale_lock(folder: Path) -> None:
    """torch's build lock outlives a process killed mid-build (a cancelled Ray trial), and every
    later build would wait on it forever; one older than any real build is removed."""
    lock = folder / "lock"
    with suppress(OSError):
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
            warnings.warn(f"removed a stale build lock {lock}", RuntimeWarning, stacklevel=3)
