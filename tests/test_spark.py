"""The same SQL text on Spark (PySpark local mode): estimates, register checks, PRN selection.

One local Spark session for the module (``local[2]``). Skipped, with the
reason, when PySpark or Java is absent: ``pip install survey-toolkit[spark]``
and Java 17 or later (Debian: ``openjdk-17-jre-headless``).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.datasets import load_register
from survey.engine import Engine
from survey.estimation.weighting import calibrate
from survey.estimation.outofcore import scan
from survey.plan.selection import permanent_random_numbers, select
from survey.plan.sql import select_prn
from survey.register.sql import check_frame, stratum_moments, valid_uscc_table

from .conftest import load
from .test_engine import same

pytestmark = pytest.mark.spark

try:
    import pyspark  # noqa: F401

    _HAVE_PYSPARK = True
except ImportError:  # pragma: no cover - depends on the environment
    _HAVE_PYSPARK = False
_HAVE_JAVA = shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="module")
def spark_engine():
    if not _HAVE_PYSPARK:
        pytest.skip("PySpark is not installed: pip install 'survey-toolkit[spark]'")
    if not _HAVE_JAVA:
        pytest.skip("Java 17+ is not installed (no java on PATH, no JAVA_HOME): apt-get install openjdk-17-jre-headless")
    eng = Engine(kind="spark", spark_master="local[2]", memory_limit="2GB",
                 spark_config={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield eng
    eng.close()


def test_spark_session_settings(spark_engine):
    s = spark_engine.session()
    assert s.kind == "spark"
    assert s.setting("memory_limit") == "1907m"
    assert s.sql("SELECT 1 + 1 AS two")["two"].item() == 2


def test_estimates_on_spark_equal_the_in_memory_survey(spark_engine, tmp_path):
    """svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat) on Spark:
    totals and ratios by domain, before and after calibration, from a Parquet file (raking and
    proportions use the same queries and are checked on DuckDB in test_engine)."""
    strat = load("apistrat")
    strat.to_parquet(tmp_path / "apistrat.parquet")
    d = sv.Design(strata="stype", weights="pw", fpc="fpc")
    m = sv.Survey(strat, d)
    o = scan(str(tmp_path / "apistrat.parquet"), d, engine=spark_engine)
    same(o.total(["enroll", "api00"], by="awards"), m.total(["enroll", "api00"], by="awards"))
    same(o.ratio("api00", "api99", by="stype"), m.ratio("api00", "api99", by="stype"))
    pop = load("apipop")
    tot = {"stype": pop["stype"].value_counts().to_dict(), "enroll": float(pop["enroll"].sum())}
    same(o.calibrate(tot).total("api00", by="awards"), calibrate(m, tot).total("api00", by="awards"))


def test_two_stage_and_lonely_psu_on_spark(spark_engine):
    """svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2) and a lonely PSU ("adjust")."""
    c2 = load("apiclus2")
    d2 = sv.Design(clusters=("dnum", "snum"), fpc=("fpc1", "fpc2"))
    same(scan(c2, d2, engine=spark_engine).mean("api00", by="stype"), sv.Survey(c2, d2).mean("api00", by="stype"))
    one = load("lonely_sample")
    dl = sv.Design(strata="stype", weights="pw", lonely_psu="adjust")
    same(scan(one, dl, engine=spark_engine).total("enroll"), sv.Survey(one, dl).total("enroll"))


def test_register_work_on_spark(spark_engine):
    """USCC check character, register checks, stratum moments and PRN selection on Spark."""
    reg = load_register(2006).iloc[:8000].copy()
    ids = pd.Series(list(reg["firm_id"]) + ["91450100MA5KA1B2C0", "914501", None], dtype=object)
    got = valid_uscc_table(pd.DataFrame({"firm_id": ids}), engine=spark_engine)
    expect = sv.valid_uscc(ids.astype(str).to_numpy())
    expect[ids.isna().to_numpy()] = False
    np.testing.assert_array_equal(got.set_index("id").loc[ids.dropna(), "valid"].to_numpy(),
                                  expect[ids.notna().to_numpy()])
    assert check_frame(reg, size="employees", strata="county", engine=spark_engine).ok
    mom = stratum_moments(reg, ["employees"], strata="industry", engine=spark_engine)
    np.testing.assert_array_equal(mom["N"].to_numpy(), reg.groupby("industry").size().to_numpy())
    reg["prn"] = permanent_random_numbers(reg["firm_id"], seed=4)
    ref = select(reg, 5, strata="county", start=0.3, rotation=0.2, period=2, seed=1)
    got = select_prn(reg, 5, strata="county", start=0.3, rotation=0.2, period=2, engine=spark_engine)
    assert sorted(got.data["firm_id"]) == sorted(ref.data["firm_id"])
    a = got.data.set_index("firm_id").sort_index()
    b = ref.data.set_index("firm_id").sort_index()
    np.testing.assert_array_equal(a["design_weight"].to_numpy(), b["design_weight"].to_numpy())


def test_edit_rules_with_log_and_sqrt_on_spark_equal_check(spark_engine):
    """Spark's ln(0), ln(-1) and log10 of negatives are NULL where numpy gives -inf and NaN:
    the SQL of the rules says numpy's results, so the check on Spark equals the in-memory
    check, counts and failing units."""
    from survey.returns.rules import check
    from survey.returns.sql.rules import check_sql

    df = pd.DataFrame({"firm_id": list("abcdefg"),
                       "x": [0.0, -1.0, 4.0, np.nan, np.inf, -np.inf, 100.0]})
    rules = ["log(x) < 3", "sqrt(x) >= 0", "log10(x) <= 1", "not (log(x) > -1)"]
    want = check(df, rules, id="firm_id")
    got = check_sql(spark_engine.session(), df, rules, id="firm_id")
    pd.testing.assert_frame_equal(got.summary, want.summary)
    assert (got.failures[["firm_id", "rule"]].values.tolist()
            == want.failures[["firm_id", "rule"]].values.tolist()
            == [["g", "log(x) < 3"], ["g", "log10(x) <= 1"], ["c", "not (log(x) > -1)"],
                ["g", "not (log(x) > -1)"]])
