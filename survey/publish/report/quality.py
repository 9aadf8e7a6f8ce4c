"""Quality indicators, the methods note and the display unit of money.

:func:`quality_indicators` reads the published period's response rates, imputed
and take-all shares, edited and imputed values and suppressed cells off the cycle's
results; :func:`methods_note` writes the methods note with display names (never
column names); :func:`display_unit` gives the printed name, divisor and decimals of
the ``[report] unit`` (:data:`UNITS`). None of them computes a statistic.

Examples
--------
>>> display_unit("千元", "en")
('thousand yuan', 1.0, 0)
>>> methods_note(take_all_firms=5, sampled_firms=20, strata=3, language="en").startswith(
...     "Firms above designated size (5)")
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from survey.publish.report.content import ReportError
from survey.publish.report.labels import label, percent
from survey.publish.report.wording import WORDING

__all__ = [
    "DISPLAY",
    "IMPUTED_MARKERS",
    "UNITS",
    "display_unit",
    "methods_note",
    "quality_indicators",
]

#: Money is published in 亿元 (100 million yuan); the data are in thousand yuan.
DISPLAY = {"zh": ("亿元", 1e5), "en": ("100 million yuan", 1e5)}
#: Display units of money (``[report] unit``): divisor from thousand yuan, English name,
#: decimals printed.
UNITS = {"亿元": (1e5, "100 million yuan", 2), "万元": (10.0, "10 thousand yuan", 0),
         "千元": (1.0, "thousand yuan", 0)}
#: Ledger markers of imputed values (counted by the quality indicators).
IMPUTED_MARKERS = ("forward_imputed", "backward_imputed", "constructed")


def quality_indicators(*, period: str, take_all: pd.DataFrame, survey: Any, sector: pd.DataFrame,
                       variables: Sequence[str], ledger_cells: pd.DataFrame | None = None,
                       protected: Mapping[str, Any] | None = None,
                       language: str = "zh") -> pd.DataFrame:
    """Quality indicators of the published period, read off the cycle's results.

    Parameters
    ----------
    period : str
    take_all : pandas.DataFrame
        The take-all panel (``period``, boolean ``responded``).
    survey : survey.Survey
        The weighted sample of the period, with its nonresponse step.
    sector : pandas.DataFrame
        The sector table of the period (its first row gives the imputed and
        take-all shares of the first variable).
    variables : sequence of str
        The published indicators.
    ledger_cells : pandas.DataFrame or None, default=None
        :meth:`~survey.returns.ledger.Ledger.current` of the period (edited
        and imputed values are counted there, so a re-run reports the same);
        ``None``: those two indicators are left out.
    protected : mapping of str to ProtectedTable or None, default=None
    language : {"zh", "en"}, default="zh"

    Returns
    -------
    pandas.DataFrame
        ``indicator, value, unit`` (``unit`` ``"%"``: a fraction).

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> quality = demo_result().content.quality
    >>> quality["indicator"].iloc[0], int(quality["value"].iloc[0])
    ('规模以上企业数', 1098)
    """
    names = WORDING[language]["quality"]
    ta = take_all[take_all["period"] == period]
    nonresponse = next(step.report for step in survey.weighting if step.kind == "nonresponse")
    cells = nonresponse.table
    first = sector.iloc[0]
    rows = [
        ("take_all_firms", len(ta), ""),
        ("take_all_response_rate", float(ta["responded"].mean()), "%"),
        ("sample_size", int(cells["n_sampled"].sum()), ""),
        ("respondents", int(cells["n_respondents"].sum()), ""),
        ("response_rate", float(cells["n_respondents"].sum() / cells["n_sampled"].sum()), "%"),
        ("weighted_response_rate",
         float(cells["weight_respondents"].sum() / cells["weight_sampled"].sum()), "%"),
        ("imputed_share", float(first["imputed_share"]), "%"),
        ("take_all_share", float(first["take_all_share"]), "%"),
    ]
    if ledger_cells is not None:
        items = [f"{v}{s}" for v in variables for s in ("_ytd", "_ytd_last_year")]
        marker = ledger_cells["marker"]
        rows += [("edited_values", int((marker == "edited").sum()), ""),
                 ("imputed_values", int((marker.isin(IMPUTED_MARKERS)
                                         & ledger_cells["item"].isin(items)).sum()), "")]
    # cells of cross tables (rows x columns) are checked for disclosure but not published: the
    # bulletin publishes their margins; the suppressed cells the bulletin shows are counted from
    # its own tables (:func:`survey.publish.report.build.bulletin_content`)
    hidden, kinds = 0, []
    for pt in (protected or {}).values():
        if pt.rows and pt.columns:
            inner = (pt.cells["row_level"].to_numpy() > 0) & (pt.cells["column_level"].to_numpy() > 0)
            hidden += int((pt.suppressed & inner).sum())
            kind = "×".join(label(c, language) for c in (*pt.rows, *pt.columns))
            kinds += [kind] if kind not in kinds else []
    if kinds:
        rows.append(("unpublished_suppressed", hidden, ""))
    return pd.DataFrame({"indicator": [names[k].format(tables="、".join(kinds) if language == "zh"
                                                       else ", ".join(kinds)) for k, _, _ in rows],
                         "value": pd.array([v for _, v, _ in rows], dtype=object),
                         "unit": [u for _, _, u in rows]})


def display_unit(unit: str | None = None, language: str = "zh") -> tuple[str, float, int]:
    """The printed name, divisor (from thousand yuan) and decimals of a display unit of money.

    Parameters
    ----------
    unit : {"亿元", "万元", "千元"} or None, default=None
        The ``[report] unit``; ``None``: 亿元.
    language : {"zh", "en"}, default="zh"

    Examples
    --------
    >>> display_unit("万元", "en")
    ('10 thousand yuan', 10.0, 0)
    >>> display_unit()
    ('亿元', 100000.0, 2)
    """
    unit = "亿元" if unit is None else unit
    if unit not in UNITS:
        raise ReportError(f"unit={unit!r} is not a display unit; use one of {list(UNITS)}.")
    factor, english, decimals = UNITS[unit]
    return (unit if language == "zh" else english), factor, decimals


def _names(columns: Sequence[str], language: str, *, margins: bool = False) -> list[str]:
    """Display names of columns for the methods note (never the column names themselves)."""
    text = WORDING[language]
    out = []
    for c in columns:
        if c in text["sizes"]:
            out.append(text["total"].format(what=text["sizes"][c]) if margins else text["sizes"][c])
        else:
            what = label(c, language)
            what = what if language == "zh" else what.lower()
            out.append(text["margin"].format(what=what) if margins else what)
    return out


def methods_note(*, take_all_firms: int, sampled_firms: int, strata: int,
                 stratified_by: Sequence[str] = (), calibration: str = "linear",
                 margins: Sequence[str] = (), level: float = 0.95,
                 growth: Literal["comparable", "level"] = "comparable",
                 language: str = "zh", all_strata: int | None = None) -> str:
    """The methods note of the bulletin (two paragraphs), with display names, not column names.

    Parameters
    ----------
    take_all_firms, sampled_firms : int
        Firms enumerated completely; firms in the sample.
    strata : int
        Take-some strata (size classes within the stratification columns).
    all_strata : int, optional
        Strata of the plan, the take-all stratum included (as the ``survey plan``
        console line); default ``strata + 1``.

    Examples
    --------
    >>> note = methods_note(take_all_firms=555, sampled_firms=2675, strata=42,
    ...                     stratified_by=["city"], margins=["city"], level=0.9, language="en")
    >>> "90% confidence intervals" in note, "(42 strata; 43 with" in note, note.count("\\n\\n")
    (True, True, 1)
    >>> "按市和规模分" in methods_note(take_all_firms=555, sampled_firms=2675, strata=42,
    ...     stratified_by=["city"], margins=["city", "revenue_prev_year"])
    True
    """
    text = WORDING[language]
    joined = "、".join if language == "zh" else ", ".join
    method = text["calibration"].get(calibration, calibration)
    return text["methods"].format(
        n_ta=take_all_firms, n=sampled_firms, n_strata=strata,
        n_all=strata + 1 if all_strata is None else all_strata,
        strata=joined(_names(stratified_by, language)) or text["strata_all"],
        margins=joined(_names(margins, language, margins=True)) or "-", method=method,
        level=percent(level), growth=text["growth"][growth])
