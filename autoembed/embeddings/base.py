"""The plug-in seam: the contract every embedding-size method implements.

A method maps field-aware global feature ids ``[B, F]`` to dense embeddings ``[B, F, D]``;
models never know which method they hold. Methods with a search phase (PEP, AutoEmb, AutoDim)
propose one or more :class:`RetrainPoint` after searching, and build the fixed-size embedding
that is retrained from scratch for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from autoembed.data.base import CTRData, FieldLayout


@dataclass(frozen=True)
class EmbeddingSpec(FieldLayout):
    """What a method needs to know about the data: the id space, field layout and frequencies."""

    vocab_sizes: tuple[int, ...]
    dim: int  # D: the width the model interacts at
    feature_counts: np.ndarray  # int64 [num_features]: frequency of each id in the training split
    field_names: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: CTRData, dim: int, train_rows: np.ndarray | None = None) -> EmbeddingSpec:
        """Spec for ``data``; frequencies counted on ``train_rows`` only when given (no leak)."""
        if train_rows is None:
            counts = np.asarray(data.feature_counts, dtype=np.int64)
        else:
            counts = data.counts_in(train_rows)
        return cls(tuple(data.vocab_sizes), dim, counts, tuple(data.field_names))


@dataclass(frozen=True)
class SearchContext:
    """What a method may size its defaults by: the dataset's name, its spec, and the search
    phase's cap in optimizer steps (epochs x steps per epoch, or ``max_steps`` if smaller)."""

    dataset: str
    spec: EmbeddingSpec
    search_steps: int


@dataclass
class RetrainPoint:
    """One configuration found by a search phase, to be retrained from scratch.

    ``label`` names it in results (e.g. ``"sparsity=0.10"``); ``info`` holds extra result columns
    (target, search step, ...); ``state`` is method-private (a mask, a size per feature).
    """

    label: str
    info: dict[str, Any] = field(default_factory=dict)
    state: Any = None


class EmbeddingMethod(nn.Module):
    """Base class of every method. Subclasses set ``name`` and ``Config`` (a dataclass).

    Required: ``forward``, ``num_params``, ``storage_bytes``, ``feature_dims``.
    Two-phase methods set ``needs_search = True`` and implement ``retrain_points`` and
    ``for_retrain``. Everything else has a sensible default.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]  # dataclass of the method's hyperparameters (all with defaults)
    needs_search: ClassVar[bool] = False
    min_search_steps: ClassVar[int] = 0  # the default search cap has at least these many steps

    def __init__(self, spec: EmbeddingSpec, config: Any) -> None:
        super().__init__()
        self.spec = spec
        self.config = config

    # --- configuration ------------------------------------------------------------------------
    @classmethod
    def configure(cls, params: dict[str, Any], context: SearchContext) -> Any:
        """The Config for the user's ``params`` on this data; a method may fill the defaults
        the user left out from ``context`` here (PEP does). Default: ``Config(**params)``."""
        return cls.Config(**params)

    @classmethod
    def default_search_epochs(cls, dataset: str) -> int | None:
        """Epoch cap of the search phase when the user sets none (None: the training epochs),
        raised where needed to ``min_search_steps`` optimizer steps (tiny data: one a epoch)."""
        return None

    # --- the contract -------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, F] int64 -> [B, F, D]
        raise NotImplementedError

    def num_params(self) -> int:
        """Embedding parameters a served model stores (nonzeros for pruning methods)."""
        raise NotImplementedError

    def storage_bytes(self) -> int:
        """Bytes the served embedding really takes (sparse format where that is smaller)."""
        raise NotImplementedError

    def feature_dims(self) -> np.ndarray:
        """Learned or assigned size of every feature, int [num_features]."""
        raise NotImplementedError

    # --- optimisation hooks (defaults suit single-phase methods) ------------------------------
    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups of the method's model-side parameters (not the arch ones)."""
        arch = {id(p) for p in self.arch_parameters()}
        params = [p for p in self.parameters() if id(p) not in arch and p.requires_grad]
        return [{"params": params, "lr": lr, "weight_decay": weight_decay}] if params else []

    def extra_optimizers(self, lr: float, weight_decay: float) -> list[torch.optim.Optimizer]:
        """Optimizers the method runs itself (e.g. row-sparse updates of a huge table). Their
        parameters must be left out of ``param_groups``; the trainer steps them with the rest."""
        return []

    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture parameters, stepped on validation batches (DARTS-style bi-level)."""
        return []

    def after_step(self, step: int) -> None:
        """Called after every optimizer step of the (search) training loop."""

    def on_epoch_end(self, epoch: int) -> None:
        """Called after each training epoch (e.g. temperature annealing)."""

    def search_done(self) -> bool:
        """True once the search has found everything it looks for (ends the search early)."""
        return False

    def check_search(self, step: int, cap_steps: int) -> list[str]:
        """After the first search epoch: what the search is foreseen not to find within
        ``cap_steps`` (a warning each). Raise ``ValueError`` when it can find nothing."""
        return []

    def search_shortfall(self) -> list[str]:
        """After the search: what it looked for and did not find (a warning each)."""
        return []

    def search_trace(self) -> list[dict[str, Any]]:
        """Rows describing the search over time (e.g. PEP's nonzeros per step)."""
        return []

    # --- two-phase protocol -------------------------------------------------------------------
    def retrain_points(self) -> list[RetrainPoint]:
        """After search: the configurations to retrain (one results row each)."""
        return []

    def for_retrain(self, point: RetrainPoint) -> EmbeddingMethod:
        """A fresh fixed-size embedding for ``point``; its parameters are retrained from scratch."""
        raise NotImplementedError(f"{self.name} has no retrain phase")


def dense_bytes(num_values: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of ``num_values`` dense values."""
    return int(num_values) * torch.tensor([], dtype=dtype).element_size()
