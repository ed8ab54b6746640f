"""AutoEmb and AutoDim search-step cost relative to the uniform model's step (same FM, batch, data).

A search step is what the trainer runs per training batch during the search phase: the model
step on a training batch plus the architecture step on a validation batch. Each method gets a
short warm-up run, then a timed run of ``--steps`` steps with the project's Trainer; the
figure is the trainer's own step time (evaluation excluded). One run, printed ratios.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/search_cost.py
"""

from __future__ import annotations

import argparse
import sys

import torch

from autoembed.config import DataConfig, ModelConfig, TrainConfig
from autoembed.data import load_dataset
from autoembed.data.base import CTRData, split_indices
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.registry import get_method
from autoembed.models import build_model
from autoembed.training import Trainer

METHODS = ("uniform", "autoemb", "autodim")


def step_seconds(
    method: str, data: CTRData, spec: EmbeddingSpec, cfg: TrainConfig, steps: int, warmup: int
) -> float:
    """Mean seconds per trainer step of ``method`` (after ``warmup`` untimed steps)."""
    cls = get_method(method)
    timed = 0.0
    for n in (warmup, steps):
        torch.manual_seed(cfg.seed)
        model = build_model(ModelConfig(name="fm", dim=spec.dim), cls(spec, cls.Config()), spec)
        run_cfg = TrainConfig(**{**cfg.__dict__, "max_steps": n, "epochs": 1})
        trainer = Trainer(model, data, split_indices(data.num_rows, 2021), run_cfg)
        trainer.fit(early_stopping=False, evaluate_test=False)
        timed = trainer.step_seconds / max(trainer.steps, 1)
    return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m", help="ml-1m (real data) or synthetic")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    data = load_dataset(DataConfig(name=args.dataset))
    split = split_indices(data.num_rows, 2021)
    spec = EmbeddingSpec.from_data(data, args.dim, split.train)
    cfg = TrainConfig(batch_size=args.batch_size, threads=args.threads, device=args.device)
    print(f"# {data.name}: {data.num_rows} rows, {spec.num_features} features, FM D={args.dim}, "
          f"batch {args.batch_size}, {args.steps} timed steps, threads {args.threads}, {args.device}")
    base = None
    print(f"{'method':10s} {'ms/step':>9s} {'x uniform':>10s}")
    for method in METHODS:
        ms = 1000 * step_seconds(method, data, spec, cfg, args.steps, args.warmup)
        base = base or ms
        print(f"{method:10s} {ms:9.2f} {ms / base:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
