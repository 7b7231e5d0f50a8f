"""`recdb build`: dbt build; the catalogue audited, then published at once, or left out.

The catalogue models (tag ``catalog``: staging of raw, intermediate, the catalog
marts and the reference seeds) depend on raw and on their own files only.

**Write, audit, publish.** When they changed, they are built and tested first in
twin schemas out of readers' sight (``marts__audit``, ``staging__audit``…: the
var ``audit_schema_suffix``, see macros/generate_schema_name.sql). Only when every
catalogue test passes are their relations moved into ``marts``, ``staging``…, all
in one transaction (:func:`publish_audited`), so analysts and the web API see the
old catalogue or the new one, never a mix (the publish waits for open transactions
that read the old one, a second at a time, so that readers never queue behind it
for longer); when a test fails, the schemas they
read are untouched and the audited build stays in the ``__audit`` schemas for
inspection (the next build replaces it). The rest of the project is then built
in place, as dbt does: its models are incremental, and each one's rules are
enforced contracts, so a model that would break one fails whole.

**Simulated catalogue rows.** sim.titles, sim.credits and sim.retired_titles
(what data scientists add to the catalogue) are part of it: their writers wait
while the catalogue is built (SHARE locks, seconds), so that every catalogue model
reads the same rows; sessions and every other table are written meanwhile.

**Left out when unchanged.** After a catalogue is published, a fingerprint of
its files, of raw and of the simulated catalogue rows is kept in the warehouse;
while it still matches, later builds leave the catalogue out (its marts are
still there), so a build after new sessions costs what the sessions cost.
Tests that join engagement marts to catalogue marts still run. The raw part of
the fingerprint is the storage identity (relfilenode) of each of the six
catalogue tables in raw, which every `recdb load` and every `dbt seed` renews
(the reference seeds count through their files); the simulated part, where each
row version of those three tables is and which transaction wrote it. Changing
raw by hand with INSERT/UPDATE does not count: run ``recdb build --all`` after
that.

With a selection or ``--full-refresh``, dbt decides alone and builds in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from recdb.core.connection import ConnectionSettings, connection_settings
from recdb.core.errors import BuildError
from recdb.core.landing import CATALOG_LANDING_TABLES
from recdb.core.raw_tables import RAW_SCHEMA, RAW_TABLES
from recdb.core.settings import ROLE_NAMES, project_dir
from recdb.core.spark import on_spark
from recdb.warehouse.roles import prepare_warehouse
from recdb.warehouse.transform import run_dbt

logger = logging.getLogger(__name__)

CATALOG_TAG = "catalog"
#: What the catalogue models are made of, besides raw's rows.
CATALOG_SOURCES = (
    "models/staging/netflix",
    "models/staging/sim/stg_sim__titles.sql",
    "models/staging/sim/stg_sim__credits.sql",
    "models/staging/sim/stg_sim__retired_titles.sql",
    "models/intermediate/catalog",
    "data-tests/catalog",
    "models/marts/catalog",
    "seeds/reference",
    "macros",
    "dbt_project.yml",
)
STATE_TABLE = ("intermediate", "recdb_build_state")
#: The dbt var that rebuilds agg_user_genre_viewing whole (its full_refresh config).
REFRESH_GENRE_VIEWING = "refresh_genre_viewing"
SKIP_ARGS = ("--exclude", f"tag:{CATALOG_TAG}", "--indirect-selection", "cautious")
#: The audited build keeps its artefacts apart: dbt's partial parse is lost whenever the
#: vars differ from the last run's in the same target folder (the audit's suffix), and a
#: full parse costs seconds at each of the two runs of a build.
AUDIT_ARGS = (
    "--select", f"tag:{CATALOG_TAG}", "--indirect-selection", "cautious",
    "--target-path", "target/audit",
)  # fmt: skip
AUDIT_SUFFIX = "__audit"
#: The schemas catalogue nodes are built in, in the order they are published.
CATALOG_SCHEMAS = ("raw", "staging", "intermediate", "marts")
#: Of those, the schemas the read roles may read (macros/grant_warehouse_access.sql).
READABLE_SCHEMAS = ("raw", "marts")
#: How long one try to publish the catalogue waits for a lock (a reader queued behind
#: it waits as long), and how long the tries go on (see _publish_when_unused).
PUBLISH_LOCK_TIMEOUT = "1s"
PUBLISH_PATIENCE = 300.0
#: dbt options that choose what is built: with any of them, dbt decides alone.
SELECTION_OPTIONS = frozenset(
    ("-s", "--select", "--exclude", "--selector", "-m", "--models", "--resource-type",
     "--resource-types", "--exclude-resource-type", "--full-refresh", "-f")
)  # fmt: skip


def _selects(dbt_args: Sequence[str]) -> bool:
    return any(arg.split("=")[0] in SELECTION_OPTIONS for arg in dbt_args)


def catalog_fingerprint(conn: psycopg.Connection, root: Path | None = None) -> str:
    """A digest of the catalogue models' files and of raw's table storage identities."""
    root = root or project_dir()
    digest = hashlib.sha256()
    for entry in CATALOG_SOURCES:
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    rows = conn.execute(
        "select c.relname, c.relfilenode from pg_class as c "
        "join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = any(%s) order by c.relname",
        (RAW_SCHEMA, [t.name for t in RAW_TABLES]),
    ).fetchall()
    digest.update(repr(rows).encode())
    for table in CATALOG_LANDING_TABLES:
        digest.update(_row_versions(conn, table.schema, table.name).encode())
    return digest.hexdigest()


def _row_versions(conn: psycopg.Connection, schema: str, name: str) -> str:
    """A digest of where each row version of a (small) landing table is and which
    transaction wrote it: any insert, update or delete changes it."""
    return conn.execute(
        sql.SQL(
            "select count(*) || ':' || coalesce(md5(string_agg(ctid::text || xmin::text, ',' "
            "order by ctid)), '') from {}"
        ).format(sql.Identifier(schema, name))
    ).fetchone()[0]


@contextlib.contextmanager
def _catalog_landing_frozen(owner: ConnectionSettings) -> Iterator[psycopg.Connection]:
    """Hold the catalogue's landing tables (sim.titles, sim.credits, sim.retired_titles)
    still while the catalogue is built: SHARE locks, which readers pass and writers wait
    for, until the block ends. dbt builds each catalogue model in a transaction of its
    own; without them a title written between two models would be in one and not the
    other (its credits without it), and the audit would fail. Yields the locking
    connection, which sees what the build sees."""
    tables = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in CATALOG_LANDING_TABLES)
    with owner.connect() as conn:
        conn.execute(sql.SQL("lock table {} in share mode").format(tables))
        try:
            yield conn
        finally:
            conn.rollback()


def _stored_fingerprint(conn: psycopg.Connection) -> str | None:
    exists = conn.execute(
        "select to_regclass(%s) is not null and to_regclass('marts.dim_titles') is not null",
        (".".join(STATE_TABLE),),
    ).fetchone()[0]
    if not exists:
        return None
    row = conn.execute(
        sql.SQL("select catalog_fingerprint from {}").format(sql.Identifier(*STATE_TABLE))
    ).fetchone()
    return row[0] if row else None


def _store_fingerprint(
    conn: psycopg.Connection, fingerprint: str, *, genre_viewing_stale: bool = False
) -> None:
    """Keep ``fingerprint``, and whether agg_user_genre_viewing must be rebuilt whole (a
    flag set until a build does it, so a build that fails after the publish loses it not)."""
    table = sql.Identifier(*STATE_TABLE)
    conn.execute(
        sql.SQL("create table if not exists {} (catalog_fingerprint text not null)").format(table)
    )
    conn.execute(
        sql.SQL(
            "alter table {} add column if not exists genre_viewing_stale boolean not null "
            "default false"
        ).format(table)
    )
    stale = genre_viewing_stale or _genre_viewing_stale(conn)
    conn.execute(sql.SQL("delete from {}").format(table))
    conn.execute(
        sql.SQL("insert into {} (catalog_fingerprint, genre_viewing_stale) values (%s, %s)").format(
            table
        ),
        (fingerprint, stale),
    )


def _genre_viewing_stale(conn: psycopg.Connection) -> bool:
    """Whether a published catalogue gave a watched title another main genre since
    agg_user_genre_viewing was last rebuilt whole."""
    exists = conn.execute(
        "select 1 from pg_attribute where attrelid = to_regclass(%s) "
        "and attname = 'genre_viewing_stale'",
        (".".join(STATE_TABLE),),
    ).fetchone()
    if not exists:
        return False
    row = conn.execute(
        sql.SQL("select bool_or(genre_viewing_stale) from {}").format(sql.Identifier(*STATE_TABLE))
    ).fetchone()
    return bool(row and row[0])


def _clear_genre_viewing_stale(conn: psycopg.Connection) -> None:
    conn.execute(
        sql.SQL("update {} set genre_viewing_stale = false").format(sql.Identifier(*STATE_TABLE))
    )


def watched_main_genres_change(conn: psycopg.Connection) -> bool:
    """Whether the audited catalogue gives a title someone watched another main genre
    than the published one (a simulated title's genres changed, or a catalogue reload):
    agg_user_genre_viewing counts each user's titles by main genre, and its incremental
    builds recompute the users whose sessions changed, not those whose titles did."""
    audited = f"marts{AUDIT_SUFFIX}.bridge_title_genres"
    present = conn.execute(
        "select to_regclass('marts.bridge_title_genres') is not null "
        "and to_regclass('marts.agg_title_viewing') is not null and to_regclass(%s) is not null",
        (audited,),
    ).fetchone()[0]
    if not present:
        return False
    main_genre = sql.SQL(
        "(select g.genre_id from {} as g where g.title_id = viewed.title_id and g.is_main_genre)"
    )
    return conn.execute(
        sql.SQL(
            "select exists (select from marts.agg_title_viewing as viewed "
            "where viewed.viewer_count > 0 and {published} is distinct from {audited})"
        ).format(
            published=main_genre.format(sql.Identifier("marts", "bridge_title_genres")),
            audited=main_genre.format(
                sql.Identifier(f"marts{AUDIT_SUFFIX}", "bridge_title_genres")
            ),
        )
    ).fetchone()[0]


def with_vars(dbt_args: Sequence[str], extra: dict[str, object]) -> list[str]:
    """``dbt_args`` with ``extra`` merged into its ``--vars`` (added when it has none)."""
    args = list(dbt_args)
    for position, arg in enumerate(args):
        if arg == "--vars" and position + 1 < len(args):
            merged = {**(yaml.safe_load(args[position + 1]) or {}), **extra}
            args[position + 1] = json.dumps(merged)
            return args
        if arg.startswith("--vars="):
            merged = {**(yaml.safe_load(arg.split("=", 1)[1]) or {}), **extra}
            args[position] = f"--vars={json.dumps(merged)}"
            return args
    return [*args, "--vars", json.dumps(extra)]


def drop_audited(conn: psycopg.Connection) -> None:
    """Drop the ``__audit`` schemas a failed build left behind."""
    for schema in CATALOG_SCHEMAS:
        conn.execute(
            sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(schema + AUDIT_SUFFIX)
            )
        )


_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


def publish_audited(conn: psycopg.Connection) -> list[str]:
    """Move every relation of the ``__audit`` schemas into its schema, replacing the one
    of the same name, grant the read roles what they read, drop the ``__audit``
    schemas; return the relations published. In the caller's transaction: commit
    to publish them all at once (readers wait only for the moves, milliseconds)."""
    audited = [schema + AUDIT_SUFFIX for schema in CATALOG_SCHEMAS]
    relations = conn.execute(
        "select n.nspname, c.relname, c.relkind from pg_class as c "
        "join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind = any(%s) "
        "order by array_position(%s, n.nspname::text), c.relname",
        (audited, list(_KINDS), audited),
    ).fetchall()
    readers = [
        row[0]
        for row in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)",
            ([ROLE_NAMES["analyst"], ROLE_NAMES["scientist"]],),
        ).fetchall()
    ]
    published = []
    for audit_schema, name, relkind in relations:
        schema = audit_schema.removesuffix(AUDIT_SUFFIX)
        kind = sql.SQL(_KINDS[relkind])
        # dbt replaces a table the same way (its backup is dropped with cascade)
        conn.execute(
            sql.SQL("drop {} if exists {} cascade").format(kind, sql.Identifier(schema, name))
        )
        conn.execute(
            sql.SQL("alter {} {} set schema {}").format(
                kind, sql.Identifier(audit_schema, name), sql.Identifier(schema)
            )
        )
        if schema in READABLE_SCHEMAS and readers:
            conn.execute(
                sql.SQL("grant select on {} to {}").format(
                    sql.Identifier(schema, name),
                    sql.SQL(", ").join(sql.Identifier(r) for r in readers),
                )
            )
        published.append(f"{schema}.{name}")
    drop_audited(conn)
    return published


def _publish_when_unused(owner: ConnectionSettings, fingerprint: str) -> list[str]:
    """Publish the audited catalogue and store its fingerprint, in one transaction.

    Replacing a table waits for every open transaction that read it (a writer of
    sessions reads dim_titles to check its titles), and every later reader queues
    behind that wait. So each try gives up after PUBLISH_LOCK_TIMEOUT and the next
    comes after a pause, for PUBLISH_PATIENCE seconds in all: a reader waits at most
    PUBLISH_LOCK_TIMEOUT. Raises BuildError when the catalogue stayed in use.
    """
    deadline = time.monotonic() + PUBLISH_PATIENCE
    pause = 0.1
    while True:
        with owner.connect() as conn:
            conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(PUBLISH_LOCK_TIMEOUT)))
            try:
                stale = watched_main_genres_change(conn)
                published = publish_audited(conn)
                _store_fingerprint(conn, fingerprint, genre_viewing_stale=stale)
                conn.commit()
                return published
            except psycopg.errors.LockNotAvailable:
                conn.rollback()
        if time.monotonic() + pause > deadline:
            raise BuildError(
                f"the new catalogue passed its tests but was not published: open "
                f"transactions kept using the catalogue marts for {PUBLISH_PATIENCE:.0f} s "
                "(see pg_stat_activity); it waits in the __audit schemas: end those "
                "transactions and run `recdb build` again"
            )
        logger.info("catalogue marts in use by open transactions: publishing again shortly")
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


def build(
    dbt_args: Sequence[str] = (),
    *,
    everything: bool = False,
    settings: ConnectionSettings | None = None,
) -> bool:
    """Run ``dbt build``; return whether the catalogue was left out as unchanged.

    A changed catalogue (or any, with ``everything``) is built and tested out of
    sight, then published at once (see the module's docstring); the rest is built
    next. With a selection or ``--full-refresh`` in ``dbt_args`` dbt decides alone
    (other options, like ``--quiet``, are passed on). Raises DbtError when dbt fails.
    """
    if on_spark():
        run_dbt(["build", *dbt_args])
        return False
    owner = settings or connection_settings("owner")
    if _selects(dbt_args):
        run_dbt(["build", *dbt_args], settings=owner)
        return False
    with owner.connect(autocommit=True) as conn:
        # run_dbt prepares too; here first, so that a role that is not the owner
        # is told so (RolesError) before the fingerprint reads the owner's schemas
        prepare_warehouse(conn)
        fingerprint = catalog_fingerprint(conn)
        skip = not everything and _stored_fingerprint(conn) == fingerprint
        if not skip:
            drop_audited(conn)
    if skip:
        logger.info("catalogue unchanged since the last build: leaving tag:%s out", CATALOG_TAG)
    else:
        audit_args = with_vars(dbt_args, {"audit_schema_suffix": AUDIT_SUFFIX})
        with _catalog_landing_frozen(owner) as frozen:
            fingerprint = catalog_fingerprint(frozen)  # what the audited build reads
            run_dbt(["build", *AUDIT_ARGS, *audit_args], settings=owner)
        published = _publish_when_unused(owner, fingerprint)
        logger.info("catalogue passed its tests: published %d relations", len(published))
    with owner.connect(autocommit=True) as conn:
        stale = _genre_viewing_stale(conn)
    if stale:
        logger.info("watched titles changed main genre: agg_user_genre_viewing is rebuilt whole")
        dbt_args = with_vars(dbt_args, {REFRESH_GENRE_VIEWING: True})
    run_dbt(["build", *SKIP_ARGS, *dbt_args], settings=owner)
    if stale:
        with owner.connect(autocommit=True) as conn:
            _clear_genre_viewing_stale(conn)
    return skip
