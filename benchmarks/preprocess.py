"""Criteo preprocessing speed and memory: rows/s and peak RSS on generated Criteo-format files.

Generates files in the Kaggle ``train.txt`` layout (Criteo-like per-field cardinalities with
Zipf-skewed values, ~25% missing integers, one malformed line per ~100k rows), then parses
each in a fresh process (``load_dataset``, min_count 10, empty cache) and prints rows/s (wall
and per CPU second, which a busy machine does not distort) and peak RSS. Peak RSS should stay about flat as the file grows (streaming); it rises only with the
number of distinct values counted.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/preprocess.py --rows 500000 2000000

``--parse-only`` times the parser alone (``criteo.build``: no raw-file sha256, no cache publish).

``--data-dir DIR`` keeps the generated files for later runs (generating 2M rows takes a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

# Distinct values per categorical field in the full Criteo Kaggle train set (C1..C26).
CRITEO_CARDINALITY = (1460, 583, 10_131_227, 2_202_608, 305, 24, 12_517, 633, 3, 93_145, 5_683,
                      8_351_593, 3_194, 27, 14_992, 5_461_306, 10, 5_652, 2_173, 4, 7_046_547, 18,
                      15, 286_181, 105, 142_572)
CHUNK = 200_000


def zipf_ids(rng: np.random.Generator, n: int, vocab: int, exponent: float = 1.05) -> np.ndarray:
    """Values in [0, vocab) with a Zipf-like skew (inverse CDF of a continuous power law)."""
    u = rng.random(n)
    if vocab < 50:
        return rng.integers(0, vocab, n)
    a = 1.0 - exponent
    ranks = ((vocab**a - 1.0) * u + 1.0) ** (1.0 / a)
    return np.minimum(ranks.astype(np.int64) - 1, vocab - 1)


def generate(path: Path, rows: int, seed: int = 0) -> int:
    """Write ``rows`` Criteo-format lines plus malformed ones; returns the malformed count."""
    rng = np.random.default_rng(seed)
    bad = 0
    with path.open("w") as fh:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            cols = {"label": (rng.random(n) < 0.25).astype(np.int64)}
            for i in range(1, 14):
                v = np.floor(rng.lognormal(1.5 + 0.3 * i, 1.5, n)).astype(np.int64) - (i == 2)
                cols[f"I{i}"] = pd.array(np.where(rng.random(n) < 0.25, -999, v), dtype="Int64")
                cols[f"I{i}"][cols[f"I{i}"] == -999] = pd.NA
            for c, vocab in enumerate(CRITEO_CARDINALITY, 1):
                hashed = (zipf_ids(rng, n, vocab) * 2654435761 + c) % (1 << 32)
                cols[f"C{c}"] = np.char.mod("%08x", hashed)
            pd.DataFrame(cols).to_csv(fh, sep="\t", header=False, index=False)
            fh.write("1\t2\t3\n")  # wrong field count
            fh.write("0\tabc" + "\t1" * 12 + "\tx" * 26 + "\n")  # non-numeric integer field
            bad += 2
    return bad


def generated(folder: Path, make: Callable[[], int]) -> tuple[int, float]:
    """Run ``make`` (writes files into ``folder``, returns their bad-line count) unless an earlier
    run finished it there; returns (bad lines, seconds spent generating)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "bad_lines.txt"
    start = time.perf_counter()
    if not done.exists():
        done.write_text(str(make()))
    return int(done.read_text()), time.perf_counter() - start


def status_mb(key: str) -> float | None:
    """One memory line of /proc/self/status (``VmRSS``, ``VmHWM``, ``RssAnon`` ...) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's peak)."""
    peak = status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(path: str, cache: str, parse_only: bool = False) -> None:
    """Parse ``path`` once (fresh cache) and print the measurements as JSON; ``parse_only``
    times the parser's ``build`` alone (no raw-file sha256, no cache checksums or publish)."""
    from autoembed.config import DataConfig
    from autoembed.data import criteo, load_dataset

    base_rss = peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    if parse_only:
        out = Path(cache) / "parse-only"
        out.mkdir(parents=True)
        meta = criteo.build(Path(path), criteo.CriteoOptions(min_count=10), out)
        rows, report = meta["parse_report"]["rows"], meta["parse_report"]
        features = sum(meta["vocab_sizes"])
    else:
        data = load_dataset(DataConfig(name="criteo", root=path, cache_dir=cache,
                                       options={"min_count": 10}))
        rows, report, features = data.num_rows, data.meta["parse_report"], data.num_features
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "rows": rows, "seconds": seconds, "cpu_seconds": cpu, "skipped": report["skipped"],
        "features": features, "peak_rss_mb": peak_rss_mb(), "import_rss_mb": base_rss,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--data-dir", default=None, help="keep the generated files here and reuse "
                        "them on later runs (default: a temporary folder, deleted after)")
    parser.add_argument("--parse-only", action="store_true", help="time the parser alone "
                        "(criteo.build: no raw-file sha256, no cache checksums or publish)")
    parser.add_argument("--worker", nargs=2, metavar=("FILE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, parse_only=args.parse_only)
        return
    print(f"{'rows':>10} {'file MB':>8} {'gen s':>6} {'parse s':>8} {'rows/s':>9} {'cpu s':>6} "
          f"{'rows/cpu-s':>10} "
          f"{'peak RSS MB':>11} {'after import':>12} {'skipped':>7} {'features':>9} {'ids MB':>7} "
          f"{'load 1-min':>10}")
    for rows in args.rows:
        r = measure(rows, args.data_dir, args.parse_only)
        print(f"{r['rows']:>10,} {r['file_mb']:>8.0f} {r['gen_seconds']:>6.1f} "
              f"{r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} {r['cpu_seconds']:>6.1f} "
              f"{r['rows'] / r['cpu_seconds']:>10,.0f} {r['peak_rss_mb']:>11.0f} "
              f"{r['import_rss_mb']:>12.0f} {r['skipped']:>7} {r['features']:>9,} "
              f"{r['rows'] * 39 * 4 / 2**20:>7.0f} {r['load']:>10.2f}", flush=True)


def measure(rows: int, data_dir: str | None = None, parse_only: bool = False) -> dict:
    """Generate a ``rows``-line file (or reuse it from ``data_dir``), parse it in a fresh
    process; the worker's figures plus ``gen_seconds``, ``file_mb`` and ``load`` (the 1-minute
    load average right after the parse: above ~2.5 on 2 cores, something else was running)."""
    with tempfile.TemporaryDirectory(prefix="autoembed-bench-") as tmp:
        folder = Path(data_dir or tmp) / f"criteo-{rows}"
        path = folder / "train.txt"
        bad, gen = generated(folder, lambda: generate(path, rows))
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(path), str(Path(tmp) / "cache"),
             *(["--parse-only"] if parse_only else [])],
            check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        assert r["skipped"] == bad, f"expected {bad} malformed lines, parser skipped {r['skipped']}"
        return {**r, "gen_seconds": gen, "file_mb": path.stat().st_size / 2**20,
                "load": os.getloadavg()[0]}


if __name__ == "__main__":
    main()
