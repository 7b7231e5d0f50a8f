"""The packages' floors (pyproject.toml's import-linter contract): no cycle, nothing upward."""

from __future__ import annotations

import contextlib
import io
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

import recdb

PROJECT_DIR = Path(__file__).resolve().parents[2]


def floors() -> list[str]:
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def test_no_package_imports_a_floor_above_its_own():
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        exit_code = lint_imports(config_filename=str(PROJECT_DIR / "pyproject.toml"), no_cache=True)
    assert exit_code == 0, report.getvalue()


def test_every_part_of_recdb_stands_on_a_floor():
    """A module of recdb outside the contract's floors would escape it."""
    parts = {
        f"recdb.{path.stem if path.is_file() else path.name}"
        for path in Path(recdb.__file__).parent.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert parts <= set(floors()), parts - set(floors())
