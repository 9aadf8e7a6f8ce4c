"""Tests of survey.io: one table reader for CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM,
GB18030/GBK detected or given), Excel and Parquet; files cut short, records of the wrong
length, duplicate and empty header names, fake workbooks; the writer round trip.
Issue 13 items 5 (truncated CSV), 12 (encodings), 13 (fake .xlsx) and 14 (raw headers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from survey.errors import SurveyError, TableError
from survey.io import decode_text, read_header, read_table, write_table

DATA = Path(__file__).parent / "data"
FRAME = pd.DataFrame({"firm_id": ["0045", "A17"], "county": ["兴宁区", "博白县"],
                      "revenue": [1565.9, 12000.5], "staff": [12, 30]})


def _csv(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


# --------------------------------------------------------------------------- encodings
def test_real_gb18030_file():
    """A register saved by Chinese Windows software: GB18030 with characters outside GBK
    (U+20000, U+4DAE) and CRLF line ends."""
    t = read_table(DATA / "register_gb18030.csv", text="企业代码")
    assert t.attrs["encoding"] == "gb18030" and t.attrs["format"] == "csv"
    assert t.columns.tolist() == ["企业代码", "企业名称", "县区", "行业", "上年主营业务收入"]
    assert t["企业代码"].tolist()[1] == "0045012200001234"  # text: leading zeros kept
    assert t["企业名称"].tolist()[1] == "武鸣𠀀记五金制品有限公司"
    assert t["县区"].tolist() == ["兴宁区", "武鸣县", "博白县"]
    np.testing.assert_array_equal(t["上年主营业务收入"], [1565.9, 820.0, 12000.5])
    assert t["行业"].tolist() == [4215, 3451, 4215]


@pytest.mark.parametrize("encoding, bom, found", [
    ("utf-8", b"", "utf-8"),
    ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
    ("gbk", b"", "gb18030"),
    ("gb18030", b"", "gb18030"),
    ("utf-16-le", b"\xff\xfe", "utf-16"),
])
def test_encodings_are_detected(tmp_path, encoding, bom, found):
    text = FRAME.to_csv(index=False, lineterminator="\r\n")
    path = _csv(tmp_path, "t.csv", bom + text.encode(encoding))
    t = read_table(path, text="firm_id")
    assert t.attrs["encoding"] == found
    assert t.columns.tolist() == FRAME.columns.tolist()  # no BOM in the first name
    pd.testing.assert_frame_equal(t, FRAME, check_dtype=False)


def test_an_explicit_encoding(tmp_path):
    big5 = _csv(tmp_path, "big5.csv", "城市,產值\n臺北,1.5\n".encode("big5"))
    assert read_table(big5, encoding="big5").columns.tolist() == ["城市", "產值"]
    gbk = _csv(tmp_path, "gbk.csv", "城市,产值\n玉林,1.5\n".encode("gbk"))
    with pytest.raises(TableError, match=r"gbk.csv: not valid utf-8 at line 1 \(byte 0xb3\); the "
                                         r"bytes fit gb18030: pass encoding='gb18030'"):
        read_table(gbk, encoding="utf-8")
    with pytest.raises(TableError, match="unknown encoding 'klingon'"):
        read_table(gbk, encoding="klingon")


def test_undecodable_bytes_say_where_and_how_to_convert(tmp_path):
    raw = "a,b\n1,2\n".encode() + b"\xff\xfe\xfd,3\n"
    path = _csv(tmp_path, "bad.csv", raw)
    with pytest.raises(TableError) as info:
        read_table(path)
    message = str(info.value)
    assert "neither UTF-8 (byte 0xff at line 3 is invalid) nor GB18030/GBK" in message
    assert "encoding=" in message and "iconv -f ENCODING -t UTF-8 bad.csv" in message
    assert info.value.line == 3 and info.value.path == "bad.csv"
    assert isinstance(info.value, SurveyError)
    assert decode_text(raw, encoding="latin-1")[0].endswith("ÿþý,3\n")


# --------------------------------------------------------------------------- cut-short files
@pytest.mark.parametrize("tail, why", [
    ("c,10", "'value' = '10' is shorter than every other value"),
    ("c,30000.", "'value' = '30000.' has 0 decimals where every other value of the column has at least 1"),
    ("c,", "its last field ('value') is empty"),
])
def test_truncated_last_record_is_rejected(tmp_path, tail, why):
    """Issue 13 item 5: a file cut in its last field (1000.0 became 10) is rejected whole."""
    path = _csv(tmp_path, "cut.csv", "firm,value\na,1000.0\nb,2000.5\n" + tail)
    with pytest.raises(TableError, match="does not end with a line break") as info:
        read_table(path)
    assert why in str(info.value) and "line 4" in str(info.value)
    assert info.value.line == 4 and info.value.column == "value"


def test_complete_files_without_a_final_line_break_are_read(tmp_path):
    path = _csv(tmp_path, "ok.csv", "firm,value\na,1000.0\nb,2000.5\nc,3000.25")
    assert read_table(path)["value"].tolist() == [1000.0, 2000.5, 3000.25]
    one = _csv(tmp_path, "one.csv", "firm,value\na,1")
    assert read_table(one)["value"].tolist() == [1]
    header = _csv(tmp_path, "header.csv", "firm,value")
    assert read_table(header).columns.tolist() == ["firm", "value"]


def test_records_of_the_wrong_length_are_rejected(tmp_path):
    short_last = _csv(tmp_path, "s.csv", "a,b,c\n1,2,3\n4,5")
    with pytest.raises(TableError, match=r"line 3 has 2 fields but the header has 3 and the file "
                                         r"does not end with a line break: it was cut short"):
        read_table(short_last)
    middle = _csv(tmp_path, "m.csv", "a,b,c\n1,2,3\n4,5,6,7\n8,9\n10,11,12\n")
    with pytest.raises(TableError, match=r"line 3 has 4 fields but the header has 3 \(2 such lines\)"):
        read_table(middle)
    quoted = _csv(tmp_path, "q.csv", 'a,b\n1,"open quote\n')
    with pytest.raises(TableError, match="quoted field is not closed"):
        read_table(quoted)


def test_quoted_newlines_and_blank_lines(tmp_path):
    path = _csv(tmp_path, "n.csv", 'id,note,v\n1,"two\nlines",1.5\n\n2,plain,2.5\n')
    t = read_table(path)
    assert t["note"].tolist() == ["two\nlines", "plain"] and t["v"].tolist() == [1.5, 2.5]
    with pytest.raises(TableError, match="empty"):
        read_table(_csv(tmp_path, "e.csv", ""))


# --------------------------------------------------------------------------- headers
def test_duplicate_and_empty_names_are_errors(tmp_path):
    """Issue 13 item 14: no 'x.1' and no 'Unnamed: 4'."""
    dup = _csv(tmp_path, "dup.csv", "firm,x,y,x\na,1,2,3\n")
    with pytest.raises(TableError, match=r"appear twice in the header: 'x' \(columns 2 and 4\)"):
        read_table(dup)
    empty = _csv(tmp_path, "empty.csv", "firm,x,,y\na,1,2,3\n")
    with pytest.raises(TableError, match=r"column\(s\) \[3\] of the header have no name"):
        read_table(empty)
    raw = read_table(dup, check_header=False)
    assert raw.columns.tolist() == ["firm", "x", "y", "x"]
    assert raw.iloc[0].tolist() == ["a", 1, 2, 3]
    assert read_table(empty, check_header=False).columns.tolist() == ["firm", "x", "", "y"]
    assert read_header(dup) == ["firm", "x", "y", "x"]


def test_blanks_around_names_are_dropped(tmp_path):
    path = _csv(tmp_path, "b.csv", "\ufefffirm , value\na,1\n".encode("utf-8"))
    assert read_table(path).columns.tolist() == ["firm", "value"]
    assert read_header(path) == ["firm", "value"]


# --------------------------------------------------------------------------- Excel
def test_excel_workbook(tmp_path):
    path = write_table(FRAME, tmp_path / "t.xlsx")
    t = read_table(path, text="firm_id")
    assert t.attrs["format"] == "xlsx"
    pd.testing.assert_frame_equal(t, FRAME, check_dtype=False)
    assert t["revenue"].dtype == float
    # raw header: a repeated name, a column without a name, trailing empty rows
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["firm", "x", None, "x"])
    sheet.append(["a", 1, 2, 3])
    sheet.append([None, None, None, None])
    book.create_sheet("other").append(["only", "this"])
    book.save(tmp_path / "raw.xlsx")
    with pytest.raises(TableError, match=r"column\(s\) \[3\] of the header have no name"):
        read_table(tmp_path / "raw.xlsx")
    raw = read_table(tmp_path / "raw.xlsx", check_header=False)
    assert raw.columns.tolist() == ["firm", "x", "", "x"] and len(raw) == 1
    assert read_table(tmp_path / "raw.xlsx", sheet="other").columns.tolist() == ["only", "this"]
    assert read_table(tmp_path / "raw.xlsx", sheet=1).columns.tolist() == ["only", "this"]
    with pytest.raises(TableError, match="no sheet 'nope'"):
        read_table(tmp_path / "raw.xlsx", sheet="nope")


@pytest.mark.parametrize("content, what", [
    (b"firm,value\na,1\n", "text (perhaps a CSV file renamed to .xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "an old Excel 97-2003 workbook (.xls)"),
    (b"<html><table><tr><td>1</td></tr></table></html>", "an HTML page"),
    (bytes(range(256)) * 4, "not a zip archive"),
    (b"", "empty"),
])
def test_fake_xlsx_gives_a_clear_error(tmp_path, content, what):
    """Issue 13 item 13: a fake .xlsx raised a raw zipfile error."""
    path = _csv(tmp_path, "fake.xlsx", content)
    with pytest.raises(TableError, match="fake.xlsx: not an Excel workbook") as info:
        read_table(path)
    assert what in str(info.value)


# --------------------------------------------------------------------------- Parquet, writer
def test_parquet_round_trip_and_text_columns(tmp_path):
    frame = FRAME.assign(code=[450102, 450923])
    path = write_table(frame, tmp_path / "t.parquet")
    t = read_table(path, text="code")
    assert t["code"].tolist() == ["450102", "450923"] and t.attrs["format"] == "parquet"
    pd.testing.assert_frame_equal(t.drop(columns="code"), FRAME)
    assert read_header(path) == ["firm_id", "county", "revenue", "staff", "code"]
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(TableError, match="not a readable Parquet file"):
        read_table(tmp_path / "bad.parquet")


def test_csv_writer_round_trip(tmp_path):
    path = write_table(FRAME, tmp_path / "sub" / "t.csv")
    assert path.read_bytes().endswith(b"\n") and b"\r" not in path.read_bytes()
    pd.testing.assert_frame_equal(read_table(path, text="firm_id"), FRAME, check_dtype=False)


def test_csv_writer_writes_the_bytes_of_pandas(tmp_path):
    """write_table formats each distinct value once (survey.csvtext); the bytes are pandas'
    to_csv of the protected frame for every dtype it covers, and pandas writes the rest."""
    from survey.csvtext import csv_text
    from survey.io import protect_formulas

    rng = np.random.default_rng(7)
    floats = np.concatenate([rng.standard_normal(300) * 10.0 ** rng.integers(-20, 20, 300),
                             [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1e-5, 0.1, 2.0] * 3])
    n = len(floats)
    text = np.array(["a", "b,c", 'say "x"', "two\nlines", "", "=1+1", "-5", "南宁", None])
    frame = pd.DataFrame({
        "x": floats, "y": floats[::-1].copy(), "f32": floats.astype(np.float32),
        "i": rng.integers(-10**12, 10**12, n), "u8": rng.integers(0, 255, n).astype(np.uint8),
        "b": rng.random(n) < 0.5, "s": pd.array(text[rng.integers(0, 9, n)], dtype="str"),
        "o": text[rng.integers(0, 9, n)].astype(object), "odd, name": 1.5})
    for cut in (frame, frame.iloc[:0], frame[["x", "s"]].iloc[:3]):
        expected = protect_formulas(cut).to_csv(index=False, lineterminator="\n")
        assert csv_text(protect_formulas(cut)) == expected
        assert write_table(cut, tmp_path / "t.csv").read_text(encoding="utf-8") == expected
    dates = frame.assign(d=pd.Timestamp("2006-03-31"), c=frame["s"].astype("category"))
    carriage = frame.assign(s="a\rb")
    for other in (dates, carriage, frame[["x"]], frame.set_axis(range(frame.shape[1]), axis=1)):
        assert csv_text(other) is None  # pandas writes these
    path = write_table(carriage, tmp_path / "c.csv")
    assert b'"a\rb"' in path.read_bytes()  # every text quoted (QUOTE_NONNUMERIC)


def test_files_and_formats(tmp_path):
    with pytest.raises(TableError, match="file not found"):
        read_table(tmp_path / "none.csv")
    with pytest.raises(TableError, match="is a folder"):
        read_table(tmp_path)
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(TableError, match=r"unknown table format '\.json'"):
        read_table(tmp_path / "t.json")
    (tmp_path / "t.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(TableError, match=r"\(\.xls\) are not read; open it in Excel and save it as \.xlsx"):
        read_table(tmp_path / "t.xls")
    with pytest.raises(TableError, match="unknown table format"):
        write_table(FRAME, tmp_path / "t.json")


def test_numbers_and_text_columns(tmp_path):
    """Numbers parse where every cell is a number (correctly rounded); a column with a
    bad cell stays text for the caller to report cell by cell."""
    path = _csv(tmp_path, "n.csv", "id,a,b,c\n007,0.1,1e3,x\n008,2.675,,3\n")
    t = read_table(path, text=["id"])
    assert t["id"].tolist() == ["007", "008"]
    assert t["a"].tolist() == [0.1, 2.675] and t["a"].dtype == float
    assert t["b"].iloc[0] == 1000.0 and np.isnan(t["b"].iloc[1])
    assert t["c"].tolist() == ["x", "3"]
