"""Users: demographics, signup, churn, and the window in which each one watches.

All times are whole seconds since the Unix epoch (UTC), as int64 arrays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulation.config import SimulationConfig, age_bands

DAY = 86_400


def epoch_seconds(day: dt.date) -> int:
    """Midnight UTC of ``day`` in seconds since the epoch."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


@dataclass(frozen=True)
class Users:
    """A population, row ``i`` for the ``i``-th user (user_id ``first_id + i``)."""

    signup_at: np.ndarray  # seconds
    churned_at: np.ndarray  # seconds; meaningless where not churned
    is_churned: np.ndarray
    birth_year: np.ndarray
    gender: np.ndarray  # index into config.users.gender_shares
    country: np.ndarray  # index into config.users.country_shares
    plan: np.ndarray  # index into config.users.plan_shares

    @property
    def count(self) -> int:
        """Number of users."""
        return len(self.signup_at)


def draw_category(shares: Mapping[str, float], count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``shares`` (in its order) drawn with those probabilities."""
    cumulative = np.cumsum(list(shares.values()))
    cumulative /= cumulative[-1]
    index = np.searchsorted(cumulative, rng.random(count), side="right")
    return np.minimum(index, len(cumulative) - 1)


def draw_users(count: int, config: SimulationConfig, rng: np.random.Generator) -> Users:
    """Demographics, signup and churn times for ``count`` users.

    * signup: a share ``users.existing_share`` subscribed during the
      ``users.prior_signup_days`` before the period (uniformly), the others
      uniformly during it;
    * churn: a share ``churn.share`` cancel during the period; the time from
      signup (or from the period start, if later) to cancellation is
      exponential with mean ``churn.mean_tenure_days``, truncated to the
      period's end;
    * age (at the period start) by band, uniform inside it; gender, country
      and plan by their shares.
    """
    start = epoch_seconds(config.period.start)
    end = epoch_seconds(config.period.end)
    users_config = config.users

    existing = rng.random(count) < users_config.existing_share
    before = rng.integers(1, users_config.prior_signup_days * DAY, count, endpoint=True)
    during = rng.integers(0, end - start, count)
    signup = np.where(existing, start - before, start + during).astype(np.int64)

    churned = rng.random(count) < config.churn.share
    low = np.maximum(start - signup, 0).astype(np.float64)
    high = (end - 1 - signup).astype(np.float64)
    scale = config.churn.mean_tenure_days * DAY
    # inverse CDF of an exponential truncated to [low, high]
    u = rng.random(count)
    span = np.maximum(high - low, 0.0)
    tenure = low - scale * np.log1p(-u * -np.expm1(-span / scale))
    churn = signup + np.clip(np.floor(tenure), low, high).astype(np.int64)

    bands = age_bands(users_config.age_shares)
    band = draw_category(users_config.age_shares, count, rng)
    youngest = np.array([b[0] for b in bands])[band]
    oldest = np.array([b[1] for b in bands])[band]
    age = youngest + np.floor(rng.random(count) * (oldest - youngest + 1)).astype(np.int64)
    birth_year = (config.period.start.year - age).astype(np.int16)

    return Users(
        signup_at=signup,
        churned_at=churn,
        is_churned=churned,
        birth_year=birth_year,
        gender=draw_category(users_config.gender_shares, count, rng),
        country=draw_category(users_config.country_shares, count, rng),
        plan=draw_category(users_config.plan_shares, count, rng),
    )


def active_windows(users: Users, config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """``[from, to)`` in seconds when each user can watch: inside the period, after
    signup, before churn. Empty (``to <= from``) when there is no such time."""
    start = epoch_seconds(config.period.start)
    end = epoch_seconds(config.period.end)
    window_start = np.maximum(users.signup_at, start)
    window_end = np.where(users.is_churned, users.churned_at, end)
    return window_start, np.maximum(window_end, window_start)
