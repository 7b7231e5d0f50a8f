"""The warehouse's schemas and landing tables on Spark, from the same spec as PostgreSQL's.

Each landing table of :mod:`recdb.core.landing` (and its ``deleted_<name>`` table) is a
Parquet table with the spec's columns in Spark's types and :data:`WRITTEN_XID`: on
Spark the number of the write that added the row (python_api draws one per commit,
increasing), the column PostgreSQL fills with the writing transaction's id. The tables
are partitioned by it, so that each write adds a partition of its own and a reader of
what is new lists only those. Spark enforces no keys or checks: python_api checks
every batch against the spec before it writes (python_api/spark.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recdb.core.landing import LANDING_SCHEMAS, LANDING_TABLES, WRITTEN_XID, LandingTable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The schemas dbt builds into, and the landing schemas.
SCHEMAS = ("raw", "staging", "intermediate", "marts", *LANDING_SCHEMAS)
#: PostgreSQL's type names in the spec, as Spark's.
SPARK_TYPES = {
    "bigint": "bigint",
    "integer": "int",
    "smallint": "smallint",
    "double precision": "double",
    "text": "string",
    "boolean": "boolean",
    "timestamptz": "timestamp",
    "double precision[]": "array<double>",
    "text[]": "array<string>",
}


def spark_columns(table: LandingTable) -> list[tuple[str, str]]:
    """(name, Spark type) of each column of a landing table, without the write number."""
    return [(c.name, SPARK_TYPES[c.pg_type]) for c in table.columns]


def deleted_columns(table: LandingTable) -> list[tuple[str, str]]:
    """(name, Spark type) of each column of ``deleted_<name>``, without the write number."""
    recorded = [(name, SPARK_TYPES[table.column(name).pg_type]) for name in table.deleted_keys]
    also = [(name, SPARK_TYPES[table.column(name).pg_type]) for name in table.deleted_also]
    return [*recorded, *also, ("deleted_at", "timestamp")]


def _create(spark: SparkSession, schema: str, name: str, columns: list[tuple[str, str]]) -> None:
    definitions = ", ".join(f"{column} {kind}" for column, kind in columns)
    spark.sql(
        f"create table if not exists {schema}.{name} ({definitions}, {WRITTEN_XID} bigint) "
        f"using parquet partitioned by ({WRITTEN_XID})"
    )


def prepare_spark_warehouse(spark: SparkSession) -> None:
    """Create the schemas and every landing table that is missing (idempotent)."""
    for schema in SCHEMAS:
        if not spark.catalog.databaseExists(schema):  # the metastore logs an error otherwise
            spark.sql(f"create schema {schema}")
    for table in LANDING_TABLES.values():
        _create(spark, table.schema, table.name, spark_columns(table))
        if table.deleted_keys:
            _create(spark, table.schema, table.deleted_table, deleted_columns(table))
