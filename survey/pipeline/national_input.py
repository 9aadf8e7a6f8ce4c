"""Your own register and returns for the national chain (:func:`survey.pipeline.national.run_national`).

Finding the files (:func:`register_files`, :func:`returns_files`), what the
``register`` and ``returns`` markers record of them (:func:`input_stamps`: a
rerun with another file redoes the steps), and the checks and copy of a
returns file (:func:`copy_returns`). The register itself is checked by
:func:`survey.register.sql.load_register`. See ``docs/scale.md``, "Your own
register".
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from survey.engine import Session, sql_literal
from survey.errors import ColumnError, FrameError, PeriodError
from survey.periods import normalise_quarter
from survey.register.sql import csv_to_parquet

__all__: list[str] = []

_KINDS = (".parquet", ".csv")


def register_files(register: str | os.PathLike) -> tuple[Path, ...]:
    """Your register's files: a file, a glob, or a folder of Parquet (else CSV) files."""
    text = str(register)
    if any(c in text for c in "*?["):
        files = sorted(glob.glob(text))
    elif Path(text).is_dir():
        files = (sorted(glob.glob(os.path.join(text, "*.parquet")))
                 or sorted(glob.glob(os.path.join(text, "*.csv"))))
    else:
        files = [text] if Path(text).is_file() else []
    if not files:
        raise FrameError(f"register: no Parquet or CSV file at {text!r}")
    return tuple(Path(f).resolve() for f in files)


def returns_files(returns: Any, periods: tuple) -> dict[str, Path]:
    """Your returns' file of each period: ``returns_<period>.parquet`` (or ``.csv``) of a
    folder, or a mapping period -> file."""
    if isinstance(returns, Mapping):
        given = {_quarter(str(p)) or str(p): Path(f) for p, f in returns.items()}
        where = "in the mapping"
    else:
        folder = Path(returns)
        given = {p: folder / f"returns_{p}{k}" for p in periods for k in reversed(_KINDS)
                 if (folder / f"returns_{p}{k}").is_file()}
        where = f"in {str(folder)!r} (returns_<period>.parquet or .csv)"
    out = {}
    for p in periods:
        file = given.get(p, given.get(_quarter(p)))
        if file is None or not file.is_file():
            found = sorted(f"{k}: {v.name}" for k, v in given.items()) or "none"
            raise PeriodError(f"returns: no file for period {p} {where}; found {found}")
        if file.suffix.lower() not in _KINDS:
            raise PeriodError(f"returns: {file.name} ({p}) is not a Parquet or CSV file")
        out[p] = file.resolve()
    return out


def _stamp(paths: Any) -> list:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def input_stamps(register: tuple[Path, ...] | None, returns: dict[str, Path] | None, *,
                 firms: int, seed: int) -> dict[str, Any]:
    """What the ``register`` and ``returns`` markers record: each file's path, size and
    modification time (the synthetic register: its size and seed). A step whose record
    differs reruns, with every step after it."""
    if register is None:
        return {"register": {"firms": int(firms), "seed": int(seed)}, "returns": None}
    return json.loads(json.dumps({
        "register": _stamp(register),
        "returns": {p: _stamp([f]) for p, f in (returns or {}).items()}}))


def copy_returns(path: Path, output: Path, period: str, register: Path, session: Session) -> int:
    """Check your returns file of ``period`` and copy it to ``output`` (Parquet) in SQL.

    Checks: a ``firm_id`` column; the ``period`` column, when there is one, holds
    ``period`` only; every firm id is on ``register``. A CSV file is copied as text
    (:func:`~survey.register.sql.csv_to_parquet`): the ledger reads its numbers as
    from CSV. Returns the rows.
    """
    s = session
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    source, line = path, "row"
    if path.suffix.lower() == ".csv":
        source, line = csv_to_parquet(path, output.with_suffix(".csv.parquet"), engine=s), "line"
    read = f"read_parquet({sql_literal(source)}, file_row_number = true)"
    try:
        types = s.columns(f"(SELECT * FROM {read})")
        if "firm_id" not in types:
            raise ColumnError(f"returns {path.name} ({period}): no firm_id column; it has "
                              f"{[c for c in types if c != 'file_row_number']}")
        if "period" in types:
            found = s.sql(f"SELECT CAST(period AS VARCHAR) AS p, COUNT(*) AS n FROM {read} "
                          "GROUP BY 1 ORDER BY 1")
            wrong = [(p, int(n)) for p, n in zip(found["p"], found["n"])
                     if not isinstance(p, str) or _quarter(p) != _quarter(period)]
            if wrong:
                raise PeriodError(f"returns {path.name}: {sum(n for _, n in wrong)} row(s) are not "
                                  f"of period {period}: "
                                  + ", ".join(f"{p!r} ({n} rows)" for p, n in wrong[:5]))
        unknown = (f"FROM {read} r WHERE r.firm_id IS NULL OR NOT EXISTS (SELECT 1 FROM "
                   f"read_parquet({sql_literal(register)}) g WHERE g.firm_id = CAST(r.firm_id AS VARCHAR))")
        n = int(s.sql(f"SELECT COUNT(*) AS n {unknown}")["n"].iloc[0])
        if n:
            ex = s.sql(f"SELECT r.firm_id AS id, file_row_number AS k {unknown} ORDER BY k LIMIT 5")
            shown = ", ".join(f"{i!r} ({line} {int(k) + (2 if line == 'line' else 1)})"
                              for i, k in zip(ex["id"], ex["k"]))
            raise FrameError(f"returns {path.name} ({period}): {n} firm id(s) not on the register: "
                             f"{shown}{' and more' if n > 5 else ''}")
        s.write_parquet(f"SELECT * FROM read_parquet({sql_literal(source)})", output)
    finally:
        if source != path:
            source.unlink(missing_ok=True)
    return int(s.sql(f"SELECT COUNT(*) AS n FROM read_parquet({sql_literal(output)})")["n"].iloc[0])


def _quarter(label: str) -> str | None:
    try:
        return normalise_quarter(label)
    except PeriodError:  # not a quarter label: reported as a wrong period
        return None
