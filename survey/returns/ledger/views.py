"""Reading out: current and as-of values, the audit history of a firm, and one quarter as a
wide frame or as a DuckDB relation.

Part of :mod:`survey.returns.ledger`: :class:`LedgerViews`, the bodies of
:meth:`Ledger.current <survey.returns.ledger.Ledger.current>`,
:meth:`~survey.returns.ledger.Ledger.history`,
:meth:`~survey.returns.ledger.Ledger.quarter_relation` (the quarter view as SQL, built by
:func:`survey.returns.sql.quarter_sql`) and :meth:`~survey.returns.ledger.Ledger.to_frame`
(the latest revision of every item per firm, ``_wide``, joined to the register snapshot
and turned from year to date into quarters).
"""

from __future__ import annotations

import warnings
from typing import Any

import duckdb
import pandas as pd

from survey.errors import SurveyWarning
from survey.io import member
from survey.periods import (
    normalise_quarter,
    previous_quarter,
    previous_values,
    ytd_to_quarters,
)
from survey.returns.sql import QuarterRelation, configure_ledger, quarter_sql

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


class LedgerViews:
    """The reading methods of :class:`~survey.returns.ledger.Ledger` (use the plumbing of
    :class:`~survey.returns.ledger.connection.LedgerConnection` and the register snapshot of
    :class:`~survey.returns.ledger.snapshots.LedgerSnapshots`)."""

    def _current(self, period: str, as_of: Any, markers: Any = None) -> pd.DataFrame:
        """The body of :meth:`Ledger.current <survey.returns.ledger.Ledger.current>`."""
        clause, params = self._as_of_clause(as_of)
        having, cells, first = "", "", []
        if markers is not None:
            having = "HAVING arg_max(marker, revision)::VARCHAR IN (SELECT unnest(?::VARCHAR[]))"
            params = [*params, [str(m) for m in markers]]
            # only the cells with such a marker in some revision can have it last
            cells = (f"SEMI JOIN (SELECT firm_id, item FROM returns WHERE period = ?{clause} AND "
                     "marker::VARCHAR IN (SELECT unnest(?::VARCHAR[]))) USING (firm_id, item)")
            first = [period, *params]
        cur = self._cursor()
        try:
            return cur.execute(
                f"""SELECT firm_id, item, arg_max(value, revision) AS value,
                           arg_max(marker, revision)::VARCHAR AS marker, max(revision) AS revision
                    FROM returns {cells} WHERE period = ?{clause}
                    GROUP BY firm_id, item {having} ORDER BY firm_id, item""",
                [*first, period, *params],
            ).df()
        finally:
            cur.close()

    def _history(self, firm_id: str, period: str | None) -> pd.DataFrame:
        """The body of :meth:`Ledger.history <survey.returns.ledger.Ledger.history>`."""
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

    def _wide(self, cur: duckdb.DuckDBPyConnection, period: str, as_of: Any) -> pd.DataFrame:
        """The latest revision of every item per firm of a quarter; the last eight quarters
        read are kept (by every ledger of the file) while the ledger is not written, or
        written by :meth:`Ledger.revise <survey.returns.ledger.Ledger.revise>` only
        (:meth:`_keep_revised`): the quarter before is read again by the next quarter's
        ``to_frame``, the impute step reads what the edit step read and revised."""
        clause, params = self._as_of_clause(as_of)
        version = self._version(cur)
        key = (period, clause, repr(params), version)
        kept = self._wide_frames
        frame = kept.get(key)
        if frame is not None:
            return frame.copy()
        frame = self._read_wide(cur, period, clause, params)
        kept[key] = frame.copy()
        for old in [k for k in list(kept) if k[3] != version] + list(kept)[:-8]:
            kept.pop(old, None)  # written since, or more than the last eight read
        return frame

    def _keep_revised(self, period: str, before: tuple, after: tuple,
                      changed: pd.DataFrame) -> None:
        """After a revision of ``period`` (``changed``: ``firm_id, item, value, marker`` of
        the cells written), the wide frames kept at the state ``before`` are those of the
        state ``after``: the revised quarter with the new cells (dropped when a firm is new
        to it: read again), the other quarters as they were."""
        marker_of = {self.form.ytd(var): f"{var}_marker" for var in self.indicators}
        for key in list(self._wide_frames):
            frame = self._wide_frames.pop(key)
            if key[1:] != ("", "[]", before):
                continue  # another state, or an as-of read
            if key[0] == period and len(changed):
                rows = pd.Index(frame["firm_id"]).get_indexer(changed["firm_id"])
                if (rows < 0).any() or changed.duplicated(["firm_id", "item"]).any():
                    continue
                frame = frame.copy()
                items = changed["item"].to_numpy(dtype=object)
                for item in dict.fromkeys(items):
                    hit = items == item
                    values = frame[item].to_numpy(dtype=float, copy=True)
                    values[rows[hit]] = changed["value"].to_numpy(dtype=float)[hit]
                    frame[item] = values
                    if item in marker_of:
                        column = marker_of[item]
                        marks = frame[column].to_numpy(dtype=object, copy=True)
                        marks[rows[hit]] = changed["marker"].to_numpy(dtype=object)[hit]
                        frame[column] = pd.array(marks, dtype=frame[column].dtype)
            self._wide_frames[(key[0], "", "[]", after)] = frame

    def _read_wide(self, cur: duckdb.DuckDBPyConnection, period: str, clause: str,
                   params: list) -> pd.DataFrame:
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

    def _quarter_relation(self, period: str, as_of: Any, register: bool) -> QuarterRelation:
        """The body of :meth:`Ledger.quarter_relation
        <survey.returns.ledger.Ledger.quarter_relation>`."""
        cur = self._cursor()  # its own cursor: other reads of the ledger do not disturb it
        text = quarter_sql(self, period, connection=cur, as_of_clause=self._as_of_clause(as_of),
                           register=register)
        engine = configure_ledger(cur, self.engine)
        return QuarterRelation(cur.sql(text), engine, normalise_quarter(period), text)

    def _to_frame(self, period: str, as_of: Any, register: bool) -> pd.DataFrame:
        """The body of :meth:`Ledger.to_frame <survey.returns.ledger.Ledger.to_frame>`."""
        form = self.form
        period = normalise_quarter(period)
        previous = previous_quarter(period, same_year=True)
        cur = self._cursor()
        try:
            # the quarter before first: kept from the previous call when quarters are read in order
            prev = self._wide(cur, previous, as_of) if previous is not None else None
            wide = self._wide(cur, period, as_of)
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
                extra = wide.loc[~member(wide["firm_id"], units["firm_id"])]
                if len(extra):
                    warnings.warn(
                        f"{len(extra)} firms have values for {period} but are not in its register "
                        f"snapshot (e.g. {extra['firm_id'].iloc[0]}); they are kept with missing "
                        "register columns",
                        SurveyWarning,
                        stacklevel=3,
                    )
                wide = units.merge(wide, on="firm_id", how="outer", sort=True)
                for var in self.indicators:
                    wide[f"{var}_marker"] = wide[f"{var}_marker"].fillna("missing")
        conversion = ytd_to_quarters(
            wide, prev, variables=self.indicators, stocks=form.stocks, id="firm_id",
            ytd_suffix=form.ytd_suffix, last_year_suffix=form.last_year_suffix,
        )
        out = conversion.frame
        out = pd.concat([out, pd.DataFrame(previous_values(out, prev, {
            form.previous(var): form.ytd(var) for var in self.indicators}), index=out.index)],
            axis=1)
        decreases = conversion.problems["problem"].eq("cumulative_decrease").sum()
        if decreases:
            warnings.warn(
                f"{decreases} year-to-date values of {period} are below the previous quarter's "
                "(negative quarters); run survey.returns.rules.check to list them by firm",
                SurveyWarning,
                stacklevel=3,
            )
        out.insert(1, form.period, period)
        if form.id != "firm_id":
            out = out.rename(columns={"firm_id": form.id})
        return out.reset_index(drop=True)
