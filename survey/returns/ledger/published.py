"""Published estimates: every publication run recorded, append-only, and read back.

Part of :mod:`survey.returns.ledger`: :class:`LedgerPublished`, the ``published`` table
(created by the first run), the body of :meth:`Ledger.record_published
<survey.returns.ledger.Ledger.record_published>`, the rows up to a run or time that
:meth:`~survey.returns.ledger.Ledger.published` keeps the latest of, and the first
against latest figure table of :meth:`~survey.returns.ledger.Ledger.revisions`.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from survey.errors import LedgerError
from survey.periods import parse_quarter

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


class LedgerPublished:
    """The published estimates of :class:`~survey.returns.ledger.Ledger` (uses the plumbing
    of :class:`~survey.returns.ledger.connection.LedgerConnection`)."""

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

    def _record_published(self, estimates: pd.DataFrame, *, published_period: str,
                          author: str) -> int:
        """The body of :meth:`Ledger.record_published
        <survey.returns.ledger.Ledger.record_published>`."""
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

    def _revision_table(self, period: str | None) -> pd.DataFrame:
        """The body of :meth:`Ledger.revisions <survey.returns.ledger.Ledger.revisions>`."""
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
