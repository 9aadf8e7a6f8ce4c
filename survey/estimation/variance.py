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
import scipy.sparse as sp

from survey.estimation.calibration import solve_psd, weighted_crossprod
from survey.estimation.lonely import domain_lonely_correction
from survey.estimation.pps import pps_covariance, pps_domain_covariance
from survey.estimation.replicate_estimates import replicate_covariance, replicate_estimates_cached
from survey.estimation.replicate_variance import replicate_variance
from survey.estimation.structure import Stage, VarianceStructure
from survey.estimation.twophase import twophase_covariance, twophase_full_covariance

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
    ...                            np.zeros(4, dtype=np.intp), 1, s.variance_structure)
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
        # no stratum with two PSUs: no variance information (NaN, as R), never 0
        scale_keys = np.where(ok > 0, total / ok, np.nan)

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

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, m)
    structure : VarianceStructure

    Returns
    -------
    numpy.ndarray, shape (m, m)

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
                scale = np.where(ok > 0, total / ok, np.nan)[parent]
            sq, cross = sq * scale, cross * scale
        wq = sq[stage.unit_stratum]
        out += Z.T @ (Z * wq[:, None]) - S.T @ (S * cross[:, None])
    return out


# ---------------------------------------------------------------------------
# Weighting steps and the scores after weighting
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class WeightingStep:
    """One weighting step applied to a :class:`~survey.estimation.survey.Survey` (calibration, trimming, ...).

    ``model`` is the calibration model matrix ``X`` (n x p) whose weighted
    regression residuals replace the scores in the variance (GREG variance,
    as R ``svyrecvar``), or a zero-argument callable that builds it when a
    variance first needs it; ``None`` when the step does not change the
    variance structure. ``input_weights`` are the weights before the step.

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
        if m is None or hasattr(m, "shape") or not callable(m):
            return m
        built = self.__dict__.get("_built")
        if built is None:
            built = m()
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
        beta = np.column_stack([solve_psd(T, rhs[:, j]) for j in range(rhs.shape[1])])
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
        domain-major); ``None`` for replicate weights.
    """

    cov: np.ndarray
    method: str
    df: int
    full: Callable[[], np.ndarray] | None = None
    parts: dict[str, np.ndarray] | None = None
    replicates: Callable[[], np.ndarray] | None = None


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

    With replicate weights (``survey.replicates``) the variance of the totals
    ``sum w y`` (``denominator=None``) or of the ratios ``sum w y / sum w x``
    is recomputed over the replicates. Otherwise the linearisation variance of
    the domain totals of ``scores``, after the weighting steps
    (:func:`residualize`; residuals spread outside the domain, so calibrated
    surveys use the full engine, :func:`full_covariance`, in chunks of domains).

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
        var = np.asarray(replicate_variance(rep, weights, numerator, denominator, domain, D))
        cov = np.full((D, k, k), np.nan)
        idx = np.arange(k)
        cov[:, idx, idx] = var
        if denominator is None and 1 < k <= 12:
            # covariances of totals by polarisation: Cov(a, b) = (V(a + b) - V(a - b)) / 4,
            # exact for the replicate variance (a quadratic form in the replicate totals)
            ia, ib = np.triu_indices(k, 1)
            both = np.hstack([numerator[:, ia] + numerator[:, ib], numerator[:, ia] - numerator[:, ib]])
            vv = np.asarray(replicate_variance(rep, weights, both, None, domain, D))
            c = (vv[:, : ia.size] - vv[:, ia.size :]) / 4.0
            cov[:, ia, ib] = c
            cov[:, ib, ia] = c
        estimates = replicate_estimates_cached(rep, weights, numerator, denominator, domain, D)
        return DomainCovariance(
            cov=cov, method=str(getattr(rep, "method", "replicate")), df=int(getattr(rep, "df", survey.df)),
            full=lambda: replicate_covariance(rep, *estimates()), replicates=lambda: estimates()[1],
        )
    special = special_covariance(survey, scores, domain, D)  # πps, two-phase, domain lonely PSUs
    if special is not None:
        return special
    steps = survey.weighting
    calibrated = any(step.model is not None or step.kind == "rake" for step in steps)
    structure = survey.variance_structure

    def spread() -> np.ndarray:
        """Scores as (n, D*k): column d*k+j holds variable j in domain d."""
        full = np.zeros((scores.shape[0], D * k))
        inside = domain >= 0
        rows = np.flatnonzero(inside)
        for j in range(k):
            full[rows, domain[inside] * k + j] = scores[inside, j]
        return residualize(full, steps, weights) if calibrated else full

    if calibrated:
        # residuals spread outside the domain: use the full (dense) engine, in chunks of domains
        cov = np.zeros((D, k, k))
        chunk = max(1, int(2e7 // max(1, scores.shape[0] * k)))
        z_all = None
        if D * k * scores.shape[0] <= 5e7:
            z_all = spread()
        for start in range(0, D, chunk):
            stop = min(D, start + chunk)
            if z_all is not None:
                zc = z_all[:, start * k : stop * k]
            else:
                sel = (domain >= start) & (domain < stop)
                sub = np.zeros((scores.shape[0], (stop - start) * k))
                rows = np.flatnonzero(sel)
                for j in range(k):
                    sub[rows, (domain[sel] - start) * k + j] = scores[sel, j]
                zc = residualize(sub, steps, weights)
            v = full_covariance(zc, structure)
            dc = np.arange(stop - start)
            cov[start:stop] = v.reshape(dc.size, k, dc.size, k)[dc, :, dc, :]  # diagonal blocks
    else:
        cov = linearization_variance(scores, domain, D, structure)

    def full_vcov() -> np.ndarray:
        return full_covariance(spread(), structure)

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

    def full(z: np.ndarray) -> np.ndarray:
        if tp is not None and pps is None:
            return twophase_full_covariance(z, tp, structure)
        if tp is not None:
            return twophase_covariance(z, np.zeros(n, dtype=np.intp), 1, tp, blocks)[0]
        return pps_covariance(pps, z) if pps is not None else full_covariance(z, structure)

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
            v = full(spread(start, stop))
            c = np.arange(stop - start)
            cov[start:stop] = v.reshape(c.size, k, c.size, k)[c, :, c, :]
    elif tp is not None:
        cov, p2 = twophase_covariance(scores, domain, D, tp, blocks, parts=True)
        parts = {"phase1": cov - p2, "phase2": p2}
    else:
        cov = blocks(scores, domain, D, in_domain=True)

    def full_vcov() -> np.ndarray:
        return full(spread(0, D))

    return DomainCovariance(cov=cov, method="linearization", df=structure.df, full=full_vcov, parts=parts)
