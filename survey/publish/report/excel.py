"""The bulletin's tables as an Excel workbook (openpyxl).

Layout of every table sheet: the title in row 1, the period in row 2, the
column headers in row :data:`HEADER_ROW`, data from the row below, in the
column order of the table's CSV file (:func:`survey.publish.report.published_frame`).
Suppressed cells hold the symbol ``x``, too unreliable cells ``F`` (grey
fill); cells to use with caution keep their number, flagged ``E`` in the
``flag`` column (yellow fill). A ``Legend`` sheet explains the symbols and
holds the methods note.
"""

from __future__ import annotations

import datetime
import functools
import io
import math
import os
import re
import zipfile
from pathlib import Path

import pandas as pd

from survey.io import protect_workbook
from survey.publish.report.content import (
    HIDDEN,
    BulletinContent,
    BulletinTable,
    ReportError,
    legend_items,
    published_frame,
)

__all__ = ["write_workbook", "workbook_timestamp", "headline_frame", "sheet_names", "HEADER_ROW"]

HEADER_ROW = 3
_GREY, _YELLOW, _HEAD = "E7E6E6", "FFF2CC", "DDEBF7"
_HEADLINE_COLUMNS = ("label", "variable", "estimate", "ci_low", "ci_high", "growth", "growth_ci_low",
                     "growth_ci_high", "unit")


def headline_frame(content: BulletinContent) -> pd.DataFrame:
    """The headline figures as a table (the content of ``headline.csv``).

    Examples
    --------
    >>> from survey.publish.report import BulletinContent, Headline
    >>> c = BulletinContent(title="B", period="2006Q4", headline=[Headline(label="Output",
    ...     variable="gross_output", estimate=10.0, ci_low=9.0, ci_high=11.0, growth=0.1)])
    >>> headline_frame(c)[["variable", "estimate", "growth"]]
           variable  estimate  growth
    0  gross_output      10.0     0.1
    """
    return pd.DataFrame([{c: getattr(h, c) for c in _HEADLINE_COLUMNS} for h in content.headline],
                        columns=list(_HEADLINE_COLUMNS))


_COUNTS = ("n", "df", "year")
_PERCENT = ("cv", "growth", "growth_ci_low", "growth_ci_high", "growth_se", "needed", "needed_ci_low",
            "needed_ci_high", "relative_change")


def _format(column: str, decimals: int, unit: str = "") -> str:
    """Excel number format of a column: % with one decimal for CV and growth, integers for
    counts, thousands separators for money (the estimate's format names the unit)."""
    if column in _PERCENT:
        return "0.0%"
    if column == "n":
        return "#,##0"
    if column in ("df", "year"):
        return "0"
    money = "#,##0" + ("." + "0" * decimals if decimals else "")
    return money + (f'" {unit}"' if unit and column in ("estimate", "target") else "")


def sheet_names(content: BulletinContent) -> dict[str, str]:
    """Sheet names of the workbook in the bulletin's language, by part (table name, ``headline``,
    ``series``...): at most 31 characters, unique.

    Examples
    --------
    >>> from survey.publish.report import example_content
    >>> sheet_names(example_content("zh"))["county"], sheet_names(example_content("en"))["headline"]
    ('按县（市、区）分', 'Headline figures')
    """
    zh = content.language == "zh"
    fixed = {"headline": content.label("headline"), "series": "分季度估计" if zh else "Series",
             "growth": "分组增长" if zh else "Growth", "parts": "估计值构成" if zh else "Parts",
             "quality": content.label("quality"), "targets": content.label("targets"),
             "legend": content.label("legend"), "ytd": "累计" if zh else "Year to date",
             "case_studies": "典型调查" if zh else "Case studies",
             "revisions": "修订" if zh else "Revisions",
             "sector": "全行业" if zh else "Sector"}
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in ["headline", *(t.name for t in content.tables), "series", "growth", "parts",
                "quality", "targets", "case_studies", "revisions", "legend"]:
        if key in fixed:
            name = fixed[key]
        else:
            ytd = key.startswith("ytd_")
            what = content.label(key[4:] if ytd else key)
            name = (f"按{what}分" + ("（累计）" if ytd else "")) if zh else (
                f"By {what.lower()}" + (" (YTD)" if ytd else ""))
        name = re.sub(r"[\[\]:*?/\\]", " ", name)[:31]
        while name in used:
            name = name[:29] + f"_{len(used)}"
        used.add(name)
        out[key] = name
    return out


def _width(ws, widths: dict[int, float]) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in widths.items():
        ws.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 48)


@functools.lru_cache(maxsize=4096)  # the same labels come back in every row
def _text_width(text: str) -> float:
    return sum(2.0 if ord(ch) > 0x2E80 else 1.1 for ch in text) + 2


def _frame_sheet(wb, name: str, title: str, content: BulletinContent, frame: pd.DataFrame, *,
                 decimals: int = 1, flags=None, hidden=None, numeric=(), unit: str = ""):
    """Write ``frame`` to a new sheet with the common layout."""
    from openpyxl.cell import Cell
    from openpyxl.styles import Alignment, Font, PatternFill

    ws = wb.create_sheet(name)
    ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=13)
    second = f"{content.label('period')}: {content.period}"
    if unit:
        second += ("；" if content.language == "zh" else "; ") + content.label("unit_caption").format(unit=unit)
    ws.cell(row=2, column=1, value=second)
    # one style object each, shared by the cells (openpyxl stores each style once anyway)
    bold, head = Font(bold=True), PatternFill("solid", fgColor=_HEAD)
    wrap = Alignment(wrap_text=True, vertical="bottom")
    right, center = Alignment(horizontal="right"), Alignment(horizontal="center")
    grey = PatternFill("solid", fgColor=_GREY)
    yellow = PatternFill("solid", fgColor=_YELLOW)
    formats = {c: _format(c, decimals, unit) for c in numeric}
    columns = list(frame.columns)
    widths = {}
    for j, column in enumerate(columns, start=1):
        text = content.label(column)
        if f"{column}_name" in columns:  # a code next to its name: never two equal headers
            text = content.label("code_of").format(what=text)
        cell = ws.cell(row=HEADER_ROW, column=j, value=text)
        cell.font, cell.fill, cell.alignment = bold, head, wrap
        widths[j] = _text_width(text) * 0.8
    is_numeric = [column in numeric for column in columns]
    shown: dict = {}  # the text of a value of a text column, made once (the same codes repeat)
    for i, values in enumerate(zip(*(frame[c].tolist() for c in columns))):
        flag = flags[i] if flags is not None else ""
        blank = hidden.get(flag, ()) if hidden is not None else ()
        row = []
        for j, (column, value, number) in enumerate(zip(columns, values, is_numeric, strict=True), start=1):
            cell = Cell(ws)  # placed by ws.append below: cheaper than ws.cell(row, column)
            if number:
                if isinstance(value, float) and math.isinf(value):  # df of a normal interval
                    cell.value = "∞" if value > 0 else "-∞"
                    cell.alignment = right
                elif value is not None and not (isinstance(value, float) and math.isnan(value)):
                    cell.value = int(value) if column in _COUNTS else float(value)
                    cell.number_format = formats[column]
                elif column == "estimate" and flag in ("x", "F"):
                    cell.value = flag
                    cell.alignment = right
                elif column in blank:
                    pass  # hidden: an empty cell
                else:
                    cell.value = ".."
                    cell.alignment = right
                if flag in ("x", "F") and column in blank:
                    cell.fill = grey
                elif flag == "E" and column == "estimate":
                    cell.fill = yellow
            else:
                key = (column in ("flag", "unit"), value)
                text = shown.get(key) if isinstance(value, str) else None
                if text is None:
                    text = ".." if value is None or (isinstance(value, float) and math.isnan(value)) else value
                    if not key[0]:
                        text = content.label(text)  # codes ("bureau", "gross_output") in the reader's language
                    text = text if isinstance(text, (int, float, str)) else str(text)
                    if isinstance(value, str):
                        shown[key] = text
                cell.value = text
                if column == "flag" and flag:
                    cell.font = bold
                    cell.alignment = center
                widths[j] = max(widths[j], _text_width(str(cell.value)))
            row.append(cell)
        ws.append(row)
    for j, number in enumerate(is_numeric, start=1):
        if number and len(frame):
            widths[j] = max(widths[j], 14)
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)
    _width(ws, widths)
    return ws


def _section_sheets(wb, sheets: dict[str, str], content: BulletinContent) -> None:
    """The case studies (典型调查) and revisions sheets, as in the HTML sections: the table
    as given (numbers at full precision), its lead sentence (and the revisions note) below."""
    from openpyxl.styles import Font

    from survey.publish.report.sections import SECTION_TITLES, readable

    words = SECTION_TITLES.get(content.language, SECTION_TITLES["en"])
    for key, notes in (("case_studies", [words["case_studies_lead"]]),
                       ("revisions", [words["revisions_lead"], content.revisions_note])):
        frame = getattr(content, key)
        if frame is None or not len(frame):
            continue
        numeric = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)]
        frame = readable(frame, content)
        ws = _frame_sheet(wb, sheets[key], words[key], content, frame, decimals=2,
                          numeric=numeric, unit=content.unit)
        row = HEADER_ROW + len(frame) + 2
        for text in filter(None, notes):
            ws.cell(row=row, column=1, value=text).font = Font(italic=True, size=9)
            row += 1


def workbook_timestamp(period: str) -> datetime.datetime:
    """The date stamped into a bulletin workbook, so that the same bulletin gives the same bytes.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
    convention) when it is set; else midnight of the last day of the period
    (a quarter label); else 1980-01-01 (the earliest date a zip file holds).

    Examples
    --------
    >>> workbook_timestamp("2006Q4"), workbook_timestamp("2006")  # SOURCE_DATE_EPOCH unset
    (datetime.datetime(2006, 12, 31, 0, 0), datetime.datetime(1980, 1, 1, 0, 0))
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            stamp = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
        except (ValueError, OverflowError, OSError) as exc:
            raise ReportError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since "
                              "1970") from exc
        return max(stamp.replace(tzinfo=None), datetime.datetime(1980, 1, 1))
    match = re.fullmatch(r"(\d{4})Q([1-4])", str(period))
    if match is None:
        return datetime.datetime(1980, 1, 1)
    year, quarter = int(match.group(1)), int(match.group(2))
    if quarter == 4:
        return datetime.datetime(year, 12, 31)
    return datetime.datetime(year, 3 * quarter + 1, 1) - datetime.timedelta(days=1)


def _deterministic(data: bytes, stamp: datetime.datetime) -> bytes:
    """The xlsx (zip) ``data`` with every entry dated ``stamp`` and the document's
    modification date set to it (openpyxl writes the time of saving into both)."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            body = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + iso + rb"\g<2>", body)
            info = zipfile.ZipInfo(entry.filename, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, body)
    return out.getvalue()


def write_workbook(content: BulletinContent, path: str | Path, *,
                   timestamp: datetime.datetime | None = None) -> Path:
    """Write the Excel workbook of the bulletin.

    Sheets (named in the bulletin's language, :func:`sheet_names`): the
    headline figures (when given), one per table, the series, growth, parts,
    quality indicators, targets, case studies of the typical units (典型调查) and
    revisions (when given) and the legend of symbols. Numbers are stored at full precision with
    number formats (thousands separators; CV and growth as percentages).
    The file is reproducible: the same content gives the same bytes (the
    document and its zip entries are dated :func:`workbook_timestamp`).

    Parameters
    ----------
    content : BulletinContent
    path : str or pathlib.Path
        The ``.xlsx`` file to write.
    timestamp : datetime.datetime or None, default=None
        Creation and modification date stored in the file (default:
        :func:`workbook_timestamp` of the period).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> from pathlib import Path
    >>> from survey.publish.report import BulletinContent
    >>> p = write_workbook(BulletinContent(title="B", period="2006Q4"), Path(tempfile.mkdtemp()) / "b.xlsx")
    >>> openpyxl.load_workbook(p).sheetnames
    ['Symbols']
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    if not isinstance(content, BulletinContent):
        raise ReportError(f"write_workbook needs a BulletinContent, got {type(content).__name__}.")
    stamp = timestamp if timestamp is not None else workbook_timestamp(content.period)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = f"{content.title} {content.period}"
    wb.properties.created = stamp
    sheets = sheet_names(content)
    if content.headline:
        units = {h.unit for h in content.headline}
        _frame_sheet(wb, sheets["headline"], content.label("headline"), content, headline_frame(content),
                     decimals=max(h.decimals for h in content.headline),
                     numeric=("estimate", "ci_low", "ci_high", "growth", "growth_ci_low", "growth_ci_high"),
                     unit=units.pop() if len(units) == 1 else "")
    table: BulletinTable
    for table in content.tables:
        frame = published_frame(table, cv_caution=content.cv_caution, cv_unreliable=content.cv_unreliable)
        numeric = [c for c in frame.columns if c not in (*table.breakdown, "variable", "flag", "unit")]
        ws = _frame_sheet(wb, sheets[table.name], table.title, content, frame, decimals=table.decimals,
                          flags=frame["flag"].tolist(), hidden=HIDDEN,
                          numeric=numeric, unit=table.unit)
        row = HEADER_ROW + len(frame) + 2
        for symbol, meaning in legend_items(content):
            ws.cell(row=row, column=1, value=f"{symbol}  {meaning}").font = Font(italic=True, size=9)
            row += 1
    target_numbers = ("year", "target", "estimate", "ci_low", "ci_high", "needed", "needed_ci_low",
                      "needed_ci_high", "growth", "growth_ci_low", "growth_ci_high")
    for key, numeric in (("series", ("estimate", "ci_low", "ci_high")),
                         ("growth", ("growth", "growth_ci_low", "growth_ci_high")),
                         ("parts", ("estimate",)),
                         ("quality", ()),
                         ("targets", target_numbers)):
        frame = getattr(content, key)
        if frame is not None:
            title = content.label("chart_" + key) if key not in ("quality", "targets") else content.label(key)
            if key == "quality" and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                        for v in frame["value"].tolist()):
                numeric = ("value",)
            money = key in ("series", "parts", "targets")
            ws = _frame_sheet(wb, sheets[key], title, content, frame, numeric=numeric,
                              decimals=2 if money else 3, unit=content.unit if money else "")
            if key == "quality" and "unit" in frame.columns and numeric:
                column = list(frame.columns).index("value") + 1
                for i, unit in enumerate(frame["unit"].tolist()):
                    cell = ws.cell(row=HEADER_ROW + 1 + i, column=column)
                    if isinstance(cell.value, (int, float)):
                        if unit != "%" and float(cell.value).is_integer():
                            cell.value = int(cell.value)  # a count
                        cell.number_format = ("0.0%" if unit == "%" else
                                              "#,##0" if float(cell.value).is_integer() else "#,##0.###")
    _section_sheets(wb, sheets, content)
    ws = wb.create_sheet(sheets["legend"])
    ws.cell(row=1, column=1, value=content.label("legend")).font = Font(bold=True, size=13)
    ws.cell(row=HEADER_ROW, column=1, value=content.label("symbol")).font = Font(bold=True)
    ws.cell(row=HEADER_ROW, column=2, value=content.label("meaning")).font = Font(bold=True)
    row = HEADER_ROW + 1
    for symbol, meaning in legend_items(content):
        ws.cell(row=row, column=1, value=symbol).alignment = Alignment(horizontal="center")
        ws.cell(row=row, column=2, value=meaning)
        row += 1
    for heading, texts in ((content.label("methods"), [p.strip() for p in content.methods_note.split("\n\n")
                                                      if p.strip()]),
                           (content.label("notes"), list(content.notes))):
        if texts:
            row += 1
            ws.cell(row=row, column=1, value=heading).font = Font(bold=True)
            for text in texts:
                row += 1
                cell = ws.cell(row=row, column=2, value=text)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 10
    ws.column_dimensions["B"].width = 100
    path = Path(path)
    buffer = io.BytesIO()
    protect_workbook(wb)  # a label starting with "=" stays text, never a formula
    wb.save(buffer)
    try:
        path.write_bytes(_deterministic(buffer.getvalue(), stamp))
    except OSError as exc:
        raise ReportError(f"cannot write the workbook {path}: {exc}; close it in Excel or choose "
                          "another folder.") from exc
    return path
