"""``/v1/sessions``: write viewing sessions (and their ratings); a user's sessions."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import psycopg
from fastapi import APIRouter, Body, Request
from psycopg.rows import dict_row
from pydantic import Discriminator, Field, Tag

from python_api import ApiError, NotFoundError, Warehouse
from recdb.core.landing import RATINGS, SESSIONS
from web_api.auth import Reader, Writer
from web_api.errors import ApiHttpError, api_error_to_http
from web_api.routes.common import READ_ERRORS, WRITE_ERRORS, Limit, Offset, database, page
from web_api.routes.users import UserIdPath
from web_api.schemas import MAX_BATCH, SessionCreate, SessionPage, SessionsWritten

router = APIRouter(tags=["sessions"])

_USER_QUERY = "select 1 from marts.dim_users where user_id = %s"
_SESSIONS_QUERY = """
select
    session_id, user_id, title_id, started_at, ended_at,
    minutes_watched::float8 as minutes_watched,
    completion_ratio::float8 as completion_ratio,
    rating, rated_at
from marts.fact_sessions
where user_id = %s
order by started_at desc, session_id desc
limit %s offset %s
"""


def _one_or_many(value: object) -> str:
    return "many" if isinstance(value, list) else "one"


# A discriminated union: a list is validated as a list only, an object as one session only,
# so errors name the fields of the branch that applies (not both).
SessionsBody = Annotated[
    Annotated[SessionCreate, Tag("one")]
    | Annotated[list[SessionCreate], Tag("many"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(_one_or_many),
    Body(description="One session, or a list of up to 10,000."),
]


def _check_ratings(sessions: list[SessionCreate], rows_at: str | None) -> None:
    for number, session in enumerate(sessions):
        prefix = f"{rows_at}[{number}]" if rows_at else "body"
        if (session.rating is None) != (session.rated_at is None):
            missing = "rated_at" if session.rating is not None else "rating"
            raise ApiHttpError(
                422,
                f"{prefix}.{missing}: rating and rated_at go together",
                fields=[{"field": f"{prefix}.{missing}", "message": "required with the other"}],
            )


@router.post(
    "/v1/sessions",
    response_model=SessionsWritten,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Write sessions",
)
async def create_sessions(request: Request, body: SessionsBody, who: Writer) -> dict:
    """Write one session or a list to sim.sessions, and their ratings to sim.ratings, in one
    transaction (python_api: validated; an unknown user or title is a 422 naming the field;
    an existing session id a 409). Reads show them after the next `recdb build`."""
    is_list = isinstance(body, list)
    sessions = body if is_list else [body]
    rows_at = "body" if is_list else None
    _check_ratings(sessions, rows_at)
    records = [s.model_dump() for s in sessions]
    frame = pd.DataFrame(records)
    session_frame = frame[list(SESSIONS.column_names)]
    rated = frame[frame["rating"].notna()]
    rating_frame = rated[list(RATINGS.column_names)].astype({"rating": "int16"})

    def write(wh: Warehouse) -> int:
        with wh.transaction():
            written = wh.write("sessions", session_frame)
            if not rating_frame.empty:
                wh.write("ratings", rating_frame.reset_index(drop=True))
            return written

    try:
        written = await database(request).write(write)
    except NotFoundError as error:
        # A user or title the body refers to: the body is wrong, not the URL.
        http = api_error_to_http(error, rows_at=rows_at)
        raise ApiHttpError(422, str(http.detail), fields=http.fields) from None
    except ApiError as error:
        raise api_error_to_http(error, rows_at=rows_at) from None
    return {"written": written, "sessions": records}


@router.get(
    "/v1/users/{user_id}/sessions",
    response_model=SessionPage,
    responses=READ_ERRORS,
    summary="A user's sessions",
)
async def user_sessions(
    request: Request, who: Reader, user_id: UserIdPath, limit: Limit = 20, offset: Offset = 0
) -> dict:
    """A user's sessions of marts.fact_sessions (as of the last `recdb build`), newest first."""

    async def fetch(conn: psycopg.AsyncConnection) -> list[dict] | None:
        found = await (await conn.execute(_USER_QUERY, [user_id])).fetchone()
        if found is None:
            return None
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(_SESSIONS_QUERY, [user_id, limit + 1, offset])
        return await cursor.fetchall()

    rows = await database(request).read(who.role, fetch)
    if rows is None:
        raise ApiHttpError(404, f"no user {user_id}")
    return page(rows, limit, offset)
