"""Results: one base class for every result type, :class:`Estimate`, summaries, column names.

Every result of the toolkit (:class:`Estimate`, its quantile variant, the
combined estimate of a quarter, the quarterly series, multiple-frame totals,
protected tables) is a :class:`Result`: it gives its numbers as a
``table()`` and a ``summary()`` that renders as text (``str``) and HTML (in
notebooks). Results with standard errors are :class:`IntervalResult`: they
have ``estimate``, ``se``, ``cv``, ``ci(level=...)`` and
``table(level=...)``, with a default confidence ``level``.

The column names of result tables are defined here once (:data:`RESULT_COLUMNS`,
:data:`GROWTH_COLUMNS`, :data:`PART_COLUMNS`, ...).

Rendering never changes or recomputes statistics.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from survey.errors import SurveyError
from survey.io import joined_labels
from survey.estimation.intervals import CI_METHODS, proportion_interval

from survey.lazy import lazy_module

special = lazy_module("scipy.special")

__all__ = [
    "Result",
    "IntervalResult",
    "Estimate",
    "Summary",
    "t_quantile",
    "recompute_intervals",
    "RESULT_COLUMNS",
    "INTERVAL_COLUMNS",
    "GROWTH_COLUMNS",
    "LEVEL_GROWTH_COLUMNS",
    "PART_COLUMNS",
    "SERIES_COLUMNS",
]

#: Columns of an estimate's table after the domain (``by``) columns.
RESULT_COLUMNS = ("variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n")
#: Point estimate, standard error, coefficient of variation and interval.
INTERVAL_COLUMNS = ("estimate", "se", "cv", "ci_low", "ci_high")
#: Year-on-year growth on a comparable basis, with its standard error and interval.
GROWTH_COLUMNS = ("growth", "growth_se", "growth_ci_low", "growth_ci_high")
#: Plain level-on-level growth (different sets of firms), with its standard error.
LEVEL_GROWTH_COLUMNS = ("level_growth", "level_growth_se")
#: The parts of a combined estimate (take-all, sampled, model) and their shares.
PART_COLUMNS = (
    "last_year", "take_all", "sampled", "model", "take_all_share", "sampled_share", "model_share",
    "imputed_share", "model_based", "df", "n",
)
#: The statistics of a quarterly series, after ``period``, the ``by`` columns and ``variable``.
SERIES_COLUMNS = INTERVAL_COLUMNS + GROWTH_COLUMNS


def t_quantile(level: float, df: Any) -> np.ndarray:
    """Two-sided ``level`` quantile of Student's t (normal where df is undefined).

    Examples
    --------
    >>> round(float(t_quantile(0.95, 10)), 4)
    2.2281
    """
    df = np.asarray(df, dtype=float)
    q = 0.5 + level / 2.0
    # scipy.stats' t.ppf and norm.ppf are these functions (scipy.stats is not imported for them)
    return np.where(np.isfinite(df) & (df >= 1), special.stdtrit(np.maximum(df, 1), q), special.ndtri(q))


def check_level(level: float) -> float:
    """A confidence level, checked to lie strictly between 0 and 1.

    Examples
    --------
    >>> check_level(0.9)
    0.9
    """
    if not 0 < level < 1:
        raise SurveyError(f"level must be between 0 and 1, got {level!r}")
    return level


def recompute_intervals(frame: pd.DataFrame, level: float) -> pd.DataFrame:
    """A copy of a result table with its t intervals at another confidence level.

    ``ci_low, ci_high`` become ``estimate -/+ t se`` and, where the table has
    them, ``growth_ci_low, growth_ci_high`` become ``growth -/+ t growth_se``,
    with ``t`` from each row's ``df`` (normal where it is undefined).

    Parameters
    ----------
    frame : pandas.DataFrame
        Has ``estimate``, ``se``, ``df`` (and optionally ``growth``, ``growth_se``).
    level : float

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = pd.DataFrame({"estimate": [10.0], "se": [1.0], "ci_low": [8.0], "ci_high": [12.0],
    ...                   "df": [np.nan]})
    >>> recompute_intervals(t, 0.9)[["ci_low", "ci_high"]].round(3)
       ci_low  ci_high
    0   8.355   11.645
    """
    out = frame.copy()
    q = t_quantile(check_level(level), out["df"].to_numpy(dtype=float))
    est, se = out["estimate"].to_numpy(dtype=float), out["se"].to_numpy(dtype=float)
    out["ci_low"] = est - q * se
    out["ci_high"] = est + q * se
    if "growth" in out.columns and "growth_se" in out.columns:
        g, gse = out["growth"].to_numpy(dtype=float), out["growth_se"].to_numpy(dtype=float)
        out["growth_ci_low"] = g - q * gse
        out["growth_ci_high"] = g + q * gse
    return out


def _format_number(x: float) -> str:
    return f"{x:,.6g}"


class Summary:
    """A printable summary of a result: text with ``str()``, HTML in notebooks.

    Renders, never computes: a title line and, optionally, a table.

    Parameters
    ----------
    title : str
        The first line of the text.
    table : pandas.DataFrame, optional
        Rendered below the title.
    html_title : str, optional
        The title as HTML (default: ``title``, escaped).

    Examples
    --------
    >>> s = Summary("Total (linearization)", pd.DataFrame({"variable": ["y"], "estimate": [32.0]}))
    >>> print(s)
    Total (linearization)
    variable  estimate
           y        32
    >>> str(Summary("value: 2 cells"))
    'value: 2 cells'
    """

    def __init__(self, title: str, table: pd.DataFrame | None = None, *, html_title: str | None = None) -> None:
        self.title = title
        self.table = table
        self._html_title = html_title

    def __str__(self) -> str:
        if self.table is None:
            return self.title
        body = self.table.to_string(index=False, float_format=_format_number)
        return f"{self.title}\n{body}"

    def _repr_html_(self) -> str:
        head = f"<p>{self._html_title if self._html_title is not None else html.escape(self.title)}</p>"
        if self.table is None:
            return head
        return head + self.table.to_html(index=False, float_format=_format_number)

    __repr__ = __str__


class Result:
    """Base class of every result: a table of numbers and a summary.

    Subclasses: :class:`IntervalResult` (estimates with standard errors) and
    :class:`survey.publish.disclosure.ProtectedTable`.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> est = sv.Survey(pd.DataFrame({"w": [2.0, 2.0], "y": [1.0, 3.0]}), sv.Design(weights="w")).total("y")
    >>> isinstance(est, Result), type(est.summary()).__name__
    (True, 'Summary')
    """

    def table(self) -> pd.DataFrame:
        """The result as a table (one row per domain and variable, or per cell)."""
        raise NotImplementedError

    def summary(self) -> Summary:
        """A printable summary (text with ``str()``, HTML in notebooks)."""
        raise NotImplementedError


class IntervalResult(Result):
    """A result with point estimates, standard errors and t intervals at a default level.

    Subclasses provide ``estimate`` and ``se`` (arrays in table row order),
    ``level`` (the default confidence level), ``df`` and ``table(level=...)``;
    this class adds ``cv``, ``ci_bounds(level)``, ``ci(level)`` and ``summary(level=...)``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> est = sv.Survey(pd.DataFrame({"w": [2.0, 2.0], "y": [1.0, 3.0]}), sv.Design(weights="w")).total("y")
    >>> est.level, est.cv  # total 8, se 4
    (0.95, array([0.5]))
    >>> est.ci(level=0.5)
      variable  ci_low  ci_high
    0        y     4.0     12.0
    """

    level: float
    df: Any
    estimate: np.ndarray
    se: np.ndarray

    def _level(self, level: float | None) -> float:
        """The confidence level asked for (the result's default when ``None``), checked."""
        return check_level(self.level if level is None else level)

    def _key_columns(self) -> list[str]:
        """The columns that identify a row, before ``variable``."""
        return list(getattr(self, "by", ()))

    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """The result as a table, with intervals at ``level`` (default: the result's level)."""
        raise NotImplementedError

    @property
    def cv(self) -> np.ndarray:
        """Coefficients of variation (se / |estimate|; NaN where the estimate is 0)."""
        est = np.abs(self.estimate)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.se / est, np.nan)

    def ci_bounds(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper confidence limits in table row order (t with the design df).

        Parameters
        ----------
        level : float, optional
            Default: the result's ``level``.

        Returns
        -------
        tuple of numpy.ndarray
        """
        q = t_quantile(self._level(level), self.df)
        half = q * self.se
        return self.estimate - half, self.estimate + half

    def ci(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals: the key columns, ``variable``, ``ci_low``, ``ci_high``.

        Parameters
        ----------
        level : float, optional
            Default: the result's ``level``.

        Returns
        -------
        pandas.DataFrame
        """
        t = self.table(level=level)
        return t[[*self._key_columns(), "variable", "ci_low", "ci_high"]]

    def _summary_title(self, level: float) -> tuple[str, str | None]:
        return f"{type(self).__name__} ({int(level * 100)}% interval)", None

    def _summary_table(self, level: float) -> pd.DataFrame:
        return self.table(level=level)

    def summary(self, *, level: float | None = None) -> Summary:
        """A printable summary (text with ``str()``, HTML in notebooks).

        Parameters
        ----------
        level : float, optional
            Confidence level of the intervals shown (default: the result's ``level``).

        Returns
        -------
        Summary
        """
        lv = self._level(level)
        title, html_title = self._summary_title(lv)
        return Summary(title, self._summary_table(lv), html_title=html_title)


def _check_estimate(result: Any) -> None:
    """No standard error without variance information, no infinite estimate (issue 13).

    An estimate that is NaN (a mean or ratio over a domain without values, a zero
    denominator) gets NaN variances, never 0; an infinite estimate or variance
    (weights or values so large that the sums overflow) is an error.
    """
    from survey.errors import WeightError

    point = np.asarray(result.point, dtype=float)
    cov = np.asarray(result.cov, dtype=float)
    if np.isinf(point).any() or np.isinf(cov).any():
        d, j = np.argwhere(np.isinf(point) | np.isinf(np.diagonal(cov, axis1=1, axis2=2)))[0]
        where = "" if result.domains.shape[1] == 0 else \
            f" in domain {result.domains.iloc[int(d)].to_dict()}"
        raise WeightError(
            f"the {result.statistic} of {result.variables[int(j)]!r}{where} overflows (infinite); "
            "weights or values are too large to sum in floating point (largest finite number "
            f"{np.finfo(float).max:.3g}); check the weights and the units of the values")
    nan = np.isnan(point)
    if nan.any() and cov.size:
        cov = cov.copy()
        d, j = np.nonzero(nan)
        cov[d, j, :] = np.nan
        cov[d, :, j] = np.nan
        object.__setattr__(result, "cov", cov)


@dataclass(frozen=True, kw_only=True, eq=False)
class Estimate(IntervalResult):
    """Point estimates with standard errors, one row per (domain, variable).

    Build by the estimators of :class:`survey.Survey`; do not construct by hand.

    Attributes
    ----------
    statistic : str
        ``"total"``, ``"mean"``, ``"ratio"``, ``"proportion"``, ...
    by : tuple of str
        Domain columns (empty for the whole population).
    method : str
        ``"linearization"`` or the replicate method.
    level : float
        Default confidence level of ``table``, ``ci`` and ``summary`` (0.95).
    deff : numpy.ndarray or None
        Design effects (D, k) when asked for (``deff=True`` or ``"replace"``).
    ci_method : str or None
        Interval method of ``table()`` for proportions (``proportion(ci=...)``);
        ``None``: the symmetric t interval.
    variance_parts : mapping or None
        After a two-phase nonresponse adjustment: ``"phase1"`` and ``"phase2"``
        covariance matrices (D, k, k) that add up to ``cov``.

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
    >>> est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y")
    >>> est.estimate, est.se
    (array([32.]), array([12.64911064]))
    """

    statistic: str
    by: tuple[str, ...]
    method: str
    domains: pd.DataFrame
    variables: tuple[str, ...]
    point: np.ndarray  # (D, k)
    cov: np.ndarray  # (D, k, k)
    df: int
    n: np.ndarray  # (D, k)
    full_vcov: Callable[[], np.ndarray] | None = None
    level: float = 0.95
    _cache: dict = field(default_factory=dict, repr=False)
    deff: np.ndarray | None = None
    ci_method: str | None = None
    variance_parts: Mapping[str, np.ndarray] | None = None
    domain_df: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    likelihood: Callable[[], tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)
    replicate_values: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    replicate_rule: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_estimate(self)

    # -- tabular views -----------------------------------------------------
    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """One row per domain and variable.

        Columns: the ``by`` columns (original names and values), then
        ``variable, estimate, se, cv, ci_low, ci_high, df, n`` (:data:`RESULT_COLUMNS`),
        and ``deff`` when design effects were asked for.

        Parameters
        ----------
        level : float, optional
            Confidence level of the t-based interval (design df); default: ``self.level``.

        Returns
        -------
        pandas.DataFrame
        """
        level = self._level(level)
        key = ("table", level)
        if key not in self._cache:
            D, k = self.point.shape
            out = self.domains.loc[np.repeat(np.arange(D), k)].reset_index(drop=True)
            out["variable"] = np.tile(np.asarray(self.variables, dtype=object), D)
            est = self.estimate
            se = self.se
            ci = self.ci_bounds(level, method=self.ci_method) if self.ci_method else self.ci_bounds(level)
            out["estimate"] = est
            out["se"] = se
            out["cv"] = self.cv
            out["ci_low"] = ci[0]
            out["ci_high"] = ci[1]
            out["df"] = self._row_df() if self.ci_method else self.df
            out["n"] = self.n.ravel().astype(np.int64)
            if self.deff is not None:
                out["deff"] = np.asarray(self.deff, dtype=float).ravel()
            self._cache[key] = out
        return self._cache[key].copy()

    @property
    def estimate(self) -> np.ndarray:
        """Point estimates in table row order."""
        return self.point.ravel().copy()

    @property
    def se(self) -> np.ndarray:
        """Standard errors in table row order."""
        var = np.diagonal(self.cov, axis1=1, axis2=2).ravel()
        return np.sqrt(np.maximum(var, 0.0))

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of all estimates (rows and columns in table order)."""
        if "vcov" not in self._cache:
            D, k = self.point.shape
            if self.full_vcov is not None and D > 1:
                v = self.full_vcov()
            else:
                # one domain (or no cross-domain engine): block-diagonal
                blocks = np.zeros((D, k, D, k))
                idx = np.arange(D)
                blocks[idx, :, idx, :] = self.cov
                v = blocks.reshape(D * k, D * k)
            labels = self._row_labels()
            self._cache["vcov"] = pd.DataFrame(v, index=labels, columns=labels)
        return self._cache["vcov"].copy()

    def _row_labels(self) -> list[str]:
        t = self.table()
        if not self.by:
            return t["variable"].astype(str).tolist()
        keys = joined_labels(t, self.by, ":")
        return (keys + "|" + t["variable"].astype(str)).tolist()

    # -- degrees of freedom and intervals ---------------------------------------
    @property
    def df_by_domain(self) -> np.ndarray:
        """Degrees of freedom of every domain's design: PSUs minus strata with rows in it (R ``degf``)."""
        if "df_by_domain" not in self._cache:
            D = self.point.shape[0]
            val = self.domain_df() if self.domain_df is not None else np.full(D, self.df)
            self._cache["df_by_domain"] = np.asarray(val)
        return self._cache["df_by_domain"].copy()

    def _row_df(self) -> np.ndarray:
        return np.repeat(self.df_by_domain, self.point.shape[1])

    def ci_bounds(self, level: float | None = None, method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper confidence limits in table row order.

        Parameters
        ----------
        level : float, optional
            Default: the result's ``level``.
        method : {"mean", "logit", "likelihood", "beta", "asin", "xlogit"}, optional
            An interval for proportions (R ``svyciprop``) with the domain's
            degrees of freedom; ``None``: the symmetric t interval with the
            design df. Formulas: :mod:`survey.estimation.intervals`.

        Returns
        -------
        tuple of numpy.ndarray

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0] * 10, "c": ["x"] + ["y"] * 9})
        >>> est = sv.Survey(df, sv.Design(weights="w")).proportion("c")
        >>> low, high = est.ci_bounds(method="mean")
        >>> bool(low[0] < 0), bool(est.ci_bounds(method="logit")[0][0] > 0)
        (True, True)
        """
        if method is None:
            return super().ci_bounds(level)
        if method not in CI_METHODS:
            raise SurveyError(f"ci method {method!r} is not one of {', '.join(CI_METHODS)}")
        if self.statistic not in ("proportion", "mean"):
            raise SurveyError(f"interval method {method!r} is for proportions, not for a {self.statistic}")
        lv = self._level(level)
        m = phi = None
        if method == "likelihood":
            if self.likelihood is None:
                raise SurveyError("the likelihood interval needs an estimate from proportion() or mean()")
            m_, phi_ = self.likelihood()
            m, phi = np.asarray(m_).ravel(), np.asarray(phi_).ravel()
        return proportion_interval(method, self.estimate, self.se, self._row_df(), self.n.ravel(), lv, m=m, phi=phi)

    def ci(self, level: float | None = None, method: str | None = None) -> pd.DataFrame:
        """Confidence intervals: the key columns, ``variable``, ``ci_low``, ``ci_high``.

        Parameters
        ----------
        level : float, optional
            Default: the result's ``level``.
        method : {"mean", "logit", "likelihood", "beta", "asin", "xlogit"}, optional
            For proportions (and means of 0/1 values): R ``svyciprop``'s
            methods, with the degrees of freedom of every domain's design.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0] * 10, "c": ["x"] + ["y"] * 9})
        >>> sv.Survey(df, sv.Design(weights="w")).proportion("c").ci(method="beta").round(4)
          variable  ci_low  ci_high
        0      c=x  0.0018   0.4695
        1      c=y  0.5305   0.9982
        """
        if method is None:
            return super().ci(level)
        t = self.table(level=level)[[*self._key_columns(), "variable"]].copy()
        t["ci_low"], t["ci_high"] = self.ci_bounds(level, method=method)
        return t

    # -- contrasts ------------------------------------------------------------------
    def _resolve_row(self, key: Any) -> int:
        labels = self._row_labels()
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= int(key) < len(labels):
                raise SurveyError(f"row {key} is outside 0..{len(labels) - 1}")
            return int(key)
        key = str(key)
        if key in labels:
            return labels.index(key)
        if self.by and len(self.variables) == 1:  # a domain key alone
            short = [lab.split("|", 1)[0] for lab in labels]
            if short.count(key) == 1:
                return short.index(key)
        raise SurveyError(f"no estimate labelled {key!r}; the rows are {labels[:10]}")

    def _contrast_matrix(self, weights: Any) -> tuple[np.ndarray, list[str]]:
        rows = self.point.size
        if isinstance(weights, Mapping):
            values = list(weights.values())
            if values and all(isinstance(v, Mapping) for v in values):
                names = [str(k) for k in weights]
                L = np.zeros((len(values), rows))
                for i, v in enumerate(values):
                    for key, c in v.items():
                        L[i, self._resolve_row(key)] += float(c)
                return L, names
            L = np.zeros((1, rows))
            for key, c in weights.items():
                L[0, self._resolve_row(key)] += float(c)
            return L, ["contrast"]
        L = np.atleast_2d(np.asarray(weights, dtype=float))
        if L.shape[1] != rows:
            raise SurveyError(f"contrast weights have {L.shape[1]} entries, the estimate has {rows} rows")
        return L, ["contrast"] if L.shape[0] == 1 else [f"contrast{i + 1}" for i in range(L.shape[0])]

    def _derived(self, point: np.ndarray, cov: np.ndarray, names: list[str], statistic: str) -> Estimate:
        c = point.shape[0]
        return Estimate(
            statistic=statistic,
            by=(),
            method=self.method,
            domains=pd.DataFrame(index=range(1)),
            variables=tuple(names),
            point=point[None, :],
            cov=cov[None, :, :],
            df=self.df,
            n=np.full((1, c), int(np.max(self.n)) if self.n.size else 0),
            level=self.level,
        )

    def contrast(self, weights: Any) -> Estimate:
        """Linear combinations of the estimates, with their covariance from ``vcov`` (R ``svycontrast``).

        Parameters
        ----------
        weights : mapping, sequence or 2-D array
            ``{row: weight}`` (rows by their :attr:`vcov` label, e.g.
            ``"E|enroll"``, or by the domain value alone when there is one
            variable, e.g. ``"E"``); ``{name: {row: weight}}`` for several
            named contrasts; or weights in table row order (one row per contrast).

        Returns
        -------
        Estimate
            ``statistic="contrast"``, one row per contrast; ``se`` from
            ``L V L'`` with the full covariance across domains.

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y", by="h")
        >>> d = est.contrast({"2": 1, "1": -1})   # total of stratum 2 minus stratum 1
        >>> float(d.estimate[0]), float(d.se[0])  # 24 - 8; sqrt(144 + 16)
        (16.0, 12.649110640673518)
        """
        L, names = self._contrast_matrix(weights)
        V = self.vcov.to_numpy()
        return self._derived(L @ self.estimate, L @ V @ L.T, names, "contrast")

    def ratio_of(self, numerator: Any, denominator: Any, *, replicates: bool = False) -> Estimate:
        """The ratio of two estimates (e.g. of two domain totals), SE by the delta method.

        R ``svycontrast(est, quote(A / B))``: variance ``g' V g`` with the
        gradient ``g = (1/B, -A/B^2)`` and ``V`` from :attr:`vcov`. With
        ``replicates=True`` (replicate surveys) the ratio is computed in every
        replicate and its variance is the replicate variance (R
        ``svyby(..., return.replicates = TRUE)`` then ``svycontrast``).

        Parameters
        ----------
        numerator, denominator : str or int
            Row labels as in :meth:`contrast`.
        replicates : bool, default=False

        Returns
        -------
        Estimate

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> est = sv.Survey(df, sv.Design(strata="h", weights="w")).total("y", by="h")
        >>> r = est.ratio_of("2", "1")
        >>> float(r.estimate[0]), round(float(r.se[0]), 4)  # 24 / 8; sqrt(144/64 + 9 * 16/64)
        (3.0, 2.1213)
        """
        a, b = self._resolve_row(numerator), self._resolve_row(denominator)
        est = self.estimate
        A, B = est[a], est[b]
        names = [f"{self._row_labels()[a]}/{self._row_labels()[b]}"]
        if replicates:
            if self.replicate_values is None or self.replicate_rule is None:
                raise SurveyError("replicates=True needs an estimate from a replicate survey")
            th = self.replicate_values()
            with np.errstate(divide="ignore", invalid="ignore"):
                r = th[:, a] / th[:, b]
            rule = self.replicate_rule
            ok = np.isfinite(r)
            centre = A / B if rule.mse else np.mean(r[ok])
            s = np.asarray(rule.rscales, dtype=float)
            var = rule.scale * np.sum((s * (r - centre) ** 2)[ok])
            return self._derived(np.array([A / B]), np.array([[var]]), names, "ratio")
        V = self.vcov.to_numpy()
        g = np.zeros(est.shape[0])
        g[a] += 1.0 / B
        g[b] += -A / B**2
        return self._derived(np.array([A / B]), np.array([[g @ V @ g]]), names, "ratio")

    def _summary_title(self, level: float) -> tuple[str, str | None]:
        stat = self.statistic.capitalize()
        text = f"{stat} ({self.method}; {int(level * 100)}% t-interval, df = {self.df})"
        return text, f"<b>{html.escape(stat)}</b> ({html.escape(self.method)}; df = {self.df})"

    def __repr__(self) -> str:
        D, k = self.point.shape
        return (
            f"<Estimate {self.statistic} of {', '.join(self.variables)}"
            + (f" by {', '.join(self.by)} ({D} domains)" if self.by else "")
            + f", {self.method}, df={self.df}>"
        )
