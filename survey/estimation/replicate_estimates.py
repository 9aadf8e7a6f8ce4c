"""Replicate estimates of domain totals and ratios, and their full covariance across domains.

For contrasts between domains (:meth:`survey.estimation.results.Estimate.contrast`)
a replicate survey needs the covariance of the estimates of *different*
domains: ``scale * sum_r rscales_r (theta_r - c)(theta_r - c)'`` over the
stacked replicate estimates (R ``svyby(..., covmat = TRUE)`` on a replicate
design, ``svrVar``). The estimates are formed chunk by chunk from
:func:`survey.estimation.replicate_variance.replicate_totals`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from survey.estimation.replicate import ReplicateDesign
from survey.estimation.replicate_variance import replicate_totals

__all__ = ["replicate_estimates", "replicate_estimates_cached", "replicate_covariance"]


def replicate_estimates(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-sample and replicate estimates of domain totals (or ratios), domain-major.

    Parameters
    ----------
    rep : ReplicateDesign
    weights : numpy.ndarray
        Full-sample weights (the replicate design's).
    numerator : numpy.ndarray, shape (n, k)
    denominator : numpy.ndarray, shape (n, k), optional
        For ratios ``sum w y / sum w x``; ``None`` for totals.
    domain : numpy.ndarray of int, shape (n,)
    n_domains : int

    Returns
    -------
    theta : numpy.ndarray, shape (D * k,)
    replicates : numpy.ndarray, shape (R, D * k)

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(3))
    >>> theta, reps = replicate_estimates(rep, rep.weights, np.array([[1.0], [2.0], [3.0]]), None,
    ...                                   np.zeros(3, dtype=np.intp), 1)
    >>> theta, reps.ravel()
    (array([6.]), array([7.5, 6. , 4.5]))
    """
    w = np.asarray(weights, dtype=float)
    y = np.asarray(numerator, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    k = y.shape[1]
    D = n_domains
    vals = y if denominator is None else np.hstack([y, np.asarray(denominator, dtype=float).reshape(y.shape)])
    kk = vals.shape[1]
    keep = domain >= 0
    full = np.zeros((D, kk))
    for j in range(kk):
        full[:, j] = np.bincount(domain[keep], weights=(w * vals[:, j])[keep], minlength=D)
    out = np.empty((rep.n_replicates, D * k))
    for idx, delta in replicate_totals(rep, w, vals, domain, D):
        tot = full[None, :, :] + delta.reshape(-1, D, kk)
        if denominator is None:
            out[idx] = tot.reshape(-1, D * k)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[idx] = (tot[:, :, :k] / tot[:, :, k:]).reshape(-1, D * k)
    if denominator is None:
        theta = full.reshape(D * k)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = (full[:, :k] / full[:, k:]).reshape(D * k)
    return theta, out


def replicate_estimates_cached(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A function that computes :func:`replicate_estimates` once, when first called.

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(3))
    >>> f = replicate_estimates_cached(rep, rep.weights, np.ones((3, 1)), None, np.zeros(3, dtype=np.intp), 1)
    >>> f() is f()
    True
    """
    memo: list[tuple[np.ndarray, np.ndarray]] = []

    def get() -> tuple[np.ndarray, np.ndarray]:
        if not memo:
            memo.append(replicate_estimates(rep, weights, numerator, denominator, domain, n_domains))
        return memo[0]

    return get


def replicate_covariance(rep: ReplicateDesign, theta: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Covariance matrix of estimates from their replicates (R ``svrVar``).

    ``scale * sum_r rscales_r (theta_r - c)(theta_r - c)'`` with ``c`` the
    mean of the replicates (``rep.mse`` False) or the full-sample estimate;
    replicates with an undefined value (a zero denominator) are left out.

    Parameters
    ----------
    rep : ReplicateDesign
    theta : numpy.ndarray, shape (m,)
    replicates : numpy.ndarray, shape (R, m)

    Returns
    -------
    numpy.ndarray, shape (m, m)

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(3))
    >>> replicate_covariance(rep, np.array([6.0]), np.array([[7.5], [6.0], [4.5]]))  # 2/3 * (2.25 + 0 + 2.25)
    array([[3.]])
    """
    th = np.asarray(replicates, dtype=float)
    ok = np.isfinite(th).all(axis=1)
    s = np.asarray(rep.rscales, dtype=float)[ok]
    th = th[ok]
    centre = np.asarray(theta, dtype=float) if rep.mse else th.mean(axis=0)
    e = th - centre[None, :]
    out = rep.scale * (e * s[:, None]).T @ e
    return (out + out.T) / 2.0
