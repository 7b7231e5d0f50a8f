"""``/v1/users``: create, read, change and delete users (sim.users through python_api)."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Request, Response

from python_api import ApiError, NotFoundError, ValidationError, Warehouse
from recdb.core.landing import USERS
from web_api.auth import Reader, Writer
from web_api.errors import ApiHttpError, api_error_to_http
from web_api.routes.common import READ_ERRORS, WRITE_ERRORS, database, patch_changes
from web_api.schemas import User, UserCreate, UserPatch, path_field

router = APIRouter(prefix="/v1/users", tags=["users"])

UserIdPath = Annotated[int, Path(**path_field(USERS, "user_id"))]
_GET_QUERY = (
    "select user_id, signup_at, birth_year, gender, country_code, plan, churned_at "
    "from marts.dim_users where user_id = %s"
)
_LANDING_QUERY = (
    "select user_id, signup_at, birth_year, gender, country_code, plan, churned_at "
    "from sim.users where user_id = %s"
)


def plain_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts of plain Python values (NaT and NaN as None)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [
        {k: v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for k, v in r.items()}
        for r in records
    ]


@router.post(
    "", response_model=User, status_code=201, responses=WRITE_ERRORS, summary="Create a user"
)
async def create_user(request: Request, response: Response, body: UserCreate, who: Writer) -> dict:
    """Write a user to sim.users (python_api: validated, all or nothing). A user id that
    exists is a 409. Reads show the user after the next `recdb build`."""
    row = body.model_dump()
    frame = pd.DataFrame([row], columns=list(USERS.column_names))
    try:
        await database(request).write(lambda wh: wh.write("users", frame))
    except ApiError as error:
        raise api_error_to_http(error) from None
    response.headers["Location"] = f"/v1/users/{body.user_id}"
    return row


@router.get("/{user_id}", response_model=User, responses=READ_ERRORS, summary="A user")
async def get_user(request: Request, who: Reader, user_id: UserIdPath) -> dict:
    """A user of marts.dim_users (as of the last `recdb build`)."""
    rows = await database(request).dicts(who.role, _GET_QUERY, [user_id])
    if not rows:
        raise ApiHttpError(404, f"no user {user_id}")
    return rows[0]


@router.patch("/{user_id}", response_model=User, responses=WRITE_ERRORS, summary="Change a user")
async def update_user(request: Request, body: UserPatch, who: Writer, user_id: UserIdPath) -> dict:
    """Change some of a user's fields in sim.users (`churned_at: null` un-churns); returns
    the user as it now is there. dbt's snapshot keeps the history at the next build."""
    changes = patch_changes(body, USERS)

    def update(wh: Warehouse) -> list[dict[str, Any]]:
        with wh.transaction():
            wh.update("users", pd.DataFrame([{"user_id": user_id, **changes}]))
            return plain_records(wh.read(_LANDING_QUERY, [user_id]))

    try:
        rows = await database(request).write(update)
    except NotFoundError:
        raise ApiHttpError(404, f"no user {user_id}") from None
    except ApiError as error:
        http = api_error_to_http(error)
        if http.status_code == 422 and not http.fields:
            # PostgreSQL's check between columns (churned_at >= signup_at) failed against
            # the stored row: name the fields of the rule this change touched.
            http.fields = [
                {"field": f"body.{name}", "message": f"breaks the rule {check.describe()}"}
                for check in USERS.row_checks
                for name in (check.left, check.right)
                if name in changes
            ]
        raise http from None
    return rows[0]


@router.delete("/{user_id}", status_code=204, responses=WRITE_ERRORS, summary="Delete a user")
async def delete_user(request: Request, who: Writer, user_id: UserIdPath) -> Response:
    """Delete a user from sim.users, with their hidden tastes and recommendations (python_api
    cascades); a user who still has sessions is a 409: delete those first."""
    try:
        await database(request).write(lambda wh: wh.delete("users", [user_id]))
    except NotFoundError:
        raise ApiHttpError(404, f"no user {user_id}") from None
    except ValidationError as error:  # rows still refer to the user (their sessions)
        raise ApiHttpError(409, str(error)) from None
    except ApiError as error:
        raise api_error_to_http(error) from None
    return Response(status_code=204)
