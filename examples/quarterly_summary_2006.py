"""The 2006 quarterly summary of the synthetic light-industry sector.

The full quarterly cycle on the bundled synthetic population:

1. plan: full reporting above the designated size (and for new firms with 100
   or more employees); below it a stratified random sample of 1,500 firms
   (size classes of last year's revenue, new firms apart; Neyman allocation);
2. returns: simulated year-to-date returns for every quarter of 2006, with
   unit and item nonresponse;
3. imputation of missing returns (ratio of means, survey.returns.impute), then
   quarter values from the cumulative returns;
4. the combined estimate each quarter: take-all part + weighted sample part,
   by city, by channel and by special zone, with growth on a comparable basis;
5. the quarterly series, and the year 2006 (fourth-quarter year-to-date)
   against the truth and the figures of the 2007 report.

Run: ``python examples/quarterly_summary_2006.py`` (add ``--plot out.png``
to draw the series and the growth chart). Money in thousand yuan; printed in
100 million yuan (亿元).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import survey as sv
from survey.datasets import (
    load_quarterly,
    load_register,
    published_figures,
    simulate_returns,
)
from survey.estimation.combined import combined_total
from survey.periods import quarterly_from_ytd
from survey.quarterly.series import quarterly_series
from survey.returns.impute import ratio_of_means

VARIABLES = ["gross_output", "export_delivery"]
YI = 1e5  # thousand yuan per 亿元 (100 million yuan)
SEED = 2006


def plan(register: pd.DataFrame, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Take-all firms, and a stratified SRS of the others (with weight and fpc)."""
    reg = register.reset_index(drop=True)
    new = reg["revenue_prev_year"].isna()
    take_all = reg["above_size"] | (new & (reg["employees"] >= 100))
    small = reg[~take_all].reset_index(drop=True)
    size = pd.qcut(small["revenue_prev_year"].rank(method="first"), 6, labels=False).to_numpy()
    small["stratum"] = np.where(np.isnan(size), 6, size).astype(int)  # 6 = new firms
    N_h = small.groupby("stratum").size()
    S_h = small.groupby("stratum")["employees"].std()  # size signal known for every firm
    n_h = np.clip(np.round(n * N_h * S_h / (N_h * S_h).sum()).astype(int), 2, N_h)
    keys = rng.random(len(small))
    rank = small.assign(key=keys).groupby("stratum")["key"].rank(method="first")
    sample = small[rank.to_numpy() <= n_h.reindex(small["stratum"]).to_numpy()].copy()
    sample["N_h"] = N_h.reindex(sample["stratum"]).to_numpy()
    sample["w"] = sample["N_h"] / n_h.reindex(sample["stratum"]).to_numpy()
    return reg[take_all].reset_index(drop=True), sample.reset_index(drop=True)


def collect(firms: pd.DataFrame, periods: list[str], seed: int, *, classes: str) -> pd.DataFrame:
    """Simulated returns of ``firms`` for ``periods``, imputed, with quarter values."""
    sims = [
        simulate_returns(firms["firm_id"], p, seed=seed + k, unit_nonresponse=0.08, item_nonresponse=0.02,
                         error_rate=0.0).returns
        for k, p in enumerate(periods)
    ]
    panel = pd.concat(sims, ignore_index=True).merge(firms, on="firm_id", how="left")
    panel["size"] = panel["employees"].astype(float)
    columns = [f"{v}_ytd{suffix}" for v in VARIABLES for suffix in ("", "_last_year")]
    # firms born in 2006 had nothing a year earlier: 0, not a value to impute
    born = panel["revenue_prev_year"].isna().to_numpy()
    for v in VARIABLES:
        panel[f"{v}_ytd_last_year"] = panel[f"{v}_ytd_last_year"].mask(born, 0.0)
    imputed = np.zeros(len(panel), dtype=bool)
    for col in columns:
        imputed |= panel[col].isna().to_numpy()
        panel[col] = ratio_of_means(panel, col, by=classes, auxiliary="size", marker=f"{col}_marker").data[col]
    panel["imputed"] = imputed
    return quarterly_from_ytd(panel, VARIABLES)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="write the series and growth charts to this PNG file")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    register = load_register(2006)
    register["channel"] = np.select(
        [register["in_federation"] & register["in_zone"], register["in_federation"], register["in_zone"]],
        ["federation+zone", "federation", "zone"],
        "bureau only",
    )
    register["zone"] = register["zone"].fillna("(none)")
    take_all, sample = plan(register, 1500, rng)
    periods = [f"2006Q{q}" for q in (1, 2, 3, 4)]
    ta_panel = collect(take_all, periods, SEED, classes="industry_name")
    sa_panel = collect(sample, periods, SEED + 100, classes="stratum")
    design = sv.Design(strata="stratum", weights="w", fpc="N_h")

    estimates = {"sector": [], "city": [], "channel": [], "zone": []}
    for p in periods:
        ta = ta_panel[ta_panel["period"] == p]
        s = sv.Survey(sa_panel[sa_panel["period"] == p].reset_index(drop=True), design)
        for key, by in (("sector", None), ("city", "city"), ("channel", "channel"), ("zone", "zone")):
            estimates[key].append(combined_total(VARIABLES, take_all=ta, sample=s, by=by, imputed="imputed", period=p))
    series = quarterly_series(estimates["sector"])

    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)
    table = series.table()
    show = table[["period", "variable", "estimate", "se", "cv", "growth", "growth_se", "take_all_share",
                  "imputed_share"]].copy()
    show[["estimate", "se"]] = show[["estimate", "se"]] / YI
    print("Sector totals by quarter, 2006 (亿元; growth on the same firms a year earlier)")
    print(show.round(4).to_string(index=False))

    # the year: fourth-quarter year-to-date totals
    q4_ta = ta_panel[ta_panel["period"] == "2006Q4"]
    q4 = sv.Survey(sa_panel[sa_panel["period"] == "2006Q4"].reset_index(drop=True), design)
    ytd = [f"{v}_ytd" for v in VARIABLES]
    year = combined_total(ytd, take_all=q4_ta, sample=q4, imputed="imputed", period="2006Q4").table()
    truth = load_quarterly(year=2006).groupby("firm_id")[VARIABLES].sum()
    true_year = truth.reindex(register["firm_id"]).sum()
    year["truth"] = [true_year[v] for v in VARIABLES]
    print("\nYear 2006 (Q4 year to date), 亿元")
    out = year[["variable", "estimate", "se", "ci_low", "ci_high", "truth", "growth", "growth_se"]].copy()
    out[["estimate", "se", "ci_low", "ci_high", "truth"]] /= YI
    print(out.round(3).to_string(index=False))
    figures = published_figures().set_index("figure")
    print(f"report: whole sector ~{figures.loc['sector_gross_output', 'value'] / YI:.0f} 亿元 gross output")

    by_zone = estimates["zone"][-1].table()
    z = by_zone[by_zone["variable"] == "gross_output"][["zone", "estimate", "se", "cv", "growth", "growth_se"]].copy()
    z[["estimate", "se"]] /= YI
    print("\n2006Q4 gross output by special zone (亿元)")
    print(z.round(3).to_string(index=False))
    contrib = estimates["city"][-1].contributions()
    c = contrib[contrib["variable"] == "gross_output"].sort_values("contribution", ascending=False).head(5)
    print("\n2006Q4: largest contributions of cities to gross-output growth (percentage points)")
    print((c.set_index("city")[["contribution", "contribution_se"]] * 100).round(2).to_string())
    ch = estimates["channel"][-1].table()
    print("\n2006Q4 gross output by channel (亿元; each firm in exactly one row)")
    chv = ch[ch["variable"] == "gross_output"][["channel", "estimate", "se", "growth"]].copy()
    chv[["estimate", "se"]] /= YI
    print(chv.round(3).to_string(index=False))

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
        quarterly_series(estimates["city"]).plot("gross_output", ax=ax1)
        quarterly_series(estimates["city"]).plot_growth("gross_output", ax=ax2)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"\ncharts written to {args.plot}")
    return table


if __name__ == "__main__":
    main()
