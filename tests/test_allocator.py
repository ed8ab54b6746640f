"""glibc keeps a training step's freed buffers (``keep_freed_memory``): after warm-up a step
page-faults a small fraction of what it does with the allocator's defaults.

The table (600k x 16, 38 MB) is larger than glibc's dynamic mmap threshold can grow (32 MiB),
so with the defaults its gradient and Adam's temporaries are mmapped and faulted in every step
(~38,000 faults, steady). With a small table the default faults came and went with glibc's
dynamic threshold, and one-off heap growth in the tuned run could reach 0.1 of them (CI,
2026-12-05: 97 against 833 per step)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = """
import resource, torch
from autoembed.training.allocator import keep_freed_memory
print(keep_freed_memory())
torch.manual_seed(0); torch.set_num_threads(1)
table = torch.nn.Embedding(600_000, 16)
opt = torch.optim.Adam(table.parameters(), lr=1e-3, weight_decay=1e-6)
ids = torch.randint(0, 600_000, (2048, 20))
def step():
    opt.zero_grad(); table(ids).pow(2).mean().backward(); opt.step()
for _ in range(10): step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30): step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 30)
"""


def faults_per_step(tuning: str) -> tuple[bool, float]:
    env = {**os.environ, "AUTOEMBED_MALLOC_TUNING": tuning, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_instead_of_faulted_in_every_step() -> None:
    tuned, tuned_faults = faults_per_step("1")
    off, default_faults = faults_per_step("0")
    assert tuned and not off
    assert default_faults > 20_000  # the dense table gradient and Adam's temporaries, every step
    assert tuned_faults < 0.1 * default_faults, (tuned_faults, default_faults)
