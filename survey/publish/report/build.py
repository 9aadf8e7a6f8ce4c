"""The bulletin's content from the estimates: :class:`Estimates` and :func:`bulletin_content`.

:func:`bulletin_content` turns the estimates of a quarterly cycle (combined
totals by breakdown and period, the series, the year to date), the
disclosure decisions and the weighted sample into a
:class:`~survey.publish.report.BulletinContent`, which
:func:`~survey.publish.report.write_bulletin` writes. It computes no
statistic: every number is read off its inputs (money is rescaled for
display, e.g. thousand yuan to 亿元). The headline, the estimates tables, the
charts' frames and the notes are assembled here, step by step; the quality
indicators and methods note come from :mod:`survey.publish.report.quality`, the
other tables (three levels, case studies, revisions, targets) from
:mod:`survey.publish.report.tables`, the sentences from
:mod:`survey.publish.report.wording`.

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
from survey.publish.report.content import (
    GROWTH_COLUMNS,
    BulletinContent,
    BulletinTable,
    Headline,
    ReportError,
    cell_flags,
    parts_from_table,
)
from survey.publish.report.labels import label
from survey.publish.report.quality import display_unit, methods_note, quality_indicators
from survey.publish.report.tables import (
    case_study_table,
    levels_bulletin_table,
    revisions_table,
    scaled,
    target_progress,
    text_model,
    with_method,
)
from survey.publish.report.wording import NOT_CLASSIFIED, REVISIONS_NOTE, WORDING

__all__ = [
    "Estimates",
    "bulletin_content",
    "label_missing",
]

_MONTHS = ("March", "June", "September", "December")


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


# --------------------------------------------------------------------------- the steps
@dataclass(frozen=True, eq=False)
class _Draft:
    """What every step of :func:`bulletin_content` reads: the estimates, the published
    period and quarter a year earlier, the display choices and the sentences."""

    estimates: Estimates
    period: str
    before: str
    language: str
    growth: str
    level: float
    unit: str
    factor: float
    decimals: int
    text: dict
    protected: dict
    channels: Mapping[str, str | None]
    names: Mapping[str, Mapping[Any, str]]
    ytd_by: dict
    ytd_words: str
    modelled: bool

    @property
    def lead(self) -> list[str]:
        """The first ``by`` column of every table: ``method`` when an estimate has a model part."""
        return ["method"] if self.modelled else []

    def table(self, name: str) -> pd.DataFrame:
        """The published quarter of a breakdown."""
        per = self.estimates.by_period[name]
        return _table(per[self.period], per.get(self.before), self.growth, self.level)

    def ytd_table(self, name: str) -> pd.DataFrame:
        """The year to date of a breakdown (variables ``{v}_ytd``)."""
        last_year = self.estimates.year_to_date_last_year if name == "sector" else None
        return _table(self.ytd_by[name], last_year, self.growth, self.level)

    def word(self, key: str) -> str:
        return label(key, self.language)

    def lower(self, what: str) -> str:
        return what if self.language == "zh" else what.lower()

    def method(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The ``method`` column first when an estimate has a model part (take-none firms)."""
        if not self.modelled:
            return frame
        flag = frame["model_based"] if "model_based" in frame.columns else False
        return with_method(frame.assign(model_based=pd.Series(flag, index=frame.index)
                                         .fillna(False).astype(bool)), self.language)

    def channel_name(self, channel: str, own: str | None) -> str:
        """A channel's printed name: its own label (an English bulletin takes only an ASCII
        one), else the label dictionary's."""
        own = own if own and (self.language == "zh" or own.isascii()) else None
        return own or self.word(channel)

    def in_channel(self, key: str, frame: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
        """The rows of a channel's firms (its flag true), with their suppression flags."""
        flag = self.estimates.breakdowns[key][0]
        frame = frame.assign(suppressed=_suppressed(self.protected, frame, [flag], variables,
                                                    self.language))
        return frame[frame[flag].astype(bool).to_numpy()].drop(columns=[flag])


def _draft(estimates: Estimates, *, period: str, protected: Mapping[str, Any] | None,
           channels: Mapping[str, str | None] | None,
           domain_names: Mapping[str, Mapping[Any, str]] | None, language: str, level: float,
           growth: str, money: tuple[str, float] | None, unit: str | None) -> _Draft:
    """Check the choices and gather what the steps read."""
    if growth not in ("comparable", "level"):
        raise ReportError(f"growth={growth!r}: use 'comparable' or 'level'")
    text = WORDING[language]
    unit, factor, decimals = display_unit(unit, language)
    if money is not None:
        unit, factor = money
    year, quarter = parse_quarter(period)
    ytd_by = dict(estimates.year_to_date_by or {})
    if "sector" not in ytd_by and estimates.year_to_date is not None:
        ytd_by["sector"] = estimates.year_to_date
    modelled = any(bool(est.table()["model_based"].any()) for per_name in estimates.by_period.values()
                   for est in per_name.values() if "model_based" in est.table().columns)
    return _Draft(
        estimates=estimates, period=period, before=shift_quarter(period, -4), language=language,
        growth=growth, level=level, unit=unit, factor=factor, decimals=decimals, text=text,
        protected=dict(protected or {}), channels=dict(channels or {}), names=domain_names or {},
        ytd_by=ytd_by, modelled=modelled,
        ytd_words=text["ytd"].format(year=year, month=quarter * 3, month_name=_MONTHS[quarter - 1]))


def _base(frame: pd.DataFrame) -> pd.DataFrame:
    """Year-to-date variables named as the quarter's (``{v}_ytd`` -> ``v``)."""
    return frame.assign(variable=frame["variable"].str.replace(r"_ytd$", "", regex=True))


def _headline(d: _Draft, sector: pd.DataFrame, ytd: pd.DataFrame,
              variables: Sequence[str]) -> list[Headline]:
    """For each variable: the year to date of the take-all part and of the sector (the
    figures the report is written in), then the sector's quarter."""
    text = d.text
    cards = [("take_all", text["above_size"]), ("sector", "")] if "take_all" in d.ytd_by else [
        ("sector", "")]
    headline = []
    for v in variables:
        rows = []
        for name, who in cards:
            frame = ytd if name == "sector" else d.ytd_table(name)
            rows.append((frame[frame["variable"] == f"{v}_ytd"].iloc[0], f"{d.ytd_words}", who))
        rows.append((sector[sector["variable"] == v].iloc[0],
                     text["quarter"].format(period=d.period), ""))
        for row, when, who in rows:
            if d.language == "en":
                name = f"{d.word(v)}, {d.lower(who) + ', ' if who else ''}{when}"
            else:
                name = f"{when}{who}{d.word(v)}"
            headline.append(Headline(
                label=name, variable=v, estimate=row["estimate"] / d.factor,
                ci_low=row["ci_low"] / d.factor, ci_high=row["ci_high"] / d.factor,
                growth=row["growth"], growth_ci_low=row["growth_ci_low"],
                growth_ci_high=row["growth_ci_high"], unit=d.unit, decimals=d.decimals))
    return headline


def _ytd_table(d: _Draft, ytd: pd.DataFrame, variables: Sequence[str]) -> BulletinTable | None:
    """The year to date of the sector, the take-all part and each channel: one table."""
    text = d.text
    frames = [_base(ytd).assign(domain=text["sector"])]
    if "take_all" in d.ytd_by:
        frames.append(_base(d.ytd_table("take_all")).assign(domain=text["above_size"]))
    for channel, own in d.channels.items():
        key = f"channel_{channel}"
        if key not in d.ytd_by:
            continue
        frame = d.in_channel(key, d.ytd_table(key), [f"{v}_ytd" for v in variables])
        frames.append(_base(frame).assign(domain=d.channel_name(channel, own)))
    if not d.ytd_by:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if "suppressed" in frame.columns:
        frame["suppressed"] = frame["suppressed"].astype("boolean").fillna(False).astype(bool)
    return BulletinTable.from_table(
        scaled(d.method(frame), d.factor), name="ytd", by=[*d.lead, "domain"],
        decimals=d.decimals, unit=d.unit, title=text["ytd_table"].format(ytd=d.ytd_words))


def _breakdown_tables(d: _Draft, variables: Sequence[str]) -> list[BulletinTable]:
    """Each breakdown's quarter next to its year to date, suppressed rows flagged."""
    text = d.text
    tables = []
    for name, by in d.estimates.breakdowns.items():
        if by is None or name.startswith("channel_"):
            continue
        what = d.lower(d.word(name))
        mapping = {c: d.names[c] for c in by if d.names.get(c)}
        pairs = [(d.table(name), variables, name[:31],
                  text["quarter_by"].format(what=what, period=d.period))]
        if name in d.ytd_by:
            pairs.append((d.ytd_table(name), [f"{v}_ytd" for v in variables], f"ytd_{name}"[:31],
                          text["ytd_by"].format(what=what, ytd=d.ytd_words)))
        for frame, names_v, short, title_text in pairs:
            flags = _suppressed(d.protected, frame, by, names_v, d.language)
            frame = _base(frame.replace(mapping) if mapping else frame)
            tables.append(BulletinTable.from_table(
                scaled(d.method(frame), d.factor), name=short, by=[*d.lead, *by],
                suppressed=flags, decimals=d.decimals, unit=d.unit, title=title_text))
    return tables


def _channel_table(d: _Draft, variables: Sequence[str]) -> BulletinTable | None:
    """The channels' quarter (each channel in full): one table, or ``None`` without channels."""
    frames = []
    for channel, own in d.channels.items():
        key = f"channel_{channel}"
        if key not in d.estimates.by_period:
            continue
        frame = d.in_channel(key, d.table(key), variables)
        frame.insert(0, "channel", d.channel_name(channel, own))
        frames.append(frame)
    if not frames:
        return None
    words = d.text["channel_table"]
    title = f"{words}（{d.period}）" if d.language == "zh" else f"{words} ({d.period})"
    return BulletinTable.from_table(scaled(d.method(pd.concat(frames, ignore_index=True)), d.factor),
                                    name="channel", by=[*d.lead, "channel"], title=title,
                                    decimals=d.decimals, unit=d.unit)


def _tables(d: _Draft, sector: pd.DataFrame, ytd: pd.DataFrame,
            variables: Sequence[str]) -> list[BulletinTable]:
    """The tables in their order: year to date, sector quarter, breakdowns, channels, levels."""
    tables = []
    ytd_table = _ytd_table(d, ytd, variables)
    if ytd_table is not None:
        tables.append(ytd_table)
    tables.append(BulletinTable.from_table(
        scaled(d.method(sector), d.factor), name="sector", by=d.lead, decimals=d.decimals,
        unit=d.unit, title=d.text["quarter_sector"].format(period=d.period)))
    tables += _breakdown_tables(d, variables)
    channel = _channel_table(d, variables)
    if channel is not None:
        tables.append(channel)
    if d.estimates.levels is not None:
        tables.append(levels_bulletin_table(d.estimates.levels, d.names, d.language, d.factor))
    return tables


def _charts(d: _Draft, tables: Sequence[BulletinTable], variables: Sequence[str]
            ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """The charts' frames: the sector series, the growth of the first variable by the first
    breakdown (suppressed rows left out), the parts of the first variable."""
    series = scaled(d.estimates.series["sector"].table(), d.factor)
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
    parts_source = d.estimates.series["sector"].table()
    parts = scaled(parts_from_table(parts_source[parts_source["variable"] == variables[0]]),
                   d.factor)
    return series, growth_frame, parts


def _methods(d: _Draft, *, take_all: pd.DataFrame, survey: Any, stratified_by: Sequence[str],
             calibration: str, margins: Sequence[str], all_strata: int | None) -> str:
    """The methods note, with the firm and stratum counts of the period."""
    strata = getattr(survey.design, "strata", None) or "stratum"
    strata = strata if isinstance(strata, str) else strata[0]
    return methods_note(take_all_firms=int((take_all["period"] == d.period).sum()),
                        sampled_firms=len(survey.data), strata=survey.data[strata].nunique(),
                        stratified_by=stratified_by, calibration=calibration, margins=margins,
                        level=d.level, growth=d.growth, language=d.language,
                        all_strata=all_strata)


def _quality(d: _Draft, *, take_all: pd.DataFrame, survey: Any, sector: pd.DataFrame,
             variables: Sequence[str], ledger_cells: pd.DataFrame | None,
             tables: Sequence[BulletinTable], cv_caution: float,
             cv_unreliable: float) -> pd.DataFrame:
    """The quality indicators, then the count of suppressed cells in the bulletin's tables."""
    quality = quality_indicators(period=d.period, take_all=take_all, survey=survey, sector=sector,
                                 variables=variables, ledger_cells=ledger_cells,
                                 protected=d.protected, language=d.language)
    published_x = sum(int(np.sum(cell_flags(t, cv_caution=cv_caution, cv_unreliable=cv_unreliable)
                                 == "x")) for t in tables)
    return pd.concat([quality, pd.DataFrame({
        "indicator": [d.text["quality"]["suppressed_cells"]],
        "value": pd.array([published_x], dtype=object), "unit": [""]})], ignore_index=True)


def _notes(d: _Draft, variables: Sequence[str], synthetic: bool) -> list[str]:
    """Unit caption, rounding, take-all, synthetic data, unprotected variables, model part."""
    text = d.text
    notes = [text["unit_caption"].format(unit=d.unit), text["rounding"]] + (
        [text["take_all_note"]] if "take_all" in d.ytd_by else []) + (
        [text["synthetic"]] if synthetic else []) + [
        text["not_protected"].format(var=d.word(v)) for v in variables
        if d.protected and not any(k.endswith(f":{v}") for k in d.protected)]
    if d.modelled:
        notes.append(text_model(d.language))
    return notes


# --------------------------------------------------------------------------- the bulletin

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
    variable. Quality: :func:`~survey.publish.report.quality.quality_indicators`. Methods:
    :func:`~survey.publish.report.quality.methods_note`.

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
        (:func:`~survey.publish.report.tables.target_progress`).
    all_strata : int, optional
        Strata of the plan including the take-all stratum, for the methods note
        (default: the sample's strata + 1).
    typical : pandas.DataFrame or None, default=None
        The typical units' panel: their figures of ``period`` become the
        case-study section
        (:func:`~survey.publish.report.tables.case_study_table`), labelled 典型调查.
    revisions : pandas.DataFrame or None, default=None
        :meth:`survey.returns.ledger.Ledger.revisions`: the sector figures that
        changed since first published, flagged ``"r"``
        (:func:`~survey.publish.report.tables.revisions_table`), and the series
        rows of those quarters flagged ``"r"``.

    When an estimate has a model part (take-none firms), every table gets a
    first column ``method`` saying which figures include the model part
    (:data:`survey.publish.report.wording.METHOD_WORDS`), and the parts chart
    shows it.

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
    d = _draft(estimates, period=period, protected=protected, channels=channels,
               domain_names=domain_names, language=language, level=level, growth=growth,
               money=money, unit=unit)
    sector = d.table("sector")
    variables = list(estimates.by_period["sector"][period].variables)
    ytd = d.ytd_table("sector")
    headline = _headline(d, sector, ytd, variables)
    tables = _tables(d, sector, ytd, variables)
    series, growth_frame, parts = _charts(d, tables, variables)
    note = _methods(d, take_all=take_all, survey=survey, stratified_by=stratified_by,
                    calibration=calibration, margins=margins, all_strata=all_strata)
    quality = _quality(d, take_all=take_all, survey=survey, sector=sector, variables=variables,
                       ledger_cells=ledger_cells, tables=tables, cv_caution=cv_caution,
                       cv_unreliable=cv_unreliable)
    targets_frame = None
    if targets:
        targets_frame = target_progress(targets, ytd_by=d.ytd_by, breakdowns=estimates.breakdowns,
                                        period=period, level=level, factor=d.factor,
                                        language=language, channels=channels,
                                        domain_names=d.names)
    revised = None
    if revisions is not None:
        revised = revisions_table(revisions, variables, language, d.factor)
        revised = revised if len(revised) else None
    if revised is not None:  # the series rows of the revised quarters flagged "r"
        marked = set(revised["period"])
        series = series.assign(flag=["r" if p in marked else "" for p in series["period"]])
    return BulletinContent(
        title=title, period=period, language=language, headline=headline, tables=tables,
        series=series, growth=growth_frame, parts=parts, quality=quality, methods_note=note,
        notes=_notes(d, variables, synthetic), cv_caution=cv_caution,
        cv_unreliable=cv_unreliable, level=level, growth_basis=growth, unit=d.unit,
        targets=targets_frame,
        case_studies=case_study_table(typical, period, variables, language, d.names)
        if typical is not None else None,
        revisions=revised, revisions_note=REVISIONS_NOTE[language] if revised is not None else "")
