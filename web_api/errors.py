"""Every error as JSON, ``{"error": {"status", "code", "message", "fields"}}``, never a trace.

python_api's typed errors map to HTTP: ValidationError 422 (naming the field),
ConflictError 409, NotFoundError 404, PermissionDeniedError 403, BusyError
(a lock held by a build past the lock timeout) 503 with ``Retry-After``,
DatabaseError 503. Anything unexpected is a 500 whose body says nothing of the
internals; the trace goes to the server's log only.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from python_api import (
    ApiError,
    BusyError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    431: "request_header_fields_too_large",
    500: "internal_error",
    503: "unavailable",
}


class ApiHttpError(StarletteHTTPException):
    """An HTTP error with the fields it concerns (``body.user_id``, ``query.year``)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, message, headers)
        self.fields = fields or []


def error_body(status: int, message: str, fields: list[dict[str, str]] | None = None) -> dict:
    """The JSON body of every error response."""
    return {
        "error": {
            "status": status,
            "code": _CODES.get(status, "error"),
            "message": message,
            "fields": fields or [],
        }
    }


def error_response(
    status: int,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error as a JSON response."""
    return JSONResponse(error_body(status, message, fields), status_code=status, headers=headers)


#: Seconds a client is told to wait (``Retry-After``) after a write gave up on a lock: a build
#: holds the landing tables for about as long as one model takes.
BUSY_RETRY_AFTER_S = 5

#: Tags of the request bodies' unions (one object or a list): not part of a field's name.
_UNION_TAGS = frozenset({"one", "many"})


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", 0, "user_id")`` as ``body[0].user_id``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validation_fields(error: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for item in error.errors():
        # pydantic puts the branch of a tagged union in the location: left out.
        loc = [p for p in item.get("loc", ()) if p not in _UNION_TAGS]
        message = str(item.get("msg", "invalid"))
        if "input" in item and item.get("type") not in ("missing", "json_invalid"):
            message += f" (got {_short(item['input'])})"
        fields.append({"field": _location(loc), "message": message})
    return fields


def api_error_to_http(error: ApiError, *, rows_at: str | None = None) -> ApiHttpError:
    """python_api's error as the HTTP error a client can act on.

    ``rows_at``: where the written rows sit in the request body (``body`` for a
    list body, ``body.rows``), so a bad row's field reads ``body[3].rating``;
    None for a single object (``body.rating``).
    """
    fields = []
    # Both kinds of error about the caller's rows say where: the field is named.
    if isinstance(error, ValidationError | NotFoundError) and error.column:
        if rows_at is not None and error.row_number is not None:
            where = f"{rows_at}[{error.row_number}].{error.column}"
        else:
            where = f"body.{error.column}"
        fields.append({"field": where, "message": error.problem})
    if isinstance(error, NotFoundError):
        return ApiHttpError(404, str(error), fields=fields)
    if isinstance(error, ConflictError):  # the ValidationError of a key that exists
        return ApiHttpError(409, str(error), fields=fields)
    if isinstance(error, ValidationError):
        return ApiHttpError(422, str(error), fields=fields)
    if isinstance(error, PermissionDeniedError):
        return ApiHttpError(403, str(error))
    if isinstance(error, BusyError):
        # The message is python_api's own (which table, why, retry): no internals.
        logger.info("write gave up on a lock: %s", error)
        return ApiHttpError(503, str(error), headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})
    if isinstance(error, DatabaseError):
        logger.warning("database unavailable: %s", error)
        return ApiHttpError(503, "the database is unavailable; try again later")
    return ApiHttpError(500, "internal error")


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 400 and not isinstance(error, ApiHttpError):
        # FastAPI's "error parsing the body" (not UTF-8, say): a bad payload, so a 422.
        message = "the body is not valid JSON text (UTF-8)"
        return error_response(422, message, [{"field": "body", "message": message}])
    fields = getattr(error, "fields", None)
    message = error.detail if isinstance(error.detail, str) else _CODES.get(error.status_code, "")
    if error.status_code == 404 and not isinstance(error, ApiHttpError):
        message = f"no such path: {request.url.path}"
    return error_response(error.status_code, message, fields, getattr(error, "headers", None))


async def _request_validation(request: Request, error: RequestValidationError) -> JSONResponse:
    fields = _validation_fields(error)
    named = ", ".join(f["field"] for f in fields[:5]) or "the request"
    return error_response(422, f"invalid {named}", fields)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    http = api_error_to_http(error)
    return error_response(http.status_code, str(http.detail), http.fields, http.headers)


async def _database_down(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s: %s", request.url.path, error)
    return error_response(503, "the database is unavailable; try again later")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON shape above."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
    app.add_exception_handler(psycopg_pool.PoolTimeout, _database_down)
    app.add_exception_handler(Exception, _unexpected)
