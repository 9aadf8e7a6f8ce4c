"""The variance engine: lonely-PSU rules against R, multistage and take-all behaviour.

R numbers: tests/reference/lonely.R -> tests/reference/lonely_expected.csv
(a sample of apistrat with 30 E, 20 H and a single M school).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.errors import LonelyPSUError

from .conftest import REFERENCE, load

RULES = ["remove", "adjust", "average", "certainty"]


@pytest.fixture(scope="module")
def lonely():
    one = load("lonely_sample")
    sch = load("apistrat")[["cds", "sch.wide"]]
    exp = pd.read_csv(REFERENCE / "lonely_expected.csv").set_index(["case", "rule", "quantity"]).value
    return one.merge(sch, on="cds"), exp


@pytest.mark.parametrize("rule", RULES)
def test_lonely_total_and_mean(lonely, rule):
    """options(survey.lonely.psu = rule)
    d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = one)
    svytotal(~enroll, d); svymean(~api00, d)"""
    one, exp = lonely
    s = sv.Survey(one, sv.Design(strata="stype", weights="pw", lonely_psu=rule))
    t, m = s.total("enroll"), s.mean("api00")
    assert t.estimate[0] == pytest.approx(exp["lonely_total", rule, "estimate"], rel=1e-10)
    assert t.se[0] == pytest.approx(exp["lonely_total", rule, "se"], rel=1e-10)
    assert m.se[0] == pytest.approx(exp["lonely_mean", rule, "se"], rel=1e-10)


@pytest.mark.parametrize("rule", RULES)
def test_lonely_total_with_fpc(lonely, rule):
    """d2 <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = one); svytotal(~enroll, d2)"""
    one, exp = lonely
    s = sv.Survey(one, sv.Design(strata="stype", weights="pw", fpc="fpc", lonely_psu=rule))
    assert s.total("enroll").se[0] == pytest.approx(exp["lonely_total_fpc", rule, "se"], rel=1e-10)


@pytest.mark.parametrize("rule", RULES)
def test_lonely_domains(lonely, rule):
    """svyby(~enroll, ~sch.wide, svydesign(id = ~1, strata = ~stype, weights = ~pw, data = one), svytotal)
    (for "average", strata without rows in a domain do not count, as in R)"""
    one, exp = lonely
    s = sv.Survey(one, sv.Design(strata="stype", weights="pw", lonely_psu=rule))
    t = s.total("enroll", by="sch.wide").table()
    for _, row in t.iterrows():
        case = f"lonely_by_{row['sch.wide']}"
        assert row.se == pytest.approx(exp[case, rule, "se"], rel=1e-10)


def test_lonely_take_all_stratum_is_not_lonely():
    """A single certainty unit (n_h = N_h = 1) is take-all, not an error."""
    df = pd.DataFrame({"h": ["a", "a", "big"], "N": [10, 10, 1], "y": [1.0, 2.0, 50.0]})
    est = sv.Survey(df, sv.Design(strata="h", fpc="N")).total("y")
    assert est.estimate[0] == pytest.approx(5 * 3 + 50)
    with pytest.raises(LonelyPSUError):
        sv.Survey(df.assign(N=[10, 10, 5]), sv.Design(strata="h", fpc="N"))


def test_two_stage_hand_computation():
    """Two-stage SRS without strata: V = N^2 (1-f1) s1^2/n + (N/n) sum_i N_i^2 (1-f2i) s2i^2/m_i."""
    rng = np.random.default_rng(3)
    N, n = 20, 4
    M = np.array([10, 12, 8, 15])
    m = np.array([3, 4, 2, 5])
    rows = []
    for i in range(n):
        y = rng.gamma(2.0, 5.0, size=m[i])
        rows.append(pd.DataFrame({"psu": i, "ssu": np.arange(m[i]), "y": y, "N1": N, "N2": M[i]}))
    df = pd.concat(rows, ignore_index=True)
    s = sv.Survey(df, sv.Design(clusters=("psu", "ssu"), fpc=("N1", "N2")))
    est = s.total("y")
    yi = df.groupby("psu").y.agg(["mean", "var", "size"])
    Yi = M * yi["mean"].to_numpy()
    t = N / n * Yi.sum()
    v1 = N**2 * (1 - n / N) * Yi.var(ddof=1) / n
    v2 = N / n * np.sum(M**2 * (1 - m / M) * yi["var"].to_numpy() / m)
    assert est.estimate[0] == pytest.approx(t, rel=1e-12)
    assert est.se[0] == pytest.approx(np.sqrt(v1 + v2), rel=1e-12)
    # without the first-stage fpc: with-replacement (ultimate cluster) variance only
    s1 = sv.Survey(df.assign(w=(N / n) * (M / m)[df.psu]), sv.Design(clusters=("psu", "ssu"), weights="w"))
    assert s1.total("y").se[0] == pytest.approx(np.sqrt(N**2 * Yi.var(ddof=1) / n), rel=1e-12)
    assert s.df == n - 1


def test_fpc_as_fractions_equals_sizes(apistrat):
    a = sv.Survey(apistrat, sv.Design(strata="stype", weights="pw", fpc="fpc")).total("enroll")
    n_h = apistrat.groupby("stype").stype.transform("size")
    frac = apistrat.assign(f=n_h / apistrat.fpc)
    b = sv.Survey(frac, sv.Design(strata="stype", weights="pw", fpc="f")).total("enroll")
    assert b.se[0] == pytest.approx(a.se[0], rel=1e-12)
