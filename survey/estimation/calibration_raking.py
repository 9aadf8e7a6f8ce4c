"""Raking ratio by iterative proportional fitting over categorical margins (R ``rake()``).

Plain array functions, like :mod:`survey.estimation.calibration`: :func:`ipf`
(the raked weights and how the sweeps went, :class:`RakingFit`) and
:func:`raking_factors` (the g-weights), used by
:func:`survey.estimation.weighting.rake` and by every replicate of a raked survey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from survey.errors import CalibrationError

__all__ = ["RakingFit", "ipf", "raking_factors"]


@dataclass(frozen=True, kw_only=True, eq=False)
class RakingFit:
    """Outcome of :func:`ipf`.

    Attributes
    ----------
    w : numpy.ndarray
        The raked weights.
    iterations : int
        Sweeps over all margins.
    converged : bool
    rel_error : list of numpy.ndarray
        Per margin, ``|achieved - count| / (1 + |count|)`` of every level.
    margin_weights : tuple of numpy.ndarray
        The weights after each margin's adjustment in the last sweep (R
        ``rake()``'s ``attr(, "weights")``, used by its variance).
    """

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
) -> RakingFit:
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
    return RakingFit(
        w=w,
        iterations=iterations,
        converged=converged,
        rel_error=rel,
        margin_weights=tuple(reversed(psw)),
    )


def ipf(
    codes: Sequence[np.ndarray],
    counts: Sequence[np.ndarray],
    weights: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    convergence: str,
    names: Sequence[str] | None = None,
    levels: Sequence[Sequence[Any]] | None = None,
) -> RakingFit:
    """Raking ratio by IPF; raises a CalibrationError naming the level furthest off when it does not converge.

    Parameters
    ----------
    codes : sequence of numpy.ndarray of int
        Per margin, the level code of every row in ``[0, L_m)`` (-1 only on
        rows with weight 0).
    counts : sequence of numpy.ndarray
        Per margin, the population count of each level.
    weights : numpy.ndarray
        Input weights.
    max_iter : int
    tol : float
    convergence : {"margins", "cells"}
        See :func:`raking_factors`.
    names, levels : sequence, optional
        Margin names and level labels, for the error message.

    Returns
    -------
    RakingFit

    Examples
    --------
    >>> a = np.array([0, 0, 1, 1]); b = np.array([0, 1, 0, 1])
    >>> fit = ipf([a, b], [np.array([6.0, 4]), np.array([5.0, 5])], np.ones(4),
    ...           max_iter=100, tol=1e-10, convergence="margins")
    >>> fit.w, fit.converged
    (array([3., 3., 2., 2.]), True)
    """
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
    fit = ipf(codes, counts, d, max_iter=max_iter, tol=tol, convergence=convergence)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, fit.w / d, 1.0)
