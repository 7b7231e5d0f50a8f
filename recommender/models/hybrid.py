"""The hybrid: the content model for users with little history, a collaborative model for
users with much, and a blend in between.

Both models' scores are standardised per user (mean 0, sd 1 over the catalogue), then
blended with the collaborative model's weight ``w = n / (n + history_halfway)`` for a
user who watched ``n`` titles (0 without history, a half at ``history_halfway`` titles,
towards 1 with many)::

    score = w * collaborative + (1 - w) * content
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


class Hybrid(Ranker):
    """Content for short histories, collaborative filtering for long ones."""

    name: ClassVar[str] = "hybrid"
    Config = HybridConfig
    space: ClassVar[dict[str, Param]] = {
        "collaborative": Param(choices=("als", "ease", "item_knn")),
        "history_halfway": Param(0.5, 200, log=True),
    }

    def __init__(self, config: Section, content: Ranker, collaborative: Ranker) -> None:
        super().__init__(config)
        self.content = content
        self.collaborative = collaborative

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Not used: the hybrid is fitted from its parts (:func:`recommender.models.fit`)."""
        raise NotImplementedError("fit the hybrid with recommender.models.fit")

    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """The blend of the module docstring."""
        assert isinstance(self.config, HybridConfig)
        counts = np.diff(sp.csr_matrix(history).indptr).astype(np.float32)
        weight = (counts / (counts + np.float32(self.config.history_halfway)))[:, None]
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
        """Both parts' arrays, prefixed ``content.`` and ``collaborative.``."""
        return {
            **{f"content.{k}": v for k, v in self.content.arrays().items()},
            **{f"collaborative.{k}": v for k, v in self.collaborative.arrays().items()},
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """Not used: see :func:`recommender.models.from_arrays`."""
        raise NotImplementedError("load the hybrid with recommender.models.from_arrays")


def parts(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays of one part, prefix removed."""
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}


__all__ = ["Content", "Hybrid", "HybridConfig", "parts"]
