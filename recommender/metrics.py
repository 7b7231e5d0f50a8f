"""Ranking metrics per user, by segment of history, and bootstrap intervals. Pure numpy.

For a user's top ``k`` (title indices, -1 for none) and the titles relevant to
them (watched for the first time in the test period):

* ``precision@k`` = hits / k;
* ``recall@k`` = hits / relevant titles;
* ``map@k`` = sum over ranks i of precision@i * hit_i, / min(relevant, k);
* ``ndcg@k`` = sum of hit_i / log2(i + 1), / the same for a perfect list;

each averaged over users. Over all the lists together:

* ``coverage``: distinct titles recommended / catalogue size;
* ``popularity_rank``: the mean rank, by training viewers (1 = the most
  watched title), of the titles recommended; small = a bias to the popular.

On new titles (:func:`new_title_summary`; titles released after the training
cutoff, of which training knows nothing): the same lists, the relevant titles
narrowed to the new ones, over the users who watched at least one:

* ``recall@k`` = new titles watched that the list holds / new titles watched;
* ``ndcg@k`` = the ndcg of the list against the new titles watched alone;
* ``share_of_lists``: the share of every list's places (all the users') that
  new titles fill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PER_USER = ("precision", "recall", "map", "ndcg")
#: Segments of test users by the number of titles they watched in training: (name, lowest,
#: highest).
SEGMENTS = (("none", 0, 0), ("1-2", 1, 2), ("3-10", 3, 10), ("11+", 11, None))


def hits_matrix(top: np.ndarray, relevant: Sequence[np.ndarray], title_count: int) -> np.ndarray:
    """users x k: whether each recommended title is relevant to its user."""
    users = top.shape[0]
    counts = np.array([len(r) for r in relevant], dtype=np.int64)
    owners = np.repeat(np.arange(users, dtype=np.int64), counts)
    wanted = (
        np.concatenate([np.asarray(r, dtype=np.int64) for r in relevant])
        if users
        else np.empty(0, dtype=np.int64)
    )
    keys = np.sort(owners * (title_count + 1) + wanted)
    got = np.arange(users, dtype=np.int64)[:, None] * (title_count + 1) + top
    return np.isin(got, keys) & (top >= 0)


def per_user_metrics(
    top: np.ndarray, relevant: Sequence[np.ndarray], title_count: int
) -> dict[str, np.ndarray]:
    """precision, recall, map and ndcg at k of each user's list (arrays over users)."""
    users, k = top.shape
    hits = hits_matrix(top, relevant, title_count)
    counts = np.array([len(r) for r in relevant], dtype=np.int64)
    ranks = np.arange(1, k + 1)
    discount = 1.0 / np.log2(ranks + 1)
    ideal_count = np.minimum(counts, k)
    found = hits.sum(axis=1)
    ideal = np.cumsum(discount)[np.maximum(ideal_count, 1) - 1]
    return {
        "precision": found / k,
        "recall": found / np.maximum(counts, 1),
        "map": ((np.cumsum(hits, axis=1) / ranks) * hits).sum(axis=1) / np.maximum(ideal_count, 1),
        "ndcg": (hits * discount).sum(axis=1) / ideal,
    }


def metric_name(metric: str, k: int) -> str:
    """``ndcg@10``."""
    return f"{metric}@{k}"


def summary(
    top: np.ndarray,
    per_user: Mapping[str, np.ndarray],
    history: np.ndarray,
    popularity_rank: np.ndarray,
    title_count: int,
) -> dict[str, Any]:
    """Means over users, coverage, popularity rank, and recall and ndcg by segment and over
    the users with any history (``with_history``).

    ``history``: titles each user watched in training; ``popularity_rank``: each
    title's rank by training viewers (1 = the most watched).
    """
    k = top.shape[1]
    shown = top[top >= 0]
    out: dict[str, Any] = {metric_name(m, k): _mean(per_user[m]) for m in PER_USER}
    out["coverage"] = len(np.unique(shown)) / title_count if title_count else 0.0
    out["popularity_rank"] = float(popularity_rank[shown].mean()) if shown.size else None
    out["segments"] = {
        name: {
            "users": int(mask.sum()),
            metric_name("recall", k): _mean(per_user["recall"][mask]),
            metric_name("ndcg", k): _mean(per_user["ndcg"][mask]),
        }
        for name, mask in segment_masks(history).items()
    }
    known = np.asarray(history) > 0
    out["with_history"] = {
        "users": int(known.sum()),
        metric_name("recall", k): _mean(per_user["recall"][known]),
        metric_name("ndcg", k): _mean(per_user["ndcg"][known]),
    }
    return out


def segment_masks(history: np.ndarray) -> dict[str, np.ndarray]:
    """Each segment of :data:`SEGMENTS` as a mask over users."""
    history = np.asarray(history)
    return {
        name: (history >= low) & (history <= (np.inf if high is None else high))
        for name, low, high in SEGMENTS
    }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def bootstrap_means(
    per_user: Mapping[str, np.ndarray], samples: int, seed: int
) -> dict[str, np.ndarray]:
    """``samples`` resamples of the users (with replacement, the same for every key):
    each key's mean in each resample."""
    names = list(per_user)
    if not names or samples <= 0:
        return {name: np.empty(0) for name in names}
    values = np.vstack([np.asarray(per_user[name], dtype=np.float64) for name in names])
    users = values.shape[1]
    rng = np.random.default_rng(seed)
    means = np.empty((len(names), samples))
    for sample in range(samples):
        weights = np.bincount(rng.integers(0, users, users), minlength=users)
        means[:, sample] = values @ weights / users
    return dict(zip(names, means, strict=True))


def interval(values: np.ndarray) -> list[float] | None:
    """The central 95% of ``values`` (bootstrap means or ratios), or None without any."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def narrowed(
    relevant: Sequence[np.ndarray], keep: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(users with a relevant title of ``keep`` (a mask over titles), each such user's
    relevant titles of ``keep``)."""
    keep = np.asarray(keep, dtype=bool)
    kept = [np.asarray(r)[keep[np.asarray(r, dtype=np.int64)]] for r in relevant]
    users = np.array([len(r) > 0 for r in kept], dtype=bool)
    return users, [r for r, user in zip(kept, users, strict=True) if user]


def new_title_summary(
    top: np.ndarray,
    relevant: Sequence[np.ndarray],
    new: np.ndarray,
    title_count: int,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """recall@k and ndcg@k on the ``new`` titles (a mask over titles) of the users who
    watched one (see the module docstring), and ``share_of_lists``; with the per-user
    recall and ndcg behind them (for bootstrap intervals)."""
    k = top.shape[1]
    users, kept = narrowed(relevant, new)
    per_user = (
        per_user_metrics(top[users], kept, title_count)
        if users.any()
        else {m: np.empty(0) for m in PER_USER}
    )
    shown = top[top >= 0]
    new = np.asarray(new, dtype=bool)
    out: dict[str, Any] = {
        "users": int(users.sum()),
        metric_name("recall", k): _mean(per_user["recall"]),
        metric_name("ndcg", k): _mean(per_user["ndcg"]),
        "share_of_lists": float(new[shown].mean()) if shown.size else None,
    }
    return out, {"recall": per_user["recall"], "ndcg": per_user["ndcg"]}
