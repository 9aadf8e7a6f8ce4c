"""Tests of survey.estimation.replicate: reference numbers from R, closed forms, simulation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey.errors import DesignError, LonelyPSUError, ReplicateError, SurveyWarning
from survey.estimation.replicate import (
    import_replicates,
    make_replicates,
    replicates_from_arrays,
)
from survey.estimation.replicate_variance import replicate_totals, replicate_variance
from survey.estimation.replicate_weights import (
    replicate_factors,
    replicate_weights,
    replicate_weights_frame,
    reweight_replicates,
)

REF = Path(__file__).parent / "reference"


def expected(case: str, quantity: str, variable: str) -> float:
    table = pd.read_csv(REF / "expected.csv", dtype={"domain": str}, keep_default_na=False)
    row = table[(table.case == case) & (table.quantity == quantity) & (table.variable == variable)]
    assert len(row) == 1
    return float(row.value.iloc[0])


def whole(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def textbook_stratified(z: np.ndarray, strata: np.ndarray, f: np.ndarray | None = None) -> float:
    """sum_h (1 - f_h) n_h / (n_h - 1) sum_i (z_hi - zbar_h)^2 (z = w y, one row per PSU)."""
    v = 0.0
    for h in np.unique(strata):
        zh = z[strata == h]
        nh = zh.shape[0]
        fh = 0.0 if f is None else f[strata == h][0]
        v += (1 - fh) * nh / (nh - 1) * ((zh - zh.mean()) ** 2).sum()
    return v


def dense_variance(rep, w, y, x, dom, n_dom):
    """Brute force: every replicate estimate from explicit replicate weights."""
    W = replicate_weights(rep, w)
    out = np.zeros((n_dom, y.shape[1]))
    for dd in range(n_dom):
        m = dom == dd
        for j in range(y.shape[1]):
            num = W[m].T @ y[m, j]
            full_n = w[m] @ y[m, j]
            if x is None:
                th, full = num, full_n
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    th, full = num / (W[m].T @ x[m, j]), full_n / (w[m] @ x[m, j])
            ok = np.isfinite(th)  # R drops replicates with undefined estimates (na.action)
            centre = full if rep.mse else th[ok].mean()
            out[dd, j] = rep.scale * np.sum(rep.rscales[ok] * (th[ok] - centre) ** 2)
    return out


# --------------------------------------------------------------------------
# R reference numbers
# --------------------------------------------------------------------------
def test_jkn_total_matches_r():
    """as.svrepdesign(svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat),
    type='JKn'); svytotal(~enroll)"""
    df = pd.read_csv(REF / "data" / "apistrat.csv")
    n_h = df.groupby("stype")["stype"].transform("size").to_numpy()
    rep = replicates_from_arrays(
        "jkn", weights=df.pw.to_numpy(), strata=df.stype.to_numpy(), fraction=n_h / df.fpc.to_numpy()
    )
    y = df[["enroll"]].to_numpy(float)
    v = replicate_variance(rep, rep.weights, y, None, whole(len(df)), 1)
    assert rep.n_replicates == 200 and rep.scale == 1.0
    assert np.sqrt(v[0, 0]) == pytest.approx(expected("jkn_total", "se", "enroll"), rel=1e-8)
    assert rep.weights @ y[:, 0] == pytest.approx(expected("jkn_total", "estimate", "enroll"), rel=1e-12)


def test_jk1_total_matches_r():
    """as.svrepdesign(svydesign(id=~1, weights=~pw, fpc=~fpc, data=apisrs), type='JK1');
    svytotal(~enroll)"""
    df = pd.read_csv(REF / "data" / "apisrs.csv")
    rep = replicates_from_arrays("jk1", weights=df.pw.to_numpy(), fraction=len(df) / df.fpc.to_numpy())
    y = df[["enroll"]].to_numpy(float)
    v = replicate_variance(rep, rep.weights, y, None, whole(len(df)), 1)
    assert rep.scale == pytest.approx(199 / 200)
    assert np.sqrt(v[0, 0]) == pytest.approx(expected("jk1_total", "se", "enroll"), rel=1e-8)
    assert rep.weights @ y[:, 0] == pytest.approx(expected("jk1_total", "estimate", "enroll"), rel=1e-12)


def test_jkn_equals_linearised_stratified_se_from_r():
    """JKn with fpc reproduces the linearised SE of svytotal(~enroll + api.stu, dstrat)."""
    df = pd.read_csv(REF / "data" / "apistrat.csv")
    n_h = df.groupby("stype")["stype"].transform("size").to_numpy()
    rep = replicates_from_arrays(
        "jkn", weights=df.pw.to_numpy(), strata=df.stype.to_numpy(), fraction=n_h / df.fpc.to_numpy()
    )
    y = df[["enroll", "api.stu"]].to_numpy(float)
    se = np.sqrt(replicate_variance(rep, rep.weights, y, None, whole(len(df)), 1))[0]
    assert se[0] == pytest.approx(expected("strat_total", "se", "enroll"), rel=1e-8)
    assert se[1] == pytest.approx(expected("strat_total", "se", "api.stu"), rel=1e-8)


# --------------------------------------------------------------------------
# jackknife: closed forms and agreement of the three computation paths
# --------------------------------------------------------------------------
@pytest.fixture
def clustered():
    rng = np.random.default_rng(7)
    n = 400
    strata = rng.integers(0, 6, n)
    psu = strata * 100 + rng.integers(0, 5, n)  # up to 5 PSUs per stratum
    w = rng.uniform(5, 30, n)
    y = np.column_stack([rng.gamma(2.0, 50.0, n), rng.normal(10, 3, n)])
    x = np.column_stack([rng.gamma(3.0, 20.0, n), rng.uniform(1, 2, n)])
    dom = rng.integers(-1, 4, n)
    f = np.array([0.1, 0.0, 0.3, 0.05, 0.2, 0.0])[strata]
    return dict(strata=strata, psu=psu, w=w, y=y, x=x, dom=dom, f=f)


def test_jkn_equals_linearised_without_fpc_exactly():
    rng = np.random.default_rng(1)
    strata = np.repeat(np.arange(5), [3, 7, 2, 10, 4])
    w = rng.uniform(1, 50, strata.shape[0])
    y = rng.lognormal(3, 1, (strata.shape[0], 1))
    rep = replicates_from_arrays("jkn", weights=w, strata=strata)
    v = replicate_variance(rep, w, y, None, whole(len(w)), 1)[0, 0]
    assert v == pytest.approx(textbook_stratified(w * y[:, 0], strata), rel=1e-12)


@pytest.mark.parametrize("method", ["jkn", "jk1"])
@pytest.mark.parametrize("mse", [False, True])
@pytest.mark.parametrize("ratio", [False, True])
def test_jackknife_fast_path_equals_brute_force(clustered, method, mse, ratio):
    c = clustered
    kwargs = dict(strata=c["strata"]) if method == "jkn" else {}
    fraction = c["f"] if method == "jkn" else 0.1
    rep = replicates_from_arrays(method, weights=c["w"], psu=c["psu"], fraction=fraction, mse=mse, **kwargs)
    x = c["x"] if ratio else None
    fast = replicate_variance(rep, c["w"], c["y"], x, c["dom"], 4)
    brute = dense_variance(rep, c["w"], c["y"], x, c["dom"], 4)
    np.testing.assert_allclose(fast, brute, rtol=1e-9)


def test_jackknife_fast_path_equals_chunked_totals(clustered):
    c = clustered
    rep = replicates_from_arrays("jkn", weights=c["w"], strata=c["strata"], psu=c["psu"], fraction=c["f"])
    fast = replicate_variance(rep, c["w"], c["y"], None, c["dom"], 4)
    deltas = np.vstack([d for _, d in replicate_totals(rep, c["w"], c["y"], c["dom"], 4, chunk=7)])
    mu = deltas.mean(axis=0)
    slow = rep.scale * (rep.rscales[:, None] * (deltas - mu) ** 2).sum(axis=0)
    np.testing.assert_allclose(fast.ravel(), slow, rtol=1e-9)


def test_take_all_stratum_contributes_zero_jkn_and_bootstrap():
    rng = np.random.default_rng(3)
    strata = np.repeat([0, 1, 2], [20, 30, 5])
    f = np.array([0.2, 0.1, 1.0])[strata]
    w = np.where(strata == 2, 1.0, rng.uniform(5, 10, strata.shape[0]))
    y = rng.gamma(2, 10, (strata.shape[0], 1))
    y2 = y.copy()
    y2[strata == 2] *= 100.0
    for method in ("jkn", "bootstrap"):
        rep = replicates_from_arrays(method, weights=w, strata=strata, fraction=f, replicates=None if method == "jkn" else 50, seed=1)
        v1 = replicate_variance(rep, w, y, None, whole(len(w)), 1)
        v2 = replicate_variance(rep, w, y2, None, whole(len(w)), 1)
        assert v1[0, 0] == pytest.approx(v2[0, 0], rel=1e-12)
        if method == "jkn":
            assert rep.n_replicates == 50  # take-all stratum creates no replicates
            assert v1[0, 0] == pytest.approx(textbook_stratified(w[:50] * y[:50, 0], strata[:50], f[:50]), rel=1e-12)


def test_lonely_psu_rules():
    strata = np.array([0, 0, 0, 1])
    with pytest.raises(LonelyPSUError, match="single PSU"):
        replicates_from_arrays("jkn", weights=np.ones(4), strata=strata)
    rep = replicates_from_arrays("jkn", weights=np.ones(4), strata=strata, lonely_psu="remove")
    assert rep.n_replicates == 3
    # JKn follows R as.svrepdesign (tests/test_lonely_wave2.py): "adjust" adds a replicate
    adj = replicates_from_arrays("jkn", weights=np.ones(4), strata=strata, lonely_psu="adjust")
    assert adj.n_replicates == 4 and adj.rscales[-1] == pytest.approx(0.5)
    with pytest.warns(SurveyWarning, match="as 'remove'"):
        replicates_from_arrays("bootstrap", weights=np.ones(4), strata=strata, lonely_psu="adjust", seed=1)


def test_zero_denominator_replicates_dropped_with_warning():
    # a domain with one row: the replicate deleting it has a zero denominator
    w = np.ones(5)
    dom = np.array([0, 0, 0, 0, 1])
    y = np.arange(1.0, 6.0)[:, None]
    rep = replicates_from_arrays("jk1", weights=w)
    with pytest.warns(SurveyWarning, match="zero denominator"):
        v = replicate_variance(rep, w, y, np.ones((5, 1)), dom, 2)
    assert v[1, 0] == pytest.approx(0.0, abs=1e-12)  # the mean of one value does not move
    assert np.isfinite(v).all()


def test_changed_weights_are_refused():
    rep = replicates_from_arrays("jk1", weights=np.ones(4))
    with pytest.raises(ReplicateError, match="weights changed"):
        replicate_variance(rep, np.full(4, 2.0), np.ones((4, 1)), None, whole(4), 1)
    # zeroing rows (a domain that keeps the design) is allowed
    v = replicate_variance(rep, np.array([1.0, 1.0, 0.0, 0.0]), np.ones((4, 1)), None, whole(4), 1)
    assert np.isfinite(v).all()


def test_bad_fpc_is_refused():
    with pytest.raises(DesignError, match="constant within a stratum"):
        replicates_from_arrays("jkn", weights=np.ones(4), strata=np.array([0, 0, 1, 1]),
                               fraction=np.array([0.1, 0.2, 0.1, 0.1]))
    with pytest.raises(DesignError, match="outside"):
        replicates_from_arrays("jkn", weights=np.ones(4), fraction=np.full(4, 1.5))


# --------------------------------------------------------------------------
# BRR and Fay
# --------------------------------------------------------------------------
@pytest.mark.parametrize("method,rho", [("brr", None), ("fay", 0.3), ("fay", 0.5)])
def test_brr_two_psu_per_stratum_equals_textbook(method, rho):
    rng = np.random.default_rng(11)
    L = 13
    strata = np.repeat(np.arange(L), 2)
    w = rng.uniform(10, 20, 2 * L)
    y = rng.gamma(2, 5, (2 * L, 2))
    rep = replicates_from_arrays(method, weights=w, strata=strata, fay_rho=rho)
    assert rep.n_replicates == 16 and rep.df == L
    z = w[:, None] * y
    textbook = ((z[0::2] - z[1::2]) ** 2).sum(axis=0)  # sum_h (t_h1 - t_h2)^2
    v = replicate_variance(rep, w, y, None, whole(2 * L), 1)[0]
    np.testing.assert_allclose(v, textbook, rtol=1e-12)
    # brute force from explicit replicate weights, ratio and domains
    dom = rng.integers(0, 3, 2 * L)
    x = rng.uniform(1, 3, (2 * L, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SurveyWarning)  # small domains lose a replicate
        fast = replicate_variance(rep, w, y, x, dom, 3)
    np.testing.assert_allclose(fast, dense_variance(rep, w, y, x, dom, 3), rtol=1e-9)


def test_brr_needs_two_psus_unless_variance_strata():
    strata = np.repeat([0, 1], [4, 3])
    w = np.ones(7)
    with pytest.raises(ReplicateError, match="exactly two PSUs"):
        replicates_from_arrays("brr", weights=w, strata=strata)
    with pytest.raises(ReplicateError, match="odd number"):
        replicates_from_arrays("brr", weights=np.ones(9), strata=np.repeat([0, 1, 2], [4, 3, 2]),
                               variance_strata=True)
    strata = np.repeat([0, 1, 2], [4, 3, 3])
    w = np.ones(10)
    rep = replicates_from_arrays("brr", weights=w, strata=strata, variance_strata=True)
    y = np.arange(10.0)[:, None] ** 2
    # pairs: (0,1) (2,3) | (4,5) | (7,8) | leftovers 6 and 9 paired across strata
    pairs = [(0, 1), (2, 3), (4, 5), (7, 8), (6, 9)]
    textbook = sum((y[a, 0] - y[b, 0]) ** 2 for a, b in pairs)
    assert replicate_variance(rep, w, y, None, whole(10), 1)[0, 0] == pytest.approx(textbook)


# --------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------
def test_bootstrap_reproducible_and_chunk_independent():
    rng = np.random.default_rng(5)
    strata = rng.integers(0, 4, 300)
    w = rng.uniform(1, 5, 300)
    y = rng.gamma(2, 3, (300, 2))
    rep = replicates_from_arrays("bootstrap", weights=w, strata=strata, replicates=40, seed=123)
    rep2 = replicates_from_arrays("bootstrap", weights=w, strata=strata, replicates=40, seed=123)
    a = np.vstack([d for _, d in replicate_totals(rep, w, y, whole(300), 1, chunk=3)])
    b = np.vstack([d for _, d in replicate_totals(rep2, w, y, whole(300), 1, chunk=40)])
    np.testing.assert_array_equal(a, b)
    # replicate factors agree with the deltas, and a subset of replicates is the same column
    F = replicate_factors(rep)
    np.testing.assert_allclose((F - 1).T @ (w[:, None] * y), a, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(replicate_factors(rep, [7, 3]), F[:, [7, 3]])
    assert (F >= 0).all()
    # a generator seed is turned into a recorded integer seed
    g = replicates_from_arrays("bootstrap", weights=w, strata=strata, replicates=5,
                               seed=np.random.default_rng(9))
    assert isinstance(g.seed, int)


def test_bootstrap_se_within_5_percent_of_linearised_with_fpc():
    rng = np.random.default_rng(2024)
    H = 40
    n_h = rng.integers(20, 60, H)
    N_h = (n_h / rng.uniform(0.05, 0.6, H)).astype(int)
    N_h[:3] = n_h[:3]  # take-all strata
    strata = np.repeat(np.arange(H), n_h)
    f = (n_h / N_h)[strata]
    w = (N_h / n_h)[strata]
    y = rng.gamma(2.0, 100.0, (strata.shape[0], 2)) * (1 + strata[:, None] % 5)
    rep = replicates_from_arrays("bootstrap", weights=w, strata=strata, fraction=f, replicates=1000, seed=42)
    v = replicate_variance(rep, w, y, None, whole(len(w)), 1)[0]
    for j in range(2):
        lin = textbook_stratified(w * y[:, j], strata, f)
        assert np.sqrt(v[j]) == pytest.approx(np.sqrt(lin), rel=0.05)


def test_bootstrap_interval_coverage():
    """95% bootstrap intervals for a stratified total cover the truth 93-97% of the time.

    1000 samples, 100 Rao-Wu-Yue replicates each, drawn all at once: replicate r's total
    moves from the full sample's by sum_h lambda_h n_h / m_h * (sum of the z = w y of the
    m_h = n_h - 1 units drawn) - lambda_h sum(z) (a constant), and its variance is the
    spread of the replicate totals, scale 1 / (R - 1). That is the library's estimator:
    checked on the first samples against replicate_variance with the design's own draws
    (bootstrap_counts). A variance 0.8 times too small fails the same bounds."""
    from scipy import stats

    from survey.estimation.replicate_weights import (
        bootstrap_counts,
        bootstrap_multipliers,
    )

    rng = np.random.default_rng(77)
    N_h = np.array([400, 300, 200, 60])
    n_h = np.array([30, 25, 20, 60])  # last stratum take-all
    pop = [rng.normal(100 + 40 * h, 20 + 5 * h, N) for h, N in enumerate(N_h)]
    truth = sum(p.sum() for p in pop)
    strata = np.repeat(np.arange(4), n_h)
    w = (N_h / n_h)[strata]
    f = (n_h / N_h)[strata]
    df = int(n_h[:3].sum() - 3)
    t = stats.t.ppf(0.975, df)
    sims, R = 1000, 100
    # every sample at once: n_h units without replacement per stratum (sims x n)
    y = np.hstack([p[np.argsort(rng.random((sims, len(p))), axis=1)[:, :n]]
                   for p, n in zip(pop, n_h)])
    z = y * w[None, :]
    est = z.sum(axis=1)
    lam = np.sqrt(1 - n_h / N_h)
    mult = lam * n_h / (n_h - 1)
    dev = np.zeros((sims, R))  # replicate total minus a constant of the sample
    start = np.concatenate(([0], np.cumsum(n_h)[:-1]))
    for h in range(3):  # the strata with replicates (the take-all one has lambda 0)
        draws = start[h] + rng.integers(0, n_h[h], size=(sims, R, n_h[h] - 1))
        dev += mult[h] * np.take_along_axis(z, draws.reshape(sims, -1), axis=1).reshape(
            sims, R, -1).sum(axis=2)
    var = dev.var(axis=1, ddof=1)
    for s in range(3):  # the same estimator as the library's, on the library's draws
        rep = replicates_from_arrays("bootstrap", weights=w, strata=strata, fraction=f,
                                     replicates=R, seed=s)
        lam_p, mult_p = bootstrap_multipliers(rep.layout)
        np.testing.assert_allclose(lam_p, lam[strata] * (strata < 3), rtol=1e-15)
        counts = bootstrap_counts(rep).astype(float)  # (R, P), PSU = row here
        totals = counts @ (mult_p * z[s])
        got = replicate_variance(rep, w, y[s][:, None], None, whole(len(w)), 1)[0, 0]
        assert got == pytest.approx(totals.var(ddof=1), rel=1e-10)
    covered = np.abs(est - truth) <= t * np.sqrt(var)
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    too_small = np.abs(est - truth) <= t * np.sqrt(0.8 * var)
    assert not 0.93 <= too_small.mean() <= 0.97, too_small.mean()


# --------------------------------------------------------------------------
# export, import, reweighting
# --------------------------------------------------------------------------
def test_export_import_round_trip(clustered):
    c = clustered
    rep = replicates_from_arrays("jkn", weights=c["w"], strata=c["strata"], psu=c["psu"], fraction=c["f"])
    frame = replicate_weights_frame(rep, prefix="rw")
    assert frame.shape == (len(c["w"]), rep.n_replicates)
    back = import_replicates(c["w"], frame, method="jkn", rscales=rep.rscales)
    for x in (None, c["x"]):
        np.testing.assert_allclose(
            replicate_variance(back, c["w"], c["y"], x, c["dom"], 4),
            replicate_variance(rep, c["w"], c["y"], x, c["dom"], 4),
            rtol=1e-9,
        )
    factors = import_replicates(c["w"], replicate_factors(rep), method="jkn", rscales=rep.rscales,
                                combined_weights=False)
    np.testing.assert_allclose(replicate_weights(factors), frame.to_numpy())
    with pytest.raises(ReplicateError, match="needs rscales"):
        import_replicates(c["w"], frame, method="jkn")


def test_reweighted_replicates_reflect_calibration():
    """Ratio-adjusting every replicate to a known N makes the variance of N-hat zero and gives
    the ratio-estimator variance for a total."""
    rng = np.random.default_rng(8)
    n, N = 60, 1000.0
    w = np.full(n, N / n)
    y = rng.gamma(3, 10, (n, 1))
    rep = replicates_from_arrays("jk1", weights=w)
    cal = reweight_replicates(rep, lambda d: d * N / d.sum())
    assert cal.calibrated and cal.materialised
    ones = np.ones((n, 1))
    assert replicate_variance(cal, cal.weights, ones, None, whole(n), 1)[0, 0] == pytest.approx(0, abs=1e-12)
    # total after ratio calibration = N * mean(y): JK1 variance equals that of N * ratio y/1
    v_cal = replicate_variance(cal, cal.weights, y, None, whole(n), 1)[0, 0]
    v_ratio = replicate_variance(rep, w, y, ones, whole(n), 1)[0, 0] * N**2
    assert v_cal == pytest.approx(v_ratio, rel=1e-10)
    # the replicate design refuses weights that changed without it
    with pytest.raises(ReplicateError, match="weights changed"):
        replicate_variance(rep, cal.weights * 1.1, y, None, whole(n), 1)


def test_make_replicates_from_survey_like_object():
    from types import SimpleNamespace

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    design = SimpleNamespace(strata="stype", clusters=None, fpc="fpc", lonely_psu="fail")
    s = SimpleNamespace(weights=df.pw.to_numpy(), design=design, column=lambda c: df[c].to_numpy())
    rep = make_replicates(s, "jkn")
    v = replicate_variance(rep, rep.weights, df[["enroll"]].to_numpy(float), None, whole(len(df)), 1)
    assert np.sqrt(v[0, 0]) == pytest.approx(expected("jkn_total", "se", "enroll"), rel=1e-8)


def test_bad_arguments():
    w = np.ones(6)
    with pytest.raises(ReplicateError, match="method must be"):
        replicates_from_arrays("jackknife", weights=w)
    with pytest.raises(ReplicateError, match="power of two"):
        replicates_from_arrays("brr", weights=w, strata=np.repeat([0, 1, 2], 2), replicates=6)
    with pytest.raises(ReplicateError, match="one replicate per PSU"):
        replicates_from_arrays("jkn", weights=w, replicates=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SurveyWarning, match="ignores the finite population"):
            replicates_from_arrays("brr", weights=w, strata=np.repeat([0, 1, 2], 2), fraction=0.5)


# --------------------------------------------------------------------------
# integration with the estimation core (Survey)
# --------------------------------------------------------------------------
def test_survey_replicate_estimators_match_r_and_brute_force():
    import survey as sv

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    s = sv.Survey(df, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    r = s.with_replicates(make_replicates(s, "jkn"))
    est = r.total("enroll")
    assert est.se[0] == pytest.approx(expected("jkn_total", "se", "enroll"), rel=1e-8)
    assert est.estimate[0] == pytest.approx(expected("jkn_total", "estimate", "enroll"), rel=1e-12)
    # domain means = ratios sum(w y 1_d) / sum(w 1_d), against explicit replicate weights
    m = r.mean("api00", by="sch.wide")
    rep = r.replicates
    W = replicate_weights(rep)
    y = df.api00.to_numpy(float)
    for i, level in enumerate(m.table()["sch.wide"]):
        d = (df["sch.wide"] == level).to_numpy()
        th = (W[d].T @ y[d]) / W[d].sum(axis=0)
        assert m.se[i] == pytest.approx(np.sqrt(np.sum(rep.rscales * (th - th.mean()) ** 2)), rel=1e-9)


def test_survey_bootstrap_close_to_linearised():
    import survey as sv

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    s = sv.Survey(df, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    b = s.with_replicates(make_replicates(s, "bootstrap", replicates=2000, seed=3))
    assert b.total("enroll").se[0] == pytest.approx(expected("strat_total", "se", "enroll"), rel=0.05)


def test_calibrated_replicate_survey_close_to_greg_linearisation():
    """Recalibrating every JKn replicate (R: calibrate(as.svrepdesign(dstrat, 'JKn'), ...))
    gives an SE within 2% of R's linearised GREG SE (case cal_linear)."""
    import survey as sv
    from survey.estimation.weighting import calibrate

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    pop = pd.read_csv(REF / "data" / "apipop.csv")
    s = sv.Survey(df, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    totals = {"stype": {"E": 4421, "H": 755, "M": 1018}, "api99": float(pop.api99.sum())}
    r = calibrate(s.with_replicates(make_replicates(s, "jkn")), totals)
    assert r.replicates.calibrated
    # every replicate hits the calibration totals
    W = replicate_weights(r.replicates)
    np.testing.assert_allclose(W.T @ df.api99.to_numpy(float), totals["api99"], rtol=1e-9)
    est = r.total("enroll")
    assert est.estimate[0] == pytest.approx(expected("cal_linear", "estimate", "enroll"), rel=1e-9)
    assert est.se[0] == pytest.approx(expected("cal_linear", "se", "enroll"), rel=0.02)


def test_replicates_from_columns_like_svrepdesign():
    """Replicate weights published as columns are read back (R: svrepdesign(repweights="repw_[0-9]+"))."""
    import survey as sv
    from survey.estimation.replicate import replicates_from_columns

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    s = sv.Survey(df, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    rep = make_replicates(s, "jkn")
    published = pd.concat([df, replicate_weights_frame(rep)], axis=1)
    s2 = sv.Survey(published, sv.Design(weights="pw"))
    back = replicates_from_columns(s2, "repw_[0-9]+", method="jkn", rscales=rep.rscales)
    est = s2.with_replicates(back).total("enroll")
    assert est.se[0] == pytest.approx(expected("jkn_total", "se", "enroll"), rel=1e-8)
    with pytest.raises(ReplicateError, match="no column matches"):
        replicates_from_columns(s2, "pwwgt[0-9]+")


def test_replicates_after_weighting_warn():
    import survey as sv
    from survey.estimation.weighting import calibrate

    df = pd.read_csv(REF / "data" / "apistrat.csv")
    s = sv.Survey(df, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    cal = calibrate(s, {"stype": {"E": 4421, "H": 755, "M": 1018}})
    with pytest.warns(SurveyWarning, match="do not repeat it"):
        make_replicates(cal, "jkn")


def test_replicate_covariance_of_totals_equals_linearised_for_jkn():
    """Off-diagonal covariances (by polarisation) of JKn totals with fpc equal the linearised
    covariances, within and across variables, by domain; used by growth rates."""
    import survey as sv

    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / "apistrat.csv")
    s = sv.Survey(data, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    lin = s.total(["enroll", "api.stu", "api00"], by="comp.imp")
    rep = s.replicate("jkn").total(["enroll", "api.stu", "api00"], by="comp.imp")
    np.testing.assert_allclose(rep.cov, lin.cov, rtol=1e-9)
