"""Matrix factorisation with implicit: ALS (the confidence-weighted least squares of Hu,
Koren and Volinsky) and BPR (Rendle's pairwise ranking). A user's score of a title is
the dot product of their factors. ALS has a second trainer, Spark MLlib
(``als.trainer = "spark"``, :mod:`recommender.models.spark_als`), for the same model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from recdb.core.config import Section
from recommender.models.base import Param, Ranker, TrainingData

Seed = Field(ge=0, le=2**32 - 1)
#: Who fits ALS: implicit in this process, or Spark MLlib (recdb.core.spark's session).
Trainer = Literal["implicit", "spark"]
TRAINERS: tuple[str, ...] = get_args(Trainer)


class AlsConfig(Section):
    """implicit's AlternatingLeastSquares, or Spark MLlib's ALS (``trainer``)."""

    factors: int = Field(ge=1, le=1024)
    regularization: float = Field(ge=0, le=1e6)
    iterations: int = Field(ge=1, le=1000)
    seed: int = Seed
    # A default, unlike the other keys, so that a run saved before the key existed
    # loads (its config is validated again) as the implicit run it was.
    trainer: Trainer = "implicit"


class BprConfig(Section):
    """implicit's BayesianPersonalizedRanking."""

    factors: int = Field(ge=1, le=1024)
    learning_rate: float = Field(gt=0, le=10)
    regularization: float = Field(ge=0, le=100)
    iterations: int = Field(ge=1, le=10_000)
    seed: int = Seed


class FactorModel(Ranker):
    """Users and titles as vectors; a score is their dot product."""

    def __init__(
        self,
        config: Section,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
    ) -> None:
        super().__init__(config)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)

    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Dot products of the users' and the titles' factors."""
        return self.user_factors[rows] @ self.item_factors.T

    def title_vectors(self) -> np.ndarray:
        """The item factors."""
        return self.item_factors

    def arrays(self) -> dict[str, np.ndarray]:
        """Both factor matrices."""
        return {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """The model :meth:`arrays` saved."""
        return cls(config, arrays["user_factors"], arrays["item_factors"])

    @classmethod
    def _fit_implicit(
        cls, make: Callable[[], Any], matrix: sp.csr_matrix, config: Section
    ) -> FactorModel:
        """Make implicit's model and fit it on ``matrix`` with BLAS kept to one thread
        (implicit parallelises over users itself, slows down many times when OpenBLAS
        threads compete, and warns when it is made with more)."""
        with threadpool_limits(limits=1, user_api="blas"):
            model = make()
            model.fit(matrix, show_progress=False)
        if hasattr(model, "to_cpu"):
            model = model.to_cpu()
        return cls(config, model.user_factors, model.item_factors)


class Als(FactorModel):
    """ALS on the confidence matrix, fitted by implicit or by Spark MLlib (``trainer``)."""

    name: ClassVar[str] = "als"
    Config = AlsConfig
    space: ClassVar[dict[str, Param]] = {
        "factors": Param(8, 256, log=True, integer=True),
        "regularization": Param(0.01, 300, log=True),
        "iterations": Param(5, 30, integer=True),
    }

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Fit ALS on the confidence matrix with the config's trainer."""
        assert isinstance(config, AlsConfig)
        if config.trainer == "spark":
            from recommender.models.spark_als import fit_factors

            return cls(config, *fit_factors(data.confidence, config))
        from implicit.cpu.als import AlternatingLeastSquares

        def make() -> Any:
            return AlternatingLeastSquares(
                factors=config.factors,
                regularization=config.regularization,
                alpha=1.0,  # the confidence formula already scales by its own alpha
                iterations=config.iterations,
                random_state=config.seed,
                num_threads=data.threads,
                calculate_training_loss=False,
            )

        return cls._fit_implicit(make, data.confidence, config)


class Bpr(FactorModel):
    """implicit's BPR on who watched what."""

    name: ClassVar[str] = "bpr"
    Config = BprConfig
    space: ClassVar[dict[str, Param]] = {
        "factors": Param(8, 256, log=True, integer=True),
        "learning_rate": Param(0.001, 0.3, log=True),
        "regularization": Param(0.0001, 0.3, log=True),
        "iterations": Param(20, 400, log=True, integer=True),
    }

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Fit BPR (sampling is seeded: the same seed, data and threads give the same model)."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        assert isinstance(config, BprConfig)

        def make() -> Any:
            return BayesianPersonalizedRanking(
                factors=config.factors,
                learning_rate=config.learning_rate,
                regularization=config.regularization,
                iterations=config.iterations,
                random_state=config.seed,
                num_threads=data.threads,
            )

        return cls._fit_implicit(make, data.seen, config)
