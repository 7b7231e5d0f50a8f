"""python_api under faults: a lock held by a build (lock_timeout, BusyError), and a connection
that dies under a Warehouse (dropped, the next call connects again)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from python_api import ApiError, BusyError, DatabaseError, Warehouse

pytestmark = pytest.mark.integration


def user(user_id: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [user_id],
            "signup_at": [pd.Timestamp("2024-01-01 08:30", tz="UTC")],
            "birth_year": [1990],
            "gender": ["female"],
            "country_code": ["US"],
            "plan": ["basic"],
        }
    )


@pytest.fixture
def warehouse(built_warehouse):
    built_warehouse.execute(
        "truncate sim.users, sim.sessions, sim.ratings, sim.user_tastes, recs.recommendations"
    )
    return built_warehouse


def test_a_write_behind_a_builds_lock_gives_up_after_the_lock_timeout(warehouse):
    """A SHARE lock held by another transaction (a migration, an operator's LOCK TABLE)."""
    with Warehouse("scientist", warehouse.settings("scientist"), lock_timeout=0.5) as wh:
        wh.write("users", user(1))  # connected before the lock: the timeout is the session's
        with warehouse.connect("owner") as holder:
            holder.execute("lock table sim.users in share mode")
            started = time.monotonic()
            with pytest.raises(BusyError) as raised:
                wh.write("users", user(2))
            waited = time.monotonic() - started
        assert waited < 5, waited
        assert isinstance(raised.value, DatabaseError)
        message = str(raised.value)
        assert "sim.users" in message and "locked" in message and "retry" in message
        # Nothing was kept, and the same Warehouse writes once the lock is gone.
        assert wh.write("users", user(2)) == 1
    assert warehouse.query("select user_id from sim.users order by 1") == [(1,), (2,)]


def test_a_lock_timeout_holds_inside_a_transaction_too(warehouse):
    with Warehouse("scientist", warehouse.settings("scientist"), lock_timeout=0.5) as wh:
        with warehouse.connect("owner") as holder:
            holder.execute("lock table sim.users in share mode")
            with pytest.raises(BusyError), wh.transaction():
                wh.write("users", user(3))
        with wh.transaction():
            wh.write("users", user(3))
    assert warehouse.scalar("select count(*) from sim.users") == 1


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2s"])
def test_a_lock_timeout_is_seconds_above_zero(warehouse, bad):
    with pytest.raises(ApiError, match="lock_timeout must be a number of seconds"):
        Warehouse("scientist", warehouse.settings("scientist"), lock_timeout=bad)


def _terminate_scientists(warehouse) -> None:
    superuser = warehouse.server.superuser_settings()
    with superuser.connect(autocommit=True) as admin:
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where usename = 'recdb_scientist' and datname = 'recdb'"
        )
    time.sleep(0.2)


@pytest.mark.parametrize(
    "call",
    [
        lambda wh: wh.read("select 1 as one"),
        lambda wh: wh.write("users", user(10)),
        lambda wh: wh.update("users", {"user_id": 1, "plan": "premium"}),
    ],
    ids=["read", "write", "update"],
)
def test_a_connection_that_died_is_dropped_and_the_next_call_reconnects(warehouse, call):
    with Warehouse("scientist", warehouse.settings("scientist"), lock_timeout=2) as wh:
        wh.write("users", user(1))
        _terminate_scientists(warehouse)  # as a server restart or an admin would
        with pytest.raises(DatabaseError, match="nothing of this operation was kept"):
            call(wh)
        # No close() needed: the dead connection was dropped.
        assert wh.write("users", user(11)) == 1
        # The new connection has the lock timeout too.
        assert wh.read("select current_setting('lock_timeout') as t")["t"][0] == "2s"
