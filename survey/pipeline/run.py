"""The quarterly cycle from one configuration file, whole or command by command.

One step runner: :func:`run_cycle` runs every step of :mod:`survey.pipeline.steps` in
order (:data:`STEPS`) and returns a :class:`CycleResult`; :func:`run_command` runs the
steps of one separate command (:data:`COMMANDS`: ``survey plan`` ... ``survey report``),
reading the results of the earlier steps from what the earlier commands wrote. Nothing
is printed here: the ``survey`` command prints (:mod:`survey.cli`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from survey.errors import ConfigError
from survey.pipeline import steps
from survey.pipeline.config import SurveyConfig, with_settings
from survey.publish.report.build import Estimates
from survey.returns.panel import EditOutcome

__all__ = ["STEPS", "CycleResult", "run_cycle"]

#: The steps of the cycle, in order.
STEPS = ("plan", "select", "simulate", "ingest", "edit", "impute", "weight", "estimate",
         "protect", "report")
#: The steps each separate command runs (``survey select`` writes the plan too; ``survey
#: estimate`` and ``report`` edit and impute the ledger again, which changes nothing).
COMMANDS = {"plan": STEPS[:1], "select": STEPS[:2], "simulate-returns": ("simulate",),
            "ingest": ("ingest",), "estimate": STEPS[4:8], "report": STEPS[4:]}
_OPTIONS = ("seed", "files", "channel", "allow_same_content", "level", "area")
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


@dataclass(eq=False)
class _Run:
    """One run of some steps: the results so far, by step (``run["plan"]``: an earlier
    step's result, run in this run or read from what the earlier commands wrote)."""

    config: SurveyConfig
    folder: Path
    ledger: Path
    options: dict
    results: dict = field(default_factory=dict)

    def __getitem__(self, step: str) -> Any:
        if step not in self.results:
            self.results[step] = _READ[step](self)
        return self.results[step]


def _returns_files(r: _Run) -> tuple[dict, None]:
    files = {p: r.folder / "returns" / f"returns_{p}.csv" for p in r.config.periods()}
    files = dict(r.options.get("files") or {}) or {p: f for p, f in files.items() if f.is_file()}
    steps.check_periods(r.config, files)
    if not files:
        raise ConfigError(f"no returns files in {r.folder / 'returns'} (returns_<period>.csv); "
                          "give the files or run `survey simulate-returns`")
    return files, None


def _edit(r: _Run) -> Any:
    if not r.ledger.is_file():
        raise ConfigError(f"no ledger at {r.ledger}; run `survey ingest` first")
    return steps.edit_step(r.config, ledger_file=r.ledger, output=r.folder)


#: What a command reads instead of running an earlier step.
_READ: dict[str, Callable[[_Run], Any]] = {
    "plan": lambda r: steps.plan_step(r.config, write=False),
    "select": lambda r: steps.read_samples(r.config, output=r.folder),
    "simulate": _returns_files}
#: Each step: the call of :mod:`survey.pipeline.steps` on the earlier steps' results.
_CALL: dict[str, Callable[[_Run], Any]] = {
    "plan": lambda r: steps.plan_step(r.config, output=r.folder),
    "select": lambda r: steps.select_step(r.config, r["plan"], output=r.folder),
    "simulate": lambda r: steps.simulate_step(r.config, r["select"], output=r.folder),
    "ingest": lambda r: steps.ingest_step(  # the files first: "no returns files" before samples
        r.config, files=r["simulate"][0], samples=r["select"], ledger_file=r.ledger,
        channel=r.options.get("channel", "bureau"),
        allow_same_content=r.options.get("allow_same_content", False)),
    "edit": _edit,
    "impute": lambda r: steps.impute_step(r.config, r["edit"], ledger_file=r.ledger,
                                          output=r.folder),
    "weight": lambda r: steps.weight_step(r.config, r["impute"][1], r["plan"]),
    "estimate": lambda r: steps.estimate_step(r.config, r["impute"][0], r["weight"],
                                              output=r.folder, plans=r["plan"],
                                              typical=r["impute"][2]),
    "protect": lambda r: steps.protect_step(r.config, r["impute"][0], r["weight"],
                                            output=r.folder),
    "report": lambda r: steps.report_step(
        r.config, r["estimate"], r["protect"], take_all=r["impute"][0], surveys=r["weight"],
        ledger_file=r.ledger, output=r.folder, typical=r["impute"][2],
        level=r.options.get("level"), area=r.options.get("area"))}


def _run(config: SurveyConfig | str | Path, names: tuple[str, ...], output: str | Path | None,
         progress: Progress | None, options: dict) -> tuple[_Run, dict[str, float]]:
    if unknown := sorted(set(options) - set(_OPTIONS)):
        raise TypeError(f"unknown options {unknown}; the options are {list(_OPTIONS)}")
    config = steps.as_config(config)
    if options.get("seed") is not None:  # recorded in sample_metadata.json
        config = with_settings(config, "survey", seed=int(options["seed"]))
    folder = config.output_folder(output)
    run, seconds = _Run(config, folder, config.ledger_path(folder), options), {}
    for name in names:
        if progress is not None:
            progress(name, None, None)
        start = time.perf_counter()
        run.results[name] = _CALL[name](run)
        seconds[name] = time.perf_counter() - start
        if progress is not None:
            progress(name, run.results[name], seconds[name])
    return run, seconds


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
    >>> sorted(result.samples[2006]["part"].unique())
    ['sample', 'take_all', 'typical']
    >>> [step.kind for step in result.surveys["2006Q4"].weighting]
    ['nonresponse', 'calibration']
    >>> print(result.protected["table0:gross_output"])  # city x industry
    gross_output: 165 cells, 8 primary, 5 secondary suppressions; audit: all protected
    """
    run, seconds = _run(config, STEPS, output, progress, {})
    r = run.results
    return CycleResult(config=run.config, output=run.folder, plans=r["plan"],
                       samples=r["select"], returns_files=r["simulate"][0],
                       injected=r["simulate"][1], ledger_file=run.ledger, edits=r["edit"],
                       take_all=r["impute"][0], sample=r["impute"][1], surveys=r["weight"],
                       estimates=r["estimate"], protected=r["protect"],
                       content=r["report"][0], files=r["report"][1], seconds=seconds,
                       typical=r["impute"][2])


def run_command(config: SurveyConfig | str | Path, command: str, *,
                output: str | Path | None = None, progress: Progress | None = None,
                **options: Any) -> Any:
    """``survey <command>``: runs the steps of ``COMMANDS[command]``, reading the earlier
    steps' results from what the earlier commands wrote (:data:`_READ`), with ``options``
    ``seed``, ``files`` (``{period: file}``), ``channel``, ``allow_same_content``, ``level``
    and ``area``; returns the last step's result.

    >>> import tempfile
    >>> from survey.pipeline import DEMO_CONFIG
    >>> sorted(run_command(DEMO_CONFIG, "plan", output=tempfile.mkdtemp()))
    [2005, 2006]
    >>> run_command(DEMO_CONFIG, "estimate", output=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: no ledger at .../ledger.duckdb; run `survey ingest` first
    """
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r}; the commands are {list(COMMANDS)}")
    return _run(config, COMMANDS[command], output, progress, options)[0].results[
        COMMANDS[command][-1]]
