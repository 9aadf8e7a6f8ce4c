"""Tests of survey.returns.rules and survey.returns.detect: the rule language (safe
parsing, three-valued logic), failure tables, default rules of a return form, unit-error
detection, selective-editing scores and detection rates on the synthetic returns
simulator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from survey.errors import EditError
from survey.form import DEMO_FORM, Form
from survey.returns.detect import cumulative_conflicts, detect_unit_errors, selective_editing_scores
from survey.returns.rules import Rule, check, default_rules

#: What the demo passes: its form, the register size, the indicators on the register's
#: scale and the imputation classes.
DEMO = {"form": DEMO_FORM, "register": "revenue_prev_year",
        "register_scale": ("gross_output", "sales_output", "revenue"), "by": "industry"}


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "gross_output_ytd.__class__",
        "gross_output_ytd[0] > 1",
        "'a' == 'a'",
        "(lambda: 1)() > 0",
        "[x for x in y] == 1",
        "open('f') > 0",
        "exec('1') > 0",
        "a if b else c",
        "True",
    ],
)
def test_unsafe_or_malformed_rules_are_refused(expression):
    with pytest.raises(EditError):
        Rule(name="r", expression=expression)


def test_rule_needs_a_condition_and_valid_syntax():
    with pytest.raises(EditError, match="is a number, not a condition"):
        Rule(name="r", expression="a + b")
    with pytest.raises(EditError, match="not a valid expression"):
        Rule(name="r", expression="a >= ")
    with pytest.raises(EditError, match="severity"):
        Rule(name="r", expression="a > 0", severity="fatal")


def test_three_valued_logic_and_functions():
    df = pd.DataFrame({"a": [1.0, -1.0, np.nan, np.nan, 4.0], "b": [1.0, 1.0, 1.0, -1.0, 0.0]})
    passes, evaluated = Rule(name="r", expression="a > 0 and b > 0").evaluate(df)
    # row 3: a missing but b > 0 is False -> False and known
    assert passes.tolist() == [True, False, False, False, False]
    assert evaluated.tolist() == [True, True, False, True, True]
    passes, evaluated = Rule(name="r", expression="a > 0 or b > 0").evaluate(df)
    assert passes.tolist() == [True, True, True, False, True]
    assert evaluated.tolist() == [True, True, True, False, True]
    passes, evaluated = Rule(name="r", expression="not (0.5 <= a / b <= 2)").evaluate(df)
    assert passes.tolist() == [False, True, False, False, False]  # 4/0 = inf: not evaluated
    assert evaluated.tolist() == [True, True, False, False, False]
    passes, _ = Rule(name="r", expression="(abs(a - b) <= max(a, b) * 0.5) | (a < 0)").evaluate(df)
    assert passes.tolist()[:2] == [True, True]
    assert Rule(name="r", expression="log10(a) < sqrt(b) ** 2").variables == ("a", "b")


def test_check_failure_table_and_summary():
    df = pd.DataFrame(
        {
            "firm_id": ["f1", "f2", "f3", "f4"],
            "gross_output_ytd": [100.0, 50.0, -5.0, np.nan],
            "export_delivery_ytd": [20.0, 80.0, 0.0, 3.0],
        }
    )
    rules = [
        Rule(name="export", expression="export_delivery_ytd <= gross_output_ytd"),
        Rule(name="positive", expression="gross_output_ytd >= 0", severity="soft"),
    ]
    report = check(df, rules)
    assert report.failures[["firm_id", "rule", "severity"]].values.tolist() == [
        ["f2", "export", "hard"],
        ["f3", "export", "hard"],
        ["f3", "positive", "soft"],
    ]
    assert report.failures["values"].tolist()[0] == "export_delivery_ytd=80 gross_output_ytd=50"
    assert report.summary.set_index("rule")[["evaluated", "failed", "not_evaluated"]].values.tolist() == [
        [3, 2, 1],
        [3, 1, 1],
    ]
    assert report.flags["export"].tolist() == [False, True, True, False]
    assert sorted(report.failed_units("soft")) == ["f3"]
    assert str(report) == "3 rule failures in 2 of 4 units (2 rules checked, 0 skipped)"
    with pytest.raises(EditError, match="not in the data"):
        check(df, ["revenue_ytd >= 0"])
    with pytest.raises(EditError, match="unique"):
        check(df, [rules[0], rules[0]])


def test_default_rules_skip_absent_columns():
    df = pd.DataFrame({"firm_id": ["a"], "gross_output_ytd": [10.0], "export_delivery_ytd": [11.0]})
    report = check(df, form=DEMO_FORM)
    assert report.failures["rule"].tolist() == ["export_within_output"]
    assert "gross_output_cumulative" in report.skipped
    names = [r.name for r in default_rules(DEMO_FORM)]
    assert len(names) == len(set(names)) and "profit_tax_nonnegative" not in names


def test_unit_errors_hand_example():
    df = pd.DataFrame(
        {
            "firm_id": ["a", "b", "c", "d"],
            "period": ["2006Q2"] * 4,
            "revenue_ytd": [1_500_000.0, 900.0, 2_000_000.0, 3.0],
            "revenue_ytd_last_year": [1000.0, 1000.0, np.nan, 2500.0],
            "revenue_prev_year": [2000.0, 2000.0, 4000.0, 5000.0],
        }
    )
    found = detect_unit_errors(df, ["revenue"], **DEMO)
    flags = found.flags.set_index(["firm_id", "column"])
    assert flags.loc[("a", "revenue_ytd"), "ratio"] == pytest.approx(1500)
    # c: no last-year value, register revenue scaled to half a year: 2e6 / 2000 = 1000
    assert flags.loc[("c", "revenue_ytd"), "reference_column"] == "revenue_prev_year"
    assert flags.loc[("c", "revenue_ytd"), "ratio"] == pytest.approx(1000)
    # d: last year's value is the one in yuan
    assert flags.loc[("d", "revenue_ytd_last_year"), "corrected"] == pytest.approx(2.5)
    assert len(flags) == 3
    assert found.corrected["revenue_ytd"].tolist() == [1500.0, 900.0, 2000.0, 3.0]
    assert df["revenue_ytd"].tolist()[0] == 1_500_000.0  # input untouched


def test_unit_errors_whole_form_and_value_per_head():
    rng = np.random.default_rng(1)
    n = 50
    staff = rng.integers(20, 200, n).astype(float)
    df = pd.DataFrame(
        {
            "firm_id": [f"f{k}" for k in range(n)],
            "employees_ytd": staff,
            "gross_output_ytd": staff * rng.lognormal(5, 0.3, n),
        }
    )
    df["revenue_ytd"] = df["gross_output_ytd"] * 0.9
    df["profit_tax_ytd"] = df["gross_output_ytd"] * rng.uniform(0.001, 0.2, n)
    df.loc[0, ["gross_output_ytd", "revenue_ytd", "profit_tax_ytd"]] *= 1000  # whole form in yuan
    found = detect_unit_errors(df, ["gross_output", "revenue", "profit_tax"], form=DEMO_FORM)
    assert set(found.flags["firm_id"]) == {"f0"}
    assert set(found.flags["column"]) == {"gross_output_ytd", "revenue_ytd", "profit_tax_ytd"}
    assert "employees_ytd x median" in found.flags["reference_column"].iloc[0]


def test_selective_editing_scores_hand_computation():
    df = pd.DataFrame(
        {
            "firm_id": ["a", "b", "c", "d"],
            "county": ["x", "x", "y", "y"],
            "w": [1.0, 1.0, 10.0, 10.0],
            "gross_output_ytd": [110.0, 300.0, 50.0, 40.0],
            "gross_output_ytd_last_year": [100.0, 200.0, 50.0, 50.0],
        }
    )
    scores = selective_editing_scores(df, ["gross_output"], weights="w", by="county")
    # county x: growth (110 + 300) / (100 + 200) = 41/30; predictions 136.67, 273.33, total 410
    gx = 410 / 300
    sa, sb = abs(110 - 100 * gx) / 410, abs(300 - 200 * gx) / 410
    # county y: growth 900 / 1000 = 0.9; predictions 45, 45; expected total 10 * 90 = 900
    sc, sd = 10 * 5 / 900, 10 * 5 / 900
    got = scores.set_index("firm_id")["score"]
    assert got["a"] == pytest.approx(sa) and got["b"] == pytest.approx(sb)
    assert got["c"] == pytest.approx(sc) and got["d"] == pytest.approx(sd)
    # a and b each miss their prediction by 26.67 of a 410 total: 0.065 > 50/900
    assert set(scores["firm_id"].tolist()[:2]) == {"a", "b"}
    assert scores["rank"].tolist() == [1, 2, 3, 4]
    own = selective_editing_scores(
        df.assign(p=[110.0, 300.0, 50.0, 10.0]), ["gross_output"], predictions={"gross_output": "p"}
    )
    assert own["firm_id"].iloc[0] == "d" and own["score"].iloc[1] == 0.0


def test_detection_rates_on_simulated_returns():
    """>= 95% of injected errors found; < 1% of clean returns flagged by hard
    rules or unit-error detection (soft rules are queries and reported apart)."""
    datasets = pytest.importorskip("survey.datasets")
    from survey.returns.ledger import Ledger

    reg = datasets.load_register(2006)
    small = reg.loc[~reg["above_size"]].sample(3000, random_state=1)
    firms = pd.concat([reg.loc[reg["above_size"]], small])
    clean_q1 = datasets.simulate_returns(
        firms, "2006Q1", seed=5, unit_nonresponse=0, item_nonresponse=0, error_rate=0
    ).returns
    sim = datasets.simulate_returns(firms, "2006Q2", seed=5, unit_nonresponse=0.05, error_rate=0.1)
    with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        ledger.ingest(clean_q1, "2006Q1", "bureau")
        ledger.ingest(sim.returns, "2006Q2", "bureau")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = ledger.to_frame("2006Q2")
    frame = frame.merge(firms[["firm_id", "revenue_prev_year"]], on="firm_id")
    report = check(frame, form=DEMO_FORM)
    units = detect_unit_errors(frame, **DEMO)
    failures = set(zip(report.failures["firm_id"], report.failures["rule"], strict=True))
    unit_flags = set(zip(units.flags["firm_id"], units.flags["column"], strict=True))
    injected = sim.injected
    assert set(injected["error_type"]) == {"unit_yuan", "export_gt_output", "cumulative_decrease"}
    found = []
    for row in injected.itertuples(index=False):
        if row.error_type == "unit_yuan":
            found.append((row.firm_id, f"{row.variable}_ytd") in unit_flags)
        elif row.error_type == "export_gt_output":
            found.append((row.firm_id, "export_within_output") in failures)
        else:
            found.append((row.firm_id, f"{row.variable}_cumulative") in failures)
    found = np.array(found)
    by_type = pd.Series(found).groupby(injected["error_type"].to_numpy()).mean()
    assert (by_type >= 0.95).all(), by_type.to_dict()
    assert len(injected) > 300
    responded = frame["firm_id"].isin(sim.returns.loc[sim.returns["responded"], "firm_id"])
    clean = frame.loc[responded & ~frame["firm_id"].isin(injected["firm_id"]), "firm_id"]
    hard = set(report.failed_units("hard")) | set(units.flags["firm_id"])
    soft = set(report.failed_units("soft"))
    assert len(clean) > 2500
    assert clean.isin(hard).mean() < 0.01
    assert clean.isin(soft).mean() < 0.05  # queries on clean returns: a few percent
    # corrected values are the true ones
    truth = injected.loc[injected["error_type"] == "unit_yuan"].set_index(["firm_id", "variable"])
    fixed = units.corrected.set_index("firm_id")
    for (firm, var), true_value in truth["true_value"].items():
        assert fixed.loc[firm, f"{var}_ytd"] == pytest.approx(true_value, abs=1e-9)


def _panel_returns(error_rate: float, seed: int):
    """A year of simulated returns (take-all firms, active small firms and new firms
    without last-year values), with their injected errors."""
    from survey.datasets import load_register, simulate_returns

    reg = load_register(2006)
    small = reg[(reg["status"] == "active") & ~reg["above_size"]].sample(1500, random_state=1)
    new = reg[reg["status"] == "new"].sample(400, random_state=2)
    firms = pd.concat([reg[reg["above_size"]], small, new])
    sims = [simulate_returns(firms, f"2006Q{k}", seed=seed, unit_nonresponse=0.1,
                             error_rate=error_rate) for k in range(1, 5)]
    panel = pd.concat([s.returns[s.returns["responded"]] for s in sims], ignore_index=True)
    panel = panel.merge(firms[["firm_id", "industry", "revenue_prev_year"]], on="firm_id")
    injected = pd.concat([s.injected for s in sims], ignore_index=True).merge(
        panel[["firm_id", "period"]], on=["firm_id", "period"])
    return panel, injected, set(new["firm_id"])


def test_unit_errors_on_a_panel_with_many_errors_and_new_firms():
    """The documented decision rule (median log-ratio to all references, form rule) on a
    year of returns with a 20% error rate: >= 95% of the injected unit errors found,
    also among new firms (no last-year values, no register size), < 1% of clean records
    flagged, and every correction gives the true value."""
    panel, injected, new = _panel_returns(0.2, seed=7)
    found = detect_unit_errors(panel, **DEMO)
    units = injected[injected["error_type"] == "unit_yuan"].assign(
        column=lambda d: d["variable"] + "_ytd")
    hits = units.merge(found.flags, on=["firm_id", "period", "column"], how="left", indicator=True)
    caught = (hits["_merge"] == "both").to_numpy()
    is_new = hits["firm_id"].isin(new).to_numpy()
    assert len(units) > 1000 and is_new.sum() > 100
    assert caught.mean() >= 0.95 and caught[is_new].mean() >= 0.95, (caught.mean(), caught[is_new].mean())
    np.testing.assert_allclose(hits.loc[caught, "corrected"], hits.loc[caught, "true_value"], rtol=1e-9)
    spoiled = set(zip(injected["firm_id"], injected["period"], strict=True))
    clean = [(f, p) not in spoiled for f, p in zip(panel["firm_id"], panel["period"], strict=True)]
    clean = panel.loc[clean, ["firm_id", "period"]]
    wrong = found.flags.merge(clean, on=["firm_id", "period"])[["firm_id", "period"]].drop_duplicates()
    assert len(clean) > 5000 and len(wrong) < 0.01 * len(clean)
    # one quarter at a time (no other quarters as references) still finds them
    single = pd.concat([detect_unit_errors(rows, **DEMO).flags for _, rows in panel.groupby("period")])
    alone = units.merge(single, on=["firm_id", "period", "column"])
    assert len(alone) >= 0.95 * len(units)


def test_unit_error_of_a_new_firm_without_last_year():
    """The demo's case: a firm born late last year (no last-year value, register revenue of
    one quarter) reports its first quarter in yuan; its other quarters, its register size
    and its employees outvote the partial-year register (ratio 4783 alone)."""
    rng = np.random.default_rng(3)
    n = 40
    staff = rng.integers(5, 60, n).astype(float)
    per_head = rng.lognormal(3.2, 0.2, n)
    rows = []
    for k in range(1, 5):
        rows.append(pd.DataFrame({
            "firm_id": [f"f{i}" for i in range(n)], "period": f"2006Q{k}", "industry": "2221",
            "gross_output_ytd": staff * per_head * k, "gross_output_ytd_last_year": staff * per_head * k,
            "employees_ytd": staff, "revenue_prev_year": staff * per_head * 4}))
    panel = pd.concat(rows, ignore_index=True)
    new = pd.DataFrame({"firm_id": "new", "period": [f"2006Q{k}" for k in range(1, 5)],
                        "industry": "2221", "gross_output_ytd": [256_800.0, 514.0, 873.2, 1218.8],
                        "gross_output_ytd_last_year": [0.0, 0.0, 0.0, 218.9],
                        "employees_ytd": [10.0, 10.5, 11.0, 10.75], "revenue_prev_year": 214.7})
    panel = pd.concat([panel, new], ignore_index=True)
    found = detect_unit_errors(panel, ["gross_output"], **DEMO)
    flags = found.flags
    assert flags[["firm_id", "period", "column"]].values.tolist() == [["new", "2006Q1", "gross_output_ytd"]]
    assert flags["corrected"].iloc[0] == pytest.approx(256.8)
    assert 500 < flags["ratio"].iloc[0] < 2000
    assert "revenue_prev_year" in flags["reference_column"].iloc[0]
    assert "year to date of Q2" in flags["reference_column"].iloc[0]
    # the register alone (a partial year) would have missed it: 256800 / (214.7 / 4) = 4784
    assert np.log10(256_800 / (214.7 / 4)) > 3.5


def test_cumulative_conflicts_decide_which_value_is_wrong():
    base = {"firm_id": ["a"] * 4, "period": ["2006Q1", "2006Q2", "2006Q3", "2006Q4"],
            "gross_output_ytd_last_year": [100.0, 200.0, 300.0, 400.0]}
    # the later value fell (a quarter value reported as year to date): the later is wrong
    later = pd.DataFrame({**base, "gross_output_ytd": [110.0, 220.0, 110.0, 440.0]})
    out = cumulative_conflicts(later, "gross_output")
    assert out[["period", "against_period"]].values.tolist() == [["2006Q3", "2006Q2"]]
    # the earlier value is too high (Q1 three times its path): the earlier is wrong
    earlier = pd.DataFrame({**base, "gross_output_ytd": [330.0, 220.0, 330.0, 440.0]})
    out = cumulative_conflicts(earlier, "gross_output")
    assert out[["period", "against_period"]].values.tolist() == [["2006Q1", "2006Q2"]]
    # the score of Q1: median over Q2, Q3, Q4 and last year x median growth (1.1) of
    # log10(330 / 110) = 0.477
    assert out["score"].iloc[0] == pytest.approx(np.log10(3))
    # a gap: Q2 missing, Q3 compared with Q1, the latest accepted value
    gap = pd.DataFrame({**base, "gross_output_ytd": [110.0, np.nan, 100.0, 440.0]})
    out = cumulative_conflicts(gap, "gross_output")
    assert out[["period", "against_period"]].values.tolist() == [["2006Q3", "2006Q1"]]
    # a value set aside is no reference
    out = cumulative_conflicts(gap, "gross_output", exclude=pd.DataFrame(
        {"firm_id": ["a"], "period": ["2006Q1"], "item": ["gross_output_ytd"]}))
    assert out.empty
    # an imputed value loses to a consistent return (a firm that closed after Q1: its
    # year to date stays at Q1's value; the imputed Q2 followed last year's growth)
    closed = pd.DataFrame({**base, "gross_output_ytd": [110.0, 230.0, 110.0, 110.0],
                           "gross_output_marker": ["returned", "forward_imputed", "returned",
                                                   "returned"]})
    out = cumulative_conflicts(closed, "gross_output")
    assert out[["period", "marker"]].values.tolist() == [["2006Q2", "forward_imputed"]]
    # zeros are values: a true zero after an inflated value is not blamed
    zero = pd.DataFrame({**base, "gross_output_ytd": [0.0, 3000.0, 0.0, 0.0]})
    assert cumulative_conflicts(zero, "gross_output")["period"].tolist() == ["2006Q2"]
    with pytest.raises(EditError, match="not a quarter label"):
        cumulative_conflicts(later.assign(period="2006-03"), "gross_output")
    with pytest.raises(EditError, match="two rows"):
        cumulative_conflicts(pd.concat([later, later]), "gross_output")


def test_cumulative_conflicts_on_simulated_returns():
    """Falls injected in a year of returns (20% error rate) are found wherever the
    previous quarter's value is accepted; clean records are rarely set aside."""
    panel, injected, _ = _panel_returns(0.2, seed=12)
    fixed = detect_unit_errors(panel, **DEMO).corrected
    hard = [r for r in default_rules(DEMO_FORM) if r.severity == "hard" and not r.name.endswith("_cumulative")]
    first = []
    for period, rows in fixed.groupby("period"):
        failures = check(rows, hard).failures
        first.append(pd.DataFrame({"firm_id": failures["firm_id"].to_numpy(), "period": period,
                                   "item": failures["rule"].map({r.name: r.variables[0] for r in hard})}))
    first = pd.concat(first, ignore_index=True)
    out = cumulative_conflicts(fixed, form=DEMO_FORM, exclude=first)
    falls = injected[(injected["error_type"] == "cumulative_decrease")
                     & (injected["variable"] != "profit_tax")].assign(item=lambda d: d["variable"] + "_ytd")
    values = fixed.set_index(["firm_id", "period"])
    aside = set(zip(first["firm_id"], first["period"], first["item"], strict=True))
    before = []
    for row in falls.itertuples(index=False):
        prev = f"2006Q{int(row.period[-1]) - 1}"
        key = (row.firm_id, prev)
        before.append(key in values.index and np.isfinite(values.loc[key, row.item])
                      and (row.firm_id, prev, row.item) not in aside)
    falls = falls[np.array(before)]
    hits = falls.merge(out, on=["firm_id", "period", "item"])
    assert len(falls) > 200 and len(hits) >= 0.95 * len(falls), len(hits) / len(falls)
    spoiled = set(zip(injected["firm_id"], injected["period"], strict=True))
    wrong = [(f, p) not in spoiled for f, p in zip(out["firm_id"], out["period"], strict=True)]
    clean = sum((f, p) not in spoiled for f, p in zip(panel["firm_id"], panel["period"], strict=True))
    assert sum(wrong) < 0.005 * clean


# --------------------------------------------------------------------------- forms, no demo defaults
def test_generic_functions_have_no_demo_defaults():
    df = pd.DataFrame({"firm_id": ["a"], "gross_output_ytd": [1.0], "revenue_prev_year": [2.0]})
    with pytest.raises(EditError, match="give variables= .* or form="):
        detect_unit_errors(df)
    with pytest.raises(EditError, match="give variables= .* or form="):
        cumulative_conflicts(df.assign(period="2006Q1"))
    with pytest.raises(EditError, match="give variables= .* or form="):
        selective_editing_scores(df)
    with pytest.raises(EditError, match="give the rules, or form="):
        check(df)
    with pytest.raises(EditError, match="give the return form"):
        default_rules(["gross_output"])
    # the register size is used only when named: without it firm a has no reference
    big = pd.DataFrame({"firm_id": ["a"], "gross_output_ytd": [2_000_000.0],
                        "revenue_prev_year": [2000.0]})
    assert detect_unit_errors(big, ["gross_output"]).flags.empty
    named = detect_unit_errors(big, ["gross_output"], register="revenue_prev_year",
                               register_scale=["gross_output"])
    assert named.flags["corrected"].tolist() == [2000.0]


def test_default_rules_of_another_form():
    form = Form(indicators=["sales", "margin", "staff"], stocks=["staff"],
                nonnegative=["sales", "staff"], id="ent",
                relations=[{"name": "margin_below_sales", "expression": "margin_ytd <= sales_ytd",
                            "severity": "soft"}])
    rules = {r.name: r for r in default_rules(form, growth_bounds=(0.5, 2.0))}
    assert list(rules) == ["sales_nonnegative", "staff_nonnegative", "sales_cumulative",
                           "margin_cumulative", "margin_below_sales", "sales_growth", "staff_growth"]
    assert rules["sales_cumulative"].severity == "hard" and rules["margin_cumulative"].severity == "soft"
    assert rules["staff_growth"].expression == "0.5 <= staff_ytd / staff_ytd_last_year <= 2.0"
    data = pd.DataFrame({"ent": ["x", "y"], "sales_ytd": [10.0, -1.0], "margin_ytd": [12.0, 0.0]})
    report = check(data, form=form)
    assert report.failures[["ent", "rule"]].values.tolist() == [
        ["y", "sales_nonnegative"], ["x", "margin_below_sales"], ["y", "margin_below_sales"]]
    # restricted to one indicator, relations on the others are dropped
    assert [r.name for r in default_rules(form, ["sales"])] == [
        "sales_nonnegative", "sales_cumulative", "sales_growth"]
    # the demo's rule set, in its order
    assert [r.name for r in default_rules(DEMO_FORM)][:7] == [
        "gross_output_nonnegative", "export_delivery_nonnegative", "sales_output_nonnegative",
        "revenue_nonnegative", "employees_nonnegative", "export_within_output",
        "gross_output_cumulative"]


def test_detectors_follow_the_form_names():
    form = Form(indicators=["out"], nonnegative=["out"], id="ent", period="q")
    panel = pd.DataFrame({"ent": ["a", "a"], "q": ["2006Q1", "2006Q2"],
                          "out_ytd": [100.0, 50.0], "out_ytd_last_year": [90.0, 180.0]})
    out = cumulative_conflicts(panel, form=form)
    assert out[["ent", "period", "item"]].values.tolist() == [["a", "2006Q2", "out_ytd"]]
    scores = selective_editing_scores(panel.iloc[:1], form=form)
    assert scores.columns.tolist() == ["ent", "score_out", "score", "rank"]
    found = detect_unit_errors(pd.DataFrame({"ent": ["a", "b"], "out_ytd": [90_000.0, 100.0],
                                             "out_ytd_last_year": [95.0, 100.0]}), form=form)
    assert found.flags[["ent", "column"]].values.tolist() == [["a", "out_ytd"]]


def _small_panel():
    rng = np.random.default_rng(5)
    n = 30
    base = rng.lognormal(6, 0.5, n)
    rows = []
    for k in range(1, 4):
        rows.append(pd.DataFrame({
            "firm_id": [f"f{i}" for i in range(n)], "period": f"2006Q{k}",
            "industry": np.where(np.arange(n) < 15, "a", "b"),
            "gross_output_ytd": base * k, "gross_output_ytd_last_year": base * k * 0.9,
            "revenue_ytd": base * k * 0.95, "revenue_ytd_last_year": base * k * 0.85,
            "export_delivery_ytd": base * k * 0.2, "sales_output_ytd": base * k * 0.97,
            "employees_ytd": np.round(base / 20) + 1, "revenue_prev_year": base * 3.6}))
    panel = pd.concat(rows, ignore_index=True)
    panel.loc[3, ["gross_output_ytd", "revenue_ytd"]] *= 1000
    panel.loc[40, "gross_output_ytd"] = 1.0  # a fall
    return panel, None, None
