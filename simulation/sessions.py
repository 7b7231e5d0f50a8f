"""Viewing sessions: how many, which titles, binge runs, when, how much watched, ratings.

Everything is vectorised over the whole population (numpy, no per-user
Python loops). Times are whole seconds since the epoch (UTC).

* **Count**: user ``u`` has ``n_u ~ Poisson(lambda_u)`` sessions with
  ``lambda_u = mean * w_u * G_u``, ``G_u ~ Gamma(1/dispersion, dispersion)``
  (mean 1), ``w_u`` the user's active time relative to the average user's:
  a negative binomial whose population mean is ``sessions.mean``.
* **Runs**: sessions come in runs. A run starts with a title drawn by
  :class:`~simulation.tastes.ChoiceSampler` (probability proportional to
  ``exp(utility)``). A movie run is one session; a show run is a binge of
  consecutive episodes, geometric with mean ``binge.mean_episodes``, capped at
  ``binge.max_episodes``. A user does not start the same movie twice (a repeat
  draw is discarded); shows are resumed in later runs. Runs are drawn until
  the user's ``n_u`` sessions are filled; the last run is cut to fit.
* **Time**: each run starts at a uniform time of the user's active window,
  moved to an hour of the same day drawn from :data:`HOUR_WEIGHTS` (evenings)
  when that stays inside the window. A user's runs never overlap: a run that
  would start before the previous one ends waits for it. Episodes of a run
  follow each other after a pause of up to ``binge.max_gap_minutes``.
  Sessions that would end after the window (churn, or the period's end) are
  dropped.
* **Watching**: a session finishes the title (or episode) with probability
  ``completion.full_share * 0.5 ** (runtime / completion.halving_minutes)``;
  otherwise it watches a Beta share with mean ``completion.partial_mean``.
* **Ratings**: a share ``ratings.share`` of sessions is rated when it ends:
  ``round(ratings.mean + ratings.utility_slope * z + Normal(0, ratings.noise_sd))``
  clipped to 1..5, where ``z`` is the session's utility standardised over the
  rated sessions of the run (mean 0, sd 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.catalogue import Catalogue
from simulation.config import SimulationConfig
from simulation.tastes import ChoiceSampler, Tastes, pair_utility

logger = logging.getLogger(__name__)

DAY = 86_400
HOUR = 3_600
#: Relative chance that a viewing starts in each hour of the day (UTC), 0h to 23h.
HOUR_WEIGHTS = np.array(
    [3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 1.5, 1.5, 1.5, 2, 2.5, 2.5, 2.5, 3, 3.5, 4.5, 6, 8, 9, 9, 7, 5]
)
#: Runs are drawn in rounds until every user's count is filled; a user still
#: short after this many rounds (only possible with extreme configs) keeps fewer.
MAX_ROUNDS = 200


@dataclass(frozen=True)
class Viewing:
    """Sessions in (user, start time) order, as aligned arrays."""

    user_row: np.ndarray  # index of the user in the population
    title: np.ndarray  # catalogue index
    started_at: np.ndarray  # seconds
    ended_at: np.ndarray  # seconds
    minutes_watched: np.ndarray
    completion_ratio: np.ndarray

    @property
    def count(self) -> int:
        """Number of sessions."""
        return len(self.user_row)


@dataclass(frozen=True)
class Ratings:
    """Ratings: the rated session's position in :class:`Viewing`, stars, when."""

    session_row: np.ndarray
    rating: np.ndarray
    rated_at: np.ndarray


def session_counts(
    window_start: np.ndarray,
    window_end: np.ndarray,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Number of sessions of each user (negative binomial, scaled by active time)."""
    active = (window_end - window_start).astype(np.float64)
    count = len(active)
    average = active.mean() if count else 0.0
    if average <= 0:
        return np.zeros(count, dtype=np.int64)
    rate = config.sessions.mean * active / average
    dispersion = config.sessions.dispersion
    if dispersion > 0:
        rate = rate * rng.gamma(1.0 / dispersion, dispersion, count)
    return rng.poisson(rate).astype(np.int64)


def binge_lengths(count: int, config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Episodes in a row: 1 + geometric, mean ``binge.mean_episodes``, capped."""
    mean = config.binge.mean_episodes
    if mean <= 1:
        return np.ones(count, dtype=np.int64)
    lengths = rng.geometric(1.0 / mean, count)
    return np.minimum(lengths, config.binge.max_episodes).astype(np.int64)


def _expected_binge(config: SimulationConfig) -> float:
    """Mean of the capped geometric run length."""
    mean, cap = config.binge.mean_episodes, config.binge.max_episodes
    if mean <= 1:
        return 1.0
    keep = 1 - 1 / mean
    return float((1 - keep**cap) / (1 - keep))


def _segment_positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each segment of the given lengths, concatenated."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def draw_runs(
    counts: np.ndarray,
    tastes: Tastes,
    sampler: ChoiceSampler,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs (user row, title, sessions in the run) filling each user's session count.

    Returned in user order, runs of a user in the order drawn.
    """
    weights = sampler.component_weights(tastes)
    cumulative = np.cumsum(weights, axis=1)
    level_rows = sampler.level_rows(tastes.bias_level)
    expected = 1 + sampler.show_probability(weights, tastes) * (_expected_binge(config) - 1)
    size = sampler.catalogue.size
    is_show = sampler.catalogue.is_show

    remaining = counts.copy()
    seen_movies = np.empty(0, dtype=np.int64)  # sorted keys user_row * size + title
    users_parts, titles_parts, lengths_parts = [], [], []
    active = np.flatnonzero(remaining > 0)
    rounds = 0
    while active.size and rounds < MAX_ROUNDS:
        rounds += 1
        draws = np.ceil(remaining[active] / expected[active]).astype(np.int64)
        users = np.repeat(active, draws)
        titles = sampler.draw(users, cumulative, level_rows, rng)
        shows = is_show[titles]
        lengths = np.ones(len(titles), dtype=np.int64)
        lengths[shows] = binge_lengths(int(shows.sum()), config, rng)

        # a movie the user has already started (earlier, or earlier in this round) is dropped
        movie_rows = np.flatnonzero(~shows)
        keys = users[movie_rows] * size + titles[movie_rows]
        order = np.argsort(keys, kind="stable")
        repeat = np.zeros(len(keys), dtype=bool)
        repeat[order[1:][keys[order[1:]] == keys[order[:-1]]]] = True
        if seen_movies.size:
            at = np.searchsorted(seen_movies, keys)
            at = np.minimum(at, seen_movies.size - 1)
            repeat |= seen_movies[at] == keys
        lengths[movie_rows[repeat]] = 0

        # fill each user's remaining count in draw order; cut the last run
        before = np.cumsum(lengths) - lengths  # sessions drawn before each run, all users
        first = np.cumsum(draws) - draws  # each user's first run of the round
        before -= np.repeat(before[first], draws)  # ... before each run, its user's only
        take = np.clip(remaining[users] - before, 0, lengths)
        kept = take > 0
        users_parts.append(users[kept])
        titles_parts.append(titles[kept])
        lengths_parts.append(take[kept])
        remaining -= np.bincount(users, weights=take, minlength=len(remaining)).astype(np.int64)

        new_movies = kept & ~shows
        if new_movies.any():
            seen_movies = np.concatenate(
                [seen_movies, users[new_movies] * size + titles[new_movies]]
            )
            seen_movies.sort(kind="stable")  # merges the two sorted runs
        active = np.flatnonzero(remaining > 0)
    if active.size:
        logger.warning(
            "%d users got fewer sessions than drawn (%d missing) after %d rounds",
            active.size,
            int(remaining[active].sum()),
            rounds,
        )
    logger.debug("runs drawn in %d rounds", rounds)
    users = np.concatenate(users_parts) if users_parts else np.empty(0, dtype=np.int64)
    titles = np.concatenate(titles_parts) if titles_parts else np.empty(0, dtype=np.int64)
    lengths = np.concatenate(lengths_parts) if lengths_parts else np.empty(0, dtype=np.int64)
    order = np.argsort(users, kind="stable")
    return users[order], titles[order], lengths[order]


def run_start_times(
    run_users: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A start time inside the user's window for each run, at an evening-weighted hour."""
    low = window_start[run_users]
    span = window_end[run_users] - low
    uniform = low + np.floor(rng.random(len(run_users)) * span).astype(np.int64)
    hour_cdf = np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()
    hour = np.minimum(np.searchsorted(hour_cdf, rng.random(len(run_users)), side="right"), 23)
    in_hour = np.floor(rng.random(len(run_users)) * HOUR).astype(np.int64)
    evening = uniform // DAY * DAY + hour * HOUR + in_hour
    inside = (evening >= low) & (evening < low + span)
    return np.where(inside, evening, uniform)


def _watch(
    titles: np.ndarray, catalogue: Catalogue, config: SimulationConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds watched, and whether the title (or episode) was finished, for each session."""
    completion_config = config.completion
    runtime_seconds = catalogue.runtime_minutes * 60
    finish = completion_config.full_share * np.exp2(
        -catalogue.runtime_minutes / completion_config.halving_minutes
    )
    finished = rng.random(len(titles)) < finish[titles]
    kappa = completion_config.partial_concentration
    mean = completion_config.partial_mean
    share = np.ones(len(titles))
    unfinished = np.flatnonzero(~finished)
    share[unfinished] = rng.beta(mean * kappa, (1 - mean) * kappa, len(unfinished))
    seconds = np.rint(runtime_seconds[titles] * share).astype(np.int64)
    return seconds, finished


def _order_by_user_and_time(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The permutation sorting by user, then time (stable); one integer key when it fits."""
    if not len(users):
        return np.empty(0, dtype=np.int64)
    offset = times - times.min()
    time_bits = max(int(offset.max()).bit_length(), 1)
    if int(users.max()).bit_length() + time_bits <= 62:
        return np.argsort((users.astype(np.int64) << time_bits) | offset, kind="stable")
    return np.lexsort((times, users))


def _segmented_cummax(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarting at each new ``segment`` (sorted) value."""
    return pd.Series(values).groupby(segment, sort=False).cummax().to_numpy()


def place_sessions(
    run_users: np.ndarray,
    run_titles: np.ndarray,
    run_lengths: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    catalogue: Catalogue,
    config: SimulationConfig,
    rng: np.random.Generator,
    *,
    run_start: np.ndarray | None = None,
) -> Viewing:
    """Sessions of the runs placed in time, with what was watched; in (user, time) order.

    ``run_start``: each run's drawn start (:func:`run_start_times` with ``rng``), when
    the caller needed it before (to choose titles that come out during the period); a
    run starts then, or later when the user's previous run has not ended."""
    if run_start is None:
        run_start = run_start_times(run_users, window_start, window_end, rng)
    order = _order_by_user_and_time(run_users, run_start)
    run_users, run_titles, run_lengths, run_start = (
        run_users[order],
        run_titles[order],
        run_lengths[order],
        run_start[order],
    )

    run_of = np.repeat(np.arange(len(run_users)), run_lengths)
    titles = run_titles[run_of]
    seconds, finished = _watch(titles, catalogue, config, rng)
    max_gap = int(round(config.binge.max_gap_minutes * 60))
    gap = (
        rng.integers(0, max_gap, len(titles), endpoint=True) if max_gap else np.zeros_like(seconds)
    )
    step = seconds + gap  # time from this session's start to the next one of its run

    # offset of each session inside its run, and each run's total length
    cumulative = np.cumsum(step)
    run_first = np.cumsum(run_lengths) - run_lengths
    run_base = cumulative[run_first] - step[run_first]
    offset = cumulative - step - np.repeat(run_base, run_lengths)
    run_span = np.add.reduceat(step, run_first) if len(run_first) else np.zeros(0, np.int64)

    # no overlap: run k starts at max(its draw, end of run k-1) = c_k + cummax(s_j - c_j)
    span_cum = np.cumsum(run_span)
    user_first = (
        np.flatnonzero(np.r_[True, run_users[1:] != run_users[:-1]])
        if len(run_users)
        else np.empty(0, np.int64)
    )
    user_runs = np.diff(np.r_[user_first, len(run_users)])
    before = span_cum - run_span
    before -= np.repeat(before[user_first], user_runs)
    shifted = _segmented_cummax(run_start - before, run_users) + before

    started = shifted[run_of] + offset
    ended = started + seconds
    users = run_users[run_of]
    inside = ended <= window_end[users]
    if not inside.all():
        logger.debug("dropping %d sessions that end after churn or the period", (~inside).sum())
        users, titles, started, ended, seconds, finished = (
            a[inside] for a in (users, titles, started, ended, seconds, finished)
        )
    ratio = np.minimum(seconds / (catalogue.runtime_minutes * 60)[titles], 1.0)
    ratio[finished] = 1.0
    return Viewing(
        user_row=users,
        title=titles,
        started_at=started,
        ended_at=ended,
        minutes_watched=seconds / 60.0,
        completion_ratio=ratio,
    )


def rate_sessions(
    viewing: Viewing,
    tastes: Tastes,
    catalogue: Catalogue,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> Ratings:
    """Ratings for a share of sessions, following the session's utility."""
    ratings_config = config.ratings
    rated = np.flatnonzero(rng.random(viewing.count) < ratings_config.share)
    noise = rng.standard_normal(len(rated))
    if not len(rated):
        empty = np.empty(0, dtype=np.int64)
        return Ratings(empty, empty.astype(np.int16), empty)
    users = viewing.user_row[rated]
    utility = pair_utility(
        tastes.affinities[users],
        tastes.popularity_bias[users],
        viewing.title[rated],
        catalogue,
        config,
    )
    spread = utility.std()
    standardised = (utility - utility.mean()) / spread if spread > 0 else np.zeros_like(utility)
    latent = (
        ratings_config.mean
        + ratings_config.utility_slope * standardised
        + ratings_config.noise_sd * noise
    )
    stars = np.clip(np.rint(latent), 1, 5).astype(np.int16)
    return Ratings(session_row=rated, rating=stars, rated_at=viewing.ended_at[rated])
