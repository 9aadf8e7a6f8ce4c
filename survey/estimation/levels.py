"""County small-area estimates and the three federation levels (region -> city -> county).

The county federations (the third level of the federation) need county totals, but a
city-stratified sample leaves many counties with a handful of sampled firms. The county
total is the sum of three parts (as every total of :mod:`survey.estimation.combined`):

* the **take-all** part (enumerated firms of the county): known, no variance;
* the **sampled** part: here the area-level Fay–Herriot EBLUP
  (:func:`survey.estimation.sae.fay_herriot`, REML, Prasad–Rao MSE) of the direct
  (calibrated, design-based) county total of the take-some firms, with its design
  variance (smoothed by a generalised variance function where it is zero or rests on
  fewer than two firms) and two register auxiliaries per county: the number of
  take-some firms and their revenue of the previous year;
* the **model** part (take-none firms, when the plan has them): the cut-off model's
  county predictions and their model variance.

Counties whose direct total has an acceptable CV keep the direct estimate; the others
get the EBLUP; a county without sampled firms gets the synthetic estimate ``x' beta``.
The sampled parts are then benchmarked (difference benchmarking, weights MSE) to the
design-based sampled part of their city, so county totals add up to the published city
totals, and city totals add up to the region (the sector total). Every figure carries
its method (``direct``, ``EBLUP`` or ``synthetic``).

References: Fay & Herriot (1979); Prasad & Rao (1990); Rao & Molina (2015), ch. 6.

Examples
--------
>>> from survey.pipeline.demo import demo_result
>>> r = demo_result()
>>> counties = r.estimates.counties  # the published quarter, every variable
>>> sorted(counties["method"].unique())  # synthetic: a county with no sampled value
['EBLUP', 'direct', 'synthetic']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SmallAreaError
from survey.lazy import lazy_module

# norm.ppf is ndtri, norm.sf(x) is ndtr(-x): scipy.stats (a second to import) is not needed
special = lazy_module("scipy.special")

__all__ = ["LEVELS", "area_names", "city_code", "county_core", "county_estimates",
           "county_levels", "levels_table"]

#: The three federation levels, top down.
LEVELS = ("region", "city", "county")


def city_code(county_code: Any) -> np.ndarray:
    """The city's administrative code of a county code (first four digits + ``"00"``).

    Examples
    --------
    >>> city_code(["450102", "450921"]).tolist()
    ['450100', '450900']
    """
    codes = pd.Series(np.asarray(county_code, dtype=object)).astype(str)
    bad = codes.str.fullmatch(r"\d{6}") == False  # noqa: E712
    if bad.any():
        raise ColumnError(f"administrative codes must have six digits; got {codes[bad].tolist()[:3]}")
    return (codes.str[:4] + "00").to_numpy(dtype=object)


def area_names(frame: pd.DataFrame, county: str, *, county_name: str = "county",
               city_name: str = "city", shown: Mapping[str, Mapping[str, str]] | None = None
               ) -> dict[str, str]:
    """The name of every county code and city code of ``frame``, for the levels table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Units with the county code column ``county`` and the names ``county_name`` and
        ``city_name``.
    county : str
    county_name, city_name : str
    shown : mapping, optional
        Display names by kind (``{"county": {...}, "city": {...}}``, e.g.
        :func:`survey.datasets.display_names`); names not in it are shown as they are.

    Examples
    --------
    >>> f = pd.DataFrame({"code": ["450102", "450103"], "county": ["Xingning", "Qingxiu"],
    ...                   "city": ["Nanning", "Nanning"]})
    >>> area_names(f, "code", shown={"city": {"Nanning": "南宁市"}})
    {'450102': 'Xingning', '450100': '南宁市', '450103': 'Qingxiu'}
    """
    shown = shown or {}
    pairs = frame[[county, county_name, city_name]].drop_duplicates(county)
    codes = pairs[county].astype(str).tolist()
    counties = [shown.get("county", {}).get(n, n) for n in pairs[county_name]]
    cities = [shown.get("city", {}).get(n, n) for n in pairs[city_name]]
    out: dict[str, str] = {}
    for code, name, city_code_, city in zip(codes, counties, city_code(codes), cities, strict=True):
        out[code] = name
        out[str(city_code_)] = city
    return out


def _sampled_by(sample: Any, variable: str, by: str) -> pd.DataFrame:
    """Direct (design-based) total of the sampled part by ``by``, its variance and the
    number of responding units."""
    w = sample.weights
    data = sample.data
    codes, keys = pd.factorize(data[by].astype(str), sort=True)
    values = np.where(w > 0, data[variable].to_numpy(dtype=float, na_value=np.nan), 0.0)
    est = sample.assign(_lv_y=np.nan_to_num(values), _lv_d=codes).total(["_lv_y"], by="_lv_d")
    got = est.domains["_lv_d"].to_numpy(dtype=np.intp)
    out = pd.DataFrame({by: np.asarray(keys, dtype=object)})
    out["direct"] = 0.0
    out["variance"] = 0.0
    out.loc[got, "direct"] = est.point[:, 0]
    out.loc[got, "variance"] = est.cov[:, 0, 0]
    out["n"] = np.bincount(codes[w > 0], minlength=len(keys))
    return out


def county_estimates(sample: Any, take_all: pd.DataFrame, frame: pd.DataFrame, variable: str, *,
                     county: str = "county_code", size: str = "revenue_prev_year",
                     model: pd.DataFrame | None = None, cv_max: float = 0.15,
                     mse: str = "prasad-rao", level: float = 0.95,
                     seed: int | None = None) -> pd.DataFrame:
    """County totals: take-all + Fay–Herriot sampled part + model part, benchmarked to
    the design-based city totals.

    Parameters
    ----------
    sample : survey.Survey
        The weighted (calibrated) sample of the period; nonrespondents have weight 0.
    take_all : pandas.DataFrame
        The take-all panel of the period (enumerated firms, imputed).
    frame : pandas.DataFrame
        The plan's register (column ``part``): take-some firms (``part == "sample"``)
        give the auxiliaries, every county of the register gets an estimate.
    variable : str
    county : str, default="county_code"
        Six-digit administrative code of the county (its city is the code's first four
        digits + ``"00"``).
    size : str, default="revenue_prev_year"
        Register revenue of the previous year (an auxiliary, with the firm count).
    model : pandas.DataFrame, optional
        The take-none part by county (:meth:`ModelPart.table` of the cut-off model by
        ``county``): columns ``county``, ``variable``, ``estimate``, ``se``.
    cv_max : float, default=0.15
        Counties whose direct total (take-all + direct sampled + model) has a CV at most
        this keep the direct estimate.
    mse : {"prasad-rao", "bootstrap"}, default="prasad-rao"
    level : float, default=0.95
    seed : int, optional
        Bootstrap seed (``mse="bootstrap"``).

    Returns
    -------
    pandas.DataFrame
        One row per county: ``county, city_code, take_all, sampled, model, estimate, se,
        cv, ci_low, ci_high, method, direct, direct_se, direct_cv, gamma, n``.

    Raises
    ------
    SmallAreaError
        Too few counties with a sample to fit the model.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> counties = demo_result().estimates.counties  # county_estimates of each variable
    >>> counties.groupby("variable").size().tolist()
    [64, 64, 64]
    """
    some = frame.loc[(frame["part"] == "sample").to_numpy(), [county, size]]  # two columns, not all
    codes = sorted(pd.unique(frame[county].astype(str)))  # unique first: no Python pass over rows
    out = pd.DataFrame({county: codes})
    out["city_code"] = city_code(out[county])
    aux = some.groupby(some[county].astype(str)).agg(firms=(size, "size"), revenue=(size, "sum"))
    out["firms"] = aux["firms"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
    out["revenue"] = aux["revenue"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
    ta = take_all.groupby(take_all[county].astype(str))[variable].sum()
    out["take_all"] = ta.reindex(codes).fillna(0.0).to_numpy(dtype=float)
    if model is not None:
        rows = model[model["variable"] == variable]
        rows = rows.set_index(rows[county].astype(str))
        out["model"] = rows["estimate"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
        model_var = (rows["se"] ** 2).reindex(codes).fillna(0.0).to_numpy(dtype=float)
    else:
        out["model"] = 0.0
        model_var = np.zeros(len(out))
    direct = _sampled_by(sample, variable, county).set_index(county)
    out["direct"] = direct["direct"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
    psi = direct["variance"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
    out["n"] = direct["n"].reindex(codes).fillna(0).to_numpy(dtype=np.int64)
    sampled = (out["n"].to_numpy() > 0) & (out["direct"].to_numpy() != 0)
    if sampled.sum() < 6:
        raise SmallAreaError(f"county estimates of {variable!r}: only {int(sampled.sum())} "
                             "counties have sampled firms; the Fay-Herriot model needs more")
    y = out["direct"].to_numpy(dtype=float)
    city = _sampled_by(sample.assign(_lv_city=city_code(sample.data[county])), variable,
                       "_lv_city").set_index("_lv_city")["direct"]
    g, groups = pd.factorize(out["city_code"], sort=True)
    targets = city.reindex(groups).fillna(0.0).to_numpy(dtype=float)
    core = county_core(y, psi, out["n"].to_numpy(), out[["firms", "revenue"]].to_numpy(float),
                       other=out["take_all"].to_numpy() + out["model"].to_numpy(),
                       other_var=model_var, groups=g, targets=targets, cv_max=cv_max,
                       mse=mse, seed=seed)
    est, mse_v, method, gamma, adjust, direct_cv = (core[k] for k in (
        "estimate", "mse", "method", "gamma", "adjust", "direct_cv"))
    total_direct = out["take_all"].to_numpy() + y + out["model"].to_numpy()
    out["sampled"] = est
    out["estimate"] = out["take_all"] + out["sampled"] + out["model"]
    out["se"] = np.sqrt(mse_v + model_var)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cv"] = out["se"] / out["estimate"].abs()
    z = float(special.ndtri(0.5 + level / 2))
    out["ci_low"] = out["estimate"] - z * out["se"]
    out["ci_high"] = out["estimate"] + z * out["se"]
    out["method"] = method
    out["direct_total"] = total_direct
    out["direct_se"] = np.sqrt(psi + model_var)
    out["direct_cv"] = direct_cv
    out["gamma"] = gamma
    out["variable"] = variable
    return out


def county_core(y: np.ndarray, psi: np.ndarray, n: np.ndarray, X: np.ndarray, *,
                other: np.ndarray, other_var: np.ndarray, groups: np.ndarray,
                targets: np.ndarray, cv_max: float = 0.15, mse: str = "prasad-rao",
                seed: int | None = None) -> dict[str, np.ndarray]:
    """The small-area step on arrays (one entry per county): variance smoothing, the
    Fay–Herriot EBLUP of the sampled parts ``y`` (variances ``psi``, ``n`` sampled units,
    auxiliaries ``X``), the direct estimate kept where the CV of the county total
    (``other + y``, variance ``psi + other_var``) is at most ``cv_max``, synthetic
    estimates where no unit was sampled, and difference benchmarking (weights MSE) of the
    sampled parts to ``targets`` per ``groups`` code (their MSE plus the squared
    adjustment).

    Returns
    -------
    dict
        ``estimate, mse, method, gamma, adjust, direct_cv, eblup, eblup_mse`` (arrays).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> X = rng.uniform(10, 100, (20, 2))
    >>> y = X @ [2.0, 1.0] + rng.normal(0, 5, 20)
    >>> g = np.repeat([0, 1], 10)
    >>> out = county_core(y, np.full(20, 25.0), np.full(20, 5), X, other=np.zeros(20),
    ...                   other_var=np.zeros(20), groups=g, targets=np.array([1000.0, 1100.0]),
    ...                   cv_max=0.0)
    >>> np.bincount(g, weights=out["estimate"]).round(6).tolist()
    [1000.0, 1100.0]
    """
    from survey.estimation.sae import fay_herriot, smooth_variances

    m = len(y)
    sampled = (n > 0) & (y != 0)
    if sampled.sum() < X.shape[1] + 3:
        raise SmallAreaError(f"only {int(sampled.sum())} counties have sampled firms; the "
                             "Fay-Herriot model needs more")
    psi_s = psi.astype(float).copy()
    invalid = sampled & ((psi <= 0) | (n < 2))
    if invalid.any():
        psi_s[sampled] = smooth_variances(y[sampled], psi[sampled], n[sampled],
                                          method="gvf").variance
    fit = fay_herriot(y[sampled], psi_s[sampled], X[sampled], method="REML", mse=mse,
                      seed=seed)
    est = np.empty(m)
    mse_v = np.empty(m)
    method = np.empty(m, dtype=object)
    gamma = np.zeros(m)
    est[sampled] = fit.eblup
    mse_v[sampled] = fit.mse_eblup
    gamma[sampled] = fit.gamma
    method[sampled] = "EBLUP"
    if (~sampled).any():  # synthetic x' beta; MSE sigma2_v + x' V(beta) x
        Xn = np.column_stack([np.ones((~sampled).sum()), X[~sampled]])
        est[~sampled] = Xn @ fit.beta
        mse_v[~sampled] = fit.sigma2_v + np.einsum("ij,jk,ik->i", Xn, fit.beta_cov, Xn)
        method[~sampled] = "synthetic"
    eblup, eblup_mse = est.copy(), mse_v.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        direct_cv = np.sqrt(psi + other_var) / np.abs(other + y)
    keep = sampled & (direct_cv <= cv_max) & (psi > 0)
    est[keep] = y[keep]
    mse_v[keep] = psi[keep]
    method[keep] = "direct"
    G = len(targets)
    gap = targets - np.bincount(groups, weights=est, minlength=G)
    total_a = np.bincount(groups, weights=mse_v, minlength=G)
    adjust = gap[groups] * mse_v / np.maximum(total_a[groups], 1e-300)
    return {"estimate": est + adjust, "mse": mse_v + adjust**2, "method": method,
            "gamma": gamma, "adjust": adjust, "direct_cv": direct_cv, "eblup": eblup,
            "eblup_mse": eblup_mse}


def levels_table(sector: pd.DataFrame, cities: pd.DataFrame, counties: pd.DataFrame, *,
                 city: str = "city", county: str = "county_code",
                 names: Mapping[str, str] | None = None, region: str = "450000",
                 region_name: str = "广西") -> pd.DataFrame:
    """The three-level table: the region, then each city followed by its counties.

    Parameters
    ----------
    sector : pandas.DataFrame
        The sector table of the period (``CombinedEstimate.table()``).
    cities : pandas.DataFrame
        The city table (by ``city``) with a ``city_code`` column (administrative code).
    counties : pandas.DataFrame
        :func:`county_estimates` of the variables (concatenated).
    names : mapping, optional
        Administrative code -> printed name.

    Returns
    -------
    pandas.DataFrame
        ``level, code, name, parent, method, variable, estimate, se, cv, ci_low, ci_high,
        df, n``; county rows add up to their city, city rows to the region.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> levels = demo_result().estimates.levels  # levels_table of the demo
    >>> levels.groupby("level", sort=False).size().to_dict()
    {'region': 3, 'city': 42, 'county': 192}
    """
    names = dict(names or {})
    cols = ["variable", "estimate", "se", "cv", "ci_low", "ci_high"]
    top = sector[cols].assign(level="region", code=region, name=region_name, parent="",
                              method="design", df=sector["df"], n=sector["n"])
    mid = cities[["city_code", *cols, "df", "n"]].rename(columns={"city_code": "code"}).assign(
        level="city", parent=region, method="design")
    mid["name"] = [names.get(c, c) for c in mid["code"]]
    low = counties[[county, "city_code", *cols, "method", "n"]].rename(
        columns={county: "code", "city_code": "parent"}).assign(level="county", df=np.inf)
    low["name"] = [names.get(c, c) for c in low["code"]]
    out = pd.concat([top, mid, low], ignore_index=True)
    rank = {"region": 0, "city": 1, "county": 2}
    out["_city"] = np.where(out["level"] == "county", out["parent"], out["code"])
    out["_city"] = np.where(out["level"] == "region", "", out["_city"])
    out["_rank"] = out["level"].map(rank)
    order = {v: i for i, v in enumerate(dict.fromkeys(sector["variable"]))}
    out["_variable"] = out["variable"].map(order)
    out = out.sort_values(["_city", "_rank", "code", "_variable"], kind="stable")
    keep = ["level", "code", "name", "parent", "method", *cols, "df", "n"]
    return out[keep].reset_index(drop=True)


def county_levels(sample: Any, take_all: pd.DataFrame, frame: pd.DataFrame,
                  variables: Sequence[str], *, sector: pd.DataFrame, cities: pd.DataFrame,
                  city: str = "city", county: str = "county_code",
                  names: Mapping[str, str] | None = None, region: str = "450000",
                  region_name: str = "广西", **options: Any
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """County totals of every variable and the three-level table of one period.

    :func:`county_estimates` of each variable (``options``: ``size``, ``model``,
    ``cv_max``, ``mse``, ``level``, ``seed``), the cities' administrative codes from
    their counties' (:func:`city_code`), then :func:`levels_table`.

    Parameters
    ----------
    sample : survey.Survey
        The weighted sample of the period.
    take_all : pandas.DataFrame
        The take-all panel's rows of the period.
    frame : pandas.DataFrame
        The plan's register (columns ``part``, ``city`` and ``county``).
    variables : sequence of str
    sector, cities : pandas.DataFrame
        The sector table and the city table (by ``city``) of the period
        (``CombinedEstimate.table()``).
    city, county, names, region, region_name
        As for :func:`levels_table`.
    **options
        Passed to :func:`county_estimates`.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The county estimates (every variable) and the three-level table.

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> r = demo_result()
    >>> est = r.estimates.by_period
    >>> counties, table = county_levels(
    ...     r.surveys["2006Q4"], r.take_all[r.take_all["period"] == "2006Q4"],
    ...     r.plans[2006].frame.data, ["gross_output"], sector=est["sector"]["2006Q4"].table(),
    ...     cities=est["city"]["2006Q4"].table(), seed=1)
    >>> table["level"].unique().tolist(), int((table["level"] == "county").sum()) == len(counties)
    (['region', 'city', 'county'], True)
    """
    counties = pd.concat([county_estimates(sample, take_all, frame, v, county=county, **options)
                          for v in variables], ignore_index=True)
    codes = pd.DataFrame({"city": frame[city], "city_code": city_code(frame[county])})
    codes = codes.drop_duplicates("city").set_index("city")["city_code"]
    cities = cities.assign(city_code=cities[city].map(codes).to_numpy())
    return counties, levels_table(sector, cities, counties, city=city, county=county,
                                  names=names, region=region, region_name=region_name)
