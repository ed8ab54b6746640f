"""Criteo display-advertising logs in the Kaggle ``train.txt`` layout.

TAB-separated, no header: label, I1..I13 (integers), C1..C26 (hashed categories); empty =
missing. Integers are binned as ``int(ln(v)^2)`` for v > 2, while v <= 2 (negatives included)
and missing each keep a value of their own (the AutoInt/PEP preprocessing). In every field,
values seen fewer than ``min_count`` times (default 10) map to the field's OOV id 0, as does a
missing category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoembed.data.options import CriteoOptions
from autoembed.data.tabular import Layout, build_table, single_file

INT_FIELDS = tuple(f"I{i}" for i in range(1, 14))
CAT_FIELDS = tuple(f"C{i}" for i in range(1, 27))
LAYOUT = Layout(sep=b"\t", columns=("label", *INT_FIELDS, *CAT_FIELDS), label="label",
                int_fields=INT_FIELDS)


def raw_files(root: Path) -> list[Path]:
    return [single_file(root, ("train.txt",), ".txt", "Criteo train.txt")]


def build(root: Path, opts: CriteoOptions, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    return build_table(raw_files(root)[0], LAYOUT, opts, out_dir, progress)


__all__ = ["CriteoOptions", "LAYOUT", "build", "raw_files"]
