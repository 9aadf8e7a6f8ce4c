"""Out-of-core estimation: the design-based estimators on data that stay in SQL.

:class:`OutOfCoreSurvey` (built by :func:`scan`) is the sibling of
:class:`survey.Survey` for samples that do not fit in memory, or that are
already in a DuckDB database or Parquet files: a national register's
returns, twenty quarters of a ledger. It takes a Parquet path or glob, a
DuckDB relation or table name (or a pandas frame, for tests) and a
:class:`survey.Design`, and offers :meth:`~OutOfCoreSurvey.total`,
:meth:`~OutOfCoreSurvey.mean`, :meth:`~OutOfCoreSurvey.ratio`,
:meth:`~OutOfCoreSurvey.proportion` by domain with linearised standard
errors, :meth:`~OutOfCoreSurvey.subset`, and linear (or raking, logit)
calibration, post-stratification and raking with their residual variance.
Results are the same :class:`survey.Estimate` objects; the numbers agree
with the in-memory :class:`survey.Survey` to about 1e-13.

How: units never leave the engine. Each estimate runs one SQL pass (two
for ratios, means and proportions: domain totals first) that returns sums
of scores per stratum x domain (for a clustered stage, first per PSU x
domain inside the query), with their sums of squares and cross products;
numpy then applies the per-stratum coefficients of
:func:`survey.estimation.variance.stage_coefficients` (fpc, take-all
strata, the lonely-PSU rules), exactly as the in-memory variance engine
does. After calibration the scores are replaced by calibration residuals:
the pass also returns, per stratum x domain x *cell* (combination of the
calibration margins' levels), the sums ``sum(z w x')`` and, once per
weighting, ``sum(w^2 x x')``, so the residual sums of squares are formed in
numpy from small tables (model-matrix sums) without a pass per domain.

Design checks (missing strata, fpc that varies within a stratum, fewer
units than the sample, lonely PSUs under ``lonely_psu="fail"``) raise the
same errors as :class:`survey.Survey`; messages name strata and columns
instead of row labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.design import Design
from survey.engine import (
    Engine,
    Session,
    as_engine,
    group_by,
    is_float_type,
    is_numeric_type,
    sql_finite,
    sql_float,
)
from survey.errors import (
    ColumnError,
    DesignError,
    SurveyError,
    SurveyWarning,
    WeightError,
)
from survey.estimation.outofcore_variance import (
    StageTable,
    calibrated_cluster_variance,
    calibrated_element_variance,
    plain_variance,
)
from survey.estimation.outofcore_weighting import SQLWeighting
from survey.estimation.results import Estimate
from survey.estimation.structure import fpc_fractions, stage_coefficients, unknown_columns_message

__all__ = ["OutOfCoreSurvey", "scan"]

NaPolicy = Literal["error", "drop", "drop_each"]

W = "__sv_w"  # final weight column of the relation
W0 = "__sv_w0"  # design (input) weight column
ZERO = "CAST(0 AS DOUBLE)"


def scan(source: Any, design: Design, *, engine: Engine | Session | str | None = None) -> "OutOfCoreSurvey":
    """An out-of-core sample: ``source`` stays in the SQL engine, estimates come back.

    Parameters
    ----------
    source : str, path, list of paths, DuckDB relation, table name or pandas.DataFrame
        Parquet file, folder or glob; a DuckDB relation (of the engine's
        connection) or table name; a Spark DataFrame with a Spark engine.
    design : Design
        The design columns, as for :class:`survey.Survey`.
    engine : Engine, Session, {"duckdb", "spark"} or None
        Where the queries run; default DuckDB with ``memory_limit="4GB"``.

    Returns
    -------
    OutOfCoreSurvey

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
    >>> scan(df, sv.Design(strata="h", weights="w")).total("y").se
    array([12.64911064])
    """
    return OutOfCoreSurvey(source, design, engine=engine)


def _as_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise ColumnError(f"{what} must be a column name or a list of column names, got {value!r}")
    return out


def _sum_flag(cond: str) -> str:
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"


class OutOfCoreSurvey:
    """A sample and its design whose units stay in an SQL engine (DuckDB or Spark).

    The sibling of :class:`survey.Survey` for data larger than memory; build
    it with :func:`scan`. Immutable: :meth:`subset` and the weighting methods
    return new objects. The design is checked and its per-stratum
    coefficients prepared once, at construction (a few grouped queries).

    Parameters
    ----------
    source : str, path, list of paths, DuckDB relation, table name or pandas.DataFrame
        See :func:`scan`.
    design : Design
    engine : Engine, Session, {"duckdb", "spark"} or None

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b", "b"], "N": [10, 10, 3, 3, 3],
    ...                    "y": [1.0, 2.0, 5.0, 6.0, 7.0]})
    >>> s = scan(df, sv.Design(strata="h", fpc="N"))
    >>> s.total("y").table()[["variable", "estimate", "se"]]
      variable  estimate        se
    0        y      33.0  4.472136
    """

    def __init__(self, source: Any, design: Design, *, engine: Engine | Session | str | None = None) -> None:
        if not isinstance(design, Design):
            raise DesignError(f"design must be a survey.Design, got {type(design).__name__}")
        if hasattr(source, "__survey_source__"):  # e.g. Ledger.quarter_relation: relation + engine
            source, own = source.__survey_source__()
            engine = own if engine is None else engine
        if engine is None and type(source).__module__.startswith("duckdb"):
            import duckdb

            engine = Engine(connection=duckdb.default_connection())
        self._session = as_engine(engine)
        self._src = self._session.register(source)
        self._design = design
        self._columns = self._session.columns(self._src)
        missing = [c for c in design.columns if c not in self._columns]
        if missing:
            raise ColumnError(unknown_columns_message(missing, self._columns, "design"))
        self._condition: str | None = None
        self._weighting: SQLWeighting | None = None
        self._weight_join = ""
        self._weight_sql = ""
        self._build()

    # -- construction ---------------------------------------------------------
    def _q(self, name: str) -> str:
        return self._session.q(name)

    def _check_numeric_column(self, col: str, role: str) -> None:
        if col not in self._columns:
            raise ColumnError(unknown_columns_message([col], self._columns, role))
        if not is_numeric_type(self._columns[col]):
            raise ColumnError(
                f"{role} column {col!r} must be numeric, it has type {self._columns[col]}"
            )

    def _build(self) -> None:
        """Check the design and prepare the stages; the checks ride on the stage-1 pass."""
        d, q = self._design, self._q
        flags: list[tuple[str, str]] = []
        key_cols = ([("strata", d.strata)] if d.strata else []) + [("clusters", c) for c in d.clusters]
        for i, (_, col) in enumerate(key_cols):
            flags.append((f"null{i}", f"{q(col)} IS NULL"))
        if d.weights is not None:
            self._check_numeric_column(d.weights, "weights")
            w = f"CAST({q(d.weights)} AS DOUBLE)"
            flags.append(("badw", f"NOT ({sql_finite(w)} AND {w} > 0)"))
        if d.probs is not None:
            self._check_numeric_column(d.probs, "probs")
            p = f"CAST({q(d.probs)} AS DOUBLE)"
            flags.append(("badp", f"NOT ({sql_finite(p)} AND {p} > 0 AND {p} <= 1)"))
        for j, col in enumerate(d.fpc):
            self._check_numeric_column(col, "fpc")
            f = f"CAST({q(col)} AS DOUBLE)"
            flags.append((f"badf{j}", f"NOT ({sql_finite(f)} AND {f} > 0)"))
        first = self._stage_table(0, flags)
        check = first[["__sv_rows"] + [name for name, _ in flags]].sum(axis=0)
        n = int(check["__sv_rows"]) if len(first) else 0
        if n == 0:
            raise DesignError("the sample has no rows")
        self._n_rows = n
        for i, (role, col) in enumerate(key_cols):
            if int(check[f"null{i}"]):
                raise ColumnError(f"{role} column {col!r} has {int(check[f'null{i}'])} missing value(s)")
        if d.weights is not None and int(check["badw"]):
            raise WeightError(
                f"weight column {d.weights!r} must be positive and not missing; "
                f"{int(check['badw'])} row(s) are not"
            )
        if d.probs is not None and int(check["badp"]):
            raise WeightError(
                f"column {d.probs!r} must hold inclusion probabilities in (0, 1]; "
                f"{int(check['badp'])} row(s) are outside"
            )
        for j, col in enumerate(d.fpc):
            if int(check[f"badf{j}"]):
                raise DesignError(
                    f"fpc column {col!r} must be positive and not missing; "
                    f"{int(check[f'badf{j}'])} row(s) are not"
                )
        self._stages = self._build_stages(first)
        self._weight_sql, self._weight_join = self._design_weights()

    def _stage_table(self, st: int, flags: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
        """Per stratum of stage ``st``: units, min and max of the fpc, rows, and sums of check flags."""
        d, q = self._design, self._q
        strata_keys = (d.strata,) if d.strata else ()
        keys = strata_keys + tuple(d.clusters[:st])
        col = d.clusters[st] if st < len(d.clusters) else None
        alias = [f"__sv_k{i}" for i in range(len(keys))]
        sel = [f"{q(k)} AS {a}" for k, a in zip(keys, alias)]
        fpc_col = d.fpc[st] if st < len(d.fpc) else None
        fexpr = f"CAST({q(fpc_col)} AS DOUBLE)" if fpc_col else "CAST(1 AS DOUBLE)"
        agg = [f"MIN({fexpr}) AS lo", f"MAX({fexpr}) AS hi", "COUNT(*) AS __sv_rows"]
        agg += [f"{_sum_flag(cond)} AS {name}" for name, cond in flags]
        if col is None:
            query = (f"SELECT {', '.join(sel + ['COUNT(*) AS n_units'] + agg)} FROM {self._src} "
                     f"{group_by(alias)}")
        else:
            inner = f"SELECT {', '.join(sel + agg)} FROM {self._src} {group_by([*alias, q(col)])}"
            outer = ["COUNT(*) AS n_units", "MIN(lo) AS lo", "MAX(hi) AS hi", "SUM(__sv_rows) AS __sv_rows"]
            outer += [f"SUM({name}) AS {name}" for name, _ in flags]
            query = f"SELECT {', '.join([*alias] + outer)} FROM ({inner}) u {group_by(alias)}"
        table = self._session.sql(query)
        if alias:
            table = table.sort_values(alias, kind="stable").reset_index(drop=True)
        return table

    def _build_stages(self, first: pd.DataFrame) -> tuple[StageTable, ...]:
        d = self._design
        strata_keys = (d.strata,) if d.strata else ()
        cluster_cols: tuple[str | None, ...] = d.clusters or (None,)
        stages: list[StageTable] = []
        fpc_known = True
        for st, col in enumerate(cluster_cols):
            if not fpc_known:
                break
            keys = strata_keys + tuple(c for c in d.clusters[:st])
            alias = [f"__sv_k{i}" for i in range(len(keys))]
            fpc_col = d.fpc[st] if st < len(d.fpc) else None
            table = first if st == 0 else self._stage_table(st)
            n_units = table["n_units"].to_numpy(dtype=np.int64)
            if st == 0:
                labels = (
                    table[alias[0]].to_numpy(dtype=object) if alias else np.array(["(all)"], dtype=object)
                )
            else:
                labels = table[alias[-1]].astype(str).to_numpy(dtype=object)
            if fpc_col is not None:
                fraction = _stage_fraction(
                    table["lo"].to_numpy(float), table["hi"].to_numpy(float), n_units, labels, fpc_col, st + 1
                )
            else:
                fraction = np.zeros(len(table))
                fpc_known = False
            if st == 0:
                multiplier = np.ones(len(table))
                parent = np.zeros(len(table), dtype=np.intp)
            else:
                prev = stages[-1]
                prev_keys = prev.table[prev.aliases].assign(
                    __sv_parent=np.arange(len(prev.table)),
                    __sv_mult=prev.table["multiplier"].to_numpy() * prev.table["fraction"].to_numpy(),
                )
                if alias[:-1]:
                    merged = table[alias[:-1]].merge(prev_keys, on=alias[:-1], how="left")
                else:
                    merged = prev_keys.iloc[np.zeros(len(table), dtype=np.intp)].reset_index(drop=True)
                parent = merged["__sv_parent"].to_numpy(dtype=np.intp)
                multiplier = merged["__sv_mult"].to_numpy(dtype=float)
            sq, cross, average_out = stage_coefficients(
                n_units, fraction, multiplier, d.lonely_psu, np.asarray(labels, dtype=object), st + 1
            )
            table = table[alias + ["n_units"]].assign(
                fraction=fraction, multiplier=multiplier, label=labels, sq_coef=sq, cross_coef=cross,
                average=average_out,
            )
            stages.append(
                StageTable(keys=keys, unit=col, table=table, sq=sq, cross=cross, average_out=average_out,
                       parent=parent)
            )
        first = stages[0]
        self._df = int(first.table["n_units"].sum()) - len(first.table)
        return tuple(stages)

    def _design_weights(self) -> tuple[str, str]:
        """SQL of the design weight (over the source alias ``t``) and the join it needs."""
        d, q = self._design, self._q
        if d.weights is not None:
            return f"CAST(t.{q(d.weights)} AS DOUBLE)", ""
        if d.probs is not None:
            return f"{sql_float(1.0)} / CAST(t.{q(d.probs)} AS DOUBLE)", ""
        last = self._stages[-1]
        if d.fpc and len(d.fpc) >= max(len(d.clusters), 1) and np.all(last.table["fraction"] > 0):
            prob = last.table["multiplier"].to_numpy() * last.table["fraction"].to_numpy()
            if not last.keys:
                return sql_float(1.0 / float(prob[0])), ""
            wt = last.table[last.aliases].rename(columns={a: f"__sv_wk_{a}" for a in last.aliases})
            wt["__sv_wfpc"] = 1.0 / prob
            view = self._session.register(wt)
            on = " AND ".join(
                f"t.{q(k)} = wt.{q('__sv_wk_' + a)}" for k, a in zip(last.keys, last.aliases)
            )
            return "wt.__sv_wfpc", f"JOIN {view} wt ON {on}"
        warnings.warn(
            "no weights, probs or complete fpc given: assuming equal probability (weight 1)",
            SurveyWarning,
            stacklevel=4,
        )
        return "CAST(1 AS DOUBLE)", ""

    # -- the relation every query reads ----------------------------------------
    def relation(self, weighting: Any = "current") -> str:
        """SQL text of the sample as a subquery: source columns plus ``__sv_w0``, ``__sv_w``.

        ``__sv_w0`` is the design weight, ``__sv_w`` the current weight (after
        calibration), ``__sv_c0, ...`` the calibration cell codes. Use it to
        write your own queries on the same engine. ``weighting``: an
        :class:`~survey.estimation.outofcore_weighting.SQLWeighting` to use
        instead of the current one (``None``: the design weights).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> s = scan(pd.DataFrame({"w": [2.0, 3.0]}), sv.Design(weights="w"))
        >>> s.session.sql(f"SELECT SUM(__sv_w) AS n FROM {s.relation()} r")["n"].item()
        5.0
        """
        sel = ["t.*", f"{self._weight_sql} AS {W0}"]
        joins = [self._weight_join] if self._weight_join else []
        wg = self._weighting if isinstance(weighting, str) else weighting
        if wg is not None:
            for m, (col, view) in enumerate(wg.margins):
                sel.append(f"l{m}.__sv_c{m} AS __sv_c{m}")
                sel.append(f"l{m}.__sv_e{m} AS __sv_e{m}")
                joins.append(f"LEFT JOIN {view} l{m} ON t.{self._q(col)} = l{m}.__sv_lv{m}")
        inner = f"SELECT {', '.join(sel)} FROM {self._src} t {' '.join(joins)}"
        weight = f"i.{W0}" if wg is None else wg.weight_sql
        extra = ""
        if wg is not None and wg.cell_view is not None:
            on = " AND ".join(f"i.__sv_c{m} = cg.__sv_gc{m}" for m in range(len(wg.margins)))
            extra = f"LEFT JOIN {wg.cell_view} cg ON {on}"
        return f"(SELECT i.*, {weight} AS {W} FROM ({inner}) i {extra})"

    # -- public properties ---------------------------------------------------
    @property
    def design(self) -> Design:
        """The design spec."""
        return self._design

    @property
    def session(self) -> Session:
        """The engine session the queries run on."""
        return self._session

    @property
    def df(self) -> int:
        """Design degrees of freedom: number of PSUs minus number of strata."""
        return self._df

    @property
    def weighting(self) -> tuple[Any, ...]:
        """Reports of the weighting steps applied so far (at most one)."""
        return () if self._weighting is None else (self._weighting.report,)

    def __len__(self) -> int:
        return self._n_rows

    def __repr__(self) -> str:
        first = self._stages[0]
        parts = [f"{self._n_rows} rows", f"{len(first.table)} strata"]
        if self._design.clusters:
            parts.append(f"{int(first.table['n_units'].sum())} PSUs")
        if self._condition is not None:
            parts.append(f"subset {self._condition!r}")
        if self._weighting is not None:
            parts.append(f"weighting: {self._weighting.kind}")
        return f"<OutOfCoreSurvey {self._session.kind}; {'; '.join(parts)}>"

    def strata(self, stage: int = 1) -> pd.DataFrame:
        """Per-stratum design table of a stage: keys, PSUs, fraction and variance coefficients.

        Parameters
        ----------
        stage : int, default=1

        Returns
        -------
        pandas.DataFrame
            The stratum column(s), ``n_units``, ``fraction`` (n/N, 0 when
            unknown), ``multiplier`` (earlier stages' fractions),
            ``sq_coef``, ``cross_coef`` and ``average`` (lonely PSU averaged).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": ["a", "a", "b"], "N": [10, 10, 1], "y": [1.0, 2.0, 3.0]})
        >>> scan(df, sv.Design(strata="h", fpc="N")).strata()[["h", "n_units", "fraction"]]
           h  n_units  fraction
        0  a        2       0.2
        1  b        1       1.0
        """
        if not 1 <= stage <= len(self._stages):
            raise DesignError(f"stage must be between 1 and {len(self._stages)}, got {stage}")
        st = self._stages[stage - 1]
        out = st.table.rename(columns=dict(zip(st.aliases, st.keys)))
        return out.drop(columns=["label"]).copy()

    def _copy(self) -> "OutOfCoreSurvey":
        new = object.__new__(OutOfCoreSurvey)
        new.__dict__.update(self.__dict__)
        return new

    def subset(self, condition: str) -> "OutOfCoreSurvey":
        """Restrict estimation to rows meeting an SQL condition, keeping the whole design.

        Rows outside keep their place in strata and PSUs with zero
        contribution (domain estimation, as :meth:`survey.Survey.subset`).

        Parameters
        ----------
        condition : str
            A boolean SQL expression on the source columns, e.g.
            ``"province = '45' AND employees >= 20"`` (quote identifiers as
            the engine does: ``"a b"`` in DuckDB, ```a b``` in Spark).

        Returns
        -------
        OutOfCoreSurvey

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
        >>> scan(df, sv.Design(strata="h", weights="w")).subset("y > 1.5").total("y").estimate
        array([30.])
        """
        if not isinstance(condition, str) or not condition.strip():
            raise ColumnError("subset needs a non-empty SQL condition string")
        new = self._copy()
        new._condition = f"({condition})" if self._condition is None else f"{self._condition} AND ({condition})"
        return new

    # -- estimators -----------------------------------------------------------------
    def _numeric_value(self, name: str) -> str:
        if name not in self._columns:
            raise ColumnError(unknown_columns_message([name], self._columns, "variable"))
        if not is_numeric_type(self._columns[name]):
            raise ColumnError(
                f"column {name!r} has type {self._columns[name]}; totals, means and ratios need "
                "a numeric column (use proportion() for a categorical one)"
            )
        return f"CAST(b.{self._q(name)} AS DOUBLE)"

    def _check_by(self, by: list[str]) -> None:
        missing = [b for b in by if b not in self._columns]
        if missing:
            raise ColumnError(unknown_columns_message(missing, self._columns, "variable"))

    def total(self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
              na: NaPolicy = "error") -> Estimate:
        """Estimated population totals by domain (as :meth:`survey.Survey.total`).

        One pass over the units: per stratum x domain sums of the scores
        ``w y`` and of their squares and products.

        Parameters
        ----------
        y : str or list of str
            Numeric column(s).
        by : str or list of str, optional
            Domain column(s).
        na : {"error", "drop", "drop_each"}, default="error"
            As :meth:`survey.Survey.total`: ``"drop"`` keeps complete cases across
            the variables (R ``na.rm = TRUE``), ``"drop_each"`` drops per variable.

        Returns
        -------
        Estimate

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6],
        ...                    "r": ["a", "b", "a", "b"]})
        >>> scan(df, sv.Design(strata="h", weights="w")).total("y", by="r").estimate
        array([ 8., 24.])
        """
        names, byl = _as_list(y, "y"), _as_list(by, "by")
        _check_na(na)
        self._check_by(byl)
        values = [self._numeric_value(v) for v in names]
        valid = _complete_cases([sql_finite(v) for v in values], na)
        zs = [f"CASE WHEN {ok} THEN b.{W} * {v} ELSE {ZERO} END" for v, ok in zip(values, valid)]
        res = self._run(zs, valid, byl, names, na=na)
        return self._estimate("total", byl, names, res, res.sums)

    def _ratio_estimate(self, statistic: str, labels: list[str], ys: list[str], xs: list[str],
                        valid: list[str], by: list[str], na: NaPolicy, join: str = "") -> Estimate:
        """Ratios: domain totals in a first pass, linearised scores in a second (as Survey)."""
        s, q = self._session, self._q
        k = len(ys)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        sel = [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)]
        for j in range(k):
            sel.append(f"CASE WHEN {valid[j]} THEN b.{W} * {ys[j]} ELSE {ZERO} END AS __sv_y{j}")
            sel.append(f"CASE WHEN {valid[j]} THEN b.{W} * {xs[j]} ELSE {ZERO} END AS __sv_x{j}")
            sel.append(f"CASE WHEN {valid[j]} THEN 0 ELSE 1 END AS __sv_b{j}")
        agg = ["COUNT(*) AS __sv_rows"]
        for j in range(k):
            agg += [f"SUM(__sv_y{j}) AS y{j}", f"SUM(__sv_x{j}) AS x{j}", f"SUM(__sv_b{j}) AS bad{j}"]
        where = f"WHERE {self._condition}" if self._condition else ""
        first = s.sql(
            f"SELECT {', '.join(dal + agg)} FROM (SELECT {', '.join(sel)} FROM {self.relation()} b "
            f"{join} {where}) t {group_by(dal)}"
        )
        keys = self._domain_keys(first, by)
        if na == "error":
            _raise_missing(first, labels, k)
        first = first.merge(keys, on=dal, how="left") if by else first.assign(__sv_dom=0)
        D = len(keys)
        dom = first["__sv_dom"].to_numpy(dtype=np.intp)
        Y = np.column_stack([np.bincount(dom, weights=first[f"y{j}"].to_numpy(float), minlength=D)
                             for j in range(k)])
        X = np.column_stack([np.bincount(dom, weights=first[f"x{j}"].to_numpy(float), minlength=D)
                             for j in range(k)])
        with np.errstate(divide="ignore", invalid="ignore"):
            R = np.where(X != 0, Y / X, np.nan)
        table = keys.drop(columns="__sv_dom").rename(columns={a: f"__sv_j{i}" for i, a in enumerate(dal)})
        for j in range(k):
            table[f"__sv_R{j}"] = np.nan_to_num(R[:, j])
            table[f"__sv_X{j}"] = X[:, j]
        view = s.register(table.reset_index(drop=True))
        if by:
            on = " AND ".join(f"b.{q(c)} = dt.__sv_j{i}" for i, c in enumerate(by))
            join2 = f"{join} LEFT JOIN {view} dt ON {on}"
        else:
            join2 = f"{join} CROSS JOIN {view} dt"
        zs = [
            f"CASE WHEN {valid[j]} AND dt.__sv_X{j} <> 0 THEN (b.{W} * ({ys[j]} - dt.__sv_R{j} * {xs[j]})) "
            f"/ dt.__sv_X{j} ELSE {ZERO} END"
            for j in range(k)
        ]
        try:
            res = self._run(zs, valid, by, labels, na="drop", join=join2, keys=keys)
        finally:
            s.drop(view)
        return self._estimate(statistic, by, labels, res, R)

    def mean(self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
             na: NaPolicy = "error") -> Estimate:
        """Estimated population means by domain (as :meth:`survey.Survey.mean`).

        Parameters
        ----------
        y : str or list of str
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"

        Returns
        -------
        Estimate

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3]})
        >>> float(scan(df, sv.Design(weights="w")).mean("y").estimate[0])
        2.25
        """
        names, byl = _as_list(y, "y"), _as_list(by, "by")
        _check_na(na)
        self._check_by(byl)
        ys = [self._numeric_value(v) for v in names]
        one = "CAST(1 AS DOUBLE)"
        return self._ratio_estimate("mean", names, ys, [one] * len(ys),
                                    _complete_cases([sql_finite(v) for v in ys], na), byl, na)

    def ratio(self, numerator: str | Sequence[str], denominator: str | Sequence[str],
              by: str | Sequence[str] | None = None, *, na: NaPolicy = "error") -> Estimate:
        """Estimated ratios of totals ``Y / X`` by domain (as :meth:`survey.Survey.ratio`).

        Parameters
        ----------
        numerator, denominator : str or list of str
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"

        Returns
        -------
        Estimate

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, 2, 3], "x": [2.0, 2, 2]})
        >>> scan(df, sv.Design(weights="w")).ratio("y", "x").table()["variable"].tolist()
        ['y/x']
        """
        nums, dens = _as_list(numerator, "numerator"), _as_list(denominator, "denominator")
        byl = _as_list(by, "by")
        _check_na(na)
        self._check_by(byl)
        iy = np.repeat(np.arange(len(nums)), len(dens))
        ix = np.tile(np.arange(len(dens)), len(nums))
        yv = [self._numeric_value(v) for v in nums]
        xv = [self._numeric_value(v) for v in dens]
        valid = [f"({sql_finite(yv[a])} AND {sql_finite(xv[b])})" for a, b in zip(iy, ix)]
        if na == "drop":  # complete cases across all numerators and denominators (as Survey.ratio)
            valid = _complete_cases([sql_finite(v) for v in yv + xv], na)[:1] * len(valid)
        labels = [f"{nums[a]}/{dens[b]}" for a, b in zip(iy, ix)]
        return self._ratio_estimate("ratio", labels, [yv[a] for a in iy], [xv[b] for b in ix], valid,
                                    byl, na)

    def proportion(self, y: str, by: str | Sequence[str] | None = None, *,
                   na: NaPolicy = "error") -> Estimate:
        """Estimated proportions of each level of a categorical column (as :meth:`survey.Survey.proportion`).

        Parameters
        ----------
        y : str
            Categorical column; rows are labelled ``"y=level"`` in sorted level order.
        by : str or list of str, optional
        na : {"error", "drop", "drop_each"}, default="error"

        Returns
        -------
        Estimate

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "c": ["a", "b", "b"]})
        >>> scan(df, sv.Design(weights="w")).proportion("c").estimate
        array([0.25, 0.75])
        """
        if not isinstance(y, str):
            raise ColumnError("proportion takes one categorical column name")
        byl = _as_list(by, "by")
        _check_na(na)
        self._check_by(byl + [y])
        s, q = self._session, self._q
        col = f"b.{q(y)}"
        present = f"{col} IS NOT NULL"
        if is_float_type(self._columns[y]):
            present += f" AND NOT isnan({col})"
        where = f"WHERE {self._condition}" if self._condition else ""
        levels = s.sql(
            f"SELECT __sv_level, {_sum_flag('__sv_ok = 1')} AS ok, COUNT(*) AS n FROM "
            f"(SELECT {col} AS __sv_level, CASE WHEN {present} THEN 1 ELSE 0 END AS __sv_ok "
            f"FROM {self.relation()} b {where}) t GROUP BY __sv_level"
        )
        missing = int((levels["n"] - levels["ok"]).sum())
        if missing and na == "error":
            raise ColumnError(
                f"column {y!r} has {missing} missing value(s); pass na='drop' to treat them as "
                "outside the domain"
            )
        _, uniques = pd.factorize(levels.loc[levels["ok"] > 0, "__sv_level"], sort=True)
        uniques = np.asarray(uniques)
        table = pd.DataFrame({"__sv_lv": uniques, "__sv_code": np.arange(len(uniques), dtype=np.int64)})
        view = s.register(table)
        try:
            labels = [f"{y}={lev}" for lev in uniques]
            ys = [f"CASE WHEN lv.__sv_code = {j} THEN CAST(1 AS DOUBLE) ELSE {ZERO} END"
                  for j in range(len(uniques))]
            one = "CAST(1 AS DOUBLE)"
            valid = ["(lv.__sv_code IS NOT NULL)"] * len(uniques)
            return self._ratio_estimate("proportion", labels, ys, [one] * len(ys), valid, byl, "drop",
                                        join=f"LEFT JOIN {view} lv ON {col} = lv.__sv_lv")
        finally:
            s.drop(view)

    # -- the passes -----------------------------------------------------------------
    def _domain_keys(self, table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
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

    def _run(self, zs: list[str], valid: list[str], by: list[str], names: list[str], *,
             na: NaPolicy, join: str = "", keys: pd.DataFrame | None = None) -> "_Result":
        """Scores ``zs`` (SQL over alias ``b``) -> point sums, counts and covariances by domain."""
        k = len(zs)
        if self._weighting is not None:
            return self._run_calibrated(zs, valid, by, names, na=na, join=join, keys=keys)
        raw = [self._stage_query(st, zs, valid, by, join) for st in self._stages]
        if keys is None:
            keys = self._domain_keys(raw[0], by)
        if na == "error":
            _raise_missing(raw[0], names, k)
        D = len(keys)
        tables = [self._with_stratum(st, self._with_domain(t, keys, by)) for st, t in zip(self._stages, raw)]
        sums, counts = _domain_sums(tables[0], D, k)
        cov = plain_variance(self._stages, tables, D, k)
        return _Result(keys=keys, sums=sums, counts=counts, cov=cov)

    def _with_domain(self, t: pd.DataFrame, keys: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        if not by:
            return t.assign(__sv_dom=0)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        out = t.merge(keys, on=dal, how="left")
        if out["__sv_dom"].isna().any():
            raise SurveyError("internal error: a domain of the second pass is not in the first")
        out["__sv_dom"] = out["__sv_dom"].astype(np.intp)
        return out

    def _run_calibrated(self, zs: list[str], valid: list[str], by: list[str], names: list[str], *,
                        na: NaPolicy, join: str, keys: pd.DataFrame | None) -> "_Result":
        """After weighting: normal equations of the residual model first, residuals in a second pass."""
        s, q, wg = self._session, self._q, self._weighting
        k = len(zs)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        C = [f"__sv_c{m}" for m in range(len(wg.margins))]
        p = len(wg.numeric)
        # pass 1: per domain x cell, the right-hand sides of the residual model, point sums, counts
        sel = [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)] + [f"b.{c} AS {c}" for c in C]
        sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
        sel.append(f"b.{W} AS __sv_wt")
        for j, (z, v) in enumerate(zip(zs, valid)):
            sel += [f"{z} AS __sv_z{j}", f"CASE WHEN {v} THEN 1 ELSE 0 END AS __sv_v{j}",
                    f"{wg.rhs_sql('b', z)} AS __sv_r{j}"]
        agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
        agg += [f"SUM(__sv_r{j}) AS r{j}" for j in range(k)]
        agg += [f"SUM(__sv_r{j} * __sv_x{i}) AS rx{j}_{i}" for j in range(k) for i in range(p)]
        where = f"WHERE {self._condition}" if self._condition else ""
        first = s.sql(
            f"SELECT {', '.join(dal + C + agg + self._counts_sql(k))} FROM (SELECT {', '.join(sel)} "
            f"FROM {self.relation()} b {join} {where}) r {group_by(dal + C)}"
        )
        if keys is None:
            keys = self._domain_keys(first, by)
        if na == "error":
            _raise_missing(first, names, k)
        D = len(keys)
        first = wg.with_cells(self._with_domain(first, keys, by))
        sums, counts = _domain_sums(first, D, k)
        beta_cat, beta_num = wg.betas(first, D, k)
        # the fitted model term of every (domain, cell), joined to the rows in the second pass
        bt = first[dal + C].rename(columns={a: f"__sv_j{i}" for i, a in enumerate(dal)})
        bt = bt.rename(columns={c: c.replace("__sv_c", "__sv_bc") for c in C}).reset_index(drop=True)
        dom, cell = first["__sv_dom"].to_numpy(), first["__sv_cell"].to_numpy()
        for j in range(k):
            bt[f"__sv_bt{j}"] = beta_cat[dom, cell, j]
            for i in range(p):
                bt[f"__sv_bn{i}_{j}"] = beta_num[dom, i, j]
        view = s.register(bt)
        on = [f"b.{q(c)} = bt.__sv_j{i}" for i, c in enumerate(by)]
        on += [f"b.{c} = bt.{c.replace('__sv_c', '__sv_bc')}" for c in C]
        join2 = f"{join} {'LEFT JOIN' if on else 'CROSS JOIN'} {view} bt" + (f" ON {' AND '.join(on)}" if on else "")
        m = wg.model_weight_sql("b")
        resid = []
        for j, z in enumerate(zs):
            fit = " + ".join([f"bt.__sv_bt{j}"] + [f"CAST(b.{q(c)} AS DOUBLE) * bt.__sv_bn{i}_{j}"
                                                 for i, c in enumerate(wg.numeric)])
            resid.append(f"({z}) - ({m}) * ({fit})")
        cov = np.zeros((D, k, k))
        try:
            for i, st in enumerate(self._stages):
                if st.unit is None:
                    t = self._with_stratum(st, self._with_domain(
                        self._stage_query(st, resid, valid, by, join2), keys, by))
                    mt = self._model_sums_by_domain(i, by, keys)
                    cov += calibrated_element_variance(st, t, mt, beta_cat, beta_num, D, k)
                else:
                    t = self._stage_query_calibrated(st, zs, valid, by, join)
                    t = wg.with_cells(self._with_domain(t, keys, by))
                    tu = t.groupby(["__sv_unit", "__sv_dom"], sort=False)[[f"s{j}" for j in range(k)]].sum()
                    cov += calibrated_cluster_variance(st, tu.reset_index(), self._model_sums(i), beta_cat,
                                                       beta_num, D, k)
        finally:
            s.drop(view)
        return _Result(keys=keys, sums=sums, counts=counts, cov=cov)

    def _model_sums_by_domain(self, stage: int, by: list[str], keys: pd.DataFrame) -> pd.DataFrame:
        """Model-weight sums per stratum x cell x domain of the row, over all rows (cached).

        Rows outside the subset get domain ``D``. Independent of the variables.
        """
        wg = self._weighting
        key = ("md", stage, tuple(by), self._condition)
        cached = wg.cache.get(key)
        if cached is not None:
            return cached
        st = self._stages[stage]
        q = self._q
        K = st.aliases
        dal = [f"__sv_d{i}" for i in range(len(by))]
        C = [f"__sv_c{m}" for m in range(len(wg.margins))]
        p = len(wg.numeric)
        inside = f"CASE WHEN {self._condition} THEN 1 ELSE 0 END" if self._condition else "1"
        sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
        sel += [f"b.{q(c)} AS {a}" for c, a in zip(by, dal)] + [f"b.{c} AS {c}" for c in C]
        sel += [f"{inside} AS __sv_in", f"{wg.model_weight_sql('b')} AS __sv_m"]
        sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
        agg = ["SUM(__sv_m) AS mb", "SUM(__sv_m * __sv_m) AS m0"]
        agg += [f"SUM(__sv_m * __sv_x{i}) AS mbx{i}" for i in range(p)]
        agg += [f"SUM(__sv_m * __sv_m * __sv_x{i}) AS m1_{i}" for i in range(p)]
        agg += [f"SUM(__sv_m * __sv_m * __sv_x{a} * __sv_x{b}) AS m2_{a}_{b}" for a in range(p) for b in range(a, p)]
        groups = K + ["__sv_in"] + dal + C
        table = self._session.sql(
            f"SELECT {', '.join(groups + agg)} FROM (SELECT {', '.join(sel)} FROM {self.relation()} b) r "
            f"{group_by(groups)}"
        )
        D = len(keys)
        inn = table["__sv_in"].to_numpy() == 1
        if by:
            merged = table[dal].merge(keys, on=dal, how="left")["__sv_dom"].to_numpy()
            dom = np.where(inn, np.nan_to_num(merged, nan=-1), D).astype(np.intp)
            if (dom < 0).any():
                raise SurveyError("internal error: a domain of the model sums is not among the domains")
        else:
            dom = np.where(inn, 0, D).astype(np.intp)
        table = wg.with_cells(self._with_stratum(st, table.assign(__sv_dom=dom)))
        wg.cache[key] = table
        return table

    def _with_stratum(self, st: StageTable, t: pd.DataFrame) -> pd.DataFrame:
        if not st.keys:
            return t.assign(__sv_h=0)
        idx = st.table[st.aliases].assign(__sv_h=np.arange(len(st.table)))
        out = t.merge(idx, on=st.aliases, how="left")
        if out["__sv_h"].isna().any():
            raise SurveyError("internal error: a stratum of the estimation pass is not in the design")
        out["__sv_h"] = out["__sv_h"].astype(np.intp)
        return out

    def _inner(self, st: StageTable, zs: list[str], valid: list[str], by: list[str], join: str,
               extra: Sequence[str] = ()) -> str:
        q = self._q
        sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
        if st.unit is not None:
            sel.append(f"b.{q(st.unit)} AS __sv_u")
        sel += [f"b.{q(c)} AS __sv_d{i}" for i, c in enumerate(by)]
        sel.append(f"b.{W} AS __sv_wt")
        for j, (z, v) in enumerate(zip(zs, valid)):
            sel.append(f"{z} AS __sv_z{j}")
            sel.append(f"CASE WHEN {v} THEN 1 ELSE 0 END AS __sv_v{j}")
        sel += list(extra)
        where = f"WHERE {self._condition}" if self._condition else ""
        return f"SELECT {', '.join(sel)} FROM {self.relation()} b {join} {where}"

    @staticmethod
    def _counts_sql(k: int) -> list[str]:
        return ([f"SUM(CASE WHEN __sv_wt > 0 AND __sv_v{j} = 1 THEN 1 ELSE 0 END) AS c{j}" for j in range(k)]
                + [f"SUM(1 - __sv_v{j}) AS bad{j}" for j in range(k)])

    def _stage_query(self, st: StageTable, zs, valid, by, join) -> pd.DataFrame:
        """Per stratum x domain: sums and cross products of the unit totals of the scores."""
        k = len(zs)
        K = st.aliases
        dal = [f"__sv_d{i}" for i in range(len(by))]
        inner = self._inner(st, zs, valid, by, join)
        if st.unit is None:
            agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
            agg += [f"SUM(__sv_z{a} * __sv_z{b}) AS q{a}_{b}" for a in range(k) for b in range(a, k)]
            return self._session.sql(
                f"SELECT {', '.join(K + dal + agg + self._counts_sql(k))} FROM ({inner}) r {group_by(K + dal)}"
            )
        # a clustered stage: unit (PSU) x domain totals first, inside the query
        mid_agg = ["COUNT(*) AS __sv_n"] + [f"SUM(__sv_z{j}) AS a{j}" for j in range(k)]
        mid_agg += [x.replace(" AS c", " AS n").replace(" AS bad", " AS m") for x in self._counts_sql(k)]
        mid = f"SELECT {', '.join(K + ['__sv_u'] + dal + mid_agg)} FROM ({inner}) r {group_by(K + ['__sv_u'] + dal)}"
        agg = ["SUM(__sv_n) AS __sv_rows"] + [f"SUM(a{j}) AS s{j}" for j in range(k)]
        agg += [f"SUM(a{a} * a{b}) AS q{a}_{b}" for a in range(k) for b in range(a, k)]
        agg += [f"SUM(n{j}) AS c{j}" for j in range(k)] + [f"SUM(m{j}) AS bad{j}" for j in range(k)]
        return self._session.sql(f"SELECT {', '.join(K + dal + agg)} FROM ({mid}) u {group_by(K + dal)}")

    def _stage_query_calibrated(self, st: StageTable, zs, valid, by, join) -> pd.DataFrame:
        """Clustered stage after weighting: score sums per unit x domain x cell (pulled to numpy)."""
        wg = self._weighting
        k = len(zs)
        dal = [f"__sv_d{i}" for i in range(len(by))]
        C = [f"__sv_c{m}" for m in range(len(wg.margins))]
        inner = self._inner(st, zs, valid, by, join, [f"b.{c} AS {c}" for c in C])
        agg = ["COUNT(*) AS __sv_rows"] + [f"SUM(__sv_z{j}) AS s{j}" for j in range(k)]
        groups = st.aliases + ["__sv_u"] + dal + C
        table = self._session.sql(
            f"SELECT {', '.join(groups + agg + self._counts_sql(k))} FROM ({inner}) r {group_by(groups)}"
        )
        return self._with_unit(st, table)

    def _model_sums(self, stage: int) -> pd.DataFrame:
        """Sums of the model weights per stratum x cell (element stage) or unit x cell, over all rows.

        Computed once per weighting and stage (cached): they depend on neither
        the variable nor the domain.
        """
        wg = self._weighting
        cached = wg.cache.get(("m", stage))
        if cached is not None:
            return cached
        st = self._stages[stage]
        q = self._q
        K = st.aliases
        C = [f"__sv_c{m}" for m in range(len(wg.margins))]
        p = len(wg.numeric)
        sel = [f"b.{q(kc)} AS {a}" for kc, a in zip(st.keys, st.aliases)]
        if st.unit is not None:
            sel.append(f"b.{q(st.unit)} AS __sv_u")
        sel += [f"b.{c} AS {c}" for c in C]
        sel += [f"CAST(b.{q(c)} AS DOUBLE) AS __sv_x{i}" for i, c in enumerate(wg.numeric)]
        sel.append(f"{wg.model_weight_sql('b')} AS __sv_m")
        inner = f"SELECT {', '.join(sel)} FROM {self.relation()} b"
        agg = ["SUM(__sv_m) AS mb"] + [f"SUM(__sv_m * __sv_x{i}) AS mbx{i}" for i in range(p)]
        if st.unit is None:
            agg += ["SUM(__sv_m * __sv_m) AS m0"]
            agg += [f"SUM(__sv_m * __sv_m * __sv_x{i}) AS m1_{i}" for i in range(p)]
            agg += [f"SUM(__sv_m * __sv_m * __sv_x{a} * __sv_x{b}) AS m2_{a}_{b}"
                    for a in range(p) for b in range(a, p)]
            groups = K + C
        else:
            groups = K + ["__sv_u"] + C
        table = self._session.sql(f"SELECT {', '.join(groups + agg)} FROM ({inner}) r {group_by(groups)}")
        table = wg.with_cells(self._with_stratum(st, table))
        if st.unit is not None:
            table = self._with_unit(st, table)
        wg.cache[("m", stage)] = table
        return table

    def _with_unit(self, st: StageTable, t: pd.DataFrame) -> pd.DataFrame:
        """Add ``__sv_unit`` codes (0..U-1, fixed per stage and weighting) to a unit-level table."""
        wg = self._weighting
        units = wg.cache.get(("units", id(st)))
        if units is None:
            units = self._session.sql(
                f"SELECT DISTINCT {', '.join([f'b.{self._q(kc)} AS {a}' for kc, a in zip(st.keys, st.aliases)] + [f'b.{self._q(st.unit)} AS __sv_u'])} "
                f"FROM {self.relation()} b"
            )
            units = units.sort_values(st.aliases + ["__sv_u"], kind="stable").reset_index(drop=True)
            units["__sv_unit"] = np.arange(len(units))
            wg.cache[("units", id(st))] = units
        out = t.merge(units, on=st.aliases + ["__sv_u"], how="left")
        out["__sv_unit"] = out["__sv_unit"].astype(np.intp)
        return out

    def _estimate(self, statistic: str, by: list[str], labels: list[str], res: "_Result",
                  point: np.ndarray) -> Estimate:
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
            df=self._df,
            n=res.counts,
        )

    # -- access for the weighting functions -------------------------------------------
    @property
    def condition(self) -> str | None:
        """The SQL condition of :meth:`subset`, or ``None``."""
        return self._condition

    @property
    def column_types(self) -> dict[str, str]:
        """Source column names and their engine types (lower case)."""
        return dict(self._columns)

    @property
    def weighting_step(self) -> SQLWeighting | None:
        """The weighting applied (an :class:`~survey.estimation.outofcore_weighting.SQLWeighting`)."""
        return self._weighting

    def with_weighting(self, weighting: SQLWeighting) -> "OutOfCoreSurvey":
        """The same sample and design with new weights (used by the weighting functions)."""
        new = self._copy()
        new._weighting = weighting
        return new

    # -- weighting (in survey.estimation.outofcore_weighting) ----------------------------
    def calibrate(self, totals: Mapping[str, Any], *, method: str = "linear",
                  bounds: tuple[float, float] | None = None, population_size: float | None = None,
                  max_iter: int = 50, tol: float = 1e-10) -> "OutOfCoreSurvey":
        """Calibrate the weights to known totals (as :func:`survey.estimation.weighting.calibrate`).

        Numeric column -> population total; categorical column -> ``{level:
        count}`` for every level. The Newton steps run on small tables of
        cells (combinations of the categorical margins' levels) with the
        sums of the numeric auxiliaries; the new weights are an SQL
        expression, and standard errors use the calibration residuals.

        Returns
        -------
        OutOfCoreSurvey

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"size": ["S", "S", "L", "L"], "rev": [1.0, 2.0, 5.0, 7.0],
        ...                    "w": [10.0, 10.0, 2.0, 2.0]})
        >>> s = scan(df, sv.Design(weights="w")).calibrate({"size": {"S": 30, "L": 5}, "rev": 80})
        >>> s.total("rev").estimate.round(6)
        array([80.])
        """
        from survey.estimation.outofcore_weighting import calibrate

        return calibrate(self, totals, method=method, bounds=bounds, population_size=population_size,
                         max_iter=max_iter, tol=tol)

    def poststratify(self, column: str, counts: Mapping[Any, float]) -> "OutOfCoreSurvey":
        """Post-stratify the weights (as :func:`survey.estimation.weighting.poststratify`).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"k": ["a", "a", "b"], "w": [1.0, 3.0, 2.0], "y": [1.0, 1.0, 1.0]})
        >>> scan(df, sv.Design(weights="w")).poststratify("k", {"a": 8, "b": 5}).total("y").estimate
        array([13.])
        """
        from survey.estimation.outofcore_weighting import poststratify

        return poststratify(self, column, counts)

    def rake(self, margins: Mapping[str, Mapping[Any, float]], *, max_iter: int = 100,
             tol: float = 1e-10, convergence: str = "margins") -> "OutOfCoreSurvey":
        """Rake the weights to categorical margins by IPF (as :func:`survey.estimation.weighting.rake`).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"], "w": 1.0})
        >>> s = scan(df, sv.Design(weights="w")).rake({"a": {"x": 6, "y": 4}, "b": {"u": 5, "v": 5}})
        >>> s.total("w", by="a").estimate
        array([6., 4.])
        """
        from survey.estimation.outofcore_weighting import rake

        return rake(self, margins, max_iter=max_iter, tol=tol, convergence=convergence)

    def write_weights(self, path: Any, columns: Sequence[str] = ()) -> Any:
        """Write ``columns`` and the current weight (column ``weight``) to Parquet, in the engine.

        Examples
        --------
        >>> import pandas as pd, survey as sv, tempfile, os
        >>> s = scan(pd.DataFrame({"id": [1, 2], "w": [2.0, 3.0]}), sv.Design(weights="w"))
        >>> p = s.write_weights(os.path.join(tempfile.mkdtemp(), "w.parquet"), ["id"])
        >>> pd.read_parquet(p)["weight"].tolist()
        [2.0, 3.0]
        """
        cols = [f"b.{self._q(c)}" for c in columns] + [f"b.{W} AS weight"]
        return self._session.write_parquet(f"SELECT {', '.join(cols)} FROM {self.relation()} b", path)


@dataclass(frozen=True, eq=False)
class _Result:
    keys: pd.DataFrame
    sums: np.ndarray
    counts: np.ndarray
    cov: np.ndarray


def _domain_sums(first: pd.DataFrame, D: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    dom = first["__sv_dom"].to_numpy()
    sums = np.column_stack(
        [np.bincount(dom, weights=first[f"s{j}"].to_numpy(float), minlength=D) for j in range(k)]
    )
    counts = np.column_stack(
        [np.bincount(dom, weights=first[f"c{j}"].to_numpy(float), minlength=D) for j in range(k)]
    )
    return sums, counts


def _check_na(na: str) -> None:
    if na not in ("error", "drop", "drop_each"):
        raise SurveyError(f"na={na!r} must be 'error', 'drop' or 'drop_each'")


def _complete_cases(valid: list[str], na: str) -> list[str]:
    """Under ``na="drop"`` a row counts for every variable only if all are present (R na.rm)."""
    if na != "drop" or len(valid) < 2:
        return valid
    both = " AND ".join(f"({v})" for v in dict.fromkeys(valid))
    return [f"({both})"] * len(valid)


def _raise_missing(table: pd.DataFrame, names: list[str], k: int) -> None:
    for j in range(k):
        n = int(table[f"bad{j}"].sum())
        if n:
            raise ColumnError(
                f"column {names[j]!r} has {n} missing value(s); pass na='drop' to treat them as "
                "outside the domain (R na.rm=TRUE)"
            )


def _stage_fraction(lo: np.ndarray, hi: np.ndarray, n_per_stratum: np.ndarray, labels: np.ndarray,
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
