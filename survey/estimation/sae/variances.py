"""Smoothing of direct sampling variances (GVF or pooled CV) before the Fay–Herriot fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ColumnError, SmallAreaError, SurveyError
from .inputs import describe_area, numeric_vector


# --------------------------------------------------------------------------- variances
@dataclass(frozen=True, kw_only=True, eq=False)
class SmoothedVariances:
    """Outcome of :func:`smooth_variances` (frozen).

    Attributes
    ----------
    variance : numpy.ndarray
        The variances to use: smoothed where ``replaced``, as given elsewhere.
    fitted : numpy.ndarray
        The model's variance for every area.
    replaced : numpy.ndarray of bool
        Areas whose variance was replaced.
    used_in_fit : numpy.ndarray of bool
        Areas whose variance was used to fit the model.
    method : str
        ``"gvf"`` or ``"pooled-cv"``.
    coef : dict
        GVF: ``intercept, log_n, log_estimate`` (the log-scale regression) and
        ``smearing`` (Duan's factor); pooled CV: ``k`` with ``psi = k y^2 / n``.
    r2 : float
        R-squared of the log-scale regression (GVF; NaN for pooled CV).
    """

    variance: np.ndarray
    fitted: np.ndarray
    replaced: np.ndarray
    used_in_fit: np.ndarray
    method: str
    coef: dict
    r2: float

    def table(self) -> pd.DataFrame:
        """Columns ``variance, fitted, replaced, used_in_fit``."""
        return pd.DataFrame(
            {"variance": self.variance, "fitted": self.fitted, "replaced": self.replaced,
             "used_in_fit": self.used_in_fit}
        )


def smooth_variances(
    direct: Any,
    variance: Any,
    n: Any,
    *,
    data: pd.DataFrame | None = None,
    method: str = "gvf",
    replace: str = "invalid",
    min_n: int = 2,
) -> SmoothedVariances:
    """Smooth tiny, zero or unstable direct variances before the Fay–Herriot fit.

    The Fay–Herriot model treats ``psi_i`` as known; a direct variance estimated
    from one or two firms can be zero or wildly off. Two explicit models:

    * ``"gvf"``, a generalised variance function fitted by least squares on the
      log scale over the reliable areas (``psi > 0``, ``n >= min_n``, ``y != 0``)::

          log psi_i = a + b log n_i + c log|y_i| + error,
          psi_i(smoothed) = exp(a + b log n_i + c log|y_i|) * mean(exp(residuals))

      (the last factor is Duan's 1983 smearing correction of the log-scale bias).
    * ``"pooled-cv"``: a common relative variance per sampled unit,
      ``psi_i = k y_i^2 / n_i`` with ``k = mean(cv_i^2 n_i)`` over the reliable
      areas (the GVF with ``b = -1, c = 2`` fixed).

    Parameters
    ----------
    direct, variance, n : str or array-like
        Direct estimates, their variances (may be 0 or missing) and the number of
        sampled units in each area (columns of ``data`` or arrays).
    data : pandas.DataFrame, optional
    method : {"gvf", "pooled-cv"}, default="gvf"
    replace : {"invalid", "all"}, default="invalid"
        Replace only the unusable variances (missing, ``<= 0``, or ``n < min_n``)
        or every area's variance by the model value.
    min_n : int, default=2
        Areas with fewer sampled units are not used in the fit and are replaced.

    Returns
    -------
    SmoothedVariances

    Raises
    ------
    ColumnError
        An area to be replaced has a zero or missing direct estimate or ``n < 1``
        (the model cannot predict its variance: leave it out of the model and use
        :meth:`FayHerriot.predict`); a column is missing.
    SmallAreaError
        Too few reliable areas to fit the model (GVF: 4, pooled CV: 1).

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.sae import smooth_variances
    >>> y = np.array([100.0, 220, 80, 150, 300, 90])
    >>> n = np.array([10, 20, 8, 1, 30, 9])
    >>> v = (0.3 * y) ** 2 / n
    >>> v[3] = 0.0                               # one sampled firm: no variance
    >>> s = smooth_variances(y, v, n, method="pooled-cv")
    >>> s.replaced.tolist()
    [False, False, False, True, False, False]
    >>> round(float(s.variance[3]), 6) == round(0.09 * 150**2 / 1, 6)
    True
    """
    if method not in ("gvf", "pooled-cv"):
        raise SurveyError(f"method must be 'gvf' or 'pooled-cv', got {method!r}")
    if replace not in ("invalid", "all"):
        raise SurveyError(f"replace must be 'invalid' or 'all', got {replace!r}")
    y, _ = numeric_vector(data, direct, "direct estimate", None)
    m = y.size
    psi, _ = numeric_vector(data, variance, "variance", m)
    nn, _ = numeric_vector(data, n, "sample size", m)
    keys = pd.DataFrame({"area": data.index.to_numpy() if data is not None else np.arange(m)})
    usable = np.isfinite(psi) & (psi > 0) & np.isfinite(nn) & (nn >= min_n) & np.isfinite(y) & (y != 0)
    invalid = ~(np.isfinite(psi) & (psi > 0) & np.isfinite(nn) & (nn >= min_n))
    replaced = invalid if replace == "invalid" else np.ones(m, dtype=bool)
    cannot = replaced & ~(np.isfinite(y) & (y != 0) & np.isfinite(nn) & (nn >= 1))
    if cannot.any():
        i = int(np.flatnonzero(cannot)[0])
        raise ColumnError(
            f"cannot model the variance of {describe_area(keys, i)}: its direct estimate is {y[i]:g} "
            f"with n = {nn[i]:g}; leave such areas out of the model (use FayHerriot.predict for them)"
        )
    ok = usable
    with np.errstate(divide="ignore", invalid="ignore"):
        logn = np.log(nn)
        logy = np.log(np.abs(y))
    if method == "gvf":
        if ok.sum() < 4:
            raise SmallAreaError(f"the GVF needs at least 4 areas with a usable variance, got {int(ok.sum())}")
        Z = np.column_stack([np.ones(int(ok.sum())), logn[ok], logy[ok]])
        t = np.log(psi[ok])
        coef, *_ = np.linalg.lstsq(Z, t, rcond=None)
        res = t - Z @ coef
        smear = float(np.mean(np.exp(res)))
        ss_tot = float(np.sum((t - t.mean()) ** 2))
        r2 = 1 - float(np.sum(res**2)) / ss_tot if ss_tot > 0 else np.nan
        with np.errstate(invalid="ignore", over="ignore"):
            fitted = np.exp(coef[0] + coef[1] * logn + coef[2] * logy) * smear
        coefs = {"intercept": float(coef[0]), "log_n": float(coef[1]), "log_estimate": float(coef[2]),
                 "smearing": smear}
    else:
        if ok.sum() < 1:
            raise SmallAreaError("the pooled CV needs at least one area with a usable variance")
        k = float(np.mean(psi[ok] / y[ok] ** 2 * nn[ok]))
        with np.errstate(divide="ignore", invalid="ignore"):
            fitted = k * y**2 / nn
        coefs = {"k": k}
        r2 = np.nan
    return SmoothedVariances(
        variance=np.where(replaced, fitted, psi),
        fitted=fitted,
        replaced=replaced,
        used_in_fit=ok,
        method=method,
        coef=coefs,
        r2=r2,
    )
