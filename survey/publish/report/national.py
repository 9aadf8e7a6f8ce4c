"""The national bulletin's layout: estimates and growth tables of the out-of-core cycle
as a :class:`survey.publish.report.BulletinContent` (computes nothing).

Examples
--------
>>> UNIT
'thousand yuan'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ReportError

__all__ = ["BREAKDOWNS", "UNIT", "national_bulletin_content"]

#: The breakdowns of the national bulletin, in order (default of ``breakdowns``).
BREAKDOWNS: dict[str, list[str] | None] = {"sector": None, "province": ["province"],
                                           "industry": ["industry"],
                                           "province_industry": ["province", "industry"]}
#: The money unit of the national returns.
UNIT = "thousand yuan"


def _weighting_note(calibration: pd.DataFrame | None) -> str:
    """The methods note's sentence on the weights and standard errors."""
    if calibration is None:
        return ("Estimates are year-to-date totals of the take-all firms (above designated size) "
                "and the sampled firms below it, weighted by their design weights, with "
                "linearised standard errors (stratified design with finite population "
                "correction). Not done here: calibration to register totals.")
    cells = calibration[calibration["level"].astype(str) != ""]
    numeric = calibration[calibration["level"].astype(str) == ""]
    size = (f" and their total revenue of last year ({float(numeric['total'].iloc[0]):,.0f} "
            f"{UNIT}, 0 for firms born this year)" if len(numeric) else "")
    return ("Estimates are year-to-date totals of the take-all firms (above designated size) "
            "and the sampled firms below it, weighted by calibrated weights: the sampled firms' "
            "design weights are calibrated to the business register (generalised regression, "
            f"GREG, Deville and Sarndal 1992): the number of firms in each of {len(cells)} "
            f"cells (the take-some firms of each province; the take-all firms, a cell of their "
            f"own, so that they keep weight 1){size}. Standard errors are linearised from the calibration residuals (the GREG "
            "variance, Sarndal, Swensson and Wretman 1992, ch. 6-7; stratified design with "
            "finite population correction).")


def national_bulletin_content(
    estimates: pd.DataFrame,
    growth: pd.DataFrame,
    *,
    period: str,
    firms: int,
    memory_limit: str | None = None,
    quality: pd.DataFrame | None = None,
    industry_names: pd.DataFrame | None = None,
    suppressed: pd.DataFrame | None = None,
    rules: Any = None,
    breakdowns: Mapping[str, Sequence[str] | None] | None = None,
    calibration: pd.DataFrame | None = None,
    synthetic: bool = True,
) -> Any:
    """The national bulletin as a :class:`~survey.publish.report.BulletinContent`.

    Lays out (computes nothing): the headline (the sector's year-to-date
    total of each variable with its interval and its growth on a comparable
    basis), a sector table and one table per breakdown (``breakdowns``, default
    :data:`BREAKDOWNS`: province, industry, province x industry; the national cycle adds
    zones and channels) (estimate, SE, CV, interval, df, n, growth with its
    SE and interval; suppressed cells shown as ``x``, their growth hidden too),
    the growth by province as a chart, the quality indicators, and a methods
    note saying what ran out of core and that the data are synthetic.

    Parameters
    ----------
    estimates : pandas.DataFrame
        ``estimates.csv`` of :func:`run_national` (rows of :func:`estimate_table`).
    growth : pandas.DataFrame
        ``growth.csv`` (rows of :func:`growth_table`); its ``level`` is the
        bulletin's confidence level.
    period : str
        The published quarter.
    firms : int
        Register size (named in the methods note).
    memory_limit : str, optional
        The engine's memory limit (named in the methods note).
    quality : pandas.DataFrame, optional
        ``indicator, value, unit`` rows.
    industry_names : pandas.DataFrame, optional
        ``industry, industry_name``: names shown next to the industry codes.
    suppressed : pandas.DataFrame, optional
        ``breakdown, domain, variable, suppressed`` (bool): the cells that
        disclosure control suppressed (:func:`protect_out_of_core`); rows
        not listed are published.
    rules : DisclosureRules, optional
        The primary rules used (named in the methods note with ``suppressed``).
    calibration : pandas.DataFrame, optional
        ``margin, level, total``: the register totals the weights were
        calibrated to (``calibration.csv`` of :func:`run_national`: firms per
        cell, one numeric total); the methods note then describes calibrated
        estimates with the GREG variance. Without it, design-weighted
        estimates.
    synthetic : bool, default=True
        The data are the generator's (:mod:`survey.datasets.national`): the
        title, the notes and the methods note say so. ``False`` for your own
        register and returns.

    Returns
    -------
    survey.publish.report.BulletinContent

    Examples
    --------
    >>> import pandas as pd
    >>> est = pd.DataFrame({"breakdown": "sector", "domain": "all", "variable": "revenue_ytd",
    ...     "estimate": [100.0], "se": [2.0], "cv": [0.02], "ci_low": [96.0], "ci_high": [104.0],
    ...     "df": [50], "n": [60]})
    >>> gro = pd.DataFrame({"breakdown": "sector", "domain": "all", "variable": "revenue_ytd",
    ...     "current": [100.0], "last_year": [80.0], "growth": [0.25], "se": [0.01],
    ...     "ci_low": [0.23], "ci_high": [0.27], "level": [0.95]})
    >>> c = national_bulletin_content(est, gro, period="2018Q2", firms=5000)
    >>> c.headline[0].estimate, c.headline[0].growth, [t.name for t in c.tables]
    (100.0, 0.25, ['sector'])
    """
    from survey.publish.report import BulletinContent, BulletinTable, Headline

    levels = pd.unique(growth["level"]) if len(growth) else np.array([0.95])
    if len(levels) != 1:
        raise ReportError(f"national_bulletin_content: growth.csv mixes confidence levels "
                            f"{sorted(levels)}")
    level = float(levels[0])
    g = growth.rename(columns={"se": "growth_se", "ci_low": "growth_ci_low",
                               "ci_high": "growth_ci_high"})
    g = g[["breakdown", "domain", "variable", "growth", "growth_se", "growth_ci_low",
           "growth_ci_high"]]
    both = estimates.merge(g, on=["breakdown", "domain", "variable"], how="left",
                           validate="one_to_one")
    if suppressed is not None:
        flags = suppressed[["breakdown", "domain", "variable", "suppressed"]]
        both = both.merge(flags, on=["breakdown", "domain", "variable"], how="left",
                          validate="one_to_one")
        both["suppressed"] = both["suppressed"].astype("boolean").fillna(False).astype(bool)
    else:
        both["suppressed"] = False
    both["variable"] = both["variable"].str.removesuffix("_ytd")
    columns = ["variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n", "growth",
               "growth_se", "growth_ci_low", "growth_ci_high", "suppressed"]
    sector = both[both["breakdown"] == "sector"].reset_index(drop=True)
    shown = sector[~sector["suppressed"]]
    headline = [
        Headline(label=f"{row.variable.replace('_', ' ').capitalize()}, year to date",
                 variable=row.variable, estimate=row.estimate, ci_low=row.ci_low,
                 ci_high=row.ci_high, growth=row.growth, growth_ci_low=row.growth_ci_low,
                 growth_ci_high=row.growth_ci_high, unit=UNIT, decimals=0)
        for row in shown.itertuples(index=False)
    ]
    tables = [BulletinTable(name="sector", title=f"Year-to-date totals and growth, {period}",
                            frame=sector[columns], decimals=0, unit=UNIT)]
    for name, by in (breakdowns or BREAKDOWNS).items():
        if by is None or not (both["breakdown"] == name).any():
            continue
        part = both[both["breakdown"] == name].reset_index(drop=True)
        split = part["domain"].str.split(" / ", n=len(by) - 1, expand=True)
        for j, column in enumerate(by):
            part[column] = split[j].to_numpy()
        keys = list(by)
        if "industry" in by and industry_names is not None:
            names = industry_names[["industry", "industry_name"]].astype({"industry": str})
            part = part.merge(names.drop_duplicates("industry"), on="industry", how="left")
            keys.insert(keys.index("industry") + 1, "industry_name")
        part = part.sort_values([*by, "variable"], kind="stable")
        what = " and ".join(by).replace("_", " ")
        tables.append(BulletinTable(
            name=name, title=f"Year-to-date totals and growth by {what}, {period}",
            frame=part[keys + columns].reset_index(drop=True), decimals=0, unit=UNIT))
    chart = both[(both["breakdown"] == "province") & (both["variable"] == "gross_output")
                 & ~both["suppressed"]]
    chart = chart[
        ["domain", "variable", "growth", "growth_ci_low", "growth_ci_high"]]
    limit = f" (memory limit {memory_limit})" if memory_limit else ""
    data = (
        f"Synthetic data. Every figure of this bulletin is computed from a synthetic register of "
        f"{firms:,} firms and synthetic quarterly returns (survey.datasets.national); they "
        "describe no real economy and are not official statistics.\n\n" if synthetic else
        f"Data. The business register of {firms:,} firms and the quarterly returns of its "
        "take-all and sampled firms, checked on loading (columns and types, unique and valid "
        "USCC ids, every return's firm on the register and of its period).\n\n")
    methods = (
        f"{data}Out of core. Every pass over units ran inside DuckDB{limit}, never as a pandas frame "
        "of the units: the permanent random numbers, the per-stratum "
        "moments of last year's revenue for the Neyman allocation (city x industry x size "
        "class), the PRN selection, the ingest of the returns into the ledger with its checks, "
        "the edit rules, the ONS ratio-of-means imputation per industry (forward from the "
        "previous quarter, construction from last year's revenue) of the current values and of "
        "the same months of last year, and the sums of scores per stratum behind every total. "
        "Numpy finished the statistics on small tables (allocation, variances).\n\n"
        f"{_weighting_note(calibration)} Growth is on a "
        "comparable basis: the same firms' totals this year and in the same months of last "
        "year, R - 1 with R = Y / X, and the linearised standard error of R (the variance of "
        "the scores (y - R x) / X, that is (V_YY - 2 R V_YX + R^2 V_XX) / X^2). "
        f"Intervals are {round(100 * level)}% t intervals with the design's degrees of freedom; "
        "they reflect sampling error only."
    )
    if suppressed is not None:
        from survey.publish.disclosure import DisclosureRules

        rules = DisclosureRules() if rules is None else rules
        primary = [f"fewer than {rules.min_frequency} firms"]
        if rules.p_percent is not None:
            primary.append(f"the p% rule with p = {rules.p_percent:g}%")
        primary += [f"the ({n},{k:g}) dominance rule" for n, k in rules.dominance]
        methods += (
            "\n\nDisclosure control. The province x industry table of each variable (its "
            "margins are the province, industry and sector figures) is protected by cell "
            f"suppression: a cell is sensitive with {' or '.join(primary)}, on the weighted "
            "contributions; secondary suppressions are chosen by linear programming (HiGHS) so "
            "that no suppressed cell can be narrowed below its protection from the published "
            "cells, and an audit proves it. The per-cell inputs (number of firms, total, "
            "largest contributions) were tabulated in DuckDB; the suppression ran on that "
            "small table. Suppressed cells are shown as x, with their growth."
        )
    return BulletinContent(
        title="National industrial survey: quarterly bulletin" + " (synthetic data)" * synthetic,
        period=period,
        language="en", headline=headline, tables=tables, growth=chart if len(chart) else None,
        quality=quality, methods_note=methods, level=level, growth_basis="comparable",
        unit=UNIT,
        notes=["Synthetic data, generated for testing the national scale of the toolkit."]
        * synthetic + [f"Money in {UNIT}; CV and growth in %."],
    )
