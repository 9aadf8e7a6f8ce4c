"""Confidence intervals for proportions (R ``svyciprop``), with the design degrees of freedom.

For an estimated proportion ``p`` with design standard error ``se`` and
``t = qt(1 - alpha/2, df)`` (``df``: the degrees of freedom of the domain's
design, R ``degf``):

* ``"mean"``: ``p -/+ t se`` (may leave [0, 1]);
* ``"xlogit"``: ``expit(logit(p) -/+ t se / (p (1 - p)))``;
* ``"logit"``: the Wald interval of the intercept of a design-weighted
  quasibinomial regression; for the intercept-only model it is the
  ``"xlogit"`` interval (R's glm stops within ~1e-8 of it);
* ``"asin"``: ``sin(asin(sqrt(p)) -/+ t se / (2 sqrt(p (1 - p))))^2``
  (as R, no clamping: a lower arcsine bound below 0 folds back);
* ``"beta"``: Korn and Graubard (1998): the Clopper-Pearson interval with the
  effective sample size ``n_eff = p (1 - p) / se^2 * (qt(alpha/2, n - 1) / qt(alpha/2, df))^2``,
  ``[qbeta(alpha/2, n_eff p, n_eff (1 - p) + 1), qbeta(1 - alpha/2, n_eff p + 1, n_eff (1 - p))]``,
  ``n`` the rows of the domain;
* ``"likelihood"``: Rao and Scott's scaled profile likelihood: the ``p``
  where the signed root of ``Delta deviance / phi`` reaches
  ``-/+ |qt(alpha/2, df)| sqrt(lambda)``, with the quasibinomial deviance
  ``Delta deviance = 2 m (p_hat log(p_hat/p) + (1 - p_hat) log((1 - p_hat)/(1 - p)))``
  (``m`` rows, weights scaled to mean 1), ``phi`` the design variance of the
  Pearson residuals (R ``summary.svyglm`` dispersion) and
  ``lambda = se^2 m / (p (1 - p))`` (design over model variance). Solved
  exactly here; R interpolates a spline through ten profile points, so R's
  bounds are within ~1e-4 of these.
"""

from __future__ import annotations

import numpy as np

from survey.errors import SurveyError
from survey.lazy import lazy_module

special = lazy_module("scipy.special")
stats = lazy_module("scipy.stats")

__all__ = ["CI_METHODS", "proportion_interval"]

#: Interval methods for proportions (R ``svyciprop(method=)``).
CI_METHODS = ("mean", "logit", "likelihood", "beta", "asin", "xlogit")


def _likelihood_bounds(p: np.ndarray, cut: np.ndarray, m: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roots of 2 m KL(p_hat, p) / phi = cut^2 below and above p_hat, by bisection on logit p."""
    b0 = special.logit(p)

    def excess(b: np.ndarray) -> np.ndarray:
        q = special.expit(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = special.xlogy(p, p / q) + special.xlogy(1.0 - p, (1.0 - p) / (1.0 - q))
        return 2.0 * m * kl / phi - cut * cut

    out = []
    for sign in (-1.0, 1.0):
        lo = b0.copy()
        hi = b0 + sign * 60.0
        for _ in range(200):  # bracket width 60 / 2^200: exact to rounding
            mid = 0.5 * (lo + hi)
            past = excess(mid) > 0
            hi = np.where(past, mid, hi)
            lo = np.where(past, lo, mid)
        out.append(special.expit(0.5 * (lo + hi)))
    return out[0], out[1]


def proportion_interval(
    method: str,
    p: np.ndarray,
    se: np.ndarray,
    df: np.ndarray,
    n: np.ndarray,
    level: float = 0.95,
    *,
    m: np.ndarray | None = None,
    phi: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper confidence limits of proportions (R ``svyciprop``).

    Parameters
    ----------
    method : {"mean", "logit", "likelihood", "beta", "asin", "xlogit"}
    p, se : numpy.ndarray
        Estimated proportions and their design standard errors.
    df : numpy.ndarray
        Design degrees of freedom (of the domain).
    n : numpy.ndarray
        Sample rows behind each estimate (``"beta"``).
    level : float, default=0.95
    m, phi : numpy.ndarray, optional
        ``"likelihood"``: rows of the domain and the dispersion (design
        variance of the Pearson residuals).

    Returns
    -------
    tuple of numpy.ndarray

    Examples
    --------
    >>> low, high = proportion_interval("xlogit", np.array([0.05]), np.array([0.02]), np.array([30]), np.array([200]))
    >>> bool(low[0] > 0), round(float(low[0]), 4), round(float(high[0]), 4)
    (True, 0.0218, 0.1106)
    """
    if method not in CI_METHODS:
        raise SurveyError(f"ci method {method!r} is not one of {', '.join(CI_METHODS)}")
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    alpha = 1.0 - level
    t = np.where(np.isfinite(df) & (df > 0), stats.t.ppf(1.0 - alpha / 2.0, np.maximum(df, 1)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mean":
            return p - t * se, p + t * se
        if method in ("xlogit", "logit"):
            b = special.logit(p)
            h = t * se / (p * (1.0 - p))
            return special.expit(b - h), special.expit(b + h)
        if method == "asin":
            a = np.arcsin(np.sqrt(p))
            h = t * se / (2.0 * np.sqrt(p * (1.0 - p)))
            return np.sin(a - h) ** 2, np.sin(a + h) ** 2
        if method == "beta":
            n = np.broadcast_to(np.asarray(n, dtype=float), p.shape)
            ratio = stats.t.ppf(alpha / 2.0, n - 1.0) / stats.t.ppf(alpha / 2.0, np.maximum(df, 1))
            n_eff = p * (1.0 - p) / se**2 * ratio**2
            lo = stats.beta.ppf(alpha / 2.0, n_eff * p, n_eff * (1.0 - p) + 1.0)
            hi = stats.beta.ppf(1.0 - alpha / 2.0, n_eff * p + 1.0, n_eff * (1.0 - p))
            return lo, hi
        # likelihood
        if m is None or phi is None:
            raise SurveyError("the likelihood interval needs the estimate's data (proportion() or mean())")
        m = np.asarray(m, dtype=float)
        phi = np.asarray(phi, dtype=float)
        lam = se**2 * m / (p * (1.0 - p))
        cut = np.abs(stats.t.ppf(alpha / 2.0, np.maximum(df, 1))) * np.sqrt(lam)
        ok = (p > 0) & (p < 1) & (phi > 0) & np.isfinite(cut)
        pp = np.where(ok, p, 0.5)
        lo, hi = _likelihood_bounds(pp, np.where(ok, cut, 1.0), np.where(ok, m, 1.0), np.where(ok, phi, 1.0))
        return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)
