"""Fay–Herriot fitting: Fisher scoring for sigma2_v (REML, ML, FH moments), GLS and the MSE terms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SurveyError

#: Ways to estimate the area-effect variance ``sigma2_v``.
FH_METHODS = ("REML", "ML", "FH")
#: Ways to estimate the MSE of the EBLUP.
MSE_METHODS = ("prasad-rao", "bootstrap")

# Convergence is judged relative to max(|sigma2_v|, FLOOR * median(psi)): an
# estimate of sigma2_v below a millionth of the typical sampling variance changes
# no EBLUP in the 6th digit, and below it rounding noise dominates the step.
FLOOR = 1e-6



# --------------------------------------------------------------------------- seed
def resolve_seed(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int | None]:
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
    scale = FLOOR * med

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


def fit_model(
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
    floor = FLOOR * med
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


def mse_components(method: str, A: float, psi: np.ndarray, X: np.ndarray, Q: np.ndarray):
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
