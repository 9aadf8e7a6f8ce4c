"""The sparse outside-the-domain part of the out-of-core calibrated variance
(survey.estimation.outofcore_variance.calibrated_element_variance): strata nested in the
calibration cells (each stratum one cell: the per-(domain, cell) sums and the centred
stratum moments), strata spanning several cells (the dense path), many domains crossing
the strata, an auxiliary that nearly predicts the variable, a take-all stratum, missing
values and a subset: the covariances equal the in-memory Survey's to 1e-10."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.estimation.outofcore import scan
from survey.estimation.weighting import calibrate

from .test_engine import same


def _frame(nested: bool, noise: float, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2500
    cell = rng.choice(list("PQRS"), n)
    h = rng.integers(0, 12, n)
    df = pd.DataFrame({"cell": cell, "h": (np.char.add(cell.astype(str), h.astype(str)) if nested
                                           else h.astype(str)),
                       "x": rng.gamma(2.0, 40.0, n), "dom": rng.integers(0, 45, n)})
    df.loc[df["h"].isin(["P0", "0"]), "h"] = "census"
    n_h = df.groupby("h")["h"].transform("size")
    df["N"] = np.where(df["h"] == "census", n_h, n_h * (3 + rng.integers(0, 3, n).max()))
    df["y"] = 2.5 * df["x"] + rng.normal(0.0, noise, n)
    df.loc[rng.choice(n, 40, replace=False), "y"] = np.nan
    return df


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("noise", [10.0, 1e-4])
def test_calibrated_domains_equal_the_in_memory_survey(nested, noise):
    df = _frame(nested, noise)
    d = sv.Design(strata="h", fpc="N")
    m = sv.Survey(df, d)
    w = pd.Series(m.weights)
    tot = {"cell": (w.groupby(df["cell"]).sum() * 1.03).to_dict(), "x": float((w * df["x"]).sum() * 0.98)}
    o, mc = scan(df, d).calibrate(tot), calibrate(m, tot)
    same(o.total(["y", "x"], by="dom", na="drop"), mc.total(["y", "x"], by="dom", na="drop"))
    same(o.total("y", by=["dom", "cell"], na="drop"), mc.total("y", by=["dom", "cell"], na="drop"))
    same(o.total("y", na="drop"), mc.total("y", na="drop"))
    same(o.ratio("y", "x", by="cell", na="drop"), mc.ratio("y", "x", by="cell", na="drop"))

