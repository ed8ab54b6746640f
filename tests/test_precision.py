"""Mixed precision: bf16 autocasts the dense layers only; tables, logits, thresholds and
optimizer states stay float32; the option travels through configs, CLI and search spaces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from test_trainer import make_trainer, toy_data

from autoembed.cli import main
from autoembed.config import TrainConfig
from autoembed.models.precision import (
    DEFAULT_PRECISION,
    Logit,
    cpu_has_amx,
    device_kind,
    resolve_precision,
)
from autoembed.tune.plan import trial_configs
from autoembed.tune.spaces import SpecError, load_spec


def output_dtypes(model: torch.nn.Module) -> dict[str, set[torch.dtype]]:
    """Records the dtype of every Linear's and the embedding's output, by module kind."""
    seen: dict[str, set[torch.dtype]] = {"linear": set(), "logit": set(), "embedding": set(),
                                         "attention": set()}

    def hook(kind: str):
        return lambda module, inputs, out: seen[kind].add(out.dtype)

    for name, module in model.named_modules():
        if isinstance(module, Logit):
            module.register_forward_hook(hook("logit"))
        elif isinstance(module, torch.nn.Linear):  # AutoInt's attention projections apart
            module.register_forward_hook(hook("attention" if name.startswith("attention.")
                                              else "linear"))
    model.embedding.register_forward_hook(hook("embedding"))
    return seen


@pytest.mark.parametrize("model", ["deepfm", "autoint"])
def test_bf16_runs_the_dense_layers_in_bf16_and_keeps_the_rest_fp32(model: str) -> None:
    data = toy_data()
    trainer = make_trainer(data, model, precision="bf16", epochs=2)
    seen = output_dtypes(trainer.model)
    result = trainer.fit()
    assert trainer.precision == "bf16"
    assert seen["linear"] == {torch.bfloat16}  # hidden DNN layers
    assert seen["attention"] == ({torch.bfloat16} if model == "autoint" else set())
    assert seen["embedding"] == {torch.float32} and seen["logit"] == {torch.float32}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    states = [v for opt in trainer.optimizers for s in opt.state.values() for v in s.values()
              if isinstance(v, torch.Tensor) and v.numel() > 1]
    assert states and all(v.dtype == torch.float32 for v in states)
    full = make_trainer(data, model, precision="fp32", epochs=2)
    seen_full = output_dtypes(full.model)
    reference = full.fit()
    assert seen_full["linear"] == {torch.float32}
    assert result.test_auc > 0.6 and abs(result.test_auc - reference.test_auc) < 0.02


def test_auto_is_the_device_default_and_bf16_needs_a_capable_device() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == DEFAULT_PRECISION[device_kind(cpu)]
    assert device_kind(cpu) == ("cpu+amx" if cpu_has_amx() else "cpu")
    assert DEFAULT_PRECISION["cpu+amx"] == "bf16" and DEFAULT_PRECISION["cpu"] == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="bf16 autocast is supported on cpu and cuda, not meta"):
        resolve_precision("bf16", torch.device("meta"))
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        TrainConfig(precision="fp16")  # type: ignore[arg-type]


def test_cli_precision_reaches_the_trainer_and_the_row(tmp_path: Path) -> None:
    out = tmp_path / "rows.csv"
    code = main([
        "train", "--dataset", "synthetic", "--model", "deepfm", "--dim", "8", "--dnn-hidden", "16",
        "--epochs", "1", "--batch-size", "1024", "--threads", "1", "--device", "cpu",
        "--precision", "bf16", "--out", str(out), "--data-option", "scale=tiny",
        "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    assert pd.read_csv(out).loc[0, "info_precision"] == "bf16"


def test_search_spaces_take_precision_as_a_typed_choice(tmp_path: Path) -> None:
    raw = {
        "name": "t",
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "deepfm", "dim": 8}],
        "methods": {"uniform": {"space": {"train.precision": ["fp32", "bf16"]}}},
        "train": {"epochs": 1, "precision": "bf16"},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    assert spec.train.precision == "bf16"
    trials = trial_configs(spec)
    assert sorted(t.config.train.precision
                  for t in trials) == ["bf16", "fp32"]
    raw["train"]["precision"] = "fp16"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=r"train.precision: got 'fp16', expected one of 'auto', 'fp32', 'bf16'"):
        load_spec(path)
    raw["train"]["precision"] = "fp32"
    raw["methods"]["uniform"]["space"]["train.precision"] = ["half"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=r"got 'half', expected one of 'auto', 'fp32', 'bf16'"):
        load_spec(path)
