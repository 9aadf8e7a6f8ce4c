"""Running the out-of-core estimation passes and combining their tables.

A :class:`Passes` holds what the queries of one estimate read (the engine
session, the SQL of the sample relation, the stages, the subset condition
and the weighting) and runs them: totals in one pass per stage; ratios,
means and proportions with their domain totals first and the linearised
scores second; after weighting, the residual model's normal equations first
and the residuals second, with the model-weight sums cached per weighting.
The SQL text is in :mod:`.queries`, the numpy finishing in :mod:`.tables`
and :mod:`survey.estimation.outofcore_variance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from survey.engine import Session
from survey.errors import SurveyError
from survey.estimation.outofcore.queries import (
    ZERO,
    W,
    calibrated_totals_sql,
    model_sums_by_domain_sql,
    model_sums_sql,
    ratio_totals_sql,
    stage_query_calibrated_sql,
    stage_query_sql,
    units_sql,
)
from survey.estimation.outofcore.tables import (
    Result,
    domain_keys,
    domain_sums,
    raise_missing,
    with_domain,
    with_stratum,
)
from survey.estimation.outofcore.weighting import SQLWeighting
from survey.estimation.outofcore_variance import (
    OutsideSums,
    StageTable,
    calibrated_cluster_variance,
    calibrated_element_variance,
    outside_sums,
    plain_variance,
)

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class CalibratedFit:
    """The first pass of scores after weighting (:meth:`Passes.calibrated_fit`).

    Attributes
    ----------
    keys : pandas.DataFrame
        The domains.
    sums, counts : numpy.ndarray
        Point sums and counts, domains x scores.
    beta_cat, beta_num : numpy.ndarray
        The residual model's coefficients: domains x cells x scores, domains x numeric x scores.
    view : str
        The registered view of the fitted terms (the caller drops it).
    join : str
        The SQL join that adds the view to the rows ``b``.
    resid : list of str
        The SQL residual of each score (reads the view).
    """

    keys: pd.DataFrame
    sums: np.ndarray
    counts: np.ndarray
    beta_cat: np.ndarray
    beta_num: np.ndarray
    view: str
    join: str
    resid: list[str]


@dataclass(frozen=True, eq=False)
class Passes:
    """The estimation passes over one out-of-core sample.

    Attributes
    ----------
    session : Session
        Where the queries run.
    relation : str
        SQL of the sample (:meth:`OutOfCoreSurvey.relation`), alias ``b`` in the queries.
    stages : tuple of StageTable
    condition : str or None
        The subset condition.
    weighting : SQLWeighting or None
        The weighting step applied (its ``cache`` keeps the model-weight sums).
    """

    session: Session
    relation: str
    stages: tuple[StageTable, ...]
    condition: str | None
    weighting: SQLWeighting | None

    def run(self, zs: list[str], valid: list[str], by: list[str], names: list[str], *,
            na: str, join: str = "", keys: pd.DataFrame | None = None) -> Result:
        """Scores ``zs`` (SQL over alias ``b``) -> point sums, counts and covariances by domain."""
        k = len(zs)
        if self.weighting is not None:
            return self.run_calibrated(zs, valid, by, names, na=na, join=join, keys=keys)
        raw = [self.stage_query(st, zs, valid, by, join) for st in self.stages]
        if keys is None:
            keys = domain_keys(raw[0], by)
        if na == "error":
            raise_missing(raw[0], names, k)
        D = len(keys)
        tables = [with_stratum(st, with_domain(t, keys, by)) for st, t in zip(self.stages, raw)]
        sums, counts = domain_sums(tables[0], D, k)
        cov = plain_variance(self.stages, tables, D, k)
        return Result(keys=keys, sums=sums, counts=counts, cov=cov)

    def ratio(self, ys: list[str], xs: list[str], valid: list[str], by: list[str], labels: list[str],
              na: str, join: str = "") -> tuple[Result, np.ndarray]:
        """Ratios: domain totals in a first pass, linearised scores in a second (as Survey)."""
        s = self.session
        k = len(ys)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        first = s.sql(ratio_totals_sql(s.q, self.relation, self.condition, ys, xs, valid, by, join))
        keys = domain_keys(first, by)
        if na == "error":
            raise_missing(first, labels, k)
        first = first.merge(keys, on=dal, how="left") if by else first.assign(__sv_dom=0)
        D = len(keys)
        dom = first["__sv_dom"].to_numpy(dtype=np.intp)
        Y = np.column_stack([np.bincount(dom, weights=first[f"y{j}"].to_numpy(float), minlength=D)
                             for j in range(k)])
        X = np.column_stack([np.bincount(dom, weights=first[f"x{j}"].to_numpy(float), minlength=D)
                             for j in range(k)])
        R, view, join2, zs = self.ratio_scores(keys, Y, X, ys, xs, valid, by, join)
        try:
            res = self.run(zs, valid, by, labels, na="drop", join=join2, keys=keys)
        finally:
            s.drop(view)
        return res, R

    def ratio_scores(self, keys: pd.DataFrame, Y: np.ndarray, X: np.ndarray, ys: list[str],
                     xs: list[str], valid: list[str], by: list[str], join: str
                     ) -> tuple[np.ndarray, str, str, list[str]]:
        """``R = Y / X`` by domain, registered as view ``dt`` (dropped by the caller), the join
        that adds it to ``join`` and the linearised scores ``w (y - R x) / X`` over ``b``, ``dt``."""
        s, q = self.session, self.session.q
        dal = [f"__sv_d{i}" for i in range(len(by))]
        with np.errstate(divide="ignore", invalid="ignore"):
            R = np.where(X != 0, Y / X, np.nan)
        table = keys.drop(columns="__sv_dom").rename(columns={a: f"__sv_j{i}" for i, a in enumerate(dal)})
        for j in range(len(ys)):
            table[f"__sv_R{j}"] = np.nan_to_num(R[:, j])
            table[f"__sv_X{j}"] = X[:, j]
        view = s.register(table.reset_index(drop=True))
        if by:
            on = " AND ".join(f"b.{q(c)} = dt.__sv_j{i}" for i, c in enumerate(by))
            join2 = f"{join} LEFT JOIN {view} dt ON {on}"
        else:
            join2 = f"{join} CROSS JOIN {view} dt"
        zs = [
            f"CASE WHEN {valid[j]} AND dt.__sv_X{j} <> 0 THEN (b.{W} * ({ys[j]} - dt.__sv_R{j} * {xs[j]})) "
            f"/ dt.__sv_X{j} ELSE {ZERO} END"
            for j in range(len(ys))
        ]
        return R, view, join2, zs

    def totals_and_ratios(self, zs: list[str], valid: list[str], by: list[str], names: list[str],
                          pairs: list[tuple[int, int]], ys: list[str], xs: list[str]
                          ) -> tuple[Result, Result, np.ndarray]:
        """Complete-case totals of the scores ``zs`` and the ratios of pairs of them, together.

        ``pairs[j] = (a, b)``: ratio ``j`` is ``ys[j] / xs[j]`` over the rows valid for ``zs[a]``
        (the same as for ``zs[b]``), whose domain totals are those of ``zs[a]`` and ``zs[b]``:
        no first pass of its own. After weighting, the residuals of the totals and of the
        linearised scores go through one variance pass.
        """
        rvalid = [valid[a] for a, _ in pairs]
        labels = [f"{y}/{x}" for y, x in zip(ys, xs)]
        if self.weighting is None:
            tot = self.run(zs, valid, by, names, na="drop")
            Y, X = tot.sums[:, [a for a, _ in pairs]], tot.sums[:, [b for _, b in pairs]]
            R, view, join, rz = self.ratio_scores(tot.keys, Y, X, ys, xs, rvalid, by, "")
            try:
                return tot, self.run(rz, rvalid, by, labels, na="drop", join=join, keys=tot.keys), R
            finally:
                self.session.drop(view)
        tot = self.calibrated_fit(zs, valid, by, names, na="drop", join="", keys=None)
        views = [tot.view]
        try:
            Y, X = tot.sums[:, [a for a, _ in pairs]], tot.sums[:, [b for _, b in pairs]]
            R, dt, join, rz = self.ratio_scores(tot.keys, Y, X, ys, xs, rvalid, by, "")
            views.append(dt)
            rat = self.calibrated_fit(rz, rvalid, by, labels, na="drop", join=join, keys=tot.keys,
                                      alias="br")
            views.append(rat.view)
            cov = self.calibrated_cov([tot, rat], zs + rz, valid + rvalid, by, tot.keys, join)
        finally:
            for v in views:
                self.session.drop(v)
        k = len(zs)
        return (Result(keys=tot.keys, sums=tot.sums, counts=tot.counts, cov=cov[:, :k, :k]),
                Result(keys=tot.keys, sums=rat.sums, counts=rat.counts, cov=cov[:, k:, k:]), R)

    def run_calibrated(self, zs: list[str], valid: list[str], by: list[str], names: list[str], *,
                       na: str, join: str, keys: pd.DataFrame | None) -> Result:
        """After weighting: normal equations of the residual model first, residuals in a second pass."""
        fit = self.calibrated_fit(zs, valid, by, names, na=na, join=join, keys=keys)
        try:
            cov = self.calibrated_cov([fit], zs, valid, by, fit.keys, join)
        finally:
            self.session.drop(fit.view)
        return Result(keys=fit.keys, sums=fit.sums, counts=fit.counts, cov=cov)

    def calibrated_fit(self, zs: list[str], valid: list[str], by: list[str], names: list[str], *,
                       na: str, join: str, keys: pd.DataFrame | None, alias: str = "bt") -> CalibratedFit:
        """The first pass after weighting: point sums, counts, the residual model's betas,
        registered as view ``alias`` (dropped by the caller), and the residuals over it."""
        s, q, wg = self.session, self.session.q, self.weighting
        k = len(zs)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        C = [f"__sv_c{m}" for m in range(len(wg.margins))]
        p = len(wg.numeric)
        # pass 1: per domain x cell, the right-hand sides of the residual model, point sums, counts
        first = s.sql(calibrated_totals_sql(q, self.relation, self.condition, wg, zs, valid, by, join))
        if keys is None:
            keys = domain_keys(first, by)
        if na == "error":
            raise_missing(first, names, k)
        D = len(keys)
        first = wg.with_cells(with_domain(first, keys, by))
        sums, counts = domain_sums(first, D, k)
        beta_cat, beta_num = wg.betas(first, D, k)
        # the fitted model term of every (domain, cell), joined to the rows in the second pass
        bt = first[dal + C].rename(columns={a: f"__sv_j{i}" for i, a in enumerate(dal)})
        bt = bt.rename(columns={c: c.replace("__sv_c", "__sv_bc") for c in C}).reset_index(drop=True)
        dom, cell = first["__sv_dom"].to_numpy(), first["__sv_cell"].to_numpy()
        for j in range(k):
            bt[f"__sv_bt{j}"] = beta_cat[dom, cell, j]
            for i in range(p):
                bt[f"__sv_bn{i}_{j}"] = beta_num[dom, i, j]
        view = s.register(bt)
        on = [f"b.{q(c)} = {alias}.__sv_j{i}" for i, c in enumerate(by)]
        on += [f"b.{c} = {alias}.{c.replace('__sv_c', '__sv_bc')}" for c in C]
        join2 = f"{'LEFT JOIN' if on else 'CROSS JOIN'} {view} {alias}" + (f" ON {' AND '.join(on)}" if on else "")
        m = wg.model_weight_sql("b")
        resid = []
        for j, z in enumerate(zs):
            fit = " + ".join([f"{alias}.__sv_bt{j}"] + [f"CAST(b.{q(c)} AS DOUBLE) * {alias}.__sv_bn{i}_{j}"
                                                      for i, c in enumerate(wg.numeric)])
            resid.append(f"({z}) - ({m}) * ({fit})")
        return CalibratedFit(keys, sums, counts, beta_cat, beta_num, view, join2, resid)

    def calibrated_cov(self, fits: list[CalibratedFit], zs: list[str], valid: list[str], by: list[str],
                       keys: pd.DataFrame, join: str) -> np.ndarray:
        """The second pass after weighting: covariances of the scores ``zs`` (those of ``fits``,
        in order; ``join`` adds what they read) from their residuals, by domain."""
        wg = self.weighting
        k, D, p = len(zs), len(keys), len(wg.numeric)
        beta_cat = np.concatenate([f.beta_cat for f in fits], axis=-1)
        beta_num = np.concatenate([f.beta_num for f in fits], axis=-1)
        resid = [r for f in fits for r in f.resid]
        join2 = " ".join([join, *(f.join for f in fits)])
        cov = np.zeros((D, k, k))
        for i, st in enumerate(self.stages):
            if st.unit is None:
                t = with_stratum(st, with_domain(
                    self.stage_query(st, resid, valid, by, join2, counts=False), keys, by))
                mt = self.outside_sums(i, by, keys, beta_cat.shape[1], p)
                cov += calibrated_element_variance(st, t, mt, beta_cat, beta_num, D, k)
            else:
                t = self.stage_query_calibrated(st, zs, valid, by, join)
                t = wg.with_cells(with_domain(t, keys, by))
                tu = t.groupby(["__sv_unit", "__sv_dom"], sort=False)[[f"s{j}" for j in range(k)]].sum()
                cov += calibrated_cluster_variance(st, tu.reset_index(), self.model_sums(i), beta_cat,
                                                   beta_num, D, k)
        return cov

    def model_sums_by_domain(self, stage: int, by: list[str], keys: pd.DataFrame) -> pd.DataFrame:
        """Model-weight sums per stratum x cell x domain of the row, over all rows (cached).

        Rows outside the subset get domain ``D``. Independent of the variables.
        """
        wg = self.weighting
        key = ("md", stage, tuple(by), self.condition)
        cached = wg.cache.get(key)
        if cached is not None:
            return cached
        st = self.stages[stage]
        dal = [f"__sv_d{i}" for i in range(len(by))]
        table = self.session.sql(model_sums_by_domain_sql(self.session.q, self.relation, self.condition,
                                                          st, wg, by))
        D = len(keys)
        inn = table["__sv_in"].to_numpy() == 1
        if by:
            merged = table[dal].merge(keys, on=dal, how="left")["__sv_dom"].to_numpy()
            dom = np.where(inn, np.nan_to_num(merged, nan=-1), D).astype(np.intp)
            if (dom < 0).any():
                raise SurveyError("internal error: a domain of the model sums is not among the domains")
        else:
            dom = np.where(inn, 0, D).astype(np.intp)
        table = wg.with_cells(with_stratum(st, table.assign(__sv_dom=dom)))
        wg.cache[key] = table
        return table

    def outside_sums(self, stage: int, by: list[str], keys: pd.DataFrame, C: int, p: int) -> OutsideSums:
        """:func:`outside_sums` of the model sums by domain (cached with them: independent of
        the variables, shared by every estimate over the same domains)."""
        wg = self.weighting
        key = ("outside", stage, tuple(by), self.condition, len(keys))
        cached = wg.cache.get(key)
        if cached is None:
            cached = outside_sums(self.stages[stage], self.model_sums_by_domain(stage, by, keys),
                                  len(keys), C, p)
            wg.cache[key] = cached
        return cached

    def stage_query(self, st: StageTable, zs, valid, by, join, counts: bool = True) -> pd.DataFrame:
        """Per stratum x domain: sums and cross products of the unit totals of the scores."""
        return self.session.sql(stage_query_sql(self.session.q, self.relation, self.condition, st, zs,
                                                valid, by, join, counts))

    def stage_query_calibrated(self, st: StageTable, zs, valid, by, join) -> pd.DataFrame:
        """Clustered stage after weighting: score sums per unit x domain x cell (pulled to numpy)."""
        table = self.session.sql(stage_query_calibrated_sql(self.session.q, self.relation, self.condition,
                                                            st, self.weighting, zs, valid, by, join))
        return self.with_unit(st, table)

    def model_sums(self, stage: int) -> pd.DataFrame:
        """Sums of the model weights per stratum x cell (element stage) or unit x cell, over all rows.

        Computed once per weighting and stage (cached): they depend on neither
        the variable nor the domain.
        """
        wg = self.weighting
        cached = wg.cache.get(("m", stage))
        if cached is not None:
            return cached
        st = self.stages[stage]
        table = self.session.sql(model_sums_sql(self.session.q, self.relation, st, wg))
        table = wg.with_cells(with_stratum(st, table))
        if st.unit is not None:
            table = self.with_unit(st, table)
        wg.cache[("m", stage)] = table
        return table

    def with_unit(self, st: StageTable, t: pd.DataFrame) -> pd.DataFrame:
        """Add ``__sv_unit`` codes (0..U-1, fixed per stage and weighting) to a unit-level table."""
        wg = self.weighting
        units = wg.cache.get(("units", id(st)))
        if units is None:
            units = self.session.sql(units_sql(self.session.q, self.relation, st))
            units = units.sort_values(st.aliases + ["__sv_u"], kind="stable").reset_index(drop=True)
            units["__sv_unit"] = np.arange(len(units))
            wg.cache[("units", id(st))] = units
        out = t.merge(units, on=st.aliases + ["__sv_u"], how="left")
        out["__sv_unit"] = out["__sv_unit"].astype(np.intp)
        return out
