"""Titles scored by the titles a user watched: implicit's item-item nearest neighbours
(cosine or BM25 similarity) and EASE (Steck 2019), a closed-form item-item regression."""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from recdb.core.config import Section
from recommender.models.base import Param, Ranker, TrainingData


class ItemKnnConfig(Section):
    """implicit's item-item nearest neighbours."""

    similarity: Literal["cosine", "bm25"]
    neighbours: int = Field(ge=1, le=10_000)
    bm25_k1: float = Field(ge=0, le=1000)
    bm25_b: float = Field(ge=0, le=1)


class EaseConfig(Section):
    """EASE: an item-item regression with a zero diagonal, in closed form."""

    regularization: float = Field(gt=0, le=1e9)


class ItemItemModel(Ranker):
    """A user's score of a title: the sum of the title's weights from each title watched
    (``history @ weights``)."""

    def __init__(self, config: Section, weights: np.ndarray | sp.csr_matrix) -> None:
        super().__init__(config)
        self.weights = weights

    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """``history @ weights``."""
        scores = history @ self.weights
        if sp.issparse(scores):
            scores = scores.toarray()
        return np.asarray(scores, dtype=np.float32)

    def title_vectors(self) -> np.ndarray:
        """Each title's row of weights (the titles it points to)."""
        weights = self.weights.toarray() if sp.issparse(self.weights) else self.weights
        return np.asarray(weights, dtype=np.float32)


class ItemKnn(ItemItemModel):
    """implicit's CosineRecommender or BM25Recommender."""

    name: ClassVar[str] = "item_knn"
    Config = ItemKnnConfig
    space: ClassVar[dict[str, Param]] = {
        "similarity": Param(choices=("cosine", "bm25")),
        "neighbours": Param(5, 2000, log=True, integer=True),
        "bm25_k1": Param(0.1, 100, log=True),
        "bm25_b": Param(0.0, 1.0),
    }

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """The ``neighbours`` most similar titles of each title, from the confidence matrix."""
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from implicit.utils import ParameterWarning

        assert isinstance(config, ItemKnnConfig)
        if config.similarity == "bm25":
            model = BM25Recommender(
                K=config.neighbours, K1=config.bm25_k1, B=config.bm25_b, num_threads=data.threads
            )
        else:
            model = CosineRecommender(K=config.neighbours, num_threads=data.threads)
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            # implicit's own BM25 weighting hands its fit a COO matrix, and warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(data.confidence, show_progress=False)
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        return cls(config, similarity)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sparse similarity matrix."""
        weights = sp.csr_matrix(self.weights)
        return {
            "data": weights.data,
            "indices": weights.indices,
            "indptr": weights.indptr,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """The model :meth:`arrays` saved."""
        size = len(arrays["indptr"]) - 1
        weights = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(size, size)
        )
        return cls(config, weights)


class Ease(ItemItemModel):
    """EASE: ``B = I - P / diag(P)`` with ``P = (X'X + regularization I)^-1`` on who watched
    what (titles x titles; 6,000 titles take 150 MB)."""

    name: ClassVar[str] = "ease"
    Config = EaseConfig
    space: ClassVar[dict[str, Param]] = {"regularization": Param(1, 20_000, log=True)}

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Solve for the item-item weights in closed form (one titles x titles inverse)."""
        assert isinstance(config, EaseConfig)
        seen = sp.csr_matrix(data.seen, dtype=np.float64)
        gram = (seen.T @ seen).toarray()
        gram[np.diag_indices_from(gram)] += config.regularization
        precision = np.linalg.inv(gram)
        weights = precision / -np.diag(precision)
        np.fill_diagonal(weights, 0.0)
        return cls(config, weights.astype(np.float32))

    def arrays(self) -> dict[str, np.ndarray]:
        """The item-item weights."""
        return {"weights": np.asarray(self.weights)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """The model :meth:`arrays` saved."""
        return cls(config, arrays["weights"])
