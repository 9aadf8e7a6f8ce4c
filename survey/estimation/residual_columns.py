"""The columns ``U`` and domain scores ``S`` of the low-rank residuals, and their sums.

The algebra under :mod:`survey.estimation.residuals` (``E = S - U Gamma``):

* :class:`Columns`: a block of columns of ``U`` (level indicators as integer
  codes, dense or sparse numeric columns), optionally scaled by row weights;
* :class:`DomainScores`: the scores ``S`` spread over domains (one non-zero per
  row and variable), with their sums by unit, stratum or level and domain;
* :func:`gram` and :func:`cross`: the weighted products ``U_a' diag(r) U_b``
  and ``U' diag(r) S`` as group sums (bincounts, no n x D matrix);
* ``aggregate_rows`` and ``stratum_matrix``: ``U`` summed to units or strata;
* :func:`design_coefficients`: a stage's variance coefficients with the
  ``"average"`` lonely-PSU rule applied design-wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from survey.estimation.structure import Stage
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = [
    "Columns",
    "DomainScores",
    "design_coefficients",
]

# largest dense (group x level) table, in cells, before switching to sparse sums
DENSE_CELLS = 8_000_000


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
        if size * D * k > max(DENSE_CELLS, 4 * self.values.shape[0]):
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


def extended_codes(codes: np.ndarray, size: int) -> np.ndarray:
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
SMALL_PRODUCT = 20_000_000


def matmul(A: Any, B: np.ndarray) -> np.ndarray:
    """``A @ B``, in numpy's own loop when small (dense ``A``), else BLAS or a sparse product."""
    if sp.issparse(A):
        return np.asarray(A @ B)
    if A.shape[0] * A.shape[1] * B.shape[1] <= SMALL_PRODUCT:
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
        if (La + 1) * (Lb + 1) <= max(DENSE_CELLS, 4 * a.codes.shape[0]):
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

    def weighted_column(j: int) -> np.ndarray:
        """Score column j times the row weights r x own at the pairs' rows (memoised per
        (r, own): the level blocks and the dense blocks of one model share them)."""
        ws = memo.get(wkey + (j,))
        if ws is None:
            w = memo.get(wkey)
            if w is None:
                w = _times(r, own)
                w = None if w is None else S.at_rows(w)
                memo[wkey] = w
            ws = S.col(j) if w is None else w * S.col(j)
            memo[wkey + (j,)] = ws
        return ws

    if a.kind == "cat":
        L = a.size
        own = a.row_weights(None)
        wkey = (id(r), id(own))
        key = S.joint_key(a.codes)
        out = np.empty((L, D, k))
        for j in range(k):
            ws = weighted_column(j)
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
            ws = weighted_column(j)
            for p in range(a.size):
                v = ws * S.at_rows(A[:, p])
                out[p, :, j] = v.sum() if whole else np.bincount(S.dom, weights=v, minlength=D)
        return out.reshape(a.size, D * k)
    A = a.sparse()
    Sm = S.csr()
    if r is not None:
        Sm = sp.csr_array(Sm.multiply(r[:, None]))
    return np.asarray((A.T @ Sm).todense())


def aggregate_rows(c: Columns, codes: np.ndarray, size: int) -> Columns:
    """Sums of the rows of ``c`` by ``codes`` (units or strata): a sparse or dense block."""
    if c.kind == "cat":
        w = c.row_weights(None)
        L = c.size
        if size * (L + 1) <= max(DENSE_CELLS, 4 * codes.shape[0]):
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
        if size * c.size <= max(DENSE_CELLS, 4 * codes.shape[0]):
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


def stratum_matrix(groups: list[Columns], hu: np.ndarray, H: int) -> Any:
    """``U`` summed to strata (H x q): dense, or sparse when that would be large."""
    blocks = [_as_matrix(aggregate_rows(g, hu, H)) for g in groups]
    if all(not sp.issparse(b) for b in blocks):
        return np.hstack(blocks)
    return sp.csr_array(sp.hstack([sp.csr_array(b) for b in blocks]))
