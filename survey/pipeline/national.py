"""The national cycle out of core: plan -> select -> returns -> ingest -> edit -> impute ->
weight -> estimate -> disclose -> bulletin on a synthetic register of N firms (issue 18).

Every pass over units runs in DuckDB within the engine's memory limit; numpy
finishes the statistics on small tables (strata, classes, domains):

==========  ================================================================  ====================
step        what                                                              output
==========  ================================================================  ====================
register    the synthetic register (:func:`generate_national_register`)      ``register.parquet``
prn         permanent random numbers stored with it (:func:`write_prn`)       ``register_prn.parquet``
plan        N, sum, sum of squares of last year's revenue per stratum (city   ``plan.parquet``
            x industry x size class, :func:`stratum_moments`); Neyman
            allocation in numpy (:func:`survey.plan.allocation.allocate`)
select      PRN selection per stratum (:func:`select_prn`)                    ``sample.parquet``
returns     two quarters of year-to-date returns of the take-all and          ``returns/``
            sampled firms (:func:`generate_national_returns`)
ingest      both quarters into the ledger, inside DuckDB (checks in SQL)      ``ledger.duckdb``
edit        the demo form's default edit rules on the quarter, as SQL         ``edit_summary.csv``,
                                                                              ``edit_failures.parquet``
impute      ONS ratio-of-means links per industry (forward from the           ``imputed.parquet``,
            previous quarter, construction from last year's revenue), SQL,    ``links.csv``
            for each value and its same months of last year
            (``{var}_ytd_last_year``, markers ``{var}_last_year_marker``)
weight      design weights and fpc of the take-all and sampled strata joined  ``weighted.parquet``,
            to the imputed returns, then calibrated to the register (GREG:    ``calibration.csv``
            take-some firms per province and their revenue of last year; the
            take-all firms a cell of their own, weight 1) in SQL
            (:meth:`OutOfCoreSurvey.calibrate`, :func:`calibration_totals`)
estimate    totals by sector, province, industry, province x industry, zone   ``estimates.csv``,
            and channel with SEs from the calibration residuals (the GREG     ``growth.csv``
            variance, :func:`survey.estimation.outofcore.scan` +
            ``calibrate``); growth on the same firms' last-year totals with
            its linearised SE (:func:`survey.quarterly.growth.growth_table`)
disclose    cell suppression of the province x industry table of each         ``disclosure/``
            variable: per-cell firms, total, largest contributions in SQL
            (``publish.disclosure.outofcore``), then the numpy / HiGHS step
bulletin    headline, tables by sector, province, industry, province x        ``bulletin/``
            industry, zone and channel with growth and the suppressions, the
            growth chart, quality and methods note as HTML, Excel and CSV
            (``write_bulletin`` of ``publish.report.national``) and a
            Markdown page
==========  ================================================================  ====================

Resumable: each step writes its output, then a marker ``.done/<step>.json``
(rows, seconds); a rerun skips the finished steps and reruns a step whose
marker is missing and every step after it (``restart=True`` redoes all).

What the bulletin of the in-memory cycle has and this one has not yet: the
quarterly series (only two quarters are generated), the combined take-all +
sampled estimator's parts and enterprise groups in disclosure control; see
``docs/scale.md``. The weights are calibrated to register totals as in the
in-memory cycle (equal to :meth:`survey.Survey.calibrate`'s to 1e-10).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.engine import Engine, sql_finite, sql_literal
from survey.errors import SurveyError
from survey.pipeline.national_input import input_stamps, register_files, returns_files
from survey.publish.disclosure.outofcore import protect_out_of_core
from survey.publish.report.national import UNIT, national_bulletin_content
from survey.quarterly.growth import estimate_table, growth_table

__all__ = ["BREAKDOWNS", "CALIBRATION_CELL", "CALIBRATION_SIZE", "DISCLOSURE_TABLE", "LAST_YEAR",
           "NATIONAL_STEPS", "TAKE_ALL_CELL", "TAKE_SOME", "NationalResult", "calibration_totals",
           "design", "marker_of", "read_calibration", "run_national"]

#: The steps of the national chain, in order.
NATIONAL_STEPS: tuple[str, ...] = (
    "register", "prn", "plan", "select", "returns", "ingest", "edit", "impute", "weight",
    "estimate", "disclose", "bulletin",
)
#: Size classes of last year's revenue (thousand yuan) in the take-some strata.
SIZE_BOUNDS: tuple[float, float] = (1000.0, 5000.0)
STRATA: tuple[str, ...] = ("city", "industry", "size_class")
VARIABLES: tuple[str, ...] = ("gross_output_ytd", "revenue_ytd")
#: Each variable's value for the same months of last year (the ledger item).
LAST_YEAR: dict[str, str] = {v: f"{v}_last_year" for v in VARIABLES}
#: The breakdowns of the estimates and the bulletin: region, industry, their table, the
#: specialised zones and the three channels (each firm's membership, as text).
BREAKDOWNS: dict[str, list[str] | None] = {
    "sector": None, "province": ["province"], "industry": ["industry"],
    "province_industry": ["province", "industry"], "zone": ["zone"],
    "channel_bureau": ["bureau_register"], "channel_federation": ["federation"],
    "channel_zone": ["specialised_zones"]}
#: Calibration to the register: the cell (province of a take-some firm, or the take-all
#: cell) and the take-some firms' revenue of last year (0 for take-all firms).
CALIBRATION_CELL, CALIBRATION_SIZE, TAKE_ALL_CELL = "calibration_cell", "calibration_size", "take-all"
# last year's revenue, 0 for a firm without one (born this year: NaN in the register)
_REVENUE_OR_0 = (f"CASE WHEN {sql_finite('CAST(revenue_prev_year AS DOUBLE)')} "
                 "THEN CAST(revenue_prev_year AS DOUBLE) ELSE 0.0 END")
#: The take-some part of the register (stratified and sampled): below the designated size,
#: with last year's revenue. New firms have NaN there (the generator's, and your register's
#: missing values are stored so): they are in it, and their size for the size classes and
#: the Neyman allocation is 0 (``_REVENUE_OR_0``: no revenue last year). (A NaN size had
#: sorted above every boundary: births joined the top size class and made those strata's
#: standard deviation NaN, so they got the minimum allocation.)
TAKE_SOME = "NOT above_size AND revenue_prev_year IS NOT NULL"
#: Register columns the sample keeps and the estimates are broken down by.
_CLASSIFICATION = ("zone", "in_bureau", "in_federation", "in_zone")
#: The two-way table protected by cell suppression (its margins are the province,
#: industry and sector tables).
DISCLOSURE_TABLE: tuple[str, str] = ("province", "industry")


def marker_of(variable: str) -> str:
    """The marker column of a value of the national files.

    ``{var}_ytd`` -> ``{var}_marker`` (as the ledger's quarter view);
    ``{var}_ytd_last_year`` -> ``{var}_last_year_marker``.

    Examples
    --------
    >>> marker_of("revenue_ytd"), marker_of("revenue_ytd_last_year")
    ('revenue_marker', 'revenue_last_year_marker')
    """
    if variable.endswith("_ytd_last_year"):
        return variable.removesuffix("_ytd_last_year") + "_last_year_marker"
    return variable.removesuffix("_ytd") + "_marker"


class NationalError(SurveyError):
    """A step of the national chain failed (the message names the step)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class NationalResult:
    """What :func:`run_national` did.

    Attributes
    ----------
    folder : pathlib.Path
    steps : pandas.DataFrame
        One row per step: ``step, status`` (``"ran"`` or ``"skipped"``),
        ``rows, seconds, rows_per_second``.
    estimates : pandas.DataFrame or None
        ``breakdown, domain, variable, estimate, se, cv, ci_low, ci_high, df, n``
        (``None`` when ``until`` stopped before the estimate step).
    growth : pandas.DataFrame or None
        Year-on-year growth on a comparable basis (:func:`survey.quarterly.growth.growth_table`):
        ``breakdown, domain, variable, current, last_year, growth, se,
        ci_low, ci_high, level``.
    """

    folder: Path
    steps: pd.DataFrame
    estimates: pd.DataFrame | None = field(repr=False)
    growth: pd.DataFrame | None = field(repr=False)

    def ran(self) -> list[str]:
        """The steps that ran in this call (not skipped)."""
        return self.steps.loc[self.steps["status"] == "ran", "step"].tolist()


def _printer(progress: Any) -> Callable[[str], None]:
    if progress is False or progress is None:
        return lambda line: None
    if callable(progress):
        return progress
    try:
        from rich.console import Console

        console = Console(highlight=False)
        return lambda line: console.print(line)
    except ImportError:  # pragma: no cover - rich is a dependency
        return lambda line: print(line, flush=True)


def run_national(
    folder: str | os.PathLike,
    *,
    register: str | os.PathLike | None = None,
    returns: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    firms: int | None = None,
    engine: Engine | None = None,
    seed: int = 2018,
    fraction: float = 0.02,
    periods: tuple[str, str] = ("2018Q1", "2018Q2"),
    restart: bool = False,
    until: str | None = None,
    progress: Any = True,
) -> NationalResult:
    """Run the national cycle out of core, on your register and returns or synthetic ones.

    Parameters
    ----------
    folder : str or path
        Where every step writes (the 30M-firm run needs about 5 GB).
    register : str or path, optional
        Your register: a Parquet file, a glob of Parquet files, or CSV file(s)
        (any encoding of :func:`survey.register.sql.csv_to_parquet`: UTF-8,
        GBK/GB18030...), with the columns of
        :data:`survey.datasets.national.NATIONAL_REGISTER_COLUMNS` (the optional
        ones of ``NATIONAL_REGISTER_DEFAULTS`` get their defaults). The
        ``register`` step checks it in SQL (columns and types, missing,
        duplicate and invalid USCC ids with their rows, missing strata of the
        take-some part) and writes ``register.parquet``. Default: a synthetic
        register of ``firms`` firms (:func:`generate_national_register`).
    returns : folder or mapping period -> file, optional
        Your returns (with ``register``): ``returns_<period>.parquet`` (or
        ``.csv``) per period in the folder, in the layout of
        :func:`generate_national_returns`; checked (a file per period, its
        ``period`` column, every firm id on the register). Default: synthetic.
    firms : int, optional
        Size of the synthetic register (default 1,000,000; 30,000,000 for the
        national scale of issue 18); with ``register`` it is the register's.
    engine : Engine, optional
        DuckDB settings (default ``Engine(memory_limit="4GB",
        temp_directory=<folder>/spill)``); Spark is not supported for the
        ledger steps.
    seed : int, default=2018
        Seed of the register and the PRNs; the synthetic returns use ``seed + 1``.
    fraction : float, default=0.02
        Sampling fraction of the take-some part (Neyman allocation of
        ``fraction * N`` units, at least 2 per stratum).
    periods : (str, str), default=("2018Q1", "2018Q2")
        The previous and the published quarter (same year).
    restart : bool, default=False
        Redo every step (delete the markers). A step also reruns, with every
        step after it, when its input changed: the ``register`` and ``returns``
        markers record the files' paths, sizes and modification times.
    until : str, optional
        The last step to run (one of :data:`NATIONAL_STEPS`; default: all):
        e.g. ``"estimate"`` to look at the estimates before disclosure control
        and the bulletin; a later call without it resumes from the next step.
    progress : bool or callable, default=True
        Print each step with rows and rows per second (rich if installed);
        a callable receives the lines.

    Returns
    -------
    NationalResult

    Raises
    ------
    SurveyError
        :class:`NationalError` for bad settings; when your register or
        returns fail a check, ``ColumnError`` (a column missing or of the wrong
        type), ``FrameError`` (missing, duplicate or invalid ids, missing strata,
        returns of firms not on the register), ``PeriodError`` (no file of a
        period, rows of another period) or ``TableError`` (an unreadable CSV
        file); the message names the column, the ids and their rows, the period
        or the file.

    Examples
    --------
    >>> import tempfile
    >>> result = run_national(tempfile.mkdtemp(), firms=1_000, until="weight", progress=False)
    >>> result.ran()[:3], result.ran()[-1]
    (['register', 'prn', 'plan'], 'weight')

    The estimates (``estimates.csv``, by each of :data:`BREAKDOWNS`) come with the estimate
    step; before it ``result.estimates`` is None, and a later call resumes there:

    >>> result.estimates is None, sorted(BREAKDOWNS)  # doctest: +NORMALIZE_WHITESPACE
    (True, ['channel_bureau', 'channel_federation', 'channel_zone', 'industry', 'province',
     'province_industry', 'sector', 'zone'])

    Your own files (here a register whose returns are not there yet):

    >>> from survey.datasets.national import generate_national_register
    >>> mine = tempfile.mkdtemp()
    >>> _ = generate_national_register(f"{mine}/register.parquet", 1_000, seed=2018)
    >>> run_national(f"{mine}/run", register=f"{mine}/register.parquet",
    ...              returns=f"{mine}/none", progress=False)
    Traceback (most recent call last):
    ...
    survey.errors.PeriodError: returns: no file for period 2018Q1 in ...
    """
    folder = Path(folder)
    if (register is None) != (returns is None):
        raise NationalError("run_national: give both register and returns (your own files), or "
                            "neither (a synthetic cycle)")
    if register is not None and firms is not None:
        raise NationalError("run_national: firms is the size of a synthetic register; with "
                            "register it is your register's")
    firms = 1_000_000 if firms is None else int(firms)
    if register is None and firms < 1000:
        raise NationalError(f"run_national: firms={firms} is too small (at least 1000)")
    if not 0 < fraction < 1:
        raise NationalError(f"run_national: fraction={fraction} must be in (0, 1)")
    if until is not None and until not in NATIONAL_STEPS:
        raise NationalError(f"run_national: until={until!r} is not a step; the steps are "
                            + ", ".join(NATIONAL_STEPS))
    last = NATIONAL_STEPS.index(until) if until is not None else len(NATIONAL_STEPS) - 1
    periods = tuple(periods)
    if len(periods) != 2:
        raise NationalError(f"run_national: periods={periods} must be the previous and the "
                            "published quarter")
    user = None if register is None else (register_files(register),
                                           returns_files(returns, periods))
    folder.mkdir(parents=True, exist_ok=True)
    engine = engine or Engine(memory_limit="4GB", temp_directory=str(folder / "spill"))
    done = folder / ".done"
    if restart and done.exists():
        shutil.rmtree(done)
    done.mkdir(exist_ok=True)
    say = _printer(progress)
    ctx = _Context(folder=folder, firms=firms, engine=engine, seed=int(seed),
                   fraction=float(fraction), periods=periods,
                   register=None if user is None else user[0],
                   returns=None if user is None else user[1])
    inputs = input_stamps(ctx.register, ctx.returns, firms=firms, seed=ctx.seed)
    rows = []
    dirty = False
    what = (f"{firms:,} firms" if user is None
            else "register " + ", ".join(p.name for p in user[0][:3]) + (" ..." * (len(user[0]) > 3)))
    say(f"national cycle: {what} in {folder} (memory_limit={engine.memory_limit})")
    for name in NATIONAL_STEPS[:last + 1]:
        marker = done / f"{name}.json"
        info = json.loads(marker.read_text()) if marker.exists() and not dirty else None
        if info is not None and info.pop("input", None) == inputs.get(name):
            rows.append({"step": name, "status": "skipped", **info})
            say(f"  {name:<9} done before ({info['rows']:,} rows), skipped")
        else:
            if info is not None:
                say(f"  {name:<9} its input changed since the last run: rerun from here")
            dirty = True  # this step and every later one run
            for later in NATIONAL_STEPS[NATIONAL_STEPS.index(name):]:
                (done / f"{later}.json").unlink(missing_ok=True)
            t0 = time.perf_counter()
            try:
                n_rows = int(_STEPS[name](ctx))
            except SurveyError:
                raise
            except Exception as exc:
                raise NationalError(f"national step {name!r} failed: {exc}") from exc
            seconds = time.perf_counter() - t0
            info = {"rows": n_rows, "seconds": round(seconds, 3),
                    "rows_per_second": round(n_rows / seconds) if seconds > 0 else None}
            marker.write_text(json.dumps({**info, "input": inputs.get(name)}))
            rows.append({"step": name, "status": "ran", **info})
            rate = f"{n_rows / seconds:,.0f} rows/s" if seconds > 0 else ""
            say(f"  {name:<9} {n_rows:>12,} rows {seconds:8.1f} s  {rate}")
        if name == "register" and user is not None:
            ctx = replace(ctx, firms=int(info["rows"]))  # the register's firms
    estimated = last >= NATIONAL_STEPS.index("estimate")
    estimates = pd.read_csv(folder / "estimates.csv", dtype={"domain": str}) if estimated else None
    growth = pd.read_csv(folder / "growth.csv", dtype={"domain": str}) if estimated else None
    return NationalResult(folder=folder, steps=pd.DataFrame(rows), estimates=estimates,
                          growth=growth)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Context:
    folder: Path
    firms: int
    engine: Engine
    seed: int
    fraction: float
    periods: tuple
    #: Your register's files and your returns' file per period (None: synthetic).
    register: tuple[Path, ...] | None = None
    returns: dict[str, Path | None] | None = None

    def path(self, name: str) -> Path:
        return self.folder / name

    def session(self) -> Any:
        return self.engine.session()

    def lit(self, path: Path | str) -> str:
        return sql_literal(path)

    def take_some_view(self) -> str:
        from survey.register.sql import size_class_sql

        return (f"SELECT *, {size_class_sql(_REVENUE_OR_0, SIZE_BOUNDS)} AS size_class, "
                f"{_REVENUE_OR_0} AS plan_size "
                f"FROM read_parquet({self.lit(self.path('register_prn.parquet'))}) "
                f"WHERE {TAKE_SOME}")


# ---------------------------------------------------------------------------
# the steps: each returns its row count
# ---------------------------------------------------------------------------
def _register(ctx: _Context) -> int:
    from survey.datasets.national import (
        NATIONAL_REGISTER_COLUMNS,
        NATIONAL_REGISTER_DEFAULTS,
        generate_national_register,
    )
    from survey.register.sql import load_register

    if ctx.register is None:
        generate_national_register(ctx.path("register.parquet"), ctx.firms, seed=ctx.seed)
        return ctx.firms
    # your register, checked in SQL: the strata of the take-some part, the breakdowns of all
    return load_register(list(ctx.register), ctx.path("register.parquet"),
                         columns=NATIONAL_REGISTER_COLUMNS, defaults=NATIONAL_REGISTER_DEFAULTS,
                         strata=["above_size", "province", "industry"], part=TAKE_SOME,
                         part_strata=["city", "industry"], part_name="take-some part",
                         missing={"revenue_prev_year": "CAST('NaN' AS DOUBLE)"},
                         engine=ctx.session())


def _prn(ctx: _Context) -> int:
    from survey.plan.sql import write_prn

    write_prn(str(ctx.path("register.parquet")), ctx.path("register_prn.parquet"), seed=ctx.seed,
              engine=ctx.engine)
    return ctx.firms


def _plan(ctx: _Context) -> int:
    from survey.plan.allocation import allocate
    from survey.register.sql import stratum_moments

    s = ctx.session()
    s.execute(f"CREATE OR REPLACE TEMP VIEW national_take_some AS {ctx.take_some_view()}")
    mom = stratum_moments("national_take_some", ["plan_size"], strata=list(STRATA),
                          engine=ctx.engine)
    N = mom["N"].to_numpy(dtype=float)
    s1 = mom["plan_size_sum"].to_numpy(dtype=float)
    s2 = mom["plan_size_sumsq"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(N > 1, (s2 - s1 * s1 / N) / (N - 1), 0.0)
    sd = np.sqrt(np.clip(np.nan_to_num(var, nan=0.0, posinf=0.0), 0.0, None))
    n_total = max(int(round(ctx.fraction * N.sum())), 2 * len(N))
    alloc = allocate(N.astype(int), min(n_total, int(N.sum())), method="neyman", sd=sd)
    plan = mom[list(STRATA)].assign(N=N.astype(int), n=np.asarray(alloc.n, dtype=int), sd=sd)
    plan.to_parquet(ctx.path("plan.parquet"), index=False)
    return int(N.sum())


def _select(ctx: _Context) -> int:
    from survey.plan.sql import select_prn

    s = ctx.session()
    s.execute(f"CREATE OR REPLACE TEMP VIEW national_take_some AS {ctx.take_some_view()}")
    plan = pd.read_parquet(ctx.path("plan.parquet"))
    sel = select_prn("national_take_some", plan[[*STRATA, "n"]], strata=list(STRATA),
                     columns=["firm_id", "province", "city", "industry", "revenue_prev_year",
                              *_CLASSIFICATION],
                     output=ctx.path("sample.parquet"), engine=ctx.engine)
    return int(sel.n)


def _returns(ctx: _Context) -> int:
    from survey.datasets.national import generate_national_returns

    for name in ("ledger.duckdb", "ledger.duckdb.wal"):  # the ingest step rebuilds it
        ctx.path(name).unlink(missing_ok=True)
    if ctx.returns is not None:  # yours, checked and copied
        from survey.pipeline.national_input import copy_returns

        return sum(copy_returns(f, ctx.path("returns") / f"returns_{p}.parquet", p,
                                ctx.path("register.parquet"), ctx.session())
                   for p, f in ctx.returns.items())
    paths = generate_national_returns(ctx.path("register.parquet"), ctx.path("returns"),
                                      list(ctx.periods), sample=ctx.path("sample.parquet"),
                                      seed=ctx.seed + 1)
    s = ctx.session()
    listed = ", ".join(ctx.lit(p) for p in paths)
    return int(s.sql(f"SELECT COUNT(*) AS n FROM read_parquet([{listed}])")["n"].iloc[0])


def _ledger(ctx: _Context) -> Any:
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    return Ledger.open(ctx.path("ledger.duckdb"), form=DEMO_FORM, engine=ctx.engine)


def _ingest(ctx: _Context) -> int:
    rows = 0
    with _ledger(ctx) as ledger:
        for period in ctx.periods:
            report = ledger.ingest(ctx.path("returns") / f"returns_{period}.parquet", period,
                                   "bureau", author="run_national")
            rows += report.rows
    return rows


def _edit(ctx: _Context) -> int:
    from survey.form import DEMO_FORM
    from survey.returns.sql import check_sql

    with _ledger(ctx) as ledger:
        quarter = ledger.quarter_relation(ctx.periods[1])
        report = check_sql(None, quarter, form=DEMO_FORM, max_failures=100_000)
        n = int(quarter.engine.session().sql(f"SELECT COUNT(*) AS n FROM ({quarter.sql})")
                ["n"].iloc[0])
    report.summary.to_csv(ctx.path("edit_summary.csv"), index=False)
    report.failures.to_parquet(ctx.path("edit_failures.parquet"), index=False)
    return n


def _design_sql(ctx: _Context) -> str:
    """The take-all and sampled units with their strata, weights, fpc and register columns."""
    sample = ctx.lit(ctx.path("sample.parquet"))
    reg = ctx.lit(ctx.path("register_prn.parquet"))
    # firms outside every zone and the channel flags as labels: every domain has a name
    labels = ("COALESCE(zone, 'not in a zone') AS zone, "
              "CASE WHEN in_bureau THEN 'on the register' ELSE 'not on the register' END "
              "AS bureau_register, "
              "CASE WHEN in_federation THEN 'member' ELSE 'not a member' END AS federation, "
              "CASE WHEN in_zone THEN 'in a zone' ELSE 'outside the zones' END "
              "AS specialised_zones")
    return (
        f"SELECT firm_id, province, industry, revenue_prev_year, {labels}, stratum, "
        f"CAST(design_weight AS DOUBLE) AS design_weight, CAST(N_h AS DOUBLE) AS N_h, "
        f"province AS {CALIBRATION_CELL}, {_REVENUE_OR_0} AS {CALIBRATION_SIZE} "
        f"FROM read_parquet({sample}) "
        f"UNION ALL SELECT firm_id, province, industry, revenue_prev_year, {labels}, "
        f"'take_all' AS stratum, 1.0 AS design_weight, CAST(COUNT(*) OVER () AS DOUBLE) AS N_h, "
        f"'{TAKE_ALL_CELL}' AS {CALIBRATION_CELL}, 0.0 AS {CALIBRATION_SIZE} "
        f"FROM read_parquet({reg}) WHERE above_size"
    )


def _imputed_variables() -> list[str]:
    """The values imputed and weighted: each variable and its last-year value."""
    return [name for v in VARIABLES for name in (v, LAST_YEAR[v])]


def _impute(ctx: _Context) -> int:
    from survey.returns.sql import impute_ratio, item_markers_sql

    design = _design_sql(ctx)
    links_all = []
    names = _imputed_variables()
    with _ledger(ctx) as ledger:
        eng = ledger.quarter_relation(ctx.periods[1]).engine
        s = eng.session()

        for k, period in enumerate(ctx.periods):
            q = ledger.quarter_relation(period, register=False).sql
            # the quarter view carries the markers of the current values; the ledger's
            # markers of last year's values are read from its items
            marks = item_markers_sql(period, {LAST_YEAR[v]: marker_of(LAST_YEAR[v])
                                              for v in VARIABLES})
            cols = ", ".join(f'q."{v}", q."{marker_of(v)}"' for v in VARIABLES)
            cols += "".join(f', q."{LAST_YEAR[v]}", m."{marker_of(LAST_YEAR[v])}"'
                            for v in VARIABLES)
            s.execute(
                f"CREATE OR REPLACE TEMP TABLE national_q{k} AS SELECT d.firm_id, d.industry, "
                f"d.revenue_prev_year, {cols} FROM ({design}) d LEFT JOIN ({q}) q "
                f"ON q.firm_id = d.firm_id LEFT JOIN ({marks}) m ON m.firm_id = d.firm_id"
            )
        current = "national_q1"
        for j, var in enumerate(names):
            out = ctx.path(f"imputed_{j}.parquet")
            links, path = impute_ratio(s, current, "national_q0", var, by="industry",
                                       auxiliary="revenue_prev_year", marker=marker_of(var),
                                       output=out, unresolved="keep")
            links_all.append(links.assign(variable=var))
            current = str(path)
    final = ctx.path("imputed.parquet")
    os.replace(current, final)
    for j in range(len(names) - 1):
        ctx.path(f"imputed_{j}.parquet").unlink(missing_ok=True)
    pd.concat(links_all, ignore_index=True).to_csv(ctx.path("links.csv"), index=False)
    s = ctx.session()
    return int(s.sql(f"SELECT COUNT(*) AS n FROM read_parquet({ctx.lit(final)})")["n"].iloc[0])


def _weight(ctx: _Context) -> int:
    from survey.estimation.outofcore import scan

    s = ctx.session()
    vals = ", ".join(f'i."{v}", i."{marker_of(v)}"' for v in _imputed_variables())
    columns = ["firm_id", "province", "industry", "zone", "bureau_register", "federation",
               "specialised_zones", "stratum", "design_weight", "N_h", CALIBRATION_CELL,
               CALIBRATION_SIZE]
    design_file = ctx.path("design.parquet")
    s.write_parquet(
        f"SELECT {', '.join('d.' + c for c in columns)}, {vals} "
        f"FROM ({_design_sql(ctx)}) d JOIN read_parquet({ctx.lit(ctx.path('imputed.parquet'))}) i "
        "USING (firm_id) ORDER BY d.stratum, d.firm_id",
        design_file,
    )
    # calibrated to the register: take-some firms per province and their revenue of last
    # year; the take-all firms are their own cell (weight 1 stays 1)
    register = f"SELECT * FROM read_parquet({ctx.lit(ctx.path('register_prn.parquet'))})"
    totals = calibration_totals(s, ctx.take_some_view(), f"{register} WHERE above_size")
    pd.DataFrame([{"margin": m, "level": k, "total": t} for m, levels in totals.items()
                  for k, t in (levels.items() if isinstance(levels, dict) else [("", levels)])]
                 ).to_csv(ctx.path("calibration.csv"), index=False)
    calibrated = scan(str(design_file), design(), engine=ctx.engine).calibrate(totals)
    every = [*columns, *(c for v in _imputed_variables() for c in (v, marker_of(v)))]
    calibrated.write_weights(ctx.path("weighted.parquet"), every)
    design_file.unlink()
    return int(s.sql(f"SELECT COUNT(*) AS n FROM read_parquet("
                     f"{ctx.lit(ctx.path('weighted.parquet'))})")["n"].iloc[0])


def calibration_totals(session: Any, take_some: str, take_all: str) -> dict[str, Any]:
    """The register totals the national weights are calibrated to, in one SQL pass each:
    the number of take-some firms per province (and of take-all firms, cell
    :data:`TAKE_ALL_CELL`) and the take-some firms' revenue of last year (0 for a firm
    born this year).

    ``take_some`` and ``take_all`` are the SQL of the take-some and the take-all firms.

    Examples
    --------
    >>> import pandas as pd
    >>> from survey.engine import Engine
    >>> s = Engine(memory_limit="200MB").session()
    >>> reg = s.register(pd.DataFrame({"province": ["A", "A", "B"], "above_size": [False, True, False],
    ...                                "revenue_prev_year": [2.0, 50.0, 3.0]}))
    >>> some, every = f"SELECT * FROM {reg} WHERE NOT above_size", f"SELECT * FROM {reg} WHERE above_size"
    >>> calibration_totals(s, some, every)
    {'calibration_cell': {'A': 1.0, 'B': 1.0, 'take-all': 1.0}, 'calibration_size': 5.0}
    """
    cells = session.sql(f"SELECT province AS cell, COUNT(*) AS n FROM ({take_some}) t "
                        "GROUP BY province ORDER BY province")
    enumerated = session.sql(f"SELECT COUNT(*) AS n FROM ({take_all}) t")
    size = session.sql(f"SELECT SUM({_REVENUE_OR_0}) AS x FROM ({take_some}) t")
    counts = {str(c): float(n) for c, n in zip(cells["cell"], cells["n"], strict=True)}
    counts[TAKE_ALL_CELL] = float(enumerated["n"].iloc[0])
    return {CALIBRATION_CELL: counts, CALIBRATION_SIZE: float(size["x"].iloc[0])}


def read_calibration(path: str | Path) -> dict[str, Any]:
    """The totals written by the weight step (``calibration.csv``), as
    :meth:`~survey.estimation.outofcore.OutOfCoreSurvey.calibrate` takes them.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> pd.DataFrame({"margin": ["cell", "cell", "size"], "level": ["A", "B", None],
    ...               "total": [3.0, 4.0, 9.5]}).to_csv(p, index=False)
    >>> read_calibration(p)
    {'cell': {'A': 3.0, 'B': 4.0}, 'size': 9.5}
    """
    table = pd.read_csv(path, dtype={"margin": str, "level": str}, keep_default_na=False)
    out: dict[str, Any] = {}
    for margin, rows in table.groupby("margin", sort=False):
        if (rows["level"] == "").all():
            out[str(margin)] = float(rows["total"].iloc[0])
        else:
            out[str(margin)] = {str(k): float(t) for k, t in zip(rows["level"], rows["total"],
                                                                 strict=True)}
    return out


def design() -> Any:
    """The design of ``weighted.parquet``: strata, design weights, fpc (population sizes).

    Examples
    --------
    >>> design().strata
    'stratum'
    """
    import survey as sv

    return sv.Design(strata="stratum", weights="design_weight", fpc="N_h")


def _estimate(ctx: _Context) -> int:
    from survey.estimation.outofcore import scan

    s = scan(str(ctx.path("weighted.parquet")), design(), engine=ctx.engine).calibrate(
        read_calibration(ctx.path("calibration.csv")))  # SEs with the calibration residuals
    tables, growth = [], []
    for name, by in BREAKDOWNS.items():
        # one pass for the totals (complete cases of both variables) and each variable's
        # pair with its last-year value (the same firms in both years: the pair's complete
        # cases), = total(VARIABLES, na="drop") and total([v, LAST_YEAR[v]], na="drop"),
        # and the growth ratios v / LAST_YEAR[v] (= ratio(v, LAST_YEAR[v], na="drop")) from
        # the pairs' totals, their variance in the same pass as the totals'
        pair_groups = [[v, LAST_YEAR[v]] for v in VARIABLES]
        est, *pairs, ratios = s.totals([list(VARIABLES), *pair_groups], by=by, ratios=pair_groups)
        tables.append(estimate_table(est, name, by))
        for v, pair in zip(VARIABLES, pairs, strict=True):
            growth.append(growth_table(pair, name, by, v, LAST_YEAR[v], ratio=ratios))
    out = pd.concat(tables, ignore_index=True)
    out.to_csv(ctx.path("estimates.csv"), index=False)
    pd.concat(growth, ignore_index=True).to_csv(ctx.path("growth.csv"), index=False)
    return len(s)


def _disclose(ctx: _Context) -> int:
    s = ctx.session()
    folder = ctx.path("disclosure")
    folder.mkdir(exist_ok=True)
    source = f"read_parquet({ctx.lit(ctx.path('weighted.parquet'))})"
    rows, columns = DISCLOSURE_TABLE
    summary, n_cells = [], 0
    for v in VARIABLES:
        t0 = time.perf_counter()
        pt, given = protect_out_of_core(s, source, v, rows=rows, columns=columns,
                                        weights="weight", complete=VARIABLES)
        pt.cells.to_csv(folder / f"{v}_cells.csv", index=False)
        pt.audit.to_csv(folder / f"{v}_audit.csv", index=False)
        status = pt.cells["status"].value_counts()
        summary.append({"variable": v, "units": int(pt.cells["firms"].iloc[0]),
                        "rows_given": given, "cells": len(pt.cells),
                        "primary": int(status.get("primary", 0)),
                        "secondary": int(status.get("secondary", 0)),
                        "linear_programs": pt.linear_programs,
                        "protected": bool(pt.audit["protected"].all()),
                        "seconds": round(time.perf_counter() - t0, 3)})
        n_cells += len(pt.cells)
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    return n_cells


#: Money unit of the national files (the generator's).


def _quality(ctx: _Context) -> pd.DataFrame:
    """Response rate, imputed share of the gross output total, sample size and the range of
    the calibration adjustments (weight / design weight of the take-some firms), one SQL pass."""
    s = ctx.session()
    v, m = VARIABLES[0], marker_of(VARIABLES[0])
    g = f"CASE WHEN {CALIBRATION_CELL} <> '{TAKE_ALL_CELL}' THEN weight / design_weight END"
    q = s.sql(
        f"SELECT COUNT(*) AS n, AVG(CASE WHEN {m} IN ('returned', 'edited') THEN 1.0 ELSE 0.0 "
        f"END) AS response, SUM(CASE WHEN {m} IN ('forward_imputed', 'backward_imputed', "
        f"'constructed') THEN weight * {v} ELSE 0 END) / SUM(weight * {v}) AS imp, "
        f"MIN({g}) AS g_min, MAX({g}) AS g_max "
        f"FROM read_parquet({ctx.lit(ctx.path('weighted.parquet'))})"
    ).iloc[0]
    return pd.DataFrame({"indicator": ["response_rate", "imputed_share", "sample_size",
                                       "calibration_adjustment_min", "calibration_adjustment_max"],
                         "value": [float(q["response"]), float(q["imp"]), int(q["n"]),
                                   float(q["g_min"]), float(q["g_max"])],
                         "unit": ["%", "%", "", "", ""]})


def _suppression(ctx: _Context) -> pd.DataFrame:
    """The disclose step's patterns as ``breakdown, domain, variable, suppressed`` rows."""
    rows, columns = DISCLOSURE_TABLE
    frames = []
    for v in VARIABLES:
        cells = pd.read_csv(ctx.path("disclosure") / f"{v}_cells.csv",
                            dtype={rows: str, columns: str})
        total_r = cells["row_level"] == 0
        total_c = cells["column_level"] == 0
        breakdown = np.select([total_r & total_c, total_c, total_r],
                              ["sector", rows, columns], "_".join(DISCLOSURE_TABLE))
        domain = np.select([total_r & total_c, total_c, total_r],
                           ["all", cells[rows], cells[columns]],
                           cells[rows] + " / " + cells[columns])
        frames.append(pd.DataFrame({
            "breakdown": breakdown, "domain": domain, "variable": v,
            "suppressed": cells["status"].isin(["primary", "secondary"]).to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def _bulletin(ctx: _Context) -> int:
    from survey.publish.report import write_bulletin

    est = pd.read_csv(ctx.path("estimates.csv"), dtype={"domain": str})
    growth = pd.read_csv(ctx.path("growth.csv"), dtype={"domain": str})
    folder = ctx.path("bulletin")
    folder.mkdir(exist_ok=True)
    names = ctx.session().sql(
        f"SELECT DISTINCT industry, industry_name FROM read_parquet("
        f"{ctx.lit(ctx.path('register.parquet'))}) ORDER BY industry")
    content = national_bulletin_content(est, growth, period=ctx.periods[1], firms=ctx.firms,
                                        memory_limit=ctx.engine.memory_limit,
                                        quality=_quality(ctx), industry_names=names,
                                        suppressed=_suppression(ctx), breakdowns=BREAKDOWNS,
                                        calibration=pd.read_csv(
                                            ctx.path("calibration.csv"), dtype=str,
                                            keep_default_na=False).astype({"total": float}),
                                        synthetic=ctx.register is None)
    write_bulletin(content, folder)
    level = f"{round(100 * content.level)}%"
    lines = [f"# National industrial survey, {ctx.periods[1]}" + " (synthetic data)" * (ctx.register is None), "",
             (f"{ctx.firms:,} firms on the register; totals of the year to date in {UNIT}, "
              f"with standard errors, {level} confidence intervals and growth on a comparable "
              "basis (same firms, same months of last year). Produced out of core by "
              "`survey.pipeline.national.run_national`; the full bulletin is `bulletin.html` "
              "and `bulletin.xlsx`."), ""]
    for table in content.tables:
        if table.name == "province_industry":  # in the HTML, workbook and CSV only
            continue
        frame = table.frame
        keys = list(table.breakdown)
        cols = [*keys, "variable", "estimate", "se", "cv", "growth", "growth_ci_low",
                "growth_ci_high"]
        heads = [*keys, "variable", "estimate", "se", "cv (%)", "growth (%)",
                 f"growth {level} CI low (%)", f"growth {level} CI high (%)"]
        lines += [f"## {table.title}", "", "| " + " | ".join(heads) + " |",
                  "|" + "---|" * len(heads)]
        for row in frame[[*cols, "suppressed"]].itertuples(index=False):
            cells = [str(x) for x in row[:len(keys) + 1]]
            if row.suppressed:
                lines.append("| " + " | ".join(cells + ["x"] * 6) + " |")
                continue
            cells += [f"{row.estimate:,.0f}", f"{row.se:,.0f}", f"{100 * row.cv:.1f}"]
            cells += [f"{100 * x:.1f}" if np.isfinite(x) else ".." for x in
                      (row.growth, row.growth_ci_low, row.growth_ci_high)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["x: suppressed (disclosure control of the province x industry table).", "",
              ("Not in this bulletin (the in-memory cycle has them): the quarterly series, "
               "calibration to register totals, channels."), ""]
    (folder / "bulletin.md").write_text("\n".join(lines), encoding="utf-8")
    return len(est)


_STEPS: dict[str, Callable[[_Context], int]] = {
    "register": _register, "prn": _prn, "plan": _plan, "select": _select, "returns": _returns,
    "ingest": _ingest, "edit": _edit, "impute": _impute, "weight": _weight,
    "estimate": _estimate, "disclose": _disclose, "bulletin": _bulletin,
}
