"""Quarter labels, shifts between quarters, and year-to-date to quarter values.

The one place that knows what ``"2006Q1"`` means. Labels are ``YYYYQn``
with ``n`` in 1-4 (lower case ``q`` and surrounding blanks are accepted on
input; output labels are always upper case). A quarter's *index* is
``4 * year + quarter - 1``, so consecutive quarters have consecutive indices.

Year-to-date (cumulative) returns become quarter values with
:func:`ytd_to_quarters`: a flow's quarter is the difference of two
consecutive cumulative values of the same year (the first quarter is its own
cumulative value); a stock (e.g. employees) is a level and is not
differenced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, PeriodError

__all__ = [
    "QUARTER_PATTERN",
    "QuarterConversion",
    "is_quarter",
    "parse_quarter",
    "parse_quarters",
    "previous_quarter",
    "quarter_from_index",
    "quarter_index",
    "quarter_label",
    "quarter_range",
    "quarterly_from_ytd",
    "quarters_of_year",
    "shift_quarter",
    "sort_quarters",
    "year_of",
    "ytd_to_quarters",
]

#: Regular expression of a (normalised) quarter label; groups: year, quarter.
QUARTER_PATTERN = r"^(\d{4})Q([1-4])$"

_HINT = "write quarters as YYYYQn: '2006Q1' ... '2006Q4'"


# --------------------------------------------------------------------------- labels
def parse_quarter(label: Any) -> tuple[int, int]:
    """Year and quarter of a label such as ``"2006Q1"``.

    Parameters
    ----------
    label : str
        ``"YYYYQn"`` with ``n`` in 1-4 (``"2006q1"`` and blanks around it
        are accepted).

    Returns
    -------
    tuple of (int, int)

    Raises
    ------
    PeriodError
        The label is not a quarter.

    Examples
    --------
    >>> parse_quarter("2006Q3")
    (2006, 3)
    >>> parse_quarter("2006-03")
    Traceback (most recent call last):
    ...
    survey.errors.PeriodError: '2006-03' is not a quarter label; write quarters as YYYYQn: '2006Q1' ... '2006Q4'
    """
    text = str(label).strip().upper() if isinstance(label, str) else None
    if text is not None and len(text) == 6 and text[:4].isdigit() and text[4] == "Q" \
            and text[5] in "1234":
        return int(text[:4]), int(text[5])
    raise PeriodError(f"{label!r} is not a quarter label; {_HINT}")


def quarter_label(year: int, quarter: int) -> str:
    """The label of a year and quarter.

    Raises
    ------
    PeriodError
        ``quarter`` is not 1-4 or ``year`` has not four digits.

    Examples
    --------
    >>> quarter_label(2006, 4)
    '2006Q4'
    """
    if not (1 <= int(quarter) <= 4) or not (1000 <= int(year) <= 9999):
        raise PeriodError(f"no quarter {quarter} of year {year}; quarters are 1-4 of a four-digit year")
    return f"{int(year)}Q{int(quarter)}"


def is_quarter(label: Any) -> bool:
    """Whether ``label`` is a quarter label.

    Examples
    --------
    >>> is_quarter("2006Q4"), is_quarter("2006-12"), is_quarter(2006)
    (True, False, False)
    """
    try:
        parse_quarter(label)
    except PeriodError:
        return False
    return True


def normalise_quarter(label: Any) -> str:
    """The canonical form of a quarter label (``" 2006q1"`` -> ``"2006Q1"``).

    Raises
    ------
    PeriodError
        The label is not a quarter.

    Examples
    --------
    >>> normalise_quarter(" 2006q1")
    '2006Q1'
    """
    return quarter_label(*parse_quarter(label))


def quarter_index(label: Any) -> int:
    """``4 * year + quarter - 1``: consecutive quarters have consecutive indices.

    Examples
    --------
    >>> quarter_index("2006Q2") - quarter_index("2005Q4")
    2
    """
    year, quarter = parse_quarter(label)
    return year * 4 + quarter - 1


def quarter_from_index(index: int) -> str:
    """The label of a quarter index (inverse of :func:`quarter_index`).

    Examples
    --------
    >>> quarter_from_index(quarter_index("2006Q3"))
    '2006Q3'
    """
    k = int(index)
    return quarter_label(k // 4, k % 4 + 1)


def year_of(label: Any) -> int:
    """The year of a quarter label.

    Examples
    --------
    >>> year_of("2006Q3")
    2006
    """
    return parse_quarter(label)[0]


def shift_quarter(label: Any, quarters: int) -> str:
    """The quarter ``quarters`` later (negative: earlier), across years.

    Examples
    --------
    >>> shift_quarter("2006Q1", -1), shift_quarter("2006Q3", -4)
    ('2005Q4', '2005Q3')
    """
    return quarter_from_index(quarter_index(label) + int(quarters))


def previous_quarter(label: Any, *, same_year: bool = False) -> str | None:
    """The quarter before ``label``.

    Parameters
    ----------
    label : str
        A quarter label.
    same_year : bool, default=False
        Only within the year: ``None`` for a first quarter (the year-to-date
        convention: a first quarter has no previous cumulative value).

    Returns
    -------
    str or None

    Examples
    --------
    >>> previous_quarter("2006Q1"), previous_quarter("2006Q3", same_year=True)
    ('2005Q4', '2006Q2')
    >>> previous_quarter("2006Q1", same_year=True) is None
    True
    """
    year, quarter = parse_quarter(label)
    if same_year and quarter == 1:
        return None
    return shift_quarter(label, -1)


def quarters_of_year(year: int) -> list[str]:
    """The four quarter labels of a year.

    Examples
    --------
    >>> quarters_of_year(2006)
    ['2006Q1', '2006Q2', '2006Q3', '2006Q4']
    """
    return [quarter_label(int(year), q) for q in range(1, 5)]


def quarter_range(first: Any, last: Any) -> list[str]:
    """Every quarter from ``first`` to ``last``, both included.

    Raises
    ------
    PeriodError
        ``last`` is before ``first``.

    Examples
    --------
    >>> quarter_range("2005Q3", "2006Q2")
    ['2005Q3', '2005Q4', '2006Q1', '2006Q2']
    """
    a, b = quarter_index(first), quarter_index(last)
    if b < a:
        raise PeriodError(f"quarter range {first!r} to {last!r} runs backwards; give the earlier first")
    return [quarter_from_index(k) for k in range(a, b + 1)]


def sort_quarters(labels: Iterable[Any]) -> list[str]:
    """Distinct quarter labels in time order (normalised).

    Examples
    --------
    >>> sort_quarters(["2006Q1", "2005Q4", "2006Q1"])
    ['2005Q4', '2006Q1']
    """
    return [quarter_from_index(k) for k in sorted({quarter_index(x) for x in labels})]


def parse_quarters(labels: Any, *, errors: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Year and quarter of many labels at once (vectorised over distinct labels).

    Parameters
    ----------
    labels : array-like
        Quarter labels (a column of a frame, a list...).
    errors : {"raise", "coerce"}, default="raise"
        ``"raise"``: :class:`~survey.errors.PeriodError` naming the first
        label that is not a quarter; ``"coerce"``: year ``-1`` and quarter
        ``0`` for such labels.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Years and quarters (int64), one per label.

    Examples
    --------
    >>> year, quarter = parse_quarters(["2006Q1", "2006Q4", "x"], errors="coerce")
    >>> year.tolist(), quarter.tolist()
    ([2006, 2006, -1], [1, 4, 0])
    """
    if errors not in ("raise", "coerce"):
        raise PeriodError(f"parse_quarters: errors must be 'raise' or 'coerce', got {errors!r}")
    values = np.asarray(labels, dtype=object).ravel()
    if not len(values):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    years = np.full(len(uniques), -1, dtype=np.int64)
    quarters = np.zeros(len(uniques), dtype=np.int64)
    for j, u in enumerate(uniques):  # one parse per distinct label
        try:
            years[j], quarters[j] = parse_quarter(u)
        except PeriodError:
            if errors == "raise":
                raise
    return years[codes], quarters[codes]


# --------------------------------------------------------------------------- year to date
@dataclass(frozen=True, kw_only=True, eq=False)
class QuarterConversion:
    """Quarter values derived from cumulative (year-to-date) values.

    Attributes
    ----------
    frame : pandas.DataFrame
        The input columns plus ``{var}`` (the quarter) and ``{var}_last_year``
        (the same quarter of last year) per variable.
    problems : pandas.DataFrame
        One row per failed check of a flow: ``{id}, variable, problem,
        value, previous`` where ``problem`` is ``"cumulative_decrease"`` (the
        year-to-date value fell, so the quarter is negative) or
        ``"missing_previous_quarter"`` (the quarter is NaN).
    """

    frame: pd.DataFrame
    problems: pd.DataFrame

    def __str__(self) -> str:
        counts = self.problems["problem"].value_counts().to_dict() if len(self.problems) else {}
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no problems"
        return f"quarters derived for {len(self.frame)} firms ({detail})"


def ytd_to_quarters(
    data: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    variables: str | Sequence[str],
    stocks: Sequence[str] = (),
    period: str | None = None,
    id: str = "firm_id",
    ytd_suffix: str = "_ytd",
    last_year_suffix: str = "_ytd_last_year",
) -> QuarterConversion:
    """Quarter values from cumulative (year-to-date) values, for flows and stocks.

    For a flow ``v`` the quarter is ``ytd(q) - ytd(q - 1)`` of the same unit
    and year (a first quarter is its own year-to-date value); the same
    difference of the last-year columns gives the same quarter of last year.
    Where the previous cumulative value is missing the quarter is NaN
    (impute it, do not read it as zero). A stock (``stocks``) is a level:
    its quarter value is the reported value.

    The previous quarter's values come from one of two places:

    * ``previous``: a frame of the previous quarter of the same year (one
      row per unit, matched on ``id``); ``None`` when ``data`` is a first
      quarter (every quarter value is then its year-to-date value);
    * ``period``: the name of a period column of ``data``, which is then a
      panel of several quarters: each row's previous quarter is looked up
      in the panel itself.

    Parameters
    ----------
    data : pandas.DataFrame
        Year-to-date values ``{v}{ytd_suffix}`` and ``{v}{last_year_suffix}``.
    previous : pandas.DataFrame or None, default=None
        The previous quarter (two-frame form); not with ``period``.
    variables : str or sequence of str
        Indicator names (without suffix).
    stocks : sequence of str, default=()
        Indicators that are levels (not differenced).
    period : str or None, default=None
        Period column of a panel (labels ``"2006Q1"``); not with ``previous``.
    id : str, default="firm_id"
        Unit id column.
    ytd_suffix, last_year_suffix : str, default="_ytd", "_ytd_last_year"
        Column suffixes of this year's and last year's cumulative values.

    Returns
    -------
    QuarterConversion
        A new frame (the input is not modified) and the problems found.

    Raises
    ------
    ColumnError
        A needed column is missing.
    PeriodError
        A period label is not a quarter, or a unit has two rows in one
        period of a panel.

    Examples
    --------
    Two frames, a flow and a stock:

    >>> q2 = pd.DataFrame({"firm_id": ["a", "b"], "go_ytd": [30.0, 5.0], "go_ytd_last_year": [20.0, 8.0],
    ...                    "staff_ytd": [12.0, 3.0], "staff_ytd_last_year": [10.0, 3.0]})
    >>> q1 = pd.DataFrame({"firm_id": ["a", "b"], "go_ytd": [10.0, 6.0], "go_ytd_last_year": [9.0, 4.0],
    ...                    "staff_ytd": [11.0, 3.0], "staff_ytd_last_year": [9.0, 2.0]})
    >>> out = ytd_to_quarters(q2, q1, variables=["go", "staff"], stocks=["staff"])
    >>> out.frame[["go", "go_last_year", "staff", "staff_last_year"]].values.tolist()
    [[20.0, 11.0, 12.0, 10.0], [-1.0, 4.0, 3.0, 3.0]]
    >>> out.problems[["firm_id", "problem"]].values.tolist()
    [['b', 'cumulative_decrease']]

    A panel (the previous quarter of 2006Q3 is missing for firm ``b``):

    >>> panel = pd.DataFrame({"firm_id": ["a", "a", "b"], "period": ["2006Q1", "2006Q2", "2006Q3"],
    ...                       "go_ytd": [10.0, 25.0, 9.0], "go_ytd_last_year": [8.0, 20.0, 7.0]})
    >>> ytd_to_quarters(panel, variables="go", period="period").frame["go"].tolist()
    [10.0, 15.0, nan]
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    stock = set(stocks)
    if period is not None and previous is not None:
        raise PeriodError("ytd_to_quarters: give previous= (the previous quarter's frame) or "
                          "period= (the period column of a panel), not both")
    pairs = [(v, suffix, target) for v in names
             for suffix, target in ((ytd_suffix, v), (last_year_suffix, f"{v}_last_year"))]
    needed = [id, *([period] if period is not None else []), *(v + s for v, s, _ in pairs)]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ColumnError(
            f"ytd_to_quarters: the data have no column(s) {missing}; cumulative returns need "
            f"{{variable}}{ytd_suffix} and {{variable}}{last_year_suffix} columns and the id column"
        )
    n = len(data)
    ids = data[id].to_numpy()
    if period is not None:
        labels = data[period].to_numpy(dtype=object)
        year, quarter = parse_quarters(labels)
        key = pd.MultiIndex.from_arrays([ids, year * 4 + quarter - 1])
        dup = key.duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            raise PeriodError(
                f"firm {ids[row]!r} has more than one return for period {labels[row]!r}; "
                "keep the latest revision only"
            )
        position = key.get_indexer(pd.MultiIndex.from_arrays([ids, year * 4 + quarter - 2]))
        needs_previous = quarter > 1

        def before(column: str) -> np.ndarray:
            values = data[column].to_numpy(dtype=float, na_value=np.nan)
            return np.where(position >= 0, values[np.maximum(position, 0)], np.nan) if n else values
    elif previous is not None:
        absent = [c for c in (id, *(v + s for v, s, _ in pairs if v not in stock))
                  if c not in previous.columns]
        if absent:
            raise ColumnError(f"ytd_to_quarters: the previous quarter has no column(s) {absent}")
        prev = previous_values(data, previous.drop_duplicates(id), {
            v + s: v + s for v, s, _ in pairs if v not in stock}, id=id)
        needs_previous = np.ones(n, dtype=bool)

        def before(column: str) -> np.ndarray:
            return prev[column]
    else:
        needs_previous = np.zeros(n, dtype=bool)

        def before(column: str) -> np.ndarray:  # pragma: no cover - never needed
            return np.full(n, np.nan)

    derived, problems = {}, []
    for v, suffix, target in pairs:
        now = data[v + suffix].to_numpy(dtype=float, na_value=np.nan)
        if v in stock or not needs_previous.any():
            derived[target] = now
            continue
        earlier = before(v + suffix)
        derived[target] = np.where(needs_previous, now - earlier, now)
        if suffix != ytd_suffix:
            continue
        dec = needs_previous & np.isfinite(now) & np.isfinite(earlier) & (now < earlier)
        miss = needs_previous & np.isfinite(now) & ~np.isfinite(earlier)
        for mask, name in ((dec, "cumulative_decrease"), (miss, "missing_previous_quarter")):
            if mask.any():  # one frame of all at the end
                problems.append((ids[mask], v, name, now[mask], earlier[mask]))
    out = data.copy()  # the new columns in one concatenation (not one insertion each)
    for target in [t for t in derived if t in data.columns]:
        out[target] = derived.pop(target)
    out = pd.concat([out, pd.DataFrame(derived, index=out.index)], axis=1).__finalize__(data)
    table = pd.DataFrame({
        id: np.concatenate([p[0] for p in problems]),
        "variable": np.repeat([p[1] for p in problems], [len(p[0]) for p in problems]),
        "problem": np.repeat([p[2] for p in problems], [len(p[0]) for p in problems]),
        "value": np.concatenate([p[3] for p in problems]),
        "previous": np.concatenate([p[4] for p in problems])}) if problems else pd.DataFrame({
        id: pd.Series(dtype="str"), "variable": pd.Series(dtype="str"),
        "problem": pd.Series(dtype="str"), "value": pd.Series(dtype=float),
        "previous": pd.Series(dtype=float)})
    return QuarterConversion(frame=out, problems=table)


def previous_values(data: pd.DataFrame, previous: pd.DataFrame | None,
                    columns: dict[str, str], *, id: str = "firm_id") -> dict[str, np.ndarray]:
    """``{name: values}``: per row of ``data`` the value of each ``previous`` column
    (``columns``: name to column) of the same ``id`` (one row per id), NaN where the unit
    is not in ``previous`` or ``previous`` is ``None`` (a first quarter).

    Examples
    --------
    >>> q1 = pd.DataFrame({"firm_id": ["a", "b"], "go_ytd": [10.0, 6.0]})
    >>> q2 = pd.DataFrame({"firm_id": ["b", "c"]})
    >>> previous_values(q2, q1, {"go_ytd_previous": "go_ytd"})["go_ytd_previous"].tolist()
    [6.0, nan]
    """
    if previous is None:
        return {name: np.full(len(data), np.nan) for name in columns}
    where = pd.Index(previous[id]).get_indexer(data[id])  # -1: not in the previous quarter
    return {name: np.where(where >= 0, previous[column].to_numpy(dtype=float, na_value=np.nan)[
        np.maximum(where, 0)], np.nan) if len(previous) else np.full(len(data), np.nan)
            for name, column in columns.items()}


def quarterly_from_ytd(
    returns: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    id: str = "firm_id",
    period: str = "period",
    stocks: Sequence[str] = (),
) -> pd.DataFrame:
    """The frame of :func:`ytd_to_quarters` on a panel (``period=`` form).

    A shorthand: ``quarterly_from_ytd(panel, vars)`` is
    ``ytd_to_quarters(panel, variables=vars, period="period").frame``.

    Examples
    --------
    >>> r = pd.DataFrame({"firm_id": ["a", "a", "a"], "period": ["2006Q1", "2006Q2", "2006Q3"],
    ...                   "gross_output_ytd": [10.0, 25.0, 45.0],
    ...                   "gross_output_ytd_last_year": [8.0, 20.0, 33.0]})
    >>> quarterly_from_ytd(r, "gross_output")[["period", "gross_output", "gross_output_last_year"]]
       period  gross_output  gross_output_last_year
    0  2006Q1          10.0                     8.0
    1  2006Q2          15.0                    12.0
    2  2006Q3          20.0                    13.0
    """
    return ytd_to_quarters(returns, variables=variables, stocks=stocks, period=period, id=id).frame
