"""Landing → marts under concurrent writers and deletes: the marts equal what the landing
tables say after the next build, whatever the order in which writers and builds commit.

Each test reproduces a finding of issue 11: a write committed after a build started that
never reached the marts, deletes that stayed in them, runs served half-written."""

from __future__ import annotations

import concurrent.futures
import time

import numpy as np
import pandas as pd
import psycopg
import pytest

from python_api import NotFoundError, Warehouse
from recdb.warehouse.roles import prepare_warehouse
from tests.conftest import RECOMMENDATION_ROWS
from tests.integration.test_engagement import sessions_frame, users_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landing(built_warehouse):
    """The catalogue built, a few users with sessions, and a scientist's Warehouse."""
    titles = [r[0] for r in built_warehouse.query("select title_id from marts.dim_titles")]
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        with wh.transaction():
            wh.write("users", users_frame(range(1, 11)))
            wh.write("sessions", sessions_frame(range(1, 101), list(range(1, 11)), titles))
        built_warehouse.dbt("build")
        yield built_warehouse, wh, titles


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
        f"select r.run_id || ':' || r.user_id || ':' || r.rank from {RECOMMENDATION_ROWS} as r "
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


def run_rows_landed(warehouse, run_id: str) -> int:
    """How many titles run ``run_id`` lists in recs.recommendations."""
    return warehouse.scalar(
        f"select count(*) from {RECOMMENDATION_ROWS} as recs where run_id = %s", (run_id,)
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


# -- references held by PostgreSQL, whoever writes ----------------------------------
SESSION_INSERT = (
    "insert into sim.sessions (session_id, user_id, title_id, started_at, ended_at, "
    "minutes_watched, completion_ratio) values (%s, %s, %s, now(), now(), 1, 0.1)"
)
RECOMMENDATION_INSERT = (
    "insert into recs.recommendations (run_id, user_id, title_ids, scores, is_cold_start) "
    "values (%s, %s, array[%s], array[1.0], false)"
)


def refused(warehouse, statement: str, params=()) -> str:
    """The foreign-key error PostgreSQL gives the scientist for ``statement``."""
    with (
        warehouse.connect("scientist") as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation) as caught,
    ):
        conn.execute(statement, params)
    return caught.value.diag.message_detail or ""


def test_plain_sql_orphans_are_refused_by_postgresql(landing):
    """Finding 5: raw SQL as the scientist committed a recommendation for user 999999999
    and title `nope`; only the next build's tests caught it."""
    warehouse, _, titles = landing
    warehouse.execute(
        "insert into recs.runs (run_id, published_at) values ('raw', now()); "
        "select recs.ensure_run_id_partition('raw'); "
        "select recs.ensure_run_id_partition('no-run')",
        role="scientist",
    )
    detail = refused(warehouse, RECOMMENDATION_INSERT, ("raw", 999999999, titles[0]))
    assert detail == 'Key (user_id)=(999999999) is not present in table "sim.users".'
    detail = refused(warehouse, RECOMMENDATION_INSERT, ("raw", 1, "nope"))
    assert detail == 'Key (title_id)=(nope) is not present in table "marts.dim_titles".'
    assert "recs.runs" in refused(warehouse, RECOMMENDATION_INSERT, ("no-run", 1, titles[0]))
    assert "sim.users" in refused(warehouse, SESSION_INSERT, (9001, 999999999, titles[0]))
    assert "marts.dim_titles" in refused(warehouse, SESSION_INSERT, (9001, 1, "nope"))
    assert "sim.sessions" in refused(
        warehouse, "insert into sim.ratings values (999999999, 3, now())"
    )
    assert "sim.users" in refused(
        warehouse, "update sim.sessions set user_id = 999999999 where session_id = 1"
    )
    assert "sim.users" in refused(
        warehouse, "insert into sim.user_tastes values (999999999, '{1}', 0.5)"
    )
    warehouse.execute("delete from recs.runs where run_id = 'raw'", role="scientist")
    warehouse.dbt("build")
    assert_marts_equal_landing(warehouse)


def test_deletes_cascade_or_are_refused_as_the_references_say(landing):
    warehouse, wh, titles = landing
    wh.write("users", users_frame([70, 71]))
    wh.write("sessions", sessions_frame([7001], [70], titles))
    wh.write(
        "user_tastes",
        pd.DataFrame({"user_id": [71], "genre_affinities": [[1.0, 0.5]], "popularity_bias": 0.1}),
    )
    with wh.transaction():
        wh.replace_run("cascade", publish=True)
        wh.write("recommendations", recommendations("cascade", [70, 71], titles))

    detail = refused(warehouse, "delete from sim.users where user_id = 70")
    assert detail == 'Key (user_id)=(70) is still referenced from table "sim.sessions".'
    assert "sim.sessions" in refused(
        warehouse, "update sim.users set user_id = 7070 where user_id = 70"
    )
    # a user without sessions: their tastes and recommendations go with them
    warehouse.execute("delete from sim.users where user_id = 71", role="scientist")
    assert warehouse.scalar("select count(*) from sim.user_tastes where user_id = 71") == 0
    assert warehouse.scalar("select count(*) from recs.recommendations where user_id = 71") == 0
    # a run: its recommendations go with it
    warehouse.execute("delete from recs.runs where run_id = 'cascade'", role="scientist")
    assert run_rows_landed(warehouse, "cascade") == 0
    warehouse.dbt("build")
    assert_marts_equal_landing(warehouse)
    assert run_rows(warehouse, "cascade") == 0


def test_a_staged_run_that_refers_to_a_missing_user_is_refused_at_commit(landing):
    """A replaced run's rows are written past the parent table's triggers (into a table of
    their own): they are checked when the run is swapped in, before the commit."""
    warehouse, wh, titles = landing
    orphan = recommendations("staged-orphan", [1, 999999999], titles)
    with (
        pytest.raises(NotFoundError, match="user_id=999999999 does not exist in sim.users"),
        wh.transaction(),
    ):
        wh.replace_run("staged-orphan")
        wh.write("recommendations", orphan)
    assert warehouse.scalar("select count(*) from recs.runs where run_id = 'staged-orphan'") == 0
    assert run_rows_landed(warehouse, "staged-orphan") == 0


def test_a_delete_and_a_write_that_race_never_leave_an_orphan(landing):
    """Whichever of a user's delete and a write of their session comes first, the second
    waits for it to commit, then sees it and is refused."""
    warehouse, wh, titles = landing
    wh.write("users", users_frame([80, 81]))

    def in_thread(statement: str, params=()) -> concurrent.futures.Future:
        def run() -> None:
            with warehouse.connect("scientist") as conn:
                conn.execute(statement, params)

        return concurrent.futures.ThreadPoolExecutor(1).submit(run)

    # the write first: the delete waits, then finds the session
    with warehouse.connect("scientist") as writer:
        writer.execute(SESSION_INSERT, (8001, 80, titles[0]))
        delete = in_thread("delete from sim.users where user_id = 80")
        time.sleep(0.5)
        assert not delete.done()
        writer.commit()
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="still referenced"):
        delete.result(timeout=30)

    # the delete first: the write waits, then finds no user
    with warehouse.connect("scientist") as deleter:
        deleter.execute("delete from sim.users where user_id = 81")
        write = in_thread(SESSION_INSERT, (8101, 81, titles[0]))
        time.sleep(0.5)
        assert not write.done()
        deleter.commit()
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="sim.users"):
        write.result(timeout=30)
    assert warehouse.scalar("select count(*) from sim.sessions where user_id in (80, 81)") == 1


def test_writes_outside_read_committed_are_refused_with_a_reason(landing):
    warehouse, _, titles = landing
    with warehouse.connect("scientist") as conn:
        conn.execute("set transaction isolation level repeatable read")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="READ COMMITTED"):
            conn.execute(SESSION_INSERT, (9101, 1, titles[0]))


VIEWING_BY_PAIR = (
    "select user_id, title_id, session_count, minutes_watched, first_started_at, "
    "last_started_at from {} where user_id = %s order by title_id"
)
RECOUNTED_BY_PAIR = (
    "(select user_id, title_id, count(*) as session_count, sum(minutes_watched) as "
    "minutes_watched, min(started_at) as first_started_at, max(started_at) as "
    "last_started_at from marts.fact_sessions group by user_id, title_id) as recounted"
)


def test_a_deleted_session_changes_only_its_pair_and_an_old_deletion_its_users_every_pair(
    landing,
):
    """agg_user_title_viewing recomputes the (user, title) pair of a deleted session,
    found by the title its deletion records; a deletion recorded before deletions kept
    the title (the column added empty to an old warehouse) recomputes all of its user's
    pairs. Either way the mart equals the pairs counted again from the sessions."""
    warehouse, wh, titles = landing
    with wh.transaction():
        wh.write("users", users_frame([90, 91]))
        wh.write("sessions", sessions_frame(range(9000, 9012), [90, 91], titles[:3]))
    warehouse.dbt("build")
    before = {r[1]: r for r in warehouse.query(
        VIEWING_BY_PAIR.format("marts.agg_user_title_viewing"), (90,)
    )}  # fmt: skip
    wh.delete("sessions", [9000])  # user 90's first session of titles[0]
    assert warehouse.query(
        "select user_id, title_id from sim.deleted_sessions where session_id = 9000"
    ) == [(90, titles[0])]
    warehouse.dbt("build")
    after = {r[1]: r for r in warehouse.query(
        VIEWING_BY_PAIR.format("marts.agg_user_title_viewing"), (90,)
    )}  # fmt: skip
    assert after[titles[0]][2] == before[titles[0]][2] - 1
    rewritten = keys(
        warehouse,
        "select title_id from marts.agg_user_title_viewing where user_id = 90 and xmin = "
        "(select built_xid from intermediate.incremental_watermarks "
        "where model_name = 'agg_user_title_viewing')",
    )
    assert rewritten == {titles[0]}  # the user's other pairs were left alone

    # an old warehouse: its deletions table had no title_id; preparing it adds the column
    warehouse.execute("alter table sim.deleted_sessions drop column title_id cascade")
    with warehouse.connect("owner", autocommit=True) as conn:
        prepare_warehouse(conn)
    assert (
        warehouse.scalar(
            "select is_nullable from information_schema.columns "
            "where table_schema = 'sim' and table_name = 'deleted_sessions' "
            "and column_name = 'title_id'"
        )
        == "YES"
    )  # rows from before have none
    wh.delete("sessions", [9001, 9003])
    warehouse.execute("update sim.deleted_sessions set title_id = null where session_id = 9001")
    warehouse.dbt("build")
    for user in (90, 91):
        assert warehouse.query(
            VIEWING_BY_PAIR.format("marts.agg_user_title_viewing"), (user,)
        ) == warehouse.query(VIEWING_BY_PAIR.format(RECOUNTED_BY_PAIR), (user,))
    assert_marts_equal_landing(warehouse)
