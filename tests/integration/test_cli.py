"""The `recdb` command line, run as a user would, against a real server."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

COMMANDS = [
    [],
    ["db"],
    ["db", "start"],
    ["db", "stop"],
    ["db", "status"],
    ["db", "url"],
    ["db", "env"],
    ["db", "timeouts"],
    ["db", "create-roles"],
    ["db", "wait"],
    ["db", "init"],
    ["load"],
    ["build"],
    ["demo"],
    ["catalog"],
    ["catalog", "generate"],
    ["simulate"],
    ["recommend"],
    ["evaluate"],
    ["tune"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "recdb")
def test_every_command_has_help(fresh_warehouse, command):
    result = fresh_warehouse.recdb(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_status_and_url(fresh_warehouse):
    status = fresh_warehouse.recdb("db", "status")
    assert "running" in status.stdout
    for role in ["owner", "analyst", "scientist"]:
        url = fresh_warehouse.recdb("db", "url", "--role", role).stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://")
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone()[0] == f"recdb_{role}"


def test_start_twice_just_works(fresh_warehouse):
    first = fresh_warehouse.recdb("db", "start")
    second = fresh_warehouse.recdb("db", "start")
    assert "running" in first.stdout and "running" in second.stdout


def test_status_says_stopped_with_exit_code_3(fresh_warehouse):
    fresh_warehouse.recdb("db", "stop")
    try:
        result = fresh_warehouse.recdb("db", "status", check=False)
        assert result.returncode == 3
        assert "stopped" in result.stdout
    finally:
        fresh_warehouse.recdb("db", "start")


def test_load_reports_rows(fresh_warehouse):
    result = fresh_warehouse.recdb("load")
    assert "raw.titles:" in result.stdout and "raw.credits:" in result.stdout


def test_a_bad_file_is_one_clear_line_without_traceback(fresh_warehouse, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(PROJECT_DIR / "seeds" / "netflix", broken)
    credits = broken / "credits.csv"
    lines = credits.read_text().splitlines()
    lines[2] += ",surplus"
    credits.write_text("\n".join(lines) + "\n")
    result = fresh_warehouse.recdb("load", "--from", str(broken), check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "credits.csv, line 3" in result.stderr


def test_unknown_role_is_refused(fresh_warehouse):
    result = fresh_warehouse.recdb("db", "url", "--role", "root", check=False)
    assert result.returncode == 2
    assert "root" in result.stderr


def passwords_of(warehouse) -> list[str]:
    credentials = json.loads((warehouse.home / "credentials.json").read_text())
    return [credentials[role] for role in ("superuser", "owner", "analyst", "scientist")]


def env_without_passwords(warehouse) -> dict[str, str]:
    env = warehouse.env()
    for key in [k for k in env if k.startswith(("PG", "RECDB_")) and k != "RECDB_HOME"]:
        del env[key]
    return env


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
@pytest.mark.parametrize("role", ["owner", "analyst", "scientist"])
def test_url_has_no_password_and_psql_connects_with_it(fresh_warehouse, role):
    url = fresh_warehouse.recdb("db", "url", "--role", role).stdout.strip().splitlines()[-1]
    for password in passwords_of(fresh_warehouse):
        assert password not in url
    assert url.endswith(f"?passfile={fresh_warehouse.home}/pgpass")
    result = subprocess.run(
        ["psql", url, "-XAtc", "select current_user"],
        env=env_without_passwords(fresh_warehouse),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"recdb_{role}"


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_db_env_lets_plain_psql_connect(fresh_warehouse):
    printed = fresh_warehouse.recdb("db", "env", "--role", "analyst").stdout
    for password in passwords_of(fresh_warehouse):
        assert password not in printed
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'eval "$({sys.executable} -m recdb.cli db env --role analyst)" '
            "&& psql -XAtc 'select current_user'",
        ],
        env=env_without_passwords(fresh_warehouse),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "recdb_analyst"


def test_psycopg_connects_with_the_url_alone(fresh_warehouse):
    url = fresh_warehouse.recdb("db", "url", "--role", "scientist").stdout.strip().splitlines()[-1]
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("PG")]}
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone()[0] == "recdb_scientist"
    finally:
        os.environ.update(saved)


def test_demo_prints_how_to_connect_without_any_password(fresh_warehouse):
    result = fresh_warehouse.recdb("demo")
    output = result.stdout + result.stderr
    for password in passwords_of(fresh_warehouse):
        assert password not in output
    psql_lines = [line.strip() for line in result.stdout.splitlines() if "psql " in line]
    assert psql_lines, result.stdout
    url = shlex.split(psql_lines[0])[1]
    assert url.startswith("postgresql://recdb_analyst@127.0.0.1:")
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("PG")]}
    try:
        with psycopg.connect(url) as conn:
            titles = conn.execute("select count(*) from marts.dim_titles").fetchone()[0]
    finally:
        os.environ.update(saved)
    assert titles > 0


def test_after_the_demo_every_example_query_has_rows(fresh_warehouse):
    """`make demo` leaves a warehouse with users, sessions and recommendations, so the
    analysts' guide's example queries answer straight away; a second demo simulates nothing more."""
    fresh_warehouse.recdb("demo")
    for query in sorted((PROJECT_DIR / "analyses").glob("*.sql")):
        rows = fresh_warehouse.query(query.read_text(encoding="utf-8"), role="analyst")
        assert rows, f"{query.name} returns no rows after `recdb demo`"
    users = fresh_warehouse.scalar("select count(*) from marts.dim_users")
    assert users >= 1000
    assert (
        fresh_warehouse.scalar(
            "select count(distinct user_id) from marts.fact_recommendations where run_id = 'demo'"
        )
        == users
    )
    again = fresh_warehouse.recdb("demo")
    assert "nothing simulated" in again.stdout
    assert fresh_warehouse.scalar("select count(*) from marts.dim_users") == users


def test_db_wait_returns_once_the_role_connects_and_the_tables_exist(fresh_warehouse):
    done = fresh_warehouse.recdb("db", "wait", "--role", "scientist", "--table", "sim.users")
    assert done.stdout.strip() == "the warehouse accepts recdb_scientist; sim.users exists"
    refused = fresh_warehouse.recdb("db", "wait", "--role", "analyst", "--table", "sim.users",
                                    check=False)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: cannot look for sim.users as recdb_analyst: permission denied for schema sim"
    )


def test_db_wait_gives_up_in_one_line_naming_what_is_missing(fresh_warehouse):
    done = fresh_warehouse.recdb(
        "db", "wait", "--table", "marts.not_built", "--timeout", "1", check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: gave up waiting after 1 s: marts.not_built not there yet"
