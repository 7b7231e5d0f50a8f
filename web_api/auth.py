"""``X-API-Key``: who is calling, and whether they may write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from web_api.errors import ApiHttpError
from web_api.settings import WRITE_ROLE, ApiSettings

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key is our 401 JSON, not FastAPI's own 403.
_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from RECDB_API_KEYS: `analyst` keys read, `scientist` keys also write.",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: the PostgreSQL role their key maps to."""

    role: str

    @property
    def may_write(self) -> bool:
        """Whether the caller's role writes (the scientist)."""
        return self.role == WRITE_ROLE


async def caller(request: Request, key: Annotated[str | None, Security(_api_key)]) -> Caller:
    """The caller of a request: 401 without a valid key."""
    settings: ApiSettings = request.app.state.settings
    role = settings.role_for(key)
    if role is None:
        message = f"missing {API_KEY_HEADER} header" if not key else "invalid API key"
        raise ApiHttpError(401, message, headers={"WWW-Authenticate": API_KEY_HEADER})
    return Caller(role)


async def writer(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a write: 403 unless their key may write."""
    if not who.may_write:
        raise ApiHttpError(403, f"the {who.role} key is read-only: writes need a {WRITE_ROLE} key")
    return who


Reader = Annotated[Caller, Depends(caller)]
Writer = Annotated[Caller, Depends(writer)]
