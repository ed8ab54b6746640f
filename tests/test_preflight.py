"""Everything a sweep needs is checked before Ray starts; bad values fail with a message that
names them, ``--check`` imports no plugin and writes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autoembed.cli import main
from autoembed.tune.preflight import corner_points, missing_resources
from autoembed.tune.spaces import Distribution, MethodSpace, ResourcesSpec

SPEC = """\
name: bad
datasets: [{{name: {ds}, options: {{scale: tiny}}}}]
models: [{{name: {model}, dim: {dim}}}]
methods:
  pep:
    space:
      granularity: {gran}
      targets: {targets}
train: {{epochs: 1, lr: {lr}, patience: {patience}}}
resources: {{cpu: 1, gpu: {gpu}}}
storage_path: {storage}
"""
GOOD = {"ds": "synthetic", "model": "fm", "dim": 8, "gran": "[feature_dim]", "targets": "[0.5]",
        "lr": 0.01, "patience": 1, "gpu": 0}
BAD = {  # the cases: the changed value, and what the error must say
    "granularity": ({"gran": "[globl]"}, "granularity[0]: got 'globl', expected one of"),
    "model": ({"model": "fmm"}, "unknown model 'fmm'; available models: autoint, deepfm, fm, lr"),
    "targets": ({"targets": "[0.5, 1.5, -0.1]"}, "bad: [1.5, -0.1]"),
    "lr_nan": ({"lr": ".nan"}, "train: lr must be a finite number > 0, got nan"),
    "dim0": ({"dim": 0}, "models[0]: model dim must be >= 1, got 0"),
    "patience": ({"patience": -1}, "train: patience must be >= 0, got -1"),
    "dataset": ({"ds": "synthetc"}, "unknown dataset 'synthetc'; available datasets: avazu, criteo, ml-1m"),
}


def write_spec(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(**{**GOOD, **changes, "storage": str(tmp_path / "sweeps")}))
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_values_fail_the_check_naming_them(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    changes, message = BAD[case]
    assert main(["sweep", "--check", str(write_spec(tmp_path, **changes))]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_a_good_spec_passes_the_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", "--check", str(write_spec(tmp_path))]) == 0
    assert "valid; 1 trial(s)" in capsys.readouterr().out
    assert not (tmp_path / "sweeps").exists()


def test_a_gpu_this_machine_lacks_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["sweep", "--check", str(write_spec(tmp_path, gpu=1))]) == 2
    assert "resources: 1 GPU per trial, but 0 available" in capsys.readouterr().err
    assert missing_resources(ResourcesSpec(cpu=2, gpu=0.5), {"CPU": 4, "GPU": 1}) == []
    assert missing_resources(ResourcesSpec(cpu=8), {"CPU": 4}) == ["8 CPU per trial, but 4 available"]


def test_custom_resources_are_asked_per_trial_and_checked() -> None:
    """``resources.custom`` reaches Ray's request; a node group lacking it is named; a bad
    name or amount is a spec error; a local smoke test drops it."""
    from autoembed.tune.driver import smoke_spec
    from autoembed.tune.spaces import load_spec
    from autoembed.typed import SpecError, build

    res = build(ResourcesSpec, {"cpu": 1, "custom": {"ae_worker": 1}}, "resources")
    assert res.ray() == {"cpu": 1.0, "gpu": 0.0, "ae_worker": 1.0}
    assert missing_resources(res, {"CPU": 2, "ae_worker": 1}) == []
    assert missing_resources(res, {"CPU": 2}) == ["1 ae_worker per trial, but 0 available"]
    for bad, message in (({"GPU": 1}, "not a custom resource name"), ({"x": 0}, "custom.x must be")):
        with pytest.raises(SpecError, match=message):
            build(ResourcesSpec, {"custom": bad}, "resources")
    spec = load_spec(Path(__file__).resolve().parent / "fixtures" / "cluster_sweep.yaml")
    spec.resources.custom = {"ae_worker": 1.0}
    assert smoke_spec(spec, fit_to={"CPU": 2.0, "GPU": 0.0}).resources.custom == {}
    assert smoke_spec(spec).resources.custom == {"ae_worker": 1.0}


def test_distributions_are_checked_at_both_ends() -> None:
    space = MethodSpace("pep", {"threshold_init": Distribution("uniform", -9.0, -1.0),
                                "granularity": ["feature", "global"], "weight_decay": 0.0})
    points = corner_points(space, "random")
    assert len(points) == 4 and {p["threshold_init"] for p in points} == {-9.0, -1.0}
    assert all(p["weight_decay"] == 0.0 for p in points)


def test_check_imports_no_plugin(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "imported"
    plugin = tmp_path / "side_effect.py"
    plugin.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("methods:", "plugins: [side_effect.py]\nmethods:\n"
                                             "  theirs: {space: {x: [1]}}"))
    assert main(["sweep", "--check", str(spec)]) == 0
    assert not marker.exists()
    assert "theirs come from the spec's plugins" in capsys.readouterr().err


def test_a_bad_sweep_fails_before_ray_and_leaves_nothing(tmp_path: Path) -> None:
    """``autoembed sweep BAD.yaml`` (no --check) errors within seconds, Ray never imported."""
    spec = write_spec(tmp_path, gran="[globl]")
    code = textwrap.dedent(f"""
        import sys
        from autoembed.cli import main
        rc = main(["sweep", {str(spec)!r}])
        print("ray imported:", "ray" in sys.modules)
        sys.exit(rc)
    """)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    seconds = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert "expected one of" in done.stderr and "ray imported: False" in done.stdout
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "results").exists()
    assert seconds < 60  # generous: a shared 2-core machine


@pytest.mark.parametrize("args, message", [
    (["--dim", "-1"], "model dim must be >= 1, got -1"),
    (["--dim", "0"], "model dim must be >= 1, got 0"),
    (["--device", "tpu"], "device must be auto, cpu, mps, cuda or cuda:N, got 'tpu'"),
    (["--method", "pep", "--param", "threshold_init=abc"], "--param threshold_init=abc: expected FLOAT"),
    (["--patience", "-1"], "patience must be >= 0, got -1"),
])
def test_train_rejects_bad_flags_without_a_traceback(
    args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "--dataset", "synthetic", "--data-option", "scale=tiny", *args]) == 2
    assert message in capsys.readouterr().err


def test_train_out_folder_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--dataset", "synthetic", "--data-option", "scale=tiny",
                 "--out", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    assert "is a folder; give a .csv or .parquet file path" in printed.err
    assert "epoch" not in printed.err  # nothing was trained


def test_smoke_test_of_a_gpu_spec_runs_on_the_cpus_here() -> None:
    """comparison.yaml asks for 0.25 GPU per trial; its smoke test runs on a CPU-only machine
    (local Ray), while a cluster's (``address``) keeps the GPUs it asks for."""
    from autoembed.tune.driver import smoke_spec
    from autoembed.tune.preflight import check_spec
    from autoembed.tune.spaces import load_spec

    spec = load_spec(Path(__file__).resolve().parent.parent / "search_spaces" / "comparison.yaml")
    assert spec.resources.gpu > 0
    smoke = smoke_spec(spec, fit_to={"CPU": 2.0, "GPU": 0.0})
    assert smoke.resources.gpu == 0 and smoke.resources.cpu <= 2
    assert not missing_resources(smoke.resources, {"CPU": 2.0, "GPU": 0.0})
    check_spec(smoke)
    assert smoke_spec(spec).resources.gpu == spec.resources.gpu
