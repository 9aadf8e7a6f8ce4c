"""The sample with its design (:class:`Survey`): checked once, immutable.

A :class:`Survey` holds the data, the :class:`~survey.design.Design`, the
current weights and the weighting steps applied so far. Its methods are thin:
the estimators are in :mod:`survey.estimation.estimate` and
:mod:`survey.estimation.quantile`, the weighting in
:mod:`survey.estimation.weighting` and :mod:`survey.estimation.nonresponse`,
the replicate designs in :mod:`survey.estimation.replicate`. Those modules use
the Survey's public, read-only state (:attr:`Survey.weights`,
:attr:`Survey.variance_structure`, :attr:`Survey.strata_codes`, ...) and build
new surveys with :meth:`Survey.reweighted` and :meth:`Survey.with_replicates`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.design import Design
from survey.errors import ColumnError, DesignError, ReplicateError, WeightError
from survey.estimation.calibration import Method
from survey.estimation.domains import NaPolicy
from survey.estimation.estimate import Deff
from survey.estimation.estimate import mean as _mean
from survey.estimation.estimate import proportion as _proportion
from survey.estimation.estimate import ratio as _ratio
from survey.estimation.estimate import ratio_total as _ratio_total
from survey.estimation.estimate import total as _total
from survey.estimation.nonresponse import adjust_nonresponse as _adjust_nonresponse
from survey.estimation.pps import PpsStructure, pps_structure
from survey.estimation.quantile import QuantileEstimate
from survey.estimation.quantile import quantile as _quantile
from survey.estimation.lonely import lonely_strata as _lonely_strata
from survey.estimation.replicate import (
    ReplicateDesign,
    import_replicates,
    make_replicates,
    replicates_from_columns,
)
from survey.estimation.results import Estimate
from survey.estimation.checks import check_weights_fpc
from survey.estimation.structure import (
    VarianceStructure,
    design_arrays,
    design_weights,
    unknown_columns_message,
)
from survey.estimation.variance import WeightingStep
from survey.estimation.weighting import calibrate as _calibrate
from survey.estimation.weighting import poststratify as _poststratify
from survey.estimation.weighting import rake as _rake
from survey.estimation.weighting import trim_weights as _trim_weights
from survey.estimation.weighting_steps import WeightingReport
from survey.estimation.weighting_steps import calibration_report as _calibration_report

__all__ = ["Survey", "WeightingStep"]


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy)."""
    view = a.view()
    view.flags.writeable = False
    return view


class Survey:
    """A sample and its design: immutable, checked once, ready to estimate.

    The estimators (``total``, ``mean``, ``ratio``, ``ratio_total``,
    ``proportion``, ``quantile``) and the weighting steps (``calibrate``,
    ``rake``, ``poststratify``, ``trim_weights``, ``adjust_nonresponse``)
    are the functions of the same name in :mod:`survey.estimation.estimate`,
    :mod:`survey.estimation.quantile`, :mod:`survey.estimation.weighting` and
    :mod:`survey.estimation.nonresponse`, which document them in full.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per sampled unit (respondents and, after nonresponse
        adjustment, nonrespondents with weight zero).
    design : Design
        The columns that carry the design.
    strict : bool, default=False
        When both weights and an fpc are given and they disagree (per
        stratum, the PSU weights do not add up to the population size the fpc
        implies, within 10%), raise :class:`~survey.errors.DesignError`
        instead of a :class:`~survey.errors.SurveyWarning` listing the strata
        (:func:`survey.estimation.checks.check_weights_fpc`).

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
        "_stratum_fraction",
        "_stage1_fraction",
        "_pps",
    )

    def __init__(self, data: pd.DataFrame, design: Design, *, strict: bool = False) -> None:
        if not isinstance(data, pd.DataFrame):
            raise ColumnError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if not isinstance(design, Design):
            raise DesignError(f"design must be a survey.Design, got {type(design).__name__}")
        missing = [c for c in design.columns if c not in data.columns]
        if missing:
            raise ColumnError(unknown_columns_message(missing, data.columns, "design"))
        if len(data) == 0:
            raise DesignError("the sample has no rows")
        if design.pps is None:
            arrays = design_arrays(data, design)
        else:  # the πps engine applies the lonely-PSU rule itself (certainty strata are not lonely)
            arrays = design_arrays(data, dataclasses.replace(design, lonely_psu="remove"))
        self._data = data
        self._design = design
        self._mask = None
        self._weighting: tuple[WeightingStep, ...] = ()
        self._replicates = None
        self._strata_codes = arrays.strata_codes
        self._strata_labels = arrays.strata_labels
        self._psu_codes = arrays.psu_codes  # None: every row is its own PSU (built on demand)
        self._stratum_fraction = arrays.stratum_fraction
        self._stage1_fraction = None  # per row, built on demand
        self._structure = arrays.structure
        self._weights = _read_only(design_weights(data, design, arrays.fpc_probabilities))
        self._pps = None if design.pps is None else pps_structure(data, design, arrays, self._weights)
        check_weights_fpc(data, design, arrays, self._weights, strict=strict)

    # -- constructors of derived surveys (used by weighting and replicates) ---
    def _copy(self) -> Survey:
        new = object.__new__(Survey)
        for name in Survey.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        return new

    def reweighted(self, weights: np.ndarray, *, step: WeightingStep) -> Survey:
        """The same sample and design with new weights, ``step`` appended to :attr:`weighting`.

        The building block of every weighting function (calibration, raking,
        nonresponse adjustment, trimming): they compute the new weights and
        record what they did in ``step``, whose model the variance uses.

        Parameters
        ----------
        weights : numpy.ndarray
            One finite, non-negative weight per row.
        step : WeightingStep
            The step that produced the weights.

        Returns
        -------
        Survey

        Raises
        ------
        WeightError
            Weights of the wrong length, missing, infinite or negative.

        Examples
        --------
        >>> import numpy as np, pandas as pd, survey as sv
        >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1.0], "y": [1.0, 3.0]}), sv.Design(weights="w"))
        >>> s2 = s.reweighted(np.array([2.0, 2.0]), step=sv.WeightingStep(kind="trim"))
        >>> s2.total("y").estimate, [step.kind for step in s2.weighting]
        (array([8.]), ['trim'])
        """
        weights = np.asarray(weights, dtype=float)
        if weights.shape != self._weights.shape:
            raise WeightError(
                f"new weights have shape {weights.shape}, the sample has {self._weights.shape[0]} rows"
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise WeightError("weighting produced missing, infinite or negative weights")
        new = self._copy()
        new._weights = _read_only(weights)
        new._weighting = self._weighting + (step,)
        return new

    def with_replicates(
        self,
        replicates: ReplicateDesign | pd.DataFrame | np.ndarray | str | Sequence[str] | None,
        *,
        type: Literal["jk1", "jkn", "brr", "fay", "bootstrap", "other"] = "other",
        scale: float | None = None,
        rscales: np.ndarray | float | None = None,
        mse: bool = False,
        combined_weights: bool = True,
        fay_rho: float | None = None,
        fpc: np.ndarray | float | None = None,
        df: int | None = None,
    ) -> Survey:
        """The same survey with replicate-weight variance (R ``svrepdesign``); ``None``: linearisation.

        The variance of an estimate is
        ``scale * sum_r rscales_r (theta_r - c)^2`` with ``c`` the mean of the
        replicate estimates (``mse=True``: the full-sample estimate).

        Parameters
        ----------
        replicates : ReplicateDesign, DataFrame, array, str, sequence of str or None
            A :class:`~survey.estimation.replicate.ReplicateDesign` (e.g. from
            :func:`~survey.estimation.replicate.make_replicates`); replicate
            weights as an n x R frame or array; the names of the data columns
            that hold them, or one regular expression matching them (R
            ``repweights = "rep[0-9]+"``); ``None`` for linearisation.
        type : {"jk1", "jkn", "brr", "fay", "bootstrap", "other"}, default="other"
            R ``type`` (case-insensitive). Sets the default ``scale``: jk1
            ``(R-1)/R``, brr ``1/R``, fay ``1/(R (1-rho)^2)``, bootstrap
            ``1/(R-1)``, other and jkn 1 (jkn needs ``rscales``).
        scale : float, optional
        rscales : array or float, optional
            Per-replicate multipliers (default 1).
        mse : bool, default=False
            Centre at the full-sample estimate instead of the replicate mean.
        combined_weights : bool, default=True
            False: the columns are factors to multiply by the full-sample weights.
        fay_rho : float, optional
            Fay's factor (R ``rho``) for ``type="fay"``.
        fpc : array or float, optional
            Sampling fraction of each replicate's stratum (or one for all):
            ``rscales`` are multiplied by ``1 - fpc`` (R ``fpc=``, ``fpctype="fraction"``).
        df : int, optional
            Degrees of freedom (default: rank of the replicate weights minus 1, as R).

        Returns
        -------
        Survey

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [2.0] * 3, "y": [1.0, 3.0, 8.0],
        ...                    "r1": [0.0, 3, 3], "r2": [3.0, 0, 3], "r3": [3.0, 3, 0]})
        >>> s = sv.Survey(df, sv.Design(weights="w")).with_replicates("r[0-9]", type="JK1")
        >>> s.replicates.method, round(float(s.total("y").se[0]), 4)  # sqrt(2/3 * (9^2 + 3^2 + 12^2))
        ('jk1', 12.49)
        """
        if replicates is not None and not isinstance(replicates, ReplicateDesign):
            if fpc is not None:
                base = 1.0 if rscales is None else np.asarray(rscales, dtype=float)
                rscales = base * (1.0 - np.asarray(fpc, dtype=float))
            options = dict(
                method=str(type).lower(), scale=scale, rscales=rscales, mse=mse,
                combined_weights=combined_weights, fay_rho=fay_rho, df=df,
            )
            if isinstance(replicates, str) or (
                isinstance(replicates, Sequence) and all(isinstance(c, str) for c in replicates)
            ):
                replicates = replicates_from_columns(self, replicates, **options)
            else:
                replicates = import_replicates(np.asarray(self._weights), replicates, **options)
        elif replicates is not None and (scale is not None or rscales is not None or fpc is not None):
            raise ReplicateError("scale, rscales and fpc go with replicate weights, not with a ReplicateDesign")
        new = self._copy()
        new._replicates = replicates
        return new

    def lonely_strata(self, by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """The strata a lonely-PSU rule touched (design, replicates and, with ``by``, domains).

        Parameters
        ----------
        by : str or sequence of str, optional
            Also list strata with a single PSU within a domain.

        Returns
        -------
        pandas.DataFrame
            ``stratum``, the ``by`` columns, ``n_psu``, ``n_psu_domain``,
            ``level``, ``rule``, ``action`` (see :func:`survey.estimation.lonely.lonely_strata`).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": ["a", "a", "b"], "w": [2.0, 2.0, 1.0]})
        >>> sv.Survey(df, sv.Design(strata="h", weights="w", lonely_psu="remove")).lonely_strata()[["stratum", "rule"]]
          stratum    rule
        0       b  remove
        """
        return _lonely_strata(self, by)

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
        """Current weights (a read-only view)."""
        return _read_only(self._weights)

    @property
    def weighting(self) -> tuple[WeightingStep, ...]:
        """Weighting steps applied so far, oldest first."""
        return self._weighting

    @property
    def replicates(self) -> ReplicateDesign | None:
        """The replicate-weight design, or ``None`` for linearisation."""
        return self._replicates

    @property
    def df(self) -> int:
        """Design degrees of freedom: number of PSUs minus number of strata."""
        return self._structure.df

    @property
    def variance_structure(self) -> VarianceStructure:
        """Strata, units and coefficients of every stage, for the variance engine (read-only)."""
        return self._structure

    @property
    def pps_structure(self) -> PpsStructure | None:
        """The πps variance structure (``Design(pps=...)``), or ``None`` for other designs."""
        return self._pps

    @property
    def strata_codes(self) -> np.ndarray:
        """Stratum of every row as codes ``0..H-1`` in sorted label order (read-only view)."""
        return _read_only(self._strata_codes)

    @property
    def strata_labels(self) -> np.ndarray:
        """The stratum labels, indexed by :attr:`strata_codes` (``["(all)"]`` without strata)."""
        return _read_only(self._strata_labels)

    @property
    def psu_codes(self) -> np.ndarray:
        """Stage-1 unit (PSU) of every row, numbered within the design (read-only view).

        Without clusters every row is its own PSU: the codes ``0..n-1`` are
        built on first access (the Survey does not hold them otherwise).
        """
        if self._psu_codes is None:
            self._psu_codes = np.arange(len(self._weights), dtype=np.intp)
        return _read_only(self._psu_codes)

    @property
    def stage1_fraction(self) -> np.ndarray:
        """Stage-1 sampling fraction ``n_h / N_h`` of every row's stratum; 0 without an fpc.

        Built on first access from the per-stratum fractions (read-only view).
        """
        if self._stage1_fraction is None:
            self._stage1_fraction = self._stratum_fraction[self._strata_codes]
        return _read_only(self._stage1_fraction)

    @property
    def subset_mask(self) -> np.ndarray | None:
        """Boolean mask of the current subset (read-only view), ``None`` for the whole sample."""
        return None if self._mask is None else _read_only(self._mask)

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
    def column(self, name: str) -> np.ndarray:
        """The values of one data column, or a clear error naming close matches.

        Parameters
        ----------
        name : str

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        ColumnError
            No such column (the message suggests close names).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 2.0], "revenue": [3.0, 4.0]}), sv.Design(weights="w"))
        >>> s.column("revenue")
        array([3., 4.])
        """
        if name not in self._data.columns:
            raise ColumnError(unknown_columns_message([name], self._data.columns, "variable"))
        return self._data[name].to_numpy()

    def subset(self, mask_or_query: np.ndarray | pd.Series | Sequence[bool] | str) -> Survey:
        """Restrict estimation to a subpopulation, keeping the whole design.

        Rows outside the subset keep their place in strata and PSUs with zero
        contribution, so standard errors are those of a domain (R ``subset``).

        Parameters
        ----------
        mask_or_query : array-like of bool or str
            A boolean mask aligned with the rows, or a condition in the restricted
            language of :mod:`survey.expressions` (e.g. ``"size > 100 and region == 'A'"``;
            no code is run).

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
            from survey import expressions

            mask = expressions.mask(
                expressions.parse(mask_or_query, what="subset", error=ColumnError), self._data)
        else:
            mask = mask_or_query
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self._data),):
            raise ColumnError(
                f"subset needs a boolean mask of length {len(self._data)}, got dtype "
                f"{mask.dtype} and shape {mask.shape}"
            )
        new = self._copy()
        new._mask = _read_only(mask.copy() if self._mask is None else (self._mask & mask))
        return new

    def assign(self, **columns: Any) -> Survey:
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
        seed: int | np.random.Generator | None = None,
        fay_rho: float | None = None,
        mse: bool = False,
        variance_strata: bool = False,
    ) -> Survey:
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
        return self.with_replicates(
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

    # -- estimators (survey.estimation.estimate, survey.estimation.quantile) --
    def total(
        self,
        variables: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        na: NaPolicy = "error",
        deff: Deff = False,
    ) -> Estimate:
        """Estimated population totals (Horvitz-Thompson / weighted), by domain.

        Parameters
        ----------
        variables : str or list of str
            Numeric column(s).
        by : str or list of str, optional
            Domain column(s). Domains keep the whole design (R ``svyby``).
        na : {"error", "drop", "drop_each"}, default="error"
            Missing values raise an error; ``"drop"``: a row missing any of
            ``variables`` is outside the domain for all of them (R ``na.rm =
            TRUE``, complete cases); ``"drop_each"``: per variable.
        deff : bool or "replace", default=False
            Add a ``deff`` column (R ``svytotal(deff=)``).

        Returns
        -------
        Estimate


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> sv.Survey(df, sv.Design(strata="h", weights="w")).total("y").table()[["estimate", "se"]]
           estimate         se
        0      32.0  12.649111
        """
        return _total(self, variables, by, na=na, deff=deff)

    def mean(
        self,
        variables: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        na: NaPolicy = "error",
        deff: Deff = False,
    ) -> Estimate:
        """Estimated population means (ratio of weighted totals), by domain.

        Parameters
        ----------
        variables : str or list of str
            Numeric column(s).
        by : str or list of str, optional
            Domain column(s).
        na : {"error", "drop", "drop_each"}, default="error"
            ``"drop"``: complete cases across ``variables`` (R ``na.rm = TRUE``).
        deff : bool or "replace", default=False
            Add a ``deff`` column (R ``svymean(deff=)``).

        Returns
        -------
        Estimate


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3]})
        >>> float(sv.Survey(df, sv.Design(weights="w")).mean("y").estimate[0])
        2.25
        """
        return _mean(self, variables, by, na=na, deff=deff)

    def ratio(
        self,
        numerator: str | Sequence[str],
        denominator: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        na: NaPolicy = "error",
        deff: Deff = False,
    ) -> Estimate:
        """Estimated ratios of population totals ``Y / X``, by domain (R ``svyratio``).

        Parameters
        ----------
        numerator, denominator : str or list of str
            Numeric columns; every combination is estimated, labelled ``"num/den"``.
        by : str or list of str, optional
            Domain column(s).
        na : {"error", "drop", "drop_each"}, default="error"
            ``"drop"``: complete cases across all numerators and denominators.
        deff : bool or "replace", default=False
            Add a ``deff`` column (R ``svyratio(deff=)``).

        Returns
        -------
        Estimate


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3], "x": [2.0, 2, 2]})
        >>> float(sv.Survey(df, sv.Design(weights="w")).ratio("y", "x").estimate[0])
        1.125
        """
        return _ratio(self, numerator, denominator, by, na=na, deff=deff)

    def ratio_total(
        self,
        variable: str,
        auxiliary: str,
        auxiliary_total: float | Mapping[Any, float] | pd.Series,
        by: str | Sequence[str] | None = None,
        *,
        na: NaPolicy = "error",
    ) -> Estimate:
        """Ratio estimator of a total, ``(Y / X) * X_pop``, with a known auxiliary total.

        Parameters
        ----------
        variable, auxiliary : str
            Study variable ``y`` and auxiliary variable ``x``.
        auxiliary_total : float, mapping or pandas.Series
            Known population total of ``x``: a number (no ``by``), or one total
            per domain keyed by the domain value (a tuple for several ``by`` columns).
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"

        Returns
        -------
        Estimate


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [2.0, 2, 2], "y": [1.0, 2, 3], "x": [1.0, 1, 2]})
        >>> float(sv.Survey(df, sv.Design(weights="w")).ratio_total("y", "x", 10).estimate[0])
        15.0
        """
        return _ratio_total(self, variable, auxiliary, auxiliary_total, by, na=na)

    def proportion(
        self,
        variable: str,
        by: str | Sequence[str] | None = None,
        *,
        na: NaPolicy = "error",
        deff: Deff = False,
        ci: Literal["mean", "logit", "likelihood", "beta", "asin", "xlogit"] | None = None,
    ) -> Estimate:
        """Estimated population proportions of each level of a categorical column.

        Parameters
        ----------
        variable : str
            Categorical column; rows are labelled ``"variable=level"``.
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"
        deff : bool or "replace", default=False
            Add a ``deff`` column.
        ci : {"mean", "logit", "likelihood", "beta", "asin", "xlogit"}, optional
            Interval of the table (R ``svyciprop``), with every domain's
            degrees of freedom; ``Estimate.ci(method=...)`` gives any of them.

        Returns
        -------
        Estimate


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "c": ["a", "b", "b"]})
        >>> sv.Survey(df, sv.Design(weights="w")).proportion("c").estimate
        array([0.25, 0.75])
        """
        return _proportion(self, variable, by, na=na, deff=deff, ci=ci)

    def quantile(
        self,
        variables: str | Sequence[str],
        quantiles: float | Sequence[float] = 0.5,
        *,
        by: str | Sequence[str] | None = None,
        na: NaPolicy = "error",
    ) -> QuantileEstimate:
        """Estimated population quantiles with standard errors, by domain (R ``svyquantile``).

        Parameters
        ----------
        variables : str or list of str
            Numeric column(s).
        quantiles : float or sequence of float, default=0.5
            Quantile levels in [0, 1].
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"
            ``"drop"``: complete cases across ``variables`` (R ``na.rm = TRUE``).

        Returns
        -------
        QuantileEstimate
            Woodruff intervals with linearisation; replicate quantiles with
            replicate weights.


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0] * 5, "y": [5.0, 1, 4, 2, 3]})
        >>> sv.Survey(df, sv.Design(weights="w")).quantile("y", [0.2, 0.5]).estimate
        array([1., 3.])
        """
        return _quantile(self, variables, quantiles, by=by, na=na)

    # -- weighting (survey.estimation.weighting, .nonresponse): new surveys --
    def calibrate(
        self,
        totals: Mapping[str, Any],
        *,
        method: Method = "linear",
        bounds: tuple[float, float] | None = None,
        population_size: float | None = None,
        max_iter: int = 50,
        tol: float = 1e-10,
    ) -> Survey:
        """Calibrate the weights to known population totals (GREG, raking, logit).

        Parameters
        ----------
        totals : mapping
            Numeric column -> population total; categorical column ->
            ``{level: population count}`` for every level (a complete margin).
        method : {"linear", "raking", "logit"}, default="linear"
            Calibration function (R ``calfun``).
        bounds : tuple of float, optional
            ``(lower, upper)`` bounds on ``g = new / input weight``; required for ``"logit"``.
        population_size : float, optional
            Population size when no categorical margin gives it.
        max_iter : int, default=50
        tol : float, default=1e-10

        Returns
        -------
        Survey
            With a ``"calibration"`` weighting step; standard errors use the
            calibration residuals (GREG variance).


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": [2.0, 2.0, 2.0]})
        >>> sv.Survey(df, sv.Design(weights="w")).calibrate({"x": 14.0}, population_size=7).weights.round(4)
        array([2.3333, 2.3333, 2.3333])
        """
        return _calibrate(
            self, totals, method=method, bounds=bounds, population_size=population_size,
            max_iter=max_iter, tol=tol,
        )

    def rake(
        self,
        margins: Mapping[str, Mapping[Any, float]],
        *,
        max_iter: int = 100,
        tol: float = 1e-10,
        convergence: Literal["margins", "cells"] = "margins",
    ) -> Survey:
        """Rake the weights to categorical margins by iterative proportional fitting (R ``rake``).

        Parameters
        ----------
        margins : mapping
            Column -> ``{level: population count}``, every margin complete.
        max_iter : int, default=100
        tol : float, default=1e-10
        convergence : {"margins", "cells"}, default="margins"

        Returns
        -------
        Survey
            With a ``"rake"`` weighting step.


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"], "w": 1.0})
        >>> s = sv.Survey(df, sv.Design(weights="w"))
        >>> s.rake({"a": {"x": 6, "y": 4}, "b": {"u": 5, "v": 5}}).weights
        array([3., 3., 2., 2.])
        """
        return _rake(self, margins, max_iter=max_iter, tol=tol, convergence=convergence)

    def poststratify(self, column: str, counts: Mapping[Any, float], *, partial: bool = False) -> Survey:
        """Post-stratify: scale the weights in each level of ``column`` to its population count.

        Parameters
        ----------
        column : str
            Post-stratum column.
        counts : mapping
            ``{level: population count}`` for every level present in the sample.
        partial : bool, default=False
            Drop population cells without a sample unit, with a warning that
            names them (R ``postStratify(partial = TRUE)``); default: an error.

        Returns
        -------
        Survey
            With a ``"poststratify"`` weighting step (R ``postStratify``).


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 3.0, 2.0]})
        >>> sv.Survey(df, sv.Design(weights="w")).poststratify("k", {"a": 8, "b": 5}).weights
        array([2., 6., 5.])
        """
        return _poststratify(self, column, counts, partial=partial)

    def trim_weights(
        self,
        lower: float | None = None,
        upper: float | None = None,
        *,
        by: str | Sequence[str] | None = None,
        method: Literal["proportional", "equal"] = "proportional",
        strict: bool = False,
        take_all: Literal["keep", "include"] = "keep",
        max_iter: int = 100,
    ) -> Survey:
        """Trim weights to ``[lower, upper]``, spreading the trimmed amount over the other rows.

        Parameters
        ----------
        lower, upper : float, optional
            Bounds on the weights themselves.
        by : str or sequence of str, optional
            Keep the total weight within each group; default: overall.
        method : {"proportional", "equal"}, default="proportional"
            Redistribute in proportion to the weights until all are inside, or
            in equal parts in one pass (R ``trimWeights``).
        strict : bool, default=False
            ``"equal"``: repeat passes until no weight is outside (R ``strict``).
        take_all : {"keep", "include"}, default="keep"
            Take-all units (fpc fraction 1, πps certainty) keep their weight.
        max_iter : int, default=100

        Returns
        -------
        Survey
            With a ``"trim"`` weighting step.


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1.0, 1.0, 7.0]}), sv.Design(weights="w"))
        >>> s.trim_weights(upper=4.0).weights
        array([2., 2., 2., 4.])
        >>> s.trim_weights(upper=4.0, method="equal").weights
        array([2., 2., 2., 4.])
        """
        return _trim_weights(
            self, lower, upper, by=by, method=method, strict=strict, take_all=take_all, max_iter=max_iter
        )

    def adjust_nonresponse(
        self,
        respondent: str | np.ndarray,
        *,
        by: str | Sequence[str] | None = None,
        min_respondents: int = 1,
        small_cells: Literal["fail", "collapse"] = "fail",
        variance: Literal["two-phase", "fixed"] = "two-phase",
    ) -> Survey:
        """Weighting-class nonresponse adjustment within response-homogeneity cells.

        Parameters
        ----------
        respondent : str or array of bool
            Column (bool or 0/1) or mask that marks respondents.
        by : str or sequence of str, optional
            Columns forming the cells, coarsest first.
        min_respondents : int, default=1
        small_cells : {"fail", "collapse"}, default="fail"
        variance : {"two-phase", "fixed"}, default="two-phase"
            Two-phase linearisation variance (the adjustment as a calibration
            to the cell totals estimated from the whole sample), or the
            adjusted weights treated as fixed.

        Returns
        -------
        Survey
            Nonrespondents get weight 0 (and stay in the design); a
            ``"nonresponse"`` weighting step.


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "r": [True, False, True, True],
        ...                    "w": [2.0, 2.0, 3.0, 3.0]})
        >>> sv.Survey(df, sv.Design(weights="w")).adjust_nonresponse("r", by="g").weights
        array([4., 0., 3., 3.])
        """
        return _adjust_nonresponse(
            self, respondent, by=by, min_respondents=min_respondents, small_cells=small_cells,
            variance=variance,
        )

    def calibration_report(self) -> WeightingReport:
        """The report of the latest weighting step: targets against achieved totals, g range.

        Returns
        -------
        WeightingReport


        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 1.0, 2.0]})
        >>> s = sv.Survey(df, sv.Design(weights="w")).poststratify("k", {"a": 4, "b": 3})
        >>> s.calibration_report().table[["level", "target", "achieved"]]
          level  target  achieved
        0     a     4.0       4.0
        1     b     3.0       3.0
        """
        return _calibration_report(self)
