"""The configured cycle, one function per step: read the settings, call the library, write files.

Nothing here computes a statistic: each step reads its sections of the configuration (a
:class:`~survey.pipeline.config.SurveyConfig` or its TOML file), makes the library calls
of the step table of ``docs/architecture.md`` (which also lists the files each step
writes into the output folder) and writes their results. ``examples/demo_bulletin.py``
makes the same calls without a configuration file. The steps' results are documented
and tested on :class:`~survey.pipeline.run.CycleResult` (``demo_result()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _write(folder: Path, frames: Mapping[str, pd.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_table(frame, folder / f"{name}.csv")


def _typical(config: SurveyConfig) -> Any:
    return None if config.plan is None else config.plan.typical


def _ledger(config: SurveyConfig, ledger_file: str | Path) -> Any:
    from survey.returns.ledger import Ledger

    return Ledger.open(ledger_file, form=DEMO_FORM, engine=config.make_engine())


def plan_step(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
              write: bool = True) -> dict[int, Any]:
    """Reads ``[plan]`` with each year of the series and calls
    :func:`survey.plan.plan_from_config`; refuses take-none firms in a model group
    (``[estimate.take_none] by``) with fewer than two observable units
    (:func:`survey.plan.keyunits.uncovered_cells`, unless fitted on a census); writes
    ``plan/<year>/`` when ``write``."""
    from survey.plan import plan_from_config
    from survey.plan.keyunits import uncovered_cells

    config = as_config(config)
    config.need("plan")
    folder = config.output_folder(output) if write else None
    plans, estimate = {}, config.estimate
    for year in config.years():
        section = {**config.section("plan"), "year": year}
        plans[year] = plan = plan_from_config(section, base=config.folder)
        if estimate is not None and estimate.take_none.fit != "census":
            groups, data = list(estimate.take_none.by), plan.frame.data
            if missing := [g for g in groups if g not in data.columns]:
                raise ConfigError(f"{config.path}: estimate.take_none.by {missing} not in the "
                                  "register")
            typical = _typical(config)
            if bare := uncovered_cells(data, groups or None, typical_inputs=typical is not None
                                       and typical.model_inputs):
                raise ConfigError(
                    f"{config.path}: take-none firms in {len(bare)} cell(s) of "
                    f"{groups or 'the sector'} would be neither enumerated, sampled nor modelled "
                    f"(fewer than two observable units to fit the cut-off model): {bare[:10]}; "
                    "sample those cells, fit on a census (estimate.take_none.fit = 'census') "
                    "or use coarser estimate.take_none.by")
        if folder is not None:
            plan.to_csv(folder / "plan" / str(year))
            if section.get("output_excel", True):
                plan.to_excel(folder / "plan" / str(year) / "plan.xlsx")
    return plans


def select_step(config: SurveyConfig | str | Path, plans: Mapping[int, Any], *,
                output: str | Path | None = None, write: bool = True) -> dict[int, pd.DataFrame]:
    """Reads ``[plan.select]`` and the survey's seed, calls
    :meth:`survey.plan.SamplePlan.select` for each year and
    :func:`survey.plan.write_sample` into ``sample/<year>/``; returns each year's
    ``Selection.data``."""
    from survey.plan import write_sample

    config = as_config(config)
    options = dict(config.section("plan").get("select", {}))
    excel = bool(config.section("plan").get("output_excel", True))
    folder = config.output_folder(output) if write else None
    samples = {}
    for year, plan in plans.items():
        selection = plan.select(seed=config.seed, method=options.get("method", "srswor"),
                                rotation=float(options.get("rotation", 0.0)),
                                period=int(options.get("period", 0)),
                                start=float(options.get("start", 0.0)))
        if folder is not None:
            write_sample(selection, folder / "sample" / str(year), excel=excel)
        samples[year] = selection.data
    return samples


def read_samples(config: SurveyConfig | str | Path, *, output: str | Path | None = None
                 ) -> dict[int, pd.DataFrame]:
    """Reads ``sample/<year>/sample.csv`` of every year (written by :func:`select_step`)."""
    config = as_config(config)
    folder = config.output_folder(output)
    samples = {}
    for year in config.years():
        path = folder / "sample" / str(year) / "sample.csv"
        if not path.is_file():
            raise ConfigError(f"no sample for {year} in {path}; run `survey select` first")
        text = {c: "str" for c in ("firm_id", "industry", "county_code", "stratum", "part")}
        samples[year] = pd.read_csv(path, dtype=text)
    return samples


def simulate_step(config: SurveyConfig | str | Path, samples: Mapping[int, pd.DataFrame], *,
                  output: str | Path | None = None) -> tuple[dict[str, Path], pd.DataFrame]:
    """Calls :func:`survey.datasets.returns.write_returns` (:data:`SIMULATION`, the survey's
    seed) into ``returns/`` for every period (bundled register only)."""
    from survey.datasets.returns import write_returns

    config = as_config(config)
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


def ingest_step(config: SurveyConfig | str | Path, samples: Mapping[int, pd.DataFrame],
                files: Mapping[str, str | Path], *, ledger_file: str | Path,
                channel: str = "bureau", allow_same_content: bool = False) -> list[Any]:
    """For each period with a file: :meth:`~survey.returns.ledger.Ledger.register_units`
    (the year's sample) and :meth:`~survey.returns.ledger.Ledger.ingest` (idempotent: a
    file already loaded changes nothing)."""
    config = as_config(config)
    check_periods(config, files)
    reports = []
    with _ledger(config, ledger_file) as ledger:
        for period in (p for p in config.periods() if p in files):
            units = samples[year_of(period)].drop(columns=["year"], errors="ignore")
            ledger.register_units(units, period, author=AUTHOR,
                                  reason=f"sample of {year_of(period)} (survey select)")
            reports.append(ledger.ingest(files[period], period, channel, author=AUTHOR,
                                         allow_same_content=allow_same_content))
    return reports


def edit_step(config: SurveyConfig | str | Path, *, ledger_file: str | Path,
              output: str | Path | None = None) -> EditOutcome:
    """Reads ``[edit]`` (the default rules, ``[[edit.rules]]``) and calls
    :func:`survey.returns.panel.edit_panel`; writes ``edit/failures.csv``,
    ``unit_errors.csv``, ``set_aside.csv`` and ``conflicts.csv``."""
    from survey.returns.panel import edit_panel
    from survey.returns.rules import Rule, default_rules

    config = as_config(config)
    rules = [*(default_rules(DEMO_FORM, growth_bounds=tuple(config.edit.growth_bounds))
               if config.edit.default_rules else ()),
             *(Rule(name=r.name, expression=r.expression, severity=r.severity,
                    description=r.description) for r in config.edit.rules)]
    with _ledger(config, ledger_file) as ledger:
        outcome = edit_panel(ledger, config.periods(), rules, indicators=DEMO_FORM.indicators,
                             money=DEMO_FORM.money, nonnegative=NONNEGATIVE,
                             size=config.register.size, register_scale=REGISTER_SCALE,
                             employees=DEMO_FORM.ytd(DEMO_FORM.size), by="industry",
                             author=AUTHOR)
    if output is not None:
        _write(config.output_folder(output) / "edit", {
            "failures": outcome.failures, "unit_errors": outcome.unit_errors,
            "set_aside": outcome.set_aside, "conflicts": outcome.conflicts})
    return outcome


def impute_step(config: SurveyConfig | str | Path, edits: EditOutcome, *,
                ledger_file: str | Path, output: str | Path | None = None,
                with_typical: bool = False) -> tuple[pd.DataFrame, ...]:
    """Calls :func:`survey.returns.panel.impute_panel` (take-all and typical firms in
    classes of ``industry``, sampled firms in the plan's stratum columns, auxiliary
    ``register.size``); writes ``panel/`` and ``edit/quarter_conflicts.csv``; returns the
    take-all and sample panels (and the typical units' panel when ``with_typical``)."""
    from survey.returns.panel import impute_panel

    config = as_config(config)
    classes = {"take_all": "industry", "sample": config.strata() or None,
               **({"typical": "industry"} if _typical(config) is not None else {})}
    with _ledger(config, ledger_file) as ledger:
        result = impute_panel(ledger, config.periods(), edits.set_aside,
                              variables=list(config.need("estimate").variables),
                              classes=classes, auxiliary=config.register.size,
                              nonnegative=NONNEGATIVE, lifecycle=LIFECYCLE,
                              stocks=DEMO_FORM.stocks, author=AUTHOR)
    take_all, sample = result.panels["take_all"], result.panels["sample"]
    typical = result.panels.get("typical")
    if output is not None:
        folder = config.output_folder(output)
        _write(folder / "panel", {"take_all": take_all, "sample": sample,
                                  **({"typical": typical} if typical is not None else {})})
        _write(folder / "edit", {"quarter_conflicts": result.conflicts})
    return (take_all, sample, typical) if with_typical else (take_all, sample)


def weight_step(config: SurveyConfig | str | Path, sample: pd.DataFrame,
                plans: Mapping[int, Any]) -> dict[str, Any]:
    """Reads ``[calibration]`` and calls :func:`survey.estimation.quarters.weight_quarters`
    (nonresponse within the strata, calibration to the register margins of the take-some
    part, trimming when ``calibration.trim`` is set)."""
    from survey.design import Design
    from survey.estimation.quarters import weight_quarters

    config = as_config(config)
    cal = config.calibration
    return weight_quarters(sample, Design(strata="stratum", weights="design_weight", fpc="N_h",
                                          lonely_psu=config.need("estimate").lonely_psu),
                           {year: plan.frame for year, plan in plans.items()},
                           by=[*config.strata(), "stratum"], margins=cal.margins,
                           totals=cal.totals, method=cal.method,
                           bounds=tuple(cal.bounds) if cal.bounds else None,
                           trim=None if cal.trim is None else tuple(cal.trim))


def _breakdowns(config: SurveyConfig, columns: Sequence[str]) -> dict[str, list[str] | None]:
    out: dict[str, list[str] | None] = {"sector": None}
    for name in config.need("estimate").by:  # a breakdown and its ``{name}_name`` label
        out[name] = [name, f"{name}_name"] if f"{name}_name" in columns else [name]
    for channel in config.channels:
        if channel.flag is not None and channel.flag in columns:
            out[f"channel_{channel.name}"] = [channel.flag]
    return out


def _take_none_model(config: SurveyConfig, plans: Mapping[int, Any], fill: Sequence[str],
                     take_all: pd.DataFrame, typical: pd.DataFrame | None) -> Any:
    from survey.estimation.takenone import TakeNoneModel
    from survey.io import read_table

    settings, census = config.need("estimate").take_none, None
    if settings.fit == "census":  # the model groups are codes: read as text
        census = read_table(settings.census, text=[config.register.id, *settings.by])
        if "period" not in census.columns:
            raise ConfigError(f"estimate.take_none.census: {settings.census} has no 'period' "
                              "column (one row per firm and quarter)")
    take_none = {year: label_missing(data[(data["part"] == "take_none").to_numpy()]
                                     .reset_index(drop=True), fill, config.language)
                 for year, data in ((y, p.frame.data) for y, p in plans.items())}
    inputs = _typical(config) is not None and _typical(config).model_inputs
    return TakeNoneModel(take_none, config.need("estimate").variables,
                         auxiliary=settings.auxiliary or config.register.size,
                         take_all=take_all, typical=typical if inputs else None, census=census,
                         by=list(settings.by) or None, smallest=settings.smallest,
                         model=settings.model)


def estimate_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                  surveys: Mapping[str, Any], *, output: str | Path | None = None,
                  plans: Mapping[int, Any] | None = None,
                  typical: pd.DataFrame | None = None) -> Estimates:
    """Reads ``[estimate]`` (variables, breakdowns ``by`` and the channels' flags, level,
    ``[estimate.take_none]``, ``[estimate.small_areas]``) and calls
    :func:`survey.publish.report.assemble.breakdown_estimates` with the take-none part
    :class:`survey.estimation.takenone.TakeNoneModel` (always, when the plan has a
    take-none part; ``plans`` default :func:`plan_step` without writing), then
    :func:`survey.estimation.levels.county_levels`; writes
    ``estimates/series_<breakdown>.csv``, ``year_to_date.csv`` (and ``levels.csv``,
    ``counties.csv``)."""
    from dataclasses import replace

    from survey.datasets import display_names
    from survey.estimation.levels import area_names, county_levels
    from survey.publish.report.assemble import breakdown_estimates

    config = as_config(config)
    estimate, last = config.need("estimate"), config.published()
    breakdowns = _breakdowns(config, take_all.columns)
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


def protect_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                 surveys: Mapping[str, Any], *, output: str | Path | None = None
                 ) -> dict[str, Any]:
    """Reads ``[disclosure]`` (each ``[[disclosure.tables]]``, variables default
    ``estimate.variables``; each channel's table) and calls
    :func:`survey.publish.report.assemble.protect_published` on the published quarter;
    writes ``disclosure/<table>_<variable>.csv``, its ``_audit.csv`` and ``summary.txt``.
    Keys ``"table<i>:<variable>"`` and ``"channel_<name>:<variable>"``."""
    from survey.publish.report.assemble import protect_published

    config = as_config(config)
    settings, period = config.disclosure, config.published()
    variables = list(config.need("estimate").variables)

    def columns(value: Any) -> list[str]:
        return [] if value is None else [value] if isinstance(value, str) else list(value)

    tables = {f"table{i}": (columns(t.rows), columns(t.columns), list(t.variables) or variables)
              for i, t in enumerate(settings.tables)}
    for channel in config.channels:
        if channel.flag is not None and (channel.flag in take_all.columns
                                         or channel.flag in surveys[period].data.columns):
            tables[f"channel_{channel.name}"] = ([channel.flag], [], variables)
    protected = protect_published(take_all, surveys[period], tables, period=period,
                                  language=config.language, group=settings.group,
                                  rules=settings.rules(), cost=settings.cost)
    if output is not None:
        folder = config.output_folder(output) / "disclosure"
        folder.mkdir(parents=True, exist_ok=True)
        for key, pt in protected.items():
            stem = key.replace(":", "_")
            write_table(pt.table(symbol=settings.symbol), folder / f"{stem}.csv", index=True)
            write_table(pt.audit, folder / f"{stem}_audit.csv")
        (folder / "summary.txt").write_text(
            "\n".join(f"{k}: {pt.summary()}" for k, pt in protected.items()) + "\n",
            encoding="utf-8")
    return protected


def report_step(config: SurveyConfig | str | Path, estimates: Estimates,
                protected: Mapping[str, Any], *, take_all: pd.DataFrame,
                surveys: Mapping[str, Any], ledger_file: str | Path,
                output: str | Path | None = None,
                typical: pd.DataFrame | None = None, level: str | None = None,
                area: str | None = None) -> tuple[Any, Any]:
    """Records the published figures in the ledger
    (:meth:`~survey.returns.ledger.Ledger.record_published`, append-only; its
    :meth:`~survey.returns.ledger.Ledger.revisions` flag revised figures "r"), reads
    ``[report]`` and ``estimate.level``/``growth`` and calls
    :func:`survey.publish.report.build.bulletin_content` (``typical``: the case studies),
    for one federation (``level`` and ``area``, or ``report.level``/``area``)
    :func:`survey.publish.report.tables.area_content`, then
    :func:`survey.publish.report.write_bulletin` into ``bulletin/`` (or
    ``bulletin/<level>_<area>/``)."""
    from survey.datasets import display_names
    from survey.publish.report import write_bulletin
    from survey.publish.report.build import bulletin_content
    from survey.publish.report.tables import area_content, published_figures

    config = as_config(config)
    estimate, period = config.need("estimate"), config.published()
    with _ledger(config, ledger_file) as ledger:
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
        targets={d: {v: {int(y): t for y, t in by_y.items()} for v, by_y in by_v.items()}
                 for d, by_v in report.targets.items()} or None,
        typical=typical, revisions=revisions)
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
