"""The equal-budget Optuna searcher and the scheduler choice, without running trials."""

from __future__ import annotations

from collections import Counter

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
    per_group = Counter((t["group"]["method"], t["group"]["seed"]) for t in trials)
    assert per_group == {("uniform", 0): 3, ("uniform", 1): 3, ("mde", 0): 3, ("mde", 1): 3}
    mde = [t["params"] for t in trials if t["group"]["method"] == "mde"]
    assert all(p["d0"] == 8 and 0.1 <= p["alpha"] <= 0.5 for p in mde)
    # round robin: the first four suggestions cover all four groups
    assert len({(t["group"]["method"], t["group"]["seed"]) for t in trials[:4]}) == 4


def test_multi_objective_and_reproducible() -> None:
    a, b = GroupedOptunaSearch(spec("nsga2")), GroupedOptunaSearch(spec("nsga2"))
    assert a.metric == ["val_auc", "params"] and a.mode == ["max", "min"]
    assert drain(a) == drain(b)


def test_state_survives_save_and_restore(tmp_path) -> None:
    search = GroupedOptunaSearch(spec())
    first = [search.suggest(f"t{i}") for i in range(5)]
    search.save(str(tmp_path / "s.pkl"))
    restored = GroupedOptunaSearch(spec())
    restored.restore(str(tmp_path / "s.pkl"))
    rest = drain(restored)
    assert len(first) + len(rest) == 12


def test_asha_is_built_only_when_asked() -> None:
    assert _scheduler(spec()) is None
    asha = _scheduler(spec(scheduler="asha"))
    assert type(asha).__name__ == "AsyncHyperBandScheduler"
