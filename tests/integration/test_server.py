"""The embedded server: lifecycle, crash recovery, password authentication on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from recdb.core.connection import ConnectionSettings
from recdb.core.errors import DatabaseUnavailableError
from recdb.warehouse.server import EmbeddedServer, free_port

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
        with pytest.raises(DatabaseUnavailableError, match="password") as raised:
            bad.connect().close()
        assert f"{good.host}:{good.port}" in str(raised.value) and good.user in str(raised.value)
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


def test_the_cluster_runs_with_recdbs_settings(fresh_warehouse):
    # postgresql.conf's later lines win: recdb's, appended after initdb's defaults
    settings = {
        name: fresh_warehouse.scalar(f"show {name}")
        for name in ("wal_level", "shared_buffers", "work_mem", "max_wal_size")
    }
    assert settings == {
        "wal_level": "minimal",
        "shared_buffers": "256MB",
        "work_mem": "32MB",
        "max_wal_size": "2GB",
    }


def test_credentials_file_is_private(fresh_warehouse):
    mode = (fresh_warehouse.home / "credentials.json").stat().st_mode & 0o777
    assert mode == 0o600


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


PRIVATE_FILES = ("credentials.json", "server.json", "pgpass", "pg_service.conf", ".lock")


def test_the_home_and_its_files_are_private(fresh_warehouse):
    home = fresh_warehouse.home
    # as root the server runs as another user, who must traverse the home, never list it
    assert mode(home) == (0o711 if os.geteuid() == 0 else 0o700)
    for name in PRIVATE_FILES:
        assert mode(home / name) == 0o600, name
    assert mode(fresh_warehouse.server.pgdata) == 0o700


def test_loose_modes_are_tightened_at_the_next_start(fresh_warehouse):
    home = fresh_warehouse.home
    home.chmod(0o755)
    for name in PRIVATE_FILES:
        (home / name).chmod(0o644)
    (home / "docs").mkdir(exist_ok=True)
    (home / "docs").chmod(0o755)
    fresh_warehouse.server.start()
    assert mode(home) == (0o711 if os.geteuid() == 0 else 0o700)
    for name in PRIVATE_FILES:
        assert mode(home / name) == 0o600, name
    assert mode(home / "docs") == 0o700


def test_client_files_follow_a_port_change(fresh_warehouse, monkeypatch):
    server = fresh_warehouse.server
    old_port = server.status().port
    server.stop()
    new_port = free_port()
    monkeypatch.setenv("RECDB_PORT", str(new_port))
    try:
        assert server.start().port == new_port
    finally:
        monkeypatch.delenv("RECDB_PORT")
    pgpass = (fresh_warehouse.home / "pgpass").read_text()
    service = (fresh_warehouse.home / "pg_service.conf").read_text()
    assert f":{new_port}:recdb:recdb_analyst:" in pgpass and f":{old_port}:" not in pgpass
    assert f"port={new_port}" in service and f"port={old_port}" not in service
    for name in ("pgpass", "pg_service.conf"):
        assert mode(fresh_warehouse.home / name) == 0o600
    url = fresh_warehouse.settings("analyst").client_url()
    with psycopg.connect(url) as conn:  # the password comes from the passfile
        assert conn.execute("select current_user").fetchone()[0] == "recdb_analyst"


def test_client_files_come_back_if_deleted(fresh_warehouse):
    for name in ("pgpass", "pg_service.conf"):
        (fresh_warehouse.home / name).unlink()
    fresh_warehouse.recdb("db", "url", "--role", "analyst")
    for name in ("pgpass", "pg_service.conf"):
        assert mode(fresh_warehouse.home / name) == 0o600


def test_dbt_connects_with_an_empty_password_and_pgpassfile(fresh_warehouse, tmp_path):
    """profiles.yml.example with PGPASSWORD unset: libpq reads the password from PGPASSFILE."""
    from tests.conftest import PROJECT_DIR

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", profiles / "profiles.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBT_", "RECDB_"))}
    env.update(
        PGPORT=str(fresh_warehouse.server.status().port),
        PGPASSFILE=str(fresh_warehouse.home / "pgpass"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "debug",
            "--connection",
            "--profiles-dir",
            str(profiles),
            "--project-dir",
            str(PROJECT_DIR),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection test: [OK connection ok]" in result.stdout


@pytest.mark.parametrize("port", ["fivefour", "0", "70000"])
def test_a_bad_recdb_port_is_a_clear_error_before_anything_is_created(tmp_path, monkeypatch, port):
    from recdb.core.errors import ServerError

    monkeypatch.setenv("RECDB_PORT", port)
    server = EmbeddedServer(tmp_path / "home")
    with pytest.raises(ServerError, match="RECDB_PORT"):
        server.start()
    assert not server.pgdata.exists()
