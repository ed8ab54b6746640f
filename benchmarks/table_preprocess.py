"""``table`` preprocessing speed and memory: rows/s and peak RSS on a generated log + users table,
as CSV and as Parquet, at several sizes.

The log has a 0/1 label, Zipf-skewed user and item ids (1M and 200k values), a string category,
a float price (32 quantile buckets fitted on the training split), a multi-valued tags column
(first value kept) and a timestamp; a users table (100k rows) is joined by ``user_id``. One bad
line per 250k rows (a non-numeric price) is counted and skipped. Each parse runs in a fresh
process with an empty cache; peak RSS should stay about flat as the log grows (streaming: it
rises only with the distinct values counted).

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/table_preprocess.py --rows 2500000 5000000

``--data-dir DIR`` keeps the generated tables for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preprocess import generated, peak_rss_mb, zipf_ids  # noqa: E402

CHUNK = 250_000
USERS = 100_000
SCHEMA = {
    "files": {"log": "log", "users": "users"},
    "join": [{"table": "users", "on": "user_id"}],
    "types": {"user_id": "int", "item_id": "int"},
    "label": {"column": "click"},
    "categorical": ["user_id", "item_id", "category", "gender"],
    "numeric": {"price": {"buckets": "quantile", "n": 32}, "age": {"buckets": "log2"}},
    "multi_valued": {"tags": {"sep": "|", "as": "first"}},
    "split": {"by": "random", "seed": 2021},
}


def log_chunk(rng: np.random.Generator, n: int, start: int) -> pd.DataFrame:
    tags = np.char.add(np.char.mod("t%d|", rng.integers(0, 50, n)), np.char.mod("u%d", rng.integers(0, 9, n)))
    return pd.DataFrame({
        "click": (rng.random(n) < 0.2).astype(np.int64),
        "user_id": zipf_ids(rng, n, 1_000_000), "item_id": zipf_ids(rng, n, 200_000),
        "category": np.char.mod("cat%03d", zipf_ids(rng, n, 1000)),
        "price": np.round(rng.lognormal(3, 1, n), 2).astype(str),
        "tags": tags, "ts": start + np.arange(n),
    })


def generate(folder: Path, rows: int, fmt: str, seed: int = 0) -> int:
    """Write ``folder/log.<fmt>`` and ``folder/users.<fmt>``; returns the bad-line count."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": np.arange(USERS), "age": rng.integers(18, 80, USERS),
                          "gender": rng.choice(["F", "M"], USERS)})
    bad = 0
    suffix = "csv" if fmt == "csv" else "parquet"
    writer = None
    with (folder / f"log.{suffix}").open("w") as fh:
        for start in range(0, rows, CHUNK):
            frame = log_chunk(rng, min(CHUNK, rows - start), start)
            frame.loc[0, "price"] = "n/a"  # one unparseable price per chunk
            bad += 1
            if fmt == "csv":
                frame.to_csv(fh, index=False, header=start == 0)
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(folder / "log.parquet", table.schema)
                writer.write_table(table)
    if writer is not None:
        writer.close()
    if fmt == "csv":
        users.to_csv(folder / "users.csv", index=False)
    else:
        users.to_parquet(folder / "users.parquet")
    return bad


def worker(folder: str, fmt: str, cache: str) -> None:
    from autoembed.config import DataConfig
    from autoembed.data import load_dataset

    suffix = "csv" if fmt == "csv" else "parquet"
    schema = {**SCHEMA, "files": {k: f"{v}.{suffix}" for k, v in SCHEMA["files"].items()}}
    base = peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    data = load_dataset(DataConfig("table", root=folder, cache_dir=cache, options={"schema": schema}))
    print(json.dumps({
        "rows": data.num_rows, "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu, "peak_rss_mb": peak_rss_mb(),
        "import_rss_mb": base, "skipped": data.meta["parse_report"]["skipped"],
        "features": data.num_features,
    }))


def measure(rows: int, fmt: str, data_dir: str | None = None) -> dict:
    """Generate the tables (or reuse them from ``data_dir``), parse them in a fresh process; the
    worker's figures plus ``gen_seconds``, ``file_mb`` and ``load`` (1-minute load average
    after the parse)."""
    with tempfile.TemporaryDirectory(prefix="autoembed-table-bench-") as tmp:
        folder = Path(data_dir or tmp) / f"table-{fmt}-{rows}"
        bad, gen = generated(folder, lambda: generate(folder, rows, fmt))
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(folder), fmt, str(Path(tmp) / "cache")],
            check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        assert r["skipped"] == bad, f"expected {bad} bad lines, the parser skipped {r['skipped']}"
        return {**r, "gen_seconds": gen, "file_mb": size, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_500_000, 5_000_000])
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--data-dir", default=None, help="keep the generated tables here and "
                        "reuse them on later runs (default: a temporary folder, deleted after)")
    parser.add_argument("--worker", nargs=3, metavar=("FOLDER", "FORMAT", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    print(f"{'format':>7} {'rows':>10} {'files MB':>8} {'parse s':>8} {'rows/s':>9} {'cpu s':>6} "
          f"{'rows/cpu-s':>10} {'peak RSS MB':>11} {'after import':>12} {'skipped':>7} {'features':>9} "
          f"{'load 1-min':>10}")
    for fmt in args.formats.split(","):
        for rows in args.rows:
            r = measure(rows, fmt, args.data_dir)
            print(f"{fmt:>7} {r['rows']:>10,} {r['file_mb']:>8.0f} {r['seconds']:>8.1f} "
                  f"{r['rows'] / r['seconds']:>9,.0f} {r['cpu_seconds']:>6.1f} "
                  f"{r['rows'] / r['cpu_seconds']:>10,.0f} {r['peak_rss_mb']:>11.0f} "
                  f"{r['import_rss_mb']:>12.0f} {r['skipped']:>7} {r['features']:>9,} "
                  f"{r['load']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
