"""``autoembed report EXPERIMENT_DIR [--out DIR]``: figures + report.md + report.html."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="figures, tables and a markdown/HTML report from an experiment folder",
        description="Write every figure the results support (PNG + SVG), budgets.csv/.md, "
                    "hypervolume.csv, report.md and report.html.",
    )
    p.add_argument("experiment", nargs="+",
                   help="experiment folder(s) (with results.parquet/.csv) or results file(s); "
                        "an object-storage experiment (s3://bucket/path/<name>) is fetched to "
                        "./results/<name> first")
    p.add_argument("--out", default=None, help="output folder (default: <experiment>/report)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoembed.results.reporting import reporter

    report = reporter("report")([_local(e) for e in args.experiment], args.out)  # analysis.report.write_report
    for fig in report.figures:
        if fig.skipped:
            print(f"skipped {fig.name}: {fig.skipped}")
        else:
            print(f"wrote {fig.name}: {', '.join(str(p) for p in fig.paths)}")
    for table in report.tables:
        print(f"wrote {table}")
    print(f"report: {report.markdown}\n        {report.html}")
    return 0


def _local(experiment: str) -> str:
    """A local experiment folder for ``experiment``: an object-storage URI is fetched first."""
    from autoembed.tune.driver import fetch_experiment, results_dir_for
    from autoembed.tune.spaces import is_uri

    if not is_uri(experiment):
        return experiment
    storage, name = experiment.rstrip("/").rsplit("/", 1)
    folder = results_dir_for(storage, name)
    fetch_experiment(experiment, folder)
    print(f"fetched {experiment} -> {folder}")
    return str(folder)
