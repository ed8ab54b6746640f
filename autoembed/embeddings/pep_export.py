"""Export a retrained pruned table as CSR arrays (.npz) and serve lookups from the file.

File layout (``np.savez``): ``data`` float32 [nnz], ``indices`` column ids (uint8 for D <= 256,
uint16 for D <= 65536, else int32), ``indptr`` int32/int64 [N + 1], ``shape`` int64 [2], and
``meta`` (a JSON string: field names, vocab sizes, nnz, storage bytes, anything passed in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoembed.embeddings.masked import MaskedEmbedding, column_index_dtype, row_pointer_dtype


@dataclass
class PrunedTable:
    """A CSR embedding table serving ``[B, F]`` ids -> ``[B, F, D]`` float32."""

    data: torch.Tensor  # float32 [nnz]
    indices: torch.Tensor  # int64 [nnz]
    indptr: torch.Tensor  # int64 [N + 1]
    shape: tuple[int, int]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nnz(self) -> int:
        return int(self.data.numel())

    def to(self, device: str | torch.device) -> PrunedTable:
        """A copy whose arrays live on ``device`` (lookups then run there)."""
        return PrunedTable(self.data.to(device), self.indices.to(device), self.indptr.to(device),
                           self.shape, dict(self.meta))

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Dense rows for ``ids`` (any shape) -> ``ids.shape + (D,)``, on the table's device."""
        n, d = self.shape
        device = self.data.device
        flat = ids.reshape(-1).to(device, torch.int64)
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= n):
            raise IndexError(f"ids must lie in [0, {n}); got range [{int(flat.min())}, {int(flat.max())}]")
        starts, ends = self.indptr[flat], self.indptr[flat + 1]
        lengths = ends - starts
        out = torch.zeros(flat.numel(), d, dtype=self.data.dtype, device=device)
        total = int(lengths.sum())
        if total:
            out_row = torch.repeat_interleave(torch.arange(flat.numel(), device=device), lengths)
            first = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
            entry = torch.arange(total, device=device) + first
            out[out_row, self.indices[entry]] = self.data[entry]
        return out.reshape(*ids.shape, d)

    __call__ = lookup


def export_pruned(embedding: MaskedEmbedding, path: str | Path, **meta: Any) -> Path:
    """Write ``embedding``'s pruned table to ``path`` (.npz) as CSR; returns the path."""
    if not isinstance(embedding, MaskedEmbedding):
        raise TypeError(
            f"export_pruned needs the retrained MaskedEmbedding (PEPEmbedding.for_retrain), "
            f"got {type(embedding).__name__}"
        )
    weight = embedding.pruned_weight().cpu()
    mask = embedding.mask.cpu()
    n, d = weight.shape
    rows, cols = mask.nonzero(as_tuple=True)  # row-major order
    nnz = int(rows.numel())
    indptr = np.zeros(n + 1, dtype=row_pointer_dtype(nnz))
    np.cumsum(np.bincount(rows.numpy(), minlength=n), out=indptr[1:])
    info = {"field_names": list(embedding.spec.field_names),
            "vocab_sizes": list(embedding.spec.vocab_sizes), "nnz": nnz,
            "storage_bytes": embedding.storage_bytes(), **meta}
    path = Path(path)
    np.savez(path, data=weight[rows, cols].numpy().astype(np.float32),
             indices=cols.numpy().astype(column_index_dtype(d)), indptr=indptr,
             shape=np.array([n, d], dtype=np.int64), meta=np.array(json.dumps(info, default=str)))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def load_pruned(path: str | Path) -> PrunedTable:
    """Read a file written by :func:`export_pruned`, checking its CSR arrays are consistent."""
    with np.load(Path(path), allow_pickle=False) as f:
        missing = {"data", "indices", "indptr", "shape"} - set(f.files)
        if missing:
            raise ValueError(f"{path} is not a pruned-table export: missing arrays {sorted(missing)}")
        shape, data, indices, indptr = f["shape"], f["data"], f["indices"], f["indptr"]
        check_csr(path, shape, data, indices, indptr)
        table = PrunedTable(
            data=torch.from_numpy(data.astype(np.float32)),
            indices=torch.from_numpy(indices.astype(np.int64)),
            indptr=torch.from_numpy(indptr.astype(np.int64)),
            shape=(int(shape[0]), int(shape[1])),
            meta=json.loads(str(f["meta"])) if "meta" in f.files else {},
        )
    return table


def check_csr(
    path: str | Path, shape: np.ndarray, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray
) -> None:
    """Raise a ValueError naming the first inconsistency of a CSR export (shape, lengths, row
    pointers, column indices), so a damaged file never serves wrong vectors."""
    def fail(problem: str) -> None:
        raise ValueError(f"{path} is a damaged pruned-table export: {problem}; "
                         "export the table again (export_pruned)")

    if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or (shape < 0).any():
        fail(f"shape must be two non-negative integers, got {shape.tolist()}")
    n, d = (int(x) for x in shape)
    for name, arr in (("data", data), ("indices", indices), ("indptr", indptr)):
        if arr.ndim != 1:
            fail(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.issubdtype(indices.dtype, np.integer) or not np.issubdtype(indptr.dtype, np.integer):
        fail(f"indices and indptr must be integers, got {indices.dtype} and {indptr.dtype}")
    if len(indices) != len(data):
        fail(f"{len(indices)} column indices for {len(data)} values")
    if len(indptr) != n + 1:
        fail(f"indptr has {len(indptr)} entries for {n} rows (expected {n + 1})")
    if indptr[0] != 0 or indptr[-1] != len(data):
        fail(f"indptr must run from 0 to nnz = {len(data)}, got {int(indptr[0])} to {int(indptr[-1])}")
    if (np.diff(indptr) < 0).any():
        row = int(np.flatnonzero(np.diff(indptr) < 0)[0])
        fail(f"indptr decreases at row {row} ({int(indptr[row])} -> {int(indptr[row + 1])})")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= d):
        fail(f"column indices must lie in [0, {d}), got [{int(indices.min())}, {int(indices.max())}]")
