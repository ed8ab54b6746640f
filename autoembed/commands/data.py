"""``autoembed data prepare|info|download``: build, inspect and fetch the dataset caches."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

from autoembed.commands.flags import add_config_flags, flag_values, reject_unknown
from autoembed.config import DataConfig
from autoembed.data import DATASETS, load_dataset
from autoembed.data.base import CTRData
from autoembed.data.cache import SOURCE_HASH, load_entry
from autoembed.data.download import download_ml1m
from autoembed.data.fields import FieldSelection
from autoembed.data.loader import plan
from autoembed.data.report import format_report
from autoembed.plugins import UnknownPluginError

OPTION_PREFIX = "opt__"  # namespace prefix of the dataset's generated option flags


class DatasetFlagsParser(argparse.ArgumentParser):
    """``data prepare|info DATASET``: the dataset's options become flags (``--min-count 10``,
    ``--fields a,b``), generated from its ``Config`` before parsing; an unknown option is an
    error listing the allowed ones."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        pre = argparse.ArgumentParser(add_help=False)
        for flag in ("--root", "--schema", "--option", "--cache-dir"):
            pre.add_argument(flag)
        pre.add_argument("dataset", nargs="?")
        dataset = pre.parse_known_args(args)[0].dataset
        if dataset in DATASETS.names() and getattr(self, "_flags_for", None) != dataset:
            self._flags_for = dataset
            try:
                cls = DATASETS.get(dataset)
            except (UnknownPluginError, ImportError) as exc:
                self.error(str(exc))
            add_config_flags(self, cls.Config, f"options of dataset {dataset!r}", OPTION_PREFIX)
            add_config_flags(self, FieldSelection, "fields of any dataset", OPTION_PREFIX)
        ns, extras = super().parse_known_args(args, namespace)
        reject_unknown(self, extras)
        return ns, extras


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

    dsub._parser_class = DatasetFlagsParser  # prepare and info: the dataset's options as flags
    epilog = "The dataset's options are flags too (add --help after the dataset's name)."
    prep = dsub.add_parser("prepare", help="parse the raw files once and cache the arrays", epilog=epilog)
    dataset_args(prep)
    prep.add_argument("--strict", action="store_true", help="fail on the first malformed line")
    prep.set_defaults(func=run_prepare)

    info = dsub.add_parser("info", help="where the data and its cache are, and its summary", epilog=epilog)
    dataset_args(info)
    info.set_defaults(func=run_info)
    dsub._parser_class = argparse.ArgumentParser

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
    options = {**schema_option(parse_option_args(args.option), args.schema), **flag_values(args, OPTION_PREFIX)}
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
            print(f"  {name}  {SOURCE_HASH} {digest}")
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
