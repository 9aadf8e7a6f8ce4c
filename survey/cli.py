"""The ``survey`` command: thin; it parses, calls the library and prints.

No statistics are computed here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import SurveyError

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

    from .design import Design, Survey

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
    from .config import validate_config

    problems = validate_config(args.config)
    if problems:
        for p in problems:
            print(f"error: {p}")
        print(f"{len(problems)} problem(s) in {args.config}")
        return 1
    print(f"{args.config}: OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survey",
        description="Enterprise survey statistics: sample plans, weighted totals with "
        "standard errors, quarterly summaries.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    e = sub.add_parser("estimate", help="totals and means with standard errors from a sample file")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``survey`` command.

    Examples
    --------
    >>> main(["estimate", "no-such-file.csv", "--total", "y"])  # message on stderr
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SurveyError as exc:
        print(f"survey: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
