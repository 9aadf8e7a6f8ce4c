"""Quarter labels, shifts between quarters, year-to-date to quarter values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, PeriodError

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ['parse_quarter', 'shift_quarter', 'quarterly_from_ytd']


# --------------------------------------------------------------------------- periods
def parse_quarter(label: str) -> tuple[int, int]:
    """Year and quarter of a label such as ``"2006Q1"``.

    Parameters
    ----------
    label : str
        ``"YYYYQn"`` with ``n`` in 1-4.

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
    """
    text = str(label).strip().upper()
    if len(text) == 6 and text[:4].isdigit() and text[4] == "Q" and text[5] in "1234":
        return int(text[:4]), int(text[5])
    raise PeriodError(f"{label!r} is not a quarter label; write quarters as '2006Q1' ... '2006Q4'")


def shift_quarter(label: str, quarters: int) -> str:
    """The quarter ``quarters`` later (negative: earlier).

    Examples
    --------
    >>> shift_quarter("2006Q1", -1), shift_quarter("2006Q3", -4)
    ('2005Q4', '2005Q3')
    """
    year, q = parse_quarter(label)
    k = year * 4 + (q - 1) + int(quarters)
    return f"{k // 4}Q{k % 4 + 1}"


def quarterly_from_ytd(
    returns: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    id_column: str = "firm_id",
    period: str = "period",
) -> pd.DataFrame:
    """Quarter values from cumulative (year-to-date) returns.

    For each variable ``v`` the returns carry ``{v}_ytd`` and
    ``{v}_ytd_last_year``; the quarter value is the difference between this
    and the previous quarter's cumulative value of the same firm (the first
    quarter is its cumulative value). Where the previous quarter's return is
    missing the quarter value is NaN (impute it, do not read it as zero).

    Parameters
    ----------
    returns : pandas.DataFrame
        One row per firm and period (``"2006Q1"`` labels).
    variables : str or list of str
        Indicator names (without the ``_ytd`` suffix).
    id_column, period : str, default="firm_id", "period"

    Returns
    -------
    pandas.DataFrame
        A copy of ``returns`` with ``{v}`` and ``{v}_last_year`` (quarter
        values) added for each variable.

    Raises
    ------
    PeriodError
        Bad period labels or a firm with two rows in one period.

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
    names = [variables] if isinstance(variables, str) else list(variables)
    for c in [id_column, period, *(f"{v}_ytd" for v in names), *(f"{v}_ytd_last_year" for v in names)]:
        if c not in returns.columns:
            raise ColumnError(f"returns have no column {c!r}; cumulative returns need {{variable}}_ytd and "
                              "{variable}_ytd_last_year columns")
    labels = returns[period].astype(str)
    uniq = pd.unique(labels)
    parsed = {u: parse_quarter(u) for u in uniq}
    year = labels.map({u: y for u, (y, _) in parsed.items()}).to_numpy(dtype=np.int64)
    quarter = labels.map({u: q for u, (_, q) in parsed.items()}).to_numpy(dtype=np.int64)
    key = pd.DataFrame({"id": returns[id_column].to_numpy(), "k": year * 4 + quarter - 1})
    if key.duplicated().any():
        row = key.index[key.duplicated()][0]
        raise PeriodError(
            f"firm {key.id.iloc[row]!r} has more than one return for period {labels.iloc[row]!r}; "
            "keep the latest revision only"
        )
    ytd = returns[[f"{v}_ytd" for v in names] + [f"{v}_ytd_last_year" for v in names]].to_numpy(dtype=float)
    # previous quarter of the same firm (same year only): look up by (id, k - 1)
    lookup = pd.MultiIndex.from_arrays([key.id, key.k])
    prev_pos = lookup.get_indexer(pd.MultiIndex.from_arrays([key.id, key.k - 1]))
    prev = np.where(prev_pos[:, None] >= 0, ytd[np.maximum(prev_pos, 0)], np.nan)
    first = (quarter == 1)[:, None]
    values = np.where(first, ytd, ytd - prev)
    out = returns.copy()
    k = len(names)
    for j, v in enumerate(names):
        out[v] = values[:, j]
        out[f"{v}_last_year"] = values[:, k + j]
    return out
