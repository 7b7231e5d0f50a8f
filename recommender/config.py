"""The recommender's hyper-parameters: a TOML file, validated into frozen pydantic models.

The defaults live in ``recommender/recommender.toml`` (every key documented
there). A file of your own (``recdb recommend --config my.toml``) overrides any
subset of keys. Every problem is a :class:`RecommenderConfigError` naming the
dotted key and the range it allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from recdb.core.config import Section, SectionedConfig
from recommender.errors import RecommenderConfigError
from recommender.models.content import ContentConfig
from recommender.models.factors import AlsConfig, BprConfig
from recommender.models.hybrid import HybridConfig
from recommender.models.neighbours import EaseConfig, ItemKnnConfig

DEFAULT_CONFIG_NAME = "recommender.toml"
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class ConfidenceConfig(Section):
    """How sessions become implicit-feedback confidence (see :mod:`recommender.confidence`)."""

    alpha: float = Field(ge=0, le=1e6)
    minutes_weight: float = Field(ge=0, le=100)
    minutes_scale: float = Field(gt=0, le=1e5)
    completion_weight: float = Field(ge=0, le=100)
    rating_weight: float = Field(ge=0, le=100)
    floor: float = Field(ge=0, le=100)


class RecommendConfig(Section):
    """Which model ranks, and writing the lists."""

    model: Literal["als", "bpr", "item_knn", "ease", "content", "hybrid"]
    threads: int = Field(ge=0, le=1024)
    batch_users: int = Field(ge=1, le=10_000_000)


class EvaluationConfig(Section):
    """The time-based splits of ``recdb evaluate`` and ``recdb tune``."""

    holdout_share: float = Field(gt=0, le=0.9)
    validation_share: float = Field(gt=0, le=0.9)
    max_users: int = Field(ge=1, le=100_000_000)
    bootstrap_samples: int = Field(ge=0, le=100_000)
    seed: Seed


class RecommenderConfig(SectionedConfig):
    """Every hyper-parameter, validated. Build with :func:`load_config`.

    ``source`` says where it came from (``defaults``, a file path, ``overrides``).
    """

    error = RecommenderConfigError
    package = "recommender"
    default_file = DEFAULT_CONFIG_NAME
    name_kinds = True

    recommend: RecommendConfig
    confidence: ConfidenceConfig
    als: AlsConfig
    bpr: BprConfig
    item_knn: ItemKnnConfig
    ease: EaseConfig
    content: ContentConfig
    hybrid: HybridConfig
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
