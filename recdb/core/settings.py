"""Where recdb keeps its state, and the names it gives things.

Every path and environment variable the project reads is named here, and this
module alone decides where the project and its home are (as git finds its
repository: from any folder inside the project).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

from recdb.core.errors import HomeError, ProjectNotFoundError

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
#: The home's folder inside a project, when ``$RECDB_HOME`` is not set.
HOME_FOLDER = ".recdb"
#: Inside the home: the server's data directory, private to PostgreSQL's own user.
PGDATA_FOLDER = "pgdata"

_PROJECT_NAME = re.compile(r"""^name:\s*['"]?recdb['"]?\s*(#.*)?$""", re.MULTILINE)


def find_project(start: Path | None = None) -> Path | None:
    """The nearest folder, from ``start`` (default: the working directory) up, that holds
    recdb's ``dbt_project.yml``; None outside any recdb project."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / "dbt_project.yml"
        try:
            if candidate.is_file() and _PROJECT_NAME.search(candidate.read_text(encoding="utf-8")):
                return folder
        except (OSError, UnicodeDecodeError):
            continue  # an unreadable file is not our project; keep looking up
    return None


def _explicit_project() -> Path | None:
    explicit = os.environ.get("RECDB_PROJECT_DIR")
    return Path(explicit).expanduser().absolute() if explicit else None


def recdb_home() -> Path:
    """The folder that holds the embedded server's data, credentials and client files.

    ``$RECDB_HOME`` when set (a relative path is relative to the working
    directory), else ``.recdb`` in the project: ``$RECDB_PROJECT_DIR``, or the
    nearest folder from the working directory up that holds recdb's
    ``dbt_project.yml``. Outside both, raise :class:`ProjectNotFoundError`
    rather than guess: a guessed home would start a second, empty server.
    """
    explicit = os.environ.get("RECDB_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    project = _explicit_project() or find_project()
    if project is None:
        raise ProjectNotFoundError(
            f"not inside a recdb project: no recdb dbt_project.yml in {Path.cwd()} or any "
            "folder above it; cd into the recdb checkout, or set RECDB_HOME to the folder "
            "of its server (the checkout's .recdb)"
        )
    return project / HOME_FOLDER


def project_dir() -> Path:
    """The dbt project folder (the one holding ``dbt_project.yml``).

    ``$RECDB_PROJECT_DIR`` when set, else the nearest folder from the working
    directory up with recdb's ``dbt_project.yml``, else the checkout this
    package was installed from (its models are the same).
    """
    return _explicit_project() or find_project() or Path(__file__).resolve().parents[2]


def port_number(value: str) -> int | None:
    """``value`` as a TCP port number (1 to 65535), or None when it is not one."""
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        return None
    return int(value)


def default_catalog_dir() -> Path:
    """The project's own catalogue: the generated files dbt can also seed."""
    return project_dir() / "seeds" / "netflix"


# -- a private home ------------------------------------------------------------------
def private_home_mode() -> int:
    """The home's mode: its owner's only (0700).

    As root, PostgreSQL runs as an unprivileged system user that must reach
    the data directory inside the home: then others may traverse it, never
    list or read it (0711).
    """
    return 0o711 if os.geteuid() == 0 else 0o700


def ensure_home(home: Path | None = None) -> Path:
    """Create the home (default :func:`recdb_home`) if needed, private
    (:func:`private_home_mode`), and return it."""
    home = (home or recdb_home()).absolute()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        _chmod(home, private_home_mode())
    except OSError as error:
        raise _home_error(home, error) from None
    return home


def tighten_home(home: Path | None = None) -> Path:
    """:func:`ensure_home`, and take group and other permissions off everything in it.

    Folders become 0700 and files 0600 at most, all but the server's data
    directory (PostgreSQL keeps it 0700 itself, owned by its own user when
    run as root). For a home from an older recdb, or files another program
    wrote there with a loose umask. Returns the home.
    """
    home = ensure_home(home)
    try:
        for entry in home.iterdir():
            if entry.name != PGDATA_FOLDER:
                _make_private(entry)
    except OSError as error:
        raise _home_error(home, error) from None
    return home


def _home_error(home: Path, error: OSError) -> HomeError:
    return HomeError(
        f"cannot create or make private recdb's home {home} ({error.strerror}): "
        "check its permissions, or set RECDB_HOME to a folder of yours"
    )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (a folder inside the home) readable by its owner only, and return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _make_private(path)
    return path


def _make_private(path: Path) -> None:
    """Take every group and other permission off ``path`` and, for a folder, its content."""
    if path.is_symlink():
        return  # a link's target is not ours to change
    if path.is_dir():
        _chmod(path, 0o700)
        for child in path.iterdir():
            _make_private(child)
    else:
        _chmod(path, stat.S_IMODE(path.stat().st_mode) & 0o700 | 0o600)


def _chmod(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically by ``text``, readable and writable by its owner only.

    The content goes to a 0600 file beside it first and is renamed over the
    old one, so no reader ever sees a half-written or briefly public file.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # the file may have been left by an earlier crash
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
