"""Sample allocation: proportional, Neyman, optimal, power, and Bethel-Chromy.

Notation: stratum ``h`` has ``N_h`` units, population standard deviation
``S_h`` of the variable, unit cost ``c_h``, anticipated response rate
``r_h``; ``n_h`` units are selected and ``r_h n_h`` are expected to respond.
The variance of the expansion estimator of a total (or of a domain total,
with ``z = y * 1[domain]`` in place of ``y``) is

    V(n) = sum_h N_h^2 S_h^2 / (r_h n_h) - sum_h N_h S_h^2.

Allocations of a fixed ``n`` spread it in proportion to ``a_h`` within the
bounds ``min(min_n, N_h) <= n_h <= N_h`` (strata that hit ``N_h`` become
take-all and the rest is re-allocated among the others):

===============  =================================================
proportional     ``a_h = N_h``
neyman           ``a_h = N_h S_h / sqrt(r_h)``
optimal          ``a_h = N_h S_h / sqrt(c_h r_h)`` (fixed cost)
power            ``a_h = (N_h Ybar_h)^q S_h / Ybar_h`` (Bankier 1988)
===============  =================================================

Bethel-Chromy allocation minimises the cost ``sum_h c_h n_h`` subject to one
variance constraint ``V_k(n) <= (cv_k T_k)^2`` per variable and domain, and
the same bounds. Writing the constraints as ``sum_h a_kh / n_h <= 1`` the
problem is convex; it is solved through its dual (Bethel 1989, Chromy 1987):
for multipliers ``lambda >= 0`` the Lagrangian is minimised by
``n_h = clip(sqrt(sum_k lambda_k a_kh / c_h), lower_h, upper_h)``, and the
concave dual is maximised with L-BFGS-B (one sparse product per evaluation,
vectorised over strata and constraints). The continuous solution is rounded
to the nearest integer and repaired greedily until every target is met.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize as opt
import scipy.sparse as sp

from survey.errors import AllocationError, ColumnError
from survey.register.frame import Frame, as_columns, join_labels, stratum_labels

__all__ = ["ALLOCATION_METHODS", "Allocation", "allocate", "allocate_multivariate"]

ALLOCATION_METHODS = ("proportional", "neyman", "optimal", "power")
TOTAL = "total"


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class Allocation:
    """Sample sizes per stratum and the precision they are expected to give.

    Attributes
    ----------
    strata : pandas.DataFrame
        One row per stratum: the stratum column(s) and ``stratum`` (label).
    N, n : numpy.ndarray of int
        Population and sample sizes per stratum.
    n_continuous : numpy.ndarray of float
        The continuous optimum before integer rounding.
    take_all : numpy.ndarray of bool
        ``n_h == N_h``.
    response_rate, cost : numpy.ndarray of float
        Anticipated response rate and unit cost per stratum.
    method : str
        ``"proportional"``, ``"neyman"``, ``"optimal"``, ``"power"`` or ``"bethel"``.
    variables : tuple of str
        Variables whose population variance is known per stratum.
    """

    strata: pd.DataFrame
    N: np.ndarray
    n: np.ndarray
    n_continuous: np.ndarray
    take_all: np.ndarray
    response_rate: np.ndarray
    cost: np.ndarray
    method: str
    variables: tuple[str, ...] = ()
    constraints: pd.DataFrame | None = None  # variable, domain_type, domain, total, target_cv
    variance_terms: sp.csr_matrix | None = None  # K x H: N_h^2 S^2_hk
    fpc_terms: np.ndarray | None = None  # K: sum_h N_h S^2_hk
    population_variance: np.ndarray | None = None  # H x J: S^2_hj of the variables
    population_totals: np.ndarray | None = None  # J

    @property
    def n_total(self) -> int:
        """Total sample size."""
        return int(self.n.sum())

    def variance(self, n: Any = None) -> np.ndarray:
        """Expected variance of each constrained total under sample sizes ``n``.

        Parameters
        ----------
        n : array-like or None, default=None
            Sample sizes per stratum; default this allocation's ``n``.

        Examples
        --------
        >>> a = allocate([100, 100], 20, method="neyman", sd=[1.0, 3.0], means=[10.0, 10.0])
        >>> a.n.tolist()
        [5, 15]
        >>> round(float(a.variance()[0]), 3)
        7000.0
        """
        if self.variance_terms is None:
            return np.zeros(0)
        nn = np.asarray(self.n if n is None else n, dtype=float)
        inv = np.divide(1.0, self.response_rate * nn, out=np.full(nn.shape, np.inf), where=nn > 0)
        terms = self.variance_terms
        # strata with no variance contribute nothing even when n_h = 0
        inv_finite = np.where(np.isfinite(inv), inv, 0.0)
        value = terms @ inv_finite - self.fpc_terms
        unsampled = (nn <= 0).astype(float)
        if np.any(unsampled):
            has = (terms @ unsampled) > 0
            value = np.where(has, np.inf, value)
        return np.maximum(value, 0.0)

    def expected_cv(self, n: Any = None) -> pd.DataFrame:
        """Expected CV per variable and domain under the plan (or under ``n``).

        Returns
        -------
        pandas.DataFrame
            ``variable, domain_type, domain, total, target_cv, expected_cv, met``.

        Examples
        --------
        >>> a = allocate([100, 100], 20, method="neyman", sd=[1.0, 3.0], means=[10.0, 10.0])
        >>> a.expected_cv()[["domain_type", "expected_cv"]].round(4)
          domain_type  expected_cv
        0       total       0.0418
        """
        if self.constraints is None:
            return pd.DataFrame(columns=["variable", "domain_type", "domain", "total",
                                         "target_cv", "expected_cv", "met"])
        out = self.constraints.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out["expected_cv"] = np.sqrt(self.variance(n)) / out["total"].to_numpy(dtype=float)
        target = out["target_cv"].to_numpy(dtype=float)
        out["met"] = ~(out["expected_cv"].to_numpy() > target * (1 + 1e-9))
        return out

    def table(self) -> pd.DataFrame:
        """Per stratum: ``N, n, take_all, response_rate, expected_respondents, cost``
        and, per variable, ``variance_share_<variable>`` (the stratum's share of the
        variance of the population total).

        Examples
        --------
        >>> a = allocate([10, 30], 8, method="proportional")
        >>> a.table()[["stratum", "N", "n", "take_all"]]
          stratum   N  n  take_all
        0       0  10  2     False
        1       1  30  6     False
        """
        out = self.strata.copy()
        out["N"] = self.N
        out["n"] = self.n
        out["take_all"] = self.take_all
        out["response_rate"] = self.response_rate
        out["expected_respondents"] = self.response_rate * self.n
        out["cost"] = self.cost
        if self.population_variance is not None:
            N = self.N.astype(float)
            nn = self.n.astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                per = (N**2 / (self.response_rate * nn) - N)[:, None] * self.population_variance
            per = np.where(nn[:, None] > 0, per, 0.0)
            per = np.maximum(per, 0.0)
            total = per.sum(axis=0)
            for j, name in enumerate(self.variables):
                out[f"variance_share_{name}"] = per[:, j] / total[j] if total[j] > 0 else 0.0
        return out

    def __repr__(self) -> str:
        return (f"Allocation(method={self.method!r}, strata={self.N.size}, n={self.n_total}, "
                f"take_all={int(self.take_all.sum())})")


# ---------------------------------------------------------------------------
# numerical pieces
# ---------------------------------------------------------------------------


def _box_proportional(a: np.ndarray, total: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Continuous ``x_h = clip(t a_h, lower_h, upper_h)`` with ``sum x = total``."""
    if total <= lower.sum():
        return lower.astype(float)
    if total >= upper.sum():
        return upper.astype(float)
    a = np.maximum(a, 0.0)
    lo_t, hi_t = 0.0, 1.0
    while np.clip(hi_t * a, lower, upper).sum() < total:
        hi_t *= 2.0
        if hi_t > 1e300:
            break
    for _ in range(200):
        mid = 0.5 * (lo_t + hi_t)
        if np.clip(mid * a, lower, upper).sum() < total:
            lo_t = mid
        else:
            hi_t = mid
    x = np.clip(hi_t * a, lower, upper)
    free = (x > lower) & (x < upper)
    if free.any() and a[free].sum() > 0:  # exact linear solve on the free set
        rest = total - x[~free].sum()
        x[free] = rest * a[free] / a[free].sum()
        x = np.clip(x, lower, upper)
    return x


def _round_to_total(x: np.ndarray, total: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding: integers within the bounds, summing to ``total``."""
    base = np.floor(x + 1e-9).astype(np.int64)
    base = np.clip(base, lower, upper)
    missing = int(total - base.sum())
    if missing > 0:
        room = base < upper
        frac = np.where(room, x - base, -np.inf)
        take = np.argsort(-frac, kind="stable")[:missing]
        base[take] += 1
    elif missing < 0:
        room = base > lower
        frac = np.where(room, x - base, np.inf)
        take = np.argsort(frac, kind="stable")[:-missing]
        base[take] -= 1
    return base


def _bethel_solve(
    A: sp.csr_matrix, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Continuous minimiser of ``c @ n`` s.t. ``A @ (1/n) <= 1``, ``lower <= n <= upper``."""
    K = A.shape[0]
    cost = np.asarray(cost, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if K == 0:
        return lower.copy()
    At = A.T.tocsr()
    # scale of each multiplier when its constraint is alone: (sum_h sqrt(a_kh c_h))^2
    scale = np.asarray(A.sqrt() @ np.sqrt(cost)).ravel() ** 2
    scale = np.where(scale > 0, scale, 1.0)

    def n_of(mu: np.ndarray) -> np.ndarray:
        s = At @ (mu * scale)
        return np.clip(np.sqrt(np.maximum(s, 0.0) / cost), lower, upper)

    def negdual(mu: np.ndarray) -> tuple[float, np.ndarray]:
        n = n_of(mu)
        slack = A @ (1.0 / n) - 1.0
        value = cost @ n + (mu * scale) @ slack
        return -value, -(slack * scale)

    mu0 = np.full(K, 1.0 / K)
    res = opt.minimize(
        negdual, mu0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * K,
        options={"maxiter": 5000, "maxcor": 30, "ftol": 1e-15, "gtol": 1e-10},
    )
    n = n_of(res.x)
    # polish: scale up the interior strata until every constraint holds
    g = A @ (1.0 / n)
    worst = float(g.max()) if g.size else 0.0
    if worst > 1.0:
        lo_t, hi_t = 1.0, 2.0
        while (A @ (1.0 / np.clip(n * hi_t, lower, upper))).max() > 1.0 and hi_t < 1e6:
            hi_t *= 2.0
        for _ in range(60):
            mid = 0.5 * (lo_t + hi_t)
            if (A @ (1.0 / np.clip(n * mid, lower, upper))).max() > 1.0:
                lo_t = mid
            else:
                hi_t = mid
        n = np.clip(n * hi_t, lower, upper)
    return n


def _round_feasible(
    x: np.ndarray, A: sp.csr_matrix, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Integer sizes near ``x`` meeting ``A @ (1/n) <= 1`` (greedy repair)."""
    n = np.clip(np.round(x), lower, upper).astype(np.int64)
    Acsr = A.tocsr()
    for _ in range(10 * A.shape[1] + 100):
        g = Acsr @ (1.0 / n)
        violated = np.flatnonzero(g > 1.0 + 1e-12)
        if violated.size == 0:
            return n
        room = (n < upper).astype(float)
        gain = (1.0 / n - 1.0 / (n + 1.0)) * room / cost  # variance drop per unit cost
        sub = Acsr[violated].multiply(gain[None, :]).tocsr()
        best = np.asarray(sub.argmax(axis=1)).ravel()
        ok = np.asarray(sub.max(axis=1).todense()).ravel() > 0
        if not ok.any():
            break
        n[np.unique(best[ok])] += 1
    raise AllocationError("integer rounding could not meet the targets (this is a bug)")


def _stratum_setup(
    N: np.ndarray, min_n: int, response_rate: Any, cost: Any, H: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    N = np.asarray(N)
    if N.ndim != 1 or N.size != H:
        raise AllocationError(f"N must have one value per stratum ({H})")
    if np.any(N < 0) or np.any(N != np.round(N)):
        raise AllocationError("N (stratum population sizes) must be whole numbers >= 0")
    if int(min_n) < 0:
        raise AllocationError(f"min_n must be >= 0, got {min_n}")
    rr = np.broadcast_to(np.asarray(1.0 if response_rate is None else response_rate, dtype=float),
                         (H,)).copy()
    bad = np.flatnonzero(~((rr > 0) & (rr <= 1)))
    if bad.size:
        raise AllocationError(
            f"response_rate must be in (0, 1]; stratum {bad[0]} has {rr[bad[0]]}"
        )
    cc = np.broadcast_to(np.asarray(1.0 if cost is None else cost, dtype=float), (H,)).copy()
    bad = np.flatnonzero(~(cc > 0) | ~np.isfinite(cc))
    if bad.size:
        raise AllocationError(f"cost must be > 0; stratum {bad[0]} has {cc[bad[0]]}")
    lower = np.minimum(int(min_n), N).astype(np.int64)
    return N.astype(np.int64), lower, rr, cc


def _labels_frame(strata: Any, H: int) -> pd.DataFrame:
    if strata is None:
        return pd.DataFrame({"stratum": np.arange(H)})
    if isinstance(strata, pd.DataFrame):
        out = strata.reset_index(drop=True).copy()
        if "stratum" not in out.columns:
            out["stratum"] = join_labels(out, list(out.columns))
        return out
    values = np.asarray(strata)
    if values.size != H:
        raise AllocationError(f"strata has {values.size} labels but there are {H} strata")
    return pd.DataFrame({"stratum": values})


# ---------------------------------------------------------------------------
# univariate allocation
# ---------------------------------------------------------------------------


def allocate(
    N: Any,
    n: int | None = None,
    *,
    method: str = "neyman",
    sd: Any = None,
    means: Any = None,
    cost: Any = None,
    power: float = 0.5,
    cv: float | None = None,
    min_n: int = 2,
    response_rate: Any = None,
    strata: Any = None,
    variable: str = "y",
) -> Allocation:
    """Allocate a sample to strata: a fixed total ``n``, or the least cost for a CV.

    Parameters
    ----------
    N : array-like of int
        Population size per stratum.
    n : int or None, default=None
        Total sample size (give ``n`` or ``cv``).
    method : {"proportional", "neyman", "optimal", "power"}, default="neyman"
        Allocation rule (see the module notes). With ``cv`` every rule but
        ``"proportional"`` gives the least-cost (optimal) allocation.
    sd : array-like of float or None, default=None
        Standard deviation ``S_h`` of the variable per stratum (all but proportional).
    means : array-like of float or None, default=None
        Mean ``Ybar_h`` per stratum (for ``"power"``, for ``cv`` and for the
        expected CV of the total).
    cost : float or array-like of float or None, default=None
        Cost per unit in each stratum (default 1).
    power : float, default=0.5
        Exponent ``q`` of the power allocation (0 equal CVs, 1 Neyman).
    cv : float or None, default=None
        Target CV of the estimated total (instead of ``n``).
    min_n : int, default=2
        Least sample size per stratum (capped at ``N_h``); 2 lets the variance
        be estimated.
    response_rate : float or array-like of float or None, default=None
        Anticipated response rate per stratum, in ``(0, 1]``.
    strata : array-like or pandas.DataFrame or None, default=None
        Stratum labels (default ``0 .. H-1``).
    variable : str, default="y"
        Name of the variable in the expected-CV table.

    Returns
    -------
    Allocation
        Integer sizes with ``min(min_n, N_h) <= n_h <= N_h`` summing to ``n``.

    Examples
    --------
    Neyman allocation ``n_h = n N_h S_h / sum_h N_h S_h``:

    >>> allocate([400, 100], 50, method="neyman", sd=[1.0, 4.0]).n.tolist()
    [25, 25]
    >>> allocate([400, 100], 50, method="proportional").n.tolist()
    [40, 10]
    """
    N_arr = np.asarray(N)
    H = N_arr.size
    N_arr, lower, rr, cc = _stratum_setup(N_arr, min_n, response_rate, cost, H)
    labels = _labels_frame(strata, H)
    if method not in ALLOCATION_METHODS:
        raise AllocationError(f"allocate: method must be one of {ALLOCATION_METHODS}, got {method!r}")
    if (n is None) == (cv is None):
        raise AllocationError("allocate: give exactly one of n (total sample size) or cv (target)")
    S = None
    if sd is not None:
        S = np.broadcast_to(np.asarray(sd, dtype=float), (H,)).copy()
        if np.any(~np.isfinite(S)) or np.any(S < 0):
            raise AllocationError("allocate: sd must be finite and >= 0 in every stratum")
    elif method != "proportional" or cv is not None:
        raise AllocationError(f"allocate: method {method!r} needs sd (stratum standard deviations)")
    M = None
    if means is not None:
        M = np.broadcast_to(np.asarray(means, dtype=float), (H,)).copy()
    upper = N_arr.copy()

    constraints = terms = fpc_terms = None
    pop_var = pop_tot = None
    variables: tuple[str, ...] = ()
    if S is not None:
        pop_var = (S**2)[:, None]
        variables = (variable,)
        terms = sp.csr_matrix((N_arr.astype(float) ** 2 * S**2)[None, :])
        fpc_terms = np.array([float(N_arr @ S**2)])
        if M is not None:
            pop_tot = np.array([float(N_arr @ M)])
            constraints = pd.DataFrame({"variable": [variable], "domain_type": [TOTAL],
                                        "domain": [TOTAL], "total": pop_tot,
                                        "target_cv": [np.nan if cv is None else float(cv)]})

    if cv is not None:
        if M is None:
            raise AllocationError("allocate: a cv target needs means (stratum means)")
        if method == "proportional":
            raise AllocationError("allocate: use n with proportional allocation, not cv")
        total = float(N_arr @ M)
        A, _ = _normalised_constraints(terms, fpc_terms, np.array([total]), np.array([float(cv)]),
                                       rr, N_arr, constraints)
        x = _bethel_solve(A, cc, lower.astype(float), upper.astype(float))
        n_int = _round_feasible(x, A, cc, lower, upper)
        return Allocation(strata=labels, N=N_arr, n=n_int, n_continuous=x, take_all=n_int == N_arr,
                          response_rate=rr, cost=cc, method="optimal", variables=variables,
                          constraints=constraints, variance_terms=terms, fpc_terms=fpc_terms,
                          population_variance=pop_var, population_totals=pop_tot)

    n = int(n)
    if n < lower.sum() or n > upper.sum():
        raise AllocationError(
            f"allocate: n={n} must lie between sum of minimum sizes ({int(lower.sum())}, "
            f"min_n={min_n}) and the population size ({int(upper.sum())})"
        )
    if method == "proportional":
        a = N_arr.astype(float)
    elif method == "neyman":
        a = N_arr * S / np.sqrt(rr)
    elif method == "optimal":
        a = N_arr * S / np.sqrt(cc * rr)
    else:
        if M is None:
            raise AllocationError("allocate: power allocation needs means (stratum means)")
        if np.any(M <= 0):
            raise AllocationError("allocate: power allocation needs positive stratum means")
        a = (N_arr * M) ** float(power) * S / M
    x = _box_proportional(a, float(n), lower.astype(float), upper.astype(float))
    n_int = _round_to_total(x, n, lower, upper)
    return Allocation(strata=labels, N=N_arr, n=n_int, n_continuous=x, take_all=n_int == N_arr,
                      response_rate=rr, cost=cc, method=method, variables=variables,
                      constraints=constraints, variance_terms=terms, fpc_terms=fpc_terms,
                      population_variance=pop_var, population_totals=pop_tot)


def _where(row: pd.Series) -> str:
    """'the whole population' or 'domain county='Bobai'' for messages."""
    if row["domain_type"] == TOTAL:
        return "the whole population"
    return f"domain {row['domain_type']}={row['domain']!r}"


def _normalised_constraints(
    terms: sp.csr_matrix,
    fpc_terms: np.ndarray,
    totals: np.ndarray,
    target_cv: np.ndarray,
    rr: np.ndarray,
    N: np.ndarray,
    constraints: pd.DataFrame,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """``a_kh = N_h^2 S^2_hk / (r_h b_k)`` with ``b_k = (cv_k T_k)^2 + sum_h N_h S^2_hk``.

    Raises AllocationError for targets that cannot be met; returns the matrix
    restricted to constraints with variance, and their row numbers.
    """
    bad_cv = np.flatnonzero(~(target_cv > 0))
    if bad_cv.size:
        row = constraints.iloc[bad_cv[0]]
        raise AllocationError(
            f"CV target for variable {row['variable']!r} in {_where(row)} must be > 0, "
            f"got {target_cv[bad_cv[0]]}"
        )
    scaled = sp.csr_matrix(terms.multiply(1.0 / rr[None, :]))
    has_var = np.asarray(scaled.sum(axis=1)).ravel() > 0
    bad_total = np.flatnonzero(has_var & ~(totals > 0))
    if bad_total.size:
        row = constraints.iloc[bad_total[0]]
        raise AllocationError(
            f"a CV target for variable {row['variable']!r} in {_where(row)} is meaningless: "
            f"the domain total is {totals[bad_total[0]]:g} (<= 0); drop the target or use "
            "another variable"
        )
    b = (target_cv * totals) ** 2 + fpc_terms
    with np.errstate(divide="ignore", invalid="ignore"):
        A = sp.csr_matrix(sp.diags(np.where(has_var, 1.0 / b, 0.0)) @ scaled)
    # feasibility: even with every unit selected
    best = A @ (1.0 / np.maximum(N, 1)).astype(float)
    bad = np.flatnonzero(best > 1.0 + 1e-12)
    if bad.size:
        row = constraints.iloc[bad[0]]
        best_var = scaled[bad[0]] @ (1.0 / np.maximum(N, 1)) - fpc_terms[bad[0]]
        best_cv = float(np.sqrt(max(best_var[0] if np.ndim(best_var) else best_var, 0.0))
                        / totals[bad[0]])
        others = "" if bad.size == 1 else f" ({bad.size - 1} more target(s) also infeasible)"
        raise AllocationError(
            f"CV target {target_cv[bad[0]]:g} for variable {row['variable']!r} in "
            f"{_where(row)} cannot be met even if every unit is selected: with the anticipated response rates the best CV is {best_cv:.4g}; "
            f"relax the target or raise response rates{others}"
        )
    keep = np.flatnonzero(has_var)
    return A[keep], keep


# ---------------------------------------------------------------------------
# multivariate multi-domain allocation
# ---------------------------------------------------------------------------


def _expand_targets(
    targets: Mapping[str, Any], data: pd.DataFrame
) -> list[tuple[str, str, Any, float]]:
    """(variable, domain_type, domain or None for all domains, cv) entries."""
    entries = []
    for variable, spec in targets.items():
        if not isinstance(spec, Mapping):
            spec = {TOTAL: spec}
        for domain_type, value in spec.items():
            if domain_type != TOTAL and domain_type not in data.columns:
                raise ColumnError(
                    f"allocate_multivariate: domain column {domain_type!r} (targets of "
                    f"{variable!r}) not in the frame"
                )
            if isinstance(value, Mapping):
                for domain, cv in value.items():
                    entries.append((variable, domain_type, domain, float(cv)))
            else:
                entries.append((variable, domain_type, None, float(value)))
    return entries


def allocate_multivariate(
    frame: Frame | pd.DataFrame,
    targets: Mapping[str, Any],
    *,
    strata: str | Sequence[str] | None = None,
    cost: Any = None,
    min_n: int = 2,
    response_rate: Any = None,
    take_all: Sequence[Any] | None = None,
) -> Allocation:
    """Least-cost allocation meeting CV targets for several variables and domains.

    Bethel-Chromy allocation (see the module notes). Stratum variances are
    computed from the frame's values of each variable (usually last year's
    register values standing in for this year's survey values).

    Parameters
    ----------
    frame : Frame or pandas.DataFrame
        The units to allocate (the take-some part, plus take-all units if
        their strata are listed in ``take_all``).
    targets : mapping
        ``{variable: {domain_type: cv}}``; ``domain_type`` is ``"total"`` for
        the whole population or a column (e.g. ``"county"``) for a CV target
        in each of its domains; a mapping ``{domain: cv}`` in place of ``cv``
        sets targets domain by domain. A bare number is a ``"total"`` target.
    strata : str, sequence of str or None, default=None
        Stratum column(s) (default the frame's).
    cost : float, mapping or str or None, default=None
        Unit cost: one number, a mapping ``stratum label -> cost`` or a
        column of the frame (its stratum mean is used).
    min_n : int, default=2
        Least sample size per stratum (capped at ``N_h``).
    response_rate : float, mapping, str or None, default=None
        Anticipated response rate: one number, a mapping ``stratum label ->
        rate`` or a column (stratum mean used). Sizes are inflated so that
        the expected respondents meet the targets.
    take_all : sequence or None, default=None
        Stratum labels that are enumerated completely (``n_h = N_h``).

    Returns
    -------
    Allocation
        ``Allocation.expected_cv()`` lists every target and its expected CV.

    Raises
    ------
    AllocationError
        Naming the variable and domain of a target that no sample can meet.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"h": np.repeat(["a", "b", "c"], 200),
    ...                    "county": np.tile(["X", "Y"], 300),
    ...                    "y": rng.gamma(2.0, np.repeat([10.0, 30.0, 90.0], 200))})
    >>> alloc = allocate_multivariate(df, {"y": {"total": 0.05, "county": 0.08}}, strata="h")
    >>> bool(alloc.expected_cv()["met"].all())
    True
    """
    if isinstance(frame, Frame):
        data = frame.data
        strata = frame.strata if strata is None else strata
    elif isinstance(frame, pd.DataFrame):
        data = frame
    else:
        raise AllocationError(f"allocate_multivariate needs a Frame or DataFrame, got {type(frame).__name__}")
    columns = as_columns(strata)
    if not columns:
        raise AllocationError("allocate_multivariate needs strata (strata=...)")
    if not isinstance(targets, Mapping) or not targets:
        raise AllocationError("allocate_multivariate: targets must be a non-empty mapping "
                              "{variable: {domain_type: cv}}")
    unknown = [c for c in [*columns, *targets] if c not in data.columns]
    if unknown:
        raise ColumnError(f"allocate_multivariate: column(s) {unknown} not in the frame")
    codes, labels = stratum_labels(data, columns)
    H = len(labels)
    N = np.bincount(codes, minlength=H)
    Nf = N.astype(float)

    def per_stratum(value: Any, name: str, default: float) -> np.ndarray:
        if value is None:
            return np.full(H, default)
        if isinstance(value, str):
            if value not in data.columns:
                raise ColumnError(f"allocate_multivariate: {name} column {value!r} not in the frame")
            v = data[value].to_numpy(dtype=float, na_value=np.nan)
            return np.bincount(codes, weights=v, minlength=H) / np.maximum(Nf, 1)
        if isinstance(value, Mapping):
            out = labels["stratum"].map(lambda k: value.get(k, value.get("default", default)))
            return out.to_numpy(dtype=float)
        return np.broadcast_to(np.asarray(value, dtype=float), (H,)).copy()

    N, lower, rr, cc = _stratum_setup(N, min_n, per_stratum(response_rate, "response_rate", 1.0),
                                      per_stratum(cost, "cost", 1.0), H)
    upper = N.copy()
    fixed = np.zeros(H, dtype=bool)
    if take_all is not None:
        wanted = set(take_all)
        fixed = labels["stratum"].isin(wanted).to_numpy()
        missing = wanted - set(labels["stratum"][fixed])
        if missing:
            raise AllocationError(f"allocate_multivariate: take_all strata {sorted(map(str, missing))} "
                                  "are not strata of the frame")
        lower = np.where(fixed, N, lower)

    variables = tuple(targets)
    values = {}
    for v in variables:
        col = data[v]
        if not pd.api.types.is_numeric_dtype(col):
            raise ColumnError(f"allocate_multivariate: variable {v!r} must be numeric")
        y = col.to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            raise ColumnError(
                f"allocate_multivariate: variable {v!r} has missing values at rows "
                f"{data.index[bad[:5]].tolist()}; impute them (e.g. 0) first"
            )
        values[v] = y

    def stratum_var(s1: np.ndarray, s2: np.ndarray, Nh: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            var = (s2 - s1**2 / Nh) / (Nh - 1.0)
        return np.where(Nh > 1, np.maximum(var, 0.0), 0.0)

    pop_var = np.column_stack([
        stratum_var(np.bincount(codes, values[v], H), np.bincount(codes, values[v] ** 2, H), Nf)
        for v in variables
    ])
    pop_tot = np.array([values[v].sum() for v in variables])

    # one block of constraints per (variable, domain type): vectorised over strata x domains
    entries = _expand_targets(targets, data)
    rows, cols, vals, fpcs, totals, cvs, meta = [], [], [], [], [], [], []
    k0 = 0
    domain_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for variable, domain_type, domain, cv in entries:
        y = values[variable]
        if domain_type == TOTAL:
            d_codes = np.zeros(len(data), dtype=np.intp)
            d_labels = np.array([TOTAL], dtype=object)
        else:
            if domain_type not in domain_cache:
                c, u = pd.factorize(data[domain_type], sort=True)
                domain_cache[domain_type] = (c.astype(np.intp), np.asarray(u, dtype=object))
            d_codes, d_labels = domain_cache[domain_type]
        D = d_labels.size
        if domain is not None:
            where = np.flatnonzero(d_labels == domain)
            if where.size == 0:
                where = np.flatnonzero(d_labels.astype(str) == str(domain))
            if where.size == 0:
                raise AllocationError(
                    f"allocate_multivariate: domain {domain!r} of {domain_type!r} (target of "
                    f"{variable!r}) does not occur in the frame"
                )
            pick = np.array([where[0]])
        else:
            pick = np.arange(D)
        inside = d_codes >= 0  # units with a missing domain code are in no domain of this type
        key = (codes * D + d_codes)[inside]
        yi = y[inside]
        s1 = np.bincount(key, yi, H * D).reshape(H, D)
        s2 = np.bincount(key, yi * yi, H * D).reshape(H, D)
        present = np.bincount(key, minlength=H * D).reshape(H, D) > 0
        s1, s2, present = s1[:, pick], s2[:, pick], present[:, pick]
        var = stratum_var(s1, s2, Nf[:, None])  # S^2 of z = y 1[d] in stratum h
        h_idx, j_idx = np.nonzero(present & (var > 0))
        rows.append(k0 + j_idx)
        cols.append(h_idx)
        vals.append((Nf[h_idx] ** 2) * var[h_idx, j_idx])
        fpcs.append((Nf[:, None] * var).sum(axis=0))
        totals.append(s1.sum(axis=0))
        cvs.append(np.full(pick.size, cv))
        meta.append(pd.DataFrame({"variable": variable, "domain_type": domain_type,
                                  "domain": d_labels[pick]}))
        k0 += pick.size
    K = k0
    terms = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(K, H))
    fpc_terms = np.concatenate(fpcs)
    totals_k = np.concatenate(totals)
    cv_k = np.concatenate(cvs)
    constraints = pd.concat(meta, ignore_index=True)
    constraints["total"] = totals_k
    constraints["target_cv"] = cv_k
    # take-all strata contribute no variance: drop their columns from the problem
    live = np.where(fixed, 0.0, 1.0)
    terms_live = sp.csr_matrix(terms @ sp.diags(live))
    terms_live.eliminate_zeros()
    fpc_live = fpc_terms - np.asarray(terms @ sp.diags(1.0 - live) @ (1.0 / np.maximum(Nf, 1))).ravel()
    A, _ = _normalised_constraints(terms_live, fpc_live, totals_k, cv_k, rr, N, constraints)
    x = _bethel_solve(A, cc, lower.astype(float), upper.astype(float))
    n_int = _round_feasible(x, A, cc, lower, upper)
    alloc_rr = np.where(fixed, 1.0, rr)
    return Allocation(
        strata=labels, N=N, n=n_int, n_continuous=x, take_all=n_int == N,
        response_rate=alloc_rr, cost=cc, method="bethel", variables=variables,
        constraints=constraints, variance_terms=terms_live, fpc_terms=fpc_live,
        population_variance=pop_var * live[:, None], population_totals=pop_tot,
    )
