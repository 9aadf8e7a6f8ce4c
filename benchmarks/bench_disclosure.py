"""Benchmark: disclosure control of a large two-way table (issue 13, speed under awkward input).

Workload (the tables of ``tests/test_bad_input.py``): a 60 x 40 table of one magnitude
variable, (a) 3,000 firms spread at random over the 2,400 cells, (b) 1,000 cells with a
single firm among 3,000 firms. :func:`survey.publish.disclosure.protect_table` with the
default rules (primary suppression, secondary suppression with HiGHS hot-started from the
previous basis, and the audit: the outsider's two LPs for every suppressed cell plus the
singleton attacker's check of every primary cell).

Before issue 13: (a) about 70 s on an idle machine (17,654 LPs), (b) 66 s.
Target: seconds. Prints time, number of LPs, suppressed cells and the audit verdict.

Run: ``python benchmarks/bench_disclosure.py [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from survey.publish.disclosure import protect_table


def table(kind: str, seed: int = 1) -> pd.DataFrame:
    """The benchmark table: ``"3000 firms"`` or ``"1000 one-firm cells"``."""
    rng = np.random.default_rng(seed)
    if kind == "3000 firms":
        r, c = rng.integers(0, 60, 3000), rng.integers(0, 40, 3000)
    else:
        cells = rng.choice(2400, 1000, replace=False)
        rest = rng.choice(np.setdiff1d(np.arange(2400), cells), 2000)
        both = np.concatenate([cells, rest])
        r, c = both // 40, both % 40
    return pd.DataFrame({"row": [f"r{i:02d}" for i in r], "col": [f"c{j:02d}" for j in c],
                         "v": rng.lognormal(5, 1, r.size)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    for kind in ("3000 firms", "1000 one-firm cells"):
        df = table(kind)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            pt = protect_table(df, "v", rows="row", columns="col")
            times.append(time.perf_counter() - start)
        print(f"60 x 40, {kind:<20} best {min(times):6.2f} s  LPs {pt.linear_programs:,}  "
              f"suppressed {int(pt.suppressed.sum()):,}  audit protected: "
              f"{bool(pt.audit['protected'].all())}")


if __name__ == "__main__":
    main()
