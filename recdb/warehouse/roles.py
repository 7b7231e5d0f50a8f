"""The warehouse's roles and what each may do.

* ``recdb_owner`` runs dbt and the loader, and owns every schema; not a superuser.
* ``recdb_analyst`` reads ``raw`` and ``marts``; any write or DDL is denied,
  temporary tables included.
* ``recdb_scientist`` reads what analysts read; writes land in its own
  landing schemas, staged through temporary tables.

Both reader roles get session limits (``statement_timeout``,
``idle_in_transaction_session_timeout``) stored in PostgreSQL with
``ALTER ROLE ... SET``: a guardrail against runaway queries and forgotten
transactions, not a security boundary (a session may ``SET`` its own).

The superuser is used once, to create the roles and the database, and at each
start of the embedded server to add guardrails an older server lacks.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from recdb.core.connection import ConnectionSettings
from recdb.core.errors import RolesError
from recdb.core.landing import ensure_landing_tables
from recdb.core.settings import DATABASE_NAME, ROLE_NAMES

logger = logging.getLogger(__name__)

#: Schemas analysts and scientists may read.
READABLE_SCHEMAS = ("raw", "marts", "snapshots")
#: Schemas of dbt's inner layers, readable by the owner only.
PRIVATE_SCHEMAS = ("staging", "intermediate")
READER_ROLES = ("analyst", "scientist")
#: The session limits recdb manages, by PostgreSQL's setting name.
TIMEOUT_SETTINGS = ("statement_timeout", "idle_in_transaction_session_timeout")
#: Each reader's limits where it has none of its own. Analysts query by hand; the
#: scientist runs big COPYs and keeps a transaction open while ALS fits.
DEFAULT_TIMEOUTS: dict[str, dict[str, str]] = {
    "analyst": {"statement_timeout": "5min", "idle_in_transaction_session_timeout": "10min"},
    "scientist": {"statement_timeout": "1h", "idle_in_transaction_session_timeout": "30min"},
}


def create_roles(admin: ConnectionSettings, passwords: dict[str, str]) -> None:
    """Create (or re-password) the three login roles and give the readers their default
    session limits (where they have none); needs CREATEROLE."""
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
        apply_default_timeouts(conn)


def role_timeouts(conn: psycopg.Connection) -> dict[str, dict[str, str | None]]:
    """Each reader role's session limits as PostgreSQL holds them (None: not set).

    These are the role's settings for every database (``ALTER ROLE ... SET``);
    a setting for one database (``ALTER ROLE ... IN DATABASE``) would win over them.
    """
    names = [ROLE_NAMES[role] for role in READER_ROLES]
    rows = conn.execute(
        "select rolname, coalesce(rolconfig, '{}') from pg_roles where rolname = any(%s)",
        (names,),
    ).fetchall()
    configs = {name: dict(item.split("=", 1) for item in config) for name, config in rows}
    return {
        role: {s: configs.get(ROLE_NAMES[role], {}).get(s) for s in TIMEOUT_SETTINGS}
        for role in READER_ROLES
        if ROLE_NAMES[role] in configs
    }


def set_timeouts(conn: psycopg.Connection, role: str, values: dict[str, str]) -> None:
    """``ALTER ROLE ... SET`` each of ``values`` (setting name to value, ``'0'``: no limit)
    for a reader role; new sessions of the role get them. Needs CREATEROLE (or superuser)."""
    if role not in READER_ROLES:
        raise RolesError(f"role {role!r} has no session limits: choose analyst or scientist")
    for setting, value in values.items():
        if setting not in TIMEOUT_SETTINGS:
            raise RolesError(f"{setting!r} is not one of {', '.join(TIMEOUT_SETTINGS)}")
        statement = sql.SQL("alter role {} set {} = {}").format(
            sql.Identifier(ROLE_NAMES[role]), sql.SQL(setting), sql.Literal(value)
        )
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            raise RolesError(
                f"{conn.info.user} may not change the settings of {ROLE_NAMES[role]}: "
                "connect as a superuser or a role with CREATEROLE (PGUSER, PGPASSWORD)"
            ) from None
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.SyntaxError) as error:
            raise RolesError(f"{setting} = {value!r}: {error.diag.message_primary}") from None
        logger.info("%s: %s = %s", ROLE_NAMES[role], setting, value)


def apply_default_timeouts(conn: psycopg.Connection) -> None:
    """Give each reader role the default of every session limit it has no value for.

    A value the user set (``recdb db timeouts``, or ``ALTER ROLE``) is kept,
    ``0`` (no limit) included.
    """
    for role, current in role_timeouts(conn).items():
        missing = {
            setting: value
            for setting, value in DEFAULT_TIMEOUTS[role].items()
            if current[setting] is None
        }
        if missing:
            set_timeouts(conn, role, missing)


def restrict_database(conn: psycopg.Connection, database: str = DATABASE_NAME) -> None:
    """Database privileges: both readers connect; temporary tables for the scientist only.

    As the database's owner or a superuser. PUBLIC loses TEMPORARY too, or the
    analyst would keep it through PUBLIC. Only what is missing is changed: a
    GRANT rewrites the database's catalogue row, which concurrent runs would
    otherwise fight over.
    """
    analyst, scientist = ROLE_NAMES["analyst"], ROLE_NAMES["scientist"]
    has = conn.execute(
        "select has_database_privilege(%(a)s, %(d)s, 'TEMPORARY'), "
        "has_database_privilege(%(a)s, %(d)s, 'CONNECT'), "
        "has_database_privilege(%(s)s, %(d)s, 'TEMPORARY'), "
        "has_database_privilege(%(s)s, %(d)s, 'CONNECT')",
        {"a": analyst, "s": scientist, "d": database},
    ).fetchone()
    analyst_temp, analyst_connect, scientist_temp, scientist_connect = has
    db = sql.Identifier(database)
    if analyst_temp:
        conn.execute(
            sql.SQL("revoke temporary on database {} from public, {}").format(
                db, sql.Identifier(analyst)
            )
        )
    if not analyst_connect:
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(db, sql.Identifier(analyst))
        )
    # after a revoke from PUBLIC, the scientist may have lost what it had through PUBLIC
    if analyst_temp or not (scientist_temp and scientist_connect):
        conn.execute(
            sql.SQL("grant connect, temporary on database {} to {}").format(
                db, sql.Identifier(scientist)
            )
        )


def apply_guardrails(admin: ConnectionSettings, database: str = DATABASE_NAME) -> None:
    """As a superuser: the database privileges and the readers' default session limits.

    Idempotent, and run at every start of the embedded server, so that a server
    bootstrapped by an older recdb gets them too.
    """
    with admin.connect(autocommit=True) as conn:
        restrict_database(conn, database)
        apply_default_timeouts(conn)


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
        restrict_database(conn)
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
    """As the owner: every schema, landing table and grant the project needs (idempotent).

    Raises RolesError when the connection's role may not (not the owner).
    """
    try:
        _restrict_own_database(conn)
        grant_reader_access(conn)
        ensure_landing_tables(conn)
    except psycopg.errors.InsufficientPrivilege as error:
        raise RolesError(
            f"{conn.info.user} may not prepare the warehouse ({error.diag.message_primary}): "
            f"recdb loads and builds as the owner role, {ROLE_NAMES['owner']}; on your own "
            "server set PGUSER and PGPASSWORD to the owner's"
        ) from None


def _restrict_own_database(conn: psycopg.Connection) -> None:
    """:func:`restrict_database` on the current database, when this role owns it.

    On your own server the database may belong to another role: then say what
    its owner should run instead of failing the load or build.
    """
    database, owns = conn.execute(
        "select d.datname, d.datdba = r.oid or r.rolsuper from pg_database as d, pg_roles as r "
        "where d.datname = current_database() and r.rolname = current_user"
    ).fetchone()
    if owns:
        restrict_database(conn, database)
    else:
        logger.warning(
            "%s does not own database %s, so the analyst may keep TEMPORARY through PUBLIC: "
            "as its owner, run REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC, %s",
            conn.info.user,
            database,
            database,
            ROLE_NAMES["analyst"],
        )
