"""Revisions: corrections and imputed values written as new revisions, never over old ones.

Part of :mod:`survey.returns.ledger`: :class:`RevisionReport` (what a revision wrote)
and :class:`LedgerRevisions`, the body of :meth:`Ledger.revise
<survey.returns.ledger.Ledger.revise>`: each changed cell gets a new row in
``returns`` with the next revision number and one ``transactions`` row says who and
why (the audit trail that :meth:`~survey.returns.ledger.Ledger.history` and ``as_of``
read back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from survey.errors import LedgerError
from survey.periods import normalise_quarter
from survey.returns.ledger.connection import MARKERS

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


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


class LedgerRevisions:
    """The revisions of :class:`~survey.returns.ledger.Ledger` (uses the plumbing of
    :class:`~survey.returns.ledger.connection.LedgerConnection`)."""

    def _revise(self, values: pd.DataFrame, period: str, *, author: str, reason: str,
                marker: str | None) -> RevisionReport:
        """The body of :meth:`Ledger.revise <survey.returns.ledger.Ledger.revise>`."""
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
        columns, markers = [], []  # one value and one marker column per item
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
                markers.append(marks)
            columns.append(v)
        if items:
            # the long table item by item (rows of the first item, then the second...), as
            # Arrow columns (DuckDB reads them without converting pandas' strings)
            matrix = np.stack(columns)
            item_of, row_of = np.nonzero(np.isfinite(matrix))
            firm = values["firm_id"].astype("str").to_numpy(dtype=object)[row_of]
            item = np.asarray(items, dtype=object)[item_of]
            value = matrix[item_of, row_of]
            marks = (np.stack(markers)[item_of, row_of] if marker is None
                     else np.full(len(row_of), marker, dtype=object))
        else:
            firm = item = marks = np.array([], dtype=object)
            value = np.array([], dtype=float)
        long = pa.table({"firm_id": pa.array(firm, pa.string()), "item": pa.array(item, pa.string()),
                         "value": pa.array(value, pa.float64()),
                         "marker": pa.array(marks, pa.string())})
        cur = self._cursor()
        cur.register("incoming", long)
        try:
            cur.execute("BEGIN TRANSACTION")
            before = self._version(cur)
            txn = (before[0] or 0) + 1  # the next transaction number
            now = self._now()
            # one statement: the current value of the incoming cells only, and each incoming
            # cell whose value differs inserted as the cell's next revision; RETURNING gives
            # the cells written (their tally, and the wide frames kept by views.py)
            changed = cur.execute(
                """
                INSERT INTO returns
                WITH cur AS (
                    SELECT r.firm_id, r.item, max(r.revision) AS revision,
                           arg_max(r.value, r.revision) AS value
                    FROM returns r SEMI JOIN incoming USING (firm_id, item)
                    WHERE r.period = $period GROUP BY r.firm_id, r.item)
                SELECT i.firm_id, $period, i.item, i.value, i.marker,
                       coalesce(c.revision, 0) + 1, $txn, NULL
                FROM incoming i LEFT JOIN cur c USING (firm_id, item)
                WHERE c.value IS DISTINCT FROM i.value
                RETURNING firm_id, item, value, marker::VARCHAR AS marker
                """,
                {"period": period, "txn": txn},
            ).df()
            written_marks = changed["marker"].to_numpy(dtype=object)
            counts = [(m, int((written_marks == m).sum())) for m in sorted(set(written_marks))]
            written = len(changed)
            unchanged = long.num_rows - written
            cur.execute(
                "INSERT INTO transactions VALUES (?, 'revise', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [txn, period, now, author, reason, written],
            )
            # the state after: this transaction is the last one (its time the latest)
            after = (txn, now if before[1] is None else max(before[1], now))
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
        self._keep_revised(period, before, after, changed)
        return RevisionReport(
            period=period, txn=txn, recorded_at=now, values_written=written,
            values_unchanged=int(unchanged), by_marker={m: int(c) for m, c in counts},
        )  # fmt: skip
