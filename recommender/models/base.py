"""What every model of the family shares: the data it learns from, and what a fitted one does.

A model class (a :class:`Ranker`) has a ``name`` (``recdb recommend --model
NAME``), a config section of its hyper-parameters (``[NAME]`` in
``recommender.toml``) and a search ``space`` for ``recdb tune``. ``fit``
learns from a :class:`TrainingData`; the fitted model scores titles for rows
of training users (:meth:`Ranker.user_scores`, from their history), and saves
and loads the arrays it needs (:meth:`Ranker.arrays`, :meth:`Ranker.from_arrays`).
Users without history get the best-of list whatever the model (the one that
``marts.cold_start_titles`` holds for the web API too): the content model's
list for the audience's genres did no better on them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recdb.core.config import Section
from recommender.data import Titles


@dataclass(frozen=True)
class TrainingData:
    """What the models learn from: the training users' feedback and the catalogue."""

    confidence: sp.csr_matrix  # users x titles, the confidence formula's weights
    seen: sp.csr_matrix  # users x titles, 1 where watched
    viewers: np.ndarray  # distinct users who watched each title
    titles: Titles
    best_of: np.ndarray  # each title's score on the best-of (cold-start) list
    threads: int = 0  # 0: every core
    #: (first session's start, the sessions' end), UTC, or None: how long each title
    #: released in it (``titles.released_at``) was out
    period: tuple[np.datetime64, np.datetime64] | None = None


@dataclass(frozen=True)
class Param:
    """How ``recdb tune`` draws one hyper-parameter: uniform from ``low`` to ``high``
    (on a log scale when ``log``), a whole number when ``integer``, or one of ``choices``."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()

    def draw(self, rng: np.random.Generator) -> Any:
        """One value."""
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.integer:
            return int(round(value))
        return float(f"{value:.4g}")


class Ranker(ABC):
    """A fitted model of the family."""

    name: ClassVar[str]
    Config: ClassVar[type[Section]]
    space: ClassVar[dict[str, Param]] = {}

    def __init__(self, config: Section) -> None:
        self.config = config

    @classmethod
    @abstractmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Learn from ``data`` with the hyper-parameters ``config``."""

    @abstractmethod
    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Scores of every title (float32, len(rows) x titles; higher is better) for training
        users ``rows``, whose history (titles watched, ones) is ``history``."""

    @abstractmethod
    def title_vectors(self) -> np.ndarray:
        """A vector per title (titles x d) whose cosine says how alike two titles are."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs to rebuild the fitted model (saved with a run)."""

    @classmethod
    @abstractmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """The fitted model saved by :meth:`arrays`."""


def standardised_rows(scores: np.ndarray) -> np.ndarray:
    """Each row minus its mean, over its standard deviation (a row of one value: zeros).

    In place when ``scores`` is a float32 array (the models' own, thrown away after):
    four passes over the block and no temporary as large as it.
    """
    scores = np.asarray(scores, dtype=np.float32)
    scores -= scores.mean(axis=1, keepdims=True)
    spread = np.sqrt(np.einsum("ij,ij->i", scores, scores) / max(scores.shape[1], 1))
    spread[spread == 0] = 1.0
    scores /= spread[:, None].astype(np.float32)
    return scores
