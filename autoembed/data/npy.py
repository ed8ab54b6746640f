"""Append-only ``.npy`` writer: arrays of known shape written chunk by chunk with plain writes
(not a memory map, so the pages written do not count towards the process's resident memory)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

import numpy as np


class NpyWriter:
    """Write ``shape``/``dtype`` array rows in order (``with NpyWriter(p, (n, f), np.int32) as
    w: w.write(rows)``), or each stretch of rows at its place (:meth:`write_at`, from any
    thread); closing checks that every row was written."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:]))
        self._lock = threading.Lock()
        self._fh = self.path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._fh, header)
        self._fh.flush()
        self._data_start = self._fh.tell()

    def write(self, rows: np.ndarray) -> None:
        """Write ``rows`` after those written so far."""
        self.write_at(self.rows, rows)

    def write_at(self, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` as rows ``start``, ``start + 1``, ... (stretches must not overlap)."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or start < 0 or start + len(rows) > self.shape[0]:
            raise ValueError(f"{self.path.name}: rows {rows.shape} at row {start} do not fit "
                             f"shape {self.shape}")
        view, offset = memoryview(rows).cast("B"), self._data_start + start * self._row_bytes
        while view:  # no copy; a regular file takes it in one call unless interrupted
            done = os.pwrite(self._fh.fileno(), view, offset)
            view, offset = view[done:], offset + done
        with self._lock:
            self.rows += len(rows)

    def close(self) -> None:
        self._fh.close()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path.name}: wrote {self.rows} of {self.shape[0]} rows")

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._fh.close()
