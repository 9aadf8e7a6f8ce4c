"""The returns ledger: every value a firm reports, every correction and every
imputed value, kept in an embedded DuckDB file and never overwritten.

The ledger has four tables (see ``docs/processing.md``):

``files``
    one row per ingested file: content hash, source name, period, channel,
    row count, values written, when and by whom.
``transactions``
    one row per write (ingest, revision, imputation, register snapshot):
    when, who, why, channel, unit of the file, file id.
``units``
    the register snapshot of each period (``period``, ``firm_id`` and the
    register columns given to :meth:`Ledger.register_units`).
``returns``
    the append-only value history in long form: ``firm_id, period, item,
    value, marker, revision, txn, row_number`` (the view ``history`` joins
    each value to its transaction: unit, channel, recorded_at, recorded_by,
    reason, file_id). A correction or an imputed value is a new row with a
    higher ``revision``; the current value of a cell is the row with the
    highest revision, and any past state is the highest revision recorded up
    to a given transaction or time (:meth:`Ledger.to_frame` ``as_of``).

Items follow the Chinese reporting convention: for each indicator ``var`` a
return carries ``{var}_ytd`` (cumulative year to date) and
``{var}_ytd_last_year`` (the same period of last year, cumulative);
:func:`survey.periods.ytd_to_quarters` turns them into discrete quarters.
Which indicators a return carries (and which are stocks, which are money)
is the ledger's return :class:`~survey.form.Form`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pandas as pd

from survey.errors import LedgerError, SurveyWarning, TableError
from survey.form import Form
from survey.periods import parse_quarter
from survey.io import read_table
from survey.engine import Engine
from survey.periods import normalise_quarter, previous_quarter, ytd_to_quarters
from survey.register.frame import valid_uscc
from survey.returns.sql import QuarterRelation, configure_ledger, ingest_file, is_sql_source, quarter_sql

__all__ = [
    "MARKERS",
    "MONEY_UNITS",
    "IngestReport",
    "Ledger",
    "RevisionReport",
]

#: Value markers, in the order of the ONS imputation markers.
MARKERS: tuple[str, ...] = (
    "returned",
    "edited",
    "forward_imputed",
    "backward_imputed",
    "constructed",
)
#: Money units of a returns file and their value in thousand yuan.
MONEY_UNITS: dict[str, float] = {"thousand_yuan": 1.0, "yuan": 1e-3, "ten_thousand_yuan": 10.0}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    file_id BIGINT, content_hash VARCHAR, source VARCHAR, period VARCHAR,
    channel VARCHAR, rows BIGINT, values_written BIGINT, txn BIGINT,
    loaded_at TIMESTAMP, loaded_by VARCHAR);
CREATE TABLE IF NOT EXISTS transactions (
    txn BIGINT, kind VARCHAR, period VARCHAR, recorded_at TIMESTAMP,
    recorded_by VARCHAR, reason VARCHAR, values_written BIGINT,
    channel VARCHAR, unit VARCHAR, file_id BIGINT);
CREATE TYPE IF NOT EXISTS value_marker AS ENUM (
    'returned', 'edited', 'forward_imputed', 'backward_imputed', 'constructed');
CREATE TABLE IF NOT EXISTS returns (
    firm_id VARCHAR NOT NULL, period VARCHAR NOT NULL, item VARCHAR NOT NULL,
    value DOUBLE, marker value_marker NOT NULL, revision INTEGER NOT NULL,
    txn BIGINT NOT NULL, row_number BIGINT);
"""
_HISTORY = """
CREATE VIEW IF NOT EXISTS history AS
    SELECT r.firm_id, r.period, r.item, r.value,
           {unit} AS unit,
           t.channel, r.marker::VARCHAR AS marker, r.revision, r.txn, t.recorded_at,
           t.recorded_by, t.reason, t.file_id, r.row_number
    FROM returns r JOIN transactions t USING (txn);
"""


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _history_view(form: Form) -> str:
    """The ``history`` view: the unit of a value is the form's unit of its indicator (the
    money unit of the file for money)."""
    default = f"coalesce(t.unit, {_sql_text(form.money_unit)})"
    cases = []
    for var in form.indicators:
        if var in form.money:
            continue
        items = ", ".join(_sql_text(c) for c in (form.ytd(var), form.last_year(var)))
        cases.append(f"WHEN r.item IN ({items}) THEN {_sql_text(form.unit_of(var))}")
    unit = f"CASE {' '.join(cases)} ELSE {default} END" if cases else default
    return _HISTORY.format(unit=unit)


# ---------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------
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


@dataclass(frozen=True, kw_only=True, eq=False)
class RevisionReport:
    """What :meth:`Ledger.revise` wrote.

    Attributes
    ----------
    period : str
    txn : int
        Transaction number (use it, or ``recorded_at``, as ``as_of``).
    recorded_at : datetime.datetime
        UTC time stamp of the revision.
    values_written : int
    values_unchanged : int
    by_marker : dict
        Values written per marker.
    """

    period: str
    txn: int
    recorded_at: datetime
    values_written: int
    values_unchanged: int
    by_marker: dict

    def __str__(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in self.by_marker.items()) or "none"
        return (
            f"revision {self.txn} of {self.period}: {self.values_written} values written "
            f"({parts}), {self.values_unchanged} unchanged"
        )


# ---------------------------------------------------------------------------
# reading and checking input
# ---------------------------------------------------------------------------
def _open_error(path: str, exc: Exception) -> LedgerError:
    """The error of a ledger that cannot be opened: held by another process, or damaged."""
    text = str(exc)
    if re.search(r"\block\b|conflicting", text, re.IGNORECASE):
        return LedgerError(
            f"cannot open the ledger {path!r}: another process has it open ({text}). DuckDB "
            "allows one writing process or several read-only ones; close the other process or "
            "open with read_only=True")
    return LedgerError(
        f"the ledger {path!r} is damaged or is not a ledger file ({text}); nothing was changed. "
        "Restore it from a backup (or point ledger.file at the right file); do not delete it "
        "before you have a copy")


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


# ---------------------------------------------------------------------------
# the ledger
# ---------------------------------------------------------------------------
def _writes(method: Any) -> Any:
    """Serialise the writing methods of one Ledger (readers are never blocked)."""

    @functools.wraps(method)
    def wrapper(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        self._require_writable()
        with self._write_lock:
            return method(self, *args, **kwargs)

    return wrapper


def _check_form(form: Any) -> Form:
    if not isinstance(form, Form):
        raise LedgerError(f"Ledger: form must be a survey.form.Form, got {type(form).__name__}")
    return form


def _database_errors(cls: type) -> type:
    """Turn DuckDB errors raised by the public methods of ``cls`` (a damaged file that
    opened, a disk that fails) into :class:`~survey.errors.LedgerError` naming the file."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except duckdb.Error as exc:
                raise _open_error(getattr(self, "path", "?"), exc) from exc

        return wrapper

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and not isinstance(
                value, (type, staticmethod, classmethod)):
            setattr(cls, name, wrap(value))
    return cls


@_database_errors
class Ledger:
    """The returns ledger in one DuckDB file.

    Open it with :meth:`Ledger.open`; use it as a context manager or call
    :meth:`close`. Every write runs in one transaction: a failure (or a
    killed process) leaves the ledger as it was. Several threads may read
    while one writes (each call uses its own cursor, and DuckDB gives every
    reader a consistent snapshot). Other *processes* can open the file only
    read-only and only while no writer holds it (a DuckDB rule).

    Parameters
    ----------
    path : str or pathlib.Path
        The database file (``":memory:"`` for a throw-away ledger).
    form : Form
        The return form: the indicators a file may carry (``{var}_ytd`` and
        ``{var}_ytd_last_year`` for each), which are stocks and money, the id
        and period columns and the id check. :data:`survey.form.DEMO_FORM`
        for the bundled data.
    read_only : bool, default=False

    Examples
    --------
    >>> from survey.form import DEMO_FORM
    >>> from survey.register.frame import uscc_check_character
    >>> ids = [s + uscc_check_character(s) for s in ["91450100MA5KA1B2C", "91450100MA5KA1B3C"]]
    >>> returns = pd.DataFrame({"firm_id": ids, "gross_output_ytd": [120.0, 80.0],
    ...                         "gross_output_ytd_last_year": [100.0, 90.0]})
    >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
    ...     report = ledger.ingest(returns, period="2006Q1", channel="bureau")
    ...     again = ledger.ingest(returns, period="2006Q1", channel="bureau")
    ...     frame = ledger.to_frame("2006Q1")
    >>> report.values_written, again.status
    (4, 'unchanged')
    >>> frame[["gross_output", "gross_output_last_year", "gross_output_marker"]].values.tolist()
    [[120.0, 100.0, 'returned'], [80.0, 90.0, 'returned']]
    """

    def __init__(
        self,
        path: str | Path,
        *,
        form: Form,
        read_only: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.form = _check_form(form)
        self.indicators = self.form.indicators
        self._write_lock = threading.RLock()
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise _open_error(self.path, exc) from exc
        try:
            # memory limit, temp folder and threads of the engine (never DuckDB's 80%-of-RAM default)
            self.engine = configure_ledger(self._con, engine)
            self._sql_ingest = engine is not None
            if not read_only:
                self._con.execute(_SCHEMA + _history_view(self.form))
            for table in ("files", "transactions", "returns"):  # read the catalogue: a damaged
                self._con.execute(f"SELECT count(*) FROM {table}").fetchall()  # file fails here
        except duckdb.Error as exc:
            self._con.close()
            raise _open_error(self.path, exc) from exc

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        form: Form,
        read_only: bool = False,
        engine: Engine | None = None,
    ) -> Ledger:
        """Open (or create) a ledger file.

        Parameters
        ----------
        path : str or pathlib.Path
            DuckDB file; created with its tables when it does not exist.
        form : Form
            The return form (see :class:`Ledger`).
        read_only : bool, default=False
        engine : survey.engine.Engine, optional
            Memory limit, temporary folder and threads of the ledger's DuckDB
            connection (default ``Engine()``: 4 GB; never DuckDB's default of
            80% of the RAM). Given, Parquet and CSV files are ingested inside
            DuckDB (:func:`survey.returns.sql.ingest_file`), never as a pandas
            frame.

        Returns
        -------
        Ledger

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> ledger = Ledger.open(":memory:", form=DEMO_FORM)
        >>> ledger.files().shape[0]
        0
        >>> ledger.close()
        """
        return cls(path, form=form, read_only=read_only, engine=engine)

    # -- plumbing ----------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    def __repr__(self) -> str:
        return f"Ledger({self.path!r}, read_only={self.read_only})"

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    @property
    def items(self) -> tuple[str, ...]:
        """The item names accepted in returns (``{var}_ytd``, ``{var}_ytd_last_year``)."""
        return self.form.items

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    @staticmethod
    def _next_txn(cur: duckdb.DuckDBPyConnection) -> int:
        return int(cur.execute("SELECT coalesce(max(txn), 0) + 1 FROM transactions").fetchall()[0][0])

    def _require_writable(self) -> None:
        if self.read_only:
            raise LedgerError(f"the ledger {self.path!r} is open read-only; reopen it to write")

    def _valid_ids(self, ids: np.ndarray) -> np.ndarray:
        """Which ids pass the form's id check (any non-empty text without one)."""
        if self.form.id_format == "uscc":
            return valid_uscc(ids)
        text = pd.Series(ids, dtype=object)
        return (text.notna() & (text.astype("str").str.strip() != "")
                & ~text.astype("str").isin(["nan", "None", "<NA>"])).to_numpy()

    # -- register snapshots --------------------------------------------------
    @_writes
    def register_units(
        self,
        units: pd.DataFrame,
        period: str,
        *,
        author: str = "unknown",
        reason: str = "",
    ) -> int:
        """Store the register snapshot of a period.

        Parameters
        ----------
        units : pandas.DataFrame
            One row per firm with the form's id column and any register
            columns (stratum, county, industry, size...). They are joined
            to the returns by :meth:`to_frame`.
        period : str
            Quarter label.
        author : str, default="unknown"
            Who stores it (kept in ``transactions``).
        reason : str, default=""
            Why.

        Returns
        -------
        int
            Rows stored (0 when the same snapshot is already stored).

        Raises
        ------
        LedgerError
            Duplicate or invalid firm ids, or a *different* snapshot is
            already stored for the period (snapshots are never replaced).

        Examples
        --------
        >>> from survey.register.frame import uscc_check_character
        >>> fid = "91450100MA5KA1B2C" + uscc_check_character("91450100MA5KA1B2C")
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.register_units(pd.DataFrame({"firm_id": [fid], "stratum": ["s1"]}), "2006Q1")
        1
        """
        self._require_writable()
        period = normalise_quarter(period)
        key = self.form.id
        if key not in units.columns:
            raise LedgerError(f"register_units: the frame needs the id column {key!r}")
        units = units.rename(columns={key: "firm_id"}) if key != "firm_id" else units
        ids = units["firm_id"].astype("str")
        bad = ~self._valid_ids(ids.to_numpy(dtype=object))
        if bad.any():
            first = np.flatnonzero(bad)[:5]
            kind = " (USCC)" if self.form.id_format == "uscc" else ""
            raise LedgerError(
                f"register_units: {int(bad.sum())} invalid firm ids{kind}, e.g. rows "
                f"{first.tolist()}: {ids.iloc[first].tolist()}; fix the register"
            )
        dup = ids.duplicated()
        if dup.any():
            raise LedgerError(
                f"register_units: firm ids repeated in the register for {period}: "
                f"{ids[dup].unique()[:5].tolist()}; keep one row per firm"
            )
        frame = units.drop(columns=[c for c in ("period",) if c in units.columns]).copy()
        frame.insert(0, "period", str(period))
        cur = self._cursor()
        cur.register("new_units", frame)
        try:
            cur.execute("BEGIN TRANSACTION")
            exists = cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
            ).fetchall()[0][0]
            if not exists:
                cur.execute("CREATE TABLE units AS SELECT * FROM new_units LIMIT 0")
            else:
                have = set(
                    cur.execute("SELECT column_name FROM (DESCRIBE units)").df()["column_name"]
                )
                types = cur.execute("DESCRIBE SELECT * FROM new_units").df()
                for name, kind in zip(types["column_name"], types["column_type"], strict=True):
                    if name not in have:
                        cur.execute(f'ALTER TABLE units ADD COLUMN "{name}" {kind}')
            stored = cur.execute("SELECT count(*) FROM units WHERE period = ?", [period]).fetchall()[0][0]
            if stored:
                names = ", ".join(f'"{c}"' for c in frame.columns)
                same = cur.execute(
                    f"SELECT count(*) FROM (SELECT {names} FROM new_units EXCEPT ALL "
                    f"SELECT {names} FROM units WHERE period = ?)",
                    [period],
                ).fetchall()[0][0]
                cur.execute("ROLLBACK")
                if same == 0 and stored == len(frame):
                    return 0
                raise LedgerError(
                    f"register_units: a different register snapshot for {period} is already "
                    f"stored ({stored} firms); snapshots are never replaced, store the new one "
                    "under its own period"
                )
            cur.execute("INSERT INTO units BY NAME SELECT * FROM new_units")
            txn = self._next_txn(cur)
            cur.execute(
                "INSERT INTO transactions VALUES (?, 'units', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [txn, period, self._now(), author, reason, len(frame)],
            )
            cur.execute("COMMIT")
        except Exception:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        finally:
            cur.unregister("new_units")
            cur.close()
        return len(frame)

    def units(self, period: str) -> pd.DataFrame:
        """The register snapshot of a period (empty frame when none is stored).

        Parameters
        ----------
        period : str

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.units("2006Q1").shape
        (0, 1)
        """
        out = self._snapshot(period)
        return out.rename(columns={"firm_id": self.form.id}) if self.form.id != "firm_id" else out

    def _snapshot(self, period: str) -> pd.DataFrame:
        """The register snapshot with the ledger's own id column ``firm_id``."""
        cur = self._cursor()
        try:
            exists = cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'units'"
            ).fetchall()[0][0]
            if not exists:
                return pd.DataFrame({"firm_id": pd.Series(dtype="str")})
            out = cur.execute(
                "SELECT * EXCLUDE (period) FROM units WHERE period = ? ORDER BY firm_id", [period]
            ).df()
        finally:
            cur.close()
        return out.reset_index(drop=True)

    # -- ingest --------------------------------------------------------------
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
            missing = ~ids.isin(register).to_numpy() & ~bad
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

    @_writes
    def ingest(
        self,
        source: str | Path | pd.DataFrame,
        period: str,
        channel: str,
        *,
        money_unit: str | None = None,
        author: str = "unknown",
        errors: str = "raise",
        allow_same_content: bool = False,
    ) -> IngestReport:
        """Load one file of returns in one transaction.

        Checks run before anything is written: the file can be read as a
        table (encoding, a record cut short, see :func:`survey.io.read_table`),
        the columns (the form's id column, optional period column and other
        columns such as ``responded``, and ``{var}_ytd`` /
        ``{var}_ytd_last_year`` per indicator; no column twice or without a
        name), valid and unique firm ids (the form's id check, e.g. USCC),
        membership in the period's register snapshot when one is
        stored, the period, and numbers. One bad row rejects the whole file
        and nothing is written. Loading the same file (same SHA-256) again
        changes nothing; values equal to the firm's last returned value are
        not written again (so a resent file does not undo edits), values that
        differ become new revisions (revision 2, 3...), and a
        return for a cell that was imputed replaces the imputed value.

        Parameters
        ----------
        source : str, pathlib.Path or pandas.DataFrame
            A ``.csv``, ``.xlsx`` or ``.parquet`` file, or a frame with the
            same columns.
        period : str
            Quarter label of the returns, e.g. ``"2006Q1"``.
        channel : str
            Reporting channel (e.g. ``"bureau"``, ``"federation"``, ``"zone"``).
        money_unit : {"thousand_yuan", "yuan", "ten_thousand_yuan"}, optional
            Unit of the money columns in the file (default the form's);
            values are stored in the form's money unit and the file unit is
            recorded.
        author : str, default="unknown"
            Who loads the file.
        errors : {"raise", "report"}, default="raise"
            On rejection, raise :class:`~survey.errors.LedgerError` (the
            report is on its ``report`` attribute) or return the report.
        allow_same_content : bool, default=False
            Load a file whose content (SHA-256) was loaded before for another
            period; by default that is refused with a
            :class:`~survey.errors.LedgerError` (last quarter's file sent again).

        Returns
        -------
        IngestReport
            ``str(report)`` is a one-line summary.

        Examples
        --------
        >>> from survey.register.frame import uscc_check_character
        >>> fid = "91450100MA5KA1B2C" + uscc_check_character("91450100MA5KA1B2C")
        >>> bad = pd.DataFrame({"firm_id": [fid, "123"], "revenue_ytd": ["5", "x"]})
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     report = ledger.ingest(bad, "2006Q1", "bureau", errors="report")
        >>> report.status
        'rejected'
        >>> report.rejected[["row", "column", "reason"]].values.tolist()
        [[3, 'firm_id', 'not a valid 18-character unified social credit code'], [3, 'revenue_ytd', 'not a number']]
        """
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
                WHERE value IS NOT NULL AND NOT isnan(value)"""
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

    # -- revisions -----------------------------------------------------------
    @_writes
    def revise(
        self,
        values: pd.DataFrame,
        period: str,
        *,
        author: str,
        reason: str,
        marker: str | None = "edited",
    ) -> RevisionReport:
        """Record corrections or imputed values as new revisions.

        Nothing is overwritten: each changed cell gets a new row with the
        next revision number, who and why. Cells equal to the current value
        and missing cells are skipped.

        Parameters
        ----------
        values : pandas.DataFrame
            The form's id column and item columns (``{var}_ytd``...) in the
            form's money unit.
        period : str
        author : str
            Who records the revision (required).
        reason : str
            Why (e.g. "unit error: reported in yuan", "ONS forward imputation").
        marker : {"edited", "forward_imputed", "backward_imputed", "constructed", "returned"} or None, default="edited"
            Marker of every written value; ``None`` takes each value's marker
            from an ``{item}_marker`` column of ``values`` (for ``{var}_ytd``
            also ``{var}_marker``, as :meth:`to_frame` and
            :func:`survey.returns.impute.ratio_of_means` name it).
        Returns
        -------
        RevisionReport

        Examples
        --------
        >>> from survey.register.frame import uscc_check_character
        >>> fid = "91450100MA5KA1B2C" + uscc_check_character("91450100MA5KA1B2C")
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     _ = ledger.ingest(pd.DataFrame({"firm_id": [fid], "revenue_ytd": [5000.0]}),
        ...                       "2006Q1", "bureau")
        ...     fix = ledger.revise(pd.DataFrame({"firm_id": [fid], "revenue_ytd": [5.0]}),
        ...                         "2006Q1", author="clerk", reason="reported in yuan")
        ...     now = ledger.to_frame("2006Q1")
        ...     before = ledger.to_frame("2006Q1", as_of=fix.txn - 1)
        >>> fix.values_written, now["revenue_ytd"].item(), before["revenue_ytd"].item()
        (1, 5.0, 5000.0)
        >>> now["revenue_marker"].item()
        'edited'
        """
        self._require_writable()
        if not isinstance(author, str) or not author:
            raise LedgerError("revise: give author= (who records the revision)")
        period = normalise_quarter(period)
        key = self.form.id
        if key not in values.columns:
            raise LedgerError(f"revise: the frame needs the id column {key!r}")
        values = values.rename(columns={key: "firm_id"}) if key != "firm_id" else values
        items = [c for c in values.columns if c in self.items]
        other = [
            c for c in values.columns
            if c not in items and c != "firm_id" and not c.endswith("_marker")
        ]  # fmt: skip
        if other:
            raise LedgerError(
                f"revise: unknown item columns {other}; items are {list(self.items)}"
            )
        if marker is not None and marker not in MARKERS:
            raise LedgerError(f"revise: marker must be one of {MARKERS}, got {marker!r}")
        long_parts = []
        for c in items:
            v = values[c].to_numpy(dtype=float, na_value=np.nan)
            keep = np.isfinite(v)
            if marker is None:
                mcol = f"{c}_marker"
                suffix = self.form.ytd_suffix
                if mcol not in values.columns and c.endswith(suffix):
                    mcol = f"{c[: -len(suffix)]}_marker"  # the naming of to_frame
                if mcol not in values.columns:
                    raise LedgerError(
                        f"revise: marker=None needs a column {c + '_marker'!r} with each value's "
                        "marker"
                    )
                marks = values[mcol].astype("str").to_numpy(dtype=object)
                wrong = keep & ~np.isin(marks, MARKERS)
                if wrong.any():
                    raise LedgerError(
                        f"revise: column {mcol!r} has markers outside {MARKERS}: "
                        f"{sorted(set(marks[wrong]))[:5]}"
                    )
            else:
                marks = np.full(len(v), marker, dtype=object)
            long_parts.append(
                pd.DataFrame(
                    {
                        "firm_id": values["firm_id"].astype("str").to_numpy()[keep],
                        "item": c,
                        "value": v[keep],
                        "marker": marks[keep],
                    }
                )
            )
        long = (
            pd.concat(long_parts, ignore_index=True)
            if long_parts
            else pd.DataFrame({"firm_id": [], "item": [], "value": [], "marker": []})
        )
        cur = self._cursor()
        cur.register("incoming", long)
        try:
            cur.execute("BEGIN TRANSACTION")
            txn = self._next_txn(cur)
            now = self._now()
            cur.execute(
                """
                CREATE TEMP TABLE staged AS
                WITH cur AS (
                    SELECT firm_id, item, max(revision) AS revision, arg_max(value, revision) AS value
                    FROM returns WHERE period = $period GROUP BY firm_id, item)
                SELECT i.firm_id, i.item, i.value, i.marker, coalesce(c.revision, 0) + 1 AS revision,
                       c.value IS NOT DISTINCT FROM i.value AS same
                FROM incoming i LEFT JOIN cur c USING (firm_id, item)
                """,
                {"period": period},
            )
            cur.execute(
                """
                INSERT INTO returns
                SELECT firm_id, $period, item, value, marker, revision, $txn, NULL
                FROM staged WHERE NOT same
                """,
                {"period": period, "txn": txn},
            )
            counts = cur.execute(
                "SELECT marker, count(*) FROM staged WHERE NOT same GROUP BY marker ORDER BY marker"
            ).fetchall()
            unchanged = cur.execute("SELECT count(*) FROM staged WHERE same").fetchall()[0][0]
            written = int(sum(c for _, c in counts))
            cur.execute(
                "INSERT INTO transactions VALUES (?, 'revise', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [txn, period, now, author, reason, written],
            )
            cur.execute("DROP TABLE staged")
            cur.execute("COMMIT")
        except Exception:
            try:
                cur.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        finally:
            cur.unregister("incoming")
            cur.close()
        return RevisionReport(
            period=period, txn=txn, recorded_at=now, values_written=written,
            values_unchanged=int(unchanged), by_marker={m: int(c) for m, c in counts},
        )  # fmt: skip

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def _as_of_clause(as_of: Any) -> tuple[str, list]:
        if as_of is None:
            return "", []
        if isinstance(as_of, (int, np.integer)) and not isinstance(as_of, bool):
            return " AND txn <= ?", [int(as_of)]
        if isinstance(as_of, str):
            as_of = pd.Timestamp(as_of).to_pydatetime()
        if isinstance(as_of, pd.Timestamp):
            as_of = as_of.to_pydatetime()
        if isinstance(as_of, datetime):
            if as_of.tzinfo is not None:
                as_of = as_of.astimezone(UTC).replace(tzinfo=None)
            return (
                " AND txn <= (SELECT coalesce(max(txn), 0) FROM transactions WHERE recorded_at <= ?)",
                [as_of],
            )
        raise LedgerError(
            f"as_of must be a transaction number, a datetime or an ISO time string, got {as_of!r}"
        )

    def current(self, period: str, *, as_of: Any = None) -> pd.DataFrame:
        """Current (or as-of) value of every cell of a period, in long form.

        Parameters
        ----------
        period : str
        as_of : int, datetime, str or None, default=None
            Transaction number, or UTC time (naive datetimes are UTC), up to
            which revisions count; ``None`` for the latest state.

        Returns
        -------
        pandas.DataFrame
            ``firm_id, item, value, marker, revision`` sorted by firm and item.

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.current("2006Q1").columns.tolist()
        ['firm_id', 'item', 'value', 'marker', 'revision']
        """
        clause, params = self._as_of_clause(as_of)
        cur = self._cursor()
        try:
            return cur.execute(
                f"""SELECT firm_id, item, arg_max(value, revision) AS value,
                           arg_max(marker, revision)::VARCHAR AS marker, max(revision) AS revision
                    FROM returns WHERE period = ?{clause}
                    GROUP BY firm_id, item ORDER BY firm_id, item""",
                [period, *params],
            ).df()
        finally:
            cur.close()

    def history(self, firm_id: str, period: str | None = None) -> pd.DataFrame:
        """Every recorded value of one firm (all revisions, oldest first).

        Parameters
        ----------
        firm_id : str
        period : str or None, default=None
            Restrict to one period.

        Returns
        -------
        pandas.DataFrame
            The rows of the firm in the ``history`` view: ``firm_id, period,
            item, value, unit, channel, marker, revision, txn, recorded_at,
            recorded_by, reason, file_id, row_number``.

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     len(ledger.history("91450100MA5KA1B2CM"))
        0
        """
        cur = self._cursor()
        try:
            sql = "SELECT * FROM history WHERE firm_id = ?"
            params: list = [firm_id]
            if period is not None:
                sql += " AND period = ?"
                params.append(period)
            return cur.execute(sql + " ORDER BY period, item, revision", params).df()
        finally:
            cur.close()

    def files(self) -> pd.DataFrame:
        """The ``files`` table (one row per loaded file).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.files().columns[:3].tolist()
        ['file_id', 'content_hash', 'source']
        """
        cur = self._cursor()
        try:
            return cur.execute("SELECT * FROM files ORDER BY file_id").df()
        finally:
            cur.close()

    def _wide(self, cur: duckdb.DuckDBPyConnection, period: str, as_of: Any) -> pd.DataFrame:
        clause, params = self._as_of_clause(as_of)
        # one pass grouped by firm: arg_max picks the latest revision of each item
        selects = [
            f"arg_max(value, revision) FILTER (WHERE item = '{item}') AS \"{item}\""
            for item in self.items
        ]
        selects += [
            f"coalesce(arg_max(marker, revision) FILTER (WHERE item = '{self.form.ytd(var)}')::VARCHAR, "
            "'missing') "
            f"AS \"{var}_marker\""
            for var in self.indicators
        ]
        return cur.execute(
            f"""SELECT firm_id, {", ".join(selects)} FROM returns WHERE period = ?{clause}
                GROUP BY firm_id ORDER BY firm_id""",
            [period, *params],
        ).df()

    def quarter_relation(
        self, period: str, *, as_of: Any = None, register: bool = True
    ) -> QuarterRelation:
        """One quarter as a DuckDB relation: :meth:`to_frame` without pandas.

        The same rows and columns as :meth:`to_frame` (missing values are
        NULL), computed by DuckDB within the ledger engine's memory limit
        when read. :func:`survey.estimation.outofcore.scan` accepts it
        directly, so estimation from a national ledger never builds a pandas
        frame of the units.

        Parameters
        ----------
        period : str
        as_of : int, datetime, str or None, default=None
        register : bool, default=True

        Returns
        -------
        survey.returns.sql.QuarterRelation

        Examples
        --------
        >>> import survey as sv
        >>> from survey.estimation.outofcore import scan
        >>> from survey.form import DEMO_FORM
        >>> from survey.register.frame import uscc_check_character
        >>> ids = [s + uscc_check_character(s) for s in ["91450100MA5KA1B2C", "91450100MA5KA1B3C"]]
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     _ = ledger.ingest(pd.DataFrame({"firm_id": ids, "revenue_ytd": [5.0, 7.0]}),
        ...                       "2006Q1", "bureau")
        ...     q = ledger.quarter_relation("2006Q1")
        ...     scan(q, sv.Design()).total("revenue").estimate
        array([12.])
        """
        cur = self._cursor()  # its own cursor: other reads of the ledger do not disturb it
        text = quarter_sql(self, period, connection=cur, as_of_clause=self._as_of_clause(as_of),
                           register=register)
        engine = configure_ledger(cur, self.engine)
        return QuarterRelation(cur.sql(text), engine, normalise_quarter(period), text)

    def to_frame(
        self,
        period: str,
        *,
        as_of: Any = None,
        register: bool = True,
    ) -> pd.DataFrame:
        """A wide frame of one period, ready for :class:`survey.Survey`.

        One row per firm (every firm of the period's register snapshot when
        one is stored and ``register=True``, else every firm with a value),
        sorted by ``firm_id``, with per indicator ``var``:

        ``{var}_ytd``, ``{var}_ytd_last_year``
            current values (NaN when missing);
        ``{var}_ytd_previous``
            the year-to-date value of the previous quarter of the same year
            (NaN in a first quarter);
        ``{var}``, ``{var}_last_year``
            the discrete quarter and the same quarter of last year
            (:func:`ytd_to_quarters`);
        ``{var}_marker``
            where ``{var}_ytd`` comes from: ``"returned"``, ``"edited"``,
            ``"forward_imputed"``, ``"backward_imputed"``, ``"constructed"``
            or ``"missing"``.

        Register columns whose names clash with these (e.g. the register's
        ``employees``) get the suffix ``_register`` (``employees_register``).
        A :class:`~survey.errors.SurveyWarning` says how many cumulative
        values fell (negative quarters); the edit rules flag them by firm.

        Parameters
        ----------
        period : str
        as_of : int, datetime, str or None, default=None
            State of the ledger at a transaction number or UTC time.
        register : bool, default=True
            Join the register snapshot columns of the period.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.to_frame("2006Q2").shape[0]
        0
        """
        form = self.form
        period = normalise_quarter(period)
        previous = previous_quarter(period, same_year=True)
        cur = self._cursor()
        try:
            wide = self._wide(cur, period, as_of)
            prev = self._wide(cur, previous, as_of) if previous is not None else None
        finally:
            cur.close()
        if register:
            units = self._snapshot(period)
            derived = {form.period} | {
                f"{var}{suffix}"
                for var in self.indicators
                for suffix in ("", "_last_year", form.ytd_suffix, form.last_year_suffix,
                               form.previous_suffix, "_marker")
            }
            units = units.rename(columns={c: f"{c}_register" for c in units.columns if c in derived})
            if len(units.columns) > 1 or len(units):
                extra = wide.loc[~wide["firm_id"].isin(units["firm_id"])]
                if len(extra):
                    warnings.warn(
                        f"{len(extra)} firms have values for {period} but are not in its register "
                        f"snapshot (e.g. {extra['firm_id'].iloc[0]}); they are kept with missing "
                        "register columns",
                        SurveyWarning,
                        stacklevel=2,
                    )
                wide = units.merge(wide, on="firm_id", how="outer", sort=True)
                for var in self.indicators:
                    wide[f"{var}_marker"] = wide[f"{var}_marker"].fillna("missing")
        conversion = ytd_to_quarters(
            wide, prev, variables=self.indicators, stocks=form.stocks, id="firm_id",
            ytd_suffix=form.ytd_suffix, last_year_suffix=form.last_year_suffix,
        )
        out = conversion.frame
        for var in self.indicators:
            if prev is not None:
                lookup = prev.set_index("firm_id")[form.ytd(var)]
                out[form.previous(var)] = lookup.reindex(out["firm_id"].to_numpy()).to_numpy()
            else:
                out[form.previous(var)] = np.nan
        decreases = conversion.problems["problem"].eq("cumulative_decrease").sum()
        if decreases:
            warnings.warn(
                f"{decreases} year-to-date values of {period} are below the previous quarter's "
                "(negative quarters); run survey.returns.rules.check to list them by firm",
                SurveyWarning,
                stacklevel=2,
            )
        out.insert(1, form.period, period)
        if form.id != "firm_id":
            out = out.rename(columns={"firm_id": form.id})
        return out.reset_index(drop=True)

    # -- published estimates (append-only) ----------------------------------
    _PUBLISHED_SCHEMA = """
    CREATE TABLE IF NOT EXISTS published (
        run BIGINT NOT NULL, published_at TIMESTAMP NOT NULL, published_period VARCHAR,
        published_by VARCHAR, ledger_txn BIGINT, period VARCHAR NOT NULL,
        breakdown VARCHAR NOT NULL, domain VARCHAR NOT NULL, variable VARCHAR NOT NULL,
        estimate DOUBLE, se DOUBLE, ci_low DOUBLE, ci_high DOUBLE, method VARCHAR)"""
    _PUBLISHED_COLUMNS = ("period", "breakdown", "domain", "variable", "estimate", "se",
                          "ci_low", "ci_high", "method")

    def _has_published(self, cur: duckdb.DuckDBPyConnection) -> bool:
        return bool(cur.execute("SELECT count(*) FROM information_schema.tables "
                                "WHERE table_name = 'published'").fetchall()[0][0])

    @_writes
    def record_published(self, estimates: pd.DataFrame, *, published_period: str,
                         author: str = "survey cycle") -> int:
        """Record the estimates of one publication run (append-only; nothing is ever changed).

        Parameters
        ----------
        estimates : pandas.DataFrame
            ``period, breakdown, domain, variable, estimate, se, ci_low, ci_high``
            and optionally ``method`` (one row per published figure).
        published_period : str
            The quarter the run published.
        author : str, default="survey cycle"

        Returns
        -------
        int
            The run number (1, 2, ...). The run stores the ledger state it used
            (the last transaction number) and the time.

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> est = pd.DataFrame({"period": "2006Q3", "breakdown": "sector", "domain": "",
        ...     "variable": "y", "estimate": [10.0], "se": 1.0, "ci_low": 8.0, "ci_high": 12.0})
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.record_published(est, published_period="2006Q3")
        ...     ledger.record_published(est.assign(estimate=11.0), published_period="2006Q3")
        ...     table = ledger.revisions()
        1
        2
        >>> table[["first_estimate", "latest_estimate", "change", "within_interval"]].values.tolist()
        [[10.0, 11.0, 1.0, True]]
        """
        required = [c for c in self._PUBLISHED_COLUMNS if c != "method"]
        missing = [c for c in required if c not in estimates.columns]
        if missing:
            raise LedgerError(f"record_published: estimates lack column(s) {missing}")
        parse_quarter(published_period)
        frame = estimates.reindex(columns=list(self._PUBLISHED_COLUMNS)).copy()
        for c in ("period", "breakdown", "domain", "variable", "method"):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
            frame[c] = [None if v is None else str(v) for v in frame[c]]
        frame["domain"] = frame["domain"].fillna("")
        cur = self._cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(self._PUBLISHED_SCHEMA)
            run = int(cur.execute("SELECT coalesce(max(run), 0) + 1 FROM published").fetchall()[0][0])
            txn = int(cur.execute("SELECT coalesce(max(txn), 0) FROM transactions").fetchall()[0][0])
            frame.insert(0, "ledger_txn", txn)
            frame.insert(0, "published_by", str(author))
            frame.insert(0, "published_period", str(published_period))
            frame.insert(0, "published_at", self._now())
            frame.insert(0, "run", run)
            cur.register("new_published", frame)
            cur.execute("INSERT INTO published SELECT run, published_at, published_period, "
                        "published_by, ledger_txn, period, breakdown, domain, variable, estimate, "
                        "se, ci_low, ci_high, method FROM new_published")
            cur.unregister("new_published")
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return run

    def _published_rows(self, period: str | None, as_of: Any) -> pd.DataFrame:
        columns = ["run", "published_at", "published_period", "published_by", "ledger_txn",
                   *self._PUBLISHED_COLUMNS]
        cur = self._cursor()
        try:
            if not self._has_published(cur):
                return pd.DataFrame(columns=columns)
            clause, params = [], []
            if period is not None:
                clause.append("period = ?")
                params.append(str(period))
            if as_of is not None:
                if isinstance(as_of, (int, np.integer)) and not isinstance(as_of, bool):
                    clause.append("run <= ?")
                    params.append(int(as_of))
                else:
                    when = pd.Timestamp(as_of)
                    if when.tzinfo is not None:
                        when = when.tz_convert("UTC").tz_localize(None)
                    clause.append("published_at <= ?")
                    params.append(when.to_pydatetime())
            where = f" WHERE {' AND '.join(clause)}" if clause else ""
            return cur.execute(f"SELECT {', '.join(columns)} FROM published{where} "
                               "ORDER BY run, period, breakdown, domain, variable", params).df()
        finally:
            cur.close()

    def published(self, period: str | None = None, *, as_of: Any = None) -> pd.DataFrame:
        """The figures as published: for each (period, breakdown, domain, variable) the
        latest record up to ``as_of``.

        Parameters
        ----------
        period : str, optional
            One quarter (default every quarter recorded).
        as_of : int, datetime, str or None, default=None
            A run number, or a UTC time: what had been published then (``None``: now).

        Returns
        -------
        pandas.DataFrame
            ``run, published_at, published_period, published_by, ledger_txn, period,
            breakdown, domain, variable, estimate, se, ci_low, ci_high, method``.

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.published("2006Q3").empty
        True
        """
        rows = self._published_rows(period, as_of)
        keys = ["period", "breakdown", "domain", "variable"]
        return rows.drop_duplicates(keys, keep="last").reset_index(drop=True)

    def revisions(self, period: str | None = None) -> pd.DataFrame:
        """First published against latest published figure of every (period, breakdown,
        domain, variable).

        Returns
        -------
        pandas.DataFrame
            ``period, breakdown, domain, variable, first_run, latest_run,
            first_estimate, first_se, first_ci_low, first_ci_high, latest_estimate,
            latest_se, change, relative_change, within_interval`` (whether the latest
            figure lies in the first one's interval), ``revised`` (the figure changed).

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ...     ledger.revisions().columns[:4].tolist()
        ['period', 'breakdown', 'domain', 'variable']
        """
        rows = self._published_rows(period, None)
        keys = ["period", "breakdown", "domain", "variable"]
        first = rows.drop_duplicates(keys, keep="first").set_index(keys)
        last = rows.drop_duplicates(keys, keep="last").set_index(keys)
        out = pd.DataFrame(index=first.index)
        out["first_run"] = first["run"]
        out["latest_run"] = last["run"].reindex(out.index)
        for c in ("estimate", "se", "ci_low", "ci_high"):
            out[f"first_{c}"] = first[c]
        out["latest_estimate"] = last["estimate"].reindex(out.index)
        out["latest_se"] = last["se"].reindex(out.index)
        out["change"] = out["latest_estimate"] - out["first_estimate"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["relative_change"] = out["change"] / out["first_estimate"].abs()
        out["within_interval"] = ((out["latest_estimate"] >= out["first_ci_low"])
                                  & (out["latest_estimate"] <= out["first_ci_high"]))
        out["revised"] = (out["change"].abs() > 1e-9 * out["first_estimate"].abs().clip(lower=1.0)
                          ).to_numpy(dtype=bool)
        return out.reset_index()
