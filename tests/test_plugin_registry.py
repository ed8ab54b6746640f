"""Models and datasets as plugins: built-ins through entry points, typed configs behind the CLI
flags and the search-space checks, broken plugins listed, old saved specs still loading."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import get_args

import pytest
import yaml

from autoembed.cli import main
from autoembed.config import ModelConfig
from autoembed.data.registry import discover_datasets, get_dataset
from autoembed.data.synthetic import PRESETS, Scale
from autoembed.models import build_model, discover_models, model_config
from autoembed.tune.driver import spec_to_raw
from autoembed.tune.plan import trial_configs
from autoembed.tune.spaces import SpecError, load_spec, parse_spec

MODELS = ("autoint", "deepfm", "fm", "lr")
DATASETS = ("avazu", "criteo", "ml-1m", "synthetic", "table")


def test_built_ins_register_through_entry_points() -> None:
    models, datasets = discover_models(), discover_datasets()
    for name in MODELS:
        assert models[name].cls is not None and models[name].cls.name == name, models[name].error
        assert models[name].target.startswith("autoembed.models.")
    for name in DATASETS:
        assert datasets[name].cls is not None and datasets[name].cls.name == name, datasets[name].error
        assert datasets[name].target.startswith("autoembed.data.builtin:")
    deepfm = {p.name: p for p in models["deepfm"].params}
    assert deepfm["dnn_hidden"].default == (400, 400, 400) and deepfm["dropout"].type == "float"
    assert "attention_dim" not in deepfm  # each model its own config, none shared and flat
    hour = {p.name: p for p in datasets["avazu"].params}["hour"]
    assert hour.choices == ("raw", "hour_of_day")
    assert set(get_args(Scale)) == set(PRESETS)
    assert get_dataset("synthetic").generated and not get_dataset("criteo").generated


def test_model_parameters_are_typed_and_checked() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['dropout'\] in model 'fm'; allowed parameters are: \(none\)"):
        model_config("fm", {"dropout": 0.1})
    with pytest.raises(ValueError, match=r"in model 'deepfm'; allowed parameters are: dnn_hidden, dropout, batch_norm"):
        model_config("deepfm", {"dropuot": 0.1})
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        model_config("deepfm", {"dropout": 1.5})
    with pytest.raises(ValueError, match="model dim must be >= 1"):
        ModelConfig("fm", 0)
    assert model_config("autoint", {"attention_dim": 8}).attention_dim == 8


def write_broken(root: Path, group: str, name: str) -> None:
    """A fake installed distribution whose entry point in ``group`` fails to import."""
    dist = root / f"broken_{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: broken-{name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = broken_{name}_mod:Thing\n")
    (root / f"broken_{name}_mod.py").write_text(
        textwrap.dedent('raise RuntimeError("broken plugin: missing dependency xyz")\n'))


@pytest.mark.parametrize("command,group,known", [
    ("models", "autoembed.models", MODELS), ("datasets", "autoembed.datasets", DATASETS),
])
def test_list_shows_parameters_and_a_broken_plugin_hides_nothing(
    command: str, group: str, known: tuple[str, ...], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([command, "list"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{n}  (" in "\n" + out for n in known)
    if command == "models":
        assert "    attention_dim: int = 32" in out and "AutoInt+" in out
    else:
        assert "    hour: one of raw, hour_of_day = 'raw'" in out and "(autoembed.data.builtin:Synthetic; generated)" in out
    write_broken(tmp_path, group, "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main([command, "list"]) == 1  # listed, flagged, and the exit code says so
    out = capsys.readouterr().out
    assert "broken  [FAILED TO LOAD: broken_broken_mod:Thing]" in out and "missing dependency xyz" in out
    assert all(f"\n{n}  (" in "\n" + out for n in known)


def base() -> dict:
    return {
        "name": "t",
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "deepfm", "dim": 8, "dnn_hidden": [16, 16]}],
        "methods": {"uniform": {"space": {"model.dropout": [0.0, 0.2]}}},
    }


def test_spec_model_parameters_reach_the_model(tmp_path: Path) -> None:
    spec = parse_spec(base())
    assert spec.models == [ModelConfig("deepfm", 8, {"dnn_hidden": (16, 16)})]
    configs = [t.config for t in trial_configs(spec)]
    assert [c.model.params for c in configs] == [
        {"dnn_hidden": (16, 16), "dropout": 0.0}, {"dnn_hidden": (16, 16), "dropout": 0.2}]
    again = parse_spec(spec_to_raw(spec))  # saved with a sweep, loaded back on resume
    assert again.models == spec.models
    import numpy as np

    from autoembed.embeddings.base import EmbeddingSpec
    from autoembed.embeddings.uniform import UniformEmbedding

    emb_spec = EmbeddingSpec((5, 7), 8, np.ones(12, dtype=np.int64))
    model = build_model(configs[1].model, UniformEmbedding(emb_spec), emb_spec)
    assert [m.out_features for m in model.dnn if hasattr(m, "out_features")] == [16, 16, 1]


@pytest.mark.parametrize("patch,message", [
    ({"models": [{"name": "fm", "dropout": 0.1}]},
     r"unknown key\(s\) \['dropout'\] in models\[0\] \(model 'fm'\); allowed keys are: name, dim$"),
    ({"models": [{"name": "deepfm", "dnn_hiden": [4]}]},
     r"allowed keys are: name, dim, dnn_hidden, dropout, batch_norm"),
    ({"models": [{"name": "deepfm", "dropout": "high"}]}, r"models\[0\].dropout: expected a number"),
    ({"models": [{"name": "deepfm", "dropout": 2.0}]}, r"models\[0\]: dropout must be in \[0, 1\)"),
    ({"models": ["fmm"]}, r"models\[0\]: unknown model 'fmm'; available models: autoint, deepfm, fm, lr"),
    ({"models": [{"name": "fm", "dim": 0}]}, r"models\[0\]: model dim must be >= 1, got 0"),
    ({"models": ["fm", "deepfm"]}, r"model\(s\) \['fm'\] have no parameter 'dropout'"),
    ({"datasets": ["netflix"]}, r"datasets\[0\]: unknown dataset 'netflix'; available datasets: avazu"),
    ({"datasets": [{"name": "avazu", "options": {"hour": "minute"}}]},
     r"datasets\[0\].options.hour: got 'minute', expected one of 'raw', 'hour_of_day'"),
    ({"datasets": [{"name": "synthetic", "options": {"scael": "tiny"}}]},
     r"unknown key\(s\) \['scael'\] in datasets\[0\].options \(dataset 'synthetic'\); allowed keys are: scale, .*drop_fields"),
])
def test_bad_models_and_dataset_options_name_the_allowed_ones(patch: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(base() | patch)


def test_a_sweep_saved_with_the_old_flat_model_config_still_loads(tmp_path: Path) -> None:
    old = base() | {"models": [{
        "name": "fm", "dim": 8, "dnn_hidden": [400, 400, 400], "dropout": 0.0, "batch_norm": False,
        "attention_layers": 3, "attention_heads": 2, "attention_dim": 32, "residual": True,
    }], "methods": {"uniform": {"space": {"model.dim": [4]}}}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(old))
    assert load_spec(path).models == [ModelConfig("fm", 8, {})]


def test_train_flags_come_from_the_model_and_dataset_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--model", "autoint", "--dataset", "avazu", "--help"])
    out = capsys.readouterr().out
    assert "parameters of model 'autoint'" in out and "--attention-heads INT" in out
    assert "--data-hour {raw,hour_of_day}" in out and "--data-drop-fields" in out
    assert "raw: YYMMDDHH as one category" in out  # help text from the field's metadata
    assert "rarer values map to the field's OOV id 0 (default: 10)" in out  # inherited, new default
    with pytest.raises(SystemExit):
        main(["train", "--model", "fm", "--dropout", "0.1"])
    assert "unrecognized arguments: --dropout 0.1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "avazu", "--data-hour", "minute"])
    assert "argument --data-hour: 'minute' is not one of raw, hour_of_day" in capsys.readouterr().err
    code = main([
        "train", "--dataset", "synthetic", "--data-scale", "tiny", "--data-drop-fields", "f05",
        "--model", "autoint", "--attention-dim", "4", "--attention-layers", "1",
        "--model-param", "dnn_hidden=8", "--dim", "4", "--epochs", "1", "--max-steps", "3",
        "--threads", "1", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"),
        "--out", str(tmp_path / "rows.csv"),
    ])
    assert code == 0
    import pandas as pd

    row = pd.read_csv(tmp_path / "rows.csv").iloc[0]
    assert row["model"] == "autoint" and row["status"] == "ok"


def test_a_spec_plugin_file_registers_a_model_at_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoembed.models import MODELS

    monkeypatch.setattr(MODELS, "_runtime", {})  # the registration ends with this test
    (tmp_path / "wide_fm.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from autoembed.models import FM, register_model

        class WideFM(FM):
            \"\"\"FM registered by a spec's plugins: entry, not an entry point.\"\"\"
            name = "wide_fm"

            @dataclass
            class Config:
                scale: float = 1.0

        register_model("wide_fm", WideFM)
    """))
    raw = base() | {"plugins": ["wide_fm.py"], "models": [{"name": "wide_fm", "dim": 4, "scale": 2.0}],
                    "methods": {"uniform": {}}}
    spec = parse_spec(raw, str(tmp_path / "spec.yaml"))
    assert spec.models == [ModelConfig("wide_fm", 4, {"scale": 2.0})]
    assert "wide_fm" in discover_models()
    with pytest.raises(SpecError, match=r"allowed keys are: name, dim, scale"):
        parse_spec(raw | {"models": [{"name": "wide_fm", "scael": 2.0}]}, str(tmp_path / "spec.yaml"))
