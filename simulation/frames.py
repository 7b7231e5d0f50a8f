"""The generated arrays as DataFrames with exactly the columns of the landing tables.

Timestamps are ``datetime64[us, UTC]``; text columns are categoricals (cheap
for millions of rows; python_api writes them as text).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.catalogue import Catalogue
from simulation.config import SimulationConfig
from simulation.sessions import Ratings, Viewing
from simulation.tastes import Tastes
from simulation.users import Users

TIMESTAMP = pd.DatetimeTZDtype("us", "UTC")


def timestamps(seconds: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Seconds since the epoch as a ``datetime64[us, UTC]`` Series; ``missing`` rows are NaT."""
    values = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[us]")
    if missing is not None:
        values[missing] = np.datetime64("NaT")
    return pd.Series(pd.array(values, dtype=TIMESTAMP))


def _ids(first: int, offsets: np.ndarray) -> np.ndarray:
    """``first + offsets`` as int64. The engine has checked that the largest fits in a
    bigint (int64 addition would wrap around silently); no ids, no arithmetic, so an
    empty run after an id at the maximum does not overflow."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if not offsets.size:
        return offsets
    return np.int64(first) + offsets


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=names)


def users_frame(users: Users, first_user_id: int, config: SimulationConfig) -> pd.DataFrame:
    """Rows of ``sim.users``."""
    shares = config.users
    return pd.DataFrame(
        {
            "user_id": _ids(first_user_id, np.arange(users.count)),
            "signup_at": timestamps(users.signup_at),
            "birth_year": users.birth_year.astype(np.int16),
            "gender": _categorical(users.gender, list(shares.gender_shares)),
            "country_code": _categorical(users.country, list(shares.country_shares)),
            "plan": _categorical(users.plan, list(shares.plan_shares)),
            "churned_at": timestamps(users.churned_at, missing=~users.is_churned),
        }
    )


def tastes_frame(tastes: Tastes, first_user_id: int) -> pd.DataFrame:
    """Rows of ``sim.user_tastes``: one affinity array per user, and the popularity bias."""
    count = len(tastes.bias_level)
    affinities = pd.Series(list(tastes.affinities), dtype=object)
    return pd.DataFrame(
        {
            "user_id": _ids(first_user_id, np.arange(count)),
            "genre_affinities": affinities,
            "popularity_bias": tastes.popularity_bias,
        }
    )


def sessions_frame(
    viewing: Viewing, first_user_id: int, first_session_id: int, catalogue: Catalogue
) -> pd.DataFrame:
    """Rows of ``sim.sessions``, session ids in (user, start time) order."""
    return pd.DataFrame(
        {
            "session_id": _ids(first_session_id, np.arange(viewing.count)),
            "user_id": _ids(first_user_id, viewing.user_row),
            "title_id": _categorical(viewing.title, list(catalogue.title_ids)),
            "started_at": timestamps(viewing.started_at),
            "ended_at": timestamps(viewing.ended_at),
            "minutes_watched": viewing.minutes_watched.astype(np.float64),
            "completion_ratio": viewing.completion_ratio.astype(np.float64),
        }
    )


def ratings_frame(ratings: Ratings, first_session_id: int) -> pd.DataFrame:
    """Rows of ``sim.ratings``."""
    return pd.DataFrame(
        {
            "session_id": _ids(first_session_id, ratings.session_row),
            "rating": ratings.rating.astype(np.int16),
            "rated_at": timestamps(ratings.rated_at),
        }
    )
