"""Recommendations: a user's list (read, the hot path), and a run's rows written over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Path, Query, Request

from python_api import ApiError, NotFoundError, Warehouse
from web_api.auth import Reader, Writer
from web_api.db import Database
from web_api.errors import ApiHttpError, api_error_to_http
from web_api.routes.common import READ_ERRORS, WRITE_ERRORS, database
from web_api.routes.users import UserIdPath
from web_api.schemas import Deleted, RecommendationBatch, Recommendations, Written

router = APIRouter(tags=["recommendations"])

RunIdPath = Annotated[str, Path(pattern=r"^[\w.:-]{1,64}$", description="A recommender run id.")]

#: One round trip: the user (404 when unknown) left-joined to their list in the newest run
#: (the run with the newest row: a re-run id counts as new). Both lookups are index scans:
#: dim_users' key, and fact_recommendations' key (run_id, user_id, recommendation_rank).
_LIST_QUERY = """
select
    r.run_id,
    r.recommendation_rank,
    r.title_id,
    r.title_name,
    r.title_type,
    r.release_year,
    r.imdb_score::float8,
    r.recommendation_score,
    r.is_cold_start
from marts.dim_users as u
left join marts.fact_recommendations as r
    on r.user_id = u.user_id
    and r.run_id = (
        select newest.run_id from marts.fact_recommendations as newest
        order by newest.loaded_seq desc limit 1
    )
    and r.recommendation_rank <= %s
where u.user_id = %s
order by r.recommendation_rank
"""

#: The recommender's cold-start list (recommender.model.cold_start_list) from the marts:
#: all-time best, then year best, then the rest; within each, by distinct viewers, then id.
_COLD_START_QUERY = """
with viewers as (
    select title_id, count(distinct user_id) as viewers
    from marts.fact_sessions
    group by title_id
),
scored as (
    select
        t.title_id,
        t.title_name,
        t.title_type,
        t.release_year,
        t.imdb_score::float8 as imdb_score,
        case when t.is_all_time_best then 2 when t.is_year_best then 1 else 0 end
        + coalesce(v.viewers, 0)::float8 / (1 + coalesce(max(v.viewers) over (), 0)) as score
    from marts.dim_titles as t
    left join viewers as v on t.title_id = v.title_id
)
select * from scored order by score desc, title_id collate "C" limit 100
"""
COLD_START_SECONDS = 300.0


class ColdStartList:
    """The cold-start list, computed from the marts at most every few minutes per process."""

    def __init__(self) -> None:
        self._rows: list[tuple] | None = None
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def rows(self, db: Database, role: str) -> list[tuple]:
        """Up to 100 (title_id, title_name, title_type, release_year, imdb_score, score)."""
        if self._rows is not None and time.monotonic() - self._at < COLD_START_SECONDS:
            return self._rows
        async with self._lock:
            if self._rows is None or time.monotonic() - self._at >= COLD_START_SECONDS:
                self._rows = await db.rows(role, _COLD_START_QUERY)
                self._at = time.monotonic()
        return self._rows


@router.get(
    "/v1/users/{user_id}/recommendations",
    response_model=Recommendations,
    responses=READ_ERRORS,
    summary="A user's recommendations",
)
async def user_recommendations(
    request: Request,
    who: Reader,
    user_id: UserIdPath,
    k: Annotated[int, Query(ge=1, le=100, description="At most this many titles.")] = 10,
) -> dict:
    """The user's list in the newest recommender run (marts.fact_recommendations, as of the
    last `recdb build`). A user the run has no list for (no history when it ran, or added
    since) gets the cold-start list: best-of lists, then popularity. 404 for an unknown user."""
    db = database(request)
    rows = await db.rows(who.role, _LIST_QUERY, [k, user_id])
    if not rows:
        raise ApiHttpError(404, f"no user {user_id}")
    if rows[0][0] is not None:
        return {
            "user_id": user_id,
            "run_id": rows[0][0],
            "is_cold_start": rows[0][8],
            "items": [
                {
                    "rank": r[1],
                    "title_id": r[2],
                    "title_name": r[3],
                    "title_type": r[4],
                    "release_year": r[5],
                    "imdb_score": r[6],
                    "score": r[7],
                }
                for r in rows
            ],
        }
    cold = await request.app.state.cold_start.rows(db, who.role)
    return {
        "user_id": user_id,
        "run_id": None,
        "is_cold_start": True,
        "items": [
            {
                "rank": rank,
                "title_id": r[0],
                "title_name": r[1],
                "title_type": r[2],
                "release_year": r[3],
                "imdb_score": r[4],
                "score": r[5],
            }
            for rank, r in enumerate(cold[:k], start=1)
        ],
    }


@router.post(
    "/v1/recommendations",
    response_model=Written,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Write recommendations",
)
async def write_recommendations(request: Request, body: RecommendationBatch, who: Writer) -> dict:
    """Write rows of a run to recs.recommendations, all or none (python_api's checks: an
    unknown user or title is a 422 naming the field, an existing (run, user, rank) a 409).
    The recommender's HTTP writer (`recdb recommend --api-url`) sends its runs in batches
    of these."""
    frame = pd.DataFrame([row.model_dump() for row in body.rows])
    frame.insert(0, "run_id", body.run_id)
    frame["rank"] = frame["rank"].astype("int16")
    try:
        written = await database(request).write(lambda wh: wh.write("recommendations", frame))
    except NotFoundError as error:
        http = api_error_to_http(error, rows_at="body.rows")
        raise ApiHttpError(422, str(http.detail), fields=http.fields) from None
    except ApiError as error:
        raise api_error_to_http(error, rows_at="body.rows") from None
    return {"written": written}


@router.delete(
    "/v1/recommendations/{run_id}",
    response_model=Deleted,
    responses=WRITE_ERRORS,
    summary="Delete a run's recommendations",
)
async def delete_run(request: Request, who: Writer, run_id: RunIdPath) -> dict:
    """Delete every row of run `run_id` from recs.recommendations (404 when it has none)."""

    def delete(wh: Warehouse) -> int:
        with wh.transaction():
            found = wh.read(
                "select count(*) as n from recs.recommendations where run_id = %s", [run_id]
            )
            count = int(found["n"].iloc[0])
            if count:
                # Replaced by nothing: python_api swaps in an empty partition at commit
                # (cheap for millions of rows, unlike deleting them key by key).
                wh.replace_run(run_id)
            return count

    try:
        deleted = await database(request).write(delete)
    except ApiError as error:
        raise api_error_to_http(error) from None
    if not deleted:
        raise ApiHttpError(404, f"no recommendations of run {run_id!r}")
    return {"deleted": deleted}
