"""The variance engine: stratified multistage linearisation variance, one dispatch.

Every linear or linearised estimator in the toolkit hands its influence values
(scores) to :func:`domain_covariance`, which picks the engine: replicate
weights when the survey has them (:mod:`survey.estimation.replicate_variance`),
otherwise linearisation (:func:`linearization_variance`) on the scores after
weighting (:func:`residualize`: GREG and raking residuals of the
:class:`WeightingStep` models); nothing else computes a design variance. The
semantics are those of R ``survey::svyrecvar``:

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
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from survey.estimation.calibration import solve_psd
from survey.estimation.calibration_model import BlockModel, weighted_crossprod
from survey.estimation.lonely import domain_lonely_correction
from survey.estimation.pps import pps_covariance, pps_domain_covariance
from survey.estimation.replicate_estimates import replicate_covariance as replicate_svrvar
from survey.estimation.replicate_estimates import replicate_estimates_cached
from survey.estimation.replicate_variance import replicate_covariance
from survey.estimation.residual_columns import DomainScores, design_coefficients
from survey.estimation.residual_covariance import lowrank_correction
from survey.estimation.residuals import weighting_residuals
from survey.estimation.structure import Stage, VarianceStructure
from survey.estimation.twophase import (
    quadratic_form,
    twophase_covariance,
    twophase_full_covariance,
)

from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = [
    "WeightingStep",
    "DomainCovariance",
    "domain_covariance",
    "linearization_variance",
    "full_covariance",
    "residualize",
    "special_covariance",
]


def _columns(scores: np.ndarray) -> list[np.ndarray]:
    """The columns of an (n, k) array as contiguous vectors (views when it is column-major)."""
    return [np.ascontiguousarray(scores[:, j]) for j in range(scores.shape[1])]


# dense (stratum x domain) or (unit x domain) grids up to this many cells beyond 4 n
_GRID_CELLS = 1_000_000


def _stage_pairs(
    stage: Stage, cols: list[np.ndarray], domain: np.ndarray, n_domains: int, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray]]:
    """Unit totals per (unit, domain) pair: the stratum and domain of every pair and the totals.

    ``cols`` are the score columns of the rows inside a domain (``rows`` of
    the sample; ``None``: every row), ``domain`` their domain codes. With
    element sampling the pairs are the rows themselves (no aggregation).
    """
    D = n_domains
    if stage.units is None:
        h = stage.unit_stratum if rows is None else stage.unit_stratum[rows]
        return h, (None if D == 1 else domain), cols
    units = stage.units if rows is None else stage.units[rows]
    n = units.shape[0]
    key = units if D == 1 else units.astype(np.int64) * D + domain
    size = stage.n_units * D
    if size <= 4 * n + _GRID_CELLS:
        present = np.bincount(key, minlength=size) > 0
        idx = np.flatnonzero(present)
        z = [np.bincount(key, weights=c, minlength=size)[idx] for c in cols]
    else:
        idx, inverse = np.unique(key, return_inverse=True)
        z = [np.bincount(inverse, weights=c, minlength=idx.size) for c in cols]
    pu, pd_ = (idx, None) if D == 1 else np.divmod(idx, D)
    return stage.unit_stratum[pu], pd_, z


def _average_scale(
    stage: Stage, cell_h: np.ndarray, cell_d: np.ndarray, present: np.ndarray, n_domains: int
) -> np.ndarray:
    """``"average"``: per (stratum, domain) cell, strata present / strata with a variance in its parent.

    R counts only the strata with rows in the domain.
    """
    parent = stage.stratum_parent
    ph, pdom = cell_h[present], cell_d[present]
    key = parent[ph].astype(np.int64) * n_domains + pdom
    keys, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, minlength=keys.size).astype(float)
    ok = np.bincount(inv, weights=(~stage.average_out[ph]).astype(float), minlength=keys.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        # no stratum with two PSUs: no variance information (NaN, as R), never 0
        scale_keys = np.where(ok > 0, total / ok, np.nan)
    pos = np.searchsorted(keys, parent[cell_h].astype(np.int64) * n_domains + cell_d)
    pos = np.minimum(pos, max(keys.size - 1, 0))
    hit = keys.size > 0
    return np.where(hit & (keys[pos] == parent[cell_h].astype(np.int64) * n_domains + cell_d),
                    scale_keys[pos], 0.0) if hit else np.zeros(cell_h.shape[0])


def linearization_variance(
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    structure: VarianceStructure,
    *,
    average: str = "domain",
    stratum_sums: dict | None = None,
) -> np.ndarray:
    """Covariance matrices of domain totals of scores.

    Sums of squares are centred within strata (two passes): every stage adds
    ``sq_h * sum_u (Z_ud - m_hd) (Z_ud - m_hd)'`` over the units ``u`` of
    stratum ``h`` (units without rows in domain ``d`` have ``Z_ud = 0``), with
    ``m_hd = S_hd cross_h / sq_h`` the stratum mean, which equals
    ``sq_h sum_u Z Z' - cross_h S S'`` without its loss of digits when the
    scores are large and their spread small.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, k)
        Influence values; row ``i`` contributes to domain ``domain[i]`` only.
        Column-major (Fortran-order) arrays are read without copies.
    domain : numpy.ndarray of int, shape (n,)
        Domain code of each row, ``-1`` for rows outside every domain (they
        still count as PSUs of the design, with zero scores).
    n_domains : int
        Number of domains.
    structure : VarianceStructure
        The design's strata, units and coefficients.
    average : {"domain", "design"}, default="domain"
        ``lonely_psu="average"``: count the strata present in each domain
        (R ``svyby``), or all strata of the design (residuals after
        weighting, which spread over every stratum).
    stratum_sums : dict, optional
        Filled with the (strata x D*k) sums of the scores of every stage
        (keyed by ``id(stage)``) when they come as a dense table anyway, for
        :func:`~survey.estimation.residual_covariance.lowrank_correction`.

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
    ...                            np.zeros(4, dtype=np.intp), 1, s.variance_structure)
    >>> float(v[0, 0, 0])  # sum_h n_h/(n_h-1) * sum_i (z_i - zbar_h)^2 = 2*8 + 2*72
    160.0
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    k = scores.shape[1]
    D = int(n_domains)
    out = np.zeros((D, k, k))
    domain = np.asarray(domain)
    n = domain.shape[0]
    if n and domain.min() < 0:
        rows = np.flatnonzero(domain >= 0)
        cols = [scores[rows, j] for j in range(k)]
        dom = domain[rows]
    else:
        rows = None
        cols = _columns(scores)
        dom = domain
    for stage in structure.stages:
        if average == "design":
            sq, cross = design_coefficients(stage)
            average_cells = False
        else:
            sq, cross = stage.sq_coef, stage.cross_coef
            average_cells = bool(stage.average_out.any())
        h, d, z = _stage_pairs(stage, cols, dom, D, rows)
        sums = _add_stage(out, h, d, z, stage, sq, cross, D, average_cells,
                          keep_sums=stratum_sums is not None)
        if stratum_sums is not None and sums is not None:
            stratum_sums[id(stage)] = (stage, sums)
    iu = np.triu_indices(k, 1)
    out[:, iu[1], iu[0]] = out[:, iu[0], iu[1]]
    return out


# rows per block of the two passes over the pairs (bounds the temporaries): a quarter of
# the pairs, between 2^15 and 2^19 rows, so the temporaries stay a small share of the
# data at every size (1M rows: 250,000) while large inputs keep long vectorised blocks
_BLOCK_ROWS = 1 << 19
_BLOCK_MIN = 1 << 15


def _block_rows(pairs: int) -> int:
    """Rows per block for ``pairs`` rows (see ``_BLOCK_ROWS``)."""
    return int(min(_BLOCK_ROWS, max(_BLOCK_MIN, pairs >> 2)))


def _add_stage(
    out: np.ndarray,
    h: np.ndarray,
    d: np.ndarray | None,
    z: list[np.ndarray],
    stage: Stage,
    sq: np.ndarray,
    cross: np.ndarray,
    n_domains: int,
    average_cells: bool,
    *,
    keep_sums: bool = True,
) -> np.ndarray | None:
    """Add one stage's centred sums of squares of the pairs (stratum h, domain d, totals z).

    Two passes over the pairs, in blocks of rows: the cell sums (means), then
    the sums of squared deviations from them; temporaries stay of block size.
    Returns the (strata x D*k) score sums when they form a dense table and
    ``keep_sums``, else None. The (stratum x domain) cell arrays are the largest
    temporaries (up to about the number of pairs): each is freed as soon as it
    has been used.
    """
    D = n_domains
    H = stage.n_strata
    k = len(z)
    P = h.shape[0]
    # cells: strata (one domain), a dense (stratum x domain) grid, or the cells present
    inverse = None
    if d is None:
        C, reduce = H, "strata"
    elif H * D <= 4 * P + _GRID_CELLS:
        C, reduce = H * D, "grid"
    else:
        keys, inverse = np.unique(h.astype(np.int64) * D + d, return_inverse=True)
        C, reduce = keys.size, "cells"

    def cells(sl: slice) -> np.ndarray:
        if inverse is not None:
            return inverse[sl]
        if d is None:
            return h[sl]
        c = h[sl] * D  # a new array (h is never modified)
        c += d[sl]
        return c

    def accumulate(acc: np.ndarray | None, add: np.ndarray) -> np.ndarray:
        if acc is None:
            return add.astype(float, copy=False)
        acc += add
        return acc

    step = _block_rows(P)
    blocks = [slice(a, min(a + step, P)) for a in range(0, P, step)] or [slice(0, 0)]
    one_block = len(blocks) == 1
    cell_all = cells(blocks[0]) if one_block else None
    # pass 1: pairs and score totals per cell
    m: np.ndarray | None = None
    if reduce == "strata" and P == stage.n_units and not average_cells:
        # every unit present: its stratum's n_h pairs (used only where cross > 0, where it is exact)
        m = stage.units_per_stratum()
    S: list[np.ndarray | None] = [None] * k
    count = m is None
    for sl in blocks:
        cb = cell_all if one_block else cells(sl)
        if count:
            m = accumulate(m, np.bincount(cb, minlength=C))
        for j in range(k):
            S[j] = accumulate(S[j], np.bincount(cb, weights=z[j][sl], minlength=C))
    sums = None
    if reduce != "cells" and keep_sums:
        sums = np.stack(S, axis=-1).reshape(H, -1)  # (H, D*k), domain-major
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sq > 0, cross / np.where(sq > 0, sq, 1.0), 0.0)
    # per-cell arrays of the stratum, as (C,) or broadcast (H, D) views of the grid
    if reduce == "grid":
        cell_h = np.arange(H)[:, None]
        shape = (H, D)
    elif reduce == "strata":
        cell_h = np.arange(H)
        shape = (H,)
    else:
        cell_h, cell_d = np.divmod(keys, D)
        shape = (C,)
    mu = []
    for Sj in S:  # the cell means, in place of the sums
        Sj = Sj.reshape(shape)
        Sj *= ratio[cell_h]
        mu.append(Sj)
    mu_flat = [mj.reshape(-1) for mj in mu]
    centred = [bool(np.any(mj)) for mj in mu_flat]
    # pass 2: sums of products of the deviations from the cell means
    pairs = [(a, b) for a in range(k) for b in range(a, k)]
    Q: dict[tuple[int, int], np.ndarray | None] = dict.fromkeys(pairs)
    for sl in blocks:
        cb = cell_all if one_block else cells(sl)
        dev = []
        for j in range(k):
            if centred[j]:
                dj = mu_flat[j][cb]
                np.subtract(z[j][sl], dj, out=dj)
            else:
                dj = z[j][sl]
            dev.append(dj)
        for a, b in pairs:
            Q[(a, b)] = accumulate(Q[(a, b)], np.bincount(cb, weights=dev[a] * dev[b], minlength=C))
        del dev
    cell_all = None
    # units of the stratum without rows in the cell have Z = 0: each adds mu mu'
    n_h = stage.units_per_stratum()
    absent = n_h[cell_h] - m.reshape(shape)
    absent *= ratio[cell_h] > 0
    np.maximum(absent, 0.0, out=absent)
    sq_c = sq[cell_h]
    if average_cells:
        if reduce == "grid":
            ch, cd = np.divmod(np.arange(C), D)
        elif reduce == "strata":
            ch, cd = np.arange(H), np.zeros(H, dtype=np.intp)
        else:
            ch, cd = cell_h, cell_d
        sq_c = sq_c * _average_scale(stage, ch, cd, m > 0, D).reshape(shape)
    del m
    for a, b in pairs:
        term = Q.pop((a, b)).reshape(shape)
        extra = absent * mu[a]
        extra *= mu[b]
        term += extra
        del extra
        term *= sq_c
        if reduce == "strata":
            out[:, a, b] += term.sum()
        elif reduce == "grid":
            out[:, a, b] += term.sum(axis=0)
        else:
            out[:, a, b] += np.bincount(cell_d, weights=term, minlength=D)
    return sums


def full_covariance(scores: Any, structure: VarianceStructure, block: int | None = None
                    ) -> np.ndarray:
    """Full covariance matrix of the column totals of ``scores`` (n, m).

    Used when the columns do not partition the rows (domains after
    calibration, covariances between domains). Unit totals are formed with a
    sparse indicator matrix; ``scores`` may be sparse (domain scores: one
    entry per row and variable), so no n x m dense matrix is formed for them.

    Parameters
    ----------
    scores : numpy.ndarray or scipy sparse matrix, shape (n, m)
    structure : VarianceStructure
    block : int, optional
        With ``block = k`` (dense scores, m = D k columns in domain-major order) only the
        (k, k) covariance within each domain: an array (D, k, k)
        (:func:`survey.estimation.twophase.quadratic_form`).

    Returns
    -------
    numpy.ndarray, shape (m, m), or (D, k, k) with ``block``

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2.0, 3.0, 3.0], "y": [1.0, 3.0, 2.0, 6.0]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> z = s.weights * df.y.to_numpy()
    >>> full_covariance(np.column_stack([z * (df.h == 1), z * (df.h == 2)]), s.variance_structure)
    array([[ 16.,   0.],
           [  0., 144.]])
    """
    sparse = sp.issparse(scores)
    if sparse:
        if block is not None:
            v = full_covariance(scores, structure)
            D = v.shape[0] // block
            c = np.arange(D)
            return v.reshape(D, block, D, block)[c, :, c, :]
        scores = sp.csr_array(scores, dtype=float)
    else:
        scores = np.asarray(scores, dtype=float)
    n, m = scores.shape
    out = np.zeros((m, m)) if block is None else np.zeros((m // block, block, block))
    for stage in structure.stages:
        if stage.units is None:
            Z = scores
        else:
            G = sp.csr_array((np.ones(n), (stage.units, np.arange(n))), shape=(stage.n_units, n))
            Z = G @ scores
        H = sp.csr_array(
            (np.ones(stage.n_units), (stage.unit_stratum, np.arange(stage.n_units))),
            shape=(stage.n_strata, stage.n_units),
        )
        S = H @ Z
        sq, cross = design_coefficients(stage)
        wq = sq[stage.unit_stratum]
        if sparse:
            Zw = sp.csr_array(Z.multiply(wq[:, None]))
            Sc = sp.csr_array(sp.csr_array(S).multiply(cross[:, None]))
            out += np.asarray((Z.T @ Zw).todense()) - np.asarray((S.T @ Sc).todense())
        else:
            # centred within strata (every unit is present in every column)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(sq > 0, cross / np.where(sq > 0, sq, 1.0), 0.0)
            Zc = Z - (S * ratio[:, None])[stage.unit_stratum]
            out += quadratic_form(Zc, Zc, wq, block)
    return out


# ---------------------------------------------------------------------------
# Weighting steps and the scores after weighting
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class WeightingStep:
    """One weighting step applied to a :class:`~survey.estimation.survey.Survey` (calibration, trimming, ...).

    ``model`` is the calibration model matrix ``X`` (n x p) whose weighted
    regression residuals replace the scores in the variance (GREG variance,
    as R ``svyrecvar``): an array, a sparse matrix, a
    :class:`~survey.estimation.calibration_model.BlockModel` (level codes and
    numeric columns, which the variance engine uses without forming ``X``),
    or a zero-argument callable that builds it when a variance first needs
    it; ``None`` when the step does not change the variance structure. ``input_weights`` are the weights before the step.

    Examples
    --------
    >>> WeightingStep(kind="trim").model is None
    True
    """

    kind: str
    model: Any = None
    input_weights: np.ndarray | None = None
    report: Any = None

    def model_matrix(self) -> Any:
        """The model matrix ``X`` (built once from a callable ``model``), or ``None``.

        Examples
        --------
        >>> import numpy as np
        >>> WeightingStep(kind="calibration", model=lambda: np.eye(2)).model_matrix()
        array([[1., 0.],
               [0., 1.]])
        """
        m = self.model
        if m is None or (not isinstance(m, BlockModel) and (hasattr(m, "shape") or not callable(m))):
            return m
        built = self.__dict__.get("_built")
        if built is None:
            built = m.sparse() if isinstance(m, BlockModel) else m()
            object.__setattr__(self, "_built", built)
        return built


def _greg_residuals(x: np.ndarray, X: Any, w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """R: ``qr.resid(qr(X*sqrt(w0)), x/(g*sqrt(w0))) * g*sqrt(w0)``, with g = w1/w0."""
    out = x.copy()
    pos = (w0 > 0) & (w1 > 0)
    if not pos.any():
        return out
    rows = np.flatnonzero(pos)
    Xp = X[rows] if sp.issparse(X) else np.asarray(X, dtype=float)[rows]
    if sp.issparse(Xp):
        Xp = sp.csr_array(Xp)
    sw = np.sqrt(w0[rows])
    c = w1[rows] / sw
    z = x[rows] / c[:, None]
    T = weighted_crossprod(Xp, w0[rows])
    resid = z.copy()
    for _ in range(2):  # one step of iterative refinement for accuracy
        rhs = Xp.T @ (resid * sw[:, None])
        beta = solve_psd(T, rhs)  # one factorisation for every column
        resid = resid - sw[:, None] * (Xp @ beta)
    out[rows] = resid * c[:, None]
    return out


def _rake_residuals(
    x: np.ndarray, codes: Sequence[np.ndarray], psw: Sequence[np.ndarray], sweeps: int = 10
) -> np.ndarray:
    """R ``svyrecvar`` for ``rake()``: 10 sweeps of ``x - psw * ave(x / psw, margin)``.

    ``ave`` is the unweighted mean over the rows of a level (rows with zero
    weight are left out).
    """
    x = x.copy()
    for _ in range(sweeps):
        for c, p in zip(codes, psw):
            pos = (p > 0) & (c >= 0)
            cc = c[pos]
            L = int(cc.max()) + 1 if cc.size else 0
            cnt = np.bincount(cc, minlength=L)
            ratio = x[pos] / p[pos][:, None]
            means = np.column_stack(
                [np.bincount(cc, weights=ratio[:, j], minlength=L) for j in range(x.shape[1])]
            ) / np.maximum(cnt, 1)[:, None]
            x[pos] = x[pos] - p[pos][:, None] * means[cc]
    return x


def residualize(scores: np.ndarray, steps: Sequence[Any], weights: np.ndarray) -> np.ndarray:
    """Scores after weighting: replace them by calibration residuals, as R ``svyrecvar``.

    Apply to the influence values (scores, already multiplied by the final
    weights) before the design variance. Steps are applied oldest first:

    * ``"calibration"``, ``"poststratify"``: residuals of the input-weighted
      regression of ``score / final weight`` on the model matrix, times the
      weight (GREG variance; for post-strata this equals R ``postStratify``);
    * ``"rake"``: R ``rake()``'s own rule, ten sweeps of
      ``x - w_m * mean(x / w_m | level)`` with unweighted level means and
      ``w_m`` the weights after margin ``m`` in the last IPF sweep;
    * steps without a model (``"trim"``, ``"nonresponse"``): unchanged.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,) or (n, k)
        Influence values ``y * w`` (or linearised equivalents).
    steps : sequence of WeightingStep
        ``Survey.weighting``.
    weights : numpy.ndarray, shape (n,)
        The final weights (``Survey.weights``).

    Returns
    -------
    numpy.ndarray
        Same shape as ``scores``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([5.0, 5, 5, 5]); X = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    >>> step = WeightingStep(kind="poststratify", model=X, input_weights=np.ones(4))
    >>> residualize(np.array([1.0, 3, 2, 6]) * w, [step], w)
    array([ -5.,   5., -10.,  10.])
    """
    x = np.asarray(scores, dtype=float)
    one = x.ndim == 1
    x = x[:, None] if one else x.copy()
    steps = list(steps)
    final = np.asarray(weights, dtype=float)
    for k, step in enumerate(steps):
        w_out = steps[k + 1].input_weights if k + 1 < len(steps) else final
        if step.kind == "rake" and getattr(step.report, "margin_codes", ()):
            x = _rake_residuals(x, step.report.margin_codes, step.report.margin_weights)
        elif step.model is not None:
            x = _greg_residuals(x, step.model_matrix(), np.asarray(step.input_weights, float), w_out)
    return x[:, 0] if one else x



# ---------------------------------------------------------------------------
# The dispatch: replicate weights or linearisation
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class DomainCovariance:
    """Covariances of estimates by domain, from the engine the survey calls for.

    Attributes
    ----------
    cov : numpy.ndarray, shape (D, k, k)
        Covariance matrix of the ``k`` estimates in every domain.
    method : str
        ``"linearization"`` or the replicate method.
    df : int
        Degrees of freedom for intervals.
    full : callable or None
        ``full()`` gives the covariance matrix across domains (D*k x D*k,
        domain-major); ``None`` for the jackknives' PSU-total path.
    """

    cov: np.ndarray
    method: str
    df: int
    full: Callable[[], np.ndarray] | None = None
    parts: dict[str, np.ndarray] | None = None
    replicates: Callable[[], np.ndarray] | None = None


# a variance smaller than this fraction of its terms' magnitude has lost digits to cancellation
_CANCELLATION = 1e-3


def _dense_residual_covariance(
    scores: np.ndarray,
    domain: np.ndarray,
    domains: np.ndarray,
    steps: Sequence[Any],
    weights: np.ndarray,
    structure: VarianceStructure,
) -> np.ndarray:
    """Covariances (len(domains), k, k) from the residuals of the domains' scores, formed row by row.

    The general path (:func:`residualize` of the n x k scores of each listed
    domain, then :func:`full_covariance`), in chunks of domains.
    """
    n, k = scores.shape
    out = np.empty((domains.shape[0], k, k))
    chunk = max(1, int(2e7 // max(1, n * k)))
    for start in range(0, domains.shape[0], chunk):
        part = domains[start : start + chunk]
        pos = np.full(int(domain.max()) + 1 if domain.size else 0, -1, dtype=np.int64)
        pos[part] = np.arange(part.shape[0])
        p = np.where(domain >= 0, pos[np.maximum(domain, 0)], -1)
        rows = np.flatnonzero(p >= 0)
        spread = np.zeros((n, part.shape[0] * k))
        for j in range(k):
            spread[rows, p[rows] * k + j] = scores[rows, j]
        out[start : start + part.shape[0]] = full_covariance(
            residualize(spread, steps, weights), structure, block=k)  # within-domain blocks
    return out


def domain_covariance(
    survey: Survey,
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    *,
    numerator: np.ndarray,
    denominator: np.ndarray | None = None,
) -> DomainCovariance:
    """The design covariance of domain estimates: the one entry point of the variance engine.

    With replicate weights (``survey.replicates``) the covariance of the
    totals ``sum w y`` (``denominator=None``) or of the ratios
    ``sum w y / sum w x`` is recomputed over the replicates, every variable
    and domain in one pass (:func:`~survey.estimation.replicate_variance.replicate_covariance`). Otherwise the
    linearisation variance of the domain totals of ``scores``; after
    weighting steps the residuals (:func:`residualize`) spread outside the
    domain, and are handled as a low-rank correction of the domain scores
    (:mod:`survey.estimation.residuals`): no n x D matrix, no loop over domains.

    Parameters
    ----------
    survey : Survey
    scores : numpy.ndarray, shape (n, k)
        Influence values (linearised scores), zero outside the domains.
    domain : numpy.ndarray of int, shape (n,)
        Domain of every row, ``-1`` outside every domain.
    n_domains : int
    numerator : numpy.ndarray, shape (n, k)
        The values ``y`` (replicate weights).
    denominator : numpy.ndarray, shape (n, k), optional
        The values ``x`` of ratios (replicate weights); ``None`` for totals.

    Returns
    -------
    DomainCovariance

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2.0, 3.0, 3.0], "y": [1.0, 3.0, 2.0, 6.0]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> y = df[["y"]].to_numpy()
    >>> v = domain_covariance(s, s.weights[:, None] * y, np.zeros(4, dtype=np.intp), 1, numerator=y)
    >>> v.method, float(v.cov[0, 0, 0])
    ('linearization', 160.0)
    """
    D = n_domains
    k = scores.shape[1]
    rep = survey.replicates
    weights = survey.weights
    if rep is not None:
        rc = replicate_covariance(rep, weights, numerator, denominator, domain, D)
        # the replicate estimates themselves (contrasts of ratios, R svyby(return.replicates=TRUE))
        # and, for the jackknives' PSU-total path, the covariance across domains: on first use
        estimates = replicate_estimates_cached(rep, weights, numerator, denominator, domain, D)
        full = rc.full
        if full is None:
            def full() -> np.ndarray:
                return replicate_svrvar(rep, *estimates())
        return DomainCovariance(
            cov=rc.cov,
            method=str(getattr(rep, "method", "replicate")),
            df=int(getattr(rep, "df", survey.df)),
            full=full,
            replicates=lambda: estimates()[1],
        )
    special = special_covariance(survey, scores, domain, D)  # πps, two-phase, domain lonely PSUs
    if special is not None:
        return special
    steps = survey.weighting
    calibrated = any(step.model is not None or step.kind == "rake" for step in steps)
    structure = survey.variance_structure
    if calibrated:
        # (two-phase nonresponse steps never get here: special_covariance handles them)
        lowrank = weighting_residuals(scores, domain, D, steps, weights)
        sums: dict = {}
        cov = linearization_variance(scores, domain, D, structure, average="design", stratum_sums=sums)
        correction = lowrank_correction(lowrank, structure, stratum_sums=sums)
        # V(E) = V(S) + correction loses digits when the residuals are tiny next to the
        # scores (an auxiliary that nearly predicts the variable); such domains are
        # recomputed from the residuals themselves (the general path), which keeps them
        idx = np.arange(k)
        magnitude = np.abs(cov[:, idx, idx]) + np.abs(correction[:, idx, idx])
        cov += correction
        lost = (cov[:, idx, idx] < _CANCELLATION * magnitude).any(axis=1) & (magnitude > 0).any(axis=1)
        if lost.any():
            again = np.flatnonzero(lost)
            cov[again] = _dense_residual_covariance(scores, domain, again, steps, weights, structure)

        def full_vcov() -> np.ndarray:
            if lost.any():  # the general path for all domains (as before issue 17)
                return full_covariance(
                    residualize(DomainScores.from_rows(scores, domain, D).csr().toarray(), steps, weights),
                    structure,
                )
            return full_covariance(lowrank.scores.csr(), structure) + lowrank_correction(
                lowrank, structure, full=True
            )

    else:
        cov = linearization_variance(scores, domain, D, structure)

        def full_vcov() -> np.ndarray:
            return full_covariance(DomainScores.from_rows(scores, domain, D).csr(), structure)

    return DomainCovariance(cov=cov, method="linearization", df=structure.df, full=full_vcov)


# ---------------------------------------------------------------------------
# Designs beyond the stratified multistage engine: πps, two-phase nonresponse
# adjustment, lonely PSUs within domains (survey.estimation.pps, .twophase, .lonely)
# ---------------------------------------------------------------------------
def special_covariance(
    survey: Survey, scores: np.ndarray, domain: np.ndarray, n_domains: int
) -> DomainCovariance | None:
    """Linearisation covariances for πps designs, two-phase nonresponse and domain lonely PSUs.

    ``None`` when the survey needs none of them (the stratified multistage
    engine applies). The design's own variance ("phase 1") is the πps engine
    (:mod:`survey.estimation.pps`) or :func:`linearization_variance` (with
    :func:`survey.estimation.lonely.domain_lonely_correction` under
    ``Design(lonely_psu_in_domain=True)``); a nonresponse step with two-phase
    variance adds the second phase (:mod:`survey.estimation.twophase`) to it;
    calibration steps replace the scores by their residuals first.

    Parameters
    ----------
    survey : Survey
    scores : numpy.ndarray, shape (n, k)
    domain : numpy.ndarray of int, shape (n,)
    n_domains : int

    Returns
    -------
    DomainCovariance or None

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"pi": [0.5, 0.25], "y": [1.0, 2.0]})
    >>> s = sv.Survey(df, sv.Design(probs="pi", pps="poisson"))
    >>> z = (df.y / df.pi).to_numpy()[:, None]
    >>> float(special_covariance(s, z, np.zeros(2, dtype=np.intp), 1).cov[0, 0, 0])  # sum (1 - pi) (y/pi)^2
    50.0
    >>> special_covariance(sv.Survey(df, sv.Design(probs="pi")), z, np.zeros(2, dtype=np.intp), 1) is None
    True
    """
    pps = survey.pps_structure
    design = survey.design
    steps = list(survey.weighting)
    phase2 = [step for step in steps if getattr(step.report, "two_phase", None) is not None]
    calibrated = any(step.model is not None or step.kind == "rake" for step in steps)
    lonely_dom = (
        bool(design.lonely_psu_in_domain)
        and design.lonely_psu in ("adjust", "average")
        and pps is None
        and not calibrated
    )
    if pps is None and not phase2 and not lonely_dom:
        return None
    structure = survey.variance_structure
    weights = survey.weights
    D = n_domains
    n, k = scores.shape
    tp = phase2[-1].report.two_phase if phase2 else None

    def blocks(z: np.ndarray, groups: np.ndarray, G: int, in_domain: bool = False) -> np.ndarray:
        if pps is not None:
            return pps_domain_covariance(pps, z, groups, G)
        v = linearization_variance(z, groups, G, structure)
        if in_domain and lonely_dom:
            v = v + domain_lonely_correction(structure, z, groups, G, design.lonely_psu)
        return v

    def full(z: np.ndarray, block: int | None = None) -> np.ndarray:
        if tp is not None and pps is None:
            return twophase_full_covariance(z, tp, structure, block=block)
        if tp is not None:
            v = twophase_covariance(z, np.zeros(n, dtype=np.intp), 1, tp, blocks)[0]
        elif pps is not None:
            v = pps_covariance(pps, z)
        else:
            return full_covariance(z, structure, block=block)
        if block is None:
            return v
        c = np.arange(v.shape[0] // block)
        return v.reshape(c.size, block, c.size, block)[c, :, c, :]

    def spread(lo: int, hi: int) -> np.ndarray:
        sel = (domain >= lo) & (domain < hi)
        out = np.zeros((n, (hi - lo) * k))
        rows = np.flatnonzero(sel)
        for j in range(k):
            out[rows, (domain[sel] - lo) * k + j] = scores[sel, j]
        return residualize(out, steps, weights) if calibrated else out

    parts = None
    if calibrated:
        cov = np.zeros((D, k, k))
        chunk = max(1, int(2e7 // max(1, n * k)))
        for start in range(0, D, chunk):
            stop = min(D, start + chunk)
            cov[start:stop] = full(spread(start, stop), block=k)  # the within-domain blocks
    elif tp is not None:
        cov, p2 = twophase_covariance(scores, domain, D, tp, blocks, parts=True)
        parts = {"phase1": cov - p2, "phase2": p2}
    else:
        cov = blocks(scores, domain, D, in_domain=True)

    def full_vcov() -> np.ndarray:
        return full(spread(0, D))

    return DomainCovariance(cov=cov, method="linearization", df=structure.df, full=full_vcov, parts=parts)
