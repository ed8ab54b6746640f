"""A study's export: several experiment folders into one results folder that can live in a
repository: one tidy ``results.csv``, the small artifacts the figures need, and the generated
report with its figures (the core's ``autoembed study`` calls :func:`export_study` through the
entry point ``autoembed.reporting: export``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from analysis.costs import fill_trial_seconds
from analysis.load import dataset_array, load_results
from analysis.report import write_report
from autoembed.results.artifacts import (
    ARTIFACTS_DIR,
    FEATURE_COUNTS,
    PLANTED_DIMS,
    dataset_artifact_path,
)
from autoembed.results.reporting import StudyOutcome

RESULTS_FILE = "results.csv"
# Per-point artifacts (feature sizes, search traces) are copied for datasets up to this many
# features; larger ones (a Criteo-shaped table) would make the results folder megabytes big.
MAX_ARTIFACT_FEATURES = 200_000
PATH_COLUMNS = ("feature_dims_path", "trace_path")


def export_results(
    experiments: list[Path], out_dir: Path, max_artifact_features: int = MAX_ARTIFACT_FEATURES,
) -> StudyOutcome:
    """Write ``<out>/results.csv`` (every row of every experiment, artifact paths relative to
    ``out``, trial wall seconds filled in) and copy the artifacts of datasets with at most
    ``max_artifact_features`` features."""
    out_dir.mkdir(parents=True, exist_ok=True)
    df = fill_trial_seconds(load_results(experiments))
    skipped: list[str] = []
    for dataset in sorted(df["dataset"].unique()):
        counts = dataset_array(df, dataset, FEATURE_COUNTS)
        if counts is None or len(counts) > max_artifact_features:
            skipped.append(dataset)
            continue
        for name in (FEATURE_COUNTS, PLANTED_DIMS):
            array = dataset_array(df, dataset, name)
            if array is not None:
                target = dataset_artifact_path(out_dir, dataset, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                np.save(target, _compact(array))
    keep = ~df["dataset"].isin(skipped)
    for col in PATH_COLUMNS:
        if col in df.columns:
            df[col] = [_copy_artifact(p, Path(exp), out_dir) if k and p else ""
                       for p, exp, k in zip(df[col], df["experiment_dir"], keep, strict=True)]
    derived = ["experiment_dir", "source_file", "ok", "budget_base", "budget_frac", "config_id"]
    table = df.drop(columns=[c for c in derived if c in df.columns])
    csv = out_dir / RESULTS_FILE
    table.to_csv(csv, index=False)
    return StudyOutcome(experiments, out_dir, csv, len(table), skipped_artifacts=skipped)


def _compact(array: np.ndarray) -> np.ndarray:
    """Smallest unsigned integer dtype holding ``array`` (sizes, counts)."""
    array = np.asarray(array)
    if array.dtype.kind not in "iu" or (array.size and array.min() < 0):
        return array
    top = int(array.max()) if array.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return array.astype(dtype)
    return array


def _copy_artifact(path: str, experiment: Path, out_dir: Path) -> str:
    """Copy one artifact under ``<out>/artifacts/<experiment name>/``; its new relative path."""
    source = Path(path)
    if not source.is_file():
        return ""
    try:
        rel = source.relative_to(experiment / ARTIFACTS_DIR)
    except ValueError:
        rel = Path(source.name)
    target_rel = Path(ARTIFACTS_DIR) / experiment.name / rel
    target = out_dir / target_rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".npy":
        np.save(target, _compact(np.load(source)))
    else:
        shutil.copyfile(source, target)
    return target_rel.as_posix()


def export_study(experiments: list[Path], out_dir: Path, *, report: bool = True) -> StudyOutcome:
    """:func:`export_results`, then (with ``report``) the report written from the exported CSV."""
    outcome = export_results(experiments, out_dir)
    if report:
        outcome.report_md = write_report(outcome.results_csv, out_dir).markdown
    return outcome

