"""The function Ray Tune runs for one trial: build the trial's ExperimentConfig, run it with
per-epoch checkpoints, and report progress and finished result rows to the driver."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ray import tune

from autoembed.config import ExperimentConfig, TrainConfig
from autoembed.data.base import CTRData
from autoembed.results import ResultRow, ray_node_id
from autoembed.training.state_io import load_state
from autoembed.tune.plan import Group, Trial, make_trial
from autoembed.tune.spaces import SweepSpec, import_plugins

STATE_FILE = "state.pt"
DONE_FILE = "trial_done.json"  # in the trial folder: a finished trial restarted by a resume
# (Tune snapshots its experiment state every few seconds) re-reports its rows instead of re-running
SECONDS_KEY = "trial_seconds"  # wall time of earlier attempts, kept in the checkpoint state
ROWS_KEY = "rows_json"  # reported metric carrying the new result rows (a JSON list)


@dataclass
class TrialContext:
    """What every trial shares (sent once through ``tune.with_parameters``)."""

    spec: SweepSpec
    plugins: list[str] = field(default_factory=list)
    # Local experiment folder: per-point artifacts go to <it>/artifacts/trials/<trial_id>/ so the
    # rows' paths outlive Ray's session folder. None (URI storage): the trial folder, synced.
    results_dir: str | None = None
    # A resumed sweep: the final report of every trial the driver saw finish (Tune's saved
    # state can predate it): such a trial reports it again instead of training again.
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)


class TrialReporter:
    """Collects run_experiment's callbacks and turns them into ``tune.report`` calls.

    ``save`` (after every epoch) reports the latest progress with a checkpoint; rows finished
    since the last report ride along as JSON so the driver stores them as soon as they exist.
    """

    def __init__(self, trial_id: str, trial: Trial) -> None:
        self.trial_id = trial_id
        self.base = {"dataset": trial.dataset, "model": trial.model, "method": trial.method,
                     "seed": trial.seed, "hp": trial.hp}
        self.progress: dict[str, Any] = {"phase": "", "epoch": 0, "val_auc": 0.5, "params": 0}
        self.pending: list[dict[str, Any]] = []
        self.rows: list[ResultRow] = []
        self.started = time.monotonic()
        self.earlier_seconds = 0.0  # wall time of earlier attempts (from the checkpoint)

    @property
    def seconds(self) -> float:
        """Wall seconds this trial has run, over all its attempts."""
        return self.earlier_seconds + time.monotonic() - self.started

    # --- run_experiment callbacks -------------------------------------------------------------
    def on_epoch(self, info: dict[str, Any]) -> None:
        self.progress.update({k: info[k] for k in ("phase", "epoch", "val_auc", "params") if k in info})
        if "point" in info:
            self.progress["point"] = str(info["point"])

    def on_row(self, row: ResultRow) -> None:
        self.rows.append(row)
        self.pending.append(row.to_flat())

    # --- Checkpointer protocol ----------------------------------------------------------------
    def load(self) -> dict | None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            path = Path(folder) / STATE_FILE
            if not path.is_file():  # an upload cut short (object store down): never resumable
                warnings.warn(f"checkpoint {checkpoint.path} has no {STATE_FILE} (its upload was "
                              "cut short?): the trial starts over from its first epoch", stacklevel=2)
                return None
            state = load_state(path)
        self.earlier_seconds = float(state.pop(SECONDS_KEY, 0.0))
        return state

    def save(self, state: dict, metrics: dict) -> None:
        folder = tempfile.mkdtemp(prefix="autoembed-ckpt-")
        try:
            torch.save({**state, SECONDS_KEY: self.seconds}, Path(folder) / STATE_FILE)
            self.report(metrics, tune.Checkpoint.from_directory(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # --- reporting ----------------------------------------------------------------------------
    def metrics(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {**self.base, **self.progress, "node_id": ray_node_id()}
        for k, v in (extra or {}).items():
            if isinstance(v, (int, float, str, bool)):
                out[k] = v
        if not isinstance(out.get("val_auc"), (int, float)) or math.isnan(out["val_auc"]):
            out["val_auc"] = 0.5  # schedulers and searchers need a number
        out[ROWS_KEY] = json.dumps(self.pending, default=str)
        return out

    def report(self, extra: dict[str, Any] | None = None, checkpoint: Any = None) -> None:
        tune.report(self.metrics(extra), checkpoint=checkpoint)
        self.pending = []

    def final_metrics(self) -> dict[str, Any]:
        """The trial's objective: its best point on validation AUC."""
        ok = [r for r in self.rows if r.status == "ok"]
        final: dict[str, Any] = {"done_rows": len(self.rows)}
        if ok:
            best = max(ok, key=lambda r: r.val_auc)
            final.update(val_auc=best.val_auc, params=best.params, test_auc=best.test_auc,
                         point=best.point, phase=best.phase)
        return final

    def finish(self, done_file: Path) -> None:
        """The last report; ``done_file`` keeps it so a restart re-reports instead of re-running."""
        final = self.final_metrics()
        record = {"final": final, "rows": [r.to_flat() for r in self.rows]}
        done_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = done_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, default=str))
        tmp.replace(done_file)
        self.report(final)

    def replay(self, done_file: Path) -> None:
        """Report a finished trial's record again (all rows; the driver deduplicates)."""
        record = json.loads(done_file.read_text())
        self.pending = record["rows"]
        self.report(record["final"])


def resolve_device(cfg: ExperimentConfig, gpus: float) -> str:
    """``cuda`` when this trial was given a GPU; ``cpu`` for ``auto`` otherwise (a trial without
    GPU resources must not grab one)."""
    if gpus > 0 and torch.cuda.is_available():
        return "cuda"
    return "cpu" if cfg.train.device == "auto" else cfg.train.device


def configure(cfg: ExperimentConfig, threads: int, device: str) -> ExperimentConfig:
    """``cfg`` with this worker's threads and device in its training settings (a copy)."""
    def fix(train: TrainConfig | None) -> TrainConfig | None:
        return None if train is None else dataclasses.replace(train, threads=threads, device=device)

    return dataclasses.replace(cfg, train=fix(cfg.train), search_train=fix(cfg.search_train))


def as_trial(value: Trial | dict[str, Any], spec: SweepSpec) -> Trial:
    """The trial a config holds (a ``{"group", "params"}`` dict in sweeps started before trials
    were typed: built from the spec the same way)."""
    if isinstance(value, Trial):
        return value
    return make_trial(spec, Group(**value["group"]), value["params"])


def artifacts_dir_for(context: TrialContext, trial_dir: Path, trial_id: str) -> Path:
    """Where a trial writes its feature sizes and search traces."""
    if context.results_dir is None:
        return trial_dir / "artifacts"
    return Path(context.results_dir) / "artifacts" / "trials" / trial_id


def run_trial(config: dict[str, Any], context: TrialContext, datasets: dict[str, CTRData]) -> None:
    """Ray Tune function trainable: one (dataset, model, method point, seed)."""
    from autoembed.experiment import RowStamp, run_experiment

    import_plugins(context.plugins)
    spec = context.spec
    trial = as_trial(config["trial"], spec)
    threads = max(1, int(spec.resources.cpu))
    torch.set_num_threads(threads)
    cfg = configure(trial.config, threads, resolve_device(trial.config, spec.resources.gpu))
    ctx = tune.get_context()
    trial_id = ctx.get_trial_id()
    reporter = TrialReporter(trial_id, trial)
    trial_dir = Path(ctx.get_trial_dir())
    if (trial_dir / DONE_FILE).exists():
        reporter.replay(trial_dir / DONE_FILE)
        return
    if trial_id in context.finished:  # its rows are in the driver's table already
        reporter.report(context.finished[trial_id])
        return
    run_experiment(
        cfg,
        datasets[trial.dataset],
        checkpointer=reporter,
        artifacts_dir=artifacts_dir_for(context, trial_dir, trial_id),
        on_row=reporter.on_row,
        on_epoch=reporter.on_epoch,
        # the spec's labels (two option sets, or two variants of a method, stay apart) and the
        # trial's cost so far (analysis.costs), written into each row as it is made
        stamp=RowStamp(trial.dataset, trial.method, trial_id, lambda: reporter.seconds),
    )
    reporter.finish(trial_dir / DONE_FILE)
