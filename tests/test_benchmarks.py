"""Benchmark scripts: criteo_scale.py's smoke mode runs end to end on CPU (the path
gpu_check.sh takes on CUDA), and gpu_check.sh fails clearly where there is no CUDA device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def test_criteo_scale_smoke_test_on_cpu(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    figures.write_text('{"other": 1}')
    cmd = [sys.executable, "benchmarks/criteo_scale.py", "--smoke-test", "--device", "cpu",
           "--threads", "1", "--cache-dir", str(tmp_path), "--pep-modes", "sparse_lazy,dense",
           "--json", str(figures)]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for expected in ("(a) data: 20,000 rows x 39 fields", "generated in", "RSS after loading",
                     "uniform: 3 steps x 1024", "pep/sparse_lazy: 3 steps x 1024",
                     "pep/dense: 3 steps x 1024", "PEP (sparse_lazy) / uniform step time",
                     "PEP (dense) / uniform step time", "(d) peak RSS", "(e) full Criteo",
                     "measured now on 2,000 rows", "one epoch, pep/dense",
                     "training state, uniform"):
        assert expected in done.stdout, done.stdout
    written = json.loads(figures.read_text())
    assert written["other"] == 1  # merged into the file, not overwritten
    scale = written["criteo_scale"]
    assert [r["label"] for r in scale["runs"]] == ["uniform", "pep/sparse_lazy", "pep/dense"]
    assert all(r["samples_per_sec"] > 0 and r["steps"] == 3 for r in scale["runs"])
    assert set(scale["step_ratio"]) == {"pep/sparse_lazy", "pep/dense"}
    assert scale["full_criteo"]["epoch_minutes"]["uniform"] > 0


def test_ceiling_smoke_test_on_cpu(tmp_path: Path) -> None:
    """The ceiling runs with the project on PYTHONPATH only, and writes every figure."""
    figures = tmp_path / "ceiling.json"
    cmd = [sys.executable, "benchmarks/ceiling.py", "--smoke-test", "--threads", "1",
           "--json", str(figures)]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ceiling = json.loads(figures.read_text())["ceiling_ml1m"]
    rows = {(r["model"], r["precision"]): r for r in ceiling["models"]}
    assert set(rows) == {(m, p) for m in ("fm", "deepfm", "autoint") for p in ("fp32", "bf16")}
    for row in rows.values():
        assert row["step_ms"] > 0 and row["ceiling_ms"] > 0
        assert row["fraction"] == pytest.approx(row["ceiling_ms"] / row["step_ms"])
        best = min(rows[row["model"], p]["ceiling_ms"] for p in ("fp32", "bf16"))
        assert row["fraction_of_best"] == pytest.approx(best / row["step_ms"])
    assert set(ceiling["isa"]) == {"capability", "avx512_bf16", "amx_bf16"}
    assert rows["fm", "fp32"]["dense_gflop"] == 0  # FM has no dense layers
    assert rows["deepfm", "fp32"]["dense_gflop"] > 0
    assert {g["precision"] for g in ceiling["gemm"]} == {"fp32", "bf16"}
    assert all(g["tflop_s"] > 0 for g in ceiling["gemm"])
    assert ceiling["memory"][0]["gather_gb_s"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_gpu_check_fails_clearly_without_cuda() -> None:
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT,
                          env={**ENV, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "gpu_check: no CUDA device" in done.stderr
