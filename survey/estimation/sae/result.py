"""The Fay–Herriot result object: table, summary, benchmarking, keep-direct and prediction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ColumnError, SurveyError
from ...lazy import lazy_module
from .inputs import area_keys, auxiliary_matrix, check_finite, describe_area

# norm.ppf is ndtri, norm.sf(x) is ndtr(-x): scipy.stats (a second to import) is not needed
special = lazy_module("scipy.special")


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, kw_only=True, eq=False)
class FayHerriot:
    """Fay–Herriot small-area estimates (frozen; build with :func:`fay_herriot`).

    Attributes
    ----------
    key : tuple of str
        Names of the area key columns (``areas`` holds their values).
    areas : pandas.DataFrame
        One row per area: the key columns.
    direct, variance : numpy.ndarray
        Direct estimates ``y_i`` and their sampling variances ``psi_i`` (as given).
    X : numpy.ndarray
        Model matrix (with the intercept column first when ``intercept``).
    coef_names : tuple of str
        Names of the columns of ``X`` (``"(Intercept)"`` for the intercept).
    method : str
        ``"REML"``, ``"ML"`` or ``"FH"``.
    mse_method : str
        ``"prasad-rao"`` or ``"bootstrap"``.
    sigma2_v : float
        Estimated area-effect variance, truncated at 0 (as R ``sae``).
    sigma2_v_raw : float
        The last Fisher-scoring iterate before truncation (negative when the
        likelihood or moment equation has its root below 0).
    sigma2_v_se : float
        Asymptotic standard error of ``sigma2_v`` (``sqrt(2/sum w^2)`` for REML
        and ML, ``sqrt(2m)/sum w`` for FH; ``w_i = 1/(sigma2_v + psi_i)``).
    beta, beta_se : numpy.ndarray
        GLS coefficients and standard errors ``sqrt(diag((X'V^-1X)^-1))``.
    beta_cov : numpy.ndarray
        ``(X'V^-1X)^-1``.
    converged : bool
    iterations : int
        Fisher-scoring iterations.
    fallback : bool
        Fisher scoring did not converge in ``max_iter`` iterations and the root
        was found by the bracketed solver (regula falsi).
    tol, max_iter : float, int
        Stopping rule used.
    loglik, aic, bic : float
        Marginal Gaussian log-likelihood at the estimates and ``-2 loglik + 2(p+1)``,
        ``-2 loglik + (p+1) log m`` (as R ``sae``, for every method).
    eblup, synthetic, gamma : numpy.ndarray
        EBLUPs, synthetic estimates ``x_i' beta``, shrinkage factors.
    g1, g2, g3, bias_term : numpy.ndarray
        Components of the analytic MSE (``mse_prasad_rao = g1 + g2 + 2 g3 - bias_term``).
    mse_prasad_rao : numpy.ndarray
        Analytic MSE of the EBLUP (always computed, R ``sae::mseFH``).
    mse_bootstrap : numpy.ndarray or None
        Parametric bootstrap MSE of the EBLUP (when ``mse="bootstrap"``).
    B, seed, bootstrap_failed : int or None
        Bootstrap replicates, the seed to repeat them, replicates dropped for
        non-convergence.
    estimate, mse : numpy.ndarray
        The published estimate of each area and its MSE (EBLUP or direct; after
        benchmarking if benchmarked).
    area_method : numpy.ndarray of str
        ``"EBLUP"`` or ``"direct"`` per area.
    direct_cv_max : float or None
        CV threshold under which the direct estimate was kept.
    benchmark_method : str or None
        ``"ratio"`` or ``"difference"`` when benchmarked.
    benchmark_group : numpy.ndarray or None
        Group of each area (benchmarked results only).
    unbenchmarked, unbenchmarked_mse : numpy.ndarray or None
        Estimates and MSEs before benchmarking.
    level : float
        Level of the normal intervals of :meth:`table`.
    data : pandas.DataFrame or None
        The input data (for column look-ups by :meth:`benchmark`).

    Examples
    --------
    >>> import numpy as np
    >>> from survey.estimation.sae import fay_herriot
    >>> rng = np.random.default_rng(1)
    >>> x = rng.uniform(0, 10, 30); psi = rng.uniform(0.5, 2, 30)
    >>> y = 1 + 0.5 * x + rng.normal(0, 1, 30) + rng.normal(0, np.sqrt(psi))
    >>> fit = fay_herriot(y, psi, x)
    >>> list(fit.table().columns)  # doctest: +NORMALIZE_WHITESPACE
    ['area', 'direct', 'direct_se', 'estimate', 'se', 'cv', 'ci_low', 'ci_high',
     'gamma', 'method']
    >>> bool(np.all(fit.se < np.sqrt(psi)))
    True
    """

    key: tuple[str, ...]
    areas: pd.DataFrame
    direct: np.ndarray
    variance: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    method: str
    mse_method: str
    sigma2_v: float
    sigma2_v_raw: float
    sigma2_v_se: float
    beta: np.ndarray
    beta_se: np.ndarray
    beta_cov: np.ndarray
    converged: bool
    iterations: int
    fallback: bool
    tol: float
    max_iter: int
    loglik: float
    aic: float
    bic: float
    eblup: np.ndarray
    synthetic: np.ndarray
    gamma: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray
    bias_term: np.ndarray
    mse_prasad_rao: np.ndarray
    mse_bootstrap: np.ndarray | None
    B: int | None
    seed: int | None
    bootstrap_failed: int | None
    estimate: np.ndarray
    mse: np.ndarray
    area_method: np.ndarray
    direct_cv_max: float | None = None
    benchmark_method: str | None = None
    benchmark_group: np.ndarray | None = None
    unbenchmarked: np.ndarray | None = None
    unbenchmarked_mse: np.ndarray | None = None
    level: float = 0.95
    data: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    # -- derived ----------------------------------------------------------------
    @property
    def m(self) -> int:
        """Number of areas in the model."""
        return int(self.direct.size)

    @property
    def mse_eblup(self) -> np.ndarray:
        """MSE of the EBLUP by the chosen method (before any choice or benchmarking)."""
        return self.mse_bootstrap if self.mse_method == "bootstrap" else self.mse_prasad_rao

    @property
    def se(self) -> np.ndarray:
        """Root MSE of :attr:`estimate`."""
        return np.sqrt(np.maximum(self.mse, 0.0))

    @property
    def cv(self) -> np.ndarray:
        """``se / |estimate|`` (NaN where the estimate is 0)."""
        est = np.abs(self.estimate)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.se / est, np.nan)

    @property
    def direct_se(self) -> np.ndarray:
        """``sqrt(psi_i)``."""
        return np.sqrt(self.variance)

    @property
    def direct_cv(self) -> np.ndarray:
        """CV of the direct estimates (NaN where the direct estimate is 0)."""
        est = np.abs(self.direct)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(est > 0, self.direct_se / est, np.nan)

    def coefficients(self) -> pd.DataFrame:
        """Regression coefficients: ``coef, beta, se, z, p_value`` (normal, as R ``sae``).

        Examples
        --------
        >>> import numpy as np
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.coefficients()["coef"].tolist()
        ['(Intercept)', 'x1']
        """
        z = self.beta / self.beta_se
        return pd.DataFrame(
            {
                "coef": list(self.coef_names),
                "beta": self.beta,
                "se": self.beta_se,
                "z": z,
                "p_value": 2 * special.ndtr(-np.abs(z)),
            }
        )

    # -- views ------------------------------------------------------------------
    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """One row per area.

        Columns: the area key columns, ``direct, direct_se, estimate, se, cv,
        ci_low, ci_high, gamma, method`` (``se = sqrt(MSE)``; the interval is
        ``estimate -/+ z se`` with the normal quantile of ``level``). Benchmarked
        results add ``group, unbenchmarked, unbenchmarked_se``.

        Parameters
        ----------
        level : float, optional
            Interval level (default: the result's ``level``, 0.95).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.table()["method"].unique().tolist()
        ['EBLUP']
        """
        level = self.level if level is None else level
        if not 0 < level < 1:
            raise SurveyError(f"level must be between 0 and 1, got {level!r}")
        z = special.ndtri(0.5 + level / 2)
        out = self.areas.copy()
        se = self.se
        out["direct"] = self.direct
        out["direct_se"] = self.direct_se
        out["estimate"] = self.estimate
        out["se"] = se
        out["cv"] = self.cv
        out["ci_low"] = self.estimate - z * se
        out["ci_high"] = self.estimate + z * se
        out["gamma"] = self.gamma
        out["method"] = self.area_method
        if self.benchmark_method is not None:
            out["group"] = self.benchmark_group
            out["unbenchmarked"] = self.unbenchmarked
            out["unbenchmarked_se"] = np.sqrt(np.maximum(self.unbenchmarked_mse, 0.0))
        return out

    def summary(self) -> str:
        """A text summary: model, variance, coefficients, convergence, precision.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> print(fit.summary().splitlines()[0])
        Fay-Herriot area-level model: 6 areas, REML, MSE by prasad-rao
        """
        lines = [
            f"Fay-Herriot area-level model: {self.m} areas, {self.method}, MSE by {self.mse_method}",
            f"sigma2_v = {self.sigma2_v:.6g} (se {self.sigma2_v_se:.4g})"
            + (f"; the estimate {self.sigma2_v_raw:.4g} was negative and is set to 0: "
               "every EBLUP is the synthetic estimate" if self.sigma2_v_raw < 0 or (
                   self.sigma2_v == 0) else ""),
            (f"Fisher scoring did not converge in {self.iterations} iterations; the root was found "
             f"by regula falsi in a bracket (tol {self.tol:g})" if self.fallback else
             f"converged after {self.iterations} Fisher-scoring iteration(s) (tol {self.tol:g})"),
            f"log-likelihood {self.loglik:.6g}, AIC {self.aic:.6g}, BIC {self.bic:.6g}",
            "",
            self.coefficients().to_string(index=False, float_format=lambda x: f"{x:.6g}"),
            "",
        ]
        if self.mse_method == "bootstrap":
            lines.append(
                f"parametric bootstrap: B = {self.B}, seed = {self.seed}, "
                f"{self.bootstrap_failed} replicate(s) dropped for non-convergence"
            )
        gain = np.median(self.mse_eblup / self.variance)
        lines.append(
            f"gamma: median {np.median(self.gamma):.3g} (range {self.gamma.min():.3g}-{self.gamma.max():.3g}); "
            f"median MSE(EBLUP)/var(direct) = {gain:.3g}"
        )
        n_direct = int((self.area_method == "direct").sum())
        if self.direct_cv_max is not None:
            lines.append(f"direct estimate kept in {n_direct} area(s) with CV <= {self.direct_cv_max:g}")
        if self.benchmark_method is not None:
            lines.append(
                f"{self.benchmark_method} benchmarked to {len(pd.unique(self.benchmark_group))} group totals; "
                "MSE = unbenchmarked MSE + squared adjustment"
            )
        cv = self.cv
        lines.append(
            f"CV of the estimates: median {np.nanmedian(cv):.3g}, max {np.nanmax(cv):.3g} "
            f"(direct: median {np.nanmedian(self.direct_cv):.3g}, max {np.nanmax(self.direct_cv):.3g})"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<FayHerriot {self.method} with {self.m} areas, sigma2_v={self.sigma2_v:.4g}, "
            f"MSE by {self.mse_method}"
            + (f", {self.benchmark_method} benchmarked" if self.benchmark_method else "")
            + ">"
        )

    # -- choices ------------------------------------------------------------------
    def keep_direct(self, cv_max: float | None) -> FayHerriot:
        """Keep the direct estimate where its CV is at most ``cv_max``, EBLUP elsewhere.

        The MSE of a kept direct estimate is its sampling variance ``psi_i``.
        ``None`` uses the EBLUP everywhere. Cannot be applied after benchmarking
        (choose first, then benchmark).

        Parameters
        ----------
        cv_max : float or None
            Largest acceptable CV of a direct estimate (e.g. ``0.10``).

        Returns
        -------
        FayHerriot
            A new result; ``table()["method"]`` says ``"direct"`` or ``"EBLUP"``.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([10.0, 20, 40, 30, 50, 60], [1.0, 50, 50, 50, 50, 50],
        ...                   [1.0, 2, 3, 4, 5, 6])
        >>> fit.direct_cv.round(3).tolist()
        [0.1, 0.354, 0.177, 0.236, 0.141, 0.118]
        >>> fit.keep_direct(0.15).table()["method"].tolist()
        ['direct', 'EBLUP', 'EBLUP', 'EBLUP', 'direct', 'direct']
        """
        if self.benchmark_method is not None:
            raise SurveyError("keep_direct() after benchmark(): choose direct/EBLUP first, then benchmark")
        if cv_max is None:
            keep = np.zeros(self.m, dtype=bool)
        else:
            cv_max = float(cv_max)
            if not cv_max > 0:
                raise SurveyError(f"cv_max must be positive, got {cv_max!r}")
            keep = np.nan_to_num(self.direct_cv, nan=np.inf) <= cv_max
        mse_e = self.mse_eblup
        return dataclasses.replace(
            self,
            estimate=np.where(keep, self.direct, self.eblup),
            mse=np.where(keep, self.variance, mse_e),
            area_method=np.where(keep, "direct", "EBLUP").astype(object),
            direct_cv_max=cv_max,
        )

    def benchmark(
        self,
        groups: Any,
        totals: Mapping[Any, float] | pd.Series,
        *,
        method: str = "ratio",
        weights: str = "mse",
    ) -> FayHerriot:
        """Benchmark the area estimates so that they add up to group totals.

        Ratio: ``t_i = e_i * T_g / sum_{j in g} e_j``. Difference:
        ``t_i = e_i + (T_g - sum_{j in g} e_j) * a_i / sum_{j in g} a_j`` with
        ``a_i = MSE_i`` (``weights="mse"``: imprecise areas absorb more) or
        ``a_i = 1`` (``"equal"``). The benchmarked estimates add up to ``T_g`` in
        every group (to rounding).

        MSE: approximated as ``MSE(e_i) + (t_i - e_i)^2``, the unbenchmarked MSE
        plus the squared adjustment. This is the plug-in form of the exact
        decomposition ``MSE(t_i) = MSE(e_i) + E(t_i - e_i)^2`` that holds for
        difference benchmarking of the EBLUP when the adjustment is uncorrelated
        with the EBLUP's error (Steorts & Ghosh 2013, who give a second-order
        correct estimator of the second term; see also Rao & Molina 2015 on
        benchmarking). It ignores the cross term, which can be of either sign,
        and is a rough (usually conservative) guide for ratio benchmarking.

        Parameters
        ----------
        groups : str or array-like
            A column of the input data (with ``data=``) or one group label per area.
        totals : mapping or pandas.Series
            Benchmark total per group (e.g. the design-based city total).
            Every group must have one, and every total must have areas.
        method : {"ratio", "difference"}, default="ratio"
        weights : {"mse", "equal"}, default="mse"
            Allocation of the difference adjustment (difference benchmarking only).

        Returns
        -------
        FayHerriot
            A new result: :attr:`estimate` benchmarked, :attr:`mse` as above,
            the previous values in :attr:`unbenchmarked` / :attr:`unbenchmarked_mse`.

        Raises
        ------
        SurveyError
            A group without a total, a total without areas, a group whose
            estimates sum to 0 (ratio), a second benchmarking.

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([10.0, 20, 40, 30, 50, 60], [5.0] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> b = fit.benchmark(["a", "a", "a", "b", "b", "b"], {"a": 75.0, "b": 135.0})
        >>> b.table().groupby("group")["estimate"].sum().round(10).tolist()
        [75.0, 135.0]
        """
        if self.benchmark_method is not None:
            raise SurveyError("these estimates are already benchmarked; benchmark the unbenchmarked result")
        if method not in ("ratio", "difference"):
            raise SurveyError(f"benchmark method must be 'ratio' or 'difference', got {method!r}")
        if weights not in ("mse", "equal"):
            raise SurveyError(f"benchmark weights must be 'mse' or 'equal', got {weights!r}")
        if isinstance(groups, str):
            if self.data is None or groups not in self.data.columns:
                raise ColumnError(
                    f"group column {groups!r} is not in the input data; give one group label per area instead"
                )
            g = self.data[groups].to_numpy()
        else:
            g = np.asarray(groups, dtype=object)
            if g.shape != (self.m,):
                raise ColumnError(f"groups must give one label per area ({self.m}), got shape {g.shape}")
        gs = pd.Series(g)
        if gs.isna().any():
            i = int(np.flatnonzero(gs.isna().to_numpy())[0])
            raise ColumnError(f"benchmark group is missing for {describe_area(self.areas, i)}")
        tot = pd.Series(totals, dtype=float) if not isinstance(totals, pd.Series) else totals.astype(float)
        codes, uniques = pd.factorize(gs)
        G = len(uniques)
        T = tot.reindex(uniques)
        if T.isna().any():
            missing = list(uniques[T.isna().to_numpy()][:5])
            raise SurveyError(f"no (or a missing) benchmark total for group(s) {missing}")
        extra = [k for k in tot.index if k not in set(uniques)]
        if extra:
            raise SurveyError(
                f"benchmark totals for group(s) {extra[:5]} that have no area in the model; "
                "their areas would not add up to them"
            )
        T = T.to_numpy(dtype=float)
        e = self.estimate
        S = np.bincount(codes, weights=e, minlength=G)
        if method == "ratio":
            if np.any(S == 0):
                j = int(np.flatnonzero(S == 0)[0])
                raise SurveyError(f"group {uniques[j]!r}: the estimates add up to 0; ratio benchmarking is undefined")
            bench = e * (T / S)[codes]
        else:
            a = self.mse if weights == "mse" else np.ones(self.m)
            sa = np.bincount(codes, weights=a, minlength=G)
            if np.any(sa <= 0):
                a = np.ones(self.m)
                sa = np.bincount(codes, minlength=G).astype(float)
            bench = e + ((T - S) / sa)[codes] * a
        adj = bench - e
        return dataclasses.replace(
            self,
            estimate=bench,
            mse=self.mse + adj**2,
            benchmark_method=method,
            benchmark_group=g,
            unbenchmarked=e,
            unbenchmarked_mse=self.mse,
        )

    def predict(self, auxiliaries: Any, *, data: pd.DataFrame | None = None, area: Any = None) -> pd.DataFrame:
        """Synthetic estimates ``x' beta_hat`` for areas outside the model (no sample).

        MSE: ``sigma2_v + x' (X'V^-1X)^-1 x`` (the area effect is unpredictable
        without a direct estimate; Rao & Molina 2015, area-level model).

        Parameters
        ----------
        auxiliaries : list of str or array-like
            Same auxiliaries, in the same order, as in the fit (without the intercept).
        data : pandas.DataFrame, optional
            Holds the auxiliary and area columns when given by name.
        area : str or list of str or array-like, optional
            Area key (columns of ``data``, or labels).

        Returns
        -------
        pandas.DataFrame
            The key columns, ``estimate, se, cv, ci_low, ci_high, method``
            (``"synthetic"``).

        Examples
        --------
        >>> from survey.estimation.sae import fay_herriot
        >>> fit = fay_herriot([1.0, 2, 4, 3, 5, 6], [0.5] * 6, [1.0, 2, 3, 4, 5, 6])
        >>> fit.predict([[7.0]])["method"].tolist()
        ['synthetic']
        """
        if isinstance(auxiliaries, (list, tuple)) and auxiliaries and all(
            isinstance(a, str) for a in auxiliaries
        ) and data is None:
            raise ColumnError("auxiliaries given by name need data=")
        probe = data if data is not None else None
        n_rows = len(data) if data is not None else len(np.atleast_2d(np.asarray(auxiliaries, dtype=float)))
        Xn, _ = auxiliary_matrix(probe, auxiliaries, n_rows)
        keys, _ = area_keys(data, area, n_rows)
        has_intercept = self.coef_names[:1] == ("(Intercept)",)
        if has_intercept:
            Xn = np.column_stack([np.ones(n_rows), Xn])
        if Xn.shape[1] != self.X.shape[1]:
            raise ColumnError(
                f"predict needs {self.X.shape[1] - has_intercept} auxiliaries ({list(self.coef_names)}), "
                f"got {Xn.shape[1] - has_intercept}"
            )
        check_finite(Xn.sum(axis=1), keys, "an auxiliary")
        est = Xn @ self.beta
        mse = self.sigma2_v + np.einsum("mi,ij,mj->m", Xn, self.beta_cov, Xn)
        se = np.sqrt(mse)
        z = special.ndtri(0.5 + self.level / 2)
        out = keys.copy()
        out["estimate"] = est
        out["se"] = se
        with np.errstate(divide="ignore", invalid="ignore"):
            out["cv"] = np.where(est != 0, se / np.abs(est), np.nan)
        out["ci_low"] = est - z * se
        out["ci_high"] = est + z * se
        out["method"] = "synthetic"
        return out
