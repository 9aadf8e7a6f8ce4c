"""Ingest: reading a returns file, its checks, and writing its values in one transaction.

Part of :mod:`survey.returns.ledger`: :class:`IngestReport` (what an ingest did), the
readers of a file or frame (content hash, rows, numbers), the rejection rows, and
:class:`LedgerIngest`, the body of :meth:`Ledger.ingest
<survey.returns.ledger.Ledger.ingest>`: the schema and code checks (``_check``) and the
write of the new value revisions (``_write_file``), which
:func:`survey.returns.sql.ingest_file` reuses for Parquet and CSV files read by DuckDB.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from survey.engine import sql_nan
from survey.errors import LedgerError, TableError
from survey.form import Form
from survey.io import member, read_table
from survey.periods import normalise_quarter
from survey.returns.ledger.connection import MONEY_UNITS
from survey.returns.sql.ingest import ingest_file, is_sql_source, unchanged_report

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


def _empty_rejections() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="Int64"),
            "column": pd.Series(dtype="str"),
            "value": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class IngestReport:
    """What an ingest did.

    Attributes
    ----------
    status : {"loaded", "unchanged", "rejected"}
        ``"unchanged"`` when the file (same content hash) was loaded before or
        every value equals the current one; ``"rejected"`` when any row failed
        a check (then nothing was written).
    source : str
        File name, or ``"<DataFrame>"``.
    period, channel : str
    content_hash : str
        SHA-256 of the file bytes (or of the frame's content).
    file_id : int or None
        Id in the ``files`` table (of the earlier load when unchanged).
    rows : int
        Data rows read.
    values_written : int
        New value revisions written.
    values_unchanged : int
        Values equal to the current value, not written again.
    rejected : pandas.DataFrame
        ``row, column, value, reason`` of every failed check; ``row`` is the
        line number in the file (header = line 1) or the frame row + 2.
    seconds : float
    """

    status: str
    source: str
    period: str
    channel: str
    content_hash: str
    file_id: int | None
    rows: int
    values_written: int
    values_unchanged: int
    rejected: pd.DataFrame = field(default_factory=_empty_rejections)
    seconds: float = 0.0

    def __str__(self) -> str:
        where = f"{self.period} via {self.channel}"
        if self.status == "rejected":
            first = self.rejected.head(3)
            examples = "; ".join(
                f"row {r.row} {r.column}: {r.reason}" for r in first.itertuples(index=False)
            )
            return (
                f"rejected {self.source} ({where}): {len(self.rejected)} problems in "
                f"{self.rows} rows, nothing written; {examples}"
            )
        if self.status == "unchanged":
            return (
                f"unchanged {self.source} ({where}): already in the ledger as file "
                f"{self.file_id}, {self.values_unchanged} values unchanged, nothing written"
            )
        return (
            f"loaded {self.source} ({where}) as file {self.file_id}: {self.rows} rows, "
            f"{self.values_written} values written, {self.values_unchanged} unchanged, "
            f"{self.seconds:.2f} s"
        )


def _identify(source: Any) -> tuple[str, str]:
    """Source name and SHA-256 content hash (of the file bytes or the frame's content)."""
    if isinstance(source, pd.DataFrame):
        h = hashlib.sha256()
        h.update("\x1f".join(map(str, source.columns)).encode())
        h.update(pd.util.hash_pandas_object(source, index=False).to_numpy().tobytes())
        return "<DataFrame>", h.hexdigest()
    path = Path(source)
    if not path.is_file():
        raise LedgerError(f"ingest: file {str(path)!r} does not exist")
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            h.update(block)
    return path.name, h.hexdigest()


def _read_input(source: Any, form: Form) -> pd.DataFrame:
    """The rows of a file or frame (numbers parsed where every cell is a number); the
    header is read raw, so repeated and empty column names reach the checks."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    frame = read_table(path, text=[form.id, form.period], check_header=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _to_numeric(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers and a mask of cells that are present but not numbers."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        return values, np.zeros(len(series), dtype=bool)
    text = series.astype("str").str.strip().str.replace(",", "", regex=False)
    present = series.notna().to_numpy() & (text != "").to_numpy()
    values = pd.to_numeric(text.where(present, None), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    return values, present & ~np.isfinite(values) & ~np.isinf(values)


def _rejections(rows: np.ndarray, column: str, values: Any, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.array(rows, dtype="Int64"),
            "column": column,
            "value": pd.Series(np.asarray(values, dtype=object)).astype("str").to_numpy(),
            "reason": reason,
        }
    )


class LedgerIngest:
    """The ingest of :class:`~survey.returns.ledger.Ledger`: checks, then one write
    transaction (uses the plumbing of
    :class:`~survey.returns.ledger.connection.LedgerConnection`)."""

    def _check(
        self, frame: pd.DataFrame, period: str, header: int, register: set[str] | None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Schema and code checks; return (numeric wide frame, rejections)."""
        form = self.form
        key = form.id
        problems = []
        n = len(frame)
        rows = np.arange(n) + header
        columns = [str(c) for c in frame.columns]
        if key not in columns:
            problems.append(
                _rejections(np.array([1]), key, [""], f"required column {key!r} is missing")
            )
        meta = (key, form.period, *form.other_columns)
        for position, c in enumerate(columns):
            if c == "":
                problems.append(_rejections(np.array([1]), f"column {position + 1}", [""],
                                            "column has no name in the header"))
        unknown = [c for c in dict.fromkeys(columns) if c and c not in meta and c not in self.items]
        for c in unknown:
            problems.append(
                _rejections(
                    np.array([1]),
                    c,
                    [c],
                    f"unknown column; allowed: {', '.join(meta)} and "
                    "{indicator}_ytd / {indicator}_ytd_last_year for "
                    + ", ".join(self.indicators),
                )
            )
        dup_cols = pd.Index(columns)[pd.Index(columns).duplicated()].unique().tolist()
        for c in dup_cols:
            if c:
                problems.append(_rejections(np.array([1]), c, [c], "column appears twice"))
        items = [c for c in dict.fromkeys(columns) if c in self.items]
        if not items and key in columns:
            problems.append(
                _rejections(np.array([1]), "", [""], "no indicator columns ({var}_ytd...) in the file")
            )
        if problems:
            return pd.DataFrame(), pd.concat(problems, ignore_index=True)
        ids = frame[key].astype("str").str.strip()
        id_array = ids.to_numpy(dtype=object, na_value=None)
        bad = ~self._valid_ids(id_array)
        if bad.any():
            problems.append(
                _rejections(
                    rows[bad],
                    key,
                    ids.to_numpy()[bad],
                    "not a valid 18-character unified social credit code"
                    if form.id_format == "uscc" else "missing id",
                )
            )
        dup = ids.duplicated(keep=False).to_numpy() & ~bad
        if dup.any():
            problems.append(
                _rejections(rows[dup], key, ids.to_numpy()[dup], "firm appears more than once")
            )
        if register is not None:
            missing = ~member(ids, register) & ~bad
            if missing.any():
                problems.append(
                    _rejections(
                        rows[missing],
                        key,
                        ids.to_numpy()[missing],
                        f"firm is not in the register snapshot of {period}",
                    )
                )
        if form.period in columns:
            per = frame[form.period].astype("str").str.strip()
            wrong = (per != str(period)).to_numpy()
            if wrong.any():
                problems.append(
                    _rejections(
                        rows[wrong], form.period, per.to_numpy()[wrong],
                        f"period differs from {period!r}"
                    )
                )
        out = {"firm_id": id_array, "row_number": rows}
        for c in items:
            values, not_number = _to_numeric(frame[c])
            if not_number.any():
                problems.append(
                    _rejections(
                        rows[not_number], c, frame[c].to_numpy()[not_number], "not a number"
                    )
                )
            infinite = np.isinf(values)
            if infinite.any():
                problems.append(_rejections(rows[infinite], c, values[infinite], "infinite value"))
            out[c] = values
        rejected = (
            pd.concat(problems, ignore_index=True).sort_values(["row", "column"], kind="stable")
            if problems
            else _empty_rejections()
        )
        return pd.DataFrame(out), rejected.reset_index(drop=True)

    def _ingest(
        self,
        source: str | Path | pd.DataFrame,
        period: str,
        channel: str,
        *,
        money_unit: str | None,
        author: str,
        errors: str,
        allow_same_content: bool,
    ) -> IngestReport:
        """The body of :meth:`Ledger.ingest <survey.returns.ledger.Ledger.ingest>`."""
        self._require_writable()
        money_unit = self.form.money_unit if money_unit is None else money_unit
        if errors not in ("raise", "report"):
            raise LedgerError(f"ingest: errors must be 'raise' or 'report', got {errors!r}")
        if money_unit not in MONEY_UNITS:
            raise LedgerError(
                f"ingest: money_unit must be one of {sorted(MONEY_UNITS)}, got {money_unit!r}")
        if self.form.money_unit not in MONEY_UNITS:  # pragma: no cover - a form outside the table
            raise LedgerError(f"ingest: the form's money unit {self.form.money_unit!r} is not one of "
                              f"{sorted(MONEY_UNITS)}")
        period = normalise_quarter(period)
        start = time.perf_counter()
        name, digest = _identify(source)
        header = 2  # line of the first data row (the header is line 1)
        cur = self._cursor()
        try:
            unchanged = unchanged_report(cur, IngestReport, digest=digest, period=period,
                                         source=name, channel=channel, start=start)
            if unchanged is not None:
                return unchanged
            if not allow_same_content:
                other = cur.execute(
                    "SELECT period, file_id, source FROM files WHERE content_hash = ? "
                    "AND period <> ? ORDER BY file_id LIMIT 1", [digest, period]).fetchall()
                if other:
                    was, other_id, other_name = other[0]
                    raise LedgerError(
                        f"ingest: {name!r} has the same content as {other_name!r}, loaded for "
                        f"{was} as file {other_id}; re-sending last quarter's file is a common "
                        f"mistake, so nothing was loaded for {period}. If the returns really "
                        "are identical, pass allow_same_content=True (survey ingest "
                        "--allow-same-content)")
            if self._sql_ingest and is_sql_source(source):  # Parquet / CSV inside DuckDB
                return ingest_file(self, source, period, channel, money_unit=money_unit,
                                   author=author, errors=errors, cursor=self._cursor,
                                   check=self._check, write=self._write_file)
            try:
                frame = _read_input(source, self.form)
            except TableError as exc:
                rejected = _rejections(np.array([exc.line or 1]), exc.column or "", [""], str(exc))
                report = IngestReport(
                    status="rejected", source=name, period=period, channel=channel,
                    content_hash=digest, file_id=None, rows=0, values_written=0,
                    values_unchanged=0, rejected=rejected, seconds=time.perf_counter() - start,
                )  # fmt: skip
                if errors == "raise":
                    error = LedgerError(f"ingest: cannot read {name!r}: {exc}")
                    error.report = report  # type: ignore[attr-defined]
                    raise error from exc
                return report
            if len(frame) == 0:
                raise LedgerError(
                    f"ingest: {name!r} has a header but no data rows; nothing was loaded for "
                    f"{period}. Send the file with the returns in it")
            has_units = cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
            ).fetchall()[0][0]
            register = None
            if has_units:
                ids = cur.execute("SELECT firm_id FROM units WHERE period = ?", [period]).df()
                register = set(ids["firm_id"]) if len(ids) else None
            wide, rejected = self._check(frame, period, header, register)
            if len(rejected):
                report = IngestReport(
                    status="rejected", source=name, period=period, channel=channel,
                    content_hash=digest, file_id=None, rows=len(frame), values_written=0,
                    values_unchanged=0, rejected=rejected, seconds=time.perf_counter() - start,
                )  # fmt: skip
                if errors == "raise":
                    error = LedgerError(str(report) + " (see report.rejected for every row)")
                    error.report = report  # type: ignore[attr-defined]
                    raise error
                return report
            factor = MONEY_UNITS[money_unit] / MONEY_UNITS[self.form.money_unit]
            money_items = {c for v in self.form.money for c in (self.form.ytd(v), self.form.last_year(v))}
            money = [c for c in wide.columns if c in money_items]
            if factor != 1.0:
                wide[money] = wide[money] * factor
            written, unchanged, file_id = self._write_file(
                cur, wide, period=period, channel=channel, money_unit=money_unit, name=name,
                digest=digest, author=author,
            )
        finally:
            cur.close()
        return IngestReport(
            status="loaded" if written else "unchanged", source=name, period=period,
            channel=channel, content_hash=digest, file_id=file_id, rows=len(frame),
            values_written=written, values_unchanged=unchanged,
            seconds=time.perf_counter() - start,
        )  # fmt: skip

    def _write_file(
        self,
        cur: duckdb.DuckDBPyConnection,
        wide: pd.DataFrame,
        *,
        period: str,
        channel: str,
        money_unit: str,
        name: str,
        digest: str,
        author: str,
    ) -> tuple[int, int, int]:
        items = [c for c in wide.columns if c in self.items]
        cur.register("incoming", wide)
        try:
            cur.execute("BEGIN TRANSACTION")
            txn = self._next_txn(cur)
            file_id = int(
                cur.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchall()[0][0]
            )
            now = self._now()
            unpivot = ", ".join(f'"{c}"' for c in items)
            long = f"""
                SELECT firm_id, row_number, item, value
                FROM (UNPIVOT (SELECT firm_id, row_number, {unpivot} FROM incoming)
                      ON {unpivot} INTO NAME item VALUE value)
                WHERE value IS NOT NULL AND NOT {sql_nan("value")}"""
            params = {"period": period, "txn": txn}
            seen = cur.execute(
                "SELECT EXISTS (SELECT 1 FROM returns WHERE period = ?)", [period]
            ).fetchall()[0][0]
            if not seen:  # first file of the period: every value is a first return
                total = cur.execute(
                    f"""
                    INSERT INTO returns
                    SELECT firm_id, $period, item, value, 'returned', 1, $txn, row_number
                    FROM ({long})
                    """,
                    params,
                ).fetchall()[0][0]
                unchanged = 0
            else:
                cur.execute(
                    f"""
                    CREATE TEMP TABLE staged AS
                    WITH long AS ({long}), cur AS (
                        SELECT firm_id, item, max(revision) AS revision,
                               arg_max(value, revision) FILTER (WHERE marker = 'returned') AS value,
                               count(*) FILTER (WHERE marker = 'returned') AS returned
                        FROM returns WHERE period = $period
                        GROUP BY firm_id, item
                    )
                    SELECT long.firm_id, long.item, long.value, long.row_number,
                           coalesce(cur.revision, 0) + 1 AS revision,
                           coalesce(cur.returned, 0) > 0
                               AND cur.value IS NOT DISTINCT FROM long.value AS same
                    FROM long LEFT JOIN cur USING (firm_id, item)
                    """,
                    {"period": period},
                )
                total, unchanged = cur.execute(
                    "SELECT count(*), coalesce(sum(same::INTEGER), 0) FROM staged"
                ).fetchall()[0]
                cur.execute(
                    """
                    INSERT INTO returns
                    SELECT firm_id, $period, item, value, 'returned', revision, $txn, row_number
                    FROM staged WHERE NOT same
                    """,
                    params,
                )
                cur.execute("DROP TABLE staged")
            self._hook_inside_transaction()
            written = int(total - unchanged)
            cur.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [file_id, digest, name, period, channel, len(wide), written, txn, now, author],
            )
            cur.execute(
                "INSERT INTO transactions VALUES (?, 'ingest', ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    txn, period, now, author, f"return in file {file_id} ({name}) via {channel}",
                    written, channel, money_unit, file_id,
                ],
            )
            cur.execute("COMMIT")
        except Exception:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        finally:
            cur.unregister("incoming")
        return written, int(unchanged), file_id

    def _hook_inside_transaction(self) -> None:
        """Called inside the ingest transaction after the values are inserted (a test seam)."""
