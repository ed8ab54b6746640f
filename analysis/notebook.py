"""What every analysis notebook needs: where the results are, where figures go, and showing them."""

from __future__ import annotations

import os
from pathlib import Path

from analysis.figures import FigureResult

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_RESULTS = PROJECT_ROOT / "tests" / "fixtures" / "results_small"
STUDY_RESULTS = PROJECT_ROOT / "results" / "results.csv"  # written by `autoembed study`


def results_dir() -> Path:
    """``$AUTOEMBED_RESULTS`` if set, else the study's stored results (``results/``), else the
    small results fixture of the tests."""
    if os.environ.get("AUTOEMBED_RESULTS"):
        return Path(os.environ["AUTOEMBED_RESULTS"])
    return STUDY_RESULTS if STUDY_RESULTS.is_file() else FIXTURE_RESULTS


def figures_dir() -> Path:
    """``$AUTOEMBED_FIGURES`` if set, else ``./figures`` (beside the running notebook)."""
    return Path(os.environ.get("AUTOEMBED_FIGURES") or "figures")


def show(results: list[FigureResult]) -> None:
    """Display each written PNG inline (IPython), or print why a figure was skipped."""
    from IPython.display import Image, display

    for result in results:
        if result.skipped:
            print(f"{result.name}: skipped — {result.skipped}")
            continue
        print(f"{result.name}: {', '.join(str(p) for p in result.paths)}")
        display(Image(filename=str(next(p for p in result.paths if p.suffix == ".png"))))
