"""The edit-rule language: readable conditions a clean return satisfies, and checking them.

Rules are expressions over the columns of a returns frame (one row per
firm), written in a small, safe subset of Python syntax::

    export_delivery_ytd <= gross_output_ytd
    gross_output_ytd >= 0
    gross_output_ytd >= gross_output_ytd_previous          # cumulative not decreasing
    0.2 <= gross_output_ytd / gross_output_ytd_last_year <= 5

Allowed: column names, numbers, ``+ - * / **``, comparisons (chained too),
``and``/``or``/``not`` (also ``& | ~``) and the functions ``abs``, ``log``,
``log10``, ``sqrt``, ``min``, ``max`` (element-wise). Anything else (attribute
access, subscripts, other calls, strings) is refused by the parser, so a rule
file cannot run code. The language is the toolkit's one restricted evaluator,
:mod:`survey.expressions` (also used by plan filters and ``Survey.subset``),
here with numbers only. A rule is *evaluated* for a firm only when all the
numbers it needs are finite; a comparison with a missing value is "not
evaluated" (missing items go to imputation, not to editing), with Kleene
logic for ``and``/``or`` (``False and missing`` is ``False``).

:func:`default_rules` derives the usual rule set from a return
:class:`~survey.form.Form`; :func:`check` applies rules to a frame. The
detectors (unit errors, falling year-to-date values, selective editing) are
in :mod:`survey.returns.detect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from survey import expressions
from survey.errors import EditError
from survey.form import Form

__all__ = [
    "EditReport",
    "Rule",
    "check",
    "default_rules",
    "resolve_id",
]

_FUNCTIONS = expressions.FUNCTIONS
_Truth = expressions.Truth


# ---------------------------------------------------------------------------
# the rule language: survey.expressions (numbers only)
# ---------------------------------------------------------------------------
def _parse(expression: str) -> expressions.Expression:
    return expressions.parse(expression, what="edit rule", error=EditError, strings=False)


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
    _tree: expressions.Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.severity not in ("hard", "soft"):
            raise EditError(f"rule {self.name!r}: severity must be 'hard' or 'soft', got {self.severity!r}")
        object.__setattr__(self, "_tree", _parse(self.expression))
        probe = expressions.evaluate(self._tree, {v: np.zeros(1) for v in self.variables}, 1)
        if not isinstance(probe, _Truth):
            raise EditError(
                f"rule {self.name!r}: {self.expression!r} is a number, not a condition; "
                "add a comparison such as '>= 0'"
            )

    @property
    def variables(self) -> tuple[str, ...]:
        """Column names the rule uses, in order of appearance."""
        return self._tree.names

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
        truth = expressions.evaluate(self._tree, columns, len(data))
        return truth.value & truth.known, truth.known



def resolve_id(id: str | None, form: Form | None) -> str:
    """The id column: ``id`` when given, else the form's, else ``"firm_id"``.

    Examples
    --------
    >>> from survey.form import DEMO_FORM
    >>> resolve_id(None, DEMO_FORM), resolve_id("ent", None)
    ('firm_id', 'ent')
    """
    if id is not None:
        return id
    return form.id if form is not None else "firm_id"


def default_rules(
    form: Form,
    indicators: Sequence[str] | None = None,
    *,
    growth_bounds: tuple[float, float] = (0.2, 5.0),
) -> tuple[Rule, ...]:
    """The default rule set of a return form.

    In this order: hard rules that non-negative indicators are not negative;
    the form's hard relations (e.g. export delivery not above gross
    output); hard rules that the year-to-date value of a non-negative flow
    is not below the previous quarter's (``{var}_ytd_previous``); soft rules
    that the year to date of any other flow (e.g. profit, which a loss can
    lower) is not below the previous quarter's; the form's soft relations;
    soft rules that the year-on-year ratio of each non-negative indicator is
    within ``growth_bounds``. Stocks have no cumulative rule.

    Parameters
    ----------
    form : Form
        The return form (e.g. :data:`survey.form.DEMO_FORM`).
    indicators : sequence of str, optional
        Only these indicators of the form (relations that use others are
        dropped); default all.
    growth_bounds : tuple of float, default=(0.2, 5.0)
        Bounds of ``{var}_ytd / {var}_ytd_last_year``.

    Returns
    -------
    tuple of Rule

    Examples
    --------
    >>> from survey.form import DEMO_FORM
    >>> [r.name for r in default_rules(DEMO_FORM, ["gross_output", "export_delivery"])][:4]
    ['gross_output_nonnegative', 'export_delivery_nonnegative', 'export_within_output', 'gross_output_cumulative']
    """
    if not isinstance(form, Form):
        raise EditError(
            f"default_rules: give the return form (a survey.form.Form, e.g. survey.form.DEMO_FORM), "
            f"got {type(form).__name__}"
        )
    if indicators is not None:
        form = form.restrict(indicators)
    low, high = growth_bounds
    ytd, previous, last = form.ytd, form.previous, form.last_year
    chosen = form.indicators
    flows = [v for v in chosen if v not in form.stocks]
    relations = [dict(r) for r in form.relations]
    rules = [
        Rule(name=f"{v}_nonnegative", expression=f"{ytd(v)} >= 0",
             description=f"{v} cannot be negative")
        for v in chosen if v in form.nonnegative
    ]  # fmt: skip
    rules += [Rule(**r) for r in relations if r.get("severity", "hard") == "hard"]
    rules += [
        Rule(name=f"{v}_cumulative", expression=f"{ytd(v)} >= {previous(v)}",
             description="a year-to-date value cannot fall during the year")
        for v in flows if v in form.nonnegative
    ]  # fmt: skip
    rules += [
        Rule(name=f"{v}_cumulative", expression=f"{ytd(v)} >= {previous(v)}", severity="soft",
             description=f"the year to date of {v} falls only with a negative quarter")
        for v in flows if v not in form.nonnegative
    ]  # fmt: skip
    rules += [Rule(**r) for r in relations if r.get("severity", "hard") != "hard"]
    rules += [
        Rule(name=f"{v}_growth", expression=f"{low} <= {ytd(v)} / {last(v)} <= {high}",
             severity="soft", description=f"year-on-year ratio of {v} within [{low}, {high}]")
        for v in chosen if v in form.nonnegative
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
        Rules skipped because their columns are absent.
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
    rules: Sequence[Rule | str] | None = None,
    *,
    form: Form | None = None,
    id: str | None = None,
    skip_missing_columns: bool | None = None,
) -> EditReport:
    """Apply edit rules to a returns frame.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (e.g. :meth:`survey.returns.ledger.Ledger.to_frame`).
    rules : sequence of Rule or str, optional
        Rules (strings are turned into hard rules named by their text);
        default ``default_rules(form)``.
    form : Form, optional
        The return form: its default rules when ``rules`` is not given, and
        its id column.
    id : str, optional
        Unit id column; default the form's, else ``"firm_id"``.
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
    unit = resolve_id(id, form)
    if unit not in data.columns:
        raise EditError(f"check: id column {unit!r} is not in the data")
    if rules is None:
        if form is None:
            raise EditError("check: give the rules, or form= for the default rules of a return form")
        rules = default_rules(form)
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
                seen = data[v].to_numpy(dtype=float, na_value=np.nan)[failed]
                values = values + np.array([f"{v}={x:g} " for x in seen], dtype=object)
            failures.append((ids[failed], r, values))
    counts = [len(f[0]) for f in failures]

    def repeated(attribute: str) -> np.ndarray:
        return np.repeat(np.array([getattr(f[1], attribute) for f in failures], dtype=object),
                         counts)

    table = (  # one frame for all rules (a frame per rule cost more than the rule)
        pd.DataFrame({
            unit: np.concatenate([f[0] for f in failures]), "rule": repeated("name"),
            "severity": repeated("severity"), "expression": repeated("expression"),
            "values": pd.Series(np.concatenate([f[2] for f in failures])).str.strip().to_numpy(),
        })
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
