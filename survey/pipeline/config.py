"""The survey configuration file: one TOML file describes the whole cycle.

A configuration names the register, the sample plan (take-all threshold,
strata, CV targets), the three channels, the variables to estimate, the
calibration margins, the edit rules, the disclosure rules, the report and
the output folder, the language and the seed. It is read with the standard
library's :mod:`tomllib`, checked completely (every problem is reported, each
with its key path such as ``plan.cv.revenue_prev_year.county``) and parsed
into frozen dataclasses. Each section is also available as a plain mapping for
the module that consumes it (``config.section("plan")``).

Relative paths are resolved against the folder of the configuration file,
so a configuration and its data can move together.

The keys are listed in ``docs/configuration.md``; the demo configuration
(``survey/pipeline/demo.toml``, :data:`survey.pipeline.DEMO_CONFIG`) is a
complete example on the bundled synthetic data.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from survey.errors import ConfigError, SurveyError
from survey.periods import QUARTER_PATTERN, sort_quarters, year_of
from survey.plan.spec import listed_twice

__all__ = [
    "SurveyConfig",
    "SurveySettings",
    "RegisterSettings",
    "PlanSettings",
    "SelectSettings",
    "ChannelSettings",
    "EstimateSettings",
    "CalibrationSettings",
    "EditSettings",
    "EditRuleSettings",
    "LedgerSettings",
    "DisclosureSettings",
    "DisclosureTableSettings",
    "ReportSettings",
    "load_config",
    "validate_config",
    "with_settings",
]

_PACKAGE = Path(__file__).resolve().parents[1]  # the installed survey package
_PERIOD = re.compile(QUARTER_PATTERN)  # strict: the canonical form only
_CHANNEL_NAME = re.compile(r"^[^\W][\w-]*$")
_INVALID = object()
# names users write for an allowed value (used in "did you mean", never accepted)
_ALIASES = {"cn": "zh", "zh-cn": "zh", "zh_cn": "zh", "chinese": "zh", "english": "en",
            "en-us": "en", "en_us": "en", "excel": "xlsx"}


def _key(doc: str, *, check: Any = None, exists: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a description, an optional check and path options."""
    return field(metadata={"doc": doc, "check": check, "exists": exists}, **kwargs)


# ---------------------------------------------------------------------------
# checks (return a list of (relative key path, message))
# ---------------------------------------------------------------------------


def _leaves(value: Any, path: str = "") -> typing.Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _join(base: str, sub: str) -> str:
    if not sub:
        return base
    return f"{base}{sub}" if sub.startswith("[") else f"{base}.{sub}"


def _interval(low: float | None, high: float | None, *, low_open: bool = True,
              high_open: bool = True) -> Any:
    """Check every number in the value (nested tables too) lies in the interval."""
    lo_b = "(" if low_open else "["
    hi_b = ")" if high_open else "]"
    text = f"{lo_b}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_b}"

    def check(value: Any) -> list[tuple[str, str]]:
        out = []
        for sub, v in _leaves(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            bad = (low is not None and (v <= low if low_open else v < low)) or (
                high is not None and (v >= high if high_open else v > high))
            if bad:
                out.append((sub, f"must be in {text}, got {v!r}"))
        return out

    return check


def _encoding(value: Any) -> list[tuple[str, str]]:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        return [("", f"unknown encoding {value!r}; use e.g. 'utf-8', 'gbk', 'gb18030' or 'big5'")]
    return []


def _period_label(value: Any) -> list[tuple[str, str]]:
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str) and not _PERIOD.match(v):
            sub = f"[{i}]" if isinstance(value, (list, tuple)) else ""
            out.append((sub, f"{v!r} is not a quarter label like '2006Q4'"))
    return out


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SurveySettings:
    """``[survey]``: name, language, seed, output folder, period."""

    name: str = _key("name of the survey, shown in reports")
    seed: int = _key("seed of every random step (sample selection, simulated returns)",
                     check=_interval(0, None, low_open=False))
    language: Literal["zh", "en"] = _key("language of labels and reports", default="zh")
    output: Path = _key("output folder (created when needed)", default=Path("output"))
    period: str | None = _key("quarter to publish, e.g. '2006Q4'", default=None,
                              check=_period_label)
    units: str = _key("unit of money in the data and the tables", default="thousand yuan")


@dataclass(frozen=True, kw_only=True)
class RegisterSettings:
    """``[register]``: the business register (sampling frame)."""

    file: Path | None = _key("register file (.parquet, .csv or .xlsx)", default=None, exists=True)
    dataset: Literal["register"] | None = _key(
        "'register' for the bundled synthetic register (instead of file)", default=None)
    id: str = _key("firm id column (18-character USCC)", default="firm_id")
    size: str = _key("size column (thousand yuan), e.g. revenue_prev_year",
                     default="revenue_prev_year")
    year: int | None = _key("register year to use (the register may hold several)",
                            default=None)
    encoding: str | None = _key("encoding of a CSV register (default: detected: UTF-8, UTF-8 "
                                "with BOM, GB18030/GBK), e.g. 'gbk' or 'big5'", default=None,
                                check=_encoding)

    def _validate(self) -> list[tuple[str, str]]:
        if (self.file is None) == (self.dataset is None):
            return [("file", "give either register.file (your register) or "
                             "register.dataset = 'register' (the bundled synthetic register)")]
        return []


@dataclass(frozen=True, kw_only=True)
class SelectSettings:
    """``[plan.select]``: how the sample is drawn (``survey select``)."""

    method: Literal["srswor", "systematic", "pps_systematic", "poisson", "pareto",
                    "sequential_poisson"] | None = _key("selection method", default=None)
    rotation: float | None = _key("share of the sample rotated out each period",
                                  default=None, check=_interval(0, 1, low_open=False, high_open=False))
    period: int | None = _key("rotation period number", default=None,
                              check=_interval(0, None, low_open=False))
    start: float | None = _key("PRN starting point", default=None,
                               check=_interval(0, 1, low_open=False))


@dataclass(frozen=True, kw_only=True)
class KeyUnitSettings:
    """``[plan.key_units]``: the key-unit survey (重点调查) within named cells."""

    by: str | list[str] = _key("cell column(s) within which key units are chosen, e.g. industry")
    cells: list[str] | None = _key("cells with key units (default every cell)", default=None)
    share: float | None = _key("share of the cell's size total the largest units carry",
                               default=None)
    number: int | None = _key("instead of share: the number of largest units per cell",
                              default=None)
    rest: Literal["sample", "take_none"] = _key(
        "the rest of the cell: sampled, or take-none (estimated by the cut-off model)",
        default="sample")


@dataclass(frozen=True, kw_only=True)
class TypicalSettings:
    """``[plan.typical]``: typical units (典型调查), shown as case studies only."""

    ids: list[str] | None = _key("ids of the typical units", default=None)
    column: str | None = _key("boolean register column flagging typical units", default=None)
    model_inputs: bool = _key("typical units may be inputs of the take-none model",
                              default=False)


@dataclass(frozen=True, kw_only=True)
class PlanSettings:
    """``[plan]``: the sample plan (read by :func:`survey.plan.run_plan`).

    ``register``, ``dataset``, ``id``, ``size`` and ``year`` default to
    the ``[register]`` section (see :meth:`SurveyConfig.section`). The values
    are checked by :func:`survey.plan.spec.plan_problems`, the checks of
    :class:`survey.plan.spec.PlanSpec` (one place for both).
    """

    cv: dict[str, float | dict[str, float]] = _key(
        "CV targets: variable = number (total) or {total = ..., <domain column> = ...}")
    register: Path | None = _key("register file (default: register.file)", default=None,
                                 exists=True)
    dataset: Literal["register"] | None = _key("bundled dataset (default: register.dataset)",
                                               default=None)
    year: int | None = _key("register year (default: register.year)", default=None)
    id: str | None = _key("unit id column (default: register.id)", default=None)
    size: str | None = _key("size column (default: register.size)", default=None)
    filter: str | None = _key("condition (survey.expressions: columns, literals, comparisons, and/or/not) that keeps the register rows in scope",
                              default=None)
    missing_size: float | None = _key("size given to units with none (new firms); unset: error",
                                      default=None)
    strata: str | list[str] | None = _key("stratum columns of the take-some part", default=None)
    take_all_column: str | None = _key("boolean column of take-all firms, e.g. above_size",
                                       default=None)
    take_all_threshold: float | dict[str, float] | None = _key(
        "designated-size threshold (one number or a table keyed on threshold_by)", default=None)
    threshold_table: Path | None = _key("CSV threshold table keyed on threshold_by",
                                        default=None, exists=True)
    threshold_by: str | None = _key("column the threshold table is keyed on", default=None)
    take_all_cv: float | None = _key("statistical cut-off: take-all for this CV of the total",
                                     default=None)
    take_none_below: float | None = _key("units below this size are not surveyed",
                                         default=None)
    size_strata: int | None = _key("number of size classes", default=None)
    boundary_method: Literal["cum_sqrt_f", "geometric", "lavallee_hidiroglou"] | None = _key(
        "rule for size-class boundaries", default=None)
    cost: float | str | dict[str, float] | None = _key(
        "unit cost: number, column, or stratum -> cost", default=None)
    min_n: int | None = _key("least sample size per stratum", default=None)
    response_rate: float | str | dict[str, float] | None = _key(
        "anticipated response rate: number, column, or stratum -> rate", default=None)
    prn_seed: int | None = _key("key of the permanent random numbers", default=None)
    output_excel: bool | None = _key("also write Excel files", default=None)
    select: SelectSettings | None = _key("selection options", default=None)
    key_units: KeyUnitSettings | None = _key("key-unit survey within named cells", default=None)
    typical: TypicalSettings | None = _key("typical units (case studies)", default=None)

    def _validate(self) -> list[tuple[str, str]]:
        from survey.plan.spec import plan_problems

        out = plan_problems(_plain(self))
        if self.filter is not None:
            from survey import expressions

            try:
                expressions.parse(self.filter, what="filter")
            except SurveyError as exc:
                out.append(("filter", str(exc)))
        return out


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """``[[channels]]``: one reporting channel and where its firm list comes from."""

    name: str = _key("channel name, e.g. bureau, federation, zone")
    flag: str | None = _key("boolean register column of the channel's firms, e.g. in_bureau",
                            default=None)
    file: Path | None = _key("file listing the channel's firms (with the id column)",
                             default=None, exists=True)
    label: str | None = _key("label in reports", default=None)

    def _validate(self) -> list[tuple[str, str]]:
        out = []
        if not _CHANNEL_NAME.match(self.name) or self.name.startswith("."):
            out.append(("name", f"{self.name!r} is not a plain name (it becomes part of file "
                                "names): use letters, digits, '_' and '-' only, e.g. 'bureau'"))
        if (self.flag is None) == (self.file is None):
            out.append(("flag", "give either flag (a register column) or file (a firm list)"))
        return out


@dataclass(frozen=True, kw_only=True)
class TakeNoneSettings:
    """``[estimate.take_none]``: the cut-off model of the take-none part (always estimated)."""

    model: Literal["ratio", "regression"] = _key(
        "ratio model y = b x (variance ~ x) or regression y = a + b x", default="ratio")
    auxiliary: str | None = _key("register auxiliary (default: register.size)", default=None)
    by: list[str] = _key("model groups, e.g. ['industry']", default_factory=list,
                         check=listed_twice)
    fit: Literal["smallest", "census"] = _key(
        "fit on the smallest observed units of each group, or on a previous census",
        default="smallest")
    smallest: int = _key("how many of the smallest observed units per group fit the model",
                         default=30, check=_interval(2, None, low_open=False))
    census: Path | None = _key("census file (id, period, variables) when fit = 'census'",
                               default=None, exists=True)

    def _validate(self) -> list[tuple[str, str]]:
        if self.fit == "census" and self.census is None:
            return [("census", "missing: fit = 'census' needs the census file")]
        return []


@dataclass(frozen=True, kw_only=True)
class SmallAreaSettings:
    """``[estimate.small_areas]``: county totals by small-area estimation (Fay–Herriot)."""

    county: str = _key("six-digit county code column of the register", default="county_code")
    cv_max: float = _key("counties whose direct total has at most this CV keep it",
                         default=0.15, check=_interval(0, None))
    mse: Literal["prasad-rao", "bootstrap"] = _key("MSE of the EBLUP", default="prasad-rao")
    region: str = _key("administrative code of the region (top level)", default="450000")
    region_name: str = _key("printed name of the region", default="广西")


@dataclass(frozen=True, kw_only=True)
class EstimateSettings:
    """``[estimate]``: variables, breakdowns and the quarters to estimate."""

    variables: list[str] = _key("indicator columns to estimate, e.g. gross_output",
                                check=listed_twice)
    by: list[str] = _key("breakdown columns, e.g. county, industry, zone",
                         default_factory=list, check=listed_twice)
    periods: list[str] = _key("quarters of the series, e.g. ['2005Q1', ..., '2006Q4']",
                              default_factory=list, check=_period_label)
    level: float = _key("confidence level of intervals (every interval label of the bulletin "
                        "names it)", default=0.95, check=_interval(0, 1))
    growth: Literal["comparable", "level"] = _key(
        "growth on a comparable basis (same firms) or level on level (the total against the "
        "total of the same quarter a year earlier, which must be among periods)",
        default="comparable")
    lonely_psu: Literal["fail", "remove", "adjust", "average", "certainty"] = _key(
        "treatment of strata with one PSU", default="fail")
    take_none: TakeNoneSettings = _key("cut-off model of the take-none part",
                                       default_factory=TakeNoneSettings)
    small_areas: SmallAreaSettings | None = _key(
        "county estimates (Fay-Herriot) and the region/city/county table", default=None)

    def _validate(self) -> list[tuple[str, str]]:
        if not self.variables:
            return [("variables", "give at least one variable, e.g. ['gross_output']")]
        return []


@dataclass(frozen=True, kw_only=True)
class CalibrationSettings:
    """``[calibration]``: calibration of the sampled part to register totals."""

    margins: list[str] = _key("categorical register columns whose counts are matched",
                              default_factory=list, check=listed_twice)
    totals: list[str] = _key("numeric register columns whose totals are matched",
                             default_factory=list, check=listed_twice)
    method: Literal["linear", "raking", "logit"] = _key("calibration function",
                                                        default="linear")
    bounds: tuple[float, float] | None = _key("bounds (lower, upper) on g = w / d",
                                              default=None, check=_interval(0, None, low_open=False))
    trim: tuple[float, float] | None = _key("trim final weights to (lower, upper)",
                                            default=None, check=_interval(0, None, low_open=False))

    def _validate(self) -> list[tuple[str, str]]:
        out = []
        if self.bounds is not None and not (self.bounds[0] < 1 < self.bounds[1]):
            out.append(("bounds", f"must satisfy lower < 1 < upper, got {list(self.bounds)}"))
        if self.method == "logit" and self.bounds is None:
            out.append(("bounds", "missing: method 'logit' needs bounds, e.g. [0.5, 2.0]"))
        if self.trim is not None and not (self.trim[0] < self.trim[1]):
            out.append(("trim", f"must satisfy lower < upper, got {list(self.trim)}"))
        return out


@dataclass(frozen=True, kw_only=True)
class EditRuleSettings:
    """``[[edit.rules]]``: one edit rule (see :class:`survey.returns.rules.Rule`)."""

    name: str = _key("short id of the rule")
    expression: str = _key("condition a clean return satisfies, e.g. "
                           "'export_delivery_ytd <= gross_output_ytd'")
    severity: Literal["hard", "soft"] = _key("hard (wrong) or soft (suspicious)",
                                             default="hard")
    description: str = _key("what the rule means", default="")

    def _validate(self) -> list[tuple[str, str]]:
        from survey.returns.rules import Rule

        try:
            Rule(name=self.name, expression=self.expression, severity=self.severity,
                 description=self.description)
        except SurveyError as exc:
            return [("expression", str(exc))]
        return []


@dataclass(frozen=True, kw_only=True)
class EditSettings:
    """``[edit]``: edit rules for the returns."""

    default_rules: bool = _key("use the default rule set for the report's indicators",
                               default=True)
    growth_bounds: tuple[float, float] = _key(
        "bounds of the year-on-year ratio in the default soft rules", default=(0.2, 5.0),
        check=_interval(0, None))
    rules: list[EditRuleSettings] = _key("additional rules", default_factory=list)

    def _validate(self) -> list[tuple[str, str]]:
        out = []
        low, high = self.growth_bounds
        if not low < high:
            out.append(("growth_bounds", f"must satisfy lower < upper, got {[low, high]}"))
        seen: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.name in seen:
                out.append((f"rules[{i}].name", f"{r.name!r} is used by an earlier rule"))
            seen.add(r.name)
        return out


@dataclass(frozen=True, kw_only=True)
class LedgerSettings:
    """``[ledger]``: the returns ledger (a DuckDB file)."""

    file: Path | None = _key("ledger file (default: ledger.duckdb in the output folder)",
                             default=None)


def _memory_size(value: Any) -> list[tuple[str, str]]:
    from survey.engine import EngineError, memory_bytes

    try:
        memory_bytes(value)
    except EngineError:
        return [("", f"{value!r} is not a size like '4GB', '500MB' or '2GiB'")]
    return []


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """``[engine]``: the SQL engine of the passes over units (ledger, out-of-core estimation).

    See ``docs/scale.md``; :meth:`build` makes the :class:`survey.engine.Engine`.
    """

    kind: Literal["duckdb", "spark"] = _key("duckdb (embedded, out of core) or spark",
                                            default="duckdb")
    memory_limit: str = _key("memory budget, always set (never DuckDB's 80% of the RAM), "
                             "e.g. '4GB'", default="4GB", check=_memory_size)
    temp_directory: Path | None = _key("where DuckDB spills and Spark writes shuffle files "
                                       "(default: survey-engine in the system temporary folder)",
                                       default=None)
    threads: int | None = _key("DuckDB threads / local Spark cores (default: all cores)",
                               default=None, check=_interval(0, None))
    spark_master: str | None = _key("Spark master URL, e.g. 'local[*]', 'spark://host:7077' "
                                    "(kind = 'spark' only)", default=None)
    spark_config: dict[str, str] = _key("extra spark.* settings (kind = 'spark' only)",
                                        default_factory=dict)

    def _validate(self) -> list[tuple[str, str]]:
        out = []
        if self.kind != "spark":
            if self.spark_master is not None:
                out.append(("spark_master", "only with kind = 'spark'"))
            if self.spark_config:
                out.append(("spark_config", "only with kind = 'spark'"))
        return out

    def build(self) -> Any:
        """The :class:`survey.engine.Engine` of these settings.

        Examples
        --------
        >>> EngineSettings(memory_limit="2GB").build().memory_limit
        '2GB'
        """
        from survey.engine import Engine

        extra = {"spark_master": self.spark_master} if self.spark_master is not None else {}
        return Engine(kind=self.kind, memory_limit=self.memory_limit,
                      temp_directory=None if self.temp_directory is None else str(self.temp_directory),
                      threads=self.threads, spark_config=dict(self.spark_config) or None, **extra)


@dataclass(frozen=True, kw_only=True)
class DisclosureTableSettings:
    """``[[disclosure.tables]]``: one table to protect."""

    rows: str | list[str] = _key("row column(s), outer level first", check=listed_twice)
    columns: str | list[str] | None = _key("column column(s)", default=None,
                                           check=listed_twice)
    variables: list[str] = _key("magnitude variables (default: estimate.variables)",
                                default_factory=list, check=listed_twice)


@dataclass(frozen=True, kw_only=True)
class DisclosureSettings:
    """``[disclosure]``: primary and secondary cell suppression (:mod:`survey.publish.disclosure`)."""

    min_frequency: int = _key("least number of contributors in a published cell", default=3,
                              check=_interval(0, None, low_open=False))
    p_percent: float = _key("p of the p% rule (0 switches it off)", default=10.0,
                            check=_interval(0, 100, low_open=False))
    dominance: list[tuple[int, float]] = _key("(n, k) dominance rules, e.g. [[2, 85]]",
                                              default_factory=list)
    frequency_range: float = _key("protection (percent) of a cell failing the frequency rule",
                                  default=20.0, check=_interval(0, 100, low_open=False))
    group: str | None = _key("enterprise-group column (one contributor per group)",
                             default=None)
    cost: Literal["value", "contributors", "unity"] = _key("cost of a secondary suppression",
                                                           default="value")
    symbol: str = _key("symbol of a suppressed cell", default="x")
    tables: list[DisclosureTableSettings] = _key("tables to protect", default_factory=list)

    def _validate(self) -> list[tuple[str, str]]:
        out = []
        for i, (n, k) in enumerate(self.dominance):
            if n < 1:
                out.append((f"dominance[{i}][0]", f"n must be a positive integer, got {n}"))
            if not 0 < k < 100:
                out.append((f"dominance[{i}][1]", f"k must be a percentage in (0, 100), got {k}"))
        return out

    def rules(self) -> Any:
        """The :class:`survey.publish.disclosure.DisclosureRules` these settings describe.

        Examples
        --------
        >>> DisclosureSettings(p_percent=0, dominance=[(2, 85.0)]).rules()
        DisclosureRules(min_frequency=3, p_percent=None, dominance=((2, 85.0),), frequency_range=20.0)
        """
        from survey.publish.disclosure import DisclosureRules

        return DisclosureRules(
            min_frequency=self.min_frequency,
            p_percent=self.p_percent or None,
            dominance=tuple(tuple(d) for d in self.dominance),
            frequency_range=self.frequency_range,
        )


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    """``[report]``: the quarterly bulletin."""

    title: str | None = _key("bulletin title (default from survey.name)", default=None)
    formats: list[Literal["html", "xlsx", "csv"]] = _key(
        "files to write (only these)", default_factory=lambda: ["html", "xlsx", "csv"],
        check=listed_twice)
    cv_caution: float = _key("CV above which a figure is flagged 'use with caution'",
                             default=0.15, check=_interval(0, 1))
    cv_unreliable: float = _key("CV above which a figure is flagged 'too unreliable'",
                                default=0.30, check=_interval(0, 1))
    unit: Literal["亿元", "万元", "千元"] = _key(
        "display unit of money in every table, card, chart axis, workbook and console line",
        default="亿元")
    targets: dict[str, dict[str, dict[str, float]]] = _key(
        "targets {domain: {variable: {year: thousand yuan}}}; domain 'sector', 'take_all', "
        "'channel_<name>' or '<breakdown>=<value>'", default_factory=dict,
        check=_interval(0, None))

    level: Literal["region", "city", "county"] | None = _key(
        "write the bulletin of one federation at this level (with area)", default=None)
    area: str | None = _key("administrative code of that federation, e.g. '450900'",
                            default=None)


    def _validate(self) -> list[tuple[str, str]]:
        if (self.level is None) != (self.area is None):
            return [("area", "give level and area together (e.g. level = 'city', "
                             "area = '450900')")]
        bad = [(f"targets.{d}.{v}.{y}", "must be a year like 2010")
               for d, by_v in self.targets.items() for v, by_y in by_v.items() for y in by_y
               if not re.fullmatch(r"\d{4}", str(y))]
        if bad:
            return bad
        if self.cv_caution >= self.cv_unreliable:
            return [("cv_unreliable", f"must be above cv_caution ({self.cv_caution}), "
                                      f"got {self.cv_unreliable}")]
        return []


_SECTIONS = {
    "survey": SurveySettings,
    "register": RegisterSettings,
    "plan": PlanSettings,
    "channels": ChannelSettings,
    "estimate": EstimateSettings,
    "calibration": CalibrationSettings,
    "edit": EditSettings,
    "ledger": LedgerSettings,
    "engine": EngineSettings,
    "disclosure": DisclosureSettings,
    "report": ReportSettings,
}


@dataclass(frozen=True, kw_only=True)
class SurveyConfig:
    """A parsed, checked survey configuration.

    Attributes
    ----------
    path : pathlib.Path
        The configuration file (absolute).
    survey, register, plan, channels, estimate, calibration, edit, ledger, engine, disclosure, report
        The sections (``plan``, ``estimate`` and ``engine`` are ``None`` when absent;
        the others have defaults). Paths are absolute.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "s.toml")
    ...     _ = p.write_text('[survey]\\nname = "demo"\\nseed = 1\\n'
    ...                      '[register]\\ndataset = "register"\\nyear = 2006\\n')
    ...     config = load_config(p)
    ...     config.output == pathlib.Path(d).resolve() / "output"
    True
    >>> config.language, config.seed
    ('zh', 1)
    """

    path: Path
    survey: SurveySettings
    register: RegisterSettings
    plan: PlanSettings | None = None
    channels: list[ChannelSettings] = field(default_factory=list)
    estimate: EstimateSettings | None = None
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    edit: EditSettings = field(default_factory=EditSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    engine: EngineSettings | None = None
    disclosure: DisclosureSettings = field(default_factory=DisclosureSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    @property
    def folder(self) -> Path:
        """Folder of the configuration file (relative paths start here)."""
        return self.path.parent

    @property
    def output(self) -> Path:
        """The output folder (absolute)."""
        return self.survey.output

    @property
    def seed(self) -> int:
        """The survey's seed."""
        return self.survey.seed

    @property
    def language(self) -> str:
        """``"zh"`` or ``"en"``."""
        return self.survey.language

    def make_engine(self) -> Any:
        """The :class:`survey.engine.Engine` of ``[engine]``, or ``None`` without the section
        (the ledger then uses ``Engine()``'s defaults: 4 GB, the pandas ingest path)."""
        return self.engine.build() if self.engine is not None else None

    @property
    def ledger_file(self) -> Path:
        """The ledger file: ``ledger.file``, or ``ledger.duckdb`` in the output folder."""
        return self.ledger.file if self.ledger.file is not None else self.output / "ledger.duckdb"

    def need(self, section: str) -> Any:
        """A section the cycle needs (``plan``, ``estimate``).

        Raises
        ------
        ConfigError
            The section is missing.

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).need("estimate").level
        0.95
        """
        value = getattr(self, section)
        if value is None:
            raise ConfigError(f"{self.path}: section [{section}] is missing; the cycle needs it "
                              "(see the demo configuration, survey.pipeline.DEMO_CONFIG)")
        return value

    def periods(self) -> list[str]:
        """Quarters of the series, in time order (default: the published period alone).

        Raises
        ------
        ConfigError
            No quarter is given, or ``survey.period`` is not among ``estimate.periods``.

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).periods()[::7]
        ['2005Q1', '2006Q4']
        """
        estimate = self.need("estimate")
        found = list(estimate.periods) or ([self.survey.period] if self.survey.period else [])
        if not found:
            raise ConfigError(f"{self.path}: give estimate.periods or survey.period (the "
                              "quarters to estimate)")
        found = sort_quarters(found)
        if (self.survey.period or found[-1]) not in found:
            raise ConfigError(f"{self.path}: survey.period {self.survey.period!r} is not among "
                              f"estimate.periods {found}; add it")
        return found

    def published(self) -> str:
        """The quarter the bulletin publishes (``survey.period``, else the last of the series).

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).published()
        '2006Q4'
        """
        return self.survey.period or self.periods()[-1]

    def years(self) -> list[int]:
        """The years of the series (one sample plan each).

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).years()
        [2005, 2006]
        """
        return sorted({year_of(p) for p in self.periods()})

    def strata(self) -> list[str]:
        """The stratum columns of the plan's take-some part (``plan.strata``) as a list.

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).strata()
        ['city']
        """
        strata = self.need("plan").strata
        return [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))

    def output_folder(self, output: str | Path | None = None) -> Path:
        """The output folder (created): ``output``, else ``survey.output``, which may not lie
        inside the installed package (the demo configuration's does).

        Examples
        --------
        >>> import tempfile
        >>> from survey.pipeline import DEMO_CONFIG
        >>> config = load_config(DEMO_CONFIG)
        >>> config.output_folder(tempfile.mkdtemp()).is_dir()
        True
        >>> config.output_folder()
        Traceback (most recent call last):
        ...
        survey.errors.ConfigError: .../demo.toml lives inside the survey package and its output folder .../output would too; give an output folder (--output DIR)
        """
        if output is not None:
            folder = Path(output).expanduser().resolve()
        else:
            folder = self.output
            if folder.is_relative_to(_PACKAGE):
                raise ConfigError(f"{self.path} lives inside the survey package and its output "
                                  f"folder {folder} would too; give an output folder (--output DIR)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the output folder {folder}: {exc}") from exc
        return folder

    def ledger_path(self, folder: Path) -> Path:
        """The ledger: ``ledger.file``, moved into ``folder`` when the output folder is not the
        configured one (so a run into a new folder starts a new ledger).

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).ledger_path(Path("/tmp/demo")).as_posix()
        '/tmp/demo/ledger.duckdb'
        """
        return self.ledger_file if folder == self.output else folder / self.ledger_file.name

    def section(self, name: str) -> dict[str, Any] | list[dict[str, Any]]:
        """One section as plain data (dicts, lists, str paths) for the module that reads it.

        Keys left unset (``None``) are omitted, so the consumer's own defaults
        apply. ``section("plan")`` fills ``register``/``dataset``, ``id``,
        ``size`` and ``year`` from ``[register]`` when the plan does not set
        them. ``section("channels")`` is a list.

        Parameters
        ----------
        name : {"survey", "register", "plan", "channels", "estimate", "calibration", \
"edit", "ledger", "engine", "disclosure", "report"}

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d, "s.toml")
        ...     _ = p.write_text('[survey]\\nname = "demo"\\nseed = 1\\n'
        ...                      '[register]\\ndataset = "register"\\nyear = 2006\\n'
        ...                      '[plan]\\nstrata = "county"\\n'
        ...                      '[plan.cv]\\nrevenue_prev_year = {total = 0.02}\\n')
        ...     plan = load_config(p).section("plan")
        >>> plan
        {'cv': {'revenue_prev_year': {'total': 0.02}}, 'strata': 'county', 'dataset': 'register', 'year': 2006, 'id': 'firm_id', 'size': 'revenue_prev_year'}
        """
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section {name!r}; sections are {sorted(_SECTIONS)}")
        if name == "ledger":
            return {"file": str(self.ledger_file)}
        value = getattr(self, name)
        if value is None:
            return {}
        plain = _plain(value)
        if name == "plan":
            reg = self.register
            inherited = {
                "register": None if reg.file is None else str(reg.file),
                "dataset": reg.dataset,
                "year": reg.year,
                "id": reg.id,
                "size": reg.size,
                "encoding": reg.encoding,
            }
            if "register" in plain or "dataset" in plain:
                inherited.pop("register")
                inherited.pop("dataset")
            for k, v in inherited.items():
                if k not in plain and v is not None:
                    plain[k] = v
        return plain


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------
# the checker: one generic walk over the dataclass type hints
# ---------------------------------------------------------------------------


class _Context:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is Path:
        return "a path (string)"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is list:
        return f"a list of {_plural(args[0])}"
    if origin is tuple:
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(args[0])}"
        return "a list [" + ", ".join(_describe(a).split(" ", 1)[1] for a in args) + "]"
    if origin is dict:
        return f"a table of {_plural(args[1])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)  # pragma: no cover


def _plural(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "values among " + ", ".join(repr(a) for a in typing.get_args(tp))
    text = _describe(tp)
    for a, b in (("a string", "strings"), ("an integer", "integers"), ("a number", "numbers"),
                 ("a table", "tables"), ("a list", "lists"), ("a path (string)", "paths")):
        text = text.replace(a, b)
    return text


def _got(value: Any) -> str:
    kind = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _shape(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "table"
    return "scalar"


def _shape_of(value: Any) -> str:
    return "list" if isinstance(value, list) else "table" if isinstance(value, dict) else "scalar"


def _convert(value: Any, tp: Any, path: str, ctx: _Context, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        alternatives = [a for a in args if a is not type(None)]
        for alt in alternatives:  # first, alternatives that match without problems
            trial = _Context(ctx.folder)
            out = _convert(value, alt, path, trial, meta)
            if out is not _INVALID:
                ctx.problems.extend(trial.problems)
                return out
        # no alternative fits: explain with the one of the same shape, if any
        same = [a for a in alternatives if _shape(a) == _shape_of(value)]
        if len(same) == 1:
            return _convert(value, same[0], path, ctx, meta)
        ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}")
        return _INVALID
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            if not value.strip():
                ctx.add(path, "must not be empty")
                return _INVALID
            return value
    elif tp is Path:
        if isinstance(value, str) and value.strip():
            p = Path(value).expanduser()
            relative = not p.is_absolute()
            p = p if p.is_absolute() else ctx.folder / p
            p = p.resolve()
            if relative and not p.is_relative_to(ctx.folder.resolve()):
                ctx.add(path, f"{value!r} leads out of the configuration's folder "
                              f"({ctx.folder}); give an absolute path if you mean {p}")
                return _INVALID
            if meta.get("exists") and not p.exists():
                ctx.add(path, f"file not found: {p}")
                return _INVALID
            return p
    elif origin is Literal:
        if value in args and type(value) is type(args[args.index(value)]):
            return value
        hint = ""
        if isinstance(value, str):
            close = [_ALIASES[value.lower()]] if _ALIASES.get(value.lower()) in args else \
                difflib.get_close_matches(value, [str(a) for a in args], n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}{hint}")
        return _INVALID
    elif origin is list:
        if isinstance(value, list):
            items = [_convert(v, args[0], f"{path}[{i}]", ctx, meta) for i, v in enumerate(value)]
            return _INVALID if any(i is _INVALID for i in items) else items
    elif origin is tuple:
        if isinstance(value, list):
            if len(value) != len(args):
                ctx.add(path, f"must be {_describe(tp)}, got {len(value)} values")
                return _INVALID
            items = [_convert(v, a, f"{path}[{i}]", ctx, meta)
                     for i, (v, a) in enumerate(zip(value, args, strict=False))]
            return _INVALID if any(i is _INVALID for i in items) else tuple(items)
    elif origin is dict:
        if isinstance(value, dict):
            items = {k: _convert(v, args[1], f"{path}.{k}", ctx, meta) for k, v in value.items()}
            return _INVALID if any(i is _INVALID for i in items.values()) else items
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, path, ctx)
    else:  # pragma: no cover - a schema error, not a user error
        raise TypeError(f"unsupported type {tp!r} at {path}")
    ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}")
    return _INVALID


def _unknown(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; known keys are {', '.join(known)}"


def _build(cls: type, table: Mapping[str, Any], path: str, ctx: _Context) -> Any:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls)]
    names = [f.name for f in fields]
    before = len(ctx.problems)
    for key in table:
        if key not in names:
            ctx.add(_join(path, key), _unknown(key, names))
    kwargs: dict[str, Any] = {}
    for f in fields:
        sub = _join(path, f.name)
        if f.name in table:
            value = _convert(table[f.name], hints[f.name], sub, ctx, f.metadata)
            if value is _INVALID:
                continue
            check = f.metadata.get("check")
            if check is not None:
                for rel, message in check(value):
                    ctx.add(_join(sub, rel), message)
            kwargs[f.name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            ctx.add(sub, f"missing ({f.metadata.get('doc', '')})")
        elif isinstance(f.default, Path):  # a default path also resolves against the folder
            kwargs[f.name] = (ctx.folder / f.default).resolve()
    if len(ctx.problems) > before:
        return _INVALID
    obj = cls(**kwargs)
    validate = getattr(obj, "_validate", None)
    if validate is not None:
        for rel, message in validate():
            ctx.add(_join(path, rel), message)
    return obj if len(ctx.problems) == before else _INVALID


def _parse(data: Mapping[str, Any], path: Path, ctx: _Context) -> SurveyConfig | None:
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SECTIONS:
            ctx.add(key, "unknown section; " + _unknown(key, list(_SECTIONS)).replace(
                "unknown key; ", ""))
            continue
        cls = _SECTIONS[key]
        if key == "channels":
            sections[key] = _convert(value, list[ChannelSettings], key, ctx, {})
        else:
            if not isinstance(value, dict):
                ctx.add(key, f"must be a table ([{key}]), got {_got(value)}")
                continue
            sections[key] = _build(cls, value, key, ctx)
    for required in ("survey", "register"):
        if required not in data:
            ctx.add(required, f"missing section [{required}]")
    raw_channels = data.get("channels")
    if isinstance(raw_channels, list):
        seen: set[str] = set()
        for i, c in enumerate(raw_channels):
            name = c.get("name") if isinstance(c, dict) else None
            if isinstance(name, str) and name in seen:
                ctx.add(f"channels[{i}].name", f"{name!r} is used by an earlier channel")
            seen.add(name)
    if ctx.problems:
        return None
    config = SurveyConfig(path=path, **sections)
    _check_across(config, ctx)
    return None if ctx.problems else config


def _check_across(config: SurveyConfig, ctx: _Context) -> None:
    """Checks that need two sections: the published quarter is among the estimated ones."""
    period, estimate = config.survey.period, config.estimate
    if period is not None and estimate is not None and estimate.periods \
            and period not in estimate.periods:
        ctx.add("survey.period", f"{period!r} is not among estimate.periods "
                                 f"({estimate.periods[0]} ... {estimate.periods[-1]}); add it "
                                 "there or publish one of them")


def _register_columns(config: SurveyConfig) -> list[str] | None:
    """Column names of the register (header only), or None when unknown."""
    from importlib import resources

    from survey.datasets import bundled_file
    from survey.io import read_header

    reg = config.register
    try:
        if reg.file is not None:
            return read_header(reg.file, encoding=reg.encoding)
        if reg.dataset != "register":
            return None
        with resources.as_file(bundled_file("register.parquet")) as file:
            return read_header(file)
    except (OSError, ValueError, SurveyError):
        return None


def _check_columns(config: SurveyConfig, ctx: _Context) -> None:
    """Columns named in the config must exist in the register (names the closest match)."""
    columns = _register_columns(config)
    if not columns:
        return
    where = "the register" if config.register.file is None else str(config.register.file)
    refs: list[tuple[str, str]] = [("register.id", config.register.id),
                                   ("register.size", config.register.size)]
    plan = config.plan
    if plan is not None and plan.register is None and plan.dataset is None:
        for key in ("id", "size", "take_all_column", "threshold_by"):
            if getattr(plan, key) is not None:
                refs.append((f"plan.{key}", getattr(plan, key)))
        strata = plan.strata if isinstance(plan.strata, list) else (
            [plan.strata] if plan.strata else [])
        refs += [(f"plan.strata[{i}]" if isinstance(plan.strata, list) else "plan.strata", s)
                 for i, s in enumerate(strata)]
    for i, c in enumerate(config.channels):
        if c.flag is not None:
            refs.append((f"channels[{i}].flag", c.flag))
    for i, m in enumerate(config.calibration.margins):
        refs.append((f"calibration.margins[{i}]", m))
    if config.disclosure.group is not None:
        refs.append(("disclosure.group", config.disclosure.group))
    for i, t in enumerate(config.disclosure.tables):
        for key in ("rows", "columns"):
            names = getattr(t, key)
            if names is None:
                continue
            for j, name in enumerate([names] if isinstance(names, str) else names):
                sub = f"disclosure.tables[{i}].{key}" + ("" if isinstance(names, str) else f"[{j}]")
                refs.append((sub, name))
    if plan is not None and plan.filter is not None and plan.register is None \
            and plan.dataset is None:
        from survey import expressions

        refs += [("plan.filter", name) for name in expressions.parse(plan.filter).names]
    if config.estimate is not None:
        for i, b in enumerate(config.estimate.by):
            refs.append((f"estimate.by[{i}]", b))
    for key, name in refs:
        if name not in columns:
            close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            ctx.add(key, f"column {name!r} is not in {where}{hint}")


def _read(path: str | Path) -> tuple[SurveyConfig | None, list[str]]:
    path = Path(path).expanduser().resolve()
    ctx = _Context(path.parent)
    from survey.errors import TableError
    from survey.io import decode_text

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [f"{path}: file not found"]
    except IsADirectoryError:
        return None, [f"{path}: is a folder, not a configuration file"]
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc.strerror or exc})"]
    try:  # UTF-8, UTF-8 with a byte-order mark (Notepad), or GB18030/GBK (Chinese Windows)
        text, _ = decode_text(raw, name=str(path))
    except TableError as exc:
        return None, [str(exc).replace("CSV UTF-8", "UTF-8").replace("-utf8.csv", "-utf8.toml")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: TOML syntax error: {exc}"]
    config = _parse(data, path, ctx)
    if config is not None:
        _check_columns(config, ctx)
        if ctx.problems:
            config = None
    return config, ctx.problems


def validate_config(path: str | Path) -> list[str]:
    """Check a survey configuration file; return every problem found.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    list of str
        One line per problem, ``"key.path: what is wrong"`` (array items
        are counted from 0: ``channels[1].file``); empty when the file is
        valid.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "s.toml")
    ...     _ = p.write_text('[survey]\\nname = "demo"\\nseed = 1\\nlanguage = "cn"\\n'
    ...                      '[register]\\ndataset = "register"\\n'
    ...                      '[plan.cv]\\nrevenue_prev_year = {total = 0.02, county = 1.5}\\n'
    ...                      '[estimate]\\nvariables = ["gross_output"]\\nbyy = ["county"]\\n')
    ...     for problem in validate_config(p):
    ...         print(problem)
    survey.language: must be one of 'zh', 'en', got a string 'cn'; did you mean 'zh'?
    plan.cv.revenue_prev_year.county: must be in (0, 1), got 1.5
    estimate.byy: unknown key; did you mean 'by'?
    """
    return _read(path)[1]


def load_config(path: str | Path) -> SurveyConfig:
    """Read and check a survey configuration file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file (``docs/configuration.md`` lists the keys).

    Returns
    -------
    SurveyConfig

    Raises
    ------
    ConfigError
        Listing every problem, one per line, each with its key path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "s.toml")
    ...     _ = p.write_text('[survey]\\nname = "demo"\\n[register]\\ndataset = "register"\\n')
    ...     load_config(p)
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: 1 problem in .../s.toml:
      survey.seed: missing (seed of every random step (sample selection, simulated returns))
    """
    config, problems = _read(path)
    if problems:
        shown = Path(path).expanduser().resolve()
        word = "problem" if len(problems) == 1 else "problems"
        raise ConfigError(f"{len(problems)} {word} in {shown}:\n  " + "\n  ".join(problems))
    if config is None:  # pragma: no cover - problems are always reported
        raise ConfigError(f"{path}: cannot be read")
    return config


def with_settings(config: SurveyConfig, section: str, **changes: Any) -> SurveyConfig:
    """A copy of the configuration with some keys of one section changed (no file written).

    Examples
    --------
    >>> from survey.pipeline import DEMO_CONFIG
    >>> with_settings(load_config(DEMO_CONFIG), "estimate", level=0.9).estimate.level
    0.9
    """
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section),
                                                                       **changes)})
