"""python_api on a real built warehouse: round trips, errors, atomicity, roles, injection."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pandas as pd
import pytest

import python_api
from python_api import (
    ApiError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    Warehouse,
)

pytestmark = pytest.mark.integration

INJECTIONS = [
    "users; drop table sim.users",
    "sim.users; --",
    "x'); drop table sim.users; --",
    'users" cascade; drop table sim.users; --',
    "marts.dim_titles union select * from pg_authid",
]


@pytest.fixture
def warehouse(built_warehouse):
    """The built warehouse with empty landing tables, as a scientist."""
    built_warehouse.execute(
        "truncate sim.users, sim.sessions, sim.ratings, sim.user_tastes, recs.runs, "
        "recs.recommendations"
    )
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        yield wh


@pytest.fixture
def title_ids(built_warehouse) -> list[str]:
    return [r[0] for r in built_warehouse.query(
        "select title_id from marts.dim_titles order by title_id limit 5"
    )]  # fmt: skip


def users_frame(ids=(1, 2, 3)) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "user_id": list(ids),
            "signup_at": pd.date_range("2024-01-01 08:30", periods=n, freq="D", tz="UTC"),
            "birth_year": np.arange(1980, 1980 + n),
            "gender": (["female", "male", "nonbinary", "undisclosed"] * n)[:n],
            "country_code": ["US"] * n,
            "plan": (["basic", "standard", "premium"] * n)[:n],
            "churned_at": [pd.NaT] * (n - 1) + [pd.Timestamp("2024-06-01", tz="UTC")],
        }
    )


def sessions_frame(title_ids, ids=(10, 11, 12), user_id=1) -> pd.DataFrame:
    n = len(ids)
    start = pd.date_range("2024-02-01 20:00", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "session_id": list(ids),
            "user_id": [user_id] * n,
            "title_id": [title_ids[i % len(title_ids)] for i in range(n)],
            "started_at": start,
            "ended_at": start + pd.Timedelta(minutes=42.5),
            "minutes_watched": [42.5] * n,
            "completion_ratio": np.linspace(0.25, 1.0, n),
        }
    )


def count(built_warehouse, table: str) -> int:
    return built_warehouse.scalar(f"select count(*) from {table}")


def assert_same(written: pd.DataFrame, read: pd.DataFrame, key: str) -> None:
    read = read.sort_values(key).reset_index(drop=True)
    written = written.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(read[written.columns], written, check_dtype=False)


# -- round trips ---------------------------------------------------------------
def test_write_then_read_gives_back_exactly_what_was_written(warehouse, title_ids):
    users = users_frame()
    sessions = sessions_frame(title_ids)
    ratings = pd.DataFrame(
        {"session_id": [10, 12], "rating": [4, 5],
         "rated_at": pd.to_datetime(["2024-02-01 21:00", "2024-02-01 23:00"], utc=True)}
    )  # fmt: skip
    tastes = pd.DataFrame(
        {"user_id": [1, 2], "genre_affinities": [[0.25, 0.75], [1.0, 0.0]],
         "popularity_bias": [0.5, 1.5]}
    )  # fmt: skip
    assert warehouse.write("users", users) == 3
    assert warehouse.write("sessions", sessions) == 3
    assert warehouse.write("ratings", ratings) == 2
    assert warehouse.write("user_tastes", tastes) == 2
    assert_same(users, warehouse.read("sim.users"), "user_id")
    assert_same(sessions, warehouse.read("sessions"), "session_id")
    assert_same(ratings, warehouse.read("ratings"), "session_id")
    read_tastes = warehouse.read("user_tastes").sort_values("user_id")
    assert [list(v) for v in read_tastes.genre_affinities] == [[0.25, 0.75], [1.0, 0.0]]


def test_text_that_looks_like_sql_is_stored_as_data(warehouse, title_ids):
    warehouse.write("users", users_frame((1,)))
    frame = pd.DataFrame(
        {"run_id": "run-1", "user_id": 1, "title_id": title_ids[:1], "rank": [1],
         "score": [0.5], "is_cold_start": [False]}
    )  # fmt: skip
    warehouse.write("runs", pd.DataFrame({"run_id": ["run-1"]}))  # begun, unpublished
    warehouse.write("recommendations", frame)
    back = warehouse.read("select * from recs.recommendations where run_id = %s", ["run-1"])
    assert [list(titles) for titles in back.title_ids] == [title_ids[:1]]
    for text in INJECTIONS:
        assert warehouse.read("select %s::text as t", [text]).t[0] == text


def test_reads_tables_marts_and_parameterised_queries(warehouse):
    titles = warehouse.read("dim_titles")
    assert len(titles) == len(warehouse.read("marts.dim_titles")) > 0
    assert titles.imdb_score.dtype == "float64"  # numeric arrives as a number
    year = int(titles.release_year.max())
    recent = warehouse.read(
        "select title_id from marts.dim_titles where release_year >= %(year)s", {"year": year}
    )
    assert len(recent) == int((titles.release_year >= year).sum())
    # a query as SQL files hold it, ending in a semicolon
    from_file = warehouse.read("select count(*) as n from marts.dim_titles;\n")
    assert from_file.n.iloc[0] == len(titles)


def test_read_chunks_gives_the_read_in_pieces_of_at_most_rows(warehouse):
    whole = warehouse.read("select title_id, imdb_score from marts.dim_titles order by title_id")
    chunks = list(
        warehouse.read_chunks(
            "select title_id, imdb_score from marts.dim_titles order by title_id", rows=7
        )
    )
    assert len(chunks) == -(-len(whole) // 7) > 1
    assert all(len(chunk) <= 7 for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert chunks[0].imdb_score.dtype == "float64"  # numeric arrives as a number
    by_name = pd.concat(warehouse.read_chunks("dim_titles", rows=1000), ignore_index=True)
    assert len(by_name) == len(whole)
    year = {"year": int(by_name.release_year.max())}
    recent = "select title_id from marts.dim_titles where release_year >= %(year)s"
    bound = list(warehouse.read_chunks(recent, year, rows=5))  # a server-side cursor
    assert len(bound) > 1 and all(len(chunk) <= 5 for chunk in bound)
    pd.testing.assert_frame_equal(pd.concat(bound, ignore_index=True), warehouse.read(recent, year))


@pytest.mark.parametrize("params", [None, [100_000]])
def test_read_chunks_stopped_early_leaves_the_connection_usable(warehouse, built_warehouse, params):
    query = (
        "select generate_series(1, 100000) as n"
        if params is None
        else ("select generate_series(1, %s) as n")
    )
    chunks = warehouse.read_chunks(query, params, rows=10)
    assert next(chunks).n.tolist() == list(range(1, 11))
    chunks.close()
    warehouse.write("users", users_frame())
    assert count(built_warehouse, "sim.users") == 3
    with pytest.raises(PermissionDeniedError, match="read-only"):
        list(warehouse.read_chunks("delete from sim.users returning user_id"))
    with pytest.raises(ValidationError, match="rows must be"):
        next(warehouse.read_chunks("dim_titles", rows=0))
    with pytest.raises(NotFoundError, match="may read"):
        next(warehouse.read_chunks("no_such_table"))
    assert count(built_warehouse, "sim.users") == 3


def test_upsert_replaces_and_update_changes_a_plan(warehouse, built_warehouse):
    warehouse.write("users", users_frame())
    with pytest.raises(ConflictError, match="user_id=2 already exists") as caught:
        warehouse.write("users", users_frame((2, 4)))
    assert caught.value.row_number == 0
    assert count(built_warehouse, "sim.users") == 3
    warehouse.write("users", users_frame((2, 4)).assign(plan="premium"), upsert=True)
    assert count(built_warehouse, "sim.users") == 4
    assert warehouse.update("users", {"user_id": 1, "plan": "standard"}) == 1
    plans = warehouse.read("select user_id, plan from sim.users order by user_id")
    assert plans.plan.tolist() == ["standard", "premium", "premium", "premium"]


def test_update_and_delete_bump_nothing_when_a_key_is_unknown(warehouse, built_warehouse):
    warehouse.write("users", users_frame())
    with pytest.raises(NotFoundError, match="no row with key"):
        warehouse.update("users", pd.DataFrame({"user_id": [1, 99], "plan": ["premium"] * 2}))
    assert warehouse.read("select plan from sim.users where user_id = 1").plan[0] == "basic"
    with pytest.raises(NotFoundError):
        warehouse.delete("users", [3, 99])
    assert count(built_warehouse, "sim.users") == 3
    with pytest.raises(ValidationError, match="nothing to update"):
        warehouse.update("users", {"user_id": 1})
    assert warehouse.delete("users", [3]) == 1


# -- errors: nothing is written -----------------------------------------------------
def test_unknown_user_and_unknown_title_are_named(warehouse, built_warehouse, title_ids):
    warehouse.write("users", users_frame((1,)))
    with pytest.raises(NotFoundError, match="user_id=7 does not exist in sim.users") as caught:
        warehouse.write("sessions", sessions_frame(title_ids, user_id=7))
    assert caught.value.column == "user_id"
    bad = sessions_frame(title_ids)
    bad.loc[2, "title_id"] = "tm-no-such-title"
    with pytest.raises(NotFoundError, match="unknown title") as caught:
        warehouse.write("sessions", bad)
    assert caught.value.row_number == 2 and caught.value.column == "title_id"
    assert count(built_warehouse, "sim.sessions") == 0


def test_deleting_a_user_with_sessions_is_refused(warehouse, built_warehouse, title_ids):
    warehouse.write("users", users_frame((1,)))
    warehouse.write("sessions", sessions_frame(title_ids))
    with pytest.raises(ValidationError, match="still referenced from sim.sessions"):
        warehouse.delete("users", 1)
    assert count(built_warehouse, "sim.users") == 1


@pytest.mark.parametrize(
    "change, column",
    [
        (lambda f: f.assign(minutes_watched=-1.0), "minutes_watched"),
        (lambda f: f.assign(completion_ratio=2.0), "completion_ratio"),
        (lambda f: f.assign(session_id=[10, 10, 11]), "session_id"),
        (lambda f: f.assign(user_id=None), "user_id"),
        (lambda f: f.assign(ended_at=f.started_at - pd.Timedelta(seconds=1)), "ended_at"),
        (lambda f: f.assign(minutes_watched="long"), "minutes_watched"),
        (lambda f: f.drop(columns="title_id"), None),
        (lambda f: f.assign(device="tv"), None),
    ],
)
def test_each_bad_batch_raises_and_writes_nothing(
    warehouse, built_warehouse, title_ids, change, column
):
    warehouse.write("users", users_frame((1,)))
    with pytest.raises(ValidationError) as caught:
        warehouse.write("sessions", change(sessions_frame(title_ids)))
    assert caught.value.column == column
    if column is not None:
        assert column in str(caught.value) and "row " in str(caught.value)
    assert count(built_warehouse, "sim.sessions") == 0


def test_a_transaction_is_all_or_nothing(warehouse, built_warehouse, title_ids):
    with pytest.raises(NotFoundError), warehouse.transaction():
        warehouse.write("users", users_frame())
        warehouse.write("sessions", sessions_frame(title_ids, user_id=99))
    assert count(built_warehouse, "sim.users") == 0
    with warehouse.transaction():
        warehouse.write("users", users_frame())
        warehouse.write("sessions", sessions_frame(title_ids))
    assert count(built_warehouse, "sim.sessions") == 3


def test_a_dropped_connection_keeps_nothing_of_the_batch(warehouse, built_warehouse, title_ids):
    superuser = built_warehouse.server.superuser_settings()
    with (
        pytest.raises(DatabaseError, match="nothing of this operation was kept"),
        warehouse.transaction(),
    ):
        warehouse.write("users", users_frame())
        with superuser.connect(autocommit=True) as admin:
            admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where usename = 'recdb_scientist' and datname = 'recdb'"
            )
        warehouse.write("sessions", sessions_frame(title_ids))
    assert count(built_warehouse, "sim.users") == 0
    warehouse.close()
    assert warehouse.write("users", users_frame()) == 3  # and the client reconnects


def test_a_write_killed_mid_copy_keeps_nothing(warehouse, built_warehouse, title_ids):
    warehouse.write("users", users_frame((1,)))
    big = sessions_frame(title_ids, ids=range(1, 400_001))
    superuser = built_warehouse.server.superuser_settings()

    def kill_when_copying():
        with superuser.connect(autocommit=True) as admin:
            for _ in range(400):
                killed = admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where usename = 'recdb_scientist' and query ilike 'copy%%'"
                ).fetchall()
                if killed:
                    return
                threading.Event().wait(0.01)

    killer = threading.Thread(target=kill_when_copying)
    killer.start()
    try:
        with pytest.raises(DatabaseError):
            warehouse.write("sessions", big)
    finally:
        killer.join()
    assert count(built_warehouse, "sim.sessions") == 0


# -- roles and injection ------------------------------------------------------------
def test_analysts_cannot_write_and_are_told_why(built_warehouse):
    with Warehouse("analyst", built_warehouse.settings("analyst")) as analyst:
        assert len(analyst.read("dim_titles")) > 0
        for action in (
            lambda: analyst.write("users", users_frame()),
            lambda: analyst.update("users", {"user_id": 1, "plan": "basic"}),
            lambda: analyst.delete("users", [1]),
        ):
            with pytest.raises(PermissionDeniedError, match="read-only"):
                action()
        with pytest.raises(NotFoundError, match="may read"):
            analyst.read("sim.users")


def test_read_cannot_change_anything(warehouse, built_warehouse):
    warehouse.write("users", users_frame())
    with pytest.raises(PermissionDeniedError, match="read-only"):
        warehouse.read("delete from sim.users")
    assert count(built_warehouse, "sim.users") == 3


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_through_every_argument(warehouse, built_warehouse, text):
    warehouse.write("users", users_frame())
    with pytest.raises(ApiError):
        warehouse.write(text, users_frame((9,)))
    with pytest.raises(ApiError):
        warehouse.update(text, {"user_id": 1, "plan": "basic"})
    with pytest.raises(ApiError):
        warehouse.delete(text, [1])
    with pytest.raises(ApiError):
        warehouse.write("users", users_frame((9,)).rename(columns={"plan": text}))
    with pytest.raises(ApiError):
        warehouse.update("users", {"user_id": 1, text: "basic"})
    with pytest.raises(ApiError):
        warehouse.write("users", users_frame((9,)).assign(plan=text))
    with pytest.raises(ApiError):
        warehouse.update("users", {"user_id": text, "plan": "basic"})
    with pytest.raises(ApiError):
        warehouse.delete("users", [text])
    with pytest.raises(ApiError):
        python_api.Warehouse(text)
    with contextlib.suppress(ApiError):  # some of these are valid read-only SQL
        warehouse.read(text)
    assert warehouse.read("select * from sim.users where plan = %s", [text]).empty
    assert count(built_warehouse, "sim.users") == 3
    assert count(built_warehouse, "marts.dim_titles") > 0


def test_deleting_a_user_takes_its_tastes_and_recommendations(
    warehouse, built_warehouse, title_ids
):
    warehouse.write("users", users_frame((1, 2)))
    warehouse.write(
        "user_tastes",
        pd.DataFrame({"user_id": [1, 2], "genre_affinities": [[1.0], [1.0]],
                      "popularity_bias": [1.0, 1.0]}),
    )  # fmt: skip
    warehouse.write("runs", pd.DataFrame({"run_id": ["r"]}))
    warehouse.write(
        "recommendations",
        pd.DataFrame({"run_id": "r", "user_id": [1, 2], "title_id": title_ids[:2], "rank": 1,
                      "score": 1.0, "is_cold_start": False}),
    )  # fmt: skip
    assert warehouse.delete("users", [1]) == 1
    assert count(built_warehouse, "sim.user_tastes") == 1
    assert count(built_warehouse, "recs.recommendations") == 1
    with pytest.raises(NotFoundError, match="user_id=1 does not exist in sim.users"):
        warehouse.write(
            "user_tastes",
            pd.DataFrame({"user_id": [1], "genre_affinities": [[1.0]], "popularity_bias": [1.0]}),
        )


# -- exact integers (issue 10, item 11) ----------------------------------------
BEYOND_FLOAT = 2**53 + 1  # float64 holds it as 2**53: it must never pass through a float


def test_ids_beyond_2_53_round_trip_exactly_through_write_update_and_delete(
    warehouse, built_warehouse
):
    ids = pd.Series([BEYOND_FLOAT - 1, BEYOND_FLOAT, BEYOND_FLOAT + 1, 2**63 - 1], dtype=object)
    warehouse.write("users", users_frame(list(range(4))).assign(user_id=ids))
    stored = [r[0] for r in built_warehouse.query("select user_id from sim.users order by 1")]
    assert stored == list(ids)
    assert sorted(warehouse.read("sim.users")["user_id"].tolist()) == list(ids)

    warehouse.update("users", pd.DataFrame({"user_id": pd.Series([BEYOND_FLOAT], dtype=object),
                                            "plan": ["premium"]}))  # fmt: skip
    plans = dict(built_warehouse.query("select user_id, plan from sim.users"))
    assert plans[BEYOND_FLOAT] == "premium"
    assert plans[BEYOND_FLOAT - 1] == "basic"  # 2**53: where a float would have landed

    keys = pd.DataFrame({"user_id": pd.Series([BEYOND_FLOAT], dtype=object)})
    assert warehouse.delete("users", keys) == 1
    assert warehouse.delete("users", [2**63 - 1]) == 1
    left = [r[0] for r in built_warehouse.query("select user_id from sim.users order by 1")]
    assert left == [BEYOND_FLOAT - 1, BEYOND_FLOAT + 1]


@pytest.mark.parametrize(
    "ids",
    [
        pd.Series([1, 2**63, 3], dtype=object),
        pd.Series([1.0, float(2**53), 3.0]),
        pd.Series([1, 2.5, 3], dtype=object),
    ],
    ids=["object-2^63", "float-2^53", "object-fraction"],
)
def test_ids_that_cannot_be_exact_are_refused_naming_the_column_and_row(
    warehouse, built_warehouse, ids
):
    with pytest.raises(ValidationError) as caught:
        warehouse.write("users", users_frame().assign(user_id=ids))
    assert (caught.value.table, caught.value.column, caught.value.row_number) == (
        "sim.users",
        "user_id",
        1,
    )
    assert count(built_warehouse, "sim.users") == 0
    warehouse.write("users", users_frame())
    with pytest.raises(ValidationError) as caught:
        warehouse.delete("users", pd.DataFrame({"user_id": ids}))
    assert (caught.value.column, caught.value.row_number) == ("user_id", 1)
    assert count(built_warehouse, "sim.users") == 3
