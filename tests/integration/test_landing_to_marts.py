"""Landing → marts under concurrent writers and deletes: the marts equal what the landing
tables say after the next build, whatever the order in which writers and builds commit.

Each test reproduces a finding of issue 11: a write committed after a build started that
never reached the marts, deletes that stayed in them, runs served half-written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_api import Warehouse
from tests.integration.test_engagement import sessions_frame, users_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landing(fresh_warehouse):
    """The catalogue built, a few users with sessions, and a scientist's Warehouse."""
    fresh_warehouse.load()
    fresh_warehouse.dbt("build")
    titles = [r[0] for r in fresh_warehouse.query("select title_id from marts.dim_titles")]
    with Warehouse("scientist", fresh_warehouse.settings("scientist")) as wh:
        with wh.transaction():
            wh.write("users", users_frame(range(1, 11)))
            wh.write("sessions", sessions_frame(range(1, 101), list(range(1, 11)), titles))
        fresh_warehouse.dbt("build")
        yield fresh_warehouse, wh, titles


def scientist(warehouse) -> Warehouse:
    """A second writer, on a connection of its own."""
    return Warehouse("scientist", warehouse.settings("scientist"))


def keys(warehouse, query: str) -> set:
    return {r[0] for r in warehouse.query(query)}


def assert_marts_equal_landing(warehouse) -> None:
    assert keys(warehouse, "select user_id from marts.dim_users") == keys(
        warehouse, "select user_id from sim.users"
    )
    assert keys(warehouse, "select session_id from marts.fact_sessions") == keys(
        warehouse, "select session_id from sim.sessions"
    )
    assert keys(
        warehouse, "select session_id from marts.fact_sessions where rating is not null"
    ) == keys(warehouse, "select session_id from sim.ratings")
    published = (
        "select r.run_id || ':' || r.user_id || ':' || r.rank from recs.recommendations as r "
        "join recs.runs using (run_id) where runs.published_at is not null"
    )
    assert keys(
        warehouse,
        "select run_id || ':' || user_id || ':' || recommendation_rank "
        "from marts.fact_recommendations",
    ) == keys(warehouse, published)


def run_rows(warehouse, run_id: str) -> int:
    """How many rows run ``run_id`` has in marts.fact_recommendations."""
    return warehouse.scalar(
        "select count(*) from marts.fact_recommendations where run_id = %s", (run_id,)
    )


def recommendations(run_id: str, users, titles, k: int = 2) -> pd.DataFrame:
    users = list(users)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "user_id": np.repeat(users, k),
            "title_id": [titles[i] for _ in users for i in range(k)],
            "rank": np.tile(np.arange(1, k + 1, dtype="int16"), len(users)),
            "score": 1.0,
            "is_cold_start": False,
        }
    )


def test_a_session_committed_after_a_build_started_reaches_the_next_build(landing):
    warehouse, wh, titles = landing
    with scientist(warehouse) as late:
        with late.transaction():
            late.write("sessions", sessions_frame(range(1001, 1006), [3], titles))
            # meanwhile another writer commits, and a build runs: it must not wait for the
            # open transaction, nor may its watermark pass over it
            wh.write("sessions", sessions_frame(range(1006, 1007), [4], titles))
            warehouse.dbt("build", "--select", "dim_users", "fact_sessions")
            assert keys(warehouse, "select session_id from marts.fact_sessions") >= {1006}
        warehouse.dbt("build")
    assert keys(warehouse, "select session_id from marts.fact_sessions") >= set(range(1001, 1007))
    assert_marts_equal_landing(warehouse)


def test_a_run_committed_after_a_build_started_reaches_the_next_build(landing):
    """The issue's reproduction: T1 replaces run raceA and writes 5 rows, uncommitted; T2
    writes run raceB and commits; a build; T1 commits; another build: raceA is there."""
    warehouse, wh, titles = landing
    with scientist(warehouse) as late:
        with late.transaction():
            late.replace_run("raceA")
            late.write("recommendations", recommendations("raceA", [1], titles, k=5))
            with wh.transaction():
                wh.replace_run("raceB")
                wh.write("recommendations", recommendations("raceB", [2], titles))
            warehouse.dbt("build", "--select", "fact_recommendations")
        warehouse.dbt("build", "--select", "fact_recommendations")
    runs = warehouse.query(
        "select run_id, count(*) from marts.fact_recommendations "
        "where run_id like 'race%%' group by run_id order by run_id"
    )
    assert runs == [("raceA", 5), ("raceB", 2)]


def test_deleted_sessions_ratings_users_and_runs_leave_the_marts(landing):
    warehouse, wh, titles = landing
    with wh.transaction():
        wh.write("users", users_frame([50, 51]))
        wh.write("sessions", sessions_frame(range(500, 510), [50, 51], titles))
        wh.write(
            "ratings",
            pd.DataFrame(
                {
                    "session_id": [500, 501],
                    "rating": [4, 5],
                    "rated_at": pd.to_datetime(["2024-07-01", "2024-07-02"], utc=True),
                }
            ),
        )
        wh.replace_run("gone")
        wh.write("recommendations", recommendations("gone", [50, 51], titles))
        wh.replace_run("kept")
        wh.write("recommendations", recommendations("kept", [50, 1], titles))
    warehouse.dbt("build")
    assert_marts_equal_landing(warehouse)

    wh.delete("ratings", [501])  # the session stays, unrated
    wh.delete("sessions", [502])
    wh.delete("sessions", [501, 503, 505, 507, 509])  # every session of user 51
    wh.delete("users", [51])  # its recommendations go with it
    with wh.transaction():
        wh.replace_run("gone", publish=False)
    wh.delete("runs", ["gone"])
    warehouse.dbt("build")
    assert_marts_equal_landing(warehouse)
    fact = dict(
        warehouse.query(
            "select session_id, rating from marts.fact_sessions "
            "where session_id between 500 and 509"
        )
    )
    assert fact == {500: 4, 504: None, 506: None, 508: None}
    assert keys(warehouse, "select user_id from marts.fact_recommendations where run_id = 'kept'")
    assert not run_rows(warehouse, "gone")


def test_a_run_is_in_the_marts_only_once_published(landing):
    warehouse, wh, titles = landing
    with wh.transaction():
        wh.replace_run("draft", publish=False)
        wh.write("recommendations", recommendations("draft", [1, 2], titles))
    warehouse.dbt("build")
    assert not run_rows(warehouse, "draft")
    wh.publish_run("draft")
    warehouse.dbt("build")
    published = warehouse.query(
        "select count(*), min(run_published_at) is not null from marts.fact_recommendations "
        "where run_id = 'draft'"
    )
    assert published == [(4, True)]
    with wh.transaction():  # begun again: taken back until published again
        wh.replace_run("draft", publish=False)
    warehouse.dbt("build")
    assert not run_rows(warehouse, "draft")
    assert_marts_equal_landing(warehouse)


def test_an_orphan_written_and_deleted_again_never_breaks_a_build(landing):
    """A session of a user that does not exist, written with plain SQL (python_api would
    refuse it), is not a session of the marts; deleted again, nothing is left to fail."""
    warehouse, _, titles = landing
    orphan = (
        "insert into sim.sessions (session_id, user_id, title_id, started_at, ended_at, "
        "minutes_watched, completion_ratio) values (9001, 999999999, %s, now(), now(), 1, 0.1)"
    )
    warehouse.execute(orphan, (titles[0],), role="scientist")
    warehouse.dbt("build")  # its tests pass: the fact takes sessions of dim_users' users
    warehouse.execute("delete from sim.sessions where session_id = 9001", role="scientist")
    warehouse.dbt("build")
    assert_marts_equal_landing(warehouse)
