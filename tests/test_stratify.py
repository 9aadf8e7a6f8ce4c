"""Tests of survey.plan.stratify: designated size, take-all cut-off, size-stratum boundaries."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from survey.errors import AllocationError, FrameError
from survey.plan import boundaries, designated_size, take_all_cutoff


def test_designated_size_rules():
    df = pd.DataFrame({"rev": [6000.0, 4999.9, 2500.0, 1500.0],
                       "industry": ["17", "17", "33", "42"]})
    assert designated_size(df, size="rev", threshold=5000).tolist() == [True, False, False, False]
    table = pd.DataFrame({"industry": ["17", "33", "42"], "threshold": [5000, 2000, 1000]})
    assert designated_size(df, size="rev", threshold=table, by="industry").tolist() == [
        True, False, True, True]
    with pytest.raises(FrameError, match=r"no threshold for industry code\(s\) \['42'\]"):
        designated_size(df, size="rev", threshold={"17": 5000, "33": 2000}, by="industry")
    with pytest.raises(FrameError, match="by="):
        designated_size(df, size="rev", threshold={"17": 5000})


def _brute_cutoff(x, *, cv=None, n=None, min_sample=2):
    """Every split by a Python loop (the definition)."""
    xs = np.sort(x)[::-1]
    N, Y = x.size, x.sum()
    best = None
    for t in range(N + 1):
        if 0 < t < N and xs[t - 1] == xs[t]:
            continue
        rest = xs[t:]
        Nr = rest.size
        S2 = rest.var(ddof=1) if Nr > 1 else 0.0
        if cv is not None:
            m = max(np.ceil(Nr**2 * S2 / ((cv * Y) ** 2 + Nr * S2) - 1e-9), min(min_sample, Nr)) if Nr else 0
            value = t + m
        else:
            m = n - t
            if m < min(min_sample, Nr) or t > n:
                continue
            value = Nr**2 * (1 / m - 1 / Nr) * S2 if m > 0 else 0.0
        if best is None or value < best[0] - 1e-12:
            best = (value, t, m)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_take_all_cutoff_is_the_best_split(seed):
    x = np.random.default_rng(seed).lognormal(2.0, 1.5, 300)
    c = take_all_cutoff(x, cv=0.05)
    _, t, m = _brute_cutoff(x, cv=0.05)
    assert (c.n_take_all, c.n_sample) == (t, m)
    assert c.expected_cv <= 0.05
    c = take_all_cutoff(x, n=60)
    _, t, m = _brute_cutoff(x, n=60)
    assert c.n_take_all == t and c.n == 60
    rest = np.sort(x)[: x.size - t]
    V = rest.size**2 * (1 / m - 1 / rest.size) * rest.var(ddof=1)
    assert c.expected_cv == pytest.approx(np.sqrt(V) / x.sum(), rel=1e-9)
    assert c.threshold == np.sort(x)[::-1][t - 1]


def test_take_all_cutoff_errors():
    with pytest.raises(AllocationError, match="exactly one"):
        take_all_cutoff([1.0, 2.0], cv=0.1, n=2)
    with pytest.raises(FrameError, match="finite"):
        take_all_cutoff([1.0, np.nan], cv=0.1)


def test_geometric_boundaries_closed_form():
    x = np.random.default_rng(4).lognormal(3.0, 1.0, 1000)
    s = boundaries(x, 4, method="geometric", n=100)
    a, b = x.min(), x.max()
    points = a * (b / a) ** (np.arange(1, 4) / 4)
    xs = np.sort(x)
    expected = xs[np.searchsorted(xs, points)]  # first unit at or above each point
    np.testing.assert_array_equal(s.bounds, expected)
    assert s.N.sum() == 1000
    assert s.N.tolist() == np.bincount(s.assign(x), minlength=4).tolist()


def test_cum_sqrt_f_boundaries_hand_example():
    # 100 classes of width 0.995 on [0.5, 100]: classes 0-49 hold 4 units (sqrt 2),
    # 50-98 one unit, class 99 two units: cum sqrt f = 2, 4, ..., 100, 101, ..., 149,
    # 150.41; half of it (75.2) is first reached in class 37, whose upper edge is
    # 0.5 + 38 * 0.995 = 38.31; the boundary is the first size at or above it
    x = np.r_[np.repeat(np.arange(50) + 0.5, 4), np.arange(50, 100) + 0.5, 100.0]
    s = boundaries(x, 2, method="cum_sqrt_f", n=20, bins=100)
    assert s.bounds.tolist() == [38.5]


def _exhaustive_lh(x, n, H=3):
    xs = np.sort(x)
    best = np.inf
    breaks = np.flatnonzero(xs[1:] > xs[:-1]) + 1
    for cuts in itertools.combinations(breaks, H - 1):
        edges = np.r_[0, cuts, xs.size]
        parts = [xs[edges[i]:edges[i + 1]] for i in range(H)]
        if min(p.size for p in parts) < 2:
            continue
        NS = sum(p.size * p.std(ddof=1) for p in parts)
        NS2 = sum(p.size * p.var(ddof=1) for p in parts)
        nh = np.array([n * p.size * p.std(ddof=1) / NS for p in parts])
        if np.any(nh > np.array([p.size for p in parts])) or np.any(nh < 2):
            continue
        best = min(best, NS**2 / n - NS2)
    return best


def test_lavallee_hidiroglou_reaches_global_optimum_on_small_problem():
    x = np.round(np.random.default_rng(9).lognormal(2.0, 0.8, 120), 1)
    s = boundaries(x, 3, method="lavallee_hidiroglou", n=30, seed=1)
    V = (s.expected_cv * x.sum()) ** 2
    assert V == pytest.approx(_exhaustive_lh(x, 30), rel=1e-3)


def test_lavallee_hidiroglou_beats_simple_rules_and_reports_consistently():
    x = np.random.default_rng(1).lognormal(3.0, 1.2, 5000)
    results = {m: boundaries(x, 4, method=m, cv=0.02, take_all=True)
               for m in ("cum_sqrt_f", "geometric", "lavallee_hidiroglou")}
    lh = results["lavallee_hidiroglou"]
    assert lh.n.sum() <= min(r.n.sum() for r in results.values()) + 1e-9
    for r in results.values():
        assert r.expected_cv == pytest.approx(0.02, rel=1e-6)
        t = r.table()
        assert t["take_all"].iloc[-1] and t["n"].iloc[-1] == t["N"].iloc[-1]
        # stratum statistics agree with a direct computation
        h = r.assign(x)
        for k in range(4):
            assert t["mean"].iloc[k] == pytest.approx(x[h == k].mean(), rel=1e-9)
            assert t["sd"].iloc[k] == pytest.approx(x[h == k].std(ddof=1), rel=1e-9)


def test_boundaries_errors():
    with pytest.raises(AllocationError, match="distinct"):
        boundaries([1.0, 1.0, 2.0], 4, n=2)
    with pytest.raises(AllocationError, match="method"):
        boundaries([1.0, 2.0, 3.0], 2, n=2, method="kmeans")
