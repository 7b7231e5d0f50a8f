"""Shared fixtures: real embedded PostgreSQL servers, each in its own temporary RECDB_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from recdb.catalog.load import LoadReport, load_catalog
from recdb.core.connection import ConnectionSettings, connection_settings
from recdb.warehouse.server import EmbeddedServer, free_port
from recdb.warehouse.transform import run_dbt

PROJECT_DIR = Path(__file__).resolve().parent.parent
REAL_CATALOG_DIR = PROJECT_DIR.parent / "shared" / "data" / "netflix"


@dataclass
class Warehouse:
    """A running embedded server for tests, with helpers to use it as each role."""

    server: EmbeddedServer

    @property
    def home(self) -> Path:
        return self.server.home

    def settings(self, role: str = "owner") -> ConnectionSettings:
        return connection_settings(role, home=self.home)

    def connect(self, role: str = "owner", **kwargs) -> psycopg.Connection:
        return self.settings(role).connect(**kwargs)

    def env(self) -> dict[str, str]:
        """Environment for a `recdb` subprocess aimed at this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["RECDB_HOME"] = str(self.home)
        return env

    def load(self, source_dir: Path | None = None) -> LoadReport:
        with self.connect() as conn:
            return load_catalog(source_dir, conn=conn)

    def dbt(self, *args: str) -> None:
        run_dbt(list(args), settings=self.settings("owner"))

    def query(self, statement: str, params=None, role: str = "owner") -> list[tuple]:
        with self.connect(role) as conn:
            return conn.execute(statement, params).fetchall()

    def execute(self, statement: str, params=None, role: str = "owner") -> None:
        with self.connect(role) as conn:
            conn.execute(statement, params)

    def scalar(self, statement: str, params=None, role: str = "owner"):
        return self.query(statement, params, role)[0][0]

    def recdb(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the `recdb` command line against this server."""
        return subprocess.run(
            [sys.executable, "-m", "recdb.cli", *args],
            env=self.env(),
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
        )


def _server_home(name: str) -> Path:
    """A home outside pytest's basetemp: pytest makes that folder private (0700) at every
    session start, which would lock the server's system user out of a running cluster."""
    return Path(tempfile.mkdtemp(prefix=f"recdb-test-{name}-")) / "home"


def _start_warehouse(home: Path) -> Iterator[Warehouse]:
    previous_port = os.environ.get("RECDB_PORT")
    os.environ["RECDB_PORT"] = str(free_port())
    try:
        server = EmbeddedServer(home)
        server.start()
    finally:
        if previous_port is None:
            os.environ.pop("RECDB_PORT", None)
        else:
            os.environ["RECDB_PORT"] = previous_port
    try:
        yield Warehouse(server)
    finally:
        server.stop()
        shutil.rmtree(home.parent, ignore_errors=True)


def _forget_the_users_settings() -> None:
    """Drop every RECDB_*, PG* and DBT_* variable of the shell that started the tests.

    The suite's result must not depend on them: RECDB_PORT would send the test
    servers to the user's port, PGHOST to the user's own server, RECDB_HOME to
    the user's warehouse, DBT_TARGET_PATH dbt's output elsewhere. Tests that
    need one set it themselves.
    """
    for key in [k for k in os.environ if k.startswith(("RECDB_", "PG", "DBT_"))]:
        del os.environ[key]


_forget_the_users_settings()  # at import, before any test module reads the environment


@pytest.fixture(scope="session", autouse=True)
def _no_external_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests run on embedded servers only, whatever RECDB_* or PG* the shell has.

    RECDB_HOME points at an empty folder, so no test touches the user's own
    server or writes into the working copy's .recdb/.
    """
    _forget_the_users_settings()
    os.environ["RECDB_HOME"] = str(tmp_path_factory.mktemp("default_home"))


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A server holding the project's own catalogue, loaded and built with dbt."""
    for warehouse in _start_warehouse(_server_home("built")):
        warehouse.load()
        warehouse.dbt("build")
        yield warehouse


@pytest.fixture(scope="module")
def fresh_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A server of the test module's own, with nothing loaded."""
    yield from _start_warehouse(_server_home("fresh"))
