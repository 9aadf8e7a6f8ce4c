"""Design-based estimators: totals, means, ratios, proportions, by domain.

Each estimator computes point estimates by domain with group sums and hands
its influence values (linearised scores) to the one variance engine
(:mod:`survey.estimation.variance`), or to the replicate engine for a replicate design.

Influence values (row ``i`` in domain ``d``, weight ``w_i``):

* total ``Y_d``: ``z_i = w_i y_i``;
* ratio ``R_d = Y_d / X_d``: ``z_i = w_i (y_i - R_d x_i) / X_d``;
* mean: the ratio with ``x_i = 1``; proportion: the mean of an indicator.

:class:`survey.Survey` has them as methods (``s.total("y", by="region")``).
The building blocks (domain codes, values, ratio scores) are in
:mod:`survey.estimation.domains`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SurveyError
from survey.estimation.domains import (
    NaPolicy,
    column_list,
    domain_codes,
    domain_values,
    group_sums,
    ratio_scores,
    unit_counts,
)
from survey.estimation.results import Estimate
from survey.estimation.variance import domain_covariance

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["total", "mean", "ratio", "proportion", "ratio_total"]


def _estimate(
    survey: Survey,
    statistic: str,
    by: list[str],
    keys: pd.DataFrame,
    variables: list[str],
    point: np.ndarray,
    scores: np.ndarray,
    dom: np.ndarray,
    n: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
) -> Estimate:
    """The Estimate of ``point`` with the covariance from the variance engine."""
    v = domain_covariance(survey, scores, dom, point.shape[0], numerator=numerator, denominator=denominator)
    return Estimate(
        statistic=statistic,
        by=tuple(by),
        method=v.method,
        domains=keys,
        variables=tuple(variables),
        point=point,
        cov=v.cov,
        df=v.df,
        n=n,
        full_vcov=v.full,
    )


# ---------------------------------------------------------------------------
# public estimators (also methods of Survey)
def total(
    survey: Survey,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
) -> Estimate:
    """Estimated population totals (Horvitz-Thompson / weighted), by domain.

    Parameters
    ----------
    survey : Survey
    variables : str or list of str
        Numeric column(s).
    by : str or list of str, optional
        Domain column(s). Domains keep the whole design (R ``svyby``).
    na : {"error", "drop"}, default="error"
        Missing values raise an error, or are treated as outside the domain.

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6],
    ...                    "r": ["a", "b", "a", "b"]})
    >>> sv.Survey(df, sv.Design(strata="h", weights="w")).total("y", by="r").table()[["r", "estimate"]]
       r  estimate
    0  a       8.0
    1  b      24.0
    """
    names = column_list(variables, "variables")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    values, valid = domain_values(survey, names, dom, na)
    n = unit_counts(survey, valid, dom, D)
    del valid
    if survey.replicates is None:  # the values are not needed again: scores in place
        z = values
        z *= survey.weights[:, None]
    else:
        z = survey.weights[:, None] * values
    point = group_sums(dom, z, D)
    return _estimate(survey, "total", byl, keys, names, point, z, dom, n, values, None)


def mean(
    survey: Survey,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
) -> Estimate:
    """Estimated population means (ratio of weighted totals), by domain.

    Parameters
    ----------
    survey : Survey
    variables : str or list of str
        Numeric column(s).
    by : str or list of str, optional
        Domain column(s).
    na : {"error", "drop"}, default="error"

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3]})
    >>> float(sv.Survey(df, sv.Design(weights="w")).mean("y").estimate[0])
    2.25
    """
    names = column_list(variables, "variables")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    values, valid = domain_values(survey, names, dom, na)
    R, z, _ = ratio_scores(survey, values, np.ones_like(values), valid, dom, D)
    return _estimate(
        survey, "mean", byl, keys, names, R, z, dom, unit_counts(survey, valid, dom, D), values, valid.astype(float)
    )


def ratio(
    survey: Survey,
    numerator: str | Sequence[str],
    denominator: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
) -> Estimate:
    """Estimated ratios of population totals ``Y / X``, by domain.

    All combinations of numerators and denominators are estimated (as R
    ``svyratio``); rows are labelled ``"num/den"``.

    Parameters
    ----------
    survey : Survey
    numerator, denominator : str or list of str
        Numeric columns.
    by : str or list of str, optional
        Domain column(s).
    na : {"error", "drop"}, default="error"

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3], "x": [2.0, 2, 2]})
    >>> sv.Survey(df, sv.Design(weights="w")).ratio("y", "x").table()["variable"].tolist()
    ['y/x']
    """
    nums = column_list(numerator, "numerator")
    dens = column_list(denominator, "denominator")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    ny, vy = domain_values(survey, nums, dom, na)
    nx, vx = domain_values(survey, dens, dom, na)
    iy = np.repeat(np.arange(len(nums)), len(dens))
    ix = np.tile(np.arange(len(dens)), len(nums))
    valid = vy[:, iy] & vx[:, ix]
    y = np.where(valid, ny[:, iy], 0.0)
    x = np.where(valid, nx[:, ix], 0.0)
    R, z, _ = ratio_scores(survey, y, x, valid, dom, D)
    labels = [f"{nums[a]}/{dens[b]}" for a, b in zip(iy, ix, strict=True)]
    return _estimate(survey, "ratio", byl, keys, labels, R, z, dom, unit_counts(survey, valid, dom, D), y, x)


def ratio_total(
    survey: Survey,
    variable: str,
    auxiliary: str,
    auxiliary_total: float | Mapping[Any, float] | pd.Series,
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
) -> Estimate:
    """Ratio estimator of a total: ``(Y / X) * X_pop`` with a known auxiliary total.

    Equals R ``predict(svyratio(~y, ~x, design), total = X_pop)``.

    Parameters
    ----------
    survey : Survey
    variable, auxiliary : str
        Study variable ``y`` and auxiliary variable ``x``.
    auxiliary_total : float, mapping or pandas.Series
        Known population total of ``x``: a number (no ``by``), or one total per
        domain keyed by the domain value (a tuple for several ``by`` columns).
    by : str or list of str, optional
    na : {"error", "drop"}, default="error"

    Returns
    -------
    Estimate
        Labelled with the name of ``variable``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"w": [2.0, 2, 2], "y": [1.0, 2, 3], "x": [1.0, 1, 2]})
    >>> float(sv.Survey(df, sv.Design(weights="w")).ratio_total("y", "x", 10).estimate[0])
    15.0
    """
    r = ratio(survey, variable, auxiliary, by, na=na)
    D = r.point.shape[0]
    if isinstance(auxiliary_total, (int, float, np.integer, np.floating)):
        if r.by:
            raise SurveyError("with by=, give auxiliary_total as a mapping from domain to total")
        scale = np.full(D, float(auxiliary_total))
    else:
        lookup = dict(auxiliary_total.items()) if hasattr(auxiliary_total, "items") else None
        if lookup is None:
            raise SurveyError("auxiliary_total must be a number, a mapping or a pandas Series")
        keys = [tuple(row) if len(r.by) > 1 else row[0] for row in r.domains.itertuples(index=False)]
        missing = [k for k in keys if k not in lookup]
        if missing:
            raise SurveyError(f"auxiliary_total has no total for domain(s) {missing[:5]}")
        scale = np.array([float(lookup[k]) for k in keys])
    point = r.point * scale[:, None]
    cov = r.cov * (scale**2)[:, None, None]
    full = None
    if r.full_vcov is not None:
        s_rows = np.repeat(scale, r.point.shape[1])
        full = lambda: r.full_vcov() * np.outer(s_rows, s_rows)  # noqa: E731
    return Estimate(
        statistic="ratio total",
        by=r.by,
        method=r.method,
        domains=r.domains,
        variables=(variable,),
        point=point,
        cov=cov,
        df=r.df,
        n=r.n,
        full_vcov=full,
    )


def proportion(
    survey: Survey, variable: str, by: str | Sequence[str] | None = None, *, na: NaPolicy = "error"
) -> Estimate:
    """Estimated population proportions of each level of a categorical column.

    Parameters
    ----------
    survey : Survey
    variable : str
        Categorical column; rows are labelled ``"variable=level"`` in sorted level order.
    by : str or list of str, optional
    na : {"error", "drop"}, default="error"

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"w": [1.0, 1, 2], "c": ["a", "b", "b"]})
    >>> sv.Survey(df, sv.Design(weights="w")).proportion("c").estimate
    array([0.25, 0.75])
    """
    if not isinstance(variable, str):
        raise ColumnError("proportion takes one categorical column name")
    data = survey.data
    col = data[variable] if variable in data.columns else survey.column(variable)
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    codes, levels = pd.factorize(col, sort=True)
    missing = (codes < 0) & (dom >= 0)
    if missing.any() and na == "error":
        rows = data.index[missing][:5].tolist()
        raise ColumnError(
            f"column {variable!r} has {int(missing.sum())} missing value(s), first at rows {rows}; "
            "pass na='drop' to treat them as outside the domain"
        )
    L = len(levels)
    ok = (codes >= 0) & (dom >= 0)
    ind = np.zeros((len(codes), L))
    ind[np.flatnonzero(ok), codes[ok]] = 1.0
    valid = np.repeat(ok[:, None], L, axis=1)
    R, z, _ = ratio_scores(survey, ind, np.ones_like(ind), valid, dom, D)
    labels = [f"{variable}={lev}" for lev in levels]
    return _estimate(
        survey, "proportion", byl, keys, labels, R, z, dom, unit_counts(survey, valid, dom, D), ind, valid.astype(float)
    )
