"""Benchmark of the returns ledger: ingest one quarter of 1,000,000 firms.

Run::

    python benchmarks/bench_ledger.py            # 1,000,000 firms
    python benchmarks/bench_ledger.py --firms 200000

It writes a CSV of year-to-date returns (6 indicators x 2 values), ingests it
into a fresh DuckDB ledger, ingests it again (must be a no-op), reads the
quarter back with ``Ledger.to_frame`` and, when the estimation core is
present, estimates the total gross output with ``survey.Survey``. It prints
rows per second, seconds per step and the database size. Target: the
quarter in under 30 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from survey.form import DEMO_FORM
from survey.register.frame import _USCC_WEIGHTS, USCC_ALPHABET
from survey.returns.ledger import Ledger


def fake_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct valid USCC codes of Guangxi firms (vectorised)."""
    alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
    prefix = np.frombuffer(b"91450100", dtype=np.uint8)
    serial = np.arange(n, dtype=np.int64) * 7919 + int(rng.integers(0, 10**6))
    body = np.empty((n, 9), dtype=np.int64)
    rest = serial.copy()
    for k in range(8, -1, -1):  # base-31 digits of the serial: distinct codes
        body[:, k] = rest % 31
        rest //= 31
    values = np.concatenate([np.tile(prefix - ord("0"), (n, 1)).astype(np.int64), body], axis=1)
    check = (31 - (values @ _USCC_WEIGHTS) % 31) % 31
    chars = np.concatenate(
        [np.tile(prefix, (n, 1)), alphabet[body], alphabet[check][:, None]], axis=1
    ).astype(np.uint8)
    return np.frombuffer(chars.tobytes(), dtype="S18").astype(str)


def make_returns(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.lognormal(7.0, 1.2, n)
    cols = {"firm_id": fake_ids(n, rng)}
    for var in DEMO_FORM.indicators:
        scale = {"export_delivery": 0.2, "profit_tax": 0.08, "employees": 0.01}.get(var, 1.0)
        ytd = np.round(size * scale * rng.lognormal(0, 0.1, n), 1)
        cols[f"{var}_ytd"] = ytd
        cols[f"{var}_ytd_last_year"] = np.round(ytd / rng.lognormal(0.1, 0.1, n), 1)
    return pd.DataFrame(cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "returns_2006Q1.csv"
        t = time.perf_counter()
        frame = make_returns(args.firms)
        frame.to_csv(csv, index=False)
        print(f"generated {args.firms:,} returns ({csv.stat().st_size / 1e6:.0f} MB CSV) "
              f"in {time.perf_counter() - t:.1f} s")
        db = Path(tmp) / "ledger.duckdb"
        with Ledger.open(db, form=DEMO_FORM) as ledger:
            t = time.perf_counter()
            report = ledger.ingest(csv, "2006Q1", "bureau", author="bench")
            ingest = time.perf_counter() - t
            print(report)
            print(f"ingest: {ingest:.1f} s, {args.firms / ingest:,.0f} rows/s, "
                  f"{report.values_written / ingest:,.0f} values/s")
            t = time.perf_counter()
            again = ledger.ingest(csv, "2006Q1", "bureau", author="bench")
            print(f"re-ingest (same file): {again.status} in {time.perf_counter() - t:.1f} s")
            t = time.perf_counter()
            wide = ledger.to_frame("2006Q1")
            read = time.perf_counter() - t
            print(f"to_frame: {len(wide):,} rows x {wide.shape[1]} columns in {read:.1f} s")
        print(f"database size: {db.stat().st_size / 1e6:.0f} MB")
        try:
            import survey as sv

            t = time.perf_counter()
            wide["w"] = 1.0
            est = sv.Survey(wide, sv.Design(weights="w")).total(["gross_output"])
            print(f"Survey total gross_output: {est.estimate[0]:,.0f} "
                  f"in {time.perf_counter() - t:.1f} s")
        except (ImportError, AttributeError) as exc:  # estimation core not there yet
            print(f"estimation skipped: {exc}")
        print(f"TOTAL ingest + read: {ingest + read:.1f} s (target < 30 s)")


if __name__ == "__main__":
    main()
