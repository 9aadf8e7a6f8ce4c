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
  and rejection rows, the same values written (``ingest.py``);
* :func:`quarter_sql` / :class:`QuarterRelation` are
  :meth:`Ledger.to_frame <survey.returns.ledger.Ledger.to_frame>` as a query:
  :func:`survey.estimation.outofcore.scan` accepts the relation directly;
  :func:`item_markers_sql` reads the markers of other items (e.g. last year's
  values) that the quarter view does not carry (``quarter.py``);
* :func:`rule_sql`, :func:`check_sql` evaluate the edit rules of
  :mod:`survey.returns.rules` as SQL ``WHERE`` expressions (``rules.py``);
* :func:`ratio_links_sql` and :func:`ratio_impute_sql` compute the ONS
  ratio-of-means links and imputed values with joins and group sums, forward,
  backward (:func:`backward_chain_sql`) and by construction, within cumulative
  bounds; :func:`impute_ratio_panel` a whole panel (``impute.py``);
  the SQL text helpers (``sql_literal``, ``quote_identifier``) are
  :mod:`survey.engine`'s, shared with the register and the national chain.

See ``docs/scale.md``.
"""

from __future__ import annotations

from survey.returns.sql.impute import (
    backward_chain_sql,
    impute_ratio,
    impute_ratio_panel,
    ratio_impute_sql,
    ratio_links_sql,
)
from survey.returns.sql.ingest import (
    SQL_SOURCES,
    configure_ledger,
    ingest_file,
    is_sql_source,
)
from survey.returns.sql.quarter import QuarterRelation, item_markers_sql, quarter_sql
from survey.returns.sql.rules import check_sql, rule_sql

__all__ = [
    "SQL_SOURCES",
    "QuarterRelation",
    "backward_chain_sql",
    "check_sql",
    "configure_ledger",
    "impute_ratio",
    "impute_ratio_panel",
    "ingest_file",
    "is_sql_source",
    "item_markers_sql",
    "quarter_sql",
    "ratio_impute_sql",
    "ratio_links_sql",
    "rule_sql",
]
