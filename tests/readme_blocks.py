"""The fenced code blocks of the README and the guides, as the executable-documentation
tests run them.

The README and the guides under ``docs/`` are one piece of executable documentation:
their blocks run in one bash session, document after document in the order of
:data:`DOCUMENTS` (each block's prerequisites come before it), as a reader who follows
the README and then the guides would run them.

A block's language says how it runs: ``sh`` in that bash session (variables and
functions carry over to later blocks, and to the next document, as in a user's
terminal), ``python`` as a script in that session, ``sql`` in psql as the analyst, where
it must return rows. Blocks without one of these languages (sample outputs, diagrams)
are not run.

A block that cannot run in a test says so in an HTML comment on the line
before it, with the reason, which readers of the rendered page do not see::

    <!-- readme-test: skip, needs a server of your own -->
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
README = PROJECT_DIR / "README.md"
#: The executable documents, relative to the project, in the order their blocks run: the
#: README (the demo's data, a recommender run 'weekly'), then the operators' guide (the
#: server, a build that takes that run into the marts), the analysts' (queries of the
#: marts and of that run), the data scientists' (more users, runs, the evaluation) and
#: the web API's (a server over all of it).
DOCUMENTS = (
    "README.md",
    "docs/operators.md",
    "docs/analysts.md",
    "docs/data-scientists.md",
    "docs/api.md",
)
RUNNABLE = ("sh", "python", "sql")
#: The skip reason of blocks that another test runs: the operators' guide's container
#: blocks, which need the container stack (tests/integration/test_containers.py).
RUN_BY_CONTAINER_TESTS = "containers: run by tests/integration/test_containers.py"
_FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(?P<verb>\w+)[,:]?\s*(?P<reason>.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: the document it is in (relative to the project), where it starts
    (1-based line of the opening fence), its language, its text, and why it is skipped
    (None when it runs)."""

    line: int
    language: str
    text: str
    skip: str | None = None
    document: str = "README.md"

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE and self.skip is None

    @property
    def runs_elsewhere(self) -> bool:
        """Skipped here because another test runs it (:data:`RUN_BY_CONTAINER_TESTS`)."""
        return self.language in RUNNABLE and self.skip == RUN_BY_CONTAINER_TESTS

    @property
    def where(self) -> str:
        """``document:line``, as failures name the block."""
        return f"{self.document}:{self.line}"


def blocks(text: str | None = None, *, document: str = "README.md") -> list[Block]:
    """Every fenced block of ``document`` (or of ``text``, named as ``document``), in order."""
    source = (PROJECT_DIR / document).read_text(encoding="utf-8") if text is None else text
    lines = source.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{document} line {index + 1}: a code block is never closed")
        skip = None
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        directive = _DIRECTIVE.match(lines[before].strip()) if before >= 0 else None
        if directive:
            if directive["verb"] != "skip" or not directive["reason"]:
                raise ValueError(
                    f"{document} line {before + 1}: write <!-- readme-test: skip, <why> -->"
                )
            skip = directive["reason"]
        found.append(
            Block(
                line=index + 1,
                language=opening["language"],
                text="\n".join(lines[index + 1 : end]) + "\n",
                skip=skip,
                document=document,
            )
        )
        index = end + 1
    return found


def all_blocks(documents: tuple[str, ...] = DOCUMENTS) -> list[Block]:
    """Every fenced block of ``documents``, document after document, in running order."""
    return [block for document in documents for block in blocks(document=document)]


def fenced(language: str, documents: tuple[str, ...] = DOCUMENTS) -> list[str]:
    """The text of every block in ``language`` of ``documents``."""
    return [block.text for block in all_blocks(documents) if block.language == language]


def script(
    runnable: list[Block], *, replacements: dict[str, str] | None = None, marker: str = "@@README"
) -> str:
    """One bash script running ``runnable`` in order; before each block it prints
    ``<marker> <document>:<line>`` so a failure can be traced to its block.
    ``replacements`` rewrite literal text in the blocks (the test's own ports, say)."""
    parts = ["set -euo pipefail"]
    for number, block in enumerate(runnable):
        text = block.text
        for old, new in (replacements or {}).items():
            text = text.replace(old, new)
        # On a line of its own even after output without a final newline (curl's JSON).
        parts.append(f"printf '\\n{marker} {block.where}\\n'")
        if block.language == "sh":
            parts.append(text)
        elif block.language == "python":
            parts.append(f"python - <<'README_PYTHON_{number}'\n{text}README_PYTHON_{number}")
        elif block.language == "sql":
            parts.append(
                f'rows=$(psql "$(recdb db url --role analyst)" -X -q -A -t -v ON_ERROR_STOP=1 '
                f"<<'README_SQL_{number}'\n{text}README_SQL_{number}\n)\n"
                f'[ -n "$rows" ] || {{ echo "the query returned no rows"; exit 1; }}\n'
                'printf "%s\\n" "$rows" | head -3'
            )
        else:  # pragma: no cover - runnable() keeps only the languages above
            raise AssertionError(block.language)
    return "\n".join(parts) + "\n"
