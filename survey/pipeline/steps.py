"""The configured cycle, one function per step: read the settings, call the library, write files.

Nothing here computes a statistic; each step is one or two library calls
(the table of ``docs/architecture.md`` names them), so a user who does not
drive the toolkit from a TOML file makes the same calls (``examples/demo_bulletin.py``).
Every step takes the configuration (a :class:`~survey.pipeline.config.SurveyConfig`
or its TOML file) and writes into the output folder when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from survey.errors import ConfigError
from survey.form import DEMO_FORM
from survey.periods import year_of
from survey.io import write_table
from survey.pipeline.config import SurveyConfig, load_config
from survey.publish.report.build import Estimates, label_missing
from survey.publish.report.tables import published_figures
from survey.returns.panel import EditOutcome, Lifecycle, edit_panel, impute_panel

__all__ = [
    "AUTHOR", "LIFECYCLE", "NONNEGATIVE", "REGISTER_SCALE", "SIMULATION", "as_config",
    "coverage_check", "edit_step", "estimate_step", "impute_step", "ingest_step", "levels_step",
    "model_inputs", "model_part", "plan_step", "protect_step", "read_samples", "report_step",
    "returns_files", "select_step", "simulate_step", "take_none_frames", "weight_step",
]

#: Who the cycle records as the author of ledger writes.
AUTHOR = "survey cycle"
#: Settings of the simulated returns of the demo (how firms behave).
SIMULATION = {"unit_nonresponse": 0.10, "item_nonresponse": 0.02, "error_rate": 0.02}
#: The register's births and closures (bundled register: column ``status``).
LIFECYCLE = Lifecycle(column="status", born="new", closed="dead", activity="gross_output")
#: Indicators that cannot be negative, so neither can their quarter values (profit and tax can):
#: the demo form's non-negative flows.
NONNEGATIVE = tuple(v for v in DEMO_FORM.nonnegative if v not in DEMO_FORM.stocks)
#: Indicators on the scale of the register size (last year's revenue), for the unit-error check.
REGISTER_SCALE = ("gross_output", "sales_output", "revenue")


def as_config(config: SurveyConfig | str | Path) -> SurveyConfig:
    """The configuration, read from its TOML file when a path is given.

    Examples
    --------
    >>> from survey.pipeline import DEMO_CONFIG
    >>> as_config(DEMO_CONFIG).survey.seed
    20070115
    """
    return config if isinstance(config, SurveyConfig) else load_config(config)


def plan_step(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
              write: bool = True) -> dict[int, Any]:
    """The sample plan of every year of the series (:func:`survey.plan.plan_from_config`).

    Writes ``plan/<year>/`` (``plan_strata.csv`` is the allocation table,
    ``plan.xlsx`` unless ``plan.output_excel = false``) when ``write``.

    Returns
    -------
    dict of int to survey.plan.SamplePlan

    Examples
    --------
    >>> from survey.pipeline import DEMO_CONFIG
    >>> plans = plan_step(DEMO_CONFIG, write=False)
    >>> sorted(plans), plans[2006].n > 500
    ([2005, 2006], True)
    """
    from survey.plan import plan_from_config

    config = as_config(config)
    config.need("plan")
    folder = config.output_folder(output) if write else None
    plans = {}
    for year in config.years():
        section = dict(config.section("plan"))
        section["year"] = year
        plans[year] = plan = plan_from_config(section, base=config.folder)
        coverage_check(config, plan)
        if folder is not None:
            plan.to_csv(folder / "plan" / str(year))
            if section.get("output_excel", True):
                plan.to_excel(folder / "plan" / str(year) / "plan.xlsx")
    return plans


def coverage_check(config: SurveyConfig, plan: Any) -> None:
    """Every unit is enumerated, sampled or modelled: each model group
    (``[estimate.take_none] by``) holding take-none firms must hold at least two
    observable units (take-all, key or sampled, not typical unless
    ``[plan.typical] model_inputs``) to fit the cut-off model on, unless the model is
    fitted on a census.

    Raises
    ------
    survey.errors.ConfigError
        Naming the cells whose take-none firms would be neither enumerated, sampled
        nor modelled.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> coverage_check(demo_result().config, demo_result().plans[2006])  # covered: no error
    """
    from survey.plan.keyunits import uncovered_cells

    if config.estimate is None or config.estimate.take_none.fit == "census":
        return
    groups = list(config.estimate.take_none.by)
    data = plan.frame.data
    missing = [g for g in groups if g not in data.columns]
    if missing:
        raise ConfigError(f"{config.path}: estimate.take_none.by {missing} not in the register")
    typical = _typical_settings(config)
    bare = uncovered_cells(data, groups or None,
                           typical_inputs=typical is not None and typical.model_inputs)
    if bare:
        raise ConfigError(
            f"{config.path}: take-none firms in {len(bare)} cell(s) of {groups or 'the sector'} "
            f"would be neither enumerated, sampled nor modelled (fewer than two observable "
            f"units to fit the cut-off model): {bare[:10]}; sample those cells, fit on a census "
            "(estimate.take_none.fit = 'census') or use coarser estimate.take_none.by")


def select_step(config: SurveyConfig | str | Path, plans: Mapping[int, Any], *,
                output: str | Path | None = None, write: bool = True) -> dict[int, pd.DataFrame]:
    """Each year's sample: every take-all firm plus the take-some sample
    (:meth:`survey.plan.SamplePlan.select` with ``[plan.select]`` and the survey's seed).

    Writes ``sample/<year>/sample.csv`` (and ``sample.xlsx`` unless
    ``plan.output_excel = false``) and ``sample_metadata.json``.

    Returns
    -------
    dict of int to pandas.DataFrame
        Per year the selected firms: register columns plus ``part``
        (``"take_all"`` or ``"sample"``), ``stratum``, ``prn``,
        ``inclusion_probability``, ``design_weight``, ``N_h``, ``n_h``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> sorted(demo_result().samples[2006]["part"].unique())  # select_step of the demo
    ['sample', 'take_all', 'typical']
    """
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
    """The samples written by :func:`select_step` (for the separate commands).

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> read_samples(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no sample for 2005 in .../sample/2005/sample.csv; run `survey select` first
    """
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
    """The returns the selected firms would send, one CSV per period
    (:func:`survey.datasets.simulate_returns`; bundled data only).

    Each file ``returns/returns_<period>.csv`` holds the responding firms:
    ``firm_id, period``, ``{indicator}_ytd`` and ``{indicator}_ytd_last_year``
    (thousand yuan); missing items are empty and some values carry injected
    reporting errors (listed in ``returns/injected_errors.csv``).

    Returns
    -------
    (dict of str to pathlib.Path, pandas.DataFrame)
        The file of each period, and the injected errors.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> result = demo_result()  # simulate_step of the demo
    >>> sorted(result.returns_files)[-1], sorted(result.injected["error_type"].unique())[0]
    ('2006Q4', 'cumulative_decrease')
    """
    from survey.datasets import simulate_returns

    config = as_config(config)
    if config.register.dataset != "register":
        raise ConfigError("simulated returns need the bundled register (register.dataset = "
                          "'register'); ingest your firms' own files instead")
    folder = config.output_folder(output) / "returns"
    folder.mkdir(parents=True, exist_ok=True)
    files, injected = {}, []
    for period in config.periods():
        sim = simulate_returns(samples[year_of(period)]["firm_id"], period, seed=config.seed,
                               **SIMULATION)
        sent = sim.returns[sim.returns["responded"].to_numpy()]
        files[period] = folder / f"returns_{period}.csv"
        write_table(sent.drop(columns=["responded", "operating"]), files[period])
        injected.append(sim.injected)
    errors = pd.concat(injected, ignore_index=True)
    write_table(errors, folder / "injected_errors.csv")
    return files, errors


def returns_files(config: SurveyConfig, folder: Path) -> dict[str, Path]:
    """The returns files ``returns/returns_<period>.csv`` present in the output folder.

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> returns_files(load_config(DEMO_CONFIG), Path(tempfile.mkdtemp()))
    {}
    """
    files = {p: folder / "returns" / f"returns_{p}.csv" for p in config.periods()}
    return {p: f for p, f in files.items() if f.is_file()}


def ingest_step(config: SurveyConfig | str | Path, samples: Mapping[int, pd.DataFrame],
                files: Mapping[str, str | Path], *, ledger_file: str | Path,
                channel: str = "bureau", allow_same_content: bool = False) -> list[Any]:
    """Store each period's register snapshot (the selected firms) and load its returns file
    (:meth:`survey.returns.ledger.Ledger.register_units`, :meth:`~survey.returns.ledger.Ledger.ingest`).

    Loading is idempotent: a file already loaded (same content) changes
    nothing, so the cycle can be run again on the same ledger.

    Returns
    -------
    list of survey.returns.ledger.IngestReport

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> result = demo_result()
    >>> reports = ingest_step(result.config, result.samples, result.returns_files,
    ...                       ledger_file=result.ledger_file)  # again: nothing changes
    >>> sorted({r.status for r in reports})
    ['unchanged']
    """
    from survey.returns.ledger import Ledger

    config = as_config(config)
    unknown = sorted(set(files) - set(config.periods()))
    if unknown:
        raise ConfigError(f"returns given for {', '.join(unknown)}, which are not among the "
                          f"survey's periods ({', '.join(config.periods())}); nothing was loaded")
    reports = []
    with Ledger.open(ledger_file, form=DEMO_FORM, engine=config.make_engine()) as ledger:
        for period in config.periods():
            if period not in files:
                continue
            units = samples[year_of(period)].drop(columns=["year"], errors="ignore")
            ledger.register_units(units, period, author=AUTHOR,
                                  reason=f"sample of {year_of(period)} (survey select)")
            reports.append(ledger.ingest(files[period], period, channel, author=AUTHOR,
                                         allow_same_content=allow_same_content))
    return reports


def _write(folder: Path, frames: Mapping[str, pd.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_table(frame, folder / f"{name}.csv")


def edit_step(config: SurveyConfig | str | Path, *, ledger_file: str | Path,
              output: str | Path | None = None) -> EditOutcome:
    """Unit errors, edit rules and falling year-to-date values
    (:func:`survey.returns.panel.edit_panel` with the default rules when
    ``edit.default_rules`` and the ``[[edit.rules]]``).

    Writes ``edit/failures.csv``, ``unit_errors.csv``, ``set_aside.csv``
    and ``conflicts.csv`` when ``output`` is given.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> len(demo_result().edits.unit_errors) > 0  # edit_step of the demo
    True
    """
    from survey.returns.ledger import Ledger
    from survey.returns.rules import Rule, default_rules

    config = as_config(config)
    rules = [*(default_rules(DEMO_FORM, growth_bounds=tuple(config.edit.growth_bounds))
               if config.edit.default_rules else ()),
             *(Rule(name=r.name, expression=r.expression, severity=r.severity,
                    description=r.description) for r in config.edit.rules)]
    with Ledger.open(ledger_file, form=DEMO_FORM, engine=config.make_engine()) as ledger:
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
    """Deduce, impute and derive quarters (:func:`survey.returns.panel.impute_panel`):
    take-all firms in classes of ``industry``, sampled firms in the plan's stratum
    columns, constructed values from ``register.size``.

    Writes ``panel/take_all.csv``, ``panel/sample.csv`` and
    ``edit/quarter_conflicts.csv`` when ``output`` is given.

    Typical units (``[plan.typical]``) are imputed in classes of ``industry`` among
    themselves; their panel (``panel/typical.csv``) is returned third when
    ``with_typical`` (never mixed into the other two).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame) or (pandas.DataFrame, pandas.DataFrame, pandas.DataFrame)
        The take-all panel and the sample panel (:class:`survey.returns.panel.PanelImputation`),
        and the typical units' panel when ``with_typical``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> sorted(demo_result().take_all["gross_output_marker"].unique())  # impute_step of the demo
    ['backward_imputed', 'edited', 'forward_imputed', 'returned']
    """
    from survey.returns.ledger import Ledger

    config = as_config(config)
    variables = list(config.need("estimate").variables)
    with Ledger.open(ledger_file, form=DEMO_FORM, engine=config.make_engine()) as ledger:
        classes = {"take_all": "industry", "sample": config.strata() or None}
        if _typical_settings(config) is not None:
            classes["typical"] = "industry"
        result = impute_panel(ledger, config.periods(), edits.set_aside, variables=variables,
                              classes=classes,
                              auxiliary=config.register.size, nonnegative=NONNEGATIVE,
                              lifecycle=LIFECYCLE, stocks=DEMO_FORM.stocks, author=AUTHOR)
    take_all, sample = result.panels["take_all"], result.panels["sample"]
    typical = result.panels.get("typical")
    if output is not None:
        folder = config.output_folder(output)
        _write(folder / "panel", {"take_all": take_all, "sample": sample,
                                  **({"typical": typical} if typical is not None else {})})
        _write(folder / "edit", {"quarter_conflicts": result.conflicts})
    return (take_all, sample, typical) if with_typical else (take_all, sample)


def _typical_settings(config: SurveyConfig) -> Any:
    return None if config.plan is None else config.plan.typical


def take_none_frames(config: SurveyConfig | str | Path, plans: Mapping[int, Any]
                     ) -> dict[int, pd.DataFrame]:
    """The take-none firms of each year (the plan's part ``take_none``, from the register).

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> frames = take_none_frames(demo_result().config, demo_result().plans)
    >>> sorted(frames), len(frames[2006]) > 1000
    ([2005, 2006], True)
    """
    out = {}
    for year, plan in plans.items():
        data = plan.frame.data
        rows = data[(data["part"] == "take_none").to_numpy()]
        if len(rows):
            out[int(year)] = rows.reset_index(drop=True)
    return out


def model_inputs(config: SurveyConfig, period: str, take_all: pd.DataFrame, survey: Any,
                 typical: pd.DataFrame | None) -> pd.DataFrame:
    """The rows the take-none model of ``period`` is fitted on (``[estimate.take_none]``):
    the ``smallest`` observed units of each model group
    (:func:`survey.estimation.takenone.observed_units`, then
    :func:`~survey.estimation.takenone.smallest_inputs`), the typical units among the
    candidates only when ``[plan.typical] model_inputs = true``; or the census rows of
    ``period`` when ``fit = "census"``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> r = demo_result()
    >>> rows = model_inputs(r.config, "2006Q4", r.take_all, r.surveys["2006Q4"], None)
    >>> bool(rows["responded"].all()), int(rows.groupby("industry").size().max())
    (True, 30)
    """
    from survey.estimation.takenone import observed_units, smallest_inputs

    settings = config.need("estimate").take_none
    if settings.fit == "census":
        from survey.io import read_table

        # the model groups are codes (industry "1411"): read as text, as in the register
        census = read_table(settings.census, text=[config.register.id, *settings.by])
        if "period" not in census.columns:
            raise ConfigError(f"estimate.take_none.census: {settings.census} has no 'period' "
                              "column (one row per firm and quarter)")
        rows = census[census["period"].astype(str) == period]
        if rows.empty:
            raise ConfigError(f"estimate.take_none.census: {settings.census} has no rows for "
                              f"{period}")
        return rows.reset_index(drop=True)
    parts = [take_all[take_all["period"] == period], survey.data]
    typical_settings = _typical_settings(config)
    if typical is not None and typical_settings is not None and typical_settings.model_inputs:
        parts.append(typical[typical["period"] == period])
    observed = observed_units(parts, list(config.need("estimate").variables))
    return smallest_inputs(observed, size=settings.auxiliary or config.register.size,
                           by=list(settings.by) or None, smallest=settings.smallest)


def model_part(config: SurveyConfig, take_none: pd.DataFrame, inputs: pd.DataFrame,
               variables: Sequence[str], by: Sequence[str] | None) -> Any:
    """The take-none part of one period and breakdown: the cut-off model of
    ``[estimate.take_none]`` (:func:`survey.estimation.combined.cutoff_model`) fitted on
    ``inputs`` (:func:`model_inputs`), with its model variance.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> est = demo_result().estimates.by_period["sector"]["2006Q4"].table()
    >>> bool((est["model"] > 0).all()), bool(est["model_based"].all())
    (True, True)
    """
    from survey.estimation.combined import cutoff_model

    settings = config.need("estimate").take_none
    return cutoff_model(inputs, take_none, list(variables),
                        auxiliary=settings.auxiliary or config.register.size, by=by,
                        model_by=list(settings.by) or None, model=settings.model,
                        inputs="census" if settings.fit == "census" else "smallest observed units")


def weight_step(config: SurveyConfig | str | Path, sample: pd.DataFrame,
                plans: Mapping[int, Any]) -> dict[str, Any]:
    """The weighted sample of every period: :meth:`survey.Survey.adjust_nonresponse` within
    the strata (small cells collapsed into the plan's stratum columns), then
    :meth:`survey.Survey.calibrate` to the register margins (``[calibration]``) and
    :meth:`survey.Survey.trim_weights` when ``calibration.trim`` is set.

    Returns
    -------
    dict of str to survey.Survey
        One per period (design: strata ``stratum``, weights ``design_weight``,
        fpc ``N_h``), its weighting steps recorded.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> s = demo_result().surveys["2006Q4"]  # weight_step of the demo
    >>> [step.kind for step in s.weighting]
    ['nonresponse', 'calibration']
    >>> bool((s.weights[~s.data["responded"].to_numpy()] == 0).all())
    True
    """
    from survey.design import Design
    from survey.estimation.survey import Survey

    config = as_config(config)
    design = Design(strata="stratum", weights="design_weight", fpc="N_h",
                    lonely_psu=config.need("estimate").lonely_psu)
    calibration = config.calibration
    surveys = {}
    for period, rows in sample.groupby("period", sort=True):
        s = Survey(rows.reset_index(drop=True), design).adjust_nonresponse(
            "responded", by=[*config.strata(), "stratum"], small_cells="collapse")
        frame = plans[year_of(period)].frame
        totals = frame.subset(frame.data["part"].to_numpy() == "sample").margins(
            counts=calibration.margins, totals=calibration.totals)
        if totals:
            s = s.calibrate(totals, method=calibration.method,
                            bounds=tuple(calibration.bounds) if calibration.bounds else None)
        if calibration.trim is not None:
            s = s.trim_weights(*calibration.trim)
        surveys[str(period)] = s
    return surveys


def _breakdowns(config: SurveyConfig, columns: Sequence[str]) -> dict[str, list[str] | None]:
    out: dict[str, list[str] | None] = {"sector": None}
    for name in config.need("estimate").by:  # a breakdown and its ``{name}_name`` label
        out[name] = [name, f"{name}_name"] if f"{name}_name" in columns else [name]
    for channel in config.channels:
        if channel.flag is not None and channel.flag in columns:
            out[f"channel_{channel.name}"] = [channel.flag]
    return out


def estimate_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                  surveys: Mapping[str, Any], *, output: str | Path | None = None,
                  plans: Mapping[int, Any] | None = None,
                  typical: pd.DataFrame | None = None) -> Estimates:
    """Combined (take-all + sample + model) totals by domain for every period
    (:func:`survey.estimation.combined.combined_total`), the series
    (:func:`survey.quarterly.series.quarterly_series`) and the year to date.

    The year to date of the published quarter is estimated for every breakdown
    and for the take-all part alone (``Estimates.year_to_date_by``).
    When the plan has a take-none part (``take_none_below``, or key-unit cells whose
    rest is take-none), it is always estimated: :func:`model_part` on the take-none
    firms of the year (``plans``, default :func:`plan_step` without writing), its
    model variance added, the ``model`` column of every table non-zero.

    Writes ``estimates/series_<breakdown>.csv`` and ``year_to_date.csv``.

    Returns
    -------
    survey.publish.report.build.Estimates

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> estimates = demo_result().estimates  # estimate_step of the demo
    >>> sorted(estimates.breakdowns)
    ['channel_bureau', 'channel_federation', 'channel_zone', 'city', 'industry', 'sector', 'zone']
    >>> estimates.by_period["sector"]["2006Q4"].table()[["variable", "cv"]].round(3)
              variable     cv
    0     gross_output  0.006
    1  export_delivery  0.027
    2       profit_tax  0.010
    """
    from survey.estimation.combined import combined_total
    from survey.periods import shift_quarter
    from survey.quarterly.series import breakdown_totals, quarterly_series

    config = as_config(config)
    estimate = config.need("estimate")
    variables, language = list(estimate.variables), config.language
    breakdowns = _breakdowns(config, take_all.columns)
    fill = [c for cols in breakdowns.values() if cols for c in cols]
    last = config.published()
    if plans is None and config.plan is not None and (
            config.plan.take_none_below is not None or config.plan.key_units is not None):
        plans = plan_step(config, write=False)
    take_none = {year: label_missing(rows, fill, language)
                 for year, rows in take_none_frames(config, plans or {}).items()}
    inputs: dict[str, pd.DataFrame] = {}  # per period: the same rows for every breakdown

    def model(period: str, s: Any, names: Sequence[str], by: Any) -> Any:
        rows = take_none.get(int(period[:4]))
        if rows is None:
            return None
        if period not in inputs:
            inputs[period] = model_inputs(config, period, take_all, s, typical)
        return model_part(config, rows, inputs[period], names, by)

    # missing breakdown values (a firm in no zone) get an explicit label
    labelled = {p: s.assign(**{c: label_missing(s.data[[c]], [c], language)[c].to_numpy()
                               for c in fill if c in s.data.columns and s.data[c].isna().any()})
                for p, s in surveys.items()}
    by_period, ytd_by = breakdown_totals(
        variables, take_all=label_missing(take_all, fill, language), surveys=labelled,
        breakdowns=breakdowns, published=last, level=estimate.level, model=model)

    def year_to_date(period: str) -> Any:
        if period not in surveys:
            return None
        names = [f"{v}_ytd" for v in variables]
        return combined_total(
            names, sample=surveys[period],
            take_all=take_all[take_all["period"] == period].reset_index(drop=True),
            imputed={f"{v}_ytd": f"{v}_imputed" for v in variables}, period=period,
            level=estimate.level, model=model(period, surveys[period], names, None))

    levels = counties = None
    if estimate.small_areas is not None:
        if plans is None:
            plans = plan_step(config, write=False)
        counties, levels = levels_step(config, last, take_all, surveys[last], plans,
                                       by_period, take_none.get(int(last[:4])), typical)
    result = Estimates(by_period=by_period, breakdowns=breakdowns,
                       series={name: quarterly_series(list(per.values()))
                               for name, per in by_period.items()},
                       year_to_date=ytd_by.get("sector") or year_to_date(last),
                       year_to_date_last_year=year_to_date(shift_quarter(last, -4)),
                       year_to_date_by=ytd_by, levels=levels, counties=counties)
    if output is not None:
        extra = {} if levels is None else {"levels": levels, "counties": counties}
        _write(config.output_folder(output) / "estimates",
               {**{f"series_{name}": s.table() for name, s in result.series.items()},
                "year_to_date": result.year_to_date.table(), **extra})
    return result


def levels_step(config: SurveyConfig, period: str, take_all: pd.DataFrame, survey: Any,
                plans: Mapping[int, Any], by_period: Mapping[str, Mapping[str, Any]],
                take_none: pd.DataFrame | None, typical: pd.DataFrame | None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """County totals by small-area estimation and the three-level table of ``period``
    (:func:`survey.estimation.levels.county_estimates`,
    :func:`~survey.estimation.levels.levels_table`), per ``[estimate.small_areas]``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> levels = demo_result().estimates.levels
    >>> levels["level"].unique().tolist()
    ['region', 'city', 'county']
    """
    from survey.datasets import display_names
    from survey.estimation.levels import area_names, city_code, county_estimates, levels_table

    settings = config.need("estimate").small_areas
    variables = list(config.need("estimate").variables)
    county = settings.county
    frame = plans[int(period[:4])].frame.data
    ta = take_all[take_all["period"] == period]
    model = None
    if take_none is not None:
        inputs = model_inputs(config, period, take_all, survey, typical)
        model = model_part(config, take_none, inputs, variables, [county]).table()
    counties = pd.concat([county_estimates(survey, ta, frame, v, county=county,
                                           size=config.register.size, model=model,
                                           cv_max=settings.cv_max, mse=settings.mse,
                                           level=config.need("estimate").level,
                                           seed=config.seed)
                          for v in variables], ignore_index=True)
    codes = pd.DataFrame({"city": frame["city"], "city_code": city_code(frame[county])})
    codes = codes.drop_duplicates("city").set_index("city")["city_code"]
    cities = by_period["city"][period].table() if "city" in by_period else None
    if cities is None:
        raise ConfigError(f"{config.path}: estimate.small_areas needs 'city' in estimate.by "
                          "(the middle level)")
    cities = cities.assign(city_code=cities["city"].map(codes).to_numpy())
    names = area_names(frame, county, shown=display_names(config.language)
                       if config.language == "zh" else None)
    sector = by_period["sector"][period].table()
    table = levels_table(sector, cities, counties, county=county, names=names,
                         region=settings.region, region_name=settings.region_name)
    return counties, table


def protect_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                 surveys: Mapping[str, Any], *, output: str | Path | None = None
                 ) -> dict[str, Any]:
    """Cell suppression of the published tables (:func:`survey.publish.disclosure.protect_table`).

    Each ``[[disclosure.tables]]`` is protected for each of its variables
    (default ``estimate.variables``) on the unit-level data of the
    published period (take-all firms with weight 1, responding sampled firms
    with their final weight), with the rules of ``[disclosure]``; so is each
    channel's table. Variables with negative values (profit and tax) cannot
    be protected by magnitude rules: they are left out and their cells
    follow the other variables' suppressions in the bulletin.

    Returns
    -------
    dict of str to survey.publish.disclosure.ProtectedTable
        Keys ``"table<i>:<variable>"`` and ``"channel_<name>:<variable>"``.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> print(demo_result().protected["table0:gross_output"])  # city x industry
    gross_output: 165 cells, 8 primary, 5 secondary suppressions; audit: all protected
    """
    from survey.publish.disclosure import protect_tables

    config = as_config(config)
    settings, language, period = config.disclosure, config.language, config.published()
    variables = list(config.need("estimate").variables)
    s = surveys[period]
    units = pd.concat([take_all[take_all["period"] == period].assign(weight=1.0),
                       s.data.assign(weight=s.weights)[s.weights > 0]], ignore_index=True)
    tables = {}
    for i, table in enumerate(settings.tables):
        rows = [table.rows] if isinstance(table.rows, str) else list(table.rows)
        cols = [] if table.columns is None else (
            [table.columns] if isinstance(table.columns, str) else list(table.columns))
        tables[f"table{i}"] = (rows, cols, list(table.variables) or variables)
    for channel in config.channels:
        if channel.flag is not None and channel.flag in units.columns:
            tables[f"channel_{channel.name}"] = ([channel.flag], [], variables)
    # the quarter's variables and their year to date (the bulletin publishes both)
    tables = {name: (rows, cols, [*names, *(f"{v}_ytd" for v in names if f"{v}_ytd" in units)])
              for name, (rows, cols, names) in tables.items()}
    data = label_missing(units, sorted({c for r, c, _ in tables.values() for c in [*r, *c]}),
                         language)
    protected = protect_tables(data, tables, group=settings.group, weights="weight",
                               rules=settings.rules(), cost=settings.cost,
                               total_label="合计" if language == "zh" else "Total")
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
    """The bulletin (:func:`survey.publish.report.build.bulletin_content`, then
    :func:`survey.publish.report.write_bulletin` into ``bulletin/``, the files of
    ``report.formats``), at the confidence level of ``estimate.level`` with the
    growth of ``estimate.growth``.

    Every run records its figures in the ledger (:meth:`~survey.returns.ledger.Ledger.record_published`,
    append-only: every period of the series, every breakdown, with the ledger state used);
    figures changed since first published are shown with the flag ``"r"``
    (:meth:`~survey.returns.ledger.Ledger.revisions`). The typical units' panel
    (``typical``) becomes the case-study section. With ``level`` and ``area`` (or
    ``report.level``, ``report.area``) the bulletin of that one federation
    (:func:`survey.publish.report.tables.area_content`) is written into
    ``bulletin/<level>_<area>/`` instead.

    Returns
    -------
    (survey.publish.report.BulletinContent, survey.publish.report.BulletinFiles)

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> [t.name for t in demo_result().content.tables]  # report_step of the demo
    ['ytd', 'sector', 'city', 'ytd_city', 'industry', 'ytd_industry', 'zone', 'ytd_zone', 'channel', 'levels']
    """
    from survey.datasets import display_names
    from survey.publish.report import write_bulletin
    from survey.publish.report.build import bulletin_content
    from survey.returns.ledger import Ledger

    config = as_config(config)
    estimate, period = config.need("estimate"), config.published()
    with Ledger.open(ledger_file, form=DEMO_FORM, engine=config.make_engine()) as ledger:  # records what is published
        cells = ledger.current(period)
        ledger.record_published(published_figures(estimates), published_period=period,
                                author=AUTHOR)
        revisions = ledger.revisions()
    cal = config.calibration
    content = bulletin_content(
        estimates, period=period, take_all=take_all, survey=surveys[period],
        title=config.report.title or config.survey.name, protected=protected,
        ledger_cells=cells, channels={c.name: c.label for c in config.channels},
        domain_names=display_names(config.language), language=config.language,
        level=estimate.level, growth=estimate.growth, stratified_by=config.strata(),
        calibration=cal.method, margins=[*cal.margins, *cal.totals],
        cv_caution=config.report.cv_caution, cv_unreliable=config.report.cv_unreliable,
        synthetic=bool(config.register.dataset), unit=config.report.unit,
        targets={d: {v: {int(y): t for y, t in by_y.items()} for v, by_y in by_v.items()}
                 for d, by_v in config.report.targets.items()} or None,
        typical=typical, revisions=revisions)
    folder = config.output_folder(output) / "bulletin"
    level = level or config.report.level
    area = area or config.report.area
    if (level is None) != (area is None):
        raise ConfigError("give the level and the area of the federation together "
                          "(--level city --area 450900)")
    if level is not None:
        from survey.publish.report.tables import area_content

        if estimates.levels is None:
            raise ConfigError(f"{config.path}: the bulletin of one federation needs "
                              "[estimate.small_areas] (the region/city/county estimates)")
        content = area_content(content, estimates.levels, level=level, area=str(area))
        folder = folder / f"{level}_{area}"
    files = write_bulletin(content, folder, formats=config.report.formats)
    return content, files
