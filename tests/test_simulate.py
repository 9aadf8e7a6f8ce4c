"""Tests of the simulation harness (issue 3).

The key test draws stratified SRSWOR samples from the bundled register and
estimates the total of gross output with the estimation core: the 95%
intervals must cover the known truth in 93-97% of 1,000 replications and the
relative bias must stay under 1%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.datasets import load_quarterly, load_register
from survey.errors import SelectionError, SurveyError
from survey.simulate import SimulationResult, simulate, stratified_srswor


@pytest.fixture(scope="module")
def register_population():
    """Register 2006 of one prefecture with the true 2006 gross output, stratified by size."""
    reg = load_register(2006)
    annual = load_quarterly(year=2006).groupby("firm_id")["gross_output"].sum()
    pop = reg.assign(gross_output=annual.reindex(reg["firm_id"]).to_numpy())
    pop = pop.loc[pop["city"] == "Yulin", ["firm_id", "above_size", "revenue_prev_year", "gross_output"]]
    rev = pop["revenue_prev_year"]
    stratum = np.select(
        [pop["above_size"], rev.isna(), rev < 500, rev < 1000, rev < 2000],
        ["take-all", "new", "s1", "s2", "s3"],
        "s4",
    )
    return pop.assign(stratum=stratum).reset_index(drop=True)


def test_stratified_srswor_register_coverage_and_bias(register_population):
    pop = register_population
    N = pop.groupby("stratum").size()
    sizes = {"take-all": int(N["take-all"]), "new": 30, "s1": 60, "s2": 80, "s3": 90, "s4": 90}
    design = sv.Design(strata="stratum", weights="weight", fpc="N_h")

    def estimator(sample):
        return sv.Survey(sample, design).total("gross_output")

    result = simulate(
        pop, stratified_srswor("stratum", sizes), estimator,
        truth=pop["gross_output"].sum(), replications=1000, seed=20060,
    )
    row = result.table().iloc[0]
    assert row["label"] == "gross_output"
    assert row["replications"] == 1000 and row["n_valid"] == 1000
    assert 0.93 <= row["coverage"] <= 0.97
    assert abs(row["relative_bias"]) < 0.01
    # linearisation SE agrees with the spread of the estimates
    assert row["se_ratio"] == pytest.approx(1.0, abs=0.1)
    assert result.seed == 20060


def test_srs_total_matches_closed_form_variance():
    # SRSWOR of n from N: Var(N ybar) = N^2 (1 - n/N) S^2 / n exactly
    y = np.arange(1.0, 401.0)
    N, n = len(y), 40
    truth_var = N**2 * (1 - n / N) * y.var(ddof=1) / n
    pop = pd.DataFrame({"y": y})

    def est(s):
        values = s["y"].to_numpy()
        total = N * values.mean()
        se = N * np.sqrt((1 - n / N) * values.var(ddof=1) / n)
        return {"estimate": total, "se": se}

    res = simulate(pop, stratified_srswor(None, n), est, truth=y.sum(), replications=2000, seed=2)
    t = res.table().iloc[0]
    assert t["empirical_se"] == pytest.approx(np.sqrt(truth_var), rel=0.05)
    assert t["mean_se"] == pytest.approx(np.sqrt(truth_var), rel=0.03)
    assert abs(t["bias"]) < 3 * t["bias_mc_se"]
    assert 0.93 <= t["coverage"] <= 0.97
    assert t["coverage_mc_se"] == pytest.approx(np.sqrt(t["coverage"] * (1 - t["coverage"]) / 2000))


def test_stratified_srswor_selects_exact_sizes_with_equal_probabilities():
    pop = pd.DataFrame({"h": np.repeat(["a", "b", "c"], [10, 20, 5]), "unit": np.arange(35)})
    draw = stratified_srswor("h", {"a": 4, "b": 5, "c": 5})
    rng = np.random.default_rng(0)
    counts = np.zeros(35)
    R = 1500
    for _ in range(R):
        unit = draw(pop, rng)["unit"].to_numpy()
        np.testing.assert_array_equal(np.bincount(np.searchsorted([10, 30], unit, side="right")), [4, 5, 5])
        counts[unit] += 1
    pi = np.repeat([0.4, 0.25, 1.0], [10, 20, 5])
    # each unit is selected with probability n_h / N_h (binomial sd at most 0.013)
    np.testing.assert_allclose(counts / R, pi, atol=0.05)
    s = draw(pop, rng)
    assert s.groupby("h")["weight"].first().to_dict() == {"a": 2.5, "b": 4.0, "c": 1.0}
    assert s.groupby("h")["N_h"].first().to_dict() == {"a": 10.0, "b": 20.0, "c": 5.0}
    assert list(pop.columns) == ["h", "unit"]  # population untouched


def test_stratified_srswor_rejects_bad_sizes():
    pop = pd.DataFrame({"h": ["a", "a", "b"], "y": [1.0, 2.0, 3.0]})
    rng = np.random.default_rng(0)
    with pytest.raises(SelectionError, match="stratum 'b'"):
        stratified_srswor("h", {"a": 1, "b": 2})(pop, rng)
    with pytest.raises(SelectionError, match="no sample size"):
        stratified_srswor("h", {"a": 1})(pop, rng)
    with pytest.raises(SelectionError, match="not in the population"):
        stratified_srswor("g", 1)(pop, rng)


def test_simulate_is_reproducible_and_labels_domains():
    rng = np.random.default_rng(1)
    pop = pd.DataFrame({"h": np.repeat(["a", "b"], 200), "d": np.tile(["x", "y"], 200),
                        "y": rng.gamma(2.0, 10.0, 400)})
    design = sv.Design(strata="h", weights="weight", fpc="N_h")

    def est(s):
        return sv.Survey(s, design).total("y", by="d")

    truth = pop.groupby("d")["y"].sum().to_numpy()
    a = simulate(pop, stratified_srswor("h", 30), est, truth=truth, replications=50, seed=5)
    b = simulate(pop, stratified_srswor("h", 30), est, truth=lambda p: p.groupby("d")["y"].sum(),
                 replications=50, seed=5)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    assert a.labels == ("x|y", "y|y")
    assert isinstance(a, SimulationResult) and a.estimates.shape == (50, 2)
    assert "50 replications" in str(a)
    # intervals are the core's t-intervals
    s = stratified_srswor("h", 30)(pop, np.random.default_rng(0))
    e = est(s)
    np.testing.assert_allclose(e.table()["ci_low"], e.estimate - (e.estimate - e.ci()["ci_low"].to_numpy()))


def test_simulate_accepts_pairs_and_reports_invalid_replications():
    pop = np.arange(10.0)
    calls = iter([(1.0, np.nan)] + [(45.0, 1.0)] * 9)
    res = simulate(pop, lambda p, rng: p, lambda s: next(calls), truth=45.0, replications=10, seed=0)
    t = res.table().iloc[0]
    assert t["n_valid"] == 9 and t["coverage"] == 1.0 and t["bias"] == 0.0
    assert res.labels == ("q0",)


def test_simulate_errors():
    pop = np.arange(10.0)
    with pytest.raises(SurveyError, match="truth has 2"):
        simulate(pop, lambda p, rng: p, lambda s: (1.0, 1.0), truth=[1.0, 2.0], replications=3)
    with pytest.raises(SurveyError, match="at least 2"):
        simulate(pop, lambda p, rng: p, lambda s: (1.0, 1.0), truth=1.0, replications=1)
    with pytest.raises(SurveyError, match="'estimate' and 'se'"):
        simulate(pop, lambda p, rng: p, lambda s: 3.0, truth=1.0, replications=3)
    with pytest.raises(SurveyError, match="level"):
        simulate(pop, lambda p, rng: p, lambda s: (1.0, 1.0), truth=1.0, level=95)
