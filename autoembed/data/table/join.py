"""Side tables (users, items ...): read whole, one row per key, looked up by each log chunk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoembed.data.report import ParseReport
from autoembed.data.table.reader import Source, iter_chunks


@dataclass
class SideTable:
    """A side table keyed by ``key``: its rows (first of duplicate keys) and their columns."""

    source: Source
    key: str
    table: pa.Table  # key + wanted columns, one row per key

    @classmethod
    def load(
        cls, source: Source, key: str, columns: list[str], coerce_chunk, report: ParseReport,
        chunk_bytes: int,
    ) -> SideTable:
        """Read ``source`` whole; ``coerce_chunk(chunk)`` types it and drops unparseable rows.
        Duplicate keys are counted and skipped (the first row of a key is kept)."""
        parts, lines, files = [], [], []
        for chunk in iter_chunks(source, [key, *columns], report, chunk_bytes):
            chunk = coerce_chunk(chunk)
            parts.append(chunk.table)
            lines.append(chunk.lines)
            files.extend([chunk.file] * len(chunk.lines))
        table = pa.concat_tables(parts) if parts else None
        if table is None or table.num_rows == 0:
            raise ValueError(f"side table {source.describe()} has no valid row")
        keys = table.column(key).combine_chunks()
        code = pc.index_in(keys, value_set=pc.unique(keys.drop_null())).fill_null(-1)
        code = code.to_numpy(zero_copy_only=False)
        valid = np.flatnonzero(code >= 0)
        keep = np.zeros(len(code), dtype=bool)
        keep[valid[np.unique(code[valid], return_index=True)[1]]] = True  # first row of each key
        numbers = np.concatenate(lines)
        if not keep.all():
            bad = np.flatnonzero(~keep)
            report.record_bad(
                "/".join(sorted(set(files))), numbers[bad],
                [f"duplicate or empty {key}"] * len(bad),
                [f"{key} = {v!r}" for v in keys.take(pa.array(bad)).to_pylist()],
            )
        return cls(source, key, table.filter(pa.array(keep)))

    def lookup(self, keys: pa.Array) -> tuple[pa.Array, int]:
        """Row index in this table of each key (null: no match) and the number matched."""
        index = pc.index_in(keys, value_set=self.table.column(self.key).combine_chunks())
        return index, len(index) - index.null_count

    def columns(self, index: pa.Array, names: list[str]) -> dict[str, pa.Array]:
        return {n: self.table.column(n).combine_chunks().take(index) for n in names}
