"""Issue 16 (library level): key units, typical units, the regression cut-off model, the
published-estimates store of the ledger (revisions), and the county small-area step.

The checks that need the whole demo cycle are in ``tests/test_cycle.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.errors import ConfigError, ImputationError, PlanError, SmallAreaError
from survey.estimation.combined import cutoff_model
from survey.estimation.takenone import smallest_inputs
from survey.estimation.levels import city_code, county_core
from survey.form import DEMO_FORM
from survey.plan.keyunits import key_unit_mask, key_unit_problems, typical_mask
from survey.returns.ledger import Ledger


def test_key_units_carry_the_share_of_their_cell():
    """Within each named cell the largest units until the share is reached (the unit
    crossing it included); take-all units count toward the share but are not key units."""
    rng = np.random.default_rng(1)
    reg = pd.DataFrame({"ind": rng.choice(["a", "b", "c"], 400), "x": rng.pareto(1.5, 400) + 1})
    big = reg["x"].to_numpy() > np.quantile(reg["x"], 0.98)
    key = key_unit_mask(reg, size="x", by="ind", cells=["a", "b"], share=0.6, eligible=~big)
    assert not key[reg["ind"].to_numpy() == "c"].any() and not (key & big).any()
    for cell in ("a", "b"):
        rows = reg[reg["ind"] == cell].sort_values("x", ascending=False)
        cum = rows["x"].cumsum() / rows["x"].sum()
        wanted = rows.index[(cum - rows["x"] / rows["x"].sum()) < 0.6]  # independent loop
        chosen = set(reg.index[key | big]) & set(rows.index)
        assert chosen == set(wanted)
    assert key_unit_mask(reg, size="x", by="ind", number=3).sum() == 9
    assert key_unit_problems({"by": "ind"})[0][0] == "share"
    with pytest.raises(PlanError, match=r"cell\(s\) \['z'\]"):
        key_unit_mask(reg, size="x", by="ind", cells=["z"], share=0.5)
    with pytest.raises(PlanError, match="not in the register"):
        typical_mask(pd.DataFrame({"firm_id": ["a"]}), id="firm_id", ids=["b"])


def test_plan_with_key_units_take_none_and_typical_units():
    """The demo register with take_none_below = 300, key units (share 0.5 of industries
    2221 and 3153) and two typical units: key units are enumerated, new firms (unknown
    size) are never take-none, typical units are never drawn but counted in N_h."""
    from survey.datasets import load_register
    from survey.plan import design_plan

    reg = load_register(2006)
    typical = reg[~reg["above_size"] & (reg["revenue_prev_year"] > 800)]["firm_id"].iloc[:2]
    plan = design_plan(reg, {"revenue_prev_year": {"total": 0.01}}, strata=["city"],
                       size="revenue_prev_year", take_all="above_size", size_strata=2,
                       take_none_below=300, missing_size=0.0, prn_seed=1,
                       key_units={"by": "industry", "cells": ["2221", "3153"], "share": 0.5},
                       typical={"ids": typical.tolist()})
    data = plan.frame.data
    key = data["key_unit"].to_numpy()
    assert (data.loc[key, "part"] == "take_all").all()
    assert set(data.loc[key, "industry"]) == {"2221", "3153"}
    for ind in ("2221", "3153"):
        rows = data[data["industry"] == ind]
        share = rows.loc[rows["part"] == "take_all", "revenue_prev_year"].sum() / rows[
            "revenue_prev_year"].sum()
        assert 0.5 <= share < 0.5 + 5000 / rows["revenue_prev_year"].sum()
    born = reg["revenue_prev_year"].isna().to_numpy()
    assert born.any() and not (data["part"].to_numpy()[born] == "take_none").any()
    assert (data.loc[data["part"] == "take_none", "revenue_prev_year"] < 300).all()
    sel = plan.select(seed=3)
    rows = sel.data
    assert set(rows.loc[rows["part"] == "typical", "firm_id"]) == set(typical)
    sampled = rows[rows["part"] == "sample"]
    N = data[data["part"] == "sample"].groupby("stratum").size()
    np.testing.assert_array_equal(sampled["N_h"].to_numpy(), N.reindex(sampled["stratum"]).to_numpy())
    np.testing.assert_allclose(sampled["design_weight"], sampled["N_h"] / sampled["n_h"])
    assert not sampled["firm_id"].isin(typical).any()


def test_regression_cutoff_model_matches_the_matrix_formulas():
    """``model="regression"``: OLS per group; prediction-error covariance
    ``sigma_g^2 [Z_d (Z'Z)^-1 Z_e' + N_d 1(d=e)]`` summed over groups, computed here with
    explicit matrices (numpy.linalg) to 1e-10."""
    rng = np.random.default_rng(1)
    m = pd.DataFrame({"x": rng.uniform(1, 10, 60), "g": rng.choice(["a", "b"], 60)})
    m["y"] = 2 + 3 * m["x"] + rng.normal(0, 1, 60)
    t = pd.DataFrame({"x": rng.uniform(0, 1, 25), "g": rng.choice(["a", "b"], 25),
                      "d": rng.choice(["p", "q", "r"], 25)})
    part = cutoff_model(m, t, "y", auxiliary="x", by="d", model_by="g", model="regression")
    V = np.zeros((3, 3))
    point = np.zeros(3)
    for name in ("a", "b"):
        mm = m[m["g"] == name]
        Z = np.column_stack([np.ones(len(mm)), mm["x"]])
        beta = np.linalg.lstsq(Z, mm["y"], rcond=None)[0]
        res = mm["y"] - Z @ beta
        s2 = res @ res / (len(mm) - 2)
        Zd = np.array([[len(t[(t.g == name) & (t.d == d)]), t[(t.g == name) & (t.d == d)].x.sum()]
                       for d in ("p", "q", "r")])
        V += s2 * (Zd @ np.linalg.inv(Z.T @ Z) @ Zd.T + np.diag(Zd[:, 0]))
        point += Zd @ beta
    np.testing.assert_allclose(part.point[:, 0], point, rtol=1e-10)
    np.testing.assert_allclose(part.cov[0], V, rtol=1e-10)
    with pytest.raises(ImputationError, match="at least three model inputs"):
        cutoff_model(m.iloc[:2], t, "y", auxiliary="x", model="regression")


def test_smallest_inputs_takes_the_smallest_observed_units_of_each_group():
    obs = pd.DataFrame({"g": list("aaaabbb"), "x": [5.0, 1, 3, 0, 9, 7, 8]})
    got = smallest_inputs(obs, size="x", by="g", smallest=2)
    assert sorted(got["x"].tolist()) == [1.0, 3.0, 7.0, 8.0]  # x = 0 (a birth) is no input


def test_ledger_records_publications_append_only_and_lists_revisions():
    """Two publication runs: published(as_of=1) is the first, published() the latest; the
    revisions table gives first against latest, the change and whether the latest lies in
    the first figure's interval."""
    first = pd.DataFrame({"period": ["2006Q3", "2006Q3", "2006Q2"], "breakdown": "sector",
                          "domain": "", "variable": ["y", "z", "y"], "estimate": [100.0, 50, 90],
                          "se": [2.0, 1, 2], "ci_low": [96.0, 48, 86], "ci_high": [104.0, 52, 94]})
    second = first.assign(estimate=[103.0, 55, 90])
    with Ledger.open(":memory:", form=DEMO_FORM) as ledger:
        assert ledger.record_published(first, published_period="2006Q3") == 1
        assert ledger.record_published(second, published_period="2006Q3") == 2
        old = ledger.published("2006Q3", as_of=1)
        now = ledger.published("2006Q3")
        revisions = ledger.revisions().set_index(["period", "variable"])
        count = ledger._cursor().execute("SELECT count(*) FROM published").fetchall()[0][0]
    assert old["estimate"].tolist() == [100.0, 50.0] and now["estimate"].tolist() == [103.0, 55.0]
    assert count == 6  # append-only: both runs kept
    assert revisions.loc[("2006Q3", "y"), "change"] == 3.0
    assert bool(revisions.loc[("2006Q3", "y"), "within_interval"])
    assert not bool(revisions.loc[("2006Q3", "z"), "within_interval"])
    assert not bool(revisions.loc[("2006Q2", "y"), "revised"])


def test_county_core_benchmarks_and_keeps_precise_direct_estimates():
    """Counties add up to the group targets after benchmarking; a county whose direct CV
    is below cv_max keeps its direct value before benchmarking; no sample -> synthetic."""
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(50, 500, 30).astype(float), rng.uniform(1e3, 1e4, 30)])
    truth = 0.8 * X[:, 1] + rng.normal(0, 300, 30)
    psi = (0.2 * truth) ** 2
    psi[0] = (0.01 * truth[0]) ** 2
    y = truth + rng.normal(0, np.sqrt(psi))
    n = np.full(30, 6)
    n[29] = 0
    y[29] = 0.0
    g = np.repeat(np.arange(3), 10)
    out = county_core(y, psi, n, X, other=np.zeros(30), other_var=np.zeros(30), groups=g,
                      targets=np.array([3e4, 4e4, 5e4]), cv_max=0.05)
    assert out["method"][0] == "direct" and out["method"][29] == "synthetic"
    assert set(out["method"][1:29]) == {"EBLUP"}
    np.testing.assert_allclose(np.bincount(g, weights=out["estimate"]), [3e4, 4e4, 5e4])
    with pytest.raises(SmallAreaError):
        county_core(y[:4], psi[:4], n[:4], X[:4], other=np.zeros(4), other_var=np.zeros(4),
                    groups=np.zeros(4, dtype=int), targets=np.array([1.0]))
    assert city_code(["450921"]).tolist() == ["450900"]


def test_coverage_check_names_the_uncovered_cells(tmp_path):
    """A take-none part in a cell with nothing observed to fit the model on is an error
    naming the cell (a register of two industries, one entirely below the cut-off)."""
    from survey.pipeline.config import load_config
    from survey.pipeline.steps import plan_step

    ids = [f"f{i:03d}" for i in range(80)]
    reg = pd.DataFrame({"firm_id": ids, "year": 2006, "industry": ["a"] * 40 + ["b"] * 40,
                        "size": list(np.linspace(500, 900, 40)) + list(np.linspace(10, 90, 40))})
    reg.to_csv(tmp_path / "reg.csv", index=False)
    (tmp_path / "s.toml").write_text(
        '[survey]\nname = "t"\nseed = 1\nperiod = "2006Q4"\n[register]\nfile = "reg.csv"\nsize = "size"\n'
        '[plan]\ntake_none_below = 100\nsize_strata = 1\n[plan.cv]\nsize = 0.05\n'
        '[estimate]\nvariables = ["y"]\n[estimate.take_none]\nby = ["industry"]\n',
        encoding="utf-8")
    with pytest.raises(ConfigError, match=r"neither enumerated, sampled nor modelled.*\['b'\]"):
        plan_step(load_config(tmp_path / "s.toml"), write=False)


def test_report_command_takes_the_level_and_area_of_a_federation():
    """`survey report CONFIG --level city --area 450900` (and [report] level/area, given
    together)."""
    from survey.cli import build_parser
    from survey.pipeline.config import validate_config

    args = build_parser().parse_args(["report", "c.toml", "--level", "city", "--area", "450900"])
    assert (args.level, args.area) == ("city", "450900")
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d, "s.toml")
        p.write_text('[survey]\nname = "t"\nseed = 1\n[register]\ndataset = "register"\n'
                     '[report]\nlevel = "city"\n', encoding="utf-8")
        assert validate_config(p) == ["report.area: give level and area together (e.g. level "
                                      "= 'city', area = '450900')"]
