"""web_api.db without a database: reads run again once on a live connection when a pooled one
died; write connections carry the lock timeout, are checked after idling, and survive
python_api's errors. (Against a real restart: tests/integration/test_web_api_faults.py.)"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import psycopg_pool
import pytest

import python_api
from web_api import db as db_module
from web_api.db import Database, WarehousePool
from web_api.settings import ApiSettings, parse_api_keys

SETTINGS = ApiSettings(
    parse_api_keys("analyst-key-for-tests:analyst,scientist-key-for-tests:scientist"),
    lock_timeout=1.5,
)


class FakeConnection:
    def __init__(self, dead: bool) -> None:
        self.broken = dead


class FakePool:
    """Hands out ``connections`` in order; counts check() calls."""

    def __init__(self, *connections: FakeConnection | Exception) -> None:
        self.connections = list(connections)
        self.checks = 0

    @contextlib.asynccontextmanager
    async def connection(self):
        handed = self.connections.pop(0)
        if isinstance(handed, Exception):
            raise handed
        yield handed

    async def check(self) -> None:
        self.checks += 1


async def query(conn: FakeConnection) -> str:
    if conn.broken:
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    return "rows"


def read_with(pool: FakePool, work=query):
    database = Database(SETTINGS)
    database.pools["analyst"] = pool
    return asyncio.run(database.read("analyst", work))


def test_a_read_on_a_dead_connection_runs_again_on_a_live_one_after_a_pool_check():
    pool = FakePool(FakeConnection(dead=True), FakeConnection(dead=False))
    assert read_with(pool) == "rows"
    assert pool.checks == 1


def test_a_read_runs_again_once_only():
    pool = FakePool(FakeConnection(dead=True), FakeConnection(dead=True))
    with pytest.raises(psycopg.OperationalError):
        read_with(pool)


def test_no_connection_to_be_had_is_not_retried():
    pool = FakePool(psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"))
    with pytest.raises(psycopg_pool.PoolTimeout):
        read_with(pool)
    assert pool.checks == 0


def test_a_querys_own_failure_on_a_live_connection_is_not_retried():
    async def cancelled(conn):
        raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

    pool = FakePool(FakeConnection(dead=False), FakeConnection(dead=False))
    with pytest.raises(psycopg.errors.QueryCanceled):
        read_with(pool, cancelled)
    assert pool.checks == 0


class FakeWarehouse:
    made: list[FakeWarehouse] = []

    def __init__(self, role, settings, *, lock_timeout=None) -> None:
        self.role = role
        self.lock_timeout = lock_timeout
        self.reads: list[str] = []
        self.closed = False
        FakeWarehouse.made.append(self)

    def read(self, query, params=None):
        self.reads.append(query)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def writers(monkeypatch):
    FakeWarehouse.made = []
    monkeypatch.setattr(db_module, "Warehouse", FakeWarehouse)
    monkeypatch.setattr(db_module, "connection_settings", lambda role, home=None: None)
    return WarehousePool(SETTINGS, size=2)


def test_write_connections_wait_at_most_the_lock_timeout(writers):
    writers.run(lambda wh: None)
    assert [w.lock_timeout for w in FakeWarehouse.made] == [1.5]


def test_a_pooled_write_connection_is_checked_before_each_use(writers):
    writers.run(lambda wh: wh.reads.append("job 1"))
    writers.run(lambda wh: wh.reads.append("job 2"))
    (warehouse,) = FakeWarehouse.made
    assert warehouse.reads == ["job 1", "select 1 as alive", "job 2"]  # new: nothing to check


def test_a_write_connection_outlives_python_api_errors_but_not_others(writers):
    for error in (
        python_api.BusyError("locked"),
        python_api.DatabaseError("connection lost"),
        python_api.ConflictError("exists"),
    ):
        with pytest.raises(type(error)):
            writers.run(lambda wh, error=error: (_ for _ in ()).throw(error))
    assert len(FakeWarehouse.made) == 1 and not FakeWarehouse.made[0].closed
    with pytest.raises(RuntimeError):
        writers.run(lambda wh: (_ for _ in ()).throw(RuntimeError("bug")))
    assert FakeWarehouse.made[0].closed
    writers.run(lambda wh: None)
    assert len(FakeWarehouse.made) == 2
