"""The quarter view of the ledger as a query (:func:`quarter_sql`, :class:`QuarterRelation`).

Part of :mod:`survey.returns.sql` (see its docstring and ``docs/scale.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from survey.engine import Engine
from survey.periods import normalise_quarter
from survey.periods import previous_quarter as quarter_before

if TYPE_CHECKING:  # pragma: no cover
    from survey.returns.ledger import Ledger
from survey.engine import quote_identifier, sql_literal

__all__ = ['QuarterRelation', 'item_markers_sql', 'quarter_sql']

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
        return clause.replace("?", f"TIMESTAMP {sql_literal(value.isoformat(sep=' '))}")
    return clause.replace("?", str(int(value)))


def _wide_sql(ledger: "Ledger", period: str, clause: str) -> str:
    form = ledger.form
    selects = [
        f"arg_max(value, revision) FILTER (WHERE item = {sql_literal(item)}) AS {quote_identifier(item)}"
        for item in ledger.items
    ]
    selects += [
        f"arg_max(marker, revision) FILTER (WHERE item = {sql_literal(form.ytd(var))})::VARCHAR "
        f"AS {quote_identifier(var + '_marker')}"
        for var in ledger.indicators
    ]
    return (f"SELECT firm_id, {', '.join(selects)} FROM returns "
            f"WHERE period = {sql_literal(period)}{clause} GROUP BY firm_id")


def item_markers_sql(period: str, items: dict[str, str]) -> str:
    """SQL of the latest marker of chosen ledger items per firm of one period.

    The quarter view (:func:`quarter_sql`) carries the marker of each
    indicator's year-to-date item only (``{var}_marker``); the ledger stores a
    marker for every item, so the marker of e.g. ``{var}_ytd_last_year``
    (``"returned"``, ``"edited"``) is read here, from the ledger's ``returns``
    table (latest revision). Firms without a row for the item get ``NULL``.

    Parameters
    ----------
    period : str
        Quarter label (``"2018Q2"``).
    items : dict of str to str
        Ledger item (e.g. ``"revenue_ytd_last_year"``) to output column name
        (e.g. ``"revenue_last_year_marker"``).

    Returns
    -------
    str
        ``SELECT firm_id, <columns> FROM returns WHERE period = ... GROUP BY firm_id``
        (run it on the ledger's connection).

    Examples
    --------
    >>> print(item_markers_sql("2018Q2", {"revenue_ytd_last_year": "m"}))  # doctest: +NORMALIZE_WHITESPACE
    SELECT firm_id, arg_max(marker, revision) FILTER (WHERE item = 'revenue_ytd_last_year')::VARCHAR
    AS "m" FROM returns WHERE period = '2018Q2' GROUP BY firm_id
    """
    if not items:
        from survey.errors import LedgerError

        raise LedgerError("item_markers_sql: give at least one item")
    period = normalise_quarter(period)
    cols = ", ".join(
        f"arg_max(marker, revision) FILTER (WHERE item = {sql_literal(item)})::VARCHAR "
        f"AS {quote_identifier(name)}" for item, name in items.items())
    return (f"SELECT firm_id, {cols} FROM returns WHERE period = {sql_literal(period)} "
            "GROUP BY firm_id")


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
              f"{quote_identifier(form.id)}", f"{sql_literal(period)} AS {quote_identifier(form.period)}"]
    for c in unit_cols:
        out = f"{c}_register" if c in derived else c
        select.append(f"u.{quote_identifier(c)} AS {quote_identifier(out)}")
    stocks = set(form.stocks)
    # to_frame's column order: items, markers, then the quarters, then the previous values
    items, markers, quarters, previous_cols = [], [], [], []
    for item in ledger.items:
        items.append(f"c.{quote_identifier(item)} AS {quote_identifier(item)}")
    for var in ledger.indicators:
        markers.append(f"coalesce(c.{quote_identifier(var + '_marker')}, 'missing') AS {quote_identifier(var + '_marker')}")
        for item, target in ((form.ytd(var), var), (form.last_year(var), f"{var}_last_year")):
            if var in stocks or previous is None:
                quarters.append(f"c.{quote_identifier(item)} AS {quote_identifier(target)}")
            else:
                quarters.append(f"c.{quote_identifier(item)} - p.{quote_identifier(item)} AS {quote_identifier(target)}")
        prev_value = f"p.{quote_identifier(form.ytd(var))}" if previous is not None else "CAST(NULL AS DOUBLE)"
        previous_cols.append(f"{prev_value} AS {quote_identifier(form.previous(var))}")
    select += items + markers + quarters + previous_cols
    if has_units:
        ctes.append(f"u AS (SELECT * EXCLUDE (period) FROM units WHERE period = {sql_literal(period)})")
        source = "u FULL OUTER JOIN cur c ON u.firm_id = c.firm_id"
        key = "coalesce(u.firm_id, c.firm_id)"
    else:
        source = "cur c"
        key = "c.firm_id"
    if previous is not None:
        source += f" LEFT JOIN prev p ON p.firm_id = {key}"
    return (f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM {source} "
            f"ORDER BY {quote_identifier(form.id)}")


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
        self.engine.session().execute(f"COPY ({self.sql}) TO {sql_literal(path)} (FORMAT PARQUET)")
        return path
