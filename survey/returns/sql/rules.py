"""Edit rules as SQL ``WHERE`` expressions (:func:`rule_sql`, :func:`check_sql`).

Part of :mod:`survey.returns.sql` (see its docstring and ``docs/scale.md``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from survey.errors import EditError

if TYPE_CHECKING:  # pragma: no cover
    pass
from survey.engine import sql_finite, sql_float, sql_nan
from survey.engine import quote_identifier

__all__ = ['check_sql', 'rule_sql']

# ---------------------------------------------------------------------------
# edit rules as SQL
# ---------------------------------------------------------------------------
_SQL_BINOPS = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/"}
_SQL_COMPARE = {"Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "=", "NotEq": "<>"}




def _no_nan(expr: str) -> str:
    return f"(CASE WHEN {sql_nan(expr)} THEN NULL ELSE {expr} END)"


def _ieee_function(name: str, x: str) -> str:
    """``sqrt``, ``log`` or ``log10`` of ``x`` with numpy's IEEE results outside the domain:
    ``log(0)`` is -inf, the log or square root of a negative number is NaN, missing stays
    missing. DuckDB 2 gives these itself; DuckDB 1.x raises "cannot take logarithm of zero"
    and Spark returns NULL, so the SQL says them (NaN and +inf take the function's own path:
    both engines order NaN above every number)."""
    nan = sql_float(float("nan"))
    if name == "sqrt":
        return f"(CASE WHEN {x} >= 0 THEN sqrt({x}) WHEN {x} < 0 THEN {nan} END)"
    fn = "ln" if name == "log" else "log10"
    return (f"(CASE WHEN {x} > 0 THEN {fn}({x}) WHEN {x} = 0 THEN {sql_float(-math.inf)} "
            f"WHEN {x} < 0 THEN {nan} END)")


def _rule_node(node: Any, column: Any) -> tuple[str, bool]:
    """SQL of a rule node and whether it is a truth (NULL = not evaluated)."""
    import ast

    if isinstance(node, ast.Expression):
        return _rule_node(node.body, column)
    if isinstance(node, ast.Constant):
        return sql_float(float(node.value)), False
    if isinstance(node, ast.Name):
        return f"CAST({column(node.id)} AS DOUBLE)", False
    if isinstance(node, ast.UnaryOp):
        inner, truth = _rule_node(node.operand, column)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            if not truth:
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            return f"(NOT {inner})", True
        if truth:
            raise EditError("a sign cannot be applied to a comparison")
        return (f"(-{inner})" if isinstance(node.op, ast.USub) else inner), False
    if isinstance(node, ast.BinOp):
        left, lt = _rule_node(node.left, column)
        right, rt = _rule_node(node.right, column)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            if not (lt and rt):
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            return f"({left} {'AND' if isinstance(node.op, ast.BitAnd) else 'OR'} {right})", True
        if lt or rt:
            raise EditError("arithmetic on a comparison is not allowed; compare numbers")
        if isinstance(node.op, ast.Pow):
            return f"pow({left}, {right})", False
        op = _SQL_BINOPS.get(type(node.op).__name__)
        if op is None:  # pragma: no cover - the parser refuses other operators
            raise EditError(f"operator {type(node.op).__name__} cannot be written in SQL")
        return f"({left} {op} {right})", False
    if isinstance(node, ast.BoolOp):
        parts = []
        for v in node.values:
            sql, truth = _rule_node(v, column)
            if not truth:
                raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")
            parts.append(sql)
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(parts) + ")", True
    if isinstance(node, ast.Compare):
        left, lt = _rule_node(node.left, column)
        parts = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right, rt = _rule_node(comparator, column)
            if lt or rt:
                raise EditError("comparisons of comparisons are not allowed")
            sym = _SQL_COMPARE[type(op).__name__]
            # evaluated only where both numbers are finite (NULL = not evaluated)
            parts.append(f"(CASE WHEN {sql_finite(left)} AND {sql_finite(right)} "
                         f"THEN {left} {sym} {right} END)")
            left, lt = right, rt
        return "(" + " AND ".join(parts) + ")", True
    if isinstance(node, ast.Call):
        name = node.func.id
        args = []
        for a in node.args:
            sql, truth = _rule_node(a, column)
            if truth:
                raise EditError("functions take numbers, not comparisons")
            args.append(sql)
        if name in ("min", "max") and len(args) == 2:
            # numpy fmin/fmax: a NaN (or missing) argument is ignored
            fn = "LEAST" if name == "min" else "GREATEST"
            return f"{fn}({_no_nan(args[0])}, {_no_nan(args[1])})", False
        if name == "abs" and len(args) == 1:
            return f"abs({args[0]})", False
        if name in ("sqrt", "log", "log10") and len(args) == 1:
            return _ieee_function(name, args[0]), False
        raise EditError(f"function {name}() with {len(args)} arguments cannot be written in SQL")
    raise EditError(f"rule element {type(node).__name__} cannot be written in SQL")


def rule_sql(rule: Any, quote: Any = quote_identifier) -> str:
    """An edit rule as an SQL boolean: TRUE (passes), FALSE (fails), NULL (not evaluated).

    The same three-valued logic as :meth:`survey.returns.rules.Rule.evaluate`:
    a comparison is evaluated only when both sides are finite numbers
    (missing values are NULL or NaN), ``and``/``or``/``not`` are Kleene
    logic (SQL's own), ``min``/``max`` ignore a missing argument (numpy's
    ``fmin``/``fmax``), arithmetic is IEEE (DuckDB: ``1/0`` is infinite, then
    not evaluated). Anything that cannot be written in SQL raises
    :class:`~survey.errors.EditError`.

    Parameters
    ----------
    rule : Rule or str
    quote : callable, default: DuckDB identifier quoting

    Returns
    -------
    str

    Examples
    --------
    >>> rule_sql("export_delivery_ytd <= gross_output_ytd")
    '((CASE WHEN COALESCE((CAST("export_delivery_ytd" AS DOUBLE)) - (CAST("export_delivery_ytd" AS DOUBLE)) = 0, FALSE) AND COALESCE((CAST("gross_output_ytd" AS DOUBLE)) - (CAST("gross_output_ytd" AS DOUBLE)) = 0, FALSE) THEN CAST("export_delivery_ytd" AS DOUBLE) <= CAST("gross_output_ytd" AS DOUBLE) END))'
    """
    from survey.returns.rules import Rule

    if isinstance(rule, str):
        rule = Rule(name=rule, expression=rule)
    import ast

    # the expression was checked by Rule (the safe subset); parse it again for SQL
    sql, truth = _rule_node(ast.parse(rule.expression.strip(), mode="eval"), quote)
    if not truth:  # pragma: no cover - Rule refuses numbers
        raise EditError(f"rule {rule.name!r} is a number, not a condition")
    return sql


def check_sql(
    session: Any,
    source: Any,
    rules: Any = None,
    *,
    form: Any = None,
    id: str | None = None,
    skip_missing_columns: bool | None = None,
    max_failures: int | None = None,
) -> Any:
    """:func:`survey.returns.rules.check` on a table in the SQL engine.

    One query per rule returns the counts (``evaluated``, ``failed``,
    ``not_evaluated``); one more returns the failing units with the values
    the rule saw. The per-unit ``flags`` frame of the in-memory report
    (one row per unit) is not built: it is empty here.

    Parameters
    ----------
    session : survey.engine.Session, Engine or None
        Where to run (DuckDB).
    source : view name, Parquet path, relation, QuarterRelation or DataFrame
    rules, form, id, skip_missing_columns
        As :func:`survey.returns.rules.check`.
    max_failures : int, optional
        Return at most this many failure rows (all rules together).

    Returns
    -------
    survey.returns.rules.EditReport
        ``failures`` (ordered by rule, then unit id) and ``summary`` equal to
        the in-memory report's on the same data.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [100.0, 50.0, None],
    ...                    "export_delivery_ytd": [20.0, 60.0, 5.0]})
    >>> report = check_sql(None, df, ["export_delivery_ytd <= gross_output_ytd"])
    >>> report.failures[["firm_id", "rule"]].values.tolist()
    [['b', 'export_delivery_ytd <= gross_output_ytd']]
    """
    from survey.engine import as_engine
    from survey.returns.rules import EditReport, Rule, default_rules, resolve_id

    if hasattr(source, "__survey_source__"):
        source, own = source.__survey_source__()
        session = own if session is None else session
    s = as_engine(session)
    view = s.register(source)
    try:
        columns = s.columns(view)
        unit = resolve_id(id, form)
        if unit not in columns:
            raise EditError(f"check: id column {unit!r} is not in the data")
        if rules is None:
            if form is None:
                raise EditError("check: give the rules, or form= for the default rules of a "
                                "return form")
            rules = default_rules(form)
            skip = True if skip_missing_columns is None else skip_missing_columns
        else:
            skip = bool(skip_missing_columns)
            rules = [Rule(name=r, expression=r) if isinstance(r, str) else r for r in rules]
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise EditError(f"check: rule names must be unique, got {names}")
        used, skipped = [], []
        for r in rules:
            absent = [v for v in r.variables if v not in columns]
            if absent:
                if skip:
                    skipped.append(r.name)
                    continue
                raise EditError(f"rule {r.name!r} ({r.expression}) uses columns {absent} that are "
                                "not in the data")
            used.append(r)
        q = s.q
        if used:
            counts = ", ".join(
                f"COUNT({rule_sql(r, q)}) AS e{k}, "
                f"SUM(CASE WHEN NOT {rule_sql(r, q)} THEN 1 ELSE 0 END) AS f{k}"
                for k, r in enumerate(used)
            )
            row = s.sql(f"SELECT COUNT(*) AS n, {counts} FROM {view}").iloc[0]
            n = int(row["n"])
        summary = pd.DataFrame(
            [{"rule": r.name, "severity": r.severity, "evaluated": int(row[f"e{k}"]),
              "failed": int(row[f"f{k}"] or 0), "not_evaluated": n - int(row[f"e{k}"])}
             for k, r in enumerate(used)],
            columns=["rule", "severity", "evaluated", "failed", "not_evaluated"],
        )
        parts = []
        for k, r in enumerate(used):
            if not int(row[f"f{k}"] or 0):
                continue
            values = ", ".join(f"CAST({q(v)} AS DOUBLE) AS v{j}" for j, v in enumerate(r.variables))
            parts.append((r, f"SELECT {q(unit)} AS sv_unit, {values} "
                             f"FROM {view} WHERE NOT {rule_sql(r, q)}"))
        tables = []
        limit = f" LIMIT {int(max_failures)}" if max_failures is not None else ""
        for r, part in parts:
            got = s.sql(f"{part} ORDER BY sv_unit{limit}")
            text = np.full(len(got), "", dtype=object)
            for j, v in enumerate(r.variables):
                seen = got[f"v{j}"].to_numpy(dtype=float, na_value=np.nan)
                text = text + np.array([f"{v}={x:g} " for x in seen], dtype=object)
            tables.append(pd.DataFrame({unit: got["sv_unit"].to_numpy(), "rule": r.name,
                                        "severity": r.severity, "expression": r.expression,
                                        "values": pd.Series(text).str.strip().to_numpy()}))
        failures = (pd.concat(tables, ignore_index=True) if tables
                    else pd.DataFrame(columns=[unit, "rule", "severity", "expression", "values"]))
        if max_failures is not None:
            failures = failures.head(int(max_failures))
    finally:
        s.drop(view)
    return EditReport(failures=failures, summary=summary,
                      flags=pd.DataFrame({unit: pd.Series(dtype=object)}), skipped=tuple(skipped))
