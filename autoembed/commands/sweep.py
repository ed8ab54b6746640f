"""``autoembed sweep SPEC.yaml``: run (or ``--resume``) a Ray Tune sweep of a search space."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a search space (search_spaces/*.yaml) as Ray Tune trials",
        description="Run every method's search space as Ray Tune trials; results go to "
        "<storage_path>/<name>/results.{parquet,csv} as trials finish.",
    )
    p.add_argument("spec", nargs="?", help="search space YAML (optional with --resume)")
    p.add_argument("--storage-path", help="where experiments go: a folder or a URI (s3://, gs://)")
    p.add_argument("--name", help="experiment name (default: <spec name>-<timestamp>)")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the interrupted sweep in experiment folder PATH")
    p.add_argument("--smoke-test", action="store_true",
                   help="one short point per method on the first dataset/model/seed")
    p.add_argument("--address", help="Ray cluster: 'auto' (on a cluster / in `ray job submit`) "
                   "or ray://host:10001; default: an embedded local Ray")
    p.add_argument("--check", action="store_true",
                   help="check every point's configs, the data files and the resources, print the "
                   "plan and exit (imports no plugin, writes nothing)")
    p.add_argument("--quiet", action="store_true", help="no progress table or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoembed.tune.plan import count_trials
    from autoembed.tune.preflight import check_spec
    from autoembed.tune.spaces import load_spec

    if args.resume:
        from autoembed.tune.driver import resume_sweep

        outcome = resume_sweep(args.resume, address=args.address, verbose=not args.quiet)
        return 0 if outcome.ok else 1
    if not args.spec:
        raise ValueError("give a search space file (e.g. search_spaces/quickstart.yaml) or --resume PATH")
    spec = load_spec(args.spec, load_plugins=not args.check)  # everything checked before Ray
    report = check_spec(spec, args.address)
    if report.unchecked_methods:
        print(f"note: method(s) {', '.join(report.unchecked_methods)} come from the spec's plugins, "
              "which --check does not import: their values are not checked", file=sys.stderr)
    if args.check:
        print(f"{args.spec}: valid; {count_trials(spec)} trial(s) over "
              f"{len(spec.datasets)} dataset(s), {len(spec.models)} model(s), "
              f"methods {', '.join(m.method for m in spec.methods)}, seeds {spec.seeds}; "
              f"{report.points} point config(s) built and checked")
        return 0
    from autoembed.tune.driver import run_sweep

    outcome = run_sweep(spec, name=args.name, storage_path=args.storage_path, address=args.address,
                        smoke_test=args.smoke_test, verbose=not args.quiet)
    return 0 if outcome.ok else 1  # failed or interrupted trials: the counts were printed
