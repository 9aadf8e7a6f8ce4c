"""The return form as data: which indicators a return carries and how its columns are named.

A statistical return (the questionnaire a firm sends each quarter) is
described by a frozen :class:`Form`: its indicators, which of them are
stocks (levels, such as the number of employees) rather than flows, which
cannot be negative, which are money, the id column, and the suffixes of the
year-to-date columns. The generic functions of :mod:`survey.returns` take a
form (``form=``) or explicit column names; none of them assumes the
variables of a particular survey.

:data:`DEMO_FORM` describes the bundled synthetic data (the quarterly form
of the Guangxi light-industry federation, money in thousand yuan).

Column names follow the Chinese reporting convention: a return carries, for
each indicator ``v``, ``{v}{ytd_suffix}`` (cumulative year to date) and
``{v}{last_year_suffix}`` (the same months of last year); derived frames add
``{v}{previous_suffix}`` (the previous quarter's year to date), ``{v}``
(the quarter) and ``{v}_last_year``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from survey.errors import FormError

__all__ = ["DEMO_FORM", "Form"]

_ID_FORMATS = (None, "uscc")


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise FormError(f"Form: {what} must be a sequence of column names, got {value!r}") from None
    bad = [v for v in names if not isinstance(v, str) or not v.strip()]
    if bad:
        raise FormError(f"Form: {what} must be non-empty strings, got {bad[:3]}")
    return names


@dataclass(frozen=True, kw_only=True)
class Form:
    """A return form: indicators, their kinds and the column-name conventions.

    Parameters
    ----------
    indicators : sequence of str
        Indicator names, in the order of the form.
    stocks : sequence of str, default=()
        Indicators that are levels (their year-to-date value is a level,
        not a sum; the quarter value is not a difference).
    nonnegative : sequence of str, default=()
        Indicators that cannot be negative (e.g. output; profit can be).
    money : sequence of str or None, default=None
        Indicators in money units (converted when a file is in another
        money unit); default every indicator.
    money_unit : str, default="thousand_yuan"
        The money unit values are kept in.
    units : mapping, default={}
        Unit of each indicator that is not money, e.g. ``{"employees": "person"}``.
    size : str or None, default=None
        A headcount-like indicator used as a size reference when looking
        for values reported in the wrong unit (e.g. ``"employees"``).
    id : str, default="firm_id"
        Unit id column of a return.
    id_format : {None, "uscc"}, default=None
        Check of the ids: ``"uscc"`` for 18-character unified social credit
        codes (:func:`survey.register.frame.valid_uscc`).
    period : str, default="period"
        Period column (quarter labels).
    other_columns : sequence of str, default=()
        Further columns a return file may carry that are not values (e.g.
        ``"responded"``); they are accepted and not stored.
    relations : sequence of mapping, default=()
        Edit rules between indicators that belong to the form (each a
        mapping with ``name``, ``expression`` and optional ``severity``
        and ``description``, see :class:`survey.returns.rules.Rule`).
    ytd_suffix, last_year_suffix, previous_suffix : str
        Column suffixes: ``"_ytd"``, ``"_ytd_last_year"``, ``"_ytd_previous"``.

    Raises
    ------
    FormError
        An indicator is listed twice, or a stock, non-negative, money, unit
        or size name is not an indicator.

    Examples
    --------
    >>> form = Form(indicators=["output", "staff"], stocks=["staff"], nonnegative=["output", "staff"],
    ...             money=["output"], units={"staff": "person"})
    >>> form.flows, form.items
    (('output',), ('output_ytd', 'output_ytd_last_year', 'staff_ytd', 'staff_ytd_last_year'))
    >>> form.ytd("output"), form.last_year("output"), form.previous("output")
    ('output_ytd', 'output_ytd_last_year', 'output_ytd_previous')
    >>> Form(indicators=["output"], stocks=["staff"])
    Traceback (most recent call last):
    ...
    survey.errors.FormError: Form: stocks ['staff'] are not indicators of the form (indicators: ['output'])
    """

    indicators: tuple[str, ...]
    stocks: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()
    money: tuple[str, ...] | None = None
    money_unit: str = "thousand_yuan"
    units: Mapping[str, str] = field(default_factory=dict)
    size: str | None = None
    id: str = "firm_id"
    id_format: str | None = None
    period: str = "period"
    other_columns: tuple[str, ...] = ()
    relations: tuple[Mapping[str, str], ...] = ()
    ytd_suffix: str = "_ytd"
    last_year_suffix: str = "_ytd_last_year"
    previous_suffix: str = "_ytd_previous"

    def __post_init__(self) -> None:
        indicators = _names(self.indicators, "indicators")
        if not indicators:
            raise FormError("Form: give at least one indicator")
        twice = sorted({v for v in indicators if indicators.count(v) > 1})
        if twice:
            raise FormError(f"Form: indicators {twice} are listed twice")
        object.__setattr__(self, "indicators", indicators)
        known = set(indicators)
        for name in ("stocks", "nonnegative", "money", "other_columns"):
            value = getattr(self, name)
            if value is None:
                continue
            names = _names(value, name)
            object.__setattr__(self, name, names)
            outside = [v for v in names if v not in known]
            if outside and name != "other_columns":
                raise FormError(f"Form: {name} {outside} are not indicators of the form "
                                f"(indicators: {list(indicators)})")
        if self.money is None:
            object.__setattr__(self, "money", indicators)
        units = dict(self.units)
        outside = [v for v in units if v not in known]
        if outside:
            raise FormError(f"Form: units given for {outside}, which are not indicators")
        clash = [v for v in units if v in self.money]
        if clash:
            raise FormError(f"Form: {clash} are money indicators (unit {self.money_unit!r}) and "
                            "cannot have another unit in units")
        object.__setattr__(self, "units", units)
        if self.size is not None and self.size not in known:
            raise FormError(f"Form: size {self.size!r} is not an indicator of the form")
        if self.id_format not in _ID_FORMATS:
            raise FormError(f"Form: id_format must be one of {_ID_FORMATS}, got {self.id_format!r}")
        for name in ("id", "period", "money_unit", "ytd_suffix", "last_year_suffix",
                     "previous_suffix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise FormError(f"Form: {name} must be a non-empty string, got {value!r}")
        if len({self.ytd_suffix, self.last_year_suffix, self.previous_suffix}) < 3:
            raise FormError("Form: ytd_suffix, last_year_suffix and previous_suffix must differ")
        relations = []
        for i, r in enumerate(self.relations):
            if not isinstance(r, Mapping) or not {"name", "expression"} <= set(r):
                raise FormError(f"Form: relations[{i}] must be a mapping with 'name' and "
                                f"'expression', got {r!r}")
            extra = set(r) - {"name", "expression", "severity", "description"}
            if extra:
                raise FormError(f"Form: relations[{i}] has unknown keys {sorted(extra)}")
            relations.append(dict(r))
        object.__setattr__(self, "relations", tuple(relations))

    # -- column names ---------------------------------------------------------
    def ytd(self, indicator: str) -> str:
        """Column of the year-to-date value of an indicator."""
        return indicator + self.ytd_suffix

    def last_year(self, indicator: str) -> str:
        """Column of the same period of last year (cumulative)."""
        return indicator + self.last_year_suffix

    def previous(self, indicator: str) -> str:
        """Column of the previous quarter's year-to-date value."""
        return indicator + self.previous_suffix

    @property
    def items(self) -> tuple[str, ...]:
        """The value columns of a return: ``ytd`` and ``last_year`` of every indicator."""
        return tuple(c for v in self.indicators for c in (self.ytd(v), self.last_year(v)))

    @property
    def flows(self) -> tuple[str, ...]:
        """Indicators that are not stocks."""
        return tuple(v for v in self.indicators if v not in self.stocks)

    def unit_of(self, indicator: str) -> str:
        """Unit of an indicator (``money_unit`` for money).

        Examples
        --------
        >>> DEMO_FORM.unit_of("employees"), DEMO_FORM.unit_of("revenue")
        ('person', 'thousand_yuan')
        """
        if indicator not in self.indicators:
            raise FormError(f"Form: {indicator!r} is not an indicator of the form")
        return self.money_unit if indicator in self.money else self.units.get(indicator, "")

    def restrict(self, indicators: Any) -> Form:
        """The same form with only some indicators (relations on others are dropped).

        Examples
        --------
        >>> DEMO_FORM.restrict(["gross_output", "employees"]).stocks
        ('employees',)
        """
        keep = _names(indicators, "indicators")
        unknown = [v for v in keep if v not in self.indicators]
        if unknown:
            raise FormError(f"Form: {unknown} are not indicators of the form")
        import dataclasses
        import re

        def used(rule: Mapping[str, str]) -> bool:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rule["expression"]))
            cols = {c for v in self.indicators if v not in keep for c in
                    (v, self.ytd(v), self.last_year(v), self.previous(v))}
            return not (words & cols)

        return dataclasses.replace(
            self, indicators=keep,
            stocks=tuple(v for v in self.stocks if v in keep),
            nonnegative=tuple(v for v in self.nonnegative if v in keep),
            money=tuple(v for v in self.money if v in keep),
            units={k: u for k, u in self.units.items() if k in keep},
            size=self.size if self.size in keep else None,
            relations=tuple(r for r in self.relations if used(r)))


#: The form of the bundled synthetic data (:mod:`survey.datasets`): five money
#: indicators in thousand yuan and the number of employees (a stock, persons);
#: ids are unified social credit codes.
DEMO_FORM = Form(
    indicators=("gross_output", "export_delivery", "sales_output", "revenue", "profit_tax",
                "employees"),
    stocks=("employees",),
    nonnegative=("gross_output", "export_delivery", "sales_output", "revenue", "employees"),
    money=("gross_output", "export_delivery", "sales_output", "revenue", "profit_tax"),
    money_unit="thousand_yuan",
    units={"employees": "person"},
    size="employees",
    id="firm_id",
    id_format="uscc",
    period="period",
    other_columns=("responded", "operating"),
    relations=(
        {"name": "export_within_output", "expression": "export_delivery_ytd <= gross_output_ytd",
         "severity": "hard", "description": "export delivery value is part of gross output"},
        {"name": "sales_near_output", "expression": "sales_output_ytd <= 1.5 * gross_output_ytd",
         "severity": "soft", "description": "sales output rarely exceeds gross output by half"},
    ),
)
