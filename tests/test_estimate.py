"""Estimation core against R ``survey`` 4.1 (tests/reference/expected.csv) and closed forms.

Each reference test repeats, in its docstring, the R call that defines the number.
Tolerance: relative error 1e-8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import survey as sv
from survey.errors import ColumnError, DesignError, LonelyPSUError, WeightError

RTOL = 1e-8


@pytest.fixture(scope="module")
def dstrat(apistrat):
    return sv.Survey(apistrat, sv.Design(strata="stype", weights="pw", fpc="fpc"))


def test_strat_total(dstrat, ref):
    """dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
    svytotal(~enroll + api.stu, dstrat)"""
    est = dstrat.total(["enroll", "api.stu"])
    for i, v in enumerate(["enroll", "api.stu"]):
        assert est.estimate[i] == pytest.approx(ref("strat_total", "estimate", v), rel=RTOL)
        assert est.se[i] == pytest.approx(ref("strat_total", "se", v), rel=RTOL)


def test_strat_mean(dstrat, ref):
    """svymean(~api00 + api99, dstrat)"""
    est = dstrat.mean(["api00", "api99"])
    for i, v in enumerate(["api00", "api99"]):
        assert est.estimate[i] == pytest.approx(ref("strat_mean", "estimate", v), rel=RTOL)
        assert est.se[i] == pytest.approx(ref("strat_mean", "se", v), rel=RTOL)


def test_strat_total_by_stype(dstrat, ref):
    """svyby(~enroll, ~stype, dstrat, svytotal)"""
    t = dstrat.total("enroll", by="stype").table()
    assert t.columns.tolist() == ["stype", "variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n"]
    for _, row in t.iterrows():
        assert row.estimate == pytest.approx(ref("strat_total_by_stype", "estimate", "enroll", row.stype), rel=RTOL)
        assert row.se == pytest.approx(ref("strat_total_by_stype", "se", "enroll", row.stype), rel=RTOL)


def test_strat_mean_by_sch_wide(dstrat, ref):
    """svyby(~api00, ~sch.wide, dstrat, svymean)"""
    t = dstrat.mean("api00", by="sch.wide").table()
    assert t["sch.wide"].tolist() == ["No", "Yes"]
    for _, row in t.iterrows():
        d = row["sch.wide"]
        assert row.estimate == pytest.approx(ref("strat_mean_by_sch.wide", "estimate", "api00", d), rel=RTOL)
        assert row.se == pytest.approx(ref("strat_mean_by_sch.wide", "se", "api00", d), rel=RTOL)


def test_strat_total_by_domain_cutting_strata(dstrat, ref):
    """svyby(~enroll, ~comp.imp, dstrat, svytotal)  (domains cut across strata)"""
    t = dstrat.total("enroll", by="comp.imp").table()
    for _, row in t.iterrows():
        d = row["comp.imp"]
        assert row.estimate == pytest.approx(ref("strat_total_by_cname_domain", "estimate", "enroll", d), rel=RTOL)
        assert row.se == pytest.approx(ref("strat_total_by_cname_domain", "se", "enroll", d), rel=RTOL)


def test_strat_ratio(dstrat, ref):
    """svyratio(~api.stu, ~enroll, dstrat)"""
    est = dstrat.ratio("api.stu", "enroll")
    assert est.table()["variable"].tolist() == ["api.stu/enroll"]
    assert est.estimate[0] == pytest.approx(ref("strat_ratio", "estimate", "api.stu/enroll"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref("strat_ratio", "se", "api.stu/enroll"), rel=RTOL)


def test_clus1_total(apiclus1, ref):
    """dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
    svytotal(~enroll, dclus1, na.rm = TRUE)"""
    s = sv.Survey(apiclus1, sv.Design(clusters="dnum", weights="pw", fpc="fpc"))
    est = s.total("enroll", na="drop")
    assert est.estimate[0] == pytest.approx(ref("clus1_total", "estimate", "enroll"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref("clus1_total", "se", "enroll"), rel=RTOL)
    assert est.df == 15 - 1


def test_clus2_total(apiclus2, ref):
    """dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
    svytotal(~enroll, dclus2, na.rm = TRUE)   (weights from the fpc of both stages)"""
    s = sv.Survey(apiclus2, sv.Design(clusters=("dnum", "snum"), fpc=("fpc1", "fpc2")))
    est = s.total("enroll", na="drop")
    assert est.estimate[0] == pytest.approx(ref("clus2_total", "estimate", "enroll"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref("clus2_total", "se", "enroll"), rel=RTOL)


@pytest.mark.parametrize("rule", ["remove", "adjust", "average", "certainty"])
def test_lonely_reference_sample(apistrat, ref, rule):
    """options(survey.lonely.psu = rule)
    svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat[c(1:60, 101:150, 151), ])
    svytotal(~enroll)

    (apistrat rows are not sorted by stype, so this R sample has no lonely stratum: all
    four rules give the same number, which we reproduce; the rules themselves are
    checked against hand computations in test_variance.py.)"""
    one = apistrat.iloc[np.r_[0:60, 100:150, 150]]
    s = sv.Survey(one, sv.Design(strata="stype", weights="pw", lonely_psu=rule))
    est = s.total("enroll")
    assert est.estimate[0] == pytest.approx(ref(f"lonely_{rule}", "estimate", "enroll"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref(f"lonely_{rule}", "se", "enroll"), rel=RTOL)


@pytest.fixture(scope="module")
def dmu(mu284_sample):
    return sv.Survey(mu284_sample, sv.Design(strata="REG", fpc="N_REG"))


def test_mu284_strat_total(dmu, ref):
    """dmu <- svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = MU284_sample)
    svytotal(~RMT85 + REV84, dmu)   (weights from the fpc)"""
    est = dmu.total(["RMT85", "REV84"])
    for i, v in enumerate(["RMT85", "REV84"]):
        assert est.estimate[i] == pytest.approx(ref("mu284_strat_total", "estimate", v), rel=RTOL)
        assert est.se[i] == pytest.approx(ref("mu284_strat_total", "se", v), rel=RTOL)


def test_mu284_ratio(dmu, ref):
    """svyratio(~RMT85, ~P85, dmu)"""
    est = dmu.ratio("RMT85", "P85")
    assert est.estimate[0] == pytest.approx(ref("mu284_ratio", "estimate", "RMT85/P85"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref("mu284_ratio", "se", "RMT85/P85"), rel=RTOL)


def test_mu284_ratio_total(dmu, mu284, ref):
    """predict(svyratio(~RMT85, ~P85, dmu), total = sum(MU284$P85))"""
    est = dmu.ratio_total("RMT85", "P85", mu284.P85.sum())
    assert est.estimate[0] == pytest.approx(ref("mu284_ratio_total", "estimate", "RMT85"), rel=RTOL)
    assert est.se[0] == pytest.approx(ref("mu284_ratio_total", "se", "RMT85"), rel=RTOL)


def test_ratio_total_by_domain_mapping(dmu, mu284):
    """Domain ratio totals equal the whole-population formula applied within each domain."""
    totals = mu284.groupby("CL").P85.sum()
    est = dmu.ratio_total("RMT85", "P85", totals, by="CL")
    r = dmu.ratio("RMT85", "P85", by="CL")
    np.testing.assert_allclose(est.estimate, r.estimate * totals.loc[r.table().CL].to_numpy())
    np.testing.assert_allclose(est.se, r.se * totals.loc[r.table().CL].to_numpy())


# --- closed forms and invariants --------------------------------------------------------


def test_srs_closed_form():
    """SRSWOR: var(total) = N^2 (1 - n/N) s^2 / n."""
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 10.0, size=40)
    N = 500
    df = pd.DataFrame({"y": y, "N": N})
    est = sv.Survey(df, sv.Design(fpc="N")).total("y")
    n = y.size
    assert est.estimate[0] == pytest.approx(N * y.mean(), rel=1e-12)
    assert est.se[0] == pytest.approx(np.sqrt(N**2 * (1 - n / N) * y.var(ddof=1) / n), rel=1e-12)
    m = sv.Survey(df, sv.Design(fpc="N")).mean("y")
    assert m.se[0] == pytest.approx(np.sqrt((1 - n / N) * y.var(ddof=1) / n), rel=1e-12)
    assert m.table().df.iloc[0] == n - 1


def test_ci_uses_t_with_design_df(dstrat):
    from scipy import stats

    t = dstrat.total("enroll").table()
    q = stats.t.ppf(0.975, 200 - 3)
    assert t.ci_low.iloc[0] == pytest.approx(t.estimate.iloc[0] - q * t.se.iloc[0])
    ci90 = dstrat.total("enroll").ci(0.9)
    assert ci90.ci_high.iloc[0] == pytest.approx(t.estimate.iloc[0] + stats.t.ppf(0.95, 197) * t.se.iloc[0])


def test_proportion_equals_mean_of_indicator(dstrat, apistrat):
    p = dstrat.proportion("sch.wide").table()
    d2 = apistrat.assign(yes=(apistrat["sch.wide"] == "Yes").astype(float))
    m = sv.Survey(d2, sv.Design(strata="stype", weights="pw", fpc="fpc")).mean("yes")
    row = p[p.variable == "sch.wide=Yes"].iloc[0]
    assert row.estimate == pytest.approx(m.estimate[0], rel=1e-12)
    assert row.se == pytest.approx(m.se[0], rel=1e-12)


def test_subset_equals_domain(dstrat):
    by = dstrat.total("enroll", by="sch.wide").table()
    sub = dstrat.subset(dstrat.data["sch.wide"].eq("Yes").to_numpy()).total("enroll")
    yes = by[by["sch.wide"] == "Yes"].iloc[0]
    assert sub.estimate[0] == pytest.approx(yes.estimate, rel=1e-12)
    assert sub.se[0] == pytest.approx(yes.se, rel=1e-12)
    q = dstrat.subset("`sch.wide` == 'Yes'").total("enroll")
    assert q.se[0] == pytest.approx(yes.se, rel=1e-12)


def test_multiple_by_columns_and_vcov(dstrat):
    est = dstrat.total(["enroll", "api.stu"], by=["stype", "sch.wide"])
    t = est.table()
    assert t.columns[:3].tolist() == ["stype", "sch.wide", "variable"]
    assert len(t) == 6 * 2
    v = est.vcov.to_numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(v)), est.se, rtol=1e-10)
    # domains in different strata are independent; domains in one stratum are not
    assert np.allclose(v, v.T)


def test_domain_estimates_add_up_with_covariance(dstrat):
    """Var(A + B) = Var(A) + Var(B) + 2 Cov(A, B) for a domain split of the population."""
    whole = dstrat.total("enroll")
    parts = dstrat.total("enroll", by="comp.imp")
    v = parts.vcov.to_numpy()
    assert parts.estimate.sum() == pytest.approx(whole.estimate[0], rel=1e-12)
    assert np.sqrt(v.sum()) == pytest.approx(whole.se[0], rel=1e-10)


def _strat_frame(seed: int, n_strata: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_h = rng.integers(2, 8, size=n_strata)
    h = np.repeat(np.arange(n_strata), n_h)
    N_h = (n_h * rng.uniform(1.0, 5.0, size=n_strata)).round().astype(int)
    N_h = np.maximum(N_h, n_h)
    return pd.DataFrame(
        {
            "h": h,
            "N": N_h[h],
            "w": (N_h / n_h)[h],
            "y": rng.gamma(1.5, 20.0, size=h.size),
            "x": rng.gamma(1.5, 5.0, size=h.size),
            "d": rng.integers(0, 3, size=h.size),
        }
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_row_order_does_not_matter(seed, n_strata):
    df = _strat_frame(seed, n_strata)
    design = sv.Design(strata="h", weights="w", fpc="N")
    a = sv.Survey(df, design).ratio("y", "x", by="d").table()
    b = sv.Survey(df.sample(frac=1.0, random_state=seed), design).ratio("y", "x", by="d").table()
    np.testing.assert_allclose(a[["estimate", "se"]].to_numpy(), b[["estimate", "se"]].to_numpy(), rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_domain_split_adds_to_parent(seed, n_strata):
    df = _strat_frame(seed, n_strata)
    df["parent"] = np.where(df.d < 2, "P", "Q")
    s = sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"))
    child = s.total("y", by="d").table().set_index("d").estimate
    parent = s.total("y", by="parent").table().set_index("parent").estimate
    assert child.reindex([0, 1], fill_value=0.0).sum() == pytest.approx(
        parent.reindex(["P"], fill_value=0.0).iloc[0], rel=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_take_all_stratum_adds_zero_variance(seed, n_strata):
    df = _strat_frame(seed, n_strata)
    rng = np.random.default_rng(seed + 1)
    big = pd.DataFrame({"h": -1, "N": 4, "w": 1.0, "y": rng.gamma(3.0, 500.0, size=4),
                        "x": 1.0, "d": 0})
    design = sv.Design(strata="h", weights="w", fpc="N")
    base = sv.Survey(df, design).total("y")
    with_big = sv.Survey(pd.concat([df, big], ignore_index=True), design).total("y")
    assert with_big.se[0] == pytest.approx(base.se[0], rel=1e-10, abs=1e-9)
    assert with_big.estimate[0] == pytest.approx(base.estimate[0] + big.y.sum(), rel=1e-12)


# --- errors -------------------------------------------------------------------


def test_unknown_column_is_named(dstrat):
    with pytest.raises(ColumnError, match="enrol"):
        dstrat.total("enrol")
    with pytest.raises(ColumnError, match="did you mean 'enroll'"):
        dstrat.total("enrol")
    with pytest.raises(ColumnError, match="stratum"):
        sv.Survey(pd.DataFrame({"y": [1.0]}), sv.Design(strata="stratum"))


def test_bad_weights_are_refused():
    df = pd.DataFrame({"w": [1.0, -2.0, np.nan], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(WeightError, match="row 1"):
        sv.Survey(df, sv.Design(weights="w"))
    with pytest.raises(sv.SurveyError):
        sv.Survey(df.assign(w=[1.0, 0.0, 1.0]), sv.Design(weights="w"))


def test_fpc_below_sample_count():
    df = pd.DataFrame({"h": ["a"] * 3 + ["b"] * 2, "N": [2, 2, 2, 9, 9], "y": 1.0})
    with pytest.raises(DesignError, match="stratum 'a'.*3 sampled units.*population size of 2"):
        sv.Survey(df, sv.Design(strata="h", fpc="N"))


def test_fpc_varying_within_stratum():
    df = pd.DataFrame({"h": ["a", "a"], "N": [5, 6], "y": 1.0})
    with pytest.raises(DesignError, match="varies within stratum 'a'"):
        sv.Survey(df, sv.Design(strata="h", fpc="N"))


def test_lonely_psu_fail_names_stratum():
    df = pd.DataFrame({"h": ["a", "a", "lonely"], "w": 2.0, "y": [1.0, 2.0, 3.0]})
    with pytest.raises(LonelyPSUError, match="'lonely'"):
        sv.Survey(df, sv.Design(strata="h", weights="w"))


def test_missing_values_error_and_drop():
    df = pd.DataFrame({"w": [1.0, 2.0, 3.0], "y": [1.0, np.nan, 3.0], "g": ["a", None, "b"]})
    s = sv.Survey(df, sv.Design(weights="w"))
    with pytest.raises(ColumnError, match="'y' has 1 missing.*row.*1"):
        s.total("y")
    assert s.total("y", na="drop").estimate[0] == pytest.approx(10.0)
    with pytest.raises(ColumnError, match="domain column"):
        s.total("w", by="g")


def test_design_is_frozen_and_validated():
    d = sv.Design(strata="h", weights="w")
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        d.strata = "x"  # type: ignore[misc]
    with pytest.raises(DesignError, match="lonely_psu"):
        sv.Design(lonely_psu="ignore")  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="either weights"):
        sv.Design(weights="w", probs="p")


def test_survey_does_not_modify_input(apistrat):
    before = apistrat.copy()
    s = sv.Survey(apistrat, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    s.total("enroll", by="stype")
    s.subset(apistrat.stype.eq("E").to_numpy()).mean("api00")
    pd.testing.assert_frame_equal(apistrat, before)


def test_summary_renders_text_and_html(dstrat):
    summ = dstrat.total("enroll", by="stype").summary()
    text = str(summ)
    assert "Total" in text and "df = 197" in text and "1,842,584" in text.replace(" ", "") or "1.84258e+06" in text
    assert "<table" in summ._repr_html_()


# ---------------------------------------------------------------------------
# public read-only state (views, not copies) and derived surveys
# ---------------------------------------------------------------------------
def test_survey_state_is_read_only_views(apiclus2):
    """The state other modules read is public, read-only and not copied on every access."""
    s = sv.Survey(apiclus2, sv.Design(clusters=["dnum", "snum"], fpc=["fpc1", "fpc2"]))
    for name in ("weights", "strata_codes", "strata_labels", "psu_codes", "stage1_fraction"):
        a, b = getattr(s, name), getattr(s, name)
        assert not a.flags.writeable, name
        assert np.shares_memory(a, b), f"{name} is copied on access"
        with pytest.raises(ValueError):
            a[0] = a[-1]
    for stage in s.variance_structure.stages:
        assert not stage.units.flags.writeable and not stage.sq_coef.flags.writeable
    assert s.variance_structure.df == s.df == 39
    assert len(np.unique(s.psu_codes)) == 40 and (s.stage1_fraction > 0).all()
    assert s.subset_mask is None
    mask = apiclus2.stype.eq("E").to_numpy().copy()
    sub = s.subset(mask)
    mask[:] = False  # the caller's array is not the survey's
    assert sub.subset_mask.sum() == apiclus2.stype.eq("E").sum() and not sub.subset_mask.flags.writeable
    np.testing.assert_array_equal(sub.in_domain, sub.subset_mask)
    np.testing.assert_array_equal(s.column("enroll"), apiclus2.enroll.to_numpy())
    with pytest.raises(ColumnError, match="did you mean 'enroll'"):
        s.column("enrol")


def test_reweighted_and_with_replicates_build_new_surveys(apistrat):
    """``reweighted`` records the step and checks the weights; ``with_replicates`` switches the engine."""
    from survey.estimation.replicate import make_replicates

    s = sv.Survey(apistrat, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    w2 = np.asarray(s.weights) * 2.0
    s2 = s.reweighted(w2, step=sv.WeightingStep(kind="trim"))
    assert [step.kind for step in s2.weighting] == ["trim"] and s.weighting == ()
    assert s2.total("enroll").estimate[0] == pytest.approx(2 * s.total("enroll").estimate[0], rel=1e-14)
    with pytest.raises(WeightError, match="negative"):
        s.reweighted(-w2, step=sv.WeightingStep(kind="trim"))
    with pytest.raises(WeightError, match="shape"):
        s.reweighted(w2[:-1], step=sv.WeightingStep(kind="trim"))
    r = s.with_replicates(make_replicates(s, "jkn"))
    assert r.replicates.method == "jkn" and s.replicates is None
    assert r.with_replicates(None).total("enroll").method == "linearization"


def test_every_result_shares_the_base(dstrat):
    """Estimate and QuantileEstimate are IntervalResults: level, cv, ci, ci_bounds, summary."""
    from survey.estimation.results import IntervalResult, Summary

    for est in (dstrat.total("enroll", by="stype"), dstrat.quantile("api00", quantiles=[0.5, 0.9])):
        assert isinstance(est, IntervalResult) and est.level == 0.95
        low, high = est.ci_bounds(0.9)
        t = est.table(level=0.9)
        np.testing.assert_array_equal(low, t.ci_low.to_numpy())
        np.testing.assert_array_equal(high, t.ci_high.to_numpy())
        np.testing.assert_array_equal(est.ci(0.9).ci_low.to_numpy(), t.ci_low.to_numpy())
        assert isinstance(est.summary(), Summary)
