"""The warehouse on Apache Spark (dbt-spark, session method, local[2]): the same project
builds there, every data test and unit test of it passes, and each mart equals the one
PostgreSQL builds from the same files and the same simulation (seed), row for row.

One Spark warehouse for the module, in its own home, in this process: a SparkSession
is a JVM that starts once per process, and dbt-spark's session method builds into the
session recdb starts (recdb/core/spark.py). The catalogue is the real one where
../shared has it (CI), else the project's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

import python_api
from python_api.spark import SparkWarehouse
from recdb.catalog.load import load_catalog
from recdb.core import spark as spark_engine
from recdb.docs import site as docs_site
from recdb.warehouse.build import build
from recdb.warehouse.publish import SERVED_MARTS, PublishError, publish
from recommender import evaluate, recommend
from simulation import TasteOracle, simulate
from tests.conftest import PROJECT_DIR, REAL_CATALOG_DIR
from tests.integration.test_web_api import ANALYST, serving

pytestmark = [pytest.mark.integration, pytest.mark.spark]

CATALOG_MARTS = sorted(p.stem for p in (PROJECT_DIR / "models/marts/catalog").glob("*.sql"))
ENGAGEMENT_MARTS = sorted(p.stem for p in (PROJECT_DIR / "models/marts/engagement").glob("*.sql"))
RECOMMENDATION_MARTS = sorted(
    p.stem for p in (PROJECT_DIR / "models/marts/recommendations").glob("*.sql")
)
LANDING = ("sim.users", "sim.user_tastes", "sim.sessions", "sim.ratings")
#: The catalogue's models and seeds, what the simulation reads (the full build after the
#: simulation tests them).
CATALOGUE_ONLY = ("--select", "tag:catalog", "--resource-type", "model", "--resource-type", "seed")
#: The simulation both engines get: users and seed.
SIMULATED_USERS, SEED = 150, 7
#: The recommender run both engines write: its id, list length and model (closed form:
#: the same data give the same scores on both).
RUN, K, MODEL = "both-engines", 5, "ease"
REAL = (REAL_CATALOG_DIR / "raw_titles.csv").exists()
CATALOG_DIR = REAL_CATALOG_DIR if REAL else PROJECT_DIR / "seeds" / "netflix"


@pytest.fixture(scope="module")
def spark_warehouse(tmp_path_factory) -> Iterator[object]:
    """The catalogue loaded and built on Spark (`recdb --engine spark load`, `build`)."""
    home = tmp_path_factory.mktemp("spark") / "home"
    with pytest.MonkeyPatch.context() as patch:  # for these two steps only: the
        patch.setenv("RECDB_HOME", str(home))  # module's PostgreSQL is the default
        patch.setenv("RECDB_ENGINE", "spark")
        patch.setenv("RECDB_SPARK_DRIVER_MEMORY", "1g")
        report = load_catalog(CATALOG_DIR)
        build(list(CATALOGUE_ONLY))
        simulate(SIMULATED_USERS, SEED)  # through python_api's Spark writer
        with python_api.connect("scientist") as scientist:
            change_the_simulation(scientist)
        build()  # raises DbtError if any model, data test or unit test fails
        recommend(K, run_id=RUN, model=MODEL)  # reads and writes through python_api
        build(["--select", "tag:recommendations"])
        spark = spark_engine.session()
    try:
        yield spark, report
    finally:
        spark.stop()


@pytest.fixture(scope="module")
def postgres_warehouse(fresh_warehouse):
    """The same catalogue loaded and built on PostgreSQL."""
    report = fresh_warehouse.load(CATALOG_DIR)
    fresh_warehouse.dbt("build", *CATALOGUE_ONLY)
    with python_api.Warehouse("scientist", fresh_warehouse.settings("scientist")) as scientist:
        simulate(SIMULATED_USERS, SEED, warehouse=scientist)
        change_the_simulation(scientist)
        fresh_warehouse.dbt("build")
        recommend(K, run_id=RUN, model=MODEL, warehouse=scientist)
    fresh_warehouse.dbt("build", "--select", "tag:recommendations")
    return fresh_warehouse, report


def change_the_simulation(scientist) -> None:
    """Updates, upserts and deletes, the same on either engine (python_api's): the marts
    built after them must agree too. Users 1-5 change plan; user 6's ratings and
    sessions go, then user 6 (with its tastes, by cascade); in one transaction a
    session of user 7 is deleted and its id written again for user 8."""
    users = scientist.read("select * from sim.users where user_id <= 8 order by user_id")
    assert len(users) == 8
    scientist.update(
        "users", [{"user_id": u, "plan": "premium" if u % 2 else "basic"} for u in range(1, 6)]
    )
    sixth = scientist.read("select session_id from sim.sessions where user_id = 6")
    rated = scientist.read(
        "select r.session_id from sim.ratings as r join sim.sessions as s "
        "on r.session_id = s.session_id where s.user_id = 6"
    )
    with scientist.transaction():
        if len(rated):
            scientist.delete("ratings", rated["session_id"].tolist())
        scientist.delete("sessions", sixth["session_id"].tolist())
        scientist.delete("users", 6)
    session = scientist.read(
        "select * from sim.sessions where user_id = 7 and session_id not in "
        "(select session_id from sim.ratings) order by session_id limit 1"
    ).drop(columns=["written_xid"], errors="ignore")
    with scientist.transaction():
        scientist.delete("sessions", session["session_id"].tolist())
        scientist.write("sessions", session.assign(user_id=8))
    later = users.iloc[[7]].drop(columns=["written_xid"], errors="ignore").assign(plan="standard")
    scientist.write("users", later, upsert=True)


def _comparable(value):
    """A value as both engines should give it: instants in UTC, floats to 12 significant
    digits (a sum of doubles depends on the order rows arrive in), lists as tuples."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, list):
        return tuple(_comparable(v) for v in value)
    return value


def _row_key(row: tuple) -> tuple:
    return tuple((value is None, str(value)) for value in row)


def _sorted(rows) -> list[tuple]:
    return sorted((tuple(_comparable(v) for v in row) for row in rows), key=_row_key)


def spark_rows(spark, relation: str, columns: str = "*") -> tuple[list[str], list[tuple]]:
    table = spark.sql(f"select {columns} from {relation}").toArrow()
    return table.schema.names, _sorted(tuple(row.values()) for row in table.to_pylist())


def postgres_rows(warehouse, relation: str, columns: str = "*") -> tuple[list[str], list[tuple]]:
    with warehouse.connect() as conn:
        cursor = conn.execute(f"select {columns} from {relation}")
        names = [column.name for column in cursor.description]
        return names, _sorted(cursor.fetchall())


def test_the_load_reads_the_same_rows_on_both_engines(spark_warehouse, postgres_warehouse):
    (spark, spark_report), (warehouse, postgres_report) = spark_warehouse, postgres_warehouse
    assert spark_report.rows == postgres_report.rows
    for table in spark_report.rows:
        assert spark_rows(spark, f"raw.{table}") == postgres_rows(warehouse, f"raw.{table}")


@pytest.mark.parametrize("mart", CATALOG_MARTS)
def test_every_catalogue_mart_equals_the_postgres_one_row_for_row(
    spark_warehouse, postgres_warehouse, mart
):
    (spark, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    spark_names, spark_table = spark_rows(spark, f"marts.{mart}")
    postgres_names, postgres_table = postgres_rows(warehouse, f"marts.{mart}")
    assert spark_names == postgres_names
    assert len(spark_table) > 0
    assert spark_table == postgres_table


@pytest.mark.parametrize("table", LANDING)
def test_the_simulation_writes_the_same_rows_on_both_engines(
    spark_warehouse, postgres_warehouse, table
):
    (spark, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    names, postgres_table = postgres_rows(warehouse, table)
    columns = ", ".join(name for name in names if name != "written_xid")
    spark_table = spark_rows(spark, table, columns)
    assert spark_table == postgres_rows(warehouse, table, columns)
    assert len(spark_table[1]) > 0


@pytest.mark.parametrize("mart", ENGAGEMENT_MARTS + RECOMMENDATION_MARTS)
def test_every_engagement_mart_equals_the_postgres_one_row_for_row(
    spark_warehouse, postgres_warehouse, mart
):
    (spark, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    names, _ = postgres_rows(warehouse, f"marts.{mart} limit 0")
    # the run was published on each engine when its recommend ran, seconds apart
    kept = [name for name in names if name != "run_published_at"]
    columns = ", ".join(kept)
    spark_names, spark_table = spark_rows(spark, f"marts.{mart}", columns)
    postgres_names, postgres_table = postgres_rows(warehouse, f"marts.{mart}", columns)
    assert spark_names == postgres_names
    assert spark_table == postgres_table
    assert len(spark_table) > 0
    if mart in RECOMMENDATION_MARTS and mart != "cold_start_titles":
        assert {row[kept.index("run_id")] for row in spark_table} == {RUN}


@pytest.mark.skipif(not REAL, reason=f"the real catalogue is not in {REAL_CATALOG_DIR}")
def test_the_real_catalogue_builds_with_its_exact_counts(spark_warehouse):
    from tests.integration.test_real_catalog import EXPECTED_ROWS

    spark, report = spark_warehouse
    assert report.rows == EXPECTED_ROWS

    def count(query: str) -> int:
        return spark.sql(query).collect()[0][0]

    assert count("select count(*) from marts.dim_titles") == 5806
    assert count("select count(*) from marts.dim_credits") == 77213
    assert count("select count(*) from marts.dim_titles where is_all_time_best") == 387 + 246
    assert count("select count(*) from marts.dim_titles where is_year_best") == 49 + 31


def test_the_tables_are_parquet_files_in_the_warehouse_folder(spark_warehouse):
    spark, _ = spark_warehouse
    details = {
        row["col_name"]: row["data_type"]
        for row in spark.sql("describe table extended marts.dim_titles").collect()
    }
    assert details["Provider"] == "parquet"
    location = Path(details["Location"].removeprefix("file:"))
    assert location.is_dir() and any(location.glob("*.parquet"))


def test_an_unknown_engine_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", "--engine", "oracle", "load"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", "RECDB_HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "'postgres', 'spark'" in result.stderr


@pytest.mark.parametrize(
    "engine, command, says",
    [
        ("postgres", ["publish"], "copies Spark's marts to PostgreSQL: run it with --engine spark"),
        (
            "spark",
            ["tune", "--model", "als", "--out", "t"],
            "runs on PostgreSQL only in this version",
        ),
    ],
)
def test_a_command_of_the_other_engine_is_one_clear_line(tmp_path, engine, command, says):
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", "--engine", engine, *command],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", "RECDB_HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode != 0
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_bad_file_is_refused_on_spark_before_spark_starts(tmp_path):
    """The same checks as on PostgreSQL, named the same way, before any JVM starts."""
    broken = tmp_path / "catalogue"
    broken.mkdir()
    for path in (PROJECT_DIR / "seeds" / "netflix").glob("*.csv"):
        (broken / path.name).write_bytes(path.read_bytes())
    lines = (broken / "titles.csv").read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if i > 0 and '"' not in text)
    fields = lines[line].split(",")
    fields[lines[0].split(",").index("release_year")] = "nineteen"
    lines[line] = ",".join(fields)
    (broken / "titles.csv").write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", "--engine", "spark", "load", "--from", str(broken)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", "RECDB_HOME": str(tmp_path / "home")},
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert f"titles.csv, line {line + 1}, column 'release_year'" in result.stderr
    assert "'nineteen'" in result.stderr
    assert not (tmp_path / "home" / "spark").exists()


# -- python_api on Spark ------------------------------------------------------------
@pytest.fixture(scope="module")
def spark_api(spark_warehouse):
    """python_api.connect() with RECDB_ENGINE=spark: the Spark reader, on the module's
    session."""
    spark, _ = spark_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        reader = python_api.connect("analyst")
    assert isinstance(reader, SparkWarehouse)
    return reader


def test_python_api_reads_a_mart_from_spark_as_from_postgres(spark_api, postgres_warehouse):
    warehouse, _ = postgres_warehouse
    with python_api.Warehouse("analyst", warehouse.settings("analyst")) as postgres_api:
        expected = postgres_api.read("dim_titles")
    read = spark_api.read("dim_titles")
    assert list(read.columns) == list(expected.columns)
    order = ["title_id"]
    pd.testing.assert_frame_equal(
        read.sort_values(order).reset_index(drop=True),
        expected.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )


def test_python_api_binds_parameters_on_spark(spark_api):
    named = spark_api.read(
        "select title_id, release_year from marts.dim_titles where release_year >= %(year)s "
        "and title_type = %(type)s",
        params={"year": 2020, "type": "movie"},
    )
    assert len(named) > 0
    assert (named["release_year"] >= 2020).all()
    hostile = spark_api.read(
        "select count(*) as n from marts.dim_titles where title_name = %s",
        params=["x' or '1'='1"],
    )
    assert hostile["n"].iloc[0] == 0
    chunks = list(spark_api.read_chunks("marts.dim_genres", rows=5))
    assert all(len(chunk) <= 5 for chunk in chunks)
    assert sum(len(chunk) for chunk in chunks) == len(spark_api.read("dim_genres"))


def test_python_api_on_spark_fails_with_its_own_errors(spark_api):
    with pytest.raises(python_api.NotFoundError, match="readable: .*marts.dim_titles"):
        spark_api.read("no_such_table")
    with pytest.raises(python_api.NotFoundError, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark_api.read("select * from marts.nothing_here")
    with pytest.raises(python_api.ValidationError) as caught:
        spark_api.read("select nonsense from")
    assert "\tat " not in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_read_on_spark_changes_nothing(spark_api, spark_warehouse):
    spark, _ = spark_warehouse
    for statement in (
        "drop table marts.dim_genres",
        "insert into marts.dim_genres select * from marts.dim_genres",
        "select 1; drop table marts.dim_genres",
    ):
        with pytest.raises(python_api.ApiError):
            spark_api.read(statement)
    assert spark.sql("select count(*) from marts.dim_genres").collect()[0][0] == len(
        spark_api.read("dim_genres")
    )
    with pytest.raises(python_api.PermissionDeniedError):
        spark_api.write("users", pd.DataFrame())


# -- python_api's writes on Spark: the same checks, the same errors -----------------
def _bad_batches(spark) -> dict[str, tuple[str, pd.DataFrame]]:
    """Batches each engine must refuse, built from the rows both hold."""
    user = spark.sql("select * from sim.users order by user_id limit 1").toArrow().to_pandas()
    user = user.drop(columns=["written_xid"], errors="ignore")
    session = (
        spark.sql("select * from sim.sessions order by session_id limit 1").toArrow().to_pandas()
    )
    session = session.drop(columns=["written_xid"], errors="ignore")
    unknown_user = session.assign(session_id=10**9, user_id=10**9)
    unknown_title = session.assign(session_id=10**9, title_id="tm0")
    bad_rating = pd.DataFrame(
        {"session_id": [session["session_id"].iloc[0]], "rating": [7], "rated_at": ["2024-01-01"]}
    )
    return {
        "a user that exists": ("users", user),
        "a session of an unknown user": ("sessions", unknown_user),
        "a session of an unknown title": ("sessions", unknown_title),
        "a rating out of range": ("ratings", bad_rating),
    }


def _error_of(action) -> python_api.ApiError:
    with pytest.raises(python_api.ApiError) as caught:
        action()
    return caught.value


def test_python_api_refuses_the_same_batches_with_the_same_errors_on_spark(
    spark_warehouse, postgres_warehouse
):
    (spark, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    before = {
        table: spark.sql(f"select count(*) from {table}").collect()[0][0] for table in LANDING
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        spark_scientist = python_api.connect("scientist")
    postgres_scientist = python_api.Warehouse("scientist", warehouse.settings("scientist"))
    with postgres_scientist:
        for case, (table, frame) in _bad_batches(spark).items():
            on_spark = _error_of(
                lambda table=table, frame=frame: spark_scientist.write(table, frame)
            )
            on_postgres = _error_of(
                lambda table=table, frame=frame: postgres_scientist.write(table, frame)
            )
            assert type(on_spark) is type(on_postgres), case
            assert str(on_spark) == str(on_postgres), case
    after = {table: spark.sql(f"select count(*) from {table}").collect()[0][0] for table in LANDING}
    assert after == before


def test_a_transaction_on_spark_appends_all_of_its_batches_or_none(spark_warehouse):
    spark, _ = spark_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        scientist = python_api.connect("scientist")
    users = spark.sql("select * from sim.users order by user_id limit 1").toArrow().to_pandas()
    users = users.drop(columns=["written_xid"]).assign(user_id=10**9)
    session = (
        spark.sql("select * from sim.sessions order by session_id limit 1").toArrow().to_pandas()
    )
    session = session.drop(columns=["written_xid"]).assign(session_id=10**9, user_id=10**9)

    def count(table: str) -> int:
        return spark.sql(f"select count(*) from {table}").collect()[0][0]

    before = (count("sim.users"), count("sim.sessions"))
    with pytest.raises(python_api.ConflictError), scientist.transaction():
        scientist.write("users", users)  # checked, waits for the end
        scientist.write("sessions", session)  # its user is this transaction's
        scientist.write("users", users)  # a key the transaction already wrote
    assert (count("sim.users"), count("sim.sessions")) == before
    with scientist.transaction():
        scientist.write("users", users)
        scientist.write("sessions", session)
    assert (count("sim.users"), count("sim.sessions")) == (before[0] + 1, before[1] + 1)


def test_rows_of_a_write_that_never_committed_are_never_seen(spark_warehouse):
    """A writer that died after appending its rows but before landing.commits got their
    number: readers and the checks of later writes see nothing of it."""
    spark, _ = spark_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        scientist = python_api.connect("scientist")
    user = spark.sql("select * from sim.users order by user_id limit 1").toArrow().to_pandas()
    orphan = user.assign(user_id=10**9 + 1, written_xid=1)
    before = spark.sql("select count(*) from sim.users").collect()[0][0]
    spark.createDataFrame(orphan).write.insertInto("sim.users__versions")
    assert spark.sql("select count(*) from sim.users").collect()[0][0] == before
    assert scientist.write("users", orphan.drop(columns=["written_xid"])) == 1
    assert spark.sql("select count(*) from sim.users").collect()[0][0] == before + 1


def _refused_changes(scientist) -> dict[str, object]:
    """Updates, deletes and runs each engine must refuse (on the rows both hold)."""

    def replace_twice() -> None:
        with scientist.transaction():
            scientist.replace_run("twice")
            scientist.replace_run("twice")

    return {
        "a run replaced outside a transaction": lambda: scientist.replace_run("outside"),
        "a run replaced twice in a transaction": replace_twice,
        "a run id that is not one": lambda: scientist.publish_run("no spaces allowed"),
        "a run never begun published": lambda: scientist.publish_run("never-begun"),
        "an update of an unknown user": lambda: scientist.update(
            "users", {"user_id": 10**8, "plan": "basic"}
        ),
        "a delete of an unknown session": lambda: scientist.delete("sessions", [10**8]),
        "a delete of a user with sessions": lambda: scientist.delete("users", [7]),
        "an update that breaks a rule": lambda: scientist.update(
            "users", {"user_id": 2, "plan": "gold"}
        ),
        "a list updated in place": lambda: scientist.update(
            "recommendations", {"run_id": "r", "user_id": 2, "is_cold_start": True}
        ),
    }


def test_python_api_refuses_the_same_updates_and_deletes_on_spark(
    spark_warehouse, postgres_warehouse
):
    (spark, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        spark_scientist = python_api.connect("scientist")
    postgres_scientist = python_api.Warehouse("scientist", warehouse.settings("scientist"))
    before = {table: spark_rows(spark, table) for table in LANDING}
    with postgres_scientist:
        on_postgres = _refused_changes(postgres_scientist)
        for case, action in _refused_changes(spark_scientist).items():
            spark_error, postgres_error = _error_of(action), _error_of(on_postgres[case])
            assert type(spark_error) is type(postgres_error), case
            assert str(spark_error) == str(postgres_error), case
    assert {table: spark_rows(spark, table) for table in LANDING} == before


# -- serving a Spark warehouse: `recdb publish` -------------------------------------------
def test_publish_puts_what_the_web_api_serves_into_postgres(
    spark_warehouse, built_warehouse, tmp_path
):
    """The serving PostgreSQL (here one holding the project's own catalogue) gets Spark's
    marts and run; `recdb serve` in front of it serves them."""
    spark, _ = spark_warehouse
    report = publish(spark=spark, owner=built_warehouse.settings("owner"))
    assert report.run_id == RUN
    for mart in SERVED_MARTS:
        assert postgres_rows(built_warehouse, f"marts.{mart}") == spark_rows(
            spark, f"marts.{mart}"
        ), mart
    title = spark.sql("select title_id from marts.dim_titles order by title_id limit 1")
    title_id = title.collect()[0][0]
    user_id, expected = spark.sql(
        "select user_id, collect_list(title_id) over (partition by user_id order by "
        "recommendation_rank) as titles from marts.fact_recommendations "
        "where not is_cold_start order by user_id, recommendation_rank desc limit 1"
    ).collect()[0]
    with serving(built_warehouse, tmp_path / "serve.log") as (url, _):
        headers = {"X-API-Key": ANALYST}
        served = httpx.get(f"{url}/v1/titles/{title_id}", headers=headers, timeout=10)
        assert served.status_code == 200 and served.json()["title_id"] == title_id
        listed = httpx.get(f"{url}/v1/users/{user_id}/recommendations", headers=headers, timeout=10)
        assert listed.status_code == 200, listed.text
        assert listed.json()["run_id"] == RUN
        assert [item["title_id"] for item in listed.json()["items"]] == expected


def test_publish_refuses_a_run_spark_does_not_hold(spark_warehouse, built_warehouse):
    spark, _ = spark_warehouse
    with pytest.raises(PublishError, match="'no-such-run' is not a published run"):
        publish("no-such-run", spark=spark, owner=built_warehouse.settings("owner"))


def test_the_docs_describe_the_spark_warehouse(spark_warehouse, tmp_path):
    """`recdb --engine spark docs`: dbt's catalogue read from Spark, every node and built
    column described."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        site = docs_site.generate(target=tmp_path / "site")
    catalog = json.loads((site.path / "catalog.json").read_text(encoding="utf-8"))
    titles = catalog["nodes"]["model.recdb.dim_titles"]
    assert titles["metadata"]["schema"] == "marts"
    assert "title_id" in titles["columns"]
    assert "source.recdb.sim.sessions" in catalog["sources"]
    assert site.warnings == []


def test_evaluate_scores_both_trainers_on_one_split_of_the_spark_marts(
    spark_warehouse, postgres_warehouse, tmp_path
):
    """`recdb --engine spark evaluate --model als --trainer implicit --trainer spark`: a
    row per trainer, on the split PostgreSQL's marts give, with the same baselines."""
    (_, _), (warehouse, _) = spark_warehouse, postgres_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDB_ENGINE", "spark")
        on_spark = evaluate(
            tmp_path / "spark",
            oracle=TasteOracle(),
            model_names=["als"],
            trainers=["implicit", "spark"],
        )
    with python_api.Warehouse("scientist", warehouse.settings("scientist")) as scientist:
        on_postgres = evaluate(
            tmp_path / "postgres", oracle=TasteOracle(), model_names=["als"], warehouse=scientist
        )
    assert set(on_spark.models) == set(on_postgres.models) | {"als (spark)"}
    assert on_spark.holdout == on_postgres.holdout
    assert on_spark.holdout["test_users_evaluated"] > 0
    for baseline in ("popularity", "best_of", "oracle"):
        assert on_spark.models[baseline] == on_postgres.models[baseline], baseline
    assert on_spark.models["oracle"]["with_history"]["ndcg@10"] > 0
    oracle = on_spark.models["oracle"]["with_history"]["ndcg@10"]
    for name in ("als", "als (spark)"):
        assert 0 <= on_spark.models[name]["with_history"]["ndcg@10"] <= oracle
    assert (tmp_path / "spark" / "evaluation.json").exists()
