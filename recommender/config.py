"""The recommender's hyper-parameters: a TOML file, validated into frozen dataclasses.

The defaults live in ``recommender/recommender.toml`` (every key documented
there). A file of your own (``recdb recommend --config my.toml``) overrides any
subset of keys. Every problem is a :class:`RecommenderConfigError` naming the
dotted key and the range it allows.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from recommender.errors import RecommenderConfigError

DEFAULT_CONFIG_NAME = "recommender.toml"


@dataclass(frozen=True)
class _Range:
    """The numbers a key admits, and how to say so."""

    low: float
    high: float
    low_open: bool = False

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self, kind: str) -> str:
        what = "a whole number" if kind == "int" else "a number"
        low = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        return f"{what} {low} and <= {self.high:g}"


def _knob(kind: str, low: float, high: float, *, low_open: bool = False) -> Any:
    """A dataclass field whose metadata tells the validator its kind and range."""
    return field(metadata={"kind": kind, "range": _Range(low, high, low_open)})


@dataclass(frozen=True)
class AlsConfig:
    """implicit's AlternatingLeastSquares."""

    factors: int = _knob("int", 1, 1024)
    regularization: float = _knob("float", 0, 1e6)
    iterations: int = _knob("int", 1, 1000)
    seed: int = _knob("int", 0, 2**32 - 1)
    threads: int = _knob("int", 0, 1024)


@dataclass(frozen=True)
class ConfidenceConfig:
    """How sessions become implicit-feedback confidence (see :mod:`recommender.confidence`)."""

    alpha: float = _knob("float", 0, 1e6)
    minutes_weight: float = _knob("float", 0, 100)
    minutes_scale: float = _knob("float", 0, 1e5, low_open=True)
    completion_weight: float = _knob("float", 0, 100)
    rating_weight: float = _knob("float", 0, 100)
    floor: float = _knob("float", 0, 100)


@dataclass(frozen=True)
class RecommendConfig:
    """Writing the lists."""

    batch_users: int = _knob("int", 1, 10_000_000)


@dataclass(frozen=True)
class EvaluationConfig:
    """The time-based hold-out of ``recdb evaluate``."""

    holdout_share: float = _knob("float", 0, 0.9, low_open=True)
    max_users: int = _knob("int", 1, 100_000_000)
    seed: int = _knob("int", 0, 2**32 - 1)


_SECTIONS: dict[str, type] = {
    "als": AlsConfig,
    "confidence": ConfidenceConfig,
    "recommend": RecommendConfig,
    "evaluation": EvaluationConfig,
}


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
        merged = _merge(self.to_dict(), _nest(overrides), "overrides")
        return _build(merged, "overrides")


def default_config_text() -> str:
    """The documented default config file, as text (a starting point for your own)."""
    return resources.files("recommender").joinpath(DEFAULT_CONFIG_NAME).read_text(encoding="utf-8")


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> RecommenderConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`RecommenderConfigError` for a missing or malformed file, an
    unknown section or key, or a value of the wrong type or out of range.
    """
    merged = _parse(default_config_text(), "defaults")
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise RecommenderConfigError(
                f"cannot read the file: {error.strerror or error}", source=source
            ) from None
        merged = _merge(merged, _parse(text, source), source)
    if overrides:
        source = "overrides" if path is None else f"{source} + overrides"
        merged = _merge(merged, _nest(overrides), source)
    return _build(merged, source)


def as_config(config: RecommenderConfig | Path | str | None) -> RecommenderConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, RecommenderConfig):
        return config
    return load_config(config)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecommenderConfigError(f"not valid TOML: {error}", source=source) from None


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." in key:
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
        elif isinstance(value, Mapping):
            nested.setdefault(key, {}).update(value)
        else:
            nested[key] = value
    return nested


def _merge(base: dict[str, Any], update: dict[str, Any], source: str) -> dict[str, Any]:
    """``base`` with ``update``'s keys; unknown sections and keys are errors."""
    merged = {name: dict(values) for name, values in base.items()}
    for section, values in update.items():
        if section not in _SECTIONS:
            raise RecommenderConfigError(
                "unknown section", key=section, allowed=", ".join(_SECTIONS), source=source
            )
        if not isinstance(values, Mapping):
            raise RecommenderConfigError(
                "expected a table of keys", key=section, allowed=f"[{section}]", source=source
            )
        known = [f.name for f in dataclasses.fields(_SECTIONS[section])]
        for name, value in values.items():
            if name not in known:
                raise RecommenderConfigError(
                    "unknown key",
                    key=f"{section}.{name}",
                    allowed=f"keys of [{section}]: {', '.join(known)}",
                    source=source,
                )
            merged.setdefault(section, {})[name] = value
    return merged


def _build(values: dict[str, Any], source: str) -> RecommenderConfig:
    sections = {}
    for name, cls in _SECTIONS.items():
        given = values.get(name, {})
        kwargs = {}
        for f in dataclasses.fields(cls):
            key = f"{name}.{f.name}"
            if f.name not in given:
                raise RecommenderConfigError("missing", key=key, source=source)
            kwargs[f.name] = _check(key, f.metadata, given[f.name], source)
        sections[name] = cls(**kwargs)
    return RecommenderConfig(**sections, source=source)


def _check(key: str, meta: Mapping[str, Any], value: Any, source: str) -> int | float:
    """``value`` as the key's kind, or a RecommenderConfigError naming the range."""
    kind = meta["kind"]
    number_range: _Range = meta["range"]
    valid_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
    if isinstance(value, bool) or not valid_type:
        raise RecommenderConfigError(
            f"expected {'a whole number' if kind == 'int' else 'a number'}, got {value!r}",
            key=key,
            allowed=number_range.describe(kind),
            source=source,
        )
    if not number_range.admits(float(value)):
        raise RecommenderConfigError(
            f"{value!r} is out of range",
            key=key,
            allowed=number_range.describe(kind),
            source=source,
        )
    return int(value) if kind == "int" else float(value)
