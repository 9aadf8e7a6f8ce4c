"""Two-phase variance of a weighting-class nonresponse adjustment (Särndal et al. 1992, Result 9.3.1).

The sample ``s`` (phase 1) is drawn by the design; the respondents ``r``
(phase 2) are taken as a stratified simple random sample of ``r_c`` units from
the ``n_c`` sampled units of every weighting class ``c`` (the response
homogeneity group model), with phase-2 inclusion probability ``pi2_c`` (the
weighted response rate of the class, ``r_c / n_c`` when the design weights
are constant within the class). The adjusted estimator is a calibration of the
respondents to the class totals estimated from the whole sample, and its
variance has two parts (R ``twophase(..., method = "full")``, with the
phase-1 strata sizes of the fixed version, see ``docs/weighting.md``)::

    V = x' (D1 o (1 - D2)) x  +  x' D2 x
      = V1(x) - sum_c (1 - pi2_c) [ r_c/(r_c-1) sum_{k in c} d1_k x_k x_k' - V1(x_c)/(r_c-1) ]
        + sum_c (1 - pi2_c) r_c/(r_c-1) sum_{k in c} e_k e_k'

with ``x`` the influence values (``w y`` for a total), ``V1`` the design's own
variance (``D1``), ``x_c`` the values of class ``c`` only, ``d1_k`` the
diagonal of ``D1`` (the design variance of a single unit's value) and
``e_k = x_k - w_k sum_c x / sum_c w`` the class residuals. The first term is
the phase-1 variance (what a complete sample would have), the second the
phase-2 (nonresponse) variance. ``V1`` is computed by the design's own engine
(stratified multistage linearisation or πps), so every design the toolkit
knows can be the first phase.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from survey.errors import SurveyWarning
from survey.estimation.structure import VarianceStructure
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = ["TwoPhase", "quadratic_form", "twophase_covariance", "twophase_full_covariance"]

Blocks = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True, eq=False, kw_only=True)
class TwoPhase:
    """The second phase of a nonresponse adjustment: classes, respondents, response rates.

    Attributes
    ----------
    classes : numpy.ndarray of int
        Weighting class of every respondent row, ``-1`` for other rows.
    n_classes : int
    pi2 : numpy.ndarray
        Phase-2 inclusion probability (weighted response rate) of every class.
    respondents : numpy.ndarray of int
        Number of respondents ``r_c`` of every class.
    weights : numpy.ndarray
        Row weights after the adjustment (0 for nonrespondents).

    Examples
    --------
    >>> tp = TwoPhase(classes=np.array([0, -1, 0]), n_classes=1, pi2=np.array([2 / 3]),
    ...               respondents=np.array([2]), weights=np.array([3.0, 0.0, 3.0]))
    >>> tp.n_classes
    1
    """

    classes: np.ndarray
    n_classes: int
    pi2: np.ndarray
    respondents: np.ndarray
    weights: np.ndarray


def _coefficients(tp: TwoPhase) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: the weight of V1(x_c), the phase-2 coefficient and the d1 coefficient."""
    r = tp.respondents.astype(float)
    q = 1.0 - tp.pi2  # 1 - pi2_c
    single = (r < 2) & (q > 1e-12)
    if single.any():
        warnings.warn(
            f"{int(single.sum())} weighting class(es) have a single respondent: their phase-2 "
            "variance cannot be estimated and is taken as 0; collapse small cells "
            "(adjust_nonresponse(small_cells='collapse', min_respondents=2))",
            SurveyWarning,
            stacklevel=5,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(r > 1, q / (r - 1.0), 0.0)  # weight of V1(x_c)
        g = np.where(r > 1, q * r / (r - 1.0), 0.0)  # phase-2 coefficient and d1 coefficient
    return off, g, np.where(r > 1, g, q)  # r_c = 1: only the diagonal of D2


def _group_sum(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    keep = codes >= 0
    return np.column_stack(
        [np.bincount(codes[keep], weights=values[keep, j], minlength=size) for j in range(values.shape[1])]
    ) if values.shape[1] else np.zeros((size, 0))


def twophase_covariance(
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    tp: TwoPhase,
    blocks: Blocks,
    *,
    parts: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Covariance matrices (D, k, k) of domain totals of scores after a two-phase adjustment.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, k)
        Influence values, zero outside the domains and for nonrespondents.
    domain : numpy.ndarray of int, shape (n,)
        Domain of every row, ``-1`` outside every domain.
    n_domains : int
    tp : TwoPhase
    blocks : callable
        ``blocks(z, groups, G)``: the phase-1 (design) covariance matrices
        (G, k, k) of the totals of ``z`` over the rows of each group.
    parts : bool, default=False
        Also return the phase-2 part.

    Returns
    -------
    numpy.ndarray, shape (D, k, k)
        The total variance, and with ``parts=True`` the phase-2 part too.

    Examples
    --------
    A sample of 4 units with replacement, one class, 3 respondents (``x' D x`` with
    ``D_kk = 1``, ``D_kl = -1/3 - 1/8 - 1/24 = -1/2``):

    >>> import numpy as np
    >>> from survey.estimation.variance import linearization_variance
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [5.0] * 4}), sv.Design(weights="w"))
    >>> blocks = lambda z, g, G: linearization_variance(z, g, G, s.variance_structure)
    >>> w = np.array([20 / 3, 20 / 3, 20 / 3, 0.0])
    >>> tp = TwoPhase(classes=np.array([0, 0, 0, -1]), n_classes=1, pi2=np.array([0.75]),
    ...               respondents=np.array([3]), weights=w)
    >>> x = (w * np.array([1.0, 2.0, 6.0, 0.0]))[:, None]
    >>> round(float(twophase_covariance(x, np.zeros(4, dtype=np.intp), 1, tp, blocks)[0, 0, 0]), 6)
    933.333333
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n, k = x.shape
    D = n_domains
    C = tp.n_classes
    cls = tp.classes
    off, g, diag_coef = _coefficients(tp)
    v1 = blocks(x, domain, D)
    # V1 of every (domain, class) part present in the data (no dense domain x class grid)
    inside = (domain >= 0) & (cls >= 0)
    key = np.where(inside, domain.astype(np.int64) * C + np.maximum(cls, 0), -1)
    pkeys, pinv = np.unique(key[inside], return_inverse=True)
    n_pairs = pkeys.shape[0]
    pair_row = np.full(n, -1, dtype=np.intp)
    pair_row[inside] = pinv
    pair_d, pair_c = pkeys // C, pkeys % C
    vdc = blocks(x, pair_row, n_pairs)  # (pairs, k, k)
    term_b = np.zeros((D, k, k))
    term2 = np.zeros((D, k, k))
    # the diagonal d1_k of the design's D1, from single-row "domains"
    d1 = blocks(np.ones((n, 1)), np.arange(n), n)[:, 0, 0]
    u = np.where(cls >= 0, diag_coef[np.maximum(cls, 0)] * d1, 0.0)
    term_c = np.zeros((D, k, k))
    dom_ok = np.where(domain >= 0, domain, 0)
    keep = (domain >= 0) & (u != 0)
    # phase 2: class residuals e = x - w * sum_c x / sum_c w within every domain
    w = tp.weights
    wc = np.bincount(np.maximum(cls, 0), weights=np.where(cls >= 0, w, 0.0), minlength=C)
    w2c = np.bincount(np.maximum(cls, 0), weights=np.where(cls >= 0, w * w, 0.0), minlength=C)
    Sx = _group_sum(pair_row, x, n_pairs)
    Swx = _group_sum(pair_row, w[:, None] * x, n_pairs)
    with np.errstate(divide="ignore", invalid="ignore"):
        B = np.where(wc[pair_c][:, None] > 0, Sx / wc[pair_c][:, None], 0.0)
    inside_rows = pair_row >= 0
    for a in range(k):
        for b in range(a, k):
            tb = np.bincount(pair_d, weights=off[pair_c] * vdc[:, a, b], minlength=D)
            tc = np.bincount(dom_ok[keep], weights=(u * x[:, a] * x[:, b])[keep], minlength=D)
            sxx = np.bincount(pair_row[inside_rows], weights=(x[:, a] * x[:, b])[inside_rows], minlength=n_pairs)
            val = sxx - B[:, a] * Swx[:, b] - Swx[:, a] * B[:, b] + B[:, a] * B[:, b] * w2c[pair_c]
            t2 = np.bincount(pair_d, weights=g[pair_c] * val, minlength=D)
            for arr, v in ((term_b, tb), (term_c, tc), (term2, t2)):
                arr[:, a, b] = v
                arr[:, b, a] = v
    total = v1 + term_b - term_c + term2
    return (total, term2) if parts else total


def quadratic_form(X: np.ndarray, Y: np.ndarray, c: np.ndarray | None = None,
                   block: int | None = None) -> np.ndarray:
    """``X' diag(c) Y`` (m, m), or with ``block = k`` only its diagonal (k, k) blocks
    (D, k, k) for m = D k columns: D times less work when only the covariance within each
    domain is wanted.

    Examples
    --------
    >>> X = np.arange(12.0).reshape(3, 4)
    >>> np.allclose(quadratic_form(X, X, block=2)[1], (X.T @ X)[2:, 2:])
    True
    """
    Yc = Y if c is None else Y * c[:, None]
    if block is None:
        return X.T @ Yc
    r = X.shape[0]
    return np.einsum("rdk,rdl->dkl", np.asarray(X).reshape(r, -1, block),
                     np.asarray(Yc).reshape(r, -1, block), optimize=True)


def _design_sums(tp: TwoPhase, structure: VarianceStructure, n: int) -> tuple[list, Any]:
    """The sparse sums of :func:`twophase_full_covariance` that depend on the design only:
    per stage rows into units, (unit, class) cells, strata and (stratum, class) cells, then
    respondents into classes; built once per two-phase step and structure (kept on ``tp``)."""
    kept = tp.__dict__.get("_design_sums")
    if kept is not None and kept[0] is structure and kept[1] == n:
        return kept[2]
    C, rows = tp.n_classes, np.flatnonzero(tp.classes >= 0)
    c_r = tp.classes[rows]

    def cells(key: np.ndarray) -> tuple[np.ndarray, Any]:  # respondents into their cells
        ukey, inv = np.unique(key, return_inverse=True)
        return ukey, sp.csr_matrix((np.ones(rows.size), (inv, rows)), shape=(ukey.size, n))

    sums = []
    for stage in structure.stages:
        units = np.asarray(stage.row_units())
        u_h = np.asarray(stage.unit_stratum)
        h_row = u_h[units]
        G = ukey = Gc = None
        if stage.n_units != n:
            G = sp.csr_matrix((np.ones(n), (units, np.arange(n))), shape=(stage.n_units, n))
            ukey, Gc = cells(units[rows].astype(np.int64) * C + c_r)
        Hm = sp.csr_matrix((np.ones(n), (h_row, np.arange(n))), shape=(stage.n_strata, n))
        sums.append((u_h, h_row, G, ukey, Gc, Hm, *cells(h_row[rows].astype(np.int64) * C + c_r)))
    value = (sums, sp.csr_matrix((np.ones(rows.size), (c_r, rows)), shape=(C, n)))
    object.__setattr__(tp, "_design_sums", (structure, n, value))
    return value


def twophase_full_covariance(scores: np.ndarray, tp: TwoPhase, structure: VarianceStructure,
                             block: int | None = None) -> np.ndarray:
    """Full covariance (m, m) of the column totals of ``scores`` after a two-phase adjustment.

    The same formula as :func:`twophase_covariance` for the stratified
    multistage design, with every term a sparse aggregation and one dense
    product: ``V1`` from unit and stratum totals, ``V1(x_c)`` from
    (unit, class) and (stratum, class) totals, the diagonal ``d1`` per row
    and the phase-2 residuals. Used when the scores spread over all rows
    (calibration after the adjustment).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, m)
    tp : TwoPhase
    structure : VarianceStructure
    block : int, optional
        With ``block = k`` (m = D k, columns in domain-major order) only the (k, k)
        covariance within each domain is computed: an array (D, k, k)
        (:func:`quadratic_form`).

    Returns
    -------
    numpy.ndarray, shape (m, m), or (D, k, k) with ``block``

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [5.0] * 4}), sv.Design(weights="w"))
    >>> w = np.array([20 / 3, 20 / 3, 20 / 3, 0.0])
    >>> tp = TwoPhase(classes=np.array([0, 0, 0, -1]), n_classes=1, pi2=np.array([0.75]),
    ...               respondents=np.array([3]), weights=w)
    >>> x = (w * np.array([1.0, 2.0, 6.0, 0.0]))[:, None]
    >>> round(float(twophase_full_covariance(x, tp, s.variance_structure)[0, 0]), 6)
    933.333333
    """
    Z = np.asarray(scores, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    n, m = Z.shape
    C = tp.n_classes
    cls = tp.classes
    resp = cls >= 0
    rows = np.flatnonzero(resp)
    c_r = cls[rows]
    off, g, diag_coef = _coefficients(tp)
    sums, Gk = _design_sums(tp, structure, n)
    out = np.zeros((m, m)) if block is None else np.zeros((m // block, block, block))
    d1 = np.zeros(n)
    row = np.zeros(n)  # coefficients of Z' diag(row) Z: every term with one row per cell, merged
    for stage_index, stage in enumerate(structure.stages):
        sq, cross = np.asarray(stage.sq_coef, dtype=float), np.asarray(stage.cross_coef, dtype=float)
        if stage.average_out.any():
            parent = stage.stratum_parent
            total = np.bincount(parent).astype(float)
            ok = np.bincount(parent, weights=(~stage.average_out).astype(float))
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(ok > 0, total / ok, 0.0)[parent]
            sq, cross = sq * scale, cross * scale
        u_h, h_row, G, ukey, Gc, Hm, hk, Hc = sums[stage_index]
        d1 += (sq - cross)[h_row]
        if G is None:  # element stage: a unit (and a (unit, class) cell) is one row
            row += sq[h_row]
            row[rows] += off[c_r] * sq[h_row[rows]]
        else:
            U = G @ Z
            out += quadratic_form(U, U, sq[u_h], block)
            Uc = Gc @ Z  # (unit, class) cells of the respondents
            out += quadratic_form(Uc, Uc, off[ukey % C] * sq[u_h[ukey // C]], block)
        # stratum totals, and stratum totals within classes (small matrices)
        S = Hm @ Z
        out -= quadratic_form(S, S, cross, block)
        Sc = Hc @ Z
        out -= quadratic_form(Sc, Sc, off[hk % C] * cross[hk // C], block)
    # minus the diagonal part of D1 o D2, plus the phase-2 sum of squares g_c e_k e_k'
    row[rows] += g[c_r] - diag_coef[c_r] * d1[rows]
    out += quadratic_form(Z, Z, row, block)
    # phase 2: e = z - w B_c, so sum g e e' = sum g z z' - M'gB - B'gM + B'(g w2) B
    w = tp.weights
    wc = np.bincount(c_r, weights=w[rows], minlength=C)
    w2c = np.bincount(c_r, weights=w[rows] ** 2, minlength=C)
    with np.errstate(divide="ignore", invalid="ignore"):
        B = np.where(wc[:, None] > 0, (Gk @ Z) / wc[:, None], 0.0)
    M = Gk @ (Z * w[:, None])
    cross_term = quadratic_form(M, B, g, block)
    swap = (1, 0) if block is None else (0, 2, 1)
    out += quadratic_form(B, B, g * w2c, block) - cross_term - cross_term.transpose(swap)
    return (out + out.transpose(swap)) / 2.0
