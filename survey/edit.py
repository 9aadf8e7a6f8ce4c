"""Edit rules, unit-error detection and selective editing of returns.

Rules are readable expressions over the columns of a returns frame (one
row per firm), written in a small, safe subset of Python syntax::

    export_delivery_ytd <= gross_output_ytd
    gross_output_ytd >= 0
    gross_output_ytd >= gross_output_ytd_previous          # cumulative not decreasing
    0.2 <= gross_output_ytd / gross_output_ytd_last_year <= 5

Allowed: column names, numbers, ``+ - * / **``, comparisons (chained too),
``and``/``or``/``not`` (also ``& | ~``) and the functions ``abs``, ``log``,
``log10``, ``sqrt``, ``min``, ``max`` (element-wise). Anything else (attribute
access, subscripts, other calls, strings) is refused by the parser, so a rule
file cannot run code. A rule is *evaluated* for a firm only when all the
numbers it needs are finite; a comparison with a missing value is "not
evaluated" (missing items go to imputation, not to editing), with Kleene
logic for ``and``/``or`` (``False and missing`` is ``False``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import EditError

__all__ = [
    "EditReport",
    "Rule",
    "UnitErrors",
    "check",
    "default_rules",
    "detect_unit_errors",
    "selective_editing_scores",
]

_MONEY = ("gross_output", "export_delivery", "sales_output", "revenue", "profit_tax")
_FUNCTIONS = {
    "abs": np.abs,
    "log": np.log,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "min": np.fmin,
    "max": np.fmax,
}
_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


# ---------------------------------------------------------------------------
# the rule language
# ---------------------------------------------------------------------------
class _Truth:
    """Three-valued truth: ``value`` where ``known``, unknown elsewhere."""

    __slots__ = ("known", "value")

    def __init__(self, value: np.ndarray, known: np.ndarray) -> None:
        self.value = value & known
        self.known = known


def _parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise EditError(f"edit rule {expression!r} is not a valid expression: {exc.msg}") from exc
    for node in ast.walk(tree):
        ok = isinstance(
            node,
            (
                ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name,
                ast.Load, ast.Constant, ast.Call, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
                ast.Invert, ast.BitAnd, ast.BitOr, *_BINOPS, *_COMPARE,
            ),
        )  # fmt: skip
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            ok = False
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            ok = False
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords
        ):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise EditError(
                f"edit rule {expression!r}: function {name!r} is not allowed; "
                f"use one of {sorted(_FUNCTIONS)}"
            )
        if not ok:
            raise EditError(
                f"edit rule {expression!r}: {type(node).__name__} "
                f"({ast.unparse(node) if isinstance(node, ast.expr) else ''}) is not allowed; "
                "rules use column names, numbers, arithmetic, comparisons and and/or/not"
            )
    return tree


def _names(tree: ast.AST) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            seen[node.id] = None
    return tuple(seen)


def _evaluate(node: ast.AST, columns: dict[str, np.ndarray], n: int) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, columns, n)
    if isinstance(node, ast.Constant):
        return np.full(n, float(node.value))
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, columns, n)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            truth = _as_truth(inner)
            return _Truth(~truth.value, truth.known)
        if isinstance(inner, _Truth):
            raise EditError("a sign cannot be applied to a comparison")
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left, columns, n)
        right = _evaluate(node.right, columns, n)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            return _combine(isinstance(node.op, ast.BitAnd), [_as_truth(left), _as_truth(right)])
        if isinstance(left, _Truth) or isinstance(right, _Truth):
            raise EditError("arithmetic on a comparison is not allowed; compare numbers")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.BoolOp):
        parts = [_as_truth(_evaluate(v, columns, n)) for v in node.values]
        return _combine(isinstance(node.op, ast.And), parts)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, columns, n)
        parts = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, columns, n)
            if isinstance(left, _Truth) or isinstance(right, _Truth):
                raise EditError("comparisons of comparisons are not allowed")
            known = np.isfinite(left) & np.isfinite(right)
            with np.errstate(invalid="ignore"):
                parts.append(_Truth(_COMPARE[type(op)](left, right), known))
            left = right
        return _combine(True, parts)
    if isinstance(node, ast.Call):
        args = [_evaluate(a, columns, n) for a in node.args]
        if any(isinstance(a, _Truth) for a in args):
            raise EditError("functions take numbers, not comparisons")
        with np.errstate(divide="ignore", invalid="ignore"):
            return _FUNCTIONS[node.func.id](*args)
    raise EditError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover - parser refuses


def _as_truth(value: Any) -> _Truth:
    if isinstance(value, _Truth):
        return value
    raise EditError("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")


def _combine(conjunction: bool, parts: list[_Truth]) -> _Truth:
    value, known = parts[0].value, parts[0].known
    for p in parts[1:]:
        if conjunction:  # Kleene AND: False if any known False
            false = (known & ~value) | (p.known & ~p.value)
            true = value & p.value
            known, value = false | true, true
        else:
            true = value | p.value
            false = known & ~value & p.known & ~p.value
            known, value = true | false, true
    return _Truth(value, known)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One edit rule: a readable condition that a clean return satisfies.

    Parameters
    ----------
    name : str
        Short id used in the failure table.
    expression : str
        The condition (see the module docstring for the language).
    severity : {"hard", "soft"}, default="hard"
        ``"hard"``: the value is wrong (fatal edit); ``"soft"``: the value
        is suspicious and worth a query (query edit).
    description : str, default=""

    Examples
    --------
    >>> r = Rule(name="export", expression="export_delivery_ytd <= gross_output_ytd")
    >>> r.variables
    ('export_delivery_ytd', 'gross_output_ytd')
    >>> Rule(name="bad", expression="__import__('os')")
    Traceback (most recent call last):
    ...
    survey.errors.EditError: edit rule "__import__('os')": function '__import__' is not allowed; use one of ['abs', 'log', 'log10', 'max', 'min', 'sqrt']
    """

    name: str
    expression: str
    severity: str = "hard"
    description: str = ""
    _tree: ast.Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.severity not in ("hard", "soft"):
            raise EditError(f"rule {self.name!r}: severity must be 'hard' or 'soft', got {self.severity!r}")
        object.__setattr__(self, "_tree", _parse(self.expression))
        probe = _evaluate(self._tree, {v: np.zeros(1) for v in self.variables}, 1)
        if not isinstance(probe, _Truth):
            raise EditError(
                f"rule {self.name!r}: {self.expression!r} is a number, not a condition; "
                "add a comparison such as '>= 0'"
            )

    @property
    def variables(self) -> tuple[str, ...]:
        """Column names the rule uses, in order of appearance."""
        return _names(self._tree)

    def evaluate(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate on a frame: (passes, evaluated) boolean arrays.

        Parameters
        ----------
        data : pandas.DataFrame

        Returns
        -------
        tuple of numpy.ndarray
            ``passes`` is True where the rule holds, ``evaluated`` where all
            its numbers were present.

        Examples
        --------
        >>> df = pd.DataFrame({"a": [1.0, -1.0, None]})
        >>> passes, evaluated = Rule(name="pos", expression="a >= 0").evaluate(df)
        >>> passes.tolist(), evaluated.tolist()
        ([True, False, False], [True, True, False])
        """
        missing = [v for v in self.variables if v not in data.columns]
        if missing:
            raise EditError(
                f"rule {self.name!r} ({self.expression}) uses columns {missing} that are not in "
                "the data"
            )
        columns = {}
        for v in self.variables:
            try:
                columns[v] = data[v].to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise EditError(f"rule {self.name!r}: column {v!r} is not numeric") from exc
        truth = _evaluate(self._tree, columns, len(data))
        return truth.value & truth.known, truth.known


def default_rules(
    indicators: tuple[str, ...] | list[str] = (*_MONEY, "employees"),
    *,
    growth_bounds: tuple[float, float] = (0.2, 5.0),
) -> tuple[Rule, ...]:
    """The default rule set for the indicators of the report.

    Hard rules: money and employees not negative (``profit_tax`` may be
    negative), export delivery not above gross output, year-to-date values
    not below the previous quarter's (``{var}_ytd_previous``). Soft rules:
    year-to-date profit and tax not below the previous quarter's (a loss can
    make it fall), sales output not above 1.5 times gross output,
    year-on-year ratio of each indicator within ``growth_bounds``.

    Parameters
    ----------
    indicators : sequence of str
    growth_bounds : tuple of float, default=(0.2, 5.0)
        Bounds of ``{var}_ytd / {var}_ytd_last_year``.

    Returns
    -------
    tuple of Rule

    Examples
    --------
    >>> [r.name for r in default_rules(["gross_output", "export_delivery"])][:4]
    ['gross_output_nonnegative', 'export_delivery_nonnegative', 'export_within_output', 'gross_output_cumulative']
    """
    low, high = growth_bounds
    rules = [
        Rule(name=f"{v}_nonnegative", expression=f"{v}_ytd >= 0",
             description=f"{v} cannot be negative")
        for v in indicators if v != "profit_tax"
    ]  # fmt: skip
    if "export_delivery" in indicators and "gross_output" in indicators:
        rules.append(
            Rule(
                name="export_within_output",
                expression="export_delivery_ytd <= gross_output_ytd",
                description="export delivery value is part of gross output",
            )
        )
    rules += [
        Rule(name=f"{v}_cumulative", expression=f"{v}_ytd >= {v}_ytd_previous",
             description="a year-to-date value cannot fall during the year")
        for v in indicators if v in _MONEY and v != "profit_tax"
    ]  # fmt: skip
    if "profit_tax" in indicators:
        rules.append(
            Rule(
                name="profit_tax_cumulative",
                expression="profit_tax_ytd >= profit_tax_ytd_previous",
                severity="soft",
                description="profit and tax fall during the year only with a loss in the quarter",
            )
        )
    if "sales_output" in indicators and "gross_output" in indicators:
        rules.append(
            Rule(
                name="sales_near_output",
                expression="sales_output_ytd <= 1.5 * gross_output_ytd",
                severity="soft",
                description="sales output rarely exceeds gross output by half",
            )
        )
    rules += [
        Rule(name=f"{v}_growth", expression=f"{low} <= {v}_ytd / {v}_ytd_last_year <= {high}",
             severity="soft", description=f"year-on-year ratio of {v} within [{low}, {high}]")
        for v in indicators if v != "profit_tax"
    ]  # fmt: skip
    return tuple(rules)


# ---------------------------------------------------------------------------
# checking
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class EditReport:
    """Result of :func:`check`.

    Attributes
    ----------
    failures : pandas.DataFrame
        One row per failed (unit, rule): ``{unit}, rule, severity,
        expression, values`` (the values the rule saw, as text).
    summary : pandas.DataFrame
        Per rule: ``rule, severity, evaluated, failed, not_evaluated``.
    flags : pandas.DataFrame
        One row per unit (input order), one boolean column per rule.
    skipped : tuple of str
        Default rules skipped because their columns are absent.
    """

    failures: pd.DataFrame
    summary: pd.DataFrame
    flags: pd.DataFrame
    skipped: tuple[str, ...] = ()

    def failed_units(self, severity: str | None = None) -> np.ndarray:
        """Ids of units failing at least one rule (of a severity, if given)."""
        table = self.failures
        if severity is not None:
            table = table[table["severity"] == severity]
        return table.iloc[:, 0].unique()

    def __str__(self) -> str:
        units = len(self.failed_units())
        return (
            f"{len(self.failures)} rule failures in {units} of {len(self.flags)} units "
            f"({len(self.summary)} rules checked, {len(self.skipped)} skipped)"
        )


def check(
    data: pd.DataFrame,
    rules: tuple[Rule, ...] | list[Rule] | list[str] | None = None,
    *,
    unit: str = "firm_id",
    skip_missing_columns: bool | None = None,
) -> EditReport:
    """Apply edit rules to a returns frame.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (e.g. :meth:`survey.ledger.Ledger.to_frame`).
    rules : sequence of Rule or str, optional
        Rules (strings are turned into hard rules named by their text);
        default :func:`default_rules`.
    unit : str, default="firm_id"
        Unit id column.
    skip_missing_columns : bool, optional
        Skip rules whose columns are absent instead of raising
        :class:`~survey.errors.EditError`; default True for the default rule
        set, False for rules you give.

    Returns
    -------
    EditReport

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [100.0, 50.0, None],
    ...                    "export_delivery_ytd": [20.0, 60.0, 5.0]})
    >>> report = check(df, ["export_delivery_ytd <= gross_output_ytd", "gross_output_ytd >= 0"])
    >>> report.failures[["firm_id", "rule"]].values.tolist()
    [['b', 'export_delivery_ytd <= gross_output_ytd']]
    >>> report.summary[["evaluated", "failed", "not_evaluated"]].values.tolist()
    [[2, 1, 1], [2, 0, 1]]
    """
    if unit not in data.columns:
        raise EditError(f"check: unit column {unit!r} is not in the data")
    if rules is None:
        rules = default_rules()
        skip = True if skip_missing_columns is None else skip_missing_columns
    else:
        skip = bool(skip_missing_columns)
        rules = [Rule(name=r, expression=r) if isinstance(r, str) else r for r in rules]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise EditError(f"check: rule names must be unique, got {names}")
    ids = data[unit].to_numpy()
    flags: dict[str, np.ndarray] = {}
    summary, failures, skipped = [], [], []
    for r in rules:
        if skip and any(v not in data.columns for v in r.variables):
            skipped.append(r.name)
            continue
        passes, evaluated = r.evaluate(data)
        failed = evaluated & ~passes
        flags[r.name] = failed
        summary.append(
            {
                "rule": r.name,
                "severity": r.severity,
                "evaluated": int(evaluated.sum()),
                "failed": int(failed.sum()),
                "not_evaluated": int((~evaluated).sum()),
            }
        )
        if failed.any():
            values = np.full(int(failed.sum()), "", dtype=object)
            for v in r.variables:
                seen = data.loc[failed, v].to_numpy(dtype=float, na_value=np.nan)
                values = values + np.array([f"{v}={x:g} " for x in seen], dtype=object)
            values = pd.Series(values).str.strip()
            failures.append(
                pd.DataFrame(
                    {
                        unit: ids[failed],
                        "rule": r.name,
                        "severity": r.severity,
                        "expression": r.expression,
                        "values": values.to_numpy(),
                    }
                )
            )
    table = (
        pd.concat(failures, ignore_index=True)
        if failures
        else pd.DataFrame(columns=[unit, "rule", "severity", "expression", "values"])
    )
    flag_frame = pd.DataFrame(flags, index=data.index)
    flag_frame.insert(0, unit, ids)
    return EditReport(
        failures=table,
        summary=pd.DataFrame(
            summary, columns=["rule", "severity", "evaluated", "failed", "not_evaluated"]
        ),
        flags=flag_frame.reset_index(drop=True),
        skipped=tuple(skipped),
    )


# ---------------------------------------------------------------------------
# unit errors (yuan instead of thousand yuan)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class UnitErrors:
    """Result of :func:`detect_unit_errors`.

    Attributes
    ----------
    flags : pandas.DataFrame
        One row per suspected unit error: ``{unit}, column, value, reference,
        reference_column, ratio, corrected``.
    corrected : pandas.DataFrame
        A copy of the data with the flagged values divided by ``factor``.
    factor : float
    """

    flags: pd.DataFrame
    corrected: pd.DataFrame
    factor: float

    def __str__(self) -> str:
        return f"{len(self.flags)} values look {self.factor:g} times too large (unit errors)"


def detect_unit_errors(
    data: pd.DataFrame,
    variables: tuple[str, ...] | list[str] = _MONEY,
    *,
    unit: str = "firm_id",
    references: tuple[str, ...] = ("{var}_ytd_last_year", "{var}_ytd_previous"),
    register: str | None = "revenue_prev_year",
    size: str | None = "employees_ytd",
    period: str | None = None,
    factor: float = 1000.0,
    tolerance: float = 0.5,
) -> UnitErrors:
    """Find and correct values reported in yuan instead of thousand yuan.

    A value ``{var}_ytd`` is flagged when the ratio of its absolute value to
    a reference is within ``factor`` times ``10**(±tolerance)`` (by default
    between 316 and 3162). References are tried in order, the first one
    present and non-zero is used:

    1. the columns of ``references`` (same period of last year, previous
       quarter's year-to-date value);
    2. the register's last-year revenue scaled to the quarter (for
       ``gross_output``, ``sales_output`` and ``revenue``);
    3. the firm's size: ``size`` (employees) times the median of
       ``{var}_ytd / size`` over all units (value per employee).

    A unit error is a property of the form: when at least two money values
    of a unit and at least half of its non-zero ones are flagged, its other
    non-zero values are flagged too (``reference_column`` is ``"form"``).
    A last-year value about ``factor`` times *larger* than this year's is
    flagged as well (``column`` names it).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit with ``{var}_ytd`` columns.
    variables : sequence of str, default=money indicators
    unit : str, default="firm_id"
    references : tuple of str
        Column patterns with ``{var}``.
    register : str or None, default="revenue_prev_year"
        Register column of annual revenue (thousand yuan); ``None`` to skip.
    size : str or None, default="employees_ytd"
        Size column for the value-per-employee reference; ``None`` to skip.
    period : str or None
        Quarter label to scale the annual register value (``q/4``); taken
        from a ``period`` column when present, else the whole year is used.
    factor : float, default=1000
    tolerance : float, default=0.5
        Half-width of the window in powers of ten.

    Returns
    -------
    UnitErrors

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b"], "revenue_ytd": [2_050_000.0, 900.0],
    ...                    "revenue_ytd_last_year": [1800.0, 1000.0]})
    >>> found = detect_unit_errors(df, ["revenue"])
    >>> found.flags[["firm_id", "column", "corrected"]].values.tolist()
    [['a', 'revenue_ytd', 2050.0]]
    >>> found.corrected["revenue_ytd"].tolist()
    [2050.0, 900.0]
    """
    if unit not in data.columns:
        raise EditError(f"detect_unit_errors: unit column {unit!r} is not in the data")
    low, high = np.log10(factor) - tolerance, np.log10(factor) + tolerance
    corrected = data.copy()
    n = len(data)
    ids = data[unit].to_numpy()
    scale = 1.0
    label = period
    if label is None and "period" in data.columns and n:
        label = str(data["period"].iloc[0])
    if label is not None and len(str(label)) == 6 and str(label)[4] == "Q":
        scale = int(str(label)[5]) / 4
    staff = (
        data[size].to_numpy(dtype=float, na_value=np.nan)
        if size is not None and size in data.columns
        else None
    )

    def window(ratio: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log10(ratio)
        return np.isfinite(lr) & (lr >= low) & (lr <= high)

    present = [v for v in variables if f"{v}_ytd" in data.columns]
    values, refs, sources, flagged = {}, {}, {}, {}
    for var in present:
        value = np.abs(data[f"{var}_ytd"].to_numpy(dtype=float, na_value=np.nan))
        reference = np.full(n, np.nan)
        source = np.full(n, "", dtype=object)
        candidates = [(p.format(var=var), 1.0) for p in references]
        if register is not None and var in ("gross_output", "sales_output", "revenue"):
            candidates.append((register, scale))
        for cand, mult in candidates:
            if cand not in data.columns:
                continue
            ref = np.abs(data[cand].to_numpy(dtype=float, na_value=np.nan)) * mult
            use = ~(np.isfinite(reference) & (reference > 0)) & np.isfinite(ref) & (ref > 0)
            reference = np.where(use, ref, reference)
            source = np.where(use, cand, source)
        if staff is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                per_head = value / staff
            usable = np.isfinite(per_head) & (per_head > 0)
            if usable.sum() >= 10:
                ref = staff * np.median(per_head[usable])
                use = ~(np.isfinite(reference) & (reference > 0)) & np.isfinite(ref) & (ref > 0)
                reference = np.where(use, ref, reference)
                source = np.where(use, f"{size} x median {var} per head", source)
        with np.errstate(divide="ignore", invalid="ignore"):
            flagged[var] = window(value / reference)
        values[var], refs[var], sources[var] = value, reference, source
    if present:
        nonzero = np.column_stack([np.isfinite(values[v]) & (values[v] > 0) for v in present])
        hits = np.column_stack([flagged[v] for v in present])
        form = (hits.sum(axis=1) >= 2) & (hits.sum(axis=1) * 2 >= nonzero.sum(axis=1))
        for j, var in enumerate(present):
            extra = form & nonzero[:, j] & ~hits[:, j]
            flagged[var] = flagged[var] | extra
            sources[var] = np.where(extra, "form", sources[var])
    parts = []
    for var in present:
        column = f"{var}_ytd"
        big = flagged[var]
        raw = data[column].to_numpy(dtype=float, na_value=np.nan)
        if big.any():
            corrected.loc[big, column] = raw[big] / factor
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = values[var][big] / refs[var][big]
            parts.append(
                pd.DataFrame(
                    {
                        unit: ids[big],
                        "column": column,
                        "value": raw[big],
                        "reference": refs[var][big],
                        "reference_column": sources[var][big],
                        "ratio": ratio,
                        "corrected": raw[big] / factor,
                    }
                )
            )
        last = f"{var}_ytd_last_year"
        if last in data.columns:
            prior = data[last].to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                small = window(np.abs(prior) / values[var]) & ~big
            if small.any():
                corrected.loc[small, last] = prior[small] / factor
                parts.append(
                    pd.DataFrame(
                        {
                            unit: ids[small],
                            "column": last,
                            "value": prior[small],
                            "reference": values[var][small],
                            "reference_column": column,
                            "ratio": np.abs(prior[small]) / values[var][small],
                            "corrected": prior[small] / factor,
                        }
                    )
                )
    flags = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            columns=[unit, "column", "value", "reference", "reference_column", "ratio", "corrected"]
        )
    )
    return UnitErrors(flags=flags, corrected=corrected, factor=float(factor))


# ---------------------------------------------------------------------------
# selective editing
# ---------------------------------------------------------------------------
def selective_editing_scores(
    data: pd.DataFrame,
    variables: tuple[str, ...] | list[str] = ("gross_output", "export_delivery"),
    *,
    unit: str = "firm_id",
    weights: str | None = None,
    by: str | list[str] | None = None,
    predictions: dict[str, str] | None = None,
    combine: str = "max",
) -> pd.DataFrame:
    """Selective-editing scores: which firms to call back first.

    The local score of firm ``i`` for variable ``j`` is
    ``w_i * |y_ij - yhat_ij| / T_j(d)`` with ``T_j(d) = sum_d w * yhat`` the
    expected total of the firm's domain ``d``: the share of the domain total
    the firm's error could move. The default prediction is last year's value
    times the domain's ratio-of-means growth among firms with both values.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit with ``{var}_ytd`` (and ``{var}_ytd_last_year``
        for the default predictions).
    variables : sequence of str, default=("gross_output", "export_delivery")
    unit : str, default="firm_id"
    weights : str or None, default=None
        Weight column (``None``: every weight is 1, as for take-all firms).
    by : str or list of str or None, default=None
        Domain columns (e.g. county and industry).
    predictions : dict, optional
        ``{var: column}`` of your own predictions.
    combine : {"max", "sum"}, default="max"
        How local scores make the firm's score.

    Returns
    -------
    pandas.DataFrame
        ``{unit}``, domain columns, ``score_{var}`` per variable, ``score``
        and ``rank`` (1 = call first), sorted by rank; firms without a
        value get score 0.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [110.0, 5000.0, 95.0],
    ...                    "gross_output_ytd_last_year": [100.0, 50.0, 100.0]})
    >>> s = selective_editing_scores(df, ["gross_output"])
    >>> s["firm_id"].tolist(), s["rank"].tolist()
    (['b', 'c', 'a'], [1, 2, 3])
    """
    if combine not in ("max", "sum"):
        raise EditError(f"selective_editing_scores: combine must be 'max' or 'sum', got {combine!r}")
    if unit not in data.columns:
        raise EditError(f"selective_editing_scores: unit column {unit!r} is not in the data")
    by_cols = [by] if isinstance(by, str) else list(by or [])
    for c in [*by_cols, *([weights] if weights else [])]:
        if c not in data.columns:
            raise EditError(f"selective_editing_scores: column {c!r} is not in the data")
    n = len(data)
    w = np.ones(n) if weights is None else data[weights].to_numpy(dtype=float, na_value=np.nan)
    if by_cols:
        domain, _ = pd.MultiIndex.from_frame(data[by_cols].astype("str")).factorize()
    else:
        domain = np.zeros(n, dtype=np.int64)
    k = int(domain.max()) + 1 if n else 0
    out = data[[unit, *by_cols]].copy()
    scores = []
    for var in variables:
        y = data[f"{var}_ytd"].to_numpy(dtype=float, na_value=np.nan)
        if predictions and var in predictions:
            pred = data[predictions[var]].to_numpy(dtype=float, na_value=np.nan)
        else:
            last_col = f"{var}_ytd_last_year"
            if last_col not in data.columns:
                raise EditError(
                    f"selective_editing_scores: no prediction for {var!r}; give predictions="
                    f"{{{var!r}: column}} or a {last_col!r} column"
                )
            last = data[last_col].to_numpy(dtype=float, na_value=np.nan)
            both = np.isfinite(y) & np.isfinite(last)
            num = np.bincount(domain[both], weights=(w * y)[both], minlength=k)
            den = np.bincount(domain[both], weights=(w * last)[both], minlength=k)
            with np.errstate(divide="ignore", invalid="ignore"):
                growth = np.where(den > 0, num / den, 1.0)
            pred = last * growth[domain]
        ok = np.isfinite(pred) & np.isfinite(w)
        total = np.bincount(domain[ok], weights=(w * np.abs(pred))[ok], minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            local = w * np.abs(y - pred) / total[domain]
        local = np.where(np.isfinite(local), local, 0.0)
        out[f"score_{var}"] = local
        scores.append(local)
    matrix = np.column_stack(scores) if scores else np.zeros((n, 1))
    out["score"] = matrix.max(axis=1) if combine == "max" else matrix.sum(axis=1)
    order = np.argsort(-out["score"].to_numpy(), kind="stable")
    out = out.iloc[order].reset_index(drop=True)
    out["rank"] = np.arange(1, n + 1)
    return out
