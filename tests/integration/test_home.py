"""The project's server is found from any folder inside the project, as git finds its repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recdb.warehouse.server import free_port

pytestmark = pytest.mark.integration

PYTHON_API_SCRIPT = textwrap.dedent(
    """
    import python_api

    with python_api.connect(role="analyst") as wh:
        print(wh.read("select current_user as who, inet_server_port() as port").iloc[0].to_dict())
    """
)


def clean_env() -> dict[str, str]:
    """No PG*, RECDB_* or DBT_* setting: recdb must find the server by itself.

    RECDB_PORT is a free port, so that a command which wrongly starts a server
    never takes the default port of the user's own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "RECDB_", "DBT_"))}
    env["RECDB_PORT"] = str(free_port())
    return env


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def project(fresh_warehouse, tmp_path) -> Path:
    """A temporary recdb project whose .recdb is the test server's home."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "dbt_project.yml").write_text("name: 'recdb'\nversion: '1.0.0'\n")
    (root / ".recdb").symlink_to(fresh_warehouse.home)
    return root


def test_db_url_from_a_subfolder_finds_the_projects_server(fresh_warehouse, project):
    deep = project / "analyses" / "mine"
    deep.mkdir(parents=True)
    result = run([sys.executable, "-m", "recdb.cli", "db", "url", "--role", "analyst"], deep)
    assert result.returncode == 0, result.stderr
    port = fresh_warehouse.server.status().port
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(f"postgresql://recdb_analyst@127.0.0.1:{port}/recdb")


def test_a_python_api_script_from_a_subfolder_finds_the_projects_server(fresh_warehouse, project):
    scripts = project / "scripts" / "nightly"
    scripts.mkdir(parents=True)
    (scripts / "report.py").write_text(PYTHON_API_SCRIPT)
    result = run([sys.executable, "report.py"], scripts)
    assert result.returncode == 0, result.stderr
    port = fresh_warehouse.server.status().port
    assert "'who': 'recdb_analyst'" in result.stdout and f"'port': {port}" in result.stdout


def test_a_python_api_script_outside_any_project_says_so(tmp_path):
    (tmp_path / "report.py").write_text(PYTHON_API_SCRIPT)
    result = run([sys.executable, "report.py"], tmp_path)
    assert result.returncode != 0
    assert "not inside a recdb project" in result.stderr
    assert "RECDB_HOME" in result.stderr


def test_db_start_from_a_subfolder_uses_the_projects_server(fresh_warehouse, project):
    deep = project / "models"
    deep.mkdir()
    before = fresh_warehouse.server.status()
    result = run([sys.executable, "-m", "recdb.cli", "db", "start"], deep)
    assert result.returncode == 0, result.stderr
    assert f"pid {before.pid}" in result.stdout  # the same server, no second cluster
    assert not (deep / ".recdb").exists()
