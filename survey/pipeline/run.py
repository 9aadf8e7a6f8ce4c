"""The quarterly cycle from one configuration file, whole or command by command.

:func:`run_cycle` runs every step of :mod:`survey.pipeline.steps` in order
(plan, select, simulate, ingest, edit, impute, weight, estimate, protect,
report) and returns a :class:`CycleResult`; ``run_plan`` ... ``run_report``
are the separate commands (``survey plan`` ... ``survey report``), each
reading what the earlier commands wrote. Nothing is printed here: the
``survey`` command prints (:mod:`survey.cli`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from survey.errors import ConfigError
from survey.pipeline import steps
from survey.pipeline.config import SurveyConfig
from survey.publish.report.build import Estimates
from survey.returns.panel import EditOutcome

__all__ = ["STEPS", "CycleResult", "run_cycle", "run_estimate", "run_ingest", "run_plan",
           "run_report", "run_select", "run_simulate"]

#: The steps of the cycle, in order.
STEPS = ("plan", "select", "simulate", "ingest", "edit", "impute", "weight", "estimate",
         "protect", "report")
#: ``progress(step, result, seconds)``: called with ``result=None, seconds=None`` when a step
#: starts and with the step's result and time when it ends.
Progress = Callable[[str, Any, float | None], None]


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
    edits : survey.returns.panel.EditOutcome
    take_all, sample : pandas.DataFrame
        The imputed panels (one row per firm and period, quarter values added).
    surveys : dict of str to survey.Survey
        The weighted sample of each period.
    estimates : survey.publish.report.build.Estimates
    protected : dict of str to survey.publish.disclosure.ProtectedTable
    content : survey.publish.report.BulletinContent
    files : survey.publish.report.BulletinFiles
    seconds : dict of str to float
        Time of each step.
    typical : pandas.DataFrame or None
        The typical units' panel (``None`` without ``[plan.typical]``).
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
    typical: pd.DataFrame | None = None

    @property
    def period(self) -> str:
        """The published quarter."""
        return self.config.published()

    def headline(self) -> pd.DataFrame:
        """The bulletin's headline figures as a table (display units).

        Examples
        --------
        >>> from survey.pipeline.demo import demo_result
        >>> demo_result().headline()["label"].head(3).tolist()
        ['2006年1-12月累计规模以上企业工业总产值', '2006年1-12月累计工业总产值', '2006Q4工业总产值']
        """
        from survey.publish.report.excel import headline_frame

        return headline_frame(self.content)

    def __repr__(self) -> str:
        return (f"<CycleResult {self.period}: bulletin in {self.output / 'bulletin'}; "
                f"{sum(self.seconds.values()):.1f} s>")


def _state(config: SurveyConfig | str | Path, output: str | Path | None
           ) -> tuple[SurveyConfig, Path, Path]:
    config = steps.as_config(config)
    folder = config.output_folder(output)
    return config, folder, config.ledger_path(folder)


def run_cycle(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
              progress: Progress | None = None) -> CycleResult:
    """Run the whole quarterly cycle of the survey described by a configuration.

    The files go into ``output`` (default: ``survey.output`` of the
    config): ``plan/``, ``sample/``, ``returns/``, ``ledger.duckdb``,
    ``edit/``, ``panel/``, ``estimates/``, ``disclosure/`` and
    ``bulletin/`` (``bulletin.html``, ``bulletin.xlsx`` and CSV files).

    Parameters
    ----------
    config : SurveyConfig, str or pathlib.Path
        The configuration or its TOML file (e.g. :data:`survey.pipeline.DEMO_CONFIG`).
    output : str, pathlib.Path or None, default=None
        Output folder; when it is not the configured one, the ledger goes
        there too (``<output>/ledger.duckdb``).
    progress : callable or None, default=None
        ``progress(step, result, seconds)`` before (``None, None``) and
        after each step of :data:`STEPS`.

    Returns
    -------
    CycleResult

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> result = run_cycle(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +SKIP
    >>> from survey.pipeline.demo import demo_result
    >>> result = demo_result()  # the same, run once for all the examples
    >>> result.files.html.name, result.period, sorted(result.plans)
    ('bulletin.html', '2006Q4', [2005, 2006])
    """
    config, folder, ledger = _state(config, output)
    seconds: dict[str, float] = {}

    def step(name: str, call: Callable[[], Any]) -> Any:
        if progress is not None:
            progress(name, None, None)
        start = time.perf_counter()
        value = call()
        seconds[name] = time.perf_counter() - start
        if progress is not None:
            progress(name, value, seconds[name])
        return value

    plans = step("plan", lambda: steps.plan_step(config, output=folder))
    samples = step("select", lambda: steps.select_step(config, plans, output=folder))
    files, injected = step("simulate", lambda: steps.simulate_step(config, samples, output=folder))
    step("ingest", lambda: steps.ingest_step(config, samples, files, ledger_file=ledger))
    edits = step("edit", lambda: steps.edit_step(config, ledger_file=ledger, output=folder))
    take_all, sample, typical = step("impute", lambda: steps.impute_step(
        config, edits, ledger_file=ledger, output=folder, with_typical=True))
    surveys = step("weight", lambda: steps.weight_step(config, sample, plans))
    estimates = step("estimate", lambda: steps.estimate_step(config, take_all, surveys,
                                                             output=folder, plans=plans,
                                                             typical=typical))
    protected = step("protect", lambda: steps.protect_step(config, take_all, surveys,
                                                           output=folder))
    content, bulletin = step("report", lambda: steps.report_step(
        config, estimates, protected, take_all=take_all, surveys=surveys, ledger_file=ledger,
        output=folder, typical=typical))
    return CycleResult(config=config, output=folder, plans=plans, samples=samples,
                       returns_files=files, injected=injected, ledger_file=ledger, edits=edits,
                       take_all=take_all, sample=sample, surveys=surveys, estimates=estimates,
                       protected=protected, content=content, files=bulletin, seconds=seconds,
                       typical=typical)


def run_plan(config: SurveyConfig | str | Path, *, output: str | Path | None = None
             ) -> dict[int, Any]:
    """``survey plan``: write the sample plan of each year (:func:`~survey.pipeline.steps.plan_step`).

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> sorted(run_plan(DEMO_CONFIG, output=tempfile.mkdtemp()))
    [2005, 2006]
    """
    config, folder, _ = _state(config, output)
    return steps.plan_step(config, output=folder)


def run_select(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
               seed: int | None = None) -> dict[int, pd.DataFrame]:
    """``survey select [--seed N]``: plan and select each year's sample, write it.

    ``seed`` overrides ``survey.seed`` (recorded in ``sample_metadata.json``).

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> samples = run_select(DEMO_CONFIG, output=tempfile.mkdtemp())  # doctest: +SKIP
    """
    config, folder, _ = _state(config, output)
    if seed is not None:
        config = dataclasses.replace(config, survey=dataclasses.replace(config.survey,
                                                                        seed=int(seed)))
    return steps.select_step(config, steps.plan_step(config, output=folder), output=folder)


def run_simulate(config: SurveyConfig | str | Path, *, output: str | Path | None = None
                 ) -> tuple[dict[str, Path], pd.DataFrame]:
    """``survey simulate-returns``: the returns the samples written by ``survey select``
    would send (bundled data only).

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> run_simulate(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no sample for 2005 in .../sample/2005/sample.csv; run `survey select` first
    """
    config, folder, _ = _state(config, output)
    return steps.simulate_step(config, steps.read_samples(config, output=folder), output=folder)


def run_ingest(config: SurveyConfig | str | Path, files: Mapping[str, str | Path] | None = None,
               *, output: str | Path | None = None, channel: str = "bureau",
               allow_same_content: bool = False) -> list[Any]:
    """``survey ingest [PERIOD=FILE ...]``: load returns files into the ledger
    (default: ``returns/returns_<period>.csv`` of the output folder).

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> run_ingest(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no returns files in .../returns (returns_<period>.csv); give the files or run `survey simulate-returns`
    """
    config, folder, ledger = _state(config, output)
    files = dict(files) if files else steps.returns_files(config, folder)
    unknown = sorted(set(files) - set(config.periods()))
    if unknown:
        raise ConfigError(f"returns given for {', '.join(unknown)}, which are not among the "
                          f"survey's periods ({', '.join(config.periods())}); nothing was "
                          "loaded")
    if not files:
        raise ConfigError(f"no returns files in {folder / 'returns'} (returns_<period>.csv); "
                          "give the files or run `survey simulate-returns`")
    return steps.ingest_step(config, steps.read_samples(config, output=folder), files,
                             ledger_file=ledger, channel=channel,
                             allow_same_content=allow_same_content)


def _from_ledger(config: SurveyConfig, folder: Path, ledger: Path, *,
                 typical_out: list | None = None
                 ) -> tuple[pd.DataFrame, dict, Estimates]:
    if not ledger.is_file():
        raise ConfigError(f"no ledger at {ledger}; run `survey ingest` first")
    plans = steps.plan_step(config, write=False)
    edits = steps.edit_step(config, ledger_file=ledger, output=folder)
    take_all, sample, typical = steps.impute_step(config, edits, ledger_file=ledger,
                                                  output=folder, with_typical=True)
    surveys = steps.weight_step(config, sample, plans)
    if typical_out is not None:
        typical_out.append(typical)
    return take_all, surveys, steps.estimate_step(config, take_all, surveys, output=folder,
                                                  plans=plans, typical=typical)


def run_estimate(config: SurveyConfig | str | Path, *, output: str | Path | None = None
                 ) -> Estimates:
    """``survey estimate CONFIG.toml``: edit, impute, weight and estimate from the ledger;
    writes ``edit/``, ``panel/`` and ``estimates/``.

    Examples
    --------
    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> run_estimate(DEMO_CONFIG, output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no ledger at .../ledger.duckdb; run `survey ingest` first
    """
    config, folder, ledger = _state(config, output)
    return _from_ledger(config, folder, ledger)[2]


def run_report(config: SurveyConfig | str | Path, *, output: str | Path | None = None,
               level: str | None = None, area: str | None = None) -> tuple[Any, Any]:
    """``survey report``: estimates from the ledger, disclosure control and the bulletin.

    Returns
    -------
    (survey.publish.report.BulletinContent, survey.publish.report.BulletinFiles)

    Examples
    --------
    >>> from survey.pipeline import DEMO_CONFIG
    >>> content, files = run_report(DEMO_CONFIG, output="demo")  # doctest: +SKIP
    """
    config, folder, ledger = _state(config, output)
    typical: list = []
    take_all, surveys, estimates = _from_ledger(config, folder, ledger, typical_out=typical)
    protected = steps.protect_step(config, take_all, surveys, output=folder)
    return steps.report_step(config, estimates, protected, take_all=take_all, surveys=surveys,
                             ledger_file=ledger, output=folder, typical=typical[0],
                             level=level, area=area)
