"""PEP on MovieLens-1M with FM, D=32: one search per granularity, every saved sparsity level
retrained (lottery-ticket rewind), beside uniform D=32 trained with the same settings.

Prints one table: granularity x target -> params, fraction of the dense table, storage bytes,
val/test AUC, best/run epochs; the uniform line first. Search settings per granularity are
``PEPConfig.recommended("ml-1m", granularity)`` (see its docstring for the reasoning);
``--param key=value`` overrides them for every granularity.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/pep_ml1m.py
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from typing import Any

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.data import load_dataset
from autoembed.embeddings.pep import PEPConfig
from autoembed.experiment import run_experiment
from autoembed.results import ResultRow

GRANULARITIES = ("global", "dimension", "feature", "feature_dim")
HEADER = (f"{'method':8s} {'granularity':12s} {'target':>6s} {'params':>8s} {'fraction':>8s} "
          f"{'bytes':>9s} {'val AUC':>8s} {'test AUC':>8s} {'epochs':>6s} {'search step':>11s}")


def parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(float(t) for t in text.split(","))
    return None if text == "None" else text


def line(row: ResultRow, granularity: str) -> str:
    target = row.info.get("target")
    return (f"{row.method:8s} {granularity:12s} {'-' if target is None else f'{target:g}':>6s} "
            f"{row.params:8d} {row.params / row.dense_params:8.3f} {row.storage_bytes:9d} "
            f"{row.val_auc:8.4f} {row.test_auc:8.4f} {row.best_epoch:>2d}/{row.epochs:<3d} "
            f"{row.info.get('step', '-'):>11}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30,
                        help="max epochs of uniform and of every retrain (early stopping on val)")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--search-epochs", type=int, default=None,
                        help="cap on the search phase (default: the recommended setting's)")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=1e-3, help="search-phase learning rate")
    parser.add_argument("--retrain-lr", type=float, default=None,
                        help="learning rate of uniform and of every retrain (default: --lr)")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="coupled L2 of uniform and of every retrain's non-embedding params")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--granularities", default=",".join(GRANULARITIES))
    parser.add_argument("--targets", default="0.5,0.2,0.1,0.05")
    parser.add_argument("--no-uniform", action="store_true")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a PEPConfig field for every granularity")
    parser.add_argument("--max-steps", type=int, default=None, help="smoke runs only")
    parser.add_argument("--csv", help="also write the rows (tidy form) here")
    args = parser.parse_args(argv)

    overrides = dict(kv.split("=", 1) for kv in args.param)
    overrides = {k: parse_value(v) for k, v in overrides.items()}
    data = load_dataset(DataConfig(name="ml-1m"))
    train = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                        lr=args.retrain_lr or args.lr, weight_decay=args.weight_decay,
                        seed=args.seed, threads=args.threads, device=args.device,
                        max_steps=args.max_steps)
    print(f"# ml-1m FM D={args.dim}: {data.num_rows} rows, {data.num_features} features, dense "
          f"table {data.num_features * args.dim} params; batch {args.batch_size}, lr {args.lr}, "
          f"<= {args.epochs} epochs, patience {args.patience}, seed {args.seed}", flush=True)
    runs: list[tuple[str, str, dict[str, Any], TrainConfig | None]] = []
    if not args.no_uniform:
        runs.append(("uniform", "-", {}, None))
    targets = tuple(float(t) for t in args.targets.split(","))
    for gran in filter(None, args.granularities.split(",")):
        cfg = replace(PEPConfig.recommended("ml-1m", gran), targets=targets, **overrides)
        search_epochs = args.search_epochs or PEPConfig.recommended_search_epochs("ml-1m")
        search = replace(train, epochs=search_epochs, lr=args.lr, weight_decay=0.0)
        params = {k: v for k, v in asdict(cfg).items() if v != getattr(PEPConfig(), k)}
        print(f"# pep/{gran}: {params}, search <= {search_epochs} epochs", flush=True)
        runs.append(("pep", gran, asdict(cfg), search))
    print(HEADER, flush=True)
    rows: list[ResultRow] = []
    for method, gran, params, search in runs:
        exp = ExperimentConfig(data=DataConfig(name="ml-1m"),
                               model=ModelConfig(name="fm", dim=args.dim), method=method,
                               method_params=params, train=train, search_train=search)
        start = time.perf_counter()
        for row in run_experiment(exp, data):
            rows.append(row)
            print(line(row, gran), f"{time.perf_counter() - start:5.0f}s", flush=True)
    if args.csv:
        import pandas as pd

        pd.DataFrame([r.to_flat() for r in rows]).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
