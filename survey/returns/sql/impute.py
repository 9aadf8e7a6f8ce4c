"""ONS ratio-of-means links and imputation with joins and group sums.

Part of :mod:`survey.returns.sql` (see its docstring and ``docs/scale.md``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    pass
from survey.returns.sql.base import finite_sql, quote_identifier

__all__ = ['impute_ratio', 'ratio_impute_sql', 'ratio_links_sql']

# ---------------------------------------------------------------------------
# ONS ratio-of-means imputation links as SQL
# ---------------------------------------------------------------------------
_RETURNED_SQL = "('returned', 'edited')"
_CARRIED_SQL = "('returned', 'edited', 'forward_imputed', 'constructed')"


def _class_cols(by: Any) -> list[str]:
    return [by] if isinstance(by, str) else list(by or [])


def ratio_links_sql(
    current: str,
    previous: str | None,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
) -> str:
    """SQL of the ONS ratio-of-means links of one period, per imputation class.

    ``forward_link = sum(y_t) / sum(y_t-1)`` over the units that returned
    (marker ``returned`` or ``edited``, finite value) in both periods, in
    their class of period ``t``; ``construction_link = sum(y_t) / sum(x_t)``
    over the units that returned in ``t`` with a finite auxiliary ``x``;
    ``matched`` and ``returned`` counts; as the links of
    :func:`survey.returns.impute.ratio_of_means` for that period.

    Parameters
    ----------
    current, previous : str
        Quoted view names (one row per unit) of period ``t`` and ``t-1``
        (``previous=None`` for a first period: no forward link).
    variable : str
    id : str, default="firm_id"
    by : str or list of str, optional
        Imputation class columns (of ``current``).
    auxiliary : str, optional
        Register size column of ``current`` for the construction link.
    marker : str, optional
        Marker column; default ``{variable without _ytd}_marker``.

    Returns
    -------
    str
        A ``SELECT`` with the class columns, ``forward_link``,
        ``construction_link``, ``matched``, ``returned``.

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> q1 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, 20.0],
    ...                               "y_marker": ["returned", "returned"]}))
    >>> q2 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, None],
    ...                               "y_marker": ["returned", "missing"]}))
    >>> s.sql(ratio_links_sql(q2, q1, "y"))[["forward_link", "matched"]].values.tolist()
    [[1.2, 1.0]]
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{quote_identifier(variable)}", f"c.{quote_identifier(marker)}"
    ret = f"({finite_sql(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    keys = ", ".join(f"c.{quote_identifier(c)}" for c in cls)
    sel = (keys + ", ") if cls else ""
    group = f"GROUP BY {keys}" if cls else ""
    out = [f"SUM(CASE WHEN {ret} THEN 1 ELSE 0 END) AS returned"]
    if auxiliary is not None:
        x = f"CAST(c.{quote_identifier(auxiliary)} AS DOUBLE)"
        ok = f"({ret} AND {finite_sql(x)})"
        num = f"SUM(CASE WHEN {ok} THEN {y} END)"
        den = f"SUM(CASE WHEN {ok} THEN {x} END)"
        out.append(f"CASE WHEN {den} > 0 THEN {num} / {den} END AS construction_link")
    else:
        out.append("CAST(NULL AS DOUBLE) AS construction_link")
    join = ""
    if previous is not None:
        py, pm = f"p.{quote_identifier(variable)}", f"p.{quote_identifier(marker)}"
        matched = (f"({ret} AND p.{quote_identifier(id)} IS NOT NULL AND {finite_sql(f'CAST({py} AS DOUBLE)')} "
                   f"AND {pm} IN {_RETURNED_SQL})")
        num = f"SUM(CASE WHEN {matched} THEN {y} END)"
        den = f"SUM(CASE WHEN {matched} THEN {py} END)"
        out.append(f"SUM(CASE WHEN {matched} THEN 1 ELSE 0 END) AS matched")
        out.append(f"CASE WHEN {den} > 0 THEN {num} / {den} END AS forward_link")
        join = f" LEFT JOIN {previous} p ON p.{quote_identifier(id)} = c.{quote_identifier(id)}"
    else:
        out += ["0 AS matched", "CAST(NULL AS DOUBLE) AS forward_link"]
    return f"SELECT {sel}{', '.join(out)} FROM {current} c{join} {group}"


def ratio_impute_sql(
    current: str,
    previous: str | None,
    links: str,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
) -> str:
    """SQL of one period with its missing values imputed from the links (ONS order).

    A unit that did not return ``variable`` in ``t`` gets ``y_t-1 *
    forward_link`` when it has a value in ``t-1`` that was returned, edited,
    forward-imputed or constructed; else ``x_t * construction_link``; the
    marker says which (``forward_imputed`` / ``constructed``). Backward
    imputation needs a later period and is not done (the latest quarter of a
    production cycle has none). Returned and edited values are kept.

    Parameters
    ----------
    current, previous : str
        Quoted view names of periods ``t`` and ``t-1`` (``previous=None``:
        construction only).
    links : str
        Quoted view name of :func:`ratio_links_sql`'s result.
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.

    Returns
    -------
    str
        ``SELECT`` of every column of ``current`` with ``variable`` and the
        marker replaced, plus ``sv_need`` (TRUE where a value was needed but
        no link could give it).

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> q1 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, 20.0],
    ...                               "y_marker": ["returned", "returned"]}))
    >>> q2 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, None],
    ...                               "y_marker": ["returned", "missing"]}))
    >>> links = s.register(s.sql(ratio_links_sql(q2, q1, "y")))
    >>> out = s.sql(ratio_impute_sql(q2, q1, links, "y") + " ORDER BY firm_id")
    >>> out["y"].tolist(), out["y_marker"].tolist()
    ([12.0, 24.0], ['returned', 'forward_imputed'])
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{quote_identifier(variable)}", f"c.{quote_identifier(marker)}"
    ret = f"({finite_sql(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    on = " AND ".join(f"l.{quote_identifier(c)} IS NOT DISTINCT FROM c.{quote_identifier(c)}" for c in cls) or "TRUE"
    fwd_ok = "FALSE"
    fwd_value = "CAST(NULL AS DOUBLE)"
    join = f" LEFT JOIN {links} l ON {on}"
    if previous is not None:
        py, pm = f"p.{quote_identifier(variable)}", f"p.{quote_identifier(marker)}"
        fwd_ok = (f"(p.{quote_identifier(id)} IS NOT NULL AND {finite_sql(f'CAST({py} AS DOUBLE)')} "
                  f"AND {pm} IN {_CARRIED_SQL})")
        fwd_value = f"{py} * l.forward_link"
        join += f" LEFT JOIN {previous} p ON p.{quote_identifier(id)} = c.{quote_identifier(id)}"
    con_value = (f"CAST(c.{quote_identifier(auxiliary)} AS DOUBLE) * l.construction_link"
                 if auxiliary is not None else "CAST(NULL AS DOUBLE)")
    value = (f"CASE WHEN {ret} THEN {y} WHEN {fwd_ok} THEN {fwd_value} "
             f"ELSE {con_value} END")
    mark = (f"CASE WHEN {ret} THEN {m} WHEN {fwd_ok} THEN 'forward_imputed' "
            f"WHEN {finite_sql(con_value)} THEN 'constructed' ELSE 'missing' END")
    need = f"NOT {ret} AND NOT {finite_sql(f'({value})')}"
    return (f"SELECT c.* REPLACE ({value} AS {quote_identifier(variable)}, {mark} AS {quote_identifier(marker)}), "
            f"{need} AS sv_need FROM {current} c{join}")


def impute_ratio(
    session: Any,
    current: Any,
    previous: Any,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
    output: str | os.PathLike | None = None,
    unresolved: str = "raise",
) -> tuple[pd.DataFrame, Any]:
    """Ratio-of-means imputation of one period inside the SQL engine (DuckDB).

    Parameters
    ----------
    session : Session, Engine or None
    current, previous : any source :meth:`Session.register` reads (Parquet path,
        relation, table, frame, QuarterRelation); ``previous=None`` for a first period.
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.
    output : path, optional
        Write the imputed period to this Parquet file (no pandas); else
        return it as a pandas frame.
    unresolved : {"raise", "keep"}, default="raise"
        A value no link can give (no returned units in its class, no
        auxiliary): raise, or keep it missing (marker ``missing``; the
        links table then has a row ``unresolved`` count per class).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or pathlib.Path)
        The links per class (small) and the imputed period (frame or path).

    Raises
    ------
    ImputationError
        A value needs a link that cannot be formed (no returned units in its
        class, zero denominator, missing auxiliary); the message names the
        class.

    Examples
    --------
    >>> q1 = pd.DataFrame({"firm_id": ["a", "b", "c"], "y": [10.0, 20.0, 30.0],
    ...                    "y_marker": ["returned"] * 3})
    >>> q2 = pd.DataFrame({"firm_id": ["a", "b", "c"], "y": [12.0, 26.0, None],
    ...                    "y_marker": ["returned", "returned", "missing"]})
    >>> links, out = impute_ratio(None, q2, q1, "y")
    >>> out.sort_values("firm_id")["y"].round(2).tolist()
    [12.0, 26.0, 38.0]
    """
    from survey.engine import as_engine
    from survey.errors import ImputationError

    def unwrap(src: Any) -> Any:
        nonlocal session
        if hasattr(src, "__survey_source__"):
            src, own = src.__survey_source__()
            session = own if session is None else session
        return src

    current = unwrap(current)
    previous = unwrap(previous) if previous is not None else None
    s = as_engine(session)
    cur_v = s.register(current)
    prev_v = s.register(previous) if previous is not None else None
    links_v = None
    try:
        link_sql = ratio_links_sql(cur_v, prev_v, variable, id=id, by=by, auxiliary=auxiliary,
                                   marker=marker)
        links = s.sql(link_sql)
        links_v = s.register(links)
        body = ratio_impute_sql(cur_v, prev_v, links_v, variable, id=id, by=by,
                                auxiliary=auxiliary, marker=marker)
        cls = _class_cols(by)
        bad = s.sql(f"SELECT {', '.join(quote_identifier(c) for c in cls) + ', ' if cls else ''}"
                    f"COUNT(*) AS n FROM ({body}) WHERE sv_need "
                    f"{'GROUP BY ' + ', '.join(quote_identifier(c) for c in cls) if cls else ''}")
        if unresolved not in ("raise", "keep"):
            raise ImputationError(f"impute_ratio: unresolved must be 'raise' or 'keep', got "
                                  f"{unresolved!r}")
        if unresolved == "keep" and len(bad):
            key = cls or None
            links = (links.merge(bad.rename(columns={"n": "unresolved"}), on=key, how="left")
                     if key else links.assign(unresolved=int(bad["n"].sum())))
            links["unresolved"] = links["unresolved"].fillna(0).astype(int)
        elif len(bad) and int(bad["n"].sum()):
            first = bad.iloc[0]
            label = {c: first[c] for c in cls} if cls else "all units"
            raise ImputationError(
                f"impute_ratio: {int(bad['n'].sum())} values of {variable!r} need a link that "
                f"cannot be formed (first class {label}: no returned units, a zero denominator "
                "or a missing auxiliary); merge the class with a neighbour (coarser 'by')"
                + ("" if auxiliary else " or give an auxiliary")
            )
        final = f"SELECT * EXCLUDE (sv_need) FROM ({body})"
        if output is not None:
            result: Any = s.write_parquet(final, output)
        else:
            result = s.sql(final)
    finally:
        for v in (cur_v, prev_v, links_v):
            if v is not None:
                s.drop(v)
    return links, result
