"""The bulletin as one self-contained HTML file, and :func:`write_bulletin`.

The HTML file has its CSS inline and its charts as inline SVG (texts as
glyph outlines); it refers to no URL at all, and a Content-Security-Policy
forbids the browser to load anything, so it opens offline and leaks nothing.
"""

from __future__ import annotations

import html as _html
import math
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from survey.io import protect_formulas
from survey.publish.report.charts import growth_chart, parts_chart, series_chart, targets_chart
from survey.publish.report.sections import extra_sections
from survey.publish.report.content import (
    GROWTH_COLUMNS,
    BulletinContent,
    BulletinFiles,
    BulletinTable,
    ReportError,
    cell_flags,
    legend_items,
    published_frame,
)

__all__ = ["render_html", "write_bulletin", "screenshot", "find_chromium", "CHROMIUM_FLAGS", "FORMATS"]

#: Flags for headless Chromium on a machine without network or screen.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1", "--mute-audio",
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"

FONT_STACK = ('"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
              '"Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Micro Hei", "Helvetica Neue", '
              "Arial, sans-serif")

CSS = """
:root { --ink: #1d2733; --muted: #5a6878; --line: #d5dbe3; --accent: #1f4e79; --soft: #eef3f8; }
* { box-sizing: border-box; }
body { font-family: FONTS; color: var(--ink); margin: 0; background: #fff; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 0 24px 48px; }
header.masthead { background: var(--accent); color: #fff; padding: 28px 24px 22px; }
header.masthead div { max-width: 1100px; margin: 0 auto; }
header.masthead h1 { margin: 0 0 4px; font-size: 28px; font-weight: 700; }
header.masthead p { margin: 0; opacity: .9; }
h2 { font-size: 20px; border-bottom: 2px solid var(--accent); padding-bottom: 4px; margin: 36px 0 14px; }
h3 { font-size: 16px; margin: 22px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-left: 5px solid var(--accent); border-radius: 6px;
        padding: 12px 16px; background: var(--soft); }
.card h3 { margin: 0 0 6px; font-size: 15px; color: var(--muted); font-weight: 600; }
.card .value { font-size: 28px; font-weight: 700; margin: 0; }
.card .unit { font-size: 14px; font-weight: 400; color: var(--muted); margin-left: 4px; }
.card .ci, .card .growth { margin: 2px 0 0; font-size: 13px; color: var(--muted); }
.card .growth strong { font-size: 16px; }
.up { color: #2e75b6; } .down { color: #c55a11; }
figure.chart { margin: 10px 0 26px; }
figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; margin-bottom: 6px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px; }
table.data td { white-space: nowrap; }
table.data td.text { white-space: normal; min-width: 4em; }
table.data th { background: var(--soft); text-align: left; font-weight: 600; vertical-align: bottom;
        white-space: normal; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data td.num { white-space: nowrap; }
.table-wrap { overflow-x: auto; max-width: 100%; }
p.caption { font-size: 12px; color: var(--muted); margin: -4px 0 6px; }
section, figure, .cards, .card { min-width: 0; max-width: 100%; }
p, li, dd { overflow-wrap: anywhere; }
@media (max-width: 900px) {
  main { padding: 0 10px 32px; }
  table.data { font-size: 12px; }
  table.data th, table.data td { padding: 3px 4px; }
}
.flag { font-weight: 700; margin-left: 3px; }
.flag-x, .flag-F { color: #7f1d1d; } .flag-E { color: #9a6700; }
td.suppressed { background: #f3f3f3; }
.note { font-size: 13px; color: var(--muted); }
dl.legend { display: grid; grid-template-columns: 3em 1fr; gap: 4px 10px; font-size: 14px; }
dl.legend dt { font-weight: 700; text-align: center; } dl.legend dd { margin: 0; }
footer { font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); margin-top: 40px;
         padding-top: 10px; }
@media print { header.masthead { background: none; color: var(--ink); } .card { break-inside: avoid; } }
""".replace("FONTS", FONT_STACK)

#: Columns of an HTML table: an interval is one column ("158.81–162.34"); the SE is in the CSV
#: and Excel files (the CV says the same relative to the estimate).
_TABLE_SHOWN = ("estimate", "cv", "ci", "n")
_GROWTH_SHOWN = ("growth", "growth_ci")


def _e(text: object) -> str:
    return _html.escape(str(text), quote=True)


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _percent(value: float, *, signed: bool = False) -> str:
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _headline(content: BulletinContent) -> str:
    if not content.headline:
        return ""
    cards = []
    for i, h in enumerate(content.headline):
        unit = f'<span class="unit">{_e(h.unit)}</span>' if h.unit else ""
        ci = ""
        if _finite(h.ci_low) and _finite(h.ci_high):
            ci = (f'<p class="ci">{_e(content.label("interval"))}: '
                  f'<span class="number" data-field="ci_low" data-value="{h.ci_low!r}">'
                  f'{_number(h.ci_low, h.decimals)}</span> – '
                  f'<span class="number" data-field="ci_high" data-value="{h.ci_high!r}">'
                  f'{_number(h.ci_high, h.decimals)}</span></p>')
        if _finite(h.growth):
            trend = "up" if h.growth >= 0 else "down"
            interval = ""
            if _finite(h.growth_ci_low) and _finite(h.growth_ci_high):
                interval = (f' <span class="number" data-field="growth_ci_low" data-value="{h.growth_ci_low!r}">'
                            f'[{_percent(h.growth_ci_low, signed=True)}</span>, '
                            f'<span class="number" data-field="growth_ci_high" '
                            f'data-value="{h.growth_ci_high!r}">{_percent(h.growth_ci_high, signed=True)}]'
                            f'</span>')
            growth = (f'<p class="growth">{_e(content.label("growth_label"))}: '
                      f'<strong class="number {trend}" data-field="growth" data-value="{h.growth!r}">'
                      f'{_percent(h.growth, signed=True)}</strong>{interval}</p>')
        else:
            growth = f'<p class="growth">{_e(content.label("growth_label"))}: ..</p>'
        cards.append(
            f'<div class="card" id="headline-{i}" data-variable="{_e(h.variable)}">'
            f"<h3>{_e(h.label)}</h3>"
            f'<p class="value"><span class="number" data-field="estimate" data-value="{h.estimate!r}">'
            f"{_number(h.estimate, h.decimals)}</span>{unit}</p>{ci}{growth}</div>"
        )
    return (f'<section id="headline"><h2>{_e(content.label("headline"))}</h2>'
            f'<div class="cards">{"".join(cards)}</div></section>')


def _charts(content: BulletinContent) -> str:
    lang = content.language
    figures = []
    # estimates with a model part (take-none firms): the charts of those estimates say so
    modelled = any("method" in t.frame.columns for t in content.tables)
    for key, frame, draw in (("series", content.series, series_chart),
                             ("growth", content.growth, growth_chart),
                             ("parts", content.parts, parts_chart)):
        if frame is None or frame.empty:
            continue
        extra = {"unit": content.unit} if key == "series" else {}
        caption = content.label("chart_" + key)
        if modelled and key in ("series", "growth"):  # the parts chart shows the model part itself
            caption += ("；" if lang == "zh" else "; ") + content.label("chart_model")
        figures.append(f'<figure class="chart" id="chart-{key}">{draw(frame, language=lang, level=content.level, **extra)}'
                       f'<figcaption>{_e(caption)}</figcaption></figure>')
    if not figures:
        return ""
    return (f'<section id="charts" data-charts="{len(figures)}"><h2>{_e(content.label("charts"))}</h2>'
            f'{"".join(figures)}</section>')


def _cell(value: float, flag: str, column: str, decimals: int) -> str:
    """One numeric cell of an HTML table (value already blanked where hidden)."""
    if column == "estimate" and flag in ("x", "F"):
        return f'<td class="num suppressed"><span class="flag flag-{flag}">{flag}</span></td>'
    if not _finite(value):
        hidden = (flag == "x") or (flag == "F" and column in ("se", "ci_low", "ci_high"))
        return '<td class="num suppressed"></td>' if hidden else '<td class="num">..</td>'
    if column in ("cv",):
        text = f"{100 * value:.1f}"
    elif column.startswith("growth"):
        text = f"{100 * value:+.1f}"
    elif column == "n":
        text = f"{value:,.0f}"
    else:
        text = _number(value, decimals)
    if column == "estimate" and flag == "E":
        text += '<sup class="flag flag-E">E</sup>'
    return f'<td class="num">{text}</td>'


def _interval_cell(low: float, high: float, flag: str, *, percent: bool, decimals: int) -> str:
    """An interval as one cell: ``low–high`` (growth: signed percentages)."""
    if not (_finite(low) and _finite(high)):
        hidden = flag == "x" or (flag == "F" and not percent)
        return '<td class="num suppressed"></td>' if hidden else '<td class="num">..</td>'
    if percent:
        return f'<td class="num">{100 * low:+.1f} – {100 * high:+.1f}</td>'
    return f'<td class="num">{_number(low, decimals)} – {_number(high, decimals)}</td>'


def _headers(table: BulletinTable, content: BulletinContent) -> list[str]:
    """Header texts of the text columns: a code column next to its name column is headed
    "… code" (never two columns with the same header)."""
    columns = (*table.breakdown, "variable")
    out = []
    for c in columns:
        text = content.label(c)
        if f"{c}_name" in columns:
            what = text if content.language == "zh" else text
            text = content.label("code_of").format(what=what)
        out.append(text)
    return out


def _table(table: BulletinTable, content: BulletinContent) -> str:
    frame = published_frame(table, cv_caution=content.cv_caution, cv_unreliable=content.cv_unreliable)
    numeric = list(_TABLE_SHOWN) + (list(_GROWTH_SHOWN) if table.has_growth else [])
    head = "".join(f"<th>{_e(h)}</th>" for h in _headers(table, content))
    head += "".join(f'<th class="num">{_e(content.label(c))}</th>' for c in numeric)
    flags = frame["flag"].tolist()
    columns = {c: frame[c].to_numpy(dtype=float) for c in
               ("estimate", "cv", "ci_low", "ci_high", "n", *GROWTH_COLUMNS) if c in frame.columns}
    texts = {c: frame[c].tolist() for c in (*table.breakdown, "variable")}
    rows = []
    for i in range(len(frame)):
        cells = "".join(f'<td class="text">{_e(content.label(texts[c][i])) if not pd.isna(texts[c][i]) else ".."}</td>'
                        for c in (*table.breakdown, "variable"))
        for c in numeric:
            if c == "ci":
                cells += _interval_cell(columns["ci_low"][i], columns["ci_high"][i], flags[i],
                                        percent=False, decimals=table.decimals)
            elif c == "growth_ci":
                cells += _interval_cell(columns["growth_ci_low"][i], columns["growth_ci_high"][i],
                                        flags[i], percent=True, decimals=table.decimals)
            else:
                cells += _cell(columns[c][i], flags[i], c, table.decimals)
        rows.append(f'<tr data-flag="{flags[i]}">{cells}</tr>')
    caption = (f'<p class="caption">{_e(content.label("unit_caption").format(unit=table.unit))}</p>'
               if table.unit else "")
    return (f'<section class="table" id="table-{_e(table.name)}"><h3>{_e(table.title)}</h3>{caption}'
            f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></section>')


def _targets(content: BulletinContent) -> str:
    """Progress to targets: a small table and a chart."""
    t = content.targets
    if t is None or t.empty:
        return ""
    head = "".join(f'<th{" class=num" if i > 1 else ""}>{_e(content.label(c))}</th>' for i, c in enumerate(
        ("domain", "variable", "target_year", "target", "estimate", "ci", "needed", "needed_ci",
         "achieved", "achieved_ci")))
    rows = []
    for r in t.itertuples(index=False):
        d = 2 if abs(r.target) < 1e4 else 0
        rows.append(
            f'<tr><td class="text">{_e(r.domain)}</td><td class="text">{_e(content.label(r.variable))}</td>'
            f'<td class="num">{int(r.year)}</td><td class="num">{_number(r.target, d)}</td>'
            f'<td class="num">{_number(r.estimate, d)}</td>'
            f'{_interval_cell(r.ci_low, r.ci_high, "", percent=False, decimals=d)}'
            f'{_cell(r.needed, "", "growth", d)}'
            f'{_interval_cell(r.needed_ci_low, r.needed_ci_high, "", percent=True, decimals=d)}'
            f'{_cell(r.growth, "", "growth", d)}'
            f'{_interval_cell(r.growth_ci_low, r.growth_ci_high, "", percent=True, decimals=d)}</tr>')
    caption = (f'<p class="caption">{_e(content.label("unit_caption").format(unit=content.unit))}</p>'
               if content.unit else "")
    chart = targets_chart(t, language=content.language, level=content.level)
    return (f'<section id="targets"><h2>{_e(content.label("targets"))}</h2>{caption}'
            f'<div class="table-wrap"><table class="data" id="table-targets"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>'
            f'<figure class="chart" id="chart-targets">{chart}'
            f'<figcaption>{_e(content.label("chart_targets"))}</figcaption></figure></section>')


def _flag_counts(content: BulletinContent) -> dict[str, int]:
    counts = {"x": 0, "F": 0, "E": 0}
    for table in content.tables:
        flags = cell_flags(table, cv_caution=content.cv_caution, cv_unreliable=content.cv_unreliable)
        for key in counts:
            counts[key] += int(np.sum(flags == key))
    return counts


def _quality_value(value: object, unit: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if _finite(value) and not isinstance(value, str):
        v = float(value)
        if isinstance(unit, str) and unit == "%":
            return f"{100 * v:.1f}%"
        text = f"{v:,.0f}" if v.is_integer() else f"{v:,.3f}".rstrip("0").rstrip(".")
    else:
        text = ".." if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if isinstance(unit, str) and unit and unit != "%":
        text += f" {unit}"
    return text


def _quality(content: BulletinContent) -> str:
    rows = []
    if content.quality is not None:
        units = content.quality["unit"] if "unit" in content.quality.columns else [None] * len(content.quality)
        for indicator, value, unit in zip(content.quality["indicator"], content.quality["value"], units, strict=True):
            rows.append(f'<tr><td class="text">{_e(content.label(indicator))}</td>'
                        f'<td class="num">{_e(_quality_value(value, unit))}</td></tr>')
    if content.tables:
        counts = _flag_counts(content)
        rows.append(f'<tr id="flag-counts" data-x="{counts["x"]}" data-f="{counts["F"]}" '
                    f'data-e="{counts["E"]}"><td class="text">{_e(content.label("flag_counts"))}</td>'
                    f'<td class="num">{_e(content.label("flag_counts_value").format(**counts))}</td></tr>')
    if not rows:
        return ""
    return (f'<section id="quality"><h2>{_e(content.label("quality"))}</h2><div class="table-wrap"><table class="data">'
            f'<thead><tr><th>{_e(content.label("indicator"))}</th><th class="num">{_e(content.label("value"))}'
            f'</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def _text_sections(content: BulletinContent) -> str:
    out = []
    if content.tables:
        tables = "".join(_table(t, content) for t in content.tables)
        out.append(f'<section id="tables"><h2>{_e(content.label("tables"))}</h2>{tables}</section>')
    out.append(_targets(content))
    out.append(extra_sections(content))
    out.append(_quality(content))
    if content.methods_note.strip():
        paragraphs = "".join(f"<p>{_e(p.strip())}</p>" for p in content.methods_note.split("\n\n") if p.strip())
        out.append(f'<section id="methods"><h2>{_e(content.label("methods"))}</h2>{paragraphs}</section>')
    if content.notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in content.notes)
        out.append(f'<section id="notes"><h2>{_e(content.label("notes"))}</h2><ol class="note">{items}</ol></section>')
    legend = "".join(f"<dt>{_e(s)}</dt><dd>{_e(m)}</dd>" for s, m in legend_items(content))
    out.append(f'<section id="legend"><h2>{_e(content.label("legend"))}</h2><dl class="legend">{legend}</dl></section>')
    return "".join(out)


def render_html(content: BulletinContent) -> str:
    """The bulletin as one self-contained HTML document.

    Parameters
    ----------
    content : BulletinContent

    Returns
    -------
    str
        The HTML text: inline CSS, inline SVG charts, no URL, no script.

    Examples
    --------
    >>> from survey.publish.report import BulletinContent, Headline
    >>> page = render_html(BulletinContent(title="季度统计公报", period="2006Q4", language="zh",
    ...     headline=[Headline(label="工业总产值", variable="gross_output", estimate=145.0,
    ...                        ci_low=140.0, ci_high=150.0, growth=0.32, unit="亿元")]))
    >>> "145.0" in page and "+32.0%" in page and "http:" not in page
    True
    """
    if not isinstance(content, BulletinContent):
        raise ReportError(f"render_html needs a BulletinContent, got {type(content).__name__}.")
    lang = content.language
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(content.title)} {_e(content.period)}</title><style>{CSS}</style></head>\n"
        f'<body><header class="masthead"><div><h1>{_e(content.title)}</h1>'
        f'<p>{_e(content.label("period"))}: <span id="period">{_e(content.period)}</span></p></div></header>\n'
        f"<main>{_headline(content)}{_charts(content)}{_text_sections(content)}"
        f'<footer>{_e(content.label("generated_by"))}</footer></main></body></html>\n'
    )


#: The files :func:`write_bulletin` can write.
FORMATS = ("html", "xlsx", "csv")


def write_bulletin(content: BulletinContent, output_dir: str | Path, *,
                   formats: Sequence[str] = FORMATS) -> BulletinFiles:
    """Write the bulletin: ``bulletin.html``, ``bulletin.xlsx`` and one CSV per table.

    Parameters
    ----------
    content : BulletinContent
        What to show.
    output_dir : str or pathlib.Path
        Folder to write into (created if needed); existing files of the same
        names are replaced.
    formats : sequence of {"html", "xlsx", "csv"}, default=("html", "xlsx", "csv")
        The files to write; nothing else is written.

    Returns
    -------
    BulletinFiles
        Paths of the HTML file, the workbook (``None`` when not written) and
        the CSV files (by name: each table's name, and ``headline``,
        ``series``, ``growth``, ``parts``, ``quality`` when given). CSV
        files are UTF-8 with a BOM (Excel opens them with Chinese labels
        intact); suppressed and too unreliable values are empty, with a
        ``flag`` column. The workbook is reproducible (same content, same
        bytes: :func:`survey.publish.report.excel.workbook_timestamp`).

    Examples
    --------
    >>> import tempfile
    >>> from survey.publish.report import BulletinContent
    >>> files = write_bulletin(BulletinContent(title="B", period="2006Q4"), tempfile.mkdtemp())
    >>> files.html.name, files.excel.name, files.csv
    ('bulletin.html', 'bulletin.xlsx', {})
    >>> files = write_bulletin(BulletinContent(title="B", period="2006Q4"), tempfile.mkdtemp(),
    ...                        formats=["html"])
    >>> files.excel is None
    True
    """
    from survey.publish.report.excel import headline_frame, write_workbook

    if not isinstance(content, BulletinContent):
        raise ReportError(f"write_bulletin needs a BulletinContent, got {type(content).__name__}.")
    formats = [formats] if isinstance(formats, str) else list(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ReportError(f"formats={formats!r}: give one or more of {list(FORMATS)}.")
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the output folder {folder}: {exc}; choose a writable folder.") from exc
    html_path = excel_path = None
    if "html" in formats:
        html_path = folder / "bulletin.html"
        html_path.write_text(render_html(content), encoding="utf-8")
    if "xlsx" in formats:
        excel_path = write_workbook(content, folder / "bulletin.xlsx")
    csv = {}
    if "csv" in formats:
        frames: dict[str, pd.DataFrame] = {}
        if content.headline:
            frames["headline"] = headline_frame(content)
        for table in content.tables:
            frames[table.name] = published_frame(table, cv_caution=content.cv_caution,
                                                 cv_unreliable=content.cv_unreliable)
        for key in ("series", "growth", "parts", "quality", "targets", "case_studies", "revisions"):
            frame = getattr(content, key)
            if frame is not None:
                frames[key] = _quality_csv(frame) if key == "quality" else frame
        for key, frame in frames.items():
            path = folder / f"{key}.csv"
            protect_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
            csv[key] = path
    return BulletinFiles(html=html_path, excel=excel_path, csv=csv)


def _quality_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """The quality indicators as written to CSV: percentages in % (one decimal) where the
    unit is "%", counts as integers."""
    if "unit" not in frame.columns:
        return frame
    values = []
    for value, unit in zip(frame["value"].tolist(), frame["unit"].tolist(), strict=True):
        if _finite(value) and not isinstance(value, (bool, np.bool_, str)):
            v = float(value)
            values.append(round(100 * v, 1) if unit == "%" else int(v) if v.is_integer() else v)
        else:
            values.append(value)
    return frame.assign(value=pd.array(values, dtype=object))


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable on PATH, or None.

    Examples
    --------
    >>> path = find_chromium()
    >>> path is None or path.endswith(("chromium", "chromium-browser", "chrome", "google-chrome"))
    True
    """
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1200, height: int = 2400,
               timeout: float = 60.0) -> Path:
    """Take a screenshot of an HTML file with headless Chromium (no network, fresh profile).

    Parameters
    ----------
    html_path : str or pathlib.Path
        The page to open.
    png_path : str or pathlib.Path
        Where to write the PNG.
    width, height : int, default=1200, 2400
        Window size in CSS pixels (the screenshot shows the top ``height`` pixels).
    timeout : float, default=60.0
        Seconds before giving up.

    Returns
    -------
    pathlib.Path
        ``png_path``.

    Examples
    --------
    >>> screenshot("bulletin.html", "bulletin.png")  # doctest: +SKIP
    PosixPath('bulletin.png')
    """
    chromium = find_chromium()
    if chromium is None:
        raise ReportError("Chromium is not installed (Debian: `apt-get install chromium`); "
                          "it is needed only for screenshots.")
    html_path, png_path = Path(html_path).resolve(), Path(png_path).resolve()
    if not html_path.is_file():
        raise ReportError(f"no HTML file at {html_path}; write the bulletin first.")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="survey-chromium-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={int(width)},{int(height)}", f"--screenshot={png_path}",
                   html_path.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ReportError(f"Chromium took more than {timeout} s to render {html_path}.") from exc
    if not png_path.is_file():
        raise ReportError(f"Chromium wrote no screenshot of {html_path} (exit code "
                          f"{done.returncode}): {done.stderr[-500:]}")
    return png_path
