"""Finishing the out-of-core variance in numpy, from per-stratum tables of score sums.

The SQL passes of :mod:`survey.estimation.outofcore` return, per stage,
small tables: one row per stratum x domain (sums ``S`` of the scores of the
stage's units and sums ``Q`` of their squares and cross products), and
after calibration one row per stratum x domain x cell plus per stratum x
cell sums of the model weights. This module combines them with the
per-stratum coefficients of :func:`survey.estimation.variance.stage_coefficients`
exactly as :func:`survey.estimation.variance.linearization_variance`
(domains, no calibration) and :func:`survey.estimation.variance.full_covariance`
(after calibration, residuals spread outside the domain) do:

``V_d = sum_h a_h * sum_{i in h} Z_id Z_id' - b_h * S_hd S_hd'``

with ``a_h``, ``b_h`` the stage coefficients (times the ``"average"``
lonely-PSU scale). After calibration ``Z_id = z_id - m_i t_id`` with the
model weight ``m_i`` and the fitted model term ``t_id = beta_cat[d, cell_i]
+ beta_num[d]' x_i``; the sums of ``Z Z'`` are expanded into the sums of
``z z'``, ``z m x'`` and ``m^2 x x'`` that SQL returns, so no pass per
domain is needed.

Everything is vectorised over strata, cells and domains (domains in chunks
that bound the memory); there is no loop over units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from survey.errors import SurveyError

__all__ = ["OutsideSums", "StageTable", "calibrated_cluster_variance", "calibrated_element_variance",
           "outside_sums", "plain_variance"]

_CHUNK = 4_000_000  # elements of a dense (strata or units) x domains x k block
_SLAB = 1 << 19  # elements of the strata x domains x k block of calibrated_element_variance (cache-sized)


@dataclass(frozen=True, eq=False)
class StageTable:
    """One sampling stage of an out-of-core design: keys and per-stratum coefficients.

    Attributes
    ----------
    keys : tuple of str
        Stratum key columns of the stage (stratum column, then the clusters
        of earlier stages).
    unit : str or None
        Cluster column of the stage (``None``: every row is a unit).
    table : pandas.DataFrame
        One row per stratum: ``__sv_k*`` keys, ``n_units``, ``fraction``,
        ``multiplier``, ``label``, ``sq_coef``, ``cross_coef``, ``average``.
    sq, cross : numpy.ndarray
        The coefficients of :func:`survey.estimation.variance.stage_coefficients`.
    average_out : numpy.ndarray of bool
        Strata whose variance is the average of the others (``"average"``).
    parent : numpy.ndarray of int
        Stratum of the previous stage that contains each stratum.
    """

    keys: tuple[str, ...]
    unit: str | None
    table: pd.DataFrame
    sq: np.ndarray
    cross: np.ndarray
    average_out: np.ndarray
    parent: np.ndarray

    @property
    def aliases(self) -> list[str]:
        """Column names of the keys in query results (``__sv_k0``, ...)."""
        return [f"__sv_k{i}" for i in range(len(self.keys))]

    def stratum_scale(self) -> np.ndarray:
        """``"average"`` scale per stratum over all strata of the parent (as ``full_covariance``)."""
        if not self.average_out.any():
            return np.ones(self.sq.size)
        total = np.bincount(self.parent).astype(float)
        ok = np.bincount(self.parent, weights=(~self.average_out).astype(float))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ok > 0, total / ok, 0.0)[self.parent]


def _sym_index(k: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(k) for b in range(a, k)]


def _matrix_columns(t: pd.DataFrame, prefix: str, k: int) -> np.ndarray:
    """``prefix{a}_{b}`` columns (upper triangle) -> (n, k, k) symmetric array."""
    out = np.empty((len(t), k, k))
    for a, b in _sym_index(k):
        v = t[f"{prefix}{a}_{b}"].to_numpy(dtype=float)
        out[:, a, b] = v
        out[:, b, a] = v
    return out


def _vector_columns(t: pd.DataFrame, prefix: str, k: int) -> np.ndarray:
    return np.column_stack([t[f"{prefix}{j}"].to_numpy(dtype=float) for j in range(k)]) if k else np.zeros((len(t), 0))


def _bincount_matrix(d: np.ndarray, values: np.ndarray, D: int) -> np.ndarray:
    """Sums of ``values`` (n, a, b) over codes ``d`` -> (D, a, b)."""
    n, a, b = values.shape
    flat = values.reshape(n, a * b)
    out = np.empty((D, a * b))
    for j in range(a * b):  # loop over matrix entries, not units
        out[:, j] = np.bincount(d, weights=flat[:, j], minlength=D)
    return out.reshape(D, a, b)


def plain_variance(stages: tuple[StageTable, ...], tables: list[pd.DataFrame], D: int, k: int) -> np.ndarray:
    """Covariance (D, k, k) of domain totals from per-(stratum, domain) sums, no calibration.

    ``tables[s]`` has one row per stratum x domain present in the domain
    (``__sv_h``, ``__sv_dom``), the sums ``s{j}`` and cross products
    ``q{a}_{b}`` of the unit totals of the scores. The ``"average"``
    lonely-PSU scale counts only strata present in the domain, as R and
    :func:`survey.estimation.variance.linearization_variance`.

    Examples
    --------
    Two strata of two units, scores ``z = w y`` of (2, 6) and (6, 18), no fpc
    (coefficients ``n/(n-1) = 2`` and ``1/(n-1) = 1``):

    >>> import numpy as np, pandas as pd
    >>> st = _example_stage()
    >>> t = pd.DataFrame({"__sv_h": [0, 1], "__sv_dom": [0, 0], "s0": [8.0, 24.0], "q0_0": [40.0, 360.0]})
    >>> float(plain_variance((st,), [t], 1, 1)[0, 0, 0])  # 2*40 - 8^2 + 2*360 - 24^2
    160.0
    """
    cov = np.zeros((D, k, k))
    for st, t in zip(stages, tables):
        h = t["__sv_h"].to_numpy(dtype=np.intp)
        d = t["__sv_dom"].to_numpy(dtype=np.intp)
        S = _vector_columns(t, "s", k)
        Q = _matrix_columns(t, "q", k)
        a = st.sq[h]
        b = st.cross[h]
        if st.average_out.any():
            scale = _domain_scale(st, h, d, D)
            a, b = a * scale, b * scale
        cov += _bincount_matrix(d, a[:, None, None] * Q - b[:, None, None] * S[:, :, None] * S[:, None, :], D)
    return cov


def _domain_scale(st: StageTable, h: np.ndarray, d: np.ndarray, D: int) -> np.ndarray:
    """n_strata / n_ok_strata per (parent, domain) among the strata present in the domain."""
    key = st.parent[h].astype(np.int64) * D + d
    _, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    total = np.bincount(inv).astype(float)
    ok = np.bincount(inv, weights=(~st.average_out[h]).astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(ok > 0, total / ok, 0.0)
    return scale[inv.ravel()]


def _chunks(D: int, rows: int, k: int, budget: int = _CHUNK) -> list[tuple[int, int]]:
    step = max(1, int(budget // max(1, rows * k)))
    return [(a, min(D, a + step)) for a in range(0, D, step)]


def _range_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sums of the rows ``values[lo[i]:hi[i]]`` for every ``i``, without subtraction.

    Each range is split into aligned blocks of 1, 2, 4, ... rows whose sums
    are built level by level (a segment tree), so a sum is formed only by
    adding the rows it covers, never as a difference of two prefix sums
    (which would lose the digits of a small sum next to large ones). The
    loop runs over the ``log2(n)`` levels, not over ranges or rows.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, m)
    lo, hi : numpy.ndarray of int, shape (q,)
        Half-open ranges (``lo <= hi``; an empty range sums to 0).

    Returns
    -------
    numpy.ndarray, shape (q, m)

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[1e20], [1.0], [-1e20], [2.0], [3.0]])
    >>> _range_sums(v, np.array([1, 3, 0, 2]), np.array([2, 5, 0, 3]))[:, 0].tolist()
    [1.0, 5.0, 0.0, -1e+20]
    """
    out = np.zeros((lo.size, values.shape[1]))
    live = np.flatnonzero(lo < hi)  # the ranges not yet summed, shrinking level by level
    i, j = lo[live].astype(np.intp), hi[live].astype(np.intp)
    level = values
    while live.size:
        left = i % 2 == 1
        out[live[left]] += level[i[left]]
        i[left] += 1
        right = (i < j) & (j % 2 == 1)
        j[right] -= 1
        out[live[right]] += level[j[right]]
        more = i < j
        live, i, j = live[more], i[more] // 2, j[more] // 2
        if level.shape[0] % 2:
            level = np.vstack([level, np.zeros((1, level.shape[1]))])
        level = level[0::2] + level[1::2]
    return out


def _model_columns(p: int) -> list[str]:
    """Columns of the model sums: mb, m0, mbx*, m1_*, m2_*_*, mc*_* (upper triangles), mn."""
    names = ["mb", "m0"] + [f"mbx{i}" for i in range(p)] + [f"m1_{i}" for i in range(p)]
    names += [f"m2_{a}_{b}" for a in range(p) for b in range(a, p)]
    return names + [f"mc{a}_{b}" for a, b in _sym_index(p + 1)] + ["mn"]


def _group_segments(first: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each run of equal keys, from the boolean 'first of its run' array."""
    starts = np.flatnonzero(first)
    return starts, np.append(starts[1:], n)


def calibrated_element_variance(
    st: StageTable,
    t: pd.DataFrame,
    mt: pd.DataFrame | OutsideSums,
    beta_cat: np.ndarray,
    beta_num: np.ndarray,
    D: int,
    k: int,
) -> np.ndarray:
    """Covariance contribution of a stage whose units are rows, after calibration.

    The residual of row ``i`` for domain ``d`` is ``e = z - m t_d`` inside the
    domain (computed row by row in SQL: no cancellation however well the
    model fits) and ``-m t_d`` outside it, formed here from the model sums
    of the rows outside the domain, added up without subtraction.

    A group (stratum ``h``, calibration cell ``c``) meets few domains. For a
    domain it does not meet, its rows outside the domain are all its rows
    (the group's total ``T_g``); for a domain it meets, they are its other
    entries of ``mt`` (summed by :func:`_range_sums`). Since the outside terms
    are linear in the model sums for a fixed model term, the quadratic part
    ``sum_h a_h sum_{i in h, i not in d} m_i^2 t_id t_id'`` is gathered per
    (domain, cell): the groups of a cell that do not meet the domain are
    summed as the runs between those that do (never as a total minus a
    part), so the work grows with the (group, domain) pairs present and the
    (domain, cell) products, not with groups x domains. The stratum sums
    ``S_hd`` of the residuals enter as ``sum_h b_h S_hd S_hd'``: where the
    stratum meets the domain, ``S_hd`` is formed exactly (SQL residuals plus
    the outside model sums), pair by pair; elsewhere it is the model term
    of the stratum's totals, and a stratum of one calibration cell adds
    ``b_h mb^2``, ``b_h mb mbx``, ``b_h mbx mbx'`` to per (domain, cell) sums
    gathered like the quadratic part. Only strata spanning several cells
    are handled densely (strata x chunks of domains).

    Parameters
    ----------
    t : pandas.DataFrame
        One row per stratum x domain (``__sv_h, __sv_dom``) with ``s{j}``
        (sum of the residuals ``e`` of the domain's rows) and ``q{a}_{b}``
        (sum of ``e e``).
    mt : pandas.DataFrame or OutsideSums
        One row per stratum x cell x domain of the row (``__sv_h, __sv_cell,
        __sv_dom``; ``__sv_dom = D`` for rows outside every domain) over all
        rows: ``mb`` (sum of ``m``), ``mbx{i}``, ``m0`` (sum of ``m^2``),
        ``m1_{i}``, ``m2_{i}_{i2}``, the row count ``mn`` and the centred
        co-moments ``mc{a}_{b}`` of ``u = (m, m x)``; or that table prepared
        by :func:`outside_sums` (independent of the variables: computed once
        for several estimates over the same domains).
    beta_cat : numpy.ndarray, shape (D, C, k)
        Fitted model term of each cell per domain and variable.
    beta_num : numpy.ndarray, shape (D, p, k)
        Coefficients of the numeric auxiliaries.

    Examples
    --------
    With a null model term the residuals are the scores (the variance of
    :func:`plain_variance`):

    >>> import numpy as np, pandas as pd
    >>> st = _example_stage()
    >>> t = pd.DataFrame({"__sv_h": [0, 1], "__sv_dom": [0, 0], "s0": [8.0, 24.0], "q0_0": [40.0, 360.0]})
    >>> mt = pd.DataFrame({"__sv_h": [0, 1], "__sv_cell": [0, 0], "__sv_dom": [0, 0], "mb": [4.0, 6.0],
    ...                    "m0": [8.0, 18.0], "mc0_0": [0.0, 0.0], "mn": [2, 2]})
    >>> v = calibrated_element_variance(st, t, mt, np.zeros((1, 1, 1)), np.zeros((1, 0, 1)), 1, 1)
    >>> float(v[0, 0, 0])
    160.0
    """
    p = beta_num.shape[1]
    C = beta_cat.shape[1]
    scale = st.stratum_scale()
    a_h, b_h = st.sq * scale, st.cross * scale
    cov = np.zeros((D, k, k))
    h = t["__sv_h"].to_numpy(dtype=np.intp)
    d = t["__sv_dom"].to_numpy(dtype=np.intp)
    Q = _matrix_columns(t, "q", k)
    cov += _bincount_matrix(d, a_h[h][:, None, None] * Q, D)
    S_in = _vector_columns(t, "s", k)
    o = mt if isinstance(mt, OutsideSums) else outside_sums(st, mt, D, C, p)
    if o.hd is None:
        return cov - _stratum_products(b_h, h, d, S_in, D, k)
    # rows outside the domain: sum_h a_h sum_out m^2 t t' (groups of several-cell strata and
    # pairs present) and the centred variance of one-cell strata away from the domain
    cov += _model_form(o.W_quad, beta_cat, beta_num) + _model_form(o.W_centred, beta_cat, beta_num)
    # stratum sums S_hd where the stratum meets the domain: exact, pair by pair
    val = o.out[:, [0]] * beta_cat[o.tri_d, o.g_c[o.tri_g], :]
    if p:
        val += np.einsum("tp,tpk->tk", o.out[:, 2 : 2 + p], beta_num[o.tri_d])
    S = -np.stack([np.bincount(o.tri_pair, weights=val[:, j], minlength=o.hd.size) for j in range(k)],
                  axis=1)
    key = h.astype(np.int64) * D + d
    at = np.searchsorted(o.hd, key)
    found = at < o.hd.size
    found[found] = o.hd[at[found]] == key[found]
    if not found.all():
        raise SurveyError("internal error: a stratum x domain of the residuals has no model sums")
    np.add.at(S, at, S_in)
    sh, sd = o.hd // D, o.hd % D
    cov -= _bincount_matrix(sd, b_h[sh][:, None, None] * S[:, :, None] * S[:, None, :], D)
    # strata of several cells away from the domain: dense per chunk of domains
    strata = np.flatnonzero(o.n_cells > 1)
    if strata.size:
        cov -= _dense_outside(strata, o.g_h, o.g_c, o.T, sh, sd, b_h, beta_cat, beta_num, D)
    return cov


@dataclass(frozen=True, eq=False)
class OutsideSums:
    """The model sums of the rows outside each domain, prepared once per set of domains.

    Built by :func:`outside_sums` from the model-sum table of
    :func:`calibrated_element_variance`; independent of the variables and of
    the fitted model terms, so the estimates of one breakdown share it.

    Attributes
    ----------
    g_h, g_c : numpy.ndarray
        Stratum and cell of each (stratum, cell) group, sorted by stratum.
    T : numpy.ndarray
        Group totals of the model sums (columns of ``_model_columns``).
    n_cells : numpy.ndarray
        Number of cells (groups) of each stratum.
    W_quad, W_centred : numpy.ndarray, shape (D, C, m)
        Per (domain, cell): the ``a_h``-weighted sums ``m^2``, ``m^2 x``,
        ``m^2 x x'`` of the rows outside the domain in groups of strata of
        several cells and in strata that meet the domain; and the centred
        stratum terms of one-cell strata that do not meet it.
    hd : numpy.ndarray or None
        Codes ``h * D + d`` of the (stratum, domain) pairs met (``None``
        without model sums).
    tri_pair, tri_g, tri_d, out : numpy.ndarray
        For each pair met, each group of the stratum: the pair, the group,
        the domain, and the group's model sums outside the domain.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> mt = pd.DataFrame({"__sv_h": [0, 1], "__sv_cell": [0, 0], "__sv_dom": [0, 0], "mb": [4.0, 6.0],
    ...                    "m0": [8.0, 18.0], "mc0_0": [0.0, 0.0], "mn": [2, 2]})
    >>> o = outside_sums(_example_stage(), mt, 1, 1, 0)
    >>> o.hd.tolist(), o.W_centred.shape
    ([0, 1], (1, 1, 1))
    """

    g_h: np.ndarray
    g_c: np.ndarray
    T: np.ndarray
    n_cells: np.ndarray
    W_quad: np.ndarray
    W_centred: np.ndarray
    hd: np.ndarray | None
    tri_pair: np.ndarray
    tri_g: np.ndarray
    tri_d: np.ndarray
    out: np.ndarray


def outside_sums(st: StageTable, mt: pd.DataFrame, D: int, C: int, p: int) -> OutsideSums:
    """Prepare the model sums ``mt`` of :func:`calibrated_element_variance` (see there).

    A group (stratum ``h``, calibration cell ``c``) meets few domains. For a
    domain it does not meet, its rows outside the domain are all its rows
    (the group's total); for a domain it meets, its other entries of ``mt``,
    summed by :func:`_range_sums`. Gathered per (domain, cell) with the groups
    that do not meet a domain added as the runs between those that do.

    Parameters
    ----------
    st : StageTable
    mt : pandas.DataFrame
        The model sums per stratum x cell x domain (``__sv_dom = D`` outside every domain).
    D, C, p : int
        Domains, cells and numeric auxiliaries.

    Returns
    -------
    OutsideSums

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> mt = pd.DataFrame({"__sv_h": [0, 0, 1], "__sv_cell": [0, 0, 0], "__sv_dom": [0, 1, 1],
    ...                    "mb": [2.0, 2.0, 6.0], "m0": [4.0, 4.0, 18.0], "mc0_0": 0.0, "mn": [1, 1, 2]})
    >>> o = outside_sums(_example_stage(), mt, 2, 1, 0)
    >>> o.W_quad[:, 0, 0].tolist()  # a_h = 2 times m^2 outside: domain 0 meets stratum 0 only
    [8.0, 8.0]
    """
    H = st.sq.size
    scale = st.stratum_scale()
    a_h, b_h = st.sq * scale, st.cross * scale
    m_cols = len(_model_columns(p))
    empty = np.zeros(0, dtype=np.intp)
    if not len(mt):
        zero = np.zeros((D, C, 1 + p + p * (p + 1) // 2))
        return OutsideSums(empty, empty, np.zeros((0, m_cols)), np.zeros(H, dtype=np.intp), zero, zero,
                           None, empty, empty, empty, np.zeros((0, m_cols)))
    # entries of mt sorted by group (stratum, cell), then domain
    mh = mt["__sv_h"].to_numpy(dtype=np.intp)
    mc = mt["__sv_cell"].to_numpy(dtype=np.intp)
    md = mt["__sv_dom"].to_numpy(dtype=np.intp)
    order = np.lexsort((md, mc, mh))
    mh, mc, md = mh[order], mc[order], md[order]
    vals = np.column_stack([mt[n].to_numpy(dtype=float) for n in _model_columns(p)])[order]
    E = mh.size
    new_group = np.r_[True, (mh[1:] != mh[:-1]) | (mc[1:] != mc[:-1])]
    g = np.cumsum(new_group) - 1
    g_start, g_end = _group_segments(new_group, E)
    g_h, g_c = mh[g_start], mc[g_start]
    T = np.add.reduceat(vals, g_start, axis=0)  # group totals (no subtraction)
    # (group, domain) pairs present (domain < D): the group's entries of the other domains
    new_pair = new_group | np.r_[True, md[1:] != md[:-1]]
    p_start, p_end = _group_segments(new_pair, E)
    keep = md[p_start] < D
    p_start, p_end = p_start[keep], p_end[keep]
    pg, pd_ = g[p_start], md[p_start]
    two = _range_sums(vals, np.r_[g_start[pg], p_end], np.r_[p_start, g_end[pg]])
    O = two[: pg.size] + two[pg.size :]
    a_g = a_h[g_h]
    n_cells = np.bincount(g_h, minlength=H)
    one = n_cells[g_h] == 1  # groups that are a whole stratum (a stratum of one cell)
    # groups of strata spanning several cells, and pairs present: sum_h a_h sum_out m^2 t t'
    quad = np.r_[1, 2 + p + np.arange(p + p * (p + 1) // 2)]  # m0, m1_*, m2_*_*
    many = np.flatnonzero(~one)
    pm = ~one[pg]
    W_quad = _outside_by_cell(a_g[many][:, None] * T[many][:, quad], g_c[many], np.searchsorted(many, pg[pm]),
                              pd_[pm], a_g[pg[pm]][:, None] * O[pm][:, quad], D, C)
    ps = ~pm
    Wf = W_quad.reshape(D * C, -1)
    for j in range(quad.size):  # loop over value columns
        Wf[:, j] += np.bincount(pd_[ps] * C + g_c[pg[ps]], weights=a_g[pg[ps]] * O[ps][:, quad[j]],
                                minlength=D * C)
    # a stratum of one cell away from the domain: its residuals are -m t with t = beta'(1, x),
    # so a_h Q - b_h S^2 = a_h beta' Sigma_h beta + (a_h / n_h - b_h) (beta' U_h)^2, Sigma_h the
    # centred co-moments of u = (m, m x) and U_h their sums (the stratum's variance formed
    # centred, as full_covariance does, not as the difference of two large sums)
    gs = np.flatnonzero(one)
    hs = g_h[gs]
    n_h = T[gs, -1]
    c_h = np.divide(a_h[hs], n_h, out=np.zeros(hs.size), where=n_h > 0) - b_h[hs]
    c_h[np.abs(c_h) <= 1e-12 * np.abs(b_h[hs])] = 0.0  # b_h = a_h / n_h up to rounding
    U = T[gs][:, np.r_[0, 2 : 2 + p]]
    Sig = _centred_moments(g, vals, T, p)[gs]
    parts = [a_h[hs] * Sig[:, a, b] + c_h * U[:, a] * U[:, b] for a, b in _sym_index(p + 1)]
    met = one[pg]
    W_centred = _outside_by_cell(np.column_stack(parts), g_c[gs], np.searchsorted(gs, pg[met]), pd_[met],
                                 np.zeros((int(met.sum()), len(parts))), D, C)
    hd, tri_pair, tri_g, tri_d, out = _stratum_pairs(g_h, T, pg, pd_, O, D)
    return OutsideSums(g_h, g_c, T, n_cells, W_quad, W_centred, hd, tri_pair, tri_g, tri_d, out)


def _centred_moments(g: np.ndarray, vals: np.ndarray, T: np.ndarray, p: int) -> np.ndarray:
    """Centred co-moments (G, p+1, p+1) of ``u = (m, m x)`` per group, from its entries.

    Chan's combination: the entries' own centred co-moments ``mc{a}_{b}`` plus
    ``n_e (ubar_e - ubar_g)(ubar_e - ubar_g)'`` (no difference of large sums).
    """
    G, q = T.shape[0], p + 1
    cols = np.r_[0, 2 : 2 + p]
    n_e = vals[:, -1]
    ue = np.divide(vals[:, cols], n_e[:, None], out=np.zeros((n_e.size, q)), where=n_e[:, None] > 0)
    ug = np.divide(T[:, cols], T[:, [-1]], out=np.zeros((G, q)), where=T[:, [-1]] > 0)
    dev = ue - ug[g]
    out = np.zeros((G, q, q))
    first = vals.shape[1] - 1 - q * (q + 1) // 2  # the mc columns come before mn
    for col, (a, b) in enumerate(_sym_index(q)):  # loop over matrix entries
        out[:, a, b] = out[:, b, a] = np.bincount(
            g, weights=vals[:, first + col] + n_e * dev[:, a] * dev[:, b], minlength=G)
    return out


def _model_form(W: np.ndarray, beta_cat: np.ndarray, beta_num: np.ndarray) -> np.ndarray:
    """``sum_c W0 bc bc' + bc (W1 bn) + (W1 bn)' bc' + bn' W2 bn`` per domain, (D, k, k).

    ``W`` (D, C, 1 + p + p(p+1)/2): per (domain, cell) a scalar, a p-vector and the
    upper triangle of a p x p matrix (summed over the cells); ``bc = beta_cat[d, c]``,
    ``bn = beta_num[d]``.
    """
    p = beta_num.shape[1]
    D = W.shape[0]
    out = np.einsum("dc,dck,dcl->dkl", W[:, :, 0], beta_cat, beta_cat)
    if p:
        cross = np.einsum("dck,dcp,dpl->dkl", beta_cat, W[:, :, 1 : 1 + p], beta_num)
        out += cross + np.transpose(cross, (0, 2, 1))
        W2 = np.zeros((D, p, p))
        col = 1 + p
        for a in range(p):  # loop over matrix entries
            for b in range(a, p):
                W2[:, a, b] = W2[:, b, a] = W[:, :, col].sum(axis=1)
                col += 1
        out += np.einsum("dpk,dpq,dql->dkl", beta_num, W2, beta_num)
    return out


def _dense_outside(many: np.ndarray, g_h: np.ndarray, g_c: np.ndarray, T: np.ndarray, sh: np.ndarray,
                   sd: np.ndarray, b_h: np.ndarray, beta_cat: np.ndarray, beta_num: np.ndarray,
                   D: int) -> np.ndarray:
    """``sum_h b_h so_hd so_hd'`` over the strata ``many`` (several cells) and the domains they
    do not meet (pairs ``sh, sd`` met are left out), ``so_hd = sum_c mb_hc bc(d, c) + mbx_h bn(d)``;
    dense per chunk of domains."""
    p = beta_num.shape[1]
    C, k = beta_cat.shape[1], beta_cat.shape[2]
    Hm = many.size
    row = np.full(b_h.size, -1, dtype=np.intp)
    row[many] = np.arange(Hm)
    g = row[g_h] >= 0
    MB = sp.csr_matrix((T[g, 0], (row[g_h[g]], g_c[g])), shape=(Hm, C))
    TX = np.zeros((Hm, p))
    for i in range(p):
        TX[:, i] = np.bincount(row[g_h[g]], weights=T[g, 2 + i], minlength=Hm)
    met = row[sh] >= 0
    mh, md = row[sh[met]], sd[met]
    bm = b_h[many]
    out = np.zeros((D, k, k))
    for lo, hi in _chunks(D, Hm, k, _SLAB):
        Dc = hi - lo
        so = (MB @ beta_cat[lo:hi].transpose(1, 2, 0).reshape(C, k * Dc)).reshape(Hm, k, Dc)
        if p:
            so += (TX @ beta_num[lo:hi].transpose(1, 2, 0).reshape(p, k * Dc)).reshape(Hm, k, Dc)
        sel = (md >= lo) & (md < hi)
        so[mh[sel], :, md[sel] - lo] = 0.0
        for a in range(k):  # loop over matrix entries
            for b in range(a, k):
                v = np.einsum("h,hd,hd->d", bm, so[:, a, :], so[:, b, :])
                out[lo:hi, a, b] += v
                if b != a:
                    out[lo:hi, b, a] += v
    return out


def _stratum_products(b_h: np.ndarray, h: np.ndarray, d: np.ndarray, S_in: np.ndarray, D: int,
                      k: int) -> np.ndarray:
    """``sum_h b_h S_hd S_hd'`` of sparse stratum x domain sums (no model term)."""
    return _bincount_matrix(d, b_h[h][:, None, None] * S_in[:, :, None] * S_in[:, None, :], D)


def _outside_by_cell(aT: np.ndarray, g_c: np.ndarray, pg: np.ndarray, pd_: np.ndarray, aO: np.ndarray,
                     D: int, C: int) -> np.ndarray:
    """Per (domain, cell), the sums over the cell's groups of their values outside the domain.

    ``aT`` (G, m): each group's values over all its rows; ``pg``, ``pd_``, ``aO``:
    the (group, domain) pairs present and the group's values outside that
    domain. A (domain, cell) that no group of the cell meets gets the cell's
    total; otherwise the groups not meeting the domain are added as the runs
    between the present ones (:func:`_range_sums`) and the present ones with
    their values outside the domain.
    """
    G, m = aT.shape
    by_cell = np.argsort(g_c, kind="stable")
    pos = np.empty(G, dtype=np.intp)
    pos[by_cell] = np.arange(G)
    cells = g_c[by_cell]
    c_lo = np.searchsorted(cells, np.arange(C), side="left")
    c_hi = np.searchsorted(cells, np.arange(C), side="right")
    W = np.zeros((D, C, m))
    W[:] = np.stack([np.bincount(g_c, weights=aT[:, j], minlength=C) for j in range(m)], axis=1)
    if not pg.size:
        return W
    pc, pp = g_c[pg], pos[pg]
    order = np.lexsort((pp, pc, pd_))
    pd_, pc, pp, aO = pd_[order], pc[order], pp[order], aO[order]
    combo = pd_.astype(np.int64) * C + pc
    first = np.r_[True, combo[1:] != combo[:-1]]
    last = np.r_[combo[1:] != combo[:-1], True]
    run_lo = np.where(first, c_lo[pc], np.r_[0, pp[:-1] + 1])
    lo = np.r_[run_lo, pp[last] + 1]  # runs before each present group, and after the last one
    hi = np.r_[pp, c_hi[pc[last]]]
    run_combo = np.r_[combo, combo[last]]
    sums = _range_sums(aT[by_cell], lo, hi)
    codes, inv = np.unique(run_combo, return_inverse=True)
    inv = inv.ravel()
    n_pairs = combo.size
    acc = np.zeros((codes.size, m))
    for j in range(m):  # loop over value columns
        acc[:, j] = (np.bincount(inv, weights=sums[:, j], minlength=codes.size)
                     + np.bincount(inv[:n_pairs], weights=aO[:, j], minlength=codes.size))
    W.reshape(D * C, m)[codes] = acc
    return W


def _stratum_pairs(g_h: np.ndarray, T: np.ndarray, pg: np.ndarray, pd_: np.ndarray, O: np.ndarray,
                   D: int) -> tuple[np.ndarray, ...]:
    """The (stratum, domain) pairs where a group of the stratum meets the domain, and for each
    pair every group of the stratum with its model sums outside the domain (the group's total
    where it does not meet it): codes ``h * D + d`` (sorted), and per (pair, group) the pair,
    the group, the domain and the sums."""
    if not pg.size:
        empty = np.zeros(0, dtype=np.intp)
        return np.zeros(0, dtype=np.int64), empty, empty, empty, np.zeros((0, T.shape[1]))
    hd = np.unique(g_h[pg].astype(np.int64) * D + pd_)
    sh, sd = hd // D, hd % D
    s_lo = np.searchsorted(g_h, sh, side="left")  # groups are sorted by stratum
    s_hi = np.searchsorted(g_h, sh, side="right")
    count = s_hi - s_lo
    pair = np.repeat(np.arange(hd.size), count)
    gg = np.repeat(s_lo, count) + (np.arange(pair.size) - np.repeat(np.cumsum(count) - count, count))
    dd = sd[pair]
    present = pg.astype(np.int64) * D + pd_
    order = np.argsort(present)
    key = gg.astype(np.int64) * D + dd
    at = np.clip(np.searchsorted(present[order], key), 0, present.size - 1)
    hit = present[order][at] == key
    out = T[gg].copy()
    out[hit] = O[order[at[hit]]]
    return hd, pair, gg, dd, out


def calibrated_cluster_variance(
    st: StageTable,
    t: pd.DataFrame,
    mt: pd.DataFrame,
    beta_cat: np.ndarray,
    beta_num: np.ndarray,
    D: int,
    k: int,
) -> np.ndarray:
    """Covariance contribution of a clustered stage after calibration (unit-level tables).

    ``t``: one row per unit x domain (``__sv_unit, __sv_dom``) with the sums
    ``s{j}`` of the scores; ``mt``: one row per unit x cell over all rows
    (``__sv_unit, __sv_cell``) with ``mb`` and ``mbx{i}``; ``unit_stratum``
    of every unit in ``mt["__sv_h"]``. Unit residual totals are formed
    densely for a chunk of domains at a time.

    Examples
    --------
    Four PSUs in two strata with totals (2, 6) and (6, 18), null model term:

    >>> import numpy as np, pandas as pd
    >>> st = _example_stage()
    >>> t = pd.DataFrame({"__sv_unit": [0, 1, 2, 3], "__sv_dom": 0, "s0": [2.0, 6.0, 6.0, 18.0]})
    >>> mt = pd.DataFrame({"__sv_unit": [0, 1, 2, 3], "__sv_cell": 0, "__sv_h": [0, 0, 1, 1],
    ...                    "mb": [2.0, 2.0, 3.0, 3.0]})
    >>> v = calibrated_cluster_variance(st, t, mt, np.zeros((1, 1, 1)), np.zeros((1, 0, 1)), 1, 1)
    >>> float(v[0, 0, 0])
    160.0
    """
    p = beta_num.shape[1]
    C = beta_cat.shape[1]
    H = st.sq.size
    scale = st.stratum_scale()
    a_h, b_h = st.sq * scale, st.cross * scale
    mu = mt["__sv_unit"].to_numpy(dtype=np.intp)
    mc = mt["__sv_cell"].to_numpy(dtype=np.intp)
    U = int(mu.max()) + 1 if mu.size else 0
    unit_h = np.zeros(U, dtype=np.intp)
    unit_h[mu] = mt["__sv_h"].to_numpy(dtype=np.intp)
    MB = sp.csr_matrix((mt["mb"].to_numpy(float), (mu, mc)), shape=(U, C))
    MBX = None
    if p:
        mbx = _vector_columns(mt, "mbx", p)
        MBX = np.column_stack([np.bincount(mu, weights=mbx[:, i], minlength=U) for i in range(p)])
    tu = t["__sv_unit"].to_numpy(dtype=np.intp)
    td = t["__sv_dom"].to_numpy(dtype=np.intp)
    A = _vector_columns(t, "s", k)
    Hm = sp.csr_matrix((np.ones(U), (unit_h, np.arange(U))), shape=(H, U))
    cov = np.zeros((D, k, k))
    for lo, hi in _chunks(D, U, k):
        Dc = hi - lo
        Z = -(MB @ beta_cat[lo:hi].transpose(1, 0, 2).reshape(C, Dc * k)).reshape(U, Dc, k)
        if p:
            Z = Z - np.einsum("up,dpk->udk", MBX, beta_num[lo:hi])
        sel = (td >= lo) & (td < hi)
        flat = Z.reshape(U * Dc, k)
        idx = tu[sel] * Dc + (td[sel] - lo)
        for j in range(k):
            flat[:, j] += np.bincount(idx, weights=A[sel, j], minlength=U * Dc)
        cov[lo:hi] += np.einsum("u,udk,udl->dkl", a_h[unit_h], Z, Z)
        S = (Hm @ Z.reshape(U, Dc * k)).reshape(H, Dc, k)
        cov[lo:hi] -= np.einsum("h,hdk,hdl->dkl", b_h, S, S)
    return cov


def _example_stage() -> StageTable:
    """A stage of two strata with two units each and no fpc (for the examples)."""
    table = pd.DataFrame({"n_units": [2, 2]})
    return StageTable(keys=(), unit=None, table=table, sq=np.array([2.0, 2.0]), cross=np.array([1.0, 1.0]),
                      average_out=np.zeros(2, dtype=bool), parent=np.zeros(2, dtype=np.intp))
