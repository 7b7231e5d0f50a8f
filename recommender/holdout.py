"""Time-based splits: train on the sessions before a moment, test on the titles users first
watched after it. ``recdb evaluate`` splits the marts once (the test period);
``recdb tune`` splits the training period again (the validation period), so that
choosing hyper-parameters never looks at the test period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.data import Dataset, Sessions
from recommender.errors import EmptyMartsError, RecommenderError


class SplitError(RecommenderError):
    """A time-based split leaves one side empty: nothing to train on, or no one to test."""


@dataclass(frozen=True)
class Holdout:
    """A split: what the models learn from, and what each test user watched next."""

    training: Dataset
    cutoff: np.datetime64
    test_sessions: int
    test_user_ids: np.ndarray  # sorted; with or without training history
    relevant: list[np.ndarray]  # titles each test user first watched after the cutoff
    eligible_users: int  # test users before sampling down to max_users

    def describe(self) -> dict[str, Any]:
        """The split's figures, for the evaluation's JSON."""
        return {
            "cutoff": str(np.datetime_as_string(self.cutoff, unit="s")) + "Z",
            "train_sessions": int(self.training.sessions.size),
            "test_sessions": int(self.test_sessions),
            "test_users": int(self.eligible_users),
            "test_users_evaluated": int(len(self.test_user_ids)),
            "relevant_per_user": round(float(np.mean([len(r) for r in self.relevant])), 3),
            "titles": int(self.training.titles.size),
        }


def split_sessions(sessions: Sessions, holdout_share: float) -> tuple[np.ndarray, Any]:
    """(mask of training sessions, the cutoff): the latest ``holdout_share`` are held out."""
    if sessions.started_at is None:
        raise RecommenderError("splitting by time needs the sessions' start times")
    times = sessions.started_at.astype("datetime64[us]").astype(np.int64)
    if not len(times):
        raise EmptyMartsError()
    cutoff = np.sort(times)[int(np.floor(len(times) * (1 - holdout_share)))]
    return times < cutoff, np.datetime64(int(cutoff), "us")


def holdout(
    dataset: Dataset,
    share: float,
    *,
    max_users: int,
    seed: int,
    period: str = "test",
    option: str = "evaluation.holdout_share",
) -> Holdout:
    """Split ``dataset`` at the moment the latest ``share`` of its sessions begin.

    A test user watched a title after the cutoff that they had not watched
    before it (users without any training history count: they are the cold
    start); their relevant titles are those. At most ``max_users`` of them (a
    seeded sample). EmptyMartsError when either side is empty, or no user
    watched anything new (``period`` names the held-out side in the message,
    ``option`` the config key of ``share``).
    """
    train_mask, cutoff = split_sessions(dataset.sessions, share)
    train, test = dataset.sessions.subset(train_mask), dataset.sessions.subset(~train_mask)
    if train.size == 0 or test.size == 0:
        side = "nothing to train on" if train.size == 0 else f"no {period} period"
        raise SplitError(
            f"{option} = {share:g} leaves {side} ({dataset.sessions.size:,} sessions): "
            f"simulate more users, or change {option} (allowed: > 0 and <= 0.9)"
        )
    titles = np.int64(dataset.titles.size)
    before = np.unique(train.user_id * titles + train.title)
    after = np.unique(test.user_id * titles + test.title)
    new = np.setdiff1d(after, before, assume_unique=True)
    if not new.size:
        raise SplitError(
            f"{option} = {share:g} leaves no {period} users: nobody watched a title new to "
            f"them in the {period} period; simulate more users, or use a larger {option} "
            "(allowed: > 0 and <= 0.9)"
        )
    owners = new // titles
    user_ids = np.unique(owners)
    eligible = len(user_ids)
    if eligible > max_users:
        rng = np.random.default_rng(seed)
        user_ids = np.sort(rng.choice(user_ids, max_users, replace=False))
    starts = np.searchsorted(owners, user_ids)
    ends = np.searchsorted(owners, user_ids, side="right")
    relevant = [new[a:b] % titles for a, b in zip(starts, ends, strict=True)]
    return Holdout(
        training=Dataset(dataset.titles, dataset.user_ids, train),
        cutoff=cutoff,
        test_sessions=test.size,
        test_user_ids=user_ids,
        relevant=relevant,
        eligible_users=eligible,
    )
