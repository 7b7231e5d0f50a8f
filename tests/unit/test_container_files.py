"""The container files agree with the project: the API image's requirements are the
project's own, and what `recdb serve` imports is what that image installs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in lines]
    return {requirement.name: requirement for requirement in parsed}


def _api_requirements() -> dict[str, Requirement]:
    text = (ROOT / "containers" / "api-requirements.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    return _requirements([line for line in lines if line and not line.startswith("#")])


def test_the_api_image_installs_the_projects_own_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = _requirements(project["project"]["dependencies"])
    for name, requirement in _api_requirements().items():
        assert name in declared, f"{name} is not a dependency in pyproject.toml"
        assert str(requirement) == str(declared[name]), f"{name}: specifiers differ"


def test_the_web_api_imports_only_what_its_image_installs():
    """`recdb serve` loads web_api and the CLI; neither may import a package the API image
    leaves out (dbt, scipy, the models' libraries, matplotlib): its build would pass and
    the API fail at start."""
    left_out = ["dbt", "scipy", "implicit", "threadpoolctl", "matplotlib", "pyspark"]
    probe = (
        "import sys, web_api.app, recdb.cli, recdb.cli.serving; "
        f"print(','.join(m for m in {left_out!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""
    installed = set(_api_requirements())
    assert not installed & set(left_out)
