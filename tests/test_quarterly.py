"""Tests of survey.quarterly: combined estimator, periods, growth and its standard error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.errors import ColumnError, ImputationError, PeriodError
from survey.estimation.combined import combined_total, combined_totals, cutoff_model
from survey.periods import parse_quarter, quarterly_from_ytd, shift_quarter
from survey.quarterly.series import (
    average_annual_growth,
    level_growth,
    quarterly_series,
)


# --------------------------------------------------------------------------- periods
def test_quarter_labels():
    assert parse_quarter("2006q4") == (2006, 4)
    assert shift_quarter("2006Q1", -1) == "2005Q4" and shift_quarter("2005Q4", 5) == "2007Q1"
    with pytest.raises(PeriodError, match="2006Q1"):
        parse_quarter("2006-01")


def test_quarterly_from_ytd_differences_and_gaps():
    r = pd.DataFrame(
        {
            "firm_id": ["a", "a", "a", "b", "b"],
            "period": ["2006Q1", "2006Q2", "2006Q3", "2006Q2", "2006Q4"],
            "gross_output_ytd": [10.0, 25.0, 45.0, 7.0, 30.0],
            "gross_output_ytd_last_year": [8.0, 20.0, 33.0, 5.0, 21.0],
        }
    )
    out = quarterly_from_ytd(r.iloc[::-1], "gross_output").sort_values(["firm_id", "period"])
    np.testing.assert_array_equal(out.gross_output.to_numpy(), [10.0, 15.0, 20.0, np.nan, np.nan])
    np.testing.assert_array_equal(out.gross_output_last_year.to_numpy(), [8.0, 12.0, 13.0, np.nan, np.nan])
    assert "gross_output" not in r.columns  # input not modified
    with pytest.raises(PeriodError, match="more than one return"):
        quarterly_from_ytd(pd.concat([r, r.iloc[:1]]), "gross_output")


# --------------------------------------------------------------------------- comparable growth
def six_firms() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six firms, 2006Q2 against 2005Q2, all fully reported (above size).

    A, B: continuing; C: born in 2006 (no 2005 value); D: died in 2005Q4;
    E: crossed the threshold upwards (below size in 2005, reports its 2005 value);
    F: dropped below the threshold in 2006 (out of the 2006 above-size set).
    """
    this_year = pd.DataFrame(
        {
            "firm_id": ["A", "B", "C", "E"],
            "county": ["Bobai", "Lipu", "Lipu", "Bobai"],
            "gross_output": [120.0, 90.0, 30.0, 25.0],
            "gross_output_last_year": [100.0, 100.0, 0.0, 15.0],
        }
    )
    last_year = pd.DataFrame(
        {
            "firm_id": ["A", "B", "D", "F"],
            "county": ["Bobai", "Lipu", "Lipu", "Bobai"],
            "gross_output": [100.0, 100.0, 40.0, 22.0],
            "gross_output_last_year": [95.0, 90.0, 41.0, 20.0],
        }
    )
    return this_year, last_year


def test_comparable_growth_six_firms_hand_computation():
    this_year, last_year = six_firms()
    cur = combined_total("gross_output", take_all=this_year, period="2006Q2")
    prev = combined_total("gross_output", take_all=last_year, period="2005Q2")
    t = cur.table()
    # comparable basis: firms A, B, C, E this year against the same firms a year earlier
    assert t.estimate.item() == 265.0
    assert t.last_year.item() == 215.0
    assert t.growth.item() == pytest.approx(265 / 215 - 1, rel=1e-15)
    assert t.growth_se.item() == 0.0 and t.se.item() == 0.0  # complete enumeration
    # level on level: this year's set against last year's published set (A, B, D, F)
    lg = level_growth(cur, prev)
    assert lg.level_growth.item() == pytest.approx(265 / 262 - 1, rel=1e-15)
    assert lg.basis.item() == "level"
    by = combined_total("gross_output", take_all=this_year, by="county").table().set_index("county")
    assert by.loc["Bobai", "growth"] == pytest.approx(145 / 115 - 1)
    assert by.loc["Lipu", "growth"] == pytest.approx(120 / 100 - 1)


@pytest.fixture(scope="module")
def panel():
    """A stratified sample of small firms (with both years) plus full-report large firms."""
    rng = np.random.default_rng(42)
    n_h = np.array([30, 25, 20])
    N_h = np.array([400, 250, 90])
    h = np.repeat(np.arange(3), n_h)
    size = np.array([5.0, 20.0, 60.0])[h]
    last = rng.gamma(4.0, size / 4.0)
    this = last * rng.lognormal(0.08, 0.15, h.size)
    county = rng.choice(["Bobai", "Lipu", "Binyang"], size=h.size)
    sample = pd.DataFrame(
        {
            "stratum": h,
            "N_h": N_h[h],
            "w": (N_h / n_h)[h],
            "county": county,
            "gross_output": this,
            "gross_output_last_year": last,
            "export_delivery": this * rng.uniform(0, 0.5, h.size),
            "export_delivery_last_year": last * rng.uniform(0, 0.5, h.size),
        }
    )
    big_last = rng.gamma(4.0, 500.0, 12)
    take_all = pd.DataFrame(
        {
            "county": rng.choice(["Bobai", "Lipu", "Binyang"], size=12),
            "gross_output": big_last * rng.lognormal(0.1, 0.1, 12),
            "gross_output_last_year": big_last,
            "export_delivery": big_last * 0.3,
            "export_delivery_last_year": big_last * 0.25,
            "imputed": [True, False] * 6,
        }
    )
    return sample, take_all


def test_growth_se_of_full_panel_equals_linearised_ratio_se(panel):
    sample, _ = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    est = combined_total(["gross_output", "export_delivery"], sample=s)
    ratio = s.ratio(["gross_output", "export_delivery"], ["gross_output_last_year", "export_delivery_last_year"])
    r = ratio.table().set_index("variable")
    np.testing.assert_allclose(est.growth + 1, r.loc[["gross_output/gross_output_last_year",
                                                      "export_delivery/export_delivery_last_year"], "estimate"],
                               rtol=1e-12)
    np.testing.assert_allclose(est.growth_se, r.loc[["gross_output/gross_output_last_year",
                                                    "export_delivery/export_delivery_last_year"], "se"], rtol=1e-10)
    tot = s.total(["gross_output", "export_delivery"])
    np.testing.assert_allclose(est.se, tot.se, rtol=1e-12)
    # by domain, too
    est_d = combined_total("gross_output", sample=s, by="county").table()
    ratio_d = s.ratio("gross_output", "gross_output_last_year", by="county").table()
    np.testing.assert_allclose(est_d.growth_se, ratio_d.se, rtol=1e-10)


def test_take_all_plus_sample_equals_stacked_survey_with_take_all_stratum(panel):
    sample, take_all = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    est = combined_total("gross_output", take_all=take_all, sample=s, by="county", imputed="imputed",
                         period="2006Q3").table()
    # the same through the core: take-all firms as a stratum with fpc == n (zero variance)
    stacked = pd.concat(
        [sample, take_all.drop(columns="imputed").assign(stratum=99, w=1.0, N_h=len(take_all))], ignore_index=True
    )
    s2 = sv.Survey(stacked, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    tot = s2.total("gross_output", by="county").table()
    rat = s2.ratio("gross_output", "gross_output_last_year", by="county").table()
    np.testing.assert_allclose(est.estimate, tot.estimate, rtol=1e-12)
    np.testing.assert_allclose(est.se, tot.se, rtol=1e-10)
    np.testing.assert_allclose(est.growth + 1, rat.estimate, rtol=1e-12)
    np.testing.assert_allclose(est.growth_se, rat.se, rtol=1e-10)
    # parts add up; shares; imputed share from the flagged take-all firms
    np.testing.assert_allclose(est.take_all + est.sampled + est.model, est.estimate, rtol=1e-12)
    np.testing.assert_allclose(est.take_all_share + est.sampled_share, 1.0, rtol=1e-12)
    imp = take_all[take_all.imputed].groupby("county").gross_output.sum()
    np.testing.assert_allclose(est.imputed_share, (imp / est.set_index("county").estimate).to_numpy(), rtol=1e-12)
    assert (est.period == "2006Q3").all() and not est.model_based.any()
    # interval: t with the design df
    from scipy import stats

    q = stats.t.ppf(0.975, s.df)
    np.testing.assert_allclose(est.ci_high - est.estimate, q * est.se, rtol=1e-12)
    np.testing.assert_allclose(est.growth_ci_high - est.growth, q * est.growth_se, rtol=1e-12)


def test_contributions_add_up_and_have_linearised_se(panel):
    sample, take_all = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    est = combined_total("gross_output", sample=s, by="county")
    whole = combined_total("gross_output", sample=s)
    c = est.contributions()
    assert c.contribution.sum() == pytest.approx(whole.growth[0], rel=1e-12)
    # contribution of county d = ratio of sum (y - x) 1[d] to sum x: the core's ratio SE
    for county, row in c.set_index("county").iterrows():
        diff = (sample.gross_output - sample.gross_output_last_year) * (sample.county == county)
        s_d = sv.Survey(sample.assign(diff=diff), sv.Design(strata="stratum", weights="w", fpc="N_h"))
        r = s_d.ratio("diff", "gross_output_last_year")
        assert row.contribution == pytest.approx(r.estimate[0], rel=1e-10)
        assert row.contribution_se == pytest.approx(r.se[0], rel=1e-8)


# --------------------------------------------------------------------------- model part
def test_cutoff_model_ratio_and_prediction_variance():
    keys = pd.DataFrame(
        {"y": [12.0, 19.0, 33.0, 8.0, 11.0], "x": [10.0, 20.0, 30.0, 10.0, 10.0],
         "y_last_year": [10.0, 18.0, 30.0, 7.0, 9.0], "industry": ["a", "a", "a", "b", "b"]}
    )
    small = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "county": ["p", "p", "q", "q"], "industry": ["a", "b", "a", "b"]})
    m = cutoff_model(keys, small, "y", auxiliary="x", by="county", model_by="industry", inputs="typical units")
    beta_a, beta_b = 64 / 60, 19 / 20
    res_a = np.array([12, 19, 33]) - beta_a * np.array([10, 20, 30])
    s2_a = np.sum(res_a**2 / np.array([10, 20, 30])) / 2
    res_b = np.array([8, 11]) - beta_b * np.array([10, 10])
    s2_b = np.sum(res_b**2 / 10) / 1
    t = m.table().set_index("county")
    assert t.loc["p", "estimate"] == pytest.approx(beta_a * 1 + beta_b * 2)
    var_p = s2_a * (1**2 / 60 + 1) + s2_b * (2**2 / 20 + 2)
    assert t.loc["p", "se"] == pytest.approx(np.sqrt(var_p))
    # domains p and q share the estimated ratios: covariance through beta only
    assert m.cov[0][0, 1] == pytest.approx(s2_a * 1 * 3 / 60 + s2_b * 2 * 4 / 20)
    assert t.loc["q", "last_year"] == pytest.approx(58 / 60 * 3 + 16 / 20 * 4)
    assert set(t.inputs) == {"typical units"}
    est = combined_total("y", model=m, by="county").table().set_index("county")
    assert est.model_based.all() and est.model_share.eq(1).all()
    assert est.loc["p", "se"] == pytest.approx(np.sqrt(var_p))
    with pytest.raises(ImputationError, match="fewer than two"):
        cutoff_model(keys.iloc[:4], small, "y", auxiliary="x", model_by="industry")


def test_cutoff_model_prediction_interval_covers_in_simulation():
    """400 replications of the ratio model y = 1.3 x + e, Var(e) = 2x (40 key units, 400
    small firms): the 95% prediction interval of the small firms' total covers it in 92-98%.
    The replications are one model: stacked, with the ratio fitted per replication
    (``model_by="rep"``) and the total predicted per replication (``by="rep"``), so each
    row of the table is one replication's fit (checked against separate fits of the first
    three)."""
    rng = np.random.default_rng(5)
    x_keys = rng.uniform(50, 200, 40)
    x_small = rng.uniform(1, 20, 400)
    reps = 400
    e_keys, e_small = [], []
    for _ in range(reps):  # the draws in the order of a loop over replications
        e_keys.append(rng.normal(0, 1, 40))
        e_small.append(rng.normal(0, 1, 400))
    y_keys = 1.3 * x_keys + np.array(e_keys) * np.sqrt(2.0 * x_keys)  # (reps, 40)
    y_small = 1.3 * x_small + np.array(e_small) * np.sqrt(2.0 * x_small)
    keys = pd.DataFrame({"y": y_keys.ravel(), "x": np.tile(x_keys, reps),
                         "rep": np.repeat(np.arange(reps), 40)})
    small = pd.DataFrame({"x": np.tile(x_small, reps), "rep": np.repeat(np.arange(reps), 400)})
    t = cutoff_model(keys, small, "y", auxiliary="x", by="rep", model_by="rep").table()
    t = t.set_index("rep").sort_index()
    assert t.index.tolist() == list(range(reps))
    for r in range(3):
        one = cutoff_model(pd.DataFrame({"y": y_keys[r], "x": x_keys}), pd.DataFrame({"x": x_small}),
                           "y", auxiliary="x").table()
        assert t["estimate"].iloc[r] == pytest.approx(one.estimate.item(), rel=1e-12)
        assert t["se"].iloc[r] == pytest.approx(one.se.item(), rel=1e-9)
    hits = int((np.abs(t["estimate"].to_numpy() - y_small.sum(axis=1)) <= 1.96 * t["se"].to_numpy()).sum())
    assert 0.92 <= hits / reps <= 0.98


def test_combined_total_rejects_missing_take_all_values(panel):
    _, take_all = panel
    broken = take_all.copy()
    broken.loc[3, "gross_output"] = np.nan
    with pytest.raises(ColumnError, match="must be imputed"):
        combined_total("gross_output", take_all=broken)


def test_nonrespondents_with_zero_weight_may_have_missing_values(panel):
    sample, _ = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    nr = sample.copy()
    nr.loc[0, ["gross_output", "gross_output_last_year"]] = np.nan
    with pytest.raises(ColumnError, match="positive weight"):
        combined_total("gross_output", sample=sv.Survey(nr, s.design))
    w0 = nr.assign(w=np.where(nr.index == 0, 0.0, nr.w))
    s0 = sv.Survey(w0.assign(w=np.where(w0.index == 0, 1.0, w0.w)), s.design)
    s0 = s0.reweighted(w0.w.to_numpy(), step=sv.WeightingStep(kind="nonresponse"))
    est = combined_total("gross_output", sample=s0)
    assert est.estimate[0] == pytest.approx(np.sum(w0.w[1:] * sample.gross_output[1:]))


# --------------------------------------------------------------------------- series
def test_average_annual_growth():
    assert average_annual_growth([0.32, 0.10]) == pytest.approx(np.sqrt(1.32 * 1.10) - 1)
    with pytest.raises(PeriodError):
        average_annual_growth([])


def test_quarterly_series_table_plots_and_benchmark(panel):
    sample, take_all = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    ests = []
    for k, p in enumerate(["2005Q1", "2005Q2", "2005Q3", "2005Q4", "2006Q1"]):
        f = 1.0 + 0.1 * k
        ta = take_all.assign(gross_output=take_all.gross_output * f, gross_output_last_year=take_all.gross_output * f / 1.1)
        ests.append(combined_total("gross_output", take_all=ta, sample=s, by="county", period=p))
    series = quarterly_series(ests[::-1])
    t = series.table()
    assert list(t.columns[:13]) == ["period", "county", "variable", "estimate", "se", "cv", "ci_low", "ci_high",
                                    "growth", "growth_se", "growth_ci_low", "growth_ci_high", "level_growth"]
    assert t.period.tolist()[:3] == ["2005Q1"] * 3
    last = t[t.period == "2006Q1"].set_index("county")
    first = t[t.period == "2005Q1"].set_index("county")
    np.testing.assert_allclose(last.level_growth, last.estimate / first.estimate - 1, rtol=1e-12)
    assert t[t.period == "2005Q2"].level_growth.isna().all()
    ax = series.plot_growth("gross_output", period="2006Q1")
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, last.growth.to_numpy() * 100, rtol=1e-12)
    ax = series.plot("gross_output", domain={"county": "Lipu"})
    np.testing.assert_allclose(ax.lines[0].get_ydata(), t[t.county == "Lipu"].estimate.to_numpy())
    annual = pd.DataFrame({"county": ["Bobai", "Lipu", "Binyang"], "variable": "gross_output", "year": 2005,
                           "total": [1e4, 2e4, 3e4]})
    b = series.benchmark(annual).table()
    sums = b[b.period.str.startswith("2005")].groupby("county").estimate.sum()
    np.testing.assert_allclose(sums.loc[["Bobai", "Lipu", "Binyang"]], [1e4, 2e4, 3e4], rtol=1e-12)
    with pytest.raises(PeriodError, match="jumps"):
        quarterly_series([ests[0], ests[2]])


# --------------------------------------------------------------------------- simulation, known truth
def _plan_and_samples(frame: pd.DataFrame, rng: np.random.Generator, reps: int, n_total: int):
    """Plan: full reporting above the size threshold (and for new firms with >= 100 employees);
    below it, 7 strata (6 classes of last year's revenue + new firms), Neyman allocation.
    Returns the take-all frame and one stacked frame holding ``reps`` independent samples."""
    full = frame.above_size | (frame.revenue_prev_year.isna() & (frame.employees >= 100))
    take_all = frame[full]
    small = frame[~full].reset_index(drop=True)
    h = pd.qcut(small.revenue_prev_year.rank(method="first"), 6, labels=False).to_numpy()
    h = np.where(np.isnan(h), 6, h).astype(int)
    N_h = np.bincount(h)
    S_h = small.groupby(h)["size_signal"].std().to_numpy()
    n_h = np.clip(np.round(n_total * N_h * S_h / np.sum(N_h * S_h)).astype(int), 2, N_h)
    picks = []
    for k in range(N_h.size):  # SRSWOR in each stratum, all replications at once
        idx = np.flatnonzero(h == k)
        sel = np.argpartition(rng.random((reps, idx.size)), n_h[k] - 1, axis=1)[:, : n_h[k]]
        picks.append(np.column_stack([np.repeat(np.arange(reps), n_h[k]), idx[sel.ravel()], np.full(reps * n_h[k], k)]))
    rep, row, hh = np.vstack(picks).T
    sample = small.iloc[row].reset_index(drop=True).assign(
        rep=rep, stratum=rep * 10 + hh, w=(N_h / n_h)[hh], N_h=N_h[hh]
    )
    return take_all, sample


@pytest.fixture(scope="module")
def full_cycle():
    """2005Q1-2006Q4 on the bundled synthetic population, 500 independent samples a year.

    The 500 replications are stacked as domains (``by="rep"``) of a Survey whose strata are
    nested in the replications, so each domain's estimate and SE are exactly those of one
    replication, computed by ``combined_total`` in vectorised calls of 125 replications per
    quarter: a call's variance works on a (stratum x domain) grid, so four calls of 125 cost
    less than one of 500 (measured: 3.7 against 5.9 CPU-s for the eight quarters; the same
    coverages, biases and SE ratios, estimates and SEs equal to 1e-15; only the design's
    degrees of freedom, 119,300-596,500, move the intervals by < 1e-5 relative)."""
    from survey.datasets import load_quarterly, load_register

    variables = ["gross_output", "export_delivery"]
    reps = 500
    rng = np.random.default_rng(2006)
    truth = load_quarterly()
    truth = truth[truth.year.between(2004, 2006)]
    rows = []
    for year in (2005, 2006):
        reg = load_register(year)
        periods = [f"{year}Q{q}" for q in (1, 2, 3, 4)]
        wide = {}
        for p in periods:
            cur = truth[truth.period == p].set_index("firm_id")[variables]
            prev = truth[truth.period == shift_quarter(p, -4)].set_index("firm_id")[variables]
            for v in variables:
                wide[f"{v}@{p}"] = cur[v].reindex(reg.firm_id).to_numpy()
                # same firms a year earlier; 0 for firms not yet born
                wide[f"{v}_last_year@{p}"] = prev[v].reindex(reg.firm_id).fillna(0.0).to_numpy()
        frame = pd.concat(
            [reg[["firm_id", "above_size", "revenue_prev_year", "employees"]].reset_index(drop=True), pd.DataFrame(wide)],
            axis=1,
        ).assign(size_signal=lambda d: d[f"gross_output@{periods[0]}"])
        take_all, sample = _plan_and_samples(frame, rng, reps, 1200)
        take_all_rep = take_all.loc[take_all.index.repeat(reps)].assign(rep=np.tile(np.arange(reps), len(take_all)))
        design = sv.Design(strata="stratum", weights="w", fpc="N_h")
        chunk = 125  # replications per combined_total call (every one in some call)
        groups = [(sample[sample.rep // chunk == g], take_all_rep[take_all_rep.rep // chunk == g])
                  for g in range(-(-reps // chunk))]
        for p in periods:
            rename = {f"{v}{suffix}@{p}": f"{v}{suffix}" for v in variables for suffix in ("", "_last_year")}
            est = pd.concat([combined_total(variables, take_all=ta.rename(columns=rename),
                                            sample=sv.Survey(sm.rename(columns=rename), design), by="rep",
                                            period=p).table() for sm, ta in groups], ignore_index=True)
            for v in variables:
                true_total = frame[f"{v}@{p}"].sum()
                true_growth = true_total / frame[f"{v}_last_year@{p}"].sum() - 1
                e = est[est.variable == v]
                rows.append(
                    {
                        "period": p,
                        "variable": v,
                        "coverage": np.mean((e.ci_low <= true_total) & (true_total <= e.ci_high)),
                        "growth_coverage": np.mean((e.growth_ci_low <= true_growth) & (true_growth <= e.growth_ci_high)),
                        "relative_bias": e.estimate.mean() / true_total - 1,
                        "se_ratio": e.se.mean() / e.estimate.std(),
                        "growth_se_ratio": e.growth_se.mean() / e.growth.std(),
                    }
                )
    return pd.DataFrame(rows)


def test_full_cycle_coverage_of_sector_totals(full_cycle):
    """Measured (seed 2006): pooled coverage 95.3% (gross output), 95.6% (export delivery);
    every quarter between 94.4% and 96.0%; mean SE / empirical SE 0.99-1.03; |bias| < 0.3%."""
    pooled = full_cycle.groupby("variable").coverage.mean()
    assert (pooled >= 0.93).all(), pooled
    assert (full_cycle.coverage >= 0.91).all(), full_cycle
    assert (full_cycle.relative_bias.abs() < 0.01).all()
    assert full_cycle.se_ratio.between(0.85, 1.15).all()


def test_full_cycle_coverage_of_comparable_growth(full_cycle):
    """Measured (seed 2006): pooled coverage 95.3% (gross output), 95.1% (export delivery);
    every quarter between 93.8% and 96.8%; mean SE / empirical SE 0.95-1.05."""
    pooled = full_cycle.groupby("variable").growth_coverage.mean()
    assert pooled.between(0.93, 0.97).all(), pooled
    assert (full_cycle.growth_coverage >= 0.91).all(), full_cycle
    assert full_cycle.growth_se_ratio.between(0.85, 1.15).all()


# --------------------------------------------------------------------------- one result base, level
def test_combined_and_series_table_at_another_level_equal_building_at_that_level(panel):
    """``table(level=0.9)`` of an estimate built at 95% equals the table built at 90%.

    Independent path: ``combined_total(..., level=0.9)`` computes its intervals from
    ``t_{0.95, df}`` at construction; ``table(level=0.9)`` recomputes them from the
    stored estimate, se, growth and df.
    """
    from survey.estimation.results import IntervalResult, Summary

    sample, take_all = panel
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    kw = dict(take_all=take_all, sample=s, by="county", imputed="imputed")
    at95 = combined_total(["gross_output", "export_delivery"], period="2006Q1", **kw)
    at90 = combined_total(["gross_output", "export_delivery"], period="2006Q1", level=0.9, **kw)
    assert isinstance(at95, IntervalResult) and at95.level == 0.95
    pd.testing.assert_frame_equal(at95.table(level=0.9), at90.table(), rtol=1e-14, atol=0)
    pd.testing.assert_frame_equal(at95.table(level=0.95), at95.table())
    ci = at95.ci(0.9)
    assert list(ci.columns) == ["period", "county", "variable", "ci_low", "ci_high"]
    np.testing.assert_allclose(ci.ci_low, at90.table().ci_low, rtol=1e-14)
    np.testing.assert_allclose(at95.cv, at95.table().cv.to_numpy(), rtol=0)
    low, high = at95.ci_bounds()
    np.testing.assert_array_equal(low, at95.table().ci_low.to_numpy())
    summary = at95.summary(level=0.9)
    assert isinstance(summary, Summary)
    assert str(summary).startswith("Combined total, 2006Q1 (90% t-interval)")
    assert "<table" in summary._repr_html_()
    # the series: level is a field, and table(level=...) works the same way
    series95 = quarterly_series([at95])
    series90 = quarterly_series([at90])
    assert series95.level == 0.95 and series90.level == 0.9
    pd.testing.assert_frame_equal(series95.table(level=0.9), series90.table(), rtol=1e-14, atol=0)
    assert list(series95.ci().columns) == ["period", "county", "variable", "ci_low", "ci_high"]
    assert str(series95.summary()).startswith("Quarterly series 2006Q1..2006Q1 (1 periods; 95% t-interval)")
    with pytest.raises(sv.SurveyError, match="level"):
        at95.table(level=1.5)


def test_combined_totals_of_every_breakdown_equal_one_call_per_breakdown():
    """The one-pass path (combined_totals, cutoff_model by a mapping) gives the numbers of
    combined_total and cutoff_model called per breakdown, on a calibrated two-stage design
    and a subset (not the demo's design)."""
    rng = np.random.default_rng(7)
    n = 120
    psu = np.repeat(np.arange(40), 3)
    h = psu % 4
    last = rng.gamma(3.0, 10.0, n)
    sample = pd.DataFrame({
        "h": h, "psu": psu, "w": 12.0 + h, "county": rng.choice(["a", "b", "c"], n),
        "industry": rng.choice(["13", "22", "31"], n), "zone": rng.random(n) < 0.3,
        "size": last * rng.uniform(0.8, 1.2, n), "y": last * rng.lognormal(0.05, 0.2, n),
        "y_last_year": last, "y_imputed": False})
    sample.loc[5, ["y", "y_last_year"]] = np.nan  # outside the subset
    s = sv.Survey(sample, sv.Design(strata="h", clusters="psu", weights="w")).calibrate(
        {"county": {"a": 600.0, "b": 500.0, "c": 480.0}, "size": 52000.0}).subset(
        np.arange(n) != 5)
    take_all = pd.DataFrame({"county": ["a", "b", "c", "d"], "industry": ["13", "22", "22", "31"],
                             "zone": [True, False, False, True], "y": [900.0, 750.0, 620.0, 400.0],
                             "y_last_year": [850.0, 700.0, 640.0, 380.0],
                             "y_imputed": [False, True, False, False]})
    small = pd.DataFrame({"size": rng.gamma(2.0, 2.0, 300), "county": rng.choice(["a", "b", "e"], 300),
                          "industry": rng.choice(["13", "22", "31"], 300), "zone": rng.random(300) < 0.2})
    inputs = sample.iloc[10:70]
    assert s.subset_mask is not None and not any(getattr(w.report, "two_phase", None) for w in s.weighting)
    breakdowns = {"sector": None, "county": ["county"], "industry": "industry", "zone": ["zone"],
                  "cell": ["county", "industry"]}
    parts = cutoff_model(inputs, small, "y", auxiliary="size", by=breakdowns, model_by="industry")
    shared = combined_totals("y", breakdowns, take_all=take_all, sample=s, models=parts,
                             imputed="y_imputed", period="2006Q4")
    for name, by in breakdowns.items():
        one = cutoff_model(inputs, small, "y", auxiliary="size", by=by, model_by="industry")
        np.testing.assert_allclose(parts[name].point, one.point, rtol=1e-12)
        np.testing.assert_allclose(parts[name].cov, one.cov, rtol=1e-12)
        alone = combined_total("y", take_all=take_all, sample=s, model=one, by=by,
                               imputed="y_imputed", period="2006Q4")
        pd.testing.assert_frame_equal(shared[name].table(), alone.table(), rtol=1e-12)
        pd.testing.assert_frame_equal(shared[name].contributions(), alone.contributions(),
                                      rtol=1e-12)
    # the sampled part is Survey.total's (the variance engine called the same way)
    by_county = combined_totals(["y", "y_last_year"], {"c": "county"}, sample=s)["c"].table()
    direct = s.total(["y", "y_last_year"], by="county")
    np.testing.assert_allclose(by_county["estimate"], direct.point.ravel(), rtol=1e-12)
    np.testing.assert_allclose(by_county["se"], np.sqrt(np.diagonal(direct.cov, axis1=1, axis2=2)).ravel(),
                               rtol=1e-12)
