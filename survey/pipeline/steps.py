"""The configured cycle, one function per step: read the settings, call the library, write files.

Nothing here computes a statistic: each step reads its sections of a
:class:`~survey.pipeline.config.SurveyConfig` (whose methods turn settings into the
library's arguments), makes the library calls of its row of the step table of
``docs/architecture.md`` (which also lists the files each step writes into the output
folder ``output``; ``None``: none) and returns their results. ``examples/demo_bulletin.py``
makes the same calls without a configuration file. The results are documented and tested
on :class:`~survey.pipeline.run.CycleResult` (``demo_result()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from survey.errors import ConfigError
from survey.form import DEMO_FORM
from survey.io import write_table
from survey.periods import year_of
from survey.pipeline.config import SurveyConfig, load_config
from survey.publish.report.build import Estimates, label_missing
from survey.returns.panel import EditOutcome, Lifecycle

__all__: list[str] = []

#: Who the cycle records as the author of ledger writes.
AUTHOR = "survey cycle"
#: Settings of the simulated returns of the demo (how firms behave).
SIMULATION = {"unit_nonresponse": 0.10, "item_nonresponse": 0.02, "error_rate": 0.02}
#: The register's births and closures (bundled register: column ``status``).
LIFECYCLE = Lifecycle(column="status", born="new", closed="dead", activity="gross_output")
#: The demo form's non-negative flows (profit and tax can be negative; stocks are levels).
NONNEGATIVE = tuple(v for v in DEMO_FORM.nonnegative if v not in DEMO_FORM.stocks)
#: Indicators on the scale of the register size (last year's revenue), for the unit-error check.
REGISTER_SCALE = ("gross_output", "sales_output", "revenue")


def as_config(config: SurveyConfig | str | Path) -> SurveyConfig:
    """The configuration, read with :func:`load_config` when a path is given."""
    return config if isinstance(config, SurveyConfig) else load_config(config)


def _write(folder: Path, frames: Mapping[str, pd.DataFrame], index: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_table(frame, folder / f"{name}.csv", index=index)
    return folder


def plan_step(config: SurveyConfig, *, output: str | Path | None = None,
              write: bool = True) -> dict[int, Any]:
    """``[plan]`` with each year: ``plan_from_config``; refuses take-none cells nothing could
    model (:meth:`~survey.pipeline.config.SurveyConfig.check_take_none`)."""
    from survey.plan import plan_from_config

    folder = config.output_folder(output) if write else None
    plans, excel = {}, config.need("plan").output_excel is not False
    for year in config.years():
        plans[year] = plan = plan_from_config({**config.section("plan"), "year": year},
                                              base=config.folder)
        config.check_take_none(plan.frame.data)
        if folder is not None:
            plan.to_csv(folder / "plan" / str(year))
            if excel:
                plan.to_excel(folder / "plan" / str(year) / "plan.xlsx")
    return plans


def select_step(config: SurveyConfig, plans: Mapping[int, Any], *,
                output: str | Path | None = None, write: bool = True) -> dict[int, pd.DataFrame]:
    """``[plan.select]`` and the seed: ``SamplePlan.select`` and ``write_sample`` each year;
    returns each year's ``Selection.data``."""
    from survey.plan import write_sample

    folder = config.output_folder(output) if write else None
    excel, samples = config.need("plan").output_excel is not False, {}
    for year, plan in plans.items():
        selection = plan.select(seed=config.seed, **config.need("plan").select_arguments())
        if folder is not None:
            write_sample(selection, folder / "sample" / str(year), excel=excel)
        samples[year] = selection.data
    return samples


def read_samples(config: SurveyConfig | str | Path, *, output: str | Path | None = None
                 ) -> dict[int, pd.DataFrame]:
    """Reads ``sample/<year>/sample.csv`` of every year (written by :func:`select_step`)."""
    config = as_config(config)
    folder, samples = config.output_folder(output), {}
    for year in config.years():
        path = folder / "sample" / str(year) / "sample.csv"
        if not path.is_file():
            raise ConfigError(f"no sample for {year} in {path}; run `survey select` first")
        text = {c: "str" for c in ("firm_id", "industry", "county_code", "stratum", "part")}
        samples[year] = pd.read_csv(path, dtype=text)
    return samples


def simulate_step(config: SurveyConfig, samples: Mapping[int, pd.DataFrame], *,
                  output: str | Path | None = None) -> tuple[dict[str, Path], pd.DataFrame]:
    """``write_returns`` (:data:`SIMULATION`, the seed); bundled register only."""
    from survey.datasets.returns import write_returns

    if config.register.dataset != "register":
        raise ConfigError("simulated returns need the bundled register (register.dataset = "
                          "'register'); ingest your firms' own files instead")
    return write_returns(samples, config.periods(), config.output_folder(output) / "returns",
                         seed=config.seed, **SIMULATION)


def check_periods(config: SurveyConfig, files: Mapping[str, Any]) -> None:
    """Refuses returns files of periods that are not the survey's (before anything is read)."""
    if unknown := sorted(set(files) - set(config.periods())):
        raise ConfigError(f"returns given for {', '.join(unknown)}, which are not among the "
                          f"survey's periods ({', '.join(config.periods())}); nothing was loaded")


def ingest_step(config: SurveyConfig, samples: Mapping[int, pd.DataFrame],
                files: Mapping[str, str | Path], *, ledger_file: str | Path,
                channel: str = "bureau", allow_same_content: bool = False) -> list[Any]:
    """Each period with a file: ``Ledger.register_units`` (the year's sample), ``ingest``."""
    check_periods(config, files)
    reports = []
    with config.open_ledger(ledger_file) as ledger:
        for period in (p for p in config.periods() if p in files):
            units = samples[year_of(period)].drop(columns=["year"], errors="ignore")
            ledger.register_units(units, period, author=AUTHOR,
                                  reason=f"sample of {year_of(period)} (survey select)")
            reports.append(ledger.ingest(files[period], period, channel, author=AUTHOR,
                                         allow_same_content=allow_same_content))
    return reports


def edit_step(config: SurveyConfig, *, ledger_file: str | Path,
              output: str | Path | None = None) -> EditOutcome:
    """``[edit]`` (``EditSettings.rule_set``): ``edit_panel`` on the ledger."""
    from survey.returns.panel import edit_panel

    with config.open_ledger(ledger_file) as ledger:
        outcome = edit_panel(ledger, config.periods(), config.edit.rule_set(DEMO_FORM),
                             indicators=DEMO_FORM.indicators, money=DEMO_FORM.money,
                             nonnegative=NONNEGATIVE, size=config.register.size,
                             register_scale=REGISTER_SCALE,
                             employees=DEMO_FORM.ytd(DEMO_FORM.size), by="industry",
                             author=AUTHOR)
    if output is not None:
        _write(config.output_folder(output) / "edit", {
            "failures": outcome.failures, "unit_errors": outcome.unit_errors,
            "set_aside": outcome.set_aside, "conflicts": outcome.conflicts})
    return outcome


def impute_step(config: SurveyConfig, edits: EditOutcome, *, ledger_file: str | Path,
                output: str | Path | None = None) -> tuple[pd.DataFrame, ...]:
    """``impute_panel`` on the ledger; returns the take-all, sample and typical units'
    panels (``None`` without ``[plan.typical]``)."""
    from survey.returns.panel import impute_panel

    classes = {"take_all": "industry", "sample": config.strata() or None,
               **({"typical": "industry"} if config.typical is not None else {})}
    with config.open_ledger(ledger_file) as ledger:
        result = impute_panel(ledger, config.periods(), edits.set_aside,
                              variables=list(config.need("estimate").variables),
                              classes=classes, auxiliary=config.register.size,
                              nonnegative=NONNEGATIVE, lifecycle=LIFECYCLE,
                              stocks=DEMO_FORM.stocks, author=AUTHOR)
    panels = result.panels
    if output is not None:
        folder = _write(config.output_folder(output) / "panel", panels)
        _write(folder.parent / "edit", {"quarter_conflicts": result.conflicts})
    return panels["take_all"], panels["sample"], panels.get("typical")


def weight_step(config: SurveyConfig, sample: pd.DataFrame,
                plans: Mapping[int, Any]) -> dict[str, Any]:
    """``[calibration]`` (``CalibrationSettings.arguments``): ``weight_quarters``."""
    from survey.design import Design
    from survey.estimation.quarters import weight_quarters

    design = Design(strata="stratum", weights="design_weight", fpc="N_h",
                    lonely_psu=config.need("estimate").lonely_psu)
    return weight_quarters(sample, design, {year: plan.frame for year, plan in plans.items()},
                           by=[*config.strata(), "stratum"], **config.calibration.arguments())


def _take_none_model(config: SurveyConfig, plans: Mapping[int, Any], fill: list[str],
                     take_all: pd.DataFrame, typical: pd.DataFrame | None) -> Any:
    """``[estimate.take_none]``: the ``TakeNoneModel`` of the plans' take-none firms."""
    from survey.estimation.takenone import TakeNoneModel

    settings = config.need("estimate").take_none
    take_none = {year: label_missing(data[(data["part"] == "take_none").to_numpy()]
                                     .reset_index(drop=True), fill, config.language)
                 for year, data in ((y, p.frame.data) for y, p in plans.items())}
    inputs = config.typical is not None and config.typical.model_inputs
    return TakeNoneModel(take_none, config.need("estimate").variables,
                         auxiliary=settings.auxiliary or config.register.size,
                         take_all=take_all, typical=typical if inputs else None,
                         census=settings.census_rows(config.register.id),
                         by=list(settings.by) or None, smallest=settings.smallest,
                         model=settings.model)


def estimate_step(config: SurveyConfig, take_all: pd.DataFrame, surveys: Mapping[str, Any], *,
                  output: str | Path | None = None, plans: Mapping[int, Any] | None = None,
                  typical: pd.DataFrame | None = None) -> Estimates:
    """``[estimate]``: ``breakdown_estimates`` (breakdowns ``SurveyConfig.breakdowns``) with
    the take-none part's ``TakeNoneModel`` (``plans`` default: :func:`plan_step` without
    writing), then ``county_levels`` per ``[estimate.small_areas]``."""
    from dataclasses import replace

    from survey.datasets import display_names
    from survey.estimation.levels import area_names, county_levels
    from survey.publish.report.assemble import breakdown_estimates

    estimate, last = config.need("estimate"), config.published()
    breakdowns = config.breakdowns(take_all.columns)
    fill = [c for cols in breakdowns.values() if cols for c in cols]
    if plans is None and (estimate.small_areas is not None or config.plan is not None and (
            config.plan.take_none_below is not None or config.plan.key_units is not None)):
        plans = plan_step(config, write=False)
    model = _take_none_model(config, plans or {}, fill, take_all, typical)
    result = breakdown_estimates(list(estimate.variables), take_all=take_all, surveys=surveys,
                                 breakdowns=breakdowns, published=last, level=estimate.level,
                                 language=config.language, model=model)
    if (areas := estimate.small_areas) is not None:
        if "city" not in breakdowns:
            raise ConfigError(f"{config.path}: estimate.small_areas needs 'city' in "
                              "estimate.by (the middle level)")
        frame, county = plans[year_of(last)].frame.data, areas.county
        part = model(last, surveys[last], list(estimate.variables), [county])
        counties, levels = county_levels(
            surveys[last], take_all[take_all["period"] == last], frame, estimate.variables,
            sector=result.by_period["sector"][last].table(),
            cities=result.by_period["city"][last].table(), county=county,
            names=area_names(frame, county, shown=display_names(config.language)
                             if config.language == "zh" else None),
            region=areas.region, region_name=areas.region_name, size=config.register.size,
            model=None if part is None else part.table(), cv_max=areas.cv_max, mse=areas.mse,
            level=estimate.level, seed=config.seed)
        result = replace(result, levels=levels, counties=counties)
    if output is not None:
        extra = {} if result.levels is None else {"levels": result.levels,
                                                  "counties": result.counties}
        _write(config.output_folder(output) / "estimates",
               {**{f"series_{name}": s.table() for name, s in result.series.items()},
                "year_to_date": result.year_to_date.table(), **extra})
    return result


def protect_step(config: SurveyConfig, take_all: pd.DataFrame, surveys: Mapping[str, Any], *,
                 output: str | Path | None = None) -> dict[str, Any]:
    """``[disclosure]`` (tables ``SurveyConfig.disclosure_tables``): ``protect_published``
    on the published quarter; keys ``"<table>:<variable>"``."""
    from survey.publish.report.assemble import protect_published

    settings, period = config.disclosure, config.published()
    tables = config.disclosure_tables([*take_all.columns, *surveys[period].data.columns])
    protected = protect_published(take_all, surveys[period], tables, period=period,
                                  language=config.language, group=settings.group,
                                  rules=settings.rules(), cost=settings.cost)
    if output is not None:
        stems = {key: key.replace(":", "_") for key in protected}
        folder = _write(config.output_folder(output) / "disclosure",
                        {stems[k]: pt.table(symbol=settings.symbol)
                         for k, pt in protected.items()}, index=True)
        _write(folder, {f"{stems[k]}_audit": pt.audit for k, pt in protected.items()})
        (folder / "summary.txt").write_text(
            "\n".join(f"{k}: {pt.summary()}" for k, pt in protected.items()) + "\n",
            encoding="utf-8")
    return protected


def report_step(config: SurveyConfig, estimates: Estimates, protected: Mapping[str, Any], *,
                take_all: pd.DataFrame, surveys: Mapping[str, Any], ledger_file: str | Path,
                output: str | Path | None = None, typical: pd.DataFrame | None = None,
                level: str | None = None, area: str | None = None) -> tuple[Any, Any]:
    """``Ledger.record_published`` and ``revisions``, ``[report]``: ``bulletin_content``
    (``typical``: the case studies); one federation (``level``/``area``, else
    ``report.level``/``area``): ``area_content``; then ``write_bulletin``."""
    from survey.datasets import display_names
    from survey.publish.report import write_bulletin
    from survey.publish.report.build import bulletin_content
    from survey.publish.report.tables import area_content, published_figures

    estimate, period = config.need("estimate"), config.published()
    with config.open_ledger(ledger_file) as ledger:
        cells = ledger.current(period)
        ledger.record_published(published_figures(estimates), published_period=period,
                                author=AUTHOR)
        revisions = ledger.revisions()
    cal, report = config.calibration, config.report
    content = bulletin_content(
        estimates, period=period, take_all=take_all, survey=surveys[period],
        title=report.title or config.survey.name, protected=protected,
        ledger_cells=cells, channels={c.name: c.label for c in config.channels},
        domain_names=display_names(config.language), language=config.language,
        level=estimate.level, growth=estimate.growth, stratified_by=config.strata(),
        calibration=cal.method, margins=[*cal.margins, *cal.totals],
        cv_caution=report.cv_caution, cv_unreliable=report.cv_unreliable,
        synthetic=bool(config.register.dataset), unit=report.unit,
        targets=report.targets_by_year(), typical=typical, revisions=revisions)
    folder = config.output_folder(output) / "bulletin"
    level, area = level or report.level, area or report.area
    if (level is None) != (area is None):
        raise ConfigError("give the level and the area of the federation together "
                          "(--level city --area 450900)")
    if level is not None:
        if estimates.levels is None:
            raise ConfigError(f"{config.path}: the bulletin of one federation needs "
                              "[estimate.small_areas] (the region/city/county estimates)")
        content = area_content(content, estimates.levels, level=level, area=str(area))
        folder = folder / f"{level}_{area}"
    return content, write_bulletin(content, folder, formats=report.formats)
