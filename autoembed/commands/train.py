"""``autoembed train``: one trial from the command line, its rows printed as a table.

The chosen model's parameters, method's hyperparameters and dataset's options become flags,
generated from their ``Config`` dataclasses (``autoembed train --model deepfm --method pep --help``
lists them); ``--model-param``, ``--param`` and ``--data-option key=value`` set them too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from autoembed.commands.data import parse_option_args, schema_option
from autoembed.commands.flags import (
    add_config_flags,
    converter,
    flag_values,
    reject_unknown,
    typed_pairs,
)
from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, Precision, TrainConfig
from autoembed.data.fields import FieldSelection
from autoembed.data.registry import DATASETS
from autoembed.embeddings.registry import get_method
from autoembed.models.registry import get_model
from autoembed.plugins import UnknownPluginError
from autoembed.results import ResultRow

__all__ = ["converter", "experiment_config", "register", "run"]

HP_PREFIX = "hp__"  # namespace prefix of the method's generated flags
MODEL_PREFIX = "model__"  # ... of the model's
DATA_PREFIX = "data__"  # ... of the dataset's
TABLE_COLUMNS = (
    "status", "phase", "point", "params", "val_auc", "val_logloss", "test_auc", "test_logloss",
    "epochs", "best_epoch", "train_seconds", "samples_per_sec",
)


class PluginFlagsParser(argparse.ArgumentParser):
    """Adds the flags of the model, method and dataset named by ``--model``, ``--method`` and
    ``--dataset`` before parsing, and turns unknown options into an error that lists the
    allowed ones."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        try:
            add_plugin_flags(self, *peek(args))
        except (UnknownPluginError, ImportError) as exc:
            self.error(str(exc))
        ns, extras = super().parse_known_args(args, namespace)
        reject_unknown(self, extras)
        return ns, extras


def register(sub: argparse._SubParsersAction) -> None:
    default_class = sub._parser_class
    sub._parser_class = PluginFlagsParser  # only this subcommand resolves flags per plugin
    try:
        p = sub.add_parser(
            "train",
            help="train one model with one embedding method and print its metrics",
            description="Train one CTR model with one embedding-size method (search + retrain "
            "for two-phase methods) and print one metrics row per evaluated point. "
            "The model's parameters, the method's hyperparameters and the dataset's options are "
            "flags too (they change with --model, --method and --dataset: add --help after them).",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
    finally:
        sub._parser_class = default_class
    d, m, t = DataConfig(), ModelConfig(), TrainConfig()
    p.add_argument("--dataset", default=d.name, help="a registered dataset (autoembed datasets list)")
    p.add_argument("--data-root", default=None, help="folder with the raw files")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a parser/generator option, e.g. scale=tiny for synthetic (repeatable)")
    p.add_argument("--schema", default=None, help="table dataset: the schema YAML file")
    p.add_argument("--cache-dir", default=None, help="where parsed arrays are cached")
    p.add_argument("--split-seed", type=int, default=d.split_seed)
    p.add_argument("--model", default=m.name, help="a registered model (autoembed models list)")
    p.add_argument("--method", default="uniform", help="a registered method (autoembed methods list)")
    p.add_argument("--dim", type=int, default=m.dim, help="D, the model's interaction width")
    p.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model parameter (repeatable)")
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--search-epochs", type=int, default=None,
                   help="cap on the search phase's epochs; it ends once it has found what it "
                   "looks for (default: the method's cap, PEP: 45 on ml-1m, 30 elsewhere, and "
                   "at least 100 steps; else --epochs)")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--weight-decay", type=float, default=t.weight_decay)
    p.add_argument("--arch-lr", type=float, default=t.arch_lr)
    p.add_argument("--patience", type=int, default=t.patience)
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--threads", type=int, default=t.threads)
    p.add_argument("--device", default=t.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default=t.precision, choices=get_args(Precision),
                   help="dense layers' arithmetic (bf16: autocast; tables, logits and optimizer "
                   "states stay fp32); auto: the device's measured default")
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per phase")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method hyperparameter (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="write the rows to this .csv/.parquet")
    p.add_argument("--artifacts", type=Path, default=None,
                   help="folder for feature_dims .npy and the search trace .csv")
    p.add_argument("--progress", action="store_true", help="show a progress bar per epoch")
    p.set_defaults(func=run)


def peek(args: list[str]) -> tuple[str, str, str]:
    """The ``--model``, ``--method`` and ``--dataset`` named in ``args`` (or their defaults)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", default=ModelConfig.name)
    pre.add_argument("--method", default="uniform")
    pre.add_argument("--dataset", default=DataConfig.name)
    ns = pre.parse_known_args(args)[0]
    return ns.model, ns.method, ns.dataset


def add_plugin_flags(parser: argparse.ArgumentParser, model: str, method: str, dataset: str) -> None:
    """The generated flags: the model's parameters (``--<field>``), the method's hyperparameters
    (``--<field>``) and the dataset's options (``--data-<field>``, with ``fields`` and
    ``drop_fields``)."""
    if getattr(parser, "_plugin_flags_added", None) == (model, method, dataset):
        return
    parser._plugin_flags_added = (model, method, dataset)  # type: ignore[attr-defined]
    add_config_flags(parser, get_model(model).Config, f"parameters of model {model!r}", MODEL_PREFIX)
    add_config_flags(parser, get_method(method).Config, f"hyperparameters of method {method!r}", HP_PREFIX)
    data_cls = DATASETS.get(dataset)
    add_config_flags(parser, data_cls.Config, f"options of dataset {dataset!r}", DATA_PREFIX, "data-")
    add_config_flags(parser, FieldSelection, "fields of any dataset", DATA_PREFIX, "data-")


def method_params(args: argparse.Namespace) -> dict[str, Any]:
    """``--param`` pairs (typed by the method's Config), then the generated flags on top."""
    params = typed_pairs(args.param, get_method(args.method).Config, "--param")
    return {**params, **flag_values(args, HP_PREFIX)}


def model_params(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-param`` pairs (typed by the model's Config), then the generated flags on top."""
    params = typed_pairs(args.model_param, get_model(args.model).Config, "--model-param")
    return {**params, **flag_values(args, MODEL_PREFIX)}


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--data-option`` pairs, ``--schema``, then the generated ``--data-<option>`` flags."""
    options = schema_option(parse_option_args(args.data_option, "--data-option"), args.schema)
    return {**options, **flag_values(args, DATA_PREFIX)}


def experiment_config(args: argparse.Namespace) -> ExperimentConfig:
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, arch_lr=args.arch_lr, patience=args.patience,
        threads=args.threads, seed=args.seed, device=args.device, progress=args.progress,
        max_steps=args.max_steps, precision=args.precision,
    )
    search = (
        dataclasses.replace(train, epochs=args.search_epochs) if args.search_epochs else None
    )
    return ExperimentConfig(
        data=DataConfig(name=args.dataset, root=args.data_root, split_seed=args.split_seed,
                        options=data_options(args), cache_dir=args.cache_dir),
        model=ModelConfig(name=args.model, dim=args.dim, params=model_params(args)),
        method=args.method,
        method_params=method_params(args),
        train=train,
        search_train=search,
    )


def run(args: argparse.Namespace) -> int:
    from autoembed.experiment import run_experiment

    cfg = experiment_config(args)
    if args.out is not None and args.out.is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a .csv or .parquet file path")
    rows = run_experiment(
        cfg,
        artifacts_dir=args.artifacts,
        on_epoch=lambda m: print(
            f"[{m['phase']} {m['point']}] epoch {m['epoch']}: val_auc {m['val_auc']:.4f} "
            f"val_logloss {m['val_logloss']:.4f} params {m['params']}",
            file=sys.stderr, flush=True,
        ),
    )
    print(format_table(rows))
    if args.out is not None:
        write_rows(rows, args.out)
        print(f"wrote {len(rows)} row(s) to {args.out}")
    failed = [r for r in rows if r.status != "ok"]
    for r in failed:
        print(f"autoembed train: {r.phase} {r.point} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def format_table(rows: list[ResultRow]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = list(TABLE_COLUMNS)
    body = [[cell(getattr(r, c)) for c in header] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
    lines = [header, *body]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)) for line in lines)


def write_rows(rows: list[ResultRow], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([r.to_flat() for r in rows])
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


