"""Revisions through the configured cycle: a quarter published, its late returns loaded,
published again (the ledger's append-only record of published figures and the "r" flag).

Apart from tests/test_cycle.py so that it does not wait for the demo run: it runs its own
cycle on a copy of the demo configuration cut to what it checks.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import openpyxl
import pandas as pd

from survey.form import DEMO_FORM
from survey.pipeline import DEMO_CONFIG
from survey.pipeline.config import load_config, with_settings
from survey.pipeline.run import run_command
from survey.publish.report.excel import HEADER_ROW
from survey.returns.ledger import Ledger


def test_late_returns_revise_the_published_quarter(tmp_path):
    """Revisions: publish 2006Q3 with 90% of its returns, ingest the late returns, publish
    again. The ledger keeps both runs (append-only), published(as_of=1) is the first,
    revisions() shows the changed figures with whether they lie in the first interval,
    and the second bulletin flags them "r" (revisions.csv, series.csv, the HTML section)."""
    from survey.pipeline.steps import ingest_step, plan_step, select_step, simulate_step

    config = with_settings(load_config(DEMO_CONFIG), "survey", period="2006Q3")
    # what the check needs, no more: the sector (no breakdowns, channels or disclosure tables)
    config = with_settings(config, "estimate", periods=["2006Q1", "2006Q2", "2006Q3"],
                           small_areas=None, by=())
    config = with_settings(dataclasses.replace(config, channels=()), "disclosure", tables=())
    config = with_settings(config, "report", targets={})
    config = with_settings(config, "plan", output_excel=False)  # the CSV files are read back
    plans = plan_step(config, output=tmp_path, write=False)
    samples = select_step(config, plans, output=tmp_path)
    files, _ = simulate_step(config, samples, output=tmp_path)
    full = pd.read_csv(files["2006Q3"], dtype={"firm_id": str})
    early = full.sample(frac=0.9, random_state=1).sort_index()
    early_file = tmp_path / "returns_2006Q3_early.csv"
    early.to_csv(early_file, index=False)
    ledger = tmp_path / "ledger.duckdb"
    ingest_step(config, samples, {**files, "2006Q3": early_file}, ledger_file=ledger)
    # the first publication: its figures go into the ledger whatever the formats (the CSV
    # files suffice; the second bulletin is checked in every format)
    run_command(with_settings(config, "report", formats=["csv"]), "report", output=tmp_path)
    run_command(config, "ingest", files={"2006Q3": files["2006Q3"]}, output=tmp_path)  # the late returns
    content, bulletin = run_command(config, "report", output=tmp_path)
    with Ledger.open(ledger, form=DEMO_FORM, read_only=True) as book:
        first = book.published("2006Q3", as_of=1)
        latest = book.published("2006Q3")
        revisions = book.revisions("2006Q3")
    assert set(first["run"]) == {1} and set(latest["run"]) == {2}
    assert latest["ledger_txn"].iloc[0] > first["ledger_txn"].iloc[0]
    sector = revisions[(revisions["breakdown"] == "sector")].set_index("variable")
    assert sector.loc["gross_output", "revised"]
    change = sector.loc["gross_output", "relative_change"]
    assert 0 < abs(change) < 0.05  # late returns replace imputed values: a small revision
    expected = (sector["latest_estimate"].between(sector["first_ci_low"], sector["first_ci_high"]))
    assert (sector["within_interval"] == expected).all()
    shown = pd.read_csv(bulletin.csv["revisions"])
    # the late 2006Q3 returns also replace values back-imputed for 2006Q1-Q2 (the next
    # quarter's value divided by the class's growth), so earlier quarters may be revised too
    assert (shown["flag"] == "r").all() and "2006Q3" in set(shown["period"])
    series = pd.read_csv(bulletin.csv["series"])
    assert set(series.loc[series["period"] == "2006Q3", "flag"]) == {"r"}
    assert content.revisions_note and "修订" in bulletin.html.read_text(encoding="utf-8")
    ws = openpyxl.load_workbook(bulletin.excel)["修订"]  # the same table as a sheet
    assert [c.value for c in ws[HEADER_ROW]][:4] == ["统计时期", "指标", "首次公布", "最新估计"]
    cells = list(ws.iter_rows(min_row=HEADER_ROW + 1, max_row=HEADER_ROW + len(shown),
                              values_only=True))
    assert [r[0] for r in cells] == shown["period"].tolist()
    np.testing.assert_allclose([r[3] for r in cells], shown["latest"], rtol=1e-12)
    assert {r[-1] for r in cells} == {"r"}
