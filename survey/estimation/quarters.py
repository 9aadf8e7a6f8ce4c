"""The weighted sample of every quarter: nonresponse adjustment, calibration, trimming.

A quarterly survey weights each quarter's sample on its own: the design weights are
adjusted for unit nonresponse within classes, then calibrated to the register margins of
the take-some part of that year's frame (the take-all firms are enumerated: weight 1),
then trimmed when asked. :func:`weight_quarters` makes these calls for every period of a
panel; the configured cycle (:mod:`survey.pipeline.steps`) and
``examples/demo_bulletin.py`` both call it.

Examples
--------
>>> from survey.pipeline.demo import demo_result
>>> [step.kind for step in demo_result().surveys["2006Q4"].weighting]  # the demo's
['nonresponse', 'calibration']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from survey.design import Design
from survey.estimation.survey import Survey
from survey.periods import year_of

__all__ = ["weight_quarters"]


def weight_quarters(sample: pd.DataFrame, design: Design, frames: Mapping[int, Any], *,
                    responded: str = "responded", by: Sequence[str] = (),
                    margins: Sequence[str] = (), totals: Sequence[str] = (),
                    method: str = "linear", bounds: tuple[float, float] | None = None,
                    trim: tuple[float, float] | None = None, part: str = "sample"
                    ) -> dict[str, Survey]:
    """The weighted sample of every period of a panel.

    For each period (column ``period``): :meth:`survey.Survey.adjust_nonresponse` within
    the classes ``by`` (small cells collapsed), :meth:`~survey.Survey.calibrate` to the
    margins of the register's take-some part of the period's year
    (:meth:`survey.register.frame.Frame.margins` of the firms whose ``part`` column is
    ``part``; no calibration when no margin is asked) and
    :meth:`~survey.Survey.trim_weights` when ``trim`` is given.

    Parameters
    ----------
    sample : pandas.DataFrame
        The sample panel: one row per firm and period, the design columns of ``design``
        and ``responded``.
    design : survey.Design
    frames : mapping of int to survey.register.frame.Frame
        The register of each year (column ``part``).
    responded : str, default="responded"
    by : sequence of str, default=()
        Nonresponse classes.
    margins, totals : sequence of str, default=()
        Register columns whose counts (``margins``) and totals (``totals``) the weights
        reproduce.
    method : str, default="linear"
    bounds : (float, float), optional
        Of the calibration g-weights.
    trim : (float, float), optional
        Arguments of :meth:`~survey.Survey.trim_weights`.
    part : str, default="sample"

    Returns
    -------
    dict of str to survey.Survey
        One per period, its weighting steps recorded.

    Examples
    --------
    >>> from survey import Design
    >>> from survey.pipeline.demo import demo_result
    >>> r = demo_result()
    >>> surveys = weight_quarters(
    ...     r.sample[r.sample["period"] == "2006Q4"],
    ...     Design(strata="stratum", weights="design_weight", fpc="N_h", lonely_psu="adjust"),
    ...     {y: p.frame for y, p in r.plans.items()}, by=["city", "stratum"],
    ...     margins=["city"], totals=["revenue_prev_year"], bounds=(0.3, 3.0))
    >>> [step.kind for step in surveys["2006Q4"].weighting]
    ['nonresponse', 'calibration']
    >>> bool((surveys["2006Q4"].weights == r.surveys["2006Q4"].weights).all())
    True
    """
    surveys = {}
    for period, rows in sample.groupby("period", sort=True):
        s = Survey(rows.reset_index(drop=True), design).adjust_nonresponse(
            responded, by=list(by), small_cells="collapse")
        frame = frames[year_of(period)]
        targets = frame.subset(frame.data["part"].to_numpy() == part).margins(
            counts=list(margins), totals=list(totals))
        if targets:
            s = s.calibrate(targets, method=method, bounds=bounds)
        if trim is not None:
            s = s.trim_weights(*trim)
        surveys[str(period)] = s
    return surveys
