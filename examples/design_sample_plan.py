"""Design the 2006 sample plan of the synthetic light-industry register, and draw it.

1. the register of 2006 (firms in business; money in thousand yuan);
2. take-all part: the firms above the designated size (规模以上, revenue of
   5 million yuan or more last year) report in full;
3. take-some part: county x industry x 3 size classes of last year's revenue
   (cumulative sqrt(f) boundaries);
4. Bethel-Chromy allocation for CV targets on revenue (proxy of gross
   output) and employees: whole sector, each county, each industry, each
   special zone; at least 2 firms per stratum; 90% anticipated response;
5. selection with permanent random numbers (PRNs derived from the firm ids),
   then the 2006 annual gross output and export delivery of the sampled
   firms are estimated with ``survey.Survey`` and compared with the truth;
6. the 2007 plan with the same PRN key keeps most of the 2006 panel, and a
   20% rotation moves exactly that share out.

Run: ``python examples/design_sample_plan.py [--output FOLDER]`` (writes the
plan and the sample as CSV and Excel when ``--output`` is given).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import survey as sv
from survey.datasets import load_quarterly, load_register
from survey.plan import design_plan, write_sample

TARGETS = {
    "revenue_prev_year": {"total": 0.01, "county": 0.10, "industry": 0.05, "zone": 0.05},
    "employees": {"total": 0.02, "county": 0.15},
}


def make_plan(year: int):
    register = load_register(year).query("status == 'active'")
    return design_plan(
        register, TARGETS,
        strata=["county", "industry"], size="revenue_prev_year", id="firm_id",
        take_all="above_size", size_strata=3, boundary_method="cum_sqrt_f",
        min_n=2, response_rate=0.9, prn_seed=2006,
    )


def main(output: Path | None = None) -> None:
    plan = make_plan(2006)
    print(plan.summary())

    sample = plan.select(seed=20061)
    print(f"\nselected {sample.n} firms (seed {sample.seed})")

    # what the sample would give for 2006, with every sampled firm responding
    annual = (load_quarterly(year=2006).groupby("firm_id", as_index=False)
              [["gross_output", "export_delivery"]].sum())
    data = sample.data.merge(annual, on="firm_id", how="left").fillna(
        {"gross_output": 0.0, "export_delivery": 0.0})
    est = sv.Survey(data, sample.design()).total(["gross_output", "export_delivery"])
    truth = plan.frame.data.merge(annual, on="firm_id", how="left")[
        ["gross_output", "export_delivery"]].sum()
    table = est.table()[["variable", "estimate", "se", "cv"]].assign(
        truth=truth.to_numpy())
    print("\n2006 totals (thousand yuan), firms in business:")
    print(table.round(3).to_string(index=False))

    # coordination: next year's plan keeps the panel; rotation replaces 20%
    plan07 = make_plan(2007)
    s07 = plan07.select(seed=20071)
    panel = set(sample.data.loc[sample.data["part"] == "sample", "firm_id"])
    still = panel & set(plan07.frame.data["firm_id"])
    kept = len(still & set(s07.data["firm_id"])) / max(len(still), 1)
    rotated = plan.select(seed=20061, rotation=0.2, period=1)
    take_some = sample.data[sample.data["part"] == "sample"]
    left = len(set(take_some["firm_id"]) - set(rotated.data["firm_id"])) / len(take_some)
    print(f"\n2006 sampled firms still on the 2007 register and sampled again: {kept:.0%}")
    print(f"share of the take-some sample replaced by a 20% rotation: {left:.0%}")

    if output is not None:
        plan.to_csv(output)
        plan.to_excel(output / "plan.xlsx")
        write_sample(sample, output)
        print(f"\nplan and sample written to {output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None)
    main(parser.parse_args().output)
