"""Detectors for returns: values in the wrong unit, falling year-to-date values, and
selective-editing scores (which firms to call back first).

They take a return :class:`~survey.form.Form` (``form=``) or explicit column
names; none assumes the indicators of a particular survey. The rule language
is in :mod:`survey.returns.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import EditError
from survey.form import Form
from survey.periods import parse_quarters
from survey.returns.rules import resolve_id

__all__ = [
    "UnitErrors",
    "cumulative_conflicts",
    "detect_unit_errors",
    "selective_editing_scores",
]


def _year_quarter(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Year and quarter of each period label (``-1`` and ``0`` when not a quarter)."""
    if labels is None:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    return parse_quarters(labels, errors="coerce")


def _variables(variables: str | Sequence[str] | None, form: Form | None, default: str,
               caller: str) -> list[str]:
    if variables is not None:
        return [variables] if isinstance(variables, str) else list(variables)
    if form is None:
        raise EditError(f"{caller}: give variables= (indicator names) or form= (a return form)")
    if default == "money":
        return list(form.money)
    if default == "nonnegative flows":
        return [v for v in form.nonnegative if v not in form.stocks]
    return list(form.indicators)


# ---------------------------------------------------------------------------
# unit errors (values reported in a unit 1000 times too small, e.g. yuan for thousand yuan)
# ---------------------------------------------------------------------------
def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian(a, axis)``, the same numbers (NaN where a slice is all NaN, without a
    warning) by one sort: numpy's masked-array path for short slices is ten times slower."""
    ordered = np.sort(a, axis=axis)  # NaN last
    k = np.expand_dims(np.count_nonzero(~np.isnan(a), axis=axis), axis)
    low = np.take_along_axis(ordered, np.maximum(k - 1, 0) // 2, axis)
    high = np.take_along_axis(ordered, np.minimum(k // 2, max(a.shape[axis] - 1, 0)), axis)
    return np.where(k > 0, (low + high) / 2, np.nan).squeeze(axis)


def _class_median(ratio: np.ndarray, groups: np.ndarray, min_count: int) -> np.ndarray:
    """Per row: median of the positive finite ``ratio`` of its group (NaN with fewer than
    ``min_count`` such values); sorted group offsets, no loop over groups."""
    usable = np.isfinite(ratio) & (ratio > 0)
    out = np.full(len(ratio), np.nan)
    if not usable.any():
        return out
    g, r = groups[usable], ratio[usable]
    order = np.lexsort((r, g))
    g, r = g[order], r[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, len(g)])
    lower = r[starts + (counts - 1) // 2]
    upper = r[starts + counts // 2]
    medians = np.where(counts >= min_count, (lower + upper) / 2, np.nan)
    lookup = np.full(int(groups.max()) + 1, np.nan)
    lookup[g[starts]] = medians
    return lookup[groups]


@dataclass(frozen=True, kw_only=True, eq=False)
class UnitErrors:
    """Result of :func:`detect_unit_errors`.

    Attributes
    ----------
    flags : pandas.DataFrame
        One row per suspected unit error: ``{unit}``, ``period`` (when the
        data have a ``period`` column), ``column, value, reference,
        reference_column, ratio, corrected``. ``ratio`` is the median ratio
        of the value to its references (``value / reference``) and
        ``reference_column`` lists the references used (``"form"``: flagged
        with the rest of its form).
    corrected : pandas.DataFrame
        A copy of the data with the flagged values divided by ``factor``.
    scores : pandas.DataFrame
        Per row of the data (input order) and variable: ``score_{var}``, the
        median ``log10(value / reference)`` (NaN without references), and
        ``form_score``, the median of a row's variable scores.
    factor : float
    """

    flags: pd.DataFrame
    corrected: pd.DataFrame
    factor: float
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __str__(self) -> str:
        return f"{len(self.flags)} values look {self.factor:g} times too large (unit errors)"


def detect_unit_errors(
    data: pd.DataFrame,
    variables: Sequence[str] | None = None,
    *,
    form: Form | None = None,
    id: str | None = None,
    references: Sequence[str] | None = None,
    register: str | None = None,
    register_scale: Sequence[str] = (),
    size: str | None = None,
    by: str | None = None,
    period: str | None = None,
    factor: float = 1000.0,
    tolerance: float = 0.5,
    min_class: int = 10,
) -> UnitErrors:
    """Find and correct values reported in yuan instead of thousand yuan.

    Each money value ``{var}_ytd`` is compared with every reference that is
    available for it, and the decision uses the **median** of the log-ratios
    ``log10(|value| / reference)`` (its *score*): a value is a unit error
    when its score is within ``log10(factor) ± tolerance`` (by default the
    median ratio is between 316 and 3162). A single reference that is
    itself wrong (last year's value in yuan, a partial-year register size)
    is outvoted by the others. The references of a value:

    1. the columns of ``references``: the same period of last year, and the
       previous quarter's year-to-date value scaled by ``q / (q - 1)``
       (a ``*_previous`` column);
    2. the firm's other quarters of the same year, when ``data`` is a panel
       (a ``period`` column with several ``YYYYQn`` labels): the year to
       date of quarter ``s`` scaled by ``q / s`` (a Q1 value 1000 times its
       Q2 value / 2 is a unit error in Q1); they replace the ``*_previous``
       column where the panel has that quarter;
    3. the register size ``register`` (annual, thousand yuan) scaled to the
       quarter (``q / 4``) and by the median of ``value / scaled size`` in
       the firm's class ``by`` and period (at least ``min_class`` firms; for
       the indicators of ``register_scale`` the factor is 1 when the class
       is smaller, other indicators then skip it);
    4. the firm's employees ``size`` times the median value per employee in
       its class ``by`` and period (at least ``min_class`` firms; else all
       firms of the period).

    A unit error is a property of the form: when the median of the scores
    of a row's non-zero money values (its *form score*) is within the
    window, its other non-zero values are flagged too, unless their own
    score is below ``log10(factor) / 2`` (``reference_column`` is
    ``"form"``). So a firm without last year's values (a new firm) is
    still judged by its other quarters, its register size and its
    employees. A last-year value about ``factor`` times *larger* than this
    year's (corrected) value is flagged as well (``column`` names it).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (and period) with ``{var}_ytd`` columns.
    variables : sequence of str, optional
        Money indicators to check; default the form's money indicators.
    form : Form, optional
        The return form: default ``variables``, id column, column suffixes
        and the headcount indicator (``form.size``) for ``size``.
    id : str, optional
        Unit id column; default the form's, else ``"firm_id"``.
    references : sequence of str, optional
        Column patterns with ``{var}``; default last year's and the previous
        quarter's year to date (``"{var}_ytd_last_year"``,
        ``"{var}_ytd_previous"`` with the form's suffixes).
    register : str or None, default=None
        Register column of annual size in the money unit (e.g. last year's
        revenue); ``None``: no register reference.
    register_scale : sequence of str, default=()
        Indicators on the scale of ``register`` (e.g. output, sales and
        revenue when ``register`` is last year's revenue).
    size : str or None, default=None
        Headcount column for the value-per-head reference; default the
        form's ``size`` indicator's year-to-date column, else none.
    by : str or None, default=None
        Class of the cross-sectional medians (e.g. an industry column;
        skipped when ``None`` or not a column).
    period : str or None
        Quarter label of every row; default: the period column (the form's,
        else ``"period"``) per row (without one the whole year is used to
        scale the register).
    factor : float, default=1000
    tolerance : float, default=0.5
        Half-width of the window in powers of ten.
    min_class : int, default=10
        Firms a class needs for its own cross-sectional median.

    Returns
    -------
    UnitErrors

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b"], "revenue_ytd": [2_050_000.0, 900.0],
    ...                    "revenue_ytd_last_year": [1800.0, 1000.0]})
    >>> found = detect_unit_errors(df, ["revenue"])
    >>> found.flags[["firm_id", "column", "corrected"]].values.tolist()
    [['a', 'revenue_ytd', 2050.0]]
    >>> found.corrected["revenue_ytd"].tolist()
    [2050.0, 900.0]

    A new firm (no last year) whose first quarter is in yuan, found by its
    other quarters:

    >>> panel = pd.DataFrame({"firm_id": ["n"] * 3, "period": ["2006Q1", "2006Q2", "2006Q3"],
    ...                       "gross_output_ytd": [256_800.0, 514.0, 873.2],
    ...                       "gross_output_ytd_last_year": [0.0, 0.0, 0.0]})
    >>> found = detect_unit_errors(panel, ["gross_output"])
    >>> found.flags[["period", "column", "corrected"]].values.tolist()
    [['2006Q1', 'gross_output_ytd', 256.8]]
    """
    unit = resolve_id(id, form)
    variables = _variables(variables, form, "money", "detect_unit_errors")
    ytd_suffix = form.ytd_suffix if form is not None else "_ytd"
    last_suffix = form.last_year_suffix if form is not None else "_ytd_last_year"
    if references is None:
        references = ("{var}" + last_suffix,
                      "{var}" + (form.previous_suffix if form is not None else "_ytd_previous"))
    if size is None and form is not None and form.size is not None:
        size = form.ytd(form.size)
    scale_one = set(register_scale)
    period_column = form.period if form is not None else "period"
    if unit not in data.columns:
        raise EditError(f"detect_unit_errors: id column {unit!r} is not in the data")
    if factor <= 1 or tolerance <= 0 or tolerance >= np.log10(factor) / 2:
        raise EditError(
            f"detect_unit_errors: need factor > 1 and 0 < tolerance < log10(factor) / 2, got "
            f"factor={factor}, tolerance={tolerance}"
        )
    centre = float(np.log10(factor))
    low, high = centre - tolerance, centre + tolerance
    corrected = data.copy()
    n = len(data)
    ids = data[unit].to_numpy()
    labels = (
        np.full(n, period, dtype=object) if period is not None
        else data[period_column].to_numpy(dtype=object) if period_column in data.columns else None
    )  # fmt: skip
    year, quarter = _year_quarter(labels, n)
    q = np.where(quarter > 0, quarter, 4).astype(float)
    # firm-year groups of a panel (other quarters are references)
    panel = labels is not None and period is None and (quarter > 0).all() and n > 0
    if panel:
        key = pd.MultiIndex.from_arrays([data[unit].astype("str").to_numpy(), year])
        firm_year, _ = pd.factorize(key)
        if pd.Series(firm_year * 5 + quarter).duplicated().any():
            row = int(np.flatnonzero(pd.Series(firm_year * 5 + quarter).duplicated())[0])
            raise EditError(
                f"detect_unit_errors: unit {ids[row]!r} has two rows for period {labels[row]!r}; "
                "give one row per unit and period"
            )
        panel = int(pd.Series(quarter).nunique()) > 1
    period_code = pd.factorize(pd.Series(labels, dtype=object).astype("str"))[0] if labels is not None \
        else np.zeros(n, dtype=np.int64)
    if by is not None and by in data.columns:
        klass = pd.factorize(data[by].astype("str"))[0]
        groups = period_code * (int(klass.max()) + 2) + klass + 1 if n else period_code
    else:
        groups = period_code
    everyone = period_code

    def medians(ratio: np.ndarray) -> np.ndarray:
        own = _class_median(ratio, groups, min_class) if n else np.full(n, np.nan)
        return np.where(np.isfinite(own), own, _class_median(ratio, everyone, min_class) if n else own)

    staff = (
        np.abs(data[size].to_numpy(dtype=float, na_value=np.nan))
        if size is not None and size in data.columns else None
    )  # fmt: skip
    size_reg = (
        np.abs(data[register].to_numpy(dtype=float, na_value=np.nan)) * q / 4
        if register is not None and register in data.columns else None
    )  # fmt: skip

    def window(score: np.ndarray) -> np.ndarray:
        return np.isfinite(score) & (score >= low) & (score <= high)

    def column(name: str) -> np.ndarray:
        return data[name].to_numpy(dtype=float, na_value=np.nan)

    present = [v for v in variables if f"{v}{ytd_suffix}" in data.columns]
    values, scores, names = {}, {}, {}
    for var in present:
        value = np.abs(column(f"{var}{ytd_suffix}"))
        refs: list[tuple[str, np.ndarray]] = []
        own_quarters = np.zeros(n, dtype=bool)
        if panel:
            grid = np.full((int(firm_year.max()) + 1, 5), np.nan)
            grid[firm_year, quarter] = value
            for s in range(1, 5):
                other = grid[firm_year, s] * q / s
                other = np.where(quarter == s, np.nan, other)
                refs.append((f"year to date of Q{s}", other))
            previous_there = np.isfinite(grid[firm_year, np.maximum(quarter - 1, 0)]) & (quarter > 1)
            own_quarters = previous_there
        for pattern in references:
            name = pattern.format(var=var)
            if name not in data.columns:
                continue
            ref = np.abs(column(name))
            if name.endswith("_previous"):
                ref = np.where(q > 1, ref * q / np.maximum(q - 1, 1), np.nan)
                ref = np.where(own_quarters, np.nan, ref)
            refs.append((name, ref))
        if size_reg is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                level = medians(value / size_reg)
            if var in scale_one:
                level = np.where(np.isfinite(level), level, 1.0)
            refs.append((register, size_reg * level))
        if staff is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                refs.append((f"{size} x median {var} per head", staff * medians(value / staff)))
        if refs:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.column_stack([np.log10(value / r) for _, r in refs])
            usable = np.isfinite(ratios) & (value > 0)[:, None]
            ratios = np.where(usable, ratios, np.nan)
            score = _nanmedian(ratios, axis=1) if n else np.zeros(0)
        else:
            score, usable = np.full(n, np.nan), np.zeros((n, 0), dtype=bool)
        names[var] = (usable, [name for name, _ in refs])  # the references each row used
        values[var], scores[var] = value, score
    flagged = {var: window(scores[var]) for var in present}
    extras = {var: np.zeros(n, dtype=bool) for var in present}

    def sources(var: str, rows: np.ndarray) -> np.ndarray:  # "form", or the references used
        usable, refs = names[var]
        used = ["; ".join(r for r, u in zip(refs, row, strict=True) if u) for row in usable[rows]]
        return np.where(extras[var][rows], "form", np.array(used, dtype=object)).astype(object)
    score_frame = pd.DataFrame({f"score_{v}": scores[v] for v in present}, index=data.index)
    if present:
        matrix = np.column_stack([np.where(values[v] > 0, scores[v], np.nan) for v in present])
        form_score = _nanmedian(matrix, axis=1) if n else np.zeros(0)
        form = window(form_score)
        for var in present:
            own = scores[var]
            extra = form & (values[var] > 0) & ~flagged[var] & ~(np.isfinite(own) & (own < centre / 2))
            flagged[var] = flagged[var] | extra
            extras[var] = extra
        score_frame["form_score"] = form_score
    score_frame = score_frame.reset_index(drop=True)
    keys = {unit: ids} if labels is None else {unit: ids, period_column: labels}
    parts = []
    for var in present:
        name = f"{var}{ytd_suffix}"
        big = flagged[var]
        raw = column(name)
        if big.any():
            corrected.loc[big, name] = raw[big] / factor
            ratio = np.where(np.isfinite(scores[var][big]), 10.0 ** scores[var][big], factor)
            parts.append(
                pd.DataFrame(
                    {
                        **{k: v[big] for k, v in keys.items()},
                        "column": name,
                        "value": raw[big],
                        "reference": values[var][big] / ratio,
                        "reference_column": sources(var, big),
                        "ratio": ratio,
                        "corrected": raw[big] / factor,
                    }
                )
            )
        last = f"{var}{last_suffix}"
        if last in data.columns:
            prior = column(last)
            now = np.where(big, values[var] / factor, values[var])
            with np.errstate(divide="ignore", invalid="ignore"):
                lr = np.log10(np.abs(prior) / now)
            small = window(lr) & ~big
            if small.any():
                corrected.loc[small, last] = prior[small] / factor
                parts.append(
                    pd.DataFrame(
                        {
                            **{k: v[small] for k, v in keys.items()},
                            "column": last,
                            "value": prior[small],
                            "reference": now[small],
                            "reference_column": name,
                            "ratio": np.abs(prior[small]) / now[small],
                            "corrected": prior[small] / factor,
                        }
                    )
                )
    columns = [*keys, "column", "value", "reference", "reference_column", "ratio", "corrected"]
    flags = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return UnitErrors(flags=flags, corrected=corrected, factor=float(factor), scores=score_frame)


# ---------------------------------------------------------------------------
# cumulative (year-to-date) values: which of two conflicting values is wrong
# ---------------------------------------------------------------------------
_ACCEPTED = ("returned", "edited")
#: Values below this (thousand yuan) count as this much in path scores (zeros are values).
_FLOOR = 0.01


def _path_scores(predictors: np.ndarray, y: np.ndarray, last: np.ndarray,
                 growth: np.ndarray) -> np.ndarray:
    """Path score of every cell of a (firm-year x 4 quarters) grid: the median of
    ``log10(value / prediction)`` over the predictions from the ``predictors`` cells of
    the same row and from last year's value times the quarter's median growth (0 when
    there is no prediction)."""
    g = y.shape[0]
    scale = np.arange(1, 5, dtype=float)
    preds = []
    for s in range(4):
        for t in range(4):
            if s == t:
                continue
            both = (last[:, t] > 0) & (last[:, s] > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(both, last[:, t] / last[:, s], scale[t] / scale[s])
            # a zero year to date says the earlier quarters were zero too, but nothing
            # about later ones (a firm may start during the year)
            usable = predictors[:, s] & ((y[:, s] > 0) | (t < s))
            column = np.full((g, 4), np.nan)
            column[:, t] = np.where(usable, y[:, s] * step, np.nan)
            preds.append(column)
    preds.append(np.where(last > 0, last * growth[None, :], np.nan))
    stack = np.maximum(np.stack(preds, axis=2), _FLOOR)  # NaN stays NaN
    floor = np.where(np.isfinite(y), np.maximum(y, _FLOOR), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.log10(floor[:, :, None] / stack)
    score = _nanmedian(ratios, axis=2)
    return np.where(np.isfinite(score), score, 0.0)


def cumulative_conflicts(
    data: pd.DataFrame,
    variables: str | Sequence[str] | None = None,
    *,
    form: Form | None = None,
    id: str | None = None,
    period: str | None = None,
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Year-to-date values that fall, and which value of each falling pair is wrong.

    A year-to-date value of a non-negative indicator cannot fall during the
    year. Each value of a firm is compared with the *latest accepted* value
    of an earlier quarter of the same year (returned, corrected or
    imputed; a value listed in ``exclude`` is not accepted), so a gap (a
    quarter not returned) does not hide a fall. When a pair fails, the
    value that disagrees more with the firm's own path is judged wrong:

    * the *path score* of a value is the median of ``log10(value /
      prediction)`` over the predictions from the firm's other **returned**
      quarters of the year (``y_s * L_t / L_s`` with ``L`` last year's year
      to date, or ``y_s * t / s`` without it; a zero ``y_s`` predicts only
      the quarters before ``s``, as a firm may start during the year) and
      from last year's value times the median year-on-year ratio of the
      quarter over all firms (values below 0.01 count as 0.01);
    * for a pair ``(earlier, later)`` with ``later < earlier`` the later
      value is too low by ``-score_later`` and the earlier one too high by
      ``score_earlier``; the larger of the two is set aside (ties: an
      imputed value before a returned one, else the later value).

    Imputed values (marker not ``returned``/``edited`` in ``{var}_marker``)
    take part in the comparison but never predict other values. The pairs
    are resolved one by one in time order until no value falls.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period (``YYYYQn`` labels) with
        ``{var}_ytd``; optional ``{var}_ytd_last_year`` and ``{var}_marker``.
    variables : str or sequence of str, optional
        Indicators whose year to date cannot fall; default the form's
        non-negative flows.
    form : Form, optional
        The return form: default ``variables``, id and period columns.
    id : str, optional
        Unit id column; default the form's, else ``"firm_id"``.
    period : str, optional
        Period column; default the form's, else ``"period"``.
    exclude : pandas.DataFrame, optional
        ``{unit}, period, item`` of values already set aside.

    Returns
    -------
    pandas.DataFrame
        One row per value judged wrong: ``{unit}, period, item, rule,
        value, marker, against_period, against_value, score,
        against_score`` (``rule`` is ``{var}_cumulative``; the scores are
        the path scores of the value and of the other value of its pair).

    Raises
    ------
    EditError
        Missing columns, period labels that are not quarters, or a unit with
        two rows in one period.

    Examples
    --------
    The third quarter fell below the (imputed) second, and it is the
    value that leaves the firm's path of last year:

    >>> panel = pd.DataFrame({
    ...     "firm_id": ["a"] * 4, "period": ["2006Q1", "2006Q2", "2006Q3", "2006Q4"],
    ...     "gross_output_ytd": [383.9, 822.5, 516.7, 1876.9],
    ...     "gross_output_ytd_last_year": [425.8, 912.5, 1425.8, 1972.3],
    ...     "gross_output_marker": ["returned", "forward_imputed", "returned", "returned"]})
    >>> out = cumulative_conflicts(panel, "gross_output")
    >>> out[["period", "item", "against_period"]].values.tolist()
    [['2006Q3', 'gross_output_ytd', '2006Q2']]
    >>> round(float(out["score"].iloc[0]), 2), abs(round(float(out["against_score"].iloc[0]), 2))
    (-0.41, 0.0)
    """
    names = _variables(variables, form, "nonnegative flows", "cumulative_conflicts")
    unit = resolve_id(id, form)
    if period is None:
        period = form.period if form is not None else "period"
    ytd_suffix = form.ytd_suffix if form is not None else "_ytd"
    last_suffix = form.last_year_suffix if form is not None else "_ytd_last_year"
    needed = [unit, period, *(f"{v}{ytd_suffix}" for v in names)]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise EditError(f"cumulative_conflicts: columns {missing} are not in the data")
    columns = [unit, "period", "item", "rule", "value", "marker", "against_period",
               "against_value", "score", "against_score"]  # fmt: skip
    n = len(data)
    if n == 0:
        return pd.DataFrame(columns=columns)
    labels = data[period].to_numpy(dtype=object)
    year, quarter = _year_quarter(labels, n)
    if (quarter == 0).any():
        bad = labels[np.flatnonzero(quarter == 0)[0]]
        raise EditError(f"cumulative_conflicts: period {bad!r} is not a quarter label such as '2006Q1'")
    ids = data[unit].to_numpy()
    firm, _ = pd.factorize(pd.Series(ids, dtype=object).astype("str"))
    year_code, years = pd.factorize(year)  # (firm, year) numbered in order of appearance:
    group, _ = pd.factorize(firm.astype(np.int64) * max(len(years), 1) + year_code)
    cell = group * 4 + quarter - 1
    if pd.Series(cell).duplicated().any():
        row = int(np.flatnonzero(pd.Series(cell).duplicated())[0])
        raise EditError(
            f"cumulative_conflicts: unit {ids[row]!r} has two rows for period {labels[row]!r}; give "
            "one row per unit and period"
        )
    g = int(group.max()) + 1
    row_of = np.full((g, 4), -1, dtype=np.int64)
    row_of[group, quarter - 1] = np.arange(n)
    parts, keys = [], None
    for var in names:
        item = f"{var}{ytd_suffix}"
        y = np.full((g, 4), np.nan)
        y[group, quarter - 1] = data[item].to_numpy(dtype=float, na_value=np.nan)
        last = np.full((g, 4), np.nan)
        if f"{var}{last_suffix}" in data.columns:
            last[group, quarter - 1] = data[f"{var}{last_suffix}"].to_numpy(dtype=float,
                                                                           na_value=np.nan)
        marks = np.full((g, 4), "", dtype=object)
        if f"{var}_marker" in data.columns:
            marks[group, quarter - 1] = data[f"{var}_marker"].to_numpy(dtype=object)
            returned = np.isin(marks, _ACCEPTED)
        else:
            marks[group, quarter - 1] = "returned"
            returned = np.ones((g, 4), dtype=bool)
        valid = np.isfinite(y)
        if exclude is not None and len(exclude):
            rows = exclude[exclude["item"].to_numpy() == item]
            if len(rows):
                out_key = pd.MultiIndex.from_arrays([rows[unit].astype("str").to_numpy(),
                                                     rows["period"].astype("str").to_numpy()])
                if keys is None:  # the rows' (unit, period), made once for all variables
                    keys = pd.MultiIndex.from_arrays(
                        [pd.Series(ids, dtype=object).astype("str").to_numpy(),
                         pd.Series(labels, dtype=object).astype("str").to_numpy()])
                hit = keys.isin(out_key)
                valid[group[hit], quarter[hit] - 1] = False
        # cross-sectional year-on-year ratio of each quarter (returned values)
        with np.errstate(divide="ignore", invalid="ignore"):
            yoy = y / last
        growth = np.full(4, np.nan)
        for t in range(4):
            ok = valid[:, t] & returned[:, t] & np.isfinite(yoy[:, t]) & (yoy[:, t] > 0)
            if ok.any():
                growth[t] = np.median(yoy[ok, t])

        found = []
        for _ in range(4):
            best = np.full(g, -np.inf)
            where = np.full(g, -1, dtype=np.int64)
            conflict = np.zeros((g, 4), dtype=bool)
            against = np.full((g, 4), -1, dtype=np.int64)
            for t in range(4):
                tol = 1e-9 * np.abs(best) + 1e-9
                conflict[:, t] = valid[:, t] & (y[:, t] < best - tol)
                against[:, t] = where
                higher = valid[:, t] & (y[:, t] > best)
                best = np.where(higher, y[:, t], best)
                where = np.where(higher, t, where)
            firms = np.flatnonzero(conflict.any(axis=1))
            if not len(firms):
                break
            # the path scores of these firm-years only (a score depends on its own row)
            score = np.zeros((g, 4))
            score[firms] = _path_scores((valid & returned)[firms], y[firms], last[firms], growth)
            later = np.argmax(conflict[firms], axis=1)
            earlier = against[firms, later]
            too_low = -score[firms, later]
            too_high = score[firms, earlier]
            imputed_later = ~returned[firms, later]
            imputed_earlier = ~returned[firms, earlier]
            tie = np.isclose(too_low, too_high, rtol=0, atol=1e-12)
            drop_later = np.where(tie, ~(imputed_earlier & ~imputed_later), too_low > too_high)
            lose = np.where(drop_later, later, earlier)
            keep = np.where(drop_later, earlier, later)
            valid[firms, lose] = False
            rows = row_of[firms, lose]
            other = row_of[firms, keep]
            found.append(
                pd.DataFrame(
                    {
                        unit: ids[rows],
                        "period": labels[rows],
                        "item": item,
                        "rule": f"{var}_cumulative",
                        "value": y[firms, lose],
                        "marker": marks[firms, lose],
                        "against_period": labels[other],
                        "against_value": y[firms, keep],
                        "score": score[firms, lose],
                        "against_score": score[firms, keep],
                    }
                )
            )
        parts.extend(found)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if len(out):
        out["period"] = out["period"].astype("str")
        out["against_period"] = out["against_period"].astype("str")
    return out


# ---------------------------------------------------------------------------
# selective editing
# ---------------------------------------------------------------------------
def selective_editing_scores(
    data: pd.DataFrame,
    variables: Sequence[str] | None = None,
    *,
    form: Form | None = None,
    id: str | None = None,
    weights: str | None = None,
    by: str | list[str] | None = None,
    predictions: dict[str, str] | None = None,
    combine: str = "max",
) -> pd.DataFrame:
    """Selective-editing scores: which firms to call back first.

    The local score of firm ``i`` for variable ``j`` is
    ``w_i * |y_ij - yhat_ij| / T_j(d)`` with ``T_j(d) = sum_d w * yhat`` the
    expected total of the firm's domain ``d``: the share of the domain total
    the firm's error could move. The default prediction is last year's value
    times the domain's ratio-of-means growth among firms with both values.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit with ``{var}_ytd`` (and ``{var}_ytd_last_year``
        for the default predictions).
    variables : sequence of str, optional
        Indicators to score; default the form's money indicators.
    form : Form, optional
        The return form: default ``variables``, id column and suffixes.
    id : str, optional
        Unit id column; default the form's, else ``"firm_id"``.
    weights : str or None, default=None
        Weight column (``None``: every weight is 1, as for take-all firms).
    by : str or list of str or None, default=None
        Domain columns (e.g. county and industry).
    predictions : dict, optional
        ``{var: column}`` of your own predictions.
    combine : {"max", "sum"}, default="max"
        How local scores make the firm's score.

    Returns
    -------
    pandas.DataFrame
        ``{unit}``, domain columns, ``score_{var}`` per variable, ``score``
        and ``rank`` (1 = call first), sorted by rank; firms without a
        value get score 0.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"],
    ...                    "gross_output_ytd": [110.0, 5000.0, 95.0],
    ...                    "gross_output_ytd_last_year": [100.0, 50.0, 100.0]})
    >>> s = selective_editing_scores(df, ["gross_output"])
    >>> s["firm_id"].tolist(), s["rank"].tolist()
    (['b', 'c', 'a'], [1, 2, 3])
    """
    if combine not in ("max", "sum"):
        raise EditError(f"selective_editing_scores: combine must be 'max' or 'sum', got {combine!r}")
    unit = resolve_id(id, form)
    variables = _variables(variables, form, "money", "selective_editing_scores")
    ytd_suffix = form.ytd_suffix if form is not None else "_ytd"
    last_suffix = form.last_year_suffix if form is not None else "_ytd_last_year"
    if unit not in data.columns:
        raise EditError(f"selective_editing_scores: id column {unit!r} is not in the data")
    by_cols = [by] if isinstance(by, str) else list(by or [])
    for c in [*by_cols, *([weights] if weights else [])]:
        if c not in data.columns:
            raise EditError(f"selective_editing_scores: column {c!r} is not in the data")
    n = len(data)
    w = np.ones(n) if weights is None else data[weights].to_numpy(dtype=float, na_value=np.nan)
    if by_cols:
        domain, _ = pd.MultiIndex.from_frame(data[by_cols].astype("str")).factorize()
    else:
        domain = np.zeros(n, dtype=np.int64)
    k = int(domain.max()) + 1 if n else 0
    out = data[[unit, *by_cols]].copy()
    scores = []
    for var in variables:
        y = data[f"{var}{ytd_suffix}"].to_numpy(dtype=float, na_value=np.nan)
        if predictions and var in predictions:
            pred = data[predictions[var]].to_numpy(dtype=float, na_value=np.nan)
        else:
            last_col = f"{var}{last_suffix}"
            if last_col not in data.columns:
                raise EditError(
                    f"selective_editing_scores: no prediction for {var!r}; give predictions="
                    f"{{{var!r}: column}} or a {last_col!r} column"
                )
            last = data[last_col].to_numpy(dtype=float, na_value=np.nan)
            both = np.isfinite(y) & np.isfinite(last)
            num = np.bincount(domain[both], weights=(w * y)[both], minlength=k)
            den = np.bincount(domain[both], weights=(w * last)[both], minlength=k)
            with np.errstate(divide="ignore", invalid="ignore"):
                growth = np.where(den > 0, num / den, 1.0)
            pred = last * growth[domain]
        ok = np.isfinite(pred) & np.isfinite(w)
        total = np.bincount(domain[ok], weights=(w * np.abs(pred))[ok], minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            local = w * np.abs(y - pred) / total[domain]
        local = np.where(np.isfinite(local), local, 0.0)
        out[f"score_{var}"] = local
        scores.append(local)
    matrix = np.column_stack(scores) if scores else np.zeros((n, 1))
    out["score"] = matrix.max(axis=1) if combine == "max" else matrix.sum(axis=1)
    order = np.argsort(-out["score"].to_numpy(), kind="stable")
    out = out.iloc[order].reset_index(drop=True)
    out["rank"] = np.arange(1, n + 1)
    return out
