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

from survey.engine import Engine, _default_temp, is_numeric_type
from survey.errors import LedgerError, TableError
from survey.periods import normalise_quarter
from survey.periods import previous_quarter as quarter_before
from survey.register.sql import uscc_valid_sql

if TYPE_CHECKING:  # pragma: no cover
    from survey.returns.ledger import IngestReport, Ledger

__all__ = [
    "SQL_SOURCES",
    "QuarterRelation",
    "configure_ledger",
    "ingest_file",
    "quarter_sql",
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
    temp = engine.temp_directory if engine.temp_directory is not None else _default_temp()
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
    """read_table's check of an unterminated last record, on the staged table."""
    from survey.io import _check_last_record

    n = int(cur.execute("SELECT count(*) FROM sv_stage").fetchone()[0])
    if n == 0:
        return
    last = names[-1]
    v = f"trim(coalesce({_qi(last)}, ''))"
    pattern = r"^[+-]?[0-9][0-9,]*\.([0-9]*)$"  # _DECIMALS without unicode digits
    row = cur.execute(
        f"""SELECT
              (SELECT {v} FROM sv_stage WHERE rowid = {n - 1}),
              arg_min({v}, length({v})) FILTER (WHERE {v} <> ''),
              bool_and(regexp_full_match({v}, {_lit(pattern)})) FILTER (WHERE {v} <> ''),
              arg_min({v}, length(regexp_extract({v}, {_lit(pattern)}, 1)))
                  FILTER (WHERE {v} <> '')
            FROM sv_stage WHERE rowid < {n - 1}"""
    ).fetchone()
    last_value, shortest, all_decimal, least = row
    others: list[str] = []
    if shortest is not None:
        others = [shortest, least] if all_decimal else [shortest]
        if not all_decimal:
            # a value without decimals (no shorter than the shortest) keeps "all match" false
            others.append("x" * len(shortest))
    raw = cur.execute(f"SELECT {_qi(last)} FROM sv_stage WHERE rowid = {n - 1}").fetchone()[0]
    try:
        _check_last_record(header[-1].strip(), [*others, raw if raw is not None else last_value],
                           n + 1, path.name)
    except TableError:
        _exact_error(path)
        raise


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
    MONEY_UNITS, IngestReport, _identify, _rejections = (  # noqa: N806
        led.MONEY_UNITS, led.IngestReport, led._identify, led._rejections)

    start = time.perf_counter()
    period = normalise_quarter(period)
    form = ledger.form
    path = Path(source)
    name, digest = _identify(path)
    cur = ledger._cursor()

    def rejected_report(rows: int, table: pd.DataFrame) -> IngestReport:
        return IngestReport(
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
            return IngestReport(
                status="unchanged", source=name, period=period, channel=channel,
                content_hash=digest, file_id=int(file_id), rows=int(rows),
                values_written=0, values_unchanged=int(written),
                seconds=time.perf_counter() - start,
            )  # fmt: skip
        temp = str(cur.execute("SELECT current_setting('temp_directory')").fetchone()[0] or
                   _default_temp())
        try:
            header, staged, text_cols = _stage(cur, path, temp)
        except TableError as exc:
            report = rejected_report(0, _rejections(np.array([exc.line or 1]), exc.column or "",
                                                    [""], str(exc)))
            if errors == "raise":
                error = LedgerError(f"ingest: cannot read {name!r}: {exc}")
                error.report = report  # type: ignore[attr-defined]
                raise error from exc
            return report
        n_rows = int(cur.execute("SELECT count(*) FROM sv_stage").fetchone()[0])
        # the schema checks of the pandas path, on the raw header
        _, schema = ledger._check(pd.DataFrame(columns=header), period, 2, None)
        if len(schema):
            return _reject(rejected_report(n_rows, schema), errors)
        rejected = _row_checks(ledger, cur, header, staged, text_cols, period)
        if len(rejected):
            return _reject(rejected_report(n_rows, rejected), errors)
        factor = MONEY_UNITS[money_unit] / MONEY_UNITS[form.money_unit]
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
        written, unchanged, file_id = ledger._write_file(
            cur, wide, period=period, channel=channel, money_unit=money_unit, name=name,
            digest=digest, author=author,
        )  # fmt: skip
        cur.execute("DROP TABLE IF EXISTS sv_wide")
    finally:
        try:
            cur.execute("DROP TABLE IF EXISTS sv_stage")
            cur.execute("DROP TABLE IF EXISTS sv_wide")
        except Exception:  # pragma: no cover - the cursor is closing anyway
            pass
        cur.close()
    return IngestReport(
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
    in_register = None
    if has_units:
        stored = cur.execute("SELECT count(*) FROM units WHERE period = ?", [period]).fetchone()[0]
        if stored:
            in_register = (f"EXISTS (SELECT 1 FROM units u WHERE u.period = {_lit(period)} "
                           f"AND u.firm_id = {idt})")
    idv = idt  # a missing id is missing in the report too (NaN, as the pandas path)
    parts = [
        f"SELECT rowid + 2 AS row, {_lit(form.id)} AS col, {idv} AS value, "
        f"{_lit(bad_reason)} AS reason, 0 AS kind FROM sv_stage WHERE NOT {valid}",
        f"""SELECT row, {_lit(form.id)}, value, 'firm appears more than once', 1 FROM (
              SELECT rowid + 2 AS row, {idt} AS value, {valid} AS ok,
                     count(*) OVER (PARTITION BY {idt}) AS n FROM sv_stage)
            WHERE ok AND n > 1""",
    ]
    if in_register is not None:
        parts.append(
            f"SELECT rowid + 2, {_lit(form.id)}, {idt}, "
            f"{_lit(f'firm is not in the register snapshot of {period}')}, 2 "
            f"FROM sv_stage WHERE {valid} AND NOT {in_register}"
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
    if not len(out):
        return _ledger_module()._empty_rejections()
    out["row"] = out["row"].astype("Int64")
    for c in ("column", "value", "reason"):
        out[c] = out[c].astype("str")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# the quarter as a relation
# ---------------------------------------------------------------------------
def _as_of_sql(as_of: Any) -> str:
    """The ``as_of`` clause of ``Ledger._as_of_clause`` with its parameter inlined."""
    clause, params = _ledger_module().Ledger._as_of_clause(as_of)
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


def quarter_sql(ledger: "Ledger", period: str, *, as_of: Any = None, register: bool = True) -> str:
    """SQL text of :meth:`Ledger.to_frame` (same rows, columns and values; no pandas).

    Missing values are NULL (NaN in ``to_frame``). Not reproduced: the
    warnings of ``to_frame`` (firms outside the register snapshot, falling
    cumulative values; :func:`survey.returns.rules.check` lists the latter).

    Parameters
    ----------
    ledger : Ledger
    period : str
    as_of : int, datetime, str or None, default=None
    register : bool, default=True

    Returns
    -------
    str
        A ``SELECT`` over the ledger's tables, ordered by firm id.
    """
    form = ledger.form
    period = normalise_quarter(period)
    previous = quarter_before(period, same_year=True)
    clause = _as_of_sql(as_of)
    ctes = [f"cur AS ({_wide_sql(ledger, period, clause)})"]
    if previous is not None:
        ctes.append(f"prev AS ({_wide_sql(ledger, previous, clause)})")
    cur = ledger._cursor()
    try:
        has_units = register and cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
        ).fetchall()[0][0] > 0
        unit_cols: list[str] = []
        if has_units:
            unit_cols = [c for c in cur.execute("SELECT * FROM units LIMIT 0").df().columns
                         if c not in ("period", "firm_id")]
    finally:
        cur.close()
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
