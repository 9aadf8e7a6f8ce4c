"""Design-based estimators: totals, means, ratios, proportions, by domain.

Each estimator computes point estimates by domain with group sums and hands
its influence values (linearised scores) to the one variance engine
(:mod:`survey.estimation.variance`), or to the replicate engine for a replicate design.

Influence values (row ``i`` in domain ``d``, weight ``w_i``):

* total ``Y_d``: ``z_i = w_i y_i``;
* ratio ``R_d = Y_d / X_d``: ``z_i = w_i (y_i - R_d x_i) / X_d``;
* mean: the ratio with ``x_i = 1``; proportion: the mean of an indicator.

These functions become methods of :class:`survey.Survey`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SurveyError
from survey.estimation.results import Estimate
from survey.estimation.variance import full_covariance, linearization_variance

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["total", "mean", "ratio", "proportion", "ratio_total"]

NaPolicy = Literal["error", "drop"]


# ---------------------------------------------------------------------------
# building blocks
def _as_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise ColumnError(f"{what} must be a column name or a list of column names, got {value!r}")
    return out


def _numeric_column(s: "Survey", name: str) -> np.ndarray:
    col = s._data[name] if name in s._data.columns else None
    if col is None:
        s._column(name)  # raises a ColumnError with suggestions
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        if pd.api.types.is_bool_dtype(col):
            return col.to_numpy(dtype=float, na_value=np.nan)
        raise ColumnError(
            f"column {name!r} has dtype {col.dtype}; totals, means and ratios need a numeric "
            "column (use proportion() for a categorical one)"
        )
    return col.to_numpy(dtype=float, na_value=np.nan)


def _domains(s: "Survey", by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code per row (-1 outside the subset) and the table of domain keys."""
    n = len(s._data)
    mask = s._mask
    if not by:
        dom = np.zeros(n, dtype=np.intp)
        keys = pd.DataFrame(index=range(1))
    else:
        missing = [b for b in by if b not in s._data.columns]
        if missing:
            s._column(missing[0])
        frame = s._data[by]
        isna = frame.isna().any(axis=1).to_numpy()
        relevant = isna if mask is None else (isna & mask)
        if relevant.any():
            rows = s._data.index[relevant][:5].tolist()
            cols = [b for b in by if s._data[b].isna().to_numpy()[relevant].any()]
            raise ColumnError(
                f"domain column(s) {cols} have missing values in {int(relevant.sum())} row(s), "
                f"first at rows {rows}; fill them or subset them out before estimating by domain"
            )
        if mask is not None:
            frame = frame[mask]
        grouped = frame.groupby(by, sort=True, observed=True)
        codes_in = grouped.ngroup().to_numpy().astype(np.intp)
        keys = grouped.size().index.to_frame(index=False)
        dom = np.full(n, -1, dtype=np.intp)
        if mask is None:
            dom = codes_in
        else:
            dom[mask] = codes_in
        return dom, keys
    if mask is not None:
        dom = np.where(mask, dom, -1)
    return dom, keys


def _values(
    s: "Survey", names: list[str], dom: np.ndarray, na: NaPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Numeric values (n, k) with NaN set to 0, and the validity mask (n, k)."""
    if na not in ("error", "drop"):
        raise SurveyError(f"na={na!r} must be 'error' or 'drop'")
    y = np.column_stack([_numeric_column(s, v) for v in names])
    valid = np.isfinite(y)
    inside = dom >= 0
    bad = ~valid & inside[:, None]
    if bad.any() and na == "error":
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = s._data.index[bad[:, j]][:5].tolist()
        raise ColumnError(
            f"column {names[j]!r} has {int(bad[:, j].sum())} missing value(s), first at rows {rows}; "
            "pass na='drop' to treat them as outside the domain (R na.rm=TRUE)"
        )
    if inside.all() and not bad.any():
        return y, valid
    valid &= inside[:, None]
    return np.where(valid, y, 0.0), valid


def _group_sums(dom: np.ndarray, values: np.ndarray, D: int) -> np.ndarray:
    if dom.size and dom.min() >= 0:
        d, v = dom, values
    else:
        inside = dom >= 0
        d, v = dom[inside], values[inside]
    return np.column_stack(
        [np.bincount(d, weights=v[:, j], minlength=D) for j in range(v.shape[1])]
    ) if v.shape[1] else np.zeros((D, 0))


def _residualise(s: "Survey", z: np.ndarray) -> np.ndarray:
    """Scores after weighting (GREG / raking residuals, R ``svyrecvar``); see survey.estimation.calibrate."""
    from survey.estimation.calibrate import residualize

    return residualize(z, s._weighting, s._weights)


def _finish(
    s: "Survey",
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
    D, k = point.shape
    if s._replicates is not None:
        from survey.estimation.replicate import replicate_variance

        rep = s._replicates
        var = np.asarray(replicate_variance(rep, s._weights, numerator, denominator, dom, D))
        cov = np.full((D, k, k), np.nan)
        idx = np.arange(k)
        cov[:, idx, idx] = var
        if denominator is None and 1 < k <= 12:
            # covariances of totals by polarisation: Cov(a, b) = (V(a + b) - V(a - b)) / 4,
            # exact for the replicate variance (a quadratic form in the replicate totals)
            ia, ib = np.triu_indices(k, 1)
            both = np.hstack([numerator[:, ia] + numerator[:, ib], numerator[:, ia] - numerator[:, ib]])
            vv = np.asarray(replicate_variance(rep, s._weights, both, None, dom, D))
            c = (vv[:, : ia.size] - vv[:, ia.size :]) / 4.0
            cov[:, ia, ib] = c
            cov[:, ib, ia] = c
        return Estimate(
            statistic=statistic,
            by=tuple(by),
            method=str(getattr(s._replicates, "method", "replicate")),
            domains=keys,
            variables=tuple(variables),
            point=point,
            cov=cov,
            df=int(getattr(s._replicates, "df", s.df)),
            n=n,
        )
    calibrated = any(step.model is not None or step.kind == "rake" for step in s._weighting)
    structure = s._structure

    def spread() -> np.ndarray:
        """Scores as (n, D*k): column d*k+j holds variable j in domain d."""
        full = np.zeros((scores.shape[0], D * k))
        inside = dom >= 0
        rows = np.flatnonzero(inside)
        for j in range(k):
            full[rows, dom[inside] * k + j] = scores[inside, j]
        return _residualise(s, full) if calibrated else full

    if calibrated:
        # residuals spread outside the domain: use the full (dense) engine, in chunks of domains
        cov = np.zeros((D, k, k))
        chunk = max(1, int(2e7 // max(1, scores.shape[0] * k)))
        z_all = None
        if D * k * scores.shape[0] <= 5e7:
            z_all = spread()
        for start in range(0, D, chunk):
            stop = min(D, start + chunk)
            if z_all is not None:
                zc = z_all[:, start * k : stop * k]
            else:
                sel = (dom >= start) & (dom < stop)
                sub = np.zeros((scores.shape[0], (stop - start) * k))
                rows = np.flatnonzero(sel)
                for j in range(k):
                    sub[rows, (dom[sel] - start) * k + j] = scores[sel, j]
                zc = _residualise(s, sub)
            v = full_covariance(zc, structure)
            dc = np.arange(stop - start)
            cov[start:stop] = v.reshape(dc.size, k, dc.size, k)[dc, :, dc, :]  # diagonal blocks
    else:
        cov = linearization_variance(scores, dom, D, structure)

    def full_vcov() -> np.ndarray:
        return full_covariance(spread(), structure)

    return Estimate(
        statistic=statistic,
        by=tuple(by),
        method="linearization",
        domains=keys,
        variables=tuple(variables),
        point=point,
        cov=cov,
        df=structure.df,
        n=n,
        full_vcov=full_vcov,
    )


def _ratio_parts(
    s: "Survey", y: np.ndarray, x: np.ndarray, valid: np.ndarray, dom: np.ndarray, D: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio point estimates (D, k), their scores (n, k) and denominators (D, k)."""
    w = s._weights[:, None] * valid
    Y = _group_sums(dom, w * y, D)
    X = _group_sums(dom, w * x, D)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(X != 0, Y / X, np.nan)
    d = np.where(dom >= 0, dom, 0)
    Rrow = np.where(valid, R[d], 0.0)
    Xrow = X[d]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(valid & (Xrow != 0), w * (y - np.nan_to_num(Rrow) * x) / Xrow, 0.0)
    return R, z, X


def _counts(s: "Survey", valid: np.ndarray, dom: np.ndarray, D: int) -> np.ndarray:
    positive = (s._weights > 0).astype(float)
    if valid.all():
        one = _group_sums(dom, positive[:, None], D)
        return np.repeat(one, valid.shape[1], axis=1)
    return _group_sums(dom, positive[:, None] * valid, D)


# ---------------------------------------------------------------------------
# public estimators (methods of Survey)
def total(
    self: "Survey", y: str | Sequence[str], by: str | Sequence[str] | None = None, *, na: NaPolicy = "error"
) -> Estimate:
    """Estimated population totals (Horvitz-Thompson / weighted), by domain.

    Parameters
    ----------
    y : str or list of str
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
    names = _as_list(y, "y")
    byl = _as_list(by, "by")
    dom, keys = _domains(self, byl)
    D = len(keys)
    values, valid = _values(self, names, dom, na)
    z = self._weights[:, None] * values
    point = _group_sums(dom, z, D)
    return _finish(self, "total", byl, keys, names, point, z, dom, _counts(self, valid, dom, D), values, None)


def mean(
    self: "Survey", y: str | Sequence[str], by: str | Sequence[str] | None = None, *, na: NaPolicy = "error"
) -> Estimate:
    """Estimated population means (ratio of weighted totals), by domain.

    Parameters
    ----------
    y : str or list of str
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
    names = _as_list(y, "y")
    byl = _as_list(by, "by")
    dom, keys = _domains(self, byl)
    D = len(keys)
    values, valid = _values(self, names, dom, na)
    R, z, _ = _ratio_parts(self, values, np.ones_like(values), valid, dom, D)
    return _finish(
        self, "mean", byl, keys, names, R, z, dom, _counts(self, valid, dom, D), values, valid.astype(float)
    )


def ratio(
    self: "Survey",
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
    nums = _as_list(numerator, "numerator")
    dens = _as_list(denominator, "denominator")
    byl = _as_list(by, "by")
    dom, keys = _domains(self, byl)
    D = len(keys)
    ny, vy = _values(self, nums, dom, na)
    nx, vx = _values(self, dens, dom, na)
    iy = np.repeat(np.arange(len(nums)), len(dens))
    ix = np.tile(np.arange(len(dens)), len(nums))
    valid = vy[:, iy] & vx[:, ix]
    y = np.where(valid, ny[:, iy], 0.0)
    x = np.where(valid, nx[:, ix], 0.0)
    R, z, _ = _ratio_parts(self, y, x, valid, dom, D)
    labels = [f"{nums[a]}/{dens[b]}" for a, b in zip(iy, ix, strict=True)]
    return _finish(self, "ratio", byl, keys, labels, R, z, dom, _counts(self, valid, dom, D), y, x)


def ratio_total(
    self: "Survey",
    y: str,
    x: str,
    x_total: float | Mapping[Any, float] | pd.Series,
    by: str | Sequence[str] | None = None,
    *,
    na: NaPolicy = "error",
) -> Estimate:
    """Ratio estimator of a total: ``(Y / X) * X_pop`` with a known auxiliary total.

    Equals R ``predict(svyratio(~y, ~x, design), total = X_pop)``.

    Parameters
    ----------
    y, x : str
        Study variable and auxiliary variable.
    x_total : float, mapping or pandas.Series
        Known population total of ``x``: a number (no ``by``), or one total per
        domain keyed by the domain value (a tuple for several ``by`` columns).
    by : str or list of str, optional
    na : {"error", "drop"}, default="error"

    Returns
    -------
    Estimate
        Labelled with the name of ``y``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"w": [2.0, 2, 2], "y": [1.0, 2, 3], "x": [1.0, 1, 2]})
    >>> float(sv.Survey(df, sv.Design(weights="w")).ratio_total("y", "x", 10).estimate[0])
    15.0
    """
    r = ratio(self, y, x, by, na=na)
    D = r.point.shape[0]
    if isinstance(x_total, (int, float, np.integer, np.floating)):
        if r.by:
            raise SurveyError("with by=, give x_total as a mapping from domain to total")
        scale = np.full(D, float(x_total))
    else:
        lookup = dict(x_total.items()) if hasattr(x_total, "items") else None
        if lookup is None:
            raise SurveyError("x_total must be a number, a mapping or a pandas Series")
        keys = [tuple(row) if len(r.by) > 1 else row[0] for row in r.domains.itertuples(index=False)]
        missing = [k for k in keys if k not in lookup]
        if missing:
            raise SurveyError(f"x_total has no total for domain(s) {missing[:5]}")
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
        variables=(y,),
        point=point,
        cov=cov,
        df=r.df,
        n=r.n,
        full_vcov=full,
    )


def proportion(
    self: "Survey", y: str, by: str | Sequence[str] | None = None, *, na: NaPolicy = "error"
) -> Estimate:
    """Estimated population proportions of each level of a categorical column.

    Parameters
    ----------
    y : str
        Categorical column; rows are labelled ``"y=level"`` in sorted level order.
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
    if not isinstance(y, str):
        raise ColumnError("proportion takes one categorical column name")
    col = self._data[y] if y in self._data.columns else self._column(y)
    byl = _as_list(by, "by")
    dom, keys = _domains(self, byl)
    D = len(keys)
    codes, levels = pd.factorize(col, sort=True)
    missing = (codes < 0) & (dom >= 0)
    if missing.any() and na == "error":
        rows = self._data.index[missing][:5].tolist()
        raise ColumnError(
            f"column {y!r} has {int(missing.sum())} missing value(s), first at rows {rows}; "
            "pass na='drop' to treat them as outside the domain"
        )
    L = len(levels)
    ok = (codes >= 0) & (dom >= 0)
    ind = np.zeros((len(codes), L))
    ind[np.flatnonzero(ok), codes[ok]] = 1.0
    valid = np.repeat(ok[:, None], L, axis=1)
    R, z, _ = _ratio_parts(self, ind, np.ones_like(ind), valid, dom, D)
    labels = [f"{y}={lev}" for lev in levels]
    return _finish(
        self, "proportion", byl, keys, labels, R, z, dom, _counts(self, valid, dom, D), ind, valid.astype(float)
    )
