"""Replicate-weight variances of domain totals and ratios.

For a :class:`~survey.estimation.replicate.ReplicateDesign` the variance of a
total or ratio is the spread of its replicate values::

    v = scale * sum_r rscales[r] * (theta_r - centre) ** 2

computed without the n x R weight matrix: the jackknives from PSU totals in
O(n + strata x domains), BRR/Fay and the bootstrap from PSU totals and the
replicate factors, chunk by chunk (:func:`replicate_totals`): one product of
the factors with the stacked score columns of every domain and variable
(numerators and denominators together), so the covariances of several
variables come out of the same pass (:func:`replicate_covariance`). The
bootstrap's draws are made once per design and kept with it
(:func:`survey.estimation.replicate_weights.bootstrap_counts`). The variance
engine (:func:`survey.estimation.variance.domain_covariance`) calls it for
replicate surveys.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from survey.errors import ReplicateError, SurveyWarning
from survey.estimation.replicate import ReplicateDesign
from survey.estimation.replicate_weights import bootstrap_count_blocks, bootstrap_multipliers, psu_factors

from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")
linalg = lazy_module("scipy.linalg")

__all__ = ["replicate_variance", "replicate_covariance", "ReplicateCovariance", "replicate_totals"]

# memory budget of one chunk (replicate x PSU values, float64)
_CHUNK_BYTES = 32 * 2**20


# --------------------------------------------------------------------------
# variance
# --------------------------------------------------------------------------
def _check_inputs(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    w = np.asarray(weights, dtype=float)
    if w.shape != (rep.n,):
        raise ReplicateError(f"weights have {w.shape[0]} rows; the replicate design has {rep.n}")
    # equal up to rounding (a weighting step may recompute the same weights by another path)
    changed = (w != 0) & (np.abs(w - rep.weights) > 1e-9 * np.abs(rep.weights))
    if changed.any():
        row = int(np.flatnonzero(changed)[0])
        raise ReplicateError(
            f"the weights changed after the replicates were formed (row {row}: {rep.weights[row]:g} "
            f"-> {w[row]:g}); apply weighting steps to the replicate survey so that every replicate "
            "is reweighted too (reweight_replicates)"
        )
    y = np.asarray(numerator, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    x = None
    if denominator is not None:
        x = np.asarray(denominator, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape != y.shape:
            raise ReplicateError(f"denominator shape {x.shape} differs from numerator shape {y.shape}")
    if y.shape[0] != rep.n:
        raise ReplicateError(f"numerator has {y.shape[0]} rows; the replicate design has {rep.n}")
    d = np.asarray(domain, dtype=np.int64)
    if d.shape != (rep.n,) or (d >= n_domains).any() or (d < -1).any():
        raise ReplicateError(f"domain codes must be n integers in [-1, {n_domains})")
    return w, y, x, d


def _cell_matrix(rows: np.ndarray, d: np.ndarray, values: np.ndarray, n_rows: int, n_domains: int) -> sp.csr_matrix:
    """Sparse (n_rows, n_domains * k) matrix of values placed in domain-variable cells."""
    keep = d >= 0
    k = values.shape[1]
    r = np.repeat(rows[keep], k)
    c = (d[keep][:, None] * k + np.arange(k)[None, :]).ravel()
    v = values[keep].ravel()
    return sp.csr_matrix((v, (r, c)), shape=(n_rows, n_domains * k))


def replicate_totals(
    rep: ReplicateDesign,
    weights: np.ndarray,
    values: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    *,
    chunk: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Replicate deviations of domain totals, chunk by chunk.

    Yields ``(replicates, delta)`` where ``delta[i, d * k + j]`` is the
    replicate total minus the full-sample total of variable j in domain d for
    replicate ``replicates[i]``. For bootstrap, BRR/Fay and materialised
    weights; the jackknives use PSU totals directly (see
    :func:`replicate_variance`).

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("brr", weights=np.ones(4), strata=np.array([0, 0, 1, 1]))
    >>> [d.ravel().tolist() for _, d in replicate_totals(rep, rep.weights, np.array([[1.], [2.], [3.], [5.]]),
    ...                                                   np.zeros(4, int), 1)]
    [[-3.0, -1.0, 1.0, 3.0]]
    """
    w = np.asarray(weights, dtype=float)
    vals = np.asarray(values, dtype=float)
    if vals.ndim == 1:
        vals = vals[:, None]
    n = w.shape[0]
    R = rep.n_replicates
    z = w[:, None] * vals
    if rep.repweights is not None:
        Z = _cell_matrix(np.arange(n), domain, vals, n, n_domains)  # y in cells
        full = np.asarray(Z.T @ w).ravel()
        fac_w = np.where(rep.weights > 0, w / np.where(rep.weights > 0, rep.weights, 1.0), 0.0)
        c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(n, 1))))
        for start in range(0, R, c):
            idx = np.arange(start, min(start + c, R))
            Wb = rep.repweights[:, idx] * fac_w[:, None]
            yield idx, np.asarray((Z.T @ Wb).T) - full[None, :]
        return
    lay = rep.layout
    if rep.method == "bootstrap":
        # replicate r: sum_p ((1 - lambda_p) + mult_p c_pr - 1) Z_p = (mult Z)' c_r - lambda' Z
        lam, mult = bootstrap_multipliers(lay)
        Zt = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).T.tocsr()  # (m, P)
        base = np.asarray(Zt @ lam).ravel()
        Ztm = sp.csr_array(Zt.multiply(mult[None, :]))
        c = chunk or max(1, min(R, 2 * _CHUNK_BYTES // (8 * max(lay.n_psu, 1))))
        if Ztm.nnz >= 0.5 * Ztm.shape[0] * Ztm.shape[1]:  # a few dense rows (no domains)
            Zd = np.ascontiguousarray(Ztm.toarray().T)  # (P, m)
            for idx, counts in bootstrap_count_blocks(rep, c, psu_major=False):
                # one product per replicate: the same sums whatever the block size
                yield idx, np.vstack([row @ Zd for row in counts]) - base[None, :]
            return
        for idx, counts in bootstrap_count_blocks(rep, c):
            yield idx, np.asarray(Ztm @ counts).T - base[None, :]
        return
    if rep.method in ("brr", "fay"):
        first, second, _ = rep.half_samples
        Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).tocsr()
        delta = (Zp[first] - Zp[second]) * (1.0 - rep.fay_rho)  # (L, m) sparse
        L = first.shape[0]
        c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(L, 1))))
        for start in range(0, R, c):
            idx = np.arange(start, min(start + c, R))
            H = linalg.hadamard(R)[idx][:, 1 : L + 1].astype(float)  # (c, L)
            yield idx, np.asarray((delta.T @ H.T).T)
        return
    # jackknife, generic (dense) path: used for small designs and tests
    c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(lay.n_psu, 1))))
    Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains)
    for start in range(0, R, c):
        idx = np.arange(start, min(start + c, R))
        F = psu_factors(rep, idx) - 1.0  # (P, c)
        yield idx, np.asarray(Zp.T @ F).T


def _ratio_dev(dn: np.ndarray, dd: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """(num + dn) / (den + dd) - num / den without cancellation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dn * den - num * dd) / (den * (den + dd))


def _jackknife_covariance(
    rep: ReplicateDesign,
    w: np.ndarray,
    y: np.ndarray,
    x: np.ndarray | None,
    d: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray]:
    """JK1/JKn covariances from PSU totals in O(n + strata x domains).

    Replicate r deletes PSU j of stratum h; for a cell c (domain, variable)
    its total moves by (t_hc - n_h t_jc) / (n_h - 1). PSUs of h without rows
    in the cell all move by t_hc / (n_h - 1), so they are handled together.
    Cross products of the variables of a domain come from the same
    deviations. Returns (covariance (D, k, k), number of replicates dropped
    for a zero denominator (D, k)).
    """
    lay = rep.layout
    k = y.shape[1]
    keep = d >= 0
    psu_row = lay.psu[keep]
    d_row = d[keep]
    n_h = lay.stratum_size.astype(float)
    # replicate weight s_j = rscale of the replicate deleting PSU j (0 if none)
    act_psu = np.flatnonzero(lay.active[lay.psu_stratum])
    s_psu = np.zeros(lay.n_psu)
    s_psu[act_psu] = rep.rscales[: act_psu.shape[0]]
    # (psu, domain) pairs present in the data
    pair_key = psu_row * n_domains + d_row
    pkeys, pinv = np.unique(pair_key, return_inverse=True)
    p_psu = pkeys // n_domains
    p_dom = pkeys % n_domains
    p_h = lay.psu_stratum[p_psu]

    def pair_totals(v: np.ndarray) -> np.ndarray:
        wv = w[keep][:, None] * v[keep]
        out = np.empty((pkeys.shape[0], k))
        for j in range(k):
            out[:, j] = np.bincount(pinv, weights=wv[:, j], minlength=pkeys.shape[0])
        return out

    tn = pair_totals(y)
    td = pair_totals(x) if x is not None else None
    # (stratum, domain) cells
    hd_key = p_h * n_domains + p_dom
    hkeys, hinv = np.unique(hd_key, return_inverse=True)
    hk_h = hkeys // n_domains
    hk_d = hkeys % n_domains

    def group(v: np.ndarray) -> np.ndarray:
        if v.ndim == 1:
            return np.bincount(hinv, weights=v, minlength=hkeys.shape[0])
        out = np.empty((hkeys.shape[0],) + v.shape[1:])
        for j in range(v.shape[1]):
            out[:, j] = np.bincount(hinv, weights=v[:, j], minlength=hkeys.shape[0])
        return out

    Tn_hd = group(tn)
    Td_hd = group(td) if td is not None else None
    # full-sample domain totals
    Nd = np.zeros((n_domains, k))
    np.add.at(Nd, hk_d, Tn_hd)
    Dd = None
    if Td_hd is not None:
        Dd = np.zeros((n_domains, k))
        np.add.at(Dd, hk_d, Td_hd)
    nh_pair = n_h[p_h][:, None]
    nh_hd = n_h[hk_h][:, None]
    act_pair = lay.active[p_h]
    act_hd = lay.active[hk_h]
    denom_pair = np.where(act_pair, nh_pair[:, 0] - 1, 1.0)[:, None]
    denom_hd = np.where(act_hd, nh_hd[:, 0] - 1, 1.0)[:, None]
    # deviations of present pairs and of the absent PSUs of each (h, d):
    # (T - n t) / (n - 1) written as (T - t) / (n - 1) - t, exactly -t when the PSU is
    # alone in its cell (so a zero denominator is exactly zero, as with the weights)
    dn_pair = (Tn_hd[hinv] - tn) / denom_pair - tn * act_pair[:, None]
    dn_abs = Tn_hd / denom_hd
    if Dd is not None:
        dd_pair = (Td_hd[hinv] - td) / denom_pair - td * act_pair[:, None]
        dd_abs = Td_hd / denom_hd
        e_pair = _ratio_dev(dn_pair, dd_pair, Nd[p_dom], Dd[p_dom])
        e_abs = _ratio_dev(dn_abs, dd_abs, Nd[hk_d], Dd[hk_d])
    else:
        e_pair, e_abs = dn_pair, dn_abs
    # replicate weights (rscales) and counts of the pairs and of the absent PSUs
    s_pair = np.where(act_pair, s_psu[p_psu], 0.0)
    s_h_total = np.bincount(lay.psu_stratum, weights=s_psu, minlength=lay.n_strata)
    s_abs = s_h_total[hk_h] - group(s_pair)
    present = np.bincount(hinv, minlength=hkeys.shape[0])
    cnt_abs = np.where(act_hd, n_h[hk_h] - present, 0.0)
    c_pair = act_pair.astype(float)
    # replicates whose ratio is undefined (zero denominator) are dropped, as R does
    bad_pair = ~np.isfinite(e_pair) & (c_pair[:, None] > 0)
    bad_abs = ~np.isfinite(e_abs) & (cnt_abs[:, None] > 0)
    full_bad = ~np.isfinite(Nd / Dd) if Dd is not None else np.zeros((n_domains, k), bool)
    e_pair = np.where(np.isfinite(e_pair), e_pair, 0.0)
    e_abs = np.where(np.isfinite(e_abs), e_abs, 0.0)

    def by_domain(pair_v: np.ndarray, abs_v: np.ndarray) -> np.ndarray:
        return np.bincount(p_dom, weights=pair_v, minlength=n_domains) + np.bincount(
            hk_d, weights=abs_v, minlength=n_domains
        )

    ok_pair = ~bad_pair
    ok_abs = ~bad_abs
    sum_s_all = float(rep.rscales.sum())
    # JKn "adjust": one extra replicate per lonely stratum (R as.svrepdesign), after the others
    ext = ok_ext = s_ext = None
    if lay.adjust_strata.shape[0]:
        ext = _lonely_adjust_deviations(rep, p_psu, p_dom, tn, td, Nd, Dd, n_domains)  # (L, D, k)
        ok_ext = np.isfinite(ext)
        ext = np.where(ok_ext, ext, 0.0)
        s_ext = np.asarray(rep.rscales, dtype=float)[act_psu.shape[0]:][:, None]  # (L, 1)
    # per variable: replicates dropped, their mean deviation
    n_bad = np.zeros((n_domains, k))
    mu = np.zeros((n_domains, k))
    for a in range(k):
        n_bad[:, a] = by_domain(bad_pair[:, a].astype(float), bad_abs[:, a] * cnt_abs)
        sum_e = by_domain(e_pair[:, a] * c_pair * ok_pair[:, a], e_abs[:, a] * cnt_abs * ok_abs[:, a])
        if ext is not None:
            n_bad[:, a] += (~ok_ext[:, :, a]).sum(axis=0)
            sum_e += ext[:, :, a].sum(axis=0)
        mu[:, a] = sum_e / np.maximum(rep.n_replicates - n_bad[:, a], 1)
    if rep.mse:
        mu[:] = 0.0
    any_bad = bool(bad_pair.any() or bad_abs.any() or (ok_ext is not None and not ok_ext.all()))
    cov = np.zeros((n_domains, k, k))
    for a in range(k):
        for b in range(a, k):
            okp = ok_pair[:, a] & ok_pair[:, b] if any_bad else None
            oka = ok_abs[:, a] & ok_abs[:, b] if any_bad else None
            sp_ = s_pair if okp is None else s_pair * okp
            sa_ = s_abs if oka is None else s_abs * oka
            s_ee = by_domain(e_pair[:, a] * e_pair[:, b] * sp_, e_abs[:, a] * e_abs[:, b] * sa_)
            if ext is not None:  # (L, D) rscales of the extra replicates kept for both variables
                se_ = s_ext * (ok_ext[:, :, a] & ok_ext[:, :, b])
                s_ee = s_ee + (ext[:, :, a] * ext[:, :, b] * se_).sum(axis=0)
            if rep.mse:
                c_ab = s_ee
            else:
                s_ea = by_domain(e_pair[:, a] * sp_, e_abs[:, a] * sa_)
                s_eb = s_ea if b == a else by_domain(e_pair[:, b] * sp_, e_abs[:, b] * sa_)
                s_s = sum_s_all - (by_domain(s_pair - sp_, s_abs - sa_) if any_bad else 0.0)
                if ext is not None:
                    s_ea = s_ea + (ext[:, :, a] * se_).sum(axis=0)
                    s_eb = s_ea if b == a else s_eb + (ext[:, :, b] * se_).sum(axis=0)
                    s_s = s_s - (s_ext - se_).sum(axis=0)
                c_ab = s_ee - mu[:, b] * s_ea - mu[:, a] * s_eb + mu[:, a] * mu[:, b] * s_s
            c_ab = rep.scale * c_ab
            if a == b:
                c_ab = np.maximum(c_ab, 0.0)
            cov[:, a, b] = c_ab
            cov[:, b, a] = c_ab
    if full_bad.any():
        cov[full_bad, :] = np.nan
        cov.transpose(0, 2, 1)[full_bad, :] = np.nan
    return cov, n_bad


def _covariance_from_deviations(
    rep: ReplicateDesign, e: np.ndarray, n_domains: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariances (D, k, k) from replicate deviations e (R x D*k; non-finite: dropped).

    Returns the covariances, the number of dropped replicates (D, k) and the
    centred deviations (R x D*k, 0 where dropped) for the full matrix.
    """
    R = e.shape[0]
    ok = np.isfinite(e)
    e0 = np.where(ok, e, 0.0)
    if rep.mse:
        ec = e0
    else:
        count = ok.sum(axis=0)
        mu = e0.sum(axis=0) / np.maximum(count, 1)
        ec = np.where(ok, e0 - mu[None, :], 0.0)
    er = ec.reshape(R, n_domains, k)
    cov = rep.scale * np.einsum("r,rda,rdb->dab", rep.rscales, er, er)
    n_bad = (R - ok.sum(axis=0)).reshape(n_domains, k)
    return cov, n_bad, ec


@dataclass(frozen=True, eq=False)
class ReplicateCovariance:
    """Replicate covariances of domain estimates (see :func:`replicate_covariance`).

    Attributes
    ----------
    cov : numpy.ndarray, shape (D, k, k)
    full : callable or None
        ``full()`` gives the (D*k x D*k) covariance across domains
        (domain-major); ``None`` for the jackknives' PSU-total path.
    """

    cov: np.ndarray
    full: Callable[[], np.ndarray] | None = None


def replicate_covariance(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> ReplicateCovariance:
    """Replicate covariances of domain totals or ratios, all variables in one pass.

    The replicate totals of every domain and variable (numerators and
    denominators together) come from one product of the replicate factors
    with the stacked score columns; the covariance of variables ``a`` and
    ``b`` of a domain is ``scale * sum_r rscales[r] (e_ra - mu_a) (e_rb - mu_b)``
    of their replicate deviations. The jackknives use PSU totals
    (O(n + strata x domains)) with the same cross products.

    Parameters
    ----------
    rep : ReplicateDesign
    weights : numpy.ndarray
        Current full-sample weights (length n): ``rep.weights``, except that
        rows may be set to zero (a domain that keeps the design).
    numerator : numpy.ndarray
        (n, k) values y.
    denominator : numpy.ndarray or None
        (n, k) values x for ratios sum(w y) / sum(w x); None for totals.
    domain : numpy.ndarray
        (n,) integer domain codes in [0, n_domains), -1 outside every domain.
    n_domains : int

    Returns
    -------
    ReplicateCovariance

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> w = np.full(4, 10.0)
    >>> y = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0], [6.0, 1.0]])
    >>> rep = replicates_from_arrays("brr", weights=w, strata=np.array([0, 0, 1, 1]))
    >>> replicate_covariance(rep, w, y, None, np.zeros(4, int), 1).cov[0]  # sum_h of products of PSU differences
    array([[ 2000., -1600.],
           [-1600.,  1600.]])
    """
    w, y, x, d = _check_inputs(rep, weights, numerator, denominator, domain, n_domains)
    k = y.shape[1]
    if rep.repweights is None and rep.method in ("jk1", "jkn"):
        cov, n_bad = _jackknife_covariance(rep, w, y, x, d, n_domains)
        _warn_dropped(n_bad)
        return ReplicateCovariance(cov=cov)
    m = n_domains * k
    vals = y if x is None else np.hstack([y, x])
    kk = vals.shape[1]
    delta = np.empty((rep.n_replicates, n_domains * kk))
    for idx, dv in replicate_totals(rep, w, vals, d, n_domains):
        delta[idx] = dv
    delta = delta.reshape(-1, n_domains, kk)
    if x is None:
        e = delta.reshape(-1, m)
        full_bad = None
    else:
        Z = _cell_matrix(np.arange(rep.n), d, np.hstack([y, x]), rep.n, n_domains)
        full = np.asarray(Z.T @ w).ravel().reshape(n_domains, 2 * k)
        full_n, full_d = full[:, :k].ravel(), full[:, k:].ravel()
        dn = delta[:, :, :k].reshape(-1, m)
        dd = delta[:, :, k:].reshape(-1, m)
        e = _ratio_dev(dn, dd, full_n[None, :], full_d[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            full_bad = ~np.isfinite(full_n / full_d).reshape(n_domains, k)
    cov, n_bad, ec = _covariance_from_deviations(rep, e, n_domains, k)
    if full_bad is not None and full_bad.any():
        cov[full_bad, :] = np.nan
        cov.transpose(0, 2, 1)[full_bad, :] = np.nan
        n_bad = np.where(full_bad, 0, n_bad)
    _warn_dropped(n_bad)
    scale, rscales = rep.scale, rep.rscales

    dropped = bool(np.any(n_bad > 0))

    def full_matrix() -> np.ndarray:
        if dropped:
            # R svrVar on the stacked estimates: a replicate undefined anywhere is left out
            # everywhere (the per-domain variances above leave it out per cell, as svyby)
            cols = np.ones(e.shape[1], bool) if full_bad is None else ~full_bad.ravel()
            rows = np.isfinite(e[:, cols]).all(axis=1)
            er = np.where(np.isfinite(e[rows]), e[rows], 0.0)
            if not rep.mse:
                er = er - er.mean(axis=0)[None, :]
            out = scale * (er.T @ (er * np.asarray(rscales, dtype=float)[rows][:, None]))
        else:
            out = scale * (ec.T @ (ec * rscales[:, None]))
        if full_bad is not None and full_bad.any():
            bad = full_bad.ravel()
            out[bad, :] = np.nan
            out[:, bad] = np.nan
        return out

    return ReplicateCovariance(cov=cov, full=full_matrix)


def _lonely_adjust_deviations(
    rep: ReplicateDesign,
    p_psu: np.ndarray,
    p_dom: np.ndarray,
    tn: np.ndarray,
    td: np.ndarray | None,
    Nd: np.ndarray,
    Dd: np.ndarray | None,
    n_domains: int,
) -> np.ndarray:
    """Deviations (L, D, k) of the JKn "adjust" replicates of lonely strata (R ``as.svrepdesign``).

    Replicate l deletes the PSU of lonely stratum l and multiplies every other
    unit by ``H / (H - 1)``: a domain total ``T`` moves by ``(T - H t_l) / (H - 1)``
    with ``t_l`` the total of the deleted PSU. Non-finite: a zero denominator.
    """
    lay = rep.layout
    H = lay.n_strata
    k = tn.shape[1]
    L = lay.adjust_strata.shape[0]
    which = np.full(lay.n_strata, -1)
    which[lay.adjust_strata] = np.arange(L)
    ell = which[lay.psu_stratum[p_psu]]  # lonely replicate of each (psu, domain) pair, -1 if none
    sel = ell >= 0
    tnL = np.zeros((L, n_domains, k))
    np.add.at(tnL, (ell[sel], p_dom[sel]), tn[sel])
    dn = (Nd[None] - H * tnL) / (H - 1.0)  # the deviation H/(H-1) (T - t_l) - T
    if td is None:
        return dn
    tdL = np.zeros((L, n_domains, k))
    np.add.at(tdL, (ell[sel], p_dom[sel]), td[sel])
    dd = (Dd[None] - H * tdL) / (H - 1.0)
    return _ratio_dev(dn, dd, Nd[None], Dd[None])


def replicate_variance(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> np.ndarray:
    """Replicate variances of domain totals or ratios.

    The diagonal of :func:`replicate_covariance`.

    Parameters
    ----------
    rep : ReplicateDesign
    weights : numpy.ndarray
        Current full-sample weights (length n). They must be the weights the
        replicates belong to (``rep.weights``), except that rows may be set
        to zero (a domain that keeps the design).
    numerator : numpy.ndarray
        (n, k) values y.
    denominator : numpy.ndarray or None
        (n, k) values x for ratios sum(w y) / sum(w x); None for totals.
    domain : numpy.ndarray
        (n,) integer domain codes in [0, n_domains), -1 for rows outside
        every domain.
    n_domains : int

    Returns
    -------
    numpy.ndarray
        (n_domains, k) variances. A ratio whose full-sample denominator is 0
        has variance NaN; replicates with a zero denominator are left out
        with a ``SurveyWarning`` (R: ``na.action``).

    Examples
    --------
    A stratified sample, JKn: the variance of a total equals the textbook
    with-replacement formula sum_h n_h / (n_h - 1) sum_i (z_hi - zbar_h)^2
    (z = w y): 1.5 * 1400 + 2 * 3200 = 8500.

    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> w = np.array([10.0, 10, 10, 20, 20])
    >>> y = np.array([[1.0], [2], [6], [4], [8]])
    >>> rep = replicates_from_arrays("jkn", weights=w, strata=np.array([0, 0, 0, 1, 1]))
    >>> float(replicate_variance(rep, w, y, None, np.zeros(5, int), 1)[0, 0])
    8500.0
    """
    cov = replicate_covariance(rep, weights, numerator, denominator, domain, n_domains).cov
    return np.diagonal(cov, axis1=1, axis2=2).copy()


def _warn_dropped(n_bad: np.ndarray) -> None:
    if np.any(n_bad > 0):
        dom, var = (int(a[0]) for a in np.nonzero(n_bad > 0))
        warnings.warn(
            f"{int(n_bad.max())} replicate(s) have a zero denominator (first: domain {dom}, "
            f"variable {var}) and were left out of the variance, as R does; the domain is too "
            "small for these replicates, so treat its standard error with care",
            SurveyWarning,
            stacklevel=3,
        )
