"""Landing → dbt → marts: what python_api writes comes back from dim_users and fact_sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from python_api import Warehouse
from recdb.landing import LANDING_TABLES, LOADED_SEQ_COLUMN
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration


def test_dbt_sources_declare_exactly_the_landing_tables():
    declared = {}
    for path in [
        PROJECT_DIR / "models/staging/sim/_sim__sources.yml",
        PROJECT_DIR / "models/staging/recs/_recs__sources.yml",
    ]:
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                columns = [c["name"] for c in table["columns"]]
                declared[f"{source.get('schema', source['name'])}.{table['name']}"] = columns
    expected = {
        t.qualified_name: [*t.column_names, LOADED_SEQ_COLUMN] for t in LANDING_TABLES.values()
    }
    assert declared == expected


@pytest.fixture(scope="module")
def engagement(fresh_warehouse):
    fresh_warehouse.load()
    fresh_warehouse.dbt("build")
    titles = [r[0] for r in fresh_warehouse.query("select title_id from marts.dim_titles")]
    with Warehouse("scientist", fresh_warehouse.settings("scientist")) as wh:
        yield fresh_warehouse, wh, titles


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
    assert (fact.load_watermark_seq == 0).all()  # a full first build

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
    rebuilt = set(fact.index[fact.load_watermark_seq > 0])
    assert rebuilt == set(range(201, 211)) | {7}  # only what changed was processed
    assert fact.rating.dropna().to_dict() == {5: 2, 6: 5, 7: 4}


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
