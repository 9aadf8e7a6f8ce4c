"""The quarterly cycle (`survey demo`): run once on the demo config, check it against the API.

The session fixture ``demo`` (tests/conftest.py) runs the demo cycle once
(:func:`survey.pipeline.demo.demo_result`). The checks compare the bulletin
with the one of the code before the move into rooms (byte for byte),
recompute what the bulletin says with the estimation API on the frames the
cycle returns, compare the Excel workbook with the CSV files, look into the
ledger for the revisions, compare the edit step with the errors the
simulation injected, and run the separate commands on the cycle's files to
check that they give the same bulletin.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

import survey as sv
from survey.cli import main
from survey.datasets import load_quarterly, load_register
from survey.estimation.combined import combined_total
from survey.pipeline import DEMO_CONFIG
from survey.pipeline.config import load_config, with_settings
from survey.pipeline.run import run_command
from survey.pipeline.steps import read_samples
from survey.publish.report.excel import HEADER_ROW
from survey.form import DEMO_FORM
from survey.returns.ledger import Ledger

YI = 1e5  # thousand yuan per 亿元

@pytest.mark.pinned
def test_bulletin_is_byte_identical_to_before_the_move(demo, base_bulletin):
    """Behaviour unchanged: every CSV file and the HTML file of the demo bulletin have the
    bytes the code had before the cycle was split into library functions."""
    folder = demo.output / "bulletin"
    got = {name: base_bulletin.sha256(folder / name) for name in base_bulletin.hashes}
    assert got == base_bulletin.hashes
    assert sorted(p.name for p in folder.glob("*.csv")) == sorted(
        n for n in base_bulletin.hashes if n.endswith(".csv"))


@pytest.mark.pinned
def test_bulletin_workbook_has_the_same_cells_and_is_reproducible(demo, base_bulletin, tmp_path,
                                                                 monkeypatch):
    """bulletin.xlsx: the same cells as before the move, and now the same bytes for the same
    content (document and zip entries dated the end of the period, or SOURCE_DATE_EPOCH)."""
    from survey.publish.report.excel import write_workbook

    path = demo.files.excel
    assert base_bulletin.cells_hash(path) == base_bulletin.xlsx_cells
    with zipfile.ZipFile(path) as z:
        assert {i.date_time for i in z.infolist()} == {(2006, 12, 31, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert core.count("2006-12-31T00:00:00Z") == 2
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    again = write_workbook(demo.content, tmp_path / "again.xlsx")
    assert again.read_bytes() == path.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    other = write_workbook(demo.content, tmp_path / "other.xlsx")
    with zipfile.ZipFile(other) as z:
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    assert base_bulletin.cells_hash(other) == base_bulletin.xlsx_cells


def _among(ids: pd.Series, others: pd.Series) -> np.ndarray:
    """``ids.isin(others)`` for long id columns (pandas' arrow strings test 40,000 values one
    Python object at a time, a second a call; numpy's isin on objects is slower still)."""
    return pd.Index(others.astype(str).to_numpy()).get_indexer(ids.astype(str).to_numpy()) >= 0


def _take_some(year: int, key_units: pd.Series) -> pd.DataFrame:
    """The take-some part of the demo's scope: the whole register of the year (births and
    deaths included) below designated size, without the take-none firms (known size under
    300) and the key units; new firms have size ``missing_size = 0``."""
    register = load_register(year)
    size = register["revenue_prev_year"]
    none = (size < 300).to_numpy() & size.notna().to_numpy()
    register = register.assign(revenue_prev_year=size.fillna(0.0))
    return register[~register["above_size"].to_numpy() & ~none
                    & ~register["firm_id"].isin(key_units).to_numpy()]


def _key_units(demo, year: int) -> pd.Series:
    sample = demo.samples[year]
    return sample.loc[sample["key_unit"].fillna(False).astype(bool), "firm_id"]


def _independent_survey(demo, sample: pd.DataFrame, period: str) -> sv.Survey:
    """The weighted sample of a period, rebuilt from the register with the API only."""
    take_some = _take_some(int(period[:4]), _key_units(demo, int(period[:4])))
    data = sample[sample["period"] == period].reset_index(drop=True)
    design = sv.Design(strata="stratum", weights="design_weight", fpc="N_h", lonely_psu="adjust")
    s = sv.Survey(data, design).adjust_nonresponse("responded", by=["city", "stratum"],
                                                   small_cells="collapse")
    counts = take_some["city"].value_counts()
    return s.calibrate({"city": {k: float(v) for k, v in counts.items()},
                        "revenue_prev_year": float(take_some["revenue_prev_year"].sum())},
                       method="linear", bounds=(0.3, 3.0))


def test_headline_equals_the_estimation_api(demo):
    """The bulletin's quarter headline = combined_total on the cycle's frames, with the
    sample reweighted independently (register margins computed here, not by the cycle) and
    the take-none part (register firms under 300) predicted by the cut-off model fitted
    here on the 30 smallest responding firms of each industry."""
    from survey.estimation.combined import cutoff_model
    from survey.estimation.takenone import smallest_inputs

    period = demo.period
    assert period == "2006Q4"
    s = _independent_survey(demo, demo.sample, period)
    take_all = demo.take_all[demo.take_all["period"] == period].reset_index(drop=True)
    names = ["gross_output", "export_delivery"]
    published = ["gross_output", "export_delivery", "profit_tax"]  # the inputs: none imputed
    register = load_register(2006)
    size = register["revenue_prev_year"]
    take_none = register[~register["above_size"] & (size < 300) & size.notna()]
    observed = pd.concat([take_all, s.data], ignore_index=True)
    ok = observed["responded"].astype(bool).to_numpy() & ~observed[
        [f"{v}_imputed" for v in published]].fillna(True).to_numpy(dtype=bool).any(axis=1)
    inputs = smallest_inputs(observed[ok], size="revenue_prev_year", by="industry", smallest=30)
    model = cutoff_model(inputs, take_none, names, auxiliary="revenue_prev_year",
                         model_by="industry")
    est = combined_total(names, take_all=take_all, sample=s, model=model,
                         imputed={"gross_output": "gross_output_imputed",
                                  "export_delivery": "export_delivery_imputed"}, period=period)
    table = est.table().set_index("variable")
    head = demo.headline().set_index("label")
    for variable, label in (("gross_output", "2006Q4工业总产值"), ("export_delivery", "2006Q4出口交货值")):
        row = table.loc[variable]
        np.testing.assert_allclose(head.loc[label, "estimate"] * YI, row["estimate"], rtol=1e-10)
        np.testing.assert_allclose(head.loc[label, "ci_low"] * YI, row["ci_low"], rtol=1e-10)
        np.testing.assert_allclose(head.loc[label, "ci_high"] * YI, row["ci_high"], rtol=1e-10)
        np.testing.assert_allclose(head.loc[label, "growth"], row["growth"], rtol=1e-10)
    # the take-all part is the plain sum of the take-all firms' values (no weights)
    assert table.loc["gross_output", "take_all"] == pytest.approx(take_all["gross_output"].sum())
    # the sampled part reproduces the register's revenue total (calibration)
    take_some = _take_some(2006, _key_units(demo, 2006))
    got = float(np.sum(s.weights * s.data["revenue_prev_year"].to_numpy()))
    assert got == pytest.approx(take_some["revenue_prev_year"].sum(), rel=1e-9)


def test_estimate_covers_the_truth(demo):
    """Known truth of the synthetic population: the sector total of 2006Q4 is within
    three standard errors, and the year to date within 3% of the truth."""
    frame = demo.plans[2006].frame.data
    truth = load_quarterly(year=2006)
    truth = truth[_among(truth["firm_id"], frame["firm_id"])]
    q4 = truth[truth["quarter"] == 4]["gross_output"].sum()
    row = demo.estimates.by_period["sector"]["2006Q4"].table().set_index("variable").loc["gross_output"]
    assert abs(row["estimate"] - q4) < 3 * row["se"]
    ytd = demo.estimates.year_to_date.table().set_index("variable").loc["gross_output_ytd"]
    assert ytd["estimate"] == pytest.approx(truth["gross_output"].sum(), rel=0.03)


def test_bulletin_files_and_excel_equals_csv(demo):
    files = demo.files
    assert files.html.is_file() and files.excel.is_file()
    html = files.html.read_text(encoding="utf-8")
    head = demo.headline()
    first = head.iloc[0]
    assert f"{first['estimate']:,.2f}" in html
    wb = openpyxl.load_workbook(files.excel)
    from survey.publish.report.excel import sheet_names

    sheets = sheet_names(demo.content)  # in the bulletin's language
    assert sheets["city"] == "按市分" and sheets["ytd_city"] == "按市分（累计）"
    for table in demo.content.tables:
        csv = pd.read_csv(files.csv[table.name], encoding="utf-8-sig")
        ws = wb[sheets[table.name]]
        assert [c.value for c in ws[HEADER_ROW]][: len(csv.columns)] is not None
        for j, column in enumerate(csv.columns, start=1):
            if column not in ("estimate", "se", "cv", "ci_low", "ci_high", "growth"):
                continue
            for i, expected in enumerate(csv[column].tolist()):
                cell = ws.cell(row=HEADER_ROW + 1 + i, column=j).value
                if isinstance(expected, float) and math.isnan(expected):
                    assert not isinstance(cell, float), (table.name, column, i, cell)
                else:
                    assert cell == pytest.approx(expected, rel=1e-12), (table.name, column, i)
    # the CSV of a table holds the published (scaled) estimates of the cycle
    city = pd.read_csv(files.csv["city"], encoding="utf-8-sig")
    est = demo.estimates.by_period["city"]["2006Q4"].table()
    from survey.datasets import display_names

    est["city"] = est["city"].replace(display_names(demo.config.language)["city"])
    merged = city.merge(est, on=["city", "variable"], suffixes=("", "_api"))
    shown = merged["estimate"].notna()
    assert shown.sum() > 0
    np.testing.assert_allclose(merged.loc[shown, "estimate"] * YI, merged.loc[shown, "estimate_api"],
                               rtol=1e-12)


def test_suppressed_cells_are_hidden_everywhere(demo):
    """A cell suppressed by disclosure control shows 'x' and no number in the disclosure
    files, and the bulletin marks exactly the suppressed cells of its tables. (With about
    2,700 sampled firms a year the bulletin's margins need no suppression; the interior
    cells of the city x industry table do.)"""
    protected = demo.protected["table0:gross_output"]  # city x industry
    assert protected.suppressed.any()
    assert bool(protected.audit["protected"].all())
    shown = pd.read_csv(demo.output / "disclosure" / "table0_gross_output.csv", index_col=0,
                        dtype=str)
    cells = protected.cells
    hidden = cells.loc[protected.suppressed, ["city", "industry"]].astype(str)
    assert len(hidden) > 0
    for city, industry in hidden.itertuples(index=False):
        assert shown.loc[city, industry] == "x", (city, industry)
    secret = cells.loc[protected.suppressed].iloc[0]
    for table in demo.content.tables:  # the suppressed values are in no bulletin table
        csv = pd.read_csv(demo.files.csv[table.name], encoding="utf-8-sig")
        if "estimate" in csv.columns and len(csv):
            values = csv["estimate"].dropna().to_numpy(dtype=float) * YI
            assert not np.isclose(values, float(secret["value"]), rtol=1e-9).any()
    # the bulletin flags follow the protected margins (none need suppression here)
    zone = pd.read_csv(demo.files.csv["zone"], encoding="utf-8-sig")
    table = next(t for t in demo.content.tables if t.name == "zone")
    flagged = set(table.frame.loc[table.frame["suppressed"], "zone"].unique())
    zones = demo.protected["table1:gross_output"]
    assert flagged == set(zones.cells.loc[zones.suppressed, "zone"].unique()) - {"合计"}
    assert (zone["flag"] == "x").sum() == 0 or zone.loc[zone["flag"] == "x", "estimate"].isna().all()


def test_ledger_holds_the_unit_error_revisions(demo):
    errors = demo.edits.unit_errors
    assert len(errors) > 50
    injected = demo.injected[demo.injected["error_type"] == "unit_yuan"]
    sent = pd.concat([pd.read_csv(f, dtype={"firm_id": "str"})[["firm_id"]].assign(period=p)
                      for p, f in demo.returns_files.items()])
    injected = injected.merge(sent, on=["firm_id", "period"])
    injected = injected.assign(column=injected["variable"] + "_ytd")
    found = injected.merge(errors, on=["firm_id", "period", "column"])
    assert len(found) >= 0.95 * len(injected)  # recall of the unit-error check
    np.testing.assert_allclose(found["corrected"], found["true_value"], rtol=1e-9)
    with Ledger.open(demo.ledger_file, form=DEMO_FORM, read_only=True) as ledger:
        for row in errors.head(10).itertuples(index=False):
            history = ledger.history(row.firm_id, row.period)
            cell = history[history["item"] == row.column]
            assert cell["revision"].max() >= 2
            edit = cell[cell["marker"] == "edited"].iloc[-1]
            assert edit["recorded_by"] == "survey cycle"
            assert "unit error" in edit["reason"]
            assert edit["value"] == pytest.approx(row.corrected)
            first = cell[cell["revision"] == 1].iloc[0]
            assert first["marker"] == "returned" and first["value"] == pytest.approx(row.value)
        # imputed values are in the ledger with their markers
        current = ledger.current("2006Q4")
    imputed = current[current["marker"].isin(["forward_imputed", "backward_imputed", "constructed"])]
    assert len(imputed) > 0
    ta = demo.take_all[demo.take_all["period"] == "2006Q4"].set_index("firm_id")
    row = imputed[imputed["item"] == "gross_output_ytd"].iloc[0]
    if row["firm_id"] in ta.index:
        assert ta.loc[row["firm_id"], "gross_output_ytd"] == pytest.approx(row["value"])


def test_hard_edit_failures_are_set_aside_and_imputed(demo):
    aside = demo.edits.set_aside
    export = demo.injected[demo.injected["error_type"] == "export_gt_output"]
    sent = pd.concat([pd.read_csv(f, dtype={"firm_id": "str"})[["firm_id"]].assign(period=p)
                      for p, f in demo.returns_files.items()])
    export = export.merge(sent, on=["firm_id", "period"])
    caught = export.merge(aside[aside["item"] == "export_delivery_ytd"], on=["firm_id", "period"])
    assert len(caught) == len(export) > 0
    # the injected export and cumulative errors are set aside, and nothing else (a fall of
    # profit and tax is a soft rule: a loss can make it fall; a fall is not seen when the
    # firm did not report the quarter before)
    injected = demo.injected[demo.injected["error_type"] != "unit_yuan"].merge(
        sent, on=["firm_id", "period"])
    injected = injected[~((injected["error_type"] == "cumulative_decrease")
                          & (injected["variable"] == "profit_tax"))]
    expected = set(zip(injected["firm_id"], injected["period"], injected["variable"] + "_ytd"))
    got = set(zip(aside["firm_id"], aside["period"], aside["item"]))
    assert got <= expected
    assert len(got) >= 0.95 * len(expected)
    panel = pd.concat([demo.take_all, demo.sample], ignore_index=True)
    fixed = panel.merge(caught[["firm_id", "period"]], on=["firm_id", "period"])
    # imputed, or deduced for a firm whose closure was returned (its quarters are 0 after it)
    deduced = (fixed["export_delivery_marker"] == "edited") & (fixed["status"] == "dead")
    assert (fixed["export_delivery_imputed"] | deduced).all()
    assert deduced.sum() <= 3
    assert (fixed["export_delivery_ytd"] <= fixed["gross_output_ytd"] * 1.0001).all()
    # every take-all value is filled (imputed where missing), as combined_total needs
    assert demo.take_all[["gross_output", "export_delivery", "gross_output_last_year"]].notna().all().all()


def test_separate_commands_write_what_the_cycle_writes(demo, tmp_path):
    """`survey select`, `simulate-returns` and `ingest` one by one (each reading the
    previous command's files) write the cycle's samples and returns files, byte for byte,
    and load them all; ingesting the same files again changes nothing."""
    config = with_settings(load_config(DEMO_CONFIG), "plan", output_excel=False)  # faster
    samples = run_command(config, "select", output=tmp_path)
    assert {y: len(s) for y, s in samples.items()} == {y: len(s) for y, s in demo.samples.items()}
    files, injected = run_command(config, "simulate-returns", output=tmp_path)
    for name in ["sample/2005/sample.csv", "sample/2006/sample.csv", "returns/injected_errors.csv",
                 *(f"returns/returns_{p}.csv" for p in demo.returns_files)]:
        assert (tmp_path / name).read_bytes() == (demo.output / name).read_bytes(), name
    reports = run_command(config, "ingest", output=tmp_path)
    assert [r.status for r in reports] == ["loaded"] * 8
    again = run_command(config, "ingest", output=tmp_path)
    assert [r.status for r in again] == ["unchanged"] * 8
    assert sum(r.values_written for r in again) == 0


def test_report_command_reproduces_the_bulletin_from_the_cycles_files(demo, tmp_path):
    """`survey report` on the folder of a whole cycle (the ledger the cycle edited and
    imputed) gives the same panels and the same bulletin tables: editing and imputing the
    same ledger a second time changes nothing. (The series is cut to the quarters of 2006,
    which halves the time; the tables of 2006Q4 do not depend on 2005. The bulletin is
    written as CSV only, the files compared: its charts and workbook would be most of the
    report step's time.)"""
    shutil.copy(demo.ledger_file, tmp_path / "ledger.duckdb")
    config = with_settings(load_config(DEMO_CONFIG), "estimate",
                           periods=["2006Q1", "2006Q2", "2006Q3", "2006Q4"])
    config = with_settings(config, "report", formats=["csv"])
    content, files = run_command(config, "report", output=tmp_path)
    for name in ("take_all", "sample"):
        new = pd.read_csv(tmp_path / "panel" / f"{name}.csv", dtype={"firm_id": "str"})
        old = pd.read_csv(demo.output / "panel" / f"{name}.csv", dtype={"firm_id": "str"})
        old = old[old["period"].str.startswith("2006")].reset_index(drop=True)
        pd.testing.assert_frame_equal(new, old)
    for name in ("headline", "sector", "city", "industry", "zone", "channel", "quality"):
        assert files.csv[name].read_bytes() == demo.files.csv[name].read_bytes(), name
    assert len(pd.read_csv(files.csv["series"])) == 12  # 4 quarters x 3 variables


def test_outputs_of_every_step(demo):
    out = demo.output
    assert (out / "plan" / "2006" / "plan_strata.csv").is_file()
    samples = read_samples(DEMO_CONFIG, output=out)
    assert len(samples[2006]) == len(demo.samples[2006])
    assert min(p.name for p in (out / "returns").glob("returns_*.csv")) == "returns_2005Q1.csv"
    assert (out / "edit" / "failures.csv").is_file()
    series = pd.read_csv(out / "estimates" / "series_sector.csv")
    assert series["period"].nunique() == 8
    config = load_config(DEMO_CONFIG)
    assert set(demo.seconds) == {"plan", "select", "simulate", "ingest", "edit", "impute",
                                 "weight", "estimate", "protect", "report"}
    assert config.seed == 20070115


def _sent(demo) -> pd.DataFrame:
    return pd.concat([pd.read_csv(f, dtype={"firm_id": "str"})[["firm_id"]].assign(period=p)
                      for p, f in demo.returns_files.items()], ignore_index=True)


def test_every_period_covers_the_truth(demo):
    """Known truth of the synthetic population, every period of the demo (about 2,700
    sampled firms a year): the published sector totals of gross output and export
    delivery are within 3 standard errors of the true totals of the population the
    config covers (the whole register of each year: firms born and closed in the year
    too)."""
    errors = {}
    quarterly = load_quarterly(list(demo.estimates.by_period["sector"]))  # read once
    for period, combined in demo.estimates.by_period["sector"].items():
        frame = demo.plans[int(period[:4])].frame.data
        truth = quarterly[quarterly["period"] == period]
        truth = truth[_among(truth["firm_id"], frame["firm_id"])]
        table = combined.table().set_index("variable")
        for variable in ("gross_output", "export_delivery"):
            row = table.loc[variable]
            assert row["se"] > 0
            errors[(period, variable)] = (row["estimate"] - truth[variable].sum()) / row["se"]
    assert len(errors) == 16
    worst = max(errors, key=lambda k: abs(errors[k]))
    assert abs(errors[worst]) < 3, (worst, errors[worst])
    # the sample is realistic: CV of the quarter's gross output well under 1%
    cv = demo.estimates.by_period["sector"]["2006Q4"].table().set_index("variable")["cv"]
    assert cv["gross_output"] < 0.01


def test_no_published_quarter_value_is_negative(demo):
    """Hard rule on the derived quarter values: gross output and export delivery have no
    negative quarter (this year or last year) in the panels behind the estimates, nor in
    any published estimate of any breakdown."""
    panel = pd.concat([demo.take_all, demo.sample], ignore_index=True)
    for variable in ("gross_output", "export_delivery"):
        for column in (variable, f"{variable}_last_year"):
            values = panel[column].to_numpy(dtype=float)
            assert np.isfinite(values).all(), column
            assert (values >= -1e-9).all(), (column, panel.loc[values < -1e-9, ["firm_id", "period"]])
    for name, series in demo.estimates.series.items():
        table = series.table()
        rows = table[table["variable"].isin(["gross_output", "export_delivery"])]
        assert (rows["estimate"] >= 0).all(), name


def test_injected_errors_are_corrected_or_imputed(demo):
    """>= 95% of the injected unit errors are corrected to the true value, and every
    injected fall of a year-to-date value of gross output or export delivery is replaced
    (set aside and imputed), never published as reported."""
    sent = _sent(demo)
    injected = demo.injected.merge(sent, on=["firm_id", "period"])
    panel = pd.concat([demo.take_all, demo.sample], ignore_index=True).set_index(
        ["firm_id", "period"])
    units = injected[injected["error_type"] == "unit_yuan"]
    units = units[units["variable"].isin(["gross_output", "export_delivery", "profit_tax"])]
    assert len(units) > 200
    got = np.array([panel.loc[(f, p), f"{v}_ytd"] for f, p, v in
                    zip(units["firm_id"], units["period"], units["variable"], strict=True)])
    corrected = np.isclose(got, units["true_value"].to_numpy(), rtol=1e-9, atol=1e-9)
    assert corrected.mean() >= 0.95, corrected.mean()
    falls = injected[(injected["error_type"] == "cumulative_decrease")
                     & injected["variable"].isin(["gross_output", "export_delivery"])]
    assert len(falls) > 20
    replaced, revealed = [], []
    for row in falls.itertuples(index=False):
        cell = panel.loc[(row.firm_id, row.period)]
        replaced.append(bool(cell[f"{row.variable}_imputed"])
                        and cell[f"{row.variable}_ytd"] != pytest.approx(row.reported_value))
        # a fall shows only against an earlier return of the same year
        year, quarter = row.period[:4], int(row.period[-1])
        earlier = [panel.loc[(row.firm_id, f"{year}Q{q}"), f"{row.variable}_marker"]
                   for q in range(1, quarter)]
        revealed.append(any(m in ("returned", "edited") for m in earlier))
    replaced, revealed = np.array(replaced), np.array(revealed)
    assert replaced[revealed].all(), falls[revealed & ~replaced]
    assert replaced.mean() >= 0.9, replaced.mean()


def test_births_and_deaths_are_covered(demo):
    """The demo covers the whole register: the 2006 whole-year gross output is within three
    standard errors of the register's truth (the report's 558 亿元); firms born in the year
    have last-year values 0 (deduced, marker ``edited``, never imputed); a closed firm whose
    closure was returned stays flat afterwards (quarter values 0, not imputed)."""
    truth = load_quarterly(year=2006)
    assert truth["gross_output"].sum() / YI == pytest.approx(558.0, abs=0.01)
    ytd = demo.estimates.year_to_date.table().set_index("variable").loc["gross_output_ytd"]
    assert abs(ytd["estimate"] - truth["gross_output"].sum()) < 3 * ytd["se"]
    panel = pd.concat([demo.take_all, demo.sample], ignore_index=True)
    assert set(panel["status"]) == {"active", "new", "dead"}
    new = panel[panel["status"] == "new"]
    for v in ("gross_output", "export_delivery", "profit_tax"):
        assert (new[f"{v}_ytd_last_year"] == 0).all() and (new[f"{v}_last_year"] == 0).all()
        assert set(new[f"{v}_ytd_last_year_marker"]) == {"returned", "edited"}
    # dead firms: after a returned zero quarter, missing values are the flat year to date
    truth = pd.concat([load_quarterly(year=y) for y in (2005, 2006)], ignore_index=True)
    truth["period"] = truth["year"].astype(str) + "Q" + truth["quarter"].astype(str)
    dead = panel[panel["status"] == "dead"].merge(truth[["firm_id", "period", "operating"]],
                                                 on=["firm_id", "period"])
    deduced = dead[(dead["gross_output_marker"] == "edited") & ~dead["responded"]]
    assert len(deduced) > 20
    assert not deduced["operating"].any()  # the simulation's closed quarters
    assert (deduced["gross_output"] == 0).all() and not deduced["gross_output_imputed"].any()


# ---------------------------------------------------------------------------
# every setting does what it says
# ---------------------------------------------------------------------------
def _plans(demo, config) -> dict:
    """The demo's plans of the years of ``config`` (what ``plan_step(config, write=False)``
    makes again: the tests change no ``[plan]`` setting), as the cycle passes them."""
    return {year: demo.plans[year] for year in config.years()}


def _report(demo, config, tmp_path, estimates=None):
    from survey.pipeline.steps import report_step

    ledger = Path(tmp_path) / "ledger_copy.duckdb"  # the report records its figures there
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    shutil.copy(demo.ledger_file, ledger)
    return report_step(config, estimates or demo.estimates, demo.protected, take_all=demo.take_all,
                       surveys=demo.surveys, ledger_file=ledger, output=tmp_path,
                       typical=demo.typical)


def test_growth_level_publishes_level_on_level_growth(demo, tmp_path):
    """estimate.growth = "level": the bulletin's growth is this quarter's total against the
    total of the same quarter a year earlier (survey.quarterly.series.level_growth), not the
    comparable-basis growth of the same firms; the labels and the methods note say so."""
    from survey.quarterly.series import level_growth

    config = with_settings(demo.config, "estimate", growth="level")
    config = with_settings(config, "report", formats=["csv", "html"])  # the files checked
    content, files = _report(demo, config, tmp_path)
    by_period = demo.estimates.by_period
    expected = level_growth(by_period["sector"]["2006Q4"], by_period["sector"]["2005Q4"])
    expected = expected.set_index("variable")["level_growth"]
    # per indicator: the take-all part's year to date, the sector's year to date, the quarter
    quarter = {h.variable: h.growth for h in content.headline[2::3]}
    ytd = {h.variable: h.growth for h in content.headline[1::3]}
    comparable = {h.variable: h.growth for h in demo.content.headline[2::3]}
    for v in ("gross_output", "export_delivery", "profit_tax"):
        assert quarter[v] == pytest.approx(expected[v], rel=1e-12)
        assert abs(quarter[v] - comparable[v]) > 1e-4  # births, deaths, size changes
    year = level_growth(demo.estimates.year_to_date, demo.estimates.year_to_date_last_year)
    assert ytd["gross_output"] == pytest.approx(
        year.set_index("variable").loc["gross_output_ytd", "level_growth"], rel=1e-12)
    city = pd.read_csv(files.csv["city"], encoding="utf-8-sig")
    old = pd.read_csv(demo.files.csv["city"], encoding="utf-8-sig")
    assert (city["estimate"].fillna(0) == old["estimate"].fillna(0)).all()
    assert not np.allclose(city["growth"].fillna(0), old["growth"].fillna(0))
    html = files.html.read_text(encoding="utf-8")
    assert "比上年同期增长（总量口径）" in html and "可比口径" not in html
    assert "增长率为总量口径" in content.methods_note


@pytest.mark.pinned
def test_report_formats_write_only_the_listed_files(demo, base_bulletin, tmp_path):
    """report.formats: only the listed formats are written."""
    config = with_settings(demo.config, "report", formats=["csv"])
    _, files = _report(demo, config, tmp_path / "csv")
    assert files.html is None and files.excel is None
    assert sorted(p.name for p in (tmp_path / "csv" / "bulletin").iterdir()) == sorted(
        n for n in base_bulletin.hashes if n.endswith(".csv"))
    config = with_settings(demo.config, "report", formats=["xlsx"])
    _, files = _report(demo, config, tmp_path / "xlsx")
    assert files.html is None and files.csv == {}
    assert [p.name for p in (tmp_path / "xlsx" / "bulletin").iterdir()] == ["bulletin.xlsx"]
    assert base_bulletin.cells_hash(files.excel) == base_bulletin.xlsx_cells


def test_confidence_level_reaches_every_label(demo, tmp_path):
    """estimate.level = 0.9: the intervals are 90% intervals (narrower by the ratio of the t
    quantiles) and every label that names the level says 90% (HTML, Excel, methods note)."""
    from scipy import stats

    from survey.pipeline.steps import estimate_step
    from survey.publish.report.labels import LABELS, label

    keys = [k for k, v in LABELS["en"].items() if "{level}" in v]
    assert sorted(keys) == ["achieved_ci", "band", "chart_growth", "chart_series", "chart_targets", "ci",
                            "ci_high", "ci_low", "growth_ci", "interval", "needed_ci"]
    for language in ("zh", "en"):
        for key in keys:  # the 22 labels
            assert "90%" in label(key, language, level=0.9), (language, key)
    quarters = ["2006Q1", "2006Q2", "2006Q3", "2006Q4"]  # the bulletin needs no more
    config = with_settings(demo.config, "estimate", level=0.9, periods=quarters)
    estimates = estimate_step(config, demo.take_all, {p: demo.surveys[p] for p in quarters},
                              plans=_plans(demo, config))
    content, files = _report(demo, config, tmp_path, estimates)
    html = files.html.read_text(encoding="utf-8")
    assert "90% 置信区间" in html and "95%" not in html
    assert "区间为 90% 置信区间" in content.methods_note
    ws = openpyxl.load_workbook(files.excel)["按市分"]
    headers = [c.value for c in ws[HEADER_ROW]]
    assert "90% 置信下限" in headers and "90% 置信上限" in headers
    new, old = content.headline[2], demo.content.headline[2]  # the sector's quarter
    assert new.estimate == pytest.approx(old.estimate, rel=1e-12)
    df = demo.estimates.by_period["sector"]["2006Q4"].table()["df"].iloc[0]
    ratio = stats.t.ppf(0.95, df) / stats.t.ppf(0.975, df)
    assert (new.ci_high - new.estimate) == pytest.approx((old.ci_high - old.estimate) * ratio,
                                                         rel=1e-9)


# ---------------------------------------------------------------------------
# `survey demo`: its folder and what it prints
# ---------------------------------------------------------------------------
def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_force_removes_only_its_own_earlier_output(demo, tmp_path):
    """--force replaces an earlier demo run: the files its marker lists (unchanged since) are
    removed and nothing else; a changed file or a stranger where the demo writes stops it
    before anything is removed."""
    from survey.datasets.demo_folder import MARKER, prepare_demo_folder
    from survey.errors import ConfigError

    folder = tmp_path / "demo"
    shutil.copytree(demo.output, folder)  # copy2: sizes and modification times kept
    (folder / "mine.txt").write_text("my notes", encoding="utf-8")
    (folder / "bulletin" / "my_chart.png").write_bytes(b"png")
    before = _tree(folder)
    with pytest.raises(ConfigError, match="earlier demo run; give --force"):
        prepare_demo_folder(folder)
    with pytest.raises(ConfigError, match="bulletin/my_chart.png was not written by the demo"):
        prepare_demo_folder(folder, force=True)
    assert _tree(folder) == before
    (folder / "bulletin" / "my_chart.png").unlink()
    (folder / "bulletin" / "city.csv").write_text("edited by hand", encoding="utf-8")
    with pytest.raises(ConfigError, match="bulletin/city.csv changed since the demo wrote it"):
        prepare_demo_folder(folder, force=True)
    (folder / "bulletin" / "city.csv").write_bytes(before["bulletin/city.csv"])
    import os

    stat = (demo.output / "bulletin" / "city.csv").stat()
    os.utime(folder / "bulletin" / "city.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    removed = prepare_demo_folder(folder, force=True)
    assert "ledger.duckdb" in removed and "bulletin/bulletin.html" in removed
    assert _tree(folder) == {"mine.txt": b"my notes"}
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]
    # an interrupted run lists no files: --force cannot tell them from the user's
    (folder / MARKER).write_text('{"status": "running", "files": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="did not finish"):
        prepare_demo_folder(folder, force=True)


def test_demo_prints_one_line_per_step(demo, monkeypatch, capsys):
    """`survey demo` prints a summary line per step and where the bulletin is (the run is the
    session's demo run, replayed through the progress callback)."""
    import survey.pipeline.demo as module
    from survey.pipeline.run import STEPS

    values = {"plan": demo.plans, "select": demo.samples,
              "simulate": (demo.returns_files, demo.injected), "ingest": [], "edit": demo.edits,
              "impute": (demo.take_all, demo.sample, demo.typical), "weight": demo.surveys,
              "estimate": demo.estimates, "protect": demo.protected,
              "report": (demo.content, demo.files)}

    def replay(output, *, force, progress):
        for step in STEPS:
            progress(step, None, None)
            progress(step, values[step], demo.seconds[step])
        return demo

    monkeypatch.setattr(module, "run_demo", replay)
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[:10]] == list(STEPS)
    assert "719 unit errors corrected" in lines[4] and "9590 values imputed" in lines[5]
    # money in the display unit of [report] unit, the quarter and the year to date
    assert lines[7].startswith("estimate  gross_output 2006Q4: 158.45 亿元 (cv 0.6%, growth +7.6%); "
                               "year to date 554.12 亿元 (growth +8.0%)")
    assert lines[-1].startswith(f"survey demo: the bulletin of 2006Q4 is {demo.files.html}")


# --------------------------------------------------------------------------- the year to date
def _annual_truth(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True 2006 and 2005 annual values of the register's firms (rows of ``frame``; 0 for
    firms not in business), read once for every breakdown of :func:`_ytd_truth`."""
    ids = frame["firm_id"]
    q = pd.concat([load_quarterly(year=2005), load_quarterly(year=2006)])
    q = q[_among(q["firm_id"], ids)]
    annual = q.groupby(["year", "firm_id"])[["gross_output", "export_delivery", "profit_tax"]].sum()
    return (annual.xs(2006, level="year").reindex(ids).fillna(0.0),
            annual.xs(2005, level="year").reindex(ids).fillna(0.0))


def _ytd_truth(frame: pd.DataFrame, by: str | None, annual) -> pd.DataFrame:
    """True January-December 2006 totals and comparable growth (the same firms in 2005, 0 for
    firms born since) of the register's firms, by ``by`` (thousand yuan); ``annual``:
    :func:`_annual_truth` of ``frame``."""
    this, last = annual
    keys = frame[by].fillna("(非园区)").to_numpy() if by else np.zeros(len(frame))
    out = []
    for v in ("gross_output", "export_delivery", "profit_tax"):
        t = pd.Series(this[v].to_numpy()).groupby(keys).sum()
        lst = pd.Series(last[v].to_numpy()).groupby(keys).sum()
        out.append(pd.DataFrame({"key": t.index, "variable": f"{v}_ytd", "truth": t.to_numpy(),
                                 "truth_growth": (t / lst - 1).to_numpy()}))
    return pd.concat(out, ignore_index=True)


def test_year_to_date_covers_the_truth(demo):
    """Every year-to-date figure of the 2006Q4 bulletin (sector, each channel, each zone, city
    and industry; levels and comparable growth) against the synthetic truth: within 3 SE each
    for the headline domains; over all cells at most 1% beyond 3 SE and none beyond 4 SE. The
    take-all part has no sampling error (SE 0): it is within its imputed share of the truth."""
    frame = demo.plans[2006].frame.data
    ytd = demo.estimates.year_to_date_by
    # the report's figures (survey.datasets.sector_figures): above-size 145 亿 +32 %, export
    # 32 亿 +18 %, sector 558 亿, collectives (federation) 23 亿 +10 %, zones 25 / 16 亿 +10 %
    from survey.datasets import sector_figures

    figures = sector_figures(2006).set_index("figure")
    take_all = ytd["take_all"].table().set_index("variable")
    for v in ("gross_output", "export_delivery"):
        row, truth = take_all.loc[f"{v}_ytd"], figures.loc[f"above_size_{v}"]
        assert row["se"] == 0
        assert abs(row["estimate"] - truth["value"]) <= row["imputed_share"] * row["estimate"]
        assert abs(row["estimate"] / truth["value"] - 1) < 0.01
        assert abs(row["growth"] - truth["growth"]) < 0.01
    checks = [("sector", None, True, "sector_gross_output", "gross_output_ytd"),
              ("channel_federation", "in_federation", True, "collective_gross_output",
               "gross_output_ytd"),
              ("channel_zone", "in_zone", True, "zone_gross_output", "gross_output_ytd"),
              ("channel_zone", "in_zone", True, "zone_export_delivery", "export_delivery_ytd")]
    for name, column, key, figure, variable in checks:
        table = ytd[name].table()
        if column:
            table = table[table[column].astype(bool) == key]
        row = table.set_index("variable").loc[variable]
        truth = figures.loc[figure]
        z = (row["estimate"] - truth["value"]) / row["se"]
        zg = (row["growth"] - truth["growth"]) / row["growth_se"]
        assert abs(z) < 3, (figure, z)
        assert abs(zg) < 3, (figure, zg)
    # every cell of every breakdown
    zs, annual = [], _annual_truth(frame)
    for name, by in (("sector", None), ("city", "city"), ("industry", "industry"), ("zone", "zone"),
                     ("channel_bureau", "in_bureau"), ("channel_federation", "in_federation"),
                     ("channel_zone", "in_zone")):
        table = ytd[name].table()
        table = table.assign(key=table[by] if by else 0.0)
        merged = table.merge(_ytd_truth(frame, by, annual), on=["key", "variable"], how="left")
        assert merged["truth"].notna().all(), name
        zs += ((merged["estimate"] - merged["truth"]) / merged["se"]).tolist()
        zs += ((merged["growth"] - merged["truth_growth"]) / merged["growth_se"]).tolist()
    zs = np.abs(np.asarray(zs))
    assert len(zs) >= 210  # 35 domains x 3 indicators, level and growth
    assert np.mean(zs > 3) <= 0.01 and zs.max() < 4, (np.mean(zs > 3), zs.max())


def test_demo_bulletin_shows_the_year_to_date(demo):
    """The report's own figures are in the demo bulletin: above-size output of January-December
    2006 (≈145 亿元, +32 %) and export (≈32 亿元, +18 %) as headline cards and in the YTD table,
    with the sector (≈558 亿元), the federation's collectives (≈23 亿元) and the zones."""
    html = (demo.output / "bulletin" / "bulletin.html").read_text(encoding="utf-8")
    head = demo.headline().set_index("label")
    above = head.loc["2006年1-12月累计规模以上企业工业总产值"]
    assert round(above["estimate"]) == 145 and round(100 * above["growth"]) == 32
    export = head.loc["2006年1-12月累计规模以上企业出口交货值"]
    assert round(export["estimate"]) == 32 and round(100 * export["growth"]) == 18
    assert f"{above['estimate']:,.2f}" in html and f"{100 * above['growth']:+.1f}%" in html
    assert "2006年1-12月累计规模以上企业工业总产值" in html
    ytd = pd.read_csv(demo.output / "bulletin" / "ytd.csv", encoding="utf-8-sig")
    rows = ytd.set_index(["domain", "variable"])
    assert round(rows.loc[("全行业", "gross_output"), "estimate"]) in range(552, 566)
    assert rows.loc[("规模以上企业", "gross_output"), "estimate"] == above["estimate"]
    assert abs(rows.loc[("联社渠道", "gross_output"), "estimate"] - 23) < 3 * rows.loc[
        ("联社渠道", "gross_output"), "se"]
    zone = rows.loc[("特色产业园区渠道", "gross_output")]
    assert abs(zone["estimate"] - 25) < 3 * zone["se"] and abs(zone["growth"] - 0.10) < 0.05
    assert (ytd["unit"] == "亿元").all()
    for name in ("ytd_city", "ytd_industry", "ytd_zone"):  # next to each quarter table
        assert (demo.output / "bulletin" / f"{name}.csv").is_file()
        assert f'id="table-{name}"' in html


def test_progress_to_target(demo):
    """[report.targets]: special zones over 100 亿元 gross output by 2010. Growth needed per year
    = (target / estimate)^(1/4) - 1, its interval from the estimate's interval."""
    t = demo.content.targets.iloc[0]
    assert (t["domain"], t["variable"], t["year"], t["target"]) == ("特色产业园区渠道", "gross_output",
                                                                   2010, 100.0)
    assert t["needed"] == pytest.approx((100.0 / t["estimate"]) ** 0.25 - 1, rel=1e-12)
    assert t["needed_ci_low"] == pytest.approx((100.0 / t["ci_high"]) ** 0.25 - 1, rel=1e-12)
    assert t["needed_ci_high"] == pytest.approx((100.0 / t["ci_low"]) ** 0.25 - 1, rel=1e-12)
    zone = demo.estimates.year_to_date_by["channel_zone"].table()
    row = zone[zone["in_zone"].astype(bool) & (zone["variable"] == "gross_output_ytd")].iloc[0]
    assert t["estimate"] == row["estimate"] / YI and t["growth"] == row["growth"]
    assert 0.30 < t["needed"] < 0.50 and t["needed"] > t["growth_ci_high"]  # far from on track
    html = (demo.output / "bulletin" / "bulletin.html").read_text(encoding="utf-8")
    assert 'id="table-targets"' in html and 'id="chart-targets"' in html


# --------------------------------------------------------------------------- layout in a browser
LAYOUT_SCRIPT = """<script>
(function () {
  var width = document.documentElement.clientWidth, over = [], scrolled = 0;
  function inScroller(e) {
    for (var p = e.parentElement; p; p = p.parentElement) {
      var s = getComputedStyle(p).overflowX;
      if ((s === 'auto' || s === 'scroll') && p.getBoundingClientRect().right <= width + 0.5) return true;
    }
    return false;
  }
  Array.prototype.forEach.call(document.querySelectorAll('body *'), function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 0.5 && !inScroller(e))
      over.push(e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(r.right));
  });
  Array.prototype.forEach.call(document.querySelectorAll('.table-wrap'), function (w) {
    if (w.scrollWidth > w.clientWidth + 1) scrolled += 1; });
  var headers = Array.prototype.map.call(document.querySelectorAll('table.data thead tr'), function (tr) {
    return Array.prototype.map.call(tr.children, function (th) { return th.textContent; }); });
  var numbers = Array.prototype.map.call(document.querySelectorAll('#headline .number'), function (e) {
    return [e.closest('.card').id, e.getAttribute('data-field'), e.textContent]; });
  var out = document.createElement('pre');
  out.className = 'layout-check';
  out.setAttribute('data-page', window.frameElement.id);
  out.textContent = JSON.stringify({width: width, page: document.documentElement.scrollWidth,
    over: over.slice(0, 20), scrolled: scrolled, headers: headers, numbers: numbers});
  parent.document.body.appendChild(out);  // the frame is same-origin (srcdoc)
})();
</script>"""


@pytest.fixture(scope="module")
def english(demo, tmp_path_factory):
    """The demo bulletin in English: the estimate, protect and report steps of the demo's
    frames with ``survey.language = "en"``."""
    from survey.pipeline.steps import estimate_step, protect_step, report_step

    config = with_settings(demo.config, "survey", language="en")
    config = with_settings(config, "report", formats=["html"])  # the page laid out
    folder = tmp_path_factory.mktemp("english")
    ledger = folder / "ledger_copy.duckdb"  # the report records its figures there
    shutil.copy(demo.ledger_file, ledger)
    estimates = estimate_step(config, demo.take_all, demo.surveys, plans=_plans(demo, config))
    protected = protect_step(config, demo.take_all, demo.surveys)
    content, files = report_step(config, estimates, protected, take_all=demo.take_all,
                                 surveys=demo.surveys, ledger_file=ledger, output=folder)
    return content, files


WIDTHS = (800, 1280, 1920)


def _layouts(chromium: str, pages: dict[str, Path], tmp: Path) -> dict[tuple[str, int], dict]:
    """The layout check of every page at every width of :data:`WIDTHS`, in one browser run:
    each (page, width) is a same-origin frame (``srcdoc``) of that width and 2000 px high
    (what ``--window-size=<width>,2000`` gave one page per run; scrollbars are hidden, so
    the frame's viewport is the window's), whose script writes its result into the top page."""
    import html as html_lib
    import json
    import re
    import subprocess

    from survey.publish.report.html import CHROMIUM_FLAGS

    frames = []
    for name, page in pages.items():
        body = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                      page.read_text(encoding="utf-8")).replace("</body>", LAYOUT_SCRIPT + "</body>")
        frames += [f'<iframe id="{name}-{width}" width="{width}" height="2000" '
                   f'style="border:0;display:block" srcdoc="{html_lib.escape(body, quote=True)}">'
                   "</iframe>" for width in WIDTHS]
    top = tmp / "layouts.html"
    top.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
                   f'<body style="margin:0">{"".join(frames)}</body></html>', encoding="utf-8")
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                           f"--window-size={max(WIDTHS)},2000", "--dump-dom", top.as_uri()],
                          capture_output=True, text=True, timeout=240, check=False)
    found = dict(re.findall(r'<pre class="layout-check" data-page="([^"]*)">(.*?)</pre>',
                            done.stdout, re.S))
    assert len(found) == len(pages) * len(WIDTHS), done.stderr[-800:]
    checks = {}
    for key, text in found.items():
        name, width = key.rsplit("-", 1)
        checks[name, int(width)] = json.loads(text.replace("&quot;", '"').replace("&amp;", "&")
                                              .replace("&lt;", "<").replace("&gt;", ">"))
    return checks


@pytest.fixture(scope="module")
def layouts(demo, english, tmp_path_factory):
    """Both bulletins (zh: the demo's, en: :func:`english`) laid out at every width of
    :data:`WIDTHS` by one headless Chromium run (a launch costs about 1.5 s)."""
    from survey.publish.report.html import find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium fonts-noto-cjk)")
    return _layouts(chromium, {"zh": demo.files.html, "en": english[1].html},
                    tmp_path_factory.mktemp("layouts"))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_bulletin_fits_800_1280_1920_px(demo, english, layouts, language):
    """At 800, 1280 and 1920 px in both languages no element's right edge passes the viewport
    (a table may scroll inside its own container, which itself fits), the page is not wider
    than the window, no table has two columns with the same header, and every headline
    number in the DOM is the content's number as printed."""
    content = demo.content if language == "zh" else english[0]
    expected = []
    for i, h in enumerate(content.headline):
        expected += [[f"headline-{i}", "estimate", f"{h.estimate:,.{h.decimals}f}"],
                     [f"headline-{i}", "ci_low", f"{h.ci_low:,.{h.decimals}f}"],
                     [f"headline-{i}", "ci_high", f"{h.ci_high:,.{h.decimals}f}"],
                     [f"headline-{i}", "growth", f"{100 * h.growth:+.1f}%"],
                     [f"headline-{i}", "growth_ci_low", f"[{100 * h.growth_ci_low:+.1f}%"],
                     [f"headline-{i}", "growth_ci_high", f"{100 * h.growth_ci_high:+.1f}%]"]]
    for width in WIDTHS:
        check = layouts[language, width]
        assert check["width"] == width
        assert check["over"] == [], (language, width, check["over"])
        assert check["page"] <= width, (language, width)
        for header in check["headers"]:
            assert len(header) == len(set(header)), header
        assert check["numbers"] == expected
        print(f"{language} {width}px: page {check['page']}px, {check['scrolled']} tables scroll")


# --------------------------------------------------------------------------- issue 16
def test_take_none_part_is_estimated_and_shown(demo):
    """The demo plan has a take-none part (take_none_below = 300) and key units: every
    period's sector total carries a positive model part with model variance, its share
    is that of small firms (1-3%), the bulletin's tables say so in their method column,
    the parts chart and parts.csv show it, and the notes explain it. (Coverage of the
    truth including the take-none firms: test_every_period_covers_the_truth, whose truth
    is the whole register.)"""
    for period, est in demo.estimates.by_period["sector"].items():
        t = est.table().set_index("variable")
        assert (t["model"] > 0).all() and t["model_based"].all(), period
        assert (0.005 < t.loc["gross_output", "model_share"] < 0.03), period
    no_model = combined_total(  # the same without the model part: smaller SE, lower total
        ["gross_output"], take_all=demo.take_all[demo.take_all["period"] == "2006Q4"],
        sample=demo.surveys["2006Q4"], period="2006Q4").table().iloc[0]
    row = demo.estimates.by_period["sector"]["2006Q4"].table().set_index("variable").loc[
        "gross_output"]
    assert row["estimate"] - no_model["estimate"] == pytest.approx(row["model"], rel=1e-9)
    assert row["se"] > no_model["se"]
    folder = demo.output / "bulletin"
    for name in ("sector", "city", "industry", "zone", "channel"):
        shown = pd.read_csv(folder / f"{name}.csv")
        assert shown.columns[0] == "method" and shown["method"].str.contains("模型推算").any()
    assert pd.read_csv(folder / "sector.csv")["method"].str.contains("模型推算").all()
    parts = pd.read_csv(folder / "parts.csv")
    assert (parts.loc[parts["part"] == "model", "estimate"] > 0).all()
    assert any("模型推算" in n for n in demo.content.notes)
    # every table and chart: the series and growth charts say so in their captions (the
    # parts chart shows the model part as a part of its own), and the YTD table too
    import re

    html = (folder / "bulletin.html").read_text(encoding="utf-8")
    for key in ("series", "growth"):
        caption = re.search(rf'id="chart-{key}".*?<figcaption>(.*?)</figcaption>', html, re.S)
        assert caption and "含模型推算部分" in caption.group(1), key
    assert pd.read_csv(folder / "ytd.csv", encoding="utf-8-sig")["method"].str.contains("模型推算").any()
    data = demo.plans[2006].frame.data
    assert data["key_unit"].sum() > 0 and (data.loc[data["key_unit"], "part"] == "take_all").all()


def test_typical_units_are_absent_from_every_design_based_total(demo):
    """Typical units: registered and returned (their panel holds their values), shown in
    the case-study section, but in no Survey and no take-all panel; and the sample of a
    plan without them is the same firms with the same weights (so every design-based
    total is that of a run without them)."""
    from survey.pipeline.steps import plan_step, select_step

    ids = set(demo.config.plan.typical.ids)
    assert set(demo.typical["firm_id"]) == ids
    assert demo.typical.loc[demo.typical["period"] == "2006Q4", "gross_output"].notna().all()
    for s in demo.surveys.values():
        assert not s.data["firm_id"].isin(ids).any()
    assert not demo.take_all["firm_id"].isin(ids).any()
    cases = pd.read_csv(demo.output / "bulletin" / "case_studies.csv", dtype={"firm_id": str})
    assert set(cases["firm_id"]) == ids
    assert "典型调查" in demo.files.html.read_text(encoding="utf-8")
    config = with_settings(demo.config, "plan", typical=None)
    without = select_step(config, plan_step(config, write=False), write=False)
    for year, sample in demo.samples.items():
        mine = sample[sample["part"] != "typical"].set_index("firm_id").sort_index()
        other = without[year].set_index("firm_id").sort_index()
        assert list(mine.index) == list(other.index)
        np.testing.assert_allclose(mine["design_weight"], other["design_weight"], rtol=1e-14)


def test_county_levels_add_up_and_say_their_method(demo):
    """Three levels: counties (small-area estimates, benchmarked) add up to their city,
    cities to the region (the sector), every figure with its method; no county is too
    unreliable (CV > 30%) after the small-area step; the bulletin of one city federation
    (Yulin, 450900) holds the city and its six counties."""
    from survey.publish.report import write_bulletin
    from survey.publish.report.tables import area_content

    lv = demo.estimates.levels
    counties, cities = lv[lv["level"] == "county"], lv[lv["level"] == "city"]
    sums = counties.groupby(["parent", "variable"])["estimate"].sum()
    np.testing.assert_allclose(sums.to_numpy(),
                               cities.set_index(["code", "variable"])["estimate"]
                               .reindex(sums.index).to_numpy(), rtol=1e-12)
    region = lv[lv["level"] == "region"].set_index("variable")["estimate"]
    np.testing.assert_allclose(cities.groupby("variable")["estimate"].sum().reindex(region.index),
                               region, rtol=1e-12)
    assert set(counties["method"]) <= {"direct", "EBLUP", "synthetic"}
    assert counties["code"].nunique() == 64
    g = demo.estimates.counties
    g = g[g["variable"] == "gross_output"]
    assert (g["cv"] <= 0.30).all() and g["cv"].median() < g["direct_cv"].median()
    content = area_content(demo.content, lv, level="city", area="450900")
    table = content.tables[0].frame
    assert table["code"].nunique() == 7 and set(table["level"]) == {"市", "县（区）"}
    files = write_bulletin(content, demo.output / "bulletin_test_450900", formats=["csv"])
    assert files.csv["levels"].is_file()
    with pytest.raises(sv.SurveyError, match="no city with code '999999'"):
        area_content(demo.content, lv, level="city", area="999999")


def test_county_small_area_estimates_beat_the_direct_ones(demo):
    """Simulation on the synthetic population: 500 stratified SRS samples of the demo's
    2006 take-some firms with the demo plan's allocation (true values: 2006Q4 gross
    output), Horvitz-Thompson county totals and variances, then the county step
    (county_core: smoothing, REML Fay-Herriot, direct where CV <= 0.15, benchmarking to the
    cities). Measured (seed 16): average relative MSE 0.050 (direct) against 0.012
    (small-area), ratio 0.24; 95% EBLUP interval coverage 0.976. Tolerances: ratio < 0.5;
    coverage in [0.93, 0.995] (MC SE of a coverage near 0.95 over 500 replicates <= 0.010)."""
    from survey.estimation.levels import city_code, county_core

    frame = demo.plans[2006].frame.data
    some = frame[(frame["part"] == "sample").to_numpy()].reset_index(drop=True)
    truth_q = load_quarterly(["2006Q4"]).set_index("firm_id")["gross_output"]
    y = truth_q.reindex(some["firm_id"]).fillna(0.0).to_numpy()
    alloc = demo.plans[2006].allocation.table().set_index("stratum")["n"]
    h, hk = pd.factorize(some["stratum"], sort=True)
    n_h = alloc.reindex(hk).to_numpy().astype(int)
    N_h = np.bincount(h)
    d, dk = pd.factorize(some["county_code"].astype(str), sort=True)
    D, H, N = len(dk), len(hk), len(some)
    X = np.column_stack([np.bincount(d, minlength=D).astype(float),
                         np.bincount(d, weights=some["revenue_prev_year"].to_numpy(), minlength=D)])
    truth = np.bincount(d, weights=y, minlength=D)
    g, gk = pd.factorize(city_code(np.asarray(dk)), sort=True)
    R, chunk = 500, 50
    rng = np.random.default_rng(16)
    start = np.concatenate(([0], np.cumsum(N_h)[:-1]))
    wh, factor = N_h / n_h, N_h**2 * (1 - n_h / N_h) / n_h
    direct_all, final_all, mse_all, method_all = [], [], [], []
    for _ in range(R // chunk):
        order = np.argsort(h[None, :] + rng.random((chunk, N)), axis=1)
        pos = np.empty_like(order)
        np.put_along_axis(pos, order, np.broadcast_to(np.arange(N), (chunk, N)), axis=1)
        r_idx, u_idx = np.nonzero((pos - start[h]) < n_h[h])
        code = r_idx * (H * D) + h[u_idx] * D + d[u_idx]
        S = np.bincount(code, weights=y[u_idx], minlength=chunk * H * D).reshape(chunk, H, D)
        Q = np.bincount(code, weights=y[u_idx] ** 2, minlength=chunk * H * D).reshape(chunk, H, D)
        nn = np.bincount(r_idx * D + d[u_idx], minlength=chunk * D).reshape(chunk, D)
        direct = (S * wh[None, :, None]).sum(axis=1)
        s2 = (Q - S**2 / n_h[None, :, None]) / np.maximum(n_h - 1, 1)[None, :, None]
        psi = (factor[None, :, None] * s2).sum(axis=1)
        for r in range(chunk):  # one small Fay-Herriot fit per replicate
            out = county_core(direct[r], psi[r], nn[r], X, other=np.zeros(D),
                              other_var=np.zeros(D), groups=g,
                              targets=np.bincount(g, weights=direct[r], minlength=len(gk)),
                              cv_max=0.15)
            direct_all.append(direct[r])
            final_all.append(out["estimate"])
            mse_all.append(out["mse"])
            method_all.append(out["method"])
    direct_all, final_all = np.array(direct_all), np.array(final_all)
    mse_all, method_all = np.array(mse_all), np.array(method_all)
    rel_direct = (((direct_all - truth) ** 2).mean(axis=0) / truth**2).mean()
    rel_final = (((final_all - truth) ** 2).mean(axis=0) / truth**2).mean()
    covered = np.abs(final_all - truth) <= 1.959964 * np.sqrt(mse_all)
    coverage = covered[method_all == "EBLUP"].mean()
    print(f"relative MSE: direct {rel_direct:.4f}, small-area {rel_final:.4f} "
          f"(ratio {rel_final / rel_direct:.3f}); EBLUP 95% coverage {coverage:.3f}")
    assert rel_final / rel_direct < 0.5
    assert 0.93 <= coverage <= 0.995


@pytest.mark.slow
def test_case_studies_are_a_sheet_of_the_workbook(demo):
    """The typical units' case studies (典型调查) are in bulletin.xlsx as in case_studies.csv:
    same rows, numbers at full precision, headers in the bulletin's language, and the lead
    sentence saying they estimate nothing."""
    cases = pd.read_csv(demo.files.csv["case_studies"], dtype={"firm_id": str, "industry": str})
    ws = openpyxl.load_workbook(demo.files.excel)["典型调查"]
    assert [c.value for c in ws[HEADER_ROW]] == ["统一社会信用代码", "名称", "市", "行业", "指标",
                                                 "数值", "上年同期", "增长（%）"]
    rows = list(ws.iter_rows(min_row=HEADER_ROW + 1, max_row=HEADER_ROW + len(cases), values_only=True))
    assert [r[0] for r in rows] == cases["firm_id"].tolist()
    np.testing.assert_allclose([r[5] for r in rows], cases["value"], rtol=1e-12)
    np.testing.assert_allclose([r[7] for r in rows], cases["growth"], rtol=1e-12)
    assert ws.cell(row=HEADER_ROW + 1, column=8).number_format == "0.0%"
    lead = ws.cell(row=HEADER_ROW + len(cases) + 2, column=1).value
    assert "不是对任何总体的估计" in lead


def test_report_command_writes_one_city_federations_bulletin(demo, tmp_path):
    """`survey report CONFIG --level city --area 450900` end to end (the command line, on a
    copy of the demo's ledger): the bulletin of the Yulin federation (city 450900) holds
    the city and its six counties with the demo's figures, names the city in its title,
    and is written beside (not over) the whole bulletin's folder."""
    shutil.copy(demo.ledger_file, tmp_path / "ledger.duckdb")
    text = Path(DEMO_CONFIG).read_text(encoding="utf-8")
    quarters = '["2006Q1", "2006Q2", "2006Q3", "2006Q4"]'  # 2006Q4's figures need no more
    text = text.replace('periods = ["2005Q1", "2005Q2", "2005Q3", "2005Q4", "2006Q1", "2006Q2", '
                        '"2006Q3", "2006Q4"]', f"periods = {quarters}")
    assert quarters in text
    text = text.replace('formats = ["html", "xlsx", "csv"]', 'formats = ["html", "csv"]')
    assert 'formats = ["html", "csv"]' in text  # the files checked (no workbook)
    config = tmp_path / "survey.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["report", str(config), "--output", str(tmp_path), "--level", "city",
                 "--area", "450900"]) == 0
    folder = tmp_path / "bulletin" / "city_450900"
    levels = pd.read_csv(folder / "levels.csv", dtype={"code": str})
    lv = demo.estimates.levels
    mine = lv[(lv["code"] == "450900") | (lv["parent"] == "450900")]
    assert levels["code"].nunique() == 7 and set(levels["code"]) == set(mine["code"])
    got = levels[levels["variable"] == "gross_output"].set_index("code")["estimate"]
    want = mine[mine["variable"] == "gross_output"].set_index("code")["estimate"] / 1e5  # 亿元
    np.testing.assert_allclose(got.sort_index(), want.sort_index(), rtol=1e-9)
    html = (folder / "bulletin.html").read_text(encoding="utf-8")
    assert "玉林" in html
    assert not (tmp_path / "bulletin" / "bulletin.html").exists()  # only the one federation's


def _sector_model_part(config, demo, variable="gross_output", period="2006Q4"):
    from survey.pipeline.steps import estimate_step

    quarters = ["2006Q4"]  # the published quarter alone (its model part needs no other)
    config = with_settings(config, "estimate", periods=quarters, small_areas=None)
    estimates = estimate_step(config, demo.take_all, {p: demo.surveys[p] for p in quarters},
                              plans=_plans(demo, config))
    t = estimates.by_period["sector"][period].table().set_index("variable")
    return t.loc[variable]


def test_take_none_model_fitted_on_a_census_in_the_cycle(demo, tmp_path):
    """[estimate.take_none] fit = "census" through the cycle's estimate step: a census file
    of every register firm's quarterly values (from the synthetic truth) fits the ratio
    model per industry, b_g = sum(y) / sum(x) over the census firms of industry g with a
    positive size x (a firm without last year's revenue tells nothing about b_g); the
    model part equals sum_g b_g X_g (X_g: register size of the take-none firms of g),
    computed here with pandas, and the sector's published total is within 3 SE of the
    truth."""
    frame = demo.plans[2006].frame.data
    quarterly = load_quarterly(year=2006)  # read once
    parts = []
    for q in ("2006Q1", "2006Q2", "2006Q3", "2006Q4"):  # every quarter the step estimates
        truth = quarterly[quarterly["period"] == q].set_index("firm_id")
        rows = frame[["firm_id", "industry", "revenue_prev_year"]].assign(period=q)
        for v in ("gross_output", "export_delivery", "profit_tax"):
            rows[v] = truth[v].reindex(rows["firm_id"]).fillna(0.0).to_numpy()
            # the year-to-date values too (the year-to-date estimate has its model part)
            rows[f"{v}_ytd"] = rows[v].to_numpy() + (parts[-1][f"{v}_ytd"].to_numpy() if parts else 0)
        parts.append(rows)
    census = pd.concat(parts, ignore_index=True)
    census.to_csv(tmp_path / "census.csv", index=False)
    config = with_settings(demo.config, "estimate", take_none=dataclasses.replace(
        demo.config.estimate.take_none, model="ratio", fit="census", census=tmp_path / "census.csv"))
    row = _sector_model_part(config, demo)
    q4 = census[(census["period"] == "2006Q4") & (census["revenue_prev_year"] > 0)]
    q4 = q4.groupby("industry")[["gross_output", "revenue_prev_year"]].sum()
    beta = q4["gross_output"] / q4["revenue_prev_year"]
    none = frame[(frame["part"] == "take_none").to_numpy()]
    X = none.groupby("industry")["revenue_prev_year"].sum()
    np.testing.assert_allclose(row["model"], float((beta.reindex(X.index) * X).sum()), rtol=1e-10)
    smallest = demo.estimates.by_period["sector"]["2006Q4"].table().set_index("variable")
    assert row["model"] != pytest.approx(smallest.loc["gross_output", "model"], rel=1e-6)
    truth = quarterly[quarterly["period"] == "2006Q4"].set_index("firm_id")
    true = truth[_among(truth.index, frame["firm_id"])]["gross_output"].sum()
    assert abs(row["estimate"] - true) < 3 * row["se"]


def test_regression_take_none_model_in_the_cycle(demo):
    """[estimate.take_none] model = "regression" through the cycle's estimate step: the
    model part equals sum over the take-none firms of a_g + b_g x, with (a_g, b_g) the OLS
    line of y on the register size fitted (numpy.polyfit, independently) on the 30
    smallest observed units of each industry."""
    from survey.estimation.takenone import observed_units, smallest_inputs

    config = with_settings(demo.config, "estimate", take_none=dataclasses.replace(
        demo.config.estimate.take_none, model="regression", fit="smallest", smallest=30))
    row = _sector_model_part(config, demo)
    size = config.register.size
    q4 = demo.take_all[demo.take_all["period"] == "2006Q4"]  # the demo's typical units are
    obs = observed_units([q4, demo.surveys["2006Q4"].data], list(config.estimate.variables))  # no inputs
    inputs = smallest_inputs(obs, size=size, by=["industry"], smallest=30)
    none = demo.plans[2006].frame.data
    none = none[(none["part"] == "take_none").to_numpy()]
    expected = 0.0
    for g, x in none.groupby("industry")[size]:
        fit = inputs[inputs["industry"] == g]
        b, a = np.polyfit(fit[size].to_numpy(float), fit["gross_output"].to_numpy(float), 1)
        expected += a * len(x) + b * x.sum()
    np.testing.assert_allclose(row["model"], expected, rtol=1e-9)
    ratio = demo.estimates.by_period["sector"]["2006Q4"].table().set_index("variable")
    assert row["model"] != pytest.approx(ratio.loc["gross_output", "model"], rel=1e-6)
