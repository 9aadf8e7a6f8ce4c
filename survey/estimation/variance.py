"""The variance engine: stratified multistage linearisation variance.

Every linear or linearised estimator in the toolkit hands its influence values
(scores) to :func:`linearization_variance`; nothing else computes a design
variance. The semantics are those of R ``survey::svyrecvar``:

* stage 1: strata ``h`` with ``n_h`` PSUs, PSU totals ``Z_hi`` of the scores,
  contribution ``(1 - f_h) n_h / (n_h - 1) * sum_i (Z_hi - mean_h)^2``;
* stage ``s > 1`` (only when the population size of stage ``s - 1`` is
  known): the same formula inside every unit of stage ``s - 1``, multiplied by
  the sampling fractions ``n/N`` of all earlier stages;
* take-all strata (``n_h == N_h``) contribute zero;
* strata with a single PSU follow ``lonely_psu``.

All sums are group aggregations (``np.bincount`` over integer codes); there is
no Python loop over units, strata or domains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from survey.errors import LonelyPSUError

__all__ = ["Stage", "VarianceStructure", "linearization_variance"]



@dataclass(frozen=True, eq=False, kw_only=True)
class Stage:
    """One sampling stage, as integer codes per row plus per-stratum coefficients.

    ``units`` are row-level unit codes (units nested in strata), ``unit_stratum``
    the stratum of each unit. ``sq_coef[h]`` multiplies the sum over units of squared unit totals and
    ``cross_coef[h]`` multiplies the squared stratum total, so that the
    contribution of stratum ``h`` is ``sq_coef * sum_i Z_i Z_i' - cross_coef * S S'``.
    """

    units: np.ndarray
    unit_stratum: np.ndarray
    n_strata: int
    n_units: int
    sq_coef: np.ndarray
    cross_coef: np.ndarray
    average_out: np.ndarray
    stratum_parent: np.ndarray


@dataclass(frozen=True, eq=False, kw_only=True)
class VarianceStructure:
    """The variance-relevant part of a design, prepared once per :class:`Survey`."""

    stages: tuple[Stage, ...]
    df: int


def stage_coefficients(
    n_units: np.ndarray,
    fraction: np.ndarray,
    multiplier: np.ndarray,
    lonely_psu: str,
    labels: np.ndarray,
    stage: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-stratum coefficients of one stage (see :class:`Stage`).

    ``fraction`` is the sampling fraction ``n_h / N_h`` (0 when unknown, i.e.
    with replacement), ``multiplier`` the product of earlier stages' fractions.
    Returns the two coefficients and a mask of strata whose variance is
    replaced by the average of the other strata (``"average"``).
    """
    n = n_units.astype(float)
    fpc = 1.0 - fraction
    fpc = np.where(fpc < 1e-7, 0.0, fpc)
    lonely = n_units == 1
    if lonely_psu == "fail" and np.any(lonely & (fpc > 0)):
        bad = labels[lonely & (fpc > 0)]
        shown = ", ".join(repr(x) for x in bad[:10].tolist())
        raise LonelyPSUError(
            f"stratum {shown} has only one PSU at stage {stage}"
            + (f" (and {bad.size - 10} more strata)" if bad.size > 10 else "")
            + "; its variance cannot be estimated. Collapse it with a neighbouring stratum, "
            "or choose Design(lonely_psu='remove' | 'adjust' | 'average' | 'certainty')."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.where(lonely, 0.0, multiplier * fpc * n / (n - 1.0))
        cross = np.where(lonely, 0.0, sq / n)
    if lonely_psu == "adjust":
        # R: the lonely PSU's total is centred at zero (not at its own value)
        sq = np.where(lonely, multiplier * fpc, sq)
    return sq, cross, lonely & (fpc > 0) & (lonely_psu == "average")


def _group_sum(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Column-wise ``bincount``: sums of ``values`` (n, k) over integer ``codes``."""
    out = np.empty((size, values.shape[1]))
    for j in range(values.shape[1]):  # loop over variables, not units
        out[:, j] = np.bincount(codes, weights=values[:, j], minlength=size)
    return out


def linearization_variance(
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    structure: VarianceStructure,
) -> np.ndarray:
    """Covariance matrices of domain totals of scores.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, k)
        Influence values; row ``i`` contributes to domain ``domain[i]`` only.
    domain : numpy.ndarray of int, shape (n,)
        Domain code of each row, ``-1`` for rows outside every domain (they
        still count as PSUs of the design, with zero scores).
    n_domains : int
        Number of domains.
    structure : VarianceStructure
        The design's strata, units and coefficients.

    Returns
    -------
    numpy.ndarray, shape (n_domains, k, k)
        The estimated covariance matrix of the ``k`` totals in every domain.

    Examples
    --------
    >>> import numpy as np, pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2.0, 3.0, 3.0], "y": [1.0, 3.0, 2.0, 6.0]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> v = linearization_variance((s.weights * df.y.to_numpy())[:, None],
    ...                            np.zeros(4, dtype=np.intp), 1, s._structure)
    >>> float(v[0, 0, 0])  # sum_h n_h/(n_h-1) * sum_i (z_i - zbar_h)^2 = 2*8 + 2*72
    160.0
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    k = scores.shape[1]
    out = np.zeros((n_domains, k, k))
    keep = domain >= 0
    if not keep.all():
        scores = scores[keep]
        dom = domain[keep]
    else:
        dom = domain
    for stage in structure.stages:
        units = stage.units[keep] if not keep.all() else stage.units
        # totals of scores per (unit, domain)
        if stage.n_units == domain.shape[0]:
            ud_unit, ud_dom, z = units, dom, scores
        else:
            key = units.astype(np.int64) * n_domains + dom
            size = stage.n_units * n_domains
            if size <= 4 * domain.shape[0] + 1_000_000:
                sums = _group_sum(key, scores, size)
                present = np.bincount(key, minlength=size) > 0
                idx = np.flatnonzero(present)
            else:
                idx, inverse = np.unique(key, return_inverse=True)
                sums = _group_sum(inverse, scores, idx.size)
                present = None
            z = sums[idx] if present is not None else sums
            ud_unit, ud_dom = idx // n_domains, idx % n_domains
        h = stage.unit_stratum[ud_unit]
        w_sq = stage.sq_coef[h]
        c_h = stage.cross_coef
        if stage.average_out.any():
            # "average": strata with one PSU take the mean variance of the other strata
            # present in the domain (R drops strata without domain rows from the count)
            scale_unit, scale_stratum = _average_scale(stage, h, ud_dom, n_domains)
            w_sq = w_sq * scale_unit
        else:
            scale_stratum = None
        # sum over units of coef * Z Z'  -> per domain
        for a in range(k):
            za = z[:, a]
            for b in range(a, k):
                out[:, a, b] += np.bincount(ud_dom, weights=w_sq * za * z[:, b], minlength=n_domains)
        # minus coef_h * S_h S_h'  per (stratum, domain)
        hkey = h.astype(np.int64) * n_domains + ud_dom
        hsize = stage.n_strata * n_domains
        if hsize <= 4 * domain.shape[0] + 1_000_000:
            # dense (stratum x domain) grid
            S = _group_sum(hkey, z, hsize).reshape(stage.n_strata, n_domains, k)
            c = np.broadcast_to(c_h[:, None], (stage.n_strata, n_domains))
            if scale_stratum is not None:
                hh, dd = np.divmod(np.arange(hsize), n_domains)
                c = c * scale_stratum(hh, dd).reshape(stage.n_strata, n_domains)
            for a in range(k):
                for b in range(a, k):
                    out[:, a, b] -= np.einsum("hd,hd,hd->d", c, S[:, :, a], S[:, :, b])
        else:
            hidx, inv = np.unique(hkey, return_inverse=True)
            S = _group_sum(inv, z, hidx.size)
            sh, sd = np.divmod(hidx, n_domains)
            c = c_h[sh]
            if scale_stratum is not None:
                c = c * scale_stratum(sh, sd)
            for a in range(k):
                for b in range(a, k):
                    out[:, a, b] -= np.bincount(sd, weights=c * S[:, a] * S[:, b], minlength=n_domains)
    iu = np.triu_indices(k, 1)
    out[:, iu[1], iu[0]] = out[:, iu[0], iu[1]]
    return out


def _average_scale(stage: Stage, h: np.ndarray, dom: np.ndarray, n_domains: int):
    """Scale factors n_strata / n_ok_strata per (parent unit, domain) for "average"."""
    present = np.unique(h.astype(np.int64) * n_domains + dom)
    ph, pd_ = present // n_domains, present % n_domains
    parent = stage.stratum_parent
    n_parent = int(parent.max()) + 1
    key = parent[ph].astype(np.int64) * n_domains + pd_
    keys, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv)
    ok = np.bincount(inv, weights=(~stage.average_out[ph]).astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_keys = np.where(ok > 0, total / ok, 0.0)

    def lookup(hh: np.ndarray, dd: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(keys, parent[hh].astype(np.int64) * n_domains + dd)
        return scale_keys[np.minimum(pos, keys.size - 1)]

    del n_parent
    return lookup(h, dom), lookup


def full_covariance(scores: np.ndarray, structure: VarianceStructure) -> np.ndarray:
    """Full covariance matrix of the column totals of ``scores`` (n, m).

    Used when the columns do not partition the rows (domains after
    calibration, covariances between domains). Unit totals are formed with a
    sparse indicator matrix.
    """
    scores = np.asarray(scores, dtype=float)
    n, m = scores.shape
    out = np.zeros((m, m))
    for stage in structure.stages:
        G = sp.csr_matrix(
            (np.ones(n), (stage.units, np.arange(n))), shape=(stage.n_units, n)
        )
        Z = G @ scores
        H = sp.csr_matrix(
            (np.ones(stage.n_units), (stage.unit_stratum, np.arange(stage.n_units))),
            shape=(stage.n_strata, stage.n_units),
        )
        S = H @ Z
        sq, cross = stage.sq_coef, stage.cross_coef
        if stage.average_out.any():
            parent = stage.stratum_parent
            total = np.bincount(parent).astype(float)
            ok = np.bincount(parent, weights=(~stage.average_out).astype(float))
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(ok > 0, total / ok, 0.0)[parent]
            sq, cross = sq * scale, cross * scale
        wq = sq[stage.unit_stratum]
        out += Z.T @ (Z * wq[:, None]) - S.T @ (S * cross[:, None])
    return out
