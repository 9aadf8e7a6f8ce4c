"""The design covariance of the low-rank residuals ``E = S - U Gamma``, by domain.

The covariance of the domain totals of ``E`` (:mod:`survey.estimation.residuals`)
is that of ``S`` plus a correction whose every term is a design quadratic form
(unit and stratum sums, :func:`lowrank_correction`)::

    V(E_d) = V(S_d) - Gamma_d' C(U, S_d) - C(S_d, U) Gamma_d + Gamma_d' V(U) Gamma_d

with ``V(U)`` q x q and ``C(U, S)`` q x D*k: the cost is O(n (p + k)) plus
O(levels x D), with no n x D matrix and no loop over domains.
"""

from __future__ import annotations

import numpy as np

from survey.estimation.residual_columns import (
    DENSE_CELLS,
    cross,
    design_coefficients,
    matmul,
)
from survey.estimation.residuals import LowRankScores, WeightingModel
from survey.estimation.structure import Stage, VarianceStructure
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = ["lowrank_correction"]


def _quad(A: np.ndarray, B: np.ndarray, D: int, k: int, c: np.ndarray | None = None) -> np.ndarray:
    """Per domain ``sum_r c_r A[r, (d, a)] B[r, (d, b)]`` (D, k, k) of two (rows x D*k) arrays."""
    A3 = A.reshape(A.shape[0], D, k)
    B3 = B.reshape(B.shape[0], D, k)
    if c is not None:
        A3 = A3 * c[:, None, None]
    out = np.empty((D, k, k))
    for a in range(k):  # k x k products of (rows x D) arrays, summed over the rows
        for b in range(k):
            out[:, a, b] = np.einsum("rd,rd->d", A3[:, :, a], B3[:, :, b])
    return out


def _stage_correction(
    lr: LowRankScores, stage: Stage, G: np.ndarray, *, full: bool, sums: np.ndarray | None = None
) -> np.ndarray:
    """One stage's part of the covariance of ``E = S - U G`` minus that of ``S``.

    Unit sums (``sq``): ``G' V_u(U) G - G' C_u(U, S) - C_u(S, U) G`` from q x q
    and q x D*k group sums. Stratum sums (``cross``): with the stratum totals
    ``T`` of ``S`` and ``T_U G`` of ``U G``, ``+ T (T_U G)' + (T_U G) T' - (T_U G)(T_U G)'``,
    in blocks of strata.
    """
    S = lr.scores
    D, k = S.n_domains, S.k
    sq, cr = design_coefficients(stage)
    model = lr.model if lr.model is not None else WeightingModel([], lr.groups)
    ugroups, K, HU = model.stage_terms(stage)
    uS = S if stage.units is None else S.aggregate(stage.units, stage.n_units)
    hu = stage.unit_stratum
    sq_u = sq[hu]
    off = np.cumsum([0] + [g.size for g in ugroups])
    M = np.zeros((int(off[-1]), D * k))
    memo: dict = {}
    for a, ga in enumerate(ugroups):
        M[off[a] : off[a + 1]] = cross(ga, sq_u, uS, memo)
    KG = matmul(K, G)
    if full:
        GM = G.T @ M
        out = G.T @ KG - GM - GM.T
    else:
        # G'KG - G'M - M'G is the symmetric part of G'(KG - 2M) (K is symmetric): one pass
        KG -= 2.0 * M
        out = _quad(G, KG, D, k)
        out = 0.5 * (out + out.transpose(0, 2, 1))
    if not np.any(cr):
        return out
    H = stage.n_strata
    HS = sums if sums is not None else uS.stratum_sums(hu, H)  # (H, D*k), dense or sparse
    rows = max(1, int(DENSE_CELLS // max(D * k, 1)))
    for start in range(0, H, rows):
        stop = min(H, start + rows)
        c = cr[start:stop]
        if not np.any(c):
            continue
        T = HS[start:stop].toarray() if sp.issparse(HS) else HS[start:stop]
        TG = np.asarray(matmul(HU[start:stop], G))
        if full:
            A = T.T @ (TG * c[:, None])
            out += A + A.T - TG.T @ (TG * c[:, None])
        else:
            # T'cTG + TG'cT - TG'cTG is the symmetric part of (2T - TG)'c TG: one pass
            A = _quad(2.0 * T - TG, TG, D, k, c)
            out += 0.5 * (A + A.transpose(0, 2, 1))
    return out


def lowrank_correction(
    lr: LowRankScores,
    structure: VarianceStructure,
    *,
    full: bool = False,
    stratum_sums: dict | None = None,
) -> np.ndarray:
    """The covariance of the domain totals of ``E`` minus that of ``S``.

    ``- Gamma' C(U, S) - C(S, U) Gamma + Gamma' V(U) Gamma``, per domain
    (the k x k blocks on the diagonal) or in full; the stratum sums use the
    stratum totals of ``U Gamma`` (one H x q by q x D*k product).

    Parameters
    ----------
    lr : LowRankScores
    structure : VarianceStructure
    full : bool, default=False
        Return the (D*k x D*k) matrix across domains instead of (D, k, k).
    stratum_sums : dict, optional
        The stratum sums of ``S`` per stage, as left by
        :func:`~survey.estimation.variance.linearization_variance` (not recomputed).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    With one post-stratification step the corrected variance equals the
    dense residuals' variance (:func:`survey.estimation.variance.full_covariance`):

    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.residuals import weighting_residuals
    >>> from survey.estimation.variance import full_covariance, linearization_variance
    >>> df = pd.DataFrame({"h": [1, 1, 1, 2, 2, 2], "g": [0, 1, 1, 0, 0, 1],
    ...                    "y": [1.0, 4, 2, 5, 3, 8], "w": 3.0})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w")).poststratify("g", {0: 9, 1: 9})
    >>> z = (s.weights * df.y.to_numpy())[:, None]
    >>> lr = weighting_residuals(z, np.zeros(6, dtype=np.intp), 1, s.weighting, s.weights)
    >>> v = linearization_variance(z, np.zeros(6, dtype=np.intp), 1, s.variance_structure)
    >>> bool(np.isclose(v[0, 0, 0] + lowrank_correction(lr, s.variance_structure)[0, 0, 0],
    ...                 full_covariance(lr.dense(), s.variance_structure)[0, 0]))
    True
    """
    D, k = lr.scores.n_domains, lr.scores.k
    out = np.zeros((D * k, D * k)) if full else np.zeros((D, k, k))
    if not lr.groups:
        return out
    G = np.vstack(lr.gamma)
    for stage in structure.stages:
        hit = (stratum_sums or {}).get(id(stage))
        sums = hit[1] if hit is not None and hit[0] is stage else None
        out += _stage_correction(lr, stage, G, full=full, sums=sums)
    return out
