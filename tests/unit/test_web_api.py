"""The web API without a database: auth, validation, error shapes, mapping python_api errors,
the hot path's shaping of rows, the search's SQL, the HTTP client. (Against a real server and
PostgreSQL: tests/integration/test_web_api.py.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

import python_api
from web_api.app import create_app
from web_api.client import RecdbClient
from web_api.errors import api_error_to_http
from web_api.routes.common import like_pattern
from web_api.routes.recommendations import ColdStartList, RetiredTitles
from web_api.routes.titles import search_query
from web_api.settings import ApiSettings, parse_api_keys

ANALYST = "analyst-key-for-tests"
PUBLISHED = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
SCIENTIST = "scientist-key-for-tests"
USER = {
    "user_id": 7,
    "signup_at": "2024-01-05T10:00:00Z",
    "birth_year": 1990,
    "gender": "female",
    "country_code": "US",
    "plan": "basic",
}
TITLE = {
    "title_id": "sim-1",
    "title_name": "A New Dawn",
    "title_type": "movie",
    "release_year": 2026,
    "released_at": "2026-03-01T00:00:00Z",
    "genres": ["drama", "romance"],
    "production_countries": ["FR"],
    "runtime_minutes": 101,
}
CREDIT = {"person_id": 99, "person_name": "Ann Example", "credit_role": "actor"}
SESSION = {
    "session_id": 1,
    "user_id": 7,
    "title_id": "tm1",
    "started_at": "2024-02-01T20:00:00+01:00",
    "ended_at": "2024-02-01T21:00:00+01:00",
    "minutes_watched": 60,
    "completion_ratio": 0.5,
}


class FakeWarehouse:
    """Records python_api calls; raises ``error`` when given."""

    def __init__(self, error=None):
        self.error = error
        self.calls = []
        self.retirements = []  # rows of sim.retired_titles

    def write(self, table, frame, upsert=False):
        self.calls.append(("write", table, frame))
        if self.error:
            raise self.error
        return len(frame)

    def delete(self, table, keys):
        self.calls.append(("delete", table, keys))
        if self.error:
            raise self.error
        return 1

    def update(self, table, rows):
        self.calls.append(("update", table, rows))
        if self.error:
            raise self.error
        return 1

    def read(self, query, params=None):
        if "from recs.runs" in query:  # a run being written: begun, not published
            return pd.DataFrame({"published": [False]})
        if "from sim.retired_titles" in query:  # the title's retirement, if any
            return pd.DataFrame(self.retirements, columns=["title_id", "retired_at"])
        if "from sim.titles" in query:  # a title as it is after a change
            row = {**TITLE, "released_at": pd.Timestamp(TITLE["released_at"])}
            nulls = ("season_count", "age_certification", "imdb_score", "imdb_vote_count")
            return pd.DataFrame([{**row, **dict.fromkeys(nulls)}]).assign(runtime_minutes=95)
        return pd.DataFrame([{**USER, "signup_at": pd.Timestamp(USER["signup_at"])}]).assign(
            plan="premium", churned_at=pd.NaT
        )

    def transaction(self):
        import contextlib

        return contextlib.nullcontext(self)

    def replace_run(self, run_id, publish=True):
        self.calls.append(("replace_run", run_id, publish))
        return 3

    def publish_run(self, run_id):
        self.calls.append(("publish_run", run_id))
        if self.error:
            raise self.error


class FakeDatabase:
    """Stands in for web_api.db.Database: canned rows per query, a fake python_api."""

    def __init__(self):
        self.pools = {"analyst": object(), "scientist": object()}
        self.rows_result = []
        self.dicts_result = []
        self.queries = []
        self.retired = []  # the retired titles' ids
        self.retired_reads = []  # the roles they were read as
        self.warehouse = FakeWarehouse()
        self.down = False

    async def open(self):
        pass

    async def close(self):
        pass

    async def rows(self, role, query, params=()):
        if "retired" in query:  # the retired titles, a cache of their own
            self.retired_reads.append((role, query))
            return [(title_id,) for title_id in self.retired]
        self.queries.append((role, query, list(params)))
        return self.rows_result

    async def dicts(self, role, query, params=()):
        self.queries.append((role, query, list(params)))
        return self.dicts_result

    async def check(self, role):
        return "OperationalError" if self.down else None

    async def write(self, job):
        return job(self.warehouse)


@pytest.fixture
def db():
    return FakeDatabase()


@pytest.fixture
def client(db):
    settings = ApiSettings(
        parse_api_keys(f"{ANALYST}:analyst,{SCIENTIST}:scientist"), max_body_bytes=2000
    )
    app = create_app(settings)
    app.state.db = db
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def as_analyst(**headers):
    return {"X-API-Key": ANALYST, **headers}


def as_scientist(**headers):
    return {"X-API-Key": SCIENTIST, **headers}


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "fields"}
    assert body["error"]["status"] == response.status_code
    return body["error"]


# -- security ------------------------------------------------------------------------
def test_no_key_is_401(client):
    response = client.get("/v1/titles")
    assert response.status_code == 401
    assert error_of(response)["message"] == "missing X-API-Key header"
    assert response.headers["www-authenticate"] == "X-API-Key"


def test_a_wrong_key_is_401(client):
    response = client.get("/v1/titles", headers={"X-API-Key": ANALYST + "x"})
    assert response.status_code == 401
    assert error_of(response)["message"] == "invalid API key"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/users", USER),
        ("PATCH", "/v1/users/7", {"plan": "premium"}),
        ("DELETE", "/v1/users/7", None),
        ("POST", "/v1/sessions", SESSION),
        ("DELETE", "/v1/recommendations/run-1", None),
        ("POST", "/v1/titles", TITLE),
        ("PATCH", "/v1/titles/sim-1", {"runtime_minutes": 95}),
        ("DELETE", "/v1/titles/sim-1", None),
        ("POST", "/v1/titles/sim-1/credits", CREDIT),
        ("DELETE", "/v1/titles/sim-1/credits/99?role=actor", None),
        ("PUT", "/v1/titles/sim-1/retirement", None),
        ("DELETE", "/v1/titles/sim-1/retirement", None),
    ],
)
def test_an_analyst_key_on_a_write_is_403(client, db, method, path, body):
    response = client.request(method, path, json=body, headers=as_analyst())
    assert response.status_code == 403
    assert "read-only" in error_of(response)["message"]
    assert db.warehouse.calls == []


def test_the_reads_use_the_keys_role(client, db):
    db.dicts_result = []
    client.get("/v1/titles", headers=as_analyst())
    client.get("/v1/titles", headers=as_scientist())
    assert [role for role, _, _ in db.queries] == ["analyst", "scientist"]


def test_health_needs_no_key_and_says_when_the_database_is_down(client, db):
    assert client.get("/v1/health").json() == {
        "status": "ok",
        "database": {"analyst": "ok", "scientist": "ok"},
    }
    db.down = True
    response = client.get("/v1/health")
    assert response.status_code == 503
    assert response.json()["database"]["analyst"] == "OperationalError"


# -- errors as JSON ------------------------------------------------------------------
def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/v1/nothing-here", headers=as_analyst())
    assert response.status_code == 404
    assert error_of(response)["message"] == "no such path: /v1/nothing-here"


def test_an_unexpected_failure_is_a_500_without_internals(client, db):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app.py line 12")

    db.rows = broken
    response = client.get("/v1/users/7/recommendations", headers=as_analyst())
    assert response.status_code == 500
    assert error_of(response)["message"] == "internal error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_a_body_over_the_limit_is_413(client, db):
    sessions = [dict(SESSION, session_id=i) for i in range(1, 40)]
    response = client.post("/v1/sessions", json=sessions, headers=as_scientist())
    assert response.status_code == 413
    assert "larger than the limit of 2000 bytes" in error_of(response)["message"]
    assert db.warehouse.calls == []


def test_a_chunked_body_over_the_limit_is_413(client, db):
    def chunks():
        for _ in range(10):
            yield b" " * 500

    response = client.post(
        "/v1/users",
        content=chunks(),
        headers=as_scientist(**{"content-type": "application/json"}),
    )
    assert response.status_code == 413


def test_a_body_that_is_not_json_is_422(client):
    response = client.post(
        "/v1/users",
        content=b"\xff\xfe not json",
        headers=as_scientist(**{"content-type": "application/json"}),
    )
    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "body"


# -- validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/titles?year=1800", "query.year"),
        ("/v1/titles?year=abc", "query.year"),
        ("/v1/titles?limit=0", "query.limit"),
        ("/v1/titles?limit=101", "query.limit"),
        ("/v1/titles?offset=-1", "query.offset"),
        ("/v1/titles?type=film", "query.type"),
        ("/v1/titles?country=USA", "query.country"),
        ("/v1/titles?q=", "query.q"),
        ("/v1/titles?q=a%00b", "query.q"),
        ("/v1/titles?is_all_time_best=maybe", "query.is_all_time_best"),
        ("/v1/users/0", "path.user_id"),
        ("/v1/users/abc", "path.user_id"),
        ("/v1/users/9223372036854775808", "path.user_id"),
        ("/v1/users/7/recommendations?k=0", "query.k"),
        ("/v1/titles/tm1/similar?k=1000", "query.k"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(client, path, field):
    response = client.get(path, headers=as_analyst())
    assert response.status_code == 422
    assert field in [f["field"] for f in error_of(response)["fields"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"birth_year": 1800}, "body.birth_year"),
        ({"birth_year": "1990"}, "body.birth_year"),
        ({"birth_year": 1990.0}, "body.birth_year"),
        ({"gender": "robot"}, "body.gender"),
        ({"country_code": "usa"}, "body.country_code"),
        ({"plan": None}, "body.plan"),
        ({"signup_at": "2024-01-05T10:00:00"}, "body.signup_at"),  # no time zone
        ({"signup_at": "yesterday"}, "body.signup_at"),
        ({"user_id": 0}, "body.user_id"),
        ({"user_id": 2**63}, "body.user_id"),
        ({"loaded_seq": 5}, "body.loaded_seq"),
    ],
)
def test_a_bad_user_is_422_naming_the_field(client, db, change, field):
    response = client.post("/v1/users", json={**USER, **change}, headers=as_scientist())
    assert response.status_code == 422
    assert field in [f["field"] for f in error_of(response)["fields"]]
    assert db.warehouse.calls == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/titles?gnere=drama", "query.gnere"),
        ("/v1/users/7/recommendations?k=3&limit=5", "query.limit"),
        ("/v1/users/7?verbose=1", "query.verbose"),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it(client, db, path, field):
    response = client.get(path, headers=as_analyst())
    assert response.status_code == 422
    assert [f["field"] for f in error_of(response)["fields"]] == [field]
    assert db.queries == []


def test_every_declared_query_parameter_is_known(client, db):
    db.dicts_result = []
    query = (
        "q=a&genre=drama&country=US&year=2000&type=movie&is_all_time_best=true&limit=5"
        "&source=simulation&is_retired=false"
    )
    assert client.get(f"/v1/titles?{query}&offset=0", headers=as_analyst()).status_code == 200


def test_a_missing_field_is_named(client):
    body = {k: v for k, v in USER.items() if k != "plan"}
    response = client.post("/v1/users", json=body, headers=as_scientist())
    assert [f["field"] for f in error_of(response)["fields"]] == ["body.plan"]


def test_a_bad_session_in_a_list_is_named_by_position(client):
    sessions = [SESSION, {**SESSION, "session_id": 2, "completion_ratio": 1.5}]
    response = client.post("/v1/sessions", json=sessions, headers=as_scientist())
    assert response.status_code == 422
    assert [f["field"] for f in error_of(response)["fields"]] == ["body[1].completion_ratio"]


def test_a_rating_needs_its_time(client):
    response = client.post("/v1/sessions", json={**SESSION, "rating": 4}, headers=as_scientist())
    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "body.rated_at"


def test_an_empty_patch_is_422(client):
    response = client.patch("/v1/users/7", json={}, headers=as_scientist())
    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "body"


# -- python_api's errors over HTTP -----------------------------------------------------
@pytest.mark.parametrize(
    ("error", "status"),
    [
        (python_api.ValidationError("below the minimum", table="sim.users", column="x"), 422),
        (python_api.ConflictError("key user_id=7 already exists", column="user_id"), 409),
        (python_api.PermissionDeniedError("role may not do this"), 403),
        (python_api.DatabaseError("server closed the connection"), 503),
    ],
)
def test_python_api_errors_map_to_statuses(client, db, error, status):
    db.warehouse.error = error
    response = client.post("/v1/users", json=USER, headers=as_scientist())
    assert response.status_code == status
    detail = error_of(response)
    if status == 503:
        assert "server closed" not in detail["message"]  # no internals
    if getattr(error, "column", None):
        assert detail["fields"][0]["field"] == f"body.{error.column}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/users", USER),
        ("POST", "/v1/sessions", SESSION),
        ("PATCH", "/v1/users/7", {"plan": "premium"}),
        ("DELETE", "/v1/users/7", None),
    ],
)
def test_a_write_behind_a_lock_is_503_with_retry_after(client, db, method, path, body):
    db.warehouse.error = python_api.BusyError(
        "sim.users is locked by another transaction (`recdb build` ...): retry in a few seconds"
    )
    response = client.request(method, path, json=body, headers=as_scientist())
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    detail = error_of(response)
    assert detail["code"] == "unavailable" and "locked" in detail["message"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (python_api.NotFoundError, 404),
        (python_api.ConflictError, 409),
        (python_api.ValidationError, 422),
    ],
)
def test_each_python_api_error_has_its_status_by_its_type_and_names_its_field(kind, status):
    error = kind("user_id=9: the problem", table="sim.sessions", column="user_id", row_number=1)
    http = api_error_to_http(error, rows_at="body")
    assert http.status_code == status
    assert http.fields == [{"field": "body[1].user_id", "message": "user_id=9: the problem"}]


def test_deleting_an_unknown_user_is_404_not_the_409_of_a_referenced_one(client, db):
    db.warehouse.error = python_api.NotFoundError("no row with key {'user_id': 7}")
    response = client.delete("/v1/users/7", headers=as_scientist())
    assert response.status_code == 404 and error_of(response)["message"] == "no user 7"
    db.warehouse.error = python_api.ValidationError("user_id=7 is still referenced")
    assert client.delete("/v1/users/7", headers=as_scientist()).status_code == 409


def test_a_database_down_is_503_without_retry_after(client, db):
    db.warehouse.error = python_api.DatabaseError("server closed the connection")
    response = client.post("/v1/users", json=USER, headers=as_scientist())
    assert response.status_code == 503 and "retry-after" not in response.headers


def test_an_unknown_reference_in_a_body_is_422_naming_the_row(client, db):
    db.warehouse.error = python_api.NotFoundError(
        "user_id=9 does not exist in sim.users", column="user_id", row_number=1
    )
    response = client.post("/v1/sessions", json=[SESSION, SESSION], headers=as_scientist())
    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "body[1].user_id"


def test_unknown_users_are_404_on_change_and_delete(client, db):
    db.warehouse.error = python_api.NotFoundError("no row with key {'user_id': 7}")
    assert client.patch("/v1/users/7", json={"plan": "basic"}, headers=as_scientist()).json()[
        "error"
    ]["message"] == ("no user 7")
    assert client.delete("/v1/users/7", headers=as_scientist()).status_code == 404


def test_a_change_breaking_a_rule_with_the_stored_row_names_the_field(client, db):
    db.warehouse.error = python_api.ValidationError(
        "breaks users_check: Failing row contains (...)", table="sim.users"
    )
    response = client.patch(
        "/v1/users/7", json={"churned_at": "2000-01-01T00:00:00Z"}, headers=as_scientist()
    )
    assert response.status_code == 422
    assert error_of(response)["fields"] == [
        {"field": "body.churned_at", "message": "breaks the rule churned_at >= signup_at"}
    ]


def test_deleting_a_user_with_sessions_is_409(client, db):
    db.warehouse.error = python_api.ValidationError("user_id=7 is still referenced")
    assert client.delete("/v1/users/7", headers=as_scientist()).status_code == 409


# -- writes ----------------------------------------------------------------------------
def test_a_user_is_written_through_python_api(client, db):
    response = client.post("/v1/users", json=USER, headers=as_scientist())
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/users/7"
    assert response.json() == {**USER, "churned_at": None}
    (call,) = db.warehouse.calls
    assert call[:2] == ("write", "users")
    frame = call[2]
    assert list(frame.columns) == [
        "user_id", "signup_at", "birth_year", "gender", "country_code", "plan", "churned_at"
    ]  # fmt: skip
    assert frame["signup_at"].iloc[0] == dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC)


def test_sessions_and_their_ratings_are_written_together(client, db):
    rated = {**SESSION, "session_id": 2, "rating": 5, "rated_at": "2024-02-01T21:00:00Z"}
    response = client.post("/v1/sessions", json=[SESSION, rated], headers=as_scientist())
    assert response.status_code == 201
    assert response.json()["written"] == 2
    tables = [(c[1], len(c[2])) for c in db.warehouse.calls]
    assert tables == [("sessions", 2), ("ratings", 1)]
    ratings = db.warehouse.calls[1][2]
    assert ratings.to_dict("records")[0]["session_id"] == 2


def test_patch_sends_only_the_fields_given(client, db):
    response = client.patch(
        "/v1/users/7", json={"plan": "premium", "churned_at": None}, headers=as_scientist()
    )
    assert response.status_code == 200
    (call,) = db.warehouse.calls
    assert call[2].to_dict("records") == [{"user_id": 7, "plan": "premium", "churned_at": None}]
    assert response.json()["churned_at"] is None


def test_a_batch_of_recommendations_is_written_as_one_frame(client, db):
    rows = [
        {"user_id": 1, "title_id": "tm1", "rank": r, "score": 1.0 / r, "is_cold_start": False}
        for r in (1, 2)
    ]
    response = client.post(
        "/v1/recommendations", json={"run_id": "r-1", "rows": rows}, headers=as_scientist()
    )
    assert response.status_code == 201 and response.json() == {"written": 2}
    (call,) = db.warehouse.calls
    frame = call[2]
    assert list(frame.columns) == [
        "run_id",
        "user_id",
        "title_id",
        "rank",
        "score",
        "is_cold_start",
    ]
    assert set(frame["run_id"]) == {"r-1"}


def test_a_run_is_begun_written_then_published(client, db):
    begun = client.post("/v1/runs", json={"run_id": "r-1"}, headers=as_scientist())
    assert begun.status_code == 201 and begun.json() == {"run_id": "r-1", "replaced": 3}
    published = client.post("/v1/runs/r-1/publish", headers=as_scientist())
    assert published.status_code == 200 and published.json() == {"run_id": "r-1", "published": True}
    assert db.warehouse.calls == [("replace_run", "r-1", False), ("publish_run", "r-1")]
    refused = client.post("/v1/runs/r-1/publish", headers=as_analyst())
    assert refused.status_code == 403


def test_rows_of_a_published_run_are_refused(client, db):
    db.warehouse.read = lambda query, params=None: pd.DataFrame({"published": [True]})
    rows = [{"user_id": 1, "title_id": "tm1", "rank": 1, "score": 1.0, "is_cold_start": False}]
    response = client.post(
        "/v1/recommendations", json={"run_id": "r-1", "rows": rows}, headers=as_scientist()
    )
    assert response.status_code == 409
    assert "begin it again" in error_of(response)["message"]
    assert db.warehouse.calls == []


def test_publishing_a_run_never_begun_is_404(client, db):
    db.warehouse.error = python_api.NotFoundError("no run 'nope'", table="recs.runs")
    response = client.post("/v1/runs/nope/publish", headers=as_scientist())
    assert response.status_code == 404


# -- the catalogue's simulated rows: titles, credits, retirements -------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title_id": "has spaces"}, "body.title_id"),
        ({"title_id": "x" * 65}, "body.title_id"),
        ({"title_type": "film"}, "body.title_type"),
        ({"release_year": 1899}, "body.release_year"),
        ({"released_at": "2026-03-01T00:00:00"}, "body.released_at"),  # no time zone
        ({"genres": "drama"}, "body.genres"),
        ({"genres": ["drama", ""]}, "body.genres[1]"),
        ({"genres": ["x"] * 51}, "body.genres"),
        ({"production_countries": [None]}, "body.production_countries[0]"),
        ({"runtime_minutes": 0}, "body.runtime_minutes"),
        ({"imdb_score": 10.5}, "body.imdb_score"),
        ({"title_name": None}, "body.title_name"),
        ({"is_retired": True}, "body.is_retired"),
    ],
)
def test_a_bad_title_is_422_naming_the_field(client, db, change, field):
    response = client.post("/v1/titles", json={**TITLE, **change}, headers=as_scientist())
    assert response.status_code == 422
    assert field in [f["field"] for f in error_of(response)["fields"]]
    assert db.warehouse.calls == []


def test_a_title_is_written_as_one_row_of_sim_titles(client, db):
    response = client.post("/v1/titles", json=TITLE, headers=as_scientist())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/titles/sim-1"
    nulls = {"season_count", "age_certification", "imdb_score", "imdb_vote_count"}
    assert response.json() == {**TITLE, **dict.fromkeys(nulls)}
    ((method, table, frame),) = db.warehouse.calls
    assert (method, table) == ("write", "titles")
    row = frame.to_dict("records")[0]
    assert row["genres"] == ["drama", "romance"] and row["production_countries"] == ["FR"]
    assert frame["imdb_score"].dtype == "float64"  # a null number is a number column


def test_a_title_patch_sends_the_fields_given_and_returns_the_row(client, db):
    response = client.patch(
        "/v1/titles/sim-1", json={"runtime_minutes": 95, "imdb_score": None},
        headers=as_scientist(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["runtime_minutes"] == 95
    assert response.json()["genres"] == ["drama", "romance"]
    ((_, table, frame),) = db.warehouse.calls
    assert table == "titles" and list(frame.columns) == [
        "title_id",
        "runtime_minutes",
        "imdb_score",
    ]
    empty = client.patch("/v1/titles/sim-1", json={}, headers=as_scientist())
    assert empty.status_code == 422
    nulled = client.patch("/v1/titles/sim-1", json={"genres": None}, headers=as_scientist())
    assert nulled.status_code == 422 and error_of(nulled)["fields"][0]["field"] == "body.genres"


@pytest.mark.parametrize(
    ("method", "path", "body", "error", "status", "field"),
    [
        # a genre or country the body names: 422 naming it; a key taken: 409
        ("POST", "/v1/titles", TITLE,
         python_api.NotFoundError("genres=dramaa does not exist", column="genres"),
         422, "body.genres"),
        ("POST", "/v1/titles", TITLE,
         python_api.ValidationError("lists the genre drama twice", column="genres"),
         422, "body.genres"),
        ("POST", "/v1/titles", TITLE,
         python_api.ConflictError("key title_id=sim-1 already exists", column="title_id"),
         409, "body.title_id"),
        ("POST", "/v1/titles", TITLE,
         python_api.ValidationError("a title of the loaded catalogue", column="title_id"),
         409, "body.title_id"),
        ("POST", "/v1/titles", TITLE,
         python_api.ValidationError("already title tm1 of the catalogue", column="title_name"),
         409, "body.title_name"),
        # the title a URL names: 404; a change of the body's: as above
        ("PATCH", "/v1/titles/tm1", {"runtime_minutes": 9},
         python_api.NotFoundError("no row with key", column="title_id", row_number=0),
         404, "path.title_id"),
        ("PATCH", "/v1/titles/sim-1", {"production_countries": ["QQ"]},
         python_api.NotFoundError("QQ does not exist", column="production_countries"),
         422, "body.production_countries"),
        ("DELETE", "/v1/titles/sim-1", None,
         python_api.ValidationError("still referenced from sim.sessions: retire the title",
                                    column="title_id", row_number=0),
         409, None),
        ("DELETE", "/v1/titles/sim-1", None,
         python_api.NotFoundError("no row with key", column="title_id", row_number=0),
         404, "path.title_id"),
        # a credit: of an unknown title 404, a retired one 409, a catalogue person renamed 422
        ("POST", "/v1/titles/nope/credits", CREDIT,
         python_api.NotFoundError("unknown title title_id=nope", column="title_id"),
         404, "path.title_id"),
        ("POST", "/v1/titles/sim-1/credits", CREDIT,
         python_api.ValidationError("sim-1 is a retired title", column="title_id"),
         409, "path.title_id"),
        ("POST", "/v1/titles/sim-1/credits", CREDIT,
         python_api.ValidationError("person_id 99 is Bo in the catalogue", column="person_name"),
         422, "body.person_name"),
        ("POST", "/v1/titles/sim-1/credits", CREDIT,
         python_api.ValidationError("already credited in the catalogue", column="person_id"),
         409, "body.person_id"),
        ("DELETE", "/v1/titles/sim-1/credits/99?role=actor", None,
         python_api.NotFoundError("no row with key", table="sim.credits", row_number=0),
         404, None),
        # a retirement: while a run is open 409, of an unknown title 404
        ("PUT", "/v1/titles/tm1/retirement", None,
         python_api.ValidationError("cannot be retired while run 'x' is open", column="title_id"),
         409, "path.title_id"),
        ("PUT", "/v1/titles/nope/retirement", None,
         python_api.NotFoundError("unknown title title_id=nope", column="title_id"),
         404, "path.title_id"),
        ("DELETE", "/v1/titles/tm1/retirement", None,
         python_api.NotFoundError("no row with key", column="title_id", row_number=0),
         404, None),
    ],
)  # fmt: skip
def test_python_api_refusals_of_catalogue_rows_map_to_http(
    client, db, method, path, body, error, status, field
):
    db.warehouse.error = error
    response = client.request(method, path, json=body, headers=as_scientist())
    assert response.status_code == status, response.text
    detail = error_of(response)
    assert [f["field"] for f in detail["fields"]] == ([field] if field else [])
    assert "Traceback" not in response.text


def test_a_retirement_is_now_unless_given_and_says_whether_it_is_new(client, db):
    before = dt.datetime.now(dt.UTC)
    response = client.put("/v1/titles/tm1/retirement", headers=as_scientist())
    assert response.status_code == 201, response.text
    retired_at = dt.datetime.fromisoformat(response.json()["retired_at"])
    assert before <= retired_at <= dt.datetime.now(dt.UTC)
    ((method, table, frame),) = db.warehouse.calls
    assert (method, table, list(frame["title_id"])) == ("write", "retired_titles", ["tm1"])
    # Already retired: kept as it is, or its time replaced when one is given.
    db.warehouse.calls.clear()
    db.warehouse.retirements = [("tm1", pd.Timestamp("2026-04-01", tz="UTC"))]
    again = client.put("/v1/titles/tm1/retirement", headers=as_scientist())
    assert again.status_code == 200 and again.json()["retired_at"] == "2026-04-01T00:00:00Z"
    assert db.warehouse.calls == []
    given = {"retired_at": "2026-05-01T00:00:00Z"}
    moved = client.put("/v1/titles/tm1/retirement", json=given, headers=as_scientist())
    assert moved.status_code == 200 and moved.json() == {"title_id": "tm1", **given}
    assert db.warehouse.calls[0][1] == "retired_titles"
    naive = client.put(
        "/v1/titles/tm1/retirement", json={"retired_at": "2026-05-01"}, headers=as_scientist()
    )
    assert naive.status_code == 422
    assert error_of(naive)["fields"][0]["field"] == "body.retired_at"


def test_a_retirement_raced_by_another_request_answers_the_one_found(client, db):
    def write(table, frame, upsert=False):  # another request retired it in between
        db.warehouse.retirements = [("tm1", pd.Timestamp("2026-04-01", tz="UTC"))]
        raise python_api.ConflictError("key title_id=tm1 already exists", column="title_id")

    db.warehouse.write = write
    response = client.put("/v1/titles/tm1/retirement", headers=as_scientist())
    assert response.status_code == 200, response.text
    assert response.json() == {"title_id": "tm1", "retired_at": "2026-04-01T00:00:00Z"}


def test_a_credit_is_written_for_the_title_in_the_path_and_deleted_by_its_role(client, db):
    response = client.post("/v1/titles/tm1/credits", json=CREDIT, headers=as_scientist())
    assert response.status_code == 201, response.text
    assert response.json() == {"title_id": "tm1", **CREDIT, "character_name": None}
    deleted = client.delete("/v1/titles/tm1/credits/99?role=director", headers=as_scientist())
    assert deleted.status_code == 204
    keys = db.warehouse.calls[1][2].to_dict("records")
    assert keys == [{"title_id": "tm1", "person_id": 99, "credit_role": "director"}]
    no_role = client.delete("/v1/titles/tm1/credits/99", headers=as_scientist())
    assert no_role.status_code == 422 and error_of(no_role)["fields"][0]["field"] == "query.role"


# -- the hot path ----------------------------------------------------------------------
def test_a_users_list_from_the_newest_run(client, db):
    db.rows_result = [
        ("run-2", 1, "tm1", "One", "movie", 2020, 7.5, 0.9, False, PUBLISHED),
        ("run-2", 2, "ts2", None, "show", None, None, 0.8, False, PUBLISHED),
    ]
    response = client.get("/v1/users/7/recommendations?k=2", headers=as_analyst())
    assert response.json() == {
        "user_id": 7,
        "run_id": "run-2",
        "published_at": "2024-05-01T12:00:00Z",
        "is_cold_start": False,
        "items": [
            {"rank": 1, "title_id": "tm1", "title_name": "One", "title_type": "movie",
             "release_year": 2020, "imdb_score": 7.5, "score": 0.9},
            {"rank": 2, "title_id": "ts2", "title_name": None, "title_type": "show",
             "release_year": None, "imdb_score": None, "score": 0.8},
        ],
    }  # fmt: skip
    _, query, params = db.queries[0]
    assert params == [2, 7]  # bound, never pasted in
    assert "%s" in query and "7" not in query.replace("%s", "")


def test_an_unknown_user_is_404(client, db):
    db.rows_result = []
    response = client.get("/v1/users/7/recommendations", headers=as_analyst())
    assert response.status_code == 404
    assert error_of(response)["message"] == "no user 7"


def test_a_user_without_a_list_gets_the_cold_start_list(client, db):
    answers = [
        [(None,) * 10],  # the user exists; the run has no list for them
        [("tm9", "Nine", "movie", 2001, 8.0, 2.5), ("tm8", "Eight", "movie", 2002, 7.0, 2.4)],
    ]

    async def rows(role, query, params=()):
        if "retired" in query:
            return []
        db.queries.append((role, query, list(params)))
        return answers.pop(0)

    db.rows = rows
    response = client.get("/v1/users/7/recommendations?k=1", headers=as_analyst())
    assert response.status_code == 200
    assert response.json() == {
        "user_id": 7,
        "run_id": None,
        "published_at": None,
        "is_cold_start": True,
        "items": [{"rank": 1, "title_id": "tm9", "title_name": "Nine", "title_type": "movie",
                   "release_year": 2001, "imdb_score": 8.0, "score": 2.5}],
    }  # fmt: skip
    # The precomputed mart, not an aggregate of fact_sessions inside a request.
    assert "from marts.cold_start_titles" in db.queries[-1][1]
    assert "fact_sessions" not in db.queries[-1][1]


def test_retired_titles_are_left_out_of_a_users_list_at_once(client, db):
    """Retired after the run: not served, the next titles of the list in their place (with
    their rank in the run); read from sim.retired_titles as the scientist, whoever asks."""
    db.retired = ["tm1"]
    db.rows_result = [
        ("run-2", 1, "tm1", "One", "movie", 2020, 7.5, 0.9, False, PUBLISHED),
        ("run-2", 2, "ts2", "Two", "show", 2021, None, 0.8, False, PUBLISHED),
        ("run-2", 3, "tm3", "Three", "movie", 2022, None, 0.7, False, PUBLISHED),
    ]
    body = client.get("/v1/users/7/recommendations?k=2", headers=as_analyst()).json()
    assert [(i["rank"], i["title_id"]) for i in body["items"]] == [(2, "ts2"), (3, "tm3")]
    assert body["run_id"] == "run-2" and body["is_cold_start"] is False
    assert db.queries[0][2] == [3, 7]  # k + the retired titles: k of them are left
    assert db.retired_reads == [("scientist", "select title_id from sim.retired_titles")]


def test_retired_titles_are_left_out_of_the_cold_start_list(client, db):
    db.retired = ["tm9"]
    answers = [
        [(None,) * 10],
        [("tm9", "Nine", "movie", 2001, 8.0, 2.5), ("tm8", "Eight", "movie", 2002, 7.0, 2.4)],
    ]

    async def rows(role, query, params=()):
        if "retired" in query:
            return [("tm9",)]
        return answers.pop(0)

    db.rows = rows
    body = client.get("/v1/users/7/recommendations?k=2", headers=as_analyst()).json()
    assert [(i["rank"], i["title_id"]) for i in body["items"]] == [(1, "tm8")]


def test_retired_titles_are_left_out_of_similar_titles(client, db):
    class Similar:
        async def similar(self, title_id, k):
            ids = ["tm1", "tm2", "tm3"][:k]
            return "run-1", [
                {"rank": r, "title_id": t, "similarity": 1.0 / r}
                for r, t in enumerate(ids, start=1)
            ]

    client.app.state.similar = Similar()
    db.retired = ["tm1"]
    db.rows_result = [(1,)]
    db.dicts_result = []
    body = client.get("/v1/titles/tm0/similar?k=2", headers=as_analyst()).json()
    assert [(i["rank"], i["title_id"]) for i in body["items"]] == [(1, "tm2"), (2, "tm3")]


def test_a_retirement_counts_at_once_in_the_worker_that_wrote_it(client, db):
    client.app.state.retired = RetiredTitles(refresh_seconds=3600)  # no reload meanwhile
    db.rows_result = [("run-2", 1, "tm1", "One", "movie", 2020, 7.5, 0.9, False, PUBLISHED)]

    def served():
        body = client.get("/v1/users/7/recommendations", headers=as_analyst()).json()
        return [i["title_id"] for i in body["items"]]

    assert served() == ["tm1"]
    assert client.put("/v1/titles/tm1/retirement", headers=as_scientist()).status_code == 201
    assert served() == []
    assert client.delete("/v1/titles/tm1/retirement", headers=as_scientist()).status_code == 204
    assert served() == ["tm1"]
    assert len(db.retired_reads) == 1


def test_without_a_scientist_key_retired_titles_come_from_the_marts():
    """Analysts read no sim table: a server with analyst keys only has the last build's."""

    class AnalystOnly:
        pools = {"analyst": object()}
        reads = []

        async def rows(self, role, query, params=()):
            self.reads.append((role, query))
            return [("tm5",)]

    async def scenario():
        db = AnalystOnly()
        assert await RetiredTitles(60).ids(db, "analyst") == frozenset({"tm5"})
        assert db.reads == [("analyst", "select title_id from marts.dim_titles where is_retired")]

    asyncio.run(scenario())


class ColdStartDatabase:
    """Answers the cold-start query with ``lists[n]`` on its n-th call; a call waits while
    ``hold`` is set (a refresh that takes long: a build swapping the mart in, say)."""

    def __init__(self, *lists):
        self.lists = list(lists)
        self.calls = 0
        self.hold: asyncio.Event | None = None

    async def rows(self, role, query, params=()):
        assert "marts.cold_start_titles" in query
        answer = self.lists[min(self.calls, len(self.lists) - 1)]
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        if isinstance(answer, Exception):
            raise answer
        return answer


OLD_LIST = [("tm1", "One", "movie", 2001, 8.0, 2.5)]
NEW_LIST = [("tm2", "Two", "movie", 2002, 7.0, 2.4)]


def test_a_cold_start_refresh_never_makes_a_request_wait():
    async def scenario():
        cold = ColdStartList(refresh_seconds=0)  # every request finds the list due
        db = ColdStartDatabase(OLD_LIST, NEW_LIST)
        assert await cold.rows(db, "analyst") == OLD_LIST  # the first load is waited for
        db.hold = asyncio.Event()
        # The reload hangs; requests are answered from the list loaded, without waiting
        # (wait_for only guards against a hang: a request waiting on the reload never ends).
        for _ in range(3):
            assert await asyncio.wait_for(cold.rows(db, "analyst"), 5) == OLD_LIST
        assert db.calls == 2  # one reload at a time, not one per request
        db.hold.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert await cold.rows(db, "analyst") == NEW_LIST

    asyncio.run(scenario())


def test_a_failed_cold_start_reload_keeps_serving_the_list():
    async def scenario():
        cold = ColdStartList(refresh_seconds=0)
        db = ColdStartDatabase(OLD_LIST, psycopg.OperationalError("server closed"), NEW_LIST)
        assert await cold.rows(db, "analyst") == OLD_LIST
        assert await cold.rows(db, "analyst") == OLD_LIST  # starts the failing reload
        await asyncio.sleep(0)
        assert await cold.rows(db, "analyst") == OLD_LIST  # starts the next one
        await asyncio.sleep(0)
        assert await cold.rows(db, "analyst") == NEW_LIST

    asyncio.run(scenario())


def test_a_cold_start_list_not_built_is_a_503_saying_to_build(client, db):
    answers = [[(None,) * 9]]

    async def rows(role, query, params=()):
        if "cold_start_titles" in query:
            raise psycopg.errors.UndefinedTable("relation does not exist")
        if "retired" in query:
            return []
        return answers.pop(0)

    db.rows = rows
    response = client.get("/v1/users/7/recommendations", headers=as_analyst())
    assert response.status_code == 503
    assert "run `recdb build`" in error_of(response)["message"]


# -- search SQL ------------------------------------------------------------------------
def test_like_patterns_take_wildcards_literally():
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_the_search_binds_every_value():
    query, params = search_query(
        q="o'neil; drop table x",
        genre="Drama",
        country="us",
        year=2020,
        title_type="movie",
        is_all_time_best=True,
        limit=5,
        offset=10,
        source="simulation",
        is_retired=False,
    )
    text = query.as_string()
    assert "drop table" not in text and "o'neil" not in text
    assert params == [
        "%o'neil; drop table x%", "drama", "US", 2020, "movie", True, "simulation", False, 6, 10
    ]  # fmt: skip
    assert text.count("%s") == len(params)
    bare, bare_params = search_query(
        q=None, genre=None, country=None, year=None, title_type=None,
        is_all_time_best=None, limit=20, offset=0,
    )  # fmt: skip
    assert "where" not in bare.as_string() and bare_params == [21, 0]
    assert isinstance(bare, sql.Composed)


# -- OpenAPI ---------------------------------------------------------------------------
def test_the_openapi_spec_documents_every_route_and_its_errors(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/v1/titles", "/v1/titles/{title_id}", "/v1/titles/{title_id}/similar", "/v1/users",
        "/v1/users/{user_id}", "/v1/sessions", "/v1/users/{user_id}/sessions",
        "/v1/users/{user_id}/recommendations", "/v1/recommendations", "/v1/health",
        "/v1/persons", "/v1/persons/{person_id}", "/v1/genres", "/v1/countries",
        "/v1/titles/{title_id}/credits", "/v1/titles/{title_id}/credits/{person_id}",
        "/v1/titles/{title_id}/retirement",
    }  # fmt: skip
    assert set(spec["paths"]["/v1/titles"]) == {"get", "post"}
    assert set(spec["paths"]["/v1/titles/{title_id}"]) == {"get", "patch", "delete"}
    assert set(spec["paths"]["/v1/titles/{title_id}/retirement"]) == {"put", "delete"}
    retire = spec["paths"]["/v1/titles/{title_id}/retirement"]["put"]["responses"]
    assert {"200", "201", "403", "404", "409", "422"} <= set(retire)
    search = spec["paths"]["/v1/titles"]["get"]
    assert {p["name"] for p in search["parameters"]} == {
        "q", "genre", "country", "person", "year", "type", "is_all_time_best", "source",
        "is_retired", "limit", "offset"
    }  # fmt: skip
    persons = spec["paths"]["/v1/persons"]["get"]
    assert {p["name"] for p in persons["parameters"]} == {"q", "role", "limit", "offset"}
    error_ref = search["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorResponse")
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert client.get("/docs").status_code == 200


# -- the HTTP client -------------------------------------------------------------------
def test_the_client_sends_the_key_and_batches_rows(monkeypatch):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        return httpx.Response(201, json={"written": len(body["rows"])})

    monkeypatch.setattr("web_api.client.BATCH_ROWS", 2)
    frame = pd.DataFrame(
        {
            "run_id": ["r"] * 5,
            "user_id": [1, 1, 2, 2, 3],
            "title_id": ["a", "b", "a", "b", "a"],
            "rank": [1, 2, 1, 2, 1],
            "score": [0.5] * 5,
            "is_cold_start": [False] * 5,
        }
    )
    client = RecdbClient("http://api.test/", "k" * 20, transport=httpx.MockTransport(handler))
    assert client.write_recommendations("r", frame) == 5
    assert [len(json.loads(r.content)["rows"]) for r in seen] == [2, 2, 1]
    assert all(r.headers["x-api-key"] == "k" * 20 for r in seen)
    assert json.loads(seen[0].content)["rows"][0] == {
        "user_id": 1, "title_id": "a", "rank": 1, "score": 0.5, "is_cold_start": False
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (422, python_api.ValidationError),
        (409, python_api.ConflictError),
        (404, python_api.NotFoundError),
        (401, python_api.PermissionDeniedError),
        (403, python_api.PermissionDeniedError),
        (503, python_api.DatabaseError),
    ],
)
def test_the_client_raises_python_api_errors(status, error):
    body = {"error": {"status": status, "code": "x", "message": "why", "fields": []}}
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    client = RecdbClient("http://api.test", "k" * 20, transport=transport)
    with pytest.raises(error, match="why"):
        client.health()


def test_the_clients_404_is_a_missing_key_not_a_validation_error():
    body = {"error": {"status": 404, "code": "not_found", "message": "no run 'x'", "fields": []}}
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json=body))
    client = RecdbClient("http://api.test", "k" * 20, transport=transport)
    with pytest.raises(python_api.ApiError) as caught:
        client.publish_run("x")
    assert type(caught.value) is python_api.NotFoundError
    assert not isinstance(caught.value, python_api.ValidationError)
    assert client.delete_run("x") == 0  # an unknown run has no rows to delete


def test_the_clients_503_with_retry_after_is_a_busy_error():
    body = {"error": {"status": 503, "code": "unavailable", "message": "locked", "fields": []}}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(503, json=body, headers={"Retry-After": "5"})
    )
    client = RecdbClient("http://api.test", "k" * 20, transport=transport)
    with pytest.raises(python_api.BusyError, match="retry after 5 s"):
        client.health()


def test_the_client_needs_a_key(monkeypatch):
    monkeypatch.delenv("RECDB_API_KEY", raising=False)
    with pytest.raises(python_api.PermissionDeniedError, match="set RECDB_API_KEY"):
        RecdbClient("http://api.test")


def test_an_unreachable_server_is_a_database_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    client = RecdbClient("http://api.test", "k" * 20, transport=httpx.MockTransport(refuse))
    with pytest.raises(python_api.DatabaseError, match="cannot reach the web API"):
        client.health()
