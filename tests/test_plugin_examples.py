"""The outside model and dataset plugins (examples/plugin-model, examples/plugin-dataset):
installed with pip, listed, and used together in a two-trial sweep on a real local Ray.

They are pip-installed into a temporary ``--target`` folder; the CLI runs in subprocesses with
that folder on ``PYTHONPATH`` (Ray's workers inherit it), so this venv is left unchanged and the
plugins are found through their installed entry points like any pip-installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sweep_helpers import read_rows

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SAMPLE = EXAMPLES / "plugin-dataset" / "sample"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both examples pip-installed (copies, so no build files land in the tree) into one target."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    for name in ("plugin-model", "plugin-dataset"):
        source = root / name
        shutil.copytree(EXAMPLES / name, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--no-compile", "--target", str(target), str(source)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return target


def autoembed(site: Path, *args: str, cwd: Path = ROOT, timeout: int = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "autoembed", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_installed_plugins_are_listed_with_their_parameters(site: Path) -> None:
    models = autoembed(site, "models", "list")
    assert models.returncode == 0, models.stderr
    assert "dcnv2  (autoembed_plugin_dcn:DCNv2)" in models.stdout
    assert "    structure: one of parallel, stacked, cross_only = 'parallel'" in models.stdout
    assert "fm  (autoembed.models.fm:FM)" in models.stdout  # the built-ins are still there
    datasets = autoembed(site, "datasets", "list")
    assert datasets.returncode == 0, datasets.stderr
    assert "libffm  (autoembed_plugin_libffm:LibFFM; raw files)" in datasets.stdout
    assert "    duplicate: one of first, last = 'first'" in datasets.stdout
    flags = autoembed(site, "train", "--model", "dcnv2", "--dataset", "libffm", "--help")
    assert "--structure {parallel,stacked,cross_only}" in flags.stdout
    assert "--data-duplicate {first,last}" in flags.stdout


def test_plugin_dataset_parses_counts_bad_lines_and_caches(site: Path, tmp_path: Path) -> None:
    args = ("data", "prepare", "libffm", "--root", str(SAMPLE), "--cache-dir", str(tmp_path))
    first = autoembed(site, *args)
    assert first.returncode == 0, first.stderr
    assert "599 rows, 4 fields" in first.stdout and "lines skipped 1" in first.stdout
    assert "train.ffm:300: malformed" in first.stdout and "parsed and cached" in first.stdout
    assert "cache hit" in autoembed(site, *args).stdout


@pytest.mark.slow
@pytest.mark.ray
def test_plugin_model_and_dataset_in_a_two_trial_sweep(site: Path, tmp_path: Path) -> None:
    spec = {
        "name": "plugins",
        "datasets": [{"name": "libffm", "root": str(SAMPLE), "options": {"duplicate": "last"},
                      "cache_dir": str(tmp_path / "cache")}],
        "models": [{"name": "dcnv2", "dim": 4, "cross_layers": 2, "dnn_hidden": [16]}],
        "methods": {"uniform": {"space": {"model.structure": ["parallel", "stacked"]}}},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.01, "threads": 1},
        "resources": {"cpu": 1},
        "storage_path": str(tmp_path / "sweeps"),
    }
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump(spec))
    check = autoembed(site, "sweep", str(path), "--check")
    assert check.returncode == 0, check.stderr
    done = autoembed(site, "sweep", str(path), "--name", "plugins", "--quiet", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = read_rows(tmp_path / "sweeps" / "plugins")
    assert len(rows) == 2 and (rows["status"] == "ok").all()
    assert set(rows["model"]) == {"dcnv2"} and set(rows["dataset"]) == {"libffm"}
    assert rows["trial_id"].nunique() == 2 and (rows["test_auc"] > 0.6).all()
    assert sorted(rows["info_model_structure"]) == ["parallel", "stacked"]  # the model's params
