"""Checking an out-of-core design and preparing its stages, once, at construction.

The checks (missing strata or cluster keys, weights, probabilities and fpc
out of range) ride on the stage-1 pass; each later stage is one grouped
query. Per stratum of every stage the fraction, the multiplier of earlier
stages and the coefficients of
:func:`survey.estimation.structure.stage_coefficients` (fpc, take-all strata,
the lonely-PSU rules) go into a :class:`~survey.estimation.outofcore_variance.StageTable`;
the design weight is an SQL expression (with a join when it comes from the fpc).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from survey.design import Design
from survey.engine import Session, is_numeric_type, sql_finite, sql_float
from survey.errors import ColumnError, DesignError, SurveyWarning, WeightError
from survey.estimation.outofcore.queries import stage_table_sql
from survey.estimation.outofcore.tables import stage_fraction
from survey.estimation.outofcore_variance import StageTable
from survey.estimation.structure import stage_coefficients, unknown_columns_message

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class PreparedDesign:
    """The checked design of an out-of-core sample: rows, stages, df and the design weight SQL."""

    n_rows: int
    stages: tuple[StageTable, ...]
    df: int
    weight_sql: str
    weight_join: str


def _check_numeric_column(columns: dict[str, str], col: str, role: str) -> None:
    if col not in columns:
        raise ColumnError(unknown_columns_message([col], columns, role))
    if not is_numeric_type(columns[col]):
        raise ColumnError(
            f"{role} column {col!r} must be numeric, it has type {columns[col]}"
        )


def prepare_design(session: Session, src: str, design: Design, columns: dict[str, str]) -> PreparedDesign:
    """Check the design and prepare the stages; the checks ride on the stage-1 pass."""
    d, q = design, session.q
    flags: list[tuple[str, str]] = []
    key_cols = ([("strata", d.strata)] if d.strata else []) + [("clusters", c) for c in d.clusters]
    for i, (_, col) in enumerate(key_cols):
        flags.append((f"null{i}", f"{q(col)} IS NULL"))
    if d.weights is not None:
        _check_numeric_column(columns, d.weights, "weights")
        w = f"CAST({q(d.weights)} AS DOUBLE)"
        flags.append(("badw", f"NOT ({sql_finite(w)} AND {w} > 0)"))
    if d.probs is not None:
        _check_numeric_column(columns, d.probs, "probs")
        p = f"CAST({q(d.probs)} AS DOUBLE)"
        flags.append(("badp", f"NOT ({sql_finite(p)} AND {p} > 0 AND {p} <= 1)"))
    for j, col in enumerate(d.fpc):
        _check_numeric_column(columns, col, "fpc")
        f = f"CAST({q(col)} AS DOUBLE)"
        flags.append((f"badf{j}", f"NOT ({sql_finite(f)} AND {f} > 0)"))
    first = stage_table(session, src, design, 0, flags)
    check = first[["__sv_rows"] + [name for name, _ in flags]].sum(axis=0)
    n = int(check["__sv_rows"]) if len(first) else 0
    if n == 0:
        raise DesignError("the sample has no rows")
    for i, (role, col) in enumerate(key_cols):
        if int(check[f"null{i}"]):
            raise ColumnError(f"{role} column {col!r} has {int(check[f'null{i}'])} missing value(s)")
    if d.weights is not None and int(check["badw"]):
        raise WeightError(
            f"weight column {d.weights!r} must be positive and not missing; "
            f"{int(check['badw'])} row(s) are not"
        )
    if d.probs is not None and int(check["badp"]):
        raise WeightError(
            f"column {d.probs!r} must hold inclusion probabilities in (0, 1]; "
            f"{int(check['badp'])} row(s) are outside"
        )
    for j, col in enumerate(d.fpc):
        if int(check[f"badf{j}"]):
            raise DesignError(
                f"fpc column {col!r} must be positive and not missing; "
                f"{int(check[f'badf{j}'])} row(s) are not"
            )
    stages, df = build_stages(session, src, design, first)
    weight_sql, weight_join = design_weights(session, design, stages)
    return PreparedDesign(n_rows=n, stages=stages, df=df, weight_sql=weight_sql, weight_join=weight_join)


def stage_table(session: Session, src: str, design: Design, st: int,
                flags: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """Per stratum of stage ``st``: units, min and max of the fpc, rows, and sums of check flags."""
    query, alias = stage_table_sql(session.q, src, design, st, flags)
    table = session.sql(query)
    if alias:
        table = table.sort_values(alias, kind="stable").reset_index(drop=True)
    return table


def build_stages(session: Session, src: str, design: Design,
                 first: pd.DataFrame) -> tuple[tuple[StageTable, ...], int]:
    """The stage tables (stage 1 from ``first``) and the design degrees of freedom."""
    d = design
    strata_keys = (d.strata,) if d.strata else ()
    cluster_cols: tuple[str | None, ...] = d.clusters or (None,)
    stages: list[StageTable] = []
    fpc_known = True
    for st, col in enumerate(cluster_cols):
        if not fpc_known:
            break
        keys = strata_keys + tuple(c for c in d.clusters[:st])
        alias = [f"__sv_k{i}" for i in range(len(keys))]
        fpc_col = d.fpc[st] if st < len(d.fpc) else None
        table = first if st == 0 else stage_table(session, src, design, st)
        n_units = table["n_units"].to_numpy(dtype=np.int64)
        if st == 0:
            labels = (
                table[alias[0]].to_numpy(dtype=object) if alias else np.array(["(all)"], dtype=object)
            )
        else:
            labels = table[alias[-1]].astype(str).to_numpy(dtype=object)
        if fpc_col is not None:
            fraction = stage_fraction(
                table["lo"].to_numpy(float), table["hi"].to_numpy(float), n_units, labels, fpc_col, st + 1
            )
        else:
            fraction = np.zeros(len(table))
            fpc_known = False
        if st == 0:
            multiplier = np.ones(len(table))
            parent = np.zeros(len(table), dtype=np.intp)
        else:
            prev = stages[-1]
            prev_keys = prev.table[prev.aliases].assign(
                __sv_parent=np.arange(len(prev.table)),
                __sv_mult=prev.table["multiplier"].to_numpy() * prev.table["fraction"].to_numpy(),
            )
            if alias[:-1]:
                merged = table[alias[:-1]].merge(prev_keys, on=alias[:-1], how="left")
            else:
                merged = prev_keys.iloc[np.zeros(len(table), dtype=np.intp)].reset_index(drop=True)
            parent = merged["__sv_parent"].to_numpy(dtype=np.intp)
            multiplier = merged["__sv_mult"].to_numpy(dtype=float)
        sq, cross, average_out = stage_coefficients(
            n_units, fraction, multiplier, d.lonely_psu, np.asarray(labels, dtype=object), st + 1
        )
        table = table[alias + ["n_units"]].assign(
            fraction=fraction, multiplier=multiplier, label=labels, sq_coef=sq, cross_coef=cross,
            average=average_out,
        )
        stages.append(
            StageTable(keys=keys, unit=col, table=table, sq=sq, cross=cross, average_out=average_out,
                       parent=parent)
        )
    first_stage = stages[0]
    df = int(first_stage.table["n_units"].sum()) - len(first_stage.table)
    return tuple(stages), df


def design_weights(session: Session, design: Design, stages: tuple[StageTable, ...]) -> tuple[str, str]:
    """SQL of the design weight (over the source alias ``t``) and the join it needs."""
    d, q = design, session.q
    if d.weights is not None:
        return f"CAST(t.{q(d.weights)} AS DOUBLE)", ""
    if d.probs is not None:
        return f"{sql_float(1.0)} / CAST(t.{q(d.probs)} AS DOUBLE)", ""
    last = stages[-1]
    if d.fpc and len(d.fpc) >= max(len(d.clusters), 1) and np.all(last.table["fraction"] > 0):
        prob = last.table["multiplier"].to_numpy() * last.table["fraction"].to_numpy()
        if not last.keys:
            return sql_float(1.0 / float(prob[0])), ""
        wt = last.table[last.aliases].rename(columns={a: f"__sv_wk_{a}" for a in last.aliases})
        wt["__sv_wfpc"] = 1.0 / prob
        view = session.register(wt)
        on = " AND ".join(
            f"t.{q(k)} = wt.{q('__sv_wk_' + a)}" for k, a in zip(last.keys, last.aliases)
        )
        return "wt.__sv_wfpc", f"JOIN {view} wt ON {on}"
    warnings.warn(
        "no weights, probs or complete fpc given: assuming equal probability (weight 1)",
        SurveyWarning,
        stacklevel=4,
    )
    return "CAST(1 AS DOUBLE)", ""
