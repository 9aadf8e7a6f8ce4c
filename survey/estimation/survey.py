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
That state, its checks and those two constructors are in the base class
:class:`~survey.estimation.survey_state.SurveyState`
(:mod:`survey.estimation.survey_state`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from survey.errors import ColumnError
from survey.estimation.calibration import Method
from survey.estimation.domains import NaPolicy
from survey.estimation.estimate import Deff
from survey.estimation.estimate import mean as _mean
from survey.estimation.estimate import proportion as _proportion
from survey.estimation.estimate import ratio as _ratio
from survey.estimation.estimate import ratio_total as _ratio_total
from survey.estimation.estimate import total as _total
from survey.estimation.lonely import lonely_strata as _lonely_strata
from survey.estimation.nonresponse import adjust_nonresponse as _adjust_nonresponse
from survey.estimation.quantile import QuantileEstimate
from survey.estimation.quantile import quantile as _quantile
from survey.estimation.replicate import make_replicates
from survey.estimation.results import Estimate
from survey.estimation.structure import unknown_columns_message
from survey.estimation.survey_state import SurveyState, read_only
from survey.estimation.variance import WeightingStep
from survey.estimation.weighting import calibrate as _calibrate
from survey.estimation.weighting import poststratify as _poststratify
from survey.estimation.weighting import rake as _rake
from survey.estimation.weighting import trim_weights as _trim_weights
from survey.estimation.weighting_steps import WeightingReport
from survey.estimation.weighting_steps import calibration_report as _calibration_report

__all__ = ["Survey", "WeightingStep"]


class Survey(SurveyState):
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

    __slots__ = ()

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
        new._mask = read_only(mask.copy() if self._mask is None else (self._mask & mask))
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
        data = self._data
        if columns and all(isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == len(data)
                           and k not in data.columns for k, v in columns.items()):
            # new columns of arrays: one concatenation (assign inserts them one by one)
            new._data = pd.concat([data, pd.DataFrame(columns, index=data.index)], axis=1)
            new._data.attrs = copy.deepcopy(data.attrs)
        else:
            new._data = data.assign(**columns)
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
