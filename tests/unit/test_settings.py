"""Where recdb finds its project and its home, from any folder, and how private the home is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from recdb.core.errors import ConnectionSettingsError, ProjectNotFoundError
from recdb.core.settings import (
    ensure_home,
    find_project,
    private_home_mode,
    project_dir,
    recdb_home,
    tighten_home,
    write_private_text,
)


def make_project(root: Path, name: str = "recdb") -> Path:
    root.mkdir(parents=True)
    (root / "dbt_project.yml").write_text(f"name: '{name}'\nversion: '1.0.0'\n")
    return root


@pytest.fixture
def no_overrides(monkeypatch):
    monkeypatch.delenv("RECDB_HOME", raising=False)
    monkeypatch.delenv("RECDB_PROJECT_DIR", raising=False)


def test_home_is_found_from_a_subfolder_of_the_project(tmp_path, monkeypatch, no_overrides):
    project = make_project(tmp_path / "checkout")
    deep = project / "analyses" / "mine" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_project() == project
    assert recdb_home() == project / ".recdb"
    assert project_dir() == project


def test_a_dbt_project_of_another_name_is_not_recdb(tmp_path, monkeypatch, no_overrides):
    outer = make_project(tmp_path / "outer")
    inner = make_project(outer / "other_dbt", name="jaffle_shop")
    monkeypatch.chdir(inner)
    assert find_project() == outer


def test_outside_any_project_is_one_clear_error(tmp_path, monkeypatch, no_overrides):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectNotFoundError) as raised:
        recdb_home()
    message = str(raised.value)
    assert "\n" not in message
    assert "not inside a recdb project" in message
    assert str(tmp_path) in message
    assert "RECDB_HOME" in message and "cd into" in message
    assert isinstance(raised.value, ConnectionSettingsError)  # python_api turns it into ApiError


def test_recdb_home_wins_absolute_or_relative(tmp_path, monkeypatch, no_overrides):
    project = make_project(tmp_path / "checkout")
    monkeypatch.chdir(project)
    monkeypatch.setenv("RECDB_HOME", str(tmp_path / "elsewhere"))
    assert recdb_home() == tmp_path / "elsewhere"
    monkeypatch.setenv("RECDB_HOME", "relative/home")
    assert recdb_home() == project / "relative" / "home"
    assert recdb_home().is_absolute()


def test_recdb_home_works_outside_any_project(tmp_path, monkeypatch, no_overrides):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECDB_HOME", str(tmp_path / "home"))
    assert recdb_home() == tmp_path / "home"


def test_recdb_project_dir_decides_the_home_too(tmp_path, monkeypatch, no_overrides):
    project = make_project(tmp_path / "checkout")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECDB_PROJECT_DIR", str(project))
    assert recdb_home() == project / ".recdb"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_home_mode_lets_only_the_server_user_traverse():
    expected = 0o711 if os.geteuid() == 0 else 0o700
    assert private_home_mode() == expected
    assert not private_home_mode() & 0o044  # never readable by group or others


def test_ensure_home_creates_a_private_folder(tmp_path):
    home = ensure_home(tmp_path / "a" / "home")
    assert home.is_dir()
    assert mode(home) == private_home_mode()


def test_ensure_home_makes_an_existing_home_private(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    assert ensure_home(home) == home
    assert mode(home) == private_home_mode()


def test_tighten_home_tightens_a_loose_home_and_what_it_holds(tmp_path):
    home = tmp_path / "home"
    (home / "docs" / "assets").mkdir(parents=True)
    (home / "pgdata").mkdir(mode=0o700)
    (home / "pgdata" / "PG_VERSION").write_text("18\n")
    (home / "pgdata" / "PG_VERSION").chmod(0o644)
    for folder in (home, home / "docs", home / "docs" / "assets"):
        folder.chmod(0o755)
    for name in ("credentials.json", "docs/index.html", "docs/assets/erd.svg"):
        (home / name).write_text("{}")
        (home / name).chmod(0o644)
    tighten_home(home)
    assert mode(home) == private_home_mode()
    assert mode(home / "docs") == 0o700
    assert mode(home / "docs" / "assets") == 0o700
    for name in ("credentials.json", "docs/index.html", "docs/assets/erd.svg"):
        assert mode(home / name) == 0o600, name
    # the server's data directory is PostgreSQL's business (initdb keeps it 0700)
    assert mode(home / "pgdata" / "PG_VERSION") == 0o644


def test_write_private_text_is_owner_only_even_over_a_loose_file(tmp_path):
    target = tmp_path / "secret"
    target.write_text("old")
    target.chmod(0o644)
    write_private_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]  # no temporary file left
