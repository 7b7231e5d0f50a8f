"""The simulation releases titles over time (issue 17): the release generator (genres and
countries from the catalogue's mix, unique names and ids, release times at the rate,
seeded), and discovery (users watch a new title only after its release, by their tastes,
its popularity its own history), the oracle scoring them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from python_api.validate import to_arrow_table
from recdb.core.landing import CREDITS, TITLES
from simulation import (
    IdOverflowError,
    SimulationConfigError,
    catalogue_from_frames,
    generate_population,
    generate_titles,
    load_config,
    mix_from_frames,
    oracle_scores,
    release_count,
    release_stream,
    releases_from_titles,
    scoring_catalogue,
)
from simulation.discovery import HistoryPopularity
from simulation.releases import read_release_state, title_number
from tests.unit.test_simulation import make_frames

RATE = 20.0
COUNTRIES = ["US", "GB", "FR", "JP", "KR", "IN", "BR"]


def country_frame(titles: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """bridge_title_prod_countries rows: JP for animation-heavy ids, otherwise a mix."""
    rng = np.random.default_rng(seed)
    rows = []
    for title in titles["title_id"]:
        for position, code in enumerate(rng.choice(COUNTRIES, rng.integers(0, 3), replace=False)):
            rows.append((title, str(code), position + 1, position == 0))
    return pd.DataFrame(
        rows, columns=["title_id", "country_code", "country_position", "is_main_country"]
    )


@pytest.fixture(scope="module")
def frames():
    titles, bridge, genres = make_frames(titles=400, seed=2)
    return titles, bridge, genres, country_frame(titles)


@pytest.fixture(scope="module")
def catalogue(frames):
    titles, bridge, genres, _ = frames
    return catalogue_from_frames(titles, bridge, genres)


@pytest.fixture(scope="module")
def mix(frames):
    titles, bridge, _, countries = frames
    return mix_from_frames(titles, bridge, countries)


def config_with(rate: float = RATE, **overrides):
    return load_config(overrides={"releases.rate": rate, **overrides})


def make_titles(mix, rate=RATE, seed=1, **kwargs):
    config = config_with(rate)
    return generate_titles(release_count(config), mix, config, release_stream(seed, 1, 1), **kwargs)


@pytest.fixture(scope="module")
def new(mix):
    return make_titles(mix)


# -- the release generator --------------------------------------------------------------
def test_the_rate_is_titles_per_week_released_over_the_period_after_its_start(new):
    config = config_with()
    assert release_count(config) == round(RATE * 365 / 7) == len(new.titles)
    assert release_count(load_config()) == 0  # off by default
    released = new.titles["released_at"]
    start = pd.Timestamp(config.period.start, tz="UTC")
    end = pd.Timestamp(config.period.end, tz="UTC")
    assert (released > start).all() and (released < end).all()
    assert released.is_monotonic_increasing  # ids in release order
    # spread over the period: each quarter has about a quarter of them
    quarters = released.dt.quarter.value_counts(normalize=True)
    assert quarters.between(0.19, 0.31).all() and len(quarters) == 4
    assert (new.titles["release_year"] == released.dt.year).all()


def test_frames_have_the_landing_columns_and_pass_python_api_validation(new):
    for spec, frame in ((TITLES, new.titles), (CREDITS, new.credits)):
        assert tuple(frame.columns) == spec.column_names
        assert to_arrow_table(spec, frame).num_rows == len(frame)


def test_genres_and_countries_are_the_catalogues_mix(new, mix, frames):
    titles, bridge, _, countries = frames
    lists = {
        (bool(s), g, c) for s, g, c in zip(mix.is_show, mix.genres, mix.countries, strict=True)
    }
    made = new.titles
    for row in made.itertuples():
        # a catalogue title's whole lists, of a title of the same type: the combination,
        # the number of genres, main first, and the countries that go with them
        assert (row.title_type == "show", tuple(row.genres), tuple(row.production_countries)) in (
            lists
        )
        assert len(set(row.genres)) == len(row.genres)
    shows = (titles["title_type"] == "show").mean()
    assert (made["title_type"] == "show").mean() == pytest.approx(shows, abs=0.06)
    catalogue_count = bridge.groupby("title_id").size().reindex(titles["title_id"]).fillna(0)
    made_count = made["genres"].map(len)
    assert made_count.mean() == pytest.approx(catalogue_count.mean(), abs=0.2)
    main = bridge[bridge["genre_position"] == 1]["genre_id"].value_counts(normalize=True)
    made_main = made["genres"].map(lambda g: g[0] if g else None).value_counts(normalize=True)
    assert (made_main.reindex(main.index).fillna(0) - main).abs().max() < 0.06
    assert set(made["production_countries"].explode().dropna()) <= set(COUNTRIES)


def test_runtimes_seasons_and_scores_are_plausible(new):
    titles = new.titles
    shows = titles["title_type"] == "show"
    assert titles["runtime_minutes"].between(1, 1000).all()
    assert (
        titles.loc[~shows, "runtime_minutes"].median()
        > titles.loc[shows, "runtime_minutes"].median()
    )
    assert (titles.loc[shows, "season_count"] == 1).all()
    assert titles.loc[~shows, "season_count"].isna().all()
    assert titles["imdb_score"].dropna().between(0, 10).all()
    assert titles["imdb_vote_count"].isna().all()  # popularity is their own history


def test_names_and_ids_are_unique_and_avoid_every_taken_key(mix, new):
    keys = set(
        zip(*(new.titles[c] for c in ("title_name", "release_year", "title_type")), strict=True)
    )
    assert len(keys) == len(new.titles)
    assert new.titles["title_id"].tolist() == [f"sim-{n:06d}" for n in range(1, len(keys) + 1)]
    # the same draws with every name taken: all renamed, none repeats a taken key
    again = make_titles(mix, taken=keys, first_number=len(keys) + 1)
    again_keys = set(
        zip(*(again.titles[c] for c in ("title_name", "release_year", "title_type")), strict=True)
    )
    assert not again_keys & keys and len(again_keys) == len(again.titles)
    assert again.titles["title_id"].iloc[0] == f"sim-{len(keys) + 1:06d}"


def test_credits_are_new_persons_with_new_ids(new, mix):
    credits = new.credits
    assert credits["person_id"].tolist() == list(range(1, len(credits) + 1))
    per_title = credits.groupby("title_id")["credit_role"].value_counts().unstack(fill_value=0)
    assert (per_title["director"] == 1).all() and per_title["actor"].between(2, 5).all()
    assert set(credits["title_id"]) == set(new.titles["title_id"])
    assert credits.loc[credits["credit_role"] == "director", "character_name"].isna().all()
    later = make_titles(mix, first_person_id=2_000_001)
    assert later.credits["person_id"].min() == 2_000_001
    with pytest.raises(IdOverflowError, match="person_id"):
        make_titles(mix, first_person_id=2**31 - 10)


def test_seeded_runs_are_reproducible(mix, new):
    again = make_titles(mix)
    pd.testing.assert_frame_equal(again.titles, new.titles)
    pd.testing.assert_frame_equal(again.credits, new.credits)
    other = make_titles(mix, seed=2)
    assert not other.titles["title_name"].equals(new.titles["title_name"])


def test_ids_continue_after_the_largest_in_the_warehouse():
    assert title_number("sim-000041") == 41 and title_number("sim-7") == 7
    assert title_number("tm1234") is None and title_number("sim-12a") is None

    class Warehouse:
        def read(self, query, params=None):
            if "from sim.titles order by" in query:
                return pd.DataFrame(columns=["title_id"])
            if "retired" in query:
                return pd.DataFrame(columns=["title_id", "retired_at"])
            if "like" in query:  # numbered ids of sim.titles and the marts
                return pd.DataFrame({"title_id": ["sim-000009", "sim-41", "sim-x", "sim-001"]})
            if "person_id" in query:
                return pd.DataFrame({"catalogue": [2_399_950], "simulated": [2_400_100]})
            return pd.DataFrame(
                {"title_name": ["A"], "release_year": [2023], "title_type": ["movie"]}
            )

    state = read_release_state(Warehouse(), load_config())
    assert state.first_number == 42 and state.first_person_id == 2_400_101
    assert state.taken == {("A", 2023, "movie")}


def test_the_rate_is_checked():
    with pytest.raises(SimulationConfigError, match="releases.rate"):
        config_with(-1)
    far = {
        "period.start": dt.date(2100, 6, 1),
        "period.end": dt.date(2101, 6, 1),
        "users.age_shares": {"80-85": 1.0},  # birth years the users' table takes
    }
    with pytest.raises(SimulationConfigError, match="releases.rate"):
        config_with(1, **far)
    assert config_with(0, **far).releases.rate == 0  # no titles, no release years


# -- discovery ------------------------------------------------------------------------------
USERS = 2000


@pytest.fixture(scope="module")
def releases(new, catalogue):
    return releases_from_titles(new.titles, catalogue)


@pytest.fixture(scope="module")
def population(catalogue, releases):
    return generate_population(USERS, 5, catalogue, config_with(), releases=releases)


def of_new_titles(population, new) -> pd.DataFrame:
    sessions = population.sessions.assign(title_id=population.sessions["title_id"].astype(str))
    return sessions.merge(new.titles[["title_id", "released_at", "title_type"]], on="title_id")


def test_new_titles_are_watched_only_after_their_release_and_gain_history(population, new):
    watched = of_new_titles(population, new)
    assert population.release_sessions == len(watched) > 0.03 * len(population.sessions)
    assert (watched["started_at"] >= watched["released_at"]).all()
    assert watched["title_id"].nunique() > 0.5 * len(new.titles)
    # they gain history: more of the sessions go to new titles as more are out
    month = population.sessions["started_at"].dt.month
    is_new = population.sessions["title_id"].astype(str).str.startswith("sim-")
    share = is_new.groupby(month).mean()
    assert share.iloc[-1] > 3 * share.iloc[0]
    assert share.diff().dropna().gt(-0.05).all()
    movies = watched[watched["title_type"] == "movie"]
    assert not movies.duplicated(["user_id", "title_id"]).any()  # a movie is started once


def assert_same_population(one, other):
    for name, frame in one.frames().items():
        if name == "user_tastes":
            assert np.array_equal(
                np.stack(frame["genre_affinities"]),
                np.stack(other.user_tastes["genre_affinities"]),
            )
            frame = frame.drop(columns="genre_affinities")
        pd.testing.assert_frame_equal(frame, other.frames()[name][frame.columns])


def test_the_same_seed_and_releases_give_the_same_rows(catalogue, releases, population):
    again = generate_population(USERS, 5, catalogue, config_with(), releases=releases)
    assert_same_population(population, again)


def test_without_simulated_titles_nothing_changes(catalogue):
    plain = generate_population(400, 9, catalogue)
    empty = pd.DataFrame(
        columns=["title_id", "title_type", "released_at", "genres", "runtime_minutes", "imdb_score"]
    )
    none = generate_population(400, 9, catalogue, releases=releases_from_titles(empty, catalogue))
    assert_same_population(plain, none)
    assert none.release_sessions == 0


def test_users_discover_new_titles_by_their_tastes(population, new, catalogue, releases):
    watched = of_new_titles(population, new)
    tastes = population.user_tastes.set_index("user_id")
    affinities = np.stack(tastes.loc[watched["user_id"], "genre_affinities"])
    position = pd.Index(releases.title_ids).get_indexer(watched["title_id"])
    # the watched new title's genre match, against a random new title's for the same user
    match = (affinities * releases.genre_weights[position]).sum(axis=1)
    rng = np.random.default_rng(0)
    other = rng.integers(releases.size, size=len(watched))
    random_match = (affinities * releases.genre_weights[other]).sum(axis=1)
    assert match.mean() > 3 * random_match.mean()


def test_a_new_titles_popularity_is_its_history_and_starts_low():
    rates = np.array([0.0, 0, 0, 1, 1, 2, 5, 9, 20, 50])
    popularity = np.array([-1.5, -1.0, -1.2, -0.5, 0.2, 0.0, 0.4, 1.5, 1.0, 2.0])
    curve = HistoryPopularity(rates, popularity)
    values = curve(np.array([0, 0.5, 3, 10, 100.0]))
    assert np.all(np.diff(values) >= 0)  # more viewing, never less popular
    assert values[0] < popularity.mean() < values[-1]
    assert values[0] == pytest.approx(popularity[rates == 0].mean(), abs=0.3)


def test_retired_titles_are_not_started_after_retirement(catalogue, new):
    retire_at = pd.Timestamp("2023-04-01", tz="UTC")
    early = new.titles[new.titles["released_at"] < pd.Timestamp("2023-02-01", tz="UTC")]
    retired = pd.DataFrame({"title_id": early["title_id"], "retired_at": retire_at})
    releases = releases_from_titles(new.titles, catalogue, retired)
    population = generate_population(1500, 6, catalogue, config_with(), releases=releases)
    watched = of_new_titles(population, new)
    gone = watched[watched["title_id"].isin(early["title_id"])]
    assert len(gone) > 0 and (gone["started_at"] < retire_at).all()


def test_the_oracle_scores_simulated_titles_by_tastes_and_history(frames, new, population):
    titles, bridge, genres, _ = frames
    dim_titles = pd.concat(
        [
            titles.assign(source="catalog", released_at=pd.NaT),
            new.titles[["title_id", "title_type", "runtime_minutes", "imdb_score",
                        "imdb_vote_count", "released_at"]].assign(source="simulation"),
        ],
        ignore_index=True,
    )  # fmt: skip
    sim_bridge = new.titles[["title_id", "genres"]].explode("genres").dropna()
    sim_bridge = sim_bridge.rename(columns={"genres": "genre_id"}).assign(
        genre_position=lambda f: f.groupby("title_id").cumcount() + 1
    )
    sessions = population.sessions.assign(title_id=population.sessions["title_id"].astype(str))
    counts = sessions.groupby("title_id").size().rename("session_count").reset_index()

    class Warehouse:
        def read(self, query, params=None):
            if "agg_title_viewing" in query:
                return counts
            if "dim_titles" in query:
                return dim_titles
            if "bridge_title_genres" in query:
                return pd.concat([bridge, sim_bridge], ignore_index=True)
            return genres

    scored = scoring_catalogue(Warehouse())
    assert scored.size == len(dim_titles)
    assert set(scored.title_ids[-len(new.titles) :]) == set(new.titles["title_id"])
    scores = oracle_scores(population.user_tastes.iloc[:200], scored)
    top = np.argsort(-scores, axis=1)[:, :10]
    assert (top >= scored.size - len(new.titles)).mean() > 0.05  # it recommends new titles
    watched = counts.set_index("title_id")["session_count"]
    position = pd.Index(scored.title_ids).get_indexer(new.titles["title_id"])
    history = watched.reindex(new.titles["title_id"]).fillna(0).to_numpy()
    assert np.corrcoef(history, scored.popularity[position])[0, 1] > 0.3


def test_the_command_lines_release_rate_is_the_configs_knob(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import simulation
    from recdb.cli.science import simulate as command

    rates = []

    def simulate(users, seed, config, progress=None):
        rates.append(config.releases.rate)
        return simulation.SimulationReport(
            users, 0, 0, None, None, seed, config.source, {}, 0.1, titles=3, credits=9,
            title_ids=("sim-000001", "sim-000003"),
        )  # fmt: skip

    monkeypatch.setattr(simulation, "simulate", simulate)
    runner = CliRunner()
    result = runner.invoke(command, ["--users", "5", "--release-rate", "2.5"])
    assert result.exit_code == 0, result.output
    assert "titles:" in result.output and "sim-000001..sim-000003" in result.output
    mine = tmp_path / "mine.toml"
    mine.write_text("[releases]\nrate = 7\n", encoding="utf-8")
    assert runner.invoke(command, ["--users", "5", "--config", str(mine)]).exit_code == 0
    assert runner.invoke(command, ["--users", "5"]).exit_code == 0
    assert rates == [2.5, 7.0, 0.0]
    refused = runner.invoke(command, ["--users", "5", "--release-rate", "-1"])
    assert refused.exit_code == 2 and "--release-rate" in refused.output
    assert "--release-rate" in runner.invoke(command, ["--help"]).output
