"""Pareto front and hypervolume against brute force on random points (ties included)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.pareto import hypervolume, pareto_front

# Small integer grids make ties (equal x, equal y, exact duplicates) frequent.
points = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 6)), min_size=0, max_size=25)


def brute_force_front(pts: list[tuple[int, int]], maximize_y: bool) -> list[int]:
    """Indices of non-dominated points; of identical points only the first is kept."""
    sign = 1 if maximize_y else -1
    keep = []
    for i, (x, y) in enumerate(pts):
        dominated = any(
            (x2 <= x and sign * y2 >= sign * y and (x2 < x or sign * y2 > sign * y))
            or ((x2, y2) == (x, y) and j < i)
            for j, (x2, y2) in enumerate(pts) if j != i
        )
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: (pts[i][0], i))


@settings(max_examples=300, deadline=None)
@given(points, st.booleans())
def test_pareto_front_matches_brute_force(pts: list[tuple[int, int]], maximize_y: bool) -> None:
    df = pd.DataFrame(pts, columns=["params", "test_auc"], dtype=float)
    front = pareto_front(df, maximize_y=maximize_y)
    assert list(front.index) == brute_force_front(pts, maximize_y)
    assert front["params"].is_monotonic_increasing


def brute_force_hypervolume(pts: list[tuple[int, int]], ref_x: float, ref_y: float) -> float:
    """Dominated area by integrating over a fine partition: every cell between consecutive
    distinct log10 x values counts the best y among points at or left of it."""
    xs = sorted({np.log10(x) for x, _ in pts if x < ref_x} | {np.log10(ref_x)})
    area = 0.0
    for left, right in itertools.pairwise(xs):
        best = max([y for x, y in pts if np.log10(x) <= left and x < ref_x] + [ref_y])
        area += (right - left) * max(best - ref_y, 0.0)
    return area


@settings(max_examples=300, deadline=None)
@given(points)
def test_hypervolume_matches_brute_force_and_front_only_matters(pts: list[tuple[int, int]]) -> None:
    arr = np.array(pts, dtype=float).reshape(-1, 2)
    expected = brute_force_hypervolume(pts, 10.0, 1.0)
    assert np.isclose(hypervolume(arr, 10.0, 1.0), expected)
    df = pd.DataFrame(arr, columns=["params", "test_auc"])
    assert np.isclose(hypervolume(pareto_front(df), 10.0, 1.0), expected)
