"""Results of estimation: :class:`Estimate`, with tables and summaries.

Rendering never changes or recomputes statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Estimate", "Summary", "t_quantile"]

RESULT_COLUMNS = ["variable", "estimate", "se", "cv", "ci_low", "ci_high", "df", "n"]


def t_quantile(level: float, df: Any) -> np.ndarray:
    """Two-sided ``level`` quantile of Student's t (normal where df is undefined).

    Examples
    --------
    >>> round(float(t_quantile(0.95, 10)), 4)
    2.2281
    """
    df = np.asarray(df, dtype=float)
    q = 0.5 + level / 2.0
    return np.where(np.isfinite(df) & (df >= 1), stats.t.ppf(q, np.maximum(df, 1)), stats.norm.ppf(q))


@dataclass(frozen=True, kw_only=True, eq=False)
class Estimate:
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
    _cache: dict = field(default_factory=dict, repr=False)

    # -- tabular views -----------------------------------------------------
    def table(self, *, level: float = 0.95) -> pd.DataFrame:
        """One row per domain and variable.

        Columns: the ``by`` columns (original names and values), then
        ``variable, estimate, se, cv, ci_low, ci_high, df, n``.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level of the t-based interval (design df).

        Returns
        -------
        pandas.DataFrame
        """
        key = ("table", level)
        if key not in self._cache:
            D, k = self.point.shape
            out = self.domains.loc[np.repeat(np.arange(D), k)].reset_index(drop=True)
            out["variable"] = np.tile(np.asarray(self.variables, dtype=object), D)
            est = self.estimate
            se = self.se
            ci = self._ci_arrays(level)
            out["estimate"] = est
            out["se"] = se
            out["cv"] = self.cv
            out["ci_low"] = ci[0]
            out["ci_high"] = ci[1]
            out["df"] = self.df
            out["n"] = self.n.ravel().astype(np.int64)
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
    def cv(self) -> np.ndarray:
        """Coefficients of variation (se / |estimate|; NaN where the estimate is 0)."""
        est = np.abs(self.estimate)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.se / est, np.nan)

    def _ci_arrays(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < level < 1:
            from survey.errors import SurveyError

            raise SurveyError(f"level must be between 0 and 1, got {level!r}")
        q = t_quantile(level, self.df)
        half = q * self.se
        return self.estimate - half, self.estimate + half

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals (t-based with the design degrees of freedom).

        Returns
        -------
        pandas.DataFrame
            The ``by`` columns, ``variable``, ``ci_low``, ``ci_high``.
        """
        t = self.table(level=level)
        return t[[*self.by, "variable", "ci_low", "ci_high"]]

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
        keys = t[list(self.by)].astype(str).agg(":".join, axis=1)
        return (keys + "|" + t["variable"].astype(str)).tolist()

    def summary(self, *, level: float = 0.95) -> "Summary":
        """A printable summary (text with ``str()``, HTML in notebooks)."""
        return Summary(self, level)

    def __repr__(self) -> str:
        D, k = self.point.shape
        return (
            f"<Estimate {self.statistic} of {', '.join(self.variables)}"
            + (f" by {', '.join(self.by)} ({D} domains)" if self.by else "")
            + f", {self.method}, df={self.df}>"
        )


class Summary:
    """Text and HTML rendering of an :class:`Estimate` (renders, never computes)."""

    def __init__(self, estimate: Estimate, level: float) -> None:
        self._estimate = estimate
        self._level = level

    def _frame(self) -> pd.DataFrame:
        return self._estimate.table(level=self._level)

    def __str__(self) -> str:
        e = self._estimate
        head = (
            f"{e.statistic.capitalize()} ({e.method}; {int(self._level * 100)}% t-interval, "
            f"df = {e.df})"
        )
        body = self._frame().to_string(
            index=False, float_format=lambda x: f"{x:,.6g}"
        )
        return f"{head}\n{body}"

    def _repr_html_(self) -> str:
        e = self._estimate
        return (
            f"<p><b>{e.statistic.capitalize()}</b> ({e.method}; df = {e.df})</p>"
            + self._frame().to_html(index=False, float_format=lambda x: f"{x:,.6g}")
        )

    __repr__ = __str__
