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
from survey.returns.panel import EditOutcome, Lifecycle, edit_panel, impute_panel

__all__ = [
    "AUTHOR", "LIFECYCLE", "NONNEGATIVE", "REGISTER_SCALE", "SIMULATION", "as_config",
    "edit_step", "estimate_step", "impute_step", "ingest_step", "plan_step", "protect_step",
    "read_samples", "report_step", "returns_files", "select_step", "simulate_step", "weight_step",
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
        if folder is not None:
            plan.to_csv(folder / "plan" / str(year))
            if section.get("output_excel", True):
                plan.to_excel(folder / "plan" / str(year) / "plan.xlsx")
    return plans


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
    ['sample', 'take_all']
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
                ledger_file: str | Path, output: str | Path | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deduce, impute and derive quarters (:func:`survey.returns.panel.impute_panel`):
    take-all firms in classes of ``industry``, sampled firms in the plan's stratum
    columns, constructed values from ``register.size``.

    Writes ``panel/take_all.csv``, ``panel/sample.csv`` and
    ``edit/quarter_conflicts.csv`` when ``output`` is given.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The take-all panel and the sample panel (:class:`survey.returns.panel.PanelImputation`).

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
        result = impute_panel(ledger, config.periods(), edits.set_aside, variables=variables,
                              classes={"take_all": "industry", "sample": config.strata() or None},
                              auxiliary=config.register.size, nonnegative=NONNEGATIVE,
                              lifecycle=LIFECYCLE, stocks=DEMO_FORM.stocks, author=AUTHOR)
    take_all, sample = result.panels["take_all"], result.panels["sample"]
    if output is not None:
        folder = config.output_folder(output)
        _write(folder / "panel", {"take_all": take_all, "sample": sample})
        _write(folder / "edit", {"quarter_conflicts": result.conflicts})
    return take_all, sample


def _calibration_totals(config: SurveyConfig, plan: Any) -> dict[str, Any]:
    """Register margins of the take-some population (counts and totals from the frame)."""
    frame = plan.frame.subset(plan.frame.data["part"].to_numpy() == "sample")
    totals: dict[str, Any] = {}
    for margin in config.calibration.margins:
        counts = frame.counts(by=margin)
        totals[margin] = dict(zip(counts[margin], counts["N"].astype(float), strict=True))
    if config.calibration.totals:
        sums = frame.totals(list(config.calibration.totals), by=[])
        for column in config.calibration.totals:
            totals[column] = float(sums[column].iloc[0])
    return totals


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
        totals = _calibration_totals(config, plans[year_of(period)])
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
                  surveys: Mapping[str, Any], *, output: str | Path | None = None) -> Estimates:
    """Combined (take-all + sample) totals by domain for every period
    (:func:`survey.estimation.combined.combined_total`), the series
    (:func:`survey.quarterly.series.quarterly_series`) and the year to date.

    The year to date of the published quarter is estimated for every breakdown
    and for the take-all part alone (``Estimates.year_to_date_by``).

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
    1  export_delivery  0.025
    2       profit_tax  0.010
    """
    from survey.estimation.combined import combined_total
    from survey.periods import shift_quarter
    from survey.quarterly.series import quarterly_series

    config = as_config(config)
    estimate = config.need("estimate")
    variables, language = list(estimate.variables), config.language
    breakdowns = _breakdowns(config, take_all.columns)
    fill = [c for cols in breakdowns.values() if cols for c in cols]
    by_period: dict[str, dict[str, Any]] = {name: {} for name in breakdowns}
    last = config.published()
    ytd_by: dict[str, Any] = {}
    ytd = [f"{v}_ytd" for v in variables]
    ytd_imputed = {f"{v}_ytd": f"{v}_imputed" for v in variables}
    for period, s in surveys.items():
        ta = label_missing(take_all[take_all["period"] == period].reset_index(drop=True), fill,
                           language)
        s = s.assign(**{c: label_missing(s.data[[c]], [c], language)[c].to_numpy()
                        for c in fill if c in s.data.columns and s.data[c].isna().any()})
        for name, by in breakdowns.items():
            by_period[name][period] = combined_total(
                variables, take_all=ta, sample=s, by=by, period=period, level=estimate.level,
                imputed={v: f"{v}_imputed" for v in variables})
            if period == last:  # the year to date (January to the published quarter)
                ytd_by[name] = combined_total(ytd, take_all=ta, sample=s, by=by, period=period,
                                              level=estimate.level, imputed=ytd_imputed)
        if period == last:  # the take-all part (firms above designated size) on its own
            ytd_by["take_all"] = combined_total(ytd, take_all=ta, period=period,
                                                level=estimate.level, imputed=ytd_imputed)

    def year_to_date(period: str) -> Any:
        if period not in surveys:
            return None
        return combined_total(
            ytd, sample=surveys[period],
            take_all=take_all[take_all["period"] == period].reset_index(drop=True),
            imputed=ytd_imputed, period=period, level=estimate.level)

    result = Estimates(by_period=by_period, breakdowns=breakdowns,
                       series={name: quarterly_series(list(per.values()))
                               for name, per in by_period.items()},
                       year_to_date=ytd_by.get("sector") or year_to_date(last),
                       year_to_date_last_year=year_to_date(shift_quarter(last, -4)),
                       year_to_date_by=ytd_by)
    if output is not None:
        _write(config.output_folder(output) / "estimates",
               {**{f"series_{name}": s.table() for name, s in result.series.items()},
                "year_to_date": result.year_to_date.table()})
    return result


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
    gross_output: 165 cells, 7 primary, 7 secondary suppressions; audit: all protected
    """
    from survey.publish.disclosure import protect_table

    config = as_config(config)
    settings, language, period = config.disclosure, config.language, config.published()
    variables = list(config.need("estimate").variables)
    s = surveys[period]
    units = pd.concat([take_all[take_all["period"] == period].assign(weight=1.0),
                       s.data.assign(weight=s.weights)[s.weights > 0]], ignore_index=True)
    jobs = []
    for i, table in enumerate(settings.tables):
        rows = [table.rows] if isinstance(table.rows, str) else list(table.rows)
        cols = [] if table.columns is None else (
            [table.columns] if isinstance(table.columns, str) else list(table.columns))
        jobs.append((f"table{i}", rows, cols, list(table.variables) or variables))
    for channel in config.channels:
        if channel.flag is not None and channel.flag in units.columns:
            jobs.append((f"channel_{channel.name}", [channel.flag], [], variables))
    protected = {}
    for name, rows, cols, names in jobs:
        data = label_missing(units, [*rows, *cols], language)
        data = data.assign(**{c: data[c].astype(str) for c in rows + cols
                              if c in data.columns and pd.api.types.is_bool_dtype(data[c])})
        # the quarter's variables and their year to date (the bulletin publishes both)
        for v in [*names, *(f"{n}_ytd" for n in names if f"{n}_ytd" in data.columns)]:
            if (data[v].to_numpy(dtype=float) < 0).any():
                continue  # magnitude rules need non-negative values
            protected[f"{name}:{v}"] = protect_table(
                data, v, rows=rows, columns=cols or None, group=settings.group, weights="weight",
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
                output: str | Path | None = None) -> tuple[Any, Any]:
    """The bulletin (:func:`survey.publish.report.build.bulletin_content`, then
    :func:`survey.publish.report.write_bulletin` into ``bulletin/``, the files of
    ``report.formats``), at the confidence level of ``estimate.level`` with the
    growth of ``estimate.growth``.

    Returns
    -------
    (survey.publish.report.BulletinContent, survey.publish.report.BulletinFiles)

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> [t.name for t in demo_result().content.tables]  # report_step of the demo
    ['ytd', 'sector', 'city', 'ytd_city', 'industry', 'ytd_industry', 'zone', 'ytd_zone', 'channel']
    """
    from survey.datasets import display_names
    from survey.publish.report import write_bulletin
    from survey.publish.report.build import bulletin_content
    from survey.returns.ledger import Ledger

    config = as_config(config)
    estimate, period = config.need("estimate"), config.published()
    with Ledger.open(ledger_file, form=DEMO_FORM, read_only=True, engine=config.make_engine()) as ledger:
        cells = ledger.current(period)
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
                 for d, by_v in config.report.targets.items()} or None)
    files = write_bulletin(content, config.output_folder(output) / "bulletin",
                           formats=config.report.formats)
    return content, files
