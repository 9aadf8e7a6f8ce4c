"""What a bulletin shows: the input dataclasses of the renderer.

The renderer never computes statistics. It is given estimates (with their
standard errors and intervals) by the estimation and quarterly modules, and
disclosure decisions by :mod:`survey.publish.disclosure`, and it lays them out.
The only rule it applies itself is the reliability flag of a table cell,
read off the cell's CV:

=======  ===================================================================
symbol   meaning
=======  ===================================================================
``x``    confidential: the cell is suppressed (``suppressed`` column True)
``F``    too unreliable to publish: CV > ``cv_unreliable`` (30 %); the value
         is replaced by the symbol
``E``    use with caution: CV > ``cv_caution`` (15 %); the value is shown
``..``   not available (missing value)
=======  ===================================================================

Examples
--------
>>> import pandas as pd
>>> from survey.publish.report import BulletinTable, published_frame
>>> frame = pd.DataFrame({"county": ["Bobai", "Lipu", "Luchuan"], "variable": "gross_output",
...     "estimate": [100.0, 50.0, 20.0], "se": [5.0, 10.0, 8.0], "cv": [0.05, 0.2, 0.4],
...     "ci_low": [90.0, 30.0, 4.0], "ci_high": [110.0, 70.0, 36.0], "df": 30, "n": [12, 5, 3]})
>>> published_frame(BulletinTable(name="county", title="By county", frame=frame))[["county", "estimate", "flag"]]
    county  estimate flag
0    Bobai     100.0
1     Lipu      50.0    E
2  Luchuan       NaN    F
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from survey import errors as _errors
from survey.publish.report.labels import LANGUAGES, label

__all__ = [
    "ReportError",
    "Headline",
    "BulletinTable",
    "BulletinContent",
    "BulletinFiles",
    "cell_flags",
    "published_frame",
    "TABLE_COLUMNS",
    "GROWTH_COLUMNS",
    "TARGET_COLUMNS",
    "HIDDEN",
    "PARTS",
    "example_content",
    "legend_items",
    "parts_from_table",
]

from survey.errors import ReportError  # noqa: E402

TABLE_COLUMNS = ("variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n")
GROWTH_COLUMNS = ("growth", "growth_se", "growth_ci_low", "growth_ci_high")
TARGET_COLUMNS = ("domain", "variable", "year", "target", "estimate", "ci_low", "ci_high", "needed",
                  "needed_ci_low", "needed_ci_high", "growth", "growth_ci_low", "growth_ci_high")
PARTS = ("take-all", "sampled", "model")
#: Values hidden by a cell's flag: a suppressed cell ("x") hides everything that reveals the
#: level or its change; a too unreliable cell ("F") hides the level (its CV says why).
HIDDEN = {"x": ("estimate", "se", "cv", "ci_low", "ci_high") + GROWTH_COLUMNS,
          "F": ("estimate", "se", "ci_low", "ci_high")}
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,31}$")


def _require(frame: object, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ReportError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _errors.ColumnError(
            f"{what} lacks column(s) {missing}; it needs {list(columns)} "
            f"(it has {list(map(str, frame.columns))})."
        )
    return frame.copy()


def _numeric(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for c in columns:
        if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c]):
            raise _errors.ColumnError(
                f"column {c!r} of {what} must be numeric (dtype is {frame[c].dtype}); "
                "convert it with pandas.to_numeric."
            )


def _check_interval(low, point, high, where: str, rows=None) -> None:
    low, point, high = (np.asarray(a, dtype=float) for a in (low, point, high))
    ok = np.isfinite(low) & np.isfinite(point) & np.isfinite(high)
    tol = 1e-9 * np.maximum(1.0, np.abs(point))
    bad = ok & ((low > point + tol) | (point > high + tol))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = i if rows is None else rows[i]
        raise ReportError(
            f"{where}: interval [{low.flat[i]}, {high.flat[i]}] does not contain the estimate "
            f"{point.flat[i]} (row {row}); pass the interval that belongs to the estimate."
        )


@dataclass(frozen=True, kw_only=True)
class Headline:
    """One headline figure: a total with its interval and its growth.

    Parameters
    ----------
    label : str
        What the figure is, as printed ("Sector gross output").
    variable : str
        The indicator (``"gross_output"``), for the record.
    estimate, ci_low, ci_high : float
        The estimate and its confidence interval (at the bulletin's level), in ``unit``.
    growth, growth_ci_low, growth_ci_high : float, default=nan
        Year-on-year growth as a fraction (0.32 = +32 %) and its interval;
        NaN when not available (printed as "..").
    unit : str, default=""
        Unit printed after the number ("thousand yuan", "万元").
    decimals : int, default=1
        Decimals printed.

    Examples
    --------
    >>> h = Headline(label="Gross output", variable="gross_output", estimate=1450.0,
    ...              ci_low=1400.0, ci_high=1500.0, growth=0.32, growth_ci_low=0.3,
    ...              growth_ci_high=0.34, unit="million yuan")
    >>> h.estimate, h.growth
    (1450.0, 0.32)
    """

    label: str
    variable: str
    estimate: float
    ci_low: float
    ci_high: float
    growth: float = math.nan
    growth_ci_low: float = math.nan
    growth_ci_high: float = math.nan
    unit: str = ""
    decimals: int = 1

    def __post_init__(self) -> None:
        for name in ("estimate", "ci_low", "ci_high", "growth", "growth_ci_low", "growth_ci_high"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, float(value if value is not None else math.nan))
            except (TypeError, ValueError):
                raise ReportError(
                    f"headline {self.label!r}: {name}={value!r} is not a number."
                ) from None
        if not math.isfinite(self.estimate):
            raise ReportError(
                f"headline {self.label!r}: the estimate is {self.estimate}; a headline needs a "
                "finite estimate (leave the figure out instead)."
            )
        if not (isinstance(self.decimals, int) and 0 <= self.decimals <= 6):
            raise ReportError(f"headline {self.label!r}: decimals={self.decimals!r} must be an int in 0..6.")
        _check_interval(self.ci_low, self.estimate, self.ci_high, f"headline {self.label!r}")
        _check_interval(self.growth_ci_low, self.growth, self.growth_ci_high,
                        f"headline {self.label!r} (growth)")


@dataclass(frozen=True, kw_only=True, eq=False)
class BulletinTable:
    """One table of the bulletin.

    Parameters
    ----------
    name : str
        Short name: letters, digits, ``_`` or ``-``, at most 31 characters;
        used for the CSV file name and the Excel sheet name.
    title : str
        Printed title.
    frame : pandas.DataFrame
        Breakdown columns first, then ``variable, estimate, se, cv, ci_low,
        ci_high, df, n`` (as :meth:`survey.Estimate.table` gives them),
        optionally ``growth, growth_se, growth_ci_low, growth_ci_high`` and a
        boolean ``suppressed`` column (from :mod:`survey.publish.disclosure`). Growth
        and CV are fractions.
    decimals : int, default=1
        Decimals of estimates in the HTML and Excel views.
    unit : str, default=""
        Unit of the money columns (estimate, SE, interval), e.g. "亿元":
        printed in the table's caption, its CSV ``unit`` column and its Excel
        number formats.

    Examples
    --------
    >>> import pandas as pd
    >>> t = BulletinTable(name="total", title="Sector", frame=pd.DataFrame({"variable": ["y"],
    ...     "estimate": [10.0], "se": [1.0], "cv": [0.1], "ci_low": [8.0], "ci_high": [12.0],
    ...     "df": [9], "n": [10]}))
    >>> t.breakdown, t.has_growth
    ((), False)
    """

    name: str
    title: str
    frame: pd.DataFrame
    decimals: int = 1
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ReportError(
                f"table name {self.name!r} must be 1-31 letters, digits, '_' or '-' "
                "(it names a CSV file and an Excel sheet)."
            )
        what = f"table {self.name!r}"
        frame = _require(self.frame, TABLE_COLUMNS, what).reset_index(drop=True)
        position = list(frame.columns).index("variable")
        after = [str(c) for c in frame.columns[position + 1:]]
        allowed = set(TABLE_COLUMNS) | set(GROWTH_COLUMNS) | {"suppressed"}
        unknown = [c for c in after if c not in allowed]
        if unknown:
            raise _errors.ColumnError(
                f"{what}: column(s) {unknown} after 'variable' are not table columns; drop them, "
                "or move them before 'variable' to use them as breakdown columns."
            )
        growth = [c for c in GROWTH_COLUMNS if c in frame.columns]
        if growth and len(growth) != len(GROWTH_COLUMNS):
            raise _errors.ColumnError(
                f"{what}: growth columns must come together {list(GROWTH_COLUMNS)}; it has {growth}."
            )
        _numeric(frame, TABLE_COLUMNS[1:] + GROWTH_COLUMNS, what)
        if "suppressed" in frame.columns:
            if not pd.api.types.is_bool_dtype(frame["suppressed"]) or frame["suppressed"].isna().any():
                raise _errors.ColumnError(
                    f"{what}: column 'suppressed' must be boolean without missing values "
                    f"(dtype is {frame['suppressed'].dtype})."
                )
            shown = ~frame["suppressed"].to_numpy(dtype=bool)
        else:
            shown = np.ones(len(frame), dtype=bool)
        # never publish a silently wrong number: intervals must contain their estimates
        sub = frame.loc[shown]
        rows = sub.index.to_numpy()
        _check_interval(sub["ci_low"], sub["estimate"], sub["ci_high"], what, rows)
        if growth:
            _check_interval(sub["growth_ci_low"], sub["growth"], sub["growth_ci_high"], f"{what} (growth)", rows)
        if not (isinstance(self.decimals, int) and 0 <= self.decimals <= 6):
            raise ReportError(f"{what}: decimals={self.decimals!r} must be an int in 0..6.")
        object.__setattr__(self, "frame", frame)

    @classmethod
    def from_table(cls, frame: pd.DataFrame, *, name: str, title: str,
                   by: str | Sequence[str] | None = None, suppressed: Sequence[bool] | None = None,
                   decimals: int = 1, unit: str = "") -> "BulletinTable":
        """A table from an estimation result's ``table()``, keeping only what is published.

        Takes the ``by`` columns, ``variable``, the API columns and (when
        present) the growth columns; other columns (parts, shares, period...)
        are left out.

        Parameters
        ----------
        frame : pandas.DataFrame
            E.g. ``Estimate.table()``, ``CombinedEstimate.table()``.
        name, title : str
            As for :class:`BulletinTable`.
        by : str or sequence of str, optional
            Breakdown columns; default: the columns before ``variable``.
        suppressed : sequence of bool, optional
            Suppression flags in row order (e.g. from :mod:`survey.publish.disclosure`);
            default: the frame's ``suppressed`` column if any.
        decimals : int, default=1
        unit : str, default=""

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"period": "2006Q4", "county": ["A", "B"], "variable": "y",
        ...     "estimate": [5.0, 7.0], "se": 1.0, "cv": [0.2, 0.14], "ci_low": 3.0, "ci_high": 9.0,
        ...     "take_all": [4.0, 6.0], "df": 9, "n": 5})
        >>> BulletinTable.from_table(t, name="county", title="By county", by="county").frame.columns.tolist()
        ['county', 'variable', 'estimate', 'se', 'cv', 'ci_low', 'ci_high', 'df', 'n']
        """
        source = _require(frame, TABLE_COLUMNS, f"table {name!r}")
        if by is None:
            by = list(source.columns[: list(source.columns).index("variable")])
        by = [by] if isinstance(by, str) else list(by)
        _require(source, by, f"table {name!r}")
        growth = list(GROWTH_COLUMNS) if all(c in source.columns for c in GROWTH_COLUMNS) else []
        keep = [*by, *TABLE_COLUMNS, *growth]
        out = source[keep].reset_index(drop=True)
        if suppressed is not None:
            flags = np.asarray(suppressed)
            if flags.shape != (len(out),) or flags.dtype != bool:
                raise _errors.ColumnError(
                    f"table {name!r}: suppressed must be {len(out)} booleans in row order, got "
                    f"shape {flags.shape} of dtype {flags.dtype}."
                )
            out["suppressed"] = flags
        elif "suppressed" in source.columns:
            out["suppressed"] = source["suppressed"].to_numpy()
        return cls(name=name, title=title, frame=out, decimals=decimals, unit=unit)

    @property
    def breakdown(self) -> tuple[str, ...]:
        """Names of the breakdown columns (those before ``variable``)."""
        cols = list(self.frame.columns)
        return tuple(cols[: cols.index("variable")])

    @property
    def has_growth(self) -> bool:
        """Whether the table carries growth columns."""
        return "growth" in self.frame.columns


@dataclass(frozen=True, kw_only=True, eq=False)
class BulletinContent:
    """Everything a quarterly bulletin shows.

    Parameters
    ----------
    title : str
        Title of the bulletin.
    period : str
        Reference period ("2006Q4").
    language : {"zh", "en"}, default="en"
        Language of all labels, symbols and chart texts.
    headline : sequence of Headline, default=()
        Headline figures (shown as cards at the top).
    tables : sequence of BulletinTable, default=()
        Tables (by region, industry, channel, zone...); names must be unique.
    series : pandas.DataFrame or None, default=None
        ``period, variable, estimate, ci_low, ci_high``: a line chart with an
        interval band, one panel per variable.
    growth : pandas.DataFrame or None, default=None
        ``domain, variable, growth, growth_ci_low, growth_ci_high`` (growth as
        fractions): a bar chart with interval whiskers.
    parts : pandas.DataFrame or None, default=None
        ``period, part, variable, estimate`` with ``part`` in
        {"take-all", "sampled", "model"}, one row each: a stacked share chart
        (each part divided by the sum of the parts of its period).
    quality : pandas.DataFrame or None, default=None
        ``indicator, value`` and optionally ``unit``; where ``unit`` is
        ``"%"`` the value is a fraction shown as a percentage.
    methods_note : str, default=""
        Methods note (paragraphs separated by blank lines).
    notes : sequence of str, default=()
        Footnotes.
    cv_caution, cv_unreliable : float, default=0.15, 0.30
        CV thresholds of the "E" and "F" flags.
    level : float, default=0.95
        Confidence level of the intervals given (named by every interval
        label: "90% 置信区间" when 0.9).
    growth_basis : {"comparable", "level"}, default="comparable"
        What the growth rates compare (named by the growth label): the same
        firms a year earlier, or the total published a year earlier.
    unit : str, default=""
        Display unit of money ("亿元"): the y axis of the series chart.
    targets : pandas.DataFrame or None, default=None
        Progress to targets (:func:`survey.publish.report.tables.target_progress`):
        ``domain, variable, year, target, estimate, ci_low, ci_high, needed,
        needed_ci_low, needed_ci_high, growth, growth_ci_low,
        growth_ci_high``; a small table and a chart.
    case_studies : pandas.DataFrame or None, default=None
        The typical units' own figures (典型调查): a case-study section, not an
        estimate of anything (any columns; shown as given).
    revisions : pandas.DataFrame or None, default=None
        Revised figures of earlier publications (first published against now,
        with the flag ``"r"``): a revisions section (any columns; shown as given).
    revisions_note : str, default=""
        The note under the revisions section.

    Examples
    --------
    >>> c = BulletinContent(title="Quarterly bulletin", period="2006Q4", language="zh")
    >>> c.language, c.tables
    ('zh', ())
    """

    title: str
    period: str
    language: Literal["zh", "en"] = "en"
    headline: Sequence[Headline] = ()
    tables: Sequence[BulletinTable] = ()
    series: pd.DataFrame | None = None
    growth: pd.DataFrame | None = None
    parts: pd.DataFrame | None = None
    quality: pd.DataFrame | None = None
    methods_note: str = ""
    notes: Sequence[str] = ()
    cv_caution: float = 0.15
    cv_unreliable: float = 0.30
    level: float = 0.95
    growth_basis: Literal["comparable", "level"] = "comparable"
    unit: str = ""
    targets: pd.DataFrame | None = None
    case_studies: pd.DataFrame | None = None
    revisions: pd.DataFrame | None = None
    revisions_note: str = ""

    def label(self, key: object) -> str:
        """The label of ``key`` in the bulletin's language, level and growth basis.

        Examples
        --------
        >>> BulletinContent(title="B", period="2006Q4", language="zh", level=0.9).label("interval")
        '90% 置信区间'
        """
        return label(key, self.language, level=self.level, growth=self.growth_basis)

    def __post_init__(self) -> None:
        if not (isinstance(self.level, float | int) and 0 < self.level < 1):
            raise ReportError(f"level={self.level!r} must be a confidence level in (0, 1), e.g. 0.95.")
        if self.growth_basis not in ("comparable", "level"):
            raise ReportError(f"growth_basis={self.growth_basis!r}: use 'comparable' or 'level'.")
        if self.language not in LANGUAGES:
            raise ReportError(f"language={self.language!r} is not supported; use one of {LANGUAGES}.")
        headline = tuple(self.headline)
        for i, h in enumerate(headline):
            if not isinstance(h, Headline):
                raise ReportError(f"headline[{i}] is a {type(h).__name__}; build it with Headline(...).")
        tables = tuple(self.tables)
        for i, t in enumerate(tables):
            if not isinstance(t, BulletinTable):
                raise ReportError(f"tables[{i}] is a {type(t).__name__}; build it with BulletinTable(...).")
        names = [t.name for t in tables]
        reserved = {"headline", "series", "growth", "parts", "quality", "legend", "targets",
                    "case_studies", "revisions"}
        clash = sorted({n for n in names if names.count(n) > 1 or n.lower() in reserved})
        if clash:
            raise ReportError(
                f"table names {clash} are repeated or reserved ({sorted(reserved)}); give each table "
                "its own name."
            )
        if not (0 < self.cv_caution < self.cv_unreliable):
            raise ReportError(
                f"CV thresholds must satisfy 0 < cv_caution < cv_unreliable; got {self.cv_caution}, "
                f"{self.cv_unreliable}."
            )
        object.__setattr__(self, "headline", headline)
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "notes", tuple(str(n) for n in self.notes))
        if self.series is not None:
            s = _require(self.series, ("period", "variable", "estimate", "ci_low", "ci_high"), "series")
            _numeric(s, ("estimate", "ci_low", "ci_high"), "series")
            _check_interval(s["ci_low"], s["estimate"], s["ci_high"], "series")
            object.__setattr__(self, "series", s.reset_index(drop=True))
        if self.growth is not None:
            g = _require(self.growth, ("domain", "variable", "growth", "growth_ci_low", "growth_ci_high"),
                         "growth")
            _numeric(g, ("growth", "growth_ci_low", "growth_ci_high"), "growth")
            _check_interval(g["growth_ci_low"], g["growth"], g["growth_ci_high"], "growth")
            object.__setattr__(self, "growth", g.reset_index(drop=True))
        if self.parts is not None:
            p = _require(self.parts, ("period", "part", "variable", "estimate"), "parts")
            _numeric(p, ("estimate",), "parts")
            bad = sorted(set(p["part"].astype(str)) - set(PARTS))
            if bad:
                raise ReportError(f"parts: unknown part(s) {bad}; use {list(PARTS)}.")
            if p.duplicated(["period", "part", "variable"]).any():
                raise ReportError("parts: several rows for one (period, part, variable); give one row each.")
            if (p["estimate"] < 0).any():
                raise ReportError("parts: estimates must be >= 0 to be shown as shares.")
            object.__setattr__(self, "parts", p.reset_index(drop=True))
        if self.quality is not None:
            q = _require(self.quality, ("indicator", "value"), "quality")
            object.__setattr__(self, "quality", q.reset_index(drop=True))
        if self.targets is not None:
            t = _require(self.targets, TARGET_COLUMNS, "targets")
            _numeric(t, TARGET_COLUMNS[3:], "targets")
            _check_interval(t["ci_low"], t["estimate"], t["ci_high"], "targets")
            _check_interval(t["needed_ci_low"], t["needed"], t["needed_ci_high"], "targets (needed)")
            _check_interval(t["growth_ci_low"], t["growth"], t["growth_ci_high"], "targets (growth)")
            object.__setattr__(self, "targets", t.reset_index(drop=True))


@dataclass(frozen=True, kw_only=True)
class BulletinFiles:
    """Paths of the files written by :func:`survey.publish.report.write_bulletin`.

    Attributes
    ----------
    html : pathlib.Path or None
        The self-contained HTML bulletin (``None`` when not written).
    excel : pathlib.Path or None
        The Excel workbook (``None`` when not written).
    csv : dict of str to pathlib.Path
        One CSV per table (by table name), and ``headline``, ``series``,
        ``growth``, ``parts``, ``quality`` when given.

    Examples
    --------
    >>> from pathlib import Path
    >>> BulletinFiles(html=Path("b.html"), excel=Path("b.xlsx"), csv={}).html.name
    'b.html'
    """

    html: Path | None
    excel: Path | None
    csv: dict[str, Path] = field(default_factory=dict)


def legend_items(content: BulletinContent) -> list[tuple[str, str]]:
    """The symbols of the bulletin and their meaning, in its language.

    Examples
    --------
    >>> legend_items(BulletinContent(title="B", period="2006Q4"))[0]
    ('x', 'confidential: suppressed to protect individual enterprises')
    """
    thresholds = {"caution": content.cv_caution, "unreliable": content.cv_unreliable}
    return [
        ("x", content.label("sym_x")),
        ("F", content.label("sym_F").format(**thresholds)),
        ("E", content.label("sym_E").format(**thresholds)),
        ("..", content.label("sym_na")),
    ]


def cell_flags(table: BulletinTable, *, cv_caution: float = 0.15, cv_unreliable: float = 0.30) -> np.ndarray:
    """The flag of each cell of ``table``: ``"x"``, ``"F"``, ``"E"`` or ``""``.

    ``"x"`` where ``suppressed`` is True; otherwise ``"F"`` where
    ``|cv| > cv_unreliable``, ``"E"`` where ``|cv| > cv_caution``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = BulletinTable(name="t", title="t", frame=pd.DataFrame({"variable": "y",
    ...     "estimate": [1.0, 1, 1, 1], "se": 0.1, "cv": [0.1, 0.2, 0.5, 0.5], "ci_low": 0.0,
    ...     "ci_high": 2.0, "df": 9, "n": 5, "suppressed": [False, False, False, True]}))
    >>> cell_flags(t).tolist()
    ['', 'E', 'F', 'x']
    """
    cv = np.abs(table.frame["cv"].to_numpy(dtype=float))
    flags = np.full(len(cv), "", dtype=object)
    with np.errstate(invalid="ignore"):
        flags[cv > cv_caution] = "E"
        flags[cv > cv_unreliable] = "F"
    if "suppressed" in table.frame.columns:
        flags[table.frame["suppressed"].to_numpy(dtype=bool)] = "x"
    return flags


def published_frame(table: BulletinTable, *, cv_caution: float = 0.15,
                    cv_unreliable: float = 0.30) -> pd.DataFrame:
    """The table as it is published in CSV and Excel: hidden values blanked, a ``flag`` column.

    Suppressed cells (``x``) lose their estimate, SE, CV, interval and growth;
    too unreliable cells (``F``) lose their estimate, SE and interval (the CV
    stays, to say why). The ``suppressed`` column is dropped, ``flag`` added
    (and ``unit``, the table's money unit, when it has one).

    Examples
    --------
    >>> import pandas as pd
    >>> t = BulletinTable(name="t", title="t", frame=pd.DataFrame({"variable": "y",
    ...     "estimate": [5.0, 7.0], "se": 1.0, "cv": [0.2, 0.14], "ci_low": 0.0, "ci_high": 9.0,
    ...     "df": 9, "n": 5, "suppressed": [False, True]}))
    >>> published_frame(t)[["estimate", "cv", "flag"]]
       estimate   cv flag
    0       5.0  0.2    E
    1       NaN  NaN    x
    """
    flags = cell_flags(table, cv_caution=cv_caution, cv_unreliable=cv_unreliable)
    out = table.frame.drop(columns=["suppressed"], errors="ignore")
    for symbol, hidden in HIDDEN.items():
        rows = flags == symbol
        if rows.any():
            for c in hidden:
                if c in out.columns:
                    out[c] = out[c].astype(float).mask(rows)
    out["flag"] = pd.array(flags.tolist(), dtype="str")
    if table.unit:
        out["unit"] = table.unit
    return out


def parts_from_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``parts`` frame of a bulletin from a quarterly table with ``take_all, sampled, model``.

    Reshapes (no computation) ``period, variable, take_all, sampled, model``
    into rows ``period, part, variable, estimate``; missing parts count as 0.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"period": ["2006Q4"], "variable": ["y"], "take_all": [60.0],
    ...                   "sampled": [30.0], "model": [float("nan")]})
    >>> parts_from_table(t)
       period      part variable  estimate
    0  2006Q4  take-all        y      60.0
    1  2006Q4   sampled        y      30.0
    2  2006Q4     model        y       0.0
    """
    source = _require(frame, ("period", "variable", "take_all", "sampled", "model"), "parts table")
    if source.duplicated(["period", "variable"]).any():
        raise ReportError(
            "parts table: several rows per period and variable (a breakdown?); pass the table of "
            "the sector total, one row per period and variable."
        )
    long = source[["period", "variable", "take_all", "sampled", "model"]].melt(
        id_vars=["period", "variable"], var_name="part", value_name="estimate")
    long["part"] = long["part"].map({"take_all": "take-all", "sampled": "sampled", "model": "model"})
    long["estimate"] = long["estimate"].astype(float).fillna(0.0)
    order = {p: i for i, p in enumerate(PARTS)}
    long["_order"] = long["part"].map(order)
    periods = {p: i for i, p in enumerate(dict.fromkeys(source["period"].tolist()))}
    long["_period"] = long["period"].map(periods)
    long = long.sort_values(["_period", "variable", "_order"], kind="stable")
    return long[["period", "part", "variable", "estimate"]].reset_index(drop=True)


def example_content(language: Literal["zh", "en"] = "en") -> BulletinContent:
    """An illustrative bulletin with made-up figures shaped like the 2006 report's.

    For trying the renderer, its documentation and its tests; the numbers
    are typed in, not estimated (sector gross output of firms above
    designated size about 145 亿元, up 32 %; export delivery about 32 亿元,
    up 18 %). One county cell is suppressed, one flagged ``E``, one ``F``.

    Parameters
    ----------
    language : {"zh", "en"}, default="en"

    Returns
    -------
    BulletinContent

    Examples
    --------
    >>> c = example_content("zh")
    >>> c.headline[0].estimate, [t.name for t in c.tables]
    (145.3, ['county', 'channel'])
    """
    zh = language == "zh"
    unit = "亿元" if zh else "100 million yuan"
    headline = [
        Headline(label="规模以上工业总产值" if zh else "Gross output, firms above designated size",
                 variable="gross_output", estimate=145.3, ci_low=139.8, ci_high=150.8,
                 growth=0.32, growth_ci_low=0.27, growth_ci_high=0.37, unit=unit),
        Headline(label="规模以上出口交货值" if zh else "Export delivery, firms above designated size",
                 variable="export_delivery", estimate=32.1, ci_low=30.2, ci_high=34.0,
                 growth=0.18, growth_ci_low=0.12, growth_ci_high=0.24, unit=unit),
        Headline(label="全行业工业总产值" if zh else "Gross output, whole sector",
                 variable="gross_output", estimate=558.2, ci_low=531.4, ci_high=585.0,
                 growth=0.21, growth_ci_low=0.15, growth_ci_high=0.27, unit=unit),
    ]
    counties = (["博白县", "荔浦县", "宾阳县", "陆川县", "其他"] if zh
                else ["Bobai", "Lipu", "Binyang", "Luchuan", "Other"])
    estimate = np.array([21.4, 9.8, 6.1, 4.9, 103.1])
    cv = np.array([0.046, 0.082, 0.19, 0.36, 0.021])
    se = estimate * cv
    growth = np.array([0.12, 0.09, 0.15, -0.04, 0.38])
    growth_se = np.array([0.03, 0.04, 0.06, 0.09, 0.025])
    county = pd.DataFrame({
        "county": counties, "variable": "gross_output", "estimate": estimate, "se": se, "cv": cv,
        "ci_low": estimate - 2.01 * se, "ci_high": estimate + 2.01 * se, "df": 48,
        "n": [64, 41, 22, 9, 310], "growth": growth, "growth_se": growth_se,
        "growth_ci_low": growth - 2.01 * growth_se, "growth_ci_high": growth + 2.01 * growth_se,
        "suppressed": [False, False, False, False, False],
    })
    county.loc[1, "suppressed"] = True  # a dominant firm in Lipu: confidential
    channels = ["bureau", "federation", "zone"]
    ch_est = np.array([145.3, 23.0, 25.0, 32.1, 2.9, 16.0])
    ch_cv = np.array([0.019, 0.064, 0.052, 0.03, 0.11, 0.07])
    channel = pd.DataFrame({
        "channel": channels * 2,
        "variable": ["gross_output"] * 3 + ["export_delivery"] * 3,
        "estimate": ch_est, "se": ch_est * ch_cv, "cv": ch_cv,
        "ci_low": ch_est * (1 - 2.01 * ch_cv), "ci_high": ch_est * (1 + 2.01 * ch_cv),
        "df": 48, "n": [412, 260, 188, 412, 260, 188],
    })
    periods = [f"{y}Q{q}" for y in (2005, 2006) for q in (1, 2, 3, 4)]
    go = np.array([24.0, 26.5, 27.9, 31.6, 31.7, 35.0, 36.8, 41.8])
    ex = np.array([6.2, 6.7, 7.0, 7.3, 7.3, 7.9, 8.3, 8.6])
    series = pd.concat([
        pd.DataFrame({"period": periods, "variable": v, "estimate": y,
                      "ci_low": y * (1 - 0.04 - 0.005 * np.arange(8) % 0.02),
                      "ci_high": y * (1 + 0.04 + 0.005 * np.arange(8) % 0.02)})
        for v, y in (("gross_output", go), ("export_delivery", ex))
    ], ignore_index=True)
    growth_frame = county.loc[~county["suppressed"], ["county", "variable", "growth", "growth_ci_low",
                                                      "growth_ci_high"]].rename(columns={"county": "domain"})
    take_all = go * 0.74
    model = go * 0.06
    parts = pd.concat([
        pd.DataFrame({"period": periods, "part": part, "variable": "gross_output", "estimate": values})
        for part, values in (("take-all", take_all), ("sampled", go - take_all - model), ("model", model))
    ], ignore_index=True)
    quality = pd.DataFrame({
        "indicator": ["response_rate", "weighted_response_rate", "imputed_share", "take_all_share",
                      "sample_size", "respondents"],
        "value": [0.912, 0.948, 0.043, 0.74, 1240, 1131],
        "unit": ["%", "%", "%", "%", "", ""],
    })
    if zh:
        methods = ("规模以上企业全面调查，缺报企业的数据用上年同期值按同类企业增速插补。"
                   "规模以下企业按地区×行业×规模分层随机抽样，用登记册辅助信息校准权数后推算。"
                   "重点调查以外的小微企业用模型推算，并单独标明。\n\n"
                   "增长率为可比口径：同一批企业本期与上年同期相比。区间为 95% 置信区间，"
                   "反映抽样误差，不包括登记、回答和加工误差。")
        notes = ["本公报数字为示例数据。", "因四舍五入，分项之和可能不等于合计。"]
    else:
        methods = ("Firms above designated size are enumerated completely; missing returns are imputed "
                   "from last year's value times the growth of similar firms. Firms below the size "
                   "threshold are sampled by region x industry x size class and weighted up with "
                   "calibration to the business register. The part below the key-unit cut-off is "
                   "estimated from a model and labelled as such.\n\n"
                   "Growth is on a comparable basis: the same firms this quarter and a year earlier. "
                   "Intervals are 95% confidence intervals; they reflect sampling error only.")
        notes = ["The figures of this bulletin are illustrative.",
                 "Components may not add up to totals because of rounding."]
    return BulletinContent(
        title="广西二轻城镇集体工业季度统计公报" if zh else "Guangxi light industry: quarterly bulletin",
        period="2006Q4", language=language, headline=headline,
        tables=[BulletinTable(name="county", title="按县（市、区）分工业总产值" if zh else "Gross output by county",
                              frame=county),
                BulletinTable(name="channel", title="按渠道分主要指标" if zh else "Main indicators by channel",
                              frame=channel)],
        series=series, growth=growth_frame, parts=parts, quality=quality,
        methods_note=methods, notes=notes,
    )
