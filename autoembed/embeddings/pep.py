"""PEP (Liu et al., ICLR 2021): learnable soft-threshold pruning of the embedding table.

``V_hat = sign(V) * relu(|V| - sigmoid(s))``, applied only to the rows a batch gathers (and
their ``s``), or to the whole table when that is smaller than the batch, so the step's cost
follows the smaller of batch and table (``pep_threshold.pruned_gather``: one fused op; on CPU
``pruned_lookup`` reads the gathered rows in place instead for per-feature thresholds, and
``pruned_shared_lookup`` thresholds the batch id by id for thresholds shared by many rows).

Weight decay and the threshold's drift (read this before changing a default): at a saturated
init (``threshold_init = -150``) ``sigmoid(s)`` and its gradient are exactly 0 in float32, so the
task loss never moves ``s``. In the reference code ``s`` moves only because Adam's *coupled* L2
weight decay (1e-5) applies to it: the gradient ``wd * s`` is normalised by Adam into a drift of
about ``lr`` per step toward 0, so pruning starts after roughly ``(|init| - ~15) / lr`` steps.
This method therefore puts ``V`` and ``s`` in its own optimizer groups with
``weight_decay = Config.weight_decay`` (default 1e-5, the reference's), overriding the trainer's
weight decay for the embedding; ``threshold_weight_decay`` sets ``s``'s decay separately
(``None``: same as ``V``'s; ``0``: the task loss alone moves ``s``, and from a saturated init
nothing is ever pruned), and ``threshold_lr`` sets ``s``'s learning rate, i.e. the drift speed
(``None``: the trainer's lr, as in the reference). ``pep_threshold.drift_schedule`` and
``predicted_pruning_start`` compute the schedule for given (init, lr, wd). The trainer must use ``torch.optim.Adam`` (coupled L2), as the
reference does; AdamW would not reproduce the drift.

Nonzero tracking: an exact full-table count is taken at scheduled steps only, never every step.
The next count is due after ``count_every`` steps, or sooner when the last two counts predict
that the next target will be crossed earlier (half the predicted distance, at least one step),
so counts cluster where a target is reached and the snapshot is taken at the first counted step
whose exact count is <= the target. The count stored with a snapshot is exact at its step.
In ``sparse_lazy`` mode an exact count first applies every row's pending drift (O(table), as
the dense reference's every optimizer step is): for huge tables raise ``count_every`` so the
count's cost, spread over the steps between counts, stays small (measured: see
``benchmarks/pep_table_size.py``'s "count s" column; e.g. a count costing 100 steps' time with
``count_every=2000`` adds 5%). The count cannot be made incremental *and* exact: an untouched
row's entries change every step (the drift), so the count of rows outside the batch changes too.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from autoembed.config import check_choices
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec, RetrainPoint, SearchContext
from autoembed.embeddings.masked import MaskedConfig, MaskedEmbedding, pruned_storage_bytes
from autoembed.embeddings.pep_threshold import (
    Granularity,
    count_nonzeros,
    drift_lr,
    is_per_feature,
    pruned_gather,
    pruned_lookup,
    pruned_mask,
    pruned_shared_lookup,
    pruned_weight,
    threshold_shape,
    unique_rows,
    use_full_table,
    with_extra_decay,
)
from autoembed.embeddings.sparse_adam import LazyAdamTable, LazyRowAdam

OptimizerMode = Literal["dense", "sparse_lazy"]
Reinit = Literal["rewind", "random", "keep"]
RetrainMask = Literal["entries", "prefix"]


# Tuned search settings per dataset and granularity (reasoning: PEPConfig's docstring).
RECOMMENDED: dict[str, dict[str, dict[str, Any]]] = {
    "ml-1m": {
        "global": {"threshold_init": -8.0, "threshold_lr": 0.03, "threshold_weight_decay": 0.1},
        "dimension": {"threshold_init": -8.0, "threshold_lr": 0.03, "threshold_weight_decay": 0.1},
        "feature": {"threshold_init": -8.0, "threshold_lr": 0.01},
        "feature_dim": {"threshold_init": -8.0, "threshold_lr": 0.002},
    },
}
RECOMMENDED_SEARCH_EPOCHS = {"ml-1m": 45}
DEFAULT_SEARCH_EPOCHS = 30  # the search cap elsewhere (the search ends once every target is met)
MIN_SEARCH_STEPS = 100  # ... in optimizer steps at least (Adam moves s by about lr a step)
# Where a dataset has no tuned entry, the defaults are sized from the table and the search cap
# (``PEPConfig.recommended``): init at sigmoid(s) = Xavier bound / 64 (ml-1m's -8), and s's lr
# such that the decay-only drift (``pep_threshold.drift_schedule``) reaches the smallest
# target's threshold after this fraction of the cap: ml-1m's tuned schedules, in these units.
SCHEDULE_FRACTION = {"global": 0.025, "dimension": 0.025, "field": 0.025, "field_dim": 0.025,
                     "feature": 0.075, "feature_dim": 0.36}
SHARED_THRESHOLD_DECAY = 0.1  # s's decay where one s serves many entries (see PEPConfig)
INIT_FRACTION = 1 / 64
STALL_FACTOR = 1.0  # a shortfall needing more steps than the search took again: stalled
RECENT_FRACTION = 0.2  # the shortfall's rate: over this last fraction of the search's steps
BOOST_WINDOW = 0.05  # a stall is judged on the count's rate over this fraction of the cap
BOOST_START = 0.99  # ... once pruning has begun (fewer nonzeros than this fraction of the table)


@dataclass
class PEPConfig:
    """PEP's search settings. ``PEPConfig.recommended(dataset, granularity)`` gives tuned ones.

    MovieLens-1M (FM, D=32, batch 4096, lr 1e-3; ``RECOMMENDED["ml-1m"]``) and why:

    - Init -8, not the reference's -15. Xavier's bound for 13.5k x 32 is sqrt(6/(N+D)) ~ 0.021,
      so pruning starts only once sigmoid(s) ~ 1e-3..1e-2, i.e. s ~ -7..-4.6. From -15 the
      decay-driven drift needs thousands of steps (it slows as |s| falls, because Adam's second
      moment remembers the larger past ``wd * s``), while V grows (mean |V| 0.030 -> 0.042 in
      three epochs), moving the goal away. At -8 pruning starts within the first epoch.
    - Once sigmoid(s) matters, the task gradient on s (it pushes the threshold down: pruning a
      useful entry costs loss) competes with the decay ``wd_s * s``; Adam normalises their sum,
      so s rises only while the decay outweighs the task pull, and that pull is summed over
      every gathered entry sharing one s: ~B*F*D entries for ``global``, B*F for ``dimension``,
      one feature's occurrences for ``feature``/``feature_dim``. Hence the shared thresholds
      need a much larger ``threshold_weight_decay``. Measured (global, threshold_lr 0.03):
      wd_s 1e-5 kept 88% after 8 epochs, 1e-2 stalled at 36%, 0.1 reached 50/20/10/5% at steps
      181/286/503/740 (about 5 epochs).
    - Per-feature thresholds barely feel the task: with threshold_lr 0.03 the drift alone took
      feature_dim from 73% to 6% kept within one epoch; 0.01 gives 20/10/5% at steps
      ~840/1010/1230. But a mask taken that early comes from a barely trained V (it mostly
      keeps the entries that were large at init) and retrains worse: threshold_lr 0.002 reaches
      20% at step ~3900 (~27 epochs, V near convergence) and retrains to test AUC 0.8885 vs
      0.8803 (uniform D=6, same size: 0.8827). Hence feature_dim's slow 0.002 and a 45-epoch
      search cap. For global the late mask gained less (20%: 0.8822 at step 3464 vs 0.8798 at
      step 286); ``global``/``dimension``/``feature`` keep the faster schedules above.

    A search that stalls (the task's pull outgrows the decay: on a few hundred memorised rows, or
    near the smallest targets) raises s's decay by ``stall_decay_factor`` while it would
    otherwise miss a target by the cap (``PEPEmbedding._boost_on_stall``; the reference keeps it
    fixed: ``stall_decay_factor=1``). Measured on 200 synthetic rows: 3 of 4 targets without,
    4 of 4 with, the first three with identical masks.

    Retrain (defaults: the paper's): ``reinit`` rewinds V to its initial values under the mask;
    ``retrain_mask="prefix"`` keeps each row's searched *size* but in its first dimensions. In
    FM two features interact only through dimensions both keep, which PEP's scattered entries
    rarely share: on ML-1M FM at 20% (lr 3e-3) the aligned retrain gave 0.8946 +- 0.0002 over
    three seeds against 0.8916 for the paper's; at 10%/5% the scattered entries did better.
    """

    granularity: Granularity = "feature_dim"  # global | dimension | feature | feature_dim | field | field_dim
    threshold_init: float = -15.0  # s at step 0 (reference: -15 on MovieLens-1M, -150 on Criteo)
    targets: tuple[float, ...] = (0.5, 0.2, 0.1, 0.05)  # <= 1: fraction of N*D kept; > 1: count
    weight_decay: float = 1e-5  # coupled Adam L2 on V (and s), overrides the trainer's
    threshold_weight_decay: float | None = None  # s's decay; None: same as weight_decay
    threshold_lr: float | None = None  # s's Adam lr (sets the drift speed); None: trainer's lr
    optimizer_mode: OptimizerMode = "dense"  # dense (reference) | sparse_lazy (row-sparse, huge tables)
    reinit: Reinit = "rewind"  # retrain from the initial V under the mask | "random": fresh Xavier
    #                         | "keep": from the searched, thresholded V at the snapshot (fine-tune)
    retrain_weight_decay: float | None = None  # the retrain's L2 on V; None: weight_decay
    retrain_mask: RetrainMask = "entries"  # the searched entries (the paper) | "prefix": each row keeps
    #                                its first k dims, k = its searched nonzeros (aligned dims)
    rewind_step: int = 0  # rewind target: V at this search step (0: init, the paper; > 0: late
    #                       rewinding, Frankle et al. 2019)
    init: Literal["xavier"] = "xavier"  # the only one implemented
    count_every: int = 50  # longest interval (steps) between exact nonzero counts
    stall_decay_factor: float = 10.0  # a stalled search multiplies s's decay by this (1: never,
    #                                   the reference; see PEPEmbedding._boost_on_stall)
    max_threshold_weight_decay: float = 1.0  # ... up to this
    lazy_segments: int = 8  # sparse_lazy: pieces of the closed-form catch-up of untouched rows

    def __post_init__(self) -> None:
        check_choices(self)
        self.threshold_init = float(self.threshold_init)  # an int would make an int tensor
        if isinstance(self.targets, (int, float)):
            self.targets = (float(self.targets),)
        self.targets = tuple(float(t) for t in self.targets)
        bad = [t for t in self.targets if not (math.isfinite(t) and t > 0) or (t > 1 and t != int(t))]
        if not self.targets or bad:
            raise ValueError(f"targets must be fractions in (0, 1] or whole counts > 1, got "
                             f"{list(self.targets)} (bad: {bad or 'none given'})")
        if self.reinit == "keep" and self.retrain_mask != "entries":
            raise ValueError("reinit='keep' keeps the searched entries: use retrain_mask='entries'")
        if self.count_every < 1:
            raise ValueError(f"count_every must be >= 1, got {self.count_every}")
        if self.rewind_step < 0:
            raise ValueError(f"rewind_step must be >= 0, got {self.rewind_step}")
        if self.stall_decay_factor < 1:
            raise ValueError(f"stall_decay_factor must be >= 1 (1: off), got {self.stall_decay_factor}")

    @classmethod
    def recommended(cls, dataset: str, granularity: str = "feature_dim", *,
                    spec: EmbeddingSpec | None = None, search_steps: int | None = None,
                    **given: Any) -> PEPConfig:
        """Search settings for ``dataset``: the ``given`` ones (the user's), then the tuned ones
        (``RECOMMENDED``), then, with ``spec`` and ``search_steps`` (the search cap), ones sized
        so the targets are reached within the cap: an init at ``sigmoid(s) = bound / 64`` (Xavier
        bound of the table), s's decay 0.1 for shared thresholds, exact counts at least every
        1% of the cap (so each target gets its own snapshot), and an s learning rate whose
        drift from the init reaches the smallest target's threshold after
        ``SCHEDULE_FRACTION[granularity]`` of the cap. A given init without a given
        ``threshold_lr`` gets the lr sized for that init (a saturated init drifts faster), so
        ``threshold_init=-15`` on MovieLens-1M keeps the tuned schedule's timing."""
        tuned = RECOMMENDED.get(dataset, {}).get(granularity, {})
        params: dict[str, Any] = {**tuned, **given, "granularity": granularity}
        if spec is None or not search_steps:
            return cls(**params)
        cfg = cls(**params)  # validates, and fills the reference defaults
        bound = math.sqrt(6.0 / (spec.num_features + spec.dim))
        if "threshold_init" not in params:
            params["threshold_init"] = round(_logit(bound * INIT_FRACTION), 2)
        if "count_every" not in params:  # at least ~100 counts over the cap: one per target
            params["count_every"] = max(1, min(cfg.count_every, search_steps // 100))
        if not is_per_feature(granularity) and "threshold_weight_decay" not in params:
            params["threshold_weight_decay"] = SHARED_THRESHOLD_DECAY
        own_init = "threshold_init" in given or "threshold_init" not in tuned
        if "threshold_lr" not in given and (own_init or "threshold_lr" not in tuned):
            smallest = min(t if t <= 1 else t / (spec.num_features * spec.dim) for t in cfg.targets)
            goal = _logit(min(1 - smallest, 0.99) * bound)
            decay = params.get("threshold_weight_decay", cfg.weight_decay)
            steps = max(1, round(SCHEDULE_FRACTION[granularity] * search_steps))
            lr = drift_lr(float(params["threshold_init"]), goal, decay, steps)
            if lr is not None:
                params["threshold_lr"] = float(f"{lr:.3g}")
        return cls(**params)

    @staticmethod
    def recommended_search_epochs(dataset: str) -> int:
        """Epoch cap of the search phase: the one the tuned settings were tuned with, else
        ``DEFAULT_SEARCH_EPOCHS`` (a cap: the search stops once the last target is reached)."""
        return RECOMMENDED_SEARCH_EPOCHS.get(dataset, DEFAULT_SEARCH_EPOCHS)

    @property
    def s_weight_decay(self) -> float:
        return self.weight_decay if self.threshold_weight_decay is None else self.threshold_weight_decay


@dataclass
class Snapshot:
    target: float
    target_count: int
    step: int
    nonzeros: int
    mask: torch.Tensor  # bool [N, D]
    weight: torch.Tensor | None = None  # reinit="keep": the thresholded V at ``step`` [N, D]
    s_weight_decay: float | None = None  # s's decay at ``step`` (raised by stalls; None: older)


class PEPEmbedding(EmbeddingMethod):
    """Search phase of PEP; ``for_retrain`` gives the masked lottery-ticket embedding."""

    name = "pep"
    Config = PEPConfig
    needs_search = True
    min_search_steps = MIN_SEARCH_STEPS
    # stall boosts (class defaults, so searches checkpointed before they existed resume)
    extra_decay: float = 0.0  # added to s's decay by stall boosts (0: the reference's decay)
    boosts: tuple[dict[str, Any], ...] = ()  # {step, nonzeros, s_weight_decay} per boost
    _cap_steps: int | None = None  # the search cap, known from check_search
    _boosted_at: int = 0

    def __init__(self, spec: EmbeddingSpec, config: PEPConfig | None = None) -> None:
        super().__init__(spec, config or PEPConfig())
        cfg: PEPConfig = self.config
        n, d = spec.num_features, spec.dim
        weight = nn.init.xavier_uniform_(torch.empty(n, d))
        s = torch.full(threshold_shape(cfg.granularity, n, spec.num_fields, d), cfg.threshold_init,
                       dtype=torch.float32)
        self.sparse = cfg.optimizer_mode == "sparse_lazy"
        if self.sparse:  # buffers: stepped by LazyRowAdam, invisible to the trainer's optimizer
            self.register_buffer("weight", weight)
            self.register_buffer("threshold", s)
        else:
            self.weight = nn.Parameter(weight)
            self.threshold = nn.Parameter(s)
        self.register_buffer("field_index", torch.as_tensor(spec.field_of_feature, dtype=torch.int64))
        # a buffer, so it follows .to(device) and checkpoints with the module
        self.register_buffer("initial_weight", weight.clone() if cfg.reinit == "rewind" else None)
        self.target_counts = [self._target_count(t) for t in cfg.targets]
        self.snapshots: list[Snapshot] = []
        self.trace: list[dict[str, Any]] = []
        self._next_count = 0
        self._last_counts: list[tuple[int, int]] = []
        self._optimizer: LazyRowAdam | None = None
        self._tables: tuple[LazyAdamTable, LazyAdamTable] | None = None
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def configure(cls, params: dict[str, Any], context: SearchContext) -> PEPConfig:
        """``PEPConfig.recommended`` for the data and search cap, the user's ``params`` first."""
        given = dict(params)
        granularity = given.pop("granularity", PEPConfig.granularity)
        return PEPConfig.recommended(context.dataset, granularity, spec=context.spec,
                                     search_steps=context.search_steps, **given)

    @classmethod
    def default_search_epochs(cls, dataset: str) -> int:
        return PEPConfig.recommended_search_epochs(dataset)

    def _target_count(self, target: float) -> int:
        total = self.spec.num_features * self.spec.dim
        count = round(target * total) if target <= 1 else int(target)
        if count > total:
            raise ValueError(f"target {target} exceeds the dense table's {total} entries")
        return count

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        """``.to(device)`` / ``.cuda()`` / ``.cpu()`` also move the sparse_lazy optimizer state
        (it lives outside the registered tensors). Snapshot masks stay on the host on purpose:
        they travel in checkpoints and retrain points (loadable on any machine) and cost no
        accelerator memory; the retrain embedding built from one is moved by the trainer."""
        super()._apply(fn, recurse)
        if self._tables is not None:
            for table, tensor in zip(self._tables, (self.weight, self.threshold), strict=True):
                table.move_to(tensor, fn)
        return self

    # --- forward ------------------------------------------------------------------------------
    def _threshold_rows(self, s: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """``s`` broadcastable to ``[R, D]`` for the table rows ``rows`` (None: every row)."""
        gran = self.config.granularity
        if is_per_feature(gran):
            return s if rows is None else s.index_select(0, rows)
        if gran in ("field", "field_dim"):
            fields = self.field_index if rows is None else self.field_index.index_select(0, rows)
            return s.index_select(0, fields)
        return s  # [1, 1|D]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """One fused op thresholds a table and gathers the batch from it (its backward sums the
        batch's gradients per row, so V and s see exactly the reference's gradients). The table
        is the whole ``V`` when it has no more rows than the batch has ids (``use_full_table``),
        else the batch's distinct rows (``R x D``, not ``B x F x D``): the cost follows the
        smaller of table and batch. On CPU the kernel serves instead: thresholds shared by many
        rows id by id (``pruned_shared_lookup``), per-feature ones on the rows the batch names,
        read in place (``pruned_lookup``, for a batch smaller than the table)."""
        threshold = self.threshold if self.sparse else with_extra_decay(self.threshold, self.extra_decay)
        if not self.sparse and not is_per_feature(self.config.granularity):  # CPU kernel, per id
            fields = self.field_index if self.config.granularity in ("field", "field_dim") else None
            out = pruned_shared_lookup(self.weight, threshold, ids, fields)
            if out is not None:
                return out
        if not self.sparse and use_full_table(self.spec.num_features, ids.numel()):
            return pruned_gather(self.weight, self._threshold_rows(threshold, None), ids)
        if not self.sparse and is_per_feature(self.config.granularity):
            out = pruned_lookup(self.weight, threshold, ids)  # CPU kernel: named rows only
            if out is not None:
                return out
        uniq, inverse = unique_rows(ids, self.spec.num_features)
        if self.sparse:
            rows, s_rows = self._gather_sparse(uniq)
        else:
            rows = self.weight.index_select(0, uniq)
            s_rows = self._threshold_rows(threshold, uniq)
        return pruned_gather(rows, s_rows, inverse)

    def _gather_sparse(self, uniq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sparse_lazy: the batch's rows (caught up on their pending drift) and their ``s``, from
        leaves whose gradients :meth:`_apply_sparse_step` hands to the row-sparse optimizer
        (with the caught-up optimizer state, so each row is read and written once a step)."""
        per_feature = is_per_feature(self.config.granularity)
        step = self._optimizer.completed_steps if self._optimizer is not None else 0
        v_table, s_table = self._lazy_tables() if self._tables is not None else (None, None)
        if v_table is not None:
            v_held = v_table.current_rows(uniq, step)
            rows = v_held[0]
        else:  # before extra_optimizers nothing is pending
            v_held, rows = None, self.weight.index_select(0, uniq)
        if per_feature and s_table is not None:
            s_held = s_table.current_rows(uniq, step)
            s = s_held[0]
        else:
            s_held = None
            s = self.threshold.index_select(0, uniq) if per_feature else self.threshold.clone()
        recording = self.training and torch.is_grad_enabled()
        rows.requires_grad_(recording)
        s.requires_grad_(recording)
        if recording:
            self._pending = (uniq, rows, s, v_held, s_held)
        return rows, (s if per_feature else self._threshold_rows(s, uniq))

    # --- optimisation -------------------------------------------------------------------------
    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        if self.sparse:
            return []
        cfg = self.config
        return [
            {"params": [self.weight], "lr": lr, "weight_decay": cfg.weight_decay},
            {"params": [self.threshold], "lr": cfg.threshold_lr or lr,
             "weight_decay": cfg.s_weight_decay},
        ]

    def extra_optimizers(self, lr: float, weight_decay: float) -> list[torch.optim.Optimizer]:
        if not self.sparse:
            return []
        self._lazy_tables(lr)
        done = self._optimizer.completed_steps if self._optimizer is not None else 0
        self._optimizer = LazyRowAdam([self.weight, self.threshold], self._apply_sparse_step, done)
        return [self._optimizer]

    def _lazy_tables(self, lr: float | None = None) -> tuple[LazyAdamTable, LazyAdamTable]:
        if self._tables is None or (lr is not None and self._tables[0].lr != lr):
            if lr is None:
                raise RuntimeError("sparse_lazy PEP needs extra_optimizers(lr, ...) before training")
            cfg = self.config
            self._tables = (
                LazyAdamTable(self.weight, lr, cfg.weight_decay, segments=cfg.lazy_segments),
                LazyAdamTable(self.threshold, cfg.threshold_lr or lr, cfg.s_weight_decay,
                              segments=cfg.lazy_segments),
            )
        return self._tables

    def _apply_sparse_step(self, step: int) -> None:
        if self._pending is None:
            return
        uniq, rows, s, v_held, s_held = self._pending
        self._pending = None
        v_table, s_table = self._lazy_tables()
        v_grad = rows.grad if rows.grad is not None else torch.zeros_like(rows)
        v_table.step_rows(uniq, v_grad, step, v_held)
        s_rows = (uniq if is_per_feature(self.config.granularity)
                  else torch.arange(s.shape[0], device=s.device))
        s_grad = s.grad if s.grad is not None else torch.zeros_like(s)
        s_table.step_rows(s_rows, s_grad, step, s_held)

    def materialize(self) -> None:
        """sparse_lazy: apply every row's pending drift (before a count, snapshot or export)."""
        if self.sparse and self._optimizer is not None:
            v_table, s_table = self._lazy_tables()
            v_table.catch_up(None, self._optimizer.completed_steps)
            s_table.catch_up(None, self._optimizer.completed_steps)

    # --- nonzero tracking and snapshots -------------------------------------------------------
    def row_nonzeros(self) -> torch.Tensor:
        """Exact nonzeros per row of the current pruned table."""
        self.materialize()
        return count_nonzeros(self.weight.detach(), self.threshold.detach(),
                              self.config.granularity, self.field_index)

    def after_step(self, step: int) -> None:
        if step == self.config.rewind_step and self.initial_weight is not None:
            self.materialize()
            self.initial_weight.copy_(self.weight.detach())
        if step < self._next_count or self.search_done():
            return
        nonzeros = int(self.row_nonzeros().sum())
        self._record(step, nonzeros)
        self._snapshot_reached(step, nonzeros)
        self._schedule_next(step, nonzeros)
        self._boost_on_stall(step, nonzeros)

    @property
    def s_decay(self) -> float:
        """s's decay now: the configured one plus any stall boosts."""
        return self.config.s_weight_decay + self.extra_decay

    def _boost_on_stall(self, step: int, nonzeros: int) -> None:
        """Multiply s's decay by ``stall_decay_factor`` (up to ``max_threshold_weight_decay``)
        when pruning has slowed (the count's rate over the last ``BOOST_WINDOW`` of the cap is
        below the window's before) and at that rate the next target would be missed by the cap.
        A slowing count is the task's pull on the thresholds gaining on their decay (PEPConfig's
        notes), which more steps do not fix. The rate forecast is optimistic on a slowing count,
        so a target the reference reaches within the cap is reached before any boost, with the
        reference's mask. Dense mode only; each boost is warned about, traced and recorded with
        the snapshots after it (``info_threshold_weight_decay`` of the retrain rows)."""
        cfg, cap = self.config, self._cap_steps
        pending = self._pending_targets()
        if cfg.stall_decay_factor == 1 or self.sparse or not pending or cap is None:
            return
        window = max(1, round(BOOST_WINDOW * cap))
        total = self.spec.num_features * self.spec.dim
        if step - self._boosted_at < 2 * window or nonzeros > BOOST_START * total:
            return
        recent, before = self._count_at(step - window), self._count_at(step - 2 * window)
        if recent is None or before is None or recent["step"] <= before["step"]:
            return
        rate = (recent["nonzeros"] - nonzeros) / max(step - recent["step"], 1)
        rate_before = (before["nonzeros"] - recent["nonzeros"]) / (recent["step"] - before["step"])
        needed = (nonzeros - max(c for _, c in pending)) / rate if rate > 0 else math.inf
        boosted = min(self.s_decay * cfg.stall_decay_factor, cfg.max_threshold_weight_decay)
        if rate >= rate_before or step + needed <= cap or boosted <= self.s_decay:
            return
        self.extra_decay = boosted - cfg.s_weight_decay
        self._boosted_at = step
        self.boosts = (*self.boosts, {"step": step, "nonzeros": nonzeros, "s_weight_decay": boosted})
        warnings.warn(
            f"PEP: pruning slowed at {nonzeros / total:.1%} kept (step {step}; at its rate target "
            f"{max(pending)[0]:g} would need ~{needed:,.0f} more steps, the cap is {cap}): s's "
            f"weight decay raised to {boosted:g} (stall_decay_factor={cfg.stall_decay_factor:g}; "
            f"1 keeps the reference's fixed decay)", RuntimeWarning, stacklevel=2)

    def _count_at(self, step: int) -> dict[str, Any] | None:
        """The last traced count at or before ``step``."""
        earlier = [r for r in self.trace if r["step"] <= step]
        return earlier[-1] if earlier else None

    def _record(self, step: int, nonzeros: int) -> None:
        total = self.spec.num_features * self.spec.dim
        with torch.no_grad():
            s = self.threshold.detach()
            self.trace.append({
                "step": step, "nonzeros": nonzeros, "sparsity": 1.0 - nonzeros / total,
                "threshold_mean": float(torch.sigmoid(s).mean()), "s_mean": float(s.mean()),
                "s_weight_decay": self.s_decay,
            })

    def _pending_targets(self) -> list[tuple[float, int]]:
        """``(target, count)`` of the targets not reached yet."""
        reached = {snap.target for snap in self.snapshots}
        return [(t, c) for t, c in zip(self.config.targets, self.target_counts, strict=True)
                if t not in reached]

    def _snapshot_reached(self, step: int, nonzeros: int) -> None:
        new = [(t, c) for t, c in self._pending_targets() if nonzeros <= c]
        if not new:
            return
        args = (self.weight.detach(), self.threshold.detach(), self.config.granularity,
                self.field_index)
        mask = pruned_mask(*args).cpu()  # see _apply
        weight = pruned_weight(*args).cpu() if self.config.reinit == "keep" else None
        for target, count in new:
            self.snapshots.append(Snapshot(target, count, step, nonzeros, mask, weight, self.s_decay))

    def _schedule_next(self, step: int, nonzeros: int) -> None:
        self._last_counts = (self._last_counts + [(step, nonzeros)])[-2:]
        interval = self.config.count_every
        pending = [c for _, c in self._pending_targets()]
        if len(self._last_counts) == 2 and pending:
            (s0, n0), (s1, n1) = self._last_counts
            rate = (n0 - n1) / max(s1 - s0, 1)  # nonzeros lost per step
            if rate > 0:
                predicted = (nonzeros - max(pending)) / rate
                interval = int(min(interval, max(1, predicted // 2)))
        self._next_count = step + interval

    def search_done(self) -> bool:
        return len(self.snapshots) == len(self.config.targets)

    def check_search(self, step: int, cap_steps: int) -> list[str]:
        """Forecast, from the first epoch, which pending targets the cap allows: a target is
        reachable when the mean threshold's drift so far, or the trend of the exact counts,
        brings it there by ``cap_steps`` (both optimistic: the drift slows later). Nothing
        reachable and nothing reached is an error naming the init that would reach the targets."""
        self._cap_steps = cap_steps
        pending = self._pending_targets()
        if not pending or step <= 0 or step >= cap_steps:
            return []
        self.materialize()
        s_now = float(self.threshold.detach().mean())
        rate = (s_now - self.config.threshold_init) / step  # s per step, so far
        magnitudes = self.weight.detach().abs().flatten().float()
        late = []
        for target, count in pending:
            tau = float(magnitudes.kthvalue(max(1, magnitudes.numel() - count)).values)
            need = _logit(min(max(tau, 1e-30), 0.5))  # where s prunes all but ``count`` entries
            # the decay pulls s toward 0: sigmoid(s) never passes 0.5 by drift
            by_drift = (need - s_now) / rate if rate > 0 and tau < 0.5 else math.inf
            if step + min(by_drift, self._steps_by_trend(count)) > cap_steps:
                late.append((target, need))
        if not late:
            return []
        init = max(need for _, need in late) - max(rate, 0.0) * 0.5 * cap_steps
        names = ", ".join(f"{t:g}" for t, _ in late)
        message = (
            f"PEP target(s) {names} cannot be reached within the search cap of {cap_steps} steps "
            f"from threshold_init {self.config.threshold_init:g}: after {step} steps s moved "
            f"{s_now - self.config.threshold_init:+.3g} (to {s_now:.2f}); it must reach about "
            f"{max(need for _, need in late):.2f}. "
            + (f"threshold_init {init:.1f} would (or raise threshold_lr, or --search-epochs)"
               if max(need for _, need in late) < 0 else
               "Entries above 0.5 cannot be pruned by the decay's drift (it pulls s toward 0): "
               "lower the model's lr or raise weight_decay so the table stays smaller")
        )
        if len(late) == len(self.config.targets):
            raise ValueError(message)
        return [message]

    def _steps_by_trend(self, count: int) -> float:
        """Steps until the exact nonzero count reaches ``count`` at its last measured rate."""
        if len(self._last_counts) < 2:
            return math.inf
        (s0, n0), (s1, n1) = self._last_counts
        rate = (n0 - n1) / max(s1 - s0, 1)
        return (n1 - count) / rate if rate > 0 else math.inf

    def search_shortfall(self) -> list[str]:
        last = self.trace[-1] if self.trace else None
        where = ("" if last is None else
                 f" (at step {last['step']}: {last['nonzeros']} nonzeros, "
                 f"{1 - last['sparsity']:.1%} of the table)")
        hint = self._shortfall_hint()
        return [f"PEP target {t:g} was not reached within the search{where}; it has no retrain row{hint}"
                for t, _ in self._pending_targets()]

    def _shortfall_hint(self) -> str:
        """Why the count fell short, from the trace's last ``RECENT_FRACTION`` of steps (pruning
        slows as it goes, so the recent rate, not the average): the steps the smallest missed
        target would need at that rate. Within ``STALL_FACTOR`` times the search so far: more
        search epochs; beyond: the task's pull on the thresholds outweighs their decay."""
        pending = self._pending_targets()
        if len(self.trace) < 4 or not pending:
            return ""
        end = self.trace[-1]
        recent = [r for r in self.trace if r["step"] >= end["step"] * (1 - RECENT_FRACTION)]
        start = recent[0] if len(recent) >= 2 else self.trace[-2]
        rate = (start["nonzeros"] - end["nonzeros"]) / max(end["step"] - start["step"], 1)
        needed = (end["nonzeros"] - min(c for _, c in pending)) / rate if rate > 0 else math.inf
        if needed <= STALL_FACTOR * end["step"]:
            return (f"; at the last {end['step'] - start['step']} steps' rate it needs ~{needed:,.0f} "
                    f"more steps: give the search more epochs")
        return (f"; the count nearly stalled ({start['nonzeros']} -> {end['nonzeros']} nonzeros over "
                f"the last {end['step'] - start['step']} steps): the task's pull on the thresholds "
                f"outweighs their decay, so raise threshold_weight_decay (now "
                f"{self.s_decay:g}; e.g. 0.1)")

    def search_trace(self) -> list[dict[str, Any]]:
        return list(self.trace)

    # --- reporting ----------------------------------------------------------------------------
    def num_params(self) -> int:
        return int(self.row_nonzeros().sum())

    def storage_bytes(self) -> int:
        return pruned_storage_bytes(self.spec.num_features, self.spec.dim, self.num_params())

    def feature_dims(self) -> np.ndarray:
        return self.row_nonzeros().cpu().numpy().astype(np.int64)

    # --- retrain ------------------------------------------------------------------------------
    def retrain_points(self) -> list[RetrainPoint]:
        """One point per reached target; each names the targets not reached (``""``: none)."""
        unreached = ",".join(f"{t:g}" for t, _ in self._pending_targets())
        points = []
        for snap in sorted(self.snapshots, key=lambda s: -s.target_count):
            label = f"target={snap.target:.2f}" if snap.target <= 1 else f"target={int(snap.target)}"
            info = {"target": snap.target, "step": snap.step, "nonzeros": snap.nonzeros,
                    "granularity": self.config.granularity, "reinit": self.config.reinit,
                    "targets_not_reached": unreached,
                    "threshold_weight_decay": (self.config.s_weight_decay if snap.s_weight_decay
                                               is None else snap.s_weight_decay)}
            points.append(RetrainPoint(label, info, snap))
        return points

    def for_retrain(self, point: RetrainPoint) -> MaskedEmbedding:
        snap: Snapshot = point.state
        cfg = self.config
        if cfg.reinit == "rewind":
            assert self.initial_weight is not None
            weight = self.initial_weight
        elif cfg.reinit == "keep":
            assert snap.weight is not None
            weight = snap.weight
        else:
            weight = nn.init.xavier_uniform_(torch.empty(self.spec.num_features, self.spec.dim))
        mask = snap.mask
        if cfg.retrain_mask == "prefix":
            mask = torch.arange(self.spec.dim) < mask.sum(dim=1, keepdim=True)
        decay = cfg.weight_decay if cfg.retrain_weight_decay is None else cfg.retrain_weight_decay
        return MaskedEmbedding(self.spec, weight.cpu(), mask, MaskedConfig(weight_decay=decay))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))
