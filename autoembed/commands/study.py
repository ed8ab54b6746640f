"""``autoembed study SPEC [SPEC ...]``: run (or resume) several sweeps and export their results,
report and figures into one folder (``results/`` in this repository)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study", help="run/resume several sweeps, export results.csv + report + figures",
        description="Run each search space as the sweep <storage>/<spec name> (resumed when it "
                    "exists: finished trials are kept), then write <out>/results.csv, the small "
                    "artifacts the figures need, report.md/.html, budget tables and figures.",
    )
    p.add_argument("specs", nargs="+", help="search space YAML files")
    p.add_argument("--storage-path", default="experiments/study",
                   help="where the sweeps' experiment folders go (default: experiments/study)")
    p.add_argument("--out", default="results", help="export folder (default: results)")
    p.add_argument("--address", help="Ray cluster address ('auto'); default: a local Ray")
    p.add_argument("--smoke-test", action="store_true", help="one short point per method")
    p.add_argument("--export-only", action="store_true",
                   help="do not run: export and report the existing experiment folders")
    p.add_argument("--quiet", action="store_true", help="no progress tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoembed.study import experiment_dir, export_study, run_study

    storage, out = Path(args.storage_path).resolve(), Path(args.out)
    if args.export_only:
        folders = [experiment_dir(storage, s) for s in args.specs]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise FileNotFoundError(f"no experiment folder(s) {', '.join(missing)}: run the study "
                                    "first (without --export-only) or pass --storage-path")
        outcome = export_study(folders, out)
    else:
        outcome = run_study(args.specs, storage, out, address=args.address,
                            smoke_test=args.smoke_test, verbose=not args.quiet)
    for name, left in outcome.unfinished.items():
        print(f"study: sweep {name!r} was interrupted with {left} trial(s) unfinished; this "
              "export is partial: run the same command again to finish (finished trials are kept)")
    print(f"study: {outcome.rows} rows -> {outcome.results_csv}")
    if outcome.skipped_artifacts:
        print(f"per-point artifacts not exported (too large) for: {', '.join(outcome.skipped_artifacts)}")
    print(f"report: {outcome.report_md}")
    print(f"regenerate the report from the stored results: autoembed report {outcome.results_csv} "
          f"--out {out}")
    return 0
