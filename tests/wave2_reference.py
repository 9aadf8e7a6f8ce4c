"""Readers of the wave-2 R reference numbers (tests/reference/wave2, see its README section)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

WAVE2 = Path(__file__).parent / "reference" / "wave2"


@lru_cache(maxsize=None)
def expected(name: str) -> pd.DataFrame:
    """``tests/reference/wave2/<name>_expected.csv`` as strings (empty extra columns kept)."""
    return pd.read_csv(WAVE2 / f"{name}_expected.csv", keep_default_na=False, dtype=str)


def ref(name: str, case: str, quantity: str, variable: str = "", domain: str = "", **extra: str) -> float:
    """One R number: the row with this case, quantity, variable, domain (and extra columns)."""
    e = expected(name)
    sel = (e.case == case) & (e.quantity == quantity) & (e.variable == variable) & (e.domain == domain)
    for col, val in extra.items():
        sel &= e[col] == str(val)
    rows = e[sel]
    assert len(rows) == 1, (name, case, quantity, variable, domain, extra, len(rows))
    v = rows.value.iloc[0]
    return float("nan") if v in ("NaN", "NA") else float(v)


def data(name: str, **kwargs) -> pd.DataFrame:
    """A wave-2 data file (``tests/reference/wave2/data/<name>.csv``)."""
    return pd.read_csv(WAVE2 / "data" / f"{name}.csv", **kwargs)


def close(a: float, b: float, rel: float = 1e-8) -> bool:
    """Relative agreement (both NaN counts as agreement)."""
    if np.isnan(a) and np.isnan(b):
        return True
    return abs(a - b) <= rel * max(abs(b), 1e-300)
