"""The catalogue as the simulation sees it: titles as arrays of features, in title_id order.

Built from the marts ``dim_titles``, ``bridge_title_genres`` and ``dim_genres``
(read through python_api), or from DataFrames of the same shape in tests. Only the
loaded catalogue's titles (``source = 'catalog'``): titles added to ``sim.titles``
come out over time, and the simulation handles them apart
(:mod:`simulation.releases`, :mod:`simulation.discovery`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import python_api
from simulation.errors import SimulationError

logger = logging.getLogger(__name__)

#: ``source`` of the loaded catalogue's titles in the marts (simulated ones: ``simulation``).
CATALOG_SOURCE = "catalog"

#: Runtime assumed for a title whose runtime is unknown (0) when no other title
#: of its type has one: minutes for a movie, and for one episode of a show.
FALLBACK_RUNTIME = {"movie": 100.0, "show": 40.0}


@dataclass(frozen=True)
class Catalogue:
    """Title features as aligned arrays (row ``i`` of each is title ``title_ids[i]``).

    * ``genre_ids``: the genres in ``genre_id`` order of ``dim_genres``; the
      order of every taste vector.
    * ``genre_weights``: titles x genres; a title's genres share weight 1
      equally (``1/n`` each for ``n`` genres), a title without genres has a
      row of zeros.
    * ``popularity``: ``ln(1 + imdb_vote_count)`` standardised over the
      catalogue (mean 0, sd 1); an unknown count counts as 0 votes.
    * ``quality``: ``imdb_score`` standardised; an unknown score counts as the mean.
    * ``runtime_minutes``: of the movie, or of one episode of a show; an
      unknown (0) runtime is the median of titles of the same type.
    * ``score_mean``, ``score_sd``: the IMDb scores' mean and standard deviation
      behind ``quality`` (an unknown score counted as the mean), to put other
      titles' scores on the same scale.

    A catalogue :meth:`extended` with simulated titles holds them after the loaded ones.
    """

    title_ids: np.ndarray
    is_show: np.ndarray
    runtime_minutes: np.ndarray
    genre_ids: tuple[str, ...]
    genre_weights: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray
    score_mean: float = 0.0
    score_sd: float = 0.0

    @property
    def size(self) -> int:
        """Number of titles."""
        return len(self.title_ids)

    @property
    def genre_count(self) -> int:
        """Number of genres (the length of a taste vector)."""
        return len(self.genre_ids)

    def quality_of(self, scores: np.ndarray) -> np.ndarray:
        """IMDb scores on the scale of ``quality`` (standardised like the catalogue's);
        an unknown (NaN) score is the mean, 0."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.score_sd == 0 or not np.isfinite(self.score_sd):
            return np.zeros_like(scores)
        return np.where(np.isfinite(scores), (scores - self.score_mean) / self.score_sd, 0.0)

    def genre_weights_of(self, genre_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """titles x genres weights, in this catalogue's genre order, of titles given by
        their lists of genres (each genre weighs ``1/n`` of a title's ``n`` known ones;
        genres not in ``genre_ids`` are ignored)."""
        index = {g: i for i, g in enumerate(self.genre_ids)}
        weights = np.zeros((len(genre_lists), self.genre_count), dtype=np.float64)
        for row, listed in enumerate(genre_lists):
            for genre in listed:
                column = index.get(str(genre))
                if column is not None:
                    weights[row, column] = 1.0
        counts = weights.sum(axis=1, keepdims=True)
        np.divide(weights, counts, out=weights, where=counts > 0)
        return weights

    def extended(
        self,
        title_ids: np.ndarray,
        is_show: np.ndarray,
        runtime_minutes: np.ndarray,
        genre_weights: np.ndarray,
        popularity: np.ndarray,
        quality: np.ndarray,
    ) -> Catalogue:
        """This catalogue with more titles after its own (index ``size + i`` for the
        ``i``-th), their features given on this catalogue's scales."""
        return Catalogue(
            title_ids=np.concatenate([self.title_ids, np.asarray(title_ids, dtype=object)]),
            is_show=np.concatenate([self.is_show, np.asarray(is_show, dtype=bool)]),
            runtime_minutes=np.concatenate(
                [self.runtime_minutes, np.asarray(runtime_minutes, dtype=np.float64)]
            ),
            genre_ids=self.genre_ids,
            genre_weights=np.vstack([self.genre_weights, genre_weights]),
            popularity=np.concatenate([self.popularity, np.asarray(popularity, np.float64)]),
            quality=np.concatenate([self.quality, np.asarray(quality, np.float64)]),
            score_mean=self.score_mean,
            score_sd=self.score_sd,
        )


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    if spread == 0 or not np.isfinite(spread):
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def catalogue_from_frames(
    titles: pd.DataFrame, title_genres: pd.DataFrame, genres: pd.DataFrame
) -> Catalogue:
    """A :class:`Catalogue` from ``dim_titles``, ``bridge_title_genres`` and ``dim_genres`` rows.

    Needs the columns ``title_id``, ``title_type``, ``runtime_minutes``,
    ``imdb_score``, ``imdb_vote_count`` of titles; ``title_id``, ``genre_id``
    of the bridge; ``genre_id`` of genres. Bridge rows of unknown titles or
    genres are ignored. When titles have a ``source`` column, only the loaded
    catalogue's (``catalog``) are kept: simulated titles come out over time.
    """
    if "source" in titles.columns:
        titles = titles[titles["source"].astype(str) == CATALOG_SOURCE]
    if titles.empty:
        raise SimulationError(
            "the catalogue is empty (marts.dim_titles has no rows): run `recdb load` and "
            "`recdb build` first"
        )
    if genres.empty:
        raise SimulationError("marts.dim_genres has no rows: run `recdb build` first")
    ordered = titles.sort_values("title_id", kind="stable").reset_index(drop=True)
    title_ids = ordered["title_id"].astype(str).to_numpy(dtype=object)
    title_type = ordered["title_type"].astype(str).to_numpy()
    is_show = title_type == "show"

    runtime = pd.to_numeric(ordered["runtime_minutes"]).fillna(0).to_numpy(dtype=np.float64)
    for kind, shows in (("movie", False), ("show", True)):
        of_type = is_show == shows
        known = runtime[of_type & (runtime > 0)]
        fill = float(np.median(known)) if known.size else FALLBACK_RUNTIME[kind]
        runtime[of_type & (runtime <= 0)] = fill

    votes = pd.to_numeric(ordered["imdb_vote_count"]).fillna(0).to_numpy(dtype=np.float64)
    popularity = _standardise(np.log1p(np.clip(votes, 0, None)))
    scores = pd.to_numeric(ordered["imdb_score"]).to_numpy(dtype=np.float64, na_value=np.nan)
    mean_score = float(np.nanmean(scores)) if np.isfinite(scores).any() else 0.0
    filled = np.where(np.isfinite(scores), scores, mean_score)
    quality = _standardise(filled)

    genre_ids = tuple(sorted(genres["genre_id"].astype(str)))
    genre_index = {g: i for i, g in enumerate(genre_ids)}
    title_index = {t: i for i, t in enumerate(title_ids)}
    rows = title_genres["title_id"].astype(str).map(title_index)
    cols = title_genres["genre_id"].astype(str).map(genre_index)
    known_pair = rows.notna() & cols.notna()
    if not known_pair.all():
        logger.debug(
            "ignoring %d title-genre rows of unknown titles or genres", (~known_pair).sum()
        )
    weights = np.zeros((len(title_ids), len(genre_ids)), dtype=np.float64)
    weights[rows[known_pair].astype(int).to_numpy(), cols[known_pair].astype(int).to_numpy()] = 1.0
    counts = weights.sum(axis=1, keepdims=True)
    np.divide(weights, counts, out=weights, where=counts > 0)

    return Catalogue(
        title_ids=title_ids,
        is_show=is_show,
        runtime_minutes=runtime,
        genre_ids=genre_ids,
        genre_weights=weights,
        popularity=popularity,
        quality=quality,
        score_mean=mean_score,
        score_sd=float(filled.std()),
    )


def read_catalogue_frames(
    warehouse: python_api.Warehouse,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``dim_titles`` (with ``age_certification``, ``source`` and ``released_at``),
    ``bridge_title_genres`` and ``dim_genres`` rows, as :func:`catalogue_from_frames`
    (and :func:`simulation.releases.read_catalogue_mix`) take them."""
    try:
        titles = warehouse.read(
            "select title_id, title_type, runtime_minutes, imdb_score, imdb_vote_count, "
            "age_certification, source, released_at from marts.dim_titles"
        )
        title_genres = warehouse.read(
            "select title_id, genre_id, genre_position, is_main_genre "
            "from marts.bridge_title_genres"
        )
        genres = warehouse.read("select genre_id from marts.dim_genres")
    except python_api.ValidationError as error:  # e.g. the marts do not exist yet
        raise SimulationError(
            f"cannot read the catalogue from the marts ({error}): run `recdb load` and "
            "`recdb build` first"
        ) from None
    return titles, title_genres, genres


def without_retired(titles: pd.DataFrame, retired: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """``titles`` (dim_titles rows) but those retired (``retired``: sim.retired_titles rows)
    on or before ``start``, the simulated period's first day: off the service all along,
    nobody watches them. A title retired within the period keeps its place (sessions of
    the loaded catalogue's titles are drawn without regard to the day; simulated titles
    respect their retirement day: simulation.discovery)."""
    if retired.empty:
        return titles
    moments = pd.to_datetime(retired["retired_at"], utc=True)
    gone = retired.loc[moments <= pd.Timestamp(start, tz="UTC"), "title_id"]
    return titles[~titles["title_id"].isin(gone)]


def read_catalogue(warehouse: python_api.Warehouse) -> Catalogue:
    """The loaded catalogue's titles from the marts, read through a python_api ``Warehouse``
    (not the simulated titles the marts also hold: :mod:`simulation.releases`)."""
    catalogue = catalogue_from_frames(*read_catalogue_frames(warehouse))
    logger.info(
        "catalogue: %d titles (%d shows), %d genres",
        catalogue.size,
        int(catalogue.is_show.sum()),
        catalogue.genre_count,
    )
    return catalogue
