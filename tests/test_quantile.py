"""Tests of survey.estimation.quantile: the quantile rule, Woodruff intervals, replicate quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import survey as sv
from survey.errors import ReplicateError, SurveyError, WeightError
from survey.estimation.quantile import quantile, weighted_quantiles
from survey.estimation.replicate import make_replicates


def test_math_rule_smallest_x_with_cdf_at_least_q():
    y = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    w = np.array([0.0, 1.0, 1.0, 1.0, 1.0])  # the 5.0 has no weight
    # F: 1 -> .25, 2 -> .5, 3 -> .75, 4 -> 1.0 (weight-zero 5.0 ignored)
    got = weighted_quantiles(y, w, [0.0, 0.25, 0.26, 0.5, 0.75, 0.99, 1.0])
    np.testing.assert_array_equal(got, [[1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0]])
    # weights: 1 has weight 3 of 4
    assert weighted_quantiles(y[:4], np.array([1.0, 3.0, 0.0, 0.0]), 0.5)[0, 0] == 1.0
    # the exact boundary is not lost to rounding of cumulated weights (0.1 * 10)
    assert weighted_quantiles(np.arange(10.0), np.full(10, 0.1), 0.3)[0, 0] == 2.0


def test_domains_and_empty_domain():
    y = np.array([1.0, 2, 3, 10, 20, 30, np.nan])
    dom = np.array([0, 0, 0, 1, 1, 1, 1])
    got = weighted_quantiles(y, np.ones(7), 0.5, domain=dom, n_domains=3)
    np.testing.assert_array_equal(got[:2, 0], [2.0, 20.0])
    assert np.isnan(got[2, 0])
    with pytest.raises(SurveyError, match="levels"):
        weighted_quantiles(y, np.ones(7), 1.5)
    with pytest.raises(WeightError):
        weighted_quantiles(y, -np.ones(7), 0.5)


def test_woodruff_interval_by_hand():
    """Unstratified sample with fpc: SE of F(x_med) = sqrt((1 - f) p (1 - p) / (n - 1)) for
    equal weights; the interval maps F(x_med) -/+ t se back through the sample quantile function
    (centred at F(x_med), not at 0.5, as R's woodruffCI)."""
    rng = np.random.default_rng(3)
    n, N = 101, 1000
    y = rng.normal(50, 10, n)
    df = pd.DataFrame({"y": y, "N": float(N)})
    s = sv.Survey(df, sv.Design(fpc="N"))
    est = quantile(s, "y", 0.5)
    med = np.sort(y)[50]
    assert est.estimate[0] == med
    p = np.mean(y <= med)
    se_f = np.sqrt((1 - n / N) * p * (1 - p) / (n - 1))
    t = stats.t.ppf(0.975, n - 1)
    ys = np.sort(y)
    lo = ys[int(np.ceil((p - t * se_f) * n - 1e-9)) - 1]
    hi = ys[int(np.ceil((p + t * se_f) * n - 1e-9)) - 1]
    tab = est.table()
    assert tab.ci_low[0] == lo and tab.ci_high[0] == hi
    assert est.se[0] == pytest.approx((hi - lo) / (2 * t))
    # a narrower level gives a narrower (recomputed) interval
    t90 = est.table(level=0.90)
    assert t90.ci_low[0] >= lo and t90.ci_high[0] <= hi


def test_woodruff_coverage_stratified():
    """95% Woodruff intervals for a stratified median cover the truth in 92-98% of samples.

    The 300 samples (the same draws as one sample at a time) are stacked as domains
    (``by="rep"``) of one Survey whose strata are nested in the samples: each domain's
    median, SE, degrees of freedom and interval are those of its sample alone (checked for
    the first; measured: all 300 intervals equal to the last bit, 288 cover), in one call."""
    rng = np.random.default_rng(11)
    N_h = np.array([2000, 1000, 500])
    n_h = np.array([60, 50, 40])
    pop = [rng.gamma(3.0, 10.0 * (h + 1), N) for h, N in enumerate(N_h)]
    allv = np.concatenate(pop)
    wts = np.concatenate([np.full(N, 1.0) for N in N_h])
    truth = weighted_quantiles(allv, wts, 0.5)[0, 0]
    strata = np.repeat(np.arange(3), n_h)
    sims = 300
    y = np.concatenate([np.concatenate([rng.choice(p, n, replace=False) for p, n in zip(pop, n_h)])
                        for _ in range(sims)])
    rep, h = np.repeat(np.arange(sims), n_h.sum()), np.tile(strata, sims)
    df = pd.DataFrame({"rep": rep, "h": rep * 3 + h, "N": N_h[h], "y": y})
    tab = quantile(sv.Survey(df, sv.Design(strata="h", fpc="N")), "y", 0.5, by="rep").table()
    first = df[df["rep"] == 0].drop(columns="rep")
    one = quantile(sv.Survey(first, sv.Design(strata="h", fpc="N")), "y", 0.5).table()
    cols = ["estimate", "se", "ci_low", "ci_high", "df", "n"]
    pd.testing.assert_frame_equal(tab[cols].iloc[:1], one[cols], check_dtype=False)
    assert (tab["df"] == n_h.sum() - 3).all()  # each sample's own degrees of freedom
    hits = int(((tab["ci_low"] <= truth) & (truth <= tab["ci_high"])).sum())
    assert 0.92 <= hits / sims <= 0.98


def test_bootstrap_quantile_se_close_to_woodruff():
    rng = np.random.default_rng(5)
    n_h = np.array([400, 300, 300])
    strata = np.repeat(np.arange(3), n_h)
    y = rng.gamma(3.0, 10.0, n_h.sum()) * (1 + strata)
    df = pd.DataFrame({"h": strata, "N": np.array([8000, 3000, 1500])[strata], "y": y,
                       "d": rng.integers(0, 2, n_h.sum())})
    s = sv.Survey(df, sv.Design(strata="h", fpc="N"))
    lin = quantile(s, "y", [0.25, 0.5], by="d")
    b = quantile(s.with_replicates(make_replicates(s, "bootstrap", replicates=300, seed=4)), "y", [0.25, 0.5], by="d")
    np.testing.assert_array_equal(b.estimate, lin.estimate)
    ratio = b.se / lin.se
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    assert b.table().variable.tolist() == ["y q0.25", "y q0.5"] * 2


def test_fay_quantile_matches_brute_force():
    rng = np.random.default_rng(2)
    strata = np.repeat(np.arange(6), 2)
    df = pd.DataFrame({"h": strata, "w": rng.uniform(1, 3, 12), "y": rng.normal(0, 1, 12)})
    s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    rep = make_replicates(s, "fay", fay_rho=0.5)
    est = quantile(s.with_replicates(rep), "y", 0.5)
    from survey.estimation.replicate_weights import replicate_weights

    W = replicate_weights(rep)
    th = np.array([weighted_quantiles(df.y.to_numpy(), W[:, r], 0.5)[0, 0] for r in range(W.shape[1])])
    v = rep.scale * np.sum((th - th.mean()) ** 2)
    assert est.se[0] == pytest.approx(np.sqrt(v), rel=1e-12)


def test_jackknife_quantiles_refused_and_negative_weights():
    df = pd.DataFrame({"h": [0, 0, 1, 1], "w": [1.0, 2, 3, 4], "y": [1.0, 2, 3, 4]})
    s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    with pytest.raises(ReplicateError, match="inconsistent"):
        quantile(s.with_replicates(make_replicates(s, "jkn")), "y")
    with pytest.raises(SurveyError, match="levels"):
        quantile(s, "y", [0.5, 2.0])


def test_woodruff_matches_r_svyquantile():
    """dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
    svyquantile(~api00, dstrat, c(0.25, 0.5), interval.type = "mean", qrule = "math", se = TRUE)
    (tests/reference/quantile.R -> quantile_expected.csv)"""
    from pathlib import Path

    import pandas as pd

    import survey as sv

    ref_dir = Path(__file__).parent / "reference"
    exp = pd.read_csv(ref_dir / "quantile_expected.csv")
    data = pd.read_csv(ref_dir / "data" / "apistrat.csv")
    s = sv.Survey(data, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    t = s.quantile("api00", [0.25, 0.5]).table()
    np.testing.assert_allclose(t.estimate.to_numpy(), exp.estimate.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.ci_low.to_numpy(), exp.ci_low.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.ci_high.to_numpy(), exp.ci_high.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.se.to_numpy(), exp.se.to_numpy(), rtol=1e-8)
