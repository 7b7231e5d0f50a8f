"""python_api's error kinds, and driver errors translated into them (no database).

The driver errors below are ADBC's, as the PostgreSQL driver raises them: the
SQLSTATE, and libpq's fields (``PG_DIAG_*``) as ``details``, copied from a real
server (recdb's reference triggers set the schema, table and column).
"""

from __future__ import annotations

import adbc_driver_manager
import pandas as pd
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode

from python_api import (
    ApiError,
    BusyError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from python_api.client import Warehouse, _translate
from recdb.core.connection import ConnectionSettings
from recdb.core.landing import LANDING_TABLES, SESSIONS, TITLES_TABLE, USERS


# -- the hierarchy ----------------------------------------------------------------------
def test_a_missing_key_is_an_api_error_of_its_own_not_a_validation_error():
    assert issubclass(NotFoundError, ApiError)
    assert not issubclass(NotFoundError, ValidationError)
    assert not issubclass(ValidationError, NotFoundError)


def test_the_other_kinds_keep_their_places():
    assert issubclass(ConflictError, ValidationError)  # a key repeated or already there
    assert issubclass(BusyError, DatabaseError)
    for kind in (ValidationError, PermissionDeniedError, DatabaseError):
        assert issubclass(kind, ApiError) and not issubclass(kind, NotFoundError)


def test_a_missing_key_says_where_as_a_validation_error_does():
    row = {"session_id": 10, "user_id": 7}
    error = NotFoundError(
        "user_id=7 does not exist in sim.users",
        table="sim.sessions",
        column="user_id",
        row_number=0,
        row=row,
    )
    assert (error.problem, error.table, error.column, error.row_number, error.row) == (
        "user_id=7 does not exist in sim.users",
        "sim.sessions",
        "user_id",
        0,
        row,
    )
    assert str(error) == (
        "sim.sessions.user_id: user_id=7 does not exist in sim.users — row 0: "
        "{session_id=10, user_id=7}"
    )
    assert str(NotFoundError("no run 'x': begin it first")) == "no run 'x': begin it first"


# -- driver errors as python_api's ------------------------------------------------------
def _adbc_error(
    kind: type[adbc_driver_manager.Error],
    status: AdbcStatusCode,
    message: str,
    sqlstate: str | None = None,
    **fields: str,
) -> adbc_driver_manager.Error:
    details = [(f"PG_DIAG_{k.upper()}".encode(), v.encode()) for k, v in fields.items()]
    if sqlstate:
        details.append((b"PG_DIAG_SQLSTATE", sqlstate.encode()))
    return kind(message, status_code=status, sqlstate=sqlstate, details=details)


def _integrity(sqlstate: str, **fields: str) -> adbc_driver_manager.Error:
    text = f"INTEGRITY: [libpq] Failed to execute COPY statement: ERROR: ... SQLSTATE: {sqlstate}"
    return _adbc_error(
        adbc_driver_manager.IntegrityError, AdbcStatusCode.INTEGRITY, text, sqlstate, **fields
    )


SESSIONS_FRAME = pd.DataFrame(
    {"session_id": [10, 11, 12], "user_id": [1, 1, 7], "title_id": ["tm1", "tm-x", "tm1"]}
)
UNKNOWN_USER = _integrity(
    "23503",
    column_name="user_id",
    message_primary="sim.sessions.user_id refers to a row of sim.users that does not exist",
    message_detail='Key (user_id)=(7) is not present in table "sim.users".',
    schema_name="sim",
    table_name="sessions",
)
UNKNOWN_TITLE = _integrity(
    "23503",
    column_name="title_id",
    message_primary="sim.sessions.title_id is not a title of marts.dim_titles",
    message_detail='Key (title_id)=(tm-x) is not present in table "marts.dim_titles".',
    schema_name="sim",
    table_name="sessions",
)
STILL_REFERENCED = _integrity(
    "23503",
    column_name="user_id",
    message_primary="sim.users rows are still referenced from sim.sessions",
    message_detail='Key (user_id)=(1) is still referenced from table "sim.sessions".',
    schema_name="sim",
    table_name="users",
)
KEY_EXISTS = _integrity(
    "23505",
    constraint_name="users_pkey",
    message_primary='duplicate key value violates unique constraint "users_pkey"',
    message_detail="Key (user_id)=(2) already exists.",
    schema_name="sim",
    table_name="users",
)


def test_an_unknown_user_is_a_missing_key_naming_the_table_column_and_row():
    error = _translate(UNKNOWN_USER, SESSIONS, SESSIONS_FRAME)
    assert type(error) is NotFoundError
    assert (error.table, error.column, error.row_number) == ("sim.sessions", "user_id", 2)
    assert error.problem == "user_id=7 does not exist in sim.users"
    assert error.row == {"session_id": 12, "user_id": 7, "title_id": "tm1"}


def test_an_unknown_title_is_a_missing_key_that_says_what_to_do():
    error = _translate(UNKNOWN_TITLE, SESSIONS, SESSIONS_FRAME)
    assert type(error) is NotFoundError
    assert (error.column, error.row_number) == ("title_id", 1)
    assert error.problem == (
        "unknown title title_id=tm-x: not in marts.dim_titles nor sim.titles (load the "
        "catalogue and run `recdb build` first?)"
    )


def test_a_catch_of_validation_errors_lets_a_missing_key_through():
    with pytest.raises(NotFoundError, match="user_id=7 does not exist in sim.users"):
        try:
            raise _translate(UNKNOWN_USER, SESSIONS, SESSIONS_FRAME)
        except ValidationError:  # a bad value: a missing key is not one
            pytest.fail("a missing key was caught as a ValidationError")


REFERENCES = [
    (table, column, key.table)
    for table in LANDING_TABLES.values()
    for key in table.foreign_keys
    for column in key.columns
] + [
    (table, column, ".".join(TITLES_TABLE))
    for table in LANDING_TABLES.values()
    for column in table.title_columns
]


@pytest.mark.parametrize(
    ("table", "column", "parent"),
    REFERENCES,
    ids=[f"{t.name}.{c}" for t, c, _ in REFERENCES],
)
def test_which_table_lacks_a_reference_comes_from_the_errors_fields(table, column, parent):
    """The error's schema, table and column name the reference; the landing spec says what
    it refers to. The DETAIL's wording is read for the key's value alone."""
    error = _integrity(
        "23503",
        column_name=column,
        message_primary="a reference to a row that does not exist",
        message_detail=f"Key ({column})=(42) is not present.",  # no table named
        schema_name=table.schema,
        table_name=table.name,
    )
    translated = _translate(error, table, pd.DataFrame({column: [41, 42]}))
    assert type(translated) is NotFoundError
    assert (translated.column, translated.row_number) == (column, 1)
    assert f"{column}=42" in translated.problem and f"in {parent}" in translated.problem


def test_a_delete_of_a_referenced_row_is_refused_naming_who_refers_to_it():
    error = _translate(STILL_REFERENCED, USERS, pd.DataFrame({"user_id": [3, 1]}))
    assert type(error) is ValidationError
    assert (error.table, error.column, error.row_number) == ("sim.users", "user_id", 1)
    assert error.problem == (
        "user_id=1 is still referenced from sim.sessions: delete those rows first"
    )


def test_a_key_that_exists_is_a_conflict():
    frame = pd.DataFrame({"user_id": [1, 2], "plan": ["basic", "premium"]})
    error = _translate(KEY_EXISTS, USERS, frame)
    assert type(error) is ConflictError
    assert (error.column, error.row_number) == ("user_id", 1)
    assert error.problem == "key user_id=2 already exists (pass upsert=True to replace it)"


def test_a_broken_check_names_the_constraint():
    error = _translate(
        _integrity(
            "23514",
            constraint_name="users_check",
            message_primary='new row for relation "users" violates check constraint "users_check"',
            message_detail="Failing row contains (1, 2026-12-01 00:06:25+00, 1990).",
            schema_name="sim",
            table_name="users",
        ),
        USERS,
        None,
    )
    assert type(error) is ValidationError
    assert str(error) == (
        "sim.users: breaks users_check: Failing row contains (1, 2026-12-01 00:06:25+00, 1990)."
    )


def test_a_server_that_cannot_be_reached_is_a_database_error_saying_what_to_do(tmp_path):
    from recdb.warehouse.server import free_port

    port = free_port()
    settings = ConnectionSettings("127.0.0.1", port, "recdb", "recdb_scientist", "x", home=tmp_path)
    with pytest.raises(DatabaseError) as caught:
        Warehouse("scientist", settings).read("select 1")
    assert str(caught.value).startswith(
        f"cannot connect to PostgreSQL at 127.0.0.1:{port} as recdb_scientist: "
        "connection refused; start the embedded server"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (
            _adbc_error(
                adbc_driver_manager.ProgrammingError,
                AdbcStatusCode.INVALID_STATE,
                "INVALID_STATE: Failed to prepare query: ERROR:  canceling statement due to "
                "lock timeout\n. SQLSTATE: 55P03",
                "55P03",
                message_primary="canceling statement due to lock timeout",
            ),
            BusyError,
            "sim.users is locked by another transaction for longer than the lock timeout: "
            "nothing of this operation was kept; retry in a few seconds",
        ),
        (
            _adbc_error(
                adbc_driver_manager.ProgrammingError,
                AdbcStatusCode.INVALID_STATE,
                "INVALID_STATE: [libpq] ... SQLSTATE: 25006",
                "25006",
                message_primary="cannot execute DELETE in a read-only transaction",
            ),
            PermissionDeniedError,
            "read() runs read-only: change data with write(), update() or delete()",
        ),
        (
            _adbc_error(
                adbc_driver_manager.ProgrammingError,
                AdbcStatusCode.UNAUTHORIZED,
                "UNAUTHORIZED: [libpq] ... SQLSTATE: 42501",
                "42501",
                message_primary="permission denied for table pg_authid",
            ),
            PermissionDeniedError,
            "role may not do this: permission denied for table pg_authid",
        ),
        (
            _adbc_error(
                adbc_driver_manager.ProgrammingError,
                AdbcStatusCode.NOT_FOUND,
                'NOT_FOUND: Failed to prepare query: ERROR:  relation "nope" does not exist\n'
                "LINE 1: select * from nope\n. SQLSTATE: 42P01",
                "42P01",
                message_primary='relation "nope" does not exist',
            ),
            ValidationError,
            'sim.users: relation "nope" does not exist',
        ),
        (
            _adbc_error(
                adbc_driver_manager.DataError,
                AdbcStatusCode.INVALID_DATA,
                "INVALID_DATA: [libpq] ... SQLSTATE: 22012",
                "22012",
                message_primary="division by zero",
            ),
            ValidationError,
            "sim.users: division by zero",
        ),
        (
            _adbc_error(
                adbc_driver_manager.OperationalError,
                AdbcStatusCode.IO,
                "IO: [libpq] Failed to execute query: server closed the connection unexpectedly\n"
                "\tThis probably means the server terminated abnormally\n",
            ),
            DatabaseError,
            "Failed to execute query: server closed the connection unexpectedly (nothing of "
            "this operation was kept)",
        ),
        (
            pa.ArrowInvalid("a column of the wrong length"),
            DatabaseError,
            "a column of the wrong length (nothing of this operation was kept)",
        ),
    ],
    ids=["lock-timeout", "read-only", "permission", "syntax", "data", "connection", "arrow"],
)
def test_other_driver_errors_by_their_sqlstate(error, kind, message):
    translated = _translate(error, USERS, None)
    assert type(translated) is kind
    assert str(translated) == message
