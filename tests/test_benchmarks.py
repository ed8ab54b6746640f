"""Benchmark scripts: criteo_scale.py's smoke mode runs end to end on CPU (the path
gpu_check.sh takes on CUDA), and gpu_check.sh fails clearly where there is no CUDA device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def test_criteo_scale_smoke_test_on_cpu(tmp_path: Path) -> None:
    cmd = [sys.executable, "benchmarks/criteo_scale.py", "--smoke-test", "--device", "cpu",
           "--threads", "1", "--cache-dir", str(tmp_path), "--pep-modes", "sparse_lazy,dense"]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for expected in ("(a) data: 20,000 rows x 39 fields", "generated in", "RSS after loading",
                     "uniform: 3 steps x 1024", "pep/sparse_lazy: 3 steps x 1024",
                     "pep/dense: 3 steps x 1024", "PEP (sparse_lazy) / uniform step time",
                     "PEP (dense) / uniform step time", "(d) peak RSS", "(e) full Criteo",
                     "measured now on 2,000 rows", "one epoch, pep/dense",
                     "training state, uniform"):
        assert expected in done.stdout, done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_gpu_check_fails_clearly_without_cuda() -> None:
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "gpu_check: no CUDA device" in done.stderr
