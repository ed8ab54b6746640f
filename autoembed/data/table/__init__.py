"""``table``: a CTR dataset from any CSV/TSV/Parquet log (plus side tables), described by a schema.

The data root (``--data-root`` / ``DataConfig.root``) is the log itself (a file, or a folder of
files) or the folder the schema's ``files:`` paths are relative to. The schema (``--schema``, or
``options: {schema: ...}`` inline) is documented in :mod:`autoembed.data.table.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoembed.data.options import ParseOptions
from autoembed.data.table.build import TablePlan, build_table
from autoembed.data.table.schema import Schema, SchemaError, load_schema, parse_schema

HOW_TO_GET = ("pass the data root (--data-root / root:): the log file or folder, or the folder "
              "the schema's files: paths are relative to")


@dataclass
class TableOptions(ParseOptions):
    """``schema``: a YAML file path or the schema mapping itself; ``min_count`` is the default for
    columns the schema's ``min_count`` does not set."""

    schema: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schema is None:
            raise ValueError("the table dataset needs a schema: --schema FILE.yaml, or "
                             "options: {schema: FILE.yaml or the schema mapping} in a search space")
        loaded = load_schema(self.schema)
        self.schema = loaded.to_dict()  # the normalised mapping: part of the cache key

    def parsed(self) -> Schema:
        return parse_schema(self.schema)


def raw_files(root: Path, options: TableOptions) -> list[Path]:
    return TablePlan.make(options.parsed(), root).files


def build(root: Path, opts: TableOptions, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    return build_table(TablePlan.make(opts.parsed(), root), opts, out_dir)


__all__ = ["HOW_TO_GET", "Schema", "SchemaError", "TableOptions", "build", "load_schema", "raw_files"]
