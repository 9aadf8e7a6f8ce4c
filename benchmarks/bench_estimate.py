"""Benchmark: domain totals with SEs on a 1,000,000-firm stratified sample.

Workload (issue 2): stratified SRSWOR sample of 1,000,000 firms in 2,000 strata (the
largest size class of each region-industry cell is take-all), two variables, totals
with SEs for the whole population and by 200 regions that cut across strata.
Prints our time, a plain-numpy ``np.bincount`` floor for the same numbers measured in
the same run, and the ratio.  Run: ``python benchmarks/bench_estimate.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import survey as sv


def workload(n: int = 1_000_000, n_strata: int = 2_000, n_regions: int = 200, seed: int = 1):
    rng = np.random.default_rng(seed)
    stratum = np.sort(rng.integers(0, n_strata, size=n))
    n_h = np.bincount(stratum, minlength=n_strata)
    take_all = np.arange(n_strata) % 5 == 4  # the largest size class: take-all
    N_h = np.where(take_all, n_h, n_h * rng.integers(2, 20, size=n_strata))
    region = rng.integers(0, n_regions, size=n)
    size = rng.lognormal(3.0, 1.0, size=n) * (1 + 10 * take_all[stratum])
    df = pd.DataFrame(
        {
            "stratum": stratum,
            "N_h": N_h[stratum],
            "w": (N_h / n_h)[stratum],
            "region": region,
            "gross_output": size * rng.lognormal(0.0, 0.3, size=n),
            "export_delivery": size * rng.binomial(1, 0.3, size=n) * rng.uniform(0, 0.8, size=n),
        }
    )
    return df


def numpy_floor(df: pd.DataFrame) -> np.ndarray:
    """Totals and SEs by region with bincount only (stratified SRSWOR formula)."""
    h = df["stratum"].to_numpy()
    d = df["region"].to_numpy()
    w = df["w"].to_numpy()
    N = df["N_h"].to_numpy()
    H, D = h.max() + 1, d.max() + 1
    n_h = np.bincount(h, minlength=H).astype(float)
    f = n_h / np.bincount(h, weights=N, minlength=H) * n_h
    c = (1 - f) * n_h / np.maximum(n_h - 1, 1)
    key = h * D + d
    out = []
    for col in ("gross_output", "export_delivery"):
        z = w * df[col].to_numpy()
        tot = np.bincount(d, weights=z, minlength=D)
        S = np.bincount(key, weights=z, minlength=H * D).reshape(H, D)
        Q = np.bincount(key, weights=z * z, minlength=H * D).reshape(H, D)
        var = (c[:, None] * (Q - S * S / n_h[:, None])).sum(axis=0)
        out.append((tot, np.sqrt(var)))
    return np.array(out)


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    df = workload()
    design = sv.Design(strata="stratum", weights="w", fpc="N_h")
    t_build, s = best_of(lambda: sv.Survey(df, design), repeat=1)
    t_floor, floor = best_of(lambda: numpy_floor(df))
    t_ours, est = best_of(lambda: s.total(["gross_output", "export_delivery"], by="region"))
    t_whole, _ = best_of(lambda: s.total(["gross_output", "export_delivery"]))
    ours = est.table()
    for j, col in enumerate(["gross_output", "export_delivery"]):
        rows = ours[ours.variable == col]
        np.testing.assert_allclose(rows.estimate.to_numpy(), floor[j, 0], rtol=1e-9)
        np.testing.assert_allclose(rows.se.to_numpy(), floor[j, 1], rtol=1e-7)
    print(f"rows: {len(df):,}; strata: 2,000; regions: 200; variables: 2")
    print(f"Survey() construction (checks + variance structure): {t_build:.3f} s")
    print(f"whole-population totals with SEs:                     {t_whole:.3f} s")
    print(f"totals with SEs by 200 regions (ours):                {t_ours:.3f} s")
    print(f"numpy bincount floor for the same numbers:            {t_floor:.3f} s")
    print(f"ratio ours / floor:                                   {t_ours / t_floor:.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
