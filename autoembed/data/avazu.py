"""Avazu CTR logs: the Kaggle ``train`` CSV with header ``id,click,hour,C1,...,C21``.

``id`` is dropped, ``click`` is the label, the other 22 columns are categorical fields. ``hour``
(YYMMDDHH) is one category as given (option ``hour="raw"``, default) or only its hour of day
(``hour="hour_of_day"``, 24 values, which generalises across days). Values seen fewer than
``min_count`` times (default 10) map to the field's OOV id 0.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.options import AvazuOptions
from autoembed.data.tabular import Layout, build_table, single_file

COLUMNS = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category",
    "app_id", "app_domain", "app_category", "device_id", "device_ip", "device_model",
    "device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)
LAYOUT = Layout(sep=b",", columns=COLUMNS, label="click", dropped=("id",), has_header=True)


def _hour_of_day(hour: pa.Array) -> pa.Array:
    return pc.utf8_slice_codeunits(hour, start=-2)


def raw_files(root: Path) -> list[Path]:
    return [single_file(root, ("train", "train.csv"), ".csv", "Avazu train file")]


def build(root: Path, opts: AvazuOptions, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    layout = LAYOUT if opts.hour == "raw" else replace(LAYOUT, transforms={"hour": _hour_of_day})
    return build_table(raw_files(root)[0], layout, opts, out_dir, progress)


__all__ = ["AvazuOptions", "LAYOUT", "build", "raw_files"]
