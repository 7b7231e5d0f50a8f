"""`recdb publish`: what the web API serves, copied from the Spark warehouse into the
serving PostgreSQL, so that `recdb serve` works unchanged in front of Spark.

The web API reads a few marts (:data:`SERVED_MARTS`); on Spark they live in Parquet
files the API cannot query with the speed and the indexes it needs, so each is copied
into the ``marts`` schema of the PostgreSQL that ``RECDB_*`` names (the embedded one by
default), as the owner, through Arrow. The recommendation marts hold one run: the
newest published one on Spark, or the one asked for. Each mart is first written to a
table of its own and then, in one transaction, put in place of the old one with its
indexes: the API sees the old marts or the new ones, never a mix. The readers' grants
come with the schema's default privileges (recdb/warehouse/roles.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import adbc_driver_postgresql.dbapi
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from recdb.core.connection import ConnectionSettings, connection_settings, sql_text
from recdb.core.errors import RecdbError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

#: The marts the web API reads (web_api/routes), and the key each is looked up by.
SERVED_MARTS: dict[str, tuple[str, ...]] = {
    "dim_titles": ("title_id",),
    "dim_genres": ("genre_id",),
    "bridge_title_genres": ("title_id",),
    "dim_prod_countries": ("country_code",),
    "bridge_title_prod_countries": ("title_id",),
    "dim_persons": ("person_id",),
    "dim_credits": ("title_id",),
    "cold_start_titles": (),
    "dim_users": ("user_id",),
    "fact_sessions": ("user_id", "started_at"),
    "dim_recommendation_runs": (),
    "fact_recommendations": ("user_id", "recommendation_rank"),
}
#: The marts of recommender runs: only the published run is copied.
RUN_MARTS = ("dim_recommendation_runs", "fact_recommendations")
_SUFFIX = "__publishing"


class PublishError(RecdbError):
    """`recdb publish` could not copy the marts (nothing was changed in PostgreSQL)."""


@dataclass(frozen=True)
class PublishReport:
    """What `recdb publish` copied: the run, rows per mart, seconds."""

    run_id: str | None
    rows: dict[str, int]
    seconds: float

    def describe(self) -> str:
        """One line for the command line."""
        run = f"run {self.run_id}" if self.run_id else "no recommender run (none published)"
        return (
            f"published {len(self.rows)} marts ({sum(self.rows.values()):,} rows; {run}) "
            f"to PostgreSQL in {self.seconds:.1f} s"
        )


def published_run(spark: SparkSession, run_id: str | None) -> str | None:
    """``run_id`` if Spark's marts hold it as a published run, else PublishError; without
    one, the newest published run (None when there is none)."""
    runs = spark.table("marts.dim_recommendation_runs")
    if run_id is None:
        newest = runs.orderBy(runs["run_published_at"].desc()).limit(1).collect()
        return str(newest[0]["run_id"]) if newest else None
    if not runs.where(runs["run_id"] == run_id).limit(1).collect():
        raise PublishError(
            f"run {run_id!r} is not a published run in Spark's marts "
            "(marts.dim_recommendation_runs): publish it and run `recdb build` first"
        )
    return run_id


#: Rows of a mart read into this process at a time (a million sessions: ~100 MB of Arrow).
CHUNK_ROWS = 1_000_000


def _chunks(frame: DataFrame, key: tuple[str, ...]) -> Iterator[pa.Table]:
    """The mart as Arrow tables of about :data:`CHUNK_ROWS` rows (by a hash of its key),
    timestamps as instants in UTC (PostgreSQL's timestamptz)."""
    from pyspark.sql import functions

    pieces = max(1, math.ceil(frame.count() / CHUNK_ROWS)) if key else 1
    for piece in range(pieces):
        part = frame
        if pieces > 1:
            bucket = functions.pmod(functions.hash(*key), functions.lit(pieces))
            part = frame.where(bucket == piece)
        table = part.toArrow()
        columns = [
            pc.cast(column, pa.timestamp("us", tz="UTC"))
            if pa.types.is_timestamp(column.type)
            else column
            for column in table.columns
        ]
        yield pa.table(columns, names=table.column_names)


def publish(
    run_id: str | None = None,
    *,
    spark: SparkSession | None = None,
    owner: ConnectionSettings | None = None,
) -> PublishReport:
    """Copy :data:`SERVED_MARTS` from Spark into the serving PostgreSQL (see the module)."""
    from recdb.core.spark import session

    started = time.perf_counter()
    spark = spark or session()
    run_id = published_run(spark, run_id)
    owner = owner or connection_settings("owner")
    rows: dict[str, int] = {}
    try:
        conn = adbc_driver_postgresql.dbapi.connect(owner.url())
    except Exception as error:  # noqa: BLE001 - the driver's errors are many
        raise PublishError(str(owner.unavailable(str(error)))) from None
    try:
        with conn.cursor() as cursor:
            for mart, key in SERVED_MARTS.items():
                frame = spark.table(f"marts.{mart}")
                if mart in RUN_MARTS:
                    frame = frame.where(frame["run_id"] == (run_id or ""))
                staged = f"{mart}{_SUFFIX}"
                cursor.execute(sql_text(sql.SQL("drop table if exists {}").format(
                    sql.Identifier("marts", staged)
                )))  # fmt: skip
                rows[mart] = 0
                for table in _chunks(frame, key):
                    cursor.adbc_ingest(staged, table, mode="create_append", db_schema_name="marts")
                    rows[mart] += table.num_rows
                logger.info("copied %s rows of marts.%s", rows[mart], mart)
            for mart, key in SERVED_MARTS.items():
                _put_in_place(cursor, mart, key)
        conn.commit()
    except Exception as error:
        conn.rollback()
        if isinstance(error, RecdbError):
            raise
        raise PublishError(f"the marts were not published (nothing changed): {error}") from None
    finally:
        conn.close()
    return PublishReport(run_id=run_id, rows=rows, seconds=time.perf_counter() - started)


def _put_in_place(
    cursor: adbc_driver_postgresql.dbapi.Cursor, mart: str, key: tuple[str, ...]
) -> None:
    """Replace ``marts.<mart>`` (a table or a view, and what depends on it) by its copy."""
    kind_of = sql.SQL("select relkind from pg_class where oid = to_regclass({})")
    cursor.execute(sql_text(kind_of.format(sql.Literal(f"marts.{mart}"))))
    found = cursor.fetchone()
    if found is not None:
        kind = {"v": "view", "m": "materialized view"}.get(found[0], "table")
        cursor.execute(sql_text(sql.SQL("drop {} {} cascade").format(
            sql.SQL(kind), sql.Identifier("marts", mart)
        )))  # fmt: skip
    cursor.execute(sql_text(sql.SQL("alter table {} rename to {}").format(
        sql.Identifier("marts", f"{mart}{_SUFFIX}"), sql.Identifier(mart)
    )))  # fmt: skip
    if key:
        cursor.execute(sql_text(sql.SQL("create index on {} ({})").format(
            sql.Identifier("marts", mart), sql.SQL(", ").join(map(sql.Identifier, key))
        )))  # fmt: skip
    cursor.execute(sql_text(sql.SQL("analyze {}").format(sql.Identifier("marts", mart))))
