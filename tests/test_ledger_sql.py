"""Issue 18, the ledger on the engine: Ledger.open(engine=) sets DuckDB's memory limit and
temporary folder; Parquet/CSV ingest inside DuckDB gives the same IngestReport, rejection
rows and stored values as the pandas path on the files of tests/test_ledger.py; the
quarter relation equals to_frame and scan() of it equals Survey(to_frame) to 1e-10."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.engine import Engine
from survey.errors import LedgerError
from survey.estimation.outofcore import scan
from survey.form import DEMO_FORM, Form
from survey.returns.ledger import Ledger
from tests.test_ledger import ids, returns

ENGINE = dict(memory_limit="300MB", threads=1)


def _pair(tmp_path, form=DEMO_FORM):
    ref = Ledger.open(tmp_path / "pandas.duckdb", form=form)
    sql = Ledger.open(tmp_path / "sql.duckdb", form=form,
                      engine=Engine(temp_directory=tmp_path / "spill", **ENGINE))
    return ref, sql


def _same_report(a, b):
    for attr in ("status", "source", "period", "channel", "content_hash", "file_id", "rows",
                 "values_written", "values_unchanged"):
        assert getattr(a, attr) == getattr(b, attr), attr
    ra, rb = a.rejected.reset_index(drop=True), b.rejected.reset_index(drop=True)
    assert ra[["row", "column", "reason"]].astype(str).values.tolist() == \
        rb[["row", "column", "reason"]].astype(str).values.tolist()
    assert ra["value"].astype(str).tolist() == rb["value"].astype(str).tolist()


def _same_store(a: Ledger, b: Ledger):
    q = ("SELECT firm_id, period, item, value, marker::VARCHAR, revision, row_number FROM returns "
         "ORDER BY ALL")
    assert a._con.execute(q).fetchall() == b._con.execute(q).fetchall()
    f = "SELECT file_id, content_hash, source, period, channel, rows, values_written FROM files"
    assert a._con.execute(f).fetchall() == b._con.execute(f).fetchall()


def _both(ref, sql, path, period, channel="bureau", **kw):
    a = ref.ingest(path, period, channel, errors="report", **kw)
    b = sql.ingest(path, period, channel, errors="report", **kw)
    _same_report(a, b)
    _same_store(ref, sql)
    return a, b


def test_memory_limit_and_temp_directory_are_set(tmp_path):
    """Ledger.open(engine=) applies the Engine's settings; without one the Engine defaults
    (4 GB), never DuckDB's 80% of the RAM."""
    with Ledger.open(tmp_path / "a.duckdb", form=DEMO_FORM,
                     engine=Engine(memory_limit="300MB", temp_directory=tmp_path / "t")) as led:
        limit = led._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        temp = led._con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        cur = led._cursor()  # the settings are the database's: every cursor has them
        assert cur.execute("SELECT current_setting('memory_limit')").fetchone()[0] == limit
    assert limit == "286.1 MiB"  # 300,000,000 bytes
    assert temp == str(tmp_path / "t")
    with Ledger.open(tmp_path / "b.duckdb", form=DEMO_FORM) as led:
        limit = led._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert led.engine.memory_limit == "4GB"
    assert limit == "3.7 GiB"  # 4,000,000,000 bytes
    with pytest.raises(LedgerError, match="DuckDB file"):
        Ledger.open(":memory:", form=DEMO_FORM, engine=Engine(kind="spark"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_reingest_and_revisions_match_the_pandas_path(tmp_path, suffix):
    """tests/test_ledger.py round trip, same file again, same rows reordered, changed values."""
    def write(frame, name):
        path = tmp_path / (name + suffix)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    ref, sql = _pair(tmp_path)
    with ref, sql:
        q1 = returns(5)
        q2 = q1.assign(gross_output_ytd=q1["gross_output_ytd"] + [10, 20, 30, 40, 50])
        a, _ = _both(ref, sql, write(q1, "q1"), "2006Q1")
        assert a.status == "loaded" and a.values_written == 20
        _both(ref, sql, write(q1, "q1"), "2006Q1")  # same file: unchanged
        b, _ = _both(ref, sql, write(q1.iloc[::-1], "rev"), "2006Q1")  # same rows: unchanged
        assert b.status == "unchanged" and b.values_unchanged == 20
        c, _ = _both(ref, sql, write(q2.iloc[:3], "changed"), "2006Q1")  # new revisions
        assert c.values_written == 3
        _both(ref, sql, write(q2, "q2"), "2006Q2")
        # money in yuan is stored in thousand yuan
        _both(ref, sql, write(returns(2, start=40).assign(gross_output_ytd=1234.5), "yuan"),
              "2006Q3", money_unit="yuan")
        for period in ("2006Q1", "2006Q2", "2006Q3"):
            pd.testing.assert_frame_equal(ref.to_frame(period), sql.to_frame(period))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_same_content_for_another_period_is_refused_on_the_sql_path_too(tmp_path, suffix):
    """Issue 13 item 6 on the engine path: last quarter's file sent again for this quarter is
    refused (nothing loaded) unless allow_same_content=True, as on the pandas path."""
    path = tmp_path / ("q1" + suffix)
    frame = returns(5)
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
    ref, sql = _pair(tmp_path)
    with ref, sql:
        _both(ref, sql, path, "2006Q1")
        for led in (ref, sql):
            with pytest.raises(LedgerError, match="same content as .*loaded for 2006Q1"):
                led.ingest(path, "2006Q2", "bureau")
            assert led.to_frame("2006Q2").empty
        a, b = _both(ref, sql, path, "2006Q2", allow_same_content=True)
        assert a.status == b.status == "loaded"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rejections_match_the_pandas_path(tmp_path, suffix):
    """Bad ids, a letter O in a number, duplicates, wrong period, unknown column, not in the
    register snapshot, infinite values, NA strings, thousands separators."""
    def write(frame, name):
        path = tmp_path / (name + suffix)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    ref, sql = _pair(tmp_path)
    with ref, sql:
        bad = returns(4, start=10).astype({"gross_output_ytd": "str"})
        bad.loc[1, "gross_output_ytd"] = "12O.5"
        bad.loc[3, "firm_id"] = bad.loc[3, "firm_id"][:-1] + "0"
        a, _ = _both(ref, sql, write(bad, "bad"), "2006Q1")
        assert a.rejected[["row", "column"]].values.tolist() == [[3, "gross_output_ytd"],
                                                                 [5, "firm_id"]]
        frame = returns(3).assign(period=["2006Q1", "2006Q2", "2006Q1"])
        dup = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
        a, _ = _both(ref, sql, write(dup, "dup"), "2006Q1")
        assert len(a.rejected) == 3
        _both(ref, sql, write(frame.assign(gross_output=1.0), "unknown"), "2006Q1")
        odd = returns(5, start=20).astype({"export_delivery_ytd": "str", "employees_ytd": "str"})
        odd["export_delivery_ytd"] = ["1,234.5", " 7 ", "NA", "inf", "-inf"]
        odd["employees_ytd"] = ["nan", "", "x1", "1e3", "+.5"]
        odd.loc[2, "firm_id"] = ""
        a, _ = _both(ref, sql, write(odd, "odd"), "2006Q1")
        assert a.status == "rejected" and len(a.rejected) >= 4
        ok = odd.assign(employees_ytd=["", "", "", "1e3", "+.5"],
                        export_delivery_ytd=["1,234.5", " 7 ", "", "3", "-4"])
        ok.loc[2, "firm_id"] = ids(1, start=99)[0]
        a, _ = _both(ref, sql, write(ok, "ok"), "2006Q1")
        assert a.status == "loaded", a.rejected
        # register membership
        ref.register_units(pd.DataFrame({"firm_id": ids(4)}), "2006Q2")
        sql.register_units(pd.DataFrame({"firm_id": ids(4)}), "2006Q2")
        a, _ = _both(ref, sql, write(returns(6), "reg"), "2006Q2")
        assert a.rejected["reason"].tolist() == ["firm is not in the register snapshot of 2006Q2"] * 2
        with pytest.raises(LedgerError, match="rejected bad"):
            sql.ingest(tmp_path / ("bad" + suffix), "2006Q1", "bureau")


def test_damaged_csv_files_match_the_pandas_path(tmp_path):
    """tests/test_ledger.py bad files: cut short, a field missing, repeated and empty header
    names, GB18030 and BOM encodings."""
    ref, sql = _pair(tmp_path)
    with ref, sql:
        q = returns(3)
        q["gross_output_ytd"] = [1000.0, 2000.5, 1000.0]
        text = q.to_csv(index=False, lineterminator="\n")
        cut = text.rstrip("\n")
        (tmp_path / "cut.csv").write_text(cut[: cut.rindex(",") + 1] + "10", encoding="utf-8")
        a, _ = _both(ref, sql, tmp_path / "cut.csv", "2006Q1")
        assert "cut short" in a.rejected["reason"].iloc[0]
        (tmp_path / "short.csv").write_text(text.rstrip("\n").rsplit(",", 1)[0], encoding="utf-8")
        a, _ = _both(ref, sql, tmp_path / "short.csv", "2006Q1")
        assert "line 4 has 4 fields" in a.rejected["reason"].iloc[0]
        (tmp_path / "nonl.csv").write_text(text.rstrip("\n"), encoding="utf-8")  # complete
        a, _ = _both(ref, sql, tmp_path / "nonl.csv", "2006Q1")
        assert a.status == "loaded"
        lines = text.splitlines()
        lines[0] = lines[0].replace("export_delivery_ytd", "gross_output_ytd")
        (tmp_path / "dup.csv").write_text("\n".join(x + "," for x in lines) + "\n")
        _both(ref, sql, tmp_path / "dup.csv", "2006Q2")
        g = returns(2, start=7)
        g.insert(1, "period", "2006Q3")
        body = g.to_csv(index=False, lineterminator="\r\n")
        (tmp_path / "gbk.csv").write_bytes(body.encode("gb18030"))
        (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
        assert _both(ref, sql, tmp_path / "gbk.csv", "2006Q3")[0].values_written == 8
        assert _both(ref, sql, tmp_path / "bom.csv", "2006Q3")[0].values_unchanged == 8
        # a Chinese file with a GB18030 character in a text cell
        g2 = g.assign(period="2006Q4").astype({"gross_output_ytd": "object"})
        g2.loc[0, "gross_output_ytd"] = "一百"
        (tmp_path / "zh.csv").write_bytes(g2.to_csv(index=False).encode("gb18030"))
        a, _ = _both(ref, sql, tmp_path / "zh.csv", "2006Q4")
        assert a.rejected["value"].tolist() == ["一百"]


def test_a_form_other_than_the_demo(tmp_path):
    form = Form(indicators=["output", "staff"], stocks=["staff"], nonnegative=["output", "staff"],
                money=["output"], money_unit="yuan", units={"staff": "head"}, id="ent",
                period="quarter")
    q1 = pd.DataFrame({"ent": ["A", "B"], "quarter": "2024Q1", "output_ytd": [10.0, 20.0],
                       "output_ytd_last_year": [8.0, 15.0], "staff_ytd": [3.0, 4.0]})
    ref, sql = _pair(tmp_path, form)
    with ref, sql:
        q1.assign(ent=["A", None]).to_csv(tmp_path / "bad.csv", index=False)
        a, _ = _both(ref, sql, tmp_path / "bad.csv", "2024Q1")
        assert a.rejected[["row", "column", "reason"]].values.tolist() == [[3, "ent", "missing id"]]
        q1.to_parquet(tmp_path / "q1.parquet", index=False)
        _both(ref, sql, tmp_path / "q1.parquet", "2024Q1", money_unit="thousand_yuan")
        pd.testing.assert_frame_equal(ref.to_frame("2024Q1"), sql.to_frame("2024Q1"))


def _ledger_with_quarters(tmp_path, n=400, seed=3):
    rng = np.random.default_rng(seed)
    firm = ids(n)
    units = pd.DataFrame({"firm_id": firm,
                          "stratum": rng.choice(["a", "b", "c", "d"], n),
                          "province": rng.choice(["GX", "GD", "YN"], n),
                          "w": rng.uniform(1, 20, n).round(2),
                          "employees": rng.integers(1, 500, n)})
    led = Ledger.open(tmp_path / "q.duckdb", form=DEMO_FORM, engine=Engine(**ENGINE))
    for k, period in enumerate(("2006Q1", "2006Q2", "2006Q3")):
        led.register_units(units, period)
        q = returns(n, seed=seed + k)
        q["gross_output_ytd"] *= (k + 1)
        q["revenue_ytd"] = (q["gross_output_ytd"] * rng.uniform(0.5, 1.5, n)).round(1)
        keep = rng.uniform(size=n) < 0.85  # non-response
        path = tmp_path / f"{period}.parquet"
        q.loc[keep].to_parquet(path, index=False)
        led.ingest(path, period, "bureau")
    fix = returns(n, seed=seed + 1).iloc[:5].assign(gross_output_ytd=1.0)
    led.revise(fix[["firm_id", "gross_output_ytd"]], "2006Q2", author="clerk", reason="test")
    return led


@pytest.mark.parametrize("period", ["2006Q1", "2006Q2", "2006Q3"])
def test_quarter_relation_equals_to_frame_and_scan_equals_survey(tmp_path, period):
    """The quarter relation has to_frame's rows and values; scan(quarter) equals
    Survey(to_frame) to 1e-10 (totals, means and ratios by domain with SEs)."""
    with _ledger_with_quarters(tmp_path) as led, warnings.catch_warnings():
        warnings.simplefilter("ignore", sv.errors.SurveyWarning)  # falling cumulative values
        frame = led.to_frame(period)
        rel = led.quarter_relation(period)
        got = rel.df()
        assert list(got.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(got.astype(frame.dtypes.to_dict()), frame,
                                      check_dtype=False)
        design = sv.Design(strata="stratum", weights="w")
        mem = sv.Survey(frame, design)
        ooc = scan(rel, design)
        for name, a, b in [
            ("total", mem.total(["gross_output", "revenue"], by="province", na="drop"),
             ooc.total(["gross_output", "revenue"], by="province", na="drop")),
            ("mean", mem.mean("gross_output_ytd", by="province", na="drop"),
             ooc.mean("gross_output_ytd", by="province", na="drop")),
            ("ratio", mem.ratio("revenue_ytd", "gross_output_ytd", na="drop"),
             ooc.ratio("revenue_ytd", "gross_output_ytd", na="drop")),
        ]:
            np.testing.assert_allclose(b.estimate, a.estimate, rtol=1e-10, err_msg=name)
            np.testing.assert_allclose(b.se, a.se, rtol=1e-10, err_msg=name)


def test_quarter_relation_as_of_and_parquet_export(tmp_path):
    with _ledger_with_quarters(tmp_path) as led, warnings.catch_warnings():
        warnings.simplefilter("ignore", sv.errors.SurveyWarning)
        txn = int(led._con.execute("SELECT max(txn) FROM transactions").fetchall()[0][0])
        before = led.to_frame("2006Q2", as_of=txn - 1)
        got = led.quarter_relation("2006Q2", as_of=txn - 1).df()
        np.testing.assert_array_equal(got["gross_output_ytd"].to_numpy(dtype=float, na_value=np.nan),
                                      before["gross_output_ytd"].to_numpy())
        path = led.quarter_relation("2006Q2").write_parquet(tmp_path / "out" / "q2.parquet")
        back = pd.read_parquet(path)
        np.testing.assert_array_equal(back["gross_output"].to_numpy(dtype=float, na_value=np.nan),
                                      led.to_frame("2006Q2")["gross_output"].to_numpy())


def test_sql_ingest_never_reads_the_file_with_pandas(tmp_path, monkeypatch):
    """With engine= a Parquet or CSV file goes straight to DuckDB: the pandas reader of the
    old path is never called (a 30M-row file never becomes a frame)."""
    import survey.returns.ledger.ingest as ledger_module

    def refuse(*args, **kwargs):
        raise AssertionError("the SQL path read the file with pandas")

    monkeypatch.setattr(ledger_module, "_read_input", refuse)
    returns(50).to_parquet(tmp_path / "q.parquet", index=False)
    returns(50, start=100).to_csv(tmp_path / "q.csv", index=False)
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM, engine=Engine(**ENGINE)) as led:
        assert led.ingest(tmp_path / "q.parquet", "2006Q1", "bureau").values_written == 200
        assert led.ingest(tmp_path / "q.csv", "2006Q1", "bureau").values_written == 200
