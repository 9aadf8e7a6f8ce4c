"""Quarterly series of combined estimates: levels, growth, benchmarking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, PeriodError
from survey.io import joined_labels
from survey.estimation.combined import (CombinedEstimate, combined_total, combined_totals,
                                        require_columns)
from survey.estimation.results import (
    GROWTH_COLUMNS,
    INTERVAL_COLUMNS,
    LEVEL_GROWTH_COLUMNS,
    SERIES_COLUMNS,
    IntervalResult,
    recompute_intervals,
)
from survey.periods import parse_quarter, shift_quarter
from survey.quarterly.benchmarking import benchmark_quarters

__all__ = ['level_growth', 'average_annual_growth', 'QuarterlySeries', 'quarterly_series',
           'breakdown_totals']


# --------------------------------------------------------------------------- growth helpers
def level_growth(current: CombinedEstimate, previous: CombinedEstimate) -> pd.DataFrame:
    """Plain level-on-level growth: this period's total against last year's published total.

    Unlike the comparable-basis growth, the two totals cover different sets
    of firms (births, deaths, firms crossing the size threshold), so it mixes
    real growth with changes of coverage; it is labelled ``basis="level"``.
    The standard error treats the two estimates as independent
    (``V = (V_t + R^2 V_{t-1}) / T_{t-1}^2``), which overstates it when the
    same panel firms are in both samples.

    Parameters
    ----------
    current, previous : CombinedEstimate
        Same ``by`` and variables; ``previous`` is the same period a year earlier.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``variable``, ``estimate``, ``previous``,
        ``level_growth``, ``level_growth_se``, ``basis``.

    Examples
    --------
    >>> from survey.estimation.combined import combined_total
    >>> a = pd.DataFrame({"y": [110.0]}); b = pd.DataFrame({"y": [100.0]})
    >>> g = level_growth(combined_total("y", take_all=a), combined_total("y", take_all=b))
    >>> g[["level_growth", "level_growth_se", "basis"]].round(3)
       level_growth  level_growth_se  basis
    0           0.1              0.0  level
    """
    if current.by != previous.by:
        raise PeriodError(f"the two estimates have different breakdowns: {current.by} and {previous.by}")
    keys = [*current.by, "variable"]
    a = current.frame[[*keys, "estimate", "se"]]
    b = previous.frame[[*keys, "estimate", "se"]].rename(columns={"estimate": "previous", "se": "previous_se"})
    out = a.merge(b, on=keys, how="left")
    out["level_growth"], out["level_growth_se"] = _growth(
        *(out[c].to_numpy(dtype=float) for c in ("estimate", "se", "previous", "previous_se")))
    out["basis"] = "level"
    return out.drop(columns=["previous_se"])


def _growth(estimate: np.ndarray, se: np.ndarray, previous: np.ndarray,
            previous_se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level-on-level growth and its standard error (:func:`level_growth`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = estimate / previous
        return r - 1, np.sqrt(se**2 + r**2 * previous_se**2) / np.abs(previous)


def average_annual_growth(growth_rates: Sequence[float] | np.ndarray) -> float:
    """Average annual growth over several years: the geometric mean of ``1 + g``, minus 1.

    Parameters
    ----------
    growth_rates : sequence of float
        Year-on-year growth rates (fractions), one per year.

    Returns
    -------
    float

    Examples
    --------
    >>> round(average_annual_growth([0.32, 0.10]), 4)  # 1.32 * 1.10 = 1.452 over two years
    0.205
    """
    g = np.asarray(growth_rates, dtype=float)
    if g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= -1):
        raise PeriodError("average_annual_growth needs at least one finite growth rate above -100%")
    return float(np.exp(np.mean(np.log1p(g))) - 1)


# --------------------------------------------------------------------------- series
@dataclass(frozen=True, kw_only=True, eq=False)
class QuarterlySeries(IntervalResult):
    """Totals and growth for consecutive quarters, by breakdown.

    Built by :func:`quarterly_series`.

    Attributes
    ----------
    by : tuple of str
    variables : tuple of str
    periods : tuple of str
    frame : pandas.DataFrame
        The table at ``level``.
    level : float
        Default confidence level of the intervals (that of the combined estimates).
    """

    by: tuple[str, ...]
    variables: tuple[str, ...]
    periods: tuple[str, ...]
    frame: pd.DataFrame
    level: float = 0.95

    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """One row per period, domain and variable.

        Columns: ``period``, the ``by`` columns, ``variable``, ``estimate, se,
        cv, ci_low, ci_high, growth, growth_se, growth_ci_low, growth_ci_high``
        (:data:`~survey.estimation.results.SERIES_COLUMNS`), then
        ``level_growth``, ``level_growth_se`` (plain level-on-level, where the
        same quarter of last year is in the series) and the part columns.

        Parameters
        ----------
        level : float, optional
            Confidence level of the intervals (default: ``self.level``).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.estimation.combined import combined_total
        >>> ests = [combined_total("y", take_all=pd.DataFrame({"y": [v]}), period=p)
        ...         for p, v in [("2006Q1", 110.0), ("2006Q2", 121.0)]]
        >>> quarterly_series(ests).table(level=0.9)[["period", "estimate", "ci_low"]]
           period  estimate  ci_low
        0  2006Q1     110.0   110.0
        1  2006Q2     121.0   121.0
        """
        lv = self._level(level)
        if lv == self.level:
            return self.frame.copy()
        return recompute_intervals(self.frame, lv)

    @property
    def estimate(self) -> np.ndarray:
        """Totals in table row order."""
        return self.frame["estimate"].to_numpy(dtype=float).copy()

    @property
    def se(self) -> np.ndarray:
        """Standard errors in table row order."""
        return self.frame["se"].to_numpy(dtype=float).copy()

    @property
    def growth(self) -> np.ndarray:
        """Comparable-basis growth in table row order."""
        return self.frame["growth"].to_numpy(dtype=float).copy()

    @property
    def growth_se(self) -> np.ndarray:
        """Standard errors of the growth in table row order."""
        return self.frame["growth_se"].to_numpy(dtype=float).copy()

    @property
    def df(self) -> np.ndarray:
        """Degrees of freedom of every row's interval (NaN where a period has no sample)."""
        return self.frame["df"].to_numpy(dtype=float).copy()

    def _key_columns(self) -> list[str]:
        return ["period", *self.by]

    def ci_bounds(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits of the totals' intervals in table row order.

        Examples
        --------
        >>> from survey.estimation.combined import combined_total
        >>> s = quarterly_series([combined_total("y", take_all=pd.DataFrame({"y": [1.0]}), period="2006Q1")])
        >>> s.ci_bounds()
        (array([1.]), array([1.]))
        """
        t = self.table(level=level)
        return t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float)

    def _summary_title(self, level: float) -> tuple[str, str | None]:
        span = f"{self.periods[0]}..{self.periods[-1]}"
        return f"Quarterly series {span} ({len(self.periods)} periods; {int(level * 100)}% t-interval)", None

    def _summary_table(self, level: float) -> pd.DataFrame:
        cols = [*self._key_columns(), "variable", *INTERVAL_COLUMNS, *GROWTH_COLUMNS[:2]]
        return self.table(level=level)[cols]

    def benchmark(self, annual: Mapping[Any, Mapping[int, float]] | pd.DataFrame) -> "QuarterlySeries":
        """Benchmark the quarterly estimates to annual totals (proportional Denton).

        Parameters
        ----------
        annual : pandas.DataFrame or mapping
            Annual totals: a frame with ``variable``, ``year``, ``total`` (and
            the ``by`` columns), or a mapping ``variable -> {year: total}``
            when there is no breakdown.

        Returns
        -------
        QuarterlySeries
            Same table with ``estimate`` benchmarked and the interval columns
            scaled by the same benchmark-to-indicator ratio (a new object);
            the unbenchmarked value is kept in ``indicator``.
        """
        if isinstance(annual, pd.DataFrame):
            ann = annual
        else:
            ann = pd.DataFrame(
                [(v, y, t) for v, d in annual.items() for y, t in d.items()], columns=["variable", "year", "total"]
            )
        require_columns(ann, [*self.by, "variable", "year", "total"], "annual")
        out = self.frame.copy()
        out["indicator"] = out["estimate"]
        keys = [*self.by, "variable"]
        for key, rows in out.groupby(keys, sort=False, observed=True).groups.items():
            key = key if isinstance(key, tuple) else (key,)
            sel = np.ones(len(ann), bool)
            for col, val in zip(keys, key):
                sel &= (ann[col] == val).to_numpy()
            totals = ann.loc[sel].set_index("year")["total"].astype(float).sort_index()
            part = out.loc[rows].sort_values("period")
            bench = benchmark_quarters(pd.Series(part["estimate"].to_numpy(), index=part["period"].to_numpy()), totals)
            ratio = bench.to_numpy() / part["estimate"].to_numpy()
            idx = part.index
            out.loc[idx, "estimate"] = bench.to_numpy()
            for c in ("se", "ci_low", "ci_high"):
                out.loc[idx, c] = out.loc[idx, c].to_numpy() * ratio
        return QuarterlySeries(
            by=self.by, variables=self.variables, periods=self.periods, frame=out, level=self.level
        )

    def plot(self, variable: str, *, domain: Mapping[str, Any] | None = None, ax: Any = None, level_label: bool = True):
        """Line chart of the series with its confidence band (one line per domain).

        Parameters
        ----------
        variable : str
        domain : mapping of str to value, optional
            Keep only these breakdown values (e.g. ``{"county": "Bobai"}``).
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        data = self._select(variable, domain)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        groups = data.groupby(list(self.by), sort=True, observed=True) if self.by else [((), data)]
        for key, part in groups:
            x = np.arange(len(part))
            label = ", ".join(map(str, key if isinstance(key, tuple) else (key,))) or variable
            (line,) = ax.plot(x, part["estimate"].to_numpy(), marker="o", label=label)
            ax.fill_between(x, part["ci_low"].to_numpy(), part["ci_high"].to_numpy(), alpha=0.2, color=line.get_color())
            ax.set_xticks(x, part["period"].tolist(), rotation=45)
        ax.set_ylabel(f"{variable} (estimate, {int(round(self.level * 100))}% interval)")
        ax.set_title(f"{variable} by quarter")
        if self.by:
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    def plot_growth(self, variable: str, *, period: str | None = None, ax: Any = None):
        """Bar chart of comparable-basis growth by domain for one period, with interval whiskers.

        Parameters
        ----------
        variable : str
        period : str, optional
            Default: the last period.
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        period = period or self.periods[-1]
        data = self._select(variable, None)
        data = data[data["period"] == period]
        if data.empty:
            raise PeriodError(f"period {period!r} is not in the series ({self.periods[0]} to {self.periods[-1]})")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        labels = (
            joined_labels(data, self.by, ", ").tolist() if self.by else [variable]
        )
        g = data["growth"].to_numpy() * 100
        err = np.vstack([g - data["growth_ci_low"].to_numpy() * 100, data["growth_ci_high"].to_numpy() * 100 - g])
        ax.bar(np.arange(len(g)), g, yerr=err, capsize=3)
        ax.set_xticks(np.arange(len(g)), labels, rotation=45, ha="right")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("growth on a comparable basis (%)")
        ax.set_title(f"{variable}, {period}: growth on the same period of last year")
        return ax

    def _select(self, variable: str, domain: Mapping[str, Any] | None) -> pd.DataFrame:
        if variable not in self.variables:
            raise ColumnError(f"variable {variable!r} is not in the series; it has {list(self.variables)}")
        data = self.frame[self.frame["variable"] == variable]
        for col, val in (domain or {}).items():
            if col not in self.by:
                raise ColumnError(f"{col!r} is not a breakdown of the series (by {list(self.by)})")
            data = data[data[col] == val]
        return data

    def __repr__(self) -> str:
        return (
            f"<QuarterlySeries {self.periods[0]}..{self.periods[-1]} ({len(self.periods)} periods); "
            f"{', '.join(self.variables)}{'; by ' + ', '.join(self.by) if self.by else ''}>"
        )


def quarterly_series(estimates: Sequence[CombinedEstimate]) -> QuarterlySeries:
    """Put the combined estimates of consecutive quarters into one series.

    Where the same quarter of the previous year is also in the series, the
    plain level-on-level growth (:func:`level_growth`) is added as
    ``level_growth`` and ``level_growth_se`` next to the comparable-basis
    ``growth``.

    Parameters
    ----------
    estimates : sequence of CombinedEstimate
        One per quarter, each with ``period`` set, same ``by`` and variables.

    Returns
    -------
    QuarterlySeries

    Raises
    ------
    PeriodError
        Missing or repeated periods, gaps, or different breakdowns.

    Examples
    --------
    >>> from survey.estimation.combined import combined_total
    >>> ests = [combined_total("y", take_all=pd.DataFrame({"y": [v], "y_last_year": [v / 1.1]}), period=p)
    ...         for p, v in [("2006Q1", 110.0), ("2006Q2", 121.0)]]
    >>> quarterly_series(ests).table()[["period", "estimate", "growth"]].round(3)
       period  estimate  growth
    0  2006Q1     110.0     0.1
    1  2006Q2     121.0     0.1
    """
    ests = list(estimates)
    if not ests:
        raise PeriodError("no estimates given")
    if any(e.period is None for e in ests):
        raise PeriodError("every estimate needs a period (combined_total(..., period='2006Q1'))")
    by = ests[0].by
    if any(e.by != by for e in ests):
        raise PeriodError("all estimates of a series must have the same breakdown (by)")
    ests.sort(key=lambda e: parse_quarter(e.period))
    periods = [e.period for e in ests]
    if len(set(periods)) != len(periods):
        raise PeriodError(f"a period appears twice: {periods}")
    for a, b in zip(periods, periods[1:]):
        if shift_quarter(a, 1) != b:
            raise PeriodError(f"the series jumps from {a} to {b}; give consecutive quarters")
    by_period = {e.period: e for e in ests}
    frames = []
    for e in ests:
        t = e.table()
        prev = by_period.get(shift_quarter(e.period, -4))
        keys = [*by, "variable"]
        if prev is not None and prev.frame[keys].equals(e.frame[keys]):  # the same rows: no merge
            t["level_growth"], t["level_growth_se"] = _growth(*(f[c].to_numpy(dtype=float) for f, c in (
                (t, "estimate"), (t, "se"), (prev.frame, "estimate"), (prev.frame, "se"))))
        elif prev is not None:
            lg = level_growth(e, prev)[[*by, "variable", *LEVEL_GROWTH_COLUMNS]]
            t = t.merge(lg, on=[*by, "variable"], how="left")
        else:
            t["level_growth"] = np.nan
            t["level_growth_se"] = np.nan
        frames.append(t)
    frame = pd.concat(frames, ignore_index=True)
    order = ["period", *by, "variable", *SERIES_COLUMNS, *LEVEL_GROWTH_COLUMNS]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    variables = tuple(dict.fromkeys(v for e in ests for v in e.variables))
    return QuarterlySeries(
        by=tuple(by), variables=variables, periods=tuple(periods), frame=frame, level=ests[0].level
    )


def breakdown_totals(
    variables: Sequence[str],
    *,
    take_all: pd.DataFrame,
    surveys: Mapping[str, Any],
    breakdowns: Mapping[str, Sequence[str] | None],
    published: str | None = None,
    level: float = 0.95,
    model: Callable[[str, Any, list[str], Sequence[str] | None], Any] | None = None,
) -> tuple[dict[str, dict[str, CombinedEstimate]], dict[str, CombinedEstimate]]:
    """Combined totals (take-all + sample + model) of every period and breakdown, and the
    year to date of the published quarter by breakdown.

    For each period of ``surveys`` and each breakdown,
    :func:`survey.estimation.combined.combined_total` of ``variables`` on the take-all
    panel's rows of the period and the period's weighted sample, the imputed share from
    the flags ``{v}_imputed``; for the ``published`` quarter also the year to date
    (``{v}_ytd``) by breakdown and, under the key ``"take_all"``, for the firms above the
    designated size alone (:func:`survey.plan.keyunits.above_size`: key units are
    enumerated too, but they are below the size).

    Parameters
    ----------
    variables : sequence of str
    take_all : pandas.DataFrame
        The take-all panel (one row per firm and period, column ``period``).
    surveys : mapping of str to survey.Survey
        The weighted sample of each period.
    breakdowns : mapping of str to list of str or None
        Name -> domain columns (``None``: the whole sector).
    published : str, optional
        The quarter whose year to date is estimated.
    level : float, default=0.95
    model : callable, optional
        ``model(period, survey, names, by)`` -> the take-none part
        (:class:`~survey.estimation.combined.ModelPart`) or ``None``; a
        :class:`~survey.estimation.takenone.TakeNoneModel` is called once per period with
        every breakdown.

    Returns
    -------
    (dict, dict)
        ``by_period[breakdown][period]`` and ``year_to_date[breakdown]`` (empty without
        ``published``), each a :class:`~survey.estimation.combined.CombinedEstimate`.

    Examples
    --------
    >>> import survey as sv
    >>> ta = pd.DataFrame({"period": "2006Q4", "city": ["a", "b"], "y": [5.0, 7.0],
    ...                    "y_ytd": [20.0, 30.0], "y_imputed": False})
    >>> s = sv.Survey(pd.DataFrame({"city": ["a", "b"], "w": [3.0, 3.0], "y": [1.0, 2.0],
    ...                             "y_ytd": [4.0, 8.0], "y_imputed": False}), sv.Design(weights="w"))
    >>> by_period, ytd = breakdown_totals(["y"], take_all=ta, surveys={"2006Q4": s},
    ...                                   breakdowns={"sector": None, "city": ["city"]},
    ...                                   published="2006Q4")
    >>> by_period["sector"]["2006Q4"].table()["estimate"].tolist(), ytd["sector"].table()["estimate"].tolist()
    ([21.0], [86.0])
    """
    from survey.estimation.takenone import TakeNoneModel
    from survey.plan.keyunits import above_size

    names = list(variables)
    ytd = [f"{v}_ytd" for v in names]
    flags = {v: f"{v}_imputed" for v in names}
    ytd_flags = {f"{v}_ytd": f"{v}_imputed" for v in names}
    by_period: dict[str, dict[str, CombinedEstimate]] = {name: {} for name in breakdowns}
    ytd_by: dict[str, CombinedEstimate] = {}

    def totals(period: str, s: Any, ta: pd.DataFrame, values: list[str],
               imputed: dict[str, str]) -> dict[str, CombinedEstimate]:  # all breakdowns at once
        parts = (model(period, s, values, dict(breakdowns)) if isinstance(model, TakeNoneModel)
                 else {name: None if model is None else model(period, s, values, by)
                       for name, by in breakdowns.items()})  # TakeNoneModel: one pass for all
        return combined_totals(values, breakdowns, take_all=ta, sample=s, models=parts,
                               period=period, level=level, imputed=imputed)

    for period, s in surveys.items():
        ta = take_all[take_all["period"] == period].reset_index(drop=True)
        for name, estimate in totals(period, s, ta, names, flags).items():
            by_period[name][period] = estimate
        if period == published:
            ytd_by.update(totals(period, s, ta, ytd, ytd_flags))
            ytd_by["take_all"] = combined_total(ytd, take_all=above_size(ta), period=period,
                                                level=level, imputed=ytd_flags)
    return by_period, ytd_by

