"""The ``survey`` command: thin; it parses, calls the library and prints.

No statistics are computed here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from survey.errors import SurveyError

__all__ = ["main"]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _print_table(frame, fmt: str) -> None:
    if fmt == "csv":
        from survey.io import protect_formulas

        protect_formulas(frame).to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(json.dumps(json.loads(frame.to_json(orient="records")), indent=2, ensure_ascii=False))
    else:
        print(_readable(frame).to_string(index=False))


def _readable(frame):
    """A table as people read it: CVs and growth in % with one decimal, counts as integers,
    other numbers with thousands separators and two decimals (never ``1.40701e+06``)."""
    import pandas as pd

    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c]):
            continue
        values = out[c].astype(float)
        if c == "cv" or c.startswith("growth") or c.endswith("_share"):
            out[c] = [".." if pd.isna(v) else f"{100 * v:.1f}%" for v in values]
        elif c in ("n", "df") or (values.dropna() == values.dropna().round()).all() and c not in (
                "estimate", "se", "ci_low", "ci_high"):
            out[c] = [".." if pd.isna(v) else f"{v:,.0f}" for v in values]
        else:
            out[c] = [".." if pd.isna(v) else f"{v:,.2f}" for v in values]
    return out


def cmd_estimate(args: argparse.Namespace) -> int:
    import pandas as pd

    from survey.design import Design
    from survey.estimation.survey import Survey
    from survey.io import read_table

    data = read_table(args.file)
    design = Design(
        strata=args.strata,
        clusters=tuple(_split(args.clusters)),
        weights=args.weights,
        probs=args.probs,
        fpc=tuple(_split(args.fpc)),
        lonely_psu=args.lonely_psu,
    )
    s = Survey(data, design)
    by = _split(args.by) or None
    parts = []
    if args.total:
        parts.append(s.total(_split(args.total), by=by, na=args.na).table(level=args.level).assign(statistic="total"))
    if args.mean:
        parts.append(s.mean(_split(args.mean), by=by, na=args.na).table(level=args.level).assign(statistic="mean"))
    if not parts:
        raise SurveyError("nothing to estimate: give --total and/or --mean with column names")
    table = pd.concat(parts, ignore_index=True)
    cols = ["statistic"] + [c for c in table.columns if c != "statistic"]
    if args.format == "table":
        print(f"estimates in {args.unit or 'the units of the data'}; cv in %")
    _print_table(table[cols], args.format)
    return 0


def cmd_validate_config(args: argparse.Namespace) -> int:
    from survey.pipeline.config import validate_config

    problems = validate_config(args.config)
    if problems:
        for p in problems:
            print(f"error: {p}")
        print(f"{len(problems)} problem(s) in {args.config}")
        return 1
    print(f"{args.config}: OK")
    return 0


class _Progress:
    """One line per step of the cycle (a ``rich`` progress bar above them when installed)."""

    def __init__(self, total: int, unit: str | None = None) -> None:
        self.unit = unit
        self.console = self.bar = self.task = None
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # pragma: no cover - rich is a dependency
            return
        self.console = Console()
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            console=self.console, transient=True)
        self.task = self.bar.add_task("survey cycle", total=total)

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, step: str, result, seconds) -> None:
        if seconds is None:
            if self.bar is not None:
                self.bar.update(self.task, description=step)
            return
        line = f"{step:<9} {_summary(step, result, self.unit)} ({seconds:.1f} s)"
        if self.bar is not None:
            self.bar.advance(self.task)
            self.console.print(line, highlight=False, soft_wrap=True)
        else:  # pragma: no cover
            print(line, flush=True)


def _headline(estimates, period: str, unit: str | None = None) -> str:
    """The first indicator of the quarter and of the year to date, in the display unit."""
    from survey.publish.report.quality import display_unit

    name, factor, decimals = display_unit(unit)
    row = estimates.by_period["sector"][period].table().iloc[0]
    text = (f"{row['variable']} {row['period']}: {row['estimate'] / factor:,.{decimals}f} {name} "
            f"(cv {row['cv']:.1%}, growth {row['growth']:+.1%})")
    ytd = getattr(estimates, "year_to_date", None)
    if ytd is not None:
        y = ytd.table().iloc[0]
        text += (f"; year to date {y['estimate'] / factor:,.{decimals}f} {name} "
                 f"(growth {y['growth']:+.1%})")
    return text


def _bulletin(files) -> str:
    return str(files.html or files.excel or next(iter(files.csv.values()), "") or "(nothing)")


def _summary(step: str, result, unit: str | None = None) -> str:
    """The one-line summary of a step of the cycle (money in the display ``unit``)."""
    if step == "plan":
        return "; ".join(f"{y}: n = {p.n} of N = {p.frame.N} ({len(p.allocation.N)} strata)"
                         for y, p in result.items())
    if step == "select":
        return "; ".join(f"{y}: {int((s['part'] == 'take_all').sum())} take-all + "
                         f"{int((s['part'] == 'sample').sum())} sampled firms"
                         for y, s in result.items())
    if step == "simulate":
        files, injected = result
        folder = next(iter(files.values())).parent if files else "returns"
        return f"{len(files)} returns files in {folder}, {len(injected)} injected reporting errors"
    if step == "ingest":
        return (f"{len(result)} files, {sum(r.values_written for r in result)} values written "
                "to the ledger")
    if step == "edit":
        return (f"{len(result.unit_errors)} unit errors corrected, {len(result.failures)} rule "
                f"failures, {len(result.set_aside)} values set aside")
    if step == "impute":
        n = int(sum(panel[c].sum() for panel in result for c in panel.columns
                    if c.endswith("_imputed")))
        return f"{n} values imputed (take-all and sample panels)"
    if step == "weight":
        return f"{len(result)} periods weighted (nonresponse, calibration)"
    if step == "estimate":
        return _headline(result, result.year_to_date.period, unit)
    if step == "protect":
        n = sum(int(pt.suppressed.sum()) for pt in result.values())
        return f"{len(result)} tables protected, {n} cells suppressed"
    return f"bulletin written to {_bulletin(result[1])}"


def cmd_demo(args: argparse.Namespace) -> int:
    if args.national:
        return _national_demo(args)
    from survey.pipeline import DEMO_CONFIG, steps
    from survey.pipeline.demo import run_demo

    with _Progress(10, unit=steps.as_config(DEMO_CONFIG).report.unit) as progress:
        result = run_demo(args.output, force=args.force, progress=progress)
    total = sum(result.seconds.values())
    print(f"survey demo: the bulletin of {result.period} is {_bulletin(result.files)} "
          f"({total:.0f} s; everything the demo wrote is in {result.output})")
    return 0


def _national_demo(args: argparse.Namespace) -> int:
    from survey.engine import Engine
    from survey.pipeline.national import run_national

    folder = Path(args.output or "survey-national")
    engine = Engine(memory_limit=args.memory_limit, temp_directory=str(folder / "spill"))
    result = run_national(folder, firms=args.firms, engine=engine, restart=args.restart)
    total = result.steps["seconds"].sum()
    print(f"survey demo --national: {args.firms:,} firms, bulletin tables in "
          f"{folder / 'bulletin'} ({total:.0f} s of steps; rerun to resume, --restart to redo)")
    return 0


def cmd_national(args: argparse.Namespace) -> int:
    from survey.engine import Engine
    from survey.pipeline.national import run_national

    folder = Path(args.output or "survey-national")
    engine = Engine(memory_limit=args.memory_limit,
                    temp_directory=str(args.temp_directory or folder / "spill"))
    periods = tuple(p.strip() for p in args.periods.split(","))
    result = run_national(folder, register=args.register, returns=args.returns, periods=periods,
                          engine=engine, restart=args.restart, until=args.until)
    firms = int(result.steps.loc[result.steps["step"] == "register", "rows"].iloc[0])
    total = result.steps["seconds"].sum()
    what = (f"the bulletin of {periods[-1]} in {folder / 'bulletin'}" if args.until is None
            else f"steps up to {args.until} of {periods[-1]} in {folder}")
    print(f"survey national: {firms:,} firms on the register, {what} "
          f"({total:.0f} s of steps; rerun to resume, --restart to redo)")
    return 0


def cmd_cycle_step(args: argparse.Namespace) -> int:
    from survey.pipeline import run, steps

    config = steps.as_config(args.config)
    folder = config.output_folder(args.output)
    if args.command == "plan":
        plans = run.run_command(config, "plan", output=folder)
        print("survey plan: " + "; ".join(f"{y}: n = {p.n} of N = {p.frame.N}"
                                          for y, p in plans.items()) + f" -> {folder / 'plan'}")
    elif args.command == "select":
        samples = run.run_command(config, "select", output=folder, seed=args.seed)
        print("survey select: " + "; ".join(f"{y}: {len(s)} firms" for y, s in samples.items())
              + f" -> {folder / 'sample'}")
    elif args.command == "simulate-returns":
        files, injected = run.run_command(config, "simulate-returns", output=folder)
        print(f"survey simulate-returns: {len(files)} files, {len(injected)} injected errors "
              f"-> {folder / 'returns'}")
    elif args.command == "ingest":
        for item in args.files:
            if "=" not in item:
                raise SurveyError(f"{item!r}: give each file as PERIOD=FILE, e.g. 2006Q4=returns.csv")
        files = dict(f.split("=", 1) for f in args.files) if args.files else None
        reports = run.run_command(config, "ingest", output=folder, files=files,
                                   channel=args.channel,
                                   allow_same_content=args.allow_same_content)
        statuses = {}
        for r in reports:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        print(f"survey ingest: {len(reports)} files ({statuses}), "
              f"{sum(r.values_written for r in reports)} values written "
              f"-> {config.ledger_path(folder)}")
    elif args.command == "estimate":
        estimates = run.run_command(config, "estimate", output=folder)
        print(f"survey estimate: {_headline(estimates, config.published(), config.report.unit)} "
              f"-> {folder / 'estimates'}")
    else:
        _, files = run.run_command(config, "report", output=folder, level=args.level,
                                   area=args.area)
        print(f"survey report: bulletin of {config.published()} -> {_bulletin(files)}")
    return 0


def _is_config(argv: Sequence[str]) -> bool:
    return len(argv) >= 2 and argv[0] == "estimate" and argv[1].lower().endswith(".toml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survey",
        description="Enterprise survey statistics: sample plans, weighted totals with "
        "standard errors, quarterly summaries.",
        epilog="--debug (anywhere on the line): show the full traceback of an error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    e = sub.add_parser(
        "estimate",
        help="totals and means with SEs from a sample file; or, given CONFIG.toml, the "
        "cycle's estimate step",
    )
    e.add_argument("file", help="CSV, Excel or Parquet file, one row per sampled unit")
    e.add_argument("--strata", help="stratum column")
    e.add_argument("--clusters", help="PSU column(s), comma-separated by stage")
    e.add_argument("--weights", help="weight column")
    e.add_argument("--probs", help="inclusion-probability column")
    e.add_argument("--fpc", help="fpc column(s): population sizes or sampling fractions")
    e.add_argument("--lonely-psu", default="fail", choices=["fail", "remove", "adjust", "average", "certainty"])
    e.add_argument("--total", help="columns to total, comma-separated")
    e.add_argument("--mean", help="columns to average, comma-separated")
    e.add_argument("--by", help="domain columns, comma-separated")
    e.add_argument("--na", default="error", choices=["error", "drop"])
    e.add_argument("--level", type=float, default=0.95, help="confidence level")
    e.add_argument("--format", default="table", choices=["table", "csv", "json"])
    e.add_argument("--unit", default=None, help="unit of the estimated columns (e.g. 'thousand "
                   "yuan'), printed above the table")
    e.set_defaults(func=cmd_estimate)

    v = sub.add_parser("validate-config", help="check a survey configuration file")
    v.add_argument("config")
    v.set_defaults(func=cmd_validate_config)

    d = sub.add_parser("demo", help="the whole quarterly cycle on the bundled synthetic data, "
                       "into ./survey-demo (or --output DIR)")
    d.add_argument("--output", help="a new or empty folder (default: ./survey-demo)")
    d.add_argument("--force", action="store_true",
                   help="replace an earlier demo run in the folder (only its own files)")
    d.add_argument("--national", action="store_true",
                   help="the national cycle out of core (DuckDB) on a synthetic register of "
                        "--firms firms, into ./survey-national (or --output DIR); resumable")
    d.add_argument("--firms", type=int, default=1_000_000,
                   help="register size of --national (default 1,000,000; 30,000,000 for the "
                        "national scale)")
    d.add_argument("--memory-limit", default="4GB",
                   help="DuckDB memory limit of --national (default 4GB)")
    d.add_argument("--restart", action="store_true",
                   help="--national: redo every step instead of resuming")
    d.set_defaults(func=cmd_demo)
    n = sub.add_parser("national", help="the national cycle out of core (DuckDB) on your own "
                       "register and returns, into ./survey-national (or --output DIR); resumable")
    n.add_argument("--register", required=True,
                   help="the register: a Parquet file, a glob or folder of Parquet files, or a CSV "
                        "file (UTF-8 or GBK); columns in docs/scale.md, 'Your own register'")
    n.add_argument("--returns", required=True,
                   help="folder of the quarters' returns: returns_<period>.parquet (or .csv)")
    n.add_argument("--periods", default="2018Q1,2018Q2",
                   help="the previous and the published quarter (default 2018Q1,2018Q2)")
    n.add_argument("--output", help="output folder (default: ./survey-national)")
    n.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit (default 4GB)")
    n.add_argument("--temp-directory", help="where DuckDB spills (default: OUTPUT/spill)")
    n.add_argument("--restart", action="store_true", help="redo every step instead of resuming")
    n.add_argument("--until", metavar="STEP",
                   help="stop after this step (e.g. estimate); a later run resumes from the next")
    n.set_defaults(func=cmd_national)
    helps = {
        "plan": "write the sample plan (allocation, expected CVs) of each year",
        "select": "select each year's sample (PRN) and write it",
        "simulate-returns": "simulate the returns the selected firms would send (bundled data)",
        "ingest": "load returns files into the ledger",
        "report": "estimates, disclosure control and the bulletin",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text)
        p.add_argument("config", help="the survey's TOML configuration")
        p.add_argument("--output", help="output folder (default: the config's)")
        if name == "select":
            p.add_argument("--seed", type=int, help="override survey.seed")
        if name == "report":
            p.add_argument("--level", choices=["region", "city", "county"],
                           help="the bulletin of one federation at this level (with --area)")
            p.add_argument("--area", help="its administrative code, e.g. 450900")
        if name == "ingest":
            p.add_argument("files", nargs="*", help="PERIOD=FILE (default: the simulated returns)")
            p.add_argument("--channel", default="bureau", help="source channel of the files")
            p.add_argument("--allow-same-content", action="store_true",
                           help="load a file whose content was loaded for another period")
        p.set_defaults(func=cmd_cycle_step)
    ec = argparse.ArgumentParser(prog="survey estimate", description="edit, impute, weight and "
                                 "estimate from the ledger, on a survey configuration")
    ec.add_argument("config")
    ec.add_argument("--output")
    ec.set_defaults(func=cmd_cycle_step, command="estimate")
    parser.set_defaults(_estimate_config_parser=ec)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"survey: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``survey`` command.

    Examples
    --------
    >>> main(["estimate", "no-such-file.csv", "--total", "y"])  # message on stderr
    2
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # a traceback instead of the one-line message
    argv = [a for a in argv if a != "--debug"]
    if _is_config(argv):  # `survey estimate CONFIG.toml`: the cycle's estimate step
        args = parser.get_default("_estimate_config_parser").parse_args(argv[1:])
    else:
        args = parser.parse_args(argv)
    if not debug:  # warnings as one line each, without the source line
        import warnings

        warnings.showwarning = _show_warning
    try:
        return int(args.func(args) or 0)
    except SurveyError as exc:
        if debug:
            raise
        print(f"survey: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be created, a disk full, no permission
        if debug:
            raise
        where = f" {exc.filename!s}" if exc.filename else ""
        print(f"survey: error: cannot read or write{where}: {exc.strerror or exc} "
              "(check the path and its permissions; --debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("survey: interrupted; the ledger is unchanged or complete (each returns file is "
              "loaded whole or not at all); run the command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
