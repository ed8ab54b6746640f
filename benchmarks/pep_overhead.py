"""PEP search-step overhead: samples/s of FM with PEP (each granularity) vs FM with a uniform
embedding, same batches, same data, one run. Target: PEP step <= 1.10x the uniform step.

Steps mirror the trainer (fused Adam over model + embedding groups, zero_grad(set_to_none),
``after_step`` with PEP's scheduled exact counts included). Variants are interleaved in rounds
so machine noise hits them alike; the figure is the median of the per-round step times. Time
is the process's CPU time (on a quiet machine the same as wall time; on a shared one it leaves
out the slices other processes take); ``--wall-clock`` times wall time instead.
The uniform embedding gathers with the same row gather (``accumulate_rows`` backward) as PEP,
so the ratio is the threshold's own cost. The uniform model runs twice ("uniform/again" is an
identical copy): its ratio shows the measurement's noise. Every granularity runs on the fused
CPU kernel (``pep_cpu_kernel``: per named row for feature and feature_dim, per id for the
thresholds shared by many rows); ``--unfused`` adds a copy of each on the unfused torch ops, so
the kernel's gain is measured in the same run; ``--rows-path`` adds each granularity without the
kernel's lookups (``pruned_lookup`` and ``pruned_shared_lookup`` off: the whole-table or
distinct-rows path, which batches smaller than the table took before them). ``--ablation`` adds
uniform with a spare, unused table shaped and optimized like feature_dim's thresholds (its own
Adam group, coupled L2, a fresh zero gradient each step: the floor the reference's dense
thresholds put under feature_dim, without any threshold arithmetic) and feature_dim without its
thresholds' Adam step;
``--sparse-lazy`` adds each granularity with ``optimizer_mode="sparse_lazy"`` (a departure from
the reference: see ``sparse_adam``).

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/pep_overhead.py [--profile]
    .venv/bin/python benchmarks/pep_overhead.py --smoke-test   # every variant, seconds

``--profile`` then profiles three more rounds of each variant (torch.profiler, self CPU time
per op, median of the rounds) and lists, per PEP variant, the ops whose time per step exceeds
the uniform step's most.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import nullcontext
from unittest.mock import patch

import numpy as np
import torch

from autoembed.config import DataConfig, ModelConfig
from autoembed.data.base import split_indices
from autoembed.embeddings import pep as pep_module
from autoembed.embeddings import pep_cpu_kernel
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.pep import PEPConfig, PEPEmbedding
from autoembed.embeddings.pep_threshold import GRANULARITIES
from autoembed.embeddings.uniform import UniformEmbedding
from autoembed.models import build_model
from autoembed.training.allocator import keep_freed_memory
from autoembed.training.denormals import flush_denormals


def load(name: str):
    from autoembed.data import load_dataset

    try:
        return load_dataset(DataConfig(name=name))
    except (FileNotFoundError, ValueError) as exc:
        print(f"{name} unavailable ({exc}); using synthetic data")
        return load_dataset(DataConfig(name="synthetic"))


class Variant:
    clock = staticmethod(time.process_time)

    def __init__(self, label: str, embedding, spec: EmbeddingSpec, dim: int, lr: float,
                 fused: bool = True, lookup: bool = True) -> None:
        self.label = label
        self.fused = fused
        self.lookup = lookup
        self.model = build_model(ModelConfig(name="fm", dim=dim), embedding, spec, seed=0)
        groups = [{"params": self.model.model_parameters(), "lr": lr, "weight_decay": 0.0}]
        groups += embedding.param_groups(lr, 0.0)
        self.optimizers = [torch.optim.Adam([g for g in groups if g["params"]], lr=lr, fused=True)]
        self.optimizers += embedding.extra_optimizers(lr, 0.0)
        self.loss = torch.nn.BCEWithLogitsLoss()
        self.steps = 0
        self.times: list[float] = []

    def run(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        with (nullcontext() if self.fused else pep_cpu_kernel.unfused(),
              nullcontext() if self.lookup else patch.object(pep_module, "pruned_lookup",
                                                             lambda *args: None),
              nullcontext() if self.lookup else patch.object(pep_module, "pruned_shared_lookup",
                                                             lambda *args: None)):
            self._run(batches)

    def _run(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        start = self.clock()
        for ids, labels in batches:
            loss = self.loss(self.model(ids), labels)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in self.optimizers:
                opt.step()
            self.steps += 1
            self.model.embedding.after_step(self.steps)
        self.times.append((self.clock() - start) / len(batches))


class _ZeroGradient(torch.autograd.Function):
    """Identity on ``x`` whose backward hands ``table`` a fresh zero gradient of its shape."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.table_shape = table.shape
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, grad.new_zeros(ctx.table_shape)


class UniformWithSpareTable(UniformEmbedding):
    """Uniform plus an unused table shaped and optimized like feature_dim's ``s`` (init -15, its
    own Adam group with PEP's coupled L2), given a fresh zero gradient each step: what the
    reference's thresholds cost without any of the threshold's arithmetic (no sigmoid, no
    gradient computed), i.e. a floor under PEP feature_dim's step."""

    def __init__(self, spec: EmbeddingSpec) -> None:
        super().__init__(spec)
        self.spare = torch.nn.Parameter(torch.full((spec.num_features, spec.dim), -15.0))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return _ZeroGradient.apply(super().forward(ids), self.spare)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return [{"params": [self.weight], "lr": lr, "weight_decay": weight_decay},
                {"params": [self.spare], "lr": lr, "weight_decay": PEPConfig().s_weight_decay}]


class PEPWithoutThresholdAdam(PEPEmbedding):
    """PEP whose thresholds are not stepped: the search step minus its Adam over ``s``."""

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return super().param_groups(lr, weight_decay)[:1]


def op_times(variants: list[Variant], batches: list[tuple[torch.Tensor, torch.Tensor]],
             rounds: int = 3) -> list[dict[str, float]]:
    """Per variant: self CPU microseconds per step of each op, median over profiled rounds
    (interleaved like the timing; a profiled round is not a timing)."""
    from torch.profiler import ProfilerActivity, profile

    seen: list[dict[str, list[float]]] = [defaultdict(list) for _ in variants]
    for _ in range(rounds):
        for v, ops in zip(variants, seen, strict=True):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                v.run(batches)
            v.times.pop()
            for event in prof.key_averages():
                ops[event.key].append(event.self_cpu_time_total / len(batches))
    return [{k: statistics.median(x + [0.0] * (rounds - len(x))) for k, x in ops.items()}
            for ops in seen]


def print_profile(variants: list[Variant], batches: list[tuple[torch.Tensor, torch.Tensor]],
                  top: int = 12) -> None:
    base, _, *peps = op_times(variants, batches)
    for v, ops in zip(variants[2:], peps, strict=True):
        extra = {k: ops.get(k, 0.0) - base.get(k, 0.0) for k in ops.keys() | base.keys()}
        print(f"\n{v.label}: self CPU us/step vs uniform, total {sum(ops.values()):.0f} vs "
              f"{sum(base.values()):.0f} (profiler overhead included)")
        for name, us in sorted(extra.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {us:+8.1f}  {name}")


def time_interleaved(variants: list, batches: list, rounds: int, warmup: int = 3) -> None:
    """One warm-up run of ``warmup`` batches per variant (not timed), then ``rounds`` rounds in
    which every variant runs all ``batches`` in turn (each ``run`` appends to its ``times``)."""
    for v in variants:
        v.run(batches[:warmup])
        v.times.clear()
    for _ in range(rounds):
        for v in variants:
            v.run(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--granularities", default="global,dimension,feature,feature_dim")
    parser.add_argument("--profile", action="store_true", help="then list each PEP variant's extra ops")
    parser.add_argument("--wall-clock", action="store_true", help="time wall time, not CPU time")
    parser.add_argument("--unfused", action="store_true",
                        help="also time each granularity the fused CPU kernel serves without it")
    parser.add_argument("--rows-path", action="store_true",
                        help="also time each granularity with the kernel's lookups off (the "
                             "whole-table or distinct-rows path)")
    parser.add_argument("--ablation", action="store_true",
                        help="also time uniform + a spare table optimized like feature_dim's "
                             "thresholds (a floor under feature_dim), and PEP feature_dim "
                             "without the Adam step on its thresholds")
    parser.add_argument("--sparse-lazy", action="store_true",
                        help="also time each granularity with optimizer_mode=sparse_lazy (rows "
                             "stepped when gathered, untouched rows caught up in closed form)")
    parser.add_argument("--smoke-test", action="store_true",
                        help="synthetic data, every granularity and option, 2 steps, seconds")
    args = parser.parse_args()
    if args.smoke_test:
        args.dataset, args.steps, args.rounds, args.batch_size = "synthetic", 2, 1, 256
        args.granularities = ",".join(GRANULARITIES)
        args.unfused = args.rows_path = args.ablation = args.sparse_lazy = True
    if args.wall_clock:
        Variant.clock = staticmethod(time.perf_counter)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the trainer does: freed buffers are reused, not faulted in again
    flush_denormals()

    data = load(args.dataset)
    split = split_indices(data.num_rows, 2021)
    spec = EmbeddingSpec.from_data(data, args.dim, split.train)
    rng = np.random.default_rng(0)
    rows = rng.choice(split.train, size=(args.steps, args.batch_size), replace=True)
    batches = [(torch.from_numpy(data.ids[r].astype(np.int64)), torch.from_numpy(data.labels[r]))
               for r in rows]

    def variant(label: str, make, fused: bool = True, lookup: bool = True) -> Variant:
        torch.manual_seed(0)  # every variant starts from the same initial tables
        return Variant(label, make(spec), spec, args.dim, 1e-3, fused=fused, lookup=lookup)

    def pep(gran: str, cls: type[PEPEmbedding] = PEPEmbedding, mode: str = "dense"):
        return lambda spec: cls(spec, PEPConfig(granularity=gran, threshold_init=-15.0,
                                                optimizer_mode=mode))

    variants = [variant("uniform", UniformEmbedding), variant("uniform/again", UniformEmbedding)]
    for gran in args.granularities.split(","):
        variants.append(variant(f"pep/{gran}", pep(gran)))
        if args.unfused:
            variants.append(variant(f"pep/{gran}/unfused", pep(gran), fused=False))
        if args.rows_path:
            variants.append(variant(f"pep/{gran}/rows path", pep(gran), lookup=False))
        if args.sparse_lazy:
            variants.append(variant(f"pep/{gran}/sparse_lazy", pep(gran, mode="sparse_lazy")))
    if args.ablation:
        variants.append(variant("uniform+spare table", UniformWithSpareTable))
        variants.append(variant("pep/feature_dim/no s Adam",
                                pep("feature_dim", PEPWithoutThresholdAdam)))
    time_interleaved(variants, batches, args.rounds)

    base = statistics.median(variants[0].times)
    print(f"data={data.name} rows={data.num_rows} features={spec.num_features} D={args.dim} "
          f"batch={args.batch_size} threads={args.threads} steps/round={args.steps} "
          f"rounds={args.rounds} clock={'wall' if args.wall_clock else 'cpu'}")
    print(f"{'variant':26s} {'ms/step':>8s} {'samples/s':>10s} {'vs uniform':>10s}")
    for v in variants:
        t = statistics.median(v.times)
        print(f"{v.label:26s} {t * 1e3:8.2f} {args.batch_size / t:10.0f} {t / base:9.3f}x")
    if args.profile:
        print_profile(variants, batches)


if __name__ == "__main__":
    main()
