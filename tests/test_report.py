"""Tests of the quarterly bulletin renderer (survey.publish.report).

The renderer computes no statistics, so the checks are that what it is given
comes out unchanged (headline numbers in the rendered page, Excel equal to
CSV), that hidden values are really hidden, that the page needs no network,
that every chart is drawn and that Chinese text has glyphs.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from survey.errors import ColumnError, SurveyError, SurveyWarning
from survey.publish.report import (
    BulletinContent,
    BulletinTable,
    Headline,
    ReportError,
    cell_flags,
    example_content,
    published_frame,
    render_html,
    screenshot,
    write_bulletin,
)
from survey.publish.report import charts as charts_module
from survey.publish.report.excel import HEADER_ROW, sheet_names
from survey.publish.report.html import CHROMIUM_FLAGS, find_chromium

SECRET = 9876.54321  # the estimate of the suppressed cell: must appear in no output


def county_frame() -> pd.DataFrame:
    est = np.array([120.5, SECRET, 40.25, 10.0, 12.0])
    cv = np.array([0.05, 0.08, 0.15, 0.2, 0.45])  # 0.15 exactly is not flagged (CV > 15%)
    se = est * cv
    return pd.DataFrame({
        "county": ["博白县", "荔浦县", "宾阳县", "陆川县", "其他"],
        "variable": "gross_output",
        "estimate": est, "se": se, "cv": cv, "ci_low": est - 2 * se, "ci_high": est + 2 * se,
        "df": 40, "n": [30, 2, 12, 6, 3],
        "growth": [0.1, 0.2, -0.05, 0.0, 0.3], "growth_se": 0.02,
        "growth_ci_low": [0.06, 0.16, -0.09, -0.04, 0.26], "growth_ci_high": [0.14, 0.24, -0.01, 0.04, 0.34],
        "suppressed": [False, True, False, False, False],
    })


def make_content(language: str = "zh") -> BulletinContent:
    zh = language == "zh"
    headline = [
        Headline(label="工业总产值" if zh else "Gross output", variable="gross_output", estimate=14532.25,
                 ci_low=13987.5, ci_high=15077.0, growth=0.3214, growth_ci_low=0.2811,
                 growth_ci_high=0.3617, unit="百万元" if zh else "million yuan"),
        Headline(label="出口交货值" if zh else "Export delivery", variable="export_delivery",
                 estimate=3210.0, ci_low=3020.0, ci_high=3400.0, growth=-0.0425, growth_ci_low=-0.08,
                 growth_ci_high=-0.005, unit="百万元" if zh else "million yuan", decimals=0),
    ]
    channel = pd.DataFrame({
        "channel": ["bureau", "federation"], "variable": "export_delivery", "estimate": [3000.0, 210.0],
        "se": [30.0, 21.0], "cv": [0.01, 0.1], "ci_low": [2940.0, 168.0], "ci_high": [3060.0, 252.0],
        "df": 40, "n": [100, 50],
    })
    periods = ["2006Q1", "2006Q2", "2006Q3"]
    series = pd.DataFrame({"period": periods * 2, "variable": ["gross_output"] * 3 + ["export_delivery"] * 3,
                           "estimate": [30.0, 35.0, 40.0, 7.0, 8.0, 8.5],
                           "ci_low": [28.0, 33.0, 37.0, 6.5, 7.4, 7.9],
                           "ci_high": [32.0, 37.0, 43.0, 7.5, 8.6, 9.1]})
    growth = pd.DataFrame({"domain": ["博白县", "陆川县"], "variable": "gross_output", "growth": [0.1, -0.05],
                           "growth_ci_low": [0.05, -0.1], "growth_ci_high": [0.15, 0.0]})
    parts = pd.DataFrame({"period": np.repeat(periods, 3), "part": ["take-all", "sampled", "model"] * 3,
                          "variable": "gross_output", "estimate": [20.0, 8.0, 2.0, 24, 9, 2, 27, 10, 3]})
    quality = pd.DataFrame({"indicator": ["response_rate", "imputed_share", "sample_size"],
                            "value": [0.912, 0.043, 1240], "unit": ["%", "%", ""]})
    return BulletinContent(
        title="季度统计公报" if zh else "Quarterly bulletin", period="2006Q3", language=language,
        headline=headline,
        tables=[BulletinTable(name="county", title="按县分", frame=county_frame()),
                BulletinTable(name="channel", title="按渠道分", frame=channel, decimals=2)],
        series=series, growth=growth, parts=parts, quality=quality,
        methods_note="规模以上企业全面调查。\n\n规模以下企业分层抽样。", notes=["示例数据。"],
    )


@pytest.fixture(scope="module")
def content() -> BulletinContent:
    return make_content("zh")


@pytest.fixture(scope="module")
def files(content, tmp_path_factory):
    return write_bulletin(content, tmp_path_factory.mktemp("bulletin"))


# --------------------------------------------------------------------------- content and flags
def test_flags_follow_cv_thresholds_and_suppression(content):
    table = content.tables[0]
    assert cell_flags(table).tolist() == ["", "x", "", "E", "F"]
    assert cell_flags(table, cv_caution=0.1, cv_unreliable=0.5).tolist() == ["", "x", "E", "E", "E"]


def test_published_frame_hides_suppressed_and_unreliable_values(content):
    frame = published_frame(content.tables[0])
    assert "suppressed" not in frame.columns and frame["flag"].tolist() == ["", "x", "", "E", "F"]
    x, f = frame.iloc[1], frame.iloc[4]
    for column in ("estimate", "se", "cv", "ci_low", "ci_high", "growth", "growth_se", "growth_ci_low",
                   "growth_ci_high"):
        assert math.isnan(x[column]), column
    for column in ("estimate", "se", "ci_low", "ci_high"):
        assert math.isnan(f[column]), column
    assert f["cv"] == 0.45 and f["growth"] == 0.3 and f["n"] == 3
    # published cells keep their exact values
    original = county_frame()
    for i in (0, 2, 3):
        for column in ("estimate", "se", "cv", "ci_low", "ci_high", "growth"):
            assert frame.loc[i, column] == original.loc[i, column]


def test_inputs_are_not_modified(tmp_path):
    frame = county_frame()
    before = frame.copy()
    content = BulletinContent(title="t", period="2006Q3",
                              tables=[BulletinTable(name="county", title="t", frame=frame)])
    write_bulletin(content, tmp_path)
    pd.testing.assert_frame_equal(frame, before)


def test_errors_name_what_is_wrong():
    frame = county_frame()
    with pytest.raises(ColumnError, match=r"lacks column\(s\) \['se'\]"):
        BulletinTable(name="t", title="t", frame=frame.drop(columns="se"))
    with pytest.raises(ColumnError, match="'take_all'"):
        BulletinTable(name="t", title="t", frame=frame.assign(take_all=1.0))
    with pytest.raises(ReportError, match="row 2"):
        BulletinTable(name="t", title="t", frame=frame.assign(ci_high=frame["estimate"] - 1.0 * (frame.index == 2)
                                                              + 1e-3 * (frame.index != 2)))
    with pytest.raises(ColumnError, match="boolean"):
        BulletinTable(name="t", title="t", frame=frame.assign(suppressed=1))
    with pytest.raises(ReportError, match="letters, digits"):
        BulletinTable(name="by county", title="t", frame=frame)
    table = BulletinTable(name="t", title="t", frame=frame)
    with pytest.raises(ReportError, match="repeated or reserved"):
        BulletinContent(title="t", period="p", tables=[table, table])
    with pytest.raises(ReportError, match="language='fr'"):
        BulletinContent(title="t", period="p", language="fr")
    with pytest.raises(ReportError, match=r"unknown part\(s\) \['survey'\]"):
        BulletinContent(title="t", period="p", parts=pd.DataFrame(
            {"period": ["q"], "part": ["survey"], "variable": ["y"], "estimate": [1.0]}))
    with pytest.raises(ReportError, match="does not contain the estimate"):
        Headline(label="h", variable="y", estimate=10.0, ci_low=11.0, ci_high=12.0)
    assert issubclass(ReportError, SurveyError)


# --------------------------------------------------------------------------- HTML, statically
class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.numbers: list[tuple[dict, str]] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "data-value" in attrs:
            self._open.append({**attrs, "_text": ""})

    def handle_data(self, data):
        for item in self._open:
            item["_text"] += data

    def handle_endtag(self, tag):
        if self._open and tag in ("span", "strong"):
            item = self._open.pop()
            self.numbers.append((item, item["_text"]))


def _headline_numbers(page: str) -> list[tuple[dict, str]]:
    parser = _Collector()
    parser.feed(page)
    return parser.numbers


def _parse_shown(text: str) -> float:
    text = text.strip().strip("[]").replace(",", "")
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def _check_headline(numbers, content) -> int:
    """Every headline number shown equals the content's number (as stored and as printed)."""
    # the page lists the cards in headline order, each with its numbers in field order
    fields = ["estimate", "ci_low", "ci_high", "growth", "growth_ci_low", "growth_ci_high"]
    expected = [(h, f) for h in content.headline for f in fields if math.isfinite(getattr(h, f))]
    assert len(numbers) == len(expected)
    for (attrs, text), (h, f) in zip(numbers, expected, strict=True):
        assert attrs["data-field"] == f
        assert float(attrs["data-value"]) == getattr(h, f)  # exact
        step = 0.001 if f.startswith("growth") else 10.0 ** -h.decimals
        assert abs(_parse_shown(text) - getattr(h, f)) <= step / 2 + 1e-12, (f, text)
    return len(expected)


def test_html_headline_numbers_equal_content(files, content):
    assert _check_headline(_headline_numbers(files.html.read_text(encoding="utf-8")), content) == 12


def test_html_refers_to_no_url(files):
    page = files.html.read_text(encoding="utf-8")
    assert not re.search(r"(https?|ftp|wss?):", page, re.I)
    assert not re.search(r"url\((?!#)", page)  # only references within the page
    parser = _Collector()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "img"}
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href"):
            if name in attrs:
                assert attrs[name].startswith(("#", "data:")), (tag, name, attrs[name])
    assert "default-src 'none'" in page  # Content-Security-Policy: nothing may be loaded


def test_secret_value_appears_in_no_output(files):
    needles = ("9876", "9,876")
    for path in [files.html, *files.csv.values()]:
        text = path.read_text(encoding="utf-8-sig")
        assert not any(n in text for n in needles), path.name
    with zipfile.ZipFile(files.excel) as archive:
        for name in archive.namelist():
            assert not any(n.encode() in archive.read(name) for n in needles), name


def test_languages(files):
    zh, en = files.html.read_text(encoding="utf-8"), render_html(make_content("en"))
    assert '<html lang="zh-CN">' in zh and "主要指标" in zh and "涉及单个企业商业秘密" in zh
    assert '<html lang="en">' in en and "Headline figures" in en and "confidential" in en
    assert "Noto Sans CJK SC" in zh  # CSS font stack
    # same numbers whatever the language
    assert [a["data-value"] for a, _ in _headline_numbers(zh)] == [a["data-value"] for a, _ in _headline_numbers(en)]


def test_chart_texts_are_glyph_outlines_with_chinese_glyphs(content):
    if charts_module.cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    svg = charts_module.growth_chart(content.growth, language="zh")
    assert svg.startswith("<svg") and "<text" not in svg  # texts drawn as paths: no font needed to view
    # one glyph outline per distinct character, taken from the CJK font: 博白县陆川 工业总产值 增长
    glyphs = set(re.findall(r'<path id="growth-([^"]*CJK[^"]*)"', svg))
    assert len(glyphs) >= len(set("博白县陆川工业总产值增长"))


def test_warns_when_no_chinese_font(content, monkeypatch):
    monkeypatch.setattr(charts_module, "cjk_font", lambda: None)
    with pytest.warns(SurveyWarning, match="fonts-noto-cjk"):
        charts_module.series_chart(content.series, language="zh")


# --------------------------------------------------------------------------- Excel and CSV
def _sheet_rows(ws, ncols: int) -> list[list]:
    return [[c.value for c in row] for row in ws.iter_rows(min_row=HEADER_ROW + 1, max_col=ncols)
            if any(c.value is not None for c in row)]


def test_excel_numbers_equal_csv(files, content):
    wb = openpyxl.load_workbook(files.excel)
    # sheet names in the bulletin's language
    assert wb.sheetnames == ["主要指标", "按县（市、区）分", "按渠道分", "分季度估计", "分组增长", "估计值构成",
                             "数据质量指标", "符号说明"]
    sheets = sheet_names(content)
    for table in content.tables:
        csv = pd.read_csv(files.csv[table.name], encoding="utf-8-sig", keep_default_na=False,
                          na_values=[""])
        ws = wb[sheets[table.name]]
        assert ws.cell(row=1, column=1).value == table.title
        rows = _sheet_rows(ws, csv.shape[1])[: len(csv)]
        assert len(rows) == len(csv)
        numeric = [c for c in csv.columns if c not in (*table.breakdown, "variable", "flag")]
        compared = 0
        for i, row in enumerate(rows):
            flag = "" if pd.isna(csv["flag"].iloc[i]) else csv["flag"].iloc[i]
            assert (row[list(csv.columns).index("flag")] or "") == flag
            for column in numeric:
                cell, value = row[list(csv.columns).index(column)], csv[column].iloc[i]
                if pd.isna(value):
                    assert cell in (None, "..", "x", "F"), (table.name, i, column, cell)
                    if column == "estimate":
                        assert cell == flag
                else:
                    assert cell == value, (table.name, i, column)  # exact equality
                    compared += 1
        assert compared >= 10
    # CSV values equal the content exactly where published
    county = pd.read_csv(files.csv["county"], encoding="utf-8-sig")
    assert county["estimate"].tolist()[0] == 120.5 and pd.isna(county["estimate"].iloc[1])
    assert county["county"].tolist() == ["博白县", "荔浦县", "宾阳县", "陆川县", "其他"]
    # number formats, and the suppressed cell marked
    ws = wb["按县（市、区）分"]
    header = [c.value for c in ws[HEADER_ROW]]
    est_col = header.index("估计值") + 1
    assert ws.cell(row=HEADER_ROW + 1, column=est_col).number_format == "#,##0.0"
    assert ws.cell(row=HEADER_ROW + 2, column=est_col).value == "x"
    assert ws.cell(row=HEADER_ROW + 1, column=header.index("变异系数（%）") + 1).number_format == "0.0%"
    # the other frames: Series sheet equals series.csv
    series = pd.read_csv(files.csv["series"], encoding="utf-8-sig")
    rows = _sheet_rows(wb["分季度估计"], series.shape[1])
    assert np.array_equal(np.array([r[2:] for r in rows], dtype=float),
                          series[["estimate", "ci_low", "ci_high"]].to_numpy())
    headline = pd.read_csv(files.csv["headline"], encoding="utf-8-sig")
    rows = _sheet_rows(wb["主要指标"], headline.shape[1])
    assert [r[2] for r in rows] == headline["estimate"].tolist() == [h.estimate for h in content.headline]
    legend = [c.value for c in wb["符号说明"]["A"]]
    assert {"x", "F", "E", ".."} <= set(legend)


def test_example_content_writes(tmp_path):
    """The example content's tables as CSV, with their flags. (Its English HTML and workbook
    are the layout of the English bulletins, checked on the demo's and the national one: the
    English layout fixture of test_cycle.py and test_national_cycle.py.)"""
    files = write_bulletin(example_content("en"), tmp_path, formats=["csv"])
    assert files.html is None and files.excel is None
    county = pd.read_csv(files.csv["county"])
    assert county["flag"].fillna("").tolist() == ["", "x", "E", "F", ""]
    assert sorted(files.csv) == ["channel", "county", "growth", "headline", "parts", "quality", "series"]


def test_table_from_survey_estimate(tmp_path):
    """A table straight from the estimation API: published numbers are the API's numbers."""
    import survey as sv

    df = pd.DataFrame({"h": [1, 1, 1, 2, 2, 2], "w": [2.0, 2, 2, 3, 3, 3],
                       "county": ["A", "A", "A", "B", "B", "B"], "y": [10.0, 11, 12, 6, 5, 5.5]})
    est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y", by="county")
    table = BulletinTable.from_table(est.table(), name="county", title="By county",
                                     suppressed=[False, True])
    files = write_bulletin(BulletinContent(title="t", period="2006Q4", tables=[table]), tmp_path)
    csv = pd.read_csv(files.csv["county"])
    assert csv["county"].tolist() == ["A", "B"]
    assert csv["estimate"].iloc[0] == est.estimate[0] == 2 * (10 + 11 + 12)  # hand total of county A
    assert csv["se"].iloc[0] == est.se[0] and pd.isna(csv["estimate"].iloc[1])
    assert est.cv[0] < 0.15 and csv["flag"].fillna("").tolist() == ["", "x"]
    with pytest.raises(ColumnError, match="2 booleans"):
        BulletinTable.from_table(est.table(), name="c", title="c", suppressed=[True])


def test_parts_from_table_reshapes_without_computing():
    from survey.publish.report import parts_from_table

    wide = pd.DataFrame({"period": ["2006Q1", "2006Q2"], "variable": "y", "take_all": [6.0, 7.0],
                         "sampled": [3.0, 2.5], "model": [1.0, float("nan")], "estimate": [10.0, 9.5]})
    long = parts_from_table(wide)
    assert long["part"].tolist() == ["take-all", "sampled", "model"] * 2
    assert long["estimate"].tolist() == [6.0, 3.0, 1.0, 7.0, 2.5, 0.0]
    BulletinContent(title="t", period="2006Q2", parts=long)  # accepted as chart input
    with pytest.raises(ReportError, match="one row per period and variable"):
        parts_from_table(pd.concat([wide, wide]))
    with pytest.raises(ReportError, match="one row each"):
        BulletinContent(title="t", period="2006Q2", parts=pd.concat([long, long]))


# --------------------------------------------------------------------------- in a real browser
CHECK_SCRIPT = """<script>
(function () {
  var charts = Array.prototype.slice.call(document.querySelectorAll('figure.chart svg'));
  var drawn = charts.filter(function (s) { var r = s.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && s.querySelectorAll('path, use').length > 0; });
  var numbers = Array.prototype.slice.call(document.querySelectorAll('#headline .number')).map(
      function (e) { return [e.getAttribute('data-field'), e.getAttribute('data-value'), e.textContent]; });
  var out = document.createElement('pre');
  out.id = 'render-check';
  out.textContent = JSON.stringify({charts: charts.length, drawn: drawn.length, numbers: numbers,
      width: document.documentElement.scrollWidth});
  document.body.appendChild(out);
})();
</script>"""


def _chromium_or_skip() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium fonts-noto-cjk); "
                    "the browser checks of the bulletin were not run")
    return path


def _page_requests(net_log: Path) -> list[str]:
    """URLs of network requests started by the page (not by the browser's own services)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"
            and not e["params"]["url"].startswith(("file:", "data:"))]


def _open(chromium: str, page: Path, tmp: Path) -> tuple[str, list[str]]:
    net_log = tmp / f"{page.stem}.netlog.json"
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('profile-' + page.stem)}",
         "--window-size=1200,2000", f"--log-net-log={net_log}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-800:]
    return done.stdout, _page_requests(net_log)


def test_bulletin_in_headless_chromium(files, content, tmp_path):
    chromium = _chromium_or_skip()
    page = files.html.read_text(encoding="utf-8")
    # the test copy drops the Content-Security-Policy (so the network check sees what the page itself
    # would load) and adds a script that records what was rendered
    copy = tmp_path / "checked.html"
    copy.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
                    .replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    # positive control: a page that loads an image over http is seen by the network check
    probe = tmp_path / "probe.html"
    probe.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')

    dom, requests = _open(chromium, copy, tmp_path)
    _, probe_requests = _open(chromium, probe, tmp_path)
    assert "http://127.0.0.1:9/x.png" in probe_requests  # the check sees a page request
    assert requests == []  # the bulletin made no network request

    check = json.loads(re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S).group(1)
                       .replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert check["charts"] == 3 and check["drawn"] == 3  # series, growth, parts: all drawn
    assert check["width"] <= 1200  # nothing wider than the window
    numbers = [({"data-field": f, "data-value": v}, t) for f, v, t in check["numbers"]]
    assert _check_headline(numbers, content) == 12

    png = screenshot(files.html, tmp_path / "bulletin.png", width=1000, height=1400)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (1400, 1000)
    # the masthead is drawn in the accent colour #1f4e79, the page below it is not blank
    assert np.allclose(pixels[10, 10, :3], np.array([0x1F, 0x4E, 0x79]) / 255, atol=2 / 255)
    assert pixels[200:, :, :3].std() > 0.05


# --------------------------------------------------------------------------- issue 14
def test_units_counts_and_percentages_are_printed_as_people_read_them(tmp_path):
    """[report] unit: named by every table caption and CSV, in the Excel format of the estimate;
    quality.csv in % (one decimal) and integer counts; counts in Excel are integers."""
    import dataclasses

    from survey.publish.report.quality import display_unit

    assert display_unit("万元", "zh") == ("万元", 10.0, 0) and display_unit("千元", "en")[0] == "thousand yuan"
    with pytest.raises(ReportError, match="display unit"):
        display_unit("元")
    content = example_content("zh")
    tables = [dataclasses.replace(t, unit="亿元") for t in content.tables]
    content = dataclasses.replace(content, tables=tables, unit="亿元")
    files = write_bulletin(content, tmp_path)
    html = files.html.read_text(encoding="utf-8")
    assert html.count("金额单位：亿元") == len(tables)
    county = pd.read_csv(files.csv["county"], encoding="utf-8-sig")
    assert (county["unit"] == "亿元").all()
    quality = pd.read_csv(files.csv["quality"], encoding="utf-8-sig", dtype=str)
    assert quality["value"].tolist() == ["91.2", "94.8", "4.3", "74.0", "1240", "1131"]
    ws = openpyxl.load_workbook(files.excel)["按县（市、区）分"]
    header = [c.value for c in ws[HEADER_ROW]]
    row = [c for c in ws[HEADER_ROW + 1]]
    assert row[header.index("估计值")].number_format == '#,##0.0" 亿元"'
    assert row[header.index("样本单位数")].value == 64 and isinstance(row[header.index("样本单位数")].value, int)
    assert row[header.index("变异系数（%）")].number_format == "0.0%"


def test_parts_legend_lists_only_nonzero_parts():
    content = example_content("en")
    parts = content.parts.assign(estimate=np.where(content.parts["part"] == "model", 0.0,
                                                   content.parts["estimate"]))
    svg = charts_module.parts_chart(parts, language="en")
    assert "Take-all (complete enumeration)" in svg and "Sampled (weighted sample)" in svg
    assert "Model (cut-off part)" not in svg  # zero in every period: no legend entry
    assert "Model (cut-off part)" in charts_module.parts_chart(content.parts, language="en")


def test_code_and_name_columns_have_different_headers(tmp_path):
    frame = pd.DataFrame({"industry": ["1411", "1910"], "industry_name": ["食品", "皮革"],
                          "variable": "gross_output", "estimate": [2.0, 3.0], "se": 0.1, "cv": 0.05,
                          "ci_low": [1.8, 2.8], "ci_high": [2.2, 3.2], "df": 30, "n": [12, 9]})
    content = BulletinContent(title="t", period="2006Q4", language="zh", tables=[
        BulletinTable.from_table(frame, name="industry", title="按行业分", by=["industry", "industry_name"])])
    files = write_bulletin(content, tmp_path)
    section = re.search(r'id="table-industry".*?</thead>', files.html.read_text(encoding="utf-8"), re.S)
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", section.group(0))
    assert heads[:3] == ["行业代码", "行业", "指标"] and len(heads) == len(set(heads))
    ws = openpyxl.load_workbook(files.excel)["按行业分"]
    header = [c.value for c in ws[HEADER_ROW] if c.value]
    assert header[:2] == ["行业代码", "行业"] and len(header) == len(set(header))


def test_targets_are_checked_and_drawn():
    from survey.publish.report.tables import target_progress  # noqa: F401 (documented entry point)

    t = pd.DataFrame({"domain": ["Zones"], "variable": "gross_output", "year": [2010], "target": [100.0],
                      "estimate": [25.0], "ci_low": [22.0], "ci_high": [28.0],
                      "needed": [(100 / 25) ** 0.25 - 1], "needed_ci_low": [(100 / 28) ** 0.25 - 1],
                      "needed_ci_high": [(100 / 22) ** 0.25 - 1], "growth": [0.1],
                      "growth_ci_low": [0.06], "growth_ci_high": [0.14]})
    content = BulletinContent(title="t", period="2006Q4", targets=t, unit="100 million yuan")
    page = render_html(content)
    assert 'id="table-targets"' in page and "+41.4" in page and 'id="chart-targets"' in page
    with pytest.raises(ReportError, match="does not contain"):
        BulletinContent(title="t", period="2006Q4", targets=t.assign(needed_ci_low=0.5))
