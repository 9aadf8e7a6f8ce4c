"""Small-area estimation with the area-level Fay–Herriot model.

The county (small-area) building block: direct estimates ``y_i`` of many small
areas, each with a known sampling variance ``psi_i``, are combined with register
auxiliaries ``x_i`` through the Fay–Herriot (1979) model::

    y_i = theta_i + e_i,        e_i ~ N(0, psi_i)      (sampling error, psi_i known)
    theta_i = x_i' beta + v_i,  v_i ~ N(0, sigma2_v)   (area effect)

and the empirical best linear unbiased predictor (EBLUP)::

    theta_hat_i = gamma_i y_i + (1 - gamma_i) x_i' beta_hat,
    gamma_i = sigma2_v / (sigma2_v + psi_i),

with ``beta_hat`` the GLS estimate at the estimated ``sigma2_v``.

* :func:`fay_herriot` — fit (REML, ML or the Fay–Herriot moment method, by the
  same Fisher-scoring iteration as R ``sae::eblupFH``), EBLUPs, and their MSE:
  Prasad–Rao / Datta–Lahiri analytic MSE (as R ``sae::mseFH``) or a seeded
  parametric bootstrap (González-Manteiga et al. 2008). Returns a
  :class:`FayHerriot` result with ``table()`` and ``summary()``.
* :meth:`FayHerriot.benchmark` — ratio or difference benchmarking of the area
  estimates to given group (e.g. city) totals.
* :meth:`FayHerriot.keep_direct` — keep the direct estimate where its CV is
  acceptable; the table says per area which was used (``"direct"``/``"EBLUP"``).
* :meth:`FayHerriot.predict` — synthetic estimates for areas without a sample.
* :func:`smooth_variances` — a generalised variance function (GVF) or pooled
  CV for areas whose direct variance is zero, missing or unreliable.

Everything is vectorised: the bootstrap fits all ``B`` replicate models at once
(one Fisher-scoring loop over arrays of shape ``(B, m)``).

References
----------
Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small places: an
application of James–Stein procedures to census data. JASA 74, 269–277.
Prasad, N. G. N. and Rao, J. N. K. (1990). The estimation of the mean squared
error of small-area estimators. JASA 85, 163–171.
Datta, G. S. and Lahiri, P. (2000). A unified measure of uncertainty of
estimated best linear unbiased predictors in small area estimation problems.
Statistica Sinica 10, 613–627.
Datta, G. S., Rao, J. N. K. and Smith, D. D. (2005). On measuring the
variability of small area estimators under a basic area level model.
Biometrika 92, 183–196.
González-Manteiga, W., Lombardía, M. J., Molina, I., Morales, D. and
Santamaría, L. (2008). Analytic and bootstrap approximations of prediction
errors under a multivariate Fay–Herriot model. Computational Statistics & Data
Analysis 52, 5242–5252.
Rao, J. N. K. and Molina, I. (2015). Small Area Estimation, 2nd ed. Wiley.
Steorts, R. C. and Ghosh, M. (2013). On estimation of mean squared errors of
benchmarked empirical Bayes estimators. Statistica Sinica 23, 749–767.
Molina, I. and Marhuenda, Y. (2015). sae: an R package for small area
estimation. The R Journal 7(1), 81–98.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ColumnError, SmallAreaError, SurveyError

__all__ = [
    "FH_METHODS",
    "MSE_METHODS",
    "FayHerriot",
    "SmallAreaError",
    "SmoothedVariances",
    "fay_herriot",
    "smooth_variances",
]

#: Ways to estimate the area-effect variance ``sigma2_v``.
FH_METHODS = ("REML", "ML", "FH")
#: Ways to estimate the MSE of the EBLUP.
MSE_METHODS = ("prasad-rao", "bootstrap")

# Convergence is judged relative to max(|sigma2_v|, _FLOOR * median(psi)): an
# estimate of sigma2_v below a millionth of the typical sampling variance changes
# no EBLUP in the 6th digit, and below it rounding noise dominates the step.
_FLOOR = 1e-6


# --------------------------------------------------------------------------- seed
def _resolve_seed(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int | None]:
    """A generator and the integer seed to record (drawn from entropy when None)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise SurveyError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


# --------------------------------------------------------------------------- core
@dataclass(frozen=True)
class _Fit:
    """Fits of R replicate data sets ``y`` (R, m) sharing ``X`` and ``psi``."""

    sigma2: np.ndarray  # (R,) truncated at 0
    sigma2_raw: np.ndarray  # (R,) last iterate, before truncation
    beta: np.ndarray  # (R, p)
    Q: np.ndarray  # (R, p, p) = (X' V^-1 X)^-1
    converged: np.ndarray  # (R,) bool
    iterations: np.ndarray  # (R,) int: Fisher-scoring iterations
    fallback: np.ndarray  # (R,) bool: Fisher scoring did not converge, the bracketed solver found the root


def _xtwx(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``X' diag(w_r) X`` for every row ``w_r`` of ``w`` (R, m): shape (R, p, p)."""
    return np.swapaxes(w[:, :, None] * X[None, :, :], 1, 2) @ X


def _gls(A: np.ndarray, y: np.ndarray, X: np.ndarray, psi: np.ndarray):
    """Weights ``w = 1/(A + psi)`` (R, m), ``Q`` (R, p, p), ``beta`` (R, p), residuals (R, m)."""
    w = 1.0 / (A[:, None] + psi[None, :])
    Q = np.linalg.inv(_xtwx(w, X))
    beta = (Q @ ((w * y) @ X)[:, :, None])[:, :, 0]
    resid = y - beta @ X.T
    return w, Q, beta, resid


def _score(method: str, A: np.ndarray, y: np.ndarray, X: np.ndarray, psi: np.ndarray):
    """Score ``s`` and expected information ``F`` of each replicate (as R ``sae::eblupFH``).

    REML: s = -tr(P)/2 + |Py|^2/2, F = tr(P^2)/2; ML: s = -tr(V^-1)/2 + |Py|^2/2,
    F = tr(V^-2)/2; FH (moment): s = sum(w r^2) - (m - p), F = sum(w). With
    ``P = W - W X Q X' W``, ``Py = w * resid`` and the traces from p x p matrices.
    """
    m, p = X.shape
    w, Q, _, resid = _gls(A, y, X, psi)
    if method == "FH":
        return (w * resid**2).sum(axis=1) - (m - p), w.sum(axis=1)
    Py2 = ((w * resid) ** 2).sum(axis=1)
    w2 = w**2
    if method == "ML":
        return -0.5 * w.sum(axis=1) + 0.5 * Py2, 0.5 * w2.sum(axis=1)
    QX2 = Q @ _xtwx(w2, X)  # Q X'W^2X
    QX3 = Q @ _xtwx(w2 * w, X)  # Q X'W^3X
    trP = w.sum(axis=1) - np.trace(QX2, axis1=1, axis2=2)
    trP2 = w2.sum(axis=1) - 2.0 * np.trace(QX3, axis1=1, axis2=2) + np.einsum("rij,rji->r", QX2, QX2)
    return -0.5 * trP + 0.5 * Py2, 0.5 * trP2


def _bracketed_root(method: str, y: np.ndarray, X: np.ndarray, psi: np.ndarray, start: np.ndarray, tol: float):
    """Root of the score on ``[0, inf)`` for each row of ``y`` (U, m), all at once.

    Where the score at 0 is <= 0 the constrained estimate is 0 (as R's truncation
    gives). Elsewhere a bracket ``[0, hi]`` with a sign change is found by
    quadrupling ``hi`` and the root is refined by the Illinois variant of
    regula falsi (superlinear, never leaves the bracket). Returns the roots and a
    converged flag.
    """
    U = y.shape[0]
    med = float(np.median(psi))
    scale = _FLOOR * med

    def score(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return _score(method, a, y[rows], X, psi)[0]

    root = np.zeros(U)
    ok = np.zeros(U, dtype=bool)
    rows = np.arange(U)
    s_lo = score(np.zeros(U), rows)
    ok[s_lo <= 0] = True
    rows = np.flatnonzero(s_lo > 0)
    if rows.size == 0:
        return root, ok
    lo = np.zeros(rows.size)
    s_lo = s_lo[rows]
    hi = np.maximum(start[rows], med)
    s_hi = score(hi, rows)
    for _ in range(60):  # the score of every method is negative for large sigma2_v
        up = s_hi >= 0
        if not up.any():
            break
        lo[up], s_lo[up] = hi[up], s_hi[up]
        hi[up] *= 4.0
        s_hi[up] = score(hi[up], rows[up])
    found = s_hi < 0
    rows, lo, hi, s_lo, s_hi = rows[found], lo[found], hi[found], s_lo[found], s_hi[found]
    side = np.zeros(rows.size, dtype=np.int8)  # which end moved last: -1 lo, +1 hi
    c = hi.copy()
    done = np.zeros(rows.size, dtype=bool)
    for _ in range(200):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        c_new = hi[act] - s_hi[act] * (hi[act] - lo[act]) / (s_hi[act] - s_lo[act])
        s_c = score(c_new, rows[act])
        neg = s_c < 0
        a_hi, a_lo = act[neg], act[~neg]
        hi[a_hi], s_hi[a_hi] = c_new[neg], s_c[neg]
        s_lo[a_hi[side[a_hi] == 1]] *= 0.5
        side[a_hi] = 1
        lo[a_lo], s_lo[a_lo] = c_new[~neg], s_c[~neg]
        s_hi[a_lo[side[a_lo] == -1]] *= 0.5
        side[a_lo] = -1
        conv = (np.abs(c_new - c[act]) <= tol * np.maximum(np.abs(c_new), scale)) | (s_c == 0) | (
            hi[act] - lo[act] <= tol * np.maximum(np.abs(c_new), scale)
        )
        c[act] = c_new
        done[act[conv]] = True
    root[rows] = c
    ok[rows] = done
    return root, ok


def _fit(
    method: str, y: np.ndarray, X: np.ndarray, psi: np.ndarray, tol: float, max_iter: int, fallback: bool = True
) -> _Fit:
    """Fisher scoring for ``sigma2_v`` of each row of ``y`` at once (R ``sae::eblupFH``).

    Starts at ``median(psi)``; updates ``A <- A + s/F``; stops a replicate when
    ``|A_new - A| <= tol * max(|A|, 1e-6 median(psi))`` (R: ``|A_new - A|/|A| <=
    PRECISION``); the estimate is ``max(A, 0)``. Replicates still unconverged after
    ``max_iter`` iterations (Fisher scoring can oscillate slowly around a small root)
    get the root of the score by :func:`_bracketed_root` when ``fallback``. ``X`` should be
    column-scaled.
    """
    R = y.shape[0]
    psi_min = float(psi.min())
    med = float(np.median(psi))
    floor = _FLOOR * med
    A = np.full(R, med)
    iterations = np.zeros(R, dtype=np.int64)
    done = np.zeros(R, dtype=bool)
    for _ in range(max_iter):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        Aa = A[active]
        s, F = _score(method, Aa, y[active], X, psi)
        new = Aa + s / F
        iterations[active] += 1
        # Iterates at or below -min(psi) make some V_i non-positive: R would carry on
        # with meaningless numbers. If the score at 0 points down the constrained
        # estimate is 0 (as R's truncation would give); otherwise step back.
        out = ~(new > -psi_min)
        if out.any():
            idx = np.flatnonzero(out)
            s0, _ = _score(method, np.zeros(idx.size), y[active[idx]], X, psi)
            at_zero = s0 <= 0
            new[idx[at_zero]] = 0.0
            done[active[idx[at_zero]]] = True
            back = idx[~at_zero]
            new[back] = np.maximum(Aa[back], 0.0) / 2.0
        stop = np.abs(new - Aa) <= tol * np.maximum(np.abs(Aa), floor)
        A[active] = new
        done[active[stop]] = True
    used_fallback = np.zeros(R, dtype=bool)
    if fallback and not done.all():
        rest = np.flatnonzero(~done)
        root, ok = _bracketed_root(method, y[rest], X, psi, np.maximum(A[rest], 0.0), tol)
        A[rest[ok]] = root[ok]
        done[rest[ok]] = used_fallback[rest[ok]] = True
    sigma2 = np.maximum(A, 0.0)
    _, Q, beta, _ = _gls(sigma2, y, X, psi)
    return _Fit(
        sigma2=sigma2,
        sigma2_raw=A,
        beta=beta,
        Q=Q,
        converged=done,
        iterations=iterations,
        fallback=used_fallback,
    )


def _mse_components(method: str, A: float, psi: np.ndarray, X: np.ndarray, Q: np.ndarray):
    """g1, g2, g3, bias term and the analytic MSE of R ``sae::mseFH`` for ``method``.

    ``B_i = psi_i/(A + psi_i)``, ``g1 = psi_i (1 - B_i)``, ``g2 = B_i^2 x_i' Q x_i``,
    ``g3 = B_i^2 Var(A_hat)/(A + psi_i)``. REML: ``Var(A_hat) = 2/sum(w^2)``, MSE
    = g1 + g2 + 2 g3 (Prasad–Rao form, REML is second-order unbiased; Datta &
    Lahiri 2000). ML: same Var, MSE = g1 + g2 + 2 g3 - b_ML B_i^2 with
    ``b_ML = -tr(Q X'W^2X)/sum(w^2)`` (Datta & Lahiri 2000). FH: ``Var(A_hat) =
    2m/(sum w)^2``, ``b_FH = 2 (m sum w^2 - (sum w)^2)/(sum w)^3``, MSE = g1 + g2
    + 2 g3 - b_FH B_i^2 (Datta, Rao & Smith 2005).
    """
    m = psi.size
    w = 1.0 / (A + psi)
    Bd = psi * w
    g1 = A * psi * w  # psi (1 - B): exactly 0 when A = 0
    g2 = Bd**2 * np.sum((X @ Q) * X, axis=1)
    if method == "FH":
        sw = w.sum()
        var_A = 2.0 * m / sw**2
        bias = 2.0 * (m * (w**2).sum() - sw**2) / sw**3
    else:
        var_A = 2.0 / (w**2).sum()
        if method == "ML":
            bias = -np.trace(Q @ (X.T * w**2) @ X) / (w**2).sum()
        else:
            bias = 0.0
    g3 = Bd**2 * var_A * w
    mse = g1 + g2 + 2.0 * g3 - bias * Bd**2
    return g1, g2, g3, bias * Bd**2, mse, var_A


# --------------------------------------------------------------------------- input
def _as_key_frame(data: pd.DataFrame | None, area: Any, m: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    if data is not None:
        if area is None:
            name = data.index.name or "area"
            return pd.DataFrame({name: data.index.to_numpy()}), (name,)
        cols = [area] if isinstance(area, str) else list(area)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise ColumnError(f"area column(s) {missing} not in the data; columns are {list(data.columns)[:20]}")
        keys = data[cols].reset_index(drop=True)
    else:
        if area is None:
            keys = pd.DataFrame({"area": np.arange(m)})
        else:
            if isinstance(area, pd.DataFrame):
                keys = area.reset_index(drop=True)
            else:
                s = pd.Series(area) if not isinstance(area, pd.Series) else area
                keys = pd.DataFrame({s.name if s.name is not None else "area": s.to_numpy()})
            if len(keys) != m:
                raise ColumnError(f"area labels have {len(keys)} rows, the direct estimates {m}")
        cols = list(keys.columns)
    if keys.isna().to_numpy().any():
        i = int(np.flatnonzero(keys.isna().to_numpy().any(axis=1))[0])
        raise ColumnError(f"area key {cols} is missing at row {i}")
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        first = keys[dup].iloc[:3].to_dict("records")
        raise ColumnError(f"area key {cols} is not unique: {int(dup.sum())} rows share a key, e.g. {first}")
    return keys, tuple(str(c) for c in cols)


def _numeric_vector(data: pd.DataFrame | None, value: Any, role: str, m: int | None) -> tuple[np.ndarray, str]:
    if data is not None and isinstance(value, str):
        if value not in data.columns:
            raise ColumnError(f"{role} column {value!r} not in the data; columns are {list(data.columns)[:20]}")
        s = data[value]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise ColumnError(f"{role} column {value!r} must be numeric, it has dtype {s.dtype}")
        return s.to_numpy(dtype=float, na_value=np.nan), value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ColumnError(f"{role} must be numeric (a column name with data=, or an array)") from None
    if arr.ndim != 1:
        raise ColumnError(f"{role} must be one-dimensional, it has shape {arr.shape}")
    if m is not None and arr.size != m:
        raise ColumnError(f"{role} has {arr.size} values, the direct estimates {m}")
    name = value.name if isinstance(value, pd.Series) and value.name is not None else role
    return arr, str(name)


def _auxiliaries(data: pd.DataFrame | None, auxiliaries: Any, m: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if auxiliaries is None:
        return np.empty((m, 0)), ()
    if data is not None and (isinstance(auxiliaries, str) or (
        isinstance(auxiliaries, Sequence) and all(isinstance(a, str) for a in auxiliaries)
    )):
        cols = [auxiliaries] if isinstance(auxiliaries, str) else list(auxiliaries)
        arrays = [_numeric_vector(data, c, "auxiliary", m)[0] for c in cols]
        return (np.column_stack(arrays) if arrays else np.empty((m, 0))), tuple(cols)
    if isinstance(auxiliaries, pd.DataFrame):
        bad = [c for c in auxiliaries.columns if not pd.api.types.is_numeric_dtype(auxiliaries[c])
               or pd.api.types.is_bool_dtype(auxiliaries[c])]
        if bad:
            raise ColumnError(f"auxiliary column(s) {bad} must be numeric (make dummies of categories first)")
        X = auxiliaries.to_numpy(dtype=float, na_value=np.nan)
        names = tuple(str(c) for c in auxiliaries.columns)
    else:
        try:
            X = np.asarray(auxiliaries, dtype=float)
        except (TypeError, ValueError):
            raise ColumnError("auxiliaries must be numeric: column names with data=, or an array") from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ColumnError(f"auxiliaries must be a 2-D array, got shape {X.shape}")
        names = tuple(f"x{j + 1}" for j in range(X.shape[1]))
    if X.shape[0] != m:
        raise ColumnError(f"auxiliaries have {X.shape[0]} rows, the direct estimates {m}")
    return X, names


def _describe_area(keys: pd.DataFrame, i: int) -> str:
    rec = keys.iloc[i].to_dict()
    label = ", ".join(f"{k}={v!r}" for k, v in rec.items())
    return f"area {label} (row {i})"


def _check_finite(values: np.ndarray, keys: pd.DataFrame, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ColumnError(
            f"{what} is missing or not finite for {_describe_area(keys, i)} ({int(bad.sum())} area(s) in all); "
            "every area in the model needs it"
        )


def _column_scales(X: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.mean(X**2, axis=0))
    return np.where(scale > 0, scale, 1.0)


def _check_rank(Xs: np.ndarray, names: Sequence[str]) -> None:
    p = Xs.shape[1]
    if np.linalg.matrix_rank(Xs) == p:
        return
    for j in range(p):
        if np.linalg.matrix_rank(Xs[:, : j + 1]) <= j:
            earlier = list(names[:j])
            raise ColumnError(
                f"the auxiliaries are collinear (X is singular): {names[j]!r} is a linear "
                f"combination of {earlier if earlier else 'nothing (it is all zero)'}; drop it"
            )
    raise ColumnError("the auxiliaries are collinear (X is singular)")  # pragma: no cover


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, kw_only=True, eq=False)
class FayHerriot:
    """Fay–Herriot small-area estimates (frozen; build with :func:`fay_herriot`).

    Attributes
    ----------
    key : tuple of str
        Names of the area key columns (``areas`` holds their values).
    areas : pandas.DataFrame
        One row per area: the key columns.
    direct, variance : numpy.ndarray
        Direct estimates ``y_i`` and their sampling variances ``psi_i`` (as given).
    X : numpy.ndarray
        Model matrix (with the intercept column first when ``intercept``).
    coef_names : tuple of str
        Names of the columns of ``X`` (``"(Intercept)"`` for the intercept).
    method : str
        ``"REML"``, ``"ML"`` or ``"FH"``.
    mse_method : str
        ``"prasad-rao"`` or ``"bootstrap"``.
    sigma2_v : float
        Estimated area-effect variance, truncated at 0 (as R ``sae``).
    sigma2_v_raw : float
        The last Fisher-scoring iterate before truncation (negative when the
        likelihood or moment equation has its root below 0).
    sigma2_v_se : float
        Asymptotic standard error of ``sigma2_v`` (``sqrt(2/sum w^2)`` for REML
        and ML, ``sqrt(2m)/sum w`` for FH; ``w_i = 1/(sigma2_v + psi_i)``).
    beta, beta_se : numpy.ndarray
        GLS coefficients and standard errors ``sqrt(diag((X'V^-1X)^-1))``.
    beta_cov : numpy.ndarray
        ``(X'V^-1X)^-1``.
    converged : bool
    iterations : int
        Fisher-scoring iterations.
    fallback : bool
        Fisher scoring did not converge in ``max_iter`` iterations and the root
        was found by the bracketed solver (regula falsi).
    tol, max_iter : float, int
        Stopping rule used.
    loglik, aic, bic : float
        Marginal Gaussian log-likelihood at the estimates and ``-2 loglik + 2(p+1)``,
        ``-2 loglik + (p+1) log m`` (as R ``sae``, for every method).
    eblup, synthetic, gamma : numpy.ndarray
        EBLUPs, synthetic estimates ``x_i' beta``, shrinkage factors.
    g1, g2, g3, bias_term : numpy.ndarray
        Components of the analytic MSE (``mse_prasad_rao = g1 + g2 + 2 g3 - bias_term``).
    mse_prasad_rao : numpy.ndarray
        Analytic MSE of the EBLUP (always computed, R ``sae::mseFH``).
    mse_bootstrap : numpy.ndarray or None
        Parametric bootstrap MSE of the EBLUP (when ``mse="bootstrap"``).
    B, seed, bootstrap_failed : int or None
        Bootstrap replicates, the seed to repeat them, replicates dropped for
        non-convergence.
    estimate, mse : numpy.ndarray
        The published estimate of each area and its MSE (EBLUP or direct; after
        benchmarking if benchmarked).
    area_method : numpy.ndarray of str
        ``"EBLUP"`` or ``"direct"`` per area.
    direct_cv_max : float or None
        CV threshold under which the direct estimate was kept.
    benchmark_method : str or None
        ``"ratio"`` or ``"difference"`` when benchmarked.
    benchmark_group : numpy.ndarray or None
        Group of each area (benchmarked results only).
    unbenchmarked, unbenchmarked_mse : numpy.ndarray or None
        Estimates and MSEs before benchmarking.
    level : float
        Level of the normal intervals of :meth:`table`.
    data : pandas.DataFrame or None
        The input data (for column look-ups by :meth:`benchmark`).

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.sae import fay_herriot
    >>> rng = np.random.default_rng(1)
    >>> x = rng.uniform(0, 10, 30); psi = rng.uniform(0.5, 2, 30)
    >>> y = 1 + 0.5 * x + rng.normal(0, 1, 30) + rng.normal(0, np.sqrt(psi))
    >>> fit = fay_herriot(y, psi, x)
    >>> list(fit.table().columns)  # doctest: +NORMALIZE_WHITESPACE
    ['area', 'direct', 'direct_se', 'estimate', 'se', 'cv', 'ci_low', 'ci_high',
     'gamma', 'method']
    >>> bool(np.all(fit.se < np.sqrt(psi)))
    True
    """

    key: tuple[str, ...]
    areas: pd.DataFrame
    direct: np.ndarray
    variance: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    method: str
    mse_method: str
    sigma2_v: float
    sigma2_v_raw: float
    sigma2_v_se: float
    beta: np.ndarray
    beta_se: np.ndarray
    beta_cov: np.ndarray
    converged: bool
    iterations: int
    fallback: bool
    tol: float
    max_iter: int
    loglik: float
    aic: float
    bic: float
    eblup: np.ndarray
    synthetic: np.ndarray
    gamma: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray
    bias_term: np.ndarray
    mse_prasad_rao: np.ndarray
    mse_bootstrap: np.ndarray | None
    B: int | None
    seed: int | None
    bootstrap_failed: int | None
    estimate: np.ndarray
    mse: np.ndarray
    area_method: np.ndarray
    direct_cv_max: float | None = None
    benchmark_method: str | None = None
    benchmark_group: np.ndarray | None = None
    unbenchmarked: np.ndarray | None = None
    unbenchmarked_mse: np.ndarray | None = None
    level: float = 0.95
    data: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    # -- derived ----------------------------------------------------------------
    @property
    def m(self) -> int:
        """Number of areas in the model."""
        return int(self.direct.size)

    @property
    def mse_eblup(self) -> np.ndarray:
        """MSE of the EBLUP by the chosen method (before any choice or benchmarking)."""
        return self.mse_bootstrap if self.mse_method == "bootstrap" else self.mse_prasad_rao

    @property
    def se(self) -> np.ndarray:
        """Root MSE of :attr:`estimate`."""
        return np.sqrt(np.maximum(self.mse, 0.0))

    @property
    def cv(self) -> np.ndarray:
        """``se / |estimate|`` (NaN where the estimate is 0)."""
        est = np.abs(self.estimate)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.se / est, np.nan)

    @property
    def direct_se(self) -> np.ndarray:
        """``sqrt(psi_i)``."""
        return np.sqrt(self.variance)

    @property
    def direct_cv(self) -> np.ndarray:
        """CV of the direct estimates (NaN where the direct estimate is 0)."""
        est = np.abs(self.direct)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.direct_se / est, np.nan)

    def coefficients(self) -> pd.DataFrame:
        """Regression coefficients: ``coef, beta, se, z, p_value`` (normal, as R ``sae``).

        Examples
        --------
        >>> import numpy as np
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.coefficients()["coef"].tolist()
        ['(Intercept)', 'x1']
        """
        z = self.beta / self.beta_se
        return pd.DataFrame(
            {
                "coef": list(self.coef_names),
                "beta": self.beta,
                "se": self.beta_se,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
            }
        )

    # -- views ------------------------------------------------------------------
    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """One row per area.

        Columns: the area key columns, ``direct, direct_se, estimate, se, cv,
        ci_low, ci_high, gamma, method`` (``se = sqrt(MSE)``; the interval is
        ``estimate -/+ z se`` with the normal quantile of ``level``). Benchmarked
        results add ``group, unbenchmarked, unbenchmarked_se``.

        Parameters
        ----------
        level : float, optional
            Interval level (default: the result's ``level``, 0.95).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.table()["method"].unique().tolist()
        ['EBLUP']
        """
        level = self.level if level is None else level
        if not 0 < level < 1:
            raise SurveyError(f"level must be between 0 and 1, got {level!r}")
        z = stats.norm.ppf(0.5 + level / 2)
        out = self.areas.copy()
        se = self.se
        out["direct"] = self.direct
        out["direct_se"] = self.direct_se
        out["estimate"] = self.estimate
        out["se"] = se
        out["cv"] = self.cv
        out["ci_low"] = self.estimate - z * se
        out["ci_high"] = self.estimate + z * se
        out["gamma"] = self.gamma
        out["method"] = self.area_method
        if self.benchmark_method is not None:
            out["group"] = self.benchmark_group
            out["unbenchmarked"] = self.unbenchmarked
            out["unbenchmarked_se"] = np.sqrt(np.maximum(self.unbenchmarked_mse, 0.0))
        return out

    def summary(self) -> str:
        """A text summary: model, variance, coefficients, convergence, precision.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> print(fit.summary().splitlines()[0])
        Fay-Herriot area-level model: 6 areas, REML, MSE by prasad-rao
        """
        lines = [
            f"Fay-Herriot area-level model: {self.m} areas, {self.method}, MSE by {self.mse_method}",
            f"sigma2_v = {self.sigma2_v:.6g} (se {self.sigma2_v_se:.4g})"
            + (f"; the estimate {self.sigma2_v_raw:.4g} was negative and is set to 0: "
               "every EBLUP is the synthetic estimate" if self.sigma2_v_raw < 0 or (
                   self.sigma2_v == 0) else ""),
            (f"Fisher scoring did not converge in {self.iterations} iterations; the root was found "
             f"by regula falsi in a bracket (tol {self.tol:g})" if self.fallback else
             f"converged after {self.iterations} Fisher-scoring iteration(s) (tol {self.tol:g})"),
            f"log-likelihood {self.loglik:.6g}, AIC {self.aic:.6g}, BIC {self.bic:.6g}",
            "",
            self.coefficients().to_string(index=False, float_format=lambda x: f"{x:.6g}"),
            "",
        ]
        if self.mse_method == "bootstrap":
            lines.append(
                f"parametric bootstrap: B = {self.B}, seed = {self.seed}, "
                f"{self.bootstrap_failed} replicate(s) dropped for non-convergence"
            )
        gain = np.median(self.mse_eblup / self.variance)
        lines.append(
            f"gamma: median {np.median(self.gamma):.3g} (range {self.gamma.min():.3g}-{self.gamma.max():.3g}); "
            f"median MSE(EBLUP)/var(direct) = {gain:.3g}"
        )
        n_direct = int((self.area_method == "direct").sum())
        if self.direct_cv_max is not None:
            lines.append(f"direct estimate kept in {n_direct} area(s) with CV <= {self.direct_cv_max:g}")
        if self.benchmark_method is not None:
            lines.append(
                f"{self.benchmark_method} benchmarked to {len(pd.unique(self.benchmark_group))} group totals; "
                "MSE = unbenchmarked MSE + squared adjustment"
            )
        cv = self.cv
        lines.append(
            f"CV of the estimates: median {np.nanmedian(cv):.3g}, max {np.nanmax(cv):.3g} "
            f"(direct: median {np.nanmedian(self.direct_cv):.3g}, max {np.nanmax(self.direct_cv):.3g})"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<FayHerriot {self.method} with {self.m} areas, sigma2_v={self.sigma2_v:.4g}, "
            f"MSE by {self.mse_method}"
            + (f", {self.benchmark_method} benchmarked" if self.benchmark_method else "")
            + ">"
        )

    # -- choices ------------------------------------------------------------------
    def keep_direct(self, cv_max: float | None) -> FayHerriot:
        """Keep the direct estimate where its CV is at most ``cv_max``, EBLUP elsewhere.

        The MSE of a kept direct estimate is its sampling variance ``psi_i``.
        ``None`` uses the EBLUP everywhere. Cannot be applied after benchmarking
        (choose first, then benchmark).

        Parameters
        ----------
        cv_max : float or None
            Largest acceptable CV of a direct estimate (e.g. ``0.10``).

        Returns
        -------
        FayHerriot
            A new result; ``table()["method"]`` says ``"direct"`` or ``"EBLUP"``.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([10.0, 20, 40, 30, 50, 60], [1.0, 50, 50, 50, 50, 50],
        ...                   [1.0, 2, 3, 4, 5, 6])
        >>> fit.direct_cv.round(3).tolist()
        [0.1, 0.354, 0.177, 0.236, 0.141, 0.118]
        >>> fit.keep_direct(0.15).table()["method"].tolist()
        ['direct', 'EBLUP', 'EBLUP', 'EBLUP', 'direct', 'direct']
        """
        if self.benchmark_method is not None:
            raise SurveyError("keep_direct() after benchmark(): choose direct/EBLUP first, then benchmark")
        if cv_max is None:
            keep = np.zeros(self.m, dtype=bool)
        else:
            cv_max = float(cv_max)
            if not cv_max > 0:
                raise SurveyError(f"cv_max must be positive, got {cv_max!r}")
            keep = np.nan_to_num(self.direct_cv, nan=np.inf) <= cv_max
        mse_e = self.mse_eblup
        return dataclasses.replace(
            self,
            estimate=np.where(keep, self.direct, self.eblup),
            mse=np.where(keep, self.variance, mse_e),
            area_method=np.where(keep, "direct", "EBLUP").astype(object),
            direct_cv_max=cv_max,
        )

    def benchmark(
        self,
        groups: Any,
        totals: Mapping[Any, float] | pd.Series,
        *,
        method: str = "ratio",
        weights: str = "mse",
    ) -> FayHerriot:
        """Benchmark the area estimates so that they add up to group totals.

        Ratio: ``t_i = e_i * T_g / sum_{j in g} e_j``. Difference:
        ``t_i = e_i + (T_g - sum_{j in g} e_j) * a_i / sum_{j in g} a_j`` with
        ``a_i = MSE_i`` (``weights="mse"``: imprecise areas absorb more) or
        ``a_i = 1`` (``"equal"``). The benchmarked estimates add up to ``T_g`` in
        every group (to rounding).

        MSE: approximated as ``MSE(e_i) + (t_i - e_i)^2``, the unbenchmarked MSE
        plus the squared adjustment. This is the plug-in form of the exact
        decomposition ``MSE(t_i) = MSE(e_i) + E(t_i - e_i)^2`` that holds for
        difference benchmarking of the EBLUP when the adjustment is uncorrelated
        with the EBLUP's error (Steorts & Ghosh 2013, who give a second-order
        correct estimator of the second term; see also Rao & Molina 2015 on
        benchmarking). It ignores the cross term, which can be of either sign,
        and is a rough (usually conservative) guide for ratio benchmarking.

        Parameters
        ----------
        groups : str or array-like
            A column of the input data (with ``data=``) or one group label per area.
        totals : mapping or pandas.Series
            Benchmark total per group (e.g. the design-based city total).
            Every group must have one, and every total must have areas.
        method : {"ratio", "difference"}, default="ratio"
        weights : {"mse", "equal"}, default="mse"
            Allocation of the difference adjustment (difference benchmarking only).

        Returns
        -------
        FayHerriot
            A new result: :attr:`estimate` benchmarked, :attr:`mse` as above,
            the previous values in :attr:`unbenchmarked` / :attr:`unbenchmarked_mse`.

        Raises
        ------
        SurveyError
            A group without a total, a total without areas, a group whose
            estimates sum to 0 (ratio), a second benchmarking.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([10.0, 20, 40, 30, 50, 60], [5.0] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> b = fit.benchmark(["a", "a", "a", "b", "b", "b"], {"a": 75.0, "b": 135.0})
        >>> b.table().groupby("group")["estimate"].sum().round(10).tolist()
        [75.0, 135.0]
        """
        if self.benchmark_method is not None:
            raise SurveyError("these estimates are already benchmarked; benchmark the unbenchmarked result")
        if method not in ("ratio", "difference"):
            raise SurveyError(f"benchmark method must be 'ratio' or 'difference', got {method!r}")
        if weights not in ("mse", "equal"):
            raise SurveyError(f"benchmark weights must be 'mse' or 'equal', got {weights!r}")
        if isinstance(groups, str):
            if self.data is None or groups not in self.data.columns:
                raise ColumnError(
                    f"group column {groups!r} is not in the input data; give one group label per area instead"
                )
            g = self.data[groups].to_numpy()
        else:
            g = np.asarray(groups, dtype=object)
            if g.shape != (self.m,):
                raise ColumnError(f"groups must give one label per area ({self.m}), got shape {g.shape}")
        gs = pd.Series(g)
        if gs.isna().any():
            i = int(np.flatnonzero(gs.isna().to_numpy())[0])
            raise ColumnError(f"benchmark group is missing for {_describe_area(self.areas, i)}")
        tot = pd.Series(totals, dtype=float) if not isinstance(totals, pd.Series) else totals.astype(float)
        codes, uniques = pd.factorize(gs)
        G = len(uniques)
        T = tot.reindex(uniques)
        if T.isna().any():
            missing = list(uniques[T.isna().to_numpy()][:5])
            raise SurveyError(f"no (or a missing) benchmark total for group(s) {missing}")
        extra = [k for k in tot.index if k not in set(uniques)]
        if extra:
            raise SurveyError(
                f"benchmark totals for group(s) {extra[:5]} that have no area in the model; "
                "their areas would not add up to them"
            )
        T = T.to_numpy(dtype=float)
        e = self.estimate
        S = np.bincount(codes, weights=e, minlength=G)
        if method == "ratio":
            if np.any(S == 0):
                j = int(np.flatnonzero(S == 0)[0])
                raise SurveyError(f"group {uniques[j]!r}: the estimates add up to 0; ratio benchmarking is undefined")
            bench = e * (T / S)[codes]
        else:
            a = self.mse if weights == "mse" else np.ones(self.m)
            sa = np.bincount(codes, weights=a, minlength=G)
            if np.any(sa <= 0):
                a = np.ones(self.m)
                sa = np.bincount(codes, minlength=G).astype(float)
            bench = e + ((T - S) / sa)[codes] * a
        adj = bench - e
        return dataclasses.replace(
            self,
            estimate=bench,
            mse=self.mse + adj**2,
            benchmark_method=method,
            benchmark_group=g,
            unbenchmarked=e,
            unbenchmarked_mse=self.mse,
        )

    def predict(self, auxiliaries: Any, *, data: pd.DataFrame | None = None, area: Any = None) -> pd.DataFrame:
        """Synthetic estimates ``x' beta_hat`` for areas outside the model (no sample).

        MSE: ``sigma2_v + x' (X'V^-1X)^-1 x`` (the area effect is unpredictable
        without a direct estimate; Rao & Molina 2015, area-level model).

        Parameters
        ----------
        auxiliaries : list of str or array-like
            Same auxiliaries, in the same order, as in the fit (without the intercept).
        data : pandas.DataFrame, optional
            Holds the auxiliary and area columns when given by name.
        area : str or list of str or array-like, optional
            Area key (columns of ``data``, or labels).

        Returns
        -------
        pandas.DataFrame
            The key columns, ``estimate, se, cv, ci_low, ci_high, method``
            (``"synthetic"``).

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.predict([[7.0]])["method"].tolist()
        ['synthetic']
        """
        if isinstance(auxiliaries, (list, tuple)) and auxiliaries and all(
            isinstance(a, str) for a in auxiliaries
        ) and data is None:
            raise ColumnError("auxiliaries given by name need data=")
        probe = data if data is not None else None
        n_rows = len(data) if data is not None else len(np.atleast_2d(np.asarray(auxiliaries, dtype=float)))
        Xn, _ = _auxiliaries(probe, auxiliaries, n_rows)
        keys, _ = _as_key_frame(data, area, n_rows)
        has_intercept = self.coef_names[:1] == ("(Intercept)",)
        if has_intercept:
            Xn = np.column_stack([np.ones(n_rows), Xn])
        if Xn.shape[1] != self.X.shape[1]:
            raise ColumnError(
                f"predict needs {self.X.shape[1] - has_intercept} auxiliaries ({list(self.coef_names)}), "
                f"got {Xn.shape[1] - has_intercept}"
            )
        _check_finite(Xn.sum(axis=1), keys, "an auxiliary")
        est = Xn @ self.beta
        mse = self.sigma2_v + np.einsum("mi,ij,mj->m", Xn, self.beta_cov, Xn)
        se = np.sqrt(mse)
        z = stats.norm.ppf(0.5 + self.level / 2)
        out = keys.copy()
        out["estimate"] = est
        out["se"] = se
        with np.errstate(divide="ignore", invalid="ignore"):
            out["cv"] = np.where(est != 0, se / np.abs(est), np.nan)
        out["ci_low"] = est - z * se
        out["ci_high"] = est + z * se
        out["method"] = "synthetic"
        return out


# --------------------------------------------------------------------------- fit
def fay_herriot(
    direct: Any,
    variance: Any,
    auxiliaries: Any = None,
    *,
    data: pd.DataFrame | None = None,
    area: Any = None,
    intercept: bool = True,
    method: str = "REML",
    mse: str = "prasad-rao",
    B: int = 500,
    seed: int | np.random.Generator | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
    fallback: bool = True,
    direct_cv_max: float | None = None,
    level: float = 0.95,
) -> FayHerriot:
    """Fit the Fay–Herriot area-level model; EBLUPs with their MSE.

    ``sigma2_v`` is estimated by Fisher scoring from ``median(psi)`` exactly as R
    ``sae::eblupFH`` does (REML, ML, or the Fay–Herriot moment equation), then
    truncated at 0; ``beta`` by GLS; EBLUP ``gamma_i y_i + (1 - gamma_i) x_i'
    beta``. With ``tol=1e-4`` (and the default ``max_iter=100``) the iterations
    are those of R's defaults (``PRECISION=0.0001, MAXITER=100``); the default
    ``tol=1e-8`` goes on to the optimum.

    Parameters
    ----------
    direct : str or array-like
        Direct estimates ``y_i`` (a column of ``data``, or values).
    variance : str or array-like
        Their sampling variances ``psi_i``, treated as known; all must be
        positive (smooth zero or unstable ones with :func:`smooth_variances`).
    auxiliaries : str or list of str or array-like or DataFrame, optional
        Area-level auxiliaries (numeric; make dummies of categories). None:
        intercept only.
    data : pandas.DataFrame, optional
        One row per area holding the columns named above.
    area : str or list of str or array-like, optional
        Area key column(s) of ``data`` (default: its index) or area labels.
    intercept : bool, default=True
        Add an intercept column to the auxiliaries.
    method : {"REML", "ML", "FH"}, default="REML"
        Estimator of ``sigma2_v``.
    mse : {"prasad-rao", "bootstrap"}, default="prasad-rao"
        ``"prasad-rao"``: the analytic MSE of R ``sae::mseFH`` for the method
        (REML: ``g1 + g2 + 2 g3``; ML and FH: the same minus the bias term
        ``b B_i^2``). ``"bootstrap"``: the parametric bootstrap of
        González-Manteiga et al. (2008): ``B`` data sets ``y* = X beta_hat + v* +
        e*``, ``v* ~ N(0, sigma2_v_hat)``, ``e* ~ N(0, psi)``, each refitted by the
        same method; MSE = mean of ``(EBLUP* - theta*)^2`` with ``theta* = X
        beta_hat + v*``. The analytic MSE is kept in ``mse_prasad_rao`` either way.
    B : int, default=500
        Bootstrap replicates.
    seed : int or numpy.random.Generator or None
        Bootstrap seed (recorded in the result; drawn and recorded when None).
    tol : float, default=1e-8
        Stop when ``|change of sigma2_v| <= tol * max(|sigma2_v|, 1e-6 median(psi))``.
    max_iter : int, default=100
        Fisher-scoring iteration limit.
    fallback : bool, default=True
        If Fisher scoring has not met ``tol`` after ``max_iter`` iterations (it
        can oscillate slowly around a small root), find the root of the same
        score (REML, ML) or moment equation (FH) on ``[0, inf)`` in a bracket
        (Illinois regula falsi; ``FayHerriot.fallback`` records it). False: that
        is an error, as R ``sae`` would return ``NA``.
    direct_cv_max : float, optional
        Keep the direct estimate where its CV ``sqrt(psi)/|y|`` is at most this
        (see :meth:`FayHerriot.keep_direct`). None: EBLUP in every area.
    level : float, default=0.95
        Level of the intervals in :meth:`FayHerriot.table`.

    Returns
    -------
    FayHerriot

    Raises
    ------
    ColumnError
        Unknown or non-numeric columns; a missing direct estimate or auxiliary,
        a missing, zero or negative variance (the message names the area);
        duplicated area keys; collinear auxiliaries (singular X).
    SmallAreaError
        Fewer areas than parameters + 1 (``m < p + 2``); no convergence within
        ``max_iter`` with ``fallback=False`` (the message suggests ML or FH).
    SurveyError
        Unknown ``method`` or ``mse``, bad ``B``, ``tol``, ``max_iter`` or ``seed``.

    Notes
    -----
    When the estimate of ``sigma2_v`` is negative R ``sae`` sets it to 0 and so do
    we (``sigma2_v_raw`` keeps the raw value): every ``gamma_i`` is 0 and every
    EBLUP is the synthetic estimate; the analytic MSE is then ``g2 + 2 g3``
    (``g1 = 0``). When the iteration does not converge R ``sae::eblupFH`` returns
    ``NA`` estimates with ``convergence=FALSE`` (and ``mseFH`` a warning); here it
    is a :class:`SmallAreaError`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from survey.estimation.sae import fay_herriot
    >>> rng = np.random.default_rng(7)
    >>> df = pd.DataFrame({"county": [f"c{i}" for i in range(40)],
    ...                    "firms": rng.integers(100, 2000, 40)})
    >>> df["var"] = rng.uniform(1, 4, 40) * 1e4
    >>> df["total"] = 50 * df.firms + rng.normal(0, 100, 40) + rng.normal(0, np.sqrt(df["var"]))
    >>> fit = fay_herriot("total", "var", ["firms"], data=df, area="county")
    >>> fit.table().columns[:4].tolist()
    ['county', 'direct', 'direct_se', 'estimate']
    >>> round(float(fit.beta[1]), 0)
    50.0
    """
    if method not in FH_METHODS:
        raise SurveyError(f"method must be one of {FH_METHODS}, got {method!r}")
    if mse not in MSE_METHODS:
        raise SurveyError(f"mse must be one of {MSE_METHODS}, got {mse!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise SurveyError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise SurveyError(f"tol must be positive, got {tol!r}")
    if not 0 < level < 1:
        raise SurveyError(f"level must be between 0 and 1, got {level!r}")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise SurveyError(f"data must be a pandas DataFrame, got {type(data).__name__}")

    y, yname = _numeric_vector(data, direct, "direct estimate", None)
    m = y.size
    psi, vname = _numeric_vector(data, variance, "variance", m)
    Xa, aux_names = _auxiliaries(data, auxiliaries, m)
    keys, key = _as_key_frame(data, area, m)
    _check_finite(y, keys, f"the direct estimate ({yname!r})")
    bad = ~np.isfinite(psi)
    if bad.any():
        _check_finite(psi, keys, f"the sampling variance ({vname!r})")
    nonpos = psi <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise ColumnError(
            f"the sampling variance ({vname!r}) of {_describe_area(keys, i)} is {psi[i]:g}; it must be "
            f"positive ({int(nonpos.sum())} area(s) with zero or negative variance). Smooth tiny or zero "
            "variances with smooth_variances() (a generalised variance function) first"
        )
    for j, name in enumerate(aux_names):
        _check_finite(Xa[:, j], keys, f"the auxiliary {name!r}")
    if intercept:
        X = np.column_stack([np.ones(m), Xa])
        names = ("(Intercept)", *aux_names)
    else:
        X, names = Xa, aux_names
    p = X.shape[1]
    if p == 0:
        raise SmallAreaError("the model has no auxiliaries and no intercept; give auxiliaries or intercept=True")
    if m < p + 2:
        raise SmallAreaError(
            f"{m} areas for {p} regression coefficient(s) and the area variance: the model needs at "
            f"least p + 2 = {p + 2} areas"
        )
    scale = _column_scales(X)
    Xs = X / scale
    _check_rank(Xs, names)

    fit = _fit(method, y[None, :], Xs, psi, float(tol), int(max_iter), fallback=bool(fallback))
    if not fit.converged[0]:
        alt = [x for x in FH_METHODS if x != method]
        raise SmallAreaError(
            f"the {method} Fisher scoring for sigma2_v did not converge in {int(fit.iterations[0])} "
            f"iterations (last value {fit.sigma2_raw[0]:.6g}, tol {tol:g}); try method={alt[0]!r} or "
            f"{alt[1]!r}, a larger max_iter, fallback=True, or check the variances and auxiliaries (R sae returns "
            "NA here)"
        )
    A = float(fit.sigma2[0])
    beta = fit.beta[0] / scale
    Q = fit.Q[0] / np.outer(scale, scale)
    synthetic = X @ beta
    resid = y - synthetic
    gamma = A / (A + psi)
    eblup = synthetic + gamma * resid
    g1, g2, g3, bias_term, mse_pr, var_A = _mse_components(method, A, psi, Xs, fit.Q[0])
    loglik = -0.5 * float(np.sum(np.log(2 * np.pi * (A + psi)) + resid**2 / (A + psi)))

    mse_boot = None
    n_failed = None
    seed_used = None
    B_used = None
    if mse == "bootstrap":
        if not (isinstance(B, (int, np.integer)) and not isinstance(B, bool) and B >= 1):
            raise SurveyError(f"B must be a positive integer, got {B!r}")
        rng, seed_used = _resolve_seed(seed)
        B_used = int(B)
        mse_boot, n_failed = _bootstrap_mse(method, Xs, fit.beta[0], A, psi, B_used, rng, float(tol), int(max_iter))

    result = FayHerriot(
        key=key,
        areas=keys,
        direct=y,
        variance=psi,
        X=X,
        coef_names=tuple(names),
        method=method,
        mse_method=mse,
        sigma2_v=A,
        sigma2_v_raw=float(fit.sigma2_raw[0]),
        sigma2_v_se=float(np.sqrt(var_A)),
        beta=beta,
        beta_se=np.sqrt(np.diag(Q)),
        beta_cov=Q,
        converged=True,
        iterations=int(fit.iterations[0]),
        fallback=bool(fit.fallback[0]),
        tol=float(tol),
        max_iter=int(max_iter),
        loglik=loglik,
        aic=-2 * loglik + 2 * (p + 1),
        bic=-2 * loglik + (p + 1) * np.log(m),
        eblup=eblup,
        synthetic=synthetic,
        gamma=gamma,
        g1=g1,
        g2=g2,
        g3=g3,
        bias_term=bias_term,
        mse_prasad_rao=mse_pr,
        mse_bootstrap=mse_boot,
        B=B_used,
        seed=seed_used,
        bootstrap_failed=n_failed,
        estimate=eblup,
        mse=mse_boot if mse == "bootstrap" else mse_pr,
        area_method=np.full(m, "EBLUP", dtype=object),
        level=float(level),
        data=data.reset_index(drop=True) if data is not None else None,
    )
    if direct_cv_max is not None:
        result = result.keep_direct(direct_cv_max)
    return result


def _bootstrap_mse(
    method: str,
    Xs: np.ndarray,
    beta_s: np.ndarray,
    A: float,
    psi: np.ndarray,
    B: int,
    rng: np.random.Generator,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int]:
    """Parametric bootstrap MSE (González-Manteiga et al. 2008), all replicates fitted at once.

    Replicates whose refit does not converge are dropped (R ``sae``'s bootstrap
    functions draw another one instead); their number is returned.
    """
    m = psi.size
    mu = Xs @ beta_s
    v = rng.standard_normal((B, m)) * np.sqrt(A)
    e = rng.standard_normal((B, m)) * np.sqrt(psi)
    theta = mu + v
    ystar = theta + e
    fit = _fit(method, ystar, Xs, psi, tol, max_iter)
    ok = fit.converged
    n_failed = int((~ok).sum())
    if not ok.any():
        raise SmallAreaError(
            f"none of the {B} bootstrap refits converged in {max_iter} iterations; use mse='prasad-rao' "
            "or another method"
        )
    A_b = fit.sigma2[ok]
    syn = fit.beta[ok] @ Xs.T
    gam = A_b[:, None] / (A_b[:, None] + psi)
    eblup = syn + gam * (ystar[ok] - syn)
    return np.mean((eblup - theta[ok]) ** 2, axis=0), n_failed


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
    y, _ = _numeric_vector(data, direct, "direct estimate", None)
    m = y.size
    psi, _ = _numeric_vector(data, variance, "variance", m)
    nn, _ = _numeric_vector(data, n, "sample size", m)
    keys = pd.DataFrame({"area": data.index.to_numpy() if data is not None else np.arange(m)})
    usable = np.isfinite(psi) & (psi > 0) & np.isfinite(nn) & (nn >= min_n) & np.isfinite(y) & (y != 0)
    invalid = ~(np.isfinite(psi) & (psi > 0) & np.isfinite(nn) & (nn >= min_n))
    replaced = invalid if replace == "invalid" else np.ones(m, dtype=bool)
    cannot = replaced & ~(np.isfinite(y) & (y != 0) & np.isfinite(nn) & (nn >= 1))
    if cannot.any():
        i = int(np.flatnonzero(cannot)[0])
        raise ColumnError(
            f"cannot model the variance of {_describe_area(keys, i)}: its direct estimate is {y[i]:g} "
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
