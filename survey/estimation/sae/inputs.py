"""Area inputs of the Fay–Herriot model: area keys, numeric vectors, auxiliaries and their checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ColumnError


# --------------------------------------------------------------------------- input
def area_keys(data: pd.DataFrame | None, area: Any, m: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    if data is not None:
        if area is None:
            name = data.index.name or "area"
            return pd.DataFrame({name: data.index.to_numpy()}), (name,)
        cols = [area] if isinstance(area, str) else list(area)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise ColumnError(f"area column(s) {missing} not in the data; columns are {list(data.columns)[:20]}")
        keys = data[cols].reset_index(drop=True)
    else:
        if area is None:
            keys = pd.DataFrame({"area": np.arange(m)})
        else:
            if isinstance(area, pd.DataFrame):
                keys = area.reset_index(drop=True)
            else:
                s = pd.Series(area) if not isinstance(area, pd.Series) else area
                keys = pd.DataFrame({s.name if s.name is not None else "area": s.to_numpy()})
            if len(keys) != m:
                raise ColumnError(f"area labels have {len(keys)} rows, the direct estimates {m}")
        cols = list(keys.columns)
    if keys.isna().to_numpy().any():
        i = int(np.flatnonzero(keys.isna().to_numpy().any(axis=1))[0])
        raise ColumnError(f"area key {cols} is missing at row {i}")
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        first = keys[dup].iloc[:3].to_dict("records")
        raise ColumnError(f"area key {cols} is not unique: {int(dup.sum())} rows share a key, e.g. {first}")
    return keys, tuple(str(c) for c in cols)


def numeric_vector(data: pd.DataFrame | None, value: Any, role: str, m: int | None) -> tuple[np.ndarray, str]:
    if data is not None and isinstance(value, str):
        if value not in data.columns:
            raise ColumnError(f"{role} column {value!r} not in the data; columns are {list(data.columns)[:20]}")
        s = data[value]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise ColumnError(f"{role} column {value!r} must be numeric, it has dtype {s.dtype}")
        return s.to_numpy(dtype=float, na_value=np.nan), value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ColumnError(f"{role} must be numeric (a column name with data=, or an array)") from None
    if arr.ndim != 1:
        raise ColumnError(f"{role} must be one-dimensional, it has shape {arr.shape}")
    if m is not None and arr.size != m:
        raise ColumnError(f"{role} has {arr.size} values, the direct estimates {m}")
    name = value.name if isinstance(value, pd.Series) and value.name is not None else role
    return arr, str(name)


def auxiliary_matrix(data: pd.DataFrame | None, auxiliaries: Any, m: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if auxiliaries is None:
        return np.empty((m, 0)), ()
    if data is not None and (isinstance(auxiliaries, str) or (
        isinstance(auxiliaries, Sequence) and all(isinstance(a, str) for a in auxiliaries)
    )):
        cols = [auxiliaries] if isinstance(auxiliaries, str) else list(auxiliaries)
        arrays = [numeric_vector(data, c, "auxiliary", m)[0] for c in cols]
        return (np.column_stack(arrays) if arrays else np.empty((m, 0))), tuple(cols)
    if isinstance(auxiliaries, pd.DataFrame):
        bad = [c for c in auxiliaries.columns if not pd.api.types.is_numeric_dtype(auxiliaries[c])
               or pd.api.types.is_bool_dtype(auxiliaries[c])]
        if bad:
            raise ColumnError(f"auxiliary column(s) {bad} must be numeric (make dummies of categories first)")
        X = auxiliaries.to_numpy(dtype=float, na_value=np.nan)
        names = tuple(str(c) for c in auxiliaries.columns)
    else:
        try:
            X = np.asarray(auxiliaries, dtype=float)
        except (TypeError, ValueError):
            raise ColumnError("auxiliaries must be numeric: column names with data=, or an array") from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ColumnError(f"auxiliaries must be a 2-D array, got shape {X.shape}")
        names = tuple(f"x{j + 1}" for j in range(X.shape[1]))
    if X.shape[0] != m:
        raise ColumnError(f"auxiliaries have {X.shape[0]} rows, the direct estimates {m}")
    return X, names


def describe_area(keys: pd.DataFrame, i: int) -> str:
    rec = keys.iloc[i].to_dict()
    label = ", ".join(f"{k}={v!r}" for k, v in rec.items())
    return f"area {label} (row {i})"


def check_finite(values: np.ndarray, keys: pd.DataFrame, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ColumnError(
            f"{what} is missing or not finite for {describe_area(keys, i)} ({int(bad.sum())} area(s) in all); "
            "every area in the model needs it"
        )


def column_scales(X: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.mean(X**2, axis=0))
    return np.where(scale > 0, scale, 1.0)


def check_rank(Xs: np.ndarray, names: Sequence[str]) -> None:
    p = Xs.shape[1]
    if np.linalg.matrix_rank(Xs) == p:
        return
    for j in range(p):
        if np.linalg.matrix_rank(Xs[:, : j + 1]) <= j:
            earlier = list(names[:j])
            raise ColumnError(
                f"the auxiliaries are collinear (X is singular): {names[j]!r} is a linear "
                f"combination of {earlier if earlier else 'nothing (it is all zero)'}; drop it"
            )
    raise ColumnError("the auxiliaries are collinear (X is singular)")  # pragma: no cover
