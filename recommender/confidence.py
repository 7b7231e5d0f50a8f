"""From viewing sessions to implicit feedback: one (user, title) pair, one confidence.

All of a user's sessions of a title (a movie, or every episode of a show) are
one pair. Its preference is 1 (watched), and ALS weighs it by a confidence::

    strength   = 1 + minutes_weight    * ln(1 + minutes / minutes_scale)
                   + completion_weight * completion
                   + rating_weight     * (rating - 3) / 2        (0 when never rated)
    confidence = 1 + alpha * max(strength, floor)

* ``minutes``: the minutes watched over all the pair's sessions (log-damped:
  a binge of twenty episodes is not twenty times the evidence);
* ``completion``: the mean completion ratio of those sessions, 0 to 1;
* ``rating``: the mean of the stars given (1 to 5) in those sessions;
  ``(rating - 3) / 2`` runs from -1 (one star) to +1 (five stars), so a bad
  rating lowers the confidence, down to ``floor``;
* ``alpha`` scales the whole: unwatched pairs have preference 0 and
  confidence 1, so ``alpha`` says how much more a watched pair counts.

The weights are in the ``[confidence]`` section of the config
(``recommender/recommender.toml``). Everything here is pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from recommender.config import ConfidenceConfig


@dataclass(frozen=True)
class Interactions:
    """Sessions aggregated to (user, title) pairs, sorted by user then title.

    ``user`` and ``title`` are row and column indices; the other arrays are
    aligned with them.
    """

    user: np.ndarray  # int64 row index
    title: np.ndarray  # int32 column index
    sessions: np.ndarray  # number of sessions
    minutes: np.ndarray  # minutes watched, summed
    completion: np.ndarray  # mean completion ratio
    rating: np.ndarray  # mean rating, NaN when never rated
    user_count: int
    title_count: int

    @property
    def size(self) -> int:
        """Number of (user, title) pairs."""
        return len(self.user)

    def matrix(self, values: np.ndarray | None = None) -> sp.csr_matrix:
        """users x titles CSR of ``values`` (default: ones), one entry per pair."""
        data = np.ones(self.size, dtype=np.float32) if values is None else values
        counts = np.bincount(self.user, minlength=self.user_count)
        indptr = np.zeros(self.user_count + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        if indptr[-1] < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), self.title.astype(np.int32), indptr),
            shape=(self.user_count, self.title_count),
        )


#: Minutes and completion ratios are summed as whole multiples of these (fixed point), so
#: the sums do not depend on the order the sessions arrive in (floating-point sums do).
MINUTES_UNIT = 1e-6
COMPLETION_UNIT = 1e-9
#: Ratings are whole stars: a rated session adds ``stars * _RATED + 1`` to its pair's code.
_RATED = 2.0**20


def aggregate(
    user: np.ndarray,
    title: np.ndarray,
    minutes: np.ndarray,
    completion: np.ndarray,
    rating: np.ndarray,
    *,
    user_count: int,
    title_count: int,
) -> Interactions:
    """Aggregate sessions (aligned arrays, any order) into (user, title) pairs.

    ``rating`` is NaN for unrated sessions. Indices must lie in
    ``[0, user_count)`` and ``[0, title_count)``. The result does not depend
    on the order of the sessions.
    """
    user = np.asarray(user, dtype=np.int64)
    key = user * title_count + np.asarray(title, dtype=np.int64)
    order = np.argsort(key)
    key = key[order]
    starts = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.concatenate([np.zeros(min(len(key), 1), dtype=np.int64), starts])
    sessions = np.diff(np.append(starts, len(key))).astype(np.int32)

    def total(fixed: np.ndarray) -> np.ndarray:
        """Sums per pair of whole numbers (held exactly in float64, whatever the order)."""
        if not len(fixed):
            return np.zeros(0)
        return np.add.reduceat(fixed[order], starts)

    rating = np.asarray(rating, dtype=np.float64)
    # one sum gives both the stars and how many sessions were rated
    rated_code = total(np.where(np.isnan(rating), 0.0, np.rint(rating) * _RATED + 1.0))
    rated_count = np.mod(rated_code, _RATED)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(
            rated_count > 0, (rated_code - rated_count) / _RATED / rated_count, np.nan
        )
    minutes_fixed = np.rint(np.asarray(minutes, dtype=np.float64) / MINUTES_UNIT)
    completion_fixed = np.rint(np.asarray(completion, dtype=np.float64) / COMPLETION_UNIT)
    pair_key = key[starts]
    return Interactions(
        user=pair_key // title_count,
        title=(pair_key % title_count).astype(np.int32),
        sessions=sessions,
        minutes=total(minutes_fixed) * MINUTES_UNIT,
        completion=total(completion_fixed) * COMPLETION_UNIT / np.maximum(sessions, 1),
        rating=mean_rating,
        user_count=user_count,
        title_count=title_count,
    )


def confidence(interactions: Interactions, config: ConfidenceConfig) -> np.ndarray:
    """The confidence of each pair (float32, >= 1), by the formula of the module docstring."""
    strength = 1.0 + config.minutes_weight * np.log1p(
        np.maximum(interactions.minutes, 0.0) / config.minutes_scale
    )
    strength += config.completion_weight * interactions.completion
    rating_term = np.where(
        np.isnan(interactions.rating), 0.0, (np.nan_to_num(interactions.rating) - 3.0) / 2.0
    )
    strength += config.rating_weight * rating_term
    return (1.0 + config.alpha * np.maximum(strength, config.floor)).astype(np.float32)
