"""The one place that knows how to connect to the warehouse.

Two modes:

* **embedded** (default): the project's own server, whose port and passwords
  live in ``$RECDB_HOME`` (see :mod:`recdb.db.server`);
* **bring your own server**: when ``PGHOST`` is set, the standard libpq
  variables (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
  ``PGPASSWORD``, ``PGSSLMODE``) describe the owner's connection, and
  ``RECDB_ANALYST_USER``/``RECDB_ANALYST_PASSWORD`` and
  ``RECDB_SCIENTIST_USER``/``RECDB_SCIENTIST_PASSWORD`` the other roles.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from recdb.errors import ConnectionSettingsError
from recdb.settings import DATABASE_NAME, DEFAULT_PORT, ROLE_NAMES, ROLES, recdb_home

CREDENTIALS_FILE = "credentials.json"
SERVER_FILE = "server.json"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything libpq needs to open a connection as one role."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None
    sslmode: str | None = None

    def url(self) -> str:
        """A ``postgresql://`` URL that psql, pgAdmin, pandas and dbt accept."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?sslmode={self.sslmode}" if self.sslmode else ""
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
        """Open a psycopg connection; ``kwargs`` go to :func:`psycopg.connect`."""
        return psycopg.connect(**self.connect_kwargs(**kwargs))


def is_external() -> bool:
    """Whether the user points recdb at their own server (``PGHOST`` is set)."""
    return bool(os.environ.get("PGHOST"))


def check_role(role: str) -> str:
    """Return ``role`` if it is one of recdb's roles, else raise a clear error."""
    if role not in ROLES:
        raise ConnectionSettingsError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def read_state(home: Path, name: str) -> dict:
    """Read one of the embedded server's JSON state files, or ``{}``."""
    path = home / name
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def connection_settings(role: str = "owner", *, home: Path | None = None) -> ConnectionSettings:
    """The connection settings for ``role`` (owner, analyst or scientist)."""
    check_role(role)
    if is_external():
        return _external_settings(role)
    return _embedded_settings(role, home or recdb_home())


def connect(role: str = "owner", **kwargs: object) -> psycopg.Connection:
    """Open a connection to the warehouse as ``role``."""
    return connection_settings(role).connect(**kwargs)


def _external_settings(role: str) -> ConnectionSettings:
    env = os.environ
    common = {
        "host": env["PGHOST"],
        "port": int(env.get("PGPORT", "5432")),
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


def _embedded_settings(role: str, home: Path) -> ConnectionSettings:
    server = read_state(home, SERVER_FILE)
    credentials = read_state(home, CREDENTIALS_FILE)
    if not server or role not in credentials:
        raise ConnectionSettingsError(
            f"no embedded server in {home}: run `recdb db start` first "
            "(or set PGHOST and the other PG* variables to use your own server)"
        )
    return ConnectionSettings(
        host="127.0.0.1",
        port=int(server.get("port", DEFAULT_PORT)),
        dbname=DATABASE_NAME,
        user=ROLE_NAMES[role],
        password=credentials[role],
    )
