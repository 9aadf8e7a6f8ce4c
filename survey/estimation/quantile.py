"""Quantiles (medians, percentiles) with design-based standard errors.

* Linearisation: Woodruff's interval. The interval of the distribution
  function at the estimated quantile, ``q -/+ t se(F(x_q))``, is mapped back
  through the estimated quantile function (R ``svyquantile``,
  ``interval.type="mixed"``, ``qrule="math"``); the reported SE is the
  interval's width over ``2 t`` at the 95% level. ``t`` has the degrees of
  freedom of the domain (its PSUs minus its strata, R ``svyby(...,
  svyquantile)``, which runs on the domain's subset design).
* Replicate weights (bootstrap, BRR, Fay, imported): the quantile is
  recomputed with every replicate's weights; the jackknives are refused
  (the delete-one jackknife is inconsistent for quantiles).

The quantile of level ``q`` is the smallest value ``x`` with ``F(x) >= q``,
``F`` the weighted distribution function of the domain (R ``qrule="math"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from survey.errors import ReplicateError, SurveyError, WeightError
from survey.estimation.domains import (
    NaPolicy,
    column_list,
    domain_codes,
    domain_degrees_of_freedom,
    domain_values,
    ratio_scores,
    unit_counts,
)
from survey.estimation.replicate_weights import replicate_weights
from survey.estimation.results import Estimate, t_quantile
from survey.estimation.variance import domain_covariance

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.replicate import ReplicateDesign
    from survey.estimation.survey import Survey

__all__ = ["quantile", "weighted_quantiles", "QuantileEstimate"]

_TOL = 1e-12  # relative tolerance on F(x) >= q (cumulated rounding of the weights)


@dataclass(frozen=True, kw_only=True, eq=False)
class QuantileEstimate(Estimate):
    """An :class:`~survey.estimation.results.Estimate` of quantiles.

    With linearisation the interval is Woodruff's (not symmetric around the
    estimate); ``table(level=...)`` recomputes it at the level asked for.
    """

    interval: Callable[[float], tuple[np.ndarray, np.ndarray]] | None = None

    def ci_bounds(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper confidence limits in table row order (Woodruff's with linearisation).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0] * 5, "y": [1.0, 2, 3, 4, 5]})
        >>> low, high = sv.Survey(df, sv.Design(weights="w")).quantile("y", 0.5).ci_bounds(0.5)
        >>> float(low[0]), float(high[0])  # not symmetric around the median, 3
        (3.0, 4.0)
        """
        if self.interval is None:
            return super().ci_bounds(level)
        return self.interval(self._level(level))


def _sorted_blocks(values: np.ndarray, dom: np.ndarray, keep: np.ndarray, n_domains: int):
    """Rows kept, sorted by (domain, value), and each domain's block start / stop."""
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((values[rows], dom[rows]))]
    d_sorted = dom[order]
    start = np.searchsorted(d_sorted, np.arange(n_domains), side="left")
    stop = np.searchsorted(d_sorted, np.arange(n_domains), side="right")
    return order, start, stop


def _quantiles_from_cumsum(
    cum: np.ndarray, y_sorted: np.ndarray, start: np.ndarray, stop: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """Quantiles (D, L) from a global cumulative weight over domain blocks.

    ``levels`` is (L,) (the same levels in every domain) or (D, L) (levels per domain).
    """
    padded = np.concatenate([[0.0], cum])
    base = padded[start]
    total = padded[stop] - base
    pr = np.clip(levels, 0.0, 1.0)
    pr = np.broadcast_to(pr[None, :] if pr.ndim == 1 else pr, (start.shape[0], pr.shape[-1]))
    target = base[:, None] + pr * total[:, None]
    target -= _TOL * np.abs(total)[:, None]
    pos = np.searchsorted(cum, target.ravel(), side="left").reshape(target.shape)
    pos = np.clip(pos, start[:, None], np.maximum(stop - 1, start)[:, None])
    out = np.where((total > 0)[:, None], y_sorted[np.minimum(pos, y_sorted.shape[0] - 1)], np.nan)
    return out


def weighted_quantiles(
    values: np.ndarray,
    weights: np.ndarray,
    quantiles: float | Sequence[float],
    *,
    domain: np.ndarray | None = None,
    n_domains: int = 1,
) -> np.ndarray:
    """Weighted quantiles by domain: the smallest x with F(x) >= q.

    Parameters
    ----------
    values : numpy.ndarray
        (n,) values; NaN rows are ignored.
    weights : numpy.ndarray
        (n,) non-negative weights (zero-weight rows are ignored).
    quantiles : float or sequence of float
        Quantile levels in [0, 1].
    domain : numpy.ndarray, optional
        (n,) domain codes in [0, n_domains), -1 outside every domain.
    n_domains : int, default=1

    Returns
    -------
    numpy.ndarray
        (n_domains, number of levels); NaN for an empty domain.

    Examples
    --------
    >>> import numpy as np
    >>> weighted_quantiles(np.array([3.0, 1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0, 1.0]), [0.25, 0.5, 0.51])
    array([[1., 2., 3.]])
    """
    y = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    p = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if ((p < 0) | (p > 1)).any():
        raise SurveyError(f"quantile levels must be in [0, 1], got {p.tolist()}")
    if (w < 0).any():
        raise WeightError("quantiles need non-negative weights (a weight is negative)")
    dom = np.zeros(y.shape[0], dtype=np.int64) if domain is None else np.asarray(domain, dtype=np.int64)
    keep = (dom >= 0) & np.isfinite(y) & (w > 0)
    order, start, stop = _sorted_blocks(y, dom, keep, n_domains)
    return _quantiles_from_cumsum(np.cumsum(w[order]), y[order], start, stop, p)


def _labels(names: list[str], levels: np.ndarray) -> list[str]:
    if levels.shape[0] == 1:
        return list(names)
    return [f"{name} q{p:g}" for name in names for p in levels]


def quantile(
    survey: Survey,
    variables: str | Sequence[str],
    quantiles: float | Sequence[float] = 0.5,
    *,
    by: str | Sequence[str] | None = None,
    na: NaPolicy = "error",
) -> QuantileEstimate:
    """Estimated population quantiles with standard errors, by domain.

    Parameters
    ----------
    survey : Survey
        A linearisation or replicate-weight survey.
    variables : str or list of str
        Numeric column(s).
    quantiles : float or sequence of float, default=0.5
        Quantile levels in [0, 1] (R ``quantiles``); with several levels the
        rows are labelled ``"y q0.25"`` etc.
    by : str or list of str, optional
        Domain column(s).
    na : {"error", "drop"}, default="error"

    Returns
    -------
    QuantileEstimate
        Linearisation: Woodruff intervals (asymmetric), SE = 95% width / (2 t).
        Replicates: SE from the replicate quantiles, symmetric t interval.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1] * 5 + [2] * 5, "w": [2.0] * 5 + [4.0] * 5,
    ...                    "y": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> quantile(s, "y", 0.5).table()[["variable", "estimate"]]
      variable  estimate
    0        y       7.0
    """
    names = column_list(variables, "variables")
    byl = column_list(by, "by")
    levels = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if levels.ndim != 1 or ((levels < 0) | (levels > 1)).any() or levels.size == 0:
        raise SurveyError(f"quantiles must be one or more levels in [0, 1], got {quantiles!r}")
    dom, keys = domain_codes(survey, byl)
    D = len(keys)
    values, valid = domain_values(survey, names, dom, na)
    w = np.asarray(survey.weights, dtype=float)
    if (w < 0).any():
        row = int(np.flatnonzero(w < 0)[0])
        raise WeightError(
            f"weight {w[row]:g} in row {row} is negative: quantiles need non-negative weights "
            "(use bounded calibration)"
        )
    k, P = len(names), levels.shape[0]
    labels = _labels(names, levels)
    point = np.empty((D, k * P))
    blocks = []
    for j in range(k):  # loop over variables only
        keep = valid[:, j] & (w > 0) & (dom >= 0)
        order, start, stop = _sorted_blocks(values[:, j], dom, keep, D)
        blocks.append((order, start, stop))
        point[:, j * P : (j + 1) * P] = _quantiles_from_cumsum(
            np.cumsum(w[order]), values[order, j], start, stop, levels
        )
    counts = unit_counts(survey, valid, dom, D)
    n = np.repeat(counts, P, axis=1)
    rep = survey.replicates
    if rep is not None:
        return _replicate_quantiles(survey, rep, keys, byl, labels, point, values, blocks, levels, n)
    return _woodruff(survey, keys, byl, labels, point, values, valid, dom, blocks, levels, n)


def _woodruff(
    survey: Survey,
    keys: pd.DataFrame,
    byl: list[str],
    labels: list[str],
    point: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    dom: np.ndarray,
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    levels: np.ndarray,
    n: np.ndarray,
) -> QuantileEstimate:
    """SE of F(x_q) by the variance engine, then Woodruff's interval."""
    D = len(keys)
    k, P = values.shape[1], levels.shape[0]
    # indicators 1{y <= x_q(domain)} for every (variable, level): a domain mean
    d_row = np.where(dom >= 0, dom, 0)
    ind = np.zeros((values.shape[0], k * P))
    ok = np.zeros_like(ind, dtype=bool)
    for j in range(k):
        for p in range(P):
            c = j * P + p
            ok[:, c] = valid[:, j]
            ind[:, c] = (values[:, j] <= point[d_row, c]) & valid[:, j]
    F, z, _ = ratio_scores(survey, ind, np.ones_like(ind), ok, dom, D)
    cov = domain_covariance(survey, z, dom, D, numerator=ind, denominator=ok.astype(float)).cov
    var_f = np.diagonal(cov, axis1=1, axis2=2).ravel()
    se_f = np.sqrt(np.maximum(var_f, 0.0)).reshape(D, k * P)
    # every domain's own degrees of freedom: PSUs minus strata with rows in it (R svyby + svyquantile)
    df_dom = domain_degrees_of_freedom(survey, dom, D)
    w = np.asarray(survey.weights, dtype=float)
    cums = [np.cumsum(w[order]) for order, _, _ in blocks]

    def interval(level: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t_quantile(level, df_dom), dtype=float)
        low = np.empty((D, k * P))
        high = np.empty((D, k * P))
        for j, (order, start, stop) in enumerate(blocks):
            for p in range(P):
                c = j * P + p
                for arr, sign in ((low, -1.0), (high, 1.0)):
                    pr = F[:, c] + sign * t * se_f[:, c]  # R: centred at F(q_hat), one per domain
                    qs = _quantiles_from_cumsum(cums[j], values[order, j], start, stop, pr[:, None])
                    # R: no bound when the band leaves [0, 1] (a small domain)
                    arr[:, c] = np.where((pr >= 0.0) & (pr <= 1.0), qs[:, 0], np.nan)
        return low.ravel(), high.ravel()

    lo, hi = interval(0.95)
    t95 = np.repeat(np.asarray(t_quantile(0.95, df_dom), dtype=float), k * P)
    se = (hi - lo) / (2.0 * t95)
    cov = np.zeros((D, k * P, k * P))
    idx = np.arange(k * P)
    cov[:, idx, idx] = (se**2).reshape(D, k * P)
    return QuantileEstimate(
        statistic="quantile",
        by=tuple(byl),
        method="linearization (Woodruff)",
        domains=keys,
        variables=tuple(labels),
        point=point,
        cov=cov,
        df=np.repeat(df_dom, k * P) if byl else int(df_dom[0]),
        n=n,
        interval=interval,
        domain_df=lambda: df_dom,
    )


def _replicate_quantiles(
    survey: Survey,
    rep: ReplicateDesign,
    keys: pd.DataFrame,
    byl: list[str],
    labels: list[str],
    point: np.ndarray,
    values: np.ndarray,
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    levels: np.ndarray,
    n: np.ndarray,
) -> QuantileEstimate:
    if rep.method in ("jk1", "jkn") and not rep.materialised:
        raise ReplicateError(
            f"{rep.method} replicates do not give valid standard errors for quantiles (the "
            "delete-one jackknife is inconsistent for non-smooth statistics); use "
            "method='bootstrap' or 'fay', or the linearised (Woodruff) interval"
        )
    D = len(keys)
    k, P = values.shape[1], levels.shape[0]
    R = rep.n_replicates
    w = np.asarray(survey.weights, dtype=float)
    thetas = np.empty((R, D, k * P))
    block = max(1, min(R, (32 * 2**20) // (8 * max(w.shape[0], 1))))
    for s0 in range(0, R, block):
        idx = np.arange(s0, min(s0 + block, R))
        W = replicate_weights(rep, w, idx)
        if (W < 0).any():
            raise ReplicateError(
                "some replicate weights are negative (e.g. after unbounded linear calibration); "
                "quantiles need non-negative weights: calibrate with bounds"
            )
        for j, (order, start, stop) in enumerate(blocks):
            y_sorted = values[order, j]
            Ws = W[order]
            cum = np.cumsum(Ws, axis=0)
            for i in range(idx.shape[0]):  # loop over replicates of the block
                thetas[idx[i], :, j * P : (j + 1) * P] = _quantiles_from_cumsum(
                    cum[:, i], y_sorted, start, stop, levels
                )
    ok = np.isfinite(thetas)
    e = np.where(ok, thetas - point[None], 0.0)
    s = rep.rscales[:, None, None]
    if rep.mse:
        v = rep.scale * np.sum(s * e**2, axis=0)
    else:
        cnt = np.maximum(ok.sum(axis=0), 1)
        mu = e.sum(axis=0) / cnt
        v = rep.scale * np.sum(s * ok * (e - mu) ** 2, axis=0)
    cov = np.zeros((D, k * P, k * P))
    ii = np.arange(k * P)
    cov[:, ii, ii] = v
    return QuantileEstimate(
        statistic="quantile",
        by=tuple(byl),
        method=str(rep.method),
        domains=keys,
        variables=tuple(labels),
        point=point,
        cov=cov,
        df=int(rep.df),
        n=n,
    )
