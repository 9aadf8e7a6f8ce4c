"""What a bulletin publishes, from the weighted samples: the estimates and the protected tables.

:func:`breakdown_estimates` makes the :class:`~survey.publish.report.build.Estimates` of a
quarterly cycle (combined totals of every period and breakdown, the series, the year to
date); :func:`protect_published` protects the published tables on the unit data of the
published quarter. Both label missing breakdown values first
(:func:`~survey.publish.report.build.label_missing`), as the bulletin shows them. The
configured cycle (:mod:`survey.pipeline.steps`) and ``examples/demo_bulletin.py`` call
them with the same arguments.

Examples
--------
>>> from survey.pipeline.demo import demo_result
>>> sorted(demo_result().estimates.series)[:3]  # breakdown_estimates of the demo
['channel_bureau', 'channel_federation', 'channel_zone']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from survey.periods import shift_quarter
from survey.publish.report.build import Estimates, label_missing

__all__ = ["breakdown_estimates", "protect_published"]


def breakdown_estimates(variables: Sequence[str], *, take_all: pd.DataFrame,
                        surveys: Mapping[str, Any],
                        breakdowns: Mapping[str, Sequence[str] | None], published: str,
                        level: float = 0.95, language: str = "en",
                        model: Callable[[str, Any, list[str], Sequence[str] | None], Any]
                        | None = None) -> Estimates:
    """The estimates a bulletin reports: every period by every breakdown, the series and
    the year to date.

    Missing breakdown values get an explicit label (:func:`label_missing`), then
    :func:`survey.quarterly.series.breakdown_totals` gives the combined totals of every
    period and breakdown and the year to date of ``published`` by breakdown;
    :func:`survey.quarterly.series.quarterly_series` makes each breakdown's series and
    :func:`survey.estimation.combined.combined_total` the sector's year to date a year
    earlier (and of ``published`` when no breakdown gave it).

    Parameters
    ----------
    variables : sequence of str
    take_all : pandas.DataFrame
        The take-all panel (column ``period``).
    surveys : mapping of str to survey.Survey
        The weighted sample of each period.
    breakdowns : mapping of str to list of str or None
        Name -> domain columns (``None``: the sector).
    published : str
        The published quarter.
    level : float, default=0.95
    language : {"en", "zh"}, default="en"
        Of the label of missing values.
    model : callable, optional
        The take-none part (:class:`survey.estimation.takenone.TakeNoneModel`).

    Returns
    -------
    survey.publish.report.build.Estimates
        Without the small-area levels (``levels``, ``counties``).

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> r = demo_result()
    >>> est = breakdown_estimates(["gross_output"], take_all=r.take_all, surveys=r.surveys,
    ...                           breakdowns={"sector": None}, published="2006Q4")
    >>> est.year_to_date.period, est.year_to_date_last_year.period, len(est.series["sector"].table())
    ('2006Q4', '2005Q4', 8)
    """
    from survey.estimation.combined import combined_total
    from survey.quarterly.series import breakdown_totals, quarterly_series

    fill = [c for cols in breakdowns.values() if cols for c in cols]
    labelled = {p: s.assign(**{c: label_missing(s.data[[c]], [c], language)[c].to_numpy()
                               for c in fill if c in s.data.columns and s.data[c].isna().any()})
                for p, s in surveys.items()}
    by_period, ytd_by = breakdown_totals(
        variables, take_all=label_missing(take_all, fill, language), surveys=labelled,
        breakdowns=breakdowns, published=published, level=level, model=model)

    def year_to_date(period: str) -> Any:
        if period not in surveys:
            return None
        names = [f"{v}_ytd" for v in variables]
        return combined_total(
            names, sample=surveys[period],
            take_all=take_all[take_all["period"] == period].reset_index(drop=True),
            imputed={f"{v}_ytd": f"{v}_imputed" for v in variables}, period=period,
            level=level, model=None if model is None else model(
                period, surveys[period], names, None))

    return Estimates(by_period=by_period, breakdowns=dict(breakdowns),
                     series={name: quarterly_series(list(per.values()))
                             for name, per in by_period.items()},
                     year_to_date=ytd_by.get("sector") or year_to_date(published),
                     year_to_date_last_year=year_to_date(shift_quarter(published, -4)),
                     year_to_date_by=ytd_by)


def protect_published(take_all: pd.DataFrame, survey: Any,
                      tables: Mapping[str, tuple[Sequence[str], Sequence[str], Sequence[str]]],
                      *, period: str, language: str = "en", **options: Any) -> dict[str, Any]:
    """Cell suppression of the published tables of ``period`` on its unit data.

    The units are the take-all rows of ``period`` (weight 1) and the responding sampled
    firms with their final weight (column ``weight``); each table is protected for each
    of its variables and their year to date (``{v}_ytd`` when present: the bulletin
    publishes both), missing classification values labelled, by
    :func:`survey.publish.disclosure.protect_tables`.

    Parameters
    ----------
    take_all : pandas.DataFrame
        The take-all panel (column ``period``).
    survey : survey.Survey
        The weighted sample of ``period``.
    tables : mapping of str to (list of str, list of str, list of str)
        Row columns, column columns (may be empty) and variables of each table.
    period : str
    language : {"en", "zh"}, default="en"
        Of the labels of missing values and of the margins (``total_label``).
    **options
        Passed to :func:`~survey.publish.disclosure.protect_table` (``group``, ``rules``,
        ``cost``).

    Returns
    -------
    dict of str to survey.publish.disclosure.ProtectedTable
        Keys ``"<table>:<variable>"``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> from survey.publish.disclosure import DisclosureRules
    >>> r = demo_result()
    >>> out = protect_published(r.take_all, r.surveys["2006Q4"],
    ...                         {"zone": (["zone"], [], ["gross_output"])}, period="2006Q4",
    ...                         rules=DisclosureRules(min_frequency=3))
    >>> sorted(out)
    ['zone:gross_output', 'zone:gross_output_ytd']
    """
    from survey.publish.disclosure import protect_tables

    units = pd.concat([take_all[take_all["period"] == period].assign(weight=1.0),
                       survey.data.assign(weight=survey.weights)[survey.weights > 0]],
                      ignore_index=True)
    tables = {name: (list(rows), list(cols),
                     [*names, *(f"{v}_ytd" for v in names if f"{v}_ytd" in units)])
              for name, (rows, cols, names) in tables.items()}
    data = label_missing(units, sorted({c for r, c, _ in tables.values() for c in [*r, *c]}),
                         language)
    return protect_tables(data, tables, weights="weight",
                          total_label="合计" if language == "zh" else "Total", **options)
