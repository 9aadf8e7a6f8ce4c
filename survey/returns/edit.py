"""Deprecated home of the edit rules and detectors (kept while callers switch).

The module was split: the rule language and :func:`check` are in
:mod:`survey.returns.rules`, the detectors in :mod:`survey.returns.detect`;
both take a return :class:`~survey.form.Form` instead of the demo's
indicator names. The functions here keep their old signatures and the demo
defaults (:data:`survey.form.DEMO_FORM`, ``revenue_prev_year``,
``employees_ytd``, ``industry``) and warn with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from survey.form import DEMO_FORM
from survey.returns import detect
from survey.returns import rules as rule_language
from survey.returns.detect import UnitErrors
from survey.returns.rules import EditReport, Rule

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

_DEMO_SCALE = ("gross_output", "sales_output", "revenue")


def _moved(name: str, where: str) -> None:
    warnings.warn(f"survey.returns.edit.{name} is deprecated: use {where} with form= "
                  "(e.g. survey.form.DEMO_FORM) or explicit column names", DeprecationWarning,
                  stacklevel=3)


def default_rules(indicators: Sequence[str] = DEMO_FORM.indicators, *,
                  growth_bounds: tuple[float, float] = (0.2, 5.0)) -> tuple[Rule, ...]:
    """Deprecated: ``survey.returns.rules.default_rules(DEMO_FORM, indicators)``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     len(default_rules(["gross_output"]))
    3
    """
    _moved("default_rules", "survey.returns.rules.default_rules")
    return rule_language.default_rules(DEMO_FORM, list(indicators), growth_bounds=growth_bounds)


def check(data: pd.DataFrame, rules: Any = None, *, unit: str = "firm_id",
          skip_missing_columns: bool | None = None) -> EditReport:
    """Deprecated: ``survey.returns.rules.check`` (``unit=`` is now ``id=``).

    Examples
    --------
    >>> import warnings
    >>> df = pd.DataFrame({"firm_id": ["a", "b"], "revenue_ytd": [1.0, -2.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     check(df, ["revenue_ytd >= 0"]).failures["firm_id"].tolist()
    ['b']
    """
    _moved("check", "survey.returns.rules.check")
    return rule_language.check(data, rules, form=DEMO_FORM if rules is None else None, id=unit,
                               skip_missing_columns=skip_missing_columns)


def detect_unit_errors(
    data: pd.DataFrame,
    variables: Sequence[str] = DEMO_FORM.money,
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
    """Deprecated: ``survey.returns.detect.detect_unit_errors`` with the demo's names.

    Examples
    --------
    >>> import warnings
    >>> df = pd.DataFrame({"firm_id": ["a", "b"], "revenue_ytd": [2_050_000.0, 900.0],
    ...                    "revenue_ytd_last_year": [1800.0, 1000.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     detect_unit_errors(df, ["revenue"]).flags["firm_id"].tolist()
    ['a']
    """
    _moved("detect_unit_errors", "survey.returns.detect.detect_unit_errors")
    return detect.detect_unit_errors(
        data, list(variables), id=unit, references=references, register=register,
        register_scale=_DEMO_SCALE, size=size, by=by, period=period, factor=factor,
        tolerance=tolerance, min_class=min_class)


def cumulative_conflicts(
    data: pd.DataFrame,
    variables: str | Sequence[str] = ("gross_output", "export_delivery", "sales_output", "revenue"),
    *,
    unit: str = "firm_id",
    period: str = "period",
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Deprecated: ``survey.returns.detect.cumulative_conflicts`` (``unit=`` is now ``id=``).

    Examples
    --------
    >>> import warnings
    >>> panel = pd.DataFrame({"firm_id": ["a", "a"], "period": ["2006Q1", "2006Q2"],
    ...                       "gross_output_ytd": [10.0, 4.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     len(cumulative_conflicts(panel, "gross_output"))
    1
    """
    _moved("cumulative_conflicts", "survey.returns.detect.cumulative_conflicts")
    return detect.cumulative_conflicts(data, variables, id=unit, period=period, exclude=exclude)


def selective_editing_scores(
    data: pd.DataFrame,
    variables: Sequence[str] = ("gross_output", "export_delivery"),
    *,
    unit: str = "firm_id",
    **kwargs: Any,
) -> pd.DataFrame:
    """Deprecated: ``survey.returns.detect.selective_editing_scores`` (``unit=`` is now ``id=``).

    Examples
    --------
    >>> import warnings
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [110.0, 5000.0, 95.0],
    ...                    "gross_output_ytd_last_year": [100.0, 50.0, 100.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     selective_editing_scores(df, ["gross_output"])["firm_id"].tolist()
    ['b', 'c', 'a']
    """
    _moved("selective_editing_scores", "survey.returns.detect.selective_editing_scores")
    return detect.selective_editing_scores(data, list(variables), id=unit, **kwargs)
