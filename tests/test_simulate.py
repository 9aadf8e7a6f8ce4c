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


def _srswor_draws(codes: np.ndarray, sizes: np.ndarray, replications: int, rng) -> list:
    """``replications`` stratified SRSWOR samples at once: per stratum h (``codes == h``) a
    (replications x n_h) array of row numbers (the n_h smallest of uniform keys)."""
    out = []
    for h, n in enumerate(sizes):
        rows = np.flatnonzero(codes == h)
        keys = rng.random((replications, rows.size))
        pick = np.argpartition(keys, n - 1, axis=1)[:, :n] if n < rows.size else np.broadcast_to(
            np.arange(rows.size), (replications, n))
        out.append(rows[pick])
    return out


def _stratified_totals(y: np.ndarray, N_h: np.ndarray, draws: list, df: int):
    """Horvitz-Thompson totals of stratified SRSWOR samples with the textbook variance
    sum_h N_h^2 (1 - n_h / N_h) s_h^2 / n_h and t intervals (``df``): (estimate, se, low,
    high), one value per sample."""
    from scipy import stats

    est = sum(N * y[rows].mean(axis=1) for N, rows in zip(N_h, draws))
    var = sum(N**2 * (1 - rows.shape[1] / N) * (y[rows].var(axis=1, ddof=1) if rows.shape[1] > 1
                                                  else 0.0) / rows.shape[1]
              for N, rows in zip(N_h, draws))
    se = np.sqrt(var)
    t = stats.t.ppf(0.975, df)
    return est, se, est - t * se, est + t * se


def test_stratified_srswor_register_coverage_and_bias(register_population):
    """1,000 stratified SRSWOR samples of the register (Yulin), total of gross output: the
    95% intervals cover the truth in 93-97%, relative bias under 1%, the SE agrees with
    the spread. The 1,000 samples are drawn at once and their estimates computed in closed
    form (HT total, textbook stratified variance, t intervals with the design df), then
    summarised by the harness's SimulationResult.table(); that closed form is the
    estimation core's: simulate() with stratified_srswor and Survey.total, 20 replications
    end to end, gives the same estimates, SEs and intervals on the samples it drew."""
    pop = register_population
    N = pop.groupby("stratum").size()
    sizes = {"take-all": int(N["take-all"]), "new": 30, "s1": 60, "s2": 80, "s3": 90, "s4": 90}
    design = sv.Design(strata="stratum", weights="weight", fpc="N_h")

    def estimator(sample):
        return sv.Survey(sample, design).total("gross_output")

    drawn = []

    def draw(population, rng):
        drawn.append(stratified_srswor("stratum", sizes)(population, rng))
        return drawn[-1]

    truth = pop["gross_output"].sum()
    short = simulate(pop, draw, estimator, truth=truth, replications=20, seed=20060)
    assert short.seed == 20060 and short.table().iloc[0]["n_valid"] == 20
    codes, names = pd.factorize(pop["stratum"], sort=True)
    n_h = np.array([sizes[k] for k in names])
    N_h = np.bincount(codes)
    y = pop["gross_output"].to_numpy()
    df = int(n_h.sum() - len(n_h))
    assert estimator(drawn[0]).table()["df"].iloc[0] == df
    index = pd.Index(pop["firm_id"])
    for r, sample in enumerate(drawn):
        rows = index.get_indexer(sample["firm_id"])
        per = [np.sort(rows[codes[rows] == h])[None, :] for h in range(len(names))]
        got = _stratified_totals(y, N_h, per, df)
        for mine, theirs in zip(got, (short.estimates, short.se, short.ci_low, short.ci_high)):
            assert mine[0] == pytest.approx(theirs[r, 0], rel=1e-10)
    R = 1000
    est, se, low, high = _stratified_totals(y, N_h, _srswor_draws(codes, n_h, R,
                                                                  np.random.default_rng(20060)), df)
    result = SimulationResult(labels=("gross_output",), truth=np.array([truth]),
                              estimates=est[:, None], se=se[:, None], ci_low=low[:, None],
                              ci_high=high[:, None], replications=R, level=0.95, seed=20060)
    row = result.table().iloc[0]
    assert row["label"] == "gross_output"
    assert row["replications"] == 1000 and row["n_valid"] == 1000
    assert 0.93 <= row["coverage"] <= 0.97
    assert abs(row["relative_bias"]) < 0.01
    # linearisation SE agrees with the spread of the estimates
    assert row["se_ratio"] == pytest.approx(1.0, abs=0.1)


def test_srs_total_matches_closed_form_variance():
    """SRSWOR of n from N: Var(N ybar) = N^2 (1 - n/N) S^2 / n exactly. 2,000 samples drawn
    at once (uniform keys), summarised by SimulationResult.table(); simulate() with
    stratified_srswor runs 20 of them end to end (same estimator)."""
    y = np.arange(1.0, 401.0)
    N, n = len(y), 40
    truth_var = N**2 * (1 - n / N) * y.var(ddof=1) / n
    pop = pd.DataFrame({"y": y})

    def est(s):
        values = s["y"].to_numpy()
        total = N * values.mean()
        se = N * np.sqrt((1 - n / N) * values.var(ddof=1) / n)
        return {"estimate": total, "se": se}

    short = simulate(pop, stratified_srswor(None, n), est, truth=y.sum(), replications=20, seed=2)
    assert short.table().iloc[0]["n_valid"] == 20 and short.estimates.shape == (20, 1)
    z = 1.959963984540054  # without intervals the harness uses estimate +- z se
    np.testing.assert_allclose(short.ci_high[:, 0] - short.estimates[:, 0], z * short.se[:, 0],
                               rtol=1e-12)
    R = 2000
    rows = _srswor_draws(np.zeros(N, dtype=int), np.array([n]), R, np.random.default_rng(2))[0]
    total = N * y[rows].mean(axis=1)
    se = N * np.sqrt((1 - n / N) * y[rows].var(axis=1, ddof=1) / n)
    res = SimulationResult(labels=("y",), truth=np.array([y.sum()]), estimates=total[:, None],
                           se=se[:, None], ci_low=(total - z * se)[:, None],
                           ci_high=(total + z * se)[:, None], replications=R, level=0.95, seed=2)
    t = res.table().iloc[0]
    assert t["empirical_se"] == pytest.approx(np.sqrt(truth_var), rel=0.05)
    assert t["mean_se"] == pytest.approx(np.sqrt(truth_var), rel=0.03)
    assert abs(t["bias"]) < 3 * t["bias_mc_se"]
    assert 0.93 <= t["coverage"] <= 0.97
    assert t["coverage_mc_se"] == pytest.approx(np.sqrt(t["coverage"] * (1 - t["coverage"]) / 2000))


def test_stratified_srswor_selects_exact_sizes_with_equal_probabilities():
    """Each unit is selected with probability n_h / N_h, every sample has the sizes n_h:
    1,500 samples drawn in one call (the population 1,500 times over, each copy with strata
    of its own, "r/h": strata are drawn independently), plus one sample of the population
    itself for the columns it gets."""
    pop = pd.DataFrame({"h": np.repeat(["a", "b", "c"], [10, 20, 5]), "unit": np.arange(35)})
    sizes = {"a": 4, "b": 5, "c": 5}
    rng = np.random.default_rng(0)
    R = 1500
    copy = np.repeat(np.arange(R), len(pop))
    stacked = pd.DataFrame({"h": copy.astype(str) + "/" + np.tile(pop["h"].to_numpy(), R),
                            "unit": np.tile(pop["unit"].to_numpy(), R), "copy": copy})
    draw_all = stratified_srswor("h", {f"{r}/{h}": n for r in range(R) for h, n in sizes.items()})
    drawn = draw_all(stacked, rng)
    unit, copies = drawn["unit"].to_numpy(), drawn["copy"].to_numpy()
    stratum = np.searchsorted([10, 30], unit, side="right")
    per_sample = np.bincount(copies * 3 + stratum, minlength=3 * R).reshape(R, 3)
    assert (per_sample == [4, 5, 5]).all()
    assert not drawn.duplicated(["copy", "unit"]).any()
    counts = np.bincount(unit, minlength=35)
    pi = np.repeat([0.4, 0.25, 1.0], [10, 20, 5])
    # each unit is selected with probability n_h / N_h (binomial sd at most 0.013)
    np.testing.assert_allclose(counts / R, pi, atol=0.05)
    draw = stratified_srswor("h", sizes)
    s = draw(pop, rng)
    np.testing.assert_array_equal(np.bincount(np.searchsorted([10, 30], s["unit"], side="right")),
                                  [4, 5, 5])
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
