"""The README's examples are executable documentation: they run, in order, as written.

The shell, Python and SQL blocks of README.md run in one bash session in a fresh copy
of the project (what `git clone` gives), with the venv's programs first on PATH (as
after activating it) and no RECDB_HOME: recdb finds its server from the project
folder, as a user's would. `recdb demo` stands in for `make demo` (which is the install,
then `recdb demo`). The only rewrites are the ports: the embedded server's through
RECDB_PORT, and the web API's 8000 in the text, so that servers the user runs on the
default ports do not change the result. Blocks that cannot run in a test say why in a
`<!-- readme-test: skip, ... -->` comment (tests/readme_blocks.py).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from recdb.warehouse.server import free_port
from tests.readme_blocks import PROJECT_DIR, README, RUNNABLE, blocks, script

#: Languages of blocks that are shown, not run (sample outputs, diagrams, config files).
SHOWN = ("text", "toml", "yaml", "json")
MARKER = "@@README"


def test_every_block_says_how_it_is_used():
    for block in blocks():
        assert block.language in RUNNABLE + SHOWN, (
            f"README line {block.line}: give the block a language ({', '.join(RUNNABLE)} run; "
            f"{', '.join(SHOWN)} are shown only)"
        )
        if block.language == "text":
            commands = [
                line
                for line in block.text.splitlines()
                if re.match(r"\s*(\$ |curl |psql |make )", line)
            ]
            assert not commands, f"README line {block.line}: commands in a text block {commands}"


def test_only_a_few_blocks_are_skipped_and_each_says_why():
    runnable = [block for block in blocks() if block.language in RUNNABLE]
    skipped = [block for block in runnable if block.skip]
    assert all(len(block.skip) > 10 for block in skipped)
    assert len(skipped) <= len(runnable) // 4, [b.line for b in skipped]


def test_title_ids_in_the_readme_are_in_the_bundled_catalogue():
    with open(PROJECT_DIR / "seeds" / "netflix" / "titles.csv", encoding="utf-8") as handle:
        known = {row["id"] for row in csv.DictReader(handle)}
    text = README.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\bt[ms]\d+\b", text)) - {"tm0"}  # tm0: an unknown id, shown
    assert mentioned, "the README shows no title id"
    assert mentioned <= known, sorted(mentioned - known)


def _fresh_copy() -> Path:
    """The project's files as a clone would have them (tracked and new, not ignored), in a
    folder the embedded server's system user can reach (not under pytest's private
    basetemp)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = Path(tempfile.mkdtemp(prefix="recdb-readme-")) / "recdb"
    for name in filter(None, listing.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


@pytest.mark.integration
def test_the_readme_runs_as_written():
    runnable = [block for block in blocks() if block.runs]
    api_port = free_port()
    body = script(
        runnable,
        replacements={
            "127.0.0.1:8000": f"127.0.0.1:{api_port}",
            "recdb serve &": f"recdb serve --port {api_port} &",
        },
        marker=MARKER,
    )
    copy = _fresh_copy()
    stop = "recdb db stop >/dev/null 2>&1 || true"
    prelude = (
        f"cd {copy}\n"
        f"trap 'kill $(jobs -p) 2>/dev/null || true; {stop}' EXIT\n"
        f"printf '{MARKER} make demo\\n'\n"
        "recdb demo\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECDB_", "PG"))}
    env["RECDB_PORT"] = str(free_port())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        result = subprocess.run(
            ["bash", "-c", prelude + body],
            env=env,
            cwd=copy,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    if result.returncode != 0:
        markers = re.findall(rf"^{MARKER} (\S+)$", result.stdout, flags=re.M)
        where = markers[-1] if markers else "?"
        pytest.fail(
            f"the README block at line {where} failed (exit {result.returncode}):\n"
            f"--- stdout (end) ---\n{result.stdout[-3000:]}\n"
            f"--- stderr (end) ---\n{result.stderr[-3000:]}"
        )
    ran = re.findall(rf"^{MARKER} (\d+)$", result.stdout, flags=re.M)
    assert [int(line) for line in ran] == [block.line for block in runnable]
