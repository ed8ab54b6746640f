"""Synthetic CTR data with known answers: planted embedding sizes and a teacher FM.

Every field has a Zipf-distributed vocabulary (local id 1 most frequent; id 0 = OOV, unused).
Each feature ``i`` has a planted size ``d_i``: in a signal field with size cap ``m_f``,
``d_i = m_f * rank^-beta`` rounded to a power of two, with ``beta`` chosen so the field's rarest
feature gets 1 (frequent features need more dimensions); noise fields have size 0 and no
effect on the label. The teacher is an FM whose embedding of feature ``i`` is nonzero only in its
first ``d_i`` coordinates::

    logit = bias + a * sum_f w[x_f] + c * sum_{f<g} <v[x_f], v[x_g]>

``a`` and ``c`` set the linear and pairwise terms' standard deviations, ``bias`` the mean click
rate (option ``ctr``); labels are Bernoulli(sigmoid(logit)). ``data.teacher_probs`` gives the
Bayes AUC ceiling (:func:`autoembed.training.metrics.bayes_auc`), ``data.planted_dims`` the truth for
:func:`recovery_score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from autoembed.data.npy import NpyWriter
from autoembed.progress import progress_bar

CHUNK_ROWS = 65_536  # rows per generation chunk: bounds memory; fixed so results don't depend on it
CALIBRATION_ROWS = 100_000
LINEAR_STD = 0.5
PAIRWISE_STD = 1.5

_CRITEO_VOCAB = (400_000, 250_000, 150_000, 100_000, 50_000, 30_000, 20_000, 10_000, 5_000,
                 3_000, 2_000, 1_000, 500, 300, 200, 100, 50, 30, 20, 10, 10, 5, 4, 3, 3, 2)
Scale = Literal["tiny", "small", "ml1m", "criteo"]  # the presets below
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"n_rows": 20_000, "vocab_sizes": (200, 100, 50, 30, 10, 5), "noise_fields": 1,
             "max_dim": 8},
    "small": {"n_rows": 200_000, "vocab_sizes": (5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10),
              "noise_fields": 2, "max_dim": 16},
    "ml1m": {"n_rows": 739_012, "vocab_sizes": (6_040, 3_706, 2, 7, 21, 3_439, 81, 301),
             "noise_fields": 2, "max_dim": 32},
    "criteo": {"n_rows": 5_000_000, "vocab_sizes": _CRITEO_VOCAB, "noise_fields": 5,
               "max_dim": 16},
}


@dataclass
class SyntheticOptions:
    """Generator options; unset ones come from the ``scale`` preset (tiny, small, ml1m, criteo).

    ``vocab_sizes`` exclude the OOV id. ``n_fields`` without ``vocab_sizes`` spaces the sizes
    geometrically between the preset's largest and smallest.
    """

    scale: Scale = "small"
    n_rows: int | None = None
    n_fields: int | None = None
    vocab_sizes: list[int] | None = None
    zipf_exponent: float = 1.1
    max_dim: int | None = None
    noise_fields: int | None = None
    ctr: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scale not in PRESETS:
            raise ValueError(f"unknown synthetic scale {self.scale!r}; allowed: {', '.join(PRESETS)}")
        preset = PRESETS[self.scale]
        if self.vocab_sizes is not None:
            self.vocab_sizes = [int(v) for v in self.vocab_sizes]
            if self.n_fields is not None and self.n_fields != len(self.vocab_sizes):
                raise ValueError(f"n_fields={self.n_fields} but {len(self.vocab_sizes)} vocab_sizes")
        elif self.n_fields is not None:
            sizes = preset["vocab_sizes"]
            self.vocab_sizes = [int(round(v)) for v in
                                np.geomspace(max(sizes), min(sizes), int(self.n_fields))]
        else:
            self.vocab_sizes = list(preset["vocab_sizes"])
        self.n_fields = len(self.vocab_sizes)
        self.n_rows = int(self.n_rows if self.n_rows is not None else preset["n_rows"])
        self.max_dim = int(self.max_dim if self.max_dim is not None else preset["max_dim"])
        if self.noise_fields is None:
            self.noise_fields = min(preset["noise_fields"], self.n_fields - 1)
        checks = [
            (self.n_rows >= 1, f"n_rows must be >= 1, got {self.n_rows}"),
            (min(self.vocab_sizes) >= 1, f"vocab sizes must be >= 1, got {self.vocab_sizes}"),
            (self.max_dim >= 1, f"max_dim must be >= 1, got {self.max_dim}"),
            (0 <= self.noise_fields < self.n_fields,
             f"noise_fields must be in [0, n_fields-1={self.n_fields - 1}], got {self.noise_fields}"),
            (0.0 < self.ctr < 1.0, f"ctr must be in (0, 1), got {self.ctr}"),
            (self.zipf_exponent >= 0, f"zipf_exponent must be >= 0, got {self.zipf_exponent}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class Teacher:
    """The planted truth: per global feature sizes, embeddings and linear weights."""

    vocab_sizes: list[int]  # rows per field, OOV included
    cdfs: list[np.ndarray]  # per field: Zipf CDF over local ids 1..V
    planted_dims: np.ndarray  # int64 [num_features]
    embeddings: np.ndarray  # float32 [num_features, max_dim], zero past each planted size
    linear: np.ndarray  # float32 [num_features]
    noise_fields: list[int]
    bias: float = 0.0
    linear_scale: float = 1.0
    pairwise_scale: float = 1.0

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def sample_ids(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Global ids [n, F] drawn from each field's Zipf distribution."""
        local = np.stack([np.searchsorted(cdf, rng.random(n), side="right") + 1 for cdf in self.cdfs],
                         axis=1)
        local = np.minimum(local, np.asarray(self.vocab_sizes) - 1)  # guard against cdf[-1] < 1
        return (local + self.offsets).astype(np.int32)

    def terms(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled linear and pairwise FM terms of each row."""
        emb = self.embeddings[ids]  # [n, F, D]
        total = emb.sum(axis=1)
        pairwise = 0.5 * ((total**2).sum(axis=1) - (emb**2).sum(axis=(1, 2)))
        return self.linear[ids].sum(axis=1), pairwise

    def probs(self, ids: np.ndarray) -> np.ndarray:
        linear, pairwise = self.terms(ids)
        logit = self.bias + self.linear_scale * linear + self.pairwise_scale * pairwise
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _planted_sizes(rng: np.random.Generator, opts: SyntheticOptions) -> tuple[list[np.ndarray], list[int]]:
    """Per field: planted sizes of local ids 0..V (id 0 gets 0), and the noise field indices."""
    noise = sorted(rng.choice(opts.n_fields, size=opts.noise_fields, replace=False).tolist())
    caps = [max(1, opts.max_dim >> (k % 3)) for k in range(opts.n_fields)]  # m, m/2, m/4, ...
    caps = [caps[k] for k in rng.permutation(opts.n_fields)]
    sizes = []
    for f, vocab in enumerate(opts.vocab_sizes):
        dims = np.zeros(vocab + 1, dtype=np.int64)
        if f not in noise:
            rank = np.arange(1, vocab + 1, dtype=np.float64)
            beta = np.log(caps[f]) / np.log(vocab) if vocab > 1 else 0.0
            raw = caps[f] * rank**-beta
            dims[1:] = np.clip(2 ** np.round(np.log2(raw)), 1, caps[f]).astype(np.int64)
        sizes.append(dims)
    return sizes, noise


def make_teacher(opts: SyntheticOptions) -> Teacher:
    """Plant sizes and teacher weights from ``opts.seed``, then calibrate scales and bias."""
    rng = np.random.default_rng([opts.seed, 0])
    sizes, noise = _planted_sizes(rng, opts)
    planted = np.concatenate(sizes)
    n_feat, dmax = len(planted), opts.max_dim
    embeddings = rng.standard_normal((n_feat, dmax), dtype=np.float32)
    embeddings *= np.arange(dmax)[None, :] < planted[:, None]
    linear = rng.standard_normal(n_feat, dtype=np.float32) * (planted > 0)
    cdfs = []
    for vocab in opts.vocab_sizes:
        weights = np.arange(1, vocab + 1, dtype=np.float64) ** -opts.zipf_exponent
        cdfs.append(np.cumsum(weights) / weights.sum())
    teacher = Teacher([v + 1 for v in opts.vocab_sizes], cdfs, planted, embeddings, linear, noise)

    calib = teacher.sample_ids(np.random.default_rng([opts.seed, 1]), CALIBRATION_ROWS)
    linear_term, pairwise_term = teacher.terms(calib)
    teacher.linear_scale = LINEAR_STD / max(float(linear_term.std()), 1e-12)
    teacher.pairwise_scale = PAIRWISE_STD / max(float(pairwise_term.std()), 1e-12)
    signal = teacher.linear_scale * linear_term + teacher.pairwise_scale * pairwise_term
    lo, hi = -30.0, 30.0
    for _ in range(60):  # bisection: mean click probability == ctr
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(mid + signal)))) < opts.ctr:
            lo = mid
        else:
            hi = mid
    teacher.bias = 0.5 * (lo + hi)
    return teacher


def build(root: Path | None, opts: SyntheticOptions, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    """Generate the rows chunk by chunk into ``out_dir`` arrays; returns the meta."""
    teacher = make_teacher(opts)
    n, n_fields = opts.n_rows, opts.n_fields
    counts = np.zeros(len(teacher.planted_dims), dtype=np.int64)
    with NpyWriter(out_dir / "ids.npy", (n, n_fields), np.int32) as ids, \
            NpyWriter(out_dir / "labels.npy", (n,), np.float32) as labels, \
            NpyWriter(out_dir / "teacher_probs.npy", (n,), np.float32) as probs:
        for k, start in enumerate(progress_bar(range(0, n, CHUNK_ROWS), disable=not progress,
                                               desc="synthetic", leave=False)):
            rng = np.random.default_rng([opts.seed, 2, k])
            chunk = teacher.sample_ids(rng, min(CHUNK_ROWS, n - start))
            p = teacher.probs(chunk)
            ids.write(chunk)
            probs.write(p)
            labels.write(rng.random(len(p)) < p)
            counts += np.bincount(chunk.ravel(), minlength=len(counts))
    np.save(out_dir / "feature_counts.npy", counts)
    np.save(out_dir / "planted_dims.npy", teacher.planted_dims)
    names = [f"f{f:02d}" for f in range(n_fields)]
    return {
        "field_names": names,
        "vocab_sizes": teacher.vocab_sizes,
        "noise_fields": [names[f] for f in teacher.noise_fields],
        "teacher": {"bias": teacher.bias, "linear_scale": teacher.linear_scale,
                    "pairwise_scale": teacher.pairwise_scale},
        "parse_report": {"lines": 0, "rows": n, "skipped": 0, "skipped_by_reason": {},
                         "first_bad_lines": [], "notes": {"generated": n}},
    }


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-rank of each value in the weighted distribution (cumulative weight below + half its tie)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    tie_weight = np.bincount(inverse, weights=weights, minlength=len(uniq))
    below = np.cumsum(tie_weight) - tie_weight
    return (below + 0.5 * tie_weight)[inverse]


def _weighted_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    w = w / w.sum()
    dx, dy = x - (w * x).sum(), y - (w * y).sum()
    var = (w * dx * dx).sum() * (w * dy * dy).sum()
    return float((w * dx * dy).sum() / np.sqrt(var)) if var > 0 else 0.0


def recovery_score(
    learned_dims: np.ndarray, planted_dims: np.ndarray, counts: np.ndarray | None = None
) -> float:
    """Frequency-weighted Spearman rank correlation between learned and planted sizes, in [-1, 1].

    Each feature weighs by its occurrence count (``counts``; features never seen are left out),
    ranks are mid-ranks in that weighted distribution, and the score is their weighted Pearson
    correlation. 1 = sizes ordered exactly like the truth on the data as it is seen; 0 = no
    relation (also returned when either side is constant).
    """
    learned = np.asarray(learned_dims, dtype=np.float64)
    planted = np.asarray(planted_dims, dtype=np.float64)
    if learned.shape != planted.shape:
        raise ValueError(f"learned dims {learned.shape} and planted dims {planted.shape} differ")
    weights = np.ones_like(planted) if counts is None else np.asarray(counts, dtype=np.float64)
    if weights.shape != planted.shape:
        raise ValueError(f"counts {weights.shape} must match planted dims {planted.shape}")
    seen = weights > 0
    if not seen.any():
        raise ValueError("no feature has a positive count")
    learned, planted, weights = learned[seen], planted[seen], weights[seen]
    return _weighted_corr(_weighted_ranks(learned, weights), _weighted_ranks(planted, weights), weights)


def recovery_metrics(
    learned_dims: np.ndarray, planted_dims: np.ndarray, counts: np.ndarray | None = None
) -> dict[str, float]:
    """``spearman`` (= :func:`recovery_score`), ``noise_pruned`` (count-weighted share of
    planted-0 features learned as 0) and ``log2_error`` (count-weighted mean |log2 learned/planted|
    over features with both sizes > 0)."""
    learned = np.asarray(learned_dims, dtype=np.float64)
    planted = np.asarray(planted_dims, dtype=np.float64)
    weights = np.ones_like(planted) if counts is None else np.asarray(counts, dtype=np.float64)
    noise = (planted == 0) & (weights > 0)
    both = (planted > 0) & (learned > 0) & (weights > 0)
    return {
        "spearman": recovery_score(learned, planted, counts),
        "noise_pruned": float(weights[noise & (learned == 0)].sum() / weights[noise].sum())
        if noise.any() else float("nan"),
        "log2_error": float(np.average(np.abs(np.log2(learned[both] / planted[both])),
                                       weights=weights[both])) if both.any() else float("nan"),
    }
