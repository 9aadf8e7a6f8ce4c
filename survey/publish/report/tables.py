"""The bulletin's tables and figures besides the estimates tables.

The three-level table (:func:`levels_bulletin_table`) and the bulletin of one city
or county federation (:func:`area_content`); every figure of a publication run for
the ledger (:func:`published_figures`); the ``method`` column and its note when an
estimate has a model part (:func:`with_method`, :func:`text_model`); the typical
units' case studies (:func:`case_study_table`); the sector figures revised since
first published (:func:`revisions_table`); progress to targets
(:func:`target_progress`). Every number is read off the estimates; money is
rescaled for display (:func:`scaled`).

Examples
--------
>>> import pandas as pd
>>> scaled(pd.DataFrame({"estimate": [2e5], "cv": [0.1]}), 1e5).values.tolist()
[[2.0, 0.1]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from survey.io import joined_labels
from survey.periods import parse_quarter
from survey.publish.report.content import (
    BulletinContent,
    BulletinTable,
    Headline,
    ReportError,
)
from survey.publish.report.labels import label
from survey.publish.report.quality import DISPLAY
from survey.publish.report.wording import LEVEL_WORDS, METHOD_WORDS, MODEL_NOTE, WORDING

if TYPE_CHECKING:
    from survey.publish.report.build import Estimates

__all__ = [
    "area_content",
    "case_study_table",
    "levels_bulletin_table",
    "published_figures",
    "revisions_table",
    "target_progress",
    "text_model",
]


def scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """``frame`` with its money columns (estimate, se, interval) divided by ``factor``
    (thousand yuan to the display unit)."""
    money = [c for c in ("estimate", "se", "ci_low", "ci_high") if c in frame.columns]
    return frame.assign(**{c: frame[c] / factor for c in money})


def text_model(language: str) -> str:
    """The note that explains the ``method`` column (model part).

    Examples
    --------
    >>> text_model("en").startswith('"model"')
    True
    """
    return MODEL_NOTE[language]


def with_method(frame: pd.DataFrame, language: str) -> pd.DataFrame:
    """``frame`` with a first column ``method``: which figures include the model part
    (:data:`~survey.publish.report.wording.METHOD_WORDS`, from the ``model_based`` column)."""
    words = METHOD_WORDS[language]
    flag = frame["model_based"].to_numpy(dtype=bool) if "model_based" in frame.columns else \
        np.zeros(len(frame), dtype=bool)
    out = frame.copy()
    out.insert(0, "method", np.where(flag, words[1], words[0]))
    return out


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
    return BulletinTable.from_table(scaled(frame, factor), name="levels",
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
        :attr:`survey.publish.report.build.Estimates.year_to_date_by`.
    breakdowns : mapping
        :attr:`survey.publish.report.build.Estimates.breakdowns`.
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
