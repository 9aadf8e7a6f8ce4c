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
['sector', 'city', 'industry', 'zone', 'levels']
>>> content.headline[0].label, content.label("interval")
('2006Q4工业总产值', '95% 置信区间')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from survey.periods import parse_quarter, shift_quarter
from survey.publish.report.content import (
    GROWTH_COLUMNS,
    BulletinContent,
    BulletinTable,
    Headline,
    ReportError,
    parts_from_table,
)
from survey.publish.report.labels import label, percent

__all__ = [
    "DISPLAY",
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
    "label_missing",
    "methods_note",
    "quality_indicators",
]

#: Label of firms outside every special zone (or with another missing breakdown value).
NOT_CLASSIFIED = {"zh": "(非园区)", "en": "(none)"}
#: Money is published in 亿元 (100 million yuan); the data are in thousand yuan.
DISPLAY = {"zh": ("亿元", 1e5), "en": ("100 million yuan", 1e5)}
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
            "suppressed_cells": "因保密不予公布的格",
        },
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
            "和规模分 {n_strata} 层，用永久随机数抽取 {n} 家样本企业；样本权数先在层内做无回答调整，"
            "再按登记册的 {margins} 校准（{method}）。\n\n"
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
            "suppressed_cells": "Cells suppressed for confidentiality",
        },
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
            "and size class ({n_strata} strata); {n} firms are selected with permanent random "
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
    rows.append(("suppressed_cells",
                 int(sum(int(pt.suppressed.sum()) for pt in (protected or {}).values())), ""))
    return pd.DataFrame({"indicator": [names[k] for k, _, _ in rows],
                         "value": [v for _, v, _ in rows], "unit": [u for _, _, u in rows]})


def methods_note(*, take_all_firms: int, sampled_firms: int, strata: int,
                 stratified_by: Sequence[str] = (), calibration: str = "linear",
                 margins: Sequence[str] = (), level: float = 0.95,
                 growth: Literal["comparable", "level"] = "comparable",
                 language: str = "zh") -> str:
    """The methods note of the bulletin (two paragraphs).

    Examples
    --------
    >>> note = methods_note(take_all_firms=555, sampled_firms=2675, strata=43,
    ...                     stratified_by=["city"], margins=["city"], level=0.9, language="en")
    >>> "90% confidence intervals" in note, note.count("\\n\\n")
    (True, 1)
    """
    text = WORDING[language]
    joined = "、".join if language == "zh" else ", ".join
    return text["methods"].format(
        n_ta=take_all_firms, n=sampled_firms, n_strata=strata,
        strata=joined(stratified_by) or ("全部" if language == "zh" else "none"),
        margins=", ".join(margins) or "-", method=calibration, level=percent(level),
        growth=text["growth"][growth])


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
                     money: tuple[str, float] | None = None,
                     typical: pd.DataFrame | None = None,
                     revisions: pd.DataFrame | None = None) -> BulletinContent:
    """The bulletin of the published period: headline, tables, charts, quality, methods, notes.

    Headline: sector totals of the quarter and of the year to date for each
    variable, with intervals and growth. Tables: the sector and each
    breakdown, then the channels (each channel's own rows), with suppressed
    cells flagged. Charts: the sector series with interval bands, growth by
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
        Display unit and divisor of money (default :data:`DISPLAY`: 亿元 from
        thousand yuan).
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
    ['sector', 'city', 'industry', 'zone', 'channel', 'levels']
    >>> content.headline[0].label, round(content.headline[0].estimate, 1)
    ('2006Q4工业总产值', 158.5)
    """
    if growth not in ("comparable", "level"):
        raise ReportError(f"growth={growth!r}: use 'comparable' or 'level'")
    protected = dict(protected or {})
    text = WORDING[language]
    unit, factor = money if money is not None else DISPLAY[language]
    year, quarter = parse_quarter(period)
    before = shift_quarter(period, -4)
    per = estimates.by_period

    def table(name: str) -> pd.DataFrame:
        return _table(per[name][period], per[name].get(before), growth, level)

    def word(key: str) -> str:
        return label(key, language)

    sector = table("sector")
    variables = list(per["sector"][period].variables)
    ytd = _table(estimates.year_to_date, estimates.year_to_date_last_year, growth, level)
    headline = []
    for v in variables:
        for frame, variable, when in ((sector, v, text["quarter"].format(period=period)),
                                      (ytd, f"{v}_ytd", text["ytd"].format(
                                          year=year, month=quarter * 3,
                                          month_name=_MONTHS[quarter - 1]))):
            row = frame[frame["variable"] == variable].iloc[0]
            headline.append(Headline(
                label=f"{word(v)}, {when}" if language == "en" else f"{when}{word(v)}",
                variable=v, estimate=row["estimate"] / factor, ci_low=row["ci_low"] / factor,
                ci_high=row["ci_high"] / factor, growth=row["growth"],
                growth_ci_low=row["growth_ci_low"], growth_ci_high=row["growth_ci_high"],
                unit=unit, decimals=2))

    modelled = any(bool(est.table()["model_based"].any()) for per_name in per.values()
                   for est in per_name.values() if "model_based" in est.table().columns)
    method = (lambda frame: _with_method(frame, language)) if modelled else (lambda frame: frame)
    lead = ["method"] if modelled else []
    tables = [BulletinTable.from_table(_scaled(method(sector), factor), name="sector",
                                       title=text["sector"], by=lead, decimals=2)]
    names = domain_names or {}
    for name, by in estimates.breakdowns.items():
        if by is None or name.startswith("channel_"):
            continue
        frame = table(name)
        flags = _suppressed(protected, frame, by, variables, language)
        mapping = {c: names[c] for c in by if names.get(c)}
        frame = frame.replace(mapping) if mapping else frame
        what = word(name)
        tables.append(BulletinTable.from_table(
            _scaled(method(frame), factor), name=name[:31], by=[*lead, *by], suppressed=flags,
            decimals=2, title=text["by"].format(what=what if language == "zh" else what.lower())))
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
                                               title=text["channel_table"], decimals=2))

    if estimates.levels is not None:
        tables.append(levels_bulletin_table(estimates.levels, names, language, factor))
    series = _scaled(estimates.series["sector"].table(), factor)
    series = series[["period", "variable", "estimate", "ci_low", "ci_high"]]
    growth_frame = None
    first = next((t for t in tables if t.name not in ("sector", "channel")), None)
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
                        level=level, growth=growth, language=language)
    quality = quality_indicators(period=period, take_all=take_all, survey=survey, sector=sector,
                                 variables=variables, ledger_cells=ledger_cells,
                                 protected=protected, language=language)
    notes = [text["rounding"]] + ([text["synthetic"]] if synthetic else []) + [
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
        growth_basis=growth,
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
            domain = (t[by].astype(str).agg("/".join, axis=1) if by
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
