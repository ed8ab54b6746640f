"""Exact global metrics computed on the tensors' own device (no sklearn, no host round trip)."""

from __future__ import annotations

import torch


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
