"""The quarterly three-part estimate, periods, growth on a comparable basis.

A quarter's sector total is the sum of three parts (see ``docs/quarterly.md``):

* **take-all** (full-report firms above the designated size): the sum of
  returned and imputed values; no sampling variance; the imputed share is
  reported;
* **sampled** (firms below the size, stratified sample): the weighted (or
  calibrated) total from a :class:`survey.Survey`, with its design variance;
* **model** (take-none / cut-off firms, when the plan has them): a ratio-model
  prediction from register auxiliaries fitted on labelled model inputs (key
  units, or typical units), flagged as model-based, with its model
  (prediction) variance.

Growth "on a comparable basis" (可比口径) compares the current set of firms
with the same firms' values a year earlier; both come in the same return
(``{var}_last_year``), so the growth is a ratio of two totals over the same
units and its standard error is the linearised ratio variance on those matched
units. The plain level-on-level comparison (this year's published total
against last year's) is given separately and labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ColumnError, ImputationError, PeriodError
from survey.estimation.results import (
    GROWTH_COLUMNS,
    INTERVAL_COLUMNS,
    IntervalResult,
    recompute_intervals,
    t_quantile,
)
from survey.io import group_codes
from survey.periods import parse_quarter

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ['ModelPart', 'cutoff_model', 'CombinedEstimate', 'combined_total', 'combined_totals',
           'require_columns']


# --------------------------------------------------------------------------- model part
@dataclass(frozen=True, kw_only=True, eq=False)
class ModelPart:
    """Model-based estimate of the take-none (cut-off) part, by domain.

    Built by :func:`cutoff_model`. Ratio model per model group ``g``:
    ``y_i = beta_g x_i + e_i`` with ``Var(e_i) = sigma_g^2 x_i``.

    Attributes
    ----------
    inputs : str
        Label of the model inputs (e.g. ``"key units"``, ``"typical units"``),
        carried into every table that uses this part.
    by : tuple of str
        Domain columns.
    domains : pandas.DataFrame
        Domain keys (one row per domain).
    variables : tuple of str
    point, point_last_year : numpy.ndarray, shape (D, k)
        Predicted totals this year and a year earlier (NaN when the model
        inputs have no last-year values).
    cov, cov_last_year : numpy.ndarray, shape (k, D, D)
        Prediction-error covariance across domains, per variable.
    n_target : numpy.ndarray, shape (D,)
        Number of take-none units per domain.
    coefficients : pandas.DataFrame
        Per model group and variable: ``ratio``, ``sigma2``, ``n``, ``ratio_last_year``.
    """

    inputs: str
    by: tuple[str, ...]
    domains: pd.DataFrame
    variables: tuple[str, ...]
    point: np.ndarray
    point_last_year: np.ndarray
    cov: np.ndarray
    cov_last_year: np.ndarray
    n_target: np.ndarray
    coefficients: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """``by`` columns, ``variable, estimate, se, last_year, last_year_se, n, inputs``."""
        D, k = self.point.shape
        out = self.domains.loc[np.repeat(np.arange(D), k)].reset_index(drop=True)
        out["variable"] = np.tile(np.asarray(self.variables, dtype=object), D)
        var = np.diagonal(self.cov, axis1=1, axis2=2).T.ravel()
        var_ly = np.diagonal(self.cov_last_year, axis1=1, axis2=2).T.ravel()
        out["estimate"] = self.point.ravel()
        out["se"] = np.sqrt(var)
        out["last_year"] = self.point_last_year.ravel()
        out["last_year_se"] = np.sqrt(var_ly)
        out["n"] = np.repeat(self.n_target, k)
        out["inputs"] = self.inputs
        return out


def _codes(frame: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    if not cols:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=range(1))
    return group_codes(frame, cols)


def require_columns(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    """Raise a ColumnError naming the columns of ``cols`` that ``frame`` lacks.

    Parameters
    ----------
    frame : pandas.DataFrame
    cols : sequence of str
    what : str
        What the frame is, for the message (``"take_all"``, ``"annual"``, ...).

    Examples
    --------
    >>> require_columns(pd.DataFrame({"y": [1.0]}), ["y"], "take_all")  # present: no error
    >>> require_columns(pd.DataFrame({"y": [1.0]}), ["y", "x"], "take_all")
    Traceback (most recent call last):
    ...
    survey.errors.ColumnError: take_all has no column(s) ['x']; its columns are ['y']
    """
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ColumnError(f"{what} has no column(s) {missing}; its columns are {list(frame.columns)[:12]}")


def _ratio_fit(y: np.ndarray, x: np.ndarray, g: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group ratio beta, residual variance sigma2 (per unit of x) and n."""
    ok = np.isfinite(y) & np.isfinite(x) & (x > 0)
    n = np.bincount(g[ok], minlength=G).astype(float)
    sy = np.bincount(g[ok], weights=y[ok], minlength=G)
    sx = np.bincount(g[ok], weights=x[ok], minlength=G)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(sx > 0, sy / sx, np.nan)
        resid = np.where(ok, y - beta[g] * x, 0.0)
        ss = np.bincount(g[ok], weights=(resid**2 / np.where(ok, x, 1.0))[ok], minlength=G)
        sigma2 = np.where(n > 1, ss / (n - 1), np.nan)
    return beta, sigma2, sx


def cutoff_model(
    model_units: pd.DataFrame,
    take_none: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    auxiliary: str,
    by: str | Sequence[str] | None = None,
    model_by: str | Sequence[str] | None = None,
    inputs: str = "key units",
    last_year_suffix: str = "_last_year",
    model: str = "ratio",
) -> ModelPart | dict[str, ModelPart]:
    """Model-based estimate of the take-none (cut-off) part of the sector.

    A ratio model ``y = beta x`` (variance proportional to ``x``) is fitted on
    the labelled model inputs within each ``model_by`` group and predicts the
    take-none firms from their register auxiliary ``x`` (e.g.
    ``revenue_prev_year``, or last benchmark value: then ``beta`` is the
    movement of the key units). Typical (purposive) units may be model inputs
    only here, labelled with ``inputs="typical units"``.

    Prediction-error variance of a domain total ``T_d = sum_g beta_g X_dg``:
    ``sum_g sigma_g^2 (X_dg^2 / X_sg + X_dg)`` (Royall 1970; Valliant, Dorfman
    and Royall 2000, ch. 2), ``X_sg`` the auxiliary total of the model inputs
    of group ``g``.

    Parameters
    ----------
    model_units : pandas.DataFrame
        The model inputs: ``variables``, ``auxiliary``, ``model_by`` columns
        (and ``{v}{last_year_suffix}`` for growth).
    take_none : pandas.DataFrame
        The take-none firms (from the register): ``auxiliary``, ``by`` and
        ``model_by`` columns.
    variables : str or list of str
    auxiliary : str
        Register auxiliary column, positive.
    by : str, list of str or mapping of str to them, optional
        Domain columns of the result; a mapping (name -> columns) gives a dict of parts by
        name from one pass over the model groups (the same numbers as a call per breakdown).
    model_by : str or list of str, optional
        Separate ratios per group (e.g. industry). Default: one ratio.
    inputs : str, default="key units"
        Label of the model inputs, shown wherever the part is used.
    last_year_suffix : str, default="_last_year"
    model : {"ratio", "regression"}, default="ratio"
        ``"regression"``: ``y = a_g + b_g x + e`` with ``Var(e) = sigma_g^2``
        (ordinary least squares per group); the prediction-error covariance
        of two domain totals of group ``g`` is ``sigma_g^2 [z_d' (Z'Z)^-1
        z_d' + N_d 1(d = d')]`` with ``z_d = (N_dg, X_dg)``.

    Returns
    -------
    ModelPart

    Raises
    ------
    ImputationError
        A take-none group has no model input (or only one, so no variance).
    ColumnError
        Missing columns or a non-positive auxiliary among take-none firms.

    Examples
    --------
    >>> keys = pd.DataFrame({"y": [12.0, 19.0, 33.0], "x": [10.0, 20.0, 30.0]})
    >>> small = pd.DataFrame({"x": [1.0, 2.0, 3.0], "county": ["a", "a", "b"]})
    >>> m = cutoff_model(keys, small, "y", auxiliary="x", by="county")
    >>> m.table()[["county", "estimate"]].round(3)
      county  estimate
    0      a     3.200
    1      b     3.200
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    bys = {name: [b] if isinstance(b, str) else list(b or [])
           for name, b in (by.items() if isinstance(by, Mapping) else [("", by)])}
    gl = [model_by] if isinstance(model_by, str) else list(model_by or [])
    require_columns(model_units, [*names, auxiliary, *gl], "model_units")
    require_columns(take_none, [auxiliary, *dict.fromkeys(c for b in bys.values() for c in b), *gl], "take_none")
    x_t = take_none[auxiliary].to_numpy(dtype=float)
    bad = ~(np.isfinite(x_t) & (x_t >= 0))
    if bad.any():
        rows = take_none.index[bad][:5].tolist()
        raise ColumnError(f"auxiliary {auxiliary!r} must be non-negative and known for take-none firms; rows {rows}")
    # model groups shared by both frames
    both = pd.concat([model_units[gl], take_none[gl]], ignore_index=True) if gl else None
    if gl:
        gcode, gkeys = _codes(both, gl)
        g_m, g_t = gcode[: len(model_units)], gcode[len(model_units):]
    else:
        gkeys = pd.DataFrame(index=range(1))
        g_m = np.zeros(len(model_units), dtype=np.intp)
        g_t = np.zeros(len(take_none), dtype=np.intp)
    G = len(gkeys)
    x_m = model_units[auxiliary].to_numpy(dtype=float)
    if model not in ("ratio", "regression"):
        raise ColumnError(f"model must be 'ratio' or 'regression', got {model!r}")
    lys = {v: f"{v}{last_year_suffix}" for v in names}
    ys = {c: model_units[c].to_numpy(dtype=float) for c in [*names, *lys.values()] if c in model_units.columns}
    fits, shared = {}, {}  # not by domain: each ratio fitted once, one table of coefficients

    def part(byl: list[str]) -> ModelPart:  # the domains of one breakdown
        d_t, dkeys = _codes(take_none, byl)
        D = len(dkeys)
        cell = d_t * G + g_t  # sums in row order, as np.add.at adds them
        X_dg = np.bincount(cell, weights=x_t, minlength=D * G).reshape(D, G)
        Xunit_dg = X_dg  # sum of x over take-none units (unit-error term uses sum x)
        needed = X_dg.sum(axis=0) > 0
        k = len(names)
        point, point_ly = np.zeros((D, k)), np.full((D, k), np.nan)
        cov, cov_ly = np.zeros((k, D, D)), np.full((k, D, D), np.nan)
        rows = []
        N_dg = np.bincount(cell, minlength=D * G).reshape(D, G).astype(float)

        def predict(y: np.ndarray, label: str):
            if model == "regression":
                return _regression_predict(y, x_m, g_m, G, N_dg, X_dg, needed, gkeys, gl, label)
            beta, sigma2, sx = fits[label] if label in fits else fits.setdefault(label, _ratio_fit(y, x_m, g_m, G))
            if (where := _first_lacking(needed & ~(np.isfinite(beta) & np.isfinite(sigma2)),
                                        gkeys, gl)) is not None:
                raise ImputationError(
                    f"the cut-off model for {label!r} has fewer than two usable model inputs in group {where} "
                    f"that has take-none firms; add model inputs there or use a coarser model_by"
                )
            beta_f = np.nan_to_num(beta)
            s2 = np.nan_to_num(sigma2)
            est = X_dg @ beta_f
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(sx > 0, s2 / sx, 0.0)
            c = (X_dg * a) @ X_dg.T + np.diag(Xunit_dg @ s2)
            return est, c, beta, sigma2

        for j, v in enumerate(names):
            est, c, beta, sigma2 = predict(ys[v], v)
            point[:, j], cov[j] = est, c
            ly = lys[v]
            beta_ly = np.full(G, np.nan)
            if ly in ys:
                est_ly, c_ly, beta_ly, _ = predict(ys[ly], ly)
                point_ly[:, j], cov_ly[j] = est_ly, c_ly
            n_g = np.bincount(g_m[np.isfinite(ys[v])], minlength=G)
            rows.append((v, beta, sigma2, n_g, beta_ly))
        if "coefficients" not in shared:  # the same for every breakdown
            shared["coefficients"] = pd.concat([pd.concat([gkeys] * len(rows), ignore_index=True), pd.DataFrame({
                "variable": np.repeat(np.array([r[0] for r in rows], dtype=object), G),
                **{name: np.concatenate([r[j] for r in rows]) for j, name in enumerate(
                    ("ratio", "sigma2", "n", "ratio_last_year"), start=1)}})], axis=1)
        return ModelPart(
            inputs=str(inputs),
            by=tuple(byl),
            domains=dkeys,
            variables=tuple(names),
            point=point,
            point_last_year=point_ly,
            cov=cov,
            cov_last_year=cov_ly,
            n_target=np.bincount(d_t, minlength=D),
            coefficients=shared["coefficients"],
        )

    parts = {name: part(byl) for name, byl in bys.items()}
    return parts if isinstance(by, Mapping) else parts[""]


def _first_lacking(lacking: np.ndarray, gkeys: pd.DataFrame, grouped: bool):
    """The keys of the first model group flagged in ``lacking`` (``None`` if none is)."""
    if not lacking.any():
        return None
    return gkeys.iloc[int(np.flatnonzero(lacking)[0])].to_dict() if grouped else "the whole sector"


def _regression_predict(y, x, g, G, N_dg, X_dg, needed, gkeys, gl, label):
    """OLS ``y = a + b x`` per group: predicted domain totals and their error covariance."""
    ok = np.isfinite(y) & np.isfinite(x)
    n = np.bincount(g[ok], minlength=G).astype(float)
    sx = np.bincount(g[ok], weights=x[ok], minlength=G)
    sxx = np.bincount(g[ok], weights=x[ok] ** 2, minlength=G)
    sy = np.bincount(g[ok], weights=y[ok], minlength=G)
    sxy = np.bincount(g[ok], weights=(x * y)[ok], minlength=G)
    det = n * sxx - sx**2
    usable = (n > 2) & (det > 1e-12 * np.maximum(n * sxx, 1.0))
    if (where := _first_lacking(needed & ~usable, gkeys, gl)) is not None:
        raise ImputationError(
            f"the regression cut-off model for {label!r} needs at least three model inputs with "
            f"different sizes in group {where} that has take-none firms; add model inputs there, "
            "use model='ratio' or a coarser grouping")
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(usable, (n * sxy - sx * sy) / det, 0.0)
        a = np.where(usable, (sy - b * sx) / np.maximum(n, 1.0), 0.0)
        resid = np.where(ok, y - a[g] - b[g] * x, 0.0)
        sigma2 = np.where(usable, np.bincount(g[ok], weights=resid[ok] ** 2, minlength=G)
                          / (n - 2), 0.0)
        inv_det = np.where(usable, 1.0 / det, 0.0)
    est = N_dg @ a + X_dg @ b
    # z_d' (Z'Z)^-1 z_e = (N_d N_e Sxx - (N_d X_e + X_d N_e) Sx + X_d X_e n) / det, per group
    w = sigma2 * inv_det
    c = ((N_dg * (w * sxx)) @ N_dg.T - (N_dg * (w * sx)) @ X_dg.T - (X_dg * (w * sx)) @ N_dg.T
         + (X_dg * (w * n)) @ X_dg.T + np.diag(N_dg @ sigma2))
    return est, c, np.where(usable, b, np.nan), np.where(usable, sigma2, np.nan)


# --------------------------------------------------------------------------- combined estimate
@dataclass(frozen=True, kw_only=True, eq=False)
class CombinedEstimate(IntervalResult):
    """Sector totals of one period from the take-all, sampled and model parts.

    Built by :func:`combined_total`.

    Attributes
    ----------
    period : str or None
    by : tuple of str
    variables : tuple of str
    model_inputs : str or None
        Label of the model part's inputs; ``None`` when there is no model part.
    level : float
        Default confidence level of the intervals (``table(level=...)`` gives others).
    frame : pandas.DataFrame
        The table at ``level``.
    """

    period: str | None
    by: tuple[str, ...]
    variables: tuple[str, ...]
    model_inputs: str | None
    level: float
    frame: pd.DataFrame
    _contributions: Any = field(repr=False, default=None)
    _cache: dict = field(repr=False, default_factory=dict)

    def contributions(self) -> pd.DataFrame:
        """Contribution of each domain to the comparable-basis growth of the whole.

        ``contribution_d = (Y_d - X_d) / X`` with ``Y_d``, ``X_d`` the domain's
        total this year and the same firms' total a year earlier and ``X`` the
        sum of ``X_d`` over all domains, so the contributions add up to the
        growth of the whole (domains must partition the sector). The standard
        error is linearised with the covariances between domains (sampled
        part: design covariance; model part: model covariance).

        Returns
        -------
        pandas.DataFrame
            ``by`` columns, ``variable``, ``contribution``, ``contribution_se``
            (fractions; multiply by 100 for percentage points). Empty when the
            estimate has no breakdown or no last-year values.
        """
        if "c" not in self._cache:
            self._cache["c"] = self._contributions() if self._contributions is not None else pd.DataFrame(
                columns=[*self.by, "variable", "contribution", "contribution_se"]
            )
        return self._cache["c"].copy()

    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """One row per domain and variable.

        Columns: ``period`` (when set), the ``by`` columns, ``variable``,
        ``estimate, se, cv, ci_low, ci_high`` (the total), ``growth,
        growth_se, growth_ci_low, growth_ci_high`` (year-on-year growth on a
        comparable basis, as a fraction), then ``last_year`` (the same firms
        a year earlier), the parts ``take_all, sampled, model`` and their
        shares, ``imputed_share``, ``model_based``, ``df``, ``n``
        (:data:`~survey.estimation.results.PART_COLUMNS`).

        Parameters
        ----------
        level : float, optional
            Confidence level of the intervals (default: ``self.level``).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> est = combined_total("y", take_all=pd.DataFrame({"y": [5.0]}), level=0.9)
        >>> est.table()[["estimate", "ci_low"]], est.table(level=0.5)["ci_low"].tolist()
        (   estimate  ci_low
        0       5.0     5.0, [5.0])
        """
        lv = self._level(level)
        if lv == self.level:
            return self.frame.copy()
        return recompute_intervals(self.frame, lv)

    @property
    def df(self) -> float:
        """Degrees of freedom of the intervals (the sample's design df; NaN without a sample)."""
        return float(self.frame["df"].iloc[0]) if len(self.frame) else float("nan")

    def _key_columns(self) -> list[str]:
        return (["period"] if self.period is not None else []) + list(self.by)

    def ci_bounds(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits of the totals' intervals in table row order.

        Examples
        --------
        >>> combined_total("y", take_all=pd.DataFrame({"y": [5.0]})).ci_bounds()
        (array([5.]), array([5.]))
        """
        t = self.table(level=level)
        return t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float)

    def _summary_title(self, level: float) -> tuple[str, str | None]:
        where = f", {self.period}" if self.period else ""
        model = f"; model part from {self.model_inputs}" if self.model_inputs else ""
        return f"Combined total{where} ({int(level * 100)}% t-interval{model})", None

    def _summary_table(self, level: float) -> pd.DataFrame:
        cols = [*self._key_columns(), "variable", *INTERVAL_COLUMNS, *GROWTH_COLUMNS[:2]]
        return self.table(level=level)[cols]

    @property
    def estimate(self) -> np.ndarray:
        """Totals in table row order."""
        return self.frame["estimate"].to_numpy(dtype=float).copy()

    @property
    def se(self) -> np.ndarray:
        """Standard errors in table row order."""
        return self.frame["se"].to_numpy(dtype=float).copy()

    @property
    def growth(self) -> np.ndarray:
        """Comparable-basis growth in table row order."""
        return self.frame["growth"].to_numpy(dtype=float).copy()

    @property
    def growth_se(self) -> np.ndarray:
        """Standard errors of the growth in table row order."""
        return self.frame["growth_se"].to_numpy(dtype=float).copy()

    def __repr__(self) -> str:
        parts = [f"period {self.period}" if self.period else "no period", f"{len(self.frame)} rows"]
        if self.by:
            parts.append("by " + ", ".join(self.by))
        if self.model_inputs:
            parts.append(f"model part from {self.model_inputs}")
        return f"<CombinedEstimate {'; '.join(parts)}>"


def _part_frame(values: np.ndarray, dom: np.ndarray, D: int) -> np.ndarray:
    return np.column_stack([np.bincount(dom, weights=values[:, j], minlength=D) for j in range(values.shape[1])]) \
        if values.shape[1] else np.zeros((D, 0))


def combined_total(
    variables: str | Sequence[str],
    *,
    take_all: pd.DataFrame | None = None,
    sample: "Survey | None" = None,
    model: ModelPart | None = None,
    by: str | Sequence[str] | None = None,
    imputed: str | Mapping[str, str] | None = None,
    last_year_suffix: str = "_last_year",
    period: str | None = None,
    level: float = 0.95,
) -> CombinedEstimate:
    """Sector totals of one period: take-all + sampled + model parts, with growth.

    ``total_d = take_all_d + sampled_d + model_d`` for every domain ``d``; the
    variance is the design variance of the sampled part (from ``sample``,
    weighting steps included) plus the model variance of the model part
    (take-all firms add none).

    Year-on-year growth on a comparable basis: ``growth_d = total_d /
    last_year_d - 1``, where ``last_year_d`` adds up the same firms' values a
    year earlier (``{v}{last_year_suffix}`` columns, 0 for firms born since).
    Its variance is the linearised ratio variance on the matched units:
    ``[V(S_y) - 2 R C(S_y, S_x) + R^2 V(S_x) + V(M_y) + R^2 V(M_x)] / X^2``
    with ``R = 1 + growth`` (design covariances from the sample; model errors
    of the two years taken as independent, which errs on the safe side).

    Parameters
    ----------
    variables : str or list of str
        Indicator columns (e.g. ``"gross_output"``, or ``"gross_output_ytd"``
        for year-to-date totals).
    take_all : pandas.DataFrame, optional
        Full-report firms, one row each, with returned or imputed values (no
        missing values), the ``by`` columns and the imputation flags.
    sample : Survey, optional
        The sampled part (weighted or calibrated). Rows with weight 0
        (nonrespondents kept for the design) may have missing values.
    model : ModelPart, optional
        The take-none part from :func:`cutoff_model`, with the same ``by``.
    by : str or list of str, optional
        Domain columns (region, county, industry, ownership, channel flags,
        zone, size class...).
    imputed : str or mapping of str to str, optional
        Boolean column of ``take_all`` marking imputed values (one for all
        variables, or one per variable).
    last_year_suffix : str, default="_last_year"
        Suffix of the same-period-last-year columns; growth is NaN when they
        are absent.
    period : str, optional
        Period label (``"2006Q1"``) recorded in the table.
    level : float, default=0.95

    Returns
    -------
    CombinedEstimate

    Raises
    ------
    ColumnError
        Missing columns, or missing values where they would make a total wrong.
    PeriodError
        ``period`` is not a quarter label.

    Examples
    --------
    >>> import survey as sv
    >>> big = pd.DataFrame({"y": [100.0, 80.0], "y_last_year": [90.0, 60.0], "imp": [False, True]})
    >>> small = pd.DataFrame({"h": 1, "N": 10, "y": [2.0, 4.0], "y_last_year": [2.0, 3.0]})
    >>> s = sv.Survey(small, sv.Design(strata="h", fpc="N"))
    >>> est = combined_total("y", take_all=big, sample=s, imputed="imp", period="2006Q1")
    >>> est.table()[["period", "estimate", "take_all", "sampled", "imputed_share", "growth"]].round(3)
       period  estimate  take_all  sampled  imputed_share  growth
    0  2006Q1     210.0     180.0     30.0          0.381     0.2
    """
    return combined_totals(variables, {"": by}, take_all=take_all, sample=sample,
                           models={"": model}, imputed=imputed, last_year_suffix=last_year_suffix,
                           period=period, level=level)[""]


def combined_totals(
    variables: str | Sequence[str],
    breakdowns: Mapping[str, str | Sequence[str] | None],
    *,
    take_all: pd.DataFrame | None = None,
    sample: Survey | None = None,
    models: Mapping[str, ModelPart | None] | None = None,
    imputed: str | Mapping[str, str] | None = None,
    last_year_suffix: str = "_last_year",
    period: str | None = None,
    level: float = 0.95,
) -> dict[str, CombinedEstimate]:
    """:func:`combined_total` of one period by several breakdowns in one pass.

    The parts' values are read and checked once; each breakdown adds them up by its domains
    (one sorted factorisation of its keys): the numbers of ``combined_total(..., by=by)``.

    Parameters
    ----------
    variables : str or list of str
    breakdowns : mapping of str to str, list of str or None
        Name -> domain columns (``None``: the whole sector).
    models : mapping of str to ModelPart or None, optional
        The model part of each breakdown (built by its ``by``).
    take_all, sample, imputed, last_year_suffix, period, level
        As for :func:`combined_total`; growth needs last year's values in every part.

    Returns
    -------
    dict of str to CombinedEstimate
        By breakdown name.

    Examples
    --------
    >>> big = pd.DataFrame({"y": [100.0, 80.0], "r": ["b", "a"]})
    >>> out = combined_totals("y", {"sector": None, "region": "r"}, take_all=big)
    >>> out["sector"].table()["estimate"].tolist(), out["region"].table()[["r", "estimate"]].values.tolist()
    ([180.0], [['a', 80.0], ['b', 100.0]])
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    bys = {name: [by] if isinstance(by, str) else list(by or []) for name, by in breakdowns.items()}
    models = {name: (models or {}).get(name) for name in bys}
    if period is not None:
        parse_quarter(period)
    if take_all is None and sample is None and any(m is None for m in models.values()):
        raise ColumnError("give at least one part: take_all, sample or model")
    if not 0 < level < 1:
        raise PeriodError(f"level must be between 0 and 1, got {level!r}")
    k = len(names)
    ly_names = [f"{v}{last_year_suffix}" for v in names]
    every = list(dict.fromkeys(c for byl in bys.values() for c in byl))
    has_ly = True
    if take_all is not None:
        require_columns(take_all, [*names, *every], "take_all")
        has_ly &= all(c in take_all.columns for c in ly_names)
    if sample is not None:
        require_columns(sample.data, [*names, *every], "the sample")
        inside = sample.weights * sample.in_domain > 0  # the rows with weight
        has_ly &= all(c in sample.data.columns for c in ly_names)
    for name, model in models.items():
        if model is not None:
            if tuple(bys[name]) != model.by or not set(names) <= set(model.variables):
                raise ColumnError(
                    f"the model part is by {list(model.by)} for {list(model.variables)}; combined_total asks by "
                    f"{bys[name]} for {names}: build the model part with the same by and variables"
                )
            used = [model.variables.index(v) for v in names]
            has_ly &= bool(np.all(np.isfinite(model.point_last_year[:, used])))
    cols = names + (ly_names if has_ly else [])
    # ---- the values of the take-all and sampled parts, read and checked once
    ta_vals = imp_vals = s_vals = None
    if take_all is not None:
        ta_vals = take_all[cols].to_numpy(dtype=float)
        bad = ~np.isfinite(ta_vals)
        if bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            rows = take_all.index[bad[:, j]][:5].tolist()
            raise ColumnError(
                f"take-all column {cols[j]!r} has {int(bad[:, j].sum())} missing value(s), rows {rows}: full-report "
                "firms must be imputed (survey.returns.impute), not left out; use 0 for firms born since last year"
            )
        if imputed is not None:
            flag_cols = {v: imputed for v in names} if isinstance(imputed, str) else dict(imputed)
            require_columns(take_all, list(set(flag_cols.values())), "take_all")
            flags = np.column_stack(
                [take_all[flag_cols[v]].fillna(False).to_numpy(dtype=bool) if v in flag_cols else np.zeros(len(take_all), bool)
                 for v in names]
            )
            imp_vals = ta_vals[:, :k] * flags
    if sample is not None:
        s_vals = sample.data[cols].to_numpy(dtype=float)
        bad = ~np.isfinite(s_vals) & inside[:, None]
        if bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            rows = sample.data.index[bad[:, j]][:5].tolist()
            raise ColumnError(
                f"sample column {cols[j]!r} has {int(bad[:, j].sum())} missing value(s) in rows with positive "
                f"weight, rows {rows}: impute them, or give nonrespondents weight 0 (nonresponse adjustment)"
            )
        s_vals = np.where(inside[:, None], np.nan_to_num(s_vals), 0.0)
    kk = len(cols)
    # the breakdown columns of the take-all rows and the sampled rows with weight, once
    frames = ([] if take_all is None else [take_all[every]]) + (
        [] if sample is None else [sample.data.loc[inside, every]])
    stacked = pd.concat(frames, ignore_index=True) if frames else None
    out = {}
    for name, byl in bys.items():
        model = models[name]
        # ---- domains: the sorted union of the parts' keys, and the domain of every row
        key_frames = ([] if stacked is None else [stacked]) + ([] if model is None else [model.domains])
        sizes = [len(f) for f in frames] + ([] if model is None else [len(model.domains)])
        if byl:  # column by column: no frame of the by columns taken from each part
            keys = pd.DataFrame({c: pd.concat([f[c] for f in key_frames], ignore_index=True) for c in byl})
            if any(keys[c].isna().any() for c in byl):
                raise ColumnError(f"domain column(s) {byl} have missing values; fill them before estimating by domain")
            codes, keys = group_codes(keys, byl)
        else:
            keys, codes = pd.DataFrame(index=range(1)), np.zeros(sum(sizes), dtype=np.intp)
        D = len(keys)
        parts = iter(np.split(codes, np.cumsum(sizes)[:-1]))
        # ---- take-all part
        ta = np.zeros((D, kk))
        imp = np.zeros((D, k))
        n_dom = np.zeros(D)
        if take_all is not None:
            d = next(parts)
            ta = _part_frame(ta_vals, d, D)
            n_dom += np.bincount(d, minlength=D)
            if imp_vals is not None:
                imp = _part_frame(imp_vals, d, D)
        # ---- sampled part
        sp_point, sp_cov = np.zeros((D, kk)), np.zeros((D, kk, kk))
        df, full_cov = np.nan, None
        if sample is not None:
            domain_of = np.full(len(inside), -1, dtype=np.intp)
            domain_of[inside] = next(parts)
            got, sp_point[got], sp_cov[got] = _sampled_part(sample, s_vals, np.maximum(domain_of, 0))
            df = float(sample.df)
            n_dom += np.bincount(domain_of[inside], minlength=D)
            if byl and has_ly:
                full_cov = (sample, domain_of, s_vals)
        # ---- model part
        m_point, m_var, m_cov_full = np.zeros((D, kk)), np.zeros((D, kk)), None
        if model is not None:
            dm = next(parts)
            jj = [model.variables.index(v) for v in names]
            m_point[dm, :k] = model.point[:, jj]
            m_var[dm, :k] = np.stack([np.diagonal(model.cov[j]) for j in jj], axis=1)
            if has_ly:
                m_point[dm, k:] = model.point_last_year[:, jj]
                m_var[dm, k:] = np.stack([np.diagonal(model.cov_last_year[j]) for j in jj], axis=1)
            m_cov_full = (dm, model.cov[jj], model.cov_last_year[jj])
            n_dom += np.bincount(dm, weights=model.n_target, minlength=D)
        # ---- combine
        total = ta + sp_point + m_point  # (D, kk)
        y_idx = np.arange(k)
        var = sp_cov[:, y_idx, y_idx] + m_var[:, :k]
        se = np.sqrt(np.maximum(var, 0.0))
        point = total[:, :k]
        q = float(t_quantile(level, df)) if np.isfinite(df) else float(t_quantile(level, np.nan))
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(point != 0, se / np.abs(point), np.nan)
            if has_ly:
                x = total[:, k:]
                R = np.where(x != 0, point / x, np.nan)
                lin = (
                    sp_cov[:, y_idx, y_idx]
                    - 2 * R * sp_cov[:, y_idx, k + y_idx]
                    + R**2 * sp_cov[:, k + y_idx, k + y_idx]
                    + m_var[:, :k]
                    + R**2 * m_var[:, k:]
                )
                growth = R - 1
                growth_se = np.sqrt(np.maximum(lin, 0.0)) / np.abs(x)
                last_year = x
            else:
                growth = growth_se = last_year = np.full((D, k), np.nan)
            shares = [np.where(point != 0, part / point, np.nan) for part in (ta[:, :k], sp_point[:, :k], m_point[:, :k], imp)]
        columns = {
            "variable": np.tile(np.asarray(names, dtype=object), D),
            "estimate": point.ravel(), "se": se.ravel(), "cv": cv.ravel(),
            "ci_low": (point - q * se).ravel(), "ci_high": (point + q * se).ravel(),
            "growth": growth.ravel(), "growth_se": growth_se.ravel(),
            "growth_ci_low": (growth - q * growth_se).ravel(),
            "growth_ci_high": (growth + q * growth_se).ravel(),
            "last_year": last_year.ravel(), "take_all": ta[:, :k].ravel(),
            "sampled": sp_point[:, :k].ravel(), "model": m_point[:, :k].ravel(),
            "take_all_share": shares[0].ravel(), "sampled_share": shares[1].ravel(),
            "model_share": shares[2].ravel(), "imputed_share": shares[3].ravel(),
            "model_based": (m_point[:, :k] != 0).ravel(), "df": np.full(D * k, df),
            "n": np.repeat(n_dom, k).astype(np.int64),
        }
        rep = np.repeat(np.arange(D), k)  # one frame, not 21 inserts
        frame = pd.DataFrame({**({} if period is None else {"period": period}),
                              **{c: keys[c].array.take(rep) for c in keys.columns}, **columns})
        out[name] = CombinedEstimate(
            period=period,
            by=tuple(byl),
            variables=tuple(names),
            model_inputs=model.inputs if model is not None else None,
            level=level,
            frame=frame,
            _contributions=partial(_contributions, keys, byl, names, total, k, full_cov, m_cov_full, D, kk),
        )
    return out


def _sampled_part(sample: Survey, values: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, ...]:
    """Domains present, totals of ``values`` by ``code``, covariances: as ``Survey.total(by=code)``."""
    from survey.estimation.domains import group_sums
    from survey.estimation.variance import domain_covariance

    mask = sample.subset_mask
    got, dom = np.unique(code if mask is None else code[mask], return_inverse=True)
    if mask is not None:  # rows outside the subset are outside every domain
        inner, dom = dom, np.full(code.size, -1, dtype=np.intp)
        dom[mask] = inner
    y = np.asfortranarray(values)  # column-major, as Survey.total reads the columns
    z = np.asfortranarray(sample.weights[:, None] * y)
    return got, group_sums(dom, z, got.size), domain_covariance(sample, z, dom, got.size, numerator=y).cov


def _contributions(keys, byl, names, total, k, full_cov, m_cov_full, D, kk) -> pd.DataFrame:
    """Contribution of each domain to the sector growth: (Y_d - X_d) / X, with linearised SE.

    Sampled part: the linearised score of ``c_d`` is ``[(y_i - x_i) 1[i in d] - c_d x_i] / X``
    for every sampled row; its design variance comes from ``Survey.total`` (one column per
    domain, in blocks). Model part: from the model covariance across domains.
    """
    if not byl or total.shape[1] < 2 * k:
        return pd.DataFrame(columns=[*byl, "variable", "contribution", "contribution_se"])
    X = total[:, k:].sum(axis=0)  # (k,)
    A = total[:, :k] - total[:, k:]  # (D, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = A / X
    var = np.zeros((D, k))
    if full_cov is not None:
        # score of c_d: u_i 1[i in d] - c_d v_i with u = (y - x) / X, v = x / X, so
        # Var = Var(U_d) - 2 c_d Cov(U_d, V) + c_d^2 Var(V), V = sum over all labels of V_d';
        # one domain-by-domain covariance matrix from the core (rows outside every domain
        # form an extra label), no loop over domains
        sample, dom, vals = full_cov
        inside = dom >= 0
        label = np.where(inside, dom, D)
        for j in range(k):  # loop over variables only
            y, x = vals[:, j], vals[:, k + j]
            est = sample.assign(
                _cq_u=np.where(inside, y - x, 0.0) / X[j], _cq_v=x / X[j], _cq_label=label
            ).total(["_cq_u", "_cq_v"], by="_cq_label")
            M = est.vcov.to_numpy()
            present = est.domains["_cq_label"].to_numpy(dtype=np.intp)
            iu = 2 * np.arange(present.size)
            iv = iu + 1
            var_v = M[np.ix_(iv, iv)].sum()
            var[:, j] = c[:, j] ** 2 * var_v  # domains without sample rows: u = 0
            is_dom = present < D
            dd = present[is_dom]
            var[dd, j] = (
                np.diag(M)[iu][is_dom]
                - 2 * c[dd, j] * M[np.ix_(iu, iv)].sum(axis=1)[is_dom]
                + c[dd, j] ** 2 * var_v
            )
    if m_cov_full is not None:
        dm, cov_y, cov_x = m_cov_full
        for j in range(k):
            Cy = np.zeros((D, D))
            Cx = np.zeros((D, D))
            Cy[np.ix_(dm, dm)] = cov_y[j]
            Cx[np.ix_(dm, dm)] = np.nan_to_num(cov_x[j])
            cj = c[:, j]
            var[:, j] += (np.diag(Cy) + np.diag(Cx) + 2 * cj * Cx.sum(axis=1) + cj**2 * Cx.sum()) / X[j] ** 2
    out = keys.loc[np.repeat(np.arange(D), k)].reset_index(drop=True)
    out["variable"] = np.tile(np.asarray(names, dtype=object), D)
    out["contribution"] = c.ravel()
    out["contribution_se"] = np.sqrt(np.maximum(var, 0.0)).ravel()
    return out
