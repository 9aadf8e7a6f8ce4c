"""Benchmark: replicate-weight variance at scale (issue 5).

(a) Rao-Wu bootstrap with the fpc, 200 replicates, on a stratified sample of
    1,000,000 firms in 2,000 strata (a fifth of them take-all): SEs of the totals
    of two variables for the whole population and by 200 regions.
    Target: within 2x a plain-numpy floor measured in the same run (the same
    draws, from the same random streams, then per replicate the totals by
    ``np.bincount``), under 1 GB of memory above the data; a second estimate on
    the same replicate survey costs only its product with the kept draws.
(b) JKn (delete one firm within its stratum, 50,000 replicates) SE of a ratio
    for a 50,000-firm sample, whole and by region. Target: under 2 s.

Time is wall-clock (best of ``--repeat`` runs); peak memory is measured in a
separate run with ``tracemalloc`` (numpy reports its buffers to it), counted
above what was allocated before the call. Run:

    python benchmarks/bench_replicate.py [--firms 1000000] [--replicates 200] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import survey as sv
from survey.estimation.replicate import make_replicates

sys.path.insert(0, str(Path(__file__).parent))
from bench_estimate import workload  # noqa: E402  (the same 1,000,000-firm workload)

VARIABLES = ["gross_output", "export_delivery"]


def timed(fn, repeat: int):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def numpy_floor(df, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap SEs of the two totals, whole and by region, in plain numpy.

    The same Rao-Wu-Yue draws as ``make_replicates(..., "bootstrap", seed=seed)``
    (replicate r from ``SeedSequence(seed, spawn_key=(r,))``, m_h = n_h - 1 draws
    with replacement per stratum); each replicate's totals by ``np.bincount``.
    Needs the rows sorted by stratum (then row i is PSU i).
    """
    h = df["stratum"].to_numpy()
    assert np.all(np.diff(h) >= 0), "the floor needs rows sorted by stratum"
    region = df["region"].to_numpy()
    w = df["w"].to_numpy()
    n, H, D = h.shape[0], int(h.max()) + 1, int(region.max()) + 1
    n_h = np.bincount(h, minlength=H).astype(float)
    first = np.concatenate([[0], np.cumsum(n_h)[:-1]]).astype(np.int64)
    N_h = np.bincount(h, weights=df["N_h"].to_numpy(), minlength=H) / n_h
    f = n_h / N_h
    active = (f < 1 - 1e-12) & (n_h >= 2)
    lam = np.where(active, np.sqrt(np.clip(1 - f, 0, 1)), 0.0)
    mult = np.where(active, lam * n_h / np.maximum(n_h - 1, 1), 0.0)
    m_h = np.where(active, n_h - 1, 0).astype(np.int64)
    start = np.repeat(first, m_h)
    size = np.repeat(n_h, m_h) * (1.0 - 2.0**-52)
    base, mult_row = (1.0 - lam)[h], mult[h]
    z = [w * df[v].to_numpy() for v in VARIABLES]
    whole = np.empty((replicates, len(z)))
    by = np.empty((replicates, D, len(z)))
    for r in range(replicates):
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(r,))))
        idx = (g.random(start.shape[0]) * size).astype(np.int64) + start
        factor = base + mult_row * np.bincount(idx, minlength=n)
        for j, zj in enumerate(z):
            fz = factor * zj
            whole[r, j] = fz.sum()
            by[r, :, j] = np.bincount(region, weights=fz, minlength=D)
    return np.sqrt(whole.var(axis=0, ddof=1)), np.sqrt(by.var(axis=0, ddof=1))


def peak_mb(fn) -> float:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=1_000_000)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--jkn-firms", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    df = workload(args.firms)
    s = sv.Survey(df, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}")
    print(f"(a) bootstrap: {len(df):,} firms, 2,000 strata, 200 regions, {args.replicates} replicates")

    def run_a():
        b = s.with_replicates(make_replicates(s, "bootstrap", replicates=args.replicates, seed=2024))
        whole = b.total(VARIABLES)
        by = b.total(VARIABLES, by="region")
        return whole, by

    t_floor, (floor_w, floor_b) = timed(lambda: numpy_floor(df, args.replicates, 2024), args.repeat)
    cpu0 = time.process_time()
    t_a, (whole, by) = timed(run_a, args.repeat)
    cpu_a = (time.process_time() - cpu0) / args.repeat
    b = s.with_replicates(make_replicates(s, "bootstrap", replicates=args.replicates, seed=2024))
    t_first, _ = timed(lambda: b.total(VARIABLES), 1)
    t_second, _ = timed(lambda: b.total(VARIABLES, by="region"), 1)
    t_again, _ = timed(lambda: b.mean(VARIABLES), 1)
    mem_a = peak_mb(run_a)
    np.testing.assert_allclose(whole.se, floor_w, rtol=1e-9)
    np.testing.assert_allclose(by.se, floor_b.ravel(), rtol=1e-9)
    lin_w = s.total(VARIABLES)
    lin_b = s.total(VARIABLES, by="region")
    ratio_w = whole.se / lin_w.se
    ratio_b = by.se / lin_b.se
    print(f"    time (make replicates + whole + by region): {t_a:.2f} s wall, {cpu_a:.2f} s CPU")
    print(f"    numpy floor (same draws, bincount totals):  {t_floor:.2f} s wall; "
          f"ratio {t_a / t_floor:.2f}x  (target <= 2x); SEs equal to the floor's")
    print(f"    on one replicate survey: first estimate {t_first:.2f} s (draws the replicates once), "
          f"then by region {t_second:.2f} s, means {t_again:.2f} s")
    print(f"    peak memory above the data:                 {mem_a:.0f} MB  (target < 1024 MB)")
    print(f"    bootstrap SE / linearised SE, whole:        {np.round(ratio_w, 3).tolist()}")
    print(f"    same by region: mean {ratio_b.mean():.3f}, sd {ratio_b.std():.3f} "
          f"(sd expected ~ 1/sqrt(2R) = {1 / np.sqrt(2 * args.replicates):.3f})")

    # (b) JKn ratio on a 50,000-firm stratified subsample (keeps the strata, fpc from N_h)
    rng = np.random.default_rng(5)
    sub = df.iloc[np.sort(rng.choice(len(df), args.jkn_firms, replace=False))].copy()
    n_h = sub.groupby("stratum")["stratum"].transform("size")
    sub = sub[n_h >= 2].copy()
    n_h = sub.groupby("stratum")["stratum"].transform("size").to_numpy()
    sub["w"] = sub["N_h"].to_numpy() / n_h
    s2 = sv.Survey(sub, sv.Design(strata="stratum", weights="w", fpc="N_h"))

    def run_b():
        j = s2.with_replicates(make_replicates(s2, "jkn"))
        return j.ratio("export_delivery", "gross_output"), j.ratio("export_delivery", "gross_output", by="region")

    t_b, (rw, rb) = timed(run_b, args.repeat)
    mem_b = peak_mb(run_b)
    lw = s2.ratio("export_delivery", "gross_output")
    lb = s2.ratio("export_delivery", "gross_output", by="region")
    print(f"(b) JKn ratio: {len(sub):,} firms ({len(sub):,} replicates), whole + by 200 regions")
    print(f"    time: {t_b:.3f} s  (target < 2 s); peak memory {mem_b:.0f} MB")
    print(f"    JKn SE / linearised SE, whole: {float(rw.se[0] / lw.se[0]):.5f}; "
          f"by region: median {np.median(rb.se / lb.se):.3f} (ratios are not linear: JKn and "
          "linearisation differ in small domains; the JKn path equals brute force in the tests)")
    print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
