"""Item cold start and retired titles in the recommender, without a database (issue 17):
titles released after the training cutoff scored by content (and the hybrid), their
metrics in the evaluation, retired titles never recommended."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender import load_config, load_model, metrics, train
from recommender.data import Dataset, Sessions, Titles, title_features
from recommender.evaluate import K, evaluate_dataset, score_rankers
from recommender.holdout import holdout
from recommender.model import cold_start_list, top_k
from recommender.models.hybrid import title_weights

GENRES = ("action", "comedy", "drama", "horror")
OLD_PER_GENRE = 30
NEW_PER_GENRE = 2
RELEASED = np.datetime64("2023-12-01T00:00:00", "us")
YEAR_START = np.datetime64("2023-01-01T00:00:00", "us")


def released_dataset(users: int = 600, seed: int = 0) -> Dataset:
    """Users who each like one genre: eight titles of it watched over 2023, then, from
    December 1st (after the hold-out's cutoff), each new title of their genre with
    probability one half. The new titles (``sim-*``, released December 1st) are better
    rated than the rest; ``tm100`` is retired in March."""
    rng = np.random.default_rng(seed)
    genre_of_user = rng.integers(0, len(GENRES), users)
    old = [f"tm{100 + i}" for i in range(len(GENRES) * OLD_PER_GENRE)]
    new = [f"sim-{i:03d}" for i in range(len(GENRES) * NEW_PER_GENRE)]
    genre = {t: i // OLD_PER_GENRE for i, t in enumerate(old)}
    genre |= {t: i // NEW_PER_GENRE for i, t in enumerate(new)}
    ids = np.array(sorted(old + new), dtype=object)
    position = {t: i for i, t in enumerate(ids)}
    user_ids, titles, starts = [], [], []
    for user, liked in enumerate(genre_of_user, start=1):
        picks = liked * OLD_PER_GENRE + rng.choice(OLD_PER_GENRE, 8, replace=False)
        for pick in picks:
            user_ids.append(user)
            titles.append(position[old[pick]])
            starts.append(YEAR_START + np.timedelta64(int(rng.integers(0, 330 * 86400)), "s"))
        for i in range(NEW_PER_GENRE):
            if rng.random() < 0.5:
                user_ids.append(user)
                titles.append(position[new[liked * NEW_PER_GENRE + i]])
                starts.append(RELEASED + np.timedelta64(int(rng.integers(0, 30 * 86400)), "s"))
    count = len(user_ids)
    is_new = np.array([t.startswith("sim-") for t in ids])
    frame = pd.DataFrame(
        {
            "title_type": "movie",
            "release_year": 2000,
            "imdb_score": np.where(is_new, 8.0, 7.0),
            "imdb_vote_count": 1000,
        },
        index=range(len(ids)),
    )
    facets = {
        "genres": pd.DataFrame(
            {"title_index": np.arange(len(ids)), "facet": [GENRES[genre[t]] for t in ids]}
        ),
        "countries": pd.DataFrame({"title_index": np.arange(len(ids)), "facet": "US"}),
    }
    released_at = np.where(is_new, RELEASED, np.datetime64("NaT", "us"))
    retired_at = np.full(len(ids), np.datetime64("NaT", "us"))
    retired_at[position["tm100"]] = np.datetime64("2023-03-01T00:00:00", "us")
    titles_ = Titles(
        ids,
        np.zeros(len(ids), dtype=bool),
        np.zeros(len(ids), dtype=bool),
        title_features(frame, facets),
        released_at=released_at,
        retired_at=retired_at,
        is_retired=~np.isnat(retired_at),
    )
    return Dataset(
        titles_,
        np.arange(1, users + 1, dtype=np.int64),
        Sessions(
            user_id=np.array(user_ids, dtype=np.int64),
            title=np.array(titles, dtype=np.int32),
            minutes=rng.uniform(5, 120, count),
            completion=rng.uniform(0, 1, count),
            rating=np.full(count, np.nan),
            started_at=np.array(starts, dtype="datetime64[us]"),
        ),
    )


def genre_oracle(dataset: Dataset):
    """The truth of :func:`released_dataset`: a user's genre first, the better rated first
    within it (users are known by their training history's genre)."""
    features = dataset.titles.features
    assert features is not None
    genres = features.genres.argmax(axis=1)
    quality = features.quality
    sessions = dataset.sessions
    liked = pd.Series(genres[sessions.title]).groupby(sessions.user_id).agg(lambda g: g.mode()[0])

    def oracle(user_ids: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
        scores = (genres[None, :] == liked.loc[user_ids].to_numpy()[:, None]) * 10.0
        scores = scores + quality[None, :]
        rows, cols = seen.nonzero()
        scores[rows, cols] = -np.inf
        return np.argsort(-scores, axis=1, kind="stable")[:, :K]

    return oracle


# -- metrics ----------------------------------------------------------------------
def test_new_title_metrics_narrow_the_relevant_titles_to_the_new_ones():
    new = np.zeros(20, dtype=bool)
    new[[10, 11, 12]] = True
    top = np.array([[10, 1, 2], [3, 4, 5], [11, 12, 6]])
    relevant = [np.array([1, 10, 11]), np.array([3]), np.array([12, 13])]
    figures, per_user = metrics.new_title_summary(top, relevant, new, title_count=20)
    # user 2 watched no new title: not counted; user 1: 10 of (10, 11); user 3: 12 of (12)
    assert figures["users"] == 2
    assert per_user["recall"].tolist() == pytest.approx([1 / 2, 1.0])
    discount = 1 / np.log2(np.arange(2, 5))
    assert per_user["ndcg"].tolist() == pytest.approx(
        [discount[0] / discount[:2].sum(), discount[1] / discount[0]]
    )
    assert figures["recall@3"] == pytest.approx(0.75)
    assert figures["share_of_lists"] == pytest.approx(3 / 9)
    nobody, _ = metrics.new_title_summary(top, [np.array([1])] * 3, new, title_count=20)
    assert nobody == {"users": 0, "recall@3": None, "ndcg@3": None, "share_of_lists": 3 / 9}


# -- content and the hybrid on titles without history ------------------------------
def test_content_scores_a_title_nobody_watched_as_its_twin_with_viewers():
    dataset = released_dataset(users=200)
    model = train(dataset, load_config(), model="content")
    titles = dataset.titles.title_ids.tolist()
    new, twin = titles.index("sim-000"), titles.index("sim-001")  # same genre and features
    rows = np.arange(len(model.user_ids))
    scores = model.ranker.user_scores(rows, model.seen[rows])
    assert np.allclose(scores[:, new], scores[:, twin])
    # fitted on the sessions before the release, the new titles have no viewers at all,
    # and content still puts them first for the users of their genre
    before = Dataset(
        dataset.titles,
        dataset.user_ids,
        dataset.sessions.subset(dataset.sessions.started_at < RELEASED),
    )
    model = train(before, load_config(), model="content")
    is_new = np.char.startswith(dataset.titles.title_ids.astype(str), "sim-")
    assert (model.viewers[is_new] == 0).all()
    ids, _ = model.recommend_rows(np.arange(len(model.user_ids)), NEW_PER_GENRE)
    assert is_new[ids].all()
    genres = dataset.titles.features.genres.argmax(axis=1)
    liked = [np.bincount(genres[model.seen[r].indices]).argmax() for r in range(50)]
    assert (genres[ids[:50, 0]] == liked).all()


def test_the_hybrid_scores_titles_without_viewers_by_content_alone():
    dataset = released_dataset(users=300)
    before = Dataset(
        dataset.titles,
        dataset.user_ids,
        dataset.sessions.subset(dataset.sessions.started_at < RELEASED),
    )
    is_new = np.char.startswith(dataset.titles.title_ids.astype(str), "sim-")
    knobs = {
        "hybrid.collaborative": "als",
        "hybrid.history_halfway": 0.5,  # collaborative filtering weighs most for every user
        "als.factors": 8,
        "als.regularization": 0.1,
    }
    found = {}
    for halfway in (0.0, 10.0):
        config = load_config(overrides=knobs | {"hybrid.title_halfway": halfway})
        model = train(before, config, model="hybrid")
        ids, _ = model.recommend_rows(np.arange(len(model.user_ids)), K)
        found[halfway] = is_new[ids].sum(axis=1).mean()
    # ALS gives the new titles no factors: blended by users alone, they are lost among
    # the rest; weighed by their viewers (none), content ranks them, at the top
    assert found[0.0] < 0.5 and found[10.0] == NEW_PER_GENRE
    weights = title_weights(np.array([0, 10, 90]), 10.0)
    assert weights.tolist() == pytest.approx([0, 0.5, 0.9])
    assert title_weights(np.array([0, 10]), 0.0) is None


def test_a_hybrid_saved_and_loaded_ranks_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("RECDB_HOME", str(tmp_path))
    dataset = released_dataset(users=150)
    config = load_config(overrides={"hybrid.collaborative": "ease", "hybrid.title_halfway": 3})
    model = train(dataset, config, model="hybrid")
    model.run_id = "unit-hybrid"
    model.save()
    loaded = load_model("unit-hybrid")
    assert np.array_equal(loaded.ranker.viewers, model.viewers.astype(np.float32))
    for user in (1, 2, 3):
        pd.testing.assert_frame_equal(loaded.recommend(user), model.recommend(user))


# -- retired titles ---------------------------------------------------------------
def test_retired_titles_are_in_no_list_nor_the_cold_start_list(tmp_path, monkeypatch):
    monkeypatch.setenv("RECDB_HOME", str(tmp_path))
    dataset = released_dataset(users=200)
    retired = dataset.titles.title_ids.tolist().index("tm100")
    viewers = np.array([5, 50, 40, 0])
    best = np.array([False, True, False, False])
    cold = cold_start_list(viewers, best, np.zeros(4, dtype=bool), 4, np.array([0, 1, 0, 0], bool))
    assert cold.titles.tolist() == [2, 0, 3]
    assert cold.scores.tolist() == pytest.approx([40 / 41, 5 / 41, 0])  # scaled as the mart
    ids, _ = top_k(np.ones((2, 1)), np.arange(4.0)[:, None], sp.csr_matrix((2, 4)), 3,
                   excluded=np.array([False, False, False, True]))  # fmt: skip
    assert ids.tolist() == [[2, 1, 0], [2, 1, 0]]
    for name in ("content", "ease", "hybrid"):
        model = train(dataset, load_config(), model=name)
        ids, _ = model.recommend_rows(np.arange(len(model.user_ids)), K)
        assert retired not in ids and retired not in model.cold_start.titles, name
        # still history: its viewers count, and who watched it is known
        assert model.viewers[retired] > 0 and model.seen[:, retired].nnz > 0
        model.run_id = f"unit-{name}"
        model.save()
        assert (load_model(model.run_id).excluded == model.excluded).all()
    user = int(model.user_ids[model.seen[:, retired].indices[0]])
    loaded = load_model("unit-hybrid")
    assert "tm100" not in loaded.recommend(user, 100)["title_id"].tolist()
    # nor among similar titles (tm101 is of the same genre)
    similar = loaded.similar_titles("tm101", 40)
    assert "tm100" not in similar["title_id"].tolist()
    assert similar["rank"].tolist() == list(range(1, 41))


# -- the evaluation ----------------------------------------------------------------
def test_the_split_knows_the_new_and_the_unavailable_titles():
    dataset = released_dataset()
    split = holdout(dataset, 0.2, max_users=10_000, seed=7)
    assert split.cutoff < RELEASED <= split.test_end
    ids = dataset.titles.title_ids
    assert set(ids[split.new_titles()]) == {t for t in ids if t.startswith("sim-")}
    assert ids[split.unavailable()].tolist() == ["tm100"]  # retired before the cutoff
    described = split.describe()
    assert described["new_titles"] == 8 and described["unavailable_titles"] == 1
    assert 0 < described["new_title_test_users"] <= described["test_users_evaluated"]
    # a release after the period's last session: nobody could watch it
    late = np.where(
        split.new_titles(), split.test_end + np.timedelta64(1, "s"), np.datetime64("NaT", "us")
    )
    titles = Titles(
        ids, dataset.titles.is_all_time_best, dataset.titles.is_year_best,
        released_at=late,
    )  # fmt: skip
    assert titles.unavailable(split.cutoff, split.test_end).sum() == 8
    assert not titles.unavailable(split.cutoff, None).any()


def test_the_evaluation_scores_new_titles_against_popularity_and_the_oracle():
    dataset = released_dataset()
    config = load_config(overrides={"evaluation.bootstrap_samples": 200})
    evaluation = evaluate_dataset(
        dataset, config, oracle=genre_oracle(dataset), model_names=["content", "hybrid", "als"]
    )
    held = evaluation.holdout
    assert held["new_titles"] == 8 and held["unavailable_titles"] == 1
    results = evaluation.models
    users = held["new_title_test_users"]
    assert {r["new_titles"]["users"] for r in results.values()} == {users}
    new = {name: r["new_titles"] for name, r in results.items()}
    # popularity and best_of learn from training viewers: a new title has none
    assert new["popularity"]["recall@10"] == 0 and new["best_of"]["recall@10"] == 0
    assert new["popularity"]["share_of_lists"] == 0
    assert new["oracle"]["recall@10"] > 0.9
    assert new["content"]["recall@10"] > 0.9 and new["hybrid"]["recall@10"] > 0.9
    ratio = new["content"]["vs_oracle"]
    assert ratio["value"] == pytest.approx(new["content"]["recall@10"] / new["oracle"]["recall@10"])
    low, high = new["content"]["recall@10_ci"]
    assert low <= new["content"]["recall@10"] <= high
    assert new["oracle"]["vs_oracle"] is None
    table = evaluation.table()
    assert f"watched in the test period by {users:,} test users" in table
    assert "share of lists" in table and "recall@10 95% CI" in table
    # the retired title is nobody's candidate, the oracle's neither
    split = holdout(dataset, 0.2, max_users=10_000, seed=7)
    tops, *_ = score_rankers(split, config, ["content", "ease"], oracle=genre_oracle(dataset))
    retired = dataset.titles.title_ids.tolist().index("tm100")
    assert set(tops) == {"content", "ease", "popularity", "best_of", "oracle"}
    assert all(retired not in top for top in tops.values())


def test_a_released_title_without_votes_is_as_popular_as_the_catalogue_titles_watched_as_much():
    from recommender.models.content import (
        HISTORY_GROUPS,
        history_popularity,
        released_share,
    )

    start, end = np.datetime64("2023-01-01", "us"), np.datetime64("2023-12-31", "us")
    days = float((end - start) / np.timedelta64(1, "D"))
    catalogue = 2 * HISTORY_GROUPS  # two titles a group: 0 and 1 viewers, 2 and 3, ...
    # the catalogue's popularity is viewers / 10 - 2: a group's mean is its mean rate's
    viewers = np.r_[np.arange(catalogue), 0, 10, 30, 10, 10].astype(float)
    popularity = np.r_[np.arange(catalogue) / 10 - 2, -3, -3, 5, -3, -3].astype(np.float32)
    half = start + (end - start) / 2
    nat = np.datetime64("NaT", "us")
    released = np.r_[[nat] * catalogue, end, half, half, nat, half].astype("datetime64[us]")
    known = np.r_[[True] * catalogue, False, False, True, False, False]
    assert released_share(released, (start, end))[catalogue:].tolist() == [0, 0.5, 0.5, 1, 0.5]
    got = history_popularity(popularity, known, released, viewers, (start, end), 0.0)
    assert np.array_equal(got[:catalogue], popularity[:catalogue])
    # the releases' usual rate: 50 viewers in three half periods, 33.3 a period; a title
    # released at the end, nobody watched yet, is as popular as that
    usual = 50 / 1.5
    assert got[catalogue] == pytest.approx(usual / 10 - 2)
    # 10 viewers in half the period: 20 over all of it, as the titles watched 20 times
    assert got[catalogue + 1] == pytest.approx(0.0, abs=1e-6)
    assert got[catalogue + 2] == 5  # its votes are known
    assert got[catalogue + 3] == -3  # a catalogue title without votes: as it was
    # a week's prior: 10 viewers in half a year, and a week at the usual rate
    prior = history_popularity(popularity, known, released, viewers, (start, end), 7.0)
    rate = (10 + 7 / days * usual) / (0.5 + 7 / days)
    assert prior[catalogue + 1] == pytest.approx(rate / 10 - 2)
    assert prior[catalogue] == pytest.approx(usual / 10 - 2)
    # no release watched yet: the catalogue's median rate (19.5 viewers)
    few = slice(0, catalogue + 2)
    at_end = np.r_[[nat] * catalogue, end, end].astype("datetime64[us]")
    alone = history_popularity(popularity[few], known[few], at_end, viewers[few], (start, end), 7.0)
    assert alone[catalogue] == pytest.approx(19.5 / 10 - 2)
    assert np.array_equal(
        history_popularity(popularity, known, released, viewers, None, 7), popularity
    )


def test_content_estimates_the_popularity_of_its_releases_from_their_viewing():
    dataset = released_dataset(users=400)
    # the releases have no IMDb votes (the simulation's have none)
    features = dataset.titles.features
    is_new = np.char.startswith(dataset.titles.title_ids.astype(str), "sim-")
    votes_known = ~is_new
    popularity = features.popularity.copy()
    popularity[is_new] = popularity.min() - 1  # what no votes gave before
    from dataclasses import replace

    titles = replace(
        dataset.titles, features=replace(features, popularity=popularity, votes_known=votes_known)
    )
    split = holdout(
        Dataset(titles, dataset.user_ids, dataset.sessions), 0.2, max_users=10_000, seed=7
    )
    assert split.training.period == (dataset.sessions.started_at.min(), split.cutoff)
    model = train(
        Dataset(
            titles,
            dataset.user_ids,
            dataset.sessions.subset(dataset.sessions.started_at < split.cutoff),
        ),
        load_config(),
        model="content",
    )
    appeal = model.ranker.appeal
    # no viewers before the cutoff: the least watched catalogue titles' popularity, not
    # the bottom of the scale
    assert (appeal[is_new] > load_config().content.popularity_weight * popularity[is_new]).all()
