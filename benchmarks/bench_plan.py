"""Benchmarks of the sample-plan module (issue 6).

Run from the repository root::

    python benchmarks/bench_plan.py            # both benchmarks
    python benchmarks/bench_plan.py --units 10000000

1. PRN selection (sequential SRS, stratified) from a 10,000,000-firm frame:
   target under 5 s.
2. Bethel-Chromy allocation for 2,000 strata, 2 variables and 3 domain types
   with 400 domains in all (plus the two population totals): target under 2 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from survey.plan import allocate_multivariate, permanent_random_numbers, select


def make_frame(units: int, strata: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, strata, units)
    return pd.DataFrame({
        "firm_id": np.arange(units, dtype=np.int64),
        "stratum": stratum,
        "prn": rng.random(units),
    })


def bench_selection(units: int, strata: int = 2000) -> float:
    frame = make_frame(units, strata)
    n_h = np.bincount(frame["stratum"].to_numpy(), minlength=strata) // 20 + 2
    t0 = time.perf_counter()
    sel = select(frame, n_h, strata="stratum", prn="prn", seed=1, rotation=0.2, period=1)
    elapsed = time.perf_counter() - t0
    print(f"PRN selection: {units:,} units, {strata:,} strata, sample {sel.n:,}: {elapsed:.2f} s "
          f"(target < 5 s)")
    ids = pd.Series(np.char.add("9145", frame["firm_id"].to_numpy().astype(str)))
    t0 = time.perf_counter()
    permanent_random_numbers(ids, seed=2006)
    print(f"  (PRNs hashed from {units:,} string ids, done once per register: "
          f"{time.perf_counter() - t0:.2f} s)")
    return elapsed


def make_register(strata: int = 2000, per_stratum: int = 50, seed: int = 2) -> pd.DataFrame:
    """County (250) x industry (140) x size strata; zones (10) cut across strata."""
    rng = np.random.default_rng(seed)
    h = np.repeat(np.arange(strata), per_stratum)
    county = h % 250
    industry = (h // 250 * 17 + h) % 140
    size_class = h % 4
    zone = np.where(rng.random(h.size) < 0.3, rng.integers(0, 10, h.size), -1)
    zone = pd.Series(np.where(zone >= 0, np.char.add("Z", zone.astype(str)), None))  # None: no zone
    scale = 50.0 * 3.0 ** size_class
    output = rng.gamma(1.5, scale)
    export = output * rng.beta(0.5, 3.0, h.size)
    return pd.DataFrame({"stratum": h, "county": county, "industry": industry,
                         "zone": zone, "gross_output": output, "export_delivery": export})


def bench_bethel(strata: int = 2000) -> float:
    df = make_register(strata)
    targets = {
        "gross_output": {"total": 0.01, "county": 0.10, "industry": 0.10, "zone": 0.08},
        "export_delivery": {"total": 0.02, "county": 0.20, "industry": 0.20, "zone": 0.15},
    }
    t0 = time.perf_counter()
    alloc = allocate_multivariate(df, targets, strata="stratum", response_rate=0.85)
    elapsed = time.perf_counter() - t0
    cv = alloc.expected_cv()
    domains = cv.loc[cv["domain_type"] != "total", ["domain_type", "domain"]].drop_duplicates()
    print(f"Bethel allocation: {strata:,} strata, 2 variables, {len(domains)} domains "
          f"({len(cv)} constraints), n = {alloc.n_total:,} (continuous "
          f"{alloc.n_continuous.sum():,.1f}), all targets met: {bool(cv['met'].all())}: "
          f"{elapsed:.2f} s (target < 2 s)")
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--strata", type=int, default=2000)
    args = parser.parse_args()
    bench_bethel(args.strata)
    bench_selection(args.units, args.strata)
