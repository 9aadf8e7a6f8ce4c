"""Issue 18: the national cycle out of core (survey.pipeline.national.run_national and
`survey demo --national`) on 50,000 firms: the estimates equal the in-memory Survey on the
same weighted sample to 1e-10, the growth on a comparable basis equals Survey.ratio to 1e-10,
the imputation (current and last year's values) equals ratio_of_means, the disclosure control
equals protect_table on the units, the HTML / Excel bulletin holds the estimates, and a rerun
resumes (only the steps whose markers are gone, and the ones after them, run again)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.engine import Engine
from survey.pipeline.national import (
    BREAKDOWNS,
    DISCLOSURE_TABLE,
    LAST_YEAR,
    NATIONAL_STEPS,
    VARIABLES,
    design,
    marker_of,
    run_national,
)

FIRMS = 50_000


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    folder = tmp_path_factory.mktemp("national")
    lines = []
    result = run_national(folder, firms=FIRMS, engine=Engine(memory_limit="500MB", threads=2,
                                                             temp_directory=folder / "spill"),
                          progress=lines.append)
    return folder, result, lines


def test_every_step_runs_and_reports_rows(national):
    folder, result, lines = national
    assert result.ran() == list(NATIONAL_STEPS)
    assert (result.steps["rows"] > 0).all()
    assert any("rows/s" in line for line in lines)
    for name in ("register.parquet", "register_prn.parquet", "plan.parquet", "sample.parquet",
                 "ledger.duckdb", "edit_summary.csv", "imputed.parquet", "links.csv",
                 "weighted.parquet", "estimates.csv", "growth.csv", "bulletin/bulletin.md",
                 "bulletin/province.csv", "bulletin/bulletin.html", "bulletin/bulletin.xlsx",
                 "disclosure/summary.csv", "bulletin/province_industry.csv"):
        assert (folder / name).exists(), name


@pytest.fixture(scope="module")
def calibrated(national):
    """:func:`_calibrated` of the module's run, computed once for the tests that use it."""
    return _calibrated(national[0])


def _calibrated(folder):
    """The in-memory Survey of weighted.parquet calibrated to register totals computed here
    with pandas: take-some firms (not above the size; those born this year, without last
    year's revenue, included, as in the plan) per province, the take-all firms as one
    cell, the take-some firms' revenue of last year (0 for those born this year)."""
    frame = pd.read_parquet(folder / "weighted.parquet")
    reg = pd.read_parquet(folder / "register_prn.parquet",
                          columns=["province", "above_size", "revenue_prev_year"])
    some = reg[~reg["above_size"].to_numpy()]
    counts = some.groupby("province").size().astype(float).to_dict()
    counts["take-all"] = float(reg["above_size"].sum())
    totals = {"calibration_cell": counts,
              "calibration_size": float(some["revenue_prev_year"].fillna(0.0).sum())}
    return frame, sv.Survey(frame, design()).calibrate(totals)


def test_estimates_equal_the_in_memory_survey(national, calibrated):
    """scan(weighted.parquet) calibrated to the register, totals by sector, province,
    industry, province x industry, zone and each channel = the in-memory Survey calibrated
    to totals computed with pandas, on the same rows, to 1e-10 (estimates and SEs with the
    calibration residuals; the SEs of nearly enumerated cells, below 1e-3 of their estimate,
    to 1e-12 of the estimate); the final weights written are the in-memory calibrated
    weights, and a take-all firm's weight stays 1."""
    _, result, _ = national
    frame, mem = calibrated
    np.testing.assert_allclose(frame["weight"], mem.weights, rtol=1e-10)
    take_all = (frame["stratum"] == "take_all").to_numpy()
    np.testing.assert_allclose(frame["weight"].to_numpy()[take_all], 1.0, rtol=1e-12)
    assert not np.allclose(frame["weight"], frame["design_weight"])  # calibration did act
    est = result.estimates
    for name, by in BREAKDOWNS.items():
        want = mem.total(list(VARIABLES), by=by, na="drop").table()
        got = est[est["breakdown"] == name].reset_index(drop=True)
        assert len(got) == len(want)
        np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-10)
        # an SE below ~1e-3 of its estimate (a cell nearly enumerated: its variance is the
        # calibration residuals of firms outside it) comes out of cancellation; the in-memory
        # SE itself moves by up to 7e-8 relative when the rows are shuffled (measured), so
        # those agree to 1e-12 of the estimate, the others to 1e-10
        gap = np.abs(got["se"] - want["se"]).to_numpy()
        bound = 1e-10 * want["se"].to_numpy() + 1e-12 * np.abs(want["estimate"].to_numpy())
        assert (gap <= bound).all(), (name, float((gap / want["se"]).max()))
        good = (want["se"] > 1e-3 * np.abs(want["estimate"])).to_numpy()
        np.testing.assert_allclose(got["se"][good], want["se"][good], rtol=1e-10)
    assert est.loc[est["breakdown"] == "sector", "cv"].max() < 0.05


def test_imputation_equals_ratio_of_means(national):
    """The SQL links per industry equal ratio_of_means' forward and construction links on
    the two quarters (same units, same markers)."""
    from survey.returns.impute import ratio_of_means

    folder, _, _ = national
    links = pd.read_csv(folder / "links.csv", dtype={"industry": str})
    imputed = pd.read_parquet(folder / "imputed.parquet")
    assert {"forward_imputed", "constructed"} <= set(imputed["gross_output_marker"])
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    with Ledger.open(folder / "ledger.duckdb", form=DEMO_FORM, read_only=True) as ledger:
        quarters = {p: ledger.quarter_relation(p, register=False).df() for p in ("2018Q1",
                                                                                "2018Q2")}
    units = imputed[["firm_id", "industry", "revenue_prev_year"]]
    panel = pd.concat([units.merge(q[["firm_id", "gross_output_ytd", "gross_output_marker"]],
                                   on="firm_id", how="left").assign(period=p)
                       for p, q in quarters.items()], ignore_index=True)
    panel["gross_output_marker"] = panel["gross_output_marker"].fillna("missing")
    has_aux = panel["revenue_prev_year"].notna()  # the same register value in both quarters
    # the forward link uses every matched unit; the construction link those with the auxiliary
    forward = ratio_of_means(panel.fillna({"revenue_prev_year": 1.0}), "gross_output_ytd",
                             by="industry", auxiliary="revenue_prev_year").links
    construct = ratio_of_means(panel[has_aux], "gross_output_ytd", by="industry",
                               auxiliary="revenue_prev_year").links
    got = links[links["variable"] == "gross_output_ytd"].set_index("industry").sort_index()
    for mem, column in ((forward, "forward_link"), (construct, "construction_link")):
        want = mem[mem["period"] == "2018Q2"].set_index("industry").sort_index()
        np.testing.assert_allclose(got[column], want.loc[got.index, column], rtol=1e-10)
    assert (got["matched"] > 0).all()


def test_growth_equals_the_in_memory_ratio(national, calibrated):
    """growth.csv (Y / X - 1 with Y, X from scan().total([y, y_last_year], na="drop"), R and
    its SE from scan().ratio) = the in-memory Survey.ratio(y, y_last_year, na="drop") - 1
    (R svyratio) on the same rows read with pandas, estimate, SE and t interval, to 1e-10;
    Y and X are the same firms' totals. The SE by the covariance formula
    (V_YY - 2 R V_YX + R^2 V_XX) / X^2 agrees to 1e-8 relative or 1e-8 in growth units (it
    loses digits in cells of mostly take-all firms, where the SE is near 0)."""
    from survey.quarterly.growth import growth_table

    _, result, _ = national
    _, mem = calibrated
    growth = result.growth
    assert len(growth) == len(result.estimates)  # one growth per domain and variable
    for name, by in BREAKDOWNS.items():
        for v in VARIABLES:
            want = mem.ratio(v, LAST_YEAR[v], by=by, na="drop").table()
            pair = mem.total([v, LAST_YEAR[v]], by=by, na="drop")
            both = pair.table()
            got = growth[(growth["breakdown"] == name) & (growth["variable"] == v)]
            got = got.reset_index(drop=True)
            assert len(got) == len(want) > 0
            np.testing.assert_allclose(got["growth"], want["estimate"] - 1, rtol=1e-10,
                                       atol=1e-12)
            # cells of take-all firms alone: SE 0, up to 1e-17 of rounding either way
            np.testing.assert_allclose(got["se"], want["se"], rtol=1e-10, atol=1e-15)
            np.testing.assert_allclose(got["ci_low"], want["ci_low"] - 1, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(got["ci_high"], want["ci_high"] - 1, rtol=1e-10,
                                       atol=1e-12)
            np.testing.assert_allclose(got["current"], both.loc[both["variable"] == v,
                                                                "estimate"], rtol=1e-10)
            np.testing.assert_allclose(got["last_year"], both.loc[both["variable"] == LAST_YEAR[v],
                                                                  "estimate"], rtol=1e-10)
            # the covariance formula on the in-memory totals: the same up to its cancellation
            formula = growth_table(pair, name, by, v, LAST_YEAR[v])
            np.testing.assert_allclose(formula["se"], want["se"], rtol=1e-8, atol=1e-8)  # growth units
    sector = growth[growth["breakdown"] == "sector"]
    assert ((sector["growth"] > 0) & (sector["growth"] < 0.5)).all()  # the generator's drift
    assert (sector["se"] < 0.01).all()


@pytest.fixture(scope="module")
def ledger_quarters(national):
    """Both quarters of the run's ledger as frames (``Ledger.to_frame``), read once for the
    four variables of the next test."""
    from survey.form import DEMO_FORM
    from survey.returns.ledger import Ledger

    with Ledger.open(national[0] / "ledger.duckdb", form=DEMO_FORM, read_only=True) as ledger:
        return {p: ledger.to_frame(p, register=False) for p in ("2018Q1", "2018Q2")}


@pytest.mark.parametrize("variable", [name for v in VARIABLES for name in (v, LAST_YEAR[v])])
def test_imputed_values_equal_ratio_of_means(national, ledger_quarters, variable):
    """Every imputed value of 2018Q2 (current and last year's) equals ratio_of_means on a
    panel of the same units: 2018Q1 rows of the units that returned then (the SQL path
    carries only returned values forward), 2018Q2 rows of every take-all and sampled unit;
    value and marker to 1e-10. The units no link can give (no 2018Q1 return, no register
    revenue) stay missing."""
    from survey.returns.impute import ratio_of_means

    folder, _, _ = national
    imputed = pd.read_parquet(folder / "imputed.parquet").set_index("firm_id").sort_index()
    mark = marker_of(variable)
    quarters = ledger_quarters
    units = imputed.reset_index()[["firm_id", "industry", "revenue_prev_year"]]
    parts = {}
    for p, q in quarters.items():
        q = q[["firm_id", variable] + ([mark] if mark in q.columns else [])]
        if mark not in q.columns:  # last year's values: every ledger value was returned
            q = q.assign(**{mark: np.where(np.isfinite(q[variable]), "returned", "missing")})
        parts[p] = units.merge(q, on="firm_id", how="left").fillna({mark: "missing"})
    q1, q2 = parts["2018Q1"], parts["2018Q2"]
    ret1 = q1[np.isfinite(q1[variable]) & q1[mark].isin(["returned", "edited"])]
    ret2 = np.isfinite(q2[variable]) & q2[mark].isin(["returned", "edited"])
    lost = ~ret2 & ~q2["firm_id"].isin(ret1["firm_id"]) & q2["revenue_prev_year"].isna()
    panel = pd.concat([ret1.assign(period="2018Q1"), q2[~lost].assign(period="2018Q2")],
                      ignore_index=True)
    ref = ratio_of_means(panel, variable, by="industry", auxiliary="revenue_prev_year",
                         marker=mark).data
    ref = ref[ref["period"] == "2018Q2"].set_index("firm_id").sort_index()
    got = imputed.loc[ref.index]
    np.testing.assert_allclose(got[variable], ref[variable], rtol=1e-10)
    assert (got[mark] == ref[mark]).all()
    assert {"forward_imputed", "constructed"} <= set(got[mark])
    missing = imputed.loc[q2.loc[lost, "firm_id"]]
    assert missing[variable].isna().all() and (missing[mark] == "missing").all()
    assert len(got) + len(missing) == len(imputed)


def _sheet(wb, name):
    """The rows of a bulletin sheet below its header row, as dicts by header text."""
    from survey.publish.report.excel import HEADER_ROW

    ws = wb[name]
    head = [c.value for c in ws[HEADER_ROW]]
    rows = []
    for r in ws.iter_rows(min_row=HEADER_ROW + 1):
        if r[0].value is None:
            break
        rows.append({h: c for h, c in zip(head, r, strict=True)})
    return head, rows


def test_bulletin_html_and_workbook(national):
    """The national bulletin (write_bulletin of national_bulletin_content): the workbook's
    headline and sector sheets hold estimates.csv's sector totals and intervals and
    growth.csv's growth to 1e-12, growth stored as fractions shown in % (format 0.0%), the
    interval headers name the 95% level; the HTML names it too and says the data are
    synthetic, the work ran out of core and the weights are calibrated (GREG)."""
    import openpyxl

    folder, result, _ = national
    est = result.estimates[result.estimates["breakdown"] == "sector"].set_index("variable")
    gro = result.growth[result.growth["breakdown"] == "sector"].set_index("variable")
    wb = openpyxl.load_workbook(folder / "bulletin" / "bulletin.xlsx")
    assert {"Headline figures", "Sector", "By province", "By industry",
            "Growth"} <= set(wb.sheetnames)
    head, rows = _sheet(wb, "Sector")
    assert {"95% CI low", "95% CI high", "Growth (%)", "SE of growth (pp)"} <= set(head)
    assert len(rows) == len(VARIABLES)
    labels = {"Gross industrial output": "gross_output_ytd", "Main business revenue": "revenue_ytd"}
    for row in rows:
        v = labels[row["Indicator"].value]
        for header, column in (("Estimate", "estimate"), ("SE", "se"), ("CV (%)", "cv"),
                               ("95% CI low", "ci_low"), ("95% CI high", "ci_high")):
            assert row[header].value == pytest.approx(est.loc[v, column], rel=1e-12)
        for header, column in (("Growth (%)", "growth"), ("SE of growth (pp)", "se"),
                               ("Growth low (%)", "ci_low"), ("Growth high (%)", "ci_high")):
            assert row[header].value == pytest.approx(gro.loc[v, column], rel=1e-12)
            assert row[header].number_format == "0.0%"
        assert 0 < row["Growth (%)"].value < 0.5  # a fraction shown as a percentage
    head, rows = _sheet(wb, "Headline figures")
    assert {"95% CI low", "95% CI high", "Growth (%)"} <= set(head)
    for row in rows:
        v = labels[row["Indicator"].value]
        assert row["Estimate"].value == pytest.approx(est.loc[v, "estimate"], rel=1e-12)
        assert row["95% CI low"].value == pytest.approx(est.loc[v, "ci_low"], rel=1e-12)
        assert row["Growth (%)"].value == pytest.approx(gro.loc[v, "growth"], rel=1e-12)
        assert row["Growth (%)"].number_format == "0.0%"
    head, rows = _sheet(wb, "By province")
    assert len(rows) == (result.estimates["breakdown"] == "province").sum()
    head, rows = _sheet(wb, "By industry")
    assert "industry_name" not in head and all(r[head[1]].value for r in rows)  # names shown
    html = (folder / "bulletin" / "bulletin.html").read_text(encoding="utf-8")
    assert "95% confidence interval" in html and "95% CI" in html
    assert "Synthetic data" in html and "Out of core" in html
    # calibrated estimates: the methods note says so, the quality table has the adjustments
    assert "weighted by calibrated weights" in html and "GREG" in html
    assert "Not done here: calibration" not in html
    assert "Smallest calibration adjustment g" in html and "calibration_adjustment" not in html
    growth_pct = f"+{100 * gro.loc['gross_output_ytd', 'growth']:.1f}%"
    assert growth_pct in html  # the headline's growth, in %
    md = (folder / "bulletin" / "bulletin.md").read_text(encoding="utf-8")
    assert "growth (%)" in md


def test_bulletin_content_errors():
    from survey.errors import ColumnError, DisclosureError, ReportError
    from survey.publish.disclosure.outofcore import contribution_frame
    from survey.publish.report.national import national_bulletin_content
    from survey.quarterly.growth import growth_table

    est = pd.DataFrame({"breakdown": "sector", "domain": "all", "variable": ["revenue_ytd"],
                        "estimate": [1.0], "se": 0.1, "cv": 0.1, "ci_low": 0.8, "ci_high": 1.2,
                        "df": 9, "n": 10})
    gro = pd.DataFrame({"breakdown": "sector", "domain": "all", "variable": ["revenue_ytd"] * 2,
                        "current": 1.0, "last_year": 1.0, "growth": 0.0, "se": 0.1,
                        "ci_low": -0.2, "ci_high": 0.2, "level": [0.95, 0.9]})
    with pytest.raises(ReportError, match="mixes confidence levels"):
        national_bulletin_content(est, gro, period="2018Q2", firms=1000)

    s = Engine(memory_limit="200MB").session()
    units = pd.DataFrame({"firm_id": list("abcde"), "r": ["A"] * 5, "c": ["x"] * 5,
                          "y": [5.0, 4.0, 3.0, 2.0, -1.0]})
    with pytest.raises(DisclosureError, match=r"negative contributions \(first in cell \{'r': 'A'"):
        contribution_frame(s, s.register(units), "y", keys=["r", "c"])
    df = pd.DataFrame({"w": [1.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(ColumnError, match=r"\['x'\] are not variables"):
        growth_table(sv.Survey(df, sv.Design(weights="w")).total("y"), "sector", None, "y", "x")


@pytest.mark.parametrize("variable", VARIABLES)
def test_disclosure_equals_protect_table_on_the_units(national, variable):
    """The disclose step (per-cell tabulation in SQL, then protect_table on the reduced
    frame) gives the same cells as protect_table on the weighted units read with pandas
    (complete cases, weights=the calibrated weight): status, rule, firms, contributors identical;
    value, largest, second largest and protections to 1e-10; the audit's intervals to 1e-9
    of the table's scale; every suppressed cell protected. The cell values are the published
    totals (province x industry, its margins, the sector) to 1e-10."""
    from survey.publish.disclosure import protect_table

    folder, result, _ = national
    rows, columns = DISCLOSURE_TABLE
    got = pd.read_csv(folder / "disclosure" / f"{variable}_cells.csv",
                      dtype={rows: str, columns: str})
    audit = pd.read_csv(folder / "disclosure" / f"{variable}_audit.csv")
    units = pd.read_parquet(folder / "weighted.parquet").dropna(subset=list(VARIABLES))
    ref = protect_table(units, variable, rows=rows, columns=columns, weights="weight")
    want = ref.cells
    assert len(got) == len(want)
    for c in (rows, columns, "row_level", "column_level", "status", "firms", "contributors"):
        assert (got[c].to_numpy() == want[c].to_numpy()).all(), c
    assert (got["rule"].fillna("").to_numpy() == want["rule"].to_numpy()).all()
    for c in ("value", "largest", "second_largest", "upper_protection", "lower_protection"):
        np.testing.assert_allclose(got[c], want[c], rtol=1e-10, atol=1e-10 * want["value"].max())
    assert {"primary", "secondary"} <= set(got["status"])
    assert audit["protected"].all() and ref.audit["protected"].all()
    assert (audit["cell"].to_numpy() == ref.audit["cell"].to_numpy()).all()
    scale = want["value"].max()
    for c in ("lower", "upper"):
        np.testing.assert_allclose(audit[c], ref.audit[c], rtol=0, atol=1e-9 * scale)
    # the protected table holds the published totals
    table = ["sector", rows, columns, "_".join(DISCLOSURE_TABLE)]  # the table and its margins
    est = result.estimates[(result.estimates["variable"] == variable)
                           & result.estimates["breakdown"].isin(table)]
    label = got.loc[0, rows]
    keyed = got.assign(domain=np.select(
        [(got["row_level"] == 0) & (got["column_level"] == 0), got["column_level"] == 0,
         got["row_level"] == 0], ["all", got[rows], got[columns]],
        got[rows] + " / " + got[columns]))
    merged = est.merge(keyed, on="domain", how="left")
    assert merged["value"].notna().all() and label == "Total"
    np.testing.assert_allclose(merged["value"], merged["estimate"], rtol=1e-10)
    summary = pd.read_csv(folder / "disclosure" / "summary.csv").set_index("variable")
    assert summary.loc[variable, "rows_given"] < summary.loc[variable, "units"] == len(units)


def test_bulletin_shows_the_suppressions(national):
    """Suppressed cells of the province x industry table are 'x' in the workbook and the CSV,
    with their estimate, SE, interval and growth hidden; published cells keep theirs."""
    import openpyxl

    folder, _, _ = national
    rows, columns = DISCLOSURE_TABLE
    cells = pd.read_csv(folder / "disclosure" / "gross_output_ytd_cells.csv",
                        dtype={rows: str, columns: str})
    hidden = cells[cells["status"].isin(["primary", "secondary"])]
    table = pd.read_csv(folder / "bulletin" / "province_industry.csv", dtype={columns: str})
    go = table[table["variable"] == "gross_output"]
    flagged = go.merge(hidden[[rows, columns]], on=[rows, columns])
    assert len(flagged) == len(hidden) > 0
    assert (flagged["flag"] == "x").all()
    assert flagged[["estimate", "se", "ci_low", "ci_high", "growth", "growth_ci_low"]].isna().all().all()
    assert (go["flag"] == "x").sum() == len(hidden)
    shown = go[go["flag"] != "x"]
    assert shown["growth"].notna().all()
    wb = openpyxl.load_workbook(folder / "bulletin" / "bulletin.xlsx")
    _, sheet = _sheet(wb, "By province_industry")
    assert sum(r["Estimate"].value == "x" for r in sheet) == (table["flag"] == "x").sum()
    html = (folder / "bulletin" / "bulletin.html").read_text(encoding="utf-8")
    assert "Disclosure control" in html


def test_rerun_resumes_after_the_last_finished_step(national, capsys):
    """A step whose marker is gone reruns with every step after it; a rerun resumes after the
    last finished step. One rerun of the disclose and one of the bulletin step check both
    (they were two bulletin runs and a disclose run): without its marker the disclose step
    reruns (here ``until="disclose"``) and deletes the later bulletin marker, so the next
    call, which resumes after the last finished step, reruns the bulletin alone. That call is
    `survey demo --national` on the folder (the command resumes too: it says which steps it
    skipped); a last call finds nothing to do and reads the same estimates back."""
    from survey.cli import main

    folder, result, _ = national
    (folder / ".done" / "disclose.json").unlink()  # a step and every step after it
    again = run_national(folder, firms=FIRMS, progress=False, until="disclose")
    assert again.ran() == ["disclose"]
    assert not (folder / ".done" / "bulletin.json").exists()  # the bulletin is due again
    capsys.readouterr()
    assert main(["demo", "--national", "--firms", str(FIRMS), "--output", str(folder),
                 "--memory-limit", "500MB"]) == 0
    out = capsys.readouterr().out
    skipped = [s for s in NATIONAL_STEPS
               if re.search(rf"^\s*{s}\s.*skipped$", out, re.MULTILINE)]
    assert skipped == list(NATIONAL_STEPS[:-1])  # every step but the bulletin
    assert re.search(r"^\s*bulletin\s.*rows/s$", out, re.MULTILINE), out  # it ran
    last = run_national(folder, firms=FIRMS, progress=False)
    assert last.ran() == []
    pd.testing.assert_frame_equal(last.estimates, result.estimates)
