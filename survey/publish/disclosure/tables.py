"""The table structure: dimensions with their margins (one- or two-way, hierarchical) and the additivity equations as a sparse matrix.

Part of :mod:`survey.publish.disclosure` (see its docstring and ``docs/disclosure.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from survey.errors import ColumnError, DisclosureError

__all__: list[str] = []  # helpers of protect.py (no user API)

# ---------------------------------------------------------------------------
# Tabulation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class _Dimension:
    unit_nodes: np.ndarray  # (n_units, depth + 1) node id at each level
    labels: np.ndarray  # (n_nodes, depth) object labels (total label below a node's level)
    level: np.ndarray  # (n_nodes,)
    parent: np.ndarray  # (n_nodes,) -1 for the root
    order: np.ndarray  # display order (depth first)


def dimension_names(arg: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if arg is None:
        return ()
    if isinstance(arg, str):
        return (arg,)
    names = tuple(arg)
    if not all(isinstance(a, str) for a in names):
        raise DisclosureError(f"{what} must be a column name or a list of column names, got {arg!r}")
    return names


def dimension(data: pd.DataFrame, names: tuple[str, ...], total_label: str) -> _Dimension:
    n = len(data)
    depth = len(names)
    unit_nodes = np.zeros((n, depth + 1), dtype=np.int64)
    labels = [np.full((1, depth), total_label, dtype=object)]
    level = [np.zeros(1, dtype=np.int64)]
    parent = [np.full(1, -1, dtype=np.int64)]
    path = [np.full((1, depth), -1, dtype=np.int64)]  # within-level codes of the ancestors
    offset = 1
    prev_path_of_unit = np.full((n, depth), -1, dtype=np.int64)
    for d in range(1, depth + 1):
        gb = data.groupby(list(names[:d]), sort=True, observed=True)
        codes = gb.ngroup().to_numpy().astype(np.int64)
        keys = gb.size().index
        k = len(keys)
        unit_nodes[:, d] = offset + codes
        par = np.empty(k, dtype=np.int64)
        par[codes] = unit_nodes[:, d - 1]
        if isinstance(keys, pd.MultiIndex):
            key_frame = keys.to_frame(index=False)
        else:
            key_frame = pd.DataFrame({names[0]: keys})
        lab = np.full((k, depth), total_label, dtype=object)
        lab[:, :d] = key_frame.astype(str).to_numpy(dtype=object)
        this_path = np.full((k, depth), -1, dtype=np.int64)
        prev_path_of_unit[:, d - 1] = codes
        this_path[codes] = prev_path_of_unit
        labels.append(lab)
        level.append(np.full(k, d, dtype=np.int64))
        parent.append(par)
        path.append(this_path)
        offset += k
    all_path = np.vstack(path)
    order = np.lexsort(all_path.T[::-1]) if depth else np.zeros(1, dtype=np.int64)
    return _Dimension(
        unit_nodes=unit_nodes,
        labels=np.vstack(labels),
        level=np.concatenate(level),
        parent=np.concatenate(parent),
        order=order,
    )


def table_structure(row: _Dimension, col: _Dimension) -> sp.csr_matrix:
    """Equations parent = sum of children along rows and along columns."""
    n_r, n_c = len(row.level), len(col.level)
    blocks_i, blocks_j, blocks_v = [], [], []
    n_eq = 0
    # rows: for each parent row node p (non-leaf) and column node c: x(p,c) - sum x(q,c) = 0
    for dim_parent, other, is_row in ((row.parent, n_c, True), (col.parent, n_r, False)):
        child = np.flatnonzero(dim_parent >= 0)
        if child.size == 0:
            continue
        parents = np.unique(dim_parent[child])
        eq_of = np.full(len(dim_parent), -1, dtype=np.int64)
        eq_of[parents] = np.arange(parents.size)
        other_nodes = np.arange(other)
        # +1 for the parent cells
        p_rep = np.repeat(parents, other)
        o_tile = np.tile(other_nodes, parents.size)
        eq_parent = n_eq + eq_of[p_rep] * other + o_tile
        # -1 for the children
        c_rep = np.repeat(child, other)
        o_tile_c = np.tile(other_nodes, child.size)
        eq_child = n_eq + eq_of[dim_parent[c_rep]] * other + o_tile_c
        if is_row:
            cell_parent = p_rep * n_c + o_tile
            cell_child = c_rep * n_c + o_tile_c
        else:
            cell_parent = o_tile * n_c + p_rep
            cell_child = o_tile_c * n_c + c_rep
        blocks_i += [eq_parent, eq_child]
        blocks_j += [cell_parent, cell_child]
        blocks_v += [np.ones(eq_parent.size), -np.ones(eq_child.size)]
        n_eq += parents.size * other
    if n_eq == 0:
        return sp.csr_matrix((0, n_r * n_c))
    return sp.csr_matrix(
        (np.concatenate(blocks_v), (np.concatenate(blocks_i), np.concatenate(blocks_j))),
        shape=(n_eq, n_r * n_c),
    )


def table_column(data: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in data.columns:
        raise ColumnError(
            f"{what} column {name!r} is not in the data; columns are: {list(data.columns)[:20]}"
        )
    return data[name]
