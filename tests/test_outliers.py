"""Tests of survey.returns.outliers: Kokic-Bell constant and cut-offs by hand, MSE over
repeated samples with a planted extreme firm, Hidiroglou-Berthelot by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.errors import ColumnError, WeightError
from survey.returns.outliers import hidiroglou_berthelot, kokic_bell_constant, winsorise


def test_kokic_bell_two_strata_hand_computation():
    # stratum 1: w = 5, y = 1, 2, 3, 14 (mean 5): d = 4 * (y - 5) = -16, -12, -8, 36
    # stratum 2: w = 3, y = 10, 50 (mean 30):      d = 2 * (y - 30) = -40, 40
    # d sorted: 40, 36, ... ; k = 1: L = 40/2 = 20 but 20 < 36; k = 2: L = 76/3, 36 > 25.33 >= -8
    df = pd.DataFrame(
        {"h": [1, 1, 1, 1, 2, 2], "w": [5.0, 5, 5, 5, 3, 3], "y": [1.0, 2, 3, 14, 10, 50]}
    )
    result = winsorise(df, "y", weights="w", strata="h")
    L = 76 / 3
    assert result.constant == pytest.approx(L, rel=1e-12)
    k1, k2 = 5 + L / 4, 30 + L / 2  # K_i = m_h + L / (w_h - 1)
    np.testing.assert_allclose(result.data["y_threshold"], [k1] * 4 + [k2] * 2)
    expected = [1, 2, 3, 14 / 5 + 0.8 * k1, 10, 50 / 3 + (2 / 3) * k2]
    np.testing.assert_allclose(result.data["y_winsorised"], expected, rtol=1e-12)
    assert result.data["y_winsorised"].round(4).tolist()[3] == 11.8667
    assert result.data["y_winsorised_flag"].tolist() == [False, False, False, True, False, True]
    # the weighted total falls by exactly L (the estimated bias equals L at the optimum)
    assert result.reduction == pytest.approx(L, rel=1e-12)
    assert "L = 25.3333" in str(result)
    assert "y_winsorised" not in df.columns


def test_constant_is_root_of_its_equation_and_take_all_untouched():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = 30
        y = rng.lognormal(3, 1.5, n)
        w = rng.choice([1.0, 4.0, 10.0, 25.0], n)
        m = np.full(n, np.median(y))
        L = kokic_bell_constant(y, w, m)
        d = (w - 1) * (y - m)
        rhs = np.clip(d[w > 1] - L, 0, None).sum()
        assert L == pytest.approx(rhs, rel=1e-10, abs=1e-9)
    df = pd.DataFrame({"w": [1.0, 1.0, 4.0, 4.0], "y": [1e6, 1.0, 2.0, 30.0]})
    out = winsorise(df, "y", weights="w").data
    assert out["y_winsorised"].tolist()[:2] == [1e6, 1.0]
    assert np.isnan(out["y_threshold"].tolist()[0])
    assert kokic_bell_constant(np.array([1.0, 1.0]), np.array([3.0, 3.0]), np.array([1.0, 1.0])) == 0.0


def test_given_constant_and_auxiliary_ratio_model():
    df = pd.DataFrame({"w": [4.0] * 4, "x": [1.0, 2, 3, 4], "y": [1.0, 2, 3, 24]})
    # ratio model: m_i = x_i * 30 / 10 = 3 x_i; with L = 6: K_i = 3 x_i + 2
    out = winsorise(df, "y", weights="w", auxiliary="x", constant=6.0).data
    np.testing.assert_allclose(out["y_threshold"], [5, 8, 11, 14])
    np.testing.assert_allclose(out["y_winsorised"], [1, 2, 3, 24 / 4 + 0.75 * 14])


def test_winsorisation_lowers_mse_with_a_planted_extreme_firm():
    """800 stratified samples with an extreme firm planted in the population: winsorisation
    lowers the MSE of the total by more than half. The samples are drawn at once and the
    winsorised totals computed in closed form: a firm above its cut-off K_i = m_i + L/(w_i - 1)
    lowers the total by d_i - L, d_i = (w_i - 1)(y_i - m_i), with L the Kokic-Bell constant
    of the sample (the first k of the sorted d's with d_(k) > sum_{j<=k} d_(j)/(k + 1) >= d_(k+1));
    checked against winsorise() on the first 20 samples and the first with the extreme firm."""
    rng = np.random.default_rng(2024)
    sizes = {"s1": (2000, 40), "s2": (500, 20), "s3": (50, 50)}  # (N_h, n_h); s3 take-all
    pop = pd.concat(
        [
            pd.DataFrame({"h": h, "y": rng.lognormal(4.5 + k, 0.8, N), "w": N / n})
            for k, (h, (N, n)) in enumerate(sizes.items())
        ],
        ignore_index=True,
    )
    extreme = pop.index[pop["h"] == "s1"][0]
    pop.loc[extreme, "y"] = 400 * pop.loc[pop["h"] == "s1", "y"].median()
    truth = pop["y"].sum()
    R = 800
    y_pop, w_pop = pop["y"].to_numpy(), pop["w"].to_numpy()
    take, d = [], []
    for h, (_, n) in sizes.items():  # every sample at once: (R, n_h) rows per stratum
        rows = np.flatnonzero(pop["h"].to_numpy() == h)
        rows = rows[np.argsort(rng.random((R, rows.size)), axis=1)[:, :n]]
        take.append(rows)
        y = y_pop[rows]
        d.append((w_pop[rows] - 1) * (y - y.mean(axis=1, keepdims=True)))
    take, d = np.hstack(take), np.hstack(d)
    ht = (w_pop[take] * y_pop[take]).sum(axis=1)
    ds = np.clip(-np.sort(-d, axis=1), 0.0, None)  # sorted, largest first; <= 0 as 0
    level = np.cumsum(ds, axis=1) / np.arange(2, ds.shape[1] + 2)
    following = np.hstack([ds[:, 1:], np.zeros((R, 1))])
    valid = (ds > level) & (level >= following)
    L = np.where(valid.any(axis=1), level[np.arange(R), valid.argmax(axis=1)], 0.0)
    reduction = np.clip(d - L[:, None], 0.0, None).sum(axis=1)
    hits = (take == extreme).any(axis=1)
    for r in [*range(20), int(hits.argmax())]:  # the closed form is winsorise's (and a hit)
        sample = pop.iloc[take[r]]
        result = winsorise(sample, "y", weights="w", strata="h")
        assert result.constant == pytest.approx(L[r], rel=1e-12)
        assert result.reduction == pytest.approx(reduction[r], rel=1e-9, abs=1e-6)
        winsorised = (sample["w"] * result.data["y_winsorised"]).sum()
        assert winsorised == pytest.approx(ht[r] - reduction[r], rel=1e-12)
    err_ht, err_w = ht - truth, ht - reduction - truth
    hit = int(hits.sum())
    mse_ht, mse_w = np.mean(np.square(err_ht)), np.mean(np.square(err_w))
    assert 5 <= hit <= 35  # the extreme firm is drawn in about 2% of samples
    assert abs(np.mean(err_ht)) < 0.1 * truth  # the expansion estimator is unbiased
    print(f"MSE ratio winsorised/expansion: {mse_w / mse_ht:.3f}")
    assert mse_w < 0.5 * mse_ht


def test_errors():
    df = pd.DataFrame({"w": [0.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(WeightError, match="row 0"):
        winsorise(df, "y", weights="w")
    with pytest.raises(ColumnError, match="not in the data"):
        winsorise(df, "z", weights="w")


def test_hidiroglou_berthelot_hand_computation():
    df = pd.DataFrame(
        {
            "firm_id": list("abcde"),
            "now": [100.0, 121.0, 90.0, 400.0, 1.0],
            "before": [100.0, 100.0, 100.0, 100.0, 0.0],
        }
    )
    out = hidiroglou_berthelot(df, "now", "before", u=0.5, a=0.05, c=1.0)
    # ratios 1, 1.21, 0.9, 4 (e: no previous value); median = (1 + 1.21) / 2 = 1.105
    med = 1.105
    s = np.array([1 - med / 1.0, 1.21 / med - 1, 1 - med / 0.9, 4 / med - 1])
    effect = s * np.sqrt([100.0, 121.0, 100.0, 400.0])
    np.testing.assert_allclose(out["effect"].to_numpy()[:4], effect)
    q1, em, q3 = np.quantile(effect, [0.25, 0.5, 0.75])
    lower = em - max(em - q1, abs(0.05 * em))
    upper = em + max(q3 - em, abs(0.05 * em))
    np.testing.assert_allclose(out["lower"].to_numpy()[:4], lower)
    np.testing.assert_allclose(out["upper"].to_numpy()[:4], upper)
    expected = (effect < lower) | (effect > upper)
    assert out["outlier"].tolist() == [*expected.tolist(), False]
    assert out["outlier"].tolist()[3] is True and np.isnan(out["ratio"].iloc[4])


def test_hidiroglou_berthelot_weighs_size_and_uses_groups():
    rng = np.random.default_rng(3)
    n = 400
    before = rng.lognormal(6, 1, n)
    now = before * rng.lognormal(0.05, 0.05, n)
    now[0] = before[0] * 3  # big jump of an ordinary firm
    before[1], now[1] = 0.5, 1.5  # same jump of a tiny firm: not worth a call
    df = pd.DataFrame({"firm_id": np.arange(n), "g": np.repeat(["x", "y"], n // 2), "now": now,
                       "before": before})  # fmt: skip
    out = hidiroglou_berthelot(df, "now", "before", by="g")
    assert out["outlier"].iloc[0] and not out["outlier"].iloc[1]
    assert out["outlier"].mean() < 0.02
    with pytest.raises(ColumnError):
        hidiroglou_berthelot(df, "now", "missing")


def test_winsorise_row_order_does_not_matter():
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"h": rng.choice(["a", "b"], 60), "w": rng.choice([3.0, 8.0], 60),
                       "y": rng.lognormal(3, 1.2, 60)})  # fmt: skip
    one = winsorise(df, "y", weights="w", strata="h")
    two = winsorise(df.sample(frac=1.0, random_state=2), "y", weights="w", strata="h")
    assert one.constant == pytest.approx(two.constant, rel=1e-12)
    np.testing.assert_allclose(
        one.data["y_winsorised"].sort_index(), two.data["y_winsorised"].sort_index(), rtol=1e-12
    )
