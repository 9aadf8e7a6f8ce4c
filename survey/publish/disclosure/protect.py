"""The step itself: tabulate, primary rules, secondary suppression, audit (:func:`protect_table`), and the audit of a given pattern (:func:`audit_suppression`).

Part of :mod:`survey.publish.disclosure` (see its docstring and ``docs/disclosure.md``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from survey.errors import ColumnError, DisclosureError, SurveyWarning
from survey.publish.disclosure.lp import (
    Owners,
    is_protected,
    outsider_interval,
    publish_unneeded,
    secondary_suppression,
    singleton_check,
)
from survey.publish.disclosure.results import ProtectedTable
from survey.publish.disclosure.rules import MIN_PROTECTION, DisclosureRules
from survey.publish.disclosure.tables import (
    dimension,
    dimension_names,
    table_column,
    table_structure,
)

__all__ = ['audit_suppression', 'protect_table', 'protect_tables']

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
    row_names = dimension_names(rows, "rows")
    col_names = dimension_names(columns, "columns")
    if not row_names:
        raise DisclosureError("rows must name at least one column")
    overlap = set(row_names) & set(col_names)
    if overlap:
        raise DisclosureError(f"columns {sorted(overlap)} are used both as rows and as columns")
    for name in row_names + col_names:
        key = table_column(data, name, "key")
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
    y = table_column(data, value, "value")
    if not pd.api.types.is_numeric_dtype(y):
        raise ColumnError(f"value column {value!r} is not numeric (dtype {y.dtype})")
    yv = y.to_numpy(dtype=float, na_value=np.nan)
    if weights is not None:
        w = table_column(data, weights, "weights").to_numpy(dtype=float, na_value=np.nan)
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
        g = table_column(data, group, "group")
        gcode, _ = pd.factorize(g, use_na_sentinel=True)
        gcode = gcode.astype(np.int64)
        n_groups = int(gcode.max()) + 1 if n_units else 0
        own = gcode < 0
        gcode[own] = n_groups + np.flatnonzero(own)
        contributor = gcode
    else:
        contributor = np.arange(n_units, dtype=np.int64)
    n_contrib = int(contributor.max()) + 1 if n_units else 1

    row_dim = dimension(data, row_names, total_label)
    col_dim = dimension(data, col_names, total_label)
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
    # and at least MIN_PROTECTION of the cell, so a cell that only just fails a
    # rule is not published to within a rounding error
    upl = np.where(fails, np.maximum(upl, MIN_PROTECTION * total), 0.0)
    lpl = np.minimum(upl, total)

    A = table_structure(row_dim, col_dim)
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
    owners = Owners(owner=owner, pairs=upair, n_contributors=n_contrib)
    guard = owners if singletons else None

    up_need, down_need = upl / scale, lpl / scale

    def suppress(verify: bool) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, int]:
        suppressed = fails.copy()
        n_lp = 0
        to_protect = primaries
        exposed = np.zeros(n_cells, dtype=bool)
        factor = 1.0 + 1e-5
        for _round in range(max(1, max_rounds)):
            suppressed, m, newly_exposed = secondary_suppression(
                A, xs, cvec, empty, suppressed, to_protect, up_need[to_protect] * factor,
                np.minimum(down_need[to_protect] * factor, xs[to_protect]), owners=guard,
                grid=grid)
            n_lp += m
            exposed[newly_exposed] = True
            if not verify:  # the certificates prove the protection; the final audit checks it
                break
            lo, hi, m = outsider_interval(A, xs, suppressed, primaries)
            n_lp += m
            ok = is_protected(xs[primaries], lo, hi, up_need[primaries], down_need[primaries])
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
            suppressed, m = publish_unneeded(A, xs, cvec, suppressed, fails, up_need, down_need, budget,
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
        owners=owners,
    )




def _audit(A: sp.csr_matrix, xs: np.ndarray, scale: float, suppressed: np.ndarray,
           status: np.ndarray, upl: np.ndarray, lpl: np.ndarray,
           owners: Owners) -> tuple[pd.DataFrame, int]:
    """The audit frame: outsider's interval of every suppressed cell, singleton
    attack on every primary cell (values in the table's units)."""
    idx = np.flatnonzero(suppressed)
    lower, upper, n_lp = outsider_interval(A, xs, suppressed, idx)
    up, down = upl[idx] / scale, lpl[idx] / scale
    # a cell that needs no protection (a secondary suppression) is protected whatever the
    # interval: an interval that collapses onto its value may lie a rounding error beside it
    ok = is_protected(xs[idx], lower, upper, up, down) | ((up == 0) & (down == 0))
    primary = np.asarray(status[idx] == "primary", dtype=bool)
    s_lower = np.full(idx.size, np.nan)
    s_upper = np.full(idx.size, np.nan)
    s_ok = np.ones(idx.size, dtype=bool)
    if primary.any():
        checked, lo, hi, m = singleton_check(A, xs, suppressed, idx[primary], up[primary],
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
                  cells["lower_protection"].to_numpy(dtype=float), table.owners)[0]


def protect_tables(
    data: pd.DataFrame,
    tables: Mapping[str, tuple[Sequence[str], Sequence[str], Sequence[str]]],
    **options: Any,
) -> dict[str, ProtectedTable]:
    """Protect several published tables of the same units, each for each of its variables.

    Every table ``name -> (rows, columns, variables)`` is protected with
    :func:`protect_table` for each of its variables; boolean classification columns
    (a channel flag) are tabulated as text. Variables with a negative value (profit,
    tax) are left out: magnitude rules need non-negative contributions, so their cells
    follow the other variables' suppressions where published together.

    Parameters
    ----------
    data : pandas.DataFrame
        The unit-level data behind the tables.
    tables : mapping of str to (list of str, list of str, list of str)
        Row columns, column columns (may be empty) and variables of each table.
    **options
        Passed to :func:`protect_table` (``group``, ``weights``, ``rules``, ``cost``,
        ``total_label``...).

    Returns
    -------
    dict of str to ProtectedTable
        Keys ``"<table>:<variable>"``.

    Examples
    --------
    >>> d = pd.DataFrame({"r": list("aabbb"), "big": [True, False, True, False, False],
    ...                   "y": [90.0, 5.0, 10.0, 10.0, 10.0], "loss": [-1.0, 2, 3, 4, 5]})
    >>> out = protect_tables(d, {"t": (["r"], [], ["y", "loss"]), "f": (["big"], [], ["y"])},
    ...                      rules=DisclosureRules(min_frequency=3))
    >>> sorted(out)
    ['f:y', 't:y']
    """
    flags = sorted({c for rows, cols, _ in tables.values() for c in [*rows, *cols]
                    if c in data.columns and pd.api.types.is_bool_dtype(data[c])})
    data = data.assign(**{c: data[c].astype(str) for c in flags})
    negative = {v for _, _, names in tables.values() for v in names
                if (data[v].to_numpy(dtype=float) < 0).any()}
    return {f"{name}:{v}": protect_table(data, v, rows=list(rows), columns=list(cols) or None,
                                         **options)
            for name, (rows, cols, names) in tables.items() for v in names if v not in negative}

