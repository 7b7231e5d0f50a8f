"""Connections: an async psycopg pool per role for reads, python_api for writes.

Each role a key maps to gets its own pool, opened as that PostgreSQL role
(``recdb_analyst``, ``recdb_scientist``); the owner is never connected as.
Read connections are in autocommit and read-only by default (one statement,
no BEGIN/ROLLBACK round trips); psycopg prepares a statement after a few
executions on a connection, so the hot queries are planned once.

Writes go through python_api's :class:`~python_api.Warehouse` (its validation,
its typed errors), from a worker thread since it is synchronous; a few
connected Warehouses are kept for reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.abc import Query
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from python_api import ApiError, DatabaseError, Warehouse
from recdb.db.connection import connection_settings
from web_api.settings import WRITE_ROLE, ApiSettings

logger = logging.getLogger(__name__)

APPLICATION_NAME = "recdb-web-api"
T = TypeVar("T")


class Database:
    """The pools of one app: ``await db.open()`` at start-up, ``await db.close()`` at the end."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.pools: dict[str, AsyncConnectionPool] = {}
        self.writers = WarehousePool(settings, size=4) if WRITE_ROLE in settings.roles else None

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

    @contextlib.asynccontextmanager
    async def connection(self, role: str) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection as ``role``."""
        async with self.pools[role].connection() as conn:
            yield conn

    async def rows(self, role: str, query: Query, params: Sequence[Any] = ()) -> list[tuple]:
        """All rows of a parameterised query, as tuples."""
        async with self.connection(role) as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def dicts(self, role: str, query: Query, params: Sequence[Any] = ()) -> list[dict]:
        """All rows of a parameterised query, as dicts."""
        async with self.connection(role) as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, params)
            return await cursor.fetchall()

    async def check(self, role: str) -> str | None:
        """None when ``select 1`` works as ``role`` within two seconds, else why not."""
        try:
            async with asyncio.timeout(2.0), self.connection(role) as conn:
                await conn.execute("select 1")
        except Exception as error:  # noqa: BLE001 - health reports any failure
            return type(error).__name__
        return None

    async def write(self, job: Callable[[Warehouse], T]) -> T:
        """Run ``job(warehouse)`` with a scientist's python_api Warehouse, in a worker thread."""
        if self.writers is None:  # pragma: no cover - routes check the role first
            raise DatabaseError("no scientist key is configured")
        return await run_in_threadpool(self.writers.run, job)


class WarehousePool:
    """A few python_api Warehouses (each one ADBC connection) reused across write requests."""

    def __init__(self, settings: ApiSettings, size: int) -> None:
        self._settings = settings
        self._idle: queue.LifoQueue[Warehouse] = queue.LifoQueue(maxsize=size)

    @contextlib.contextmanager
    def _lease(self) -> Iterator[Warehouse]:
        try:
            warehouse = self._idle.get_nowait()
        except queue.Empty:
            warehouse = Warehouse(
                WRITE_ROLE, connection_settings(WRITE_ROLE, home=self._settings.home)
            )
        healthy = True
        try:
            yield warehouse
        except DatabaseError:
            healthy = False  # a lost connection: do not hand it out again
            raise
        except ApiError:
            raise
        except BaseException:
            healthy = False
            raise
        finally:
            if healthy:
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
