"""Take-all thresholds and size-stratum boundaries.

* :func:`designated_size`: the administrative rule, a threshold table on a
  size variable (e.g. main-business revenue of last year; in China from 2007
  firms with revenue of 5 million yuan or more are "above designated size"),
  optionally by industry.
* :func:`take_all_cutoff`: a statistical take-all cut-off (Hidiroglou 1986):
  the largest units are enumerated and the rest sampled by SRSWOR; the number
  of take-all units minimises the total sample size for a target CV (or the
  variance for a fixed ``n``). Hidiroglou's iteration converges to a local
  solution of this problem; we search every split at once with cumulative
  sums of the sorted sizes, which gives the global one.
* :func:`boundaries`: boundaries of ``H`` size strata by the cumulative
  square root of frequency rule (Dalenius and Hodges 1959), the geometric
  rule (Gunning and Horgan 2004) or Lavallee and Hidiroglou (1988) with
  Kozak's (2004) random search, optionally with a take-all top stratum.

For a stratification the sample is Neyman-allocated to the take-some
strata (the top stratum is enumerated when ``take_all=True``):

    n = N_L + (sum_h N_h S_h)^2 / ((cv Y)^2 + sum_h N_h S_h^2)      (target cv)
    V = (sum_h N_h S_h)^2 / (n - N_L) - sum_h N_h S_h^2             (fixed n)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import AllocationError, FrameError

__all__ = [
    "BOUNDARY_METHODS",
    "Cutoff",
    "Stratification",
    "boundaries",
    "designated_size",
    "take_all_cutoff",
]

BOUNDARY_METHODS = ("cum_sqrt_f", "geometric", "lavallee_hidiroglou")


def _size_array(size: Any, name: str = "size") -> np.ndarray:
    x = np.asarray(size, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise FrameError(f"{name} must be a non-empty one-dimensional array")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise FrameError(
            f"{name}: values must be finite and >= 0; positions {bad[:5].tolist()} are not"
        )
    return x


# ---------------------------------------------------------------------------
# designated size (threshold table)
# ---------------------------------------------------------------------------


def designated_size(
    data: pd.DataFrame,
    *,
    size: str,
    threshold: float | Mapping[Any, float] | pd.DataFrame,
    by: str | None = None,
) -> np.ndarray:
    """Flag units at or above the designated size (take-all, full reporting).

    Parameters
    ----------
    data : pandas.DataFrame
        The register.
    size : str
        Size column, e.g. ``"revenue_prev_year"`` (thousand yuan).
    threshold : float, mapping or pandas.DataFrame
        One threshold, or a table by ``by``: a mapping ``code -> threshold``
        (key ``"default"`` for codes not listed) or a DataFrame with columns
        ``by`` and ``threshold``.
    by : str or None, default=None
        Column the threshold table is keyed on (e.g. ``"industry"``).

    Returns
    -------
    numpy.ndarray of bool
        ``size >= threshold`` for each unit.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"rev": [6000.0, 4000.0, 2500.0], "industry": ["17", "17", "33"]})
    >>> designated_size(df, size="rev", threshold=5000).tolist()
    [True, False, False]
    >>> designated_size(df, size="rev", threshold={"33": 2000, "default": 5000},
    ...                 by="industry").tolist()
    [True, False, True]
    """
    from survey.errors import ColumnError

    if size not in data.columns:
        raise ColumnError(f"designated_size: size column {size!r} not in the register")
    x = data[size].to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(x))
    if bad.size:
        raise FrameError(
            f"designated_size: missing {size!r} at rows {data.index[bad[:5]].tolist()}; "
            "impute the size first"
        )
    if isinstance(threshold, (int, float, np.integer, np.floating)):
        return x >= float(threshold)
    if by is None:
        raise FrameError("designated_size: a threshold table needs by= (the column it is keyed on)")
    if by not in data.columns:
        raise ColumnError(f"designated_size: column {by!r} not in the register")
    if isinstance(threshold, pd.DataFrame):
        if not {by, "threshold"} <= set(threshold.columns):
            raise FrameError(f"designated_size: threshold table needs columns {by!r} and 'threshold'")
        table = dict(zip(threshold[by], threshold["threshold"]))
    else:
        table = dict(threshold)
    default = table.pop("default", None)
    codes = data[by]
    keyed = {str(k): float(v) for k, v in table.items()}
    limit = codes.astype(str).map(keyed).to_numpy(dtype=float, na_value=np.nan)
    if default is not None:
        limit = np.where(np.isnan(limit), float(default), limit)
    missing = np.flatnonzero(np.isnan(limit))
    if missing.size:
        unknown = sorted(pd.unique(codes.iloc[missing].astype(str)))[:10]
        raise FrameError(
            f"designated_size: no threshold for {by} code(s) {unknown} (rows "
            f"{data.index[missing[:5]].tolist()}); add them to the table or give a 'default'"
        )
    return x >= limit


# ---------------------------------------------------------------------------
# statistical take-all cut-off
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Cutoff:
    """A take-all cut-off: units with ``size >= threshold`` are enumerated.

    Attributes
    ----------
    threshold : float
        Smallest size in the take-all part (``inf`` when it is empty).
    n_take_all, n_sample : int
        Units enumerated and units sampled (SRSWOR) from the rest.
    N : int
        Population size.
    expected_cv : float
        CV of the estimated total under this split.
    """

    threshold: float
    n_take_all: int
    n_sample: int
    N: int
    expected_cv: float

    @property
    def n(self) -> int:
        """Total sample size (take-all plus sampled)."""
        return self.n_take_all + self.n_sample


def _sorted_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ascending sizes and cumulative sums of ``x - c`` and ``(x - c)^2`` (``c`` = median)."""
    xs = np.sort(x)
    centre = float(np.median(xs))
    d = xs - centre
    s1 = np.concatenate(([0.0], np.cumsum(d)))
    s2 = np.concatenate(([0.0], np.cumsum(d * d)))
    return xs, s1, s2


def take_all_cutoff(
    size: Any, *, cv: float | None = None, n: int | None = None, min_sample: int = 2
) -> Cutoff:
    """Statistical take-all cut-off (Hidiroglou 1986) for a target CV or a fixed n.

    The ``t`` largest units are enumerated and ``m`` units drawn by SRSWOR
    from the other ``N - t``; with ``S_r^2`` the variance of the rest,
    ``V = (N-t)^2 (1/m - 1/(N-t)) S_r^2``. For a target ``cv`` the best ``t``
    minimises ``t + (N-t)^2 S_r^2 / ((cv Y)^2 + (N-t) S_r^2)``; for a fixed
    ``n`` it minimises ``V`` with ``m = n - t``.

    Parameters
    ----------
    size : array-like of float
        Size measure (>= 0) standing in for the survey variable.
    cv : float or None, default=None
        Target CV of the total (give ``cv`` or ``n``).
    n : int or None, default=None
        Total sample size (take-all plus sampled).
    min_sample : int, default=2
        Least number of sampled units in the take-some part.

    Returns
    -------
    Cutoff

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.ones(98), 500.0, 800.0]
    >>> c = take_all_cutoff(x, n=10)
    >>> c.n_take_all, c.threshold, c.expected_cv
    (2, 500.0, 0.0)
    """
    x = _size_array(size)
    N = x.size
    if (cv is None) == (n is None):
        raise AllocationError("take_all_cutoff: give exactly one of cv or n")
    Y = float(x.sum())
    if Y <= 0:
        raise AllocationError("take_all_cutoff: the sizes sum to 0; nothing to estimate")
    xs, s1, s2 = _sorted_moments(x)
    # t = number of take-all units (the t largest); rest = the N - t smallest
    t = np.arange(N + 1)
    Nr = (N - t).astype(float)
    sum1 = s1[N - t]
    sum2 = s2[N - t]
    with np.errstate(divide="ignore", invalid="ignore"):
        S2 = np.where(Nr > 1, (sum2 - sum1**2 / Nr) / (Nr - 1.0), 0.0)
    S2 = np.maximum(S2, 0.0)
    # a split is allowed only between different sizes
    top = xs[::-1]  # descending
    allowed = np.ones(N + 1, dtype=bool)
    allowed[1:N] = top[:-1] > top[1:]
    m_min = np.minimum(min_sample, N - t)
    if cv is not None:
        if not cv > 0:
            raise AllocationError(f"take_all_cutoff: cv must be > 0, got {cv}")
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(Nr > 0, Nr**2 * S2 / ((cv * Y) ** 2 + Nr * S2), 0.0)
        m = np.maximum(np.ceil(m - 1e-9), m_min)
        total = np.where(allowed, t + m, np.inf)
        best = int(np.argmin(total))
        m_best = int(m[best])
    else:
        n = int(n)
        if not min(min_sample, N) <= n <= N:
            raise AllocationError(f"take_all_cutoff: n must be between {min(min_sample, N)} and {N}")
        m = n - t
        ok = allowed & (m >= m_min) & (t <= n)
        with np.errstate(divide="ignore", invalid="ignore"):
            V = np.where(m > 0, Nr**2 * (1.0 / m - 1.0 / np.maximum(Nr, 1)) * S2, 0.0)
        V = np.where(ok, V, np.inf)
        best = int(np.argmin(V))
        m_best = int(n - best)
    Nr_b = N - best
    var = Nr_b**2 * (1.0 / m_best - 1.0 / Nr_b) * S2[best] if m_best > 0 and Nr_b > 0 else 0.0
    threshold = float(top[best - 1]) if best > 0 else float("inf")
    return Cutoff(threshold=threshold, n_take_all=best, n_sample=m_best, N=N,
                  expected_cv=float(np.sqrt(max(var, 0.0)) / Y))


# ---------------------------------------------------------------------------
# size strata
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class Stratification:
    """Boundaries of size strata and their expected performance.

    Stratum ``h`` (0-based) holds the units with ``bounds[h-1] <= size <
    bounds[h]`` (:meth:`assign`). With ``take_all`` the top stratum is enumerated.

    Attributes
    ----------
    bounds : numpy.ndarray
        The ``H - 1`` inner boundaries, increasing.
    method : str
    take_all : bool
    N : numpy.ndarray of int
        Stratum sizes.
    n : numpy.ndarray of float
        Continuous Neyman allocation (``N_h`` for the take-all stratum).
    sd, mean : numpy.ndarray
        Stratum standard deviation and mean of the size variable.
    expected_cv : float
        CV of the estimated total with the allocation ``n`` (continuous).
    """

    bounds: np.ndarray
    method: str
    take_all: bool
    N: np.ndarray
    n: np.ndarray
    sd: np.ndarray
    mean: np.ndarray
    expected_cv: float

    def assign(self, size: Any) -> np.ndarray:
        """Stratum index (``0 .. H-1``) of each size value.

        Examples
        --------
        >>> import numpy as np
        >>> s = boundaries(np.arange(1.0, 101.0), 2, method="geometric", n=10)
        >>> s.assign([1.0, 99.0]).tolist()
        [0, 1]
        """
        return np.searchsorted(self.bounds, np.asarray(size, dtype=float), side="right")

    def table(self) -> pd.DataFrame:
        """One row per stratum: ``stratum, lower, upper, N, n, mean, sd, take_all``.

        Examples
        --------
        >>> import numpy as np
        >>> s = boundaries(np.arange(1.0, 101.0), 2, method="geometric", n=10)
        >>> s.table()["N"].tolist()
        [9, 91]
        """
        H = self.N.size
        lower = np.concatenate(([-np.inf], self.bounds))
        upper = np.concatenate((self.bounds, [np.inf]))
        take = np.zeros(H, dtype=bool)
        if self.take_all:
            take[-1] = True
        return pd.DataFrame({"stratum": np.arange(H), "lower": lower, "upper": upper,
                             "N": self.N, "n": self.n, "mean": self.mean, "sd": self.sd,
                             "take_all": take})


def _evaluate(
    cuts: np.ndarray, s1: np.ndarray, s2: np.ndarray, centre_total: float, Y: float,
    *, cv: float | None, n: int | None, take_all: bool, min_n: int, strict: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Objective for many boundary vectors at once.

    ``cuts`` is (B, H+1) positions in the sorted sizes (first 0, last N).
    Neyman allocation with take-all promotion (strata whose ``n_h`` would
    exceed ``N_h`` are enumerated and the rest re-allocated). Returns the
    objective (n for cv targets, V for fixed n; ``inf`` when infeasible or,
    when ``strict``, when a stratum has fewer than ``min_n`` units or a
    sampled stratum gets ``n_h < min_n``), and N_h, S_h, n_h (continuous),
    each (B, H).
    """
    Nh = np.diff(cuts, axis=1).astype(float)
    a1 = np.diff(s1[cuts], axis=1)
    a2 = np.diff(s2[cuts], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(Nh > 1, (a2 - a1**2 / Nh) / (Nh - 1.0), 0.0)
    S = np.sqrt(np.maximum(var, 0.0))
    some = np.ones_like(Nh, dtype=bool)
    if take_all:
        some[:, -1] = False
    for _ in range(Nh.shape[1] + 1):
        NS = np.where(some, Nh * S, 0.0).sum(axis=1)
        NS2 = np.where(some, Nh * S**2, 0.0).sum(axis=1)
        NL = np.where(~some, Nh, 0.0).sum(axis=1)
        if cv is not None:
            m = NS**2 / ((cv * Y) ** 2 + NS2)
        else:
            m = n - NL
        with np.errstate(divide="ignore", invalid="ignore"):
            nh = np.where(some, m[:, None] * Nh * S / NS[:, None], Nh)
        nh = np.where(np.isfinite(nh), nh, 0.0)
        over = some & (nh > Nh + 1e-9)
        if not over.any():
            break
        some = some & ~over
    if cv is not None:
        objective = NL + m
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            objective = np.where(m > 0, NS**2 / m - NS2, np.where(NS > 0, np.inf, 0.0))
    if strict:
        bad = (Nh < max(min_n, 1)).any(axis=1)
        bad |= (some & (nh < min_n - 1e-9) & (S > 0)).any(axis=1)
        objective = np.where(bad, np.inf, objective)
    return objective, Nh, S, nh


def boundaries(
    size: Any,
    n_strata: int,
    *,
    method: str = "lavallee_hidiroglou",
    n: int | None = None,
    cv: float | None = None,
    take_all: bool = False,
    min_n: int = 2,
    bins: int | None = None,
    iterations: int = 400,
    seed: int | np.random.Generator | None = 0,
) -> Stratification:
    """Boundaries of size strata for a target sample size or CV.

    Parameters
    ----------
    size : array-like of float
        Size measure (>= 0) of the take-some population.
    n_strata : int
        Number of strata ``H`` (including the take-all stratum when ``take_all``).
    method : {"cum_sqrt_f", "geometric", "lavallee_hidiroglou"}, default="lavallee_hidiroglou"
        ``cum_sqrt_f``: equal parts of the cumulative square root of the
        frequencies of ``bins`` equal-width classes (Dalenius-Hodges);
        ``geometric``: ``b_h = min * (max/min)^(h/H)`` (Gunning-Horgan);
        ``lavallee_hidiroglou``: boundaries minimising ``n`` (target ``cv``)
        or the variance (fixed ``n``) under Neyman allocation, by Kozak's
        random search started from the better of the two other rules.
    n : int or None, default=None
        Total sample size (give ``n`` or ``cv``).
    cv : float or None, default=None
        Target CV of the estimated total.
    take_all : bool, default=False
        Enumerate the top stratum.
    min_n : int, default=2
        Least ``N_h`` and ``n_h`` of a take-some stratum (Kozak's constraint).
    bins : int or None, default=None
        Classes for ``cum_sqrt_f`` (default ``min(N, 50 * H)``).
    iterations : int, default=400
        Rounds of 64 random proposals for ``lavallee_hidiroglou``.
    seed : int, numpy.random.Generator or None, default=0
        Seed of the random search.

    Returns
    -------
    Stratification

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).lognormal(3.0, 1.0, 2000)
    >>> lh = boundaries(x, 4, n=200, take_all=True)
    >>> cs = boundaries(x, 4, n=200, take_all=True, method="cum_sqrt_f")
    >>> bool(lh.expected_cv <= cs.expected_cv)
    True
    """
    x = _size_array(size)
    H = int(n_strata)
    if method not in BOUNDARY_METHODS:
        raise AllocationError(f"boundaries: method must be one of {BOUNDARY_METHODS}, got {method!r}")
    if (n is None) == (cv is None):
        raise AllocationError("boundaries: give exactly one of n or cv")
    if H < 1:
        raise AllocationError("boundaries: n_strata must be >= 1")
    xs, s1, s2 = _sorted_moments(x)
    N = xs.size
    Y = float(xs.sum())
    if cv is not None and not cv > 0:
        raise AllocationError(f"boundaries: cv must be > 0, got {cv}")
    breaks = np.flatnonzero(xs[1:] > xs[:-1]) + 1  # admissible cut positions
    if breaks.size < H - 1:
        raise AllocationError(
            f"boundaries: only {breaks.size + 1} distinct sizes, cannot make {H} strata"
        )
    kwargs = {"cv": cv, "n": n, "take_all": take_all, "min_n": min_n}

    def from_values(b: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(xs, np.asarray(b, dtype=float), side="left")
        return np.concatenate(([0], np.sort(pos), [N]))

    def cum_sqrt_f() -> np.ndarray:
        J = int(bins) if bins is not None else min(N, 50 * H)
        edges = np.linspace(xs[0], xs[-1], J + 1)
        freq = np.histogram(xs, edges)[0]
        c = np.cumsum(np.sqrt(freq))
        targets = c[-1] * np.arange(1, H) / H
        j = np.searchsorted(c, targets, side="left")
        return from_values(edges[np.minimum(j + 1, J)])

    def geometric() -> np.ndarray:
        positive = xs[xs > 0]
        lo = positive[0] if positive.size else 1.0
        hi = xs[-1] if xs[-1] > lo else lo * 2
        return from_values(lo * (hi / lo) ** (np.arange(1, H) / H))

    def snap(cuts: np.ndarray) -> np.ndarray:
        """Move inner cuts onto admissible breaks, keeping them strictly increasing."""
        inner = cuts[..., 1:-1]
        k = np.clip(np.searchsorted(breaks, inner), 0, breaks.size - 1)
        # strictly increasing indices into breaks
        k = np.maximum.accumulate(k + np.arange(H - 1), axis=-1) - np.arange(H - 1)
        k = np.minimum(k, breaks.size - (H - 1))
        k = k + np.arange(H - 1)
        return breaks[k]

    if method == "cum_sqrt_f":
        cuts = cum_sqrt_f()
    elif method == "geometric":
        cuts = geometric()
    else:
        rng = np.random.default_rng(seed)
        starts = [cum_sqrt_f(), geometric()]
        idx_starts = [np.searchsorted(breaks, snap(c)) for c in starts]
        best_k = None
        best_obj = np.inf
        for k in idx_starts:
            cuts_try = np.concatenate(([0], breaks[k], [N]))[None, :]
            obj = _evaluate(cuts_try, s1, s2, 0.0, Y, **kwargs)[0][0]
            if best_k is None or obj < best_obj:
                best_k, best_obj = k, obj
        if not np.isfinite(best_obj):  # start from equal counts
            best_k = np.searchsorted(breaks, np.quantile(np.arange(N), np.arange(1, H) / H))
            best_k = np.clip(best_k, 0, breaks.size - 1)
        B = 64
        M = breaks.size
        step = max(1.0, M / (2.0 * H))
        stale = 0
        for _ in range(int(iterations)):
            if H == 1:
                break
            prop = np.repeat(best_k[None, :], B, axis=0)
            j = rng.integers(0, H - 1, B)
            move = np.rint(rng.normal(0.0, step, B)).astype(np.int64)
            move = np.where(move == 0, rng.choice([-1, 1], B), move)
            prop[np.arange(B), j] += move
            prop = np.clip(prop, 0, M - 1)
            valid = (np.diff(prop, axis=1) > 0).all(axis=1) if H > 2 else np.ones(B, dtype=bool)
            cuts_b = np.concatenate([np.zeros((B, 1), np.int64), breaks[prop],
                                     np.full((B, 1), N, np.int64)], axis=1)
            obj = _evaluate(cuts_b, s1, s2, 0.0, Y, **kwargs)[0]
            obj = np.where(valid, obj, np.inf)
            i = int(np.argmin(obj))
            if obj[i] < best_obj * (1 - 1e-12):
                best_k, best_obj = prop[i].copy(), obj[i]
                stale = 0
            else:
                stale += 1
                if stale % 20 == 0:
                    step = max(1.0, step / 2.0)
                if stale > 120:
                    break
        cuts = np.concatenate(([0], breaks[best_k] if H > 1 else [], [N])).astype(np.int64)

    cuts = np.asarray(cuts, dtype=np.int64)
    obj, Nh, S, nh = _evaluate(cuts[None, :], s1, s2, 0.0, Y, **kwargs, strict=False)
    Nh, S, nh = Nh[0], S[0], nh[0]
    if not np.isfinite(obj[0]):
        raise AllocationError(
            f"boundaries ({method}): no allocation of n={n} fits these strata; "
            "use a larger n or fewer strata"
        )
    some = nh < Nh
    if take_all:
        some[-1] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(some & (nh > 0), Nh**2 * S**2 / nh - Nh * S**2, 0.0).sum()
    a1 = np.diff(s1[cuts])
    centre = float(np.median(xs))
    mean = np.where(Nh > 0, a1 / np.maximum(Nh, 1) + centre, np.nan)
    return Stratification(
        bounds=xs[cuts[1:-1]].astype(float), method=method, take_all=bool(take_all),
        N=Nh.astype(np.int64), n=nh, sd=S, mean=mean,
        expected_cv=float(np.sqrt(max(var, 0.0)) / Y),
    )
