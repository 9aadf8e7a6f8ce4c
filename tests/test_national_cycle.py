"""Issue 18: the national cycle out of core (survey.pipeline.national.run_national and
`survey demo --national`) on 50,000 firms: the estimates equal the in-memory Survey on the
same weighted sample to 1e-10, the imputation equals ratio_of_means, and a rerun resumes
(only the steps whose markers are gone, and the ones after them, run again)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.engine import Engine
from survey.pipeline.national import BREAKDOWNS, NATIONAL_STEPS, VARIABLES, design, run_national

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
                 "weighted.parquet", "estimates.csv", "bulletin/bulletin.md",
                 "bulletin/province.csv"):
        assert (folder / name).exists(), name


def test_estimates_equal_the_in_memory_survey(national):
    """scan(weighted.parquet) totals by sector, province and industry = Survey on the same
    rows (pandas) to 1e-10."""
    folder, result, _ = national
    frame = pd.read_parquet(folder / "weighted.parquet")
    mem = sv.Survey(frame, design())
    est = result.estimates
    for name, by in BREAKDOWNS.items():
        want = mem.total(list(VARIABLES), by=by, na="drop").table()
        got = est[est["breakdown"] == name].reset_index(drop=True)
        assert len(got) == len(want)
        np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-10)
        np.testing.assert_allclose(got["se"], want["se"], rtol=1e-10)
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


def test_rerun_resumes_after_the_last_finished_step(national):
    folder, result, _ = national
    (folder / ".done" / "bulletin.json").unlink()
    again = run_national(folder, firms=FIRMS, progress=False)
    assert again.ran() == ["bulletin"]
    pd.testing.assert_frame_equal(again.estimates, result.estimates)
    (folder / ".done" / "estimate.json").unlink()
    again = run_national(folder, firms=FIRMS, progress=False)
    assert again.ran() == ["estimate", "bulletin"]
    assert run_national(folder, firms=FIRMS, progress=False).ran() == []


def test_cli_demo_national_resumes(national, capsys):
    from survey.cli import main

    folder, _, _ = national
    copy = folder.parent / "cli_copy"
    shutil.copytree(folder, copy)
    (copy / ".done" / "bulletin.json").unlink()
    assert main(["demo", "--national", "--firms", str(FIRMS), "--output", str(copy),
                 "--memory-limit", "500MB"]) == 0
    out = capsys.readouterr().out
    assert "bulletin" in out and "skipped" in out
