"""`recdb build`: dbt build, skipping the catalogue when nothing it is built from changed.

The catalogue models (tag ``catalog``: staging of raw, intermediate, the catalog
marts and the reference seeds) depend on raw and on their own files only. After
a successful build, a fingerprint of both is kept in the warehouse; while it
still matches, later builds leave those models and their tests out (the marts
they built are still there), so a build after new sessions costs what the
sessions cost. Tests that join engagement marts to catalogue marts still run.

The raw part of the fingerprint is the storage identity (relfilenode) of each
of the six catalogue tables in raw, which every `recdb load` and every
`dbt seed` renews (the reference seeds count through their files). Changing raw
by hand with INSERT/UPDATE does not: run ``recdb build --all`` after that.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from recdb.catalog.tables import RAW_SCHEMA, RAW_TABLES
from recdb.db.connection import ConnectionSettings, connection_settings
from recdb.db.roles import prepare_warehouse
from recdb.settings import project_dir
from recdb.transform import run_dbt

logger = logging.getLogger(__name__)

CATALOG_TAG = "catalog"
#: What the catalogue models are made of, besides raw's rows.
CATALOG_SOURCES = (
    "models/staging/netflix",
    "models/intermediate",
    "models/marts/catalog",
    "seeds/reference",
    "macros",
    "dbt_project.yml",
)
STATE_TABLE = ("intermediate", "recdb_build_state")
SKIP_ARGS = ("--exclude", f"tag:{CATALOG_TAG}", "--indirect-selection", "cautious")
#: dbt options that choose what is built: with any of them, dbt decides alone.
SELECTION_OPTIONS = frozenset(
    ("-s", "--select", "--exclude", "--selector", "-m", "--models", "--resource-type",
     "--resource-types", "--exclude-resource-type", "--full-refresh", "-f")
)  # fmt: skip


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
    return digest.hexdigest()


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


def _store_fingerprint(conn: psycopg.Connection, fingerprint: str) -> None:
    table = sql.Identifier(*STATE_TABLE)
    conn.execute(
        sql.SQL("create table if not exists {} (catalog_fingerprint text not null)").format(table)
    )
    conn.execute(sql.SQL("delete from {}").format(table))
    conn.execute(
        sql.SQL("insert into {} (catalog_fingerprint) values (%s)").format(table), (fingerprint,)
    )


def build(
    dbt_args: Sequence[str] = (),
    *,
    everything: bool = False,
    settings: ConnectionSettings | None = None,
) -> bool:
    """Run ``dbt build``; return whether the catalogue was left out as unchanged.

    With a selection or ``--full-refresh`` in ``dbt_args`` dbt decides alone
    (other options, like ``--quiet``, are passed on); ``everything`` builds the
    catalogue whatever the fingerprint says.
    """
    owner = settings or connection_settings("owner")
    selective = any(arg.split("=")[0] in SELECTION_OPTIONS for arg in dbt_args)
    plain = not selective and not everything
    with owner.connect(autocommit=True) as conn:
        # run_dbt prepares too; here first, so that a role that is not the owner
        # is told so (RolesError) before the fingerprint reads the owner's schemas
        prepare_warehouse(conn)
        fingerprint = catalog_fingerprint(conn)
        skip = plain and _stored_fingerprint(conn) == fingerprint
    if skip:
        logger.info("catalogue unchanged since the last build: leaving tag:%s out", CATALOG_TAG)
    run_dbt(["build", *(SKIP_ARGS if skip else ()), *dbt_args], settings=owner)
    if not selective:
        with owner.connect(autocommit=True) as conn:
            _store_fingerprint(conn, fingerprint)
    return skip
