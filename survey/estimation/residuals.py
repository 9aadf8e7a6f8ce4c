"""Scores after weighting as a low-rank correction ``E = S - U Gamma``, for all domains at once.

After calibration or raking the variance engine works on residuals instead of
the scores (R ``svyrecvar``; :func:`survey.estimation.variance.residualize`
computes them as a dense matrix). A domain's scores are the variable times
the domain indicator, and every residual rule is *linear* in the scores, so
the residuals of all ``D`` domains at once are::

    E = S - U Gamma

* ``S`` (n x D*k) holds the scores in their domain's columns: one non-zero per
  row and variable, stored as the n x k scores and the domain codes;
* ``U`` (n x q) are the columns the weighting steps subtract: the model
  matrix of a GREG step times the weights (its level indicators are integer
  codes, its numeric columns vectors), or one margin's level indicators
  times the margin weights of a raking step;
* ``Gamma`` (q x D*k) are the coefficients: all GREG ``beta_d`` come from one
  ``X'W S`` table of p x D sums and one factorisation of ``X'WX``; the ten
  raking sweeps of R ``rake()`` only update the level x domain means (the
  per-level sums of ``S`` are bincounts on the joint level-domain code).

The pieces ``U`` and ``S`` and their weighted sums are in
:mod:`survey.estimation.residual_columns`; the design covariance of ``E``
(:func:`survey.estimation.residual_covariance.lowrank_correction`) in
:mod:`survey.estimation.residual_covariance`. This module prepares the
weighting steps once (:class:`WeightingModel`) and computes ``Gamma``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from survey.errors import SurveyError
from survey.estimation.calibration import solve_psd
from survey.estimation.calibration_model import BlockModel, weighted_crossprod
from survey.estimation.residual_columns import (
    Columns,
    DomainScores,
    aggregate_rows,
    cross,
    design_coefficients,
    extended_codes,
    gram,
    matmul,
    stratum_matrix,
)
from survey.estimation.structure import Stage
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = [
    "LowRankScores",
    "WeightingModel",
    "weighting_residuals",
    "RAKE_SWEEPS",
]

RAKE_SWEEPS = 10  # R svyrecvar: ten sweeps of the raking residuals


# ---------------------------------------------------------------------------
# The residuals of the weighting steps, as coefficients
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LowRankScores:
    """Residual scores ``E = S - U Gamma`` (see the module docstring).

    Attributes
    ----------
    scores : DomainScores
        ``S``.
    groups : tuple of Columns
        The blocks of ``U``.
    gamma : tuple of numpy.ndarray
        One (size x D*k) coefficient block per group.
    model : WeightingModel or None
        The prepared weighting (its per-stage sums of ``U`` are reused).
    """

    scores: DomainScores
    groups: tuple[Columns, ...]
    gamma: tuple[np.ndarray, ...]
    model: Any = None

    def dense(self) -> np.ndarray:
        """``E`` as a dense n x D*k array (small problems and checks only)."""
        E = self.scores.csr().toarray()
        for g, G in zip(self.groups, self.gamma):
            E -= np.asarray(g.sparse() @ G)
        return E


def _model_blocks(model: Any) -> list[Columns] | None:
    """The columns of a weighting step's model: BlockModel blocks, or one matrix block."""
    if model is None:
        return None
    owner = getattr(model, "__self__", None)  # a bound BlockModel.sparse
    if isinstance(owner, BlockModel):
        model = owner
    if isinstance(model, BlockModel):
        out = []
        for kind, v, L in model.blocks:
            if kind == "cat":
                out.append(Columns("cat", int(L), codes=extended_codes(v, int(L))))
            else:
                out.append(Columns("dense", 1, values=np.asarray(v, dtype=float)[:, None]))
        return out
    if callable(model) and not hasattr(model, "shape"):
        model = model()
        return _model_blocks(model)
    if sp.issparse(model):
        return [Columns("sparse", int(model.shape[1]), values=sp.csr_array(model, dtype=float))]
    X = np.asarray(model, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    return [Columns("dense", int(X.shape[1]), values=X)]


def _crossprod(model: Any, blocks: list[Columns], s: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``X' diag(s) X`` and the columns of its diagonal block (for the solver)."""
    owner = getattr(model, "__self__", None)
    m = owner if isinstance(owner, BlockModel) else model
    if isinstance(m, BlockModel):
        return m.crossprod(s), m.diagonal()
    if len(blocks) == 1 and blocks[0].kind == "sparse":
        return weighted_crossprod(blocks[0].values, s), None
    p = sum(b.size for b in blocks)
    T = np.zeros((p, p))
    off = np.cumsum([0] + [b.size for b in blocks])
    for i, a in enumerate(blocks):
        for j in range(i, len(blocks)):
            t = gram(a, blocks[j], s)
            T[off[i] : off[i + 1], off[j] : off[j + 1]] = t
            T[off[j] : off[j + 1], off[i] : off[i + 1]] = t.T
    return T, None


@dataclass(eq=False)
class _GregStep:
    """A GREG step, prepared: ``x - w1 X beta``, ``beta = (X'W0X)^- X' (x w0 / w1)`` (w0, w1 > 0)."""

    blocks: list[Columns]  # the model's columns X
    r: np.ndarray  # w0 / w1 on rows with w0, w1 > 0, else 0
    T: np.ndarray  # X' W0 X
    diagonal: np.ndarray | None
    known: list[list[np.ndarray]]  # X_i' diag(r) U_b for the groups of earlier steps
    new: list[Columns]  # diag(w1) X: the columns this step adds to U

    @classmethod
    def build(cls, model: Any, w0: np.ndarray, w1: np.ndarray, groups: Sequence[Columns]) -> "_GregStep":
        blocks = _model_blocks(model)
        pos = (w0 > 0) & (w1 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(pos, w0 / np.where(pos, w1, 1.0), 0.0)
        s_out = np.where(pos, w1, 0.0)
        T, diagonal = _crossprod(model, blocks, np.where(pos, w0, 0.0))
        known = [[gram(b, g, r) for g in groups] for b in blocks]
        new = [
            Columns(b.kind, b.size, values=b.values, codes=b.codes,
                    scale=s_out if b.scale is None else s_out * b.scale)
            for b in blocks
        ]
        return cls(blocks, r, T, diagonal, known, new)

    def coefficients(self, S: DomainScores, gamma: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``beta`` (p x D*k), split by block, for the scores ``S - U Gamma`` of the earlier steps."""
        parts = []
        memo: dict = {}
        for b, known in zip(self.blocks, self.known):
            rhs = cross(b, self.r, S, memo)
            for K, G in zip(known, gamma):
                rhs -= matmul(K, G)
            parts.append(rhs)
        rhs = np.vstack(parts)
        beta = solve_psd(self.T, rhs, self.diagonal)
        beta += solve_psd(self.T, rhs - matmul(self.T, beta), self.diagonal)  # iterative refinement
        off = np.cumsum([0] + [b.size for b in self.blocks])
        return [beta[off[i] : off[i + 1]] for i in range(len(self.blocks))]


@dataclass(eq=False)
class _RakeStep:
    """A raking step, prepared: R ``rake()``'s sweeps of ``x - p_m * ave(x / p_m | level)``."""

    ind: list[Columns]  # level indicators of every margin
    inv: list[np.ndarray]  # 1 / p_m on the rows of a level with p_m > 0, else 0
    cnt: list[np.ndarray]  # such rows per level
    cross_tables: dict[tuple[int, int], np.ndarray]  # I_a' diag(1 / p_a) V_b, a != b
    known: list[list[np.ndarray]]  # I_a' diag(1 / p_a) U_b for the groups of earlier steps
    new: list[Columns]  # diag(p_m) I_m: the columns this step adds to U
    sweeps: int = RAKE_SWEEPS

    @classmethod
    def build(cls, codes: Sequence[np.ndarray], psw: Sequence[np.ndarray], groups: Sequence[Columns]) -> "_RakeStep":
        ind, inv, cnt, new = [], [], [], []
        for c, p in zip(codes, psw):
            c = np.asarray(c)
            p = np.asarray(p, dtype=float)
            L = int(c.max()) + 1 if c.size else 0
            ext = extended_codes(c, L)
            if c.size and c.min() >= 0 and p.min() > 0:  # every row in a level, every weight positive
                iv = 1.0 / p
                scale = p
                cnt.append(np.bincount(ext, minlength=L + 1)[:L].astype(float))
            else:
                pos = (p > 0) & (c >= 0)
                iv = np.divide(1.0, p, out=np.zeros_like(p), where=pos)
                scale = np.where(pos, p, 0.0)
                cnt.append(np.bincount(ext, weights=pos, minlength=L + 1)[:L])
            ind.append(Columns("cat", L, codes=ext))
            inv.append(iv)
            new.append(Columns("cat", L, codes=ext, scale=scale))
        m = len(ind)
        tables = {(a, b): gram(ind[a], new[b], inv[a]) for a in range(m) for b in range(m) if a != b}
        known = [[gram(ind[a], g, inv[a]) for g in groups] for a in range(m)]
        return cls(ind, inv, cnt, tables, known, new)

    def coefficients(self, S: DomainScores, gamma: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The level x D*k means accumulated over the sweeps, one block per margin."""
        m = len(self.ind)
        rhs = []
        for a in range(m):
            R = cross(self.ind[a], self.inv[a], S)
            for K, G in zip(self.known[a], gamma):
                R -= matmul(K, G)
            rhs.append(R)
        coef = [np.zeros_like(R) for R in rhs]
        # I_a' diag(1 / p_a) V_a = diag(cnt_a): 1 / p_a times p_a on the rows of each level
        for _ in range(self.sweeps):
            for a in range(m):
                means = rhs[a] - self.cnt[a][:, None] * coef[a]
                for b in range(m):
                    if b != a:
                        means -= matmul(self.cross_tables[(a, b)], coef[b])
                means /= np.maximum(self.cnt[a], 1.0)[:, None]
                coef[a] += means
        return coef


@dataclass(eq=False)
class WeightingModel:
    """What the weighting steps of a survey subtract from any scores, prepared once.

    The steps' rules are those of :func:`survey.estimation.variance.residualize`:
    GREG residuals for a step with a model, R ``rake()``'s sweeps for raking,
    nothing for steps without a model (trimming, a nonresponse adjustment with
    fixed weights). A nonresponse step with two-phase variance (issue 15) is
    refused (:class:`~survey.errors.SurveyError`): its second phase is not a
    residual, and :func:`survey.estimation.variance.domain_covariance` sends
    such surveys to the general path.

    Everything that does not depend on the scores (the columns of ``U``, the
    GREG cross-products ``X'WX``, the raking level tables, and per design
    stage the unit and stratum sums of ``U``) is computed on first use and
    kept for the next estimate on the same weighted survey
    (:meth:`of` caches it with the latest weighting step).

    Examples
    --------
    >>> from survey.estimation.variance import WeightingStep
    >>> X = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    >>> step = WeightingStep(kind="poststratify", model=X, input_weights=np.ones(4))
    >>> w = np.full(4, 5.0)
    >>> wm = WeightingModel.of([step], w)
    >>> wm is WeightingModel.of([step], w), [g.size for g in wm.groups]
    (True, [2])
    """

    steps: list[Any]
    groups: tuple[Columns, ...]
    _stage_terms: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, steps: Sequence[Any], weights: np.ndarray) -> "WeightingModel":
        """The model of these steps and final weights (built once, kept with the last step)."""
        steps = list(steps)
        weights = np.asarray(weights, dtype=float)
        key = (weights.__array_interface__["data"][0], weights.shape, tuple(id(s_) for s_ in steps))
        holder = steps[-1] if steps else None
        cache = _MODELS.get(holder) if holder is not None else None
        if cache is not None and cache[0] == key:
            return cache[1]
        groups: list[Columns] = []
        prepared: list[Any] = []
        for i, step in enumerate(steps):
            w_out = np.asarray(steps[i + 1].input_weights if i + 1 < len(steps) else weights, dtype=float)
            report = getattr(step, "report", None)
            if getattr(report, "two_phase", None) is not None:
                # the second phase of a nonresponse adjustment is a variance term, not a
                # residual: the general path (variance.special_covariance) adds it
                raise SurveyError(
                    "a nonresponse step with two-phase variance is not a low-rank residual; "
                    "its variance comes from survey.estimation.variance.special_covariance"
                )
            if step.kind == "rake" and getattr(report, "margin_codes", ()):
                st: Any = _RakeStep.build(report.margin_codes, report.margin_weights, groups)
            elif step.model is not None:
                st = _GregStep.build(step.model, np.asarray(step.input_weights, dtype=float), w_out, groups)
            else:
                continue
            prepared.append(st)
            groups.extend(st.new)
        model = cls(prepared, tuple(groups))
        if holder is not None:
            try:
                _MODELS[holder] = (key, model)
            except TypeError:  # an object that cannot be weakly referenced: no cache
                pass
        return model

    def residuals(self, scores: np.ndarray, domain: np.ndarray, n_domains: int) -> "LowRankScores":
        """``E = S - U Gamma`` for the domain scores."""
        S = DomainScores.from_rows(scores, np.asarray(domain), n_domains)
        gamma: list[np.ndarray] = []
        for st in self.steps:
            gamma.extend(st.coefficients(S, gamma))
        return LowRankScores(S, self.groups, tuple(gamma), self)

    def stage_terms(self, stage: Stage) -> tuple[list[Columns], np.ndarray, Any]:
        """Per stage: ``U`` at the unit level, ``V_u(U)`` (unit sums, q x q) and ``U`` by stratum."""
        hit = self._stage_terms.get(id(stage))
        if hit is not None and hit[0] is stage:
            return hit[1]
        sq, _ = design_coefficients(stage)
        ugroups = list(self.groups) if stage.units is None else [
            aggregate_rows(g, stage.units, stage.n_units) for g in self.groups
        ]
        sq_u = sq[stage.unit_stratum]
        off = np.cumsum([0] + [g.size for g in ugroups])
        q = int(off[-1])
        K = np.zeros((q, q))
        for a, ga in enumerate(ugroups):
            for b in range(a, len(ugroups)):
                t = gram(ga, ugroups[b], sq_u)
                K[off[a] : off[a + 1], off[b] : off[b + 1]] = t
                if b != a:
                    K[off[b] : off[b + 1], off[a] : off[a + 1]] = t.T
        HU = stratum_matrix(ugroups, stage.unit_stratum, stage.n_strata)
        out = (ugroups, K, HU)
        self._stage_terms[id(stage)] = (stage, out)
        return out


# prepared models, kept with the latest weighting step of a survey (they die with it)
_MODELS: "weakref.WeakKeyDictionary[Any, tuple[Any, WeightingModel]]" = weakref.WeakKeyDictionary()


def weighting_residuals(
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    steps: Sequence[Any],
    weights: np.ndarray,
) -> "LowRankScores":
    """The residuals of the domain scores after the weighting steps, as ``S - U Gamma``.

    Same rules as :func:`survey.estimation.variance.residualize` applied to
    the n x D*k matrix of domain scores (GREG residuals of ``"calibration"``
    and ``"poststratify"`` steps, R ``rake()``'s sweeps for ``"rake"``,
    steps without a model unchanged), without forming that matrix. What does
    not depend on the scores is prepared once per weighted survey
    (:class:`WeightingModel`).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, k)
        Influence values, zero outside the domains.
    domain : numpy.ndarray of int, shape (n,)
        Domain of every row, -1 outside every domain.
    n_domains : int
    steps : sequence of WeightingStep
        ``Survey.weighting``, oldest first.
    weights : numpy.ndarray
        The final weights.

    Returns
    -------
    LowRankScores

    Examples
    --------
    >>> from survey.estimation.variance import WeightingStep, residualize
    >>> w = np.array([5.0, 5, 5, 5]); X = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    >>> step = WeightingStep(kind="poststratify", model=X, input_weights=np.ones(4))
    >>> z = np.array([[1.0], [3], [2], [6]]) * 5
    >>> lr = weighting_residuals(z, np.array([0, 1, 0, 1]), 2, [step], w)
    >>> lr.dense()  # column d: residuals of the scores of domain d
    array([[  2.5,  -7.5],
           [ -2.5,   7.5],
           [  5. , -15. ],
           [ -5. ,  15. ]])
    """
    return WeightingModel.of(steps, weights).residuals(scores, domain, n_domains)
