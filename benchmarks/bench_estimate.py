"""Benchmark: domain totals with SEs on a 1,000,000-firm stratified sample.

Workload (issue 2): stratified SRSWOR sample of 1,000,000 firms in 2,000 strata (the
largest size class of each region-industry cell is take-all), two variables, totals
with SEs for the whole population and by 200 regions that cut across strata.
Prints our times, plain-numpy ``np.bincount`` floors for the same numbers measured in
the same run, and the ratios:

* totals + SEs by 200 regions (target <= 3x the floor);
* whole-population totals + SEs (target <= 2.5x its floor);
* what a user waits for: ``Survey(df, design)`` + ``total(..., by="region")`` +
  ``.table()`` (target <= 3x the by-region floor).

``--scale`` runs build + domain totals at 1M, 10M and 30M rows, each in a fresh
process, and prints time and peak memory (``resource.getrusage``; the peak is
reset after the data are made, so it counts the data plus what the toolkit
allocates) against the size of the columns used (target: peak <= 2x).

Run: ``python benchmarks/bench_estimate.py [--scale [--sizes 1e6,1e7,3e7]]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

import survey as sv

VARIABLES = ["gross_output", "export_delivery"]


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


def _coefficients(df: pd.DataFrame):
    h = df["stratum"].to_numpy()
    n_h = np.bincount(h).astype(float)
    f = n_h / np.bincount(h, weights=df["N_h"].to_numpy()) * n_h
    c = (1 - f) * n_h / np.maximum(n_h - 1, 1)
    return h, n_h, c


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
    for col in VARIABLES:
        z = w * df[col].to_numpy()
        tot = np.bincount(d, weights=z, minlength=D)
        S = np.bincount(key, weights=z, minlength=H * D).reshape(H, D)
        Q = np.bincount(key, weights=z * z, minlength=H * D).reshape(H, D)
        var = (c[:, None] * (Q - S * S / n_h[:, None])).sum(axis=0)
        out.append((tot, np.sqrt(var)))
    return np.array(out)


def numpy_floor_whole(df: pd.DataFrame) -> np.ndarray:
    """Whole-population totals and SEs with plain sums and one bincount per stratum sum."""
    h = df["stratum"].to_numpy()
    w = df["w"].to_numpy()
    N = df["N_h"].to_numpy()
    H = h.max() + 1
    n_h = np.bincount(h, minlength=H).astype(float)
    f = n_h / np.bincount(h, weights=N, minlength=H) * n_h
    c = (1 - f) * n_h / np.maximum(n_h - 1, 1)
    out = []
    for col in VARIABLES:
        z = w * df[col].to_numpy()
        S = np.bincount(h, weights=z, minlength=H)
        Q = np.bincount(h, weights=z * z, minlength=H)
        out.append((z.sum(), np.sqrt((c * (Q - S * S / n_h)).sum())))
    return np.array(out)


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(repeat: int = 5) -> None:
    df = workload()
    design = sv.Design(strata="stratum", weights="w", fpc="N_h")
    load = os.getloadavg()[0]
    t_build, s = best_of(lambda: sv.Survey(df, design), repeat=repeat)
    t_floor, floor = best_of(lambda: numpy_floor(df), repeat=repeat)
    t_ours, est = best_of(lambda: s.total(VARIABLES, by="region"), repeat=repeat)
    t_floor_w, floor_w = best_of(lambda: numpy_floor_whole(df), repeat=repeat)
    t_whole, whole = best_of(lambda: s.total(VARIABLES), repeat=repeat)
    t_user, table = best_of(lambda: sv.Survey(df, design).total(VARIABLES, by="region").table(), repeat=repeat)
    ours = est.table()
    for j, col in enumerate(VARIABLES):
        rows = ours[ours.variable == col]
        np.testing.assert_allclose(rows.estimate.to_numpy(), floor[j, 0], rtol=1e-9)
        np.testing.assert_allclose(rows.se.to_numpy(), floor[j, 1], rtol=1e-7)
        np.testing.assert_allclose(whole.estimate[j], floor_w[j, 0], rtol=1e-12)
        np.testing.assert_allclose(whole.se[j], floor_w[j, 1], rtol=1e-9)
    assert len(table) == 400
    print(f"rows: {len(df):,}; strata: 2,000; regions: 200; variables: 2; "
          f"cores: {os.cpu_count()}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"Survey() construction (checks + variance structure): {t_build:.3f} s")
    print(f"totals with SEs by 200 regions (ours):                {t_ours:.3f} s")
    print(f"numpy bincount floor for the same numbers:            {t_floor:.3f} s")
    print(f"ratio ours / floor:                                   {t_ours / t_floor:.2f}x  (target <= 3x)")
    print(f"whole-population totals with SEs (ours):              {t_whole:.3f} s")
    print(f"numpy floor for the whole population:                 {t_floor_w:.3f} s")
    print(f"ratio ours / floor:                                   {t_whole / t_floor_w:.2f}x  (target <= 2.5x)")
    print(f"Survey() + total(by='region') + table():              {t_user:.3f} s")
    print(f"ratio to the by-region floor:                         {t_user / t_floor:.2f}x  (target <= 3x)")


# ---------------------------------------------------------------------------
# --scale: time and peak memory at 1M, 10M, 30M rows, one fresh process per size
# ---------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_size(n: int) -> None:
    """Build + domain totals at ``n`` rows; prints one line of measurements (child process)."""
    # libraries loaded and initialised (BLAS buffers, pandas' first-use caches) on a tiny run
    sv.Survey(workload(20_000, n_strata=200), sv.Design(strata="stratum", weights="w", fpc="N_h")).total(
        VARIABLES, by="region"
    ).table()
    base = _rss_mb()  # interpreter and libraries
    df = workload(n)
    columns = sum(df[c].to_numpy().nbytes for c in ["stratum", "N_h", "w", "region", *VARIABLES]) / 2**20
    try:  # hand the generator's freed temporaries back to the system before measuring
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:  # reset the peak: count the data plus what the toolkit allocates from here on
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        reset = False
    with_data = _rss_mb()
    t0 = time.perf_counter()
    s = sv.Survey(df, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    t_build = time.perf_counter() - t0
    est = s.total(VARIABLES, by="region")
    est.table()
    t_all = time.perf_counter() - t0
    peak = _peak_mb()
    print(
        f"{n:>11,} rows  build {t_build:6.2f} s  build+totals {t_all:6.2f} s  columns {columns:7.0f} MB  "
        f"peak {peak - base:7.0f} MB = {(peak - base) / columns:.2f}x the columns "
        f"(toolkit {peak - with_data:6.0f} MB = {(peak - with_data) / columns:.2f}x)"
        + ("" if reset else "  [peak not reset: includes making the data]"),
        flush=True,
    )


def scale(sizes: list[int]) -> None:
    print(f"build + totals by 200 regions, one fresh process per size; cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("peak = highest resident memory above the interpreter and libraries (data included), "
          "from resource.getrusage; target <= 2x the columns used")
    for n in sizes:
        subprocess.run([sys.executable, __file__, "--one", str(n)], check=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--sizes", default="1e6,1e7,3e7")
    ap.add_argument("--one", type=float, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.one is not None:
        one_size(int(args.one))
    elif args.scale:
        scale([int(float(x)) for x in args.sizes.split(",")])
    else:
        main(args.repeat)
