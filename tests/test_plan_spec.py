"""Tests of survey.plan.spec: one plan specification (PlanSpec) and one place that checks
it, used by design_plan (spec and keyword forms), plan_from_config and the configuration
validator ([plan] key-path messages)."""

from __future__ import annotations

import pandas as pd
import pytest

from survey.errors import ConfigError, PlanError
from survey.plan import PlanSpec, design_plan, plan_from_config, plan_problems


def _register(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({
        "firm_id": [f"f{i:03d}" for i in range(n)],
        "region": ["north", "south"] * (n // 2),
        "revenue": [float(10 + (i * 37) % 200) for i in range(n - 3)] + [5000.0, 6000.0, 7000.0],
        "big": [False] * (n - 3) + [True] * 3,
    })


def test_every_problem_with_its_key_path():
    with pytest.raises(PlanError) as info:
        PlanSpec(targets={"revenue": {"total": 0.02, "region": 1.5}, "staff": "x"},
                 strata=["region", "region"], size_strata=0, min_n=1.5, boundary_method="equal",
                 response_rate=1.2, cost=-1, take_none_below=-5, prn_seed="a")
    assert str(info.value).splitlines() == [
        "10 problems in the plan specification:",
        "  targets.staff: must be a CV (a number) or a table {total = ..., <domain column> = ...} "
        "of CVs",
        "  targets.revenue.region: must be in (0, 1), got 1.5",
        "  strata[1]: 'region' is listed twice",
        "  take_none_below: must be in [0, inf), got -5",
        "  size_strata: must be in [1, inf), got 0",
        "  boundary_method: must be one of 'cum_sqrt_f', 'geometric', 'lavallee_hidiroglou', "
        "got 'equal'",
        "  cost: must be in (0, inf), got -1",
        "  min_n: must be an integer, got 1.5",
        "  response_rate: must be in (0, 1], got 1.2",
        "  prn_seed: must be an integer, got 'a'",
    ]


def test_rules_between_fields_once_values_are_valid():
    assert PlanSpec(targets={"x": 0.1}).problems() == []
    with pytest.raises(PlanError, match="take_all_cv: give only one take-all rule"):
        PlanSpec(targets={"x": 0.1}, take_all="big", take_all_cv=0.05)
    with pytest.raises(PlanError, match="take_all_by: missing: a threshold table"):
        PlanSpec(targets={"x": 0.1}, take_all={"C19": 5000.0})
    with pytest.raises(PlanError, match="targets: give at least one CV target"):
        PlanSpec(targets={})
    # a wrong value hides the rules between fields (they would be noise)
    with pytest.raises(PlanError) as info:
        PlanSpec(targets={"x": 2.0}, take_all="big", take_all_cv=0.05)
    assert "take-all rule" not in str(info.value)


def test_config_section_problems_use_the_config_names():
    assert plan_problems({"cv": {"x": {"total": 0.02, "county": 1.5}}, "size_strata": 0,
                          "strata": ["a", "a"]}) == [
        ("cv.x.county", "must be in (0, 1), got 1.5"), ("size_strata", "must be in [1, inf), got 0"),
        ("strata[1]", "'a' is listed twice")]
    assert plan_problems({"cv": {"x": 0.1}, "take_all_column": "big",
                          "take_all_threshold": 5000.0}) == [
        ("take_all_threshold", "give only one take-all rule, not take_all_column and "
                               "take_all_threshold")]
    assert plan_problems({"cv": {"x": 0.1}, "take_all_threshold": {"C19": 5000.0}}) == [
        ("threshold_by", "missing: a threshold table needs the column it is keyed on "
                         "(e.g. threshold_by = 'industry')")]
    assert plan_problems({"cv": {"x": 0.1}, "take_all_threshold": -1.0}) == [
        ("take_all_threshold", "must be in [0, inf), got -1.0")]
    assert plan_problems({"cv": {"x": 0.1}, "id": 5}) == [("id", "must be a column name, got 5")]


def test_the_config_validator_uses_the_same_checks(tmp_path):
    from survey.pipeline.config import validate_config

    (tmp_path / "r.csv").write_text("firm_id,revenue,big\nf1,1.0,True\n", encoding="utf-8")
    text = ('[survey]\nname = "t"\nseed = 1\n[register]\nfile = "r.csv"\nsize = "revenue"\n'
            '[plan]\nresponse_rate = 1.2\nmin_n = 0\nid = "firm_id"\n'
            '[plan.cv]\nrevenue = 0.02\n')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    assert validate_config(tmp_path / "s.toml") == [
        "plan.min_n: must be in [1, inf), got 0",
        "plan.response_rate: must be in (0, 1], got 1.2",
    ]
    # unit, the old name of id, is gone: an unknown key
    (tmp_path / "s.toml").write_text(text.replace('id = "firm_id"', 'unit = "firm_id"'),
                                     encoding="utf-8")
    [problem] = validate_config(tmp_path / "s.toml")
    assert problem.startswith("plan.unit: unknown key")


def test_design_plan_spec_and_keyword_forms_agree():
    reg = _register()
    spec = PlanSpec(targets={"revenue": {"total": 0.15}}, strata="region", size="revenue",
                    take_all="big", size_strata=1)
    a = design_plan(reg, spec)
    b = design_plan(reg, {"revenue": {"total": 0.15}}, strata="region", size="revenue",
                    take_all="big", size_strata=1)
    assert a.allocation.n.tolist() == b.allocation.n.tolist() == [2, 2, 3]
    assert a.settings == b.settings and a.spec is spec
    assert b.spec.take_all == "big" and a.settings["id"] == "firm_id"
    with pytest.raises(PlanError, match=r"a PlanSpec or keywords, not both \(got \['min_n'\]\)"):
        design_plan(reg, spec, min_n=3)
    with pytest.raises(PlanError, match="size_strata: must be in"):
        design_plan(reg, {"revenue": 0.1}, size="revenue", size_strata=0)
    c = design_plan(reg, spec.targets, strata="region", size="revenue", take_all="big",
                    size_strata=1, id="firm_id")
    assert c.allocation.n.tolist() == [2, 2, 3]
    with pytest.raises(TypeError, match="unit"):  # the old name of id is gone
        design_plan(reg, spec.targets, size="revenue", unit="firm_id")


def test_from_config_maps_the_keys_and_reports_problems(tmp_path):
    section = {"size": "revenue", "strata": ["region"], "take_all_threshold": {"north": 1000.0},
               "threshold_by": "region", "cv": {"revenue": 0.1}, "id": "firm_id",
               "size_strata": 2, "min_n": 3, "register": "x.csv", "select": {"method": "srswor"}}
    spec = PlanSpec.from_config(section)
    assert spec.targets == {"revenue": 0.1} and spec.take_all == {"north": 1000.0}
    assert spec.take_all_by == "region" and spec.id == "firm_id" and spec.min_n == 3
    (tmp_path / "thresholds.csv").write_text("region,threshold\nnorth,1000\nsouth,2000\n")
    table = PlanSpec.from_config({"size": "revenue", "cv": {"revenue": 0.1},
                                  "threshold_table": "thresholds.csv", "threshold_by": "region"},
                                 base=tmp_path)
    assert table.take_all.to_dict("list") == {"region": ["north", "south"],
                                              "threshold": [1000, 2000]}
    with pytest.raises(ConfigError) as info:
        PlanSpec.from_config({"cv": {"revenue": 1.5}, "size": "revenue", "strat": "x"})
    assert "[plan] strat: unknown key" in str(info.value)
    with pytest.raises(ConfigError, match=r"\[plan\] cv.revenue: must be in \(0, 1\), got 1.5"):
        PlanSpec.from_config({"cv": {"revenue": 1.5}, "size": "revenue"})
    with pytest.raises(ConfigError, match=r"\[plan\] size: missing"):
        PlanSpec.from_config({"cv": {"revenue": 0.1}})
    with pytest.raises(ConfigError, match=r"\[plan\] threshold_table: file .* not found"):
        PlanSpec.from_config({"size": "revenue", "cv": {"revenue": 0.1},
                              "threshold_table": "none.csv", "threshold_by": "region"},
                             base=tmp_path)


def test_plan_from_config_reads_any_table_file(tmp_path):
    reg = _register()
    reg.to_csv(tmp_path / "reg.csv", index=False, encoding="gb18030")
    plan = plan_from_config({"register": "reg.csv", "size": "revenue", "strata": "region",
                             "take_all_column": "big", "size_strata": 1,
                             "cv": {"revenue": {"total": 0.15}}}, base=tmp_path)
    assert plan.allocation.n.tolist() == [2, 2, 3]
    (tmp_path / "fake.xlsx").write_text("firm_id,revenue\n")
    with pytest.raises(ConfigError, match=r"\[plan\] register: fake.xlsx: not an Excel workbook"):
        plan_from_config({"register": "fake.xlsx", "size": "revenue",
                          "cv": {"revenue": 0.1}}, base=tmp_path)
