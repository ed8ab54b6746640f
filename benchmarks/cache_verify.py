"""Cost of checking a cache entry's checksums on open: a synthetic dataset is built once, then
opened in fresh processes (checksums read once per process), and again in the same process.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/cache_verify.py --rows 5000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def open_once(cache: str, rows: int) -> dict:
    """Open the entry twice in this process: the first open verifies, the second trusts."""
    from autoembed.config import DataConfig
    from autoembed.data import load_dataset

    cfg = DataConfig(name="synthetic", cache_dir=cache,
                     options={"scale": "criteo", "n_rows": rows})
    t0 = time.perf_counter()
    data = load_dataset(cfg)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_dataset(cfg)
    second = time.perf_counter() - t0
    size = sum((Path(data.meta["cache_path"]) / f"{k}.npy").stat().st_size
               for k in data.meta["arrays"])
    return {"hit": data.meta["cache_hit"], "first_s": first, "second_s": second,
            "mb": size / 2**20, "rows": data.num_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--cache", default="/tmp/autoembed-bench-cache")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(open_once(args.cache, args.rows)))
        return
    cmd = [sys.executable, __file__, "--worker", "--rows", str(args.rows), "--cache", args.cache]
    print(f"{'process':>8} {'cache':>6} {'arrays MB':>9} {'1st open s':>10} {'2nd open s':>10}")
    for i in range(3):  # the first may build the entry
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                       .stdout.strip().splitlines()[-1])
        print(f"{i:>8} {'hit' if r['hit'] else 'built':>6} {r['mb']:>9.0f} {r['first_s']:>10.2f} "
              f"{r['second_s']:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
