"""The machine's own limits for our shapes, and each model's training step as a fraction of them.

Measured on ``--device`` (cpu or cuda), for each batch size and precision (fp32, bf16):
(a) GEMM FLOP/s of every dense layer shape of DeepFM (its 3x400 DNN) and AutoInt+ (the
attention projections and its DNN), the forward ``x @ W`` of that shape; (b) the bandwidth of
an embedding lookup (gather of ``B*F`` rows) and of its backward (``index_add_`` of the rows'
gradients into a table-sized gradient), and of the fused Adam step over the model's
parameters; (c) the real training step (forward, backward, Adam) of FM, DeepFM and AutoInt+
with a uniform embedding, under ``torch.autocast`` for bf16 (embedding table, optimizer states
in fp32).

The *ceiling* of a model's step is the sum of the times its parts take at those measured
rates: every dense layer's three GEMMs (forward, and the two of backward) at that shape's
FLOP/s, one gather and one scatter of ``B*F`` rows, one Adam step over its parameters.
Element-wise work (activations, the loss, FM's sums, softmax) is left out, so the ceiling is a
bound the step cannot beat; ``fraction`` = ceiling / measured step (1.0 = at the limit), and
``fraction_of_best`` the same against the smaller ceiling of the two precisions (on a CPU
without AMX bf16 GEMMs are slower than fp32 ones, so bf16's own ceiling is not the machine's).
The header and the JSON name the ISA behind the rates (CPU: torch's vector ISA, AVX512-BF16
and AMX flags; CUDA: compute capability).

Needs only torch and numpy (and the project on ``PYTHONPATH``): it runs on a GPU machine with
no Ray or Optuna installed.

    PYTHONPATH=. python benchmarks/ceiling.py --device cpu --threads 2 --json ceiling.json
    PYTHONPATH=. python benchmarks/ceiling.py --device cuda --shape criteo
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import write_json  # noqa: E402

from autoembed.config import ModelConfig  # noqa: E402
from autoembed.embeddings.base import EmbeddingSpec  # noqa: E402
from autoembed.embeddings.gather import accumulate_rows  # noqa: E402
from autoembed.embeddings.uniform import UniformEmbedding  # noqa: E402
from autoembed.models import AutoInt, build_model  # noqa: E402
from autoembed.models.precision import autocast  # noqa: E402

# Vocabulary sizes per field: MovieLens-1M's 8 CTR fields (user, movie, gender, age, occupation,
# zip, year, genres) and a Criteo-shaped 39-field table of ~1M features.
SHAPES: dict[str, tuple[int, ...]] = {
    "ml1m": (6040, 3706, 2, 7, 21, 3439, 81, 301),
    "criteo": tuple(int(v) for v in np.geomspace(300_000, 3, 39).round()),
}
MODELS = ("fm", "deepfm", "autoint")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MB = 2**20


@dataclass
class Gemm:
    """One dense layer's forward product ``[m, k] @ [k, n]``, ``count`` times per step."""

    m: int
    k: int
    n: int
    count: int = 1

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.k * self.n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--shape", choices=sorted(SHAPES), default="ml1m", help="vocabularies")
    p.add_argument("--dim", type=int, default=16, help="D, the embedding width")
    p.add_argument("--batch-sizes", default="1024,4096")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions (median taken)")
    p.add_argument("--json", default=None, help="write the figures here, under the key "
                   "'ceiling_<shape>' (other keys of an existing file are kept)")
    p.add_argument("--smoke-test", action="store_true", help="tiny shapes, 2 repeats, seconds")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.batch_sizes, args.repeats, args.shape = "64", 2, "ml1m"
    return args


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dense_layers(model: str, batch: int, fields: int, dim: int, cfg: AutoInt.Config) -> list[Gemm]:
    """The GEMMs of one forward pass of ``model`` (FM has none; DeepFM's DNN defaults are AutoInt's)."""
    dnn: list[Gemm] = []
    width = fields * dim
    for h in (*cfg.dnn_hidden, 1):
        dnn.append(Gemm(batch, width, h))
        width = h
    if model == "deepfm":
        return dnn
    if model == "autoint":
        att, d_in = [], dim
        for _ in range(cfg.attention_layers):
            att.append(Gemm(batch * fields, d_in, 3 * cfg.attention_dim))  # q, k, v
            if cfg.residual and d_in != cfg.attention_dim:
                att.append(Gemm(batch * fields, d_in, cfg.attention_dim))
            head = cfg.attention_dim // cfg.attention_heads
            # scores and weighted values: per (row, head) an [F, head] @ [head, F] and back
            att.append(Gemm(fields, head, fields, count=2 * batch * cfg.attention_heads))
            d_in = cfg.attention_dim
        att.append(Gemm(batch, fields * cfg.attention_dim, 1))
        return att + dnn
    return []


def gemm_rate(g: Gemm, dtype: torch.dtype, device: torch.device, repeats: int,
              cache: dict[tuple, float]) -> float:
    """FLOP/s of ``[m, k] @ [k, n]`` (batched when ``count`` > 1) in ``dtype``."""
    key = (g.m, g.k, g.n, g.count, dtype)
    if key not in cache:
        if g.count > 1:  # the attention's small products, batched as the model runs them
            a = torch.randn(g.count, g.m, g.k, device=device, dtype=dtype)
            b = torch.randn(g.count, g.k, g.n, device=device, dtype=dtype)
            seconds = timed(lambda: torch.bmm(a, b), device, repeats)
        else:
            a = torch.randn(g.m, g.k, device=device, dtype=dtype)
            b = torch.randn(g.k, g.n, device=device, dtype=dtype)
            seconds = timed(lambda: a @ b, device, repeats)
        cache[key] = g.flops * g.count / seconds
    return cache[key]


def lookup_bandwidth(rows: int, dim: int, lookups: int, device: torch.device,
                     repeats: int) -> dict[str, float]:
    """Seconds and GB/s of gathering ``lookups`` random rows of a ``rows x dim`` fp32 table and
    of scattering their gradients into a table-sized gradient (the faster of ``index_add_`` into
    a zeroed table and ``accumulate_rows``, which zeroes its own: on CPU the threaded kernel)."""
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(rows, dim, device=device)
    ids = torch.randint(0, rows, (lookups,), generator=gen).to(device)
    grad_rows = torch.randn(lookups, dim, device=device)
    grad = torch.zeros_like(table)
    row_bytes = dim * 4
    gather_s = timed(lambda: nn.functional.embedding(ids, table), device, repeats)
    scatter_s = min(timed(lambda: grad.index_add_(0, ids, grad_rows), device, repeats),
                    timed(lambda: accumulate_rows(grad_rows, ids, rows), device, repeats))
    return {
        "gather_s": gather_s,
        "gather_gb_s": 2 * lookups * row_bytes / gather_s / 1e9,  # read row, write output
        "scatter_s": scatter_s,
        "scatter_gb_s": 3 * lookups * row_bytes / scatter_s / 1e9,  # read grad, read+write row
    }


def adam_seconds(model: nn.Module, device: torch.device, repeats: int) -> float:
    """One fused Adam step over every parameter of ``model`` (gradients set, as in training)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = torch.optim.Adam(params, lr=1e-6, fused=device.type in ("cpu", "cuda"))
    seconds = timed(opt.step, device, repeats)
    for p in params:
        p.grad = None
    return seconds


def train_step_seconds(model: nn.Module, batch: int, num_features: int, offsets: torch.Tensor,
                       vocab: torch.Tensor, precision: str, device: torch.device,
                       repeats: int) -> float:
    """Median seconds of one training step (forward, BCE loss, backward, Adam)."""
    gen = torch.Generator().manual_seed(1)
    ids = ((torch.rand(batch, len(vocab), generator=gen) * vocab).long() + offsets).to(device)
    labels = torch.randint(0, 2, (batch,), generator=gen).float().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type in ("cpu", "cuda"))
    loss_fn = nn.BCEWithLogitsLoss()

    def step() -> None:
        with autocast(precision, device):  # the trainer's: dense layers only, logits fp32
            logits = model(ids)
        loss = loss_fn(logits.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, device, repeats)


def measure(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab_sizes = SHAPES[args.shape]
    fields, features = len(vocab_sizes), int(sum(vocab_sizes))
    spec = EmbeddingSpec(vocab_sizes, args.dim, np.ones(features, dtype=np.int64))
    offsets = torch.as_tensor(spec.field_offsets)
    vocab = torch.as_tensor(vocab_sizes, dtype=torch.float32)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    precisions = [p for p in args.precisions.split(",") if p]
    if device.type == "cpu" and "bf16" in precisions and not torch.backends.mkldnn.is_available():
        print("ceiling: no oneDNN on this CPU build; bf16 runs through slow reference kernels")
    out: dict = {
        "device": str(device), "device_name": device_name(device), "threads": args.threads,
        "isa": isa(device),
        "torch": torch.__version__, "shape": args.shape, "fields": fields,
        "features": features, "dim": args.dim, "gemm": [], "memory": [], "models": [],
    }
    rates: dict[tuple, float] = {}
    cfg = AutoInt.Config()
    for batch in batches:
        bw = lookup_bandwidth(features, args.dim, batch * fields, device, args.repeats)
        out["memory"].append({"batch": batch, "rows": features, **bw})
        print(f"batch {batch}: gather {bw['gather_gb_s']:.1f} GB/s ({1e6 * bw['gather_s']:.0f} us),"
              f" scatter {bw['scatter_gb_s']:.1f} GB/s ({1e6 * bw['scatter_s']:.0f} us) over "
              f"{features:,} x {args.dim} rows", flush=True)
        for name in args.models.split(","):
            layers = dense_layers(name, batch, fields, args.dim, cfg)
            model = build_model(ModelConfig(name=name, dim=args.dim), UniformEmbedding(spec),
                                spec, seed=0).to(device)
            adam_s = adam_seconds(model, device, args.repeats)
            params = sum(p.numel() for p in model.parameters())
            for precision in precisions:
                dtype = DTYPES[precision]
                dense_s = 0.0
                for g in layers:
                    rate = gemm_rate(g, dtype, device, args.repeats, rates)
                    dense_s += 3 * g.flops * g.count / rate  # forward + two backward GEMMs
                ceiling_s = dense_s + bw["gather_s"] + bw["scatter_s"] + adam_s
                step_s = train_step_seconds(model, batch, features, offsets, vocab, precision,
                                            device, args.repeats)
                row = {
                    "model": name, "batch": batch, "precision": precision, "params": params,
                    "dense_gflop": 3 * sum(g.flops * g.count for g in layers) / 1e9,
                    "dense_ceiling_ms": 1e3 * dense_s, "lookup_ceiling_ms":
                    1e3 * (bw["gather_s"] + bw["scatter_s"]), "adam_ms": 1e3 * adam_s,
                    "ceiling_ms": 1e3 * ceiling_s, "step_ms": 1e3 * step_s,
                    "samples_per_s": batch / step_s, "fraction": ceiling_s / step_s,
                }
                out["models"].append(row)
                print(f"  {name:8s} {precision}: step {row['step_ms']:8.3f} ms "
                      f"({row['samples_per_s']:,.0f} samples/s), ceiling {row['ceiling_ms']:.3f} ms"
                      f" (dense {row['dense_ceiling_ms']:.3f}, lookup {row['lookup_ceiling_ms']:.3f},"
                      f" adam {row['adam_ms']:.3f}) -> {row['fraction']:.2f} of the ceiling",
                      flush=True)
    best_ceilings(out["models"])
    print("model    batch precision  step ms  ceiling ms  fraction  best ceiling ms  fraction of best")
    for r in out["models"]:
        print(f"{r['model']:8s} {r['batch']:5d} {r['precision']:9s} {r['step_ms']:8.3f} "
              f"{r['ceiling_ms']:11.3f} {r['fraction']:9.2f} {r['best_ceiling_ms']:16.3f} "
              f"{r['fraction_of_best']:17.2f}")
    for (m, k, n, count, dtype), rate in sorted(rates.items(), key=lambda kv: kv[0][:4]):
        precision = next(p for p, d in DTYPES.items() if d == dtype)
        out["gemm"].append({"m": m, "k": k, "n": n, "count": count, "precision": precision,
                            "tflop_s": rate / 1e12})
    print("GEMM TFLOP/s (forward [m,k]@[k,n], 'x count' = batched):")
    for g in out["gemm"]:
        shape = f"[{g['m']},{g['k']}]@[{g['k']},{g['n']}]" + (f" x{g['count']}" if g["count"] > 1 else "")
        print(f"  {shape:34s} {g['precision']}: {g['tflop_s']:.3f}")
    return out


def best_ceilings(rows: list[dict]) -> None:
    """Adds to each model row the machine's best ceiling for that model and batch (the smaller
    over precisions) and the step's fraction of it: a bf16 step whose own ceiling is low because
    bf16 GEMMs are slow on this device reads against the faster precision's limit."""
    best: dict[tuple, float] = {}
    for r in rows:
        key = (r["model"], r["batch"])
        best[key] = min(best.get(key, float("inf")), r["ceiling_ms"])
    for r in rows:
        r["best_ceiling_ms"] = best[(r["model"], r["batch"])]
        r["fraction_of_best"] = r["best_ceiling_ms"] / r["step_ms"]


def isa(device: torch.device) -> dict:
    """What decides the bf16 rate: CUDA's compute capability, or on CPU the vector ISA torch
    dispatches to and whether the CPU has AVX512-BF16 (bf16 dot products) and AMX tiles."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return {"compute_capability": f"{major}.{minor}"}
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {"capability": torch.backends.cpu.get_cpu_capability(),
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    print(f"ceiling: {args.device} ({device_name(torch.device(args.device))}, "
          f"{isa(torch.device(args.device))}), {args.threads} "
          f"threads, shape {args.shape}, D={args.dim}, torch {torch.__version__}", flush=True)
    figures = measure(args)
    if args.json:
        write_json(args.json, f"ceiling_{args.shape}", figures)
        print(f"figures written to {args.json}")
    return figures


if __name__ == "__main__":
    main()
