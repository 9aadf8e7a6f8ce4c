"""Fitting the Fay–Herriot model: :func:`fay_herriot` and its parametric bootstrap MSE."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...errors import ColumnError, SmallAreaError, SurveyError
from .fitting import FH_METHODS, MSE_METHODS, fit_model, mse_components, resolve_seed
from .inputs import (
    area_keys,
    auxiliary_matrix,
    check_finite,
    check_rank,
    column_scales,
    describe_area,
    numeric_vector,
)
from .result import FayHerriot


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

    y, yname = numeric_vector(data, direct, "direct estimate", None)
    m = y.size
    psi, vname = numeric_vector(data, variance, "variance", m)
    Xa, aux_names = auxiliary_matrix(data, auxiliaries, m)
    keys, key = area_keys(data, area, m)
    check_finite(y, keys, f"the direct estimate ({yname!r})")
    bad = ~np.isfinite(psi)
    if bad.any():
        check_finite(psi, keys, f"the sampling variance ({vname!r})")
    nonpos = psi <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise ColumnError(
            f"the sampling variance ({vname!r}) of {describe_area(keys, i)} is {psi[i]:g}; it must be "
            f"positive ({int(nonpos.sum())} area(s) with zero or negative variance). Smooth tiny or zero "
            "variances with smooth_variances() (a generalised variance function) first"
        )
    for j, name in enumerate(aux_names):
        check_finite(Xa[:, j], keys, f"the auxiliary {name!r}")
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
    scale = column_scales(X)
    Xs = X / scale
    check_rank(Xs, names)

    fit = fit_model(method, y[None, :], Xs, psi, float(tol), int(max_iter), fallback=bool(fallback))
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
    g1, g2, g3, bias_term, mse_pr, var_A = mse_components(method, A, psi, Xs, fit.Q[0])
    loglik = -0.5 * float(np.sum(np.log(2 * np.pi * (A + psi)) + resid**2 / (A + psi)))

    mse_boot = None
    n_failed = None
    seed_used = None
    B_used = None
    if mse == "bootstrap":
        if not (isinstance(B, (int, np.integer)) and not isinstance(B, bool) and B >= 1):
            raise SurveyError(f"B must be a positive integer, got {B!r}")
        rng, seed_used = resolve_seed(seed)
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
    fit = fit_model(method, ystar, Xs, psi, tol, max_iter)
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
