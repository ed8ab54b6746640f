"""A study: several sweeps run (or resumed) into one storage folder, then exported to a results
folder that can live in a repository (the export is the reporting package's, see
:mod:`autoembed.results.reporting`).

Each sweep's experiment folder is ``<storage>/<spec name>``; running the study again resumes
unfinished trials and keeps the finished ones, so an interrupted study loses nothing.
"""

from __future__ import annotations

from pathlib import Path

from autoembed.results.reporting import StudyOutcome, reporter
from autoembed.tune.spaces import load_spec


def experiment_dir(storage: Path, spec_path: str | Path) -> Path:
    return storage / load_spec(spec_path).name


def run_sweeps(
    spec_paths: list[str | Path], storage: Path, *, address: str | None = None,
    smoke_test: bool = False, verbose: bool = True,
) -> tuple[list[Path], dict[str, int]]:
    """Run each spec as the sweep ``<storage>/<spec name>``; an existing one is resumed.
    Returns the folders and, per interrupted sweep, how many of its trials are unfinished."""
    from ray import tune

    from autoembed.tune.driver import resume_sweep, run_sweep

    storage = storage.resolve()
    folders, unfinished = [], {}
    for path in spec_paths:
        spec = load_spec(path)
        folder = storage / spec.name
        if tune.Tuner.can_restore(str(folder)):
            if verbose:
                print(f"study: resuming {folder}")
            outcome = resume_sweep(str(folder), address=address, verbose=verbose)
        else:
            outcome = run_sweep(spec, name=spec.name, storage_path=str(storage), address=address,
                                smoke_test=smoke_test, verbose=verbose)
        folders.append(folder)
        if outcome.unfinished:
            unfinished[spec.name] = outcome.unfinished
    return folders, unfinished


def run_study(
    spec_paths: list[str | Path], storage: Path, out_dir: Path, *, address: str | None = None,
    smoke_test: bool = False, report: bool = True, verbose: bool = True,
) -> StudyOutcome:
    """Run (or resume) every sweep, export the results to ``out_dir`` and write its report."""
    experiments, unfinished = run_sweeps(spec_paths, storage, address=address,
                                         smoke_test=smoke_test, verbose=verbose)
    outcome = export_study(experiments, out_dir, report=report)
    outcome.unfinished = unfinished
    return outcome


def export_study(experiments: list[Path], out_dir: Path, *, report: bool = True) -> StudyOutcome:
    """The installed reporting package's ``export`` (``analysis.export.export_study``)."""
    return reporter("export")(experiments, out_dir, report=report)
