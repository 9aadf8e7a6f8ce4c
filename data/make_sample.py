"""Write ``survey/datasets/data/sample_2006Q4.csv``: a bundled stratified sample with true 2006Q4 values.

The sample for ``survey estimate`` in the README's first steps, before the full
cycle (``survey demo``): the 2006 plan of ``examples/design_sample_plan.py``
(take-all above the designated size; county x industry x size strata below it;
Bethel allocation), selected with permanent random numbers, seed 20061, every
sampled firm responding with its true 2006Q4 values (thousand yuan).

Columns: firm_id, city, county, industry, industry_name, zone, part
("take_all" / "sample"), stratum, N_h (stratum population size = fpc),
weight (design weight), gross_output, export_delivery, sales_output, revenue,
profit_tax, employees.

Run: ``python data/make_sample.py`` (deterministic).
"""

from __future__ import annotations

from pathlib import Path

from survey.datasets import load_quarterly, load_register
from survey.plan import design_plan

SEED = 20061
TARGETS = {
    "revenue_prev_year": {"total": 0.01, "county": 0.10, "industry": 0.05, "zone": 0.05},
    "employees": {"total": 0.02, "county": 0.15},
}
VALUES = ["gross_output", "export_delivery", "sales_output", "revenue", "profit_tax", "employees"]


def main() -> Path:
    register = load_register(2006).query("status == 'active'")
    plan = design_plan(
        register, TARGETS, strata=["county", "industry"], size="revenue_prev_year", id="firm_id",
        take_all="above_size", size_strata=3, boundary_method="cum_sqrt_f", min_n=2,
        response_rate=1.0, prn_seed=2006,
    )
    selection = plan.select(seed=SEED)
    truth = load_quarterly(year=2006).query("period == '2006Q4'")[["firm_id", *VALUES]]
    data = selection.data.drop(columns=[c for c in VALUES if c in selection.data.columns])
    data = data.merge(truth, on="firm_id", how="left")
    design = selection.design()
    data = data.rename(columns={design.weights: "weight", design.fpc[0]: "N_h"})
    if design.strata != "stratum":
        data = data.rename(columns={design.strata: "stratum"})
    data[VALUES] = data[VALUES].fillna(0.0)
    cols = ["firm_id", "city", "county", "industry", "industry_name", "zone", "part", "stratum",
            "N_h", "weight", *VALUES]
    out = Path(__file__).resolve().parent.parent / "survey" / "datasets" / "data" / "sample_2006Q4.csv"
    data[cols].to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out} ({len(data)} firms, seed {SEED})")
    return out


if __name__ == "__main__":
    main()
