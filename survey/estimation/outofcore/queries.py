"""The SQL text of the out-of-core summary queries.

Every estimate of :class:`~survey.estimation.outofcore.OutOfCoreSurvey` is a
few grouped queries over the sample relation (alias ``b``): per stratum of a
stage (units, fpc range, check flags), per stratum x domain (sums of scores,
their squares and cross products; a clustered stage totals its PSUs first,
inside the query), per domain x cell after weighting (right-hand sides of the
residual model) and per stratum x cell (sums of the model weights). The
functions here only write that SQL text; :mod:`.passes` runs it and
:mod:`.tables` finishes the results in numpy.

Column names of the results: ``__sv_k*`` stratum keys, ``__sv_u`` the unit
(PSU), ``__sv_d*`` domain columns, ``__sv_c*`` cell codes, ``s{j}`` sums,
``q{a}_{b}`` cross products, ``c{j}`` counts, ``bad{j}`` missing values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from survey.design import Design
from survey.engine import group_by
from survey.estimation.outofcore.weighting import SQLWeighting
from survey.estimation.outofcore_variance import StageTable

__all__: list[str] = []

W = "__sv_w"  # final weight column of the relation
W0 = "__sv_w0"  # design (input) weight column
ZERO = "CAST(0 AS DOUBLE)"

Quote = Callable[[str], str]


def sum_flag(cond: str) -> str:
    """SQL that counts the rows meeting ``cond``."""
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"


def where_sql(condition: str | None) -> str:
    """The ``WHERE`` clause of a subset condition (empty without one)."""
    return f"WHERE {condition}" if condition else ""


def stage_table_sql(q: Quote, src: str, design: Design, st: int,
                    flags: Sequence[tuple[str, str]] = ()) -> tuple[str, list[str]]:
    """Per stratum of stage ``st``: units, min and max of the fpc, rows, and sums of check flags.

    Returns the query and the aliases of its stratum keys.
    """
    d = design
    strata_keys = (d.strata,) if d.strata else ()
    keys = strata_keys + tuple(d.clusters[:st])
    col = d.clusters[st] if st < len(d.clusters) else None
    alias = [f"__sv_k{i}" for i in range(len(keys))]
    sel = [f"{q(k)} AS {a}" for k, a in zip(keys, alias)]
    fpc_col = d.fpc[st] if st < len(d.fpc) else None
    fexpr = f"CAST({q(fpc_col)} AS DOUBLE)" if fpc_col else "CAST(1 AS DOUBLE)"
    agg = [f"MIN({fexpr}) AS lo", f"MAX({fexpr}) AS hi", "COUNT(*) AS __sv_rows"]
    agg += [f"{sum_flag(cond)} AS {name}" for name, cond in flags]
    if col is None:
        query = (f"SELECT {', '.join(sel + ['COUNT(*) AS n_units'] + agg)} FROM {src} "
                 f"{group_by(alias)}")
    else:
        inner = f"SELECT {', '.join(sel + agg)} FROM {src} {group_by([*alias, q(col)])}"
        outer = ["COUNT(*) AS n_units", "MIN(lo) AS lo", "MAX(hi) AS hi", "SUM(__sv_rows) AS __sv_rows"]
        outer += [f"SUM({name}) AS {name}" for name, _ in flags]
        query = f"SELECT {', '.join([*alias] + outer)} FROM ({inner}) u {group_by(alias)}"
    return query, alias


def inner_sql(q: Quote, relation: str, condition: str | None, st: StageTable, zs: list[str],
              valid: list[str], by: list[str], join: str, extra: Sequence[str] = ()) -> str:
    """Rows of the estimation pass: stratum keys, unit, domain, weight, scores and validity flags."""
    sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
    if st.unit is not None:
        sel.append(f"b.{q(st.unit)} AS __sv_u")
    sel += [f"b.{q(c)} AS __sv_d{i}" for i, c in enumerate(by)]
    sel.append(f"b.{W} AS __sv_wt")
    for j, (z, v) in enumerate(zip(zs, valid)):
        sel.append(f"{z} AS __sv_z{j}")
        sel.append(f"CASE WHEN {v} THEN 1 ELSE 0 END AS __sv_v{j}")
    sel += list(extra)
    return f"SELECT {', '.join(sel)} FROM {relation} b {join} {where_sql(condition)}"


def counts_sql(k: int) -> list[str]:
    """Counts of rows with a positive weight and a valid value, and of missing values, per score."""
    return ([f"SUM(CASE WHEN __sv_wt > 0 AND __sv_v{j} = 1 THEN 1 ELSE 0 END) AS c{j}" for j in range(k)]
            + [f"SUM(1 - __sv_v{j}) AS bad{j}" for j in range(k)])


def stage_query_sql(q: Quote, relation: str, condition: str | None, st: StageTable, zs: list[str],
                    valid: list[str], by: list[str], join: str, counts: bool = True) -> str:
    """Per stratum x domain: sums and cross products of the unit totals of the scores (and the
    counts of :func:`counts_sql` unless ``counts=False``, at a stage of rows: the residual pass
    after weighting, whose counts come from its first pass)."""
    k = len(zs)
    K = st.aliases
    dal = [f"__sv_d{i}" for i in range(len(by))]
    inner = inner_sql(q, relation, condition, st, zs, valid, by, join)
    if st.unit is None:
        agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
        agg += [f"SUM(__sv_z{a} * __sv_z{b}) AS q{a}_{b}" for a in range(k) for b in range(a, k)]
        agg += counts_sql(k) if counts else []
        return f"SELECT {', '.join(K + dal + agg)} FROM ({inner}) r {group_by(K + dal)}"
    # a clustered stage: unit (PSU) x domain totals first, inside the query
    mid_agg = ["COUNT(*) AS __sv_n"] + [f"SUM(__sv_z{j}) AS a{j}" for j in range(k)]
    mid_agg += [x.replace(" AS c", " AS n").replace(" AS bad", " AS m") for x in counts_sql(k)]
    mid = f"SELECT {', '.join(K + ['__sv_u'] + dal + mid_agg)} FROM ({inner}) r {group_by(K + ['__sv_u'] + dal)}"
    agg = ["SUM(__sv_n) AS __sv_rows"] + [f"SUM(a{j}) AS s{j}" for j in range(k)]
    agg += [f"SUM(a{a} * a{b}) AS q{a}_{b}" for a in range(k) for b in range(a, k)]
    agg += [f"SUM(n{j}) AS c{j}" for j in range(k)] + [f"SUM(m{j}) AS bad{j}" for j in range(k)]
    return f"SELECT {', '.join(K + dal + agg)} FROM ({mid}) u {group_by(K + dal)}"


def stage_query_calibrated_sql(q: Quote, relation: str, condition: str | None, st: StageTable,
                               wg: SQLWeighting, zs: list[str], valid: list[str], by: list[str],
                               join: str) -> str:
    """Clustered stage after weighting: score sums per unit x domain x cell."""
    k = len(zs)
    dal = [f"__sv_d{i}" for i in range(len(by))]
    C = [f"__sv_c{m}" for m in range(len(wg.margins))]
    inner = inner_sql(q, relation, condition, st, zs, valid, by, join, [f"b.{c} AS {c}" for c in C])
    agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
    groups = st.aliases + ["__sv_u"] + dal + C
    return f"SELECT {', '.join(groups + agg + counts_sql(k))} FROM ({inner}) r {group_by(groups)}"


def model_sums_sql(q: Quote, relation: str, st: StageTable, wg: SQLWeighting) -> str:
    """Sums of the model weights per stratum x cell (element stage) or unit x cell, over all rows."""
    K = st.aliases
    C = [f"__sv_c{m}" for m in range(len(wg.margins))]
    p = len(wg.numeric)
    sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
    if st.unit is not None:
        sel.append(f"b.{q(st.unit)} AS __sv_u")
    sel += [f"b.{c} AS {c}" for c in C]
    sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
    sel.append(f"{wg.model_weight_sql('b')} AS __sv_m")
    inner = f"SELECT {', '.join(sel)} FROM {relation} b"
    agg = ["SUM(__sv_m) AS mb"] + [f"SUM(__sv_m * __sv_x{i}) AS mbx{i}" for i in range(p)]
    if st.unit is None:
        agg += ["SUM(__sv_m * __sv_m) AS m0"]
        agg += [f"SUM(__sv_m * __sv_m * __sv_x{i}) AS m1_{i}" for i in range(p)]
        agg += [f"SUM(__sv_m * __sv_m * __sv_x{a} * __sv_x{b}) AS m2_{a}_{b}"
                for a in range(p) for b in range(a, p)]
        groups = K + C
    else:
        groups = K + ["__sv_u"] + C
    return f"SELECT {', '.join(groups + agg)} FROM ({inner}) r {group_by(groups)}"


def model_sums_by_domain_sql(q: Quote, relation: str, condition: str | None, st: StageTable,
                             wg: SQLWeighting, by: list[str]) -> str:
    """Model-weight sums per stratum x (inside the subset) x domain x cell, over all rows
    (with the row count ``mn`` and the centred co-moments ``mc{a}_{b}`` of ``(m, m x)``)."""
    K = st.aliases
    dal = [f"__sv_d{i}" for i in range(len(by))]
    C = [f"__sv_c{m}" for m in range(len(wg.margins))]
    p = len(wg.numeric)
    inside = f"CASE WHEN {condition} THEN 1 ELSE 0 END" if condition else "1"
    sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
    sel += [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)] + [f"b.{c} AS {c}" for c in C]
    sel += [f"{inside} AS __sv_in", f"{wg.model_weight_sql('b')} AS __sv_m"]
    sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
    agg = ["SUM(__sv_m) AS mb", "SUM(__sv_m * __sv_m) AS m0"]
    agg += [f"SUM(__sv_m * __sv_x{i}) AS mbx{i}" for i in range(p)]
    agg += [f"SUM(__sv_m * __sv_m * __sv_x{i}) AS m1_{i}" for i in range(p)]
    agg += [f"SUM(__sv_m * __sv_m * __sv_x{a} * __sv_x{b}) AS m2_{a}_{b}" for a in range(p) for b in range(a, p)]
    # centred co-moments of u = (m, m x) (COVAR_POP is computed stably, by updates): the
    # variance of a stratum's model terms without the difference of two large sums
    u = ["__sv_m"] + [f"__sv_m * __sv_x{i}" for i in range(p)]
    agg += ["COUNT(*) AS mn"] + [f"COVAR_POP({u[a]}, {u[b]}) * COUNT(*) AS mc{a}_{b}"
                                 for a in range(p + 1) for b in range(a, p + 1)]
    groups = K + ["__sv_in"] + dal + C
    return (f"SELECT {', '.join(groups + agg)} FROM (SELECT {', '.join(sel)} FROM {relation} b) r "
            f"{group_by(groups)}")


def units_sql(q: Quote, relation: str, st: StageTable) -> str:
    """The distinct units (stratum keys and unit) of a clustered stage."""
    return (f"SELECT DISTINCT {', '.join([f'b.{q(kc)} AS {a}' for kc, a in zip(st.keys, st.aliases)] + [f'b.{q(st.unit)} AS __sv_u'])} "
            f"FROM {relation} b")


def ratio_totals_sql(q: Quote, relation: str, condition: str | None, ys: list[str], xs: list[str],
                     valid: list[str], by: list[str], join: str) -> str:
    """First pass of a ratio: per domain, the totals of ``w y`` and ``w x`` and missing values."""
    k = len(ys)
    dal = [f"__sv_d{i}" for i in range(len(by))]
    sel = [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)]
    for j in range(k):
        sel.append(f"CASE WHEN {valid[j]} THEN b.{W} * {ys[j]} ELSE {ZERO} END AS __sv_y{j}")
        sel.append(f"CASE WHEN {valid[j]} THEN b.{W} * {xs[j]} ELSE {ZERO} END AS __sv_x{j}")
        sel.append(f"CASE WHEN {valid[j]} THEN 0 ELSE 1 END AS __sv_b{j}")
    agg = ["COUNT(*) AS __sv_rows"]
    for j in range(k):
        agg += [f"SUM(__sv_y{j}) AS y{j}", f"SUM(__sv_x{j}) AS x{j}", f"SUM(__sv_b{j}) AS bad{j}"]
    return (f"SELECT {', '.join(dal + agg)} FROM (SELECT {', '.join(sel)} FROM {relation} b "
            f"{join} {where_sql(condition)}) t {group_by(dal)}")


def calibrated_totals_sql(q: Quote, relation: str, condition: str | None, wg: SQLWeighting,
                          zs: list[str], valid: list[str], by: list[str], join: str) -> str:
    """First pass after weighting: per domain x cell, right-hand sides of the residual model,
    point sums and counts."""
    k = len(zs)
    dal = [f"__sv_d{i}" for i in range(len(by))]
    C = [f"__sv_c{m}" for m in range(len(wg.margins))]
    p = len(wg.numeric)
    sel = [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)] + [f"b.{c} AS {c}" for c in C]
    sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
    sel.append(f"b.{W} AS __sv_wt")
    for j, (z, v) in enumerate(zip(zs, valid)):
        sel += [f"{z} AS __sv_z{j}", f"CASE WHEN {v} THEN 1 ELSE 0 END AS __sv_v{j}",
                f"{wg.rhs_sql('b', z)} AS __sv_r{j}"]
    agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
    agg += [f"SUM(__sv_r{j}) AS r{j}" for j in range(k)]
    agg += [f"SUM(__sv_r{j} * __sv_x{i}) AS rx{j}_{i}" for j in range(k) for i in range(p)]
    return (f"SELECT {', '.join(dal + C + agg + counts_sql(k))} FROM (SELECT {', '.join(sel)} "
            f"FROM {relation} b {join} {where_sql(condition)}) r {group_by(dal + C)}")


def levels_sql(relation: str, condition: str | None, col: str, present: str) -> str:
    """The levels of a categorical column with their rows and rows with a value (proportions)."""
    return (f"SELECT __sv_level, {sum_flag('__sv_ok = 1')} AS ok, COUNT(*) AS n FROM "
            f"(SELECT {col} AS __sv_level, CASE WHEN {present} THEN 1 ELSE 0 END AS __sv_ok "
            f"FROM {relation} b {where_sql(condition)}) t GROUP BY __sv_level")
