"""The suite's result does not depend on the shell that runs it.

A user who ran `make demo` has the demo server on the default port and may have
exported RECDB_PORT, RECDB_HOME, PGHOST and friends. Tests that start servers
and run `recdb` are run here in a pytest of their own under such a shell, and
must pass as they do in a clean one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recdb.core.settings import DEFAULT_PORT
from recdb.warehouse.server import free_port

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
#: Tests that start and restart servers, and run `recdb db start` as a subprocess.
SELECTION = [
    "tests/integration/test_server.py::test_stop_then_start",
    "tests/integration/test_cli.py::test_start_twice_just_works",
    "tests/integration/test_cli.py::test_status_and_url",
]


@pytest.fixture
def busy_ports() -> Iterator[list[int]]:
    """The default port and another one, each taken by a listener, as the user's servers."""
    listeners, ports = [], []
    for port in (DEFAULT_PORT, free_port()):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", port))
            listener.listen()
        except OSError:  # already taken: by the user's own demo server, say
            listener.close()
        else:
            listeners.append(listener)
        ports.append(port)
    try:
        yield ports
    finally:
        for listener in listeners:
            listener.close()


def test_the_users_settings_and_servers_change_nothing(busy_ports, tmp_path):
    users_home = tmp_path / "users-home"
    users_home.mkdir()
    (users_home / "server.json").write_text(json.dumps({"port": busy_ports[0]}))
    (users_home / "credentials.json").write_text('{"owner": "not-this-one"}')
    hostile = {
        **os.environ,
        "RECDB_PORT": str(busy_ports[1]),
        "RECDB_HOME": str(users_home),
        "RECDB_PROJECT_DIR": str(tmp_path / "elsewhere"),
        "RECDB_OWNER_PASSWORD": "the-users-own",
        "RECDB_API_KEYS": "not-a-valid-entry",
        "PGHOST": "192.0.2.1",  # TEST-NET-1: nothing answers there
        "PGPORT": str(busy_ports[0]),
        "PGUSER": "someone",
        "PGPASSWORD": "secret",
        "PGDATABASE": "theirs",
        "DBT_TARGET_PATH": str(tmp_path / "their-target"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTION],
        cwd=PROJECT_DIR,
        env=hostile,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(SELECTION)} passed" in result.stdout
    assert (users_home / "credentials.json").read_text() == '{"owner": "not-this-one"}'
