"""PEP search-step time with a 1M-row and a 10M-row table, same batch: the step must not grow
with the table (target: within 1.3x). Measures ``optimizer_mode="sparse_lazy"`` (row-sparse
Adam, lazy closed-form drift) and, for comparison, the dense reference mode (Adam over the
whole table every step, O(table) by construction).

The figure is the median step (forward + backward + optimizer) over ``--steps`` steps of random
batches; the exact nonzero count (scheduled, not per step) is timed separately, since in
sparse_lazy mode it first materialises every row's pending drift (O(table)).

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/pep_table_size.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from autoembed.embeddings.base import EmbeddingSpec
from autoembed.embeddings.pep import PEPConfig, PEPEmbedding
from autoembed.models.layers import fm_pairwise


def step_times(rows: int, mode: str, args: argparse.Namespace) -> tuple[float, float]:
    fields = args.fields
    vocab = (rows // fields,) * fields
    spec = EmbeddingSpec(vocab, args.dim, np.ones(sum(vocab), dtype=np.int64))
    torch.manual_seed(0)
    cfg = PEPConfig(granularity=args.granularity, threshold_init=-15.0, optimizer_mode=mode,
                    reinit="random", count_every=10**9)
    emb = PEPEmbedding(spec, cfg)
    optims = ([torch.optim.Adam(emb.param_groups(1e-3, 0.0), fused=True)]
              if mode == "dense" else []) + emb.extra_optimizers(1e-3, 0.0)
    gen = torch.Generator().manual_seed(1)
    offsets = torch.as_tensor(spec.field_offsets)
    labels = torch.randint(0, 2, (args.batch_size,), generator=gen).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    times = []
    for step in range(1, args.steps + 3):
        ids = torch.randint(0, vocab[0], (args.batch_size, fields), generator=gen) + offsets
        start = time.perf_counter()
        loss = loss_fn(fm_pairwise(emb(ids)), labels)
        for opt in optims:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optims:
            opt.step()
        emb.after_step(step)
        if step > 2:  # warm-up
            times.append(time.perf_counter() - start)
    start = time.perf_counter()
    emb.num_params()  # exact count (sparse_lazy: materialises all pending drift first)
    count_seconds = time.perf_counter() - start
    del emb, optims
    return statistics.median(times), count_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--modes", default="sparse_lazy,dense")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--fields", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dense-steps", type=int, default=5)
    parser.add_argument("--granularity", default="feature_dim")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"granularity={args.granularity} D={args.dim} fields={args.fields} "
          f"batch={args.batch_size} threads={args.threads}")
    print(f"{'mode':12s} {'rows':>10s} {'ms/step':>9s} {'vs smallest':>11s} {'count s':>8s}")
    for mode in args.modes.split(","):
        base = None
        steps = args.steps
        if mode == "dense":
            args.steps = args.dense_steps
        for rows in sizes:
            t, count = step_times(rows, mode, args)
            base = base or t
            print(f"{mode:12s} {rows:10d} {t * 1e3:9.2f} {t / base:10.2f}x {count:8.2f}", flush=True)
        args.steps = steps


if __name__ == "__main__":
    main()
