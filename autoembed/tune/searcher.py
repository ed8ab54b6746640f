"""Optuna with an equal budget per method: one Optuna study per (dataset, model, method, seed)
group, asked in turn until every group has used its ``trials``."""

from __future__ import annotations

import pickle
from typing import Any

from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from autoembed.tune.plan import groups, stable_seed
from autoembed.tune.spaces import Distribution, MethodSpace, SweepSpec


def tune_domain(param: Distribution | list) -> Any:
    """The Ray Tune domain of a list (a choice) or a :class:`Distribution`."""
    if isinstance(param, list):
        return tune.choice(param)
    if param.type == "choice":
        return tune.choice(list(param.values or []))
    if param.type == "uniform":
        return tune.uniform(param.low, param.high)
    if param.type == "loguniform":
        return tune.loguniform(param.low, param.high)
    low, high = int(param.low), int(param.high) + 1  # type: ignore[arg-type]
    return tune.lograndint(low, high) if param.log else tune.randint(low, high)


def _sampler(kind: str, seed: int) -> Any:
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


class GroupedOptunaSearch(Searcher):
    """Asks one Optuna study per group in round robin; each group gets ``trials`` suggestions.

    Suggestions are ``{"trial": {"group": {...}, "params": {...}}}``, the shape grid trials have.
    """

    def __init__(self, spec: SweepSpec) -> None:
        metrics = [o.metric for o in spec.searcher.objectives]
        modes = [o.mode for o in spec.searcher.objectives]
        metric: Any = metrics if len(metrics) > 1 else metrics[0]
        mode: Any = modes if len(modes) > 1 else modes[0]
        super().__init__(metric=metric, mode=mode)
        self._groups = []
        for group, space in groups(spec):
            varying = {**space.axes(), **space.distributions()}
            sub = None
            if varying:
                sub = OptunaSearch(
                    space={k: tune_domain(v) for k, v in varying.items()},
                    metric=metric,
                    mode=mode,
                    sampler=_sampler(spec.searcher.sampler, stable_seed(spec.searcher.seed, group.label)),
                )
            budget = space.trials if varying else 1  # a fixed point needs one trial
            self._groups.append({"group": group.as_dict(), "space": space, "sub": sub, "budget": budget, "issued": 0})
        self._owner: dict[str, int] = {}
        self._next = 0

    @property
    def total_trials(self) -> int:
        return sum(g["budget"] for g in self._groups)

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return True  # the space and objectives come from the sweep spec

    def suggest(self, trial_id: str) -> dict | str | None:
        open_groups = [i for i, g in enumerate(self._groups) if g["issued"] < g["budget"]]
        if not open_groups:
            return Searcher.FINISHED
        # round robin, starting after the group asked last
        order = sorted(open_groups, key=lambda i: (i - self._next) % len(self._groups))
        for i in order:
            g = self._groups[i]
            space: MethodSpace = g["space"]
            params = g["sub"].suggest(trial_id) if g["sub"] is not None else {}
            if params is None:
                continue
            g["issued"] += 1
            self._owner[trial_id] = i
            self._next = i + 1
            return {"trial": {"group": dict(g["group"]), "params": {**space.fixed(), **params}}}
        return None

    def _sub(self, trial_id: str) -> Any:
        i = self._owner.get(trial_id)
        return None if i is None else self._groups[i]["sub"]

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        sub = self._sub(trial_id)
        if sub is None:
            return
        metrics = sub.metric if isinstance(sub.metric, list) else [sub.metric]
        if all(m in result for m in metrics):
            sub.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        sub = self._sub(trial_id)
        if sub is not None:
            sub.on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__.copy(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
