"""Simulated catalogue rows (issue 17): titles, their genres and countries, credits and
retirements written by data scientists reach the catalogue marts with their source, on
the same rules as the loaded catalogue's; bad rows are refused whole, with the field
named; retired titles keep their history and are recommended no more."""

from __future__ import annotations

import concurrent.futures
import time

import pandas as pd
import pytest

import python_api
from python_api import ConflictError, NotFoundError, ValidationError, Warehouse
from recdb.warehouse.build import _stored_fingerprint as stored_fingerprint
from recdb.warehouse.build import build, catalog_fingerprint
from tests.integration.test_engagement import sessions_frame, users_frame

pytestmark = pytest.mark.integration

RELEASED = pd.Timestamp("2024-05-01", tz="UTC")


def titles_frame(*ids: str, genres=("drama", "comedy"), countries=("FR",)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title_id": list(ids),
            "title_name": [f"Simulated {i}" for i in ids],
            "title_type": "movie",
            "release_year": 2024,
            "released_at": RELEASED,
            "genres": [list(genres)] * len(ids),
            "production_countries": [list(countries)] * len(ids),
            "runtime_minutes": 100,
        }
    )


def credit(title_id: str, person_id: int, name: str, role: str = "actor") -> pd.DataFrame:
    return pd.DataFrame(
        [{"title_id": title_id, "person_id": person_id, "person_name": name, "credit_role": role}]
    )


def scientist(warehouse) -> Warehouse:
    """A writer on a connection of its own."""
    return Warehouse("scientist", warehouse.settings("scientist"))


@pytest.fixture(scope="module")
def catalogue(built_warehouse):
    """The catalogue built with `recdb build`, two simulated titles (one with credits),
    users with sessions of one of them, built again; a scientist's Warehouse."""
    titles = [r[0] for r in built_warehouse.query("select title_id from marts.dim_titles")]
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        with wh.transaction():
            wh.write("titles", titles_frame("sim-a", "sim-b"))
            wh.write("credits", credit("sim-a", 900_000_001, "Ann Invented"))
            wh.write("users", users_frame(range(1, 6)))
            # sessions of the new title at once, before any build has it in the marts
            wh.write("sessions", sessions_frame(range(1, 21), list(range(1, 6)), ["sim-a"]))
        build(settings=built_warehouse.settings("owner"))
        yield built_warehouse, wh, titles


def test_simulated_titles_reach_the_marts_with_their_source(catalogue):
    warehouse, _, titles = catalogue
    rows = warehouse.query(
        "select title_id, source, released_at, is_retired from marts.dim_titles "
        "where source = 'simulation' order by title_id"
    )
    assert rows == [
        ("sim-a", "simulation", RELEASED, False),
        ("sim-b", "simulation", RELEASED, False),
    ]
    assert warehouse.scalar(
        "select count(*) from marts.dim_titles where source = 'catalog'"
    ) == len(titles)
    assert warehouse.query(
        "select genre_id, genre_position, is_main_genre, source from marts.bridge_title_genres "
        "where title_id = 'sim-a' order by genre_position"
    ) == [("drama", 1, True, "simulation"), ("comedy", 2, False, "simulation")]
    assert warehouse.query(
        "select country_code, is_main_country from marts.bridge_title_prod_countries "
        "where title_id = 'sim-a'"
    ) == [("FR", True)]
    assert warehouse.query(
        "select c.person_id, p.person_name, c.source, p.source from marts.dim_credits as c "
        "join marts.dim_persons as p using (person_id) where c.title_id = 'sim-a'"
    ) == [(900_000_001, "Ann Invented", "simulation", "simulation")]
    assert (
        warehouse.scalar("select count(*) from marts.fact_sessions where title_id = 'sim-a'") == 20
    )
    assert (
        warehouse.scalar(
            "select viewer_count from marts.agg_title_viewing where title_id = 'sim-b'"
        )
        == 0
    )


@pytest.mark.parametrize(
    ("table", "frame", "error", "column", "words"),
    [
        ("titles", titles_frame("sim-x", genres=("drama", "fantasy-noir")), NotFoundError,
         "genres", "fantasy-noir"),
        ("titles", titles_frame("sim-x", countries=("QQ",)), NotFoundError,
         "production_countries", "QQ"),
        ("titles", titles_frame("sim-x", genres=("drama", "drama")), ValidationError,
         "genres", "twice"),
        ("titles", titles_frame("sim-a"), ConflictError, "title_id", "already exists"),
        ("credits", credit("sim-nowhere", 900_000_002, "Bo"), NotFoundError, "title_id",
         "sim-nowhere"),
    ],
)  # fmt: skip
def test_bad_catalogue_rows_are_refused_naming_the_field(
    catalogue, table, frame, error, column, words
):
    warehouse, wh, _ = catalogue
    before = warehouse.scalar(f"select count(*) from sim.{table}")
    # a good row first in the same batch: refused with it
    good = titles_frame("sim-ok") if table == "titles" else credit("sim-b", 900_000_003, "Cy")
    with pytest.raises(error) as caught:
        wh.write(table, pd.concat([good, frame], ignore_index=True))
    assert caught.value.column == column
    assert words in str(caught.value)
    assert warehouse.scalar(f"select count(*) from sim.{table}") == before


def test_a_title_repeating_the_catalogue_s_is_refused(catalogue):
    warehouse, wh, _ = catalogue
    title_id, name, year, kind = warehouse.query(
        "select title_id, title_name, release_year, title_type from marts.dim_titles "
        "where source = 'catalog' and title_name is not null limit 1"
    )[0]
    with pytest.raises(ConflictError, match="a simulated title needs a key of its own"):
        wh.write("titles", titles_frame(title_id))
    twin = titles_frame("sim-twin").assign(title_name=name, release_year=year, title_type=kind)
    with pytest.raises(ConflictError, match="one title per name, year and type") as caught:
        wh.write("titles", twin)
    assert caught.value.column == "title_name"


def test_a_catalogue_person_keeps_their_name(catalogue):
    warehouse, wh, _ = catalogue
    person_id, name = warehouse.query(
        "select person_id, person_name from marts.dim_persons limit 1"
    )[0]
    with pytest.raises(ValidationError, match=f"is {name} in the catalogue") as caught:
        wh.write("credits", credit("sim-b", person_id, name + " Jr"))
    assert caught.value.column == "person_name"
    wh.write("credits", credit("sim-b", person_id, name, role="director"))
    wh.delete("credits", credit("sim-b", person_id, name, role="director")[
        ["title_id", "person_id", "credit_role"]
    ])  # fmt: skip


def test_a_watched_title_is_retired_not_deleted_and_an_unwatched_one_goes_with_its_credits(
    catalogue,
):
    warehouse, wh, _ = catalogue
    with pytest.raises(ValidationError, match="retire the title instead") as caught:
        wh.delete("titles", ["sim-a"])
    assert caught.value.column == "title_id"
    wh.write("titles", titles_frame("sim-gone"))
    wh.write("credits", credit("sim-gone", 900_000_004, "Di Gone"))
    wh.delete("titles", ["sim-gone"])
    assert warehouse.scalar("select count(*) from sim.credits where title_id = 'sim-gone'") == 0


def test_retired_titles_keep_their_history_and_are_recommended_no_more(catalogue):
    """Retired, a title gets no credit or recommendation, keeps its sessions, leaves the
    cold-start list; and its new main genre (its sessions unchanged) reaches its
    viewers' genre marts at the same build."""
    warehouse, wh, _ = catalogue
    retired_at = RELEASED + pd.Timedelta(days=30)
    retirement = pd.DataFrame([{"title_id": "sim-a", "retired_at": retired_at}])
    # a run being written may recommend the title: the retirement waits for it
    with wh.transaction():
        wh.replace_run("open-run", publish=False)
    with pytest.raises(ValidationError, match="recommendation run 'open-run' is open"):
        wh.write("retired_titles", retirement)
    warehouse.execute("delete from recs.runs where run_id = 'open-run'", role="scientist")
    wh.write("retired_titles", retirement)
    with pytest.raises(ValidationError, match="retired title") as caught:
        wh.write("credits", credit("sim-a", 900_000_005, "Ed Late"))
    assert caught.value.column == "title_id"
    with pytest.raises(python_api.ApiError, match="retired"), wh.transaction():
        wh.replace_run("after-retirement")
        wh.write(
            "recommendations",
            pd.DataFrame([{"run_id": "after-retirement", "user_id": 1, "title_id": "sim-a",
                           "rank": 1, "score": 1.0, "is_cold_start": False}]),
        )  # fmt: skip
    assert not warehouse.scalar("select count(*) from recs.runs where run_id = 'after-retirement'")
    wh.update("titles", {"title_id": "sim-a", "genres": ["horror", "drama"]})

    # A title and its credits written while the build reads the catalogue wait for it, so
    # that every catalogue mart is built from the same rows; the next build takes them.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        building = pool.submit(build, settings=warehouse.settings("owner"))
        while not warehouse.scalar(
            "select count(*) from pg_locks where relation = 'sim.titles'::regclass "
            "and mode = 'ShareLock' and granted"
        ):
            assert not building.done(), building.result()
            time.sleep(0.05)
        with scientist(warehouse) as late, late.transaction():
            late.write("titles", titles_frame("sim-late"))
            late.write("credits", credit("sim-late", 900_000_006, "Flo Late"))
        assert not building.done()  # the writer waited for the catalogue, not for the build
        building.result()
    with warehouse.connect() as conn:
        assert catalog_fingerprint(conn) != stored_fingerprint(conn)  # the next build's
    assert warehouse.query(
        "select is_retired, retired_at from marts.dim_titles where title_id = 'sim-a'"
    ) == [(True, retired_at)]
    assert (
        warehouse.scalar("select count(*) from marts.fact_sessions where title_id = 'sim-a'") == 20
    )
    assert not warehouse.scalar(
        "select count(*) from marts.cold_start_titles as c join marts.dim_titles as t "
        "using (title_id) where t.is_retired"
    )
    viewers = warehouse.scalar(
        "select count(distinct user_id) from sim.sessions where title_id = 'sim-a'"
    )
    by_genre = dict(
        warehouse.query(
            "select genre_id, count(*) from marts.agg_user_genre_viewing "
            "where user_id in (select user_id from sim.sessions where title_id = 'sim-a') "
            "group by genre_id"
        )
    )
    assert by_genre.get("horror") == viewers
    assert "drama" not in by_genre
    assert warehouse.scalar(
        "select viewer_count from marts.agg_genre_viewing where genre_id = 'horror'"
    ) == warehouse.scalar(
        "select count(distinct s.user_id) from sim.sessions as s "
        "join marts.bridge_title_genres as g using (title_id) "
        "where g.genre_id = 'horror' and g.is_main_genre"
    )
