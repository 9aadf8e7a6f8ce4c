"""Weighting a Survey: calibration, raking, post-stratification, trimming.

Every function here takes a :class:`~survey.estimation.survey.Survey` and returns a new
one whose weights are adjusted and whose :attr:`~survey.estimation.survey.Survey.weighting`
records the step (a :class:`~survey.estimation.variance.WeightingStep`). The step keeps the
calibration model ``X`` and the input weights so that standard errors use the
regression residuals of the calibration (GREG variance), as R ``survey`` does
(:func:`survey.estimation.variance.residualize`). On a replicate survey the
step is repeated in every replicate.

The arithmetic is in :mod:`survey.estimation.calibration` (g-weights by
Newton-Raphson, R's ``grake``) and :mod:`survey.estimation.calibration_raking`
(iterative proportional fitting); the
nonresponse adjustment and the checks of design weights are in
:mod:`survey.estimation.nonresponse`. Formulas and a worked example:
``docs/weighting.md``.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import CalibrationError, ColumnError, SurveyWarning, WeightError
from survey.estimation.calibration import (
    CalibrationFit,
    Method,
    check_bounds,
    check_margin_sums,
    check_total,
    check_totals,
    convergence_error,
    newton_raphson,
)
from survey.estimation.calibration_model import BlockModel
from survey.estimation.calibration_raking import RakingFit, ipf
from survey.estimation.weighting_steps import (
    WeightingReport,
    apply_step,
    calibration_report,
    require_whole_sample,
)

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = [
    "calibrate",
    "rake",
    "poststratify",
    "trim_weights",
    # re-exported from survey.estimation.weighting_steps, to be found next to calibrate
    "WeightingReport",
    "calibration_report",
]

_INTERCEPT = "(population size)"


# ---------------------------------------------------------------------------
# From a Survey and user totals to a model
# ---------------------------------------------------------------------------
def _level_codes(
    survey: Survey, column: str, counts: Any, d: np.ndarray, what: str
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Level codes of ``column`` against the keys of ``counts`` (a complete margin)."""
    if isinstance(counts, pd.Series):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping) or len(counts) == 0:
        raise CalibrationError(
            f"{what} for categorical column {column!r} must be a non-empty mapping "
            f"{{level: population count}}, got {type(counts).__name__}"
        )
    values = survey.column(column)
    isna = pd.isna(values)
    if isna.any() and np.any(isna & (d > 0)):
        rows = survey.data.index[isna & (d > 0)][:5].tolist()
        raise ColumnError(
            f"column {column!r} has {int((isna & (d > 0)).sum())} missing value(s) among weighted "
            f"rows, first at rows {rows}; impute them or give them their own level"
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
    codes = _match_levels(values, levels)
    all_known = codes.size == 0 or codes.min() >= 0
    unknown = None if all_known else (codes < 0) & (d > 0)
    if unknown is not None and unknown.any():
        extra = pd.unique(values[unknown])[:5]
        raise CalibrationError(
            f"{what} for {column!r} is not complete: sample level(s) "
            f"{', '.join(map(repr, extra))} ({int(unknown.sum())} rows) have no population "
            f"count (known levels: {', '.join(map(repr, levels[:8]))}"
            f"{', ...' if len(levels) > 8 else ''}); give every level a count, "
            "or check that the keys have the column's type"
        )
    if all_known:
        sample = np.bincount(codes, weights=d, minlength=len(levels))
    else:
        sample = np.bincount(codes[codes >= 0], weights=d[codes >= 0], minlength=len(levels))
    empty = (sample <= 0) & (target > 0)
    if empty.any():
        js = np.flatnonzero(empty)[:5]
        raise CalibrationError(
            f"{what} for {column!r}: level(s) {', '.join(repr(levels[j]) for j in js)} have a "
            f"population count ({', '.join(f'{target[j]:g}' for j in js)}) but no sample unit "
            "with positive weight; collapse each with a neighbouring level"
        )
    return codes, levels, target


def _match_levels(values: np.ndarray, levels: list[Any]) -> np.ndarray:
    """Index of each value in ``levels`` (-1 when absent or missing), by group codes."""
    if (
        values.dtype.kind in "iu"
        and values.size
        and all(isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in levels)
    ):
        vmin, vmax = int(values.min()), int(values.max())
        if vmax - vmin <= 4 * values.size + 1024:  # small integer range: a lookup table
            lookup = np.full(vmax - vmin + 1, -1, dtype=np.intp)
            keys = np.array(levels, dtype=np.int64)
            inside = (keys >= vmin) & (keys <= vmax)
            lookup[keys[inside] - vmin] = np.flatnonzero(inside)
            return lookup[values - vmin]
    ucodes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.append(pd.Index(levels).get_indexer(pd.Index(uniques)), -1).astype(np.intp)
    return lookup[ucodes]  # the NA sentinel -1 picks the appended -1


@dataclass(frozen=True, kw_only=True, eq=False)
class _Model:
    X: BlockModel  # (n x p), all constraints
    targets: np.ndarray
    margin: list[str]
    level: list[Any]
    solve: np.ndarray  # bool (p,): columns used to solve (full rank)
    categorical: np.ndarray  # bool (p,)


def _build_model(
    survey: Survey, totals: Mapping[str, Any], population_size: float | None, d: np.ndarray
) -> _Model:
    N = check_totals(totals, population_size)
    n = d.shape[0]
    blocks: list[Any] = []
    margin: list[str] = []
    level: list[Any] = []
    target: list[float] = []
    solve: list[bool] = []
    categorical: list[bool] = []
    sums: list[tuple[str, float]] = []
    have_intercept = population_size is not None
    if N is not None:
        blocks.append(("num", np.ones(n), 1))
        margin.append(_INTERCEPT)
        level.append("")
        target.append(N)
        solve.append(True)
        categorical.append(False)
        sums.append(("population_size", N))
    for column, value in totals.items():
        if isinstance(value, (Mapping, pd.Series)):
            codes, levels, t = _level_codes(survey, column, value, d, "totals")
            sums.append((repr(column), float(t.sum())))
            keep = np.ones(len(levels), bool)
            known = codes.size == 0 or codes.min() >= 0
            sample = np.bincount(codes if known else codes[codes >= 0], minlength=len(levels))
            keep &= ~((t == 0) & (sample == 0))  # R drops all-zero columns
            idx = np.flatnonzero(keep)
            if known and idx.size == len(levels):
                rc = codes
            else:
                remap = np.full(len(levels), -1)
                remap[idx] = np.arange(idx.size)
                rc = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            blocks.append(("cat", rc.astype(np.intp), int(idx.size)))
            s = [True] * idx.size
            if have_intercept and idx.size:
                s[0] = False
            have_intercept = True
            margin += [column] * idx.size
            level += [levels[j] for j in idx]
            target += list(t[idx])
            solve += s
            categorical += [True] * idx.size
        else:
            value = check_total(column, value)
            x = survey.column(column)
            if not pd.api.types.is_numeric_dtype(np.asarray(x).dtype) or np.asarray(x).dtype == bool:
                raise ColumnError(
                    f"calibration column {column!r} is not numeric (dtype {np.asarray(x).dtype}); "
                    "give a {level: count} mapping for a categorical column"
                )
            x = np.asarray(x, dtype=float)
            finite = np.isfinite(x)
            bad = ~finite & (d > 0)
            if bad.any():
                rows_ = survey.data.index[bad][:5].tolist()
                raise ColumnError(
                    f"auxiliary column {column!r} has {int(bad.sum())} missing or infinite "
                    f"value(s) among weighted rows, first at rows {rows_}"
                )
            if not finite.all():
                x = np.where(finite, x, 0.0)
            blocks.append(("num", x, 1))
            margin.append(column)
            level.append("")
            target.append(float(value))
            solve.append(True)
            categorical.append(False)
    check_margin_sums(sums)
    return _Model(
        X=BlockModel(n, blocks),
        targets=np.array(target, dtype=float),
        margin=margin,
        level=level,
        solve=np.array(solve, bool),
        categorical=np.array(categorical, bool),
    )


def _labels(model: _Model) -> list[str]:
    return [
        f"{m!r} = {lv!r}" if cat else (m if m == _INTERCEPT else repr(m))
        for m, lv, cat in zip(model.margin, model.level, model.categorical)
    ]


def _check_feasible(
    model: _Model, before: np.ndarray, method: str, lower: float, upper: float
) -> None:
    """Levels whose count cannot be reached with g inside the bounds (checked per level)."""
    if method == "linear" and not (np.isfinite(lower) or np.isfinite(upper)):
        return
    lo = max(lower, 0.0) if method == "raking" else lower
    cat = np.flatnonzero(model.categorical)
    if cat.size == 0:
        return
    sample = before[cat]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = model.targets[cat] / sample
    strict = method != "linear"
    bad = (ratio <= lo) | (ratio >= upper) if strict else (ratio < lo) | (ratio > upper)
    bad &= ~np.isclose(ratio, 1.0)
    if bad.any():
        j = cat[np.flatnonzero(bad)[0]]
        r = ratio[np.flatnonzero(bad)[0]]
        raise CalibrationError(
            f"bounds cannot be met: level {model.level[j]!r} of {model.margin[j]!r} needs its "
            f"weights multiplied by {r:.4g} on average (count {model.targets[j]:g}, sample "
            f"total {sample[np.flatnonzero(bad)[0]]:g}), outside bounds ({lower:g}, {upper:g}); "
            "widen the bounds or collapse the level with a neighbour"
        )


def _constraint_table(model: _Model, before: np.ndarray, achieved: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "margin": model.margin,
            "level": model.level,
            "target": model.targets,
            "before": before,
            "achieved": achieved,
            "rel_error": np.abs(achieved - model.targets) / np.maximum(np.abs(model.targets), 1.0),
        }
    )


def _negative_weights_error(survey: Survey, model: _Model, before: np.ndarray, w: np.ndarray,
                            method: str) -> CalibrationError:
    """Unbounded linear calibration that needs negative weights: name the constraints that
    ask the largest change of the weights (target against the design-weighted estimate), the
    rows that would get negative weights, and what to do."""
    labels = _labels(model)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.abs(model.targets - before) / np.maximum(np.abs(before), 1e-300)
    order = [int(j) for j in np.argsort(-np.nan_to_num(change, nan=0.0))[:3] if change[j] > 0]
    drivers = ", ".join(f"{labels[j]} (target {model.targets[j]:.6g} against {before[j]:.6g} "
                        f"before calibration)" for j in order)
    negative = np.flatnonzero(w < 0)
    rows = survey.data.index[negative[:5]].tolist()
    return CalibrationError(
        f"{method} calibration without bounds needs negative weights for {negative.size} "
        f"unit(s) (rows {rows}{' ...' if negative.size > 5 else ''}, smallest weight "
        f"{w.min():.4g}); the constraints driving them: {drivers}. Give bounds (e.g. "
        "bounds=(0.1, 10)) or use method='raking', which keeps weights positive; or check "
        "those targets")


def _g_range(d: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    pos = d > 0
    if not pos.any():
        return float("nan"), float("nan")
    g = w[pos] / d[pos]
    return float(g.min()), float(g.max())


# ---------------------------------------------------------------------------
# Survey-level functions
# ---------------------------------------------------------------------------
def calibrate(
    survey: Survey,
    totals: Mapping[str, Any],
    *,
    method: Method = "linear",
    bounds: tuple[float, float] | None = None,
    population_size: float | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> Survey:
    """Calibrate the weights to known population totals (GREG, raking, logit).

    The new weights ``w = d g`` reproduce every total exactly and stay close
    to the input weights ``d`` (Deville and Sarndal 1992). The returned
    Survey remembers the model, so standard errors use the calibration
    residuals (GREG variance), as R ``survey::calibrate``.

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    totals : mapping
        Numeric column -> population total; categorical column ->
        ``{level: population count}`` for every level (a complete margin).
        A complete margin implies the population size (an intercept).
    method : {"linear", "raking", "logit"}, default="linear"
        Calibration function, as R ``calfun``. ``"linear"`` with ``bounds``
        is truncated linear calibration.
    bounds : tuple of float, optional
        ``(lower, upper)`` bounds on ``g = w / d`` with ``lower < 1 < upper``
        (R ``bounds``); required for ``"logit"``.
    population_size : float, optional
        Population size ``N`` (the intercept) when no categorical margin gives it.
    max_iter : int, default=50
        Maximum Newton steps.
    tol : float, default=1e-10
        Convergence: every ``|target - achieved| / (1 + |target|) < tol``. R's
        ``epsilon`` is 1e-7; pass ``tol=1e-7`` to stop where R stops.

    Returns
    -------
    Survey
        With calibrated weights and a ``"calibration"`` weighting step.

    Raises
    ------
    CalibrationError
        A level with a population count but no sample unit, an incomplete
        margin, margins that add up to different population sizes, bounds
        that cannot be met, or no convergence; the message names the
        constraint and the relative error reached.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import calibrate
    >>> df = pd.DataFrame({"size": ["S", "S", "L", "L"], "rev": [1.0, 2.0, 5.0, 7.0],
    ...                    "w": [10.0, 10.0, 2.0, 2.0]})
    >>> s = calibrate(sv.Survey(df, sv.Design(weights="w")), {"size": {"S": 30, "L": 5}, "rev": 80})
    >>> s.weights.round(4)
    array([12.2222, 17.7778,  1.3889,  3.6111])
    """
    require_whole_sample(survey, "calibration")
    lower, upper = check_bounds(method, bounds)
    d = np.asarray(survey.weights, dtype=float)
    model = _build_model(survey, totals, population_size, d)
    before = model.X.rmatvec(d)
    _check_feasible(model, before, method, lower, upper)
    Xs = model.X.select(model.solve)
    ts = model.targets[model.solve]
    labels = [lab for lab, s_ in zip(_labels(model), model.solve) if s_]

    def refit(weights: np.ndarray) -> CalibrationFit:
        return newton_raphson(Xs, np.asarray(weights, float), ts, method, lower, upper, max_iter, tol)

    fit = refit(d)
    if not fit.converged:
        raise convergence_error(fit, labels, method, bounds, max_iter)
    w = d * fit.g
    if (w < 0).any():
        raise _negative_weights_error(survey, model, before, w, method)
    achieved = model.X.rmatvec(w)
    full_err = np.abs(achieved - model.targets) / (1.0 + np.abs(model.targets))
    if full_err.max(initial=0.0) > max(tol, 1e-9) * 10:
        j = int(np.argmax(full_err))
        raise CalibrationError(
            f"calibration reached the solved constraints but misses {_labels(model)[j]} "
            f"(relative error {full_err[j]:.3g}); the margins contradict each other"
        )

    def reweight(weights: np.ndarray) -> np.ndarray:
        f = refit(weights)
        if not f.converged:
            raise convergence_error(f, labels, method, bounds, max_iter)
        return np.asarray(weights, float) * f.g

    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="calibration",
        method=method,
        table=_constraint_table(model, before, achieved),
        iterations=fit.iterations,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=reweight,
    )
    return apply_step(survey, w, "calibration", model.X.sparse, d, report)  # built when a variance needs it


def rake(
    survey: Survey,
    margins: Mapping[str, Mapping[Any, float]],
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    convergence: Literal["margins", "cells"] = "margins",
) -> Survey:
    """Rake the weights to categorical margins by iterative proportional fitting.

    Each sweep multiplies the weights of every level of every margin by
    ``count / current weighted count``, margin after margin (R ``rake()``).

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    margins : mapping
        Column -> ``{level: population count}``; every margin complete and
        all adding up to the same population size.
    max_iter : int, default=100
        Maximum sweeps.
    tol : float, default=1e-10
        ``convergence="margins"``: every ``|achieved - count| / (1 + count) < tol``.
        ``"cells"``: no cell of the cross table of the margin columns changes
        by ``tol`` or more (weight units) between sweeps.
    convergence : {"margins", "cells"}, default="margins"
        Stopping rule; ``convergence="cells", tol=1`` is R ``rake()``'s
        default and reproduces its weights.

    Returns
    -------
    Survey
        With raked weights and a ``"rake"`` weighting step; standard errors
        follow R ``rake()`` (see :func:`residualize`).

    Raises
    ------
    CalibrationError
        Empty or unknown levels, contradictory margins, or no convergence.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import rake
    >>> df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"]})
    >>> s = sv.Survey(df.assign(w=1.0), sv.Design(weights="w"))
    >>> rake(s, {"a": {"x": 6, "y": 4}, "b": {"u": 5, "v": 5}}).weights
    array([3., 3., 2., 2.])
    """
    require_whole_sample(survey, "raking")
    if not isinstance(margins, Mapping) or not margins:
        raise CalibrationError("margins must be a non-empty mapping column -> {level: count}")
    d = np.asarray(survey.weights, dtype=float)
    codes, levels, targets, names = [], [], [], []
    for column, counts in margins.items():
        c, lv, t = _level_codes(survey, column, counts, d, "margin")
        codes.append(c)
        levels.append(lv)
        targets.append(t)
        names.append(column)
    tot = [float(t.sum()) for t in targets]
    for k in range(1, len(tot)):
        if abs(tot[k] - tot[0]) > 1e-9 * max(tot[0], 1.0):
            raise CalibrationError(
                f"contradictory margins: the counts for {names[k]!r} add up to {tot[k]:.10g} "
                f"but those for {names[0]!r} add up to {tot[0]:.10g}; every margin must add up "
                "to the same population size"
            )
    if convergence not in ("margins", "cells"):
        raise CalibrationError(f"convergence={convergence!r} is not 'margins' or 'cells'")

    def run(weights: np.ndarray) -> RakingFit:
        return ipf(codes, targets, weights, max_iter=max_iter, tol=tol,
                            convergence=convergence, names=names, levels=levels)

    fit = run(d)
    w = fit.w
    X = BlockModel(d.shape[0], [("cat", c, len(lv)) for c, lv in zip(codes, levels)])
    offset = X.shape[1]
    model = _Model(
        X=X,
        targets=np.concatenate(targets),
        margin=[n_ for n_, lv in zip(names, levels) for _ in lv],
        level=[x for lv in levels for x in lv],
        solve=np.ones(offset, bool),
        categorical=np.ones(offset, bool),
    )
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="rake",
        method="ipf",
        table=_constraint_table(model, model.X.rmatvec(d), model.X.rmatvec(w)),
        iterations=fit.iterations,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=lambda weights: run(np.asarray(weights, float)).w,
        margin_codes=tuple(codes),
        margin_weights=fit.margin_weights,
    )
    return apply_step(survey, w, "rake", X.sparse, d, report)


def poststratify(
    survey: Survey, column: str, counts: Mapping[Any, float], *, partial: bool = False
) -> Survey:
    """Post-stratify: scale the weights in each level of ``column`` to its population count.

    The new weight is ``w_i N_c / sum_{j in c} w_j`` in cell ``c``.

    Parameters
    ----------
    survey : Survey
        The sample (the whole sample, not a subset).
    column : str
        Post-stratum column (combine several columns into one beforehand).
    counts : mapping
        ``{level: population count}`` for every level present in the sample.
    partial : bool, default=False
        R ``postStratify(partial = TRUE)``: population cells without a sample
        unit are dropped, with a ``SurveyWarning`` that names them (the
        weights then add up to the counts of the present cells only). By
        default such a cell is an error. A sample cell without a count is
        always an error.

    Returns
    -------
    Survey
        With post-stratified weights and a ``"poststratify"`` step; standard
        errors use the post-stratum residuals (R ``postStratify``).

    Raises
    ------
    CalibrationError
        A level with a count but no sample unit, or a sample level without a count.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import poststratify
    >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 3.0, 2.0]})
    >>> poststratify(sv.Survey(df, sv.Design(weights="w")), "k", {"a": 8, "b": 5}).weights
    array([2., 6., 5.])
    """
    require_whole_sample(survey, "post-stratification")
    d = np.asarray(survey.weights, dtype=float)
    if partial:
        counts = _present_cells(survey, column, counts, d)
    codes, levels, target = _level_codes(survey, column, counts, d, "counts")

    def run(weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, float)
        ok = codes >= 0
        s = np.bincount(codes[ok], weights=weights[ok], minlength=len(levels))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(s > 0, target / s, 1.0)
        return np.where(ok, weights * r[np.maximum(codes, 0)], weights)

    w = run(d)
    X = BlockModel(d.shape[0], [("cat", codes, len(levels))])
    model = _Model(
        X=X,
        targets=target,
        margin=[column] * len(levels),
        level=levels,
        solve=np.ones(len(levels), bool),
        categorical=np.ones(len(levels), bool),
    )
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="poststratify",
        method="poststratify",
        table=_constraint_table(model, model.X.rmatvec(d), model.X.rmatvec(w)),
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=int(np.sum(w != d)),
        reweight=run,
    )
    return apply_step(survey, w, "poststratify", X.sparse, d, report)


def _present_cells(survey: Survey, column: str, counts: Any, d: np.ndarray) -> dict[Any, float]:
    """The counts of the cells that have a sample unit of positive weight; warn naming the others."""
    if isinstance(counts, pd.Series):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping) or len(counts) == 0:
        raise CalibrationError(f"counts for {column!r} must be a non-empty mapping {{level: population count}}")
    levels = list(counts.keys())
    codes = _match_levels(survey.column(column), levels)
    ok = (codes >= 0) & (d > 0)
    present = np.bincount(codes[ok], minlength=len(levels)) > 0
    absent = [levels[j] for j in np.flatnonzero(~present)]
    if absent:
        shown = ", ".join(map(repr, absent[:20])) + (f" and {len(absent) - 20} more" if len(absent) > 20 else "")
        warnings.warn(
            f"poststratify(partial=True): {len(absent)} population cell(s) of {column!r} have no sample "
            f"unit and are dropped: {shown} (population count "
            f"{sum(float(counts[k]) for k in absent):g} not represented)",
            SurveyWarning,
            stacklevel=3,
        )
    return {k: counts[k] for k, keep in zip(levels, present) if keep}


def _group_codes(survey: Survey, by: str | Sequence[str] | None) -> tuple[np.ndarray, pd.DataFrame]:
    n = len(survey.data)
    cols = [by] if isinstance(by, str) else list(by or [])
    if not cols:
        return np.zeros(n, np.intp), pd.DataFrame(index=[0])
    for c in cols:
        survey.column(c)
        if survey.data[c].isna().any():
            rows = survey.data.index[survey.data[c].isna().to_numpy()][:5].tolist()
            raise ColumnError(f"grouping column {c!r} has missing values, first at rows {rows}")
    frame = survey.data[cols]
    grouped = frame.groupby(cols, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.intp)
    keys = grouped.size().reset_index()[cols]
    return codes, keys


def _take_all_rows(survey: Survey) -> np.ndarray:
    """Rows of take-all units: a stage-1 fraction of 1 (fpc) or a πps certainty unit (pi = 1)."""
    take_all = np.asarray(survey.stage1_fraction, dtype=float) >= 1.0 - 1e-12
    pps = survey.pps_structure
    if pps is not None:
        take_all = take_all | np.asarray(pps.certain)[np.asarray(pps.psu)]
    return take_all


def trim_weights(
    survey: Survey,
    lower: float | None = None,
    upper: float | None = None,
    *,
    by: str | Sequence[str] | None = None,
    method: Literal["proportional", "equal"] = "proportional",
    strict: bool = False,
    take_all: Literal["keep", "include"] = "keep",
    max_iter: int = 100,
) -> Survey:
    """Trim weights to ``[lower, upper]`` and spread the trimmed amount over the others.

    Weights outside the bounds are set to the bound; the difference is given
    to the rows inside the bounds of the same group (``by``), so each group's
    total weight is kept. Two rules:

    * ``method="proportional"`` (default): in proportion to the weights,
      repeated until every weight is inside: ``w_i = clip(c d_i, lower, upper)``
      with one factor ``c`` per group solving ``sum_i w_i = sum_i d_i``;
    * ``method="equal"``: R ``trimWeights``: the trimmed amount (net of the
      raises to ``lower``) is added in equal parts to every row that was
      inside the bounds, in one pass; with ``strict=True`` the pass is
      repeated on the result until no weight is outside (a row raised to
      ``lower`` in one pass is inside in the next and gets a share, as in R).

    Take-all units (a stage-1 sampling fraction of 1, or πps certainty units
    with ``pi = 1``) keep their weight by default: they are neither trimmed nor
    given a share (their weight must stay 1 / pi = 1 after redistribution).
    ``take_all="include"`` treats them as any other row (R does, as it does not
    know them). Rows with weight 0 stay 0 (R would raise them to ``lower``).

    Parameters
    ----------
    survey : Survey
        The sample.
    lower, upper : float, optional
        Bounds on the weights themselves (not on ratios).
    by : str or sequence of str, optional
        Keep the total weight within each group (e.g. strata); default: overall.
    method : {"proportional", "equal"}, default="proportional"
        How the trimmed amount is redistributed (see above).
    strict : bool, default=False
        ``method="equal"``: repeat until no weight is outside the bounds (R ``strict``).
    take_all : {"keep", "include"}, default="keep"
        Whether take-all units take part in trimming and redistribution.
    max_iter : int, default=100
        Maximum iterations (the proportional factor search, or strict passes).

    Returns
    -------
    Survey
        With a ``"trim"`` step whose report gives the number of trimmed rows.
        The variance keeps the models of earlier calibration steps (as R).

    Raises
    ------
    WeightError
        When a group's total cannot be kept inside the bounds, or a group has
        weights to redistribute but no row inside the bounds.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.weighting import trim_weights
    >>> df = pd.DataFrame({"w": [1.0, 1.0, 1.0, 7.0]})
    >>> trim_weights(sv.Survey(df, sv.Design(weights="w")), upper=4.0).weights
    array([2., 2., 2., 4.])
    >>> df = pd.DataFrame({"w": [1.0, 2.0, 3.0, 10.0]})
    >>> trim_weights(sv.Survey(df, sv.Design(weights="w")), upper=6.0, method="equal").weights
    array([2.33333333, 3.33333333, 4.33333333, 6.        ])
    """
    require_whole_sample(survey, "trimming")
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if not lo < hi:
        raise WeightError(f"trim_weights needs lower < upper, got lower={lower}, upper={upper}")
    if method not in ("proportional", "equal"):
        raise WeightError(f"method={method!r} is not 'proportional' or 'equal'")
    if take_all not in ("keep", "include"):
        raise WeightError(f"take_all={take_all!r} is not 'keep' or 'include'")
    d = np.asarray(survey.weights, dtype=float)
    groups, keys = _group_codes(survey, by)
    n_groups = int(groups.max()) + 1
    fixed_rows = _take_all_rows(survey) if take_all == "keep" else np.zeros(d.shape[0], bool)

    def where(j: int) -> str:
        return "the sample" if by is None else f"group {keys.iloc[j].to_dict()}"

    def run_proportional(weights: np.ndarray) -> tuple[np.ndarray, int]:
        weights = np.asarray(weights, float)
        pos = (weights > 0) & ~fixed_rows
        total = np.bincount(groups, weights=np.where(pos, weights, 0.0), minlength=n_groups)
        npos = np.bincount(groups, weights=pos.astype(float), minlength=n_groups)
        bad = (total > hi * npos * (1 + 1e-12)) | (total < lo * npos * (1 - 1e-12))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise WeightError(
                f"cannot trim {where(j)}: its total weight {total[j]:g} over {int(npos[j])} rows "
                f"cannot lie within [{lo:g}, {hi:g}] per row; loosen the bounds"
            )
        # proportional redistribution = one factor c per group with
        # sum_i clip(c w_i, lower, upper) = group total; safeguarded Newton on c
        c = np.ones(n_groups)
        c_lo = np.zeros(n_groups)
        c_hi = np.full(n_groups, np.inf)
        for _ in range(max_iter):
            cw = c[groups] * weights
            w = np.where(pos, np.clip(cw, lo, hi), 0.0)
            diff = np.bincount(groups, weights=w, minlength=n_groups) - total
            done = np.abs(diff) <= 1e-13 * np.abs(total)
            if done.all():
                break
            c_lo = np.where(diff < 0, c, c_lo)
            c_hi = np.where(diff > 0, c, c_hi)
            free = pos & (cw > lo) & (cw < hi)
            slope = np.bincount(groups, weights=np.where(free, weights, 0.0), minlength=n_groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = c - diff / slope
            ok = (slope > 0) & (newton > c_lo) & (newton < c_hi)
            bisect = np.where(np.isfinite(c_hi), (c_lo + c_hi) / 2, 2 * c)
            c = np.where(done, c, np.where(ok, newton, bisect))
        else:
            raise WeightError(f"trimming did not settle in {max_iter} rounds; loosen the bounds")
        fixed = pos & ((c[groups] * weights <= lo) | (c[groups] * weights >= hi))
        return np.where(pos, w, weights), int(fixed.sum())

    def run_equal(weights: np.ndarray) -> tuple[np.ndarray, int]:
        w = np.asarray(weights, float).copy()
        part = (w > 0) & ~fixed_rows
        ever = np.zeros(w.shape[0], bool)
        for _ in range(max_iter if strict else 1):
            outside = part & ((w < lo) | (w > hi))
            if not outside.any():
                break
            ever |= outside
            bounded = np.where(part, np.clip(w, lo, hi), w)
            trimmed = np.bincount(groups, weights=w - bounded, minlength=n_groups)
            inside = part & ~outside
            n_in = np.bincount(groups, weights=inside.astype(float), minlength=n_groups)
            stuck = (n_in == 0) & (np.bincount(groups, weights=outside.astype(float), minlength=n_groups) > 0)
            if stuck.any():
                j = int(np.flatnonzero(stuck)[0])
                raise WeightError(f"cannot trim {where(j)}: every weight is outside [{lo:g}, {hi:g}]")
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(n_in > 0, trimmed / n_in, 0.0)
            w = np.where(inside, bounded + share[groups], bounded)
        else:
            if strict and (part & ((w < lo) | (w > hi))).any():
                raise WeightError(f"strict trimming did not settle in {max_iter} passes; loosen the bounds")
        return w, int(ever.sum())

    def run(weights: np.ndarray) -> tuple[np.ndarray, int]:
        return run_proportional(weights) if method == "proportional" else run_equal(weights)

    w, n_trimmed = run(d)
    table = keys.copy()
    table["n"] = np.bincount(groups, minlength=n_groups)
    at_bound = (d > 0) & (np.isclose(w, lo, rtol=1e-12) | np.isclose(w, hi, rtol=1e-12))
    table["n_trimmed"] = np.bincount(groups, weights=at_bound, minlength=n_groups).astype(int)
    table["n_take_all_kept"] = np.bincount(groups, weights=fixed_rows & (d > 0), minlength=n_groups).astype(int)
    table["weight_sum"] = np.bincount(groups, weights=w, minlength=n_groups)
    table["max_before"] = pd.Series(d).groupby(groups).max().to_numpy()
    table["max_after"] = pd.Series(w).groupby(groups).max().to_numpy()
    gmin, gmax = _g_range(d, w)
    report = WeightingReport(
        kind="trim",
        method=method if method == "proportional" else ("equal (strict)" if strict else "equal"),
        table=table,
        ratio_min=gmin,
        ratio_max=gmax,
        n_changed=n_trimmed,
        reweight=lambda weights: run(weights)[0],
    )
    return apply_step(survey, w, "trim", None, d, report)
