"""Disclosure control for magnitude tables: primary and secondary cell suppression.

A published table of totals (gross output by county x industry, export delivery
by zone) must not let anyone work out one firm's figure. This module takes the
unit-level data behind a table and

1. tabulates it, with every margin of a (hierarchical) one- or two-way table:
   the number of firms and of *contributors* (firms of one enterprise group
   count as one contributor), the total, and the largest contributions;
2. applies the **primary** rules (minimum frequency, (n,k) dominance, p%) with
   vectorised group sorts and computes for each sensitive cell the protection
   it needs (how far an outsider's interval for the cell must reach above and
   below the true value);
3. chooses **secondary** suppressions by linear programming (HiGHS through
   :func:`scipy.optimize.linprog`): for each sensitive cell and each direction
   it finds the cheapest set of cells whose suppression lets the cell move by
   its protection while every published cell and every additivity equation of
   the table stays true; the union of these sets protects every cell, because
   suppressing more cells only widens what an outsider cannot pin down; a
   firm that alone makes up a suppressed cell knows that cell, so it gets
   its own solution in which its cell stays fixed; a clean-up then publishes
   again the secondary cells no sensitive cell needs;
4. **audits** the result: for every suppressed cell it solves the two linear
   programmes an outsider would solve (minimum and maximum of the cell given
   the published cells, the additive structure and non-negativity) and checks
   that the interval reaches the required protection (also against each
   single-firm cell's owner); a cell that fails is
   fed back to step 3 (verification loop) and an unprotectable table raises
   :class:`~survey.errors.DisclosureError`.

See ``docs/disclosure.md`` for the rules, the formulas of the protection
levels and worked examples.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from survey.errors import ColumnError, DisclosureError, SurveyWarning
from survey.estimation.results import Result, Summary

__all__ = ["DisclosureRules", "ProtectedTable", "protect_table", "audit_suppression"]

_MIN_PROTECTION = 0.01  # least protection of a sensitive cell, as a share of its value
_LEGEND = {
    "en": {
        "suppressed": "suppressed to protect the confidentiality of individual enterprises",
        "empty": "no enterprise in this cell",
        "total": "Total",
    },
    "zh": {
        "suppressed": "为保护单个企业的商业秘密，不予公布",
        "empty": "无企业",
        "total": "合计",
    },
}


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DisclosureRules:
    """Primary suppression rules for a magnitude table.

    Parameters
    ----------
    min_frequency : int, default=3
        A non-empty cell with fewer contributors than this is sensitive
        (``0`` or ``1`` switches the rule off).
    p_percent : float or None, default=10.0
        The p% rule: a cell is sensitive when the second-largest contributor
        can estimate the largest one to within ``p`` percent, that is when
        ``total - x1 - x2 < p/100 * x1``. ``None`` switches it off.
    dominance : tuple of (n, k) pairs, default=()
        The (n,k) dominance rules: a cell is sensitive when its ``n`` largest
        contributors hold more than ``k`` percent of the total. One pair
        ``(2, 85)`` or several ``((1, 60), (2, 85))``.
    frequency_range : float, default=20.0
        Protection (percent of the cell total) required for a cell that fails
        the frequency rule. Cells failing the p% or dominance rule get the
        protection the rule itself implies (``docs/disclosure.md``); a cell
        failing several rules gets the largest. A sensitive cell of total zero
        gets this percentage of the median positive cell.

    Examples
    --------
    >>> rules = DisclosureRules(min_frequency=3, p_percent=15, dominance=(2, 85))
    >>> rules.dominance
    ((2, 85.0),)
    """

    min_frequency: int = 3
    p_percent: float | None = 10.0
    dominance: tuple[tuple[int, float], ...] | tuple[int, float] = ()
    frequency_range: float = 20.0

    def __post_init__(self) -> None:
        if not isinstance(self.min_frequency, (int, np.integer)) or self.min_frequency < 0:
            raise DisclosureError(
                f"min_frequency must be a non-negative integer, got {self.min_frequency!r}"
            )
        if self.p_percent is not None and not (0 < float(self.p_percent) < 100):
            raise DisclosureError(
                f"p_percent must be in (0, 100) or None, got {self.p_percent!r}"
            )
        dom = self.dominance
        if dom is None:
            dom = ()
        if len(dom) == 2 and not isinstance(dom[0], (tuple, list)):
            dom = (tuple(dom),)
        pairs = []
        for i, pair in enumerate(dom):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise DisclosureError(
                    f"dominance[{i}] must be a pair (n, k), got {pair!r}; "
                    "write dominance=(2, 85) or dominance=((1, 60), (2, 85))"
                )
            n, k = pair
            if int(n) != n or n < 1 or not (0 < float(k) < 100):
                raise DisclosureError(
                    f"dominance[{i}] = {pair!r}: n must be a positive integer and "
                    "k a percentage in (0, 100)"
                )
            pairs.append((int(n), float(k)))
        object.__setattr__(self, "dominance", tuple(pairs))
        if not (0 <= float(self.frequency_range) < 100):
            raise DisclosureError(
                f"frequency_range must be a percentage in [0, 100), got {self.frequency_range!r}"
            )


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
    _owners: Any = field(repr=False, default=None)

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
        left = pd.DataFrame({
            k: frame[k].astype(object).where(frame[k].notna(), self.total_label).astype(str)
            for k in keys
        })
        flags = self.flags()
        right = flags[keys].astype(str).assign(_suppressed=flags["suppressed"].to_numpy())
        merged = left.merge(right, on=keys, how="left", sort=False)
        unknown = merged["_suppressed"].isna().to_numpy()
        if unknown.any():
            i = int(np.argmax(unknown))
            raise DisclosureError(
                f"row {frame.index[i]!r} of the table to mark ({dict(left.iloc[i])}) is not a "
                "cell of the protected table; protect the table with the same classification"
            )
        return merged["_suppressed"].to_numpy(dtype=bool)

    def legend(self, *, language: Literal["zh", "en"] = "en", symbol: str = "x",
               empty: str = "-") -> str:
        """The legend that goes under the published table.

        Examples
        --------
        >>> df = pd.DataFrame({"county": ["A"] * 3, "value": [1.0, 2, 3]})
        >>> print(protect_table(df, "value", rows="county").legend(language="zh"))
        x 为保护单个企业的商业秘密，不予公布；- 无企业
        """
        if language not in _LEGEND:
            raise DisclosureError(f"language must be 'zh' or 'en', got {language!r}")
        words = _LEGEND[language]
        sep = "；" if language == "zh" else "; "
        return f"{symbol} {words['suppressed']}{sep}{empty} {words['empty']}"

    def summary(self) -> Summary:
        """One line: cells, primary and secondary suppressions, audit result (text and HTML).

        Examples
        --------
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


# ---------------------------------------------------------------------------
# Tabulation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class _Dimension:
    unit_nodes: np.ndarray  # (n_units, depth + 1) node id at each level
    labels: np.ndarray  # (n_nodes, depth) object labels (total label below a node's level)
    level: np.ndarray  # (n_nodes,)
    parent: np.ndarray  # (n_nodes,) -1 for the root
    order: np.ndarray  # display order (depth first)


def _names(arg: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if arg is None:
        return ()
    if isinstance(arg, str):
        return (arg,)
    names = tuple(arg)
    if not all(isinstance(a, str) for a in names):
        raise DisclosureError(f"{what} must be a column name or a list of column names, got {arg!r}")
    return names


def _dimension(data: pd.DataFrame, names: tuple[str, ...], total_label: str) -> _Dimension:
    n = len(data)
    depth = len(names)
    unit_nodes = np.zeros((n, depth + 1), dtype=np.int64)
    labels = [np.full((1, depth), total_label, dtype=object)]
    level = [np.zeros(1, dtype=np.int64)]
    parent = [np.full(1, -1, dtype=np.int64)]
    path = [np.full((1, depth), -1, dtype=np.int64)]  # within-level codes of the ancestors
    offset = 1
    prev_path_of_unit = np.full((n, depth), -1, dtype=np.int64)
    for d in range(1, depth + 1):
        gb = data.groupby(list(names[:d]), sort=True, observed=True)
        codes = gb.ngroup().to_numpy().astype(np.int64)
        keys = gb.size().index
        k = len(keys)
        unit_nodes[:, d] = offset + codes
        par = np.empty(k, dtype=np.int64)
        par[codes] = unit_nodes[:, d - 1]
        if isinstance(keys, pd.MultiIndex):
            key_frame = keys.to_frame(index=False)
        else:
            key_frame = pd.DataFrame({names[0]: keys})
        lab = np.full((k, depth), total_label, dtype=object)
        lab[:, :d] = key_frame.astype(str).to_numpy(dtype=object)
        this_path = np.full((k, depth), -1, dtype=np.int64)
        prev_path_of_unit[:, d - 1] = codes
        this_path[codes] = prev_path_of_unit
        labels.append(lab)
        level.append(np.full(k, d, dtype=np.int64))
        parent.append(par)
        path.append(this_path)
        offset += k
    all_path = np.vstack(path)
    order = np.lexsort(all_path.T[::-1]) if depth else np.zeros(1, dtype=np.int64)
    return _Dimension(
        unit_nodes=unit_nodes,
        labels=np.vstack(labels),
        level=np.concatenate(level),
        parent=np.concatenate(parent),
        order=order,
    )


def _structure(row: _Dimension, col: _Dimension) -> sp.csr_matrix:
    """Equations parent = sum of children along rows and along columns."""
    n_r, n_c = len(row.level), len(col.level)
    blocks_i, blocks_j, blocks_v = [], [], []
    n_eq = 0
    # rows: for each parent row node p (non-leaf) and column node c: x(p,c) - sum x(q,c) = 0
    for dim_parent, other, is_row in ((row.parent, n_c, True), (col.parent, n_r, False)):
        child = np.flatnonzero(dim_parent >= 0)
        if child.size == 0:
            continue
        parents = np.unique(dim_parent[child])
        eq_of = np.full(len(dim_parent), -1, dtype=np.int64)
        eq_of[parents] = np.arange(parents.size)
        other_nodes = np.arange(other)
        # +1 for the parent cells
        p_rep = np.repeat(parents, other)
        o_tile = np.tile(other_nodes, parents.size)
        eq_parent = n_eq + eq_of[p_rep] * other + o_tile
        # -1 for the children
        c_rep = np.repeat(child, other)
        o_tile_c = np.tile(other_nodes, child.size)
        eq_child = n_eq + eq_of[dim_parent[c_rep]] * other + o_tile_c
        if is_row:
            cell_parent = p_rep * n_c + o_tile
            cell_child = c_rep * n_c + o_tile_c
        else:
            cell_parent = o_tile * n_c + p_rep
            cell_child = o_tile_c * n_c + c_rep
        blocks_i += [eq_parent, eq_child]
        blocks_j += [cell_parent, cell_child]
        blocks_v += [np.ones(eq_parent.size), -np.ones(eq_child.size)]
        n_eq += parents.size * other
    if n_eq == 0:
        return sp.csr_matrix((0, n_r * n_c))
    return sp.csr_matrix(
        (np.concatenate(blocks_v), (np.concatenate(blocks_i), np.concatenate(blocks_j))),
        shape=(n_eq, n_r * n_c),
    )


def _column(data: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in data.columns:
        raise ColumnError(
            f"{what} column {name!r} is not in the data; columns are: {list(data.columns)[:20]}"
        )
    return data[name]


# ---------------------------------------------------------------------------
# Linear programmes
# ---------------------------------------------------------------------------


def _highs_module() -> Any:
    """HiGHS bindings: ``highspy`` if installed, else the copy inside SciPy, else None."""
    try:  # pragma: no cover - depends on the environment
        import highspy

        return highspy, highspy.Highs
    except ImportError:
        pass
    try:
        import scipy.optimize._highspy._core as core

        return core, core._Highs
    except (ImportError, AttributeError):  # pragma: no cover - old SciPy
        return None, None


class _LinearProgram:
    """min c'x s.t. A x = b, lower <= x <= upper, solved repeatedly with HiGHS.

    The model is passed once; costs and column bounds change between solves
    and HiGHS restarts the simplex from the previous basis (hot start), which
    makes the hundreds of small solves of a suppression run cheap. Without the
    HiGHS bindings it falls back to :func:`scipy.optimize.linprog` (same
    solver, one model per solve).
    """

    def __init__(self, A: sp.spmatrix, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 *, use_bindings: bool = True, primal: bool = True) -> None:
        self.A = sp.csc_matrix(A)
        self.b = np.asarray(b, dtype=float)
        self.lower = np.asarray(lower, dtype=float).copy()
        self.upper = np.asarray(upper, dtype=float).copy()
        self.cost = np.zeros(self.A.shape[1])
        self.solves = 0
        module, highs_class = _highs_module() if use_bindings else (None, None)
        self._h = None
        if highs_class is not None:
            h = highs_class()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("presolve", "off")
            h.setOptionValue("primal_feasibility_tolerance", 1e-9)
            h.setOptionValue("dual_feasibility_tolerance", 1e-9)
            # costs change between audit solves (primal simplex keeps feasibility);
            # bounds change between secondary solves (dual simplex keeps optimality)
            h.setOptionValue("simplex_strategy", 4 if primal else 1)
            lp = module.HighsLp()
            n_row, n_col = self.A.shape
            lp.num_col_ = n_col
            lp.num_row_ = n_row
            lp.col_cost_ = self.cost
            lp.col_lower_ = self.lower
            lp.col_upper_ = np.where(np.isinf(self.upper), module.kHighsInf, self.upper)
            lp.row_lower_ = self.b
            lp.row_upper_ = self.b
            lp.a_matrix_.format_ = module.MatrixFormat.kColwise
            lp.a_matrix_.num_col_ = n_col
            lp.a_matrix_.num_row_ = n_row
            lp.a_matrix_.start_ = self.A.indptr.astype(np.int32)
            lp.a_matrix_.index_ = self.A.indices.astype(np.int32)
            lp.a_matrix_.value_ = self.A.data.astype(float)
            h.passModel(lp)
            self._h = h
            self._status = module.HighsModelStatus
            self._inf = module.kHighsInf

    def set_cost(self, index: np.ndarray, values: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int32)
        values = np.asarray(values, dtype=float)
        if index.size == 0:
            return
        self.cost[index] = values
        if self._h is not None:
            self._h.changeColsCost(index.size, index, values)

    def set_bounds(self, index: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int32)
        lower = np.asarray(lower, dtype=float)
        upper = np.asarray(upper, dtype=float)
        self.lower[index] = lower
        self.upper[index] = upper
        if self._h is not None:
            self._h.changeColsBounds(index.size, index, lower,
                                     np.where(np.isinf(upper), self._inf, upper))

    def solve(self) -> tuple[str, np.ndarray | None]:
        """Return ("optimal", x), ("unbounded", None) or ("failed: ...", None)."""
        self.solves += 1
        if self._h is not None:
            self._h.run()
            status = self._h.getModelStatus()
            if status == self._status.kOptimal:
                return "optimal", np.asarray(self._h.getSolution().col_value)
            if status in (self._status.kUnbounded, self._status.kUnboundedOrInfeasible):
                return "unbounded", None
            return f"failed: {self._h.modelStatusToString(status)}", None
        res = linprog(self.cost, A_eq=self.A if self.A.shape[0] else None,
                      b_eq=self.b if self.A.shape[0] else None,
                      bounds=np.column_stack([self.lower, self.upper]), method="highs")
        if res.status == 0:
            return "optimal", res.x
        if res.status == 3:
            return "unbounded", None
        return f"failed: {res.message}", None


@dataclass(frozen=True, kw_only=True, eq=False)
class _Owners:
    """Who could attack a cell from inside: the sole contributors of other cells.

    ``owner[c]`` is the contributor of a single-contributor cell ``c`` (-1
    otherwise); ``pairs`` the sorted keys ``cell * n_contributors +
    contributor`` of every (cell, contributor) pair.
    """

    owner: np.ndarray
    pairs: np.ndarray
    n_contributors: int

    def known(self, cell: int) -> np.ndarray:
        """Single-contributor cells whose owner does not contribute to ``cell``.

        Each of those firms knows its own cell exactly; together they are the
        singleton attackers of ``cell`` (its own contributors know it anyway).
        """
        single = np.flatnonzero(self.owner >= 0)
        single = single[single != cell]
        keys = cell * self.n_contributors + self.owner[single]
        at = np.searchsorted(self.pairs, keys)
        inside = (at < self.pairs.size) & (self.pairs[np.minimum(at, self.pairs.size - 1)] == keys)
        return single[~inside]


class _Outsider:
    """The outsider's linear programme for one suppression pattern.

    Variables are the suppressed cells (non-negative), constraints the table
    equations with the published cells moved to the right-hand side. One
    HiGHS model, re-solved with new objectives and bounds.
    """

    def __init__(self, A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray) -> None:
        sup = np.flatnonzero(suppressed)
        self.x = x
        self.suppressed = suppressed
        self.pos = np.full(x.size, -1, dtype=np.int64)
        self.pos[sup] = np.arange(sup.size)
        A_s = A[:, sup].tocsr()
        keep = np.diff(A_s.indptr) > 0
        pub = ~suppressed
        b = -(A[:, pub] @ x[pub])[keep]
        self.model = _LinearProgram(A_s[keep], b, np.zeros(sup.size), np.full(sup.size, np.inf))

    def interval(self, cell: int, known: np.ndarray | None = None) -> tuple[float, float]:
        """Min and max of ``cell``; the suppressed cells in ``known`` are known exactly."""
        model = self.model
        j = self.pos[cell]
        fixed = np.zeros(0, dtype=np.int64)
        if known is not None and known.size:
            known = known[self.suppressed[known]]
            fixed = self.pos[known]
            model.set_bounds(fixed, self.x[known], self.x[known])
        out = []
        for sign in (1.0, -1.0):
            model.set_cost([j], [sign])
            status, sol = model.solve()
            if status == "optimal":
                out.append(sol[j])
            elif status == "unbounded" and sign < 0:
                out.append(np.inf)
            else:
                raise DisclosureError(
                    f"audit linear programme failed for cell {cell} ({status}); "
                    "the published cells are inconsistent with the table structure"
                )
        model.set_cost([j], [0.0])
        if fixed.size:
            model.set_bounds(fixed, np.zeros(fixed.size), np.full(fixed.size, np.inf))
        return out[0], out[1]


def _interval(A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray,
              targets: np.ndarray, *, stop_below: tuple[np.ndarray, np.ndarray] | None = None,
              known: Any = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Outsider's min and max of each target cell given the published cells.

    ``A @ x == 0`` is the table structure, published cells are known, suppressed
    cells are non-negative unknowns. Returns lower, upper (inf if unbounded)
    for the target cells (indices into x) and the number of LPs solved. With
    ``stop_below=(up, down)`` (required protections of the targets) it stops
    at the first target that is not protected (the rest are left NaN). With
    ``known`` (a function of the target cell), those cells are known too.
    """
    outsider = _Outsider(A, x, suppressed)
    lower = np.full(targets.size, np.nan)
    upper = np.full(targets.size, np.nan)
    for t, cell in enumerate(targets):
        lower[t], upper[t] = outsider.interval(cell, None if known is None else known(cell))
        if stop_below is not None and not _protected(
                x[cell:cell + 1], lower[t:t + 1], upper[t:t + 1],
                stop_below[0][t:t + 1], stop_below[1][t:t + 1])[0]:
            break
    return lower, upper, outsider.model.solves


def _components(A: sp.csr_matrix, suppressed: np.ndarray) -> np.ndarray:
    """Connected component of each suppressed cell (linked through shared equations); -1 else."""
    sup = np.flatnonzero(suppressed)
    B = abs(A[:, sup]).tocsc()
    _, label = connected_components((B.T @ B).tocsr(), directed=False)
    out = np.full(suppressed.size, -1, dtype=np.int64)
    out[sup] = label
    return out


class _Deviation:
    """Sparse certificates on a suppression pattern.

    ``shift(cell, amount, fixed)`` looks for a table that agrees with every
    published cell and with the ``fixed`` suppressed cells, is non-negative,
    and has ``cell`` moved by ``amount`` (positive: up), with the least total
    change (so it moves few cells). Returns the mask of moved cells, or None
    when no such table exists (the cell cannot move that far).
    """

    def __init__(self, A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray) -> None:
        self.sup = np.flatnonzero(suppressed)
        self.x = x
        self.pos = np.full(x.size, -1, dtype=np.int64)
        self.pos[self.sup] = np.arange(self.sup.size)
        A_s = A[:, self.sup].tocsr()
        A_s = A_s[np.diff(A_s.indptr) > 0]
        k = self.sup.size
        self.k = k
        self.hi_minus = x[self.sup]
        self.model = _LinearProgram(sp.hstack([A_s, -A_s]), np.zeros(A_s.shape[0]),
                                    np.zeros(2 * k),
                                    np.concatenate([np.full(k, np.inf), self.hi_minus]),
                                    primal=False)
        self.model.set_cost(np.arange(2 * k), np.ones(2 * k))

    def shift(self, cell: int, amount: float, fixed: np.ndarray) -> np.ndarray | None:
        k, j = self.k, self.pos[cell]
        size = abs(amount)
        f = self.pos[fixed]
        plus_hi = np.full(k, np.inf)
        minus_hi = self.hi_minus / size
        plus_lo = np.zeros(k)
        minus_lo = np.zeros(k)
        plus_hi[f] = 0.0
        minus_hi[f] = 0.0
        if amount > 0:
            plus_lo[j] = plus_hi[j] = 1.0
            minus_hi[j] = 0.0
        else:
            minus_lo[j] = minus_hi[j] = 1.0
            plus_hi[j] = 0.0
        self.model.set_bounds(np.arange(2 * k), np.concatenate([plus_lo, minus_lo]),
                              np.concatenate([plus_hi, minus_hi]))
        status, sol = self.model.solve()
        if status != "optimal":
            return None
        moved = np.zeros(self.x.size, dtype=bool)
        moved[self.sup] = np.abs(sol[:k] - sol[k:]) > 1e-7
        return moved


def _singleton_check(A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray,
                     targets: np.ndarray, up: np.ndarray, down: np.ndarray, owners: _Owners,
                     *, stop: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Are the targets protected against every firm that alone makes up a suppressed cell?

    First the coalition of all those firms (every other single-contributor
    cell known at once). A target that fails it is checked against each such
    firm on its own (one firm knows one cell): in each direction a sparse
    table reaching the protection is sought; a firm whose cell it leaves
    unchanged cannot exclude it; for each firm whose cell it moves, one more
    table with that cell fixed is sought. No such table = not protected.
    Returns ok, the coalition's lower and upper bounds and the number of LPs.
    With ``stop`` it returns at the first failure.
    """
    outsider = _Outsider(A, x, suppressed)
    deviation = None
    ok = np.ones(targets.size, dtype=bool)
    lower = np.full(targets.size, np.nan)
    upper = np.full(targets.size, np.nan)
    for t, cell in enumerate(targets):
        known = owners.known(cell)
        known = known[suppressed[known]]
        lower[t], upper[t] = outsider.interval(cell, known)
        ok[t] = _protected(x[[cell]], lower[[t]], upper[[t]], up[[t]], down[[t]])[0]
        if not ok[t] and known.size:
            if deviation is None:
                deviation = _Deviation(A, x, suppressed)
            ok[t] = True
            for amount in (up[t] * (1 + 1e-6), -min(down[t] * (1 + 1e-6), x[cell])):
                if amount == 0:
                    continue
                moved = deviation.shift(cell, amount, np.zeros(0, dtype=np.int64))
                if moved is None:
                    ok[t] = False
                    break
                for attacker in known[moved[known]]:
                    if deviation.shift(cell, amount, np.array([attacker])) is None:
                        ok[t] = False
                        break
                if not ok[t]:
                    break
        if stop and not ok[t]:
            break
    solves = outsider.model.solves + (deviation.model.solves if deviation is not None else 0)
    return ok, lower, upper, solves


def _cleanup(A: sp.csr_matrix, x: np.ndarray, cost: np.ndarray, suppressed: np.ndarray,
             primary: np.ndarray, up: np.ndarray, down: np.ndarray,
             budget: int, owners: _Owners | None = None,
             exposed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Publish again every secondary cell the primaries do not need (costliest first).

    A secondary cell is tried only against the primaries it is linked to
    (same connected component of suppressed cells through the equations),
    nearest first (those sharing an equation with it); the check stops at the
    first primary that would be exposed. No new trial starts once ``budget``
    LPs have been solved. With ``owners`` the check includes the singleton
    attack (for the primaries not already ``exposed`` to it).
    """
    suppressed = suppressed.copy()
    n_lp = 0
    absA = abs(A).tocsc()
    candidates = np.flatnonzero(suppressed & ~primary)
    candidates = candidates[np.argsort(-cost[candidates], kind="stable")]
    for cell in candidates:
        if n_lp >= budget:
            break
        component = _components(A, suppressed)
        linked = np.flatnonzero((component == component[cell]) & primary & suppressed)
        if linked.size == 0:
            suppressed[cell] = False
            continue
        near = np.asarray(absA[:, linked].T @ absA[:, [cell]].toarray()).ravel() > 0
        linked = np.concatenate([linked[near], linked[~near]])
        trial = suppressed.copy()
        trial[cell] = False
        lo, hi, m = _interval(A, x, trial, linked, stop_below=(up[linked], down[linked]))
        n_lp += m
        ok = _protected(x[linked], lo, hi, up[linked], down[linked]).all()
        if ok and owners is not None:
            guarded = linked[~exposed[linked]] if exposed is not None else linked
            checked, _, _, m = _singleton_check(A, x, trial, guarded, up[guarded],
                                                down[guarded], owners, stop=True)
            n_lp += m
            ok = bool(checked.all())
        if ok:
            suppressed = trial
    return suppressed, n_lp


def _secondary(A: sp.csr_matrix, x: np.ndarray, cost: np.ndarray, empty: np.ndarray,
               suppressed: np.ndarray, primaries: np.ndarray, upl: np.ndarray,
               lpl: np.ndarray, owners: _Owners | None = None,
               grid: tuple[int, np.ndarray, np.ndarray] | None = None,
               ) -> tuple[np.ndarray, int, np.ndarray]:
    """Add cells to ``suppressed`` until each primary can move by its protection.

    For a primary p and a direction, solve
    min sum c_i (y+_i + y-_i) s.t. A (y+ - y-) = 0, y+_p - y-_p = +-protection,
    0 <= y-_i <= x_i, y = 0 on empty cells; then suppress every cell with y != 0.
    The solution is a feasible table that agrees with every published cell,
    which proves the outsider's interval reaches the protection. Each solve
    is normalised by its protection (``y / protection``, so the primary moves
    by exactly 1) to keep the flows well above the solver's tolerances.

    With ``owners``: a firm that alone makes up another suppressed cell
    knows that cell exactly, so a certificate that moves it does not convince
    that firm. For each such cell the first certificate moves, one more
    certificate is solved with that cell fixed; the union protects against
    outsiders and against each of those firms. When a cell cannot be fixed
    (no certificate exists) the primary is returned in ``exposed``.

    With ``grid = (n_c, leaf_row, leaf_col)`` (a two-way table, cell
    ``r * n_c + c``) a certificate is first sought without a linear programme:
    a rectangle of already suppressed leaf cells (the primary, one cell in its
    row, one in its column and the opposite corner) that avoids every cell a
    singleton attacker knows, whose cells moving down hold at least the
    protection. Moving its corners by the protection, alternately up and down,
    keeps every margin of the table: it is a certificate as the programme's,
    with no new suppression (which the programme, whose suppressed cells cost
    almost nothing, would not add either).
    """
    n = x.size
    suppressed = suppressed.copy()
    hi_plus = np.where(empty, 0.0, np.inf)
    hi_minus = np.where(empty, 0.0, x)
    model = _LinearProgram(sp.hstack([A, -A]), np.zeros(A.shape[0]),
                           np.zeros(2 * n), np.concatenate([hi_plus, hi_minus]),
                           primal=False)
    cheap = 1e-6 * float(cost.min(initial=1.0))
    c_cell = np.where(suppressed, cheap, cost)
    model.set_cost(np.arange(2 * n), np.concatenate([c_cell, c_cell]))
    minus_cols = np.arange(n, 2 * n)
    zeros = np.zeros(n)
    exposed = []

    def certificate(p: int, sign: float, amount: float, fixed: np.ndarray) -> np.ndarray | None:
        upper_minus = hi_minus / amount
        upper_minus[fixed] = 0.0
        if fixed.size:
            model.set_bounds(fixed, np.zeros(fixed.size), np.zeros(fixed.size))
        if sign > 0:
            upper_minus[p] = 0.0
            model.set_bounds(minus_cols, zeros, upper_minus)
            model.set_bounds([p], [1.0], [1.0])
        else:
            upper_minus[p] = 1.0
            lower_minus = zeros.copy()
            lower_minus[p] = 1.0
            model.set_bounds(minus_cols, lower_minus, upper_minus)
            model.set_bounds([p], [0.0], [0.0])
        status, sol = model.solve()
        model.set_bounds([p], [0.0], [hi_plus[p]])
        if fixed.size:
            model.set_bounds(fixed, np.zeros(fixed.size), hi_plus[fixed])
        if status != "optimal":
            if fixed.size:
                return None
            raise DisclosureError(f"secondary suppression failed for cell {p}: {status}")
        return np.abs(sol[:n] - sol[n:]) > 1e-7

    rect = None
    if grid is not None:
        n_c, leaf_row, leaf_col = grid
        n_r = n // n_c
        leaf = np.outer(leaf_row, leaf_col).ravel()
        filled = ~empty

    def rectangle(p: int, sign: float, amount: float, avoid: np.ndarray) -> np.ndarray | None:
        if grid is None or not leaf[p]:
            return None
        i, j = divmod(int(p), n_c)
        usable = suppressed & leaf & filled
        usable[avoid] = False
        usable[p] = False
        S = usable.reshape(n_r, n_c)
        deep = (usable & (x >= amount)).reshape(n_r, n_c)  # may move down by the protection
        # p up: its row and column partners move down, the opposite corner up; p down: reverse
        side_ok, corner_ok = (deep, S) if sign > 0 else (S, deep)
        rows = np.flatnonzero(side_ok[:, j])
        cols = np.flatnonzero(side_ok[i, :])
        if rows.size == 0 or cols.size == 0:
            return None
        block = corner_ok[np.ix_(rows, cols)]
        hit = np.argwhere(block)
        if hit.size == 0:
            return None
        k, l_ = rows[hit[0, 0]], cols[hit[0, 1]]
        moved = np.zeros(n, dtype=bool)
        moved[[p, i * n_c + l_, k * n_c + j, k * n_c + l_]] = True
        return moved

    def take(moved: np.ndarray) -> None:
        new = np.flatnonzero(moved & ~suppressed)
        if new.size:
            suppressed[new] = True
            model.set_cost(np.concatenate([new, n + new]), np.full(2 * new.size, cheap))

    for p, up, down in zip(primaries, upl, lpl, strict=False):
        known = owners.known(p) if owners is not None else np.zeros(0, dtype=np.int64)
        for sign, amount in ((1.0, up), (-1.0, down)):
            if amount <= 0:
                continue
            if rectangle(p, sign, amount, known) is not None:
                continue  # already protected in this direction by suppressed cells
            moved = certificate(p, sign, amount, np.zeros(0, dtype=np.int64))
            take(moved)
            for attacker in known[moved[known]]:
                moved_again = certificate(p, sign, amount, np.array([attacker]))
                if moved_again is None:
                    exposed.append(p)
                else:
                    take(moved_again)
    return suppressed, model.solves, np.unique(np.asarray(exposed, dtype=np.int64))


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def protect_table(
    data: pd.DataFrame,
    value: str,
    *,
    rows: str | Sequence[str],
    columns: str | Sequence[str] | None = None,
    group: str | None = None,
    weights: str | None = None,
    rules: DisclosureRules | None = None,
    cost: Literal["value", "contributors", "unity"] = "value",
    total_label: str = "Total",
    cleanup: bool = True,
    singletons: bool = True,
    max_rounds: int = 3,
) -> ProtectedTable:
    """Tabulate unit-level data and protect the table by cell suppression.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per firm (unit). Not modified.
    value : str
        The magnitude column (non-negative, e.g. ``"gross_output"``).
    rows : str or list of str
        Row classification; a list is a hierarchy, outer level first (e.g.
        ``["city", "county"]``): the table then has city subtotals.
    columns : str or list of str or None, default=None
        Column classification (hierarchy as for ``rows``); ``None`` gives a
        one-way table.
    group : str or None, default=None
        Enterprise-group column: firms of one group are one contributor for
        the rules (missing = the firm is its own group).
    weights : str or None, default=None
        Weight column for a table of weighted (estimated) totals; each firm
        contributes ``weight * value`` (counts of contributors are unweighted).
    rules : DisclosureRules or None, default=None
        Primary rules; ``None`` means ``DisclosureRules()`` (frequency 3, p% = 10).
    cost : {"value", "contributors", "unity"}, default="value"
        What a secondary suppression costs: the cell value (keeps large
        cells and totals published), the number of contributors, or 1 per cell.
    total_label : str, default="Total"
        Label of the margins in the key columns (e.g. ``"合计"``).
    cleanup : bool, default=True
        After secondary suppression, publish again (costliest first) every
        secondary cell that no primary cell needs, checked by the audit LPs;
        trials stop after twice the LPs of the secondary step (at
        least 2,000), which bounds the time on very large tables.
    singletons : bool, default=True
        Also protect every sensitive cell against the firms that alone make
        up another suppressed cell (each knows its own cell exactly): their
        cells must stay fixed in the secondary step. Where that is impossible
        the cell is protected against outsiders and a ``SurveyWarning`` names
        it; the audit shows both intervals.
    max_rounds : int, default=3
        Rounds of the verification loop (secondary suppression, then audit).

    Returns
    -------
    ProtectedTable
        ``cells`` (one row per cell with counts, totals, flags), ``audit``,
        ``table()`` for publication and ``legend()``.

    Raises
    ------
    ColumnError
        A named column is missing, a key has missing values or ``value`` is
        not numeric.
    DisclosureError
        Negative or missing values, bad rules, or a table that cannot be
        protected.

    Examples
    --------
    County B holds one dominant firm (50 of 53): the p% rule suppresses it and
    county A must go too, or it would be recovered from the total.

    >>> df = pd.DataFrame({"county": ["A"] * 4 + ["B"] * 4,
    ...                    "value": [10.0, 11, 12, 13, 50, 1, 1, 1]})
    >>> pt = protect_table(df, "value", rows="county")
    >>> pt.cells[["county", "contributors", "value", "rule", "status"]]
      county  contributors  value rule     status
    0  Total             8   99.0       published
    1      A             4   46.0       secondary
    2      B             4   53.0   p%    primary

    A two-way table: the sensitive cell (A, C19) is protected by a 2 x 2 cycle
    of interior cells, and the audit proves its interval is wide enough.

    >>> df = pd.DataFrame({
    ...     "county": ["A"] * 6 + ["B"] * 6 + ["C"] * 6,
    ...     "industry": (["C19"] * 3 + ["C20"] * 3) * 3,
    ...     "output": [90.0, 2, 1, 20, 21, 22, 30, 31, 32,
    ...                40, 41, 42, 50, 51, 52, 60, 61, 62]})
    >>> pt = protect_table(df, "output", rows="county", columns="industry")
    >>> pt.table()
    industry  Total    C19    C20
    county
    Total     708.0  339.0  369.0
    A         156.0      x      x
    B         216.0      x      x
    C         336.0  153.0  183.0
    >>> pt.audit[["value", "lower", "upper", "upper_protection", "protected"]]
       value  lower  upper  upper_protection  protected
    0   93.0    0.0  156.0               8.0       True
    1   63.0    0.0  156.0               0.0       True
    2   93.0   30.0  186.0               0.0       True
    3  123.0   30.0  186.0               0.0       True
    """
    if not isinstance(data, pd.DataFrame):
        raise DisclosureError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    rules = DisclosureRules() if rules is None else rules
    if not isinstance(rules, DisclosureRules):
        raise DisclosureError("rules must be a DisclosureRules object")
    if cost not in ("value", "contributors", "unity"):
        raise DisclosureError(f"cost must be 'value', 'contributors' or 'unity', got {cost!r}")
    if len(data) == 0:
        raise DisclosureError("data has no rows: there is no table to protect")
    row_names = _names(rows, "rows")
    col_names = _names(columns, "columns")
    if not row_names:
        raise DisclosureError("rows must name at least one column")
    overlap = set(row_names) & set(col_names)
    if overlap:
        raise DisclosureError(f"columns {sorted(overlap)} are used both as rows and as columns")
    for name in row_names + col_names:
        key = _column(data, name, "key")
        bad = key.isna().to_numpy()
        if bad.any():
            raise ColumnError(
                f"key column {name!r} has {int(bad.sum())} missing values (first at row "
                f"{data.index[np.argmax(bad)]!r}); drop those firms or give them a category first"
            )
        clash = (key.astype(str) == total_label).to_numpy()
        if clash.any():
            raise DisclosureError(
                f"key column {name!r} has the value {total_label!r}, which is the label of the "
                "margins; rename that category or pass another total_label"
            )
    y = _column(data, value, "value")
    if not pd.api.types.is_numeric_dtype(y):
        raise ColumnError(f"value column {value!r} is not numeric (dtype {y.dtype})")
    yv = y.to_numpy(dtype=float, na_value=np.nan)
    if weights is not None:
        w = _column(data, weights, "weights").to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(w).any() or (w < 0).any():
            raise DisclosureError(f"weights column {weights!r} has missing or negative values")
        yv = yv * w
    if np.isnan(yv).any():
        i = int(np.argmax(np.isnan(yv)))
        raise DisclosureError(
            f"value column {value!r} has {int(np.isnan(yv).sum())} missing values (first at row "
            f"{data.index[i]!r}); impute or drop them before tabulating"
        )
    if (yv < 0).any():
        i = int(np.argmax(yv < 0))
        raise DisclosureError(
            f"value column {value!r} has negative values (first at row {data.index[i]!r}); "
            "the suppression rules need non-negative magnitudes: protect a non-negative "
            "variable (e.g. sales) and apply its pattern"
        )
    n_units = len(data)
    if group is not None:
        g = _column(data, group, "group")
        gcode, _ = pd.factorize(g, use_na_sentinel=True)
        gcode = gcode.astype(np.int64)
        n_groups = int(gcode.max()) + 1 if n_units else 0
        own = gcode < 0
        gcode[own] = n_groups + np.flatnonzero(own)
        contributor = gcode
    else:
        contributor = np.arange(n_units, dtype=np.int64)
    n_contrib = int(contributor.max()) + 1 if n_units else 1

    row_dim = _dimension(data, row_names, total_label)
    col_dim = _dimension(data, col_names, total_label)
    n_r, n_c = len(row_dim.level), len(col_dim.level)
    grid = (n_c, row_dim.level == len(row_names), col_dim.level == len(col_names)) \
        if row_names and col_names else None
    n_cells = n_r * n_c

    # every unit belongs to one cell per (row level, column level) pair
    cell_parts = [
        row_dim.unit_nodes[:, d] * n_c + col_dim.unit_nodes[:, e]
        for d in range(row_dim.unit_nodes.shape[1])
        for e in range(col_dim.unit_nodes.shape[1])
    ]
    k = len(cell_parts)
    cell_of = np.concatenate(cell_parts) if n_units else np.zeros(0, dtype=np.int64)
    contrib_of = np.tile(contributor, k)
    value_of = np.tile(yv, k)
    firms = np.bincount(cell_of, minlength=n_cells)
    pair_key = cell_of * n_contrib + contrib_of
    upair, inverse = np.unique(pair_key, return_inverse=True)
    pair_value = np.bincount(inverse, weights=value_of, minlength=upair.size)
    pair_cell = upair // n_contrib
    order = np.lexsort((-pair_value, pair_cell))
    pc = pair_cell[order]
    pv = pair_value[order]
    start = np.searchsorted(pc, np.arange(n_cells), side="left")
    rank = np.arange(pc.size) - start[pc]
    contributors = np.bincount(pc, minlength=n_cells)
    total = np.bincount(pc, weights=pv, minlength=n_cells)
    x1 = np.bincount(pc, weights=np.where(rank == 0, pv, 0.0), minlength=n_cells)
    x2 = np.bincount(pc, weights=np.where(rank == 1, pv, 0.0), minlength=n_cells)

    # primary rules (vectorised over cells)
    nonempty = contributors > 0
    freq_fail = nonempty & (contributors < rules.min_frequency)
    upl = np.where(freq_fail, rules.frequency_range / 100.0 * total, 0.0)
    rule_text = np.full(n_cells, "", dtype=object)
    rule_text[freq_fail] = "frequency"
    eps = 1e-12 * max(1.0, float(total.max(initial=0.0)))
    fails = freq_fail.copy()
    if rules.p_percent is not None:
        need = rules.p_percent / 100.0 * x1 - (total - x1 - x2)
        p_fail = nonempty & (need > eps)
        upl = np.where(p_fail, np.maximum(upl, need), upl)
        rule_text[p_fail] = np.where(rule_text[p_fail] == "", "p%", rule_text[p_fail] + "+p%")
        fails |= p_fail
    for n_top, k_pct in rules.dominance:
        top = np.bincount(pc, weights=np.where(rank < n_top, pv, 0.0), minlength=n_cells)
        need = 100.0 / k_pct * top - total
        d_fail = nonempty & (need > eps)
        label = f"({n_top},{k_pct:g})"
        upl = np.where(d_fail, np.maximum(upl, need), upl)
        rule_text[d_fail] = np.where(rule_text[d_fail] == "", label, rule_text[d_fail] + "+" + label)
        fails |= d_fail
    # a sensitive cell whose rules imply no positive protection (a zero cell) must
    # still move: frequency_range percent of the median positive cell
    positive = total[nonempty & (total > 0)]
    yardstick = float(np.median(positive)) if positive.size else 1.0
    floor = rules.frequency_range / 100.0 * yardstick
    upl = np.where(fails, np.where(upl > eps, upl, floor), 0.0)
    # and at least _MIN_PROTECTION of the cell, so a cell that only just fails a
    # rule is not published to within a rounding error
    upl = np.where(fails, np.maximum(upl, _MIN_PROTECTION * total), 0.0)
    lpl = np.minimum(upl, total)

    A = _structure(row_dim, col_dim)
    empty = ~nonempty
    primaries = np.flatnonzero(fails)
    scale = _scale(total, nonempty)
    xs = total / scale
    if cost == "value":
        cvec = xs + 1e-3 * (float(xs[nonempty].mean()) if nonempty.any() else 1.0)
    elif cost == "contributors":
        cvec = contributors.astype(float) + 1.0
    else:
        cvec = np.ones(n_cells)
    # the owner of each single-contributor cell (contributor of its largest pair)
    owner = np.full(n_cells, -1, dtype=np.int64)
    single = np.flatnonzero(contributors == 1)
    owner[single] = (upair % n_contrib)[order][start[single]]
    owners = _Owners(owner=owner, pairs=upair, n_contributors=n_contrib)
    guard = owners if singletons else None

    up_need, down_need = upl / scale, lpl / scale

    def suppress(verify: bool) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, int]:
        suppressed = fails.copy()
        n_lp = 0
        to_protect = primaries
        exposed = np.zeros(n_cells, dtype=bool)
        factor = 1.0 + 1e-5
        for _round in range(max(1, max_rounds)):
            suppressed, m, newly_exposed = _secondary(
                A, xs, cvec, empty, suppressed, to_protect, up_need[to_protect] * factor,
                np.minimum(down_need[to_protect] * factor, xs[to_protect]), owners=guard,
                grid=grid)
            n_lp += m
            exposed[newly_exposed] = True
            if not verify:  # the certificates prove the protection; the final audit checks it
                break
            lo, hi, m = _interval(A, xs, suppressed, primaries)
            n_lp += m
            ok = _protected(xs[primaries], lo, hi, up_need[primaries], down_need[primaries])
            to_protect = primaries[~ok]
            if to_protect.size == 0:
                break
            factor *= 1.01  # a numerical shortfall: ask for a little more
        else:
            raise DisclosureError(
                f"{to_protect.size} sensitive cells could not be protected in {max_rounds} "
                "rounds of secondary suppression; raise max_rounds or report this table"
            )
        if cleanup and primaries.size:
            budget = max(2000, 2 * n_lp + (0 if verify else 4 * primaries.size))
            suppressed, m = _cleanup(A, xs, cvec, suppressed, fails, up_need, down_need, budget,
                                     owners=guard, exposed=exposed)
            n_lp += m

        status = np.where(empty, "empty", "published").astype(object)
        status[suppressed & ~fails] = "secondary"
        status[fails] = "primary"
        # the audit of the final pattern: every suppressed cell
        audit, m = _audit(A, xs, scale, suppressed, status, upl, lpl, owners)
        n_lp += m
        return suppressed, status, audit, n_lp

    # fast: trust the certificates, audit the result; a numerical shortfall the audit finds
    # sends the table through the verified rounds (each round re-solves the outsider's LPs)
    suppressed, status, audit, n_lp = suppress(verify=False)
    if not audit["protected"].all():
        suppressed, status, audit, more = suppress(verify=True)
        n_lp += more
    if not audit["protected"].all():  # pragma: no cover - the loop above has proved it
        raise DisclosureError(
            f"{int((~audit['protected']).sum())} sensitive cells failed the final audit; "
            "report this table"
        )
    weak = audit.loc[~audit["protected_from_singletons"], "cell"].to_numpy()
    if weak.size:
        warnings.warn(
            f"{weak.size} suppressed cell(s) of {value!r} (cells {weak[:5].tolist()}) can be "
            "narrowed below their protection by a firm that alone makes up another suppressed "
            "cell" + ("" if singletons else " (singletons=False)") + "; see the audit's "
            "singleton_lower and singleton_upper columns",
            SurveyWarning, stacklevel=2,
        )

    r_idx = np.repeat(np.arange(n_r), n_c)
    c_idx = np.tile(np.arange(n_c), n_r)
    frame: dict[str, Any] = {}
    for j, name in enumerate(row_names):
        frame[name] = row_dim.labels[r_idx, j]
    for j, name in enumerate(col_names):
        frame[name] = col_dim.labels[c_idx, j]
    frame.update({
        "row_level": row_dim.level[r_idx],
        "column_level": col_dim.level[c_idx],
        "firms": firms,
        "contributors": contributors,
        "value": total,
        "largest": x1,
        "second_largest": x2,
        "rule": rule_text.astype(str),
        "upper_protection": upl,
        "lower_protection": lpl,
        "status": status.astype(str),
    })
    cells = pd.DataFrame(frame)
    for name in row_names + col_names:
        cells[name] = cells[name].astype(str)
    return ProtectedTable(
        cells=cells,
        audit=audit,
        rules=rules,
        rows=row_names,
        columns=col_names,
        value_name=value,
        constraints=A,
        linear_programs=n_lp,
        total_label=total_label,
        _row_order=row_dim.order,
        _column_order=col_dim.order,
        _owners=owners,
    )


def _protected(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, up: np.ndarray,
               down: np.ndarray) -> np.ndarray:
    """The interval reaches the required protection (to 1e-6 of the protection)."""
    reach_up = upper - x >= up * (1.0 - 1e-6)
    reach_down = x - lower >= down * (1.0 - 1e-6)
    return reach_up & reach_down


def _audit(A: sp.csr_matrix, xs: np.ndarray, scale: float, suppressed: np.ndarray,
           status: np.ndarray, upl: np.ndarray, lpl: np.ndarray,
           owners: _Owners) -> tuple[pd.DataFrame, int]:
    """The audit frame: outsider's interval of every suppressed cell, singleton
    attack on every primary cell (values in the table's units)."""
    idx = np.flatnonzero(suppressed)
    lower, upper, n_lp = _interval(A, xs, suppressed, idx)
    up, down = upl[idx] / scale, lpl[idx] / scale
    ok = _protected(xs[idx], lower, upper, up, down)
    primary = np.asarray(status[idx] == "primary", dtype=bool)
    s_lower = np.full(idx.size, np.nan)
    s_upper = np.full(idx.size, np.nan)
    s_ok = np.ones(idx.size, dtype=bool)
    if primary.any():
        checked, lo, hi, m = _singleton_check(A, xs, suppressed, idx[primary], up[primary],
                                              down[primary], owners)
        n_lp += m
        s_lower[primary], s_upper[primary], s_ok[primary] = lo, hi, checked
    frame = pd.DataFrame({
        "cell": idx,
        "status": np.asarray(status[idx]).astype(str),
        "value": xs[idx] * scale,
        "lower": lower * scale,
        "upper": upper * scale,
        "upper_protection": upl[idx],
        "lower_protection": lpl[idx],
        "protected": ok,
        "singleton_lower": s_lower * scale,
        "singleton_upper": s_upper * scale,
        "protected_from_singletons": s_ok,
    })
    return frame, n_lp


def _scale(total: np.ndarray, nonempty: np.ndarray) -> float:
    """Unit of the linear programmes: the median positive cell (keeps values near 1)."""
    positive = total[nonempty & (total > 0)]
    return float(np.median(positive)) if positive.size else 1.0


def audit_suppression(table: ProtectedTable, suppressed: np.ndarray | None = None) -> pd.DataFrame:
    """Prove, by linear programming, what an outsider can learn of each suppressed cell.

    For every suppressed cell two linear programmes are solved: the minimum
    and the maximum of the cell over all non-negative tables that agree with
    every published cell and with every additivity equation of the table
    (rows, columns, margins, hierarchy). The cell is protected when the
    interval reaches ``value + upper_protection`` above and
    ``value - lower_protection`` below. Each primary cell is also checked
    against the firms that alone make up another suppressed cell (each
    knows its own cell): first all of them at once, then, if that is too
    narrow, each on its own.

    Parameters
    ----------
    table : ProtectedTable
        A protected table (its cells, structure and required protections).
    suppressed : numpy.ndarray of bool or None, default=None
        Another suppression pattern to audit over ``table.cells`` (e.g. one
        made by hand or by another tool); ``None`` audits the table's own.

    Returns
    -------
    pandas.DataFrame
        ``cell, status, value, lower, upper, upper_protection,
        lower_protection, protected, singleton_lower, singleton_upper,
        protected_from_singletons``, one row per suppressed cell (see
        :class:`ProtectedTable`).

    Examples
    --------
    >>> df = pd.DataFrame({"county": ["A", "A", "B", "B", "B"],
    ...                    "value": [5.0, 6.0, 7.0, 8.0, 9.0]})
    >>> pt = protect_table(df, "value", rows="county")
    >>> pattern = (pt.cells["county"] == "A").to_numpy()   # suppress A alone
    >>> audit_suppression(pt, pattern)[["value", "lower", "upper", "protected"]]
       value  lower  upper  protected
    0   11.0   11.0   11.0      False
    """
    cells = table.cells
    if suppressed is None:
        suppressed = table.suppressed
    suppressed = np.asarray(suppressed, dtype=bool)
    if suppressed.shape != (len(cells),):
        raise DisclosureError(
            f"suppressed must be a boolean array with one entry per cell ({len(cells)}), "
            f"got shape {suppressed.shape}"
        )
    x = cells["value"].to_numpy(dtype=float)
    scale = _scale(x, cells["contributors"].to_numpy() > 0)
    status = cells["status"].to_numpy().astype(object)
    return _audit(table.constraints, x / scale, scale, suppressed, status,
                  cells["upper_protection"].to_numpy(dtype=float),
                  cells["lower_protection"].to_numpy(dtype=float), table._owners)[0]
