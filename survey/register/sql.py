"""Register work in SQL: checks, size classes and stratum sums on registers of any size.

The in-memory :class:`survey.register.frame.Frame` checks a register held in
pandas. For a national register (tens of millions of firms, on Parquet or in
DuckDB) the same checks run as SQL in the engine (:mod:`survey.engine`),
with memory bounded by the engine's ``memory_limit``:

* :func:`check_frame`: missing and duplicate unit ids, the USCC check
  character (:func:`uscc_valid_sql`, the same rule as
  :func:`survey.register.frame.valid_uscc`, computed in SQL), sizes and
  stratum codes; raises :class:`~survey.errors.FrameError` as ``Frame`` does,
  naming unit ids instead of row labels;
* :func:`size_class_sql`: the size class of
  :meth:`survey.plan.stratify.Stratification.assign` as an SQL expression;
* :func:`stratum_moments`: per stratum (and domain) ``N``, sums and sums of
  squares: the inputs of allocation (``S_h^2`` from ``(s2 - s1^2/N)/(N-1)``);
* :func:`csv_to_parquet`: a register (or returns) CSV file of any size and
  encoding (UTF-8, UTF-16 with BOM, GB18030/GBK, decoded as a stream) copied to
  Parquet by DuckDB, every column as text, in the file's order.

Every function takes an ``engine`` (an :class:`~survey.engine.Engine`, a
session, ``"duckdb"``/``"spark"`` or ``None`` for DuckDB defaults) and a
``source`` (Parquet path or glob, table name, relation, pandas frame).
"""

from __future__ import annotations

import codecs
import csv
import glob
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from survey.engine import (
    Engine,
    Session,
    as_engine,
    group_by,
    is_numeric_type,
    sql_finite,
    sql_float,
    sql_literal,
)
from survey.errors import ColumnError, EngineError, FrameError, TableError
from survey.io import stream_encoding, utf8_copy
from survey.register.frame import USCC_ALPHABET

__all__ = ["RegisterCheck", "check_frame", "csv_to_parquet", "load_register", "size_class_sql", "stratum_moments", "uscc_valid_sql",
           "valid_uscc_table"]

_DIGITS = "0123456789"


def _as_columns(columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    return list(columns)


def uscc_valid_sql(expr: str) -> str:
    """SQL boolean: ``expr`` is a valid unified social credit code (GB 32100-2015).

    The same rule as :func:`survey.register.frame.valid_uscc`: 18 characters
    from ``0-9A-HJ-NPQRTUWXY``, positions 3-8 digits, and the 18th character
    equal to ``(31 - sum_i c_i 3^(i-1) mod 31) mod 31``. Written once for
    DuckDB and Spark (``length``, ``substr``, ``instr``); missing ids are
    invalid.

    Parameters
    ----------
    expr : str
        SQL expression of the id (it is cast to a string).

    Returns
    -------
    str

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> s.sql(f"SELECT {uscc_valid_sql(repr('91450100MA5KA1B2CM'))} AS ok")["ok"].item()
    True
    """
    x = f"CAST({expr} AS STRING)"
    alpha = f"'{USCC_ALPHABET}'"

    def char(i: int) -> str:
        return f"substr({x}, {i}, 1)"

    in_alphabet = " AND ".join(f"instr({alpha}, {char(i)}) > 0" for i in range(1, 19))
    digits = " AND ".join(f"instr('{_DIGITS}', {char(i)}) > 0" for i in range(3, 9))
    weighted = " + ".join(f"(instr({alpha}, {char(i)}) - 1) * {pow(3, i - 1, 31)}" for i in range(1, 18))
    check = f"(31 - ({weighted}) % 31) % 31"
    return (
        f"COALESCE(length({x}) = 18 AND {in_alphabet} AND {digits} "
        f"AND instr({alpha}, {char(18)}) - 1 = {check}, FALSE)"
    )


def valid_uscc_table(source: Any, column: str = "firm_id", *,
                     engine: Engine | Session | str | None = None) -> pd.DataFrame:
    """Each id of ``column`` with its USCC validity, computed in SQL (for checks and tests).

    Parameters
    ----------
    source : Parquet path, table name, relation or pandas.DataFrame
    column : str, default="firm_id"
    engine : Engine, Session, str or None

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` and ``valid``, in the source's order for DuckDB.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": ["91450100MA5KA1B2CM", "91450100MA5KA1B2C0"]})
    >>> valid_uscc_table(df)["valid"].tolist()
    [True, False]
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        return s.sql(f"SELECT {s.q(column)} AS id, {uscc_valid_sql(s.q(column))} AS valid FROM {view}")
    finally:
        s.drop(view)


def size_class_sql(expr: str, bounds: Sequence[float]) -> str:
    """SQL: size class ``0 .. H-1`` of a size, the number of boundaries at or below it.

    The same as :meth:`survey.plan.stratify.Stratification.assign`
    (``numpy.searchsorted(bounds, x, side="right")``).

    Examples
    --------
    >>> size_class_sql("x", [10.0, 100.0])
    "(CASE WHEN x >= CAST('10.0' AS DOUBLE) THEN 1 ELSE 0 END + CASE WHEN x >= CAST('100.0' AS DOUBLE) THEN 1 ELSE 0 END)"
    """
    b = [float(v) for v in bounds]
    if any(b[i] > b[i + 1] for i in range(len(b) - 1)):
        raise FrameError(f"size class boundaries must increase, got {b}")
    if not b:
        return "0"
    return "(" + " + ".join(f"CASE WHEN {expr} >= {sql_float(v)} THEN 1 ELSE 0 END" for v in b) + ")"


@dataclass(frozen=True, kw_only=True)
class RegisterCheck:
    """What :func:`check_frame` found: counts and examples (unit ids) per check.

    Attributes
    ----------
    N : int
        Units on the register.
    table : pandas.DataFrame
        One row per check: ``check``, ``column``, ``count``, ``examples``.
    """

    N: int
    table: pd.DataFrame

    @property
    def ok(self) -> bool:
        """True when no check found a problem."""
        return bool((self.table["count"] == 0).all())


def check_frame(
    source: Any,
    *,
    unit: str = "firm_id",
    size: str | None = None,
    strata: str | Sequence[str] | None = None,
    check_ids: bool = True,
    engine: Engine | Session | str | None = None,
    raise_errors: bool = True,
    examples: int = 5,
) -> RegisterCheck:
    """Check a register in SQL, as :class:`survey.register.frame.Frame` does in memory.

    Checks: missing unit ids, duplicate ids, invalid USCC ids (``check_ids``),
    missing, infinite or negative sizes, missing stratum codes. Two passes
    (one aggregate, one ``GROUP BY`` id for duplicates), memory bounded by the
    engine's limit.

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
    unit : str, default="firm_id"
    size : str, optional
    strata : str or list of str, optional
    check_ids : bool, default=True
        Check the USCC check character of every id.
    engine : Engine, Session, str or None
    raise_errors : bool, default=True
        Raise a :class:`~survey.errors.FrameError` for the first failed check
        (with the counts and example ids); ``False`` returns the report.
    examples : int, default=5
        Example ids per failed check.

    Returns
    -------
    RegisterCheck

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": ["91450100MA5KA1B2CM", "x", "x"], "size": [1.0, -2.0, 3.0]})
    >>> check_frame(df, size="size", raise_errors=False).table[["check", "count"]]
                 check  count
    0       missing id      0
    1     duplicate id      2
    2       invalid id      2
    3     missing size      0
    4    negative size      1
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        return _check_frame(s, view, unit, size, _as_columns(strata), check_ids, raise_errors, examples)
    finally:
        s.drop(view)


def _check_frame(s: Session, view: str, unit: str, size: str | None, strata: list[str], check_ids: bool,
                 raise_errors: bool, examples: int) -> RegisterCheck:
    q = s.q
    types = s.columns(view)
    needed = [unit, *([size] if size else []), *strata]
    missing = [c for c in needed if c not in types]
    if missing:
        raise ColumnError(f"check_frame: column(s) {missing} not in the register; available: {list(types)}")
    if size is not None and not is_numeric_type(types[size]):
        raise ColumnError(f"check_frame: size column {size!r} must be numeric, it has type {types[size]}")
    u = q(unit)
    checks: list[tuple[str, str, str]] = [("missing id", unit, f"{u} IS NULL")]
    if check_ids:
        checks.append(("invalid id", unit, f"NOT {uscc_valid_sql(u)}"))
    if size is not None:
        x = f"CAST({q(size)} AS DOUBLE)"
        checks.append(("missing size", size, f"NOT {sql_finite(x)}"))
        checks.append(("negative size", size, f"{sql_finite(x)} AND {x} < 0"))
    for col in strata:
        checks.append(("missing stratum", col, f"{q(col)} IS NULL"))
    flags = ", ".join(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS c{i}" for i, (_, _, cond) in enumerate(checks))
    counts = s.sql(f"SELECT COUNT(*) AS n, {flags} FROM {view}").iloc[0]
    N = int(counts["n"])
    dup = s.sql(
        f"SELECT COUNT(*) AS ids, SUM(n) AS n_rows FROM (SELECT {u} AS id, COUNT(*) AS n FROM {view} "
        f"WHERE {u} IS NOT NULL GROUP BY {u} HAVING COUNT(*) > 1) d"
    ).iloc[0]
    n_dup = int(dup["n_rows"]) if pd.notna(dup["n_rows"]) else 0
    rows = []
    for i, (name, col, cond) in enumerate(checks):
        n = int(counts[f"c{i}"]) if pd.notna(counts[f"c{i}"]) else 0
        ex: list[Any] = []
        if n and examples:
            ex = s.sql(f"SELECT {u} AS id FROM {view} WHERE {cond} ORDER BY {u} LIMIT {int(examples)}")["id"].tolist()
        rows.append((name, col, n, ex))
        if name == "missing id":
            ex_dup = []
            if n_dup and examples:
                ex_dup = s.sql(
                    f"SELECT {u} AS id, COUNT(*) AS n FROM {view} WHERE {u} IS NOT NULL GROUP BY {u} "
                    f"HAVING COUNT(*) > 1 ORDER BY {u} LIMIT {int(examples)}"
                )["id"].tolist()
            rows.append(("duplicate id", unit, n_dup, ex_dup))
    table = pd.DataFrame(rows, columns=["check", "column", "count", "examples"])
    result = RegisterCheck(N=N, table=table)
    if raise_errors:
        _raise_first(result)
    return result


_HINTS = {
    "missing id": "give every unit an id.",
    "duplicate id": "merge or remove the duplicates.",
    "invalid id": "correct them or use check_ids=False.",
    "missing size": "impute a size or drop those units.",
    "negative size": "sizes must be >= 0.",
    "missing stratum": "code them (e.g. 'unknown') or drop them.",
}


def _raise_first(result: RegisterCheck) -> None:
    for row in result.table.itertuples(index=False):
        if row.count:
            shown = ", ".join(map(repr, row.examples))
            more = f" and {row.count - len(row.examples)} more" if row.count > len(row.examples) else ""
            what = {"missing id": "missing unit id(s)", "duplicate id": "rows with duplicate unit ids",
                    "invalid id": "invalid USCC id(s)", "missing size": "missing or infinite size value(s)",
                    "negative size": "negative size value(s)",
                    "missing stratum": "missing stratum code(s)"}[row.check]
            where = f" (ids {shown}{more})" if row.examples and row.check != "missing id" else ""
            raise FrameError(f"register: {row.count} {what} in column {row.column!r}{where}; {_HINTS[row.check]}")


def stratum_moments(
    source: Any,
    variables: Sequence[str],
    *,
    strata: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    where: str | None = None,
    engine: Engine | Session | str | None = None,
) -> pd.DataFrame:
    """Per stratum (and domain): ``N``, sums and sums of squares of variables, in one SQL pass.

    The allocation inputs of :func:`survey.plan.allocation.allocate_multivariate`
    (``s1``, ``s2``, ``N`` per stratum x domain), and of Neyman allocation
    (``S_h^2 = (s2 - s1^2 / N) / (N - 1)``). Missing values count as 0, as
    :meth:`survey.register.frame.Frame.totals`.

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
    variables : list of str
        Numeric columns.
    strata, by : str or list of str, optional
        Stratum columns and domain columns.
    where : str, optional
        SQL condition selecting units (e.g. ``"part = 'sample'"``).
    engine : Engine, Session, str or None

    Returns
    -------
    pandas.DataFrame
        The strata and domain columns (sorted), ``N``, and ``{v}_sum``,
        ``{v}_sumsq`` per variable.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"h": ["a", "a", "b"], "y": [1.0, 3.0, 5.0]})
    >>> stratum_moments(df, ["y"], strata="h")
       h  N  y_sum  y_sumsq
    0  a  2    4.0     10.0
    1  b  1    5.0     25.0
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        q = s.q
        types = s.columns(view)
        keys = _as_columns(strata) + _as_columns(by)
        unknown = [c for c in [*keys, *variables] if c not in types]
        if unknown:
            raise ColumnError(f"stratum_moments: unknown column(s) {unknown}")
        for v in variables:
            if not is_numeric_type(types[v]):
                raise ColumnError(f"stratum_moments: variable {v!r} must be numeric, it has type {types[v]}")
        agg = ["COUNT(*) AS N"]
        for v in variables:
            x = f"COALESCE(CAST({q(v)} AS DOUBLE), 0)"
            agg += [f"SUM({x}) AS {q(v + '_sum')}", f"SUM({x} * {x}) AS {q(v + '_sumsq')}"]
        sel = [q(c) for c in keys]
        cond = f"WHERE {where}" if where else ""
        out = s.sql(f"SELECT {', '.join(sel + agg)} FROM {view} {cond} {group_by(sel)}")
        if keys:
            out = out.sort_values(keys, kind="stable").reset_index(drop=True)
        out["N"] = out["N"].astype(np.int64)
        return out
    finally:
        s.drop(view)


#: The cells :func:`csv_to_parquet` reads as missing.
CSV_NULLS: tuple[str, ...] = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "None")


def csv_to_parquet(path: str | os.PathLike, output: str | os.PathLike, *, encoding: str | None = None,
                   engine: Engine | Session | str | None = None) -> Path:
    """Copy a CSV file of any size to Parquet inside DuckDB: every column as text, file order.

    The encoding is that of :func:`survey.io.read_table` (UTF-8 with or without
    BOM, UTF-16 with BOM, else GB18030, the superset of GBK and GB2312), found
    by decoding the file as a stream; a file that is not UTF-8 is transcoded
    to a temporary UTF-8 copy beside ``output`` (memory: one block of 4 MB).
    DuckDB then reads it (comma-separated, ``"`` quotes, the header on line 1,
    the cells of :data:`CSV_NULLS` as missing) and writes the Parquet file in
    the file's order, so row ``i`` of the Parquet file is line ``i + 2`` of the
    CSV file. Types are left to the reader of the Parquet file (``TRY_CAST``).

    Parameters
    ----------
    path : str or path
        The CSV file.
    output : str or path
        The Parquet file written.
    encoding : str, optional
        The file's encoding (e.g. ``"gbk"``); by default found as above.
    engine : Engine, Session, "duckdb" or None
        A DuckDB engine (the copy runs within its memory limit).

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    TableError
        The file does not decode, has no header, repeats a column name or is not
        comma-separated text with as many fields on every line (the message names
        the file and the line).

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> src = os.path.join(folder, "reg.csv")
    >>> _ = open(src, "wb").write("firm_id,城市\\n0045,南宁\\n0046,\\n".encode("gbk"))
    >>> out = csv_to_parquet(src, os.path.join(folder, "reg.parquet"))
    >>> pd.read_parquet(out).to_dict("list")
    {'firm_id': ['0045', '0046'], '城市': ['南宁', nan]}
    """
    path, output = Path(path), Path(output)
    if not path.is_file():
        raise TableError(f"CSV file {str(path)!r} does not exist", path=path)
    s = as_engine(engine)
    if s.kind != "duckdb":
        raise EngineError("csv_to_parquet runs on DuckDB (Engine(kind='duckdb'))")
    enc = stream_encoding(path, encoding)
    with path.open("rb") as handle:
        first = handle.readline()
    line = codecs.decode(first, enc, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    header = [c.strip() for c in next(csv.reader([line]), [])]
    if not header or header == [""]:
        raise TableError(f"{path.name}: the file is empty (no header on line 1)", path=path, line=1)
    seen = [c for i, c in enumerate(header) if c in header[:i] or not c]
    if seen:
        raise TableError(f"{path.name}: column name {seen[0]!r} is empty or repeated on line 1",
                         path=path, line=1, column=seen[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    source = path
    if enc not in ("utf-8", "utf-8-sig"):
        source = utf8_copy(path, enc, output.parent)

    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"{sql_literal(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(sql_literal(v) for v in CSV_NULLS) + "]"
    renamed = ", ".join(f"{n} AS {s.q(c)}" for n, c in zip(names, header))
    order = s.sql("SELECT current_setting('preserve_insertion_order') AS v")["v"].iloc[0]
    try:
        s.execute("SET preserve_insertion_order = true")  # row i of the Parquet = line i + 2
        s.execute(
            f"COPY (SELECT {renamed} FROM read_csv({sql_literal(source)}, header = false, skip = 1, "
            f"columns = {columns}, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
            f"nullstr = {nulls}, strict_mode = true, null_padding = false, auto_detect = false)) "
            f"TO {sql_literal(output)} (FORMAT PARQUET)")
    except EngineError as exc:
        found = re.search(r"Line:\s*(\d+)", str(exc))
        at = int(found.group(1)) if found else None
        raise TableError(f"{path.name}: cannot be read as comma-separated text"
                         + (f" at line {at}" if at else "") + f": {str(exc).splitlines()[0]}",
                         path=path, line=at) from exc
    finally:
        s.execute(f"SET preserve_insertion_order = {'true' if bool(order) else 'false'}")
        if source != path:
            source.unlink(missing_ok=True)
    return output


def _where(frame: pd.DataFrame, names: dict[str, tuple[str, int]]) -> list[str]:
    """``row 4 of reg.parquet`` / ``line 5 of reg.csv`` for rows ``sv_file, file_row_number``."""
    out = []
    for file, row in zip(frame["sv_file"], frame["file_row_number"]):
        name, offset = names.get(str(file), (Path(str(file)).name, 1))
        out.append(f"{'line' if offset == 2 else 'row'} {int(row) + offset} of {name}")
    return out


def load_register(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    columns: dict[str, str],
    defaults: dict[str, tuple[str, str]] | None = None,
    strata: Sequence[str] = (),
    part: str | None = None,
    part_strata: Sequence[str] = (),
    part_name: str = "part",
    missing: dict[str, str] | None = None,
    unit: str = "firm_id",
    check_ids: bool = True,
    engine: Engine | Session | str | None = None,
    examples: int = 5,
) -> int:
    """Check a register of any size in SQL and write it to one Parquet file with set types.

    The register is never loaded into pandas. Parquet files are read as they
    are, CSV files are first copied to Parquet (:func:`csv_to_parquet`: any
    encoding, GBK too). Then, each error naming the column and the first
    ids with their rows (``row 3 of reg.parquet``, ``line 4 of reg.csv``):

    1. every column of ``columns`` is there, with its type or text that casts
       to it (:class:`~survey.errors.ColumnError`);
    2. :func:`check_frame` (:class:`~survey.errors.FrameError`): no missing id,
       no id twice (each duplicated id with its count and rows), valid USCC
       ids (``check_ids``), no missing value of ``strata``;
    3. no missing value of ``part_strata`` in the units of ``part`` (an SQL
       condition, e.g. the take-some part).

    ``output`` then holds ``columns`` cast to their types (missing values of the columns
    of ``missing`` replaced by its SQL value), the columns of
    ``defaults`` (name -> (type, SQL value)) that the register lacks, and
    every other column of the register as it is.

    Parameters
    ----------
    sources : path, glob or list of paths
        Parquet or CSV file(s) (not both kinds).
    output : str or path
        The Parquet file written.
    columns : dict
        Required columns and their SQL types (``VARCHAR``, ``DOUBLE``,
        ``BOOLEAN``, ``BIGINT``); text columns also take integer codes.
    defaults : dict, optional
        Optional columns: name -> (SQL type, SQL value when absent).
    strata, part_strata : list of str
        Columns that must have no missing value (everywhere / in ``part``).
    part : str, optional
        SQL condition of the units whose ``part_strata`` are checked.
    part_name : str, default="part"
        What the messages call them (e.g. ``"take-some part"``).
    missing : dict, optional
        Column -> SQL value that replaces its missing values in ``output``
        (e.g. ``"CAST('NaN' AS DOUBLE)"``); the checks see the replaced values.
    unit : str, default="firm_id"
    check_ids : bool, default=True
    engine : Engine, Session, "duckdb" or None
    examples : int, default=5
        Ids named per failed check.

    Returns
    -------
    int
        Units on the register.

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> ids = ["91450100MA5KA1B2CM", "91450100MA5KA1B2C0"]
    >>> pd.DataFrame({"firm_id": ids, "size": ["1.5", "2"]}).to_csv(f"{folder}/r.csv", index=False)
    >>> load_register(f"{folder}/r.csv", f"{folder}/r.parquet", columns={"firm_id": "VARCHAR",
    ...               "size": "DOUBLE"})
    Traceback (most recent call last):
    ...
    survey.errors.FrameError: register: 1 invalid USCC id(s) in column 'firm_id': '91450100MA5KA1B2C0' (line 3 of r.csv); ...
    """
    s = as_engine(engine)
    if isinstance(sources, (str, os.PathLike)):
        found = sorted(glob.glob(str(sources))) if any(c in str(sources) for c in "*?[") else [sources]
        files = [Path(p) for p in found]
    else:
        files = [Path(p) for p in sources]
    if not files:
        raise FrameError(f"register: no file matches {str(sources)!r}")
    output = Path(output)
    kinds = {p.suffix.lower() for p in files}
    absent = [str(p) for p in files if not p.is_file()]
    if absent or not (kinds <= {".parquet"} or kinds <= {".csv"}):
        raise FrameError(f"register: give existing Parquet or CSV files (one kind), not "
                         f"{absent or sorted(kinds)}")
    names: dict[str, tuple[str, int]] = {}
    staged = output.parent / f"{output.stem}_csv"
    if kinds == {".csv"}:
        parts = []
        for k, p in enumerate(files):
            parts.append(csv_to_parquet(p, staged / f"{k}.parquet", engine=s))
            names[str(parts[-1])] = (p.name, 2)
        files = parts
    try:
        return _load_register(s, files, names, output, columns, dict(defaults or {}), list(strata),
                              part, list(part_strata), part_name, dict(missing or {}), unit,
                              check_ids, examples)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        for view in ("sv_register_part", "sv_register", "sv_register_input"):
            s.execute(f"DROP VIEW IF EXISTS {view}")


def _load_register(s: Session, files: list[Path], names: dict[str, tuple[str, int]], output: Path,
                   columns: dict[str, str], defaults: dict[str, tuple[str, str]], strata: list[str],
                   part: str | None, part_strata: list[str], part_name: str,
                   missing: dict[str, str], unit: str, check_ids: bool, examples: int) -> int:
    q = s.q
    listed = ", ".join(sql_literal(p) for p in files)
    s.execute("CREATE OR REPLACE TEMP VIEW sv_register_input AS SELECT * FROM read_parquet("
              f"[{listed}], filename = 'sv_file', file_row_number = true, union_by_name = true)")
    types = s.columns("sv_register_input")
    absent = [c for c in columns if c not in types]
    if absent:
        raise ColumnError(f"register: column(s) {absent} missing; the register needs {list(columns)} "
                          f"(it has {[c for c in types if c not in ('sv_file', 'file_row_number')]})")
    wanted = {**columns, **{c: t for c, (t, _) in defaults.items() if c in types}}
    cast_checks = []
    for c, t in wanted.items():
        have = types[c].split("(")[0]
        if have == "varchar" and t.upper() != "VARCHAR":
            cast_checks.append(c)
        elif not _type_fits(have, t.upper()):
            raise ColumnError(f"register: column {c!r} has type {types[c]}; it must be {t.upper()}"
                              + (" or text" if t.upper() != "VARCHAR" else " (or integer codes)"))
    for c in cast_checks:
        bad = f"{q(c)} IS NOT NULL AND TRY_CAST({q(c)} AS {wanted[c]}) IS NULL"
        n = int(s.sql(f"SELECT COUNT(*) AS n FROM sv_register_input WHERE {bad}")["n"].iloc[0])
        if n:
            ex = s.sql(f"SELECT {q(c)} AS v, sv_file, file_row_number FROM sv_register_input "
                       f"WHERE {bad} ORDER BY sv_file, file_row_number LIMIT {int(examples)}")
            shown = ", ".join(f"{v!r} ({w})" for v, w in zip(ex["v"], _where(ex, names)))
            raise ColumnError(f"register: {n} value(s) of column {c!r} are not {wanted[c]}: {shown}")
    select = [f"COALESCE(CAST({q(c)} AS {t}), {missing[c]}) AS {q(c)}" if c in missing
              else f"CAST({q(c)} AS {t}) AS {q(c)}" for c, t in wanted.items()]
    select += [f"CAST({value} AS {t}) AS {q(c)}" for c, (t, value) in defaults.items() if c not in types]
    rest = [q(c) for c in types if c not in wanted]
    s.execute(f"CREATE OR REPLACE TEMP VIEW sv_register AS SELECT {', '.join(select + rest)} "
              "FROM sv_register_input")
    checks = [("sv_register", strata, check_ids)]
    if part is not None and part_strata:
        s.execute(f"CREATE OR REPLACE TEMP VIEW sv_register_part AS SELECT * FROM sv_register "
                  f"WHERE {part}")
        checks.append(("sv_register_part", part_strata, False))
    units = []
    for view, cols, ids in checks:
        found = check_frame(view, unit=unit, strata=cols, check_ids=ids, engine=s, raise_errors=False,
                            examples=examples)
        units.append(found.N)
        for row in found.table.itertuples(index=False):
            if row.count:
                _raise_with_rows(s, view, row, unit, names, part_name if view != "sv_register" else None)
    s.write_parquet("SELECT * EXCLUDE (sv_file, file_row_number) FROM sv_register", output)
    return int(units[0])


def _type_fits(have: str, want: str) -> bool:
    if want == "VARCHAR":
        return have in ("varchar", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint",
                        "usmallint", "uinteger", "ubigint")
    if want == "BOOLEAN":
        return have == "boolean"
    return is_numeric_type(have) and have != "boolean"


def _raise_with_rows(s: Session, view: str, row: Any, unit: str, names: dict[str, tuple[str, int]],
                     part: str | None) -> None:
    """Raise the FrameError of a failed check of :func:`check_frame`, with the rows of its ids."""
    u = s.q(unit)
    ids = ", ".join(sql_literal(i) for i in row.examples)
    if row.check == "missing id":
        cond = f"{u} IS NULL"
    elif row.check == "missing stratum":
        cond = f"{s.q(row.column)} IS NULL AND {u} IN ({ids})"
    else:
        cond = f"{u} IN ({ids})"
    found = s.sql(f"SELECT {u} AS id, sv_file, file_row_number FROM {view} WHERE {cond} "
                  f"ORDER BY sv_file, file_row_number LIMIT {5 * max(len(row.examples), 1)}")
    found["where"] = _where(found, names)
    more = row.count - len(row.examples)
    tail = f" and {more} more" if more > 0 and row.check != "duplicate id" else ""
    if row.check == "missing id":
        where = ", ".join(found["where"])
        raise FrameError(f"register: {row.count} missing id(s) in column {unit!r} ({where}{tail}); "
                         "give every unit an id")
    grouped = found.groupby("id", sort=True)["where"].agg(list)
    if row.check == "duplicate id":
        shown = ", ".join(f"{i!r} {len(w)} times ({', '.join(w)})" for i, w in grouped.items())
        raise FrameError(f"register: {row.count} rows share duplicated firm ids in column {unit!r}: "
                         f"{shown}{' and more' if more > 0 else ''}; merge or remove the duplicates")
    shown = ", ".join(f"{i!r} ({', '.join(w)})" for i, w in grouped.items())
    if row.check == "invalid id":
        raise FrameError(f"register: {row.count} invalid USCC id(s) in column {unit!r}: {shown}{tail}; "
                         "the 18 characters of GB 32100-2015 end with the check character of the "
                         "first 17: correct them")
    inside = f" in the {part}" if part else ""
    raise FrameError(f"register: {row.count} missing value(s) of stratum column {row.column!r}"
                     f"{inside}: {shown}{tail}; code them or drop those units")
