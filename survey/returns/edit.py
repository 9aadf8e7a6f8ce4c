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
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import EditError

__all__ = [
    "EditReport",
    "Rule",
    "UnitErrors",
    "check",
    "cumulative_conflicts",
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
        One row per unit (e.g. :meth:`survey.returns.ledger.Ledger.to_frame`).
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
_QUARTER = r"^(\d{4})Q([1-4])$"


def _year_quarter(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Year and quarter of each period label (``-1`` and ``0`` when not ``YYYYQn``)."""
    if labels is None:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    parts = pd.Series(np.asarray(labels, dtype=object)).astype("str").str.extract(_QUARTER)
    year = pd.to_numeric(parts[0], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
    quarter = pd.to_numeric(parts[1], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    return year, quarter


def _class_median(ratio: np.ndarray, groups: np.ndarray, min_count: int) -> np.ndarray:
    """Per row: median of the positive finite ``ratio`` of its group (NaN with fewer than
    ``min_count`` such values); sorted group offsets, no loop over groups."""
    usable = np.isfinite(ratio) & (ratio > 0)
    out = np.full(len(ratio), np.nan)
    if not usable.any():
        return out
    g, r = groups[usable], ratio[usable]
    order = np.lexsort((r, g))
    g, r = g[order], r[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, len(g)])
    lower = r[starts + (counts - 1) // 2]
    upper = r[starts + counts // 2]
    medians = np.where(counts >= min_count, (lower + upper) / 2, np.nan)
    lookup = np.full(int(groups.max()) + 1, np.nan)
    lookup[g[starts]] = medians
    return lookup[groups]


@dataclass(frozen=True, kw_only=True, eq=False)
class UnitErrors:
    """Result of :func:`detect_unit_errors`.

    Attributes
    ----------
    flags : pandas.DataFrame
        One row per suspected unit error: ``{unit}``, ``period`` (when the
        data have a ``period`` column), ``column, value, reference,
        reference_column, ratio, corrected``. ``ratio`` is the median ratio
        of the value to its references (``value / reference``) and
        ``reference_column`` lists the references used (``"form"``: flagged
        with the rest of its form).
    corrected : pandas.DataFrame
        A copy of the data with the flagged values divided by ``factor``.
    scores : pandas.DataFrame
        Per row of the data (input order) and variable: ``score_{var}``, the
        median ``log10(value / reference)`` (NaN without references), and
        ``form_score``, the median of a row's variable scores.
    factor : float
    """

    flags: pd.DataFrame
    corrected: pd.DataFrame
    factor: float
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

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
    by: str | None = "industry",
    period: str | None = None,
    factor: float = 1000.0,
    tolerance: float = 0.5,
    min_class: int = 10,
) -> UnitErrors:
    """Find and correct values reported in yuan instead of thousand yuan.

    Each money value ``{var}_ytd`` is compared with every reference that is
    available for it, and the decision uses the **median** of the log-ratios
    ``log10(|value| / reference)`` (its *score*): a value is a unit error
    when its score is within ``log10(factor) ± tolerance`` (by default the
    median ratio is between 316 and 3162). A single reference that is
    itself wrong (last year's value in yuan, a partial-year register size)
    is outvoted by the others. The references of a value:

    1. the columns of ``references``: the same period of last year, and the
       previous quarter's year-to-date value scaled by ``q / (q - 1)``
       (a ``*_previous`` column);
    2. the firm's other quarters of the same year, when ``data`` is a panel
       (a ``period`` column with several ``YYYYQn`` labels): the year to
       date of quarter ``s`` scaled by ``q / s`` (a Q1 value 1000 times its
       Q2 value / 2 is a unit error in Q1); they replace the ``*_previous``
       column where the panel has that quarter;
    3. the register size ``register`` (annual, thousand yuan) scaled to the
       quarter (``q / 4``) and by the median of ``value / scaled size`` in
       the firm's class ``by`` and period (at least ``min_class`` firms; for
       ``gross_output``, ``sales_output`` and ``revenue`` the factor is 1
       when the class is smaller, other indicators then skip it);
    4. the firm's employees ``size`` times the median value per employee in
       its class ``by`` and period (at least ``min_class`` firms; else all
       firms of the period).

    A unit error is a property of the form: when the median of the scores
    of a row's non-zero money values (its *form score*) is within the
    window, its other non-zero values are flagged too, unless their own
    score is below ``log10(factor) / 2`` (``reference_column`` is
    ``"form"``). So a firm without last year's values (a new firm) is
    still judged by its other quarters, its register size and its
    employees. A last-year value about ``factor`` times *larger* than this
    year's (corrected) value is flagged as well (``column`` names it).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (and period) with ``{var}_ytd`` columns.
    variables : sequence of str, default=money indicators
    unit : str, default="firm_id"
    references : tuple of str
        Column patterns with ``{var}``.
    register : str or None, default="revenue_prev_year"
        Register column of annual revenue (thousand yuan); ``None`` to skip.
    size : str or None, default="employees_ytd"
        Size column for the value-per-employee reference; ``None`` to skip.
    by : str or None, default="industry"
        Class of the cross-sectional medians (skipped when not a column).
    period : str or None
        Quarter label of every row; default: the ``period`` column per row
        (else the whole year is used to scale the register).
    factor : float, default=1000
    tolerance : float, default=0.5
        Half-width of the window in powers of ten.
    min_class : int, default=10
        Firms a class needs for its own cross-sectional median.

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

    A new firm (no last year) whose first quarter is in yuan, found by its
    other quarters:

    >>> panel = pd.DataFrame({"firm_id": ["n"] * 3, "period": ["2006Q1", "2006Q2", "2006Q3"],
    ...                       "gross_output_ytd": [256_800.0, 514.0, 873.2],
    ...                       "gross_output_ytd_last_year": [0.0, 0.0, 0.0]})
    >>> found = detect_unit_errors(panel, ["gross_output"])
    >>> found.flags[["period", "column", "corrected"]].values.tolist()
    [['2006Q1', 'gross_output_ytd', 256.8]]
    """
    if unit not in data.columns:
        raise EditError(f"detect_unit_errors: unit column {unit!r} is not in the data")
    if factor <= 1 or tolerance <= 0 or tolerance >= np.log10(factor) / 2:
        raise EditError(
            f"detect_unit_errors: need factor > 1 and 0 < tolerance < log10(factor) / 2, got "
            f"factor={factor}, tolerance={tolerance}"
        )
    centre = float(np.log10(factor))
    low, high = centre - tolerance, centre + tolerance
    corrected = data.copy()
    n = len(data)
    ids = data[unit].to_numpy()
    labels = (
        np.full(n, period, dtype=object) if period is not None
        else data["period"].to_numpy(dtype=object) if "period" in data.columns else None
    )  # fmt: skip
    year, quarter = _year_quarter(labels, n)
    q = np.where(quarter > 0, quarter, 4).astype(float)
    # firm-year groups of a panel (other quarters are references)
    panel = labels is not None and period is None and (quarter > 0).all() and n > 0
    if panel:
        key = pd.MultiIndex.from_arrays([data[unit].astype("str").to_numpy(), year])
        firm_year, _ = pd.factorize(key)
        if pd.Series(firm_year * 5 + quarter).duplicated().any():
            row = int(np.flatnonzero(pd.Series(firm_year * 5 + quarter).duplicated())[0])
            raise EditError(
                f"detect_unit_errors: unit {ids[row]!r} has two rows for period {labels[row]!r}; "
                "give one row per unit and period"
            )
        panel = int(pd.Series(quarter).nunique()) > 1
    period_code = pd.factorize(pd.Series(labels, dtype=object).astype("str"))[0] if labels is not None \
        else np.zeros(n, dtype=np.int64)
    if by is not None and by in data.columns:
        klass = pd.factorize(data[by].astype("str"))[0]
        groups = period_code * (int(klass.max()) + 2) + klass + 1 if n else period_code
    else:
        groups = period_code
    everyone = period_code

    def medians(ratio: np.ndarray) -> np.ndarray:
        own = _class_median(ratio, groups, min_class) if n else np.full(n, np.nan)
        return np.where(np.isfinite(own), own, _class_median(ratio, everyone, min_class) if n else own)

    staff = (
        np.abs(data[size].to_numpy(dtype=float, na_value=np.nan))
        if size is not None and size in data.columns else None
    )  # fmt: skip
    size_reg = (
        np.abs(data[register].to_numpy(dtype=float, na_value=np.nan)) * q / 4
        if register is not None and register in data.columns else None
    )  # fmt: skip

    def window(score: np.ndarray) -> np.ndarray:
        return np.isfinite(score) & (score >= low) & (score <= high)

    def column(name: str) -> np.ndarray:
        return data[name].to_numpy(dtype=float, na_value=np.nan)

    present = [v for v in variables if f"{v}_ytd" in data.columns]
    values, scores, names = {}, {}, {}
    for var in present:
        value = np.abs(column(f"{var}_ytd"))
        refs: list[tuple[str, np.ndarray]] = []
        own_quarters = np.zeros(n, dtype=bool)
        if panel:
            grid = np.full((int(firm_year.max()) + 1, 5), np.nan)
            grid[firm_year, quarter] = value
            for s in range(1, 5):
                other = grid[firm_year, s] * q / s
                other = np.where(quarter == s, np.nan, other)
                refs.append((f"year to date of Q{s}", other))
            previous_there = np.isfinite(grid[firm_year, np.maximum(quarter - 1, 0)]) & (quarter > 1)
            own_quarters = previous_there
        for pattern in references:
            name = pattern.format(var=var)
            if name not in data.columns:
                continue
            ref = np.abs(column(name))
            if name.endswith("_previous"):
                ref = np.where(q > 1, ref * q / np.maximum(q - 1, 1), np.nan)
                ref = np.where(own_quarters, np.nan, ref)
            refs.append((name, ref))
        if size_reg is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                level = medians(value / size_reg)
            if var in ("gross_output", "sales_output", "revenue"):
                level = np.where(np.isfinite(level), level, 1.0)
            refs.append((register, size_reg * level))
        if staff is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                refs.append((f"{size} x median {var} per head", staff * medians(value / staff)))
        if refs:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.column_stack([np.log10(value / r) for _, r in refs])
            usable = np.isfinite(ratios) & (value > 0)[:, None]
            ratios = np.where(usable, ratios, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                score = np.nanmedian(ratios, axis=1) if n else np.zeros(0)
            used = np.full(n, "", dtype=object)
            for j, (name, _) in enumerate(refs):
                used = np.where(usable[:, j], used + name + "; ", used)
            names[var] = np.array([u[:-2] for u in used], dtype=object) if n else used
        else:
            score = np.full(n, np.nan)
            names[var] = np.full(n, "", dtype=object)
        values[var], scores[var] = value, score
    flagged = {var: window(scores[var]) for var in present}
    sources = {var: names[var].copy() for var in present}
    score_frame = pd.DataFrame({f"score_{v}": scores[v] for v in present}, index=data.index)
    if present:
        matrix = np.column_stack([np.where(values[v] > 0, scores[v], np.nan) for v in present])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            form_score = np.nanmedian(matrix, axis=1) if n else np.zeros(0)
        form = window(form_score)
        for var in present:
            own = scores[var]
            extra = form & (values[var] > 0) & ~flagged[var] & ~(np.isfinite(own) & (own < centre / 2))
            flagged[var] = flagged[var] | extra
            sources[var] = np.where(extra, "form", sources[var])
        score_frame["form_score"] = form_score
    score_frame = score_frame.reset_index(drop=True)
    keys = {unit: ids} if labels is None else {unit: ids, "period": labels}
    parts = []
    for var in present:
        name = f"{var}_ytd"
        big = flagged[var]
        raw = column(name)
        if big.any():
            corrected.loc[big, name] = raw[big] / factor
            ratio = np.where(np.isfinite(scores[var][big]), 10.0 ** scores[var][big], factor)
            parts.append(
                pd.DataFrame(
                    {
                        **{k: v[big] for k, v in keys.items()},
                        "column": name,
                        "value": raw[big],
                        "reference": values[var][big] / ratio,
                        "reference_column": sources[var][big],
                        "ratio": ratio,
                        "corrected": raw[big] / factor,
                    }
                )
            )
        last = f"{var}_ytd_last_year"
        if last in data.columns:
            prior = column(last)
            now = np.where(big, values[var] / factor, values[var])
            with np.errstate(divide="ignore", invalid="ignore"):
                lr = np.log10(np.abs(prior) / now)
            small = window(lr) & ~big
            if small.any():
                corrected.loc[small, last] = prior[small] / factor
                parts.append(
                    pd.DataFrame(
                        {
                            **{k: v[small] for k, v in keys.items()},
                            "column": last,
                            "value": prior[small],
                            "reference": now[small],
                            "reference_column": name,
                            "ratio": np.abs(prior[small]) / now[small],
                            "corrected": prior[small] / factor,
                        }
                    )
                )
    columns = [*keys, "column", "value", "reference", "reference_column", "ratio", "corrected"]
    flags = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return UnitErrors(flags=flags, corrected=corrected, factor=float(factor), scores=score_frame)


# ---------------------------------------------------------------------------
# cumulative (year-to-date) values: which of two conflicting values is wrong
# ---------------------------------------------------------------------------
_NONNEGATIVE = ("gross_output", "export_delivery", "sales_output", "revenue")
_ACCEPTED = ("returned", "edited")
#: Values below this (thousand yuan) count as this much in path scores (zeros are values).
_FLOOR = 0.01


def _path_scores(predictors: np.ndarray, y: np.ndarray, last: np.ndarray,
                 growth: np.ndarray) -> np.ndarray:
    """Path score of every cell of a (firm-year x 4 quarters) grid: the median of
    ``log10(value / prediction)`` over the predictions from the ``predictors`` cells of
    the same row and from last year's value times the quarter's median growth (0 when
    there is no prediction)."""
    g = y.shape[0]
    scale = np.arange(1, 5, dtype=float)
    preds = []
    for s in range(4):
        for t in range(4):
            if s == t:
                continue
            both = (last[:, t] > 0) & (last[:, s] > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(both, last[:, t] / last[:, s], scale[t] / scale[s])
            # a zero year to date says the earlier quarters were zero too, but nothing
            # about later ones (a firm may start during the year)
            usable = predictors[:, s] & ((y[:, s] > 0) | (t < s))
            column = np.full((g, 4), np.nan)
            column[:, t] = np.where(usable, y[:, s] * step, np.nan)
            preds.append(column)
    preds.append(np.where(last > 0, last * growth[None, :], np.nan))
    stack = np.maximum(np.stack(preds, axis=2), _FLOOR)  # NaN stays NaN
    floor = np.where(np.isfinite(y), np.maximum(y, _FLOOR), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.log10(floor[:, :, None] / stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = np.nanmedian(ratios, axis=2)
    return np.where(np.isfinite(score), score, 0.0)


def cumulative_conflicts(
    data: pd.DataFrame,
    variables: str | tuple[str, ...] | list[str] = _NONNEGATIVE,
    *,
    unit: str = "firm_id",
    period: str = "period",
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Year-to-date values that fall, and which value of each falling pair is wrong.

    A year-to-date value of a non-negative indicator cannot fall during the
    year. Each value of a firm is compared with the *latest accepted* value
    of an earlier quarter of the same year (returned, corrected or
    imputed; a value listed in ``exclude`` is not accepted), so a gap (a
    quarter not returned) does not hide a fall. When a pair fails, the
    value that disagrees more with the firm's own path is judged wrong:

    * the *path score* of a value is the median of ``log10(value /
      prediction)`` over the predictions from the firm's other **returned**
      quarters of the year (``y_s * L_t / L_s`` with ``L`` last year's year
      to date, or ``y_s * t / s`` without it; a zero ``y_s`` predicts only
      the quarters before ``s``, as a firm may start during the year) and
      from last year's value times the median year-on-year ratio of the
      quarter over all firms (values below 0.01 count as 0.01);
    * for a pair ``(earlier, later)`` with ``later < earlier`` the later
      value is too low by ``-score_later`` and the earlier one too high by
      ``score_earlier``; the larger of the two is set aside (ties: an
      imputed value before a returned one, else the later value).

    Imputed values (marker not ``returned``/``edited`` in ``{var}_marker``)
    take part in the comparison but never predict other values. The pairs
    are resolved one by one in time order until no value falls.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period (``YYYYQn`` labels) with
        ``{var}_ytd``; optional ``{var}_ytd_last_year`` and ``{var}_marker``.
    variables : str or sequence of str, default=("gross_output", "export_delivery", "sales_output", "revenue")
    unit : str, default="firm_id"
    period : str, default="period"
    exclude : pandas.DataFrame, optional
        ``{unit}, period, item`` of values already set aside.

    Returns
    -------
    pandas.DataFrame
        One row per value judged wrong: ``{unit}, period, item, rule,
        value, marker, against_period, against_value, score,
        against_score`` (``rule`` is ``{var}_cumulative``; the scores are
        the path scores of the value and of the other value of its pair).

    Raises
    ------
    EditError
        Missing columns, period labels that are not quarters, or a unit with
        two rows in one period.

    Examples
    --------
    The third quarter fell below the (imputed) second, and it is the
    value that leaves the firm's path of last year:

    >>> panel = pd.DataFrame({
    ...     "firm_id": ["a"] * 4, "period": ["2006Q1", "2006Q2", "2006Q3", "2006Q4"],
    ...     "gross_output_ytd": [383.9, 822.5, 516.7, 1876.9],
    ...     "gross_output_ytd_last_year": [425.8, 912.5, 1425.8, 1972.3],
    ...     "gross_output_marker": ["returned", "forward_imputed", "returned", "returned"]})
    >>> out = cumulative_conflicts(panel, "gross_output")
    >>> out[["period", "item", "against_period"]].values.tolist()
    [['2006Q3', 'gross_output_ytd', '2006Q2']]
    >>> round(float(out["score"].iloc[0]), 2), abs(round(float(out["against_score"].iloc[0]), 2))
    (-0.41, 0.0)
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    needed = [unit, period, *(f"{v}_ytd" for v in names)]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise EditError(f"cumulative_conflicts: columns {missing} are not in the data")
    columns = [unit, "period", "item", "rule", "value", "marker", "against_period",
               "against_value", "score", "against_score"]  # fmt: skip
    n = len(data)
    if n == 0:
        return pd.DataFrame(columns=columns)
    labels = data[period].to_numpy(dtype=object)
    year, quarter = _year_quarter(labels, n)
    if (quarter == 0).any():
        bad = labels[np.flatnonzero(quarter == 0)[0]]
        raise EditError(f"cumulative_conflicts: period {bad!r} is not a quarter label such as '2006Q1'")
    ids = data[unit].to_numpy()
    key = pd.MultiIndex.from_arrays([pd.Series(ids, dtype=object).astype("str").to_numpy(), year])
    group, _ = pd.factorize(key)
    cell = group * 4 + quarter - 1
    if pd.Series(cell).duplicated().any():
        row = int(np.flatnonzero(pd.Series(cell).duplicated())[0])
        raise EditError(
            f"cumulative_conflicts: unit {ids[row]!r} has two rows for period {labels[row]!r}; give "
            "one row per unit and period"
        )
    g = int(group.max()) + 1
    row_of = np.full((g, 4), -1, dtype=np.int64)
    row_of[group, quarter - 1] = np.arange(n)
    parts = []
    for var in names:
        item = f"{var}_ytd"
        y = np.full((g, 4), np.nan)
        y[group, quarter - 1] = data[item].to_numpy(dtype=float, na_value=np.nan)
        last = np.full((g, 4), np.nan)
        if f"{var}_ytd_last_year" in data.columns:
            last[group, quarter - 1] = data[f"{var}_ytd_last_year"].to_numpy(dtype=float, na_value=np.nan)
        marks = np.full((g, 4), "", dtype=object)
        if f"{var}_marker" in data.columns:
            marks[group, quarter - 1] = data[f"{var}_marker"].to_numpy(dtype=object)
            returned = np.isin(marks, _ACCEPTED)
        else:
            marks[group, quarter - 1] = "returned"
            returned = np.ones((g, 4), dtype=bool)
        valid = np.isfinite(y)
        if exclude is not None and len(exclude):
            rows = exclude[exclude["item"].to_numpy() == item]
            if len(rows):
                out_key = pd.MultiIndex.from_arrays([rows[unit].astype("str").to_numpy(),
                                                     rows["period"].astype("str").to_numpy()])
                hit = pd.MultiIndex.from_arrays(
                    [pd.Series(ids, dtype=object).astype("str").to_numpy(),
                     pd.Series(labels, dtype=object).astype("str").to_numpy()]).isin(out_key)
                valid[group[hit], quarter[hit] - 1] = False
        # cross-sectional year-on-year ratio of each quarter (returned values)
        with np.errstate(divide="ignore", invalid="ignore"):
            yoy = y / last
        growth = np.full(4, np.nan)
        for t in range(4):
            ok = valid[:, t] & returned[:, t] & np.isfinite(yoy[:, t]) & (yoy[:, t] > 0)
            if ok.any():
                growth[t] = np.median(yoy[ok, t])

        found = []
        for _ in range(4):
            score = _path_scores(valid & returned, y, last, growth)
            best = np.full(g, -np.inf)
            where = np.full(g, -1, dtype=np.int64)
            conflict = np.zeros((g, 4), dtype=bool)
            against = np.full((g, 4), -1, dtype=np.int64)
            for t in range(4):
                tol = 1e-9 * np.abs(best) + 1e-9
                conflict[:, t] = valid[:, t] & (y[:, t] < best - tol)
                against[:, t] = where
                higher = valid[:, t] & (y[:, t] > best)
                best = np.where(higher, y[:, t], best)
                where = np.where(higher, t, where)
            firms = np.flatnonzero(conflict.any(axis=1))
            if not len(firms):
                break
            later = np.argmax(conflict[firms], axis=1)
            earlier = against[firms, later]
            too_low = -score[firms, later]
            too_high = score[firms, earlier]
            imputed_later = ~returned[firms, later]
            imputed_earlier = ~returned[firms, earlier]
            tie = np.isclose(too_low, too_high, rtol=0, atol=1e-12)
            drop_later = np.where(tie, ~(imputed_earlier & ~imputed_later), too_low > too_high)
            lose = np.where(drop_later, later, earlier)
            keep = np.where(drop_later, earlier, later)
            valid[firms, lose] = False
            rows = row_of[firms, lose]
            other = row_of[firms, keep]
            found.append(
                pd.DataFrame(
                    {
                        unit: ids[rows],
                        "period": labels[rows],
                        "item": item,
                        "rule": f"{var}_cumulative",
                        "value": y[firms, lose],
                        "marker": marks[firms, lose],
                        "against_period": labels[other],
                        "against_value": y[firms, keep],
                        "score": score[firms, lose],
                        "against_score": score[firms, keep],
                    }
                )
            )
        parts.extend(found)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if len(out):
        out["period"] = out["period"].astype("str")
        out["against_period"] = out["against_period"].astype("str")
    return out


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
