"""The oracle for ``recdb evaluate``: each user's top titles by the hidden utility that
drove the simulation, the ceiling any recommender is scored against.

The recommender knows nothing of the simulation: the command line hands it a
:class:`TasteOracle`, which reads the ground truth from ``sim.user_tastes``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

import python_api
from simulation.catalogue import read_catalogue
from simulation.config import SimulationConfig, load_config
from simulation.errors import SimulationError
from simulation.tastes import oracle_scores

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
        catalogue = read_catalogue(warehouse)
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
