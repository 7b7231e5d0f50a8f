"""Landing → dbt → marts: what python_api writes comes back from dim_users and fact_sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from python_api import Warehouse

pytestmark = pytest.mark.integration


def written_by_latest_build(warehouse, model: str, key: str, relation: str | None = None) -> set:
    """The keys of the rows ``model``'s latest build wrote (their xmin is its transaction)."""
    rows = warehouse.query(
        f"select {key} from {relation or 'marts.' + model} where xmin = (select built_xid "
        "from intermediate.incremental_watermarks where model_name = %s)",
        (model,),
    )
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def engagement(built_warehouse):
    """The catalogue loaded and built (the module's copy of the session's build)."""
    titles = [r[0] for r in built_warehouse.query("select title_id from marts.dim_titles")]
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        yield built_warehouse, wh, titles


def users_frame(ids) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "user_id": list(ids),
            "signup_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(list(ids), "D"),
            "birth_year": 1970 + np.arange(n) % 40,
            "gender": "undisclosed",
            "country_code": "GB",
            "plan": "basic",
        }
    )


def sessions_frame(ids, users, titles) -> pd.DataFrame:
    ids = list(ids)
    start = pd.Timestamp("2024-06-01", tz="UTC") + pd.to_timedelta(ids, "h")
    return pd.DataFrame(
        {
            "session_id": ids,
            "user_id": [users[i % len(users)] for i in range(len(ids))],
            "title_id": [titles[i % len(titles)] for i in range(len(ids))],
            "started_at": start,
            "ended_at": start + pd.Timedelta(minutes=50),
            "minutes_watched": 50.0,
            "completion_ratio": 0.75,
        }
    )


def test_write_build_read_round_trip_and_incremental_append(engagement):
    warehouse, wh, titles = engagement
    users = users_frame(range(1, 21))
    sessions = sessions_frame(range(1, 201), list(range(1, 21)), titles)
    ratings = pd.DataFrame(
        {"session_id": [5, 6], "rating": [2, 5], "rated_at": sessions.ended_at[4:6].to_numpy()}
    )
    with wh.transaction():
        wh.write("users", users)
        wh.write("sessions", sessions)
        wh.write("ratings", ratings)
    warehouse.dbt("build")

    dim_users = wh.read("select * from marts.dim_users order by user_id")
    pd.testing.assert_frame_equal(
        dim_users[users.columns].reset_index(drop=True), users, check_dtype=False
    )
    fact = wh.read("select * from marts.fact_sessions order by session_id")
    pd.testing.assert_frame_equal(
        fact[sessions.columns].reset_index(drop=True), sessions, check_dtype=False
    )
    rated = fact.set_index("session_id").rating.dropna()
    assert rated.to_dict() == {5: 2, 6: 5}
    assert written_by_latest_build(warehouse, "fact_sessions", "session_id") == set(range(1, 201))

    # append 1%-style: new sessions and a rating of an old session
    more = sessions_frame(range(201, 211), [1, 2], titles)
    wh.write("sessions", more)
    wh.write(
        "ratings",
        pd.DataFrame({"session_id": [7], "rating": [4], "rated_at": sessions.ended_at[6:7]}),
    )
    warehouse.dbt("build")
    fact = wh.read("select * from marts.fact_sessions order by session_id").set_index("session_id")
    assert len(fact) == 210
    rebuilt = written_by_latest_build(warehouse, "fact_sessions", "session_id")
    assert rebuilt == set(range(201, 211)) | {7}  # only what changed was processed
    assert fact.rating.dropna().to_dict() == {5: 2, 6: 5, 7: 4}
    # the scoped data tests check the sessions written since (not 7: re-rated only,
    # its user and title are as tested before), by the index of the stamps
    assert scoped_test_rows(warehouse, "fact_sessions", "session_id") == set(range(201, 211))


def scoped_test_rows(warehouse, model: str, key: str) -> set:
    """The keys of the rows ``model``'s scoped data tests check: the where that
    relationships_written_by_latest_build reads, from the watermark the latest build took."""
    taken = warehouse.scalar(
        "select took_since from intermediate.incremental_watermarks where model_name = %s",
        [model],
    )
    rows = warehouse.query(
        f"select {key} from marts.{model} where {key} in (select {key} from "
        f"staging.stg_sim__sessions where row_xid >= %s)",
        [taken],
    )
    return {r[0] for r in rows}


#: A row breaking each rule of the marts' contracts; PostgreSQL refuses it, so the
#: marts need no data test repeating the rule (_engagement__models.yml).
BROKEN_MART_ROWS = {
    "dim_users: duplicate user_id": "update marts.dim_users set user_id = user_id + 1",
    "dim_users: null signup_at": "update marts.dim_users set signup_at = null",
    "dim_users: birth_year 1899": "update marts.dim_users set birth_year = 1899",
    "dim_users: gender robot": "update marts.dim_users set gender = 'robot'",
    "dim_users: plan gold": "update marts.dim_users set plan = 'gold'",
    "dim_users: churned before signup": (
        "update marts.dim_users set churned_at = signup_at - interval '1 day'"
    ),
    "dim_users: null is_churned": "update marts.dim_users set is_churned = null",
    "fact_sessions: duplicate session_id": (
        "update marts.fact_sessions set session_id = session_id + 1"
    ),
    "fact_sessions: null title_id": "update marts.fact_sessions set title_id = null",
    "fact_sessions: negative minutes": "update marts.fact_sessions set minutes_watched = -1",
    "fact_sessions: completion 1.5": "update marts.fact_sessions set completion_ratio = 1.5",
    "fact_sessions: rating 6": (
        "update marts.fact_sessions set rating = 6 where rating is not null"
    ),
    "fact_sessions: rating without time": (
        "update marts.fact_sessions set rated_at = null where rating is not null"
    ),
    "fact_sessions: ends before it starts": (
        "update marts.fact_sessions set ended_at = started_at - interval '1 minute'"
    ),
}


def test_postgresql_refuses_mart_rows_that_break_the_contracts(engagement):
    warehouse, wh, titles = engagement
    wh.write("users", users_frame(range(900, 903)))
    sessions = sessions_frame(range(900, 903), [900, 901, 902], titles)
    wh.write("sessions", sessions)
    wh.write(
        "ratings",
        pd.DataFrame({"session_id": [900], "rating": [3], "rated_at": sessions.ended_at[:1]}),
    )
    warehouse.dbt("build", "--select", "dim_users fact_sessions")
    accepted = []
    with warehouse.connect() as conn:
        for rule, breaking_update in BROKEN_MART_ROWS.items():
            try:
                with conn.transaction():
                    conn.execute(breaking_update)
                    accepted.append(rule)
                    raise psycopg.Rollback()
            except psycopg.errors.IntegrityError:
                pass
    assert accepted == []


def test_plan_changes_through_update_are_kept_by_the_snapshot(engagement):
    warehouse, wh, _ = engagement
    wh.write("users", users_frame([500]))
    warehouse.dbt("build")
    wh.update("users", {"user_id": 500, "plan": "premium"})
    warehouse.dbt("build")
    history = wh.read(
        "select plan, dbt_valid_to is null as is_current from snapshots.users_snapshot "
        "where user_id = 500 order by dbt_valid_from"
    )
    assert history.plan.tolist() == ["basic", "premium"]
    assert history.is_current.tolist() == [False, True]
    assert wh.read("select plan from marts.dim_users where user_id = 500").plan[0] == "premium"
    analyst_view = warehouse.query(
        "select count(*) from snapshots.users_snapshot where user_id = 500", role="analyst"
    )
    assert analyst_view[0][0] == 2


def _versions(wh, user_ids=None) -> pd.DataFrame:
    where = "" if user_ids is None else f"where user_id in ({', '.join(map(str, user_ids))})"
    return wh.read(
        "select user_id, plan, churned_at, country_code, dbt_scd_id, dbt_valid_from, dbt_valid_to"
        f" from snapshots.users_snapshot {where} order by user_id, dbt_valid_from"
    ).reset_index(drop=True)


def _assert_dim_users_is_sim_users(wh) -> None:
    columns = "user_id, signup_at, birth_year, gender, country_code, plan, churned_at"
    dim = wh.read(f"select {columns} from marts.dim_users order by user_id")
    sim = wh.read(f"select {columns} from sim.users order by user_id")
    pd.testing.assert_frame_equal(dim.reset_index(drop=True), sim.reset_index(drop=True))


def _assert_one_current_version_per_user(wh) -> None:
    users = wh.read("select user_id from sim.users").user_id
    current = wh.read("select user_id from snapshots.users_snapshot where dbt_valid_to is null")
    assert sorted(current.user_id) == sorted(users)


def test_dim_users_and_snapshot_take_only_the_users_changed_since_their_last_build(engagement):
    warehouse, wh, _ = engagement
    ids = list(range(600, 610))
    wh.write("users", users_frame(ids))
    warehouse.dbt("build")
    _assert_dim_users_is_sim_users(wh)
    _assert_one_current_version_per_user(wh)
    first = _versions(wh, ids)
    assert first.user_id.tolist() == ids  # one version each, current
    assert first.dbt_valid_to.isna().all()
    dim_before = wh.read("select * from marts.dim_users order by user_id")
    history_before = _versions(wh)

    # a build with nothing changed changes nothing
    warehouse.dbt("build")
    pd.testing.assert_frame_equal(_versions(wh), history_before)
    pd.testing.assert_frame_equal(
        wh.read("select * from marts.dim_users order by user_id"), dim_before
    )

    # a plan change, a cancellation and a change of a column the snapshot does not track
    churned = pd.Timestamp("2026-03-01", tz="UTC")  # after signup_at
    wh.update("users", {"user_id": 601, "plan": "premium"})
    wh.update("users", {"user_id": 603, "churned_at": churned})
    wh.update("users", {"user_id": 602, "country_code": "FR"})
    warehouse.dbt("build")
    _assert_dim_users_is_sim_users(wh)
    _assert_one_current_version_per_user(wh)
    dim = wh.read("select * from marts.dim_users order by user_id").set_index("user_id")
    assert written_by_latest_build(warehouse, "dim_users", "user_id") == {601, 602, 603}
    assert dim.loc[601, "plan"] == "premium"
    assert dim.loc[603, "is_churned"]
    assert dim.loc[602, "country_code"] == "FR"

    history = _versions(wh)
    for user_id, column, old, new in [
        (601, "plan", "basic", "premium"),
        (603, "churned_at", None, churned),
    ]:
        versions = history[history.user_id == user_id].reset_index(drop=True)
        assert len(versions) == 2
        assert pd.isna(versions[column][0]) if old is None else versions[column][0] == old
        assert versions[column][1] == new
        # the old version closes exactly when the new one opens
        assert versions.dbt_valid_to[0] == versions.dbt_valid_from[1]
        assert versions.dbt_valid_from[0] == first[first.user_id == user_id].dbt_valid_from.iloc[0]
        assert pd.isna(versions.dbt_valid_to[1])
    # the other users keep exactly the versions they had (602: no tracked column changed)
    unchanged = ~history_before.user_id.isin([601, 603])
    pd.testing.assert_frame_equal(
        history[~history.user_id.isin([601, 603])].reset_index(drop=True),
        history_before[unchanged].reset_index(drop=True),
    )

    # nothing changed since: the next build changes nothing
    history = _versions(wh)
    dim_before = wh.read("select * from marts.dim_users order by user_id")
    warehouse.dbt("build")
    pd.testing.assert_frame_equal(_versions(wh), history)
    pd.testing.assert_frame_equal(
        wh.read("select * from marts.dim_users order by user_id"), dim_before
    )
    # the scoped tests' rows are only a shortcut: every row passes them too
    warehouse.dbt("test", "--select", "dim_users users_snapshot", "--vars", "{test_all_rows: true}")


def test_a_deleted_user_leaves_dim_users_and_closes_its_snapshot_version(engagement):
    warehouse, wh, _ = engagement
    wh.write("users", users_frame([700, 701]))
    warehouse.dbt("build")
    wh.delete("users", [700])
    warehouse.dbt("build")
    _assert_dim_users_is_sim_users(wh)  # at an incremental build, no --full-refresh
    versions = _versions(wh, [700, 701])
    assert versions.user_id.tolist() == [700, 701]
    assert versions.dbt_valid_to.notna().tolist() == [True, False]  # closed by the post-hook
    _assert_one_current_version_per_user(wh)
    wh.write("users", users_frame([700]))  # the same key again: back in, a new version
    warehouse.dbt("build")
    _assert_dim_users_is_sim_users(wh)
    assert _versions(wh, [700]).dbt_valid_to.isna().tolist() == [False, True]


def test_a_new_snapshot_takes_every_user(engagement):
    warehouse, wh, _ = engagement
    warehouse.execute("drop table snapshots.users_snapshot")
    warehouse.dbt("build", "--select", "users_snapshot")
    _assert_one_current_version_per_user(wh)
    versions = _versions(wh)
    assert len(versions) == warehouse.scalar("select count(*) from sim.users")
