"""Everything a sweep needs, checked before Ray starts.

For every group's grid point (random and Optuna searchers: every listed value and both ends of
every distribution) the trial's real configs are built (method, model, train, data) and run
their own checks; the datasets' raw files must exist; and resources the machine cannot give a
trial are an error (on a cluster, ``--address``: a warning naming what is missing)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from autoembed.config import ExperimentConfig
from autoembed.tune.plan import grid_points, groups, make_trial, point_label
from autoembed.tune.spaces import MethodSpace, ResourcesSpec, SweepSpec
from autoembed.typed import SpecError

MAX_CORNERS = 4096  # beyond this many combinations, each value is checked on its own


@dataclass
class CheckReport:
    points: int = 0  # trial configs built and checked
    unchecked_methods: list[str] = field(default_factory=list)  # registered by plugins not imported
    warnings: list[str] = field(default_factory=list)


# --- one function per kind (the registries answer) ------------------------------------------
def check_method(name: str, params: dict[str, Any]) -> Any:
    """The method's typed config built from ``params`` (its own checks run)."""
    from autoembed.embeddings.registry import get_method, make_config

    return make_config(get_method(name), dict(params))


def check_model(cfg: Any) -> None:
    from autoembed.models import check_model_config

    check_model_config(cfg)


def check_data(cfg: Any, files: bool) -> None:
    from autoembed.data.loader import check_data_config

    check_data_config(cfg, files=files)


def check_experiment(cfg: ExperimentConfig) -> None:
    """Build what one trial builds before it touches data: method and model configs. (Train
    configs check themselves when built; data configs are checked once per dataset.)"""
    check_model(cfg.model)
    check_method(cfg.method, cfg.method_params)


# --- points ---------------------------------------------------------------------------------
def corner_points(space: MethodSpace, searcher: str) -> list[dict[str, Any]]:
    """The points that stand for ``space``: the grid, or every list value and both ends of every
    distribution (all combinations up to ``MAX_CORNERS``, else one value varied at a time)."""
    if searcher == "grid":
        return grid_points(space)
    axes = {**space.axes(), **{k: d.candidates() for k, d in space.distributions().items()}}
    keys = list(axes)
    total = 1
    for values in axes.values():
        total *= len(values)
    if total <= MAX_CORNERS:
        combos = itertools.product(*(axes[k] for k in keys))
        return [{**space.fixed(), **dict(zip(keys, c, strict=True))} for c in combos]
    base = {**space.fixed(), **{k: v[0] for k, v in axes.items()}}
    return [{**base, k: v} for k in keys for v in axes[k]]


def check_points(spec: SweepSpec) -> CheckReport:
    """Build and check the configs of every corner point of every (model, method); the datasets'
    names and options too. Raises :class:`SpecError` naming the first bad point."""
    report = CheckReport()
    for i, d in enumerate(spec.datasets):
        _checked(f"datasets[{i}] ({d.label})", lambda d=d: check_data(d.data_config(), files=False))
    seen = set()
    for group, space in groups(spec):
        if (group.model, group.method) in seen:
            continue  # datasets and seeds do not change what is checked
        seen.add((group.model, group.method))
        if space.plugin_unchecked:
            report.unchecked_methods.append(space.label)
            continue
        for point in corner_points(space, spec.searcher.type):
            where = f"methods.{space.label} at {point_label(point)} (model {group.model})"
            _checked(where, lambda p=point, g=group: check_experiment(make_trial(spec, g, p).config))
            report.points += 1
    return report


def _checked(where: str, check: Any) -> None:
    try:
        check()
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except (ValueError, TypeError, KeyError, ImportError, FileNotFoundError) as exc:
        raise SpecError(f"{where}: {exc}") from None


# --- environment ----------------------------------------------------------------------------
def local_resources() -> dict[str, float]:
    """What an embedded local Ray would offer: this machine's CPUs and CUDA GPUs."""
    import torch

    return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}


def missing_resources(res: ResourcesSpec, available: dict[str, float]) -> list[str]:
    """What one trial asks for that ``available`` (Ray's resource names) does not have."""
    out = []
    for key, need in (("CPU", res.cpu), ("GPU", res.gpu), *res.custom.items()):
        have = float(available.get(key, 0.0))
        if need > have:
            out.append(f"{need:g} {key} per trial, but {have:g} available")
    return out


def check_spec(spec: SweepSpec, address: str | None = None) -> CheckReport:
    """Everything above plus the raw files and, for a local Ray (no ``address``), the resources.
    Imports no plugin and writes nothing."""
    report = check_points(spec)
    for i, d in enumerate(spec.datasets):
        _checked(f"datasets[{i}] ({d.label})", lambda d=d: check_data(d.data_config(), files=True))
    if address is None:
        missing = missing_resources(spec.resources, local_resources())
        if missing:
            raise SpecError(
                f"resources: {'; '.join(missing)} on this machine, so no trial could ever start; "
                "lower resources.cpu/gpu, or run on a cluster that has them (--address)"
            )
    return report
