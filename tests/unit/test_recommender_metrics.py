"""Ranking metrics per user, segments of history and bootstrap intervals (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import metrics


def test_recall_is_hits_over_relevant_titles():
    top = np.array([[1, 2, 3, -1], [5, 6, 7, 8]])
    per_user = metrics.per_user_metrics(top, [np.array([1, 3, 9]), np.array([8])], title_count=10)
    assert per_user["recall"].tolist() == pytest.approx([2 / 3, 1.0])
    assert per_user["precision"].tolist() == pytest.approx([2 / 4, 1 / 4])


@pytest.mark.parametrize(
    ("history", "segment"),
    [(0, "none"), (1, "1-2"), (2, "1-2"), (3, "3-10"), (10, "3-10"), (11, "11+"), (500, "11+")],
)
def test_segments_split_users_by_titles_watched_in_training(history, segment):
    masks = metrics.segment_masks(np.array([history]))
    assert [name for name, mask in masks.items() if mask[0]] == [segment]


def test_the_summary_averages_each_segment_and_the_users_with_history():
    top = np.array([[0, 1], [2, 3], [0, 2]])
    relevant = [np.array([0]), np.array([9]), np.array([2])]
    per_user = metrics.per_user_metrics(top, relevant, title_count=10)
    rank = np.arange(1, 11, dtype=float)
    got = metrics.summary(top, per_user, np.array([0, 2, 12]), rank, title_count=10)
    assert got["segments"]["none"] == {"users": 1, "recall@2": 1.0, "ndcg@2": 1.0}
    assert got["segments"]["1-2"]["ndcg@2"] == 0.0
    assert got["segments"]["3-10"] == {"users": 0, "recall@2": None, "ndcg@2": None}
    assert got["with_history"]["users"] == 2
    assert got["with_history"]["recall@2"] == pytest.approx(0.5)
    assert got["coverage"] == pytest.approx(4 / 10)
    assert got["popularity_rank"] == pytest.approx(np.mean([1, 2, 3, 4, 1, 3]))


def test_bootstrap_resamples_are_seeded_and_shared_by_every_ranker():
    rng = np.random.default_rng(0)
    values = {"a": rng.random(500), "b": rng.random(500)}
    values["twice"] = 2 * values["a"]
    first = metrics.bootstrap_means(values, 200, seed=3)
    again = metrics.bootstrap_means(values, 200, seed=3)
    assert all(np.array_equal(first[k], again[k]) for k in values)
    # the same users in every resample: a ranker twice as good is twice as good in each
    assert np.allclose(first["twice"] / first["a"], 2.0)
    low, high = metrics.interval(first["a"])
    assert low < values["a"].mean() < high
    assert high - low < 0.1
    assert metrics.bootstrap_means(values, 0, seed=3)["a"].size == 0
    assert metrics.interval(np.array([])) is None
