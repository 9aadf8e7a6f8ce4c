"""The fast paths of issue 17 against their slow references (numbers, never timings).

* domains after calibration and raking: the low-rank residuals
  (``survey.estimation.residuals``) against the dense n x D residual matrix of
  :func:`survey.estimation.variance.residualize` and :func:`full_covariance`
  on random designs, and a memory cap that an n x D matrix would break;
* replicate designs: the bootstrap draws made once per design, all variables
  and domains in one product, covariances against brute force over explicit
  replicate weights;
* numerically stable variance sums against exact rational arithmetic;
* compact ``Survey`` state, and ``import survey`` without the heavy libraries.

The R references for calibrated and raked domains are in ``test_calibrate.py``
(``test_domains_after_weighting_match_r``, tests/reference/calibrated_domains.R).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.estimation.domains import domain_codes, domain_values, ratio_scores
from survey.estimation.replicate import replicates_from_arrays
from survey.estimation.replicate_variance import replicate_covariance
from survey.estimation.replicate_weights import replicate_weights
from survey.estimation.residuals import weighting_residuals
from survey.estimation.variance import domain_covariance, full_covariance, residualize


# ---------------------------------------------------------------------------
# domains after weighting: low-rank path == dense path
# ---------------------------------------------------------------------------
def dense_domain_covariance(s: sv.Survey, z: np.ndarray, dom: np.ndarray, D: int):
    """The old engine: scores spread to an n x D*k matrix, residualised, full covariance."""
    n, k = z.shape
    spread = np.zeros((n, D * k))
    inside = dom >= 0
    rows = np.flatnonzero(inside)
    for j in range(k):
        spread[rows, dom[inside] * k + j] = z[inside, j]
    E = residualize(spread, s.weighting, s.weights)
    V = full_covariance(E, s.variance_structure)
    dc = np.arange(D)
    return V.reshape(D, k, D, k)[dc, :, dc, :], V


def random_sample(rng: np.random.Generator, n: int, clustered: bool, lonely: str):
    H = int(rng.integers(3, 7))
    df = pd.DataFrame(
        {
            "h": rng.integers(0, H, n),
            "psu": rng.integers(0, 6, n),
            "y": rng.gamma(2, 10, n),
            "x": rng.gamma(2, 5, n),
            "a": rng.integers(0, 4, n),
            "b": rng.integers(0, 3, n),
            "r": rng.integers(0, 5, n),
            "w": rng.uniform(1, 10, n),
        }
    )
    df.loc[df.h == 0, "h"] = 1  # keep every stratum populated
    df.loc[0, "h"] = 0  # a stratum with one row (lonely PSU)
    size = df.groupby("h").h.transform("size")
    df["N"] = size * df.h.map(dict(enumerate(rng.uniform(1.5, 4, H + 1))))
    if clustered:
        design = sv.Design(strata="h", clusters=["psu"], weights="w", lonely_psu=lonely)
    else:
        design = sv.Design(strata="h", weights="w", fpc="N", lonely_psu=lonely)
    return df, design


def weight(s: sv.Survey, df: pd.DataFrame, kind: int, rng: np.random.Generator) -> sv.Survey:
    N = float(s.weights.sum())
    ca = df.a.value_counts().sort_index()
    ma = {k: N * v / ca.sum() * rng.uniform(0.9, 1.1) for k, v in ca.items()}
    ma = {k: v * N / sum(ma.values()) for k, v in ma.items()}
    cb = df.b.value_counts().sort_index()
    mb = {k: N * v / cb.sum() for k, v in cb.items()}
    xt = float((s.weights * df.x).sum())
    if kind == 0:
        return s.calibrate({"a": ma, "x": xt * 1.03})
    if kind == 1:
        return s.rake({"a": ma, "b": mb})
    if kind == 2:
        return s.calibrate({"a": ma, "b": mb}, method="logit", bounds=(0.5, 2.0))
    if kind == 3:
        return s.calibrate({"a": ma, "x": xt * 1.02}, method="linear", bounds=(0.8, 1.25))
    if kind == 4:
        return s.calibrate({"a": ma, "x": xt}, method="raking")
    respondent = rng.random(len(df)) > 0.15
    # weights treated as fixed after the nonresponse step: the chain the dense residuals model
    # (the two-phase variance of issue 15 is checked in test_two_phase_nonresponse_takes_the_general_path)
    return s.adjust_nonresponse(respondent, by="a", variance="fixed").poststratify("b", mb).rake(
        {"a": ma, "b": mb}
    )


@pytest.mark.parametrize("trial", range(18))
def test_weighted_domains_equal_the_dense_path(trial):
    """Random designs (strata with fpc or two-stage clusters, lonely PSUs adjusted or
    averaged), every weighting method (linear, raking, logit, bounded calibration, raking
    by IPF, nonresponse + post-stratification + raking), totals and means by domain,
    with and without a subset: per-domain covariances and the full cross-domain matrix
    equal the dense residual matrix's to 1e-9."""
    rng = np.random.default_rng(100 + trial)
    clustered = trial % 3 == 2
    lonely = "average" if trial % 2 else "adjust"
    df, design = random_sample(rng, int(rng.integers(80, 250)), clustered, lonely)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = weight(sv.Survey(df, design), df, trial % 6, rng)
    if trial % 4 == 0:
        s = s.subset(df.r.to_numpy() != 4)
    dom, keys = domain_codes(s, ["r"])
    D = len(keys)
    values, valid = domain_values(s, ["y", "x"], dom, "error")
    totals = s.weights[:, None] * values
    _, means, _ = ratio_scores(s, values, np.ones_like(values), valid, dom, D)
    for z in (totals, means):
        got = domain_covariance(s, z, dom, D, numerator=values)
        ref, full = dense_domain_covariance(s, z, dom, D)
        scale = np.abs(ref).max()
        np.testing.assert_allclose(got.cov, ref, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(got.full(), full, rtol=0, atol=1e-9 * scale)


def test_residuals_equal_residualize_column_by_column():
    """The low-rank residuals S - U Gamma, materialised, are residualize()'s matrix."""
    rng = np.random.default_rng(7)
    df, design = random_sample(rng, 150, False, "adjust")
    s = weight(sv.Survey(df, design), df, 5, rng)
    dom = df.r.to_numpy()
    z = (s.weights * df.y.to_numpy())[:, None]
    lr = weighting_residuals(z, dom, 5, s.weighting, s.weights)
    spread = np.zeros((len(df), 5))
    spread[np.arange(len(df)), dom] = z[:, 0]
    np.testing.assert_allclose(lr.dense(), residualize(spread, s.weighting, s.weights), atol=1e-9 * np.abs(z).max())


def test_weighting_model_is_built_once_per_weighted_survey():
    """The score-independent part of the residuals is kept with the survey's last step
    (and shared by its subsets); the engine's next estimate finds it, with the unit and
    stratum sums of U of the design's stage."""
    from survey.estimation import variance  # the residuals the engine itself calls

    rng = np.random.default_rng(3)
    df, design = random_sample(rng, 120, False, "adjust")
    s = weight(sv.Survey(df, design), df, 1, rng)
    z = (s.weights * df.y.to_numpy())[:, None]
    dom = df.r.to_numpy()
    a = variance.weighting_residuals(z, dom, 5, s.weighting, s.weights).model
    assert variance.weighting_residuals(z, dom, 5, s.weighting, s.weights).model is a
    sub = s.subset(dom > 0)
    assert variance.weighting_residuals(z, dom, 5, sub.weighting, sub.weights).model is a
    s.total(["y", "x"], by="r")
    assert len(a._stage_terms) == 1  # the unit and stratum sums of U, kept for the next estimate


def test_calibrated_domains_never_form_an_n_by_d_matrix():
    """2,000 domains on 200,000 rows after raking and calibration, under an address-space
    cap of 1.2 GB above what the process holds after the imports and the data: one n x D
    float64 matrix alone would need 3.2 GB."""
    code = textwrap.dedent(
        """
        import resource, numpy as np, pandas as pd, survey as sv
        rng = np.random.default_rng(1)
        n, D = 200_000, 2_000
        h = np.sort(rng.integers(0, 50, n))
        df = pd.DataFrame({"h": h, "w": rng.uniform(5, 15, n), "y": rng.gamma(2, 10, n),
                           "x": rng.gamma(2, 5, n), "a": rng.integers(0, 10, n),
                           "b": rng.integers(0, 5, n), "d": rng.integers(0, D, n)})
        s = sv.Survey(df, sv.Design(strata="h", weights="w"))
        N = s.weights.sum()
        ma = {k: N / 10 * (1 + 0.02 * (k % 3)) for k in range(10)}
        ma = {k: v * N / sum(ma.values()) for k, v in ma.items()}
        mb = {k: N / 5 for k in range(5)}
        raked = s.rake({"a": ma, "b": mb})
        cal = s.calibrate({"a": ma, "b": mb, "x": float((s.weights * df.x).sum())})
        with open("/proc/self/status") as fh:
            vm = next(int(l.split()[1]) for l in fh if l.startswith("VmSize:")) * 1024
        cap = vm + int(1.2 * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        try:
            np.empty((n, D))[:] = 0.0
            print("n x D fits")
        except MemoryError:
            pass
        for t in (raked.total(["y", "x"], by="d"), cal.mean(["y", "x"], by="d")):
            assert t.point.shape == (D, 2) and np.isfinite(t.se).all() and (t.se > 0).all()
        print("ok")
        """
    )
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok"], out.stdout  # the n x D matrix did not fit, the estimates did


@pytest.mark.parametrize("noise", [1.0, 1e-2, 1e-4, 1e-6])
def test_weighted_domains_keep_precision_when_residuals_are_tiny(noise):
    """An auxiliary that nearly predicts the variable (residual SE down to 1e-10 of the
    total's): V(S) + correction would cancel, so such domains are recomputed from their
    residuals; whole population and domains agree with the dense residuals to 1e-10."""
    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({"h": rng.integers(0, 20, n), "x": rng.gamma(2, 50, n),
                       "dom": rng.choice(list("abcde"), n)})
    df["w"] = 10.0 + df["h"]
    df["y"] = 3 * df["x"] + rng.normal(0, noise, n)
    s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    tot = {"x": float((df.x * df.w).sum() * 1.02), "dom": (df.w.groupby(df.dom).sum() * 1.01).to_dict()}
    c = s.calibrate(tot)
    for by, names in (([], ["y"]), ([], ["y", "x"]), (["dom"], ["y"]), (["dom"], ["y", "x"])):
        dom, keys = domain_codes(c, by)
        D = len(keys)
        values, _ = domain_values(c, names, dom, "error")
        z = c.weights[:, None] * values
        got = domain_covariance(c, z, dom, D, numerator=values)
        ref, _ = dense_domain_covariance(c, z, dom, D)
        np.testing.assert_allclose(got.cov[:, 0, 0], ref[:, 0, 0], rtol=1e-10)


@pytest.mark.parametrize("trial", [5, 11])
def test_two_phase_nonresponse_takes_the_general_path(trial):
    """A two-phase nonresponse step (issue 15, the default of adjust_nonresponse) followed by
    post-stratification and raking: the low-rank residuals do not model the second phase,
    so domain estimates use the general path (dense residuals, Sarndal 9.3.1 covariance),
    and the fast path refuses such steps rather than give a wrong number."""
    from survey.errors import SurveyError
    from survey.estimation.residuals import WeightingModel
    from survey.estimation.twophase import twophase_full_covariance

    rng = np.random.default_rng(100 + trial)
    df, design = random_sample(rng, int(rng.integers(80, 250)), trial % 3 == 2, "average" if trial % 2 else "adjust")
    s0 = sv.Survey(df, design)
    N = float(s0.weights.sum())
    mb = {k: N * v / len(df) for k, v in df.b.value_counts().sort_index().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = s0.adjust_nonresponse(rng.random(len(df)) > 0.15, by="a").poststratify("b", mb)
    tp = s.weighting[0].report.two_phase
    assert tp is not None
    with pytest.raises(SurveyError, match="two-phase"):
        WeightingModel.of(s.weighting, s.weights)
    dom, keys = domain_codes(s, ["r"])
    D = len(keys)
    values, _ = domain_values(s, ["y", "x"], dom, "error")
    z = s.weights[:, None] * values
    got = domain_covariance(s, z, dom, D, numerator=values)
    n, k = z.shape
    spread = np.zeros((n, D * k))
    for j in range(k):
        spread[np.arange(n), dom * k + j] = z[:, j]
    E = residualize(spread, s.weighting, s.weights)
    V = twophase_full_covariance(E, tp, s.variance_structure)
    dc = np.arange(D)
    ref = V.reshape(D, k, D, k)[dc, :, dc, :]
    np.testing.assert_allclose(got.cov, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    fixed = domain_covariance(s0.adjust_nonresponse(s.weights > 0, by="a", variance="fixed")
                              .poststratify("b", mb), z, dom, D, numerator=values)
    assert not np.allclose(fixed.cov, got.cov)  # the second phase changes the variance


# ---------------------------------------------------------------------------
# replicate designs: draws once, one product, covariances
# ---------------------------------------------------------------------------
def brute_covariance(rep, w, y, x, dom, D):
    """Every replicate estimate from explicit replicate weights; covariances of the replicates."""
    W = replicate_weights(rep, w)
    k = y.shape[1]
    out = np.zeros((D, k, k))
    for d in range(D):
        m = dom == d
        num = W[m].T @ y[m]
        full = w[m] @ y[m]
        if x is not None:
            num, full = num / (W[m].T @ x[m]), full / (w[m] @ x[m])
        centre = full if rep.mse else num.mean(axis=0)
        dev = num - centre
        out[d] = rep.scale * (dev * rep.rscales[:, None]).T @ dev
    return out


@pytest.mark.parametrize("method", ["jkn", "jk1", "bootstrap", "brr", "fay"])
@pytest.mark.parametrize("ratio", [False, True])
def test_replicate_covariances_in_one_pass_equal_brute_force(method, ratio):
    """Variances and covariances of three variables in four domains (totals and ratios),
    from one product of the replicate factors with the stacked scores (the jackknives:
    PSU totals), equal those of explicit replicate weights to 1e-9."""
    rng = np.random.default_rng(11)
    n = 120
    strata = np.sort(rng.integers(0, 6, n)) if method != "jk1" else None
    psu = rng.integers(0, 40, n)
    w = rng.uniform(1, 10, n)
    y = rng.gamma(2, 3, (n, 3))
    x = rng.gamma(2, 3, (n, 3)) + 0.5
    dom = rng.integers(-1, 4, n)
    kw = dict(weights=w, strata=strata, psu=psu, lonely_psu="remove")
    if method in ("brr", "fay"):
        rep = replicates_from_arrays(method, variance_strata=True, **kw)
    elif method == "bootstrap":
        rep = replicates_from_arrays(method, fraction=0.1, replicates=60, seed=5, **kw)
    else:
        rep = replicates_from_arrays(method, fraction=0.1, **kw)
    xx = x if ratio else None
    got = replicate_covariance(rep, w, y, xx, dom, 4)
    ref = brute_covariance(rep, w, y, xx, dom, 4)
    np.testing.assert_allclose(got.cov, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    if got.full is not None:
        np.testing.assert_allclose(
            np.diagonal(got.full()).reshape(4, 3), np.diagonal(ref, axis1=1, axis2=2), rtol=1e-9
        )


def test_bootstrap_draws_once_per_design(monkeypatch):
    """A second estimate on the same replicate survey reuses the kept draws: no replicate
    is drawn again, and the counts are those of the random streams."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"h": np.repeat(np.arange(4), 30), "w": rng.uniform(2, 6, 120),
                       "y": rng.gamma(2, 5, 120), "x": rng.gamma(2, 5, 120), "r": rng.integers(0, 3, 120)})
    s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    b = s.replicate("bootstrap", replicates=50, seed=9)
    # the module the engine itself uses (pytest's doctest import may load a second copy)
    from survey.estimation import replicate_variance

    engine = replicate_variance.bootstrap_count_blocks.__globals__
    Resampler, kept_counts = engine["BootstrapResampler"], engine["bootstrap_counts"]
    calls = []
    original = Resampler.integer_counts

    def counting(self, r):
        calls.append(r)
        return original(self, r)

    monkeypatch.setattr(Resampler, "integer_counts", counting)
    first = b.total(["y", "x"])
    assert sorted(calls) == list(range(50))
    b.total(["y", "x"], by="r")
    b.mean("y", by="r")
    b.subset(df.r.to_numpy() > 0).total("y")
    assert len(calls) == 50  # drawn once
    counts = kept_counts(b.replicates)
    assert len(calls) == 50 and counts is kept_counts(b.replicates)
    assert counts.dtype == np.uint8 and counts.shape == (50, 120)
    np.testing.assert_array_equal(counts[7], original(Resampler(b.replicates), 7))
    assert not np.array_equal(counts[7], counts[8])
    # the covariance of the two totals is the replicates' covariance
    W = replicate_weights(b.replicates)
    T = W.T @ df[["y", "x"]].to_numpy()
    np.testing.assert_allclose(first.cov[0], np.cov(T, rowvar=False), rtol=1e-10)


# ---------------------------------------------------------------------------
# numerically stable sums
# ---------------------------------------------------------------------------
def exact_domain_variance(z, h, d, D, f):
    """sum_h (1 - f_h) n_h / (n_h - 1) sum_i (z_hid - mean_h(z_hd))^2 in exact rationals
    (z_hid = z_i in domain d, 0 outside), from the float inputs as they are."""
    z = [Fraction(float(v)) for v in z]
    out = [Fraction(0)] * D
    for hh in np.unique(h):
        idx = np.flatnonzero(h == hh)
        n = len(idx)
        c = (1 - Fraction(float(f[hh]))) * Fraction(n, n - 1)
        for dd in range(D):
            vals = [z[i] if d[i] == dd else Fraction(0) for i in idx]
            mean = sum(vals) / n
            out[dd] += c * sum((v - mean) ** 2 for v in vals)
    return np.array([float(v) for v in out])


@pytest.mark.parametrize("shape", ["shifted", "narrow"])
def test_variance_sums_are_centred(shape):
    """Scores with a tiny spread around a large level: y + 1e6, and 40 + N(0, 1e-4).
    The one-pass sum_i z^2 - (sum_i z)^2 / n lost digits here (relative SE errors 2e-6
    and 4e-3); the centred sums agree with exact rational arithmetic to 1e-11, for the
    whole population and by domain (fpc, element sampling)."""
    rng = np.random.default_rng(4)
    n = 400
    h = np.sort(rng.integers(0, 4, n))
    y = rng.gamma(2, 1, n) + 1e6 if shape == "shifted" else 40 + rng.normal(0, 1e-4, n)
    d = rng.integers(0, 3, n)
    f = np.array([0.1, 0.02, 0.3, 0.05])
    df = pd.DataFrame({"h": h, "y": y, "d": d, "w": 1.0, "f": f[h]})
    s = sv.Survey(df, sv.Design(strata="h", weights="w", fpc="f"))
    whole = s.total("y")
    exact_whole = exact_domain_variance(y, h, np.zeros(n, int), 1, f)
    np.testing.assert_allclose(whole.se**2, exact_whole, rtol=1e-11)
    by = s.total("y", by="d")
    exact_by = exact_domain_variance(y, h, d, 3, f)
    np.testing.assert_allclose(by.se**2, exact_by, rtol=1e-11)
    # and a mean, whose scores w (y - ybar) / N are centred once more
    mean = s.mean("y")
    zbar = Fraction(0)
    for v in y:
        zbar += Fraction(float(v))
    zbar /= n
    exact_scores = np.array([float((Fraction(float(v)) - zbar) / n) for v in y])
    np.testing.assert_allclose(mean.se**2, exact_domain_variance(exact_scores, h, np.zeros(n, int), 1, f), rtol=1e-9)


# ---------------------------------------------------------------------------
# compact Survey state and a light import
# ---------------------------------------------------------------------------
def test_survey_keeps_compact_state_and_no_copy_of_the_data():
    """Element sampling: no n-length unit codes are kept (rows are the units), the stage's
    strata are the survey's strata codes (shared), the weights are the data column."""
    df = pd.DataFrame({"h": np.repeat([3, 1, 2], 4), "w": np.arange(1.0, 13.0), "y": 1.0, "N": 40})
    s = sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"))
    stage = s.variance_structure.stages[0]
    assert stage.units is None and stage.rows_are_units
    assert np.shares_memory(stage.unit_stratum, s.strata_codes)
    assert np.shares_memory(s.weights, df["w"].to_numpy())
    np.testing.assert_array_equal(s.psu_codes, np.arange(12))
    assert np.shares_memory(s.psu_codes, s.psu_codes)  # built once, then a view
    np.testing.assert_array_equal(s.stage1_fraction, 0.1)
    np.testing.assert_array_equal(stage.units_per_stratum(), [4, 4, 4])


def test_import_survey_leaves_heavy_libraries_unloaded():
    """``import survey`` loads numpy, pandas and the estimation room; DuckDB, matplotlib,
    openpyxl, statsmodels, scipy.stats (and SciPy's other submodules) load where used.
    pyarrow may come with pandas itself (its string dtype), never from the toolkit."""
    heavy = ["duckdb", "matplotlib", "openpyxl", "statsmodels", "scipy.stats", "scipy.optimize",
             "scipy.sparse", "scipy.linalg", "pyarrow"]
    probe = "import sys, json; {}; print(json.dumps([m for m in {} if m in sys.modules]))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe.format("import survey", heavy)],
                                       capture_output=True, text=True, check=True).stdout)
    by_pandas = json.loads(subprocess.run([sys.executable, "-c", probe.format("import pandas", heavy)],
                                          capture_output=True, text=True, check=True).stdout)
    assert set(loaded) <= set(by_pandas), sorted(set(loaded) - set(by_pandas))
    # not even pandas: ``import survey`` is numpy and the design; the estimation room and
    # pandas come with the first ``sv.Survey``
    bare = json.loads(subprocess.run([sys.executable, "-c", probe.format("import survey", heavy + ["pandas"])],
                                     capture_output=True, text=True, check=True).stdout)
    assert bare == []
    # the lazy names still work
    code = ("import survey as sv; print(sv.Ledger.__name__, sv.write_bulletin.__name__, 'Frame' in dir(sv), "
            "sv.Survey.__name__, sv.Estimate.__name__, sv.WeightingStep.__name__, 'Survey' in dir(sv))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Ledger", "write_bulletin", "True", "Survey", "Estimate", "WeightingStep", "True"]


def test_domain_totals_allocate_less_than_the_columns_they_read():
    """Issue 17, item 3 (memory within 2x the data): building a Survey and estimating two
    totals by domain with their table allocates (tracemalloc peak) less than the bytes of
    the columns used, so data + toolkit stay under 2x the columns. Workload shaped like
    benchmarks/bench_estimate.py (stratified, fpc, 200 domains across 2,000 strata, 1M
    rows; the benchmark measured 0.89x of RSS). Below about 1M rows the fixed cell tables
    (up to a million stratum x domain cells) are the larger part, as intended."""
    import tracemalloc

    import pandas as pd

    import survey as sv

    rng = np.random.default_rng(17)
    n, H = 1_000_000, 2000
    stratum = np.sort(rng.integers(0, H, n))
    n_h = np.bincount(stratum, minlength=H)
    df = pd.DataFrame({"stratum": stratum, "N_h": (n_h * 10.0)[stratum], "w": 10.0,
                       "region": rng.integers(0, 200, n), "y1": rng.gamma(2.0, 50.0, n),
                       "y2": rng.gamma(3.0, 20.0, n)})
    columns = sum(df[c].to_numpy().nbytes for c in df.columns)
    design = sv.Design(strata="stratum", weights="w", fpc="N_h")
    sv.Survey(df.head(1000), design).total(["y1", "y2"], by="region").table()  # warm caches
    tracemalloc.start()
    try:
        s = sv.Survey(df, design)
        s.total(["y1", "y2"], by="region").table()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < columns, (peak / 2**20, columns / 2**20)
