"""``recdb db``: the embedded server, its roles, and connecting as each of them."""

from __future__ import annotations

import re
import shlex
import sys

import click

from recdb.cli.base import RecdbGroup
from recdb.core.settings import ROLES


# -- db -----------------------------------------------------------------------
@click.group(cls=RecdbGroup)
def db() -> None:
    """Start, stop and inspect the embedded PostgreSQL server."""


def _server():  # noqa: ANN202 - imported lazily to keep --help fast
    from recdb.warehouse.server import EmbeddedServer

    return EmbeddedServer()


def _external_note() -> bool:
    from recdb.core.connection import is_external

    if is_external():
        click.echo("PGHOST is set: recdb uses your server; the embedded one is not involved.")
        return True
    return False


@db.command()
def start() -> None:
    """Start the embedded server (initialising it on first use); a running one is left alone."""
    if _external_note():
        return
    status = _server().start()
    click.echo(status.describe())


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    if _external_note():
        return
    click.echo(_server().stop().describe())


@db.command()
def status() -> None:
    """Say whether the embedded server runs (exit code 0) or not (exit code 3)."""
    if _external_note():
        return
    current = _server().status()
    click.echo(current.describe())
    if not current.running:
        sys.exit(3)


ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(ROLES),
    default="owner",
    show_default=True,
    help="Whose connection: owner runs dbt, analyst reads, scientist reads and writes landing.",
)


@db.command()
@ROLE_OPTION
def url(role: str) -> None:
    """Print a libpq URL for a role (on the last line), without its password.

    psql and psycopg accept it as is: `psql "$(recdb db url --role analyst)"`.
    For the embedded server it names the password file
    ($RECDB_HOME/pgpass, readable by you only); for your own server libpq
    finds the password as usual (PGPASSWORD, ~/.pgpass).
    """
    from recdb.core.connection import connection_settings, write_client_files

    settings = connection_settings(role)
    if settings.home is not None:
        write_client_files(settings.home)
    click.echo(settings.client_url())


@db.command("env")
@ROLE_OPTION
def env_command(role: str) -> None:
    """Print the shell exports that let plain psql connect as a role, no password in sight.

    eval "$(recdb db env --role analyst)" && psql

    Sets PGSERVICEFILE ($RECDB_HOME/pg_service.conf) and PGSERVICE
    (recdb_<role>); the password stays in $RECDB_HOME/pgpass. Embedded server
    only: with PGHOST set, your PG* variables already configure psql.
    """
    from recdb.core.connection import client_env, is_external
    from recdb.core.errors import ConnectionSettingsError

    if is_external():
        raise ConnectionSettingsError(
            "PGHOST is set: your PG* variables already configure psql for your own server "
            "(`recdb db url --role ROLE` prints the URL of a role)"
        )
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in client_env(role).items())
    click.echo(f"export {exports}")


_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A PostgreSQL duration: a whole number with an optional unit (ms, s, min, h, d)."""
    if value is not None and not _DURATION.match(value.strip()):
        raise click.BadParameter(
            f"{value!r} is not a duration: a whole number and a unit, e.g. 30s, 5min, 1h "
            "(0: no limit)"
        )
    return value.strip() if value is not None else None


def _admin_settings():  # noqa: ANN202 - ConnectionSettings, imported lazily
    """A connection that may create roles and change their settings.

    Embedded: the bootstrap superuser. Your own server: the PG* variables
    (a superuser, or a role with CREATEROLE).
    """
    import os

    from recdb.core.connection import ConnectionSettings, external_port, is_external

    if not is_external():
        return _server().superuser_settings()
    return ConnectionSettings(
        host=os.environ["PGHOST"],
        port=external_port(),
        dbname=os.environ.get("PGDATABASE", "postgres"),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD"),
        sslmode=os.environ.get("PGSSLMODE"),
    )


@db.command()
@click.option(
    "--role",
    type=click.Choice(["analyst", "scientist"]),
    default=None,
    help="Whose limits to show or change (default: show both).",
)
@click.option(
    "--statement",
    callback=_duration,
    metavar="DURATION",
    help="statement_timeout: the longest a statement may run (e.g. 5min; 0: no limit).",
)
@click.option(
    "--idle-in-transaction",
    callback=_duration,
    metavar="DURATION",
    help="idle_in_transaction_session_timeout: the longest a session may sit idle inside "
    "a transaction before it is closed (e.g. 10min; 0: no limit).",
)
def timeouts(role: str | None, statement: str | None, idle_in_transaction: str | None) -> None:
    """Show or change the analyst's and scientist's session limits.

    Stored in PostgreSQL (ALTER ROLE ... SET): new sessions of the role get
    them. Defaults: analyst 5min per statement and 10min idle in a
    transaction, scientist 1h and 30min; the owner has none. A guardrail, not
    a lock: a session may SET its own. Changing them needs the superuser (the
    embedded server's, used for you) or, on your own server, a role with
    CREATEROLE in the PG* variables.
    """
    from recdb.warehouse.roles import READER_ROLES, role_timeouts, set_timeouts

    values = {
        setting: value
        for setting, value in (
            ("statement_timeout", statement),
            ("idle_in_transaction_session_timeout", idle_in_transaction),
        )
        if value is not None
    }
    if values and role is None:
        raise click.UsageError("give --role analyst or --role scientist: whose limits to change")
    with _admin_settings().connect(autocommit=True) as conn:
        if values:
            set_timeouts(conn, role, values)
        current = role_timeouts(conn)
    shown = [r for r in READER_ROLES if r in current and (role is None or r == role)]
    header = ("role", "statement_timeout", "idle_in_transaction_session_timeout")
    rows = [header] + [(r, *(current[r][s] or "unset" for s in header[1:])) for r in shown]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@db.command()
def init() -> None:
    """Create the schemas, landing tables and grants as the owner (idempotent).

    The embedded server does this at first start, and `recdb load` and
    `recdb build` before they run; on your own server, run it once before a
    plain `dbt build`.
    """
    from recdb.core.connection import connect
    from recdb.warehouse.roles import prepare_warehouse

    with connect("owner", autocommit=True) as conn:
        prepare_warehouse(conn)
    click.echo("schemas raw, staging, intermediate, marts, sim and recs are ready")


@db.command("create-roles")
@click.option(
    "--database",
    "with_database",
    is_flag=True,
    help="Also create the recdb database, owned by recdb_owner and closed to others, with "
    "its schemas and grants, as the embedded server does (needs a superuser).",
)
def create_roles_command(with_database: bool) -> None:
    """On your own server: create the owner, analyst and scientist roles (needs CREATEROLE).

    Connects with the PG* variables; passwords come from RECDB_OWNER_PASSWORD,
    RECDB_ANALYST_PASSWORD and RECDB_SCIENTIST_PASSWORD. The analyst and
    scientist get the default session limits (see `recdb db timeouts`) where
    they have none. With --database, the warehouse database too: then the server
    is set up exactly as the embedded one at its first start (the containers' `init`).
    """
    import os

    from recdb.core.connection import is_external
    from recdb.warehouse.roles import bootstrap_warehouse, create_roles

    if not is_external():
        raise click.UsageError("the embedded server creates its roles itself at first start")
    missing = [r for r in ROLES if not os.environ.get(f"RECDB_{r.upper()}_PASSWORD")]
    if missing:
        names = ", ".join(f"RECDB_{r.upper()}_PASSWORD" for r in missing)
        raise click.UsageError(f"set {names} first")
    passwords = {r: os.environ[f"RECDB_{r.upper()}_PASSWORD"] for r in ROLES}
    if with_database:
        bootstrap_warehouse(_admin_settings(), passwords)
        click.echo("roles and database ready: run `recdb load` (or `recdb demo`) as the owner")
        return
    create_roles(_admin_settings(), passwords)
    click.echo("roles ready: grant the database to the owner role, then run `recdb load`")


@db.command()
@click.option(
    "--role",
    type=click.Choice(["admin", *ROLES]),
    default="owner",
    show_default=True,
    help="Whom to connect as; admin: the PG* variables as they are (the superuser, say).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="SCHEMA.TABLE",
    help="Also wait until this table or view exists (repeatable): the marts, once built.",
)
@click.option(
    "--timeout",
    type=click.IntRange(min=0),
    default=120,
    show_default=True,
    help="Seconds to wait before giving up (exit code 1).",
)
def wait(role: str, tables: tuple[str, ...], timeout: int) -> None:
    """Wait until the warehouse accepts connections as ROLE (and every --table exists).

    For scripts and containers that start beside the database: compose starts them
    in order but cannot always wait for the database to be ready (podman 4), and a
    role exists only once `recdb db create-roles` has run.
    """
    import time

    from recdb.core.connection import connection_settings
    from recdb.core.errors import DatabaseUnavailableError, RecdbError

    settings = _admin_settings() if role == "admin" else connection_settings(role)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with settings.connect(connect_timeout=5) as conn:
                missing = [table for table in tables if not _table_exists(conn, table)]
            if not missing:
                click.echo(f"the warehouse accepts {settings.user}" + "".join(
                    f"; {table} exists" for table in tables
                ))  # fmt: skip
                return
            reason = f"{', '.join(missing)} not there yet"
        except DatabaseUnavailableError as error:
            reason = str(error)
        if time.monotonic() >= deadline:
            raise RecdbError(f"gave up waiting after {timeout} s: {reason}")
        time.sleep(1)


def _table_exists(conn, table: str) -> bool:  # noqa: ANN001 - psycopg, imported lazily
    import psycopg

    from recdb.core.errors import RecdbError

    try:
        return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None
    except psycopg.Error as error:
        reason = error.diag.message_primary or str(error)
        raise RecdbError(f"cannot look for {table} as {conn.info.user}: {reason}") from None
