"""Out-of-core raking: iterative proportional fitting on the cells' weight totals.

The cells are the combinations of the margins' levels; IPF on their weight
totals is the same arithmetic as on rows. The new weight is the input weight
times the cell's factor, joined from a registered table of cells; standard
errors use R ``rake()``'s residuals (:meth:`SQLWeighting.betas`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import CalibrationError
from survey.estimation.outofcore.weighting import (
    SQLWeighting,
    cell_query,
    check_survey,
    drop_views,
    level_table,
    register_margins,
)
from survey.estimation.weighting_steps import WeightingReport

__all__ = ["rake"]


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
    check_survey(survey, "raking")
    if not isinstance(margins, Mapping) or not margins:
        raise CalibrationError("margins must be a non-empty mapping column -> {level: count}")
    specs = [level_table(survey, column, counts, m, "margin") for m, (column, counts) in enumerate(margins.items())]
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
    codes_margins = tuple(register_margins(survey, specs))
    codes_wg = SQLWeighting(kind="codes", margins=codes_margins, numeric=(), weight_sql="i.__sv_w0")
    try:
        cells = cell_query(survey, codes_wg, [])
    except Exception:
        drop_views(survey, codes_margins)
        raise
    C_ = [f"__sv_c{m}" for m in range(len(specs))]
    codes = cells[C_].to_numpy(dtype=np.intp).T  # (M, C)
    d_c = cells["d"].to_numpy(float)
    targets = [mg["target"] for mg in specs]
    fit = _ipf(codes, targets, d_c, max_iter=max_iter, tol=tol, convergence=convergence)
    if not fit[2]:
        drop_views(survey, codes_margins)
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
