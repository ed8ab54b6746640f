"""The dataset contract: a plugin class with typed options (``Config``), the raw files it reads
and a ``build`` that writes the cached arrays. Registered under ``autoembed.datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from autoembed.data.options import ParseOptions
from autoembed.data.report import ParseReport
from autoembed.data.vocab import encode_columns, offsets_of


class Dataset:
    """Base of every dataset. ``Config`` is a dataclass of its options (``Literal`` for choices);
    CLI flags and search-space checks are generated from it, and every field that changes the
    output is part of the cache key (``strict`` and ``chunk_bytes`` are not).

    A file-backed dataset implements :meth:`raw_files` (hashed for the cache key) and
    :meth:`build`; a generated one sets ``generated = True`` and only builds.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type] = ParseOptions
    how_to_get: ClassVar[str] = ""  # shown when the raw files are missing
    generated: ClassVar[bool] = False  # True: no raw files (root is None in build)

    def raw_files(self, root: Path, options: Any) -> list[Path]:
        """The files under ``root`` (a folder or a file) that :meth:`build` reads."""
        raise NotImplementedError

    def build(self, root: Path | None, options: Any, out_dir: Path, progress: bool = False) -> dict[str, Any]:
        """Write ``ids.npy`` (int32 [N, F] global ids), ``labels.npy`` (float32 [N] in {0, 1})
        and ``feature_counts.npy`` into ``out_dir``; return the meta (``field_names``,
        ``vocab_sizes``, ``parse_report``). :func:`write_columns` does all of it for columns
        held in memory."""
        raise NotImplementedError


def write_columns(
    out_dir: Path,
    columns: dict[str, pd.Series],
    labels: np.ndarray,
    report: ParseReport,
    min_count: int = 1,
) -> dict[str, Any]:
    """Encode categorical ``columns`` (one field each, NaN = missing -> the field's id 0; values
    seen fewer than ``min_count`` times -> id 0 too) and ``labels`` into ``out_dir``; the meta."""
    if any(len(v) != len(labels) for v in columns.values()):
        raise ValueError(f"every column needs {len(labels)} values, one per label")
    local, vocab_sizes = encode_columns(columns, min_count)
    ids = (local + offsets_of(vocab_sizes)).astype(np.int32)
    np.save(out_dir / "ids.npy", ids)
    np.save(out_dir / "labels.npy", np.asarray(labels, dtype=np.float32))
    np.save(out_dir / "feature_counts.npy",
            np.bincount(ids.ravel(), minlength=sum(vocab_sizes)).astype(np.int64))
    report.rows = len(labels)
    return {"field_names": list(columns), "vocab_sizes": vocab_sizes,
            "parse_report": report.to_dict()}
