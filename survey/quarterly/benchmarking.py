"""Benchmarking quarterly series to annual totals, and seasonal adjustment.

* :func:`denton` — the proportional (modified) Denton method: the benchmarked
  series keeps the quarter-to-quarter movement of the indicator as closely as
  possible (it minimises ``sum((x[t]/i[t] - x[t-1]/i[t-1])**2)``) while its
  quarters add up exactly to the annual benchmarks. Same solution as
  ``statsmodels.tsa.interp.denton.dentonm`` (IMF Quarterly National Accounts
  Manual, ch. 6), solved as a sparse banded system so that long series stay
  cheap.
* :func:`benchmark_quarters` — the same on labelled data: a quarterly
  ``pandas.Series`` indexed by ``"2006Q1"`` labels and annual totals by year.
* :func:`seasonal_adjust` — seasonal adjustment with statsmodels STL (or
  X-13ARIMA-SEATS when its binary is installed) with a Spring Festival
  (Chinese New Year) moving-holiday regressor.
* :func:`spring_festival_regressor` — that regressor on its own.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from survey.errors import ConfigError, PeriodError

__all__ = [
    "denton",
    "benchmark_quarters",
    "spring_festival_regressor",
    "seasonal_adjust",
    "SeasonalAdjustment",
    "SPRING_FESTIVAL_DATES",
]

#: Gregorian date of the first day of the lunar new year (春节), 1990-2035.
SPRING_FESTIVAL_DATES: dict[int, _dt.date] = {
    year: _dt.date(year, month, day)
    for year, month, day in [
        (1990, 1, 27), (1991, 2, 15), (1992, 2, 4), (1993, 1, 23), (1994, 2, 10),
        (1995, 1, 31), (1996, 2, 19), (1997, 2, 7), (1998, 1, 28), (1999, 2, 16),
        (2000, 2, 5), (2001, 1, 24), (2002, 2, 12), (2003, 2, 1), (2004, 1, 22),
        (2005, 2, 9), (2006, 1, 29), (2007, 2, 18), (2008, 2, 7), (2009, 1, 26),
        (2010, 2, 14), (2011, 2, 3), (2012, 1, 23), (2013, 2, 10), (2014, 1, 31),
        (2015, 2, 19), (2016, 2, 8), (2017, 1, 28), (2018, 2, 16), (2019, 2, 5),
        (2020, 1, 25), (2021, 2, 12), (2022, 2, 1), (2023, 1, 22), (2024, 2, 10),
        (2025, 1, 29), (2026, 2, 17), (2027, 2, 6), (2028, 1, 26), (2029, 2, 13),
        (2030, 2, 3), (2031, 1, 23), (2032, 2, 11), (2033, 1, 31), (2034, 2, 19),
        (2035, 2, 8),
    ]
}


# --------------------------------------------------------------------------- periods
def _to_period_index(labels, *, what: str = "series index", consecutive: bool = True) -> pd.PeriodIndex:
    """Parse period labels (``"2006Q1"``, ``"2006-01"``, Periods) into a PeriodIndex."""
    if isinstance(labels, pd.PeriodIndex):
        index = labels
    else:
        values = list(labels)
        try:
            if values and all(isinstance(v, str) and "Q" in v.upper() for v in values):
                index = pd.PeriodIndex([pd.Period(v.upper(), freq="Q") for v in values])
            elif values and all(isinstance(v, str) for v in values):
                index = pd.PeriodIndex([pd.Period(v.upper().replace("M", "-"), freq="M") for v in values])
            else:
                index = pd.PeriodIndex(values)
        except (ValueError, TypeError) as exc:
            raise PeriodError(
                f"cannot read the {what} as periods ({exc}); use quarter labels such as "
                "'2006Q1', month labels such as '2006-01', or a pandas PeriodIndex"
            ) from None
    freq = index.freqstr[0] if len(index) else "Q"
    if freq not in ("Q", "M"):
        raise PeriodError(f"the {what} must hold quarters or months, got frequency {index.freqstr!r}")
    if consecutive and len(index) > 1:
        steps = np.diff(index.asi8)
        if np.any(steps != 1):
            bad = int(np.flatnonzero(steps != 1)[0])
            raise PeriodError(
                f"the {what} must be consecutive and sorted; it jumps from {index[bad]} to "
                f"{index[bad + 1]} (position {bad + 1}); sort it and fill gaps first"
            )
    return index


# --------------------------------------------------------------------------- Denton
def denton(indicator, benchmark, *, subperiods: int = 4) -> np.ndarray:
    """Proportional Denton benchmarking of a high-frequency series to low-frequency totals.

    Finds ``x`` minimising ``sum((x[t]/i[t] - x[t-1]/i[t-1])**2)`` subject to
    each block of ``subperiods`` consecutive values of ``x`` adding up to its
    benchmark. Indicator values after the last complete block are extrapolated
    with the last benchmark-to-indicator ratio (as statsmodels does).

    Parameters
    ----------
    indicator : array-like of float, shape (n,)
        The high-frequency indicator (e.g. quarterly survey totals), all
        nonzero; it starts at the first sub-period of the first benchmark.
    benchmark : array-like of float, shape (m,)
        The low-frequency totals (e.g. annual totals), ``m * subperiods <= n``.
    subperiods : int, default=4
        Number of high-frequency values per benchmark (4 quarters a year, 3
        months a quarter, 12 months a year).

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        The benchmarked series.

    Raises
    ------
    PeriodError
        Lengths do not fit, or the indicator has zero or non-finite values.

    Notes
    -----
    Same solution as ``statsmodels.tsa.interp.denton.dentonm(indicator,
    benchmark, freq="other", k=subperiods)`` (Bloem, Dippelsman and Maehle 2001,
    IMF Quarterly National Accounts Manual, ch. 6; Denton 1971), solved here as
    a sparse system in the benchmark-to-indicator ratios.

    Examples
    --------
    >>> x = denton([50, 100, 150, 100] * 2, [500, 400])
    >>> x.round(2).tolist()
    [64.76, 128.46, 187.9, 118.88, 55.19, 102.93, 146.41, 95.48]
    >>> x.reshape(2, 4).sum(axis=1).round(9).tolist()
    [500.0, 400.0]
    """
    i = np.asarray(indicator, dtype=float)
    a = np.asarray(benchmark, dtype=float)
    if i.ndim != 1 or a.ndim != 1:
        raise PeriodError("denton takes one indicator series and one benchmark series (1-D arrays)")
    k = int(subperiods)
    if k < 1:
        raise PeriodError(f"subperiods must be a positive integer, got {subperiods!r}")
    m = a.size
    n = k * m
    if m == 0 or i.size < n:
        raise PeriodError(
            f"{m} benchmarks need at least {n} indicator values ({k} per benchmark), got {i.size}; "
            "drop benchmarks without indicator values"
        )
    if not np.all(np.isfinite(i)) or np.any(i == 0):
        bad = int(np.flatnonzero(~np.isfinite(i) | (i == 0))[0])
        raise PeriodError(
            f"the indicator must be finite and nonzero for proportional Denton; position {bad} is "
            f"{i[bad]!r}; fill it (e.g. impute) or use an additive method"
        )
    if not np.all(np.isfinite(a)):
        raise PeriodError("the benchmarks must be finite numbers")
    # unknowns: ratios r (n) and Lagrange multipliers (m). Objective sum (r_t - r_{t-1})^2.
    ii = i[:n]
    d = sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n)) if n > 1 else sp.csr_matrix((0, n))
    hth = (d.T @ d).tocsr()
    c = sp.csr_matrix((ii, (np.repeat(np.arange(m), k), np.arange(n))), shape=(m, n))
    kkt = sp.block_array([[2.0 * hth, c.T], [c, None]], format="csc")
    rhs = np.concatenate([np.zeros(n), a])
    solution = spla.spsolve(kkt, rhs)
    ratio = solution[:n]
    out = np.empty(i.size)
    out[:n] = ratio * ii
    out[n:] = ratio[-1] * i[n:]
    return out


def benchmark_quarters(quarterly: pd.Series, annual: pd.Series | Mapping[int, float]) -> pd.Series:
    """Benchmark a labelled quarterly series to annual totals (proportional Denton).

    Parameters
    ----------
    quarterly : pandas.Series
        Quarterly indicator, indexed by consecutive quarter labels (``"2005Q1"``
        ...) or a quarterly ``PeriodIndex``, starting with a first quarter.
    annual : pandas.Series or mapping of int to float
        Annual totals by year. Every year with a total must have its four
        quarters in ``quarterly``; quarters after the last benchmarked year are
        extrapolated with the last benchmark-to-indicator ratio.

    Returns
    -------
    pandas.Series
        The benchmarked quarters, same index and name as ``quarterly``.

    Raises
    ------
    PeriodError
        Labels are not consecutive quarters, the series does not start at the
        first quarter of the first benchmarked year, or a year is incomplete.

    Examples
    --------
    >>> q = pd.Series([50.0, 100, 150, 100, 60, 110, 160, 110, 70],
    ...               index=[f"{y}Q{k}" for y in (2005, 2006) for k in (1, 2, 3, 4)] + ["2007Q1"])
    >>> b = benchmark_quarters(q, {2005: 500.0, 2006: 520.0})
    >>> float(b["2006Q1":"2006Q4"].sum())
    520.0
    """
    index = _to_period_index(quarterly.index, what="quarterly series index")
    if len(index) and index.freqstr[0] != "Q":
        raise PeriodError("benchmark_quarters needs a quarterly series; use denton() for other frequencies")
    totals = pd.Series(annual, dtype=float) if not isinstance(annual, pd.Series) else annual.astype(float)
    years = np.asarray(totals.index, dtype=np.int64)
    if years.size == 0:
        raise PeriodError("no annual totals given")
    if np.any(np.diff(years) != 1):
        raise PeriodError(f"annual totals must cover consecutive years, got {years.tolist()}")
    first = pd.Period(f"{years[0]}Q1", freq="Q")
    if len(index) == 0 or index[0] != first:
        raise PeriodError(
            f"the quarterly series must start at {first} (the first quarter of the first benchmarked "
            f"year); it starts at {index[0] if len(index) else 'nothing'}"
        )
    if len(index) < 4 * years.size:
        raise PeriodError(
            f"annual totals run to {years[-1]} but the quarterly series ends at {index[-1]}; "
            f"drop the totals of incomplete years"
        )
    values = denton(quarterly.to_numpy(dtype=float), totals.to_numpy(), subperiods=4)
    return pd.Series(values, index=quarterly.index, name=quarterly.name)


# --------------------------------------------------------------------------- Spring Festival
def spring_festival_regressor(
    periods, *, before: int = 10, after: int = 6, center: bool = True
) -> np.ndarray:
    """Spring Festival (Chinese New Year) moving-holiday regressor.

    For each period, the share of the holiday window (``before`` days before
    New Year's day up to ``after`` days after it) that falls in the period.
    With ``center=True`` the long-run mean of that share for the same calendar
    month or quarter (over 1990-2035) is subtracted, so the regressor only
    carries the year-to-year shift of the holiday and not the part that the
    seasonal factor already holds (as X-13's ``genhol`` ``center=calendar``).

    At quarterly frequency the window (January 11 to early March) always falls
    in the first quarter, so the centred regressor is zero: the festival effect
    is then part of the seasonal factor. The regressor matters for monthly data.

    Parameters
    ----------
    periods : sequence of str or pandas.PeriodIndex
        Consecutive quarters (``"2006Q1"``) or months (``"2006-01"``).
    before, after : int, default=10, 6
        Days of the window before and after New Year's day (inclusive).
    center : bool, default=True
        Subtract the long-run mean share of each calendar period.

    Returns
    -------
    numpy.ndarray of float
        One value per period.

    Raises
    ------
    PeriodError
        A period lies outside the years 1990-2034 that the date table covers.

    Examples
    --------
    New Year's day was on 29 January 2006 and 18 February 2007:

    >>> r = spring_festival_regressor(["2006-01", "2006-02", "2007-01", "2007-02"], center=False)
    >>> (r * 17).round(6).tolist()
    [13.0, 4.0, 0.0, 17.0]
    """
    index = _to_period_index(periods, what="periods", consecutive=False)
    table_years = sorted(SPRING_FESTIVAL_DATES)
    outside = sorted({int(y) for y in index.year if y < table_years[0] or y > table_years[-2]})
    if outside:
        raise PeriodError(
            f"no Spring Festival dates for {outside}; the table covers {table_years[0]}-{table_years[-2]}"
        )
    if before < 0 or after < 0:
        raise PeriodError(f"before and after must be non-negative day counts, got {before}, {after}")
    freq = index.freqstr[0] if len(index) else "M"
    festivals = np.array([np.datetime64(d, "D") for d in SPRING_FESTIVAL_DATES.values()])
    w0 = festivals - np.timedelta64(before, "D")
    w1 = festivals + np.timedelta64(after, "D")
    length = before + after + 1

    def shares(period_index: pd.PeriodIndex) -> np.ndarray:
        start = period_index.start_time.normalize().to_numpy().astype("datetime64[D]")
        end = period_index.end_time.normalize().to_numpy().astype("datetime64[D]")
        # periods x festivals overlap in days (each window is counted where it falls)
        overlap = (np.minimum(end[:, None], w1[None, :]) - np.maximum(start[:, None], w0[None, :]))
        days = np.clip(overlap.astype(np.int64) + 1, 0, None)
        return days.sum(axis=1) / length

    raw = shares(index)
    if not center:
        return raw
    full = pd.period_range(f"{table_years[0]}-01", f"{table_years[-2]}-12", freq=freq)
    full_raw = shares(full)
    key_full = full.quarter if freq == "Q" else full.month
    means = pd.Series(full_raw).groupby(np.asarray(key_full)).mean()
    key = index.quarter if freq == "Q" else index.month
    return raw - means.reindex(np.asarray(key)).to_numpy()


# --------------------------------------------------------------------------- seasonal adjustment
@dataclass(frozen=True, kw_only=True, eq=False)
class SeasonalAdjustment:
    """Result of :func:`seasonal_adjust` (all series share the input index).

    Attributes
    ----------
    original, adjusted, trend, seasonal, spring_festival, irregular : pandas.Series
        The input series and its components. With ``multiplicative=True``
        the components are factors (``original = trend * seasonal *
        spring_festival * irregular``), otherwise they add up.
    method : {"stl", "x13"}
        The method actually used.
    multiplicative : bool
        Whether the decomposition was done on logs.
    coefficient : float
        Estimated Spring Festival effect per unit of the regressor (on the log
        scale when multiplicative); NaN when not estimated.
    """

    original: pd.Series
    adjusted: pd.Series
    trend: pd.Series
    seasonal: pd.Series
    spring_festival: pd.Series
    irregular: pd.Series
    method: str
    multiplicative: bool
    coefficient: float

    def table(self) -> pd.DataFrame:
        """All components as one DataFrame (``period`` plus one column per component)."""
        return pd.DataFrame(
            {
                "period": np.asarray(self.original.index.astype(str)),
                "original": self.original.to_numpy(),
                "adjusted": self.adjusted.to_numpy(),
                "trend": self.trend.to_numpy(),
                "seasonal": self.seasonal.to_numpy(),
                "spring_festival": self.spring_festival.to_numpy(),
                "irregular": self.irregular.to_numpy(),
            }
        )


def _x13_available() -> bool:
    path = os.environ.get("X13PATH")
    if path and (os.path.isfile(path) or os.path.isdir(path)):
        return True
    return shutil.which("x13as") is not None or shutil.which("x13as_html") is not None


def seasonal_adjust(
    series: pd.Series,
    *,
    method: Literal["auto", "stl", "x13"] = "auto",
    spring_festival: bool = True,
    multiplicative: bool = True,
    robust: bool = True,
    before: int = 10,
    after: int = 6,
) -> SeasonalAdjustment:
    """Seasonally adjust a quarterly or monthly series, with a Spring Festival effect.

    STL (statsmodels ``STL``) splits the (log) series into trend, seasonal
    and remainder; the Spring Festival effect is the regression of the
    remainder on :func:`spring_festival_regressor`, and the decomposition is
    repeated on the series cleaned of that effect (three rounds). With
    ``method="x13"`` (or ``"auto"`` when the ``x13as`` binary is on ``PATH``
    or ``X13PATH``) statsmodels' X-13ARIMA-SEATS interface is used with the
    regressor as a user variable.

    Parameters
    ----------
    series : pandas.Series
        Consecutive quarters (``"2006Q1"``) or months (``"2006-01"``), at
        least three full years, all positive when ``multiplicative``.
    method : {"auto", "stl", "x13"}, default="auto"
        ``"auto"`` uses X-13 when its binary is present, STL otherwise.
    spring_festival : bool, default=True
        Estimate and remove a Spring Festival effect (zero for quarterly
        data, see :func:`spring_festival_regressor`).
    multiplicative : bool, default=True
        Decompose the logarithm of the series (components are factors).
    robust : bool, default=True
        Robust STL fitting (outliers get less weight).
    before, after : int, default=10, 6
        Holiday window of the Spring Festival regressor, in days.

    Returns
    -------
    SeasonalAdjustment

    Raises
    ------
    PeriodError
        The series is too short, not consecutive, or not positive for a
        multiplicative adjustment.
    ConfigError
        ``method="x13"`` but the X-13ARIMA-SEATS binary is not installed.

    Examples
    --------
    >>> idx = [f"{y}Q{q}" for y in range(2001, 2007) for q in (1, 2, 3, 4)]
    >>> y = pd.Series(np.tile([80.0, 100, 110, 130], 6) * 1.02 ** np.arange(24), index=idx)
    >>> sa = seasonal_adjust(y, method="stl")
    >>> bool((sa.adjusted.pct_change().iloc[1:] - 0.02).abs().max() < 0.01)
    True
    """
    index = _to_period_index(series.index, what="series index")
    period = 4 if index.freqstr[0] == "Q" else 12
    y = series.to_numpy(dtype=float)
    if y.size < 3 * period:
        raise PeriodError(f"seasonal adjustment needs at least three years ({3 * period} values), got {y.size}")
    if not np.all(np.isfinite(y)):
        raise PeriodError("the series has missing or infinite values; fill them before adjusting")
    if multiplicative and np.any(y <= 0):
        raise PeriodError("a multiplicative adjustment needs positive values; use multiplicative=False")
    if method not in ("auto", "stl", "x13"):
        raise PeriodError(f"method must be 'auto', 'stl' or 'x13', got {method!r}")
    use_x13 = method == "x13" or (method == "auto" and _x13_available())
    if method == "x13" and not _x13_available():
        raise ConfigError(
            "method='x13' needs the X-13ARIMA-SEATS binary (x13as) on PATH or in X13PATH; "
            "install it or use method='stl'"
        )
    z = np.log(y) if multiplicative else y.copy()
    regressor = (
        spring_festival_regressor(index, before=before, after=after) if spring_festival else np.zeros(y.size)
    )
    has_effect = spring_festival and float(np.ptp(regressor)) > 1e-12
    coefficient = np.nan
    effect = np.zeros(y.size)
    if use_x13:
        from statsmodels.tsa.x13 import x13_arima_analysis

        ts = pd.Series(y, index=index.to_timestamp())
        exog = pd.Series(regressor, index=ts.index, name="springfest") if has_effect else None
        res = x13_arima_analysis(ts, exog=exog, log=multiplicative, outlier=True)
        adjusted = np.asarray(res.seasadj, dtype=float)
        trend_v = np.asarray(res.trend, dtype=float)
        irregular_v = np.asarray(res.irregular, dtype=float)
        seasonal_v = y / adjusted if multiplicative else y - adjusted
        fest = np.ones(y.size) if multiplicative else np.zeros(y.size)
        used = "x13"
    else:
        from statsmodels.tsa.seasonal import STL

        current = z
        for _ in range(3 if has_effect else 1):
            fit = STL(current, period=period, robust=robust).fit()
            if has_effect:
                remainder = z - fit.trend - fit.seasonal
                coefficient = float(regressor @ remainder / (regressor @ regressor))
                effect = coefficient * regressor
                current = z - effect
        trend_v, seasonal_v = np.asarray(fit.trend), np.asarray(fit.seasonal)
        irregular_v = z - trend_v - seasonal_v - effect
        adjusted_z = z - seasonal_v - effect
        if multiplicative:
            adjusted, trend_v, seasonal_v = np.exp(adjusted_z), np.exp(trend_v), np.exp(seasonal_v)
            fest, irregular_v = np.exp(effect), np.exp(irregular_v)
        else:
            adjusted, fest = adjusted_z, effect
        used = "stl"

    def s(values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=series.index, name=series.name)

    return SeasonalAdjustment(
        original=s(y),
        adjusted=s(adjusted),
        trend=s(trend_v),
        seasonal=s(seasonal_v),
        spring_festival=s(fest),
        irregular=s(irregular_v),
        method=used,
        multiplicative=multiplicative,
        coefficient=coefficient,
    )
