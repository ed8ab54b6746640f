"""Checkpoints load with weights_only=True and an allowlist: a crafted file runs no code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from test_trainer import toy_data

from autoembed.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from autoembed.data.cache import build_entry
from autoembed.experiment import FileCheckpointer, run_experiment
from autoembed.training.state_io import load_state


class RunsShell:
    """Unpickling this would run a shell command (what a hostile checkpoint does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CallsProjectFunction:
    """Names a function of the project itself: a trusted module, but not a class."""

    def __reduce__(self):
        return (build_entry, ("/tmp/nowhere", "x"))


def test_crafted_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "state.pt"
    torch.save({"version": 1, "rows": [], "trainer": RunsShell(marker)}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load .*'(posix|os)\.system'"):
        FileCheckpointer(path).load()
    assert not marker.exists()
    torch.save({"embedding": CallsProjectFunction()}, path)
    with pytest.raises(pickle.UnpicklingError, match="autoembed.data.cache.build_entry"):
        load_state(path)


@pytest.mark.parametrize("method", ["pep", "mde"])
def test_real_run_state_loads_weights_only(tmp_path, method):
    cfg = ExperimentConfig(
        data=DataConfig(name="toy"), model=ModelConfig(name="fm", dim=8), method=method,
        train=TrainConfig(epochs=1, batch_size=512, threads=1),
        search_train=TrainConfig(epochs=1, batch_size=512, threads=1),
    )
    checkpointer = FileCheckpointer(tmp_path / "state.pt")
    try:
        run_experiment(cfg, toy_data(), checkpointer=checkpointer)
    except ValueError as exc:  # a one-epoch PEP search may propose no point: its state is saved
        assert "without proposing any retrain point" in str(exc)
    state = checkpointer.load()
    assert state["version"] == 1 and isinstance(state["embedding"], torch.nn.Module)
    assert isinstance(state["trainer"]["model"], dict)
