"""Optuna with an equal budget per method: one Optuna study per (dataset, model, method, seed)
group, asked in turn until every group has used its ``trials``.

Optuna is driven directly (ask/tell), never pickled: Ray pickles the searcher when it builds the
``Tuner``, and Optuna's samplers are not picklable in every release (optuna 5.1's NSGA-II sampler
holds a ``threading.Lock``). What crosses a pickle, and what is saved on every experiment
checkpoint, is plain data: per group the trials told so far (params, state, values, Optuna's
system attributes) and the ones still running. Restoring replays the finished trials into fresh
studies and re-opens the running ones with their params. The checkpoint is JSON, so resuming an
experiment folder written by someone else runs no code from it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ray.tune.search import Searcher

from autoembed.tune.plan import Group, groups, make_trial, stable_seed
from autoembed.tune.spaces import Distribution, MethodSpace, SweepSpec

STATE_FORMAT = "autoembed.grouped-optuna/1"


def optuna_distribution(param: Distribution | list) -> Any:
    """The Optuna distribution of a list (a choice) or a :class:`Distribution`. A choice is
    sampled as the index of its value, so any value (a list, a dict) can be a choice."""
    import optuna

    d = optuna.distributions
    if isinstance(param, list) or param.type == "choice":
        values = param if isinstance(param, list) else list(param.values or [])
        return d.CategoricalDistribution(list(range(len(values))))
    if param.type in ("uniform", "loguniform"):
        return d.FloatDistribution(float(param.low), float(param.high),  # type: ignore[arg-type]
                                   log=param.type == "loguniform")
    return d.IntDistribution(int(param.low), int(param.high), log=param.log)  # type: ignore[arg-type]


def _value(param: Distribution | list, sampled: Any) -> Any:
    """The hyperparameter value of an Optuna sample (a choice's index -> its value)."""
    if isinstance(param, list):
        return param[sampled]
    if param.type == "choice":
        return list(param.values or [])[sampled]
    return sampled


def _sampler(kind: str, seed: int) -> Any:
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


@dataclass
class _Group:
    """One group's budget and its Optuna study (None for a fixed point: nothing to sample)."""

    label: str
    group: Group
    space: MethodSpace
    budget: int
    study: Any = None
    issued: int = 0
    running: dict[str, Any] = field(default_factory=dict)  # Ray trial id -> optuna Trial


class GroupedOptunaSearch(Searcher):
    """Asks one Optuna study per group in round robin; each group gets ``trials`` suggestions.

    Suggestions are ``{"trial": Trial}``, the shape grid trials have.
    """

    CKPT_FILE_TMPL = "searcher-state-{}.json"  # JSON: see the module docstring

    def __init__(self, spec: SweepSpec) -> None:
        metrics = [o.metric for o in spec.searcher.objectives]
        modes = [o.mode for o in spec.searcher.objectives]
        super().__init__(metric=metrics if len(metrics) > 1 else metrics[0],
                         mode=modes if len(modes) > 1 else modes[0])
        self._spec = spec
        self._metrics, self._modes = metrics, modes
        self._build({})

    # --- construction and state ---------------------------------------------------------------
    def _build(self, state: dict[str, Any]) -> None:
        """Fresh studies, with the finished trials of ``state`` replayed and its running trials
        re-opened under their Ray trial ids."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        saved = {g["label"]: g for g in state.get("groups", [])}
        self._groups: list[_Group] = []
        self._owner: dict[str, int] = {}
        for group, space in groups(self._spec):
            varying = self._varying(space)
            g = _Group(group.label, group, space, space.trials if varying else 1)  # fixed: one trial
            old = saved.get(group.label, {})
            g.issued = int(old.get("issued", 0))
            if varying:
                told = old.get("trials", [])
                seed = stable_seed(self._spec.searcher.seed, group.label, *([len(told)] if told else []))
                g.study = optuna.create_study(
                    directions=["maximize" if m == "max" else "minimize" for m in self._modes],
                    sampler=_sampler(self._spec.searcher.sampler, seed),
                )
                dists = {k: optuna_distribution(v) for k, v in varying.items()}
                for t in told:
                    g.study.add_trial(optuna.trial.create_trial(
                        params=t["params"], distributions=dists,
                        state=optuna.trial.TrialState[t["state"]],
                        values=t["values"], system_attrs=t["system_attrs"],
                    ))
                for trial_id, params in old.get("running", {}).items():
                    g.study.enqueue_trial(params, skip_if_exists=False)
                    g.running[trial_id] = g.study.ask(dists)
            self._groups.append(g)
            for trial_id in old.get("owned", []):
                self._owner[trial_id] = len(self._groups) - 1
        self._next = int(state.get("next", 0))

    @staticmethod
    def _varying(space: MethodSpace) -> dict[str, Distribution | list]:
        return {**space.axes(), **space.distributions()}

    def state_dict(self) -> dict[str, Any]:
        """Plain data (JSON): everything :meth:`_build` needs to continue where this left off."""
        import optuna

        out = []
        for i, g in enumerate(self._groups):
            told = [] if g.study is None else [
                {"params": t.params, "state": t.state.name, "values": t.values,
                 "system_attrs": t.system_attrs}
                for t in g.study.get_trials(deepcopy=False) if t.state.is_finished()
            ]
            running = {tid: t.params for tid, t in g.running.items()}
            owned = sorted(tid for tid, j in self._owner.items() if j == i)
            out.append({"label": g.label, "issued": g.issued, "trials": told, "running": running,
                        "owned": owned})
        return {"format": STATE_FORMAT, "optuna": optuna.__version__, "next": self._next,
                "groups": out}

    def __getstate__(self) -> dict[str, Any]:  # what Ray pickles into the Tuner: no Optuna object
        base = {k: v for k, v in self.__dict__.items() if k not in ("_groups", "_owner", "_next")}
        return {**base, "_state": self.state_dict()}

    def __setstate__(self, data: dict[str, Any]) -> None:
        state = data.pop("_state")
        self.__dict__.update(data)
        self._build(state)

    def save(self, checkpoint_path: str) -> None:
        tmp = f"{checkpoint_path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.state_dict(), f)
        os.replace(tmp, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Continue from a :meth:`save` file. It is read as JSON only (never unpickled), and
        anything else is an error naming the file."""
        try:
            with open(checkpoint_path, encoding="utf-8") as f:
                state = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{checkpoint_path} is not a searcher state written by this version of autoembed "
                f"(expected JSON, {exc}); delete it to restart the search, or resume with the "
                "autoembed that wrote it") from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"{checkpoint_path}: unknown searcher state format "
                             f"{state.get('format') if isinstance(state, dict) else type(state)!r}; "
                             f"expected {STATE_FORMAT!r}")
        self._build(state)

    # --- the Searcher interface ---------------------------------------------------------------
    @property
    def total_trials(self) -> int:
        return sum(g.budget for g in self._groups)

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return True  # the space and objectives come from the sweep spec

    def suggest(self, trial_id: str) -> dict | str | None:
        open_groups = [i for i, g in enumerate(self._groups) if g.issued < g.budget]
        if not open_groups:
            return Searcher.FINISHED
        # round robin, starting after the group asked last
        i = min(open_groups, key=lambda j: (j - self._next) % len(self._groups))
        g = self._groups[i]
        params = {}
        if g.study is not None:
            varying = self._varying(g.space)
            trial = g.study.ask({k: optuna_distribution(v) for k, v in varying.items()})
            g.running[trial_id] = trial
            params = {k: _value(v, trial.params[k]) for k, v in varying.items()}
        g.issued += 1
        self._owner[trial_id] = i
        self._next = i + 1
        # Optuna proposes the values; the trial is built from them as a grid trial is
        return {"trial": make_trial(self._spec, g.group, {**g.space.fixed(), **params})}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell the trial's study its objectives (FAIL on error, PRUNED when one is missing or
        not finite: a stopped or diverged trial must not steer the sampler)."""
        import optuna

        i = self._owner.get(trial_id)
        trial = None if i is None else self._groups[i].running.pop(trial_id, None)
        if trial is None:
            return
        values = [(result or {}).get(m) for m in self._metrics]
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        state = (optuna.trial.TrialState.COMPLETE if ok and not error
                 else optuna.trial.TrialState.FAIL if error else optuna.trial.TrialState.PRUNED)
        self._groups[i].study.tell(trial, [float(v) for v in values] if state.name == "COMPLETE"
                                   else None, state=state)
