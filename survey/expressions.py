"""The one restricted expression language of the toolkit: filters, subsets and edit rules.

Every expression a user writes into a configuration or passes as text (the
``[plan] filter`` of a TOML file, :meth:`Survey.subset("...")
<survey.estimation.survey.Survey.subset>`, the edit rules of
:mod:`survey.returns.rules`) is parsed here into a small, safe subset of
Python syntax and evaluated column-wise with numpy. Nothing is handed to
``eval``, ``DataFrame.query`` or ``DataFrame.eval``, so an expression cannot
reach a Python object, read or write a file or run code.

Allowed:

* column names (a name that is not an identifier in back-quotes:
  ```sch.wide` == 'Yes'``);
* number literals; text literals (``'Nanning'``) and ``True``/``False`` where
  the caller allows them (filters and subsets do, edit rules do not);
* ``+ - * / **``, comparisons (chained too), ``in``/``not in`` a list or tuple
  of literals, ``and``/``or``/``not`` (also ``& | ~``);
* the functions ``abs``, ``log``, ``log10``, ``sqrt``, ``min``, ``max``
  (element-wise).

Refused when parsed (before any data is touched): attribute access
(``x.__class__``), subscripts, ``@`` variables, lambdas, comprehensions,
any other call. Missing values follow Kleene logic: a comparison with a
missing value is unknown, ``False and unknown`` is ``False``;
:func:`mask` keeps only rows where the condition is known to hold.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"region": ["A", "B", "A"], "size": [10.0, 200.0, None]})
>>> mask(parse("region == 'A' and size < 100"), df).tolist()
[True, False, False]
>>> parse("@Path('x').touch()")
Traceback (most recent call last):
...
survey.errors.ExpressionError: expression "@Path('x').touch()" is not a valid expression: invalid syntax; write column names, literals, comparisons and and/or/not
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ExpressionError, SurveyError

__all__ = ["Expression", "FUNCTIONS", "parse", "evaluate", "mask", "Truth"]

#: The functions an expression may call (element-wise).
FUNCTIONS = {
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
_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name, ast.Load,
    ast.Constant, ast.Call, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Invert,
    ast.BitAnd, ast.BitOr, *_BINOPS, *_COMPARE,
)  # fmt: skip
_BACKQUOTED = re.compile(r"`([^`]*)`")


class Truth:
    """Three-valued truth: ``value`` where ``known``, unknown elsewhere."""

    __slots__ = ("known", "value")

    def __init__(self, value: np.ndarray, known: np.ndarray) -> None:
        self.value = np.asarray(value, dtype=bool) & known
        self.known = known


@dataclass(frozen=True, eq=False)
class Expression:
    """A parsed, checked expression (make one with :func:`parse`).

    Attributes
    ----------
    text : str
        The expression as written.
    names : tuple of str
        The column names it uses, in order of appearance.
    """

    text: str
    tree: ast.Expression
    names: tuple[str, ...]
    what: str = "expression"
    error: type[SurveyError] = ExpressionError
    strings: bool = True
    aliases: tuple[tuple[str, str], ...] = ()

    def fail(self, why: str) -> SurveyError:
        return self.error(f"{self.what} {self.text!r}: {why}")


def parse(
    text: str,
    *,
    what: str = "expression",
    error: type[SurveyError] = ExpressionError,
    strings: bool = True,
) -> Expression:
    """Parse and check an expression; nothing is evaluated.

    Parameters
    ----------
    text : str
        The expression (see the module docstring for the language).
    what : str, default="expression"
        How messages call it (``"[plan] filter"``, ``"edit rule"``).
    error : type, default=ExpressionError
        The :class:`~survey.errors.SurveyError` subclass raised.
    strings : bool, default=True
        Allow text literals, ``True``/``False`` and ``in [...]``.

    Returns
    -------
    Expression

    Raises
    ------
    SurveyError
        (of class ``error``) The text is not an expression of the language;
        the message names the part refused.

    Examples
    --------
    >>> parse("`sch.wide` == 'Yes' and api00 > 600").names
    ('sch.wide', 'api00')
    >>> parse("x.__class__ == 1")
    Traceback (most recent call last):
    ...
    survey.errors.ExpressionError: expression 'x.__class__ == 1': Attribute (x.__class__) is not allowed; expressions use column names, literals, arithmetic, comparisons and and/or/not
    """
    if not isinstance(text, str):
        raise error(f"{what}: give the expression as text, got {type(text).__name__}")
    aliases: dict[str, str] = {}

    def alias(match: re.Match[str]) -> str:
        key = f"__column_{len(aliases)}__"
        aliases[key] = match.group(1)
        return key

    source = _BACKQUOTED.sub(alias, text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise error(
            f"{what} {text!r} is not a valid expression: {exc.msg}; write column names, literals, "
            "comparisons and and/or/not"
        ) from exc
    comparisons_with_in = {
        id(c) for node in ast.walk(tree) if isinstance(node, ast.Compare)
        for op, c in zip(node.ops, node.comparators, strict=True) if isinstance(op, (ast.In, ast.NotIn))
    }  # fmt: skip
    for node in ast.walk(tree):
        ok = isinstance(node, _NODES)
        if strings and isinstance(node, (ast.In, ast.NotIn)):
            ok = True
        if isinstance(node, (ast.List, ast.Tuple)) and strings and id(node) in comparisons_with_in:
            ok = all(isinstance(e, ast.Constant) or (isinstance(e, ast.UnaryOp) and isinstance(
                e.operand, ast.Constant)) for e in node.elts)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or isinstance(value, str):
                ok = strings
            elif not isinstance(value, (int, float)):
                ok = False
        if isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in aliases:
            ok = False
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords
        ):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise error(
                f"{what} {text!r}: function {name!r} is not allowed; use one of {sorted(FUNCTIONS)}"
            )
        if not ok:
            shown = ast.unparse(node) if isinstance(node, ast.expr) else ""
            for key, name in aliases.items():
                shown = shown.replace(key, f"`{name}`")
            raise error(
                f"{what} {text!r}: {type(node).__name__} ({shown}) is not allowed; expressions "
                "use column names, literals, arithmetic, comparisons and and/or/not"
            )
    seen: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            seen[aliases.get(node.id, node.id)] = None
    return Expression(text=text, tree=tree, names=tuple(seen), what=what, error=error,
                      strings=strings, aliases=tuple(aliases.items()))


def _column(expr: Expression, data: Any, name: str, n: int) -> Any:
    try:
        values = data[name]
    except (KeyError, IndexError):
        raise expr.fail(f"column {name!r} is not in the data") from None
    if isinstance(values, pd.Series):
        if pd.api.types.is_bool_dtype(values.dtype):
            array = values.to_numpy(dtype=bool, na_value=False)
            return Truth(array, values.notna().to_numpy())
        if pd.api.types.is_numeric_dtype(values.dtype):
            return values.to_numpy(dtype=float, na_value=np.nan)
        if not expr.strings:
            try:
                return values.to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                raise expr.fail(f"column {name!r} is not numeric") from None
        return values.to_numpy(dtype=object)
    array = np.asarray(values)
    if array.dtype == bool:
        return Truth(array, np.ones(n, dtype=bool))
    if array.dtype.kind in "iuf":
        return array.astype(float)
    if not expr.strings:
        try:
            return array.astype(float)
        except (TypeError, ValueError):
            raise expr.fail(f"column {name!r} is not numeric") from None
    return array.astype(object)


def _known(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return ~pd.isna(values)
    return np.isfinite(values)


def _is_text(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype == object


def _constant(expr: Expression, node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    value = node.operand.value  # a signed number literal
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise expr.fail("a sign applies to numbers only")
    return -value if isinstance(node.op, ast.USub) else value


def _walk(expr: Expression, node: ast.AST, data: Any, n: int) -> Any:
    if isinstance(node, ast.Expression):
        return _walk(expr, node.body, data, n)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return Truth(np.full(n, node.value), np.ones(n, dtype=bool))
        if isinstance(node.value, str):
            return np.full(n, node.value, dtype=object)
        return np.full(n, float(node.value))
    if isinstance(node, ast.Name):
        return _column(expr, data, dict(expr.aliases).get(node.id, node.id), n)
    if isinstance(node, ast.UnaryOp):
        inner = _walk(expr, node.operand, data, n)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            truth = _as_truth(expr, inner)
            return Truth(~truth.value, truth.known)
        if isinstance(inner, Truth) or _is_text(inner):
            raise expr.fail("a sign applies to numbers, not to a comparison or text")
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left = _walk(expr, node.left, data, n)
        right = _walk(expr, node.right, data, n)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            return _combine(isinstance(node.op, ast.BitAnd),
                            [_as_truth(expr, left), _as_truth(expr, right)])
        if isinstance(left, Truth) or isinstance(right, Truth):
            raise expr.fail("arithmetic on a comparison is not allowed; compare numbers")
        if _is_text(left) or _is_text(right):
            raise expr.fail("arithmetic on text is not allowed")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.BoolOp):
        parts = [_as_truth(expr, _walk(expr, v, data, n)) for v in node.values]
        return _combine(isinstance(node.op, ast.And), parts)
    if isinstance(node, ast.Compare):
        left = _walk(expr, node.left, data, n)
        parts = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(comparator, (ast.List, ast.Tuple)):
                    raise expr.fail("'in' takes a list of literals, e.g. region in ['A', 'B']")
                if isinstance(left, Truth):
                    raise expr.fail("'in' applies to a column, not a comparison")
                choices = [_constant(expr, e) for e in comparator.elts]
                if _is_text(left):
                    choices = [c for c in choices if isinstance(c, str)] or [object()]
                else:
                    choices = [float(c) for c in choices if isinstance(c, (int, float))] or [np.nan]
                inside = np.isin(left, np.asarray(choices, dtype=left.dtype))
                parts.append(Truth(inside if isinstance(op, ast.In) else ~inside, _known(left)))
                continue
            right = _walk(expr, comparator, data, n)
            if isinstance(left, Truth) or isinstance(right, Truth):
                if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(left, Truth) and isinstance(
                        right, Truth):
                    same = left.value == right.value
                    parts.append(Truth(same if isinstance(op, ast.Eq) else ~same,
                                       left.known & right.known))
                    left = right
                    continue
                raise expr.fail("comparisons of comparisons are not allowed")
            if _is_text(left) != _is_text(right):
                raise expr.fail("compares text with a number; quote the number ('450102') or "
                                "compare a numeric column")
            known = _known(left) & _known(right)
            if _is_text(left):
                value = np.zeros(n, dtype=bool)
                if known.any():
                    value[known] = _COMPARE[type(op)](left[known].astype(str), right[known].astype(str))
            else:
                with np.errstate(invalid="ignore"):
                    value = _COMPARE[type(op)](left, right)
            parts.append(Truth(value, known))
            left = right
        return _combine(True, parts)
    if isinstance(node, ast.Call):
        args = [_walk(expr, a, data, n) for a in node.args]
        if any(isinstance(a, Truth) or _is_text(a) for a in args):
            raise expr.fail("functions take numbers, not comparisons or text")
        with np.errstate(divide="ignore", invalid="ignore"):
            try:
                return FUNCTIONS[node.func.id](*args)
            except TypeError as exc:
                raise expr.fail(f"{node.func.id}(): {exc}") from None
    raise expr.fail(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover - parser refuses


def _as_truth(expr: Expression, value: Any) -> Truth:
    if isinstance(value, Truth):
        return value
    raise expr.fail("and/or/not combine comparisons; write e.g. 'a > 0 and b > 0'")


def _combine(conjunction: bool, parts: list[Truth]) -> Truth:
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
    return Truth(value, known)


def evaluate(expression: Expression, data: pd.DataFrame | Mapping[str, Any], n: int | None = None) -> Any:
    """Evaluate on a frame (or a mapping of column arrays): a :class:`Truth` or an array.

    Parameters
    ----------
    expression : Expression
    data : pandas.DataFrame or mapping of str to array
    n : int, optional
        Number of rows (default ``len(data)`` of a frame).

    Examples
    --------
    >>> t = evaluate(parse("a >= 0"), {"a": np.array([1.0, -1.0, np.nan])}, 3)
    >>> t.value.tolist(), t.known.tolist()
    ([True, False, False], [True, True, False])
    """
    if n is None:
        n = len(data) if isinstance(data, pd.DataFrame) else len(next(iter(data.values()), ()))
    return _walk(expression, expression.tree, data, n)


def mask(expression: Expression | str, data: pd.DataFrame) -> np.ndarray:
    """The rows where a condition is known to hold (boolean array).

    Parameters
    ----------
    expression : Expression or str
        A parsed expression, or text (parsed with :func:`parse`).
    data : pandas.DataFrame

    Raises
    ------
    SurveyError
        The expression is not a condition, uses an unknown column, or mixes
        text and numbers.

    Examples
    --------
    >>> mask("x in [1, 3]", pd.DataFrame({"x": [1, 2, 3]})).tolist()
    [True, False, True]
    """
    if isinstance(expression, str):
        expression = parse(expression)
    result = evaluate(expression, data, len(data))
    if not isinstance(result, Truth):
        raise expression.fail("is a number, not a condition; add a comparison such as '> 0'")
    return result.value & result.known
