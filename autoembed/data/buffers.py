"""A buffer a parse reuses block after block instead of allocating afresh.

Fresh memory costs more than the work done in it: the kernel zeroes each new page on its first
touch (and on this project's VM a page the host has not backed yet costs several ns a byte), so
a parse that allocates a new array per block spends a fifth of its CPU in page faults.
"""

from __future__ import annotations

import numpy as np

_SLACK = 1 << 20  # elements of room: the next block may be a little longer


class Scratch:
    """One buffer, reused by each call of one thread (what :meth:`get` returned last is
    overwritten by the next call)."""

    def __init__(self, dtype: type | np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._buffer: np.ndarray | None = None

    def get(self, n: int) -> np.ndarray:
        """An uninitialised array of ``n`` elements."""
        if self._buffer is None or len(self._buffer) < n:
            self._buffer = np.empty(n + _SLACK, self.dtype)
        return self._buffer[:n]
