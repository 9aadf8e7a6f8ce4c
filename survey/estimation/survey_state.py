"""The checked, immutable state of a :class:`~survey.estimation.survey.Survey`.

:class:`SurveyState` is the base of :class:`~survey.estimation.survey.Survey`:
the constructor's input checks and the design arrays built from them, the
public read-only views of that state (``weights``, ``variance_structure``,
``strata_codes``, ...) and the two constructors of derived surveys,
``reweighted`` (every weighting step) and ``with_replicates`` (replicate-weight
variance). The estimating and weighting methods are on
:class:`~survey.estimation.survey.Survey` itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from survey.design import Design
from survey.errors import ColumnError, DesignError, ReplicateError, WeightError
from survey.estimation.checks import check_weights_fpc
from survey.estimation.pps import PpsStructure, pps_structure
from survey.estimation.replicate import (
    ReplicateDesign,
    import_replicates,
    replicates_from_columns,
)
from survey.estimation.structure import (
    VarianceStructure,
    design_arrays,
    design_weights,
    unknown_columns_message,
)
from survey.estimation.variance import WeightingStep

if TYPE_CHECKING:
    from survey.estimation.survey import Survey

__all__: list[str] = []


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy)."""
    view = a.view()
    view.flags.writeable = False
    return view


class SurveyState:
    """The data, design, weights and weighting steps of a survey, checked once (base of ``Survey``).

    Build a :class:`~survey.estimation.survey.Survey`, which documents the
    parameters; this class holds its state and the read-only views of it.
    """

    __slots__ = (
        "_data",
        "_design",
        "_mask",
        "_pps",
        "_psu_codes",
        "_replicates",
        "_stage1_fraction",
        "_strata_codes",
        "_strata_labels",
        "_stratum_fraction",
        "_structure",
        "_weighting",
        "_weights",
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
        self._weights = read_only(design_weights(data, design, arrays.fpc_probabilities))
        self._pps = None if design.pps is None else pps_structure(data, design, arrays, self._weights)
        check_weights_fpc(data, design, arrays, self._weights, strict=strict)

    # -- constructors of derived surveys (used by weighting and replicates) ---
    def _copy(self) -> Survey:
        new = object.__new__(type(self))
        for name in SurveyState.__slots__:
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
        new._weights = read_only(weights)
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
        return read_only(self._weights)

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
        return read_only(self._strata_codes)

    @property
    def strata_labels(self) -> np.ndarray:
        """The stratum labels, indexed by :attr:`strata_codes` (``["(all)"]`` without strata)."""
        return read_only(self._strata_labels)

    @property
    def psu_codes(self) -> np.ndarray:
        """Stage-1 unit (PSU) of every row, numbered within the design (read-only view).

        Without clusters every row is its own PSU: the codes ``0..n-1`` are
        built on first access (the Survey does not hold them otherwise).
        """
        if self._psu_codes is None:
            self._psu_codes = np.arange(len(self._weights), dtype=np.intp)
        return read_only(self._psu_codes)

    @property
    def stage1_fraction(self) -> np.ndarray:
        """Stage-1 sampling fraction ``n_h / N_h`` of every row's stratum; 0 without an fpc.

        Built on first access from the per-stratum fractions (read-only view).
        """
        if self._stage1_fraction is None:
            self._stage1_fraction = self._stratum_fraction[self._strata_codes]
        return read_only(self._stage1_fraction)

    @property
    def subset_mask(self) -> np.ndarray | None:
        """Boolean mask of the current subset (read-only view), ``None`` for the whole sample."""
        return None if self._mask is None else read_only(self._mask)

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
