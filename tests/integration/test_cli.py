"""The `recdb` command line, run as a user would, against a real server."""

from __future__ import annotations

import shutil

import psycopg
import pytest

pytestmark = pytest.mark.integration

COMMANDS = [
    [],
    ["db"],
    ["db", "start"],
    ["db", "stop"],
    ["db", "status"],
    ["db", "url"],
    ["db", "create-roles"],
    ["db", "init"],
    ["load"],
    ["build"],
    ["demo"],
    ["catalog"],
    ["catalog", "generate"],
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
    from tests.conftest import PROJECT_DIR

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
