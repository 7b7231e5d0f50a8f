"""The simulation into a real built warehouse, through python_api: round trip, append, dbt, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_api import Warehouse
from recdb.core.landing import LANDING_TABLES
from simulation import (
    generate_population,
    load_config,
    read_catalogue,
    release_count,
    scoring_catalogue,
    simulate,
)

pytestmark = pytest.mark.integration

USERS = 2000
SEED = 11
TABLES = ("users", "user_tastes", "sessions", "ratings")


@pytest.fixture(scope="module")
def warehouse(built_warehouse):
    """A server of this module's own, with the project's catalogue loaded and built."""
    return built_warehouse


@pytest.fixture(scope="module")
def first_run(warehouse):
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        report = simulate(USERS, SEED, warehouse=wh)
    return report


def read_back(warehouse, table: str, first_id: int, last_id: int) -> pd.DataFrame:
    """Rows of a landing table for a range of users (or sessions), in key order, as written."""
    spec = LANDING_TABLES[table]
    key = "session_id" if table in ("sessions", "ratings") else "user_id"
    columns = ", ".join(spec.column_names)
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        frame = wh.read(
            f"select {columns} from {spec.qualified_name} "
            f"where {key} between %(low)s and %(high)s order by {spec.primary_key[0]}",
            params={"low": first_id, "high": last_id},
        )
    return frame


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text, arrays as lists: values compare exactly, dtypes aside."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) or out[column].dtype == object:
            if column == "genre_affinities":
                out[column] = [list(np.asarray(v, dtype=float)) for v in out[column]]
            else:
                out[column] = out[column].astype(str)
        elif str(out[column].dtype).startswith(("str", "string")):
            out[column] = out[column].astype(str)
    return out.reset_index(drop=True)


def test_simulate_writes_exactly_what_the_pure_generation_makes(warehouse, first_run):
    assert first_run.users == USERS
    assert first_run.user_ids == (1, USERS)
    assert first_run.session_ids == (1, first_run.sessions)
    assert first_run.sessions > 5 * USERS
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        catalogue = read_catalogue(wh)
    expected = generate_population(USERS, SEED, catalogue, first_user_id=1, first_session_id=1)
    assert len(expected.ratings) == first_run.ratings
    for table in TABLES:
        key_range = (1, first_run.sessions) if table in ("sessions", "ratings") else (1, USERS)
        stored = normalise(read_back(warehouse, table, *key_range))
        made = normalise(expected.frames()[table])
        for column in made.columns:
            assert stored[column].tolist() == made[column].tolist(), f"{table}.{column}"


def test_a_second_run_appends_new_users_after_the_existing_ids(warehouse, first_run):
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        second = simulate(300, SEED, warehouse=wh)
    assert second.user_ids == (USERS + 1, USERS + 300)
    assert second.session_ids[0] == first_run.session_ids[1] + 1
    assert warehouse.scalar("select count(*) from sim.users") == USERS + 300
    assert warehouse.scalar("select max(session_id) from sim.sessions") == second.session_ids[1]
    # same seed, but new people: the appended tastes are not a copy of the first users'
    first = warehouse.query("select genre_affinities from sim.user_tastes where user_id = 1")
    appended = warehouse.query(
        "select genre_affinities from sim.user_tastes where user_id = %s", (USERS + 1,)
    )
    assert first != appended


def test_dbt_build_passes_on_the_simulated_data(warehouse, first_run):
    warehouse.dbt("build")
    sessions = warehouse.scalar("select count(*) from sim.sessions")
    assert warehouse.scalar("select count(*) from marts.fact_sessions") == sessions
    assert warehouse.scalar("select count(*) from marts.dim_users") == warehouse.scalar(
        "select count(*) from sim.users"
    )


def test_sessions_respect_the_period_signup_and_churn_in_the_database(warehouse, first_run):
    config = load_config()
    outside = warehouse.scalar(
        "select count(*) from sim.sessions s join sim.users u using (user_id) "
        "where s.started_at < greatest(u.signup_at, %s::date) "
        "or s.ended_at > least(coalesce(u.churned_at, %s::date), %s::date)",
        (config.period.start, config.period.end, config.period.end),
    )
    assert outside == 0


def test_cli_simulates_and_reports_errors_in_one_line(warehouse, first_run, tmp_path):
    before = warehouse.scalar("select count(*) from sim.users")
    result = warehouse.recdb("simulate", "--users", "40", "--seed", "5")
    assert "users:" in result.stdout and "40" in result.stdout
    assert warehouse.scalar("select count(*) from sim.users") == before + 40

    bad = tmp_path / "bad.toml"
    bad.write_text("[tastes]\ndirichlet_alpha = -1\n", encoding="utf-8")
    failed = warehouse.recdb("simulate", "--users", "10", "--config", str(bad), check=False)
    assert failed.returncode == 1
    error_lines = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "tastes.dirichlet_alpha" in error_lines[0] and "> 0" in error_lines[0]
    assert warehouse.scalar("select count(*) from sim.users") == before + 40

    printed = warehouse.recdb("simulate", "--print-config")
    assert "[tastes]" in printed.stdout and "dirichlet_alpha" in printed.stdout
    helped = warehouse.recdb("simulate", "--help")
    assert "--users" in helped.stdout and "--seed" in helped.stdout


# -- ids at the bigint maximum (issue 10, item 11) ------------------------------------
BIGINT_MAX = 2**63 - 1


def test_simulate_after_an_id_at_the_bigint_maximum_is_refused_in_one_line(warehouse, first_run):
    from simulation import IdOverflowError

    users = warehouse.scalar("select count(*) from sim.users")
    sessions = warehouse.scalar("select count(*) from sim.sessions")
    title = warehouse.scalar("select min(title_id) from marts.dim_titles")
    start = pd.Timestamp("2030-03-02 20:00", tz="UTC")
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        wh.write("users", pd.DataFrame({
            "user_id": [BIGINT_MAX], "signup_at": [start], "birth_year": [1990],
            "gender": ["female"], "country_code": ["US"], "plan": ["basic"]}))  # fmt: skip
        try:
            with pytest.raises(
                IdOverflowError, match=f"largest user_id in sim.users is {BIGINT_MAX}"
            ):
                simulate(10, SEED, warehouse=wh)
            failed = warehouse.recdb("simulate", "--users", "5", "--seed", "5", check=False)
            assert failed.returncode == 1 and "Traceback" not in failed.stderr
            error_lines = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
            assert (
                len(error_lines) == 1 and f"user_id in sim.users is {BIGINT_MAX}" in error_lines[0]
            )
            assert simulate(0, SEED, warehouse=wh).users == 0  # no new ids, nothing to refuse
            assert warehouse.scalar("select count(*) from sim.users") == users + 1

            wh.delete("users", [BIGINT_MAX])
            wh.write("sessions", pd.DataFrame({
                "session_id": [BIGINT_MAX], "user_id": [1], "title_id": [title],
                "started_at": [start], "ended_at": [start + pd.Timedelta(minutes=5)],
                "minutes_watched": [5.0], "completion_ratio": [0.1]}))  # fmt: skip
            with pytest.raises(
                IdOverflowError, match=f"session_id in sim.sessions is {BIGINT_MAX}"
            ):
                simulate(10, SEED, warehouse=wh)
        finally:
            warehouse.execute("delete from sim.sessions where session_id = %s", (BIGINT_MAX,))
            warehouse.execute("delete from sim.users where user_id = %s", (BIGINT_MAX,))
    assert warehouse.scalar("select count(*) from sim.users") == users
    assert warehouse.scalar("select count(*) from sim.sessions") == sessions


# -- titles released over time (issue 17) ----------------------------------------------
RELEASE_RATE = 4.0
#: Sessions of simulated titles that start before the title is out.
BEFORE_RELEASE = (
    "select count(*) from {sessions} as s join {titles} as t using (title_id) "
    "where s.started_at < t.released_at"
)


def test_simulate_with_releases_writes_titles_users_discover_and_the_build_keeps(
    warehouse, first_run
):
    config = load_config(overrides={"releases.rate": RELEASE_RATE})
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        report = simulate(300, SEED, config, warehouse=wh)
    count = release_count(config)
    assert count == round(RELEASE_RATE * 365 / 7)
    assert (report.titles, report.title_ids) == (count, ("sim-000001", f"sim-{count:06d}"))
    assert warehouse.scalar("select count(*) from sim.titles") == count
    assert warehouse.scalar("select count(*) from sim.credits") == report.credits > 2 * count
    outside = warehouse.scalar(
        "select count(*) from sim.titles where released_at <= %s::date or released_at >= %s::date",
        (config.period.start, config.period.end),
    )
    assert outside == 0  # after the simulation's start, before its end
    new_sessions = warehouse.scalar(
        "select count(*) from sim.sessions join sim.titles using (title_id)"
    )
    assert new_sessions == report.release_sessions > 0
    before = BEFORE_RELEASE.format(sessions="sim.sessions", titles="sim.titles")
    assert warehouse.scalar(before) == 0

    # a second run: ids, names and persons continue, none twice
    again = load_config(overrides={"releases.rate": 1.0})
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        second = simulate(40, 3, again, warehouse=wh)
    more = release_count(again)
    assert second.title_ids == (f"sim-{count + 1:06d}", f"sim-{count + more:06d}")
    assert warehouse.scalar("select count(*) from sim.titles") == count + more
    assert warehouse.scalar(before) == 0

    warehouse.dbt("build")
    simulated = warehouse.query(
        "select count(*), min(released_at), bool_and(not is_retired) "
        "from marts.dim_titles where source = 'simulation'"
    )[0]
    assert simulated[0] == count + more and simulated[2]
    assert simulated[1] > pd.Timestamp(config.period.start, tz="UTC")
    in_marts = warehouse.scalar(
        "select count(*) from marts.fact_sessions join marts.dim_titles using (title_id) "
        "where source = 'simulation'"
    )
    assert in_marts == warehouse.scalar(
        "select count(*) from sim.sessions join sim.titles using (title_id)"
    )
    assert (
        warehouse.scalar(
            BEFORE_RELEASE.format(sessions="marts.fact_sessions", titles="marts.dim_titles")
        )
        == 0
    )
    assert (
        warehouse.scalar(
            "select count(distinct title_id) from marts.dim_credits where source = 'simulation'"
        )
        == count + more
    )
    # the oracle scores them: every title of the marts, by tastes and history
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        scored = scoring_catalogue(wh)
    assert scored.size == warehouse.scalar("select count(*) from marts.dim_titles")
