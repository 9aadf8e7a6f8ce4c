"""Year-on-year growth tables from estimates of totals (in memory or out of core).

:func:`growth_table` turns totals of a variable and of the same firms' value a year
earlier into growth per domain with its linearised standard error and interval;
:func:`estimate_table` puts an estimate into the long rows the national bulletin reads.
Both take any result with ``table()``, ``point``, ``cov``, ``df`` and ``level``
(:class:`survey.estimation.results.Estimate`, from :class:`survey.Survey` or
:func:`survey.estimation.outofcore.scan`).

Examples
--------
>>> import pandas as pd, survey as sv
>>> df = pd.DataFrame({"w": [2.0, 2.0], "y": [3.0, 5.0], "x": [2.0, 4.0]})
>>> s = sv.Survey(df, sv.Design(weights="w"))
>>> float(growth_table(s.total(["y", "x"]), "sector", None, "y", "x")["growth"].iloc[0])
0.3333333333333333
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ColumnError
from survey.io import joined_labels

__all__ = ["estimate_table", "growth_table"]


def estimate_table(est: Any, breakdown: str, by: list[str] | None) -> pd.DataFrame:
    """An Estimate as rows ``breakdown, domain, variable, estimate, se, cv, ci_low, ci_high,
    df, n``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
    >>> est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y")
    >>> estimate_table(est, "sector", None)[["domain", "estimate"]].values.tolist()
    [['all', 32.0]]
    """
    table = est.table()
    domain = (joined_labels(table, by, " / ").to_numpy() if by
              else np.full(len(table), "all", dtype=object))
    out = pd.DataFrame({"breakdown": breakdown, "domain": domain})
    for c in ("variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n"):
        out[c] = table[c].to_numpy()
    return out


def growth_table(est: Any, breakdown: str, by: list[str] | None, current: str,
                 last_year: str, *, ratio: Any = None, level: float | None = None) -> pd.DataFrame:
    """Year-on-year growth ``Y / X - 1`` per domain, with its linearised SE and interval.

    ``Y`` is the domain total of ``current`` and ``X`` that of ``last_year``
    over the same units (estimate both in one call with ``na="drop"``). The
    linearised (delta-method) variance of ``R = Y / X`` is, from the
    per-domain covariance of the two totals (``est.cov``)::

        var(R) = (V_YY - 2 R V_YX + R^2 V_XX) / X^2

    the variance of :meth:`survey.Survey.ratio` (R ``svyratio``). The
    difference of nearly equal terms loses digits where ``Y`` and ``R X``
    hardly vary apart (a domain of take-all firms: on the national test run
    the SE of one such cell, 3.5e-5, came out 1e-9 off in relative terms), so
    when ``ratio`` is given (the same domains' ``ratio(current, last_year,
    na="drop")``, whose SE comes from the linearised scores ``(y - R x) / X``
    themselves) ``R`` and its SE are taken from it; ``Y`` and ``X`` always
    from ``est``. The growth has the SE of ``R`` and a t interval with the
    design df (as the totals').

    Parameters
    ----------
    est : Estimate
        Totals of (at least) ``current`` and ``last_year``, by ``by``.
    breakdown : str
        Name written in the ``breakdown`` column.
    by : list of str or None
    current, last_year : str
        The two variables of ``est``.
    ratio : Estimate, optional
        ``ratio(current, last_year, by=by, na="drop")`` of the same data.
    level : float, optional
        Confidence level (default: the estimate's).

    Returns
    -------
    pandas.DataFrame
        ``breakdown, domain, variable, current, last_year, growth, se,
        ci_low, ci_high, level`` (``variable`` is ``current``; growth as a
        fraction, 0.05 = 5%).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [2.0, 4, 3, 7],
    ...                    "x": [1.0, 3, 2, 6]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> g = growth_table(s.total(["y", "x"]), "sector", None, "y", "x")
    >>> float(g["growth"].iloc[0])  # 42 / 32 - 1
    0.3125
    >>> r = growth_table(s.total(["y", "x"]), "sector", None, "y", "x", ratio=s.ratio("y", "x"))
    >>> bool(abs(r["se"].iloc[0] - g["se"].iloc[0]) < 1e-12)
    True
    """
    from survey.estimation.results import t_quantile

    names = list(est.variables)
    missing = [v for v in (current, last_year) if v not in names]
    if missing:
        raise ColumnError(f"growth_table: {missing} are not variables of the estimate "
                            f"({names})")
    i, j = names.index(current), names.index(last_year)
    point = np.asarray(est.point, dtype=float)
    Y, X = point[:, i], point[:, j]
    table = est.table()
    keys = table[table["variable"] == current].reset_index(drop=True)
    domain = (joined_labels(keys, by, " / ").to_numpy() if by
              else np.full(len(keys), "all", dtype=object))
    if ratio is None:
        cov = np.asarray(est.cov, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            R = np.where(X != 0, Y / X, np.nan)
            var = (cov[:, i, i] - 2 * R * cov[:, i, j] + R * R * cov[:, j, j]) / (X * X)
        se = np.sqrt(np.clip(var, 0.0, None))
    else:
        label = f"{current}/{last_year}"
        rt = ratio.table()
        rt = rt[rt["variable"] == label].reset_index(drop=True)
        if len(rt) == 0:
            raise ColumnError(f"growth_table: the ratio estimate has no {label!r} rows")
        rdom = (joined_labels(rt, by, " / ").to_numpy() if by
                else np.full(len(rt), "all", dtype=object))
        at = pd.Series(np.arange(len(rt)), index=rdom).reindex(domain)
        if at.isna().any():
            raise ColumnError(f"growth_table: domains {list(at.index[at.isna()])[:5]} of the "
                                "totals are not in the ratio estimate")
        pos = at.to_numpy(dtype=np.int64)
        R = rt["estimate"].to_numpy(dtype=float)[pos]
        se = rt["se"].to_numpy(dtype=float)[pos]
    level = float(est.level if level is None else level)
    q = t_quantile(level, est.df)
    return pd.DataFrame({
        "breakdown": breakdown, "domain": domain, "variable": current, "current": Y,
        "last_year": X, "growth": R - 1.0, "se": se, "ci_low": R - 1.0 - q * se,
        "ci_high": R - 1.0 + q * se, "level": level,
    })
