"""The container stack the container tests use (tests/integration/test_containers.py).

Bringing it up takes minutes (the images, then the pipeline in its container), so it
starts in the background as soon as pytest has collected a container test (conftest.py),
and those tests run last: the stack comes up while the rest of the suite runs. It runs
in a copy of the project under its own compose project name, ports and image tags, so
that it never touches an operator's own stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from recdb.warehouse.server import free_port
from tests.conftest import copy_of_project
from tests.readme_blocks import Block, blocks, script

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "localhost/debian:bookworm"
IMAGES = {
    "api": "localhost/recdb-api:test",
    "pipeline": "localhost/recdb-pipeline:test",
    "db": "localhost/recdb-db:test",
}
GUIDE = "docs/operators.md"


def container_blocks() -> list[Block]:
    """The operators' guide's container blocks: start, analyst, backup, restore."""
    found = [block for block in blocks(document=GUIDE) if block.runs_elsewhere]
    assert len(found) == 4, "the guide's container blocks: start, analyst, backup, restore"
    return found


@dataclass
class Stack:
    """The stack of one compose project, in a copy of the project."""

    folder: Path
    env: dict[str, str]
    api_port: int
    docs_port: int

    @property
    def project(self) -> str:
        return self.env["COMPOSE_PROJECT_NAME"]

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def run(
        self, *args: str, input: str | None = None, timeout: int = 900
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args),
            cwd=self.folder,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def bash(self, text: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return self.run("bash", "-c", text, timeout=timeout)

    def guide(self, block: Block, timeout: int = 900) -> str:
        """Run one of the guide's blocks; its output (the test fails with it, if it fails)."""
        replacements = {
            "127.0.0.1:8000": f"127.0.0.1:{self.api_port}",
            "127.0.0.1:8080": f"127.0.0.1:{self.docs_port}",
        }
        done = self.bash(script([block], replacements=replacements), timeout=timeout)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{block.where} failed:\n{output[-4000:]}"
        return output

    def compose(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "podman-compose"), *args, timeout=timeout)

    def secrets(self) -> dict[str, str]:
        """The .env file the guide's first block wrote."""
        pairs = (line.split("=", 1) for line in (self.folder / ".env").read_text().splitlines())
        return {key: value for key, value in pairs}

    def psql(self, sql: str, *, role: str = "postgres", password: str | None = None) -> str:
        """``sql`` in the database container, as ``role`` over TCP (postgres: the socket)."""
        login = ["-U", role] if password is None else ["-h", "127.0.0.1", "-U", role]
        environment = [] if password is None else ["--env", f"PGPASSWORD={password}"]
        done = self.run(
            "podman", "exec", *environment, self.container("db"),
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *login, "-d", "recdb",
            "-c", sql,
        )  # fmt: skip
        if done.returncode:
            raise AssertionError(done.stderr.strip())
        return done.stdout.strip()

    def exit_code(self, service: str) -> int:
        done = self.run(
            "podman", "inspect", "--format", "{{.State.ExitCode}}", self.container(service)
        )
        return int(done.stdout.strip())

    def logs(self, service: str) -> str:
        done = self.run("podman", "logs", self.container(service))
        return (done.stdout + done.stderr)[-4000:]

    def get(self, path: str, key: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", headers={"X-API-Key": key}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def bootstrap_base() -> dict[str, str]:
    """CI's base image (built once per machine) and the podman settings this machine needs."""
    done = subprocess.run(
        [str(ROOT / ".ci" / "container-base")], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f".ci/container-base failed:\n{done.stderr[-4000:]}"
    last = done.stdout.strip().splitlines()[-1]
    name, _, value = last.removeprefix("export ").partition("=")
    assert name == "CONTAINERS_CONF", last
    return {"CONTAINERS_CONF": value}


def bring_up(folder: Path) -> Stack:
    """Build the images from CI's base and bring the stack up with the operators' guide's
    first container block, in ``folder`` (a copy of the project)."""
    copy_of_project(folder)
    env = {
        **_compose_env(),
        "LANG": "C.UTF-8",
        **bootstrap_base(),
        "RECDB_BASE_IMAGE": BASE_IMAGE,
        "RECDB_API_IMAGE": IMAGES["api"],
        "RECDB_PIPELINE_IMAGE": IMAGES["pipeline"],
        "RECDB_DB_IMAGE": IMAGES["db"],
        "RECDB_DEMO_USERS": "200",
    }
    api_port, docs_port = free_port(), free_port()
    while docs_port == api_port:
        docs_port = free_port()
    env |= {"RECDB_API_PORT": str(api_port), "RECDB_DOCS_PORT": str(docs_port)}
    stack = Stack(folder, env, api_port, docs_port)
    built = stack.run(
        "podman", "build", "--quiet", "--target", "db", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
        "-t", IMAGES["db"], "-f", "Containerfile", ".",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    stack.guide(container_blocks()[0])
    assert stack.exit_code("init") == 0, stack.logs("init")
    assert stack.exit_code("pipeline") == 0, stack.logs("pipeline")
    return stack


_background: dict[str, object] = {}


def start_in_background() -> None:
    """Start :func:`bring_up` in a thread of its own (once)."""
    if "future" in _background:
        return
    folder = Path(tempfile.mkdtemp(prefix="recdb-containers-")) / "recdb"
    folder.mkdir()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="container-stack")
    _background.update(folder=folder, executor=executor, future=executor.submit(bring_up, folder))
    executor.shutdown(wait=False)


def started() -> Stack:
    """The stack, once it is up (started now if nobody started it); raises what bringing
    it up raised."""
    start_in_background()
    future: Future[Stack] = _background["future"]  # type: ignore[assignment]
    return future.result()


def tear_down() -> None:
    """Take the stack down with its volumes and delete its folder (it waits for a stack
    still coming up; one that failed half-way is taken down as far as it came)."""
    future: Future[Stack] | None = _background.pop("future", None)  # type: ignore[assignment]
    if future is None:
        return
    folder: Path = _background.pop("folder")  # type: ignore[assignment]
    try:
        stack = future.result()
    except Exception:  # noqa: BLE001 - the tests report it
        stack = Stack(folder, _compose_env(), 0, 0)
    if (folder / ".env").exists():  # compose.yaml needs the secrets even to go down
        stack.compose("down", "--volumes", timeout=300)
    shutil.rmtree(folder.parent, ignore_errors=True)


def _compose_env() -> dict[str, str]:
    """The stack's environment without its images and ports: enough for `podman-compose
    down`."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "CONTAINERS_CONF": str(ROOT / ".ci" / ".containers" / "containers.conf"),
        "COMPOSE_PROJECT_NAME": f"recdbtest{os.getpid()}",
    }
