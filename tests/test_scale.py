"""Out of core for real: a 2-million-firm register estimated by DuckDB capped at 200 MB.

The estimation runs in a fresh process (so its peak memory can be measured)
with ``Engine(memory_limit="200MB")``; the units are read from Parquet on
every pass and never loaded into pandas. The same estimates from the
in-memory :class:`survey.Survey` on the same data must agree to 1e-10.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.datasets.national import generate_national_register
from survey.estimation.weighting import calibrate
from survey.plan.selection import permanent_random_numbers, select

N_FIRMS = 2_000_000
CAL = {"ownership": {"urban collective": 80_000.0, "private": 1_100_000.0, "limited liability": 680_000.0,
                     "other": 140_000.0}, "employees": 6.0e7}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    reg = generate_national_register(folder / "register.parquet", N_FIRMS, seed=3)
    return reg.path, folder


PEAK = textwrap.dedent("""
    def peak_mb():
        # peak RSS of this process since exec (VmHWM); ru_maxrss would include the parent's
        # memory image inherited by fork before exec
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
""")


def _run(script: str) -> dict:
    """Run ``script`` in a fresh Python; it prints one JSON line; add its peak RSS in MB."""
    code = textwrap.dedent(script) + textwrap.dedent("""
        out["rss_mb"] = peak_mb()
        print(json.dumps(out))
    """)
    code = PEAK + code
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_estimation_out_of_core_with_200mb(big):
    """Totals, means and a calibrated total by province on 2M rows with DuckDB limited to 200 MB;
    the process stays far below the data size in pandas, and the numbers equal the in-memory path."""
    path, folder = big
    out = _run(f"""
        import json, numpy as np, duckdb, survey as sv
        from survey.engine import Engine
        from survey.estimation.outofcore import scan
        con = duckdb.connect()
        eng = Engine(connection=con, memory_limit="200MB", threads=2, temp_directory={str(folder / 'spill')!r})
        rel = con.sql("SELECT *, 1.0 + employees % 7 AS w FROM read_parquet('{path}')")
        s = scan(rel, sv.Design(strata="city", weights="w"), engine=eng)
        t = s.total(["revenue_prev_year", "employees"], by="province", na="drop")
        m = s.mean("employees", by=["province", "in_zone"])
        c = s.calibrate({CAL!r}).total("revenue_prev_year", by="in_zone", na="drop")
        out = {{"limit": eng.session().setting("memory_limit"),
               "t": [t.point.tolist(), t.cov.tolist()], "m": [m.point.tolist(), m.cov.tolist()],
               "c": [c.point.tolist(), c.cov.tolist()]}}
    """)
    value, unit = out["limit"].split()
    assert unit == "MiB" and float(value) == pytest.approx(200e6 / 2**20, abs=0.1)
    # the in-memory reference reads the columns the estimates use (the rest cost 1.2 CPU-s)
    df = pd.read_parquet(path, columns=["city", "province", "in_zone", "ownership", "employees",
                                        "revenue_prev_year"])
    df["w"] = 1.0 + df["employees"] % 7
    mem = sv.Survey(df, sv.Design(strata="city", weights="w"))
    ref = {
        "t": mem.total(["revenue_prev_year", "employees"], by="province", na="drop"),
        "m": mem.mean("employees", by=["province", "in_zone"]),
        "c": calibrate(mem, CAL).total("revenue_prev_year", by="in_zone", na="drop"),
    }
    for key, est in ref.items():
        point, cov = (np.asarray(v) for v in out[key])
        np.testing.assert_allclose(point, est.point, rtol=1e-10)
        scale = np.abs(np.diagonal(est.cov, axis1=1, axis2=2)).max()
        assert np.max(np.abs(cov - est.cov)) <= 1e-10 * scale
    # the data in pandas take ~1 GB; the out-of-core process (Python, numpy, pandas, DuckDB) far less
    assert out["rss_mb"] < 600, out["rss_mb"]


@pytest.mark.scale
def test_register_checks_prn_and_selection_out_of_core(big):
    """Register checks (a GROUP BY of 2M ids), PRNs in batches and PRN selection with 200 MB:
    the same invalid-id count as valid_uscc and the same sample as select()."""
    path, folder = big
    out = _run(f"""
        import json, resource, pandas as pd
        from survey.engine import Engine
        steps = {{}}
        def rss(name):
            steps[name] = peak_mb()
        from survey.register.sql import check_frame, stratum_moments
        from survey.plan.sql import write_prn, select_prn
        eng = Engine(memory_limit="200MB", threads=2, temp_directory={str(folder / 'spill')!r})
        rep = check_frame({str(path)!r}, size="revenue_prev_year", strata="city", engine=eng,
                          raise_errors=False)
        rss("check")
        prn = write_prn({str(path)!r}, {str(folder / 'register_prn.parquet')!r}, seed=9, batch_size=250_000,
                        engine=eng)
        rss("prn")
        mom = stratum_moments(str(prn), ["employees"], strata=["province", "industry"], engine=eng)
        n = mom[["province", "industry"]].assign(n=(mom["N"] // 200).clip(lower=1))
        sel = select_prn(str(prn), n, strata=["province", "industry"], engine=eng)
        rss("select")
        out = {{"checks": rep.table[["check", "count"]].values.tolist(), "steps": steps,
               "sample": sorted(sel.data["firm_id"].tolist()), "n_strata": len(n)}}
    """)
    checks = dict((k, v) for k, v in out["checks"])
    df = pd.read_parquet(path, columns=["firm_id", "revenue_prev_year", "province", "industry"])
    assert checks["duplicate id"] == 0 and checks["invalid id"] == int((~sv.valid_uscc(df["firm_id"].to_numpy())).sum())
    assert checks["missing size"] == int(df["revenue_prev_year"].isna().sum())
    df["prn"] = permanent_random_numbers(df["firm_id"], seed=9)
    N = df.groupby(["province", "industry"]).size().rename("N").reset_index()
    n = N[["province", "industry"]].assign(n=(N["N"] // 200).clip(lower=1))
    ref = select(df, n, strata=["province", "industry"], seed=1)
    assert out["sample"] == sorted(ref.data["firm_id"].tolist())
    assert out["rss_mb"] < 900, out["steps"]
