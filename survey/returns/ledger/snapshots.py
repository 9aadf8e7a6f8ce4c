"""Register snapshots: the firms (and register columns) of each period, stored once.

Part of :mod:`survey.returns.ledger`: :class:`LedgerSnapshots`, the body of
:meth:`Ledger.register_units <survey.returns.ledger.Ledger.register_units>` (checks,
then one transaction into the ``units`` table; a different snapshot for a stored
period is refused) and the snapshot read back with the ledger's id column
``firm_id`` (``_snapshot``, used by :meth:`~survey.returns.ledger.Ledger.units` and
:meth:`~survey.returns.ledger.Ledger.to_frame`).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from survey.errors import LedgerError
from survey.periods import normalise_quarter

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


class LedgerSnapshots:
    """The register snapshots of :class:`~survey.returns.ledger.Ledger` (uses the plumbing
    of :class:`~survey.returns.ledger.connection.LedgerConnection`)."""

    def _register_units(self, units: pd.DataFrame, period: str, *, author: str,
                        reason: str) -> int:
        """The body of :meth:`Ledger.register_units
        <survey.returns.ledger.Ledger.register_units>`."""
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

    def _snapshot(self, period: str) -> pd.DataFrame:
        """The register snapshot with the ledger's own id column ``firm_id``."""
        cur = self._cursor()
        try:
            # kept until the register is recorded again (edit and impute read each quarter);
            # a kept one first, then whether the ledger has a register at all
            txn = self._version(cur, "units")
            key = (period, txn)
            kept = self._snapshots
            if txn[0] is not None and key in kept:
                return kept[key].copy()
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
        out = out.reset_index(drop=True)
        kept[key] = out.copy()
        for old in [k for k in list(kept) if k[1] != txn] + list(kept)[:-8]:
            kept.pop(old, None)  # recorded since, or more than two years of quarters
        return out
