"""Training flushes denormal floats to zero (Adam drives L2-only entries there, and x86 is ~25x
slower on them); ``AUTOEMBED_FLUSH_DENORMAL=0`` leaves the CPU's mode alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import torch
from autoembed.training.denormals import flush_denormals
tiny = torch.full((4,), 1e-39)  # a float32 denormal
print(flush_denormals(), float((tiny * 1.0)[0]), float(torch.full((4,), 1e-30).mul(1.0)[0]))
"""


@pytest.mark.parametrize(("env", "expected"), [("1", "True 0.0 1e-30"), ("0", "False 1e-39 1e-30")])
def test_denormals_are_flushed_unless_switched_off(env: str, expected: str) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                         env={**os.environ, "AUTOEMBED_FLUSH_DENORMAL": env}).stdout.split()
    flushed, denormal, normal = expected.split()
    assert out[0] == flushed
    assert float(out[1]) == pytest.approx(float(denormal), rel=1e-3, abs=0)
    assert float(out[2]) == pytest.approx(float(normal), rel=1e-6)
