"""Tests of survey.returns.ledger: round trip, idempotence, rejection, revisions, as-of,
crash safety (killed subprocess), concurrent readers, year-to-date conversion, bad files
(truncated, duplicate and empty headers, encodings), a form other than the demo's and the
renamed keywords (money_unit, author)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from survey.errors import LedgerError, PeriodError, SurveyWarning
from survey.form import DEMO_FORM, Form
from survey.periods import previous_quarter, ytd_to_quarters
from survey.register.frame import uscc_check_character
from survey.returns.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent


def ids(n: int, start: int = 0) -> list[str]:
    out = []
    for k in range(start, start + n):
        body = f"91450100MA{k:07d}"
        out.append(body + uscc_check_character(body))
    return out


def returns(n: int = 5, *, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    go = np.round(rng.uniform(100, 1000, n), 1)
    return pd.DataFrame(
        {
            "firm_id": ids(n, start),
            "gross_output_ytd": go,
            "gross_output_ytd_last_year": np.round(go * 0.9, 1),
            "export_delivery_ytd": np.round(go * 0.2, 1),
            "employees_ytd": np.round(go / 10),
        }
    )


def count(ledger: Ledger) -> int:
    return int(ledger._con.execute("SELECT count(*) FROM returns").fetchall()[0][0])


@pytest.fixture
def ledger(tmp_path):
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM) as led:
        yield led


def test_csv_round_trip_and_discrete_quarters(ledger, tmp_path):
    q1 = returns(5)
    q2 = q1.copy()
    q2["gross_output_ytd"] = q1["gross_output_ytd"] + [10, 20, 30, 40, 50]
    q2["gross_output_ytd_last_year"] = q1["gross_output_ytd_last_year"] + 5
    q1.to_csv(tmp_path / "q1.csv", index=False)
    q2.to_csv(tmp_path / "q2.csv", index=False)
    r1 = ledger.ingest(tmp_path / "q1.csv", "2006Q1", "bureau", author="tester")
    ledger.ingest(tmp_path / "q2.csv", "2006Q2", "bureau", author="tester")
    assert r1.status == "loaded" and r1.values_written == 5 * 4 and r1.rows == 5
    assert str(r1).startswith("loaded q1.csv (2006Q1 via bureau) as file 1: 5 rows, 20 values")
    out1 = ledger.to_frame("2006Q1")
    np.testing.assert_allclose(out1["gross_output_ytd"], q1["gross_output_ytd"])
    np.testing.assert_allclose(out1["gross_output"], q1["gross_output_ytd"])  # Q1 = ytd
    assert out1["firm_id"].tolist() == q1["firm_id"].tolist()
    assert out1["revenue_marker"].eq("missing").all()
    assert out1["revenue_ytd"].isna().all()
    out2 = ledger.to_frame("2006Q2")
    np.testing.assert_allclose(out2["gross_output"], [10, 20, 30, 40, 50])
    np.testing.assert_allclose(out2["gross_output_last_year"], 5.0)
    np.testing.assert_allclose(out2["gross_output_ytd_previous"], q1["gross_output_ytd"])
    # employees is a stock: not differenced
    np.testing.assert_allclose(out2["employees"], q2["employees_ytd"])
    assert out2["gross_output_marker"].eq("returned").all()


def test_excel_round_trip(ledger, tmp_path):
    q1 = returns(4, seed=3)
    path = tmp_path / "q1.xlsx"
    q1.to_excel(path, index=False, engine="openpyxl")
    report = ledger.ingest(path, "2006Q1", "federation")
    assert report.values_written == 16
    np.testing.assert_allclose(ledger.to_frame("2006Q1")["export_delivery_ytd"], q1["export_delivery_ytd"])


def test_reingest_same_file_is_a_no_op(ledger, tmp_path):
    returns(6).to_csv(tmp_path / "a.csv", index=False)
    first = ledger.ingest(tmp_path / "a.csv", "2006Q1", "bureau")
    before = count(ledger)
    again = ledger.ingest(tmp_path / "a.csv", "2006Q1", "bureau")
    assert again.status == "unchanged" and again.values_written == 0
    assert again.file_id == first.file_id and "unchanged a.csv" in str(again)
    assert count(ledger) == before and len(ledger.files()) == 1
    # the same rows in another order (different bytes): row-level idempotence
    returns(6).iloc[::-1].to_csv(tmp_path / "b.csv", index=False)
    other = ledger.ingest(tmp_path / "b.csv", "2006Q1", "bureau")
    assert other.status == "unchanged" and other.values_written == 0
    assert other.values_unchanged == 24 and count(ledger) == before


def test_bad_row_rejects_whole_file(ledger, tmp_path):
    good = returns(3)
    ledger.ingest(good, "2006Q1", "bureau")
    before = count(ledger)
    bad = returns(4, start=10).astype({"gross_output_ytd": "str"})
    bad.loc[1, "gross_output_ytd"] = "12O.5"  # letter O
    bad.loc[3, "firm_id"] = bad.loc[3, "firm_id"][:-1] + "0"  # wrong check character
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LedgerError, match="rejected bad.csv") as info:
        ledger.ingest(tmp_path / "bad.csv", "2006Q1", "bureau")
    table = info.value.report.rejected
    assert table[["row", "column"]].values.tolist() == [[3, "gross_output_ytd"], [5, "firm_id"]]
    assert table["reason"].tolist()[0] == "not a number"
    assert table["value"].tolist()[0] == "12O.5"
    assert count(ledger) == before and len(ledger.files()) == 1
    report = ledger.ingest(tmp_path / "bad.csv", "2006Q1", "bureau", errors="report")
    assert report.status == "rejected" and report.values_written == 0


def test_schema_checks(ledger):
    frame = returns(2)
    frame["gross_output"] = 1.0  # not an allowed item
    frame["period"] = ["2006Q1", "2006Q2"]
    report = ledger.ingest(frame, "2006Q1", "bureau", errors="report")
    assert report.rejected["column"].tolist() == ["gross_output"]
    frame = frame.drop(columns="gross_output")
    dup = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    report = ledger.ingest(dup, "2006Q1", "bureau", errors="report")
    reasons = set(zip(report.rejected["row"], report.rejected["reason"], strict=True))
    assert (3, "period differs from '2006Q1'") in reasons
    assert (2, "firm appears more than once") in reasons and (4, "firm appears more than once") in reasons
    with pytest.raises(PeriodError, match="YYYYQn"):
        ledger.ingest(returns(2), "2006-1", "bureau")
    assert count(ledger) == 0


def test_register_snapshot_join_and_membership(ledger):
    units = pd.DataFrame(
        {"firm_id": ids(4), "stratum": ["a", "a", "b", "b"], "w": [2.0, 2, 5, 5], "employees": 7}
    )
    assert ledger.register_units(units, "2006Q1", author="tester") == 4
    assert ledger.register_units(units, "2006Q1") == 0  # same snapshot: no-op
    with pytest.raises(LedgerError, match="different register snapshot"):
        ledger.register_units(units.assign(w=1.0), "2006Q1")
    report = ledger.ingest(returns(5), "2006Q1", "bureau", errors="report")
    assert report.rejected["reason"].tolist() == ["firm is not in the register snapshot of 2006Q1"]
    ledger.ingest(returns(3), "2006Q1", "bureau")
    frame = ledger.to_frame("2006Q1")
    assert frame["stratum"].tolist() == ["a", "a", "b", "b"]
    assert frame["employees_register"].tolist() == [7] * 4  # renamed: clashes with a return item
    np.testing.assert_allclose(frame["employees"].iloc[:3], returns(3)["employees_ytd"])
    assert frame["gross_output_marker"].tolist() == ["returned"] * 3 + ["missing"]
    assert np.isnan(frame["gross_output"].iloc[3])


def test_yuan_file_is_stored_in_thousand_yuan(ledger):
    frame = returns(2)
    yuan = frame.assign(gross_output_ytd=frame["gross_output_ytd"] * 1000)
    ledger.ingest(yuan, "2006Q1", "bureau", money_unit="yuan")
    out = ledger.to_frame("2006Q1")
    np.testing.assert_allclose(out["gross_output_ytd"], frame["gross_output_ytd"])
    np.testing.assert_allclose(out["employees_ytd"], frame["employees_ytd"])  # persons untouched
    hist = ledger.history(frame["firm_id"][0], "2006Q1")
    assert set(hist.loc[hist["item"] == "gross_output_ytd", "unit"]) == {"yuan"}


def test_revisions_are_appended_and_as_of_returns_the_older_one(ledger):
    q = returns(3)
    ledger.ingest(q, "2006Q1", "bureau", author="clerk")
    stamp = ledger._now()
    time.sleep(0.01)
    fix = pd.DataFrame({"firm_id": [q["firm_id"][1]], "gross_output_ytd": [1.5]})
    rev = ledger.revise(fix, "2006Q1", author="editor", reason="unit error")
    assert rev.values_written == 1 and rev.by_marker == {"edited": 1}
    again = ledger.revise(fix, "2006Q1", author="editor", reason="unit error")
    assert again.values_written == 0 and again.values_unchanged == 1
    now = ledger.to_frame("2006Q1")
    assert now["gross_output_ytd"].tolist()[1] == 1.5
    assert now["gross_output_marker"].tolist() == ["returned", "edited", "returned"]
    for as_of in (stamp, rev.txn - 1, stamp.isoformat()):
        old = ledger.to_frame("2006Q1", as_of=as_of)
        assert old["gross_output_ytd"].tolist()[1] == q["gross_output_ytd"][1]
        assert old["gross_output_marker"].tolist()[1] == "returned"
    hist = ledger.history(q["firm_id"][1], "2006Q1")
    rows = hist[hist["item"] == "gross_output_ytd"]
    assert rows["revision"].tolist() == [1, 2]
    assert rows["recorded_by"].tolist() == ["clerk", "editor"]
    assert rows["reason"].tolist() == ["return in file 1 (<DataFrame>) via bureau", "unit error"]
    # a resubmitted return with one changed value is one new revision
    changed = q.copy()
    changed.loc[2, "export_delivery_ytd"] += 1
    report = ledger.ingest(changed, "2006Q1", "bureau")
    assert report.values_written == 1 and report.values_unchanged == 11
    last = ledger.history(q["firm_id"][2], "2006Q1").query("item == 'export_delivery_ytd'")
    assert last["revision"].tolist() == [1, 2] and last["file_id"].tolist() == [1, 2]


def test_revise_with_per_value_markers(ledger):
    q = returns(3)
    ledger.ingest(q.iloc[:1], "2006Q1", "bureau")
    imputed = pd.DataFrame(
        {
            "firm_id": q["firm_id"][1:],
            "gross_output_ytd": [10.0, 20.0],
            "gross_output_ytd_marker": ["forward_imputed", "constructed"],
        }
    )
    rev = ledger.revise(imputed, "2006Q1", author="system", reason="ONS imputation", marker=None)
    assert rev.by_marker == {"constructed": 1, "forward_imputed": 1}
    out = ledger.to_frame("2006Q1")
    assert out["gross_output_marker"].tolist() == ["returned", "forward_imputed", "constructed"]
    with pytest.raises(LedgerError, match="markers outside"):
        ledger.revise(imputed.assign(gross_output_ytd_marker="guessed"), "2006Q1", author="x",
                      reason="y", marker=None)  # fmt: skip


def test_kept_quarters_follow_revisions_and_serve_the_next_ledger_of_the_file(tmp_path,
                                                                             monkeypatch):
    """to_frame keeps the quarters it read for every ledger of the file (the impute step
    reads what the edit step read); a revision updates them in place, any other write or
    another file made at the same path is read again."""
    reads = []
    read_wide = Ledger._read_wide
    monkeypatch.setattr(Ledger, "_read_wide", lambda self, *a: reads.append(a[1]) or read_wide(
        self, *a))
    path, q = tmp_path / "l.duckdb", returns(4)
    with Ledger.open(path, form=DEMO_FORM) as first:
        first.ingest(q, "2006Q1", "bureau")
        first.ingest(q.assign(gross_output_ytd=q["gross_output_ytd"] * 2), "2006Q2", "bureau")
        first.to_frame("2006Q2")  # reads and keeps Q1 and Q2
        first.revise(pd.DataFrame({"firm_id": q["firm_id"][:2], "gross_output_ytd": [1.5, 2.5],
                                   "revenue_ytd": [3.0, np.nan]}), "2006Q1",
                     author="editor", reason="unit error")
        imputed = pd.DataFrame({"firm_id": q["firm_id"][2:], "revenue_ytd": [7.0, 8.0],
                                "revenue_ytd_marker": ["forward_imputed", "constructed"]})
        first.revise(imputed, "2006Q2", author="system", reason="imputation", marker=None)
    assert reads == ["2006Q1", "2006Q2"]
    with Ledger.open(path, form=DEMO_FORM) as second:
        kept = [second.to_frame(p) for p in ("2006Q1", "2006Q2")]
        assert reads == ["2006Q1", "2006Q2"]  # both from the first ledger's reads
        second._wide_frames.clear()
        for frame, period in zip(kept, ("2006Q1", "2006Q2"), strict=True):
            pd.testing.assert_frame_equal(frame, second.to_frame(period))
        assert kept[0]["gross_output_marker"].tolist() == ["edited"] * 2 + ["returned"] * 2
        assert kept[1]["revenue_marker"].tolist()[2:] == ["forward_imputed", "constructed"]
        second.revise(pd.DataFrame({"firm_id": ids(1, start=9), "revenue_ytd": [1.0]}),
                      "2006Q2", author="editor", reason="a firm new to the quarter")
        assert second.to_frame("2006Q2")["firm_id"].tolist()[-1] == ids(1, start=9)[0]
    path.unlink()
    with Ledger.open(path, form=DEMO_FORM) as third:  # another file, the same transactions
        third.ingest(q.assign(gross_output_ytd=9.0), "2006Q1", "bureau")
        third.ingest(q, "2006Q2", "bureau")
        assert third.to_frame("2006Q1")["gross_output_ytd"].tolist() == [9.0] * 4


def test_failure_inside_transaction_leaves_ledger_unchanged(tmp_path):
    class Failing(Ledger):
        def _hook_inside_transaction(self):
            raise RuntimeError("disk full")

    with Failing.open(tmp_path / "f.duckdb", form=DEMO_FORM) as led:
        with pytest.raises(RuntimeError):
            led.ingest(returns(3), "2006Q1", "bureau")
        assert count(led) == 0 and len(led.files()) == 0
    with Ledger.open(tmp_path / "f.duckdb", form=DEMO_FORM) as led:
        assert led.ingest(returns(3), "2006Q1", "bureau").values_written == 12


def test_killed_process_mid_ingest_leaves_ledger_readable_and_unchanged(tmp_path):
    db = tmp_path / "crash.duckdb"
    with Ledger.open(db, form=DEMO_FORM) as led:
        led.ingest(returns(50), "2006Q1", "bureau")
        before = count(led)
        frame_before = led.to_frame("2006Q1")
    big = returns(20000, seed=5, start=100)
    big.to_csv(tmp_path / "q2.csv", index=False)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from survey.returns.ledger import Ledger
        class Slow(Ledger):
            def _hook_inside_transaction(self):
                print("inside", flush=True)
                time.sleep(120)
        from survey.form import DEMO_FORM
        led = Slow.open({str(db)!r}, form=DEMO_FORM)
        led.ingest({str(tmp_path / "q2.csv")!r}, "2006Q2", "bureau")
        print("committed", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == "inside"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with Ledger.open(db, read_only=True, form=DEMO_FORM) as led:
        assert count(led) == before
        assert len(led.files()) == 1
        pd.testing.assert_frame_equal(led.to_frame("2006Q1"), frame_before)
        assert len(led.to_frame("2006Q2")) == 0
    with Ledger.open(db, form=DEMO_FORM) as led:  # and the file can be loaded afterwards
        assert led.ingest(tmp_path / "q2.csv", "2006Q2", "bureau").values_written == 80000


def test_concurrent_readers_see_whole_files_only(ledger):
    n_files, rows = 8, 2000
    frames = [returns(rows, seed=k, start=k * rows) for k in range(n_files)]
    seen: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                cur = ledger._cursor()
                n, files = cur.execute(
                    "SELECT (SELECT count(*) FROM returns), (SELECT count(*) FROM files)"
                ).fetchall()[0]
                cur.close()
            except duckdb.Error as exc:  # pragma: no cover - reported below
                problems.append(repr(exc))
                return
            seen.append(n)
            if n != files * rows * 4:
                problems.append(f"partial state: {n} values with {files} files")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for frame in frames:
        ledger.ingest(frame, "2006Q1", "bureau")
    done.set()
    for t in threads:
        t.join()
    assert not problems, problems[:3]
    assert len(seen) > 0
    assert set(seen) <= {k * rows * 4 for k in range(n_files + 1)}
    assert count(ledger) == n_files * rows * 4


def test_ytd_to_quarters_hand_computation():
    q3 = pd.DataFrame(
        {
            "firm_id": ["a", "b", "c"],
            "gross_output_ytd": [60.0, 25.0, 9.0],
            "gross_output_ytd_last_year": [50.0, 20.0, np.nan],
        }
    )
    q2 = pd.DataFrame(
        {"firm_id": ["b", "a"], "gross_output_ytd": [30.0, 35.0], "gross_output_ytd_last_year": [12.0, 30.0]}
    )
    out = ytd_to_quarters(q3, q2, variables=["gross_output"])
    np.testing.assert_allclose(out.frame["gross_output"], [25.0, -5.0, np.nan])
    np.testing.assert_allclose(out.frame["gross_output_last_year"], [20.0, 8.0, np.nan])
    assert out.problems[["firm_id", "problem"]].values.tolist() == [
        ["b", "cumulative_decrease"],
        ["c", "missing_previous_quarter"],
    ]
    assert "cumulative_decrease: 1" in str(out)
    assert "gross_output" not in q3.columns  # input not modified
    assert previous_quarter("2007Q4", same_year=True) == "2007Q3"


def test_to_frame_warns_on_cumulative_decrease(ledger):
    q1 = returns(3)
    ledger.ingest(q1, "2006Q1", "bureau")
    q2 = q1.assign(gross_output_ytd=q1["gross_output_ytd"] - [0, 1, -1])
    ledger.ingest(q2, "2006Q2", "bureau")
    with pytest.warns(SurveyWarning, match="1 year-to-date values of 2006Q2"):
        out = ledger.to_frame("2006Q2")
    np.testing.assert_allclose(out["gross_output"], [0.0, -1.0, 1.0])


def test_read_only_ledger_refuses_writes(tmp_path):
    with Ledger.open(tmp_path / "r.duckdb", form=DEMO_FORM) as led:
        led.ingest(returns(2), "2006Q1", "bureau")
    with Ledger.open(tmp_path / "r.duckdb", read_only=True, form=DEMO_FORM) as led:
        with pytest.raises(LedgerError, match="read-only"):
            led.ingest(returns(2, start=5), "2006Q1", "bureau")
        assert len(led.current("2006Q1")) == 8


def test_survey_estimate_from_ledger_frame(ledger):
    sv = pytest.importorskip("survey")
    if not hasattr(sv, "Survey"):
        pytest.skip("estimation core not available")
    units = pd.DataFrame({"firm_id": ids(4), "stratum": ["a", "a", "b", "b"], "w": [2.0, 2, 5, 5]})
    ledger.register_units(units, "2006Q1")
    q = returns(4)
    ledger.ingest(q, "2006Q1", "bureau")
    frame = ledger.to_frame("2006Q1")
    est = sv.Survey(frame, sv.Design(strata="stratum", weights="w")).total("gross_output")
    expected = (q["gross_output_ytd"] * [2, 2, 5, 5]).sum()
    np.testing.assert_allclose(est.estimate[0], expected)


def test_impute_and_write_back_with_markers(ledger):
    from survey.returns.impute import ratio_of_means

    units = pd.DataFrame({"firm_id": ids(4), "size": [10.0, 20.0, 30.0, 40.0]})
    for period in ("2006Q1", "2006Q2"):
        ledger.register_units(units, period)
    q1 = returns(4).iloc[[0, 1, 2]]  # firm 3 never returns
    q2 = returns(4).iloc[[0, 1]].assign(gross_output_ytd=lambda d: d["gross_output_ytd"] * 2)
    ledger.ingest(q1, "2006Q1", "bureau")
    ledger.ingest(q2, "2006Q2", "bureau")
    panel = pd.concat([ledger.to_frame(p) for p in ("2006Q1", "2006Q2")], ignore_index=True)
    result = ratio_of_means(panel, "gross_output_ytd", auxiliary="size")
    for period, frame in result.data.groupby("period"):
        report = ledger.revise(
            frame[["firm_id", "gross_output_ytd", "gross_output_marker"]], period,
            author="system", reason="ONS ratio of means", marker=None,
        )  # fmt: skip
        assert report.values_unchanged == len(frame) - report.values_written
    out = ledger.to_frame("2006Q2")
    assert out["gross_output_marker"].tolist() == [
        "returned", "returned", "forward_imputed", "forward_imputed",
    ]  # fmt: skip
    # firm 2 returned 2006Q1; the link is 2 (all values doubled): 2 x its Q1 value
    np.testing.assert_allclose(out["gross_output_ytd"].iloc[2], 2 * q1["gross_output_ytd"].iloc[2])
    q1_out = ledger.to_frame("2006Q1")
    assert q1_out["gross_output_marker"].tolist()[3] == "constructed"
    hist = ledger.history(ids(4)[3], "2006Q2")
    assert hist["reason"].tolist() == ["ONS ratio of means"]


# --------------------------------------------------------------------------- bad files
def test_truncated_csv_is_rejected_whole_naming_the_line(ledger, tmp_path):
    """Issue 13 item 5: the last bytes of a file cut off turned 1000.0 into 10."""
    q = returns(3)
    q["gross_output_ytd"] = [1000.0, 2000.5, 1000.0]
    text = q.to_csv(index=False, lineterminator="\n")
    cut = text.rstrip("\n")
    cut = cut[: cut.rindex(",") + 1] + "10"  # the last field was "100.0" (employees)
    (tmp_path / "cut.csv").write_text(cut, encoding="utf-8")
    report = ledger.ingest(tmp_path / "cut.csv", "2006Q1", "bureau", errors="report")
    assert report.status == "rejected" and report.values_written == 0
    assert report.rejected["row"].tolist() == [4]
    assert report.rejected["column"].tolist() == ["employees_ytd"]
    assert "cut short" in report.rejected["reason"].iloc[0]
    with pytest.raises(LedgerError, match=r"cut\.csv.*line 4") as info:
        ledger.ingest(tmp_path / "cut.csv", "2006Q1", "bureau")
    assert info.value.report.status == "rejected"
    # a short last record (a field missing) is rejected too
    short = text.rstrip("\n").rsplit(",", 1)[0]
    (tmp_path / "short.csv").write_text(short, encoding="utf-8")
    with pytest.raises(LedgerError, match="line 4 has 4 fields but the header has 5"):
        ledger.ingest(tmp_path / "short.csv", "2006Q1", "bureau")
    assert count(ledger) == 0
    # the complete file loads
    (tmp_path / "whole.csv").write_text(text, encoding="utf-8")
    assert ledger.ingest(tmp_path / "whole.csv", "2006Q1", "bureau").values_written == 12


def test_raw_header_reaches_the_ledger_checks(ledger, tmp_path):
    """Issue 13 item 14: pandas renamed a repeated column to 'x.1' and an empty one to
    'Unnamed: 4', hiding the ledger's own checks."""
    q = returns(2)
    text = q.to_csv(index=False, lineterminator="\n")
    lines = text.splitlines()
    lines[0] = lines[0].replace("export_delivery_ytd", "gross_output_ytd")  # twice
    lines = [line + "," for line in lines]  # an empty last column
    (tmp_path / "dup.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ledger.ingest(tmp_path / "dup.csv", "2006Q1", "bureau", errors="report")
    reasons = dict(zip(report.rejected["column"], report.rejected["reason"], strict=True))
    assert reasons == {"column 6": "column has no name in the header",
                       "gross_output_ytd": "column appears twice"}


def test_gb18030_and_bom_files_are_read(ledger, tmp_path):
    q = returns(2)
    q.insert(1, "period", "2006Q1")
    text = q.to_csv(index=False, lineterminator="\r\n")
    (tmp_path / "gbk.csv").write_bytes(text.encode("gb18030"))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    first = ledger.ingest(tmp_path / "gbk.csv", "2006Q1", "bureau")
    assert first.values_written == 8
    # the same values with a BOM: a different file, every value unchanged
    again = ledger.ingest(tmp_path / "bom.csv", "2006Q1", "bureau")
    assert again.status == "unchanged" and again.values_unchanged == 8
    np.testing.assert_allclose(ledger.to_frame("2006Q1")["gross_output_ytd"], q["gross_output_ytd"])


def test_author_money_unit_and_form_are_the_only_names(ledger):
    frame = returns(2)
    ledger.ingest(frame.assign(gross_output_ytd=frame["gross_output_ytd"] * 1000), "2006Q1",
                  "bureau", money_unit="yuan", author="clerk")
    np.testing.assert_allclose(ledger.to_frame("2006Q1")["gross_output_ytd"],
                               frame["gross_output_ytd"])
    fix = frame[["firm_id"]].assign(export_delivery_ytd=[1.0, 2.0])
    ledger.revise(fix, "2006Q1", author="editor", reason="typo")
    hist = ledger.history(frame["firm_id"][0], "2006Q1")
    assert set(hist["recorded_by"]) == {"clerk", "editor"}
    # the old names (unit=, by=) and a ledger without its return form are gone
    with pytest.raises(TypeError, match="unit"):
        ledger.ingest(frame, "2006Q1", "bureau", unit="yuan")
    with pytest.raises(TypeError, match="by"):
        ledger.revise(fix, "2006Q1", by="editor", reason="typo")
    with pytest.raises(TypeError, match="author"):
        ledger.revise(fix, "2006Q1", reason="x")
    with pytest.raises(LedgerError, match="give author="):
        ledger.revise(fix, "2006Q1", author="", reason="x")
    with pytest.raises(TypeError, match="form"):
        Ledger.open(":memory:")
    with pytest.raises(LedgerError, match="form must be a survey.form.Form"):
        Ledger.open(":memory:", form=["gross_output"])


def test_a_form_other_than_the_demo(tmp_path):
    form = Form(indicators=["output", "staff"], stocks=["staff"], nonnegative=["output", "staff"],
                money=["output"], money_unit="yuan", units={"staff": "head"}, id="ent",
                period="quarter")
    q1 = pd.DataFrame({"ent": ["A", "B"], "quarter": "2024Q1", "output_ytd": [10.0, 20.0],
                       "output_ytd_last_year": [8.0, 15.0], "staff_ytd": [3.0, 4.0]})
    q2 = q1.assign(quarter="2024Q2", output_ytd=[25.0, 30.0], staff_ytd=[5.0, 4.0])
    with Ledger.open(tmp_path / "other.duckdb", form=form) as led:
        led.register_units(pd.DataFrame({"ent": ["A", "B"], "region": ["n", "s"]}), "2024Q1")
        led.register_units(pd.DataFrame({"ent": ["A", "B"], "region": ["n", "s"]}), "2024Q2")
        led.ingest(q1, "2024Q1", "web")
        # a file in thousand yuan is stored in the form's unit (yuan)
        led.ingest(q2.assign(output_ytd=q2["output_ytd"] / 1000), "2024Q2", "web",
                   money_unit="thousand_yuan")
        out = led.to_frame("2024Q2")
        hist = led.history("A", "2024Q2")
        bad = led.ingest(q1.assign(ent=["A", None]), "2024Q1", "web", errors="report")
    assert out.columns[:3].tolist() == ["ent", "quarter", "region"]
    np.testing.assert_allclose(out["output"], [15.0, 10.0])  # flow: differenced
    np.testing.assert_allclose(out["staff"], [5.0, 4.0])  # stock: the level
    np.testing.assert_allclose(out["output_ytd_previous"], [10.0, 20.0])
    assert dict(zip(hist["item"], hist["unit"], strict=True)) == {
        "output_ytd": "thousand_yuan", "output_ytd_last_year": "thousand_yuan", "staff_ytd": "head"}
    assert bad.rejected[["row", "column", "reason"]].values.tolist() == [[3, "ent", "missing id"]]
