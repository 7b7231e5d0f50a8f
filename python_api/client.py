"""The Warehouse client: read marts into pandas, write landing tables, update and delete.

Bulk reads and writes go through PostgreSQL's binary COPY, via the ADBC
PostgreSQL driver (Arrow in, Arrow out); nothing is sent row by row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import adbc_driver_manager
import adbc_driver_postgresql.dbapi
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import errors as pg_errors
from psycopg import sql

from python_api.errors import (
    ApiError,
    BusyError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from python_api.lists import ELEMENTS, gather_lists
from python_api.validate import row_at, to_arrow_table
from recdb.core.connection import (
    ConnectionSettings,
    check_role,
    connection_settings,
    retry_transient,
    sql_text,
)
from recdb.core.errors import ConnectionSettingsError
from recdb.core.landing import (
    LANDING_TABLES,
    RETIRED_TITLES,
    TITLES,
    TITLES_TABLE,
    LandingTable,
    landing_table,
    partition_function,
)

logger = logging.getLogger(__name__)

#: Schemas ``read`` resolves bare table names in, in this order.
READABLE_SCHEMAS = ("marts", "raw", "sim", "recs", "snapshots")
_TABLE_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*$")

#: The connection and cursors of the ADBC PostgreSQL driver (its DB-API 2.0 classes).
Connection = adbc_driver_postgresql.dbapi.Connection
Cursor = adbc_driver_postgresql.dbapi.Cursor


class Warehouse:
    """A connection to the warehouse as one role (``scientist`` writes, ``analyst`` reads).

    Use it as a context manager, or call :meth:`close`. Every method is one
    transaction of its own, unless called inside :meth:`transaction`.

    ``lock_timeout`` (seconds): a statement that waits longer than this for a lock
    another transaction holds (``recdb build`` holds the landing tables while it
    reads them) gives up with a :class:`BusyError`; None waits as long as it takes.

    A connection that dies (server restart, admin shutdown, network) fails the
    call in progress with a DatabaseError and is dropped: the next call outside
    a transaction connects again.
    """

    #: The engine it reads: queries written for several engines look here.
    engine: ClassVar[str] = "postgres"

    def __init__(
        self,
        role: str = "scientist",
        settings: ConnectionSettings | None = None,
        *,
        lock_timeout: float | None = None,
    ) -> None:
        try:
            self.role = check_role(role)
            self.settings = settings or connection_settings(role)
        except ConnectionSettingsError as error:
            raise ApiError(str(error)) from None
        if lock_timeout is not None and not (
            isinstance(lock_timeout, int | float) and 0 < lock_timeout < math.inf
        ):
            raise ApiError(
                f"lock_timeout must be a number of seconds above 0 (or None to wait as long "
                f"as it takes), not {lock_timeout!r}"
            )
        self.lock_timeout = lock_timeout
        self._conn: Connection | None = None
        self._in_transaction = False
        #: Partitions being replaced in this transaction: (table, value) -> staged table.
        self._staged: dict[tuple[str, str], tuple[str, str]] = {}

    # -- connection ----------------------------------------------------------
    def _connection(self) -> Connection:
        if self._conn is None:
            try:
                url = self._url()
                self._conn = retry_transient(lambda: adbc_driver_postgresql.dbapi.connect(url))
            except Exception as error:  # noqa: BLE001 - every driver failure becomes ours
                # recdb's wording: server, user, reason and what to do
                unavailable = self.settings.unavailable(_driver_message(error))
                raise DatabaseError(str(unavailable)) from None
        return self._conn

    def _url(self) -> str:
        """The server's URL, with the lock timeout as a session setting: set at connection
        start-up, so no rollback undoes it."""
        url = self.settings.url()
        if self.lock_timeout is None:
            return url
        milliseconds = max(1, round(self.lock_timeout * 1000))
        options = quote(f"-c lock_timeout={milliseconds}", safe="")
        return f"{url}{'&' if '?' in url else '?'}options={options}"

    def close(self) -> None:
        """Close the connection (rolling back anything uncommitted)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Group several writes, updates and deletes: all of them persist, or none."""
        if self._in_transaction:
            raise ApiError("transactions do not nest")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        else:
            self._commit()
        finally:
            self._in_transaction = False
            self._staged.clear()

    def _commit(self) -> None:
        try:
            self._publish_staged()
            self._connection().commit()
        except Exception as error:  # noqa: BLE001
            self._rollback()
            raise _translate(error, None, None) from None

    def _rollback(self) -> None:
        self._staged.clear()
        if self._conn is not None:
            try:
                self._conn.rollback()
            except Exception:  # noqa: BLE001 - a dead connection has nothing to roll back
                self.close()

    @contextlib.contextmanager
    def _unit_of_work(
        self, table: LandingTable | None, frame: pd.DataFrame | None
    ) -> Iterator[Cursor]:
        """A cursor inside the caller's transaction, or a transaction of its own."""
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                yield cursor
            if not self._in_transaction:
                conn.commit()
        except ApiError:
            if not self._in_transaction:
                self._rollback()
            raise
        except Exception as error:  # noqa: BLE001
            if not self._in_transaction:
                self._rollback()
            raise _translate(error, table, frame) from None

    # -- reading -------------------------------------------------------------
    def read(
        self, table_or_sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """A table (``dim_titles``, ``marts.dim_titles``, ``sim.sessions``) or a query, as pandas.

        Queries take psycopg-style parameters: ``%s`` with a sequence, or
        ``%(name)s`` with a mapping; values are escaped by the driver, never
        pasted in. Reads run in a read-only transaction.
        """
        query, params = self._statement("read", table_or_sql, params)
        return _to_pandas(self._fetch_with(query, params))

    def read_chunks(
        self,
        table_or_sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        rows: int = 100_000,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`read` in pieces of at most ``rows`` rows, as the server sends them: a
        result too big to hold twice (as Arrow, then as pandas) is never held whole.

        One read-only transaction (or the caller's :meth:`transaction`) spans the
        chunks; consume them (or close the iterator) before the next call. A query
        with parameters runs as a server-side cursor, ``rows`` fetched at a time (the
        driver would buffer its whole result otherwise); one without streams as COPY.
        """
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValidationError(f"rows must be a whole number above 0, not {rows!r}")
        query, params = self._statement("read_chunks", table_or_sql, params)
        text, values = bind_parameters(query, params)
        conn = self._connection()
        finished = False
        try:
            with conn.cursor() as cursor:
                if not self._in_transaction:
                    cursor.execute("set transaction read only")
                if values:
                    chunks = _cursor_chunks(cursor, text, values, rows)
                else:
                    cursor.execute(text)
                    chunks = (
                        batch.slice(start, rows)
                        for batch in cursor.fetch_record_batch()
                        for start in range(0, batch.num_rows, rows)
                    )
                for chunk in chunks:
                    yield _to_pandas(pa.Table.from_batches([chunk]))
            finished = True
        except Exception as error:  # noqa: BLE001
            raise _translate(error, None, None) from None
        finally:  # also when the caller stops early (the iterator closed)
            if not self._in_transaction:
                if finished:
                    conn.rollback()
                else:
                    self._rollback()

    def _statement(
        self, method: str, table_or_sql: str, params: Sequence[Any] | Mapping[str, Any] | None
    ) -> tuple[str, Sequence[Any] | Mapping[str, Any] | None]:
        """The query a read runs: ``select *`` of a readable table, or the caller's SQL."""
        if not isinstance(table_or_sql, str) or not table_or_sql.strip():
            raise ValidationError(f"{method}() takes a table name or a SQL query")
        match = _TABLE_NAME.match(table_or_sql)
        if match and params is None:
            schema, table = self._resolve_table(match.group(1), match.group(2))
            return sql_text(sql.SQL("select * from {}").format(sql.Identifier(schema, table))), None
        # The driver streams results as `copy (query) to stdout`: a final `;` (as SQL
        # files end) would be a syntax error inside those parentheses.
        return re.sub(r"[\s;]+$", "", table_or_sql), params

    def _fetch(self, query: str) -> pa.Table:
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                cursor.execute(query)
                result = cursor.fetch_arrow_table()
            if not self._in_transaction:
                conn.rollback()
            return result
        except Exception as error:  # noqa: BLE001
            if not self._in_transaction:
                self._rollback()
            raise _translate(error, None, None) from None

    def _resolve_table(self, first: str, second: str | None) -> tuple[str, str]:
        """Whitelist a table name against the catalogue of tables this role may read."""
        schema, table = (first, second) if second else (None, first)
        query = sql.SQL(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ({})"
        ).format(sql.SQL(", ").join(sql.Literal(s) for s in READABLE_SCHEMAS))
        rows = self._fetch(sql_text(query)).to_pylist()
        readable = {(r["table_schema"], r["table_name"]) for r in rows}
        return pick_readable(schema, table, readable, self.role)

    def _fetch_with(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None) -> pa.Table:
        """Run a query with server-side bound parameters, read-only."""
        text, values = bind_parameters(query, params)
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                if not self._in_transaction:
                    cursor.execute("set transaction read only")
                cursor.execute(text, parameters=values or None)
                result = cursor.fetch_arrow_table()
            if not self._in_transaction:
                conn.rollback()
            return result
        except Exception as error:  # noqa: BLE001
            if not self._in_transaction:
                self._rollback()
            raise _translate(error, None, None) from None

    # -- writing -------------------------------------------------------------
    def write(self, table: str, frame: pd.DataFrame, *, upsert: bool = False) -> int:
        """Append ``frame`` to a landing table (``users``, ``sessions``, ``ratings``,
        ``user_tastes``, ``recommendations``); return the number of rows written.

        Columns, types, nulls, ranges and keys repeated in the batch are checked
        before anything is sent; PostgreSQL refuses unknown users, sessions, runs
        and titles (NotFoundError). A key that already exists is a ConflictError
        unless ``upsert=True``, which replaces those rows. All or nothing.

        ``recommendations`` takes one row per recommended title (``run_id``,
        ``user_id``, ``title_id``, ``rank``, ``score``, ``is_cold_start``), each
        user's whole list in one batch, ranks 1 to n; it keeps one row per run and
        user (the lists as arrays), so ``upsert=True`` replaces a user's whole list.
        Returns the number of rows of ``frame``.
        """
        spec = self._writable(table)
        arrow = to_arrow_table(spec, frame) if spec.rows is None else gather_lists(spec, frame)
        if arrow.num_rows == 0:
            return 0
        frame = frame.reset_index(drop=True)
        with self._unit_of_work(spec, frame) as cursor:
            schema, target = self._write_target(cursor, spec, arrow, frame, upsert=upsert)
            if not upsert:
                cursor.adbc_ingest(target, arrow, mode="append", db_schema_name=schema)
            else:
                self._upsert(cursor, spec, arrow)
        logger.info("wrote %s rows to %s", len(frame), spec.qualified_name)
        return len(frame)

    def replace_run(self, run_id: str, *, publish: bool = True) -> int:
        """Inside :meth:`transaction`: this transaction's writes of run ``run_id`` replace
        every list the run has in ``recs.recommendations``; returns how many titles
        they held.

        The run is published when the transaction commits (``recs.runs.published_at``:
        its rows are served and built into the marts from then on, all at once), or,
        with ``publish=False``, left unpublished (hidden) until :meth:`publish_run`.
        A new run's rows go to a table of their own (indexed once, when the transaction
        commits, then attached as the run's partition), so writing millions of rows
        costs about what ``COPY`` into an unindexed table does; an existing run's rows
        are deleted and the new ones written through ``recs.recommendations``. Until the
        commit, everyone else reads the run's old rows. Write the run's rows with
        :meth:`write` as usual (a batch holding only this run).
        """
        spec = landing_table("recommendations")
        if not self._in_transaction:
            raise ApiError("replace_run() works inside `with warehouse.transaction():` only")
        value = partition_value(spec, run_id)
        if (spec.name, value) in self._staged:
            raise ApiError(f"run {value!r} is already being replaced in this transaction")
        query = sql.SQL("select coalesce(sum(cardinality({})), 0) from {} where {} = {}").format(
            sql.Identifier(next(iter(ELEMENTS))),
            sql.Identifier(spec.schema, spec.name),
            sql.Identifier(spec.partition_key or ""),
            sql.Literal(value),
        )
        with self._unit_of_work(spec, None) as cursor:
            cursor.execute(sql_text(_set_run(value, published=publish)))
            cursor.execute(sql_text(query))
            (existing,) = cursor.fetchone()
            cursor.execute(sql_text(_call(spec, "stage", value)))
            (staged,) = cursor.fetchone()
        schema, name = staged.split(".", 1)
        self._staged[(spec.name, value)] = (schema, name.strip('"'))
        return int(existing)

    def publish_run(self, run_id: str) -> None:
        """Publish run ``run_id`` (written unpublished): from the commit on, its rows are
        served and built into the marts. NotFoundError for an unknown run."""
        spec = landing_table("runs")
        value = partition_value(landing_table("recommendations"), run_id)
        with self._unit_of_work(spec, None) as cursor:
            cursor.execute(
                sql_text(
                    sql.SQL(
                        "update {} set published_at = now() where run_id = {} returning 1"
                    ).format(sql.Identifier(spec.schema, spec.name), sql.Literal(value))
                )
            )
            if cursor.fetchone() is None:
                raise NotFoundError(
                    f"no run {value!r}: begin it first", table=spec.qualified_name, column="run_id"
                )

    def _write_target(
        self,
        cursor: Cursor,
        spec: LandingTable,
        arrow: pa.Table,
        frame: pd.DataFrame,
        *,
        upsert: bool,
    ) -> tuple[str, str]:
        """(schema, table) a batch goes to: the table itself (its partitions made sure
        of first), or the staged replacement of the one run it holds."""
        if not spec.partition_key:
            return spec.schema, spec.name
        values = pc.unique(arrow.column(spec.partition_key)).to_pylist()
        staged = [v for v in values if (spec.name, v) in self._staged]
        if staged:
            if len(values) > 1 or upsert:
                raise ValidationError(
                    f"{spec.partition_key} {staged[0]!r} is being replaced in this "
                    "transaction: write its rows in batches of that run alone, without upsert",
                    table=spec.qualified_name,
                    column=spec.partition_key,
                )
            return self._staged[(spec.name, staged[0])]
        for value in values:
            cursor.execute(sql_text(_call(spec, "ensure", value)))
            cursor.fetchall()
        return spec.schema, spec.name

    def _publish_staged(self) -> None:
        """Swap every staged replacement in, as the last step before COMMIT."""
        if not self._staged:
            return
        with self._connection().cursor() as cursor:
            for table, value in self._staged:
                cursor.execute(sql_text(_call(landing_table(table), "publish", value)))
                cursor.fetchall()
        self._staged.clear()

    def _upsert(self, cursor: Cursor, spec: LandingTable, arrow: pa.Table) -> None:
        staging = _staging_name(spec)
        cursor.adbc_ingest(staging, arrow, mode="create", temporary=True)
        columns = arrow.column_names
        updates = [
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
            for c in columns
            if c not in spec.primary_key
        ]
        action = (
            sql.SQL("do update set {}").format(sql.SQL(", ").join(updates))
            if updates
            else sql.SQL("do nothing")  # nothing but the key: the row is already as given
        )
        query = sql.SQL(
            "insert into {target} ({columns}) select {columns} from {staging} "
            "on conflict ({keys}) {action}"
        ).format(
            target=sql.Identifier(spec.schema, spec.name),
            columns=_identifiers(columns),
            staging=sql.Identifier(staging),
            keys=_identifiers(spec.primary_key),
            action=action,
        )
        cursor.execute(sql_text(query))
        _drop(cursor, staging)

    def update(
        self, table: str, rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """Change existing rows: each row names its key and the new values of some columns.

        ``wh.update("users", {"user_id": 42, "plan": "premium"})`` or a DataFrame
        of many. An unknown key is a NotFoundError and nothing changes.
        """
        spec = self._writable(table)
        frame, changed = update_rows(spec, rows)
        arrow = to_arrow_table(spec, frame, required=list(spec.primary_key))
        staging = _staging_name(spec)
        assignments = [sql.SQL("{0} = s.{0}").format(sql.Identifier(c)) for c in changed]
        query = sql.SQL(
            "update {target} as t set {assignments} from {staging} as s where {match}"
        ).format(
            target=sql.Identifier(spec.schema, spec.name),
            assignments=sql.SQL(", ").join(assignments),
            staging=sql.Identifier(staging),
            match=_key_match(spec),
        )
        with self._unit_of_work(spec, frame) as cursor:
            cursor.adbc_ingest(staging, arrow, mode="create", temporary=True)
            self._require_keys_exist(cursor, spec, staging, frame)
            cursor.execute(sql_text(query))
            _drop(cursor, staging)
        return arrow.num_rows

    def delete(self, table: str, keys: Any) -> int:
        """Delete rows by key: a DataFrame or dicts of key columns, or bare values of a
        one-column key (``wh.delete("sessions", [1, 2, 3])``; a user's list of
        recommendations by ``run_id`` and ``user_id``). Unknown keys are a
        NotFoundError; rows still referenced elsewhere (a user's sessions) are a
        ValidationError, and nothing is deleted.
        """
        spec = self._writable(table)
        frame = delete_keys(spec, keys)
        arrow = to_arrow_table(spec, frame, required=list(spec.primary_key))
        staging = _staging_name(spec)
        query = sql.SQL("delete from {target} as t using {staging} as s where {match}").format(
            target=sql.Identifier(spec.schema, spec.name),
            staging=sql.Identifier(staging),
            match=_key_match(spec),
        )
        with self._unit_of_work(spec, frame) as cursor:
            cursor.adbc_ingest(staging, arrow, mode="create", temporary=True)
            self._require_keys_exist(cursor, spec, staging, frame)
            cursor.execute(sql_text(query))
            _drop(cursor, staging)
        return arrow.num_rows

    # -- checks ----------------------------------------------------------------
    def _writable(self, table: str) -> LandingTable:
        return writable_table(self.role, table)

    def _require_keys_exist(
        self, cursor: Cursor, spec: LandingTable, staging: str, frame: pd.DataFrame
    ) -> None:
        query = sql.SQL(
            "select {keys} from {staging} as s where not exists "
            "(select 1 from {target} as t where {match}) limit 1"
        ).format(
            keys=sql.SQL(", ").join(sql.Identifier("s", k) for k in spec.primary_key),
            staging=sql.Identifier(staging),
            target=sql.Identifier(spec.schema, spec.name),
            match=_key_match(spec),
        )
        cursor.execute(sql_text(query))
        missing = cursor.fetchone()
        if missing is None:
            return
        raise missing_key_error(spec, dict(zip(spec.primary_key, missing, strict=True)), frame)


# -- helpers -----------------------------------------------------------------
def pick_readable(
    schema: str | None, table: str, readable: set[tuple[str, str]], role: str
) -> tuple[str, str]:
    """(schema, table) of a table name among the ``readable`` ones (searched in
    READABLE_SCHEMAS' order without a schema); NotFoundError listing them otherwise."""
    candidates = [
        (s, table) for s in ((schema,) if schema else READABLE_SCHEMAS) if (s, table) in readable
    ]
    if not candidates:
        names = sorted(f"{s}.{t}" for s, t in readable)
        raise NotFoundError(
            f"no table {'.'.join(p for p in (schema, table) if p)!r} that role "
            f"{role} may read; readable: {', '.join(names) or 'none'}"
        )
    return candidates[0]


def writable_table(role: str, table: str) -> LandingTable:
    """The landing table ``role`` writes as ``table``; PermissionDeniedError for the
    analyst, ValidationError naming the writable tables for another name."""
    if role == "analyst":
        raise PermissionDeniedError(
            f"role analyst is read-only: it cannot write {table!r}; connect with "
            "python_api.connect(role='scientist')"
        )
    try:
        return landing_table(table) if isinstance(table, str) else landing_table("")
    except KeyError:
        writable = ", ".join(t.qualified_name for t in LANDING_TABLES.values())
        raise ValidationError(
            f"{table!r} is not a landing table; writable tables: {writable}"
        ) from None


_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s|%s")


def partition_value(spec: LandingTable, value: object) -> str:
    """``value`` if it is a valid value of ``spec``'s partition key (a run id), else
    ValidationError."""
    column = next(c for c in spec.columns if c.name == spec.partition_key)
    if not isinstance(value, str) or not re.fullmatch(column.pattern or ".*", value):
        raise ValidationError(
            f"{value!r} is not a valid {column.name}: it must match {column.pattern}",
            table=spec.qualified_name,
            column=column.name,
        )
    return value


def update_rows(spec: LandingTable, rows: Any) -> tuple[pd.DataFrame, list[str]]:
    """The rows of an ``update()`` as a frame, and the columns they change: ValidationError
    for a table of lists (replaced whole) or rows that change nothing."""
    if spec.rows is not None:
        raise ValidationError(
            f"{spec.qualified_name} keeps each list whole: write the new list with "
            "write(..., upsert=True), or delete it by its key "
            f"{list(spec.primary_key)}",
            table=spec.qualified_name,
        )
    frame = _as_frame(rows)
    changed = [c for c in frame.columns if c not in spec.primary_key]
    if not changed:
        raise ValidationError(
            f"nothing to update: give the key {list(spec.primary_key)} and at least one "
            "other column",
            table=spec.qualified_name,
        )
    return frame.reset_index(drop=True), changed


def delete_keys(spec: LandingTable, keys: Any) -> pd.DataFrame:
    """The keys of a ``delete()`` as a frame of the key columns (ValidationError for others)."""
    frame = _keys_frame(spec, keys).reset_index(drop=True)
    extra = [c for c in frame.columns if c not in spec.primary_key]
    if extra:
        raise ValidationError(
            f"delete() takes only the key columns {list(spec.primary_key)}, not {extra}",
            table=spec.qualified_name,
        )
    return frame


def missing_key_error(
    spec: LandingTable, key: Mapping[str, Any], frame: pd.DataFrame
) -> NotFoundError:
    """NotFoundError for a key of ``frame`` (an update's or a delete's) that has no row."""
    position = locate_row(frame, key)
    return NotFoundError(
        f"no row with key {dict(key)}",
        table=spec.qualified_name,
        column=spec.primary_key[0] if len(spec.primary_key) == 1 else None,
        row_number=position,
        row=row_at(frame, position) if position is not None else None,
    )


def still_referenced_error(
    spec: LandingTable, key: Mapping[str, Any], other: str, frame: pd.DataFrame
) -> ValidationError:
    """ValidationError for a delete of ``key``, which rows of table ``other`` refer to."""
    key_text = ", ".join(f"{k}={v}" for k, v in key.items())
    position = locate_row(frame, key) if all(c in frame.columns for c in key) else None
    advice = (
        f"retire the title instead ({RETIRED_TITLES.qualified_name}): it keeps its history"
        if spec is TITLES
        else "delete those rows first"
    )
    return ValidationError(
        f"{key_text} is still referenced from {other}: {advice}",
        table=spec.qualified_name,
        column=next(iter(key), None),
        row_number=position,
        row=row_at(frame, position) if position is not None else None,
    )


def bind_parameters(
    query: str,
    params: Sequence[Any] | Mapping[str, Any] | None,
    marker: Callable[[int], str] = "${}".format,
) -> tuple[str, tuple[Any, ...]]:
    """psycopg-style placeholders (``%s``, ``%(name)s``, ``%%``) to PostgreSQL's ``$1``...
    (or what ``marker`` makes of each value's number, from 1: Spark's ``:p1``).

    The values travel separately and PostgreSQL binds them (ADBC's parameter binding):
    nothing the caller passes is ever pasted into the SQL text. The rewrite is ours:
    ADBC's PostgreSQL driver sends the text as it is (only ``$1`` binds), and psycopg
    converts placeholders only privately, for queries on its own connections (its
    public ``ClientCursor.mogrify`` needs one, and pastes the values in as literals).
    """
    if params is None:
        return query, ()
    if isinstance(params, str | bytes) or not isinstance(params, Sequence | Mapping):
        raise ValidationError("params must be a list (for %s) or a dict (for %(name)s)")
    values: list[Any] = []
    named: dict[str, int] = {}
    styles: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            styles.add("%s")
            if not isinstance(params, Sequence):
                raise ValidationError("the query uses %s placeholders: pass params as a list")
            if len(values) >= len(params):
                raise ValidationError(f"more %s placeholders than the {len(params)} params")
            values.append(params[len(values)])
            return marker(len(values))
        styles.add("%(name)s")
        if not isinstance(params, Mapping):
            raise ValidationError("the query uses %(name)s placeholders: pass params as a dict")
        if name not in params:
            raise ValidationError(f"no value given for the parameter {name!r}")
        if name not in named:
            values.append(params[name])
            named[name] = len(values)
        return marker(named[name])

    text = _PLACEHOLDER.sub(replace, query)
    if len(styles) > 1:
        raise ValidationError("use either %s or %(name)s placeholders, not both")
    if isinstance(params, Sequence) and len(values) != len(params):
        raise ValidationError(f"{len(params)} params given for {len(values)} %s placeholders")
    return text, tuple(values)


def _set_run(run_id: str, *, published: bool) -> sql.Composable:
    """Create run ``run_id`` in recs.runs, or reset it: published now, or unpublished."""
    runs = landing_table("runs")
    return sql.SQL(
        "insert into {runs} (run_id, published_at) values ({run_id}, {at}) "
        "on conflict (run_id) do update set published_at = excluded.published_at"
    ).format(
        runs=sql.Identifier(runs.schema, runs.name),
        run_id=sql.Literal(run_id),
        at=sql.SQL("now()" if published else "null"),
    )


def _call(spec: LandingTable, purpose: str, value: str) -> sql.Composable:
    """``select <the table's partition function>(value)`` (see recdb.core.landing)."""
    return sql.SQL("select {}({})").format(partition_function(spec, purpose), sql.Literal(value))


def _cursor_chunks(
    cursor: Cursor, text: str, values: tuple[Any, ...], rows: int
) -> Iterator[pa.RecordBatch]:
    """The result of ``text`` (its parameters bound by the server) through a server-side
    cursor, ``rows`` rows a fetch."""
    name = f"recdb_chunks_{next(_CURSOR_NUMBERS)}"
    cursor.execute(f"declare {name} no scroll cursor for {text}", parameters=values)
    # FETCH cannot run inside COPY, the driver's default way to read a result
    cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
    while True:
        cursor.execute(f"fetch forward {int(rows)} from {name}")
        table = cursor.fetch_arrow_table()
        if not table.num_rows:
            break
        yield from table.to_batches()
    cursor.execute(f"close {name}")


_CURSOR_NUMBERS = itertools.count()


def _identifiers(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _key_match(spec: LandingTable) -> sql.Composable:
    return sql.SQL(" and ").join(
        sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in spec.primary_key
    )


def _drop(cursor: Cursor, staging: str) -> None:
    cursor.execute(sql_text(sql.SQL("drop table {}").format(sql.Identifier(staging))))


def _staging_name(spec: LandingTable) -> str:
    return f"_python_api_{spec.name}"


def _as_frame(rows: Any) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        return pd.DataFrame([rows])
    if (
        isinstance(rows, Sequence)
        and not isinstance(rows, str)
        and all(isinstance(r, Mapping) for r in rows)
    ):
        return pd.DataFrame(list(rows))
    raise ValidationError(
        f"expected a DataFrame, a dict or a list of dicts, got {type(rows).__name__}"
    )


def _keys_frame(spec: LandingTable, keys: Any) -> pd.DataFrame:
    if isinstance(keys, pd.Series | list | tuple | range) and not (
        keys and isinstance(list(keys)[0], Mapping)
    ):
        if len(spec.primary_key) != 1:
            raise ValidationError(
                f"{spec.qualified_name} has a key of several columns {list(spec.primary_key)}: "
                "pass a DataFrame or dicts",
            )
        return pd.DataFrame({spec.primary_key[0]: list(keys)})
    if isinstance(keys, int | str):
        return _keys_frame(spec, [keys])
    return _as_frame(keys)


def locate_row(frame: pd.DataFrame, key: Mapping[str, Any]) -> int | None:
    """The position of the first row of ``frame`` whose ``key`` columns hold ``key``'s
    values (compared as text, as drivers report them), or None."""
    mask = pd.Series(True, index=frame.index)
    for column, value in key.items():
        mask &= frame[column].astype(str) == str(value)
    hits = mask.to_numpy().nonzero()[0]
    return int(hits[0]) if len(hits) else None


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas, with PostgreSQL numerics as floats rather than strings."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        metadata = field.metadata or {}
        if (
            metadata.get(b"ADBC:postgresql:typname") == b"numeric"
            or metadata.get(b"POSTGRESQL:type") == b"numeric"
        ):
            storage = pa.chunked_array(
                [getattr(chunk, "storage", chunk) for chunk in column.chunks], type=pa.string()
            )
            column = pc.cast(storage, pa.float64())
        columns.append(column)
    return pa.table(columns, names=table.column_names).to_pandas()


# -- driver errors ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Diagnostic:
    """What PostgreSQL reported about a failed statement, as the ADBC driver passes it on:
    the error's ``sqlstate``, and libpq's error fields (``PG_DIAG_*``) in its ``details``,
    named here as psycopg's ``Diagnostic`` names them. All None for any other exception,
    and for a failure that never reached the server (a connection refused)."""

    sqlstate: str | None = None
    message_primary: str | None = None
    message_detail: str | None = None
    schema_name: str | None = None
    table_name: str | None = None
    column_name: str | None = None
    constraint_name: str | None = None

    @classmethod
    def of(cls, error: BaseException) -> _Diagnostic:
        if not isinstance(error, adbc_driver_manager.Error):
            return cls()
        fields = {_text(key): _text(value) for key, value in error.details}
        values = {
            field.name: fields.get(f"PG_DIAG_{field.name.upper()}") or None
            for field in dataclasses.fields(cls)
        }
        values["sqlstate"] = error.sqlstate or values["sqlstate"]
        return cls(**values)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _driver_message(error: BaseException) -> str:
    """PostgreSQL's primary message; for a failure without one (no server reached), the
    driver's first line, without ADBC's status code in front."""
    primary = _Diagnostic.of(error).message_primary
    if primary:
        return primary
    text = str(error)
    if isinstance(error, adbc_driver_manager.Error):
        text = text.removeprefix(f"{error.status_code.name}: ").removeprefix("[libpq] ")
    return text.split("\n")[0].strip()


#: The key of a unique or foreign key violation, as PostgreSQL words it in the DETAIL (and
#: recdb's reference triggers word it alike): ``Key (user_id)=(7) already exists.`` The
#: key's values are there only: no field of libpq's error (nor of psycopg's Diagnostic)
#: holds them.
_KEY_DETAIL = re.compile(r"Key \((?P<columns>[^)]*)\)=\((?P<values>.*)\)")
#: The table whose rows still refer to a row a delete would remove, which the DETAIL alone
#: names too: the error's table and column are those of the key referred to.
_REFERRED_FROM = re.compile(r'still referenced from table "(?P<table>[^"]+)"')


def _key(detail: str | None) -> dict[str, str]:
    """The key a DETAIL names, column by column; empty when it names none."""
    key = _KEY_DETAIL.search(detail or "")
    if not key:
        return {}
    columns = [c.strip().strip('"') for c in key.group("columns").split(",")]
    values = [v.strip() for v in key.group("values").split(",")]
    return dict(zip(columns, values, strict=True)) if len(columns) == len(values) else {}


#: PostgreSQL's conditions by their SQLSTATE, named as psycopg's exceptions are: a reference
#: to a row that does not exist, or a delete of a row still referred to.
_REFERENCE_VIOLATIONS = (
    pg_errors.ForeignKeyViolation.sqlstate,
    pg_errors.RestrictViolation.sqlstate,
)
#: The SQLSTATE classes (a code's first two characters) of the caller's mistakes: 22 data
#: exception, 23 integrity constraint violation, 42 syntax error or access rule violation.
_CALLERS_CLASSES = frozenset({"22", "23", "42"})


def _missing_from(diag: _Diagnostic) -> str | None:
    """For a foreign_key_violation raised on writing a referring column, the table that
    lacks the row referred to: the landing spec's, for the schema, table and column the
    error names (recdb's reference triggers name them: recdb.core.landing). None for one
    raised on deleting rows still referred to: that error names the key referred to."""
    spec = LANDING_TABLES.get(diag.table_name or "")
    if spec is None or spec.schema != diag.schema_name or diag.column_name is None:
        return None
    written = spec.rows.title_columns if spec.rows else ()  # a list's titles, as written
    if diag.column_name in (*spec.title_columns, *written):
        return ".".join(TITLES_TABLE)
    return next(
        (key.table for key in spec.foreign_keys if key.columns == (diag.column_name,)),
        next((look.table for look in spec.lookups if look.column == diag.column_name), None),
    )


def _translate(
    error: BaseException, table: LandingTable | None, frame: pd.DataFrame | None
) -> ApiError:
    """A driver error as one of python_api's, with the table, column and row when known."""
    diag = _Diagnostic.of(error)
    sqlstate = diag.sqlstate
    detail = diag.message_detail or ""
    message = _driver_message(error)
    name = table.qualified_name if table else None
    key_map = _key(detail)
    position = (
        locate_row(frame, key_map)
        if frame is not None and key_map and all(c in frame.columns for c in key_map)
        else None
    )
    row = row_at(frame, position) if frame is not None and position is not None else None
    column = diag.column_name or next(iter(key_map), None)
    key_text = ", ".join(f"{k}={v}" for k, v in key_map.items()) or detail
    if sqlstate == pg_errors.UniqueViolation.sqlstate and diag.constraint_name is None:
        # a row the loaded catalogue has (recdb's triggers), told in the detail
        return ConflictError(
            detail or message, table=name, column=diag.column_name, row_number=position, row=row
        )
    if sqlstate == pg_errors.UniqueViolation.sqlstate:
        primary = diag.constraint_name.endswith("_pkey")
        advice = (
            "pass upsert=True to replace it"
            if primary
            else "another row has these values, and they are unique"
        )
        return ConflictError(
            f"key {key_text} already exists ({advice})",
            table=name, column=column, row_number=position, row=row,
        )  # fmt: skip
    if sqlstate in _REFERENCE_VIOLATIONS:
        missing_from = (
            _missing_from(diag) if sqlstate == pg_errors.ForeignKeyViolation.sqlstate else None
        )
        if missing_from is None:  # a delete refused: other rows still refer to these
            referring = _REFERRED_FROM.search(detail)
            other = referring.group("table") if referring else "another table"
            if other in LANDING_TABLES:
                other = LANDING_TABLES[other].qualified_name
            if table is None or frame is None or not key_map:
                problem = f"{key_text} is still referenced from {other}: delete those rows first"
                return ValidationError(problem, table=name, column=column)
            return still_referenced_error(table, key_map, other, frame)
        if missing_from == ".".join(TITLES_TABLE):
            return NotFoundError(
                f"unknown title {key_text}: not in {missing_from} nor {TITLES.qualified_name} "
                "(load the catalogue and run `recdb build` first?)",
                table=name, column=column, row_number=position, row=row,
            )  # fmt: skip
        return NotFoundError(
            f"{key_text} does not exist in {missing_from}",
            table=name, column=column, row_number=position, row=row,
        )  # fmt: skip
    if sqlstate == pg_errors.CheckViolation.sqlstate:
        if diag.constraint_name is None:  # a rule of recdb's triggers, told in its detail
            return ValidationError(
                detail or message, table=name, column=diag.column_name, row_number=position, row=row
            )
        return ValidationError(f"breaks {diag.constraint_name}: {detail or message}", table=name)
    if sqlstate == pg_errors.LockNotAvailable.sqlstate:  # the Warehouse's lock_timeout ran out
        return BusyError(
            f"{name or 'a table this operation needs'} is locked by another transaction "
            "for longer than the lock timeout: nothing of this operation was kept; retry in "
            "a few seconds"
        )
    if sqlstate == pg_errors.ReadOnlySqlTransaction.sqlstate:
        return PermissionDeniedError(
            "read() runs read-only: change data with write(), update() or delete()"
        )
    if sqlstate == pg_errors.InsufficientPrivilege.sqlstate:
        return PermissionDeniedError(f"role may not do this: {message}")
    if sqlstate and sqlstate[:2] in _CALLERS_CLASSES:
        return ValidationError(message, table=name)
    return DatabaseError(f"{message} (nothing of this operation was kept)")
