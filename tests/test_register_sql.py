"""Register work in SQL equals the in-memory register and plan functions.

USCC check in SQL against :func:`survey.valid_uscc` (valid and invalid ids),
register checks against :class:`survey.Frame`, size classes against
:meth:`Stratification.assign`, stratum moments against pandas, PRNs written
in batches against :func:`permanent_random_numbers`, and PRN selection in SQL
against :func:`survey.plan.selection.select` (the same sample).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import survey as sv
from survey.datasets import load_register
from survey.engine import Engine
from survey.errors import FrameError, SelectionError
from survey.plan.selection import permanent_random_numbers, select
from survey.plan.sql import select_prn, write_prn
from survey.plan.stratify import boundaries
from survey.register.sql import (
    check_frame,
    size_class_sql,
    stratum_moments,
    uscc_valid_sql,
    valid_uscc_table,
)


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    return load_register(2006)


def _spoiled_ids(ids: pd.Series) -> list:
    """Invalid variants of valid ids: every way valid_uscc can fail."""
    rng = np.random.default_rng(1)
    pick = ids.sample(40, random_state=2).tolist()
    out = []
    for i, x in enumerate(pick):
        kind = i % 10
        if kind == 0:  # wrong check character
            alpha = "0123456789ABCDEFGHJKLMNPQRTUWXY"
            out.append(x[:17] + alpha[(alpha.index(x[17]) + 1 + rng.integers(0, 29)) % 31])
        elif kind == 1:
            out.append(x.lower())
        elif kind == 2:
            out.append(x[:17])
        elif kind == 3:
            out.append(x + "0")
        elif kind == 4:  # a letter outside the alphabet
            out.append(x[:10] + "I" + x[11:])
        elif kind == 5:  # a letter in the division code
            out.append(x[:4] + "A" + x[5:])
        elif kind == 6:
            out.append(x[:9] + "中" + x[10:])
        elif kind == 7:
            out.append(" " + x[1:])
        elif kind == 8:
            out.append("")
        else:
            out.append(x[:17] + "O")
    return out + [None, "91450100MA5KA1B2CM", "91450100MA5KA1B2C0"]


def test_uscc_check_in_sql_equals_valid_uscc(register):
    """The SQL check character gives valid_uscc's answer on every id, valid or not."""
    ids = pd.Series(list(register["firm_id"]) + _spoiled_ids(register["firm_id"]), dtype=object)
    got = valid_uscc_table(pd.DataFrame({"firm_id": ids}))["valid"].to_numpy(dtype=bool)
    expect = sv.valid_uscc(ids.astype(str).to_numpy())
    expect[ids.isna().to_numpy()] = False
    np.testing.assert_array_equal(got, expect)
    assert got[: len(register)].all() and (~got[len(register):]).sum() >= 35


def test_uscc_sql_on_integer_ids():
    s = Engine().session()
    assert not s.sql(f"SELECT {uscc_valid_sql('CAST(12345 AS BIGINT)')} AS ok")["ok"].item()


def test_check_frame_like_frame(register):
    """check_frame reports what Frame(check_ids=True) rejects, by check, with example ids."""
    ok = check_frame(register, size="employees", strata="county")
    assert ok.ok and ok.N == len(register)
    bad = register.copy()
    bad.loc[3, "firm_id"] = bad.loc[4, "firm_id"]
    bad.loc[5, "firm_id"] = bad.loc[5, "firm_id"][:17] + "0" if bad.loc[5, "firm_id"][17] != "0" else "1"
    bad.loc[7, "revenue_prev_year"] = -1.0
    bad.loc[8, "county"] = None
    with pytest.raises(FrameError, match="duplicate"):
        sv.Frame(bad, id="firm_id")
    with pytest.raises(FrameError, match=r"2 rows with duplicate unit ids in column 'firm_id' \(ids '"):
        check_frame(bad, size="revenue_prev_year", strata="county")
    rep = check_frame(bad, size="revenue_prev_year", strata="county", raise_errors=False).table.set_index("check")
    assert rep.loc["duplicate id", "count"] == 2
    assert rep.loc["duplicate id", "examples"] == [register.loc[4, "firm_id"]]
    assert rep.loc["invalid id", "count"] == 1
    assert rep.loc["negative size", "count"] == 1
    assert rep.loc["missing size", "count"] == int(register["revenue_prev_year"].isna().sum())
    assert rep.loc["missing stratum", "count"] == 1
    with pytest.raises(FrameError, match="invalid USCC"):
        check_frame(bad.drop(index=3), strata="county")


def test_size_classes_and_stratum_moments(register):
    """size_class_sql = Stratification.assign; stratum_moments = per-stratum N, sum, sum of squares."""
    x = register["employees"].to_numpy(dtype=float)
    strat = boundaries(x, 4, method="cum_sqrt_f", n=500)
    s = Engine().session()
    view = s.register(register)
    got = s.sql(f"SELECT firm_id, {size_class_sql('CAST(employees AS DOUBLE)', strat.bounds)} AS c FROM {view}")
    got = got.set_index("firm_id").loc[register["firm_id"], "c"].to_numpy()
    np.testing.assert_array_equal(got, strat.assign(x))
    mom = stratum_moments(register, ["employees", "revenue_prev_year"], strata="county", by="industry")
    ref = register.assign(r=register["revenue_prev_year"].fillna(0.0)).groupby(["county", "industry"])
    np.testing.assert_array_equal(mom["N"].to_numpy(), ref.size().to_numpy())
    np.testing.assert_allclose(mom["employees_sumsq"], ref["employees"].apply(lambda v: float((v.astype(float) ** 2).sum())),
                               rtol=1e-12)
    np.testing.assert_allclose(mom["revenue_prev_year_sum"], ref["r"].sum().to_numpy(), rtol=1e-12)


def test_write_prn_in_batches(register, tmp_path):
    """PRNs written batch by batch are permanent_random_numbers of the ids, stored with the register."""
    path = write_prn(register, tmp_path / "reg.parquet", seed=17, batch_size=7000)
    back = pd.read_parquet(path)
    assert len(back) == len(register)
    np.testing.assert_array_equal(back["prn"].to_numpy(), permanent_random_numbers(back["firm_id"], seed=17))
    meta = pq.read_schema(path).metadata
    assert b'"seed": 17' in meta[b"survey.prn"]
    again = pd.read_parquet(write_prn(str(path), tmp_path / "again.parquet", seed=17, batch_size=100_000))
    pd.testing.assert_series_equal(again.set_index("firm_id")["prn"].sort_index(),
                                   back.set_index("firm_id")["prn"].sort_index())


@pytest.mark.parametrize("start,rotation,period", [(0.0, 0.0, 0), (0.37, 0.0, 0), (0.0, 0.25, 3), (0.5, 0.2, 7)])
def test_prn_selection_equals_select(register, tmp_path, start, rotation, period):
    """select_prn (window function in SQL) draws select(method="srswor")'s sample, same PRNs."""
    reg = register.assign(size_class=np.minimum(register["employees"] // 10, 3),
                          prn=permanent_random_numbers(register["firm_id"], seed=5))
    strata = ["county", "size_class"]
    N = reg.groupby(strata).size()
    n = np.minimum(np.maximum(2, (N * 0.05).round().astype(int)), N)
    table = n.rename("n").reset_index()
    ref = select(reg, table, strata=strata, start=start, rotation=rotation, period=period, seed=1)
    reg.to_parquet(tmp_path / "reg.parquet")
    got = select_prn(str(tmp_path / "reg.parquet"), table, strata=strata, start=start, rotation=rotation,
                     period=period, output=tmp_path / "sample.parquet")
    a = got.data.set_index("firm_id").sort_index()
    b = ref.data.set_index("firm_id").sort_index()
    assert a.index.equals(b.index)
    for col in ["stratum", "prn", "inclusion_probability", "design_weight", "N_h", "n_h", "county", "employees"]:
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())
    pd.testing.assert_frame_equal(got.strata.reset_index(drop=True), ref.strata.reset_index(drop=True),
                                  check_dtype=False, check_column_type=False)
    assert len(pd.read_parquet(tmp_path / "sample.parquet")) == len(a)


def test_prn_selection_forms_of_n_and_errors(register):
    reg = register.assign(prn=permanent_random_numbers(register["firm_id"], seed=5))
    ref = select(reg, 3, strata="industry", seed=1)
    got = select_prn(reg, 3, strata="industry")
    assert sorted(got.data["firm_id"]) == sorted(ref.data["firm_id"])
    labels = sorted(reg["industry"].unique())
    got = select_prn(reg, {lab: 2 for lab in labels}, strata="industry")
    assert len(got.data) == 2 * len(labels)
    one = select_prn(reg, 25)
    assert sorted(one.data["firm_id"]) == sorted(select(reg, 25, seed=1).data["firm_id"])
    with pytest.raises(SelectionError, match="asks for n="):
        select_prn(reg, 10**6, strata="industry")
    with pytest.raises(SelectionError, match="no PRN column"):
        select_prn(register, 3, strata="industry")
    with pytest.raises(SelectionError, match=r"in \[0, 1\)"):
        select_prn(reg.assign(prn=reg["prn"] + 1.0), 3, strata="industry")
    with pytest.raises(SelectionError, match="no sample size"):
        select_prn(reg, {labels[0]: 2}, strata="industry")
