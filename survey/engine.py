"""The engine seam: run the heavy passes over units as SQL, on DuckDB or Spark.

The in-memory numpy code is the reference implementation of every statistic.
When the units do not fit in memory (a national register, twenty quarters of
returns), the passes over units become SQL queries that return *small*
summary tables (per stratum, PSU, domain, cell) and the same numpy code
finishes the statistics from them. This module is the one place that knows
how to run such a query:

* :class:`Engine` is the settings object: ``kind`` (``"duckdb"``, the
  embedded default, out of core; or ``"spark"`` for more than one machine),
  ``memory_limit`` (always applied to DuckDB connections, never DuckDB's
  default of 80% of the RAM), ``temp_directory`` (where DuckDB spills),
  ``threads``, the Spark master URL, or a connection / Spark session of your
  own.
* :class:`Session` (from :meth:`Engine.session`) registers inputs (a Parquet
  file, glob or list of files; a DuckDB relation or table; a pandas frame;
  a Spark DataFrame) under a view name and runs SQL text, returning small
  pandas tables.

Each query is written once as SQL text that both engines execute (the
common subset of DuckDB SQL and Spark SQL: ``GROUP BY``, ``CASE``,
``CAST(... AS DOUBLE)``, window functions, joins ``USING``). The only
dialect differences are handled here: identifier quoting
(:meth:`Session.q`), how files are read, and how small tables are sent.
Float literals go through :func:`sql_float` (``CAST('...' AS DOUBLE)``,
exact in both engines). See ``docs/scale.md`` for why SQL text and not an
expression layer.

Only numpy, pandas and the standard library are imported at module level;
``duckdb``, ``pyarrow`` and ``pyspark`` are imported when a session needs them.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import pandas as pd

from survey.errors import EngineError

__all__ = [
    "ENGINE_KINDS",
    "Engine",
    "Session",
    "as_engine",
    "group_by",
    "is_float_type",
    "is_numeric_type",
    "memory_bytes",
    "quote_identifier",
    "sql_finite",
    "sql_float",
    "sql_literal",
    "sql_nan",
]

#: The engines that execute the SQL text.
ENGINE_KINDS = ("duckdb", "spark")

_NUMERIC_TYPES = (
    "tinyint", "smallint", "integer", "int", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "uhugeint", "float", "double", "real", "decimal", "long",
    "short", "byte", "numeric", "float4", "float8", "int2", "int4", "int8", "boolean",
)
_FLOAT_TYPES = ("float", "double", "real", "float4", "float8")


def memory_bytes(text: str | int) -> int:
    """Bytes in a memory setting such as ``"4GB"``, ``"200MB"``, ``"1.5GiB"`` or an int.

    Parameters
    ----------
    text : str or int
        A number with a unit (B, KB, MB, GB, TB; KiB, MiB, GiB, TiB), or bytes.

    Returns
    -------
    int

    Examples
    --------
    >>> memory_bytes("4GB"), memory_bytes("200MiB")
    (4000000000, 209715200)
    """
    if isinstance(text, (int,)) and not isinstance(text, bool):
        if text <= 0:
            raise EngineError(f"memory_limit must be positive, got {text}")
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]i?B|B)?\s*", str(text), flags=re.I)
    if match is None:
        raise EngineError(
            f"memory_limit={text!r} is not a size like '4GB', '500MB' or '2GiB'"
        )
    value = float(match.group(1))
    unit = (match.group(2) or "B").upper()
    power = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4}[unit[0]]
    base = 1024 if "I" in unit else 1000
    out = int(value * base**power)
    if out <= 0:
        raise EngineError(f"memory_limit must be positive, got {text!r}")
    return out


def sql_float(value: float) -> str:
    """An exact SQL literal for a float, understood by DuckDB and Spark alike.

    ``CAST('<repr>' AS DOUBLE)``: the shortest decimal string that rounds to
    the same double, parsed with correct rounding by both engines (a bare
    ``0.1`` would be a DECIMAL in both, and ``1e-300`` would not fit one).

    Examples
    --------
    >>> sql_float(0.1)
    "CAST('0.1' AS DOUBLE)"
    >>> sql_float(float("inf"))
    "CAST('Infinity' AS DOUBLE)"
    """
    v = float(value)
    if math.isnan(v):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(v):
        return "CAST('Infinity' AS DOUBLE)" if v > 0 else "CAST('-Infinity' AS DOUBLE)"
    return f"CAST('{v!r}' AS DOUBLE)"


@dataclass(frozen=True, kw_only=True, eq=False)
class Engine:
    """Settings of the SQL engine that runs the passes over units.

    Parameters
    ----------
    kind : {"duckdb", "spark"}, default="duckdb"
        DuckDB (embedded, out of core: spills to ``temp_directory`` when the
        data exceed ``memory_limit``) or Spark (``pip install
        survey-toolkit[spark]`` and Java 17+).
    memory_limit : str, default="4GB"
        Memory budget. DuckDB: always set on the connection (also on a
        connection you pass), never DuckDB's default of 80% of the RAM.
        Spark: the driver memory of a session this object starts (local
        mode runs in the driver); ignored for a session you pass.
    temp_directory : str or path, optional
        Where DuckDB spills and Spark writes shuffle files. Default: a
        ``survey-engine`` folder in the system temporary directory.
    threads : int, optional
        DuckDB threads (default: DuckDB's, the number of cores); for a Spark
        session this object starts, the ``local[threads]`` master.
    spark_master : str, default="local[*]"
        Spark master URL (``"local[2]"``, ``"spark://host:7077"``,
        ``"yarn"``) for a session this object starts.
    spark_config : mapping, optional
        Extra Spark settings for a session this object starts.
    connection : duckdb.DuckDBPyConnection or pyspark.sql.SparkSession, optional
        Use this connection or session instead of opening one (a DuckDB
        relation can only be read on its own connection).

    Examples
    --------
    >>> eng = Engine(memory_limit="1GB", threads=2)
    >>> s = eng.session()
    >>> s.sql("SELECT 1 + 1 AS two")
       two
    0    2
    >>> s.setting("memory_limit") in ("1GB", "953.6 MiB")
    True
    """

    kind: Literal["duckdb", "spark"] = "duckdb"
    memory_limit: str = "4GB"
    temp_directory: str | os.PathLike | None = None
    threads: int | None = None
    spark_master: str = "local[*]"
    spark_config: Mapping[str, str] | None = None
    connection: Any = None
    _sessions: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ENGINE_KINDS:
            raise EngineError(f"Engine kind={self.kind!r} is not one of {', '.join(ENGINE_KINDS)}")
        memory_bytes(self.memory_limit)
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise EngineError(f"Engine threads={self.threads!r} must be a positive int or None")
        if self.connection is not None:
            is_spark = type(self.connection).__module__.startswith("pyspark")
            if is_spark and self.kind != "spark":
                object.__setattr__(self, "kind", "spark")
            elif not is_spark and self.kind == "spark":
                raise EngineError("Engine(kind='spark') needs a SparkSession as connection")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> "Engine":
        """An Engine from a config section such as ``[engine]`` of ``survey.toml``.

        Keys: ``kind``, ``memory_limit``, ``temp_directory``, ``threads``,
        ``spark_master``, ``spark_config`` (a table). Unknown keys are an error.

        Examples
        --------
        >>> Engine.from_config({"kind": "duckdb", "memory_limit": "2GB"}).memory_limit
        '2GB'
        """
        section = dict(section or {})
        known = {"kind", "memory_limit", "temp_directory", "threads", "spark_master", "spark_config"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise EngineError(
                f"[engine] has unknown key(s) {unknown}; known keys are {sorted(known)}"
            )
        return cls(**section)

    def session(self) -> "Session":
        """The open session of this engine (opened on first use, then reused).

        Returns
        -------
        Session
        """
        s = self._sessions.get("session")
        if s is None or s.closed:
            s = Session(self)
            self._sessions["session"] = s
        return s

    def close(self) -> None:
        """Close the session this engine opened (a connection you passed stays open)."""
        s = self._sessions.pop("session", None)
        if s is not None:
            s.close()


def as_engine(engine: "Engine | Session | str | None") -> "Session":
    """A session from an Engine, a Session, an engine kind or ``None`` (DuckDB defaults).

    Examples
    --------
    >>> as_engine(None).kind
    'duckdb'
    """
    if isinstance(engine, Session):
        return engine
    if engine is None:
        return _default_engine().session()
    if isinstance(engine, str):
        return Engine(kind=engine).session()
    if isinstance(engine, Engine):
        return engine.session()
    raise EngineError(f"engine must be an Engine, a Session, 'duckdb', 'spark' or None, got {engine!r}")


_DEFAULT: dict[str, Engine] = {}


def _default_engine() -> Engine:
    eng = _DEFAULT.get("engine")
    if eng is None:
        eng = Engine()
        _DEFAULT["engine"] = eng
    return eng


def _default_temp() -> str:
    return os.path.join(tempfile.gettempdir(), "survey-engine")


def _spark_memory(text: str) -> str:
    """Spark's notation for a memory size (whole megabytes): ``"4GB"`` -> ``"3815m"``."""
    return f"{max(1, memory_bytes(text) // (1024 * 1024))}m"


class Session:
    """An open connection of an :class:`Engine`: register inputs, run SQL.

    Do not build directly; use :meth:`Engine.session` or :func:`as_engine`.

    Examples
    --------
    >>> import pandas as pd
    >>> s = Engine().session()
    >>> name = s.register(pd.DataFrame({"h": ["a", "a", "b"], "y": [1.0, 2.0, 4.0]}))
    >>> s.sql(f"SELECT h, SUM(y) AS y FROM {name} GROUP BY h ORDER BY h")
       h    y
    0  a  3.0
    1  b  4.0
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.kind = engine.kind
        self.closed = False
        self._own = engine.connection is None
        self._views: list[str] = []
        if self.kind == "duckdb":
            self._con = self._open_duckdb()
        else:
            self._con = self._open_spark()

    # -- opening -------------------------------------------------------------
    def _open_duckdb(self) -> Any:
        try:
            import duckdb
        except ImportError as exc:  # pragma: no cover - duckdb is a dependency
            raise EngineError("DuckDB is not installed: pip install duckdb") from exc
        eng = self.engine
        temp = str(eng.temp_directory) if eng.temp_directory is not None else _default_temp()
        Path(temp).mkdir(parents=True, exist_ok=True)
        if eng.connection is not None:
            con = eng.connection
        else:
            con = duckdb.connect(database=":memory:")
        # always set: never DuckDB's default of 80% of the machine's RAM
        con.execute(f"SET memory_limit = '{memory_bytes(eng.memory_limit)}B'")
        if eng.connection is None or eng.temp_directory is not None:
            con.execute(f"SET temp_directory = '{_sql_string(temp)}'")
        if eng.threads is not None:
            con.execute(f"SET threads = {int(eng.threads)}")
        if self._own:
            # large COPY / joins need not keep the input order (less memory); no progress bar
            # on stdout
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
        return con

    def _open_spark(self) -> Any:
        eng = self.engine
        if eng.connection is not None:
            return eng.connection
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError(
                "Engine(kind='spark') needs PySpark: pip install 'survey-toolkit[spark]' "
                "(and Java 17 or later)"
            ) from exc
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise EngineError(
                "Engine(kind='spark') needs Java 17 or later (no 'java' on PATH and no JAVA_HOME); "
                "on Debian: apt-get install openjdk-17-jre-headless"
            )
        temp = str(eng.temp_directory) if eng.temp_directory is not None else _default_temp()
        Path(temp).mkdir(parents=True, exist_ok=True)
        master = eng.spark_master
        if eng.threads is not None and master.startswith("local"):
            master = f"local[{int(eng.threads)}]"
        builder = (
            SparkSession.builder.master(master)
            .appName("survey-toolkit")
            .config("spark.driver.memory", _spark_memory(eng.memory_limit))
            .config("spark.local.dir", temp)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
        )
        if master.startswith("local"):
            builder = builder.config("spark.sql.shuffle.partitions", "8")
        for key, value in (eng.spark_config or {}).items():
            builder = builder.config(str(key), str(value))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    # -- settings -----------------------------------------------------------
    @property
    def connection(self) -> Any:
        """The underlying DuckDB connection or Spark session."""
        return self._con

    def setting(self, name: str) -> str:
        """Current value of an engine setting (``"memory_limit"``, ``"temp_directory"``, ``"threads"``).

        Examples
        --------
        >>> Engine(threads=1).session().setting("threads")
        '1'
        """
        if self.kind == "duckdb":
            return str(self._con.execute(f"SELECT current_setting('{_sql_string(name)}')").fetchone()[0])
        spark_name = {"memory_limit": "spark.driver.memory", "temp_directory": "spark.local.dir",
                      "threads": "spark.master"}.get(name, name)
        return str(self._con.conf.get(spark_name))

    # -- SQL ----------------------------------------------------------------
    def q(self, name: str) -> str:
        """Quote an identifier for this engine (``"a b"`` in DuckDB, ```a b``` in Spark).

        Examples
        --------
        >>> Engine().session().q('sch.wide')
        '"sch.wide"'
        """
        name = str(name)
        if self.kind == "duckdb":
            return '"' + name.replace('"', '""') + '"'
        return "`" + name.replace("`", "``") + "`"

    def sql(self, query: str) -> pd.DataFrame:
        """Run a query and return its (small) result as a pandas DataFrame.

        Parameters
        ----------
        query : str
            SQL text in the common subset of DuckDB and Spark SQL.

        Returns
        -------
        pandas.DataFrame
        """
        self._check_open()
        try:
            if self.kind == "duckdb":
                # the connection's own result, not a relation: no second bind and planning
                # of the text (the same frame, 10-15% less time on the estimation passes)
                return self._con.execute(query).df()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                table = self._con.sql(query).toArrow()
            return table.to_pandas()
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"{self.kind} could not run the query: {_first_line(exc)}\n{query}") from exc

    def execute(self, statement: str) -> None:
        """Run a statement without result (``CREATE VIEW``, ``COPY``...)."""
        self._check_open()
        try:
            if self.kind == "duckdb":
                self._con.execute(statement)
            else:
                self._con.sql(statement)
        except Exception as exc:
            raise EngineError(f"{self.kind} could not run: {_first_line(exc)}\n{statement}") from exc

    def batches(self, query: str, batch_size: int = 1_000_000) -> Iterator[Any]:
        """Stream a query's result as pyarrow RecordBatches of at most ``batch_size`` rows.

        Memory stays bounded by one batch (DuckDB streams; Spark iterates partitions).
        """
        self._check_open()
        if self.kind == "duckdb":
            rel = self._con.sql(query)
            if hasattr(rel, "to_arrow_reader"):
                reader = rel.to_arrow_reader(int(batch_size))
            else:  # DuckDB < 1.4
                reader = rel.fetch_record_batch(int(batch_size))
            yield from reader
            return
        import pyarrow as pa

        df = self._con.sql(query)
        buffer: list[Any] = []
        columns = df.columns
        for row in df.toLocalIterator():
            buffer.append(tuple(row))
            if len(buffer) >= batch_size:
                yield pa.RecordBatch.from_pylist([dict(zip(columns, r)) for r in buffer])
                buffer = []
        if buffer:
            yield pa.RecordBatch.from_pylist([dict(zip(columns, r)) for r in buffer])

    def write_parquet(self, query: str, path: str | os.PathLike) -> Path:
        """Write a query's result to Parquet without passing it through Python.

        DuckDB writes one file at ``path``; Spark writes a folder of part files.
        """
        self._check_open()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "duckdb":
            self.execute(f"COPY ({query}) TO '{_sql_string(str(path))}' (FORMAT PARQUET)")
        else:
            try:
                self._con.sql(query).write.mode("overwrite").parquet(str(path))
            except Exception as exc:
                raise EngineError(f"spark could not write {path}: {_first_line(exc)}") from exc
        return path

    # -- inputs --------------------------------------------------------------
    def register(self, source: Any, name: str | None = None) -> str:
        """Make ``source`` queryable under a view name and return the (quoted) name.

        Parameters
        ----------
        source : str, path, list of paths, pandas.DataFrame, DuckDB relation or Spark DataFrame
            A Parquet file, folder or glob (``"returns/*.parquet"``), a list
            of Parquet files, a table or view name already known to the
            engine, a pandas DataFrame (small tables), a DuckDB relation of
            this session's connection, or a Spark DataFrame.
        name : str, optional
            View name (default: a fresh ``sv_...`` name).

        Returns
        -------
        str
            The quoted view name, ready to use in SQL text.
        """
        self._check_open()
        name = name or f"sv_{uuid.uuid4().hex[:12]}"
        quoted = self.q(name)
        if isinstance(source, pd.DataFrame):
            self._register_frame(source, name)
        elif isinstance(source, (str, os.PathLike)) and not _is_table_name(source):
            self._register_parquet([str(source)], name)
        elif isinstance(source, (list, tuple)) and source and all(
            isinstance(p, (str, os.PathLike)) for p in source
        ):
            self._register_parquet([str(p) for p in source], name)
        elif isinstance(source, str):
            self._register_table(source, name)
        elif _is_duckdb_relation(source):
            if self.kind != "duckdb":
                raise EngineError("a DuckDB relation can only be read by a DuckDB engine")
            try:
                self._con.register(name, source)
                self._con.sql(f"SELECT * FROM {quoted} LIMIT 0")
            except Exception as exc:
                raise EngineError(
                    "this DuckDB relation belongs to another connection; pass "
                    "Engine(connection=<that connection>) to read it "
                    f"({_first_line(exc)})"
                ) from exc
        elif type(source).__module__.startswith("pyspark"):
            if self.kind != "spark":
                raise EngineError("a Spark DataFrame can only be read by a Spark engine")
            source.createOrReplaceTempView(name)
        else:
            raise EngineError(
                f"cannot read a {type(source).__name__}: give a Parquet path or glob, a list of "
                "Parquet files, a table name, a pandas DataFrame, a DuckDB relation or a Spark DataFrame"
            )
        self._views.append(name)
        return quoted

    def _register_frame(self, frame: pd.DataFrame, name: str) -> None:
        if self.kind == "duckdb":
            self._con.register(name, frame)
            return
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self._con.createDataFrame(table).createOrReplaceTempView(name)

    def _register_parquet(self, paths: list[str], name: str) -> None:
        for p in paths:
            if not any(ch in p for ch in "*?[") and not Path(p).exists():
                raise EngineError(f"Parquet input {p!r} does not exist")
        if self.kind == "duckdb":
            files = []
            for p in paths:
                files.append(str(Path(p) / "**" / "*.parquet") if Path(p).is_dir() else p)
            listed = ", ".join(f"'{_sql_string(f)}'" for f in files)
            self.execute(
                f"CREATE OR REPLACE TEMP VIEW {self.q(name)} AS SELECT * FROM read_parquet([{listed}])"
            )
        else:
            try:
                self._con.read.parquet(*paths).createOrReplaceTempView(name)
            except Exception as exc:
                raise EngineError(f"spark could not read {paths}: {_first_line(exc)}") from exc

    def _register_table(self, table: str, name: str) -> None:
        try:
            self.execute(f"CREATE OR REPLACE TEMP VIEW {self.q(name)} AS SELECT * FROM {self.q(table)}")
            self.sql(f"SELECT * FROM {self.q(name)} LIMIT 0")
        except EngineError as exc:
            raise EngineError(
                f"{table!r} is neither an existing Parquet path nor a table of the {self.kind} "
                "session"
            ) from exc

    def columns(self, view: str) -> dict[str, str]:
        """Column names and lower-case type names of a registered view.

        Examples
        --------
        >>> import pandas as pd
        >>> s = Engine().session()
        >>> s.columns(s.register(pd.DataFrame({"a": [1], "b": ["x"]})))
        {'a': 'bigint', 'b': 'varchar'}
        """
        self._check_open()
        if self.kind == "duckdb":
            rel = self._con.sql(f"SELECT * FROM {view}")
            return {c: str(t).lower() for c, t in zip(rel.columns, rel.types)}
        df = self._con.sql(f"SELECT * FROM {view}")
        return {f.name: f.dataType.simpleString().lower() for f in df.schema.fields}

    def drop(self, view: str) -> None:
        """Forget a view registered by :meth:`register`."""
        raw = view.strip('"`')
        try:
            if self.kind == "duckdb":
                try:
                    self._con.unregister(raw)
                except Exception:
                    pass
                self._con.execute(f"DROP VIEW IF EXISTS {self.q(raw)}")
            else:
                self._con.catalog.dropTempView(raw)
        except Exception:  # dropping is best effort
            pass
        if raw in self._views:
            self._views.remove(raw)

    def close(self) -> None:
        """Drop the registered views; close the connection if this session opened it."""
        if self.closed:
            return
        for v in list(self._views):
            self.drop(v)
        if self._own:
            if self.kind == "duckdb":
                self._con.close()
            else:
                self._con.stop()
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise EngineError("this engine session is closed")

    def __repr__(self) -> str:
        return f"<Session {self.kind}, memory_limit={self.engine.memory_limit}>"


# -- helpers for SQL text -----------------------------------------------------------
def is_numeric_type(type_name: str) -> bool:
    """Whether an engine type name (lower case) is numeric or boolean.

    Examples
    --------
    >>> is_numeric_type("decimal(18,3)"), is_numeric_type("varchar")
    (True, False)
    """
    base = type_name.split("(")[0].strip()
    return base in _NUMERIC_TYPES


def is_float_type(type_name: str) -> bool:
    """Whether an engine type name is a floating type (may hold NaN).

    Examples
    --------
    >>> is_float_type("double"), is_float_type("bigint")
    (True, False)
    """
    return type_name.split("(")[0].strip() in _FLOAT_TYPES


def sql_finite(expr: str) -> str:
    """SQL: ``expr`` is a finite number (not NULL, NaN or infinite), in DuckDB and Spark.

    ``x - x = 0`` holds exactly for finite ``x``; NaN and infinities give NaN,
    NULL gives NULL (then FALSE).

    Examples
    --------
    >>> sql_finite("y")
    'COALESCE((y) - (y) = 0, FALSE)'
    """
    return f"COALESCE(({expr}) - ({expr}) = 0, FALSE)"


def sql_nan(expr: str) -> str:
    """SQL: ``expr`` is NaN (not NULL, not infinite), in DuckDB and Spark.

    Not ``isnan``: DuckDB (2.0) folds ``isnan(x)`` to FALSE when the statistics of a
    Parquet file say its values lie between finite bounds, and pyarrow writes those
    statistics leaving NaN out, so NaN values read from such a file were not seen.
    ``x - x = 0`` fails for NaN and infinities alike; the absolute value tells them apart.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {sql_nan('x')} FROM (VALUES (1.0), ('nan'::DOUBLE), "
    ...            "('inf'::DOUBLE), (NULL)) t(x)").fetchall()
    [(False,), (True,), (False,), (False,)]
    """
    return (f"(NOT COALESCE(({expr}) - ({expr}) = 0, TRUE) "
            f"AND ABS({expr}) <> CAST('Infinity' AS DOUBLE))")


def sql_literal(text: Any) -> str:
    """A SQL string literal (quotes doubled), for DuckDB and Spark.

    Examples
    --------
    >>> print(sql_literal("O'Brien"))
    'O''Brien'
    """
    return "'" + str(text).replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A quoted SQL identifier (double quotes doubled), DuckDB's quoting.

    Examples
    --------
    >>> print(quote_identifier("gross_output_ytd"))
    "gross_output_ytd"
    """
    return '"' + str(name).replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return str(text).replace("'", "''")


def _is_duckdb_relation(source: Any) -> bool:
    """A DuckDB relation, whatever module DuckDB's release names its class in (``duckdb``
    in 1.5 and 2.x, ``_duckdb`` in 1.4). DuckDB is only looked up if it is loaded already:
    no relation can exist otherwise."""
    import sys

    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(source, duckdb.DuckDBPyRelation)


def _is_table_name(source: Any) -> bool:
    """A bare identifier that is not an existing path and has no Parquet look."""
    if not isinstance(source, str):
        return False
    if any(ch in source for ch in "*?[/\\") or source.lower().endswith(".parquet"):
        return False
    return not Path(source).exists()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def group_by(columns: Sequence[str]) -> str:
    """``GROUP BY a, b`` for quoted column texts, or an empty string for none.

    Examples
    --------
    >>> group_by(['"h"', '"d"']), group_by([])
    ('GROUP BY "h", "d"', '')
    """
    return f"GROUP BY {', '.join(columns)}" if columns else ""
