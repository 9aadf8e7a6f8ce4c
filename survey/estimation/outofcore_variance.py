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

__all__ = ["StageTable", "plain_variance", "calibrated_element_variance", "calibrated_cluster_variance"]

_CHUNK = 4_000_000  # elements of a dense (strata or units) x domains x k block


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


def _chunks(D: int, rows: int, k: int) -> list[tuple[int, int]]:
    step = max(1, int(_CHUNK // max(1, rows * k)))
    return [(a, min(D, a + step)) for a in range(0, D, step)]


def calibrated_element_variance(
    st: StageTable,
    t: pd.DataFrame,
    mt: pd.DataFrame,
    beta_cat: np.ndarray,
    beta_num: np.ndarray,
    D: int,
    k: int,
) -> np.ndarray:
    """Covariance contribution of a stage whose units are rows, after calibration.

    The residual of row ``i`` for domain ``d`` is ``e = z - m t_d`` inside the
    domain (computed row by row in SQL: no cancellation however well the
    model fits) and ``-m t_d`` outside it (formed here from the model sums
    of the rows outside the domain, added up without subtraction).

    Parameters
    ----------
    t : pandas.DataFrame
        One row per stratum x domain (``__sv_h, __sv_dom``) with ``s{j}``
        (sum of the residuals ``e`` of the domain's rows) and ``q{a}_{b}``
        (sum of ``e e``).
    mt : pandas.DataFrame
        One row per stratum x cell x domain of the row (``__sv_h, __sv_cell,
        __sv_dom``; ``__sv_dom = D`` for rows outside every domain) over all
        rows: ``mb`` (sum of ``m``), ``mbx{i}``, ``m0`` (sum of ``m^2``),
        ``m1_{i}``, ``m2_{i}_{i2}``.
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
    ...                    "m0": [8.0, 18.0]})
    >>> v = calibrated_element_variance(st, t, mt, np.zeros((1, 1, 1)), np.zeros((1, 0, 1)), 1, 1)
    >>> float(v[0, 0, 0])
    160.0
    """
    p = beta_num.shape[1]
    H = st.sq.size
    scale = st.stratum_scale()
    a_h, b_h = st.sq * scale, st.cross * scale
    cov = np.zeros((D, k, k))
    h = t["__sv_h"].to_numpy(dtype=np.intp)
    d = t["__sv_dom"].to_numpy(dtype=np.intp)
    Q = _matrix_columns(t, "q", k)
    cov += _bincount_matrix(d, a_h[h][:, None, None] * Q, D)
    S_in = _vector_columns(t, "s", k)
    # model sums of the rows outside each domain: per (stratum, cell) group, exclusive sums over
    # the domain of the row (prefix + suffix + rows outside every domain), without subtraction
    mh = mt["__sv_h"].to_numpy(dtype=np.intp)
    mc = mt["__sv_cell"].to_numpy(dtype=np.intp)
    md = mt["__sv_dom"].to_numpy(dtype=np.intp)
    groups, g = np.unique(mh.astype(np.int64) * (int(mc.max()) + 1 if mc.size else 1) + mc, return_inverse=True)
    g = g.ravel()
    G = groups.size
    g_h = np.zeros(G, dtype=np.intp)
    g_c = np.zeros(G, dtype=np.intp)
    g_h[g] = mh
    g_c[g] = mc
    names = ["mb", "m0"] + [f"mbx{i}" for i in range(p)] + [f"m1_{i}" for i in range(p)]
    names += [f"m2_{a}_{b}" for a in range(p) for b in range(a, p)]
    values = np.column_stack([mt[n].to_numpy(dtype=float) for n in names])
    nv = values.shape[1]
    for lo, hi in _chunks(D, H, k):
        Dc = hi - lo
        S = np.zeros((H, Dc, k))
        inside = (d >= lo) & (d < hi)
        np.add.at(S, (h[inside], d[inside] - lo), S_in[inside])
        step = max(1, int(_CHUNK // max(1, (D + 1) * nv + Dc * k * k)))
        for g0 in range(0, G, step):
            g1 = min(G, g0 + step)
            sel = (g >= g0) & (g < g1)
            dense = np.zeros((g1 - g0, D + 1, nv))
            np.add.at(dense, (g[sel] - g0, md[sel]), values[sel])
            prefix = np.zeros_like(dense)
            np.cumsum(dense[:, :-1], axis=1, out=prefix[:, 1:])
            suffix = np.zeros_like(dense)
            suffix[:, :-1] = np.cumsum(dense[:, :0:-1], axis=1)[:, ::-1]
            out = (prefix + suffix)[:, lo:hi, :]  # rows of the group outside domain d (and outside all)
            gh, gc = g_h[g0:g1], g_c[g0:g1]
            bc = beta_cat[lo:hi][:, gc, :].transpose(1, 0, 2)  # (groups, Dc, k)
            mb, m0 = out[:, :, 0], out[:, :, 1]
            qo = m0[:, :, None, None] * bc[:, :, :, None] * bc[:, :, None, :]
            so = mb[:, :, None] * bc
            if p:
                bn = beta_num[lo:hi]  # (Dc, p, k)
                mbx = out[:, :, 2 : 2 + p]
                m1 = out[:, :, 2 + p : 2 + 2 * p]
                m2 = np.zeros((g1 - g0, Dc, p, p))
                col = 2 + 2 * p
                for a in range(p):
                    for b in range(a, p):
                        m2[:, :, a, b] = m2[:, :, b, a] = out[:, :, col]
                        col += 1
                so = so + np.einsum("gdp,dpk->gdk", mbx, bn)
                cross = np.einsum("gdk,gdp,dpl->gdkl", bc, m1, bn)
                qo = qo + cross + np.transpose(cross, (0, 1, 3, 2))
                qo = qo + np.einsum("dpk,gdpq,dql->gdkl", bn, m2, bn)
            cov[lo:hi] += np.einsum("g,gdkl->dkl", a_h[gh], qo)
            np.add.at(S, gh, -so)
        cov[lo:hi] -= np.einsum("h,hdk,hdl->dkl", b_h, S, S)
    return cov


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
