"""Weighting: nonresponse adjustment, calibration, raking, post-stratification, trimming.

Every function here takes a :class:`~survey.estimation.survey.Survey` and returns a new
one whose weights are adjusted and whose :attr:`~survey.estimation.survey.Survey.weighting`
records the step (a :class:`~survey.estimation.survey.WeightingStep`). The step keeps the
calibration model ``X`` and the input weights so that standard errors use the
regression residuals of the calibration (GREG variance), as R ``survey`` does.

The arithmetic lives in plain array functions that the replicate module also
uses: :func:`calibration_factors` (g-weights by Newton-Raphson, R's
``grake``), :func:`raking_factors` (iterative proportional fitting) and
:func:`residualize` (scores after weighting, for the variance engine).

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
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.linalg import LinAlgError
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit

from survey.errors import CalibrationError, ColumnError, WeightError

__all__ = [
    "WeightingReport",
    "calibrate",
    "rake",
    "poststratify",
    "trim_weights",
    "adjust_nonresponse",
    "calibration_report",
    "weights_from_probabilities",
    "check_design_weights",
    "calibration_factors",
    "raking_factors",
    "residualize",
]

Method = Literal["linear", "raking", "logit"]
_METHODS = ("linear", "raking", "logit")
_INTERCEPT = "(population size)"


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class WeightingReport:
    """What one weighting step did: targets against achieved totals, g range, iterations.

    Attributes
    ----------
    kind : {"calibration", "rake", "poststratify", "nonresponse", "trim"}
        The step.
    method : str
        Calibration function (``"linear"``, ``"raking"``, ``"logit"``), ``"ipf"``
        for raking by iterative proportional fitting, or the kind again.
    table : pandas.DataFrame
        One row per constraint (``margin, level, target, before, achieved,
        rel_error``), per cell (nonresponse) or per group (trimming).
    iterations : int
        Newton or IPF iterations used (1 for one-pass steps).
    ratio_min, ratio_max : float
        Range of ``g = new weight / input weight`` over rows with positive input weight.
    n_changed : int
        Rows whose weight changed (trimming: rows set to a bound; nonresponse:
        nonrespondents set to zero).
    reweight : callable or None
        ``reweight(weights) -> new_weights`` repeats this step (same targets,
        same options) on other input weights, e.g. each replicate.
    margin_codes, margin_weights : tuple of numpy.ndarray
        Raking only: per margin the level codes and the weights after that
        margin's adjustment in the last sweep (R ``rake()`` variance).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import poststratify, calibration_report
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 1.0, 2.0]})
    >>> s = poststratify(sv.Survey(df, sv.Design(weights="w")), "k", {"a": 4, "b": 3})
    >>> calibration_report(s).table[["level", "target", "before", "achieved"]]
      level  target  before  achieved
    0     a     4.0     2.0       4.0
    1     b     3.0     2.0       3.0
    """

    kind: str
    method: str
    table: pd.DataFrame
    iterations: int = 1
    converged: bool = True
    ratio_min: float = float("nan")
    ratio_max: float = float("nan")
    n_changed: int = 0
    reweight: Callable[[np.ndarray], np.ndarray] | None = None
    margin_codes: tuple[np.ndarray, ...] = ()
    margin_weights: tuple[np.ndarray, ...] = ()

    def __str__(self) -> str:
        head = (
            f"{self.kind} ({self.method}): {self.iterations} iteration(s), "
            f"g from {self.ratio_min:.6g} to {self.ratio_max:.6g}"
        )
        if self.kind in ("trim", "nonresponse"):
            head += f", {self.n_changed} row(s) changed"
        with pd.option_context("display.width", 120, "display.max_rows", 40):
            return head + "\n" + self.table.to_string(index=False)

    def _repr_html_(self) -> str:
        return f"<p>{str(self).splitlines()[0]}</p>" + self.table.to_html(index=False)


# ---------------------------------------------------------------------------
# Pure array math: calibration functions and Newton-Raphson (R grake)
# ---------------------------------------------------------------------------
def _check_bounds(method: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if method not in _METHODS:
        raise CalibrationError(
            f"method={method!r} is not one of {', '.join(map(repr, _METHODS))}"
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


def _calfun(method: str, lower: float, upper: float) -> Callable[[np.ndarray], tuple]:
    """Return F(u) -> (g, dg/du) for a calibration method (R cal.linear/raking/logit)."""
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
            s = expit(a * u + shift)
            return lower + (upper - lower) * s, (upper - lower) * a * s * (1.0 - s)

    return f


def _solve_psd(T: np.ndarray, r: np.ndarray, diagonal: np.ndarray | None = None) -> np.ndarray:
    """Solve ``T x = r`` for symmetric PSD ``T`` (minimum norm when singular, R ``MASS::ginv``).

    Jacobi scaling first, so columns on very different scales (counts and
    revenue totals) do not decide the numerical rank. ``diagonal``: columns
    whose block of ``T`` is diagonal (the levels of one margin); they are
    eliminated first (Schur complement), so hundreds of levels cost O(p).
    """
    if diagonal is not None and diagonal.size > 1:
        dd = T[diagonal, diagonal]
        if np.all(dd > 0):
            rest = np.setdiff1d(np.arange(T.shape[0]), diagonal)
            B = T[np.ix_(diagonal, rest)]
            S = T[np.ix_(rest, rest)] - B.T @ (B / dd[:, None])
            x = np.empty_like(r, dtype=float)
            x[rest] = _solve_psd(S, r[rest] - B.T @ (r[diagonal] / dd)) if rest.size else 0.0
            x[diagonal] = (r[diagonal] - B @ x[rest]) / dd
            return x
    diag = np.diag(T).copy()
    scale = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 0.0)
    Ts = T * scale[:, None] * scale[None, :]
    if np.all(diag > 0):
        try:  # the usual full-rank case: Cholesky, checked by its condition
            c, low = cho_factor(Ts, check_finite=False)
            dc = np.diag(c)
            if dc.min() > 1e-7 * dc.max():
                return scale * cho_solve((c, low), scale * r, check_finite=False)
        except LinAlgError:
            pass
    vals, vecs = np.linalg.eigh(Ts)
    keep = vals > max(vals.max(initial=0.0), 0.0) * 1e-12 * max(len(vals), 1)
    inv = np.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    return scale * (vecs @ (inv * (vecs.T @ (scale * r))))


def _crossprod(X: Any, s: np.ndarray) -> np.ndarray:
    """``X' diag(s) X`` as a dense p x p array (X dense or sparse)."""
    if sp.issparse(X):
        return np.asarray((X.T @ sp.csr_array(X.multiply(s[:, None]))).toarray())
    return (X * s[:, None]).T @ X


def _as_model(X: Any, n: int) -> Any:
    if sp.issparse(X):
        X = sp.csr_array(X, dtype=float)
    else:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        raise CalibrationError(f"model matrix has shape {X.shape}, expected ({n}, p)")
    return X


class _MatrixOp:
    """A dense or sparse model matrix behind the operator interface of :class:`_Blocks`."""

    def __init__(self, X: Any) -> None:
        self.X = X
        self.shape = X.shape

    def matvec(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.X @ b)

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.X.T @ v)

    def crossprod(self, s: np.ndarray) -> np.ndarray:
        return _crossprod(self.X, s)

    def diagonal(self) -> np.ndarray | None:
        return None


class _Blocks:
    """Model matrix stored as blocks: level indicators (integer codes) and numeric columns.

    Products are group sums (``np.bincount``); the n x p matrix is never formed
    except as a sparse matrix for the weighting step. ``blocks`` holds
    ``("cat", codes, L)`` (codes in ``[0, L)``, -1 for no level) or
    ``("num", values, 1)``.
    """

    def __init__(self, n: int, blocks: list[tuple[str, np.ndarray, int]]) -> None:
        self.n = n
        self.blocks = blocks
        self.offsets = np.cumsum([0] + [b[2] for b in blocks])
        self.shape = (n, int(self.offsets[-1]))
        self._ext = [
            (np.where(v < 0, L, v) if v.size and v.min() < 0 else v) if k == "cat" else None
            for k, v, L in blocks
        ]

    def matvec(self, b: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        for (kind, v, L), ext, o in zip(self.blocks, self._ext, self.offsets):
            if kind == "cat":
                out += np.append(b[o : o + L], 0.0)[ext]
            else:
                out += v * b[o]
        return out

    def rmatvec(self, s: np.ndarray) -> np.ndarray:
        parts = [
            np.bincount(ext, weights=s, minlength=L + 1)[:L]
            if kind == "cat"
            else np.array([np.einsum("i,i->", v, s)])  # no BLAS threads for one dot
            for (kind, v, L), ext in zip(self.blocks, self._ext)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def crossprod(self, s: np.ndarray) -> np.ndarray:
        p = self.shape[1]
        T = np.zeros((p, p))
        B = self.blocks
        for a in range(len(B)):
            ka, va, La = B[a]
            oa = self.offsets[a]
            for b in range(a, len(B)):
                kb, vb, Lb = B[b]
                ob = self.offsets[b]
                if a == b and ka == "cat":
                    blk = np.diag(np.bincount(self._ext[a], weights=s, minlength=La + 1)[:La])
                elif ka == "cat" and kb == "cat":
                    key = self._ext[a] * (Lb + 1) + self._ext[b]
                    blk = np.bincount(key, weights=s, minlength=(La + 1) * (Lb + 1))
                    blk = blk.reshape(La + 1, Lb + 1)[:La, :Lb]
                elif ka == "cat":
                    blk = np.bincount(self._ext[a], weights=s * vb, minlength=La + 1)[:La, None]
                elif kb == "cat":
                    blk = np.bincount(self._ext[b], weights=s * va, minlength=Lb + 1)[None, :Lb]
                else:
                    blk = np.array([[np.einsum("i,i,i->", s, va, vb)]])
                T[oa : oa + La, ob : ob + Lb] = blk
                T[ob : ob + Lb, oa : oa + La] = blk.T
        return T

    def diagonal(self) -> np.ndarray | None:
        """Columns of the largest categorical block (their crossproduct block is diagonal)."""
        cats = [(L, o) for (k, _, L), o in zip(self.blocks, self.offsets) if k == "cat"]
        if not cats:
            return None
        L, o = max(cats)
        return np.arange(o, o + L)

    def select(self, keep: np.ndarray) -> "_Blocks":
        """The model restricted to the columns where ``keep`` is true."""
        out = []
        for (kind, v, L), o in zip(self.blocks, self.offsets):
            k = keep[o : o + L]
            if kind == "num":
                if k[0]:
                    out.append((kind, v, 1))
                continue
            if k.all():
                out.append((kind, v, L))
                continue
            remap = np.full(L + 1, -1, dtype=np.intp)
            remap[np.flatnonzero(k)] = np.arange(int(k.sum()))
            out.append((kind, remap[np.where(v < 0, L, v)], int(k.sum())))
        return _Blocks(self.n, out)

    def sparse(self) -> sp.csr_array:
        """The n x p model matrix as a CSR array (one entry per row and block)."""
        if not self.blocks:
            return sp.csr_array((self.n, 0))
        cols = np.empty((self.n, len(self.blocks)), dtype=np.int32)
        vals = np.empty((self.n, len(self.blocks)))
        for j, ((kind, v, L), o) in enumerate(zip(self.blocks, self.offsets)):
            if kind == "cat":
                cols[:, j] = np.where(v >= 0, v + o, -1)
                vals[:, j] = 1.0
            else:
                cols[:, j] = o
                vals[:, j] = v
        ok = cols >= 0
        if ok.all():
            nb = len(self.blocks)
            indptr = np.arange(0, self.n * nb + 1, nb, dtype=np.int64)
            if self.n * nb < 2**31 - 1:
                indptr = indptr.astype(np.int32)
            return sp.csr_array((vals.ravel(), cols.ravel(), indptr), shape=self.shape)
        indptr = np.concatenate([[0], np.cumsum(ok.sum(axis=1))])
        return sp.csr_array((vals[ok], cols[ok], indptr), shape=self.shape)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Fit:
    g: np.ndarray
    iterations: int
    converged: bool
    rel_error: np.ndarray  # per constraint |target - achieved| / (1 + |target|)


def _newton(
    X: Any,
    d: np.ndarray,
    targets: np.ndarray,
    method: str,
    lower: float,
    upper: float,
    max_iter: int,
    tol: float,
) -> _Fit:
    """Newton-Raphson for the calibration equations ``X'(d g) = t`` (R ``grake``)."""
    F = _calfun(method, lower, upper)
    if not isinstance(X, (_Blocks, _MatrixOp)):
        X = _MatrixOp(X)
    q = X.shape[1]
    eta = np.zeros(q)
    g, dg = F(np.zeros(X.shape[0]))
    denom = 1.0 + np.abs(targets)
    iterations = 0
    while True:
        misfit = targets - X.rmatvec(d * g)
        rel = np.abs(misfit) / denom
        if not np.all(np.isfinite(rel)):
            return _Fit(g=g, iterations=iterations, converged=False, rel_error=rel)
        if q == 0 or rel.max() < tol:
            return _Fit(g=g, iterations=iterations, converged=True, rel_error=rel)
        if iterations >= max_iter:
            return _Fit(g=g, iterations=iterations, converged=False, rel_error=rel)
        iterations += 1
        step = _solve_psd(X.crossprod(d * dg), misfit, X.diagonal())
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
    :func:`calibrate` and, for each replicate, by the replicate module.

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
    X = _as_model(X, d.shape[0])
    t = np.asarray(totals, dtype=float).ravel()
    if t.shape[0] != X.shape[1]:
        raise CalibrationError(
            f"{t.shape[0]} totals given for a model matrix with {X.shape[1]} columns"
        )
    lower, upper = _check_bounds(method, bounds)
    labels = list(names) if names is not None else [f"column {j}" for j in range(t.shape[0])]
    fit = _newton(X, d, t, method, lower, upper, max_iter, tol)
    if not fit.converged:
        raise _no_convergence(fit, labels, method, bounds, max_iter)
    return fit.g


def _no_convergence(
    fit: _Fit, labels: Sequence[str], method: str, bounds: Any, max_iter: int
) -> CalibrationError:
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


# ---------------------------------------------------------------------------
# Pure array math: iterative proportional fitting
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class _IPF:
    w: np.ndarray
    iterations: int
    converged: bool
    rel_error: list[np.ndarray]
    margin_weights: tuple[np.ndarray, ...]


def _ipf(
    codes: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    d: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    convergence: str,
) -> _IPF:
    """Raking ratio by IPF over margins; codes -1 only on rows with weight 0.

    ``convergence="margins"``: stop when every margin total is within
    ``tol * (1 + |target|)``. ``"cells"``: stop when no cell of the cross
    table of all margins changes by ``tol`` or more in a sweep (R ``rake()``,
    whose default ``epsilon`` is 1).
    """
    m = len(codes)
    sizes = [len(t) for t in targets]
    ext = [np.where(c < 0, s, c) for c, s in zip(codes, sizes)]  # -1 -> extra bin
    w = d.copy()
    cell = None
    if convergence == "cells":
        cell = np.ravel_multi_index(tuple(ext), tuple(s + 1 for s in sizes))
        cell = np.unique(cell, return_inverse=True)[1].ravel()
        n_cells = int(cell.max()) + 1
        old = np.bincount(cell, weights=w, minlength=n_cells)
    sums = np.bincount(ext[0], weights=w, minlength=sizes[0] + 1)[: sizes[0]]
    ratios: list[np.ndarray] = [np.ones(s + 1) for s in sizes]
    rel: list[np.ndarray] = []
    iterations = 0
    converged = False
    while iterations < max_iter:
        iterations += 1
        for k in range(m):
            if k > 0:
                sums = np.bincount(ext[k], weights=w, minlength=sizes[k] + 1)[: sizes[k]]
            r = np.ones(sizes[k] + 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r[: sizes[k]] = np.where(sums > 0, targets[k] / sums, 1.0)
            ratios[k] = r
            w = w * r[ext[k]]
        sums = np.bincount(ext[0], weights=w, minlength=sizes[0] + 1)[: sizes[0]]
        if convergence == "cells":
            new = np.bincount(cell, weights=w, minlength=n_cells)
            delta = np.abs(new - old).max()
            old = new
            converged = bool(delta < tol)
        else:
            err = np.abs(sums - targets[0]) / (1.0 + np.abs(targets[0]))
            converged = bool(err.max(initial=0.0) < tol)
        if converged:
            break
    rel = [
        np.abs(np.bincount(ext[k], weights=w, minlength=sizes[k] + 1)[: sizes[k]] - targets[k])
        / (1.0 + np.abs(targets[k]))
        for k in range(m)
    ]
    if convergence == "margins":
        converged = all(e.max(initial=0.0) < tol for e in rel)
    # weights after each margin's adjustment in the last sweep (R's attr "weights")
    psw = [w]
    for k in range(m - 1, 0, -1):
        with np.errstate(divide="ignore", invalid="ignore"):
            psw.append(np.where(psw[-1] > 0, psw[-1] / ratios[k][ext[k]], 0.0))
    return _IPF(
        w=w,
        iterations=iterations,
        converged=converged,
        rel_error=rel,
        margin_weights=tuple(reversed(psw)),
    )


def _ipf_checked(
    codes: Sequence[np.ndarray],
    counts: Sequence[np.ndarray],
    weights: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    convergence: str,
    names: Sequence[str] | None = None,
    levels: Sequence[Sequence[Any]] | None = None,
) -> _IPF:
    """IPF that raises a CalibrationError naming the level furthest off when it does not converge."""
    fit = _ipf(codes, counts, weights, max_iter=max_iter, tol=tol, convergence=convergence)
    if not fit.converged:
        k = int(np.argmax([e.max(initial=0.0) for e in fit.rel_error]))
        j = int(np.argmax(fit.rel_error[k]))
        where = (
            f"level {levels[k][j]!r} of {names[k]!r}"
            if names is not None and levels is not None
            else f"margin {k}, level {j}"
        )
        raise CalibrationError(
            f"raking did not converge in {fit.iterations} sweeps (max_iter={max_iter}): "
            f"{where} is furthest off, max relative error {fit.rel_error[k][j]:.3g}; collapse "
            "levels with few sample units, check that the margins can hold together, or raise "
            "max_iter"
        )
    return fit


def raking_factors(
    codes: Sequence[np.ndarray],
    counts: Sequence[np.ndarray],
    weights: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    convergence: Literal["margins", "cells"] = "margins",
) -> np.ndarray:
    """g-weights of raking ratio (IPF) to categorical margins (pure array function).

    Parameters
    ----------
    codes : sequence of numpy.ndarray of int
        Per margin, the level code of every row in ``[0, L_m)`` (``-1`` allowed
        only on rows with weight 0).
    counts : sequence of numpy.ndarray
        Per margin, the population count of each level (length ``L_m``).
    weights : numpy.ndarray
        Input weights.
    max_iter : int, default=100
        Maximum sweeps over all margins.
    tol : float, default=1e-10
        ``convergence="margins"``: largest ``|achieved - count| / (1 + count)``;
        ``"cells"``: largest change of a cross-table cell between sweeps, in
        weight units (R ``rake()`` uses 1).
    convergence : {"margins", "cells"}, default="margins"
        Stopping rule.

    Returns
    -------
    numpy.ndarray
        ``g`` such that ``weights * g`` hits every margin.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([0, 0, 1, 1]); b = np.array([0, 1, 0, 1])
    >>> g = raking_factors([a, b], [np.array([6.0, 4]), np.array([5.0, 5])], np.ones(4))
    >>> np.round(g, 6)
    array([3., 3., 2., 2.])
    """
    d = np.asarray(weights, dtype=float)
    codes = [np.asarray(c, dtype=np.intp) for c in codes]
    counts = [np.asarray(c, dtype=float) for c in counts]
    fit = _ipf_checked(codes, counts, d, max_iter=max_iter, tol=tol, convergence=convergence)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, fit.w / d, 1.0)


# ---------------------------------------------------------------------------
# Variance after weighting (for the variance engine)
# ---------------------------------------------------------------------------
def _greg_residuals(x: np.ndarray, X: Any, w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """R: ``qr.resid(qr(X*sqrt(w0)), x/(g*sqrt(w0))) * g*sqrt(w0)``, with g = w1/w0."""
    out = x.copy()
    pos = (w0 > 0) & (w1 > 0)
    if not pos.any():
        return out
    rows = np.flatnonzero(pos)
    Xp = X[rows] if sp.issparse(X) else np.asarray(X, dtype=float)[rows]
    if sp.issparse(Xp):
        Xp = sp.csr_array(Xp)
    sw = np.sqrt(w0[rows])
    c = w1[rows] / sw
    z = x[rows] / c[:, None]
    T = _crossprod(Xp, w0[rows])
    resid = z.copy()
    for _ in range(2):  # one step of iterative refinement for accuracy
        rhs = Xp.T @ (resid * sw[:, None])
        beta = np.column_stack([_solve_psd(T, rhs[:, j]) for j in range(rhs.shape[1])])
        resid = resid - sw[:, None] * (Xp @ beta)
    out[rows] = resid * c[:, None]
    return out


def _rake_residuals(
    x: np.ndarray, codes: Sequence[np.ndarray], psw: Sequence[np.ndarray], sweeps: int = 10
) -> np.ndarray:
    """R ``svyrecvar`` for ``rake()``: 10 sweeps of ``x - psw * ave(x / psw, margin)``.

    ``ave`` is the unweighted mean over the rows of a level (rows with zero
    weight are left out).
    """
    x = x.copy()
    for _ in range(sweeps):
        for c, p in zip(codes, psw):
            pos = (p > 0) & (c >= 0)
            cc = c[pos]
            L = int(cc.max()) + 1 if cc.size else 0
            cnt = np.bincount(cc, minlength=L)
            ratio = x[pos] / p[pos][:, None]
            means = np.column_stack(
                [np.bincount(cc, weights=ratio[:, j], minlength=L) for j in range(x.shape[1])]
            ) / np.maximum(cnt, 1)[:, None]
            x[pos] = x[pos] - p[pos][:, None] * means[cc]
    return x


def residualize(scores: np.ndarray, steps: Sequence[Any], weights: np.ndarray) -> np.ndarray:
    """Scores after weighting: replace them by calibration residuals, as R ``svyrecvar``.

    Apply to the influence values (scores, already multiplied by the final
    weights) before the design variance. Steps are applied oldest first:

    * ``"calibration"``, ``"poststratify"``: residuals of the input-weighted
      regression of ``score / final weight`` on the model matrix, times the
      weight (GREG variance; for post-strata this equals R ``postStratify``);
    * ``"rake"``: R ``rake()``'s own rule, ten sweeps of
      ``x - w_m * mean(x / w_m | level)`` with unweighted level means and
      ``w_m`` the weights after margin ``m`` in the last IPF sweep;
    * steps without a model (``"trim"``, ``"nonresponse"``): unchanged.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,) or (n, k)
        Influence values ``y * w`` (or linearised equivalents).
    steps : sequence of WeightingStep
        ``Survey.weighting``.
    weights : numpy.ndarray, shape (n,)
        The final weights (``Survey.weights``).

    Returns
    -------
    numpy.ndarray
        Same shape as ``scores``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([5.0, 5, 5, 5]); X = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    >>> from survey.estimation.survey import WeightingStep
    >>> step = WeightingStep(kind="poststratify", model=X, input_weights=np.ones(4))
    >>> residualize(np.array([1.0, 3, 2, 6]) * w, [step], w)
    array([ -5.,   5., -10.,  10.])
    """
    x = np.asarray(scores, dtype=float)
    one = x.ndim == 1
    x = x[:, None] if one else x.copy()
    steps = list(steps)
    final = np.asarray(weights, dtype=float)
    for k, step in enumerate(steps):
        w_out = steps[k + 1].input_weights if k + 1 < len(steps) else final
        if step.kind == "rake" and getattr(step.report, "margin_codes", ()):
            x = _rake_residuals(x, step.report.margin_codes, step.report.margin_weights)
        elif step.model is not None:
            x = _greg_residuals(x, step.model_matrix(), np.asarray(step.input_weights, float), w_out)
    return x[:, 0] if one else x


# ---------------------------------------------------------------------------
# From a Survey and user totals to a model
# ---------------------------------------------------------------------------
def _check_survey(survey: Any, what: str) -> None:
    if getattr(survey, "_mask", None) is not None:
        raise CalibrationError(
            f"{what} applies to the whole sample, but this Survey is a subset; "
            "weight first, then take the subset"
        )


def _level_codes(
    survey: Any, column: str, counts: Any, d: np.ndarray, what: str
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Level codes of ``column`` against the keys of ``counts`` (a complete margin)."""
    if isinstance(counts, pd.Series):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping) or len(counts) == 0:
        raise CalibrationError(
            f"{what} for categorical column {column!r} must be a non-empty mapping "
            f"{{level: population count}}, got {type(counts).__name__}"
        )
    values = survey._column(column)
    isna = pd.isna(values)
    if isna.any() and np.any(isna & (d > 0)):
        rows = survey.data.index[isna & (d > 0)][:5].tolist()
        raise ColumnError(
            f"column {column!r} has {int((isna & (d > 0)).sum())} missing value(s) among weighted "
            f"rows, first at rows {rows}; impute them or give them their own level"
        )
    levels = list(counts.keys())
    target = np.array([counts[k] for k in levels], dtype=float)
    bad = ~(np.isfinite(target) & (target >= 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise CalibrationError(
            f"{what} for {column!r}: level {levels[j]!r} has count {target[j]!r}; counts must "
            "be finite and non-negative"
        )
    codes = _match_levels(values, levels)
    all_known = codes.size == 0 or codes.min() >= 0
    unknown = None if all_known else (codes < 0) & (d > 0)
    if unknown is not None and unknown.any():
        extra = pd.unique(values[unknown])[:5]
        raise CalibrationError(
            f"{what} for {column!r} is not complete: sample level(s) "
            f"{', '.join(map(repr, extra))} ({int(unknown.sum())} rows) have no population "
            f"count (known levels: {', '.join(map(repr, levels[:8]))}"
            f"{', ...' if len(levels) > 8 else ''}); give every level a count, "
            "or check that the keys have the column's type"
        )
    if all_known:
        sample = np.bincount(codes, weights=d, minlength=len(levels))
    else:
        sample = np.bincount(codes[codes >= 0], weights=d[codes >= 0], minlength=len(levels))
    empty = (sample <= 0) & (target > 0)
    if empty.any():
        js = np.flatnonzero(empty)[:5]
        raise CalibrationError(
            f"{what} for {column!r}: level(s) {', '.join(repr(levels[j]) for j in js)} have a "
            f"population count ({', '.join(f'{target[j]:g}' for j in js)}) but no sample unit "
            "with positive weight; collapse each with a neighbouring level"
        )
    return codes, levels, target


def _match_levels(values: np.ndarray, levels: list[Any]) -> np.ndarray:
    """Index of each value in ``levels`` (-1 when absent or missing), by group codes."""
    if (
        values.dtype.kind in "iu"
        and values.size
        and all(isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in levels)
    ):
        vmin, vmax = int(values.min()), int(values.max())
        if vmax - vmin <= 4 * values.size + 1024:  # small integer range: a lookup table
            lookup = np.full(vmax - vmin + 1, -1, dtype=np.intp)
            keys = np.array(levels, dtype=np.int64)
            inside = (keys >= vmin) & (keys <= vmax)
            lookup[keys[inside] - vmin] = np.flatnonzero(inside)
            return lookup[values - vmin]
    ucodes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.append(pd.Index(levels).get_indexer(pd.Index(uniques)), -1).astype(np.intp)
    return lookup[ucodes]  # the NA sentinel -1 picks the appended -1


@dataclass(frozen=True, kw_only=True, eq=False)
class _Model:
    X: _Blocks  # (n x p), all constraints
    targets: np.ndarray
    margin: list[str]
    level: list[Any]
    solve: np.ndarray  # bool (p,): columns used to solve (full rank)
    categorical: np.ndarray  # bool (p,)


def _build_model(
    survey: Any, totals: Mapping[str, Any], population_size: float | None, d: np.ndarray
) -> _Model:
    if not isinstance(totals, Mapping) or (len(totals) == 0 and population_size is None):
        raise CalibrationError(
            "totals must be a non-empty mapping: numeric column -> population total, "
            "categorical column -> {level: population count}"
        )
    n = d.shape[0]
    blocks: list[Any] = []
    margin: list[str] = []
    level: list[Any] = []
    target: list[float] = []
    solve: list[bool] = []
    categorical: list[bool] = []
    sums: list[tuple[str, float]] = []
    have_intercept = population_size is not None
    if population_size is not None:
        N = float(population_size)
        if not (np.isfinite(N) and N > 0):
            raise CalibrationError(f"population_size must be positive, got {population_size!r}")
        blocks.append(("num", np.ones(n), 1))
        margin.append(_INTERCEPT)
        level.append("")
        target.append(N)
        solve.append(True)
        categorical.append(False)
        sums.append(("population_size", N))
    for column, value in totals.items():
        if isinstance(value, (Mapping, pd.Series)):
            codes, levels, t = _level_codes(survey, column, value, d, "totals")
            sums.append((repr(column), float(t.sum())))
            keep = np.ones(len(levels), bool)
            known = codes.size == 0 or codes.min() >= 0
            sample = np.bincount(codes if known else codes[codes >= 0], minlength=len(levels))
            keep &= ~((t == 0) & (sample == 0))  # R drops all-zero columns
            idx = np.flatnonzero(keep)
            if known and idx.size == len(levels):
                rc = codes
            else:
                remap = np.full(len(levels), -1)
                remap[idx] = np.arange(idx.size)
                rc = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            blocks.append(("cat", rc.astype(np.intp), int(idx.size)))
            s = [True] * idx.size
            if have_intercept and idx.size:
                s[0] = False
            have_intercept = True
            margin += [column] * idx.size
            level += [levels[j] for j in idx]
            target += list(t[idx])
            solve += s
            categorical += [True] * idx.size
        else:
            if not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
                raise CalibrationError(
                    f"totals[{column!r}] must be a finite number (numeric column) or a mapping "
                    f"{{level: count}} (categorical column), got {value!r}"
                )
            x = survey._column(column)
            if not pd.api.types.is_numeric_dtype(np.asarray(x).dtype) or np.asarray(x).dtype == bool:
                raise ColumnError(
                    f"calibration column {column!r} is not numeric (dtype {np.asarray(x).dtype}); "
                    "give a {level: count} mapping for a categorical column"
                )
            x = np.asarray(x, dtype=float)
            finite = np.isfinite(x)
            bad = ~finite & (d > 0)
            if bad.any():
                rows_ = survey.data.index[bad][:5].tolist()
                raise ColumnError(
                    f"auxiliary column {column!r} has {int(bad.sum())} missing or infinite "
                    f"value(s) among weighted rows, first at rows {rows_}"
                )
            if not finite.all():
                x = np.where(finite, x, 0.0)
            blocks.append(("num", x, 1))
            margin.append(column)
            level.append("")
            target.append(float(value))
            solve.append(True)
            categorical.append(False)
    if len(sums) > 1:
        ref_name, ref = sums[0]
        for name, s_ in sums[1:]:
            if abs(s_ - ref) > 1e-9 * max(abs(ref), 1.0):
                raise CalibrationError(
                    f"contradictory margins: the counts for {name} add up to {s_:.10g} but "
                    f"{ref_name} gives {ref:.10g}; every complete margin must add up to the "
                    "same population size"
                )
    return _Model(
        X=_Blocks(n, blocks),
        targets=np.array(target, dtype=float),
        margin=margin,
        level=level,
        solve=np.array(solve, bool),
        categorical=np.array(categorical, bool),
    )


def _labels(model: _Model) -> list[str]:
    return [
        f"{m!r} = {lv!r}" if cat else (m if m == _INTERCEPT else repr(m))
        for m, lv, cat in zip(model.margin, model.level, model.categorical)
    ]


def _check_feasible(
    model: _Model, before: np.ndarray, method: str, lower: float, upper: float
) -> None:
    """Levels whose count cannot be reached with g inside the bounds (checked per level)."""
    if method == "linear" and not (np.isfinite(lower) or np.isfinite(upper)):
        return
    lo = max(lower, 0.0) if method == "raking" else lower
    cat = np.flatnonzero(model.categorical)
    if cat.size == 0:
        return
    sample = before[cat]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = model.targets[cat] / sample
    strict = method != "linear"
    bad = (ratio <= lo) | (ratio >= upper) if strict else (ratio < lo) | (ratio > upper)
    bad &= ~np.isclose(ratio, 1.0)
    if bad.any():
        j = cat[np.flatnonzero(bad)[0]]
        r = ratio[np.flatnonzero(bad)[0]]
        raise CalibrationError(
            f"bounds cannot be met: level {model.level[j]!r} of {model.margin[j]!r} needs its "
            f"weights multiplied by {r:.4g} on average (count {model.targets[j]:g}, sample "
            f"total {sample[np.flatnonzero(bad)[0]]:g}), outside bounds ({lower:g}, {upper:g}); "
            "widen the bounds or collapse the level with a neighbour"
        )


def _constraint_table(model: _Model, before: np.ndarray, achieved: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "margin": model.margin,
            "level": model.level,
            "target": model.targets,
            "before": before,
            "achieved": achieved,
            "rel_error": np.abs(achieved - model.targets) / np.maximum(np.abs(model.targets), 1.0),
        }
    )


def _g_range(d: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    pos = d > 0
    if not pos.any():
        return float("nan"), float("nan")
    g = w[pos] / d[pos]
    return float(g.min()), float(g.max())


# ---------------------------------------------------------------------------
# Survey-level functions
# ---------------------------------------------------------------------------
def calibrate(
    survey: Any,
    totals: Mapping[str, Any],
    *,
    method: Method = "linear",
    bounds: tuple[float, float] | None = None,
    population_size: float | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> Any:
    """Calibrate the weights to known population totals (GREG, raking, logit).

    The new weights ``w = d g`` reproduce every total exactly and stay close
    to the input weights ``d`` (Deville and Sarndal 1992). The returned
    Survey remembers the model, so standard errors use the calibration
    residuals (GREG variance), as R ``survey::calibrate``.

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    totals : mapping
        Numeric column -> population total; categorical column ->
        ``{level: population count}`` for every level (a complete margin).
        A complete margin implies the population size (an intercept).
    method : {"linear", "raking", "logit"}, default="linear"
        Calibration function, as R ``calfun``. ``"linear"`` with ``bounds``
        is truncated linear calibration.
    bounds : tuple of float, optional
        ``(lower, upper)`` bounds on ``g = w / d`` with ``lower < 1 < upper``
        (R ``bounds``); required for ``"logit"``.
    population_size : float, optional
        Population size ``N`` (the intercept) when no categorical margin gives it.
    max_iter : int, default=50
        Maximum Newton steps.
    tol : float, default=1e-10
        Convergence: every ``|target - achieved| / (1 + |target|) < tol``. R's
        ``epsilon`` is 1e-7; pass ``tol=1e-7`` to stop where R stops.

    Returns
    -------
    Survey
        With calibrated weights and a ``"calibration"`` weighting step.

    Raises
    ------
    CalibrationError
        A level with a population count but no sample unit, an incomplete
        margin, margins that add up to different population sizes, bounds
        that cannot be met, or no convergence; the message names the
        constraint and the relative error reached.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import calibrate
    >>> df = pd.DataFrame({"size": ["S", "S", "L", "L"], "rev": [1.0, 2.0, 5.0, 7.0],
    ...                    "w": [10.0, 10.0, 2.0, 2.0]})
    >>> s = calibrate(sv.Survey(df, sv.Design(weights="w")), {"size": {"S": 30, "L": 5}, "rev": 80})
    >>> s.weights.round(4)
    array([12.2222, 17.7778,  1.3889,  3.6111])
    """
    _check_survey(survey, "calibration")
    lower, upper = _check_bounds(method, bounds)
    d = np.asarray(survey.weights, dtype=float)
    model = _build_model(survey, totals, population_size, d)
    before = model.X.rmatvec(d)
    _check_feasible(model, before, method, lower, upper)
    Xs = model.X.select(model.solve)
    ts = model.targets[model.solve]
    labels = [lab for lab, s_ in zip(_labels(model), model.solve) if s_]

    def refit(weights: np.ndarray) -> _Fit:
        return _newton(Xs, np.asarray(weights, float), ts, method, lower, upper, max_iter, tol)

    fit = refit(d)
    if not fit.converged:
        raise _no_convergence(fit, labels, method, bounds, max_iter)
    w = d * fit.g
    achieved = model.X.rmatvec(w)
    full_err = np.abs(achieved - model.targets) / (1.0 + np.abs(model.targets))
    if full_err.max(initial=0.0) > max(tol, 1e-9) * 10:
        j = int(np.argmax(full_err))
        raise CalibrationError(
            f"calibration reached the solved constraints but misses {_labels(model)[j]} "
            f"(relative error {full_err[j]:.3g}); the margins contradict each other"
        )

    def reweight(weights: np.ndarray) -> np.ndarray:
        f = refit(weights)
        if not f.converged:
            raise _no_convergence(f, labels, method, bounds, max_iter)
        return np.asarray(weights, float) * f.g

    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="calibration",
        method=method,
        table=_constraint_table(model, before, achieved),
        iterations=fit.iterations,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=reweight,
    )
    return _apply(survey, w, "calibration", model.X.sparse, d, report)  # built when a variance needs it


def _apply(survey: Any, w: np.ndarray, kind: str, model: Any, d: np.ndarray, report: Any) -> Any:
    from survey.estimation.survey import WeightingStep

    step = WeightingStep(kind=kind, model=model, input_weights=d, report=report)
    new = survey._reweighted(w, step=step)
    if getattr(survey, "replicates", None) is not None:
        # repeat the step on every replicate (R calibrate.svyrep.design)
        from survey.estimation.replicate import reweight_replicates

        new = new._with_replicates(reweight_replicates(survey.replicates, report.reweight))
    return new


def rake(
    survey: Any,
    margins: Mapping[str, Mapping[Any, float]],
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    convergence: Literal["margins", "cells"] = "margins",
) -> Any:
    """Rake the weights to categorical margins by iterative proportional fitting.

    Each sweep multiplies the weights of every level of every margin by
    ``count / current weighted count``, margin after margin (R ``rake()``).

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    margins : mapping
        Column -> ``{level: population count}``; every margin complete and
        all adding up to the same population size.
    max_iter : int, default=100
        Maximum sweeps.
    tol : float, default=1e-10
        ``convergence="margins"``: every ``|achieved - count| / (1 + count) < tol``.
        ``"cells"``: no cell of the cross table of the margin columns changes
        by ``tol`` or more (weight units) between sweeps.
    convergence : {"margins", "cells"}, default="margins"
        Stopping rule; ``convergence="cells", tol=1`` is R ``rake()``'s
        default and reproduces its weights.

    Returns
    -------
    Survey
        With raked weights and a ``"rake"`` weighting step; standard errors
        follow R ``rake()`` (see :func:`residualize`).

    Raises
    ------
    CalibrationError
        Empty or unknown levels, contradictory margins, or no convergence.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import rake
    >>> df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"]})
    >>> s = sv.Survey(df.assign(w=1.0), sv.Design(weights="w"))
    >>> rake(s, {"a": {"x": 6, "y": 4}, "b": {"u": 5, "v": 5}}).weights
    array([3., 3., 2., 2.])
    """
    _check_survey(survey, "raking")
    if not isinstance(margins, Mapping) or not margins:
        raise CalibrationError("margins must be a non-empty mapping column -> {level: count}")
    d = np.asarray(survey.weights, dtype=float)
    codes, levels, targets, names = [], [], [], []
    for column, counts in margins.items():
        c, lv, t = _level_codes(survey, column, counts, d, "margin")
        codes.append(c)
        levels.append(lv)
        targets.append(t)
        names.append(column)
    tot = [float(t.sum()) for t in targets]
    for k in range(1, len(tot)):
        if abs(tot[k] - tot[0]) > 1e-9 * max(tot[0], 1.0):
            raise CalibrationError(
                f"contradictory margins: the counts for {names[k]!r} add up to {tot[k]:.10g} "
                f"but those for {names[0]!r} add up to {tot[0]:.10g}; every margin must add up "
                "to the same population size"
            )
    if convergence not in ("margins", "cells"):
        raise CalibrationError(f"convergence={convergence!r} is not 'margins' or 'cells'")

    def run(weights: np.ndarray) -> _IPF:
        return _ipf_checked(codes, targets, weights, max_iter=max_iter, tol=tol,
                            convergence=convergence, names=names, levels=levels)

    fit = run(d)
    w = fit.w
    X = _Blocks(d.shape[0], [("cat", c, len(lv)) for c, lv in zip(codes, levels)])
    offset = X.shape[1]
    model = _Model(
        X=X,
        targets=np.concatenate(targets),
        margin=[n_ for n_, lv in zip(names, levels) for _ in lv],
        level=[x for lv in levels for x in lv],
        solve=np.ones(offset, bool),
        categorical=np.ones(offset, bool),
    )
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="rake",
        method="ipf",
        table=_constraint_table(model, model.X.rmatvec(d), model.X.rmatvec(w)),
        iterations=fit.iterations,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=lambda weights: run(np.asarray(weights, float)).w,
        margin_codes=tuple(codes),
        margin_weights=fit.margin_weights,
    )
    return _apply(survey, w, "rake", X.sparse, d, report)


def poststratify(survey: Any, column: str, counts: Mapping[Any, float]) -> Any:
    """Post-stratify: scale the weights in each level of ``column`` to its population count.

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    column : str
        Post-stratum column (combine several columns into one beforehand).
    counts : mapping
        ``{level: population count}`` for every level present in the sample.

    Returns
    -------
    Survey
        With post-stratified weights and a ``"poststratify"`` step; standard
        errors use the post-stratum residuals (R ``postStratify``).

    Raises
    ------
    CalibrationError
        A level with a count but no sample unit, or a sample level without a count.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import poststratify
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 3.0, 2.0]})
    >>> poststratify(sv.Survey(df, sv.Design(weights="w")), "k", {"a": 8, "b": 5}).weights
    array([2., 6., 5.])
    """
    _check_survey(survey, "post-stratification")
    d = np.asarray(survey.weights, dtype=float)
    codes, levels, target = _level_codes(survey, column, counts, d, "counts")

    def run(weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, float)
        ok = codes >= 0
        s = np.bincount(codes[ok], weights=weights[ok], minlength=len(levels))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(s > 0, target / s, 1.0)
        return np.where(ok, weights * r[np.maximum(codes, 0)], weights)

    w = run(d)
    X = _Blocks(d.shape[0], [("cat", codes, len(levels))])
    model = _Model(
        X=X,
        targets=target,
        margin=[column] * len(levels),
        level=levels,
        solve=np.ones(len(levels), bool),
        categorical=np.ones(len(levels), bool),
    )
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="poststratify",
        method="poststratify",
        table=_constraint_table(model, model.X.rmatvec(d), model.X.rmatvec(w)),
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=run,
    )
    return _apply(survey, w, "poststratify", X.sparse, d, report)


def _group_codes(survey: Any, by: str | Sequence[str] | None) -> tuple[np.ndarray, pd.DataFrame]:
    n = len(survey.data)
    cols = [by] if isinstance(by, str) else list(by or [])
    if not cols:
        return np.zeros(n, np.intp), pd.DataFrame(index=[0])
    for c in cols:
        survey._column(c)
        if survey.data[c].isna().any():
            rows = survey.data.index[survey.data[c].isna().to_numpy()][:5].tolist()
            raise ColumnError(f"grouping column {c!r} has missing values, first at rows {rows}")
    frame = survey.data[cols]
    grouped = frame.groupby(cols, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.intp)
    keys = grouped.size().reset_index()[cols]
    return codes, keys


def trim_weights(
    survey: Any,
    lower: float | None = None,
    upper: float | None = None,
    *,
    by: str | Sequence[str] | None = None,
    max_iter: int = 100,
) -> Any:
    """Trim weights to ``[lower, upper]`` and spread the trimmed amount over the others.

    Weights above ``upper`` (below ``lower``) are set to the bound; the
    difference is redistributed over the untrimmed rows of the same group in
    proportion to their weights, until every weight is inside the bounds, so
    each group's total weight is kept: ``w_i = clip(c d_i, lower, upper)``
    with one factor ``c`` per group solving ``sum_i w_i = sum_i d_i``.

    Parameters
    ----------
    survey : Survey
        The sample.
    lower, upper : float, optional
        Bounds on the weights themselves (not on ratios). Rows with weight 0 stay 0.
    by : str or sequence of str, optional
        Keep the total weight within each group (e.g. strata); default: overall.
    max_iter : int, default=100
        Maximum iterations of the search for ``c``.

    Returns
    -------
    Survey
        With a ``"trim"`` step whose report gives the number of trimmed rows.

    Raises
    ------
    WeightError
        When a group's total cannot be kept inside the bounds.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import trim_weights
    >>> df = pd.DataFrame({"w": [1.0, 1.0, 1.0, 7.0]})
    >>> trim_weights(sv.Survey(df, sv.Design(weights="w")), upper=4.0).weights
    array([2., 2., 2., 4.])
    """
    _check_survey(survey, "trimming")
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if not lo < hi:
        raise WeightError(f"trim_weights needs lower < upper, got lower={lower}, upper={upper}")
    d = np.asarray(survey.weights, dtype=float)
    groups, keys = _group_codes(survey, by)
    n_groups = int(groups.max()) + 1

    def run(weights: np.ndarray) -> tuple[np.ndarray, int]:
        weights = np.asarray(weights, float)
        pos = weights > 0
        total = np.bincount(groups, weights=weights, minlength=n_groups)
        npos = np.bincount(groups, weights=pos.astype(float), minlength=n_groups)
        bad = (total > hi * npos * (1 + 1e-12)) | (total < lo * npos * (1 - 1e-12))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            where = "the sample" if by is None else f"group {keys.iloc[j].to_dict()}"
            raise WeightError(
                f"cannot trim {where}: its total weight {total[j]:g} over {int(npos[j])} rows "
                f"cannot lie within [{lo:g}, {hi:g}] per row; loosen the bounds"
            )
        # proportional redistribution = one factor c per group with
        # sum_i clip(c w_i, lower, upper) = group total; safeguarded Newton on c
        c = np.ones(n_groups)
        c_lo = np.zeros(n_groups)
        c_hi = np.full(n_groups, np.inf)
        for _ in range(max_iter):
            cw = c[groups] * weights
            w = np.where(pos, np.clip(cw, lo, hi), 0.0)
            diff = np.bincount(groups, weights=w, minlength=n_groups) - total
            done = np.abs(diff) <= 1e-13 * np.abs(total)
            if done.all():
                break
            c_lo = np.where(diff < 0, c, c_lo)
            c_hi = np.where(diff > 0, c, c_hi)
            free = pos & (cw > lo) & (cw < hi)
            slope = np.bincount(groups, weights=np.where(free, weights, 0.0), minlength=n_groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = c - diff / slope
            ok = (slope > 0) & (newton > c_lo) & (newton < c_hi)
            bisect = np.where(np.isfinite(c_hi), (c_lo + c_hi) / 2, 2 * c)
            c = np.where(done, c, np.where(ok, newton, bisect))
        else:
            raise WeightError(f"trimming did not settle in {max_iter} rounds; loosen the bounds")
        fixed = pos & ((c[groups] * weights <= lo) | (c[groups] * weights >= hi))
        return w, int(fixed.sum())

    w, n_trimmed = run(d)
    table = keys.copy()
    table["n"] = np.bincount(groups, minlength=n_groups)
    at_bound = (d > 0) & (np.isclose(w, lo, rtol=1e-12) | np.isclose(w, hi, rtol=1e-12))
    table["n_trimmed"] = np.bincount(groups, weights=at_bound, minlength=n_groups).astype(int)
    table["weight_sum"] = np.bincount(groups, weights=w, minlength=n_groups)
    table["max_before"] = pd.Series(d).groupby(groups).max().to_numpy()
    table["max_after"] = pd.Series(w).groupby(groups).max().to_numpy()
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="trim",
        method="trim",
        table=table,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=n_trimmed,
        reweight=lambda weights: run(weights)[0],
    )
    return _apply(survey, w, "trim", None, d, report)


def adjust_nonresponse(
    survey: Any,
    respondent: str | np.ndarray,
    *,
    by: str | Sequence[str] | None = None,
    min_respondents: int = 1,
    small_cells: Literal["fail", "collapse"] = "fail",
) -> Any:
    """Weighting-class nonresponse adjustment within response-homogeneity groups.

    In each cell the respondents' weights are multiplied by
    ``sum(weights of all sampled units) / sum(weights of respondents)`` and
    nonrespondents get weight 0 (they stay in the Survey so strata and PSUs
    keep their sample counts).

    Parameters
    ----------
    survey : Survey
        The sample with respondents and nonrespondents.
    respondent : str or array of bool
        Column (bool or 0/1) or mask that marks respondents.
    by : str or sequence of str, optional
        Columns forming the cells, coarsest first (e.g. ``["region", "size"]``).
    min_respondents : int, default=1
        Fewest respondents a cell may have.
    small_cells : {"fail", "collapse"}, default="fail"
        ``"fail"``: raise naming the cell. ``"collapse"``: merge a small cell
        with its siblings (drop the last ``by`` column for that group), and
        so on up to the whole sample.

    Returns
    -------
    Survey
        With a ``"nonresponse"`` step; its report lists cells, respondents
        and adjustment factors.

    Raises
    ------
    CalibrationError
        A cell with too few respondents (``small_cells="fail"``), or too few
        respondents overall.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import adjust_nonresponse
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "r": [True, False, True, True],
    ...                    "w": [2.0, 2.0, 3.0, 3.0]})
    >>> adjust_nonresponse(sv.Survey(df, sv.Design(weights="w")), "r", by="g").weights
    array([4., 0., 3., 3.])
    """
    _check_survey(survey, "nonresponse adjustment")
    n = len(survey.data)
    if isinstance(respondent, str):
        raw = survey.data[respondent] if respondent in survey.data.columns else None
        if raw is None:
            survey._column(respondent)
        if raw.isna().any():
            raise ColumnError(
                f"respondent column {respondent!r} has {int(raw.isna().sum())} missing values"
            )
        vals = raw.to_numpy()
        name = respondent
    else:
        vals = np.asarray(respondent)
        name = "respondent"
    if vals.shape != (n,) or not (
        vals.dtype == bool or np.isin(vals.astype(float, copy=False), (0.0, 1.0)).all()
    ):
        raise ColumnError(
            f"{name!r} must be boolean or 0/1 for each of the {n} rows, got dtype {vals.dtype}"
        )
    resp = vals.astype(bool)
    cols = [by] if isinstance(by, str) else list(by or [])
    if min_respondents < 1:
        raise CalibrationError("min_respondents must be at least 1")
    if small_cells not in ("fail", "collapse"):
        raise CalibrationError(f"small_cells={small_cells!r} is not 'fail' or 'collapse'")
    d0 = np.asarray(survey.weights, dtype=float)
    for c in cols:
        survey._column(c)
        if survey.data[c].isna().any():
            raise ColumnError(f"cell column {c!r} has missing values")
    # cell ids: level of detail per row (collapsing drops trailing columns)
    frame = survey.data[cols].reset_index(drop=True) if cols else pd.DataFrame(index=range(n))
    depth = np.full(n, len(cols))

    def cell_ids(depth: np.ndarray) -> np.ndarray:
        keys = pd.DataFrame({"_depth": depth})
        for k, c in enumerate(cols):
            keys[c] = frame[c].astype(str).where(depth > k, "")
        return keys.groupby(list(keys.columns), sort=True).ngroup().to_numpy()

    while True:
        cells = cell_ids(depth)
        m = int(cells.max()) + 1
        nresp = np.bincount(cells, weights=(resp & (d0 > 0)).astype(float), minlength=m)
        small = nresp < min_respondents
        if not small.any():
            break
        j = int(np.flatnonzero(small)[0])
        row = int(np.flatnonzero(cells == j)[0])
        k = int(depth[row])
        label = ", ".join(f"{c}={frame[c].iloc[row]!r}" for c in cols[:k]) or "the whole sample"
        nsamp = int(np.sum(cells == j))
        if small_cells == "fail" or k == 0:
            hint = (
                "pass small_cells='collapse' or use coarser cells"
                if k > 0
                else "there are too few respondents to adjust"
            )
            raise CalibrationError(
                f"nonresponse cell {label} has {int(nresp[j])} respondent(s) among {nsamp} "
                f"sampled unit(s), fewer than min_respondents={min_respondents}; {hint}"
            )
        # collapse: every row of the small cells' parent groups goes one level up
        small_rows = small[cells] & (depth == k)
        parent = cell_ids(np.maximum(depth - 1, 0))
        parents_hit = np.unique(parent[small_rows])
        depth = np.where(np.isin(parent, parents_hit) & (depth == k), k - 1, depth)

    def run(weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, float)
        all_w = np.bincount(cells, weights=weights, minlength=m)
        resp_w = np.bincount(cells, weights=np.where(resp, weights, 0.0), minlength=m)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(resp_w > 0, all_w / resp_w, np.nan)
        if np.any(np.isnan(f) & (all_w > 0)):
            raise CalibrationError("a nonresponse cell has no respondent weight for these weights")
        return np.where(resp, weights * np.nan_to_num(f)[cells], 0.0)

    w = run(d0)
    first = pd.Series(np.arange(n)).groupby(cells).first().to_numpy()
    table = pd.DataFrame(
        {c: [frame[c].iloc[r] if depth[r] > k else "(all)" for r in first] for k, c in enumerate(cols)}
    )
    table["n_sampled"] = np.bincount(cells, minlength=m)
    table["n_respondents"] = nresp.astype(int)
    table["weight_sampled"] = np.bincount(cells, weights=d0, minlength=m)
    table["weight_respondents"] = np.bincount(cells, weights=np.where(resp, d0, 0.0), minlength=m)
    table["factor"] = table["weight_sampled"] / table["weight_respondents"]
    pos = (d0 > 0) & resp
    g = w[pos] / d0[pos] if pos.any() else np.array([np.nan])
    report = WeightingReport(
        kind="nonresponse",
        method="weighting class",
        table=table,
        ratio_min=float(g.min()),
        ratio_max=float(g.max()),
        n_changed=int(np.sum(~resp & (d0 > 0))),
        reweight=run,
    )
    return _apply(survey, w, "nonresponse", None, d0, report)


def calibration_report(survey: Any) -> WeightingReport:
    """The report of the latest weighting step: targets vs achieved, g range, iterations.

    Parameters
    ----------
    survey : Survey
        A Survey with at least one weighting step.

    Returns
    -------
    WeightingReport

    Raises
    ------
    CalibrationError
        If the Survey has not been weighted.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.calibrate import calibrate, calibration_report
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": [2.0, 2.0, 2.0]})
    >>> s = calibrate(sv.Survey(df, sv.Design(weights="w")), {"x": 14.0}, population_size=7)
    >>> calibration_report(s).table[["margin", "target", "achieved"]]
                  margin  target  achieved
    0  (population size)     7.0       7.0
    1                  x    14.0      14.0
    """
    steps = getattr(survey, "weighting", ())
    if not steps:
        raise CalibrationError(
            "this Survey has no weighting step; call calibrate(), rake(), poststratify(), "
            "trim_weights() or adjust_nonresponse() first"
        )
    return steps[-1].report


def weights_from_probabilities(probs: Any) -> np.ndarray:
    """Design weights ``1 / pi`` from inclusion probabilities, checked.

    Parameters
    ----------
    probs : array-like
        Inclusion probabilities in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    WeightError
        A probability that is missing, not positive, or above 1 (names the row).

    Examples
    --------
    >>> weights_from_probabilities([0.5, 0.25, 1.0])
    array([2., 4., 1.])
    """
    index = probs.index if isinstance(probs, pd.Series) else None
    p = np.asarray(probs, dtype=float)
    bad = ~(np.isfinite(p) & (p > 0) & (p <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = index[i] if index is not None else i
        raise WeightError(
            f"inclusion probabilities must lie in (0, 1]; row {row!r} has {p[i]!r} "
            f"({int(bad.sum())} bad rows in all); probabilities above 1 usually mean a "
            "certainty unit: set it to 1"
        )
    return 1.0 / p


def check_design_weights(
    survey: Any, population_sizes: Mapping[Any, float] | None = None, *, tol: float = 1e-6
) -> pd.DataFrame:
    """Check that the design weights add up to the population size ``N_h`` of each stratum.

    Parameters
    ----------
    survey : Survey
        The sample (before nonresponse adjustment or calibration).
    population_sizes : mapping, optional
        ``{stratum: N_h}``. Default: from the design's stage-1 fpc.
    tol : float, default=1e-6
        Largest accepted ``|sum of weights - N_h| / N_h``.

    Returns
    -------
    pandas.DataFrame
        Columns ``stratum, n, weight_sum, N, difference, rel_difference``.

    Raises
    ------
    WeightError
        Naming the strata whose weights do not add up to ``N_h``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b"], "N": [4, 4, 6, 6]})
    >>> check_design_weights(sv.Survey(df, sv.Design(strata="h", fpc="N")))
      stratum  n  weight_sum    N  difference  rel_difference
    0       a  2         4.0  4.0         0.0             0.0
    1       b  2         6.0  6.0         0.0             0.0
    """
    codes = survey._strata_codes
    labels = np.asarray(survey._strata_labels, dtype=object)
    m = labels.shape[0]
    n_h = np.bincount(codes, minlength=m)
    wsum = np.bincount(codes, weights=np.asarray(survey.weights, float), minlength=m)
    if population_sizes is None:
        frac = np.asarray(survey._stage1_fraction, float)
        if not np.all(frac > 0):
            raise WeightError(
                "the design has no stage-1 fpc, so N_h is unknown; pass population_sizes="
                "{stratum: N_h}"
            )
        fh = np.zeros(m)
        fh[codes] = frac
        N = n_h / fh
    else:
        missing = [lab for lab in labels if lab not in population_sizes]
        if missing:
            raise WeightError(
                f"population_sizes has no N_h for stratum/strata {', '.join(map(repr, missing[:5]))}"
            )
        N = np.array([float(population_sizes[lab]) for lab in labels])
    table = pd.DataFrame(
        {
            "stratum": labels,
            "n": n_h,
            "weight_sum": wsum,
            "N": N,
            "difference": wsum - N,
            "rel_difference": (wsum - N) / N,
        }
    )
    bad = np.abs(table["rel_difference"].to_numpy()) > tol
    if bad.any():
        rows = table[bad].head(5)
        desc = "; ".join(
            f"stratum {r.stratum!r}: weights add up to {r.weight_sum:g}, N = {r.N:g}"
            for r in rows.itertuples()
        )
        raise WeightError(
            f"design weights do not add up to N_h in {int(bad.sum())} stratum/strata ({desc}); "
            "check the weights or the population sizes"
        )
    return table
