"""Building blocks of the estimators: domain codes, analysis values, group sums, ratio scores.

Shared by the estimators of totals, means, ratios and proportions
(:mod:`survey.estimation.estimate`) and of quantiles
(:mod:`survey.estimation.quantile`). Domains keep the whole design: a row
outside a domain (or the subset, or with a missing value under ``na="drop"``)
gets domain code ``-1`` and a zero score, but stays in its stratum and PSU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SurveyError
from survey.estimation.structure import sorted_codes
from survey.register.frame import check_code_types

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = [
    "NaPolicy",
    "column_list",
    "domain_codes",
    "domain_values",
    "group_sums",
    "ratio_scores",
    "unit_counts",
    "domain_degrees_of_freedom",
    "srs_variance",
    "NA_POLICIES",
]

NaPolicy = Literal["error", "drop", "drop_each"]
#: Missing values: raise; drop the row for every variable (R ``na.rm = TRUE``: complete
#: cases across the variables of the call); drop it for that variable only.
NA_POLICIES = ("error", "drop", "drop_each")


def column_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    """A column name or a list of names as a list (empty for ``None``).

    Parameters
    ----------
    value : str, sequence of str or None
    what : str
        The argument's name, for the error message.

    Returns
    -------
    list of str

    Raises
    ------
    ColumnError
        Something other than column names.

    Examples
    --------
    >>> column_list("y", "variables"), column_list(["a", "b"], "by"), column_list(None, "by")
    (['y'], ['a', 'b'], [])
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise ColumnError(f"{what} must be a column name or a list of column names, got {value!r}")
    return out


def _numeric_column(survey: Survey, name: str) -> np.ndarray:
    data = survey.data
    col = data[name] if name in data.columns else None
    if col is None:
        survey.column(name)  # raises a ColumnError with suggestions
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        if pd.api.types.is_bool_dtype(col):
            return col.to_numpy(dtype=float, na_value=np.nan)
        raise ColumnError(
            f"column {name!r} has dtype {col.dtype}; totals, means and ratios need a numeric "
            "column (use proportion() for a categorical one)"
        )
    return col.to_numpy(dtype=float, na_value=np.nan)


def _plain_integer(col: pd.Series, kinds: str) -> bool:
    """A numpy (not nullable) integer or boolean column."""
    return isinstance(col.dtype, np.dtype) and col.dtype.kind in kinds


def domain_codes(survey: Survey, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code of every row (-1 outside the subset) and the table of domain keys.

    Parameters
    ----------
    survey : Survey
    by : list of str
        Domain columns (empty: one domain, the whole population or subset).

    Returns
    -------
    codes : numpy.ndarray of int, shape (n,)
        Domains numbered in sorted order of their keys.
    keys : pandas.DataFrame
        One row per domain with the ``by`` columns.

    Raises
    ------
    ColumnError
        Unknown domain columns, or missing values in them inside the subset.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1, 1], "r": ["b", "a", "b"]}), sv.Design(weights="w"))
    >>> codes, keys = domain_codes(s, ["r"])
    >>> codes, keys["r"].tolist()
    (array([1, 0, 1]), ['a', 'b'])
    """
    data = survey.data
    n = len(data)
    mask = survey.subset_mask
    if not by:
        dom = np.zeros(n, dtype=np.intp)
        keys = pd.DataFrame(index=range(1))
    else:
        missing = [b for b in by if b not in data.columns]
        if missing:
            survey.column(missing[0])
        for b in by:
            check_code_types(data[b], b, "domain")
        frame = data[by]
        if all(_plain_integer(frame[b], "iub") for b in by):  # numpy integers and booleans hold no NA
            relevant = np.zeros(1, dtype=bool)
        else:
            isna = frame.isna().any(axis=1).to_numpy()
            relevant = isna if mask is None else (isna & mask)
        if relevant.any():
            rows = data.index[relevant][:5].tolist()
            cols = [b for b in by if data[b].isna().to_numpy()[relevant].any()]
            raise ColumnError(
                f"domain column(s) {cols} have missing values in {int(relevant.sum())} row(s), "
                f"first at rows {rows}; fill them or subset them out before estimating by domain"
            )
        if mask is not None:
            frame = frame[mask]
        col = frame[by[0]]
        if len(by) == 1 and _plain_integer(col, "iu"):  # one integer column: a lookup table
            codes_in, labels = sorted_codes(col)
            keys = pd.DataFrame({by[0]: labels})
        else:
            grouped = frame.groupby(by, sort=True, observed=True)
            codes_in = grouped.ngroup().to_numpy().astype(np.intp)
            keys = grouped.size().index.to_frame(index=False)
        if mask is None:
            return codes_in, keys
        dom = np.full(n, -1, dtype=np.intp)
        dom[mask] = codes_in
        return dom, keys
    if mask is not None:
        dom = np.where(mask, dom, -1)
    return dom, keys


def domain_values(
    survey: Survey, names: list[str], dom: np.ndarray, na: NaPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Numeric values (n, k) with NaN and rows outside every domain set to 0, and the validity mask.

    Parameters
    ----------
    survey : Survey
    names : list of str
        Numeric (or boolean) columns.
    dom : numpy.ndarray of int
        Domain codes from :func:`domain_codes`.
    na : {"error", "drop", "drop_each"}
        A missing value inside a domain raises (``"error"``); makes the row
        count as outside the domain for *every* variable (``"drop"``: complete
        cases, as R ``na.rm = TRUE``); or for that variable only (``"drop_each"``).

    Returns
    -------
    values : numpy.ndarray, shape (n, k)
    valid : numpy.ndarray of bool, shape (n, k)

    Examples
    --------
    >>> import numpy as np, pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1], "y": [2.0, np.nan]}), sv.Design(weights="w"))
    >>> domain_values(s, ["y"], np.zeros(2, dtype=np.intp), "drop")
    (array([[2.],
           [0.]]), array([[ True],
           [False]]))
    """
    if na not in NA_POLICIES:
        raise SurveyError(f"na={na!r} must be 'error', 'drop' or 'drop_each'")
    y = np.empty((len(survey), len(names)), order="F")  # column-major: each variable contiguous
    for j, v in enumerate(names):
        y[:, j] = _numeric_column(survey, v)
    valid = np.isfinite(y)
    infinite = None if valid.all() else np.isinf(y) & (dom >= 0)[:, None]
    if infinite is not None and infinite.any():  # never "missing": an infinite value is an error
        j = int(np.flatnonzero(infinite.any(axis=0))[0])
        rows = survey.data.index[infinite[:, j]][:5].tolist()
        raise ColumnError(
            f"column {names[j]!r} has {int(infinite[:, j].sum())} infinite value(s), first at "
            f"rows {rows}; correct them (an infinite value is not a missing value, na= does not "
            "apply)")
    all_valid = bool(valid.all())
    all_inside = bool(dom.size == 0 or dom.min() >= 0)
    if all_valid and all_inside:  # the usual case: nothing to mask
        return y, valid
    if na == "drop" and y.shape[1] > 1 and not all_valid:  # complete cases (R na.rm = TRUE)
        valid = np.repeat(valid.all(axis=1)[:, None], y.shape[1], axis=1)
    inside = dom >= 0
    bad = ~valid & inside[:, None]
    if bad.any() and na == "error":
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = survey.data.index[bad[:, j]][:5].tolist()
        raise ColumnError(
            f"column {names[j]!r} has {int(bad[:, j].sum())} missing value(s), first at rows {rows}; "
            "pass na='drop' to treat them as outside the domain (R na.rm=TRUE: complete cases "
            "across the variables), or na='drop_each' to drop them per variable"
        )
    if all_inside and not bad.any():
        return y, valid
    valid &= inside[:, None]
    y[~valid] = 0.0
    return y, valid


def group_sums(dom: np.ndarray, values: np.ndarray, n_domains: int) -> np.ndarray:
    """Column sums of ``values`` (n, k) by domain code (rows with code -1 left out).

    Parameters
    ----------
    dom : numpy.ndarray of int, shape (n,)
    values : numpy.ndarray, shape (n, k)
    n_domains : int

    Returns
    -------
    numpy.ndarray, shape (n_domains, k)

    Examples
    --------
    >>> group_sums(np.array([0, 1, -1, 1]), np.array([[1.0], [2.0], [4.0], [8.0]]), 2)
    array([[ 1.],
           [10.]])
    """
    D = n_domains
    if dom.size and dom.min() >= 0:
        if D == 1:  # the whole population: plain (pairwise) sums
            return values.sum(axis=0)[None, :]
        d, v = dom, values
    else:
        inside = dom >= 0
        if D == 1:
            return values[inside].sum(axis=0)[None, :]
        d, v = dom[inside], values[inside]
    return np.column_stack(
        [np.bincount(d, weights=v[:, j], minlength=D) for j in range(v.shape[1])]
    ) if v.shape[1] else np.zeros((D, 0))


def ratio_scores(
    survey: Survey, y: np.ndarray, x: np.ndarray, valid: np.ndarray, dom: np.ndarray, n_domains: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio estimates ``R_d = Y_d / X_d`` (D, k), their scores (n, k) and denominators (D, k).

    The score (influence value) of row ``i`` in domain ``d`` is
    ``w_i (y_i - R_d x_i) / X_d``.

    Parameters
    ----------
    survey : Survey
        Its current weights are used.
    y, x : numpy.ndarray, shape (n, k)
    valid : numpy.ndarray of bool, shape (n, k)
    dom : numpy.ndarray of int, shape (n,)
    n_domains : int

    Returns
    -------
    ratio, scores, denominator : numpy.ndarray

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1.0]}), sv.Design(weights="w"))
    >>> y = np.array([[1.0], [3.0]])
    >>> R, z, X = ratio_scores(s, y, np.ones_like(y), np.ones_like(y, bool), np.zeros(2, dtype=np.intp), 1)
    >>> R, z.ravel(), X
    (array([[2.]]), array([-0.5,  0.5]), array([[2.]]))
    """
    D = n_domains
    w = survey.weights[:, None] * valid
    Y = group_sums(dom, w * y, D)
    X = group_sums(dom, w * x, D)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(X != 0, Y / X, np.nan)
    d = np.where(dom >= 0, dom, 0)
    Rrow = np.where(valid, R[d], 0.0)
    Xrow = X[d]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(valid & (Xrow != 0), w * (y - np.nan_to_num(Rrow) * x) / Xrow, 0.0)
    return R, z, X


def unit_counts(survey: Survey, valid: np.ndarray, dom: np.ndarray, n_domains: int) -> np.ndarray:
    """Number of rows with positive weight and a valid value, per domain and variable (D, k).

    Parameters
    ----------
    survey : Survey
    valid : numpy.ndarray of bool, shape (n, k)
    dom : numpy.ndarray of int, shape (n,)
    n_domains : int

    Returns
    -------
    numpy.ndarray, shape (n_domains, k)

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [1.0, 1.0, 2.0]}), sv.Design(weights="w"))
    >>> unit_counts(s, np.array([[True], [False], [True]]), np.zeros(3, dtype=np.intp), 1)
    array([[2.]])
    """
    D = n_domains
    w = survey.weights
    all_positive = bool(w.size == 0 or w.min() > 0)
    if valid.all():
        if all_positive:  # counts of rows, no weights
            inside = dom >= 0 if dom.size and dom.min() < 0 else None
            if D == 1:  # the whole population: no one-bin bincount
                one = np.array([float(dom.size if inside is None else np.count_nonzero(inside))])
            else:
                one = np.bincount(dom if inside is None else dom[inside], minlength=D).astype(float)
            return np.repeat(one[:, None], valid.shape[1], axis=1)
        positive = (w > 0).astype(float)
        one = group_sums(dom, positive[:, None], D)
        return np.repeat(one, valid.shape[1], axis=1)
    positive = (w > 0).astype(float)
    return group_sums(dom, positive[:, None] * valid, D)


def domain_degrees_of_freedom(survey: Survey, dom: np.ndarray, n_domains: int) -> np.ndarray:
    """Degrees of freedom of every domain: its PSUs minus its strata (R ``degf(subset(design, ...))``).

    Only rows with positive weight count, as in R. Replicate surveys: the
    replicate design's degrees of freedom in every domain.

    Parameters
    ----------
    survey : Survey
    dom : numpy.ndarray of int, shape (n,)
        Domain codes, ``-1`` outside every domain.
    n_domains : int

    Returns
    -------
    numpy.ndarray of int, shape (n_domains,)

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2, 2], "w": 1.0, "r": ["a", "a", "a", "b", "b"]})
    >>> s = sv.Survey(df, sv.Design(strata="h", weights="w"))
    >>> codes, _ = domain_codes(s, ["r"])
    >>> domain_degrees_of_freedom(s, codes, 2)  # a: 3 PSUs in 2 strata; b: 2 PSUs in 1 stratum
    array([1, 1])
    """
    rep = survey.replicates
    if rep is not None:
        return np.full(n_domains, int(rep.df), dtype=np.int64)
    keep = (dom >= 0) & (np.asarray(survey.weights) > 0)
    d = dom[keep].astype(np.int64)
    psu = np.asarray(survey.psu_codes)[keep].astype(np.int64)
    h = np.asarray(survey.strata_codes)[keep].astype(np.int64)
    n_psu = np.bincount(np.unique(psu * n_domains + d) % n_domains, minlength=n_domains)
    n_h = np.bincount(np.unique(h * n_domains + d) % n_domains, minlength=n_domains)
    return (n_psu - n_h).astype(np.int64)


def srs_variance(
    survey: Survey,
    values: np.ndarray,
    valid: np.ndarray,
    dom: np.ndarray,
    n_domains: int,
    statistic: str,
    replace: bool,
) -> np.ndarray:
    """The variance of the same estimator under simple random sampling (the denominator of a deff).

    As R ``svytotal(..., deff = TRUE)``: in every domain, with ``n`` the rows
    of positive weight, ``N = sum w`` and ``s2 = sum w (x - xbar_w)^2 / N * n/(n-1)``
    (R ``svyvar``), the SRS variance is ``N^2 (1 - n/N) s2 / n`` for a total and
    ``(1 - n/N) s2 / n`` for a mean; without the ``(1 - n/N)`` factor with
    ``replace=True`` (R ``deff = "replace"``). For a ratio pass the values
    ``(y - R x) / X`` and ``statistic="total"`` (R: the deff of ``svytotal`` of them).

    Parameters
    ----------
    survey : Survey
    values : numpy.ndarray, shape (n, k)
    valid : numpy.ndarray of bool, shape (n, k)
    dom : numpy.ndarray of int, shape (n,)
    n_domains : int
    statistic : {"total", "mean"}
    replace : bool

    Returns
    -------
    numpy.ndarray, shape (n_domains, k)

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [2.0] * 4}), sv.Design(weights="w"))
    >>> y = np.array([[1.0], [2.0], [3.0], [6.0]])
    >>> srs_variance(s, y, np.ones_like(y, bool), np.zeros(4, dtype=np.intp), 1, "mean", True)  # s2 / n
    array([[1.16666667]])
    """
    D = n_domains
    w = np.asarray(survey.weights, dtype=float)[:, None] * valid
    inside = (dom >= 0)[:, None]
    w = np.where(inside, w, 0.0)
    N = group_sums(dom, w, D)
    n = group_sums(dom, (w > 0).astype(float), D)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = group_sums(dom, w * values, D) / N
        d = np.where(dom >= 0, dom, 0)
        dev = np.where(w > 0, values - xbar[d], 0.0)
        s2 = group_sums(dom, w * dev * dev, D) / N * n / (n - 1.0)
        base = s2 / n if statistic == "mean" else s2 * N * N / n
        return base if replace else base * (N - n) / N
