"""The web API as users meet it: `recdb serve` (uvicorn) on localhost over a real warehouse
(simulated users, a recommender run, built marts), real roles, python_api's checks over
HTTP, the recommender writing through HTTP, and schemathesis fuzzing the OpenAPI spec."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import recommender
from recdb.warehouse.server import free_port
from tests.conftest import RECOMMENDATION_ROWS

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
ANALYST = "analyst-key-integration-0001"
SCIENTIST = "scientist-key-integration-01"
RUN = "web-1"
K = 5
NEW_USER = {
    "user_id": 900001,
    "signup_at": "2024-03-01T09:00:00Z",
    "birth_year": 1991,
    "gender": "nonbinary",
    "country_code": "FR",
    "plan": "standard",
}


@dataclass
class Api:
    url: str
    warehouse: object
    log: Path

    def get(self, path, key=ANALYST, **kwargs):
        headers = {"X-API-Key": key} if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=30, **kwargs)

    def send(self, method, path, key=SCIENTIST, **kwargs):
        headers = {"X-API-Key": key} if key else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"recdb serve exited: {log.read_text()}")
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"recdb serve did not become healthy: {log.read_text()}")


@contextlib.contextmanager
def serving(warehouse, log: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """`recdb serve` over ``warehouse`` on a free port, with both test keys and the extra
    ``RECDB_API_*`` settings given; yields (url, port) once healthy; the log must show no
    traceback when it stops."""
    port = free_port()
    env = {**warehouse.env(), "RECDB_API_KEYS": f"{ANALYST}:analyst,{SCIENTIST}:scientist"}
    env.update(settings)
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "recdb.cli", "serve", "--port", str(port), "--no-access-log"],
            env=env,
            cwd=PROJECT_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url, port
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def api(built_warehouse, tmp_path_factory):
    """A simulated, recommended and built warehouse, served by `recdb serve` on a free port."""
    warehouse = built_warehouse
    warehouse.recdb("simulate", "--users", "400", "--seed", "4")
    warehouse.dbt("build")
    warehouse.recdb("recommend", "--run-id", RUN, "--k", str(K))
    warehouse.dbt("build")
    log = tmp_path_factory.mktemp("web_api") / "serve.log"
    with serving(warehouse, log, RECDB_API_MAX_BODY_BYTES="1000000") as (url, _):
        yield Api(url, warehouse, log)


def one(api, query, params=None):
    return api.warehouse.scalar(query, params)


# -- security and roles ----------------------------------------------------------------
def test_health_checks_the_database(api):
    response = api.get("/v1/health", key=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": {"analyst": "ok", "scientist": "ok"}}


def test_the_server_connects_as_the_keys_roles_never_as_owner(api):
    assert api.get("/v1/titles?limit=1").status_code == 200
    assert api.get("/v1/titles?limit=1", key=SCIENTIST).status_code == 200
    users = {
        row[0]
        for row in api.warehouse.query(
            "select usename from pg_stat_activity where application_name = 'recdb-web-api'"
        )
    }
    assert users == {"recdb_analyst", "recdb_scientist"}


def test_no_key_is_401_and_an_analyst_write_is_403(api):
    assert api.get("/v1/users/1", key=None).status_code == 401
    assert api.get("/v1/users/1", key="not-a-key-of-this-server").status_code == 401
    response = api.send("POST", "/v1/users", key=ANALYST, json=NEW_USER)
    assert response.status_code == 403
    assert one(api, "select count(*) from sim.users where user_id = %s", (900001,)) == 0


def test_an_analyst_cannot_write_even_past_the_api(api):
    """The analyst role itself is read-only in PostgreSQL: the API's 403 is not the only guard."""
    with pytest.raises(Exception, match="permission denied"):
        api.warehouse.execute("insert into sim.users (user_id) values (1)", role="analyst")


# -- reads -----------------------------------------------------------------------------
def test_a_users_recommendations_are_the_newest_runs(api):
    user_id = one(
        api,
        "select min(user_id) from marts.fact_recommendations where run_id = %s "
        "and not is_cold_start",
        (RUN,),
    )
    expected = api.warehouse.query(
        "select recommendation_rank, title_id, title_name, recommendation_score "
        "from marts.fact_recommendations where run_id = %s and user_id = %s "
        "order by recommendation_rank",
        (RUN, user_id),
    )
    body = api.get(f"/v1/users/{user_id}/recommendations").json()
    assert body["run_id"] == RUN and body["is_cold_start"] is False
    got = [(i["rank"], i["title_id"], i["title_name"], i["score"]) for i in body["items"]]
    assert got == [tuple(r) for r in expected] and len(got) == K
    assert len(api.get(f"/v1/users/{user_id}/recommendations?k=2").json()["items"]) == 2


def test_a_user_without_history_gets_the_runs_cold_start_list(api):
    user_id = one(
        api,
        "select min(user_id) from marts.fact_recommendations where run_id = %s and is_cold_start",
        (RUN,),
    )
    assert user_id is not None, "the simulation should leave some users without sessions"
    body = api.get(f"/v1/users/{user_id}/recommendations").json()
    assert body["is_cold_start"] is True and body["run_id"] == RUN


def test_the_cold_start_mart_is_the_recommenders_cold_start_list(api, monkeypatch):
    """marts.cold_start_titles (built by `recdb build`) holds the list, scores and order the
    recommender computed from the same marts (recommender.model.cold_start_list)."""
    monkeypatch.setenv("RECDB_HOME", str(api.warehouse.home))
    model = recommender.load_model(RUN)
    expected = list(
        zip(
            model.title_ids[model.cold_start.titles[:100]],
            model.cold_start.scores[:100].tolist(),
            strict=True,
        )
    )
    mart = api.warehouse.query(
        "select title_id, cold_start_score from marts.cold_start_titles order by cold_start_rank"
    )
    assert len(mart) == min(100, one(api, "select count(*) from marts.dim_titles"))
    assert mart == expected
    # And the run's cold-start users got its head.
    cold_user = one(
        api,
        "select min(user_id) from recs.recommendations where run_id = %s and is_cold_start",
        (RUN,),
    )
    given = api.warehouse.query(
        f"select title_id, score from {RECOMMENDATION_ROWS} as recs "
        "where run_id = %s and user_id = %s "
        "order by rank",
        (RUN, cold_user),
    )
    assert given == expected[: len(given)] and len(given) == K


def test_an_unknown_user_is_404(api):
    response = api.get("/v1/users/987654321/recommendations")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no user 987654321"
    assert api.get("/v1/users/987654321").status_code == 404
    assert api.get("/v1/users/987654321/sessions").status_code == 404


def test_a_title_with_its_genres_countries_and_credits(api):
    title_id = one(
        api,
        "select title_id from marts.dim_credits group by title_id order by count(*) desc limit 1",
    )
    body = api.get(f"/v1/titles/{title_id}").json()
    assert body["title_id"] == title_id
    assert len(body["credits"]) == one(
        api, "select count(*) from marts.dim_credits where title_id = %s", (title_id,)
    )
    genres = [g["genre_id"] for g in body["genres"]]
    assert genres == [
        r[0]
        for r in api.warehouse.query(
            "select genre_id from marts.bridge_title_genres where title_id = %s "
            "order by genre_position",
            (title_id,),
        )
    ]
    assert sum(g["is_main_genre"] for g in body["genres"]) == (1 if genres else 0)
    assert api.get("/v1/titles/tm-no-such-title").status_code == 404


def test_search_applies_every_filter_and_pages(api):
    genre, country, title_type = api.warehouse.query(
        "select g.genre_id, c.country_code, t.title_type from marts.dim_titles as t "
        "join marts.bridge_title_genres as g using (title_id) "
        "join marts.bridge_title_prod_countries as c using (title_id) "
        "group by 1, 2, 3 order by count(*) desc limit 1"
    )[0]
    params = {"genre": genre, "country": country, "type": title_type, "limit": 3}
    first = api.get("/v1/titles", params=params).json()
    second = api.get("/v1/titles", params={**params, "offset": first["next_offset"]}).json()
    both = api.get("/v1/titles", params={**params, "limit": 6}).json()
    assert [t["title_id"] for t in first["items"] + second["items"]] == [
        t["title_id"] for t in both["items"]
    ]
    expected = one(
        api,
        "select count(*) from marts.dim_titles as t where t.title_type = %s "
        "and exists (select 1 from marts.bridge_title_genres as g "
        "where g.title_id = t.title_id and g.genre_id = %s) "
        "and exists (select 1 from marts.bridge_title_prod_countries as c "
        "where c.title_id = t.title_id and c.country_code = %s)",
        (title_type, genre, country),
    )
    everything = api.get("/v1/titles", params={**params, "limit": 100}).json()
    assert len(everything["items"]) == min(expected, 100)
    assert all(t["title_type"] == title_type for t in everything["items"])


def test_search_by_name_year_and_best_of(api):
    name, year = api.warehouse.query(
        "select title_name, release_year from marts.dim_titles "
        "where title_name is not null and is_all_time_best order by title_id limit 1"
    )[0]
    word = name.split()[-1].lower()
    body = api.get(
        "/v1/titles", params={"q": word, "year": year, "is_all_time_best": "true"}
    ).json()
    assert body["items"], body
    assert all(word in t["title_name"].lower() for t in body["items"])
    assert all(t["release_year"] == year and t["is_all_time_best"] for t in body["items"])
    # Wildcards in q are literal: no title has a '%' in its name.
    assert api.get("/v1/titles", params={"q": "%"}).json()["items"] == []
    injected = api.get("/v1/titles", params={"q": "x' or '1'='1"})
    assert injected.status_code == 200 and injected.json()["items"] == []


def test_a_person_with_every_credit_and_their_titles(api):
    person_id, person_name, credits = api.warehouse.query(
        "select p.person_id, p.person_name, count(*) from marts.dim_persons as p "
        "join marts.dim_credits as c using (person_id) "
        "group by 1, 2 order by count(distinct c.title_id) desc, 1 limit 1"
    )[0]
    person = api.get(f"/v1/persons/{person_id}").json()
    assert person["person_id"] == person_id and person["person_name"] == person_name
    assert len(person["credits"]) == credits
    years = [c["release_year"] for c in person["credits"] if c["release_year"] is not None]
    assert years == sorted(years, reverse=True)
    titles = api.get("/v1/titles", params={"person": person_id, "limit": 100}).json()
    assert {t["title_id"] for t in titles["items"]} == {c["title_id"] for c in person["credits"]}
    assert api.get("/v1/persons/2147483647").status_code == 404


def test_person_search_by_name_and_role_counts_titles_and_pages(api):
    word = one(
        api,
        "select split_part(person_name, ' ', 1) from marts.dim_persons "
        "join marts.dim_credits using (person_id) where credit_role = 'director' "
        "group by person_name order by count(*) desc, person_name limit 1",
    )
    body = api.get("/v1/persons", params={"q": word.upper(), "role": "director"}).json()
    assert body["items"] and all(word.lower() in p["person_name"].lower() for p in body["items"])
    for found in body["items"][:3]:
        expected = one(
            api,
            "select count(distinct title_id) from marts.dim_credits "
            "where person_id = %s and credit_role = 'director'",
            (found["person_id"],),
        )
        assert found["title_count"] == expected
    first = api.get("/v1/persons", params={"limit": 2}).json()
    second = api.get("/v1/persons", params={"limit": 2, "offset": first["next_offset"]}).json()
    both = api.get("/v1/persons", params={"limit": 4}).json()
    assert first["items"] + second["items"] == both["items"]
    counts = [p["title_count"] for p in both["items"]]
    assert counts == sorted(counts, reverse=True)
    assert api.get("/v1/persons", params={"q": "%"}).json()["items"] == []
    assert api.get("/v1/persons", params={"role": "writer"}).status_code == 422


def test_genres_and_countries_with_their_title_counts(api):
    genres = api.get("/v1/genres", params={"limit": 100}).json()
    expected = dict(
        api.warehouse.query(
            "select d.genre_id, count(b.title_id) from marts.dim_genres as d "
            "left join marts.bridge_title_genres as b using (genre_id) group by 1"
        )
    )
    assert {g["genre_id"]: g["title_count"] for g in genres["items"]} == expected
    assert genres["next_offset"] is None
    drama = api.get("/v1/genres", params={"q": "DRAM"}).json()["items"]
    assert [g["genre_id"] for g in drama] == ["drama"]
    countries = api.get("/v1/countries", params={"limit": 100}).json()["items"]
    top = countries[0]
    titles = api.get("/v1/titles", params={"country": top["country_code"], "limit": 100}).json()
    assert len(titles["items"]) == min(top["title_count"], 100)
    assert api.get("/v1/countries", params={"q": top["country_code"].lower()}).json()["items"]


def test_similar_titles_are_the_models(api, monkeypatch):
    monkeypatch.setenv("RECDB_HOME", str(api.warehouse.home))
    title_id = one(api, "select min(title_id) from marts.dim_titles")
    expected = recommender.load_model(RUN).similar_titles(title_id, 4)
    body = api.get(f"/v1/titles/{title_id}/similar?k=4").json()
    assert body["run_id"] == RUN
    assert [i["title_id"] for i in body["items"]] == list(expected["title_id"])
    assert all(i["title_name"] is not None or i["title_id"] for i in body["items"])


def test_a_users_sessions_newest_first(api):
    user_id = one(
        api, "select user_id from marts.fact_sessions group by 1 order by count(*) desc limit 1"
    )
    count = one(api, "select count(*) from marts.fact_sessions where user_id = %s", (user_id,))
    body = api.get(f"/v1/users/{user_id}/sessions?limit=100").json()
    assert len(body["items"]) == min(count, 100)
    starts = [s["started_at"] for s in body["items"]]
    assert starts == sorted(starts, reverse=True)


# -- writes ----------------------------------------------------------------------------
def test_a_scientist_writes_a_user_that_lands_and_shows_after_a_build(api):
    response = api.send("POST", "/v1/users", json=NEW_USER)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/users/900001"
    assert api.warehouse.query(
        "select plan, country_code from sim.users where user_id = 900001"
    ) == [("standard", "FR")]
    assert api.send("POST", "/v1/users", json=NEW_USER).status_code == 409
    # Reads show the marts: the user appears after the next build.
    assert api.get("/v1/users/900001").status_code == 404
    api.warehouse.dbt("build", "--select", "dim_users")
    assert api.get("/v1/users/900001").json() == {**NEW_USER, "churned_at": None}
    # No history and no list in the run: the cold-start list, precomputed by the build,
    # is the one the run gave its cold-start users.
    body = api.get("/v1/users/900001/recommendations").json()
    assert body["is_cold_start"] is True and body["run_id"] is None
    cold_user = one(
        api,
        "select min(user_id) from recs.recommendations where run_id = %s and is_cold_start",
        (RUN,),
    )
    run_list = [
        r[0]
        for r in api.warehouse.query(
            f"select title_id from {RECOMMENDATION_ROWS} as recs "
            "where run_id = %s and user_id = %s "
            "order by rank",
            (RUN, cold_user),
        )
    ]
    assert [i["title_id"] for i in body["items"]][:K] == run_list
    # All of it, as the cold-start mart holds it.
    body = api.get("/v1/users/900001/recommendations?k=100").json()
    mart = api.warehouse.query(
        "select cold_start_rank, title_id, title_name, cold_start_score "
        "from marts.cold_start_titles order by cold_start_rank"
    )
    got = [(i["rank"], i["title_id"], i["title_name"], i["score"]) for i in body["items"]]
    assert got == [tuple(r) for r in mart] and len(got) == 100


def test_a_patch_changes_the_landing_row(api):
    response = api.send(
        "PATCH", "/v1/users/900001", json={"plan": "premium", "churned_at": "2024-06-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["plan"] == "premium"
    assert one(api, "select plan from sim.users where user_id = 900001") == "premium"
    before_signup = api.send(
        "PATCH", "/v1/users/900001", json={"churned_at": "2020-01-01T00:00:00Z"}
    )
    assert before_signup.status_code == 422
    assert before_signup.json()["error"]["fields"] == [
        {"field": "body.churned_at", "message": "breaks the rule churned_at >= signup_at"}
    ]
    assert api.send("PATCH", "/v1/users/900999", json={"plan": "basic"}).status_code == 404


def test_sessions_and_ratings_are_written_in_one_transaction(api):
    title_id = one(api, "select min(title_id) from marts.dim_titles")
    session = {
        "session_id": 900001,
        "user_id": 900001,
        "title_id": title_id,
        "started_at": "2024-04-01T20:00:00Z",
        "ended_at": "2024-04-01T21:30:00Z",
        "minutes_watched": 90,
        "completion_ratio": 1,
        "rating": 5,
        "rated_at": "2024-04-01T21:31:00Z",
    }
    bad = {**session, "session_id": 900002, "ended_at": "2024-04-01T19:00:00Z"}
    response = api.send("POST", "/v1/sessions", json=[session, bad])
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body[1].ended_at"
    assert one(api, "select count(*) from sim.sessions where user_id = 900001") == 0
    unknown = api.send("POST", "/v1/sessions", json={**session, "title_id": "tm-nope"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"][0]["field"] == "body.title_id"
    response = api.send("POST", "/v1/sessions", json=session)
    assert response.status_code == 201, response.text
    assert one(api, "select rating from sim.ratings where session_id = 900001") == 5
    assert api.send("POST", "/v1/sessions", json=session).status_code == 409
    # A user with sessions cannot be deleted; one without can, and is gone.
    assert api.send("DELETE", "/v1/users/900001").status_code == 409
    assert api.send("POST", "/v1/users", json={**NEW_USER, "user_id": 900002}).status_code == 201
    assert api.send("DELETE", "/v1/users/900002").status_code == 204
    assert api.send("DELETE", "/v1/users/900002").status_code == 404


def test_a_body_over_the_limit_is_413(api):
    sessions = [{"session_id": i, "padding": "x" * 1000} for i in range(1200)]
    response = api.send("POST", "/v1/sessions", json=sessions)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_recommender_writes_through_http(api):
    env = {"RECDB_API_KEY": SCIENTIST}
    done = _recdb(
        api, env, "recommend", "--run-id", "via-http", "--k", str(K), "--api-url", api.url
    )
    assert done.returncode == 0, done.stderr
    rows = f"select user_id, rank, title_id, score, is_cold_start from {RECOMMENDATION_ROWS} r "
    ours = api.warehouse.query(rows + "where run_id = 'via-http' order by user_id, rank")
    theirs = api.warehouse.query(rows + "where run_id = %s order by user_id, rank", (RUN,))
    # Same data, config and seed: the same lists as the in-process run (users added since
    # get the cold-start list in both).
    assert len(ours) >= len(theirs) > 0
    assert set(theirs) <= set(ours)
    again = _recdb(
        api, env, "recommend", "--run-id", "via-http", "--k", str(K), "--api-url", api.url
    )
    assert "replacing" in again.stdout
    assert one(api, rows.replace("user_id, rank, title_id, score, is_cold_start", "count(*)")
               + "where run_id = 'via-http'") == len(ours)  # fmt: skip
    refused = _recdb(
        api, {"RECDB_API_KEY": ANALYST}, "recommend", "--run-id", "x", "--api-url", api.url
    )
    assert refused.returncode == 1
    assert "HTTP 403" in refused.stderr and "read-only" in refused.stderr


def _recdb(api, env, *args):
    return subprocess.run(
        [sys.executable, "-m", "recdb.cli", *args],
        env={**api.warehouse.env(), **env},
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# -- the catalogue's simulated rows: after the recommender's runs, whose lists they would change
SIM_TITLE = {
    "title_id": "sim-web-1",
    "title_name": "A Title Over HTTP",
    "title_type": "show",
    "release_year": 2026,
    "released_at": "2026-03-01T00:00:00Z",
    "genres": ["drama", "comedy"],
    "production_countries": ["FR"],
    "runtime_minutes": 45,
    "season_count": 2,
}
NEW_PERSON = {
    "person_id": 990000001,
    "person_name": "Ann Over-Http",
    "credit_role": "actor",
    "character_name": "Joan",
}
#: A user added with the title, built with it: no list in any run, so the cold-start list.
COLD_USER = {**NEW_USER, "user_id": 900010}
#: The marts the title, its credits and the user are in (dbt run: the contracts, no tests),
#: and the view over dim_titles that replacing it drops (`recdb build` does all of it).
CATALOG_MARTS = (
    "dim_titles", "dim_credits", "dim_persons", "bridge_title_genres",
    "bridge_title_prod_countries", "dim_users", "fact_recommendations",
)  # fmt: skip


def fields(response):
    return [f["field"] for f in response.json()["error"]["fields"]]


def test_a_scientist_adds_a_title_and_credits_that_the_catalogue_has_after_a_build(api):
    created = api.send("POST", "/v1/titles", json=SIM_TITLE)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/titles/sim-web-1"
    genres = one(api, "select genres from sim.titles where title_id = 'sim-web-1'")
    assert genres == ["drama", "comedy"]
    assert api.send("POST", "/v1/titles", key=ANALYST, json=SIM_TITLE).status_code == 403
    again = api.send("POST", "/v1/titles", json=SIM_TITLE)
    assert again.status_code == 409 and fields(again) == ["body.title_id"]
    # What PostgreSQL refuses, each a status and the field it is about.
    other = {**SIM_TITLE, "title_id": "sim-web-2", "title_name": "Another"}
    catalogue_id, name, year, kind = api.warehouse.query(
        "select title_id, title_name, release_year, title_type from marts.dim_titles "
        "where title_name is not null and release_year >= 1900 order by title_id limit 1"
    )[0]
    refused = {
        "unknown genre": ({**other, "genres": ["dramaa"]}, 422, "body.genres"),
        "a genre twice": ({**other, "genres": ["drama", "drama"]}, 422, "body.genres"),
        "unknown country": (
            {**other, "production_countries": ["QQ"]}, 422, "body.production_countries"
        ),
        "a catalogue id": ({**other, "title_id": catalogue_id}, 409, "body.title_id"),
        "a catalogue title": (
            {**other, "title_name": name, "release_year": year, "title_type": kind},
            409,
            "body.title_name",
        ),
    }  # fmt: skip
    for case, (body, status, field) in refused.items():
        response = api.send("POST", "/v1/titles", json=body)
        assert (response.status_code, fields(response)) == (status, [field]), case
        assert "Traceback" not in response.text
    assert one(api, "select count(*) from sim.titles") == 1
    # Credits: a new person, and one of the catalogue under the catalogue's name.
    person_id, person_name = api.warehouse.query(
        "select person_id, person_name from marts.dim_persons "
        "where person_name is not null order by person_id limit 1"
    )[0]
    director = {"person_id": person_id, "person_name": person_name, "credit_role": "director"}
    for credit in (NEW_PERSON, director):
        response = api.send("POST", "/v1/titles/sim-web-1/credits", json=credit)
        assert response.status_code == 201, response.text
    duplicate = api.send("POST", "/v1/titles/sim-web-1/credits", json=NEW_PERSON)
    assert duplicate.status_code == 409
    renamed = {**director, "person_name": f"{person_name} Jr", "credit_role": "actor"}
    response = api.send("POST", "/v1/titles/sim-web-1/credits", json=renamed)
    assert response.status_code == 422 and fields(response) == ["body.person_name"]
    response = api.send("POST", "/v1/titles/tm-no-such-title/credits", json=NEW_PERSON)
    assert response.status_code == 404 and fields(response) == ["path.title_id"]
    assert (
        api.send("POST", "/v1/titles/sim-web-1/credits", key=ANALYST, json=director).status_code
        == 403
    )
    # A change of the landing row; the loaded catalogue's titles do not change here.
    patched = api.send("PATCH", "/v1/titles/sim-web-1", json={"runtime_minutes": 50})
    assert patched.status_code == 200 and patched.json()["runtime_minutes"] == 50
    bad = api.send("PATCH", "/v1/titles/sim-web-1", json={"genres": ["nope"]})
    assert bad.status_code == 422 and fields(bad) == ["body.genres"]
    catalogue_patch = api.send("PATCH", f"/v1/titles/{catalogue_id}", json={"runtime_minutes": 1})
    assert catalogue_patch.status_code == 404
    # The catalogue marts have it after the build, with its source.
    assert api.send("POST", "/v1/users", json=COLD_USER).status_code == 201
    assert api.get("/v1/titles/sim-web-1").status_code == 404
    api.warehouse.dbt("run", "--select", *CATALOG_MARTS)
    body = api.get("/v1/titles/sim-web-1").json()
    assert (body["source"], body["is_retired"], body["retired_at"]) == ("simulation", False, None)
    assert body["released_at"] == "2026-03-01T00:00:00Z" and body["runtime_minutes"] == 50
    assert [(g["genre_id"], g["is_main_genre"]) for g in body["genres"]] == [
        ("drama", True), ("comedy", False)
    ]  # fmt: skip
    assert {(c["person_id"], c["credit_role"], c["source"]) for c in body["credits"]} == {
        (990000001, "actor", "simulation"), (person_id, "director", "simulation")
    }  # fmt: skip
    simulated = api.get("/v1/titles", params={"source": "simulation"}).json()["items"]
    assert [t["title_id"] for t in simulated] == ["sim-web-1"]
    catalog = api.get("/v1/titles", params={"source": "catalog", "is_retired": "false"}).json()
    assert catalog["items"] and {t["source"] for t in catalog["items"]} == {"catalog"}


def test_a_retired_title_is_recommended_no_more_at_once(api):
    (run_id,) = api.warehouse.query(
        "select run_id from marts.dim_recommendation_runs order by run_published_at desc limit 1"
    )[0]
    user_id = one(
        api,
        "select min(user_id) from marts.fact_recommendations where run_id = %s "
        "and not is_cold_start",
        (run_id,),
    )
    listed = [
        r[0]
        for r in api.warehouse.query(
            "select title_id from marts.fact_recommendations where run_id = %s and user_id = %s "
            "order by recommendation_rank",
            (run_id, user_id),
        )
    ]

    def served(user, k):
        body = api.get(f"/v1/users/{user}/recommendations?k={k}").json()
        return [i["title_id"] for i in body["items"]]

    assert served(user_id, K - 1) == listed[: K - 1]
    assert api.send("PUT", f"/v1/titles/{listed[0]}/retirement", key=ANALYST).status_code == 403
    retired = api.send("PUT", f"/v1/titles/{listed[0]}/retirement")
    assert retired.status_code == 201, retired.text
    assert one(api, "select count(*) from sim.retired_titles where title_id = %s", (listed[0],))
    again = api.send("PUT", f"/v1/titles/{listed[0]}/retirement")
    assert again.status_code == 200 and again.json() == retired.json()
    # No build in between: the next titles of the list take its place.
    assert served(user_id, K - 1) == listed[1:K]
    # The cold-start list (a user of no run) leaves retired titles out too.
    cold = served(COLD_USER["user_id"], 3)
    assert api.send("PUT", f"/v1/titles/{cold[0]}/retirement").status_code == 201
    assert served(COLD_USER["user_id"], 2) == cold[1:3]
    # Not while a recommender run is open: its lists may name the title.
    assert api.send("POST", "/v1/runs", json={"run_id": "open-web"}).status_code == 201
    refused = api.send("PUT", f"/v1/titles/{listed[1]}/retirement")
    assert refused.status_code == 409 and fields(refused) == ["path.title_id"]
    assert "open" in refused.json()["error"]["message"]
    assert api.send("DELETE", "/v1/recommendations/open-web").status_code == 200
    assert api.send("PUT", "/v1/titles/tm-no-such-title/retirement").status_code == 404
    # Brought back: recommended again.
    for title_id in (listed[0], cold[0]):
        assert api.send("DELETE", f"/v1/titles/{title_id}/retirement").status_code == 204
    assert api.send("DELETE", f"/v1/titles/{listed[0]}/retirement").status_code == 404
    assert served(user_id, K - 1) == listed[: K - 1]
    assert served(COLD_USER["user_id"], 3) == cold


def test_a_simulated_title_is_deleted_with_its_credits_unless_it_was_watched(api):
    title = {**SIM_TITLE, "title_id": "sim-web-3", "title_name": "Short-Lived"}
    assert api.send("POST", "/v1/titles", json=title).status_code == 201
    assert api.send("POST", "/v1/titles/sim-web-3/credits", json=NEW_PERSON).status_code == 201
    assert api.send("DELETE", "/v1/titles/sim-web-3", key=ANALYST).status_code == 403
    assert api.send("DELETE", "/v1/titles/sim-web-3").status_code == 204
    assert one(api, "select count(*) from sim.credits where title_id = 'sim-web-3'") == 0
    assert api.send("DELETE", "/v1/titles/sim-web-3").status_code == 404
    # A credit is deleted by its role; the loaded catalogue's titles are not deleted here.
    path = f"/v1/titles/sim-web-1/credits/{NEW_PERSON['person_id']}"
    assert api.send("DELETE", path, params={"role": "director"}).status_code == 404
    assert api.send("DELETE", path, params={"role": "actor"}).status_code == 204
    assert api.send("DELETE", path, params={"role": "actor"}).status_code == 404
    catalogue_id = one(api, "select min(title_id) from marts.dim_titles where source = 'catalog'")
    assert api.send("DELETE", f"/v1/titles/{catalogue_id}").status_code == 404
    # Watched: kept (retire it instead), as a user with sessions is.
    session = {
        "session_id": 900010,
        "user_id": COLD_USER["user_id"],
        "title_id": "sim-web-1",
        "started_at": "2026-03-02T20:00:00Z",
        "ended_at": "2026-03-02T20:45:00Z",
        "minutes_watched": 45,
        "completion_ratio": 1,
    }
    assert api.send("POST", "/v1/sessions", json=session).status_code == 201
    watched = api.send("DELETE", "/v1/titles/sim-web-1")
    assert watched.status_code == 409 and "retire" in watched.json()["error"]["message"]
    assert one(api, "select count(*) from sim.titles where title_id = 'sim-web-1'") == 1


# -- the spec, fuzzed: last, since it writes whatever it generates ---------------------------
def test_schemathesis_finds_no_server_error_and_no_response_off_the_spec(api, tmp_path):
    """schemathesis generates valid and invalid requests from /openapi.json (both keys) and
    checks: no 5xx, every status documented, every body and content type as specified."""
    checks = (
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance"
    )
    for key, seconds in ((ANALYST, 25), (SCIENTIST, 50)):
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "run",
                f"{api.url}/openapi.json",
                "--checks", checks,
                "--header", f"X-API-Key: {key}",
                "--max-examples", "25",
                "--max-time", str(seconds),
                "--seed", "7",
                "--no-color",
                "--report-dir", str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        tested = re.search(r"Tested: (\d+)", done.stdout)
        assert tested and int(tested.group(1)) >= 13, done.stdout[-3000:]  # every operation
        generated = re.search(r"(\d+) generated", done.stdout)
        assert generated and int(generated.group(1)) >= 200, done.stdout[-3000:]
