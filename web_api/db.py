"""Connections: an async psycopg pool per role for reads, python_api for writes.

Each role a key maps to gets its own pool, opened as that PostgreSQL role
(``recdb_analyst``, ``recdb_scientist``); the owner is never connected as.
Read connections are in autocommit and read-only by default (one statement,
no BEGIN/ROLLBACK round trips); psycopg prepares a statement after a few
executions on a connection, so the hot queries are planned once.

Writes go through python_api's :class:`~python_api.Warehouse` (its validation,
its typed errors), from a worker thread since it is synchronous; a few
connected Warehouses are kept for reuse. Their statements wait at most the
lock timeout (``RECDB_API_LOCK_TIMEOUT``) for a lock, so a write behind a
`recdb build` answers 503 at once rather than hanging for the build.

After a server restart every pooled connection is dead. Reads find that out
on the first query, check the pool's other idle connections at once and run
again on a live one; a pooled Warehouse is checked before each write (one
round trip, as SQLAlchemy's pool_pre_ping; python_api drops a dead
connection and connects again). While the
server is down, a connection attempt that failed gives up after a couple of
seconds instead of backing off for minutes, so the next request tries again
and reads come back as soon as the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.abc import Query
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from python_api import ApiError, DatabaseError, Warehouse
from recdb.core.connection import connection_settings
from web_api.settings import WRITE_ROLE, ApiSettings

logger = logging.getLogger(__name__)

APPLICATION_NAME = "recdb-web-api"
#: Seconds a read pool keeps retrying one failed connection attempt (psycopg_pool's default,
#: 300, backs off exponentially: after an outage of a minute, the next try came a minute
#: later). Given up, the next request that finds no connection starts a new attempt.
RECONNECT_TIMEOUT_S = 2.0
T = TypeVar("T")


class Database:
    """The pools of one app: ``await db.open()`` at start-up, ``await db.close()`` at the end."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.pools: dict[str, AsyncConnectionPool] = {}
        self.writers = WarehousePool(settings, size=4) if WRITE_ROLE in settings.roles else None
        self._checks: dict[str, asyncio.Task[None]] = {}

    async def open(self) -> None:
        """Create a pool per role in use; connections open in the background (the server starts
        even while the database is down: requests then answer 503, and health says why)."""
        for role in self.settings.roles:
            kwargs = connection_settings(role, home=self.settings.home).connect_kwargs(
                application_name=APPLICATION_NAME,
                autocommit=True,
                # Reads only through these pools: defence in depth for the scientist's.
                options="-c default_transaction_read_only=on",
            )
            pool = AsyncConnectionPool(
                kwargs=kwargs,
                min_size=1,
                max_size=self.settings.pool_size,
                timeout=5.0,
                reconnect_timeout=RECONNECT_TIMEOUT_S,
                open=False,
                name=f"web-api-{role}",
            )
            await pool.open(wait=False)
            self.pools[role] = pool

    async def close(self) -> None:
        """Close every pool and the write connections."""
        for pool in self.pools.values():
            await pool.close()
        self.pools.clear()
        if self.writers is not None:
            await run_in_threadpool(self.writers.close)

    async def read(self, role: str, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """``await work(conn)`` on a pooled connection as ``role``.

        When that connection turns out dead (the server restarted since it was last
        used), the pool's other idle connections are checked, and ``work`` runs once
        more on a live one: reads only, so running one twice changes nothing.
        """
        pool = self.pools[role]
        used: psycopg.AsyncConnection | None = None
        try:
            async with pool.connection() as conn:
                used = conn
                return await work(conn)
        except psycopg.OperationalError:
            if used is None or not used.broken:
                raise  # no connection to be had (PoolTimeout), or the query's own failure
        logger.warning("a %s connection was lost (server restarted?): reading again", role)
        await self._check_pool(role)
        async with pool.connection() as conn:
            return await work(conn)

    async def _check_pool(self, role: str) -> None:
        """Check the idle connections of ``role``'s pool, once for all the requests that
        found a dead connection at about the same time."""
        task = self._checks.get(role)
        if task is None or task.done():
            task = asyncio.create_task(self.pools[role].check())
            self._checks[role] = task
        await asyncio.shield(task)

    async def rows(self, role: str, query: Query, params: Sequence[Any] = ()) -> list[tuple]:
        """All rows of a parameterised query, as tuples."""

        async def fetch(conn: psycopg.AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

        return await self.read(role, fetch)

    async def dicts(self, role: str, query: Query, params: Sequence[Any] = ()) -> list[dict]:
        """All rows of a parameterised query, as dicts."""

        async def fetch(conn: psycopg.AsyncConnection) -> list[dict]:
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(query, params)
                return await cursor.fetchall()

        return await self.read(role, fetch)

    async def check(self, role: str) -> str | None:
        """None when ``select 1`` works as ``role`` within two seconds, else why not."""
        try:
            async with asyncio.timeout(2.0):
                await self.rows(role, "select 1")
        except Exception as error:  # noqa: BLE001 - health reports any failure
            return type(error).__name__
        return None

    async def write(self, job: Callable[[Warehouse], T]) -> T:
        """Run ``job(warehouse)`` with a scientist's python_api Warehouse, in a worker thread."""
        if self.writers is None:  # pragma: no cover - routes check the role first
            raise DatabaseError("no scientist key is configured")
        return await run_in_threadpool(self.writers.run, job)


class WarehousePool:
    """A few python_api Warehouses (each one ADBC connection) reused across write requests.

    Each waits at most ``settings.lock_timeout`` for a lock (a BusyError after that). A
    pooled one is checked before use: the server may have restarted since its last write
    (however recent), and a write must not fail for a connection that died idle.
    """

    def __init__(self, settings: ApiSettings, size: int) -> None:
        self._settings = settings
        self._idle: queue.LifoQueue[Warehouse] = queue.LifoQueue(maxsize=size)

    def _new(self) -> Warehouse:
        return Warehouse(
            WRITE_ROLE,
            connection_settings(WRITE_ROLE, home=self._settings.home),
            lock_timeout=self._settings.lock_timeout,
        )

    @contextlib.contextmanager
    def _lease(self) -> Iterator[Warehouse]:
        try:
            warehouse = self._idle.get_nowait()
        except queue.Empty:
            warehouse = self._new()  # connects on its first call
        else:
            _check(warehouse)
        reusable = True
        try:
            yield warehouse
        except ApiError:
            # python_api's own failure (a dead connection is already dropped by python_api,
            # which connects again on the next call): the Warehouse can serve again.
            raise
        except BaseException:
            reusable = False  # anything else may have left it mid-way
            raise
        finally:
            if reusable:
                try:
                    self._idle.put_nowait(warehouse)
                except queue.Full:
                    warehouse.close()
            else:
                warehouse.close()

    def run(self, job: Callable[[Warehouse], T]) -> T:
        """``job(warehouse)`` on a leased Warehouse."""
        with self._lease() as warehouse:
            return job(warehouse)

    def close(self) -> None:
        """Close the idle Warehouses."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _check(warehouse: Warehouse) -> None:
    """A round trip on ``warehouse``; a dead connection is dropped by python_api on the way,
    so the write that follows connects again (and fails, 503, only if the server is down)."""
    try:
        warehouse.read("select 1 as alive")
    except DatabaseError as error:
        logger.info("an idle write connection was lost (server restarted?): %s", error)
