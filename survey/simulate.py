"""Simulation harness: repeated sampling from a population with known truth.

Draw R samples with a user-given design function, run a user-given estimator
on each, and compare with the truth: bias, relative bias, empirical SE
against the mean estimated SE, and coverage of the confidence intervals.
This is how the toolkit proves that its estimators are unbiased and that its
intervals cover (see ``tests/test_simulate.py``).

>>> import numpy as np, pandas as pd, survey as sv
>>> from survey.simulate import simulate, stratified_srswor
>>> rng = np.random.default_rng(0)
>>> pop = pd.DataFrame({"h": np.repeat(["a", "b"], 500), "y": rng.gamma(2.0, 50.0, 1000)})
>>> result = simulate(
...     pop,
...     stratified_srswor("h", {"a": 40, "b": 60}),
...     lambda s: sv.Survey(s, sv.Design(strata="h", weights="weight", fpc="N_h")).total("y"),
...     truth=pop["y"].sum(), replications=200, seed=1)
>>> 0.85 < float(result.table()["coverage"].iloc[0]) <= 1.0
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from survey.errors import SelectionError, SurveyError
from survey.io import joined_labels
from survey.estimation.results import Estimate
from survey.lazy import lazy_module

# norm.ppf is ndtri, norm.sf(x) is ndtr(-x): scipy.stats (a second to import) is not needed
special = lazy_module("scipy.special")

__all__ = ["SimulationResult", "simulate", "stratified_srswor"]


@dataclass(frozen=True, kw_only=True, eq=False)
class SimulationResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    labels : tuple of str
        One label per estimated quantity (e.g. ``"gross_output"``).
    truth : numpy.ndarray
        True values, shape ``(k,)``.
    estimates, se, ci_low, ci_high : numpy.ndarray
        Per replication, shape ``(replications, k)``.
    replications : int
    level : float
        Confidence level of the intervals.
    seed : int
        ``simulate(..., seed=seed)`` repeats the run exactly.
    """

    labels: tuple[str, ...]
    truth: np.ndarray
    estimates: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    replications: int
    level: float
    seed: int

    def table(self) -> pd.DataFrame:
        """One row per quantity: how the estimator did over the replications.

        Columns: ``label, truth, mean_estimate, bias, relative_bias,
        bias_mc_se`` (Monte Carlo SE of the bias), ``empirical_se`` (SD of the
        estimates), ``mean_se`` (mean estimated SE), ``se_ratio``
        (mean_se / empirical_se), ``rmse, coverage, coverage_mc_se,
        mean_ci_length, n_valid`` (replications with a finite estimate, SE and
        interval; the statistics use those only) and ``replications``.

        Examples
        --------
        >>> import numpy as np
        >>> from survey.simulate import simulate
        >>> pop = np.arange(100.0)
        >>> res = simulate(pop, lambda p, rng: rng.choice(p, 10, replace=False),
        ...                lambda s: (100 * s.mean(), 100 * s.std(ddof=1) / np.sqrt(10)),
        ...                truth=pop.sum(), replications=50, seed=3)
        >>> list(res.table().columns[:4])
        ['label', 'truth', 'mean_estimate', 'bias']
        """
        est, se, lo, hi = self.estimates, self.se, self.ci_low, self.ci_high
        valid = np.isfinite(est) & np.isfinite(se) & np.isfinite(lo) & np.isfinite(hi)
        n_valid = valid.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.where(valid, est, np.nan)
            mean_est = np.nanmean(e, axis=0) if est.size else np.full(len(self.labels), np.nan)
            emp_se = np.nanstd(e, axis=0, ddof=1)
            mean_se = np.nanmean(np.where(valid, se, np.nan), axis=0)
            bias = mean_est - self.truth
            covered = np.where(valid, (lo <= self.truth) & (self.truth <= hi), np.nan)
            coverage = np.nanmean(covered, axis=0)
            rmse = np.sqrt(np.nanmean((e - self.truth) ** 2, axis=0))
            out = pd.DataFrame(
                {
                    "label": list(self.labels),
                    "truth": self.truth,
                    "mean_estimate": mean_est,
                    "bias": bias,
                    "relative_bias": np.where(self.truth != 0, bias / np.abs(self.truth), np.nan),
                    "bias_mc_se": emp_se / np.sqrt(n_valid),
                    "empirical_se": emp_se,
                    "mean_se": mean_se,
                    "se_ratio": mean_se / emp_se,
                    "rmse": rmse,
                    "coverage": coverage,
                    "coverage_mc_se": np.sqrt(coverage * (1 - coverage) / n_valid),
                    "mean_ci_length": np.nanmean(np.where(valid, hi - lo, np.nan), axis=0),
                    "n_valid": n_valid.astype(np.int64),
                    "replications": self.replications,
                }
            )
        return out

    def __str__(self) -> str:
        cols = ["label", "truth", "relative_bias", "empirical_se", "mean_se", "coverage", "n_valid"]
        head = f"Simulation: {self.replications} replications, seed={self.seed}, level={self.level:g}"
        return head + "\n" + self.table()[cols].to_string(index=False)


def simulate(
    population: Any,
    design_fn: Callable[[Any, np.random.Generator], Any],
    estimator_fn: Callable[[Any], Any],
    *,
    truth: Any,
    replications: int = 1000,
    seed: int | np.random.Generator | None = None,
    level: float = 0.95,
    labels: Any = None,
) -> SimulationResult:
    """Repeat sampling and estimation on a population with known truth.

    Parameters
    ----------
    population : pandas.DataFrame or any object
        Passed unchanged to ``design_fn`` on every replication (never modified).
    design_fn : callable ``(population, rng) -> sample``
        Draws one sample with the given :class:`numpy.random.Generator`; see
        :func:`stratified_srswor` for a ready one.
    estimator_fn : callable ``sample -> result``
        Returns a :class:`survey.Estimate` (intervals from its ``ci(level)``,
        t-based with the design df), any object with ``estimate`` and ``se``
        (and optionally ``ci_low``/``ci_high`` or a ``ci(level)`` method with
        those columns), a mapping with those keys, or an ``(estimate, se)``
        pair. Without intervals, normal intervals ``estimate +- z * se`` are used.
    truth : float, array-like or callable ``population -> array``
        True value of each estimated quantity (in the result's row order).
    replications : int, default=1000
    seed : int or numpy.random.Generator or None, default=None
        The int seed used is recorded in the result (a Generator or None
        first draws one).
    level : float, default=0.95
        Confidence level for the coverage.
    labels : sequence of str, optional
        Names of the quantities; default the ``variable`` column of the
        first result's ``table()`` when there is one, else ``"q0", "q1", ...``.

    Returns
    -------
    SimulationResult
        ``.table()`` gives bias, relative bias, empirical vs mean estimated
        SE and coverage, one row per quantity.

    Raises
    ------
    SurveyError
        If ``replications < 2``, ``level`` is not in (0, 1), or the
        estimator's output does not match ``truth`` in length.

    Examples
    --------
    >>> import numpy as np
    >>> from survey.simulate import simulate
    >>> pop = np.arange(1.0, 201.0)
    >>> def draw(p, rng):
    ...     return rng.choice(p, 20, replace=False)
    >>> def srs_total(s):
    ...     f = 20 / 200
    ...     return 200 * s.mean(), 200 * np.sqrt((1 - f) * s.var(ddof=1) / 20)
    >>> res = simulate(pop, draw, srs_total, truth=pop.sum(), replications=400, seed=7)
    >>> t = res.table()
    >>> abs(float(t["relative_bias"].iloc[0])) < 0.02, res.seed
    (True, 7)
    """
    replications = int(replications)
    if replications < 2:
        raise SurveyError(f"replications={replications}: use at least 2 (1,000 or more for coverage)")
    if not 0.0 < float(level) < 1.0:
        raise SurveyError(f"level={level!r} must be between 0 and 1")
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    elif seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63 - 1))
    seed = int(seed)
    rng = np.random.default_rng(seed)

    true = np.atleast_1d(np.asarray(truth(population) if callable(truth) else truth, dtype=float)).ravel()
    k = true.size
    est = np.full((replications, k), np.nan)
    se = np.full((replications, k), np.nan)
    lo = np.full((replications, k), np.nan)
    hi = np.full((replications, k), np.nan)
    z = special.ndtri(0.5 + level / 2.0)
    found_labels: list[str] | None = None
    for r in range(replications):  # replications are inherently sequential user calls
        sample = design_fn(population, rng)
        result = estimator_fn(sample)
        e, s, l, h, lab = _unpack(result, level, z)
        if e.size != k:
            raise SurveyError(
                f"replication {r}: the estimator returned {e.size} value(s) but truth has {k}; "
                f"give one true value per estimated quantity, in the same order"
            )
        est[r], se[r], lo[r], hi[r] = e, s, l, h
        if found_labels is None:
            found_labels = _row_labels(lab.table(), lab.by) if isinstance(lab, Estimate) else lab
    if labels is not None:
        names = tuple(str(x) for x in (labels if not isinstance(labels, str) else [labels]))
        if len(names) != k:
            raise SurveyError(f"labels has {len(names)} names but there are {k} quantities")
    elif found_labels is not None and len(found_labels) == k and len(set(found_labels)) == k:
        names = tuple(found_labels)
    else:
        names = tuple(f"q{j}" for j in range(k))
    return SimulationResult(
        labels=names,
        truth=true,
        estimates=est,
        se=se,
        ci_low=lo,
        ci_high=hi,
        replications=replications,
        level=float(level),
        seed=seed,
    )


def _unpack(result: Any, level: float, z: float):
    """Point, SE, interval and labels from an estimator's output."""
    labels = None
    if isinstance(result, Estimate):
        # the core's own t-based interval, without building a table each time
        low, high = result.ci_bounds(level)
        return result.estimate, result.se, low, high, result
    if isinstance(result, tuple) and len(result) == 2:
        e = np.atleast_1d(np.asarray(result[0], dtype=float)).ravel()
        s = np.atleast_1d(np.asarray(result[1], dtype=float)).ravel()
        return e, s, e - z * s, e + z * s, None
    get = result.get if isinstance(result, Mapping) else lambda key, default=None: getattr(result, key, default)
    if get("estimate") is None or get("se") is None:
        raise SurveyError(
            "the estimator must return a survey Estimate, an object or mapping with "
            f"'estimate' and 'se', or an (estimate, se) pair; got {type(result).__name__}"
        )
    e = np.atleast_1d(np.asarray(get("estimate"), dtype=float)).ravel()
    s = np.atleast_1d(np.asarray(get("se"), dtype=float)).ravel()
    low, high = get("ci_low"), get("ci_high")
    ci = get("ci")
    if low is not None and high is not None and not callable(low):
        l = np.atleast_1d(np.asarray(low, dtype=float)).ravel()
        h = np.atleast_1d(np.asarray(high, dtype=float)).ravel()
    elif callable(ci):
        frame = ci(level)
        l = frame["ci_low"].to_numpy(dtype=float)
        h = frame["ci_high"].to_numpy(dtype=float)
        if "variable" in frame.columns:
            labels = _row_labels(frame, getattr(result, "by", ()))
    else:
        l, h = e - z * s, e + z * s
    return e, s, l, h, labels


def _row_labels(frame: pd.DataFrame, by: Any) -> list[str]:
    by = [c for c in (by or ()) if c in frame.columns]
    variable = frame["variable"].astype(str)
    if not by:
        return variable.tolist()
    keys = joined_labels(frame, by, ":")
    return (keys + "|" + variable).tolist()


def stratified_srswor(
    strata: str | None,
    sizes: int | Mapping[Any, int] | pd.Series,
    *,
    weight_column: str = "weight",
    fpc_column: str = "N_h",
) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """A design function for :func:`simulate`: stratified simple random sampling without replacement.

    Parameters
    ----------
    strata : str or None
        Stratum column of the population (None: one stratum).
    sizes : int or mapping or pandas.Series
        Sample size per stratum (an int applies to every stratum). A
        stratum whose size equals its population count is taken whole
        (take-all, zero variance with ``fpc``).
    weight_column, fpc_column : str, default="weight", "N_h"
        Names of the added columns: design weight ``N_h / n_h`` and stratum
        population count ``N_h``.

    Returns
    -------
    callable ``(population, rng) -> sample``
        The sample is a new DataFrame (population rows in their original
        order) with the two added columns. Selection is vectorised: one
        argsort of random keys offset by the stratum code.

    Raises
    ------
    SelectionError
        If a stratum's size exceeds its population count, is below 1, or a
        stratum of the population has no size.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from survey.simulate import stratified_srswor
    >>> pop = pd.DataFrame({"h": ["a"] * 5 + ["b"] * 3, "y": np.arange(8.0)})
    >>> draw = stratified_srswor("h", {"a": 2, "b": 3})
    >>> s = draw(pop, np.random.default_rng(0))
    >>> s.groupby("h")["weight"].first().tolist(), len(s)
    ([2.5, 1.0], 5)
    """
    cache: list = []  # (population, prepared arrays) of the last population seen

    def prepare(population: pd.DataFrame):
        if cache and cache[0][0] is population:
            return cache[0][1]
        if strata is None:
            codes = np.zeros(len(population), dtype=np.int64)
            uniques = pd.Index([0])
        else:
            if strata not in population.columns:
                raise SelectionError(f"strata column {strata!r} is not in the population")
            codes, uniques = pd.factorize(population[strata], sort=True)
            if (codes < 0).any():
                raise SelectionError(f"strata column {strata!r} has missing values; give every unit a stratum")
        N = np.bincount(codes, minlength=len(uniques))
        if isinstance(sizes, (int, np.integer)):
            n = np.full(len(uniques), int(sizes))
        else:
            table = pd.Series(sizes) if not isinstance(sizes, pd.Series) else sizes
            n_series = table.reindex(uniques if strata is not None else [0])
            if n_series.isna().any():
                missing = list(uniques[n_series.isna().to_numpy()][:5])
                raise SelectionError(f"no sample size for stratum(s) {missing}; give a size for every stratum")
            n = n_series.to_numpy(dtype=np.int64)
        bad = (n < 1) | (n > N)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise SelectionError(
                f"stratum {uniques[j]!r}: sample size {int(n[j])} is not between 1 and the "
                f"stratum's population count {int(N[j])}"
            )
        start = np.concatenate([[0], np.cumsum(N)[:-1]])
        prepared = (codes, N, n, start)
        cache[:] = [(population, prepared)]
        return prepared

    def draw(population: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        codes, N, n, start = prepare(population)
        order = np.argsort(codes + rng.random(len(codes)), kind="stable")
        rank = np.empty(len(codes), dtype=np.int64)
        rank[order] = np.arange(len(codes)) - start[codes[order]]
        chosen = np.flatnonzero(rank < n[codes])
        sample = population.iloc[chosen].reset_index(drop=True)
        c = codes[chosen]
        sample[weight_column] = N[c] / n[c]
        sample[fpc_column] = N[c].astype(float)
        return sample

    return draw

