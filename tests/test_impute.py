"""Tests of survey.returns.impute: hand-computed ONS ratio-of-means links, markers,
imputed values never feeding links, and imputed totals on the synthetic
population against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.errors import ImputationError
from survey.returns.impute import ratio_of_means

NAN = np.nan


def hand_panel() -> pd.DataFrame:
    values = {
        "a": [10, 12, 15],
        "b": [20, 22, NAN],
        "c": [NAN, 30, 33],
        "d": [NAN, NAN, NAN],
        "e": [100, 110, 121],
        "f": [50, NAN, NAN],
    }
    aux = {"a": 8, "b": 16, "c": 24, "d": 50, "e": 90, "f": 40}
    cls = {"a": "A", "b": "A", "c": "A", "d": "A", "e": "B", "f": "B"}
    rows = [
        {"firm_id": u, "period": p, "y": v[k], "size": aux[u], "class": cls[u]}
        for k, p in enumerate(["2006Q1", "2006Q2", "2006Q3"])
        for u, v in values.items()
    ]
    return pd.DataFrame(rows)


def test_hand_computed_links_and_values():
    panel = hand_panel()
    result = ratio_of_means(panel, "y", by="class", auxiliary="size")
    # class A: forward links from matched returns (a, b) then (a, c)
    f2, f3 = (12 + 22) / (10 + 20), (15 + 33) / (12 + 30)
    g1 = (10 + 20) / (8 + 16)  # construction link of Q1 in class A
    expected = {
        ("b", "2006Q3"): (22 * f3, "forward_imputed"),
        ("c", "2006Q1"): (30 / f2, "backward_imputed"),
        ("d", "2006Q1"): (50 * g1, "constructed"),
        ("d", "2006Q2"): (50 * g1 * f2, "forward_imputed"),
        ("d", "2006Q3"): (50 * g1 * f2 * f3, "forward_imputed"),
        ("f", "2006Q2"): (50 * 1.1, "forward_imputed"),
        ("f", "2006Q3"): (50 * 1.1 * 1.1, "forward_imputed"),
    }
    out = result.data.set_index(["firm_id", "period"])
    for key, (value, marker) in expected.items():
        assert out.loc[key, "y"] == pytest.approx(value, rel=1e-12), key
        assert out.loc[key, "y_marker"] == marker, key
    assert (out.loc[~out.index.isin(list(expected)), "y_marker"] == "returned").all()
    assert out.loc[("d", "2006Q1"), "y"] == pytest.approx(62.5)
    assert out.loc[("c", "2006Q1"), "y"] == pytest.approx(26.470588235, rel=1e-9)
    links = result.links.set_index(["period", "class"])
    assert links.loc[("2006Q2", "A"), "forward_link"] == pytest.approx(f2)
    assert links.loc[("2006Q3", "A"), "forward_link"] == pytest.approx(f3)
    assert links.loc[("2006Q1", "A"), "backward_link"] == pytest.approx(1 / f2)
    assert links.loc[("2006Q1", "A"), "construction_link"] == pytest.approx(1.25)
    assert links.loc[("2006Q2", "A"), "matched"] == 2
    assert links.loc[("2006Q2", "B"), "forward_link"] == pytest.approx(1.1)
    assert np.isnan(links.loc[("2006Q1", "A"), "forward_link"])
    assert result.counts().to_dict() == {
        "backward_imputed": 1, "constructed": 1, "forward_imputed": 5, "returned": 11,
    }  # fmt: skip
    assert panel["y"].isna().sum() == 7  # input untouched


def test_imputed_values_never_feed_links():
    first = ratio_of_means(hand_panel(), "y", by="class", auxiliary="size").data
    spoiled = first.copy()
    spoiled.loc[spoiled["y_marker"] != "returned", "y"] = 1e9  # old imputations, any value
    again = ratio_of_means(spoiled, "y", by="class", auxiliary="size")
    np.testing.assert_allclose(again.data["y"], first["y"], rtol=1e-12)
    assert again.data["y_marker"].tolist() == first["y_marker"].tolist()


def test_edited_values_count_as_returns_and_keep_their_marker():
    panel = hand_panel()
    panel["y_marker"] = np.where(panel["y"].notna(), "returned", "missing")
    panel.loc[(panel.firm_id == "b") & (panel.period == "2006Q2"), "y_marker"] = "edited"
    result = ratio_of_means(panel, "y", by="class", auxiliary="size")
    out = result.data.set_index(["firm_id", "period"])
    assert out.loc[("b", "2006Q2"), "y_marker"] == "edited"
    assert out.loc[("b", "2006Q3"), "y"] == pytest.approx(22 * 48 / 42)


def test_errors_name_period_and_class():
    panel = hand_panel()
    panel.loc[panel.firm_id == "e", "y"] = [100, NAN, 121]  # class B has no matched pair in Q2
    with pytest.raises(ImputationError, match=r"no backward link .* '2006Q2', class \{'class': 'B'\}"):
        ratio_of_means(panel, "y", by="class", auxiliary="size")
    with pytest.raises(ImputationError, match="give auxiliary="):
        ratio_of_means(hand_panel(), "y", by="class")
    with pytest.raises(ImputationError, match="not in the data"):
        ratio_of_means(hand_panel(), "z")


def test_rows_outside_scope_are_not_imputed():
    panel = hand_panel()
    panel = panel[~((panel.firm_id == "f") & (panel.period == "2006Q3"))]  # f closed in Q3
    result = ratio_of_means(panel, "y", by="class", auxiliary="size")
    assert len(result.data) == len(panel)
    assert not ((result.data.firm_id == "f") & (result.data.period == "2006Q3")).any()


def test_imputed_totals_of_take_all_firms_within_2_percent_of_truth():
    datasets = pytest.importorskip("survey.datasets")
    reg = datasets.load_register(2006)
    firms = reg.loc[reg["above_size"], ["firm_id", "industry_name", "revenue_prev_year"]]
    variables = ["gross_output", "export_delivery", "revenue", "profit_tax"]
    worst = 0.0
    for seed in (1, 2, 3):
        quarters = {}
        truth = {}
        for period, rate in (("2006Q1", 0.05), ("2006Q2", 0.05), ("2006Q3", 0.05)):
            kw = {"seed": seed, "item_nonresponse": 0.0, "error_rate": 0.0}
            quarters[period] = datasets.simulate_returns(firms, period, unit_nonresponse=rate, **kw).returns
            truth[period] = datasets.simulate_returns(firms, period, unit_nonresponse=0.0, **kw).returns
        panel = pd.concat(quarters.values(), ignore_index=True).merge(firms, on="firm_id")
        panel["class"] = "all"
        for var in variables:
            column = f"{var}_ytd"
            result = ratio_of_means(panel, column, by="class", auxiliary="revenue_prev_year")
            imputed = result.data.groupby("period")[column].sum()
            for period, frame in truth.items():
                true_total = frame[column].sum()
                error = abs(imputed[period] / true_total - 1)
                worst = max(worst, error)
                assert error < 0.02, (seed, var, period, error)
            marks = result.data[result.marker]
            assert set(marks) <= {"returned", "forward_imputed", "backward_imputed", "constructed"}
            nonresp = ~result.data["responded"].to_numpy()
            assert (marks[nonresp] != "returned").all() and (marks[~nonresp] == "returned").all()
    assert worst < 0.02


def test_row_order_does_not_matter():
    panel = hand_panel()
    first = ratio_of_means(panel, "y", by="class", auxiliary="size").data
    shuffled = panel.sample(frac=1.0, random_state=4)
    again = ratio_of_means(shuffled, "y", by="class", auxiliary="size").data
    key = ["firm_id", "period"]
    a = first.sort_values(key).reset_index(drop=True)
    b = again.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a["y"], b["y"], rtol=1e-12)
    assert a["y_marker"].tolist() == b["y_marker"].tolist()
    assert again.index.tolist() == shuffled.index.tolist()  # output keeps input order


def test_a_value_set_aside_neither_links_nor_is_imputed_from():
    """A set-aside value (marker 'missing', wrong number still in the column) is not a
    return: the links are those without it and its firm's chain starts from its last
    accepted value."""
    panel = pd.DataFrame({
        "firm_id": ["a", "b", "c"] * 3,
        "period": ["2006Q1"] * 3 + ["2006Q2"] * 3 + ["2006Q3"] * 3,
        "y": [10.0, 20.0, 30.0, 256_800.0, 44.0, 60.0, NAN, 66.0, 90.0],
        "y_marker": ["returned"] * 3 + ["missing", "returned", "returned"]
        + ["missing", "returned", "returned"],
    })
    result = ratio_of_means(panel, "y")
    f2 = (44 + 60) / (20 + 30)
    f3 = (66 + 90) / (44 + 60)
    links = result.links.set_index("period")["forward_link"]
    assert links["2006Q2"] == pytest.approx(f2) and links["2006Q3"] == pytest.approx(f3)
    a = result.data[result.data["firm_id"] == "a"]["y"].tolist()
    assert a == pytest.approx([10.0, 10.0 * f2, 10.0 * f2 * f3])
    assert result.data["y_marker"].tolist()[3] == "forward_imputed"


def test_cumulative_imputation_stays_between_the_returns():
    """Worked example: firm a returned 10 in Q1 and 12 in Q3; the forward link (2.0 from
    firm b) would give 20 in Q2, above its Q3 return, i.e. a negative third quarter.
    With cumulative=True, Q2 is clipped to [10, 12]. The bound never crosses a year."""
    panel = pd.DataFrame({
        "firm_id": ["a", "b"] * 3,
        "period": ["2006Q1", "2006Q1", "2006Q2", "2006Q2", "2006Q3", "2006Q3"],
        "y": [10.0, 10.0, NAN, 20.0, 12.0, 30.0],
    })
    plain = ratio_of_means(panel, "y").data["y"].tolist()
    bounded = ratio_of_means(panel, "y", cumulative=True).data["y"].tolist()
    assert plain[2] == pytest.approx(20.0) and bounded[2] == pytest.approx(12.0)
    assert bounded[:2] + bounded[3:] == plain[:2] + plain[3:]  # returns untouched
    # a steep forward link is held to the next return as well
    back = pd.DataFrame({
        "firm_id": ["a", "b"] * 3,
        "period": ["2006Q1", "2006Q1", "2006Q2", "2006Q2", "2006Q3", "2006Q3"],
        "y": [10.0, 10.0, NAN, 20.0, 11.0, 60.0],
    })
    got = ratio_of_means(back, "y", cumulative=True).data["y"].tolist()
    assert got[2] == pytest.approx(11.0)  # forward 20 clipped to the Q3 return 11
    # a new year starts from zero: no bound from last year's fourth quarter
    years = pd.DataFrame({
        "firm_id": ["a", "b"] * 2,
        "period": ["2005Q4", "2005Q4", "2006Q1", "2006Q1"],
        "y": [100.0, 100.0, NAN, 25.0],
    })
    got = ratio_of_means(years, "y", cumulative=True).data["y"].tolist()
    assert got[2] == pytest.approx(25.0)


def test_cumulative_imputation_never_makes_a_quarter_negative():
    rng = np.random.default_rng(4)
    n, periods = 300, ["2006Q1", "2006Q2", "2006Q3", "2006Q4"]
    quarters = rng.lognormal(4, 1.0, (n, 4)) * (rng.random((n, 4)) > 0.2)
    ytd = np.cumsum(quarters, axis=1)
    ytd[rng.random((n, 4)) < 0.3] = NAN
    ytd[:, 0] = np.where(np.isnan(ytd).all(axis=1), 5.0, ytd[:, 0])
    panel = pd.DataFrame({
        "firm_id": np.repeat([f"f{i}" for i in range(n)], 4),
        "period": periods * n,
        "y": ytd.ravel(),
        "size": np.repeat(rng.lognormal(5, 1, n), 4),
    })
    out = ratio_of_means(panel, "y", auxiliary="size", cumulative=True).data
    values = out["y"].to_numpy().reshape(n, 4)
    assert np.isfinite(values).all()
    assert (np.diff(values, axis=1) >= -1e-9).all()
    plain = ratio_of_means(panel, "y", auxiliary="size").data["y"].to_numpy().reshape(n, 4)
    assert (np.diff(plain, axis=1) < 0).any()  # without the bounds some would fall
