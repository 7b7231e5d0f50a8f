"""The README's fenced code blocks, as the executable-documentation tests run them.

A block's language says how it runs: ``sh`` in one bash session (variables and
functions carry over to later blocks, as in a user's terminal), ``python`` as a
script in that session, ``sql`` in psql as the analyst, where it must return rows.
Blocks without one of these languages (sample outputs, diagrams) are not run.

A block that cannot run in a test says so in an HTML comment on the line
before it, with the reason, which readers of the rendered README do not see::

    <!-- readme-test: skip, needs a server of your own -->
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
README = PROJECT_DIR / "README.md"
RUNNABLE = ("sh", "python", "sql")
_FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(?P<verb>\w+)[,:]?\s*(?P<reason>.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts (1-based line of the opening fence), its language,
    its text, and why it is skipped (None when it runs)."""

    line: int
    language: str
    text: str
    skip: str | None = None

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE and self.skip is None


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README (or of ``text``), in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
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
            raise ValueError(f"README line {index + 1}: a code block is never closed")
        skip = None
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        directive = _DIRECTIVE.match(lines[before].strip()) if before >= 0 else None
        if directive:
            if directive["verb"] != "skip" or not directive["reason"]:
                raise ValueError(
                    f"README line {before + 1}: write <!-- readme-test: skip, <why> -->"
                )
            skip = directive["reason"]
        found.append(
            Block(
                line=index + 1,
                language=opening["language"],
                text="\n".join(lines[index + 1 : end]) + "\n",
                skip=skip,
            )
        )
        index = end + 1
    return found


def fenced(language: str) -> list[str]:
    """The text of every README block in ``language``."""
    return [block.text for block in blocks() if block.language == language]


def script(
    runnable: list[Block], *, replacements: dict[str, str] | None = None, marker: str = "@@README"
) -> str:
    """One bash script running ``runnable`` in order; before each block it prints
    ``<marker> <line>`` so a failure can be traced to its block. ``replacements``
    rewrite literal text in the blocks (the test's own ports, say)."""
    parts = ["set -euo pipefail"]
    for number, block in enumerate(runnable):
        text = block.text
        for old, new in (replacements or {}).items():
            text = text.replace(old, new)
        # On a line of its own even after output without a final newline (curl's JSON).
        parts.append(f"printf '\\n{marker} {block.line}\\n'")
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
