"""Replicate designs: JK1, JKn, BRR, Fay and the fpc-respecting bootstrap.

A :class:`ReplicateDesign` describes a set of replicate weights for one
sample: how they are formed (``method``) and how their spread becomes a
variance (``scale``, ``rscales``, ``mse``, the conventions of R's
``svrepdesign``)::

    v = scale * sum_r rscales[r] * (theta_r - centre) ** 2
    centre = theta_hat (mse=True) or mean_r theta_r (mse=False)

This module forms the designs: from design arrays
(:func:`replicates_from_arrays`), from a ``Survey`` (:func:`make_replicates`)
or from published replicate-weight columns (:func:`import_replicates`,
:func:`replicates_from_columns`). The replicate weights themselves are in
:mod:`survey.estimation.replicate_weights`, the variances in
:mod:`survey.estimation.replicate_variance`.

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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from survey.design import LONELY_PSU_RULES
from survey.errors import (
    DesignError,
    LonelyPSUError,
    ReplicateError,
    SurveyWarning,
    WeightError,
)

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = [
    "ReplicateDesign",
    "ReplicateLayout",
    "make_replicates",
    "replicates_from_arrays",
    "import_replicates",
    "replicates_from_columns",
    "METHODS",
]

METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap")
_IMPORT_TYPES = ("jk1", "jkn", "brr", "fay", "bootstrap", "other")

# --------------------------------------------------------------------------
# layout: the design structure the replicates are built on
# --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class ReplicateLayout:
    """Row -> PSU -> stratum structure the replicates are built on (integer codes).

    PSUs are numbered by stratum (``psu_stratum`` is non-decreasing), so the
    PSUs of stratum ``h`` are ``stratum_start[h] .. stratum_start[h] +
    stratum_size[h] - 1``. Built by :func:`replicates_from_arrays`.

    Examples
    --------
    >>> rep = replicates_from_arrays("jkn", weights=np.ones(4), strata=np.array([1, 1, 2, 2]))
    >>> rep.layout.psu_stratum, rep.layout.n_strata
    (array([0, 0, 1, 1]), 2)
    """

    psu: np.ndarray  # (n,) PSU code of each row, 0..P-1, PSUs numbered by stratum
    psu_stratum: np.ndarray  # (P,) stratum code of each PSU, non-decreasing
    stratum_start: np.ndarray  # (H,) first PSU of each stratum
    stratum_size: np.ndarray  # (H,) number of PSUs n_h
    fraction: np.ndarray  # (H,) stage-1 sampling fraction f_h (0 = no fpc)
    active: np.ndarray  # (H,) bool: stratum contributes to the variance
    stratum_labels: np.ndarray  # (H,) the user's stratum codes (for messages)
    adjust_strata: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # (L,) JKn under lonely_psu="adjust": strata with one PSU that get an extra replicate
    # (R as.svrepdesign): the PSU deleted, every other unit multiplied by H / (H - 1)

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.psu.shape[0])

    @property
    def n_psu(self) -> int:
        """Number of PSUs P."""
        return int(self.psu_stratum.shape[0])

    @property
    def n_strata(self) -> int:
        """Number of strata H."""
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
) -> ReplicateLayout:
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
        if lonely_psu in ("adjust", "average") and method != "jkn":
            warnings.warn(
                f"lonely_psu={lonely_psu!r} is applied to {method} replicates as 'remove': the "
                f"single-PSU stratum(s) {labels} contribute zero variance; use method='jkn' "
                "(which follows R's as.svrepdesign for these rules) or collapse strata "
                "(survey.collapse_strata) to keep their variance",
                SurveyWarning,
                stacklevel=4,
            )
    active = ~take_all & ~single
    adjust = np.flatnonzero(lonely) if (lonely_psu == "adjust" and method == "jkn") else np.empty(0, np.int64)
    return ReplicateLayout(
        psu=psu_code.astype(np.int64, copy=False),
        psu_stratum=psu_stratum.astype(np.int64, copy=False),
        stratum_start=start.astype(np.int64),
        stratum_size=size.astype(np.int64),
        fraction=np.where(take_all, 1.0, f_h),
        active=active,
        stratum_labels=h_labels,
        adjust_strata=adjust.astype(np.int64),
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
    layout : ReplicateLayout or None
        The strata and PSUs the replicates are formed on (``None`` for
        imported weights).
    repweights : numpy.ndarray or None
        The n x R replicate weights when they are held as a matrix (imported
        or recalibrated), else ``None`` (formed on demand from ``layout``).
    half_samples : tuple of numpy.ndarray or None
        BRR/Fay: the first and second PSU of every variance stratum and its
        stratum code.
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
    layout: ReplicateLayout | None = field(default=None, repr=False)
    repweights: np.ndarray | None = field(default=None, repr=False)
    half_samples: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of rows the replicate weights cover."""
        return int(self.weights.shape[0])

    @property
    def materialised(self) -> bool:
        """True when the replicate weights are held as an n x R matrix."""
        return self.repweights is not None

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
        The design's rule for strata with one PSU: ``"fail"`` raises. JKn
        follows R ``as.svrepdesign``: ``"remove"`` and ``"certainty"`` form no
        replicate for the stratum; ``"average"`` neither, and multiplies the
        variance by (PSUs / replicates); ``"adjust"`` adds one replicate per
        such stratum, deleting its PSU and multiplying every other unit by
        ``H / (H - 1)``, with rscale ``(H - 1) / H``. The other methods give
        such strata zero variance (with a warning for "adjust"/"average").
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
    >>> from survey.estimation.replicate_variance import replicate_variance
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
    common = dict(weights=weights, mse=bool(mse), lonely_psu=lonely_psu, layout=layout)

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
            # lonely strata as R's as.svrepdesign (jknweights): "adjust" adds one replicate
            # per lonely stratum (rscale (H-1)/H); "average" rescales by PSUs / replicates
            H = layout.n_strata
            n_extra = int(layout.adjust_strata.shape[0])
            scale = 1.0
            rscales = np.concatenate([(1.0 - f) * (nn - 1) / nn, np.full(n_extra, (H - 1.0) / H)])
            n_rep += n_extra
            df = design_df + n_extra
            n_lonely = int(((layout.stratum_size == 1) & (layout.fraction < 1 - 1e-12)).sum())
            if lonely_psu == "average" and n_lonely:
                scale = layout.n_psu / (layout.n_psu - n_lonely)
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
        half_samples=(first, second, labels),
        **common,
    )


def _brr_pairs(layout: ReplicateLayout, *, variance_strata: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
def _survey_arrays(survey: Survey | Any) -> dict[str, Any]:
    """Design arrays of a ``Survey`` (or of an object with ``weights``, ``design`` and ``column``)."""
    weights = np.asarray(survey.weights, dtype=float)
    design = survey.design
    n = weights.shape[0]
    strata = getattr(survey, "strata_codes", None)
    psu = getattr(survey, "psu_codes", None)
    fraction = getattr(survey, "stage1_fraction", None)
    if strata is None and getattr(design, "strata", None) is not None:
        strata = survey.column(design.strata)
    if psu is None and getattr(design, "clusters", None) is not None:
        clusters = design.clusters
        first = clusters if isinstance(clusters, str) else clusters[0]
        psu = survey.column(first)
    if fraction is None and getattr(design, "fpc", None) is not None:
        fpc = design.fpc
        fpc1 = np.asarray(survey.column(fpc if isinstance(fpc, str) else fpc[0]), dtype=float)
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
    survey: Survey,
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
        The survey whose design and current weights the replicates follow
        (any object with ``weights``, ``design`` and ``column(name)`` will do).
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
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [5.0, 5, 5, 5]})
    >>> make_replicates(sv.Survey(df, sv.Design(strata="h", weights="w")), "brr").n_replicates
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
        repweights=W.copy(),
    )


def replicates_from_columns(
    survey: Survey,
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
    >>> s = SimpleNamespace(weights=df.w.to_numpy(), data=df, column=lambda c: df[c].to_numpy())
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
    W = np.column_stack([np.asarray(survey.column(c), dtype=float) for c in names])
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
