"""Scores after weighting as a low-rank correction, and their design covariance by domain.

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

The covariance of the domain totals of ``E`` is then (every term a design
quadratic form: unit and stratum sums, :func:`lowrank_correction`)::

    V(E_d) = V(S_d) - Gamma_d' C(U, S_d) - C(S_d, U) Gamma_d + Gamma_d' V(U) Gamma_d

with ``V(U)`` q x q and ``C(U, S)`` q x D*k: the cost is O(n (p + k)) plus
O(levels x D), with no n x D matrix and no loop over domains.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from survey.errors import SurveyError
from survey.estimation.calibration import BlockModel, solve_psd, weighted_crossprod
from survey.estimation.structure import Stage, VarianceStructure

from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = [
    "Columns",
    "DomainScores",
    "LowRankScores",
    "WeightingModel",
    "design_coefficients",
    "weighting_residuals",
    "lowrank_correction",
    "RAKE_SWEEPS",
]

RAKE_SWEEPS = 10  # R svyrecvar: ten sweeps of the raking residuals

# largest dense (group x level) table, in cells, before switching to sparse sums
_DENSE_CELLS = 8_000_000


def design_coefficients(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """``sq_coef`` and ``cross_coef`` of a stage with the ``"average"`` rule applied design-wide.

    Strata flagged ``average_out`` (one PSU, ``lonely_psu="average"``) have
    zero coefficients; the other strata of the same parent are scaled by
    ``strata / strata with a variance``. Used where residuals spread over the
    whole design (domains after weighting, cross-domain covariances).

    Parameters
    ----------
    stage : Stage

    Returns
    -------
    tuple of numpy.ndarray

    Examples
    --------
    >>> from survey.estimation.structure import stage_coefficients
    >>> sq, cross, avg = stage_coefficients(np.array([1, 2, 2]), np.zeros(3), np.ones(3),
    ...                                     "average", np.array(["a", "b", "c"]), 1)
    >>> st = Stage(units=None, unit_stratum=np.array([0, 1, 1, 2, 2]), n_strata=3, n_units=5,
    ...            sq_coef=sq, cross_coef=cross, average_out=avg,
    ...            stratum_parent=np.zeros(3, dtype=np.intp))
    >>> design_coefficients(st)[0]  # 3 strata, 2 with a variance: scale 1.5
    array([0., 3., 3.])
    """
    sq, cross = stage.sq_coef, stage.cross_coef
    if stage.average_out.any():
        parent = stage.stratum_parent
        total = np.bincount(parent).astype(float)
        ok = np.bincount(parent, weights=(~stage.average_out).astype(float))
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(ok > 0, total / ok, np.nan)[parent]  # no two-PSU stratum: NaN, as R
        sq, cross = sq * scale, cross * scale
    return sq, cross


# ---------------------------------------------------------------------------
# The pieces: columns of U and the domain scores S
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Columns:
    """A block of columns of ``U`` (n x size), in one of three storages.

    * ``"cat"``: level indicators, ``codes`` in ``[0, size]`` (``size`` = no
      level), the entry of row i is ``values[i] * scale[i]`` in column ``codes[i]``;
    * ``"dense"``: ``values`` is n x size;
    * ``"sparse"``: ``values`` is a scipy sparse matrix (n x size).

    ``values=None`` means ones; ``scale`` (optional, length n) multiplies
    every row, so a model matrix and the same matrix times the weights share
    their arrays.

    Examples
    --------
    >>> c = Columns("cat", 2, codes=np.array([0, 2, 1]), scale=np.array([2.0, 5.0, 3.0]))
    >>> c.sparse().toarray()
    array([[2., 0.],
           [0., 0.],
           [0., 3.]])
    """

    kind: str
    size: int
    values: Any = None
    codes: np.ndarray | None = None
    scale: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def row_weights(self, r: np.ndarray | None) -> np.ndarray | None:
        """``r`` times the scale (and, for ``"cat"``, the values): the weight of each row's entry."""
        own = self._cache.get("w", False)
        if own is False:
            own = None
            for v in (self.scale, self.values if self.kind == "cat" else None):
                if v is not None:
                    own = v if own is None else own * v
            self._cache["w"] = own
        return _times(r, own)

    def sparse(self) -> sp.csr_array:
        """The columns as a sparse n x size matrix."""
        if self.kind == "sparse":
            m = sp.csr_array(self.values)
            return m if self.scale is None else sp.csr_array(m.multiply(self.scale[:, None]))
        if self.kind == "dense":
            v = np.asarray(self.values, dtype=float)
            if self.scale is not None:
                v = v * self.scale[:, None]
            return sp.csr_array(v)
        n = self.codes.shape[0]
        w = self.row_weights(None)
        w = np.ones(n) if w is None else np.asarray(w, dtype=float)
        ok = self.codes < self.size
        rows = np.flatnonzero(ok)
        return sp.csr_array((w[ok], (rows, self.codes[ok])), shape=(n, self.size))

    def dense_values(self) -> np.ndarray:
        """``"dense"`` columns with the scale applied (n x size)."""
        v = np.asarray(self.values, dtype=float)
        return v if self.scale is None else v * self.scale[:, None]


@dataclass(frozen=True, eq=False)
class DomainScores:
    """The scores ``S`` spread over domains: entry ``e`` is row ``rows[e]`` in domain ``dom[e]``.

    ``values`` (entries x k) holds the scores of the k variables; ``rows=None``
    means entry i is row i (every row inside a domain).

    Examples
    --------
    >>> s = DomainScores.from_rows(np.array([[1.0], [2.0], [4.0]]), np.array([1, -1, 0]), 2)
    >>> s.csr().toarray()
    array([[0., 1.],
           [0., 0.],
           [4., 0.]])
    """

    rows: np.ndarray | None
    dom: np.ndarray
    values: np.ndarray
    n_rows: int
    n_domains: int
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_rows(cls, scores: np.ndarray, domain: np.ndarray, n_domains: int) -> "DomainScores":
        """From row scores (n x k) and domain codes (-1: outside every domain)."""
        scores = np.asarray(scores, dtype=float)
        if scores.ndim == 1:
            scores = scores[:, None]
        n = scores.shape[0]
        if n == 0 or domain.min() >= 0:
            return cls(None, domain, scores, n, n_domains)
        rows = np.flatnonzero(domain >= 0)
        return cls(rows, domain[rows], scores[rows], n, n_domains)

    @property
    def k(self) -> int:
        """Number of variables."""
        return int(self.values.shape[1])

    def col(self, j: int) -> np.ndarray:
        """Scores of variable ``j`` (contiguous)."""
        key = ("col", j)
        if key not in self._cache:
            self._cache[key] = np.ascontiguousarray(self.values[:, j])
        return self._cache[key]

    def joint_key(self, codes: np.ndarray) -> np.ndarray:
        """``codes[row] * D + domain`` of every entry (kept for the next call with the same codes)."""
        key = ("key", id(codes))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is codes:
            return hit[1]
        c = self.at_rows(codes)
        if self.n_domains == 1:
            out = c
        else:
            out = c * self.n_domains  # codes are intp: no overflow for any realistic size
            out += self.dom
        self._cache[key] = (codes, out)
        return out

    def at_rows(self, a: np.ndarray) -> np.ndarray:
        """A row-level array at the entries."""
        return a if self.rows is None else a[self.rows]

    def csr(self) -> sp.csr_array:
        """``S`` as a sparse n x D*k matrix."""
        k, D = self.k, self.n_domains
        rows = np.arange(self.n_rows) if self.rows is None else self.rows
        r = np.repeat(rows, k)
        c = (self.dom[:, None] * k + np.arange(k)[None, :]).ravel()
        return sp.csr_array((self.values.ravel(), (r, c)), shape=(self.n_rows, D * k))

    def stratum_sums(self, codes: np.ndarray, size: int) -> Any:
        """Sums by (``codes[row]``, domain) as a (size x D*k) array, sparse when that would be large."""
        D, k = self.n_domains, self.k
        if size * D * k > max(_DENSE_CELLS, 4 * self.values.shape[0]):
            return self.aggregate(codes, size).csr()
        g = self.joint_key(codes)
        out = np.empty((size * D, k))
        for j in range(k):
            out[:, j] = np.bincount(g, weights=self.col(j), minlength=size * D)
        return out.reshape(size, D * k)

    def aggregate(self, codes: np.ndarray, size: int) -> "DomainScores":
        """Sums of the entries by (``codes[row]``, domain): the scores of units or strata."""
        D, k = self.n_domains, self.k
        g = self.at_rows(codes).astype(np.int64) * D + self.dom
        if size * D <= 4 * g.shape[0] + 1_000_000:
            cnt = np.bincount(g, minlength=size * D)
            idx = np.flatnonzero(cnt)
            vals = np.column_stack(
                [np.bincount(g, weights=self.col(j), minlength=size * D)[idx] for j in range(k)]
            )
        else:
            idx, inv = np.unique(g, return_inverse=True)
            vals = np.column_stack(
                [np.bincount(inv, weights=self.col(j), minlength=idx.size) for j in range(k)]
            )
        return DomainScores(idx // D, idx % D, vals.reshape(-1, k), size, D)


def _ext_codes(codes: np.ndarray, size: int) -> np.ndarray:
    """Level codes with -1 (no level) moved to the extra bin ``size``."""
    codes = np.asarray(codes, dtype=np.intp)
    if codes.size and codes.min() < 0:
        return np.where(codes < 0, size, codes)
    return codes


# ---------------------------------------------------------------------------
# Weighted sums: U_a' diag(r) U_b and U' diag(r) S, as group sums
# ---------------------------------------------------------------------------
# products up to this many multiply-adds skip BLAS: its threads cost more than they
# save on small matrices, most of all on a busy machine
_SMALL_PRODUCT = 20_000_000


def _mm(A: Any, B: np.ndarray) -> np.ndarray:
    """``A @ B``, in numpy's own loop when small (dense ``A``), else BLAS or a sparse product."""
    if sp.issparse(A):
        return np.asarray(A @ B)
    if A.shape[0] * A.shape[1] * B.shape[1] <= _SMALL_PRODUCT:
        return np.einsum("ij,jk->ik", A, B)
    return A @ B


def _times(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Product of two optional row weights (``None`` = ones)."""
    if a is None:
        return b
    return a if b is None else a * b


def gram(a: Columns, b: Columns, r: np.ndarray | None) -> np.ndarray:
    """``A' diag(r) B`` as a dense (a.size x b.size) array.

    Examples
    --------
    >>> a = Columns("cat", 2, codes=np.array([0, 1, 1]))
    >>> x = Columns("dense", 1, values=np.array([[1.0], [2.0], [3.0]]))
    >>> gram(a, x, np.ones(3)), gram(a, a, np.ones(3))
    (array([[1.],
           [5.]]), array([[1., 0.],
           [0., 2.]]))
    """
    if a.kind == "dense" and b.kind == "cat":
        return gram(b, a, r).T
    if a.kind == "cat" and b.kind == "cat":
        La, Lb = a.size, b.size
        w = _times(a.row_weights(r), b.row_weights(None))
        if a.codes is b.codes:  # the same level codes: a diagonal table
            return np.diag(np.bincount(a.codes, weights=w, minlength=La + 1)[:La])
        if (La + 1) * (Lb + 1) <= max(_DENSE_CELLS, 4 * a.codes.shape[0]):
            key = a.codes * (Lb + 1) + b.codes
            t = np.bincount(key, weights=w, minlength=(La + 1) * (Lb + 1))
            return t.reshape(La + 1, Lb + 1)[:La, :Lb]
    elif a.kind == "cat" and b.kind == "dense":
        w = a.row_weights(r)
        if b.scale is not None:
            w = b.scale if w is None else w * b.scale
        B = np.asarray(b.values, dtype=float)
        return np.column_stack(
            [
                np.bincount(a.codes, weights=B[:, j] if w is None else w * B[:, j], minlength=a.size + 1)[: a.size]
                for j in range(b.size)
            ]
        ) if b.size else np.zeros((a.size, 0))
    elif a.kind == "dense" and b.kind == "dense":
        A, B = a.dense_values(), b.dense_values()
        return A.T @ (B if r is None else B * r[:, None])
    A, B = a.sparse(), b.sparse()
    if r is not None:
        B = sp.csr_array(B.multiply(r[:, None]))
    return np.asarray((A.T @ B).todense())


def cross(a: Columns, r: np.ndarray | None, S: DomainScores, memo: dict | None = None) -> np.ndarray:
    """``A' diag(r) S`` as a dense (a.size x D*k) array: per column of A, the domain sums.

    ``memo`` (a dict kept for one estimate) shares the weighted scores
    between blocks with the same row weights (the level blocks of one model).

    Examples
    --------
    >>> S = DomainScores.from_rows(np.array([[1.0], [2.0], [4.0]]), np.array([0, 1, 1]), 2)
    >>> cross(Columns("cat", 2, codes=np.array([0, 0, 1])), None, S)
    array([[1., 2.],
           [0., 4.]])
    """
    D, k = S.n_domains, S.k
    memo = {} if memo is None else memo
    if a.kind == "cat":
        L = a.size
        own = a.row_weights(None)
        wkey = (id(r), id(own))
        key = S.joint_key(a.codes)
        out = np.empty((L, D, k))
        for j in range(k):
            ws = memo.get(wkey + (j,))
            if ws is None:
                w = memo.get(wkey)
                if w is None:
                    w = _times(r, own)
                    w = None if w is None else S.at_rows(w)
                    memo[wkey] = w
                ws = S.col(j) if w is None else w * S.col(j)
                memo[wkey + (j,)] = ws
            t = np.bincount(key, weights=ws, minlength=(L + 1) * D)
            out[:, :, j] = t[: L * D].reshape(L, D)
        return out.reshape(L, D * k)
    if a.kind == "dense":
        A = np.asarray(a.values, dtype=float)
        own = a.scale
        wkey = (id(r), id(own))  # the same row weights as the level blocks of the same model
        out = np.empty((a.size, D, k))
        whole = D == 1
        for j in range(k):
            ws = memo.get(wkey + (j,))
            if ws is None:
                w = memo.get(wkey)
                if w is None:
                    w = _times(r, own)
                    w = None if w is None else S.at_rows(w)
                    memo[wkey] = w
                ws = S.col(j) if w is None else w * S.col(j)
                memo[wkey + (j,)] = ws
            for p in range(a.size):
                v = ws * S.at_rows(A[:, p])
                out[p, :, j] = v.sum() if whole else np.bincount(S.dom, weights=v, minlength=D)
        return out.reshape(a.size, D * k)
    A = a.sparse()
    Sm = S.csr()
    if r is not None:
        Sm = sp.csr_array(Sm.multiply(r[:, None]))
    return np.asarray((A.T @ Sm).todense())


def _aggregate_rows(c: Columns, codes: np.ndarray, size: int) -> Columns:
    """Sums of the rows of ``c`` by ``codes`` (units or strata): a sparse or dense block."""
    if c.kind == "cat":
        w = c.row_weights(None)
        L = c.size
        if size * (L + 1) <= max(_DENSE_CELLS, 4 * codes.shape[0]):
            key = codes * (L + 1)
            key += c.codes
            t = np.bincount(key, weights=w, minlength=size * (L + 1))
            return Columns("dense", L, values=t.reshape(size, L + 1)[:, :L])
        ok = c.codes < L
        m = sp.coo_array(
            (np.ones(int(ok.sum())) if w is None else w[ok], (codes[ok], c.codes[ok])), shape=(size, L)
        )
        return Columns("sparse", L, values=m.tocsr())
    if c.kind == "dense":
        V = c.dense_values()
        if size * c.size <= max(_DENSE_CELLS, 4 * codes.shape[0]):
            return Columns(
                "dense",
                c.size,
                values=np.column_stack([np.bincount(codes, weights=V[:, j], minlength=size) for j in range(c.size)])
                if c.size
                else np.zeros((size, 0)),
            )
        return Columns("sparse", c.size, values=sp.csr_array(_summing_matrix(codes, size) @ V))
    return Columns("sparse", c.size, values=sp.csr_array(_summing_matrix(codes, size) @ c.sparse()))


def _summing_matrix(codes: np.ndarray, size: int) -> sp.csr_array:
    n = codes.shape[0]
    return sp.csr_array((np.ones(n), (codes, np.arange(n))), shape=(size, n))


def _as_matrix(c: Columns) -> Any:
    """A block as a dense array or sparse matrix (after aggregation to strata)."""
    if c.kind == "dense":
        return c.dense_values()
    return c.sparse()


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
                out.append(Columns("cat", int(L), codes=_ext_codes(v, int(L))))
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
                rhs -= _mm(K, G)
            parts.append(rhs)
        rhs = np.vstack(parts)
        beta = solve_psd(self.T, rhs, self.diagonal)
        beta += solve_psd(self.T, rhs - _mm(self.T, beta), self.diagonal)  # iterative refinement
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
            ext = _ext_codes(c, L)
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
                R -= _mm(K, G)
            rhs.append(R)
        coef = [np.zeros_like(R) for R in rhs]
        # I_a' diag(1 / p_a) V_a = diag(cnt_a): 1 / p_a times p_a on the rows of each level
        for _ in range(self.sweeps):
            for a in range(m):
                means = rhs[a] - self.cnt[a][:, None] * coef[a]
                for b in range(m):
                    if b != a:
                        means -= _mm(self.cross_tables[(a, b)], coef[b])
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
            _aggregate_rows(g, stage.units, stage.n_units) for g in self.groups
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
        HU = _stratum_matrix(ugroups, stage.unit_stratum, stage.n_strata)
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


# ---------------------------------------------------------------------------
# The design covariance of E, minus that of S
# ---------------------------------------------------------------------------
def _quad(A: np.ndarray, B: np.ndarray, D: int, k: int, c: np.ndarray | None = None) -> np.ndarray:
    """Per domain ``sum_r c_r A[r, (d, a)] B[r, (d, b)]`` (D, k, k) of two (rows x D*k) arrays."""
    A3 = A.reshape(A.shape[0], D, k)
    B3 = B.reshape(B.shape[0], D, k)
    if c is not None:
        A3 = A3 * c[:, None, None]
    out = np.empty((D, k, k))
    for a in range(k):  # k x k products of (rows x D) arrays, summed over the rows
        for b in range(k):
            out[:, a, b] = np.einsum("rd,rd->d", A3[:, :, a], B3[:, :, b])
    return out


def _stratum_matrix(groups: list[Columns], hu: np.ndarray, H: int) -> Any:
    """``U`` summed to strata (H x q): dense, or sparse when that would be large."""
    blocks = [_as_matrix(_aggregate_rows(g, hu, H)) for g in groups]
    if all(not sp.issparse(b) for b in blocks):
        return np.hstack(blocks)
    return sp.csr_array(sp.hstack([sp.csr_array(b) for b in blocks]))


def _stage_correction(
    lr: LowRankScores, stage: Stage, G: np.ndarray, *, full: bool, sums: np.ndarray | None = None
) -> np.ndarray:
    """One stage's part of the covariance of ``E = S - U G`` minus that of ``S``.

    Unit sums (``sq``): ``G' V_u(U) G - G' C_u(U, S) - C_u(S, U) G`` from q x q
    and q x D*k group sums. Stratum sums (``cross``): with the stratum totals
    ``T`` of ``S`` and ``T_U G`` of ``U G``, ``+ T (T_U G)' + (T_U G) T' - (T_U G)(T_U G)'``,
    in blocks of strata.
    """
    S = lr.scores
    D, k = S.n_domains, S.k
    sq, cr = design_coefficients(stage)
    model = lr.model if lr.model is not None else WeightingModel([], lr.groups)
    ugroups, K, HU = model.stage_terms(stage)
    uS = S if stage.units is None else S.aggregate(stage.units, stage.n_units)
    hu = stage.unit_stratum
    sq_u = sq[hu]
    off = np.cumsum([0] + [g.size for g in ugroups])
    M = np.zeros((int(off[-1]), D * k))
    memo: dict = {}
    for a, ga in enumerate(ugroups):
        M[off[a] : off[a + 1]] = cross(ga, sq_u, uS, memo)
    KG = _mm(K, G)
    if full:
        GM = G.T @ M
        out = G.T @ KG - GM - GM.T
    else:
        # G'KG - G'M - M'G is the symmetric part of G'(KG - 2M) (K is symmetric): one pass
        KG -= 2.0 * M
        out = _quad(G, KG, D, k)
        out = 0.5 * (out + out.transpose(0, 2, 1))
    if not np.any(cr):
        return out
    H = stage.n_strata
    HS = sums if sums is not None else uS.stratum_sums(hu, H)  # (H, D*k), dense or sparse
    rows = max(1, int(_DENSE_CELLS // max(D * k, 1)))
    for start in range(0, H, rows):
        stop = min(H, start + rows)
        c = cr[start:stop]
        if not np.any(c):
            continue
        T = HS[start:stop].toarray() if sp.issparse(HS) else HS[start:stop]
        TG = np.asarray(_mm(HU[start:stop], G))
        if full:
            A = T.T @ (TG * c[:, None])
            out += A + A.T - TG.T @ (TG * c[:, None])
        else:
            # T'cTG + TG'cT - TG'cTG is the symmetric part of (2T - TG)'c TG: one pass
            A = _quad(2.0 * T - TG, TG, D, k, c)
            out += 0.5 * (A + A.transpose(0, 2, 1))
    return out


def lowrank_correction(
    lr: LowRankScores,
    structure: VarianceStructure,
    *,
    full: bool = False,
    stratum_sums: dict | None = None,
) -> np.ndarray:
    """The covariance of the domain totals of ``E`` minus that of ``S``.

    ``- Gamma' C(U, S) - C(S, U) Gamma + Gamma' V(U) Gamma``, per domain
    (the k x k blocks on the diagonal) or in full; the stratum sums use the
    stratum totals of ``U Gamma`` (one H x q by q x D*k product).

    Parameters
    ----------
    lr : LowRankScores
    structure : VarianceStructure
    full : bool, default=False
        Return the (D*k x D*k) matrix across domains instead of (D, k, k).
    stratum_sums : dict, optional
        The stratum sums of ``S`` per stage, as left by
        :func:`~survey.estimation.variance.linearization_variance` (not recomputed).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    With one post-stratification step the corrected variance equals the
    dense residuals' variance (:func:`survey.estimation.variance.full_covariance`):

    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.variance import full_covariance, linearization_variance
    >>> df = pd.DataFrame({"h": [1, 1, 1, 2, 2, 2], "g": [0, 1, 1, 0, 0, 1],
    ...                    "y": [1.0, 4, 2, 5, 3, 8], "w": 3.0})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w")).poststratify("g", {0: 9, 1: 9})
    >>> z = (s.weights * df.y.to_numpy())[:, None]
    >>> lr = weighting_residuals(z, np.zeros(6, dtype=np.intp), 1, s.weighting, s.weights)
    >>> v = linearization_variance(z, np.zeros(6, dtype=np.intp), 1, s.variance_structure)
    >>> bool(np.isclose(v[0, 0, 0] + lowrank_correction(lr, s.variance_structure)[0, 0, 0],
    ...                 full_covariance(lr.dense(), s.variance_structure)[0, 0]))
    True
    """
    D, k = lr.scores.n_domains, lr.scores.k
    out = np.zeros((D * k, D * k)) if full else np.zeros((D, k, k))
    if not lr.groups:
        return out
    G = np.vstack(lr.gamma)
    for stage in structure.stages:
        hit = (stratum_sums or {}).get(id(stage))
        sums = hit[1] if hit is not None and hit[0] is stage else None
        out += _stage_correction(lr, stage, G, full=full, sums=sums)
    return out
