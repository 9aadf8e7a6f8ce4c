"""The protected table: the published table with its flags, the audit and the summary.

Part of :mod:`survey.publish.disclosure` (see its docstring and ``docs/disclosure.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from survey.errors import ColumnError, DisclosureError
from survey.estimation.results import Result, Summary
from survey.publish.disclosure.rules import LEGEND, DisclosureRules

__all__ = ['ProtectedTable']

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class ProtectedTable(Result):
    """A magnitude table with its suppression pattern and audit.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per cell, margins included: the row and column key columns
        (margins carry the total label), ``row_level`` and ``column_level``
        (0 = total), ``firms``, ``contributors``, ``value``, ``largest``,
        ``second_largest``, ``rule`` (which primary rules failed, ``""`` if
        none), ``upper_protection``, ``lower_protection`` (required), and
        ``status`` in {"published", "primary", "secondary", "empty"}.
    audit : pandas.DataFrame
        One row per suppressed cell: ``cell`` (row position in ``cells``),
        ``status``, ``value``, ``lower``, ``upper`` (the interval an outsider
        can compute, by linear programming), ``upper_protection``,
        ``lower_protection``, ``protected``; for primary cells also
        ``singleton_lower``, ``singleton_upper`` (the interval when every
        other single-firm suppressed cell is known too) and
        ``protected_from_singletons`` (no single firm that alone makes up a
        suppressed cell can narrow the cell below its protection).
    rules : DisclosureRules
    rows, columns : tuple of str
        The key columns of the table (outer level first).
    value_name : str
        The magnitude variable.
    constraints : scipy.sparse.csr_matrix
        The additive structure: ``constraints @ cells["value"] == 0``.
    linear_programs : int
        Number of linear programmes solved (secondary + audit).
    """

    cells: pd.DataFrame
    audit: pd.DataFrame
    rules: DisclosureRules
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    value_name: str
    constraints: Any = field(repr=False)
    linear_programs: int = 0
    total_label: str = "Total"
    _row_order: np.ndarray = field(repr=False, default=None)
    _column_order: np.ndarray = field(repr=False, default=None)
    owners: Any = field(repr=False, default=None)  # sole contributors (the singleton attack)

    @property
    def suppressed(self) -> np.ndarray:
        """Boolean mask over ``cells``: primary or secondary suppression."""
        status = self.cells["status"].to_numpy()
        return (status == "primary") | (status == "secondary")

    def table(self, *, symbol: str = "x", empty: str = "-") -> pd.DataFrame:
        """The table as it may be published: suppressed cells shown as ``symbol``.

        Parameters
        ----------
        symbol : str, default="x"
            Shown in place of a suppressed (primary or secondary) cell; the
            two kinds are not distinguished, which would itself disclose.
        empty : str, default="-"
            Shown for a cell without enterprises.

        Returns
        -------
        pandas.DataFrame
            Rows and columns in hierarchical order (total first, each parent
            before its children); values are floats or the symbols.

        Examples
        --------
        >>> from survey.publish.disclosure import protect_table
        >>> df = pd.DataFrame({"county": ["A"] * 4 + ["B"] * 4,
        ...                    "value": [10.0, 11, 12, 13, 50, 1, 1, 1]})
        >>> pt = protect_table(df, "value", rows="county")
        >>> pt.table()
               value
        county
        Total   99.0
        A          x
        B          x
        """
        cells = self.cells
        shown = cells["value"].astype(object).to_numpy().copy()
        status = cells["status"].to_numpy()
        shown[(status == "primary") | (status == "secondary")] = symbol
        shown[status == "empty"] = empty
        n_r = len(self._row_order)
        n_c = len(self._column_order)
        grid = shown.reshape(n_r, n_c)[np.ix_(self._row_order, self._column_order)]
        row_keys = cells.loc[:, list(self.rows)].to_numpy().reshape(n_r, n_c, -1)[:, 0, :]
        row_keys = row_keys[self._row_order]
        if self.columns:
            col_keys = cells.loc[:, list(self.columns)].to_numpy().reshape(n_r, n_c, -1)[0, :, :]
            col_keys = col_keys[self._column_order]
            if len(self.columns) == 1:
                col_index = pd.Index(col_keys[:, 0], name=self.columns[0])
            else:
                col_index = pd.MultiIndex.from_arrays(col_keys.T, names=list(self.columns))
        else:
            col_index = pd.Index([self.value_name])
        if len(self.rows) == 1:
            row_index = pd.Index(row_keys[:, 0], name=self.rows[0])
        else:
            row_index = pd.MultiIndex.from_arrays(row_keys.T, names=list(self.rows))
        return pd.DataFrame(grid, index=row_index, columns=col_index, dtype=object)

    def flags(self) -> pd.DataFrame:
        """Key columns, ``value`` and a boolean ``suppressed`` column, one row per cell.

        Merge it on the key columns into an estimates table to mark its cells
        (the bulletin's tables take a ``suppressed`` column).

        Examples
        --------
        >>> from survey.publish.disclosure import protect_table
        >>> df = pd.DataFrame({"county": ["A"] * 4 + ["B"] * 4,
        ...                    "value": [10.0, 11, 12, 13, 50, 1, 1, 1]})
        >>> protect_table(df, "value", rows="county").flags()
          county  value  suppressed
        0  Total   99.0       False
        1      A   46.0        True
        2      B   53.0        True
        """
        keys = list(self.rows) + list(self.columns)
        out = self.cells.loc[:, keys + ["value"]].copy()
        out["suppressed"] = self.suppressed
        return out

    def suppressed_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether each row of another table (e.g. estimates) falls on a suppressed cell.

        Parameters
        ----------
        frame : pandas.DataFrame
            Has the table's key columns (``rows`` and ``columns``); a missing
            key or the total label means the margin. Other columns are ignored.

        Returns
        -------
        numpy.ndarray of bool
            One entry per row of ``frame``, in its order (the ``suppressed``
            argument of the bulletin's tables).

        Examples
        --------
        >>> from survey.publish.disclosure import protect_table
        >>> df = pd.DataFrame({"county": ["A"] * 4 + ["B"] * 4,
        ...                    "value": [10.0, 11, 12, 13, 50, 1, 1, 1]})
        >>> pt = protect_table(df, "value", rows="county")
        >>> estimates = pd.DataFrame({"county": ["B", "A", None], "estimate": [53.0, 46, 99]})
        >>> pt.suppressed_rows(estimates).tolist()
        [True, True, False]
        """
        keys = list(self.rows) + list(self.columns)
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ColumnError(f"the table to mark has no key column(s) {missing}")
        left = [frame[k].astype(object).where(frame[k].notna(), self.total_label).astype(str)
                for k in keys]
        probe = left[0] if len(keys) == 1 else pd.MultiIndex.from_arrays(left)
        position = self._cell_keys.get_indexer(probe)
        unknown = position < 0
        if unknown.any():
            i = int(np.argmax(unknown))
            cell = {k: column.iloc[i] for k, column in zip(keys, left)}
            raise DisclosureError(
                f"row {frame.index[i]!r} of the table to mark ({cell}) is not a "
                "cell of the protected table; protect the table with the same classification"
            )
        return self.suppressed[position]

    @functools.cached_property
    def _cell_keys(self) -> pd.Index:
        """The key columns of ``cells`` as text, one entry per cell (built once per table:
        the bulletin marks several estimates tables with the same protected table)."""
        keys = [self.cells[k].astype(str) for k in (*self.rows, *self.columns)]
        return pd.Index(keys[0]) if len(keys) == 1 else pd.MultiIndex.from_arrays(keys)

    def legend(self, *, language: Literal["zh", "en"] = "en", symbol: str = "x",
               empty: str = "-") -> str:
        """The legend that goes under the published table.

        Examples
        --------
        >>> from survey.publish.disclosure import protect_table
        >>> df = pd.DataFrame({"county": ["A"] * 3, "value": [1.0, 2, 3]})
        >>> print(protect_table(df, "value", rows="county").legend(language="zh"))
        x 为保护单个企业的商业秘密，不予公布；- 无企业
        """
        if language not in LEGEND:
            raise DisclosureError(f"language must be 'zh' or 'en', got {language!r}")
        words = LEGEND[language]
        sep = "；" if language == "zh" else "; "
        return f"{symbol} {words['suppressed']}{sep}{empty} {words['empty']}"

    def summary(self) -> Summary:
        """One line: cells, primary and secondary suppressions, audit result (text and HTML).

        Examples
        --------
        >>> from survey.publish.disclosure import protect_table
        >>> df = pd.DataFrame({"county": ["A"] * 3, "value": [1.0, 2, 3]})
        >>> print(protect_table(df, "value", rows="county").summary())
        value: 2 cells, 0 primary, 0 secondary suppressions; audit: all protected
        """
        status = self.cells["status"]
        n_primary = int((status == "primary").sum())
        n_secondary = int((status == "secondary").sum())
        outsider = int((~self.audit["protected"]).sum())
        singleton = int((~self.audit["protected_from_singletons"]).sum())
        if outsider:
            verdict = f"{outsider} cells NOT protected"
        elif singleton:
            verdict = f"protected from outsiders; {singleton} cells exposed to single firms"
        else:
            verdict = "all protected"
        return Summary(
            f"{self.value_name}: {len(self.cells)} cells, {n_primary} primary, "
            f"{n_secondary} secondary suppressions; audit: {verdict}"
        )

    def __str__(self) -> str:
        return str(self.summary())
