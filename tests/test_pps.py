"""πps sampling without replacement (``Design(pps=...)``) against R ``svydesign(pps=)``.

R numbers: tests/reference/wave2/pps.R -> pps_expected.csv (MU284, size P85, n = 50 with 4
certainty units; samples drawn in R by sampling::UPbrewer / UPmaxentropy / UPtille / UPpoisson).
Notes on what R computes: r15 notes section 1 and docs/variance.md.

R is followed exactly for Brewer, the exact (joint probability) HT/SYG forms and Poisson
sampling. For Overton's and Hartley-Rao's approximations R keeps a non-zero ``D_ij`` between a
certainty unit and another unit; the exact value is 0 (``pi_ij = pi_j`` when ``pi_i = 1``), and
R's HT totals become negative. Here those pairs get 0: the tests check that R's numbers are
R's documented formula, that ours are the same formula with those pairs at 0, and that the
two agree wherever no certainty unit is involved (the domain without certainty units).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import survey as sv
from survey.errors import DesignError, LonelyPSUError
from survey.plan.selection import inclusion_probabilities, select

from .wave2_reference import close, data, ref

Y = ["RMT85", "REV84", "ME84"]


def _est(case: str, quantity: str, variable: str = "", domain: str = "") -> float:
    return ref("pps", case, quantity, variable, domain)


def _check_all(prefix: str, s: sv.Survey, rel: float = 1e-8) -> None:
    t, m = s.total(Y), s.mean(Y)
    for j, v in enumerate(Y):
        assert close(t.estimate[j], _est(f"{prefix}_total", "estimate", v), rel)
        assert close(t.cov[0, j, j], _est(f"{prefix}_total", "var", v), rel)
        assert close(m.estimate[j], _est(f"{prefix}_mean", "estimate", v), rel)
        assert close(m.cov[0, j, j], _est(f"{prefix}_mean", "var", v), rel)
    r = s.ratio("RMT85", "P85")
    assert close(r.estimate[0], _est(f"{prefix}_ratio", "estimate", "RMT85/P85"), rel)
    assert close(r.cov[0, 0, 0], _est(f"{prefix}_ratio", "var", "RMT85/P85"), rel)
    b = s.total("RMT85", by="maj")
    for i, dom in enumerate(b.domains["maj"]):
        assert close(b.estimate[i], _est(f"{prefix}_total_by_maj", "estimate", "RMT85", dom), rel)
        assert close(b.cov[i, 0, 0], _est(f"{prefix}_total_by_maj", "var", "RMT85", dom), rel)
    b = s.mean("RMT85", by="maj")
    for i, dom in enumerate(b.domains["maj"]):
        assert close(b.se[i], _est(f"{prefix}_mean_by_maj", "se", "RMT85", dom), rel)
    assert s.df == _est(f"{prefix}_degf", "degf")


def _pi2(name: str) -> np.ndarray:
    return data(f"pps_{name}_pi2").to_numpy(dtype=float)


# ---------------------------------------------------------------------------
# R agreement: Brewer, exact joint probabilities, Poisson
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prefix, sample, strata",
    [
        ("brewer_sample_brewer", "brewer", None),
        ("maxent_brewer", "maxent", None),
        ("strat_brewer_brewer", "strat_brewer", "stratum"),
        ("strat_maxent_brewer", "strat_maxent", "stratum"),
    ],
)
def test_brewer_matches_r(prefix, sample, strata):
    """svydesign(id = ~1, [strata = ~stratum,] fpc = ~pi, data = pps_<sample>, pps = "brewer");
    svytotal / svymean(~RMT85 + REV84 + ME84, d); svyratio(~RMT85, ~P85, d);
    svyby(~RMT85, ~maj, d, svytotal / svymean); degf(d)"""
    s = sv.Survey(data(f"pps_{sample}"), sv.Design(strata=strata, probs="pi", pps="brewer"))
    _check_all(prefix, s)


@pytest.mark.parametrize("form", ["HT", "YG"])
@pytest.mark.parametrize(
    "prefix, sample, strata, tolerance, sparse",
    [
        ("maxent_ppsmat_tol0", "maxent", None, 0.0, False),
        ("maxent_ppsmat_tol0", "maxent", None, 0.0, True),
        ("maxent_ppsmat", "maxent", None, 1e-4, False),
        ("tille_ppsmat", "tille", None, 0.0, False),
        ("strat_maxent_ppsmat", "strat_maxent", "stratum", 1e-4, True),
    ],
)
def test_joint_probabilities_match_r(prefix, sample, strata, tolerance, sparse, form):
    """svydesign(id = ~1, [strata = ~stratum,] fpc = ~pi, data = pps_<sample>,
    pps = ppsmat(Pi2[, tolerance = 0]), variance = "HT" / "YG") with Pi2 from
    sampling::UPmaxentropypi2 / UPtillepi2 (pps_<sample>_pi2.csv); the same estimates.
    Dense and scipy.sparse matrices give the same numbers."""
    P = _pi2(sample)
    m = sp.csr_matrix(P) if sparse else P
    design = sv.Design(strata=strata, probs="pi", pps=sv.JointProbabilities(m, tolerance=tolerance), pps_variance=form)
    _check_all(f"{prefix}_{form}", sv.Survey(data(f"pps_{sample}"), design))


def test_sparse_block_diagonal_joint_probabilities():
    """A stratified sample may store only its diagonal blocks: pairs not stored are independent.
    R: svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_maxent, pps = ppsmat(Pi2))"""
    df = data("pps_strat_maxent")
    P = _pi2("strat_maxent")
    same = df.stratum.to_numpy()[:, None] == df.stratum.to_numpy()[None, :]
    blocks = sp.csr_matrix(np.where(same, P, 0.0))
    s = sv.Survey(df, sv.Design(strata="stratum", probs="pi", pps=sv.JointProbabilities(blocks)))
    _check_all("strat_maxent_ppsmat_HT", s)


def test_poisson_matches_r():
    """svydesign(id = ~1, probs = ~pi, data = pps_poisson, pps = poisson_sampling(pps_poisson$pi)):
    V = sum (1 - pi) (y / pi)^2, the exact variance of Poisson sampling."""
    df = data("pps_poisson")
    s = sv.Survey(df, sv.Design(probs="pi", pps="poisson"))
    _check_all("poisson", s)
    x = (df.RMT85 / df.pi).to_numpy()
    assert s.total("RMT85").cov[0, 0, 0] == pytest.approx(np.sum((1 - df.pi) * x**2), rel=1e-12)


# ---------------------------------------------------------------------------
# Overton and Hartley-Rao: R's formula, the certainty fix, and agreement without certainty units
# ---------------------------------------------------------------------------
def _dcheck_r(pi: np.ndarray, strata: np.ndarray, method: str, p2bar: np.ndarray) -> np.ndarray:
    """R's D (r15 notes section 1): Overton / HR off the diagonal, 1 - pi on it, within strata."""
    n_h = pd.Series(strata).map(pd.Series(strata).value_counts()).to_numpy(dtype=float)
    a, b = pi[:, None], pi[None, :]
    n = n_h[:, None]
    if method == "overton":
        D = 1 - (n - (a + b) / 2) / (n - 1)
        D[(a + b) / 2 == 1] = 0.0  # R zeroes pairs of two certainty units
    else:
        D = 1 - (n - a - b + p2bar[:, None]) / (n - 1)
        D[(a + b) == 1] = 0.0  # R's test (meant: both certain)
    np.fill_diagonal(D, 1 - pi)
    D[strata[:, None] != strata[None, :]] = 0.0
    return D


def _form(D: np.ndarray, x: np.ndarray, form: str) -> float:
    v = x @ D @ x
    return v - np.sum(x**2 * D.sum(axis=0)) if form == "YG" else v


def _influences(df: pd.DataFrame) -> dict[str, np.ndarray]:
    pi = df.pi.to_numpy()
    w = 1 / pi
    N = w.sum()
    out = {f"total {v}": df[v].to_numpy() * w for v in Y}
    for v in Y:
        y = df[v].to_numpy()
        out[f"mean {v}"] = (y - np.sum(w * y) / N) * w / N
    R = np.sum(w * df.RMT85) / np.sum(w * df.P85)
    out["ratio"] = (df.RMT85 - R * df.P85).to_numpy() * w / np.sum(w * df.P85)
    return out


def _ours(s: sv.Survey, key: str) -> float:
    kind, _, var = key.partition(" ")
    if kind == "total":
        return s.total(var).cov[0, 0, 0]
    if kind == "mean":
        return s.mean(var).cov[0, 0, 0]
    return s.ratio("RMT85", "P85").cov[0, 0, 0]


def _r_value(prefix: str, key: str) -> float:
    kind, _, var = key.partition(" ")
    if kind == "ratio":
        return _est(f"{prefix}_ratio", "var", "RMT85/P85")
    return _est(f"{prefix}_{kind}", "var", var)


def _sum_pi2(df: pd.DataFrame) -> np.ndarray:
    """Population sum of squared pi of the row's stratum (R HR(p2bar) with p2bar = sum / n)."""
    if "stratum" in df.columns:
        p2 = {h: ref("pps", "strat_pop_pik", "sum_pik2_over_n", "pik", g) for h, g in zip([1, 2, 3], "ABC")}
        n_h = df.stratum.map(df.stratum.value_counts())
        return (df.stratum.map(p2) * n_h).to_numpy()
    return np.full(len(df), ref("pps", "pop_pik", "sum_pik2_over_n", "pik") * 50)


@pytest.mark.parametrize(
    "prefix, sample, method, form, population",
    [
        ("brewer_sample_overton", "brewer", "overton", "HT", False),
        ("brewer_sample_overton_YG", "brewer", "overton", "YG", False),
        ("brewer_sample_HR_sample", "brewer", "hartley-rao", "HT", False),
        ("brewer_sample_HR_pop", "brewer", "hartley-rao", "HT", True),
        ("brewer_sample_HR_pop_YG", "brewer", "hartley-rao", "YG", True),
        ("maxent_overton", "maxent", "overton", "HT", False),
        ("strat_brewer_overton", "strat_brewer", "overton", "HT", False),
        ("strat_brewer_HR_sample", "strat_brewer", "hartley-rao", "HT", False),
        ("strat_brewer_HR_pop", "strat_brewer", "hartley-rao", "HT", True),
        ("strat_maxent_overton", "strat_maxent", "overton", "HT", False),
    ],
)
def test_overton_hartley_rao_r_formula_and_certainty_fix(prefix, sample, method, form, population):
    """svydesign(id = ~1, [strata = ~stratum,] fpc = ~pi, data = pps_<sample>,
    pps = "overton" | HR() | HR(sum(pik^2)/n) | HR(list(p2bar_h)), variance = "HT" / "YG").

    1. R's variance is R's documented D (notes section 1) -- checks our reading of R;
    2. ours is the same D with 0 for every pair that involves a certainty unit (textbook);
    3. the estimates, degf and, for the HT form, the domain without certainty units ("oth")
       equal R's (the SYG form sums D over the certainty units too)."""
    df = data(f"pps_{sample}")
    strata = df["stratum"].to_numpy() if "stratum" in df.columns else np.ones(len(df))
    pi = df.pi.to_numpy()
    if method == "hartley-rao" and population:
        df = df.assign(sum_pi2=_sum_pi2(df))
        p2bar = df.sum_pi2.to_numpy() / pd.Series(strata).map(pd.Series(strata).value_counts()).to_numpy()
        spec = sv.HartleyRao("sum_pi2")
    else:
        p2bar = pd.Series(pi).groupby(strata).transform("mean").to_numpy()
        spec = method
    s = sv.Survey(df, sv.Design(strata="stratum" if "stratum" in df.columns else None, probs="pi",
                                pps=spec, pps_variance=form))
    D_r = _dcheck_r(pi, strata, "overton" if method == "overton" else "hr", p2bar)
    cert = pi >= 1
    D_fix = D_r.copy()
    D_fix[cert, :] = 0.0
    D_fix[:, cert] = 0.0
    for key, x in _influences(df).items():
        assert close(_form(D_r, x, form), _r_value(prefix, key), 1e-8), key  # R = its formula
        assert close(_ours(s, key), _form(D_fix, x, form), 1e-9), key  # ours = the fixed formula
    # no certainty unit in the "oth" domain: identical to R
    b = s.total("RMT85", by="maj")
    i = list(b.domains["maj"]).index("oth")
    assert not cert[df.maj.to_numpy() == "oth"].any()
    if form == "HT":
        assert close(b.cov[i, 0, 0], _est(f"{prefix}_total_by_maj", "var", "RMT85", "oth"))
    assert close(b.estimate[i], _est(f"{prefix}_total_by_maj", "estimate", "RMT85", "oth"))
    assert s.df == _est(f"{prefix}_degf", "degf")


def test_overton_r_negative_total_variance_is_fixed():
    """R: svytotal(~RMT85, svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = "overton"))
    has var -9.59e6 (se NaN): the certainty units' cross terms. Ours is positive."""
    assert _est("brewer_sample_overton_total", "var", "RMT85") < 0
    s = sv.Survey(data("pps_brewer"), sv.Design(probs="pi", pps="overton"))
    assert s.total("RMT85").cov[0, 0, 0] > 0


# ---------------------------------------------------------------------------
# certainty units, errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("pps", ["brewer", "overton", "hartley-rao", "poisson", "joint"])
def test_certainty_stratum_adds_no_variance(pps):
    """Certainty units in a stratum of their own (as Selection.design() puts them): the variance
    equals that of the other units alone, whatever their values."""
    df = data("pps_maxent")
    cert = df.pi >= 1
    df = df.assign(h=np.where(cert, "cert", "rest"))
    spec = sv.JointProbabilities(_pi2("maxent")) if pps == "joint" else pps
    s = sv.Survey(df, sv.Design(strata="h", probs="pi", pps=spec))
    spec_rest = sv.JointProbabilities(_pi2("maxent")[np.ix_(~cert, ~cert)]) if pps == "joint" else pps
    rest = sv.Survey(df[~cert].reset_index(drop=True), sv.Design(probs="pi", pps=spec_rest))
    assert s.total("RMT85").se[0] == pytest.approx(rest.total("RMT85").se[0], rel=1e-12)
    bumped = s.assign(RMT85=np.where(cert, df.RMT85 * 100, df.RMT85))
    assert bumped.total("RMT85").se[0] == pytest.approx(s.total("RMT85").se[0], rel=1e-12)


def test_pps_design_errors():
    """Clear errors: fpc with pps, YG for Brewer, a joint matrix of the wrong size or diagonal,
    a zero joint probability (systematic sampling), probabilities varying within a PSU."""
    df = data("pps_maxent")
    with pytest.raises(DesignError, match="probs="):
        sv.Design(fpc="pi", pps="brewer")
    with pytest.raises(DesignError, match="Sen-Yates-Grundy"):
        sv.Design(probs="pi", pps="brewer", pps_variance="YG")
    with pytest.raises(DesignError, match="not one of"):
        sv.Design(probs="pi", pps="sampford")
    P = _pi2("maxent")
    with pytest.raises(DesignError, match="50 PSUs"):
        sv.Survey(df, sv.Design(probs="pi", pps=sv.JointProbabilities(P[:10, :10])))
    bad = P.copy()
    bad[3, 3] = 0.5
    with pytest.raises(DesignError, match="diagonal entry 3"):
        sv.Survey(df, sv.Design(probs="pi", pps=sv.JointProbabilities(bad)))
    zero = P.copy()
    zero[5, 6] = zero[6, 5] = 0.0
    with pytest.raises(DesignError, match=r"pair \(5, 6\).*systematic"):
        sv.Survey(df, sv.Design(probs="pi", pps=sv.JointProbabilities(zero)))
    clus = df.assign(c=np.repeat(np.arange(25), 2))
    with pytest.raises(DesignError, match="varies within a PSU"):
        sv.Survey(clus, sv.Design(clusters="c", probs="pi", pps="brewer"))
    lonely = df.assign(h=["a"] + ["b"] * 49)
    with pytest.raises(LonelyPSUError, match="'a'"):
        sv.Survey(lonely.assign(pi=np.where(lonely.h == "a", 0.5, lonely.pi)),
                  sv.Design(strata="h", probs="pi", pps="brewer"))


def test_clusters_use_psu_totals():
    """With clusters, the πps formulas apply to PSU totals (R rowsum by cluster): splitting every
    unit into two rows of one PSU gives the same variance."""
    df = data("pps_brewer")
    two = pd.concat([df.assign(RMT85=df.RMT85 * 0.3), df.assign(RMT85=df.RMT85 * 0.7)], ignore_index=True)
    two["psu"] = np.tile(np.arange(len(df)), 2)
    one = sv.Survey(df, sv.Design(probs="pi", pps="overton")).total("RMT85")
    split = sv.Survey(two, sv.Design(clusters="psu", probs="pi", pps="overton")).total("RMT85")
    assert split.se[0] == pytest.approx(one.se[0], rel=1e-12)


def test_deff_on_pps_designs_r_formula_differs():
    """R svytotal.pps (class "pps": HR, Overton, ppsmat) uses vsrs = svyvar * N^2 (deff = TRUE)
    and svyvar * N^2 (N - n)/N ("replace"): missing 1/n and swapped (notes section 4). We use
    R's survey.design2 definition for every design; R's pps numbers are ours / n, swapped.
    R: svytotal(~RMT85, svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = HR()), deff = TRUE / "replace")"""
    df = data("pps_brewer")
    s = sv.Survey(df, sv.Design(probs="pi", pps="hartley-rao"))
    n = len(df)
    t_true = s.total("RMT85", deff=True).deff[0, 0]
    t_repl = s.total("RMT85", deff="replace").deff[0, 0]
    # the HR variance differs from R's (certainty fix): compare the SRS denominators
    var_ours = s.total("RMT85").cov[0, 0, 0]
    var_r = ref("pps", "brewer_sample_HR_sample_total", "var", "RMT85")
    r_true = ref("deff", "pps_HR_total_deff", "deff", "RMT85", deff_type="TRUE")
    r_repl = ref("deff", "pps_HR_total_deff", "deff", "RMT85", deff_type="replace")
    assert var_r / r_true / n == pytest.approx(var_ours / t_repl, rel=1e-10)  # R TRUE = replace / n
    assert var_r / r_repl / n == pytest.approx(var_ours / t_true, rel=1e-10)  # R replace = TRUE / n
    # Brewer designs are survey.design2 in R: same definition as ours, same numbers
    b = sv.Survey(df, sv.Design(probs="pi", pps="brewer"))
    for dt in (True, "replace"):
        assert b.total("RMT85", deff=dt).deff[0, 0] == pytest.approx(
            ref("deff", "pps_brewer_total_deff", "deff", "RMT85", deff_type=str(dt).upper() if dt is True else dt),
            rel=1e-8)
        assert b.mean("RMT85", deff=dt).deff[0, 0] == pytest.approx(
            ref("deff", "pps_brewer_mean_deff", "deff", "RMT85", deff_type=str(dt).upper() if dt is True else dt),
            rel=1e-8)


# ---------------------------------------------------------------------------
# Selection.design()
# ---------------------------------------------------------------------------
def _frame(N: int = 400, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.exp(rng.normal(0.0, 1.2, N))
    return pd.DataFrame({"firm_id": np.arange(N), "h": np.where(np.arange(N) < N // 2, "a", "b"),
                         "x": x, "y": 10 * x * np.exp(rng.normal(0, 0.4, N))})


@pytest.mark.parametrize(
    "method, pps", [("pareto", "hartley-rao"), ("sequential_poisson", "hartley-rao"),
                    ("pps_systematic", "hartley-rao"), ("poisson", "poisson"), ("srswor", None),
                    ("systematic", None)],
)
def test_selection_design_uses_the_right_variance(method, pps):
    """Selection.design() of a πps selection is a pps design (certainty units in their own
    stratum, no lonely-PSU error for them); equal-probability selections keep the fpc design."""
    frame = _frame()
    sel = select(frame, 40, strata="h", size="x", method=method, prn=None, seed=3)
    design = sel.design()
    assert design.pps == pps
    s = sv.Survey(sel.data, design)
    est = s.total("y")
    assert np.isfinite(est.se[0]) and est.se[0] > 0
    if pps is not None:
        assert (sel.data.inclusion_probability >= 1).any()  # the skewed frame has certainty units
        assert s.pps_structure.certain.sum() == (sel.data.inclusion_probability >= 1).sum()


# ---------------------------------------------------------------------------
# coverage simulation
# ---------------------------------------------------------------------------
def _pareto_samples(pik: np.ndarray, n: int, u: np.ndarray) -> np.ndarray:
    """Pareto πps samples (Rosen 1997) for rows of uniforms u (R, N): the n smallest ranking
    variables among non-certainty units, plus the certainty units (as survey.plan.select)."""
    cert = pik >= 1
    m = n - int(cert.sum())
    lam = np.where(cert, 0.5, pik)
    q = (u / (1 - u)) / (lam / (1 - lam))
    q[:, cert] = np.inf
    order = np.argsort(q, axis=1)[:, :m]
    take = np.zeros(u.shape, dtype=bool)
    np.put_along_axis(take, order, True, axis=1)
    take[:, cert] = True
    return take


def test_pps_coverage_simulation():
    """1,000 Pareto πps samples (n = 200 of N = 1,000, skewed sizes, 9 certainty units):
    Hartley-Rao SE (Selection.design()) against the spread of the HT estimates, 95% coverage,
    and the with-replacement shortcut (weights only, certainty units take-all), which
    overstates the SE.

    Tolerances: coverage 95% +/- 3 binomial SDs over 1,000 samples (sd 0.69%: 92.9%-97.1%);
    SE ratio (mean SE / SD of the estimates) 0.9-1.1 (the SD of 1,000 skewed estimates is known
    to about +/- 3%). The with-replacement SE is at least 6% larger on average (the sampling
    fraction is 0.2: the exact factor is about 1 / sqrt(1 - f_eff))."""
    rng = np.random.default_rng(20240615)
    N, n, R = 1000, 200, 1000
    x = np.exp(rng.normal(0.0, 1.3, N))
    y = 50 * x**0.8 * np.exp(rng.normal(0.0, 0.5, N))
    T = y.sum()
    pik = inclusion_probabilities(x, n)
    u = rng.random((R, N))
    take = _pareto_samples(pik, n, u)
    # the vectorised draw is survey.plan.select(method="pareto") with the same PRNs
    frame = pd.DataFrame({"firm_id": np.arange(N), "x": x, "y": y})
    for r in range(3):
        sel = select(frame.assign(prn=u[r]), n, size="x", method="pareto", prn="prn")
        assert sorted(sel.data.firm_id) == sorted(np.flatnonzero(take[r]))
    rows, cols = np.nonzero(take)  # all samples stacked: sample = stratum (x certainty), domain = sample
    stacked = pd.DataFrame({
        "sample": rows, "y": y[cols], "pi": pik[cols],
        "stratum": rows * 2 + (pik[cols] >= 1),
    })
    wor = sv.Survey(stacked, sv.Design(strata="stratum", probs="pi", pps="hartley-rao")).total("y", by="sample")
    # the with-replacement shortcut: weights only (certainty units take-all, so left out of the SE)
    rest = stacked[stacked.pi < 1].assign(w=lambda d: 1 / d.pi)
    wr = sv.Survey(rest, sv.Design(strata="stratum", weights="w")).total("y", by="sample")
    # stacking is exact: sample 0 analysed alone gives the same SE
    alone = stacked[stacked["sample"] == 0].reset_index(drop=True)
    one = sv.Survey(alone, sv.Design(strata="stratum", probs="pi", pps="hartley-rao"))
    assert one.total("y").se[0] == pytest.approx(wor.se[0], rel=1e-12)
    est, se = wor.estimate, wor.se
    sd = est.std(ddof=1)
    ratio = se.mean() / sd
    df = n - 2  # PSUs minus strata of one sample
    from scipy import stats

    t = stats.t.ppf(0.975, df)
    coverage = np.mean(np.abs(est - T) <= t * se)
    overstated = np.mean(wr.se / se)
    print(f"pps simulation: SE ratio {ratio:.3f}, coverage {coverage:.3f}, "
          f"with-replacement SE / HR SE {overstated:.3f}, with-replacement SE ratio {wr.se.mean() / sd:.3f}")
    assert 0.9 <= ratio <= 1.1
    assert 0.929 <= coverage <= 0.971
    assert overstated >= 1.06
    assert wr.se.mean() / sd > ratio
