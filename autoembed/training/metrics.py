"""Exact global metrics computed on the tensors' own device (no sklearn, no host round trip)."""

from __future__ import annotations

import numpy as np
import torch

from autoembed.data.base import CTRData


def auc(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Exact ROC AUC by the rank-sum (Mann-Whitney) statistic; tied scores get their mean rank.

    Returns a 0-d float64 tensor; NaN when only one class is present.
    """
    scores = scores.detach().flatten()
    labels = labels.detach().flatten().to(torch.float64)
    order = torch.argsort(scores)
    sorted_scores = scores[order]
    _, inverse, counts = torch.unique_consecutive(
        sorted_scores, return_inverse=True, return_counts=True
    )
    ends = torch.cumsum(counts, 0).to(torch.float64)  # 1-based rank of each tie group's last item
    mean_rank = ends - (counts.to(torch.float64) - 1) / 2
    pos = labels[order]
    n_pos = pos.sum()
    n_neg = labels.numel() - n_pos
    rank_sum = (mean_rank[inverse] * pos).sum()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def logloss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of ``logits`` against ``labels`` (0-d float64 tensor)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits.detach().to(torch.float64), labels.detach().to(torch.float64)
    )


def bayes_auc(data: CTRData, rows: np.ndarray | None = None) -> float:
    """The teacher's own AUC on ``rows`` (e.g. the test split): the ceiling any model can reach."""
    if data.teacher_probs is None:
        raise ValueError(f"dataset {data.name!r} has no teacher (only synthetic data does)")
    rows = np.arange(data.num_rows) if rows is None else rows
    labels = np.asarray(data.labels[rows])
    if labels.min() == labels.max():
        raise ValueError("AUC needs both positive and negative labels")
    return float(auc(torch.from_numpy(np.asarray(data.teacher_probs[rows])), torch.from_numpy(labels)))
