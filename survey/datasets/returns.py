"""The returns simulator: one quarter's returns as firms would send them, with injected errors.

Values are the true cumulative (year-to-date) figures of the bundled
quarterly truth (or one you give), spoiled by unit and item nonresponse and
reporting errors, every error listed. The columns follow
:data:`survey.form.DEMO_FORM`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.datasets import INDICATORS, MONEY_INDICATORS, load_quarterly
from survey.errors import ColumnError, FrameError, PeriodError
from survey.periods import parse_quarter, year_of

__all__ = ["ERROR_TYPES", "SimulatedReturns", "simulate_returns", "write_returns"]

ERROR_TYPES: tuple[str, ...] = ("unit_yuan", "export_gt_output", "cumulative_decrease")


@dataclass(frozen=True, kw_only=True, eq=False)
class SimulatedReturns:
    """Returns as firms would send them for one quarter, and the injected errors.

    Attributes
    ----------
    returns : pandas.DataFrame
        ``firm_id, period, responded, operating`` and, for each indicator,
        ``{var}_ytd`` (cumulative year to date; for ``employees`` the average of
        the end-of-quarter headcounts over the year to date) and
        ``{var}_ytd_last_year`` (the same months of last year). Thousand yuan.
        NaN for nonrespondents and missing items.
    injected : pandas.DataFrame
        ``firm_id, period, variable, error_type, true_value, reported_value``:
        every reported value that differs from the truth because of an
        injected error (error_type in ``unit_yuan``, ``export_gt_output``,
        ``cumulative_decrease``).
    seed : int
        The seed used (reproduces the returns).
    period : str
    """

    returns: pd.DataFrame
    injected: pd.DataFrame
    seed: int
    period: str


def simulate_returns(
    firms: Any,
    period: str,
    *,
    seed: int | np.random.Generator | None = None,
    unit_nonresponse: float = 0.10,
    item_nonresponse: float = 0.02,
    error_rate: float = 0.02,
    truth: pd.DataFrame | None = None,
) -> SimulatedReturns:
    """Simulate one quarter's returns of the given firms (year-to-date convention).

    Values are the true cumulative figures from the quarterly truth, then
    spoiled by unit nonresponse (more likely for small firms), item
    nonresponse and reporting errors. Every error is listed in ``injected``.

    Parameters
    ----------
    firms : sequence of str or pandas.DataFrame
        Firm ids (USCC), or a frame with a ``firm_id`` column (a census of the
        above-size firms, or a drawn sample). Each must be on the register of
        the period's year. Firms that have closed stay in the returns with
        ``operating`` False; when they respond, their values are the true
        zeros (the enumerator confirms the closure).
    period : str
        A quarter label such as ``"2006Q3"``.
    seed : int or numpy.random.Generator or None, default=None
        Recorded in the result. The draws also depend on the period, so the
        same seed gives independent draws for different quarters.
    unit_nonresponse : float, default=0.10
        Average probability that a firm does not return the form. A firm's
        propensity falls with its size (the smallest are about four times as
        likely to fail as the largest).
    item_nonresponse : float, default=0.02
        Probability that a value of a returned form is missing.
    error_rate : float, default=0.02
        Probability that a returned form carries one reporting error:
        ``unit_yuan`` (all money values of the year to date in yuan, i.e.
        1000 times too large), ``export_gt_output`` (export delivery above
        gross output) or ``cumulative_decrease`` (a year-to-date value below
        last quarter's, typically the quarter's own value; only from Q2).
    truth : pandas.DataFrame, optional
        Quarterly truth (columns as :func:`load_quarterly`); default the
        bundled one.

    Returns
    -------
    SimulatedReturns

    Examples
    --------
    >>> from survey.datasets import load_register, simulate_returns
    >>> firms = load_register(2006).query("above_size")["firm_id"]
    >>> sim = simulate_returns(firms, "2006Q2", seed=1, unit_nonresponse=0.0,
    ...                        item_nonresponse=0.0, error_rate=0.0)
    >>> bool(sim.returns["responded"].all()), len(sim.injected)
    (True, 0)
    """
    year, quarter = parse_quarter(period)
    for name, value in (
        ("unit_nonresponse", unit_nonresponse),
        ("item_nonresponse", item_nonresponse),
        ("error_rate", error_rate),
    ):
        if not (0.0 <= float(value) <= 1.0):
            raise ColumnError(f"{name}={value} must be a probability in [0, 1]")
    if isinstance(firms, pd.DataFrame):
        if "firm_id" not in firms.columns:
            raise ColumnError("the firms frame has no 'firm_id' column; pass ids or a frame with firm_id")
        firms = firms["firm_id"]
    ids = pd.Index(pd.Series(list(firms) if not isinstance(firms, pd.Series) else firms, dtype="str"))
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise FrameError(f"firm ids given more than once: {dup}; pass each firm once")

    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    elif seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63 - 1))
    seed = int(seed)
    rng = np.random.default_rng([seed, year, quarter])

    table = _ytd_table(period) if truth is None else _ytd_frame(truth, year, quarter)
    pos = table.index.get_indexer(ids)
    if (pos < 0).any():
        missing = ids[pos < 0][:5].tolist()
        raise FrameError(
            f"{int((pos < 0).sum())} firm(s) are not on the register of {year} "
            f"(first: {missing}); pass firms of that year's register"
        )
    values = {col: table[col].to_numpy()[pos] for col in table.columns}
    n = len(ids)
    current = {var: values[f"{var}_ytd"].astype(float).copy() for var in INDICATORS}
    last = {var: values[f"{var}_ytd_last_year"].astype(float).copy() for var in INDICATORS}
    previous = {var: values[f"{var}_ytd_prev_quarter"] for var in MONEY_INDICATORS}
    operating = values["operating"].astype(bool)

    # unit nonresponse, decreasing with size
    size = np.maximum(values["gross_output_ytd"], values["gross_output_ytd_last_year"]) * 4.0 / quarter
    propensity = 1.0 / (1.0 + np.log1p(np.maximum(size, 0.0) / 1000.0))
    prob = np.clip(unit_nonresponse * propensity / propensity.mean(), 0.0, 1.0) if n else propensity
    responded = rng.random(n) >= prob

    # item nonresponse
    item_missing = {}
    for var in INDICATORS:
        item_missing[var] = (rng.random(n) < item_nonresponse, rng.random(n) < item_nonresponse)

    # reporting errors
    has_error = responded & (rng.random(n) < error_rate)
    ok_cur = {var: ~item_missing[var][0] for var in MONEY_INDICATORS}
    app_unit = np.zeros(n, dtype=bool)
    for var in MONEY_INDICATORS:
        app_unit |= ok_cur[var] & (current[var] != 0)
    app_export = ok_cur["gross_output"] & ok_cur["export_delivery"] & (current["gross_output"] > 0)
    decrease_ok = np.column_stack(
        [ok_cur[var] & (previous[var] > 0) & (quarter > 1) for var in MONEY_INDICATORS]
    )
    app_decrease = decrease_ok.any(axis=1)
    keys = rng.random((n, 3))
    applicable = np.column_stack([app_unit, app_export, app_decrease])
    keys = np.where(applicable, keys, -1.0)
    kind = np.argmax(keys, axis=1)
    has_error &= applicable.any(axis=1)
    decrease_keys = np.where(decrease_ok, rng.random((n, len(MONEY_INDICATORS))), -1.0)
    decrease_var = np.argmax(decrease_keys, axis=1)
    export_factor = rng.uniform(1.1, 3.0, n)
    shrink = rng.uniform(0.5, 0.95, n)

    injected = []
    reported = {var: current[var].copy() for var in INDICATORS}
    unit_rows = has_error & (kind == 0)
    for var in MONEY_INDICATORS:
        hit = unit_rows & ok_cur[var] & (current[var] != 0)
        reported[var] = np.where(hit, current[var] * 1000.0, reported[var])
        injected.append(_injected_rows(ids, period, var, "unit_yuan", hit, current[var], reported[var]))
    hit = has_error & (kind == 1)
    new_export = current["gross_output"] * export_factor
    reported["export_delivery"] = np.where(hit, new_export, reported["export_delivery"])
    injected.append(
        _injected_rows(ids, period, "export_delivery", "export_gt_output", hit, current["export_delivery"],
                       reported["export_delivery"])
    )
    for j, var in enumerate(MONEY_INDICATORS):
        hit = has_error & (kind == 2) & (decrease_var == j)
        quarter_only = current[var] - previous[var]
        value = np.where(quarter_only < previous[var], quarter_only, previous[var] * shrink)
        value = np.round(value, 1)
        value = np.where(value >= previous[var], previous[var] * 0.5, value)
        reported[var] = np.where(hit, value, reported[var])
        injected.append(_injected_rows(ids, period, var, "cumulative_decrease", hit, current[var], reported[var]))

    out: dict[str, Any] = {
        "firm_id": ids.to_numpy(),
        "period": np.full(n, period, dtype=object),
        "responded": responded,
        "operating": operating,
    }
    for var in INDICATORS:
        cur = np.where(responded & ~item_missing[var][0], reported[var], np.nan)
        prev = np.where(responded & ~item_missing[var][1], last[var], np.nan)
        out[f"{var}_ytd"] = cur
        out[f"{var}_ytd_last_year"] = prev
    returns = pd.DataFrame(out)
    returns["period"] = returns["period"].astype("str")
    injected_frame = pd.concat(injected, ignore_index=True)
    return SimulatedReturns(returns=returns, injected=injected_frame, seed=seed, period=period)


def _injected_rows(ids, period, var, error_type, hit, true_value, reported_value) -> pd.DataFrame:
    idx = np.flatnonzero(hit)
    return pd.DataFrame(
        {
            "firm_id": pd.array(ids.to_numpy()[idx], dtype="str"),
            "period": pd.array(np.full(len(idx), period, dtype=object), dtype="str"),
            "variable": pd.array(np.full(len(idx), var, dtype=object), dtype="str"),
            "error_type": pd.array(np.full(len(idx), error_type, dtype=object), dtype="str"),
            "true_value": true_value[idx].astype(float),
            "reported_value": reported_value[idx].astype(float),
        }
    )


@functools.lru_cache(maxsize=1)
def _truth() -> pd.DataFrame:
    return load_quarterly()


@functools.lru_cache(maxsize=64)
def _ytd_table(period: str) -> pd.DataFrame:
    year, quarter = parse_quarter(period)
    frame = _truth()
    if not (frame["year"] == year).any():
        raise PeriodError(f"no quarterly truth for {period}; the bundled data cover 2004Q1-2007Q4")
    return _ytd_frame(frame, year, quarter, years=_bundled_year)


class _Year:
    """The truth of one year: its rows, its firms (in the order they first appear) and
    their year-to-date values up to each quarter, each computed once."""

    def __init__(self, truth: pd.DataFrame, year: int) -> None:
        self.rows = truth[truth["year"].to_numpy() == year]
        self.firms = pd.Index(self.rows["firm_id"].unique(), dtype="str")
        codes, uniques = pd.factorize(self.rows["firm_id"])
        # each row's firm as its position among the firms (-1: a missing id, in no sum)
        self.firm_of = np.where(codes >= 0, self.firms.get_indexer(uniques)[codes], -1)
        self.quarter = self.rows["quarter"].to_numpy()
        self.values = self.rows[list(INDICATORS)]
        self._ytd: dict[int, np.ndarray] = {}

    def ytd(self, upto: int) -> np.ndarray:
        """Per firm (rows) and indicator (columns, ``INDICATORS``): the sums of the money
        indicators and the mean of ``employees`` over the quarters up to ``upto``; NaN for
        a firm without such a quarter. The sums of pandas' groupby (compensated)."""
        if upto not in self._ytd:
            take = (self.quarter <= upto) & (self.firm_of >= 0)
            grouped = self.values[take].groupby(self.firm_of[take], sort=False)
            sums = grouped[list(MONEY_INDICATORS)].sum()
            sums["employees"] = grouped["employees"].mean()
            out = np.full((len(self.firms), len(INDICATORS)), np.nan)
            out[sums.index.to_numpy()] = sums[list(INDICATORS)].to_numpy(dtype=float)
            self._ytd[upto] = out
        return self._ytd[upto]


def _zero_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), 0.0, values)


@functools.lru_cache(maxsize=8)
def _bundled_year(year: int) -> _Year:
    return _Year(_truth(), year)


def _ytd_frame(truth: pd.DataFrame, year: int, quarter: int,
               years: Callable[[int], _Year] | None = None) -> pd.DataFrame:
    """Per firm of ``year``'s register: ytd, ytd of the previous quarter and of last year
    (``years(year)``: the :class:`_Year` of a year of ``truth``; the bundled truth's are
    kept for every period, a given truth's for this call)."""
    missing = [c for c in ("firm_id", "year", "quarter", *INDICATORS) if c not in truth.columns]
    if missing:
        raise ColumnError(f"the quarterly truth lacks columns {missing}")
    if years is None:
        years = functools.lru_cache(maxsize=2)(functools.partial(_Year, truth))
    this = years(year)
    if this.rows.empty:
        raise PeriodError(f"no quarterly truth for year {year}")
    cols = list(INDICATORS)
    index = this.firms
    cur = this.ytd(quarter)
    result = pd.DataFrame(cur.copy(), index=index, columns=[f"{var}_ytd" for var in cols])
    prev = _zero_nan(this.ytd(quarter - 1)) if quarter > 1 else cur * 0.0
    for var in MONEY_INDICATORS:
        result[f"{var}_ytd_prev_quarter"] = prev[:, cols.index(var)]
    before = years(year - 1)
    last = np.full((len(index), len(cols)), np.nan)
    if (before.quarter <= quarter).any():
        where = before.firms.get_indexer(index)
        last = _zero_nan(np.where((where >= 0)[:, None], before.ytd(quarter)[where], np.nan))
    for j, var in enumerate(cols):
        result[f"{var}_ytd_last_year"] = last[:, j]
    rows = this.rows
    op = rows[this.quarter == quarter].set_index("firm_id")["operating"] if "operating" in rows else None
    result["operating"] = op.reindex(index).fillna(False).to_numpy(bool) if op is not None else True
    return result


def write_returns(samples: Mapping[int, pd.DataFrame], periods: Sequence[str],
                  folder: str | Path, *, seed: Any = None, id: str = "firm_id",
                  **settings: Any) -> tuple[dict[str, Path], pd.DataFrame]:
    """The returns files the selected firms would send, one CSV a period.

    :func:`simulate_returns` of each period's firms (the sample of its year), the
    responding firms' returns written to ``folder/returns_<period>.csv`` (``id, period``,
    ``{indicator}_ytd``, ``{indicator}_ytd_last_year``; missing items empty) and the
    injected reporting errors to ``folder/injected_errors.csv``
    (:func:`survey.io.write_table`).

    Parameters
    ----------
    samples : mapping of int to pandas.DataFrame
        The selected firms of each year (column ``id``).
    periods : sequence of str
    folder : str or pathlib.Path
    seed : int, numpy.random.Generator or None, default=None
    id : str, default="firm_id"
    **settings
        Passed to :func:`simulate_returns` (``unit_nonresponse``, ``item_nonresponse``,
        ``error_rate``).

    Returns
    -------
    (dict of str to pathlib.Path, pandas.DataFrame)
        The file of each period, and the injected errors.

    Examples
    --------
    >>> import tempfile
    >>> from survey.datasets import load_register
    >>> firms = {2006: load_register(2006).head(20)}
    >>> files, errors = write_returns(firms, ["2006Q1"], tempfile.mkdtemp(), seed=1)
    >>> files["2006Q1"].name, "error_type" in errors
    ('returns_2006Q1.csv', True)
    """
    from survey.io import write_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, injected = {}, []
    for period in periods:
        sim = simulate_returns(samples[year_of(period)][id], period, seed=seed,
                               **settings)
        sent = sim.returns[sim.returns["responded"].to_numpy()]
        files[period] = folder / f"returns_{period}.csv"
        write_table(sent.drop(columns=["responded", "operating"]), files[period])
        injected.append(sim.injected)
    errors = pd.concat(injected, ignore_index=True)
    write_table(errors, folder / "injected_errors.csv")
    return files, errors
