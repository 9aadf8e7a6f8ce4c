"""Tests of the bundled synthetic population and the returns simulator (issue 3).

Aggregates are computed here directly from the Parquet files with pandas, not
through ``sector_figures``, so the calibration is checked independently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from survey.datasets import (
    INDICATORS,
    MONEY_INDICATORS,
    above_size,
    generate_population,
    load_metadata,
    load_quarterly,
    load_register,
    load_size_thresholds,
    published_figures,
    sector_figures,
    simulate_returns,
)
from survey.errors import ColumnError, FrameError, PeriodError
from survey.register.frame import valid_uscc

ZONE_COUNTY = {
    "Bobai woven crafts": ("Bobai", "Yulin", "4215"),
    "Lipu clothes hangers": ("Lipu", "Guilin", "2039"),
    "Binyang small hardware": ("Binyang", "Nanning", "3451"),
    "Luchuan iron pots": ("Luchuan", "Yulin", "3482"),
}


@pytest.fixture(scope="module")
def register():
    return load_register()


@pytest.fixture(scope="module")
def quarterly():
    return load_quarterly()


@pytest.fixture(scope="module")
def annual(quarterly):
    return quarterly.groupby(["year", "firm_id"])[list(MONEY_INDICATORS)].sum()


def _group_figures(register, annual, year):
    """The report's aggregates for ``year`` computed by hand (same firms a year earlier)."""
    reg = register[register["year"] == year]
    cur = annual.loc[year].reindex(reg["firm_id"]).fillna(0.0)
    prev = annual.loc[year - 1].reindex(reg["firm_id"]).fillna(0.0)
    groups = {
        "above_size": reg["above_size"].to_numpy(),
        "sector": np.ones(len(reg), bool),
        "collective": (reg["ownership"] == "urban collective").to_numpy(),
        "zone": reg["zone"].notna().to_numpy(),
    }
    out = {}
    for group, mask in groups.items():
        for var in ("gross_output", "export_delivery"):
            value = cur[var].to_numpy()[mask].sum()
            last = prev[var].to_numpy()[mask].sum()
            out[f"{group}_{var}"] = (value, value / last - 1.0, int(mask.sum()))
    return out


# --------------------------------------------------------------------------------------
# calibration to the report
# --------------------------------------------------------------------------------------
def test_2006_aggregates_match_the_report_within_5_percent(register, annual):
    figures = _group_figures(register, annual, 2006)
    for row in published_figures().itertuples():
        value, growth, _ = figures[row.figure]
        assert value == pytest.approx(row.value, rel=0.05), row.figure
        if not np.isnan(row.growth):
            assert 1 + growth == pytest.approx(1 + row.growth, rel=0.05), row.figure
            assert growth == pytest.approx(row.growth, abs=0.01), row.figure


def test_sector_figures_agrees_with_hand_computation(register, annual):
    mine = _group_figures(register, annual, 2006)
    table = sector_figures(2006).set_index("figure")
    for figure, (value, growth, n) in mine.items():
        if figure in table.index:
            assert table.loc[figure, "value"] == pytest.approx(value, rel=1e-12)
            assert table.loc[figure, "growth"] == pytest.approx(growth, rel=1e-9)
            assert table.loc[figure, "n"] == n


def test_few_hundred_above_size_firms_carry_a_quarter_of_output(register, annual):
    figures = _group_figures(register, annual, 2006)
    n_above = figures["above_size_gross_output"][2]
    n_all = figures["sector_gross_output"][2]
    assert 200 <= n_above <= 900
    assert 30_000 <= n_all <= 60_000
    share = figures["above_size_gross_output"][0] / figures["sector_gross_output"][0]
    assert share == pytest.approx(14.5 / 55.8, rel=0.05)


def test_metadata_records_seed_and_achieved_figures():
    meta = load_metadata()
    assert meta["seed"] == 2007 and meta["money_unit"] == "thousand yuan"
    achieved = {row["figure"]: row["value"] for row in meta["figures_2006"]}
    assert achieved["sector_gross_output"] == pytest.approx(55.8e6, rel=1e-4)


# --------------------------------------------------------------------------------------
# register
# --------------------------------------------------------------------------------------
def test_firm_ids_are_valid_uscc_and_unique_per_year(register):
    assert valid_uscc(register["firm_id"].to_numpy()).all()
    assert register["firm_id"].str.len().eq(18).all()
    assert not register.duplicated(["year", "firm_id"]).any()
    # the division part of the id is the firm's county code
    assert (register["firm_id"].str.slice(2, 8) == register["county_code"]).all()


def test_firm_attributes_are_stable_across_years(register):
    stable = register.groupby("firm_id")[["name", "county", "industry", "zone"]].nunique(dropna=False)
    assert (stable == 1).all().all()


def test_register_columns_and_types(register):
    expected = [
        "firm_id", "year", "name", "city", "county", "county_code", "industry", "industry_name",
        "ownership", "zone", "revenue_prev_year", "employees", "status", "above_size",
        "in_bureau", "in_federation", "in_zone",
    ]
    assert list(register.columns) == expected
    assert sorted(register["year"].unique().tolist()) == [2004, 2005, 2006, 2007]
    assert register["city"].nunique() == 14
    assert set(register["status"].unique()) == {"active", "dead", "new"}
    assert set(register["ownership"].unique()) == {"urban collective", "private", "limited liability", "other"}
    for col in ("firm_id", "name", "county", "industry", "status"):
        assert pd.api.types.is_string_dtype(register[col])
    assert (register["employees"] >= 1).all()


def test_zone_firms_sit_in_the_zone_county_and_industry(register):
    zone = register[register["zone"].notna()]
    assert set(zone["zone"].unique()) == set(ZONE_COUNTY)
    expected = zone["zone"].map({k: v[0] for k, v in ZONE_COUNTY.items()})
    assert (zone["county"] == expected).all()
    assert (zone["city"] == zone["zone"].map({k: v[1] for k, v in ZONE_COUNTY.items()})).all()
    assert (zone["industry"] == zone["zone"].map({k: v[2] for k, v in ZONE_COUNTY.items()})).all()


def test_channel_flags(register):
    assert register["in_bureau"].all()
    assert (register["in_federation"] == (register["ownership"] == "urban collective")).all()
    assert (register["in_zone"] == register["zone"].notna()).all()
    # the channels overlap: some firms are in all three
    all_three = register["in_federation"] & register["in_zone"] & register["in_bureau"]
    assert all_three.sum() > 0


def test_above_size_flag_follows_threshold_table_and_last_year_truth(register, annual):
    flag = above_size(register["revenue_prev_year"], register["year"])
    assert (flag == register["above_size"].to_numpy()).all()
    assert (register.loc[register["above_size"], "revenue_prev_year"] >= 5000).all()
    # revenue_prev_year is last year's true revenue (from 2005 on; 2003 is not bundled)
    later = register[(register["year"] >= 2005) & (register["status"] != "new")]
    truth = annual["revenue"].reindex(pd.MultiIndex.from_arrays([later["year"] - 1, later["firm_id"]]))
    np.testing.assert_allclose(later["revenue_prev_year"].to_numpy(), truth.to_numpy(), atol=0.06)


def test_threshold_table_is_data():
    table = load_size_thresholds()
    assert above_size([19_999.0], 2011).tolist() == [False]
    assert table.loc[table["year_from"] == 2011, "threshold"].item() == 20_000
    changed = table.assign(threshold=[5000.0, 6000.0, 20000.0])
    assert above_size([5500.0], 2008, thresholds=changed).tolist() == [False]
    with pytest.raises(FrameError, match="threshold"):
        above_size([1.0], 1990)


def test_births_and_deaths_are_consistent(register):
    ids = {y: set(register.loc[register["year"] == y, "firm_id"]) for y in range(2004, 2008)}
    for year in (2005, 2006, 2007):
        reg = register[register["year"] == year]
        new = set(reg.loc[reg["status"] == "new", "firm_id"])
        assert not new & ids[year - 1]
        assert reg.loc[reg["status"] == "new", "revenue_prev_year"].isna().all()
        assert set(reg.loc[reg["status"] != "new", "firm_id"]) <= ids[year - 1]
        dead_before = set(register.loc[(register["year"] == year - 1) & (register["status"] == "dead"), "firm_id"])
        assert not dead_before & ids[year]
    rates = register.groupby("year")["status"].value_counts(normalize=True).unstack()
    assert rates["new"].between(0.05, 0.10).all() and rates["dead"].between(0.02, 0.08).all()


# --------------------------------------------------------------------------------------
# quarterly truth
# --------------------------------------------------------------------------------------
def test_quarterly_truth_covers_register_firm_quarters(register, quarterly):
    assert len(quarterly) == 4 * len(register)
    keys = quarterly[["year", "firm_id"]].drop_duplicates()
    assert len(keys) == len(register)
    assert set(quarterly["period"].unique()) == {f"{y}Q{q}" for y in range(2004, 2008) for q in range(1, 5)}
    off = quarterly[~quarterly["operating"]]
    assert (off[list(INDICATORS)] == 0).all().all()
    on = quarterly[quarterly["operating"]]
    assert (on["gross_output"] > 0).all() and (on["employees"] >= 1).all()


def test_quarterly_truth_is_coherent(quarterly):
    assert (quarterly["export_delivery"] <= quarterly["gross_output"]).all()
    assert (quarterly["export_delivery"] <= quarterly["sales_output"]).all()
    assert (quarterly[["gross_output", "export_delivery", "sales_output", "revenue"]] >= 0).all().all()
    # Spring Festival dip in Q1 every year
    by_q = quarterly.pivot_table(index="year", columns="quarter", values="gross_output", aggfunc="sum")
    assert (by_q[1] < 0.9 * by_q[2]).all()
    # many firms have zero exports; exporters exist
    exports = quarterly[quarterly["year"] == 2006].groupby("firm_id")["export_delivery"].sum()
    assert 0.5 < (exports == 0).mean() < 0.9


def test_sizes_are_heavy_tailed_and_persistent(annual):
    y05 = annual.loc[2005, "gross_output"]
    y06 = annual.loc[2006, "gross_output"]
    both = y05.index.intersection(y06.index)
    a, b = y05[both], y06[both]
    keep = (a > 0) & (b > 0)
    corr = np.corrcoef(np.log(a[keep]), np.log(b[keep]))[0, 1]
    assert corr > 0.9
    top = np.sort(y06.to_numpy())[::-1]
    assert top[: int(0.015 * len(top))].sum() / top.sum() > 0.2  # the top 1.5% carry over a fifth


def test_loaders_return_copies():
    a = load_register(2006)
    a.loc[0, "name"] = "changed"
    assert load_register(2006).loc[0, "name"] != "changed"
    q = load_quarterly("2006Q1")
    assert set(q["period"]) == {"2006Q1"}
    assert len(load_quarterly(year=2005)) == 4 * len(load_register(2005))
    with pytest.raises(PeriodError):
        load_quarterly("2006-1")
    with pytest.raises(PeriodError, match="2004Q1-2007Q4"):
        load_quarterly("2008Q1")
    with pytest.raises(PeriodError, match="2004-2007"):
        load_register(2003)


# --------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------
def test_generator_is_deterministic_and_calibrated_when_small():
    a = generate_population(seed=11, n_firms=2000)
    b = generate_population(seed=11, n_firms=2000)
    pd.testing.assert_frame_equal(a.register, b.register)
    pd.testing.assert_frame_equal(a.quarterly, b.quarterly)
    c = generate_population(seed=12, n_firms=2000)
    assert not a.register["firm_id"].equals(c.register["firm_id"])
    assert a.seed == 11 and a.metadata["seed"] == 11
    scale = 2000 / 34000
    figures = sector_figures(2006, register=a.register, quarterly=a.quarterly).set_index("figure")
    for row in published_figures().itertuples():
        assert figures.loc[row.figure, "value"] == pytest.approx(row.value * scale, rel=0.01)
    assert valid_uscc(a.register["firm_id"].to_numpy()).all()


def test_generator_reproduces_bundled_files(register):
    seed = load_metadata()["seed"]
    pop = generate_population(seed=seed)
    pd.testing.assert_frame_equal(pop.register, register, check_dtype=False)


def test_generator_records_seed_from_generator():
    pop = generate_population(seed=np.random.default_rng(5), n_firms=600)
    again = generate_population(seed=pop.seed, n_firms=600)
    pd.testing.assert_frame_equal(pop.register, again.register)
    with pytest.raises(FrameError):
        generate_population(n_firms=10)


# --------------------------------------------------------------------------------------
# returns simulator
# --------------------------------------------------------------------------------------
def _cumulative_truth(quarterly, firms, year, quarter):
    part = quarterly[(quarterly["year"] == year) & (quarterly["quarter"] <= quarter)]
    sums = part.groupby("firm_id")[list(MONEY_INDICATORS)].sum()
    sums["employees"] = part.groupby("firm_id")["employees"].mean()
    return sums.reindex(firms)


def test_returns_equal_cumulative_truth_without_errors(register, quarterly):
    firms = register.loc[register["year"] == 2006, "firm_id"].sample(800, random_state=1).tolist()
    sim = simulate_returns(firms, "2006Q3", seed=3, unit_nonresponse=0, item_nonresponse=0, error_rate=0)
    ret = sim.returns.set_index("firm_id")
    assert ret.index.tolist() == firms and (ret["period"] == "2006Q3").all()
    assert ret["responded"].all() and sim.injected.empty
    cur = _cumulative_truth(quarterly, firms, 2006, 3)
    last = _cumulative_truth(quarterly, firms, 2005, 3).fillna(0.0)
    for var in INDICATORS:
        np.testing.assert_allclose(ret[f"{var}_ytd"], cur[var], rtol=0, atol=1e-6)
        np.testing.assert_allclose(ret[f"{var}_ytd_last_year"], last[var], rtol=0, atol=1e-6)


def test_every_injected_error_is_listed(register, quarterly):
    firms = register.loc[register["year"] == 2006, "firm_id"].tolist()
    sim = simulate_returns(firms, "2006Q4", seed=9, unit_nonresponse=0.1, item_nonresponse=0.03, error_rate=0.05)
    ret = sim.returns.set_index("firm_id")
    cur = _cumulative_truth(quarterly, firms, 2006, 4)
    listed = sim.injected.set_index(["firm_id", "variable"])
    assert not listed.index.duplicated().any()
    for var in MONEY_INDICATORS:
        reported = ret[f"{var}_ytd"]
        differs = reported.notna() & ~np.isclose(reported, cur[var], rtol=0, atol=1e-6)
        wrong = set(reported.index[differs])
        injected = set(sim.injected.loc[sim.injected["variable"] == var, "firm_id"])
        assert wrong == injected, var
    # the listed values are the truth and what the return says
    for row in sim.injected.itertuples():
        assert row.reported_value == pytest.approx(ret.loc[row.firm_id, f"{row.variable}_ytd"])
        assert row.true_value == pytest.approx(cur.loc[row.firm_id, row.variable], abs=1e-6)
    assert set(sim.injected["error_type"]) == {"unit_yuan", "export_gt_output", "cumulative_decrease"}
    # error rate among respondents close to 5% (one error per affected return)
    n_err = sim.injected["firm_id"].nunique()
    assert n_err / ret["responded"].sum() == pytest.approx(0.05, abs=0.01)


def test_injected_errors_have_their_signature(register, quarterly):
    firms = register.loc[register["year"] == 2006, "firm_id"].tolist()
    sim = simulate_returns(firms, "2006Q3", seed=4, unit_nonresponse=0, item_nonresponse=0, error_rate=0.1)
    ret = sim.returns.set_index("firm_id")
    inj = sim.injected
    unit = inj[inj["error_type"] == "unit_yuan"]
    np.testing.assert_allclose(unit["reported_value"], 1000 * unit["true_value"])
    exp = inj[inj["error_type"] == "export_gt_output"]
    assert (exp["variable"] == "export_delivery").all()
    assert (exp["reported_value"].to_numpy() > ret.loc[exp["firm_id"], "gross_output_ytd"].to_numpy()).all()
    dec = inj[inj["error_type"] == "cumulative_decrease"]
    prev = _cumulative_truth(quarterly, dec["firm_id"].unique(), 2006, 2)
    previous = np.array([prev.loc[f, v] for f, v in zip(dec["firm_id"], dec["variable"])])
    assert (dec["reported_value"].to_numpy() < previous).all()
    # first quarter: no cumulative decrease is possible
    q1 = simulate_returns(firms, "2006Q1", seed=4, unit_nonresponse=0, item_nonresponse=0, error_rate=0.1)
    assert "cumulative_decrease" not in set(q1.injected["error_type"])


def test_nonresponse_rates_and_size_gradient(register):
    reg = register[register["year"] == 2006]
    sim = simulate_returns(reg["firm_id"], "2006Q2", seed=5, unit_nonresponse=0.2, item_nonresponse=0.05, error_rate=0)
    ret = sim.returns
    assert 1 - ret["responded"].mean() == pytest.approx(0.2, abs=0.01)
    above = reg["above_size"].to_numpy()
    miss = ~ret["responded"].to_numpy()
    assert miss[~above].mean() > 2 * miss[above].mean()
    resp = ret[ret["responded"]]
    assert resp["gross_output_ytd"].isna().mean() == pytest.approx(0.05, abs=0.01)
    assert ret.loc[~ret["responded"], [c for c in ret.columns if c.endswith("_ytd")]].isna().all().all()


def test_returns_are_reproducible_and_seed_recorded(register):
    firms = register.loc[register["year"] == 2005, "firm_id"].head(300)
    a = simulate_returns(firms, "2005Q2", seed=17)
    b = simulate_returns(pd.DataFrame({"firm_id": firms}), "2005Q2", seed=17)
    pd.testing.assert_frame_equal(a.returns, b.returns)
    pd.testing.assert_frame_equal(a.injected, b.injected)
    c = simulate_returns(firms, "2005Q2", seed=None)
    d = simulate_returns(firms, "2005Q2", seed=c.seed)
    pd.testing.assert_frame_equal(c.returns, d.returns)
    assert a.seed == 17 and a.period == "2005Q2"


def test_returns_with_custom_truth_and_errors(register):
    pop = generate_population(seed=3, n_firms=800)
    firms = pop.register.loc[pop.register["year"] == 2006, "firm_id"]
    sim = simulate_returns(firms, "2006Q2", seed=1, truth=pop.quarterly, unit_nonresponse=0,
                           item_nonresponse=0, error_rate=0)
    truth = _cumulative_truth(pop.quarterly, firms, 2006, 2)
    np.testing.assert_allclose(sim.returns["gross_output_ytd"], truth["gross_output"].to_numpy())
    with pytest.raises(FrameError, match="not on the register"):
        simulate_returns(["914500000000000000"], "2006Q1")
    with pytest.raises(PeriodError):
        simulate_returns(firms, "2006Q5", truth=pop.quarterly)
    with pytest.raises(ColumnError):
        simulate_returns(firms, "2006Q1", unit_nonresponse=1.5, truth=pop.quarterly)
    with pytest.raises(FrameError, match="more than once"):
        simulate_returns(list(firms[:2]) * 2, "2006Q1", truth=pop.quarterly)


def test_bundled_files_are_package_resources():
    """The data are found with importlib.resources (so an installed wheel has them), and a
    missing file says how to regenerate it."""
    from importlib import resources

    from survey.datasets import bundled_file
    from survey.errors import FrameError

    path = bundled_file("register.parquet")
    assert path == resources.files("survey.datasets").joinpath("data", "register.parquet")
    with path.open("rb") as handle:
        assert handle.read(4) == b"PAR1"
    with pytest.raises(FrameError, match="make_data.py"):
        bundled_file("nope.parquet")


def test_generator_and_simulator_modules():
    """The split modules are the ones the package re-exports."""
    import survey.datasets as ds
    from survey.datasets import generator, returns

    assert ds.generate_population is generator.generate_population
    assert ds.simulate_returns is returns.simulate_returns
    assert ds.SimulatedReturns is returns.SimulatedReturns
