"""Lonely PSUs everywhere as R: JKn replicates, strata lonely within a domain, the report of
touched strata, collapsing strata.

R numbers: tests/reference/wave2/lonely_replicates.R -> lonely_replicates_expected.csv and the
JKn analysis replicate weights data/lonely_jkn_<rule>[_fpc]_repweights.csv.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.estimation.replicate_weights import replicate_weights

from .wave2_reference import close, data, ref

RULES = ["remove", "adjust", "average", "certainty"]


def _design(rule: str, fpc: bool, in_domain: bool = False) -> sv.Design:
    if fpc:
        return sv.Design(strata="REG", fpc="N_REG", lonely_psu=rule, lonely_psu_in_domain=in_domain)
    return sv.Design(strata="REG", weights="weight", lonely_psu=rule, lonely_psu_in_domain=in_domain)


def _r(case: str, quantity: str, variable: str, rule: str, domain: str = "", adl: str = "FALSE") -> float:
    return ref("lonely_replicates", case, quantity, variable, domain, lonely_psu=rule, adjust_domain_lonely=adl)


@pytest.mark.parametrize("fpc", [False, True])
@pytest.mark.parametrize("rule", RULES)
def test_jkn_replicates_follow_as_svrepdesign(rule, fpc):
    """options(survey.lonely.psu = rule); d <- svydesign(id = ~1, strata = ~REG, weights = ~weight |
    fpc = ~N_REG, data = lonely_mu284); rep <- as.svrepdesign(d, type = "JKn");
    svytotal / svymean(~RMT85 + REV84, rep); rep$scale; rep$rscales; degf(rep); weights(rep, "analysis").
    remove/certainty: no replicate for the lonely stratum; average: none and scale = PSUs / replicates;
    adjust: one extra replicate (PSU deleted, all other units x H/(H-1), rscale (H-1)/H)."""
    df = data("lonely_mu284")
    tag = "_fpc" if fpc else ""
    s = sv.Survey(df, _design(rule, fpc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # JKn follows R: no "no replicate analogue" warning
        r = s.replicate("jkn")
    for est, what in ((r.total(["RMT85", "REV84"]), "total"), (r.mean(["RMT85", "REV84"]), "mean")):
        for j, v in enumerate(["RMT85", "REV84"]):
            assert close(est.se[j], _r(f"jkn{tag}_{what}", "se", v, rule))
    lin = s.total(["RMT85", "REV84"])
    for j, v in enumerate(["RMT85", "REV84"]):
        assert close(lin.se[j], _r(f"lin{tag}_total", "se", v, rule))
    rep = r.replicates
    assert close(rep.scale, _r(f"jkn{tag}_design", "scale", "", rule))
    assert rep.n_replicates == _r(f"jkn{tag}_design", "n_replicates", "", rule)
    assert rep.df == _r(f"jkn{tag}_design", "degf", "", rule)
    r_rscales = [_r(f"jkn{tag}_design", "rscale", str(k + 1), rule) for k in range(rep.n_replicates)]
    assert np.allclose(np.sort(rep.rscales), np.sort(r_rscales), rtol=1e-12)
    ours = np.sort(replicate_weights(rep).T, axis=0)
    theirs = data(f"lonely_jkn_{rule}{tag}_repweights").drop(columns="LABEL").to_numpy().T
    assert np.allclose(np.sort(np.round(ours, 10), axis=0), np.sort(np.round(np.sort(theirs, axis=0), 10), axis=0))
    # the same columns, in any order (R numbers replicates by stratum appearance)
    as_set = lambda W: sorted(map(tuple, np.round(W, 8).tolist()))  # noqa: E731
    assert as_set(replicate_weights(rep).T) == as_set(theirs)


@pytest.mark.parametrize("fpc", [False, True])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("in_domain", [False, True])
def test_lonely_psu_in_domain(in_domain, rule, fpc):
    """options(survey.lonely.psu = rule, survey.adjust.domain.lonely = FALSE / TRUE);
    svyby(~RMT85, ~size, d, svytotal / svymean) on lonely_domain_mu284, where "large" has one
    sampled unit in strata 2 and 5 and none in 6: adjust leaves the single PSU uncentred,
    average drops the stratum and scales by H_d / H_d,ok; remove/certainty unchanged."""
    df = data("lonely_domain_mu284")
    s = sv.Survey(df, _design(rule, fpc, in_domain))
    tag = "_fpc" if fpc else ""
    for f, fn in ((s.total, "svytotal"), (s.mean, "svymean")):
        for _, row in f("RMT85", by="size").table().iterrows():
            r = _r(f"domain{tag}_{fn}_by_size", "se", "RMT85", rule, row["size"], str(in_domain).upper())
            assert close(row.se, r)


def test_lonely_strata_reports_every_rule():
    """Survey.lonely_strata(): the strata each rule touched, at design, replicate and domain level."""
    df = data("lonely_mu284")
    s = sv.Survey(df, _design("adjust", False))
    t = s.lonely_strata()
    assert t.stratum.tolist() == [7] and t.level.tolist() == ["design"] and t.rule.tolist() == ["adjust"]
    r = s.replicate("jkn").lonely_strata()
    assert r.level.tolist() == ["design", "replicates"]
    assert "extra replicate" in r.action.iloc[1]
    avg = sv.Survey(df, _design("average", False)).replicate("jkn").lonely_strata()
    assert "scale" in avg.action.iloc[1]
    dom = data("lonely_domain_mu284")
    d = sv.Survey(dom, _design("average", False, True)).lonely_strata(by="size")
    assert sorted(d.stratum.tolist()) == [2, 5]
    assert set(d["size"]) == {"large"} and set(d.level) == {"domain"}
    off = sv.Survey(dom, _design("average", False, False)).lonely_strata(by="size")
    assert off.action.str.startswith("none").all()


def test_other_replicate_methods_warn_honestly():
    """Bootstrap and BRR have no R rule for lonely strata: zero variance, with a warning that
    says so (and no claim about R)."""
    df = data("lonely_mu284")
    with pytest.warns(sv.SurveyWarning, match="applied to bootstrap replicates as 'remove'"):
        sv.Survey(df, _design("adjust", False)).replicate("bootstrap", replicates=20, seed=1)


def test_collapse_strata_pairs_lonely_stratum_with_nearest_key():
    """collapse_strata(survey, key): the lonely stratum REG 7 joins its nearest neighbour by key
    (here the region code: 6 and 8 tie, the previous wins); the audit table lists the merge; the new
    design is the stratified design on the merged strata, population sizes added."""
    df = data("lonely_mu284")
    s = sv.Survey(df, _design("remove", True))
    out = sv.collapse_strata(s, "REG")
    assert out.table.stratum.tolist() == [6, 7]
    assert set(out.table.collapsed_stratum) == {"6+7"}
    assert out.table.lonely.tolist() == [False, True]
    assert out.survey.design.strata == "collapsed_stratum"
    assert out.survey.lonely_strata().empty
    merged = df.assign(h=np.where(df.REG.isin([6, 7]), "6+7", df.REG.astype(str)),
                       N=np.where(df.REG.isin([6, 7]), df[df.REG.isin([6, 7])].drop_duplicates("REG").N_REG.sum(),
                                  df.N_REG))
    direct = sv.Survey(merged.assign(w=s.weights), sv.Design(strata="h", weights="w", fpc="N"))
    assert out.survey.total("RMT85").se[0] == pytest.approx(direct.total("RMT85").se[0], rel=1e-12)
    assert out.survey.total("RMT85").estimate[0] == pytest.approx(s.total("RMT85").estimate[0], rel=1e-12)
    # a numeric key closer to one side wins; a key varying within a stratum is refused
    df2 = df.assign(key=df.REG.map({1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7.9, 8: 8}))
    out2 = sv.collapse_strata(sv.Survey(df2, _design("remove", True)), "key")
    assert set(out2.table.collapsed_stratum) == {"7+8"}
    with pytest.raises(sv.SurveyError, match="varies within stratum"):
        sv.collapse_strata(sv.Survey(df.assign(key=np.arange(len(df))), _design("remove", True)), "key")
    with pytest.raises(sv.SurveyError, match="before weighting"):
        sv.collapse_strata(s.calibrate({}, population_size=284.0), "REG")
    pd.testing.assert_frame_equal(out.data[df.columns], df)
