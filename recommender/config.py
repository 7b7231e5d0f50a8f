"""The recommender's hyper-parameters: a TOML file, validated into frozen pydantic models.

The defaults live in ``recommender/recommender.toml`` (every key documented
there). A file of your own (``recdb recommend --config my.toml``) overrides any
subset of keys. Every problem is a :class:`RecommenderConfigError` naming the
dotted key and the range it allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from recdb.core.config import Section, SectionedConfig
from recommender.errors import RecommenderConfigError

DEFAULT_CONFIG_NAME = "recommender.toml"
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class AlsConfig(Section):
    """implicit's AlternatingLeastSquares."""

    factors: int = Field(ge=1, le=1024)
    regularization: float = Field(ge=0, le=1e6)
    iterations: int = Field(ge=1, le=1000)
    seed: Seed
    threads: int = Field(ge=0, le=1024)


class ConfidenceConfig(Section):
    """How sessions become implicit-feedback confidence (see :mod:`recommender.confidence`)."""

    alpha: float = Field(ge=0, le=1e6)
    minutes_weight: float = Field(ge=0, le=100)
    minutes_scale: float = Field(gt=0, le=1e5)
    completion_weight: float = Field(ge=0, le=100)
    rating_weight: float = Field(ge=0, le=100)
    floor: float = Field(ge=0, le=100)


class RecommendConfig(Section):
    """Writing the lists."""

    batch_users: int = Field(ge=1, le=10_000_000)


class EvaluationConfig(Section):
    """The time-based hold-out of ``recdb evaluate``."""

    holdout_share: float = Field(gt=0, le=0.9)
    max_users: int = Field(ge=1, le=100_000_000)
    seed: Seed


class RecommenderConfig(SectionedConfig):
    """Every hyper-parameter, validated. Build with :func:`load_config`.

    ``source`` says where it came from (``defaults``, a file path, ``overrides``).
    """

    error = RecommenderConfigError
    package = "recommender"
    default_file = DEFAULT_CONFIG_NAME
    name_kinds = True

    als: AlsConfig
    confidence: ConfidenceConfig
    recommend: RecommendConfig
    evaluation: EvaluationConfig


def default_config_text() -> str:
    """The documented default config file, as text (a starting point for your own)."""
    return RecommenderConfig.default_text()


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> RecommenderConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`RecommenderConfigError` for a missing or malformed file, an
    unknown section or key, or a value of the wrong type or out of range.
    """
    return RecommenderConfig.load(path, overrides)


def as_config(config: RecommenderConfig | Path | str | None) -> RecommenderConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, RecommenderConfig):
        return config
    return load_config(config)
