"""The bulletin's content from the estimates: headline, tables, charts, quality, methods, wording.

:func:`bulletin_content` turns the estimates of a quarterly cycle (combined
totals by breakdown and period, the series, the year to date), the
disclosure decisions and the weighted sample into a
:class:`~survey.publish.report.BulletinContent`, which
:func:`~survey.publish.report.write_bulletin` writes. It computes no
statistic: every number is read off its inputs (money is rescaled for
display, e.g. thousand yuan to 亿元).

Examples
--------
>>> from survey.pipeline.demo import demo_result
>>> result = demo_result()  # the demo cycle, run once
>>> content = bulletin_content(result.estimates, period="2006Q4", take_all=result.take_all,
...     survey=result.surveys["2006Q4"], protected=result.protected, title="Demo",
...     stratified_by=["city"], margins=["city", "revenue_prev_year"], level=0.95)
>>> [t.name for t in content.tables]  # no channels given
['ytd', 'sector', 'city', 'ytd_city', 'industry', 'ytd_industry', 'zone', 'ytd_zone', 'levels']
>>> content.headline[0].label, content.label("interval")
('2006年1-12月累计规模以上企业工业总产值', '95% 置信区间')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from survey.periods import parse_quarter, shift_quarter
from survey.io import joined_labels
from survey.publish.report.content import (
    GROWTH_COLUMNS,
    BulletinContent,
    BulletinTable,
    Headline,
    ReportError,
    cell_flags,
    parts_from_table,
)
from survey.publish.report.labels import label, percent

__all__ = [
    "DISPLAY",
    "UNITS",
    "IMPUTED_MARKERS",
    "METHOD_WORDS",
    "MODEL_NOTE",
    "REVISIONS_NOTE",
    "LEVEL_WORDS",
    "area_content",
    "case_study_table",
    "levels_bulletin_table",
    "published_figures",
    "revisions_table",
    "text_model",
    "NOT_CLASSIFIED",
    "WORDING",
    "Estimates",
    "bulletin_content",
    "display_unit",
    "label_missing",
    "methods_note",
    "quality_indicators",
    "target_progress",
]

#: Label of firms outside every special zone (or with another missing breakdown value).
NOT_CLASSIFIED = {"zh": "(非园区)", "en": "(none)"}
#: Money is published in 亿元 (100 million yuan); the data are in thousand yuan.
DISPLAY = {"zh": ("亿元", 1e5), "en": ("100 million yuan", 1e5)}
#: Display units of money (``[report] unit``): divisor from thousand yuan, English name,
#: decimals printed.
UNITS = {"亿元": (1e5, "100 million yuan", 2), "万元": (10.0, "10 thousand yuan", 0),
         "千元": (1.0, "thousand yuan", 0)}
#: Ledger markers of imputed values (counted by the quality indicators).
IMPUTED_MARKERS = ("forward_imputed", "backward_imputed", "constructed")
_MONTHS = ("March", "June", "September", "December")

#: Every sentence of the bulletin that is not a label (headline periods, table titles,
#: quality indicators, notes, the methods note).
WORDING = {
    "zh": {
        "sector": "全行业",
        "quarter": "{period}",
        "ytd": "{year}年1-{month}月累计",
        "by": "按{what}分",
        "channel_table": "按渠道分（各渠道分别统计，企业可同时属于多个渠道）",
        "quality": {
            "take_all_response_rate": "规模以上企业回报率",
            "response_rate": "样本企业回报率",
            "weighted_response_rate": "样本企业加权回报率",
            "imputed_share": "工业总产值中插补部分比重",
            "take_all_share": "工业总产值中规模以上部分比重",
            "sample_size": "样本企业数",
            "respondents": "回报样本企业数",
            "take_all_firms": "规模以上企业数",
            "edited_values": "审核更正的数值（台账中标记为“更正”）",
            "imputed_values": "插补的数值（发布指标，台账中标记为插补）",
            "suppressed_cells": "本公报统计表中因保密不予公布的格（x）",
            "unpublished_suppressed": "保密审查中隐藏的交叉格（{tables}，本公报不发表；它们保护已发表的表）",
        },
        "above_size": "规模以上企业",
        "ytd_table": "{ytd}：全行业、规模以上企业和各渠道",
        "ytd_by": "按{what}分（{ytd}）",
        "quarter_by": "按{what}分（{period}）",
        "quarter_sector": "全行业（{period}）",
        "unit_caption": "金额单位：{unit}；增长、变异系数为百分数（%）；样本单位数为个。",
        "take_all_note": ("规模以上企业为全面调查，没有抽样误差（区间宽度为零）；"
                          "其误差来自缺报企业的插补（见数据质量指标）。"),
        "calibration": {"linear": "线性校准（广义回归估计）", "raking": "迭代比例校准（raking）",
                        "logit": "logit 校准"},
        "margin": "{what}企业数",
        "total": "{what}合计",
        "sizes": {"revenue_prev_year": "上年主营业务收入"},
        "strata_all": "全部",
        "targets_title": "目标进度",
        "target_note": ("目标为 {year} 年{what}{value}。所需年均增长 = (目标 / 本年估计值)^(1/年数) − 1，"
                        "区间由本年估计值的置信区间换算；实际增长为本年累计比上年同期增长。"),
        "not_protected": "{var}有负值，不能用规模规则做保密审查；其表格中的格按其他指标的隐藏格处理。",
        "rounding": "因四舍五入，分项之和可能不等于合计。",
        "synthetic": "本公报数字由合成数据推算，仅作演示。",
        "growth": {
            "comparable": "增长率为可比口径：同一批企业本期与上年同期相比。",
            "level": "增长率为总量口径：本期估计总量与上年同期估计总量相比（两期企业范围可能不同）。",
        },
        "methods": (
            "规模以上企业（{n_ta} 家）全面调查；缺报企业和缺报项目用同类企业的比率均值法插补"
            "（先用本企业上期数乘同类企业增速，其次用下期数回推，最后用登记册营业收入构造），"
            "插补值在数据台账中单独标记。规模以下企业按{strata}"
            "和规模分 {n_strata} 层（连同规模以上企业全面调查层共 {n_all} 层），用永久随机数抽取 {n} 家样本企业；样本权数先在层内做无回答调整，"
            "再按登记册的{margins}做{method}。\n\n"
            "报表先检查计量单位错误（误以元填报的数值除以 1000，作为修订记入台账），"
            "再按审核规则检查；违反硬性规则的数值不用，改为插补。"
            "{growth}区间为 {level} 置信区间，"
            "只反映抽样误差。表中涉及单个企业商业秘密的格（x）按最小频数、p% 规则和次级隐藏处理。"),
    },
    "en": {
        "sector": "Whole sector",
        "quarter": "{period}",
        "ytd": "January-{month_name} {year}",
        "by": "By {what}",
        "channel_table": "By reporting channel (each channel in full; a firm can be in several)",
        "quality": {
            "take_all_response_rate": "Response rate, firms above designated size",
            "response_rate": "Response rate, sampled firms",
            "weighted_response_rate": "Weighted response rate, sampled firms",
            "imputed_share": "Imputed share of gross output",
            "take_all_share": "Share of gross output from firms above designated size",
            "sample_size": "Sampled firms",
            "respondents": "Responding sampled firms",
            "take_all_firms": "Firms above designated size",
            "edited_values": "Values corrected by editing (marked edited in the ledger)",
            "imputed_values": "Imputed values of the published indicators (ledger markers)",
            "suppressed_cells": "Cells of this bulletin's tables suppressed for confidentiality (x)",
            "unpublished_suppressed": ("Suppressed cells of cross tables checked for disclosure but not "
                                       "published ({tables}; they protect the published tables)"),
        },
        "above_size": "Firms above designated size",
        "ytd_table": "{ytd}: whole sector, firms above designated size, channels",
        "ytd_by": "By {what} ({ytd})",
        "quarter_by": "By {what} ({period})",
        "quarter_sector": "Whole sector ({period})",
        "unit_caption": "Money in {unit}; growth and CV in %; sample firms are counts.",
        "take_all_note": ("Firms above designated size are enumerated completely: no sampling error "
                          "(intervals of width zero); their error comes from imputing missing returns "
                          "(see the quality indicators)."),
        "calibration": {"linear": "linear calibration (GREG)", "raking": "raking",
                        "logit": "logit calibration"},
        "margin": "firms by {what}",
        "total": "total {what}",
        "sizes": {"revenue_prev_year": "revenue of the previous year"},
        "strata_all": "none",
        "targets_title": "Progress to targets",
        "target_note": ("Target: {what} {value} in {year}. Growth needed per year = (target / this "
                        "year's estimate)^(1/years) - 1, its interval from the estimate's interval; "
                        "growth achieved is the year to date on the same period of last year."),
        "not_protected": ("{var} has negative values, so magnitude rules cannot protect it; its "
                          "cells are suppressed where another indicator's are."),
        "rounding": "Components may not add up to totals because of rounding.",
        "synthetic": "The figures of this bulletin are estimated from synthetic data (a demonstration).",
        "growth": {
            "comparable": ("Growth is on a comparable basis: the same firms this quarter and a "
                           "year earlier. "),
            "level": ("Growth is level on level: this quarter's estimated total against the "
                      "total estimated a year earlier (the firms covered may differ). "),
        },
        "methods": (
            "Firms above designated size ({n_ta}) are enumerated completely; missing returns and "
            "missing items are imputed by ratio of means within classes of similar firms (the "
            "firm's previous quarter times the class growth, else back from its next return, else "
            "constructed from its register revenue); imputed values are marked in the ledger. "
            "Firms below the size are stratified by {strata} "
            "and size class ({n_strata} strata; {n_all} with the take-all stratum); {n} firms are selected with permanent random "
            "numbers. Their weights are adjusted for nonresponse within strata and calibrated "
            "({method}) to the register's {margins}.\n\n"
            "Returns are checked for unit errors (values reported in yuan are divided by 1000 and "
            "recorded as revisions) and then by the edit rules; values failing a hard rule are "
            "replaced by imputed values. {growth}Intervals are {level} confidence intervals and "
            "reflect sampling error only. Cells that would disclose a firm's figures (x) are "
            "suppressed by the minimum-frequency and p% rules with secondary suppression."),
    },
}


@dataclass(frozen=True, kw_only=True, eq=False)
class Estimates:
    """Combined estimates of every period by every breakdown: what a bulletin reports.

    Attributes
    ----------
    by_period : dict
        ``{breakdown name: {period: CombinedEstimate}}``; names are
        ``"sector"`` (no breakdown), breakdown columns and
        ``"channel_<name>"`` (by the channel's flag column).
    series : dict
        ``{breakdown name: QuarterlySeries}``.
    year_to_date : survey.estimation.combined.CombinedEstimate
        Sector totals of the published period's year to date (variables
        ``{var}_ytd``).
    breakdowns : dict
        ``{breakdown name: list of by columns, or None for the sector}``.
    year_to_date_last_year : CombinedEstimate or None, default=None
        The same, a year earlier (for level-on-level growth of the year to
        date); ``None`` when that quarter is not estimated.
    year_to_date_by : dict, default={}
        Year-to-date totals of the published period (variables ``{var}_ytd``)
        by breakdown: the names of ``breakdowns`` and ``"take_all"`` (the
        take-all part, firms above designated size, on its own; no sampling
        error). Empty: the bulletin shows the sector's year to date only.
    levels : pandas.DataFrame or None, default=None
        The three federation levels of the published period
        (:func:`survey.estimation.levels.levels_table`: region, cities, counties by
        small-area estimation, each row with its ``method``).
    counties : pandas.DataFrame or None, default=None
        The county estimates behind ``levels``
        (:func:`survey.estimation.levels.county_estimates`, every variable).

    Examples
    --------
    >>> Estimates(by_period={}, series={}, year_to_date=None, breakdowns={"sector": None}).breakdowns
    {'sector': None}
    """

    by_period: dict
    series: dict
    year_to_date: Any
    breakdowns: dict
    year_to_date_last_year: Any = None
    year_to_date_by: dict = field(default_factory=dict)
    levels: pd.DataFrame | None = None
    counties: pd.DataFrame | None = None


def label_missing(frame: pd.DataFrame, columns: Sequence[str], language: str) -> pd.DataFrame:
    """Missing breakdown values (a firm in no special zone) get an explicit label.

    Examples
    --------
    >>> import pandas as pd
    >>> label_missing(pd.DataFrame({"zone": ["A", None]}), ["zone"], "en")["zone"].tolist()
    ['A', '(none)']
    """
    fills = {c: NOT_CLASSIFIED[language] for c in columns
             if c in frame.columns and frame[c].isna().any()}
    return frame.fillna(fills) if fills else frame


def _suppressed(protected: Mapping[str, Any], frame: pd.DataFrame, by: Sequence[str],
                variables: Sequence[str], language: str) -> np.ndarray:
    """Suppression flag of each row of an estimates table (union over the protected
    variables for a variable without its own protection)."""
    flags = np.zeros(len(frame), dtype=bool)
    if not by:
        return flags
    total = "合计" if language == "zh" else "Total"
    own: dict[str, np.ndarray] = {}
    for key, pt in protected.items():
        keys = [*pt.rows, *pt.columns]
        if by[0] not in keys:
            continue
        probe = pd.DataFrame({k: (frame[k].astype(str) if k in frame.columns else total)
                              for k in keys})
        if pd.api.types.is_bool_dtype(frame[by[0]]):
            probe[by[0]] = frame[by[0]].astype(str)
        hit = pt.suppressed_rows(probe)
        variable = key.split(":", 1)[1]
        own[variable] = own.get(variable, np.zeros(len(frame), dtype=bool)) | hit
    if not own:
        return flags
    any_variable = np.logical_or.reduce(list(own.values()))
    names = frame["variable"].to_numpy()
    for v in variables:
        rows = names == v
        flags[rows] = own.get(v, any_variable)[rows]
    return flags


def _scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    money = [c for c in ("estimate", "se", "ci_low", "ci_high") if c in frame.columns]
    return frame.assign(**{c: frame[c] / factor for c in money})


def _table(current: Any, previous: Any, growth: str, level: float) -> pd.DataFrame:
    """``current.table()``; with ``growth="level"`` its growth columns are the level-on-level
    growth against ``previous`` (:func:`survey.quarterly.series.level_growth`; NaN without
    ``previous``), with intervals from the same t quantile as the totals."""
    from survey.estimation.results import t_quantile
    from survey.quarterly.series import level_growth

    table = current.table()
    if growth == "comparable":
        return table
    if previous is None:
        return table.assign(**{c: np.nan for c in GROWTH_COLUMNS})
    keys = [*current.by, "variable"]
    found = level_growth(current, previous)[[*keys, "level_growth", "level_growth_se"]]
    merged = table[keys].merge(found, on=keys, how="left")
    g = merged["level_growth"].to_numpy(dtype=float)
    se = merged["level_growth_se"].to_numpy(dtype=float)
    q = t_quantile(level, table["df"].to_numpy(dtype=float))
    return table.assign(growth=g, growth_se=se, growth_ci_low=g - q * se, growth_ci_high=g + q * se)


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
    # its own tables (:func:`bulletin_content`)
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


def target_progress(targets: Mapping[str, Mapping[str, Mapping[Any, float]]], *, ytd_by: Mapping[str, Any],
                    breakdowns: Mapping[str, Any], period: str, level: float = 0.95,
                    factor: float = 1e5, language: str = "zh",
                    channels: Mapping[str, str | None] | None = None,
                    domain_names: Mapping[str, Mapping[Any, str]] | None = None) -> pd.DataFrame:
    """Progress to targets: the estimate, the growth needed per year and the growth achieved.

    For a target ``T`` in year ``Y`` and this year's estimate ``E`` (the year
    to date of the published fourth quarter: the whole year), the growth
    needed per year is ``(T / E) ** (1 / (Y - year)) - 1``; its interval
    comes from the estimate's interval (the needed growth falls as the
    estimate rises). The growth achieved is the year-to-date growth on the
    same period of last year, with its interval. Before the fourth quarter
    the year to date is not a whole year: the needed growth is left out
    (NaN).

    Parameters
    ----------
    targets : mapping
        ``{domain: {variable: {year: target in thousand yuan}}}``; a domain is
        ``"sector"``, ``"take_all"`` (firms above designated size),
        ``"channel_<name>"`` or ``"<breakdown>=<value>"`` (e.g. ``"zone=Z03"``).
    ytd_by : mapping
        :attr:`Estimates.year_to_date_by`.
    breakdowns : mapping
        :attr:`Estimates.breakdowns`.
    period : str
    level : float, default=0.95
    factor : float, default=1e5
        Divisor from thousand yuan to the display unit.
    language, channels, domain_names
        For the printed domain names.

    Returns
    -------
    pandas.DataFrame
        ``domain, variable, year, target, estimate, ci_low, ci_high, needed,
        needed_ci_low, needed_ci_high, growth, growth_ci_low,
        growth_ci_high`` (money in the display unit, growth as fractions).

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> result = demo_result()
    >>> t = target_progress({"channel_zone": {"gross_output": {2010: 1e7}}},
    ...     ytd_by=result.estimates.year_to_date_by, breakdowns=result.estimates.breakdowns,
    ...     period="2006Q4")
    >>> t[["domain", "year", "target"]].values.tolist()
    [['特色产业园区', 2010, 100.0]]
    >>> bool(t["needed_ci_low"].iloc[0] < t["needed"].iloc[0] < t["needed_ci_high"].iloc[0])
    True
    """
    year, quarter = parse_quarter(period)
    channels = dict(channels or {})
    rows = []
    for domain, by_variable in targets.items():
        key, _, value = str(domain).partition("=")
        if key not in ytd_by:
            raise ReportError(
                f"[report.targets] {domain!r}: no year-to-date estimates for {key!r}; use 'sector', "
                f"'take_all', 'channel_<name>' or '<breakdown>=<value>' with one of "
                f"{sorted(ytd_by)}.")
        table = ytd_by[key].table()
        if key == "take_all":
            shown = WORDING[language]["above_size"]
        elif key == "sector":
            shown = WORDING[language]["sector"]
        elif key.startswith("channel_"):
            name = key[len("channel_"):]
            own = channels.get(name)
            shown = own if own and (language == "zh" or own.isascii()) else label(name, language)
            table = table[table[breakdowns[key][0]].astype(bool).to_numpy()]
        else:
            column = breakdowns[key][0]
            if not value:
                raise ReportError(f"[report.targets] {domain!r}: name the domain, e.g. "
                                  f"'{key}=<value>'.")
            table = table[table[column].astype(str).to_numpy() == value]
            shown = (domain_names or {}).get(column, {}).get(value, value)
        for variable, by_year in by_variable.items():
            row = table[table["variable"] == f"{variable}_ytd"]
            if row.empty:
                raise ReportError(f"[report.targets] {domain!r}: no estimate of {variable!r} "
                                  f"for that domain.")
            row = row.iloc[0]
            for target_year, target in by_year.items():
                years = int(target_year) - year
                if years <= 0:
                    raise ReportError(f"[report.targets] {domain!r}.{variable}: the target year "
                                      f"{target_year} is not after {year}.")
                estimate, low, high = (float(row[c]) for c in ("estimate", "ci_low", "ci_high"))

                def needed(level_now: float) -> float:
                    if quarter != 4 or not level_now > 0:
                        return float("nan")
                    return (float(target) / level_now) ** (1.0 / years) - 1.0

                rows.append({"domain": shown, "variable": variable, "year": int(target_year),
                             "target": float(target) / factor, "estimate": estimate / factor,
                             "ci_low": low / factor, "ci_high": high / factor,
                             "needed": needed(estimate), "needed_ci_low": needed(high),
                             "needed_ci_high": needed(low), "growth": float(row["growth"]),
                             "growth_ci_low": float(row["growth_ci_low"]),
                             "growth_ci_high": float(row["growth_ci_high"])})
    return pd.DataFrame(rows, columns=["domain", "variable", "year", "target", "estimate", "ci_low",
                                       "ci_high", "needed", "needed_ci_low", "needed_ci_high",
                                       "growth", "growth_ci_low", "growth_ci_high"])


def bulletin_content(estimates: Estimates, *, period: str, take_all: pd.DataFrame, survey: Any,
                     title: str, protected: Mapping[str, Any] | None = None,
                     ledger_cells: pd.DataFrame | None = None,
                     channels: Mapping[str, str | None] | None = None,
                     domain_names: Mapping[str, Mapping[Any, str]] | None = None,
                     language: Literal["zh", "en"] = "zh", level: float = 0.95,
                     growth: Literal["comparable", "level"] = "comparable",
                     stratified_by: Sequence[str] = (), calibration: str = "linear",
                     margins: Sequence[str] = (), cv_caution: float = 0.15,
                     cv_unreliable: float = 0.30, synthetic: bool = False,
                     money: tuple[str, float] | None = None, unit: str | None = None,
                     targets: Mapping[str, Mapping[str, Mapping[Any, float]]] | None = None,
                     all_strata: int | None = None, typical: pd.DataFrame | None = None,
                     revisions: pd.DataFrame | None = None) -> BulletinContent:
    """The bulletin of the published period: headline, tables, charts, quality, methods, notes.

    Headline: for each variable the year to date (January to the quarter,
    累计) of the firms above designated size (the take-all part) and of the
    sector, then the sector's quarter, with intervals and growth. Tables: the
    year to date of the sector, the take-all part and each channel; the
    sector's quarter; each breakdown's quarter next to its year to date; the
    channels' quarter; suppressed cells flagged. Charts: the sector series with interval bands, growth by
    the first breakdown, the parts (take-all / sampled) of the first
    variable. Quality: :func:`quality_indicators`. Methods:
    :func:`methods_note`.

    Parameters
    ----------
    estimates : Estimates
        The combined estimates (confidence level ``level``).
    period : str
        The published quarter.
    take_all : pandas.DataFrame
        The take-all panel (response and firm counts).
    survey : survey.Survey
        The weighted sample of the period (its nonresponse step, its strata).
    title : str
    protected : mapping of str to survey.publish.disclosure.ProtectedTable, optional
        ``"<table>:<variable>"`` -> protected table; the rows of a table whose
        cell is suppressed are flagged ``x`` (a variable without its own
        protection follows the others).
    ledger_cells : pandas.DataFrame or None, default=None
        The ledger's current cells of the period (quality indicators).
    channels : mapping of str to str or None, optional
        Channel name -> printed label (``None``: the label dictionary's); a
        channel is shown when ``estimates`` has ``"channel_<name>"``.
    domain_names : mapping, optional
        Column -> {code: printed name} (e.g. :func:`survey.datasets.display_names`).
    language : {"zh", "en"}, default="zh"
    level : float, default=0.95
        Confidence level of the estimates' intervals (named in the labels).
    growth : {"comparable", "level"}, default="comparable"
        Growth shown: comparable basis (the estimates' ``growth``) or level
        on level (:func:`survey.quarterly.series.level_growth` against the
        same quarter a year earlier in ``estimates``).
    stratified_by, calibration, margins
        For the methods note: the stratification columns, the calibration
        method and the calibration margins and totals.
    cv_caution, cv_unreliable : float, default=0.15, 0.30
    synthetic : bool, default=False
        Add the note that the figures come from synthetic data.
    money : (str, float) or None, default=None
        Display unit and divisor of money, overriding ``unit``.
    unit : {"亿元", "万元", "千元"} or None, default=None
        Display unit of money (``[report] unit``; default 亿元), printed in
        every table caption, headline card, chart axis and Excel format.
    targets : mapping, optional
        ``{domain: {variable: {year: target}}}`` (targets in thousand yuan;
        ``[report.targets]``): the progress-to-target table and chart
        (:func:`target_progress`).
    all_strata : int, optional
        Strata of the plan including the take-all stratum, for the methods note
        (default: the sample's strata + 1).
    typical : pandas.DataFrame or None, default=None
        The typical units' panel: their figures of ``period`` become the
        case-study section (:func:`case_study_table`), labelled 典型调查.
    revisions : pandas.DataFrame or None, default=None
        :meth:`survey.returns.ledger.Ledger.revisions`: the sector figures that
        changed since first published, flagged ``"r"`` (:func:`revisions_table`),
        and the series rows of those quarters flagged ``"r"``.

    When an estimate has a model part (take-none firms), every table gets a
    first column ``method`` saying which figures include the model part
    (:data:`METHOD_WORDS`), and the parts chart shows it.

    Returns
    -------
    survey.publish.report.BulletinContent

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> content = demo_result().content  # bulletin_content of the demo cycle
    >>> [t.name for t in content.tables]
    ['ytd', 'sector', 'city', 'ytd_city', 'industry', 'ytd_industry', 'zone', 'ytd_zone', 'channel', 'levels']
    >>> content.headline[0].label, round(content.headline[0].estimate), round(content.headline[0].growth, 2)
    ('2006年1-12月累计规模以上企业工业总产值', 145, 0.32)
    """
    if growth not in ("comparable", "level"):
        raise ReportError(f"growth={growth!r}: use 'comparable' or 'level'")
    protected = dict(protected or {})
    text = WORDING[language]
    unit, factor, decimals = display_unit(unit, language)
    if money is not None:
        unit, factor = money
    year, quarter = parse_quarter(period)
    before = shift_quarter(period, -4)
    per = estimates.by_period
    ytd_words = text["ytd"].format(year=year, month=quarter * 3, month_name=_MONTHS[quarter - 1])
    ytd_by = dict(estimates.year_to_date_by or {})
    if "sector" not in ytd_by and estimates.year_to_date is not None:
        ytd_by["sector"] = estimates.year_to_date

    def table(name: str) -> pd.DataFrame:
        return _table(per[name][period], per[name].get(before), growth, level)

    def ytd_table(name: str) -> pd.DataFrame:
        """The year to date of a breakdown, variables named as the quarter's (``{v}_ytd`` -> v)."""
        last_year = estimates.year_to_date_last_year if name == "sector" else None
        return _table(ytd_by[name], last_year, growth, level)

    def base(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(variable=frame["variable"].str.replace(r"_ytd$", "", regex=True))

    def word(key: str) -> str:
        return label(key, language)

    def lower(what: str) -> str:
        return what if language == "zh" else what.lower()

    sector = table("sector")
    variables = list(per["sector"][period].variables)
    ytd = ytd_table("sector")
    headline = []
    cards = [("take_all", text["above_size"]), ("sector", "")] if "take_all" in ytd_by else [
        ("sector", "")]
    for v in variables:
        rows = []
        for name, who in cards:  # the year to date first: the figures the report is written in
            frame = ytd if name == "sector" else ytd_table(name)
            rows.append((frame[frame["variable"] == f"{v}_ytd"].iloc[0], f"{ytd_words}", who))
        rows.append((sector[sector["variable"] == v].iloc[0],
                     text["quarter"].format(period=period), ""))
        for row, when, who in rows:
            if language == "en":
                name = f"{word(v)}, {lower(who) + ', ' if who else ''}{when}"
            else:
                name = f"{when}{who}{word(v)}"
            headline.append(Headline(
                label=name, variable=v, estimate=row["estimate"] / factor,
                ci_low=row["ci_low"] / factor, ci_high=row["ci_high"] / factor,
                growth=row["growth"], growth_ci_low=row["growth_ci_low"],
                growth_ci_high=row["growth_ci_high"], unit=unit, decimals=decimals))

    modelled = any(bool(est.table()["model_based"].any()) for per_name in per.values()
                   for est in per_name.values() if "model_based" in est.table().columns)

    def method(frame: pd.DataFrame) -> pd.DataFrame:
        """The ``method`` column first when an estimate has a model part (take-none firms)."""
        if not modelled:
            return frame
        flag = frame["model_based"] if "model_based" in frame.columns else False
        return _with_method(frame.assign(model_based=pd.Series(flag, index=frame.index)
                                         .fillna(False).astype(bool)), language)

    lead = ["method"] if modelled else []
    names = domain_names or {}
    tables = []
    # the year to date of the sector, the take-all part and each channel: one table
    ytd_frames = [base(ytd).assign(domain=text["sector"])]
    if "take_all" in ytd_by:
        ytd_frames.append(base(ytd_table("take_all")).assign(domain=text["above_size"]))
    for channel, own in (channels or {}).items():
        key = f"channel_{channel}"
        if key not in ytd_by:
            continue
        flag = estimates.breakdowns[key][0]
        frame = ytd_table(key)
        frame = frame.assign(suppressed=_suppressed(protected, frame, [flag],
                                                    [f"{v}_ytd" for v in variables], language))
        frame = frame[frame[flag].astype(bool).to_numpy()].drop(columns=[flag])
        own = own if own and (language == "zh" or own.isascii()) else None
        ytd_frames.append(base(frame).assign(domain=own or word(channel)))
    if len(ytd_by) > 0:
        frame = pd.concat(ytd_frames, ignore_index=True)
        if "suppressed" in frame.columns:
            frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
        tables.append(BulletinTable.from_table(
            _scaled(method(frame), factor), name="ytd", by=[*lead, "domain"], decimals=decimals,
            unit=unit, title=text["ytd_table"].format(ytd=ytd_words)))
    tables.append(BulletinTable.from_table(
        _scaled(method(sector), factor), name="sector", by=lead, decimals=decimals, unit=unit,
        title=text["quarter_sector"].format(period=period)))
    for name, by in estimates.breakdowns.items():
        if by is None or name.startswith("channel_"):
            continue
        what = lower(word(name))
        mapping = {c: names[c] for c in by if names.get(c)}
        pairs = [(table(name), variables, name[:31],
                  text["quarter_by"].format(what=what, period=period))]
        if name in ytd_by:
            pairs.append((ytd_table(name), [f"{v}_ytd" for v in variables], f"ytd_{name}"[:31],
                          text["ytd_by"].format(what=what, ytd=ytd_words)))
        for frame, names_v, short, title_text in pairs:
            flags = _suppressed(protected, frame, by, names_v, language)
            frame = base(frame.replace(mapping) if mapping else frame)
            tables.append(BulletinTable.from_table(
                _scaled(method(frame), factor), name=short, by=[*lead, *by], suppressed=flags,
                decimals=decimals, unit=unit, title=title_text))
    channel_frames = []
    for channel, own in (channels or {}).items():
        key = f"channel_{channel}"
        if key not in per:
            continue
        flag = estimates.breakdowns[key][0]
        frame = table(key)
        frame = frame.assign(suppressed=_suppressed(protected, frame, [flag], variables, language))
        frame = frame[frame[flag].astype(bool).to_numpy()].drop(columns=[flag])
        own = own if own and (language == "zh" or own.isascii()) else None
        frame.insert(0, "channel", own or word(channel))
        channel_frames.append(frame)
    if channel_frames:
        frame = pd.concat(channel_frames, ignore_index=True)
        tables.append(BulletinTable.from_table(_scaled(method(frame), factor), name="channel",
                                               by=[*lead, "channel"],
                                               title=f"{text['channel_table']}（{period}）"
                                               if language == "zh" else
                                               f"{text['channel_table']} ({period})",
                                               decimals=decimals, unit=unit))

    if estimates.levels is not None:
        tables.append(levels_bulletin_table(estimates.levels, names, language, factor))
    series = _scaled(estimates.series["sector"].table(), factor)
    series = series[["period", "variable", "estimate", "ci_low", "ci_high"]]
    growth_frame = None
    first = next((t for t in tables if t.name not in ("ytd", "sector", "channel")), None)
    if first is not None:
        g = first.frame
        keep = ~g["suppressed"].to_numpy(dtype=bool) if "suppressed" in g.columns else slice(None)
        g = g[keep]
        growth_frame = pd.DataFrame({"domain": g[first.breakdown[-1]].astype(str).to_numpy(),
                                     "variable": g["variable"].to_numpy(),
                                     "growth": g["growth"].to_numpy(),
                                     "growth_ci_low": g["growth_ci_low"].to_numpy(),
                                     "growth_ci_high": g["growth_ci_high"].to_numpy()})
        growth_frame = growth_frame[growth_frame["variable"] == variables[0]].dropna().reset_index(
            drop=True)
    parts_source = estimates.series["sector"].table()
    parts = _scaled(parts_from_table(parts_source[parts_source["variable"] == variables[0]]),
                    factor)

    strata = getattr(survey.design, "strata", None) or "stratum"
    strata = strata if isinstance(strata, str) else strata[0]
    note = methods_note(take_all_firms=int((take_all["period"] == period).sum()),
                        sampled_firms=len(survey.data), strata=survey.data[strata].nunique(),
                        stratified_by=stratified_by, calibration=calibration, margins=margins,
                        level=level, growth=growth, language=language, all_strata=all_strata)
    quality = quality_indicators(period=period, take_all=take_all, survey=survey, sector=sector,
                                 variables=variables, ledger_cells=ledger_cells,
                                 protected=protected, language=language)
    published_x = sum(int(np.sum(cell_flags(t, cv_caution=cv_caution, cv_unreliable=cv_unreliable)
                                 == "x")) for t in tables)
    quality = pd.concat([quality, pd.DataFrame({
        "indicator": [text["quality"]["suppressed_cells"]],
        "value": pd.array([published_x], dtype=object), "unit": [""]})], ignore_index=True)
    targets_frame = None
    if targets:
        targets_frame = target_progress(targets, ytd_by=ytd_by, breakdowns=estimates.breakdowns,
                                        period=period, level=level, factor=factor,
                                        language=language, channels=channels,
                                        domain_names=names)
    notes = [text["unit_caption"].format(unit=unit), text["rounding"]] + (
        [text["take_all_note"]] if "take_all" in ytd_by else []) + (
        [text["synthetic"]] if synthetic else []) + [
        text["not_protected"].format(var=word(v)) for v in variables
        if protected and not any(k.endswith(f":{v}") for k in protected)]
    if modelled:
        notes.append(text_model(language))
    revised = revisions_table(revisions, variables, language, factor) if revisions is not None \
        else None
    if revised is not None and len(revised):
        marked = set(revised["period"])
        series = series.assign(flag=["r" if p in marked else "" for p in series["period"]])
    return BulletinContent(
        title=title, period=period, language=language, headline=headline, tables=tables,
        series=series, growth=growth_frame, parts=parts, quality=quality, methods_note=note,
        notes=notes, cv_caution=cv_caution, cv_unreliable=cv_unreliable, level=level,
        growth_basis=growth, unit=unit, targets=targets_frame,
        case_studies=case_study_table(typical, period, variables, language, names)
        if typical is not None else None,
        revisions=revised if revised is not None and len(revised) else None,
        revisions_note=REVISIONS_NOTE[language] if revised is not None and len(revised) else "")


#: The ``method`` column of the tables when an estimate has a model part.
METHOD_WORDS = {"zh": ("全面调查+抽样", "全面调查+抽样+模型推算"),
                "en": ("enumerated + sampled", "enumerated + sampled + model")}
#: The note of the model part.
MODEL_NOTE = {
    "zh": "“模型推算”：起点以下（不调查）企业的数值由截断模型（按行业的比率模型，用最小的已报企业拟合，"
          "以登记册上年营业收入推算）得出，其模型方差计入标准误。",
    "en": "\"model\": the firms below the cut-off (not surveyed) are predicted by the cut-off "
          "model (a ratio model per industry fitted on the smallest reporting firms, from last "
          "year's register revenue); its model variance is included in the standard errors.",
}
#: The note under the revisions section.
REVISIONS_NOTE = {
    "zh": "首次公布数与现值之差；“在区间内”指现值落在首次公布数的置信区间内。",
    "en": "Change between the first published figure and the current one; \"within interval\": "
          "the current figure lies in the first figure's confidence interval.",
}


def text_model(language: str) -> str:
    """The note that explains the ``method`` column (model part).

    Examples
    --------
    >>> text_model("en").startswith('"model"')
    True
    """
    return MODEL_NOTE[language]


def _with_method(frame: pd.DataFrame, language: str) -> pd.DataFrame:
    words = METHOD_WORDS[language]
    flag = frame["model_based"].to_numpy(dtype=bool) if "model_based" in frame.columns else \
        np.zeros(len(frame), dtype=bool)
    out = frame.copy()
    out.insert(0, "method", np.where(flag, words[1], words[0]))
    return out


#: Printed level names and the title of the three-level table.
LEVEL_WORDS = {"zh": {"region": "自治区", "city": "市", "county": "县（区）",
                      "title": "按区、市、县三级分（县级为小域估计，已与市级合计衔接）",
                      "methods": {"design": "抽样估计", "direct": "直接估计", "EBLUP": "小域估计（EBLUP）",
                                  "synthetic": "合成估计"}},
               "en": {"region": "region", "city": "city", "county": "county",
                      "title": "By region, city and county (counties by small-area estimation, "
                               "benchmarked to the cities)",
                      "methods": {"design": "design-based", "direct": "direct",
                                  "EBLUP": "small-area (EBLUP)", "synthetic": "synthetic"}}}


def levels_bulletin_table(levels: pd.DataFrame, names: Mapping[str, Mapping[Any, str]],
                          language: str = "zh", factor: float = 1e5) -> BulletinTable:
    """The three-level table of the bulletin (region -> city -> county subtotals), with
    the method of every figure.

    Examples
    --------
    >>> lv = pd.DataFrame({"level": ["region"], "code": ["450000"], "name": ["广西"],
    ...     "parent": [""], "method": ["design"], "variable": ["gross_output"],
    ...     "estimate": [1e7], "se": [1e5], "cv": [0.01], "ci_low": [9.8e6], "ci_high": [1.02e7],
    ...     "df": [100.0], "n": [10]})
    >>> levels_bulletin_table(lv, {}, "en").frame[["level", "method", "estimate"]].values.tolist()
    [['region', 'design-based', 100.0]]
    """
    words = LEVEL_WORDS[language]
    frame = levels.copy()
    frame["level"] = frame["level"].map(lambda v: words.get(v, v))
    frame["method"] = frame["method"].map(lambda v: words["methods"].get(v, v))
    frame = frame[["level", "code", "name", "method", "variable", "estimate", "se", "cv",
                   "ci_low", "ci_high", "df", "n"]]
    return BulletinTable.from_table(_scaled(frame, factor), name="levels",
                                    by=["level", "code", "name", "method"], title=words["title"],
                                    decimals=2)


def area_content(content: BulletinContent, levels: pd.DataFrame, *, level: str, area: str,
                 factor: float = 1e5) -> BulletinContent:
    """The bulletin of one city or county federation: its own figures as the headline
    and the table of the area with the areas below it (a city's counties), every figure
    with its method; the notes of the whole bulletin.

    Parameters
    ----------
    content : BulletinContent
        The whole bulletin (title, period, language, unit, notes).
    levels : pandas.DataFrame
        :func:`survey.estimation.levels.levels_table` (money in the data's unit).
    level : {"region", "city", "county"}
    area : str
        The area's administrative code (``"450900"``).

    Raises
    ------
    ReportError
        An unknown level, or no area of that code at that level.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> r = demo_result()
    >>> c = area_content(r.content, r.estimates.levels, level="city", area="450900")
    >>> c.title.endswith("玉林市"), c.tables[0].frame["level"].unique().tolist()
    (True, ['市', '县（区）'])
    """
    from survey.estimation.levels import LEVELS

    if level not in LEVELS:
        raise ReportError(f"level={level!r}: use one of {list(LEVELS)}")
    rows = levels[(levels["level"] == level) & (levels["code"].astype(str) == str(area))]
    if rows.empty:
        codes = sorted(levels.loc[levels["level"] == level, "code"].astype(str).unique())
        raise ReportError(f"no {level} with code {area!r}; the {level} codes are {codes[:20]}")
    below = levels[(levels["parent"].astype(str) == str(area)) & (levels["level"] != level)]
    language = content.language
    unit = DISPLAY[language][0]
    headline = [Headline(label=f"{rows['name'].iloc[0]} {content.period} {label(v, language)}",
                         variable=v, estimate=r["estimate"] / factor, ci_low=r["ci_low"] / factor,
                         ci_high=r["ci_high"] / factor, unit=unit, decimals=2)
                for v, r in zip(rows["variable"], rows.to_dict("records"), strict=True)]
    table = levels_bulletin_table(pd.concat([rows, below], ignore_index=True), {}, language,
                                  factor)
    return BulletinContent(title=f"{content.title} · {rows['name'].iloc[0]}", period=content.period,
                           language=language, headline=headline, tables=[table],
                           notes=content.notes, cv_caution=content.cv_caution,
                           cv_unreliable=content.cv_unreliable, level=content.level,
                           growth_basis=content.growth_basis)


def published_figures(estimates: Estimates) -> pd.DataFrame:
    """Every figure of a publication run, one row each: ``period, breakdown, domain,
    variable, estimate, se, ci_low, ci_high, method`` (``domain``: the breakdown values
    joined with ``/``, empty for the sector; ``method``: ``design`` or ``design+model``).

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> figures = published_figures(demo_result().estimates)
    >>> sorted(figures["breakdown"].unique())[:3], figures["period"].nunique()
    (['channel_bureau', 'channel_federation', 'channel_zone'], 8)
    """
    frames = []
    for name, per in estimates.by_period.items():
        by = estimates.breakdowns.get(name) or []
        for period, est in per.items():
            t = est.table()
            domain = (joined_labels(t, by) if by
                      else pd.Series("", index=t.index))
            method = np.where(t["model_based"].to_numpy(dtype=bool), "design+model", "design") \
                if "model_based" in t.columns else "design"
            frames.append(pd.DataFrame({
                "period": period, "breakdown": name, "domain": domain.to_numpy(),
                "variable": t["variable"].to_numpy(), "estimate": t["estimate"].to_numpy(),
                "se": t["se"].to_numpy(), "ci_low": t["ci_low"].to_numpy(),
                "ci_high": t["ci_high"].to_numpy(), "method": method}))
    return pd.concat(frames, ignore_index=True)


def case_study_table(typical: pd.DataFrame, period: str, variables: Sequence[str],
                     language: str = "zh",
                     names: Mapping[str, Mapping[Any, str]] | None = None) -> pd.DataFrame:
    """The typical units' own figures of ``period`` (典型调查): one row per unit and
    variable with the quarter's value, the same quarter a year earlier and the growth,
    in 万元 (ten thousand yuan) from thousand yuan. Not an estimate of anything.

    Examples
    --------
    >>> t = pd.DataFrame({"firm_id": ["a"], "name": ["甲厂"], "period": ["2006Q4"],
    ...     "industry": ["3153"], "city": ["Nanning"], "gross_output": [250.0],
    ...     "gross_output_last_year": [200.0]})
    >>> case_study_table(t, "2006Q4", ["gross_output"], "en")[["value", "growth"]].values.tolist()
    [[25.0, 0.25]]
    """
    rows = typical[typical["period"] == period]
    names = names or {}
    frames = []
    for v in variables:
        now = rows[v].to_numpy(dtype=float) / 10.0
        before = (rows[f"{v}_last_year"].to_numpy(dtype=float) / 10.0
                  if f"{v}_last_year" in rows.columns else np.full(len(rows), np.nan))
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(before > 0, now / before - 1.0, np.nan)
        frames.append(pd.DataFrame({
            "firm_id": rows["firm_id"].to_numpy(),
            "name": rows["name"].to_numpy() if "name" in rows.columns else "",
            "city": rows["city"].map(lambda c: names.get("city", {}).get(c, c)).to_numpy()
            if "city" in rows.columns else "",
            "industry": rows["industry"].map(lambda c: names.get("industry", {}).get(c, c))
            .to_numpy() if "industry" in rows.columns else "",
            "variable": label(v, language), "value": now, "last_year": before,
            "growth": growth}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out.sort_values(["firm_id"], kind="stable").reset_index(drop=True)


def revisions_table(revisions: pd.DataFrame, variables: Sequence[str], language: str = "zh",
                    factor: float = 1e5) -> pd.DataFrame:
    """The sector figures revised since their first publication, flagged ``"r"``
    (display units: ``factor`` divides money).

    Parameters
    ----------
    revisions : pandas.DataFrame
        :meth:`survey.returns.ledger.Ledger.revisions`.

    Examples
    --------
    >>> r = pd.DataFrame({"period": ["2006Q3"], "breakdown": ["sector"], "domain": [""],
    ...     "variable": ["gross_output"], "first_estimate": [1e7], "latest_estimate": [1.01e7],
    ...     "change": [1e5], "relative_change": [0.01], "within_interval": [True],
    ...     "revised": [True]})
    >>> revisions_table(r, ["gross_output"], "en")[["period", "first", "latest", "flag"]].values.tolist()
    [['2006Q3', 100.0, 101.0, 'r']]
    """
    rows = revisions[(revisions["breakdown"] == "sector") & revisions["revised"].astype(bool)
                     & revisions["variable"].isin(list(variables))]
    return pd.DataFrame({
        "period": rows["period"].to_numpy(),
        "variable": [label(v, language) for v in rows["variable"]],
        "first": rows["first_estimate"].to_numpy(dtype=float) / factor,
        "latest": rows["latest_estimate"].to_numpy(dtype=float) / factor,
        "change": rows["change"].to_numpy(dtype=float) / factor,
        "relative_change": rows["relative_change"].to_numpy(dtype=float),
        "within_interval": rows["within_interval"].to_numpy(dtype=bool),
        "flag": "r"})
