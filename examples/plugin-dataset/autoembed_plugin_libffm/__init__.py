"""LIBFFM text files (the format of the field-aware FM tools and of the Criteo/Avazu libffm
releases): one example per line, ``label field:feature:value ...``. Each field becomes one
categorical field whose values are the feature indices (``value`` is ignored: CTR data is
one-hot). An example of an autoembed plugin dataset; it holds the file in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from autoembed.data.dataset import Dataset, write_columns
from autoembed.data.report import ParseReport


@dataclass
class LibFFMOptions:
    min_count: int = field(default=1, metadata={"help": "rarer features map to the field's id 0"})
    strict: bool = field(default=False, metadata={"help": "fail on the first malformed line"})
    duplicate: Literal["first", "last"] = field(
        default="first", metadata={"help": "which feature a field given twice on a line keeps"})
    num_fields: int | None = field(
        default=None, metadata={"help": "fields 0..N-1 (default: the highest field seen + 1)"})

    def __post_init__(self) -> None:
        if self.min_count < 1 or (self.num_fields is not None and self.num_fields < 1):
            raise ValueError(f"min_count and num_fields must be >= 1, got {self.min_count}, {self.num_fields}")


def parse_line(line: str, duplicate: str) -> tuple[int, dict[int, int]] | str:
    """``(label, {field: feature})``, or the reason the line is malformed."""
    tokens = line.split()
    if not tokens:
        return "empty line"
    if tokens[0] not in ("0", "1"):
        return f"label {tokens[0]!r} is not 0 or 1"
    features: dict[int, int] = {}
    for token in tokens[1:]:
        parts = token.split(":")
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return f"token {token!r} is not field:feature:value"
        f = int(parts[0])
        if duplicate == "last" or f not in features:
            features[f] = int(parts[1])
    return int(tokens[0]), features


class LibFFM(Dataset):
    """LIBFFM text files: ``label field:feature:value ...``, one categorical field per field."""

    name = "libffm"
    Config = LibFFMOptions
    how_to_get = "pass --data-root a .ffm file, or a folder of .ffm files"

    def raw_files(self, root: Path, options: Any) -> list[Path]:
        return [root] if root.is_file() else sorted(root.glob("*.ffm"))

    def build(self, root: Path | None, options: Any, out_dir: Path, progress: bool = False) -> dict[str, Any]:
        assert root is not None
        report = ParseReport(strict=options.strict)
        labels, rows = [], []
        files = self.raw_files(root, options)
        if not files:
            raise FileNotFoundError(f"no .ffm file in {root}; {self.how_to_get}")
        for path in files:
            with path.open(encoding="utf-8", errors="replace") as fh:
                for number, line in enumerate(fh, 1):
                    report.lines += 1
                    parsed = parse_line(line, options.duplicate)
                    if isinstance(parsed, str):
                        report.record_bad(path.name, np.array([number]), ["malformed"], [parsed])
                        continue
                    labels.append(parsed[0])
                    rows.append(parsed[1])
        if not rows:
            raise ValueError(f"no valid line in {', '.join(map(str, files))}")
        n_fields = options.num_fields or 1 + max(max(r, default=0) for r in rows)
        columns = {f"field_{f}": pd.Series([r.get(f, np.nan) for r in rows], dtype="float64")
                   for f in range(n_fields)}  # NaN: the field is absent on that line (id 0)
        return write_columns(out_dir, columns, np.asarray(labels), report, options.min_count)
