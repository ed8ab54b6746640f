"""Shared fixtures: the real data folder (skipped where absent) and one local Ray per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("AUTOEMBED_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped when it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (put the public files there to run this test)")
    return path


@pytest.fixture(scope="session")
def ml1m_dir() -> Path:
    return shared_path("ml-1m")


@pytest.fixture(scope="session")
def criteo_sample() -> Path:
    return shared_path("criteo", "criteo_sample.txt")


@pytest.fixture(scope="session")
def avazu_sample() -> Path:
    return shared_path("avazu", "avazu_head200.csv")


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray instance for the whole test session (2 CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
