"""Sweep specifications (``search_spaces/*.yaml``): schema, validation and loading.

Everything is checked here, before Ray starts: an unknown key lists the allowed ones, an
unknown method lists the registered ones, a bad value names its key and what was expected.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoembed.config import DataConfig, ModelConfig, TrainConfig
from autoembed.typed import SpecError, build, check_keys, check_value, field_types, read_yaml

SEARCHERS = ("grid", "random", "optuna")
SAMPLERS = ("tpe", "nsga2")
SCHEDULERS = ("fifo", "asha")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
MODES = ("max", "min")


@dataclass
class Distribution:
    """A sampled hyperparameter: ``uniform``/``loguniform``/``int`` over [low, high], or ``choice``."""

    type: str
    low: float | None = None
    high: float | None = None
    values: list | None = None
    log: bool = False  # int only: sample on a log scale

    def __post_init__(self) -> None:
        if self.type not in DISTRIBUTIONS:
            raise ValueError(f"type must be one of {', '.join(DISTRIBUTIONS)}, got {self.type!r}")
        if self.type == "choice":
            if not self.values:
                raise ValueError("a choice needs a non-empty 'values' list")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.type} needs numbers low < high, got low={self.low} high={self.high}")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got {self.low}")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"int needs integer bounds, got low={self.low} high={self.high}")

    def candidates(self) -> list:
        """Values to check against the parameter's type."""
        if self.type == "choice":
            return list(self.values or [])
        if self.type == "int":
            return [int(self.low), int(self.high)]  # type: ignore[arg-type]
        return [self.low, self.high]


# A parameter is fixed (a scalar), a grid axis / choice (a list) or a distribution.
ParamSpace = Any


@dataclass
class MethodSpace:
    """One method's search space. Keys are the method's hyperparameters, or ``model.<field>`` /
    ``train.<field>`` to vary the model or training settings for this method only
    (``search.<field>``: the search phase's training settings only, e.g. ``search.epochs``).
    In YAML the key under ``methods:`` names the method, or is a label when the entry says
    ``method: <name>`` (two variants of one method, e.g. ``pep`` and ``pep-prefix``)."""

    method: str
    space: dict[str, ParamSpace] = field(default_factory=dict)
    trials: int = 1  # random / optuna: samples per (dataset, model, seed) group
    label: str = ""  # name in results; defaults to ``method`` (set it to compare two variants)
    plugin_unchecked: bool = False  # loaded without plugins: the method is a plugin's, unchecked

    def __post_init__(self) -> None:
        self.label = self.label or self.method

    def fixed(self) -> dict[str, Any]:
        return {k: v for k, v in self.space.items() if not isinstance(v, (list, Distribution))}

    def axes(self) -> dict[str, list]:
        return {k: v for k, v in self.space.items() if isinstance(v, list)}

    def distributions(self) -> dict[str, Distribution]:
        return {k: v for k, v in self.space.items() if isinstance(v, Distribution)}


@dataclass
class Objective:
    metric: str = "val_auc"
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be max or min, got {self.mode!r}")


@dataclass
class SearcherSpec:
    type: str = "grid"  # grid | random | optuna
    sampler: str = "tpe"  # optuna: tpe (single objective) | nsga2 (multi-objective)
    objectives: list = field(default_factory=list)  # of Objective; default by sampler
    seed: int = 0

    def __post_init__(self) -> None:
        if self.type not in SEARCHERS:
            raise ValueError(f"type must be one of {', '.join(SEARCHERS)}, got {self.type!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if not self.objectives:
            self.objectives = [Objective("val_auc", "max")]
            if self.sampler == "nsga2":
                self.objectives.append(Objective("params", "min"))
        else:
            self.objectives = [
                o if isinstance(o, Objective) else build(Objective, o, f"searcher.objectives[{i}]")
                for i, o in enumerate(self.objectives)
            ]


@dataclass
class SchedulerSpec:
    type: str = "fifo"  # fifo | asha (stops the trials whose val AUC trails, per epoch)
    grace_period: int = 1
    reduction_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.type not in SCHEDULERS:
            raise ValueError(f"type must be one of {', '.join(SCHEDULERS)}, got {self.type!r}")
        if self.grace_period < 1 or self.reduction_factor <= 1:
            raise ValueError("asha needs grace_period >= 1 and reduction_factor > 1")


@dataclass
class ResourcesSpec:
    cpu: float = 1.0  # CPUs per trial (also torch threads)
    gpu: float = 0.0  # GPUs per trial; fractional (0.25) packs several trials on one GPU
    # Ray custom resources per trial ({name: amount}): only nodes started with them
    # (`ray start --resources`) run the trials, e.g. to pin a sweep to a node group
    custom: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cpu <= 0:
            raise ValueError(f"cpu must be > 0, got {self.cpu}")
        if self.gpu < 0:
            raise ValueError(f"gpu must be >= 0, got {self.gpu}")
        for name, amount in self.custom.items():
            if not isinstance(name, str) or name.upper() in ("CPU", "GPU"):
                raise ValueError(f"custom: {name!r} is not a custom resource name (cpu and gpu "
                                 "have their own keys)")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
                raise ValueError(f"custom.{name} must be a number > 0, got {amount!r}")

    def ray(self) -> dict[str, float]:
        """One trial's request in Ray's terms."""
        return {"cpu": self.cpu, "gpu": self.gpu, **{k: float(v) for k, v in self.custom.items()}}


@dataclass
class DatasetSpec:
    name: str
    options: dict = field(default_factory=dict)
    root: str | None = None
    split_seed: int = 2021
    cache_dir: str | None = None
    label: str = ""  # name in results; defaults to ``name`` (set it to compare two option sets)

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def data_config(self) -> DataConfig:
        return DataConfig(self.name, self.root, dict(self.options), self.split_seed, self.cache_dir)


@dataclass
class SweepSpec:
    """A whole study: every (dataset, model, method point, seed) it will train."""

    name: str
    datasets: list[DatasetSpec]
    models: list[ModelConfig]
    methods: list[MethodSpace]
    seeds: list[int] = field(default_factory=lambda: [0])
    train: TrainConfig = field(default_factory=TrainConfig)
    search_train: TrainConfig | None = None
    searcher: SearcherSpec = field(default_factory=SearcherSpec)
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    max_concurrent: int | None = None  # None: as many as the resources allow
    storage_path: str = "results/sweeps"  # local folder (relative to cwd) or a URI (s3://, gs://)
    max_failures: int = 1  # retries of a failing trial (each resumes from its last checkpoint)
    checkpoints_to_keep: int = 2
    plugins: list[str] = field(default_factory=list)  # modules or .py files registering plugins
    description: str = ""
    source: str = ""  # the YAML file it was loaded from

    @property
    def multi_objective(self) -> bool:
        return len(self.searcher.objectives) > 1


TOP_LEVEL_KEYS = tuple(f.name for f in dataclasses.fields(SweepSpec) if f.name != "source")
REQUIRED_KEYS = ("name", "datasets", "models", "methods")


def _shorthand(value: Any) -> Any:
    """``searcher: optuna`` means ``searcher: {type: optuna}`` (same for scheduler)."""
    return {"type": value} if isinstance(value, str) else value


def _list_of(value: Any, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: expected a non-empty list, got {value!r}")
    return value


def is_uri(path: str) -> bool:
    return "://" in path


def import_plugins(plugins: list[str], base: Path | None = None) -> None:
    """Import plugin modules (dotted names, or ``.py`` files relative to ``base``) so that they
    register their methods, models or datasets (``register_method``, ``register_model``,
    ``register_dataset``) where they are not pip-installed with entry points."""
    for entry in plugins:
        if entry.endswith(".py"):
            path = Path(entry)
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.exists():
                raise SpecError(f"plugins: file {str(path)!r} does not exist")
            mod_name = f"autoembed_plugin_{path.stem}"
            if mod_name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            try:
                importlib.import_module(entry)
            except ImportError as exc:
                raise SpecError(f"plugins: cannot import module {entry!r}: {exc}") from None


def resolved_plugins(spec: SweepSpec) -> list[str]:
    """Plugin entries with ``.py`` files made absolute (trials run in other folders)."""
    base = Path(spec.source).parent if spec.source else Path.cwd()
    return [str((base / p).resolve()) if p.endswith(".py") else p for p in spec.plugins]


def _parse_param(value: Any, where: str) -> ParamSpace:
    if isinstance(value, dict):
        return build(Distribution, value, where)
    if isinstance(value, list) and not value:
        raise SpecError(f"{where}: an empty list of values")
    return value


def _param_type(key: str, method_cls: type, where: str, models: list[ModelConfig]) -> Any:
    """The declared type of space key ``key`` (a method hyperparameter or model./train. field)."""
    if "." in key:
        scope, name = key.split(".", 1)
        if scope == "model":
            return _model_param_type(name, models, where)
        scopes = {"train": TrainConfig, "search": TrainConfig}
        if scope not in scopes:
            raise SpecError(
                f"{where}: unknown scope {scope!r} in {key!r}; use a hyperparameter of "
                f"{method_cls.name!r}, model.<field>, train.<field> or search.<field>"
            )
        types_ = field_types(scopes[scope])
        if name not in types_:
            raise SpecError(
                f"{where}: {scope} has no field {name!r}; allowed: {', '.join(types_)}"
            )
        return types_[name]
    types_ = _config_types(method_cls)
    if key not in types_:
        raise SpecError(
            f"{where}: unknown hyperparameter {key!r} for method {method_cls.name!r}; "
            f"allowed: {', '.join(types_) or '(none)'}, or model.<field> / train.<field> / search.<field>"
        )
    return types_[key]


def _config_types(cls: type) -> dict[str, Any]:
    """Field types of a plugin's ``Config`` (``Any`` where a plugin's annotations do not resolve)."""
    try:
        return field_types(cls.Config)
    except Exception:  # unresolvable annotations in a plugin: check names only
        return {f.name: Any for f in dataclasses.fields(cls.Config)}


def _model_param_type(name: str, models: list[ModelConfig], where: str) -> Any:
    """``model.<name>``: ``dim``, or a parameter every model of the spec has."""
    from autoembed.models import get_model

    if name == "dim":
        return int
    types_ = {m.name: _config_types(get_model(m.name)) for m in models}
    lacking = sorted({m for m, t in types_.items() if name not in t})
    if lacking:
        common = set.intersection(*(set(t) for t in types_.values()))
        allowed = ["dim", *sorted(common)]
        raise SpecError(
            f"{where}: model(s) {lacking} have no parameter {name!r}; allowed for every model of "
            f"this spec: {', '.join(allowed)} (give a model its own values under models:)"
        )
    return next(iter(types_.values()))[name]


def _plugin(registry: Any, name: str, where: str) -> type:
    """``registry.get(name)`` with its error (unknown name, failed import) as a SpecError."""
    from autoembed.plugins import UnknownPluginError

    try:
        return registry.get(name)
    except (UnknownPluginError, ImportError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _is_sequence_type(tp: Any) -> bool:
    args = [tp, *typing.get_args(tp)]
    return any(t in (tuple, list) or typing.get_origin(t) in (tuple, list) for t in args)


METHOD_KEYS = ("method", "space", "trials")


def _parse_method(
    label: str, raw: Any, searcher: SearcherSpec, models: list[ModelConfig], lenient: bool = False
) -> MethodSpace:
    """``methods.<label>``: the label names the method, unless ``method:`` names it (then the
    label is the name in results, so two variants of one method stay apart)."""
    from autoembed.embeddings.registry import METHODS
    from autoembed.plugins import UnknownPluginError

    where = f"methods.{label}"
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping with keys among {', '.join(METHOD_KEYS)}, got {raw!r}")
    check_keys(METHOD_KEYS, raw, where, SpecError)
    name = check_value(raw.get("method", label), str, f"{where}.method")
    try:
        cls = METHODS.get(name)
    except UnknownPluginError as exc:
        if lenient:  # maybe a plugin's method; the plugins were not imported
            space = {k: _parse_param(v, f"{where}.space.{k}") for k, v in (raw.get("space") or {}).items()}
            return MethodSpace(name, space, raw.get("trials", 1), label, plugin_unchecked=True)
        raise SpecError(f"{where}: {exc}") from None
    except ImportError as exc:
        raise SpecError(f"{where}: {exc}") from None
    space_raw = raw.get("space") or {}
    if not isinstance(space_raw, dict):
        raise SpecError(f"{where}.space: expected a mapping of parameter -> values, got {space_raw!r}")
    trials = check_value(raw.get("trials", 1), int, f"{where}.trials")
    if trials < 1:
        raise SpecError(f"{where}.trials: expected an integer >= 1, got {trials}")
    space = {}
    for key, value in space_raw.items():
        pwhere = f"{where}.space.{key}"
        param = _parse_param(value, pwhere)
        tp = _param_type(key, cls, pwhere, models)
        if isinstance(param, Distribution):
            if searcher.type == "grid":
                raise SpecError(
                    f"{pwhere}: a {param.type} distribution needs searcher random or optuna; "
                    "the grid searcher takes a list of values"
                )
            for v in param.candidates():
                check_value(v, tp, pwhere)
            if param.type == "choice":
                param.values = [check_value(v, tp, pwhere) for v in param.values or []]
        elif isinstance(param, list) and not (
            _is_sequence_type(tp) and not any(isinstance(v, list) for v in param)
        ):
            param = [check_value(v, tp, f"{pwhere}[{i}]") for i, v in enumerate(param)]
        else:  # a fixed value (a plain list for a tuple-typed parameter is one value)
            param = check_value(param, tp, pwhere)
        space[key] = param
    return MethodSpace(name, space, trials, label)


MODEL_KEYS = ("name", "dim")
# The one flat ModelConfig of sweeps saved before models had their own configs held all of these;
# such an entry is read with the keys its model does not have dropped (they were ignored then).
LEGACY_MODEL_KEYS = ("dnn_hidden", "dropout", "batch_norm", "attention_layers", "attention_heads",
                     "attention_dim", "residual")


def _parse_model(raw: Any, where: str) -> ModelConfig:
    """``models[i]``: a name, or ``{name, dim, <the model's own parameters>}`` (flat)."""
    from autoembed.models.registry import MODELS

    raw = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a model name or a mapping with a name, got {raw!r}")
    name = check_value(raw.get("name", ModelConfig.name), str, f"{where}.name")
    cls = _plugin(MODELS, name, where)
    if set(LEGACY_MODEL_KEYS) <= set(raw):
        raw = {k: v for k, v in raw.items() if k not in LEGACY_MODEL_KEYS or k in _config_types(cls)}
    params = {k: v for k, v in raw.items() if k not in MODEL_KEYS}
    check_keys([*MODEL_KEYS, *_config_types(cls)], raw, f"{where} (model {name!r})", SpecError)
    config = build(cls.Config, params, where)
    try:
        return ModelConfig(name, check_value(raw.get("dim", ModelConfig.dim), int, f"{where}.dim"),
                           {k: getattr(config, k) for k in params})
    except ValueError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _parse_models(raw: Any) -> list[ModelConfig]:
    return [_parse_model(m, f"models[{i}]") for i, m in enumerate(_list_of(raw, "models"))]


def _check_dataset(d: DatasetSpec, where: str) -> None:
    """The options of a dataset entry against its plugin's typed ``Config``."""
    from autoembed.data.registry import DATASETS, RESERVED

    cls = _plugin(DATASETS, d.name, where)
    check_keys([*_config_types(cls), *RESERVED], d.options, f"{where}.options (dataset {d.name!r})", SpecError)
    build(cls.Config, {k: v for k, v in d.options.items() if k not in RESERVED}, f"{where}.options")


def _parse_datasets(raw: Any) -> list[DatasetSpec]:
    datasets = []
    for i, d in enumerate(_list_of(raw, "datasets")):
        d = {"name": d} if isinstance(d, str) else d
        datasets.append(build(DatasetSpec, d, f"datasets[{i}]"))
        _check_dataset(datasets[-1], f"datasets[{i}]")
    labels = [d.label for d in datasets]
    if len(set(labels)) != len(labels):
        raise SpecError(f"datasets: duplicate labels {labels}; give each a distinct 'label'")
    return datasets


def parse_spec(raw: Any, source: str = "", load_plugins: bool = True) -> SweepSpec:
    """A validated :class:`SweepSpec` from the YAML mapping ``raw``: every point's configs are
    built and checked (:func:`autoembed.tune.preflight.check_points`). Without
    ``load_plugins`` the spec's plugins are not imported and methods only they register are
    left unchecked (``MethodSpace.plugin_unchecked``)."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source or 'spec'}: expected a mapping at top level, got {type(raw).__name__}")
    check_keys(TOP_LEVEL_KEYS, raw, source or "spec", SpecError)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise SpecError(f"{source or 'spec'}: missing required key(s) {missing}")
    base = Path(source).parent if source else None
    plugins = [check_value(p, str, f"plugins[{i}]") for i, p in enumerate(raw.get("plugins") or [])]
    if load_plugins:
        import_plugins(plugins, base)

    searcher = build(SearcherSpec, _shorthand(raw.get("searcher", "grid")), "searcher")
    methods_raw = raw["methods"]
    if not isinstance(methods_raw, dict) or not methods_raw:
        raise SpecError("methods: expected a mapping of method name -> {space, trials}")
    seeds = [check_value(s, int, f"seeds[{i}]") for i, s in enumerate(_list_of(raw.get("seeds", [0]), "seeds"))]
    search_train = raw.get("search_train")
    storage = check_value(raw.get("storage_path", "results/sweeps"), str, "storage_path")
    models = _parse_models(raw["models"])
    spec = SweepSpec(
        name=check_value(raw["name"], str, "name"),
        datasets=_parse_datasets(raw["datasets"]),
        models=models,
        methods=[_parse_method(n, m, searcher, models, lenient=bool(plugins) and not load_plugins)
                 for n, m in methods_raw.items()],
        seeds=seeds,
        train=build(TrainConfig, raw.get("train"), "train"),
        search_train=None if search_train is None else build(TrainConfig, search_train, "search_train"),
        searcher=searcher,
        scheduler=build(SchedulerSpec, _shorthand(raw.get("scheduler", "fifo")), "scheduler"),
        resources=build(ResourcesSpec, raw.get("resources"), "resources"),
        max_concurrent=check_value(raw.get("max_concurrent"), int | None, "max_concurrent"),
        storage_path=storage if is_uri(storage) else os.path.abspath(storage),
        max_failures=check_value(raw.get("max_failures", 1), int, "max_failures"),
        checkpoints_to_keep=check_value(raw.get("checkpoints_to_keep", 2), int, "checkpoints_to_keep"),
        plugins=plugins,
        description=check_value(raw.get("description", ""), str, "description"),
        source=source,
    )
    if spec.max_concurrent is not None and spec.max_concurrent < 1:
        raise SpecError(f"max_concurrent: expected an integer >= 1, got {spec.max_concurrent}")
    if spec.max_failures < 0:
        raise SpecError(f"max_failures: expected an integer >= 0, got {spec.max_failures}")
    if spec.checkpoints_to_keep < 1:
        raise SpecError(f"checkpoints_to_keep: expected an integer >= 1, got {spec.checkpoints_to_keep}")
    from autoembed.tune.preflight import check_points  # it builds on this module

    check_points(spec)
    return spec


def load_spec(path: str | os.PathLike, load_plugins: bool = True) -> SweepSpec:
    """Read and validate a search-space YAML file (see :func:`parse_spec`)."""
    path = Path(path)
    raw = read_yaml(path, "search space file", " (see search_spaces/)")
    return parse_spec(raw, str(path.resolve()), load_plugins)
