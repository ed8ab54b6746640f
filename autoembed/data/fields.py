"""``fields`` / ``drop_fields``: any dataset restricted to some of its fields, cached as its own
entry (ids renumbered into the smaller global id space)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoembed.data.base import CTRData
from autoembed.data.npy import NpyWriter
from autoembed.data.vocab import offsets_of

_ROWS = 1 << 18


@dataclass(frozen=True)
class FieldSelection:
    """Keep only ``fields`` (in the dataset's order), or every field but ``drop_fields``."""

    fields: tuple[str, ...] | None = field(
        default=None, metadata={"help": "keep only these fields (comma-separated names)"})
    drop_fields: tuple[str, ...] = field(
        default=(), metadata={"help": "every field but these (e.g. user_id,movie_id)"})

    @classmethod
    def pop(cls, options: dict[str, Any]) -> FieldSelection:
        """Take ``fields`` / ``drop_fields`` out of a dataset's ``options`` mapping."""
        def names(key: str) -> tuple[str, ...] | None:
            value = options.pop(key, None)
            if value is None:
                return None
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"dataset option {key} must be a list of field names, got {value!r}")
            return tuple(value)

        selection = cls(names("fields"), names("drop_fields") or ())
        if selection.fields is not None and selection.drop_fields:
            raise ValueError("give either fields or drop_fields, not both")
        return selection

    @property
    def active(self) -> bool:
        return self.fields is not None or bool(self.drop_fields)

    def key(self) -> dict[str, Any]:
        """The cache-key part (empty when nothing is selected, so such keys do not change)."""
        if not self.active:
            return {}
        return {"fields": list(self.fields or ()), "drop_fields": list(self.drop_fields)}

    def indices(self, names: tuple[str, ...], dataset: str) -> list[int]:
        """Positions of the kept fields; an unknown name is an error listing the fields."""
        asked = self.fields if self.fields is not None else self.drop_fields
        unknown = [n for n in asked if n not in names]
        if unknown:
            raise ValueError(f"dataset {dataset!r} has no field(s) {unknown}; its fields are: "
                             f"{', '.join(names)}")
        keep = [i for i, n in enumerate(names)
                if (n in self.fields if self.fields is not None else n not in self.drop_fields)]
        if not keep:
            raise ValueError(f"fields/drop_fields leave dataset {dataset!r} without a field")
        return keep


def select_fields(data: CTRData, keep: list[int], out_dir: Path) -> dict[str, Any]:
    """Write ``data`` restricted to fields ``keep`` into ``out_dir``; returns the meta."""
    old_offsets = data.field_offsets
    sizes = [data.vocab_sizes[f] for f in keep]
    shift = offsets_of(sizes) - old_offsets[keep]
    with NpyWriter(out_dir / "ids.npy", (data.num_rows, len(keep)), np.int32) as ids:
        for lo in range(0, data.num_rows, _ROWS):
            ids.write(np.asarray(data.ids[lo : lo + _ROWS])[:, keep] + shift)
    np.save(out_dir / "labels.npy", np.asarray(data.labels))
    spans = [slice(old_offsets[f], old_offsets[f] + data.vocab_sizes[f]) for f in keep]
    np.save(out_dir / "feature_counts.npy", np.concatenate([data.feature_counts[s] for s in spans]))
    if data.planted_dims is not None:
        np.save(out_dir / "planted_dims.npy", np.concatenate([data.planted_dims[s] for s in spans]))
    for name in ("teacher_probs", "split_parts"):
        value = getattr(data, name)
        if value is not None:
            np.save(out_dir / f"{name}.npy", np.asarray(value))
    skip = {"arrays", "cache_path", "cache_hit", "field_names", "vocab_sizes"}
    return {**{k: v for k, v in data.meta.items() if k not in skip},
            "field_names": [data.field_names[f] for f in keep], "vocab_sizes": sizes,
            "selected_from": data.meta.get("cache_path")}
