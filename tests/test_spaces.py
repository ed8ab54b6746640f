"""Search-space YAML: validation errors (before Ray starts), grid/random expansion, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autoembed.tune.driver import smoke_spec, spec_to_raw
from autoembed.tune.plan import count_trials, random_points, trial_configs
from autoembed.tune.spaces import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "search_spaces"


def base() -> dict:
    return {
        "name": "t",
        "datasets": [{"name": "synthetic", "options": {"scale": "tiny"}}],
        "models": [{"name": "fm", "dim": 8}],
        "methods": {"uniform": {"space": {"model.dim": [4, 8]}}},
        "train": {"epochs": 2},
    }


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(autouse=True)
def ray_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must fail before Ray: starting it here fails the test (whether or not an
    earlier test of the session left a Ray instance up)."""
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray was started while a spec was being validated")

    monkeypatch.setattr(ray, "init", refuse)


@pytest.mark.parametrize("name", ["smoke", "quickstart", "pep_paper", "comparison", "study_ml1m",
                                  "study_ml1m_pep_prefix", "study_synthetic",
                                  "study_synthetic_criteo"])
def test_shipped_spaces_are_valid(name: str) -> None:
    spec = load_spec(SPACES / f"{name}.yaml")
    assert count_trials(spec) >= 1
    assert Path(spec.storage_path).is_absolute()


def test_quickstart_is_the_documented_grid() -> None:
    spec = load_spec(SPACES / "quickstart.yaml")
    trials = trial_configs(spec)
    by_method: dict[str, int] = {}
    for t in trials:
        by_method[t.method] = by_method.get(t.method, 0) + 1
    assert by_method == {"pep": 4, "uniform": 4, "mde": 2}
    assert {d.options["scale"] for d in spec.datasets} == {"small"}


def test_pep_paper_grid_covers_granularity_by_init() -> None:
    spec = load_spec(SPACES / "pep_paper.yaml")
    pep = [t.params for t in trial_configs(spec) if t.method == "pep"]
    pairs = {(p["granularity"], p["threshold_init"]) for p in pep}
    assert len(pairs) == 4 * 5
    assert {d.name for d in spec.datasets} == {"ml-1m", "criteo", "avazu"}
    assert [m.name for m in spec.models] == ["fm", "deepfm", "autoint"]


def test_comparison_gives_every_method_the_same_optuna_budget() -> None:
    spec = load_spec(SPACES / "comparison.yaml")
    assert spec.searcher.type == "optuna" and spec.multi_objective
    assert {m.method for m in spec.methods} == {"pep", "uniform", "mde", "autoemb", "autodim", "qr_hash"}
    assert len({m.trials for m in spec.methods}) == 1
    assert len(spec.seeds) == 3


def test_misspelled_top_level_key_lists_allowed(tmp_path: Path) -> None:
    raw = base() | {"seedz": [0]}
    with pytest.raises(SpecError, match=r"unknown key\(s\) \['seedz'\].*allowed keys are: .*seeds"):
        load_spec(write(tmp_path, raw))


def test_misspelled_train_key(tmp_path: Path) -> None:
    raw = base() | {"train": {"epoch": 3}}
    with pytest.raises(SpecError, match=r"unknown key\(s\) \['epoch'\] in train.*epochs"):
        load_spec(write(tmp_path, raw))


def test_unknown_method_lists_registered_ones(tmp_path: Path) -> None:
    raw = base() | {"methods": {"pepp": {}}}
    with pytest.raises(SpecError, match=r"methods.pepp: unknown method 'pepp'; available methods: .*uniform"):
        load_spec(write(tmp_path, raw))


def test_a_method_label_keeps_two_variants_of_one_method_apart(tmp_path: Path) -> None:
    raw = base() | {"methods": {
        "pep": {"space": {"targets": [0.5]}},
        "pep-prefix": {"method": "pep", "space": {"targets": [0.5], "retrain_mask": "prefix"}},
    }}
    spec = load_spec(write(tmp_path, raw))
    trials = trial_configs(spec)
    assert [t.method for t in trials] == ["pep", "pep-prefix"]  # the results' name
    configs = [t.config for t in trials]
    assert [c.method for c in configs] == ["pep", "pep"]  # the registered method
    assert configs[1].method_params["retrain_mask"] == "prefix"
    again = parse_spec(spec_to_raw(spec))  # saved with the sweep and loaded back on resume
    assert [(m.label, m.method) for m in again.methods] == [("pep", "pep"), ("pep-prefix", "pep")]
    raw["methods"]["pep-prefix"]["method"] = "pepp"
    with pytest.raises(SpecError, match=r"methods.pep-prefix: unknown method 'pepp'"):
        load_spec(write(tmp_path, raw))
    raw["methods"]["pep-prefix"] = {"methd": "pep"}
    with pytest.raises(SpecError, match=r"allowed keys are: method, space, trials"):
        load_spec(write(tmp_path, raw))


def test_negative_epochs_named(tmp_path: Path) -> None:
    raw = base() | {"train": {"epochs": -1}}
    with pytest.raises(SpecError, match=r"train: epochs must be >= 1, got -1"):
        load_spec(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"resources": {"gpu": "x"}}, r"resources.gpu: expected a number, got 'x'"),
        ({"resources": {"cpu": 0}}, r"resources: cpu must be > 0"),
        ({"train": {"batch_size": "big"}}, r"train.batch_size: expected an integer, got 'big'"),
        ({"searcher": "bayes"}, r"searcher: type must be one of grid, random, optuna"),
        ({"scheduler": "hyperband"}, r"scheduler: type must be one of fifo, asha"),
        ({"max_failures": -2}, r"max_failures: expected an integer >= 0"),
        ({"datasets": []}, r"datasets: expected a non-empty list"),
        ({"methods": {"uniform": {"space": {"model.widht": [4]}}}},
             r"model\(s\) \['fm'\] have no parameter 'widht'; allowed for every model of this spec: dim"),
        ({"methods": {"pep": {"space": {"granularty": ["global"]}}}},
         r"unknown hyperparameter 'granularty' for method 'pep'; allowed: granularity"),
        ({"methods": {"pep": {"space": {"threshold_init": ["low"]}}}},
         r"methods.pep.space.threshold_init\[0\]: expected a number, got 'low'"),
        ({"methods": {"pep": {"space": {"threshold_init": {"type": "uniform", "low": -1, "high": -9}}}}},
         r"uniform needs numbers low < high"),
        ({"methods": {"mde": {"space": {"alpha": {"type": "uniform", "low": 0, "high": 1}}}}},
         r"needs searcher random or optuna"),
        ({"methods": {"uniform": {"trials": 0}}}, r"methods.uniform.trials: expected an integer >= 1"),
    ],
)
def test_bad_values_name_key_and_expectation(tmp_path: Path, patch: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(write(tmp_path, base() | patch))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_values_are_coerced_to_declared_types() -> None:
    raw = base() | {"methods": {"pep": {"space": {"threshold_init": [-5, -1], "targets": [0.5, 0.1]}}}}
    spec = parse_spec(raw)
    params = [t.params for t in trial_configs(spec)]
    assert params == [
        {"threshold_init": -5.0, "targets": (0.5, 0.1)},
        {"threshold_init": -1.0, "targets": (0.5, 0.1)},
    ]
    assert all(isinstance(p["threshold_init"], float) for p in params)


def test_grid_is_method_points_times_seeds() -> None:
    raw = base() | {
        "seeds": [0, 1, 2],
        "methods": {"uniform": {"space": {"model.dim": [2, 4]}},
                    "mde": {"space": {"alpha": [0.1, 0.2, 0.3]}}},
    }
    spec = parse_spec(raw)
    assert count_trials(spec) == (2 + 3) * 3
    seeds = {t.seed for t in trial_configs(spec)}
    assert seeds == {0, 1, 2}


def test_random_points_are_seeded_and_in_range() -> None:
    raw = base() | {
        "searcher": "random",
        "methods": {"mde": {"trials": 5, "space": {
            "alpha": {"type": "uniform", "low": 0.1, "high": 0.5},
            "d0": {"type": "int", "low": 2, "high": 8},
            "round_pow2": [True, False]}}},
    }
    spec = parse_spec(raw)
    first, second = trial_configs(spec), trial_configs(parse_spec(raw))
    assert first == second and len(first) == 5
    for t in first:
        p = t.params
        assert 0.1 <= p["alpha"] <= 0.5 and 2 <= p["d0"] <= 8 and p["round_pow2"] in (True, False)
    space = spec.methods[0]
    assert random_points(space, 5, seed=1) != random_points(space, 5, seed=2)


def test_experiment_config_applies_scoped_overrides() -> None:
    raw = base() | {
        "methods": {"uniform": {"space": {"model.dim": [4], "train.lr": [0.01], "init_std": 0.1}}},
        "search_train": {"epochs": 5},
        "seeds": [7],
    }
    spec = parse_spec(raw)
    t = trial_configs(spec)[0]
    cfg = t.config
    assert cfg.model.dim == 4 and cfg.train.lr == 0.01 and cfg.method_params == {"init_std": 0.1}
    assert cfg.train.seed == 7 and cfg.search_train is not None and cfg.search_train.seed == 7
    assert cfg.search_train.lr == 0.01 and cfg.search_train.epochs == 5
    assert spec.train.lr != 0.01  # the spec itself is untouched


def test_search_scope_overrides_only_the_search_phase() -> None:
    raw = base() | {
        "methods": {"uniform": {"space": {"search.epochs": [30], "train.lr": [0.01]}}},
        "train": {"epochs": 8},
    }
    spec = parse_spec(raw)
    t = trial_configs(spec)[0]
    cfg = t.config
    assert cfg.train.epochs == 8 and cfg.train.lr == 0.01
    assert cfg.search_train is not None and cfg.search_train.epochs == 30
    assert cfg.search_train.lr == 0.01
    with pytest.raises(SpecError, match="allowed"):
        parse_spec(base() | {"methods": {"uniform": {"space": {"search.epoch": [3]}}}})


def test_spec_round_trips_through_saved_copy(tmp_path: Path) -> None:
    spec = load_spec(SPACES / "comparison.yaml")
    path = write(tmp_path, spec_to_raw(spec))
    again = load_spec(path)
    assert spec_to_raw(again) == spec_to_raw(spec)


def test_smoke_spec_is_one_short_point_per_method() -> None:
    spec = smoke_spec(load_spec(SPACES / "pep_paper.yaml"))
    assert count_trials(spec) == 2 and spec.train.epochs == 1 and spec.train.max_steps == 20
    assert len(spec.datasets) == 1 and len(spec.models) == 1
