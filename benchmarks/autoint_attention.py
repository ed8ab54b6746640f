"""AutoInt+'s train step with its attention as the fused CPU kernel (``attention_kernel``, the
default on CPU) against torch's attention ops (fp32: ``scaled_dot_product_attention``; bf16:
bf16 products around a float32 ``short_softmax``), each in fp32 and under bf16 autocast.
ML-1M, D=16, the default AutoInt+ (3 layers, 2 heads, width 32, 3x400 DNN), fused Adam;
variants interleaved in rounds, median wall time per step.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/autoint_attention.py --batch-size 1024
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from autoembed.config import DataConfig, ModelConfig
from autoembed.data import load_dataset
from autoembed.data.base import split_indices
from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.uniform import UniformEmbedding
from autoembed.models import attention_kernel, build_model

try:
    from pep_overhead import time_interleaved  # run as a script from benchmarks/
except ImportError:  # imported as benchmarks.autoint_attention
    from benchmarks.pep_overhead import time_interleaved


class Variant:
    def __init__(self, label: str, spec: EmbeddingSpec, bf16: bool, fused: bool) -> None:
        self.label, self.bf16, self.fused = label, bf16, fused
        torch.manual_seed(0)
        self.model = build_model(ModelConfig(name="autoint", dim=spec.dim), UniformEmbedding(spec),
                                 spec, seed=0)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True)
        self.loss = nn.BCEWithLogitsLoss()
        self.times: list[float] = []

    def run(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        start = time.perf_counter()
        with nullcontext() if self.fused else attention_kernel.unfused():
            for ids, labels in batches:
                with torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext():
                    loss = self.loss(self.model(ids), labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        self.times.append((time.perf_counter() - start) / len(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataConfig(name="ml-1m"))
    split = split_indices(data.num_rows, 2021)
    spec = EmbeddingSpec.from_data(data, args.dim, split.train)
    rows = np.random.default_rng(0).choice(split.train, size=(args.steps, args.batch_size))
    batches = [(torch.from_numpy(data.ids[r].astype(np.int64)),
                torch.from_numpy(data.labels[r]).float()) for r in rows]
    if attention_kernel.KERNEL.load() is None:
        raise SystemExit("the attention kernel could not be built here (see the warning)")
    variants = [Variant("fp32, torch attention ops", spec, False, False),
                Variant("fp32, fused kernel", spec, False, True),
                Variant("bf16, torch attention ops", spec, True, False),
                Variant("bf16, fused kernel", spec, True, True)]
    time_interleaved(variants, batches, args.rounds, warmup=2)
    base = statistics.median(variants[0].times)
    print(f"AutoInt+ ML-1M D={args.dim} batch={args.batch_size} threads={args.threads} "
          f"steps/round={args.steps} rounds={args.rounds} clock=wall")
    print(f"{'variant':32s} {'ms/step':>8s} {'samples/s':>10s} {'vs fp32':>8s}")
    for v in variants:
        t = statistics.median(v.times)
        print(f"{v.label:32s} {t * 1e3:8.2f} {args.batch_size / t:10.0f} {base / t:7.2f}x")


if __name__ == "__main__":
    main()
