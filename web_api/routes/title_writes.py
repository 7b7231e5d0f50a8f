"""Writes of the catalogue's simulated rows (python_api, scientist keys): titles to
sim.titles, credits to sim.credits, retirements to sim.retired_titles.

PostgreSQL's triggers check what the schemas cannot (a genre or country that exists, a
catalogue key or name taken, a person under another name, an open recommender run);
python_api turns their refusals into typed errors, mapped here to HTTP as the other
writes do (a 422 naming the field), with these choices:

* what the URL names is missing: 404 (an unknown or non-simulated title to change, a
  credit or retirement to delete); what the body names is missing (a genre, a country):
  422 naming the field;
* a key that exists, the loaded catalogue's included (a catalogue title id, or its name,
  year and type; a credit the catalogue has): 409;
* a row in a state that refuses the write (a retired title's new credit, a retirement
  while a recommender run is open, a title with sessions or recommendations deleted):
  409, with python_api's message saying what to do.

Reads show the rows after the next `recdb build` (the catalogue marts); a retirement
stops recommendations at once (web_api/routes/recommendations.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Path, Query, Request, Response

from python_api import ApiError, ConflictError, NotFoundError, ValidationError, Warehouse
from recdb.core.landing import CREDITS, TITLES, LandingTable
from web_api.auth import Writer
from web_api.errors import ApiHttpError, api_error_to_http
from web_api.routes.common import WRITE_ERRORS, database, patch_changes
from web_api.routes.titles import TitleId
from web_api.routes.users import plain_records
from web_api.schemas import (
    Credit,
    CreditCreate,
    CreditRole,
    Retirement,
    RetirementCreate,
    SimulatedTitle,
    TitleCreate,
    TitlePatch,
    path_field,
)

router = APIRouter(prefix="/v1/titles", tags=["titles"], responses=WRITE_ERRORS)

#: A simulated title's id (sim.titles' pattern).
SimulatedTitleId = Annotated[str, Path(**path_field(TITLES, "title_id"))]
#: Any title's id: a credit or a retirement may be of the loaded catalogue's titles too.
AnyTitleId = TitleId
PersonIdPath = Annotated[int, Path(**path_field(CREDITS, "person_id"))]

_TITLE_QUERY = (
    "select title_id, title_name, title_type, release_year, released_at, genres, "
    "production_countries, runtime_minutes, season_count, age_certification, imdb_score, "
    "imdb_vote_count from sim.titles where title_id = %s"
)
_RETIREMENT_QUERY = (
    "select title_id, retired_at from sim.retired_titles where title_id = %s for update"
)


def _http(
    error: ApiError,
    *,
    path: tuple[str, ...] = (),
    conflicts: tuple[str, ...] = (),
    not_found_in_url: tuple[str, ...] = (),
) -> ApiHttpError:
    """python_api's ``error`` as HTTP: fields of ``path`` read ``path.<name>``; a
    ValidationError about a column of ``conflicts`` is a 409 (a key taken, a state that
    refuses the write); a NotFoundError is a 404 about a column of ``not_found_in_url``
    (what the URL names), else a 422 (what the body names)."""
    http = api_error_to_http(error)
    column = getattr(error, "column", None)
    if column in path:
        http.fields = [
            {**f, "field": f"path.{column}"} if f["field"] == f"body.{column}" else f
            for f in http.fields
        ]
    if isinstance(error, NotFoundError) and column not in not_found_in_url:
        http.status_code = 422
    elif isinstance(error, ValidationError) and column in conflicts:
        http.status_code = 409  # a ConflictError already is
    return http


def _frame(table: LandingTable, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``rows`` of ``table`` as python_api takes them: a number column of nulls as floats
    (pandas would give it no number dtype)."""
    frame = pd.DataFrame(rows)
    for name in frame.columns:
        if table.column(name).kind == "float":
            frame[name] = frame[name].astype("float64")
    return frame


def _no_simulated_title(title_id: str) -> ApiHttpError:
    return ApiHttpError(
        404,
        f"no simulated title {title_id!r} (sim.titles): only titles added through "
        "POST /v1/titles change here; the loaded catalogue's are retired instead "
        f"(PUT /v1/titles/{title_id}/retirement)",
        fields=[{"field": "path.title_id", "message": "not a simulated title"}],
    )


# -- titles ------------------------------------------------------------------------
@router.post("", response_model=SimulatedTitle, status_code=201, summary="Create a simulated title")
async def create_title(
    request: Request, response: Response, body: TitleCreate, who: Writer
) -> dict:
    """Add a title to sim.titles (python_api: validated, then checked by PostgreSQL). An
    unknown genre or country is a 422 naming `genres` or `production_countries`, as is a
    genre listed twice; a title id that exists, or the name, year and type of a title that
    exists (the loaded catalogue's included), a 409. The catalogue marts have it after the
    next `recdb build` (source `simulation`)."""
    row = body.model_dump()
    frame = _frame(TITLES, [row])
    try:
        await database(request).write(lambda wh: wh.write("titles", frame))
    except ApiError as error:
        raise _http(error, conflicts=("title_id", "title_name")) from None
    response.headers["Location"] = f"/v1/titles/{body.title_id}"
    return row


@router.patch("/{title_id}", response_model=SimulatedTitle, summary="Change a simulated title")
async def update_title(
    request: Request, body: TitlePatch, who: Writer, title_id: SimulatedTitleId
) -> dict:
    """Change some fields of a title of sim.titles (a list is replaced whole); returns the
    title as it now is there. The loaded catalogue's titles are not changed here (404)."""
    changes = patch_changes(body, TITLES)
    frame = _frame(TITLES, [{"title_id": title_id, **changes}])

    def update(wh: Warehouse) -> list[dict[str, Any]]:
        with wh.transaction():
            wh.update("titles", frame)
            return plain_records(wh.read(_TITLE_QUERY, [title_id]))

    try:
        rows = await database(request).write(update)
    except NotFoundError as error:
        if error.column == "title_id":
            raise _no_simulated_title(title_id) from None
        raise _http(error) from None
    except ApiError as error:
        raise _http(error, conflicts=("title_name",)) from None
    return _as_lists(rows[0])


def _as_lists(row: dict[str, Any]) -> dict[str, Any]:
    """A sim.titles row with its arrays as lists (they read back as numpy arrays)."""
    return {
        k: list(v) if k in ("genres", "production_countries") and v is not None else v
        for k, v in row.items()
    }


@router.delete("/{title_id}", status_code=204, summary="Delete a simulated title")
async def delete_title(request: Request, who: Writer, title_id: SimulatedTitleId) -> Response:
    """Delete a title of sim.titles with its credits and retirement. A title that sessions
    or recommendations name is a 409: retire it instead (it keeps its history)."""
    try:
        await database(request).write(lambda wh: wh.delete("titles", [title_id]))
    except NotFoundError:
        raise _no_simulated_title(title_id) from None
    except ValidationError as error:  # rows still refer to the title (sessions, lists)
        raise ApiHttpError(409, str(error)) from None
    except ApiError as error:
        raise _http(error, path=("title_id",)) from None
    return Response(status_code=204)


# -- credits -----------------------------------------------------------------------
@router.post(
    "/{title_id}/credits",
    response_model=Credit,
    status_code=201,
    summary="Credit a person on a title",
)
async def create_credit(
    request: Request, body: CreditCreate, who: Writer, title_id: AnyTitleId
) -> dict:
    """Add a credit to sim.credits: a person acting in or directing the title (of the loaded
    catalogue or simulated). A catalogue person keeps the catalogue's name (422 naming
    `person_name` otherwise); a new person needs an id of their own. An unknown title is a
    404; a retired title, a credit that exists (the catalogue's included) a 409."""
    row = {"title_id": title_id, **body.model_dump()}
    frame = pd.DataFrame([row], columns=list(CREDITS.column_names))
    try:
        await database(request).write(lambda wh: wh.write("credits", frame))
    except ApiError as error:
        raise _http(
            error,
            path=("title_id",),
            conflicts=("title_id", "person_id"),
            not_found_in_url=("title_id",),
        ) from None
    return row


@router.delete(
    "/{title_id}/credits/{person_id}", status_code=204, summary="Delete a simulated credit"
)
async def delete_credit(
    request: Request,
    who: Writer,
    title_id: AnyTitleId,
    person_id: PersonIdPath,
    role: Annotated[CreditRole, Query(description="The credit's role: actor or director.")],
) -> Response:
    """Delete a credit of sim.credits (the loaded catalogue's credits are not deleted: 404)."""
    key = pd.DataFrame([{"title_id": title_id, "person_id": person_id, "credit_role": role}])
    try:
        await database(request).write(lambda wh: wh.delete("credits", key))
    except NotFoundError:
        raise ApiHttpError(
            404, f"no simulated credit of person {person_id} as {role} on title {title_id!r}"
        ) from None
    except ApiError as error:
        raise _http(error, path=("title_id",)) from None
    return Response(status_code=204)


# -- retirement --------------------------------------------------------------------
@router.put(
    "/{title_id}/retirement",
    response_model=Retirement,
    responses={201: {"model": Retirement, "description": "Retired now."}},
    summary="Retire a title",
)
async def retire_title(
    request: Request,
    response: Response,
    who: Writer,
    title_id: AnyTitleId,
    body: Annotated[RetirementCreate | None, Body()] = None,
) -> dict:
    """Take a title off the service (sim.retired_titles): it keeps its sessions and past
    recommendations but is recommended no more, from now on. `retired_at` defaults to now;
    201 when the title is retired now, 200 when it already was (then a `retired_at` given
    replaces the one it had). Refused (409) while a recommender run is open (begun, not
    published): its lists may name the title. An unknown title is a 404."""
    retired_at = body.retired_at if body is not None else None

    def retire(wh: Warehouse) -> tuple[dict[str, Any], bool]:
        with wh.transaction():
            existing = plain_records(wh.read(_RETIREMENT_QUERY, [title_id]))
            if existing and retired_at is None:
                return existing[0], False
            row = {"title_id": title_id, "retired_at": retired_at or dt.datetime.now(dt.UTC)}
            wh.write("retired_titles", pd.DataFrame([row]), upsert=bool(existing))
            return row, not existing

    try:
        try:
            row, created = await database(request).write(retire)
        except ConflictError:  # retired meanwhile by another request: now it is found
            row, created = await database(request).write(retire)
    except ApiError as error:
        raise _http(
            error, path=("title_id",), conflicts=("title_id",), not_found_in_url=("title_id",)
        ) from None
    request.app.state.retired.mark(title_id, retired=True)  # this worker: from now on
    response.status_code = 201 if created else 200
    return row


@router.delete("/{title_id}/retirement", status_code=204, summary="Bring a title back")
async def unretire_title(request: Request, who: Writer, title_id: AnyTitleId) -> Response:
    """Delete the title's retirement: it may be recommended again. 404 when it is not
    retired."""
    try:
        await database(request).write(lambda wh: wh.delete("retired_titles", [title_id]))
    except NotFoundError:
        raise ApiHttpError(404, f"title {title_id!r} is not retired") from None
    except ApiError as error:
        raise _http(error, path=("title_id",)) from None
    request.app.state.retired.mark(title_id, retired=False)
    return Response(status_code=204)
