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

The package's modules (``from survey.returns.ledger import Ledger`` is the way in):

* ``core.py``: the :class:`Ledger` class (opening the file; every public method
  and its documentation);
* ``connection.py``: the schema, the ``history`` view, value markers and money
  units, connection errors and the plumbing shared by the parts below;
* ``snapshots.py``: register snapshots (:meth:`Ledger.register_units`);
* ``ingest.py``: :class:`IngestReport`, reading a file and its checks, the write
  transaction (:meth:`Ledger.ingest`);
* ``revisions.py``: :class:`RevisionReport`, corrections and imputed values as new
  revisions (:meth:`Ledger.revise`);
* ``views.py``: reading out (:meth:`Ledger.current`, :meth:`Ledger.history`,
  :meth:`Ledger.quarter_relation`, :meth:`Ledger.to_frame`);
* ``published.py``: published estimates (:meth:`Ledger.record_published`,
  :meth:`Ledger.published`, :meth:`Ledger.revisions`).

The SQL text of the engine path (Parquet and CSV ingest, the quarter view) is in
:mod:`survey.returns.sql`.
"""

from __future__ import annotations

from survey.returns.ledger.connection import MARKERS, MONEY_UNITS
from survey.returns.ledger.core import Ledger
from survey.returns.ledger.ingest import IngestReport
from survey.returns.ledger.revisions import RevisionReport

__all__ = [
    "MARKERS",
    "MONEY_UNITS",
    "IngestReport",
    "Ledger",
    "RevisionReport",
]
