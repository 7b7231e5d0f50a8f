"""The one place that knows how to connect to the warehouse.

Two modes:

* **embedded** (default): the project's own server, whose port and passwords
  live in ``$RECDB_HOME`` (see :mod:`recdb.warehouse.server`);
* **bring your own server**: when ``PGHOST`` is set, the standard libpq
  variables (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
  ``PGPASSWORD``, ``PGSSLMODE``) describe the owner's connection, and
  ``RECDB_ANALYST_USER``/``RECDB_ANALYST_PASSWORD`` and
  ``RECDB_SCIENTIST_USER``/``RECDB_SCIENTIST_PASSWORD`` the other roles.

Clients outside recdb (psql, pgAdmin, dbt) never need a password on their
command line or screen: the embedded server's home holds a libpq password file
(``pgpass``) and a service file (``pg_service.conf``), both 0600, and
:meth:`ConnectionSettings.client_url` names the password file instead of
carrying the password. recdb's own code keeps the password in memory (and in
the environment of the dbt it runs in-process), never in argv or output.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import psycopg
import psycopg.sql

from recdb.core.errors import ConnectionSettingsError, DatabaseUnavailableError
from recdb.core.settings import (
    DATABASE_NAME,
    DEFAULT_PORT,
    ROLE_NAMES,
    ROLES,
    port_number,
    recdb_home,
    write_private_text,
)

CREDENTIALS_FILE = "credentials.json"
SERVER_FILE = "server.json"
#: libpq's password file for the three roles (host 127.0.0.1, the server's port).
PGPASS_FILE = "pgpass"
#: libpq's service file: one section per role, named like the role (``recdb_analyst``).
SERVICE_FILE = "pg_service.conf"
EMBEDDED_HOST = "127.0.0.1"

# libpq's reason, as psycopg ('connection failed: connection to server at "h", port 1
# failed: WHY') or ADBC ('Failed to connect: connection to server at ...') words it
Connected = TypeVar("Connected")
_LIBPQ_PREFIX = re.compile(
    r'^((connection failed|failed to connect): )?(connection to server at "[^"]*"[^:]*: )?',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything libpq needs to open a connection as one role.

    ``passfile`` is the libpq password file clients may use instead of the
    password; ``home`` the embedded server's home these settings come from
    (None for your own server), so that a failure can say what to do.
    """

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(repr=False)
    sslmode: str | None = None
    passfile: Path | None = None
    home: Path | None = None

    def url(self) -> str:
        """A ``postgresql://`` URL with the password, for recdb's own drivers (ADBC).

        Never print it or put it in a command line: use :meth:`client_url`.
        """
        return self._url(with_password=True)

    def client_url(self) -> str:
        """A URL without the password, that psql and psycopg accept as is.

        For the embedded server it names the password file (``?passfile=``);
        for your own server libpq finds the password as usual (``PGPASSWORD``,
        ``~/.pgpass``).
        """
        return self._url(with_password=False)

    def _url(self, *, with_password: bool) -> str:
        auth = quote(self.user, safe="")
        if with_password and self.password:
            auth += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        params = []
        if self.sslmode:
            params.append(f"sslmode={quote(self.sslmode, safe='')}")
        if not with_password and self.passfile is not None:
            params.append(f"passfile={quote(str(self.passfile), safe='/')}")
        query = "?" + "&".join(params) if params else ""
        return f"postgresql://{auth}@{host}:{self.port}/{quote(self.dbname, safe='')}{query}"

    def libpq_env(self) -> dict[str, str]:
        """The ``PG*`` environment variables for this connection (dbt's profile reads them)."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGDATABASE": self.dbname,
            "PGUSER": self.user,
        }
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def connect_kwargs(self, **overrides: object) -> dict[str, object]:
        """The keyword arguments of :func:`psycopg.connect` (or of a psycopg pool's
        ``kwargs``) for this connection; ``overrides`` replace or add any of them."""
        params: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "connect_timeout": 10,
            "application_name": "recdb",
        }
        if self.sslmode:
            params["sslmode"] = self.sslmode
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def connect(self, **kwargs: object) -> psycopg.Connection:
        """Open a psycopg connection; ``kwargs`` go to :func:`psycopg.connect`.

        A connection that cannot be made raises :class:`DatabaseUnavailableError`,
        whose message names the server, the user, the reason and what to do.
        """
        try:
            return retry_transient(lambda: psycopg.connect(**self.connect_kwargs(**kwargs)))
        except psycopg.OperationalError as error:
            raise self.unavailable(str(error)) from error

    def unavailable(self, reason: str) -> DatabaseUnavailableError:
        """The error for a failed connection with these settings; ``reason`` is the driver's
        message (libpq's, through psycopg or ADBC)."""
        reason = _short_reason(reason)
        where = f"{self.host}:{self.port}"
        lowered = reason.lower()
        if "password" in lowered:
            if self.home is not None:
                todo = (
                    f"the password in {self.home / CREDENTIALS_FILE} was refused: was the "
                    f"server in {self.home} re-created? Check RECDB_HOME"
                )
            else:
                todo = (
                    "check PGUSER and PGPASSWORD (RECDB_ANALYST_PASSWORD or "
                    "RECDB_SCIENTIST_PASSWORD for those roles)"
                )
        elif "does not exist" in lowered:
            todo = (
                "run `recdb db create-roles` and create the database (see docs/operators.md)"
                if self.home is None
                else f"the server in {self.home} is not recdb's: check RECDB_HOME"
            )
        elif self.home is not None:
            todo = (
                f"start the embedded server with `recdb db start` (its home: {self.home}), "
                "or set PGHOST and the other PG* variables to use your own server"
            )
        else:
            todo = "check that the server runs and that PGHOST and PGPORT point at it"
        return DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {where} as {self.user}: {reason}; {todo}",
            host=self.host,
            port=self.port,
            user=self.user,
            reason=reason,
        )


#: How often a connection whose host name did not resolve for a moment is tried, in all.
CONNECT_ATTEMPTS = 4
#: glibc's words for a resolver that answered nothing (EAI_AGAIN), as libpq and psycopg
#: pass them on: a container network's DNS reloading (podman's aardvark-dns, whenever a
#: container joins or leaves), a DNS server restarting. Any other failure is final.
_TRANSIENT_FAILURE = "temporary failure in name resolution"


def retry_transient(connect: Callable[[], Connected]) -> Connected:
    """``connect()``, tried again (after 0.5, 1, 1.5 s) while it fails because the host name
    did not resolve for a moment; any other failure, or the last one, is raised."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return connect()
        except Exception as error:
            if attempt == CONNECT_ATTEMPTS or _TRANSIENT_FAILURE not in str(error).lower():
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def sql_text(query: psycopg.sql.Composable) -> str:
    """SQL text with identifiers and literals quoted by psycopg, for drivers that take
    text only (ADBC)."""
    return query.as_string()


def _short_reason(message: str) -> str:
    """libpq's reason on one line, without the restated host and port."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = _LIBPQ_PREFIX.sub("", lines[0] if lines else "unknown reason")
    first = first.removeprefix("FATAL:").strip()
    return first[:1].lower() + first[1:]


def is_external() -> bool:
    """Whether the user points recdb at their own server (``PGHOST`` is set)."""
    return bool(os.environ.get("PGHOST"))


def check_role(role: str) -> str:
    """Return ``role`` if it is one of recdb's roles, else raise a clear error."""
    if role not in ROLES:
        raise ConnectionSettingsError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def read_state(home: Path, name: str) -> dict:
    """Read one of the embedded server's JSON state files, or ``{}`` when it is missing."""
    path = home / name
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ConnectionSettingsError(
            f"cannot read {path} ({getattr(error, 'strerror', None) or error}): "
            "check RECDB_HOME and the file's owner"
        ) from None
    if not isinstance(state, dict):
        raise ConnectionSettingsError(f"{path} is not a JSON object: check RECDB_HOME")
    return state


def connection_settings(role: str = "owner", *, home: Path | None = None) -> ConnectionSettings:
    """The connection settings for ``role`` (owner, analyst or scientist)."""
    check_role(role)
    if is_external():
        return _external_settings(role)
    return _embedded_settings(role, home or recdb_home())


def connect(role: str = "owner", **kwargs: object) -> psycopg.Connection:
    """Open a connection to the warehouse as ``role``."""
    return connection_settings(role).connect(**kwargs)


def external_port() -> int:
    """``$PGPORT`` (default 5432) for your own server; a clear error when it is not a port."""
    raw = os.environ.get("PGPORT") or "5432"
    port = port_number(raw)
    if port is None:
        raise ConnectionSettingsError(f"PGPORT={raw!r} is not a TCP port number (1 to 65535)")
    return port


def _external_settings(role: str) -> ConnectionSettings:
    env = os.environ
    common = {
        "host": env["PGHOST"],
        "port": external_port(),
        "dbname": env.get("PGDATABASE") or env.get("PGUSER") or DATABASE_NAME,
        "sslmode": env.get("PGSSLMODE"),
    }
    if role == "owner":
        user = env.get("PGUSER") or ROLE_NAMES["owner"]
        return ConnectionSettings(user=user, password=env.get("PGPASSWORD"), **common)
    prefix = f"RECDB_{role.upper()}"
    return ConnectionSettings(
        user=env.get(f"{prefix}_USER") or ROLE_NAMES[role],
        password=env.get(f"{prefix}_PASSWORD"),
        **common,
    )


def no_embedded_server(home: Path) -> ConnectionSettingsError:
    """The error for a home without a server: it names the home, so that nobody starts a
    second, empty server by mistake."""
    return ConnectionSettingsError(
        f"no embedded server in {home}: `recdb db start` creates a new, empty one there; "
        "to use an existing one, set RECDB_HOME to its folder (or cd into its project), "
        "or set PGHOST and the other PG* variables for your own server"
    )


def _embedded_settings(role: str, home: Path) -> ConnectionSettings:
    server = read_state(home, SERVER_FILE)
    credentials = read_state(home, CREDENTIALS_FILE)
    if not server or role not in credentials:
        raise no_embedded_server(home)
    return ConnectionSettings(
        host=EMBEDDED_HOST,
        port=int(server.get("port", DEFAULT_PORT)),
        dbname=DATABASE_NAME,
        user=ROLE_NAMES[role],
        password=credentials[role],
        passfile=home / PGPASS_FILE,
        home=home,
    )


# -- files for clients: no password on a command line or a screen ----------------------
def _pgpass_field(value: str) -> str:
    """A field of a libpq password file: ``\\`` and ``:`` escaped."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def write_client_files(home: Path | None = None) -> tuple[Path, Path]:
    """Write (or bring up to date) the home's ``pgpass`` and ``pg_service.conf``, both 0600.

    One password-file line per role (host 127.0.0.1, the server's port,
    database recdb) and one service section per role, named like the role,
    whose ``passfile`` is the absolute path of the password file. Files whose
    content is already current are left alone. Returns both paths.
    """
    home = (home or recdb_home()).absolute()
    settings = {role: _embedded_settings(role, home) for role in ROLES}
    pgpass = home / PGPASS_FILE
    service = home / SERVICE_FILE
    pgpass_text = "".join(
        ":".join(_pgpass_field(str(v)) for v in (s.host, s.port, s.dbname, s.user, s.password))
        + "\n"
        for s in settings.values()
    )
    service_text = "# Written by recdb: psql service=recdb_analyst (or PGSERVICE=...).\n" + "".join(
        f"\n[{s.user}]\nhost={s.host}\nport={s.port}\ndbname={s.dbname}\nuser={s.user}\n"
        f"passfile={pgpass}\n"
        for s in settings.values()
    )
    for path, text in ((pgpass, pgpass_text), (service, service_text)):
        try:
            current = (
                path.read_text(encoding="utf-8") == text and (path.stat().st_mode & 0o077) == 0
            )
        except OSError:
            current = False
        if not current:
            write_private_text(path, text)
    return pgpass, service


def client_env(role: str = "owner", *, home: Path | None = None) -> dict[str, str]:
    """The variables that let a plain ``psql`` connect as ``role`` to the embedded server
    (``PGSERVICEFILE`` and ``PGSERVICE``), with the client files brought up to date."""
    check_role(role)
    home = (home or recdb_home()).absolute()
    _, service = write_client_files(home)
    return {"PGSERVICEFILE": str(service), "PGSERVICE": ROLE_NAMES[role]}
