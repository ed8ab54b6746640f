"""Benchmark scripts: criteo_scale.py's smoke mode runs end to end on CPU (the path
gpu_check.sh takes on CUDA), gpu_check.sh fails clearly where there is no CUDA device, and the
ceiling and PEP-overhead benchmarks run in their smoke modes."""

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


BARE = """
import importlib.abc, importlib.machinery, runpy, sys
MISSING = {"ray", "optuna", "yaml", "tqdm", "xxhash", "matplotlib"}
class Missing(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # what a GPU machine's python lacks (it has torch, numpy, pandas, pyarrow): found with no
    # origin (torch skips those), failing to load like an uninstalled package
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (hidden by the test)")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, Missing())
sys.path.insert(0, "benchmarks")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_gpu_check_scripts_run_with_only_torch_numpy_pandas_pyarrow(tmp_path: Path) -> None:
    """gpu_check.sh's scripts import nothing beyond torch, numpy, pandas and pyarrow (and the
    project on PYTHONPATH): no Ray, Optuna, yaml, tqdm, xxhash or matplotlib."""
    env = {**ENV, "PYTHONPATH": str(ROOT), "AUTOEMBED_PEP_KERNEL": "0"}  # imports, not kernels
    figures = tmp_path / "gpu_check.json"
    for script in (["benchmarks/ceiling.py", "--smoke-test", "--models", "fm"],
                   ["benchmarks/criteo_scale.py", "--smoke-test", "--pep-modes", "dense",
                    "--cache-dir", str(tmp_path)]):
        cmd = [sys.executable, "-c", BARE, *script, "--threads", "1", "--json", str(figures)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert set(json.loads(figures.read_text())) == {"ceiling_ml1m", "criteo_scale"}


def test_pep_overhead_smoke_test_times_every_variant() -> None:
    """Every granularity with every option (kernel off, the old paths, sparse_lazy, the floor
    ablation) takes steps and prints a positive time and its ratio to the uniform step."""
    cmd = [sys.executable, "benchmarks/pep_overhead.py", "--smoke-test"]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {}
    for line in done.stdout.splitlines():
        parts = line.rsplit(maxsplit=3)
        if len(parts) == 4 and parts[3].endswith("x"):
            rows[parts[0]] = (float(parts[1]), float(parts[3][:-1]))
    expected = {"uniform", "uniform/again", "uniform+spare table", "pep/feature_dim/no s Adam"}
    for gran in ("global", "dimension", "feature", "feature_dim", "field", "field_dim"):
        expected |= {f"pep/{gran}{suffix}" for suffix in ("", "/unfused", "/rows path",
                                                          "/sparse_lazy")}
    assert set(rows) == expected, done.stdout
    assert rows["uniform"][1] == 1.0
    assert all(ms > 0 and ratio > 0 for ms, ratio in rows.values())
