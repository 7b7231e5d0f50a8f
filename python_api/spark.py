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
Parquet files never change: an update or an upsert appends the rows' new versions, a
delete appends the keys it deleted, and the landing tables readers see are views of
the newest committed versions (recdb/warehouse/spark_landing.py). References are held
as the spec says (a user's tastes and lists deleted with the user, a user with sessions
refused), by python_api.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_api.client import (
    READABLE_SCHEMAS,
    bind_parameters,
    delete_keys,
    locate_row,
    missing_key_error,
    partition_value,
    pick_readable,
    still_referenced_error,
    update_rows,
    writable_table,
)
from python_api.errors import (
    ApiError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    ValidationError,
)
from python_api.lists import gather_lists
from python_api.validate import row_at, to_arrow_table
from recdb.core.connection import check_role
from recdb.core.errors import ConnectionSettingsError, EngineError
from recdb.core.landing import (
    LANDING_TABLES,
    TITLES,
    TITLES_TABLE,
    WRITTEN_XID,
    LandingTable,
    landing_table,
)
from recdb.core.spark import session
from recdb.warehouse.spark_landing import (
    COMMITS_TABLE,
    deletions_table,
    prepare_spark_warehouse,
    versions_table,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)
_TABLE_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*$")
#: Spark's error conditions that say the caller named something that is not there.
_NOT_FOUND = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "UNRESOLVED_ROUTINE")
_LANDING_BY_NAME = {spec.qualified_name: spec for spec in LANDING_TABLES.values()}


class SparkWarehouse:
    """The warehouse on Spark, as ``role`` (every role reads; the scientist writes).

    Use it as a context manager, or call :meth:`close` (the SparkSession stays up for
    the process: starting one takes seconds).
    """

    #: The engine it reads: queries written for several engines look here.
    engine: ClassVar[str] = "spark"

    def __init__(self, role: str = "scientist", spark: SparkSession | None = None) -> None:
        try:
            self.role = check_role(role)
            self._spark = spark or session()
        except (ConnectionSettingsError, EngineError) as error:
            raise ApiError(str(error)) from None
        self._run(lambda: prepare_spark_warehouse(self._spark))
        #: This transaction's writes, appended and waiting for their commit (None: none open).
        self._pending: list[_Written] | None = None
        #: The last write number drawn (numbers only increase).
        self._last_number = 0
        #: The runs this transaction replaces.
        self._replacing: set[str] = set()

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
        """Group several writes, updates and deletes: all of them are committed at the end,
        or none.

        Each is checked when made (against the warehouse as the changes before it in the
        block leave it) and appended to its log at once, under a write number that
        nobody else reads until the block ends and the numbers are committed together;
        so a transaction of any size holds nothing in memory, and one that fails leaves
        only rows nobody sees.
        """
        if self._pending is not None:
            raise ApiError("transactions do not nest")
        self._pending = []
        try:
            yield self
            self._commit(self._pending)
        finally:
            self._pending = None
            self._replacing.clear()

    def write(self, table: str, frame: pd.DataFrame, *, upsert: bool = False) -> int:
        """Add ``frame`` to a landing table, as :meth:`python_api.Warehouse.write` does (the
        same checks, the same errors); with ``upsert``, rows whose key exists replace
        the current ones (their new versions). Returns the number of rows written."""
        spec = writable_table(self.role, table)
        arrow = to_arrow_table(spec, frame) if spec.rows is None else gather_lists(spec, frame)
        if arrow.num_rows == 0:
            return 0
        frame = frame.reset_index(drop=True)
        pending = self._changes()
        if not upsert:
            self._check_keys_are_new(spec, arrow, frame, pending)
        self._check_references(spec, arrow, frame, pending)
        self._stage([_Change(spec, arrow)])
        logger.info("wrote %s rows to %s", len(frame), spec.qualified_name)
        return len(frame)

    def update(
        self, table: str, rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """Change existing rows, as :meth:`python_api.Warehouse.update` does: each row's new
        version (its other columns as they were) is appended."""
        spec = writable_table(self.role, table)
        frame, changed = update_rows(spec, rows)
        arrow = to_arrow_table(spec, frame, required=list(spec.primary_key))
        keys = list(spec.primary_key)
        pending = self._changes()
        current = self._current(spec, pending)
        batch = self._batch(arrow, [*keys, *changed])
        self._require_keys_exist(spec, batch, current, frame)
        kept = [current[c.name] if c.name not in changed else batch[c.name] for c in spec.columns]
        merged = self._run(lambda: current.join(batch, on=keys, how="inner").select(*kept))
        versions = to_arrow_table(spec, _to_pandas(self._run(merged.toArrow)))
        self._check_references(spec, versions, frame, pending)
        self._stage([_Change(spec, versions)])
        logger.info("updated %s rows of %s", arrow.num_rows, spec.qualified_name)
        return arrow.num_rows

    def delete(self, table: str, keys: Any) -> int:
        """Delete rows by key, as :meth:`python_api.Warehouse.delete` does (rows referring
        to them deleted too or the delete refused, as the spec says): a deletion of each
        key is appended."""
        spec = writable_table(self.role, table)
        frame = delete_keys(spec, keys)
        arrow = to_arrow_table(spec, frame, required=list(spec.primary_key))
        pending = self._changes()
        current = self._current(spec, pending)
        batch = self._batch(arrow, list(spec.primary_key))
        self._require_keys_exist(spec, batch, current, frame)
        doomed = self._run(lambda: current.join(batch, on=list(spec.primary_key), how="left_semi"))
        self._stage(self._deletions(spec, doomed, frame, pending))
        logger.info("deleted %s rows of %s", arrow.num_rows, spec.qualified_name)
        return arrow.num_rows

    def replace_run(self, run_id: str, *, publish: bool = True) -> int:
        """Inside :meth:`transaction`: this transaction's writes of run ``run_id`` replace
        every list the run has, as :meth:`python_api.Warehouse.replace_run` does; returns
        how many titles they held. Published at the commit, or with ``publish=False``
        left unpublished until :meth:`publish_run`."""
        from pyspark.sql import functions

        if self._pending is None:
            raise ApiError("replace_run() works inside `with warehouse.transaction():` only")
        lists, runs = landing_table("recommendations"), landing_table("runs")
        value = partition_value(lists, run_id)
        pending = self._changes()
        if value in self._replacing:
            raise ApiError(f"run {value!r} is already being replaced in this transaction")
        current = self._run(
            lambda: self._current(lists, pending).where(functions.col("run_id") == value)
        )
        held = self._run(
            lambda: current.selectExpr("coalesce(sum(size(title_ids)), 0) as held").collect()
        )[0]["held"]
        changes = self._deletions(lists, current, None, pending)
        changes.append(_Change(runs, _run_row(runs, value, published=publish)))
        self._stage(changes)
        self._replacing.add(value)
        return int(held)

    def publish_run(self, run_id: str) -> None:
        """Publish run ``run_id`` (written unpublished): from the commit on, its rows are
        built into the marts. NotFoundError for an unknown run."""
        from pyspark.sql import functions

        runs = landing_table("runs")
        value = partition_value(landing_table("recommendations"), run_id)
        pending = self._changes()
        found = self._run(
            lambda: self._current(runs, pending).where(functions.col("run_id") == value).count()
        )
        if not found:
            raise NotFoundError(
                f"no run {value!r}: begin it first", table=runs.qualified_name, column="run_id"
            )
        self._stage([_Change(runs, _run_row(runs, value, published=True))])

    def _changes(self) -> list[_Written]:
        """The changes this transaction made so far (none outside a transaction)."""
        return self._pending if self._pending is not None else []

    def _stage(self, changes: list[_Change]) -> None:
        """Append ``changes`` to their logs; commit them now, or at the transaction's end."""
        written = [
            self._append(change)
            for change in changes
            if not isinstance(change.rows, pa.Table) or change.rows.num_rows
        ]
        if self._pending is not None:
            self._pending.extend(written)
        else:
            self._commit(written)

    def _append(self, change: _Change) -> _Written:
        """Append a change to its log under a new write number (unseen until committed)."""
        from pyspark.sql import functions

        number = max(time.time_ns(), self._last_number + 1)  # increasing, whatever the clock
        self._last_number = number
        rows = change.rows
        if isinstance(rows, pa.Table):
            rows = self._run(lambda: self._spark.createDataFrame(rows))
        stamped = self._run(
            lambda: rows.withColumn(WRITTEN_XID, functions.lit(number).cast("bigint"))
        )
        written = _Written(change.spec, number, change.deletion)
        self._run(lambda: stamped.write.insertInto(written.log))
        return written

    def _commit(self, written: list[_Written]) -> None:
        """Add the writes' numbers to landing.commits: readers see them from then on, all
        at once."""
        if not written:
            return
        committed = pa.table({WRITTEN_XID: pa.array([w.number for w in written], pa.int64())})
        frame = self._run(lambda: self._spark.createDataFrame(committed))
        self._run(lambda: frame.write.insertInto(COMMITS_TABLE))

    def _current(self, spec: LandingTable, pending: list[_Written]) -> DataFrame:
        """The table's rows as this transaction's writes so far leave them (each read
        back from its log's partition)."""
        keys = list(spec.primary_key)
        rows = self._run(lambda: self._spark.table(spec.qualified_name).select(*spec.column_names))
        for write in pending:
            if write.spec.qualified_name != spec.qualified_name:
                continue
            changed = self._run(
                lambda write=write: self._spark.table(write.log).where(
                    f"{WRITTEN_XID} = {write.number}"
                )
            )
            rows = self._run(lambda rows=rows, changed=changed: rows.join(
                changed.select(*keys), on=keys, how="left_anti"
            ))  # fmt: skip
            if not write.deletion:
                rows = self._run(lambda rows=rows, changed=changed: rows.unionByName(
                    changed.select(*spec.column_names)
                ))  # fmt: skip
        return rows

    def _rows_of(self, table: str, columns: Sequence[str], pending: list[_Written]) -> DataFrame:
        """``columns`` of a table's rows as this transaction leaves them (the titles mart,
        or a landing table)."""
        if table in _LANDING_BY_NAME:
            rows = self._current(_LANDING_BY_NAME[table], pending)
        else:
            rows = self._run(lambda: self._spark.table(table))
        return self._run(lambda: rows.select(*columns))

    def _batch(self, arrow: pa.Table, columns: Sequence[str]) -> DataFrame:
        return self._run(lambda: self._spark.createDataFrame(arrow.select(list(columns))))

    def _require_keys_exist(
        self, spec: LandingTable, batch: DataFrame, current: DataFrame, frame: pd.DataFrame
    ) -> None:
        keys = list(spec.primary_key)
        missing = self._run(
            lambda: batch.select(*keys).join(current, on=keys, how="left_anti").limit(1).collect()
        )
        if missing:
            raise missing_key_error(spec, missing[0].asDict(), frame)

    def _deletions(
        self,
        spec: LandingTable,
        doomed: DataFrame,
        frame: pd.DataFrame | None,
        pending: list[_Written],
    ) -> list[_Change]:
        """The deletions of rows ``doomed`` of ``spec`` and of the rows referring to them
        (deleted too, or the delete refused: ValidationError), as the spec says."""
        changes: list[_Change] = []
        for child in LANDING_TABLES.values():
            for key in child.foreign_keys:
                if key.table != spec.qualified_name:
                    continue
                referred = self._run(lambda key=key: doomed.select(*[
                    doomed[r].alias(c) for c, r in zip(key.columns, key.ref_columns, strict=True)
                ]))  # fmt: skip
                referring = self._run(
                    lambda child=child, key=key, referred=referred: self._current(
                        child, pending
                    ).join(referred, on=list(key.columns), how="left_semi")
                )
                if key.on_delete == "cascade":
                    changes += self._deletions(child, referring, None, pending)
                    continue
                pairs = list(zip(key.columns, key.ref_columns, strict=True))
                found = self._run(lambda pairs=pairs, referring=referring: referring.select(
                    *[referring[column].alias(ref) for column, ref in pairs]
                ).limit(1).collect())  # fmt: skip
                if found:
                    raise still_referenced_error(
                        spec, found[0].asDict(), child.qualified_name,
                        frame if frame is not None else pd.DataFrame(),
                    )  # fmt: skip
        recorded = [*spec.primary_key, *spec.deleted_also]
        rows = self._run(
            lambda: doomed.select(*recorded).selectExpr("*", "current_timestamp() as deleted_at")
        )
        changes.append(_Change(spec, rows, deletion=True))
        return changes

    def _check_keys_are_new(
        self,
        spec: LandingTable,
        arrow: pa.Table,
        frame: pd.DataFrame,
        pending: list[_Written],
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
        pending: list[_Written],
    ) -> None:
        references = [(fk.columns, fk.table, fk.ref_columns) for fk in spec.foreign_keys]
        references += [
            ((column,), ".".join(TITLES_TABLE), ("title_id",)) for column in spec.title_columns
        ]
        references += [((look.column,), look.table, (look.ref_column,)) for look in spec.lookups]
        for columns, table, ref_columns in references:
            values = self._batch(arrow, columns)
            for column in columns:
                if pa.types.is_list(arrow.schema.field(column).type):
                    values = values.selectExpr(f"explode({column}) as {column}")
            values = values.dropna()
            known = self._rows_of(table, ref_columns, pending).toDF(*columns)
            if table == ".".join(TITLES_TABLE):
                # a title of the loaded catalogue, or a simulated one as this transaction
                # leaves sim.titles (one deleted since the last build is in the marts still)
                catalogue = self._run(
                    lambda table=table: (
                        self._spark.table(table).where("source = 'catalog'").select("title_id")
                    )
                )
                simulated = self._rows_of(TITLES.qualified_name, ["title_id"], pending)
                known = self._run(
                    lambda catalogue=catalogue, simulated=simulated, columns=columns: (
                        catalogue.unionByName(simulated).toDF(*columns)
                    )
                )
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
                    f"unknown title {_key_text(key)}: not in {table} nor {TITLES.qualified_name} "
                    "(load the catalogue and run `recdb build` first?)",
                    **where,
                )
            raise NotFoundError(f"{_key_text(key)} does not exist in {table}", **where)


@dataclass(frozen=True)
class _Change:
    """A checked change to append: rows of a landing table, new (their versions) or
    deleted (their keys, as ``<name>__deletions`` records them); Arrow from Python, or
    a Spark DataFrame of rows already in Spark."""

    spec: LandingTable
    rows: pa.Table | DataFrame
    deletion: bool = False


@dataclass(frozen=True)
class _Written:
    """A change appended to its log under ``number``, committed or waiting to be."""

    spec: LandingTable
    number: int
    deletion: bool

    @property
    def log(self) -> str:
        """The log it was appended to."""
        return deletions_table(self.spec) if self.deletion else versions_table(self.spec)


def _run_row(runs: LandingTable, run_id: str, *, published: bool) -> pa.Table:
    """recs.runs' row for ``run_id``: published now, or not yet (null)."""
    published_at = datetime.now(UTC) if published else None
    return to_arrow_table(runs, pd.DataFrame({"run_id": [run_id], "published_at": [published_at]}))


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
