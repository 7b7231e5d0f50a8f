"""`make test` on a fresh machine: the programs the tests need besides Python.

`.ci/system-deps` runs first in `make test` (and so in `.ci/run`): as root it installs
what is missing with apt-get; otherwise it names every missing package and how to get it,
and fails before any test runs. Here it runs against a PATH of stand-ins, so the machine's
own programs do not matter.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_DIR / ".ci" / "system-deps"
PACKAGES = {
    "chromium": "chromium",
    "dot": "graphviz",
    "psql": "postgresql-client",
    "curl": "curl",
    "java": "openjdk-17-jre-headless",
    "podman": "podman",
    "runc": "runc",
    "debootstrap": "debootstrap",
}


def _stub(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _run(bin_dir: Path, uid: int) -> subprocess.CompletedProcess:
    _stub(bin_dir, "id", f"echo {uid}")
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_root_it_names_each_missing_package_and_fails_first(tmp_path: Path) -> None:
    _stub(tmp_path, "psql")
    result = _run(tmp_path, uid=1000)
    assert result.returncode == 1
    assert "chromium (Debian package chromium)" in result.stderr
    assert "dot (Debian package graphviz)" in result.stderr
    assert "curl (Debian package curl)" in result.stderr
    assert "postgresql-client" not in result.stderr  # psql is there
    assert "sudo apt-get install chromium graphviz curl" in result.stderr


def test_as_root_it_installs_exactly_what_is_missing(tmp_path: Path) -> None:
    calls = tmp_path / "apt-calls"
    _stub(tmp_path, "dot")
    # The stand-in apt-get records its arguments and "installs" the commands asked for.
    chmod = shutil.which("chmod")
    installs = " ".join(
        f'[ "$p" = {pkg} ] && : > {tmp_path}/{cmd} && {chmod} +x {tmp_path}/{cmd};'
        for cmd, pkg in PACKAGES.items()
    )
    _stub(tmp_path, "apt-get", f'echo "$@" >> {calls}\nfor p in "$@"; do {installs} done\nexit 0')
    result = _run(tmp_path, uid=0)
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "update -qq"
    assert lines[1] == (
        "install -y -qq chromium postgresql-client curl openjdk-17-jre-headless "
        "podman runc debootstrap"
    )


def test_with_everything_present_it_does_nothing(tmp_path: Path) -> None:
    for command in PACKAGES:
        _stub(tmp_path, command)
    _stub(tmp_path, "apt-get", "exit 9")
    result = _run(tmp_path, uid=0)
    assert result.returncode == 0
    assert result.stderr == ""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is what runs this suite")
def test_make_test_checks_the_programs_before_any_test() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/bin/recdb", "test"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    steps = [line.split()[0] for line in dry_run if line.strip()]
    assert ".ci/system-deps" in steps
    assert steps.index(".ci/system-deps") < steps.index(".venv/bin/pytest")
