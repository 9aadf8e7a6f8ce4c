"""Tests of survey.pipeline.config: parsing, key-path messages, path resolution, sections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from survey.errors import ConfigError
from survey.pipeline import DEMO_CONFIG as DEMO
from survey.pipeline.config import (
    DisclosureSettings,
    SurveyConfig,
    load_config,
    validate_config,
)
from survey.publish.disclosure import DisclosureRules

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[survey]
name = "test"
seed = 7

[register]
file = "data/register.csv"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "register.csv").write_text(
        "firm_id,county,industry,revenue_prev_year,above_size,in_bureau\n"
        "91450102000038F63T,Xingning,4215,1565.9,False,True\n", encoding="utf-8")
    return tmp_path


def _write(folder: Path, text: str, name: str = "survey.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_is_valid_and_parses():
    assert validate_config(DEMO) == []
    config = load_config(DEMO)
    assert isinstance(config, SurveyConfig)
    assert config.language == "zh"
    assert config.seed == 20070115
    assert config.survey.period == "2006Q4"
    # no output folder: the default lies inside the package, which the cycle refuses
    assert config.output == DEMO.parent / "output"
    assert [c.name for c in config.channels] == ["bureau", "federation", "zone"]
    assert config.estimate.variables == ["gross_output", "export_delivery", "profit_tax"]
    assert config.disclosure.tables[0].columns == "industry"
    assert config.disclosure.tables[1].rows == "zone"
    plan = config.section("plan")
    assert plan["dataset"] == "register" and plan["year"] == 2006
    assert plan["id"] == "firm_id" and plan["size"] == "revenue_prev_year"
    assert plan["cv"] == {"revenue_prev_year": {"total": 0.005, "city": 0.03}}
    assert config.section("channels")[0] == {"name": "bureau", "flag": "in_bureau",
                                             "label": "统计局渠道"}
    assert config.section("ledger")["file"].endswith("ledger.duckdb")


def test_demo_plan_section_is_accepted_by_the_planner():
    from survey.plan.plan import plan_from_config

    plan = plan_from_config(load_config(DEMO).section("plan"))
    assert plan.n > 0


def test_minimal_config_defaults_and_relative_paths(folder):
    path = _write(folder, MINIMAL)
    config = load_config(path)
    assert config.register.file == folder.resolve() / "data" / "register.csv"
    assert config.output == folder.resolve() / "output"
    assert config.ledger_file == folder.resolve() / "output" / "ledger.duckdb"
    assert config.language == "zh"
    assert config.plan is None and config.estimate is None
    assert config.section("plan") == {}
    assert config.disclosure.rules() == DisclosureRules()
    # plan inherits the register file as an absolute path
    cfg2 = load_config(_write(folder, MINIMAL + "[plan.cv]\nrevenue_prev_year = 0.05\n", "b.toml"))
    assert cfg2.section("plan")["register"] == str(folder.resolve() / "data" / "register.csv")
    # frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.survey.seed = 3  # type: ignore[misc]


def test_every_problem_is_reported_with_its_key_path(folder):
    text = """
[survey]
name = "test"
seed = 7
language = "english"
outptu = "out"

[register]
file = "data/register.csv"

[plan]
strata = ["county", "county"]
size_strata = 0
take_all_column = "above_size"
take_all_threshold = 5000

[plan.cv]
revenue_prev_year = { total = 0.02, county = 1.5 }

[[channels]]
name = "bureau"
flag = "in_bureau"

[[channels]]
name = "federation"
file = "data/federation.csv"

[[channels]]
name = "bureau"
flag = "in_bureau"

[estimate]
variables = "gross_output"
level = 95

[calibration]
method = "logit"

[[edit.rules]]
name = "bad"
expression = "__import__('os')"

[disclosure]
dominance = [[2, 185]]

[report]
cv_caution = 0.3
cv_unreliable = 0.15

[reprot]
title = "x"
"""
    problems = validate_config(_write(folder, text))
    expected = [
        "survey.outptu: unknown key; did you mean 'output'?",
        "survey.language: must be one of 'zh', 'en', got a string 'english'; did you mean 'en'?",
        "plan.strata[1]: 'county' is listed twice",
        "plan.size_strata: must be in [1, inf), got 0",
        "plan.cv.revenue_prev_year.county: must be in (0, 1), got 1.5",
        "channels[1].file: file not found: " + str(folder.resolve() / "data" / "federation.csv"),
        "channels[2].name: 'bureau' is used by an earlier channel",
        "estimate.variables: must be a list of strings, got a string 'gross_output'",
        "estimate.level: must be in (0, 1), got 95.0",
        "calibration.bounds: missing: method 'logit' needs bounds, e.g. [0.5, 2.0]",
        "disclosure.dominance[0][1]: k must be a percentage in (0, 100), got 185.0",
        "report.cv_unreliable: must be above cv_caution (0.3), got 0.15",
        "reprot: unknown section; did you mean 'report'?",
    ]
    for e in expected:
        assert e in problems, (e, problems)
    # the take-all rules are checked only once the plan's own keys are valid
    assert not any(p.startswith("plan.take_all_threshold") for p in problems)
    rule = [p for p in problems if p.startswith("edit.rules[0].expression:")]
    assert len(rule) == 1 and "'__import__' is not allowed" in rule[0]
    assert len(problems) == len(expected) + 1
    with pytest.raises(ConfigError) as info:
        load_config(folder / "survey.toml")
    message = str(info.value)
    assert message.startswith(f"{len(problems)} problems in ")
    assert all(p in message for p in problems)


def test_cross_field_rules(folder):
    text = MINIMAL + """
[plan]
take_all_column = "above_size"
take_all_threshold = 5000.0
[plan.cv]
revenue_prev_year = 0.02

[[channels]]
name = "bureau"
flag = "in_bureau"
file = "data/register.csv"

[[channels]]
name = "bureau"
flag = "in_bureau"
"""
    problems = validate_config(_write(folder, text))
    assert problems == [
        "plan.take_all_threshold: give only one take-all rule, not take_all_column and "
        "take_all_threshold",
        "channels[0].flag: give either flag (a register column) or file (a firm list)",
        "channels[1].name: 'bureau' is used by an earlier channel",
    ]
    text2 = MINIMAL + "[plan]\ntake_all_threshold = { C19 = 5000, C20 = 'big' }\n[plan.cv]\nx = 0.1\n"
    problems2 = validate_config(_write(folder, text2, "c.toml"))
    assert problems2 == ["plan.take_all_threshold.C20: must be a number, got a string 'big'"]
    text3 = MINIMAL + "[plan]\ntake_all_threshold = { C19 = 5000 }\n[plan.cv]\nx = 0.1\n"
    assert validate_config(_write(folder, text3, "d.toml")) == [
        "plan.threshold_by: missing: a threshold table needs the column it is keyed on "
        "(e.g. threshold_by = 'industry')"]


def test_columns_are_checked_against_the_register(folder):
    text = MINIMAL + """
[plan]
strata = ["countyy"]
[plan.cv]
revenue_prev_year = 0.05

[[channels]]
name = "bureau"
flag = "in_federation"

[calibration]
margins = ["industri"]

[[disclosure.tables]]
rows = ["county"]
columns = "zone"
"""
    problems = validate_config(_write(folder, text))
    where = str(folder.resolve() / "data" / "register.csv")
    assert problems == [
        f"plan.strata[0]: column 'countyy' is not in {where}; did you mean 'county'?",
        f"channels[0].flag: column 'in_federation' is not in {where}",
        f"calibration.margins[0]: column 'industri' is not in {where}; did you mean 'industry'?",
        f"disclosure.tables[0].columns: column 'zone' is not in {where}",
    ]


def test_bundled_register_columns_are_known(tmp_path):
    # the demo refers to the bundled register: a wrong column there is caught too
    text = DEMO.read_text(encoding="utf-8").replace('by = ["city", "industry", "zone"]',
                                                    'by = ["city", "industy"]')
    tmp = tmp_path / "copy_of_demo.toml"
    tmp.write_text(text, encoding="utf-8")
    assert validate_config(tmp) == [
        "estimate.by[1]: column 'industy' is not in the register; did you mean 'industry'?"]


def test_the_demo_configuration_ships_inside_the_package():
    """The demo configuration is package data (found with importlib.resources), so an
    installed wheel has it; a cycle run without an output folder refuses to write into the
    package."""
    import importlib.resources

    import survey
    assert DEMO == Path(str(importlib.resources.files("survey.pipeline") / "demo.toml"))
    assert DEMO.is_file() and DEMO.is_relative_to(Path(survey.__file__).parent)
    with pytest.raises(ConfigError, match="inside the survey package.*--output"):
        load_config(DEMO).output_folder()
    assert not (DEMO.parent / "output").exists()


def test_syntax_and_file_errors(folder):
    bad = _write(folder, '[survey]\nname = "x"\nseed = \n')
    problems = validate_config(bad)
    assert len(problems) == 1 and "TOML syntax error" in problems[0] and "line 3" in problems[0]
    missing = folder / "nope.toml"
    assert validate_config(missing) == [f"{missing.resolve()}: file not found"]
    with pytest.raises(ConfigError, match="file not found"):
        load_config(missing)
    empty = _write(folder, "", "empty.toml")
    assert validate_config(empty) == ["survey: missing section [survey]",
                                      "register: missing section [register]"]
    both = _write(folder, MINIMAL + 'dataset = "register"\n', "both.toml")
    assert validate_config(both) == [
        "register.file: give either register.file (your register) or register.dataset = "
        "'register' (the bundled synthetic register)"]
    wrong = _write(folder, '[survey]\nname = ""\nseed = true\n[register]\ndataset = "register"\n',
                   "wrong.toml")
    assert validate_config(wrong) == ["survey.name: must not be empty",
                                      "survey.seed: must be an integer, got true/false True"]


def test_disclosure_settings_give_rules(folder):
    text = MINIMAL + "[disclosure]\np_percent = 0\ndominance = [[1, 60], [2, 85]]\nmin_frequency = 4\n"
    config = load_config(_write(folder, text))
    rules = config.disclosure.rules()
    assert rules == DisclosureRules(min_frequency=4, p_percent=None, dominance=((1, 60), (2, 85)))
    assert DisclosureSettings().rules().p_percent == 10.0
    assert config.section("disclosure")["dominance"] == [[1, 60.0], [2, 85.0]]


def test_section_rejects_unknown_names(folder):
    config = load_config(_write(folder, MINIMAL))
    with pytest.raises(ConfigError, match="unknown section 'plans'"):
        config.section("plans")
