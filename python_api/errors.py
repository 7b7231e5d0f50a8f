"""The exceptions python_api raises. Callers never see a raw driver error."""

from __future__ import annotations

from typing import Any

from recdb.core.errors import RecdbError

_MAX_VALUE_CHARS = 60


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


class ApiError(RecdbError):
    """Base class of python_api's errors."""


class _Located(ApiError):
    """An error about the caller's rows: ``table``, ``column``, ``row_number`` (0-based
    position in the DataFrame) and ``row`` (that row as a dict) say where, when known;
    ``problem`` is what is wrong there."""

    def __init__(
        self,
        problem: str,
        *,
        table: str | None = None,
        column: str | None = None,
        row_number: int | None = None,
        row: dict[str, Any] | None = None,
    ) -> None:
        self.problem = problem
        self.table = table
        self.column = column
        self.row_number = row_number
        self.row = row
        where = ".".join(part for part in (table, column) if part)
        message = f"{where}: {problem}" if where else problem
        if row is not None:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in row.items())
            message += f" — row {row_number}: {{{shown}}}"
        super().__init__(message)


class ValidationError(_Located):
    """A DataFrame or argument does not fit the table; nothing was written.

    ``table``, ``column``, ``row_number`` (0-based position in the DataFrame)
    and ``row`` (that row as a dict) say where, when known.
    """


class ConflictError(ValidationError):
    """A row's key already exists (write without ``upsert=True``), or is repeated in the batch."""


class NotFoundError(_Located):
    """A key to update or delete, or a referenced user, session, run or title, does not
    exist; nothing was written.

    Not a ValidationError: the rows are well formed, what they name is missing (an HTTP
    404, not a 422). ``table``, ``column``, ``row_number`` and ``row`` say where, when known,
    as a ValidationError's do.
    """


class PermissionDeniedError(ApiError):
    """The role connected cannot do this (an analyst writing, say)."""


class DatabaseError(ApiError):
    """PostgreSQL failed for a reason outside the caller's data (connection lost, server down).

    Any transaction in progress was rolled back: nothing of it persists.
    """


class BusyError(DatabaseError):
    """A lock stayed held by another transaction longer than the Warehouse's ``lock_timeout``
    (a migration, an operator's LOCK TABLE; builds never lock writers out); nothing was kept.

    Retry in a few seconds.
    """
