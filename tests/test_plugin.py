"""The outside plugin (examples/plugin-method) installs, is discovered and trains one epoch.

It is installed with pip into a temporary ``--target`` folder put on ``sys.path``, so the venv
is left unchanged; importlib.metadata sees its dist-info there like any installed package.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from baseline_toys import toy_data

from autoembed.config import ExperimentConfig, ModelConfig, TrainConfig
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.registry import discover, get_method
from autoembed.experiment import run_experiment

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin-method"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """pip-installs a copy of the example (no build files left in the tree) into a temp target."""
    root = tmp_path_factory.mktemp("plugin")
    source, target = root / "src", root / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-compile", "--target", str(target), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("autoembed_plugin_example")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_plugin_is_discovered_through_its_entry_point(installed_plugin: Path) -> None:
    info = discover()["freq_tiered"]
    assert info.cls is not None, info.error
    assert info.target == "autoembed_plugin_example:FrequencyTieredEmbedding"
    assert Path(sys.modules[info.cls.__module__].__file__).is_relative_to(installed_plugin)
    assert {h.name for h in info.hyperparams} == {"top_fraction", "small_dim"}


def test_plugin_trains_one_epoch_with_the_real_runner(installed_plugin: Path) -> None:
    data = toy_data()
    cfg = ExperimentConfig(
        model=ModelConfig(name="fm", dim=8),
        method="freq_tiered",
        method_params={"top_fraction": 0.2},
        train=TrainConfig(epochs=1, batch_size=256, lr=0.01, threads=1, device="cpu"),
    )
    (row,) = run_experiment(cfg, data)
    assert row.method == "freq_tiered" and row.status == "ok" and row.epochs == 1
    n = data.num_features
    k = round(0.2 * n)
    assert row.params == k * 8 + (n - k) * 2 + 2 * 8  # D rows, D/4 rows, the projection
    assert row.test_auc > 0.6
    cls = get_method("freq_tiered")
    emb = cls(EmbeddingSpec.from_data(data, 8), cls.Config(top_fraction=0.2))
    dims = emb.feature_dims()
    assert (dims == 8).sum() == k and (dims == 2).sum() == n - k
