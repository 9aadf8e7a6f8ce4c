"""Outliers: Hidiroglou-Berthelot detection and Kokic-Bell winsorisation.

Hidiroglou & Berthelot (1986) flag firms whose period-to-period ratio is
unusual *and* that are large enough to matter. Kokic & Bell (1994) one-sided
winsorisation pulls the values of sampled firms above a cut-off ``K_i``
towards it, so one unusually large small firm does not blow up its stratum's
total; the cut-offs minimise the estimated mean squared error of the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from survey.errors import ColumnError, WeightError

__all__ = [
    "WinsorisationResult",
    "hidiroglou_berthelot",
    "kokic_bell_constant",
    "winsorise",
]


# ---------------------------------------------------------------------------
# Hidiroglou-Berthelot
# ---------------------------------------------------------------------------
def hidiroglou_berthelot(
    data: pd.DataFrame,
    current: str,
    previous: str,
    *,
    id: str = "firm_id",
    by: str | list[str] | None = None,
    u: float = 0.5,
    a: float = 0.05,
    c: float = 7.0,
) -> pd.DataFrame:
    """Hidiroglou-Berthelot outlier detection for firms reporting each period.

    For firms with positive values in both periods, ``r = current/previous``
    and, with ``r_med`` the median ratio of the group, the centred ratio is
    ``s = 1 - r_med/r`` if ``r < r_med`` else ``r/r_med - 1``. The effect
    ``E = s * max(current, previous)**u`` weighs it by size. With the
    quartiles ``E_Q1, E_med, E_Q3`` of the group, ``d_Q1 = max(E_med - E_Q1,
    |a E_med|)`` and ``d_Q3 = max(E_Q3 - E_med, |a E_med|)``, a firm is an
    outlier when ``E < E_med - c d_Q1`` or ``E > E_med + c d_Q3``.
    Quartiles are the linear-interpolation sample quantiles.

    Parameters
    ----------
    data : pandas.DataFrame
    current, previous : str
        Columns of this period's and last period's value.
    id : str, default="firm_id"
        Unit id column.
    by : str or list of str or None, default=None
        Groups (e.g. industry) within which the bounds are computed.
    u : float, default=0.5
        Size exponent in [0, 1].
    a : float, default=0.05
        Guard against tiny interquartile distances.
    c : float, default=7.0
        Width of the acceptance region.

    Returns
    -------
    pandas.DataFrame
        ``{id}``, group columns, ``ratio, centred, effect, lower, upper,
        outlier`` in input order; rows without two positive values have NaN
        and ``outlier`` False.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": list("abcdefgh"),
    ...                    "now": [110, 105, 98, 120, 101, 99, 104, 900.0],
    ...                    "before": [100, 100, 100, 100, 100, 100, 100, 100.0]})
    >>> out = hidiroglou_berthelot(df, "now", "before", c=4)
    >>> out.loc[out["outlier"], "firm_id"].tolist()
    ['h']
    """
    if not 0 <= u <= 1:
        raise ColumnError(f"hidiroglou_berthelot: u must be in [0, 1], got {u}")
    by_cols = [by] if isinstance(by, str) else list(by or [])
    unit = id
    missing = [col for col in (unit, current, previous, *by_cols) if col not in data.columns]
    if missing:
        raise ColumnError(f"hidiroglou_berthelot: columns {missing} are not in the data")
    x1 = data[current].to_numpy(dtype=float, na_value=np.nan)
    x0 = data[previous].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(x1) & np.isfinite(x0) & (x1 > 0) & (x0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, x1 / x0, np.nan)
    frame = pd.DataFrame({"ratio": ratio}, index=data.index)
    keys = [data[col] for col in by_cols] if by_cols else [np.zeros(len(data), dtype=np.int8)]
    median = frame.groupby(keys)["ratio"].transform("median").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = np.where(ratio < median, 1 - median / ratio, ratio / median - 1)
    effect = centred * np.fmax(x1, x0) ** u
    effect = np.where(ok, effect, np.nan)
    frame["effect"] = effect
    groups = frame.groupby(keys)["effect"]
    q1 = groups.transform(lambda e: e.quantile(0.25)).to_numpy()
    med = groups.transform("median").to_numpy()
    q3 = groups.transform(lambda e: e.quantile(0.75)).to_numpy()
    d1 = np.fmax(med - q1, np.abs(a * med))
    d3 = np.fmax(q3 - med, np.abs(a * med))
    lower, upper = med - c * d1, med + c * d3
    outlier = ok & ((effect < lower) | (effect > upper))
    out = data[[unit, *by_cols]].copy()
    out["ratio"] = ratio
    out["centred"] = np.where(ok, centred, np.nan)
    out["effect"] = effect
    out["lower"] = np.where(ok, lower, np.nan)
    out["upper"] = np.where(ok, upper, np.nan)
    out["outlier"] = outlier
    return out


# ---------------------------------------------------------------------------
# Kokic-Bell winsorisation
# ---------------------------------------------------------------------------
def kokic_bell_constant(y: np.ndarray, weights: np.ndarray, prediction: np.ndarray) -> float:
    """The Kokic-Bell constant ``L`` estimated from a sample.

    With cut-offs ``K_i = m_i + L / (w_i - 1)``, the winsorised total falls
    short of the expansion total by ``sum_i (d_i - L)_+`` where
    ``d_i = (w_i - 1)(y_i - m_i)``; the MSE-optimal ``L`` equals that
    (estimated) bias, so it solves ``L = sum_i (d_i - L)_+``. The right-hand
    side is piecewise linear and decreasing, and the root is exact: with
    ``d`` sorted in decreasing order and ``S_k`` the sum of the ``k``
    largest, ``L = S_k / (k + 1)`` for the ``k`` with
    ``d_(k) > L >= d_(k+1)``. Units with ``w_i <= 1`` (take-all) do not
    count.

    Parameters
    ----------
    y, weights, prediction : numpy.ndarray
        Values, design weights and predictions ``m_i`` (e.g. stratum means).

    Returns
    -------
    float
        ``L`` (0 when no unit is above its prediction).

    Examples
    --------
    >>> y = np.array([1.0, 2, 3, 14]); w = np.full(4, 5.0); m = np.full(4, 5.0)
    >>> kokic_bell_constant(y, w, m)
    18.0
    """
    y, w, m = (np.asarray(v, dtype=float) for v in (y, weights, prediction))
    use = (w > 1) & np.isfinite(y) & np.isfinite(m)
    d = np.sort((w[use] - 1) * (y[use] - m[use]))[::-1]
    d = d[d > 0]
    if d.size == 0:
        return 0.0
    k = np.arange(1, d.size + 1)
    level = np.cumsum(d) / (k + 1)
    following = np.append(d[1:], 0.0)  # d_(k+1); beyond the positive d's it is <= 0
    valid = (d > level) & (level >= following)
    return float(level[np.flatnonzero(valid)[0]])


@dataclass(frozen=True, kw_only=True, eq=False)
class WinsorisationResult:
    """Result of :func:`winsorise`.

    Attributes
    ----------
    data : pandas.DataFrame
        Copy of the input plus ``{variable}_winsorised`` (the modified value,
        equal to the original when not winsorised), ``{variable}_threshold``
        (the cut-off ``K_i``; NaN for take-all units) and
        ``{variable}_winsorised_flag`` (True where the value was changed).
    constant : float
        The Kokic-Bell ``L`` used.
    reduction : float
        Weighted total before minus after winsorisation.
    """

    data: pd.DataFrame
    constant: float
    reduction: float
    variable: str

    def __str__(self) -> str:
        n = int(self.data[f"{self.variable}_winsorised_flag"].sum())
        return (
            f"Kokic-Bell winsorisation of {self.variable}: L = {self.constant:.6g}, "
            f"{n} values changed, weighted total lowered by {self.reduction:.6g}"
        )


def winsorise(
    data: pd.DataFrame,
    variable: str,
    *,
    weights: str,
    strata: str | list[str] | None = None,
    auxiliary: str | None = None,
    constant: float | None = None,
) -> WinsorisationResult:
    """One-sided Kokic-Bell winsorisation of sampled firms' values.

    The prediction ``m_i`` is the stratum sample mean of ``variable`` or,
    with ``auxiliary``, the ratio model ``x_i * sum_h y / sum_h x`` within
    the stratum. Cut-offs are ``K_i = m_i + L / (w_i - 1)`` with ``L`` from
    :func:`kokic_bell_constant` (common to all strata). A value above its
    cut-off becomes ``y_i / w_i + (1 - 1/w_i) K_i``: the firm keeps its own
    value for itself and contributes ``K_i`` for the firms it represents.
    Units with weight <= 1 (take-all) are never changed.

    Parameters
    ----------
    data : pandas.DataFrame
        The sample.
    variable : str
    weights : str
        Design (or calibrated) weight column.
    strata : str or list of str or None, default=None
    auxiliary : str or None, default=None
    constant : float or None, default=None
        ``L`` to use (e.g. estimated on an earlier period); default: from
        this sample.

    Returns
    -------
    WinsorisationResult

    Examples
    --------
    >>> df = pd.DataFrame({"h": [1, 1, 1, 1], "w": [5.0] * 4, "y": [1.0, 2, 3, 14]})
    >>> result = winsorise(df, "y", weights="w", strata="h")
    >>> result.constant, result.data["y_winsorised"].round(4).tolist()
    (18.0, [1.0, 2.0, 3.0, 10.4])
    >>> result.reduction
    18.0
    """
    by_cols = [strata] if isinstance(strata, str) else list(strata or [])
    missing = [
        col for col in (variable, weights, *by_cols, *([auxiliary] if auxiliary else []))
        if col not in data.columns
    ]  # fmt: skip
    if missing:
        raise ColumnError(f"winsorise: columns {missing} are not in the data")
    y = data[variable].to_numpy(dtype=float, na_value=np.nan)
    w = data[weights].to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(w).all() or (w <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(w) | (w <= 0))[0])
        raise WeightError(
            f"winsorise: weight {weights!r} must be positive and finite; row {bad} has {w[bad]}"
        )
    if by_cols:
        code = data.groupby(by_cols, sort=False).ngroup().to_numpy()
    else:
        code = np.zeros(len(data), dtype=np.int64)
    k = int(code.max()) + 1 if len(data) else 0
    ok = np.isfinite(y)
    if auxiliary:
        x = data[auxiliary].to_numpy(dtype=float, na_value=np.nan)
        both = ok & np.isfinite(x)
        num = np.bincount(code[both], weights=y[both], minlength=k)
        den = np.bincount(code[both], weights=x[both], minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            prediction = x * (num / den)[code]
    else:
        num = np.bincount(code[ok], weights=y[ok], minlength=k)
        cnt = np.bincount(code[ok], minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            prediction = (num / cnt)[code]
    level = kokic_bell_constant(y, w, prediction) if constant is None else float(constant)
    sampled = w > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold = np.where(sampled, prediction + level / (w - 1), np.nan)
    changed = sampled & ok & np.isfinite(threshold) & (y > threshold)
    new = np.where(changed, y / w + (1 - 1 / w) * threshold, y)
    out = data.copy()
    out[f"{variable}_winsorised"] = new
    out[f"{variable}_threshold"] = threshold
    out[f"{variable}_winsorised_flag"] = changed
    reduction = float(np.nansum(w * y) - np.nansum(w * new))
    return WinsorisationResult(data=out, constant=level, reduction=reduction, variable=variable)
