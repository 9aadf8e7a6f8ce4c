"""Replicate-weight variance: JK1, JKn, BRR, Fay and the fpc-respecting bootstrap.

A :class:`ReplicateDesign` describes a set of replicate weights for one
sample: how they are formed (``method``) and how their spread becomes a
variance (``scale``, ``rscales``, ``mse``, the conventions of R's
``svrepdesign``)::

    v = scale * sum_r rscales[r] * (theta_r - centre) ** 2
    centre = theta_hat (mse=True) or mean_r theta_r (mse=False)

Replicate weights are *not* stored as an n x R matrix unless they have to be
(imported weights, or replicates that were recalibrated). The jackknives and
BRR/Fay compute every replicate total from PSU totals (linear in n for
totals, means and ratios, whatever the number of replicates); the bootstrap
draws its resamples chunk by chunk from the recorded seed, every replicate
from its own random stream, so results do not depend on the chunk size.

The variance formulas and when to use which method are in
``docs/variance.md``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from survey.design import LONELY_PSU_RULES
from survey.errors import (
    DesignError,
    LonelyPSUError,
    ReplicateError,
    SurveyWarning,
    WeightError,
)

__all__ = [
    "ReplicateDesign",
    "make_replicates",
    "replicates_from_arrays",
    "replicate_variance",
    "replicate_totals",
    "replicate_factors",
    "replicate_weights",
    "replicate_weights_frame",
    "import_replicates",
    "replicates_from_columns",
    "reweight_replicates",
    "METHODS",
]

METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap")
_IMPORT_TYPES = ("jk1", "jkn", "brr", "fay", "bootstrap", "other")
# memory budget of one bootstrap chunk (replicate x PSU counts, float64)
_CHUNK_BYTES = 32 * 2**20
_MAX_THREADS = 4


# --------------------------------------------------------------------------
# layout: the design structure the replicates are built on
# --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class _Layout:
    """Row -> PSU -> stratum structure (integer codes, PSUs sorted by stratum)."""

    psu: np.ndarray  # (n,) PSU code of each row, 0..P-1, PSUs numbered by stratum
    psu_stratum: np.ndarray  # (P,) stratum code of each PSU, non-decreasing
    stratum_start: np.ndarray  # (H,) first PSU of each stratum
    stratum_size: np.ndarray  # (H,) number of PSUs n_h
    fraction: np.ndarray  # (H,) stage-1 sampling fraction f_h (0 = no fpc)
    active: np.ndarray  # (H,) bool: stratum contributes to the variance
    stratum_labels: np.ndarray  # (H,) the user's stratum codes (for messages)

    @property
    def n(self) -> int:
        return int(self.psu.shape[0])

    @property
    def n_psu(self) -> int:
        return int(self.psu_stratum.shape[0])

    @property
    def n_strata(self) -> int:
        return int(self.stratum_size.shape[0])


def _codes(values: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..K-1 (in sorted order of the values) and the labels."""
    if values is None:
        return np.zeros(n, dtype=np.int64), np.array([0])
    values = np.asarray(values)
    if values.shape != (n,):
        raise DesignError(f"design codes have shape {values.shape}, expected ({n},)")
    if values.dtype.kind in "iub":
        labels, codes = np.unique(values, return_inverse=True)
    else:
        codes, labels = pd.factorize(pd.Series(values), sort=True)
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            raise DesignError(f"missing stratum or PSU code in row {row}: fill it in")
        labels = np.asarray(labels)
    return codes.astype(np.int64, copy=False), labels


def _build_layout(
    n: int,
    strata: np.ndarray | None,
    psu: np.ndarray | None,
    fraction: np.ndarray | float | None,
    *,
    lonely_psu: str,
    method: str,
) -> _Layout:
    h_code, h_labels = _codes(strata, n)
    if psu is None:
        raw_psu = np.arange(n, dtype=np.int64)
    else:
        raw_psu, _ = _codes(psu, n)
    # PSUs nested in strata: number the (stratum, psu) pairs, sorted by stratum
    key = h_code * (int(raw_psu.max(initial=0)) + 1) + raw_psu
    uniq, psu_code = np.unique(key, return_inverse=True)
    psu_stratum = uniq // (int(raw_psu.max(initial=0)) + 1)
    n_strata = h_labels.shape[0]
    size = np.bincount(psu_stratum, minlength=n_strata)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    # stage-1 sampling fraction, one value per stratum
    if fraction is None:
        f_h = np.zeros(n_strata)
    else:
        f_row = np.broadcast_to(np.asarray(fraction, dtype=float), (n,))
        if not np.isfinite(f_row).all():
            row = int(np.flatnonzero(~np.isfinite(f_row))[0])
            raise DesignError(f"sampling fraction missing in row {row}: give the fpc of every row")
        bad = (f_row < 0) | (f_row > 1 + 1e-12)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DesignError(
                f"sampling fraction {f_row[row]!r} in row {row} (stratum "
                f"{h_labels[h_code[row]]!r}) is outside [0, 1]: the fpc must not be "
                "smaller than the number of PSUs sampled"
            )
        lo = np.full(n_strata, np.inf)
        hi = np.full(n_strata, -np.inf)
        np.minimum.at(lo, h_code, f_row)
        np.maximum.at(hi, h_code, f_row)
        differs = hi - lo > 1e-9
        if differs.any():
            h = int(np.flatnonzero(differs)[0])
            raise DesignError(
                f"stratum {h_labels[h]!r} has several stage-1 fpc values "
                f"({lo[h]:g} .. {hi[h]:g}): the fpc must be constant within a stratum"
            )
        f_h = np.minimum(lo, 1.0)
    take_all = f_h >= 1 - 1e-12
    single = size < 2
    lonely = single & ~take_all
    if lonely.any():
        labels = ", ".join(repr(x) for x in h_labels[lonely][:5])
        if lonely_psu == "fail":
            raise LonelyPSUError(
                f"{int(lonely.sum())} stratum(s) have a single PSU ({labels}); "
                f"{method} replicates need two or more PSUs per stratum. Collapse strata, or "
                "set Design(lonely_psu='remove' or 'certainty')"
            )
        if lonely_psu in ("adjust", "average"):
            warnings.warn(
                f"lonely_psu={lonely_psu!r} has no replicate-weight analogue: the "
                f"single-PSU stratum(s) {labels} contribute zero variance (as R's "
                "as.svrepdesign does); collapse strata to keep their variance",
                SurveyWarning,
                stacklevel=4,
            )
    active = ~take_all & ~single
    return _Layout(
        psu=psu_code.astype(np.int64, copy=False),
        psu_stratum=psu_stratum.astype(np.int64, copy=False),
        stratum_start=start.astype(np.int64),
        stratum_size=size.astype(np.int64),
        fraction=np.where(take_all, 1.0, f_h),
        active=active,
        stratum_labels=h_labels,
    )


# --------------------------------------------------------------------------
# the replicate design
# --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class ReplicateDesign:
    """A set of replicate weights and the rule that turns them into variances.

    Build one with :func:`make_replicates` (from a ``Survey``),
    :func:`replicates_from_arrays` (from design arrays) or
    :func:`import_replicates` (published replicate-weight columns).

    Attributes
    ----------
    method : {"jk1", "jkn", "brr", "fay", "bootstrap", "other"}
        How the replicates were formed (``"other"``: imported as given).
    n_replicates : int
        Number of replicates R.
    scale : float
        Overall multiplier of the variance.
    rscales : numpy.ndarray
        Per-replicate multipliers (length R).
    mse : bool
        Centre the replicates on the full-sample estimate (True) or on their
        mean (False, R's default).
    weights : numpy.ndarray
        The full-sample weights the replicates belong to (length n).
    fay_rho : float or None
        Fay's perturbation factor (``"fay"``; 0 for ``"brr"``).
    seed : int or None
        Entropy of the bootstrap's random streams: the same seed gives the
        same replicates whatever the chunk size.
    df : int
        Degrees of freedom for intervals.
    lonely_psu : str
        The design's lonely-PSU rule that was applied.
    calibrated : bool
        True when the replicate weights were materialised and adjusted
        (recalibrated) after they were formed.
    """

    method: str
    n_replicates: int
    scale: float
    rscales: np.ndarray
    mse: bool
    weights: np.ndarray
    fay_rho: float | None = None
    seed: int | None = None
    df: int
    lonely_psu: str = "fail"
    calibrated: bool = False
    _layout: _Layout | None = field(default=None, repr=False)
    _repweights: np.ndarray | None = field(default=None, repr=False)  # (n, R) or None
    _brr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of rows the replicate weights cover."""
        return int(self.weights.shape[0])

    @property
    def materialised(self) -> bool:
        """True when the replicate weights are held as an n x R matrix."""
        return self._repweights is not None

    def __repr__(self) -> str:
        extra = f", fay_rho={self.fay_rho}" if self.method == "fay" else ""
        extra += f", seed={self.seed}" if self.seed is not None else ""
        return (
            f"ReplicateDesign(method={self.method!r}, n={self.n}, "
            f"n_replicates={self.n_replicates}, scale={self.scale:.6g}, mse={self.mse}, "
            f"df={self.df}{extra}{', calibrated' if self.calibrated else ''})"
        )


def _entropy(seed: int | np.random.Generator | None) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63 - 1))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return int(seed)
    raise ReplicateError(f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}")


def _stream(entropy: int, replicate: int) -> np.random.Generator:
    """The random stream of one bootstrap replicate (independent of chunking)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(replicate,))))


def _next_power_of_two(x: int) -> int:
    return 1 << max(int(x - 1).bit_length(), 0)


def replicates_from_arrays(
    method: str,
    *,
    weights: np.ndarray,
    strata: np.ndarray | None = None,
    psu: np.ndarray | None = None,
    fraction: np.ndarray | float | None = None,
    replicates: int | None = None,
    seed: int | np.random.Generator | None = None,
    fay_rho: float | None = None,
    mse: bool = False,
    lonely_psu: str = "fail",
    variance_strata: bool = False,
) -> ReplicateDesign:
    """Form replicate weights from design arrays.

    Parameters
    ----------
    method : {"jk1", "jkn", "brr", "fay", "bootstrap"}
        ``"jk1"``: delete one PSU at a time, strata ignored. ``"jkn"``: delete
        one PSU within its stratum. ``"brr"`` / ``"fay"``: balanced half
        samples from a Hadamard matrix, two PSUs per stratum. ``"bootstrap"``:
        Rao-Wu-Yue rescaling bootstrap with the (1 - f_h) adjustment.
    weights : numpy.ndarray
        Full-sample weights (length n).
    strata, psu : numpy.ndarray, optional
        Stratum and stage-1 cluster code of each row; ``psu=None`` makes every
        row its own PSU.
    fraction : numpy.ndarray or float, optional
        Stage-1 sampling fraction n_h / N_h of each row (0 or None: no fpc).
        Take-all strata (fraction 1) get no replicates.
    replicates : int, optional
        Bootstrap: number of replicates (default 500). BRR/Fay: order of the
        Hadamard matrix (a power of two larger than the number of strata; the
        smallest one by default). Not used by the jackknives.
    seed : int, numpy.random.Generator or None
        Bootstrap randomness; the entropy used is recorded in the result.
    fay_rho : float, optional
        Fay's factor in [0, 1) (``"fay"``: default 0.5).
    mse : bool, default=False
        Centre replicates on the full-sample estimate (True) or on their mean
        (False, as R's default ``survey.replicates.mse``).
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default="fail"
        The design's rule for strata with one PSU: ``"fail"`` raises, the
        others give such strata zero variance.
    variance_strata : bool, default=False
        BRR/Fay only: pair the PSUs of strata with more than two PSUs into
        variance strata of two (in PSU order); leftover PSUs of odd strata are
        paired across strata (collapsed strata, conservative).

    Returns
    -------
    ReplicateDesign

    Examples
    --------
    >>> import numpy as np
    >>> rep = replicates_from_arrays("jkn", weights=np.full(6, 10.0),
    ...                              strata=np.array([1, 1, 1, 2, 2, 2]))
    >>> rep.n_replicates, rep.df
    (6, 4)
    >>> y = np.array([[1.0], [2.0], [3.0], [4.0], [6.0], [8.0]])
    >>> float(replicate_variance(rep, rep.weights, y, None, np.zeros(6, int), 1)[0, 0])
    1500.0
    """
    method = str(method).lower()
    if method not in METHODS:
        raise ReplicateError(f"method must be one of {METHODS}, got {method!r}")
    if lonely_psu not in LONELY_PSU_RULES:
        raise ReplicateError(f"lonely_psu must be one of {LONELY_PSU_RULES}, got {lonely_psu!r}")
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1:
        raise WeightError(f"weights must be one-dimensional, got shape {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        bad = int(np.flatnonzero(~np.isfinite(weights) | (weights < 0))[0])
        raise WeightError(f"weight {weights[bad]!r} in row {bad} is missing or negative")
    n = weights.shape[0]
    if method == "jk1":
        if strata is not None and np.unique(np.asarray(strata)).shape[0] > 1:
            warnings.warn(
                "jk1 ignores the strata (it deletes one PSU at a time from the whole sample); "
                "use method='jkn' for a stratified design",
                SurveyWarning,
                stacklevel=3,
            )
        strata = None
        if fraction is not None:
            f = np.broadcast_to(np.asarray(fraction, dtype=float), (n,))
            if np.ptp(f) > 1e-9:
                raise DesignError("jk1 needs one sampling fraction for the whole sample; use 'jkn'")
    if method in ("jk1", "jkn") and replicates is not None:
        raise ReplicateError(f"{method} forms one replicate per PSU; do not give `replicates`")
    layout = _build_layout(n, strata, psu, fraction, lonely_psu=lonely_psu, method=method)
    h_of_psu = layout.psu_stratum
    n_h = layout.stratum_size.astype(float)
    design_df = int(layout.stratum_size[layout.active].sum() - layout.active.sum())
    common = dict(weights=weights, mse=bool(mse), lonely_psu=lonely_psu, _layout=layout)

    if method in ("jk1", "jkn"):
        act = layout.active[h_of_psu]
        n_rep = int(act.sum())
        if n_rep == 0:
            raise ReplicateError(
                "no stratum has two or more PSUs outside take-all strata: nothing to replicate"
            )
        f = layout.fraction[h_of_psu][act]
        nn = n_h[h_of_psu][act]
        if method == "jk1":
            scale = (nn[0] - 1) / nn[0]
            rscales = 1.0 - f
            df = n_rep - 1
        else:
            scale = 1.0
            rscales = (1.0 - f) * (nn - 1) / nn
            df = design_df
        return ReplicateDesign(
            method=method, n_replicates=n_rep, scale=float(scale), rscales=rscales, df=df, **common
        )

    if method == "bootstrap":
        n_rep = 500 if replicates is None else int(replicates)
        if n_rep < 2:
            raise ReplicateError(f"the bootstrap needs at least 2 replicates, got {replicates!r}")
        if not layout.active.any():
            raise ReplicateError("no stratum has two or more PSUs outside take-all strata")
        entropy = _entropy(seed)
        scale = 1.0 / n_rep if mse else 1.0 / (n_rep - 1)
        return ReplicateDesign(
            method="bootstrap",
            n_replicates=n_rep,
            scale=scale,
            rscales=np.ones(n_rep),
            df=design_df,
            seed=entropy,
            **common,
        )

    # BRR and Fay
    rho = 0.0 if method == "brr" else (0.5 if fay_rho is None else float(fay_rho))
    if method == "brr" and fay_rho not in (None, 0, 0.0):
        raise ReplicateError("brr has fay_rho = 0; use method='fay' for a Fay perturbation")
    if not 0 <= rho < 1:
        raise ReplicateError(f"fay_rho must be in [0, 1), got {fay_rho!r}")
    first, second, labels = _brr_pairs(layout, variance_strata=variance_strata)
    n_pairs = first.shape[0]
    if n_pairs == 0:
        raise ReplicateError("no stratum has two PSUs outside take-all strata: nothing to replicate")
    f_used = layout.fraction[layout.active]
    if (f_used > 0).any():
        warnings.warn(
            f"{method} ignores the finite population correction (sampling fractions up to "
            f"{f_used.max():.2f} in strata with replicates); use 'jkn' or 'bootstrap' to respect it",
            SurveyWarning,
            stacklevel=3,
        )
    order = _next_power_of_two(n_pairs + 1)
    if replicates is not None:
        order = int(replicates)
        if order & (order - 1) or order <= n_pairs:
            raise ReplicateError(
                f"replicates={replicates} for {method}: give a power of two larger than the "
                f"{n_pairs} variance strata (e.g. {_next_power_of_two(n_pairs + 1)})"
            )
    return ReplicateDesign(
        method=method,
        n_replicates=order,
        scale=1.0 / (order * (1.0 - rho) ** 2),
        rscales=np.ones(order),
        df=n_pairs,
        fay_rho=rho,
        _brr=(first, second, labels),
        **common,
    )


def _brr_pairs(layout: _Layout, *, variance_strata: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSU pairs (first, second) of the half-sample design and their stratum codes."""
    size = layout.stratum_size
    active = layout.active
    wrong = active & (size != 2)
    if wrong.any() and not variance_strata:
        h = int(np.flatnonzero(wrong)[0])
        raise ReplicateError(
            f"BRR/Fay need exactly two PSUs per stratum; stratum {layout.stratum_labels[h]!r} has "
            f"{int(size[h])} (and {int(wrong.sum())} strata in all). Pass variance_strata=True to "
            "pair PSUs into variance strata, or use 'jkn' or 'bootstrap'"
        )
    # PSU index within its stratum
    psu_h = layout.psu_stratum
    pos = np.arange(layout.n_psu) - layout.stratum_start[psu_h]
    keep = active[psu_h]
    npairs_h = size // 2
    paired = keep & (pos < 2 * npairs_h[psu_h])
    idx = np.flatnonzero(paired)
    first = idx[pos[idx] % 2 == 0]
    second = idx[pos[idx] % 2 == 1]
    leftovers = np.flatnonzero(keep & ~paired)  # last PSU of odd strata, in stratum order
    if leftovers.shape[0] % 2:
        h = int(psu_h[leftovers[-1]])
        raise ReplicateError(
            f"cannot form variance strata: an odd number ({leftovers.shape[0]}) of strata have an "
            f"odd number of PSUs (the last is {layout.stratum_labels[h]!r}); collapse two strata "
            "or use 'jkn' or 'bootstrap'"
        )
    first = np.concatenate([first, leftovers[0::2]])
    second = np.concatenate([second, leftovers[1::2]])
    return first, second, psu_h[first]


# --------------------------------------------------------------------------
# constructor from a Survey
# --------------------------------------------------------------------------
def _survey_arrays(survey: Any) -> dict[str, Any]:
    """Design arrays of a core ``Survey`` (adapts to the hooks it exposes)."""
    weights = np.asarray(survey.weights, dtype=float)
    design = survey.design
    n = weights.shape[0]
    strata = getattr(survey, "_strata_codes", None)
    psu = getattr(survey, "_psu_codes", None)
    fraction = getattr(survey, "_stage1_fraction", None)
    if strata is None and getattr(design, "strata", None) is not None:
        strata = survey._column(design.strata)
    if psu is None and getattr(design, "clusters", None) is not None:
        clusters = design.clusters
        first = clusters if isinstance(clusters, str) else clusters[0]
        psu = survey._column(first)
    if fraction is None and getattr(design, "fpc", None) is not None:
        fpc = design.fpc
        fpc1 = np.asarray(survey._column(fpc if isinstance(fpc, str) else fpc[0]), dtype=float)
        if (fpc1 > 1).any():
            _, h_codes = np.unique(np.zeros(n) if strata is None else np.asarray(strata), return_inverse=True)
            p = np.arange(n) if psu is None else pd.factorize(pd.Series(np.asarray(psu)))[0]
            key = h_codes.astype(np.int64) * (int(p.max()) + 1) + p
            psu_first = np.unique(key, return_index=True)[1]
            n_h = np.bincount(h_codes[psu_first], minlength=int(h_codes.max()) + 1)
            fraction = n_h[h_codes] / fpc1
        else:
            fraction = fpc1
    lonely = getattr(design, "lonely_psu", "fail")
    return dict(weights=weights, strata=strata, psu=psu, fraction=fraction, lonely_psu=lonely)


def make_replicates(
    survey: Any,
    method: str,
    *,
    replicates: int | None = None,
    seed: int | np.random.Generator | None = None,
    fay_rho: float | None = None,
    mse: bool = False,
    variance_strata: bool = False,
) -> ReplicateDesign:
    """Form replicate weights for a ``Survey`` from its design.

    Uses the design's strata, stage-1 clusters (PSUs) and stage-1 fpc; later
    stages are represented by their PSU (ultimate clusters), as in R.

    Parameters
    ----------
    survey : Survey
        The survey whose design and current weights the replicates follow.
    method : {"jk1", "jkn", "brr", "fay", "bootstrap"}
        See :func:`replicates_from_arrays`.
    replicates : int, optional
        Bootstrap replicates (default 500) or BRR/Fay Hadamard order.
    seed : int, numpy.random.Generator or None
        Bootstrap randomness (recorded in ``ReplicateDesign.seed``).
    fay_rho : float, optional
        Fay's factor (``"fay"``; default 0.5).
    mse : bool, default=False
        Centre on the full-sample estimate instead of the replicate mean.
    variance_strata : bool, default=False
        BRR/Fay: pair PSUs into variance strata of two.

    Returns
    -------
    ReplicateDesign

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(weights=np.full(4, 5.0), design=SimpleNamespace(lonely_psu="fail"),
    ...                     _strata_codes=np.array([0, 0, 1, 1]), _psu_codes=np.arange(4),
    ...                     _stage1_fraction=np.zeros(4))
    >>> make_replicates(s, "brr").n_replicates
    4
    """
    arrays = _survey_arrays(survey)
    steps = tuple(getattr(survey, "weighting", ()) or ())
    if steps:
        kinds = ", ".join(sorted({str(getattr(step, "kind", "?")) for step in steps}))
        warnings.warn(
            f"replicates formed after weighting ({kinds}) do not repeat it, so the variance "
            "ignores that step; form the replicates first (Survey.replicate) and then apply "
            "the weighting to the replicate survey",
            SurveyWarning,
            stacklevel=3,
        )
    return replicates_from_arrays(
        method,
        replicates=replicates,
        seed=seed,
        fay_rho=fay_rho,
        mse=mse,
        variance_strata=variance_strata,
        **arrays,
    )


# --------------------------------------------------------------------------
# replicate factors and weights (materialised on demand, in column blocks)
# --------------------------------------------------------------------------
class _Resampler:
    """Rao-Wu draws of the bootstrap: m_h = n_h - 1 PSUs with replacement per stratum.

    Replicate r always uses its own random stream (seed entropy, spawn key r),
    so any block of replicates, in any order or thread, gives the same counts.
    """

    def __init__(self, rep: ReplicateDesign) -> None:
        lay = rep._layout
        act_h = np.flatnonzero(lay.active)
        m_h = lay.stratum_size[act_h] - 1
        self.entropy = rep.seed
        self.n_psu = lay.n_psu
        self.start = np.repeat(lay.stratum_start[act_h], m_h)
        # n_h (1 - 2^-52): u * n_h then stays below n_h after rounding, for u < 1
        self.size = np.repeat(lay.stratum_size[act_h], m_h) * (1.0 - 2.0**-52)

    def counts(self, replicate: int) -> np.ndarray:
        """How often each PSU is drawn in one replicate (length P, float64)."""
        u = _stream(self.entropy, int(replicate)).random(self.start.shape[0])
        u *= self.size
        idx = u.astype(np.int64)
        idx += self.start
        return np.bincount(idx, minlength=self.n_psu).astype(float)


def _bootstrap_counts(rep: ReplicateDesign, replicates: np.ndarray) -> np.ndarray:
    """Resampling counts (len(replicates), P) of the Rao-Wu bootstrap."""
    sampler = _Resampler(rep)
    out = np.empty((replicates.shape[0], rep._layout.n_psu))
    for i, r in enumerate(replicates):
        out[i] = sampler.counts(int(r))
    return out


def _threads() -> int:
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))


def _bootstrap_lambda(lay: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Per-PSU lambda_h and multiplier lambda_h * n_h / m_h (0 in inactive strata)."""
    n_h = lay.stratum_size.astype(float)
    lam_h = np.where(lay.active, np.sqrt(np.clip(1.0 - lay.fraction, 0.0, 1.0)), 0.0)
    mult_h = np.where(lay.active, lam_h * n_h / np.maximum(n_h - 1, 1), 0.0)
    return lam_h[lay.psu_stratum], mult_h[lay.psu_stratum]


def _psu_factors(rep: ReplicateDesign, replicates: np.ndarray) -> np.ndarray:
    """Replicate factors per PSU, shape (P, len(replicates))."""
    lay = rep._layout
    P = lay.n_psu
    if rep.method == "bootstrap":
        lam, mult = _bootstrap_lambda(lay)
        counts = _bootstrap_counts(rep, replicates)
        return (1.0 - lam)[:, None] + mult[:, None] * counts.T
    if rep.method in ("jk1", "jkn"):
        act_psu = np.flatnonzero(lay.active[lay.psu_stratum])
        deleted = act_psu[replicates]
        h_del = lay.psu_stratum[deleted]
        n_h = lay.stratum_size.astype(float)
        out = np.ones((P, replicates.shape[0]))
        same = lay.psu_stratum[:, None] == h_del[None, :]
        if rep.method == "jk1":
            same[:] = True
        out[same] = np.broadcast_to((n_h[h_del] / (n_h[h_del] - 1))[None, :], same.shape)[same]
        out[deleted, np.arange(replicates.shape[0])] = 0.0
        return out
    # brr / fay
    first, second, _ = rep._brr
    rho = rep.fay_rho
    H = scipy.linalg.hadamard(rep.n_replicates)[replicates][:, 1 : first.shape[0] + 1].T  # (L, c)
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
    >>> rep = replicates_from_arrays("jk1", weights=np.ones(3))
    >>> replicate_factors(rep)
    array([[0. , 1.5, 1.5],
           [1.5, 0. , 1.5],
           [1.5, 1.5, 0. ]])
    """
    idx = _as_replicate_index(rep, replicates)
    if rep._repweights is not None:
        w = rep.weights
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(w[:, None] > 0, rep._repweights[:, idx] / w[:, None], 0.0)
    return _psu_factors(rep, idx)[rep._layout.psu]


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
    >>> rep = replicates_from_arrays("brr", weights=np.full(4, 10.0), strata=np.array([0, 0, 1, 1]))
    >>> replicate_weights(rep)
    array([[20.,  0., 20.,  0.],
           [ 0., 20.,  0., 20.],
           [20., 20.,  0.,  0.],
           [ 0.,  0., 20., 20.]])
    """
    idx = _as_replicate_index(rep, replicates)
    w = rep.weights if weights is None else np.asarray(weights, dtype=float)
    if rep._repweights is not None and weights is None:
        return rep._repweights[:, idx].copy()
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
    >>> rep = replicates_from_arrays("jk1", weights=np.full(3, 2.0))
    >>> replicate_weights_frame(rep).columns.tolist()
    ['repw_1', 'repw_2', 'repw_3']
    """
    W = replicate_weights(rep)
    return pd.DataFrame(W, columns=[f"{prefix}{r + 1}" for r in range(W.shape[1])])


def import_replicates(
    weights: np.ndarray,
    repweights: np.ndarray | pd.DataFrame,
    *,
    method: str = "other",
    scale: float | None = None,
    rscales: np.ndarray | float | None = None,
    mse: bool = False,
    combined_weights: bool = True,
    fay_rho: float | None = None,
    df: int | None = None,
) -> ReplicateDesign:
    """Replicate weights published with microdata (R's ``svrepdesign``).

    Parameters
    ----------
    weights : numpy.ndarray
        Full-sample weights (length n).
    repweights : numpy.ndarray or pandas.DataFrame
        n x R replicate weights (``combined_weights=True``) or factors.
    method : {"jk1", "jkn", "brr", "fay", "bootstrap", "other"}, default="other"
        Sets the default ``scale`` as R does: jk1 (R-1)/R, brr 1/R, fay
        1/(R (1-rho)^2), bootstrap 1/(R-1); jkn and other need ``scale`` (or
        default 1) and ``rscales``.
    scale : float, optional
    rscales : numpy.ndarray or float, optional
        Per-replicate multipliers (default 1).
    mse : bool, default=False
    combined_weights : bool, default=True
        False: ``repweights`` are factors to multiply by ``weights``.
    fay_rho : float, optional
        Fay's factor for ``method="fay"``.
    df : int, optional
        Degrees of freedom (default: rank of the replicate weights minus 1, as R).

    Returns
    -------
    ReplicateDesign

    Examples
    --------
    >>> import numpy as np
    >>> w = np.full(3, 2.0)
    >>> rep = import_replicates(w, [[0, 3, 3], [3, 0, 3], [3, 3, 0]], method="jk1")
    >>> round(rep.scale, 4), rep.df
    (0.6667, 2)
    """
    method = str(method).lower()
    if method not in _IMPORT_TYPES:
        raise ReplicateError(f"method must be one of {_IMPORT_TYPES}, got {method!r}")
    w = np.asarray(weights, dtype=float)
    if isinstance(repweights, pd.DataFrame):
        names = list(repweights.columns)
        W = repweights.to_numpy(dtype=float)
    else:
        W = np.asarray(repweights, dtype=float)
        names = None
    if W.ndim != 2 or W.shape[0] != w.shape[0]:
        raise ReplicateError(
            f"replicate weights have shape {W.shape}; expected ({w.shape[0]}, R) to match the weights"
        )
    bad = ~np.isfinite(W)
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        col = names[j] if names else f"replicate {j + 1}"
        raise WeightError(f"replicate weight missing in row {i}, column {col!r}")
    if not combined_weights:
        W = W * w[:, None]
    R = W.shape[1]
    rho = None
    if scale is None:
        if method == "jk1":
            scale = (R - 1) / R
        elif method == "brr":
            scale, rho = 1.0 / R, 0.0
        elif method == "fay":
            if fay_rho is None:
                raise ReplicateError("method='fay' needs fay_rho (e.g. 0.5)")
            rho = float(fay_rho)
            scale = 1.0 / (R * (1 - rho) ** 2)
        elif method == "bootstrap":
            scale = 1.0 / (R - 1)
        else:
            scale = 1.0
    if method == "jkn" and rscales is None:
        raise ReplicateError("method='jkn' needs rscales ((n_h - 1) / n_h of each replicate's stratum)")
    rs = np.broadcast_to(np.asarray(1.0 if rscales is None else rscales, dtype=float), (R,)).copy()
    if df is None:
        gram = W.T @ W
        df = int(np.linalg.matrix_rank(gram, tol=1e-10 * max(float(np.abs(gram).max()), 1e-300))) - 1
    return ReplicateDesign(
        method=method,
        n_replicates=R,
        scale=float(scale),
        rscales=rs,
        mse=bool(mse),
        weights=w.copy(),
        fay_rho=rho,
        df=int(df),
        _repweights=W.copy(),
    )


def replicates_from_columns(
    survey: Any,
    repweights: str | Sequence[str],
    *,
    method: str = "other",
    scale: float | None = None,
    rscales: np.ndarray | float | None = None,
    mse: bool = False,
    combined_weights: bool = True,
    fay_rho: float | None = None,
    df: int | None = None,
) -> ReplicateDesign:
    """Replicate weights held in columns of a survey's data (R ``svrepdesign``).

    Parameters
    ----------
    survey : Survey
        Its current weights are the full-sample weights.
    repweights : str or sequence of str
        Column names, or one regular expression matched against the column
        names (R: ``repweights = "pwwgt[1-9]"``), in data order.
    method, scale, rscales, mse, combined_weights, fay_rho, df
        As :func:`import_replicates`.

    Returns
    -------
    ReplicateDesign

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from types import SimpleNamespace
    >>> df = pd.DataFrame({"w": [2.0, 2.0, 2.0], "r1": [0.0, 3, 3], "r2": [3.0, 0, 3], "r3": [3.0, 3, 0]})
    >>> s = SimpleNamespace(weights=df.w.to_numpy(), data=df, _column=lambda c: df[c].to_numpy())
    >>> replicates_from_columns(s, "r[0-9]+", method="jk1").n_replicates
    3
    """
    import re

    columns = list(survey.data.columns)
    if isinstance(repweights, str):
        try:
            pattern = re.compile(repweights)
        except re.error as exc:
            raise ReplicateError(f"repweights {repweights!r} is not a valid regular expression: {exc}") from None
        names = [c for c in columns if isinstance(c, str) and pattern.fullmatch(c)]
        if not names:
            raise ReplicateError(
                f"no column matches repweights={repweights!r}; columns are {columns[:10]}"
            )
    else:
        names = list(repweights)
    W = np.column_stack([np.asarray(survey._column(c), dtype=float) for c in names])
    frame = pd.DataFrame(W, columns=names)
    return import_replicates(
        np.asarray(survey.weights, dtype=float),
        frame,
        method=method,
        scale=scale,
        rscales=rscales,
        mse=mse,
        combined_weights=combined_weights,
        fay_rho=fay_rho,
        df=df,
    )


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
        _layout=rep._layout,
        _repweights=W,
        _brr=rep._brr,
    )


# --------------------------------------------------------------------------
# variance
# --------------------------------------------------------------------------
def _check_inputs(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    w = np.asarray(weights, dtype=float)
    if w.shape != (rep.n,):
        raise ReplicateError(f"weights have {w.shape[0]} rows; the replicate design has {rep.n}")
    # equal up to rounding (a weighting step may recompute the same weights by another path)
    changed = (w != 0) & (np.abs(w - rep.weights) > 1e-9 * np.abs(rep.weights))
    if changed.any():
        row = int(np.flatnonzero(changed)[0])
        raise ReplicateError(
            f"the weights changed after the replicates were formed (row {row}: {rep.weights[row]:g} "
            f"-> {w[row]:g}); apply weighting steps to the replicate survey so that every replicate "
            "is reweighted too (reweight_replicates)"
        )
    y = np.asarray(numerator, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    x = None
    if denominator is not None:
        x = np.asarray(denominator, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape != y.shape:
            raise ReplicateError(f"denominator shape {x.shape} differs from numerator shape {y.shape}")
    if y.shape[0] != rep.n:
        raise ReplicateError(f"numerator has {y.shape[0]} rows; the replicate design has {rep.n}")
    d = np.asarray(domain, dtype=np.int64)
    if d.shape != (rep.n,) or (d >= n_domains).any() or (d < -1).any():
        raise ReplicateError(f"domain codes must be n integers in [-1, {n_domains})")
    return w, y, x, d


def _cell_matrix(rows: np.ndarray, d: np.ndarray, values: np.ndarray, n_rows: int, n_domains: int) -> sp.csr_matrix:
    """Sparse (n_rows, n_domains * k) matrix of values placed in domain-variable cells."""
    keep = d >= 0
    k = values.shape[1]
    r = np.repeat(rows[keep], k)
    c = (d[keep][:, None] * k + np.arange(k)[None, :]).ravel()
    v = values[keep].ravel()
    return sp.csr_matrix((v, (r, c)), shape=(n_rows, n_domains * k))


def replicate_totals(
    rep: ReplicateDesign,
    weights: np.ndarray,
    values: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    *,
    chunk: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Replicate deviations of domain totals, chunk by chunk.

    Yields ``(replicates, delta)`` where ``delta[i, d * k + j]`` is the
    replicate total minus the full-sample total of variable j in domain d for
    replicate ``replicates[i]``. For bootstrap, BRR/Fay and materialised
    weights; the jackknives use PSU totals directly (see
    :func:`replicate_variance`).

    Examples
    --------
    >>> import numpy as np
    >>> rep = replicates_from_arrays("brr", weights=np.ones(4), strata=np.array([0, 0, 1, 1]))
    >>> [d.ravel().tolist() for _, d in replicate_totals(rep, rep.weights, np.array([[1.], [2.], [3.], [5.]]),
    ...                                                   np.zeros(4, int), 1)]
    [[-3.0, -1.0, 1.0, 3.0]]
    """
    w = np.asarray(weights, dtype=float)
    vals = np.asarray(values, dtype=float)
    if vals.ndim == 1:
        vals = vals[:, None]
    n = w.shape[0]
    R = rep.n_replicates
    z = w[:, None] * vals
    if rep._repweights is not None:
        Z = _cell_matrix(np.arange(n), domain, vals, n, n_domains)  # y in cells
        full = np.asarray(Z.T @ w).ravel()
        fac_w = np.where(rep.weights > 0, w / np.where(rep.weights > 0, rep.weights, 1.0), 0.0)
        c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(n, 1))))
        for start in range(0, R, c):
            idx = np.arange(start, min(start + c, R))
            Wb = rep._repweights[:, idx] * fac_w[:, None]
            yield idx, np.asarray((Z.T @ Wb).T) - full[None, :]
        return
    lay = rep._layout
    if rep.method == "bootstrap":
        lam, mult = _bootstrap_lambda(lay)
        Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).tocsc()  # PSU totals in cells
        base = np.asarray(Zp.T @ lam).ravel()
        ZsT = (Zp.T @ sp.diags(mult)).tocsr()  # (m, P)
        sampler = _Resampler(rep)

        def one(r: int) -> np.ndarray:
            return ZsT @ sampler.counts(r) - base

        c = chunk or 32
        with ThreadPoolExecutor(max_workers=_threads()) as pool:
            for start in range(0, R, c):
                idx = np.arange(start, min(start + c, R))
                yield idx, np.vstack(list(pool.map(one, idx.tolist())))
        return
    if rep.method in ("brr", "fay"):
        first, second, _ = rep._brr
        Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains).tocsr()
        delta = (Zp[first] - Zp[second]) * (1.0 - rep.fay_rho)  # (L, m) sparse
        L = first.shape[0]
        c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(L, 1))))
        for start in range(0, R, c):
            idx = np.arange(start, min(start + c, R))
            H = scipy.linalg.hadamard(R)[idx][:, 1 : L + 1].astype(float)  # (c, L)
            yield idx, np.asarray((delta.T @ H.T).T)
        return
    # jackknife, generic (dense) path: used for small designs and tests
    c = chunk or max(1, min(R, _CHUNK_BYTES // (8 * max(lay.n_psu, 1))))
    Zp = _cell_matrix(lay.psu, domain, z, lay.n_psu, n_domains)
    for start in range(0, R, c):
        idx = np.arange(start, min(start + c, R))
        F = _psu_factors(rep, idx) - 1.0  # (P, c)
        yield idx, np.asarray(Zp.T @ F).T


def _finish(
    rep: ReplicateDesign,
    sum_e: np.ndarray,
    sum_se: np.ndarray,
    sum_se2: np.ndarray,
    sum_s: np.ndarray | float,
    count: np.ndarray | float,
) -> np.ndarray:
    """scale * sum_r s_r (e_r - mu)^2 from the sums over replicates (s_r = rscales)."""
    if rep.mse:
        v = sum_se2
    else:
        mu = sum_e / np.maximum(count, 1)
        v = sum_se2 - 2.0 * mu * sum_se + mu**2 * sum_s
    return rep.scale * np.maximum(v, 0.0)


def _ratio_dev(dn: np.ndarray, dd: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """(num + dn) / (den + dd) - num / den without cancellation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dn * den - num * dd) / (den * (den + dd))


def _jackknife_variance(
    rep: ReplicateDesign,
    w: np.ndarray,
    y: np.ndarray,
    x: np.ndarray | None,
    d: np.ndarray,
    n_domains: int,
) -> tuple[np.ndarray, np.ndarray]:
    """JK1/JKn variances from PSU totals in O(n + strata x domains).

    Replicate r deletes PSU j of stratum h; for a cell c (domain, variable)
    its total moves by (t_hc - n_h t_jc) / (n_h - 1). PSUs of h without rows
    in the cell all move by t_hc / (n_h - 1), so they are handled together.
    Returns (variance, number of replicates dropped for a zero denominator).
    """
    lay = rep._layout
    k = y.shape[1]
    keep = d >= 0
    psu_row = lay.psu[keep]
    d_row = d[keep]
    n_h = lay.stratum_size.astype(float)
    # replicate weight s_j = rscale of the replicate deleting PSU j (0 if none)
    act_psu = np.flatnonzero(lay.active[lay.psu_stratum])
    s_psu = np.zeros(lay.n_psu)
    s_psu[act_psu] = rep.rscales
    # (psu, domain) pairs present in the data
    pair_key = psu_row * n_domains + d_row
    pkeys, pinv = np.unique(pair_key, return_inverse=True)
    p_psu = pkeys // n_domains
    p_dom = pkeys % n_domains
    p_h = lay.psu_stratum[p_psu]

    def pair_totals(v: np.ndarray) -> np.ndarray:
        wv = w[keep][:, None] * v[keep]
        out = np.empty((pkeys.shape[0], k))
        for j in range(k):
            out[:, j] = np.bincount(pinv, weights=wv[:, j], minlength=pkeys.shape[0])
        return out

    tn = pair_totals(y)
    td = pair_totals(x) if x is not None else None
    # (stratum, domain) cells
    hd_key = p_h * n_domains + p_dom
    hkeys, hinv = np.unique(hd_key, return_inverse=True)
    hk_h = hkeys // n_domains
    hk_d = hkeys % n_domains

    def group(v: np.ndarray) -> np.ndarray:
        out = np.empty((hkeys.shape[0],) + v.shape[1:])
        if v.ndim == 1:
            return np.bincount(hinv, weights=v, minlength=hkeys.shape[0])
        for j in range(v.shape[1]):
            out[:, j] = np.bincount(hinv, weights=v[:, j], minlength=hkeys.shape[0])
        return out

    Tn_hd = group(tn)
    Td_hd = group(td) if td is not None else None
    # full-sample domain totals
    Nd = np.zeros((n_domains, k))
    np.add.at(Nd, hk_d, Tn_hd)
    Dd = None
    if Td_hd is not None:
        Dd = np.zeros((n_domains, k))
        np.add.at(Dd, hk_d, Td_hd)
    nh_pair = n_h[p_h][:, None]
    nh_hd = n_h[hk_h][:, None]
    act_pair = lay.active[p_h]
    act_hd = lay.active[hk_h]
    denom_pair = np.where(act_pair, nh_pair[:, 0] - 1, 1.0)[:, None]
    denom_hd = np.where(act_hd, nh_hd[:, 0] - 1, 1.0)[:, None]
    # deviations of present pairs and of the absent PSUs of each (h, d)
    dn_pair = (Tn_hd[hinv] - nh_pair * tn) / denom_pair
    dn_abs = Tn_hd / denom_hd
    if Dd is not None:
        dd_pair = (Td_hd[hinv] - nh_pair * td) / denom_pair
        dd_abs = Td_hd / denom_hd
        e_pair = _ratio_dev(dn_pair, dd_pair, Nd[p_dom], Dd[p_dom])
        e_abs = _ratio_dev(dn_abs, dd_abs, Nd[hk_d], Dd[hk_d])
    else:
        e_pair, e_abs = dn_pair, dn_abs
    # weights (rscales) and counts
    s_pair = np.where(act_pair, s_psu[p_psu], 0.0)[:, None]
    s_h_total = np.bincount(lay.psu_stratum, weights=s_psu, minlength=lay.n_strata)
    s_abs = (s_h_total[hk_h] - group(s_pair[:, 0]))[:, None]
    present = np.bincount(hinv, minlength=hkeys.shape[0])
    cnt_abs = np.where(act_hd, n_h[hk_h] - present, 0.0)[:, None]
    c_pair = act_pair.astype(float)[:, None]
    # replicates whose ratio is undefined (zero denominator) are dropped, as R does
    bad_pair = ~np.isfinite(e_pair) & (c_pair > 0)
    bad_abs = ~np.isfinite(e_abs) & (cnt_abs > 0)
    full_bad = ~np.isfinite(Nd / Dd) if Dd is not None else np.zeros((n_domains, k), bool)
    e_pair = np.where(np.isfinite(e_pair), e_pair, 0.0)
    e_abs = np.where(np.isfinite(e_abs), e_abs, 0.0)
    c_pair = c_pair * ~bad_pair
    cnt_abs = cnt_abs * ~bad_abs
    s_pair = s_pair * ~bad_pair
    s_abs = s_abs * ~bad_abs

    def by_domain(pair_v: np.ndarray, abs_v: np.ndarray) -> np.ndarray:
        out = np.zeros((n_domains, k))
        np.add.at(out, p_dom, pair_v)
        np.add.at(out, hk_d, abs_v)
        return out

    sum_e = by_domain(e_pair * c_pair, e_abs * cnt_abs)
    sum_se = by_domain(e_pair * s_pair, e_abs * s_abs)
    sum_se2 = by_domain(e_pair**2 * s_pair, e_abs**2 * s_abs)
    # replicates that do not touch the domain have e = 0 but count for the mean
    n_bad = by_domain(bad_pair.astype(float), bad_abs * np.where(act_hd, n_h[hk_h] - present, 0)[:, None])
    count = rep.n_replicates - n_bad
    sum_s_all = float(rep.rscales.sum())
    sum_s_bad = by_domain(bad_pair * np.where(act_pair, s_psu[p_psu], 0.0)[:, None],
                          bad_abs * (s_h_total[hk_h] - group(np.where(act_pair, s_psu[p_psu], 0.0)))[:, None])
    v = _finish(rep, sum_e, sum_se, sum_se2, sum_s_all - sum_s_bad, count)
    v[full_bad] = np.nan
    return v, n_bad


def replicate_variance(
    rep: ReplicateDesign,
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    domain: np.ndarray,
    n_domains: int,
) -> np.ndarray:
    """Replicate variances of domain totals or ratios.

    Parameters
    ----------
    rep : ReplicateDesign
    weights : numpy.ndarray
        Current full-sample weights (length n). They must be the weights the
        replicates belong to (``rep.weights``), except that rows may be set
        to zero (a domain that keeps the design).
    numerator : numpy.ndarray
        (n, k) values y.
    denominator : numpy.ndarray or None
        (n, k) values x for ratios sum(w y) / sum(w x); None for totals.
    domain : numpy.ndarray
        (n,) integer domain codes in [0, n_domains), -1 for rows outside
        every domain.
    n_domains : int

    Returns
    -------
    numpy.ndarray
        (n_domains, k) variances. A ratio whose full-sample denominator is 0
        has variance NaN; replicates with a zero denominator are left out
        with a ``SurveyWarning`` (R: ``na.action``).

    Examples
    --------
    A stratified sample, JKn: the variance of a total equals the textbook
    with-replacement formula sum_h n_h / (n_h - 1) sum_i (z_hi - zbar_h)^2
    (z = w y): 1.5 * 1400 + 2 * 3200 = 8500.

    >>> import numpy as np
    >>> w = np.array([10.0, 10, 10, 20, 20])
    >>> y = np.array([[1.0], [2], [6], [4], [8]])
    >>> rep = replicates_from_arrays("jkn", weights=w, strata=np.array([0, 0, 0, 1, 1]))
    >>> float(replicate_variance(rep, w, y, None, np.zeros(5, int), 1)[0, 0])
    8500.0
    """
    w, y, x, d = _check_inputs(rep, weights, numerator, denominator, domain, n_domains)
    k = y.shape[1]
    if rep._repweights is None and rep.method in ("jk1", "jkn"):
        v, n_bad = _jackknife_variance(rep, w, y, x, d, n_domains)
        _warn_dropped(n_bad)
        return v
    m = n_domains * k
    if x is None:
        full_n = full_d = None
    else:
        Z = _cell_matrix(np.arange(rep.n), d, np.hstack([y, x]), rep.n, n_domains)
        full = np.asarray(Z.T @ w).ravel().reshape(n_domains, 2 * k)
        full_n, full_d = full[:, :k].ravel(), full[:, k:].ravel()
    vals = y if x is None else np.hstack([y, x])
    kk = vals.shape[1]
    sum_e = np.zeros(m)
    sum_se = np.zeros(m)
    sum_se2 = np.zeros(m)
    sum_s = np.zeros(m)
    count = np.zeros(m)
    for idx, delta in replicate_totals(rep, w, vals, d, n_domains):
        delta = delta.reshape(-1, n_domains, kk)
        if x is None:
            e = delta.reshape(-1, m)
        else:
            dn = delta[:, :, :k].reshape(-1, m)
            dd = delta[:, :, k:].reshape(-1, m)
            e = _ratio_dev(dn, dd, full_n[None, :], full_d[None, :])
        s = rep.rscales[idx][:, None]
        ok = np.isfinite(e)
        e = np.where(ok, e, 0.0)
        sum_e += e.sum(axis=0)
        sum_se += (s * e).sum(axis=0)
        sum_se2 += (s * e**2).sum(axis=0)
        sum_s += (s * ok).sum(axis=0)
        count += ok.sum(axis=0)
    v = _finish(rep, sum_e, sum_se, sum_se2, sum_s, count).reshape(n_domains, k)
    n_bad = (rep.n_replicates - count).reshape(n_domains, k)
    if x is not None:
        full_bad = ~np.isfinite(full_n / full_d).reshape(n_domains, k)
        v[full_bad] = np.nan
        n_bad = np.where(full_bad, 0, n_bad)
    _warn_dropped(n_bad)
    return v


def _warn_dropped(n_bad: np.ndarray) -> None:
    if np.any(n_bad > 0):
        dom, var = (int(a[0]) for a in np.nonzero(n_bad > 0))
        warnings.warn(
            f"{int(n_bad.max())} replicate(s) have a zero denominator (first: domain {dom}, "
            f"variable {var}) and were left out of the variance, as R does; the domain is too "
            "small for these replicates, so treat its standard error with care",
            SurveyWarning,
            stacklevel=3,
        )
