"""recs.recommendations has one partition per run; python_api replaces a run atomically."""

from __future__ import annotations

import pandas as pd
import pytest

from python_api import ApiError, ValidationError, Warehouse
from recdb.core.landing import RECOMMENDATIONS, partition_name
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
        "select user_id, title_id, rank from recs.recommendations where run_id = %s "
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
