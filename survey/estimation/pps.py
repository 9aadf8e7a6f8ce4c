"""Variance of πps samples drawn without replacement: approximations, exact HT/SYG, Poisson.

A :class:`~survey.design.Design` with ``pps=`` gets its variance here instead
of from the stratified multistage engine. With influence values ``x_i``
(``y_i / pi_i`` for a total; PSU totals with clusters) and, within each
stratum, the matrix ``D_ij = (pi_ij - pi_i pi_j) / pi_ij`` (R ``Dcheck``), the
Horvitz-Thompson variance is ``x' D x`` and the Sen-Yates-Grundy variance is
``x' D x - sum_j x_j^2 sum_i D_ij = -1/2 sum_ij D_ij (x_i - x_j)^2``:

* ``"brewer"``: Brewer's approximation, R ``pps = "brewer"``:
  ``n_h / (n_h - 1) sum_i (1 - pi_i) (x_i - xbar_h)^2``, ``xbar_h`` the
  unweighted mean over the stratum's ``n_h`` PSUs;
* ``"overton"``: ``D_ij = 1 - (n_h - (pi_i + pi_j) / 2) / (n_h - 1)`` (R ``pps = "overton"``);
* ``"hartley-rao"``: ``D_ij = 1 - (n_h - pi_i - pi_j + sum_U pi_k^2 / n_h) / (n_h - 1)``,
  with the population sum of squares (:class:`~survey.design.HartleyRao`, R
  ``HR(p2bar)``) or its sample estimate ``n_h * mean_s(pi)`` (R ``HR()``);
* ``"poisson"``: ``D = diag(1 - pi_i)``, the exact variance of Poisson sampling;
* :class:`~survey.design.JointProbabilities`: ``D`` from the joint inclusion
  probabilities (R ``ppsmat``), entries below ``tolerance`` set to 0.

Certainty units (``pi_i = 1``) add no variance: their own terms are 0 in every
method and, unlike R, pairs of a certainty unit with another unit get
``D_ij = 0`` in Overton's and Hartley-Rao's approximations (the exact value:
``pi_ij = pi_j`` when ``pi_i = 1``). Brewer's formula counts them in ``n_h``
and ``xbar_h``, as R does; put them in a stratum of their own
(``Selection.design()`` does) to remove them from it.

Every structured ``D`` is ``D_ij = alpha_h + beta_h (t_i + t_j)`` off the
diagonal, so the quadratic forms are sums of per-PSU terms and per-stratum
totals (``np.bincount``): linear in the sample size, no ``n x n`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from survey.design import Design, HartleyRao, JointProbabilities
from survey.errors import DesignError, LonelyPSUError
from survey.estimation.structure import DesignArrays
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = ["PpsStructure", "pps_structure", "pps_domain_covariance", "pps_covariance"]


@dataclass(frozen=True, eq=False, kw_only=True)
class PpsStructure:
    """The πps variance of a design as per-PSU and per-stratum coefficients (built once).

    For columns ``Z`` (PSU totals of influence values) the variance matrix is
    ``sum_p a_p z_p z_p' + sum_h c1_h S_h S_h' + c2_h (S_h T_h' + T_h S_h')``
    with ``S_h = sum_{p in h, include} z_p`` and ``T_h = sum_{p in h} t_p z_p``,
    plus ``Z' D Z`` for joint probabilities (``dcheck``), times ``scale``.

    Attributes
    ----------
    method : str
        ``"brewer"``, ``"overton"``, ``"hartley-rao"``, ``"poisson"`` or ``"joint"``.
    form : {"HT", "YG"}
    psu : numpy.ndarray
        PSU code of every row.
    psu_stratum : numpy.ndarray
        Stratum code of every PSU.
    pi : numpy.ndarray
        Inclusion probability of every PSU.
    certain : numpy.ndarray of bool
        PSUs with ``pi = 1``.
    lonely : numpy.ndarray of bool
        Strata with a single PSU of ``pi < 1`` (handled by ``lonely_psu``).
    """

    method: str
    form: str
    psu: np.ndarray
    psu_stratum: np.ndarray
    n_strata: int
    pi: np.ndarray
    certain: np.ndarray
    lonely: np.ndarray
    a: np.ndarray
    t: np.ndarray
    include: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    dcheck: Any = None
    scale: float = 1.0

    @property
    def n_psu(self) -> int:
        """Number of PSUs."""
        return int(self.pi.shape[0])


def _psu_probabilities(data: pd.DataFrame, design: Design, psu: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inclusion probability of every PSU (constant within a PSU, checked)."""
    if design.probs is not None:
        p = data[design.probs].to_numpy(dtype=float)
        what = f"probs column {design.probs!r}"
    else:
        p = 1.0 / weights
        what = f"1 / weights column {design.weights!r}"
    P = int(psu.max()) + 1
    lo = np.full(P, np.inf)
    hi = np.full(P, -np.inf)
    np.minimum.at(lo, psu, p)
    np.maximum.at(hi, psu, p)
    bad = hi - lo > 1e-9 * np.maximum(hi, 1e-300)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        row = int(np.flatnonzero(psu == j)[0])
        raise DesignError(
            f"{what} varies within a PSU (row {data.index[row]!r}: from {lo[j]:g} to {hi[j]:g}); "
            "the inclusion probability of a πps design belongs to its PSU"
        )
    return np.minimum(hi, 1.0)


def _joint_dcheck(jp: JointProbabilities, pi: np.ndarray, psu_stratum: np.ndarray) -> sp.csr_matrix:
    """``D_ij = (pi_ij - pi_i pi_j) / pi_ij`` within strata, checked, truncated at the tolerance."""
    P = pi.shape[0]
    if jp.shape != (P, P):
        raise DesignError(
            f"JointProbabilities is {jp.shape[0]}x{jp.shape[1]} but the sample has {P} PSUs; give one "
            "row and column per PSU, in data row order"
        )
    m = sp.coo_matrix(jp.matrix) if sp.issparse(jp.matrix) else sp.coo_matrix(np.asarray(jp.matrix, dtype=float))
    r, c, v = m.row.astype(np.int64), m.col.astype(np.int64), np.asarray(m.data, dtype=float)
    if not sp.issparse(jp.matrix):  # dense: every pair is given, zeros included
        dense = np.asarray(jp.matrix, dtype=float)
        r, c = np.nonzero(np.ones((P, P), dtype=bool))
        v = dense.ravel()
    if not np.all(np.isfinite(v)):
        raise DesignError("JointProbabilities has missing or infinite entries")
    diag = r == c
    dvals = np.full(P, np.nan)
    dvals[r[diag]] = v[diag]
    off_diag = np.abs(dvals - pi) > 1e-9 * np.maximum(pi, 1e-12)
    if np.any(off_diag & np.isfinite(dvals)):
        i = int(np.flatnonzero(off_diag & np.isfinite(dvals))[0])
        raise DesignError(
            f"JointProbabilities: diagonal entry {i} is {dvals[i]:g} but the inclusion probability "
            f"of that PSU is {pi[i]:g}; the diagonal must hold pi_i"
        )
    same = psu_stratum[r] == psu_stratum[c]
    r, c, v = r[same], c[same], v[same]
    bad = (v <= 0) | (v > np.minimum(pi[r], pi[c]) * (1 + 1e-9))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"JointProbabilities: pair ({int(r[k])}, {int(c[k])}) has joint probability {v[k]:g}, outside "
            f"(0, min(pi_i, pi_j)] = (0, {min(pi[r[k]], pi[c[k]]):g}]; a zero joint probability "
            "(systematic sampling) has no unbiased variance: use an approximation (pps='hartley-rao')"
        )
    d = np.where(r == c, 1.0 - pi[r], (v - pi[r] * pi[c]) / v)
    d = np.where(np.abs(d) < jp.tolerance, 0.0, d)
    out = sp.csr_matrix((d, (r, c)), shape=(P, P))
    out.eliminate_zeros()
    asym = abs(out - out.T)
    if asym.nnz and asym.max() > 1e-9:
        raise DesignError("JointProbabilities is not symmetric")
    return out


def pps_structure(
    data: pd.DataFrame, design: Design, arrays: DesignArrays, weights: np.ndarray
) -> PpsStructure:
    """The πps variance structure of a design (``Design(pps=...)``), checked.

    Parameters
    ----------
    data : pandas.DataFrame
    design : Design
        With ``pps`` set.
    arrays : DesignArrays
        Strata and PSU codes (:func:`survey.estimation.structure.design_arrays`).
    weights : numpy.ndarray
        Design weights (``1 / pi`` when the design gives ``weights``).

    Returns
    -------
    PpsStructure

    Raises
    ------
    DesignError
        Probabilities that vary within a PSU, a joint-probability matrix of the
        wrong size, with a diagonal other than ``pi``, or zero joint probabilities.
    LonelyPSUError
        A stratum with a single PSU (``pi < 1``) under ``lonely_psu="fail"``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.structure import design_arrays
    >>> df = pd.DataFrame({"pi": [0.2, 0.5, 1.0]})
    >>> d = sv.Design(probs="pi", pps="brewer")
    >>> st = pps_structure(df, d, design_arrays(df, d), 1 / df.pi.to_numpy())
    >>> st.method, st.certain.tolist()
    ('brewer', [False, False, True])
    """
    # element sampling: every row its own PSU (the arrays keep no n-length codes then)
    psu = np.arange(len(data), dtype=np.intp) if arrays.psu_codes is None else np.asarray(arrays.psu_codes)
    stage = arrays.structure.stages[0]
    h_of_psu = np.asarray(stage.unit_stratum)
    H = int(stage.n_strata)
    pi = _psu_probabilities(data, design, psu, weights)
    certain = pi >= 1.0 - 1e-12
    n_h = np.bincount(h_of_psu, minlength=H).astype(float)
    spec = design.pps
    method = "joint" if isinstance(spec, JointProbabilities) else ("hartley-rao" if isinstance(spec, HartleyRao) else str(spec))
    P = pi.shape[0]
    a = np.zeros(P)
    t = np.zeros(P)
    include = np.zeros(P, dtype=bool)
    c1 = np.zeros(H)
    c2 = np.zeros(H)
    dcheck = None
    n_unc = np.bincount(h_of_psu, weights=(~certain).astype(float), minlength=H)
    lonely = (n_h == 1) & (n_unc > 0) & (method in ("brewer", "overton", "hartley-rao"))
    scale = 1.0
    rule = design.lonely_psu
    if lonely.any():
        labels = np.asarray(arrays.strata_labels, dtype=object)[lonely]
        if rule == "fail":
            raise LonelyPSUError(
                f"stratum {', '.join(map(repr, labels[:10].tolist()))} has a single PSU (pi < 1); its "
                "πps variance cannot be estimated. Collapse it with a neighbouring stratum "
                "(survey.collapse_strata), or choose Design(lonely_psu='remove' | 'adjust' | 'average' | 'certainty')."
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        nh1 = np.where(n_h > 1, n_h - 1.0, np.inf)
        if method == "poisson":
            a = 1.0 - pi
        elif method == "brewer":
            hp = h_of_psu
            include[:] = True
            t = 1.0 - pi
            C = np.bincount(hp, weights=t, minlength=H)
            a = n_h[hp] / nh1[hp] * t
            c1 = np.where(n_h > 1, C / (n_h * nh1), 0.0)
            c2 = np.where(n_h > 1, -1.0 / nh1, 0.0)
        elif method in ("overton", "hartley-rao"):
            hp = h_of_psu
            include = ~certain
            t = np.where(include, pi, 0.0)
            if method == "overton":
                alpha = -1.0 / nh1
                beta = 0.5 / nh1
            else:
                if isinstance(spec, HartleyRao):
                    s2 = _stratum_constant(data, spec.sum_pi2, arrays, H)
                    p2bar = s2 / n_h
                else:  # R HR(): the sample mean of pi estimates sum_U pi^2 / n
                    p2bar = np.bincount(hp, weights=pi, minlength=H) / n_h
                alpha = -(1.0 + p2bar) / nh1
                beta = 1.0 / nh1
            alpha = np.where(n_h > 1, alpha, 0.0)
            beta = np.where(n_h > 1, beta, 0.0)
            a = np.where(include, (1.0 - pi) - alpha[hp] - 2.0 * beta[hp] * pi, 0.0)
            c1, c2 = alpha, beta
            if design.pps_variance == "YG":
                m = np.bincount(hp, weights=include.astype(float), minlength=H)
                Pi = np.bincount(hp, weights=t, minlength=H)
                r = (1.0 - pi) + alpha[hp] * (m[hp] - 1.0) + beta[hp] * (Pi[hp] - pi + (m[hp] - 1.0) * pi)
                a = np.where(include, a - r, 0.0)
        elif method == "joint":
            dcheck = _joint_dcheck(spec, pi, h_of_psu)
            if design.pps_variance == "YG":
                rowsum = np.asarray(dcheck.sum(axis=0)).ravel()
                dcheck = (dcheck - sp.diags(rowsum)).tocsr()
        else:  # pragma: no cover - Design checks the names
            raise DesignError(f"unknown pps method {method!r}")
    if lonely.any():
        lh = lonely[h_of_psu]
        a = np.where(lh, (1.0 - pi) if rule == "adjust" else 0.0, a)
        include = include & ~lh
        t = np.where(lh, 0.0, t)
        c1 = np.where(lonely, 0.0, c1)
        c2 = np.where(lonely, 0.0, c2)
        if rule == "average":
            n_ok = H - int(lonely.sum())
            scale = H / n_ok if n_ok > 0 else 0.0
    return PpsStructure(
        method=method,
        form=design.pps_variance,
        psu=psu,
        psu_stratum=h_of_psu,
        n_strata=H,
        pi=pi,
        certain=certain,
        lonely=lonely,
        a=a,
        t=t,
        include=include,
        c1=c1,
        c2=c2,
        dcheck=dcheck,
        scale=float(scale),
    )


def _stratum_constant(data: pd.DataFrame, column: str, arrays: DesignArrays, H: int) -> np.ndarray:
    """One value per stratum from a column that must be constant within strata."""
    v = data[column].to_numpy(dtype=float)
    h = np.asarray(arrays.strata_codes)
    lo = np.full(H, np.inf)
    hi = np.full(H, -np.inf)
    np.minimum.at(lo, h, v)
    np.maximum.at(hi, h, v)
    if not np.all(np.isfinite(hi)) or np.any(hi - lo > 1e-9 * np.abs(hi)):
        raise DesignError(f"column {column!r} (population sum of squared pi) must be finite and constant within strata")
    return hi


def _pairs(pps: PpsStructure, scores: np.ndarray, domain: np.ndarray, n_domains: int):
    """PSU-by-domain totals of the scores: (psu of pair, domain of pair, totals)."""
    keep = domain >= 0
    key = pps.psu[keep].astype(np.int64) * n_domains + domain[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    z = np.empty((uniq.shape[0], scores.shape[1]))
    s = scores[keep]
    for j in range(scores.shape[1]):  # loop over variables, not units
        z[:, j] = np.bincount(inv, weights=s[:, j], minlength=uniq.shape[0])
    return uniq // n_domains, uniq % n_domains, z


def pps_domain_covariance(pps: PpsStructure, scores: np.ndarray, domain: np.ndarray, n_domains: int) -> np.ndarray:
    """Covariance matrices (D, k, k) of domain totals of scores under a πps design.

    Parameters
    ----------
    pps : PpsStructure
    scores : numpy.ndarray, shape (n, k)
        Influence values, zero outside the domains (R keeps those rows with
        weight 0: they count in ``n_h`` and in Brewer's stratum mean).
    domain : numpy.ndarray of int, shape (n,)
        Domain of every row, ``-1`` outside every domain.
    n_domains : int

    Returns
    -------
    numpy.ndarray, shape (n_domains, k, k)

    Examples
    --------
    Poisson sampling: ``V = sum (1 - pi) (y / pi)^2``.

    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"pi": [0.5, 0.25], "y": [1.0, 2.0]})
    >>> s = sv.Survey(df, sv.Design(probs="pi", pps="poisson"))
    >>> z = (df.y / df.pi).to_numpy()[:, None]
    >>> float(pps_domain_covariance(s.pps_structure, z, np.zeros(2, dtype=np.intp), 1)[0, 0, 0])
    50.0
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    k = scores.shape[1]
    D = n_domains
    out = np.zeros((D, k, k))
    p_psu, p_dom, z = _pairs(pps, scores, domain, D)
    ap = pps.a[p_psu]
    for a_ in range(k):
        for b_ in range(a_, k):
            out[:, a_, b_] += np.bincount(p_dom, weights=ap * z[:, a_] * z[:, b_], minlength=D)
    if pps.include.any():
        h = pps.psu_stratum[p_psu]
        key = h.astype(np.int64) * D + p_dom
        ukey, inv = np.unique(key, return_inverse=True)
        inc = pps.include[p_psu].astype(float)[:, None]
        tp = pps.t[p_psu][:, None]
        S = np.column_stack([np.bincount(inv, weights=(inc * z)[:, j], minlength=ukey.size) for j in range(k)])
        T = np.column_stack([np.bincount(inv, weights=(tp * z)[:, j], minlength=ukey.size) for j in range(k)])
        hh, dd = ukey // D, ukey % D
        c1, c2 = pps.c1[hh], pps.c2[hh]
        for a_ in range(k):
            for b_ in range(a_, k):
                val = c1 * S[:, a_] * S[:, b_] + c2 * (S[:, a_] * T[:, b_] + T[:, a_] * S[:, b_])
                out[:, a_, b_] += np.bincount(dd, weights=val, minlength=D)
    if pps.dcheck is not None:
        P = pps.n_psu
        step = max(1, int(2e7 // max(1, P * k)))
        for start in range(0, D, step):  # chunks of domains: (P, chunk * k) dense products
            stop = min(D, start + step)
            sel = (p_dom >= start) & (p_dom < stop)
            rows = p_psu[sel]
            cols = (p_dom[sel] - start)[:, None] * k + np.arange(k)[None, :]
            Zs = sp.csr_matrix(
                (z[sel].ravel(), (np.repeat(rows, k), cols.ravel())), shape=(P, (stop - start) * k)
            )
            Y = pps.dcheck @ Zs
            Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
            ZtY = np.asarray(Zs.T @ Y)  # (chunk*k, chunk*k)
            c = stop - start
            blocks = ZtY.reshape(c, k, c, k)[np.arange(c), :, np.arange(c), :]
            out[start:stop] += np.triu(blocks)
    iu = np.triu_indices(k, 1)
    out[:, iu[1], iu[0]] = out[:, iu[0], iu[1]]
    return out * pps.scale


def pps_covariance(pps: PpsStructure, scores: np.ndarray) -> np.ndarray:
    """Full covariance matrix (m, m) of the column totals of ``scores`` (n, m) under a πps design.

    Parameters
    ----------
    pps : PpsStructure
    scores : numpy.ndarray, shape (n, m)

    Returns
    -------
    numpy.ndarray, shape (m, m)

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"pi": [0.5, 0.25], "y": [1.0, 2.0]})
    >>> s = sv.Survey(df, sv.Design(probs="pi", pps="poisson"))
    >>> z = (df.y / df.pi).to_numpy()
    >>> pps_covariance(s.pps_structure, np.column_stack([z * [1, 0], z * [0, 1]]))
    array([[ 2.,  0.],
           [ 0., 48.]])
    """
    scores = np.asarray(scores, dtype=float)
    n, m = scores.shape
    P = pps.n_psu
    G = sp.csr_matrix((np.ones(n), (pps.psu, np.arange(n))), shape=(P, n))
    Z = np.asarray(G @ scores)
    out = Z.T @ (Z * pps.a[:, None])
    if pps.include.any():
        Hm = sp.csr_matrix(
            (pps.include.astype(float), (pps.psu_stratum, np.arange(P))), shape=(pps.n_strata, P)
        )
        Tm = sp.csr_matrix((pps.t, (pps.psu_stratum, np.arange(P))), shape=(pps.n_strata, P))
        S = np.asarray(Hm @ Z)
        T = np.asarray(Tm @ Z)
        cross = S.T @ (T * pps.c2[:, None])
        out += S.T @ (S * pps.c1[:, None]) + cross + cross.T
    if pps.dcheck is not None:
        out += Z.T @ np.asarray(pps.dcheck @ Z)
    return out * pps.scale

