"""The README's and the guides' examples are executable documentation: they run, in order,
as written.

The shell, Python and SQL blocks of README.md and of the guides under docs/ run in one
bash session, document after document in the order of tests/readme_blocks.py's
DOCUMENTS, in a fresh copy of the project (what `git clone` gives), with the venv's
programs first on PATH (as after activating it) and no RECDB_HOME: recdb finds its
server from the project folder, as a user's would. `recdb demo` stands in for `make
demo` (which is the install, then `recdb demo`). The only rewrites are the ports: the
embedded server's through RECDB_PORT, and the web API's 8000 in the text, so that
servers the user runs on the default ports do not change the result. Blocks that cannot
run in a test say why in a `<!-- readme-test: skip, ... -->` comment
(tests/readme_blocks.py). A failure names the document and line of its block.

Without a database: every block says how it is used, few are skipped, the title ids
shown are in the bundled catalogue, and every relative link between the README and the
guides leads to a file and heading that exist.
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
from tests.conftest import copy_of_project
from tests.readme_blocks import (
    DOCUMENTS,
    PROJECT_DIR,
    RUNNABLE,
    Block,
    all_blocks,
    blocks,
    script,
)

#: Languages of blocks that are shown, not run (sample outputs, diagrams, config files).
SHOWN = ("text", "toml", "yaml", "json")
MARKER = "@@README"


def test_the_documents_are_the_readme_and_every_guide():
    guides = sorted(str(path.relative_to(PROJECT_DIR)) for path in PROJECT_DIR.glob("docs/*.md"))
    assert DOCUMENTS[0] == "README.md"
    assert sorted(DOCUMENTS[1:]) == guides, "list every guide in DOCUMENTS, in running order"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_block_says_how_it_is_used(document):
    for block in blocks(document=document):
        assert block.language in RUNNABLE + SHOWN, (
            f"{document} line {block.line}: give the block a language "
            f"({', '.join(RUNNABLE)} run; {', '.join(SHOWN)} are shown only)"
        )
        if block.language == "text":
            commands = [
                line
                for line in block.text.splitlines()
                if re.match(r"\s*(\$ |curl |psql |make )", line)
            ]
            assert not commands, (
                f"{document} line {block.line}: commands in a text block {commands}"
            )


@pytest.mark.parametrize("document", DOCUMENTS)
def test_each_skipped_block_says_why_and_each_document_runs_a_block(document):
    runnable = [block for block in blocks(document=document) if block.language in RUNNABLE]
    assert all(len(block.skip) > 10 for block in runnable if block.skip)
    assert any(block.runs for block in runnable), f"{document} runs no example"


def test_only_a_few_blocks_are_skipped():
    runnable = [block for block in all_blocks() if block.language in RUNNABLE]
    skipped = [block for block in runnable if block.skip and not block.runs_elsewhere]
    assert len(skipped) <= len(runnable) // 4, [block.where for block in skipped]


def test_title_ids_in_the_docs_are_in_the_bundled_catalogue():
    with open(PROJECT_DIR / "seeds" / "netflix" / "titles.csv", encoding="utf-8") as handle:
        known = {row["id"] for row in csv.DictReader(handle)}
    mentioned: dict[str, set[str]] = {}
    for document in DOCUMENTS:
        text = (PROJECT_DIR / document).read_text(encoding="utf-8")
        ids = set(re.findall(r"\bt[ms]\d+\b", text)) - {"tm0"}  # tm0: an unknown id, shown
        mentioned[document] = ids
    assert set().union(*mentioned.values()), "the docs show no title id"
    for document, ids in mentioned.items():
        assert ids <= known, f"{document}: {sorted(ids - known)}"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than ``-`` and
    ``_`` dropped (code spans' backticks too), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a markdown document's headings (outside code blocks); a repeated
    heading's anchor gets GitHub's ``-1``, ``-2``... suffix."""
    found: set[str] = set()
    for line in prose(text).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            anchor = github_anchor(heading[1])
            suffix = 0
            while (f"{anchor}-{suffix}" if suffix else anchor) in found:
                suffix += 1
            found.add(f"{anchor}-{suffix}" if suffix else anchor)
    return found


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (their lines left blank) and HTML comments."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return "\n".join(lines)


def relative_links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every markdown link and image outside code that is not a URL."""
    found = []
    for number, line in enumerate(prose(text).splitlines(), start=1):
        line = re.sub(r"`[^`]*`", "``", line)  # inline code is not a link
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                found.append((number, target))
    return found


@pytest.mark.parametrize("document", DOCUMENTS)
def test_relative_links_lead_to_files_and_headings_that_exist(document):
    source = PROJECT_DIR / document
    links = relative_links(source.read_text(encoding="utf-8"))
    broken = []
    for line, target in links:
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        if not linked.exists():
            broken.append(f"{document} line {line}: {target}: no such file")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{document} line {line}: {target}: no such heading")
    assert not broken, "\n".join(broken)


def test_the_link_check_finds_headings_and_links():
    text = "# A `b`: c\n## A `b`: c\n```sh\n# not a heading\n```\nsee [x](y.md#z), `[u](v)`\n"
    assert anchors(text) == {"a-b-c", "a-b-c-1"}
    assert relative_links(text + "[w](https://example.com) ![e](erd.svg)\n") == [
        (6, "y.md#z"),
        (7, "erd.svg"),
    ]


def test_the_script_marks_each_block_with_its_document_and_line():
    ran = Block(line=12, language="sh", text="true\n", document="docs/api.md")
    assert "printf '\\n@@README docs/api.md:12\\n'" in script([ran], marker=MARKER)


def test_a_malformed_skip_is_named_by_document_and_line():
    text = "<!-- readme-test: run -->\n```sh\ntrue\n```\n"
    with pytest.raises(ValueError, match=r"^docs/api\.md line 1: write"):
        blocks(text, document="docs/api.md")


def _fresh_copy() -> Path:
    """The project as a clone would have it, in a folder the embedded server's system user
    can reach (not under pytest's private basetemp)."""
    return copy_of_project(Path(tempfile.mkdtemp(prefix="recdb-readme-")) / "recdb")


@pytest.mark.integration
def test_the_examples_of_the_readme_and_the_guides_run_as_written():
    runnable = [block for block in all_blocks() if block.runs]
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
        markers = re.findall(rf"^{MARKER} (.+)$", result.stdout, flags=re.M)
        where = markers[-1] if markers else "?"
        pytest.fail(
            f"the block at {where} failed (exit {result.returncode}):\n"
            f"--- stdout (end) ---\n{result.stdout[-3000:]}\n"
            f"--- stderr (end) ---\n{result.stderr[-3000:]}"
        )
    ran = re.findall(rf"^{MARKER} (\S+:\d+)$", result.stdout, flags=re.M)
    assert ran == [block.where for block in runnable]
