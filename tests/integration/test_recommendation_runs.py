"""recs.recommendations has one partition per run; python_api replaces a run atomically."""

from __future__ import annotations

import pandas as pd
import pytest

from python_api import ApiError, ConflictError, NotFoundError, ValidationError, Warehouse
from recdb.core.landing import RECOMMENDATIONS, partition_name
from recdb.warehouse.roles import prepare_warehouse
from tests.conftest import RECOMMENDATION_ROWS
from tests.integration.test_python_api import users_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(built_warehouse):
    """The built warehouse with users 1-3, published runs a and b without rows, and no other
    recommendations, as a scientist."""
    built_warehouse.execute("truncate sim.users, sim.user_tastes, recs.runs, recs.recommendations")
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        wh.write("users", users_frame((1, 2, 3)))
        now = pd.Timestamp.now("UTC")
        wh.write("runs", pd.DataFrame({"run_id": ["a", "b"], "published_at": [now, now]}))
        yield wh


@pytest.fixture
def title_ids(built_warehouse) -> list[str]:
    return [r[0] for r in built_warehouse.query(
        "select title_id from marts.dim_titles order by title_id limit 6"
    )]  # fmt: skip


def recommendations(run_id: str, title_ids: list[str], users=(1, 2), per_user=2, offset=0):
    rows = [
        {
            "run_id": run_id,
            "user_id": user,
            "title_id": title_ids[offset + rank],
            "rank": rank + 1,
            "score": float(10 - rank),
            "is_cold_start": False,
        }
        for user in users
        for rank in range(per_user)
    ]
    return pd.DataFrame(rows)


def run_rows(built_warehouse, run_id: str) -> list[tuple]:
    return built_warehouse.query(
        f"select user_id, title_id, rank from {RECOMMENDATION_ROWS} as recs where run_id = %s "
        "order by user_id, rank",
        (run_id,),
    )


def partitions(built_warehouse) -> set[str]:
    return {
        r[0]
        for r in built_warehouse.query(
            "select inhrelid::regclass::text from pg_inherits "
            "where inhparent = 'recs.recommendations'::regclass"
        )
    }


def test_each_run_gets_its_own_partition(built_warehouse, warehouse, title_ids):
    warehouse.write("recommendations", recommendations("a", title_ids))
    warehouse.write("recommendations", recommendations("b", title_ids, users=(3,)))
    names = partitions(built_warehouse)
    assert {f"recs.{partition_name(RECOMMENDATIONS, r)}" for r in ("a", "b")} <= names
    assert len(run_rows(built_warehouse, "a")) == 4 and len(run_rows(built_warehouse, "b")) == 2


def test_replace_run_swaps_the_run_and_leaves_the_others(built_warehouse, warehouse, title_ids):
    warehouse.write("recommendations", recommendations("a", title_ids))
    warehouse.write("recommendations", recommendations("b", title_ids))
    before_b = run_rows(built_warehouse, "b")
    with warehouse.transaction():
        assert warehouse.replace_run("a") == 4
        warehouse.write("recommendations", recommendations("a", title_ids, users=(3,), offset=3))
        # until the commit, everybody else still reads the old rows
        assert len(run_rows(built_warehouse, "a")) == 4
    assert run_rows(built_warehouse, "a") == [(3, title_ids[3], 1), (3, title_ids[4], 2)]
    # published when the replacing transaction committed, after run b
    published = built_warehouse.query("select run_id from recs.runs order by published_at")
    assert published == [("b",), ("a",)]
    assert run_rows(built_warehouse, "b") == before_b
    assert not any(name.endswith("_new") for name in partitions(built_warehouse))
    staged = built_warehouse.scalar(
        "select count(*) from pg_class where relname like 'recommendations%_new'"
    )
    assert staged == 0


def test_replacing_a_run_waits_for_no_one_using_the_other_runs(
    built_warehouse, warehouse, title_ids
):
    """Run a's replacement commits while a transaction that read and wrote run b is still
    open, and a reader of every run meanwhile reads without waiting (dropping a's old
    partition took an ACCESS EXCLUSIVE lock on recs.recommendations: it waited for
    the open transaction, and every reader queued behind it)."""
    warehouse.write("recommendations", recommendations("a", title_ids))
    with built_warehouse.connect("owner") as other:
        other.execute("select count(*) from recs.recommendations")
        other.execute(
            "delete from recs.recommendations where run_id = 'b'"
        )  # a writer of another run, still open
        with (
            Warehouse("scientist", built_warehouse.settings("scientist"), lock_timeout=1) as wh,
            wh.transaction(),
        ):
            assert wh.replace_run("a") == 4
            wh.write("recommendations", recommendations("a", title_ids, users=(3,), offset=3))
        other.rollback()
    assert run_rows(built_warehouse, "a") == [(3, title_ids[3], 1), (3, title_ids[4], 2)]


def test_a_new_run_can_be_staged_too(built_warehouse, warehouse, title_ids):
    with warehouse.transaction():
        assert warehouse.replace_run("fresh") == 0
        warehouse.write("recommendations", recommendations("fresh", title_ids))
    assert len(run_rows(built_warehouse, "fresh")) == 4


def test_a_failed_replacement_keeps_the_old_rows(built_warehouse, warehouse, title_ids):
    warehouse.write("recommendations", recommendations("a", title_ids))
    before = run_rows(built_warehouse, "a")
    bad = recommendations("a", title_ids, offset=3)
    bad.loc[1, "title_id"] = bad.loc[0, "title_id"]  # the same title twice in one list
    with pytest.raises(ApiError), warehouse.transaction():
        warehouse.replace_run("a")
        warehouse.write("recommendations", bad)
    assert run_rows(built_warehouse, "a") == before
    assert built_warehouse.scalar("select count(*) from pg_class where relname like '%_new'") == 0


def test_the_old_partition_stays_when_the_key_is_repeated_across_batches(
    built_warehouse, warehouse, title_ids
):
    warehouse.write("recommendations", recommendations("a", title_ids))
    with (
        pytest.raises(ApiError, match="already exists|twice|repeated|conflict"),
        warehouse.transaction(),
    ):
        warehouse.replace_run("a")
        warehouse.write("recommendations", recommendations("a", title_ids, users=(1,)))
        warehouse.write("recommendations", recommendations("a", title_ids, users=(1,)))
    assert len(run_rows(built_warehouse, "a")) == 4


def test_replace_run_refuses_misuse(warehouse, title_ids):
    with pytest.raises(ApiError, match="transaction"):
        warehouse.replace_run("a")
    with warehouse.transaction():
        with pytest.raises(ValidationError, match="run_id") as caught:
            warehouse.replace_run("no spaces; drop table sim.users")
        assert caught.value.column == "run_id"
        warehouse.replace_run("a")
        with pytest.raises(ApiError, match="already being replaced"):
            warehouse.replace_run("a")
        mixed = pd.concat(
            [recommendations("a", title_ids), recommendations("b", title_ids, offset=2)]
        )
        with pytest.raises(ValidationError, match="being replaced"):
            warehouse.write("recommendations", mixed)
        warehouse.write("recommendations", recommendations("a", title_ids))


def test_the_scientist_cannot_call_the_functions_with_bad_ids(built_warehouse):
    with pytest.raises(Exception, match="invalid run_id"):
        built_warehouse.execute(
            "select recs.ensure_run_id_partition('x; drop table sim.users')", role="scientist"
        )
    with pytest.raises(Exception, match="permission denied"):
        built_warehouse.execute("select recs.stage_run_id('a')", role="analyst")


def test_a_warehouse_from_before_the_lists_keeps_its_runs_as_lists(built_warehouse):
    """recs.recommendations held a row per title before: preparing the warehouse converts
    it once, each list in rank order, and the marts show the same rows after a build."""
    built_warehouse.execute(
        "truncate sim.users, sim.user_tastes, recs.runs cascade; "
        "drop table recs.recommendations cascade; "
        "create table recs.recommendations (run_id text not null, user_id bigint not null, "
        "title_id text not null, rank smallint not null, score double precision not null, "
        "is_cold_start boolean not null, primary key (run_id, user_id, rank)) "
        "partition by list (run_id); "
        "create table recs.recommendations_old partition of recs.recommendations "
        "for values in ('old')"
    )
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        wh.write("users", users_frame((1, 2)))
    titles = [r[0] for r in built_warehouse.query(
        "select title_id from marts.dim_titles order by title_id limit 3"
    )]  # fmt: skip
    built_warehouse.execute(
        "insert into recs.runs values ('old', now()); "
        "insert into recs.recommendations values "
        f"('old', 1, '{titles[2]}', 2, 0.5, false), ('old', 1, '{titles[0]}', 1, 0.9, false), "
        f"('old', 2, '{titles[1]}', 1, 0.7, true)"
    )
    with built_warehouse.connect("owner", autocommit=True) as conn:
        prepare_warehouse(conn)
        prepare_warehouse(conn)  # once only
    assert built_warehouse.query(
        "select user_id, title_ids, scores, is_cold_start from recs.recommendations "
        "order by user_id"
    ) == [(1, [titles[0], titles[2]], [0.9, 0.5], False), (2, [titles[1]], [0.7], True)]
    built_warehouse.dbt("build", "--select", "stg_recs__recommendations+")
    assert built_warehouse.query(
        "select user_id, recommendation_rank, title_id from marts.fact_recommendations "
        "order by user_id, recommendation_rank"
    ) == [(1, 1, titles[0]), (1, 2, titles[2]), (2, 1, titles[1])]


def test_a_users_list_is_written_replaced_and_deleted_whole(built_warehouse, warehouse, title_ids):
    warehouse.write("recommendations", recommendations("a", title_ids))
    rest = recommendations("a", title_ids, users=(1,)).assign(rank=[3, 4])
    with pytest.raises(ValidationError, match="user_id=1 is not whole: rank 1 is missing"):
        warehouse.write("recommendations", rest)  # the rest of user 1's list, later
    with pytest.raises(ConflictError, match="already exists"):
        warehouse.write("recommendations", recommendations("a", title_ids, users=(1,)))
    with pytest.raises(ValidationError, match="keeps each list whole"):
        warehouse.update("recommendations", {"run_id": "a", "user_id": 1, "title_ids": ["x"]})
    longer = recommendations("a", title_ids, users=(1,), per_user=3, offset=2)
    assert warehouse.write("recommendations", longer, upsert=True) == 3
    assert run_rows(built_warehouse, "a") == [
        (1, title_ids[2], 1), (1, title_ids[3], 2), (1, title_ids[4], 3),
        (2, title_ids[0], 1), (2, title_ids[1], 2),
    ]  # fmt: skip
    assert warehouse.delete("recommendations", [{"run_id": "a", "user_id": 2}]) == 1
    assert [row[0] for row in run_rows(built_warehouse, "a")] == [1, 1, 1]


def test_an_unknown_title_in_a_list_is_named_with_its_row(built_warehouse, warehouse, title_ids):
    bad = recommendations("a", title_ids)
    bad.loc[3, "title_id"] = "tm-no-such-title"
    with pytest.raises(NotFoundError, match="unknown title") as caught:
        warehouse.write("recommendations", bad)
    assert caught.value.column == "title_id" and caught.value.row_number == 3
    assert run_rows(built_warehouse, "a") == []
