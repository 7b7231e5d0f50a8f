"""Connection settings: embedded state, bring-your-own PG* variables, URLs."""

from __future__ import annotations

import json

import pytest

from recdb.core.connection import (
    ConnectionSettings,
    check_role,
    client_env,
    connection_settings,
    write_client_files,
)
from recdb.core.errors import ConnectionSettingsError, DatabaseUnavailableError, RecdbError


def test_url_escapes_user_and_password():
    settings = ConnectionSettings("127.0.0.1", 5432, "recdb", "a user", "p@ss:w/rd?")
    assert settings.url() == "postgresql://a%20user:p%40ss%3Aw%2Frd%3F@127.0.0.1:5432/recdb"


def test_url_without_password_and_with_sslmode():
    settings = ConnectionSettings("db.example", 6543, "wh", "u", None, "require")
    assert settings.url() == "postgresql://u@db.example:6543/wh?sslmode=require"


def test_libpq_env_names():
    env = ConnectionSettings("h", 1, "d", "u", "p").libpq_env()
    assert env == {
        "PGHOST": "h",
        "PGPORT": "1",
        "PGDATABASE": "d",
        "PGUSER": "u",
        "PGPASSWORD": "p",
    }


def test_embedded_settings_come_from_recdb_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    (tmp_path / "server.json").write_text(json.dumps({"port": 6001}))
    (tmp_path / "credentials.json").write_text(
        json.dumps({"owner": "o", "analyst": "a", "scientist": "s", "superuser": "x"})
    )
    analyst = connection_settings("analyst", home=tmp_path)
    assert (analyst.host, analyst.port, analyst.user, analyst.password) == (
        "127.0.0.1",
        6001,
        "recdb_analyst",
        "a",
    )


def test_no_embedded_server_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    with pytest.raises(ConnectionSettingsError, match="recdb db start"):
        connection_settings("owner", home=tmp_path)


def test_no_embedded_server_names_the_home_it_looked_in(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    with pytest.raises(ConnectionSettingsError) as raised:
        connection_settings("owner", home=tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert f"no embedded server in {tmp_path}" in message
    assert "RECDB_HOME" in message  # the way to point at an existing server instead


def test_corrupt_state_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    (tmp_path / "server.json").write_text("{not json")
    (tmp_path / "credentials.json").write_text("{}")
    with pytest.raises(ConnectionSettingsError, match="server.json"):
        connection_settings("owner", home=tmp_path)


def test_pg_variables_select_your_own_server(monkeypatch):
    monkeypatch.setenv("PGHOST", "warehouse.internal")
    monkeypatch.setenv("PGPORT", "5544")
    monkeypatch.setenv("PGDATABASE", "analytics")
    monkeypatch.setenv("PGUSER", "transformer")
    monkeypatch.setenv("PGPASSWORD", "secret")
    monkeypatch.setenv("RECDB_ANALYST_PASSWORD", "reader")
    owner = connection_settings("owner")
    analyst = connection_settings("analyst")
    assert (owner.host, owner.port, owner.dbname, owner.user, owner.password) == (
        "warehouse.internal",
        5544,
        "analytics",
        "transformer",
        "secret",
    )
    assert (analyst.user, analyst.password, analyst.dbname) == (
        "recdb_analyst",
        "reader",
        "analytics",
    )


@pytest.mark.parametrize("role", ["root", "postgres", "owner; drop table x", ""])
def test_unknown_roles_are_refused(role):
    with pytest.raises(ConnectionSettingsError, match="unknown role"):
        check_role(role)


def test_repr_hides_the_password():
    settings = ConnectionSettings("127.0.0.1", 5432, "recdb", "u", "hunter2-secret")
    assert "hunter2-secret" not in repr(settings)


def test_client_url_has_no_password_and_names_the_passfile(tmp_path):
    settings = ConnectionSettings(
        "127.0.0.1", 6001, "recdb", "recdb_analyst", "s3cret", passfile=tmp_path / "pgpass"
    )
    assert settings.client_url() == (
        f"postgresql://recdb_analyst@127.0.0.1:6001/recdb?passfile={tmp_path}/pgpass"
    )
    assert settings.url().count("s3cret") == 1  # internal URL (ADBC) keeps it


def test_client_url_of_your_own_server_has_no_password_either():
    settings = ConnectionSettings("db.example", 6543, "wh", "u", "s3cret", "require")
    assert settings.client_url() == "postgresql://u@db.example:6543/wh?sslmode=require"


def write_embedded_state(home, port=6001, passwords=None):
    passwords = passwords or {"owner": "o", "analyst": "a", "scientist": "s", "superuser": "x"}
    (home / "server.json").write_text(json.dumps({"port": port}))
    (home / "credentials.json").write_text(json.dumps(passwords))


def test_embedded_settings_know_their_passfile_and_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    write_embedded_state(tmp_path)
    analyst = connection_settings("analyst", home=tmp_path)
    assert analyst.passfile == tmp_path / "pgpass"
    assert analyst.home == tmp_path
    assert "a@" not in analyst.client_url() and ":a@" not in analyst.client_url()


def test_client_files_hold_every_role_privately(tmp_path):
    write_embedded_state(
        tmp_path,
        port=6123,
        passwords={"owner": "o:w\\n", "analyst": "a", "scientist": "s", "superuser": "su"},
    )
    pgpass, service = write_client_files(tmp_path)
    assert (pgpass, service) == (tmp_path / "pgpass", tmp_path / "pg_service.conf")
    for path in (pgpass, service):
        assert path.stat().st_mode & 0o777 == 0o600
    assert pgpass.read_text().splitlines() == [
        "127.0.0.1:6123:recdb:recdb_owner:o\\:w\\\\n",
        "127.0.0.1:6123:recdb:recdb_analyst:a",
        "127.0.0.1:6123:recdb:recdb_scientist:s",
    ]
    assert "su" not in pgpass.read_text()  # the bootstrap superuser is not for clients
    text = service.read_text()
    for role in ("owner", "analyst", "scientist"):
        assert f"[recdb_{role}]" in text
    assert f"passfile={tmp_path}/pgpass" in text
    assert "port=6123" in text and "dbname=recdb" in text and "user=recdb_analyst" in text
    assert "a\n" not in text.replace("dbname=recdb\n", "")  # no password in the service file


def test_client_files_follow_the_port(tmp_path):
    write_embedded_state(tmp_path, port=6001)
    write_client_files(tmp_path)
    write_embedded_state(tmp_path, port=6002)
    pgpass, service = write_client_files(tmp_path)
    assert ":6002:" in pgpass.read_text() and ":6001:" not in pgpass.read_text()
    assert "port=6002" in service.read_text()


def test_client_env_points_psql_at_the_service(tmp_path, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    write_embedded_state(tmp_path)
    env = client_env("analyst", home=tmp_path)
    assert env == {
        "PGSERVICEFILE": str(tmp_path / "pg_service.conf"),
        "PGSERVICE": "recdb_analyst",
    }


def test_a_refused_connection_is_one_line_that_says_what_to_do(tmp_path):
    from recdb.warehouse.server import free_port

    port = free_port()
    settings = ConnectionSettings("127.0.0.1", port, "recdb", "recdb_owner", "x", home=tmp_path)
    with pytest.raises(DatabaseUnavailableError) as raised:
        settings.connect()
    message = str(raised.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and "recdb_owner" in message
    assert "refused" in message.lower()
    assert "recdb db start" in message and str(tmp_path) in message
    assert isinstance(raised.value, RecdbError)


def test_your_own_server_unreachable_points_at_the_pg_variables():
    from recdb.warehouse.server import free_port

    settings = ConnectionSettings("127.0.0.1", free_port(), "recdb", "me", None)
    with pytest.raises(DatabaseUnavailableError, match="PGHOST"):
        settings.connect()


@pytest.mark.parametrize(
    "driver_message",
    [
        'connection failed: connection to server at "127.0.0.1", port 6001 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?",
        'Failed to connect: connection to server at "127.0.0.1", port 6001 failed: '
        "Connection refused",  # ADBC's wording (python_api)
    ],
)
def test_the_reason_is_libpqs_alone_on_one_line(tmp_path, driver_message):
    settings = ConnectionSettings("127.0.0.1", 6001, "recdb", "recdb_scientist", "x", home=tmp_path)
    error = settings.unavailable(driver_message)
    assert error.reason == "connection refused"
    assert str(error).startswith(
        "cannot connect to PostgreSQL at 127.0.0.1:6001 as recdb_scientist: connection refused; "
    )


def test_a_pgport_that_is_not_a_number_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PGHOST", "db.example")
    monkeypatch.setenv("PGPORT", "fivefour")
    with pytest.raises(ConnectionSettingsError, match="PGPORT"):
        connection_settings("owner")


def test_a_host_name_that_does_not_resolve_for_a_moment_is_tried_again(monkeypatch):
    from recdb.core import connection

    monkeypatch.setattr(connection.time, "sleep", lambda seconds: None)
    failures = [
        OSError("failed to resolve host 'db': [Errno -3] Temporary failure in name resolution")
    ] * 2
    calls = []

    def connect():
        calls.append(1)
        if failures:
            raise failures.pop()
        return "connected"

    assert connection.retry_transient(connect) == "connected"
    assert len(calls) == 3


def test_other_failures_and_the_last_attempt_are_raised_at_once(monkeypatch):
    from recdb.core import connection

    monkeypatch.setattr(connection.time, "sleep", lambda seconds: None)
    calls = []

    def refused():
        calls.append(1)
        raise OSError("connection refused")

    with pytest.raises(OSError, match="refused"):
        connection.retry_transient(refused)
    assert len(calls) == 1

    def never_resolves():
        calls.append(1)
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(OSError, match="name resolution"):
        connection.retry_transient(never_resolves)
    assert len(calls) == 1 + connection.CONNECT_ATTEMPTS
