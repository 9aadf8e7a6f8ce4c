"""Benchmark: raking and linear calibration of a 1,000,000-firm sample.

Workload (issue 4): the 1,000,000-firm stratified sample of ``bench_estimate.py``
(2,000 strata), with size class = stratum mod 5. Targets: firm counts by 200
regions and by 5 size classes (both shaken by up to 5% so the weights must move),
plus, for linear calibration, one numeric total (last year's revenue).

Prints the time of ``survey.estimation.weighting.rake`` and ``survey.estimation.weighting.calibrate``
(linear, 205 margin constraints + 1 numeric) against a plain-numpy IPF floor
(``np.bincount`` + fancy-index multiply, same margins, same stopping rule)
measured in the same run, and the ratio (target: within 3x the floor).

Then the production order (issue 17): totals of two variables with SEs by the 200
regions after raking ("raked then by 200 regions") and after linear calibration
("calibrated then by 200 regions"), against the same call on the unweighted
survey in the same run (target: within 3x), plus the same without domains.
Run: ``python benchmarks/bench_calibrate.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_estimate import best_of, workload  # noqa: E402

import survey as sv  # noqa: E402
from survey.estimation.weighting import calibrate, rake  # noqa: E402


def targets(df, seed: int = 7):
    rng = np.random.default_rng(seed)
    w = df["w"].to_numpy()
    region = df["region"].to_numpy()
    size = df["size_class"].to_numpy()
    N = w.sum()
    r = np.bincount(region, weights=w) * rng.uniform(0.95, 1.05, region.max() + 1)
    c = np.bincount(size, weights=w) * rng.uniform(0.95, 1.05, size.max() + 1)
    r *= N / r.sum()
    c *= N / c.sum()
    revenue = float((w * df["revenue_last_year"].to_numpy()).sum() * 1.02)
    return dict(enumerate(r)), dict(enumerate(c)), revenue


def numpy_ipf_floor(codes, counts, w, tol=1e-10, max_iter=100):
    """Plain IPF: per margin one bincount and one multiply, stop on margin error."""
    w = w.copy()
    for _ in range(max_iter):
        for c, t in zip(codes, counts):
            w *= (t / np.bincount(c, weights=w, minlength=t.size))[c]
        err = max(np.abs(np.bincount(c, weights=w, minlength=t.size) - t).max() / t.max()
                  for c, t in zip(codes, counts))
        if err < tol:
            break
    return w


def main() -> None:
    df = workload()
    rng = np.random.default_rng(3)
    df["size_class"] = df["stratum"] % 5
    df["revenue_last_year"] = df["gross_output"] * rng.lognormal(0.0, 0.2, len(df))
    s = sv.Survey(df, sv.Design(strata="stratum", weights="w", fpc="N_h"))
    by_region, by_size, revenue = targets(df)
    margins = {"region": by_region, "size_class": by_size}

    codes = [df["region"].to_numpy(), df["size_class"].to_numpy()]
    counts = [np.array(list(by_region.values())), np.array(list(by_size.values()))]
    w0 = df["w"].to_numpy()
    t_floor, w_floor = best_of(lambda: numpy_ipf_floor(codes, counts, w0), repeat=5)
    t_rake, raked = best_of(lambda: rake(s, margins), repeat=5)
    t_lin, cal = best_of(lambda: calibrate(s, {**margins, "revenue_last_year": revenue}), repeat=5)

    V = ["gross_output", "export_delivery"]
    t_plain, _ = best_of(lambda: s.total(V, by="region"), repeat=5)
    t_raked_by, e_raked = best_of(lambda: raked.total(V, by="region"), repeat=5)
    t_cal_by, e_cal = best_of(lambda: cal.total(V, by="region"), repeat=5)
    t_plain_w, _ = best_of(lambda: s.total(V), repeat=5)
    t_raked_w, _ = best_of(lambda: raked.total(V), repeat=5)
    t_cal_w, _ = best_of(lambda: cal.total(V), repeat=5)
    assert np.all(np.isfinite(e_raked.se)) and np.all(np.isfinite(e_cal.se))

    diff = np.abs(raked.weights - w_floor).max() / w_floor.max()
    rep = cal.weighting[-1].report
    print(f"n = {len(df):,} firms, margins: 200 regions x 5 size classes (+1 numeric total)")
    print(f"numpy IPF floor          {t_floor:8.3f} s")
    print(f"rake (IPF)               {t_rake:8.3f} s   {t_rake / t_floor:5.2f} x floor, "
          f"max weight difference vs floor {diff:.1e}")
    print(f"calibrate (linear, 206)  {t_lin:8.3f} s   {t_lin / t_floor:5.2f} x floor, "
          f"max rel error {rep.table['rel_error'].max():.1e}, g in "
          f"[{rep.ratio_min:.3f}, {rep.ratio_max:.3f}]")
    print(f"domain estimates after weighting (2 variables; cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}):")
    print(f"total(by='region'), unweighted survey   {t_plain:8.3f} s")
    print(f"raked then by 200 regions               {t_raked_by:8.3f} s   {t_raked_by / t_plain:5.2f} x "
          "the unweighted call (target <= 3x)")
    print(f"calibrated then by 200 regions          {t_cal_by:8.3f} s   {t_cal_by / t_plain:5.2f} x "
          "the unweighted call (target <= 3x)")
    print(f"total(), unweighted survey              {t_plain_w:8.3f} s")
    print(f"raked then whole population             {t_raked_w:8.3f} s   {t_raked_w / t_plain_w:5.2f} x")
    print(f"calibrated then whole population        {t_cal_w:8.3f} s   {t_cal_w / t_plain_w:5.2f} x")


if __name__ == "__main__":
    main()
