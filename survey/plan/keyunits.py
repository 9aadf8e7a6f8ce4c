"""Key units (重点调查) and typical units (典型调查) of a sample plan.

* **Key units**: within each cell the user names (an industry, a city...), the
  largest units by a register size variable, until they carry a given share of
  the cell's total (or a fixed number of them). They are enumerated (reported
  in full, like the take-all part); the rest of the cell is sampled, or left
  take-none and estimated by the cut-off model
  (:func:`survey.estimation.combined.cutoff_model`).
* **Typical units**: purposively chosen firms whose returns are collected and
  shown as case studies. They stay in the population the sample represents
  (counted in ``N_h``) but are never drawn into the probability sample, so
  their values never enter a design-based estimate or its variance.

Examples
--------
>>> import pandas as pd
>>> reg = pd.DataFrame({"ind": ["a"] * 5 + ["b"] * 3, "x": [50.0, 20, 10, 10, 10, 5, 5, 5]})
>>> key_unit_mask(reg, size="x", by="ind", cells=["a"], share=0.6).tolist()
[True, True, False, False, False, False, False, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ColumnError, PlanError
from survey.io import member

__all__ = ["KEY_UNIT_KEYS", "TYPICAL_KEYS", "above_size", "cell_codes", "key_unit_mask",
           "key_unit_problems", "typical_mask", "uncovered_cells"]

#: Keys of ``[plan.key_units]``.
KEY_UNIT_KEYS = frozenset({"by", "cells", "share", "number", "size", "rest"})
#: Keys of ``[plan.typical]``.
TYPICAL_KEYS = frozenset({"ids", "column", "model_inputs"})


def _names(value: str | Sequence[str] | None) -> list[str]:
    return [] if value is None else ([value] if isinstance(value, str) else list(value))


def key_unit_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems of a ``[plan.key_units]`` section as ``(key, message)`` pairs.

    Examples
    --------
    >>> key_unit_problems({"by": "industry", "share": 0.8})
    []
    >>> key_unit_problems({"by": "industry", "share": 1.5, "number": 3, "rest": "none"})[0]
    ('share', 'give share or number, not both')
    """
    out: list[tuple[str, str]] = []
    for key in sorted(set(section) - KEY_UNIT_KEYS):
        out.append((key, "unknown key; known keys: " + ", ".join(sorted(KEY_UNIT_KEYS))))
    if not _names(section.get("by")):
        out.append(("by", "missing: the cell column(s) within which key units are chosen, "
                          "e.g. by = 'industry'"))
    share, number = section.get("share"), section.get("number")
    if share is not None and number is not None:
        out.append(("share", "give share or number, not both"))
    elif share is None and number is None:
        out.append(("share", "missing: give share (e.g. 0.8 of the cell's size total) or number"))
    elif share is not None and not (isinstance(share, (int, float)) and 0 < float(share) <= 1):
        out.append(("share", f"must be in (0, 1], got {share!r}"))
    elif number is not None and not (isinstance(number, int) and number >= 1):
        out.append(("number", f"must be an integer >= 1, got {number!r}"))
    rest = section.get("rest", "sample")
    if rest not in ("sample", "take_none"):
        out.append(("rest", f"must be 'sample' or 'take_none' (modelled), got {rest!r}"))
    cells = section.get("cells")
    if cells is not None and not (isinstance(cells, (list, tuple)) and cells):
        out.append(("cells", "must be a non-empty list of cell values, e.g. ['3153', '2221']"))
    return out


def cell_codes(data: pd.DataFrame, by: str | Sequence[str]) -> tuple[np.ndarray, pd.Series]:
    """The cell of every unit (codes 0..C-1) and the cell labels (``"a/b"`` for several
    columns).

    Examples
    --------
    >>> cell_codes(pd.DataFrame({"ind": ["b", "a", "b"]}), "ind")[0].tolist()
    [1, 0, 1]
    """
    by = _names(by)
    missing = [c for c in by if c not in data.columns]
    if missing:
        raise ColumnError(f"key units: cell column(s) {missing} not in the register")
    g = data.groupby(by, sort=True, observed=True, dropna=False)
    codes = g.ngroup().to_numpy()
    keys = g.size().index
    label = pd.Series(["/".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in keys])
    return codes, label


def key_unit_mask(data: pd.DataFrame, *, size: str, by: str | Sequence[str],
                  cells: Sequence[Any] | None = None, share: float | None = None,
                  number: int | None = None, eligible: np.ndarray | None = None) -> np.ndarray:
    """Which units are key units: the largest of each named cell by ``size``.

    Within each cell (rows with the same ``by`` values; only the ``cells``
    named, default every cell), units are sorted by ``size``, largest first,
    and taken until their cumulative size reaches ``share`` of the cell's
    total (the unit that crosses the share is included), or the ``number``
    largest are taken. The share counts every unit of the cell, so units
    already enumerated (take-all, not ``eligible``) count toward it but are
    not returned.

    Parameters
    ----------
    data : pandas.DataFrame
        The register.
    size : str
        Size column (missing sizes count as 0).
    by : str or sequence of str
        Cell columns.
    cells : sequence, optional
        Cell values (one column: values; several: ``"a/b"`` labels) where key
        units are chosen; default every cell.
    share : float, optional
        Share of the cell's size total the key units (with the enumerated
        units) carry, in (0, 1].
    number : int, optional
        Instead of ``share``: the number of largest units per cell.
    eligible : numpy.ndarray of bool, optional
        Units that may become key units (default all).

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    PlanError
        Neither or both of ``share`` and ``number``, or a named cell not in
        the register.

    Examples
    --------
    >>> reg = pd.DataFrame({"ind": ["a", "a", "a", "b", "b"], "x": [5.0, 3, 2, 4, 1]})
    >>> key_unit_mask(reg, size="x", by="ind", number=1).tolist()
    [True, False, False, True, False]
    """
    byl = _names(by)
    problems = key_unit_problems({"by": byl, "share": share, "number": number})
    if problems:
        raise PlanError("key units: " + "; ".join(f"{k}: {m}" for k, m in problems))
    if size not in data.columns:
        raise ColumnError(f"key units: size column {size!r} not in the register")
    codes, label = cell_codes(data, byl)
    x = data[size].to_numpy(dtype=float, na_value=np.nan)
    x = np.where(np.isfinite(x), x, 0.0)
    chosen = np.ones(len(label), dtype=bool)
    if cells is not None:
        wanted = [str(c) for c in cells]
        unknown = sorted(set(wanted) - set(label))
        if unknown:
            raise PlanError(f"key units: cell(s) {unknown} of {byl} not in the register; its cells "
                            f"are {label.tolist()[:12]}")
        chosen = label.isin(wanted).to_numpy()
    order = np.lexsort((-x, codes))  # by cell, largest first
    xs, cs = x[order], codes[order]
    total = np.bincount(codes, weights=x, minlength=len(label))
    cum = np.cumsum(xs)
    start = np.concatenate(([0.0], np.cumsum(total)))[cs]
    before = cum - xs - start  # size of the larger units of the same cell
    if number is not None:
        first = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(label)))))[cs]
        take = (np.arange(len(xs)) - first) < int(number)
    else:
        take = before < float(share) * total[cs] - 1e-9 * np.abs(total[cs])
    take &= chosen[cs]
    out = np.zeros(len(data), dtype=bool)
    out[order] = take
    if eligible is not None:
        out &= np.asarray(eligible, dtype=bool)
    return out


def typical_mask(data: pd.DataFrame, *, id: str, ids: Sequence[Any] | None = None,
                 column: str | None = None) -> np.ndarray:
    """Which units are typical units: listed by id, or flagged by a boolean column.

    Raises
    ------
    PlanError
        An id not in the register, or the column missing.

    Examples
    --------
    >>> reg = pd.DataFrame({"firm_id": ["a", "b", "c"]})
    >>> typical_mask(reg, id="firm_id", ids=["c"]).tolist()
    [False, False, True]
    """
    out = np.zeros(len(data), dtype=bool)
    if column is not None:
        if column not in data.columns:
            raise PlanError(f"[plan.typical] column: {column!r} not in the register")
        out |= data[column].fillna(False).to_numpy(dtype=bool)
    if ids:
        given = pd.Index([str(i) for i in ids])
        have = data[id].astype(str)
        unknown = given[~member(given, have)]
        if len(unknown):
            raise PlanError(f"[plan.typical] ids: {unknown.tolist()[:5]} not in the register "
                            f"(column {id!r})")
        out |= member(have, given)
    return out


def above_size(take_all: pd.DataFrame, *, column: str = "key_unit") -> pd.DataFrame:
    """The rows of an enumerated (take-all) part that are firms above the designated size:
    the key units enumerated with them (``column`` true) are left out, since they are
    below the size and a figure labelled "above designated size" must not include them.

    Parameters
    ----------
    take_all : pandas.DataFrame
        The enumerated part (a panel or a plan frame).
    column : str, default="key_unit"
        The flag :func:`key_unit_mask` wrote into the plan; absent: every row is kept.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> ta = pd.DataFrame({"firm_id": ["a", "b", "c"], "key_unit": [False, True, None]})
    >>> above_size(ta)["firm_id"].tolist()
    ['a', 'c']
    """
    if column not in take_all.columns:
        return take_all
    key = take_all[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return take_all[~key].reset_index(drop=True)


def uncovered_cells(data: pd.DataFrame, by: str | Sequence[str] | None, *, part: str = "part",
                    typical: str = "typical", typical_inputs: bool = False) -> list[str]:
    """Cells whose take-none units would be neither enumerated, sampled nor modelled.

    Each cell of ``by`` (the cut-off model's groups; ``None``: the whole sector) holding
    units of part ``"take_none"`` needs at least two observable units (take-all, key or
    sampled; typical units only when ``typical_inputs``) to fit the model on.

    Parameters
    ----------
    data : pandas.DataFrame
        The register with the plan's ``part`` column (and ``typical`` when typical units
        are chosen).
    by : str, sequence of str or None
    part, typical : str
        The columns of the plan's part and of the typical-unit flag.
    typical_inputs : bool, default=False
        Whether typical units may be model inputs (``[plan.typical] model_inputs``).

    Returns
    -------
    list of str
        The cells' labels (``"a/b"`` for several columns), sorted; empty when covered.

    Examples
    --------
    >>> reg = pd.DataFrame({"ind": ["a", "a", "a", "b", "b"],
    ...                     "part": ["sample", "sample", "take_none", "take_all", "take_none"]})
    >>> uncovered_cells(reg, "ind")
    ['b']
    """
    none = (data[part] == "take_none").to_numpy()
    if not none.any():
        return []
    usable = ~none
    if typical in data.columns and not typical_inputs:
        usable &= ~data[typical].to_numpy(dtype=bool)
    if _names(by):
        codes, label = cell_codes(data, by)
    else:
        codes, label = np.zeros(len(data), dtype=np.intp), pd.Series(["sector"])
    counts = np.bincount(codes[usable], minlength=len(label))
    cells = np.unique(codes[none])
    return sorted(label.iloc[cells[counts[cells] < 2]].tolist())

