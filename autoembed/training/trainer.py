"""The fast trainer: permuted batches of in-memory tensors, Adam, one global validation AUC per
epoch, early stopping, best-epoch weights, the test split evaluated once at the end.

Each split's ids stay on the device as stored (int32, one copy); a batch is gathered by index
and widened to int64 only when it is used."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from autoembed.config import TrainConfig
from autoembed.data.base import CTRData, Split
from autoembed.models.base import CTRModel
from autoembed.models.precision import autocast, resolve_precision
from autoembed.training.allocator import keep_freed_memory
from autoembed.training.denormals import flush_denormals
from autoembed.training.metrics import auc, logloss
from autoembed.training.records import EpochRecord, TrainResult
from autoembed.training.seeding import resolve_device, rng_state, seed_everything, set_rng_state

FINITE_CHECK_EVERY = 64  # steps between checks that the training loss is finite
ROWS_PER_COPY = 1 << 18  # rows per host-to-device copy of a split (bounds the host buffer)


class DivergedError(ValueError):
    """The loss exploded (``TrainConfig.diverge_factor``) or became NaN/infinite."""


class NonFiniteLossError(DivergedError):
    """The training loss became NaN or infinite."""


def prior_logloss(labels: torch.Tensor) -> float:
    """Logloss of the constant prediction ``mean(labels)`` (the label prior's entropy)."""
    p = min(max(float(labels.float().mean()), 1e-7), 1 - 1e-7)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


class Trainer:
    """Trains ``model`` on ``split.train`` of ``data``; validates every epoch on ``split.val``.

    If the model's embedding has architecture parameters, they are stepped DARTS-style
    (first order): after each training step, one step of their own Adam (``cfg.arch_lr``) on the
    next validation batch. ``state_dict``/``load_state_dict`` capture everything needed to
    resume exactly between epochs.
    """

    def __init__(self, model: CTRModel, data: CTRData, split: Split, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        torch.set_num_threads(cfg.threads)
        keep_freed_memory()
        flush_denormals()
        seed_everything(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.model = model.to(self.device)
        self.embedding = model.embedding
        self.train_ids, self.train_labels = self._tensors(data, split.train)
        self.val_ids, self.val_labels = self._tensors(data, split.val)
        self.test_ids, self.test_labels = self._tensors(data, split.test)
        if len(self.train_labels) == 0 or len(self.val_labels) == 0:
            raise ValueError("the train and validation splits must both have rows")
        self.prior_logloss = prior_logloss(self.train_labels)
        # the loss above which a run has diverged (inf: never)
        self.loss_limit = cfg.diverge_factor * max(self.prior_logloss, math.log(2)) or math.inf

        groups = [{"params": model.model_parameters(), "lr": cfg.lr, "weight_decay": cfg.weight_decay}]
        groups += self.embedding.param_groups(cfg.lr, cfg.weight_decay)
        groups = [g for g in groups if g["params"]]
        self.optimizers: list[torch.optim.Optimizer] = []
        if groups:
            self.optimizers.append(torch.optim.Adam(groups, lr=cfg.lr, **_fast_adam(self.device)))
        self.optimizers += self.embedding.extra_optimizers(cfg.lr, cfg.weight_decay)
        arch = list(self.embedding.arch_parameters())
        self.arch_optimizer = (
            torch.optim.Adam(arch, lr=cfg.arch_lr, **_fast_adam(self.device)) if arch else None
        )
        self.loss_fn = nn.BCEWithLogitsLoss()

        # progress, saved by state_dict
        self.epoch = 0
        self.steps = 0
        self.samples = 0
        self.val_cursor = 0
        self.best_auc = -math.inf
        self.best_logloss = math.nan
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stop_reason = ""
        self.history: list[EpochRecord] = []
        self.step_seconds = 0.0
        self.wall_seconds = 0.0

    # --- public API ---------------------------------------------------------------------------
    def fit(
        self,
        *,
        stop_when: Callable[[], bool] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        early_stopping: bool = True,
        evaluate_test: bool = True,
    ) -> TrainResult:
        """Train until ``cfg.epochs``, early stopping (patience on validation AUC), ``stop_when()``
        (checked after every step) or ``cfg.max_steps``. With ``early_stopping`` the weights of
        the best validation epoch are restored at the end (else the last weights stay)."""
        while not self.stop_reason:
            if self.epoch >= self.cfg.epochs:
                self.stop_reason = "epochs"
                break
            wall_start = time.perf_counter()
            record = self._run_epoch(stop_when)
            if record.val_auc > self.best_auc or self.best_epoch == 0:
                self.best_auc, self.best_logloss, self.best_epoch = (
                    record.val_auc, record.val_logloss, record.epoch,
                )
                self.bad_epochs = 0
                if early_stopping:
                    self.best_state = {
                        k: v.detach().clone() for k, v in self.model.state_dict().items()
                    }
            else:
                self.bad_epochs += 1
                if early_stopping and self.bad_epochs >= self.cfg.patience:
                    self.stop_reason = "early_stopping"
            self.wall_seconds += time.perf_counter() - wall_start
            self.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
        return self._finish(early_stopping, evaluate_test)

    @torch.inference_mode()
    def evaluate(self, ids: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """Global AUC and logloss of the current weights on ``ids``/``labels`` (eval mode)."""
        was_training = self.model.training
        self.model.eval()
        bs = self.cfg.eval_batch_size
        logits = torch.cat([self._forward(ids[i : i + bs]) for i in range(0, len(ids), bs)])
        self.model.train(was_training)
        return float(auc(logits, labels)), float(logloss(logits, labels))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly after the last finished epoch (copied, on CPU)."""
        state = {
            "model": self.model.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "arch_optimizer": self.arch_optimizer.state_dict() if self.arch_optimizer else None,
            "progress": {
                k: getattr(self, k)
                for k in ("epoch", "steps", "samples", "val_cursor", "best_auc", "best_logloss",
                          "best_epoch", "bad_epochs", "stop_reason", "step_seconds", "wall_seconds")
            },
            "history": [asdict(r) for r in self.history],
            "best_state": self.best_state,
            "generator": self.generator.get_state(),
            "rng": rng_state(),
        }
        return _to_cpu(copy.deepcopy(state))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        for opt, s in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(s)
        if self.arch_optimizer is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        for k, v in state["progress"].items():
            setattr(self, k, v)
        self.history = [EpochRecord(**r) for r in state["history"]]
        best = state["best_state"]
        self.best_state = None if best is None else {k: v.to(self.device) for k, v in best.items()}
        self.generator.set_state(state["generator"])
        set_rng_state(state["rng"])

    # --- internals ----------------------------------------------------------------------------
    def _tensors(self, data: CTRData, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``rows`` of the ids (int32) and labels (float32), copied chunk by chunk to the device."""
        return (_rows_to(data.ids, rows, self.device, torch.int32),
                _rows_to(data.labels, rows, self.device, torch.float32))

    def _run_epoch(self, stop_when: Callable[[], bool] | None) -> EpochRecord:
        cfg, model, embedding = self.cfg, self.model, self.embedding
        self.epoch += 1
        n, bs = len(self.train_labels), cfg.batch_size
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        train_ids, train_labels = self.train_ids, self.train_labels
        num_batches = math.ceil(n / bs)
        losses = torch.zeros(num_batches, device=self.device, dtype=torch.float32)
        optimizers, loss_fn = self.optimizers, self.loss_fn
        bar = _progress(num_batches, self.epoch) if cfg.progress else None
        model.train()
        checked = done = 0
        start = time.perf_counter()
        for i in range(num_batches):
            rows = perm[i * bs : (i + 1) * bs]
            loss = loss_fn(self._forward(train_ids.index_select(0, rows)),
                           train_labels.index_select(0, rows))
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            if self.arch_optimizer is not None:
                self._arch_step()
            self.steps += 1
            embedding.after_step(self.steps)
            losses[i] = loss.detach()
            done = i + 1
            if bar is not None:
                bar.update(1)
            if done - checked >= FINITE_CHECK_EVERY:
                self._check_finite(losses, checked, done)
                checked = done
            if stop_when is not None and stop_when():
                self.stop_reason = "stop_when"
                break
            if cfg.max_steps is not None and self.steps >= cfg.max_steps:
                self.stop_reason = "max_steps"
                break
        self._check_finite(losses, checked, done)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        step_seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        self.samples += min(done * bs, n)
        self.step_seconds += step_seconds
        embedding.on_epoch_end(self.epoch)
        eval_start = time.perf_counter()
        val_auc, val_logloss = self.evaluate(self.val_ids, self.val_labels)
        if not val_logloss <= self.loss_limit:
            raise DivergedError(
                f"diverged: validation logloss {val_logloss:.4g} after epoch {self.epoch} is above "
                f"{self.loss_limit:.3g} ({self.cfg.diverge_factor:g} x max(label-prior logloss "
                f"{self.prior_logloss:.3f}, ln 2)); lower the learning rate (now lr={self.cfg.lr:g})"
            )
        return EpochRecord(
            epoch=self.epoch,
            train_loss=float(losses[:done].mean()),
            val_auc=val_auc,
            val_logloss=val_logloss,
            steps=self.steps,
            samples=self.samples,
            step_seconds=step_seconds,
            eval_seconds=time.perf_counter() - eval_start,
        )

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        """float32 logits of the int32 ``ids``, the dense layers in ``self.precision``."""
        with autocast(self.precision, self.device):
            return self.model(ids.long()).float()

    def _arch_step(self) -> None:
        """One first-order DARTS step of the architecture parameters on the next val batch."""
        bs, n = self.cfg.batch_size, len(self.val_labels)
        if self.val_cursor >= n:
            self.val_cursor = 0
        lo, hi = self.val_cursor, min(self.val_cursor + bs, n)
        self.val_cursor = hi
        assert self.arch_optimizer is not None
        self.arch_optimizer.zero_grad(set_to_none=True)
        self.loss_fn(self._forward(self.val_ids[lo:hi]), self.val_labels[lo:hi]).backward()
        self.arch_optimizer.step()

    def _check_finite(self, losses: torch.Tensor, start: int, end: int) -> None:
        window = losses[start:end]
        bad = (~torch.isfinite(window)).nonzero()
        if len(bad):
            i = start + int(bad[0])
            steps_per_epoch = len(losses)
            raise NonFiniteLossError(
                f"training loss became {float(losses[i])} at epoch {self.epoch}, "
                f"batch {i + 1}/{steps_per_epoch} (global step {self.steps - (end - 1 - i)}); "
                f"lower the learning rate (now lr={self.cfg.lr}) or check the inputs"
            )
        mean = float(window.mean()) if end > start else 0.0
        if mean > self.loss_limit:
            raise DivergedError(
                f"diverged: mean training loss {mean:.4g} over batches {start + 1}-{end} of epoch "
                f"{self.epoch} is above {self.loss_limit:.3g} ({self.cfg.diverge_factor:g} x "
                f"max(label-prior logloss {self.prior_logloss:.3f}, ln 2)); lower the learning "
                f"rate (now lr={self.cfg.lr:g})"
            )

    def _finish(self, early_stopping: bool, evaluate_test: bool) -> TrainResult:
        if early_stopping and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        test_auc = test_logloss = math.nan
        if evaluate_test and len(self.test_labels):
            test_auc, test_logloss = self.evaluate(self.test_ids, self.test_labels)
        return TrainResult(
            best_epoch=self.best_epoch,
            epochs_run=self.epoch,
            val_auc=self.best_auc,
            val_logloss=self.best_logloss,
            test_auc=test_auc,
            test_logloss=test_logloss,
            train_seconds=self.wall_seconds,
            samples_per_sec=self.samples / max(self.step_seconds, 1e-12),
            wall_samples_per_sec=self.samples / max(self.wall_seconds, 1e-12),
            steps=self.steps,
            stop_reason=self.stop_reason,
            history=list(self.history),
        )


def train(
    model: CTRModel,
    data: CTRData,
    split: Split,
    cfg: TrainConfig,
    *,
    stop_when: Callable[[], bool] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``model`` with early stopping and evaluate the test split once at the best epoch."""
    return Trainer(model, data, split, cfg).fit(stop_when=stop_when, on_epoch=on_epoch)


def _rows_to(array: np.ndarray, rows: np.ndarray, device: torch.device, dtype: torch.dtype
             ) -> torch.Tensor:
    """``array[rows]`` as one ``dtype`` tensor on ``device``, filled ``ROWS_PER_COPY`` rows at a
    time (``array`` may be memory-mapped: host memory beyond the result stays one chunk)."""
    out = torch.empty((len(rows), *array.shape[1:]), dtype=dtype, device=device)
    for lo in range(0, len(rows), ROWS_PER_COPY):
        part = np.asarray(array[rows[lo : lo + ROWS_PER_COPY]])
        out[lo : lo + len(part)] = torch.from_numpy(part).to(device, dtype)
    return out


def _fast_adam(device: torch.device) -> dict[str, Any]:
    """Fused Adam kernels (one op for all parameters instead of a python loop)."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def _progress(total: int, epoch: int) -> Any:
    from autoembed.progress import progress_bar

    return progress_bar(total=total, desc=f"epoch {epoch}", leave=False, mininterval=0.5)


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
