"""Benchmark: the national-scale path (DuckDB, out of core) at 1M, 10M and 30M firms.

Workload (issue 18): a synthetic national register (:mod:`survey.datasets.national`)
of N firms, then, each step in a fresh Python process with
``Engine(memory_limit="4GB")``, time and peak RSS (``VmHWM``; ``ru_maxrss``
where /proc is absent) of

==========  ==================================================================
generate    write the register to Parquet in chunks of 500,000 firms
prn         copy it with the permanent random numbers (batches of 250,000 ids)
check       register checks in SQL: missing/duplicate ids, USCC check
            character, sizes, stratum codes
moments     allocation inputs: N, sum and sum of squares of last year's revenue
            per stratum (city x industry x 3 size classes of the take-some part,
            about 30,000 strata)
select      PRN selection (SRSWOR, window function), 2% per stratum (at least 2)
returns     one quarter's returns (year to date) of the take-all and sampled firms
estimate    stratified design (take-all stratum + sampled strata, fpc) on the
            returns: totals of two variables by province with SEs, from Parquet
            (the design pass once, the estimate best of three)
raw         DuckDB's own aggregate for the same sums (per stratum x province:
            sum, sum of squares; best of three), the floor the estimate is compared with
spark       (not by default: ``--steps spark``) the same estimate on PySpark in
            local mode (``local[2]``), reading the same Parquet files
ledger      the quarter's returns file ingested into a fresh ledger inside DuckDB
            (``Ledger.open(engine=...)``: checks in SQL, no pandas frame), then
            the quarter relation (``Ledger.quarter_relation``) scanned: totals by
            province with SEs
national    (``--steps national``) the whole chain of ``survey demo --national``
            (:func:`survey.pipeline.national.run_national`) in its own folder: time,
            rows/s and peak RSS of every step (the peak is reset between steps)
==========  ==================================================================

Run: ``python benchmarks/bench_scale.py`` (1M and 10M), ``--sizes 1000000 10000000
30000000`` for all three, ``--folder`` for the data (default a temporary folder; the
30M files take about 3 GB). Prints one table; ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("generate", "prn", "check", "moments", "select", "returns", "estimate")
MEMORY = "4GB"
BOUNDS = (1000.0, 5000.0)  # size classes of last year's revenue (thousand yuan)


def peak_mb() -> float:
    """Peak resident memory of this process since it started (MB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Reset this process's peak RSS (VmHWM), so the next step's peak is its own (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _engine(folder: Path):
    from survey.engine import Engine

    return Engine(memory_limit=MEMORY, temp_directory=str(folder / "spill"))


def step(name: str, n: int, folder: Path) -> dict:
    """Run one step in this process; return its figures (time in seconds, extra facts)."""
    import duckdb

    reg = folder / "register.parquet"
    prn = folder / "register_prn.parquet"
    sample = folder / "sample.parquet"
    period = "2018Q2"
    out: dict = {"step": name, "n_firms": n}
    t0 = time.perf_counter()
    if name == "generate":
        from survey.datasets.national import generate_national_register

        generate_national_register(reg, n, seed=2018)
    elif name == "prn":
        from survey.plan.sql import write_prn

        write_prn(str(reg), prn, seed=0, batch_size=250_000, engine=_engine(folder))
    elif name == "check":
        from survey.register.sql import check_frame

        rep = check_frame(str(prn), size="revenue_prev_year", strata=["city", "industry"],
                          engine=_engine(folder), raise_errors=False)
        out["problems"] = {r.check: int(r.count) for r in rep.table.itertuples() if r.count}
    elif name in ("moments", "select"):
        from survey.engine import Engine
        from survey.register.sql import size_class_sql, stratum_moments

        con = duckdb.connect()
        eng = Engine(connection=con, memory_limit=MEMORY, temp_directory=str(folder / "spill"))
        view = (
            f"SELECT *, {size_class_sql('revenue_prev_year', BOUNDS)} AS size_class "
            f"FROM read_parquet('{prn}') WHERE NOT above_size AND revenue_prev_year IS NOT NULL"
        )
        mom = stratum_moments(con.sql(view), ["revenue_prev_year"], strata=["city", "industry", "size_class"],
                              engine=eng)
        out["strata"] = len(mom)
        if name == "select":
            from survey.plan.sql import select_prn

            n_h = mom[["city", "industry", "size_class"]].assign(
                n=(mom["N"] * 0.02).round().clip(lower=2).clip(upper=mom["N"]).astype(int))
            t0 = time.perf_counter()  # selection only
            sel = select_prn(con.sql(view), n_h, strata=["city", "industry", "size_class"],
                             columns=["firm_id", "province", "industry"], output=sample, engine=eng)
            out["sample"] = sel.n
    elif name == "returns":
        from survey.datasets.national import generate_national_returns

        paths = generate_national_returns(reg, folder, [period], sample=sample, seed=2019)
        out["returns"] = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{paths[0]}')").fetchall()[0][0]
    elif name == "estimate":
        import survey as sv
        from survey.engine import Engine
        from survey.estimation.outofcore import scan

        con = duckdb.connect()
        eng = Engine(connection=con, memory_limit=MEMORY, temp_directory=str(folder / "spill"))
        returns = folder / f"returns_{period}.parquet"
        design = (
            f"SELECT firm_id, province, stratum, design_weight, N_h FROM read_parquet('{sample}') "
            f"UNION ALL SELECT firm_id, province, 'take_all' AS stratum, 1.0 AS design_weight, "
            f"COUNT(*) OVER () AS N_h FROM read_parquet('{prn}') WHERE above_size"
        )
        con.execute(f"CREATE TEMP VIEW units AS SELECT r.*, d.province, d.stratum, d.design_weight, d.N_h "
                    f"FROM read_parquet('{returns}') r JOIN ({design}) d USING (firm_id)")
        t0 = time.perf_counter()
        s = scan(con.sql("SELECT * FROM units"), sv.Design(strata="stratum", weights="design_weight", fpc="N_h"),
                 engine=eng)
        t_design = time.perf_counter() - t0
        raw_sql = (
            "SELECT stratum, province, COUNT(*) AS n, "
            "SUM(CASE WHEN isfinite(gross_output_ytd) THEN design_weight * gross_output_ytd ELSE 0 END) AS s0, "
            "SUM(CASE WHEN isfinite(revenue_ytd) THEN design_weight * revenue_ytd ELSE 0 END) AS s1, "
            "SUM(CASE WHEN isfinite(gross_output_ytd) THEN (design_weight * gross_output_ytd) ^ 2 ELSE 0 END) AS q0, "
            "SUM(CASE WHEN isfinite(gross_output_ytd) AND isfinite(revenue_ytd) THEN design_weight ^ 2 * "
            "gross_output_ytd * revenue_ytd ELSE 0 END) AS q01, "
            "SUM(CASE WHEN isfinite(revenue_ytd) THEN (design_weight * revenue_ytd) ^ 2 ELSE 0 END) AS q1 "
            "FROM units GROUP BY stratum, province"
        )
        t_total, t_raw = [], []
        for _ in range(3):  # best of three: the machine is shared
            t1 = time.perf_counter()
            est = s.total(["gross_output_ytd", "revenue_ytd"], by="province", na="drop")
            t_total.append(time.perf_counter() - t1)
            t2 = time.perf_counter()
            con.sql(raw_sql).df()
            t_raw.append(time.perf_counter() - t2)
        t_total, t_raw = min(t_total), min(t_raw)
        out.update(design_pass=round(t_design, 2), estimate=round(t_total, 2), raw=round(t_raw, 2),
                   ratio=round(t_total / t_raw, 2), units=len(s), strata=len(s.strata()),
                   cv_total=float(est.cv.max()))
    elif name == "spark":
        # the same estimate on Spark (local mode): the same SQL text, Spark reads the Parquet files
        import survey as sv
        from survey.engine import Engine
        from survey.estimation.outofcore import scan

        # the sample file has both N_h and n_h (Selection's columns): Spark folds case unless told not to
        eng = Engine(kind="spark", spark_master="local[2]", memory_limit=MEMORY,
                     temp_directory=str(folder / "spill"), spark_config={"spark.sql.caseSensitive": "true"})
        ses = eng.session()
        t_start = time.perf_counter() - t0
        spark = ses.connection
        spark.read.parquet(str(sample)).createOrReplaceTempView("sample")
        spark.read.parquet(str(prn)).createOrReplaceTempView("register")
        spark.read.parquet(str(folder / f"returns_{period}.parquet")).createOrReplaceTempView("returns")
        spark.sql(
            "CREATE OR REPLACE TEMP VIEW units AS SELECT r.*, d.province, d.stratum, d.design_weight, d.N_h "
            "FROM returns r JOIN (SELECT firm_id, province, stratum, design_weight, N_h FROM sample "
            "UNION ALL SELECT firm_id, province, 'take_all' AS stratum, 1.0 AS design_weight, "
            "COUNT(*) OVER () AS N_h FROM register WHERE above_size) d USING (firm_id)"
        )
        t1 = time.perf_counter()
        s = scan("units", sv.Design(strata="stratum", weights="design_weight", fpc="N_h"), engine=eng)
        est = s.total(["gross_output_ytd", "revenue_ytd"], by="province", na="drop")
        out.update(session_start=round(t_start, 1), design_and_estimate=round(time.perf_counter() - t1, 1),
                   cv_total=float(est.cv.max()))
        eng.close()
    elif name == "ledger":
        import survey as sv
        from survey.estimation.outofcore import scan
        from survey.form import DEMO_FORM
        from survey.returns.ledger import Ledger

        db = folder / "bench_ledger.duckdb"
        db.unlink(missing_ok=True)
        with Ledger.open(db, form=DEMO_FORM, engine=_engine(folder)) as ledger:
            report = ledger.ingest(folder / f"returns_{period}.parquet", period, "bureau")
            out["ingest"] = round(time.perf_counter() - t0, 2)
            out["rows"] = report.rows
            out["values"] = report.values_written
            t1 = time.perf_counter()
            quarter = ledger.quarter_relation(period, register=False)
            con = quarter.engine.session()
            con.execute(f"CREATE TEMP TABLE sv_units AS SELECT q.*, d.province, d.stratum, "
                        f"d.design_weight, d.N_h FROM ({quarter.sql}) q JOIN (SELECT firm_id, "
                        f"province, stratum, CAST(design_weight AS DOUBLE) AS design_weight, "
                        f"CAST(N_h AS DOUBLE) AS N_h FROM read_parquet('{sample}') UNION ALL "
                        f"SELECT firm_id, province, 'take_all', 1.0, CAST(COUNT(*) OVER () AS DOUBLE) "
                        f"FROM read_parquet('{prn}') WHERE above_size) d USING (firm_id)")
            s = scan("sv_units", sv.Design(strata="stratum", weights="design_weight", fpc="N_h",
                                           lonely_psu="adjust"),  # respondents only
                     engine=quarter.engine)
            s.total(["gross_output_ytd", "revenue_ytd"], by="province", na="drop")
            out["quarter_scan"] = round(time.perf_counter() - t1, 2)
        out["ledger_mb"] = round(db.stat().st_size / 1e6)
    elif name == "national":
        from survey.pipeline.national import NATIONAL_STEPS, run_national

        steps: dict = {}
        clock = [time.perf_counter()]

        def record(line: str) -> None:
            words = line.split()
            if words and words[0] in NATIONAL_STEPS:
                steps[words[0]] = {"seconds": round(time.perf_counter() - clock[0], 1),
                                   "peak_mb": round(peak_mb())}
                _reset_peak()
            clock[0] = time.perf_counter()

        _reset_peak()
        result = run_national(folder / "national", firms=n, engine=_engine(folder), restart=True,
                              progress=record)
        out["steps"] = {r.step: {**steps.get(r.step, {}), "rows": int(r.rows)}
                        for r in result.steps.itertuples()}
    else:
        raise SystemExit(f"unknown step {name}")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(peak_mb())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--steps", nargs="*", default=list(STEPS))
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step is not None:  # a child process: one step
        print(json.dumps(step(args.step, args.n, args.folder)))
        return
    base = args.folder or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    rows = []
    print(f"{'firms':>11} {'step':<9} {'seconds':>8} {'peak MB':>8}  notes")
    for n in args.sizes:
        folder = base / f"n{n}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.steps:
            proc = subprocess.run([sys.executable, __file__, "--step", name, "--n", str(n), "--folder", str(folder)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-2000:])
                raise SystemExit(f"step {name} failed at {n} firms")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            notes = {k: v for k, v in row.items() if k not in ("step", "n_firms", "seconds", "peak_mb")}
            print(f"{n:>11,} {name:<9} {row['seconds']:>8.1f} {row['peak_mb']:>8}  {notes}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
