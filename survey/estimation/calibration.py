"""Calibration arithmetic on arrays: g-weights by Newton-Raphson, input checks, the solver.

Plain array functions with no :class:`~survey.estimation.survey.Survey` in
sight, shared by the survey-level weighting (:mod:`survey.estimation.weighting`),
the replicate module (every replicate is recalibrated with the same solver) and
the variance engine (the GREG residuals use :func:`solve_psd`):

* :func:`calibration_factors` / :func:`newton_raphson`: g-weights that solve
  the calibration equations ``X'(d g) = t`` (R ``survey:::grake``);
* :func:`check_bounds`, :func:`check_totals`, ...: the checks of the inputs,
  shared with the out-of-core weighting;
* :func:`solve_psd`: the solver of the normal equations.

Raking by iterative proportional fitting (R ``rake()``) is in
:mod:`survey.estimation.calibration_raking` (``raking_factors``, ``ipf``), the
model matrices (``BlockModel``, ``weighted_crossprod``) in
:mod:`survey.estimation.calibration_model`.

Methods (``g = new weight / input weight``, ``u = x_i' lambda``):

==========================  ============================================  ==============
method                      g(u)                                           R ``calfun``
==========================  ============================================  ==============
``"linear"``                ``1 + u`` (GREG), clipped to ``bounds``         ``"linear"``
``"raking"``                ``exp(u)``, clipped to ``bounds``               ``"raking"``
``"logit"``                 ``L + (U - L) expit(A u + log((1-L)/(U-1)))``  ``"logit"``
==========================  ============================================  ==============

with ``A = (U - L) / ((1 - L)(U - 1))`` (Deville and Sarndal 1992). See
``docs/weighting.md`` for formulas and a worked example.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
from numpy.linalg import LinAlgError

from survey.errors import CalibrationError
from survey.estimation.calibration_model import checked_model, model_operator
from survey.lazy import lazy_module

linalg = lazy_module("scipy.linalg")
special = lazy_module("scipy.special")

__all__ = [
    "METHODS",
    "CalibrationFit",
    "calibration_factors",
    "newton_raphson",
    "calibration_function",
    "check_bounds",
    "check_margin_sums",
    "check_total",
    "check_totals",
    "convergence_error",
    "solve_psd",
]

Method = Literal["linear", "raking", "logit"]
METHODS = ("linear", "raking", "logit")


def check_bounds(method: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """Check a calibration method and its bounds on ``g``; return ``(lower, upper)``.

    Parameters
    ----------
    method : {"linear", "raking", "logit"}
    bounds : tuple of float or None
        ``(lower, upper)`` with ``lower < 1 < upper``; required for ``"logit"``.

    Returns
    -------
    tuple of float
        ``(-inf, inf)`` when ``bounds`` is None.

    Raises
    ------
    CalibrationError
        An unknown method, or bounds that do not surround 1.

    Examples
    --------
    >>> check_bounds("linear", None)
    (-inf, inf)
    >>> check_bounds("logit", (0.5, 2))
    (0.5, 2.0)
    """
    if method not in METHODS:
        raise CalibrationError(
            f"method={method!r} is not one of {', '.join(map(repr, METHODS))}"
        )
    if bounds is None:
        if method == "logit":
            raise CalibrationError(
                "logit calibration needs finite bounds on g = new/old weight, "
                "e.g. bounds=(0.5, 2.0)"
            )
        return (-np.inf, np.inf)
    try:
        lower, upper = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise CalibrationError(f"bounds must be a pair (lower, upper), got {bounds!r}") from None
    if not lower < 1.0 < upper:
        raise CalibrationError(
            f"bounds=({lower:g}, {upper:g}) must satisfy lower < 1 < upper: they bound "
            "g = calibrated weight / input weight (R calibrate(bounds=))"
        )
    if method == "logit" and not (np.isfinite(lower) and np.isfinite(upper)):
        raise CalibrationError("logit calibration needs finite bounds, e.g. bounds=(0.5, 2.0)")
    return lower, upper


def check_totals(totals: Any, population_size: float | None) -> float | None:
    """Check the ``totals`` mapping and ``population_size`` of a calibration (in memory or
    out of core: the same rules and messages); return the population size as a float.

    Raises
    ------
    CalibrationError
        ``totals`` is not a mapping (or empty without a population size), or the
        population size is not positive.

    Examples
    --------
    >>> check_totals({"region": {"n": 60, "s": 40}}, 100)
    100.0
    """
    if not isinstance(totals, Mapping) or (len(totals) == 0 and population_size is None):
        raise CalibrationError(
            "totals must be a non-empty mapping: numeric column -> population total, "
            "categorical column -> {level: population count}"
        )
    if population_size is None:
        return None
    N = float(population_size)
    if not (np.isfinite(N) and N > 0):
        raise CalibrationError(f"population_size must be positive, got {population_size!r}")
    return N


def check_total(column: Any, value: Any) -> float:
    """The population total of a numeric calibration column, checked to be a finite number.

    Examples
    --------
    >>> check_total("revenue", 1.5e6)
    1500000.0
    """
    if not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise CalibrationError(
            f"totals[{column!r}] must be a finite number (numeric column) or a mapping "
            f"{{level: count}} (categorical column), got {value!r}"
        )
    return float(value)


def check_margin_sums(sums: Sequence[tuple[str, float]]) -> None:
    """Every complete margin (and the population size) must add up to the same total.

    Parameters
    ----------
    sums : sequence of (str, float)
        ``(name, total)`` of the population size and of each categorical margin.

    Examples
    --------
    >>> check_margin_sums([("population_size", 100.0), ("'region'", 100.0)])
    >>> check_margin_sums([("'region'", 100.0), ("'size'", 90.0)])
    Traceback (most recent call last):
    ...
    survey.errors.CalibrationError: contradictory margins: the counts for 'size' add up to 90 but 'region' gives 100; every complete margin must add up to the same population size
    """
    if len(sums) < 2:
        return
    ref_name, ref = sums[0]
    for name, s_ in sums[1:]:
        if abs(s_ - ref) > 1e-9 * max(abs(ref), 1.0):
            raise CalibrationError(
                f"contradictory margins: the counts for {name} add up to {s_:.10g} but "
                f"{ref_name} gives {ref:.10g}; every complete margin must add up to the "
                "same population size"
            )


def calibration_function(method: str, lower: float, upper: float) -> Callable[[np.ndarray], tuple]:
    """The calibration function ``F(u) -> (g, dg/du)`` of a method (R ``cal.linear``,
    ``cal.raking``, ``cal.logit``), bounded by ``(lower, upper)`` (from :func:`check_bounds`).

    Used by the in-memory Newton-Raphson (:func:`newton_raphson`) and the out-of-core
    calibration (:mod:`survey.estimation.outofcore.calibration`), so both use the same ``g``.

    Examples
    --------
    >>> g, dg = calibration_function("linear", 0.5, 2.0)(np.array([-0.8, 0.1, 3.0]))
    >>> g.tolist(), dg.tolist()
    ([0.5, 1.1, 2.0], [0.0, 1.0, 0.0])
    """
    if method == "linear":

        def f(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g = np.clip(1.0 + u, lower, upper)
            return g, ((u > lower - 1.0) & (u < upper - 1.0)).astype(float)

    elif method == "raking":

        def f(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with np.errstate(over="ignore"):
                e = np.exp(u)
            g = np.clip(e, lower, upper)
            return g, np.where((e > lower) & (e < upper), e, 0.0)

    else:
        a = (upper - lower) / ((1.0 - lower) * (upper - 1.0))
        shift = np.log((1.0 - lower) / (upper - 1.0))

        def f(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            s = special.expit(a * u + shift)
            return lower + (upper - lower) * s, (upper - lower) * a * s * (1.0 - s)

    return f


def solve_psd(T: np.ndarray, r: np.ndarray, diagonal: np.ndarray | None = None) -> np.ndarray:
    """Solve ``T x = r`` for symmetric PSD ``T`` (minimum norm when singular, R ``MASS::ginv``).

    Jacobi scaling first, so columns on very different scales (counts and
    revenue totals) do not decide the numerical rank; Cholesky when well
    conditioned, else an eigen-decomposition pseudo-inverse. ``diagonal``:
    columns whose block of ``T`` is diagonal (the levels of one margin); they
    are eliminated first (Schur complement), so hundreds of levels cost O(p).

    Parameters
    ----------
    T : numpy.ndarray, shape (p, p)
        Symmetric positive semi-definite.
    r : numpy.ndarray, shape (p,) or (p, m)
        One right-hand side, or m of them (one factorisation for all).
    diagonal : numpy.ndarray of int, optional
        Columns whose block of ``T`` is diagonal.

    Returns
    -------
    numpy.ndarray, shape (p,) or (p, m)

    Examples
    --------
    >>> solve_psd(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([4.0, 1.0]))  # singular: minimum norm
    array([2., 0.])
    >>> solve_psd(np.array([[2.0, 0], [0, 4]]), np.array([[2.0, 4], [2, 8]]))  # two right-hand sides
    array([[1. , 2. ],
           [0.5, 2. ]])
    """
    r = np.asarray(r, dtype=float)
    if np.size(T) == 0:
        return np.zeros_like(r)
    R = r if r.ndim == 2 else r[:, None]  # several right-hand sides: one factorisation
    x = _solve_psd_columns(np.asarray(T, dtype=float), R, diagonal)
    return x if r.ndim == 2 else x[:, 0]


def _solve_psd_columns(T: np.ndarray, R: np.ndarray, diagonal: np.ndarray | None) -> np.ndarray:
    """:func:`solve_psd` for a (p, m) right-hand side."""
    if diagonal is not None and diagonal.size > 1:
        dd = T[diagonal, diagonal]
        if np.all(dd > 0):
            rest = np.setdiff1d(np.arange(T.shape[0]), diagonal)
            B = T[np.ix_(diagonal, rest)]
            S = T[np.ix_(rest, rest)] - B.T @ (B / dd[:, None])
            x = np.empty_like(R, dtype=float)
            if rest.size:
                x[rest] = _solve_psd_columns(S, R[rest] - B.T @ (R[diagonal] / dd[:, None]), None)
            x[diagonal] = (R[diagonal] - B @ x[rest]) / dd[:, None]
            return x
    diag = np.diag(T).copy()
    scale = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 0.0)
    Ts = T * scale[:, None] * scale[None, :]
    sc = scale[:, None]
    if np.all(diag > 0):
        try:  # the usual full-rank case: Cholesky, checked by its condition
            c, low = linalg.cho_factor(Ts, check_finite=False)
            dc = np.diag(c)
            if dc.min() > 1e-7 * dc.max():
                return sc * linalg.cho_solve((c, low), sc * R, check_finite=False)
        except LinAlgError:
            pass
    vals, vecs = np.linalg.eigh(Ts)
    keep = vals > max(vals.max(initial=0.0), 0.0) * 1e-12 * max(len(vals), 1)
    inv = np.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    return sc * (vecs @ (inv[:, None] * (vecs.T @ (sc * R))))


@dataclass(frozen=True, kw_only=True, eq=False)
class CalibrationFit:
    """Outcome of :func:`newton_raphson`: the g-weights and how the iterations went.

    Attributes
    ----------
    g : numpy.ndarray
        ``new weight / input weight`` per row.
    iterations : int
    converged : bool
    rel_error : numpy.ndarray
        Per constraint ``|target - achieved| / (1 + |target|)``.
    """

    g: np.ndarray
    iterations: int
    converged: bool
    rel_error: np.ndarray  # per constraint |target - achieved| / (1 + |target|)


def newton_raphson(
    X: Any,
    d: np.ndarray,
    targets: np.ndarray,
    method: str,
    lower: float,
    upper: float,
    max_iter: int,
    tol: float,
) -> CalibrationFit:
    """Newton-Raphson for the calibration equations ``X'(d g) = t`` (R ``grake``).

    Unlike :func:`calibration_factors` it does not raise when the equations
    are not solved: the fit says whether it converged (the survey-level
    functions turn that into an error naming the constraint, with
    :func:`convergence_error`).

    Parameters
    ----------
    X : numpy.ndarray, scipy.sparse array or BlockModel, shape (n, p)
    d : numpy.ndarray, shape (n,)
        Input weights.
    targets : numpy.ndarray, shape (p,)
    method : {"linear", "raking", "logit"}
    lower, upper : float
        Bounds on g (from :func:`check_bounds`).
    max_iter : int
    tol : float

    Returns
    -------
    CalibrationFit

    Examples
    --------
    >>> X = np.array([[1.0, 1], [1, 2], [1, 3]])
    >>> fit = newton_raphson(X, np.full(3, 2.0), np.array([7.0, 14]), "linear", -np.inf, np.inf, 50, 1e-10)
    >>> fit.converged, fit.iterations, np.round(fit.g, 6)
    (True, 1, array([1.166667, 1.166667, 1.166667]))
    """
    F = calibration_function(method, lower, upper)
    X = model_operator(X)
    q = X.shape[1]
    eta = np.zeros(q)
    g, dg = F(np.zeros(X.shape[0]))
    denom = 1.0 + np.abs(targets)
    iterations = 0
    while True:
        misfit = targets - X.rmatvec(d * g)
        rel = np.abs(misfit) / denom
        if not np.all(np.isfinite(rel)):
            return CalibrationFit(g=g, iterations=iterations, converged=False, rel_error=rel)
        if q == 0 or rel.max() < tol:
            return CalibrationFit(g=g, iterations=iterations, converged=True, rel_error=rel)
        if iterations >= max_iter:
            return CalibrationFit(g=g, iterations=iterations, converged=False, rel_error=rel)
        iterations += 1
        step = solve_psd(X.crossprod(d * dg), misfit, X.diagonal())
        eta = eta + step
        with np.errstate(over="ignore", invalid="ignore"):
            g, dg = F(X.matvec(eta))
        halvings = 0
        while not (np.all(np.isfinite(g)) and np.all(np.isfinite(dg))) and halvings < 60:
            halvings += 1
            step = step / 2
            eta = eta - step
            with np.errstate(over="ignore", invalid="ignore"):
                g, dg = F(X.matvec(eta))


def calibration_factors(
    X: Any,
    weights: np.ndarray,
    totals: np.ndarray,
    *,
    method: Method = "linear",
    bounds: tuple[float, float] | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """g-weights that calibrate ``weights`` to ``totals`` (pure array function).

    Solves ``sum_i weights_i g_i x_i = totals`` with ``g_i = F(x_i' lambda)``
    by Newton-Raphson from ``lambda = 0``, as R ``survey:::grake``. Used by
    :func:`survey.estimation.weighting.calibrate` and, for each replicate, by the
    replicate module.

    Parameters
    ----------
    X : numpy.ndarray or scipy.sparse matrix, shape (n, p)
        Calibration model matrix (auxiliary values, level indicators).
    weights : numpy.ndarray, shape (n,)
        Input weights (rows with weight 0 stay 0).
    totals : numpy.ndarray, shape (p,)
        Population totals of the columns of ``X``.
    method : {"linear", "raking", "logit"}, default="linear"
        Calibration function (R ``calfun``).
    bounds : tuple of float, optional
        ``(lower, upper)`` bounds on ``g``, ``lower < 1 < upper``; required
        for ``"logit"``.
    max_iter : int, default=50
        Maximum Newton steps.
    tol : float, default=1e-10
        Stop when every ``|total - achieved| / (1 + |total|) < tol``
        (R's ``epsilon``, whose default is 1e-7).
    names : sequence of str, optional
        Names of the columns of ``X``, for error messages.

    Returns
    -------
    numpy.ndarray
        ``g``, shape (n,): the calibrated weights are ``weights * g``.

    Raises
    ------
    CalibrationError
        When the totals cannot be reached; the message names the constraint
        that is furthest off and the relative error reached.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 1], [1, 2], [1, 3]])
    >>> g = calibration_factors(X, np.array([2.0, 2, 2]), np.array([7.0, 14]))
    >>> np.round(g * 2, 6)
    array([2.333333, 2.333333, 2.333333])
    """
    d = np.asarray(weights, dtype=float)
    X = checked_model(X, d.shape[0])
    t = np.asarray(totals, dtype=float).ravel()
    if t.shape[0] != X.shape[1]:
        raise CalibrationError(
            f"{t.shape[0]} totals given for a model matrix with {X.shape[1]} columns"
        )
    lower, upper = check_bounds(method, bounds)
    labels = list(names) if names is not None else [f"column {j}" for j in range(t.shape[0])]
    fit = newton_raphson(X, d, t, method, lower, upper, max_iter, tol)
    if not fit.converged:
        raise convergence_error(fit, labels, method, bounds, max_iter)
    return fit.g


def convergence_error(
    fit: CalibrationFit, labels: Sequence[str], method: str, bounds: Any, max_iter: int
) -> CalibrationError:
    """The error for a calibration that did not converge, naming the constraint furthest off.

    Parameters
    ----------
    fit : CalibrationFit
    labels : sequence of str
        One label per constraint (column of the model).
    method : str
    bounds : tuple of float or None
    max_iter : int

    Returns
    -------
    CalibrationError

    Examples
    --------
    >>> fit = CalibrationFit(g=np.ones(2), iterations=3, converged=False, rel_error=np.array([0.1, 0.5]))
    >>> str(convergence_error(fit, ["a", "b"], "linear", None, 3)).split(":")[1]
    ' constraint b is furthest off, max relative error 0.5; collapse sparse levels, drop a collinear auxiliary, or raise max_iter'
    """
    rel = np.where(np.isfinite(fit.rel_error), fit.rel_error, np.inf)
    j = int(np.argmax(rel))
    hint = (
        "widen the bounds, collapse sparse levels, or drop an auxiliary"
        if bounds is not None
        else "collapse sparse levels, drop a collinear auxiliary, or raise max_iter"
    )
    return CalibrationError(
        f"{method} calibration did not converge in {fit.iterations} iteration(s) "
        f"(max_iter={max_iter}): constraint {labels[j]} is furthest off, max relative "
        f"error {rel[j]:.3g}; {hint}"
    )
