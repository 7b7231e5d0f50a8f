"""The oracle for ``recdb evaluate``: each user's top titles by the hidden utility that
drove the simulation, the ceiling any recommender is scored against.

The recommender knows nothing of the simulation: the command line hands it a
:class:`TasteOracle`, which reads the ground truth from ``sim.user_tastes``. It scores
the simulated titles of the marts (``source = 'simulation'``) too: by their genres and
IMDb score as catalogue titles, and by the popularity their history in the marts gives
them (:func:`scoring_catalogue`), as the simulation's users discovered them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

import python_api
from simulation.catalogue import Catalogue, catalogue_from_frames, read_catalogue_frames
from simulation.config import SimulationConfig, load_config
from simulation.discovery import HISTORY_PRIOR_DAYS, history_popularity
from simulation.errors import SimulationError
from simulation.releases import releases_from_titles
from simulation.tastes import oracle_scores
from simulation.users import DAY, epoch_seconds

logger = logging.getLogger(__name__)

#: Users scored at once (their utilities are users x titles floats).
_CHUNK_USERS = 5_000


#: The tastes of the users of a list, on each engine (Spark has no ``= any(array)``).
_TASTES_OF_USERS = {
    "postgres": "select user_id, genre_affinities, popularity_bias from sim.user_tastes"
    " where user_id = any(%s)",
    "spark": "select user_id, genre_affinities, popularity_bias from sim.user_tastes"
    " where array_contains(%s, user_id)",
}


class TasteOracle:
    """Ranks titles for users by their hidden tastes (``sim.user_tastes``).

    ``config``: the simulation config the users were simulated with (a
    :class:`SimulationConfig`, a TOML path, or None for the defaults).
    """

    def __init__(self, config: SimulationConfig | Path | str | None = None) -> None:
        self.config = config if isinstance(config, SimulationConfig) else load_config(config)

    def __call__(
        self,
        warehouse: python_api.Warehouse,
        user_ids: np.ndarray,
        title_ids: np.ndarray,
        seen: sparse.csr_matrix,
        k: int,
    ) -> np.ndarray | None:
        """The top ``k`` unseen titles of each user, as indices into ``title_ids`` (one row
        per user of ``user_ids``; ``seen`` marks each user's titles to leave out), or None
        when ``sim.user_tastes`` has no ground truth for some of the users."""
        tastes = _read_tastes(warehouse, user_ids)
        if tastes is None:
            return None
        catalogue = scoring_catalogue(warehouse, self.config)
        position = pd.Index(catalogue.title_ids).get_indexer(title_ids)
        if (position < 0).any():
            raise SimulationError("the simulation's catalogue does not match marts.dim_titles")
        out = np.empty((len(tastes), k), dtype=np.int64)
        for start in range(0, len(tastes), _CHUNK_USERS):
            chunk = slice(start, start + _CHUNK_USERS)
            scores = oracle_scores(tastes.iloc[chunk], catalogue, self.config)[:, position]
            rows, cols = seen[chunk].nonzero()
            scores[rows, cols] = -np.inf
            top = np.argpartition(-scores, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            out[chunk] = np.take_along_axis(top, order, axis=1)
        return out


def _read_tastes(warehouse: python_api.Warehouse, user_ids: np.ndarray) -> pd.DataFrame | None:
    """The hidden tastes of ``user_ids`` (in that order), or None when sim has none for them.

    Only those users are read: every user's tastes were (a list of affinities each, for
    10 million users at 100 million sessions, to score at most ``evaluation.max_users``)."""
    try:
        query = _TASTES_OF_USERS[warehouse.engine]
        tastes = warehouse.read(query, [user_ids.tolist()])
    except python_api.ApiError as error:
        logger.warning("no oracle: cannot read sim.user_tastes (%s)", error)
        return None
    tastes = tastes.set_index("user_id")
    if not np.isin(user_ids, tastes.index.to_numpy()).all():
        logger.warning("no oracle: sim.user_tastes lacks some test users")
        return None
    return tastes.loc[user_ids].reset_index()


def scoring_catalogue(
    warehouse: python_api.Warehouse, config: SimulationConfig | None = None
) -> Catalogue:
    """The catalogue of the marts, simulated titles included, as the oracle scores it.

    A simulated title's popularity is that of catalogue titles watched as much
    (:func:`simulation.discovery.history_popularity`): its sessions in the marts per the
    share of the period (``config``'s) it has been out, plus a week's worth, against
    each catalogue title's sessions over the whole period.
    """
    config = config or load_config()
    titles, title_genres, genres = read_catalogue_frames(warehouse)
    catalogue = catalogue_from_frames(titles, title_genres, genres)
    simulated = titles[titles["source"].astype(str) == "simulation"]
    if simulated.empty:
        return catalogue
    ordered = title_genres.sort_values(["title_id", "genre_position"], kind="stable")
    listed = ordered.groupby("title_id", sort=False)["genre_id"].agg(list)
    frame = simulated.assign(
        genres=[listed.get(title, []) for title in simulated["title_id"].astype(str)]
    )
    releases = releases_from_titles(frame, catalogue)
    sessions = warehouse.read("select title_id, session_count from marts.agg_title_viewing")
    counts = sessions.set_index(sessions["title_id"].astype(str))["session_count"]
    start, end = epoch_seconds(config.period.start), epoch_seconds(config.period.end)
    out = np.clip((end - np.maximum(releases.released_at, start)) / (end - start), 0.0, 1.0)
    prior = HISTORY_PRIOR_DAYS * DAY / (end - start)
    rates = counts.reindex(releases.title_ids).fillna(0).to_numpy(np.float64) / (out + prior)
    catalogue_rates = counts.reindex(catalogue.title_ids).fillna(0).to_numpy(np.float64)
    return catalogue.extended(
        releases.title_ids,
        releases.is_show,
        releases.runtime_minutes,
        releases.genre_weights,
        history_popularity(rates, catalogue_rates, catalogue.popularity),
        releases.quality,
    )
