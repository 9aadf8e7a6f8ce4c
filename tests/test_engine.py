"""The engine seam and out-of-core estimation: the SQL path equals the in-memory Survey.

The in-memory :class:`survey.Survey` is the reference implementation (checked
against R ``survey`` in test_estimate, test_variance, test_calibrate); every
out-of-core estimate here must equal it to 1e-10 (point estimates, full
covariance blocks, counts, degrees of freedom, domain keys), on the R
reference samples (apistrat, apiclus1, apiclus2, MU284, the lonely-PSU
sample) and on generated designs (take-all strata, two stages with lonely
PSUs at both stages, calibration with an auxiliary that nearly predicts the
variable).
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.engine import Engine, memory_bytes, sql_float
from survey.errors import (
    CalibrationError,
    ColumnError,
    DesignError,
    EngineError,
    LonelyPSUError,
    WeightError,
)
from survey.estimation.weighting import calibrate, poststratify, rake
from survey.estimation.outofcore import OutOfCoreSurvey, scan

from .conftest import load

RULES = ["remove", "adjust", "average", "certainty"]


def same(a: sv.Estimate, b: sv.Estimate, tol: float = 1e-10) -> None:
    """Out-of-core estimate ``a`` equals in-memory ``b``: points, covariances, n, df, domains."""
    assert a.statistic == b.statistic and a.by == b.by and a.variables == b.variables
    assert a.point.shape == b.point.shape
    np.testing.assert_allclose(a.point, b.point, rtol=tol, atol=0)
    scale = max(float(np.abs(np.diagonal(b.cov, axis1=1, axis2=2)).max()), 1e-300)
    assert np.max(np.abs(a.cov - b.cov)) <= tol * scale
    np.testing.assert_allclose(a.se, b.se, rtol=tol, atol=tol * np.sqrt(scale))
    np.testing.assert_array_equal(a.n, b.n)
    assert a.df == b.df
    pd.testing.assert_frame_equal(
        a.domains.reset_index(drop=True).astype(str), b.domains.reset_index(drop=True).astype(str)
    )


@pytest.fixture(scope="module")
def strat():
    return load("apistrat")


@pytest.fixture(scope="module")
def pop():
    return load("apipop")


@pytest.fixture(scope="module")
def two_stage() -> pd.DataFrame:
    """Six strata of PSUs: a lonely PSU (stratum h1), take-all PSUs (h2, h5), PSUs with one SSU."""
    rng = np.random.default_rng(5)
    rows = []
    for h, (n_psu, N_psu) in enumerate([(3, 10), (1, 8), (4, 4), (2, 30), (5, 12), (2, 2)]):
        for i in range(n_psu):
            m = int(rng.integers(1, 5))
            M = m + int(rng.integers(0, 6))
            for j in range(m):
                rows.append(dict(h=f"h{h}", psu=f"p{h}_{i}", ssu=j, N1=N_psu, N2=M,
                                 y=rng.gamma(2, 10), dom=rng.choice(["a", "b", "c"]),
                                 cat=rng.choice(["u", "v"]), k2=int(rng.choice([1, 2, 3]))))
    df = pd.DataFrame(rows)
    df["x"] = df["y"] * 0.9 + rng.normal(0, 0.5, len(df))
    return df


# ---------------------------------------------------------------------------
# the engine seam
# ---------------------------------------------------------------------------
def _mib(text: str) -> float:
    """DuckDB's display of a memory setting ("190.7 MiB", "3.7 GiB") in MiB."""
    value, unit = text.split()
    return float(value) * {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "TiB": 1024.0**2}[unit]


def test_memory_limit_is_always_set():
    """DuckDB's default is 80% of the RAM; the engine always sets its own limit (also on a passed connection)."""
    s = Engine(memory_limit="200MB", threads=1).session()
    assert _mib(s.setting("memory_limit")) == pytest.approx(200e6 / 2**20, abs=0.1)
    assert s.setting("threads") == "1"
    con = duckdb.connect()
    Engine(connection=con, memory_limit="300MB").session()
    assert _mib(con.execute("SELECT current_setting('memory_limit')").fetchone()[0]) == pytest.approx(
        300e6 / 2**20, abs=0.1)
    assert _mib(Engine().session().setting("memory_limit")) == pytest.approx(4e9 / 2**20, rel=0.02)


def test_engine_settings_are_checked():
    with pytest.raises(EngineError, match="memory_limit"):
        Engine(memory_limit="lots")
    with pytest.raises(EngineError, match="kind"):
        Engine(kind="postgres")
    with pytest.raises(EngineError, match="unknown key"):
        Engine.from_config({"kind": "duckdb", "memory": "1GB"})
    assert memory_bytes("1.5GiB") == 1610612736
    assert Engine.from_config({"memory_limit": "2GB", "threads": 2}).threads == 2


def test_sql_float_is_exact():
    """Float literals round-trip exactly through the SQL text (no DECIMAL rounding)."""
    s = Engine().session()
    values = [0.1, 1 / 3, 1e-300, 12345678.123456789, -2.5e17]
    got = s.sql("SELECT " + ", ".join(f"{sql_float(v)} AS v{i}" for i, v in enumerate(values))).iloc[0]
    assert [float(got[f"v{i}"]) for i in range(len(values))] == values


def test_inputs_parquet_glob_relation_table(strat, tmp_path):
    """The same sample read from a Parquet file, a glob of parts, a DuckDB relation and a table."""
    d = sv.Design(strata="stype", weights="pw", fpc="fpc")
    ref = sv.Survey(strat, d).total("enroll", by="awards")
    strat.to_parquet(tmp_path / "all.parquet")
    strat.iloc[:77].to_parquet(tmp_path / "part-1.parquet")
    strat.iloc[77:].to_parquet(tmp_path / "part-2.parquet")
    same(scan(str(tmp_path / "all.parquet"), d).total("enroll", by="awards"), ref)
    same(scan(str(tmp_path / "part-*.parquet"), d).total("enroll", by="awards"), ref)
    same(scan([tmp_path / "part-1.parquet", tmp_path / "part-2.parquet"], d).total("enroll", by="awards"), ref)
    con = duckdb.connect()
    eng = Engine(connection=con)
    rel = con.read_parquet(str(tmp_path / "all.parquet"))
    same(scan(rel, d, engine=eng).total("enroll", by="awards"), ref)
    con.execute(f"CREATE TABLE schools AS SELECT * FROM read_parquet('{tmp_path / 'all.parquet'}')")
    same(scan("schools", d, engine=eng).total("enroll", by="awards"), ref)
    with pytest.raises(EngineError, match="another connection"):
        scan(duckdb.connect().sql("SELECT 1 AS pw"), sv.Design(weights="pw"), engine=Engine())
    with pytest.raises(EngineError, match="does not exist"):
        scan(str(tmp_path / "missing.parquet"), d)


# ---------------------------------------------------------------------------
# agreement with the in-memory Survey
# ---------------------------------------------------------------------------
def test_stratified_apistrat(strat):
    """svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat):
    svytotal, svymean, svyratio, svymean of a factor, by domain and in a subset."""
    d = sv.Design(strata="stype", weights="pw", fpc="fpc")
    m, o = sv.Survey(strat, d), scan(strat, d)
    same(o.total(["enroll", "api00"]), m.total(["enroll", "api00"]))
    same(o.total(["enroll", "api00"], by="awards"), m.total(["enroll", "api00"], by="awards"))
    same(o.mean(["api00", "api99"], by=["stype", "awards"]), m.mean(["api00", "api99"], by=["stype", "awards"]))
    same(o.ratio(["api00", "enroll"], "api99", by="awards"), m.ratio(["api00", "enroll"], "api99", by="awards"))
    same(o.proportion("sch.wide", by="awards"), m.proportion("sch.wide", by="awards"))
    same(o.subset("api00 > 600").total("enroll", by="awards"),
         m.subset(strat["api00"].to_numpy() > 600).total("enroll", by="awards"))
    same(o.mean("acs.k3", na="drop"), m.mean("acs.k3", na="drop"))
    same(o.total("acs.k3", by="awards", na="drop"), m.total("acs.k3", by="awards", na="drop"))
    assert len(o) == 200 and o.df == 197


def test_clustered_apiclus1_and_two_stage_apiclus2():
    """svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1);
    svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2) (weights from the fpc)."""
    c1 = load("apiclus1")
    d1 = sv.Design(clusters="dnum", weights="pw", fpc="fpc")
    same(scan(c1, d1).total(["enroll", "api00"], by="stype"), sv.Survey(c1, d1).total(["enroll", "api00"], by="stype"))
    c2 = load("apiclus2")
    d2 = sv.Design(clusters=("dnum", "snum"), fpc=("fpc1", "fpc2"))
    m, o = sv.Survey(c2, d2), scan(c2, d2)
    same(o.total(["enroll", "api00"], na="drop"), m.total(["enroll", "api00"], na="drop"))
    same(o.mean("api00", by="stype"), m.mean("api00", by="stype"))
    same(o.ratio("api00", "api99", by="stype"), m.ratio("api00", "api99", by="stype"))
    same(o.proportion("awards", by="stype"), m.proportion("awards", by="stype"))
    stage2 = o.strata(2)  # stage-2 strata are the PSUs (districts): fraction = schools sampled / fpc2
    expect = c2.groupby("dnum").agg(n=("snum", "size"), N=("fpc2", "first"))
    np.testing.assert_allclose(stage2["fraction"].to_numpy(), (expect["n"] / expect["N"]).to_numpy())
    np.testing.assert_allclose(stage2["multiplier"].to_numpy(), 40 / 757)


def test_mu284_stratified_sample():
    """svydesign(id = ~1, strata = ~REG, weights = ~weight, fpc = ~N_REG, data = MU284_sample)."""
    mu = load("MU284_sample")
    d = sv.Design(strata="REG", weights="weight", fpc="N_REG")
    same(scan(mu, d).total(["RMT85", "P85"], by="CL"), sv.Survey(mu, d).total(["RMT85", "P85"], by="CL"))
    same(scan(mu, d).ratio("RMT85", "P85", by="CL"), sv.Survey(mu, d).ratio("RMT85", "P85", by="CL"))


@pytest.mark.parametrize("rule", RULES)
def test_lonely_psu_rules(rule, strat):
    """options(survey.lonely.psu = rule); svydesign(id = ~1, strata = ~stype, weights = ~pw, data = one):
    svytotal and svymean, with and without fpc, and svyby over sch.wide."""
    one = load("lonely_sample").merge(strat[["cds", "sch.wide"]], on="cds")
    d = sv.Design(strata="stype", weights="pw", lonely_psu=rule)
    same(scan(one, d).total("enroll", by="sch.wide"), sv.Survey(one, d).total("enroll", by="sch.wide"))
    same(scan(one, d).mean("api00"), sv.Survey(one, d).mean("api00"))
    d = sv.Design(strata="stype", weights="pw", fpc="fpc", lonely_psu=rule)
    same(scan(one, d).total("enroll"), sv.Survey(one, d).total("enroll"))


@pytest.mark.parametrize("rule", RULES)
def test_two_stage_take_all_and_lonely_units(rule, two_stage):
    """Stratified two-stage design with fpc at both stages: take-all strata, a lonely PSU (stage 1)
    and PSUs with a single SSU (lonely at stage 2), under each lonely-PSU rule."""
    d = sv.Design(strata="h", clusters=("psu", "ssu"), fpc=("N1", "N2"), lonely_psu=rule)
    m, o = sv.Survey(two_stage, d), scan(two_stage, d)
    same(o.total(["y", "x"], by="dom"), m.total(["y", "x"], by="dom"))
    same(o.mean("y", by=["dom", "cat"]), m.mean("y", by=["dom", "cat"]))
    w = pd.Series(m.weights)
    counts = (w.groupby(two_stage["k2"]).sum() * 1.05).to_dict()
    tot = {"k2": counts, "x": float((w * two_stage["x"]).sum() * 1.03)}
    same(o.calibrate(tot).total("y", by="dom"), calibrate(m, tot).total("y", by="dom"))
    cats = (w.groupby(two_stage["cat"]).sum() * sum(counts.values()) / w.sum()).to_dict()
    margins = {"k2": counts, "cat": cats}
    same(o.rake(margins).total("y", by="dom"), rake(m, margins).total("y", by="dom"))
    d1 = sv.Design(strata="h", clusters="psu", weights="N1", lonely_psu=rule)
    same(scan(two_stage, d1).ratio("y", "x", by="dom"), sv.Survey(two_stage, d1).ratio("y", "x", by="dom"))


def test_take_all_stratum_contributes_nothing():
    """A stratum with n_h = N_h (a single certainty unit) is take-all, not lonely."""
    df = pd.DataFrame({"h": ["a", "a", "big"], "N": [10, 10, 1], "y": [1.0, 2.0, 50.0]})
    d = sv.Design(strata="h", fpc="N")
    est = scan(df, d).total("y")
    assert est.estimate[0] == pytest.approx(5 * 3 + 50)
    same(est, sv.Survey(df, d).total("y"))
    assert scan(df, d).strata()["sq_coef"].tolist()[1] == 0.0


# ---------------------------------------------------------------------------
# weighting
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_designs(strat):
    d = sv.Design(strata="stype", weights="pw", fpc="fpc")
    return sv.Survey(strat, d), scan(strat, d)


def test_linear_calibration(api_designs, pop):
    """calibrate(dstrat, ~stype + enroll, population = c(6194, 755, 1018, sum(apipop$enroll)))
    (GREG variance from the calibration residuals), by domain, means, ratios, proportions."""
    m, o = api_designs
    tot = {"stype": pop["stype"].value_counts().to_dict(), "enroll": float(pop["enroll"].sum())}
    mc, oc = calibrate(m, tot), o.calibrate(tot)
    same(oc.total(["enroll", "api00"]), mc.total(["enroll", "api00"]))
    same(oc.total(["api00", "api99"], by="awards"), mc.total(["api00", "api99"], by="awards"))
    same(oc.mean("api00", by="awards"), mc.mean("api00", by="awards"))
    same(oc.ratio("api00", "api99", by="stype"), mc.ratio("api00", "api99", by="stype"))
    same(oc.proportion("sch.wide"), mc.proportion("sch.wide"))
    same(oc.subset("api00 > 650").total("api00", by="awards"),
         mc.subset(m.data["api00"].to_numpy() > 650).total("api00", by="awards"))
    report = oc.weighting[0]
    ref = mc.weighting[-1].report
    np.testing.assert_allclose(report.table["achieved"], ref.table["achieved"], rtol=1e-12)
    np.testing.assert_allclose(report.table["before"], ref.table["before"], rtol=1e-12)
    assert report.iterations == ref.iterations
    assert report.ratio_min == pytest.approx(ref.ratio_min, rel=1e-12)


@pytest.mark.parametrize("method,bounds", [("linear", (0.95, 1.05)), ("raking", None), ("raking", (0.9, 1.2)),
                                           ("logit", (0.5, 2.5))])
def test_calibration_methods_with_bounds(api_designs, pop, method, bounds):
    """calibrate(dstrat, ~stype + api99, population = ..., calfun = method, bounds = bounds):
    Newton steps in SQL (a numeric auxiliary with bounds or a non-linear calibration function)."""
    m, o = api_designs
    tot = {"stype": pop["stype"].value_counts().to_dict(), "api99": float(pop["api99"].sum())}
    mc, oc = calibrate(m, tot, method=method, bounds=bounds), o.calibrate(tot, method=method, bounds=bounds)
    assert oc.weighting[0].iterations == mc.weighting[-1].report.iterations
    same(oc.total("api00", by="awards"), mc.total("api00", by="awards"))


def test_categorical_raking_calibration_and_poststratify(api_designs, pop):
    """calibrate(..., ~stype + sch.wide, calfun = "raking") and postStratify(dstrat, ~awards, ...)."""
    m, o = api_designs
    tot = {"stype": pop["stype"].value_counts().to_dict(), "sch.wide": pop["sch.wide"].value_counts().to_dict()}
    same(o.calibrate(tot, method="raking").total("api00", by="awards"),
         calibrate(m, tot, method="raking").total("api00", by="awards"))
    counts = pop["awards"].value_counts().to_dict()
    same(o.poststratify("awards", counts).total("api00", by="stype"),
         poststratify(m, "awards", counts).total("api00", by="stype"))


def test_rake(api_designs, pop):
    """rake(dstrat, list(~stype, ~sch.wide), list(table(apipop$stype), table(apipop$sch.wide)))
    (R rake()'s residual rule: ten sweeps of x - w_m mean(x / w_m | level))."""
    m, o = api_designs
    margins = {"stype": pop["stype"].value_counts().to_dict(),
               "sch.wide": pop["sch.wide"].value_counts().to_dict()}
    rm, ro = rake(m, margins), o.rake(margins)
    same(ro.total(["api00", "enroll"], by="awards"), rm.total(["api00", "enroll"], by="awards"))
    same(ro.mean("api00"), rm.mean("api00"))
    for convergence, tol in (("cells", 1.0),):
        a = o.rake(margins, convergence=convergence, tol=tol)
        b = rake(m, margins, convergence=convergence, tol=tol)
        assert a.weighting[0].iterations == b.weighting[-1].report.iterations
        same(a.total("api00"), b.total("api00"))


def test_calibrated_clustered_designs(pop):
    """calibrate(dclus1, ~stype, ...) and calibrate(dclus2, ~stype + api99, ...); rake(dclus2, ...)."""
    c1 = load("apiclus1")
    d1 = sv.Design(clusters="dnum", weights="pw", fpc="fpc")
    tot = {"stype": pop["stype"].value_counts().to_dict()}
    same(scan(c1, d1).calibrate(tot).total("enroll", by="awards"),
         calibrate(sv.Survey(c1, d1), tot).total("enroll", by="awards"))
    c2 = load("apiclus2")
    d2 = sv.Design(clusters=("dnum", "snum"), fpc=("fpc1", "fpc2"))
    tot2 = {"stype": pop["stype"].value_counts().to_dict(), "api99": float(pop["api99"].sum())}
    same(scan(c2, d2).calibrate(tot2).total("enroll", by="awards", na="drop"),
         calibrate(sv.Survey(c2, d2), tot2).total("enroll", by="awards", na="drop"))
    margins = {"stype": pop["stype"].value_counts().to_dict(), "sch.wide": pop["sch.wide"].value_counts().to_dict()}
    same(scan(c2, d2).rake(margins).mean("api00", by="awards"),
         rake(sv.Survey(c2, d2), margins).mean("api00", by="awards"))


@pytest.mark.parametrize("noise", [1.0, 1e-2, 1e-4])
def test_residuals_in_a_second_pass_keep_precision(noise):
    """An auxiliary that nearly predicts the variable (residual SE down to 1e-8 of the total):
    residuals are formed row by row in SQL, so the SE still agrees to 1e-10."""
    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({"h": rng.integers(0, 20, n), "x": rng.gamma(2, 50, n),
                       "dom": rng.choice(list("abcde"), n)})
    df["w"] = 10.0 + df["h"]
    df["y"] = 3 * df["x"] + rng.normal(0, noise, n)
    d = sv.Design(strata="h", weights="w")
    tot = {"x": float((df.x * df.w).sum() * 1.02), "dom": (df.w.groupby(df.dom).sum() * 1.01).to_dict()}
    a = scan(df, d).calibrate(tot).total(["y", "x"], by="dom")
    b = calibrate(sv.Survey(df, d), tot).total(["y", "x"], by="dom")
    same(a, b)
    a = scan(df, d).calibrate(tot).total("y")
    b = calibrate(sv.Survey(df, d), tot).total("y")
    np.testing.assert_allclose(a.se, b.se, rtol=1e-10)


def test_many_domains_after_calibration():
    """120 domains (two by-columns) after calibration: domain chunks give the same covariances."""
    rng = np.random.default_rng(11)
    n = 4000
    df = pd.DataFrame({"h": rng.integers(0, 30, n), "x": rng.gamma(2, 5, n), "big": rng.integers(0, 60, n),
                       "cat": rng.choice(["u", "v"], n), "k": rng.choice(["p", "q", "r"], n)})
    df["y"] = df["x"] * rng.uniform(0.5, 1.5, n)
    df["w"] = 5.0 + df["h"] % 7
    d = sv.Design(strata="h", weights="w")
    tot = {"k": (df.w.groupby(df.k).sum() * 1.05).to_dict(), "x": float((df.x * df.w).sum())}
    same(scan(df, d).calibrate(tot).total(["y", "x"], by=["big", "cat"]),
         calibrate(sv.Survey(df, d), tot).total(["y", "x"], by=["big", "cat"]))


def test_write_weights_and_relation(api_designs, pop, tmp_path):
    """Calibrated weights written to Parquet by the engine equal the in-memory weights."""
    m, o = api_designs
    tot = {"stype": pop["stype"].value_counts().to_dict(), "enroll": float(pop["enroll"].sum())}
    path = o.calibrate(tot).write_weights(tmp_path / "w.parquet", ["cds"])
    got = pd.read_parquet(path).set_index("cds")["weight"]
    ref = pd.Series(calibrate(m, tot).weights, index=m.data["cds"])
    np.testing.assert_allclose(got.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-13)


# ---------------------------------------------------------------------------
# bad input: the same checks as Survey, messages naming strata and columns
# ---------------------------------------------------------------------------
def test_design_errors(strat):
    d = sv.Design(strata="stype", weights="pw", fpc="fpc")
    with pytest.raises(ColumnError, match="unknown design column"):
        scan(strat, sv.Design(strata="styp", weights="pw"))
    with pytest.raises(ColumnError, match="strata column 'stype' has 1 missing"):
        scan(strat.assign(stype=strat["stype"].where(strat.index != 3)), d)
    with pytest.raises(WeightError, match="'pw' must be positive"):
        scan(strat.assign(pw=strat["pw"].where(strat.index != 5, -1.0)), d)
    with pytest.raises(DesignError, match="varies within stratum 'E'"):
        scan(strat.assign(fpc=strat["fpc"] + (strat.index == 0)), d)
    with pytest.raises(DesignError, match="population size cannot be smaller"):
        scan(strat.assign(fpc=10), d)
    with pytest.raises(LonelyPSUError, match="stratum 'M' has only one PSU"):
        scan(load("lonely_sample"), sv.Design(strata="stype", weights="pw"))
    with pytest.raises(DesignError, match="no rows"):
        scan(strat.iloc[:0], d)
    with pytest.warns(sv.SurveyWarning, match="equal probability"):
        scan(strat, sv.Design(strata="stype"))


def test_estimation_errors(api_designs, strat):
    _, o = api_designs
    n_missing = int(strat["acs.k3"].isna().sum())
    with pytest.raises(ColumnError, match=f"'acs.k3' has {n_missing} missing"):
        o.total("acs.k3")
    with pytest.raises(ColumnError, match="numeric column"):
        o.total("name")
    with pytest.raises(ColumnError, match="did you mean"):
        o.mean("api0")
    with pytest.raises(ColumnError, match="domain column"):
        o.total("api00", by="acs.k3")
    with pytest.raises(ColumnError, match="missing"):
        o.proportion("acs.k3")


def test_weighting_errors(api_designs, pop):
    _, o = api_designs
    counts = pop["stype"].value_counts().to_dict()
    with pytest.raises(CalibrationError, match="not complete"):
        o.calibrate({"stype": {"E": 4421, "H": 755}})
    with pytest.raises(CalibrationError, match="contradictory margins"):
        o.calibrate({"stype": counts, "awards": {"Yes": 10.0, "No": 10.0}})
    with pytest.raises(CalibrationError, match="subset"):
        o.subset("api00 > 500").calibrate({"stype": counts})
    with pytest.raises(CalibrationError, match="already weighted"):
        o.calibrate({"stype": counts}).rake({"stype": counts})
    with pytest.raises(CalibrationError, match="no sample unit"):
        o.calibrate({"stype": {**counts, "X": 5.0}})
    with pytest.raises(CalibrationError, match="bounds cannot be met"):
        o.calibrate({"stype": {"E": 4421 * 3, "H": 755, "M": 1018}}, bounds=(0.5, 2.0))
    with pytest.raises(WeightError, match="negative weights"):
        o.calibrate({"stype": counts, "enroll": 10.0})


def test_repr_and_strata_table(api_designs):
    _, o = api_designs
    assert "200 rows; 3 strata" in repr(o)
    table = o.strata()
    assert table["stype"].tolist() == ["E", "H", "M"]
    np.testing.assert_allclose(table["fraction"], [100 / 4421, 50 / 755, 50 / 1018])
    assert isinstance(o, OutOfCoreSurvey)


def test_no_warning_noise(strat):
    """Estimation emits no warnings on a clean design."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan(strat, sv.Design(strata="stype", weights="pw", fpc="fpc")).total("api00", by="awards")


def test_nan_in_a_parquet_file_counts_as_missing(tmp_path):
    """pyarrow writes Parquet min/max statistics that leave NaN out, and DuckDB 2.0 then
    folds ``isnan(y)`` to FALSE (NaN values were taken as present: totals came out NaN).
    With survey.engine.sql_nan they are missing: na="drop" equals the in-memory Survey
    (which drops them) to 1e-12, na="error" names them; calibration skips no NaN silently."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from survey.engine import sql_nan

    rng = np.random.default_rng(3)
    n = 200
    y = rng.gamma(2.0, 10.0, n)
    y[rng.choice(n, 15, replace=False)] = np.nan
    path = tmp_path / "units.parquet"
    pq.write_table(pa.table({"h": rng.integers(0, 4, n), "w": rng.uniform(1, 5, n),
                             "y": pa.array(y)}), path)  # NaN, not null: from_pandas=False
    assert pq.ParquetFile(path).metadata.row_group(0).column(2).statistics.has_min_max
    con = duckdb.connect()
    # (DuckDB 2.0.1 gives 0 here for SUM(CASE WHEN isnan(y) ...): the folding)
    found = con.sql(f"SELECT SUM(CASE WHEN {sql_nan('y')} THEN 1 ELSE 0 END) "
                    f"FROM read_parquet('{path}')").fetchall()[0][0]
    assert found == 15
    design = sv.Design(strata="h", weights="w")
    got = scan(str(path), design).total("y", by="h", na="drop")
    want = sv.Survey(pd.read_parquet(path), design).total("y", by="h", na="drop")
    np.testing.assert_allclose(got.point, want.point, rtol=1e-12)
    np.testing.assert_allclose(got.cov, want.cov, rtol=1e-12)
    with pytest.raises(ColumnError, match="15"):
        scan(str(path), design).total("y", na="error")
    # a class coded as numbers (1.0, 2.0, NaN): the proportions of the classes present
    k = np.where(np.isnan(y), np.nan, np.where(y > 20, 2.0, 1.0))
    pq.write_table(pa.table({"h": rng.integers(0, 4, n), "w": rng.uniform(1, 5, n),
                             "k": pa.array(k)}), path)
    got = scan(str(path), design).proportion("k", na="drop")
    want = sv.Survey(pd.read_parquet(path), design).proportion("k", na="drop")
    np.testing.assert_allclose(got.point, want.point, rtol=1e-12)
    np.testing.assert_allclose(got.cov, want.cov, rtol=1e-12)
    # post-stratifying on that class: its NaN values are missing, named (were a level)
    with pytest.raises(ColumnError, match="'k' has 15 missing value"):
        scan(str(path), design).poststratify("k", {1.0: 300.0, 2.0: 200.0})


def test_several_totals_in_one_pass_equal_each_total(two_stage):
    """``OutOfCoreSurvey.totals``: each group keeps its own complete cases and equals the
    in-memory total of that group on its complete rows (two-stage design with calibration),
    by domain and overall."""
    df = two_stage.copy()
    rng = np.random.default_rng(11)
    df.loc[rng.choice(len(df), 6, replace=False), "y"] = np.nan
    df.loc[rng.choice(len(df), 5, replace=False), "x"] = np.nan
    df["z"] = df["y"].fillna(1.0) * 0.5
    d = sv.Design(strata="h", clusters=("psu", "ssu"), fpc=("N1", "N2"), lonely_psu="adjust")
    m = sv.Survey(df, d)
    counts = (pd.Series(m.weights).groupby(df["k2"]).sum() * 1.04).to_dict()
    o, m = scan(df, d).calibrate({"k2": counts}), calibrate(m, {"k2": counts})
    groups = [["y"], ["y", "x"], ["z"], ["x", "z"]]
    for got, group in zip(o.totals(groups, by="dom"), groups):
        same(got, o.total(group, by="dom", na="drop"))
        same(got, m.total(group, by="dom", na="drop"))
    for got, group in zip(o.totals(groups), groups):
        same(got, m.total(group, na="drop"))


def test_totals_with_ratios_equal_each_ratio(two_stage):
    """``OutOfCoreSurvey.totals(..., ratios=...)``: the ratios of pairs of the groups, from the
    pairs' totals (and after weighting one variance pass with the totals'), equal
    ``ratio(y, x, na="drop")``: plain, calibrated with a numeric auxiliary (element design,
    as the national estimate step), calibrated two-stage; a ratio not among the groups fails."""
    df = two_stage.copy()
    rng = np.random.default_rng(12)
    df.loc[rng.choice(len(df), 6, replace=False), "y"] = np.nan
    df.loc[rng.choice(len(df), 5, replace=False), "x"] = np.nan
    df["z"] = df["y"].fillna(1.0) * 0.5 + rng.uniform(0, 1, len(df))
    df["w"] = 1.0 / rng.uniform(0.1, 0.5, len(df))
    counts = df.groupby("k2")["w"].sum().mul(1.03).to_dict()
    size = float((df["w"] * df["N2"]).sum() * 0.98)
    element = scan(df, sv.Design(strata="h", weights="w"))
    two = sv.Design(strata="h", clusters=("psu", "ssu"), fpc=("N1", "N2"), lonely_psu="adjust")
    two_counts = (pd.Series(sv.Survey(df, two).weights).groupby(df["k2"]).sum() * 1.04).to_dict()
    groups = [["y", "z"], ["y", "x"], ["z", "x"]]
    pairs = [("y", "x"), ("z", "x")]
    for o in (element, element.calibrate({"k2": counts, "N2": size}),
              scan(df, two).calibrate({"k2": two_counts})):
        for by in ("dom", None):
            *tots, ratios = o.totals(groups, by=by, ratios=pairs)
            for got, group in zip(tots, groups):
                same(got, o.total(group, by=by, na="drop"))
            for j, (y, x) in enumerate(pairs):
                want = o.ratio(y, x, by=by, na="drop")
                assert ratios.variables[j] == f"{y}/{x}"
                np.testing.assert_allclose(ratios.point[:, j], want.point[:, 0], rtol=1e-12)
                np.testing.assert_allclose(ratios.cov[:, j, j], want.cov[:, 0, 0], rtol=1e-10)
                np.testing.assert_array_equal(ratios.n[:, j], want.n[:, 0])
    with pytest.raises(ColumnError, match="pair that is one of the groups"):
        element.totals(groups, ratios=[("x", "y")])
