"""The ledger on the SQL engine: ingest checks, the quarter view, edit rules and
ratio imputation links as DuckDB queries, so a national quarter (30 million firms
x 12 values) never becomes a pandas frame.

The in-memory functions stay the reference implementation; each function here
gives the same answer:

* :func:`configure_ledger` applies an :class:`~survey.engine.Engine`'s memory
  limit, temporary folder and threads to the ledger's DuckDB connection (never
  DuckDB's default of 80% of the RAM);
* :func:`ingest_file` is :meth:`Ledger.ingest <survey.returns.ledger.Ledger.ingest>`
  for a Parquet or CSV file read by DuckDB (``read_parquet`` / ``read_csv``
  into a staging table): the same checks (columns, ids, duplicates, register
  membership, period, numbers), the same :class:`~survey.returns.ledger.IngestReport`
  and rejection rows, the same values written;
* :func:`quarter_sql` / :class:`QuarterRelation` are
  :meth:`Ledger.to_frame <survey.returns.ledger.Ledger.to_frame>` as a query:
  :func:`survey.estimation.outofcore.scan` accepts the relation directly;
* :func:`rule_sql`, :func:`check_sql` evaluate the edit rules of
  :mod:`survey.returns.rules` as SQL ``WHERE`` expressions;
* :func:`ratio_links_sql` and :func:`ratio_impute_sql` compute the ONS
  ratio-of-means links and imputed values with joins and group sums.

See ``docs/scale.md``.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from survey.engine import Engine, is_numeric_type
from survey.errors import EditError, LedgerError, TableError
from survey.periods import normalise_quarter
from survey.periods import previous_quarter as quarter_before
from survey.register.sql import uscc_valid_sql

if TYPE_CHECKING:  # pragma: no cover
    from survey.returns.ledger import IngestReport, Ledger

__all__ = [
    "SQL_SOURCES",
    "QuarterRelation",
    "check_sql",
    "configure_ledger",
    "impute_ratio",
    "ingest_file",
    "quarter_sql",
    "ratio_impute_sql",
    "ratio_links_sql",
    "rule_sql",
]

#: File suffixes that :func:`ingest_file` reads inside DuckDB.
SQL_SOURCES: tuple[str, ...] = (".parquet", ".csv")

#: The strings pandas' CSV reader (pyarrow engine) reads as missing: the SQL path reads
#: them as NULL too, so both paths see the same cells.
_NULL_STRINGS: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)
#: A number as :func:`pandas.to_numeric` reads it (after stripping and removing commas).
_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_INFINITY = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def _ledger_module() -> Any:
    """``survey.returns.ledger`` (loaded: a Ledger exists), without an import cycle: the
    ledger imports this module."""
    return sys.modules["survey.returns.ledger"]


def _file_hash(path: Path) -> tuple[str, str]:
    """File name and SHA-256 of its bytes (the ledger's content hash)."""
    import hashlib

    if not path.is_file():
        raise LedgerError(f"ingest: file {str(path)!r} does not exist")
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            h.update(block)
    return path.name, h.hexdigest()


def _no_rejections() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype="Int64"), "column": pd.Series(dtype="str"),
                         "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")})


def _one_rejection(row: int, column: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"row": pd.array([row], dtype="Int64"), "column": [column],
                         "value": [""], "reason": [reason]}).astype(
        {"column": "str", "value": "str", "reason": "str"})


def _lit(text: Any) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _qi(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# the engine settings of the ledger's connection
# ---------------------------------------------------------------------------
def configure_ledger(connection: Any, engine: Engine | None) -> Engine:
    """Apply an engine's memory limit, temporary folder and threads to a ledger connection.

    The ledger is a DuckDB file, so only ``kind="duckdb"`` engines apply.
    Without ``engine`` the defaults of :class:`~survey.engine.Engine` are used
    (``memory_limit="4GB"``): a ledger never runs with DuckDB's default of
    80% of the machine's RAM. The settings are global to the database, so
    they hold for every cursor of the ledger.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection
        The ledger's connection.
    engine : Engine or None

    Returns
    -------
    Engine
        An engine on ``connection`` with the same settings: pass it as
        ``engine=`` to :func:`survey.estimation.outofcore.scan` to read the
        ledger's relations.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> eng = configure_ledger(con, Engine(memory_limit="300MB"))
    >>> con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    '286.1 MiB'
    """
    engine = engine if engine is not None else Engine()
    if not isinstance(engine, Engine):
        raise LedgerError(f"Ledger: engine must be a survey.engine.Engine, got {type(engine).__name__}")
    if engine.kind != "duckdb":
        raise LedgerError(
            "Ledger: the ledger is a DuckDB file; give an Engine(kind='duckdb') (scan the "
            "quarter's Parquet export with a Spark engine instead)"
        )
    temp = (engine.temp_directory if engine.temp_directory is not None
            else os.path.join(tempfile.gettempdir(), "survey-engine"))  # Engine's default
    own = Engine(kind="duckdb", memory_limit=engine.memory_limit, temp_directory=temp,
                 threads=engine.threads, connection=connection)
    own.session()  # sets memory_limit, temp_directory and threads on the connection
    return own


# ---------------------------------------------------------------------------
# ingest inside DuckDB
# ---------------------------------------------------------------------------
def is_sql_source(source: Any) -> bool:
    """Whether ``source`` is a Parquet or CSV file path (read by DuckDB, not pandas).

    Examples
    --------
    >>> is_sql_source("q1.parquet"), is_sql_source("q1.xlsx")
    (True, False)
    """
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in SQL_SOURCES


def _csv_encoding(path: Path) -> str:
    """The encoding of a CSV file, decoded as a stream (read_table's rule): a UTF-8 BOM
    or valid UTF-8 -> utf-8; a UTF-16 BOM -> utf-16; else gb18030. Raise TableError via
    read_table's own message when the bytes fit none."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "gb18030"]
    for enc in encodings:
        decoder = codecs.getincrementaldecoder(enc)()
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError:
            continue
    _exact_error(path)
    raise TableError(f"{path.name}: the encoding is neither UTF-8 nor GB18030", path=path)


def _exact_error(path: Path) -> None:
    """Raise the TableError of :func:`survey.io.read_table` (small files only: it reads the
    whole file into memory)."""
    if path.stat().st_size <= 256 * 1024 * 1024:
        from survey.io import read_table

        read_table(path, check_header=False)


def _transcode(path: Path, encoding: str, folder: str) -> Path:
    """A UTF-8 copy of a CSV file (streamed, bounded memory)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".csv", dir=folder)
    decoder = codecs.getincrementaldecoder(encoding)()
    with os.fdopen(fd, "wb") as out, path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            out.write(decoder.decode(block).encode("utf-8"))
        out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return Path(name)


def _raw_header(path: Path, encoding: str) -> list[str]:
    import csv

    with path.open("rb") as handle:
        first = handle.readline()
    line = first.decode(encoding, errors="replace")
    row = next(csv.reader([line]), [])
    return [c.strip() for c in row]


def _ends_with_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) in (b"\n", b"\r")


def _stage(cur: Any, path: Path, temp: str) -> tuple[list[str], list[str], set[str]]:
    """Read the file into the temp table ``sv_stage`` (raw columns ``c0, c1...``, text for
    CSV, native types for Parquet). Return the raw header, the staged column names and
    the staged columns that hold text."""
    cur.execute("DROP TABLE IF EXISTS sv_stage")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            header = [str(c) for c in pq.read_schema(path).names]
        except Exception as exc:  # pyarrow's errors
            raise TableError(f"{path.name}: not a readable Parquet file: {exc}", path=path) from exc
        cols = ", ".join(f"{_qi(c)} AS c{i}" for i, c in enumerate(header))
        cur.execute(f"CREATE TEMP TABLE sv_stage AS SELECT {cols} FROM read_parquet({_lit(path)})")
        rel = cur.sql("SELECT * FROM sv_stage")
        text = {c for c, t in zip(rel.columns, rel.types, strict=True)
                if not is_numeric_type(str(t).lower())}
        return header, [f"c{i}" for i in range(len(header))], text
    encoding = _csv_encoding(path)
    header = _raw_header(path, encoding)
    if not header:
        raise TableError(f"{path.name}: the file is empty (no header line)", path=path, line=1)
    source = path
    if encoding not in ("utf-8", "utf-8-sig"):
        source = _transcode(path, encoding, temp)
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(_lit(s) for s in _NULL_STRINGS) + "]"
    try:
        cur.execute(
            f"""CREATE TEMP TABLE sv_stage AS SELECT * FROM read_csv({_lit(source)},
                header = false, skip = 1, columns = {columns}, all_varchar = true,
                delim = ',', quote = '"', escape = '"', nullstr = {nulls},
                strict_mode = true, null_padding = false, auto_detect = false)"""
        )
    except Exception as exc:
        _exact_error(path)
        line = re.search(r"Line:\s*(\d+)", str(exc))
        raise TableError(
            f"{path.name}: cannot parse as CSV"
            + (f" at line {line.group(1)}" if line else "")
            + f": {str(exc).splitlines()[0]}; nothing was read",
            path=path, line=int(line.group(1)) if line else None,
        ) from exc
    finally:
        if source != path:
            source.unlink(missing_ok=True)
    if not _ends_with_newline(path):
        _check_last_record_sql(cur, header, names, path)
    return header, names, set(names)


def _check_last_record_sql(cur: Any, header: list[str], names: list[str], path: Path) -> None:
    """read_table's check of an unterminated last record (``survey.io``), on the staged
    table: its last field must not be empty, shorter than every other value of the column,
    or have fewer decimals than all of them (the same rule and message)."""
    n = int(cur.execute("SELECT count(*) FROM sv_stage").fetchone()[0])
    if n == 0:
        return
    last = names[-1]
    column = header[-1].strip()
    v = f"trim(coalesce({_qi(last)}, ''))"
    pattern = r"^[+-]?[0-9][0-9,]*\.([0-9]*)$"
    row = cur.execute(
        f"""SELECT min(length({v})) FILTER (WHERE {v} <> ''),
              bool_and(regexp_full_match({v}, {_lit(pattern)})) FILTER (WHERE {v} <> ''),
              min(length(regexp_extract({v}, {_lit(pattern)}, 1))) FILTER (WHERE {v} <> '')
            FROM sv_stage WHERE rowid < {n - 1}"""
    ).fetchone()
    shortest, all_decimal, least = row
    raw = cur.execute(f"SELECT {_qi(last)} FROM sv_stage WHERE rowid = {n - 1}").fetchone()[0]
    value = (raw or "").strip()
    line = n + 1

    def reject(why: str) -> None:
        _exact_error(path)
        raise TableError(
            f"{path.name}: the file does not end with a line break and its last record (line "
            f"{line}) looks cut short: {why}; the file is probably truncated, nothing was read. "
            "Send the complete file (or, if the record is complete, end the file with a line "
            "break)", path=path.name, line=line, column=column)

    if value == "":
        reject(f"its last field ({column!r}) is empty")
    if shortest is None:
        return
    if len(value) < int(shortest):
        reject(f"{column!r} = {value!r} is shorter than every other value of the column "
               f"(at least {int(shortest)} characters)")
    if all_decimal:
        match = re.match(pattern, value)
        own = len(match.group(1)) if match else 0
        if own < int(least):
            reject(f"{column!r} = {value!r} has {own} decimals where every other value of the "
                   f"column has at least {int(least)}")


def _text(col: str) -> str:
    return f"CAST({_qi(col)} AS VARCHAR)"


def _number_sql(col: str, is_text: bool) -> tuple[str, str, str]:
    """SQL (value, not a number, present) of an item column, as ``_to_numeric``."""
    if not is_text:
        return f"CAST({_qi(col)} AS DOUBLE)", "FALSE", f"{_qi(col)} IS NOT NULL"
    t = f"replace(trim({_text(col)}), ',', '')"
    value = (
        f"CASE WHEN regexp_full_match({t}, {_lit(_NUMBER)}) "
        f"OR lower({t}) IN ({', '.join(_lit(s) for s in _INFINITY)}) "
        f"THEN TRY_CAST({t} AS DOUBLE) END"
    )
    present = f"({_qi(col)} IS NOT NULL AND {t} <> '')"
    not_number = f"({present} AND ({value} IS NULL OR isnan({value})))"
    return value, not_number, present


def ingest_file(
    ledger: "Ledger",
    source: str | os.PathLike,
    period: str,
    channel: str,
    *,
    money_unit: str,
    author: str,
    errors: str = "raise",
    cursor: Any,
    check: Any,
    write: Any,
) -> "IngestReport":
    """:meth:`Ledger.ingest` of a Parquet or CSV file, done inside DuckDB.

    The file is read by DuckDB (``read_parquet``, or ``read_csv`` with every
    cell as text) into a staging table; the checks of the pandas path run as
    SQL (columns, valid and unique ids, register membership, period, numbers
    and infinite values) and return the same rejection rows; the values are
    written by the same statement. Memory stays within the ledger engine's
    ``memory_limit`` (DuckDB spills to its ``temp_directory``).

    CSV specifics kept from :func:`survey.io.read_table`: UTF-8 (with or
    without BOM), UTF-16 with BOM or GB18030 (transcoded to a temporary
    UTF-8 copy, streamed), pandas' missing-value strings (``NA``, ``nan``...),
    records of the wrong length and an unterminated last record that looks
    cut short are rejected (with read_table's own message for files up to
    256 MB).

    Parameters
    ----------
    ledger : Ledger
    source : str or path
        A ``.parquet`` or ``.csv`` file.
    period, channel, money_unit, author, errors
        As :meth:`Ledger.ingest` (already validated by it).
    cursor, check, write : callable
        The ledger's cursor factory, its schema checks (``(frame, period, header_line,
        register) -> (wide, rejections)``) and its statement that writes a checked file;
        :meth:`Ledger.ingest` passes its own.

    Returns
    -------
    IngestReport

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> from survey.engine import Engine
    >>> from survey.form import DEMO_FORM
    >>> from survey.register.frame import uscc_check_character
    >>> from survey.returns.ledger import Ledger
    >>> fid = "91450100MA5KA1B2C" + uscc_check_character("91450100MA5KA1B2C")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "q1.csv")
    ...     pd.DataFrame({"firm_id": [fid], "revenue_ytd": [5.0]}).to_csv(p, index=False)
    ...     with Ledger.open(":memory:", form=DEMO_FORM, engine=Engine(memory_limit="500MB")) as led:
    ...         report = led.ingest(p, "2006Q1", "bureau")
    >>> report.status, report.values_written
    ('loaded', 1)
    """
    led = _ledger_module()
    money_units, report_class = led.MONEY_UNITS, led.IngestReport

    start = time.perf_counter()
    period = normalise_quarter(period)
    form = ledger.form
    path = Path(source)
    name, digest = _file_hash(path)
    cur = cursor()

    def rejected_report(rows: int, table: pd.DataFrame) -> Any:
        return report_class(
            status="rejected", source=name, period=period, channel=channel,
            content_hash=digest, file_id=None, rows=rows, values_written=0,
            values_unchanged=0, rejected=table, seconds=time.perf_counter() - start,
        )  # fmt: skip

    try:
        earlier = cur.execute(
            "SELECT file_id, rows, values_written FROM files WHERE content_hash = ? "
            "AND period = ? ORDER BY file_id LIMIT 1",
            [digest, period],
        ).fetchall()
        if earlier:
            file_id, rows, written = earlier[0]
            return report_class(
                status="unchanged", source=name, period=period, channel=channel,
                content_hash=digest, file_id=int(file_id), rows=int(rows),
                values_written=0, values_unchanged=int(written),
                seconds=time.perf_counter() - start,
            )  # fmt: skip
        temp = str(cur.execute("SELECT current_setting('temp_directory')").fetchone()[0] or
                   tempfile.gettempdir())
        try:
            header, staged, text_cols = _stage(cur, path, temp)
        except TableError as exc:
            report = rejected_report(0, _one_rejection(exc.line or 1, exc.column or "",
                                                       str(exc)))
            if errors == "raise":
                error = LedgerError(f"ingest: cannot read {name!r}: {exc}")
                error.report = report  # type: ignore[attr-defined]
                raise error from exc
            return report
        n_rows = int(cur.execute("SELECT count(*) FROM sv_stage").fetchone()[0])
        # the schema checks of the pandas path, on the raw header
        _, schema = check(pd.DataFrame(columns=header), period, 2, None)
        if len(schema):
            return _reject(rejected_report(n_rows, schema), errors)
        rejected = _row_checks(ledger, cur, header, staged, text_cols, period)
        if len(rejected):
            return _reject(rejected_report(n_rows, rejected), errors)
        factor = money_units[money_unit] / money_units[form.money_unit]
        money_items = {c for v in form.money for c in (form.ytd(v), form.last_year(v))}
        position = {c: i for i, c in enumerate(header)}
        items = [c for c in dict.fromkeys(header) if c in ledger.items]
        cols = []
        for c in items:
            value, _, _ = _number_sql(staged[position[c]], staged[position[c]] in text_cols)
            if c in money_items and factor != 1.0:
                value = f"({value}) * {factor!r}"
            cols.append(f"{value} AS {_qi(c)}")
        key = staged[position[form.id]]
        cur.execute("DROP TABLE IF EXISTS sv_wide")
        cur.execute(
            f"""CREATE TEMP TABLE sv_wide AS
                SELECT trim({_text(key)}) AS firm_id, rowid + 2 AS row_number, {", ".join(cols)}
                FROM sv_stage"""
        )
        cur.execute("DROP TABLE sv_stage")
        wide = cur.sql("SELECT * FROM sv_wide")
        written, unchanged, file_id = write(
            cur, wide, period=period, channel=channel, money_unit=money_unit, name=name,
            digest=digest, author=author,
        )  # fmt: skip
        cur.execute("DROP TABLE IF EXISTS sv_wide")
    finally:
        try:
            for table in ("sv_stage", "sv_wide", "sv_ids"):
                cur.execute(f"DROP TABLE IF EXISTS {table}")
        except Exception:  # pragma: no cover - the cursor is closing anyway
            pass
        cur.close()
    return report_class(
        status="loaded" if written else "unchanged", source=name, period=period,
        channel=channel, content_hash=digest, file_id=file_id, rows=n_rows,
        values_written=written, values_unchanged=unchanged,
        seconds=time.perf_counter() - start,
    )  # fmt: skip


def _reject(report: "IngestReport", errors: str) -> "IngestReport":
    if errors == "raise":
        error = LedgerError(str(report) + " (see report.rejected for every row)")
        error.report = report  # type: ignore[attr-defined]
        raise error
    return report


def _row_checks(
    ledger: "Ledger", cur: Any, header: list[str], staged: list[str], text_cols: set[str],
    period: str,
) -> pd.DataFrame:
    """The row checks of ``Ledger._check`` as one SQL query over ``sv_stage``; the
    rejection rows in the pandas path's order (row, column, then check)."""
    form = ledger.form
    position = {c: i for i, c in enumerate(header)}
    key = staged[position[form.id]]
    idt = f"trim({_text(key)})"
    if form.id_format == "uscc":
        valid = f"COALESCE({uscc_valid_sql(idt)}, FALSE)"
        bad_reason = "not a valid 18-character unified social credit code"
    else:
        valid = f"({idt} IS NOT NULL AND {idt} <> '' AND {idt} NOT IN ('nan', 'None', '<NA>'))"
        bad_reason = "missing id"
    has_units = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
    ).fetchall()[0][0]
    in_register: bool | None = None
    if has_units:
        stored = cur.execute("SELECT count(*) FROM units WHERE period = ?", [period]).fetchone()[0]
        if stored:
            in_register = True
    # the id check once per row (the USCC check character is the costly expression)
    cur.execute("DROP TABLE IF EXISTS sv_ids")
    cur.execute(f"CREATE TEMP TABLE sv_ids AS SELECT rowid + 2 AS row, {idt} AS id, "
                f"{valid} AS ok FROM sv_stage")
    parts = [
        # a missing id is missing in the report too (NaN, as the pandas path)
        f"SELECT row, {_lit(form.id)} AS col, id AS value, {_lit(bad_reason)} AS reason, "
        "0 AS kind FROM sv_ids WHERE NOT ok",
        f"""SELECT row, {_lit(form.id)}, id, 'firm appears more than once', 1 FROM (
              SELECT row, id, ok, count(*) OVER (PARTITION BY id) AS n FROM sv_ids)
            WHERE ok AND n > 1""",
    ]
    if in_register is not None:
        parts.append(
            f"SELECT row, {_lit(form.id)}, id, "
            f"{_lit(f'firm is not in the register snapshot of {period}')}, 2 "
            f"FROM sv_ids i WHERE ok AND NOT EXISTS (SELECT 1 FROM units u WHERE "
            f"u.period = {_lit(period)} AND u.firm_id = i.id)"
        )
    if form.period in position:
        per = f"trim({_text(staged[position[form.period]])})"
        parts.append(
            f"SELECT rowid + 2, {_lit(form.period)}, {per}, "
            f"{_lit(f'period differs from {period!r}')}, 3 FROM sv_stage "
            f"WHERE {per} IS DISTINCT FROM {_lit(period)}"
        )
    items = [c for c in dict.fromkeys(header) if c in ledger.items]
    for k, c in enumerate(items):
        col = staged[position[c]]
        value, not_number, _ = _number_sql(col, col in text_cols)
        parts.append(
            f"SELECT rowid + 2, {_lit(c)}, {_text(col)}, 'not a number', {10 + 2 * k} "
            f"FROM sv_stage WHERE {not_number}"
        )
        parts.append(
            f"SELECT rowid + 2, {_lit(c)}, CASE WHEN {value} > 0 THEN 'inf' ELSE '-inf' END, "
            f"'infinite value', {11 + 2 * k} FROM sv_stage WHERE isinf({value})"
        )
    query = " UNION ALL ".join(f"({p})" for p in parts)
    out = cur.execute(
        f"SELECT row, col AS \"column\", value, reason FROM ({query}) "
        "ORDER BY row, \"column\", kind"
    ).df()
    cur.execute("DROP TABLE IF EXISTS sv_ids")
    if not len(out):
        return _no_rejections()
    out["row"] = out["row"].astype("Int64")
    for c in ("column", "value", "reason"):
        out[c] = out[c].astype("str")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# the quarter as a relation
# ---------------------------------------------------------------------------
def _as_of_sql(as_of_clause: tuple[str, list]) -> str:
    """A ledger ``as_of`` clause (``Ledger._as_of_clause``'s text and parameters) inlined."""
    clause, params = as_of_clause
    if not params:
        return ""
    value = params[0]
    if isinstance(value, datetime):
        return clause.replace("?", f"TIMESTAMP {_lit(value.isoformat(sep=' '))}")
    return clause.replace("?", str(int(value)))


def _wide_sql(ledger: "Ledger", period: str, clause: str) -> str:
    form = ledger.form
    selects = [
        f"arg_max(value, revision) FILTER (WHERE item = {_lit(item)}) AS {_qi(item)}"
        for item in ledger.items
    ]
    selects += [
        f"arg_max(marker, revision) FILTER (WHERE item = {_lit(form.ytd(var))})::VARCHAR "
        f"AS {_qi(var + '_marker')}"
        for var in ledger.indicators
    ]
    return (f"SELECT firm_id, {', '.join(selects)} FROM returns "
            f"WHERE period = {_lit(period)}{clause} GROUP BY firm_id")


def quarter_sql(ledger: "Ledger", period: str, *, connection: Any,
                as_of_clause: tuple[str, list] = ("", []), register: bool = True) -> str:
    """SQL text of :meth:`Ledger.to_frame` (same rows, columns and values; no pandas).

    Missing values are NULL (NaN in ``to_frame``). Not reproduced: the
    warnings of ``to_frame`` (firms outside the register snapshot, falling
    cumulative values; :func:`survey.returns.rules.check` lists the latter).

    Parameters
    ----------
    ledger : Ledger
    period : str
    connection : duckdb.DuckDBPyConnection
        A cursor of the ledger (to read the register snapshot's columns).
    as_of_clause : (str, list), default=("", [])
        The ledger's ``as_of`` clause and parameters (the latest state by default).
    register : bool, default=True

    Returns
    -------
    str
        A ``SELECT`` over the ledger's tables, ordered by firm id.

    Examples
    --------
    >>> from survey.form import DEMO_FORM
    >>> from survey.returns.ledger import Ledger
    >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
    ...     text = ledger.quarter_relation("2006Q2").sql
    >>> text.startswith("WITH cur AS (SELECT firm_id")
    True
    """
    form = ledger.form
    period = normalise_quarter(period)
    previous = quarter_before(period, same_year=True)
    clause = _as_of_sql(as_of_clause)
    ctes = [f"cur AS ({_wide_sql(ledger, period, clause)})"]
    if previous is not None:
        ctes.append(f"prev AS ({_wide_sql(ledger, previous, clause)})")
    cur = connection
    has_units = register and cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
    ).fetchall()[0][0] > 0
    unit_cols: list[str] = []
    if has_units:
        unit_cols = [c for c in cur.execute("SELECT * FROM units LIMIT 0").df().columns
                     if c not in ("period", "firm_id")]
    derived = {form.period} | {
        f"{var}{suffix}" for var in ledger.indicators
        for suffix in ("", "_last_year", form.ytd_suffix, form.last_year_suffix,
                       form.previous_suffix, "_marker")
    }
    select = [f"{'coalesce(u.firm_id, c.firm_id)' if has_units else 'c.firm_id'} AS "
              f"{_qi(form.id)}", f"{_lit(period)} AS {_qi(form.period)}"]
    for c in unit_cols:
        out = f"{c}_register" if c in derived else c
        select.append(f"u.{_qi(c)} AS {_qi(out)}")
    stocks = set(form.stocks)
    # to_frame's column order: items, markers, then the quarters, then the previous values
    items, markers, quarters, previous_cols = [], [], [], []
    for item in ledger.items:
        items.append(f"c.{_qi(item)} AS {_qi(item)}")
    for var in ledger.indicators:
        markers.append(f"coalesce(c.{_qi(var + '_marker')}, 'missing') AS {_qi(var + '_marker')}")
        for item, target in ((form.ytd(var), var), (form.last_year(var), f"{var}_last_year")):
            if var in stocks or previous is None:
                quarters.append(f"c.{_qi(item)} AS {_qi(target)}")
            else:
                quarters.append(f"c.{_qi(item)} - p.{_qi(item)} AS {_qi(target)}")
        prev_value = f"p.{_qi(form.ytd(var))}" if previous is not None else "CAST(NULL AS DOUBLE)"
        previous_cols.append(f"{prev_value} AS {_qi(form.previous(var))}")
    select += items + markers + quarters + previous_cols
    if has_units:
        ctes.append(f"u AS (SELECT * EXCLUDE (period) FROM units WHERE period = {_lit(period)})")
        source = "u FULL OUTER JOIN cur c ON u.firm_id = c.firm_id"
        key = "coalesce(u.firm_id, c.firm_id)"
    else:
        source = "cur c"
        key = "c.firm_id"
    if previous is not None:
        source += f" LEFT JOIN prev p ON p.firm_id = {key}"
    return (f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM {source} "
            f"ORDER BY {_qi(form.id)}")


@dataclass(frozen=True, eq=False)
class QuarterRelation:
    """One quarter of a ledger as a DuckDB relation, with the engine that reads it.

    :func:`survey.estimation.outofcore.scan` accepts it directly (it reads
    the relation on the ledger's connection, within the ledger engine's
    memory limit).

    Attributes
    ----------
    relation : duckdb.DuckDBPyRelation
        The rows of :meth:`Ledger.to_frame`, computed by DuckDB when read.
    engine : Engine
        The ledger's engine (its connection and settings).
    period : str
    sql : str
        The query text.
    """

    relation: Any
    engine: Engine
    period: str
    sql: str

    def __survey_source__(self) -> tuple[Any, Engine]:
        """The (relation, engine) pair that :func:`~survey.estimation.outofcore.scan` reads."""
        return self.relation, self.engine

    def df(self) -> pd.DataFrame:
        """The quarter as a pandas frame (small ledgers and tests only)."""
        return self.relation.df()

    def write_parquet(self, path: str | os.PathLike) -> Path:
        """Write the quarter to a Parquet file inside DuckDB (no pandas)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine.session().execute(f"COPY ({self.sql}) TO {_lit(path)} (FORMAT PARQUET)")
        return path


# ---------------------------------------------------------------------------
# edit rules as SQL
# ---------------------------------------------------------------------------
_SQL_BINOPS = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/"}
_SQL_COMPARE = {"Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "=", "NotEq": "<>"}


def _finite(expr: str) -> str:
    return f"COALESCE(isfinite({expr}), FALSE)"


def _no_nan(expr: str) -> str:
    return f"(CASE WHEN isnan({expr}) THEN NULL ELSE {expr} END)"


def _rule_node(node: Any, column: Any) -> tuple[str, bool]:
    """SQL of a rule node and whether it is a truth (NULL = not evaluated)."""
    import ast

    from survey.engine import sql_float

    if isinstance(node, ast.Expression):
        return _rule_node(node.body, column)
    if isinstance(node, ast.Constant):
        return sql_float(float(node.value)), False
    if isinstance(node, ast.Name):
        return f"CAST({column(node.id)} AS DOUBLE)", False
    if isinstance(node, ast.UnaryOp):
        inner, truth = _rule_node(node.operand, column)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            if not truth:
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            return f"(NOT {inner})", True
        if truth:
            raise EditError("a sign cannot be applied to a comparison")
        return (f"(-{inner})" if isinstance(node.op, ast.USub) else inner), False
    if isinstance(node, ast.BinOp):
        left, lt = _rule_node(node.left, column)
        right, rt = _rule_node(node.right, column)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            if not (lt and rt):
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            return f"({left} {'AND' if isinstance(node.op, ast.BitAnd) else 'OR'} {right})", True
        if lt or rt:
            raise EditError("arithmetic on a comparison is not allowed; compare numbers")
        if isinstance(node.op, ast.Pow):
            return f"pow({left}, {right})", False
        op = _SQL_BINOPS.get(type(node.op).__name__)
        if op is None:  # pragma: no cover - the parser refuses other operators
            raise EditError(f"operator {type(node.op).__name__} cannot be written in SQL")
        return f"({left} {op} {right})", False
    if isinstance(node, ast.BoolOp):
        parts = []
        for v in node.values:
            sql, truth = _rule_node(v, column)
            if not truth:
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            parts.append(sql)
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(parts) + ")", True
    if isinstance(node, ast.Compare):
        left, lt = _rule_node(node.left, column)
        parts = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right, rt = _rule_node(comparator, column)
            if lt or rt:
                raise EditError("comparisons of comparisons are not allowed")
            sym = _SQL_COMPARE[type(op).__name__]
            # evaluated only where both numbers are finite (NULL = not evaluated)
            parts.append(f"(CASE WHEN {_finite(left)} AND {_finite(right)} "
                         f"THEN {left} {sym} {right} END)")
            left, lt = right, rt
        return "(" + " AND ".join(parts) + ")", True
    if isinstance(node, ast.Call):
        name = node.func.id
        args = []
        for a in node.args:
            sql, truth = _rule_node(a, column)
            if truth:
                raise EditError("functions take numbers, not comparisons")
            args.append(sql)
        if name in ("min", "max") and len(args) == 2:
            # numpy fmin/fmax: a NaN (or missing) argument is ignored
            fn = "LEAST" if name == "min" else "GREATEST"
            return f"{fn}({_no_nan(args[0])}, {_no_nan(args[1])})", False
        if name in ("abs", "sqrt", "log10") and len(args) == 1:
            return f"{name}({args[0]})", False
        if name == "log" and len(args) == 1:
            return f"ln({args[0]})", False
        raise EditError(f"function {name}() with {len(args)} arguments cannot be written in SQL")
    raise EditError(f"rule element {type(node).__name__} cannot be written in SQL")


def rule_sql(rule: Any, quote: Any = _qi) -> str:
    """An edit rule as an SQL boolean: TRUE (passes), FALSE (fails), NULL (not evaluated).

    The same three-valued logic as :meth:`survey.returns.rules.Rule.evaluate`:
    a comparison is evaluated only when both sides are finite numbers
    (missing values are NULL or NaN), ``and``/``or``/``not`` are Kleene
    logic (SQL's own), ``min``/``max`` ignore a missing argument (numpy's
    ``fmin``/``fmax``), arithmetic is IEEE (DuckDB: ``1/0`` is infinite, then
    not evaluated). Anything that cannot be written in SQL raises
    :class:`~survey.errors.EditError`.

    Parameters
    ----------
    rule : Rule or str
    quote : callable, default: DuckDB identifier quoting

    Returns
    -------
    str

    Examples
    --------
    >>> rule_sql("export_delivery_ytd <= gross_output_ytd")
    '((CASE WHEN COALESCE(isfinite(CAST("export_delivery_ytd" AS DOUBLE)), FALSE) AND COALESCE(isfinite(CAST("gross_output_ytd" AS DOUBLE)), FALSE) THEN CAST("export_delivery_ytd" AS DOUBLE) <= CAST("gross_output_ytd" AS DOUBLE) END))'
    """
    from survey.returns.rules import Rule

    if isinstance(rule, str):
        rule = Rule(name=rule, expression=rule)
    import ast

    # the expression was checked by Rule (the safe subset); parse it again for SQL
    sql, truth = _rule_node(ast.parse(rule.expression.strip(), mode="eval"), quote)
    if not truth:  # pragma: no cover - Rule refuses numbers
        raise EditError(f"rule {rule.name!r} is a number, not a condition")
    return sql


def check_sql(
    session: Any,
    source: Any,
    rules: Any = None,
    *,
    form: Any = None,
    id: str | None = None,
    skip_missing_columns: bool | None = None,
    max_failures: int | None = None,
) -> Any:
    """:func:`survey.returns.rules.check` on a table in the SQL engine.

    One query per rule returns the counts (``evaluated``, ``failed``,
    ``not_evaluated``); one more returns the failing units with the values
    the rule saw. The per-unit ``flags`` frame of the in-memory report
    (one row per unit) is not built: it is empty here.

    Parameters
    ----------
    session : survey.engine.Session, Engine or None
        Where to run (DuckDB).
    source : view name, Parquet path, relation, QuarterRelation or DataFrame
    rules, form, id, skip_missing_columns
        As :func:`survey.returns.rules.check`.
    max_failures : int, optional
        Return at most this many failure rows (all rules together).

    Returns
    -------
    survey.returns.rules.EditReport
        ``failures`` (ordered by rule, then unit id) and ``summary`` equal to
        the in-memory report's on the same data.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [100.0, 50.0, None],
    ...                    "export_delivery_ytd": [20.0, 60.0, 5.0]})
    >>> report = check_sql(None, df, ["export_delivery_ytd <= gross_output_ytd"])
    >>> report.failures[["firm_id", "rule"]].values.tolist()
    [['b', 'export_delivery_ytd <= gross_output_ytd']]
    """
    from survey.engine import as_engine
    from survey.returns.rules import EditReport, Rule, default_rules, resolve_id

    if hasattr(source, "__survey_source__"):
        source, own = source.__survey_source__()
        session = own if session is None else session
    s = as_engine(session)
    view = s.register(source)
    try:
        columns = s.columns(view)
        unit = resolve_id(id, form)
        if unit not in columns:
            raise EditError(f"check: id column {unit!r} is not in the data")
        if rules is None:
            if form is None:
                raise EditError("check: give the rules, or form= for the default rules of a "
                                "return form")
            rules = default_rules(form)
            skip = True if skip_missing_columns is None else skip_missing_columns
        else:
            skip = bool(skip_missing_columns)
            rules = [Rule(name=r, expression=r) if isinstance(r, str) else r for r in rules]
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise EditError(f"check: rule names must be unique, got {names}")
        used, skipped = [], []
        for r in rules:
            absent = [v for v in r.variables if v not in columns]
            if absent:
                if skip:
                    skipped.append(r.name)
                    continue
                raise EditError(f"rule {r.name!r} ({r.expression}) uses columns {absent} that are "
                                "not in the data")
            used.append(r)
        q = s.q
        if used:
            counts = ", ".join(
                f"COUNT({rule_sql(r, q)}) AS e{k}, "
                f"SUM(CASE WHEN NOT {rule_sql(r, q)} THEN 1 ELSE 0 END) AS f{k}"
                for k, r in enumerate(used)
            )
            row = s.sql(f"SELECT COUNT(*) AS n, {counts} FROM {view}").iloc[0]
            n = int(row["n"])
        summary = pd.DataFrame(
            [{"rule": r.name, "severity": r.severity, "evaluated": int(row[f"e{k}"]),
              "failed": int(row[f"f{k}"] or 0), "not_evaluated": n - int(row[f"e{k}"])}
             for k, r in enumerate(used)],
            columns=["rule", "severity", "evaluated", "failed", "not_evaluated"],
        )
        parts = []
        for k, r in enumerate(used):
            if not int(row[f"f{k}"] or 0):
                continue
            values = ", ".join(f"CAST({q(v)} AS DOUBLE) AS v{j}" for j, v in enumerate(r.variables))
            parts.append((r, f"SELECT {q(unit)} AS sv_unit, {values} "
                             f"FROM {view} WHERE NOT {rule_sql(r, q)}"))
        tables = []
        limit = f" LIMIT {int(max_failures)}" if max_failures is not None else ""
        for r, part in parts:
            got = s.sql(f"{part} ORDER BY sv_unit{limit}")
            text = np.full(len(got), "", dtype=object)
            for j, v in enumerate(r.variables):
                seen = got[f"v{j}"].to_numpy(dtype=float, na_value=np.nan)
                text = text + np.array([f"{v}={x:g} " for x in seen], dtype=object)
            tables.append(pd.DataFrame({unit: got["sv_unit"].to_numpy(), "rule": r.name,
                                        "severity": r.severity, "expression": r.expression,
                                        "values": pd.Series(text).str.strip().to_numpy()}))
        failures = (pd.concat(tables, ignore_index=True) if tables
                    else pd.DataFrame(columns=[unit, "rule", "severity", "expression", "values"]))
        if max_failures is not None:
            failures = failures.head(int(max_failures))
    finally:
        s.drop(view)
    return EditReport(failures=failures, summary=summary,
                      flags=pd.DataFrame({unit: pd.Series(dtype=object)}), skipped=tuple(skipped))


# ---------------------------------------------------------------------------
# ONS ratio-of-means imputation links as SQL
# ---------------------------------------------------------------------------
_RETURNED_SQL = "('returned', 'edited')"
_CARRIED_SQL = "('returned', 'edited', 'forward_imputed', 'constructed')"


def _class_cols(by: Any) -> list[str]:
    return [by] if isinstance(by, str) else list(by or [])


def ratio_links_sql(
    current: str,
    previous: str | None,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
) -> str:
    """SQL of the ONS ratio-of-means links of one period, per imputation class.

    ``forward_link = sum(y_t) / sum(y_t-1)`` over the units that returned
    (marker ``returned`` or ``edited``, finite value) in both periods, in
    their class of period ``t``; ``construction_link = sum(y_t) / sum(x_t)``
    over the units that returned in ``t`` with a finite auxiliary ``x``;
    ``matched`` and ``returned`` counts; as the links of
    :func:`survey.returns.impute.ratio_of_means` for that period.

    Parameters
    ----------
    current, previous : str
        Quoted view names (one row per unit) of period ``t`` and ``t-1``
        (``previous=None`` for a first period: no forward link).
    variable : str
    id : str, default="firm_id"
    by : str or list of str, optional
        Imputation class columns (of ``current``).
    auxiliary : str, optional
        Register size column of ``current`` for the construction link.
    marker : str, optional
        Marker column; default ``{variable without _ytd}_marker``.

    Returns
    -------
    str
        A ``SELECT`` with the class columns, ``forward_link``,
        ``construction_link``, ``matched``, ``returned``.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> q1 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, 20.0],
    ...                               "y_marker": ["returned", "returned"]}))
    >>> q2 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, None],
    ...                               "y_marker": ["returned", "missing"]}))
    >>> s.sql(ratio_links_sql(q2, q1, "y"))[["forward_link", "matched"]].values.tolist()
    [[1.2, 1.0]]
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{_qi(variable)}", f"c.{_qi(marker)}"
    ret = f"({_finite(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    keys = ", ".join(f"c.{_qi(c)}" for c in cls)
    sel = (keys + ", ") if cls else ""
    group = f"GROUP BY {keys}" if cls else ""
    out = [f"SUM(CASE WHEN {ret} THEN 1 ELSE 0 END) AS returned"]
    if auxiliary is not None:
        x = f"CAST(c.{_qi(auxiliary)} AS DOUBLE)"
        ok = f"({ret} AND {_finite(x)})"
        num = f"SUM(CASE WHEN {ok} THEN {y} END)"
        den = f"SUM(CASE WHEN {ok} THEN {x} END)"
        out.append(f"CASE WHEN {den} > 0 THEN {num} / {den} END AS construction_link")
    else:
        out.append("CAST(NULL AS DOUBLE) AS construction_link")
    join = ""
    if previous is not None:
        py, pm = f"p.{_qi(variable)}", f"p.{_qi(marker)}"
        matched = (f"({ret} AND p.{_qi(id)} IS NOT NULL AND {_finite(f'CAST({py} AS DOUBLE)')} "
                   f"AND {pm} IN {_RETURNED_SQL})")
        num = f"SUM(CASE WHEN {matched} THEN {y} END)"
        den = f"SUM(CASE WHEN {matched} THEN {py} END)"
        out.append(f"SUM(CASE WHEN {matched} THEN 1 ELSE 0 END) AS matched")
        out.append(f"CASE WHEN {den} > 0 THEN {num} / {den} END AS forward_link")
        join = f" LEFT JOIN {previous} p ON p.{_qi(id)} = c.{_qi(id)}"
    else:
        out += ["0 AS matched", "CAST(NULL AS DOUBLE) AS forward_link"]
    return f"SELECT {sel}{', '.join(out)} FROM {current} c{join} {group}"


def ratio_impute_sql(
    current: str,
    previous: str | None,
    links: str,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
) -> str:
    """SQL of one period with its missing values imputed from the links (ONS order).

    A unit that did not return ``variable`` in ``t`` gets ``y_t-1 *
    forward_link`` when it has a value in ``t-1`` that was returned, edited,
    forward-imputed or constructed; else ``x_t * construction_link``; the
    marker says which (``forward_imputed`` / ``constructed``). Backward
    imputation needs a later period and is not done (the latest quarter of a
    production cycle has none). Returned and edited values are kept.

    Parameters
    ----------
    current, previous : str
        Quoted view names of periods ``t`` and ``t-1`` (``previous=None``:
        construction only).
    links : str
        Quoted view name of :func:`ratio_links_sql`'s result.
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.

    Returns
    -------
    str
        ``SELECT`` of every column of ``current`` with ``variable`` and the
        marker replaced, plus ``sv_need`` (TRUE where a value was needed but
        no link could give it).

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> q1 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, 20.0],
    ...                               "y_marker": ["returned", "returned"]}))
    >>> q2 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, None],
    ...                               "y_marker": ["returned", "missing"]}))
    >>> links = s.register(s.sql(ratio_links_sql(q2, q1, "y")))
    >>> out = s.sql(ratio_impute_sql(q2, q1, links, "y") + " ORDER BY firm_id")
    >>> out["y"].tolist(), out["y_marker"].tolist()
    ([12.0, 24.0], ['returned', 'forward_imputed'])
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{_qi(variable)}", f"c.{_qi(marker)}"
    ret = f"({_finite(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    on = " AND ".join(f"l.{_qi(c)} IS NOT DISTINCT FROM c.{_qi(c)}" for c in cls) or "TRUE"
    fwd_ok = "FALSE"
    fwd_value = "CAST(NULL AS DOUBLE)"
    join = f" LEFT JOIN {links} l ON {on}"
    if previous is not None:
        py, pm = f"p.{_qi(variable)}", f"p.{_qi(marker)}"
        fwd_ok = (f"(p.{_qi(id)} IS NOT NULL AND {_finite(f'CAST({py} AS DOUBLE)')} "
                  f"AND {pm} IN {_CARRIED_SQL})")
        fwd_value = f"{py} * l.forward_link"
        join += f" LEFT JOIN {previous} p ON p.{_qi(id)} = c.{_qi(id)}"
    con_value = (f"CAST(c.{_qi(auxiliary)} AS DOUBLE) * l.construction_link"
                 if auxiliary is not None else "CAST(NULL AS DOUBLE)")
    value = (f"CASE WHEN {ret} THEN {y} WHEN {fwd_ok} THEN {fwd_value} "
             f"ELSE {con_value} END")
    mark = (f"CASE WHEN {ret} THEN {m} WHEN {fwd_ok} THEN 'forward_imputed' "
            f"WHEN {_finite(con_value)} THEN 'constructed' ELSE 'missing' END")
    need = f"NOT {ret} AND NOT {_finite(f'({value})')}"
    return (f"SELECT c.* REPLACE ({value} AS {_qi(variable)}, {mark} AS {_qi(marker)}), "
            f"{need} AS sv_need FROM {current} c{join}")


def impute_ratio(
    session: Any,
    current: Any,
    previous: Any,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
    output: str | os.PathLike | None = None,
    unresolved: str = "raise",
) -> tuple[pd.DataFrame, Any]:
    """Ratio-of-means imputation of one period inside the SQL engine (DuckDB).

    Parameters
    ----------
    session : Session, Engine or None
    current, previous : any source :meth:`Session.register` reads (Parquet path,
        relation, table, frame, QuarterRelation); ``previous=None`` for a first period.
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.
    output : path, optional
        Write the imputed period to this Parquet file (no pandas); else
        return it as a pandas frame.
    unresolved : {"raise", "keep"}, default="raise"
        A value no link can give (no returned units in its class, no
        auxiliary): raise, or keep it missing (marker ``missing``; the
        links table then has a row ``unresolved`` count per class).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or pathlib.Path)
        The links per class (small) and the imputed period (frame or path).

    Raises
    ------
    ImputationError
        A value needs a link that cannot be formed (no returned units in its
        class, zero denominator, missing auxiliary); the message names the
        class.

    Examples
    --------
    >>> q1 = pd.DataFrame({"firm_id": ["a", "b", "c"], "y": [10.0, 20.0, 30.0],
    ...                    "y_marker": ["returned"] * 3})
    >>> q2 = pd.DataFrame({"firm_id": ["a", "b", "c"], "y": [12.0, 26.0, None],
    ...                    "y_marker": ["returned", "returned", "missing"]})
    >>> links, out = impute_ratio(None, q2, q1, "y")
    >>> out.sort_values("firm_id")["y"].round(2).tolist()
    [12.0, 26.0, 38.0]
    """
    from survey.engine import as_engine
    from survey.errors import ImputationError

    def unwrap(src: Any) -> Any:
        nonlocal session
        if hasattr(src, "__survey_source__"):
            src, own = src.__survey_source__()
            session = own if session is None else session
        return src

    current = unwrap(current)
    previous = unwrap(previous) if previous is not None else None
    s = as_engine(session)
    cur_v = s.register(current)
    prev_v = s.register(previous) if previous is not None else None
    links_v = None
    try:
        link_sql = ratio_links_sql(cur_v, prev_v, variable, id=id, by=by, auxiliary=auxiliary,
                                   marker=marker)
        links = s.sql(link_sql)
        links_v = s.register(links)
        body = ratio_impute_sql(cur_v, prev_v, links_v, variable, id=id, by=by,
                                auxiliary=auxiliary, marker=marker)
        cls = _class_cols(by)
        bad = s.sql(f"SELECT {', '.join(_qi(c) for c in cls) + ', ' if cls else ''}"
                    f"COUNT(*) AS n FROM ({body}) WHERE sv_need "
                    f"{'GROUP BY ' + ', '.join(_qi(c) for c in cls) if cls else ''}")
        if unresolved not in ("raise", "keep"):
            raise ImputationError(f"impute_ratio: unresolved must be 'raise' or 'keep', got "
                                  f"{unresolved!r}")
        if unresolved == "keep" and len(bad):
            key = cls or None
            links = (links.merge(bad.rename(columns={"n": "unresolved"}), on=key, how="left")
                     if key else links.assign(unresolved=int(bad["n"].sum())))
            links["unresolved"] = links["unresolved"].fillna(0).astype(int)
        elif len(bad) and int(bad["n"].sum()):
            first = bad.iloc[0]
            label = {c: first[c] for c in cls} if cls else "all units"
            raise ImputationError(
                f"impute_ratio: {int(bad['n'].sum())} values of {variable!r} need a link that "
                f"cannot be formed (first class {label}: no returned units, a zero denominator "
                "or a missing auxiliary); merge the class with a neighbour (coarser 'by')"
                + ("" if auxiliary else " or give an auxiliary")
            )
        final = f"SELECT * EXCLUDE (sv_need) FROM ({body})"
        if output is not None:
            result: Any = s.write_parquet(final, output)
        else:
            result = s.sql(final)
    finally:
        for v in (cur_v, prev_v, links_v):
            if v is not None:
                s.drop(v)
    return links, result
