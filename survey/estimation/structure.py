"""From data and a :class:`~survey.design.Design` to arrays: strata, units, fractions, weights.

Built once per :class:`~survey.estimation.survey.Survey` (and checked then):
integer codes of the strata and the units of every stage, the sampling
fractions from the fpc columns, and the per-stratum coefficients of the
variance engine (:class:`VarianceStructure`, used by
:func:`survey.estimation.variance.linearization_variance`).
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, fields
from typing import Any, Iterable

import numpy as np
import pandas as pd

from survey.design import Design
from survey.errors import ColumnError, DesignError, LonelyPSUError, SurveyWarning, WeightError
from survey.register.frame import check_code_types

__all__ = [
    "Stage",
    "VarianceStructure",
    "DesignArrays",
    "design_arrays",
    "design_weights",
    "fpc_fractions",
    "stage_coefficients",
    "sorted_codes",
    "sorted_codes_counts",
    "unknown_columns_message",
]


@dataclass(frozen=True, eq=False, kw_only=True)
class Stage:
    """One sampling stage, as integer codes per row plus per-stratum coefficients.

    ``units`` are row-level unit codes (units nested in strata), or ``None``
    when every row is its own unit, numbered in row order (element sampling:
    no n-length array of ``0..n-1`` is kept; :meth:`row_units` builds it on
    demand). ``unit_stratum`` is the stratum of each unit. ``sq_coef[h]`` multiplies the sum over units of squared unit totals and
    ``cross_coef[h]`` multiplies the squared stratum total, so that the
    contribution of stratum ``h`` is ``sq_coef * sum_i Z_i Z_i' - cross_coef * S S'``.
    """

    units: np.ndarray | None
    unit_stratum: np.ndarray
    n_strata: int
    n_units: int
    sq_coef: np.ndarray
    cross_coef: np.ndarray
    average_out: np.ndarray
    stratum_parent: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):  # read-only views: a Survey hands its structure out
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                view = value.view()
                view.flags.writeable = False
                object.__setattr__(self, f.name, view)

    @property
    def rows_are_units(self) -> bool:
        """True when every row is its own unit, in row order (``units is None``)."""
        return self.units is None

    def row_units(self) -> np.ndarray:
        """The unit of every row as an array (``0..n-1`` when the rows are the units).

        Examples
        --------
        >>> st = Stage(units=None, unit_stratum=np.array([0, 0, 1]), n_strata=2, n_units=3,
        ...            sq_coef=np.ones(2), cross_coef=np.ones(2), average_out=np.zeros(2, bool),
        ...            stratum_parent=np.zeros(2, dtype=np.intp))
        >>> st.row_units(), st.rows_are_units
        (array([0, 1, 2]), True)
        """
        return np.arange(self.n_units, dtype=np.intp) if self.units is None else self.units

    def units_per_stratum(self) -> np.ndarray:
        """Number of units in every stratum (``n_h``), from the coefficients.

        ``cross_coef = sq_coef / n_h`` wherever the stratum has a variance, so
        ``n_h`` is read off without touching the n-length codes; strata
        without a variance (take-all, lonely) get 0.

        Examples
        --------
        >>> sq, cross, avg = stage_coefficients(np.array([2, 4]), np.zeros(2), np.ones(2), "fail",
        ...                                     np.array(["a", "b"]), 1)
        >>> Stage(units=None, unit_stratum=np.array([0, 0, 1, 1, 1, 1]), n_strata=2, n_units=6,
        ...       sq_coef=sq, cross_coef=cross, average_out=avg,
        ...       stratum_parent=np.zeros(2, dtype=np.intp)).units_per_stratum()
        array([2., 4.])
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.cross_coef > 0, np.rint(self.sq_coef / self.cross_coef), 0.0)


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

    Examples
    --------
    >>> sq, cross, avg = stage_coefficients(np.array([2, 4]), np.array([0.5, 0.0]), np.ones(2),
    ...                                     "fail", np.array(["a", "b"]), 1)
    >>> sq, cross  # (1 - f) n / (n - 1) and that over n
    (array([1.        , 1.33333333]), array([0.5       , 0.33333333]))
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


@dataclass(frozen=True, kw_only=True, eq=False)
class DesignArrays:
    """A design as arrays, built once by :func:`design_arrays`.

    Only compact arrays are kept: one integer code per row for the strata
    (and for the units of clustered stages), per-stratum numbers otherwise.

    Attributes
    ----------
    strata_codes : numpy.ndarray of int
        Stratum of every row, ``0..H-1`` in sorted label order.
    strata_labels : numpy.ndarray
        The stratum labels (``["(all)"]`` without strata).
    psu_codes : numpy.ndarray of int or None
        Stage-1 unit of every row; ``None`` when every row is its own PSU
        (numbered in row order).
    stratum_fraction : numpy.ndarray
        Stage-1 sampling fraction of every stratum (0 without an fpc).
    structure : VarianceStructure
    fpc_probabilities : numpy.ndarray or None
        Inclusion probability of every row from the fpc of all stages (NaN
        where a stage has no fpc); only computed when the design gives
        neither weights nor probabilities (else ``None``).
    """

    strata_codes: np.ndarray
    strata_labels: np.ndarray
    psu_codes: np.ndarray | None
    stratum_fraction: np.ndarray
    structure: VarianceStructure
    fpc_probabilities: np.ndarray | None

    @property
    def stage1_fraction(self) -> np.ndarray:
        """Stage-1 sampling fraction of every row's stratum (an n-length array, built on demand)."""
        return self.stratum_fraction[self.strata_codes]


def sorted_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..K-1`` in sorted order of the values, and the sorted labels.

    Integer columns with a compact range use a lookup table (no sort, no
    hash); other columns ``pandas.factorize(sort=True)`` (missing values get -1).

    Parameters
    ----------
    values : pandas.Series or numpy.ndarray

    Returns
    -------
    codes : numpy.ndarray of int
    labels : numpy.ndarray

    Examples
    --------
    >>> sorted_codes(np.array([30, 10, 30, 20]))
    (array([2, 0, 2, 1]), array([10, 20, 30]))
    """
    codes, labels, _ = sorted_codes_counts(values)
    return codes, labels


def sorted_codes_counts(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`sorted_codes` and the number of rows of every code (``None`` when not counted).

    A read-only integer column that already holds the codes ``0..K-1`` (every
    one present) is returned as it is: no n-length copy.

    Examples
    --------
    >>> sorted_codes_counts(np.array([30, 10, 30, 20]))
    (array([2, 0, 2, 1]), array([10, 20, 30]), array([1, 1, 2]))
    """
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * arr.size + 1024:
            shifted = arr - lo if lo != 0 or arr.dtype != np.intp else arr
            counts = np.bincount(shifted, minlength=hi - lo + 1)
            present = counts > 0
            if lo == 0 and shifted is arr and present.all() and not arr.flags.writeable:
                return arr, np.arange(hi + 1, dtype=arr.dtype), counts  # already the codes
            lookup = np.cumsum(present, dtype=np.intp)
            lookup -= 1
            labels = np.flatnonzero(present) + lo
            codes = lookup[shifted]
            return codes, labels.astype(arr.dtype), counts[present]
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.intp, copy=False), np.asarray(uniques), None


def design_arrays(data: pd.DataFrame, design: Design) -> DesignArrays:
    """Strata, units of every stage, sampling fractions and variance coefficients, checked.

    Parameters
    ----------
    data : pandas.DataFrame
        The sample (has every column of ``design``).
    design : Design

    Returns
    -------
    DesignArrays

    Raises
    ------
    ColumnError
        Missing strata or cluster codes.
    DesignError
        An fpc that is not positive, varies within a stratum, or is smaller than the sample.
    LonelyPSUError
        A stratum with one PSU under ``lonely_psu="fail"``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b", "b"], "N": [10, 10, 3, 3, 3]})
    >>> arrays = design_arrays(df, sv.Design(strata="h", fpc="N"))
    >>> arrays.strata_codes, arrays.stage1_fraction, arrays.structure.df
    (array([0, 0, 1, 1, 1]), array([0.2, 0.2, 1. , 1. , 1. ]), 3)
    """
    n = len(data)
    if design.strata is not None:
        _check_no_missing(data, design.strata, "strata")
        check_code_types(data[design.strata], design.strata, "stratum")
        strata, labels, strata_counts = sorted_codes_counts(data[design.strata])
    else:
        strata, labels = np.zeros(n, dtype=np.intp), np.array(["(all)"], dtype=object)
        strata_counts = np.array([n])
    need_probs = design.weights is None and design.probs is None
    cluster_cols = design.clusters or (None,)
    stages: list[Stage] = []
    parent_units = strata  # stage-s strata are stage-(s-1) units
    parent_labels = labels
    multiplier = np.ones(int(strata.max()) + 1 if n else 1)  # per stratum of the stage
    probs_row = np.ones(n) if need_probs else None
    fpc_known = True
    df = None
    psu_codes: np.ndarray | None = None
    stratum_fraction = np.zeros(len(labels))
    for s, col in enumerate(cluster_cols):
        if not fpc_known:
            break
        n_strata = int(parent_units.max()) + 1
        if col is None:
            units = None  # every row its own unit
            n_units = n
            unit_stratum = parent_units  # shared, not copied
            if s == 0 and strata_counts is not None and strata_counts.size == n_strata:
                n_per_stratum = strata_counts
            else:
                n_per_stratum = np.bincount(parent_units, minlength=n_strata)
        else:
            _check_no_missing(data, col, "clusters")
            check_code_types(data[col], col, "cluster")
            key = pd.DataFrame({"p": parent_units, "u": data[col].to_numpy()})
            units = key.groupby(["p", "u"], sort=True).ngroup().to_numpy().astype(np.intp)
            n_units = int(units.max()) + 1
            unit_stratum = np.zeros(n_units, dtype=np.intp)
            unit_stratum[units] = parent_units
            n_per_stratum = np.bincount(unit_stratum, minlength=n_strata)
        fpc_col = design.fpc[s] if s < len(design.fpc) else None
        if fpc_col is not None:
            fraction = _stage_fraction(data, fpc_col, parent_units, n_per_stratum, parent_labels, s + 1)
        else:
            fraction = np.zeros(n_strata)
            fpc_known = False
        parent_of_stratum = np.zeros(n_strata, dtype=np.intp)
        if s > 0:
            parent_of_stratum = stages[-1].unit_stratum.copy()
        sq, cross, average_out = stage_coefficients(
            n_per_stratum,
            fraction,
            multiplier,
            design.lonely_psu,
            np.asarray(parent_labels, dtype=object),
            s + 1,
        )
        stages.append(
            Stage(
                units=units,
                unit_stratum=unit_stratum,
                n_strata=n_strata,
                n_units=n_units,
                sq_coef=sq,
                cross_coef=cross,
                average_out=average_out,
                stratum_parent=parent_of_stratum,
            )
        )
        if s == 0:
            df = n_units - n_strata
            psu_codes = units
            stratum_fraction = fraction
        if probs_row is not None:
            probs_row *= np.where(fraction > 0, fraction, np.nan)[parent_units]
        # the next stage's strata are this stage's units: carry the multiplier per unit
        multiplier = (multiplier * fraction)[unit_stratum]
        if units is not None:
            parent_units = units
            parent_labels = data[col].astype(str).to_numpy()
            lab = np.empty(n_units, dtype=object)
            lab[units] = parent_labels
            parent_labels = lab
        else:
            parent_units = np.arange(n, dtype=np.intp) if s + 1 < len(cluster_cols) else parent_units
            parent_labels = np.arange(n_units)
    return DesignArrays(
        strata_codes=strata,
        strata_labels=labels,
        psu_codes=psu_codes,
        stratum_fraction=stratum_fraction,
        structure=VarianceStructure(stages=tuple(stages), df=int(df)),
        fpc_probabilities=probs_row,
    )


def design_weights(
    data: pd.DataFrame, design: Design, fpc_probabilities: np.ndarray | None
) -> np.ndarray:
    """Design weights from the weights column, the probabilities column or the fpc, checked.

    Parameters
    ----------
    data : pandas.DataFrame
    design : Design
    fpc_probabilities : numpy.ndarray or None
        :attr:`DesignArrays.fpc_probabilities` (used when the design has
        neither weights nor probabilities but an fpc at every stage).

    Returns
    -------
    numpy.ndarray
        Weight 1 (with a ``SurveyWarning``) when the design gives none of them.
        A float64 weights column without missing values is returned as a
        read-only view of the data (no copy).

    Raises
    ------
    WeightError
        A weight that is not positive or a probability outside (0, 1], naming the row.

    Examples
    --------
    >>> import numpy as np, pandas as pd, survey as sv
    >>> df = pd.DataFrame({"p": [0.5, 0.25]})
    >>> design_weights(df, sv.Design(probs="p"), np.full(2, np.nan))
    array([2., 4.])
    """
    if design.weights is not None:
        w = _numeric(data, design.weights, "weights")
        _check_positive(w, design.weights, data.index, "weight")
        return w
    if design.probs is not None:
        p = _numeric(data, design.probs, "probs")
        bad = ~(np.isfinite(p) & (p > 0) & (p <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise WeightError(
                f"column {design.probs!r} must hold inclusion probabilities in (0, 1]; "
                f"row {data.index[i]!r} has {float(p[i]):g} ({int(bad.sum())} bad rows in all)"
            )
        return 1.0 / p
    if fpc_probabilities is None:
        fpc_probabilities = np.full(len(data), np.nan)
    if design.fpc and np.all(np.isfinite(fpc_probabilities)) and len(design.fpc) >= max(
        len(design.clusters), 1
    ):
        return 1.0 / fpc_probabilities
    warnings.warn(
        "no weights, probs or complete fpc given: assuming equal probability (weight 1)",
        SurveyWarning,
        stacklevel=3,
    )
    return np.ones(len(data))


def unknown_columns_message(missing: Iterable[str], columns: Iterable[Any], what: str) -> str:
    """The error message for unknown columns, suggesting close names.

    Examples
    --------
    >>> unknown_columns_message(["revenu"], ["revenue", "region"], "variable")
    "unknown variable column(s): 'revenu' (did you mean 'revenue'?); the data has 2 columns"
    """

    cols = [str(c) for c in columns]
    parts = []
    for m in missing:
        close = difflib.get_close_matches(str(m), cols, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        parts.append(f"{m!r}{hint}")
    return f"unknown {what} column(s): {', '.join(parts)}; the data has {len(cols)} columns"


def _check_no_missing(data: pd.DataFrame, col: str, role: str) -> None:
    isna = data[col].isna().to_numpy()
    if isna.any():
        rows = data.index[isna][:5].tolist()
        raise ColumnError(
            f"{role} column {col!r} has {int(isna.sum())} missing value(s), first at rows {rows}"
        )


def _numeric(data: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = data[col]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ColumnError(f"{role} column {col!r} must be numeric, it has dtype {s.dtype}")
    return s.to_numpy(dtype=float, na_value=np.nan)


def _all_positive_finite(v: np.ndarray) -> bool:
    """True when every value is finite and positive (two reductions, no n-length temporaries)."""
    if v.size == 0:
        return True
    lo, hi = v.min(), v.max()  # NaN propagates and fails both tests
    return bool(lo > 0 and hi < np.inf)


def _check_positive(w: np.ndarray, col: str, index: pd.Index, what: str) -> None:
    if _all_positive_finite(w):
        return
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise WeightError(
            f"{what} column {col!r} must be positive and not missing; row {index[i]!r} has "
            f"{float(w[i]):g} ({int(bad.sum())} bad rows in all)"
        )


def _stage_fraction(
    data: pd.DataFrame,
    col: str,
    strata: np.ndarray,
    n_per_stratum: np.ndarray,
    labels: np.ndarray,
    stage: int,
) -> np.ndarray:
    """Sampling fraction n/N per stratum from an fpc column (sizes or fractions)."""
    v = _numeric(data, col, "fpc")
    n_strata = n_per_stratum.size
    # the value of each stratum, then every row against it (no ufunc.at, no sort)
    value = np.zeros(n_strata)
    value[strata] = v  # some row's value; every row is then checked against it
    ref = value[strata]
    constant = bool(np.array_equal(v, ref))
    bad = None
    if not (constant and _all_positive_finite(value)):  # rows = stratum values: check those
        bad = ~(np.isfinite(v) & (v > 0))
    if bad is not None and bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"fpc column {col!r} must be positive and not missing; row {data.index[i]!r} has {float(v[i]):g}"
        )
    varying_row = None
    if not constant:
        varying_row = np.abs(v - ref) > 1e-9 * np.maximum(1.0, np.abs(v))
    del ref
    if varying_row is not None and varying_row.any():
        h = int(strata[np.flatnonzero(varying_row)[0]])
        in_h = v[strata == h]
        raise DesignError(
            f"fpc column {col!r} varies within stratum {labels[h]!r} at stage {stage} "
            f"(from {in_h.min():g} to {in_h.max():g}); it must be constant within each stratum"
        )
    return fpc_fractions(value, n_per_stratum, labels, col, stage)


def fpc_fractions(value: np.ndarray, n_per_stratum: np.ndarray, labels: np.ndarray, col: str,
                  stage: int) -> np.ndarray:
    """Sampling fractions ``n_h / N_h`` per stratum from an fpc given as population sizes
    (values > 1) or as fractions (values <= 1), as R ``svydesign(fpc=)``.

    Raises :class:`~survey.errors.DesignError` naming the stratum when a population size
    is smaller than the sample.

    Examples
    --------
    >>> fpc_fractions(np.array([10.0, 0.5]), np.array([2, 3]), np.array(["a", "b"]), "N", 1)
    array([0.2, 0.5])
    """
    is_fraction = value <= 1.0
    with np.errstate(divide="ignore"):
        pop = np.where(is_fraction, n_per_stratum / value, value)
    too_small = pop < n_per_stratum - 1e-9
    if too_small.any():
        h = int(np.flatnonzero(too_small)[0])
        raise DesignError(
            f"fpc column {col!r}: stratum {labels[h]!r} at stage {stage} has {n_per_stratum[h]} "
            f"sampled units but a population size of {pop[h]:g}; the population size cannot be "
            "smaller than the sample"
        )
    return np.minimum(n_per_stratum / pop, 1.0)
