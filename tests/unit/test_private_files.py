"""Everything recdb writes under its home is readable by its owner only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from recdb.core.connection import ConnectionSettings
from recdb.core.settings import private_home_mode
from recdb.docs import site as docs
from recdb.warehouse.transform import write_profile


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_dbt_profile_in_the_home_is_private(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("RECDB_HOME", str(home))
    assert write_profile() == home
    assert mode(home) == private_home_mode()
    assert mode(home / "profiles.yml") == 0o600


def test_the_docs_site_in_the_home_is_private(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("RECDB_HOME", str(home))

    def fake_dbt(args, settings=None, callbacks=()):
        # dbt writes with the process's umask (0644 files, 0755 folders)
        target = Path(args[args.index("--target-path") + 1])
        (target / "assets").mkdir(parents=True, exist_ok=True)
        (target / "assets").chmod(0o755)
        (target / "manifest.json").write_text(json.dumps({}))
        (target / "catalog.json").write_text(json.dumps({}))
        (target / "index.html").write_text("<html></html>")
        (target / "assets" / "erd.svg").write_text("<svg/>")
        for path in target.rglob("*"):
            if path.is_file():
                path.chmod(0o644)

    monkeypatch.setattr(docs, "run_dbt", fake_dbt)
    monkeypatch.setattr(docs, "_require_built", lambda settings: None)
    monkeypatch.setattr(docs, "undocumented", lambda manifest, catalog: [])
    monkeypatch.setattr(docs, "stale_erd", lambda manifest: [])
    site = docs.generate(ConnectionSettings("127.0.0.1", 1, "recdb", "recdb_owner", None))
    assert site.path == home / "docs"
    assert mode(home) == private_home_mode()
    assert mode(home / "docs") == 0o700
    assert mode(home / "docs" / "assets") == 0o700
    for name in ("manifest.json", "catalog.json", "index.html", "assets/erd.svg"):
        assert mode(home / "docs" / name) == 0o600, name
