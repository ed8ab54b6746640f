"""Training throughput of our models against FuxiCTR's on MovieLens-1M.

Prints training samples/s two ways for each model and batch size: per train step alone
("step") and per second of wall time over whole epochs, each epoch's validation included
("wall"), plus the validation AUC after the same number of epochs. FuxiCTR's FM, DeepFM and
AutoInt+ (their BaseModel training loop, NpzDataLoader and layers; the model classes, and
AutoInt's attention layer, are written here as in FuxiCTR's model_zoo, which is not part of the
PyPI package) train on the same rows, split, embedding width, batch size, optimizer, learning
rate and layer sizes (AutoInt+: 3 attention layers, 2 heads, width 32, scaled scores, residual,
the 3x400 DNN).

Run it alone:  flock /tmp/autoembed-bench.lock .venv/bin/python benchmarks/throughput.py
Needs the bench extra for the comparison:  pip install -e '.[bench]' (fuxictr, polars<2,
plus scikit-learn for FuxiCTR's metrics).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Figures:
    step: float  # train samples / s of train-step time
    wall: float  # train samples / s of wall time, validation included
    val_auc: float  # after the last epoch


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--models", default="fm,deepfm,autoint")
    p.add_argument("--batch-sizes", default="1024,4096")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                   help="our dense layers' arithmetic (FuxiCTR always runs fp32)")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of each measurement, ours and theirs alternating; the fastest "
                   "counts (the machine is shared, so slow outliers are other people's load)")
    p.add_argument("--fuxictr-init", action="store_true",
                   help="initialise ours as FuxiCTR does: embeddings normal(0, 1e-4), dense layers "
                        "Xavier-normal with zero biases (default: our own defaults)")
    p.add_argument("--no-fuxictr", action="store_true", help="skip the FuxiCTR comparison")
    p.add_argument("--smoke-test", action="store_true", help="tiny synthetic data, seconds")
    return p.parse_args()


def load(args: argparse.Namespace):  # -> tuple[CTRData, Split]
    from autoembed.config import DataConfig
    from autoembed.data import load_dataset
    from autoembed.data.base import split_indices

    if args.smoke_test:
        cfg = DataConfig("synthetic", options={"scale": "tiny"}, cache_dir=tempfile.mkdtemp())
    else:
        cfg = DataConfig("ml-1m")
    data = load_dataset(cfg)
    return data, split_indices(data.num_rows, cfg.split_seed)


def run_ours(data, split, model: str, batch: int, args: argparse.Namespace) -> Figures:
    import torch

    from autoembed.config import ModelConfig, TrainConfig
    from autoembed.embeddings.base import EmbeddingSpec
    from autoembed.embeddings.uniform import UniformConfig, UniformEmbedding
    from autoembed.models import build_model, get_model
    from autoembed.training import Trainer

    spec = EmbeddingSpec.from_data(data, args.dim, split.train)
    torch.manual_seed(args.seed)
    params, embedding = {}, UniformConfig()
    if args.fuxictr_init:
        embedding = UniformConfig(init_std=1e-4)
        if "dense_init" in {f.name for f in dataclasses.fields(get_model(model).Config)}:
            params["dense_init"] = "xavier_normal"
    net = build_model(ModelConfig(name=model, dim=args.dim, params=params),
                      UniformEmbedding(spec, embedding), spec, args.seed)
    cfg = TrainConfig(epochs=args.epochs, batch_size=batch, lr=args.lr, threads=args.threads,
                      seed=args.seed, patience=args.epochs + 1, device="cpu",
                      precision=args.precision)
    result = Trainer(net, data, split, cfg).fit(evaluate_test=False)
    return Figures(result.samples_per_sec, result.wall_samples_per_sec, result.history[-1].val_auc)


# --- FuxiCTR ----------------------------------------------------------------------------------
def fuxictr_models():  # -> dict[str, type]
    """FM, DeepFM and AutoInt+ as FuxiCTR's model_zoo defines them, on FuxiCTR's own layers."""
    import torch
    from fuxictr.pytorch.layers import (
        FactorizationMachine,
        FeatureEmbedding,
        MLP_Block,
        ScaledDotProductAttention,
    )
    from fuxictr.pytorch.models import BaseModel
    from torch import nn

    class FM(BaseModel):
        def __init__(self, feature_map, embedding_dim, learning_rate, **kwargs):
            super().__init__(feature_map, model_id="FM", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            self.fm_layer = FactorizationMachine(feature_map)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            y_pred = self.fm_layer(X, self.embedding_layer(X))
            return {"y_pred": self.output_activation(y_pred)}

    class DeepFM(BaseModel):
        def __init__(self, feature_map, embedding_dim, learning_rate, hidden_units, **kwargs):
            super().__init__(feature_map, model_id="DeepFM", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            self.fm = FactorizationMachine(feature_map)
            self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1,
                                 hidden_units=hidden_units, hidden_activations="ReLU",
                                 output_activation=None, dropout_rates=0, batch_norm=False)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            feature_emb = self.embedding_layer(X)
            y_pred = self.fm(X, feature_emb) + self.mlp(feature_emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y_pred)}

    class SelfAttention(nn.Module):
        """model_zoo/AutoInt's MultiHeadSelfAttention: separate query/key/value projections,
        heads split by view, FuxiCTR's ScaledDotProductAttention, residual, ReLU."""

        def __init__(self, input_dim, attention_dim, num_heads, use_residual=True, use_scale=True):
            super().__init__()
            self.heads, self.head_dim = num_heads, attention_dim // num_heads
            self.scale = self.head_dim ** 0.5 if use_scale else None
            self.W_q, self.W_k, self.W_v = (nn.Linear(input_dim, attention_dim, bias=False)
                                            for _ in range(3))
            self.W_res = (nn.Linear(input_dim, attention_dim, bias=False)
                          if use_residual and input_dim != attention_dim else None)
            self.use_residual = use_residual
            self.dot_attention = ScaledDotProductAttention(0.0)

        def forward(self, X):
            b = X.size(0)
            q, k, v = (w(X).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
                       for w in (self.W_q, self.W_k, self.W_v))
            out, _ = self.dot_attention(q, k, v, scale=self.scale)
            out = out.transpose(1, 2).contiguous().view(b, -1, self.heads * self.head_dim)
            if self.use_residual:
                out += X if self.W_res is None else self.W_res(X)
            return out.relu()

    class AutoInt(BaseModel):
        def __init__(self, feature_map, embedding_dim, learning_rate, dnn_hidden_units,
                     attention_layers, num_heads, attention_dim, **kwargs):
            super().__init__(feature_map, model_id="AutoInt", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            self.dnn = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1,
                                 hidden_units=dnn_hidden_units, hidden_activations="ReLU",
                                 output_activation=None, dropout_rates=0, batch_norm=False)
            self.self_attention = nn.Sequential(*(
                SelfAttention(embedding_dim if i == 0 else attention_dim, attention_dim, num_heads)
                for i in range(attention_layers)))
            self.fc = nn.Linear(feature_map.num_fields * attention_dim, 1)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            feature_emb = self.embedding_layer(X)
            y_pred = self.fc(torch.flatten(self.self_attention(feature_emb), start_dim=1))
            y_pred += self.dnn(feature_emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y_pred)}

    return {"fm": FM, "deepfm": DeepFM, "autoint": AutoInt}


def write_fuxictr_dataset(data, split, folder: Path, dim: int):  # -> FeatureMap
    """Our split as FuxiCTR npz files (one column per field, local ids) and its feature map."""
    import numpy as np
    from fuxictr.features import FeatureMap

    local = data.ids - data.field_offsets[None, :]
    for name, rows in (("train", split.train), ("valid", split.val), ("test", split.test)):
        arrays = {f: local[rows, i].astype(np.int64) for i, f in enumerate(data.field_names)}
        arrays["label"] = data.labels[rows].astype(np.float32)
        np.savez(folder / f"{name}.npz", **arrays)
    spec = {
        "dataset_id": "autoembed_bench", "num_fields": data.num_fields,
        "total_features": data.num_features, "input_length": data.num_fields, "labels": ["label"],
        "features": [{f: {"source": "", "type": "categorical", "vocab_size": int(v)}}
                     for f, v in zip(data.field_names, data.vocab_sizes, strict=True)],
    }
    (folder / "feature_map.json").write_text(json.dumps(spec))
    feature_map = FeatureMap("autoembed_bench", str(folder))
    feature_map.load(str(folder / "feature_map.json"), {"embedding_dim": dim})
    return feature_map


def run_fuxictr(feature_map, folder: Path, model: str, batch: int, args) -> Figures:
    import torch
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    from autoembed.models.autoint import AutoInt as OurAutoInt

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    kwargs = dict(
        gpu=-1, optimizer="adam", loss="binary_crossentropy", metrics=["AUC", "logloss"],
        verbose=0, model_root=str(folder / "models"), early_stop_patience=args.epochs + 1,
        embedding_dim=args.dim, learning_rate=args.lr,
    )
    mcfg = OurAutoInt.Config()  # the layer sizes ours run with (DeepFM's DNN defaults are the same)
    if model == "deepfm":
        kwargs["hidden_units"] = list(mcfg.dnn_hidden)
    if model == "autoint":
        kwargs.update(dnn_hidden_units=list(mcfg.dnn_hidden), attention_layers=mcfg.attention_layers,
                      num_heads=mcfg.attention_heads, attention_dim=mcfg.attention_dim)
    net = fuxictr_models()[model](feature_map, **kwargs)
    os.makedirs(net.model_dir, exist_ok=True)
    train_gen, valid_gen = RankDataLoader(
        feature_map, stage="train", train_data=str(folder / "train.npz"),
        valid_data=str(folder / "valid.npz"), batch_size=batch, shuffle=True,
    )
    step_time, aucs = [0.0], []
    step = net.train_step

    def timed_step(batch_data):
        start = time.perf_counter()
        loss = step(batch_data)
        loss.item()  # their loop syncs on it right after; counted as step time
        step_time[0] += time.perf_counter() - start
        return loss

    record = net.checkpoint_and_earlystop

    def recorded(logs, **kw):
        aucs.append(logs["AUC"])
        return record(logs, **kw)

    net.train_step, net.checkpoint_and_earlystop = timed_step, recorded
    start = time.perf_counter()
    net.fit(train_gen, epochs=args.epochs, validation_data=valid_gen)
    wall = time.perf_counter() - start
    samples = train_gen.num_samples * args.epochs
    return Figures(samples / step_time[0], samples / wall, aucs[-1])


def fastest(runs: list[Figures]) -> Figures:
    """Best step and wall figures over repeated runs (AUC of the first: runs are seeded)."""
    return Figures(max(r.step for r in runs), max(r.wall for r in runs), runs[0].val_auc)


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    if args.smoke_test:
        args.models, args.batch_sizes, args.epochs = "fm,deepfm,autoint", "1024", 1
    logging.disable(logging.INFO)
    data, split = load(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(f"data {data.name}: {len(split.train)} train rows, {data.num_fields} fields, "
          f"D={args.dim}, {args.epochs} epoch(s), {args.threads} threads, lr={args.lr}, "
          f"ours in {args.precision}")

    fuxi = None
    if not args.no_fuxictr:
        try:
            import fuxictr  # noqa: F401
        except ImportError:
            print("fuxictr not installed (pip install -e '.[bench]'); comparing nothing", file=sys.stderr)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="fuxictr-bench-"))
            fuxi = (write_fuxictr_dataset(data, split, tmp, args.dim), tmp)

    header = f"{'model':8} {'batch':>5} {'who':8} {'step/s':>9} {'wall/s':>9} {'val_auc':>8}"
    print(header)
    for model in models:
        for batch in batches:
            compare = fuxi is not None
            ours_runs, their_runs = [], []
            for _ in range(max(1, args.repeats)):
                ours_runs.append(run_ours(data, split, model, batch, args))
                if compare:
                    their_runs.append(run_fuxictr(fuxi[0], fuxi[1], model, batch, args))
            ours = fastest(ours_runs)
            print(f"{model:8} {batch:5d} {'ours':8} {ours.step:9.0f} {ours.wall:9.0f} {ours.val_auc:8.4f}",
                  flush=True)
            if compare:
                theirs = fastest(their_runs)
                print(f"{model:8} {batch:5d} {'fuxictr':8} {theirs.step:9.0f} {theirs.wall:9.0f} "
                      f"{theirs.val_auc:8.4f}")
                print(f"{model:8} {batch:5d} {'ratio':8} {ours.step / theirs.step:8.2f}x "
                      f"{ours.wall / theirs.wall:8.2f}x {ours.val_auc - theirs.val_auc:+8.4f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    raise SystemExit(main())
