"""The recommender: a model family on the marts, tuned and honestly evaluated, recommendations
written back.

    import recommender

    report = recommender.recommend(k=10)              # fit the default model, rank, write
    recommender.recommend(model="ease")               # another model of the family
    print(report.describe())
    recommender.user_recommendations(42)              # user 42's list of the latest run
    recommender.similar_titles("tm84618")             # nearest titles by the run's title vectors
    model = recommender.load_model(report.run_id)     # the saved artefacts of a run
    result = recommender.evaluate("out/")             # hold-out metrics, JSON and chart
    tuning = recommender.tune("ease", budget=20)      # knobs chosen on a validation period

The models are in :mod:`recommender.models`; sessions become implicit feedback
with the confidence formula of :mod:`recommender.confidence`; hyper-parameters
live in ``recommender/recommender.toml`` (or a TOML file of your own). Every
error is a :class:`recdb.core.errors.RecdbError`: :class:`EmptyMartsError`,
:class:`UnknownUserError`, :class:`UnknownTitleError`,
:class:`RecommenderConfigError`, :class:`ModelNotFoundError`,
:class:`SplitError`.
"""

from __future__ import annotations

from recommender.api import similar_titles, user_recommendations
from recommender.confidence import Interactions, aggregate, confidence
from recommender.config import (
    RecommenderConfig,
    default_config_text,
    load_config,
)
from recommender.errors import (
    EmptyMartsError,
    ModelNotFoundError,
    RecommenderConfigError,
    RecommenderError,
    UnknownTitleError,
    UnknownUserError,
)
from recommender.evaluate import Evaluation, evaluate, ranking_metrics
from recommender.holdout import SplitError
from recommender.model import TrainedModel, latest_run_id, load_model
from recommender.pipeline import RecommendReport, recommend, train
from recommender.tune import Tuning, tune

__all__ = [
    "EmptyMartsError",
    "Evaluation",
    "Interactions",
    "ModelNotFoundError",
    "RecommendReport",
    "RecommenderConfig",
    "RecommenderConfigError",
    "RecommenderError",
    "SplitError",
    "TrainedModel",
    "Tuning",
    "UnknownTitleError",
    "UnknownUserError",
    "aggregate",
    "confidence",
    "default_config_text",
    "evaluate",
    "latest_run_id",
    "load_config",
    "load_model",
    "ranking_metrics",
    "recommend",
    "similar_titles",
    "train",
    "tune",
    "user_recommendations",
]
