"""Charts of the bulletin, drawn with matplotlib as inline SVG text.

Texts are stored as glyph outlines (``svg.fonttype="path"``), so a chart
shows its Chinese labels in any browser, with or without Chinese fonts, and
the HTML file needs nothing from the network. Because the outlines are baked
in, no browser can repair a missing glyph; so every chart draws with a
per-glyph fallback list (:func:`font_families`): DejaVu Sans (always present)
for letters, digits and signs, then the best CJK family found by
:func:`cjk_font` (Noto Sans CJK SC / Source Han Sans preferred; ``.ttc`` and
``.otf`` files are added when matplotlib's font cache lacks them). A chart
that would show a missing glyph gives one :class:`survey.SurveyWarning`
naming the characters and the fix (Debian: ``apt-get install
fonts-noto-cjk``), never one warning per glyph.

No statistics are computed here: the charts plot the estimates and
intervals they are given (the share chart divides each part by the sum of
the parts of its period).
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from contextlib import contextmanager
from typing import Iterator, Literal

import numpy as np
import pandas as pd

from survey.errors import SurveyWarning
from survey.publish.report.labels import label

__all__ = ["cjk_font", "font_families", "missing_glyphs", "series_chart", "growth_chart", "parts_chart",
           "targets_chart"]

#: CJK families tried in order: full CJK families with Latin glyphs first (Simplified
#: Chinese first); CJK-only fallbacks (no Latin letters or digits) last.
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
    "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB",
    "Droid Sans Fallback",
)
#: The families good enough that no system font files are scanned when one is known.
PREFERRED = CJK_FAMILIES[:3]
#: The Latin family of every chart: it ships with matplotlib, so it is always present.
LATIN_FAMILY = "DejaVu Sans"
#: What to install when a glyph is missing (Debian/Ubuntu).
FONT_FIX = "apt-get install fonts-noto-cjk"
_CJK_FILES = re.compile(
    r"(NotoSansCJK|NotoSans-?SC|SourceHanSans|wqy|msyh|simhei|PingFang|Hiragino|DroidSansFallback)",
    re.I)
_HAN = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
PART_COLORS = {"take-all": "#1f4e79", "sampled": "#5b9bd5", "model": "#f4b183"}
LINE_COLOR = "#1f4e79"
POSITIVE, NEGATIVE = "#2e75b6", "#c55a11"


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of the best font family with Chinese glyphs that matplotlib can use, or None.

    Looks in matplotlib's font list for the families of :data:`CJK_FAMILIES`,
    best first. Unless one of :data:`PREFERRED` (Noto Sans CJK SC, Source Han
    Sans) is known, it also adds the system font files (``.ttf``, ``.otf``,
    ``.ttc``) whose names look like CJK fonts and looks again: a font cache
    built before Noto was installed, or one that knows only a CJK-only font
    such as Droid Sans Fallback, does not hide a better font on the disk.

    Examples
    --------
    >>> name = cjk_font()
    >>> name is None or isinstance(name, str)
    True
    """
    from matplotlib import font_manager

    def lookup() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = lookup()
    if found not in PREFERRED:
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts(fontext="ttf"):
            if _CJK_FILES.search(path) and path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # unreadable font file: skip it
                    continue
        found = lookup()
    return found


def font_families() -> list[str]:
    """The font families of every chart, in fallback order: Latin first, then CJK.

    matplotlib (3.6 and later) takes each glyph from the first family that
    has it: letters, digits and signs from :data:`LATIN_FAMILY` (DejaVu Sans,
    shipped with matplotlib), Chinese characters from :func:`cjk_font`. A
    CJK-only font is never the sole family, so digits never become boxes.

    Examples
    --------
    >>> font_families()[0]
    'DejaVu Sans'
    """
    family = cjk_font()
    return [LATIN_FAMILY] + ([family] if family else [])


def missing_glyphs(texts: list[str], families: list[str] | None = None) -> str:
    """The characters of ``texts`` that no family of ``families`` can draw (sorted, unique).

    Parameters
    ----------
    texts : list of str
    families : list of str, optional
        Default :func:`font_families`.

    Examples
    --------
    >>> missing_glyphs(["Growth (%) 2006"])
    ''
    """
    from matplotlib import font_manager

    families = font_families() if families is None else families
    chars = sorted({c for t in texts for c in str(t) if not c.isspace()})
    if not chars:
        return ""
    charmaps = []
    for family in families:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False)
        except ValueError:
            continue
        charmaps.append(_charmap(path))
    return "".join(c for c in chars if not any(ord(c) in m for m in charmaps))


@functools.lru_cache(maxsize=16)
def _charmap(path: str) -> frozenset:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


@contextmanager
def _style(texts: list[str]) -> Iterator[None]:
    """matplotlib settings of every chart: one warning (never one per glyph) if a character
    of ``texts`` has no glyph in any chart font, naming the fix."""
    import matplotlib

    families = font_families()
    rc = {
        "font.family": families,
        "font.size": 9,
        "axes.unicode_minus": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#dddddd",
        "grid.linewidth": 0.6,
        "svg.fonttype": "path",
        "svg.hashsalt": "survey-bulletin",
    }
    missing = missing_glyphs(texts, families)
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        if missing:
            warnings.warn(
                f"The bulletin's charts cannot draw {missing!r} with the fonts found "
                f"({', '.join(families)}): those characters would show as empty boxes. "
                f"Install a Chinese font (Debian/Ubuntu: `{FONT_FIX}`) and run again.",
                SurveyWarning,
                stacklevel=4,
            )
        # matplotlib's own warnings (one per glyph) are replaced by the one above
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        yield


def _to_svg(fig, title: str, prefix: str) -> str:
    """The figure as an ``<svg>`` element, without XML prolog, DOCTYPE or metadata.

    The same bytes as ``fig.savefig(format="svg", bbox_inches="tight")``, drawn once: that
    call first draws the whole figure without output to run the constrained layout and
    find the tight box; here the layout runs and the box is measured (at the 72 dpi of
    SVG, as savefig measures it) without that pass, and savefig gets the box.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)  # text measured as the SVG backend draws it
    # an empty axis label draws nothing and takes no room: fixed coordinates spare matplotlib
    # measuring every tick label again, in each layout and drawing pass, to place it
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.label.get_text():
                axis.set_label_coords(0.5, 0.5)
    fig.get_layout_engine().execute(fig)
    box = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    fig.set_layout_engine(None)  # laid out once: savefig draws once
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches=box, dpi=72, metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # namespace declarations are not needed inline in HTML (the HTML parser knows svg and
    # xlink:href); dropping them leaves no "http" string in the page at all
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text[: text.index(">") + 1], count=0) + text[text.index(">") + 1:]
    # ids unique within the HTML page, which holds several charts
    text = re.sub(r'(\bid="|href="#|url\(#)', lambda m: m.group(1) + prefix + "-", text)
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("<svg ", f'<svg role="img" aria-label="{safe}" ', 1)


def _grid(n: int, *, height: float = 2.6) -> tuple:
    from matplotlib.figure import Figure

    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(9.2, height * nrows), layout="constrained")
    grid = fig.add_gridspec(nrows, ncols)
    return fig, [fig.add_subplot(grid[i]) for i in range(n)]


def _title(ax, name: str) -> None:
    """The panel's title, on the left, at the top of the axes (``y=1.0``, or
    ``axes.titley`` when set).

    That is where matplotlib's automatic placement leaves it in these charts (tick labels
    at the bottom, no offset text on the y axis); given, it is not placed again in each
    layout and drawing pass (each time measuring the axes' tick labels again).
    """
    import matplotlib

    y = matplotlib.rcParams["axes.titley"]
    ax.set_title(name, fontsize=10, loc="left", y=1.0 if y is None else y)


def _thousands(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"))


def _period_ticks(ax, periods: list[str]) -> None:
    """Quarter ticks that never overlap: "Q1" over its year at each year's first quarter shown,
    "Q2", "Q3"... alone in between."""
    step = max(1, math.ceil(len(periods) / 8))
    positions = np.arange(len(periods))
    texts, year = [], None
    for p in periods[::step]:
        match = re.fullmatch(r"(\d{4})Q([1-4])", str(p))
        if match is None:
            texts.append(str(p))
            continue
        texts.append(f"Q{match.group(2)}" + (f"\n{match.group(1)}" if match.group(1) != year else ""))
        year = match.group(1)
    ax.set_xticks(positions[::step], texts)
    ax.set_xlim(-0.5, len(periods) - 0.5)


def _ordered(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def series_chart(series: pd.DataFrame, *, language: Literal["zh", "en"] = "en",
                 level: float = 0.95, unit: str = "") -> str:
    """Line chart of the quarterly estimates with their interval band; one panel per variable.

    Parameters
    ----------
    series : pandas.DataFrame
        ``period, variable, estimate, ci_low, ci_high``; periods are plotted
        in the order they first appear.
    language : {"zh", "en"}, default="en"
    level : float, default=0.95
        Confidence level named in the title and legend.
    unit : str, default=""
        Unit of the estimates, written on the y axis ("亿元").

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"period": ["2006Q1", "2006Q2"], "variable": "gross_output",
    ...                   "estimate": [10.0, 12.0], "ci_low": [9.0, 10.5], "ci_high": [11.0, 13.5]})
    >>> series_chart(s).startswith("<svg")
    True
    """
    periods = _ordered(series["period"])
    variables = _ordered(series["variable"])
    titles = [label(v, language) for v in variables]
    title = label("chart_series", language, level=level)
    with _style(titles + [title, unit, label("band", language, level=level)]):
        fig, axes = _grid(len(variables))
        position = {p: i for i, p in enumerate(periods)}
        for ax, variable, name in zip(axes, variables, titles, strict=True):
            part = series[series["variable"] == variable]
            x = part["period"].map(position).to_numpy(dtype=float)
            order = np.argsort(x, kind="stable")
            x = x[order]
            y, lo, hi = (part[c].to_numpy(dtype=float)[order] for c in ("estimate", "ci_low", "ci_high"))
            ax.fill_between(x, lo, hi, color=LINE_COLOR, alpha=0.18, linewidth=0, label=label("band", language, level=level))
            ax.plot(x, y, color=LINE_COLOR, marker="o", markersize=3.5, linewidth=1.6, label=name)
            _title(ax, name)
            _period_ticks(ax, periods)
            _thousands(ax)
            if unit:
                ax.set_ylabel(unit)
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        return _to_svg(fig, title, "series")


def growth_chart(growth: pd.DataFrame, *, language: Literal["zh", "en"] = "en",
                 level: float = 0.95) -> str:
    """Horizontal bars of growth by domain with interval whiskers; one panel per variable.

    Parameters
    ----------
    growth : pandas.DataFrame
        ``domain, variable, growth, growth_ci_low, growth_ci_high`` (fractions).
    language : {"zh", "en"}, default="en"
    level : float, default=0.95
        Confidence level named in the title.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> import pandas as pd
    >>> g = pd.DataFrame({"domain": ["Bobai", "Lipu"], "variable": "gross_output",
    ...                   "growth": [0.1, -0.05], "growth_ci_low": [0.05, -0.1],
    ...                   "growth_ci_high": [0.15, 0.0]})
    >>> "<path" in growth_chart(g, language="zh")
    True
    """
    variables = _ordered(growth["variable"])
    domains = _ordered(growth["domain"])
    titles = [label(v, language) for v in variables]
    names = [label(d, language) for d in domains]
    title = label("chart_growth", language, level=level)
    with _style(titles + names + [title, label("growth_axis", language)]):
        fig, axes = _grid(len(variables), height=max(2.2, 0.32 * len(domains) + 1.0))
        position = {d: i for i, d in enumerate(domains)}
        for ax, variable, name in zip(axes, variables, titles, strict=True):
            part = growth[growth["variable"] == variable]
            y = part["domain"].map(position).to_numpy(dtype=float)
            g, lo, hi = (100 * part[c].to_numpy(dtype=float) for c in ("growth", "growth_ci_low", "growth_ci_high"))
            colors = np.where(g >= 0, POSITIVE, NEGATIVE)
            ax.barh(y, np.nan_to_num(g), color=colors, height=0.6)
            err = np.vstack([g - lo, hi - g])
            ax.errorbar(g, y, xerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor="#333333",
                        elinewidth=1, capsize=2.5)
            ax.axvline(0, color="#333333", linewidth=0.8)
            ax.set_yticks(np.arange(len(domains)), names)
            ax.set_ylim(len(domains) - 0.5, -0.5)
            ax.set_xlabel(label("growth_axis", language))
            _title(ax, name)
            ax.grid(axis="y", visible=False)
        return _to_svg(fig, title, "growth")


def parts_chart(parts: pd.DataFrame, *, language: Literal["zh", "en"] = "en",
                level: float = 0.95) -> str:
    """Stacked bars of the share of take-all, sampled and model parts; one panel per variable.

    Parameters
    ----------
    parts : pandas.DataFrame
        ``period, part, variable, estimate`` with ``part`` in
        {"take-all", "sampled", "model"}; estimates >= 0.
    language : {"zh", "en"}, default="en"
    level : float, default=0.95
        Not used (the parts have no interval); accepted like the other charts.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"period": "2006Q4", "part": ["take-all", "sampled", "model"],
    ...                   "variable": "gross_output", "estimate": [60.0, 30.0, 10.0]})
    >>> parts_chart(p).count("<svg")
    1
    """
    from survey.publish.report.content import PARTS

    periods = _ordered(parts["period"])
    variables = _ordered(parts["variable"])
    # a legend entry only for the parts that are non-zero in some period
    nonzero = parts.loc[parts["estimate"].to_numpy(dtype=float) > 0, "part"]
    present = [p for p in PARTS if p in set(nonzero)] or [p for p in PARTS if p in set(parts["part"])]
    titles = [label(v, language) for v in variables]
    legend = [label(p, language) for p in present]
    title = label("chart_parts", language)
    with _style(titles + legend + [title, label("share", language)]):
        fig, axes = _grid(len(variables))
        for ax, variable, name in zip(axes, variables, titles, strict=True):
            wide = (parts[parts["variable"] == variable]
                    .pivot_table(index="period", columns="part", values="estimate", aggfunc="sum", sort=False)
                    .reindex(index=periods, columns=present))
            values = wide.to_numpy(dtype=float)
            total = np.nansum(values, axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = 100 * np.nan_to_num(values) / np.where(total > 0, total, np.nan)
            bottom = np.zeros(len(periods))
            x = np.arange(len(periods))
            for j, part in enumerate(present):
                ax.bar(x, np.nan_to_num(share[:, j]), bottom=bottom, color=PART_COLORS[part], width=0.7,
                       label=label(part, language))
                bottom += np.nan_to_num(share[:, j])
            _period_ticks(ax, periods)
            ax.set_ylim(0, 100)
            ax.set_ylabel(label("share", language) + " (%)")
            _title(ax, name)
            ax.grid(axis="x", visible=False)
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=len(present), frameon=False, fontsize=8)
        return _to_svg(fig, title, "parts")


def targets_chart(targets: pd.DataFrame, *, language: Literal["zh", "en"] = "en",
                  level: float = 0.95) -> str:
    """Bars of the growth needed per year to reach each target next to the growth achieved,
    with interval whiskers.

    Parameters
    ----------
    targets : pandas.DataFrame
        ``domain, variable, year, needed, needed_ci_low, needed_ci_high, growth,
        growth_ci_low, growth_ci_high`` (fractions), as
        :func:`survey.publish.report.tables.target_progress` gives them.
    language : {"zh", "en"}, default="en"
    level : float, default=0.95

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"domain": ["Zones"], "variable": "gross_output", "year": [2010],
    ...     "needed": [0.41], "needed_ci_low": [0.4], "needed_ci_high": [0.42], "growth": [0.1],
    ...     "growth_ci_low": [0.05], "growth_ci_high": [0.15]})
    >>> targets_chart(t).startswith("<svg")
    True
    """
    names = [f"{d} · {label(v, language)} ({y})" if language == "en" else f"{d}·{label(v, language)}（{y}年）"
             for d, v, y in zip(targets["domain"], targets["variable"], targets["year"], strict=True)]
    bars = (("needed", label("needed_bar", language), "#c55a11"),
            ("growth", label("achieved_bar", language), POSITIVE))
    title = label("chart_targets", language, level=level)
    with _style(names + [b[1] for b in bars] + [title, label("growth_axis", language)]):
        fig, axes = _grid(1, height=max(1.8, 0.7 * len(names) + 1.0))
        ax = axes[0]
        y = np.arange(len(names), dtype=float)
        for j, (key, name, color) in enumerate(bars):
            g, lo, hi = (100 * targets[c].to_numpy(dtype=float)
                         for c in (key, f"{key}_ci_low", f"{key}_ci_high"))
            pos = y + (j - 0.5) * 0.36
            ax.barh(pos, np.nan_to_num(g), height=0.34, color=color, label=name)
            err = np.vstack([g - lo, hi - g])
            ax.errorbar(np.nan_to_num(g), pos, xerr=np.where(np.isfinite(err), err, 0), fmt="none",
                        ecolor="#333333", elinewidth=1, capsize=2.5)
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlabel(label("growth_axis", language))
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        return _to_svg(fig, title, "targets")
