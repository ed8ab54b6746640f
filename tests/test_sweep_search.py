"""The equal-budget Optuna searcher and the scheduler choice, without running trials."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import pytest
from ray.tune.search import Searcher

from autoembed.tune.driver import _scheduler
from autoembed.tune.searcher import GroupedOptunaSearch
from autoembed.tune.spaces import parse_spec


def spec(sampler: str = "tpe", scheduler: str = "fifo"):
    return parse_spec({
        "name": "s",
        "datasets": ["synthetic"],
        "models": ["fm"],
        "methods": {
            "uniform": {"trials": 3, "space": {"model.dim": {"type": "choice", "values": [2, 4, 8]}}},
            "mde": {"trials": 3, "space": {"alpha": {"type": "uniform", "low": 0.1, "high": 0.5},
                                           "d0": 8}},
        },
        "seeds": [0, 1],
        "searcher": {"type": "optuna", "sampler": sampler},
        "scheduler": scheduler,
    })


def drain(search: GroupedOptunaSearch) -> list[dict]:
    out = []
    for i in range(100):
        s = search.suggest(f"t{i}")
        if s == Searcher.FINISHED:
            break
        assert s is not None
        out.append(s["trial"])
        search.on_trial_complete(f"t{i}", {"val_auc": 0.7, "params": 100 + i})
    return out


def test_every_method_and_seed_gets_its_trials() -> None:
    trials = drain(GroupedOptunaSearch(spec()))
    per_group = Counter((t.method, t.seed) for t in trials)
    assert per_group == {("uniform", 0): 3, ("uniform", 1): 3, ("mde", 0): 3, ("mde", 1): 3}
    mde = [t.params for t in trials if t.method == "mde"]
    assert all(p["d0"] == 8 and 0.1 <= p["alpha"] <= 0.5 for p in mde)
    # round robin: the first four suggestions cover all four groups
    assert len({(t.method, t.seed) for t in trials[:4]}) == 4


def test_multi_objective_and_reproducible() -> None:
    a, b = GroupedOptunaSearch(spec("nsga2")), GroupedOptunaSearch(spec("nsga2"))
    assert a.metric == ["val_auc", "params"] and a.mode == ["max", "min"]
    assert drain(a) == drain(b)


def test_state_survives_save_and_restore(tmp_path) -> None:
    search = GroupedOptunaSearch(spec("nsga2"))
    first = [search.suggest(f"t{i}") for i in range(5)]
    for i in range(3):  # t3 and t4 are still running when the state is saved
        search.on_trial_complete(f"t{i}", {"val_auc": 0.7, "params": 100 + i})
    search.save(str(tmp_path / "s.json"))
    state = json.loads((tmp_path / "s.json").read_text())  # plain JSON, no pickle
    assert sum(len(g["trials"]) for g in state["groups"]) == 3
    assert sum(len(g["running"]) for g in state["groups"]) == 2
    restored = GroupedOptunaSearch(spec("nsga2"))
    restored.restore(str(tmp_path / "s.json"))
    for i in (3, 4):  # the running trials finish after the resume and are told to their study
        restored.on_trial_complete(f"t{i}", {"val_auc": 0.8, "params": 50})
    rest = drain(restored)
    assert len(first) + len(rest) == 12
    told = sum(len(g.study.trials) for g in restored._groups if g.study is not None)
    assert told == 12


def test_pickles_with_any_optuna_sampler() -> None:
    """Ray pickles the searcher into the Tuner; optuna 5.1's NSGA-II sampler holds a lock."""
    for sampler in ("tpe", "nsga2"):
        search = GroupedOptunaSearch(spec(sampler))
        a = [search.suggest(f"t{i}") for i in range(4)]
        search.on_trial_complete("t0", {"val_auc": 0.7, "params": 100})
        copy = pickle.loads(pickle.dumps(search))
        copy.on_trial_complete("t1", {"val_auc": 0.6, "params": 120})
        assert len(a) + len(drain(copy)) == 12


def test_a_crafted_searcher_state_runs_no_code(tmp_path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "searcher-state-x.json"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="not a searcher state"):
        GroupedOptunaSearch(spec()).restore(str(path))
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="unknown searcher state format"):
        GroupedOptunaSearch(spec()).restore(str(path))
    assert not marker.exists()


def test_asha_is_built_only_when_asked() -> None:
    assert _scheduler(spec()) is None
    asha = _scheduler(spec(scheduler="asha"))
    assert type(asha).__name__ == "AsyncHyperBandScheduler"
