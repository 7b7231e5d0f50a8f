"""What the routes share: documented error responses, the app's state, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Query, Request
from psycopg import sql
from pydantic import BaseModel

from recdb.core.landing import LandingTable
from web_api.db import Database
from web_api.errors import ApiHttpError
from web_api.schemas import MAX_TEXT, NO_NUL, ErrorResponse

_DESCRIPTIONS = {
    401: "No `X-API-Key` header, or an unknown key.",
    403: "The key's role may not do this (an analyst key on a write).",
    404: "No such resource.",
    409: "A key that already exists, or a row still referenced.",
    413: "The request body is over the size limit.",
    422: "A bad payload or parameter; `fields` names each one.",
    503: "The database is unavailable; or, with `Retry-After`, a write waited too long "
    "for a lock (a `recdb build` running): retry after that many seconds.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the error body's schema."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}


READ_ERRORS = errors(401, 404, 422, 503)
WRITE_ERRORS = errors(401, 403, 404, 409, 413, 422, 503)


def database(request: Request) -> Database:
    """The app's :class:`Database`."""
    return request.app.state.db


Limit = Annotated[int, Query(ge=1, le=100, description="Items per page.")]
#: A search's ``q``: any part of a name, matched in any case (see :func:`like_pattern`).
NameWords = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL, description="Words in the name."),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]


def next_offset(rows: list[Any], limit: int, offset: int) -> int | None:
    """The next page's offset when a ``limit + 1`` query found one more row, else None."""
    return offset + limit if len(rows) > limit else None


def like_pattern(text: str) -> str:
    """``%text%`` for ILIKE, with the text's own ``\\``, ``%`` and ``_`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(conditions: list[str]) -> sql.Composable:
    """``where`` and the fixed ``conditions`` joined by ``and`` (none: nothing); their
    values are bound as parameters."""
    if not conditions:
        return sql.SQL("")
    return sql.SQL("where ") + sql.SQL(" and ").join(map(sql.SQL, conditions))


def page(rows: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """A page of a ``limit + 1`` query's ``rows``: its items, and where the next one starts."""
    return {
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": next_offset(rows, limit, offset),
    }


#: Each route's query parameter names (the route's own attribute: routes are not hashable).
_NAMES_ATTRIBUTE = "_recdb_query_names"


def _query_names(dependant: Any) -> Iterator[str]:
    """The query parameters of an endpoint and of its dependencies."""
    for param in dependant.query_params:
        yield param.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is a 422 (``?gnere=drama`` must not
    silently return every genre)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    known = getattr(route, _NAMES_ATTRIBUTE, None)
    if known is None:
        known = frozenset(_query_names(route.dependant))
        setattr(route, _NAMES_ATTRIBUTE, known)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ApiHttpError(
            422,
            f"unknown query parameter {unknown[0]!r}; this path takes: {takes}",
            fields=[{"field": f"query.{name}", "message": "unknown parameter"} for name in unknown],
        )


def patch_changes(body: BaseModel, table: LandingTable) -> dict[str, Any]:
    """The fields a PATCH body sets, or a 422: none set, or null where ``table`` needs a
    value."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise ApiHttpError(
            422,
            "nothing to change: give at least one field",
            fields=[{"field": "body", "message": "no fields given"}],
        )
    for name, value in changes.items():
        if value is None and not table.column(name).nullable:
            raise ApiHttpError(
                422,
                f"body.{name} may not be null",
                fields=[{"field": f"body.{name}", "message": "may not be null"}],
            )
    return changes
