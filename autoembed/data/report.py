"""The parse report: every skipped line is counted by reason and the first few are listed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class MalformedLineError(ValueError):
    """A malformed raw line met in strict mode."""


@dataclass
class ParseReport:
    """Counts of lines read, rows kept, and lines skipped per reason (with the first line numbers).

    ``strict=True`` turns the first malformed line into a :class:`MalformedLineError`.
    ``notes`` holds counts of valid-but-notable lines (e.g. MovieLens empty timestamps).
    """

    strict: bool = False
    max_examples: int = 20
    lines: int = 0
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    _pending: list | None = field(default=None, repr=False)

    def record_bad(
        self, file: str, line_numbers: np.ndarray, reasons: list[str], details: list[str]
    ) -> None:
        """Record malformed lines; inside :meth:`chunk` they are held and applied in line order."""
        if len(line_numbers) == 0:
            return
        items = [(file, int(n), r, d) for n, r, d in zip(line_numbers, reasons, details, strict=True)]
        if self._pending is not None:
            self._pending.extend(items)
        else:
            self._apply(items)

    @contextmanager
    def chunk(self) -> Iterator[None]:
        """Group the records of one chunk so strict mode raises on its lowest line number."""
        self._pending = []
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        self._apply(sorted(pending, key=lambda item: item[1]))

    def _apply(self, items: list[tuple[str, int, str, str]]) -> None:
        if items and self.strict:
            file, line, reason, detail = items[0]
            raise MalformedLineError(
                f"{file}, line {line}: {reason} ({detail}). Fix or remove the line, or load "
                "without strict mode to skip and count malformed lines."
            )
        for file, line, reason, detail in items:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
            if len(self.examples) < self.max_examples:
                self.examples.append({"file": file, "line": line, "reason": reason, "detail": detail})

    def note(self, key: str, count: int) -> None:
        self.notes[key] = self.notes.get(key, 0) + int(count)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "rows": self.rows,
            "skipped": self.num_skipped,
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "first_bad_lines": list(self.examples),
            "notes": dict(sorted(self.notes.items())),
        }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary of a ``ParseReport.to_dict()``."""
    out = [f"lines read {report['lines']:,}, rows kept {report['rows']:,}, "
           f"lines skipped {report['skipped']:,}"]
    for reason, n in report["skipped_by_reason"].items():
        out.append(f"  skipped, {reason}: {n:,}")
    for ex in report["first_bad_lines"]:
        out.append(f"    {ex['file']}:{ex['line']}: {ex['reason']} ({ex['detail']})")
    for key, n in report["notes"].items():
        out.append(f"  note, {key}: {n:,}")
    return "\n".join(out)
