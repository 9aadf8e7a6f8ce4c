"""Permanent random numbers and PRN selection on registers of any size (SQL engine).

* :func:`write_prn` computes the project's PRNs
  (:func:`survey.plan.selection.permanent_random_numbers`, SipHash of the
  unit id) batch by batch and stores them *with the register* (a Parquet copy
  with a ``prn`` column), so that they never depend on the engine that later
  reads them. Memory: one batch.
* :func:`select_prn` draws the stratified SRSWOR sample of
  :func:`survey.plan.selection.select` (``method="srswor"``: in each stratum
  the ``n_h`` units that come first on the PRN circle after ``start``, with
  the same rotation rule) by a window function, ``ROW_NUMBER() OVER
  (PARTITION BY stratum ORDER BY prn)``, on the candidates below a
  per-stratum bound (as the in-memory ``_lowest_ranks``), so the window sorts
  a little more than the sample. Same register, same PRNs: the same sample.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.engine import Engine, Session, as_engine, sql_finite, sql_float
from survey.errors import ColumnError, SelectionError
from survey.plan.selection import Selection, permanent_random_numbers, sizes_per_stratum

__all__ = ["select_prn", "write_prn"]


def write_prn(
    source: Any,
    path: str | Path,
    *,
    unit: str = "firm_id",
    seed: int = 0,
    column: str = "prn",
    batch_size: int = 250_000,
    engine: Engine | Session | str | None = None,
) -> Path:
    """Copy a register to Parquet with the permanent random number of every unit.

    PRNs are :func:`survey.plan.selection.permanent_random_numbers` of the
    ids with key ``seed``, computed in batches of ``batch_size`` rows (peak
    memory: one batch; a single Parquet file is streamed by row groups, any
    other source through the engine). The key and the id column are recorded in the
    Parquet metadata (``survey.prn``).

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
        The register.
    path : str or path
        Output Parquet file.
    unit : str, default="firm_id"
        Unit id column.
    seed : int, default=0
        Key of the PRN set (0 <= seed < 10**16).
    column : str, default="prn"
        Name of the PRN column (replaced if the register has one).
    batch_size : int, default=250_000
        Rows per batch (peak memory about 600 MB for 250,000 rows of the national register).
    engine : Engine, Session, str or None

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> reg = pd.DataFrame({"firm_id": ["a", "b"], "x": [1, 2]})
    >>> p = write_prn(reg, os.path.join(tempfile.mkdtemp(), "reg.parquet"), seed=3)
    >>> bool((pd.read_parquet(p)["prn"] == permanent_random_numbers(["a", "b"], seed=3)).all())
    True
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    single_file = isinstance(source, (str, Path)) and Path(source).is_file()
    s = None if single_file else as_engine(engine)
    view = None if single_file else s.register(source)
    try:
        if single_file:  # one Parquet file: stream its row groups directly (memory: one batch)
            pf = pq.ParquetFile(str(source))
            cols = [c for c in pf.schema_arrow.names if c != column]
            if unit not in cols:
                raise ColumnError(f"write_prn: unit column {unit!r} not in the register")
            batches = pf.iter_batches(batch_size=int(batch_size), columns=cols)
        else:
            types = s.columns(view)
            if unit not in types:
                raise ColumnError(f"write_prn: unit column {unit!r} not in the register")
            cols = [c for c in types if c != column]
            batches = s.batches(f"SELECT {', '.join(s.q(c) for c in cols)} FROM {view}", batch_size)
        writer = None
        meta = {"survey.prn": json.dumps({"seed": int(seed), "unit": unit, "column": column,
                                          "function": "survey.plan.selection.permanent_random_numbers"})}
        n = 0
        try:
            for batch in batches:
                table = pa.Table.from_batches([batch])
                ids = table.column(unit).to_pandas()
                if ids.isna().any():
                    raise SelectionError(f"write_prn: {int(ids.isna().sum())} missing unit id(s) in {unit!r}")
                prn = permanent_random_numbers(ids, seed=seed)
                table = table.append_column(column, pa.array(prn, type=pa.float64()))
                if writer is None:
                    schema = table.schema.with_metadata({**(table.schema.metadata or {}), **meta})
                    writer = pq.ParquetWriter(str(path), schema, compression="zstd")
                writer.write_table(table.cast(writer.schema))
                n += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise SelectionError("write_prn: the register has no rows")
    finally:
        if view is not None:
            s.drop(view)
    return path


def _labels(table: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Stratum labels as :func:`survey.plan.selection.select` makes them ("a" or "a/b")."""
    if not columns:
        return pd.Series(["all"] * len(table), index=table.index, dtype=object)
    out = table[columns[0]].astype(str).to_numpy(dtype=object)
    for c in columns[1:]:
        out = out + "/" + table[c].astype(str).to_numpy(dtype=object)
    return pd.Series(out, index=table.index, dtype=object)


def select_prn(
    source: Any,
    n: Any,
    *,
    strata: str | Sequence[str] | None = None,
    prn: str = "prn",
    unit: str = "firm_id",
    start: float = 0.0,
    rotation: float = 0.0,
    period: int = 0,
    columns: Sequence[str] | None = None,
    output: str | Path | None = None,
    engine: Engine | Session | str | None = None,
) -> Selection:
    """Stratified SRSWOR by PRN order, in SQL: the sample of ``select(method="srswor")``.

    Parameters
    ----------
    source : Parquet path or glob, table name, relation or pandas.DataFrame
        The register with a PRN column (see :func:`write_prn`).
    n : int, sequence, mapping, pandas.DataFrame or Allocation
        Sample size per stratum, as for :func:`survey.plan.selection.select`.
    strata : str or list of str, optional
        Stratum columns (none: one stratum ``"all"``).
    prn : str, default="prn"
        PRN column, values in ``[0, 1)``.
    unit : str, default="firm_id"
        Unit id column (orders the result; breaks exact PRN ties).
    start, rotation, period
        PRN starting point, share rotated per period and periods elapsed,
        as :func:`survey.plan.selection.select`.
    columns : list of str, optional
        Register columns to keep in the sample (default all).
    output : str or path, optional
        Also write the sample to this Parquet file.
    engine : Engine, Session, str or None

    Returns
    -------
    Selection
        ``data`` has the register columns plus ``stratum, prn,
        inclusion_probability, design_weight, N_h, n_h``, ordered by
        stratum then unit id; ``seed`` is ``None`` (no random draw: the PRNs
        decide).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": range(10), "h": ["a"] * 4 + ["b"] * 6,
    ...                    "prn": [0.9, 0.1, 0.5, 0.3, 0.2, 0.8, 0.6, 0.05, 0.7, 0.4]})
    >>> select_prn(df, {"a": 2, "b": 3}, strata="h").data["firm_id"].tolist()
    [1, 3, 4, 7, 9]
    """
    if not 0.0 <= float(start) < 1.0:
        raise SelectionError(f"select_prn: start must be in [0, 1), got {start}")
    if not 0.0 <= float(rotation) <= 1.0:
        raise SelectionError(f"select_prn: rotation must be a share in [0, 1], got {rotation}")
    s = as_engine(engine)
    view = s.register(source)
    try:
        return _select(s, view, n, strata, prn, unit, float(start), float(rotation), int(period), columns, output)
    finally:
        s.drop(view)


def _select(s: Session, view: str, n: Any, strata: Any, prn: str, unit: str, start: float, rotation: float,
            period: int, columns: Sequence[str] | None, output: Any) -> Selection:
    q = s.q
    types = s.columns(view)
    cols = [strata] if isinstance(strata, str) else list(strata or [])
    unknown = [c for c in [*cols, unit] if c not in types]
    if unknown:
        raise ColumnError(f"select_prn: column(s) {unknown} not in the register; have {list(types)}")
    if prn not in types:
        raise SelectionError(
            f"select_prn: the register has no PRN column {prn!r}; store PRNs with the register first "
            "(survey.plan.sql.write_prn)"
        )
    u_raw = f"CAST({q(prn)} AS DOUBLE)"
    keys = [f"__sv_k{i}" for i in range(len(cols))]
    sel_keys = [f"{q(c)} AS {k}" for c, k in zip(cols, keys)]
    bad_prn = f"NOT ({sql_finite(u_raw)} AND {u_raw} >= 0 AND {u_raw} < 1)"
    null_keys = " OR ".join(f"{q(c)} IS NULL" for c in cols) or "FALSE"
    agg = ["COUNT(*) AS N_h", f"SUM(CASE WHEN {bad_prn} THEN 1 ELSE 0 END) AS bad",
           f"SUM(CASE WHEN {null_keys} THEN 1 ELSE 0 END) AS nulls"]
    group = f"GROUP BY {', '.join(q(c) for c in cols)}" if cols else ""
    table = s.sql(f"SELECT {', '.join(sel_keys + agg)} FROM {view} {group}")
    if int(table["nulls"].sum()):
        raise SelectionError(f"select_prn: {int(table['nulls'].sum())} unit(s) have a missing stratum code in {cols}")
    if int(table["bad"].sum()):
        raise SelectionError(
            f"select_prn: PRN column {prn!r} must hold numbers in [0, 1); {int(table['bad'].sum())} unit(s) do not"
        )
    if keys:
        table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    labels = table[keys].rename(columns=dict(zip(keys, cols))) if keys else pd.DataFrame(index=range(1))
    labels["stratum"] = _labels(labels, cols).to_numpy()
    H = len(labels)
    N_h = table["N_h"].to_numpy(dtype=np.int64)
    n_h = sizes_per_stratum(n, labels, cols, caller="select_prn")
    over = np.flatnonzero(n_h > N_h)
    if over.size:
        h = over[0]
        raise SelectionError(
            f"select_prn: stratum {labels['stratum'].iloc[h]!r} asks for n={n_h[h]} units but has "
            f"only N={N_h[h]}; lower n or merge strata ({over.size} stratum/strata affected)"
        )
    # rotation: the start moves past floor(period * rotation * n_h + phase_h) units (as select())
    phase = permanent_random_numbers(labels["stratum"], seed=0)
    shift = np.floor(period * rotation * n_h + phase).astype(np.int64)
    shift = np.mod(shift, np.maximum(N_h, 1))
    need = np.minimum(shift + n_h, N_h)
    # candidates: PRNs below a high binomial quantile of need / N_h (as _lowest_ranks)
    Nf = np.maximum(N_h, 1).astype(float)
    p = np.minimum(need / Nf, 1.0)
    bound = p + 6.0 * np.sqrt(p * (1.0 - p) / Nf) + 4.0 / Nf
    bound = np.where((need >= N_h) | (bound >= 0.5), 1.01, bound)
    u = f"(CASE WHEN {u_raw} - {sql_float(start)} < 0 THEN {u_raw} - {sql_float(start)} + {sql_float(1.0)} " \
        f"ELSE {u_raw} - {sql_float(start)} END)" if start else u_raw
    strata_table = table[keys].assign(
        __sv_label=labels["stratum"].to_numpy(), __sv_nsample=n_h, __sv_npop=N_h, __sv_shift=shift,
        __sv_bound=bound,
        __sv_p=np.divide(n_h, N_h, out=np.zeros(H), where=N_h > 0),
    )
    if not keys:
        strata_table["__sv_one"] = 1
    st_view = s.register(strata_table.reset_index(drop=True))
    try:
        on = " AND ".join(f"r.{q(c)} = st.{k}" for c, k in zip(cols, keys)) or "TRUE"
        joined = f"{view} r JOIN {st_view} st ON {on}"
        count = s.sql(
            f"SELECT {', '.join([f'st.{k} AS {k}' for k in keys] + ['COUNT(*) AS c'])} FROM {joined} "
            f"WHERE {u} < st.__sv_bound {'GROUP BY ' + ', '.join(f'st.{k}' for k in keys) if keys else ''}"
        )
        got = table[keys].merge(count, on=keys, how="left")["c"] if keys else count["c"]
        got = got.fillna(0).to_numpy(dtype=np.int64) if len(got) else np.zeros(H, np.int64)
        short = got < np.minimum(need, N_h)
        if short.any():  # too few candidates (rare): take the whole stratum
            strata_table.loc[short, "__sv_bound"] = 1.01
            s.drop(st_view)
            st_view = s.register(strata_table.reset_index(drop=True))
            joined = f"{view} r JOIN {st_view} st ON {on}"
        keep = list(columns) if columns is not None else [c for c in types if c not in (
            "stratum", prn, "inclusion_probability", "design_weight", "N_h", "n_h")]
        missing_cols = [c for c in keep if c not in types]
        if missing_cols:
            raise ColumnError(f"select_prn: column(s) {missing_cols} not in the register")
        part = ", ".join(f"st.{k}" for k in keys) or "st.__sv_one"
        ranked = (
            f"SELECT {', '.join([f'r.{q(c)} AS {q(c)}' for c in keep])}, st.__sv_label AS stratum, "
            f"{u_raw} AS prn, st.__sv_p AS inclusion_probability, "
            f"CASE WHEN st.__sv_p > 0 THEN {sql_float(1.0)} / st.__sv_p END AS design_weight, "
            f"st.__sv_npop AS __sv_npop, "
            f"st.__sv_nsample AS __sv_nsample, st.__sv_shift AS __sv_shift, "
            f"ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY {u}, r.{q(unit)}) - 1 AS __sv_rank "
            f"FROM {joined} WHERE {u} < st.__sv_bound"
        )
        cols_out = [q(c) for c in keep] + ["stratum", "prn", "inclusion_probability", "design_weight",
                                           "__sv_npop", "__sv_nsample"]
        query = (
            f"SELECT {', '.join(cols_out)} FROM ({ranked}) x "
            f"WHERE ((__sv_rank - __sv_shift) % __sv_npop + __sv_npop) % __sv_npop < __sv_nsample "
            f"ORDER BY stratum, {q(unit)}"
        )
        data = s.sql(query)
    finally:
        s.drop(st_view)
    # N_h and n_h differ only by case: SQL engines cannot hold both names, pandas can
    data = data.rename(columns={"__sv_npop": "N_h", "__sv_nsample": "n_h"})
    data["N_h"] = data["N_h"].astype(np.int64)
    data["n_h"] = data["n_h"].astype(np.int64)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        data.to_parquet(output, index=False)
    realised = data.groupby("stratum", sort=False).size()
    out_table = labels.copy()
    out_table["N_h"] = N_h
    out_table["n_h"] = out_table["stratum"].map(realised).fillna(0).astype(np.int64).to_numpy()
    if not keys:
        out_table = out_table[["stratum", "N_h", "n_h"]]
    return Selection(data=data, strata=out_table, method="srswor", seed=None, start=float(start),
                     rotation=float(rotation), period=int(period))

