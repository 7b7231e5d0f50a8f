"""The landing tables that data scientists and the recommender write: ``sim.*`` and ``recs.*``.

This is the single description of the landing layer. The project creates the
tables from it (:func:`ensure_landing_tables`, idempotent), python_api
validates every write against it before anything reaches PostgreSQL, and dbt
declares the same tables as sources (a test compares the two).

References between landing tables (a session's user, a rating's session, a
recommendation's run and user) and to the catalogue (a session's or a
recommendation's title, in ``marts.dim_titles``) are enforced by PostgreSQL,
whoever writes: statement-level triggers check each statement's rows at once
(:func:`references_ddl`), where a foreign key checks row by row, which made bulk
writes of sessions 3.9 times slower than the COPY itself (1.7 times set-based).
A delete of a referenced row cascades or is refused, as the reference says.

Incremental dbt models find what changed since their last build by the
transaction that wrote each row: the ``stamped`` tables hold its id in
``written_xid`` (set by PostgreSQL, not by callers; see :data:`WRITTEN_XID` and
macros/incremental_by_commit.sql). A table with ``deleted_keys`` also records the
keys of its deleted rows, whoever deletes them, in ``<schema>.deleted_<table>`` (a
statement-level delete trigger), so that deletes reach the marts at the next build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from recdb.core.settings import ROLE_NAMES

LANDING_SCHEMAS = ("sim", "recs")

#: The values each integer type of PostgreSQL holds.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "bigint": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "smallint": (-(2**15), 2**15 - 1),
}
BIGINT_MAX = INTEGER_RANGES["bigint"][1]


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
        """integer, float, text, boolean, timestamp, float_array or text_array."""
        return {
            "bigint": "integer",
            "integer": "integer",
            "smallint": "integer",
            "double precision": "float",
            "text": "text",
            "boolean": "boolean",
            "timestamptz": "timestamp",
            "double precision[]": "float_array",
            "text[]": "text_array",
        }[self.pg_type]

    @property
    def integer_range(self) -> tuple[int, int]:
        """(lowest, highest) value of an integer column: its bounds within its type's."""
        low, high = INTEGER_RANGES[self.pg_type]
        if self.minimum is not None:
            low = max(low, int(self.minimum))
        if self.maximum is not None:
            high = min(high, int(self.maximum))
        return low, high

    def check_expression(self, name: str | None = None) -> str | None:
        """The column's rule as SQL (``rating between 1 and 5``), about ``name`` (a column
        derived from this one, in a mart) or this column; None when it has no rule. The
        landing table's check constraint, and the marts' contracts (tested equal)."""
        name = name or self.name
        rules = []
        if not self.kind.endswith("_array"):
            low, high = self.minimum, self.maximum
            if low is not None and high is not None:
                rules.append(f"{name} between {_number(low)} and {_number(high)}")
            elif low is not None:
                rules.append(f"{name} >= {_number(low)}")
            elif high is not None:
                rules.append(f"{name} <= {_number(high)}")
        if self.allowed:
            rules.append(f"{name} in ({', '.join(_quoted(v) for v in self.allowed)})")
        if self.pattern:
            rules.append(f"{name} ~ {_quoted(f'^(?:{self.pattern})$')}")
        return " and ".join(rules) or None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quoted(text: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes are doubled)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class ForeignKey:
    """A reference to another landing table, enforced by PostgreSQL (:func:`references_ddl`)."""

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
class Lookup:
    """A column whose values (each element, of a list) must be in ``table.ref_column``,
    a table the project builds (not a landing table: no delete of it is watched)."""

    column: str
    table: str  # schema.table
    ref_column: str


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
    #: Columns holding a title id, that must be in ``marts.dim_titles`` (checked by
    #: :func:`references_ddl`'s trigger; not a foreign key: dbt rebuilds the marts).
    title_columns: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = field(default=())
    #: The key columns recorded in ``<schema>.deleted_<name>`` when rows are deleted
    #: (empty: deletions are not recorded). The marts' incremental builds read them.
    deleted_keys: tuple[str, ...] = ()
    #: Other columns recorded with each deleted key: the marts that aggregate by them
    #: (a session's user) find what a deletion changed without keeping every key.
    deleted_also: tuple[str, ...] = ()
    #: A column whose every value gets a partition of its own (list partitioning):
    #: see :func:`run_partition_functions`.
    partition_key: str | None = None
    #: Whether each row carries :data:`WRITTEN_XID` (and its deletions table too),
    #: by which the marts' incremental builds find what changed (see
    #: :func:`written_xid_ddl`). The tables the marts are built from incrementally.
    stamped: bool = False
    #: Rules between columns beyond :attr:`row_checks`, as SQL check constraints
    #: (the spec's own text: names and values are constants of this module).
    checks: tuple[str, ...] = ()
    #: Where callers write one row per element of this table's lists: the shape
    #: they write (validated as a table of its own), gathered into one row per key
    #: of this table by python_api (python_api/lists.py).
    rows: LandingTable | None = None
    #: Values that must be rows of a table the project builds (a genre of raw.genres),
    #: checked by :func:`references_ddl`'s trigger like the titles.
    lookups: tuple[Lookup, ...] = ()
    #: What becomes of this table's rows when the simulated title they name is
    #: deleted from sim.titles: ``cascade`` (deleted too) or ``restrict`` (the delete
    #: is refused). Only for a table with :attr:`title_columns`.
    on_title_delete: str = "restrict"
    #: Whether a retired title (sim.retired_titles) is refused in :attr:`title_columns`:
    #: retired titles keep their history but get no new credits or recommendations.
    refuses_retired_titles: bool = False

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
    stamped=True,
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
    deleted_also=("user_id", "title_id"),
    stamped=True,
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
    stamped=True,
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

_TITLE_TYPES = ("movie", "show")
_CREDIT_ROLES = ("actor", "director")
#: What a simulated title's key may be: it is a URL path segment of the web API.
TITLE_ID_PATTERN = r"[A-Za-z0-9_.-]{1,64}"

TITLES = LandingTable(
    "sim",
    "titles",
    "Titles data scientists add to the catalogue (a simulation's new releases): one row "
    "per title, its genres and production countries as lists. The catalogue marts hold "
    "them beside the loaded catalogue's titles (source 'simulation').",
    (
        LandingColumn(
            "title_id",
            "text",
            "The title's key; no title of the loaded catalogue has it.",
            pattern=TITLE_ID_PATTERN,
        ),  # fmt: skip
        LandingColumn("title_name", "text", "The title's name."),
        LandingColumn("title_type", "text", "movie or show.", allowed=_TITLE_TYPES),
        LandingColumn(
            "release_year", "smallint", "Year of first release.", minimum=1900, maximum=2100
        ),
        LandingColumn(
            "released_at",
            "timestamptz",
            "When the title became available to watch on the service (UTC).",
        ),  # fmt: skip
        LandingColumn(
            "genres",
            "text[]",
            "Its genres (genre_id of raw.genres), main genre first; may be empty.",
        ),  # fmt: skip
        LandingColumn(
            "production_countries",
            "text[]",
            "ISO 3166-1 alpha-2 codes of the countries that produced it (raw.countries), "
            "main country first; may be empty.",
        ),  # fmt: skip
        LandingColumn(
            "runtime_minutes",
            "integer",
            "Running time in minutes (of an episode, for a show).",
            minimum=1,
            maximum=1000,
        ),  # fmt: skip
        LandingColumn(
            "season_count",
            "smallint",
            "Number of seasons of a show; null for a movie.",
            nullable=True,
            minimum=1,
        ),  # fmt: skip
        LandingColumn(
            "age_certification",
            "text",
            "Age rating (TV-MA, PG-13...); null when unrated.",
            nullable=True,
        ),  # fmt: skip
        LandingColumn(
            "imdb_score",
            "double precision",
            "IMDb rating, 0 to 10 (kept to one decimal); null when unknown.",
            nullable=True,
            minimum=0,
            maximum=10,
        ),  # fmt: skip
        LandingColumn(
            "imdb_vote_count",
            "integer",
            "Number of IMDb votes behind imdb_score; null when unknown.",
            nullable=True,
            minimum=0,
        ),  # fmt: skip
    ),
    primary_key=("title_id",),
    # the best-of lists name titles by name, year and type: one title each
    unique=(("title_name", "release_year", "title_type"),),
    lookups=(
        Lookup("genres", "raw.genres", "genre_id"),
        Lookup("production_countries", "raw.countries", "country_code"),
    ),
    checks=(
        "array_position(genres, null) is null",
        "array_position(production_countries, null) is null",
    ),
)

CREDITS = LandingTable(
    "sim",
    "credits",
    "Credits data scientists add: a person acting in or directing a title, of the "
    "loaded catalogue or simulated. One row per title, person and role.",
    (
        LandingColumn("title_id", "text", "The credited title (marts.dim_titles or sim.titles)."),
        LandingColumn(
            "person_id",
            "integer",
            "The person's key: one of the catalogue's persons (marts.dim_persons) under "
            "the same name, or a new one.",
            minimum=1,
        ),  # fmt: skip
        LandingColumn("person_name", "text", "The person's name."),
        LandingColumn("credit_role", "text", "actor or director.", allowed=_CREDIT_ROLES),
        LandingColumn(
            "character_name",
            "text",
            "The character an actor plays; null when not known or for a director.",
            nullable=True,
        ),  # fmt: skip
    ),
    primary_key=("title_id", "person_id", "credit_role"),
    title_columns=("title_id",),
    on_title_delete="cascade",
    refuses_retired_titles=True,
)

RETIRED_TITLES = LandingTable(
    "sim",
    "retired_titles",
    "Titles taken off the service, of the loaded catalogue or simulated: they keep their "
    "sessions and past recommendations but are recommended no more. Delete the row to "
    "bring a title back.",
    (
        LandingColumn("title_id", "text", "The retired title (marts.dim_titles or sim.titles)."),
        LandingColumn("retired_at", "timestamptz", "When the title left the service (UTC)."),
    ),
    primary_key=("title_id",),
    title_columns=("title_id",),
    on_title_delete="cascade",
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

#: The columns recommendation rows and lists share.
_RUN_AND_USER = (
    LandingColumn(
        "run_id", "text", "The recommender run that wrote it (recs.runs).", pattern=RUN_ID_PATTERN
    ),
    LandingColumn("user_id", "bigint", "For whom (sim.users)."),
)
_IS_COLD_START = LandingColumn(
    "is_cold_start", "boolean", "True when the user had no history and got the cold-start list."
)

#: What callers write to recs.recommendations: one row per recommended title, which
#: python_api gathers into each user's list (:data:`RECOMMENDATIONS`). Validated as
#: a table of its own; not a table in the database.
RECOMMENDATION_ROWS = LandingTable(
    "recs",
    "recommendations",
    "Recommendations written by a recommender run, one row per recommended title: "
    "each user's whole list in one batch, ranks 1 to n.",
    (
        *_RUN_AND_USER,
        LandingColumn("title_id", "text", "What is recommended (marts.dim_titles)."),
        LandingColumn(
            "rank", "smallint", "Position in the user's list, 1 first.", minimum=1, maximum=1000
        ),
        LandingColumn("score", "double precision", "The recommender's score (higher is better)."),
        _IS_COLD_START,
    ),
    primary_key=("run_id", "user_id", "rank"),
    title_columns=("title_id",),
    unique=(("run_id", "user_id", "title_id"),),
    partition_key="run_id",
)

#: One row per user and run, the list as arrays: a run is ten titles for every user,
#: and one row per title cost 155 bytes a title at a million users (a row, its
#: primary key and a unique index on the titles), one per list 33: at 100 million
#: sessions, 15.5 GB a run against 3.3 GB.
RECOMMENDATIONS = LandingTable(
    "recs",
    "recommendations",
    "Recommendations written by a recommender run: each user's list of top titles, "
    "best first, one row per run and user.",
    (
        *_RUN_AND_USER,
        LandingColumn(
            "title_ids", "text[]", "The recommended titles, best first (marts.dim_titles)."
        ),
        LandingColumn(
            "scores",
            "double precision[]",
            "The recommender's score of each title, in the same order (higher is better).",
        ),  # fmt: skip
        _IS_COLD_START,
    ),
    primary_key=("run_id", "user_id"),
    foreign_keys=(
        ForeignKey(("run_id",), "recs.runs", ("run_id",), on_delete="cascade"),
        ForeignKey(("user_id",), "sim.users", ("user_id",), on_delete="cascade"),
    ),
    title_columns=("title_ids",),
    refuses_retired_titles=True,
    partition_key="run_id",
    deleted_keys=("run_id",),
    checks=(
        "cardinality(title_ids) between 1 and 1000",
        "cardinality(scores) = cardinality(title_ids)",
    ),
    rows=RECOMMENDATION_ROWS,
)

LANDING_TABLES: dict[str, LandingTable] = {
    t.name: t
    for t in (
        USERS,
        SESSIONS,
        RATINGS,
        USER_TASTES,
        TITLES,
        CREDITS,
        RETIRED_TITLES,
        RUNS,
        RECOMMENDATIONS,
    )
}
#: The landing tables the catalogue marts are built from, beside raw: `recdb build`
#: rebuilds the catalogue when they change (recdb/warehouse/build.py).
CATALOG_LANDING_TABLES = (TITLES, CREDITS, RETIRED_TITLES)


def landing_table(name: str) -> LandingTable:
    """The landing table called ``name`` (``users`` or ``sim.users``); KeyError otherwise."""
    short = name.split(".", 1)[1] if "." in name else name
    table = LANDING_TABLES[short]
    if "." in name and name != table.qualified_name:
        raise KeyError(name)
    return table


def _column_ddl(column: LandingColumn, *, partition_key: bool = False) -> sql.Composable:
    # A partition key's pattern is checked once per partition, by the function that
    # creates it (every row of a partition has its one value), not once per row.
    checked = replace(column, pattern=None) if partition_key else column
    check = checked.check_expression()
    parts = [sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.pg_type))]
    if not column.nullable:
        parts.append(sql.SQL("not null"))
    if check:
        # the spec's own text, not a caller's: its names and values are constants above
        parts.append(sql.SQL("check ({})").format(sql.SQL(check)))
    return sql.SQL(" ").join(parts)


#: The column of a stamped table (and of its deletions table) that holds the id of
#: the transaction that last wrote the row, 64-bit (``pg_current_xact_id()``, which
#: never wraps around): set by its default on insert and by a trigger on update,
#: never by callers, who are granted the other columns only. Incremental models
#: take the rows whose stamp is at or after their last build's snapshot xmin
#: (macros/incremental_by_commit.sql) through its index, so a build reads the rows
#: written since, not the table. A B-tree, not a BRIN: deletes leave holes that
#: later writes fill, and at 10M sessions one round of 0.1% deletes made every
#: block range of sim.ratings look changed. B-tree deduplication keeps it small
#: (a transaction writes many rows with one stamp).
WRITTEN_XID = "written_xid"
_CURRENT_XID = sql.SQL("(pg_current_xact_id()::text::bigint)")


def _written_xid_column() -> sql.Composable:
    return sql.SQL("{} bigint not null default {}").format(
        sql.Identifier(WRITTEN_XID), _CURRENT_XID
    )


def table_ddl(table: LandingTable) -> sql.Composable:
    """``create table if not exists`` for one landing table."""
    items = [_column_ddl(c, partition_key=c.name == table.partition_key) for c in table.columns]
    if table.stamped:
        items.append(_written_xid_column())
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
    items.extend(sql.SQL("check ({})").format(sql.SQL(check)) for check in table.checks)
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
    _gather_recommendations_into_lists(conn)
    for table in LANDING_TABLES.values():
        conn.execute(table_ddl(table))
        if table.partition_key:
            for function in run_partition_functions(table):
                conn.execute(function)
        if table.deleted_keys:
            _ensure_deleted_keys(conn, table)
        functions, triggers = references_ddl(table)
        for function in functions:
            conn.execute(function)
        _ensure_triggers(conn, table, triggers)
        if table.stamped:
            _ensure_written_xid(conn, table, table.name, table.column_names, "select, delete")
        else:
            _grant_if_missing(conn, table.qualified_name, "select, insert, update, delete")


def _gather_recommendations_into_lists(conn: psycopg.Connection) -> None:
    """Once, in a warehouse from before the lists (:data:`RECOMMENDATIONS`), whose
    recs.recommendations held a row per title: its runs as lists, in one transaction.

    The old table goes (and the views dbt built on it, back at the next build); each
    user's titles of a run keep their order by rank.
    """
    table = RECOMMENDATIONS
    old_shape = conn.execute(
        "select 1 from pg_attribute where attrelid = to_regclass(%s) and attname = 'title_id' "
        "and not attisdropped",
        (table.qualified_name,),
    ).fetchone()
    if not old_shape:
        return
    parent = sql.Identifier(table.schema, table.name)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "create temporary table recdb_lists_of_runs as "
                "select run_id, user_id, array_agg(title_id order by rank) as title_ids, "
                "array_agg(score order by rank) as scores, bool_or(is_cold_start) as is_cold_start "
                "from {} group by run_id, user_id"
            ).format(parent)
        )
        conn.execute(sql.SQL("drop table {} cascade").format(parent))
        conn.execute(table_ddl(table))
        for function in run_partition_functions(table):
            conn.execute(function)
        conn.execute(
            sql.SQL("select {}(run_id) from (select distinct run_id from recdb_lists_of_runs) r")
            .format(partition_function(table, "ensure"))
        )  # fmt: skip
        conn.execute(sql.SQL("insert into {} select * from recdb_lists_of_runs").format(parent))
        conn.execute("drop table recdb_lists_of_runs")


def _ensure_written_xid(
    conn: psycopg.Connection,
    table: LandingTable,
    name: str,
    caller_columns: Sequence[str],
    privileges: str,
) -> None:
    """Give ``table.schema.name`` (a stamped landing table or its deletions table)
    :data:`WRITTEN_XID`, its update trigger, its index and the scientist's
    grants: ``privileges`` on the table, and ``caller_columns`` only to insert or
    update (the deletions' trigger inserts as the deleting role).

    Each step only when missing: ALTER TABLE, CREATE INDEX and GRANT lock the table
    or its catalogue row and would wait for every open writer (this runs before
    every build). A table created before stamps gets them with stamp 0 (older than
    any build) and the builds' watermarks start afresh (see create_build_watermarks),
    so the next build takes every row once.
    """
    qualified = sql.Identifier(table.schema, name)
    column = sql.Identifier(WRITTEN_XID)
    has_column = conn.execute(
        "select 1 from pg_attribute where attrelid = to_regclass(%s) and attname = %s "
        "and not attisdropped",
        (f"{table.schema}.{name}", WRITTEN_XID),
    ).fetchone()
    if not has_column:
        conn.execute(
            sql.SQL("alter table {} add column {} bigint not null default 0").format(
                qualified, column
            )
        )
        conn.execute(
            sql.SQL("alter table {} alter column {} set default {}").format(
                qualified, column, _CURRENT_XID
            )
        )
    index = f"{name}_{WRITTEN_XID}_idx"
    if not conn.execute("select to_regclass(%s)", (f"{table.schema}.{index}",)).fetchone()[0]:
        conn.execute(
            sql.SQL("create index {} on {} ({})").format(sql.Identifier(index), qualified, column)
        )
    function = sql.Identifier(table.schema, f"stamp_{name}")
    conn.execute(
        sql.SQL(
            """
            create or replace function {function}() returns trigger
            language plpgsql set search_path = pg_catalog, pg_temp
            as $function$
            begin
                new.{column} := {current};
                return new;
            end
            $function$
            """
        ).format(function=function, column=column, current=_CURRENT_XID)
    )
    _ensure_triggers(
        conn,
        replace(table, name=name),
        {
            f"stamp_{name}": sql.SQL(
                "create trigger {} before update on {} for each row execute function {}()"
            ).format(sql.Identifier(f"stamp_{name}"), qualified, function)
        },
    )
    _grant_columns_only(conn, f"{table.schema}.{name}", caller_columns, privileges)


def _grant_columns_only(
    conn: psycopg.Connection, table_name: str, caller_columns: Sequence[str], privileges: str
) -> None:
    """The scientist may ``privileges`` on ``table_name`` and write ``caller_columns``,
    not the stamp: a caller-chosen stamp could hide a row from the next build.
    Revokes the table-wide insert and update of older warehouses."""
    scientist = ROLE_NAMES["scientist"]
    schema, name = table_name.split(".")
    target = sql.Identifier(schema, name)
    if _scientist_may_any(conn, table_name, "insert, update"):
        conn.execute(
            sql.SQL("revoke insert, update on {} from {}").format(target, sql.Identifier(scientist))
        )
    _grant_if_missing(conn, table_name, privileges)
    allowed = conn.execute(
        "select bool_and(has_column_privilege(%s, %s, c, 'insert') "
        "and has_column_privilege(%s, %s, c, 'update')) from unnest(%s::text[]) as c",
        (scientist, table_name, scientist, table_name, list(caller_columns)),
    ).fetchone()[0]
    if not allowed:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in caller_columns)
        conn.execute(
            sql.SQL("grant insert ({columns}), update ({columns}) on {table} to {role}").format(
                columns=columns, table=target, role=sql.Identifier(scientist)
            )
        )


def _ensure_deleted_keys(conn: psycopg.Connection, table: LandingTable) -> None:
    """:func:`deleted_keys_ddl`, the trigger only when missing (see :func:`_ensure_triggers`)."""
    create, *setup, trigger, grant = deleted_keys_ddl(table)
    conn.execute(create)
    _add_recorded_columns(conn, table)
    for statement in setup:
        conn.execute(statement)
    _ensure_triggers(conn, table, {f"record_{table.deleted_table}": trigger})
    if table.stamped:
        recorded = (*table.deleted_keys, *table.deleted_also)
        _ensure_written_xid(conn, table, table.deleted_table, recorded, "select")
    elif not _scientist_may(conn, f"{table.schema}.{table.deleted_table}", "select, insert"):
        conn.execute(grant)


def _add_recorded_columns(conn: psycopg.Connection, table: LandingTable) -> None:
    """Add to a deletions table from before them the ``deleted_also`` columns it lacks
    (sim.deleted_sessions' title_id), nullable: its rows from before have none, and the
    marts treat such a row as changing all of its user's viewing. Only when missing:
    ALTER TABLE would wait for every open writer (this runs before every build)."""
    name = f"{table.schema}.{table.deleted_table}"
    present = {
        row[0]
        for row in conn.execute(
            "select attname from pg_attribute where attrelid = to_regclass(%s) "
            "and attnum > 0 and not attisdropped",
            (name,),
        )
    }
    for column in table.deleted_also:
        if column not in present:
            conn.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    sql.Identifier(table.schema, table.deleted_table),
                    sql.Identifier(column),
                    sql.SQL(table.column(column).pg_type),
                )
            )


def _scientist_may(conn: psycopg.Connection, table_name: str, privileges: str) -> bool:
    # has_table_privilege is true when any one of a list is held: ask for each
    return conn.execute(
        "select bool_and(has_table_privilege(%s, %s, privilege)) "
        "from unnest(string_to_array(%s, ', ')) as privilege",
        (ROLE_NAMES["scientist"], table_name, privileges),
    ).fetchone()[0]


def _scientist_may_any(conn: psycopg.Connection, table_name: str, privileges: str) -> bool:
    return conn.execute(
        "select has_table_privilege(%s, %s, %s)",
        (ROLE_NAMES["scientist"], table_name, privileges),
    ).fetchone()[0]


def _grant_if_missing(conn: psycopg.Connection, table_name: str, privileges: str) -> None:
    """Grant the scientist ``privileges`` on ``table_name`` unless it has them all: GRANT
    rewrites the table's catalogue row, and so waits for any open transaction that
    changed it (a run's partition attached, say), and would hold the next build up."""
    if not _scientist_may(conn, table_name, privileges):
        schema, name = table_name.split(".")
        conn.execute(
            sql.SQL("grant {} on {} to {}").format(
                sql.SQL(privileges),
                sql.Identifier(schema, name),
                sql.Identifier(ROLE_NAMES["scientist"]),
            )
        )


def _ensure_triggers(
    conn: psycopg.Connection, table: LandingTable, triggers: dict[str, sql.Composable]
) -> None:
    """Create each of ``table``'s triggers (name: DDL) that is missing: CREATE TRIGGER locks
    the table, even to replace a trigger by the same one, and would wait for every open
    writer (this runs before every build). A trigger's function is replaced freely."""
    for name, ddl in triggers.items():
        exists = conn.execute(
            "select 1 from pg_trigger where tgrelid = to_regclass(%s) and tgname = %s",
            (table.qualified_name, name),
        ).fetchone()
        if not exists:
            conn.execute(ddl)


def deleted_keys_ddl(table: LandingTable) -> list[sql.Composable]:
    """The table of ``table``'s deleted keys, and the trigger that fills it.

    ``<schema>.deleted_<name>`` holds the key columns of every deleted row (a key
    deleted twice, after being written again, twice), its ``deleted_also`` columns,
    and when. An AFTER DELETE
    trigger for each statement copies them from the statement's transition table:
    one insert per DELETE, whoever sends it (python_api, the web API or plain SQL).
    TRUNCATE records nothing: delete rows with DELETE.
    """
    target = sql.Identifier(table.schema, table.deleted_table)
    recorded = (*table.deleted_keys, *table.deleted_also)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in recorded)
    key_columns = sql.SQL(", ").join(
        [
            *(
                sql.SQL("{} {} not null").format(
                    sql.Identifier(k), sql.SQL(table.column(k).pg_type)
                )
                for k in recorded
            ),
            sql.SQL("deleted_at timestamptz not null default now()"),
            *([_written_xid_column()] if table.stamped else []),
        ]
    )
    function = sql.Identifier(table.schema, f"record_{table.deleted_table}")
    return [
        sql.SQL("create table if not exists {} ({})").format(target, key_columns),
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


# -- references ------------------------------------------------------------------
#: marts.dim_titles, which the titles of sessions and recommendations must be in.
TITLES_TABLE = ("marts", "dim_titles")


def _lock_key(table_name: str) -> sql.Composable:
    """The advisory lock that writers referring to ``table_name`` share and its deleters
    take alone, so that a check and a concurrent delete never both pass."""
    return sql.SQL("hashtext({})").format(sql.Literal(f"recdb:{table_name}"))


def _refused(
    errcode: str, table: LandingTable, column: str, message: str, detail: sql.Composable
) -> sql.Composable:
    return sql.SQL(
        "raise exception using errcode = {errcode}, message = {message}, detail = {detail}, "
        "schema = {schema}, table = {table}, column = {column};"
    ).format(
        errcode=sql.Literal(errcode),
        message=sql.Literal(message),
        detail=detail,
        schema=sql.Literal(table.schema),
        table=sql.Literal(table.name),
        column=sql.Literal(column),
    )


def _missing_detail(column: str, parent: str) -> sql.Composable:
    # PostgreSQL's own wording for a foreign key, which python_api reads back
    return sql.SQL("format({}, missing)").format(
        sql.Literal(f'Key ({column})=(%s) is not present in table "{parent}".')
    )


def reference_checks(
    table: LandingTable, rows: sql.Composable, partition_value: sql.Composable | None = None
) -> sql.Composable:
    """PL/pgSQL statements that raise foreign_key_violation (23503) when a row of ``rows``
    (a FROM item aliased ``r``) refers to a user, session, run or title that does not exist.

    Each parent's advisory lock is taken shared first, so a concurrent delete of a
    parent either finishes before the check reads (and is seen) or waits until this
    transaction ends (and then sees these rows). Needs a ``missing text`` variable.
    ``partition_value``: every row's partition key is this value (one run's rows),
    so a reference through that key is checked once, not once per row.
    """
    statements: list[sql.Composable] = []
    for key in table.foreign_keys:
        (column,), (ref_column,) = key.columns, key.ref_columns
        parent_schema, parent_name = key.table.split(".")
        missing = (
            sql.SQL(
                "(select r.{column}::text from {rows} where r.{column} is not null "
                "and not exists (select from {parent} as p where p.{ref} = r.{column}) limit 1)"
            )
            if partition_value is None or column != table.partition_key
            else sql.SQL(
                "(select {value} where not exists (select from {parent} as p "
                "where p.{ref} = {value}))"
            )
        ).format(
            column=sql.Identifier(column),
            rows=rows,
            parent=sql.Identifier(parent_schema, parent_name),
            ref=sql.Identifier(ref_column),
            value=partition_value if partition_value is not None else sql.SQL("null"),
        )
        statements.append(
            sql.SQL(
                """
                perform pg_advisory_xact_lock_shared({lock});
                missing := {missing};
                if missing is not null then
                    {refused}
                end if;"""
            ).format(
                lock=_lock_key(key.table),
                missing=missing,
                refused=_refused(
                    "23503",
                    table,
                    column,
                    f"{table.qualified_name}.{column} refers to a row of {key.table} "
                    "that does not exist",
                    _missing_detail(column, key.table),
                ),
            )
        )
    statements.extend(_lookup_checks(table, rows))
    statements.extend(_catalogue_rules(table, rows))
    titles = ".".join(TITLES_TABLE)
    for position, column in enumerate(table.title_columns):
        # A list's titles are checked one by one, and named as the rows callers
        # write name them (title_id of recommendation rows, not title_ids).
        listed = table.column(column).kind == "text_array"
        named = table.rows.title_columns[position] if listed and table.rows else column
        titles_of_rows = (
            sql.SQL("{rows} cross join lateral unnest(r.{column}) as listed (title_id)")
            if listed
            else sql.SQL("(select r.{column} as title_id from {rows}) as listed")
        ).format(rows=rows, column=sql.Identifier(column))
        # A title of the loaded catalogue (in the marts since the last build), or a
        # simulated one (sim.titles, at once; a deleted one is in the marts until the
        # next build, but no more a title).
        statements.append(
            sql.SQL(
                """
                perform pg_advisory_xact_lock_shared({lock});
                if to_regclass({titles_text}) is null then
                    missing := (select listed.title_id::text from {titles_of_rows}
                        where listed.title_id is not null
                        and not exists (select from {simulated} as s
                            where s.title_id = listed.title_id)
                        limit 1);
                else
                    -- by the marts' key, a probe or a hash as the batch's size says (the
                    -- catalogue marts are analysed when built: planned blind, the filter
                    -- on source made a nested loop over every title for each row)
                    missing := (
                        select listed.title_id::text from {titles_of_rows}
                        where listed.title_id is not null and not exists (
                            select from {titles} as t where t.title_id = listed.title_id
                            and t.source = 'catalog')
                        and not exists (select from {simulated} as s
                            where s.title_id = listed.title_id)
                        limit 1);
                end if;
                if missing is not null then
                    {refused}
                end if;"""
            ).format(
                lock=_lock_key(TITLES.qualified_name),
                titles_text=sql.Literal(titles),
                titles=sql.Identifier(*TITLES_TABLE),
                simulated=sql.Identifier(TITLES.schema, TITLES.name),
                titles_of_rows=titles_of_rows,
                refused=_refused(
                    "23503",
                    table,
                    named,
                    f"{table.qualified_name}.{column} is not a title of {titles}",
                    _missing_detail(named, titles),
                ),
            )
        )
        if table.refuses_retired_titles:
            statements.append(
                sql.SQL(
                    """
                    perform pg_advisory_xact_lock_shared({lock});
                    missing := (select listed.title_id::text from {titles_of_rows}
                        where exists (select from {retired} as retired
                            where retired.title_id = listed.title_id)
                        limit 1);
                    if missing is not null then
                        {refused}
                    end if;"""
                ).format(
                    lock=_lock_key(RETIRED_TITLES.qualified_name),
                    titles_of_rows=titles_of_rows,
                    retired=sql.Identifier(RETIRED_TITLES.schema, RETIRED_TITLES.name),
                    refused=_refused(
                        "23514",
                        table,
                        named,
                        f"{table.qualified_name}.{named} names a retired title "
                        f"({RETIRED_TITLES.qualified_name}): it is recommended and credited "
                        "no more; delete its retirement first to bring it back",
                        sql.SQL("format({}, missing)").format(
                            sql.Literal(
                                f"{named} %s is a retired title ({RETIRED_TITLES.qualified_name}):"
                                " it gets no new credits or recommendations; delete its "
                                "retirement first to bring it back"
                            )
                        ),
                    ),
                )
            )
    return sql.SQL("").join(statements)


def _lookup_checks(table: LandingTable, rows: sql.Composable) -> list[sql.Composable]:
    """Each :attr:`LandingTable.lookups` value of ``rows`` must be in its table (refused
    while that table does not exist: the catalogue was never built)."""
    statements = []
    for lookup in table.lookups:
        listed = table.column(lookup.column).kind == "text_array"
        values = (
            sql.SQL("{rows} cross join lateral unnest(r.{column}) as listed (value)")
            if listed
            else sql.SQL("(select r.{column} as value from {rows}) as listed")
        ).format(rows=rows, column=sql.Identifier(lookup.column))
        schema, name = lookup.table.split(".")
        statements.append(
            sql.SQL(
                """
                if to_regclass({table_text}) is null then
                    missing := (select listed.value::text from {values}
                        where listed.value is not null limit 1);
                else
                    missing := (select unknown.value::text from (
                        select listed.value from {values} where listed.value is not null
                        except select l.{ref} from {table} as l
                    ) as unknown limit 1);
                end if;
                if missing is not null then
                    {refused}
                end if;"""
            ).format(
                table_text=sql.Literal(lookup.table),
                table=sql.Identifier(schema, name),
                ref=sql.Identifier(lookup.ref_column),
                values=values,
                refused=_refused(
                    "23503",
                    table,
                    lookup.column,
                    f"{table.qualified_name}.{lookup.column} is not a {lookup.ref_column} "
                    f"of {lookup.table}",
                    _missing_detail(lookup.column, lookup.table),
                ),
            )
        )
    return statements


#: The loaded catalogue's own tables (recdb/core/raw_tables.py), which simulated titles
#: and credits must not repeat.
_RAW_TITLES = sql.Identifier("raw", "titles")
_RAW_CREDITS = sql.Identifier("raw", "credits")


def _catalogue_rules(table: LandingTable, rows: sql.Composable) -> list[sql.Composable]:
    """What the loaded catalogue says about simulated titles, credits and retirements:
    a simulated title takes no catalogue title's key, nor its name, year and type
    (the key the best-of lists match titles by); a credit repeats no catalogue credit
    and gives a catalogue person their own name; a title is retired while no
    recommendation run is open (its lists may hold the title)."""

    def refusal(column: str, message: str) -> sql.Composable:
        # a row the catalogue has already: a unique violation, as PostgreSQL's own keys say
        errcode = "23505" if "repeats a catalogue" in message else "23514"
        return _refused(errcode, table, column, message, sql.SQL("missing"))

    def check(query: str, named: str, message: str, **parts: sql.Composable) -> sql.Composable:
        return sql.SQL(
            """
            missing := ({query});
            if missing is not null then
                {refused}
            end if;"""
        ).format(
            query=sql.SQL(query).format(rows=rows, **parts),
            refused=refusal(named, message),
        )

    if table is TITLES:
        guard = sql.SQL("if to_regclass('raw.titles') is not null then {} {} end if;")
        return [
            *(
                check(
                    "select format('title %s lists the {name} %s twice', r.title_id, twice.value) "
                    "from {rows} cross join lateral (select value from unnest(r.{listed}) "
                    "as listed (value) group by value having count(*) > 1 limit 1) as twice "
                    "limit 1",
                    column_name,
                    f"sim.titles lists one of its {column_name} twice",
                    name=sql.SQL(name),
                    listed=sql.Identifier(column_name),
                )
                for column_name, name in (("genres", "genre"), ("production_countries", "country"))
            ),
            guard.format(
                check(
                    "select format('title_id %s is a title of the loaded catalogue "
                    "(raw.titles): a simulated title needs a key of its own', r.title_id) "
                    "from {rows} join {raw} as c on c.id = r.title_id limit 1",
                    "title_id",
                    "sim.titles.title_id repeats a catalogue title's",
                    raw=_RAW_TITLES,
                ),
                check(
                    "select format('%s (%s, %s) is already title %s of the loaded catalogue "
                    "(raw.titles): one title per name, year and type', r.title_name, "
                    "r.release_year, r.title_type, c.id) from {rows} join {raw} as c "
                    "on c.title = r.title_name and c.release_year = r.release_year "
                    "and lower(c.type) = r.title_type limit 1",
                    "title_name",
                    "sim.titles repeats a catalogue title's name, year and type",
                    raw=_RAW_TITLES,
                ),
            ),
        ]
    if table is CREDITS:
        return [
            sql.SQL("if to_regclass('raw.credits') is not null then {} end if;").format(
                check(
                    "select format('%s is already credited as %s of %s in the loaded "
                    "catalogue (raw.credits)', r.person_name, r.credit_role, r.title_id) "
                    "from {rows} join {raw} as c on c.id = r.title_id "
                    "and c.person_id = r.person_id and lower(c.role) = r.credit_role limit 1",
                    "person_id",
                    "sim.credits repeats a catalogue credit",
                    raw=_RAW_CREDITS,
                )
            ),
            sql.SQL("if to_regclass('marts.dim_persons') is not null then {} end if;").format(
                check(
                    "select format('person_id %s is %s in the catalogue (marts.dim_persons), "
                    "not %s: give a new person a new person_id', r.person_id, p.person_name, "
                    "r.person_name) from {rows} join {persons} as p "
                    "on p.person_id = r.person_id and p.person_name <> r.person_name limit 1",
                    "person_name",
                    "sim.credits names a catalogue person otherwise",
                    persons=sql.Identifier("marts", "dim_persons"),
                )
            ),
            check(
                "select format('person_id %s is credited as %s elsewhere in sim.credits, "
                "not %s: one name per person', r.person_id, c.person_name, r.person_name) "
                "from {rows} join {credits} as c on c.person_id = r.person_id "
                "and c.person_name <> r.person_name limit 1",
                "person_name",
                "sim.credits names one person twice otherwise",
                credits=sql.Identifier(CREDITS.schema, CREDITS.name),
            ),
        ]
    if table is RETIRED_TITLES:
        return [
            sql.SQL("perform pg_advisory_xact_lock({});").format(
                _lock_key(RETIRED_TITLES.qualified_name)
            ),
            check(
                "select format('title %s cannot be retired while recommendation run %L "
                "is open (written, not yet published): its lists may recommend the title; "
                "publish or delete the run first', r.title_id, runs.run_id) "
                "from {rows} cross join {runs} as runs where runs.published_at is null "
                "limit 1",
                "title_id",
                "a title is retired while a recommendation run is open",
                runs=sql.Identifier(RUNS.schema, RUNS.name),
            ),
        ]
    return []


def _referencing(parent: LandingTable) -> list[tuple[LandingTable, ForeignKey]]:
    """The tables referring to ``parent`` and how; every table of titles refers to
    sim.titles (its catalogue titles are not there, and are never deleted)."""
    references = [
        (child, key)
        for child in LANDING_TABLES.values()
        for key in child.foreign_keys
        if key.table == parent.qualified_name
    ]
    if parent is TITLES:
        references += [
            (
                child,
                ForeignKey((column,), parent.qualified_name, ("title_id",), child.on_title_delete),
            )
            for child in LANDING_TABLES.values()
            for column in child.title_columns
        ]
    return references


_READ_COMMITTED_ONLY = sql.SQL(
    """
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception using errcode = '0A000',
            message = format('write %I.%I in a READ COMMITTED transaction (the default): '
                'its references are checked against what other transactions committed',
                TG_TABLE_SCHEMA, TG_TABLE_NAME);
    end if;"""
)


def _reference_trigger_function(function: sql.Identifier, body: sql.Composable) -> sql.Composable:
    """A statement-level trigger function running ``body`` in READ COMMITTED only, with
    the ``missing text`` variable :func:`reference_checks` needs."""
    return sql.SQL(
        """
        create or replace function {function}() returns trigger
        language plpgsql set search_path = pg_catalog, pg_temp
        as $function$
        declare
            missing text;
        begin
            {read_committed}
            {body}
            return null;
        end
        $function$"""
    ).format(function=function, read_committed=_READ_COMMITTED_ONLY, body=body)


def references_ddl(table: LandingTable) -> tuple[list[sql.Composable], dict[str, sql.Composable]]:
    """Functions and triggers (name: DDL) that hold ``table``'s references, whoever writes.

    * As a referring table: after each INSERT or UPDATE statement, its new rows are
      checked at once (:func:`reference_checks`).
    * As a referred-to table: after each DELETE statement, the rows referring to the
      deleted ones are deleted (``on_delete="cascade"``) or the delete is refused
      (``"restrict"``: foreign_key_violation, in PostgreSQL's words); an UPDATE that
      changes a referred-to key is refused.

    Both run in READ COMMITTED only: under a snapshot taken at the start of the
    transaction a check could miss a delete committed since (the lock alone would
    not help); PostgreSQL's own foreign keys have a private snapshot for that.
    """
    functions: list[sql.Composable] = []
    triggers: dict[str, sql.Composable] = {}
    target = sql.Identifier(table.schema, table.name)
    rows = sql.SQL("new_rows as r")
    if table.foreign_keys or table.title_columns or table.lookups or _catalogue_rules(table, rows):
        function = sql.Identifier(table.schema, f"check_{table.name}_references")
        functions.append(_reference_trigger_function(function, reference_checks(table, rows)))
        for event in ("insert", "update"):
            name = f"check_{table.name}_references_on_{event}"
            triggers[name] = sql.SQL(
                "create trigger {} after {} on {} referencing new table as new_rows "
                "for each statement execute function {}()"
            ).format(sql.Identifier(name), sql.SQL(event), target, function)
    referencing = _referencing(table)
    if referencing:
        function = sql.Identifier(table.schema, f"enforce_{table.name}_references")
        on_delete: list[sql.Composable] = []
        on_key_update: list[sql.Composable] = []
        (referred_key,) = {key.ref_columns for _, key in referencing}.pop()
        for child, key in referencing:
            (column,), (ref_column,) = key.columns, key.ref_columns
            child_table = sql.Identifier(child.schema, child.name)
            listed = child.column(column).kind == "text_array"
            parts = {
                "child": child_table,
                "column": sql.Identifier(column),
                "ref": sql.Identifier(ref_column),
                "refers": sql.SQL(
                    "o.{ref} = any(c.{column})" if listed else "c.{column} = o.{ref}"
                ).format(ref=sql.Identifier(ref_column), column=sql.Identifier(column)),
            }
            refused = _refused(
                "23503",
                table,
                ref_column,
                f"{table.qualified_name} rows are still referenced from {child.qualified_name}",
                sql.SQL("format({}, missing)").format(
                    sql.Literal(
                        f"Key ({ref_column})=(%s) is still referenced from table "
                        f'"{child.qualified_name}".'
                    )
                ),
            )
            if key.on_delete == "cascade" and child.partition_key == column:
                # One statement per partition, its value a literal: PostgreSQL then
                # locks that partition alone, not every run's (a join would lock all,
                # and a run being swapped in elsewhere would wait for this transaction).
                on_delete.append(
                    sql.SQL(
                        """
                        for missing in select distinct o.{ref} from old_rows as o loop
                            execute format('delete from {child} where {column} = %L', missing);
                        end loop;"""
                    ).format(
                        ref=sql.Identifier(ref_column),
                        child=sql.SQL(sql.Identifier(child.schema, child.name).as_string(None)),
                        column=sql.SQL(sql.Identifier(column).as_string(None)),
                    )
                )
            elif key.on_delete == "cascade":
                on_delete.append(
                    sql.SQL(
                        "delete from {child} as c using old_rows as o where c.{column} = o.{ref};"
                    ).format(**parts)
                )
            else:
                on_delete.append(
                    sql.SQL(
                        """
                        missing := (select o.{ref}::text from old_rows as o
                            where exists (select from {child} as c where {refers})
                            limit 1);
                        if missing is not null then
                            {refused}
                        end if;"""
                    ).format(**parts, refused=refused)
                )
            on_key_update.append(
                sql.SQL(
                    """
                    missing := (select o.{ref}::text from old_rows as o
                        where not exists (select from new_rows as n where n.{ref} = o.{ref})
                        and exists (select from {child} as c where {refers})
                        limit 1);
                    if missing is not null then
                        {refused}
                    end if;"""
                ).format(**parts, refused=refused)
            )
        body = sql.SQL(
            """
            if TG_OP = 'DELETE' then
                perform pg_advisory_xact_lock({lock});
                {on_delete}
            -- an update that keeps every key (a plan, a publication) locks nobody out
            elsif exists (select from old_rows as o
                    where not exists (select from new_rows as n where n.{key} = o.{key}))
            then
                perform pg_advisory_xact_lock({lock});
                {on_key_update}
            end if;"""
        ).format(
            lock=_lock_key(table.qualified_name),
            key=sql.Identifier(referred_key),
            on_delete=sql.SQL("\n").join(on_delete),
            on_key_update=sql.SQL("\n").join(on_key_update),
        )
        functions.append(_reference_trigger_function(function, body))
        triggers[f"enforce_{table.name}_references_on_delete"] = sql.SQL(
            "create trigger {} after delete on {} referencing old table as old_rows "
            "for each statement execute function {}()"
        ).format(sql.Identifier(f"enforce_{table.name}_references_on_delete"), target, function)
        triggers[f"enforce_{table.name}_references_on_update"] = sql.SQL(
            "create trigger {} after update on {} referencing old table as old_rows "
            "new table as new_rows for each statement execute function {}()"
        ).format(sql.Identifier(f"enforce_{table.name}_references_on_update"), target, function)
    return functions, triggers


# -- one partition per run ------------------------------------------------------------
# recs.recommendations has one partition per run_id. A new run written in one
# transaction (`recdb recommend`'s) goes to a table created in that transaction
# (which PostgreSQL with wal_level=minimal, the embedded server's setting, fills
# without writing WAL), indexed once when full and attached as the run's partition
# at the end: several times cheaper than inserting millions of index entries, and
# attaching locks no reader or writer of the other runs out. A run that already has
# a partition is replaced by a DELETE and writes through the parent: dropping or
# detaching a partition would take ACCESS EXCLUSIVE on the parent, waiting for every
# open transaction that used any run, with every reader queued behind it. The
# scientist owns none of these tables: three SECURITY DEFINER functions, owned by
# the owner, do the DDL for it, each checking the run id first.


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
    * ``stage_<key>(value)``: returns the table the value's new rows go to: a new,
      empty table with the table's columns, defaults and checks but no index, or,
      where the value has a partition, the table itself, the value's rows deleted;
    * ``publish_<key>(value)``: indexes the staged table, if any, as the partitions
      are indexed, attaches it as the value's partition and checks its references.
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
                missing text;
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
        if to_regclass(format('%I.%I', {schema}, part)) is not null then
            -- dropping the old partition would lock the parent (ACCESS EXCLUSIVE) behind
            -- every open transaction using any run, and every reader behind that
            execute format('delete from {parent} where {key_ident} = %L', value);
            return format('%I.%I', {schema}, {name});
        end if;
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
        name=sql.Literal(table.name),
        key_ident=sql.Identifier(table.partition_key),
        scientist=scientist,
    )
    publish = sql.SQL(
        """
        if to_regclass(format('%I.%I', {schema}, stage)) is null then
            return;  -- the rows went to the run's partition, through the parent
        end if;
        execute format('alter table %I.%I {add_indexes}', {schema}, stage);
        execute format('alter table %I.%I rename to %I', {schema}, stage, part);
        execute format('alter table {parent} attach partition %I.%I for values in (%L)',
            {schema}, part, value);
        -- from now on rows come in through the parent, like every other partition's
        execute format('revoke insert on %I.%I from {scientist}', {schema}, part);
        -- the staged rows were written past the parent's reference triggers: checked here
        {reference_checks}
        """
    ).format(
        reference_checks=reference_checks(
            table,
            sql.SQL("(select * from {} where {} = value) as r").format(
                parent, sql.Identifier(table.partition_key)
            ),
            partition_value=sql.SQL("value"),
        ),
        schema=schema,
        add_indexes=sql.SQL(add_indexes.as_string(None).replace("%", "%%").replace("'", "''")),
        parent=parent,
        scientist=scientist,
    )
    return [
        function(names["ensure"], "void", ensure),
        function(names["stage"], "text", stage),
        function(names["publish"], "void", publish),
    ]
