"""Replicate weights of a :class:`~survey.estimation.replicate.ReplicateDesign`, on demand.

Factors per PSU (jackknife deletion, Hadamard half samples, Rao-Wu-Yue
bootstrap draws), expanded to rows in column blocks: the n x R matrix is only
formed when asked for (:func:`replicate_weights`) or when a weighting step is
repeated in every replicate (:func:`reweight_replicates`).

The bootstrap's resampling counts are drawn once per design, when a variance
first needs them, and kept with it as compact unsigned integers (one byte per
PSU and replicate, :func:`bootstrap_counts`): every later estimate on the same
replicate survey only multiplies them with its scores.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from survey.errors import ReplicateError
from survey.estimation.replicate import ReplicateDesign, ReplicateLayout

from survey.lazy import lazy_module

linalg = lazy_module("scipy.linalg")

__all__ = [
    "BootstrapResampler",
    "COUNT_CACHE_BYTES",
    "bootstrap_counts",
    "bootstrap_count_blocks",
    "bootstrap_multipliers",
    "psu_factors",
    "replicate_factors",
    "replicate_weights",
    "replicate_weights_frame",
    "reweight_replicates",
]


def _stream(entropy: int, replicate: int) -> np.random.Generator:
    """The random stream of one bootstrap replicate (independent of chunking)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(replicate,))))


class BootstrapResampler:
    """Rao-Wu draws of the bootstrap: m_h = n_h - 1 PSUs with replacement per stratum.

    Replicate r always uses its own random stream (seed entropy, spawn key r),
    so any block of replicates, in any order or thread, gives the same counts.

    Parameters
    ----------
    rep : ReplicateDesign
        A bootstrap design (with ``layout`` and ``seed``).

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("bootstrap", weights=np.ones(6), strata=np.repeat([0, 1], 3),
    ...                              replicates=10, seed=1)
    >>> counts = BootstrapResampler(rep).counts(0)
    >>> counts.shape, float(counts.sum())  # m_h = n_h - 1 = 2 draws in each of the two strata
    ((6,), 4.0)
    """

    def __init__(self, rep: ReplicateDesign) -> None:
        lay = rep.layout
        act_h = np.flatnonzero(lay.active)
        m_h = lay.stratum_size[act_h] - 1
        self.entropy = rep.seed
        self.n_psu = lay.n_psu
        self.start = np.repeat(lay.stratum_start[act_h], m_h)
        # n_h (1 - 2^-52): u * n_h then stays below n_h after rounding, for u < 1
        self.size = np.repeat(lay.stratum_size[act_h], m_h) * (1.0 - 2.0**-52)

    def integer_counts(self, replicate: int) -> np.ndarray:
        """How often each PSU is drawn in one replicate (length P, int64)."""
        u = _stream(self.entropy, int(replicate)).random(self.start.shape[0])
        u *= self.size
        idx = u.astype(np.int64)
        idx += self.start
        return np.bincount(idx, minlength=self.n_psu)

    def counts(self, replicate: int) -> np.ndarray:
        """How often each PSU is drawn in one replicate (length P, float64)."""
        return self.integer_counts(replicate).astype(float)


def _bootstrap_counts(rep: ReplicateDesign, replicates: np.ndarray) -> np.ndarray:
    """Resampling counts (len(replicates), P) of the Rao-Wu bootstrap."""
    cached = bootstrap_counts(rep)
    if cached is not None:
        return cached[np.asarray(replicates, dtype=np.intp)].astype(float)
    sampler = BootstrapResampler(rep)
    out = np.empty((replicates.shape[0], rep.layout.n_psu))
    for i, r in enumerate(replicates):
        out[i] = sampler.counts(int(r))
    return out


# the counts kept with their design (a design is immutable; the cache dies with it)
_COUNTS: "weakref.WeakKeyDictionary[ReplicateDesign, np.ndarray]" = weakref.WeakKeyDictionary()

COUNT_CACHE_BYTES = 1 << 30
"""Largest bootstrap count matrix (bytes, one per PSU and replicate) kept with a design.

Larger designs redraw their counts (from the same random streams, so with
the same result) block by block for every estimate instead."""

_MAX_THREADS = 4


def _threads() -> int:
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))


def bootstrap_counts(rep: ReplicateDesign) -> np.ndarray | None:
    """The resampling counts of a bootstrap design (R x P), drawn once and kept with the design.

    Row ``r`` is how often each PSU is drawn in replicate ``r``
    (:class:`BootstrapResampler`), stored as ``uint8`` (``uint16`` when a PSU
    can be drawn more than 255 times). Drawn on the first call; later calls
    return the same read-only array.

    Parameters
    ----------
    rep : ReplicateDesign
        A bootstrap design formed from a layout.

    Returns
    -------
    numpy.ndarray or None
        ``None`` when the matrix would exceed :data:`COUNT_CACHE_BYTES`.

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("bootstrap", weights=np.ones(6), strata=np.repeat([0, 1], 3),
    ...                              replicates=4, seed=1)
    >>> c = bootstrap_counts(rep)
    >>> c.shape, c.dtype, c.sum(axis=1).tolist(), bootstrap_counts(rep) is c
    ((4, 6), dtype('uint8'), [4, 4, 4, 4], True)
    """
    if rep.method != "bootstrap" or rep.layout is None or rep.repweights is not None:
        return None
    hit = _COUNTS.get(rep)
    if hit is not None:
        return hit
    R, P = rep.n_replicates, rep.layout.n_psu
    if R * P > COUNT_CACHE_BYTES:
        return None
    lay = rep.layout
    most = int((lay.stratum_size[lay.active] - 1).max(initial=0))  # a PSU is drawn at most m_h times
    dtype = np.uint8 if most <= 255 else (np.uint16 if most <= 65535 else np.uint32)
    if R * P * np.dtype(dtype).itemsize > COUNT_CACHE_BYTES:
        return None
    sampler = BootstrapResampler(rep)
    out = np.empty((R, P), dtype=dtype)

    def draw(r: int) -> None:
        out[r] = sampler.integer_counts(r)

    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        list(pool.map(draw, range(R)))
    out.flags.writeable = False
    _COUNTS[rep] = out
    return out


def bootstrap_count_blocks(
    rep: ReplicateDesign, block: int, *, psu_major: bool = True
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The bootstrap counts in blocks of replicates: ``(replicates, counts)`` as float64.

    From the kept counts (:func:`bootstrap_counts`), or redrawn block by block
    when the design is too large to keep them. ``counts`` is (P x len)
    C-ordered (``psu_major=True``, for sparse products) or (len x P).

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("bootstrap", weights=np.ones(4), replicates=5, seed=3)
    >>> [(idx.tolist(), c.shape) for idx, c in bootstrap_count_blocks(rep, 2)]
    [([0, 1], (4, 2)), ([2, 3], (4, 2)), ([4], (4, 1))]
    """
    R = rep.n_replicates
    cached = bootstrap_counts(rep)
    sampler = None if cached is not None else BootstrapResampler(rep)
    for start in range(0, R, max(1, block)):
        idx = np.arange(start, min(start + max(1, block), R))
        if cached is not None:
            rows = cached[start : idx[-1] + 1]
            yield idx, (rows.T.astype(float, order="C") if psu_major else rows.astype(float))
        else:
            c = np.vstack([sampler.counts(int(r)) for r in idx])
            yield idx, (np.ascontiguousarray(c.T) if psu_major else c)


def bootstrap_multipliers(lay: ReplicateLayout) -> tuple[np.ndarray, np.ndarray]:
    """Per-PSU ``lambda_h`` and multiplier ``lambda_h n_h / m_h`` of the Rao-Wu-Yue bootstrap.

    ``lambda_h = sqrt(1 - f_h)``; a PSU drawn ``c`` times gets the factor
    ``1 - lambda_h + lambda_h n_h / m_h * c`` with ``m_h = n_h - 1``. Both are
    0 in strata without replicates (take-all or single PSU).

    Parameters
    ----------
    lay : ReplicateLayout

    Returns
    -------
    tuple of numpy.ndarray
        ``(lambda, multiplier)``, one value per PSU.

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("bootstrap", weights=np.ones(3), fraction=0.75, seed=1)
    >>> bootstrap_multipliers(rep.layout)
    (array([0.5, 0.5, 0.5]), array([0.75, 0.75, 0.75]))
    """
    n_h = lay.stratum_size.astype(float)
    lam_h = np.where(lay.active, np.sqrt(np.clip(1.0 - lay.fraction, 0.0, 1.0)), 0.0)
    mult_h = np.where(lay.active, lam_h * n_h / np.maximum(n_h - 1, 1), 0.0)
    return lam_h[lay.psu_stratum], mult_h[lay.psu_stratum]


def psu_factors(rep: ReplicateDesign, replicates: np.ndarray) -> np.ndarray:
    """Replicate factors per PSU (replicate weight / full-sample weight), shape (P, len(replicates)).

    Parameters
    ----------
    rep : ReplicateDesign
        A design formed from a layout (not imported weights).
    replicates : numpy.ndarray of int
        Which replicates (0-based).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jkn", weights=np.ones(4), strata=np.array([0, 0, 1, 1]))
    >>> psu_factors(rep, np.arange(4))
    array([[0., 2., 1., 1.],
           [2., 0., 1., 1.],
           [1., 1., 0., 2.],
           [1., 1., 2., 0.]])
    """
    lay = rep.layout
    P = lay.n_psu
    if rep.method == "bootstrap":
        lam, mult = bootstrap_multipliers(lay)
        counts = _bootstrap_counts(rep, replicates)
        return (1.0 - lam)[:, None] + mult[:, None] * counts.T
    if rep.method in ("jk1", "jkn"):
        act_psu = np.flatnonzero(lay.active[lay.psu_stratum])
        extra = replicates >= act_psu.shape[0]  # JKn "adjust" replicates of lonely strata
        regular = np.where(extra, 0, replicates)
        deleted = act_psu[regular] if act_psu.shape[0] else np.zeros(replicates.shape[0], np.int64)
        h_del = lay.psu_stratum[deleted]
        n_h = lay.stratum_size.astype(float)
        out = np.ones((P, replicates.shape[0]))
        same = lay.psu_stratum[:, None] == h_del[None, :]
        if rep.method == "jk1":
            same[:] = True
        out[same] = np.broadcast_to((n_h[h_del] / (n_h[h_del] - 1))[None, :], same.shape)[same]
        out[deleted, np.arange(replicates.shape[0])] = 0.0
        if extra.any():
            H = lay.n_strata
            h_lonely = lay.adjust_strata[replicates[extra] - act_psu.shape[0]]
            out[:, extra] = np.where(lay.psu_stratum[:, None] == h_lonely[None, :], 0.0, H / (H - 1.0))
        return out
    # brr / fay
    first, second, _ = rep.half_samples
    rho = rep.fay_rho
    H = linalg.hadamard(rep.n_replicates)[replicates][:, 1 : first.shape[0] + 1].T  # (L, c)
    out = np.ones((P, replicates.shape[0]))
    out[first] = 1.0 + H * (1.0 - rho)
    out[second] = 1.0 - H * (1.0 - rho)
    return out


def _as_replicate_index(rep: ReplicateDesign, replicates: Sequence[int] | slice | None) -> np.ndarray:
    R = rep.n_replicates
    if replicates is None:
        return np.arange(R)
    if isinstance(replicates, slice):
        return np.arange(R)[replicates]
    idx = np.asarray(replicates, dtype=np.int64).reshape(-1)
    if ((idx < 0) | (idx >= R)).any():
        raise ReplicateError(f"replicate numbers must be in 0..{R - 1}")
    return idx


def replicate_factors(
    rep: ReplicateDesign, replicates: Sequence[int] | slice | None = None
) -> np.ndarray:
    """Replicate factors (replicate weight / full-sample weight) of every row.

    Parameters
    ----------
    rep : ReplicateDesign
    replicates : sequence of int or slice, optional
        Which replicates (0-based); all by default. Ask for blocks of columns
        on large samples: the result is an n x len(replicates) float64 matrix.

    Returns
    -------
    numpy.ndarray
        Shape (n, number of replicates asked for). Rows with zero full-sample
        weight get the factor of their PSU (imported weights: 0).

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(3))
    >>> replicate_factors(rep)
    array([[0. , 1.5, 1.5],
           [1.5, 0. , 1.5],
           [1.5, 1.5, 0. ]])
    """
    idx = _as_replicate_index(rep, replicates)
    if rep.repweights is not None:
        w = rep.weights
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(w[:, None] > 0, rep.repweights[:, idx] / w[:, None], 0.0)
    return psu_factors(rep, idx)[rep.layout.psu]


def replicate_weights(
    rep: ReplicateDesign,
    weights: np.ndarray | None = None,
    replicates: Sequence[int] | slice | None = None,
) -> np.ndarray:
    """Replicate weights (n x R) for the given full-sample weights.

    Parameters
    ----------
    rep : ReplicateDesign
    weights : numpy.ndarray, optional
        Full-sample weights (default ``rep.weights``).
    replicates : sequence of int or slice, optional
        Which replicates; all by default.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("brr", weights=np.full(4, 10.0), strata=np.array([0, 0, 1, 1]))
    >>> replicate_weights(rep)
    array([[20.,  0., 20.,  0.],
           [ 0., 20.,  0., 20.],
           [20., 20.,  0.,  0.],
           [ 0.,  0., 20., 20.]])
    """
    idx = _as_replicate_index(rep, replicates)
    w = rep.weights if weights is None else np.asarray(weights, dtype=float)
    if rep.repweights is not None and weights is None:
        return rep.repweights[:, idx].copy()
    return w[:, None] * replicate_factors(rep, idx)


def replicate_weights_frame(rep: ReplicateDesign, *, prefix: str = "repw_") -> pd.DataFrame:
    """Replicate weights as DataFrame columns, for publication with microdata.

    The columns are ``{prefix}1 .. {prefix}R``; publish them with
    ``rep.scale``, ``rep.rscales`` and ``rep.mse`` (R:
    ``svrepdesign(weights=, repweights=, type="other", scale=, rscales=, mse=)``).

    Parameters
    ----------
    rep : ReplicateDesign
    prefix : str, default="repw_"

    Returns
    -------
    pandas.DataFrame
        n rows, R columns of replicate weights.

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.full(3, 2.0))
    >>> replicate_weights_frame(rep).columns.tolist()
    ['repw_1', 'repw_2', 'repw_3']
    """
    W = replicate_weights(rep)
    return pd.DataFrame(W, columns=[f"{prefix}{r + 1}" for r in range(W.shape[1])])


def reweight_replicates(
    rep: ReplicateDesign,
    adjust: Callable[[np.ndarray], np.ndarray],
    *,
    block: int = 64,
) -> ReplicateDesign:
    """Apply a weighting step (calibration, nonresponse...) to every replicate.

    The full-sample weights and each replicate's weights go through the same
    ``adjust`` function, as R does when a replicate design is calibrated, so
    the replicate variance reflects the weighting. The replicate weights are
    materialised (n x R).

    Parameters
    ----------
    rep : ReplicateDesign
    adjust : callable
        Maps a weight vector (length n) to the adjusted weight vector, e.g.
        ``lambda d: d * calibration_factors(X, d, totals, ...)``.
    block : int, default=64
        Replicates formed at a time (memory of the unadjusted weights).

    Returns
    -------
    ReplicateDesign
        ``weights`` are ``adjust(rep.weights)``; ``calibrated`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.replicate import replicates_from_arrays
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(4))
    >>> to_total = lambda d: d * 8.0 / d.sum()          # ratio-adjust to a known N = 8
    >>> cal = reweight_replicates(rep, to_total)
    >>> replicate_weights(cal).sum(axis=0)
    array([8., 8., 8., 8.])
    """
    def run(d: np.ndarray, where: str) -> np.ndarray:
        out = np.asarray(adjust(d.copy()), dtype=float)
        if out.shape != d.shape or not np.isfinite(out).all():
            raise ReplicateError(
                f"the weighting step returned {out.shape} / non-finite weights for {where}; "
                "it must return one finite weight per row"
            )
        return out

    new_w = run(rep.weights, "the full sample")
    W = np.empty((rep.n, rep.n_replicates))
    for start in range(0, rep.n_replicates, block):
        idx = np.arange(start, min(start + block, rep.n_replicates))
        Wb = replicate_weights(rep, replicates=idx)
        for j, r in enumerate(idx):
            W[:, r] = run(Wb[:, j], f"replicate {r + 1}")
    return ReplicateDesign(
        method=rep.method,
        n_replicates=rep.n_replicates,
        scale=rep.scale,
        rscales=rep.rscales,
        mse=rep.mse,
        weights=new_w,
        fay_rho=rep.fay_rho,
        seed=rep.seed,
        df=rep.df,
        lonely_psu=rep.lonely_psu,
        calibrated=True,
        layout=rep.layout,
        repweights=W,
        half_samples=rep.half_samples,
    )
