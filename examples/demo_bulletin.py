"""The demo bulletin with the Python API alone: no configuration file.

Every step of the quarterly cycle of ``survey demo`` is one or two library
calls, written out here with their settings as plain arguments:

1. plan and select (``survey.plan.design_plan``, ``SamplePlan.select``),
   one plan a year from that year's register, the same permanent random
   numbers;
2. the returns the selected firms send (``survey.datasets.returns.write_returns``),
   loaded into a returns ledger (``survey.returns.ledger.Ledger``);
3. editing and imputation of each year's panel
   (``survey.returns.panel.edit_panel``, ``impute_panel``);
4. weighting (``survey.estimation.quarters.weight_quarters``: ``Survey.adjust_nonresponse``,
   ``Survey.calibrate``);
5. combined estimates by breakdown, the series and the year to date, the take-none
   part by the cut-off model
   (``survey.publish.report.assemble.breakdown_estimates``, ``TakeNoneModel``), the
   county levels (``survey.estimation.levels.county_levels``);
6. disclosure control (``survey.publish.report.assemble.protect_published``);
7. the bulletin (``survey.publish.report.build.bulletin_content``,
   ``write_bulletin``).

The bulletin is the one ``survey demo`` writes, byte for byte
(``tests/test_examples.py`` checks it). Run::

    python examples/demo_bulletin.py [OUTPUT_FOLDER]      # default: ./demo-bulletin

Money in thousand yuan; the bulletin shows 亿元 (100 million yuan).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import survey as sv
from survey.datasets import display_names, load_register
from survey.datasets.returns import write_returns
from survey.estimation.levels import area_names, county_levels
from survey.estimation.quarters import weight_quarters
from survey.estimation.takenone import TakeNoneModel
from survey.form import DEMO_FORM
from survey.periods import year_of
from survey.plan import design_plan
from survey.publish.disclosure import DisclosureRules
from survey.publish.report import write_bulletin
from survey.publish.report.assemble import breakdown_estimates, protect_published
from survey.publish.report.build import bulletin_content, label_missing
from survey.publish.report.tables import published_figures
from survey.returns.ledger import Ledger
from survey.returns.panel import Lifecycle, edit_panel, impute_panel
from survey.returns.rules import Rule, default_rules

OUTPUT = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-bulletin")
PERIODS = [f"{year}Q{quarter}" for year in (2005, 2006) for quarter in (1, 2, 3, 4)]
PUBLISHED = "2006Q4"
SEED = 20070115
AUTHOR = "survey cycle"
LANGUAGE = "zh"
#: the return form (survey.form.DEMO_FORM: every indicator of the ledger, which are stocks,
#: money, non-negative) and the published indicators
FORM = DEMO_FORM
STOCKS = list(FORM.stocks)
#: flows that cannot be negative, so neither can their quarter values (profit and tax can)
NONNEGATIVE = [v for v in FORM.nonnegative if v not in FORM.stocks]
#: indicators on the scale of the register size (last year's revenue), for the unit-error check
REGISTER_SCALE = ["gross_output", "sales_output", "revenue"]
VARIABLES = ["gross_output", "export_delivery", "profit_tax"]
SIZE = "revenue_prev_year"
CHANNELS = {"bureau": ("in_bureau", "统计局渠道"), "federation": ("in_federation", "联社渠道"),
            "zone": ("in_zone", "特色产业园区渠道")}
LEVEL = 0.95
TYPICAL = ["91450102000038F63T", "91450102001M83186M", "9145010200764MA71R",
           "914501020189Y8E62X"]


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)

    # 1. plan and select: firms above designated size in full, the others stratified by city
    #    and size class, CV targets 0.5% for the sector and 3% per city
    #    firms under 300 thousand yuan are take-none (estimated by the cut-off model), the
    #    largest firms of industries 2221 and 3153 are key units (enumerated until, with the
    #    take-all firms, they carry half the industry's revenue), four typical units
    plans, samples = {}, {}
    for year in (2005, 2006):
        plans[year] = design_plan(
            load_register(year), {SIZE: {"total": 0.005, "city": 0.03}}, strata=["city"],
            size=SIZE, id="firm_id", take_all="above_size", size_strata=3,
            boundary_method="cum_sqrt_f", min_n=2, response_rate=0.9, prn_seed=2006,
            missing_size=0.0, take_none_below=300,
            key_units={"by": "industry", "cells": ["2221", "3153"], "share": 0.5,
                       "rest": "sample"},
            typical={"ids": TYPICAL, "model_inputs": False})
        samples[year] = plans[year].select(seed=SEED, method="srswor").data
        print(f"{year}: plan n = {plans[year].n} of N = {plans[year].frame.N}")

    # 2. the returns of every quarter, loaded into the ledger with the quarter's sample
    files, _ = write_returns(samples, PERIODS, OUTPUT / "returns", seed=SEED,
                             unit_nonresponse=0.10, item_nonresponse=0.02, error_rate=0.02)
    ledger_file = OUTPUT / "ledger.duckdb"
    with Ledger.open(ledger_file, form=FORM) as ledger:
        for period in PERIODS:
            ledger.register_units(samples[year_of(period)].drop(columns=["year"]), period,
                                  author=AUTHOR, reason=f"sample of {year_of(period)}")
            ledger.ingest(files[period], period, "bureau", author=AUTHOR)

        # 3. edit and impute, a year of quarters at a time (decisions recorded in the ledger)
        rules = [*default_rules(FORM, growth_bounds=(0.2, 5.0)),
                 Rule(name="employees_positive_when_output",
                      expression="employees_ytd > 0 or gross_output_ytd == 0", severity="soft",
                      description="a firm with output should have employees")]
        edits = edit_panel(ledger, PERIODS, rules, indicators=FORM.indicators,
                           money=FORM.money, nonnegative=NONNEGATIVE, size=SIZE,
                           register_scale=REGISTER_SCALE, employees=FORM.ytd(FORM.size),
                           by="industry", author=AUTHOR)
        print(f"edit: {len(edits.unit_errors)} unit errors corrected, "
              f"{len(edits.set_aside)} values set aside")
        imputed = impute_panel(
            ledger, PERIODS, edits.set_aside, variables=VARIABLES,
            classes={"take_all": "industry", "sample": ["city"], "typical": "industry"},
            auxiliary=SIZE,
            nonnegative=NONNEGATIVE, stocks=STOCKS, author=AUTHOR,
            lifecycle=Lifecycle(column="status", born="new", closed="dead",
                                activity="gross_output"))
        ledger_cells = ledger.current(PUBLISHED)
    take_all, sample = imputed.panels["take_all"], imputed.panels["sample"]
    typical = imputed.panels["typical"]

    # 4. weights: nonresponse within strata, calibration to the register's take-some part
    #    (firms per city, total revenue of last year)
    design = sv.Design(strata="stratum", weights="design_weight", fpc="N_h", lonely_psu="adjust")
    surveys = weight_quarters(sample, design, {year: plan.frame for year, plan in plans.items()},
                              by=["city", "stratum"], margins=["city"], totals=[SIZE],
                              method="linear", bounds=(0.3, 3.0))

    # 5. combined totals (take-all part + weighted sample) by breakdown, period by period
    breakdowns = {"sector": None}
    for name in ("city", "industry", "zone"):
        breakdowns[name] = [name, f"{name}_name"] if f"{name}_name" in take_all else [name]
    breakdowns.update({f"channel_{name}": [flag] for name, (flag, _) in CHANNELS.items()})
    columns = [c for by in breakdowns.values() if by for c in by]
    take_none = {year: label_missing(plan.frame.data[plan.frame.data["part"] == "take_none"]
                                     .reset_index(drop=True), columns, LANGUAGE)
                 for year, plan in plans.items()}
    # the take-none part: a ratio model per industry fitted, once a quarter, on the 30
    # smallest firms of the industry that returned their values (nothing imputed), with its
    # model variance
    model = TakeNoneModel(take_none, VARIABLES, auxiliary=SIZE, take_all=take_all,
                          by="industry", smallest=30)
    estimates = breakdown_estimates(VARIABLES, take_all=take_all, surveys=surveys,
                                    breakdowns=breakdowns, published=PUBLISHED, level=LEVEL,
                                    language=LANGUAGE, model=model)
    by_period = estimates.by_period

    # county totals by small-area estimation (Fay-Herriot EBLUP, benchmarked to the cities)
    # and the region -> city -> county table
    frame = plans[2006].frame.data
    counties, levels = county_levels(
        surveys[PUBLISHED], take_all[take_all["period"] == PUBLISHED], frame, VARIABLES,
        sector=by_period["sector"][PUBLISHED].table(), cities=by_period["city"][PUBLISHED].table(),
        names=area_names(frame, "county_code", shown=display_names(LANGUAGE)), size=SIZE,
        model=model(PUBLISHED, surveys[PUBLISHED], VARIABLES, ["county_code"]).table(),
        cv_max=0.15, level=LEVEL, seed=SEED)
    estimates = dataclasses.replace(estimates, levels=levels, counties=counties)
    row = by_period["sector"][PUBLISHED].table().iloc[0]
    print(f"{row['variable']} {PUBLISHED}: {row['estimate'] / 1e5:,.2f} 亿元 "
          f"(cv {row['cv']:.1%}, growth {row['growth']:+.1%})")

    # 6. disclosure control of the published tables on the unit data of the quarter
    s = surveys[PUBLISHED]
    rules = DisclosureRules(min_frequency=3, p_percent=10, frequency_range=20)
    tables = {"table0": (["city"], ["industry"], VARIABLES), "table1": (["zone"], [], VARIABLES),
              **{f"channel_{name}": ([flag], [], VARIABLES) for name, (flag, _) in CHANNELS.items()}}
    # each table's variables and their year to date (profit and tax can be negative: left out)
    protected = protect_published(take_all, s, tables, period=PUBLISHED, language=LANGUAGE,
                                  rules=rules, cost="value")
    suppressed = sum(int(pt.suppressed.sum()) for pt in protected.values())
    print(f"disclosure: {len(protected)} tables protected, {suppressed} cells suppressed")

    # 7. the bulletin; the figures of this run are recorded in the ledger (append-only), so a
    #    later run shows what it revised
    with Ledger.open(ledger_file, form=FORM) as ledger:
        ledger.record_published(published_figures(estimates), published_period=PUBLISHED,
                                author=AUTHOR)
        revisions = ledger.revisions()
    content = bulletin_content(
        estimates, period=PUBLISHED, take_all=take_all, survey=s,
        title="广西二轻城镇集体工业 季度统计 (synthetic demo)", protected=protected,
        ledger_cells=ledger_cells, channels={n: label for n, (_, label) in CHANNELS.items()},
        domain_names=display_names(LANGUAGE), language=LANGUAGE, level=LEVEL,
        growth="comparable", stratified_by=["city"], calibration="linear",
        margins=["city", SIZE], synthetic=True, unit="亿元", typical=typical, revisions=revisions,
        targets={"channel_zone": {"gross_output": {2010: 10_000_000.0}}})  # zones: 100 亿元 by 2010
    files = write_bulletin(content, OUTPUT / "bulletin")
    for h in content.headline[:3]:  # gross output: above-size and sector year to date, quarter
        print(f"{h.label}: {h.estimate:,.2f} {h.unit} [{h.ci_low:,.2f}, {h.ci_high:,.2f}], "
              f"growth {h.growth:+.1%}")
    print(f"bulletin: {files.html} ({len(files.csv)} CSV files, {files.excel.name})")


if __name__ == "__main__":
    main()
