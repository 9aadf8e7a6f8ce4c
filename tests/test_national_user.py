"""Issue 18: the national chain on the user's own register and returns.

`run_national(folder, register=..., returns=...)` and `survey national`: a register written
by generate_national_register to a user path (Parquet, and the same as GBK CSV) with returns
written by generate_national_returns gives the synthetic run's estimates and growth to 1e-12;
each bad input raises a named error that says what and where; a changed register file reruns
the chain from the register step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey.datasets.national import (
    NATIONAL_REGISTER_COLUMNS,
    generate_national_register,
    generate_national_returns,
)
from survey.engine import Engine
from survey.errors import ColumnError, FrameError, PeriodError, TableError
from survey.pipeline.national import NATIONAL_STEPS, NationalError, run_national
from survey.register.sql import load_register

FIRMS = 3_000
SEED = 2018
PERIODS = ("2018Q1", "2018Q2")


def _engine(folder):
    return Engine(memory_limit="500MB", threads=2, temp_directory=str(folder / "spill"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("national_user")
    # the references stop after the estimates (disclosure and bulletin: test_national_cycle)
    synthetic = run_national(root / "synthetic", firms=FIRMS, seed=SEED, until="estimate",
                             engine=_engine(root), progress=False)
    mine = root / "mine"
    reg = generate_national_register(mine / "register.parquet", FIRMS, seed=SEED, names=True)
    generate_national_returns(reg, mine / "returns", PERIODS,
                              sample=root / "synthetic" / "sample.parquet", seed=SEED + 1)
    folder = root / "user"
    user = run_national(folder, register=reg.path, returns=mine / "returns", seed=SEED,
                        engine=_engine(root), progress=False)
    again = run_national(folder, register=reg.path, returns=mine / "returns", seed=SEED,
                         engine=_engine(root), progress=False)
    for name in ("bulletin.html", "bulletin.md"):  # before the GBK run below replaces them
        shutil.copy(folder / "bulletin" / name, root / f"cli_{name}")
    frame = pd.read_parquet(reg.path)
    frame.to_csv(mine / "register_gbk.csv", index=False, encoding="gbk")
    lines: list[str] = []
    gbk = run_national(folder, register=mine / "register_gbk.csv", returns=mine / "returns",
                       seed=SEED, engine=_engine(root), progress=lines.append, until="estimate")
    return {"root": root, "mine": mine, "frame": frame, "synthetic": synthetic, "user": user,
            "again": again, "gbk": gbk, "lines": lines, "folder": folder}


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
    numbers = want.select_dtypes("number").columns
    pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
    np.testing.assert_allclose(got[numbers].to_numpy(float), want[numbers].to_numpy(float),
                               rtol=1e-12, atol=0, equal_nan=True)


def test_own_parquet_register_gives_the_synthetic_estimates(runs):
    """Your files (the generator's register and returns at a path of yours) = the synthetic
    run with the same seed: estimates and growth to 1e-12, the same sample."""
    user, synthetic = runs["user"], runs["synthetic"]
    assert user.ran() == list(NATIONAL_STEPS)
    assert user.steps.loc[0, "rows"] == FIRMS
    _assert_same(user.estimates, synthetic.estimates)
    _assert_same(user.growth, synthetic.growth)
    # (3,000 firms in about 2,100 take-some strata of city x industry x size: a census, SE 0)
    sector = user.estimates.query("breakdown == 'sector'")
    sample = pd.read_parquet(runs["folder"] / "sample.parquet")
    frame = runs["frame"]
    assert len(sector) == 2 and (sector["estimate"] > 1e6).all()
    assert len(sample) + frame["above_size"].sum() == FIRMS  # new firms (NaN revenue) too
    assert (sector["n"] > 0.99 * FIRMS).all()
    assert np.isfinite(user.growth.query("breakdown == 'sector'")["growth"]).all()
    # the same firms selected (the folder's sample was written again by the GBK run)
    want = pd.read_parquet(runs["root"] / "synthetic" / "sample.parquet")
    got = pd.read_parquet(runs["folder"] / "sample.parquet")
    assert sorted(got["firm_id"]) == sorted(want["firm_id"])


def test_the_bulletin_of_your_own_data_does_not_call_it_synthetic(runs):
    html = (runs["root"] / "cli_bulletin.html").read_text(encoding="utf-8")
    assert "ynthetic" not in html
    assert f"Data. The business register of {FIRMS:,} firms" in html
    assert "National industrial survey: quarterly bulletin" in html
    md = (runs["root"] / "cli_bulletin.md").read_text(encoding="utf-8")
    assert md.startswith("# National industrial survey, 2018Q2\n")


def test_a_rerun_on_the_same_files_skips_every_step(runs):
    assert runs["again"].ran() == []
    _assert_same(runs["again"].estimates, runs["user"].estimates)


def test_gbk_csv_register_gives_the_same_estimates_and_reruns_from_the_register(runs):
    """The register as a GBK-encoded CSV file in the same folder: the register marker
    records another file, so every step reruns; estimates equal to 1e-12; the Chinese
    names survive the decoding; register.parquet has the chain's types."""
    gbk = runs["gbk"]
    assert gbk.ran() == list(NATIONAL_STEPS[:NATIONAL_STEPS.index("estimate") + 1])
    assert not (runs["folder"] / ".done" / "disclose.json").exists()  # until= stops there
    assert any("its input changed" in line for line in runs["lines"])
    _assert_same(gbk.estimates, runs["synthetic"].estimates)
    _assert_same(gbk.growth, runs["synthetic"].growth)
    reg = pd.read_parquet(runs["folder"] / "register.parquet")
    frame = runs["frame"]
    assert len(reg) == FIRMS and reg["name"].tolist() == frame["name"].tolist()
    assert reg["name"].str.contains("[\u4e00-\u9fff]").all()
    assert reg["revenue_prev_year"].dtype == float and reg["above_size"].dtype == bool
    np.testing.assert_array_equal(reg["revenue_prev_year"], frame["revenue_prev_year"])
    assert reg["zone"].isna().sum() == frame["zone"].isna().sum() > 0


def _write(frame: pd.DataFrame, path) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame.to_parquet(path, index=False)
    return str(path)


def _run(runs, register, returns=None, tmp=None, **kw):
    return run_national(tmp, register=register, returns=returns or runs["mine"] / "returns",
                        seed=SEED, engine=_engine(tmp), progress=False, **kw)


def test_missing_column(runs, tmp_path):
    path = _write(runs["frame"].drop(columns=["city"]), tmp_path / "in" / "reg.parquet")
    with pytest.raises(ColumnError, match=r"column\(s\) \['city'\] missing"):
        _run(runs, path, tmp=tmp_path / "out")


def test_column_of_the_wrong_type(runs, tmp_path):
    frame = runs["frame"].assign(above_size=runs["frame"]["above_size"].astype(float))
    path = _write(frame, tmp_path / "in" / "reg.parquet")
    with pytest.raises(ColumnError, match="column 'above_size' has type double; it must be BOOLEAN"):
        _run(runs, path, tmp=tmp_path / "out")


def test_text_that_is_not_a_number_names_its_line(runs, tmp_path):
    frame = runs["frame"].astype({"revenue_prev_year": object})
    frame.loc[41, "revenue_prev_year"] = "12,5"
    frame.to_csv(tmp_path / "reg.csv", index=False)
    with pytest.raises(ColumnError, match=r"1 value\(s\) of column 'revenue_prev_year' are not "
                       r"DOUBLE: '12,5' \(line 43 of reg.csv\)"):
        _run(runs, tmp_path / "reg.csv", tmp=tmp_path / "out")


def test_duplicate_firm_ids(runs, tmp_path):
    frame = runs["frame"].copy()
    ids = frame["firm_id"].to_numpy(dtype=object)
    dup = ids[3]
    frame.loc[[10, 20], "firm_id"] = dup
    frame.loc[30, "firm_id"] = ids[5]
    path = _write(frame, tmp_path / "in" / "reg.parquet")
    with pytest.raises(FrameError) as info:
        _run(runs, path, tmp=tmp_path / "out")
    text = str(info.value)
    assert "5 rows share duplicated firm ids in column 'firm_id'" in text
    assert f"{dup!r} 3 times (row 4 of reg.parquet, row 11 of reg.parquet, row 21 of " \
           "reg.parquet)" in text
    assert f"{ids[5]!r} 2 times (row 6 of reg.parquet, row 31 of reg.parquet)" in text


def test_bad_uscc_check_character(runs, tmp_path):
    frame = runs["frame"].copy()
    good = frame.loc[7, "firm_id"]
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    frame.loc[7, "firm_id"] = bad
    path = _write(frame, tmp_path / "in" / "reg.parquet")
    with pytest.raises(FrameError, match=rf"1 invalid USCC id\(s\) in column 'firm_id': "
                       rf"'{bad}' \(row 8 of reg.parquet\);.*check character"):
        _run(runs, path, tmp=tmp_path / "out")


def test_missing_stratum_in_the_take_some_part(runs, tmp_path):
    frame = runs["frame"].copy()
    some = frame.index[~frame["above_size"] & frame["revenue_prev_year"].notna()][2]
    frame.loc[some, "city"] = None
    path = _write(frame, tmp_path / "in" / "reg.parquet")
    with pytest.raises(FrameError, match=rf"1 missing value\(s\) of stratum column 'city' in the "
                       rf"take-some part: '{frame.loc[some, 'firm_id']}' "
                       rf"\(row {some + 1} of reg.parquet\)"):
        _run(runs, path, tmp=tmp_path / "out")
    # a take-all firm without a city is fine (it is not stratified)
    frame.loc[some, "city"] = frame.loc[some + 1, "city"]
    top = frame.index[frame["above_size"]][0]
    frame.loc[top, "city"] = None
    n = load_register(_write(frame, tmp_path / "in2" / "reg.parquet"), tmp_path / "ok.parquet",
                      columns=NATIONAL_REGISTER_COLUMNS, part="NOT above_size",
                      part_strata=["city"])
    assert n == FIRMS and pd.read_parquet(tmp_path / "ok.parquet")["city"].isna().sum() == 1


def _changed_q2(runs, tmp_path, change) -> Path:
    """A copy of the user run's returns whose 2018Q2 file ``change(frame)`` altered."""
    returns = tmp_path / "returns"
    shutil.copytree(runs["mine"] / "returns", returns)
    q2 = pd.read_parquet(returns / "returns_2018Q2.parquet")
    change(q2)
    q2.to_parquet(returns / "returns_2018Q2.parquet", index=False)
    return returns


def test_returns_of_a_firm_not_on_the_register(runs, tmp_path):
    stranger = "91450100MA5KA1B2CM"
    returns = _changed_q2(runs, tmp_path, lambda q2: q2.__setitem__(
        "firm_id", q2["firm_id"].where(q2.index != 5, stranger)))
    with pytest.raises(FrameError, match=rf"returns returns_2018Q2.parquet \(2018Q2\): 1 firm "
                       rf"id\(s\) not on the register: '{stranger}' \(row 6\)"):
        _run(runs, runs["mine"] / "register.parquet", returns, tmp=tmp_path / "out")


def test_returns_of_another_period(runs, tmp_path):
    returns = _changed_q2(runs, tmp_path, lambda q2: q2.__setitem__(
        "period", q2["period"].where(q2.index > 2, "2018Q1")))
    with pytest.raises(PeriodError, match=r"3 row\(s\) are not of period 2018Q2: '2018Q1' "
                       r"\(3 rows\)"):
        _run(runs, runs["mine"] / "register.parquet", returns, tmp=tmp_path / "out")


def test_a_period_missing(runs, tmp_path):
    returns = tmp_path / "returns"
    returns.mkdir()
    shutil.copy(runs["mine"] / "returns" / "returns_2018Q1.parquet", returns)
    with pytest.raises(PeriodError, match=r"no file for period 2018Q2 in .*returns_<period>"
                       r"\.parquet or \.csv\); found \['2018Q1: returns_2018Q1.parquet'\]"):
        _run(runs, runs["mine"] / "register.parquet", returns, tmp=tmp_path / "out")
    assert not (tmp_path / "out" / ".done").exists()  # checked before any step
    with pytest.raises(PeriodError, match="no file for period 2018Q2 in the mapping"):
        _run(runs, runs["mine"] / "register.parquet",
             {"2018q1": returns / "returns_2018Q1.parquet"}, tmp=tmp_path / "out")


def test_settings_errors(runs, tmp_path):
    with pytest.raises(NationalError, match="give both register and returns"):
        run_national(tmp_path, register=runs["mine"] / "register.parquet", progress=False)
    with pytest.raises(NationalError, match="with register it is your register's"):
        _run(runs, runs["mine"] / "register.parquet", tmp=tmp_path, firms=10_000)
    with pytest.raises(NationalError, match="until='report' is not a step; the steps are register, "):
        _run(runs, runs["mine"] / "register.parquet", tmp=tmp_path, until="report")
    with pytest.raises(FrameError, match="no Parquet or CSV file at"):
        _run(runs, tmp_path / "nothing.parquet", tmp=tmp_path)
    (tmp_path / "bad.csv").write_bytes("firm_id,城市\n".encode("gbk") + b"\x81\x20x\n")
    with pytest.raises(TableError, match=r"bad.csv: the encoding is neither UTF-8 nor GB18030/GBK "
                       r"\(near line 2"):
        _run(runs, tmp_path / "bad.csv", tmp=tmp_path / "out")


def test_a_changed_register_file_reruns_from_the_register_step(runs, tmp_path):
    """The same path, new content: the register marker's size and time differ, so the chain
    reruns from the register step (here up to the returns step, whose file names a firm on
    neither register)."""
    path = _write(runs["frame"], tmp_path / "in" / "reg.parquet")
    returns = tmp_path / "returns"
    shutil.copytree(runs["mine"] / "returns", returns)
    q1 = pd.read_parquet(returns / "returns_2018Q1.parquet")
    q1.loc[0, "firm_id"] = "91450100MA5KA1B2CM"
    q1.to_parquet(returns / "returns_2018Q1.parquet", index=False)
    out = tmp_path / "out"
    lines: list[str] = []
    with pytest.raises(FrameError, match="not on the register: '91450100MA5KA1B2CM'"):
        run_national(out, register=path, returns=returns, seed=SEED, engine=_engine(tmp_path),
                     progress=lines.append)
    assert lines[1].split()[:3] == ["register", f"{FIRMS:,}", "rows"]
    done = sorted(p.stem for p in (out / ".done").iterdir())
    assert done == ["plan", "prn", "register", "select"]
    marker = (out / ".done" / "register.json").read_text()
    assert str(os.path.getsize(path)) in marker and "reg.parquet" in marker
    _write(runs["frame"].iloc[1:], path)  # the same file name, one firm fewer
    lines.clear()
    with pytest.raises(FrameError, match="not on the register: '91450100MA5KA1B2CM'"):
        run_national(out, register=path, returns=returns, seed=SEED, engine=_engine(tmp_path),
                     progress=lines.append)
    assert " ".join(lines[1].split()) == ("register its input changed since the last run: "
                                          "rerun from here")
    assert lines[2].split()[:3] == ["register", f"{FIRMS - 1:,}", "rows"]
    assert sorted(p.stem for p in (out / ".done").iterdir()) == done
    assert len(pd.read_parquet(out / "register.parquet")) == FIRMS - 1


def test_cli_national(runs, capsys):
    from survey.cli import main

    copy = runs["root"] / "cli_copy"
    shutil.copytree(runs["folder"], copy)
    assert main(["national", "--register", str(runs["mine"] / "register_gbk.csv"), "--returns",
                 str(runs["mine"] / "returns"), "--output", str(copy),
                 "--memory-limit", "500MB", "--until", "estimate"]) == 0
    out = capsys.readouterr().out
    assert f"survey national: {FIRMS:,} firms on the register, steps up to estimate of 2018Q2" in out
    assert "skipped" in out
