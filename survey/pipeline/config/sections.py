"""The sections of the configuration file, one frozen dataclass each (``[survey]``, ``[register]``, ``[plan]`` ... ``[report]``).

Part of :mod:`survey.pipeline.config` (see its docstring and ``docs/configuration.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from survey.errors import SurveyError
from survey.pipeline.config.checks import (
    CHANNEL_NAME,
    encoding_check,
    interval_check,
    memory_size_check,
    period_label_check,
    plain_settings,
    setting_key,
)
from survey.plan.spec import listed_twice

__all__ = ['CalibrationSettings', 'ChannelSettings', 'DisclosureSettings', 'DisclosureTableSettings', 'EditRuleSettings', 'EditSettings', 'EngineSettings', 'EstimateSettings', 'KeyUnitSettings', 'LedgerSettings', 'PlanSettings', 'RegisterSettings', 'ReportSettings', 'SECTIONS', 'SelectSettings', 'SmallAreaSettings', 'SurveySettings', 'TakeNoneSettings', 'TypicalSettings']

# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SurveySettings:
    """``[survey]``: name, language, seed, output folder, period."""

    name: str = setting_key("name of the survey, shown in reports")
    seed: int = setting_key("seed of every random step (sample selection, simulated returns)",
                     check=interval_check(0, None, low_open=False))
    language: Literal["zh", "en"] = setting_key("language of labels and reports", default="zh")
    output: Path = setting_key("output folder (created when needed)", default=Path("output"))
    period: str | None = setting_key("quarter to publish, e.g. '2006Q4'", default=None,
                              check=period_label_check)
    units: str = setting_key("unit of money in the data and the tables", default="thousand yuan")


@dataclass(frozen=True, kw_only=True)
class RegisterSettings:
    """``[register]``: the business register (sampling frame)."""

    file: Path | None = setting_key("register file (.parquet, .csv or .xlsx)", default=None, exists=True)
    dataset: Literal["register"] | None = setting_key(
        "'register' for the bundled synthetic register (instead of file)", default=None)
    id: str = setting_key("firm id column (18-character USCC)", default="firm_id")
    size: str = setting_key("size column (thousand yuan), e.g. revenue_prev_year",
                     default="revenue_prev_year")
    year: int | None = setting_key("register year to use (the register may hold several)",
                            default=None)
    encoding: str | None = setting_key("encoding of a CSV register (default: detected: UTF-8, UTF-8 "
                                "with BOM, GB18030/GBK), e.g. 'gbk' or 'big5'", default=None,
                                check=encoding_check)

    def cross_checks(self) -> list[tuple[str, str]]:
        if (self.file is None) == (self.dataset is None):
            return [("file", "give either register.file (your register) or "
                             "register.dataset = 'register' (the bundled synthetic register)")]
        return []


@dataclass(frozen=True, kw_only=True)
class SelectSettings:
    """``[plan.select]``: how the sample is drawn (``survey select``)."""

    method: Literal["srswor", "systematic", "pps_systematic", "poisson", "pareto",
                    "sequential_poisson"] | None = setting_key("selection method", default=None)
    rotation: float | None = setting_key("share of the sample rotated out each period",
                                  default=None, check=interval_check(0, 1, low_open=False, high_open=False))
    period: int | None = setting_key("rotation period number", default=None,
                              check=interval_check(0, None, low_open=False))
    start: float | None = setting_key("PRN starting point", default=None,
                               check=interval_check(0, 1, low_open=False))


@dataclass(frozen=True, kw_only=True)
class KeyUnitSettings:
    """``[plan.key_units]``: the key-unit survey (重点调查) within named cells."""

    by: str | list[str] = setting_key("cell column(s) within which key units are chosen, e.g. industry")
    cells: list[str] | None = setting_key("cells with key units (default every cell)", default=None)
    share: float | None = setting_key("share of the cell's size total the largest units carry",
                               default=None)
    number: int | None = setting_key("instead of share: the number of largest units per cell",
                              default=None)
    rest: Literal["sample", "take_none"] = setting_key(
        "the rest of the cell: sampled, or take-none (estimated by the cut-off model)",
        default="sample")


@dataclass(frozen=True, kw_only=True)
class TypicalSettings:
    """``[plan.typical]``: typical units (典型调查), shown as case studies only."""

    ids: list[str] | None = setting_key("ids of the typical units", default=None)
    column: str | None = setting_key("boolean register column flagging typical units", default=None)
    model_inputs: bool = setting_key("typical units may be inputs of the take-none model",
                              default=False)


@dataclass(frozen=True, kw_only=True)
class PlanSettings:
    """``[plan]``: the sample plan (read by :func:`survey.plan.run_plan`).

    ``register``, ``dataset``, ``id``, ``size`` and ``year`` default to
    the ``[register]`` section (see :meth:`SurveyConfig.section`). The values
    are checked by :func:`survey.plan.spec.plan_problems`, the checks of
    :class:`survey.plan.spec.PlanSpec` (one place for both).
    """

    cv: dict[str, float | dict[str, float]] = setting_key(
        "CV targets: variable = number (total) or {total = ..., <domain column> = ...}")
    register: Path | None = setting_key("register file (default: register.file)", default=None,
                                 exists=True)
    dataset: Literal["register"] | None = setting_key("bundled dataset (default: register.dataset)",
                                               default=None)
    year: int | None = setting_key("register year (default: register.year)", default=None)
    id: str | None = setting_key("unit id column (default: register.id)", default=None)
    size: str | None = setting_key("size column (default: register.size)", default=None)
    filter: str | None = setting_key("condition (survey.expressions: columns, literals, comparisons, and/or/not) that keeps the register rows in scope",
                              default=None)
    missing_size: float | None = setting_key("size given to units with none (new firms); unset: error",
                                      default=None)
    strata: str | list[str] | None = setting_key("stratum columns of the take-some part", default=None)
    take_all_column: str | None = setting_key("boolean column of take-all firms, e.g. above_size",
                                       default=None)
    take_all_threshold: float | dict[str, float] | None = setting_key(
        "designated-size threshold (one number or a table keyed on threshold_by)", default=None)
    threshold_table: Path | None = setting_key("CSV threshold table keyed on threshold_by",
                                        default=None, exists=True)
    threshold_by: str | None = setting_key("column the threshold table is keyed on", default=None)
    take_all_cv: float | None = setting_key("statistical cut-off: take-all for this CV of the total",
                                     default=None)
    take_none_below: float | None = setting_key("units below this size are not surveyed",
                                         default=None)
    size_strata: int | None = setting_key("number of size classes", default=None)
    boundary_method: Literal["cum_sqrt_f", "geometric", "lavallee_hidiroglou"] | None = setting_key(
        "rule for size-class boundaries", default=None)
    cost: float | str | dict[str, float] | None = setting_key(
        "unit cost: number, column, or stratum -> cost", default=None)
    min_n: int | None = setting_key("least sample size per stratum", default=None)
    response_rate: float | str | dict[str, float] | None = setting_key(
        "anticipated response rate: number, column, or stratum -> rate", default=None)
    prn_seed: int | None = setting_key("key of the permanent random numbers", default=None)
    output_excel: bool | None = setting_key("also write Excel files", default=None)
    select: SelectSettings | None = setting_key("selection options", default=None)
    key_units: KeyUnitSettings | None = setting_key("key-unit survey within named cells", default=None)
    typical: TypicalSettings | None = setting_key("typical units (case studies)", default=None)

    def cross_checks(self) -> list[tuple[str, str]]:
        from survey.plan.spec import plan_problems

        out = plan_problems(plain_settings(self))
        if self.filter is not None:
            from survey import expressions

            try:
                expressions.parse(self.filter, what="filter")
            except SurveyError as exc:
                out.append(("filter", str(exc)))
        return out

    def select_arguments(self) -> dict[str, Any]:
        """The arguments of :meth:`survey.plan.SamplePlan.select` but the seed, from
        ``[plan.select]`` (defaults: ``srswor``, no rotation, period 0, start 0).

        Examples
        --------
        >>> PlanSettings(cv={"revenue": 0.05}).select_arguments()
        {'method': 'srswor', 'rotation': 0.0, 'period': 0, 'start': 0.0}
        """
        s = self.select or SelectSettings()
        return {"method": s.method or "srswor", "rotation": float(s.rotation or 0.0),
                "period": int(s.period or 0), "start": float(s.start or 0.0)}


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """``[[channels]]``: one reporting channel and where its firm list comes from."""

    name: str = setting_key("channel name, e.g. bureau, federation, zone")
    flag: str | None = setting_key("boolean register column of the channel's firms, e.g. in_bureau",
                            default=None)
    file: Path | None = setting_key("file listing the channel's firms (with the id column)",
                             default=None, exists=True)
    label: str | None = setting_key("label in reports", default=None)

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if not CHANNEL_NAME.match(self.name) or self.name.startswith("."):
            out.append(("name", f"{self.name!r} is not a plain name (it becomes part of file "
                                "names): use letters, digits, '_' and '-' only, e.g. 'bureau'"))
        if (self.flag is None) == (self.file is None):
            out.append(("flag", "give either flag (a register column) or file (a firm list)"))
        return out


@dataclass(frozen=True, kw_only=True)
class TakeNoneSettings:
    """``[estimate.take_none]``: the cut-off model of the take-none part (always estimated)."""

    model: Literal["ratio", "regression"] = setting_key(
        "ratio model y = b x (variance ~ x) or regression y = a + b x", default="ratio")
    auxiliary: str | None = setting_key("register auxiliary (default: register.size)", default=None)
    by: list[str] = setting_key("model groups, e.g. ['industry']", default_factory=list,
                         check=listed_twice)
    fit: Literal["smallest", "census"] = setting_key(
        "fit on the smallest observed units of each group, or on a previous census",
        default="smallest")
    smallest: int = setting_key("how many of the smallest observed units per group fit the model",
                         default=30, check=interval_check(2, None, low_open=False))
    census: Path | None = setting_key("census file (id, period, variables) when fit = 'census'",
                               default=None, exists=True)

    def cross_checks(self) -> list[tuple[str, str]]:
        if self.fit == "census" and self.census is None:
            return [("census", "missing: fit = 'census' needs the census file")]
        return []

    def census_rows(self, id: str) -> Any:
        """The census the model is fitted on (``fit = "census"``; else ``None``), its ``id``
        and model groups read as text; one row per firm and quarter (a ``period`` column)."""
        from survey.errors import ConfigError
        from survey.io import read_table

        if self.fit != "census":
            return None
        census = read_table(self.census, text=[id, *self.by])
        if "period" not in census.columns:
            raise ConfigError(f"estimate.take_none.census: {self.census} has no 'period' "
                              "column (one row per firm and quarter)")
        return census


@dataclass(frozen=True, kw_only=True)
class SmallAreaSettings:
    """``[estimate.small_areas]``: county totals by small-area estimation (Fay–Herriot)."""

    county: str = setting_key("six-digit county code column of the register", default="county_code")
    cv_max: float = setting_key("counties whose direct total has at most this CV keep it",
                         default=0.15, check=interval_check(0, None))
    mse: Literal["prasad-rao", "bootstrap"] = setting_key("MSE of the EBLUP", default="prasad-rao")
    region: str = setting_key("administrative code of the region (top level)", default="450000")
    region_name: str = setting_key("printed name of the region", default="广西")


@dataclass(frozen=True, kw_only=True)
class EstimateSettings:
    """``[estimate]``: variables, breakdowns and the quarters to estimate."""

    variables: list[str] = setting_key("indicator columns to estimate, e.g. gross_output",
                                check=listed_twice)
    by: list[str] = setting_key("breakdown columns, e.g. county, industry, zone",
                         default_factory=list, check=listed_twice)
    periods: list[str] = setting_key("quarters of the series, e.g. ['2005Q1', ..., '2006Q4']",
                              default_factory=list, check=period_label_check)
    level: float = setting_key("confidence level of intervals (every interval label of the bulletin "
                        "names it)", default=0.95, check=interval_check(0, 1))
    growth: Literal["comparable", "level"] = setting_key(
        "growth on a comparable basis (same firms) or level on level (the total against the "
        "total of the same quarter a year earlier, which must be among periods)",
        default="comparable")
    lonely_psu: Literal["fail", "remove", "adjust", "average", "certainty"] = setting_key(
        "treatment of strata with one PSU", default="fail")
    take_none: TakeNoneSettings = setting_key("cut-off model of the take-none part",
                                       default_factory=TakeNoneSettings)
    small_areas: SmallAreaSettings | None = setting_key(
        "county estimates (Fay-Herriot) and the region/city/county table", default=None)

    def cross_checks(self) -> list[tuple[str, str]]:
        if not self.variables:
            return [("variables", "give at least one variable, e.g. ['gross_output']")]
        return []


@dataclass(frozen=True, kw_only=True)
class CalibrationSettings:
    """``[calibration]``: calibration of the sampled part to register totals."""

    margins: list[str] = setting_key("categorical register columns whose counts are matched",
                              default_factory=list, check=listed_twice)
    totals: list[str] = setting_key("numeric register columns whose totals are matched",
                             default_factory=list, check=listed_twice)
    method: Literal["linear", "raking", "logit"] = setting_key("calibration function",
                                                        default="linear")
    bounds: tuple[float, float] | None = setting_key("bounds (lower, upper) on g = w / d",
                                              default=None, check=interval_check(0, None, low_open=False))
    trim: tuple[float, float] | None = setting_key("trim final weights to (lower, upper)",
                                            default=None, check=interval_check(0, None, low_open=False))

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if self.bounds is not None and not (self.bounds[0] < 1 < self.bounds[1]):
            out.append(("bounds", f"must satisfy lower < 1 < upper, got {list(self.bounds)}"))
        if self.method == "logit" and self.bounds is None:
            out.append(("bounds", "missing: method 'logit' needs bounds, e.g. [0.5, 2.0]"))
        if self.trim is not None and not (self.trim[0] < self.trim[1]):
            out.append(("trim", f"must satisfy lower < upper, got {list(self.trim)}"))
        return out

    def arguments(self) -> dict[str, Any]:
        """The calibration arguments of :func:`survey.estimation.quarters.weight_quarters`.

        Examples
        --------
        >>> CalibrationSettings(margins=["city"], bounds=[0.5, 2.0]).arguments()
        {'margins': ['city'], 'totals': [], 'method': 'linear', 'bounds': (0.5, 2.0), 'trim': None}
        """
        return {"margins": self.margins, "totals": self.totals, "method": self.method,
                "bounds": tuple(self.bounds) if self.bounds else None,
                "trim": None if self.trim is None else tuple(self.trim)}


@dataclass(frozen=True, kw_only=True)
class EditRuleSettings:
    """``[[edit.rules]]``: one edit rule (see :class:`survey.returns.rules.Rule`)."""

    name: str = setting_key("short id of the rule")
    expression: str = setting_key("condition a clean return satisfies, e.g. "
                           "'export_delivery_ytd <= gross_output_ytd'")
    severity: Literal["hard", "soft"] = setting_key("hard (wrong) or soft (suspicious)",
                                             default="hard")
    description: str = setting_key("what the rule means", default="")

    def cross_checks(self) -> list[tuple[str, str]]:
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

    default_rules: bool = setting_key("use the default rule set for the report's indicators",
                               default=True)
    growth_bounds: tuple[float, float] = setting_key(
        "bounds of the year-on-year ratio in the default soft rules", default=(0.2, 5.0),
        check=interval_check(0, None))
    rules: list[EditRuleSettings] = setting_key("additional rules", default_factory=list)

    def cross_checks(self) -> list[tuple[str, str]]:
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

    def rule_set(self, form: Any) -> list[Any]:
        """The edit rules: :func:`survey.returns.rules.default_rules` of ``form`` (when
        ``default_rules``; ``growth_bounds``), then each ``[[edit.rules]]``.

        Examples
        --------
        >>> from survey.form import DEMO_FORM
        >>> rule = EditRuleSettings(name="r1", expression="revenue_ytd >= 0")
        >>> [r.name for r in EditSettings(default_rules=False, rules=[rule]).rule_set(DEMO_FORM)]
        ['r1']
        """
        from survey.returns.rules import Rule, default_rules

        defaults = (default_rules(form, growth_bounds=tuple(self.growth_bounds))
                    if self.default_rules else [])
        return [*defaults, *(Rule(name=r.name, expression=r.expression, severity=r.severity,
                                  description=r.description) for r in self.rules)]


@dataclass(frozen=True, kw_only=True)
class LedgerSettings:
    """``[ledger]``: the returns ledger (a DuckDB file)."""

    file: Path | None = setting_key("ledger file (default: ledger.duckdb in the output folder)",
                             default=None)


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """``[engine]``: the SQL engine of the passes over units (ledger, out-of-core estimation).

    See ``docs/scale.md``; :meth:`build` makes the :class:`survey.engine.Engine`.
    """

    kind: Literal["duckdb", "spark"] = setting_key("duckdb (embedded, out of core) or spark",
                                            default="duckdb")
    memory_limit: str = setting_key("memory budget, always set (never DuckDB's 80% of the RAM), "
                             "e.g. '4GB'", default="4GB", check=memory_size_check)
    temp_directory: Path | None = setting_key("where DuckDB spills and Spark writes shuffle files "
                                       "(default: survey-engine in the system temporary folder)",
                                       default=None)
    threads: int | None = setting_key("DuckDB threads / local Spark cores (default: all cores)",
                               default=None, check=interval_check(0, None))
    spark_master: str | None = setting_key("Spark master URL, e.g. 'local[*]', 'spark://host:7077' "
                                    "(kind = 'spark' only)", default=None)
    spark_config: dict[str, str] = setting_key("extra spark.* settings (kind = 'spark' only)",
                                        default_factory=dict)

    def cross_checks(self) -> list[tuple[str, str]]:
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

    rows: str | list[str] = setting_key("row column(s), outer level first", check=listed_twice)
    columns: str | list[str] | None = setting_key("column column(s)", default=None,
                                           check=listed_twice)
    variables: list[str] = setting_key("magnitude variables (default: estimate.variables)",
                                default_factory=list, check=listed_twice)


@dataclass(frozen=True, kw_only=True)
class DisclosureSettings:
    """``[disclosure]``: primary and secondary cell suppression (:mod:`survey.publish.disclosure`)."""

    min_frequency: int = setting_key("least number of contributors in a published cell", default=3,
                              check=interval_check(0, None, low_open=False))
    p_percent: float = setting_key("p of the p% rule (0 switches it off)", default=10.0,
                            check=interval_check(0, 100, low_open=False))
    dominance: list[tuple[int, float]] = setting_key("(n, k) dominance rules, e.g. [[2, 85]]",
                                              default_factory=list)
    frequency_range: float = setting_key("protection (percent) of a cell failing the frequency rule",
                                  default=20.0, check=interval_check(0, 100, low_open=False))
    group: str | None = setting_key("enterprise-group column (one contributor per group)",
                             default=None)
    cost: Literal["value", "contributors", "unity"] = setting_key("cost of a secondary suppression",
                                                           default="value")
    symbol: str = setting_key("symbol of a suppressed cell", default="x")
    tables: list[DisclosureTableSettings] = setting_key("tables to protect", default_factory=list)

    def cross_checks(self) -> list[tuple[str, str]]:
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

    title: str | None = setting_key("bulletin title (default from survey.name)", default=None)
    formats: list[Literal["html", "xlsx", "csv"]] = setting_key(
        "files to write (only these)", default_factory=lambda: ["html", "xlsx", "csv"],
        check=listed_twice)
    cv_caution: float = setting_key("CV above which a figure is flagged 'use with caution'",
                             default=0.15, check=interval_check(0, 1))
    cv_unreliable: float = setting_key("CV above which a figure is flagged 'too unreliable'",
                                default=0.30, check=interval_check(0, 1))
    unit: Literal["亿元", "万元", "千元"] = setting_key(
        "display unit of money in every table, card, chart axis, workbook and console line",
        default="亿元")
    targets: dict[str, dict[str, dict[str, float]]] = setting_key(
        "targets {domain: {variable: {year: thousand yuan}}}; domain 'sector', 'take_all', "
        "'channel_<name>' or '<breakdown>=<value>'", default_factory=dict,
        check=interval_check(0, None))

    level: Literal["region", "city", "county"] | None = setting_key(
        "write the bulletin of one federation at this level (with area)", default=None)
    area: str | None = setting_key("administrative code of that federation, e.g. '450900'",
                            default=None)


    def cross_checks(self) -> list[tuple[str, str]]:
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

    def targets_by_year(self) -> dict[str, dict[str, dict[int, float]]] | None:
        """``targets`` with the years as integers (``None`` without targets).

        Examples
        --------
        >>> ReportSettings(targets={"sector": {"revenue": {"2006": 1.0}}}).targets_by_year()
        {'sector': {'revenue': {2006: 1.0}}}
        """
        return {d: {v: {int(y): t for y, t in by_y.items()} for v, by_y in by_v.items()}
                for d, by_v in self.targets.items()} or None


SECTIONS = {
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
