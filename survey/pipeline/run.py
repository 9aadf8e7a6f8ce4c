"""The quarterly cycle from one configuration file: plan, select, returns, ledger, bulletin.

:func:`run_cycle` runs every step of a quarter's production on the survey
described by a TOML configuration (``examples/demo.toml`` on the bundled
synthetic data; keys in ``docs/configuration.md``). Each step is its own
function, so the command line can run it alone, and each step only calls the
library; nothing here computes a statistic:

=========  ==========================================================  =====================================
step       what it does                                                library
=========  ==========================================================  =====================================
plan       take-all / take-some parts, size classes, allocation to     :func:`survey.plan.plan_from_config`
           the CV targets; one plan per year of the series
select     the sample by permanent random numbers, weights and fpc     :meth:`survey.plan.SamplePlan.select`
simulate   the returns firms would send (year to date and the same     :func:`survey.datasets.simulate_returns`
           period last year; nonresponse; reporting errors)
ingest     each period's file into the DuckDB ledger (channel bureau)  :class:`survey.returns.ledger.Ledger`
edit       unit errors corrected as ledger revisions; edit rules;      :mod:`survey.returns.edit`
           values failing a hard rule are set aside for imputation
impute     missing take-all returns, item nonresponse, set-aside       :func:`survey.returns.impute.ratio_of_means`
           values (markers kept, written to the ledger)
weight     nonresponse adjustment within strata, calibration to the    :meth:`survey.Survey.adjust_nonresponse`,
           register margins                                            :meth:`survey.Survey.calibrate`
estimate   take-all + sample totals by domain, growth on a             :func:`survey.estimation.combined.combined_total`,
           comparable basis, the quarterly series                      :func:`survey.quarterly.series.quarterly_series`
protect    primary and secondary cell suppression of the published     :func:`survey.publish.disclosure.protect_table`
           tables
report     the bulletin: HTML, Excel, CSV                              :func:`survey.publish.report.write_bulletin`
=========  ==========================================================  =====================================

The series covers the years of ``estimate.periods``; each year has its own
plan from that year's register with the same settings and the same
permanent random numbers (so the samples of consecutive years overlap, as in
a real annual rotation).

Command-line entry points (each returns an exit code and prints a one-line
summary): :func:`main_demo`, :func:`command_plan`, :func:`command_select`,
:func:`command_simulate`, :func:`command_ingest`, :func:`command_estimate`,
:func:`command_report`.
"""

from __future__ import annotations

import functools
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from survey.errors import ConfigError, SurveyWarning
from survey.pipeline.config import SurveyConfig, load_config

__all__ = [
    "DEMO_CONFIG",
    "CycleResult",
    "EditOutcome",
    "Estimates",
    "command_estimate",
    "command_ingest",
    "command_plan",
    "command_report",
    "command_select",
    "command_simulate",
    "edit_step",
    "estimate_step",
    "impute_step",
    "ingest_step",
    "main_demo",
    "plan_step",
    "protect_step",
    "read_samples",
    "report_step",
    "run_cycle",
    "select_step",
    "simulate_step",
    "weight_step",
]

#: The demo configuration (bundled synthetic data).
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"

#: Who the cycle records as the author of ledger writes.
AUTHOR = "survey cycle"
#: Settings of the simulated returns of the demo (how firms behave).
SIMULATION = {"unit_nonresponse": 0.10, "item_nonresponse": 0.02, "error_rate": 0.02}
#: Label of firms outside every special zone (or with another missing breakdown value).
NOT_CLASSIFIED = {"zh": "(非园区)", "en": "(none)"}
#: Money is published in 亿元 (100 million yuan); the data are in thousand yuan.
DISPLAY = {"zh": ("亿元", 1e5), "en": ("100 million yuan", 1e5)}
_IMPUTED = ("forward_imputed", "backward_imputed", "constructed")
_RETURNED = ("returned", "edited")
#: Register column and values of a firm's life in the register year: born this year (no
#: figures last year) and closed during the year (no figures after its closure).
STATUS = {"column": "status", "born": "new", "closed": "dead"}
#: Indicators that cannot be negative, so neither can their quarter values (profit and tax can).
_NONNEGATIVE = ("gross_output", "export_delivery", "sales_output", "revenue")

_TEXT = {
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
    },
}
_MONTHS = ("March", "June", "September", "December")


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class _Progress:
    """Rich progress bar when ``rich`` is importable, else one plain line per step."""

    def __init__(self, enabled: bool, steps: int) -> None:
        self.enabled = enabled
        self._rich = None
        self._task = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:  # pragma: no cover - rich is optional
                Progress = None
            if Progress is not None:
                self._console = Console()
                self._rich = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      TextColumn("{task.completed}/{task.total}"),
                                      TimeElapsedColumn(), console=self._console, transient=True)
                self._task = self._rich.add_task("survey cycle", total=steps)

    def __enter__(self) -> Self:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        """Run one step; the body puts its one-line summary into the yielded dict."""
        if self._rich is not None:
            self._rich.update(self._task, description=name)
        start = time.perf_counter()
        out: dict[str, str] = {}
        yield out
        seconds = time.perf_counter() - start
        line = f"{name:<9} {out.get('summary', 'done')} ({seconds:.1f} s)"
        out["seconds"] = f"{seconds:.3f}"
        if self._rich is not None:
            self._rich.advance(self._task)
            self._console.print(line, highlight=False, soft_wrap=True)
        elif self.enabled:
            print(line, flush=True)


# ---------------------------------------------------------------------------
# configuration helpers
# ---------------------------------------------------------------------------
def _config(config: SurveyConfig | str | Path) -> SurveyConfig:
    return config if isinstance(config, SurveyConfig) else load_config(config)


def _need(config: SurveyConfig, section: str) -> Any:
    value = getattr(config, section)
    if value is None:
        raise ConfigError(f"{config.path}: section [{section}] is missing; the cycle needs it "
                          f"(see examples/demo.toml)")
    return value


def _periods(config: SurveyConfig) -> list[str]:
    """Quarters of the series, in time order (default: the published period alone)."""
    from survey.periods import parse_quarter

    estimate = _need(config, "estimate")
    periods = list(estimate.periods) or ([config.survey.period] if config.survey.period else [])
    if not periods:
        raise ConfigError(f"{config.path}: give estimate.periods or survey.period (the quarters "
                          "to estimate)")
    periods = sorted(set(periods), key=parse_quarter)
    published = config.survey.period or periods[-1]
    if published not in periods:
        raise ConfigError(f"{config.path}: survey.period {published!r} is not among "
                          f"estimate.periods {periods}; add it")
    return periods


def _published(config: SurveyConfig) -> str:
    return config.survey.period or _periods(config)[-1]


def _years(config: SurveyConfig) -> list[int]:
    return sorted({int(p[:4]) for p in _periods(config)})


def _output(config: SurveyConfig, output: str | Path | None) -> Path:
    folder = Path(output).expanduser().resolve() if output is not None else config.output
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ledger_file(config: SurveyConfig, output: Path) -> Path:
    """The ledger: ``ledger.file`` of the config, moved into ``output`` when the output
    folder is not the configured one (so a demo run into a new folder starts a new ledger)."""
    if output == config.output:
        return config.ledger_file
    return output / config.ledger_file.name


def _strata_columns(config: SurveyConfig) -> list[str]:
    plan = _need(config, "plan")
    strata = plan.strata
    return [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))


def _by_columns(columns: Sequence[str], name: str) -> list[str]:
    """A breakdown and, when the register has it, its ``{name}_name`` label column."""
    return [name, f"{name}_name"] if f"{name}_name" in columns else [name]


def _fill_breakdowns(frame: pd.DataFrame, columns: Sequence[str], language: str) -> pd.DataFrame:
    """Missing breakdown values (a firm in no special zone) get an explicit label."""
    fills = {c: NOT_CLASSIFIED[language] for c in columns
             if c in frame.columns and frame[c].isna().any()}
    return frame.fillna(fills) if fills else frame


# ---------------------------------------------------------------------------
# 1. plan
# ---------------------------------------------------------------------------
def plan_step(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
              write: bool = True) -> dict[int, Any]:
    """Build the sample plan of every year of the series and write it.

    Parameters
    ----------
    config : SurveyConfig, str or pathlib.Path
        The configuration (or its TOML file).
    output : str, pathlib.Path or None, default=None
        Output folder (default: ``survey.output`` of the config); the plans go
        to ``plan/<year>/`` (``plan_strata.csv`` is the allocation table).
    write : bool, default=True
        Write the plan files.

    Returns
    -------
    dict of int to survey.plan.SamplePlan

    Examples
    --------
    >>> import tempfile
    >>> plans = plan_step(DEMO_CONFIG, output=tempfile.mkdtemp(), write=False)
    >>> sorted(plans), plans[2006].n > 500
    ([2005, 2006], True)
    """
    from survey.plan import plan_from_config

    config = _config(config)
    _need(config, "plan")
    folder = _output(config, output) if write else None
    plans = {}
    for year in _years(config):
        section = dict(config.section("plan"))
        section["year"] = year
        plan = plan_from_config(section, base=config.folder)
        if folder is not None:
            plan.to_csv(folder / "plan" / str(year))
            if section.get("output_excel", True):
                plan.to_excel(folder / "plan" / str(year) / "plan.xlsx")
        plans[year] = plan
    return plans


# ---------------------------------------------------------------------------
# 2. select
# ---------------------------------------------------------------------------
def select_step(config: SurveyConfig | str | Path, plans: Mapping[int, Any], *,
                output: str | Path | None = None, write: bool = True) -> dict[int, pd.DataFrame]:
    """Select each year's sample (every take-all firm plus the take-some sample).

    Uses ``[plan.select]`` (method, rotation, period, start) and the survey's
    seed. Writes ``sample/<year>/sample.csv`` (and ``sample.xlsx`` unless
    ``plan.output_excel = false``) and ``sample_metadata.json``.

    Returns
    -------
    dict of int to pandas.DataFrame
        Per year the selected firms: register columns plus ``part``
        (``"take_all"`` or ``"sample"``), ``stratum``, ``prn``,
        ``inclusion_probability``, ``design_weight``, ``N_h``, ``n_h``.

    Examples
    --------
    >>> import tempfile
    >>> config = load_config(DEMO_CONFIG)
    >>> plans = plan_step(config, write=False)
    >>> samples = select_step(config, plans, write=False)
    >>> sorted(samples[2006]["part"].unique())
    ['sample', 'take_all']
    """
    from survey.plan import write_sample

    config = _config(config)
    options = dict(config.section("plan").get("select", {}))
    excel = bool(config.section("plan").get("output_excel", True))
    folder = _output(config, output) if write else None
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
    """Read the samples written by :func:`select_step` (for the separate commands).

    Examples
    --------
    >>> import tempfile
    >>> read_samples(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no sample for 2005 in .../sample/2005/sample.csv; run `survey select` first
    """
    config = _config(config)
    folder = _output(config, output)
    samples = {}
    for year in _years(config):
        path = folder / "sample" / str(year) / "sample.csv"
        if not path.is_file():
            raise ConfigError(f"no sample for {year} in {path}; run `survey select` first")
        text = {c: "str" for c in ("firm_id", "industry", "county_code", "stratum", "part")}
        samples[year] = pd.read_csv(path, dtype=text)
    return samples


# ---------------------------------------------------------------------------
# 3. simulate the returns
# ---------------------------------------------------------------------------
def simulate_step(config: SurveyConfig | str | Path, samples: Mapping[int, pd.DataFrame], *,
                  output: str | Path | None = None) -> tuple[dict[str, Path], pd.DataFrame]:
    """Write the returns the selected firms would send, one CSV per period.

    Only the bundled synthetic data have a truth to simulate from
    (``register.dataset = "register"``). Each file holds the firms that
    responded: ``firm_id, period`` and ``{indicator}_ytd``,
    ``{indicator}_ytd_last_year`` (year to date and the same months of last
    year, thousand yuan); missing items are empty and some values carry
    injected reporting errors (listed in ``returns/injected_errors.csv``).

    Returns
    -------
    (dict of str to pathlib.Path, pandas.DataFrame)
        The file of each period, and the injected errors.

    Examples
    --------
    >>> import tempfile
    >>> config = load_config(DEMO_CONFIG)
    >>> samples = select_step(config, plan_step(config, write=False), write=False)
    >>> files, injected = simulate_step(config, samples, output=tempfile.mkdtemp())
    >>> sorted(files)[-1], sorted(injected["error_type"].unique())[0]
    ('2006Q4', 'cumulative_decrease')
    """
    from survey.datasets import simulate_returns

    config = _config(config)
    if config.register.dataset != "register":
        raise ConfigError("simulated returns need the bundled register (register.dataset = "
                          "'register'); ingest your firms' own files instead")
    folder = _output(config, output) / "returns"
    folder.mkdir(parents=True, exist_ok=True)
    files, injected = {}, []
    for period in _periods(config):
        firms = samples[int(period[:4])]["firm_id"]
        sim = simulate_returns(firms, period, seed=config.seed, **SIMULATION)
        sent = sim.returns[sim.returns["responded"].to_numpy()]
        sent = sent.drop(columns=["responded", "operating"])
        path = folder / f"returns_{period}.csv"
        sent.to_csv(path, index=False)
        files[period] = path
        injected.append(sim.injected)
    errors = pd.concat(injected, ignore_index=True)
    errors.to_csv(folder / "injected_errors.csv", index=False)
    return files, errors


def _returns_files(config: SurveyConfig, output: Path) -> dict[str, Path]:
    files = {}
    for period in _periods(config):
        path = output / "returns" / f"returns_{period}.csv"
        if path.is_file():
            files[period] = path
    return files


# ---------------------------------------------------------------------------
# 4. ingest
# ---------------------------------------------------------------------------
def ingest_step(config: SurveyConfig | str | Path, samples: Mapping[int, pd.DataFrame],
                files: Mapping[str, str | Path], *, ledger_file: str | Path,
                channel: str = "bureau") -> list[Any]:
    """Store each period's register snapshot (the selected firms) and load its file.

    Loading is idempotent: a file already loaded (same content) changes
    nothing, so the cycle can be run again on the same ledger.

    Parameters
    ----------
    config : SurveyConfig, str or pathlib.Path
    samples : mapping of int to pandas.DataFrame
        The selected firms per year (:func:`select_step`).
    files : mapping of str to path
        The returns file of each period.
    ledger_file : str or pathlib.Path
        The DuckDB ledger (created when needed).
    channel : str, default="bureau"

    Returns
    -------
    list of survey.returns.ledger.IngestReport

    Examples
    --------
    >>> import tempfile, pathlib
    >>> config = load_config(DEMO_CONFIG)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> samples = select_step(config, plan_step(config, write=False), write=False)
    >>> files, _ = simulate_step(config, samples, output=out)
    >>> reports = ingest_step(config, samples, files, ledger_file=out / "ledger.duckdb")
    >>> sorted({r.status for r in reports})
    ['loaded']
    """
    from survey.returns.ledger import Ledger

    config = _config(config)
    reports = []
    with Ledger.open(ledger_file) as ledger:
        for period in _periods(config):
            if period not in files:
                continue
            units = samples[int(period[:4])].drop(columns=["year"], errors="ignore")
            ledger.register_units(units, period, by=AUTHOR,
                                  reason=f"sample of {period[:4]} (survey select)")
            reports.append(ledger.ingest(files[period], period, channel, by=AUTHOR))
    return reports


# ---------------------------------------------------------------------------
# 5. edit
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class EditOutcome:
    """What the edit step found and did.

    Attributes
    ----------
    unit_errors : pandas.DataFrame
        Values corrected as unit errors (``period`` plus the columns of
        :class:`survey.returns.edit.UnitErrors` ``flags``); each one is a ledger
        revision with marker ``edited``.
    failures : pandas.DataFrame
        The failure table of the edit rules after the corrections
        (``period`` plus the columns of :class:`survey.returns.edit.EditReport`);
        ``{var}_ytd_previous`` is the latest accepted earlier value of the
        year.
    set_aside : pandas.DataFrame
        ``firm_id, period, item, rule``: values failing a hard rule (the
        rule's first item; for a falling year-to-date value, the value of
        the pair judged wrong), left out and imputed.
    conflicts : pandas.DataFrame
        The falling year-to-date pairs and how each was decided
        (:func:`survey.returns.edit.cumulative_conflicts`).
    revisions : list of survey.returns.ledger.RevisionReport
    """

    unit_errors: pd.DataFrame
    failures: pd.DataFrame
    set_aside: pd.DataFrame
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    revisions: list = field(default_factory=list)


def _rules(config: SurveyConfig, indicators: Sequence[str]) -> list[Any]:
    from survey.returns.edit import Rule, default_rules

    rules = list(default_rules(tuple(indicators), growth_bounds=tuple(config.edit.growth_bounds))) \
        if config.edit.default_rules else []
    rules += [Rule(name=r.name, expression=r.expression, severity=r.severity,
                   description=r.description) for r in config.edit.rules]
    return rules


def _frame(ledger: Any, period: str) -> pd.DataFrame:
    """The ledger's wide frame of a period (its warnings are reported by the edit rules)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SurveyWarning)
        return ledger.to_frame(period)


def _returned_frame(ledger: Any, period: str, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ledger's wide frame of a period as returned (and edited): values the impute step
    wrote earlier are no returns, so they are missing again (``{var}_marker`` "missing"),
    and ``{var}_ytd_previous`` and the quarter values are derived from the returned values
    only. Editing and imputing a ledger a second time (``survey estimate`` then ``survey
    report``) therefore starts from the same frame as the first time."""
    from survey.returns.ledger import STOCKS, previous_quarter, ytd_to_quarters

    if period in cache:
        return cache[period]
    frame = _frame(ledger, period)
    if frame.empty:
        cache[period] = frame
        return frame
    cells = ledger.current(period)
    cells = cells[cells["marker"].isin(_IMPUTED).to_numpy()]
    indicators = [c.removesuffix("_marker") for c in frame.columns
                  if c.endswith("_marker") and f"{c.removesuffix('_marker')}_ytd" in frame.columns]
    if len(cells):
        firm = frame["firm_id"].astype("str")
        out = frame.copy()
        for item, rows in cells.groupby("item", sort=False):
            if item not in out.columns:
                continue
            hit = firm.isin(rows["firm_id"].astype("str")).to_numpy()
            out[item] = out[item].mask(hit)
            var = item.removesuffix("_ytd")
            if item.endswith("_ytd") and var in indicators:
                out[f"{var}_marker"] = out[f"{var}_marker"].mask(hit, "missing")
        frame = out
    previous = previous_quarter(period)
    prev = _returned_frame(ledger, previous, cache) if previous is not None else None
    if prev is not None and prev.empty:
        prev = None
    frame = ytd_to_quarters(frame, prev, variables=indicators,
                            stocks=[s for s in STOCKS if s in indicators]).frame
    for var in indicators:
        if prev is not None:
            lookup = prev.set_index("firm_id")[f"{var}_ytd"]
            frame[f"{var}_ytd_previous"] = lookup.reindex(frame["firm_id"].to_numpy()).to_numpy()
        else:
            frame[f"{var}_ytd_previous"] = np.nan
    cache[period] = frame
    return frame


def _deduced(data: pd.DataFrame, variables: Sequence[str], periods: Sequence[str]) -> pd.DataFrame:
    """Values known without a return (deductive edits, marker ``edited``, not imputed).

    * A firm born in the register year (``status`` "new") had nothing last year: its
      missing ``{var}_ytd_last_year`` values are 0.
    * A firm closed during the year (``status`` "dead") has no figures after its closure:
      once a returned (or edited) year-to-date gross output shows a zero quarter (equal to
      the returned value of the quarter before, or 0 in a first quarter), its missing
      year-to-date values of later quarters stay at the latest accepted value (quarter
      values 0). Before the closure is seen, its values are imputed like any other.

    Stocks (``employees``) are left alone. Without a ``status`` column nothing changes.
    """
    from survey.returns.ledger import STOCKS, previous_quarter

    column = STATUS["column"]
    if column not in data.columns or data.empty:
        return data
    out = data.sort_values(["firm_id", "period"])  # back in the given order at the end
    status = out[column].astype("str").to_numpy()
    born, closed = status == STATUS["born"], status == STATUS["closed"]
    flows = [v for v in variables if v not in STOCKS]
    for v in flows:
        item, marker = f"{v}_ytd_last_year", f"{v}_ytd_last_year_marker"
        if item not in out.columns:
            continue
        values = out[item].to_numpy(dtype=float, na_value=np.nan)
        had = (out[marker].to_numpy(dtype=object) if marker in out.columns
               else np.where(np.isfinite(values), "returned", "missing"))
        fill = born & ~np.isfinite(values)
        out[item] = np.where(fill, 0.0, values)
        out[marker] = pd.array(np.where(fill, "edited", had), dtype="str")
    if "gross_output_ytd" not in out.columns or not closed.any():
        return out.sort_index()
    firm = out["firm_id"].astype("str").to_numpy()
    accepted = {v: np.where(out[f"{v}_marker"].isin(_RETURNED).to_numpy(),
                            out[f"{v}_ytd"].to_numpy(dtype=float, na_value=np.nan), np.nan)
                for v in flows if f"{v}_ytd" in out.columns and f"{v}_marker" in out.columns}
    keys = pd.MultiIndex.from_arrays([firm, out["period"].astype("str")])
    before = out["period"].map({p: previous_quarter(p) for p in periods})
    inside = before.isin(list(periods)).to_numpy()
    prior = pd.MultiIndex.from_arrays([firm, before.astype("str")])
    gross = accepted["gross_output"]
    previous = pd.Series(gross, index=keys).reindex(prior).to_numpy()
    first = before.isna().to_numpy()
    zero = (first & (gross == 0)) | (inside & np.isfinite(previous) & (gross == previous))
    seen = pd.Series(closed & zero).groupby(firm, sort=False).cummax().to_numpy(dtype=bool)
    for v, values in accepted.items():
        last = pd.Series(values).groupby(firm, sort=False).ffill().to_numpy(dtype=float)
        fill = seen & ~np.isfinite(values) & np.isfinite(last)
        if fill.any():
            out[f"{v}_ytd"] = np.where(fill, last, out[f"{v}_ytd"].to_numpy(dtype=float,
                                                                            na_value=np.nan))
            out[f"{v}_marker"] = pd.array(np.where(fill, "edited",
                                                   out[f"{v}_marker"].to_numpy(dtype=object)),
                                          dtype="str")
    return out.sort_index()


def _previous_from_panel(panel: pd.DataFrame, periods: Sequence[str]) -> pd.DataFrame:
    """``{var}_ytd_previous``: the returned (or edited) value of the previous quarter in
    the panel itself (NaN when it was imputed or set aside), for the rows whose previous
    quarter is in the panel; the same whether the ledger was imputed before or not."""
    from survey.returns.ledger import previous_quarter

    before = panel["period"].map({p: previous_quarter(p) for p in periods})
    inside = before.isin(list(periods)).to_numpy()
    firm = panel["firm_id"].astype("str")
    keys = pd.MultiIndex.from_arrays([firm, panel["period"].astype("str")])
    prior = pd.MultiIndex.from_arrays([firm, before.astype("str")])
    out = panel.copy()
    for column in [c for c in panel.columns if c.endswith("_ytd_previous")]:
        item = column.removesuffix("_previous")
        if item not in panel.columns:
            continue
        values = panel[item].to_numpy(dtype=float, na_value=np.nan)
        var = item.removesuffix("_ytd")
        if f"{var}_marker" in panel.columns:
            values = np.where(panel[f"{var}_marker"].isin(_RETURNED).to_numpy(), values, np.nan)
        lookup = pd.Series(values, index=keys)
        values = lookup.reindex(prior).to_numpy()
        out[column] = np.where(inside, values, panel[column].to_numpy(dtype=float, na_value=np.nan))
    return out


def _latest_accepted(panel: pd.DataFrame, item: str, aside: pd.DataFrame) -> np.ndarray:
    """Per row of a one-year panel sorted by firm and period: the latest value of ``item``
    in an earlier quarter of the same firm that was not set aside (NaN if none)."""
    values = panel[item].to_numpy(dtype=float, na_value=np.nan)
    if len(aside):
        rows = aside[aside["item"] == item]
        hit = pd.MultiIndex.from_frame(panel[["firm_id", "period"]].astype("str")).isin(
            pd.MultiIndex.from_frame(rows[["firm_id", "period"]].astype("str")))
        values = np.where(hit, np.nan, values)
    firm = panel["firm_id"].to_numpy()
    series = pd.Series(values)
    filled = series.groupby(firm, sort=False).ffill()
    return filled.groupby(firm, sort=False).shift(1).to_numpy(dtype=float, na_value=np.nan)


def _mask(panel: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The panel with the values of ``cells`` (``firm_id, period, item``) missing."""
    if not len(cells):
        return panel
    keys = pd.MultiIndex.from_frame(panel[["firm_id", "period"]].astype("str"))
    out = panel.copy()
    for item, rows in cells.groupby("item"):
        if item in out.columns:
            hit = keys.isin(pd.MultiIndex.from_frame(rows[["firm_id", "period"]].astype("str")))
            out[item] = out[item].mask(hit)
    return out


def edit_step(config: SurveyConfig | str | Path, *, ledger_file: str | Path,
              output: str | Path | None = None) -> EditOutcome:
    """Correct unit errors as ledger revisions and check the edit rules, a year at a time.

    The returns of each year's quarters are edited together (as a bureau
    re-edits the year to date when a new quarter arrives; only returned or
    corrected values are edited, earlier imputations are redone):

    1. unit errors: values about 1000 times too large (reported in yuan)
       are found with :func:`survey.returns.edit.detect_unit_errors` on the year's
       panel (references: last year, the firm's other quarters, register
       size, employees), divided by 1000 and recorded as revisions (who:
       ``survey cycle``; why: the references that showed the error);
    2. the default rules (if ``edit.default_rules``) and the config's
       ``[[edit.rules]]``; a value failing a *hard* rule (the rule's first
       item, e.g. ``export_delivery_ytd`` in ``export_delivery_ytd <=
       gross_output_ytd``) is set aside;
    3. cumulative values: a year-to-date value is compared with the latest
       accepted value of an earlier quarter (not only the previous quarter's
       return), and of a falling pair the value that leaves the firm's path
       is set aside (:func:`survey.returns.edit.cumulative_conflicts`), which may
       be the earlier one.

    Set-aside values are replaced by the impute step, which records why. The
    failure table is written to ``edit/failures.csv``, the decided pairs to
    ``edit/conflicts.csv``.

    Returns
    -------
    EditOutcome

    Examples
    --------
    >>> import tempfile, pathlib
    >>> config = load_config(DEMO_CONFIG)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> samples = select_step(config, plan_step(config, write=False), write=False)
    >>> files, injected = simulate_step(config, samples, output=out)
    >>> _ = ingest_step(config, samples, files, ledger_file=out / "ledger.duckdb")
    >>> outcome = edit_step(config, ledger_file=out / "ledger.duckdb", output=out)
    >>> len(outcome.unit_errors) > 0, set(outcome.failures["severity"]) <= {"hard", "soft"}
    (True, True)
    """
    from survey.returns.edit import check, cumulative_conflicts, detect_unit_errors
    from survey.returns.ledger import INDICATORS, Ledger

    config = _config(config)
    rules = _rules(config, INDICATORS)
    hard = {r.name: r.variables[0] for r in rules if r.severity == "hard"}
    # the hard "ytd not below the previous quarter" rules are decided pair by pair
    cumulative = [v for v in INDICATORS if v in _NONNEGATIVE and any(
        r.severity == "hard" and set(r.variables) == {f"{v}_ytd", f"{v}_ytd_previous"} for r in rules)]
    plain = [r for r in rules if not any(x.endswith("_previous") for x in r.variables)]
    previous_rules = [r for r in rules if r not in plain]
    unit_errors, failures, set_aside, conflicts, revisions = [], [], [], [], []
    empty = pd.DataFrame(columns=["firm_id", "period", "item", "rule"])
    with Ledger.open(ledger_file) as ledger:
        for year in _years(config):
            periods = [p for p in _periods(config) if int(p[:4]) == year]
            cache: dict[str, pd.DataFrame] = {}
            frames = [f for f in (_returned_frame(ledger, p, cache) for p in periods)
                      if not f.empty]
            if not frames:
                continue
            panel = pd.concat(frames, ignore_index=True).sort_values(
                ["firm_id", "period"], ignore_index=True)
            for var in INDICATORS:  # earlier imputations are no returns
                if f"{var}_ytd" in panel.columns and f"{var}_marker" in panel.columns:
                    returned = panel[f"{var}_marker"].isin(_RETURNED).to_numpy()
                    panel[f"{var}_ytd"] = panel[f"{var}_ytd"].where(returned)
            register = config.register.size if config.register.size in panel.columns else None
            found = detect_unit_errors(panel, register=register)
            if len(found.flags):
                for period, flags in found.flags.groupby("period", sort=True):
                    fix = flags.pivot_table(index="firm_id", columns="column", values="corrected",
                                            aggfunc="first").reset_index()
                    fix.columns.name = None
                    revisions.append(ledger.revise(
                        fix, str(period), by=AUTHOR, marker="edited",
                        reason=f"unit error: reported in yuan, divided by {found.factor:g} "
                               "(survey.returns.edit.detect_unit_errors: median ratio to last year, the "
                               "firm's other quarters, register size and employees)"))
                unit_errors.append(found.flags)
            corrected = found.corrected
            # hard rules and falling pairs decide each other: a gross output that fell is
            # no reason to blame export delivery for exceeding it, and a value failing a
            # hard rule is no reference for the pairs; two rounds reach the fixed point
            pairs = cumulative_conflicts(corrected.iloc[:0], cumulative)
            for _ in range(2):
                masked = _mask(corrected, pairs)
                aside = []
                reports = {}
                for period, rows in masked.groupby("period", sort=True):
                    report = check(rows, plain, skip_missing_columns=True)
                    reports[str(period)] = report
                    bad = report.failures[report.failures["severity"] == "hard"]
                    aside.append(pd.DataFrame({
                        "firm_id": bad["firm_id"].to_numpy(), "period": str(period),
                        "item": bad["rule"].map(hard).to_numpy(), "rule": bad["rule"].to_numpy()}))
                first = pd.concat([empty, *aside], ignore_index=True)
                pairs = cumulative_conflicts(corrected, cumulative, exclude=first)
            failures.extend(r.failures.assign(period=p) for p, r in reports.items())
            conflicts.append(pairs)
            decided = pd.concat([first, pairs[["firm_id", "period", "item", "rule"]]],
                                ignore_index=True)
            # the rules on earlier quarters see the latest accepted earlier value
            latest = corrected.copy()
            for var in INDICATORS:
                if f"{var}_ytd" in latest.columns:
                    latest[f"{var}_ytd_previous"] = _latest_accepted(latest, f"{var}_ytd", first)
            for period, rows in latest.groupby("period", sort=True):
                report = check(rows, previous_rules, skip_missing_columns=True)
                failures.append(report.failures.assign(period=str(period)))
                bad = report.failures[(report.failures["severity"] == "hard")
                                      & ~report.failures["rule"].isin([f"{v}_cumulative"
                                                                       for v in cumulative])]
                decided = pd.concat([decided, pd.DataFrame({
                    "firm_id": bad["firm_id"].to_numpy(), "period": str(period),
                    "item": bad["rule"].map(hard).to_numpy(), "rule": bad["rule"].to_numpy()})],
                    ignore_index=True)
            set_aside.append(decided)

    def stack(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

    outcome = EditOutcome(
        unit_errors=stack(unit_errors, ["firm_id", "period", "column", "value", "reference",
                                        "reference_column", "ratio", "corrected"]),
        failures=stack(failures, ["firm_id", "rule", "severity", "expression", "values", "period"]),
        set_aside=stack(set_aside, ["firm_id", "period", "item", "rule"]).drop_duplicates(
            ["firm_id", "period", "item"]).reset_index(drop=True),
        conflicts=stack(conflicts, ["firm_id", "period", "item", "rule", "value", "marker",
                                    "against_period", "against_value", "score", "against_score"]),
        revisions=revisions,
    )
    if output is not None:
        folder = _output(config, output) / "edit"
        folder.mkdir(parents=True, exist_ok=True)
        outcome.failures.to_csv(folder / "failures.csv", index=False)
        outcome.unit_errors.to_csv(folder / "unit_errors.csv", index=False)
        outcome.set_aside.to_csv(folder / "set_aside.csv", index=False)
        outcome.conflicts.to_csv(folder / "conflicts.csv", index=False)
    return outcome


# ---------------------------------------------------------------------------
# 6. impute
# ---------------------------------------------------------------------------
def _impute(ratio_of_means: Any, data: pd.DataFrame, item: str, *, by: Any, auxiliary: str,
            marker: str, cumulative: bool = False) -> pd.DataFrame:
    """Ratio-of-means imputation in the given classes; where a class has no link (no
    returned units, or all zero), the classes are merged (the whole part), as the
    library's error advises."""
    from survey.errors import ImputationError

    try:
        return ratio_of_means(data, item, by=by, auxiliary=auxiliary, marker=marker,
                              cumulative=cumulative).data
    except ImputationError:
        if by is None:
            raise
        return ratio_of_means(data, item, by=None, auxiliary=auxiliary, marker=marker,
                              cumulative=cumulative).data


def _falling(data: pd.DataFrame, var: str, item: str, marker: str) -> pd.DataFrame:
    """The falling year-to-date pairs of ``item`` (a ``{var}_ytd`` or last-year column)."""
    from survey.returns.edit import cumulative_conflicts

    view = pd.DataFrame({"firm_id": data["firm_id"].to_numpy(), "period": data["period"].to_numpy(),
                         f"{var}_ytd": data[item].to_numpy(dtype=float, na_value=np.nan),
                         f"{var}_marker": data[marker].to_numpy(dtype=object)})
    if item == f"{var}_ytd" and f"{var}_ytd_last_year" in data.columns:
        view[f"{var}_ytd_last_year"] = data[f"{var}_ytd_last_year"].to_numpy(dtype=float,
                                                                             na_value=np.nan)
    pairs = cumulative_conflicts(view, var)
    return pairs.assign(item=item, rule=f"{var}_quarter_nonnegative")


def _impute_cumulative(ratio_of_means: Any, data: pd.DataFrame, var: str, item: str, *, by: Any,
                       auxiliary: str, marker: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Impute a year-to-date item so that no quarter value is negative.

    First pass: plain ratio-of-means imputation; a returned value that falls below
    the value before it (returned or imputed) or above the one after it is judged
    against the firm's path (:func:`survey.returns.edit.cumulative_conflicts`). Returned
    values judged wrong are set aside; imputed ones are redone. Second pass:
    imputation with the cumulative bounds (``ratio_of_means(cumulative=True)``).
    Returns the imputed frame and the pairs decided."""
    from survey.errors import ImputationError

    first = _impute(ratio_of_means, data, item, by=by, auxiliary=auxiliary, marker=marker)
    pairs = _falling(first, var, item, marker)
    wrong = pairs[pairs["marker"].isin(_RETURNED).to_numpy()]
    spoiled = data
    if len(wrong):
        keys = pd.MultiIndex.from_frame(data[["firm_id", "period"]].astype("str"))
        hit = keys.isin(pd.MultiIndex.from_frame(wrong[["firm_id", "period"]].astype("str")))
        spoiled = data.assign(**{item: data[item].mask(hit)})
        if marker in spoiled.columns:
            spoiled[marker] = spoiled[marker].mask(hit, "missing")
    result = _impute(ratio_of_means, spoiled, item, by=by, auxiliary=auxiliary, marker=marker,
                     cumulative=True)
    left = _falling(result, var, item, marker)
    if len(left):  # pragma: no cover - the bounds make this impossible
        row = left.iloc[0]
        raise ImputationError(
            f"{item} of {row['firm_id']} falls in {row['period']} after imputation "
            f"({row['value']:g} after {row['against_value']:g}); check its returns")
    return result, pairs


def impute_step(config: SurveyConfig | str | Path, edits: EditOutcome, *,
                ledger_file: str | Path, output: str | Path | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Impute missing values by ratio of means, record them in the ledger, make quarters.

    For each year, the panel of the year's quarters is imputed with
    :func:`survey.returns.impute.ratio_of_means` (forward, backward, construction
    from the register size), separately for the take-all firms (classes:
    ``industry``) and the sampled firms (classes: the plan's stratum
    columns, e.g. ``city``): every take-all firm gets a value (unit and item
    nonresponse); sampled firms get one too, so quarter values can be taken
    from cumulative ones, but only respondents carry weight (the weight step
    adjusts for unit nonresponse). Values set aside by the edit step are
    imputed as well; imputation never starts from a value set aside.

    Hard rule on the derived quarter values: a non-negative indicator
    (gross output, export delivery, sales output, revenue) has no negative
    quarter, this year or last year. After a first imputation, a returned
    year-to-date value below the value of the quarter before it (returned
    or imputed) is decided against the firm's path
    (:func:`survey.returns.edit.cumulative_conflicts`): a returned value judged
    wrong is set aside (rule ``{var}_quarter_nonnegative``, written to
    ``edit/quarter_conflicts.csv``), and the imputation is redone with
    cumulative bounds (``cumulative=True``), so imputed values stay between
    the returns around them. Imputed values are written to the ledger with
    their markers. Quarter values come from
    :func:`survey.periods.quarterly_from_ytd`.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The take-all panel and the sample panel: one row per firm and
        period, with ``responded``, ``{var}_ytd``, ``{var}_ytd_last_year``,
        quarter values ``{var}``, ``{var}_last_year``, ``{var}_marker`` and
        boolean ``{var}_imputed`` for every variable of ``estimate.variables``.

    Examples
    --------
    >>> result = _example_result()  # run_cycle on the demo config, once per session
    >>> panel = result.take_all
    >>> bool(panel[["gross_output", "export_delivery", "profit_tax"]].notna().all(axis=None))
    True
    >>> sorted(panel["gross_output_marker"].unique())
    ['backward_imputed', 'edited', 'forward_imputed', 'returned']
    >>> bool((panel[["gross_output", "export_delivery"]] >= 0).all(axis=None))
    True
    """
    from survey.periods import quarterly_from_ytd
    from survey.returns.impute import ratio_of_means
    from survey.returns.ledger import Ledger

    config = _config(config)
    variables = list(_need(config, "estimate").variables)
    auxiliary = config.register.size
    classes = {"take_all": "industry", "sample": _strata_columns(config) or None}
    aside = edits.set_aside
    panels: dict[str, list[pd.DataFrame]] = {"take_all": [], "sample": []}
    decided: list[pd.DataFrame] = []
    with Ledger.open(ledger_file) as ledger:
        for year in _years(config):
            periods = [p for p in _periods(config) if int(p[:4]) == year]
            cache = {}
            panel = pd.concat([_returned_frame(ledger, p, cache) for p in periods],
                              ignore_index=True)
            markers = panel[[f"{v}_marker" for v in variables]].isin(_RETURNED)
            panel["responded"] = markers.any(axis=1).to_numpy()
            if len(aside):
                keys = pd.MultiIndex.from_frame(panel[["firm_id", "period"]])
                for item, rows in aside.groupby("item"):
                    if item not in panel.columns:
                        continue
                    hit = keys.isin(pd.MultiIndex.from_frame(rows[["firm_id", "period"]]))
                    panel[item] = panel[item].mask(hit)
                    var = item.removesuffix("_ytd")
                    if item.endswith("_ytd") and f"{var}_marker" in panel.columns:
                        panel[f"{var}_marker"] = panel[f"{var}_marker"].mask(hit, "missing")
            for part, by in classes.items():
                data = _deduced(panel[panel["part"].to_numpy() == part].reset_index(drop=True),
                                variables, periods)
                if data.empty:
                    continue
                if by == "industry" and "industry" not in data.columns:
                    by = None
                for v in variables:
                    for item in (f"{v}_ytd", f"{v}_ytd_last_year"):
                        marker = f"{v}_marker" if item.endswith("_ytd") else f"{item}_marker"
                        if v in _NONNEGATIVE:
                            data, pairs = _impute_cumulative(ratio_of_means, data, v, item, by=by,
                                                             auxiliary=auxiliary, marker=marker)
                            decided.append(pairs)
                        else:
                            data = _impute(ratio_of_means, data, item, by=by, auxiliary=auxiliary,
                                           marker=marker)
                    data[f"{v}_imputed"] = data[f"{v}_marker"].isin(_IMPUTED).to_numpy()
                for period, rows in data.groupby("period", sort=True):
                    record = rows[["firm_id"]].copy()
                    for v in variables:
                        for item, marker in ((f"{v}_ytd", f"{v}_marker"),
                                             (f"{v}_ytd_last_year", f"{v}_ytd_last_year_marker")):
                            imputed = rows[marker].isin(_IMPUTED).to_numpy()
                            record[item] = rows[item].where(imputed)
                            record[f"{item}_marker"] = rows[marker].to_numpy()
                    ledger.revise(record, str(period), by=AUTHOR, marker=None,
                                  reason="ratio-of-means imputation of missing and set-aside "
                                         "values, within the cumulative bounds "
                                         "(survey.returns.impute.ratio_of_means)")
                panels[part].append(quarterly_from_ytd(_previous_from_panel(data, periods),
                                                       variables))
    take_all = pd.concat(panels["take_all"], ignore_index=True)
    sample = pd.concat(panels["sample"], ignore_index=True)
    if output is not None:
        folder = _output(config, output) / "panel"
        folder.mkdir(parents=True, exist_ok=True)
        take_all.to_csv(folder / "take_all.csv", index=False)
        sample.to_csv(folder / "sample.csv", index=False)
        decided = [d for d in decided if len(d)]
        conflicts = pd.concat(decided, ignore_index=True) if decided else pd.DataFrame(
            columns=["firm_id", "period", "item", "rule", "value", "marker", "against_period",
                     "against_value", "score", "against_score"])
        (folder.parent / "edit").mkdir(parents=True, exist_ok=True)
        conflicts.to_csv(folder.parent / "edit" / "quarter_conflicts.csv", index=False)
    return take_all, sample


# ---------------------------------------------------------------------------
# 7. weight
# ---------------------------------------------------------------------------
def _design(config: SurveyConfig) -> Any:
    from survey.design import Design

    return Design(strata="stratum", weights="design_weight", fpc="N_h",
                  lonely_psu=_need(config, "estimate").lonely_psu)


def _calibration_totals(config: SurveyConfig, plan: Any) -> dict[str, Any]:
    """Register margins of the take-some population (counts and totals from the frame)."""
    frame = plan.frame.subset(plan.frame.data["part"].to_numpy() == "sample")
    totals: dict[str, Any] = {}
    for margin in config.calibration.margins:
        counts = frame.counts(by=margin)
        totals[margin] = dict(zip(counts[margin], counts["N"].astype(float)))
    if config.calibration.totals:
        sums = frame.totals(list(config.calibration.totals), by=[])
        for column in config.calibration.totals:
            totals[column] = float(sums[column].iloc[0])
    return totals


def weight_step(config: SurveyConfig | str | Path, sample: pd.DataFrame, plans: Mapping[int, Any],
                ) -> dict[str, Any]:
    """The weighted sample of every period: nonresponse adjustment, then calibration.

    Nonresponse: weighting classes are the strata within the plan's stratum
    columns (a stratum without respondents is merged into its city, and so
    on). Calibration: to the register counts of ``calibration.margins`` and
    the register totals of ``calibration.totals`` over the take-some
    population, with ``calibration.method`` and ``bounds``; ``trim`` when set.

    Returns
    -------
    dict of str to survey.Survey
        One Survey per period (design: strata ``stratum``, weights
        ``design_weight``, fpc ``N_h``), its weighting steps recorded.

    Examples
    --------
    >>> s = _example_result().surveys["2006Q4"]
    >>> [step.kind for step in s.weighting]
    ['nonresponse', 'calibration']
    >>> bool((s.weights[~s.data["responded"].to_numpy()] == 0).all())
    True
    """
    from survey.estimation.survey import Survey

    config = _config(config)
    design = _design(config)
    calibration = config.calibration
    cells = [*_strata_columns(config), "stratum"]
    surveys = {}
    for period, rows in sample.groupby("period", sort=True):
        data = rows.reset_index(drop=True)
        s = Survey(data, design).adjust_nonresponse("responded", by=cells, small_cells="collapse")
        totals = _calibration_totals(config, plans[int(str(period)[:4])])
        if totals:
            s = s.calibrate(totals, method=calibration.method,
                            bounds=tuple(calibration.bounds) if calibration.bounds else None)
        if calibration.trim is not None:
            s = s.trim_weights(*calibration.trim)
        surveys[str(period)] = s
    return surveys


# ---------------------------------------------------------------------------
# 8. estimate
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Estimates:
    """Combined estimates of every period by every breakdown.

    Attributes
    ----------
    by_period : dict
        ``{breakdown name: {period: CombinedEstimate}}``; names are
        ``"sector"``, each column of ``estimate.by`` and ``"channel_<name>"``
        for each channel with a flag column (by the flag).
    series : dict
        ``{breakdown name: QuarterlySeries}``.
    year_to_date : CombinedEstimate
        Sector totals of the published period's year to date.
    breakdowns : dict
        ``{breakdown name: list of by columns}``.
    """

    by_period: dict
    series: dict
    year_to_date: Any
    breakdowns: dict


def _breakdowns(config: SurveyConfig, columns: Sequence[str]) -> dict[str, list[str] | None]:
    out: dict[str, list[str] | None] = {"sector": None}
    for name in _need(config, "estimate").by:
        out[name] = _by_columns(columns, name)
    for channel in config.channels:
        if channel.flag is not None and channel.flag in columns:
            out[f"channel_{channel.name}"] = [channel.flag]
    return out


def estimate_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                  surveys: Mapping[str, Any], *, output: str | Path | None = None) -> Estimates:
    """Combined (take-all + sample) totals by domain for every period, and the series.

    Returns
    -------
    Estimates

    Examples
    --------
    >>> estimates = _example_result().estimates
    >>> sorted(estimates.breakdowns)
    ['channel_bureau', 'channel_federation', 'channel_zone', 'city', 'industry', 'sector', 'zone']
    >>> estimates.by_period["sector"]["2006Q4"].table()[["variable", "cv"]].round(3)
              variable     cv
    0     gross_output  0.006
    1  export_delivery  0.025
    2       profit_tax  0.010
    """
    from survey.estimation.combined import combined_total
    from survey.quarterly.series import quarterly_series

    config = _config(config)
    estimate = _need(config, "estimate")
    variables = list(estimate.variables)
    imputed = {v: f"{v}_imputed" for v in variables}
    language = config.language
    breakdowns = _breakdowns(config, take_all.columns)
    fill = [c for cols in breakdowns.values() if cols for c in cols]
    by_period: dict[str, dict[str, Any]] = {name: {} for name in breakdowns}
    for period, s in surveys.items():
        ta = _fill_breakdowns(take_all[take_all["period"] == period].reset_index(drop=True),
                              fill, language)
        s = s.assign(**{c: _fill_breakdowns(s.data[[c]], [c], language)[c].to_numpy()
                        for c in fill if c in s.data.columns and s.data[c].isna().any()})
        for name, by in breakdowns.items():
            by_period[name][period] = combined_total(
                variables, take_all=ta, sample=s, by=by, imputed=imputed, period=period,
                level=estimate.level)
    series = {name: quarterly_series(list(per.values())) for name, per in by_period.items()}
    published = _published(config)
    ta = take_all[take_all["period"] == published].reset_index(drop=True)
    ytd = [f"{v}_ytd" for v in variables]
    year_to_date = combined_total(ytd, take_all=ta, sample=surveys[published],
                                  imputed={f"{v}_ytd": f"{v}_imputed" for v in variables},
                                  period=published, level=estimate.level)
    result = Estimates(by_period=by_period, series=series, year_to_date=year_to_date,
                       breakdowns=breakdowns)
    if output is not None:
        folder = _output(config, output) / "estimates"
        folder.mkdir(parents=True, exist_ok=True)
        for name, s in series.items():
            s.table().to_csv(folder / f"series_{name}.csv", index=False)
        year_to_date.table().to_csv(folder / "year_to_date.csv", index=False)
    return result


# ---------------------------------------------------------------------------
# 9. protect
# ---------------------------------------------------------------------------
def _units(config: SurveyConfig, take_all: pd.DataFrame, surveys: Mapping[str, Any],
           period: str) -> pd.DataFrame:
    """Unit-level data behind the published tables: take-all firms (weight 1) and
    responding sampled firms (final weight)."""
    s = surveys[period]
    ta = take_all[take_all["period"] == period].assign(weight=1.0)
    sa = s.data.assign(weight=s.weights)
    sa = sa[sa["weight"].to_numpy() > 0]
    return pd.concat([ta, sa], ignore_index=True)


def protect_step(config: SurveyConfig | str | Path, take_all: pd.DataFrame,
                 surveys: Mapping[str, Any], *, output: str | Path | None = None
                 ) -> dict[str, Any]:
    """Protect the published tables of the published period by cell suppression.

    Each ``[[disclosure.tables]]`` is protected for each of its variables
    (default ``estimate.variables``) on the unit-level data (take-all firms
    with weight 1, responding sampled firms with their final weight), with
    the rules of ``[disclosure]``. Each channel's table (the channel against
    the rest) is protected too. Variables with negative values (profit and
    tax) cannot be protected by magnitude rules; they are left out and their
    cells follow the suppressions of the other variables (see
    :func:`report_step`).

    Returns
    -------
    dict of str to survey.publish.disclosure.ProtectedTable
        Keys ``"table<i>:<variable>"`` and ``"channel_<name>:<variable>"``.

    Examples
    --------
    >>> protected = _example_result().protected
    >>> print(protected["table0:gross_output"])  # city x industry
    gross_output: 165 cells, 7 primary, 7 secondary suppressions; audit: all protected
    """
    from survey.publish.disclosure import protect_table

    config = _config(config)
    settings = config.disclosure
    language = config.language
    period = _published(config)
    variables = list(_need(config, "estimate").variables)
    units = _units(config, take_all, surveys, period)
    total = "合计" if language == "zh" else "Total"
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
        data = _fill_breakdowns(units, [*rows, *cols], language)
        if any(c in data.columns and pd.api.types.is_bool_dtype(data[c]) for c in rows + cols):
            data = data.assign(**{c: data[c].astype(str) for c in rows + cols
                                  if pd.api.types.is_bool_dtype(data[c])})
        for v in names:
            if (data[v].to_numpy(dtype=float) < 0).any():
                continue  # magnitude rules need non-negative values
            protected[f"{name}:{v}"] = protect_table(
                data, v, rows=rows, columns=cols or None, group=settings.group, weights="weight",
                rules=settings.rules(), cost=settings.cost, total_label=total)
    if output is not None:
        folder = _output(config, output) / "disclosure"
        folder.mkdir(parents=True, exist_ok=True)
        for key, pt in protected.items():
            stem = key.replace(":", "_")
            pt.table(symbol=settings.symbol).to_csv(folder / f"{stem}.csv")
            pt.audit.to_csv(folder / f"{stem}_audit.csv", index=False)
        (folder / "summary.txt").write_text(
            "\n".join(f"{k}: {pt.summary()}" for k, pt in protected.items()) + "\n",
            encoding="utf-8")
    return protected


# ---------------------------------------------------------------------------
# 10. report
# ---------------------------------------------------------------------------
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


def _title(config: SurveyConfig, key: str) -> str:
    from survey.publish.report import label

    return label(key, config.language)


def _localised(frame: pd.DataFrame, columns: Sequence[str] | str, language: str) -> pd.DataFrame:
    """Domain labels in the bulletin's language (bundled code lists; others unchanged)."""
    from survey.datasets import display_names

    names = display_names(language)
    cols = [columns] if isinstance(columns, str) else list(columns)
    mapping = {c: names[c] for c in cols if names.get(c)}
    return frame.replace(mapping) if mapping else frame


def report_step(config: SurveyConfig | str | Path, estimates: Estimates,
                protected: Mapping[str, Any], *, take_all: pd.DataFrame,
                surveys: Mapping[str, Any], ledger_file: str | Path,
                output: str | Path | None = None) -> tuple[Any, Any]:
    """Build the bulletin of the published period and write it (HTML, Excel, CSV).

    Headline: sector totals of the quarter and of the year to date for each
    variable, with intervals and comparable-basis growth. Tables: the sector
    and each breakdown (``estimate.by``) and the channels, with suppressed
    cells flagged. Charts: the series with interval bands, growth by the
    first breakdown, the parts (take-all / sampled) of gross output.
    Quality: response rates (from the nonresponse step's report), imputed
    share, take-all share, sample size, edited and imputed values (counted
    in the ledger), suppressed cells. Money is shown in 亿元 (100 million yuan).

    Returns
    -------
    (survey.publish.report.BulletinContent, survey.publish.report.BulletinFiles)

    Examples
    --------
    >>> content = _example_result().content
    >>> [t.name for t in content.tables]
    ['sector', 'city', 'industry', 'zone', 'channel']
    >>> content.headline[0].label, round(content.headline[0].estimate, 1)
    ('2006Q4工业总产值', 160.6)
    """
    from survey.publish.report import (
        BulletinContent,
        BulletinTable,
        Headline,
        parts_from_table,
        write_bulletin,
    )

    config = _config(config)
    language = config.language
    text = _TEXT[language]
    unit, factor = DISPLAY[language]
    estimate = _need(config, "estimate")
    variables = list(estimate.variables)
    period = _published(config)
    year, quarter = int(period[:4]), int(period[5])

    # headline: the quarter and the year to date, sector totals
    headline = []
    sector = estimates.by_period["sector"][period].table()
    ytd = estimates.year_to_date.table()
    for v in variables:
        for frame, variable, when in ((sector, v, text["quarter"].format(period=period)),
                                      (ytd, f"{v}_ytd", text["ytd"].format(
                                          year=year, month=quarter * 3,
                                          month_name=_MONTHS[quarter - 1]))):
            row = frame[frame["variable"] == variable].iloc[0]
            headline.append(Headline(
                label=f"{_title(config, v)}, {when}" if language == "en" else f"{when}{_title(config, v)}",
                variable=v, estimate=row["estimate"] / factor, ci_low=row["ci_low"] / factor,
                ci_high=row["ci_high"] / factor, growth=row["growth"],
                growth_ci_low=row["growth_ci_low"], growth_ci_high=row["growth_ci_high"],
                unit=unit, decimals=2))

    # tables
    tables = [BulletinTable.from_table(_scaled(sector, factor), name="sector",
                                       title=text["sector"], by=[], decimals=2)]
    for name, by in estimates.breakdowns.items():
        if by is None or name.startswith("channel_"):
            continue
        frame = estimates.by_period[name][period].table()
        flags = _suppressed(protected, frame, by, variables, language)
        frame = _localised(frame, by, language)
        what = _title(config, name)
        tables.append(BulletinTable.from_table(
            _scaled(frame, factor), name=name[:31], by=by, suppressed=flags, decimals=2,
            title=text["by"].format(what=what if language == "zh" else what.lower())))
    channel_frames = []
    for channel in config.channels:
        key = f"channel_{channel.name}"
        if key not in estimates.by_period:
            continue
        frame = estimates.by_period[key][period].table()
        flags = _suppressed(protected, frame, [channel.flag], variables, language)
        frame = frame.assign(suppressed=flags)
        keep = frame[channel.flag].astype(bool).to_numpy()
        frame = frame[keep].drop(columns=[channel.flag])
        own = channel.label if channel.label and (language == "zh" or channel.label.isascii()) \
            else None
        frame.insert(0, "channel", own or _title(config, channel.name))
        channel_frames.append(frame)
    if channel_frames:
        frame = pd.concat(channel_frames, ignore_index=True)
        tables.append(BulletinTable.from_table(_scaled(frame, factor), name="channel", by="channel",
                                               title=text["channel_table"], decimals=2))

    # charts
    series = _scaled(estimates.series["sector"].table(), factor)
    series = series[["period", "variable", "estimate", "ci_low", "ci_high"]]
    growth = None
    first = next((t for t in tables if t.name not in ("sector", "channel")), None)
    if first is not None:
        g = first.frame
        keep = ~g["suppressed"].to_numpy(dtype=bool) if "suppressed" in g.columns else slice(None)
        g = g[keep]
        label_column = first.breakdown[-1]
        growth = pd.DataFrame({"domain": g[label_column].astype(str).to_numpy(),
                               "variable": g["variable"].to_numpy(),
                               "growth": g["growth"].to_numpy(),
                               "growth_ci_low": g["growth_ci_low"].to_numpy(),
                               "growth_ci_high": g["growth_ci_high"].to_numpy()})
        growth = growth[growth["variable"] == variables[0]].dropna().reset_index(drop=True)
    parts_source = estimates.series["sector"].table()
    parts_source = parts_source[parts_source["variable"] == variables[0]]
    parts = _scaled(parts_from_table(parts_source), factor)

    # quality
    quality = _quality(config, take_all, surveys, estimates, ledger_file, protected, period)

    content = BulletinContent(
        title=config.report.title or config.survey.name, period=period, language=language,
        headline=headline, tables=tables, series=series, growth=growth, parts=parts,
        quality=quality, methods_note=_methods_note(config, take_all, surveys, period),
        notes=[text["rounding"]] + ([text["synthetic"]] if config.register.dataset else [])
        + [text["not_protected"].format(var=_title(config, v)) for v in variables
           if protected and not any(k.endswith(f":{v}") for k in protected)],
        cv_caution=config.report.cv_caution, cv_unreliable=config.report.cv_unreliable)
    folder = _output(config, output) / "bulletin"
    files = write_bulletin(content, folder)
    return content, files


def _quality(config: SurveyConfig, take_all: pd.DataFrame, surveys: Mapping[str, Any],
             estimates: Estimates, ledger_file: str | Path, protected: Mapping[str, Any],
             period: str) -> pd.DataFrame:
    """Quality indicators of the published period (counts and shares read off the steps;
    edited and imputed values from the ledger, so a re-run reports the same)."""
    from survey.returns.ledger import Ledger

    with Ledger.open(ledger_file, read_only=True) as ledger:
        current = ledger.current(period)
    items = [f"{v}{s}" for v in _need(config, "estimate").variables
             for s in ("_ytd", "_ytd_last_year")]
    names = _TEXT[config.language]["quality"]
    ta = take_all[take_all["period"] == period]
    s = surveys[period]
    nonresponse = next(step.report for step in s.weighting if step.kind == "nonresponse")
    cells = nonresponse.table
    sector = estimates.by_period["sector"][period].table()
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
        ("edited_values", int((current["marker"] == "edited").sum()), ""),
        ("imputed_values", int((current["marker"].isin(_IMPUTED)
                                & current["item"].isin(items)).sum()), ""),
        ("suppressed_cells", int(sum(int(pt.suppressed.sum()) for pt in protected.values())), ""),
    ]
    return pd.DataFrame({"indicator": [names[k] for k, _, _ in rows],
                         "value": [v for _, v, _ in rows], "unit": [u for _, _, u in rows]})


def _methods_note(config: SurveyConfig, take_all: pd.DataFrame, surveys: Mapping[str, Any],
                  period: str) -> str:
    s = surveys[period]
    n = len(s.data)
    strata = s.data["stratum"].nunique()
    n_ta = int((take_all["period"] == period).sum())
    cal = config.calibration
    margins = ", ".join([*cal.margins, *cal.totals]) or "-"
    level = round(_need(config, "estimate").level * 100)
    if config.language == "zh":
        return (
            f"规模以上企业（{n_ta} 家）全面调查；缺报企业和缺报项目用同类企业的比率均值法插补"
            f"（先用本企业上期数乘同类企业增速，其次用下期数回推，最后用登记册营业收入构造），"
            f"插补值在数据台账中单独标记。规模以下企业按{'、'.join(_strata_columns(config)) or '全部'}"
            f"和规模分 {strata} 层，用永久随机数抽取 {n} 家样本企业；样本权数先在层内做无回答调整，"
            f"再按登记册的 {margins} 校准（{cal.method}）。\n\n"
            f"报表先检查计量单位错误（误以元填报的数值除以 1000，作为修订记入台账），"
            f"再按审核规则检查；违反硬性规则的数值不用，改为插补。"
            f"增长率为可比口径：同一批企业本期与上年同期相比。区间为 {level}% 置信区间，"
            f"只反映抽样误差。表中涉及单个企业商业秘密的格（x）按最小频数、p% 规则和次级隐藏处理。")
    return (
        f"Firms above designated size ({n_ta}) are enumerated completely; missing returns and "
        "missing items are imputed by ratio of means within classes of similar firms (the "
        "firm's previous quarter times the class growth, else back from its next return, else "
        "constructed from its register revenue); imputed values are marked in the ledger. "
        f"Firms below the size are stratified by {', '.join(_strata_columns(config)) or 'none'} "
        f"and size class ({strata} strata); {n} firms are selected with permanent random "
        "numbers. Their weights are adjusted for nonresponse within strata and calibrated "
        f"({cal.method}) to the register's {margins}.\n\n"
        "Returns are checked for unit errors (values reported in yuan are divided by 1000 and "
        "recorded as revisions) and then by the edit rules; values failing a hard rule are "
        "replaced by imputed values. Growth is on a comparable basis: the same firms this "
        f"quarter and a year earlier. Intervals are {level}% confidence intervals and reflect "
        "sampling error only. Cells that would disclose a firm's figures (x) are suppressed by "
        "the minimum-frequency and p% rules with secondary suppression.")


# ---------------------------------------------------------------------------
# the whole cycle
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class CycleResult:
    """Everything one run of the cycle produced.

    Attributes
    ----------
    config : survey.pipeline.config.SurveyConfig
    output : pathlib.Path
        The output folder.
    plans : dict of int to survey.plan.SamplePlan
    samples : dict of int to pandas.DataFrame
        The selected firms of each year.
    returns_files : dict of str to pathlib.Path
        The returns file of each period.
    injected : pandas.DataFrame
        The reporting errors the simulation injected (the truth to check the
        edit step against).
    ledger_file : pathlib.Path
    edits : EditOutcome
    take_all, sample : pandas.DataFrame
        The imputed panels (one row per firm and period, quarter values added).
    surveys : dict of str to survey.Survey
        The weighted sample of each period.
    estimates : Estimates
    protected : dict of str to survey.publish.disclosure.ProtectedTable
    content : survey.publish.report.BulletinContent
    files : survey.publish.report.BulletinFiles
    seconds : dict of str to float
        Time of each step.
    """

    config: SurveyConfig
    output: Path
    plans: dict
    samples: dict
    returns_files: dict
    injected: pd.DataFrame
    ledger_file: Path
    edits: EditOutcome
    take_all: pd.DataFrame
    sample: pd.DataFrame
    surveys: dict
    estimates: Estimates
    protected: dict
    content: Any
    files: Any
    seconds: dict

    @property
    def period(self) -> str:
        """The published quarter."""
        return _published(self.config)

    def headline(self) -> pd.DataFrame:
        """The bulletin's headline figures as a table (display units).

        Examples
        --------
        >>> _example_result().headline()[["label", "unit"]].head(2)
                        label unit
        0        2006Q4工业总产值   亿元
        1  2006年1-12月累计工业总产值   亿元
        """
        from survey.publish.report.excel import headline_frame

        return headline_frame(self.content)

    def __repr__(self) -> str:
        return (f"<CycleResult {self.period}: bulletin {self.files.html}; "
                f"{sum(self.seconds.values()):.1f} s>")


def run_cycle(config_path: str | Path, *, output: str | Path | None = None,
              progress: bool = True) -> CycleResult:
    """Run the whole quarterly cycle of the survey described by a configuration file.

    Plan, select, simulated returns, ingest into the ledger, edit, impute,
    weight, estimate (with growth and the series), disclosure control and
    the bulletin; see the module docstring for the library call behind each
    step. The files go into ``output`` (default: ``survey.output`` of the
    config): ``plan/``, ``sample/``, ``returns/``, ``ledger.duckdb``,
    ``edit/``, ``panel/``, ``estimates/``, ``disclosure/`` and
    ``bulletin/`` (``bulletin.html``, ``bulletin.xlsx`` and CSV files).

    Parameters
    ----------
    config_path : str or pathlib.Path
        The TOML configuration (e.g. :data:`DEMO_CONFIG`).
    output : str, pathlib.Path or None, default=None
        Output folder; when it is not the configured one, the ledger goes
        there too (``<output>/ledger.duckdb``).
    progress : bool, default=True
        Show progress (a ``rich`` bar when installed) and one line per step.

    Returns
    -------
    CycleResult

    Examples
    --------
    >>> import tempfile
    >>> result = run_cycle(DEMO_CONFIG, output=tempfile.mkdtemp(), progress=False)  # doctest: +SKIP
    >>> result = _example_result()  # the same, run once for all the examples of this module
    >>> result.files.html.name, result.period, sorted(result.plans)
    ('bulletin.html', '2006Q4', [2005, 2006])
    """
    config = load_config(config_path)
    folder = _output(config, output)
    ledger_file = _ledger_file(config, folder)
    seconds: dict[str, float] = {}
    with _Progress(progress, 10) as bar:
        with bar.step("plan") as out:
            plans = plan_step(config, output=folder)
            out["summary"] = "; ".join(
                f"{y}: n = {p.n} of N = {p.frame.N} ({len(p.allocation.N)} strata)"
                for y, p in plans.items())
        seconds["plan"] = float(out["seconds"])
        with bar.step("select") as out:
            samples = select_step(config, plans, output=folder)
            out["summary"] = "; ".join(
                f"{y}: {int((s['part'] == 'take_all').sum())} take-all + "
                f"{int((s['part'] == 'sample').sum())} sampled firms" for y, s in samples.items())
        seconds["select"] = float(out["seconds"])
        with bar.step("simulate") as out:
            files, injected = simulate_step(config, samples, output=folder)
            out["summary"] = (f"{len(files)} returns files in {folder / 'returns'}, "
                              f"{len(injected)} injected reporting errors")
        seconds["simulate"] = float(out["seconds"])
        with bar.step("ingest") as out:
            reports = ingest_step(config, samples, files, ledger_file=ledger_file)
            written = sum(r.values_written for r in reports)
            out["summary"] = f"{len(reports)} files, {written} values written to {ledger_file.name}"
        seconds["ingest"] = float(out["seconds"])
        with bar.step("edit") as out:
            edits = edit_step(config, ledger_file=ledger_file, output=folder)
            out["summary"] = (f"{len(edits.unit_errors)} unit errors corrected, "
                              f"{len(edits.failures)} rule failures, "
                              f"{len(edits.set_aside)} values set aside")
        seconds["edit"] = float(out["seconds"])
        with bar.step("impute") as out:
            take_all, sample = impute_step(config, edits, ledger_file=ledger_file, output=folder)
            variables = _need(config, "estimate").variables
            n_imp = int(sum(take_all[f"{v}_imputed"].sum() + sample[f"{v}_imputed"].sum()
                            for v in variables))
            out["summary"] = f"{n_imp} values imputed (take-all and sample panels)"
        seconds["impute"] = float(out["seconds"])
        with bar.step("weight") as out:
            surveys = weight_step(config, sample, plans)
            out["summary"] = f"{len(surveys)} periods weighted (nonresponse, calibration)"
        seconds["weight"] = float(out["seconds"])
        with bar.step("estimate") as out:
            estimates = estimate_step(config, take_all, surveys, output=folder)
            row = estimates.by_period["sector"][_published(config)].table().iloc[0]
            out["summary"] = (f"{row['variable']} {row['period']}: {row['estimate']:,.0f} "
                              f"(cv {row['cv']:.1%}, growth {row['growth']:+.1%})")
        seconds["estimate"] = float(out["seconds"])
        with bar.step("protect") as out:
            protected = protect_step(config, take_all, surveys, output=folder)
            n_sup = sum(int(pt.suppressed.sum()) for pt in protected.values())
            out["summary"] = f"{len(protected)} tables protected, {n_sup} cells suppressed"
        seconds["protect"] = float(out["seconds"])
        with bar.step("report") as out:
            content, bulletin = report_step(config, estimates, protected, take_all=take_all,
                                            surveys=surveys, ledger_file=ledger_file,
                                            output=folder)
            out["summary"] = f"bulletin written to {bulletin.html}"
        seconds["report"] = float(out["seconds"])
    return CycleResult(config=config, output=folder, plans=plans, samples=samples,
                       returns_files=files, injected=injected, ledger_file=ledger_file,
                       edits=edits, take_all=take_all, sample=sample, surveys=surveys,
                       estimates=estimates, protected=protected, content=content,
                       files=bulletin, seconds=seconds)


@functools.lru_cache(maxsize=1)
def _example_result() -> CycleResult:
    """The demo cycle run once into a temporary folder (for the docstring examples)."""
    return run_cycle(DEMO_CONFIG, output=tempfile.mkdtemp(prefix="survey-demo-"), progress=False)


# ---------------------------------------------------------------------------
# command-line entry points
# ---------------------------------------------------------------------------
def main_demo(output: Path | None = None) -> int:
    """``survey demo [--output FOLDER]``: the whole cycle on the bundled data.

    Returns
    -------
    int
        0 (errors raise :class:`~survey.errors.SurveyError`).

    Examples
    --------
    >>> main_demo(pathlib.Path(tempfile.mkdtemp()))  # doctest: +SKIP
    0
    """
    folder = Path(output).expanduser().resolve() if output is not None else None
    config = load_config(DEMO_CONFIG)
    ledger = _ledger_file(config, folder if folder is not None else config.output)
    if ledger.is_file():  # the demo's own ledger of an earlier demo run: start afresh
        ledger.unlink()
        print(f"survey demo: removed the ledger of an earlier demo run ({ledger})")
    result = run_cycle(DEMO_CONFIG, output=output, progress=True)
    total = sum(result.seconds.values())
    print(f"survey demo: the bulletin of {result.period} is {result.files.html} "
          f"(Excel: {result.files.excel.name}; {total:.0f} s)")
    return 0


def _state(config_path: str | Path, output: str | Path | None) -> tuple[SurveyConfig, Path, Path]:
    config = load_config(config_path)
    folder = _output(config, output)
    return config, folder, _ledger_file(config, folder)


def command_plan(config_path: str | Path, *, output: str | Path | None = None) -> int:
    """``survey plan CONFIG.toml``: write the sample plan of each year.

    Examples
    --------
    >>> import tempfile
    >>> command_plan(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    survey plan: 2005: n = ...; 2006: n = ... -> .../plan
    0
    """
    config, folder, _ = _state(config_path, output)
    plans = plan_step(config, output=folder)
    print("survey plan: " + "; ".join(f"{y}: n = {p.n} of N = {p.frame.N}"
                                      for y, p in plans.items()) + f" -> {folder / 'plan'}")
    return 0


def command_select(config_path: str | Path, *, output: str | Path | None = None,
                   seed: int | None = None) -> int:
    """``survey select CONFIG.toml [--seed N]``: plan and select each year's sample, write it.

    ``seed`` overrides ``survey.seed`` of the configuration (recorded in
    ``sample_metadata.json``).

    Examples
    --------
    >>> import tempfile
    >>> command_select(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    survey select: 2005: ... firms; 2006: ... firms -> .../sample
    0
    """
    config, folder, _ = _state(config_path, output)
    if seed is not None:
        import dataclasses

        config = dataclasses.replace(config, survey=dataclasses.replace(config.survey, seed=int(seed)))
    samples = select_step(config, plan_step(config, output=folder), output=folder)
    print("survey select: " + "; ".join(f"{y}: {len(s)} firms" for y, s in samples.items())
          + f" -> {folder / 'sample'}")
    return 0


def command_simulate(config_path: str | Path, *, output: str | Path | None = None) -> int:
    """``survey simulate-returns CONFIG.toml``: the returns the selected firms would send
    (bundled synthetic data only; run ``survey select`` first).

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> _ = command_select(DEMO_CONFIG, output=out)  # doctest: +ELLIPSIS
    survey select: ...
    >>> command_simulate(DEMO_CONFIG, output=out)  # doctest: +ELLIPSIS
    survey simulate-returns: 8 files, ... injected errors -> .../returns
    0
    """
    config, folder, _ = _state(config_path, output)
    files, injected = simulate_step(config, read_samples(config, output=folder), output=folder)
    print(f"survey simulate-returns: {len(files)} files, {len(injected)} injected errors "
          f"-> {folder / 'returns'}")
    return 0


def command_ingest(config_path: str | Path, files: Mapping[str, str | Path] | None = None, *,
                   output: str | Path | None = None, channel: str = "bureau") -> int:
    """``survey ingest CONFIG.toml [PERIOD=FILE ...]``: load returns files into the ledger.

    Parameters
    ----------
    config_path : str or pathlib.Path
    files : mapping of str to path, optional
        Period -> file; default: ``returns/returns_<period>.csv`` in the
        output folder for every period that has one.
    output : str, pathlib.Path or None
    channel : str, default="bureau"

    Examples
    --------
    >>> import tempfile
    >>> command_ingest(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no returns files in .../returns (returns_<period>.csv); give the files or run `survey simulate-returns`
    """
    config, folder, ledger_file = _state(config_path, output)
    files = dict(files) if files else _returns_files(config, folder)
    if not files:
        raise ConfigError(f"no returns files in {folder / 'returns'} (returns_<period>.csv); "
                          "give the files or run `survey simulate-returns`")
    reports = ingest_step(config, read_samples(config, output=folder), files,
                          ledger_file=ledger_file, channel=channel)
    statuses = pd.Series([r.status for r in reports]).value_counts().to_dict()
    print(f"survey ingest: {len(reports)} files ({statuses}), "
          f"{sum(r.values_written for r in reports)} values written -> {ledger_file}")
    return 0


def _estimate_from_ledger(config: SurveyConfig, folder: Path, ledger_file: Path
                          ) -> tuple[EditOutcome, pd.DataFrame, dict, Estimates]:
    if not ledger_file.is_file():
        raise ConfigError(f"no ledger at {ledger_file}; run `survey ingest` first")
    plans = plan_step(config, write=False)
    edits = edit_step(config, ledger_file=ledger_file, output=folder)
    take_all, sample = impute_step(config, edits, ledger_file=ledger_file, output=folder)
    surveys = weight_step(config, sample, plans)
    estimates = estimate_step(config, take_all, surveys, output=folder)
    return edits, take_all, surveys, estimates


def command_estimate(config_path: str | Path, *, output: str | Path | None = None) -> int:
    """``survey estimate CONFIG.toml``: edit, impute, weight and estimate from the ledger.

    Writes ``edit/``, ``panel/`` and ``estimates/`` (``series_<breakdown>.csv``).

    Examples
    --------
    >>> command_estimate(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +SKIP
    survey estimate: gross_output 2006Q4 = ... (cv ...) -> .../estimates
    0
    """
    config, folder, ledger_file = _state(config_path, output)
    _, _, _, estimates = _estimate_from_ledger(config, folder, ledger_file)
    row = estimates.by_period["sector"][_published(config)].table().iloc[0]
    print(f"survey estimate: {row['variable']} {row['period']} = {row['estimate']:,.0f} "
          f"(cv {row['cv']:.1%}, growth {row['growth']:+.1%}) -> {folder / 'estimates'}")
    return 0


def command_report(config_path: str | Path, *, output: str | Path | None = None) -> int:
    """``survey report CONFIG.toml``: estimates, disclosure control and the bulletin.

    Examples
    --------
    >>> command_report(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +SKIP
    survey report: bulletin of 2006Q4 -> .../bulletin/bulletin.html
    0
    """
    config, folder, ledger_file = _state(config_path, output)
    _, take_all, surveys, estimates = _estimate_from_ledger(config, folder, ledger_file)
    protected = protect_step(config, take_all, surveys, output=folder)
    _, files = report_step(config, estimates, protected, take_all=take_all, surveys=surveys,
                           ledger_file=ledger_file, output=folder)
    print(f"survey report: bulletin of {_published(config)} -> {files.html}")
    return 0

