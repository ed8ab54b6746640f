"""QR hashing: layout of quotient/remainder rows, unique embeddings, parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoembed.embeddings.base import EmbeddingSpec
from baselines.qr_hash import QRHashConfig, QRHashEmbedding, qr_layout


def _spec(vocab: tuple[int, ...] = (5, 1000), dim: int = 4) -> EmbeddingSpec:
    return EmbeddingSpec(vocab, dim, np.ones(sum(vocab), dtype=np.int64))


def test_layout_gives_each_feature_a_unique_pair() -> None:
    # n = 10, compression 4: m = 3 remainder rows, ceil(10 / 3) = 4 quotient rows
    q, r, rows = qr_layout([10], compression=4, dense_threshold=0)
    assert rows.tolist() == [4, 3]
    assert q.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert r.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert len(set(zip(q.tolist(), r.tolist(), strict=True))) == 10


def test_small_fields_stay_dense_and_params_shrink_with_compression() -> None:
    spec = _spec()
    for compression, q_rows, r_rows in [(2, 2, 500), (10, 10, 100)]:
        emb = QRHashEmbedding(spec, QRHashConfig(compression=compression, dense_threshold=200))
        # the 5-row field is dense (5 rows in R), the 1000-row field hashed
        assert emb.num_params() == (q_rows + r_rows + 5) * 4
        assert emb.storage_bytes() == 4 * emb.num_params()
        assert emb.feature_dims().tolist() == [4] * 1005


def test_distinct_ids_get_distinct_vectors_and_dense_fields_are_plain_rows() -> None:
    torch.manual_seed(0)
    emb = QRHashEmbedding(_spec(), QRHashConfig(compression=10))
    ids = torch.arange(1005).reshape(-1, 1)
    out = emb(ids)[:, 0]
    assert out.shape == (1005, 4)
    assert torch.unique(out, dim=0).shape[0] == 1005
    torch.testing.assert_close(out[:5], emb.remainder[:5])  # dense: Q side is the identity row
    out.sum().backward()
    assert emb.quotient.grad is not None and emb.quotient.grad.abs().sum() > 0


def test_add_operation_and_global_mode() -> None:
    emb = QRHashEmbedding(_spec(), QRHashConfig(compression=4, operation="add", per_field=False))
    # one table of 1005 rows: m = 252, ceil(1005 / 252) = 4 quotient rows
    assert emb.num_params() == (4 + 252) * 4
    j = 700
    expected = emb.quotient[j // 252] + emb.remainder[j % 252]
    torch.testing.assert_close(emb(torch.tensor([[j]]))[0, 0], expected)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="operation"):
        QRHashEmbedding(_spec(), QRHashConfig(operation="concat"))
    with pytest.raises(ValueError, match="compression"):
        QRHashEmbedding(_spec(), QRHashConfig(compression=0.5))
