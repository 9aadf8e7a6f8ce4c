"""Tests of survey.form: the return form as data (validation, column names, the demo's
form, restriction to some indicators) and that the bundled data follow DEMO_FORM."""

from __future__ import annotations

import dataclasses

import pytest

from survey.errors import FormError
from survey.form import DEMO_FORM, Form


def test_demo_form_describes_the_bundled_data():
    from survey.datasets import INDICATORS, MONEY_INDICATORS, load_quarterly, simulate_returns

    assert DEMO_FORM.indicators == INDICATORS == (
        "gross_output", "export_delivery", "sales_output", "revenue", "profit_tax", "employees")
    assert DEMO_FORM.money == MONEY_INDICATORS and DEMO_FORM.stocks == ("employees",)
    assert DEMO_FORM.flows == MONEY_INDICATORS
    assert "profit_tax" not in DEMO_FORM.nonnegative and "employees" in DEMO_FORM.nonnegative
    assert DEMO_FORM.unit_of("employees") == "person" and DEMO_FORM.id_format == "uscc"
    truth = load_quarterly("2006Q1")
    assert set(DEMO_FORM.indicators) <= set(truth.columns)
    firms = truth["firm_id"].iloc[:5]
    returns = simulate_returns(firms, "2006Q1", seed=1).returns
    extra = {DEMO_FORM.id, DEMO_FORM.period, *DEMO_FORM.other_columns}
    assert set(returns.columns) == set(DEMO_FORM.items) | extra


def test_column_names_follow_the_suffixes():
    form = Form(indicators=["out", "staff"], stocks="staff", ytd_suffix="_cum",
                last_year_suffix="_cum_ly", previous_suffix="_cum_prev")
    assert form.items == ("out_cum", "out_cum_ly", "staff_cum", "staff_cum_ly")
    assert (form.ytd("out"), form.last_year("out"), form.previous("out")) == (
        "out_cum", "out_cum_ly", "out_cum_prev")
    assert form.stocks == ("staff",) and form.money == ("out", "staff")  # default: all money
    assert form.unit_of("out") == "thousand_yuan"


@pytest.mark.parametrize("kwargs, message", [
    ({"indicators": []}, "at least one indicator"),
    ({"indicators": ["a", "a"]}, r"indicators \['a'\] are listed twice"),
    ({"indicators": ["a"], "stocks": ["b"]}, r"stocks \['b'\] are not indicators"),
    ({"indicators": ["a"], "nonnegative": ["b"]}, r"nonnegative \['b'\] are not indicators"),
    ({"indicators": ["a"], "money": ["b"]}, r"money \['b'\] are not indicators"),
    ({"indicators": ["a", "b"], "money": ["a"], "units": {"c": "kg"}}, r"units given for \['c'\]"),
    ({"indicators": ["a"], "units": {"a": "kg"}}, r"\['a'\] are money indicators"),
    ({"indicators": ["a"], "size": "b"}, "size 'b' is not an indicator"),
    ({"indicators": ["a"], "id_format": "ssn"}, "id_format must be one of"),
    ({"indicators": ["a"], "id": ""}, "id must be a non-empty string"),
    ({"indicators": ["a"], "ytd_suffix": "_x", "last_year_suffix": "_x"}, "must differ"),
    ({"indicators": ["a"], "relations": [{"name": "r"}]}, r"relations\[0\] must be a mapping"),
    ({"indicators": ["a"], "relations": [{"name": "r", "expression": "a_ytd > 0", "when": 1}]},
     "unknown keys"),
    ({"indicators": [1]}, "non-empty strings"),
    ({"indicators": 5}, "sequence of column names"),
])
def test_inconsistent_forms_are_refused(kwargs, message):
    with pytest.raises(FormError, match=message):
        Form(**kwargs)


def test_forms_are_frozen_and_restrict():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO_FORM.id = "x"  # type: ignore[misc]
    part = DEMO_FORM.restrict(["gross_output", "export_delivery", "employees"])
    assert part.indicators == ("gross_output", "export_delivery", "employees")
    assert part.money == ("gross_output", "export_delivery") and part.size == "employees"
    assert [r["name"] for r in part.relations] == ["export_within_output"]
    assert DEMO_FORM.restrict(["revenue"]).relations == () and DEMO_FORM.restrict(["revenue"]).size is None
    with pytest.raises(FormError, match=r"\['output'\] are not indicators"):
        DEMO_FORM.restrict(["output"])
    with pytest.raises(FormError, match="not an indicator"):
        DEMO_FORM.unit_of("output")
