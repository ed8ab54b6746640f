"""What the core asks of a reporting package (``analysis`` in this repository), found through the
entry-point group ``autoembed.reporting`` so that the core never imports it:

- ``report(paths, out) -> report``: figures, tables and report.md/.html from results;
- ``export(experiments, out_dir, report=True) -> StudyOutcome``: several experiment folders
  exported into one results folder (``autoembed study``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

GROUP = "autoembed.reporting"


@dataclass
class StudyOutcome:
    experiments: list[Path]
    out_dir: Path
    results_csv: Path
    rows: int
    report_md: Path | None = None
    skipped_artifacts: list[str] = field(default_factory=list)
    unfinished: dict[str, int] = field(default_factory=dict)  # sweep -> trials left (interrupted)


def reporter(name: str) -> Callable[..., Any]:
    """The reporting function ``name`` (``report`` or ``export``) of the installed package."""
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise ImportError(
            f"no {name!r} in the entry-point group {GROUP!r}: install this project with its "
            "analysis package (scripts/setup_env.sh reinstalls it)"
        )
    return next(iter(found)).load()
