"""Out-of-core calibration and post-stratification: Newton steps on tables of cells.

Newton-Raphson for calibration (R ``grake``) runs in numpy on the cells of
the categorical margins with the sums of the numeric auxiliaries: exact for
``method="linear"`` without bounds and for any method when every auxiliary
is categorical; otherwise each Newton step is one SQL pass that evaluates
``g`` row by row. The new weight is the SQL expression ``d * g(x'lambda)``
(an :class:`~survey.estimation.outofcore.weighting.SQLWeighting`). Same rules,
checks and messages as :func:`survey.estimation.weighting.calibrate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from survey.engine import is_numeric_type, sql_finite, sql_float
from survey.errors import CalibrationError, ColumnError, WeightError
from survey.estimation.calibration import (
    CalibrationFit,
    calibration_function,
    check_bounds,
    check_margin_sums,
    check_total,
    check_totals,
    convergence_error,
    solve_psd,
)
from survey.estimation.outofcore.weighting import (
    SQLWeighting,
    cell_query,
    check_survey,
    drop_views,
    level_table,
    register_margins,
)
from survey.estimation.weighting_steps import WeightingReport

__all__ = ["calibrate", "poststratify"]

_INTERCEPT = "(population size)"
_ZERO = "CAST(0 AS DOUBLE)"


def _calfun_sql(method: str, lower: float, upper: float, u: str) -> tuple[str, str]:
    """The same F in SQL: (g, dg) expressions of the SQL expression ``u``."""
    def clip(x: str) -> str:
        if np.isfinite(lower):
            x = f"GREATEST({x}, {sql_float(lower)})"
        if np.isfinite(upper):
            x = f"LEAST({x}, {sql_float(upper)})"
        return x

    def inside(x: str, lo: float, hi: float) -> str:
        parts = []
        if np.isfinite(lo):
            parts.append(f"{x} > {sql_float(lo)}")
        if np.isfinite(hi):
            parts.append(f"{x} < {sql_float(hi)}")
        return " AND ".join(parts) if parts else "TRUE"

    if method == "linear":
        g = clip(f"({sql_float(1.0)} + {u})")
        dg = f"CASE WHEN {inside(u, lower - 1.0, upper - 1.0)} THEN {sql_float(1.0)} ELSE {_ZERO} END"
        return g, dg
    if method == "raking":
        e = f"EXP({u})"
        return clip(e), f"CASE WHEN {inside(e, lower, upper)} THEN {e} ELSE {_ZERO} END"
    a = (upper - lower) / ((1.0 - lower) * (upper - 1.0))
    shift = float(np.log((1.0 - lower) / (upper - 1.0)))
    s = f"({sql_float(1.0)} / ({sql_float(1.0)} + EXP(-({sql_float(a)} * {u} + {sql_float(shift)}))))"
    g = f"({sql_float(lower)} + {sql_float(upper - lower)} * {s})"
    dg = f"({sql_float((upper - lower) * a)} * {s} * ({sql_float(1.0)} - {s}))"
    return g, dg


@dataclass(eq=False)
class _Column:
    kind: str  # "int", "cat", "num"
    index: int  # margin or numeric index
    level: int  # code within the margin
    target: float
    solve: bool
    margin: str
    label: Any


@dataclass(eq=False)
class _Spec:
    margins: list[dict]
    numeric: list[str]
    columns: list[_Column]
    sums: list[tuple[str, float]]


def _numeric_checks(survey: Any, column: str) -> None:
    types = survey.column_types
    if column not in types:
        raise ColumnError(f"unknown calibration column {column!r}")
    if not is_numeric_type(types[column]) or types[column] == "boolean":
        raise ColumnError(
            f"calibration column {column!r} is not numeric (type {types[column]}); give a "
            "{level: count} mapping for a categorical column"
        )
    x = f"CAST(b.{survey.session.q(column)} AS DOUBLE)"
    bad = survey.session.sql(
        f"SELECT SUM(CASE WHEN {sql_finite(x)} THEN 0 ELSE 1 END) AS bad FROM {survey.relation(None)} b"
    )["bad"].iloc[0]
    if bad and int(bad):
        raise ColumnError(
            f"auxiliary column {column!r} has {int(bad)} missing or infinite value(s) among weighted rows"
        )


def _build_spec(survey: Any, totals: Mapping[str, Any], population_size: float | None) -> _Spec:
    N = check_totals(totals, population_size)
    columns: list[_Column] = []
    margins: list[dict] = []
    numeric: list[str] = []
    sums: list[tuple[str, float]] = []
    have_intercept = population_size is not None
    if N is not None:
        columns.append(_Column("int", 0, 0, N, True, _INTERCEPT, ""))
        sums.append(("population_size", N))
    for column, value in totals.items():
        if isinstance(value, (Mapping, pd.Series)):
            mg = level_table(survey, column, value, len(margins), "totals")
            t = mg["target"]
            sums.append((repr(column), float(t.sum())))
            keep = ~((t == 0) & (mg["count"] == 0))  # R drops all-zero columns
            idx = np.flatnonzero(keep)
            remap = np.full(len(t), -1)
            remap[idx] = np.arange(idx.size)
            mg["codes"] = remap[mg["codes"]]
            mg["L"] = int(idx.size)
            for j, lev in enumerate(idx):
                solve = not (have_intercept and j == 0)
                columns.append(_Column("cat", len(margins), j, float(t[lev]), solve, column,
                                       mg["levels"][lev]))
            have_intercept = True
            margins.append(mg)
        else:
            value = check_total(column, value)
            _numeric_checks(survey, column)
            columns.append(_Column("num", len(numeric), 0, float(value), True, column, ""))
            numeric.append(column)
    check_margin_sums(sums)
    return _Spec(margins=margins, numeric=numeric, columns=columns, sums=sums)


def _labels(columns: list[_Column]) -> list[str]:
    return [
        f"{c.margin!r} = {c.label!r}" if c.kind == "cat" else (c.margin if c.kind == "int" else repr(c.margin))
        for c in columns
    ]


def _moments(t: pd.DataFrame, prefix: str, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(C, p) vector and (C, p, p) matrix columns ``{prefix}x{i}``, ``{prefix}xx{a}_{b}``."""
    v = np.column_stack([t[f"{prefix}x{i}"].to_numpy(float) for i in range(p)]) if p else np.zeros((len(t), 0))
    M = np.zeros((len(t), p, p))
    for a in range(p):
        for b in range(a, p):
            M[:, a, b] = M[:, b, a] = t[f"{prefix}xx{a}_{b}"].to_numpy(float)
    return v, M


def calibrate(survey: Any, totals: Mapping[str, Any], *, method: str = "linear",
              bounds: tuple[float, float] | None = None, population_size: float | None = None,
              max_iter: int = 50, tol: float = 1e-10, kind: str = "calibration") -> Any:
    """Calibrate an :class:`~survey.estimation.outofcore.OutOfCoreSurvey` (see its method).

    Same rules, checks and messages as :func:`survey.estimation.weighting.calibrate`.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.outofcore import scan
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "x": [1.0, 2.0, 4.0], "w": [1.0, 1.0, 2.0]})
    >>> s = calibrate(scan(df, sv.Design(weights="w")), {"k": {"a": 4, "b": 3}, "x": 18})
    >>> s.total("x").estimate.round(8)
    array([18.])
    """
    check_survey(survey, "calibration")
    lower, upper = check_bounds(method, bounds)
    spec = _build_spec(survey, totals, population_size)
    cols = spec.columns
    p = len(spec.numeric)
    codes_margins = tuple(register_margins(survey, spec.margins))
    codes_wg = SQLWeighting(kind="codes", margins=codes_margins, numeric=(), weight_sql="i.__sv_w0")
    try:
        cells = cell_query(survey, codes_wg, spec.numeric)
    finally:
        drop_views(survey, codes_margins)
    C = len(cells)
    code_cols = [f"__sv_c{m}" for m in range(len(spec.margins))]
    codes = cells[code_cols].to_numpy(dtype=np.int64) if code_cols else np.zeros((C, 0), np.int64)
    cat_cols = [c for c in cols if c.kind != "num"]
    X_cat = np.column_stack(
        [np.ones(C) if c.kind == "int" else (codes[:, c.index] == c.level).astype(float) for c in cat_cols]
    ) if cat_cols else np.zeros((C, 0))
    d_c = cells["d"].to_numpy(float)
    dx, dxx = _moments(cells, "d", p)

    def all_columns(w_cat: np.ndarray, wx: np.ndarray) -> np.ndarray:
        """X'w in model order from cell totals (cat part) and sums of w x (numeric part)."""
        out = np.empty(len(cols))
        cat_vals = X_cat.T @ w_cat
        ic = 0
        for i, c in enumerate(cols):
            if c.kind == "num":
                out[i] = wx[c.index]
            else:
                out[i] = cat_vals[ic]
                ic += 1
        return out

    before = all_columns(d_c, dx.sum(axis=0))
    targets = np.array([c.target for c in cols])
    _check_feasible(cols, before, targets, method, lower, upper)

    cat_solve = np.array([c.solve for c in cat_cols], dtype=bool)
    Xs = X_cat[:, cat_solve]
    pc = Xs.shape[1]
    num_order = [c.index for c in cols if c.kind == "num"]
    ts = np.array([c.target for c in cat_cols if c.solve] + [c.target for c in cols if c.kind == "num"])
    labels_all = _labels(cols)
    labels = [lab for lab, c in zip(labels_all, cols) if c.kind != "num" and c.solve] + \
             [lab for lab, c in zip(labels_all, cols) if c.kind == "num"]
    F = calibration_function(method, lower, upper)
    unbounded = not (np.isfinite(lower) or np.isfinite(upper))
    dxn = dx[:, num_order] if p else dx
    dxxn = dxx[:, num_order][:, :, num_order] if p else dxx
    numeric_ordered = [spec.numeric[i] for i in num_order]

    def moments_cells(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        u = Xs @ eta[:pc]
        if p == 0:
            with np.errstate(over="ignore", invalid="ignore"):
                g, dg = F(u)
            xdg = Xs.T @ (d_c * g)
            cross = (Xs * (d_c * dg)[:, None]).T @ Xs
            return xdg, cross, bool(np.all(np.isfinite(g)) and np.all(np.isfinite(dg)))
        # linear without bounds: g = 1 + u_cell + x'eta_num, exactly from the cell moments
        en = eta[pc:]
        base = d_c * (1.0 + u) + dxn @ en
        xdg = np.concatenate([Xs.T @ base, dxn.T @ (1.0 + u) + dxxn.sum(axis=0) @ en])
        cross = np.zeros((pc + p, pc + p))
        cross[:pc, :pc] = (Xs * d_c[:, None]).T @ Xs
        cross[:pc, pc:] = Xs.T @ dxn
        cross[pc:, :pc] = cross[:pc, pc:].T
        cross[pc:, pc:] = dxxn.sum(axis=0)
        return xdg, cross, True

    def eta_terms(eta: np.ndarray) -> tuple[list[np.ndarray], float, np.ndarray]:
        """Per-margin level terms, intercept and numeric coefficients of eta (model order)."""
        full = np.zeros(len(cat_cols))
        full[cat_solve] = eta[:pc]
        per_margin = [np.zeros(mg["L"]) for mg in spec.margins]
        intercept = 0.0
        for c, v in zip(cat_cols, full):
            if c.kind == "int":
                intercept = v
            else:
                per_margin[c.index][c.level] = v
        return per_margin, intercept, eta[pc:]

    def weighting_for(eta: np.ndarray, kind_: str) -> SQLWeighting:
        per_margin, intercept, en = eta_terms(eta)
        margins = tuple(register_margins(survey, spec.margins, per_margin))
        q = survey.session.q
        terms = []
        for c in cols:
            if c.kind == "int":
                terms.append(sql_float(intercept))
            elif c.kind == "cat":
                term = f"i.__sv_e{c.index}"
                if term not in terms:
                    terms.append(term)
            else:
                terms.append(f"CAST(i.{q(c.margin)} AS DOUBLE) * {sql_float(en[num_order.index(c.index)])}")
        u = " + ".join(terms) if terms else _ZERO
        g, _ = _calfun_sql(method, lower, upper, f"({u})")
        return SQLWeighting(kind=kind_, margins=margins, numeric=tuple(numeric_ordered),
                            weight_sql=f"i.__sv_w0 * {g}")

    def moments_sql(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        wg = weighting_for(eta, "codes")
        try:
            _, intercept, en = eta_terms(eta)
            s, q = survey.session, survey.session.q
            terms = [sql_float(intercept)] + [f"b.__sv_e{m}" for m in range(len(spec.margins))]
            terms += [f"CAST(b.{q(c)} AS DOUBLE) * {sql_float(v)}" for c, v in zip(numeric_ordered, en)]
            g, dg = _calfun_sql(method, lower, upper, f"({' + '.join(terms)})")
            C_ = [f"__sv_c{m}" for m in range(len(spec.margins))]
            sel = [f"b.{c} AS {c}" for c in C_] + [f"b.__sv_w0 * {g} AS __sv_dg", f"b.__sv_w0 * {dg} AS __sv_dd"]
            sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(numeric_ordered)]
            agg = ["SUM(__sv_dg) AS g", "SUM(__sv_dd) AS dgs"]
            agg += [f"SUM(__sv_dg * __sv_x{i}) AS gx{i}" for i in range(p)]
            agg += [f"SUM(__sv_dd * __sv_x{i}) AS ddx{i}" for i in range(p)]
            agg += [f"SUM(__sv_dd * __sv_x{a} * __sv_x{b}) AS ddxx{a}_{b}" for a in range(p) for b in range(a, p)]
            group = f"GROUP BY {', '.join(C_)}" if C_ else ""
            t = s.sql(f"SELECT {', '.join(C_ + agg)} FROM (SELECT {', '.join(sel)} FROM "
                      f"{survey.relation(wg)} b) r {group}")
        finally:
            drop_views(survey, wg.margins)
        if C_:
            t = cells[C_].merge(t, on=C_, how="left").fillna(0.0)
        gx = np.column_stack([t[f"gx{i}"].to_numpy(float) for i in range(p)]) if p else np.zeros((len(t), 0))
        ddx, ddxx = _moments(t, "dd", p)
        gsum = t["g"].to_numpy(float)
        dsum = t["dgs"].to_numpy(float)
        xdg = np.concatenate([Xs.T @ gsum, gx.sum(axis=0)])
        cross = np.zeros((pc + p, pc + p))
        cross[:pc, :pc] = (Xs * dsum[:, None]).T @ Xs
        cross[:pc, pc:] = Xs.T @ ddx
        cross[pc:, :pc] = cross[:pc, pc:].T
        cross[pc:, pc:] = ddxx.sum(axis=0)
        ok = bool(np.all(np.isfinite(xdg)) and np.all(np.isfinite(cross)))
        return xdg, cross, ok

    moments = moments_cells if (p == 0 or (method == "linear" and unbounded)) else moments_sql
    eta, iterations, converged, rel = _newton(moments, ts, max_iter, tol)
    if not converged:
        fit = CalibrationFit(g=np.empty(0), iterations=iterations, converged=False, rel_error=rel)
        raise convergence_error(fit, labels, method, bounds, max_iter)

    wg = weighting_for(eta, kind)
    # one pass: achieved totals, X'W0X over rows kept by the residual model, g range
    s, q = survey.session, survey.session.q
    C_ = [f"__sv_c{m}" for m in range(len(spec.margins))]
    pos = "b.__sv_w0 > 0 AND b.__sv_w > 0"
    sel = [f"b.{c} AS {c}" for c in C_] + ["b.__sv_w AS __sv_w1", "b.__sv_w0 AS __sv_d",
                                            f"CASE WHEN {pos} THEN b.__sv_w0 ELSE {_ZERO} END AS __sv_t",
                                            "CASE WHEN b.__sv_w0 > 0 THEN b.__sv_w / b.__sv_w0 END AS __sv_g",
                                            "CASE WHEN b.__sv_w <> b.__sv_w0 THEN 1 ELSE 0 END AS __sv_ch",
                                            f"CASE WHEN {sql_finite('b.__sv_w')} AND b.__sv_w >= 0 THEN 0 ELSE 1 END "
                                            "AS __sv_bad"]
    sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(numeric_ordered)]
    agg = ["SUM(__sv_w1) AS w", "SUM(__sv_t) AS t", "MIN(__sv_g) AS gmin", "MAX(__sv_g) AS gmax",
           "SUM(__sv_ch) AS changed", "SUM(__sv_bad) AS bad"]
    agg += [f"SUM(__sv_w1 * __sv_x{i}) AS wx{i}" for i in range(p)]
    agg += [f"SUM(__sv_t * __sv_x{i}) AS tx{i}" for i in range(p)]
    agg += [f"SUM(__sv_t * __sv_x{a} * __sv_x{b}) AS txx{a}_{b}" for a in range(p) for b in range(a, p)]
    group = f"GROUP BY {', '.join(C_)}" if C_ else ""
    post = s.sql(f"SELECT {', '.join(C_ + agg)} FROM (SELECT {', '.join(sel)} FROM "
                 f"{survey.relation(wg)} b) r {group}")
    if C_:
        post = cells[C_].merge(post, on=C_, how="left")
    if int(post["bad"].sum()):
        drop_views(survey, wg.margins)
        raise WeightError(
            f"weighting produced missing, infinite or negative weights ({int(post['bad'].sum())} rows); "
            "give bounds (e.g. bounds=(0.2, 5)) or use method='raking'"
        )
    wx = np.column_stack([post[f"wx{i}"].to_numpy(float) for i in range(p)]) if p else np.zeros((len(post), 0))
    # numeric sums are in the order of numeric_ordered; map back to spec.numeric order
    wx_spec = np.zeros(p)
    wx_spec[num_order] = wx.sum(axis=0)
    achieved = all_columns(post["w"].to_numpy(float), wx_spec)
    full_err = np.abs(achieved - targets) / (1.0 + np.abs(targets))
    if full_err.max(initial=0.0) > max(tol, 1e-9) * 10:
        drop_views(survey, wg.margins)
        j = int(np.argmax(full_err))
        raise CalibrationError(
            f"calibration reached the solved constraints but misses {labels_all[j]} "
            f"(relative error {full_err[j]:.3g}); the margins contradict each other"
        )
    t0 = post["t"].to_numpy(float)
    tx, txx = _moments(post, "t", p)
    gram = np.zeros((pc + p, pc + p))
    gram[:pc, :pc] = (Xs * t0[:, None]).T @ Xs
    gram[:pc, pc:] = Xs.T @ tx
    gram[pc:, :pc] = gram[:pc, pc:].T
    gram[pc:, pc:] = txx.sum(axis=0)
    report = WeightingReport(
        kind=kind,
        method=method if kind == "calibration" else kind,
        table=_constraint_table(cols, before, achieved),
        iterations=iterations,
        ratio_min=float(post["gmin"].min()),
        ratio_max=float(post["gmax"].max()),
        n_changed=int(post["changed"].sum()),
    )
    done = SQLWeighting(kind=kind, margins=wg.margins, numeric=wg.numeric, weight_sql=wg.weight_sql,
                        cells=cells[C_].copy() if C_ else pd.DataFrame(index=range(1)),
                        cell_design=Xs, gram=gram, report=report)
    return survey.with_weighting(done)


def _newton(moments, targets: np.ndarray, max_iter: int, tol: float):
    """Newton-Raphson on the calibration equations, step by step as the in-memory ``_newton``."""
    q = targets.size
    eta = np.zeros(q)
    denom = 1.0 + np.abs(targets)
    iterations = 0
    xdg, cross, ok = moments(eta)
    while True:
        misfit = targets - xdg
        rel = np.abs(misfit) / denom
        if not np.all(np.isfinite(rel)):
            return eta, iterations, False, rel
        if q == 0 or rel.max() < tol:
            return eta, iterations, True, rel
        if iterations >= max_iter:
            return eta, iterations, False, rel
        iterations += 1
        step = solve_psd(cross, misfit)
        eta = eta + step
        xdg, cross, ok = moments(eta)
        halvings = 0
        while not ok and halvings < 60:
            halvings += 1
            step = step / 2
            eta = eta - step
            xdg, cross, ok = moments(eta)


def _check_feasible(cols: list[_Column], before: np.ndarray, targets: np.ndarray, method: str,
                    lower: float, upper: float) -> None:
    if method == "linear" and not (np.isfinite(lower) or np.isfinite(upper)):
        return
    lo = max(lower, 0.0) if method == "raking" else lower
    cat = np.array([i for i, c in enumerate(cols) if c.kind == "cat"], dtype=np.intp)
    if cat.size == 0:
        return
    sample = before[cat]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = targets[cat] / sample
    strict = method != "linear"
    bad = (ratio <= lo) | (ratio >= upper) if strict else (ratio < lo) | (ratio > upper)
    bad &= ~np.isclose(ratio, 1.0)
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        c = cols[cat[b]]
        raise CalibrationError(
            f"bounds cannot be met: level {c.label!r} of {c.margin!r} needs its "
            f"weights multiplied by {ratio[b]:.4g} on average (count {c.target:g}, sample "
            f"total {sample[b]:g}), outside bounds ({lower:g}, {upper:g}); "
            "widen the bounds or collapse the level with a neighbour"
        )


def _constraint_table(cols: list[_Column], before: np.ndarray, achieved: np.ndarray) -> pd.DataFrame:
    targets = np.array([c.target for c in cols])
    return pd.DataFrame({
        "margin": [c.margin for c in cols],
        "level": [c.label for c in cols],
        "target": targets,
        "before": before,
        "achieved": achieved,
        "rel_error": np.abs(achieved - targets) / np.maximum(np.abs(targets), 1.0),
    })


def poststratify(survey: Any, column: str, counts: Mapping[Any, float]) -> Any:
    """Post-stratify an out-of-core sample (linear calibration to one complete margin).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.outofcore import scan
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 3.0, 2.0], "one": 1.0})
    >>> poststratify(scan(df, sv.Design(weights="w")), "k", {"a": 8, "b": 5}).total("one", by="k").estimate
    array([8., 5.])
    """
    return calibrate(survey, {column: counts}, method="linear", kind="poststratify")

