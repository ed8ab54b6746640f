"""``autoembed train``: one trial from the command line, its rows printed as a table.

The chosen method's hyperparameters become flags, generated from its ``Config`` dataclass
(``autoembed train --method pep --help`` lists them); ``--param key=value`` sets them too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from autoembed.commands.data import parse_option_args, schema_option
from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, Precision, TrainConfig
from autoembed.embeddings.registry import UnknownMethodError, get_method
from autoembed.results import ResultRow

HP_PREFIX = "hp__"  # namespace prefix of the method's generated flags
TABLE_COLUMNS = (
    "status", "phase", "point", "params", "val_auc", "val_logloss", "test_auc", "test_logloss",
    "epochs", "best_epoch", "train_seconds", "samples_per_sec",
)


class MethodFlagsParser(argparse.ArgumentParser):
    """Adds the flags of the method named by ``--method`` before parsing, and turns unknown
    options into an error that lists the allowed ones."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        try:
            add_method_flags(self, peek_method(args))
        except UnknownMethodError as exc:
            self.error(str(exc))
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            allowed = sorted(s for s in self._option_string_actions if s.startswith("--"))
            self.error(f"unrecognized arguments: {' '.join(extras)}; allowed options: {', '.join(allowed)}")
        return ns, extras


def register(sub: argparse._SubParsersAction) -> None:
    default_class = sub._parser_class
    sub._parser_class = MethodFlagsParser  # only this subcommand resolves flags per method
    try:
        p = sub.add_parser(
            "train",
            help="train one model with one embedding method and print its metrics",
            description="Train one CTR model with one embedding-size method (search + retrain "
            "for two-phase methods) and print one metrics row per evaluated point. "
            "Method hyperparameters: see the flags below (they change with --method).",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
    finally:
        sub._parser_class = default_class
    d, m, t = DataConfig(), ModelConfig(), TrainConfig()
    p.add_argument("--dataset", default=d.name, help="ml-1m | criteo | avazu | synthetic")
    p.add_argument("--data-root", default=None, help="folder with the raw files")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a parser/generator option, e.g. scale=tiny for synthetic (repeatable)")
    p.add_argument("--schema", default=None, help="table dataset: the schema YAML file")
    p.add_argument("--cache-dir", default=None, help="where parsed arrays are cached")
    p.add_argument("--split-seed", type=int, default=d.split_seed)
    p.add_argument("--model", default=m.name, help="lr | fm | deepfm | autoint")
    p.add_argument("--method", default="uniform", help="a registered method (autoembed methods list)")
    p.add_argument("--dim", type=int, default=m.dim, help="D, the model's interaction width")
    p.add_argument("--dnn-hidden", type=_int_tuple, default=m.dnn_hidden, help="comma list")
    p.add_argument("--dropout", type=float, default=m.dropout)
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--search-epochs", type=int, default=None,
                   help="epochs of the search phase (default: --epochs)")
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


def peek_method(args: list[str]) -> str:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default="uniform")
    return pre.parse_known_args(args)[0].method


def add_method_flags(parser: argparse.ArgumentParser, method: str) -> None:
    """One ``--<field-with-dashes>`` flag per field of ``method``'s Config, typed from its hints."""
    if getattr(parser, "_method_flags_added", None) == method:
        return
    parser._method_flags_added = method  # type: ignore[attr-defined]
    cls = get_method(method)
    hints = get_type_hints(cls.Config)
    group = parser.add_argument_group(f"hyperparameters of method {method!r}")
    for f in dataclasses.fields(cls.Config):
        flag = "--" + f.name.replace("_", "-")
        if flag in parser._option_string_actions:  # a general option of the same name wins
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        group.add_argument(
            flag, dest=HP_PREFIX + f.name, type=converter(hints[f.name]),
            default=argparse.SUPPRESS,  # only flags given on the command line override the Config
            metavar=_metavar(hints[f.name]), help=f"(default: {default!r})",
        )


def converter(hint: Any) -> Callable[[str], Any]:
    """A function parsing a command-line string into a value of type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        inner = converter(next(a for a in args if a is not type(None)))
        if type(None) not in args:
            return inner
        return lambda s: None if s.lower() in ("none", "null") else inner(s)
    if origin in (tuple, list):
        item = converter(args[0] if args else str)
        return lambda s: origin(item(x.strip()) for x in s.split(",") if x.strip())
    if origin is Literal:
        def choice(s: str) -> Any:
            for a in args:
                if str(a) == s:
                    return a
            raise argparse.ArgumentTypeError(f"{s!r} is not one of {', '.join(map(str, args))}")
        return choice
    if hint is bool:
        return _bool
    if hint in (int, float, str):
        return hint
    return str


def method_params(args: argparse.Namespace) -> dict[str, Any]:
    """``--param`` pairs (typed by the method's Config), then the generated flags on top."""
    cls = get_method(args.method)
    hints = get_type_hints(cls.Config)
    params: dict[str, Any] = {}
    for pair in args.param:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--param expects KEY=VALUE, got {pair!r}")
        key = key.strip().replace("-", "_")
        try:
            params[key] = converter(hints[key])(value) if key in hints else value
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"--param {key}={value}: expected {_metavar(hints[key])} ({exc})") from None
    for name, value in vars(args).items():
        if name.startswith(HP_PREFIX):
            params[name[len(HP_PREFIX):]] = value
    return params


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
                        options=schema_option(parse_option_args(args.data_option, "--data-option"),
                                              args.schema),
                        cache_dir=args.cache_dir),
        model=ModelConfig(name=args.model, dim=args.dim, dnn_hidden=tuple(args.dnn_hidden),
                          dropout=args.dropout),
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


def _int_tuple(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split(",") if x.strip())


def _bool(s: str) -> bool:
    low = s.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _metavar(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _metavar(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return "{" + ",".join(map(str, args)) + "}"
    if origin in (tuple, list):
        return "A,B,..."
    return getattr(hint, "__name__", "VALUE").upper()
