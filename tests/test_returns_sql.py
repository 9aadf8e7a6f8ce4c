"""Issue 18: edit rules as SQL WHERE expressions and ONS ratio-of-means imputation links in
SQL equal the in-memory survey.returns.rules.check and survey.returns.impute.ratio_of_means
(to 1e-10), on generated returns with missing values, zeros and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.engine import Engine
from survey.errors import EditError, ImputationError
from survey.form import DEMO_FORM
from survey.returns.impute import ratio_of_means
from survey.returns.rules import Rule, check, default_rules
from survey.returns.sql import check_sql, impute_ratio, impute_ratio_panel, rule_sql


def _returns(n=600, seed=7):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"firm_id": [f"f{k:05d}" for k in range(n)]})
    for var in DEMO_FORM.indicators:
        ytd = rng.lognormal(6, 1, n).round(1)
        frame[DEMO_FORM.ytd(var)] = ytd
        frame[DEMO_FORM.last_year(var)] = (ytd * rng.uniform(0.1, 6, n)).round(1)
        frame[DEMO_FORM.previous(var)] = (ytd * rng.uniform(0.5, 1.1, n)).round(1)
    cols = [c for c in frame.columns if c != "firm_id"]
    values = frame[cols].to_numpy()
    values[rng.uniform(size=values.shape) < 0.08] = np.nan  # missing
    values[rng.uniform(size=values.shape) < 0.02] = 0.0  # zeros: divisions by zero
    values[rng.uniform(size=values.shape) < 0.02] *= -1  # negative values
    frame[cols] = values
    return frame


EXTRA = [
    Rule(name="chain", expression="0 <= export_delivery_ytd <= gross_output_ytd"),
    Rule(name="ratio", expression="revenue_ytd / gross_output_ytd < 3 or gross_output_ytd < 10"),
    Rule(name="fmin", expression="min(revenue_ytd, gross_output_ytd) >= 100"),
    Rule(name="fmax", expression="max(revenue_ytd, gross_output_ytd_last_year) <= 5000"),
    Rule(name="funcs", expression="abs(log(gross_output_ytd) - log10(revenue_ytd)) < sqrt(40)"),
    Rule(name="power", expression="gross_output_ytd ** 0.5 > -revenue_ytd / 2"),
    Rule(name="not", expression="not (gross_output_ytd > 2000) & ~(revenue_ytd == 0)"),
    Rule(name="neq", expression="gross_output_ytd != gross_output_ytd_previous", severity="soft"),
]


def _same_report(mem, sql, unit="firm_id"):
    pd.testing.assert_frame_equal(mem.summary.reset_index(drop=True),
                                  sql.summary.reset_index(drop=True), check_dtype=False)
    a = mem.failures.sort_values(["rule", unit], kind="stable").reset_index(drop=True)
    b = sql.failures.sort_values(["rule", unit], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert mem.skipped == sql.skipped


def test_default_rules_and_a_wide_rule_set_match_check():
    """check_sql = check on the default rules of the demo form and on rules with chained
    comparisons, divisions by zero, fmin/fmax with missing values, log of negatives, powers,
    not/~ and & (three-valued logic)."""
    frame = _returns()
    session = Engine(memory_limit="300MB", threads=1).session()
    mem = check(frame, form=DEMO_FORM)
    sql = check_sql(session, frame, form=DEMO_FORM)
    _same_report(mem, sql)
    assert mem.summary["failed"].sum() > 50 and mem.summary["not_evaluated"].sum() > 50
    mem = check(frame, EXTRA)
    sql = check_sql(session, frame, EXTRA)
    _same_report(mem, sql)
    assert (mem.summary["failed"] > 0).sum() >= 6


def test_rules_from_parquet_and_missing_columns(tmp_path):
    frame = _returns(200, seed=3).drop(columns=["revenue_ytd"])
    frame.to_parquet(tmp_path / "r.parquet", index=False)
    mem = check(frame, form=DEMO_FORM)
    sql = check_sql(None, str(tmp_path / "r.parquet"), form=DEMO_FORM)
    _same_report(mem, sql)
    assert "revenue_nonnegative" in sql.skipped
    with pytest.raises(EditError, match="not in the data"):
        check_sql(None, frame, ["revenue_ytd >= 0"])


def test_rule_sql_refuses_what_it_cannot_write():
    """A rule SQL cannot write (abs of two arguments) is refused with an EditError naming
    the function."""
    rule = Rule(name="r", expression="a > 0")
    object.__setattr__(rule, "expression", "abs(a, b) > 0")  # past Rule's own check
    with pytest.raises(EditError, match=r"abs\(\) with 2 arguments"):
        rule_sql(rule)


def _panel(n=500, seed=11):
    rng = np.random.default_rng(seed)
    ids = [f"u{k:04d}" for k in range(n)]
    size = rng.lognormal(4, 1, n).round(1)
    industry = rng.choice(["C13", "C26", "C39"], n)
    band = rng.choice(["s", "m", "l"], n)
    y1 = (size * rng.uniform(0.5, 2, n)).round(1)
    y2 = (y1 * rng.uniform(0.8, 1.4, n)).round(1)
    frames = []
    for period, y, p_miss in (("2006Q1", y1, 0.2), ("2006Q2", y2, 0.25)):
        miss = rng.uniform(size=n) < p_miss
        marker = np.where(miss, "missing", "returned").astype(object)
        edited = ~miss & (rng.uniform(size=n) < 0.05)
        marker[edited] = "edited"
        frames.append(pd.DataFrame({
            "firm_id": ids, "period": period, "industry": industry, "band": band,
            "size": np.where(rng.uniform(size=n) < 0.02, np.nan, size),
            "gross_output_ytd": np.where(miss, np.nan, y), "gross_output_marker": marker}))
    return frames


def test_ratio_imputation_matches_ratio_of_means():
    """Links and imputed values of the second period equal ratio_of_means on the two-period
    panel (forward from returned and constructed values, construction without history)."""
    q1, q2 = _panel()
    # a unit with a missing auxiliary must have a history: give those a Q1 return
    no_aux = q1["size"].isna() | q2["size"].isna()
    q1.loc[no_aux, "gross_output_ytd"] = 50.0
    q1.loc[no_aux, "gross_output_marker"] = "returned"
    q1["size"] = q1["size"].fillna(q2["size"])
    q2["size"] = q2["size"].fillna(q1["size"])
    q1 = q1.iloc[40:]  # 40 units new in Q2: constructed when they do not return
    panel = pd.concat([q1, q2], ignore_index=True)
    mem = ratio_of_means(panel, "gross_output_ytd", by=["industry", "band"], auxiliary="size")
    session = Engine(memory_limit="300MB", threads=1).session()
    # period 1 (first): construction only, as ratio_of_means without backward imputation
    links1, imputed1 = impute_ratio(session, q1, None, "gross_output_ytd",
                                    by=["industry", "band"], auxiliary="size")
    links2, imputed2 = impute_ratio(session, q2, imputed1, "gross_output_ytd",
                                    by=["industry", "band"], auxiliary="size")
    ref = mem.links[mem.links["period"] == "2006Q2"].merge(links2, on=["industry", "band"],
                                                           suffixes=("", "_sql"))
    assert len(ref) == 9
    np.testing.assert_allclose(ref["forward_link_sql"], ref["forward_link"], rtol=1e-10)
    np.testing.assert_allclose(ref["construction_link_sql"], ref["construction_link"], rtol=1e-10)
    assert ref["matched_sql"].tolist() == ref["matched"].tolist()
    assert ref["returned_sql"].tolist() == ref["returned"].tolist()
    want = mem.data[mem.data["period"] == "2006Q2"].sort_values("firm_id")
    got = imputed2.sort_values("firm_id")
    np.testing.assert_allclose(got["gross_output_ytd"], want["gross_output_ytd"], rtol=1e-10)
    assert got["gross_output_marker"].tolist() == want["gross_output_marker"].tolist()
    counts = got["gross_output_marker"].value_counts()
    assert counts["forward_imputed"] > 50 and counts["constructed"] >= 3


def test_ratio_imputation_needs_a_link():
    q1, q2 = _panel(60, seed=2)
    q2.loc[q2["industry"] == "C13", "gross_output_marker"] = "missing"
    q2.loc[q2["industry"] == "C13", "gross_output_ytd"] = np.nan
    q1.loc[q1["industry"] == "C13", "gross_output_marker"] = "missing"
    q2["size"] = q2["size"].fillna(1.0)
    with pytest.raises(ImputationError, match="C13"):
        impute_ratio(None, q2, q1, "gross_output_ytd", by="industry", auxiliary="size")


def test_imputation_written_to_parquet(tmp_path):
    q1, q2 = _panel(80, seed=4)
    q1 = q1.assign(gross_output_ytd=q1["gross_output_ytd"].fillna(1.0),
                   gross_output_marker="returned")
    links, path = impute_ratio(None, q2, q1, "gross_output_ytd", by="industry",
                               output=tmp_path / "q2.parquet")
    out = pd.read_parquet(path)
    assert out["gross_output_ytd"].notna().all() and len(out) == 80
    assert set(out["gross_output_marker"]) <= {"returned", "edited", "forward_imputed"}


def _ytd_panel(n=400, seed=5):
    """Four quarters over a year end: year-to-date values rising within each year, 20-30%
    missing, some edited, units entering and leaving, classes that change."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{k:04d}" for k in range(n)])
    size = rng.lognormal(4, 1, n).round(1)
    level = size * rng.uniform(0.5, 2, n)
    frames = {}
    ytd = np.zeros(n)
    for j, period in enumerate(("2006Q3", "2006Q4", "2007Q1", "2007Q2")):
        if period.endswith("Q1"):
            ytd = np.zeros(n)
        ytd = ytd + (level * rng.uniform(0.1, 0.5, n)).round(1)
        miss = rng.uniform(size=n) < (0.2 + 0.03 * j)
        marker = np.where(miss, "missing", "returned").astype(object)
        marker[~miss & (rng.uniform(size=n) < 0.05)] = "edited"
        keep = np.ones(n, dtype=bool)
        keep[:45] = j > 0  # the first units enter in the second quarter
        keep[n - 10 * j:] = False  # the last units leave
        industry = rng.choice(["C13", "C26"], n) if j == 2 else np.where(size > 50, "C26", "C13")
        frames[period] = pd.DataFrame({
            "firm_id": ids, "period": period, "industry": industry, "size": size,
            "gross_output_ytd": np.where(miss, np.nan, ytd),
            "gross_output_marker": marker})[keep].reset_index(drop=True)
    return frames


@pytest.mark.parametrize("cumulative", [False, True])
def test_panel_imputation_with_backward_and_bounds_matches_ratio_of_means(cumulative):
    """impute_ratio_panel (forward, backward from the next period's return, construction;
    with cumulative=True the year-to-date bounds) equals ratio_of_means on a four-quarter
    panel over a year end, values and markers to 1e-10, links too."""
    frames = _ytd_panel()
    panel = pd.concat(frames.values(), ignore_index=True)
    mem = ratio_of_means(panel, "gross_output_ytd", by="industry", auxiliary="size",
                         cumulative=cumulative)
    session = Engine(memory_limit="300MB", threads=1).session()
    links, out = impute_ratio_panel(session, frames, "gross_output_ytd", by="industry",
                                    auxiliary="size", cumulative=cumulative)
    ref = mem.links.merge(links, on=["period", "industry"], suffixes=("", "_sql"))
    assert len(ref) == 8
    np.testing.assert_allclose(ref["forward_link_sql"], ref["forward_link"], rtol=1e-10)
    np.testing.assert_allclose(ref["construction_link_sql"], ref["construction_link"],
                               rtol=1e-10)
    got = pd.concat(out.values(), ignore_index=True).sort_values(["period", "firm_id"])
    want = mem.data.sort_values(["period", "firm_id"])
    np.testing.assert_allclose(got["gross_output_ytd"], want["gross_output_ytd"], rtol=1e-10)
    assert got["gross_output_marker"].tolist() == want["gross_output_marker"].tolist()
    counts = got["gross_output_marker"].value_counts()
    assert counts["backward_imputed"] > 20 and counts["forward_imputed"] > 100
    assert counts["constructed"] >= 3
    if cumulative:  # no imputed year to date falls within a year
        wide = got.pivot(index="firm_id", columns="period", values="gross_output_ytd")
        for a, b in (("2006Q3", "2006Q4"), ("2007Q1", "2007Q2")):
            both = wide[[a, b]].dropna()
            assert (both[b] >= both[a] - 1e-9).all()
        plain = ratio_of_means(panel, "gross_output_ytd", by="industry", auxiliary="size")
        assert not np.allclose(plain.data["gross_output_ytd"], mem.data["gross_output_ytd"])


def test_panel_imputation_needs_a_backward_link():
    """A unit missing in the first quarter with a return in the second needs the backward
    link of its class; with no unit returning in both quarters in that class, both
    ratio_of_means and impute_ratio_panel refuse, naming the period."""
    frames = _ytd_panel(80, seed=9)
    q3, q4 = frames["2006Q3"].copy(), frames["2006Q4"].copy()
    both = q3["firm_id"].isin(q4["firm_id"])
    c13 = set(q4.loc[q4["industry"] == "C13", "firm_id"])
    q3.loc[q3["firm_id"].isin(c13) & both, ["gross_output_ytd", "gross_output_marker"]] = [
        np.nan, "missing"]
    two = {"2006Q3": q3, "2006Q4": q4}
    with pytest.raises(ImputationError, match="2006Q3"):
        ratio_of_means(pd.concat(two.values()), "gross_output_ytd", by="industry",
                       auxiliary="size")
    with pytest.raises(ImputationError, match="no backward link.*2006Q3"):
        impute_ratio_panel(None, two, "gross_output_ytd", by="industry", auxiliary="size")


def test_log_and_sqrt_outside_their_domain_give_numpys_results():
    """log(0) is -inf and the log or square root of a negative number NaN, as in numpy:
    DuckDB 1.x raises "cannot take logarithm of zero" on the bare function, so the SQL says
    numpy's results itself; the check in SQL equals the in-memory check."""
    df = pd.DataFrame({"firm_id": list("abcdefg"),
                       "x": [0.0, -1.0, 4.0, np.nan, np.inf, -np.inf, 100.0]})
    rules = ["log(x) < 3", "sqrt(x) >= 0", "log10(x) <= 1", "not (log(x) > -1)"]
    want = check(df, rules, id="firm_id")
    got = check_sql(None, df, rules, id="firm_id")
    pd.testing.assert_frame_equal(got.summary, want.summary)
    assert want.summary[["evaluated", "failed"]].values.tolist() == [[2, 1], [3, 0], [2, 1],
                                                                       [2, 2]]
    assert (got.failures[["firm_id", "rule"]].values.tolist()
            == want.failures[["firm_id", "rule"]].values.tolist())
