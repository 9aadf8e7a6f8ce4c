"""Base weights: design weights from probabilities, their check, nonresponse adjustment.

The steps before calibration (:mod:`survey.estimation.weighting`): design
weights ``1 / pi`` (:func:`weights_from_probabilities`), the check that they
add up to the stratum population sizes (:func:`check_design_weights`), and
the weighting-class nonresponse adjustment (:func:`adjust_nonresponse`),
which returns a new :class:`~survey.estimation.survey.Survey` with a
``"nonresponse"`` weighting step (repeated in every replicate of a replicate
survey).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import CalibrationError, ColumnError, WeightError
from survey.estimation.twophase import TwoPhase
from survey.estimation.weighting_steps import WeightingReport, apply_step, require_whole_sample

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ["adjust_nonresponse", "weights_from_probabilities", "check_design_weights"]


def adjust_nonresponse(
    survey: Survey,
    respondent: str | np.ndarray,
    *,
    by: str | Sequence[str] | None = None,
    min_respondents: int = 1,
    small_cells: Literal["fail", "collapse"] = "fail",
    variance: Literal["two-phase", "fixed"] = "two-phase",
) -> Survey:
    """Weighting-class nonresponse adjustment within response-homogeneity groups.

    In each cell the respondents' weights are multiplied by
    ``sum(weights of all sampled units) / sum(weights of respondents)`` and
    nonrespondents get weight 0 (they stay in the Survey so strata and PSUs
    keep their sample counts).

    The adjustment is a calibration of the respondents to the cell totals
    estimated from the whole sample, so by default its linearisation variance
    is that of a two-phase design (Särndal, Swensson and Wretman 1992, Result
    9.3.1; R ``twophase(method = "full")``): the sample is phase 1, the
    respondents a stratified random subsample of each cell with probability
    the cell's weighted response rate (:mod:`survey.estimation.twophase`).
    A replicate survey repeats the adjustment in every replicate instead.

    Parameters
    ----------
    survey : Survey
        The sample with respondents and nonrespondents.
    respondent : str or array of bool
        Column (bool or 0/1) or mask that marks respondents.
    by : str or sequence of str, optional
        Columns forming the cells, coarsest first (e.g. ``["region", "size"]``).
    min_respondents : int, default=1
        Fewest respondents a cell may have.
    small_cells : {"fail", "collapse"}, default="fail"
        ``"fail"``: raise naming the cell. ``"collapse"``: merge a small cell
        with its siblings (drop the last ``by`` column for that group), and
        so on up to the whole sample.
    variance : {"two-phase", "fixed"}, default="two-phase"
        ``"two-phase"``: the variance accounts for the adjustment (phase-1
        variance of the whole sample plus the phase-2 variance of response
        within cells). ``"fixed"``: the adjusted weights are treated as design
        weights and nonrespondents as zeros (overstates the standard error;
        kept to compare).

    Returns
    -------
    Survey
        With a ``"nonresponse"`` step; its report lists cells, respondents
        and adjustment factors.

    Raises
    ------
    CalibrationError
        A cell with too few respondents (``small_cells="fail"``), or too few
        respondents overall.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> from survey.estimation.nonresponse import adjust_nonresponse
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "r": [True, False, True, True],
    ...                    "w": [2.0, 2.0, 3.0, 3.0]})
    >>> adjust_nonresponse(sv.Survey(df, sv.Design(weights="w")), "r", by="g").weights
    array([4., 0., 3., 3.])
    """
    require_whole_sample(survey, "nonresponse adjustment")
    n = len(survey.data)
    if isinstance(respondent, str):
        raw = survey.data[respondent] if respondent in survey.data.columns else None
        if raw is None:
            survey.column(respondent)
        if raw.isna().any():
            raise ColumnError(
                f"respondent column {respondent!r} has {int(raw.isna().sum())} missing values"
            )
        vals = raw.to_numpy()
        name = respondent
    else:
        vals = np.asarray(respondent)
        name = "respondent"
    if vals.shape != (n,) or not (
        vals.dtype == bool or np.isin(vals.astype(float, copy=False), (0.0, 1.0)).all()
    ):
        raise ColumnError(
            f"{name!r} must be boolean or 0/1 for each of the {n} rows, got dtype {vals.dtype}"
        )
    resp = vals.astype(bool)
    cols = [by] if isinstance(by, str) else list(by or [])
    if min_respondents < 1:
        raise CalibrationError("min_respondents must be at least 1")
    if small_cells not in ("fail", "collapse"):
        raise CalibrationError(f"small_cells={small_cells!r} is not 'fail' or 'collapse'")
    if variance not in ("two-phase", "fixed"):
        raise CalibrationError(f"variance={variance!r} is not 'two-phase' or 'fixed'")
    d0 = np.asarray(survey.weights, dtype=float)
    for c in cols:
        survey.column(c)
        if survey.data[c].isna().any():
            raise ColumnError(f"cell column {c!r} has missing values")
    # cell ids: level of detail per row (collapsing drops trailing columns)
    frame = survey.data[cols].reset_index(drop=True) if cols else pd.DataFrame(index=range(n))
    depth = np.full(n, len(cols))

    def cell_ids(depth: np.ndarray) -> np.ndarray:
        keys = pd.DataFrame({"_depth": depth})
        for k, c in enumerate(cols):
            keys[c] = frame[c].astype(str).where(depth > k, "")
        return keys.groupby(list(keys.columns), sort=True).ngroup().to_numpy()

    while True:
        cells = cell_ids(depth)
        m = int(cells.max()) + 1
        nresp = np.bincount(cells, weights=(resp & (d0 > 0)).astype(float), minlength=m)
        small = nresp < min_respondents
        if not small.any():
            break
        j = int(np.flatnonzero(small)[0])
        row = int(np.flatnonzero(cells == j)[0])
        k = int(depth[row])
        label = ", ".join(f"{c}={frame[c].iloc[row]!r}" for c in cols[:k]) or "the whole sample"
        nsamp = int(np.sum(cells == j))
        if small_cells == "fail" or k == 0:
            hint = (
                "pass small_cells='collapse' or use coarser cells"
                if k > 0
                else "there are too few respondents to adjust"
            )
            raise CalibrationError(
                f"nonresponse cell {label} has {int(nresp[j])} respondent(s) among {nsamp} "
                f"sampled unit(s), fewer than min_respondents={min_respondents}; {hint}"
            )
        # collapse: every row of the small cells' parent groups goes one level up
        small_rows = small[cells] & (depth == k)
        parent = cell_ids(np.maximum(depth - 1, 0))
        parents_hit = np.unique(parent[small_rows])
        depth = np.where(np.isin(parent, parents_hit) & (depth == k), k - 1, depth)

    def run(weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, float)
        all_w = np.bincount(cells, weights=weights, minlength=m)
        resp_w = np.bincount(cells, weights=np.where(resp, weights, 0.0), minlength=m)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(resp_w > 0, all_w / resp_w, np.nan)
        if np.any(np.isnan(f) & (all_w > 0)):
            raise CalibrationError("a nonresponse cell has no respondent weight for these weights")
        return np.where(resp, weights * np.nan_to_num(f)[cells], 0.0)

    w = run(d0)
    first = pd.Series(np.arange(n)).groupby(cells).first().to_numpy()
    table = pd.DataFrame(
        {c: [frame[c].iloc[r] if depth[r] > k else "(all)" for r in first] for k, c in enumerate(cols)}
    )
    table["n_sampled"] = np.bincount(cells, minlength=m)
    table["n_respondents"] = nresp.astype(int)
    table["weight_sampled"] = np.bincount(cells, weights=d0, minlength=m)
    table["weight_respondents"] = np.bincount(cells, weights=np.where(resp, d0, 0.0), minlength=m)
    table["factor"] = table["weight_sampled"] / table["weight_respondents"]
    pos = (d0 > 0) & resp
    g = w[pos] / d0[pos] if pos.any() else np.array([np.nan])
    two_phase = None
    if variance == "two-phase":
        rate = table["weight_respondents"].to_numpy() / table["weight_sampled"].to_numpy()
        two_phase = TwoPhase(
            classes=np.where(pos, cells, -1).astype(np.intp),
            n_classes=m,
            pi2=np.minimum(rate, 1.0),
            respondents=np.bincount(cells[pos], minlength=m),
            weights=w,
        )
    report = WeightingReport(
        kind="nonresponse",
        method="weighting class",
        table=table,
        ratio_min=float(g.min()),
        ratio_max=float(g.max()),
        n_changed=int(np.sum(~resp & (d0 > 0))),
        reweight=run,
        two_phase=two_phase,
    )
    return apply_step(survey, w, "nonresponse", None, d0, report)


def weights_from_probabilities(probs: Any) -> np.ndarray:
    """Design weights ``1 / pi`` from inclusion probabilities, checked.

    Parameters
    ----------
    probs : array-like
        Inclusion probabilities in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    WeightError
        A probability that is missing, not positive, or above 1 (names the row).

    Examples
    --------
    >>> weights_from_probabilities([0.5, 0.25, 1.0])
    array([2., 4., 1.])
    """
    index = probs.index if isinstance(probs, pd.Series) else None
    p = np.asarray(probs, dtype=float)
    bad = ~(np.isfinite(p) & (p > 0) & (p <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = index[i] if index is not None else i
        raise WeightError(
            f"inclusion probabilities must lie in (0, 1]; row {row!r} has {p[i]!r} "
            f"({int(bad.sum())} bad rows in all); probabilities above 1 usually mean a "
            "certainty unit: set it to 1"
        )
    return 1.0 / p


def check_design_weights(
    survey: Survey, population_sizes: Mapping[Any, float] | None = None, *, tol: float = 1e-6
) -> pd.DataFrame:
    """Check that the design weights add up to the population size ``N_h`` of each stratum.

    Parameters
    ----------
    survey : Survey
        The sample (before nonresponse adjustment or calibration).
    population_sizes : mapping, optional
        ``{stratum: N_h}``. Default: from the design's stage-1 fpc.
    tol : float, default=1e-6
        Largest accepted ``|sum of weights - N_h| / N_h``.

    Returns
    -------
    pandas.DataFrame
        Columns ``stratum, n, weight_sum, N, difference, rel_difference``.

    Raises
    ------
    WeightError
        Naming the strata whose weights do not add up to ``N_h``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b"], "N": [4, 4, 6, 6]})
    >>> check_design_weights(sv.Survey(df, sv.Design(strata="h", fpc="N")))
      stratum  n  weight_sum    N  difference  rel_difference
    0       a  2         4.0  4.0         0.0             0.0
    1       b  2         6.0  6.0         0.0             0.0
    """
    codes = survey.strata_codes
    labels = np.asarray(survey.strata_labels, dtype=object)
    m = labels.shape[0]
    n_h = np.bincount(codes, minlength=m)
    wsum = np.bincount(codes, weights=np.asarray(survey.weights, float), minlength=m)
    if population_sizes is None:
        frac = np.asarray(survey.stage1_fraction, float)
        if not np.all(frac > 0):
            raise WeightError(
                "the design has no stage-1 fpc, so N_h is unknown; pass population_sizes="
                "{stratum: N_h}"
            )
        fh = np.zeros(m)
        fh[codes] = frac
        N = n_h / fh
    else:
        missing = [lab for lab in labels if lab not in population_sizes]
        if missing:
            raise WeightError(
                f"population_sizes has no N_h for stratum/strata {', '.join(map(repr, missing[:5]))}"
            )
        N = np.array([float(population_sizes[lab]) for lab in labels])
    table = pd.DataFrame(
        {
            "stratum": labels,
            "n": n_h,
            "weight_sum": wsum,
            "N": N,
            "difference": wsum - N,
            "rel_difference": (wsum - N) / N,
        }
    )
    bad = np.abs(table["rel_difference"].to_numpy()) > tol
    if bad.any():
        rows = table[bad].head(5)
        desc = "; ".join(
            f"stratum {r.stratum!r}: weights add up to {r.weight_sum:g}, N = {r.N:g}"
            for r in rows.itertuples()
        )
        raise WeightError(
            f"design weights do not add up to N_h in {int(bad.sum())} stratum/strata ({desc}); "
            "check the weights or the population sizes"
        )
    return table
