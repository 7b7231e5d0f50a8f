"""The warehouse's schemas and landing tables on Spark, from the same spec as PostgreSQL's.

Parquet files are never changed in place, so on Spark each landing table of
:mod:`recdb.core.landing` is a log that writes only append to, and readers see the
table as PostgreSQL would hold it through a view of that log:

* ``<schema>.<name>__versions``: every version of every row ever written, with
  :data:`WRITTEN_XID`, the number of the write that added it (python_api draws
  increasing numbers; the column PostgreSQL fills with the writing transaction's id).
  An update or an upsert appends the row's new version.
* ``<schema>.<name>__deletions``: a row per deleted key (its key columns, the spec's
  ``deleted_also`` columns, ``deleted_at``) and the number of the write that deleted it.
* ``landing.commits``: the numbers of the writes that committed. A write's
  rows are appended first and its numbers last, so a reader sees every change of a
  python_api transaction or none, and a write that failed half-way is never seen.
* ``<schema>.<name>``, a view: of each key's newest committed version, those that no
  later committed deletion removed: the table's current rows. dbt's sources, python_api
  and analysts read these views; only python_api writes the logs.
* ``<schema>.deleted_<name>``, a view (for tables whose deletions the marts read): the
  committed deletions, in the columns PostgreSQL's ``deleted_<name>`` has.

The logs are partitioned by the write number, so each write adds partitions of its
own. Spark enforces no keys or checks: python_api checks every batch against the spec
before it writes (python_api/spark.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recdb.core.landing import LANDING_SCHEMAS, LANDING_TABLES, WRITTEN_XID, LandingTable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The schemas dbt builds into, and the landing schemas.
SCHEMAS = ("raw", "staging", "intermediate", "marts", "landing", *LANDING_SCHEMAS)
#: The numbers of the writes that committed (one table: a commit spans schemas).
COMMITS_TABLE = "landing.commits"
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


def versions_table(table: LandingTable) -> str:
    """The log of ``table``'s row versions (schema-qualified)."""
    return f"{table.qualified_name}__versions"


def deletions_table(table: LandingTable) -> str:
    """The log of ``table``'s deleted keys (schema-qualified)."""
    return f"{table.qualified_name}__deletions"


def spark_columns(table: LandingTable) -> list[tuple[str, str]]:
    """(name, Spark type) of each column of a landing table, without the write number."""
    return [(c.name, SPARK_TYPES[c.pg_type]) for c in table.columns]


def deletion_columns(table: LandingTable) -> list[str]:
    """The columns a deletion records, without the write number: the key, the spec's
    ``deleted_also`` columns, ``deleted_at``."""
    return [*table.primary_key, *table.deleted_also, "deleted_at"]


def _typed(table: LandingTable, names: list[str]) -> list[tuple[str, str]]:
    return [
        (name, "timestamp" if name == "deleted_at" else SPARK_TYPES[table.column(name).pg_type])
        for name in names
    ]


def _create_log(spark: SparkSession, name: str, columns: list[tuple[str, str]]) -> None:
    definitions = ", ".join(f"{column} {kind}" for column, kind in columns)
    spark.sql(
        f"create table if not exists {name} ({definitions}, {WRITTEN_XID} bigint) "
        f"using parquet partitioned by ({WRITTEN_XID})"
    )


def current_rows_sql(table: LandingTable) -> str:
    """The query of ``table``'s view: each key's newest committed version, unless a
    committed deletion came after it."""
    keys = list(table.primary_key)
    columns = ", ".join(f"v.{c.name}" for c in table.columns)
    partition = ", ".join(keys)
    same_key = " and ".join(f"d.{k} = v.{k}" for k in keys)
    commits = COMMITS_TABLE
    # names from the spec, not from callers
    return f"""
with committed_versions as (
    select
        versions.*,
        row_number() over (partition by {partition} order by {WRITTEN_XID} desc) as newest
    from {versions_table(table)} as versions
    left semi join {commits} as c on versions.{WRITTEN_XID} = c.{WRITTEN_XID}
),
committed_deletions as (
    select {partition}, max(deletions.{WRITTEN_XID}) as deleted_xid
    from {deletions_table(table)} as deletions
    left semi join {commits} as c on deletions.{WRITTEN_XID} = c.{WRITTEN_XID}
    group by {partition}
)
select {columns}, v.{WRITTEN_XID}
from committed_versions as v
left anti join committed_deletions as d on {same_key} and d.deleted_xid > v.{WRITTEN_XID}
where v.newest = 1
"""  # noqa: S608


def deleted_rows_sql(table: LandingTable) -> str:
    """The query of ``deleted_<name>``: the committed deletions, in PostgreSQL's columns."""
    recorded = ", ".join(f"d.{c}" for c in (*table.deleted_keys, *table.deleted_also))
    return (
        f"select {recorded}, d.deleted_at, d.{WRITTEN_XID} "  # noqa: S608 - names from the spec
        f"from {deletions_table(table)} as d left semi join {COMMITS_TABLE} "
        f"as c on d.{WRITTEN_XID} = c.{WRITTEN_XID}"
    )


def prepare_spark_warehouse(spark: SparkSession) -> None:
    """Create the schemas, every landing log and view that is missing (idempotent)."""
    for schema in SCHEMAS:
        if not spark.catalog.databaseExists(schema):  # the metastore logs an error otherwise
            spark.sql(f"create schema {schema}")
    spark.sql(f"create table if not exists {COMMITS_TABLE} ({WRITTEN_XID} bigint) using parquet")
    for table in LANDING_TABLES.values():
        _create_log(spark, versions_table(table), spark_columns(table))
        _create_log(spark, deletions_table(table), _typed(table, deletion_columns(table)))
        spark.sql(f"create view if not exists {table.qualified_name} as {current_rows_sql(table)}")
        if table.deleted_keys:
            spark.sql(
                f"create view if not exists {table.schema}.{table.deleted_table} "
                f"as {deleted_rows_sql(table)}"
            )
