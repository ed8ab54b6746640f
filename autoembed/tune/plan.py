"""From a :class:`SweepSpec` to trials: the groups, the grid/random points, and the typed
:class:`Trial` (the :class:`ExperimentConfig` it runs and the labels its rows carry) that the
driver builds once and ships to Ray as it is."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoembed.config import ExperimentConfig, ModelConfig
from autoembed.tune.spaces import Distribution, MethodSpace, SweepSpec


@dataclass(frozen=True)
class Group:
    """Trials of one method on one dataset and model with one seed (an equal-budget unit)."""

    dataset: str
    model: str
    method: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.method}/seed={self.seed}"


@dataclass(frozen=True)
class Trial:
    """One trial as it crosses Ray: the experiment it runs, the spec's labels its rows carry
    (two option sets of a dataset, or two variants of a method, stay apart) and its sampled
    point. Built once on the driver (grid, random or from Optuna's proposal), never changed."""

    config: ExperimentConfig
    dataset: str  # the dataset's label in the spec
    model: str  # the model's label (``fm``, or ``fm#1`` where names repeat)
    method: str  # the method's label
    params: dict[str, Any] = field(default_factory=dict)  # the sampled point (its search keys)

    @property
    def seed(self) -> int:
        return self.config.train.seed

    @property
    def hp(self) -> str:
        return point_label(self.params)


def make_trial(spec: SweepSpec, group: Group, params: dict[str, Any]) -> Trial:
    """The trial of ``group`` at point ``params``; the configs check themselves as they are built."""
    return Trial(experiment_config(spec, group, params), group.dataset, group.model, group.method,
                 dict(params))


def model_labels(models: list[ModelConfig]) -> list[str]:
    """A name per model: its ``name``, suffixed ``#i`` where names repeat."""
    names = [m.name for m in models]
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]


def groups(spec: SweepSpec) -> list[tuple[Group, MethodSpace]]:
    out = []
    for d in spec.datasets:
        for m in model_labels(spec.models):
            for ms in spec.methods:
                for s in spec.seeds:
                    out.append((Group(d.label, m, ms.label, s), ms))
    return out


def grid_points(space: MethodSpace) -> list[dict[str, Any]]:
    """Every combination of the list-valued parameters, with the fixed ones."""
    axes = space.axes()
    keys = list(axes)
    return [
        {**space.fixed(), **dict(zip(keys, combo, strict=True))}
        for combo in itertools.product(*(axes[k] for k in keys))
    ]


def _sample(dist: Distribution | list, rng: np.random.Generator) -> Any:
    if isinstance(dist, list):
        return dist[int(rng.integers(len(dist)))]
    if dist.type == "choice":
        values = dist.values or []
        return values[int(rng.integers(len(values)))]
    low, high = float(dist.low), float(dist.high)  # type: ignore[arg-type]
    if dist.type == "uniform":
        return float(rng.uniform(low, high))
    if dist.type == "loguniform":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if dist.log:
        return int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))
    return int(rng.integers(int(low), int(high) + 1))


def random_points(space: MethodSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` points drawn from the lists and distributions, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    varying = {**space.axes(), **space.distributions()}
    return [{**space.fixed(), **{k: _sample(v, rng) for k, v in varying.items()}} for _ in range(n)]


def point_label(params: dict[str, Any]) -> str:
    """A short, readable name of a trial's sampled point (scalar values only)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    scalars = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))}
    return ",".join(f"{k.split('.')[-1]}={fmt(v)}" for k, v in sorted(scalars.items())) or "-"


def stable_seed(*parts: Any) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def trial_configs(spec: SweepSpec) -> list[Trial]:
    """Grid or random searcher: every trial."""
    out = []
    for group, space in groups(spec):
        if spec.searcher.type == "grid":
            points = grid_points(space)
        else:
            seed = stable_seed(spec.searcher.seed, group.label)
            points = random_points(space, space.trials, seed)
        out.extend(make_trial(spec, group, p) for p in points)
    return out


def _override(cfg: Any, values: dict[str, Any]) -> Any:
    return dataclasses.replace(cfg, **values) if values else cfg


def _model_override(model: ModelConfig, values: dict[str, Any]) -> ModelConfig:
    """``model`` with ``model.<f>`` space values: ``dim`` itself, the rest into its params."""
    values = dict(values)
    dim = values.pop("dim", model.dim)
    return ModelConfig(model.name, dim, {**copy.deepcopy(model.params), **values})


def experiment_config(spec: SweepSpec, group: Group, params: dict[str, Any]) -> ExperimentConfig:
    """What one trial runs: the group's dataset/model/method/seed with the sampled ``params``
    (``model.<f>``/``train.<f>`` keys override those configs, ``search.<f>`` the search phase's
    training only; the rest are method hyperparameters)."""
    dataset = next(d for d in spec.datasets if d.label == group.dataset)
    method = next(m for m in spec.methods if m.label == group.method)
    model = spec.models[model_labels(spec.models).index(group.model)]
    scoped: dict[str, dict[str, Any]] = {"model": {}, "train": {}, "search": {}}
    method_params = {}
    for key, value in params.items():
        if "." in key:
            scope, name = key.split(".", 1)
            scoped[scope][name] = value
        else:
            method_params[key] = value
    seed = {"seed": int(group.seed)}
    train = _override(copy.deepcopy(spec.train), {**scoped["train"], **seed})
    search_train = None
    if spec.search_train is not None or scoped["search"]:
        base = copy.deepcopy(spec.search_train or spec.train)
        search_train = _override(base, {**scoped["train"], **scoped["search"], **seed})
    return ExperimentConfig(
        data=dataset.data_config(),
        model=_model_override(model, scoped["model"]),
        method=method.method,
        method_params=method_params,
        train=train,
        search_train=search_train,
    )


def count_trials(spec: SweepSpec) -> int:
    if spec.searcher.type == "grid":
        return len(trial_configs(spec))
    return sum(space.trials for _, space in groups(spec))


