"""The baselines beside uniform D=32 on MovieLens-1M with FM: test AUC and embedding parameters.

Runs, one after the other with the project's experiment runner: uniform, MDE at three alphas,
AutoEmb and AutoDim over candidates {2, 4, 8, 16, 32} (search, then retrain of the argmax sizes),
QR hashing at two compression ratios. Prints one table (and writes it as CSV with ``--csv``).

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/baselines_ml1m.py
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import Any

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.data import load_dataset
from autoembed.experiment import run_experiment
from autoembed.results import ResultRow

CANDIDATES = [2, 4, 8, 16, 32]
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("uniform", {}),
    ("mde", {"alpha": 0.1}),
    ("mde", {"alpha": 0.2}),
    ("mde", {"alpha": 0.3}),
    ("autoemb", {"candidates": CANDIDATES}),
    ("autodim", {"candidates": CANDIDATES}),
    ("qr_hash", {"compression": 2}),
    ("qr_hash", {"compression": 10}),
]


def short(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if k != "candidates") or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10, help="max epochs (early stopping on val)")
    parser.add_argument("--search-epochs", type=int, default=5, help="AutoEmb/AutoDim search")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--arch-lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=None, help="smoke runs only")
    parser.add_argument("--only", nargs="*", help="method names to run (default: all)")
    parser.add_argument("--csv", help="also write the rows (tidy form) here")
    args = parser.parse_args(argv)

    data = load_dataset(DataConfig(name="ml-1m"))
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, arch_lr=args.arch_lr,
        seed=args.seed, threads=args.threads, device=args.device, max_steps=args.max_steps,
    )
    print(f"# ml-1m, FM D={args.dim}: {data.num_rows} rows, {data.num_features} features; "
          f"uniform table = {data.num_features * args.dim} params; batch {args.batch_size}, "
          f"lr {args.lr}, <= {args.epochs} epochs (search {args.search_epochs}), "
          f"seed {args.seed}, {args.device}", flush=True)
    print(f"{'method':8s} {'hparams':16s} {'phase':8s} {'params':>9s} {'x uniform':>9s} "
          f"{'test AUC':>8s} {'val AUC':>8s} {'epochs':>6s} {'sec':>6s}  sizes", flush=True)
    rows: list[ResultRow] = []
    for method, params in RUNS:
        if args.only and method not in args.only:
            continue
        cfg = ExperimentConfig(
            data=DataConfig(name="ml-1m"), model=ModelConfig(name="fm", dim=args.dim),
            method=method, method_params=params, train=train,
            search_train=replace(train, epochs=args.search_epochs),
        )
        start = time.perf_counter()
        for row in run_experiment(cfg, data):
            rows.append(row)
            sizes = row.info.get("size_histogram", "")
            print(f"{method:8s} {short(params):16s} {row.phase:8s} {row.params:9d} "
                  f"{row.params / row.dense_params:9.3f} {row.test_auc:8.4f} {row.val_auc:8.4f} "
                  f"{row.best_epoch:>2d}/{row.epochs:<3d} {time.perf_counter() - start:6.0f}  "
                  f"{sizes}", flush=True)
    if args.csv:
        import pandas as pd

        pd.DataFrame([r.to_flat() for r in rows]).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
