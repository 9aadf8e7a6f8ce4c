"""Tests of survey.quarterly.benchmarking: proportional Denton, Spring Festival, seasonal adjustment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.interp.denton import dentonm

from survey.errors import ConfigError, PeriodError
from survey.quarterly.benchmarking import (
    SPRING_FESTIVAL_DATES,
    _x13_available,
    benchmark_quarters,
    denton,
    seasonal_adjust,
    spring_festival_regressor,
)


def _quarters(first_year: int, n: int) -> list[str]:
    return [f"{first_year + k // 4}Q{k % 4 + 1}" for k in range(n)]


@pytest.fixture
def series():
    rng = np.random.default_rng(20060101)
    n_years = 7
    indicator = np.tile([80.0, 100.0, 110.0, 130.0], n_years) * 1.05 ** np.arange(4 * n_years)
    indicator *= rng.lognormal(0, 0.05, indicator.size)
    annual = indicator.reshape(n_years, 4).sum(axis=1) * rng.uniform(0.9, 1.2, n_years)
    return indicator, annual


def test_denton_matches_statsmodels_to_1e10(series):
    indicator, annual = series
    ours = denton(indicator, annual)
    ref = dentonm(indicator, annual, freq="aq")
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


def test_denton_matches_statsmodels_with_extrapolation_and_months(series):
    indicator, annual = series
    ours = denton(indicator, annual[:-1])  # last 4 quarters extrapolated
    np.testing.assert_allclose(ours, dentonm(indicator, annual[:-1], freq="aq"), rtol=1e-10, atol=0)
    monthly = np.repeat(indicator, 3) * np.tile([0.9, 1.0, 1.1], indicator.size)
    np.testing.assert_allclose(
        denton(monthly, indicator, subperiods=3), dentonm(monthly, indicator, freq="qm"), rtol=1e-10, atol=0
    )


def test_benchmarked_quarters_add_up_to_annual_totals(series):
    indicator, annual = series
    x = denton(indicator, annual)
    np.testing.assert_allclose(x.reshape(-1, 4).sum(axis=1), annual, rtol=1e-13, atol=0)


def test_denton_keeps_a_consistent_indicator_up_to_scale():
    # the indicator already has the annual pattern: the solution is the indicator times
    # one constant ratio (the penalty is zero)
    indicator = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0])
    annual = np.array([20.0, 40.0])
    np.testing.assert_allclose(denton(indicator, annual), 2.0 * indicator, rtol=1e-12)


def test_denton_rejects_bad_input():
    with pytest.raises(PeriodError, match="nonzero"):
        denton([1.0, 0.0, 1.0, 1.0], [4.0])
    with pytest.raises(PeriodError, match="at least 8"):
        denton([1.0] * 6, [4.0, 4.0])


def test_benchmark_quarters_labelled(series):
    indicator, annual = series
    index = _quarters(2000, indicator.size + 2)
    q = pd.Series(np.r_[indicator, indicator[-2:] * 1.05], index=index, name="gross_output")
    years = {2000 + k: float(a) for k, a in enumerate(annual)}
    out = benchmark_quarters(q, years)
    assert out.name == "gross_output" and list(out.index) == index
    np.testing.assert_allclose(out.iloc[: indicator.size].to_numpy(), dentonm(indicator, annual), rtol=1e-10)
    np.testing.assert_allclose(out["2003Q1":"2003Q4"].sum(), years[2003], rtol=1e-13)
    # two extrapolated quarters follow the last benchmark-to-indicator ratio
    ratio = out.iloc[indicator.size - 1] / q.iloc[indicator.size - 1]
    np.testing.assert_allclose(out.iloc[-2:].to_numpy(), ratio * q.iloc[-2:].to_numpy(), rtol=1e-12)
    with pytest.raises(PeriodError, match="must start at 1999Q1"):
        benchmark_quarters(q, {1999: 1.0, 2000: 2.0})
    with pytest.raises(PeriodError, match="consecutive"):
        benchmark_quarters(q.iloc[[0, 2, 1, 3]], {2000: 1.0})


def test_spring_festival_regressor_shares_and_centering():
    # 2005: New Year's day 9 February, window 30 Jan - 15 Feb (17 days): 2 in Jan, 15 in Feb
    raw = spring_festival_regressor(["2005-01", "2005-02", "2005-03"], center=False)
    np.testing.assert_allclose(raw * 17, [2.0, 15.0, 0.0], atol=1e-12)
    # centred: the mean over the table years is zero for every calendar month
    months = pd.period_range("1990-01", "2034-12", freq="M")
    centred = spring_festival_regressor(months)
    by_month = pd.Series(centred).groupby(np.asarray(months.month)).mean()
    np.testing.assert_allclose(by_month.to_numpy(), 0.0, atol=1e-12)
    # quarterly: the window always falls in the first quarter -> centred regressor is zero
    np.testing.assert_allclose(spring_festival_regressor(_quarters(2000, 20)), 0.0, atol=1e-12)
    assert SPRING_FESTIVAL_DATES[2006].isoformat() == "2006-01-29"
    with pytest.raises(PeriodError, match="1989"):
        spring_festival_regressor(["1989-01"])


def test_seasonal_adjust_recovers_spring_festival_effect():
    months = pd.period_range("2000-01", "2011-12", freq="M")
    rng = np.random.default_rng(7)
    seasonal = np.tile(np.log([0.9, 0.85, 1.0, 1.02, 1.03, 1.05, 1.0, 1.0, 1.02, 1.03, 1.05, 1.1]), 12)
    festival = spring_festival_regressor(months)
    log_y = np.log(1000) + 0.01 * np.arange(months.size) + seasonal - 0.25 * festival
    log_y += rng.normal(0, 0.005, months.size)
    y = pd.Series(np.exp(log_y), index=months.astype(str))
    sa = seasonal_adjust(y, method="stl")
    assert sa.method == "stl"
    assert sa.coefficient == pytest.approx(-0.25, abs=0.03)
    # the adjusted series grows ~1% a month with no seasonal or holiday swing left
    growth = np.diff(np.log(sa.adjusted.to_numpy()))
    assert np.abs(growth - 0.01).max() < 0.03
    without = seasonal_adjust(y, method="stl", spring_festival=False)
    assert np.abs(np.diff(np.log(without.adjusted.to_numpy())) - 0.01).max() > 0.04
    # components multiply back to the series
    product = sa.trend * sa.seasonal * sa.spring_festival * sa.irregular
    np.testing.assert_allclose(product.to_numpy(), y.to_numpy(), rtol=1e-10)
    assert list(sa.table().columns)[:3] == ["period", "original", "adjusted"]


def test_seasonal_adjust_quarterly_and_errors():
    idx = _quarters(2001, 24)
    y = pd.Series(np.tile([80.0, 100, 110, 130], 6) * 1.02 ** np.arange(24), index=idx)
    sa = seasonal_adjust(y, method="stl")
    assert np.isnan(sa.coefficient)  # no festival effect at quarterly frequency
    np.testing.assert_allclose(np.diff(np.log(sa.adjusted.to_numpy())), np.log(1.02), atol=0.01)
    with pytest.raises(PeriodError, match="three years"):
        seasonal_adjust(y.iloc[:8])
    with pytest.raises(PeriodError, match="positive"):
        seasonal_adjust(y * 0 - 1)
    if not _x13_available():
        with pytest.raises(ConfigError, match="x13as"):
            seasonal_adjust(y, method="x13")
