"""Weighting steps on a Survey: what a step did, recording it, repeating it in every replicate.

Every weighting function (:mod:`survey.estimation.weighting`,
:mod:`survey.estimation.nonresponse`) computes new weights and a
:class:`WeightingReport`, then calls :func:`apply_step`: the new
:class:`~survey.estimation.survey.Survey` carries a
:class:`~survey.estimation.variance.WeightingStep` (whose model the variance
engine uses) and, on a replicate survey, replicate weights that went through
the same step (R ``calibrate.svyrep.design``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from survey.errors import CalibrationError
from survey.estimation.replicate_weights import reweight_replicates
from survey.estimation.variance import WeightingStep

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["WeightingReport", "apply_step", "calibration_report", "require_whole_sample"]


@dataclass(frozen=True, kw_only=True, eq=False)
class WeightingReport:
    """What one weighting step did: targets against achieved totals, g range, iterations.

    Attributes
    ----------
    kind : {"calibration", "rake", "poststratify", "nonresponse", "trim"}
        The step.
    method : str
        Calibration function (``"linear"``, ``"raking"``, ``"logit"``), ``"ipf"``
        for raking by iterative proportional fitting, or the kind again.
    table : pandas.DataFrame
        One row per constraint (``margin, level, target, before, achieved,
        rel_error``), per cell (nonresponse) or per group (trimming).
    iterations : int
        Newton or IPF iterations used (1 for one-pass steps).
    ratio_min, ratio_max : float
        Range of ``g = new weight / input weight`` over rows with positive input weight.
    n_changed : int
        Rows whose weight changed (trimming: rows set to a bound; nonresponse:
        nonrespondents set to zero).
    reweight : callable or None
        ``reweight(weights) -> new_weights`` repeats this step (same targets,
        same options) on other input weights, e.g. each replicate.
    margin_codes, margin_weights : tuple of numpy.ndarray
        Raking only: per margin the level codes and the weights after that
        margin's adjustment in the last sweep (R ``rake()`` variance).
    two_phase : survey.estimation.twophase.TwoPhase or None
        Nonresponse adjustment with two-phase variance: the weighting classes,
        respondents and response rates (``None``: weights treated as fixed).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import poststratify, calibration_report
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 1.0, 2.0]})
    >>> s = poststratify(sv.Survey(df, sv.Design(weights="w")), "k", {"a": 4, "b": 3})
    >>> calibration_report(s).table[["level", "target", "before", "achieved"]]
      level  target  before  achieved
    0     a     4.0     2.0       4.0
    1     b     3.0     2.0       3.0
    """

    kind: str
    method: str
    table: pd.DataFrame
    iterations: int = 1
    converged: bool = True
    ratio_min: float = float("nan")
    ratio_max: float = float("nan")
    n_changed: int = 0
    reweight: Callable[[np.ndarray], np.ndarray] | None = None
    margin_codes: tuple[np.ndarray, ...] = ()
    margin_weights: tuple[np.ndarray, ...] = ()
    two_phase: Any = None

    def __str__(self) -> str:
        head = (
            f"{self.kind} ({self.method}): {self.iterations} iteration(s), "
            f"g from {self.ratio_min:.6g} to {self.ratio_max:.6g}"
        )
        if self.kind in ("trim", "nonresponse"):
            head += f", {self.n_changed} row(s) changed"
        with pd.option_context("display.width", 120, "display.max_rows", 40):
            return head + "\n" + self.table.to_string(index=False)

    def _repr_html_(self) -> str:
        return f"<p>{str(self).splitlines()[0]}</p>" + self.table.to_html(index=False)


def require_whole_sample(survey: Survey, what: str) -> None:
    """Raise a CalibrationError when ``survey`` is a subset: weighting applies to the whole sample.

    Parameters
    ----------
    survey : Survey
    what : str
        The step, for the message (``"calibration"``, ...).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 2.0]}), sv.Design(weights="w"))
    >>> require_whole_sample(s, "calibration")  # the whole sample: fine
    >>> require_whole_sample(s.subset("w > 1"), "calibration")
    Traceback (most recent call last):
    ...
    survey.errors.CalibrationError: calibration applies to the whole sample, but this Survey is a subset; weight first, then take the subset
    """
    if survey.subset_mask is not None:
        raise CalibrationError(
            f"{what} applies to the whole sample, but this Survey is a subset; "
            "weight first, then take the subset"
        )


def apply_step(
    survey: Survey,
    w: np.ndarray,
    kind: str,
    model: Any,
    d: np.ndarray,
    report: WeightingReport,
) -> Survey:
    """The survey with new weights ``w`` and a weighting step recorded (and repeated in every replicate).

    Parameters
    ----------
    survey : Survey
        The survey before the step.
    w : numpy.ndarray
        The new weights.
    kind : str
        ``"calibration"``, ``"rake"``, ``"poststratify"``, ``"trim"``, ``"nonresponse"``.
    model : array, sparse matrix, callable or None
        The calibration model matrix (or a callable building it), whose
        residuals the variance uses; ``None`` for steps without a model.
    d : numpy.ndarray
        The input weights.
    report : WeightingReport
        Its ``reweight`` repeats the step on the weights of each replicate.

    Returns
    -------
    Survey

    Examples
    --------
    >>> import numpy as np, pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 3.0]}), sv.Design(weights="w"))
    >>> report = WeightingReport(kind="trim", method="trim", table=pd.DataFrame(), reweight=lambda d: d)
    >>> apply_step(s, np.array([2.0, 2.0]), "trim", None, s.weights, report).weighting[0].kind
    'trim'
    """
    step = WeightingStep(kind=kind, model=model, input_weights=d, report=report)
    new = survey.reweighted(w, step=step)
    if survey.replicates is not None:
        # repeat the step on every replicate (R calibrate.svyrep.design)
        new = new.with_replicates(reweight_replicates(survey.replicates, report.reweight))
    return new


def calibration_report(survey: Survey) -> WeightingReport:
    """The report of the latest weighting step: targets vs achieved, g range, iterations.

    Parameters
    ----------
    survey : Survey
        A Survey with at least one weighting step.

    Returns
    -------
    WeightingReport

    Raises
    ------
    CalibrationError
        If the Survey has not been weighted.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import calibrate, calibration_report
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": [2.0, 2.0, 2.0]})
    >>> s = calibrate(sv.Survey(df, sv.Design(weights="w")), {"x": 14.0}, population_size=7)
    >>> calibration_report(s).table[["margin", "target", "achieved"]]
                  margin  target  achieved
    0  (population size)     7.0       7.0
    1                  x    14.0      14.0
    """
    steps = getattr(survey, "weighting", ())
    if not steps:
        raise CalibrationError(
            "this Survey has no weighting step; call calibrate(), rake(), poststratify(), "
            "trim_weights() or adjust_nonresponse() first"
        )
    return steps[-1].report
