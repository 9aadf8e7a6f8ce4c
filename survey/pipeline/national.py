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
weight      design weights and fpc of the take-all and sampled strata joined  ``weighted.parquet``
            to the imputed returns
estimate    totals by sector, province, industry and province x industry      ``estimates.csv``,
            with SEs (:func:`survey.estimation.outofcore.scan`); growth on    ``growth.csv``
            the same firms' last-year totals with its linearised SE
            (:func:`growth_table`)
disclose    cell suppression of the province x industry table of each         ``disclosure/``
            variable: per-cell firms, total, largest contributions in SQL
            (:func:`contribution_frame`), then the numpy / HiGHS step
            (:func:`protect_out_of_core`)
bulletin    headline, sector / province / industry / province x industry      ``bulletin/``
            tables with growth and the suppressions, the
            growth chart, quality and methods note as HTML, Excel and CSV
            (:func:`survey.publish.report.write_bulletin` of
            :func:`national_bulletin_content`) and a Markdown page
==========  ================================================================  ====================

Resumable: each step writes its output, then a marker ``.done/<step>.json``
(rows, seconds); a rerun skips the finished steps and reruns a step whose
marker is missing and every step after it (``restart=True`` redoes all).

What the bulletin of the in-memory cycle has and this one has not yet: the
quarterly series (only two quarters are generated), the combined take-all +
sampled estimator's parts, calibration to register totals, enterprise groups in
disclosure control, and channels; see ``docs/scale.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.engine import Engine
from survey.errors import SurveyError
from survey.io import joined_labels

__all__ = ["DISCLOSURE_TABLE", "LAST_YEAR", "NATIONAL_STEPS", "UNIT", "NationalResult",
           "contribution_frame", "design", "estimate_table", "growth_table", "marker_of",
           "national_bulletin_content", "protect_out_of_core", "run_national"]

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
BREAKDOWNS: dict[str, list[str] | None] = {"sector": None, "province": ["province"],
                                           "industry": ["industry"],
                                           "province_industry": ["province", "industry"]}
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
    estimates : pandas.DataFrame
        ``breakdown, domain, variable, estimate, se, cv, ci_low, ci_high, df, n``.
    growth : pandas.DataFrame
        Year-on-year growth on a comparable basis (:func:`growth_table`):
        ``breakdown, domain, variable, current, last_year, growth, se,
        ci_low, ci_high, level``.
    """

    folder: Path
    steps: pd.DataFrame
    estimates: pd.DataFrame = field(repr=False)
    growth: pd.DataFrame = field(repr=False)

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
    firms: int = 1_000_000,
    engine: Engine | None = None,
    seed: int = 2018,
    fraction: float = 0.02,
    periods: tuple[str, str] = ("2018Q1", "2018Q2"),
    restart: bool = False,
    progress: Any = True,
) -> NationalResult:
    """Run the national cycle out of core on a synthetic register of ``firms`` firms.

    Parameters
    ----------
    folder : str or path
        Where every step writes (the 30M-firm run needs about 5 GB).
    firms : int, default=1_000_000
        Register size (30,000,000 for the national scale of issue 18).
    engine : Engine, optional
        DuckDB settings (default ``Engine(memory_limit="4GB",
        temp_directory=<folder>/spill)``); Spark is not supported for the
        ledger steps.
    seed : int, default=2018
        Seed of the register; the returns use ``seed + 1``, the PRNs ``seed``.
    fraction : float, default=0.02
        Sampling fraction of the take-some part (Neyman allocation of
        ``fraction * N`` units, at least 2 per stratum).
    periods : (str, str), default=("2018Q1", "2018Q2")
        The previous and the published quarter (same year).
    restart : bool, default=False
        Redo every step (delete the markers).
    progress : bool or callable, default=True
        Print each step with rows and rows per second (rich if installed);
        a callable receives the lines.

    Returns
    -------
    NationalResult

    Examples
    --------
    >>> import tempfile
    >>> result = run_national(tempfile.mkdtemp(), firms=5_000, progress=False)
    >>> result.ran()[:3]
    ['register', 'prn', 'plan']
    >>> sorted(result.estimates["breakdown"].unique())
    ['industry', 'province', 'province_industry', 'sector']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if firms < 1000:
        raise NationalError(f"run_national: firms={firms} is too small (at least 1000)")
    if not 0 < fraction < 1:
        raise NationalError(f"run_national: fraction={fraction} must be in (0, 1)")
    engine = engine or Engine(memory_limit="4GB", temp_directory=str(folder / "spill"))
    done = folder / ".done"
    if restart and done.exists():
        shutil.rmtree(done)
    done.mkdir(exist_ok=True)
    say = _printer(progress)
    ctx = _Context(folder=folder, firms=int(firms), engine=engine, seed=int(seed),
                   fraction=float(fraction), periods=tuple(periods))
    rows = []
    dirty = False
    say(f"national cycle: {firms:,} firms in {folder} (memory_limit={engine.memory_limit})")
    for name in NATIONAL_STEPS:
        marker = done / f"{name}.json"
        if marker.exists() and not dirty:
            info = json.loads(marker.read_text())
            rows.append({"step": name, "status": "skipped", **info})
            say(f"  {name:<9} done before ({info['rows']:,} rows), skipped")
            continue
        dirty = True  # this step and every later one run
        marker.unlink(missing_ok=True)
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
        marker.write_text(json.dumps(info))
        rows.append({"step": name, "status": "ran", **info})
        rate = f"{n_rows / seconds:,.0f} rows/s" if seconds > 0 else ""
        say(f"  {name:<9} {n_rows:>12,} rows {seconds:8.1f} s  {rate}")
    estimates = pd.read_csv(folder / "estimates.csv", dtype={"domain": str})
    growth = pd.read_csv(folder / "growth.csv", dtype={"domain": str})
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

    def path(self, name: str) -> Path:
        return self.folder / name

    def session(self) -> Any:
        return self.engine.session()

    def lit(self, path: Path | str) -> str:
        return "'" + str(path).replace("'", "''") + "'"

    def take_some_view(self) -> str:
        from survey.register.sql import size_class_sql

        return (f"SELECT *, {size_class_sql('revenue_prev_year', SIZE_BOUNDS)} AS size_class "
                f"FROM read_parquet({self.lit(self.path('register_prn.parquet'))}) "
                "WHERE NOT above_size AND revenue_prev_year IS NOT NULL")


# ---------------------------------------------------------------------------
# the steps: each returns its row count
# ---------------------------------------------------------------------------
def _register(ctx: _Context) -> int:
    from survey.datasets.national import generate_national_register

    generate_national_register(ctx.path("register.parquet"), ctx.firms, seed=ctx.seed)
    return ctx.firms


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
    mom = stratum_moments("national_take_some", ["revenue_prev_year"], strata=list(STRATA),
                          engine=ctx.engine)
    N = mom["N"].to_numpy(dtype=float)
    s1 = mom["revenue_prev_year_sum"].to_numpy(dtype=float)
    s2 = mom["revenue_prev_year_sumsq"].to_numpy(dtype=float)
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
                     columns=["firm_id", "province", "city", "industry", "revenue_prev_year"],
                     output=ctx.path("sample.parquet"), engine=ctx.engine)
    return int(sel.n)


def _returns(ctx: _Context) -> int:
    from survey.datasets.national import generate_national_returns

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
    return (
        f"SELECT firm_id, province, industry, revenue_prev_year, stratum, "
        f"CAST(design_weight AS DOUBLE) AS design_weight, CAST(N_h AS DOUBLE) AS N_h "
        f"FROM read_parquet({sample}) "
        f"UNION ALL SELECT firm_id, province, industry, revenue_prev_year, 'take_all' AS stratum, "
        f"1.0 AS design_weight, CAST(COUNT(*) OVER () AS DOUBLE) AS N_h "
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
    s = ctx.session()
    vals = ", ".join(f'i."{v}", i."{marker_of(v)}"' for v in _imputed_variables())
    s.write_parquet(
        f"SELECT d.firm_id, d.province, d.industry, d.stratum, d.design_weight, d.N_h, {vals} "
        f"FROM ({_design_sql(ctx)}) d JOIN read_parquet({ctx.lit(ctx.path('imputed.parquet'))}) i "
        "USING (firm_id) ORDER BY d.stratum, d.firm_id",
        ctx.path("weighted.parquet"),
    )
    return int(s.sql(f"SELECT COUNT(*) AS n FROM read_parquet("
                     f"{ctx.lit(ctx.path('weighted.parquet'))})")["n"].iloc[0])


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

    s = scan(str(ctx.path("weighted.parquet")), design(), engine=ctx.engine)
    tables, growth = [], []
    for name, by in BREAKDOWNS.items():
        est = s.total(list(VARIABLES), by=by, na="drop")
        tables.append(estimate_table(est, name, by))
        for v in VARIABLES:
            # the same firms in both years: complete cases of the value and its last-year value
            pair = s.total([v, LAST_YEAR[v]], by=by, na="drop")
            ratio = s.ratio(v, LAST_YEAR[v], by=by, na="drop")
            growth.append(growth_table(pair, name, by, v, LAST_YEAR[v], ratio=ratio))
    out = pd.concat(tables, ignore_index=True)
    out.to_csv(ctx.path("estimates.csv"), index=False)
    pd.concat(growth, ignore_index=True).to_csv(ctx.path("growth.csv"), index=False)
    return len(s)


def estimate_table(est: Any, breakdown: str, by: list[str] | None) -> pd.DataFrame:
    """An Estimate as rows ``breakdown, domain, variable, estimate, se, cv, ci_low, ci_high,
    df, n``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
    >>> est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y")
    >>> estimate_table(est, "sector", None)[["domain", "estimate"]].values.tolist()
    [['all', 32.0]]
    """
    table = est.table()
    domain = (joined_labels(table, by, " / ").to_numpy() if by
              else np.full(len(table), "all", dtype=object))
    out = pd.DataFrame({"breakdown": breakdown, "domain": domain})
    for c in ("variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n"):
        out[c] = table[c].to_numpy()
    return out


def growth_table(est: Any, breakdown: str, by: list[str] | None, current: str,
                 last_year: str, *, ratio: Any = None, level: float | None = None) -> pd.DataFrame:
    """Year-on-year growth ``Y / X - 1`` per domain, with its linearised SE and interval.

    ``Y`` is the domain total of ``current`` and ``X`` that of ``last_year``
    over the same units (estimate both in one call with ``na="drop"``). The
    linearised (delta-method) variance of ``R = Y / X`` is, from the
    per-domain covariance of the two totals (``est.cov``)::

        var(R) = (V_YY - 2 R V_YX + R^2 V_XX) / X^2

    the variance of :meth:`survey.Survey.ratio` (R ``svyratio``). The
    difference of nearly equal terms loses digits where ``Y`` and ``R X``
    hardly vary apart (a domain of take-all firms: on the national test run
    the SE of one such cell, 3.5e-5, came out 1e-9 off in relative terms), so
    when ``ratio`` is given (the same domains' ``ratio(current, last_year,
    na="drop")``, whose SE comes from the linearised scores ``(y - R x) / X``
    themselves) ``R`` and its SE are taken from it; ``Y`` and ``X`` always
    from ``est``. The growth has the SE of ``R`` and a t interval with the
    design df (as the totals').

    Parameters
    ----------
    est : Estimate
        Totals of (at least) ``current`` and ``last_year``, by ``by``.
    breakdown : str
        Name written in the ``breakdown`` column.
    by : list of str or None
    current, last_year : str
        The two variables of ``est``.
    ratio : Estimate, optional
        ``ratio(current, last_year, by=by, na="drop")`` of the same data.
    level : float, optional
        Confidence level (default: the estimate's).

    Returns
    -------
    pandas.DataFrame
        ``breakdown, domain, variable, current, last_year, growth, se,
        ci_low, ci_high, level`` (``variable`` is ``current``; growth as a
        fraction, 0.05 = 5%).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [2.0, 4, 3, 7],
    ...                    "x": [1.0, 3, 2, 6]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> g = growth_table(s.total(["y", "x"]), "sector", None, "y", "x")
    >>> float(g["growth"].iloc[0])  # 42 / 32 - 1
    0.3125
    >>> r = growth_table(s.total(["y", "x"]), "sector", None, "y", "x", ratio=s.ratio("y", "x"))
    >>> bool(abs(r["se"].iloc[0] - g["se"].iloc[0]) < 1e-12)
    True
    """
    from survey.estimation.results import t_quantile

    names = list(est.variables)
    missing = [v for v in (current, last_year) if v not in names]
    if missing:
        raise NationalError(f"growth_table: {missing} are not variables of the estimate "
                            f"({names})")
    i, j = names.index(current), names.index(last_year)
    point = np.asarray(est.point, dtype=float)
    Y, X = point[:, i], point[:, j]
    table = est.table()
    keys = table[table["variable"] == current].reset_index(drop=True)
    domain = (joined_labels(keys, by, " / ").to_numpy() if by
              else np.full(len(keys), "all", dtype=object))
    if ratio is None:
        cov = np.asarray(est.cov, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            R = np.where(X != 0, Y / X, np.nan)
            var = (cov[:, i, i] - 2 * R * cov[:, i, j] + R * R * cov[:, j, j]) / (X * X)
        se = np.sqrt(np.clip(var, 0.0, None))
    else:
        label = f"{current}/{last_year}"
        rt = ratio.table()
        rt = rt[rt["variable"] == label].reset_index(drop=True)
        if len(rt) == 0:
            raise NationalError(f"growth_table: the ratio estimate has no {label!r} rows")
        rdom = (joined_labels(rt, by, " / ").to_numpy() if by
                else np.full(len(rt), "all", dtype=object))
        at = pd.Series(np.arange(len(rt)), index=rdom).reindex(domain)
        if at.isna().any():
            raise NationalError(f"growth_table: domains {list(at.index[at.isna()])[:5]} of the "
                                "totals are not in the ratio estimate")
        pos = at.to_numpy(dtype=np.int64)
        R = rt["estimate"].to_numpy(dtype=float)[pos]
        se = rt["se"].to_numpy(dtype=float)[pos]
    level = float(est.level if level is None else level)
    q = t_quantile(level, est.df)
    return pd.DataFrame({
        "breakdown": breakdown, "domain": domain, "variable": current, "current": Y,
        "last_year": X, "growth": R - 1.0, "se": se, "ci_low": R - 1.0 - q * se,
        "ci_high": R - 1.0 + q * se, "level": level,
    })


# ---------------------------------------------------------------------------
# disclosure control out of core
# ---------------------------------------------------------------------------
def contribution_frame(
    session: Any,
    source: str,
    value: str,
    *,
    keys: list[str],
    weights: str | None = None,
    complete: tuple[str, ...] | list[str] = (),
    rules: Any = None,
    id: str = "firm_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-cell tabulation the magnitude rules need, computed in SQL, as a small frame.

    One SQL pass over the units (a window per cell of ``keys``) gives each
    interior cell's number of firms, total of the contributions ``weight *
    value`` and its ``K`` largest contributions with their firm ids, where
    ``K = max(min_frequency, n)`` for the largest ``n`` of the rules (2 for
    the p% rule, ``n`` of each (n,k) dominance rule). The frame returned
    stands for the units in :func:`survey.publish.disclosure.protect_table`:
    the ``K`` largest firms of each cell as they are, and the rest of the cell
    as ``r`` equal parts no larger than the cell's ``n``-th largest
    contribution (``r = ceil(rest / x_n)``, at least 1, at most the number of
    the other firms). Every quantity the rules and the linear programmes use
    is then unchanged for every cell and margin: the totals, the ``n``
    largest contributions (a part never outranks them, in its cell or in a
    margin), whether a cell has fewer than ``min_frequency`` contributors, and
    who alone makes up a single-firm cell; only the counts of firms above
    ``K`` differ, which :func:`protect_out_of_core` puts back from ``cells``.

    Parameters
    ----------
    session : Session
        An engine session (:meth:`survey.engine.Engine.session`).
    source : str
        SQL relation text of the units (``read_parquet('...')``, a view).
    value : str
        The magnitude column (non-negative).
    keys : list of str
        The cell columns (row and column classification).
    weights : str, optional
        Weight column: contributions ``weight * value``.
    complete : sequence of str, default=()
        Units count only where these columns are all finite (the published
        totals' complete cases); ``value`` always.
    rules : DisclosureRules, optional
        Default ``DisclosureRules()``.
    id : str, default="firm_id"

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``units``: the key columns, ``id`` (``None`` for the parts) and
        ``contribution``; ``cells``: the key columns, ``firms`` and ``total``
        per interior cell.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> df = pd.DataFrame({"firm_id": list("abcdef"), "r": ["A"] * 6,
    ...                    "y": [50.0, 20.0, 10.0, 9.0, 8.0, 3.0]})
    >>> units, cells = contribution_frame(s, s.register(df), "y", keys=["r"])
    >>> units["contribution"].tolist(), cells["firms"].tolist()
    ([50.0, 20.0, 10.0, 10.0, 10.0], [6])
    """
    from survey.publish.disclosure import DisclosureRules
    from survey.returns.sql.base import finite_sql, quote_identifier

    rules = DisclosureRules() if rules is None else rules
    q = quote_identifier
    n_top = max([2, *(int(n) for n, _ in rules.dominance)])
    K = max(int(rules.min_frequency), n_top)
    contribution = f"CAST({q(value)} AS DOUBLE)"
    if weights is not None:
        contribution = f"CAST({q(weights)} AS DOUBLE) * {contribution}"
    ok = " AND ".join(finite_sql(f"CAST({q(c)} AS DOUBLE)") for c in dict.fromkeys([value, *complete]))
    part = ", ".join(q(k) for k in keys)
    cols = ", ".join(f"u.{q(k)}" for k in keys)
    text = (
        f"SELECT {cols}, u.sv_id, u.sv_c, u.sv_rank, u.sv_n, u.sv_total, u.sv_min FROM ("
        f"SELECT {part}, CAST({q(id)} AS VARCHAR) AS sv_id, sv_c, "
        f"ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY sv_c DESC, CAST({q(id)} AS VARCHAR)) "
        f"AS sv_rank, COUNT(*) OVER (PARTITION BY {part}) AS sv_n, "
        f"SUM(sv_c) OVER (PARTITION BY {part}) AS sv_total, "
        f"MIN(sv_c) OVER (PARTITION BY {part}) AS sv_min "
        f"FROM (SELECT *, {contribution} AS sv_c FROM {source} WHERE {ok}) t) u "
        f"WHERE u.sv_rank <= {K} ORDER BY {cols}, u.sv_rank"
    )
    top = session.sql(text)
    negative = top["sv_min"].to_numpy(dtype=float) < 0
    if negative.any():
        first = top.loc[negative].iloc[0]
        cell = {k: first[k] for k in keys}
        raise NationalError(f"contribution_frame: {value!r} has negative contributions (first "
                            f"in cell {cell}); the magnitude rules need non-negative values: "
                            "protect a non-negative variable and apply its pattern")
    top = top.reset_index(drop=True)
    first = top["sv_rank"].to_numpy() == 1
    cells = top.loc[first, [*keys, "sv_n", "sv_total"]].rename(
        columns={"sv_n": "firms", "sv_total": "total"}).reset_index(drop=True)
    cells["firms"] = cells["firms"].astype(np.int64)
    # the rest of each cell with more than K firms, as equal parts <= its n_top-th largest
    cell_of = np.cumsum(first) - 1
    c = top["sv_c"].to_numpy(dtype=float)
    kept = np.bincount(cell_of, weights=c, minlength=len(cells))
    bound = np.zeros(len(cells))
    at = top["sv_rank"].to_numpy() == n_top
    bound[cell_of[at]] = c[at]
    n = cells["firms"].to_numpy(dtype=np.int64)
    more = n > K
    rest = np.clip(cells["total"].to_numpy(dtype=float) - kept, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(bound > 0, np.ceil(rest / bound * (1 + 1e-12)), 1.0)
    parts = np.where(more, np.clip(need, 1, np.maximum(n - K, 1)), 0).astype(np.int64)
    idx = np.repeat(np.arange(len(cells)), parts)
    rest_units = cells.loc[idx, keys].reset_index(drop=True)
    rest_units[id] = None
    rest_units["contribution"] = np.repeat(np.where(parts > 0, rest / np.maximum(parts, 1), 0.0),
                                           parts)
    units = top[keys].assign(**{id: top["sv_id"].to_numpy(), "contribution": c})
    units = pd.concat([units, rest_units], ignore_index=True)
    return units, cells


def protect_out_of_core(
    session: Any,
    source: str,
    value: str,
    *,
    rows: str,
    columns: str,
    weights: str | None = None,
    complete: tuple[str, ...] | list[str] = (),
    rules: Any = None,
    id: str = "firm_id",
) -> tuple[Any, int]:
    """Cell suppression of a two-way magnitude table whose units stay in the SQL engine.

    :func:`contribution_frame` tabulates in SQL; the existing numpy / HiGHS
    step (:func:`survey.publish.disclosure.protect_table`, cost ``"value"``,
    no enterprise groups) runs on its small frame; the cells' ``firms`` and
    ``contributors`` are then the true counts (sums of the SQL counts over
    each margin). The result equals ``protect_table`` on the units.

    Parameters
    ----------
    session, source, value, weights, complete, rules, id
        As :func:`contribution_frame`.
    rows, columns : str
        The row and column classification.

    Returns
    -------
    (ProtectedTable, int)
        The protected table and the number of rows given to ``protect_table``.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> df = pd.DataFrame({"firm_id": list("abcdefgh"), "r": ["A"] * 4 + ["B"] * 4,
    ...                    "c": ["x", "y"] * 4, "y": [10.0, 11, 12, 13, 50, 1, 1, 1]})
    >>> pt, rows = protect_out_of_core(s, s.register(df), "y", rows="r", columns="c")
    >>> pt.cells["status"].tolist()[:3]
    ['published', 'secondary', 'secondary']
    >>> from survey.publish.disclosure import protect_table
    >>> bool((pt.cells == protect_table(df, "y", rows="r", columns="c").cells).all().all())
    True
    """
    import dataclasses

    from survey.publish.disclosure import protect_table

    units, cells = contribution_frame(session, source, value, keys=[rows, columns],
                                      weights=weights, complete=complete, rules=rules, id=id)
    pt = protect_table(units, "contribution", rows=rows, columns=columns, rules=rules)
    out = pt.cells.copy()
    counts = cells.astype({rows: str, columns: str})
    label = pt.total_label
    firms = pd.concat([
        counts[[rows, columns, "firms"]],
        counts.groupby(rows, as_index=False)["firms"].sum().assign(**{columns: label}),
        counts.groupby(columns, as_index=False)["firms"].sum().assign(**{rows: label}),
        pd.DataFrame({rows: [label], columns: [label], "firms": [int(counts["firms"].sum())]}),
    ], ignore_index=True)
    true = out[[rows, columns]].merge(firms, on=[rows, columns], how="left")["firms"]
    true = true.fillna(0).to_numpy(dtype=np.int64)
    out["firms"] = true
    out["contributors"] = true
    return dataclasses.replace(pt, cells=out, value_name=value), len(units)


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
                                        weights="design_weight", complete=VARIABLES)
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
UNIT = "thousand yuan"


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
) -> Any:
    """The national bulletin as a :class:`~survey.publish.report.BulletinContent`.

    Lays out (computes nothing): the headline (the sector's year-to-date
    total of each variable with its interval and its growth on a comparable
    basis), a sector table and tables by province, by industry and by
    province x industry (estimate, SE, CV, interval, df, n, growth with its
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
        raise NationalError(f"national_bulletin_content: growth.csv mixes confidence levels "
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
        both["suppressed"] = both["suppressed"].fillna(False).astype(bool)
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
    for name, by in BREAKDOWNS.items():
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
        what = " and ".join(by)
        tables.append(BulletinTable(
            name=name, title=f"Year-to-date totals and growth by {what}, {period}",
            frame=part[keys + columns].reset_index(drop=True), decimals=0, unit=UNIT))
    chart = both[(both["breakdown"] == "province") & (both["variable"] == "gross_output")
                 & ~both["suppressed"]]
    chart = chart[
        ["domain", "variable", "growth", "growth_ci_low", "growth_ci_high"]]
    limit = f" (memory limit {memory_limit})" if memory_limit else ""
    methods = (
        f"Synthetic data. Every figure of this bulletin is computed from a synthetic register of "
        f"{firms:,} firms and synthetic quarterly returns (survey.datasets.national); they "
        "describe no real economy and are not official statistics.\n\n"
        f"Out of core. Every pass over units ran inside DuckDB{limit}, never as a pandas frame "
        "of the units: the permanent random numbers, the per-stratum "
        "moments of last year's revenue for the Neyman allocation (city x industry x size "
        "class), the PRN selection, the ingest of the returns into the ledger with its checks, "
        "the edit rules, the ONS ratio-of-means imputation per industry (forward from the "
        "previous quarter, construction from last year's revenue) of the current values and of "
        "the same months of last year, and the sums of scores per stratum behind every total. "
        "Numpy finished the statistics on small tables (allocation, variances).\n\n"
        "Estimates are year-to-date totals of the take-all firms (above designated size) and "
        "the sampled firms below it, weighted by their design weights, with linearised "
        "standard errors (stratified design with finite population correction). Growth is on a "
        "comparable basis: the same firms' totals this year and in the same months of last "
        "year, R - 1 with R = Y / X, and the linearised standard error of R (the variance of "
        "the scores (y - R x) / X, that is (V_YY - 2 R V_YX + R^2 V_XX) / X^2). "
        f"Intervals are {round(100 * level)}% t intervals with the design's degrees of freedom; "
        "they reflect sampling error only. Not done here: calibration to register totals."
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
        title="National industrial survey: quarterly bulletin (synthetic data)", period=period,
        language="en", headline=headline, tables=tables, growth=chart if len(chart) else None,
        quality=quality, methods_note=methods, level=level, growth_basis="comparable",
        unit=UNIT,
        notes=["Synthetic data, generated for testing the national scale of the toolkit.",
               f"Money in {UNIT}; CV and growth in %."],
    )


def _quality(ctx: _Context) -> pd.DataFrame:
    """Response rate, imputed share of the gross output total and sample size (one SQL pass)."""
    s = ctx.session()
    v, m = VARIABLES[0], marker_of(VARIABLES[0])
    q = s.sql(
        f"SELECT COUNT(*) AS n, AVG(CASE WHEN {m} IN ('returned', 'edited') THEN 1.0 ELSE 0.0 "
        f"END) AS response, SUM(CASE WHEN {m} IN ('forward_imputed', 'backward_imputed', "
        f"'constructed') THEN design_weight * {v} ELSE 0 END) / SUM(design_weight * {v}) AS imp "
        f"FROM read_parquet({ctx.lit(ctx.path('weighted.parquet'))})"
    ).iloc[0]
    return pd.DataFrame({"indicator": ["response_rate", "imputed_share", "sample_size"],
                         "value": [float(q["response"]), float(q["imp"]), int(q["n"])],
                         "unit": ["%", "%", ""]})


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
                                        suppressed=_suppression(ctx))
    write_bulletin(content, folder)
    level = f"{round(100 * content.level)}%"
    lines = [f"# National industrial survey, {ctx.periods[1]} (synthetic data)", "",
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
