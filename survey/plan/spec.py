"""PlanSpec: the specification of a sample plan, checked in one place.

A :class:`PlanSpec` holds every choice of :func:`survey.plan.design_plan`
(CV targets, strata, size column, take-all and take-none rules, size
classes, allocation options, PRN key). It is built directly, or from the
``[plan]`` section of a survey configuration with :meth:`PlanSpec.from_config`;
either way its values are checked by the same code: :meth:`PlanSpec.problems`
lists every problem with its key path, and the constructor raises
:class:`~survey.errors.PlanError` listing them. :func:`plan_problems` runs the
same checks on a ``[plan]`` section in the configuration's key names (``cv``,
``take_all_column``, ``threshold_by``, ...), which is what
``survey validate-config`` reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from survey.errors import ConfigError, PlanError

__all__ = [
    "BOUNDARY_METHODS",
    "CONFIG_KEYS",
    "PlanSpec",
    "leaves",
    "listed_twice",
    "plan_problems",
]

#: Rules for the size-class boundaries (see :func:`survey.plan.boundaries`).
BOUNDARY_METHODS: tuple[str, ...] = ("cum_sqrt_f", "geometric", "lavallee_hidiroglou")

#: The keys of the ``[plan]`` section of a configuration.
CONFIG_KEYS: frozenset[str] = frozenset({
    "register", "dataset", "year", "id", "size", "strata", "take_all_column",
    "take_all_threshold", "threshold_table", "threshold_by", "take_all_cv", "take_none_below",
    "size_strata", "boundary_method", "cv", "cost", "min_n", "response_rate", "prn_seed",
    "select", "output_excel", "filter", "missing_size", "encoding", "key_units", "typical",
})

# configuration key -> PlanSpec field (keys absent here have the same name, or none)
_FIELD_OF_KEY = {
    "cv": "targets", "take_all_column": "take_all", "take_all_threshold": "take_all",
    "threshold_table": "take_all", "threshold_by": "take_all_by",
}
_TAKE_ALL_KEYS = ("take_all_column", "take_all_threshold", "threshold_table", "take_all_cv")

Problem = tuple[str, str]


# --------------------------------------------------------------------------- value checks
def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a nested value (tables, arrays) with its key path.

    Examples
    --------
    >>> list(leaves({"cv": {"sector": 0.02, "city": [0.1, 0.2]}}))
    [('cv.sector', 0.02), ('cv.city[0]', 0.1), ('cv.city[1]', 0.2)]
    """
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval(low: float | None, high: float | None, *, low_open: bool = True,
              high_open: bool = True) -> Callable[[Any], list[Problem]]:
    """Every number in the value (nested tables too) lies in the interval."""
    lo_b = "(" if low_open else "["
    hi_b = ")" if high_open else "]"
    text = f"{lo_b}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_b}"

    def check(value: Any) -> list[Problem]:
        out = []
        for sub, v in leaves(value):
            if not _is_number(v):
                continue
            bad = (low is not None and (v <= low if low_open else v < low)) or (
                high is not None and (v >= high if high_open else v > high))
            if bad:
                out.append((sub, f"must be in {text}, got {v!r}"))
        return out

    return check


def _kinds(*allowed: str) -> Callable[[Any], list[Problem]]:
    """The value is one of the allowed kinds: number, integer, name, table, list of names."""
    words = {"number": "a number", "integer": "an integer", "name": "a column name",
             "table": "a table", "names": "a list of column names", "frame": "a DataFrame"}

    def fits(value: Any, kind: str) -> bool:
        if kind == "number":
            return _is_number(value)
        if kind == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind == "name":
            return isinstance(value, str) and bool(value.strip())
        if kind == "table":
            return isinstance(value, Mapping) and all(_is_number(v) for _, v in leaves(value))
        if kind == "names":
            return isinstance(value, (list, tuple)) and all(
                isinstance(v, str) and v.strip() for v in value)
        if kind == "frame":
            return isinstance(value, pd.DataFrame)
        raise AssertionError(kind)  # pragma: no cover

    def check(value: Any) -> list[Problem]:
        if value is None or any(fits(value, k) for k in allowed):
            return []
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return [("", f"must be {' or '.join(words[k] for k in allowed)}, got {shown}")]

    return check


def listed_twice(value: Any) -> list[Problem]:
    """The entries of a list given twice, as ``("[i]", message)`` problems (a list of column
    names in a configuration, for example).

    Examples
    --------
    >>> listed_twice(["city", "size", "city"])
    [('[2]', "'city' is listed twice")]
    """
    if isinstance(value, (list, tuple)):
        seen: set[Any] = set()
        out = []
        for i, v in enumerate(value):
            if v in seen:
                out.append((f"[{i}]", f"{v!r} is listed twice"))
            seen.add(v)
        return out
    return []


def _choice(options: Sequence[str]) -> Callable[[Any], list[Problem]]:
    def check(value: Any) -> list[Problem]:
        if value is None or value in options:
            return []
        return [("", f"must be one of {', '.join(repr(o) for o in options)}, got {value!r}")]

    return check


def _targets(value: Any) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [("", "must be a table {variable: cv} or {variable: {domain: cv}}, got "
                     f"{type(value).__name__}")]
    out = []
    for variable, target in value.items():
        if _is_number(target):
            continue
        if isinstance(target, Mapping) and target and all(_is_number(v) for v in target.values()):
            continue
        out.append((str(variable), "must be a CV (a number) or a table {total = ..., <domain "
                                   "column> = ...} of CVs"))
    return out + _interval(0, 1)(value)


def _take_all(value: Any) -> list[Problem]:
    if value is None or isinstance(value, (str, pd.DataFrame)):
        return _kinds("name", "frame")(value) if isinstance(value, str) else []
    return _kinds("number", "table")(value) + _interval(0, None, low_open=False)(value)


def _all(*checks: Callable[[Any], list[Problem]]) -> Callable[[Any], list[Problem]]:
    def check(value: Any) -> list[Problem]:
        out: list[Problem] = []
        for c in checks:
            found = c(value)
            out += found
            if found and c is checks[0]:  # a value of the wrong kind: nothing more to say
                return out
        return out

    return check


#: The check of each PlanSpec field (None values are not checked).
_CHECKS: dict[str, Callable[[Any], list[Problem]]] = {
    "targets": _targets,
    "strata": _all(_kinds("name", "names"), listed_twice),
    "size": _kinds("name"),
    "id": _kinds("name"),
    "take_all": _take_all,
    "take_all_by": _kinds("name"),
    "take_all_cv": _all(_kinds("number"), _interval(0, 1)),
    "take_none_below": _all(_kinds("number"), _interval(0, None, low_open=False)),
    "size_strata": _all(_kinds("integer"), _interval(1, None, low_open=False)),
    "boundary_method": _choice(BOUNDARY_METHODS),
    "cost": _all(_kinds("number", "name", "table"), _interval(0, None)),
    "min_n": _all(_kinds("integer"), _interval(1, None, low_open=False)),
    "response_rate": _all(_kinds("number", "name", "table"), _interval(0, 1, high_open=False)),
    "prn_seed": _kinds("integer"),
    "missing_size": _all(_kinds("number"), _interval(0, None, low_open=False)),
}


def _join(base: str, sub: str) -> str:
    if not sub:
        return base
    return f"{base}{sub}" if sub.startswith("[") else f"{base}.{sub}"


#: Checks of configuration keys whose value differs from the field's.
_KEY_CHECKS: dict[str, Callable[[Any], list[Problem]] | None] = {
    "take_all_column": _kinds("name"),
    "take_all_threshold": _all(_kinds("number", "table"), _interval(0, None, low_open=False)),
    "threshold_table": None,  # a file name, read by PlanSpec.from_config
}


def _check_values(values: Mapping[str, Any],
                  check_of: Callable[[str], Callable[[Any], list[Problem]] | None]) -> list[Problem]:
    out: list[Problem] = []
    for key, value in values.items():
        check = check_of(key)
        if check is None or value is None:
            continue
        out += [(_join(key, sub), message) for sub, message in check(value)]
    return out


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True, kw_only=True, eq=False)
class PlanSpec:
    """The specification of a sample plan (the choices of :func:`survey.plan.design_plan`).

    Parameters
    ----------
    targets : mapping
        CV targets ``{variable: cv}`` or ``{variable: {domain_type: cv}}``
        (``"total"`` or a domain column), e.g.
        ``{"revenue_prev_year": {"total": 0.02, "county": 0.10}}``.
    strata : str, sequence of str or None, default=None
        Register columns that stratify the take-some part (default the
        frame's strata); size classes are added within them.
    size : str or None, default=None
        Size column (default the frame's), e.g. ``"revenue_prev_year"``.
    id : str or None, default=None
        Unit id column (default the frame's, or ``"firm_id"``).
    take_all : str, float, mapping, pandas.DataFrame or None, default=None
        Take-all rule: a boolean column (e.g. ``"above_size"``), or a
        designated-size threshold (one number, or a table keyed on
        ``take_all_by``, see :func:`survey.plan.designated_size`).
    take_all_by : str or None, default=None
        Column a threshold table is keyed on (e.g. ``"industry"``).
    take_all_cv : float or None, default=None
        Instead of ``take_all``: a statistical cut-off on ``size`` for this
        CV of the total (:func:`survey.plan.take_all_cutoff`).
    take_none_below : float or None, default=None
        Units with ``size`` below this value are not surveyed.
    size_strata : int, default=3
        Size classes within the take-some strata.
    boundary_method : {"cum_sqrt_f", "geometric", "lavallee_hidiroglou"}, default="cum_sqrt_f"
    cost, response_rate : float, str, mapping or None, default=None
        Unit cost and anticipated response rate (number, column, or
        stratum -> value), see :func:`survey.plan.allocate_multivariate`.
    min_n : int, default=2
        Least sample size per take-some stratum.
    prn_seed : int, default=0
        Key of the permanent random numbers when the register has no
        ``prn`` column.
    missing_size : float or None, default=None
        Size given to units whose size is missing (new firms); ``None``
        makes a missing size an error. A unit of unknown size is never
        take-none (its size is not known to be small): it is sampled.
    key_units : mapping or None, default=None
        Key-unit survey (重点调查): ``by`` (cell columns), ``cells`` (default
        all), ``share`` of the cell's size total or ``number`` of units,
        ``rest`` (``"sample"`` or ``"take_none"``), see
        :func:`survey.plan.keyunits.key_unit_mask`. Key units are enumerated
        (part ``take_all``, column ``key_unit``).
    typical : mapping or None, default=None
        Typical units (典型调查): ``ids`` (a list) and/or ``column`` (a
        boolean register column), ``model_inputs`` (bool, read by the
        estimate step). Never drawn into the probability sample.

    Raises
    ------
    PlanError
        Listing every problem, each with its key path
        (e.g. ``targets.revenue_prev_year.county: must be in (0, 1), got 1.5``).

    Examples
    --------
    >>> spec = PlanSpec(targets={"revenue": {"total": 0.05, "county": 0.1}}, size="revenue",
    ...                 take_all="above_size", size_strata=2)
    >>> spec.size_strata, spec.replace(size_strata=3).size_strata
    (2, 3)
    >>> PlanSpec(targets={"revenue": 1.5}, size_strata=0)
    Traceback (most recent call last):
    ...
    survey.errors.PlanError: 2 problems in the plan specification:
      targets.revenue: must be in (0, 1), got 1.5
      size_strata: must be in [1, inf), got 0
    """

    targets: Mapping[str, Any]
    strata: str | tuple[str, ...] | None = None
    size: str | None = None
    id: str | None = None
    take_all: Any = None
    take_all_by: str | None = None
    take_all_cv: float | None = None
    take_none_below: float | None = None
    size_strata: int = 3
    boundary_method: str = "cum_sqrt_f"
    cost: Any = None
    min_n: int = 2
    response_rate: Any = None
    prn_seed: int = 0
    missing_size: float | None = None
    key_units: Mapping[str, Any] | None = None
    typical: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.strata, list):
            object.__setattr__(self, "strata", tuple(self.strata))
        problems = self.problems()
        if problems:
            word = "problem" if len(problems) == 1 else "problems"
            raise PlanError(f"{len(problems)} {word} in the plan specification:\n  "
                            + "\n  ".join(f"{path}: {message}" for path, message in problems))

    def problems(self) -> list[Problem]:
        """Every problem of the values, as ``(key path, message)`` pairs.

        The value of each field is checked (kind and range); when all are
        valid, the rules between fields: at least one CV target, one
        take-all rule at most, a threshold table needs ``take_all_by``.

        Examples
        --------
        >>> PlanSpec(targets={"x": 0.1}, take_all_cv=0.05).problems()
        []
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = _check_values(values, _CHECKS.get)
        if out:
            return out
        if self.take_all is not None and self.take_all_cv is not None:
            out.append(("take_all_cv", "give only one take-all rule, not take_all and take_all_cv"))
        if isinstance(self.take_all, (Mapping, pd.DataFrame)) and self.take_all_by is None:
            out.append(("take_all_by", "missing: a threshold table needs the column it is keyed "
                                       "on (e.g. take_all_by='industry')"))
        if not self.targets:
            out.append(("targets", "give at least one CV target, e.g. revenue_prev_year = 0.02"))
        out += _part_problems(self.key_units, self.typical)
        return out

    def replace(self, **changes: Any) -> PlanSpec:
        """A new spec with some values changed (checked again).

        Examples
        --------
        >>> PlanSpec(targets={"x": 0.1}).replace(min_n=3).min_n
        3
        """
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The values as plain data (a threshold table becomes ``"table"``).

        Examples
        --------
        >>> PlanSpec(targets={"x": 0.1}, strata=["city"]).settings()["strata"]
        ['city']
        """
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = "table" if isinstance(value, pd.DataFrame) else _plain(value)
        return out

    @classmethod
    def from_config(cls, section: Mapping[str, Any], *, base: str | Path | None = None) -> PlanSpec:
        """The spec of the ``[plan]`` section of a survey configuration.

        Parameters
        ----------
        section : mapping
            The parsed ``[plan]`` section (``SurveyConfig.section("plan")``;
            keys in ``docs/planning.md``). ``cv`` becomes ``targets``;
            ``take_all_column``, ``take_all_threshold`` or ``threshold_table``
            (a CSV file, read with :func:`survey.io.read_table`) becomes
            ``take_all``; ``threshold_by`` becomes ``take_all_by``.
        base : str, pathlib.Path or None, default=None
            Folder that a relative ``threshold_table`` path is relative to
            (default: the current folder).

        Raises
        ------
        ConfigError
            Every problem of the section, one per line, with its key
            (``[plan] cv.x: must be in (0, 1), got 1.5``).

        Examples
        --------
        >>> spec = PlanSpec.from_config({"size": "revenue", "cv": {"revenue": 0.05},
        ...                              "take_all_column": "above_size", "threshold_by": None})
        >>> spec.targets, spec.take_all, spec.id
        ({'revenue': 0.05}, 'above_size', 'firm_id')
        """
        section = {k: v for k, v in section.items() if v is not None}
        problems = [(k, "unknown key; known keys: " + ", ".join(sorted(CONFIG_KEYS)))
                    for k in sorted(set(section) - CONFIG_KEYS)]
        if "size" not in section:
            problems.append(("size", "missing (the size column, e.g. 'revenue_prev_year')"))
        if not isinstance(section.get("cv"), Mapping) or not section.get("cv"):
            problems.append(("cv", "missing; give CV targets as [plan.cv] "
                                   "variable = {total = 0.02, county = 0.1}"))
        if not problems:
            problems = plan_problems(section)
        take_all: Any = None
        if not problems:
            if "take_all_column" in section:
                take_all = str(section["take_all_column"])
            elif "take_all_threshold" in section:
                take_all = section["take_all_threshold"]
            elif "threshold_table" in section:
                from survey.io import read_table

                path = Path(section["threshold_table"])
                folder = Path(base) if base is not None else Path.cwd()
                path = path if path.is_absolute() else folder / path
                if not path.exists():
                    problems.append(("threshold_table", f"file {str(path)!r} not found"))
                else:
                    take_all = read_table(path, text=[section["threshold_by"]])
        if problems:
            word = "problem" if len(problems) == 1 else "problems"
            raise ConfigError(f"{len(problems)} {word} in [plan]:\n  "
                              + "\n  ".join(f"[plan] {k}: {m}" for k, m in problems))
        return cls(
            targets=section["cv"], strata=section.get("strata"), size=section["size"],
            id=section.get("id", "firm_id"),
            take_all=take_all, take_all_by=section.get("threshold_by"),
            take_all_cv=section.get("take_all_cv"),
            take_none_below=section.get("take_none_below"),
            size_strata=section.get("size_strata", 3),
            boundary_method=section.get("boundary_method", "cum_sqrt_f"),
            cost=section.get("cost"), min_n=section.get("min_n", 2),
            response_rate=section.get("response_rate"), prn_seed=section.get("prn_seed", 0),
            missing_size=section.get("missing_size"),
            key_units=section.get("key_units"), typical=section.get("typical"),
        )


def plan_problems(section: Mapping[str, Any]) -> list[Problem]:
    """Problems of the values of a ``[plan]`` section, in the configuration's key names.

    The same checks as :meth:`PlanSpec.problems` (each key's kind and range;
    when all are valid, the rules between keys: one take-all rule at most,
    a threshold table needs ``threshold_by``, at least one CV target). Keys
    that are missing or unknown are the caller's to report.

    Parameters
    ----------
    section : mapping
        The section (``None`` values are ignored).

    Returns
    -------
    list of (str, str)
        ``(key path, message)``; the path is relative to ``[plan]``
        (``cv.revenue_prev_year.county``, ``strata[1]``).

    Examples
    --------
    >>> plan_problems({"cv": {"x": {"total": 0.02, "county": 1.5}}, "size_strata": 0})
    [('cv.x.county', 'must be in (0, 1), got 1.5'), ('size_strata', 'must be in [1, inf), got 0')]
    >>> plan_problems({"cv": {"x": 0.1}, "take_all_column": "big", "take_all_cv": 0.01})
    [('take_all_cv', 'give only one take-all rule, not take_all_column and take_all_cv')]
    """
    values = {k: v for k, v in section.items() if v is not None}

    def check_of(key: str) -> Callable[[Any], list[Problem]] | None:
        if key in _KEY_CHECKS:
            return _KEY_CHECKS[key]
        return _CHECKS.get(_FIELD_OF_KEY.get(key, key))

    out = _check_values(values, check_of)
    if out:
        return out
    rules = [k for k in _TAKE_ALL_KEYS if k in values]
    if len(rules) > 1:
        out.append((rules[1], f"give only one take-all rule, not {' and '.join(rules)}"))
    table = "threshold_table" in values or isinstance(values.get("take_all_threshold"), Mapping)
    if table and "threshold_by" not in values:
        out.append(("threshold_by", "missing: a threshold table needs the column it is keyed on "
                                    "(e.g. threshold_by = 'industry')"))
    if not values.get("cv"):
        out.append(("cv", "give at least one CV target, e.g. revenue_prev_year = 0.02"))
    out += _part_problems(values.get("key_units"), values.get("typical"))
    return out


def _part_problems(key_units: Any, typical: Any) -> list[Problem]:
    """Problems of the ``key_units`` and ``typical`` tables."""
    from survey.plan.keyunits import TYPICAL_KEYS, key_unit_problems

    out: list[Problem] = []
    if key_units is not None:
        if not isinstance(key_units, Mapping):
            out.append(("key_units", "must be a table: [plan.key_units] by = ..., share = ..."))
        else:
            out += [(f"key_units.{k}", m) for k, m in key_unit_problems(key_units)]
    if typical is not None:
        if not isinstance(typical, Mapping):
            out.append(("typical", "must be a table: [plan.typical] ids = [...] or column = ..."))
        else:
            out += [(f"typical.{k}", "unknown key; known keys: " + ", ".join(sorted(TYPICAL_KEYS)))
                    for k in sorted(set(typical) - TYPICAL_KEYS)]
            if not typical.get("ids") and not typical.get("column"):
                out.append(("typical.ids", "give ids (a list of unit ids) or column (a boolean "
                                           "register column)"))
    return out


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a setting."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
