"""The :class:`Ledger` class: opening the file, and every public method with its documentation.

Part of :mod:`survey.returns.ledger` (see its docstring for the tables). The long
bodies live with what they do: the register snapshots in ``snapshots.py``, ingest
and its checks in ``ingest.py``, revisions in ``revisions.py``, reading out in
``views.py``, published estimates in ``published.py``; ``connection.py`` holds the
schema and the plumbing they share.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import duckdb
import pandas as pd

from survey.engine import Engine
from survey.form import Form
from survey.returns.ledger.connection import (
    SCHEMA,
    LedgerConnection,
    check_form,
    database_errors,
    history_view,
    kept_reads,
    open_error,
    writes,
)
from survey.returns.ledger.ingest import IngestReport, LedgerIngest
from survey.returns.ledger.published import LedgerPublished
from survey.returns.ledger.revisions import LedgerRevisions, RevisionReport
from survey.returns.ledger.snapshots import LedgerSnapshots
from survey.returns.ledger.views import LedgerViews
from survey.returns.sql import QuarterRelation, configure_ledger

__all__: list[str] = []  # parts of survey.returns.ledger (its __init__ exports the user API)


@database_errors
class Ledger(LedgerConnection, LedgerSnapshots, LedgerIngest, LedgerRevisions, LedgerViews,
             LedgerPublished):
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
        self.form = check_form(form)
        self.indicators = self.form.indicators
        self._write_lock = threading.RLock()
        kept = kept_reads(self.path)  # shared by the ledgers of this file (connection.py)
        self._wide_frames: dict = kept["wide"]  # quarters read by to_frame (views.py)
        self._snapshots: dict = kept["snapshots"]  # register snapshots read (snapshots.py)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise open_error(self.path, exc) from exc
        try:
            # memory limit, temp folder and threads of the engine (never DuckDB's 80%-of-RAM default)
            self.engine = configure_ledger(self._con, engine)
            self._sql_ingest = engine is not None
            if not read_only:
                self._con.execute(SCHEMA + history_view(self.form))
            for table in ("files", "transactions", "returns"):  # read the catalogue: a damaged
                self._con.execute(f"SELECT count(*) FROM {table}").fetchall()  # file fails here
        except duckdb.Error as exc:
            self._con.close()
            raise open_error(self.path, exc) from exc

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

    @property
    def items(self) -> tuple[str, ...]:
        """The item names accepted in returns (``{var}_ytd``, ``{var}_ytd_last_year``)."""
        return self.form.items

    # -- register snapshots --------------------------------------------------
    @writes
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
        return self._register_units(units, period, author=author, reason=reason)

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

    # -- ingest --------------------------------------------------------------
    @writes
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
        return self._ingest(source, period, channel, money_unit=money_unit, author=author,
                            errors=errors, allow_same_content=allow_same_content)

    # -- revisions -----------------------------------------------------------
    @writes
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
        return self._revise(values, period, author=author, reason=reason, marker=marker)

    # -- reading ---------------------------------------------------------------
    def current(self, period: str, *, as_of: Any = None,
                markers: Sequence[str] | None = None) -> pd.DataFrame:
        """Current (or as-of) value of every cell of a period, in long form.

        Parameters
        ----------
        period : str
        as_of : int, datetime, str or None, default=None
            Transaction number, or UTC time (naive datetimes are UTC), up to
            which revisions count; ``None`` for the latest state.
        markers : sequence of str or None, default=None
            Only the cells whose current marker is one of these (e.g. the
            imputed ones); ``None``: every cell.

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
        return self._current(period, as_of, markers)

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
        return self._history(firm_id, period)

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
        return self._quarter_relation(period, as_of, register)

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
        return self._to_frame(period, as_of, register)

    # -- published estimates (append-only) ----------------------------------
    @writes
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
        return self._record_published(estimates, published_period=published_period,
                                      author=author)

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
        return self._revision_table(period)
