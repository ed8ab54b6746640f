"""Overhead of the Tune driver: the same 8 small trials run in-process one after another vs
through ``autoembed.tune.driver.run_sweep`` (2 concurrent trials of 1 CPU, torch threads 1).

Prints both wall times and driver/sequential (target <= 1.25; concurrency should win).
The driver's time includes starting the embedded Ray and loading the data, as a user pays it.
Run under the bench lock:  flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/tune_overhead.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def make_spec(scale: str, epochs: int, storage: str):
    from autoembed.tune.spaces import parse_spec

    return parse_spec({
        "name": "overhead",
        "datasets": [{"name": "synthetic", "options": {"scale": scale}}],
        "models": [{"name": "fm", "dim": 16}],
        "methods": {
            "uniform": {"space": {"model.dim": [2, 4, 8, 16]}},
            "mde": {"space": {"alpha": [0.1, 0.2, 0.3, 0.4]}},
        },
        "train": {"epochs": epochs, "batch_size": 4096, "patience": epochs, "threads": 1},
        "resources": {"cpu": 1},
        "max_concurrent": 2,
        "storage_path": storage,
    })


def sequential(spec) -> tuple[float, int]:
    import torch

    from autoembed.experiment import run_experiment
    from autoembed.tune.driver import load_datasets
    from autoembed.tune.plan import trial_configs
    from autoembed.tune.trainable import configure

    start = time.perf_counter()
    torch.set_num_threads(1)
    datasets = load_datasets(spec)
    rows = 0
    for t in trial_configs(spec):
        rows += len(run_experiment(configure(t.config, 1, "cpu"), datasets[t.dataset]))
    return time.perf_counter() - start, rows


def through_driver(spec) -> tuple[float, float, int]:
    """(wall time including Ray start, the sweep alone, rows)."""
    import ray

    from autoembed.tune.driver import run_sweep

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        out = run_sweep(spec, name="overhead", verbose=False)
        sweep = time.perf_counter() - started
    finally:
        ray.shutdown()
    return time.perf_counter() - start, sweep, len(out.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="tiny data, 1 epoch")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    scale, epochs = ("tiny", 1) if args.smoke_test else ("small", args.epochs)
    with tempfile.TemporaryDirectory() as storage:
        spec = make_spec(scale, epochs, storage)
        from autoembed.tune.driver import load_datasets

        load_datasets(spec)  # warm the data cache for both sides
        seq, seq_rows = sequential(spec)
        drv, sweep, drv_rows = through_driver(spec)
    assert seq_rows == drv_rows == 8, (seq_rows, drv_rows)
    print(f"8 trials (synthetic {scale}, FM, {epochs} epoch(s), uniform x4 + mde x4)")
    print(f"sequential in-process (1 thread):         {seq:7.1f} s")
    print(f"Tune driver (2 concurrent x 1 CPU):       {drv:7.1f} s  (of which the sweep {sweep:.1f} s,"
          f" starting Ray {drv - sweep:.1f} s)")
    print(f"driver / sequential:                      {drv / seq:7.2f}  (target <= 1.25)")
    print(f"driver / sequential, Ray already up:      {sweep / seq:7.2f}")


if __name__ == "__main__":
    main()
