"""``/v1/health``: whether the API reaches the database as each role it uses (no key needed)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from web_api.routes.common import database
from web_api.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/v1/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable."}},
    summary="Health",
)
async def health(request: Request) -> JSONResponse:
    """`select 1` as each role the keys map to, within two seconds: 200 when all answer,
    503 otherwise. Needs no key (load balancers call it) and says nothing but `ok` or the
    kind of failure."""
    db = database(request)
    roles = list(db.pools)
    problems = await asyncio.gather(*(db.check(role) for role in roles))
    states = {role: problem or "ok" for role, problem in zip(roles, problems, strict=True)}
    healthy = bool(states) and all(state == "ok" for state in states.values())
    body = {"status": "ok" if healthy else "unavailable", "database": states}
    return JSONResponse(body, status_code=200 if healthy else 503)
