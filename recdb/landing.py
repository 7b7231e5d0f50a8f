"""The landing tables that data scientists and the recommender write: ``sim.*`` and ``recs.*``.

This is the single description of the landing layer. The project creates the
tables from it (:func:`ensure_landing_tables`, idempotent), python_api
validates every write against it before anything reaches PostgreSQL, and dbt
declares the same tables as sources (a test compares the two).

References between landing tables (a session's user, a rating's session) are
declared here but checked by python_api, set-based, before each write (and on
delete), not by PostgreSQL foreign keys: a foreign key checks row by row, which
made bulk writes of sessions several times slower than the COPY itself.

Incremental dbt models find what changed since their last build by the
transaction that wrote each row (PostgreSQL's ``xmin``, see
macros/incremental_by_commit.sql): nothing is drawn or stamped per row. A table
with ``deleted_keys`` also records the keys of its deleted rows, whoever deletes
them, in ``<schema>.deleted_<table>`` (a statement-level delete trigger), so that
deletes reach the marts at the next build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from recdb.settings import ROLE_NAMES

LANDING_SCHEMAS = ("sim", "recs")


@dataclass(frozen=True)
class LandingColumn:
    """One column a caller writes: type, nullability and the values it admits."""

    name: str
    pg_type: str
    description: str
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None  # a regular expression text values must match whole

    @property
    def kind(self) -> str:
        """integer, float, text, boolean, timestamp or float_array."""
        return {
            "bigint": "integer",
            "integer": "integer",
            "smallint": "integer",
            "double precision": "float",
            "text": "text",
            "boolean": "boolean",
            "timestamptz": "timestamp",
            "double precision[]": "float_array",
        }[self.pg_type]


@dataclass(frozen=True)
class ForeignKey:
    """A reference to another landing table, enforced by python_api (set-based)."""

    columns: tuple[str, ...]
    table: str  # schema.table
    ref_columns: tuple[str, ...]
    on_delete: str = "restrict"


@dataclass(frozen=True)
class RowCheck:
    """``left <op> right`` between two columns of the same row (skipped when either is null)."""

    left: str
    op: str
    right: str

    def describe(self) -> str:
        """How the rule reads to a user."""
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class LandingTable:
    """A landing table: what callers may write into it and what it refers to."""

    schema: str
    name: str
    description: str
    columns: tuple[LandingColumn, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_checks: tuple[RowCheck, ...] = ()
    #: Columns holding a title id, checked against ``marts.dim_titles`` before writing
    #: (not a foreign key: dbt rebuilds marts and would drop it).
    title_columns: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = field(default=())
    #: The key columns recorded in ``<schema>.deleted_<name>`` when rows are deleted
    #: (empty: deletions are not recorded). The marts' incremental builds read them.
    deleted_keys: tuple[str, ...] = ()
    #: A column whose every value gets a partition of its own (list partitioning):
    #: see :func:`run_partition_functions`.
    partition_key: str | None = None

    @property
    def qualified_name(self) -> str:
        """``schema.table``."""
        return f"{self.schema}.{self.name}"

    @property
    def deleted_table(self) -> str:
        """The name of the table of deleted keys, ``deleted_<name>`` (same schema)."""
        return f"deleted_{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        """The caller-written columns, in table order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> LandingColumn:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)


_PLANS = ("basic", "standard", "premium")
_GENDERS = ("female", "male", "nonbinary", "undisclosed")

USERS = LandingTable(
    "sim",
    "users",
    "Simulated users: demographics and subscription. One row per user.",
    (
        LandingColumn("user_id", "bigint", "The user's key.", minimum=1),
        LandingColumn("signup_at", "timestamptz", "When the user subscribed (UTC)."),
        LandingColumn("birth_year", "smallint", "Year of birth.", minimum=1900, maximum=2020),
        LandingColumn("gender", "text", "Self-described gender.", allowed=_GENDERS),
        LandingColumn(
            "country_code",
            "text",
            "ISO 3166-1 alpha-2 code of the user's country.",
            pattern="[A-Z]{2}",
        ),  # fmt: skip
        LandingColumn("plan", "text", "Current subscription plan.", allowed=_PLANS),
        LandingColumn(
            "churned_at",
            "timestamptz",
            "When the user cancelled (UTC); null while subscribed.",
            nullable=True,
        ),  # fmt: skip
    ),
    primary_key=("user_id",),
    row_checks=(RowCheck("churned_at", ">=", "signup_at"),),
    deleted_keys=("user_id",),
)

SESSIONS = LandingTable(
    "sim",
    "sessions",
    "Simulated viewing sessions: one row per session of a user watching a title.",
    (
        LandingColumn("session_id", "bigint", "The session's key.", minimum=1),
        LandingColumn("user_id", "bigint", "Who watched (sim.users)."),
        LandingColumn("title_id", "text", "What was watched (marts.dim_titles)."),
        LandingColumn("started_at", "timestamptz", "When the session started (UTC)."),
        LandingColumn("ended_at", "timestamptz", "When the session ended (UTC)."),
        LandingColumn(
            "minutes_watched", "double precision", "Minutes actually watched.", minimum=0
        ),
        LandingColumn(
            "completion_ratio",
            "double precision",
            "Share of the title (or episode) watched, 0 to 1.",
            minimum=0,
            maximum=1,
        ),  # fmt: skip
    ),
    primary_key=("session_id",),
    foreign_keys=(ForeignKey(("user_id",), "sim.users", ("user_id",)),),
    row_checks=(RowCheck("ended_at", ">=", "started_at"),),
    title_columns=("title_id",),
    deleted_keys=("session_id",),
)

RATINGS = LandingTable(
    "sim",
    "ratings",
    "Ratings users gave at the end of a session: at most one per session.",
    (
        LandingColumn("session_id", "bigint", "The rated session (sim.sessions)."),
        LandingColumn("rating", "smallint", "Stars, 1 to 5.", minimum=1, maximum=5),
        LandingColumn("rated_at", "timestamptz", "When the rating was given (UTC)."),
    ),
    primary_key=("session_id",),
    foreign_keys=(ForeignKey(("session_id",), "sim.sessions", ("session_id",)),),
    deleted_keys=("session_id",),
)

USER_TASTES = LandingTable(
    "sim",
    "user_tastes",
    "The simulation's hidden ground truth: each user's taste over genres, to score "
    "recommenders against. Not visible to analysts.",
    (
        LandingColumn("user_id", "bigint", "The user (sim.users)."),
        LandingColumn(
            "genre_affinities",
            "double precision[]",
            "Affinity for each genre, in genre_id order of marts.dim_genres; non-negative.",
            minimum=0,
        ),  # fmt: skip
        LandingColumn(
            "popularity_bias",
            "double precision",
            "How much this user follows popularity (0 = not at all).",
            minimum=0,
        ),  # fmt: skip
    ),
    primary_key=("user_id",),
    foreign_keys=(ForeignKey(("user_id",), "sim.users", ("user_id",), on_delete="cascade"),),
)

#: What a run id may be: it names a partition, a model folder and a URL path segment.
RUN_ID_PATTERN = r"[\w.:-]{1,64}"

RUNS = LandingTable(
    "recs",
    "runs",
    "Recommender runs: a run's recommendations are served and reach the marts once it is "
    "published (published_at set), never half-written.",
    (
        LandingColumn("run_id", "text", "The run's id.", pattern=RUN_ID_PATTERN),
        LandingColumn(
            "published_at",
            "timestamptz",
            "When the run was published, complete (UTC); null while it is being written.",
            nullable=True,
        ),  # fmt: skip
    ),
    primary_key=("run_id",),
    deleted_keys=("run_id",),
)

RECOMMENDATIONS = LandingTable(
    "recs",
    "recommendations",
    "Recommendations written by a recommender run: the top titles for each user.",
    (
        LandingColumn(
            "run_id",
            "text",
            "The recommender run that wrote the row (recs.runs).",
            pattern=RUN_ID_PATTERN,
        ),  # fmt: skip
        LandingColumn("user_id", "bigint", "For whom (sim.users)."),
        LandingColumn("title_id", "text", "What is recommended (marts.dim_titles)."),
        LandingColumn(
            "rank", "smallint", "Position in the user's list, 1 first.", minimum=1, maximum=1000
        ),
        LandingColumn("score", "double precision", "The recommender's score (higher is better)."),
        LandingColumn(
            "is_cold_start",
            "boolean",
            "True when the user had no history and got the cold-start list.",
        ),  # fmt: skip
    ),
    primary_key=("run_id", "user_id", "rank"),
    foreign_keys=(
        ForeignKey(("run_id",), "recs.runs", ("run_id",), on_delete="cascade"),
        ForeignKey(("user_id",), "sim.users", ("user_id",), on_delete="cascade"),
    ),
    title_columns=("title_id",),
    unique=(("run_id", "user_id", "title_id"),),
    partition_key="run_id",
    deleted_keys=("run_id",),
)

LANDING_TABLES: dict[str, LandingTable] = {
    t.name: t for t in (USERS, SESSIONS, RATINGS, USER_TASTES, RUNS, RECOMMENDATIONS)
}


def landing_table(name: str) -> LandingTable:
    """The landing table called ``name`` (``users`` or ``sim.users``); KeyError otherwise."""
    short = name.split(".", 1)[1] if "." in name else name
    table = LANDING_TABLES[short]
    if "." in name and name != table.qualified_name:
        raise KeyError(name)
    return table


def _column_ddl(column: LandingColumn, *, partition_key: bool = False) -> sql.Composable:
    checks = []
    name = sql.Identifier(column.name)
    if column.minimum is not None and column.kind != "float_array":
        checks.append(sql.SQL("{} >= {}").format(name, sql.Literal(column.minimum)))
    if column.maximum is not None and column.kind != "float_array":
        checks.append(sql.SQL("{} <= {}").format(name, sql.Literal(column.maximum)))
    if column.allowed:
        checks.append(
            sql.SQL("{} in ({})").format(
                name, sql.SQL(", ").join(sql.Literal(v) for v in column.allowed)
            )
        )
    # A partition key's pattern is checked once per partition, by the function that
    # creates it (every row of a partition has its one value), not once per row.
    if column.pattern and not partition_key:
        checks.append(sql.SQL("{} ~ {}").format(name, sql.Literal(f"^(?:{column.pattern})$")))
    parts = [sql.SQL("{} {}").format(name, sql.SQL(column.pg_type))]
    if not column.nullable:
        parts.append(sql.SQL("not null"))
    if checks:
        parts.append(sql.SQL("check ({})").format(sql.SQL(" and ").join(checks)))
    return sql.SQL(" ").join(parts)


def table_ddl(table: LandingTable) -> sql.Composable:
    """``create table if not exists`` for one landing table."""
    items = [_column_ddl(c, partition_key=c.name == table.partition_key) for c in table.columns]
    items.append(
        sql.SQL("primary key ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key)
        )
    )
    for columns in table.unique:
        items.append(
            sql.SQL("unique ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        )
    for check in table.row_checks:
        items.append(
            sql.SQL("check ({} {} {})").format(
                sql.Identifier(check.left), sql.SQL(check.op), sql.Identifier(check.right)
            )
        )
    partitioning = (
        sql.SQL(" partition by list ({})").format(sql.Identifier(table.partition_key))
        if table.partition_key
        else sql.SQL("")
    )
    return sql.SQL("create table if not exists {} ({}){}").format(
        sql.Identifier(table.schema, table.name), sql.SQL(", ").join(items), partitioning
    )


def ensure_landing_tables(conn: psycopg.Connection) -> None:
    """As the owner: create the landing schemas, tables and grants if missing (idempotent).

    The scientist reads and writes them; analysts do not see them (they read
    the marts dbt builds from them).
    """
    scientist = sql.Identifier(ROLE_NAMES["scientist"])
    for schema in LANDING_SCHEMAS:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), scientist)
        )
    for table in LANDING_TABLES.values():
        conn.execute(table_ddl(table))
        if table.partition_key:
            for function in run_partition_functions(table):
                conn.execute(function)
        if table.deleted_keys:
            _ensure_deleted_keys(conn, table)
        conn.execute(
            sql.SQL("grant select, insert, update, delete on {} to {}").format(
                sql.Identifier(table.schema, table.name), scientist
            )
        )


def _ensure_deleted_keys(conn: psycopg.Connection, table: LandingTable) -> None:
    """:func:`deleted_keys_ddl`, the trigger only when missing: CREATE TRIGGER locks the
    table, even to replace a trigger by the same one, and would wait for every open
    writer (this runs before every build)."""
    *setup, trigger, grant = deleted_keys_ddl(table)
    for statement in setup:
        conn.execute(statement)
    exists = conn.execute(
        "select 1 from pg_trigger where tgrelid = to_regclass(%s) and tgname = %s",
        (table.qualified_name, f"record_{table.deleted_table}"),
    ).fetchone()
    if not exists:
        conn.execute(trigger)
    conn.execute(grant)


def deleted_keys_ddl(table: LandingTable) -> list[sql.Composable]:
    """The table of ``table``'s deleted keys, and the trigger that fills it.

    ``<schema>.deleted_<name>`` holds the key columns of every deleted row (a key
    deleted twice, after being written again, twice) and when. An AFTER DELETE
    trigger for each statement copies them from the statement's transition table:
    one insert per DELETE, whoever sends it (python_api, the web API or plain SQL).
    TRUNCATE records nothing: delete rows with DELETE.
    """
    target = sql.Identifier(table.schema, table.deleted_table)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in table.deleted_keys)
    key_columns = sql.SQL(", ").join(
        sql.SQL("{} {} not null").format(sql.Identifier(k), sql.SQL(table.column(k).pg_type))
        for k in table.deleted_keys
    )
    function = sql.Identifier(table.schema, f"record_{table.deleted_table}")
    return [
        sql.SQL(
            "create table if not exists {} ({}, deleted_at timestamptz not null default now())"
        ).format(target, key_columns),
        sql.SQL(
            """
            create or replace function {function}() returns trigger
            language plpgsql set search_path = pg_catalog, pg_temp
            as $function$
            begin
                insert into {target} ({keys}) select distinct {keys} from deleted_rows;
                return null;
            end
            $function$
            """
        ).format(function=function, target=target, keys=keys),
        sql.SQL(
            "create trigger {} after delete on {} referencing old table as "
            "deleted_rows for each statement execute function {}()"
        ).format(
            sql.Identifier(f"record_{table.deleted_table}"),
            sql.Identifier(table.schema, table.name),
            function,
        ),
        sql.SQL("grant select, insert on {} to {}").format(
            target, sql.Identifier(ROLE_NAMES["scientist"])
        ),
    ]


# -- one partition per run ------------------------------------------------------------
# recs.recommendations has one partition per run_id. A run that replaces its rows
# writes them into a table created in its own transaction (which PostgreSQL with
# wal_level=minimal, the embedded server's setting, fills without writing WAL),
# builds its indexes once when full, and swaps it in for the run's old partition
# at the end: several times cheaper than deleting and re-inserting millions of
# index entries, and readers of the other runs never wait on it. The scientist
# owns none of these tables: three SECURITY DEFINER functions, owned by the
# owner, do the DDL for it, each checking the run id first.


def partition_name(table: LandingTable, value: str) -> str:
    """The name of ``value``'s partition (a hash, so any valid value gives a safe name)."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()[:20]
    return f"{table.name}_{digest}"


def _function_names(table: LandingTable) -> dict[str, str]:
    return {
        "ensure": f"ensure_{table.partition_key}_partition",
        "stage": f"stage_{table.partition_key}",
        "publish": f"publish_{table.partition_key}",
    }


def partition_function(table: LandingTable, purpose: str) -> sql.Identifier:
    """The partition function for ``purpose``: ``ensure``, ``stage`` or ``publish``."""
    return sql.Identifier(table.schema, _function_names(table)[purpose])


def run_partition_functions(table: LandingTable) -> list[sql.Composable]:
    """DDL of the three functions that manage ``table``'s partitions (see above).

    * ``ensure_<key>_partition(value)``: creates the value's partition if missing;
    * ``stage_<key>(value)``: creates an empty table for the value's new rows, with
      the table's columns, defaults and checks but no index; returns its name;
    * ``publish_<key>(value)``: indexes the staged table as the partitions are
      indexed, drops the value's old partition and attaches the staged one.
    """
    key = next(c for c in table.columns if c.name == table.partition_key)
    parent = sql.Identifier(table.schema, table.name)
    scientist = sql.Identifier(ROLE_NAMES["scientist"])
    names = _function_names(table)
    prefix = sql.Literal(f"{table.name}_")
    pattern = sql.Literal(f"^(?:{key.pattern})$" if key.pattern else ".")
    schema = sql.Literal(table.schema)
    # Shared by the three: validate the value, serialise work on one value, name things.
    preamble = sql.SQL(
        """
        if value is null or value !~ {pattern} then
            raise exception using errcode = '22023',
                message = format('invalid {key} %L: it must match {raw_pattern}', value);
        end if;
        perform pg_advisory_xact_lock(hashtextextended({parent_text} || value, 0));
        part := {prefix} || left(md5(value), 20);
        stage := part || '_new';
        """
    ).format(
        pattern=pattern,
        key=sql.SQL(table.partition_key),
        raw_pattern=sql.SQL(key.pattern.replace("%", "%%") if key.pattern else "anything"),
        parent_text=sql.Literal(f"{table.qualified_name}:"),
        prefix=prefix,
    )
    indexes = [
        sql.SQL("primary key ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key)
        ),
        *(
            sql.SQL("unique ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))
            for columns in table.unique
        ),
    ]
    add_indexes = sql.SQL(", ").join(sql.SQL("add ") + index for index in indexes)
    # The old partition's rows go with it: recorded as deleted, as a DELETE would be.
    record_deleted = (
        sql.SQL(
            """
        if to_regclass(format('%I.%I', {schema}, part)) is not null then
            insert into {deleted} ({key_ident}) values (value);
        end if;"""
        ).format(
            schema=schema,
            deleted=sql.Identifier(table.schema, table.deleted_table),
            key_ident=sql.Identifier(table.partition_key),
        )
        if table.deleted_keys == (table.partition_key,)
        else sql.SQL("")
    )

    def function(name: str, returns: str, body: sql.Composable) -> sql.Composable:
        qualified = sql.Identifier(table.schema, name)
        return sql.SQL(
            """
            create or replace function {qualified}(value text) returns {returns}
            language plpgsql security definer set search_path = pg_catalog, pg_temp
            as $function$
            declare
                part text;
                stage text;
            begin
                {preamble}
                {body}
            end
            $function$;
            revoke all on function {qualified}(text) from public;
            grant execute on function {qualified}(text) to {scientist};
            """
        ).format(
            qualified=qualified,
            returns=sql.SQL(returns),
            preamble=preamble,
            body=body,
            scientist=scientist,
        )

    ensure = sql.SQL(
        """
        if to_regclass(format('%I.%I', {schema}, part)) is null then
            execute format('create table %I.%I partition of {parent} for values in (%L)',
                {schema}, part, value);
        end if;
        """
    ).format(schema=schema, parent=parent)
    stage = sql.SQL(
        """
        execute format('drop table if exists %I.%I', {schema}, stage);
        execute format(
            'create table %I.%I (like {parent} including defaults including constraints)',
            {schema}, stage);
        -- the partition's own bound, as a check: attaching then skips scanning the rows
        execute format('alter table %I.%I add check ({key_ident} = %L)', {schema}, stage, value);
        execute format('grant select, insert on %I.%I to {scientist}', {schema}, stage);
        return format('%I.%I', {schema}, stage);
        """
    ).format(
        schema=schema,
        parent=parent,
        key_ident=sql.Identifier(table.partition_key),
        scientist=scientist,
    )
    publish = sql.SQL(
        """
        if to_regclass(format('%I.%I', {schema}, stage)) is null then
            raise exception using errcode = '55000',
                message = format('{key} %L has no staged rows to publish', value);
        end if;
        execute format('alter table %I.%I {add_indexes}', {schema}, stage);
        {record_deleted}
        execute format('drop table if exists %I.%I', {schema}, part);
        execute format('alter table %I.%I rename to %I', {schema}, stage, part);
        execute format('alter table {parent} attach partition %I.%I for values in (%L)',
            {schema}, part, value);
        -- from now on rows come in through the parent, like every other partition's
        execute format('revoke insert on %I.%I from {scientist}', {schema}, part);
        """
    ).format(
        schema=schema,
        key=sql.SQL(table.partition_key),
        add_indexes=sql.SQL(add_indexes.as_string(None).replace("%", "%%").replace("'", "''")),
        record_deleted=record_deleted,
        parent=parent,
        scientist=scientist,
    )
    return [
        function(names["ensure"], "void", ensure),
        function(names["stage"], "text", stage),
        function(names["publish"], "void", publish),
    ]
