"""Weighting, second wave: partial post-stratification and R's trimming rule, against R survey 4.1.1.

R numbers: tests/reference/wave2/poststratify_partial.R and trim.R (tests/reference/README.md, "Wave 2").
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.errors import CalibrationError, WeightError

from .conftest import load
from .wave2_reference import close, data, ref

PS_DESIGNS = {
    "srs": ("apisrs", sv.Design(weights="pw", fpc="fpc")),
    "clus1": ("apiclus1", sv.Design(clusters="dnum", weights="pw", fpc="fpc")),
}


def _counts() -> dict:
    pop = data("poststrat_pop_cname")
    return dict(zip(pop.cname, pop.Freq))


@pytest.mark.parametrize("which", ["srs", "clus1"])
def test_poststratify_partial_matches_r(which):
    """ps <- postStratify(d, ~cname, poststrat_pop_cname, partial = TRUE) with d = dsrs / dclus1:
    sum(weights(ps)) (the present cells only), cell weights, svytotal / svymean(~enroll + api00, ps),
    svyby(~enroll, ~stype, ps, svytotal), svyby(~api00, ~stype, ps, svymean)."""
    file, design = PS_DESIGNS[which]
    df = load(file)
    with pytest.warns(sv.SurveyWarning, match="no sample unit and are dropped: 'Amador'"):
        ps = sv.Survey(df, design).poststratify("cname", _counts(), partial=True)
    case = f"{which}_ps_partial"
    assert close(ps.weights.sum(), ref("poststratify_partial", f"{case}_weights", "weight_sum"))
    assert close(ps.weights.sum(), ref("poststratify_partial", f"{case}_weights", "pop_present"))
    assert close(ps.weights.min(), ref("poststratify_partial", f"{case}_weights", "weight_min"))
    assert close(ps.weights.max(), ref("poststratify_partial", f"{case}_weights", "weight_max"))
    cell = pd.Series(ps.weights).groupby(df.cname.to_numpy()).first()
    for name, w in cell.items():
        assert close(w, ref("poststratify_partial", f"{case}_cell_weight", "weight", "", name))
    for est, what in ((ps.total(["enroll", "api00"]), "total"), (ps.mean(["enroll", "api00"]), "mean")):
        for j, v in enumerate(["enroll", "api00"]):
            assert close(est.estimate[j], ref("poststratify_partial", f"{case}_{what}", "estimate", v))
            assert close(est.se[j], ref("poststratify_partial", f"{case}_{what}", "se", v))
    for f, var, what in ((ps.total, "enroll", "total"), (ps.mean, "api00", "mean")):
        for _, row in f(var, by="stype").table().iterrows():
            assert close(row.se, ref("poststratify_partial", f"{case}_{what}_by_stype", "se", var, row.stype))


def test_poststratify_partial_errors():
    """Without partial=True an absent cell is an error; a sample cell without a count always is."""
    df = load("apisrs")
    s = sv.Survey(df, sv.Design(weights="pw", fpc="fpc"))
    with pytest.raises(CalibrationError, match="no sample unit"):
        s.poststratify("cname", _counts())
    counts = _counts()
    counts.pop("Los Angeles")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CalibrationError, match="Los Angeles"):
            s.poststratify("cname", counts, partial=True)


TRIM = {
    "pps": ("trim_pps_weights", 1.5, 12.0, ["RMT85", "REV84"], "maj"),
    "cal": ("trim_cal_weights", 12.0, 45.0, ["enroll", "api00"], "stype"),
}


def _trim_base(which: str) -> sv.Survey:
    if which == "pps":
        return sv.Survey(data("pps_brewer"), sv.Design(weights="w"))
    pop = load("apipop")
    totals = {"stype": {"E": 6194 - 755 - 1018, "H": 755, "M": 1018}, "api99": float(pop.api99.sum()),
              "enroll": float(pop.enroll.sum())}
    return sv.Survey(load("apistrat"), sv.Design(strata="stype", weights="pw", fpc="fpc")).calibrate(totals)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("which", ["pps", "cal"])
def test_trim_equal_matches_r(which, strict):
    """dt <- trimWeights(d, upper = , lower = , strict = FALSE / TRUE) on the skewed πps weights
    (dA <- svydesign(id = ~1, weights = ~w, data = pps_brewer), [1.5, 12]) and on the calibrated
    apistrat design ([12, 45]): weights, svytotal, svymean, svyby(svytotal). The variance of the
    calibrated design keeps the calibration residuals (R: the stored greg_calibration)."""
    file, lower, upper, ys, by = TRIM[which]
    s = _trim_base(which)
    w_ref = data(file)
    assert np.allclose(s.weights, w_ref.w_before, rtol=1e-10)
    t = s.trim_weights(lower, upper, method="equal", strict=strict)
    col = "w_strict" if strict else "w_nonstrict"
    assert np.allclose(t.weights, w_ref[col], rtol=1e-12)
    tag = f"{which}_trim_{'strict' if strict else 'nonstrict'}"
    for q, val in (("weight_sum", t.weights.sum()), ("weight_min", t.weights.min()), ("weight_max", t.weights.max())):
        assert close(val, ref("trim", tag, q, strict=str(strict).upper()))
    for est, what in ((t.total(ys), "total"), (t.mean(ys), "mean")):
        for j, v in enumerate(ys):
            assert close(est.estimate[j], ref("trim", f"{tag}_{what}", "estimate", v, strict=str(strict).upper()))
            assert close(est.se[j], ref("trim", f"{tag}_{what}", "se", v, strict=str(strict).upper()))
    for _, row in t.total(ys, by=by).table().iterrows():
        assert close(row.se, ref("trim", f"{tag}_total_by_{by}", "se", row.variable, str(row[by]),
                                 strict=str(strict).upper()))


def test_trim_strict_gives_shares_to_raised_units():
    """R's strict = TRUE: a unit raised to lower in pass 1 is inside in pass 2 and gets a share
    (min weight 1.5524 > lower 1.5); non-strict leaves weights above upper (R: n_above_upper)."""
    s = _trim_base("pps")
    strict = s.trim_weights(1.5, 12.0, method="equal", strict=True).weights
    loose = s.trim_weights(1.5, 12.0, method="equal").weights
    assert strict.min() > 1.5 and strict.max() <= 12.0 + 1e-12
    assert (loose > 12.0 + 1e-9).sum() == ref("trim", "pps_trim_nonstrict", "n_above_upper", strict="FALSE")


def test_trim_take_all_units_keep_their_weight():
    """Take-all units (here πps certainty units, pi = 1) keep weight 1 by default: never given a
    share of the trimmed amount; take_all="include" treats them as other rows (as R, which does
    not know them)."""
    df = data("pps_brewer")
    s = sv.Survey(df, sv.Design(probs="pi", pps="brewer"))
    cert = df.pi.to_numpy() >= 1
    for method in ("proportional", "equal"):
        kept = s.trim_weights(upper=12.0, method=method, strict=True)
        assert np.all(kept.weights[cert] == 1.0)
        assert kept.weights.sum() == pytest.approx(s.weights.sum(), rel=1e-12)
        assert kept.weights.max() <= 12.0 + 1e-9
        given = s.trim_weights(upper=12.0, method=method, strict=True, take_all="include")
        assert np.all(given.weights[cert] > 1.0)
    # fpc take-all strata too
    st = load("apistrat").assign(fpc=lambda d: np.where(d.stype == "H", 50, d.fpc))
    s2 = sv.Survey(st, sv.Design(strata="stype", weights="pw", fpc="fpc"))
    h = (st.stype == "H").to_numpy()
    out = s2.trim_weights(upper=40.0, method="equal")
    assert np.all(out.weights[h] == s2.weights[h])


def test_trim_default_is_proportional_and_errors():
    """The default rule is proportional (unchanged); bad arguments raise WeightError."""
    s = sv.Survey(pd.DataFrame({"w": [1.0, 2.0, 3.0, 10.0]}), sv.Design(weights="w"))
    assert np.allclose(s.trim_weights(upper=6.0).weights, [10 / 6, 20 / 6, 5.0, 6.0])  # c (1 + 2 + 3) = 10
    assert np.allclose(s.trim_weights(upper=6.0, method="equal").weights, [1 + 4 / 3, 2 + 4 / 3, 3 + 4 / 3, 6.0])
    with pytest.raises(WeightError, match="method"):
        s.trim_weights(upper=6.0, method="r")
    with pytest.raises(WeightError, match="outside"):
        s.trim_weights(upper=0.5, method="equal")
    assert s.trim_weights(upper=6.0, method="equal").calibration_report().method == "equal"
