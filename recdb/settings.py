"""Where recdb keeps its state, and the names it gives things.

Every path and environment variable the project reads is named here.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The PostgreSQL roles of the warehouse, by the name users pick them with.
ROLE_NAMES: dict[str, str] = {
    "owner": "recdb_owner",
    "analyst": "recdb_analyst",
    "scientist": "recdb_scientist",
}
ROLES: tuple[str, ...] = tuple(ROLE_NAMES)
DATABASE_NAME = "recdb"
SUPERUSER_NAME = "postgres"
DEFAULT_PORT = 54320


def recdb_home() -> Path:
    """The folder that holds the embedded server's data and credentials.

    ``$RECDB_HOME`` when set, else ``.recdb`` in the working directory.
    """
    return Path(os.environ.get("RECDB_HOME") or Path.cwd() / ".recdb").absolute()


def project_dir() -> Path:
    """The dbt project folder (the one holding ``dbt_project.yml``).

    ``$RECDB_PROJECT_DIR`` when set, else the nearest parent of the working
    directory with recdb's ``dbt_project.yml``, else the checkout this package
    was installed from.
    """
    explicit = os.environ.get("RECDB_PROJECT_DIR")
    if explicit:
        return Path(explicit).absolute()
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "dbt_project.yml"
        if candidate.is_file() and "name: recdb" in candidate.read_text(encoding="utf-8"):
            return folder
    return Path(__file__).resolve().parent.parent


def default_catalog_dir() -> Path:
    """The project's own catalogue: the generated files dbt can also seed."""
    return project_dir() / "seeds" / "netflix"
