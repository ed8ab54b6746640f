"""The method registry: in-tree baselines found through entry points, errors that help."""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from pathlib import Path

import pytest

from autoembed.commands.methods import run_list
from autoembed.embeddings.registry import UnknownMethodError, discover, get_method, make_config

BASELINES = ("mde", "autoemb", "autodim", "qr_hash")


def test_in_tree_baselines_register_through_entry_points() -> None:
    methods = discover()
    for name in (*BASELINES, "uniform"):
        info = methods[name]
        assert info.cls is not None, info.error
        assert info.cls.name == name
        assert info.target.split(":")[0] in ("baselines." + name, "autoembed.embeddings.uniform")
    hp = {h.name: h for h in methods["mde"].hyperparams}
    assert hp["alpha"].default == 0.3 and hp["alpha"].type == "float"
    assert {h.name: h.default for h in methods["autoemb"].hyperparams}["candidates"] == (2, 4, 8, 16, 32)


def test_every_baseline_builds_from_its_default_config() -> None:
    import numpy as np
    import torch

    from autoembed.embeddings.base import EmbeddingSpec

    spec = EmbeddingSpec((3, 300), 8, np.arange(303, dtype=np.int64))
    ids = torch.tensor([[0, 3], [2, 302]])
    for name in BASELINES:
        cls = get_method(name)
        emb = cls(spec, cls.Config())
        assert emb(ids).shape == (2, 2, 8)
        assert emb.num_params() > 0 and emb.storage_bytes() >= emb.num_params()
        assert emb.feature_dims().shape == (303,)


def test_unknown_method_lists_the_available_ones() -> None:
    with pytest.raises(UnknownMethodError) as err:
        get_method("no_such_method")
    msg = str(err.value)
    assert "no_such_method" in msg and all(n in msg for n in BASELINES)


def test_unknown_hyperparameter_names_the_allowed_ones() -> None:
    cls = get_method("mde")
    with pytest.raises(ValueError, match="alpha"):
        make_config(cls, {"alpah": 0.1})
    assert dataclasses.asdict(make_config(cls, {"alpha": 0.1}))["alpha"] == 0.1


def write_broken_plugin(root: Path) -> None:
    """A fake installed distribution whose entry point fails to import."""
    dist = root / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[autoembed.methods]\nbroken = broken_plugin_mod:Method\n"
    )
    (root / "broken_plugin_mod.py").write_text(
        textwrap.dedent(
            """
            raise RuntimeError("broken plugin: missing dependency xyz")
            """
        )
    )


def test_a_broken_plugin_is_reported_and_does_not_hide_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_broken_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    methods = discover()
    assert methods["broken"].cls is None
    assert "missing dependency xyz" in methods["broken"].error
    assert all(methods[n].cls is not None for n in BASELINES)
    with pytest.raises(ImportError, match="missing dependency xyz"):
        get_method("broken")
    assert run_list(argparse.Namespace()) == 1  # listed, flagged, and the exit code says so
    out = capsys.readouterr().out
    assert "broken  [FAILED TO LOAD: broken_plugin_mod:Method]" in out
    assert "missing dependency xyz" in out
    assert "mde  (baselines.mde:MDEEmbedding; single phase)" in out
    assert "    alpha: float = 0.3" in out
    assert "autoemb  (baselines.autoemb:AutoEmbEmbedding; search + retrain)" in out
