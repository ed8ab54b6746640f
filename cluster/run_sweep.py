"""Cluster-launcher entry point: ``ray submit cluster/cluster.yaml cluster/run_sweep.py
search_spaces/X.yaml [sweep options]`` runs the same sweep as ``autoembed sweep`` on the head,
connected to the running cluster (``--address auto``)."""

from __future__ import annotations

import sys

from autoembed.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--address" not in args:
        args += ["--address", "auto"]
    raise SystemExit(main(["sweep", *args]))
