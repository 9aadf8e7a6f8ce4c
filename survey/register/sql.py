"""Register work in SQL: checks, size classes and stratum sums on registers of any size.

The in-memory :class:`survey.register.frame.Frame` checks a register held in
pandas. For a national register (tens of millions of firms, on Parquet or in
DuckDB) the same checks run as SQL in the engine (:mod:`survey.engine`),
with memory bounded by the engine's ``memory_limit``:

* :func:`check_frame`: missing and duplicate unit ids, the USCC check
  character (:func:`uscc_valid_sql`, the same rule as
  :func:`survey.register.frame.valid_uscc`, computed in SQL), sizes and
  stratum codes; raises :class:`~survey.errors.FrameError` as ``Frame`` does,
  naming unit ids instead of row labels;
* :func:`size_class_sql`: the size class of
  :meth:`survey.plan.stratify.Stratification.assign` as an SQL expression;
* :func:`stratum_moments`: per stratum (and domain) ``N``, sums and sums of
  squares: the inputs of allocation (``S_h^2`` from ``(s2 - s1^2/N)/(N-1)``).

Every function takes an ``engine`` (an :class:`~survey.engine.Engine`, a
session, ``"duckdb"``/``"spark"`` or ``None`` for DuckDB defaults) and a
``source`` (Parquet path or glob, table name, relation, pandas frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from survey.engine import (
    Engine,
    Session,
    as_engine,
    group_by,
    is_numeric_type,
    sql_finite,
    sql_float,
)
from survey.errors import ColumnError, FrameError
from survey.register.frame import USCC_ALPHABET

__all__ = ["RegisterCheck", "check_frame", "size_class_sql", "stratum_moments", "uscc_valid_sql", "valid_uscc_table"]

_DIGITS = "0123456789"


def _as_columns(columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    return list(columns)


def uscc_valid_sql(expr: str) -> str:
    """SQL boolean: ``expr`` is a valid unified social credit code (GB 32100-2015).

    The same rule as :func:`survey.register.frame.valid_uscc`: 18 characters
    from ``0-9A-HJ-NPQRTUWXY``, positions 3-8 digits, and the 18th character
    equal to ``(31 - sum_i c_i 3^(i-1) mod 31) mod 31``. Written once for
    DuckDB and Spark (``length``, ``substr``, ``instr``); missing ids are
    invalid.

    Parameters
    ----------
    expr : str
        SQL expression of the id (it is cast to a string).

    Returns
    -------
    str

    Examples
    --------
    >>> from survey.engine import Engine
    >>> s = Engine().session()
    >>> s.sql(f"SELECT {uscc_valid_sql(repr('91450100MA5KA1B2CM'))} AS ok")["ok"].item()
    True
    """
    x = f"CAST({expr} AS STRING)"
    alpha = f"'{USCC_ALPHABET}'"

    def char(i: int) -> str:
        return f"substr({x}, {i}, 1)"

    in_alphabet = " AND ".join(f"instr({alpha}, {char(i)}) > 0" for i in range(1, 19))
    digits = " AND ".join(f"instr('{_DIGITS}', {char(i)}) > 0" for i in range(3, 9))
    weighted = " + ".join(f"(instr({alpha}, {char(i)}) - 1) * {pow(3, i - 1, 31)}" for i in range(1, 18))
    check = f"(31 - ({weighted}) % 31) % 31"
    return (
        f"COALESCE(length({x}) = 18 AND {in_alphabet} AND {digits} "
        f"AND instr({alpha}, {char(18)}) - 1 = {check}, FALSE)"
    )


def valid_uscc_table(source: Any, column: str = "firm_id", *,
                     engine: Engine | Session | str | None = None) -> pd.DataFrame:
    """Each id of ``column`` with its USCC validity, computed in SQL (for checks and tests).

    Parameters
    ----------
    source : Parquet path, table name, relation or pandas.DataFrame
    column : str, default="firm_id"
    engine : Engine, Session, str or None

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` and ``valid``, in the source's order for DuckDB.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": ["91450100MA5KA1B2CM", "91450100MA5KA1B2C0"]})
    >>> valid_uscc_table(df)["valid"].tolist()
    [True, False]
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        return s.sql(f"SELECT {s.q(column)} AS id, {uscc_valid_sql(s.q(column))} AS valid FROM {view}")
    finally:
        s.drop(view)


def size_class_sql(expr: str, bounds: Sequence[float]) -> str:
    """SQL: size class ``0 .. H-1`` of a size, the number of boundaries at or below it.

    The same as :meth:`survey.plan.stratify.Stratification.assign`
    (``numpy.searchsorted(bounds, x, side="right")``).

    Examples
    --------
    >>> size_class_sql("x", [10.0, 100.0])
    "(CASE WHEN x >= CAST('10.0' AS DOUBLE) THEN 1 ELSE 0 END + CASE WHEN x >= CAST('100.0' AS DOUBLE) THEN 1 ELSE 0 END)"
    """
    b = [float(v) for v in bounds]
    if any(b[i] > b[i + 1] for i in range(len(b) - 1)):
        raise FrameError(f"size class boundaries must increase, got {b}")
    if not b:
        return "0"
    return "(" + " + ".join(f"CASE WHEN {expr} >= {sql_float(v)} THEN 1 ELSE 0 END" for v in b) + ")"


@dataclass(frozen=True, kw_only=True)
class RegisterCheck:
    """What :func:`check_frame` found: counts and examples (unit ids) per check.

    Attributes
    ----------
    N : int
        Units on the register.
    table : pandas.DataFrame
        One row per check: ``check``, ``column``, ``count``, ``examples``.
    """

    N: int
    table: pd.DataFrame

    @property
    def ok(self) -> bool:
        """True when no check found a problem."""
        return bool((self.table["count"] == 0).all())


def check_frame(
    source: Any,
    *,
    unit: str = "firm_id",
    size: str | None = None,
    strata: str | Sequence[str] | None = None,
    check_ids: bool = True,
    engine: Engine | Session | str | None = None,
    raise_errors: bool = True,
    examples: int = 5,
) -> RegisterCheck:
    """Check a register in SQL, as :class:`survey.register.frame.Frame` does in memory.

    Checks: missing unit ids, duplicate ids, invalid USCC ids (``check_ids``),
    missing, infinite or negative sizes, missing stratum codes. Two passes
    (one aggregate, one ``GROUP BY`` id for duplicates), memory bounded by the
    engine's limit.

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
    unit : str, default="firm_id"
    size : str, optional
    strata : str or list of str, optional
    check_ids : bool, default=True
        Check the USCC check character of every id.
    engine : Engine, Session, str or None
    raise_errors : bool, default=True
        Raise a :class:`~survey.errors.FrameError` for the first failed check
        (with the counts and example ids); ``False`` returns the report.
    examples : int, default=5
        Example ids per failed check.

    Returns
    -------
    RegisterCheck

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": ["91450100MA5KA1B2CM", "x", "x"], "size": [1.0, -2.0, 3.0]})
    >>> check_frame(df, size="size", raise_errors=False).table[["check", "count"]]
                 check  count
    0       missing id      0
    1     duplicate id      2
    2       invalid id      2
    3     missing size      0
    4    negative size      1
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        return _check_frame(s, view, unit, size, _as_columns(strata), check_ids, raise_errors, examples)
    finally:
        s.drop(view)


def _check_frame(s: Session, view: str, unit: str, size: str | None, strata: list[str], check_ids: bool,
                 raise_errors: bool, examples: int) -> RegisterCheck:
    q = s.q
    types = s.columns(view)
    needed = [unit, *([size] if size else []), *strata]
    missing = [c for c in needed if c not in types]
    if missing:
        raise ColumnError(f"check_frame: column(s) {missing} not in the register; available: {list(types)}")
    if size is not None and not is_numeric_type(types[size]):
        raise ColumnError(f"check_frame: size column {size!r} must be numeric, it has type {types[size]}")
    u = q(unit)
    checks: list[tuple[str, str, str]] = [("missing id", unit, f"{u} IS NULL")]
    if check_ids:
        checks.append(("invalid id", unit, f"NOT {uscc_valid_sql(u)}"))
    if size is not None:
        x = f"CAST({q(size)} AS DOUBLE)"
        checks.append(("missing size", size, f"NOT {sql_finite(x)}"))
        checks.append(("negative size", size, f"{sql_finite(x)} AND {x} < 0"))
    for col in strata:
        checks.append(("missing stratum", col, f"{q(col)} IS NULL"))
    flags = ", ".join(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS c{i}" for i, (_, _, cond) in enumerate(checks))
    counts = s.sql(f"SELECT COUNT(*) AS n, {flags} FROM {view}").iloc[0]
    N = int(counts["n"])
    dup = s.sql(
        f"SELECT COUNT(*) AS ids, SUM(n) AS n_rows FROM (SELECT {u} AS id, COUNT(*) AS n FROM {view} "
        f"WHERE {u} IS NOT NULL GROUP BY {u} HAVING COUNT(*) > 1) d"
    ).iloc[0]
    n_dup = int(dup["n_rows"]) if pd.notna(dup["n_rows"]) else 0
    rows = []
    for i, (name, col, cond) in enumerate(checks):
        n = int(counts[f"c{i}"]) if pd.notna(counts[f"c{i}"]) else 0
        ex: list[Any] = []
        if n and examples:
            ex = s.sql(f"SELECT {u} AS id FROM {view} WHERE {cond} ORDER BY {u} LIMIT {int(examples)}")["id"].tolist()
        rows.append((name, col, n, ex))
        if name == "missing id":
            ex_dup = []
            if n_dup and examples:
                ex_dup = s.sql(
                    f"SELECT {u} AS id, COUNT(*) AS n FROM {view} WHERE {u} IS NOT NULL GROUP BY {u} "
                    f"HAVING COUNT(*) > 1 ORDER BY {u} LIMIT {int(examples)}"
                )["id"].tolist()
            rows.append(("duplicate id", unit, n_dup, ex_dup))
    table = pd.DataFrame(rows, columns=["check", "column", "count", "examples"])
    result = RegisterCheck(N=N, table=table)
    if raise_errors:
        _raise_first(result)
    return result


_HINTS = {
    "missing id": "give every unit an id.",
    "duplicate id": "merge or remove the duplicates.",
    "invalid id": "correct them or use check_ids=False.",
    "missing size": "impute a size or drop those units.",
    "negative size": "sizes must be >= 0.",
    "missing stratum": "code them (e.g. 'unknown') or drop them.",
}


def _raise_first(result: RegisterCheck) -> None:
    for row in result.table.itertuples(index=False):
        if row.count:
            shown = ", ".join(map(repr, row.examples))
            more = f" and {row.count - len(row.examples)} more" if row.count > len(row.examples) else ""
            what = {"missing id": "missing unit id(s)", "duplicate id": "rows with duplicate unit ids",
                    "invalid id": "invalid USCC id(s)", "missing size": "missing or infinite size value(s)",
                    "negative size": "negative size value(s)",
                    "missing stratum": "missing stratum code(s)"}[row.check]
            where = f" (ids {shown}{more})" if row.examples and row.check != "missing id" else ""
            raise FrameError(f"register: {row.count} {what} in column {row.column!r}{where}; {_HINTS[row.check]}")


def stratum_moments(
    source: Any,
    variables: Sequence[str],
    *,
    strata: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    where: str | None = None,
    engine: Engine | Session | str | None = None,
) -> pd.DataFrame:
    """Per stratum (and domain): ``N``, sums and sums of squares of variables, in one SQL pass.

    The allocation inputs of :func:`survey.plan.allocation.allocate_multivariate`
    (``s1``, ``s2``, ``N`` per stratum x domain), and of Neyman allocation
    (``S_h^2 = (s2 - s1^2 / N) / (N - 1)``). Missing values count as 0, as
    :meth:`survey.register.frame.Frame.totals`.

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
    variables : list of str
        Numeric columns.
    strata, by : str or list of str, optional
        Stratum columns and domain columns.
    where : str, optional
        SQL condition selecting units (e.g. ``"part = 'sample'"``).
    engine : Engine, Session, str or None

    Returns
    -------
    pandas.DataFrame
        The strata and domain columns (sorted), ``N``, and ``{v}_sum``,
        ``{v}_sumsq`` per variable.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"h": ["a", "a", "b"], "y": [1.0, 3.0, 5.0]})
    >>> stratum_moments(df, ["y"], strata="h")
       h  N  y_sum  y_sumsq
    0  a  2    4.0     10.0
    1  b  1    5.0     25.0
    """
    s = as_engine(engine)
    view = s.register(source)
    try:
        q = s.q
        types = s.columns(view)
        keys = _as_columns(strata) + _as_columns(by)
        unknown = [c for c in [*keys, *variables] if c not in types]
        if unknown:
            raise ColumnError(f"stratum_moments: unknown column(s) {unknown}")
        for v in variables:
            if not is_numeric_type(types[v]):
                raise ColumnError(f"stratum_moments: variable {v!r} must be numeric, it has type {types[v]}")
        agg = ["COUNT(*) AS N"]
        for v in variables:
            x = f"COALESCE(CAST({q(v)} AS DOUBLE), 0)"
            agg += [f"SUM({x}) AS {q(v + '_sum')}", f"SUM({x} * {x}) AS {q(v + '_sumsq')}"]
        sel = [q(c) for c in keys]
        cond = f"WHERE {where}" if where else ""
        out = s.sql(f"SELECT {', '.join(sel + agg)} FROM {view} {cond} {group_by(sel)}")
        if keys:
            out = out.sort_values(keys, kind="stable").reset_index(drop=True)
        out["N"] = out["N"].astype(np.int64)
        return out
    finally:
        s.drop(view)
