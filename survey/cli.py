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


def _read_table(path: str):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise SurveyError(f"file {path!r} does not exist")
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return pd.read_excel(p)
    if p.suffix.lower() == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p)


def _print_table(frame, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(json.dumps(json.loads(frame.to_json(orient="records")), indent=2, ensure_ascii=False))
    else:
        print(frame.to_string(index=False, float_format=lambda x: f"{x:,.6g}"))


def cmd_estimate(args: argparse.Namespace) -> int:
    import pandas as pd

    from survey.design import Design
    from survey.estimation.survey import Survey

    data = _read_table(args.file)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from survey.pipeline.run import main_demo

    return main_demo(Path(args.output) if args.output else None)


def cmd_cycle_step(args: argparse.Namespace) -> int:
    from survey.pipeline import run as cycle

    if args.command == "ingest":
        files = dict(f.split("=", 1) for f in args.files) if args.files else None
        return cycle.command_ingest(args.config, files, output=args.output, channel=args.channel)
    if args.command == "select":
        return cycle.command_select(args.config, output=args.output, seed=args.seed)
    steps = {
        "plan": cycle.command_plan,
        "simulate-returns": cycle.command_simulate,
        "estimate": cycle.command_estimate,
        "report": cycle.command_report,
    }
    return steps[args.command](args.config, output=args.output)


def _is_config(argv: Sequence[str]) -> bool:
    return len(argv) >= 2 and argv[0] == "estimate" and argv[1].lower().endswith(".toml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survey",
        description="Enterprise survey statistics: sample plans, weighted totals with "
        "standard errors, quarterly summaries.",
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
    e.set_defaults(func=cmd_estimate)

    v = sub.add_parser("validate-config", help="check a survey configuration file")
    v.add_argument("config")
    v.set_defaults(func=cmd_validate_config)

    d = sub.add_parser("demo", help="the whole quarterly cycle on the bundled synthetic data")
    d.add_argument("--output", help="output folder (default: the demo config's)")
    d.set_defaults(func=cmd_demo)
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
        if name == "ingest":
            p.add_argument("files", nargs="*", help="PERIOD=FILE (default: the simulated returns)")
            p.add_argument("--channel", default="bureau", help="source channel of the files")
        p.set_defaults(func=cmd_cycle_step)
    ec = argparse.ArgumentParser(prog="survey estimate", description="edit, impute, weight and "
                                 "estimate from the ledger, on a survey configuration")
    ec.add_argument("config")
    ec.add_argument("--output")
    ec.set_defaults(func=cmd_cycle_step, command="estimate")
    parser.set_defaults(_estimate_config_parser=ec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``survey`` command.

    Examples
    --------
    >>> main(["estimate", "no-such-file.csv", "--total", "y"])  # message on stderr
    2
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_config(argv):  # `survey estimate CONFIG.toml`: the cycle's estimate step
        args = parser.get_default("_estimate_config_parser").parse_args(argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SurveyError as exc:
        print(f"survey: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
