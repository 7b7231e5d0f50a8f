"""The recommender's hyper-parameters: a TOML file, validated into frozen dataclasses.

The defaults live in ``recommender/recommender.toml`` (every key documented
there). A file of your own (``recdb recommend --config my.toml``) overrides any
subset of keys. Every problem is a :class:`RecommenderConfigError` naming the
dotted key and the range it allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recdb.core.sectioned_config import ConfigSchema, knob
from recommender.errors import RecommenderConfigError

DEFAULT_CONFIG_NAME = "recommender.toml"


@dataclass(frozen=True)
class AlsConfig:
    """implicit's AlternatingLeastSquares."""

    factors: int = knob("int", 1, 1024)
    regularization: float = knob("float", 0, 1e6)
    iterations: int = knob("int", 1, 1000)
    seed: int = knob("int", 0, 2**32 - 1)
    threads: int = knob("int", 0, 1024)


@dataclass(frozen=True)
class ConfidenceConfig:
    """How sessions become implicit-feedback confidence (see :mod:`recommender.confidence`)."""

    alpha: float = knob("float", 0, 1e6)
    minutes_weight: float = knob("float", 0, 100)
    minutes_scale: float = knob("float", 0, 1e5, low_open=True)
    completion_weight: float = knob("float", 0, 100)
    rating_weight: float = knob("float", 0, 100)
    floor: float = knob("float", 0, 100)


@dataclass(frozen=True)
class RecommendConfig:
    """Writing the lists."""

    batch_users: int = knob("int", 1, 10_000_000)


@dataclass(frozen=True)
class EvaluationConfig:
    """The time-based hold-out of ``recdb evaluate``."""

    holdout_share: float = knob("float", 0, 0.9, low_open=True)
    max_users: int = knob("int", 1, 100_000_000)
    seed: int = knob("int", 0, 2**32 - 1)


_SECTIONS: dict[str, type] = {
    "als": AlsConfig,
    "confidence": ConfidenceConfig,
    "recommend": RecommendConfig,
    "evaluation": EvaluationConfig,
}
_SCHEMA = ConfigSchema(_SECTIONS, RecommenderConfigError, "recommender", DEFAULT_CONFIG_NAME)


@dataclass(frozen=True)
class RecommenderConfig:
    """Every hyper-parameter, validated. Build with :func:`load_config`."""

    als: AlsConfig
    confidence: ConfidenceConfig
    recommend: RecommendConfig
    evaluation: EvaluationConfig
    #: Where it came from (``defaults``, a file path, ``overrides``), for messages.
    source: str = field(default="defaults", compare=False)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as nested plain values, like the TOML file."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def with_overrides(self, overrides: Mapping[str, Any]) -> RecommenderConfig:
        """A copy with some keys changed (``{"als.factors": 32}`` or nested), validated."""
        merged = _SCHEMA.merge(self.to_dict(), _SCHEMA.nest(overrides, "overrides"), "overrides")
        return _build(merged, "overrides")


def default_config_text() -> str:
    """The documented default config file, as text (a starting point for your own)."""
    return _SCHEMA.default_text()


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> RecommenderConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`RecommenderConfigError` for a missing or malformed file, an
    unknown section or key, or a value of the wrong type or out of range.
    """
    merged, source = _SCHEMA.load(path, overrides)
    return _build(merged, source)


def as_config(config: RecommenderConfig | Path | str | None) -> RecommenderConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, RecommenderConfig):
        return config
    return load_config(config)


def _build(values: dict[str, Any], source: str) -> RecommenderConfig:
    def check(key: str, meta: Mapping[str, Any], value: Any, source: str) -> int | float:
        return _SCHEMA.check_number(key, meta, value, source, named_kind=True)

    return RecommenderConfig(**_SCHEMA.build_sections(values, source, check), source=source)
