"""Connection settings: embedded state, bring-your-own PG* variables, URLs."""

from __future__ import annotations

import json

import pytest

from recdb.db.connection import ConnectionSettings, check_role, connection_settings
from recdb.errors import ConnectionSettingsError


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
