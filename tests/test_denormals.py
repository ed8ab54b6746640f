"""Training flushes denormal floats to zero in every torch thread (Adam drives L2-only entries
there, and x86 is ~25x slower on them); ``AUTOEMBED_FLUSH_DENORMAL=0`` leaves the CPU alone.
The mode is per thread and torch's worker threads copy it when created, so ``run_experiment``
sets it before its first parallel op: a worker created earlier would not have it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys, torch
from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.experiment import run_experiment
# a table large enough (320k entries) that building it runs torch's first parallel op
options = {"scale": "tiny", "n_rows": 4000, "vocab_sizes": [20000, 50]}
run_experiment(ExperimentConfig(
    data=DataConfig(name="synthetic", options=options, cache_dir=sys.argv[1]),
    model=ModelConfig(name="fm"), method="pep", method_params={"targets": [0.5]},
    train=TrainConfig(epochs=1, threads=2)))
tiny = torch.full((1 << 22,), 1e-39)  # float32 denormals, split between 2 threads
print(int(tiny.mul(1.0).count_nonzero()), float(torch.full((4,), 1e-30).mul(1.0)[0]))
"""


def _denormals_left(env: str, tmp_path: Path) -> tuple[int, float]:
    """Denormals left by a 2-thread multiply after a one-epoch experiment, and a tiny normal."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                         text=True, check=True, env={**os.environ, "AUTOEMBED_FLUSH_DENORMAL": env})
    left, normal = out.stdout.split()[-2:]
    return int(left), float(normal)


def test_an_experiment_flushes_denormals_in_every_thread(tmp_path: Path) -> None:
    assert _denormals_left("1", tmp_path) == (0, pytest.approx(1e-30, rel=1e-6))


def test_switched_off_the_denormals_stay(tmp_path: Path) -> None:
    assert _denormals_left("0", tmp_path)[0] == 1 << 22
