"""Tests of survey.periods: quarter labels (parse, format, shifts, ranges, vectorised
parsing) and the one year-to-date -> quarter converter, for flows and stocks, in its two
forms (two frames; a panel), checked by hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.errors import ColumnError, PeriodError
from survey.periods import (
    is_quarter,
    normalise_quarter,
    parse_quarter,
    parse_quarters,
    previous_quarter,
    quarter_from_index,
    quarter_index,
    quarter_label,
    quarter_range,
    quarterly_from_ytd,
    quarters_of_year,
    shift_quarter,
    sort_quarters,
    year_of,
    ytd_to_quarters,
)


# --------------------------------------------------------------------------- labels
def test_parse_and_format():
    assert parse_quarter("2006Q1") == (2006, 1)
    assert parse_quarter(" 2006q4 ") == (2006, 4)
    assert normalise_quarter(" 2006q4 ") == "2006Q4"
    assert quarter_label(2006, 3) == "2006Q3"
    assert year_of("2007Q2") == 2007
    assert is_quarter("2006Q2") and not is_quarter("2006Q5") and not is_quarter(None)


@pytest.mark.parametrize("bad", ["2006-03", "2006Q0", "2006Q5", "06Q1", "2006 Q1", "", 2006,
                                 None, "Q12006", "2006Q12"])
def test_bad_labels_name_the_label(bad):
    with pytest.raises(PeriodError, match=r"not a quarter label; write quarters as YYYYQn"):
        parse_quarter(bad)


def test_format_refuses_impossible_quarters():
    with pytest.raises(PeriodError, match="no quarter 5"):
        quarter_label(2006, 5)
    with pytest.raises(PeriodError, match="four-digit year"):
        quarter_label(99, 1)


def test_shifts_indices_and_ranges():
    assert shift_quarter("2006Q1", -1) == "2005Q4"
    assert shift_quarter("2005Q4", 5) == "2007Q1"
    assert shift_quarter("2006Q3", 0) == "2006Q3"
    assert quarter_index("2006Q1") == 2006 * 4
    assert quarter_from_index(quarter_index("2005Q4") + 1) == "2006Q1"
    assert previous_quarter("2006Q1") == "2005Q4"
    assert previous_quarter("2006Q1", same_year=True) is None
    assert previous_quarter("2006Q4", same_year=True) == "2006Q3"
    assert quarters_of_year(2005) == ["2005Q1", "2005Q2", "2005Q3", "2005Q4"]
    assert quarter_range("2005Q4", "2006Q2") == ["2005Q4", "2006Q1", "2006Q2"]
    assert quarter_range("2006Q2", "2006Q2") == ["2006Q2"]
    with pytest.raises(PeriodError, match="runs backwards"):
        quarter_range("2006Q2", "2006Q1")
    assert sort_quarters(["2006Q1", "2005Q4", "2006q1", "2004Q2"]) == ["2004Q2", "2005Q4", "2006Q1"]


def test_parse_quarters_vectorised():
    labels = pd.Series(["2006Q1", "2006Q4", "2005Q2", "2006Q1"] * 1000)
    year, quarter = parse_quarters(labels)
    assert year.dtype == np.int64 and quarter.dtype == np.int64
    assert year[:4].tolist() == [2006, 2006, 2005, 2006] and quarter[:4].tolist() == [1, 4, 2, 1]
    with pytest.raises(PeriodError, match="'x'"):
        parse_quarters(["2006Q1", "x"])
    year, quarter = parse_quarters(["2006Q1", "x", None], errors="coerce")
    assert year.tolist() == [2006, -1, -1] and quarter.tolist() == [1, 0, 0]
    assert parse_quarters([])[0].shape == (0,)
    with pytest.raises(PeriodError, match="errors must be"):
        parse_quarters(["2006Q1"], errors="ignore")


# --------------------------------------------------------------------------- year to date
def _panel() -> pd.DataFrame:
    # firm a: all four quarters; firm b: Q2 missing; employees is a stock (a level)
    return pd.DataFrame({
        "firm_id": ["a", "a", "a", "a", "b", "b", "b"],
        "period": ["2006Q1", "2006Q2", "2006Q3", "2006Q4", "2006Q1", "2006Q3", "2006Q4"],
        "go_ytd": [10.0, 25.0, 45.0, 70.0, 5.0, 14.0, 12.0],
        "go_ytd_last_year": [8.0, 20.0, 33.0, 50.0, 4.0, 10.0, 16.0],
        "staff_ytd": [11.0, 12.0, 12.5, 13.0, 3.0, 3.0, 4.0],
        "staff_ytd_last_year": [10.0, 10.0, 11.0, 11.0, 2.0, 3.0, 3.0],
    })


def test_panel_flows_and_stocks_by_hand():
    panel = _panel()
    out = ytd_to_quarters(panel.iloc[::-1], variables=["go", "staff"], stocks=["staff"],
                          period="period")
    frame = out.frame.sort_index()
    # flows: differences within the year; Q1 is its own value; b's Q3 has no Q2: NaN
    np.testing.assert_array_equal(frame["go"], [10.0, 15.0, 20.0, 25.0, 5.0, np.nan, -2.0])
    np.testing.assert_array_equal(frame["go_last_year"], [8.0, 12.0, 13.0, 17.0, 4.0, np.nan, 6.0])
    # stocks: the reported level, whatever the previous quarter
    np.testing.assert_array_equal(frame["staff"], panel["staff_ytd"])
    np.testing.assert_array_equal(frame["staff_last_year"], panel["staff_ytd_last_year"])
    problems = out.problems.sort_values("problem").reset_index(drop=True)
    assert problems[["firm_id", "variable", "problem", "value"]].values.tolist() == [
        ["b", "go", "cumulative_decrease", 12.0], ["b", "go", "missing_previous_quarter", 14.0]]
    np.testing.assert_array_equal(problems["previous"], [14.0, np.nan])
    assert "go" not in panel.columns  # the input is not changed
    assert str(out) == "quarters derived for 7 firms (cumulative_decrease: 1, missing_previous_quarter: 1)"


def test_two_frames_match_the_panel():
    panel = _panel()
    q3 = panel[panel["period"] == "2006Q3"].drop(columns="period")
    q2 = panel[panel["period"] == "2006Q2"].drop(columns="period")
    two = ytd_to_quarters(q3, q2, variables=["go", "staff"], stocks=["staff"]).frame
    one = ytd_to_quarters(panel, variables=["go", "staff"], stocks=["staff"], period="period").frame
    pd.testing.assert_frame_equal(two.reset_index(drop=True),
                                  one[one["period"] == "2006Q3"].drop(columns="period")
                                  .reset_index(drop=True))
    # without a previous frame (a first quarter) every quarter value is the year to date
    q1 = panel[panel["period"] == "2006Q1"]
    first = ytd_to_quarters(q1, None, variables="go").frame
    np.testing.assert_array_equal(first["go"], q1["go_ytd"])
    assert ytd_to_quarters(q1, None, variables="go").problems.empty


def test_other_id_and_suffixes():
    data = pd.DataFrame({"ent": ["x"], "q": ["2006Q2"], "v_cum": [9.0], "v_cum_ly": [7.0]})
    prev = pd.DataFrame({"ent": ["x"], "v_cum": [4.0], "v_cum_ly": [3.0]})
    out = ytd_to_quarters(data, prev, variables="v", id="ent", ytd_suffix="_cum",
                          last_year_suffix="_cum_ly").frame
    assert out[["v", "v_last_year"]].values.tolist() == [[5.0, 4.0]]


def test_errors_name_the_problem():
    panel = _panel()
    with pytest.raises(ColumnError, match=r"no column\(s\) \['go_ytd_last_year'\]"):
        ytd_to_quarters(panel.drop(columns="go_ytd_last_year"), variables="go", period="period")
    with pytest.raises(PeriodError, match="firm 'a' has more than one return for period '2006Q1'"):
        ytd_to_quarters(pd.concat([panel, panel.iloc[:1]]), variables="go", period="period")
    with pytest.raises(PeriodError, match="'2006-13' is not a quarter label"):
        ytd_to_quarters(panel.assign(period="2006-13"), variables="go", period="period")
    with pytest.raises(PeriodError, match="not both"):
        ytd_to_quarters(panel, panel, variables="go", period="period")
    with pytest.raises(ColumnError, match="previous quarter has no column"):
        ytd_to_quarters(panel, panel.drop(columns="go_ytd"), variables="go")


def test_quarterly_from_ytd_is_the_panel_form():
    panel = _panel()
    pd.testing.assert_frame_equal(
        quarterly_from_ytd(panel, ["go"]),
        ytd_to_quarters(panel, variables=["go"], period="period").frame)
    pd.testing.assert_frame_equal(
        quarterly_from_ytd(panel.rename(columns={"firm_id": "f"}), "go", id="f"),
        ytd_to_quarters(panel.rename(columns={"firm_id": "f"}), variables="go", period="period",
                        id="f").frame)
