"""The recommender without a database: config, confidence, top-k, metrics, model, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recdb.core.errors import RecdbError
from recdb.core.runs import check_run_id
from recommender import (
    EmptyMartsError,
    ModelNotFoundError,
    RecommenderConfigError,
    UnknownTitleError,
    UnknownUserError,
    aggregate,
    confidence,
    latest_run_id,
    load_config,
    load_model,
    ranking_metrics,
    train,
)
from recommender.data import (
    FACETS,
    Dataset,
    Sessions,
    TitleFeatures,
    Titles,
    feedback,
    title_features,
)
from recommender.errors import RecommenderError
from recommender.evaluate import K, evaluate_dataset, write_outputs
from recommender.holdout import SplitError, split_sessions
from recommender.model import cold_start_list, new_run_id, top_k
from recommender.models import MODELS
from recommender.pipeline import recommendation_frame
from simulation import catalogue_from_frames, generate_population
from simulation import load_config as load_simulation_config

GENRES = ["action", "comedy", "crime", "documentation", "drama", "horror", "romance", "scifi"]


# -- config ---------------------------------------------------------------------
def test_default_config_loads_and_is_documented():
    config = load_config()
    assert config.als.factors >= 1 and config.confidence.alpha > 0
    assert config.source == "defaults"
    assert load_config(overrides={"als.factors": 8}).als.factors == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[als]\nfactors = 0\n", "als.factors: 0 is out of range (allowed: a whole number >= 1"),
        ("[als]\nfactors = 2.5\n", "als.factors: expected a whole number, got 2.5"),
        ("[als]\nregularization = -1\n", "als.regularization: -1 is out of range (allowed: a"),
        (
            "[evaluation]\nholdout_share = 0.95\n",
            "evaluation.holdout_share: 0.95 is out of range (allowed: a number > 0 and <= 0.9)",
        ),
        ("[confidence]\nminutes_scale = 0\n", "confidence.minutes_scale: 0 is out of range"),
        ("[confidence]\nalpha = true\n", "confidence.alpha: expected a number, got True"),
        ("[als]\nfactor = 3\n", "als.factor: unknown key (allowed: keys of [als]: factors"),
        ("[model]\nfactors = 3\n", "model: unknown section (allowed: recommend, confidence, als"),
        (
            '[recommend]\nmodel = "svd"\n',
            "recommend.model: unknown value 'svd' (allowed: 'als', 'bpr'",
        ),
        ("[als\n", "not valid TOML"),
    ],
)
def test_a_bad_config_names_the_key_and_the_allowed_range(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RecommenderConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, RecdbError)


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(RecommenderConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.toml")


# -- confidence -----------------------------------------------------------------
def sessions_arrays():
    # user 0 watched title 2 twice (rated 5 and 3) and title 0 once; user 1 title 2 once
    return dict(
        user=np.array([0, 1, 0, 0]),
        title=np.array([2, 2, 0, 2]),
        minutes=np.array([30.0, 10.0, 100.0, 90.0]),
        completion=np.array([0.5, 0.25, 1.0, 1.0]),
        rating=np.array([5.0, np.nan, np.nan, 3.0]),
    )


def test_aggregate_makes_one_pair_per_user_and_title():
    pairs = aggregate(**sessions_arrays(), user_count=2, title_count=3)
    assert pairs.user.tolist() == [0, 0, 1]
    assert pairs.title.tolist() == [0, 2, 2]
    assert pairs.sessions.tolist() == [1, 2, 1]
    assert pairs.minutes.tolist() == pytest.approx([100.0, 120.0, 10.0])
    assert pairs.completion.tolist() == pytest.approx([1.0, 0.75, 0.25])
    assert np.isnan(pairs.rating[0]) and pairs.rating[1] == 4.0 and np.isnan(pairs.rating[2])
    dense = pairs.matrix().toarray()
    assert dense.tolist() == [[1, 0, 1], [0, 0, 1]]


def test_aggregate_does_not_depend_on_the_order_of_sessions():
    rng = np.random.default_rng(3)
    count = 20_000
    arrays = dict(
        user=rng.integers(0, 50, count),
        title=rng.integers(0, 40, count),
        minutes=rng.uniform(0, 200, count),
        completion=rng.uniform(0, 1, count),
        rating=np.where(rng.random(count) < 0.3, rng.integers(1, 6, count), np.nan),
    )
    first = aggregate(**arrays, user_count=50, title_count=40)
    order = rng.permutation(count)
    second = aggregate(**{k: v[order] for k, v in arrays.items()}, user_count=50, title_count=40)
    for name in ("user", "title", "sessions", "minutes", "completion"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert np.array_equal(first.rating, second.rating, equal_nan=True)


def test_confidence_follows_the_documented_formula():
    pairs = aggregate(**sessions_arrays(), user_count=2, title_count=3)
    config = load_config(
        overrides={
            "confidence.alpha": 2.0,
            "confidence.minutes_weight": 0.5,
            "confidence.minutes_scale": 60.0,
            "confidence.completion_weight": 0.25,
            "confidence.rating_weight": 1.0,
            "confidence.floor": 0.1,
        }
    ).confidence
    got = confidence(pairs, config)
    strength = [
        1 + 0.5 * np.log1p(100 / 60) + 0.25 * 1.0,
        1 + 0.5 * np.log1p(120 / 60) + 0.25 * 0.75 + 1.0 * (4 - 3) / 2,
        1 + 0.5 * np.log1p(10 / 60) + 0.25 * 0.25,
    ]
    assert got.tolist() == pytest.approx([1 + 2 * s for s in strength], rel=1e-6)
    assert got.dtype == np.float32


def test_a_one_star_rating_lowers_confidence_down_to_the_floor():
    arrays = dict(
        user=np.array([0, 1]),
        title=np.array([0, 0]),
        minutes=np.array([0.0, 0.0]),
        completion=np.array([0.0, 0.0]),
        rating=np.array([1.0, 5.0]),
    )
    pairs = aggregate(**arrays, user_count=2, title_count=1)
    config = load_config(
        overrides={"confidence.rating_weight": 5.0, "confidence.floor": 0.2, "confidence.alpha": 1}
    ).confidence
    low, high = confidence(pairs, config)
    assert low == pytest.approx(1.2) and high == pytest.approx(1 + 1 + 5)


# -- top-k ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("users", "titles", "factors", "watched"),
    [(3000, 1500, 16, 12), (500, 40, 4, 8), (200, 25, 3, 60), (1000, 700, 8, 0)],
)
def test_top_k_gives_implicits_lists(users, titles, factors, watched):
    from implicit.cpu.topk import topk

    rng = np.random.default_rng(users + titles)
    items = rng.standard_normal((titles, factors), dtype=np.float32)
    vectors = rng.standard_normal((users, factors), dtype=np.float32)
    seen = sp.csr_matrix(
        (
            np.ones(users * watched, dtype=np.float32),
            rng.integers(0, titles, users * watched),
            np.arange(users + 1) * watched,
        ),
        shape=(users, titles),
    )
    seen.sum_duplicates()
    expected_ids, expected_scores = topk(items, vectors, 10, filter_query_items=seen)
    ids, scores = top_k(vectors, items, seen, 10, block_users=256)
    finite = expected_scores > -1e30  # implicit pads with -FLT_MAX (and a seen title)
    assert np.array_equal(np.where(finite, ids, -1), np.where(finite, expected_ids, -1))
    assert np.allclose(scores[finite], expected_scores[finite])
    assert (ids[~finite] == -1).all()
    watched_ids = [set(seen[row].indices) for row in range(users)]
    assert all(not (set(ids[row]) & watched_ids[row]) for row in range(users))


def test_top_k_pads_users_who_have_seen_almost_everything_and_breaks_ties_by_title():
    items = np.ones((6, 1), dtype=np.float32)  # every title scores the same
    vectors = np.ones((2, 1), dtype=np.float32)
    seen = sp.csr_matrix(np.array([[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32))
    ids, scores = top_k(vectors, items, seen, 3)
    assert ids.tolist() == [[4, 5, -1], [0, 1, 2]]
    assert np.isneginf(scores[0, 2])


# -- metrics ----------------------------------------------------------------------
def test_ranking_metrics_on_a_hand_computed_example():
    top = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19, -1]])
    relevant = [np.array([1, 3, 30]), np.array([19])]
    got = ranking_metrics(top, relevant, title_count=40)
    assert got["precision@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    ap_first = (1 / 1 + 2 / 3) / 3
    ap_second = (1 / 9) / 1
    assert got["map@10"] == pytest.approx((ap_first + ap_second) / 2)
    discount = 1 / np.log2(np.arange(2, 12))
    ndcg_first = (discount[0] + discount[2]) / discount[:3].sum()
    ndcg_second = discount[8] / discount[0]
    assert got["ndcg@10"] == pytest.approx((ndcg_first + ndcg_second) / 2)
    assert got["coverage"] == pytest.approx(19 / 40)


def test_a_perfect_list_scores_one():
    top = np.arange(10)[None, :]
    got = ranking_metrics(top, [np.arange(10)], title_count=10)
    assert got == pytest.approx(
        {"precision@10": 1.0, "recall@10": 1.0, "map@10": 1.0, "ndcg@10": 1.0, "coverage": 1.0}
    )


# -- cold start and frames --------------------------------------------------------
def test_cold_start_puts_best_of_lists_first_then_popularity():
    viewers = np.array([50, 10, 40, 5, 0, 30])
    all_time = np.array([False, True, False, True, False, False])
    year = np.array([False, False, False, False, True, True])
    cold = cold_start_list(viewers, all_time, year, 5)
    assert cold.titles.tolist() == [1, 3, 5, 4, 0]
    assert np.all(np.diff(cold.scores) <= 0)


def test_recommendation_frame_has_the_landing_columns_and_drops_padding():
    ids = np.array([[2, 0], [1, -1]])
    frame = recommendation_frame(
        "r1",
        np.array([7, 8]),
        np.array(["a", "b", "c"], dtype=object),
        ids,
        np.array([[0.9, 0.5], [0.3, -np.inf]]),
        is_cold_start=False,
    )
    assert list(frame.columns) == [
        "run_id", "user_id", "title_id", "rank", "score", "is_cold_start"
    ]  # fmt: skip
    assert frame["title_id"].tolist() == ["c", "a", "b"]
    assert frame["rank"].tolist() == [1, 2, 1]
    assert frame["user_id"].tolist() == [7, 7, 8]


def test_run_ids_follow_the_landing_pattern():
    assert check_run_id(new_run_id()).startswith("als-")
    for bad in ("", "a b", "x" * 65, "drop;table"):
        with pytest.raises(RecommenderError, match="run id"):
            check_run_id(bad)


# -- training and artefacts -------------------------------------------------------
def small_dataset(users: int = 600, titles: int = 120, seed: int = 0) -> Dataset:
    """Users who each watch titles of one of four blocks: structure ALS can find."""
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 4, users)
    per_user = 8
    user_id = np.repeat(np.arange(1, users + 1), per_user)
    title = np.repeat(block, per_user) * (titles // 4) + rng.integers(
        0, titles // 4, users * per_user
    )
    count = len(user_id)
    sessions = Sessions(
        user_id=user_id.astype(np.int64),
        title=title.astype(np.int32),
        minutes=rng.uniform(5, 120, count),
        completion=rng.uniform(0, 1, count),
        rating=np.where(rng.random(count) < 0.2, rng.integers(1, 6, count), np.nan).astype(float),
        started_at=(
            np.datetime64("2023-01-01T00:00:00", "us")
            + rng.integers(0, 365 * 86400, count).astype("timedelta64[s]")
        ),
    )
    ids = np.array([f"tm{100 + i}" for i in range(titles)], dtype=object)
    flags = np.zeros(titles, dtype=bool)
    flags[:3] = True
    return Dataset(
        Titles(ids, flags, np.roll(flags, 5), features_of(np.arange(titles) // (titles // 4))),
        np.arange(1, users + 11, dtype=np.int64),  # 10 users without sessions
        sessions,
    )


def features_of(genre: np.ndarray, genre_count: int | None = None) -> TitleFeatures:
    """Title features where title ``i`` has genre ``genre[i]`` (one per title) and nothing
    else sets titles apart."""
    count = len(genre)
    titles = pd.DataFrame(
        {
            "title_type": ["movie"] * count,
            "release_year": [2000] * count,
            "imdb_score": [7.0] * count,
            "imdb_vote_count": [1000] * count,
        }
    )
    facets = {
        "genres": pd.DataFrame({"title_index": np.arange(count), "facet": genre}),
        "countries": pd.DataFrame({"title_index": np.arange(count), "facet": ["US"] * count}),
    }
    return title_features(titles, facets)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECDB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_training_is_deterministic_for_a_seed_and_recommends_unseen_titles():
    dataset = small_dataset()
    config = load_config(
        overrides={"als.factors": 8, "als.iterations": 5, "als.regularization": 0.1}
    )
    first = train(dataset, config, model="als")
    second = train(dataset, config, model="als")
    assert np.array_equal(first.ranker.item_factors, second.ranker.item_factors)
    ids_a, scores_a = first.recommend_rows(np.arange(len(first.user_ids)), 10)
    ids_b, scores_b = second.recommend_rows(np.arange(len(second.user_ids)), 10)
    assert np.array_equal(ids_a, ids_b) and np.array_equal(scores_a, scores_b)
    other = train(dataset, config.with_overrides({"als.seed": 1}), model="als")
    assert not np.array_equal(first.ranker.item_factors, other.ranker.item_factors)
    for row in range(0, len(first.user_ids), 50):
        assert not set(ids_a[row]) & set(first.seen[row].indices)
    # users watch one block of titles: ALS recommends from the same block
    blocks = np.array(
        [np.bincount(first.seen[r].indices // 30, minlength=4).argmax() for r in range(100)]
    )
    assert (ids_a[:100, 0] // 30 == blocks).mean() > 0.9


def test_a_model_saves_and_loads_under_its_run_id(home):
    dataset = small_dataset()
    model = train(
        dataset, load_config(overrides={"als.factors": 8, "als.iterations": 3}), model="als"
    )
    model.run_id = "unit-run"
    model.info["created_at"] = "2024-01-01T00:00:00+00:00"
    folder = model.save()
    assert folder == home / "models" / "unit-run"
    loaded = load_model("unit-run")
    assert latest_run_id() == "unit-run"
    assert loaded.model_name == "als"
    assert np.array_equal(loaded.ranker.user_factors, model.ranker.user_factors)
    assert np.array_equal(loaded.seen.toarray(), model.seen.toarray())
    assert loaded.config == model.config
    pd.testing.assert_frame_equal(loaded.recommend(5), model.recommend(5))
    cold = loaded.recommend(605, known_user=True)
    assert cold["is_cold_start"].all() and len(cold) == 10
    with pytest.raises(UnknownUserError, match="unknown user 605"):
        loaded.recommend(605)


def test_similar_titles_come_from_the_item_factors(home):
    config = load_config(overrides={"als.factors": 8, "als.regularization": 0.1})
    model = train(small_dataset(), config, model="als")
    similar = model.similar_titles("tm100", 5)
    assert "tm100" not in similar["title_id"].tolist()
    assert similar["rank"].tolist() == [1, 2, 3, 4, 5]
    assert np.all(np.diff(similar["similarity"]) <= 0)
    # tm100 is in the first block (titles 0-29): its neighbours are too
    assert all(100 <= int(t[2:]) < 130 for t in similar["title_id"])
    with pytest.raises(UnknownTitleError, match="unknown title 'tm9'"):
        model.similar_titles("tm9")


def test_missing_runs_are_errors_a_user_can_act_on(home):
    with pytest.raises(ModelNotFoundError, match="run `recdb recommend` first"):
        load_model()
    with pytest.raises(ModelNotFoundError, match="no saved model for run 'nope'"):
        load_model("nope")


# -- evaluation -------------------------------------------------------------------
def test_the_split_holds_out_the_latest_sessions():
    dataset = small_dataset()
    train_mask, cutoff = split_sessions(dataset.sessions, 0.25)
    assert train_mask.mean() == pytest.approx(0.75, abs=0.01)
    assert (dataset.sessions.started_at[train_mask] < cutoff).all()
    assert (dataset.sessions.started_at[~train_mask] >= cutoff).all()


def test_an_evaluation_without_sessions_to_split_is_an_empty_marts_error():
    dataset = small_dataset(users=20)
    none = dataset.sessions.subset(np.zeros(dataset.sessions.size, dtype=bool))
    with pytest.raises(EmptyMartsError, match="run `recdb simulate` and `recdb build` first"):
        evaluate_dataset(Dataset(dataset.titles, dataset.user_ids, none), load_config())
    at_once = Sessions(
        *(getattr(dataset.sessions, f) for f in ("user_id", "title", "minutes")),
        dataset.sessions.completion,
        dataset.sessions.rating,
        np.full(dataset.sessions.size, np.datetime64("2023-05-01T00:00:00", "us")),
    )
    with pytest.raises(SplitError) as caught:
        evaluate_dataset(Dataset(dataset.titles, dataset.user_ids, at_once), load_config())
    assert str(caught.value).startswith(
        "evaluation.holdout_share = 0.2 leaves nothing to train on (160 sessions)"
    )
    assert "(allowed: > 0 and <= 0.9)" in str(caught.value)


def test_a_split_that_leaves_no_test_users_names_the_option():
    dataset = small_dataset(users=20)
    # every title of the test period was watched by its user before
    sessions = dataset.sessions
    late = sessions.started_at >= np.sort(sessions.started_at)[int(sessions.size * 0.8)]
    repeats = Sessions(
        sessions.user_id,
        sessions.title,
        sessions.minutes,
        sessions.completion,
        sessions.rating,
        sessions.started_at,
    )
    early = repeats.subset(~late)
    again = early.subset(np.arange(early.size) < sessions.size - early.size)
    shifted = Sessions(
        again.user_id,
        again.title,
        again.minutes,
        again.completion,
        again.rating,
        again.started_at + np.timedelta64(400, "D"),
    )
    both = Sessions(
        *(
            np.concatenate([getattr(early, f), getattr(shifted, f)])
            for f in ("user_id", "title", "minutes", "completion", "rating", "started_at")
        )
    )
    with pytest.raises(SplitError, match="leaves no test users") as caught:
        evaluate_dataset(Dataset(dataset.titles, dataset.user_ids, both), load_config())
    assert "evaluation.holdout_share = 0.2" in str(caught.value)


def simulated_dataset(users: int, overrides: dict) -> tuple[Dataset, object]:
    """A population from the simulation on a synthetic catalogue, as the marts would hold it."""
    rng = np.random.default_rng(5)
    count = 400
    ids = [f"{'ts' if i % 4 == 0 else 'tm'}{1000 + i}" for i in range(count)]
    titles = pd.DataFrame(
        {
            "title_id": ids,
            "title_type": ["show" if i.startswith("ts") else "movie" for i in ids],
            "runtime_minutes": rng.integers(25, 150, count),
            "imdb_score": np.round(rng.uniform(4, 9, count), 1),
            "imdb_vote_count": np.floor(np.exp(rng.normal(8, 2, count))).astype(np.int64),
        }
    )
    bridge = pd.DataFrame(
        [(t, GENRES[g]) for t in ids for g in rng.choice(len(GENRES), 2, replace=False)],
        columns=["title_id", "genre_id"],
    )
    catalogue = catalogue_from_frames(titles, bridge, pd.DataFrame({"genre_id": GENRES}))
    config = load_simulation_config(overrides=overrides)
    population = generate_population(users, 3, catalogue, config)
    sessions = population.sessions.merge(population.ratings, on="session_id", how="left")
    order = np.argsort(catalogue.title_ids.astype(str))
    title_ids = catalogue.title_ids[order]
    best = np.zeros(count, dtype=bool)
    best[:20] = True
    ordered = titles.set_index("title_id").loc[title_ids].reset_index()
    ordered["release_year"] = 2000
    facets = {
        "genres": pd.DataFrame(
            {
                "title_index": pd.Index(title_ids).get_indexer(bridge["title_id"]),
                "facet": bridge["genre_id"],
            }
        ),
        "countries": pd.DataFrame({"title_index": np.arange(count), "facet": ["US"] * count}),
    }
    dataset = Dataset(
        Titles(title_ids, best, np.zeros(count, dtype=bool), title_features(ordered, facets)),
        np.sort(population.users["user_id"].to_numpy()),
        Sessions(
            user_id=sessions["user_id"].to_numpy(np.int64),
            title=pd.Index(title_ids).get_indexer(sessions["title_id"]).astype(np.int32),
            minutes=sessions["minutes_watched"].to_numpy(float),
            completion=sessions["completion_ratio"].to_numpy(float),
            rating=sessions["rating"].to_numpy(float, na_value=np.nan),
            started_at=sessions["started_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        ),
    )
    tastes = population.user_tastes.set_index("user_id")
    from simulation import oracle_scores

    position = pd.Index(catalogue.title_ids).get_indexer(title_ids)

    def oracle(user_ids, seen):
        scores = oracle_scores(tastes.loc[user_ids].reset_index(), catalogue, config)[:, position]
        rows, cols = seen.nonzero()
        scores[rows, cols] = -np.inf
        return np.argsort(-scores, axis=1, kind="stable")[:, :K]

    return dataset, oracle


STRONG_TASTES = {
    "tastes.dirichlet_alpha": 0.1,
    "tastes.taste_floor": 0.02,
    "popularity.bias_mean": 0.2,
    "sessions.mean": 30.0,
}


def test_the_family_beats_popularity_where_tastes_are_strong(tmp_path):
    dataset, oracle = simulated_dataset(3000, STRONG_TASTES)
    evaluation = evaluate_dataset(dataset, load_config(), oracle=oracle)
    models = evaluation.models
    assert set(models) == {*MODELS, "popularity", "best_of", "oracle"}
    for name in ("als", "ease", "content", "hybrid"):
        assert models[name]["ndcg@10"] > 1.5 * models["popularity"]["ndcg@10"], name
        assert models["oracle"]["ndcg@10"] > models[name]["ndcg@10"], name
        assert models[name]["coverage"] > models["popularity"]["coverage"], name
    default = models[evaluation.default_model]
    low, high = default["ndcg@10_ci"]
    assert low < default["ndcg@10"] < high
    assert default["vs_popularity"]["ci"][0] < default["vs_popularity"]["value"]
    assert default["vs_oracle"]["value"] < 1
    segments = default["segments"]
    assert sum(s["users"] for s in segments.values()) == evaluation.holdout["test_users_evaluated"]
    assert segments["none"]["users"] == evaluation.holdout["cold_start_test_users"] > 0
    with_history = default["with_history"]
    assert (
        with_history["users"]
        == sum(s["users"] for s in segments.values()) - (segments["none"]["users"])
    )
    # nothing is known of users without history, while the oracle knows their tastes
    assert with_history["vs_oracle"] > default["vs_oracle"]["value"]
    assert models["popularity"]["popularity_rank"] < default["popularity_rank"]
    json_path, png_path = write_outputs(evaluation, tmp_path / "out")
    import json

    stored = json.loads(json_path.read_text())
    assert {"precision@10", "recall@10", "map@10", "ndcg@10", "coverage"} <= set(
        stored["models"]["hybrid"]
    )
    assert stored["models"]["hybrid"]["params"]["hybrid"]["collaborative"] == "item_knn"
    assert set(stored["models"]["hybrid"]["params"]) == {"hybrid", "content", "item_knn"}
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    assert "content*" in evaluation.table() and "oracle" in evaluation.table()


def test_feedback_rows_are_the_users_with_sessions():
    dataset = small_dataset(users=30)
    data = feedback(dataset.sessions, dataset.titles.size)
    assert data.user_ids.tolist() == list(range(1, 31))
    assert data.viewers.sum() == data.interactions.size


def test_the_command_line_offers_every_model_of_the_family():
    from recdb.cli.science import MODEL_NAMES

    assert tuple(MODELS) == MODEL_NAMES
    from typing import get_args

    from recommender.config import RecommendConfig

    assert get_args(RecommendConfig.model_fields["model"].annotation) == tuple(MODELS)


@pytest.mark.parametrize("name", ["bpr", "item_knn", "ease", "content", "hybrid"])
def test_each_model_saves_loads_and_ranks_the_same(home, name):
    dataset = small_dataset()
    model = train(dataset, load_config(overrides={"bpr.iterations": 20}), model=name)
    model.run_id = f"unit-{name}"
    model.save()
    loaded = load_model(f"unit-{name}")
    assert loaded.model_name == name
    rows = np.arange(len(model.user_ids))
    assert np.array_equal(loaded.recommend_rows(rows, 10)[0], model.recommend_rows(rows, 10)[0])
    pd.testing.assert_frame_equal(
        loaded.recommend(605, known_user=True), model.recommend(605, known_user=True)
    )
    ids, _ = model.recommend_rows(rows, 5)
    for row in range(0, len(rows), 50):
        assert not set(ids[row]) & set(model.seen[row].indices)
    # users watch one block of titles: every model recommends from the same block
    blocks = np.array(
        [np.bincount(model.seen[r].indices // 30, minlength=4).argmax() for r in range(100)]
    )
    assert (ids[:100, 0] // 30 == blocks).mean() > 0.8, name
    similar = loaded.similar_titles("tm100", 3)
    assert len(similar) == 3 and "tm100" not in similar["title_id"].tolist()


# -- tuning (issue 13) -------------------------------------------------------------
def test_tuning_never_looks_at_the_test_period_and_is_deterministic(tmp_path):
    from recommender.tune import tune_dataset, validation_split, write_outputs

    dataset, _ = simulated_dataset(1500, STRONG_TASTES)
    config = load_config()
    split = validation_split(dataset, config)
    _, test_cutoff = split_sessions(dataset.sessions, config.evaluation.holdout_share)
    assert split.cutoff < test_cutoff
    learned = split.training.feedback.interactions.sessions.sum()
    assert learned == split.train_sessions == (dataset.sessions.started_at < split.cutoff).sum()
    first = tune_dataset(dataset, "content", 4, config)
    second = tune_dataset(dataset, "content", 4, config)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.ndcg for t in first.trials] == [t.ndcg for t in second.trials]
    assert first.trials[0].params == {
        f"content.{k}": v for k, v in config.to_dict()["content"].items()
    }
    assert first.best.ndcg == max(t.ndcg for t in first.trials)
    other = tune_dataset(dataset, "content", 4, config.with_overrides({"evaluation.seed": 8}))
    assert [t.params for t in other.trials][1:] != [t.params for t in first.trials][1:]
    toml_path, json_path = write_outputs(first, tmp_path)
    chosen = load_config(toml_path)
    assert chosen.recommend.model == "content"
    assert {f"content.{k}": v for k, v in chosen.to_dict()["content"].items()} == first.best.params
    assert json.loads(json_path.read_text())["chosen"] == first.best.params


def test_a_hybrid_tunes_its_own_knobs_only():
    from recommender.tune import draw_trials

    trials = draw_trials("hybrid", 5, load_config())
    assert all(
        set(t) == {"hybrid.collaborative", "hybrid.history_halfway", "hybrid.title_halfway"}
        for t in trials
    )


@pytest.mark.parametrize(
    ("model", "budget", "message"),
    [
        ("svd", 3, "unknown model 'svd' (allowed: als, bpr, item_knn, ease, content, hybrid)"),
        ("ease", 0, "--budget: 0 is not allowed (allowed: 1 to 1000)"),
    ],
)
def test_bad_tuning_requests_name_the_option(model, budget, message):
    from recommender.tune import tune_dataset

    with pytest.raises(RecommenderError) as caught:
        tune_dataset(small_dataset(users=50), model, budget, load_config())
    assert str(caught.value) == message


def test_the_recommender_exposure_lists_every_mart_the_recommender_reads():
    import re

    import yaml

    project = Path(__file__).resolve().parents[2]
    read = set()
    for module in (project / "recommender").rglob("*.py"):
        read |= set(re.findall(r"\bmarts\.(\w+)", module.read_text()))
    read |= {bridge for bridge, _ in FACETS.values()}  # marts.{bridge}
    exposures = yaml.safe_load((project / "models/marts/_marts__exposures.yml").read_text())
    recommender_exposure = next(e for e in exposures["exposures"] if e["name"] == "recommender")
    refs = {
        re.fullmatch(r"ref\('(\w+)'\)", d).group(1)
        for d in recommender_exposure["depends_on"]
        if d.startswith("ref(")
    }
    assert read - {"cold_start_titles"} <= refs, read - refs


def test_without_an_oracle_its_figures_are_null_and_the_table_says_so(tmp_path):
    evaluation = evaluate_dataset(small_dataset(), load_config(), model_names=["content"])
    oracle = evaluation.models["oracle"]
    assert oracle["ndcg@10"] is None and oracle["with_history"]["ndcg@10"] is None
    assert all(part["ndcg@10"] is None for part in oracle["segments"].values())
    assert [p["users"] for p in oracle["segments"].values()] == [
        p["users"] for p in evaluation.models["content"]["segments"].values()
    ]
    assert evaluation.models["content"]["vs_oracle"] is None
    assert evaluation.models["content"]["with_history"]["vs_oracle"] is None
    table = evaluation.table()
    assert "oracle" in table and "n/a" in table
    json_path, png_path = write_outputs(evaluation, tmp_path)
    assert json.loads(json_path.read_text())["models"]["oracle"]["coverage"] is None
    assert png_path.stat().st_size > 0


def test_rows_are_standardised_like_numpy_and_a_flat_row_is_zeros():
    from recommender.models.base import standardised_rows

    scores = np.random.default_rng(0).random((5, 100)).astype(np.float32)
    expected = (scores - scores.mean(axis=1, keepdims=True)) / scores.std(axis=1, keepdims=True)
    assert np.allclose(standardised_rows(scores.copy()), expected, atol=1e-5)
    assert not standardised_rows(np.ones((2, 3), dtype=np.float32)).any()


def test_an_evaluation_holds_one_model_at_a_time_and_none_while_the_oracle_ranks(monkeypatch):
    """Memory stays what one model needs: each model is released before the next is fitted,
    and the models and their training matrices before the oracle ranks (its scores are the
    biggest temporaries of the command)."""
    import gc
    import weakref

    from recommender.pipeline import Prepared

    held: dict[int, weakref.ref] = {}  # the models fitted and the matrices they came from
    alive_at_fit: list[int] = []
    alive_at_oracle: list[int] = []
    original_fit = Prepared.fit

    def alive() -> int:
        gc.collect()
        return sum(ref() is not None for ref in held.values())

    def fit(self, *args, **kwargs):
        alive_at_fit.append(alive())
        model = original_fit(self, *args, **kwargs)
        held[id(model)] = weakref.ref(model)
        held[id(self)] = weakref.ref(self)
        return model

    def oracle(user_ids, seen):
        alive_at_oracle.append(alive())
        return None

    monkeypatch.setattr(Prepared, "fit", fit)
    evaluation = evaluate_dataset(
        small_dataset(), load_config(), oracle=oracle, model_names=["als", "content", "ease"]
    )
    assert evaluation.models["ease"]["ndcg@10"] is not None
    assert alive_at_fit == [0, 1, 1]  # only the prepared matrices, never an earlier model
    assert alive_at_oracle == [0]


# -- ALS trainers ---------------------------------------------------------------
def test_the_command_line_offers_every_als_trainer():
    from typing import get_args

    from recdb.cli.science import TRAINER_NAMES
    from recommender.models.factors import TRAINERS, AlsConfig

    assert TRAINER_NAMES == TRAINERS == get_args(AlsConfig.model_fields["trainer"].annotation)
    assert AlsConfig.model_fields["trainer"].default == "implicit"


def test_a_saved_config_without_a_trainer_loads_as_implicit():
    saved = load_config().to_dict()
    del saved["als"]["trainer"]  # a run saved before the key existed
    assert load_config(overrides=saved).als.trainer == "implicit"


def test_evaluating_with_implicit_named_is_the_default_evaluation():
    config = load_config(
        overrides={"als.factors": 8, "als.iterations": 3, "evaluation.bootstrap_samples": 20}
    )
    names = ["als", "content"]
    default = evaluate_dataset(small_dataset(), config, model_names=names)
    named = evaluate_dataset(small_dataset(), config, model_names=names, trainers=["implicit"])
    assert (
        list(named.models)
        == list(default.models)
        == [
            "als",
            "content",
            "popularity",
            "best_of",
            "oracle",
        ]
    )
    for name in names:
        assert named.models[name]["ndcg@10"] == default.models[name]["ndcg@10"]
    assert named.models["als"]["params"]["als"]["trainer"] == "implicit"


def test_trainers_without_a_model_that_fits_als_are_an_error():
    with pytest.raises(RecommenderError, match="none of the models evaluated"):
        evaluate_dataset(
            small_dataset(), load_config(), model_names=["content"], trainers=["spark"]
        )


def test_the_table_widens_for_rows_named_by_their_trainer():
    from recommender.evaluate import Evaluation

    config = load_config(overrides={"evaluation.bootstrap_samples": 0})
    evaluation = evaluate_dataset(small_dataset(), config, model_names=["content"])
    renamed = {
        ("hybrid (spark)" if name == "content" else name): values
        for name, values in evaluation.models.items()
    }
    table = Evaluation(renamed, evaluation.holdout, "hybrid (spark)").table()
    lines = table.splitlines()
    metric_rows = lines[: len(renamed) + 1]
    assert metric_rows[1].startswith("hybrid (spark)*")
    assert len({len(line) for line in metric_rows[1:]}) == 1  # the columns line up
    segment_rows = [line for line in lines if line.startswith("  ")]
    assert segment_rows[0].startswith("  hybrid (spark) ")
    assert len({len(line) for line in segment_rows}) == 1


def test_the_spark_trainer_without_pyspark_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if it were not installed
    config = load_config(overrides={"als.trainer": "spark"})
    with pytest.raises(RecommenderError, match=r"needs pyspark: install the spark extra"):
        train(small_dataset(), config, model="als")
