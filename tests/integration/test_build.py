"""dbt builds the snowflake schema from whatever raw holds, and PostgreSQL holds its keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from recdb.catalog.generate import generate_catalog

pytestmark = pytest.mark.integration

MARTS = [
    "dim_titles",
    "dim_genres",
    "bridge_title_genres",
    "dim_prod_countries",
    "bridge_title_prod_countries",
    "dim_persons",
    "dim_credits",
]


def completeness(warehouse) -> dict[str, tuple[int, int]]:
    """(source, mart) counts for titles, credits and the distinct list pairs."""
    return {
        "titles": (
            warehouse.scalar("select count(*) from raw.titles"),
            warehouse.scalar("select count(*) from marts.dim_titles"),
        ),
        "credits": (
            warehouse.scalar("select count(*) from raw.credits"),
            warehouse.scalar("select count(*) from marts.dim_credits"),
        ),
        "title_genres": (
            warehouse.scalar(
                "select count(*) from raw.titles as t, "
                "lateral regexp_matches(t.genres, '''([^'']+)''', 'g') as genre"
            ),
            warehouse.scalar("select count(*) from marts.bridge_title_genres"),
        ),
        "title_countries": (
            warehouse.scalar(
                "select count(*) from raw.titles as t, "
                "lateral regexp_matches(t.production_countries, '''([^'']+)''', 'g') as country"
            ),
            warehouse.scalar("select count(*) from marts.bridge_title_prod_countries"),
        ),
    }


def assert_complete(warehouse) -> None:
    for name, (source, mart) in completeness(warehouse).items():
        assert source > 0, name
        assert mart == source, name


def test_every_mart_is_built(built_warehouse):
    tables = {
        r[0]
        for r in built_warehouse.query(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE'"
        )
    }
    assert set(MARTS) <= tables


def test_marts_keep_every_source_row(built_warehouse):
    assert_complete(built_warehouse)


def test_postgres_holds_the_keys(built_warehouse):
    constraints = built_warehouse.query(
        "select conrelid::regclass::text, contype from pg_constraint "
        "where connamespace = 'marts'::regnamespace"
    )
    primary_keys = {table for table, kind in constraints if kind == "p"}
    foreign_keys = {table for table, kind in constraints if kind == "f"}
    assert {f"marts.{m}" for m in MARTS} <= primary_keys
    assert {
        "marts.bridge_title_genres",
        "marts.bridge_title_prod_countries",
        "marts.dim_credits",
    } <= foreign_keys


def test_best_of_flags_match_the_lists(built_warehouse):
    all_time = built_warehouse.scalar(
        "select count(*) from marts.dim_titles where is_all_time_best"
    )
    listed = built_warehouse.scalar(
        "select (select count(*) from raw.best_movies) + (select count(*) from raw.best_shows)"
    )
    assert all_time == listed
    year_best = built_warehouse.scalar("select count(*) from marts.dim_titles where is_year_best")
    listed_by_year = built_warehouse.scalar(
        "select (select count(*) from raw.best_movies_by_year)"
        " + (select count(*) from raw.best_shows_by_year)"
    )
    assert year_best == listed_by_year


def test_one_main_genre_and_country_per_title(built_warehouse):
    for bridge, flag in [
        ("bridge_title_genres", "is_main_genre"),
        ("bridge_title_prod_countries", "is_main_country"),
    ]:
        wrong = built_warehouse.scalar(
            f"select count(*) from (select title_id from marts.{bridge} group by title_id "
            f"having count(*) filter (where {flag}) <> 1) as titles"
        )
        assert wrong == 0, bridge


def test_build_uses_the_loaded_folder_not_the_default(built_warehouse_of_its_own, tmp_path):
    warehouse = built_warehouse_of_its_own  # the default catalogue loaded and built
    other = tmp_path / "other"
    generate_catalog(other, titles=150, seed=99, layout="kaggle")
    default_titles = warehouse.scalar("select count(*) from marts.dim_titles")
    report = warehouse.load(other)
    warehouse.dbt("build")
    assert warehouse.scalar("select count(*) from marts.dim_titles") == report.rows["titles"]
    assert report.rows["titles"] != default_titles
    loaded_ids = {r[0] for r in warehouse.query("select id from raw.titles")}
    mart_ids = {r[0] for r in warehouse.query("select title_id from marts.dim_titles")}
    assert mart_ids == loaded_ids
    assert_complete(warehouse)


def test_an_unchanged_catalogue_is_left_out_and_a_load_brings_it_back(fresh_warehouse, tmp_path):
    import json
    import os
    import shutil

    from recdb.warehouse.build import CATALOG_SOURCES, build, catalog_fingerprint
    from tests.conftest import PROJECT_DIR

    owner = fresh_warehouse.settings("owner")
    fresh_warehouse.load()
    assert build(settings=owner) is False  # first build: everything
    assert build(settings=owner) is True  # nothing changed: catalogue left out
    target = Path(os.environ.get("DBT_TARGET_PATH", PROJECT_DIR / "target"))
    ran = {r["unique_id"] for r in json.loads((target / "run_results.json").read_text())["results"]}
    assert not any(".dim_titles" in node for node in ran if node.startswith("model."))
    assert any("relationships_fact_sessions_title_id" in node for node in ran)
    assert_complete(fresh_warehouse)
    watermarks = "select model_name, snapshot_xmin from intermediate.incremental_watermarks"
    before = dict(fresh_warehouse.query(watermarks))
    fresh_warehouse.load()  # a load renews raw: the catalogue is built again
    assert build(settings=owner) is False
    # the incremental marts go on from where they were, not from every row
    taken = dict(fresh_warehouse.query(watermarks.replace("snapshot_xmin", "took_since")))
    assert {m: taken[m] for m in before if m != "users_snapshot"} == {
        m: xmin for m, xmin in before.items() if m != "users_snapshot"
    }
    assert build(settings=owner, everything=True) is False

    copy = tmp_path / "project"
    for entry in CATALOG_SOURCES:
        source = PROJECT_DIR / entry
        if source.is_dir():
            shutil.copytree(source, copy / entry)
        else:
            (copy / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / entry)
    with fresh_warehouse.connect() as conn:
        before = catalog_fingerprint(conn, copy)
        (copy / "models/marts/catalog/dim_titles.sql").write_text("select 1 as changed\n")
        assert catalog_fingerprint(conn, copy) != before


def mart_digests(warehouse) -> dict[str, str]:
    """An order-independent digest of every catalogue mart's rows."""
    return {
        mart: warehouse.scalar(
            "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
            f"from marts.{mart} as t"
        )
        for mart in MARTS
    }


@pytest.mark.parametrize(
    ("column", "bad_value"),
    [("genres", "drama, comedy"), ("genres", "['drama'"), ("production_countries", "[US]")],
)
def test_lists_that_are_not_list_literals_fail_before_any_mart_changes(
    built_warehouse_of_its_own, tmp_path, column, bad_value
):
    """Such text would parse as "no genres" (or countries): the staging tests refuse it,
    so the build stops before a mart is rebuilt from it."""
    import csv

    from recdb.core.errors import DbtError
    from tests.conftest import PROJECT_DIR

    warehouse = built_warehouse_of_its_own  # the default catalogue loaded and built
    before = mart_digests(warehouse)
    bad = tmp_path / "bad"
    generate_catalog(bad, titles=1200, seed=42, layout="seed")
    with open(bad / "titles.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[3][column] = bad_value
    with open(bad / "titles.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert (PROJECT_DIR / "seeds" / "netflix" / "titles.csv").read_text() != (
        bad / "titles.csv"
    ).read_text()
    warehouse.load(bad)
    with pytest.raises(DbtError):
        warehouse.dbt("build")
    assert mart_digests(warehouse) == before


def test_a_catalogue_that_fails_a_test_publishes_nothing(fresh_warehouse, tmp_path):
    """Finding 4: a mart test failed after dim_credits and bridge_title_prod_countries were
    rebuilt from the new catalogue and while bridge_title_genres kept the old one.
    `recdb build` audits a changed catalogue out of sight and publishes it whole."""
    import csv

    from recdb.core.errors import DbtError
    from recdb.warehouse.build import build

    owner = fresh_warehouse.settings("owner")
    fresh_warehouse.load()
    build(settings=owner)
    before = mart_digests(fresh_warehouse)

    other = tmp_path / "other"
    generate_catalog(other, titles=900, seed=7, layout="seed")
    with open(other / "best_movies.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["title"] = "No Such Film Anywhere"  # a best-of entry that matches no title
    with open(other / "best_movies.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fresh_warehouse.load(other)
    with pytest.raises(DbtError):
        build(settings=owner)
    assert mart_digests(fresh_warehouse) == before
    # what passed its tests before the failure (under plain dbt, published already) waits
    # in the audit schema, for inspection
    audited = fresh_warehouse.scalar("select count(*) from marts__audit.dim_persons")
    assert audited == fresh_warehouse.scalar("select count(distinct person_id) from raw.credits")
    assert audited != fresh_warehouse.scalar("select count(*) from marts.dim_persons")

    generate_catalog(other, titles=900, seed=7, layout="seed")  # the lists as generated
    fresh_warehouse.load(other)
    build(settings=owner)
    assert_complete(fresh_warehouse)
    assert mart_digests(fresh_warehouse) != before
    assert fresh_warehouse.scalar("select to_regnamespace('marts__audit')") is None
    analyst_sees = {
        mart: fresh_warehouse.scalar(f"select count(*) from marts.{mart}", role="analyst")
        for mart in MARTS
    }
    assert all(count > 0 for count in analyst_sees.values())


def test_publishing_a_catalogue_keeps_no_reader_waiting_behind_an_open_writer(
    fresh_warehouse, tmp_path
):
    """A new catalogue's publish replaces the catalogue marts (ACCESS EXCLUSIVE), so it waits
    for every open transaction that read them: a writer of sessions reads dim_titles
    (its reference check). Every reader of dim_titles queued behind that wait, for as long
    as the writer stayed open (bench/marts_consistency.py --seed 11, step 22). The publish
    gives up after a short lock timeout and tries again, so readers wait at most that
    long, and it publishes once the writer is done."""
    import threading
    import time

    import psycopg

    from recdb.warehouse.build import build

    owner = fresh_warehouse.settings("owner")
    fresh_warehouse.load()
    build(settings=owner)
    before = mart_digests(fresh_warehouse)
    generate_catalog(tmp_path / "other", titles=700, seed=8, layout="seed")
    fresh_warehouse.load(tmp_path / "other")

    outcome: list[object] = []
    with fresh_warehouse.connect("owner") as writer:
        writer.execute("select count(*) from marts.dim_titles")  # an open transaction
        building = threading.Thread(
            target=lambda: outcome.append(build(settings=owner) or "published"), daemon=True
        )
        building.start()
        while (
            fresh_warehouse.scalar(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                "and query like 'drop table%%'"
            )
            == 0
        ):
            assert building.is_alive(), outcome
            time.sleep(0.2)
        # the publish waits for the writer: readers must not wait behind it
        for _ in range(5):
            with fresh_warehouse.connect("analyst") as reader:
                reader.execute("set lock_timeout = '5s'")
                try:
                    reader.execute("select count(*) from marts.dim_titles").fetchone()
                except psycopg.errors.LockNotAvailable:
                    pytest.fail("a reader of dim_titles waited behind the catalogue's publish")
            time.sleep(0.5)
        assert mart_digests(fresh_warehouse) == before  # not published while the writer is open
        writer.rollback()
    building.join(timeout=600)
    assert outcome == ["published"]
    assert mart_digests(fresh_warehouse) != before
    assert_complete(fresh_warehouse)
