"""Tests of survey.plan.selection: inclusion probabilities, selection methods, PRNs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import survey as sv
from survey.errors import SelectionError
from survey.plan import inclusion_probabilities, permanent_random_numbers, select

REFERENCE = Path(__file__).parent / "reference"
REPS = 600  # draws per inclusion-frequency check


def _expected(case: str) -> dict[str, str]:
    table = pd.read_csv(REFERENCE / "expected.csv", dtype=str)
    rows = table[table["case"] == case]
    return dict(zip(rows["quantity"], rows["value"]))


def test_mu284_inclusion_probabilities_match_r():
    """R: sampling::inclusionprobabilities(MU284$P75, 40) (sampling 2.9)."""
    mu = pd.read_csv(REFERENCE / "data" / "MU284.csv")
    pik = inclusion_probabilities(mu["P75"], 40)
    ref = _expected("mu284_pik_P75_n40")
    assert f"{pik.sum():.15g}" == ref["sum_pik"]
    assert str(int((pik >= 1).sum())) == ref["n_certainty"]
    assert f"{pik[pik < 1].max():.15g}" == ref["max_pik_below_1"]
    assert np.all((pik >= 0) & (pik <= 1))


def test_inclusion_probabilities_closed_form_and_errors():
    # no capping: n x / sum(x)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(inclusion_probabilities(x, 2), 2 * x / 10)
    # two rounds of capping: 100 -> 1, then 20 -> 1, rest rescaled to n - 2
    x = np.array([1.0, 1.0, 1.0, 20.0, 100.0])
    pik = inclusion_probabilities(x, 3)
    np.testing.assert_allclose(pik, [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    with pytest.raises(SelectionError, match="positions"):
        inclusion_probabilities([1.0, -1.0], 1)
    with pytest.raises(SelectionError, match="positive size"):
        inclusion_probabilities([1.0, 0.0], 2)


def _frame(seed: int = 0, sizes=(8, 12, 20)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame({
        "firm_id": [f"f{i:04d}" for i in range(h.size)],
        "h": np.array(["a", "b", "c"])[h],
        "x": rng.gamma(1.5, 10.0, h.size) + 0.5,
    })


def test_srswor_sizes_weights_and_fpc():
    df = _frame()
    sel = select(df, {"a": 3, "b": 4, "c": 5}, strata="h", seed=11)
    counts = sel.data.groupby("stratum").size().to_dict()
    assert counts == {"a": 3, "b": 4, "c": 5}
    w = sel.data.groupby("stratum")["design_weight"].first().to_dict()
    assert w == pytest.approx({"a": 8 / 3, "b": 3.0, "c": 4.0})
    assert sel.data.groupby("stratum")["N_h"].first().to_dict() == {"a": 8, "b": 12, "c": 20}
    assert sel.seed == 11
    # the input frame is not changed
    assert list(df.columns) == ["firm_id", "h", "x"]


def test_seed_none_is_recorded_and_reproduces():
    df = _frame()
    first = select(df, 3, strata="h", seed=None)
    again = select(df, 3, strata="h", seed=first.seed)
    assert isinstance(first.seed, int)
    assert first.data["firm_id"].tolist() == again.data["firm_id"].tolist()


def _frequencies(df, n, method, reps, *, strata, **kw):
    """Inclusion frequencies over ``reps`` samples and the sizes of the samples.

    The samples are drawn in one call: the frame ``reps`` times over, each copy with strata of
    its own ("r/h"), so the copies are selected independently (strata are) with the sizes of
    ``n``: ``reps`` samples of the design from one draw. Plus one sample of the frame itself
    (the plain call), whose size is the last of ``sizes``."""
    big = pd.concat([df] * reps, ignore_index=True)
    copy = np.repeat(np.arange(reps), len(df))
    big["firm_id"] = big["firm_id"] + "/" + copy.astype(str)
    big[strata] = copy.astype(str) + "/" + big[strata].astype(str)
    n_big = {f"{r}/{h}": size for r in range(reps) for h, size in n.items()}
    sel = select(big, n_big, method=method, strata=strata, seed=20261128, prn=None, **kw)
    rows = sel.data.index.to_numpy()
    assert big.loc[rows, "firm_id"].tolist() == sel.data["firm_id"].tolist()
    counts = np.bincount(rows % len(df), minlength=len(df))
    sizes = np.bincount(rows // len(df), minlength=reps)
    single = select(df, n, method=method, strata=strata, seed=1, prn=None, **kw)
    assert single.data["firm_id"].isin(df["firm_id"]).all()
    return counts / reps, np.append(sizes, single.n)


def _z_test(freq, pik, reps):
    free = (pik > 0) & (pik < 1)
    z = (freq[free] - pik[free]) / np.sqrt(pik[free] * (1 - pik[free]) / reps)
    return stats.chi2.sf(float(z @ z), df=int(free.sum()))


@pytest.mark.parametrize("method", ["srswor", "systematic"])
def test_equal_probability_methods_inclusion_frequencies(method):
    df = _frame(1)
    n = {"a": 2, "b": 5, "c": 7}
    freq, sizes = _frequencies(df, n, method, REPS, strata="h")
    assert np.all(sizes == 14)
    pik = df["h"].map({"a": 2 / 8, "b": 5 / 12, "c": 7 / 20}).to_numpy()
    if method == "srswor":
        assert _z_test(freq, pik, REPS) > 1e-3
    else:  # systematic samples repeat with the period N/n: units are not independent
        z = (freq - pik) / np.sqrt(pik * (1 - pik) / REPS)
        assert np.max(np.abs(z)) < 4.0


def test_pps_systematic_and_poisson_inclusion_frequencies():
    df = _frame(2)
    df.loc[5, "x"] = 500.0  # a certainty unit in stratum a
    n = {"a": 3, "b": 4, "c": 6}
    codes = df["h"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    from survey.plan.selection import _capped_pik

    pik = _capped_pik(df["x"].to_numpy(), codes, np.array([3.0, 4.0, 6.0]))
    assert pik[5] == 1.0
    freq, sizes = _frequencies(df, n, "pps_systematic", REPS, strata="h", size="x")
    assert np.all(sizes == 13)
    assert freq[5] == 1.0
    assert _z_test(freq, pik, REPS) > 1e-3
    freq, sizes = _frequencies(df, n, "poisson", REPS, strata="h", size="x")
    assert _z_test(freq, pik, REPS) > 1e-3
    assert sizes.mean() == pytest.approx(13, abs=0.25)


@pytest.mark.parametrize("method", ["pareto", "sequential_poisson"])
def test_order_pps_fixed_size_and_near_target_probabilities(method):
    df = _frame(3)
    n = {"a": 3, "b": 4, "c": 6}
    codes = df["h"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    from survey.plan.selection import _capped_pik

    pik = _capped_pik(df["x"].to_numpy(), codes, np.array([3.0, 4.0, 6.0]))
    freq, sizes = _frequencies(df, n, method, REPS, strata="h", size="x")
    assert np.all(sizes == 13)
    # order sampling hits its target probabilities approximately (Rosen 1997);
    # sequential Poisson deviates more than Pareto in small strata
    assert np.max(np.abs(freq - pik)) < (0.07 if method == "pareto" else 0.09)
    assert np.mean(np.abs(freq - pik)) < 0.025


def test_prn_positive_coordination_and_exact_rotation():
    df = _frame(4, sizes=(40, 60, 100))
    df["prn"] = permanent_random_numbers(df["firm_id"], seed=7)
    n = {"a": 10, "b": 15, "c": 20}
    s0 = select(df, n, strata="h", seed=1)
    s0_again = select(df, n, strata="h", seed=99)  # PRNs decide, not the seed
    assert s0.data["firm_id"].tolist() == s0_again.data["firm_id"].tolist()
    s1 = select(df, n, strata="h", rotation=0.2, period=1)
    s2 = select(df, n, strata="h", rotation=0.2, period=2)
    for a, b, expected in ((s0, s1, {"a": 8, "b": 12, "c": 16}), (s0, s2, {"a": 6, "b": 9, "c": 12})):
        both = a.data.merge(b.data[["firm_id"]], on="firm_id")
        assert both.groupby("stratum").size().to_dict() == expected
    # rotated samples are still SRSWOR of the right size
    assert s1.data.groupby("stratum").size().to_dict() == n


def test_prn_negative_coordination():
    df = _frame(5, sizes=(40, 60, 100))
    df["prn"] = permanent_random_numbers(df["firm_id"], seed=3)
    n = {"a": 8, "b": 12, "c": 20}
    first = select(df, n, strata="h")
    second = select(df, n, strata="h", start=0.5)
    assert set(first.data["firm_id"]).isdisjoint(second.data["firm_id"])


def test_permanent_random_numbers_are_stable_and_uniform():
    ids = [f"id{i}" for i in range(20000)]
    u = permanent_random_numbers(ids, seed=5)
    assert np.array_equal(u[100:200], permanent_random_numbers(ids[100:200], seed=5))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    v = permanent_random_numbers(ids, seed=6)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.05


def test_sample_goes_into_survey():
    df = _frame(6)
    sel = select(df, {"a": 3, "b": 4, "c": 20}, strata="h", seed=2)  # c: take-all
    s = sv.Survey(sel.data.assign(one=1.0), sel.design())
    est = s.total("one")
    assert est.estimate[0] == pytest.approx(40.0)
    assert est.se[0] == pytest.approx(0.0, abs=1e-9)
    # stratified SRSWOR variance by hand
    y = sel.data["x"].to_numpy()
    h = sel.data["stratum"].to_numpy()
    var = 0.0
    for label, N in (("a", 8), ("b", 12), ("c", 20)):
        yh = y[h == label]
        var += N**2 * (1 - yh.size / N) * yh.var(ddof=1) / yh.size
    est = s.total("x")
    assert est.se[0] == pytest.approx(np.sqrt(var), rel=1e-10)


def test_pps_sample_design_has_certainty_stratum():
    df = _frame(7)
    df.loc[0, "x"] = 1000.0
    sel = select(df, {"a": 3, "b": 3, "c": 3}, strata="h", size="x", method="pareto", seed=1)
    cert = sel.data[sel.data["stratum"] == "a/certainty"]
    assert len(cert) == 1 and cert["design_weight"].iloc[0] == 1.0
    assert cert["N_h"].iloc[0] == cert["n_h"].iloc[0] == 1
    s = sv.Survey(sel.data, sel.design())
    assert np.isfinite(s.total("x").se[0])


def test_selection_errors():
    df = _frame()
    with pytest.raises(SelectionError, match="'a'.*n=9.*N=8"):
        select(df, {"a": 9, "b": 1, "c": 1}, strata="h")
    with pytest.raises(SelectionError, match="method"):
        select(df, 2, strata="h", method="bernoulli")
    with pytest.raises(SelectionError, match="rotation"):
        select(df, 2, strata="h", method="systematic", rotation=0.1)
    with pytest.raises(SelectionError, match="no sample size"):
        select(df, {"a": 1}, strata="h")
    with pytest.raises(SelectionError, match="size column"):
        select(df, 2, strata="h", method="pareto")
    bad = df.assign(prn=1.5)
    with pytest.raises(SelectionError, match="PRN column"):
        select(bad, 2, strata="h")


@pytest.mark.parametrize("method", ["pareto", "sequential_poisson", "pps_systematic"])
def test_pps_sizes_exact_when_a_stratum_is_all_certainty(method):
    df = _frame(8, sizes=(10, 3, 12))
    df.loc[df["h"] == "b", "x"] = 1e6  # every unit of b is a certainty unit
    sel = select(df, {"a": 4, "b": 3, "c": 5}, strata="h", size="x", method=method, seed=3)
    assert sel.table()["n_h"].tolist() == [4, 3, 5]
    assert (sel.data.loc[sel.data["h"] == "b", "stratum"] == "b/certainty").all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rotation=st.sampled_from([0.0, 0.2, 0.5]),
       period=st.integers(0, 4))
def test_prn_sample_does_not_depend_on_row_order(seed, rotation, period):
    df = _frame(seed % 7, sizes=(15, 25, 30))
    df["prn"] = permanent_random_numbers(df["firm_id"], seed=seed)
    shuffled = df.sample(frac=1.0, random_state=seed)
    n = {"a": 4, "b": 6, "c": 9}
    a = select(df, n, strata="h", rotation=rotation, period=period)
    b = select(shuffled, n, strata="h", rotation=rotation, period=period)
    assert sorted(a.data["firm_id"]) == sorted(b.data["firm_id"])
    assert a.data.groupby("stratum").size().to_dict() == n


def test_srswor_on_prns_closer_than_float_resolution_of_the_sort_key():
    """Sequential SRS takes the n smallest PRNs of each stratum exactly, also in a stratum
    with a high code where ``2h + prn`` can no longer tell two PRNs apart (h = 40,000:
    PRNs 2^-50 apart give the same float sum)."""
    H = 40_001
    strata = np.concatenate([np.arange(H - 1), np.full(4, H - 1)])
    prn = np.concatenate([np.full(H - 1, 0.5), [0.3 + 2**-49, 0.3 + 2**-50, 0.3, 0.9]])
    df = pd.DataFrame({"h": strata, "prn": prn, "id": np.arange(strata.size)})
    assert 2.0 * (H - 1) + prn[-3] == 2.0 * (H - 1) + prn[-2]  # the collision is real
    n = {h: 1 for h in range(H)}
    n[H - 1] = 2
    sel = select(df, n, strata="h", prn="prn", seed=1)
    last = sel.data.loc[sel.data["h"] == H - 1, "id"].sort_values().tolist()
    assert last == [H - 1 + 1, H - 1 + 2]  # the two smallest PRNs: 0.3 and 0.3 + 2^-50
