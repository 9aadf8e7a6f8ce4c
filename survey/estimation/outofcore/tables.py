"""Finishing out-of-core statistics in numpy from the small tables the SQL passes return.

Stage fractions from the fpc range per stratum, the sorted domain keys and
their codes, stratum and domain codes joined to the per-(stratum, domain)
tables, the domain sums and counts, the missing-value rules (``na=``) and
their errors, and the :class:`survey.Estimate` built from the result. The
variance itself is formed in :mod:`survey.estimation.outofcore_variance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from survey.errors import ColumnError, DesignError, SurveyError
from survey.estimation.outofcore_variance import StageTable
from survey.estimation.results import Estimate
from survey.estimation.structure import fpc_fractions

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class Result:
    """Domain keys, point sums, counts and covariances of one estimation pass."""

    keys: pd.DataFrame
    sums: np.ndarray
    counts: np.ndarray
    cov: np.ndarray


def domain_sums(first: pd.DataFrame, D: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Point sums ``s{j}`` and counts ``c{j}`` added up per domain code ``__sv_dom``."""
    dom = first["__sv_dom"].to_numpy()
    sums = np.column_stack(
        [np.bincount(dom, weights=first[f"s{j}"].to_numpy(float), minlength=D) for j in range(k)]
    )
    counts = np.column_stack(
        [np.bincount(dom, weights=first[f"c{j}"].to_numpy(float), minlength=D) for j in range(k)]
    )
    return sums, counts


def check_na(na: str) -> None:
    """Check the ``na=`` policy."""
    if na not in ("error", "drop", "drop_each"):
        raise SurveyError(f"na={na!r} must be 'error', 'drop' or 'drop_each'")


def complete_cases(valid: list[str], na: str) -> list[str]:
    """Under ``na="drop"`` a row counts for every variable only if all are present (R na.rm)."""
    if na != "drop" or len(valid) < 2:
        return valid
    both = " AND ".join(f"({v})" for v in dict.fromkeys(valid))
    return [f"({both})"] * len(valid)


def raise_missing(table: pd.DataFrame, names: list[str], k: int) -> None:
    """Raise on the first variable with missing values (``bad{j}`` columns) under ``na="error"``."""
    for j in range(k):
        n = int(table[f"bad{j}"].sum())
        if n:
            raise ColumnError(
                f"column {names[j]!r} has {n} missing value(s); pass na='drop' to treat them as "
                "outside the domain (R na.rm=TRUE)"
            )


def stage_fraction(lo: np.ndarray, hi: np.ndarray, n_per_stratum: np.ndarray, labels: np.ndarray,
                   col: str, stage: int) -> np.ndarray:
    """Sampling fraction n/N per stratum from the min and max of an fpc column (as Survey)."""
    varying = hi - lo > 1e-9 * np.maximum(1.0, np.abs(hi))
    if varying.any():
        h = int(np.flatnonzero(varying)[0])
        raise DesignError(
            f"fpc column {col!r} varies within stratum {labels[h]!r} at stage {stage} "
            f"(from {lo[h]:g} to {hi[h]:g}); it must be constant within each stratum"
        )
    return fpc_fractions(hi, n_per_stratum, labels, col, stage)


def domain_keys(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sorted domain keys (``__sv_d*`` columns and ``__sv_dom`` codes); error on missing keys."""
    dal = [f"__sv_d{i}" for i in range(len(by))]
    if not by:
        return pd.DataFrame({"__sv_dom": [0]})
    keys = table[dal].drop_duplicates()
    isna = keys.isna().any(axis=1).to_numpy()
    if isna.any():
        bad = table[table[dal].isna().any(axis=1).to_numpy()]
        cols = [b for b, a in zip(by, dal) if keys[a].isna().any()]
        raise ColumnError(
            f"domain column(s) {cols} have missing values in {int(bad['__sv_rows'].sum())} row(s); "
            "fill them or subset them out before estimating by domain"
        )
    keys = keys.sort_values(dal, kind="stable").reset_index(drop=True)
    keys["__sv_dom"] = np.arange(len(keys))
    return keys


def with_domain(t: pd.DataFrame, keys: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add the domain code ``__sv_dom`` of each row's ``__sv_d*`` keys."""
    if not by:
        return t.assign(__sv_dom=0)
    at = row_of(keys, t, [f"__sv_d{i}" for i in range(len(by))])
    if (at < 0).any():
        raise SurveyError("internal error: a domain of the second pass is not in the first")
    return t.assign(__sv_dom=keys["__sv_dom"].to_numpy(dtype=np.intp)[at])


def with_stratum(st: StageTable, t: pd.DataFrame) -> pd.DataFrame:
    """Add the stratum number ``__sv_h`` (row of the stage table) of each row's ``__sv_k*`` keys."""
    if not st.keys:
        return t.assign(__sv_h=0)
    at = row_of(st.table, t, st.aliases)
    if (at < 0).any():
        raise SurveyError("internal error: a stratum of the estimation pass is not in the design")
    return t.assign(__sv_h=at)


def row_of(table: pd.DataFrame, t: pd.DataFrame, on: list[str]) -> np.ndarray:
    """The row number in ``table`` (unique on ``on``) of each row of ``t``, -1 where none:
    what a left merge on ``on`` finds, without the merge's cost on small frames."""
    if len(on) == 1:
        return pd.Index(table[on[0]]).get_indexer(t[on[0]]).astype(np.intp)
    index = pd.MultiIndex.from_frame(table[on])
    return index.get_indexer(pd.MultiIndex.from_frame(t[on])).astype(np.intp)


def to_estimate(statistic: str, by: list[str], labels: list[str], res: Result, point: np.ndarray,
                df: int) -> Estimate:
    """The :class:`survey.Estimate` of a pass: domains named by the ``by`` columns."""
    dal = [f"__sv_d{i}" for i in range(len(by))]
    if by:
        domains = res.keys[dal].rename(columns=dict(zip(dal, by))).reset_index(drop=True)
    else:
        domains = pd.DataFrame(index=range(1))
    return Estimate(
        statistic=statistic,
        by=tuple(by),
        method="linearization",
        domains=domains,
        variables=tuple(labels),
        point=np.asarray(point, dtype=float),
        cov=res.cov,
        df=df,
        n=res.counts,
    )
