"""python_api on Spark: reads into pandas through Arrow, and appends to landing tables.

:func:`python_api.connect` returns a :class:`SparkWarehouse` when the warehouse runs on
Spark (``RECDB_ENGINE=spark``). It reads as :class:`python_api.Warehouse` does: a table
by name (``dim_titles``, ``marts.dim_titles``), whitelisted against the schemas a
reader may read, or a query with psycopg-style parameters, which Spark binds as
parameter markers (never pasted into the SQL); every failure is one of python_api's
errors. A read cannot change anything: the query runs as a subquery, where Spark's
parser accepts queries only (PostgreSQL's reads run in read-only transactions).

Writes append to the landing tables (recdb/warehouse/spark_landing.py), checked as on
PostgreSQL: the batch by :func:`~python_api.validate.to_arrow_table`, its keys against
the table's (ConflictError) and its references against the tables they name
(NotFoundError), the same messages; then appended as a partition of its own, numbered
by the write. Spark enforces nothing itself, so every write goes through these checks.
Updates, deletes and upserts change rows in place: PostgreSQL's only in this version.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_api.client import (
    READABLE_SCHEMAS,
    bind_parameters,
    locate_row,
    pick_readable,
    writable_table,
)
from python_api.errors import (
    ApiError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from python_api.lists import gather_lists
from python_api.validate import row_at, to_arrow_table
from recdb.core.connection import check_role
from recdb.core.errors import ConnectionSettingsError, EngineError
from recdb.core.landing import (
    TITLES_TABLE,
    WRITTEN_XID,
    LandingTable,
)
from recdb.core.spark import session
from recdb.warehouse.spark_landing import prepare_spark_warehouse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)
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
        self._run(lambda: prepare_spark_warehouse(self._spark))
        #: This transaction's checked batches, appended at its end (None: no transaction).
        self._pending: list[tuple[LandingTable, pa.Table]] | None = None

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
        return pick_readable(schema, table, readable, self.role)

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
    @contextlib.contextmanager
    def transaction(self) -> Iterator[SparkWarehouse]:
        """Group several writes: all of them are appended at the end, or none.

        The batches wait in memory until the block ends, each checked when written
        (also against the batches before it in the block); reads inside the block do
        not see them yet.
        """
        if self._pending is not None:
            raise ApiError("transactions do not nest")
        self._pending = []
        try:
            yield self
            self._append(self._pending)
        finally:
            self._pending = None

    def write(self, table: str, frame: pd.DataFrame, *, upsert: bool = False) -> int:
        """Append ``frame`` to a landing table, as :meth:`python_api.Warehouse.write` does
        (the same checks, the same errors), as Parquet, a partition per write; return the
        number of rows written. ``upsert`` is PostgreSQL's only in this version."""
        spec = writable_table(self.role, table)
        if upsert:
            raise ApiError(
                "upsert=True replaces rows, which Spark's landing tables do not in this "
                "version: write new keys, or use PostgreSQL"
            )
        arrow = to_arrow_table(spec, frame) if spec.rows is None else gather_lists(spec, frame)
        if arrow.num_rows == 0:
            return 0
        frame = frame.reset_index(drop=True)
        pending = self._pending if self._pending is not None else []
        self._check_keys_are_new(spec, arrow, frame, pending)
        self._check_references(spec, arrow, frame, pending)
        if self._pending is not None:
            self._pending.append((spec, arrow))
        else:
            self._append([(spec, arrow)])
        logger.info("wrote %s rows to %s", len(frame), spec.qualified_name)
        return len(frame)

    def _append(self, batches: list[tuple[LandingTable, pa.Table]]) -> None:
        """Append the batches, each as a partition numbered by this write."""
        if not batches:
            return
        number = time.time_ns()
        for spec, arrow in batches:
            stamped = arrow.append_column(
                WRITTEN_XID, pa.array(np.full(arrow.num_rows, number, dtype=np.int64))
            )
            frame = self._run(lambda stamped=stamped: self._spark.createDataFrame(stamped))
            self._run(lambda frame=frame, spec=spec: frame.write.insertInto(spec.qualified_name))

    def _rows_of(
        self, table: str, columns: Sequence[str], pending: list[tuple[LandingTable, pa.Table]]
    ) -> DataFrame:
        """``columns`` of a landing table's rows and of this transaction's batches for it."""
        listed = ", ".join(columns)
        rows = self._run(lambda: self._spark.sql(f"select {listed} from {table}"))  # noqa: S608
        for spec, arrow in pending:
            if spec.qualified_name == table:
                batch = self._run(lambda arrow=arrow: self._spark.createDataFrame(
                    arrow.select(list(columns))
                ))  # fmt: skip
                rows = rows.unionByName(batch)
        return rows

    def _batch(self, arrow: pa.Table, columns: Sequence[str]) -> DataFrame:
        return self._run(lambda: self._spark.createDataFrame(arrow.select(list(columns))))

    def _check_keys_are_new(
        self,
        spec: LandingTable,
        arrow: pa.Table,
        frame: pd.DataFrame,
        pending: list[tuple[LandingTable, pa.Table]],
    ) -> None:
        keys = list(spec.primary_key)
        existing = self._rows_of(spec.qualified_name, keys, pending)
        clash = self._run(
            lambda: self._batch(arrow, keys).join(existing, on=keys, how="left_semi").limit(1)
        )
        found = self._run(clash.collect)
        if found:
            key = found[0].asDict()
            position = locate_row(frame, key)
            raise ConflictError(
                f"key {_key_text(key)} already exists (pass upsert=True to replace it)",
                table=spec.qualified_name,
                column=keys[0] if len(keys) == 1 else None,
                row_number=position,
                row=row_at(frame, position) if position is not None else None,
            )

    def _check_references(
        self,
        spec: LandingTable,
        arrow: pa.Table,
        frame: pd.DataFrame,
        pending: list[tuple[LandingTable, pa.Table]],
    ) -> None:
        references = [(fk.columns, fk.table, fk.ref_columns) for fk in spec.foreign_keys]
        references += [
            ((column,), ".".join(TITLES_TABLE), ("title_id",)) for column in spec.title_columns
        ]
        for columns, table, ref_columns in references:
            values = self._batch(arrow, columns)
            for column in columns:
                if pa.types.is_list(arrow.schema.field(column).type):
                    values = values.selectExpr(f"explode({column}) as {column}")
            values = values.dropna()
            known = self._rows_of(table, ref_columns, pending).toDF(*columns)
            missing = self._run(
                lambda values=values, known=known, columns=columns: (
                    values.join(known, on=list(columns), how="left_anti").limit(1).collect()
                )
            )
            if not missing:
                continue
            key = missing[0].asDict()
            position = locate_row(frame, key) if all(c in frame.columns for c in key) else None
            row = row_at(frame, position) if position is not None else None
            where = dict(table=spec.qualified_name, column=columns[0], row_number=position, row=row)
            if table == ".".join(TITLES_TABLE):
                raise NotFoundError(
                    f"unknown title {_key_text(key)}: not in {table} (load the catalogue and "
                    "run `recdb build` first?)",
                    **where,
                )
            raise NotFoundError(f"{_key_text(key)} does not exist in {table}", **where)

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
            f"{method}() changes rows in place, which Spark's landing tables do not in this "
            "version: connect with RECDB_ENGINE=postgres (the default)"
        )


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{column}={value}" for column, value in key.items())


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
