"""Recommendations: a user's list (read, the hot path), and a run's rows written over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

import pandas as pd
import psycopg
from fastapi import APIRouter, Path, Query, Request

from python_api import ApiError, ConflictError, NotFoundError, Warehouse
from recdb.core.landing import RUNS
from web_api.auth import Reader, Writer
from web_api.db import Database
from web_api.errors import ApiHttpError, api_error_to_http
from web_api.routes.common import READ_ERRORS, WRITE_ERRORS, database
from web_api.routes.users import UserIdPath
from web_api.schemas import (
    Deleted,
    RecommendationBatch,
    Recommendations,
    RunBegun,
    RunPublished,
    RunToBegin,
    Written,
    path_field,
)
from web_api.settings import WRITE_ROLE

logger = logging.getLogger(__name__)
router = APIRouter(tags=["recommendations"])

RunIdPath = Annotated[str, Path(**path_field(RUNS, "run_id"))]

#: One round trip: the user (404 when unknown) left-joined to their list in the newest
#: published run (dim_recommendation_runs; a re-published id counts as new). Index scans:
#: dim_users' key, then recs.recommendations' key (run_id, user_id: the user's list,
#: unnested) under the fact_recommendations view, and dim_titles' for each title.
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
    r.is_cold_start,
    r.run_published_at
from marts.dim_users as u
left join marts.fact_recommendations as r
    on r.user_id = u.user_id
    and r.run_id = (
        select newest.run_id from marts.dim_recommendation_runs as newest
        order by newest.run_published_at desc limit 1
    )
    and r.recommendation_rank <= %s
where u.user_id = %s
order by r.recommendation_rank
"""

#: The retired titles (sim.retired_titles: at once), and as the marts have them (the last
#: build's), for a server that has no scientist key to read the former with.
_RETIRED_QUERY = "select title_id from sim.retired_titles"
_RETIRED_IN_MARTS_QUERY = "select title_id from marts.dim_titles where is_retired"
#: The most titles of a list (recs.recommendations' check: ranks 1 to 1000).
MAX_LIST_LENGTH = 1000
#: Seconds between reloads of the retired titles in each worker (a retirement written
#: through python_api, or another worker, counts within this; through this worker, at once).
RETIRED_REFRESH_S = 2.0

#: The cold-start list, precomputed by `recdb build` (the recommender's cold_start_list).
_COLD_START_QUERY = """
select title_id, title_name, title_type, release_year, imdb_score::float8, cold_start_score
from marts.cold_start_titles
order by cold_start_rank
"""


class _Reloaded:
    """A small result cached per worker process, reloaded in the background.

    No request waits for a refresh: once loaded, the value is served as it is, and a
    request that finds it older than ``refresh_seconds`` starts a reload in the
    background. Only the first requests of a process wait, for the first load. A reload
    that fails (database down) keeps the value it had.
    """

    #: What the cache holds, for the warning of a failed reload.
    what = "a cached result"

    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self._value: Any = None
        self._due = float("-inf")
        self._loading: asyncio.Task[None] | None = None

    async def _fetch(self, db: Database, role: str) -> Any:
        raise NotImplementedError

    async def _current(self, db: Database, role: str) -> Any:
        if time.monotonic() >= self._due and (self._loading is None or self._loading.done()):
            self._due = time.monotonic() + self.refresh_seconds
            self._loading = asyncio.create_task(self._load(db, role))
            self._loading.add_done_callback(self._loaded)
        if self._value is None and self._loading is not None:
            await asyncio.shield(self._loading)  # the first load: its failure is this request's
        return self._value

    async def _load(self, db: Database, role: str) -> None:
        self._value = await self._fetch(db, role)

    def _loaded(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            self._due = float("-inf")
            return
        error = task.exception()  # retrieved here, so a background failure is never unheard
        if error is None:
            return
        if self._value is None:
            self._due = float("-inf")  # nothing to serve: the next request tries again
        logger.warning("cannot reload %s (serving the one loaded): %s", self.what, error)


class ColdStartList(_Reloaded):
    """marts.cold_start_titles (100 rows), cached per worker process (one small indexed read
    a reload)."""

    what = "the cold-start list"

    async def rows(self, db: Database, role: str) -> list[tuple]:
        """Up to 100 (title_id, title_name, title_type, release_year, imdb_score, score)."""
        return await self._current(db, role) or []

    async def _fetch(self, db: Database, role: str) -> list[tuple]:
        try:
            return await db.rows(role, _COLD_START_QUERY)
        except psycopg.errors.UndefinedTable:
            raise ApiHttpError(
                503, "the cold-start list (marts.cold_start_titles) is not built: run `recdb build`"
            ) from None


class RetiredTitles(_Reloaded):
    """The ids of the retired titles, which the API recommends no more, cached per worker
    process and reloaded every ``refresh_seconds`` (a read of a few rows).

    Read from sim.retired_titles, so a retirement counts at once (within a reload, and
    in the worker that wrote it at once: :meth:`mark`), not at the next `recdb build`;
    through the server's scientist connections, since analysts read only raw and the
    marts: a server without a scientist key reads marts.dim_titles' ``is_retired``
    instead, as of the last build.
    """

    what = "the retired titles"

    async def ids(self, db: Database, role: str) -> frozenset[str]:
        """The retired titles' ids."""
        return await self._current(db, role) or frozenset()

    def mark(self, title_id: str, *, retired: bool) -> None:
        """A retirement this worker just wrote (or deleted), counted before the next reload."""
        if self._value is not None:
            self._value = self._value | {title_id} if retired else self._value - {title_id}

    async def _fetch(self, db: Database, role: str) -> frozenset[str]:
        if WRITE_ROLE in db.pools:
            role, query = WRITE_ROLE, _RETIRED_QUERY
        else:
            query = _RETIRED_IN_MARTS_QUERY
        try:
            rows = await db.rows(role, query)
        except psycopg.errors.UndefinedTable:  # not built yet: nothing is retired there
            return frozenset()
        return frozenset(row[0] for row in rows)


def without_retired(rows: list[tuple], retired: frozenset[str], at: int) -> list[tuple]:
    """``rows`` but those whose title id (at position ``at``) is retired."""
    return [row for row in rows if row[at] not in retired] if retired else rows


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
    """The user's list in the newest published recommender run (marts.fact_recommendations,
    as soon as the run is published). A user the run has no list for (no history when it
    ran, or added since) gets the cold-start list (marts.cold_start_titles, as of the last
    `recdb build`): best-of lists, then popularity. Retired titles are left out of both, from
    the moment they are retired (the others keep their rank in the run). 404 for an
    unknown user."""
    db = database(request)
    retired = await request.app.state.retired.ids(db, who.role)
    # k titles that are not retired are among the first k + (retired titles) of the list
    depth = k + min(len(retired), MAX_LIST_LENGTH)
    rows = await db.rows(who.role, _LIST_QUERY, [depth, user_id])
    if not rows:
        raise ApiHttpError(404, f"no user {user_id}")
    if rows[0][0] is not None:
        run_id, published_at, is_cold_start = rows[0][0], rows[0][9], rows[0][8]
        rows = without_retired(rows, retired, at=2)[:k]
        return {
            "user_id": user_id,
            "run_id": run_id,
            "published_at": published_at,
            "is_cold_start": is_cold_start,
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
    cold = without_retired(await request.app.state.cold_start.rows(db, who.role), retired, at=0)
    return {
        "user_id": user_id,
        "run_id": None,
        "published_at": None,
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
    "/v1/runs",
    response_model=RunBegun,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Begin a run",
)
async def begin_run(request: Request, body: RunToBegin, who: Writer) -> dict:
    """Begin run `run_id`, unpublished: a new run, or an earlier one whose rows are dropped
    (it stops being served). Write its rows with `POST /v1/recommendations`, then publish it
    (`POST /v1/runs/{run_id}/publish`): until then nobody is served it, and the marts do not
    have it, so a run is never seen half-written."""

    def begin(wh: Warehouse) -> int:
        with wh.transaction():
            return wh.replace_run(body.run_id, publish=False)

    try:
        replaced = await database(request).write(begin)
    except ApiError as error:
        raise api_error_to_http(error) from None
    return {"run_id": body.run_id, "replaced": replaced}


@router.post(
    "/v1/runs/{run_id}/publish",
    response_model=RunPublished,
    responses=WRITE_ERRORS,
    summary="Publish a run",
)
async def publish_run(request: Request, who: Writer, run_id: RunIdPath) -> dict:
    """Publish run `run_id`: from now on its lists are served (the newest published run
    is) and analysts see it in marts.fact_recommendations. 404 for a run never begun."""
    try:
        await database(request).write(lambda wh: wh.publish_run(run_id))
    except NotFoundError as error:
        raise ApiHttpError(404, str(error)) from None
    except ApiError as error:
        raise api_error_to_http(error) from None
    return {"run_id": run_id, "published": True}


@router.post(
    "/v1/recommendations",
    response_model=Written,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Write recommendations",
)
async def write_recommendations(request: Request, body: RecommendationBatch, who: Writer) -> dict:
    """Write rows of a begun, unpublished run to recs.recommendations, all or none
    (python_api's checks: an unknown user or title, or a run never begun, is a 422 naming
    the field, an existing (run, user, rank) a 409; a published run is a 409: begin it again
    to replace it). The recommender's HTTP writer (`recdb recommend --api-url`) sends its
    runs in batches of these, between begin and publish."""
    frame = pd.DataFrame([row.model_dump() for row in body.rows])
    frame.insert(0, "run_id", body.run_id)
    frame["rank"] = frame["rank"].astype("int16")

    def write(wh: Warehouse) -> int:
        with wh.transaction():
            published = wh.read(
                "select published_at is not null as published from recs.runs "
                "where run_id = %s for share",
                [body.run_id],
            )
            if len(published) and bool(published["published"].iloc[0]):
                raise ConflictError(
                    f"run {body.run_id!r} is published: begin it again (POST /v1/runs) "
                    "to replace its rows",
                    table="recs.runs",
                    column="run_id",
                )
            return wh.write("recommendations", frame)

    try:
        written = await database(request).write(write)
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
    """Delete run `run_id` and every row of it (404 for an unknown run): it stops being
    served at once, and leaves the marts at the next `recdb build`."""

    def delete(wh: Warehouse) -> int | None:
        with wh.transaction():
            known = wh.read("select 1 as known from recs.runs where run_id = %s", [run_id])
            if known.empty:
                return None
            # Replaced by nothing, unpublished: python_api swaps in an empty partition at
            # commit (cheap for millions of rows, unlike deleting them key by key) ...
            count = wh.replace_run(run_id, publish=False)
        wh.delete("runs", [run_id])  # ... then the run itself, with no rows left
        return count

    try:
        deleted = await database(request).write(delete)
    except ApiError as error:
        raise api_error_to_http(error) from None
    if deleted is None:
        raise ApiHttpError(404, f"no run {run_id!r}")
    return {"deleted": deleted}
