"""python_api on Spark: the warehouse's tables and queries into pandas, through Arrow.

:func:`python_api.connect` returns a :class:`SparkWarehouse` when the warehouse runs on
Spark (``RECDB_ENGINE=spark``). It reads as :class:`python_api.Warehouse` does: a table
by name (``dim_titles``, ``marts.dim_titles``), whitelisted against the schemas a
reader may read, or a query with psycopg-style parameters, which Spark binds as
parameter markers (never pasted into the SQL); every failure is one of python_api's
errors. A read cannot change anything: the query runs as a subquery, where Spark's
parser accepts queries only (PostgreSQL's reads run in read-only transactions).
Writes to landing tables go to PostgreSQL in this version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_api.client import READABLE_SCHEMAS, bind_parameters
from python_api.errors import (
    ApiError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from recdb.core.connection import check_role
from recdb.core.errors import ConnectionSettingsError, EngineError
from recdb.core.spark import session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_TABLE_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*$")
#: Spark's error conditions that say the caller named something that is not there.
_NOT_FOUND = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "UNRESOLVED_ROUTINE")


class SparkWarehouse:
    """The warehouse on Spark, read as ``role`` (every role reads; none writes here yet).

    Use it as a context manager, or call :meth:`close` (the SparkSession stays up for
    the process: starting one takes seconds).
    """

    def __init__(self, role: str = "scientist", spark: SparkSession | None = None) -> None:
        try:
            self.role = check_role(role)
            self._spark = spark or session()
        except (ConnectionSettingsError, EngineError) as error:
            raise ApiError(str(error)) from None

    def close(self) -> None:
        """Nothing to release: the process's SparkSession serves every reader."""

    def __enter__(self) -> SparkWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------
    def read(
        self, table_or_sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """A table or a query as pandas (see :meth:`python_api.Warehouse.read`)."""
        return _to_pandas(self._run(self._frame("read", table_or_sql, params).toArrow))

    def read_chunks(
        self,
        table_or_sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        rows: int = 100_000,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`read` in pieces of at most ``rows`` rows. On Spark the driver collects
        the result as Arrow first; the pieces bound the pandas copies only."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValidationError(f"rows must be a whole number above 0, not {rows!r}")
        table = self._run(self._frame("read_chunks", table_or_sql, params).toArrow)
        for start in range(0, table.num_rows, rows):
            yield _to_pandas(table.slice(start, rows))

    def _frame(
        self, method: str, table_or_sql: str, params: Sequence[Any] | Mapping[str, Any] | None
    ) -> DataFrame:
        if not isinstance(table_or_sql, str) or not table_or_sql.strip():
            raise ValidationError(f"{method}() takes a table name or a SQL query")
        match = _TABLE_NAME.match(table_or_sql)
        if match and params is None:
            schema, table = self._resolve_table(match.group(1), match.group(2))
            return self._run(lambda: self._spark.table(f"`{schema}`.`{table}`"))
        text, values = bind_parameters(
            re.sub(r"[\s;]+$", "", table_or_sql), params, marker=":p{}".format
        )
        # a subquery is a query: Spark's parser refuses a command (drop, insert) there
        wrapped = f"select * from (\n{text}\n) as recdb_read"  # noqa: S608 - the caller's SQL
        arguments = {f"p{n}": value for n, value in enumerate(values, start=1)}
        return self._run(lambda: self._spark.sql(wrapped, args=arguments or None))

    def _resolve_table(self, first: str, second: str | None) -> tuple[str, str]:
        """Whitelist a table name against the tables of the readable schemas."""
        schema, table = (first, second) if second else (None, first)
        readable = set()
        for name in READABLE_SCHEMAS:
            if self._run(lambda name=name: self._spark.catalog.databaseExists(name)):
                for found in self._run(lambda name=name: self._spark.catalog.listTables(name)):
                    readable.add((name, found.name))
        candidates = [
            (s, table)
            for s in ((schema,) if schema else READABLE_SCHEMAS)
            if (s, table) in readable
        ]
        if not candidates:
            names = sorted(f"{s}.{t}" for s, t in readable)
            raise NotFoundError(
                f"no table {'.'.join(p for p in (schema, table) if p)!r} that role "
                f"{self.role} may read; readable: {', '.join(names) or 'none'}"
            )
        return candidates[0]

    def _run(self, action: Any) -> Any:
        """``action()``, Spark's and the JVM's errors turned into python_api's."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        try:
            return action()
        except PySparkException as error:
            raise _translate(error) from None
        except Py4JError as error:
            raise DatabaseError(f"Spark failed: {_first_line(str(error))}") from None

    # -- writing -------------------------------------------------------------
    def write(self, table: str, frame: pd.DataFrame, *, upsert: bool = False) -> NoReturn:
        """Not on Spark in this version (see the class)."""
        self._refuse("write")

    def update(self, table: str, changes: Any, *, keys: Any = None) -> NoReturn:
        """Not on Spark in this version (see the class)."""
        self._refuse("update")

    def delete(self, table: str, keys: Any) -> NoReturn:
        """Not on Spark in this version (see the class)."""
        self._refuse("delete")

    def _refuse(self, method: str) -> NoReturn:
        if self.role == "analyst":
            raise PermissionDeniedError(f"role analyst reads only: {method}() is refused")
        raise ApiError(
            f"{method}() changes landing tables, which are PostgreSQL's in this version: "
            "connect with RECDB_ENGINE=postgres (the default) to write"
        )


def _translate(error: Exception) -> ApiError:
    condition = getattr(error, "getCondition", lambda: None)() or ""
    message = _first_line(str(error))
    if condition.startswith(_NOT_FOUND):
        return NotFoundError(message)
    if type(error).__name__ in ("AnalysisException", "ParseException", "PySparkTypeError"):
        return ValidationError(message)
    return DatabaseError(f"{message} (nothing was changed)")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas, with decimals as floats (as python_api reads PostgreSQL numerics)."""
    columns = [
        pc.cast(column, pa.float64()) if pa.types.is_decimal(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names).to_pandas()
