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

This module holds :class:`SQLWeighting` (the weight and the residual model
of a step) and the cell machinery the steps share: the checks of a margin's
levels, the registered level tables and the per-cell query. The steps
themselves are in :mod:`.calibration` (calibration, post-stratification) and
:mod:`.raking` (raking).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from survey.engine import is_float_type, sql_nan
from survey.errors import CalibrationError, ColumnError
from survey.estimation.calibration import solve_psd
from survey.estimation.outofcore.tables import row_of

__all__ = ["SQLWeighting"]

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
        at = row_of(self.cells, t, codes)
        if (at < 0).any():
            raise CalibrationError("internal error: a cell of the estimation pass is not in the weighting")
        return t.assign(__sv_cell=at)

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
def check_survey(survey: Any, what: str) -> None:
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


def level_table(survey: Any, column: str, counts: Any, m: int, what: str) -> dict:
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
    missing = f"{col} IS NULL" + (f" OR {sql_nan(col)}" if is_float_type(types[column]) else "")
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


def register_margins(survey: Any, margins: list[dict], eta: list[np.ndarray] | None = None) -> list[tuple[str, str]]:
    """Register each margin's value -> (code, fitted term) table; return (column, view) pairs."""
    out = []
    for m, mg in enumerate(margins):
        codes = mg["codes"]
        e = np.zeros(len(codes)) if eta is None else eta[m][codes]
        table = pd.DataFrame({f"__sv_lv{m}": mg["values"], f"__sv_c{m}": codes.astype(np.int64),
                              f"__sv_e{m}": e.astype(float)})
        out.append((mg["column"], survey.session.register(table)))
    return out


def drop_views(survey: Any, margins: tuple[tuple[str, str], ...]) -> None:
    for _, view in margins:
        survey.session.drop(view)

def cell_query(survey: Any, codes_wg: SQLWeighting, numeric: list[str], weight: str = "__sv_w") -> pd.DataFrame:
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

