"""One trial end to end: data -> split -> embedding method -> model -> train (search phase, then
one retrain per found point for two-phase methods) -> one :class:`ResultRow` per evaluated point.

Resumable: after every epoch of every phase the whole run state goes to a :class:`Checkpointer`;
a run started with a checkpointer that holds a state continues from it exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from autoembed.config import ExperimentConfig, TrainConfig
from autoembed.data.base import CTRData, Split, data_split
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, RetrainPoint, SearchContext
from autoembed.embeddings.registry import get_method, make_config
from autoembed.models import build_model
from autoembed.results import ResultRow, git_revision
from autoembed.training.denormals import flush_denormals
from autoembed.training.metrics import bayes_auc as teacher_auc
from autoembed.training.records import EpochRecord, TrainResult
from autoembed.training.seeding import seed_everything
from autoembed.training.state_io import load_state, trusting
from autoembed.training.trainer import DivergedError, Trainer

STATE_VERSION = 1


class Checkpointer(Protocol):
    """Where a run keeps its resumable state (the Ray driver passes one backed by Tune)."""

    def load(self) -> dict | None: ...

    def save(self, state: dict, metrics: dict) -> None: ...


class FileCheckpointer:
    """A checkpointer in one file (``torch.save``; written atomically; loaded through
    :func:`load_state`, which runs no code from the file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        return load_state(self.path)

    def save(self, state: dict, metrics: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class RowStamp:
    """What a run's rows say beyond the run itself: the driver's names for it. Rows are made
    complete, never patched afterwards."""

    dataset: str = ""  # the dataset's label (default: its name)
    method: str = ""  # the method's label (default: its registered name)
    trial_id: str = ""
    clock: Callable[[], float] | None = None  # the trial's wall seconds so far (info.trial_seconds)


@dataclass
class _Run:
    """What a trial carries between phases; everything here is part of the saved state."""

    cfg: ExperimentConfig
    data: CTRData
    split: Split
    spec: EmbeddingSpec
    method: type[EmbeddingMethod]
    method_config: Any
    search_train: TrainConfig  # the search phase's settings (its epochs are a cap)
    checkpointer: Checkpointer | None
    artifacts_dir: Path | None
    on_row: Callable[[ResultRow], None] | None
    on_epoch: Callable[[dict], None] | None
    stamp: RowStamp
    rows: list[ResultRow] = field(default_factory=list)
    search_embedding: EmbeddingMethod | None = None
    points: list[RetrainPoint] | None = None
    trace_path: str = ""


def run_experiment(
    cfg: ExperimentConfig,
    data: CTRData | None = None,
    *,
    checkpointer: Checkpointer | None = None,
    artifacts_dir: Path | None = None,
    on_row: Callable[[ResultRow], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    stamp: RowStamp | None = None,
) -> list[ResultRow]:
    """Run one trial and return its rows (one per evaluated point, labelled by ``stamp``).

    ``on_row`` is called as each row is finished (rows restored from a checkpoint are returned
    but not announced again); ``on_epoch`` gets ``{phase, point, epoch, val_auc, val_logloss,
    params}`` after every epoch of every phase.
    """
    flush_denormals()  # before this thread's first parallel op, so torch's threads inherit it
    if data is None:
        from autoembed.data import load_dataset

        data = load_dataset(cfg.data)
    split = data_split(data, cfg.data.split_seed)
    method = get_method(cfg.method)
    spec = EmbeddingSpec.from_data(data, cfg.model.dim, split.train)
    search_train = _search_settings(cfg, method, len(split.train))
    context = SearchContext(cfg.data.name, spec, _cap_steps(search_train, len(split.train)))
    run = _Run(
        cfg=cfg,
        data=data,
        split=split,
        spec=spec,
        method=method,
        method_config=make_config(method, dict(cfg.method_params), context),
        search_train=search_train,
        checkpointer=checkpointer,
        artifacts_dir=Path(artifacts_dir) if artifacts_dir is not None else None,
        on_row=on_row,
        on_epoch=on_epoch,
        stamp=stamp or RowStamp(),
    )
    resume = None
    if checkpointer is not None:
        with trusting(method.__module__):  # the method's own classes may be in its state
            resume = checkpointer.load()
    if resume is not None:
        _restore(run, resume)

    if not method.needs_search:
        point = RetrainPoint("final")
        _train_point(run, "train", 0, point, lambda: method(run.spec, run.method_config), resume)
        return run.rows

    if run.points is None:
        failed = _search(run, resume)
        if failed is not None:  # the search diverged: nothing to retrain, one row says why
            _add_row(run, failed)
            return run.rows
    assert run.points is not None and run.search_embedding is not None
    searched = run.search_embedding
    for index in range(len(run.rows), len(run.points)):
        point = run.points[index]
        _train_point(run, "retrain", index, point, lambda p=point: searched.for_retrain(p), resume)
    return run.rows


def _search_settings(cfg: ExperimentConfig, method: type[EmbeddingMethod], train_rows: int
                     ) -> TrainConfig:
    """The search phase's training settings: the user's, else the training ones with the
    method's own epoch cap (a search ends as soon as it has found what it looks for), raised
    to the method's ``min_search_steps`` (on a few hundred rows an epoch is one step)."""
    if cfg.search_train is not None:
        return cfg.search_train
    if not method.needs_search:
        return cfg.train
    epochs = method.default_search_epochs(cfg.data.name) or cfg.train.epochs
    steps_per_epoch = max(1, math.ceil(train_rows / cfg.train.batch_size))
    epochs = max(epochs, math.ceil(method.min_search_steps / steps_per_epoch))
    return dataclasses.replace(cfg.train, epochs=epochs)


def _cap_steps(train: TrainConfig, train_rows: int) -> int:
    steps = train.epochs * math.ceil(train_rows / train.batch_size)
    return min(steps, train.max_steps) if train.max_steps is not None else steps


# --- phases ---------------------------------------------------------------------------------
def _search(run: _Run, resume: dict | None) -> ResultRow | None:
    """Run the search phase; a failed row if it diverged."""
    cfg = run.search_train
    embedding, trainer = _setup(run, "search", 0, lambda: run.method(run.spec, run.method_config),
                                cfg, resume)
    cap = _cap_steps(cfg, len(run.split.train))
    save = _epoch_hook(run, "search", 0, "search", embedding, trainer)

    def on_epoch(record: EpochRecord) -> None:
        save(record)
        if record.epoch == 1:  # the first epoch's drift tells what the cap allows
            for message in embedding.check_search(trainer.steps, cap):
                warnings.warn(f"{run.method.name}: {message}", RuntimeWarning, stacklevel=1)

    try:
        trainer.fit(stop_when=embedding.search_done, on_epoch=on_epoch, early_stopping=False,
                    evaluate_test=False)
    except DivergedError as exc:
        return _diverged_row(run, "search", RetrainPoint("search"), embedding, trainer, exc)
    run.search_embedding = embedding
    run.points = list(embedding.retrain_points())
    shortfall = embedding.search_shortfall()
    if not run.points:
        raise ValueError(
            f"method {run.method.name!r} finished its search ({trainer.steps} steps, cap {cap}) "
            "without proposing any retrain point: " + ("; ".join(shortfall) or "check its targets")
            + "; give the search more epochs (--search-epochs) or see the method's settings"
        )
    for message in shortfall:
        warnings.warn(f"{run.method.name}: {message}", RuntimeWarning, stacklevel=1)
    run.trace_path = _write_trace(run, embedding)
    return None


def _train_point(
    run: _Run,
    phase: str,
    index: int,
    point: RetrainPoint,
    make_embedding: Callable[[], EmbeddingMethod],
    resume: dict | None,
) -> None:
    if index < len(run.rows):
        return  # finished before the restart
    embedding, trainer = _setup(run, phase, index, make_embedding, run.cfg.train, resume)
    try:
        result = trainer.fit(on_epoch=_epoch_hook(run, phase, index, point.label, embedding, trainer))
        row = _row(run, phase, point, embedding, result, str(trainer.device), trainer.precision)
    except DivergedError as exc:  # this point fails; the trial's other points still run
        row = _diverged_row(run, phase, point, embedding, trainer, exc)
    _add_row(run, row)


def _add_row(run: _Run, row: ResultRow) -> None:
    run.rows.append(row)
    if run.on_row is not None:
        run.on_row(row)


def _setup(
    run: _Run,
    phase: str,
    index: int,
    make_embedding: Callable[[], EmbeddingMethod],
    train_cfg: TrainConfig,
    resume: dict | None,
) -> tuple[EmbeddingMethod, Trainer]:
    """The embedding, a freshly initialised model around it, and its trainer (resumed when the
    saved state belongs to this phase and point)."""
    resuming = resume is not None and resume["phase"] == phase and resume["point_index"] == index
    if resuming:
        embedding = resume["embedding"]
    else:
        seed_everything(train_cfg.seed)
        embedding = make_embedding()
    model = build_model(run.cfg.model, embedding, run.spec, seed=train_cfg.seed)
    trainer = Trainer(model, run.data, run.split, train_cfg)
    if resuming:
        trainer.load_state_dict(resume["trainer"])
    return embedding, trainer


def _epoch_hook(
    run: _Run, phase: str, index: int, label: str, embedding: EmbeddingMethod, trainer: Trainer
) -> Callable[[EpochRecord], None]:
    def hook(record: EpochRecord) -> None:
        metrics = {
            "phase": phase,
            "point": label,
            "epoch": record.epoch,
            "val_auc": record.val_auc,
            "val_logloss": record.val_logloss,
            "params": int(embedding.num_params()),
        }
        if run.on_epoch is not None:
            run.on_epoch(metrics)
        if run.checkpointer is not None:
            run.checkpointer.save(_state(run, phase, index, embedding, trainer), metrics)

    return hook


# --- state ----------------------------------------------------------------------------------
def _state(
    run: _Run, phase: str, index: int, embedding: EmbeddingMethod, trainer: Trainer
) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "phase": phase,
        "point_index": index,
        "rows": [asdict(r) for r in run.rows],
        "points": copy.deepcopy(run.points),
        "search_embedding": _cpu_copy(run.search_embedding),
        "trace_path": run.trace_path,
        "embedding": _cpu_copy(embedding),
        "trainer": trainer.state_dict(),
    }


def _restore(run: _Run, state: dict[str, Any]) -> None:
    if state.get("version") != STATE_VERSION:
        raise ValueError(
            f"checkpoint state version {state.get('version')!r} is not {STATE_VERSION}; "
            "start the trial afresh (delete its checkpoint)"
        )
    run.rows = [ResultRow(**r) for r in state["rows"]]
    run.points = state["points"]
    run.search_embedding = state["search_embedding"]
    run.trace_path = state["trace_path"]


def _cpu_copy(module: EmbeddingMethod | None) -> EmbeddingMethod | None:
    return None if module is None else copy.deepcopy(module).cpu()


# --- results --------------------------------------------------------------------------------
def _row(
    run: _Run,
    phase: str,
    point: RetrainPoint,
    embedding: EmbeddingMethod,
    result: TrainResult,
    device: str,
    precision: str,
) -> ResultRow:
    cfg, data, spec = run.cfg, run.data, run.spec
    dims = np.asarray(embedding.feature_dims())
    bayes_auc = recovery = None
    if data.teacher_probs is not None:
        bayes_auc = teacher_auc(data, run.split.test)
    if data.planted_dims is not None:
        from autoembed.data.synthetic import recovery_score

        recovery = float(recovery_score(dims, data.planted_dims, spec.feature_counts))
    return ResultRow(
        dataset=run.stamp.dataset or data.name,
        model=cfg.model.name,
        method=run.stamp.method or run.method.name,
        seed=cfg.train.seed,
        phase=phase,
        point=point.label,
        params=int(embedding.num_params()),
        storage_bytes=int(embedding.storage_bytes()),
        dense_params=spec.num_features * cfg.model.dim,
        val_auc=result.val_auc,
        val_logloss=result.val_logloss,
        test_auc=result.test_auc,
        test_logloss=result.test_logloss,
        epochs=result.epochs_run,
        best_epoch=result.best_epoch,
        train_seconds=result.train_seconds,
        samples_per_sec=result.samples_per_sec,
        device=device,
        embedding_dim=cfg.model.dim,
        hparams=asdict(run.method_config),
        info={**point.info, "precision": precision,
              **{f"model_{k}": v for k, v in cfg.model.params.items()},  # the model's own, as set
              **({"trial_seconds": round(run.stamp.clock(), 3)} if run.stamp.clock else {})},
        trial_id=run.stamp.trial_id,
        git_rev=git_revision(),
        bayes_auc=bayes_auc,
        recovery=recovery,
        feature_dims_path=_write_dims(run, phase, point, dims),
        trace_path=run.trace_path,
    )


def _diverged_row(
    run: _Run, phase: str, point: RetrainPoint, embedding: EmbeddingMethod, trainer: Trainer,
    exc: DivergedError,
) -> ResultRow:
    """The row of a point whose training diverged: status failed, the reason, no metrics."""
    nan = math.nan
    result = TrainResult(
        best_epoch=0, epochs_run=trainer.epoch, val_auc=nan, val_logloss=nan, test_auc=nan,
        test_logloss=nan, train_seconds=trainer.wall_seconds, samples_per_sec=nan,
        wall_samples_per_sec=nan, steps=trainer.steps, stop_reason="diverged",
    )
    row = _row(run, phase, point, embedding, result, str(trainer.device), trainer.precision)
    row.status, row.error = "failed", str(exc)
    return row


def _write_dims(run: _Run, phase: str, point: RetrainPoint, dims: np.ndarray) -> str:
    if run.artifacts_dir is None:
        return ""
    run.artifacts_dir.mkdir(parents=True, exist_ok=True)
    path = run.artifacts_dir / f"feature_dims_{phase}_{_slug(point.label)}.npy"
    np.save(path, dims)
    return str(path)


def _write_trace(run: _Run, embedding: EmbeddingMethod) -> str:
    trace = embedding.search_trace()
    if run.artifacts_dir is None or not trace:
        return ""
    import pandas as pd

    run.artifacts_dir.mkdir(parents=True, exist_ok=True)
    path = run.artifacts_dir / "search_trace.csv"
    pd.DataFrame(trace).to_csv(path, index=False)
    return str(path)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "point"
