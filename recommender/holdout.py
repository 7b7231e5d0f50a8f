"""Time-based splits: train on the sessions before a moment, test on the titles users first
watched after it. ``recdb evaluate`` splits the marts once (the test period);
``recdb tune`` splits the training period again (the validation period), so that
choosing hyper-parameters never looks at the test period.

Two ways to the same split: :func:`holdout` splits sessions in memory (a
:class:`~recommender.data.Dataset`), :func:`read_holdout` splits in the database,
reading (user, title) pairs only, never every session: its memory does not grow with
the number of sessions beyond the pairs the models learn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import python_api
from recommender.data import (
    PAIRS_OF,
    TITLE_INDEX,
    Dataset,
    Sessions,
    Viewing,
    read_marts,
    read_pairs,
    read_period,
    read_titles,
    read_user_ids,
    viewing,
)
from recommender.errors import EmptyMartsError, RecommenderError


class SplitError(RecommenderError):
    """A time-based split leaves one side empty: nothing to train on, or no one to test."""


@dataclass(frozen=True)
class Holdout:
    """A split: what the models learn from, and what each test user watched next.

    ``test_end``: the start of the held-out period's last session (None: unknown). The
    titles of the period (:meth:`unavailable`, :meth:`new_titles`) follow from it, the
    cutoff and the catalogue's ``released_at`` and ``retired_at``.
    """

    training: Viewing
    cutoff: np.datetime64
    train_sessions: int
    test_sessions: int
    test_user_ids: np.ndarray  # sorted; with or without training history
    relevant: list[np.ndarray]  # titles each test user first watched after the cutoff
    eligible_users: int  # test users before sampling down to max_users
    test_end: np.datetime64 | None = None

    def unavailable(self) -> np.ndarray:
        """Titles nobody could watch in the held-out period, which no ranker may
        recommend: retired at or before the cutoff, or released after the period's last
        session."""
        return self.training.titles.unavailable(self.cutoff, self.test_end)

    def new_titles(self) -> np.ndarray:
        """Titles released at or after the cutoff and still available in the period:
        nothing of them is in training (the item cold start)."""
        return self.training.titles.released_from(self.cutoff) & ~self.unavailable()

    def describe(self) -> dict[str, Any]:
        """The split's figures, for the evaluation's JSON."""
        new = self.new_titles()
        return {
            "cutoff": str(np.datetime_as_string(self.cutoff, unit="s")) + "Z",
            "train_sessions": int(self.train_sessions),
            "test_sessions": int(self.test_sessions),
            "test_users": int(self.eligible_users),
            "test_users_evaluated": int(len(self.test_user_ids)),
            "relevant_per_user": round(float(np.mean([len(r) for r in self.relevant])), 3),
            "titles": int(self.training.titles.size),
            "unavailable_titles": int(self.unavailable().sum()),
            "new_titles": int(new.sum()),
            "new_title_test_users": int(sum(bool(new[r].any()) for r in self.relevant)),
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
    _check_sides(train.size, test.size, share, period, option)
    titles = np.int64(dataset.titles.size)
    before = np.unique(train.user_id * titles + train.title)
    after = np.unique(test.user_id * titles + test.title)
    new = np.setdiff1d(after, before, assume_unique=True)
    user_ids, relevant, eligible = _test_users(new, titles, max_users, seed, share, period, option)
    assert test.started_at is not None
    return Holdout(
        training=viewing(Dataset(dataset.titles, dataset.user_ids, train), end=cutoff),
        cutoff=cutoff,
        train_sessions=train.size,
        test_sessions=test.size,
        test_user_ids=user_ids,
        relevant=relevant,
        eligible_users=eligible,
        test_end=np.datetime64(test.started_at.max(), "us"),
    )


def _check_sides(train: int, test: int, share: float, period: str, option: str) -> None:
    if train == 0 or test == 0:
        side = "nothing to train on" if train == 0 else f"no {period} period"
        raise SplitError(
            f"{option} = {share:g} leaves {side} ({train + test:,} sessions): "
            f"simulate more users, or change {option} (allowed: > 0 and <= 0.9)"
        )


def _test_users(
    new: np.ndarray, titles: np.int64, max_users: int, seed: int, share: float, period: str,
    option: str,
) -> tuple[np.ndarray, list[np.ndarray], int]:  # fmt: skip
    """(the test users, sampled; each one's relevant titles; how many were eligible) from
    the sorted keys ``user * titles + title`` of the pairs first watched in the period."""
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
    return user_ids, relevant, eligible


# -- the same split, in the database ---------------------------------------------------

#: Sessions of the period (before the end, when there is one).
_PERIOD = """from marts.fact_sessions
where (%(end)s::timestamptz is null or started_at < %(end)s::timestamptz)"""
#: The exact sums of agg_user_title_viewing (macros/exact_sum.sql), over sessions.
_PAIR_FIGURES = """
    count(*) as session_count,
    cast(sum(cast(round(s.minutes_watched / 1e-6) as bigint)) as double precision)
    * 1e-6 as minutes_watched,
    cast(sum(cast(round(s.completion_ratio / 1e-9) as bigint)) as double precision)
    * 1e-9 / count(*) as mean_completion_ratio,
    cast(sum(s.rating) as double precision) / nullif(count(s.rating), 0) as mean_rating"""
#: The training period's pairs: a pair whose sessions all began before the cutoff as the
#: build aggregated it; one that runs across the cutoff, from its sessions before it.
_TRAINING_PAIRS = (
    """
with
pairs as (
    select
        user_id, title_id, session_count, minutes_watched, mean_completion_ratio, mean_rating
    from marts.agg_user_title_viewing
    where last_started_at < %(cutoff)s::timestamptz
    union all
    select s.user_id, s.title_id, {FIGURES}
    from marts.fact_sessions as s
    inner join marts.agg_user_title_viewing as p
        on s.user_id = p.user_id and s.title_id = p.title_id
    where
        p.first_started_at < %(cutoff)s::timestamptz
        and p.last_started_at >= %(cutoff)s::timestamptz
        and s.started_at < %(cutoff)s::timestamptz
    group by s.user_id, s.title_id
)
""".replace("{FIGURES}", _PAIR_FIGURES)
    + PAIRS_OF.replace("{PAIRS}", "pairs")
)
#: The pairs first watched in the held-out period, as sorted keys user * titles + title.
_NEW_PAIRS = """
select pairs.user_id * %(titles)s + titles.title_index as pair_key
from marts.agg_user_title_viewing as pairs
inner join {TITLE_INDEX} as titles
    on pairs.title_id = titles.title_id
where
    pairs.first_started_at >= %(cutoff)s::timestamptz
    and (%(end)s::timestamptz is null or pairs.first_started_at < %(end)s::timestamptz)
order by pair_key
""".replace("{TITLE_INDEX}", TITLE_INDEX)


def read_cutoff(
    warehouse: python_api.Warehouse, share: float, end: np.datetime64 | None = None
) -> tuple[np.datetime64, int, int]:
    """(the cutoff, sessions before it, sessions from it on) of the sessions before
    ``end`` (all when None), as :func:`split_sessions` puts it: the start of the
    session at position floor(n * (1 - share)) in start order."""
    params = {"end": _timestamp(end)}
    total = int(read_marts(warehouse, "select count(*) as n " + _PERIOD, params)["n"].iloc[0])
    if not total:
        raise EmptyMartsError()
    position = int(np.floor(total * (1 - share)))
    cutoff = read_marts(
        warehouse,
        f"select started_at {_PERIOD} order by started_at limit 1 offset %(position)s",
        params | {"position": position},
    )["started_at"]
    moment = np.datetime64(cutoff.dt.tz_convert("UTC").dt.tz_localize(None).iloc[0], "us")
    before = read_marts(
        warehouse,
        f"select count(*) as n {_PERIOD} and started_at < %(cutoff)s::timestamptz",
        params | {"cutoff": _timestamp(moment)},
    )["n"].iloc[0]
    return moment, int(before), total - int(before)


def read_holdout(
    warehouse: python_api.Warehouse,
    share: float,
    *,
    max_users: int,
    seed: int,
    end: np.datetime64 | None = None,
    period: str = "test",
    option: str = "evaluation.holdout_share",
) -> Holdout:
    """:func:`holdout` of the marts' sessions before ``end`` (all when None), computed in
    the database: the same cutoff, test users, relevant titles and training pairs,
    reading pairs instead of sessions."""
    titles = read_titles(warehouse)
    cutoff, train_sessions, test_sessions = read_cutoff(warehouse, share, end)
    _check_sides(train_sessions, test_sessions, share, period, option)
    params = {"cutoff": _timestamp(cutoff), "end": _timestamp(end), "titles": titles.size}
    new = read_marts(warehouse, _NEW_PAIRS, params)["pair_key"].to_numpy(dtype=np.int64)
    user_ids, relevant, eligible = _test_users(
        new, np.int64(titles.size), max_users, seed, share, period, option
    )
    del new
    pairs = read_pairs(warehouse, _TRAINING_PAIRS, params, titles.size)
    period = read_period(
        warehouse, "select min(started_at) as first, max(started_at) as last " + _PERIOD, params
    )
    assert period is not None  # there are sessions on both sides
    training = Viewing(titles, read_user_ids(warehouse), pairs, (period[0], cutoff))
    return Holdout(
        training=training,
        cutoff=cutoff,
        train_sessions=train_sessions,
        test_sessions=test_sessions,
        test_user_ids=user_ids,
        relevant=relevant,
        eligible_users=eligible,
        test_end=period[1],
    )


def _timestamp(moment: np.datetime64 | None) -> str | None:
    """A moment (UTC, as numpy holds it) as PostgreSQL reads a timestamptz."""
    if moment is None:
        return None
    return str(np.datetime_as_string(moment.astype("datetime64[us]"), unit="us")) + "+00"
