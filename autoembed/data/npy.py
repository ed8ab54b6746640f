"""Append-only ``.npy`` writer: arrays of known shape written chunk by chunk with plain writes
(not a memory map, so the pages written do not count towards the process's resident memory)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np


class NpyWriter:
    """Write ``shape``/``dtype`` array rows in order: ``with NpyWriter(p, (n, f), np.int32) as w``."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._fh = self.path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + len(rows) > self.shape[0]:
            raise ValueError(f"{self.path.name}: rows {rows.shape} do not fit shape {self.shape} "
                             f"after {self.rows} rows")
        self._fh.write(rows.data)  # no copy
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
