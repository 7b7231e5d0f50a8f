"""Least privilege, proven on a built warehouse: analysts read raw and marts, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

DENIED_STATEMENTS = {
    "insert": "insert into {table} select * from {table} limit 1",
    "update": "update {table} set {column} = {column}",
    "delete": "delete from {table}",
    "truncate": "truncate {table}",
    "create": "create table {schema}.analyst_scratch (x int)",
    "drop": "drop table {table}",
    "alter": "alter table {table} add column scratch int",
}
TABLES = [("raw", "titles", "title"), ("marts", "dim_titles", "title_name")]


@pytest.mark.parametrize("schema, table, column", TABLES)
@pytest.mark.parametrize("action", sorted(DENIED_STATEMENTS))
def test_analyst_cannot_write_or_change(built_warehouse, schema, table, column, action):
    statement = DENIED_STATEMENTS[action].format(
        table=f"{schema}.{table}", schema=schema, column=column
    )
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


@pytest.mark.parametrize("schema", ["public", "raw", "marts"])
def test_analyst_cannot_create_in_any_schema(built_warehouse, schema):
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(f"create view {schema}.analyst_view as select 1 as x")


def test_analyst_cannot_create_a_schema(built_warehouse):
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("create schema analyst_schema")


@pytest.mark.parametrize("role", ["analyst", "scientist"])
def test_readers_read_raw_and_every_mart(built_warehouse, role):
    marts = [
        r[0]
        for r in built_warehouse.query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    ]
    assert "dim_titles" in marts
    for schema, table in [("raw", "titles"), ("raw", "credits")] + [("marts", m) for m in marts]:
        count = built_warehouse.scalar(f"select count(*) from {schema}.{table}", role=role)
        assert count >= 0


@pytest.mark.parametrize("role", ["analyst", "scientist"])
def test_readers_do_not_see_dbt_inner_layers(built_warehouse, role):
    with (
        built_warehouse.connect(role) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("select * from staging.stg_netflix__titles limit 1")


def test_scientist_cannot_write_the_warehouse(built_warehouse):
    with (
        built_warehouse.connect("scientist") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("delete from marts.dim_titles")


USER_ROW = (
    "insert into sim.users (user_id, signup_at, birth_year, gender, country_code, plan) "
    "values (987654321, '2024-01-01', 1990, 'female', 'FR', 'basic')"
)


@pytest.mark.parametrize(
    "statement",
    [
        "insert into sim.users (user_id, signup_at, birth_year, gender, country_code, plan, "
        "written_xid) values (987654321, '2024-01-01', 1990, 'female', 'FR', 'basic', 0)",
        "update sim.users set written_xid = 0",
        "insert into sim.deleted_sessions (session_id, user_id, written_xid) values (1, 1, 0)",
        "delete from sim.deleted_sessions",
    ],
)
def test_scientist_cannot_set_the_stamp_builds_find_changes_by(built_warehouse, statement):
    """An old stamp would hide a row from the next incremental build, for good."""
    with (
        built_warehouse.connect("scientist") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_every_write_stamps_the_row_with_its_transaction(built_warehouse):
    with built_warehouse.connect("scientist") as conn:
        try:
            conn.execute(USER_ROW)
            inserted, current = conn.execute(
                "select written_xid, pg_current_xact_id()::text::bigint "
                "from sim.users where user_id = 987654321"
            ).fetchone()
            assert inserted == current
            conn.commit()
            conn.execute("update sim.users set plan = 'premium' where user_id = 987654321")
            updated, current = conn.execute(
                "select written_xid, pg_current_xact_id()::text::bigint "
                "from sim.users where user_id = 987654321"
            ).fetchone()
            assert updated == current > inserted
            conn.commit()
        finally:
            conn.rollback()
            conn.execute("delete from sim.users where user_id = 987654321")
            conn.commit()


# -- temporary objects and session timeouts ------------------------------------------
DEFAULT_TIMEOUTS = {
    "analyst": {"statement_timeout": "5min", "idle_in_transaction_session_timeout": "10min"},
    "scientist": {"statement_timeout": "1h", "idle_in_transaction_session_timeout": "30min"},
}


def test_analyst_cannot_create_temporary_tables(built_warehouse):
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary"),
    ):
        conn.execute("create temp table scratch (x int)")


def test_scientist_can_create_temporary_tables(built_warehouse):
    with built_warehouse.connect("scientist") as conn:
        conn.execute("create temp table scratch (x int)")
        conn.execute("insert into scratch values (1)")
        assert conn.execute("select count(*) from scratch").fetchone()[0] == 1


@pytest.mark.parametrize("role", sorted(DEFAULT_TIMEOUTS))
def test_reader_sessions_have_default_timeouts(built_warehouse, role):
    for setting, expected in DEFAULT_TIMEOUTS[role].items():
        assert built_warehouse.scalar(f"show {setting}", role=role) == expected


def test_the_owner_has_no_timeouts(built_warehouse):
    assert built_warehouse.scalar("show statement_timeout") == "0"
    assert built_warehouse.scalar("show idle_in_transaction_session_timeout") == "0"


def superuser(warehouse):
    return warehouse.server.superuser_settings()


def role_config(warehouse, role: str) -> dict[str, str]:
    with superuser(warehouse).connect() as conn:
        config = conn.execute(
            "select coalesce(rolconfig, '{}') from pg_roles where rolname = %s",
            (f"recdb_{role}",),
        ).fetchone()[0]
    return dict(item.split("=", 1) for item in config)


def test_a_query_past_the_statement_timeout_is_cancelled(fresh_warehouse):
    fresh_warehouse.recdb("db", "timeouts", "--role", "analyst", "--statement", "1s")
    try:
        assert role_config(fresh_warehouse, "analyst")["statement_timeout"] == "1s"
        with (
            fresh_warehouse.connect("analyst") as conn,
            pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"),
        ):
            conn.execute("select pg_sleep(5)")
    finally:
        fresh_warehouse.recdb("db", "timeouts", "--role", "analyst", "--statement", "5min")
    assert fresh_warehouse.scalar("show statement_timeout", role="analyst") == "5min"


def test_timeouts_command_shows_the_current_values(fresh_warehouse):
    shown = fresh_warehouse.recdb("db", "timeouts").stdout
    lines = {line.split()[0]: line.split()[1:] for line in shown.splitlines() if line.strip()}
    assert lines["analyst"] == ["5min", "10min"]
    assert lines["scientist"] == ["1h", "30min"]
    one = fresh_warehouse.recdb("db", "timeouts", "--role", "scientist").stdout
    assert "scientist" in one and "analyst" not in one


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--statement", "5 parsecs"], "--statement"),
        (["--statement", "5min"], "--role"),  # which role is not obvious: ask
        (["--role", "owner", "--statement", "5min"], "owner"),
    ],
)
def test_timeouts_command_refuses_bad_input(fresh_warehouse, args, problem):
    result = fresh_warehouse.recdb("db", "timeouts", *args, check=False)
    assert result.returncode != 0
    assert problem in result.stderr and "Traceback" not in result.stderr


def test_start_applies_the_guardrails_to_an_older_server_without_clobbering(fresh_warehouse):
    """A server bootstrapped before the guardrails: the next start adds the missing ones."""
    with superuser(fresh_warehouse).connect(autocommit=True) as conn:
        conn.execute("alter role recdb_analyst reset all")
        conn.execute("alter role recdb_scientist reset all")
        conn.execute("alter role recdb_scientist set statement_timeout = '2h'")
        conn.execute("grant temporary on database recdb to recdb_analyst")
    fresh_warehouse.server.start()  # running already: start still applies them
    assert role_config(fresh_warehouse, "analyst") == DEFAULT_TIMEOUTS["analyst"]
    assert role_config(fresh_warehouse, "scientist") == {
        "statement_timeout": "2h",  # the user's own value stays
        "idle_in_transaction_session_timeout": "30min",
    }
    with (
        fresh_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("create temp table scratch (x int)")
    fresh_warehouse.recdb("db", "timeouts", "--role", "scientist", "--statement", "1h")


def test_create_roles_on_your_own_server_sets_the_guardrails(fresh_warehouse):
    """`recdb db create-roles` against a server that is not recdb's own (PGHOST set)."""
    credentials = json.loads((fresh_warehouse.home / "credentials.json").read_text())
    with superuser(fresh_warehouse).connect(autocommit=True) as conn:
        conn.execute("alter role recdb_analyst reset all")
    admin = superuser(fresh_warehouse)
    env = fresh_warehouse.env()
    env.update(
        PGHOST=admin.host,
        PGPORT=str(admin.port),
        PGUSER=admin.user,
        PGPASSWORD=admin.password,
        PGDATABASE="postgres",
        RECDB_OWNER_PASSWORD=credentials["owner"],
        RECDB_ANALYST_PASSWORD=credentials["analyst"],
        RECDB_SCIENTIST_PASSWORD=credentials["scientist"],
    )
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", "db", "create-roles"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert role_config(fresh_warehouse, "analyst") == DEFAULT_TIMEOUTS["analyst"]


def test_scientist_writes_through_python_api_temp_tables_and_all(fresh_warehouse, monkeypatch):
    import pandas as pd

    import python_api

    monkeypatch.setenv("RECDB_HOME", str(fresh_warehouse.home))
    users = pd.DataFrame(
        {
            "user_id": [1, 2],
            "signup_at": pd.to_datetime(["2024-01-05", "2024-02-11"], utc=True),
            "birth_year": [1990, 1985],
            "gender": ["female", "male"],
            "country_code": ["US", "FR"],
            "plan": ["basic", "premium"],
        }
    )
    with python_api.connect(role="scientist") as wh:
        wh.write("users", users)
        wh.write("users", users.assign(plan="standard"), upsert=True)  # staged in a temp table
    plans = fresh_warehouse.query("select plan from sim.users order by user_id")
    assert plans == [("standard",), ("standard",)]


@pytest.mark.parametrize("command", [["load"], ["build"], ["db", "init"]])
def test_running_the_owners_commands_as_a_reader_is_one_error_line(fresh_warehouse, command):
    """Your own server with PGUSER set to a reader by mistake: say so, no traceback."""
    analyst = fresh_warehouse.settings("analyst")
    env = fresh_warehouse.env()
    env.update(
        PGHOST=analyst.host,
        PGPORT=str(analyst.port),
        PGDATABASE=analyst.dbname,
        PGUSER=analyst.user,
        PGPASSWORD=analyst.password,
    )
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", *command],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "recdb_analyst" in errors[0] and "owner" in errors[0]
