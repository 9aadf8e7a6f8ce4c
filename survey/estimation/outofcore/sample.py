"""The out-of-core sample: :func:`scan` and the class :class:`OutOfCoreSurvey`.

The class holds the source relation, the checked design (:mod:`.design`),
the subset condition and the weighting step, and offers the public methods:
totals, means, ratios and proportions by domain, :meth:`~OutOfCoreSurvey.subset`,
the weighting methods (in :mod:`.calibration` and :mod:`.raking`) and
:meth:`~OutOfCoreSurvey.write_weights`. Each estimate runs its passes through
:class:`~survey.estimation.outofcore.passes.Passes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from survey.design import Design
from survey.engine import (
    Engine,
    Session,
    as_engine,
    is_float_type,
    is_numeric_type,
    sql_finite,
    sql_nan,
)
from survey.errors import ColumnError, DesignError
from survey.estimation.outofcore.design import prepare_design
from survey.estimation.outofcore.passes import Passes
from survey.estimation.outofcore.queries import W0, ZERO, W, levels_sql
from survey.estimation.outofcore.tables import (
    Result,
    check_na,
    complete_cases,
    to_estimate,
)
from survey.estimation.outofcore.weighting import SQLWeighting
from survey.estimation.results import Estimate
from survey.estimation.structure import unknown_columns_message

__all__ = ["OutOfCoreSurvey", "scan"]

NaPolicy = Literal["error", "drop", "drop_each"]


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


def _pair_of(groups: list[list[str]], spans: list[np.ndarray], ratio: Sequence[str]) -> tuple[int, int]:
    """The score positions of a ratio's ``(numerator, denominator)`` group among ``groups``."""
    pair = list(ratio) if not isinstance(ratio, str) else [ratio]
    for names, idx in zip(groups, spans):
        if names == pair and len(pair) == 2:
            return int(idx[0]), int(idx[1])
    raise ColumnError(f"totals: ratio {ratio!r} must be a (numerator, denominator) pair that is "
                      f"one of the groups {groups}")


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
        prepared = prepare_design(self._session, self._src, design, self._columns)
        self._n_rows = prepared.n_rows
        self._stages = prepared.stages
        self._df = prepared.df
        self._weight_sql, self._weight_join = prepared.weight_sql, prepared.weight_join

    # -- construction ---------------------------------------------------------
    def _q(self, name: str) -> str:
        return self._session.q(name)

    # -- the relation every query reads ----------------------------------------
    def relation(self, weighting: Any = "current") -> str:
        """SQL text of the sample as a subquery: source columns plus ``__sv_w0``, ``__sv_w``.

        ``__sv_w0`` is the design weight, ``__sv_w`` the current weight (after
        calibration), ``__sv_c0, ...`` the calibration cell codes. Use it to
        write your own queries on the same engine. ``weighting``: an
        :class:`~survey.estimation.outofcore.SQLWeighting` to use
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
        check_na(na)
        self._check_by(byl)
        values = [self._numeric_value(v) for v in names]
        valid = complete_cases([sql_finite(v) for v in values], na)
        zs = [f"CASE WHEN {ok} THEN b.{W} * {v} ELSE {ZERO} END" for v, ok in zip(values, valid)]
        res = self._passes().run(zs, valid, byl, names, na=na)
        return to_estimate("total", byl, names, res, res.sums, self._df)

    def totals(self, groups: Sequence[Sequence[str]], by: str | Sequence[str] | None = None, *,
               ratios: Sequence[Sequence[str]] = ()) -> list[Estimate]:
        """Several complete-case totals in one pass: ``[total(g, by, na="drop") for g in groups]``.

        Each group of variables keeps its own complete cases (a row counts for
        a group's variables only if all of them are present); the scores of
        every group go through one pass over the units (one pair of passes
        after weighting) instead of one per group, and each estimate equals
        that group's :meth:`total` with ``na="drop"``.

        Parameters
        ----------
        groups : sequence of (str or list of str)
            The variables of each estimate.
        by : str or list of str, optional
            Domain column(s).
        ratios : sequence of (numerator, denominator), optional
            Pairs that are groups of ``groups``: their ratios, estimated from the
            pairs' totals (no pass of their own for the domain totals; after
            weighting, one variance pass with the totals'), come back as one more
            estimate, the ratios in order, = ``ratio(y, x, by, na="drop")`` of each.

        Returns
        -------
        list of Estimate
            One per group, in order (then the ratios' if ``ratios``).

        Examples
        --------
        >>> import pandas as pd, survey as sv
        >>> df = pd.DataFrame({"w": [1.0, 1, 2], "y": [1.0, None, 3], "x": [2.0, 2, None]})
        >>> s = scan(df, sv.Design(weights="w"))
        >>> [e.estimate.tolist() for e in s.totals([["y"], ["y", "x"], ["x"]])]
        [[7.0], [1.0, 2.0], [4.0]]
        >>> s.totals([["y", "x"]], ratios=[("y", "x")])[1].table()[["variable", "estimate"]]
          variable  estimate
        0      y/x       0.5
        """
        byl = _as_list(by, "by")
        self._check_by(byl)
        lists = [_as_list(g, "y") for g in groups]
        zs: list[str] = []
        valid: list[str] = []
        spans = []
        for names in lists:
            values = [self._numeric_value(v) for v in names]
            ok = complete_cases([sql_finite(v) for v in values], "drop")
            spans.append(np.arange(len(zs), len(zs) + len(values)))
            zs += [f"CASE WHEN {o} THEN b.{W} * {v} ELSE {ZERO} END" for v, o in zip(values, ok)]
            valid += ok
        every = [n for g in lists for n in g]
        pairs = [_pair_of(lists, spans, r) for r in ratios]
        if pairs:
            res, rres, R = self._passes().totals_and_ratios(
                zs, valid, byl, every, pairs, [self._numeric_value(y) for y, _ in ratios],
                [self._numeric_value(x) for _, x in ratios])
        else:
            res = self._passes().run(zs, valid, byl, every, na="drop")
        out = []
        for names, idx in zip(lists, spans):
            part = Result(keys=res.keys, sums=res.sums[:, idx], counts=res.counts[:, idx],
                          cov=res.cov[:, idx][:, :, idx])
            out.append(to_estimate("total", byl, names, part, part.sums, self._df))
        if pairs:
            out.append(to_estimate("ratio", byl, [f"{y}/{x}" for y, x in ratios], rres, R, self._df))
        return out

    def _ratio_estimate(self, statistic: str, labels: list[str], ys: list[str], xs: list[str],
                        valid: list[str], by: list[str], na: NaPolicy, join: str = "") -> Estimate:
        """Ratios: domain totals in a first pass, linearised scores in a second (as Survey)."""
        res, point = self._passes().ratio(ys, xs, valid, by, labels, na, join)
        return to_estimate(statistic, by, labels, res, point, self._df)

    def _passes(self) -> Passes:
        """The estimation passes over the sample as it is (subset, weighting)."""
        return Passes(session=self._session, relation=self.relation(), stages=self._stages,
                      condition=self._condition, weighting=self._weighting)

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
        check_na(na)
        self._check_by(byl)
        ys = [self._numeric_value(v) for v in names]
        one = "CAST(1 AS DOUBLE)"
        return self._ratio_estimate("mean", names, ys, [one] * len(ys),
                                    complete_cases([sql_finite(v) for v in ys], na), byl, na)

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
        check_na(na)
        self._check_by(byl)
        iy = np.repeat(np.arange(len(nums)), len(dens))
        ix = np.tile(np.arange(len(dens)), len(nums))
        yv = [self._numeric_value(v) for v in nums]
        xv = [self._numeric_value(v) for v in dens]
        valid = [f"({sql_finite(yv[a])} AND {sql_finite(xv[b])})" for a, b in zip(iy, ix)]
        if na == "drop":  # complete cases across all numerators and denominators (as Survey.ratio)
            valid = complete_cases([sql_finite(v) for v in yv + xv], na)[:1] * len(valid)
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
        check_na(na)
        self._check_by(byl + [y])
        s, q = self._session, self._q
        col = f"b.{q(y)}"
        present = f"{col} IS NOT NULL"
        if is_float_type(self._columns[y]):
            present += f" AND NOT {sql_nan(col)}"
        levels = s.sql(levels_sql(self.relation(), self._condition, col, present))
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
        """The weighting applied (an :class:`~survey.estimation.outofcore.SQLWeighting`)."""
        return self._weighting

    def with_weighting(self, weighting: SQLWeighting) -> "OutOfCoreSurvey":
        """The same sample and design with new weights (used by the weighting functions)."""
        new = self._copy()
        new._weighting = weighting
        return new

    # -- weighting (in survey.estimation.outofcore.calibration and .raking) --------------
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
        from survey.estimation.outofcore.calibration import calibrate

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
        from survey.estimation.outofcore.calibration import poststratify

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
        from survey.estimation.outofcore.raking import rake

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

