"""ONS ratio-of-means imputation in SQL: links, forward, backward and construction,
cumulative bounds."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from survey.engine import sql_finite
from survey.engine import quote_identifier

__all__ = ['backward_chain_sql', 'impute_ratio', 'impute_ratio_panel', 'ratio_impute_sql', 'ratio_links_sql']

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
    ret = f"({sql_finite(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    keys = ", ".join(f"c.{quote_identifier(c)}" for c in cls)
    sel = (keys + ", ") if cls else ""
    group = f"GROUP BY {keys}" if cls else ""
    out = [f"SUM(CASE WHEN {ret} THEN 1 ELSE 0 END) AS returned"]
    if auxiliary is not None:
        x = f"CAST(c.{quote_identifier(auxiliary)} AS DOUBLE)"
        ok = f"({ret} AND {sql_finite(x)})"
        num = f"SUM(CASE WHEN {ok} THEN {y} END)"
        den = f"SUM(CASE WHEN {ok} THEN {x} END)"
        out.append(f"CASE WHEN {den} > 0 THEN {num} / {den} END AS construction_link")
    else:
        out.append("CAST(NULL AS DOUBLE) AS construction_link")
    join = ""
    if previous is not None:
        py, pm = f"p.{quote_identifier(variable)}", f"p.{quote_identifier(marker)}"
        matched = (f"({ret} AND p.{quote_identifier(id)} IS NOT NULL AND {sql_finite(f'CAST({py} AS DOUBLE)')} "
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
    chain: str | None = None,
    cumulative: bool = False,
    new_year: bool = False,
) -> str:
    """SQL of one period with its missing values imputed from the links (ONS order).

    A unit that did not return ``variable`` in ``t`` gets ``y_t-1 *
    forward_link`` when it has a value in ``t-1`` that was returned, edited,
    forward-imputed or constructed; else, with a ``chain``, its backward value
    (``sv_back`` of :func:`backward_chain_sql`); else ``x_t *
    construction_link``; the marker says which (``forward_imputed`` /
    ``backward_imputed`` / ``constructed``). Returned and edited values are
    kept. With ``cumulative``, an imputed value is clipped to ``[value of
    t-1 (same year), sv_upper]``, as ``ratio_of_means(cumulative=True)``.

    Parameters
    ----------
    current, previous : str
        Quoted view names of periods ``t`` and ``t-1`` (``previous=None``:
        construction only).
    links : str
        Quoted view name of :func:`ratio_links_sql`'s result.
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.
    chain : str, optional
        Quoted view name of :func:`backward_chain_sql` of ``t`` (backward
        imputation and the upper cumulative bound); ``None``: neither.
    cumulative : bool, default=False
        Clip imputed values to the cumulative bounds (a year-to-date value).
    new_year : bool, default=False
        ``t-1`` is in another year than ``t`` (no lower bound).

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
    >>> out = s.sql(f"SELECT * FROM ({ratio_impute_sql(q2, q1, links, 'y')}) ORDER BY firm_id")
    >>> out["y"].tolist(), out["y_marker"].tolist()
    ([12.0, 24.0], ['returned', 'forward_imputed'])
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{quote_identifier(variable)}", f"c.{quote_identifier(marker)}"
    ret = f"({sql_finite(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    on = " AND ".join(f"l.{quote_identifier(c)} IS NOT DISTINCT FROM c.{quote_identifier(c)}" for c in cls) or "TRUE"
    fwd_ok = "FALSE"
    fwd_value = "CAST(NULL AS DOUBLE)"
    join = f" LEFT JOIN {links} l ON {on}"
    if previous is not None:
        py, pm = f"p.{quote_identifier(variable)}", f"p.{quote_identifier(marker)}"
        fwd_ok = (f"(p.{quote_identifier(id)} IS NOT NULL AND {sql_finite(f'CAST({py} AS DOUBLE)')} "
                  f"AND {pm} IN {_CARRIED_SQL})")
        fwd_value = f"{py} * l.forward_link"
        join += f" LEFT JOIN {previous} p ON p.{quote_identifier(id)} = c.{quote_identifier(id)}"
    con_value = (f"CAST(c.{quote_identifier(auxiliary)} AS DOUBLE) * l.construction_link"
                 if auxiliary is not None else "CAST(NULL AS DOUBLE)")
    back_ok, back_value, high = "FALSE", "CAST(NULL AS DOUBLE)", None
    if chain is not None:
        back_ok = sql_finite("b.sv_back")
        back_value = "b.sv_back"
        high = "b.sv_upper"
        join += f" LEFT JOIN {chain} b ON b.{quote_identifier(id)} = c.{quote_identifier(id)}"
    if cumulative:
        low = (f"CAST(p.{quote_identifier(variable)} AS DOUBLE)"
               if previous is not None and not new_year else None)
        fwd_value, back_value, con_value = (_bounded_sql(v, low, high)
                                            for v in (fwd_value, back_value, con_value))
    value = (f"CASE WHEN {ret} THEN {y} WHEN {fwd_ok} THEN {fwd_value} "
             f"WHEN {back_ok} THEN {back_value} ELSE {con_value} END")
    mark = (f"CASE WHEN {ret} THEN {m} WHEN {fwd_ok} THEN 'forward_imputed' "
            f"WHEN {back_ok} THEN 'backward_imputed' "
            f"WHEN {sql_finite(con_value)} THEN 'constructed' ELSE 'missing' END")
    need = f"NOT {ret} AND NOT {sql_finite(f'({value})')}"
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


def _bounded_sql(value: str, low: str | None, high: str | None) -> str:
    """``value`` clipped to ``[low, max(high, low)]`` (``NULL`` bounds: none), as the
    cumulative bounds of :func:`survey.returns.impute.ratio_of_means`."""
    if low is None and high is None:
        return value
    v = value
    if low is not None:
        lo = f"(CASE WHEN {sql_finite(low)} THEN {low} END)"
        v = f"(CASE WHEN {lo} IS NOT NULL AND {v} < {lo} THEN {lo} ELSE {v} END)"
    else:
        lo = "CAST(NULL AS DOUBLE)"
    if high is None:
        return v
    hi = (f"(CASE WHEN {high} IS NULL THEN NULL WHEN {lo} IS NOT NULL AND {high} < {lo} "
          f"THEN {lo} ELSE {high} END)")
    return f"(CASE WHEN {hi} IS NOT NULL AND {v} > {hi} THEN {hi} ELSE {v} END)"


def backward_chain_sql(
    current: str,
    following: str | None,
    following_links: str | None,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    marker: str | None = None,
    same_year: bool = True,
) -> str:
    """SQL of one period's backward-imputation values and cumulative upper bounds.

    Periods are chained from the latest back: ``sv_back`` is the unit's
    returned value, else the next period's ``sv_back`` divided by the
    forward link of the next period in the unit's class of that period
    (the backward link of :func:`survey.returns.impute.ratio_of_means`);
    ``sv_run`` is the smallest returned value from this period to the end
    of the year; ``sv_upper`` the next period's ``sv_run`` (the upper
    cumulative bound of an imputed value; ``NULL`` when the next period is
    in another year, or for the latest period).

    Parameters
    ----------
    current : str
        Quoted view name of period ``t`` (one row per unit).
    following : str or None
        Quoted view name of this function's result for period ``t+1``
        (``None`` for the latest period).
    following_links : str or None
        Quoted view name of :func:`ratio_links_sql` of ``t+1`` against ``t``.
    variable, id, by, marker
        As :func:`ratio_links_sql`.
    same_year : bool, default=True
        Period ``t+1`` is in the same year as ``t`` (else no upper bound).

    Returns
    -------
    str
        ``SELECT`` of ``id``, the class columns, ``sv_back``, ``sv_run``,
        ``sv_upper`` and ``sv_nolink`` (TRUE where a backward value is needed
        but the next period's forward link cannot be formed).

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> q1 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, None],
    ...                               "y_marker": ["returned", "missing"]}))
    >>> q2 = s.register(pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, 24.0],
    ...                               "y_marker": ["returned", "returned"]}))
    >>> links = s.register(s.sql(ratio_links_sql(q2, q1, "y")))
    >>> chain2 = s.register(s.sql(backward_chain_sql(q2, None, None, "y")))
    >>> s.sql(f"SELECT * FROM ({backward_chain_sql(q1, chain2, links, 'y')}) ORDER BY firm_id")["sv_back"].tolist()
    [10.0, 20.0]
    """
    marker = marker or f"{variable.removesuffix('_ytd')}_marker"
    cls = _class_cols(by)
    y, m = f"c.{quote_identifier(variable)}", f"c.{quote_identifier(marker)}"
    ret = f"({sql_finite(f'CAST({y} AS DOUBLE)')} AND {m} IN {_RETURNED_SQL})"
    keys = "".join(f", c.{quote_identifier(c)}" for c in cls)
    if following is None:
        return (f"SELECT c.{quote_identifier(id)}{keys}, CASE WHEN {ret} THEN CAST({y} AS DOUBLE) END "
                f"AS sv_back, CASE WHEN {ret} THEN CAST({y} AS DOUBLE) END AS sv_run, "
                f"CAST(NULL AS DOUBLE) AS sv_upper, FALSE AS sv_nolink FROM {current} c")
    on = " AND ".join(f"l.{quote_identifier(c)} IS NOT DISTINCT FROM f.{quote_identifier(c)}" for c in cls) or "TRUE"
    back = (f"CASE WHEN {ret} THEN CAST({y} AS DOUBLE) WHEN f.{quote_identifier(id)} IS NOT NULL AND "
            f"{sql_finite('f.sv_back')} THEN f.sv_back / l.forward_link END")
    nolink = (f"(NOT {ret} AND f.{quote_identifier(id)} IS NOT NULL AND {sql_finite('f.sv_back')} "
              f"AND NOT {sql_finite('l.forward_link')})")
    upper = "f.sv_run" if same_year else "CAST(NULL AS DOUBLE)"
    run = (f"CASE WHEN {ret} THEN (CASE WHEN {upper} IS NOT NULL AND {upper} < {y} "
           f"THEN {upper} ELSE CAST({y} AS DOUBLE) END) ELSE {upper} END")
    return (f"SELECT c.{quote_identifier(id)}{keys}, {back} AS sv_back, {run} AS sv_run, {upper} AS sv_upper, "
            f"{nolink} AS sv_nolink FROM {current} c LEFT JOIN {following} f ON f.{quote_identifier(id)} = c.{quote_identifier(id)} "
            f"LEFT JOIN {following_links} l ON {on}")


def impute_ratio_panel(
    session: Any,
    periods: Any,
    variable: str,
    *,
    id: str = "firm_id",
    by: Any = None,
    auxiliary: str | None = None,
    marker: str | None = None,
    cumulative: bool = False,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Ratio-of-means imputation of several periods inside the SQL engine: forward,
    backward and construction, with optional cumulative bounds.

    The SQL counterpart of :func:`survey.returns.impute.ratio_of_means` on a
    panel: links of every period from returned values (:func:`ratio_links_sql`),
    backward values and upper bounds chained from the latest period back
    (:func:`backward_chain_sql`), then each period imputed in time order from
    the imputed period before it (:func:`ratio_impute_sql`).

    Parameters
    ----------
    session : Session, Engine or None
    periods : mapping of str to source
        Period label (``"2006Q1"``; labels sort in time order) to a source
        :meth:`Session.register` reads (one row per unit that should report).
    variable, id, by, auxiliary, marker
        As :func:`ratio_links_sql`.
    cumulative : bool, default=False
        Year-to-date variable: imputed values kept between the unit's value of
        the period before (same year) and its next returned value of the year.

    Returns
    -------
    (pandas.DataFrame, dict of str to pandas.DataFrame)
        The links (``period``, class columns, ``forward_link``,
        ``construction_link``, ``matched``, ``returned``) and the imputed
        periods.

    Raises
    ------
    ImputationError
        A value no link can give; the message names the period and class.

    Examples
    --------
    >>> ytd = {"2006Q1": pd.DataFrame({"firm_id": ["a", "b"], "y": [10.0, 10.0]}),
    ...        "2006Q2": pd.DataFrame({"firm_id": ["a", "b"], "y": [None, 20.0]}),
    ...        "2006Q3": pd.DataFrame({"firm_id": ["a", "b"], "y": [12.0, 30.0]})}
    >>> ytd = {p: f.assign(y_marker=["returned" if v == v else "missing" for v in f["y"]])
    ...        for p, f in ytd.items()}
    >>> _, out = impute_ratio_panel(None, ytd, "y", cumulative=True)
    >>> out["2006Q2"]["y"].tolist(), out["2006Q2"]["y_marker"].tolist()
    ([12.0, 20.0], ['forward_imputed', 'returned'])
    """
    from survey.engine import as_engine
    from survey.errors import ImputationError
    from survey.periods import parse_quarters

    labels = sorted(periods)
    sources = {}
    for label in labels:
        src = periods[label]
        if hasattr(src, "__survey_source__"):
            src, own = src.__survey_source__()
            session = own if session is None else session
        sources[label] = src
    s = as_engine(session)
    years, quarters = parse_quarters(np.asarray(labels, dtype=object), errors="coerce")
    year_of = years if (quarters > 0).all() else np.full(len(labels), -1, dtype=np.int64)
    views: list[str] = []
    cls = _class_cols(by)
    try:
        data = [s.register(sources[p]) for p in labels]
        views += data
        link_frames, link_views = [], []
        for t, label in enumerate(labels):
            frame = s.sql(ratio_links_sql(data[t], data[t - 1] if t else None, variable, id=id,
                                          by=by, auxiliary=auxiliary, marker=marker))
            link_frames.append(frame.assign(period=label))
            link_views.append(s.register(frame))
        views += link_views
        chains: list[str] = [""] * len(labels)
        for t in range(len(labels) - 1, -1, -1):
            last = t == len(labels) - 1
            chain = s.sql(backward_chain_sql(
                data[t], None if last else chains[t + 1], None if last else link_views[t + 1],
                variable, id=id, by=by, marker=marker,
                same_year=not last and year_of[t + 1] == year_of[t]))
            nolink = chain["sv_nolink"].to_numpy(dtype=bool)
            if nolink.any():  # as ratio_of_means: a backward value needs its link
                first = chain.loc[nolink].iloc[0]
                raise ImputationError(
                    f"impute_ratio_panel: no backward link for {variable!r} in period "
                    f"{labels[t]!r} ({int(nolink.sum())} values need it, first unit "
                    f"{first[id]!r}): no units returned in both {labels[t]!r} and "
                    f"{labels[t + 1]!r} in its class of {labels[t + 1]!r}; merge the class "
                    "with a neighbour (coarser 'by')")
            chains[t] = s.register(chain)
            views.append(chains[t])
        out: dict[str, pd.DataFrame] = {}
        previous = None
        for t, label in enumerate(labels):
            body = ratio_impute_sql(data[t], previous, link_views[t], variable, id=id, by=by,
                                    auxiliary=auxiliary, marker=marker, chain=chains[t],
                                    cumulative=cumulative,
                                    new_year=t > 0 and year_of[t - 1] != year_of[t])
            frame = s.sql(body)
            need = frame["sv_need"].to_numpy(dtype=bool)
            if need.any():
                first = frame.loc[need].iloc[0]
                label_cls = {c: first[c] for c in cls} if cls else "all units"
                raise ImputationError(
                    f"impute_ratio_panel: {int(need.sum())} values of {variable!r} in period "
                    f"{label!r} need a link that cannot be formed (first class {label_cls}, unit "
                    f"{first[id]!r}); merge the class with a neighbour (coarser 'by')"
                    + ("" if auxiliary else " or give an auxiliary"))
            out[label] = frame.drop(columns="sv_need")
            previous = s.register(out[label])
            views.append(previous)
    finally:
        for v in views:
            s.drop(v)
    links = pd.concat(link_frames, ignore_index=True)
    links = links[["period", *cls, *[c for c in links.columns if c not in ("period", *cls)]]]
    return links, out
