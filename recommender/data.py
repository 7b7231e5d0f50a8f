"""Reading what the recommender learns from: the marts, through python_api.

* ``marts.dim_titles``, ``bridge_title_genres``, ``bridge_title_prod_countries``:
  the catalogue, its best-of flags (cold start), what the content model
  knows of each title (:class:`TitleFeatures`), when each title became
  watchable (``released_at``, null for the loaded catalogue's) and left the
  service (``retired_at``; a retired title is never recommended);
* ``marts.dim_users``: every user, so users without sessions get the
  cold-start list;
* ``marts.agg_user_title_viewing``: who watched what, how long, how much,
  and the stars given, one row per (user, title) pair aggregated by the
  build (what `recdb recommend` learns from: fewer rows than sessions, and
  no aggregation here);
* ``marts.fact_sessions``: every session with its start, for the time-based
  splits of `recdb evaluate` and `recdb tune`.

Titles travel as their position in the catalogue (titles in byte order of
title_id), so no title text crosses the wire per row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import python_api
from recommender.confidence import Interactions, aggregate
from recommender.errors import EmptyMartsError, RecommenderError

logger = logging.getLogger(__name__)

TITLES_QUERY = """
select
    title_id,
    title_type,
    release_year,
    imdb_score,
    imdb_vote_count,
    is_all_time_best,
    is_year_best,
    released_at,
    retired_at,
    is_retired
from marts.dim_titles
order by title_id collate "C"
"""
#: Titles retired since the last build (sim.retired_titles, which PostgreSQL checks
#: recommendations against): marts.dim_titles says so only after the next build.
RETIRED_QUERY = "select title_id from sim.retired_titles"
#: A title's genres and production countries, as (title row, facet value) pairs.
#: Each title's position in the catalogue (titles in byte order of title_id, from 0).
TITLE_INDEX = """(
    select
        title_id,
        cast(row_number() over (order by title_id collate "C") - 1 as integer) as title_index
    from marts.dim_titles
)"""
FACET_QUERY = """
select
    titles.title_index,
    facets.{column} as facet
from marts.{bridge} as facets
inner join {TITLE_INDEX} as titles
    on facets.title_id = titles.title_id
""".replace("{TITLE_INDEX}", TITLE_INDEX)
FACETS = {
    "genres": ("bridge_title_genres", "genre_id"),
    "countries": ("bridge_title_prod_countries", "country_code"),
}
USERS_QUERY = "select user_id from marts.dim_users order by user_id"
SESSIONS_QUERY = """
select
    sessions.user_id,
    titles.title_index,
    sessions.minutes_watched,
    sessions.completion_ratio,
    sessions.rating{extra}
from marts.fact_sessions as sessions
inner join {TITLE_INDEX} as titles
    on sessions.title_id = titles.title_id
""".replace("{TITLE_INDEX}", TITLE_INDEX)
#: (User, title) pairs of a relation shaped as marts.agg_user_title_viewing (``{PAIRS}``),
#: each title as its catalogue position.
PAIRS_OF = """
select
    pairs.user_id,
    titles.title_index,
    pairs.session_count,
    pairs.minutes_watched,
    pairs.mean_completion_ratio,
    pairs.mean_rating
from {PAIRS} as pairs
inner join {TITLE_INDEX} as titles
    on pairs.title_id = titles.title_id
""".replace("{TITLE_INDEX}", TITLE_INDEX)
#: The pairs as the build aggregated them, in the units and arithmetic of
#: :func:`recommender.confidence.aggregate` (the model's SQL says how).
PAIRS_QUERY = PAIRS_OF.replace("{PAIRS}", "marts.agg_user_title_viewing")


@dataclass(frozen=True)
class TitleFeatures:
    """What the catalogue knows of each title, as numbers (row ``i``: title ``i``).

    * ``genres``, ``countries``: titles x facet values, a title's values sharing
      weight 1 equally (a row of zeros when it has none);
    * ``kind``: titles x 2, movie or show;
    * ``decade``: titles x decades of release, one-hot;
    * ``popularity``: ``ln(1 + imdb_vote_count)`` standardised (an unknown count is 0);
    * ``quality``: ``imdb_score`` standardised (an unknown score is the mean);
    * ``votes_known``: whether ``imdb_vote_count`` is known (None: all are). A title
      the service released itself has none yet: the content model estimates its
      popularity from its viewing (:func:`recommender.models.content.history_popularity`).
    """

    genres: np.ndarray
    countries: np.ndarray
    kind: np.ndarray
    decade: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray
    votes_known: np.ndarray | None = None


def standardised(values: np.ndarray) -> np.ndarray:
    """``values`` minus their mean, over their standard deviation (zeros when constant)."""
    values = np.asarray(values, dtype=np.float64)
    spread = float(values.std()) if values.size else 0.0
    if spread == 0 or not np.isfinite(spread):
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def _shares(rows: np.ndarray, values: pd.Series, title_count: int) -> np.ndarray:
    """titles x distinct values (sorted), each title's values sharing weight 1."""
    labels, columns = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    matrix = np.zeros((title_count, len(labels)), dtype=np.float32)
    matrix[rows, columns] = 1.0
    total = matrix.sum(axis=1, keepdims=True)
    np.divide(matrix, total, out=matrix, where=total > 0)
    return matrix


def title_features(titles: pd.DataFrame, facets: dict[str, pd.DataFrame]) -> TitleFeatures:
    """:class:`TitleFeatures` of ``dim_titles`` rows (in title order) and the facet pairs
    (columns title_index, facet) of :data:`FACETS`."""
    count = len(titles)
    votes = pd.to_numeric(titles["imdb_vote_count"])
    votes_known = votes.notna().to_numpy()
    votes = votes.fillna(0).to_numpy(dtype=np.float64)
    score = pd.to_numeric(titles["imdb_score"]).to_numpy(dtype=np.float64, na_value=np.nan)
    known = np.isfinite(score)
    score = np.where(known, score, score[known].mean() if known.any() else 0.0)
    year = pd.to_numeric(titles["release_year"]).fillna(0).to_numpy(dtype=np.int64)
    decade = np.maximum(year // 10 * 10, 1900)
    matrices = {
        name: _shares(frame["title_index"].to_numpy(dtype=np.int64), frame["facet"], count)
        for name, frame in facets.items()
    }
    return TitleFeatures(
        genres=matrices["genres"],
        countries=matrices["countries"],
        kind=_shares(np.arange(count), titles["title_type"], count),
        decade=_shares(np.arange(count), pd.Series(decade), count),
        popularity=standardised(np.log1p(np.clip(votes, 0, None))).astype(np.float32),
        quality=standardised(score).astype(np.float32),
        votes_known=votes_known,
    )


@dataclass(frozen=True)
class Titles:
    """The catalogue in title_id (byte) order: row ``i`` is title ``title_ids[i]``.

    ``released_at``, ``retired_at``: datetime64[us] UTC, NaT when null (a title of
    the loaded catalogue has no release moment: it was always there); None when not
    known at all (treated as all NaT). ``is_retired``: taken off the service (None:
    none is).
    """

    title_ids: np.ndarray  # object array of str
    is_all_time_best: np.ndarray
    is_year_best: np.ndarray
    features: TitleFeatures | None = None
    released_at: np.ndarray | None = None
    retired_at: np.ndarray | None = None
    is_retired: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of titles."""
        return len(self.title_ids)

    @property
    def retired(self) -> np.ndarray:
        """Whether each title is retired (never recommended)."""
        if self.is_retired is None:
            return np.zeros(self.size, dtype=bool)
        return np.asarray(self.is_retired, dtype=bool)

    def moments(self, name: str) -> np.ndarray:
        """``released_at`` or ``retired_at`` as datetime64[us] (NaT when null or unknown)."""
        values = getattr(self, name)
        if values is None:
            return np.full(self.size, np.datetime64("NaT"), dtype="datetime64[us]")
        return np.asarray(values, dtype="datetime64[us]")

    def released_from(self, moment: np.datetime64) -> np.ndarray:
        """Whether each title was released at or after ``moment`` (no catalogue title is)."""
        released = self.moments("released_at")
        return ~np.isnat(released) & (released >= np.datetime64(moment, "us"))

    def unavailable(self, start: np.datetime64, end: np.datetime64 | None) -> np.ndarray:
        """Titles nobody could watch from ``start`` to ``end`` (None: open-ended): retired at
        or before ``start``, or released after ``end``."""
        retired = self.moments("retired_at")
        out = ~np.isnat(retired) & (retired <= np.datetime64(start, "us"))
        if end is not None:
            released = self.moments("released_at")
            out |= ~np.isnat(released) & (released > np.datetime64(end, "us"))
        return out


@dataclass(frozen=True)
class Sessions:
    """Every session as aligned arrays (``started_at`` only when asked for)."""

    user_id: np.ndarray  # int64
    title: np.ndarray  # int32 catalogue row
    minutes: np.ndarray
    completion: np.ndarray
    rating: np.ndarray  # NaN when unrated
    started_at: np.ndarray | None = None  # datetime64[us] UTC

    @property
    def size(self) -> int:
        """Number of sessions."""
        return len(self.user_id)

    def subset(self, mask: np.ndarray) -> Sessions:
        """The sessions where ``mask`` is true."""
        return Sessions(
            self.user_id[mask],
            self.title[mask],
            self.minutes[mask],
            self.completion[mask],
            self.rating[mask],
            None if self.started_at is None else self.started_at[mask],
        )


@dataclass(frozen=True)
class Dataset:
    """What the marts hold: titles, every user, every session."""

    titles: Titles
    user_ids: np.ndarray  # every user of dim_users, sorted
    sessions: Sessions


@dataclass(frozen=True)
class Feedback:
    """Sessions as implicit feedback: pairs over the users with history (the rows)."""

    user_ids: np.ndarray  # row i is user user_ids[i]; sorted
    interactions: Interactions

    @property
    def viewers(self) -> np.ndarray:
        """Distinct users who watched each title."""
        return np.bincount(self.interactions.title, minlength=self.interactions.title_count).astype(
            np.int64
        )


@dataclass(frozen=True)
class Viewing:
    """What the recommender learns from: titles, every user, and the (user, title) pairs.

    ``period``: (the first session's start, the end of the sessions: the last one's
    start, or a hold-out's cutoff), UTC; None when unknown. How long each title has
    been out in it says how much its viewers mean.
    """

    titles: Titles
    user_ids: np.ndarray  # every user of dim_users, sorted
    feedback: Feedback
    period: tuple[np.datetime64, np.datetime64] | None = None


def viewing(dataset: Dataset, end: np.datetime64 | None = None) -> Viewing:
    """A dataset's sessions aggregated into pairs (as the build does for the marts);
    ``end``: where its period ends (default: the last session's start)."""
    started = dataset.sessions.started_at
    period = None
    if started is not None and len(started):
        last = started.max() if end is None else end
        period = (np.datetime64(started.min(), "us"), np.datetime64(last, "us"))
    return Viewing(
        dataset.titles,
        dataset.user_ids,
        feedback(dataset.sessions, dataset.titles.size),
        period,
    )


def feedback(sessions: Sessions, title_count: int) -> Feedback:
    """Aggregate sessions into (user, title) pairs; rows are the users with sessions."""
    user_ids, rows = _dense_rows(sessions.user_id)
    interactions = aggregate(
        rows,
        sessions.title,
        sessions.minutes,
        sessions.completion,
        sessions.rating,
        user_count=len(user_ids),
        title_count=title_count,
    )
    return Feedback(user_ids=user_ids, interactions=interactions)


def _dense_rows(user_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct user ids, each session's row among them): ``np.unique`` with
    ``return_inverse``, by a look-up table when ids are dense (simulated ids are)."""
    if not len(user_id):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    low, high = int(user_id.min()), int(user_id.max())
    if low < 0 or high > 4 * len(user_id) + 1_000_000:
        return np.unique(user_id, return_inverse=True)
    present = np.zeros(high + 1, dtype=bool)
    present[user_id] = True
    row_of = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.int64), row_of[user_id]


#: The recommender's queries are PostgreSQL's SQL; what Spark's SQL spells otherwise.
#: Spark orders strings by their bytes already; its timestamps are instants.
_SPARK_SPELLINGS = {
    ' collate "C"': "",
    "::timestamptz": "::timestamp",
    "as double precision)": "as double)",
}


def for_engine(warehouse: python_api.Warehouse, query: str) -> str:
    """``query`` as the engine ``warehouse`` reads spells it."""
    if warehouse.engine == "spark":
        for postgres, spark in _SPARK_SPELLINGS.items():
            query = query.replace(postgres, spark)
    return query


def read_marts(
    warehouse: python_api.Warehouse, query: str, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    """``warehouse.read(query, params)``, its errors as the recommender's: EmptyMartsError
    when the marts are not built, RecommenderError otherwise."""
    with _marts_errors():
        return warehouse.read(for_engine(warehouse, query), params)


@contextmanager
def _marts_errors() -> Iterator[None]:
    try:
        yield
    except python_api.ApiError as error:
        text = str(error)
        if "does not exist" in text or "TABLE_OR_VIEW_NOT_FOUND" in text:
            raise EmptyMartsError(f"the marts are not built ({text.splitlines()[0]})") from None
        raise RecommenderError(f"cannot read the marts: {text}") from None


def read_titles(warehouse: python_api.Warehouse) -> Titles:
    """The catalogue; EmptyMartsError when dim_titles is empty."""
    frame = read_marts(warehouse, TITLES_QUERY)
    if frame.empty:
        raise EmptyMartsError("marts.dim_titles has no titles (run `recdb load` too)")
    facets = {
        name: read_marts(warehouse, FACET_QUERY.format(bridge=bridge, column=column))
        for name, (bridge, column) in FACETS.items()
    }
    return Titles(
        title_ids=frame["title_id"].astype(str).to_numpy(dtype=object),
        is_all_time_best=frame["is_all_time_best"].to_numpy(dtype=bool),
        is_year_best=frame["is_year_best"].to_numpy(dtype=bool),
        features=title_features(frame, facets),
        released_at=_utc_moments(frame["released_at"]),
        retired_at=_utc_moments(frame["retired_at"]),
        is_retired=frame["is_retired"].fillna(False).to_numpy(dtype=bool),
    )


def _utc_moments(column: pd.Series) -> np.ndarray:
    """A timestamp column as datetime64[us] UTC without a zone (NaT for null; a column
    without a zone is UTC already, as Spark may send it)."""
    moments = pd.to_datetime(column, utc=True)
    return moments.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def read_retired(warehouse: python_api.Warehouse, titles: Titles) -> np.ndarray:
    """Whether each title is retired: ``dim_titles.is_retired``, or retired since the last
    build (in ``sim.retired_titles``, which PostgreSQL checks a run's titles against;
    left at the marts' word when it cannot be read)."""
    retired = titles.retired.copy()
    try:
        listed = warehouse.read(for_engine(warehouse, RETIRED_QUERY))["title_id"]
    except python_api.ApiError as error:
        logger.debug("sim.retired_titles not read (%s): the marts' is_retired only", error)
        return retired
    retired |= pd.Index(titles.title_ids).isin(listed.astype(str))
    return retired


def read_user_ids(warehouse: python_api.Warehouse) -> np.ndarray:
    """Every user id of dim_users, sorted."""
    return read_marts(warehouse, USERS_QUERY)["user_id"].to_numpy(dtype=np.int64)


def read_sessions(warehouse: python_api.Warehouse, *, with_times: bool = False) -> Sessions:
    """Every session of fact_sessions; EmptyMartsError when there is none."""
    extra = ",\n    sessions.started_at" if with_times else ""
    frame = read_marts(warehouse, SESSIONS_QUERY.format(extra=extra))
    if frame.empty:
        raise EmptyMartsError()
    started = None
    if with_times:
        started = frame["started_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return Sessions(
        user_id=frame["user_id"].to_numpy(dtype=np.int64),
        title=frame["title_index"].to_numpy(dtype=np.int32),
        minutes=frame["minutes_watched"].to_numpy(dtype=np.float64),
        completion=frame["completion_ratio"].to_numpy(dtype=np.float64),
        rating=frame["rating"].to_numpy(dtype=np.float64, na_value=np.nan),
        started_at=started,
    )


def read_feedback(warehouse: python_api.Warehouse, title_count: int) -> Feedback:
    """The (user, title) pairs of agg_user_title_viewing; EmptyMartsError when there is
    none."""
    pairs = read_pairs(warehouse, PAIRS_QUERY, None, title_count)
    if not pairs.interactions.size:
        raise EmptyMartsError()
    return pairs


#: Rows of each chunk the pairs are read in.
PAIR_CHUNK_ROWS = 1_000_000
#: :data:`PAIRS_QUERY`'s columns: the array each fills, and its type.
_PAIR_COLUMNS = {
    "user_id": ("user_id", np.int64),
    "title": ("title_index", np.int32),
    "sessions": ("session_count", np.int32),
    "minutes": ("minutes_watched", np.float64),
    "completion": ("mean_completion_ratio", np.float64),
    "rating": ("mean_rating", np.float64),
}


def read_pairs(
    warehouse: python_api.Warehouse,
    query: str,
    params: dict[str, Any] | None,
    title_count: int,
) -> Feedback:
    """:class:`Feedback` of the (user, title) pairs ``query`` returns, with
    :data:`PAIRS_QUERY`'s columns (any order; each pair once).

    Read in chunks of :data:`PAIR_CHUNK_ROWS` into the pairs' own arrays (40 bytes a
    pair): the whole result as Arrow and then as pandas beside them was 250 bytes a
    pair, the peak of ``recdb evaluate`` at 100 million sessions (12.3 GiB).
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _PAIR_COLUMNS}
    with _marts_errors():
        chunks = warehouse.read_chunks(for_engine(warehouse, query), params, rows=PAIR_CHUNK_ROWS)
        for chunk in chunks:
            for name, (column, dtype) in _PAIR_COLUMNS.items():
                values = chunk[column]
                parts[name].append(
                    values.to_numpy(dtype=dtype, na_value=np.nan)
                    if name == "rating"
                    else values.to_numpy(dtype=dtype)
                )
    columns = {
        name: np.concatenate(parts.pop(name) or [np.empty(0, dtype=dtype)])
        for name, (_, dtype) in _PAIR_COLUMNS.items()
    }
    return _sorted_feedback(columns, title_count)


def _sorted_feedback(columns: dict[str, np.ndarray], title_count: int) -> Feedback:
    """Feedback of the pairs' columns (``user_id`` and :class:`Interactions`' others),
    sorted by user then title; ``columns`` is consumed, each array replaced by its sorted
    copy in turn, so the sort holds one extra column and its order at a time."""
    user_ids, rows = _dense_rows(columns.pop("user_id"))
    key = rows * np.int64(title_count)
    key += columns["title"]
    order = np.argsort(key)  # the keys are distinct: any sort gives the same order
    del key
    rows = rows[order]
    for name in list(columns):
        columns[name] = columns[name][order]
    del order
    interactions = Interactions(
        user=rows, **columns, user_count=len(user_ids), title_count=title_count
    )
    return Feedback(user_ids=user_ids, interactions=interactions)


#: The first and the last start of a session (agg_user_title_viewing's, as fact_sessions').
PERIOD_QUERY = """
select
    min(first_started_at) as first_started_at,
    max(last_started_at) as last_started_at
from marts.agg_user_title_viewing
"""


def read_period(
    warehouse: python_api.Warehouse, query: str = PERIOD_QUERY, params: dict[str, Any] | None = None
) -> tuple[np.datetime64, np.datetime64] | None:
    """(first, last) of the two timestamps ``query`` returns, UTC; None when null."""
    row = read_marts(warehouse, query, params).iloc[0]
    if pd.isna(row.iloc[0]) or pd.isna(row.iloc[1]):
        return None
    first, last = (_utc_moments(pd.Series([value]))[0] for value in row)
    return first, last


def read_viewing(warehouse: python_api.Warehouse) -> Viewing:
    """Titles, users and their (user, title) pairs from the marts."""
    titles = read_titles(warehouse)
    pairs = read_feedback(warehouse, titles.size)
    user_ids = read_user_ids(warehouse)
    logger.info(
        "read %d (user, title) pairs of %d users over %d titles",
        pairs.interactions.size,
        len(user_ids),
        titles.size,
    )
    return Viewing(titles=titles, user_ids=user_ids, feedback=pairs, period=read_period(warehouse))


def read_dataset(warehouse: python_api.Warehouse, *, with_times: bool = False) -> Dataset:
    """Titles, users and sessions from the marts."""
    titles = read_titles(warehouse)
    sessions = read_sessions(warehouse, with_times=with_times)
    user_ids = read_user_ids(warehouse)
    logger.info(
        "read %d sessions of %d users over %d titles",
        sessions.size,
        len(user_ids),
        titles.size,
    )
    return Dataset(titles=titles, user_ids=user_ids, sessions=sessions)
