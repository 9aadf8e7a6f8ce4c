"""Imputation of missing returns: the ONS ratio-of-means family.

For a variable ``y`` observed on a panel of units over periods, in
imputation classes ``c`` (e.g. industry x size class):

forward link (period ``t``, class ``c``)
    ``f_t(c) = sum_m y_m,t / sum_m y_m,t-1`` over the *matched* units ``m``
    that returned a value in both ``t`` and ``t-1`` (class of period ``t``);
backward link
    ``b_t(c) = 1 / f_{t+1}(c)``;
construction link
    ``g_t(c) = sum_r y_r,t / sum_r x_r,t`` over the units that returned in
    ``t``, with ``x`` an auxiliary variable (register size).

A missing value is imputed, in this order of preference (ONS Statistical
Methods Library, "Ratio of means imputation"):

1. forward imputation ``y_t = f_t * y_t-1`` when the unit has a value in
   ``t-1`` that was returned, forward-imputed or constructed (forward
   imputation chains);
2. backward imputation ``y_t = b_t * y_t+1`` when the unit returns later
   (chaining back from the return);
3. construction ``y_t = g_t * x_t`` when it has no usable history; the
   following periods are then forward-imputed from the constructed value.

Imputed values never feed the links: only cells marked ``returned`` or
``edited`` (or, without a marker column, every finite input value) count as
returns, so a value that editing set aside (marker ``missing``, value NaN)
neither forms a link nor is imputed from: the chain starts from the last
accepted value. Every value gets a marker: ``returned``, ``edited``,
``forward_imputed``, ``backward_imputed`` or ``constructed``.

For cumulative (year-to-date) variables, ``cumulative=True`` keeps every
imputed value between the unit's value of the period before and its next
returned value of the same year, so no imputed value makes a quarter
negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from survey.errors import ImputationError
from survey.io import group_codes
from survey.periods import parse_quarters

__all__ = ["ImputationResult", "ratio_of_means"]

_RETURNED = ("returned", "edited")


@dataclass(frozen=True, kw_only=True, eq=False)
class ImputationResult:
    """Result of :func:`ratio_of_means`.

    Attributes
    ----------
    data : pandas.DataFrame
        A copy of the input with the variable filled in and the marker
        column (``{variable}_marker`` unless named) set for every row.
    links : pandas.DataFrame
        Per period and class: ``period``, class columns, ``forward_link``,
        ``backward_link``, ``construction_link``, ``matched`` (units in the
        forward link), ``returned`` (units in the construction link).
    variable : str
    marker : str
        Name of the marker column.
    """

    data: pd.DataFrame
    links: pd.DataFrame
    variable: str
    marker: str

    def counts(self) -> pd.Series:
        """Number of values per marker.

        Returns
        -------
        pandas.Series
        """
        return self.data[self.marker].value_counts().sort_index()

    def __str__(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"ratio-of-means imputation of {self.variable}: {parts}"


def ratio_of_means(
    data: pd.DataFrame,
    variable: str,
    *,
    id: str = "firm_id",
    period: str = "period",
    by: str | list[str] | None = None,
    auxiliary: str | None = None,
    marker: str | None = None,
    cumulative: bool = False,
) -> ImputationResult:
    """Impute missing values by ONS ratio-of-means forward, backward and
    construction links.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period that needs a value (units
        that should report; a missing row means the unit is out of scope
        in that period). Missing values are NaN.
    variable : str
        Column to impute (e.g. ``gross_output_ytd``).
    id : str, default="firm_id"
        Unit id column.
    period : str, default="period"
        Period labels that sort in time order (``"2006Q1"`` or int years).
    by : str or list of str or None, default=None
        Imputation class columns (may change from period to period).
    auxiliary : str or None, default=None
        Register size for construction (e.g. last year's revenue); without
        it a unit with no history raises :class:`~survey.errors.ImputationError`.
    marker : str or None, default=None
        Marker column; default ``{variable}_marker`` with the ``_ytd``
        suffix dropped (``gross_output_ytd`` -> ``gross_output_marker``),
        as in :meth:`survey.returns.ledger.Ledger.to_frame`. If the column is in the
        input, only ``returned``/``edited`` cells count as returns (earlier
        imputations are redone); otherwise every finite value does.
    cumulative : bool, default=False
        The variable is a year-to-date value that cannot fall within a year:
        an imputed value is clipped to ``[value of the previous period, next
        returned value]`` of the unit, both within the same year (period
        labels ``YYYYQn``; other labels form one series). The returned
        values themselves must not fall (resolve that first with
        :func:`survey.returns.detect.cumulative_conflicts`).

    Returns
    -------
    ImputationResult

    Raises
    ------
    ImputationError
        A value needs a link that cannot be formed (no matched or returned
        units in its class and period, or a zero denominator): the message
        names the period and class; use coarser classes.

    Examples
    --------
    >>> panel = pd.DataFrame({
    ...     "firm_id": ["a", "b", "c"] * 2,
    ...     "period": ["2006Q1"] * 3 + ["2006Q2"] * 3,
    ...     "y": [10.0, 20.0, 30.0, 12.0, 26.0, None]})
    >>> result = ratio_of_means(panel, "y")
    >>> result.data["y"].round(2).tolist()
    [10.0, 20.0, 30.0, 12.0, 26.0, 38.0]
    >>> result.data["y_marker"].tolist()[-1]
    'forward_imputed'
    >>> float(result.links["forward_link"].iloc[1])
    1.2666666666666666

    A year to date kept between the returns around it:

    >>> ytd = pd.DataFrame({"firm_id": ["a"] * 3 + ["b"] * 3,
    ...                     "period": ["2006Q1", "2006Q2", "2006Q3"] * 2,
    ...                     "y": [10.0, None, 12.0, 10.0, 20.0, 30.0]})
    >>> ratio_of_means(ytd, "y").data["y"].tolist()[:3]
    [10.0, 20.0, 12.0]
    >>> ratio_of_means(ytd, "y", cumulative=True).data["y"].tolist()[:3]
    [10.0, 12.0, 12.0]
    """
    unit = id
    by_cols = [by] if isinstance(by, str) else list(by or [])
    needed = [unit, period, variable, *by_cols, *([auxiliary] if auxiliary else [])]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ImputationError(f"ratio_of_means: columns {missing} are not in the data")
    unit_code, _ = pd.factorize(data[unit])
    period_code, periods = pd.factorize(data[period], sort=True)
    repeated = pd.Series(unit_code.astype(np.int64) * (len(periods) + 1) + period_code + 1
                         ).duplicated().to_numpy()  # missing ids and periods: codes -1 and 0
    if repeated.any():
        dup = data.loc[repeated, [unit, period]].iloc[0].tolist()
        raise ImputationError(
            f"ratio_of_means: unit and period repeated (first: {dup}); give one row per unit and period"
        )
    if marker is None:
        base = variable.removesuffix("_ytd")
        marker = f"{base}_marker"
    if not by_cols:
        by_cols_eff: list[str] = []
        class_code = np.zeros(len(data), dtype=np.int64)
        class_labels = pd.DataFrame(index=[0])
    else:
        if data[by_cols].isna().any().any():
            bad = data[by_cols].isna().any(axis=1).to_numpy().nonzero()[0][0]
            raise ImputationError(
                f"ratio_of_means: imputation class missing for {data[unit].iloc[bad]!r} in "
                f"{data[period].iloc[bad]!r}; every row needs a class"
            )
        class_code, class_labels = group_codes(data, by_cols)
        by_cols_eff = by_cols
    n_units, n_periods, n_classes = int(unit_code.max()) + 1, len(periods), len(class_labels)

    y_in = data[variable].to_numpy(dtype=float, na_value=np.nan)
    returned_row = np.isfinite(y_in)
    if marker in data.columns:
        returned_row &= data[marker].isin(_RETURNED).to_numpy()
    present = np.zeros((n_units, n_periods), dtype=bool)
    returned = np.zeros((n_units, n_periods), dtype=bool)
    y = np.full((n_units, n_periods), np.nan)
    cls = np.full((n_units, n_periods), -1, dtype=np.int64)
    aux = np.full((n_units, n_periods), np.nan)
    present[unit_code, period_code] = True
    returned[unit_code, period_code] = returned_row
    y[unit_code, period_code] = np.where(returned_row, y_in, np.nan)
    cls[unit_code, period_code] = class_code
    if auxiliary:
        aux[unit_code, period_code] = data[auxiliary].to_numpy(dtype=float, na_value=np.nan)

    # links from returned values only
    forward = np.full((n_periods, n_classes), np.nan)
    matched_n = np.zeros((n_periods, n_classes), dtype=np.int64)
    construct = np.full((n_periods, n_classes), np.nan)
    returned_n = np.zeros((n_periods, n_classes), dtype=np.int64)
    for t in range(n_periods):
        r = returned[:, t]
        returned_n[t] = np.bincount(cls[r, t], minlength=n_classes)
        if auxiliary:
            ok = r & np.isfinite(aux[:, t])
            num = np.bincount(cls[ok, t], weights=y[ok, t], minlength=n_classes)
            den = np.bincount(cls[ok, t], weights=aux[ok, t], minlength=n_classes)
            with np.errstate(divide="ignore", invalid="ignore"):
                construct[t] = np.where(den > 0, num / den, np.nan)
        if t == 0:
            continue
        m = r & returned[:, t - 1]
        matched_n[t] = np.bincount(cls[m, t], minlength=n_classes)
        num = np.bincount(cls[m, t], weights=y[m, t], minlength=n_classes)
        den = np.bincount(cls[m, t], weights=y[m, t - 1], minlength=n_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            forward[t] = np.where(den > 0, num / den, np.nan)

    def need_link(table: np.ndarray, t: int, rows: np.ndarray, kind: str, target: int) -> np.ndarray:
        links = table[t, cls[rows, t]]
        bad = ~np.isfinite(links)
        if bad.any():
            c = int(cls[rows, t][bad][0])
            label = class_labels.iloc[c].to_dict() if by_cols_eff else "all units"
            raise ImputationError(
                f"ratio_of_means: no {kind} link for {variable!r} in period {periods[target]!r}, "
                f"class {label} ({int(bad.sum())} values need it): no returned units to form it; "
                "merge this class with a neighbour (coarser 'by')"
                + ("" if auxiliary or kind != "construction" else " or give an auxiliary")
            )
        return links

    # backward candidates, chained back from later returns
    back = np.where(returned, y, np.nan)
    for t in range(n_periods - 2, -1, -1):
        cand = present[:, t] & ~returned[:, t] & np.isfinite(back[:, t + 1]) & present[:, t + 1]
        if cand.any():
            # the backward link of t is 1 / forward link of t+1 (class of t+1)
            back[cand, t] = back[cand, t + 1] / need_link(forward, t + 1, cand, "backward", t)
    # cumulative bounds: the next returned value of the same year (suffix minimum)
    years, quarters = parse_quarters(np.asarray(periods, dtype=object), errors="coerce")
    year_of = years if (quarters > 0).all() else np.full(n_periods, -1, dtype=np.int64)
    upper = np.full((n_units, n_periods), np.inf)
    if cumulative:
        running = np.full(n_units, np.inf)
        for t in range(n_periods - 1, -1, -1):
            if t + 1 < n_periods and year_of[t + 1] != year_of[t]:
                running = np.full(n_units, np.inf)
            upper[:, t] = running
            running = np.where(returned[:, t], np.fmin(running, y[:, t]), running)

    def bounded(values: np.ndarray, rows: np.ndarray, t: int) -> np.ndarray:
        if not cumulative:
            return values
        high = upper[rows, t]
        low = np.full(len(values), -np.inf)
        if t > 0 and year_of[t - 1] == year_of[t]:
            before = value[rows, t - 1]
            low = np.where(np.isfinite(before), before, -np.inf)
        return np.minimum(np.maximum(values, low), np.maximum(high, low))

    # forward pass in time order
    value = np.where(returned, y, np.nan)
    mark = np.where(returned, 1, 0).astype(np.int8)  # 0 none, 1 returned, 2 fwd, 3 back, 4 constr
    for t in range(n_periods):
        need = present[:, t] & ~returned[:, t]
        if not need.any():
            continue
        if t > 0:
            fwd = need & np.isin(mark[:, t - 1], (1, 2, 4)) & np.isfinite(value[:, t - 1])
            if fwd.any():
                value[fwd, t] = bounded(
                    value[fwd, t - 1] * need_link(forward, t, fwd, "forward", t), fwd, t)
                mark[fwd, t] = 2
            need &= ~fwd
        bwd = need & np.isfinite(back[:, t])
        value[bwd, t] = bounded(back[bwd, t], bwd, t)
        mark[bwd, t] = 3
        need &= ~bwd
        if need.any():
            if not auxiliary:
                first = int(np.flatnonzero(need)[0])
                raise ImputationError(
                    f"ratio_of_means: {int(need.sum())} units have no returned value in any "
                    f"period for {variable!r} (first: {pd.unique(data[unit])[first]!r} in "
                    f"{periods[t]!r}); give auxiliary= (a register size) to construct them"
                )
            has_aux = need & np.isfinite(aux[:, t])
            if (need & ~has_aux).any():
                first = int(np.flatnonzero(need & ~has_aux)[0])
                raise ImputationError(
                    f"ratio_of_means: cannot construct {variable!r} for "
                    f"{pd.unique(data[unit])[first]!r} in {periods[t]!r}: auxiliary "
                    f"{auxiliary!r} is missing; fill the register value"
                )
            value[need, t] = bounded(
                aux[need, t] * need_link(construct, t, need, "construction", t), need, t)
            mark[need, t] = 4

    names = np.array(["missing", "returned", "forward_imputed", "backward_imputed", "constructed"],
                     dtype=object)  # fmt: skip
    out = data.copy()
    row_mark = mark[unit_code, period_code]
    out[variable] = value[unit_code, period_code]
    labels = names[row_mark]
    if marker in data.columns:
        kept = returned_row & (data[marker].to_numpy(dtype=object) == "edited")
        labels = np.where(kept, "edited", labels)
    out[marker] = pd.array(labels, dtype="str")
    t_idx, c_idx = np.meshgrid(np.arange(n_periods), np.arange(n_classes), indexing="ij")
    with np.errstate(divide="ignore"):
        backward = np.concatenate([1.0 / forward[1:], np.full((1, n_classes), np.nan)])
    links = pd.DataFrame({period: np.asarray(periods)[t_idx.ravel()],
                          **{col: class_labels[col].to_numpy()[c_idx.ravel()]
                             for col in by_cols_eff},
                          "forward_link": forward.ravel(), "backward_link": backward.ravel(),
                          "construction_link": construct.ravel(), "matched": matched_n.ravel(),
                          "returned": returned_n.ravel()})
    return ImputationResult(data=out, links=links, variable=variable, marker=marker)
