"""The hybrid: the content model for users and titles with little history, a collaborative
model for those with much, and a blend in between.

Both models' scores are standardised per user (mean 0, sd 1 over the catalogue), then
blended with the collaborative model's weight ``w(u, t) = w_u * c_t``:
``w_u = n / (n + history_halfway)`` for a user who watched ``n`` titles (0 without
history, a half at ``history_halfway`` titles, towards 1 with many), and
``c_t = v / (v + title_halfway)`` for a title ``v`` users watched in training::

    score = w(u, t) * collaborative + (1 - w(u, t)) * content

A title nobody watched in training (a new release: the item cold start) has no
collaborative evidence at all (ALS gives it no factors, EASE and item kNN no
neighbours), so ``c_t = 0`` and content alone scores it, on its genres, popularity
and quality; a title watched by many is blended by the user's history alone, as
before titles counted (``title_halfway = 0`` gives exactly that for every title).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recdb.core.config import Section
from recommender.models.base import Param, Ranker, TrainingData, standardised_rows
from recommender.models.content import Content


class HybridConfig(Section):
    """The hybrid's knobs (see :mod:`recommender.models.hybrid`); each part's own
    hyper-parameters are in its own section."""

    collaborative: Literal["als", "bpr", "item_knn", "ease"]
    history_halfway: float = Field(gt=0, le=1e6)
    # A default, so that a run saved before the key existed loads as the run it was.
    title_halfway: float = Field(default=0.0, ge=0, le=1e6)


class Hybrid(Ranker):
    """Content for short histories, collaborative filtering for long ones."""

    name: ClassVar[str] = "hybrid"
    Config = HybridConfig
    space: ClassVar[dict[str, Param]] = {
        "collaborative": Param(choices=("als", "ease", "item_knn")),
        "history_halfway": Param(0.5, 200, log=True),
        "title_halfway": Param(0.1, 100, log=True),
    }

    def __init__(
        self,
        config: Section,
        content: Ranker,
        collaborative: Ranker,
        viewers: np.ndarray | None = None,
    ) -> None:
        super().__init__(config)
        assert isinstance(config, HybridConfig)
        self.content = content
        self.collaborative = collaborative
        #: users who watched each title in training (None: a run saved before titles
        #: counted, blended by the user's history alone)
        self.viewers = None if viewers is None else np.asarray(viewers, dtype=np.float32)
        self.title_weight = title_weights(self.viewers, config.title_halfway)

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Not used: the hybrid is fitted from its parts (:func:`recommender.models.fit`)."""
        raise NotImplementedError("fit the hybrid with recommender.models.fit")

    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """The blend of the module docstring."""
        assert isinstance(self.config, HybridConfig)
        counts = np.diff(sp.csr_matrix(history).indptr).astype(np.float32)
        weight = (counts / (counts + np.float32(self.config.history_halfway)))[:, None]
        if self.title_weight is not None:
            weight = weight * self.title_weight[None, :]
        blended = standardised_rows(self.collaborative.user_scores(rows, history))
        blended *= weight
        content = standardised_rows(self.content.user_scores(rows, history))
        content *= 1 - weight
        blended += content
        return blended

    def title_vectors(self) -> np.ndarray:
        """The collaborative model's."""
        return self.collaborative.title_vectors()

    def arrays(self) -> dict[str, np.ndarray]:
        """Both parts' arrays, prefixed ``content.`` and ``collaborative.``, and the titles'
        training viewers (``viewers``)."""
        own = {} if self.viewers is None else {"viewers": self.viewers}
        return {
            **{f"content.{k}": v for k, v in self.content.arrays().items()},
            **{f"collaborative.{k}": v for k, v in self.collaborative.arrays().items()},
            **own,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """Not used: see :func:`recommender.models.from_arrays`."""
        raise NotImplementedError("load the hybrid with recommender.models.from_arrays")


def title_weights(viewers: np.ndarray | None, halfway: float) -> np.ndarray | None:
    """``c_t = v / (v + halfway)`` per title (float32), or None (every title weighs 1) when
    ``halfway`` is 0 or the viewers are unknown."""
    if viewers is None or halfway <= 0:
        return None
    viewers = np.asarray(viewers, dtype=np.float32)
    return viewers / (viewers + np.float32(halfway))


def parts(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays of one part, prefix removed."""
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}


__all__ = ["Content", "Hybrid", "HybridConfig", "parts", "title_weights"]
