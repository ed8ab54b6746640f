"""Criteo scale on one machine: speed and memory of FM training (uniform) and a PEP search on
Criteo-shaped synthetic data, and what full Criteo would take.

The data: the synthetic generator's ``criteo`` preset widened to Criteo's 39 fields (sizes
spaced geometrically from 400k to 2 values: ~1.46M features), 5M rows by default, cached and
memory-mapped like a parsed dataset. Stages, each with its time and the process's RSS after it
(VmRSS, with its anonymous part; the file part is the memory-mapped cache, reclaimable):
(a) generate or load the data; (b) FM with a uniform D=16 embedding, batch 16384, one epoch or
``--steps``; (c) the same with a PEP search (feature_dim, sparse_lazy); (d) peak RSS; (e) full
Criteo (45,840,617 rows, 39 fields, 1,086,810 features at min_count 10): parse time at the
rate of our Criteo parser (``benchmarks/preprocess.py``, re-measured on ``--preprocess-rows``),
time per epoch at the measured samples/s, and memory for the ids and the training state.

    flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/criteo_scale.py --threads 2
    benchmarks/gpu_check.sh   # the same on a CUDA device, fewer rows
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from figures import write_json
from preprocess import measure as measure_parser
from preprocess import status_mb

from autoembed.config import DataConfig, ModelConfig, TrainConfig
from autoembed.data import load_dataset
from autoembed.data.base import CTRData, Split, split_indices
from autoembed.embeddings.base import EmbeddingMethod, EmbeddingSpec
from autoembed.embeddings.pep import PEPConfig, PEPEmbedding
from autoembed.embeddings.uniform import UniformEmbedding
from autoembed.models import build_model
from autoembed.training import Trainer
from autoembed.training.metrics import bayes_auc

CRITEO_ROWS = 45_840_617  # Kaggle train.txt
CRITEO_FIELDS = 39  # 13 integer + 26 categorical
CRITEO_FEATURES = 1_086_810  # after min_count 10 (as reported by PEP, Liu et al. 2021)
TRAIN_SHARE = 0.8  # the 8:1:1 split
PARSE_ROWS_PER_S = 299_000  # benchmarks/preprocess.py, 2M rows, 2-CPU dev machine (--preprocess-rows 0)
MB = 2**20


@dataclass
class Run:
    label: str
    samples_per_sec: float
    steps: int
    val_auc: float
    state_mb: float  # live tensors after training, the splits left out: tables, optimizer state


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--fields", type=int, default=CRITEO_FIELDS,
                   help="fields, vocabularies spaced over the preset's range; 0: the preset's own "
                   "(criteo: 26 fields, 1.02M features, the data of study_synthetic_criteo.yaml)")
    p.add_argument("--scale", default="criteo", help="synthetic preset the vocabularies come from")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16384)
    p.add_argument("--steps", type=int, default=0, help="train steps per method; 0: one epoch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--pep-modes", default="sparse_lazy",
                   help="PEP optimizer modes to time, comma-separated: sparse_lazy (row-sparse, "
                        "the CPU choice for huge tables) and/or dense (the reference's Adam over "
                        "the whole table; on a GPU it may be the faster one)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--preprocess-rows", type=int, default=500_000,
                   help=f"rows to re-measure the Criteo parser on; 0: use {PARSE_ROWS_PER_S:,}/s")
    p.add_argument("--cache-dir", default=None, help="data cache (default: autoembed's)")
    p.add_argument("--json", default=None, help="write the figures here, under the key "
                   "'criteo_scale' (other keys of an existing file are kept)")
    p.add_argument("--smoke-test", action="store_true", help="tiny data, a few steps, seconds")
    args = p.parse_args()
    if args.smoke_test:
        args.rows, args.scale, args.batch_size, args.steps = 20_000, "tiny", 1024, 3
        args.preprocess_rows = min(args.preprocess_rows, 2_000)
        args.cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="criteo-scale-smoke-")
    return args


def memory(stage: str) -> None:
    """Print this process's RSS now (and its anonymous and file-backed parts)."""
    rss, anon, file = (status_mb(k) or 0.0 for k in ("VmRSS", "RssAnon", "RssFile"))
    print(f"  RSS after {stage}: {rss:,.0f} MB (anon {anon:,.0f}, file {file:,.0f})", flush=True)


def tensor_mb(device: torch.device, skip: tuple[torch.Tensor, ...] = ()) -> float:
    """Bytes of every live tensor on ``device``'s type (each storage once), ``skip``'s storages
    left out: parameters, gradients, buffers and optimizer state."""
    seen = {t.untyped_storage().data_ptr() for t in skip}
    total = 0
    with warnings.catch_warnings():  # isinstance() touches deprecated torch module attributes
        warnings.simplefilter("ignore")
        tensors = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
    for t in tensors:
        if t.device.type == device.type and t.layout == torch.strided:  # one GPU at most
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total / MB


def load(args: argparse.Namespace) -> CTRData:
    options = {"scale": args.scale, "n_rows": args.rows, "n_fields": args.fields or None}
    start = time.perf_counter()
    data = load_dataset(DataConfig("synthetic", options=options, cache_dir=args.cache_dir))
    how = "loaded from cache" if data.meta["cache_hit"] else "generated"
    print(f"(a) data: {data.num_rows:,} rows x {data.num_fields} fields, "
          f"{data.num_features:,} features; {how} in {time.perf_counter() - start:.1f} s; "
          f"ids {data.ids.nbytes / MB:,.0f} MB int32 ({data.meta['cache_path']})", flush=True)
    memory("loading (memory-mapped)")
    return data


def train(label: str, make: Callable[[], EmbeddingMethod], data: CTRData, split: Split,
          spec: EmbeddingSpec, args: argparse.Namespace) -> Run:
    """One epoch (or ``--steps``) of FM around ``make()``, timed by the trainer (steps only)."""
    device = torch.device(args.device)
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, lr=args.lr, threads=args.threads,
                      device=args.device, max_steps=args.steps or None)
    embedding = make()
    model = build_model(ModelConfig(name="fm", dim=args.dim), embedding, spec, seed=0)
    start = time.perf_counter()
    trainer = Trainer(model, data, split, cfg)
    splits = (trainer.train_ids, trainer.train_labels, trainer.val_ids, trainer.val_labels,
              trainer.test_ids, trainer.test_labels)
    splits_mb = sum(t.nbytes for t in splits) / MB
    print(f"  trainer built in {time.perf_counter() - start:.1f} s; splits on {device}: "
          f"{splits_mb:,.0f} MB (ids int32)", flush=True)
    result = trainer.fit(stop_when=embedding.search_done, early_stopping=False,
                         evaluate_test=False)
    seconds = result.history[-1].step_seconds
    run = Run(label, result.samples_per_sec, result.steps, result.val_auc,
              tensor_mb(device, skip=splits))
    print(f"  {label}: {run.steps} steps x {args.batch_size} in {seconds:.1f} s = "
          f"{run.samples_per_sec:,.0f} samples/s ({1e3 * seconds / run.steps:.0f} ms/step); "
          f"val AUC {run.val_auc:.4f}; training state {run.state_mb:,.0f} MB "
          "(parameters, gradients, optimizer state)", flush=True)
    if device.type == "cuda":
        print(f"  device peak allocated {torch.cuda.max_memory_allocated(device) / MB:,.0f} MB")
    memory(label)
    del trainer, model, embedding
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return run


def extrapolate(runs: list[Run], data: CTRData, parse_rate: float,
                parse_note: str) -> dict[str, Any]:
    """(e): full Criteo from the measured rates and memory; returns the figures."""
    train_rows = round(CRITEO_ROWS * TRAIN_SHARE)
    print(f"(e) full Criteo: {CRITEO_ROWS:,} rows x {CRITEO_FIELDS} fields, "
          f"{CRITEO_FEATURES:,} features; train split {train_rows:,} rows")
    print(f"  parse: {CRITEO_ROWS / parse_rate / 60:,.1f} min at {parse_rate:,.0f} rows/s "
          f"({parse_note})")
    for run in runs:
        print(f"  one epoch, {run.label}: {train_rows / run.samples_per_sec / 60:,.1f} min "
              f"at {run.samples_per_sec:,.0f} samples/s")
    ids_mb = CRITEO_ROWS * CRITEO_FIELDS * 4 / MB
    labels_mb = CRITEO_ROWS * 4 / MB
    print(f"  ids int32: {CRITEO_ROWS:,} x {CRITEO_FIELDS} x 4 B = {ids_mb:,.0f} MB "
          f"(train split {ids_mb * TRAIN_SHARE:,.0f} MB), labels {labels_mb:,.0f} MB")
    scale = CRITEO_FEATURES / data.num_features
    for run in runs:
        state = run.state_mb * scale
        print(f"  training state, {run.label} (measured x {scale:.2f}, the feature ratio): "
              f"{state:,.0f} MB; with ids and labels {(ids_mb + labels_mb + state) / 1024:,.1f} GB")
    return {
        "parse_minutes": CRITEO_ROWS / parse_rate / 60, "parse_rows_per_s": parse_rate,
        "epoch_minutes": {run.label: train_rows / run.samples_per_sec / 60 for run in runs},
        "ids_mb": ids_mb, "labels_mb": labels_mb,
        "state_mb": {run.label: run.state_mb * scale for run in runs},
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    steps = f"{args.steps} steps" if args.steps else "one epoch"
    print(f"criteo_scale: device {args.device}, {args.threads} threads, FM D={args.dim}, "
          f"batch {args.batch_size}, lr {args.lr}, {steps} per method, torch {torch.__version__}")
    if args.preprocess_rows:
        r = measure_parser(args.preprocess_rows)
        parse_rate = r["rows"] / r["seconds"]
        parse_note = f"benchmarks/preprocess.py, measured now on {r['rows']:,} rows"
    else:
        parse_rate, parse_note = PARSE_ROWS_PER_S, "benchmarks/preprocess.py, earlier measurement"
    memory("start")
    data = load(args)
    split = split_indices(data.num_rows, DataConfig().split_seed)
    start = time.perf_counter()
    spec = EmbeddingSpec.from_data(data, args.dim, split.train)
    print(f"  train-split frequencies counted in {time.perf_counter() - start:.1f} s; "
          f"Bayes AUC (teacher) on val {bayes_auc(data, split.val):.4f}")
    memory("counting")
    if args.device.startswith("cuda"):  # CUDA context, cuBLAS handles, allocator pools
        print("(b0) warm-up, not counted: uniform, 5 steps")
        train("warm-up", lambda: UniformEmbedding(spec), data, split, spec,
              argparse.Namespace(**{**vars(args), "steps": 5}))
    print("(b) uniform")
    runs = [train("uniform", lambda: UniformEmbedding(spec), data, split, spec, args)]
    modes = [m for m in args.pep_modes.split(",") if m]
    for mode in modes:
        pep = PEPConfig(granularity="feature_dim", optimizer_mode=mode)
        label = "pep" if len(modes) == 1 else f"pep/{mode}"
        print(f"(c) {label}: {pep.granularity}, {pep.optimizer_mode}, threshold_init "
              f"{pep.threshold_init}, reinit {pep.reinit}")
        run = train(label, lambda pep=pep: PEPEmbedding(spec, pep), data, split, spec, args)
        runs.append(run)
        print(f"  PEP ({mode}) / uniform step time: "
              f"{runs[0].samples_per_sec / run.samples_per_sec:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(d) peak RSS (ru_maxrss): {peak:,.0f} MB")
    full = extrapolate(runs, data, parse_rate, parse_note)
    if args.json:
        figures = {
            "device": args.device, "torch": torch.__version__, "threads": args.threads,
            "rows": data.num_rows, "fields": data.num_fields, "features": data.num_features,
            "dim": args.dim, "batch_size": args.batch_size, "runs": [asdict(r) for r in runs],
            "step_ratio": {r.label: runs[0].samples_per_sec / r.samples_per_sec for r in runs[1:]},
            "peak_rss_mb": peak, "full_criteo": full,
        }
        if args.device.startswith("cuda"):
            figures["device_name"] = torch.cuda.get_device_name(torch.device(args.device))
        write_json(args.json, "criteo_scale", figures)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
