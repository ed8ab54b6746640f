"""Wall time of the quickstart sweep (search_spaces/quickstart.yaml) on the two-node loopback
cluster of the tests against the same two cores on one node: what Ray's placement over nodes and
object storage cost.

Modes (one per run, each under the bench lock):
- ``two-node``: head + worker, one CPU each (tests/cluster.py), storage on the S3 server (moto,
  loopback), submitted with ``ray job submit``;
- ``one-node``: the head alone with both CPUs, the same S3 storage and submission;
- ``local``: ``autoembed sweep`` on an embedded Ray (this machine's CPUs), a local folder: the
  quickstart as scripts/quickstart.sh runs it.

The time is the sweep job's, from submission to its end (the cluster is up and its working dir
unpacked on every node before the clock starts).
Run: flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/cluster_quickstart.py two-node
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SPEC = "search_spaces/quickstart.yaml"


def run_cluster(two_nodes: bool) -> float:
    from cluster import S3Server, TwoNodeCluster

    s3 = S3Server().start()
    nodes = TwoNodeCluster(s3.env)
    try:
        s3.create_bucket()
        nodes.start(worker=two_nodes)
        if not two_nodes:
            nodes.warm(nodes.HEAD_RESOURCE)
        start = time.perf_counter()
        out = nodes.submit(["sweep", SPEC, "--address", "auto", "--quiet", "--storage-path",
                            "s3://autoembed/sweeps", "--name", "quickstart"], timeout=1800)
        wall = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit((out.stdout + out.stderr)[-4000:])
        rows = [k for k in s3.keys("sweeps/quickstart/") if k.endswith("results.csv")]
        assert rows, "no results table in the bucket"
        return wall
    finally:
        nodes.stop()
        s3.stop()


def run_local() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autoembed", "sweep", SPEC, "--quiet",
                        "--storage-path", tmp, "--name", "quickstart"], cwd=ROOT, check=True,
                       env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["two-node", "one-node", "local"])
    mode = parser.parse_args().mode
    wall = run_local() if mode == "local" else run_cluster(mode == "two-node")
    print(f"quickstart {mode}: {wall:.1f} s wall ({os.cpu_count()} cores on this machine)")


if __name__ == "__main__":
    main()
