"""Property test (issue 13): estimation on hostile inputs gives a correct number or a SurveyError.

Hypothesis draws weights (NaN, inf, negative, zero, huge), values (NaN, inf,
huge), domain codes mixing text and numbers, and domains left empty or
without values. Every outcome must be either a SurveyError, or a table whose
finite estimates equal the weighted sums computed directly, never a NaN or
infinite estimate with SE 0, and never a bare numpy/pandas/duckdb exception.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import survey as sv
from survey.errors import SurveyError

WEIGHTS = st.one_of(st.floats(0.5, 50.0), st.sampled_from([0.0, -1.0, np.nan, np.inf, 1e308, 1e-300]))
VALUES = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf, 1e308, 0.0]))
CODES = st.sampled_from(["450102", 450102, "450103", 450103.0, "A", None])


@st.composite
def samples(draw):
    n = draw(st.integers(2, 12))
    w = draw(st.lists(WEIGHTS, min_size=n, max_size=n))
    y = draw(st.lists(VALUES, min_size=n, max_size=n))
    d = draw(st.lists(CODES, min_size=n, max_size=n))
    h = draw(st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=n, max_size=n))
    return pd.DataFrame({"w": w, "y": y, "x": np.abs(np.nan_to_num(y, nan=1.0, posinf=1.0,
                                                                    neginf=1.0)) + 1.0,
                         "d": pd.Series(d, dtype=object), "h": h})


def _check(est, df: pd.DataFrame, statistic: str, by: str | None, na: str) -> None:
    table = est.table()
    for row in table.itertuples():
        estimate, se = row.estimate, row.se
        assert not (np.isinf(estimate)), "an infinite estimate"
        if not np.isfinite(estimate):
            assert not (se == 0.0), "NaN estimate with SE 0"
            continue
        assert not np.isinf(se)
        rows = df if by is None else df[df[by].astype(str) == str(getattr(row, by))]
        y = rows["y"].to_numpy(dtype=float)
        w = rows["w"].to_numpy(dtype=float)
        keep = np.isfinite(y) if na == "drop" else np.ones(len(y), dtype=bool)
        if statistic == "total":
            expected = float(np.sum(w[keep] * y[keep]))
            assert estimate == pytest.approx(expected, rel=1e-9, abs=1e-6 * (1 + abs(expected)))
        elif statistic == "mean":
            expected = float(np.sum(w[keep] * y[keep]) / np.sum(w[keep]))
            assert estimate == pytest.approx(expected, rel=1e-9, abs=1e-9 * (1 + abs(expected)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=samples(), statistic=st.sampled_from(["total", "mean", "ratio"]),
       by=st.sampled_from([None, "d"]), strata=st.booleans(), na=st.sampled_from(["error", "drop"]),
       lonely=st.sampled_from(["remove", "average", "adjust"]))
def test_hostile_estimation_inputs_give_a_number_or_a_survey_error(df, statistic, by, strata, na,
                                                                   lonely):
    design = sv.Design(weights="w", strata="h" if strata else None, lonely_psu=lonely)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            s = sv.Survey(df, design)
            if statistic == "ratio":
                est = s.ratio("y", "x", by=by, na=na)
            else:
                est = getattr(s, statistic)("y", by=by, na=na)
            table = est.table()
        except SurveyError:
            return
    assert isinstance(table, pd.DataFrame)
    _check(est, df, statistic, by, na)
