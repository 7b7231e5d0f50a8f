"""The warehouse's roles and what each may do.

* ``recdb_owner`` runs dbt and the loader, and owns every schema; not a superuser.
* ``recdb_analyst`` reads ``raw`` and ``marts``; any write or DDL is denied.
* ``recdb_scientist`` reads what analysts read; writes land in its own
  landing schemas (added by later layers).

The superuser is used once, to create the roles and the database.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from recdb.db.connection import ConnectionSettings
from recdb.landing import ensure_landing_tables
from recdb.settings import DATABASE_NAME, ROLE_NAMES

logger = logging.getLogger(__name__)

#: Schemas analysts and scientists may read.
READABLE_SCHEMAS = ("raw", "marts", "snapshots")
#: Schemas of dbt's inner layers, readable by the owner only.
PRIVATE_SCHEMAS = ("staging", "intermediate")
READER_ROLES = ("analyst", "scientist")


def create_roles(admin: ConnectionSettings, passwords: dict[str, str]) -> None:
    """Create (or re-password) the three login roles; needs CREATEROLE."""
    with admin.connect(autocommit=True) as conn:
        for role, role_name in ROLE_NAMES.items():
            exists = conn.execute(
                "select 1 from pg_roles where rolname = %s", (role_name,)
            ).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                sql.SQL(
                    verb + " role {} with login nosuperuser nocreatedb nocreaterole password {}"
                ).format(sql.Identifier(role_name), sql.Literal(passwords[role]))
            )
            logger.info("%sd role %s", verb, role_name)


def create_database(admin: ConnectionSettings) -> None:
    """Create the warehouse database, owned by the owner role, closed to PUBLIC."""
    owner = sql.Identifier(ROLE_NAMES["owner"])
    database = sql.Identifier(DATABASE_NAME)
    with admin.connect(autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {} owner {}").format(database, owner))
        conn.execute(sql.SQL("revoke all on database {} from public").format(database))
        for role in READER_ROLES:
            conn.execute(
                sql.SQL("grant connect, temporary on database {} to {}").format(
                    database, sql.Identifier(ROLE_NAMES[role])
                )
            )
    database_admin = ConnectionSettings(
        host=admin.host,
        port=admin.port,
        dbname=DATABASE_NAME,
        user=admin.user,
        password=admin.password,
        sslmode=admin.sslmode,
    )
    with database_admin.connect(autocommit=True) as conn:
        # Only the owner creates objects; nobody else gets the public schema.
        conn.execute("revoke all on schema public from public")
        conn.execute(sql.SQL("alter schema public owner to {}").format(owner))


def grant_reader_access(conn: psycopg.Connection) -> None:
    """As the owner: create the warehouse schemas and let the readers read raw and marts.

    Default privileges make every table the owner creates later in those
    schemas readable too. dbt's ``grant_warehouse_access`` macro does the same
    at the start of each dbt run, for plain ``dbt`` use on any server.
    """
    for schema in READABLE_SCHEMAS + PRIVATE_SCHEMAS:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    for role in READER_ROLES:
        reader = sql.Identifier(ROLE_NAMES[role])
        for schema in READABLE_SCHEMAS:
            name = sql.Identifier(schema)
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(name, reader))
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(name, reader)
            )
            conn.execute(
                sql.SQL(
                    "alter default privileges in schema {} grant select on tables to {}"
                ).format(name, reader)
            )


def bootstrap_warehouse(superuser: ConnectionSettings, passwords: dict[str, str]) -> None:
    """First start of the embedded server: roles, database, schemas and grants."""
    create_roles(superuser, passwords)
    create_database(superuser)
    owner = ConnectionSettings(
        host=superuser.host,
        port=superuser.port,
        dbname=DATABASE_NAME,
        user=ROLE_NAMES["owner"],
        password=passwords["owner"],
    )
    with owner.connect(autocommit=True) as conn:
        prepare_warehouse(conn)


def prepare_warehouse(conn: psycopg.Connection) -> None:
    """As the owner: every schema, landing table and grant the project needs (idempotent)."""
    grant_reader_access(conn)
    ensure_landing_tables(conn)
