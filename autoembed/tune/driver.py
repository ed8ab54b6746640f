"""The sweep driver: a Ray Tune ``Tuner`` over every trial of a :class:`SweepSpec`, with
checkpoints, retries, resume, and the results table written as trials finish."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from autoembed.data.base import CTRData
from autoembed.tune import remote
from autoembed.tune.plan import count_trials, trial_configs
from autoembed.tune.results_store import FINISHED_NAME, ResultsCallback, ResultsStore, restarts
from autoembed.tune.spaces import SweepSpec, is_uri, load_spec, resolved_plugins
from autoembed.tune.summary import pareto_summary
from autoembed.tune.trainable import TrialContext, run_trial

SPEC_COPY = "sweep_spec.yaml"


@dataclass
class SweepOutcome:
    experiment_path: str  # the Tune experiment (pass it to --resume)
    results_dir: Path
    results: pd.DataFrame
    wall_seconds: float
    trials: int = 0  # trials Tune knows of
    finished: int = 0  # of those, terminated without error
    errored: int = 0  # failed for good (their rows say why)

    @property
    def failed(self) -> int:
        """Trials with a failed row: errored for good, or a point that diverged."""
        if self.results.empty or "status" not in self.results.columns:
            return self.errored
        bad = self.results[self.results["status"].fillna("ok") != "ok"]
        return max(self.errored, bad["trial_id"].nunique())

    @property
    def ok(self) -> bool:
        """Every trial ran, and every point of every trial succeeded."""
        return not (self.failed or self.unfinished)

    @property
    def unfinished(self) -> int:
        """Trials neither finished nor failed: the sweep was interrupted (resume to run them)."""
        return self.trials - self.finished - self.errored

    @property
    def csv_path(self) -> Path:
        return self.results_dir / "results.csv"

    @property
    def parquet_path(self) -> Path:
        return self.results_dir / "results.parquet"


# --- spec helpers ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def spec_to_raw(spec: SweepSpec) -> dict[str, Any]:
    """The YAML mapping that :func:`load_spec` turns back into ``spec`` (saved with the sweep)."""
    raw = dataclasses.asdict(spec)
    raw.pop("source")
    raw["methods"] = {m.label: {"method": m.method, "space": _plain(m.space), "trials": m.trials}
                      for m in spec.methods}
    raw["models"] = [{"name": m.name, "dim": m.dim, **m.params} for m in spec.models]
    raw["plugins"] = resolved_plugins(spec)
    return _plain(raw)


def smoke_spec(spec: SweepSpec, fit_to: dict[str, float] | None = None) -> SweepSpec:
    """A seconds-long version: first dataset, model and seed; one point per method; one short
    epoch. With ``fit_to`` (this machine's resources, for a local Ray) a trial asks for no more
    CPUs or GPUs than it has: a GPU spec's smoke test runs on a CPU-only laptop, and says so."""
    s = copy.deepcopy(spec)
    if fit_to is not None:
        res = s.resources
        if res.gpu > fit_to.get("GPU", 0.0):
            print(f"smoke test: the spec asks for {res.gpu:g} GPU per trial and this machine has "
                  f"{fit_to.get('GPU', 0.0):g}; the smoke trials run on the CPU")
            res.gpu = 0.0
        res.cpu = min(res.cpu, fit_to.get("CPU", res.cpu))
        if res.custom:
            print(f"smoke test: custom resources {sorted(res.custom)} are for a cluster's nodes; "
                  "the smoke trials run without them")
            res.custom = {}
    s.datasets, s.models, s.seeds = s.datasets[:1], s.models[:1], s.seeds[:1]
    for m in s.methods:
        m.space = {k: (v[:1] if isinstance(v, list) else v) for k, v in m.space.items()}
        m.trials = 1
    for train in (s.train, s.search_train):
        if train is not None:
            train.epochs, train.max_steps, train.patience = 1, 20, 1
    if s.search_train is not None:
        # a search ends at its last target, so this is a cap, not a length: a PEP threshold lr
        # given in the spec needs some steps to reach any target
        s.search_train.epochs, s.search_train.max_steps = 20, 300
    s.name = f"{spec.name}-smoke"
    return s


# --- Ray --------------------------------------------------------------------------------------
def ensure_ray(address: str | None = None) -> None:
    """Connect to ``address`` (``auto``, ``ray://...``) or start an embedded local Ray."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Per-epoch checkpoints with num_to_keep force a state snapshot each time (~10 ms); Tune
    # warns about it every few seconds. Expected here, so the warning is off.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)


def warn_missing_resources(spec: SweepSpec, address: str | None) -> None:
    """On a cluster (``address``), say what a trial needs that the cluster has not (yet: an
    autoscaler may add it)."""
    if not address:
        return
    import ray

    from autoembed.tune.preflight import missing_resources

    missing = missing_resources(spec.resources, ray.cluster_resources())
    if missing:
        print(f"warning: the cluster lacks {'; '.join(missing)}: trials stay PENDING until "
              "nodes with them join", file=sys.stderr)


def load_datasets(spec: SweepSpec) -> dict[str, CTRData]:
    """Every dataset of the sweep, parsed (or read from cache) once on the driver."""
    from autoembed.data import load_dataset

    return {d.label: load_dataset(d.data_config()) for d in spec.datasets}


def save_sweep_artifacts(spec: SweepSpec, datasets: dict[str, CTRData], results_dir: Path) -> None:
    """Per-dataset train-split frequencies (and planted sizes) plus the environment, for the
    analysis figures (sizes vs frequency, planted-size recovery) and the report."""
    from autoembed.data.base import data_split
    from autoembed.results.artifacts import save_dataset_artifacts, save_environment

    for d in spec.datasets:
        data = datasets[d.label]
        train = data_split(data, d.data_config().split_seed).train
        save_dataset_artifacts(results_dir, d.label, data.counts_in(train), data.planted_dims)
    save_environment(results_dir)


def make_trainable(
    spec: SweepSpec, datasets: dict[str, CTRData], results_dir: Path | None = None,
    finished: dict[str, dict[str, Any]] | None = None,
) -> Any:
    from ray import tune

    context = TrialContext(
        spec=spec,
        plugins=resolved_plugins(spec),
        results_dir=None if results_dir is None or is_uri(spec.storage_path) else str(results_dir),
        finished=finished or {},
    )
    shared = tune.with_parameters(run_trial, context=context, datasets=datasets)
    return tune.with_resources(shared, spec.resources.ray())


def _reporter(spec: SweepSpec) -> Any:
    from ray import tune

    return tune.CLIReporter(
        metric_columns={"method": "method", "dataset": "dataset", "seed": "seed", "hp": "point", "phase": "phase",
                        "epoch": "epoch", "val_auc": "val AUC", "params": "params"},
        parameter_columns=[],
        max_report_frequency=10,
        max_column_length=40,
        sort_by_metric=False,
    )


def _search_setup(spec: SweepSpec) -> tuple[dict[str, Any] | None, Any, int]:
    """(param_space, search_alg, num_samples) for the spec's searcher."""
    if spec.searcher.type == "optuna":
        from autoembed.tune.searcher import GroupedOptunaSearch

        search = GroupedOptunaSearch(spec)
        return None, search, search.total_trials
    return grid_space(spec), None, 1


def grid_space(spec: SweepSpec) -> dict[str, Any] | None:
    """The grid/random searchers' param space: every :class:`Trial`, as it is. (Ray keeps such
    objects out of its saved state, as placeholders: a resume passes this space again.)"""
    from ray import tune

    return None if spec.searcher.type == "optuna" else {"trial": tune.grid_search(trial_configs(spec))}


def _scheduler(spec: SweepSpec) -> Any:
    if spec.scheduler.type != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        metric="val_auc", mode="max", time_attr="training_iteration",
        grace_period=spec.scheduler.grace_period, reduction_factor=spec.scheduler.reduction_factor,
        max_t=10_000,
    )


def results_dir_for(storage_path: str, name: str) -> Path:
    """The results table lives in the experiment folder; with a URI storage, in ./results/<name>."""
    return Path("results", name).resolve() if is_uri(storage_path) else Path(storage_path, name)


def mirror_uri(exp_path: str) -> str | None:
    """The experiment URI the driver mirrors its folder to (object storage), else None."""
    return exp_path if is_uri(exp_path) else None


def _finish(tuner: Any, exp_path: str, results_dir: Path, start: float, verbose: bool) -> SweepOutcome:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # show the CLIReporter table
    grid = tuner.fit()
    store = ResultsStore(results_dir, mirror_uri(exp_path)).load()
    store.sync()  # the bucket holds the final table (or a clear error says it does not)
    df = store.frame()
    outcome = SweepOutcome(exp_path, results_dir, df, time.monotonic() - start, trials=len(grid),
                           finished=grid.num_terminated, errored=grid.num_errors)
    if verbose:
        print(f"\nresults ({len(df)} rows): {outcome.parquet_path}\n          {outcome.csv_path}")
        print(f"experiment: {exp_path}  (resume with: autoembed sweep --resume {exp_path})")
        print(pareto_summary(df))
        print(f"sweep wall time: {outcome.wall_seconds:.1f} s")
        again = restarts(results_dir)
        if again["epochs_twice"] or again["finished_rerun"]:
            print(f"restarts: {again['epochs_twice']} epoch(s) trained twice, "
                  f"{again['finished_rerun']} finished trial(s) re-run")
    if not outcome.ok:
        print(f"sweep incomplete: {outcome.failed} of {outcome.trials} trial(s) failed (their rows "
              f"say why), {outcome.unfinished} unfinished (interrupted); resume with: "
              f"autoembed sweep --resume {exp_path}", file=sys.stderr)
    return outcome


def run_sweep(
    spec: SweepSpec,
    *,
    name: str | None = None,
    storage_path: str | None = None,
    address: str | None = None,
    smoke_test: bool = False,
    verbose: bool = True,
) -> SweepOutcome:
    """Run every trial of ``spec`` with Ray Tune; returns the results table."""
    from ray import tune

    from autoembed.tune.preflight import check_spec, local_resources

    start = time.monotonic()
    if smoke_test:
        spec = smoke_spec(spec, fit_to=None if address else local_resources())
    check_spec(spec, address)  # before any folder, data or Ray
    if storage_path:
        spec.storage_path = storage_path if is_uri(storage_path) else os.path.abspath(storage_path)
    name = name or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    results_dir = results_dir_for(spec.storage_path, name)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / SPEC_COPY).write_text(yaml.safe_dump(spec_to_raw(spec), sort_keys=False))
    if verbose:
        print(f"sweep {spec.name!r}: {count_trials(spec)} trial(s) -> {results_dir}")

    datasets = load_datasets(spec)
    save_sweep_artifacts(spec, datasets, results_dir)
    exp_path = f"{spec.storage_path.rstrip('/')}/{name}"
    ResultsStore(results_dir, mirror_uri(exp_path)).sync()  # spec + artifacts before any trial
    ensure_ray(address)
    warn_missing_resources(spec, address)
    param_space, search_alg, num_samples = _search_setup(spec)
    tuner = tune.Tuner(
        make_trainable(spec, datasets, results_dir),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=_scheduler(spec),
            num_samples=num_samples,
            max_concurrent_trials=spec.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: f"{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=spec.storage_path,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoints_to_keep),
            callbacks=[ResultsCallback(str(results_dir), mirror_uri(exp_path))],
            progress_reporter=_reporter(spec) if verbose else None,
            verbose=1 if verbose else 0,
        ),
    )
    return _finish(tuner, exp_path, results_dir, start, verbose)


def fetch_experiment(uri: str, results_dir: Path) -> None:
    """Bring an experiment's own files from object storage into ``results_dir`` (a fresh
    driver has none); rows and epoch lines already here are kept, joined with the bucket's."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="autoembed-fetch-") as tmp:
        got = remote.fetch(uri, Path(tmp))
        results_dir.mkdir(parents=True, exist_ok=True)
        store = ResultsStore(tmp).load()  # the bucket's rows, then this driver's over them
        store.folder = results_dir
        store.load()
        for path in got:
            rel = path.relative_to(tmp)
            local = results_dir / rel
            if rel.name == "epochs.csv" and local.exists():
                log = pd.concat([pd.read_csv(path), pd.read_csv(local)]).drop_duplicates()
                log.sort_values("time").to_csv(local, index=False)
            elif rel.name == FINISHED_NAME and local.exists():
                both = {**json.loads(path.read_text()), **json.loads(local.read_text())}
                local.write_text(json.dumps(both, sort_keys=True))
            elif not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(path.read_bytes())
        if store.rows:
            store.write()


def resume_sweep(path: str, *, address: str | None = None, verbose: bool = True) -> SweepOutcome:
    """Continue an interrupted sweep: unfinished and errored trials run (from their last
    checkpoint); finished ones are kept as they are."""
    from ray import tune

    start = time.monotonic()
    path = path if is_uri(path) else os.path.abspath(path)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    storage = path.rstrip("/").rsplit("/", 1)[0]
    results_dir = results_dir_for(storage, name)
    if is_uri(path):
        fetch_experiment(path, results_dir)
    spec_file = results_dir / SPEC_COPY
    if not spec_file.exists():
        raise FileNotFoundError(
            f"{spec_file} not found: --resume takes the experiment folder a sweep printed "
            "(<storage_path>/<name>)"
        )
    spec = load_spec(spec_file)
    if not tune.Tuner.can_restore(path):
        raise FileNotFoundError(f"{path} holds no Ray Tune experiment state to resume")
    datasets = load_datasets(spec)
    ensure_ray(address)
    tuner = tune.Tuner.restore(
        path, make_trainable(spec, datasets, results_dir, ResultsStore(results_dir).finished()),
        resume_unfinished=True,
        resume_errored=True, param_space=grid_space(spec),
    )
    run_config = tuner._local_tuner.get_run_config() if tuner._local_tuner else None
    for cb in (run_config.callbacks or []) if run_config else []:
        if isinstance(cb, ResultsCallback):
            cb.folder = str(results_dir)  # the experiment may have moved since it was pickled
            cb.remote = mirror_uri(path)
    return _finish(tuner, path, results_dir, start, verbose)
