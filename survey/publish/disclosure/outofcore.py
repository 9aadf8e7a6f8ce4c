"""Cell suppression of a magnitude table whose units stay in the SQL engine.

:func:`contribution_frame` tabulates each cell in one SQL pass (firms, total, the largest
contributions) into a small frame that stands for the units;
:func:`protect_out_of_core` runs :func:`survey.publish.disclosure.protect_table` on it
and puts the true counts back. The national cycle (``survey.pipeline.national``) uses
them on millions of firms; the result equals ``protect_table`` on the units
(``tests/test_national_cycle.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from survey.errors import DisclosureError

__all__ = ["contribution_frame", "protect_out_of_core"]


def contribution_frame(
    session: Any,
    source: str,
    value: str,
    *,
    keys: list[str],
    weights: str | None = None,
    complete: tuple[str, ...] | list[str] = (),
    rules: Any = None,
    id: str = "firm_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-cell tabulation the magnitude rules need, computed in SQL, as a small frame.

    One SQL pass over the units (a window per cell of ``keys``) gives each
    interior cell's number of firms, total of the contributions ``weight *
    value`` and its ``K`` largest contributions with their firm ids, where
    ``K = max(min_frequency, n)`` for the largest ``n`` of the rules (2 for
    the p% rule, ``n`` of each (n,k) dominance rule). The frame returned
    stands for the units in :func:`survey.publish.disclosure.protect_table`:
    the ``K`` largest firms of each cell as they are, and the rest of the cell
    as ``r`` equal parts no larger than the cell's ``n``-th largest
    contribution (``r = ceil(rest / x_n)``, at least 1, at most the number of
    the other firms). Every quantity the rules and the linear programmes use
    is then unchanged for every cell and margin: the totals, the ``n``
    largest contributions (a part never outranks them, in its cell or in a
    margin), whether a cell has fewer than ``min_frequency`` contributors, and
    who alone makes up a single-firm cell; only the counts of firms above
    ``K`` differ, which :func:`protect_out_of_core` puts back from ``cells``.

    Parameters
    ----------
    session : Session
        An engine session (:meth:`survey.engine.Engine.session`).
    source : str
        SQL relation text of the units (``read_parquet('...')``, a view).
    value : str
        The magnitude column (non-negative).
    keys : list of str
        The cell columns (row and column classification).
    weights : str, optional
        Weight column: contributions ``weight * value``.
    complete : sequence of str, default=()
        Units count only where these columns are all finite (the published
        totals' complete cases); ``value`` always.
    rules : DisclosureRules, optional
        Default ``DisclosureRules()``.
    id : str, default="firm_id"

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``units``: the key columns, ``id`` (``None`` for the parts) and
        ``contribution``; ``cells``: the key columns, ``firms`` and ``total``
        per interior cell.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> df = pd.DataFrame({"firm_id": list("abcdef"), "r": ["A"] * 6,
    ...                    "y": [50.0, 20.0, 10.0, 9.0, 8.0, 3.0]})
    >>> units, cells = contribution_frame(s, s.register(df), "y", keys=["r"])
    >>> units["contribution"].tolist(), cells["firms"].tolist()
    ([50.0, 20.0, 10.0, 10.0, 10.0], [6])
    """
    from survey.publish.disclosure import DisclosureRules
    from survey.engine import sql_finite
    from survey.engine import quote_identifier

    rules = DisclosureRules() if rules is None else rules
    q = quote_identifier
    n_top = max([2, *(int(n) for n, _ in rules.dominance)])
    K = max(int(rules.min_frequency), n_top)
    contribution = f"CAST({q(value)} AS DOUBLE)"
    if weights is not None:
        contribution = f"CAST({q(weights)} AS DOUBLE) * {contribution}"
    ok = " AND ".join(sql_finite(f"CAST({q(c)} AS DOUBLE)") for c in dict.fromkeys([value, *complete]))
    part = ", ".join(q(k) for k in keys)
    cols = ", ".join(f"u.{q(k)}" for k in keys)
    text = (
        f"SELECT {cols}, u.sv_id, u.sv_c, u.sv_rank, u.sv_n, u.sv_total, u.sv_min FROM ("
        f"SELECT {part}, CAST({q(id)} AS VARCHAR) AS sv_id, sv_c, "
        f"ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY sv_c DESC, CAST({q(id)} AS VARCHAR)) "
        f"AS sv_rank, COUNT(*) OVER (PARTITION BY {part}) AS sv_n, "
        f"SUM(sv_c) OVER (PARTITION BY {part}) AS sv_total, "
        f"MIN(sv_c) OVER (PARTITION BY {part}) AS sv_min "
        f"FROM (SELECT *, {contribution} AS sv_c FROM {source} WHERE {ok}) t) u "
        f"WHERE u.sv_rank <= {K} ORDER BY {cols}, u.sv_rank"
    )
    top = session.sql(text)
    negative = top["sv_min"].to_numpy(dtype=float) < 0
    if negative.any():
        first = top.loc[negative].iloc[0]
        cell = {k: first[k] for k in keys}
        raise DisclosureError(f"contribution_frame: {value!r} has negative contributions (first "
                            f"in cell {cell}); the magnitude rules need non-negative values: "
                            "protect a non-negative variable and apply its pattern")
    top = top.reset_index(drop=True)
    first = top["sv_rank"].to_numpy() == 1
    cells = top.loc[first, [*keys, "sv_n", "sv_total"]].rename(
        columns={"sv_n": "firms", "sv_total": "total"}).reset_index(drop=True)
    cells["firms"] = cells["firms"].astype(np.int64)
    # the rest of each cell with more than K firms, as equal parts <= its n_top-th largest
    cell_of = np.cumsum(first) - 1
    c = top["sv_c"].to_numpy(dtype=float)
    kept = np.bincount(cell_of, weights=c, minlength=len(cells))
    bound = np.zeros(len(cells))
    at = top["sv_rank"].to_numpy() == n_top
    bound[cell_of[at]] = c[at]
    n = cells["firms"].to_numpy(dtype=np.int64)
    more = n > K
    rest = np.clip(cells["total"].to_numpy(dtype=float) - kept, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(bound > 0, np.ceil(rest / bound * (1 + 1e-12)), 1.0)
    parts = np.where(more, np.clip(need, 1, np.maximum(n - K, 1)), 0).astype(np.int64)
    idx = np.repeat(np.arange(len(cells)), parts)
    rest_units = cells.loc[idx, keys].reset_index(drop=True)
    rest_units[id] = None
    rest_units["contribution"] = np.repeat(np.where(parts > 0, rest / np.maximum(parts, 1), 0.0),
                                           parts)
    units = top[keys].assign(**{id: top["sv_id"].to_numpy(), "contribution": c})
    units = pd.concat([units, rest_units], ignore_index=True)
    return units, cells


def protect_out_of_core(
    session: Any,
    source: str,
    value: str,
    *,
    rows: str,
    columns: str,
    weights: str | None = None,
    complete: tuple[str, ...] | list[str] = (),
    rules: Any = None,
    id: str = "firm_id",
) -> tuple[Any, int]:
    """Cell suppression of a two-way magnitude table whose units stay in the SQL engine.

    :func:`contribution_frame` tabulates in SQL; the existing numpy / HiGHS
    step (:func:`survey.publish.disclosure.protect_table`, cost ``"value"``,
    no enterprise groups) runs on its small frame; the cells' ``firms`` and
    ``contributors`` are then the true counts (sums of the SQL counts over
    each margin). The result equals ``protect_table`` on the units.

    Parameters
    ----------
    session, source, value, weights, complete, rules, id
        As :func:`contribution_frame`.
    rows, columns : str
        The row and column classification.

    Returns
    -------
    (ProtectedTable, int)
        The protected table and the number of rows given to ``protect_table``.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> df = pd.DataFrame({"firm_id": list("abcdefgh"), "r": ["A"] * 4 + ["B"] * 4,
    ...                    "c": ["x", "y"] * 4, "y": [10.0, 11, 12, 13, 50, 1, 1, 1]})
    >>> pt, rows = protect_out_of_core(s, s.register(df), "y", rows="r", columns="c")
    >>> pt.cells["status"].tolist()[:3]
    ['published', 'secondary', 'secondary']
    >>> from survey.publish.disclosure import protect_table
    >>> bool((pt.cells == protect_table(df, "y", rows="r", columns="c").cells).all().all())
    True
    """
    import dataclasses

    from survey.publish.disclosure import protect_table

    units, cells = contribution_frame(session, source, value, keys=[rows, columns],
                                      weights=weights, complete=complete, rules=rules, id=id)
    pt = protect_table(units, "contribution", rows=rows, columns=columns, rules=rules)
    out = pt.cells.copy()
    counts = cells.astype({rows: str, columns: str})
    label = pt.total_label
    firms = pd.concat([
        counts[[rows, columns, "firms"]],
        counts.groupby(rows, as_index=False)["firms"].sum().assign(**{columns: label}),
        counts.groupby(columns, as_index=False)["firms"].sum().assign(**{rows: label}),
        pd.DataFrame({rows: [label], columns: [label], "firms": [int(counts["firms"].sum())]}),
    ], ignore_index=True)
    true = out[[rows, columns]].merge(firms, on=[rows, columns], how="left")["firms"]
    true = true.fillna(0).to_numpy(dtype=np.int64)
    out["firms"] = true
    out["contributors"] = true
    return dataclasses.replace(pt, cells=out, value_name=value), len(units)
