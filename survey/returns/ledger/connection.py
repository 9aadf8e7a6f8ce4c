"""The ledger's schema, connection errors and the plumbing every part of it shares.

Part of :mod:`survey.returns.ledger`: the value markers and money units, the
tables and the ``history`` view, the error of a file that cannot be opened, the
decorators that serialise writes and name the file in DuckDB errors, and
:class:`LedgerConnection`, the cursor, clock, transaction numbers, id check and
``as_of`` clause that :class:`~survey.returns.ledger.Ledger` and its parts use.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from survey.errors import LedgerError
from survey.form import Form
from survey.register.frame import valid_uscc
from survey.engine import sql_literal

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)

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

SCHEMA = """
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
HISTORY = """
CREATE VIEW IF NOT EXISTS history AS
    SELECT r.firm_id, r.period, r.item, r.value,
           {unit} AS unit,
           t.channel, r.marker::VARCHAR AS marker, r.revision, r.txn, t.recorded_at,
           t.recorded_by, t.reason, t.file_id, r.row_number
    FROM returns r JOIN transactions t USING (txn);
"""


def history_view(form: Form) -> str:
    """The ``history`` view: the unit of a value is the form's unit of its indicator (the
    money unit of the file for money)."""
    default = f"coalesce(t.unit, {sql_literal(form.money_unit)})"
    cases = []
    for var in form.indicators:
        if var in form.money:
            continue
        items = ", ".join(sql_literal(c) for c in (form.ytd(var), form.last_year(var)))
        cases.append(f"WHEN r.item IN ({items}) THEN {sql_literal(form.unit_of(var))}")
    unit = f"CASE {' '.join(cases)} ELSE {default} END" if cases else default
    return HISTORY.format(unit=unit)


#: What the ledgers of one file keep of their reads (the wide frames of views.py, the
#: register snapshots of snapshots.py), by file, for the last two files opened: the edit
#: step's reads serve the impute step. Every use checks the state it was read at
#: (:meth:`LedgerConnection._version`).
_KEPT: dict[str, dict[str, dict]] = {}


def kept_reads(path: str) -> dict[str, dict]:
    """``{"wide": {}, "snapshots": {}}`` shared by the ledgers of a file (its own for an
    in-memory ledger)."""
    if path == ":memory:" or path.startswith(":memory:"):
        return {"wide": {}, "snapshots": {}}
    name = os.path.realpath(path)
    _KEPT[name] = _KEPT.pop(name, None) or {"wide": {}, "snapshots": {}}  # the latest last
    for old in list(_KEPT)[:-2]:
        del _KEPT[old]
    return _KEPT[name]


def open_error(path: str, exc: Exception) -> LedgerError:
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


def writes(method: Any) -> Any:
    """Serialise the writing methods of one Ledger (readers are never blocked)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._require_writable()
        with self._write_lock:
            return method(self, *args, **kwargs)

    return wrapper


def check_form(form: Any) -> Form:
    """The ledger's form, checked to be a :class:`~survey.form.Form`."""
    if not isinstance(form, Form):
        raise LedgerError(f"Ledger: form must be a survey.form.Form, got {type(form).__name__}")
    return form


def database_errors(cls: type) -> type:
    """Turn DuckDB errors raised by the public methods of ``cls`` (a damaged file that
    opened, a disk that fails) into :class:`~survey.errors.LedgerError` naming the file."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except duckdb.Error as exc:
                raise open_error(getattr(self, "path", "?"), exc) from exc

        return wrapper

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and not isinstance(
                value, (type, staticmethod, classmethod)):
            setattr(cls, name, wrap(value))
    return cls


class LedgerConnection:
    """The plumbing of a :class:`~survey.returns.ledger.Ledger`: a cursor per call, the clock,
    transaction numbers, the form's id check and the ``as_of`` clause (the ledger's
    ``__init__`` sets ``_con``, ``path``, ``read_only`` and ``form``)."""

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    @staticmethod
    def _next_txn(cur: duckdb.DuckDBPyConnection) -> int:
        return int(cur.execute("SELECT coalesce(max(txn), 0) + 1 FROM transactions").fetchall()[0][0])

    @staticmethod
    def _version(cur: duckdb.DuckDBPyConnection, kind: str | None = None) -> tuple:
        """The state of the ledger (of its ``kind`` of writes): the last transaction and its
        time, which tell two files apart too (a ledger made again at the same path)."""
        where = "" if kind is None else f" WHERE kind = {sql_literal(kind)}"
        return tuple(cur.execute(f"SELECT max(txn), max(recorded_at) FROM transactions{where}"
                                 ).fetchall()[0])

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
