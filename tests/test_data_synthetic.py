"""Synthetic data: determinism, planted structure, teacher, recovery score."""

from __future__ import annotations

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset, split_indices
from autoembed.data.synthetic import (
    SyntheticOptions,
    make_teacher,
    recovery_metrics,
    recovery_score,
)
from autoembed.training.metrics import bayes_auc


def tiny(tmp_path, sub="c", **options):
    return load_dataset(DataConfig(name="synthetic", options={"scale": "tiny", **options},
                                   cache_dir=str(tmp_path / sub)))


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a, b = tiny(tmp_path, "a"), tiny(tmp_path, "b")
    assert a.meta["cache_hit"] is False and b.meta["cache_hit"] is False
    for key in ("ids", "labels", "teacher_probs", "planted_dims", "feature_counts"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    c = tiny(tmp_path, "a", seed=1)
    assert not np.array_equal(a.ids, c.ids)


def test_planted_structure(tmp_path):
    data = tiny(tmp_path)
    assert data.num_rows == 20_000 and data.num_fields == 6
    planted = np.asarray(data.planted_dims)
    assert planted.shape == (data.num_features,)
    assert (planted[data.field_offsets] == 0).all()  # OOV ids
    noise = [data.field_names.index(n) for n in data.meta["noise_fields"]]
    assert len(noise) == 1
    for f, (off, size) in enumerate(zip(data.field_offsets, data.vocab_sizes, strict=True)):
        dims = planted[off + 1 : off + size]
        if f in noise:
            assert (dims == 0).all()
        else:
            assert dims[0] > dims[-1] >= 1  # frequent features need more dimensions
            assert (np.diff(dims) <= 0).all()
            counts = np.asarray(data.feature_counts)[off + 1 : off + size]
            assert counts[0] > counts[-1]  # Zipf: local id 1 is the most frequent
    assert 0.2 <= float(np.mean(data.labels)) <= 0.3


def test_teacher_ignores_noise_fields_and_sets_the_ceiling(tmp_path):
    opts = SyntheticOptions(scale="tiny")
    teacher = make_teacher(opts)
    ids = teacher.sample_ids(np.random.default_rng(0), 1000)
    f = teacher.noise_fields[0]
    shuffled = ids.copy()
    shuffled[:, f] = np.random.default_rng(1).permutation(shuffled[:, f])
    assert np.allclose(teacher.probs(ids), teacher.probs(shuffled))
    signal = next(g for g in range(opts.n_fields) if g not in teacher.noise_fields)
    shuffled[:, signal] = np.random.default_rng(2).permutation(shuffled[:, signal])
    assert not np.allclose(teacher.probs(ids), teacher.probs(shuffled))
    data = tiny(tmp_path)
    test_rows = split_indices(data.num_rows, 0).test
    assert 0.7 < bayes_auc(data, test_rows) < 0.95


def test_recovery_score_definition():
    planted = np.array([0, 0, 1, 2, 4, 8, 16])
    counts = np.array([50, 5, 1, 10, 20, 30, 100])
    assert recovery_score(planted, planted, counts) == pytest.approx(1.0)
    assert recovery_score(planted * 3 + 1, planted, counts) == pytest.approx(1.0)  # ranks only
    assert recovery_score(-planted, planted, counts) == pytest.approx(-1.0)
    assert recovery_score(np.full(7, 4), planted, counts) == 0.0
    # frequency weighting: getting the rare feature wrong costs less than a frequent one
    rare_wrong = planted.copy()
    rare_wrong[2] = 16
    freq_wrong = planted.copy()
    freq_wrong[6] = 1
    assert recovery_score(rare_wrong, planted, counts) > recovery_score(freq_wrong, planted, counts)
    unseen = counts.copy()
    unseen[2] = 0  # features never seen do not count
    assert recovery_score(rare_wrong, planted, unseen) == pytest.approx(1.0)
    metrics = recovery_metrics(np.array([0, 4, 1, 2, 4, 8, 16]), planted, counts)
    assert metrics["noise_pruned"] == pytest.approx(50 / 55)
    assert metrics["log2_error"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ"):
        recovery_score(planted[:3], planted)


def test_options_are_checked():
    assert SyntheticOptions(n_fields=4).vocab_sizes[0] == 5000
    assert SyntheticOptions(vocab_sizes=[10, 20]).n_fields == 2
    with pytest.raises(ValueError, match="allowed: tiny, small, ml1m, criteo"):
        SyntheticOptions(scale="huge")
    with pytest.raises(ValueError, match="noise_fields"):
        SyntheticOptions(vocab_sizes=[10, 20], noise_fields=2)
