"""Every expected failure of every command is one `error:` line and a non-zero exit.

Each command runs as a subprocess, as a user would run it: against a stopped
server, against a home where no server was ever started, and from a folder
outside any recdb project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recdb.warehouse.server import free_port
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

#: Commands that need the warehouse, with {tmp} for a scratch folder.
NEEDS_SERVER = {
    "db init": ["db", "init"],
    "db timeouts": ["db", "timeouts"],
    "load": ["load"],
    "build": ["build"],
    "simulate": ["simulate", "--users", "5"],
    "recommend": ["recommend"],
    "evaluate": ["evaluate", "--out", "{tmp}/evaluation"],
    "tune": ["tune", "--model", "content", "--out", "{tmp}/tuning"],
    "docs": ["docs", "--out", "{tmp}/site"],
}
#: Commands that read the home's state without a server.
NEEDS_STATE = {
    "db url": ["db", "url", "--role", "analyst"],
    "db env": ["db", "env", "--role", "analyst"],
}
#: Commands that create or manage the server itself.
MANAGES_SERVER = {
    "db start": ["db", "start"],
    "db stop": ["db", "stop"],
    "db status": ["db", "status"],
    "demo": ["demo"],
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any PG*, RECDB_* or DBT_* setting, plus ``extra``.

    RECDB_PORT is a free port, so that a command which wrongly starts a server
    never takes the default port of the user's own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "RECDB_", "DBT_"))}
    env["RECDB_PORT"] = str(free_port())
    env.update(extra)
    return env


def run_recdb(args: list[str], env: dict[str, str], cwd: Path, tmp: Path):
    command = [a.format(tmp=tmp) for a in args]
    return subprocess.run(
        [sys.executable, "-m", "recdb.cli", *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def the_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line of a failed command (asserting there is exactly one)."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def stopped_warehouse(fresh_warehouse) -> Iterator:
    """The module's server, stopped for these tests and started again after them."""
    fresh_warehouse.server.stop()
    try:
        yield fresh_warehouse
    finally:
        fresh_warehouse.server.start()


@pytest.mark.parametrize("name", sorted(NEEDS_SERVER))
def test_a_stopped_server_is_one_error_line(stopped_warehouse, tmp_path, name):
    port = stopped_warehouse.server.status().port
    result = run_recdb(
        NEEDS_SERVER[name],
        clean_env(RECDB_HOME=str(stopped_warehouse.home)),
        PROJECT_DIR,
        tmp_path,
    )
    line = the_error_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "recdb db start" in line and str(stopped_warehouse.home) in line
    assert " as recdb_" in line or " as postgres" in line  # the user it tried


@pytest.mark.parametrize("name", sorted(NEEDS_SERVER | NEEDS_STATE))
def test_a_home_without_a_server_is_one_error_line_naming_it(tmp_path, name):
    home = tmp_path / "empty-home"
    home.mkdir()
    result = run_recdb(
        (NEEDS_SERVER | NEEDS_STATE)[name], clean_env(RECDB_HOME=str(home)), PROJECT_DIR, tmp_path
    )
    line = the_error_line(result)
    assert f"no embedded server in {home}" in line
    assert not (home / "pgdata").exists()  # nothing was created on the way


@pytest.mark.parametrize("name", sorted(NEEDS_SERVER | NEEDS_STATE | MANAGES_SERVER))
def test_outside_a_project_is_one_error_line(tmp_path, name):
    outside = tmp_path / "somewhere" / "else"
    outside.mkdir(parents=True)
    commands = NEEDS_SERVER | NEEDS_STATE | MANAGES_SERVER
    result = run_recdb(commands[name], clean_env(), outside, tmp_path)
    line = the_error_line(result)
    assert "not inside a recdb project" in line
    assert "RECDB_HOME" in line
    assert list(outside.iterdir()) == []  # no stray .recdb, no second cluster


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["recommend", "--model", "svd"],
            "error: Invalid value for '--model': 'svd' is not one of 'als', 'bpr', 'item_knn', "
            "'ease', 'content', 'hybrid'.",
        ),
        (
            ["evaluate", "--out", "{tmp}/e", "--model", "svd"],
            "error: Invalid value for '--model': 'svd' is not one of",
        ),
        (
            ["tune", "--model", "ease", "--budget", "0", "--out", "{tmp}/t"],
            "error: Invalid value for '--budget': 0 is not in the range 1<=x<=1000.",
        ),
        (
            ["tune", "--out", "{tmp}/t"],
            "error: Missing option '--model'. Choose from: als, bpr, item_knn, ease, content, "
            "hybrid",
        ),
        (["simulate"], "error: give --users N (how many users to simulate)"),
    ],
)
def test_a_misused_option_is_one_error_line_naming_it_and_what_it_allows(tmp_path, args, message):
    result = run_recdb(args, clean_env(), PROJECT_DIR, tmp_path)
    assert result.returncode == 2
    line = the_error_line(result)
    assert line.startswith(message)
    assert line.endswith(f"(see `python -m recdb.cli {args[0]} --help`)")
