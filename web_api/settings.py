"""The web API's settings: API keys and the roles they map to, limits, pool sizes, timeouts.

Keys come from the environment only (``RECDB_API_KEYS="key:role,key:role"``),
never from a file in the repository. Keys are kept as SHA-256 digests and
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from recdb.core.errors import RecdbError

KEYS_ENV = "RECDB_API_KEYS"
MAX_BODY_ENV = "RECDB_API_MAX_BODY_BYTES"
POOL_SIZE_ENV = "RECDB_API_POOL_SIZE"
MAX_HEADER_ENV = "RECDB_API_MAX_HEADER_BYTES"
LOCK_TIMEOUT_ENV = "RECDB_API_LOCK_TIMEOUT"
COLD_START_REFRESH_ENV = "RECDB_API_COLD_START_REFRESH"
#: The roles a key may map to; the owner is never one (the API must not run DDL).
API_ROLES: tuple[str, ...] = ("analyst", "scientist")
#: The role that may write (sim.* and recs.*, as python_api allows it).
WRITE_ROLE = "scientist"
MIN_KEY_LENGTH = 16
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_POOL_SIZE = 8
#: The request line and headers together (nginx's default is 8 KiB per line, 32 KiB in all).
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
#: Seconds a write waits for a lock (a `recdb build` holds the landing tables) before a 503.
DEFAULT_LOCK_TIMEOUT_S = 2.0
#: Seconds between reloads of marts.cold_start_titles in each worker (in the background).
DEFAULT_COLD_START_REFRESH_S = 60.0


class ApiConfigError(RecdbError):
    """The web API's configuration (keys, limits) is missing or malformed."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its digest (the key itself is not kept) and its role."""

    digest: bytes
    role: str


def parse_api_keys(text: str | None) -> tuple[ApiKey, ...]:
    """``"key:role,key:role"`` as :class:`ApiKey` s; ApiConfigError naming the bad entry.

    Keys are at least 16 characters of letters, digits, ``-``, ``_``, ``.`` or
    ``~`` (they travel in an HTTP header); roles are ``analyst`` or ``scientist``.
    Errors never repeat a key, only its position.
    """
    if text is None or not text.strip():
        raise ApiConfigError(
            f"{KEYS_ENV} is not set: give at least one key, as "
            f'{KEYS_ENV}="<key>:analyst,<key>:scientist" (keys of {MIN_KEY_LENGTH}+ characters, '
            'e.g. from `python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
        )
    keys: list[ApiKey] = []
    seen: set[bytes] = set()
    for number, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        key, colon, role = entry.rpartition(":")
        where = f"{KEYS_ENV}, entry {number}"
        if not entry or not colon or not key:
            raise ApiConfigError(f"{where}: expected <key>:<role>, like abcd…:analyst")
        role = role.strip().lower()
        if role not in API_ROLES:
            raise ApiConfigError(
                f"{where}: role {role!r} is not one of {', '.join(API_ROLES)} "
                "(the API never connects as the owner)"
            )
        if len(key) < MIN_KEY_LENGTH:
            raise ApiConfigError(f"{where}: the key is shorter than {MIN_KEY_LENGTH} characters")
        if not all(c.isascii() and (c.isalnum() or c in "-_.~") for c in key):
            raise ApiConfigError(
                f"{where}: a key may hold only letters, digits, '-', '_', '.' and '~'"
            )
        digest = _digest(key)
        if digest in seen:
            raise ApiConfigError(f"{where}: the same key is given twice")
        seen.add(digest)
        keys.append(ApiKey(digest, role))
    return tuple(keys)


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ApiConfigError(f"{name}: expected a whole number >= 1, got {raw!r}")
    return value


def _positive_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ApiConfigError(f"{name}: expected a number of seconds above 0, like 2.5, got {raw!r}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """What the app needs: keys, size limits, pool sizes, timeouts, and where the server is."""

    keys: tuple[ApiKey, ...]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    pool_size: int = DEFAULT_POOL_SIZE
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S
    cold_start_refresh: float = DEFAULT_COLD_START_REFRESH_S
    #: The embedded server's home (``None``: ``$RECDB_HOME``, or the PG* variables).
    home: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Settings from ``RECDB_API_KEYS``, ``RECDB_API_MAX_BODY_BYTES``,
        ``RECDB_API_POOL_SIZE``, ``RECDB_API_MAX_HEADER_BYTES``, ``RECDB_API_LOCK_TIMEOUT``
        and ``RECDB_API_COLD_START_REFRESH``."""
        environ = os.environ if environ is None else environ
        return cls(
            keys=parse_api_keys(environ.get(KEYS_ENV)),
            max_body_bytes=_positive_int(environ, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES),
            pool_size=_positive_int(environ, POOL_SIZE_ENV, DEFAULT_POOL_SIZE),
            max_header_bytes=_positive_int(environ, MAX_HEADER_ENV, DEFAULT_MAX_HEADER_BYTES),
            lock_timeout=_positive_seconds(environ, LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S),
            cold_start_refresh=_positive_seconds(
                environ, COLD_START_REFRESH_ENV, DEFAULT_COLD_START_REFRESH_S
            ),
        )

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles some key maps to (the only ones the server connects as)."""
        return tuple(r for r in API_ROLES if any(k.role == r for k in self.keys))

    def role_for(self, key: str | None) -> str | None:
        """The role of ``key``, or None when it is not a configured key.

        Every configured digest is compared, in constant time, whatever matches,
        so the time taken says nothing about which key (or how much of it) matched.
        """
        if not key:
            return None
        digest = _digest(key)
        role = None
        for candidate in self.keys:
            if hmac.compare_digest(candidate.digest, digest):
                role = candidate.role
        return role
