"""Replicate-weight variances of domain totals and ratios.

For a :class:`~survey.estimation.replicate.ReplicateDesign` the variance of a
total or ratio is the spread of its replicate values::

    v = scale * sum_r rscales[r] * (theta_r - centre) ** 2

computed without the n x R weight matrix: the jackknives from PSU totals in
O(n + strata x domains) (:func:`replicate_variance`), BRR/Fay and the
bootstrap from PSU totals and the replicate factors, chunk by chunk
(:func:`replicate_totals`). The variance engine
(:func:`survey.estimation.variance.domain_covariance`) calls it for replicate
surveys.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from survey.errors import ReplicateError, SurveyWarning
from survey.estimation.replicate import ReplicateDesign
from survey.estimation.replicate_weights import BootstrapResampler, bootstrap_multipliers, psu_factors

__all__ = ["replicate_variance", "replicate_totals"]

# memory budget of one chunk (replicate x PSU values, float64)
_CHUNK_BYTES = 32 * 2**20
_MAX_THREADS = 4


def _threads() -> int:
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))



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
        lam, mult = bootstrap_multipliers(lay)
        Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).tocsc()  # PSU totals in cells
        base = np.asarray(Zp.T @ lam).ravel()
        ZsT = (Zp.T @ sp.diags(mult)).tocsr()  # (m, P)
        sampler = BootstrapResampler(rep)

        def one(r: int) -> np.ndarray:
            return ZsT @ sampler.counts(r) - base

        c = chunk or 32
        with ThreadPoolExecutor(max_workers=_threads()) as pool:
            for start in range(0, R, c):
                idx = np.arange(start, min(start + c, R))
                yield idx, np.vstack(list(pool.map(one, idx.tolist())))
        return
    if rep.method in ("brr", "fay"):
        first, second, _ = rep.half_samples
        Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).tocsr()
        delta = (Zp[first] - Zp[second]) * (1.0 - rep.fay_rho)  # (L, m) sparse
        L = first.shape[0]
        c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(L, 1))))
        for start in range(0, R, c):
            idx = np.arange(start, min(start + c, R))
            H = scipy.linalg.hadamard(R)[idx][:, 1 : L + 1].astype(float)  # (c, L)
            yield idx, np.asarray((delta.T @ H.T).T)
        return
    # jackknife, generic (dense) path: used for small designs and tests
    c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(lay.n_psu, 1))))
    Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains)
    for start in range(0, R, c):
        idx = np.arange(start, min(start + c, R))
        F = psu_factors(rep, idx) - 1.0  # (P, c)
        yield idx, np.asarray(Zp.T @ F).T


def _variance_from_sums(
    rep: ReplicateDesign,
    sum_e: np.ndarray,
    sum_se: np.ndarray,
    sum_se2: np.ndarray,
    sum_s: np.ndarray | float,
    count: np.ndarray | float,
) -> np.ndarray:
    """scale * sum_r s_r (e_r - mu)^2 from the sums over replicates (s_r = rscales)."""
    if rep.mse:
        v = sum_se2
    else:
        mu = sum_e / np.maximum(count, 1)
        v = sum_se2 - 2.0 * mu * sum_se + mu**2 * sum_s
    return rep.scale * np.maximum(v, 0.0)


def _ratio_dev(dn: np.ndarray, dd: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """(num + dn) / (den + dd) - num / den without cancellation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dn * den - num * dd) / (den * (den + dd))


def _jackknife_variance(
    rep: ReplicateDesign,
    w: np.ndarray,
    y: np.ndarray,
    x: np.ndarray | None,
    d: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray]:
    """JK1/JKn variances from PSU totals in O(n + strata x domains).

    Replicate r deletes PSU j of stratum h; for a cell c (domain, variable)
    its total moves by (t_hc - n_h t_jc) / (n_h - 1). PSUs of h without rows
    in the cell all move by t_hc / (n_h - 1), so they are handled together.
    Returns (variance, number of replicates dropped for a zero denominator).
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
        out = np.empty((hkeys.shape[0],) + v.shape[1:])
        if v.ndim == 1:
            return np.bincount(hinv, weights=v, minlength=hkeys.shape[0])
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
    # deviations of present pairs and of the absent PSUs of each (h, d)
    dn_pair = (Tn_hd[hinv] - nh_pair * tn) / denom_pair
    dn_abs = Tn_hd / denom_hd
    if Dd is not None:
        dd_pair = (Td_hd[hinv] - nh_pair * td) / denom_pair
        dd_abs = Td_hd / denom_hd
        e_pair = _ratio_dev(dn_pair, dd_pair, Nd[p_dom], Dd[p_dom])
        e_abs = _ratio_dev(dn_abs, dd_abs, Nd[hk_d], Dd[hk_d])
    else:
        e_pair, e_abs = dn_pair, dn_abs
    # weights (rscales) and counts
    s_pair = np.where(act_pair, s_psu[p_psu], 0.0)[:, None]
    s_h_total = np.bincount(lay.psu_stratum, weights=s_psu, minlength=lay.n_strata)
    s_abs = (s_h_total[hk_h] - group(s_pair[:, 0]))[:, None]
    present = np.bincount(hinv, minlength=hkeys.shape[0])
    cnt_abs = np.where(act_hd, n_h[hk_h] - present, 0.0)[:, None]
    c_pair = act_pair.astype(float)[:, None]
    # replicates whose ratio is undefined (zero denominator) are dropped, as R does
    bad_pair = ~np.isfinite(e_pair) & (c_pair > 0)
    bad_abs = ~np.isfinite(e_abs) & (cnt_abs > 0)
    full_bad = ~np.isfinite(Nd / Dd) if Dd is not None else np.zeros((n_domains, k), bool)
    e_pair = np.where(np.isfinite(e_pair), e_pair, 0.0)
    e_abs = np.where(np.isfinite(e_abs), e_abs, 0.0)
    c_pair = c_pair * ~bad_pair
    cnt_abs = cnt_abs * ~bad_abs
    s_pair = s_pair * ~bad_pair
    s_abs = s_abs * ~bad_abs

    def by_domain(pair_v: np.ndarray, abs_v: np.ndarray) -> np.ndarray:
        out = np.zeros((n_domains, k))
        np.add.at(out, p_dom, pair_v)
        np.add.at(out, hk_d, abs_v)
        return out

    sum_e = by_domain(e_pair * c_pair, e_abs * cnt_abs)
    sum_se = by_domain(e_pair * s_pair, e_abs * s_abs)
    sum_se2 = by_domain(e_pair**2 * s_pair, e_abs**2 * s_abs)
    # replicates that do not touch the domain have e = 0 but count for the mean
    n_bad = by_domain(bad_pair.astype(float), bad_abs * np.where(act_hd, n_h[hk_h] - present, 0)[:, None])
    count = rep.n_replicates - n_bad
    sum_s_all = float(rep.rscales.sum())
    sum_s_bad = by_domain(bad_pair * np.where(act_pair, s_psu[p_psu], 0.0)[:, None],
                          bad_abs * (s_h_total[hk_h] - group(np.where(act_pair, s_psu[p_psu], 0.0)))[:, None])
    if lay.adjust_strata.shape[0]:  # JKn "adjust" replicates of lonely strata (R as.svrepdesign)
        ex = _lonely_adjust_sums(rep, p_psu, p_dom, tn, td, Nd, Dd, act_psu.shape[0], n_domains)
        sum_e, sum_se, sum_se2 = sum_e + ex[0], sum_se + ex[1], sum_se2 + ex[2]
        n_bad, sum_s_bad = n_bad + ex[3], sum_s_bad + ex[4]
        count = rep.n_replicates - n_bad
    v = _variance_from_sums(rep, sum_e, sum_se, sum_se2, sum_s_all - sum_s_bad, count)
    v[full_bad] = np.nan
    return v, n_bad


def _lonely_adjust_sums(rep, p_psu, p_dom, tn, td, Nd, Dd, n_act, n_domains):
    """Sums over the JKn "adjust" replicates: PSU of a lonely stratum deleted, all others x H/(H-1)."""
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
    dn = (Nd[None] - H * tnL) / (H - 1.0)
    if td is not None:
        tdL = np.zeros((L, n_domains, k))
        np.add.at(tdL, (ell[sel], p_dom[sel]), td[sel])
        dd = (Dd[None] - H * tdL) / (H - 1.0)
        e = _ratio_dev(dn, dd, Nd[None], Dd[None])
    else:
        e = dn
    s = rep.rscales[n_act:][:, None, None]
    bad = ~np.isfinite(e)
    e = np.where(bad, 0.0, e)
    return e.sum(0), (s * e).sum(0), (s * e * e).sum(0), bad.sum(0).astype(float), (s * bad).sum(0)


def replicate_variance(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> np.ndarray:
    """Replicate variances of domain totals or ratios.

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
    w, y, x, d = _check_inputs(rep, weights, numerator, denominator, domain, n_domains)
    k = y.shape[1]
    if rep.repweights is None and rep.method in ("jk1", "jkn"):
        v, n_bad = _jackknife_variance(rep, w, y, x, d, n_domains)
        _warn_dropped(n_bad)
        return v
    m = n_domains * k
    if x is None:
        full_n = full_d = None
    else:
        Z = _cell_matrix(np.arange(rep.n), d, np.hstack([y, x]), rep.n, n_domains)
        full = np.asarray(Z.T @ w).ravel().reshape(n_domains, 2 * k)
        full_n, full_d = full[:, :k].ravel(), full[:, k:].ravel()
    vals = y if x is None else np.hstack([y, x])
    kk = vals.shape[1]
    sum_e = np.zeros(m)
    sum_se = np.zeros(m)
    sum_se2 = np.zeros(m)
    sum_s = np.zeros(m)
    count = np.zeros(m)
    for idx, delta in replicate_totals(rep, w, vals, d, n_domains):
        delta = delta.reshape(-1, n_domains, kk)
        if x is None:
            e = delta.reshape(-1, m)
        else:
            dn = delta[:, :, :k].reshape(-1, m)
            dd = delta[:, :, k:].reshape(-1, m)
            e = _ratio_dev(dn, dd, full_n[None, :], full_d[None, :])
        s = rep.rscales[idx][:, None]
        ok = np.isfinite(e)
        e = np.where(ok, e, 0.0)
        sum_e += e.sum(axis=0)
        sum_se += (s * e).sum(axis=0)
        sum_se2 += (s * e**2).sum(axis=0)
        sum_s += (s * ok).sum(axis=0)
        count += ok.sum(axis=0)
    v = _variance_from_sums(rep, sum_e, sum_se, sum_se2, sum_s, count).reshape(n_domains, k)
    n_bad = (rep.n_replicates - count).reshape(n_domains, k)
    if x is not None:
        full_bad = ~np.isfinite(full_n / full_d).reshape(n_domains, k)
        v[full_bad] = np.nan
        n_bad = np.where(full_bad, 0, n_bad)
    _warn_dropped(n_bad)
    return v


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
