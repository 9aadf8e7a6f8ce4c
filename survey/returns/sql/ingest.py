"""Ledger ingest inside DuckDB: the engine settings of the ledger and the checks of a returns file (columns, ids, duplicates, register membership, period, numbers).

Part of :mod:`survey.returns.sql` (see its docstring and ``docs/scale.md``).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from survey.engine import Engine, is_numeric_type, sql_nan
from survey.errors import LedgerError, TableError
from survey.io import stream_encoding, utf8_copy
from survey.periods import normalise_quarter
from survey.register.sql import uscc_valid_sql

if TYPE_CHECKING:  # pragma: no cover
    from survey.returns.ledger import IngestReport, Ledger
from survey.engine import quote_identifier, sql_literal

__all__ = ['SQL_SOURCES', 'configure_ledger', 'ingest_file', 'is_sql_source', 'unchanged_report']

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
def unchanged_report(cursor: Any, report_class: Any, *, digest: str, period: str, source: str,
                     channel: str, start: float) -> Any:
    """The report of a file whose content was already loaded for ``period`` (status
    ``"unchanged"``, nothing written), from the ledger's ``files`` table; ``None`` when it
    was not. ``start`` is the ``time.perf_counter()`` of the load.

    Examples
    --------
    >>> import duckdb, time
    >>> from types import SimpleNamespace as Report
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE files (file_id INT, content_hash TEXT, period TEXT, "
    ...                 "rows INT, values_written INT)")
    >>> _ = con.execute("INSERT INTO files VALUES (1, 'abc', '2006Q1', 10, 30)")
    >>> kw = dict(digest="abc", source="r.csv", channel="bureau", start=time.perf_counter())
    >>> r = unchanged_report(con, Report, period="2006Q1", **kw)
    >>> (r.status, r.file_id, r.values_unchanged), unchanged_report(con, Report, period="2006Q2", **kw)
    (('unchanged', 1, 30), None)
    """
    rows = cursor.execute(
        "SELECT file_id, rows, values_written FROM files WHERE content_hash = ? "
        "AND period = ? ORDER BY file_id LIMIT 1",
        [digest, period],
    ).fetchall()
    if not rows:
        return None
    file_id, n, written = rows[0]
    return report_class(
        status="unchanged", source=source, period=period, channel=channel,
        content_hash=digest, file_id=int(file_id), rows=int(n), values_written=0,
        values_unchanged=int(written), seconds=time.perf_counter() - start,
    )  # fmt: skip


def is_sql_source(source: Any) -> bool:
    """Whether ``source`` is a Parquet or CSV file path (read by DuckDB, not pandas).

    Examples
    --------
    >>> is_sql_source("q1.parquet"), is_sql_source("q1.xlsx")
    (True, False)
    """
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in SQL_SOURCES


def _csv_encoding(path: Path) -> str:
    """The encoding of a CSV file (:func:`survey.io.stream_encoding`); when the bytes fit
    none, read_table's own message (with the encoding they do fit) for a file small enough."""
    try:
        return stream_encoding(path)
    except TableError:
        _exact_error(path)
        raise


def _exact_error(path: Path) -> None:
    """Raise the TableError of :func:`survey.io.read_table` (small files only: it reads the
    whole file into memory)."""
    if path.stat().st_size <= 256 * 1024 * 1024:
        from survey.io import read_table

        read_table(path, check_header=False)


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
        cols = ", ".join(f"{quote_identifier(c)} AS c{i}" for i, c in enumerate(header))
        cur.execute(f"CREATE TEMP TABLE sv_stage AS SELECT {cols} FROM read_parquet({sql_literal(path)})")
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
        source = utf8_copy(path, encoding, temp)
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"{sql_literal(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(sql_literal(s) for s in _NULL_STRINGS) + "]"
    try:
        cur.execute(
            f"""CREATE TEMP TABLE sv_stage AS SELECT * FROM read_csv({sql_literal(source)},
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
    v = f"trim(coalesce({quote_identifier(last)}, ''))"
    pattern = r"^[+-]?[0-9][0-9,]*\.([0-9]*)$"
    row = cur.execute(
        f"""SELECT min(length({v})) FILTER (WHERE {v} <> ''),
              bool_and(regexp_full_match({v}, {sql_literal(pattern)})) FILTER (WHERE {v} <> ''),
              min(length(regexp_extract({v}, {sql_literal(pattern)}, 1))) FILTER (WHERE {v} <> '')
            FROM sv_stage WHERE rowid < {n - 1}"""
    ).fetchone()
    shortest, all_decimal, least = row
    raw = cur.execute(f"SELECT {quote_identifier(last)} FROM sv_stage WHERE rowid = {n - 1}").fetchone()[0]
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
    return f"CAST({quote_identifier(col)} AS VARCHAR)"


def _number_sql(col: str, is_text: bool) -> tuple[str, str, str]:
    """SQL (value, not a number, present) of an item column, as ``_to_numeric``."""
    if not is_text:
        return f"CAST({quote_identifier(col)} AS DOUBLE)", "FALSE", f"{quote_identifier(col)} IS NOT NULL"
    t = f"replace(trim({_text(col)}), ',', '')"
    value = (
        f"CASE WHEN regexp_full_match({t}, {sql_literal(_NUMBER)}) "
        f"OR lower({t}) IN ({', '.join(sql_literal(s) for s in _INFINITY)}) "
        f"THEN TRY_CAST({t} AS DOUBLE) END"
    )
    present = f"({quote_identifier(col)} IS NOT NULL AND {t} <> '')"
    not_number = f"({present} AND ({value} IS NULL OR {sql_nan(value)}))"
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
        unchanged = unchanged_report(cur, report_class, digest=digest, period=period,
                                     source=name, channel=channel, start=start)
        if unchanged is not None:
            return unchanged
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
            cols.append(f"{value} AS {quote_identifier(c)}")
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
        f"SELECT row, {sql_literal(form.id)} AS col, id AS value, {sql_literal(bad_reason)} AS reason, "
        "0 AS kind FROM sv_ids WHERE NOT ok",
        f"""SELECT row, {sql_literal(form.id)}, id, 'firm appears more than once', 1 FROM (
              SELECT row, id, ok, count(*) OVER (PARTITION BY id) AS n FROM sv_ids)
            WHERE ok AND n > 1""",
    ]
    if in_register is not None:
        parts.append(
            f"SELECT row, {sql_literal(form.id)}, id, "
            f"{sql_literal(f'firm is not in the register snapshot of {period}')}, 2 "
            f"FROM sv_ids i WHERE ok AND NOT EXISTS (SELECT 1 FROM units u WHERE "
            f"u.period = {sql_literal(period)} AND u.firm_id = i.id)"
        )
    if form.period in position:
        per = f"trim({_text(staged[position[form.period]])})"
        parts.append(
            f"SELECT rowid + 2, {sql_literal(form.period)}, {per}, "
            f"{sql_literal(f'period differs from {period!r}')}, 3 FROM sv_stage "
            f"WHERE {per} IS DISTINCT FROM {sql_literal(period)}"
        )
    items = [c for c in dict.fromkeys(header) if c in ledger.items]
    for k, c in enumerate(items):
        col = staged[position[c]]
        value, not_number, _ = _number_sql(col, col in text_cols)
        parts.append(
            f"SELECT rowid + 2, {sql_literal(c)}, {_text(col)}, 'not a number', {10 + 2 * k} "
            f"FROM sv_stage WHERE {not_number}"
        )
        parts.append(
            f"SELECT rowid + 2, {sql_literal(c)}, CASE WHEN {value} > 0 THEN 'inf' ELSE '-inf' END, "
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
