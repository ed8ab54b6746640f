"""``autoembed data prepare|info|download``: build, inspect and fetch the dataset caches."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import yaml

from autoembed.config import DataConfig
from autoembed.data import DATASETS, load_dataset
from autoembed.data.base import CTRData
from autoembed.data.cache import load_entry
from autoembed.data.download import download_ml1m
from autoembed.data.loader import plan
from autoembed.data.report import format_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="prepare (parse + cache), inspect or download datasets")
    dsub = p.add_subparsers(dest="action", required=True)

    def dataset_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("dataset", choices=DATASETS.names(), help="a registered dataset (autoembed datasets list)")
        q.add_argument("--root", help="folder (or file) with the raw data")
        q.add_argument("--schema", help="table dataset: the schema YAML file")
        q.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="parser option, repeatable (e.g. min_count=10, scale=tiny)")
        q.add_argument("--cache-dir", help="cache folder (default $AUTOEMBED_CACHE or ~/.cache/autoembed)")

    prep = dsub.add_parser("prepare", help="parse the raw files once and cache the arrays")
    dataset_args(prep)
    prep.add_argument("--strict", action="store_true", help="fail on the first malformed line")
    prep.set_defaults(func=run_prepare)

    info = dsub.add_parser("info", help="where the data and its cache are, and its summary")
    dataset_args(info)
    info.set_defaults(func=run_info)

    down = dsub.add_parser("download", help="download a public dataset (ml-1m) with checksum check")
    down.add_argument("dataset", choices=["ml-1m"])
    down.add_argument("--dest", help="folder to unzip into (default <cache>/raw)")
    down.set_defaults(func=run_download)


def parse_option_args(pairs: list[str], flag: str = "--option") -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values read as YAML scalars/lists (10, 0.5, true, [1, 2])."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = yaml.safe_load(value)
    return options


def schema_option(options: dict[str, Any], schema: str | None) -> dict[str, Any]:
    """``options`` with ``--schema`` as the ``schema`` option (table dataset)."""
    return options if schema is None else {**options, "schema": schema}


def _config(args: argparse.Namespace) -> DataConfig:
    options = schema_option(parse_option_args(args.option), args.schema)
    if getattr(args, "strict", False):
        options["strict"] = True
    return DataConfig(name=args.dataset, root=args.root, options=options, cache_dir=args.cache_dir)


def summary(data: CTRData) -> str:
    """Rows, fields, vocab sizes, positives rate, the parse report and the cache path."""
    labels = np.asarray(data.labels)
    lines = [
        f"dataset {data.name}: {data.num_rows:,} rows, {data.num_fields} fields, "
        f"{data.num_features:,} features, positives {labels.mean():.4f}",
        "vocab sizes (OOV id included): "
        + ", ".join(f"{n}={v:,}" for n, v in zip(data.field_names, data.vocab_sizes, strict=True)),
        "parse report: " + format_report(data.meta["parse_report"]),
    ]
    if data.meta.get("split"):
        split = data.meta["split"]
        lines.append(f"split by {split['by']}: train/val/test rows "
                     + " / ".join(f"{n:,}" for n in split["rows"]))
    if data.meta.get("noise_fields") is not None:
        lines.append(f"planted noise fields: {', '.join(data.meta['noise_fields']) or 'none'}")
    lines.append(f"cache: {data.meta.get('cache_path')}")
    return "\n".join(lines)


def run_prepare(args: argparse.Namespace) -> int:
    data = load_dataset(_config(args), progress=True)
    print(summary(data))
    print("cache hit (already prepared)" if data.meta["cache_hit"] else "parsed and cached")
    return 0


def run_info(args: argparse.Namespace) -> int:
    p = plan(_config(args))
    if p.root is not None:
        print(f"raw data: {p.root}")
        for name, digest in p.sources.items():
            print(f"  {name}  sha256 {digest}")
    data = load_entry(p.folder)
    if data is None:
        print(f"not prepared yet (cache entry {p.folder}); run: autoembed data prepare {args.dataset}")
        return 0
    data.meta["cache_path"] = str(p.folder)
    print(summary(data))
    return 0


def run_download(args: argparse.Namespace) -> int:
    folder = download_ml1m(args.dest, progress=True)
    print(f"ml-1m downloaded and verified: {folder}")
    return 0
