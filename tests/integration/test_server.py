"""The embedded server: lifecycle, crash recovery, password authentication on loopback."""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from recdb.db.connection import ConnectionSettings
from recdb.db.server import EmbeddedServer

pytestmark = pytest.mark.integration


def test_start_when_running_changes_nothing(fresh_warehouse):
    before = fresh_warehouse.server.status()
    after = fresh_warehouse.server.start()
    assert before.running and after.running
    assert after.pid == before.pid and after.port == before.port


def test_stop_then_start(fresh_warehouse):
    server = fresh_warehouse.server
    assert not server.stop().running
    assert not server.stop().running  # stopping a stopped server is fine
    assert server.start().running
    assert fresh_warehouse.scalar("select 1") == 1


def test_start_after_a_crash_with_a_stale_pid_file(fresh_warehouse):
    server = fresh_warehouse.server
    pid = server.status().pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.status().running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (server.pgdata / "postmaster.pid").exists()  # left behind by the crash
    # the children of a killed postmaster may linger a moment; they exit by themselves
    status = server.start()
    assert status.running and status.pid != pid
    assert fresh_warehouse.scalar("select 1") == 1


def test_status_of_a_server_never_started(tmp_path):
    status = EmbeddedServer(tmp_path / "nothing").status()
    assert not status.running
    assert "stopped" in status.describe()


def test_every_role_connects_with_its_password(fresh_warehouse):
    for role, user in [
        ("owner", "recdb_owner"),
        ("analyst", "recdb_analyst"),
        ("scientist", "recdb_scientist"),
    ]:
        assert fresh_warehouse.scalar("select current_user", role=role) == user
        with psycopg.connect(fresh_warehouse.settings(role).url()) as conn:
            assert conn.execute("select current_user").fetchone()[0] == user


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_a_wrong_or_missing_password_is_refused(fresh_warehouse, password):
    good = fresh_warehouse.settings("analyst")
    bad = ConnectionSettings(good.host, good.port, good.dbname, good.user, password)
    env_password = os.environ.pop("PGPASSWORD", None)
    try:
        with pytest.raises(psycopg.OperationalError, match="password"):
            bad.connect().close()
    finally:
        if env_password is not None:
            os.environ["PGPASSWORD"] = env_password


def test_listens_on_loopback_only_and_no_role_is_superuser(fresh_warehouse):
    assert fresh_warehouse.scalar("show listen_addresses") == "127.0.0.1"
    assert fresh_warehouse.scalar("show password_encryption") == "scram-sha-256"
    superusers = fresh_warehouse.query(
        "select rolname from pg_roles where rolname like 'recdb%%' and (rolsuper or rolcreaterole)"
    )
    assert superusers == []


def test_credentials_file_is_private(fresh_warehouse):
    mode = (fresh_warehouse.home / "credentials.json").stat().st_mode & 0o777
    assert mode == 0o600
