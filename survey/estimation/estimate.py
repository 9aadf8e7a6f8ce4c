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

from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SurveyError
from survey.estimation.domains import (
    NaPolicy,
    column_list,
    domain_codes,
    domain_degrees_of_freedom,
    domain_values,
    group_sums,
    ratio_scores,
    srs_variance,
    unit_counts,
)
from survey.estimation.intervals import CI_METHODS
from survey.estimation.results import Estimate
from survey.estimation.variance import domain_covariance

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["total", "mean", "ratio", "proportion", "ratio_total", "Deff"]

#: Design effects: ``False``, ``True`` (against SRS without replacement) or ``"replace"``.
Deff = bool | Literal["replace"]


def _check_deff(deff: Any) -> None:
    if deff not in (False, True, "replace") or (deff is not False and deff is not True and deff != "replace"):
        raise SurveyError(f"deff={deff!r} must be False, True or 'replace'")


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
    *,
    deff: Deff = False,
    srs: Callable[[bool], np.ndarray] | None = None,
    likelihood: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
    ci: str | None = None,
) -> Estimate:
    """The Estimate of ``point`` with the covariance from the variance engine."""
    D = point.shape[0]
    v = domain_covariance(survey, scores, dom, D, numerator=numerator, denominator=denominator)
    deff_values = None
    if deff is not False and srs is not None:
        var = np.diagonal(v.cov, axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            deff_values = var / srs(deff == "replace")
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
        deff=deff_values,
        ci_method=ci,
        variance_parts=v.parts,
        domain_df=lambda: domain_degrees_of_freedom(survey, dom, D),
        likelihood=likelihood,
        replicate_values=v.replicates,
        replicate_rule=survey.replicates,
    )


def _likelihood_inputs(
    survey: Survey, values: np.ndarray, valid: np.ndarray, dom: np.ndarray, D: int, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``m`` and dispersion ``phi`` (design variance of the Pearson residuals) per (domain, column).

    R ``summary.svyglm``: ``phi = svyvar((y - p) / sqrt(p (1 - p)))``, which is
    ``n / (n - 1)`` for 0/1 values.
    """
    w = np.asarray(survey.weights, dtype=float)[:, None]
    inside = valid & (dom >= 0)[:, None]
    m = group_sums(dom, inside.astype(float), D)
    W = group_sums(dom, np.where(inside, w, 0.0), D)
    d = np.where(dom >= 0, dom, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pr = p[d]  # Pearson residuals without the prior weights (R residuals.svyglm)
        r = np.where(inside, (values - pr) / np.sqrt(pr * (1.0 - pr)), 0.0)
        rbar = group_sums(dom, w * r, D) / W
        npos = group_sums(dom, (inside & (w > 0)).astype(float), D)
        phi = group_sums(dom, np.where(inside, w * (r - rbar[d]) ** 2, 0.0), D) / W * npos / (npos - 1.0)
    return m, phi


# ---------------------------------------------------------------------------
# public estimators (also methods of Survey)
def total(
    survey: Survey,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
    deff: Deff = False,
) -> Estimate:
    """Estimated population totals (Horvitz-Thompson / weighted), by domain.

    Parameters
    ----------
    survey : Survey
    variables : str or list of str
        Numeric column(s).
    by : str or list of str, optional
        Domain column(s). Domains keep the whole design (R ``svyby``).
    na : {"error", "drop", "drop_each"}, default="error"
        Missing values raise an error; ``"drop"`` treats a row with a missing
        value in any of ``variables`` as outside the domain for all of them
        (R ``na.rm = TRUE``: complete cases); ``"drop_each"`` per variable.
    deff : bool or "replace", default=False
        Add a ``deff`` column: the design variance over the variance of the
        same estimator under simple random sampling without replacement
        (``"replace"``: with replacement), as R ``svytotal(deff=)``; see
        :func:`survey.estimation.domains.srs_variance`.

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
    _check_deff(deff)
    names = column_list(variables, "variables")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    values, valid = domain_values(survey, names, dom, na)
    n = unit_counts(survey, valid, dom, D)
    srs = None
    if deff is not False:  # the SRS variance needs the values and their validity
        srs = lambda replace: srs_variance(survey, values, valid, dom, D, "total", replace)  # noqa: E731
    else:
        del valid
    if survey.replicates is None and srs is None:  # the values are not needed again: scores in place
        z = values
        z *= survey.weights[:, None]
    else:
        z = survey.weights[:, None] * values
    point = group_sums(dom, z, D)
    return _estimate(survey, "total", byl, keys, names, point, z, dom, n, values, None, deff=deff, srs=srs)


def mean(
    survey: Survey,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
    deff: Deff = False,
) -> Estimate:
    """Estimated population means (ratio of weighted totals), by domain.

    Parameters
    ----------
    survey : Survey
    variables : str or list of str
        Numeric column(s).
    by : str or list of str, optional
        Domain column(s).
    na : {"error", "drop", "drop_each"}, default="error"
        As :func:`total` (``"drop"``: complete cases across ``variables``, as R).
    deff : bool or "replace", default=False
        Add a ``deff`` column (R ``svymean(deff=)``).

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
    _check_deff(deff)
    names = column_list(variables, "variables")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    values, valid = domain_values(survey, names, dom, na)
    R, z, _ = ratio_scores(survey, values, np.ones_like(values), valid, dom, D)
    return _estimate(
        survey, "mean", byl, keys, names, R, z, dom, unit_counts(survey, valid, dom, D), values, valid.astype(float),
        deff=deff, srs=lambda replace: srs_variance(survey, values, valid, dom, D, "mean", replace),
        likelihood=lambda: _likelihood_inputs(survey, values, valid, dom, D, R),
    )


def ratio(
    survey: Survey,
    numerator: str | Sequence[str],
    denominator: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
    deff: Deff = False,
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
    na : {"error", "drop", "drop_each"}, default="error"
        ``"drop"``: complete cases across all numerators and denominators (R
        ``svyratio(na.rm = TRUE)``); ``"drop_each"``: per (numerator, denominator) pair.
    deff : bool or "replace", default=False
        Add a ``deff`` column: R's definition, the deff of the total of
        ``(y - R x) / X`` (R ``svyratio(deff=)``).

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
    _check_deff(deff)
    nums = column_list(numerator, "numerator")
    dens = column_list(denominator, "denominator")
    byl = column_list(by, "by")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    both = list(dict.fromkeys(nums + dens))  # complete cases across all of them under na="drop"
    values_all, valid_all = domain_values(survey, both, dom, na)
    pos = {name: j for j, name in enumerate(both)}
    jy = np.array([pos[c] for c in nums])
    jx = np.array([pos[c] for c in dens])
    ny, vy, nx, vx = values_all[:, jy], valid_all[:, jy], values_all[:, jx], valid_all[:, jx]
    iy = np.repeat(np.arange(len(nums)), len(dens))
    ix = np.tile(np.arange(len(dens)), len(nums))
    valid = vy[:, iy] & vx[:, ix]
    y = np.where(valid, ny[:, iy], 0.0)
    x = np.where(valid, nx[:, ix], 0.0)
    R, z, _ = ratio_scores(survey, y, x, valid, dom, D)
    labels = [f"{nums[a]}/{dens[b]}" for a, b in zip(iy, ix, strict=True)]

    def srs(replace: bool) -> np.ndarray:
        w = np.asarray(survey.weights, dtype=float)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(valid & (w > 0), z / w, 0.0)  # (y - R x) / X
        return srs_variance(survey, r, valid, dom, D, "total", replace)

    return _estimate(
        survey, "ratio", byl, keys, labels, R, z, dom, unit_counts(survey, valid, dom, D), y, x, deff=deff, srs=srs
    )


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
    survey: Survey,
    variable: str,
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
    deff: Deff = False,
    ci: str | None = None,
) -> Estimate:
    """Estimated population proportions of each level of a categorical column.

    Parameters
    ----------
    survey : Survey
    variable : str
        Categorical column; rows are labelled ``"variable=level"`` in sorted level order.
    by : str or list of str, optional
    na : {"error", "drop", "drop_each"}, default="error"
        ``"drop"`` and ``"drop_each"`` (one variable) treat missing values as outside the domain.
    deff : bool or "replace", default=False
        Add a ``deff`` column (as the mean of the level's indicator).
    ci : {"mean", "logit", "likelihood", "beta", "asin", "xlogit"}, optional
        Interval method of the table (R ``svyciprop``), with the degrees of
        freedom of every domain's design; default the symmetric t interval.
        Any method is also available afterwards: ``Estimate.ci(method=...)``.

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
    _check_deff(deff)
    if ci is not None and ci not in CI_METHODS:
        raise SurveyError(f"ci={ci!r} is not one of {', '.join(CI_METHODS)}")
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
        survey, "proportion", byl, keys, labels, R, z, dom, unit_counts(survey, valid, dom, D), ind, valid.astype(float),
        deff=deff, srs=lambda replace: srs_variance(survey, ind, valid, dom, D, "mean", replace),
        likelihood=lambda: _likelihood_inputs(survey, ind, valid, dom, D, R), ci=ci,
    )
