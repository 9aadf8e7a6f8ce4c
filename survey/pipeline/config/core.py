"""`SurveyConfig` and the TOML reader: every key checked against its section (types, ranges, files, cross-section rules) before anything runs.

Part of :mod:`survey.pipeline.config` (see its docstring and ``docs/configuration.md``).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from survey.errors import ConfigError, SurveyError
from survey.form import DEMO_FORM
from survey.periods import sort_quarters, year_of
from survey.pipeline.config.checks import (
    INVALID,
    LANGUAGE_ALIASES,
    PACKAGE_DIR,
    join_path,
    plain_settings,
)
from survey.pipeline.config.sections import (
    SECTIONS,
    CalibrationSettings,
    ChannelSettings,
    DisclosureSettings,
    EditSettings,
    EngineSettings,
    EstimateSettings,
    LedgerSettings,
    PlanSettings,
    RegisterSettings,
    ReportSettings,
    SurveySettings,
    TypicalSettings,
)

__all__ = ['SurveyConfig', 'load_config', 'validate_config', 'with_settings']

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
            if folder.is_relative_to(PACKAGE_DIR):
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
        if name not in SECTIONS:
            raise ConfigError(f"unknown section {name!r}; sections are {sorted(SECTIONS)}")
        if name == "ledger":
            return {"file": str(self.ledger_file)}
        value = getattr(self, name)
        if value is None:
            return {}
        plain = plain_settings(value)
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

    @property
    def typical(self) -> TypicalSettings | None:
        """``[plan.typical]``, or ``None`` (no typical units, or no ``[plan]``)."""
        return None if self.plan is None else self.plan.typical

    def open_ledger(self, file: str | Path) -> Any:
        """:meth:`survey.returns.ledger.Ledger.open` of ``file`` with the return form
        :data:`survey.form.DEMO_FORM` and the engine of ``[engine]`` (:meth:`make_engine`)."""
        from survey.returns.ledger import Ledger

        return Ledger.open(file, form=DEMO_FORM, engine=self.make_engine())

    def breakdowns(self, columns: Sequence[str]) -> dict[str, list[str] | None]:
        """The estimates' breakdowns: ``"sector"`` (the whole), each ``estimate.by`` column
        (with its ``<name>_name`` label when ``columns`` has it) and each channel whose
        flag is in ``columns`` (``"channel_<name>"``).

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> found = load_config(DEMO_CONFIG).breakdowns(["city", "city_name", "in_bureau"])
        >>> found["sector"], found["city"], found["channel_bureau"]
        (None, ['city', 'city_name'], ['in_bureau'])
        """
        out: dict[str, list[str] | None] = {"sector": None}
        for name in self.need("estimate").by:
            out[name] = [name, f"{name}_name"] if f"{name}_name" in columns else [name]
        for channel in self.channels:
            if channel.flag is not None and channel.flag in columns:
                out[f"channel_{channel.name}"] = [channel.flag]
        return out

    def disclosure_tables(self, columns: Sequence[str]
                          ) -> dict[str, tuple[list[str], list[str], list[str]]]:
        """The tables to protect, ``name: (rows, columns, variables)``: ``"table<i>"`` for
        each ``[[disclosure.tables]]`` (variables default ``estimate.variables``) and
        ``"channel_<name>"`` for each channel whose flag is in ``columns``.

        Examples
        --------
        >>> from survey.pipeline import DEMO_CONFIG
        >>> load_config(DEMO_CONFIG).disclosure_tables([])["table0"][:2]
        (['city'], ['industry'])
        """
        def listed(value: str | list[str] | None) -> list[str]:
            return [] if value is None else [value] if isinstance(value, str) else list(value)

        variables = list(self.need("estimate").variables)
        tables = {f"table{i}": (listed(t.rows), listed(t.columns), list(t.variables) or variables)
                  for i, t in enumerate(self.disclosure.tables)}
        for channel in self.channels:
            if channel.flag is not None and channel.flag in columns:
                tables[f"channel_{channel.name}"] = ([channel.flag], [], variables)
        return tables

    def check_take_none(self, data: Any) -> None:
        """Refuse take-none firms of a plan's register ``data`` that nothing could model: in a
        model group (``estimate.take_none.by``, a register column) with fewer than two
        observable units (:func:`survey.plan.keyunits.uncovered_cells`), unless the model
        is fitted on a census (``estimate.take_none.fit = "census"``) or there is no
        ``[estimate]``.

        Raises
        ------
        ConfigError
            A model group is not a register column, or such cells exist (the first ten named).
        """
        from survey.plan.keyunits import uncovered_cells

        if self.estimate is None or self.estimate.take_none.fit == "census":
            return
        groups = list(self.estimate.take_none.by)
        if missing := [g for g in groups if g not in data.columns]:
            raise ConfigError(f"{self.path}: estimate.take_none.by {missing} not in the register")
        inputs = self.typical is not None and self.typical.model_inputs
        if bare := uncovered_cells(data, groups or None, typical_inputs=inputs):
            raise ConfigError(
                f"{self.path}: take-none firms in {len(bare)} cell(s) of "
                f"{groups or 'the sector'} would be neither enumerated, sampled nor modelled "
                f"(fewer than two observable units to fit the cut-off model): {bare[:10]}; "
                "sample those cells, fit on a census (estimate.take_none.fit = 'census') "
                "or use coarser estimate.take_none.by")


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
            if out is not INVALID:
                ctx.problems.extend(trial.problems)
                return out
        # no alternative fits: explain with the one of the same shape, if any
        same = [a for a in alternatives if _shape(a) == _shape_of(value)]
        if len(same) == 1:
            return _convert(value, same[0], path, ctx, meta)
        ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}")
        return INVALID
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
                return INVALID
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
                return INVALID
            if meta.get("exists") and not p.exists():
                ctx.add(path, f"file not found: {p}")
                return INVALID
            return p
    elif origin is Literal:
        if value in args and type(value) is type(args[args.index(value)]):
            return value
        hint = ""
        if isinstance(value, str):
            close = [LANGUAGE_ALIASES[value.lower()]] if LANGUAGE_ALIASES.get(value.lower()) in args else \
                difflib.get_close_matches(value, [str(a) for a in args], n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}{hint}")
        return INVALID
    elif origin is list:
        if isinstance(value, list):
            items = [_convert(v, args[0], f"{path}[{i}]", ctx, meta) for i, v in enumerate(value)]
            return INVALID if any(i is INVALID for i in items) else items
    elif origin is tuple:
        if isinstance(value, list):
            if len(value) != len(args):
                ctx.add(path, f"must be {_describe(tp)}, got {len(value)} values")
                return INVALID
            items = [_convert(v, a, f"{path}[{i}]", ctx, meta)
                     for i, (v, a) in enumerate(zip(value, args, strict=False))]
            return INVALID if any(i is INVALID for i in items) else tuple(items)
    elif origin is dict:
        if isinstance(value, dict):
            items = {k: _convert(v, args[1], f"{path}.{k}", ctx, meta) for k, v in value.items()}
            return INVALID if any(i is INVALID for i in items.values()) else items
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, path, ctx)
    else:  # pragma: no cover - a schema error, not a user error
        raise TypeError(f"unsupported type {tp!r} at {path}")
    ctx.add(path, f"must be {_describe(tp)}, got {_got(value)}")
    return INVALID


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
            ctx.add(join_path(path, key), _unknown(key, names))
    kwargs: dict[str, Any] = {}
    for f in fields:
        sub = join_path(path, f.name)
        if f.name in table:
            value = _convert(table[f.name], hints[f.name], sub, ctx, f.metadata)
            if value is INVALID:
                continue
            check = f.metadata.get("check")
            if check is not None:
                for rel, message in check(value):
                    ctx.add(join_path(sub, rel), message)
            kwargs[f.name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            ctx.add(sub, f"missing ({f.metadata.get('doc', '')})")
        elif isinstance(f.default, Path):  # a default path also resolves against the folder
            kwargs[f.name] = (ctx.folder / f.default).resolve()
    if len(ctx.problems) > before:
        return INVALID
    obj = cls(**kwargs)
    validate = getattr(obj, "cross_checks", None)  # checks across the keys of a section
    if validate is not None:
        for rel, message in validate():
            ctx.add(join_path(path, rel), message)
    return obj if len(ctx.problems) == before else INVALID


def _parse(data: Mapping[str, Any], path: Path, ctx: _Context) -> SurveyConfig | None:
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key not in SECTIONS:
            ctx.add(key, "unknown section; " + _unknown(key, list(SECTIONS)).replace(
                "unknown key; ", ""))
            continue
        cls = SECTIONS[key]
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
