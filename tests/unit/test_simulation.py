"""The pure simulation: determinism, landing-table shape, and behaviour that follows the knobs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from python_api.validate import to_arrow_table
from recdb.core.landing import LANDING_TABLES
from simulation import (
    SimulationError,
    catalogue_from_frames,
    generate_population,
    load_config,
    oracle_scores,
    oracle_top_n,
    user_title_utility,
)
from simulation.catalogue import without_retired
from simulation.engine import _streams
from simulation.tastes import BIAS_STEP, ChoiceSampler, Tastes, draw_tastes
from simulation.users import epoch_seconds

GENRES = [
    "action", "animation", "comedy", "crime", "documentation", "drama", "european", "family",
    "fantasy", "history", "horror", "music", "reality", "romance", "scifi", "sport", "thriller",
    "war", "western",
]  # fmt: skip


def make_frames(titles: int = 300, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    """dim_titles / bridge_title_genres / dim_genres-shaped frames with the catalogue's quirks:
    titles without genres, unknown runtimes, votes and scores, a genre without titles."""
    rng = np.random.default_rng(seed)
    ids = [f"{'ts' if i % 3 == 0 else 'tm'}{100000 + i}" for i in range(titles)]
    is_show = np.array([i.startswith("ts") for i in ids])
    runtime = np.where(is_show, rng.integers(20, 60, titles), rng.integers(70, 180, titles))
    runtime[:4] = 0
    votes = np.floor(np.exp(rng.normal(8, 2.5, titles))).astype("float64")
    votes[4:8] = np.nan
    score = np.round(rng.uniform(3, 9, titles), 1)
    score[8:10] = np.nan
    dim_titles = pd.DataFrame(
        {
            "title_id": ids,
            "title_type": np.where(is_show, "show", "movie"),
            "runtime_minutes": runtime,
            "imdb_score": score,
            "imdb_vote_count": pd.array(votes, dtype="Int64"),
        }
    )
    rows = []
    for position, title in enumerate(ids):
        if position % 50 == 7:
            continue  # no genres
        for rank, genre in enumerate(
            rng.choice(len(GENRES) - 1, size=rng.integers(1, 4), replace=False)
        ):
            rows.append((title, GENRES[genre], rank + 1))  # never "western"
    bridge = pd.DataFrame(rows, columns=["title_id", "genre_id", "genre_position"])
    genres = pd.DataFrame({"genre_id": GENRES[::-1]})
    return dim_titles, bridge, genres


@pytest.fixture(scope="module")
def catalogue():
    return catalogue_from_frames(*make_frames())


@pytest.fixture(scope="module")
def population(catalogue):
    return generate_population(3000, 7, catalogue)


def generate(catalogue, users=2000, seed=3, **overrides):
    return generate_population(users, seed, catalogue, load_config(overrides=overrides))


def user_table(population) -> pd.DataFrame:
    """Sessions joined to their user's signup and churn."""
    return population.sessions.merge(
        population.users[["user_id", "signup_at", "churned_at"]], on="user_id"
    )


# -- catalogue --------------------------------------------------------------------
def test_catalogue_arrays(catalogue):
    assert list(catalogue.title_ids) == sorted(catalogue.title_ids)
    assert catalogue.genre_ids == tuple(sorted(GENRES))
    assert (catalogue.runtime_minutes > 0).all()
    sums = catalogue.genre_weights.sum(axis=1)
    assert np.allclose(sums[sums > 0], 1) and (sums == 0).sum() == 6
    assert catalogue.genre_weights[:, catalogue.genre_ids.index("western")].sum() == 0
    assert abs(catalogue.popularity.mean()) < 1e-9
    assert catalogue.popularity.std() == pytest.approx(1)


def test_empty_catalogue_is_a_clear_error():
    titles, bridge, genres = make_frames()
    with pytest.raises(SimulationError, match="recdb build"):
        catalogue_from_frames(titles.iloc[:0], bridge, genres)


# -- determinism and shape ----------------------------------------------------------
def test_same_seed_same_rows_different_seed_different_rows(catalogue, population):
    again = generate_population(3000, 7, catalogue)
    for name, frame in population.frames().items():
        pd.testing.assert_frame_equal(frame, again.frames()[name])
        assert pd.util.hash_pandas_object(
            frame.astype({"genre_affinities": str}) if name == "user_tastes" else frame,
            index=False,
        ).equals(
            pd.util.hash_pandas_object(
                again.frames()[name].astype({"genre_affinities": str})
                if name == "user_tastes"
                else again.frames()[name],
                index=False,
            )
        )
    other = generate_population(3000, 8, catalogue)
    assert not other.sessions["title_id"].equals(population.sessions["title_id"])


def test_frames_have_exactly_the_landing_columns_and_pass_python_api_validation(population):
    for name, frame in population.frames().items():
        spec = LANDING_TABLES[name]
        assert tuple(frame.columns) == spec.column_names
        assert to_arrow_table(spec, frame).num_rows == len(frame)
    for column in ("signup_at", "churned_at"):
        assert str(population.users[column].dtype) == "datetime64[us, UTC]"


def test_ids_continue_from_the_given_first_ids(catalogue):
    first = generate_population(50, 1, catalogue, first_user_id=1, first_session_id=1)
    later = generate_population(50, 1, catalogue, first_user_id=1001, first_session_id=5001)
    assert later.users["user_id"].tolist() == list(range(1001, 1051))
    assert later.sessions["session_id"].iloc[0] == 5001
    assert later.sessions["session_id"].is_monotonic_increasing
    assert later.sessions["user_id"].between(1001, 1050).all()
    # appended users are new people, not a copy of the first ones
    assert not np.array_equal(
        np.stack(first.user_tastes["genre_affinities"]),
        np.stack(later.user_tastes["genre_affinities"]),
    )


def test_zero_users_give_empty_frames(catalogue):
    empty = generate_population(0, 1, catalogue)
    for name, frame in empty.frames().items():
        assert frame.empty and tuple(frame.columns) == LANDING_TABLES[name].column_names


@pytest.mark.parametrize(("users", "seed"), [(-1, 1), (10, -1), (1.5, 1), (True, 1)])
def test_bad_arguments(catalogue, users, seed):
    with pytest.raises(SimulationError):
        generate_population(users, seed, catalogue)


# -- time -------------------------------------------------------------------------
def test_sessions_inside_the_period_after_signup_before_churn(population):
    config = load_config()
    joined = user_table(population)
    start = pd.Timestamp(config.period.start, tz="UTC")
    end = pd.Timestamp(config.period.end, tz="UTC")
    assert (joined["started_at"] >= start).all() and (joined["ended_at"] <= end).all()
    assert (joined["started_at"] >= joined["signup_at"]).all()
    churned = joined["churned_at"].notna()
    assert churned.any()
    assert (joined.loc[churned, "ended_at"] <= joined.loc[churned, "churned_at"]).all()
    assert (joined["ended_at"] >= joined["started_at"]).all()


def test_a_users_sessions_do_not_overlap_and_ids_follow_time(population):
    sessions = population.sessions
    assert sessions["session_id"].diff().dropna().eq(1).all()
    same_user = sessions["user_id"].eq(sessions["user_id"].shift())
    gap = sessions["started_at"] - sessions["ended_at"].shift()
    assert (gap[same_user] >= pd.Timedelta(0)).all()
    assert sessions["user_id"].is_monotonic_increasing


def test_users_signup_and_churn(population):
    config = load_config()
    users = population.users
    start = pd.Timestamp(config.period.start, tz="UTC")
    end = pd.Timestamp(config.period.end, tz="UTC")
    assert (users["signup_at"] < end).all()
    existing = (users["signup_at"] < start).mean()
    assert existing == pytest.approx(config.users.existing_share, abs=0.04)
    churned = users["churned_at"].notna()
    assert churned.mean() == pytest.approx(config.churn.share, abs=0.03)
    assert (users.loc[churned, "churned_at"] >= users.loc[churned, "signup_at"]).all()
    assert (users.loc[churned, "churned_at"].between(start, end)).all()


def test_churn_knobs(catalogue):
    none = generate(catalogue, **{"churn.share": 0})
    assert none.users["churned_at"].isna().all()
    early = generate(catalogue, **{"churn.share": 1, "churn.mean_tenure_days": 5})
    late = generate(catalogue, **{"churn.share": 1, "churn.mean_tenure_days": 3000})
    assert early.users["churned_at"].notna().all()

    def tenure(p):
        return (p.users["churned_at"] - p.users["signup_at"]).dt.days.median()

    assert tenure(early) < tenure(late)
    assert len(early.sessions) < len(late.sessions)


# -- demographics -----------------------------------------------------------------
def test_plan_gender_country_and_age_mix(population):
    config = load_config()
    users = population.users
    shares = users["plan"].value_counts(normalize=True)
    for plan, share in config.users.plan_shares.items():
        assert shares[plan] == pytest.approx(share, abs=0.03)
    assert set(users["gender"]) <= set(config.users.gender_shares)
    assert set(users["country_code"]) <= set(config.users.country_shares)
    ages = config.period.start.year - users["birth_year"].astype(int)
    assert ages.between(18, 85).all()
    assert ages.between(25, 34).mean() == pytest.approx(0.27, abs=0.03)


def test_plan_mix_knob(catalogue):
    all_premium = generate(
        catalogue, users=200, **{"users.plan_shares": {"premium": 1.0, "basic": 0.0}}
    )
    assert set(all_premium.users["plan"]) == {"premium"}


# -- tastes and choice -----------------------------------------------------------
def genre_concentration(population, catalogue) -> float:
    """Mean over users of the Herfindahl index of the genres they watched."""
    index = {t: i for i, t in enumerate(catalogue.title_ids)}
    titles = population.sessions["title_id"].astype(str).map(index).to_numpy()
    weights = catalogue.genre_weights[titles]
    per_user = (
        pd.DataFrame(weights).groupby(population.sessions["user_id"].to_numpy()).sum().to_numpy()
    )
    totals = per_user.sum(axis=1, keepdims=True)
    keep = totals[:, 0] >= 10
    shares = per_user[keep] / totals[keep]
    return float((shares**2).sum(axis=1).mean())


def test_lower_dirichlet_alpha_gives_more_concentrated_tastes_and_viewing(catalogue):
    peaked = generate(catalogue, **{"tastes.dirichlet_alpha": 0.1})
    flat = generate(catalogue, **{"tastes.dirichlet_alpha": 10})
    peaked_max = np.stack(peaked.user_tastes["genre_affinities"]).max(axis=1).mean()
    flat_max = np.stack(flat.user_tastes["genre_affinities"]).max(axis=1).mean()
    assert peaked_max > 0.5 > 0.2 > flat_max
    assert genre_concentration(peaked, catalogue) > 1.3 * genre_concentration(flat, catalogue)


def test_tastes_are_on_the_simplex_and_biases_on_the_grid(population, catalogue):
    tastes = np.stack(population.user_tastes["genre_affinities"])
    assert tastes.shape == (3000, catalogue.genre_count)
    assert (tastes >= 0).all() and np.allclose(tastes.sum(axis=1), 1)
    bias = population.user_tastes["popularity_bias"]
    assert (bias >= 0).all() and (bias <= load_config().popularity.bias_max).all()
    assert np.allclose(bias / BIAS_STEP, np.rint(bias / BIAS_STEP))
    assert bias.mean() == pytest.approx(load_config().popularity.bias_mean, abs=0.05)


def test_popularity_bias_knob(catalogue):
    index = {t: i for i, t in enumerate(catalogue.title_ids)}

    def watched_popularity(p):
        titles = p.sessions["title_id"].astype(str).map(index).to_numpy()
        return catalogue.popularity[titles].mean()

    none = generate(catalogue, **{"popularity.bias_mean": 0})
    strong = generate(catalogue, **{"popularity.bias_mean": 3})
    assert (none.user_tastes["popularity_bias"] == 0).all()
    assert watched_popularity(strong) > watched_popularity(none) + 0.5


def test_choices_follow_exp_utility_exactly(catalogue):
    """One user's draws match softmax(utility) over the catalogue."""
    config = load_config()
    rng = np.random.default_rng(5)
    tastes = draw_tastes(3, catalogue.genre_count, config, rng)
    sampler = ChoiceSampler(catalogue, config, tastes.bias_level)
    cumulative = np.cumsum(sampler.component_weights(tastes), axis=1)
    levels = sampler.level_rows(tastes.bias_level)
    draws = 400_000
    for user in range(3):
        titles = sampler.draw(np.full(draws, user), cumulative, levels, rng)
        observed = np.bincount(titles, minlength=catalogue.size) / draws
        utility = user_title_utility(
            tastes.affinities[user], tastes.popularity_bias[user], catalogue, config
        )
        expected = np.exp(utility - utility.max())
        expected /= expected.sum()
        assert np.abs(observed - expected).max() < 0.004
        assert np.abs(observed - expected).sum() < 0.05


def test_sampler_skips_components_of_zero_weight(catalogue):
    config = load_config()
    affinities = np.zeros((1, catalogue.genre_count))
    western = catalogue.genre_ids.index("western")  # a genre without titles
    affinities[0, western] = 1.0
    tastes = Tastes(affinities=affinities, bias_level=np.array([20]))
    sampler = ChoiceSampler(catalogue, config, tastes.bias_level)
    cumulative = np.cumsum(sampler.component_weights(tastes), axis=1)
    titles = sampler.draw(
        np.zeros(10_000, dtype=np.int64), cumulative, sampler.level_rows(tastes.bias_level),
        np.random.default_rng(0),
    )  # fmt: skip
    assert titles.min() >= 0 and titles.max() < catalogue.size


def test_oracle_scores_are_the_utility(population, catalogue):
    tastes = population.user_tastes.iloc[:5]
    scores = oracle_scores(tastes, catalogue)
    assert scores.shape == (5, catalogue.size)
    direct = user_title_utility(
        np.stack(tastes["genre_affinities"]),
        tastes["popularity_bias"].to_numpy(),
        catalogue,
    )
    assert np.array_equal(scores, direct)
    top = oracle_top_n(tastes, catalogue, n=3, chunk_users=2)
    assert top.shape == (15, 4)
    first = top[top["user_id"] == tastes["user_id"].iloc[0]]
    assert first["title_id"].iloc[0] == catalogue.title_ids[scores[0].argmax()]
    assert first["score"].is_monotonic_decreasing


def test_users_watch_what_the_oracle_ranks_high(population, catalogue):
    tastes = population.user_tastes
    scores = oracle_scores(tastes, catalogue)
    index = {t: i for i, t in enumerate(catalogue.title_ids)}
    rows = population.sessions["user_id"].to_numpy() - 1
    titles = population.sessions["title_id"].astype(str).map(index).to_numpy()
    # percentile of each watched title in its user's oracle ranking
    ranks = (scores[rows] < scores[rows, titles][:, None]).mean(axis=1)
    assert ranks.mean() > 0.8


# -- sessions ------------------------------------------------------------------------
def runs_of(sessions: pd.DataFrame, max_gap_minutes: float) -> pd.Series:
    """Lengths of runs: same user, same title, each starting within the gap of the last end."""
    new_run = ~(
        sessions["user_id"].eq(sessions["user_id"].shift())
        & sessions["title_id"].astype(str).eq(sessions["title_id"].astype(str).shift())
        & (
            sessions["started_at"] - sessions["ended_at"].shift()
            <= pd.Timedelta(minutes=max_gap_minutes)
        )
    )
    return new_run.cumsum().value_counts()


def test_shows_are_binged_and_movies_watched_once(population, catalogue):
    sessions = population.sessions
    shows = sessions["title_id"].astype(str).str.startswith("ts")
    runs = runs_of(sessions[shows], 10)
    assert runs.max() > 5 and runs.mean() > 2
    movie_pairs = sessions.loc[~shows, ["user_id", "title_id"]]
    assert not movie_pairs.duplicated().any()


def test_binge_knob(catalogue):
    # Diffuse tastes: with peaked ones a user often picks the same show again right
    # after a run, and runs_of cannot tell two back-to-back runs from one.
    diffuse = {"tastes.dirichlet_alpha": 1.0, "tastes.taste_floor": 0.1}
    binge = generate(catalogue, **diffuse, **{"binge.mean_episodes": 6, "binge.max_episodes": 30})
    single = generate(catalogue, **diffuse, **{"binge.mean_episodes": 1})

    def show_runs(p):
        s = p.sessions
        return runs_of(s[s["title_id"].astype(str).str.startswith("ts")], 10)

    assert show_runs(binge).mean() > 4
    assert show_runs(single).mean() < 1.1
    assert show_runs(binge).max() <= 30


def test_session_count_knobs(catalogue):
    config = load_config()
    base = generate(catalogue, users=4000, **{"churn.share": 0})
    per_user = base.sessions.groupby("user_id").size().reindex(base.users["user_id"], fill_value=0)
    dropped = 0.02  # a few sessions would end after the period and are dropped
    assert per_user.mean() == pytest.approx(config.sessions.mean, rel=0.05 + dropped)
    poisson = generate(catalogue, users=4000, **{"churn.share": 0, "sessions.dispersion": 0})
    per_user_p = poisson.sessions.groupby("user_id").size()
    assert per_user.var() > 3 * per_user_p.var()
    more = generate(catalogue, users=1000, **{"sessions.mean": 30})
    assert len(more.sessions) > 2.5 * len(generate(catalogue, users=1000).sessions)


def test_completion_follows_runtime(population, catalogue):
    sessions = population.sessions
    assert sessions["completion_ratio"].between(0, 1).all()
    assert (sessions["minutes_watched"] >= 0).all()
    watched = (sessions["ended_at"] - sessions["started_at"]).dt.total_seconds() / 60
    assert np.allclose(watched, sessions["minutes_watched"])
    runtime = dict(zip(catalogue.title_ids, catalogue.runtime_minutes, strict=True))
    minutes = sessions["title_id"].astype(str).map(runtime)
    done = sessions["completion_ratio"] == 1
    assert np.allclose(sessions.loc[done, "minutes_watched"], minutes[done])
    assert done[minutes > 120].mean() < done[minutes < 45].mean()


def test_completion_knobs(catalogue):
    always = generate(
        catalogue, users=300, **{"completion.full_share": 1, "completion.halving_minutes": 1e5}
    )
    # finishing has probability 0.5 ** (runtime / 1e5): above 99.5% for runtimes under 12 hours
    assert (always.sessions["completion_ratio"] == 1).mean() > 0.99
    never = generate(catalogue, users=300, **{"completion.full_share": 0})
    assert (never.sessions["completion_ratio"] < 1).mean() > 0.95
    assert never.sessions["completion_ratio"].mean() == pytest.approx(0.45, abs=0.03)


# -- ratings -------------------------------------------------------------------------
def test_ratings(population):
    ratings = population.ratings
    sessions = population.sessions.set_index("session_id")
    assert ratings["rating"].between(1, 5).all()
    assert set(ratings["rating"]) == {1, 2, 3, 4, 5}
    assert len(ratings) / len(sessions) == pytest.approx(0.2, abs=0.02)
    assert ratings["session_id"].is_unique
    assert ratings["rated_at"].equals(
        sessions.loc[ratings["session_id"], "ended_at"].reset_index(drop=True)
    )


def rating_utility_correlation(population, catalogue) -> float:
    index = {t: i for i, t in enumerate(catalogue.title_ids)}
    rated = population.ratings.merge(population.sessions, on="session_id")
    scores = oracle_scores(population.user_tastes, catalogue)
    users = rated["user_id"].to_numpy() - 1
    titles = rated["title_id"].astype(str).map(index).to_numpy()
    return float(np.corrcoef(rated["rating"], scores[users, titles])[0, 1])


def test_ratings_follow_utility(catalogue):
    steep = generate(catalogue, **{"ratings.utility_slope": 1.5, "ratings.share": 0.5})
    flat = generate(catalogue, **{"ratings.utility_slope": 0, "ratings.share": 0.5})
    assert rating_utility_correlation(steep, catalogue) > 0.6
    assert abs(rating_utility_correlation(flat, catalogue)) < 0.05
    none = generate(catalogue, users=200, **{"ratings.share": 0})
    assert none.ratings.empty


# -- period ------------------------------------------------------------------------
def test_period_knob(catalogue):
    population = generate(
        catalogue, users=500, **{"period.start": pd.Timestamp("2030-03-01").date(),
                                 "period.end": pd.Timestamp("2030-03-08").date()}
    )  # fmt: skip
    start = epoch_seconds(pd.Timestamp("2030-03-01").date())
    assert (population.sessions["started_at"].astype("int64") // 10**6 >= start).all()
    assert population.sessions["ended_at"].max() <= pd.Timestamp("2030-03-08", tz="UTC")


def test_streams_are_independent_per_phase():
    a, b = _streams(1, 1), _streams(1, 1)
    assert a["runs"].random() == b["runs"].random()
    assert a["runs"].random() != a["users"].random()


def test_chunks_join_into_one_consistent_population(catalogue, monkeypatch):
    import simulation.engine as engine

    monkeypatch.setattr(engine, "CHUNK_USERS", 700)
    chunked = generate_population(2000, 4, catalogue, first_user_id=10, first_session_id=100)
    again = generate_population(2000, 4, catalogue, first_user_id=10, first_session_id=100)
    for name, frame in chunked.frames().items():
        pd.testing.assert_frame_equal(frame, again.frames()[name])
    assert chunked.users["user_id"].tolist() == list(range(10, 2010))
    sessions = chunked.sessions
    assert sessions["session_id"].tolist() == list(range(100, 100 + len(sessions)))
    assert sessions["user_id"].is_monotonic_increasing
    assert set(chunked.ratings["session_id"]) <= set(sessions["session_id"])
    # each chunk has streams of its own: chunks are not copies of each other
    tastes = np.stack(chunked.user_tastes["genre_affinities"])
    assert not np.array_equal(tastes[:700], tastes[700:1400])


def test_a_warehouse_without_marts_is_a_clear_error():
    import python_api
    from simulation import read_catalogue

    class Unbuilt:
        def read(self, query, params=None):
            raise python_api.ValidationError('relation "marts.dim_titles" does not exist')

    with pytest.raises(SimulationError, match="recdb build"):
        read_catalogue(Unbuilt())


def test_titles_retired_before_the_period_are_off_the_service_all_along():
    titles = pd.DataFrame({"title_id": ["tm1", "tm2", "tm3"], "title_type": "movie"})
    retired = pd.DataFrame(
        {
            "title_id": ["tm1", "tm2"],
            "retired_at": pd.to_datetime(["2023-12-31 23:00", "2024-03-01 00:00"], utc=True),
        }
    )
    kept = without_retired(titles, retired, dt.date(2024, 1, 1))
    assert kept.title_id.to_list() == ["tm2", "tm3"]  # tm2 leaves within the period
    assert without_retired(titles, retired.iloc[:0], dt.date(2024, 1, 1)).equals(titles)
