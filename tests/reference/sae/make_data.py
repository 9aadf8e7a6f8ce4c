"""Write the data sets of the Fay-Herriot reference checks (run from the repository root).

    python tests/reference/sae/make_data.py      # deterministic; then Rscript sae.R

* ``fh_synthetic.csv``: 50 areas drawn from the Fay-Herriot model itself (seed 1979):
  two numeric auxiliaries ``x1``, ``x2``, a three-level factor ``g``; sampling
  variances ``psi`` between 0.5 and 4; ``sigma2_v = 1.5``. Columns: ``area, g, x1, x2,
  gB, gC`` (dummies of ``g``, level A the reference), ``psi, theta`` (the true
  area value), ``y`` (direct estimate).
* ``fh_boundary.csv``: 30 areas with no area effect (``sigma2_v = 0``), the first
  seed from 1 on whose REML estimate of sigma2_v is negative (it is truncated at 0).
  Columns: ``area, x1, psi, y``; the seed used is in ``fh_boundary_seed.txt``.
* ``county.csv``: one row per county (64) of the bundled synthetic population:
  active firms below the designated size in 2006. A stratified simple random
  sample of about 800 firms (strata: city x tertile of last year's revenue within
  the city, proportional allocation, at least 2 per stratum, seed 2006) gives the
  direct (Horvitz-Thompson) estimate of each county's 2006Q4 main-business revenue
  total and its design variance (``survey.Survey(...).total("revenue",
  by="county")``, a domain estimate in the whole design). Columns: ``city,
  county, n`` (sampled firms), ``firms`` (register count), ``revenue_prev``
  (register total of 2005 revenue), ``direct, var_direct, var_gvf`` (the design
  variances smoothed by ``smooth_variances(..., method="gvf", replace="all")``),
  ``truth`` (the true county total). Thousand yuan.
* ``city.csv``: the direct estimates of the city totals (the benchmarks), with
  ``se`` and ``truth``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import survey as sv
from survey.datasets import load_quarterly, load_register
from survey.estimation.sae import fay_herriot, smooth_variances
from survey.simulate import stratified_srswor

HERE = Path(__file__).parent


def synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(1979)
    m = 50
    g = rng.choice(["A", "B", "C"], m)
    x1 = rng.uniform(0, 10, m)
    x2 = rng.lognormal(1.0, 0.5, m)
    psi = rng.uniform(0.5, 4.0, m)
    gB, gC = (g == "B").astype(float), (g == "C").astype(float)
    theta = 2.0 + 0.8 * x1 - 0.5 * x2 + 1.0 * gB - 1.0 * gC + rng.normal(0, np.sqrt(1.5), m)
    y = theta + rng.normal(0, np.sqrt(psi))
    return pd.DataFrame({"area": np.arange(1, m + 1), "g": g, "x1": x1, "x2": x2, "gB": gB, "gC": gC,
                         "psi": psi, "theta": theta, "y": y})


def boundary() -> tuple[pd.DataFrame, int]:
    for seed in range(1, 1000):
        rng = np.random.default_rng(seed)
        m = 30
        x1 = rng.uniform(0, 10, m)
        psi = rng.uniform(1.0, 3.0, m)
        y = 1.0 + 0.5 * x1 + rng.normal(0, np.sqrt(psi))
        fit = fay_herriot(y, psi, x1, method="REML")
        if fit.sigma2_v_raw < 0:
            return pd.DataFrame({"area": np.arange(1, m + 1), "x1": x1, "psi": psi, "y": y}), seed
    raise RuntimeError("no seed gives a negative REML estimate")  # pragma: no cover


def county() -> tuple[pd.DataFrame, pd.DataFrame]:
    reg = load_register(2006)
    pop = reg[(reg.status == "active") & (~reg.above_size)].copy()
    truth = load_quarterly("2006Q4")[["firm_id", "revenue"]]
    pop = pop.merge(truth, on="firm_id", how="left", validate="one_to_one")
    pop["size_class"] = pop.groupby("city")["revenue_prev_year"].transform(lambda s: pd.qcut(s, 3, labels=False))
    pop["stratum"] = pop["city"] + "/" + pop["size_class"].astype(str)
    N = pop.groupby("stratum").size()
    n = np.maximum(2, np.round(N * 800 / len(pop)).astype(int))
    sample = stratified_srswor("stratum", n)(pop, np.random.default_rng(2006))
    s = sv.Survey(sample, sv.Design(strata="stratum", weights="weight", fpc="N_h"))
    by_county = s.total("revenue", by="county").table()
    by_city = s.total("revenue", by="city").table()
    c = (
        pop.groupby(["city", "county"])
        .agg(firms=("firm_id", "size"), revenue_prev=("revenue_prev_year", "sum"), truth=("revenue", "sum"))
        .reset_index()
    )
    c = c.merge(sample.groupby("county").size().rename("n").reset_index(), on="county", how="left")
    c = c.merge(by_county[["county", "estimate", "se"]], on="county", how="left")
    if c["n"].isna().any():  # pragma: no cover - the seed gives every county a sample
        raise RuntimeError("a county has no sampled firm")
    c["n"] = c["n"].astype(int)
    c = c.rename(columns={"estimate": "direct"})
    c["var_direct"] = c.pop("se") ** 2
    c["var_gvf"] = smooth_variances("direct", "var_direct", "n", data=c, method="gvf", replace="all").variance
    c = c[["city", "county", "n", "firms", "revenue_prev", "direct", "var_direct", "var_gvf", "truth"]]
    city = by_city[["city", "estimate", "se"]].rename(columns={"estimate": "direct"})
    city = city.merge(pop.groupby("city")["revenue"].sum().rename("truth").reset_index(), on="city")
    return c, city


def main() -> None:
    synthetic().to_csv(HERE / "fh_synthetic.csv", index=False, float_format="%.17g")
    b, seed = boundary()
    b.to_csv(HERE / "fh_boundary.csv", index=False, float_format="%.17g")
    (HERE / "fh_boundary_seed.txt").write_text(f"{seed}\n")
    c, city = county()
    c.to_csv(HERE / "county.csv", index=False, float_format="%.17g")
    city.to_csv(HERE / "city.csv", index=False, float_format="%.17g")
    print(f"wrote {HERE}: fh_synthetic.csv, fh_boundary.csv (seed {seed}), county.csv, city.csv")


if __name__ == "__main__":
    main()
