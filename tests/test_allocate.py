"""Tests of survey.plan.allocation: closed forms, Bethel-Chromy vs a convex solver, simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as opt

from survey.errors import AllocationError
from survey.plan import allocate, allocate_multivariate

N = np.array([400, 300, 200, 100])
S = np.array([2.0, 5.0, 10.0, 20.0])
C = np.array([1.0, 4.0, 9.0, 16.0])
M = np.array([10.0, 20.0, 40.0, 90.0])


def _check_integer(a, n):
    assert a.n.sum() == n
    assert np.all(np.abs(a.n - a.n_continuous) < 1.0)
    assert np.all((a.n >= np.minimum(2, a.N)) & (a.n <= a.N))


def test_proportional_closed_form():
    a = allocate(N, 100, method="proportional")
    np.testing.assert_allclose(a.n_continuous, 100 * N / N.sum())
    assert a.n.tolist() == [40, 30, 20, 10]


def test_neyman_closed_form():
    a = allocate(N, 120, method="neyman", sd=S)
    np.testing.assert_allclose(a.n_continuous, 120 * N * S / (N * S).sum(), rtol=1e-12)
    _check_integer(a, 120)


def test_optimal_closed_form_with_costs():
    a = allocate(N, 90, method="optimal", sd=S, cost=C)
    w = N * S / np.sqrt(C)
    np.testing.assert_allclose(a.n_continuous, 90 * w / w.sum(), rtol=1e-12)
    _check_integer(a, 90)


def test_power_allocation_closed_form():
    a = allocate(N, 100, method="power", sd=S, means=M, power=0.5)
    w = (N * M) ** 0.5 * S / M
    np.testing.assert_allclose(a.n_continuous, 100 * w / w.sum(), rtol=1e-12)
    # power 1 is Neyman
    b = allocate(N, 100, method="power", sd=S, means=M, power=1.0)
    np.testing.assert_allclose(b.n_continuous, allocate(N, 100, sd=S).n_continuous, rtol=1e-12)


def test_response_rate_inflates_neyman_weights():
    r = np.array([1.0, 0.5, 0.8, 0.9])
    a = allocate(N, 120, method="neyman", sd=S, response_rate=r)
    w = N * S / np.sqrt(r)
    np.testing.assert_allclose(a.n_continuous, 120 * w / w.sum(), rtol=1e-12)
    assert np.allclose(a.table()["expected_respondents"], r * a.n)


def test_take_all_promotion_and_reallocation():
    # Neyman would give stratum 4 more than its 100 units
    a = allocate(N, 300, method="neyman", sd=[1.0, 1.0, 1.0, 50.0])
    assert a.n[3] == 100 and a.take_all[3]
    rest = 200 * N[:3] / N[:3].sum()
    np.testing.assert_allclose(a.n_continuous[:3], rest, rtol=1e-12)
    _check_integer(a, 300)


def test_min_n_is_kept():
    a = allocate(N, 40, method="neyman", sd=[0.01, 0.01, 10.0, 10.0])
    assert a.n[0] >= 2 and a.n[1] >= 2
    _check_integer(a, 40)
    small = allocate([1, 50, 50], 20, method="proportional")  # N_h = 1 caps min_n
    assert small.n[0] == 1


def test_cv_target_univariate_closed_form():
    cv = 0.03
    a = allocate(N, cv=cv, sd=S, means=M)
    Y = N @ M
    n_closed = (N * S).sum() ** 2 / ((cv * Y) ** 2 + (N * S**2).sum())
    assert a.n_continuous.sum() == pytest.approx(n_closed, rel=1e-6)
    np.testing.assert_allclose(a.n_continuous, n_closed * N * S / (N * S).sum(), rtol=1e-5)
    assert a.expected_cv()["expected_cv"].iloc[0] <= cv
    assert a.n_total <= np.ceil(n_closed) + len(N)


def test_allocate_errors():
    with pytest.raises(AllocationError, match="exactly one"):
        allocate(N, 10, cv=0.1, sd=S, means=M)
    with pytest.raises(AllocationError, match="needs sd"):
        allocate(N, 10, method="neyman")
    with pytest.raises(AllocationError, match="between"):
        allocate(N, 5, method="proportional")
    with pytest.raises(AllocationError, match="response_rate"):
        allocate(N, 50, method="neyman", sd=S, response_rate=1.5)


# ---------------------------------------------------------------------------
# Bethel-Chromy
# ---------------------------------------------------------------------------


def _population(seed=3, H=12):
    rng = np.random.default_rng(seed)
    Nh = rng.integers(30, 250, H)
    h = np.repeat(np.arange(H), Nh)
    county = rng.integers(0, 3, h.size)
    industry = np.where(rng.random(h.size) < 0.5, "food", "metal")
    y1 = rng.gamma(2.0, 10.0 * (1 + h % 4))
    y2 = y1 * rng.uniform(0, 1, h.size) + rng.gamma(1.0, 5.0, h.size)
    return pd.DataFrame({"h": h, "county": county, "industry": industry, "y1": y1, "y2": y2})


TARGETS = {"y1": {"total": 0.02, "county": 0.05, "industry": 0.04},
           "y2": {"total": 0.03, "county": 0.08}}


def _constraint_matrix(df, targets, rr):
    """Independent construction with pandas: a_kh, b_k for every target."""
    g = df.groupby("h")
    Nh = g.size().to_numpy().astype(float)
    rows, b = [], []
    for var, spec in targets.items():
        for dtype, cv in spec.items():
            domains = ["total"] if dtype == "total" else sorted(df[dtype].unique())
            for d in domains:
                z = df[var] * (1.0 if dtype == "total" else (df[dtype] == d))
                S2 = z.groupby(df["h"]).var(ddof=1).to_numpy()
                T = z.sum()
                V = (cv * T) ** 2
                rows.append(Nh**2 * S2 / rr / (V + (Nh * S2).sum()))
                b.append(1.0)
    return np.array(rows), Nh


def test_bethel_meets_targets_and_matches_convex_solver():
    df = _population()
    rr = 0.8
    a = allocate_multivariate(df, TARGETS, strata="h", response_rate=rr)
    cv = a.expected_cv()
    assert cv["met"].all()
    assert len(cv) == (1 + 3 + 2) + (1 + 3)
    # independent re-evaluation of every target with the expected-CV formula
    A, Nh = _constraint_matrix(df, TARGETS, rr)
    assert np.all(A @ (1.0 / a.n) <= 1.0 + 1e-9)
    # continuous optimum with a general convex solver (SLSQP on the primal)
    lower = np.minimum(2, Nh)
    res = opt.minimize(
        lambda n: n.sum(), x0=Nh * 0.5, jac=lambda n: np.ones_like(n), method="SLSQP",
        bounds=list(zip(lower, Nh)),
        constraints=[{"type": "ineq", "fun": lambda n: 1.0 - A @ (1.0 / n),
                      "jac": lambda n: A / n**2}],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    assert res.success
    assert a.n_continuous.sum() == pytest.approx(res.fun, rel=1e-4)
    assert a.n_total <= 1.02 * res.fun
    assert a.n_total >= res.fun - 1e-6


def test_bethel_with_costs_matches_convex_solver():
    df = _population(seed=8, H=8)
    costs = {str(h): 1.0 + h for h in range(8)}
    a = allocate_multivariate(df, {"y1": {"total": 0.03, "county": 0.06}}, strata="h", cost=costs)
    A, Nh = _constraint_matrix(df, {"y1": {"total": 0.03, "county": 0.06}}, 1.0)
    c = 1.0 + np.arange(8)
    res = opt.minimize(
        lambda n: c @ n, x0=Nh * 0.5, jac=lambda n: c, method="SLSQP",
        bounds=list(zip(np.minimum(2, Nh), Nh)),
        constraints=[{"type": "ineq", "fun": lambda n: 1.0 - A @ (1.0 / n),
                      "jac": lambda n: A / n**2}],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    assert c @ a.n_continuous == pytest.approx(res.fun, rel=1e-4)
    assert a.expected_cv()["met"].all()


def test_bethel_domain_by_domain_targets_and_take_all():
    df = _population()
    a = allocate_multivariate(df, {"y1": {"total": 0.05, "county": {0: 0.02}}}, strata="h",
                              take_all=["3"])
    cv = a.expected_cv()
    assert len(cv) == 2 and cv["met"].all()
    t = a.table().set_index("stratum")
    assert t.loc["3", "n"] == t.loc["3", "N"] and t.loc["3", "take_all"]


def test_bethel_promotes_take_all_when_needed():
    df = _population()
    a = allocate_multivariate(df, {"y1": {"county": 0.004}}, strata="h")
    assert a.take_all.any()
    assert a.expected_cv()["met"].all()


def test_bethel_infeasible_target_names_domain_and_variable():
    df = _population()
    with pytest.raises(AllocationError, match=r"'y2'.*county=1.*cannot be met"):
        allocate_multivariate(df, {"y1": {"total": 0.05}, "y2": {"county": {1: 0.001}}},
                              strata="h", response_rate=0.5)
    zero = df.assign(y3=np.where(df["county"] == 2, 0.0, -1.0) * df["y1"])
    zero.loc[zero.index[:3], "y3"] = 5.0
    with pytest.raises(AllocationError, match="domain total"):
        allocate_multivariate(zero, {"y3": {"county": 0.1}}, strata="h")
    with pytest.raises(AllocationError, match="must be > 0"):
        allocate_multivariate(df, {"y1": 0.0}, strata="h")


def test_missing_domain_codes_are_in_no_domain():
    df = _population()
    df["zone"] = np.where(df["county"] == 0, "A", None)
    a = allocate_multivariate(df, {"y1": {"zone": 0.05}}, strata="h")
    cv = a.expected_cv()
    assert cv["domain"].tolist() == ["A"]
    assert cv["total"].iloc[0] == pytest.approx(df.loc[df["county"] == 0, "y1"].sum())


def test_simulated_cv_matches_expected_cv():
    """1,000 stratified SRSWOR samples under a Bethel plan: empirical CV of the
    expansion estimator of each target within 10% of the expected CV."""
    df = _population(seed=5, H=10)
    a = allocate_multivariate(df, {"y1": {"total": 0.03, "county": 0.06}, "y2": {"total": 0.05}},
                              strata="h")
    h = df["h"].to_numpy()
    Nh, nh = a.N, a.n
    reps = 1000
    rng = np.random.default_rng(2024)
    keys = h[None, :] + rng.random((reps, h.size))
    order = np.argsort(keys, axis=1)
    offsets = np.concatenate(([0], np.cumsum(Nh)[:-1]))
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(h.size)[None, :] - offsets[h[order]], axis=1)
    chosen = rank < nh[h][None, :]
    w = (Nh / nh)[h]
    cv = a.expected_cv()
    for _, row in cv.iterrows():
        y = df[row["variable"]].to_numpy()
        if row["domain_type"] != "total":
            y = y * (df[row["domain_type"]].to_numpy() == row["domain"])
        est = (chosen * (w * y)[None, :]).sum(axis=1)
        empirical = est.std(ddof=1) / y.sum()
        assert empirical == pytest.approx(row["expected_cv"], rel=0.10)
        assert est.mean() == pytest.approx(y.sum(), rel=3 * row["expected_cv"] / np.sqrt(reps) + 1e-9)
