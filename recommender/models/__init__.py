"""The model family: ``recdb recommend --model NAME`` and ``recdb tune --model NAME``.

=========  ==========================================================================
als        alternating least squares on the confidence matrix (implicit, or Spark MLlib)
bpr        implicit's Bayesian personalised ranking on who watched what
item_knn   implicit's item-item nearest neighbours (cosine or BM25)
ease       EASE (Steck 2019): closed-form item-item regression
content    each user's mix of genres (EM), IMDb popularity and quality
hybrid     content for short histories, collaborative for long, blended
=========  ==========================================================================

Each reads its hyper-parameters from its own section of the config (``[als]``,
``[ease]``, ...); :func:`fit` fits one by name, :func:`from_arrays` loads a saved one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recommender.errors import RecommenderError
from recommender.models.base import Param, Ranker, TrainingData
from recommender.models.content import Content
from recommender.models.factors import Als, Bpr
from recommender.models.hybrid import Hybrid, parts
from recommender.models.neighbours import Ease, ItemKnn

if TYPE_CHECKING:
    from recommender.config import RecommenderConfig

MODELS: dict[str, type[Ranker]] = {
    model.name: model for model in (Als, Bpr, ItemKnn, Ease, Content, Hybrid)
}


def check_model(name: str) -> str:
    """``name`` if it is a model of the family, else RecommenderError naming them."""
    if name not in MODELS:
        raise RecommenderError(f"unknown model {name!r} (allowed: {', '.join(MODELS)})")
    return name


def fit(name: str, data: TrainingData, config: RecommenderConfig) -> Ranker:
    """Fit model ``name`` with its section of ``config``."""
    check_model(name)
    if name == "hybrid":
        collaborative = config.hybrid.collaborative
        return Hybrid(
            config.hybrid,
            fit("content", data, config),
            fit(collaborative, data, config),
            data.viewers,
        )
    return MODELS[name].fit(data, getattr(config, name))


def from_arrays(name: str, arrays: dict[str, np.ndarray], config: RecommenderConfig) -> Ranker:
    """The fitted model ``name`` saved as ``arrays`` (:meth:`Ranker.arrays`)."""
    check_model(name)
    if name == "hybrid":
        collaborative = config.hybrid.collaborative
        return Hybrid(
            config.hybrid,
            from_arrays("content", parts(arrays, "content."), config),
            from_arrays(collaborative, parts(arrays, "collaborative."), config),
            arrays.get("viewers"),
        )
    return MODELS[name].from_arrays(arrays, getattr(config, name))


__all__ = ["MODELS", "Param", "Ranker", "TrainingData", "check_model", "fit", "from_arrays"]
