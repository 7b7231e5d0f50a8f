"""Shared fixtures: real embedded PostgreSQL servers, each in its own temporary RECDB_HOME.

The warehouse is set up once per session and copied for each test module:

* ``_bootstrapped_template``: a cluster initialised and bootstrapped by recdb (roles,
  database, schemas, grants), then stopped;
* ``_built_template``: a copy of it with the project's catalogue loaded and built
  with dbt, then stopped.

``fresh_warehouse`` and ``built_warehouse`` give each module a server of its own,
started from a copy of one of them: copying a stopped cluster's home takes about a
second, where ``initdb`` and the bootstrap take a few and a catalogue build tens.
Every module owns its server, as before: none shares a database, a role, a role
setting or a password file with another, so modules that stop or kill their
server, change the roles' settings, or rewrite the home's files (test_server,
test_cli, test_cli_errors, test_roles, test_home) need nothing special, and a
module's writes never reach another.

Why copies of clusters and not ``CREATE DATABASE ... TEMPLATE`` on one shared
server: recdb's embedded mode always connects to the database ``recdb``, the
home's client files (pgpass, pg_service.conf) name that one database, the
database's privileges are not copied from a template, and roles with their
passwords and session settings belong to the whole cluster; test_roles changes
those settings, and test_server, test_cli and test_cli_errors stop, kill or
restart their server. A copied cluster needs no change to the product and
keeps every module apart, for about the price of a template database.
"""

from __future__ import annotations

import contextlib
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
#: recs.recommendations a row per recommended title, as callers write them (the table
#: keeps each user's list of a run as one row): a relation for the tests' queries.
RECOMMENDATION_ROWS = (
    "(select r.run_id, r.user_id, listed.title_id, listed.rank, r.scores[listed.rank] as score, "
    "r.is_cold_start from recs.recommendations as r "
    "cross join lateral unnest(r.title_ids) with ordinality as listed (title_id, rank))"
)


def copy_of_project(target: Path) -> Path:
    """The project's files as a clone would have them (tracked and new, not ignored),
    copied into ``target``."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


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


def _copy_home(template: Path, name: str) -> Path:
    """A new home holding a copy of ``template``, the home of a stopped server.

    ``cp -a`` keeps the owner of the data directory (PostgreSQL's system user, as
    root) and its private modes, which the server checks at start.
    """
    home = _server_home(name)
    try:
        subprocess.run(["cp", "-a", "--", str(template), str(home)], check=True)
    except BaseException:
        shutil.rmtree(home.parent, ignore_errors=True)
        raise
    return home


@contextlib.contextmanager
def _running(home: Path) -> Iterator[Warehouse]:
    """The server in ``home`` (initialised and bootstrapped if new) started on a free port
    for the block, then stopped."""
    previous_port = os.environ.get("RECDB_PORT")
    os.environ["RECDB_PORT"] = str(free_port())
    server = EmbeddedServer(home)
    try:
        server.start()
    except BaseException:
        with contextlib.suppress(Exception):  # a start that failed after launching the
            server.stop()  # server leaves none behind; the start's error is the one to see
        raise
    finally:
        if previous_port is None:
            os.environ.pop("RECDB_PORT", None)
        else:
            os.environ["RECDB_PORT"] = previous_port
    try:
        yield Warehouse(server)
    finally:
        server.stop()


def _module_warehouse(template: Path, name: str) -> Iterator[Warehouse]:
    """A running copy of ``template``; stopped and deleted afterwards."""
    home = _copy_home(template, name)
    try:
        with _running(home) as warehouse:
            yield warehouse
    finally:
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
def _bootstrapped_template() -> Iterator[Path]:
    """The home of a stopped server that recdb initialised and bootstrapped, nothing loaded."""
    home = _server_home("template-fresh")
    try:
        with _running(home):
            pass  # initdb, roles, database, schemas and grants at the first start
        yield home
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def _built_template(_bootstrapped_template: Path) -> Iterator[Path]:
    """The home of a stopped server holding the project's catalogue, loaded and built."""
    home = _copy_home(_bootstrapped_template, "template-built")
    try:
        with _running(home) as warehouse:
            warehouse.load()
            warehouse.dbt("build")
        yield home
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def built_warehouse(_built_template: Path) -> Iterator[Warehouse]:
    """A server of the test module's own holding the project's catalogue, loaded and built
    with dbt (a copy of the session's built template)."""
    yield from _module_warehouse(_built_template, "built")


@pytest.fixture
def built_warehouse_of_its_own(_built_template: Path) -> Iterator[Warehouse]:
    """Like ``built_warehouse``, for one test alone: for tests that start from the built
    catalogue and load another, which the module's next test must not see."""
    yield from _module_warehouse(_built_template, "built-test")


@pytest.fixture(scope="module")
def fresh_warehouse(_bootstrapped_template: Path) -> Iterator[Warehouse]:
    """A server of the test module's own, with nothing loaded (a copy of the session's
    bootstrapped template)."""
    yield from _module_warehouse(_bootstrapped_template, "fresh")


# -- the container stack: up in the background, its tests last -----------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The container tests run last, so that their stack comes up while the rest runs."""
    items.sort(key=lambda item: item.get_closest_marker("containers") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("containers") for item in session.items):
        from tests import container_stack

        container_stack.start_in_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests import container_stack

    container_stack.tear_down()
