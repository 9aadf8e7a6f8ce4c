"""Sample selection: inclusion probabilities, SRSWOR, systematic and pps designs, PRNs.

Every method works on all strata at once: units are sorted by
``stratum code + key`` (one ``argsort``), ranks within strata come from the
sorted group offsets, and per-stratum quantities are ``np.bincount`` sums.
There is no Python loop over strata or units.

Coordination with permanent random numbers (PRN, Ohlsson 1995): every unit
of the register keeps a uniform number ``u`` on ``[0, 1)`` from period to
period. Sequential SRS takes, in each stratum, the ``n_h`` units that come
first after a starting point ``a`` on the circle ``[0, 1)``; the same firms
stay in the sample while the register is stable (positive coordination), a
second survey that starts at ``a = 0.5`` avoids them (negative coordination),
and ``rotation`` moves the starting point past ``round(rotation * n_h)``
units of the current frame each period, so that exactly that many sampled
units leave and are replaced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ColumnError, SelectionError
from survey.register.frame import Frame, as_columns, stratum_labels

__all__ = [
    "SELECTION_METHODS",
    "Selection",
    "inclusion_probabilities",
    "permanent_random_numbers",
    "select",
    "sizes_per_stratum",
]

SELECTION_METHODS = (
    "srswor",
    "systematic",
    "pps_systematic",
    "poisson",
    "pareto",
    "sequential_poisson",
)
_PPS = ("pps_systematic", "poisson", "pareto", "sequential_poisson")
_PRN_METHODS = ("srswor", "poisson", "pareto", "sequential_poisson")


# ---------------------------------------------------------------------------
# inclusion probabilities
# ---------------------------------------------------------------------------


def _group_sum(codes: np.ndarray, values: np.ndarray, H: int) -> np.ndarray:
    """Sums per group; correctly rounded (``math.fsum``) for a single group, as R's
    extended-precision ``sum``."""
    if H == 1:
        return np.array([math.fsum(values)])
    return np.bincount(codes, weights=values, minlength=H)


def _capped_pik(size: np.ndarray, codes: np.ndarray, n_h: np.ndarray) -> np.ndarray:
    """Probabilities proportional to size within strata, capped at 1 and rescaled.

    Follows R ``sampling::inclusionprobabilities`` step by step in every
    stratum at once (same arithmetic, so the same numbers).
    """
    H = n_h.size
    total = _group_sum(codes, size, H)
    n_h = n_h.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pik = n_h[codes] * size / total[codes]
    pik = np.where(np.isfinite(pik), pik, 0.0)
    level = np.bincount(codes, weights=pik >= 1, minlength=H)
    previous = np.zeros(H)
    while np.any(level != previous):
        below = pik < 1
        s = _group_sum(codes, np.where(below, pik, 0.0), H)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = pik / s[codes]
            pik = np.where(below, (n_h - level)[codes] * x, pik)
        pik = np.where(pik >= 1, 1.0, pik)
        previous = level
        level = np.bincount(codes, weights=pik >= 1, minlength=H)
    return np.where(np.isfinite(pik), pik, 0.0)


def inclusion_probabilities(size: Any, n: float) -> np.ndarray:
    """Inclusion probabilities proportional to size, with automatic certainty units.

    ``pi_k = n x_k / sum(x)``; units with ``pi_k >= 1`` get probability 1 and
    the others are rescaled to sum to ``n`` minus the number of such
    certainty units, until none exceeds 1. Same algorithm and numbers as R
    ``sampling::inclusionprobabilities(x, n)``.

    Parameters
    ----------
    size : array-like of float
        Size measure, finite and >= 0 (units of size 0 get probability 0).
    n : float
        Expected sample size, ``0 <= n <= `` number of units with size > 0.

    Returns
    -------
    numpy.ndarray
        Inclusion probabilities in ``[0, 1]`` summing to ``n``.

    Examples
    --------
    >>> inclusion_probabilities([1, 1, 2, 16], 2).tolist()
    [0.25, 0.25, 0.5, 1.0]
    """
    x = np.asarray(size, dtype=float)
    if x.ndim != 1:
        raise SelectionError("inclusion_probabilities needs a one-dimensional size array")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise SelectionError(
            f"inclusion_probabilities: size must be finite and >= 0; bad values at positions "
            f"{bad[:5].tolist()}"
        )
    positive = int((x > 0).sum())
    if not 0 <= n <= positive:
        raise SelectionError(
            f"inclusion_probabilities: n={n} must be between 0 and the number of units "
            f"with positive size ({positive})"
        )
    return _capped_pik(x, np.zeros(x.size, dtype=np.intp), np.array([n], dtype=float))


# ---------------------------------------------------------------------------
# permanent random numbers
# ---------------------------------------------------------------------------


def permanent_random_numbers(ids: Any, *, seed: int = 0) -> np.ndarray:
    """Permanent random numbers derived from unit ids: uniform on ``[0, 1)``.

    Each id is hashed (SipHash-2-4 keyed by ``seed``, ``pandas.util.hash_array``;
    the top 53 bits make the number), so a firm keeps its PRN in every
    year's register without storing it, new firms get fresh independent
    PRNs, and a different ``seed`` gives an independent set (for an
    independent survey).

    Parameters
    ----------
    ids : array-like
        Unit ids (converted to strings).
    seed : int, default=0
        Key of the PRN set (0 <= seed < 10**16).

    Returns
    -------
    numpy.ndarray of float

    Examples
    --------
    >>> a = permanent_random_numbers(["91450100MA5KA1B2CM", "x"], seed=1)
    >>> b = permanent_random_numbers(["x"], seed=1)
    >>> bool(a[1] == b[0]), bool(0 <= a.min() and a.max() < 1)
    (True, True)
    """
    seed = int(seed)
    if not 0 <= seed < 10**16:
        raise SelectionError(f"permanent_random_numbers: seed must be in [0, 10**16), got {seed}")
    values = pd.Series(ids).astype(str).to_numpy(dtype=object)
    hashed = pd.util.hash_array(values, hash_key=f"{seed:016d}", categorize=False)
    bits = hashed.astype(np.uint64) >> np.uint64(11)
    return bits.astype(np.float64) * 2.0**-53


# ---------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------


def _resolve_seed(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int | None]:
    """A generator and the integer seed to record (drawn from entropy when None)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise SelectionError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


def _rank_within(codes: np.ndarray, key: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank (0-based) of each unit within its stratum by ``key`` in ``[-0.5, 1)``.

    Returns ranks and the stratum sizes ``N_h``.
    """
    combined = 2.0 * codes + key  # stratum h spans [2h - 0.5, 2h + 1)
    order = np.argsort(combined)
    # Rounding of 2h + key is monotone, so the order is exact except where two keys of one
    # stratum collapse to the same sum (keys closer than 2^-53 * 2h): then sort exactly.
    ranked = combined[order]
    if np.any(ranked[1:] == ranked[:-1]):
        order = np.lexsort((key, codes))
    N_h = np.bincount(codes, minlength=H)
    offsets = np.concatenate(([0], np.cumsum(N_h)[:-1]))
    rank = np.empty(codes.size, dtype=np.int64)
    rank[order] = np.arange(codes.size, dtype=np.int64) - offsets[codes[order]]
    return rank, N_h


def _lowest_ranks(
    codes: np.ndarray, u: np.ndarray, need: np.ndarray, N_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks within strata of uniform keys ``u``, exact for the ``need_h`` lowest.

    Only candidates below a per-stratum bound (a high binomial quantile of
    ``need_h / N_h``) are sorted, so a 10-million-unit frame sorts a few
    hundred thousand numbers; strata with too few candidates are redone with
    all their units. Units that are not candidates get rank ``N_h``.
    """
    H = N_h.size
    Nf = np.maximum(N_h, 1).astype(float)
    p = np.minimum(need / Nf, 1.0)
    bound = p + 6.0 * np.sqrt(p * (1.0 - p) / Nf) + 4.0 / Nf
    bound = np.where((need >= N_h) | (bound >= 0.5), 1.01, bound)
    candidate = u < bound[codes]
    count = np.bincount(codes[candidate], minlength=H)
    short = count < np.minimum(need, N_h)
    if short.any():
        bound = np.where(short, 1.01, bound)
        candidate = u < bound[codes]
    idx = np.flatnonzero(candidate)
    rank_c, _ = _rank_within(codes[idx], u[idx], H)
    return idx, rank_c


def sizes_per_stratum(n: Any, labels: pd.DataFrame, columns: Sequence[str], *,
                      caller: str = "select") -> np.ndarray:
    """Sample sizes ``n_h`` in the order of ``labels`` from ``n``: one number for every
    stratum, one per stratum, a mapping ``label -> n``, a table with the stratum column(s)
    (or ``stratum``) and ``n``, or an :class:`~survey.plan.Allocation`. Used by
    :func:`select` and :func:`survey.plan.sql.select_prn` (``caller`` names it in errors).

    Raises :class:`~survey.errors.SelectionError` naming the strata without a size or
    with a size that is not a whole number >= 0.

    Examples
    --------
    >>> labels = pd.DataFrame({"stratum": ["a", "b"], "h": ["a", "b"]})
    >>> sizes_per_stratum({"a": 2, "b": 3}, labels, ["h"])
    array([2, 3])
    >>> sizes_per_stratum(pd.DataFrame({"h": ["b", "a"], "n": [1, 4]}), labels, ["h"])
    array([4, 1])
    """
    columns = list(columns)
    H = len(labels)
    if hasattr(n, "table") and callable(n.table):  # an Allocation
        n = n.table()
    if isinstance(n, pd.DataFrame):
        if "n" not in n.columns:
            raise SelectionError(f"{caller}: a table of sample sizes needs a column 'n'")
        keys = [c for c in columns if c in n.columns] or (["stratum"] if "stratum" in n.columns else [])
        if not keys:
            raise SelectionError(
                f"{caller}: the table of sample sizes needs the stratum column(s) {columns}")
        left = labels[keys].astype(str)
        right = n[keys + ["n"]].copy()
        right[keys] = right[keys].astype(str)
        values = left.merge(right, on=keys, how="left")["n"].to_numpy(dtype=float, na_value=np.nan)
    elif isinstance(n, (Mapping, pd.Series)):
        mapping = dict(n.items())
        raw = labels[columns[0]] if len(columns) == 1 else labels["stratum"]
        values = np.array([mapping.get(lab, mapping.get(r, np.nan))
                           for lab, r in zip(labels["stratum"], raw)], dtype=float)
    else:
        arr = np.atleast_1d(np.asarray(n, dtype=float))
        if arr.size == 1:
            values = np.full(H, arr[0])
        elif arr.size == H:
            values = arr
        else:
            raise SelectionError(f"{caller}: n has {arr.size} values but there are {H} strata")
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        raise SelectionError(
            f"{caller}: no sample size for stratum/strata {labels['stratum'].iloc[missing[:5]].tolist()}")
    bad = np.flatnonzero((values < 0) | (values != np.round(values)))
    if bad.size:
        raise SelectionError(
            f"{caller}: sample sizes must be whole numbers >= 0; stratum "
            f"{labels['stratum'].iloc[bad[0]]!r} has {values[bad[0]]}"
        )
    return values.astype(np.int64)


@dataclass(frozen=True, kw_only=True, eq=False)
class Selection:
    """A selected sample, ready for :class:`survey.Survey`.

    Attributes
    ----------
    data : pandas.DataFrame
        The selected units with all register columns plus ``stratum`` (label),
        ``prn`` (key used), ``inclusion_probability``, ``design_weight``
        (``1 / inclusion_probability``), ``N_h`` (stratum population size, the
        fpc) and ``n_h`` (stratum sample size).
    strata : pandas.DataFrame
        One row per stratum: ``stratum``, ``N_h``, ``n_h``.
    method, seed, start, rotation, period
        How the sample was drawn; ``seed`` is the integer seed (``None`` when
        a Generator was passed).
    """

    data: pd.DataFrame
    strata: pd.DataFrame
    method: str
    seed: int | None
    start: float
    rotation: float
    period: int

    @property
    def n(self) -> int:
        """Number of selected units."""
        return len(self.data)

    def design(self) -> Any:
        """The :class:`survey.Design` of this sample, with the variance its method calls for.

        * ``"srswor"``, ``"systematic"``: strata, design weights and the
          stratum population sizes as fpc (systematic sampling is treated as
          SRS, the usual approximation);
        * ``"poisson"``: ``pps="poisson"``, the exact variance of Poisson
          sampling, ``sum (1 - pi) (y / pi)^2``;
        * ``"pps_systematic"``, ``"pareto"``, ``"sequential_poisson"``
          (fixed-size πps without replacement): ``pps="hartley-rao"``,
          Hartley and Rao's approximation of the joint probabilities (derived
          for randomised systematic πps, close to the exact variance of
          high-entropy designs such as Pareto and sequential Poisson; the joint
          probabilities of ordered systematic sampling include zeros, so no
          unbiased estimator exists).

        Certainty units are in their own ``"<stratum>/certainty"`` stratum
        (``pi = 1``): they add no variance. See ``docs/variance.md``.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"firm_id": range(6), "h": list("aaabbb")})
        >>> sel = select(df, 2, strata="h", seed=1)
        >>> sel.design()
        Design(strata='stratum', clusters=(), weights='design_weight', probs=None, fpc=('N_h',), lonely_psu='fail')
        >>> pps = select(df.assign(x=[1, 2, 3, 4, 5, 30]), 2, strata="h", size="x", method="pareto", seed=1)
        >>> pps.design().pps
        'hartley-rao'
        """
        from survey.design import Design

        if self.method == "poisson":
            return Design(strata="stratum", probs="inclusion_probability", pps="poisson")
        if self.method in _PPS:
            return Design(strata="stratum", probs="inclusion_probability", pps="hartley-rao")
        return Design(strata="stratum", weights="design_weight", fpc="N_h")

    def table(self) -> pd.DataFrame:
        """Per-stratum ``stratum, N_h, n_h`` (copy).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"firm_id": range(6), "h": list("aaabbb")})
        >>> select(df, 2, strata="h", seed=1).table()["n_h"].tolist()
        [2, 2]
        """
        return self.strata.copy()


def select(
    frame: Frame | pd.DataFrame,
    n: Any,
    *,
    method: str = "srswor",
    strata: str | Sequence[str] | None = None,
    size: str | None = None,
    prn: str | None = "prn",
    seed: int | np.random.Generator | None = None,
    start: float = 0.0,
    rotation: float = 0.0,
    period: int = 0,
    order: str | None = None,
) -> Selection:
    """Select a stratified sample.

    Parameters
    ----------
    frame : Frame or pandas.DataFrame
        The register. With a :class:`~survey.register.frame.Frame`, its strata and
        size columns are the defaults.
    n : int, array-like, mapping, pandas.DataFrame or Allocation
        Sample size per stratum: one number for every stratum, one per
        stratum in sorted label order, a mapping ``label -> n``, a table with
        the stratum column(s) and ``n`` (e.g. ``Allocation.table()``), or an
        :class:`~survey.plan.Allocation`. For ``"poisson"`` it is the expected size.
    method : {"srswor", "systematic", "pps_systematic", "poisson", "pareto", \
"sequential_poisson"}, default="srswor"
        ``srswor``: simple random sampling without replacement (sequential
        SRS on the PRNs); ``systematic``: equal-probability systematic
        sampling in frame (or ``order``) order; ``pps_systematic``:
        systematic pps; ``poisson``: Poisson pps on the PRNs; ``pareto``:
        Pareto order pps (Rosen 1997); ``sequential_poisson``: sequential
        Poisson pps (Ohlsson 1998). The pps methods use
        :func:`inclusion_probabilities` within strata (certainty units are
        taken with probability 1).
    strata : str, sequence of str or None, default=None
        Stratum column(s); default the frame's strata (none: one stratum).
    size : str or None, default=None
        Size measure for pps methods; default the frame's size column.
    prn : str or None, default="prn"
        Column of permanent random numbers in ``[0, 1)``. When it is absent
        (or ``None``) fresh uniform numbers are drawn from ``seed`` and
        returned in the ``prn`` column of the sample.
    seed : int, numpy.random.Generator or None, default=None
        Seed of the draw (recorded in :attr:`Selection.seed`).
    start : float, default=0.0
        PRN starting point in ``[0, 1)``; a second survey with ``start=0.5``
        avoids the firms of the first (negative coordination).
    rotation : float, default=0.0
        Share of each stratum's sample to replace per period, in ``[0, 1]``
        (PRN methods only). For ``srswor`` the number replaced after
        ``period`` periods is ``floor(period * rotation * n_h + phase_h)``
        with a fixed phase per stratum (exact when ``rotation * n_h`` is
        whole); for pps methods the PRN start moves by ``period * rotation *
        n_h / N_h`` (rotation in expectation).
    period : int, default=0
        Number of rotation periods since the starting point (e.g. year - 2006).
    order : str or None, default=None
        Column that orders units within strata for systematic methods
        (default: frame row order).

    Returns
    -------
    Selection
        Selected units with ``stratum, prn, inclusion_probability,
        design_weight, N_h, n_h`` columns; ``Selection.design()`` gives the
        matching :class:`survey.Design`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": range(10), "h": ["a"] * 4 + ["b"] * 6,
    ...                    "prn": [0.9, 0.1, 0.5, 0.3, 0.2, 0.8, 0.6, 0.05, 0.7, 0.4]})
    >>> sel = select(df, {"a": 2, "b": 3}, strata="h")
    >>> sel.data["firm_id"].tolist()
    [1, 3, 4, 7, 9]
    >>> sel.data["design_weight"].tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0]
    """
    if method not in SELECTION_METHODS:
        raise SelectionError(f"select: method must be one of {SELECTION_METHODS}, got {method!r}")
    if isinstance(frame, Frame):
        data = frame.data
        strata = frame.strata if strata is None else strata
        size = frame.size if size is None else size
    elif isinstance(frame, pd.DataFrame):
        data = frame
    else:
        raise SelectionError(f"select needs a Frame or a DataFrame, got {type(frame).__name__}")
    if not 0.0 <= float(start) < 1.0:
        raise SelectionError(f"select: start must be in [0, 1), got {start}")
    if not 0.0 <= float(rotation) <= 1.0:
        raise SelectionError(f"select: rotation must be a share in [0, 1], got {rotation}")
    if rotation and method not in _PRN_METHODS:
        raise SelectionError(
            f"select: rotation works with the PRN methods {_PRN_METHODS}, not {method!r}"
        )
    columns = as_columns(strata)
    unknown = [c for c in (*columns, *([size] if size else []), *([order] if order else []))
               if c not in data.columns]
    if unknown:
        raise ColumnError(f"select: column(s) {unknown} not in the frame; have {list(data.columns)}")
    rng, seed_used = _resolve_seed(seed)
    codes, labels = stratum_labels(data, columns)
    H = len(labels)
    n_h = sizes_per_stratum(n, labels, columns)
    N_h = np.bincount(codes, minlength=H)
    over = np.flatnonzero(n_h > N_h)
    if over.size:
        h = over[0]
        raise SelectionError(
            f"select: stratum {labels['stratum'].iloc[h]!r} asks for n={n_h[h]} units but has "
            f"only N={N_h[h]}; lower n or merge strata ({over.size} stratum/strata affected)"
        )
    N = len(data)

    # keys: permanent random numbers or fresh uniforms
    if prn is not None and prn in data.columns:
        u = data[prn].to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~((u >= 0) & (u < 1)))
        if bad.size:
            raise SelectionError(
                f"select: PRN column {prn!r} must hold numbers in [0, 1); rows "
                f"{data.index[bad[:5]].tolist()} do not"
            )
    else:
        u = rng.random(N)
    u_raw = u
    if start:
        u = np.mod(u - float(start), 1.0)

    # inclusion probabilities
    if method in _PPS:
        if size is None:
            raise SelectionError(f"select: method {method!r} needs a size column (size=...)")
        x = data[size].to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
        if bad.size:
            raise SelectionError(
                f"select: size column {size!r} must be finite and >= 0; rows "
                f"{data.index[bad[:5]].tolist()} are not"
            )
        positive = np.bincount(codes, weights=x > 0, minlength=H)
        short = np.flatnonzero(n_h > positive)
        if short.size:
            h = short[0]
            raise SelectionError(
                f"select: stratum {labels['stratum'].iloc[h]!r} asks for n={n_h[h]} but only "
                f"{int(positive[h])} units have a positive size {size!r}"
            )
        pik = _capped_pik(x, codes, n_h.astype(float))
        certain = pik >= 1.0
    else:
        fraction = np.divide(n_h, N_h, out=np.zeros(H), where=N_h > 0)
        pik = None  # equal probabilities: fraction[codes], formed for the sample only

    if method == "srswor":
        # cumulative: after p periods the start has moved past floor(p * rotation * n_h
        # + phase_h) units, with a fixed phase per stratum (from its label), so that
        # small strata rotate too, at the right rate on average (n_h = 2, rotation
        # 0.2: one unit every 2-3 periods) and exactly when rotation * n_h is whole
        phase = permanent_random_numbers(labels["stratum"], seed=0)
        shift = np.floor(period * rotation * n_h + phase).astype(np.int64)
        shift = np.mod(shift, np.maximum(N_h, 1))
        cand, rank = _lowest_ranks(codes, u, np.minimum(shift + n_h, N_h), N_h)
        c = codes[cand]
        moved = np.mod(rank - shift[c], np.maximum(N_h[c], 1))
        idx = np.sort(cand[moved < n_h[c]])
    elif method in ("systematic", "pps_systematic"):
        if order is not None:
            key = pd.Series(data[order]).rank(method="first").to_numpy() / (N + 1.0)
        else:
            key = np.arange(N) / float(max(N, 1))
        rank, _ = _rank_within(codes, key * 0.999, H)
        sorted_idx = np.empty(N, dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(N_h)[:-1]))
        sorted_idx[offsets[codes] + rank] = np.arange(N)
        p_sorted = pik[sorted_idx] if pik is not None else fraction[codes[sorted_idx]]
        c_sorted = codes[sorted_idx]
        cum = np.cumsum(p_sorted)
        base = np.concatenate(([0.0], cum))[offsets][c_sorted]
        cum_within = cum - base
        r = rng.random(H)
        upper = np.floor(cum_within - r[c_sorted] + 1e-9)
        lower = np.floor(cum_within - p_sorted - r[c_sorted] + 1e-9)
        idx = np.sort(sorted_idx[upper > lower])
    elif method == "poisson":
        shift = period * rotation * np.divide(n_h, N_h, out=np.zeros(H), where=N_h > 0)
        u = np.mod(u - shift[codes], 1.0)
        idx = np.flatnonzero(u < pik)
    else:  # pareto / sequential_poisson
        shift = period * rotation * np.divide(n_h, N_h, out=np.zeros(H), where=N_h > 0)
        u = np.mod(u - shift[codes], 1.0)
        lam = np.clip(pik, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "pareto":
                q = (u / (1.0 - u)) / (lam / (1.0 - lam))
            else:
                q = u / lam
        q = np.where(lam > 0, q, np.inf)
        key = np.where(certain, -0.5, q / (1.0 + q))  # monotone map to [0, 1)
        key = np.where(np.isnan(key), 1.0 - 1e-12, key)
        rank, _ = _rank_within(codes, key, H)
        idx = np.flatnonzero((rank < n_h[codes]) & (lam > 0))
    realised = np.bincount(codes[idx], minlength=H)
    picked = data.iloc[idx]
    stratum = labels["stratum"].to_numpy()[codes[idx]]
    if method in _PPS:
        cert_idx = certain[idx]
        stratum = np.where(cert_idx, np.char.add(stratum.astype(str), "/certainty"), stratum)
        n_cert = np.bincount(codes[idx], weights=cert_idx, minlength=H)
        N_cert = np.bincount(codes, weights=certain, minlength=H)
        fpc = np.where(cert_idx, N_cert[codes[idx]], (N_h - N_cert)[codes[idx]])
        n_out = np.where(cert_idx, n_cert[codes[idx]], (realised - n_cert)[codes[idx]])
    else:
        fpc = N_h[codes[idx]]
        n_out = realised[codes[idx]]
    pik_idx = pik[idx] if pik is not None else fraction[codes[idx]]
    added = pd.DataFrame({
        "stratum": stratum,
        "prn": u_raw[idx],
        "inclusion_probability": pik_idx,
        "design_weight": 1.0 / pik_idx,
        "N_h": fpc.astype(np.int64),
        "n_h": n_out.astype(np.int64),
    }, index=picked.index)
    keep = [c for c in picked.columns if c not in added.columns]
    out = pd.concat([picked[keep], added], axis=1)
    table = labels.copy()
    table["N_h"] = N_h
    table["n_h"] = realised
    return Selection(
        data=out,
        strata=table,
        method=method,
        seed=seed_used,
        start=float(start),
        rotation=float(rotation),
        period=int(period),
    )
