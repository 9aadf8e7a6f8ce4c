"""Tests of survey.register.frame.Frame (register checks, counts, totals, PRNs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.errors import ColumnError, FrameError
from survey.register.frame import Frame, uscc_check_character, valid_uscc


def _register():
    return pd.DataFrame({
        "firm_id": ["a1", "a2", "a3", "a4", "a5"],
        "county": ["Bobai", "Bobai", "Lipu", "Lipu", "Lipu"],
        "industry": ["17", "33", "17", "17", "33"],
        "revenue_prev_year": [100.0, 250.0, 40.0, 0.0, 75.5],
        "employees": [10, 25, 4, 1, 8],
    })


def test_counts_and_totals_agree_with_groupby():
    df = _register()
    f = Frame(df, id="firm_id", size="revenue_prev_year", strata=["county", "industry"])
    counts = f.counts()
    assert counts["N"].tolist() == [1, 1, 2, 1]
    totals = f.totals(["revenue_prev_year", "employees"], by="county")
    expected = df.groupby("county")[["revenue_prev_year", "employees"]].sum()
    assert totals["revenue_prev_year"].tolist() == expected["revenue_prev_year"].tolist()
    assert totals["employees"].tolist() == expected["employees"].tolist()
    assert totals["N"].tolist() == [2, 3]
    assert f.N == 5
    codes, labels = f.stratum_codes()
    assert codes.tolist() == [0, 1, 2, 2, 3]
    assert labels.to_dict("list") == {"county": ["Bobai", "Bobai", "Lipu", "Lipu"],
                                      "industry": ["17", "33", "17", "33"]}


def test_frame_does_not_change_or_share_the_input():
    df = _register()
    f = Frame(df, size="revenue_prev_year")
    g = f.with_prn(seed=1)
    assert "prn" not in df.columns and "prn" not in f.data.columns
    df.loc[0, "revenue_prev_year"] = -5.0  # a later change by the caller
    assert f.data.loc[0, "revenue_prev_year"] == 100.0
    assert g.data["prn"].between(0, 1).all()


def test_with_prn_is_seeded_and_keeps_existing_numbers():
    df = _register().assign(prn=[0.1, np.nan, 0.3, np.nan, 0.5])
    a = Frame(df).with_prn(seed=3)
    b = Frame(df).with_prn(seed=3)
    assert a.data["prn"].tolist() == b.data["prn"].tolist()
    assert a.data["prn"].iloc[[0, 2, 4]].tolist() == [0.1, 0.3, 0.5]
    assert a.data["prn"].notna().all()


def test_duplicate_ids_are_listed():
    df = _register()
    df.loc[3, "firm_id"] = "a1"
    with pytest.raises(FrameError, match=r"duplicate unit ids.*rows 0 \('a1'\), 3 \('a1'\)"):
        Frame(df)


def test_missing_and_negative_sizes_are_listed():
    df = _register()
    df.loc[2, "revenue_prev_year"] = np.nan
    with pytest.raises(FrameError, match=r"1 missing or infinite size.*rows 2"):
        Frame(df, size="revenue_prev_year")
    df = _register()
    df.loc[[1, 4], "revenue_prev_year"] = -1.0
    with pytest.raises(FrameError, match=r"2 negative size.*rows 1, 4"):
        Frame(df, size="revenue_prev_year")


def test_unknown_codes_missing_strata_and_columns():
    df = _register()
    with pytest.raises(FrameError, match=r"unknown code.*'industry'.*\['33'\].*rows 1, 4"):
        Frame(df, codes={"industry": ["17"]})
    df.loc[0, "county"] = None
    with pytest.raises(FrameError, match=r"missing stratum code.*'county'.*rows 0"):
        Frame(df, strata="county")
    with pytest.raises(ColumnError, match="not in the register"):
        Frame(_register(), size="output")


def test_uscc_id_check():
    first17 = "91450100MA5KA1B2C"
    good = first17 + uscc_check_character(first17)
    df = pd.DataFrame({"firm_id": [good, "91450100MA5KA1B2C0"]})
    assert valid_uscc(good)
    with pytest.raises(FrameError, match=r"invalid USCC.*rows 1"):
        Frame(df, check_ids=True)
    assert Frame(df.iloc[:1], check_ids=True).N == 1


def test_subset_keeps_settings():
    f = Frame(_register(), size="revenue_prev_year", strata="county")
    sub = f.subset(f.data["county"] == "Lipu")
    assert sub.N == 3 and sub.strata == "county" and sub.size == "revenue_prev_year"
