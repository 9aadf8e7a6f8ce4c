"""Lonely PSUs: the rule within domains, the report of touched strata, collapsing strata.

* :func:`domain_lonely_correction`: R ``options(survey.adjust.domain.lonely =
  TRUE)`` (``Design(lonely_psu_in_domain=True)``). A stratum with ``n_h > 1``
  PSUs of which only one has rows in a domain is "lonely in the domain":
  ``"adjust"`` leaves that PSU's total uncentred (contribution
  ``(1 - f_h) n_h / (n_h - 1) z^2`` instead of ``(1 - f_h) z^2``) and
  ``"average"`` drops the stratum and scales the domain's stage-1 variance by
  ``H_d / H_d,ok`` (strata with domain rows over those with two or more domain
  PSUs). Stage 1, uncalibrated designs (R keeps calibrated domains in the
  whole design, so the rule never applies to them).
* :func:`lonely_strata`: which strata every rule touched (design, replicates, domains).
* :func:`collapse_strata`: pair every stratum with one PSU with its nearest
  neighbour by a user key (as ReGenesees ``collapse.strata``), returning the
  new survey and an audit table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from survey.design import Design
from survey.errors import ColumnError, DesignError
from survey.estimation.structure import VarianceStructure
from survey.lazy import lazy_module

sp = lazy_module("scipy.sparse")
csgraph = lazy_module("scipy.sparse.csgraph")

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["domain_lonely_correction", "lonely_strata", "collapse_strata", "CollapsedStrata"]

_ACTIONS = {
    "remove": "no variance (stratum removed)",
    "certainty": "no variance (treated as certainty)",
    "adjust": "PSU total centred at zero",
    "average": "average variance of the other strata",
}


def _stage1_cells(structure: VarianceStructure, scores: np.ndarray, domain: np.ndarray, D: int):
    """Stage-1 (unit, domain) totals and (stratum, domain) cells: their sums and unit counts."""
    st = structure.stages[0]
    keep = domain >= 0
    key = np.asarray(st.row_units())[keep].astype(np.int64) * D + domain[keep]
    ukey, inv = np.unique(key, return_inverse=True)
    k = scores.shape[1]
    s = scores[keep]
    Z = np.column_stack([np.bincount(inv, weights=s[:, j], minlength=ukey.size) for j in range(k)])
    unit, dom = ukey // D, ukey % D
    h = np.asarray(st.unit_stratum)[unit]
    hkey = h.astype(np.int64) * D + dom
    ckey, cinv = np.unique(hkey, return_inverse=True)
    S = np.column_stack([np.bincount(cinv, weights=Z[:, j], minlength=ckey.size) for j in range(k)])
    cnt = np.bincount(cinv, minlength=ckey.size)
    return Z, cinv, ckey // D, ckey % D, S, cnt


def domain_lonely_correction(
    structure: VarianceStructure, scores: np.ndarray, domain: np.ndarray, n_domains: int, rule: str
) -> np.ndarray:
    """What R ``survey.adjust.domain.lonely = TRUE`` adds to the stage-1 domain variances.

    Parameters
    ----------
    structure : VarianceStructure
    scores : numpy.ndarray, shape (n, k)
        Influence values, zero outside the domains.
    domain : numpy.ndarray of int, shape (n,)
    n_domains : int
    rule : {"adjust", "average"}
        The design's ``lonely_psu`` (other rules: no change).

    Returns
    -------
    numpy.ndarray, shape (n_domains, k, k)
        To be added to :func:`survey.estimation.variance.linearization_variance`.

    Examples
    --------
    Stratum "a" has two PSUs but only one in the domain: ``"adjust"`` adds
    ``f/(n-1) z^2`` (here ``1 * 2^2``).

    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"h": ["a", "a", "b", "b"], "w": 1.0}), sv.Design(strata="h", weights="w"))
    >>> z = np.array([[2.0], [0.0], [1.0], [3.0]])
    >>> domain_lonely_correction(s.variance_structure, z, np.array([0, -1, 0, 0]), 1, "adjust")
    array([[[4.]]])
    """
    z = np.asarray(scores, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    k = z.shape[1]
    D = n_domains
    out = np.zeros((D, k, k))
    if rule not in ("adjust", "average"):
        return out
    st = structure.stages[0]
    n_h = np.bincount(np.asarray(st.unit_stratum), minlength=st.n_strata)
    Z, cinv, ch, cd, S, cnt = _stage1_cells(structure, z, domain, D)
    sq, cross = np.asarray(st.sq_coef)[ch], np.asarray(st.cross_coef)[ch]
    lonely = (cnt == 1) & (n_h[ch] > 1) & (sq > 0)
    if not lonely.any():
        return out
    if rule == "adjust":
        for a in range(k):
            for b in range(a, k):
                val = np.bincount(cd, weights=np.where(lonely, cross * S[:, a] * S[:, b], 0.0), minlength=D)
                out[:, a, b] = val
                out[:, b, a] = val
        return out
    # average: recompute the stage-1 sum with and without the lonely cells
    avg_out = np.asarray(st.average_out)[ch]
    V = np.zeros((ch.size, k, k))
    sqz = sq[cinv]
    for a in range(k):
        for b in range(a, k):
            v = np.bincount(cinv, weights=sqz * Z[:, a] * Z[:, b], minlength=ch.size) - cross * S[:, a] * S[:, b]
            V[:, a, b] = v
            V[:, b, a] = v
    H_d = np.bincount(cd, minlength=D).astype(float)
    ok_old = ~avg_out
    ok_new = ok_old & ~lonely
    n_old = np.bincount(cd, weights=ok_old.astype(float), minlength=D)
    n_new = np.bincount(cd, weights=ok_new.astype(float), minlength=D)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_old = H_d / n_old if st.average_out.any() else np.ones(D)
        s_new = H_d / n_new
    old = np.zeros((D, k, k))
    new = np.zeros((D, k, k))
    np.add.at(old, cd[ok_old], V[ok_old])
    np.add.at(new, cd[ok_new], V[ok_new])
    return new * s_new[:, None, None] - old * np.where(np.isfinite(s_old), s_old, 0.0)[:, None, None]


def _domain_codes(survey: Survey, by: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    data = survey.data
    missing = [b for b in by if b not in data.columns]
    if missing:
        survey.column(missing[0])
    grouped = data[list(by)].groupby(list(by), sort=True, observed=True, dropna=False)
    return grouped.ngroup().to_numpy().astype(np.intp), grouped.size().index.to_frame(index=False)


def lonely_strata(survey: Survey, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The stage-1 strata a lonely-PSU rule touched, and what it did to them.

    Parameters
    ----------
    survey : Survey
    by : str or sequence of str, optional
        Domain columns: also list strata with a single PSU *within* a domain
        (those ``Design(lonely_psu_in_domain=True)`` acts on).

    Returns
    -------
    pandas.DataFrame
        One row per touched stratum (and domain): ``stratum``, the ``by``
        columns, ``n_psu`` (in the design), ``n_psu_domain``, ``level``
        (``"design"``, ``"replicates"`` or ``"domain"``), ``rule`` and ``action``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b"], "w": [2.0, 2.0, 1.0], "y": [1.0, 2.0, 3.0]})
    >>> sv.Survey(df, sv.Design(strata="h", weights="w", lonely_psu="adjust")).lonely_strata()
      stratum  n_psu  n_psu_domain   level    rule                     action
    0       b      1             1  design  adjust  PSU total centred at zero
    """
    design = survey.design
    rule = design.lonely_psu
    labels = np.asarray(survey.strata_labels, dtype=object)
    byl = [by] if isinstance(by, str) else list(by or [])
    rows: list[dict[str, Any]] = []
    pps = survey.pps_structure
    st = survey.variance_structure.stages[0]
    n_h = np.bincount(np.asarray(st.unit_stratum), minlength=st.n_strata)
    if pps is not None:
        lonely = np.asarray(pps.lonely)
    else:
        frac = np.zeros(st.n_strata)
        frac[np.asarray(survey.strata_codes)] = np.asarray(survey.stage1_fraction)
        lonely = (n_h == 1) & (frac < 1 - 1e-7)
    for h in np.flatnonzero(lonely):
        rows.append(dict(stratum=labels[h], n_psu=int(n_h[h]), n_psu_domain=int(n_h[h]), level="design",
                         rule=rule, action=_ACTIONS.get(rule, rule)))
    rep = survey.replicates
    lay = getattr(rep, "layout", None)
    if rep is not None and lay is not None and rep.method == "jkn":
        lab = np.asarray(lay.stratum_labels, dtype=object)
        extra = set(np.asarray(getattr(lay, "adjust_strata", np.empty(0, int))).tolist())
        single = (lay.stratum_size == 1) & (lay.fraction < 1 - 1e-12)
        for h in np.flatnonzero(single):
            if h in extra:
                action = "extra replicate: PSU deleted, all other units x H/(H-1)"
            elif rep.lonely_psu == "average":
                action = "no replicate; scale = PSUs / replicates"
            else:
                action = "no replicate"
            rows.append(dict(stratum=lab[h], n_psu=1, n_psu_domain=1, level="replicates",
                             rule=rep.lonely_psu, action=action))
    if byl:
        dom, keys = _domain_codes(survey, byl)
        mask = survey.subset_mask
        dom = dom if mask is None else np.where(mask, dom, -1)
        D = len(keys)
        ones = np.ones((dom.shape[0], 1))
        Z, cinv, ch, cd, S, cnt = _stage1_cells(survey.variance_structure, ones, dom, D)
        frac = np.zeros(st.n_strata)
        frac[np.asarray(survey.strata_codes)] = np.asarray(survey.stage1_fraction)
        hit = (cnt == 1) & (n_h[ch] > 1) & (frac[ch] < 1 - 1e-7)
        applies = design.lonely_psu_in_domain and rule in ("adjust", "average") and pps is None
        for i in np.flatnonzero(hit):
            row = dict(stratum=labels[ch[i]])
            row.update({c: keys[c].iloc[cd[i]] for c in byl})
            row.update(n_psu=int(n_h[ch[i]]), n_psu_domain=1, level="domain", rule=rule,
                       action=("PSU total not centred" if rule == "adjust" else "average variance of the domain's other strata")
                       if applies else "none (lonely_psu_in_domain=False: centred on the stratum mean)")
            rows.append(row)
    cols = ["stratum", *byl, "n_psu", "n_psu_domain", "level", "rule", "action"]
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True, eq=False)
class CollapsedStrata:
    """The result of :func:`collapse_strata`.

    Attributes
    ----------
    survey : Survey
        The survey with the collapsed strata (a new design on new columns).
    table : pandas.DataFrame
        Audit: one row per original stratum that was merged (``stratum``,
        ``key``, ``n_psu``, ``lonely``, ``collapsed_stratum``, ``n_psu_collapsed``).
    """

    survey: Any
    table: pd.DataFrame

    @property
    def design(self) -> Design:
        """The new design."""
        return self.survey.design

    @property
    def data(self) -> pd.DataFrame:
        """The data with the new stratum (and fpc) column."""
        return self.survey.data


def collapse_strata(
    survey: Survey,
    key: str,
    *,
    column: str = "collapsed_stratum",
    fpc_column: str = "collapsed_fpc",
    weight_column: str = "design_weight",
) -> CollapsedStrata:
    """Pair every stratum that has a single PSU with its nearest neighbour by a key.

    The strata are ordered by ``key`` (a column constant within strata: a
    size class, a region code, ...); each lonely stratum is merged with the
    adjacent stratum whose key is closest (the previous one on a tie). Strata
    chained by such pairs form one collapsed stratum (a lonely neighbour is
    merged too). Population sizes add up: the new fpc column is the sum of the
    merged strata's ``N_h`` (the collapsed variance treats the merged strata as
    one, which overstates the variance: the usual conservative choice).

    Parameters
    ----------
    survey : Survey
        An unweighted survey (collapse strata at the design stage).
    key : str
        Numeric or ordered column, constant within strata.
    column : str, default="collapsed_stratum"
        Name of the new stratum column (labels ``"a+b"``).
    fpc_column : str, default="collapsed_fpc"
        Name of the new stage-1 fpc column (population sizes), when the design has an fpc.
    weight_column : str, default="design_weight"
        When the design takes its weights from the fpc, the weights are kept in
        this new column: collapsing changes the variance, never the estimates.

    Returns
    -------
    CollapsedStrata
        ``.survey`` (new design on the new columns), ``.table`` (audit).

    Raises
    ------
    DesignError
        A key that varies within a stratum, a weighted survey, or a design without strata.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "c", "c"], "size": [1, 1, 2, 5, 5],
    ...                    "w": 2.0, "y": [1.0, 2.0, 4.0, 3.0, 5.0]})
    >>> out = collapse_strata(sv.Survey(df, sv.Design(strata="h", weights="w", lonely_psu="remove")), "size")
    >>> out.table[["stratum", "collapsed_stratum", "lonely"]]
      stratum collapsed_stratum  lonely
    0       a               a+b   False
    1       b               a+b    True
    >>> out.survey.data["collapsed_stratum"].tolist()
    ['a+b', 'a+b', 'a+b', 'c', 'c']
    """
    design = survey.design
    if design.strata is None:
        raise DesignError("collapse_strata needs a stratified design")
    if survey.weighting:
        raise DesignError("collapse strata before weighting (this survey has weighting steps)")
    if key not in survey.data.columns:
        survey.column(key)
    needs_weights = design.weights is None and design.probs is None
    for c in (column, fpc_column, *([weight_column] if needs_weights else [])):
        if c in survey.data.columns:
            raise ColumnError(f"column {c!r} already exists; choose another name")
    data = survey.data
    codes = np.asarray(survey.strata_codes)
    labels = np.asarray(survey.strata_labels, dtype=object)
    H = labels.shape[0]
    kv = data[key]
    first = pd.Series(np.arange(len(data))).groupby(codes).first().to_numpy()
    kh = kv.iloc[first].to_numpy()
    varies = data.groupby(codes)[key].nunique(dropna=False).to_numpy() > 1
    if varies.any():
        raise DesignError(f"key column {key!r} varies within stratum {labels[np.flatnonzero(varies)[0]]!r}")
    st = survey.variance_structure.stages[0]
    n_h = np.bincount(np.asarray(st.unit_stratum), minlength=st.n_strata)
    frac = np.zeros(H)
    frac[codes] = np.asarray(survey.stage1_fraction)
    lonely = (n_h == 1) & (frac < 1 - 1e-7)
    order = np.argsort(pd.Series(kh).rank(method="first").to_numpy(), kind="stable")
    pos = np.empty(H, dtype=np.intp)
    pos[order] = np.arange(H)
    numeric = pd.api.types.is_numeric_dtype(kv)
    kval = np.asarray(kh, dtype=float) if numeric else pos.astype(float)
    lone = np.flatnonzero(lonely)
    if lone.size and H < 2:
        raise DesignError("the only stratum has a single PSU: nothing to collapse it with")
    p = pos[lone]
    prev = np.where(p > 0, order[np.maximum(p - 1, 0)], -1)
    nxt = np.where(p < H - 1, order[np.minimum(p + 1, H - 1)], -1)
    d_prev = np.where(prev >= 0, np.abs(kval[lone] - kval[np.maximum(prev, 0)]), np.inf)
    d_next = np.where(nxt >= 0, np.abs(kval[lone] - kval[np.maximum(nxt, 0)]), np.inf)
    partner = np.where(d_prev <= d_next, prev, nxt)
    graph = sp.csr_matrix((np.ones(lone.size), (lone, partner)), shape=(H, H))
    _, comp = csgraph.connected_components(graph, directed=False)
    # collapsed labels: member labels in key order, joined by "+"
    member_rank = pos
    comp_order = np.lexsort((member_rank, comp))
    names = pd.Series(labels[comp_order].astype(str)).groupby(comp[comp_order]).agg("+".join)
    new_label = names.to_numpy()[comp]
    merged = np.bincount(comp, minlength=comp.max() + 1)[comp] > 1
    new_data = data.assign(**{column: new_label[codes]})
    new_design = dataclasses.replace(design, strata=column)
    if design.fpc:
        N_h = np.where(frac > 0, n_h / np.where(frac > 0, frac, 1.0), np.nan)
        N_new = pd.Series(N_h).groupby(comp).transform(lambda s: s.sum(min_count=len(s))).to_numpy()
        new_data[fpc_column] = N_new[codes]
        new_design = dataclasses.replace(new_design, fpc=(fpc_column, *design.fpc[1:]))
    if needs_weights:
        new_data[weight_column] = np.asarray(survey.weights)
        new_design = dataclasses.replace(new_design, weights=weight_column)
    n_new = pd.Series(n_h).groupby(comp).transform("sum").to_numpy()
    table = pd.DataFrame({
        "stratum": labels,
        "key": kh,
        "n_psu": n_h,
        "lonely": lonely,
        "collapsed_stratum": new_label,
        "n_psu_collapsed": n_new,
    })[merged].iloc[np.argsort(pos[merged], kind="stable")].reset_index(drop=True)
    return CollapsedStrata(survey=type(survey)(new_data, new_design), table=table)

