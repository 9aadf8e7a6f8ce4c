"""The sample with its design (:class:`Survey`): checked once, immutable."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd

from survey.design import Design
from survey.errors import ColumnError, DesignError, SurveyWarning, WeightError
from survey.estimation.variance import (
    Stage,
    VarianceStructure,
    stage_coefficients,
)

__all__ = ['Survey', 'WeightingStep']


@dataclass(frozen=True, kw_only=True, eq=False)
class WeightingStep:
    """One weighting step applied to a :class:`Survey` (calibration, trimming, ...).

    ``model`` is the calibration model matrix ``X`` (n x p) whose weighted
    regression residuals replace the scores in the variance (GREG variance,
    as R ``svyrecvar``), or a zero-argument callable that builds it when a
    variance first needs it; ``None`` when the step does not change the
    variance structure. ``input_weights`` are the weights before the step.
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


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.intp), np.asarray(uniques)


class Survey:
    """A sample and its design: immutable, checked once, ready to estimate.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per sampled unit (respondents and, after nonresponse
        adjustment, nonrespondents with weight zero).
    design : Design
        The columns that carry the design.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b", "b"], "N": [10, 10, 3, 3, 3],
    ...                    "y": [1.0, 2.0, 5.0, 6.0, 7.0]})
    >>> s = sv.Survey(df, sv.Design(strata="h", fpc="N"))
    >>> s.total("y").table()[["variable", "estimate", "se"]]
      variable  estimate        se
    0        y      33.0  4.472136
    """

    __slots__ = (
        "_data",
        "_design",
        "_weights",
        "_structure",
        "_mask",
        "_weighting",
        "_replicates",
        "_strata_codes",
        "_strata_labels",
        "_psu_codes",
        "_stage1_fraction",
    )

    def __init__(self, data: pd.DataFrame, design: Design) -> None:
        if not isinstance(data, pd.DataFrame):
            raise ColumnError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if not isinstance(design, Design):
            raise DesignError(f"design must be a survey.Design, got {type(design).__name__}")
        missing = [c for c in design.columns if c not in data.columns]
        if missing:
            raise ColumnError(_unknown_columns_message(missing, data.columns, "design"))
        if len(data) == 0:
            raise DesignError("the sample has no rows")
        self._data = data
        self._design = design
        self._mask = None
        self._weighting: tuple[WeightingStep, ...] = ()
        self._replicates = None
        self._build()

    # -- construction -----------------------------------------------------
    def _build(self) -> None:
        data, design = self._data, self._design
        n = len(data)
        if design.strata is not None:
            _check_no_missing(data, design.strata, "strata")
            strata, labels = _codes(data[design.strata])
        else:
            strata, labels = np.zeros(n, dtype=np.intp), np.array(["(all)"], dtype=object)
        self._strata_codes, self._strata_labels = strata, labels
        cluster_cols = design.clusters or (None,)
        stages: list[Stage] = []
        parent_units = strata  # stage-s strata are stage-(s-1) units
        parent_labels = labels
        multiplier_row = np.ones(n)
        probs_row = np.ones(n)
        fpc_known = True
        df = None
        for s, col in enumerate(cluster_cols):
            if not fpc_known:
                break
            if col is None:
                units = np.arange(n, dtype=np.intp)
            else:
                _check_no_missing(data, col, "clusters")
                key = pd.DataFrame({"p": parent_units, "u": data[col].to_numpy()})
                units = key.groupby(["p", "u"], sort=True).ngroup().to_numpy().astype(np.intp)
            n_units = int(units.max()) + 1
            n_strata = int(parent_units.max()) + 1
            unit_stratum = np.zeros(n_units, dtype=np.intp)
            unit_stratum[units] = parent_units
            n_per_stratum = np.bincount(unit_stratum, minlength=n_strata)
            fpc_col = design.fpc[s] if s < len(design.fpc) else None
            if fpc_col is not None:
                fraction = _stage_fraction(data, fpc_col, parent_units, n_per_stratum, parent_labels, s + 1)
            else:
                fraction = np.zeros(n_strata)
                fpc_known = False
            stratum_multiplier = np.zeros(n_strata)
            stratum_multiplier[parent_units] = multiplier_row
            parent_of_stratum = np.zeros(n_strata, dtype=np.intp)
            if s > 0:
                parent_of_stratum[parent_units] = stages[-1].unit_stratum[parent_units]
            sq, cross, average_out = stage_coefficients(
                n_per_stratum,
                fraction,
                stratum_multiplier,
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
                self._psu_codes = units
                self._stage1_fraction = fraction[parent_units]
            probs_row = probs_row * np.where(fraction > 0, fraction, np.nan)[parent_units]
            multiplier_row = multiplier_row * fraction[parent_units]
            parent_units = units
            if col is not None:
                parent_labels = data[col].astype(str).to_numpy()
                lab = np.empty(n_units, dtype=object)
                lab[units] = parent_labels
                parent_labels = lab
            else:
                parent_labels = np.arange(n_units)
        self._structure = VarianceStructure(
            stages=tuple(stages), df=int(df)
        )
        self._weights = self._design_weights(probs_row)

    def _design_weights(self, probs_from_fpc: np.ndarray) -> np.ndarray:
        data, design = self._data, self._design
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
        if design.fpc and np.all(np.isfinite(probs_from_fpc)) and len(design.fpc) >= max(
            len(design.clusters), 1
        ):
            return 1.0 / probs_from_fpc
        warnings.warn(
            "no weights, probs or complete fpc given: assuming equal probability (weight 1)",
            SurveyWarning,
            stacklevel=3,
        )
        return np.ones(len(data))

    # -- internal constructors ---------------------------------------------
    def _copy(self) -> "Survey":
        new = object.__new__(Survey)
        for name in Survey.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        return new

    def _reweighted(self, weights: np.ndarray, *, step: WeightingStep) -> "Survey":
        """A new Survey with new weights and ``step`` appended to :attr:`weighting`."""
        weights = np.asarray(weights, dtype=float)
        if weights.shape != self._weights.shape:
            raise WeightError(
                f"new weights have shape {weights.shape}, the sample has {self._weights.shape[0]} rows"
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise WeightError("weighting produced missing, infinite or negative weights")
        new = self._copy()
        new._weights = weights
        new._weighting = self._weighting + (step,)
        return new

    def _with_replicates(self, replicates: Any) -> "Survey":
        new = self._copy()
        new._replicates = replicates
        return new

    # -- public properties -------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        """The sample data (never modified)."""
        return self._data

    @property
    def design(self) -> Design:
        """The design spec."""
        return self._design

    @property
    def weights(self) -> np.ndarray:
        """Current weights (a read-only copy)."""
        w = self._weights.copy()
        w.flags.writeable = False
        return w

    @property
    def weighting(self) -> tuple[WeightingStep, ...]:
        """Weighting steps applied so far, oldest first."""
        return self._weighting

    @property
    def replicates(self) -> Any:
        """The replicate-weight design, or ``None`` for linearisation."""
        return self._replicates

    @property
    def df(self) -> int:
        """Design degrees of freedom: number of PSUs minus number of strata."""
        return self._structure.df

    @property
    def in_domain(self) -> np.ndarray:
        """Boolean mask of rows inside the current subset."""
        return np.ones(len(self._data), bool) if self._mask is None else self._mask.copy()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        d = self._design
        parts = [f"{len(self._data)} rows", f"{self._structure.stages[0].n_strata} strata"]
        if d.clusters:
            parts.append(f"{self._structure.stages[0].n_units} PSUs")
        if self._mask is not None:
            parts.append(f"subset of {int(self._mask.sum())} rows")
        if self._weighting:
            parts.append("weighting: " + ", ".join(s.kind for s in self._weighting))
        if self._replicates is not None:
            parts.append(f"replicates: {getattr(self._replicates, 'method', '?')}")
        return f"<Survey {'; '.join(parts)}>"

    # -- helpers -----------------------------------------------------------
    def _column(self, name: str) -> np.ndarray:
        if name not in self._data.columns:
            raise ColumnError(_unknown_columns_message([name], self._data.columns, "variable"))
        return self._data[name].to_numpy()

    def subset(self, mask_or_query: Any) -> "Survey":
        """Restrict estimation to a subpopulation, keeping the whole design.

        Rows outside the subset keep their place in strata and PSUs with zero
        contribution, so standard errors are those of a domain (R ``subset``).

        Parameters
        ----------
        mask_or_query : array-like of bool or str
            A boolean mask aligned with the rows, or a ``DataFrame.query`` string.

        Returns
        -------
        Survey

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> sv.Survey(df, sv.Design(strata="h", weights="w")).subset("y > 1.5").total("y").estimate
        array([30.])
        """
        if isinstance(mask_or_query, str):
            try:
                mask = self._data.eval(mask_or_query)
            except Exception as exc:  # pandas raises many types
                raise ColumnError(f"cannot evaluate subset {mask_or_query!r}: {exc}") from exc
        else:
            mask = mask_or_query
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self._data),):
            raise ColumnError(
                f"subset needs a boolean mask of length {len(self._data)}, got dtype "
                f"{mask.dtype} and shape {mask.shape}"
            )
        new = self._copy()
        new._mask = mask if self._mask is None else (self._mask & mask)
        return new

    def assign(self, **columns: Any) -> "Survey":
        """The same design, weights and weighting steps, with new or replaced data columns.

        Design columns (strata, clusters, weights, probs, fpc) cannot be replaced:
        build a new :class:`Survey` for a new design.

        Parameters
        ----------
        **columns
            Column name to values (array-like aligned with the rows, or a scalar).

        Returns
        -------
        Survey

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> s = sv.Survey(pd.DataFrame({"w": [2.0, 2.0], "y": [1.0, 3.0]}), sv.Design(weights="w"))
        >>> s.assign(y2=lambda d: d.y * 2).total("y2").estimate
        array([16.])
        """
        clash = sorted(set(columns) & set(self._design.columns))
        if clash:
            raise ColumnError(
                f"assign cannot replace design column(s) {clash}; build a new Survey instead"
            )
        new = self._copy()
        new._data = self._data.assign(**columns)
        if len(new._data) != len(self._data):
            raise ColumnError("assign must keep the number of rows")
        return new

    def replicate(
        self,
        method: Literal["jk1", "jkn", "brr", "fay", "bootstrap"],
        *,
        replicates: int | None = None,
        seed: Any = None,
        fay_rho: float | None = None,
        mse: bool = False,
        variance_strata: bool = False,
    ) -> "Survey":
        """The same sample with replicate-weight variance instead of linearisation.

        Parameters
        ----------
        method : {"jk1", "jkn", "brr", "fay", "bootstrap"}
            Delete-one jackknife (unstratified / stratified), balanced repeated
            replication, Fay's BRR, or the Rao-Wu-Yue rescaling bootstrap with
            the finite population correction.
        replicates : int, optional
            Number of bootstrap replicates (default 500) or BRR half-samples.
        seed : int or numpy.random.Generator, optional
            For the bootstrap; recorded in ``Survey.replicates.seed``.
        fay_rho : float, optional
            Fay's perturbation factor (``method="fay"``).
        mse : bool, default=False
            Centre replicate deviations at the full-sample estimate (R ``mse``).
        variance_strata : bool, default=False
            BRR/Fay: form variance strata of two PSUs when the design has others.

        Returns
        -------
        Survey
            Its estimators report replicate standard errors; calibration and
            nonresponse adjustment applied afterwards are repeated in every replicate.

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
        >>> s.replicate("jkn").total("y").se.round(6)  # equals linearisation for a total
        array([12.649111])
        """
        from survey.estimation.replicate import make_replicates

        return self._with_replicates(
            make_replicates(
                self,
                method,
                replicates=replicates,
                seed=seed,
                fay_rho=fay_rho,
                mse=mse,
                variance_strata=variance_strata,
            )
        )

    # -- estimators (defined in survey.estimation.estimate, survey.estimation.quantile) -----------
    # -- weighting (defined in survey.estimation.calibrate; each returns a new Survey) --
    from survey.estimation.calibrate import (
        adjust_nonresponse,
        calibrate,
        calibration_report,
        poststratify,
        rake,
        trim_weights,
    )
    from survey.estimation.estimate import (  # noqa: E402
        mean,
        proportion,
        ratio,
        ratio_total,
        total,
    )
    from survey.estimation.quantile import quantile  # noqa: E402


def _unknown_columns_message(missing: Iterable[str], columns: Iterable[Any], what: str) -> str:
    import difflib

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


def _check_positive(w: np.ndarray, col: str, index: pd.Index, what: str) -> None:
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
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"fpc column {col!r} must be positive and not missing; row {data.index[i]!r} has {float(v[i]):g}"
        )
    n_strata = n_per_stratum.size
    lo = np.full(n_strata, np.inf)
    hi = np.full(n_strata, -np.inf)
    np.minimum.at(lo, strata, v)
    np.maximum.at(hi, strata, v)
    varying = hi - lo > 1e-9 * np.maximum(1.0, np.abs(hi))
    if varying.any():
        h = int(np.flatnonzero(varying)[0])
        raise DesignError(
            f"fpc column {col!r} varies within stratum {labels[h]!r} at stage {stage} "
            f"(from {lo[h]:g} to {hi[h]:g}); it must be constant within each stratum"
        )
    value = hi
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
