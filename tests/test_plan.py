"""Tests of survey.plan.plan: SamplePlan on the bundled register, exports, config runners."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

import survey as sv
from survey.errors import ConfigError
from survey.plan import design_plan, run_plan, run_select, write_sample

datasets = pytest.importorskip("survey.datasets")

TARGETS = {
    "revenue_prev_year": {"total": 0.01, "city": 0.04, "industry": 0.04, "zone": 0.06},
    "employees": {"total": 0.02, "city": 0.06},
}


@pytest.fixture(scope="module")
def register():
    return datasets.load_register(2006)


@pytest.fixture(scope="module")
def plan(register):
    return design_plan(register, TARGETS, strata=["city", "industry"], size="revenue_prev_year",
                       take_all="above_size", size_strata=3, response_rate=0.9, missing_size=0.0)


def test_plan_parts_and_targets(plan, register):
    data = plan.frame.data
    assert (data["part"] == "take_all").sum() == register["above_size"].sum()
    assert (data["part"] == "take_none").sum() == 0
    cv = plan.expected_cv()
    assert cv["met"].all()
    assert set(cv["domain_type"]) == {"total", "city", "industry", "zone"}
    table = plan.table().set_index("stratum")
    assert table.loc["take-all", "n"] == table.loc["take-all", "N"] == register["above_size"].sum()
    assert (table["n"] >= np.minimum(2, table["N"])).all()
    assert plan.n == table["n"].sum()
    # the input register is not changed
    assert "part" not in register.columns and register["revenue_prev_year"].isna().any()


def test_sample_goes_straight_into_survey(plan, register):
    sel = plan.select(seed=2006)
    data = sel.data
    assert (data["part"] == "take_all").sum() == register["above_size"].sum()
    assert (data.loc[data["part"] == "take_all", "design_weight"] == 1.0).all()
    s = sv.Survey(data.assign(one=1.0), sel.design())
    count = s.total("one")
    assert count.estimate[0] == pytest.approx(len(register))
    assert count.se[0] == pytest.approx(0.0, abs=1e-6)
    est = s.total("employees")
    truth = register["employees"].sum()
    assert abs(est.estimate[0] - truth) < 4 * est.se[0]
    # expected CV (with 90% response) is above the full-response CV of this sample
    expected = plan.expected_cv().query("variable == 'employees' and domain_type == 'total'")
    assert est.cv[0] < expected["expected_cv"].iloc[0] * 1.5


def test_rotation_moves_the_chosen_share(plan):
    s0 = plan.select(seed=1)
    s1 = plan.select(seed=1, rotation=0.25, period=1)
    some = s0.data[s0.data["part"] == "sample"]
    kept = some.merge(s1.data[["firm_id"]], on="firm_id").groupby("stratum").size()
    n = some.groupby("stratum").size()
    N = some.groupby("stratum")["N_h"].first()
    moved = (n - kept.reindex(n.index, fill_value=0))[N > n]
    share = 0.25 * n[N > n]
    # each stratum replaces floor or ceil of 25% of its sample; 25% overall
    assert ((moved == np.floor(share)) | (moved == np.ceil(share))).all()
    assert moved.sum() / n[N > n].sum() == pytest.approx(0.25, abs=0.03)
    # take-all units stay
    assert set(s0.data.loc[s0.data["part"] == "take_all", "firm_id"]) <= set(s1.data["firm_id"])


def test_prn_coordination_across_years(plan):
    reg07 = datasets.load_register(2007)
    plan07 = design_plan(reg07, TARGETS, strata=["city", "industry"], size="revenue_prev_year",
                         take_all="above_size", size_strata=3, response_rate=0.9,
                         missing_size=0.0)
    a = plan.select(seed=1).data
    b = plan07.select(seed=2).data
    a = a[a["part"] == "sample"]
    b = b[b["part"] == "sample"]
    both_years = set(plan.frame.data["firm_id"]) & set(plan07.frame.data["firm_id"])
    a_common = a[a["firm_id"].isin(both_years)]
    kept = a_common["firm_id"].isin(b["firm_id"]).mean()
    fraction = len(b) / len(plan07.frame.data)
    assert kept > 0.5 > 5 * fraction  # PRNs keep the panel; independent draws would keep ~f


def test_take_none_and_cutoff_rules(register):
    p = design_plan(register, {"revenue_prev_year": 0.02}, strata="industry",
                    size="revenue_prev_year", take_all_cv=0.01, take_none_below=50.0,
                    size_strata=2, missing_size=0.0)
    data = p.frame.data
    size = data["revenue_prev_year"]
    assert (size[data["part"] == "take_none"] < 50).all()
    threshold = p.settings["take_all_threshold"]
    assert (size[data["part"] == "take_all"] >= threshold).all()
    assert (size[data["part"] == "sample"] < threshold).all()
    sel = p.select(seed=4)
    assert not (sel.data["part"] == "take_none").any()
    text = str(p.summary())
    assert "take_none" in text and "Sample plan" in text
    parts = p.summary().parts.set_index("part")
    assert parts["size_share"].sum() == pytest.approx(1.0)
    assert parts.loc["take_none", "n"] == 0


def test_exports(plan, tmp_path):
    paths = plan.to_csv(tmp_path / "plan")
    strata = pd.read_csv(paths[0])
    assert strata["n"].sum() == plan.n
    book = openpyxl.load_workbook(plan.to_excel(tmp_path / "plan.xlsx"), read_only=True)
    assert book.sheetnames == ["summary", "strata", "expected_cv", "settings"]
    sel = plan.select(seed=77)
    files = write_sample(sel, tmp_path / "sample")
    meta = json.loads(files[-1].read_text())
    assert meta["seed"] == 77 and meta["n"] == sel.n
    back = pd.read_csv(files[0], dtype={"firm_id": str})
    assert back["firm_id"].tolist() == sel.data["firm_id"].tolist()


def _config(tmp_path, register):
    reg = register[register["industry"].isin(sorted(register["industry"].unique())[:3])]
    reg.to_csv(tmp_path / "register.csv", index=False)
    return {
        "register": "register.csv", "id": "firm_id", "size": "revenue_prev_year",
        "strata": ["city"], "take_all_threshold": 5000, "size_strata": 2,
        "missing_size": 0, "min_n": 2, "response_rate": 0.8,
        "cv": {"revenue_prev_year": {"total": 0.03, "industry": 0.06}},
        "select": {"method": "srswor", "rotation": 0.2, "period": 0},
    }


def test_run_plan_and_run_select(tmp_path, register):
    config = _config(tmp_path, register)
    plan = run_plan(config, tmp_path / "out", base=tmp_path)
    assert (tmp_path / "out" / "plan.xlsx").exists()
    cv = pd.read_csv(tmp_path / "out" / "plan_expected_cv.csv")
    assert cv["met"].all() and len(cv) == 4
    first = run_select(config, tmp_path / "s1", seed=9, base=tmp_path)
    again = run_select(config, tmp_path / "s2", seed=9, base=tmp_path)
    assert first["firm_id"].tolist() == again["firm_id"].tolist()
    assert len(first) == plan.n
    meta = json.loads((tmp_path / "s1" / "sample_metadata.json").read_text())
    assert meta["seed"] == 9 and meta["rotation"] == 0.2


def test_config_errors(tmp_path, register):
    config = _config(tmp_path, register)
    with pytest.raises(ConfigError, match="unknown key"):
        run_plan({**config, "strata_columns": ["x"]}, tmp_path / "o", base=tmp_path)
    with pytest.raises(ConfigError, match="cv"):
        run_plan({k: v for k, v in config.items() if k != "cv"}, tmp_path / "o", base=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        run_plan({**config, "register": "nope.csv"}, tmp_path / "o", base=tmp_path)
    with pytest.raises(ConfigError, match="only one"):
        run_plan({**config, "take_all_cv": 0.01}, tmp_path / "o", base=tmp_path)
    with pytest.raises(ConfigError, match=r"\[plan.select\]"):
        run_select({**config, "select": {"methd": "x"}}, tmp_path / "o", seed=1, base=tmp_path)
