"""Model matrices of the calibration solvers: dense, sparse or in blocks of level codes.

* :class:`BlockModel`: a model matrix stored as level codes and numeric
  columns, whose products are group sums (the n x p matrix is never formed);
* ``checked_model`` and ``model_operator``: a dense or sparse matrix checked
  and put behind the same operator interface (``matvec``, ``rmatvec``,
  ``crossprod``, ``diagonal``) that :func:`~survey.estimation.calibration.newton_raphson`
  uses;
* :func:`weighted_crossprod`: ``X' diag(s) X`` for a dense or sparse ``X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from survey.errors import CalibrationError
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")

__all__ = ["BlockModel", "weighted_crossprod"]


def weighted_crossprod(X: Any, s: np.ndarray) -> np.ndarray:
    """``X' diag(s) X`` as a dense p x p array (X dense or sparse).

    Parameters
    ----------
    X : numpy.ndarray or scipy.sparse array, shape (n, p)
    s : numpy.ndarray, shape (n,)

    Returns
    -------
    numpy.ndarray, shape (p, p)

    Examples
    --------
    >>> weighted_crossprod(np.array([[1.0, 0.0], [1.0, 2.0]]), np.array([1.0, 3.0]))
    array([[ 4.,  6.],
           [ 6., 12.]])
    """
    if sp.issparse(X):
        return np.asarray((X.T @ sp.csr_array(X.multiply(s[:, None]))).toarray())
    return (X * s[:, None]).T @ X

def checked_model(X: Any, n: int) -> Any:
    """``X`` as a float (n x p) dense array or CSR matrix; a clear error for another shape."""
    if sp.issparse(X):
        X = sp.csr_array(X, dtype=float)
    else:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        raise CalibrationError(f"model matrix has shape {X.shape}, expected ({n}, p)")
    return X

class _MatrixOp:
    """A dense or sparse model matrix behind the operator interface of :class:`BlockModel`."""

    def __init__(self, X: Any) -> None:
        self.X = X
        self.shape = X.shape

    def matvec(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.X @ b)

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.X.T @ v)

    def crossprod(self, s: np.ndarray) -> np.ndarray:
        return weighted_crossprod(self.X, s)

    def diagonal(self) -> np.ndarray | None:
        return None

class BlockModel:
    """Model matrix stored as blocks: level indicators (integer codes) and numeric columns.

    Products are group sums (``np.bincount``); the n x p matrix is never formed
    except as a sparse matrix for the weighting step. ``blocks`` holds
    ``("cat", codes, L)`` (codes in ``[0, L)``, -1 for no level) or
    ``("num", values, 1)``.

    Parameters
    ----------
    n : int
        Number of rows.
    blocks : list of tuple
        The blocks, in column order.

    Examples
    --------
    >>> X = BlockModel(3, [("cat", np.array([0, 1, 1]), 2), ("num", np.array([1.0, 2.0, 3.0]), 1)])
    >>> X.shape, X.rmatvec(np.ones(3))
    ((3, 3), array([1., 2., 6.]))
    >>> X.sparse().toarray()
    array([[1., 0., 1.],
           [0., 1., 2.],
           [0., 1., 3.]])
    """

    def __init__(self, n: int, blocks: list[tuple[str, np.ndarray, int]]) -> None:
        self.n = n
        self.blocks = blocks
        self.offsets = np.cumsum([0] + [b[2] for b in blocks])
        self.shape = (n, int(self.offsets[-1]))
        self._ext = [
            (np.where(v < 0, L, v) if v.size and v.min() < 0 else v) if k == "cat" else None
            for k, v, L in blocks
        ]

    def matvec(self, b: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        for (kind, v, L), ext, o in zip(self.blocks, self._ext, self.offsets):
            if kind == "cat":
                out += np.append(b[o : o + L], 0.0)[ext]
            else:
                out += v * b[o]
        return out

    def rmatvec(self, s: np.ndarray) -> np.ndarray:
        parts = [
            np.bincount(ext, weights=s, minlength=L + 1)[:L]
            if kind == "cat"
            else np.array([np.einsum("i,i->", v, s)])  # no BLAS threads for one dot
            for (kind, v, L), ext in zip(self.blocks, self._ext)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def crossprod(self, s: np.ndarray) -> np.ndarray:
        p = self.shape[1]
        T = np.zeros((p, p))
        B = self.blocks
        for a in range(len(B)):
            ka, va, La = B[a]
            oa = self.offsets[a]
            for b in range(a, len(B)):
                kb, vb, Lb = B[b]
                ob = self.offsets[b]
                if a == b and ka == "cat":
                    blk = np.diag(np.bincount(self._ext[a], weights=s, minlength=La + 1)[:La])
                elif ka == "cat" and kb == "cat":
                    key = self._ext[a] * (Lb + 1) + self._ext[b]
                    blk = np.bincount(key, weights=s, minlength=(La + 1) * (Lb + 1))
                    blk = blk.reshape(La + 1, Lb + 1)[:La, :Lb]
                elif ka == "cat":
                    blk = np.bincount(self._ext[a], weights=s * vb, minlength=La + 1)[:La, None]
                elif kb == "cat":
                    blk = np.bincount(self._ext[b], weights=s * va, minlength=Lb + 1)[None, :Lb]
                else:
                    blk = np.array([[np.einsum("i,i,i->", s, va, vb)]])
                T[oa : oa + La, ob : ob + Lb] = blk
                T[ob : ob + Lb, oa : oa + La] = blk.T
        return T

    def diagonal(self) -> np.ndarray | None:
        """Columns of the largest categorical block (their crossproduct block is diagonal)."""
        cats = [(L, o) for (k, _, L), o in zip(self.blocks, self.offsets) if k == "cat"]
        if not cats:
            return None
        L, o = max(cats)
        return np.arange(o, o + L)

    def select(self, keep: np.ndarray) -> "BlockModel":
        """The model restricted to the columns where ``keep`` is true."""
        out = []
        for (kind, v, L), o in zip(self.blocks, self.offsets):
            k = keep[o : o + L]
            if kind == "num":
                if k[0]:
                    out.append((kind, v, 1))
                continue
            if k.all():
                out.append((kind, v, L))
                continue
            remap = np.full(L + 1, -1, dtype=np.intp)
            remap[np.flatnonzero(k)] = np.arange(int(k.sum()))
            out.append((kind, remap[np.where(v < 0, L, v)], int(k.sum())))
        return BlockModel(self.n, out)

    def sparse(self) -> sp.csr_array:
        """The n x p model matrix as a CSR array (one entry per row and block)."""
        if not self.blocks:
            return sp.csr_array((self.n, 0))
        cols = np.empty((self.n, len(self.blocks)), dtype=np.int32)
        vals = np.empty((self.n, len(self.blocks)))
        for j, ((kind, v, L), o) in enumerate(zip(self.blocks, self.offsets)):
            if kind == "cat":
                cols[:, j] = np.where(v >= 0, v + o, -1)
                vals[:, j] = 1.0
            else:
                cols[:, j] = o
                vals[:, j] = v
        ok = cols >= 0
        if ok.all():
            nb = len(self.blocks)
            indptr = np.arange(0, self.n * nb + 1, nb, dtype=np.int64)
            if self.n * nb < 2**31 - 1:
                indptr = indptr.astype(np.int32)
            return sp.csr_array((vals.ravel(), cols.ravel(), indptr), shape=self.shape)
        indptr = np.concatenate([[0], np.cumsum(ok.sum(axis=1))])
        return sp.csr_array((vals[ok], cols[ok], indptr), shape=self.shape)


def model_operator(X: Any) -> Any:
    """``X`` behind the operator interface of :class:`BlockModel` (a BlockModel as it is)."""
    if isinstance(X, (BlockModel, _MatrixOp)):
        return X
    return _MatrixOp(X)
