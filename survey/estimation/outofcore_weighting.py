"""Out-of-core weighting: calibration, post-stratification and raking on tables of cells.

The in-memory functions (:func:`survey.estimation.weighting.calibrate`,
:func:`~survey.estimation.weighting.poststratify`,
:func:`~survey.estimation.weighting.rake`) work on the rows of a sample. Out
of core, the rows are grouped into *cells*: combinations of the levels of
the categorical margins. One SQL pass returns per cell the number of rows,
the sum of the input weights ``d`` and, for numeric auxiliaries ``x``, the
sums of ``d x`` and ``d x x'``. Then

* Newton-Raphson for calibration (R ``grake``) runs in numpy on the cells:
  exact for ``method="linear"`` without bounds (``g = 1 + x'lambda``) and for
  any method when every auxiliary is categorical (``g`` is constant in a
  cell); otherwise (bounds or raking/logit with numeric auxiliaries) each
  Newton step is one SQL pass that evaluates ``g`` row by row;
* raking (IPF) runs on the cells' weight totals, which is the same
  arithmetic as on rows;
* the new weight is an SQL expression ``d * g(x'lambda)``, with per-level
  terms of lambda joined from small tables;
* standard errors use the calibration residuals as R ``svyrecvar`` and
  :func:`survey.estimation.variance.residualize`: the GREG coefficients
  ``beta_d = (X'W_0 X)^{-1} X'W_0 u_d`` come from per-(domain, cell) sums
  returned by the estimation pass; for raking, R's ten sweeps of
  ``x - w_m mean(x / w_m | level)`` run on per-(domain, cell) sums.

Only one weighting step is supported on an out-of-core sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from survey.engine import is_float_type, is_numeric_type, sql_finite, sql_float
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
from survey.estimation.weighting_steps import WeightingReport

__all__ = ["SQLWeighting", "calibrate", "poststratify", "rake"]

_INTERCEPT = "(population size)"
_ZERO = "CAST(0 AS DOUBLE)"


@dataclass(frozen=True, eq=False)
class SQLWeighting:
    """A weighting step of an out-of-core sample: its SQL weight and its residual model.

    Attributes
    ----------
    kind : {"calibration", "poststratify", "rake", "codes"}
        ``"codes"``: no new weight yet (cell codes only, used while fitting).
    margins : tuple of (str, str)
        Per categorical margin: the column and the registered table of its
        levels (``__sv_lv{m}`` value, ``__sv_c{m}`` code, ``__sv_e{m}``
        fitted term).
    numeric : tuple of str
        Numeric auxiliaries (calibration).
    weight_sql : str
        The new weight, over the inner relation alias ``i``.
    cell_view : str or None
        Raking: registered table of cells with their factor ``__sv_g``.
    cells : pandas.DataFrame
        ``__sv_c{m}`` codes of every cell of the sample, row = cell number.
    cell_design : numpy.ndarray, shape (C, p_cat)
        Calibration: the categorical part of the (full-rank) model in each cell.
    gram : numpy.ndarray, shape (p, p)
        Calibration: ``X' W_0 X`` over rows with positive input and output weight.
    rake_factors, rake_codes : numpy.ndarray, shape (M, C)
        Raking: weight after each margin in the last sweep over the input
        weight, and the level of each cell, per margin.
    rake_counts : numpy.ndarray, shape (C,)
        Raking: rows per cell.
    report : WeightingReport
    """

    kind: str
    margins: tuple[tuple[str, str], ...]
    numeric: tuple[str, ...]
    weight_sql: str
    cell_view: str | None = None
    cells: pd.DataFrame | None = None
    cell_design: np.ndarray | None = None
    gram: np.ndarray | None = None
    rake_factors: np.ndarray | None = None
    rake_codes: np.ndarray | None = None
    rake_counts: np.ndarray | None = None
    report: Any = None
    cache: dict = field(default_factory=dict, repr=False)

    def model_weight_sql(self, a: str) -> str:
        """Weight ``m`` of the model term in the residual ``z - m x'beta`` (alias ``a``)."""
        if self.kind == "rake":
            return f"CASE WHEN {a}.__sv_w0 > 0 THEN {a}.__sv_w0 ELSE {_ZERO} END"
        return f"CASE WHEN {a}.__sv_w0 > 0 AND {a}.__sv_w > 0 THEN {a}.__sv_w ELSE {_ZERO} END"

    def rhs_sql(self, a: str, z: str) -> str:
        """Per-row term of the normal equations of the residual model, for score ``z``."""
        if self.kind == "rake":
            return f"CASE WHEN {a}.__sv_w0 > 0 THEN ({z}) / {a}.__sv_w0 ELSE {_ZERO} END"
        return (f"CASE WHEN {a}.__sv_w0 > 0 AND {a}.__sv_w > 0 THEN ({z}) * {a}.__sv_w0 / {a}.__sv_w "
                f"ELSE {_ZERO} END")

    def with_cells(self, t: pd.DataFrame) -> pd.DataFrame:
        """Add the cell number ``__sv_cell`` to a table with ``__sv_c*`` code columns."""
        codes = [f"__sv_c{m}" for m in range(len(self.margins))]
        if not codes:
            return t.assign(__sv_cell=0)
        cells = self.cells.assign(__sv_cell=np.arange(len(self.cells)))
        out = t.merge(cells, on=codes, how="left")
        if out["__sv_cell"].isna().any():
            raise CalibrationError("internal error: a cell of the estimation pass is not in the weighting")
        out["__sv_cell"] = out["__sv_cell"].astype(np.intp)
        return out

    def betas(self, t: pd.DataFrame, D: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Residual model per domain from the per-(domain, cell) sums ``r{j}``, ``rx{j}_{i}``.

        Returns ``beta_cat`` (D, C, k), the model term of each cell, and
        ``beta_num`` (D, p, k), the coefficients of the numeric auxiliaries.
        """
        C = len(self.cells) if self.cells is not None and len(self.margins) else 1
        p = len(self.numeric)
        d = t["__sv_dom"].to_numpy(dtype=np.intp)
        c = t["__sv_cell"].to_numpy(dtype=np.intp)
        key = d * C + c
        R = np.stack([np.bincount(key, weights=t[f"r{j}"].to_numpy(float), minlength=D * C)
                      for j in range(k)], axis=1).reshape(D, C, k)
        if self.kind == "rake":
            return _rake_terms(self, R), np.zeros((D, 0, k))
        pc = self.cell_design.shape[1]
        rhs = np.empty((D, pc + p, k))
        rhs[:, :pc, :] = np.einsum("cp,dck->dpk", self.cell_design, R)
        for j in range(k):
            for i in range(p):
                rhs[:, pc + i, j] = np.bincount(d, weights=t[f"rx{j}_{i}"].to_numpy(float), minlength=D)
        P = pc + p
        beta = solve_psd(self.gram, rhs.transpose(1, 0, 2).reshape(P, D * k)).reshape(P, D, k)
        beta_cat = np.einsum("cp,pdk->dck", self.cell_design, beta[:pc])
        beta_num = beta[pc:].transpose(1, 0, 2)
        return beta_cat, beta_num


def _rake_terms(wg: SQLWeighting, R: np.ndarray) -> np.ndarray:
    """R ``rake()`` residuals on cells: ten sweeps of ``x - w_m mean(x / w_m | level)``.

    ``R[d, c]`` is the sum over rows of cell ``c`` in domain ``d`` of
    ``z / d_i``. The residual of row ``i`` is ``z_i - d_i G[d, cell_i]``.
    """
    D, C, k = R.shape
    G = np.zeros_like(R)
    n_c = wg.rake_counts.astype(float)
    cells = np.arange(C)
    mats = []
    for f, code in zip(wg.rake_factors, wg.rake_codes):
        pos = f > 0
        L = int(code[pos].max()) + 1 if pos.any() else 0
        A = sp.csr_matrix((1.0 / f[pos], (code[pos], cells[pos])), shape=(L, C))
        N = np.bincount(code[pos], weights=n_c[pos], minlength=L)
        mats.append((A, np.maximum(N, 1.0), f, pos, code))
    for _ in range(10):
        for A, N, f, pos, code in mats:
            resid = (R - n_c[None, :, None] * G).transpose(1, 0, 2).reshape(C, D * k)
            means = (A @ resid).reshape(-1, D, k) / N[:, None, None]
            G[:, pos, :] += f[pos][None, :, None] * means[code[pos]].transpose(1, 0, 2)
    return G


# ---------------------------------------------------------------------------
# checks shared with the in-memory functions (same rules, same messages)
# ---------------------------------------------------------------------------
def _check_survey(survey: Any, what: str) -> None:
    if survey.condition is not None:
        raise CalibrationError(
            f"{what} applies to the whole sample, but this sample is a subset; "
            "weight first, then take the subset"
        )
    if survey.weighting_step is not None:
        raise CalibrationError(
            f"this out-of-core sample is already weighted ({survey.weighting_step.kind}); "
            "out of core, one weighting step is supported: combine the margins in one call"
        )


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


def _level_table(survey: Any, column: str, counts: Any, m: int, what: str) -> dict:
    """Distinct values of ``column`` matched to the levels of ``counts`` (a complete margin)."""
    types = survey.column_types
    if column not in types:
        raise ColumnError(f"unknown {what} column {column!r}")
    if isinstance(counts, pd.Series):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping) or len(counts) == 0:
        raise CalibrationError(
            f"{what} for categorical column {column!r} must be a non-empty mapping "
            f"{{level: population count}}, got {type(counts).__name__}"
        )
    s, q = survey.session, survey.session.q
    col = f"b.{q(column)}"
    missing = f"{col} IS NULL" + (f" OR isnan({col})" if is_float_type(types[column]) else "")
    table = s.sql(
        f"SELECT __sv_v, SUM(__sv_n) AS n, SUM(__sv_wt) AS w, SUM(__sv_na) AS na FROM "
        f"(SELECT {col} AS __sv_v, 1 AS __sv_n, b.__sv_w AS __sv_wt, "
        f"CASE WHEN {missing} THEN 1 ELSE 0 END AS __sv_na FROM {survey.relation(None)} b) t "
        f"GROUP BY __sv_v"
    )
    n_missing = int(table["na"].sum())
    if n_missing:
        raise ColumnError(
            f"column {column!r} has {n_missing} missing value(s) among weighted rows; impute them "
            "or give them their own level"
        )
    levels = list(counts.keys())
    target = np.array([counts[k] for k in levels], dtype=float)
    bad = ~(np.isfinite(target) & (target >= 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise CalibrationError(
            f"{what} for {column!r}: level {levels[j]!r} has count {target[j]!r}; counts must "
            "be finite and non-negative"
        )
    values = table["__sv_v"]
    codes = pd.Index(levels).get_indexer(pd.Index(values.to_numpy()))
    unknown = codes < 0
    if unknown.any():
        extra = values[unknown].tolist()[:5]
        rows = int(table.loc[unknown, "n"].sum())
        raise CalibrationError(
            f"{what} for {column!r} is not complete: sample level(s) "
            f"{', '.join(map(repr, extra))} ({rows} rows) have no population "
            f"count (known levels: {', '.join(map(repr, levels[:8]))}"
            f"{', ...' if len(levels) > 8 else ''}); give every level a count, "
            "or check that the keys have the column's type"
        )
    sample = np.bincount(codes, weights=table["w"].to_numpy(float), minlength=len(levels))
    count = np.bincount(codes, weights=table["n"].to_numpy(float), minlength=len(levels))
    empty = (sample <= 0) & (target > 0)
    if empty.any():
        js = np.flatnonzero(empty)[:5]
        raise CalibrationError(
            f"{what} for {column!r}: level(s) {', '.join(repr(levels[j]) for j in js)} have a "
            f"population count ({', '.join(f'{target[j]:g}' for j in js)}) but no sample unit "
            "with positive weight; collapse each with a neighbouring level"
        )
    return {"column": column, "values": values.to_numpy(), "codes": codes, "levels": levels,
            "target": target, "count": count, "m": m}


def _register_margins(survey: Any, margins: list[dict], eta: list[np.ndarray] | None = None) -> list[tuple[str, str]]:
    """Register each margin's value -> (code, fitted term) table; return (column, view) pairs."""
    out = []
    for m, mg in enumerate(margins):
        codes = mg["codes"]
        e = np.zeros(len(codes)) if eta is None else eta[m][codes]
        table = pd.DataFrame({f"__sv_lv{m}": mg["values"], f"__sv_c{m}": codes.astype(np.int64),
                              f"__sv_e{m}": e.astype(float)})
        out.append((mg["column"], survey.session.register(table)))
    return out


def _drop_views(survey: Any, margins: tuple[tuple[str, str], ...]) -> None:
    for _, view in margins:
        survey.session.drop(view)


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
            mg = _level_table(survey, column, value, len(margins), "totals")
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


def _cell_query(survey: Any, codes_wg: SQLWeighting, numeric: list[str], weight: str = "__sv_w") -> pd.DataFrame:
    """Per cell: rows, sum of weights, sums of ``w x`` and ``w x x'``."""
    s, q = survey.session, survey.session.q
    C = [f"__sv_c{m}" for m in range(len(codes_wg.margins))]
    p = len(numeric)
    sel = [f"b.{c} AS {c}" for c in C] + [f"b.{weight} AS __sv_d"]
    sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(numeric)]
    agg = ["COUNT(*) AS n", "SUM(__sv_d) AS d"] + [f"SUM(__sv_d * __sv_x{i}) AS dx{i}" for i in range(p)]
    agg += [f"SUM(__sv_d * __sv_x{a} * __sv_x{b}) AS dxx{a}_{b}" for a in range(p) for b in range(a, p)]
    group = f"GROUP BY {', '.join(C)}" if C else ""
    out = s.sql(f"SELECT {', '.join(C + agg)} FROM (SELECT {', '.join(sel)} FROM "
                f"{survey.relation(codes_wg)} b) t {group}")
    if C:
        if out[C].isna().any().any():
            raise CalibrationError("internal error: rows without a level code after the level checks")
        out = out.sort_values(C, kind="stable").reset_index(drop=True)
    return out


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
    _check_survey(survey, "calibration")
    lower, upper = check_bounds(method, bounds)
    spec = _build_spec(survey, totals, population_size)
    cols = spec.columns
    p = len(spec.numeric)
    codes_margins = tuple(_register_margins(survey, spec.margins))
    codes_wg = SQLWeighting(kind="codes", margins=codes_margins, numeric=(), weight_sql="i.__sv_w0")
    try:
        cells = _cell_query(survey, codes_wg, spec.numeric)
    finally:
        _drop_views(survey, codes_margins)
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
        margins = tuple(_register_margins(survey, spec.margins, per_margin))
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
            _drop_views(survey, wg.margins)
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
        _drop_views(survey, wg.margins)
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
        _drop_views(survey, wg.margins)
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


def rake(survey: Any, margins: Mapping[str, Mapping[Any, float]], *, max_iter: int = 100,
         tol: float = 1e-10, convergence: str = "margins") -> Any:
    """Rake an out-of-core sample by IPF on its cells (see :meth:`OutOfCoreSurvey.rake`).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.outofcore import scan
    >>> df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"], "w": 1.0})
    >>> s = rake(scan(df, sv.Design(weights="w")), {"a": {"x": 6, "y": 4}, "b": {"u": 5, "v": 5}})
    >>> s.total("w", by="b").estimate
    array([5., 5.])
    """
    _check_survey(survey, "raking")
    if not isinstance(margins, Mapping) or not margins:
        raise CalibrationError("margins must be a non-empty mapping column -> {level: count}")
    specs = [_level_table(survey, column, counts, m, "margin") for m, (column, counts) in enumerate(margins.items())]
    names = [mg["column"] for mg in specs]
    tot = [float(mg["target"].sum()) for mg in specs]
    for k in range(1, len(tot)):
        if abs(tot[k] - tot[0]) > 1e-9 * max(tot[0], 1.0):
            raise CalibrationError(
                f"contradictory margins: the counts for {names[k]!r} add up to {tot[k]:.10g} "
                f"but those for {names[0]!r} add up to {tot[0]:.10g}; every margin must add up "
                "to the same population size"
            )
    if convergence not in ("margins", "cells"):
        raise CalibrationError(f"convergence={convergence!r} is not 'margins' or 'cells'")
    for mg in specs:
        mg["L"] = len(mg["levels"])
    codes_margins = tuple(_register_margins(survey, specs))
    codes_wg = SQLWeighting(kind="codes", margins=codes_margins, numeric=(), weight_sql="i.__sv_w0")
    try:
        cells = _cell_query(survey, codes_wg, [])
    except Exception:
        _drop_views(survey, codes_margins)
        raise
    C_ = [f"__sv_c{m}" for m in range(len(specs))]
    codes = cells[C_].to_numpy(dtype=np.intp).T  # (M, C)
    d_c = cells["d"].to_numpy(float)
    targets = [mg["target"] for mg in specs]
    fit = _ipf(codes, targets, d_c, max_iter=max_iter, tol=tol, convergence=convergence)
    if not fit[2]:
        _drop_views(survey, codes_margins)
        rel = fit[3]
        k = int(np.argmax([e.max(initial=0.0) for e in rel]))
        j = int(np.argmax(rel[k]))
        raise CalibrationError(
            f"raking did not converge in {fit[1]} sweeps (max_iter={max_iter}): "
            f"level {specs[k]['levels'][j]!r} of {names[k]!r} is furthest off, max relative error "
            f"{rel[k][j]:.3g}; collapse levels with few sample units, check that the margins can "
            "hold together, or raise max_iter"
        )
    w_c, iterations, _, _, psw = fit
    g_c = w_c / d_c
    cell_table = cells[C_].rename(columns={c: c.replace("__sv_c", "__sv_gc") for c in C_}).assign(__sv_g=g_c)
    cell_view = survey.session.register(cell_table)
    levels_flat = [lv for mg in specs for lv in mg["levels"]]
    margin_flat = [mg["column"] for mg in specs for _ in mg["levels"]]
    before = np.concatenate([np.bincount(codes[m], weights=d_c, minlength=len(mg["levels"]))
                             for m, mg in enumerate(specs)])
    achieved = np.concatenate([np.bincount(codes[m], weights=w_c, minlength=len(mg["levels"]))
                               for m, mg in enumerate(specs)])
    target_flat = np.concatenate(targets)
    table = pd.DataFrame({"margin": margin_flat, "level": levels_flat, "target": target_flat,
                          "before": before, "achieved": achieved,
                          "rel_error": np.abs(achieved - target_flat) / np.maximum(np.abs(target_flat), 1.0)})
    report = WeightingReport(
        kind="rake", method="ipf", table=table, iterations=iterations,
        ratio_min=float(g_c.min()), ratio_max=float(g_c.max()),
        n_changed=int(cells.loc[g_c != 1.0, "n"].sum()),
    )
    done = SQLWeighting(
        kind="rake", margins=codes_margins, numeric=(), weight_sql="i.__sv_w0 * cg.__sv_g",
        cell_view=cell_view, cells=cells[C_].copy(), rake_factors=np.stack([p_ / d_c for p_ in psw]),
        rake_codes=codes, rake_counts=cells["n"].to_numpy(dtype=np.int64), report=report,
    )
    return survey.with_weighting(done)


def _ipf(codes: np.ndarray, targets: list[np.ndarray], d: np.ndarray, *, max_iter: int, tol: float,
         convergence: str):
    """Raking ratio on cell totals: the in-memory IPF (same sweeps, same stopping rules)."""
    m = len(targets)
    sizes = [len(t) for t in targets]
    w = d.copy()
    n_cells = w.size
    old = w.copy() if convergence == "cells" else None
    sums = np.bincount(codes[0], weights=w, minlength=sizes[0])[: sizes[0]]
    ratios = [np.ones(s) for s in sizes]
    iterations = 0
    converged = False
    while iterations < max_iter:
        iterations += 1
        for k in range(m):
            if k > 0:
                sums = np.bincount(codes[k], weights=w, minlength=sizes[k])[: sizes[k]]
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(sums > 0, targets[k] / sums, 1.0)
            ratios[k] = r
            w = w * r[codes[k]]
        sums = np.bincount(codes[0], weights=w, minlength=sizes[0])[: sizes[0]]
        if convergence == "cells":
            delta = np.abs(w - old).max(initial=0.0)
            old = w
            converged = bool(delta < tol)
        else:
            err = np.abs(sums - targets[0]) / (1.0 + np.abs(targets[0]))
            converged = bool(err.max(initial=0.0) < tol)
        if converged:
            break
    rel = [np.abs(np.bincount(codes[k], weights=w, minlength=sizes[k])[: sizes[k]] - targets[k])
           / (1.0 + np.abs(targets[k])) for k in range(m)]
    if convergence == "margins":
        converged = all(e.max(initial=0.0) < tol for e in rel)
    psw = [w]
    for k in range(m - 1, 0, -1):
        with np.errstate(divide="ignore", invalid="ignore"):
            psw.append(np.where(psw[-1] > 0, psw[-1] / ratios[k][codes[k]], 0.0))
    del n_cells
    return w, iterations, converged, rel, list(reversed(psw))
