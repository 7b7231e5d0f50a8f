"""The simulation's knobs: a TOML file, validated into frozen dataclasses.

The defaults live in ``simulation/simulation.toml`` (each key documented
there). A file of your own overrides any subset of keys; tables of shares are
replaced whole. Every problem is a :class:`SimulationConfigError` naming the
dotted key and what it allows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from recdb.landing import USERS
from simulation.errors import SimulationConfigError

DEFAULT_CONFIG_NAME = "simulation.toml"
_SHARE_TOLERANCE = 1e-6
_AGE_BAND = re.compile(r"^(\d{1,3})-(\d{1,3})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class _Range:
    """The values a number admits, and how to say so."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts) or "any number"


def _knob(kind: str, low: float | None = None, high: float | None = None, **open_: bool) -> Any:
    """A dataclass field whose metadata tells the validator its kind and range."""
    return field(metadata={"kind": kind, "range": _Range(low, high, **open_)})


def _shares(kind: str) -> Any:
    return field(metadata={"kind": kind})


@dataclass(frozen=True)
class PeriodConfig:
    """When sessions happen: ``[start, end)``, midnight UTC."""

    start: dt.date = _knob("date")
    end: dt.date = _knob("date")


@dataclass(frozen=True)
class UsersConfig:
    """Who the users are: signup spread and demographic mixes (shares sum to 1)."""

    existing_share: float = _knob("float", 0, 1)
    prior_signup_days: int = _knob("int", 1, 36500)
    age_shares: dict[str, float] = _shares("age_shares")
    plan_shares: dict[str, float] = _shares("plan_shares")
    gender_shares: dict[str, float] = _shares("gender_shares")
    country_shares: dict[str, float] = _shares("country_shares")


@dataclass(frozen=True)
class ChurnConfig:
    """How many users cancel during the period, and how soon."""

    share: float = _knob("float", 0, 1)
    mean_tenure_days: float = _knob("float", 1, 36500)


@dataclass(frozen=True)
class TastesConfig:
    """How peaked users' genre tastes are, and how much they stray from them."""

    dirichlet_alpha: float = _knob("float", 0, 1000, low_open=True)
    taste_floor: float = _knob("float", 0, 100, low_open=True)


@dataclass(frozen=True)
class PopularityConfig:
    """How much choice follows IMDb vote counts (per user) and scores (for all)."""

    bias_mean: float = _knob("float", 0, 10)
    bias_shape: float = _knob("float", 0, 1000, low_open=True)
    bias_max: float = _knob("float", 0, 20, low_open=True)
    quality_weight: float = _knob("float", -5, 5)


@dataclass(frozen=True)
class SessionsConfig:
    """How many sessions users have: negative binomial with this mean and dispersion."""

    mean: float = _knob("float", 0, 10000, low_open=True)
    dispersion: float = _knob("float", 0, 100)


@dataclass(frozen=True)
class BingeConfig:
    """Episodes of a show watched in a row."""

    mean_episodes: float = _knob("float", 1, 1000)
    max_episodes: int = _knob("int", 1, 1000)
    max_gap_minutes: float = _knob("float", 0, 1440)


@dataclass(frozen=True)
class CompletionConfig:
    """How much of a title a session watches, by runtime."""

    full_share: float = _knob("float", 0, 1)
    halving_minutes: float = _knob("float", 0, 100000, low_open=True)
    partial_mean: float = _knob("float", 0, 1, low_open=True, high_open=True)
    partial_concentration: float = _knob("float", 0, 1000, low_open=True)


@dataclass(frozen=True)
class RatingsConfig:
    """How often sessions are rated, and how stars follow utility."""

    share: float = _knob("float", 0, 1)
    mean: float = _knob("float", 1, 5)
    utility_slope: float = _knob("float", -5, 5)
    noise_sd: float = _knob("float", 0, 10)


_SECTIONS: dict[str, type] = {
    "period": PeriodConfig,
    "users": UsersConfig,
    "churn": ChurnConfig,
    "tastes": TastesConfig,
    "popularity": PopularityConfig,
    "sessions": SessionsConfig,
    "binge": BingeConfig,
    "completion": CompletionConfig,
    "ratings": RatingsConfig,
}


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the simulation, validated. Build with :func:`load_config`."""

    period: PeriodConfig
    users: UsersConfig
    churn: ChurnConfig
    tastes: TastesConfig
    popularity: PopularityConfig
    sessions: SessionsConfig
    binge: BingeConfig
    completion: CompletionConfig
    ratings: RatingsConfig
    #: Where it came from (``defaults``, a file path, ``overrides``), for messages.
    source: str = field(default="defaults", compare=False)

    def with_overrides(self, overrides: Mapping[str, Any]) -> SimulationConfig:
        """A copy with some keys changed, validated like a file.

        ``overrides`` is nested like the TOML (``{"tastes": {"dirichlet_alpha": 0.1}}``)
        or flat with dotted keys (``{"tastes.dirichlet_alpha": 0.1}``).
        """
        return _build(
            _merge(self.to_dict(), _nest(overrides, "overrides"), "overrides"), "overrides"
        )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as nested plain values, like the TOML file."""
        out: dict[str, dict[str, Any]] = {}
        for name in _SECTIONS:
            section = getattr(self, name)
            out[name] = {
                f.name: (
                    dict(getattr(section, f.name))
                    if isinstance(getattr(section, f.name), dict)
                    else getattr(section, f.name)
                )
                for f in dataclasses.fields(section)
            }
        return out


def default_config_text() -> str:
    """The documented default config file, as text (a starting point for your own)."""
    return resources.files("simulation").joinpath(DEFAULT_CONFIG_NAME).read_text(encoding="utf-8")


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> SimulationConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`SimulationConfigError` for a missing or malformed file, an
    unknown section or key, a value of the wrong type or out of range, or
    shares that do not sum to 1.
    """
    merged = _parse(default_config_text(), "defaults")
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise SimulationConfigError(
                f"cannot read the file: {error.strerror or error}", source=source
            ) from None
        merged = _merge(merged, _parse(text, source), source)
    if overrides:
        source = "overrides" if path is None else f"{source} + overrides"
        merged = _merge(merged, _nest(overrides, "overrides"), "overrides")
    return _build(merged, source)


def as_config(config: SimulationConfig | Path | str | None) -> SimulationConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, SimulationConfig):
        return config
    return load_config(config)


# -- parsing and validation ---------------------------------------------------
def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SimulationConfigError(f"not valid TOML: {error}", source=source) from None


def _nest(overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." in key:
            section, _, name = key.partition(".")
            nested.setdefault(section, {})
            if not isinstance(nested[section], dict):
                raise SimulationConfigError(
                    "given both as a value and as a table", key=section, source=source
                )
            nested[section][name] = value
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
            raise SimulationConfigError(
                "unknown section", key=section, allowed=", ".join(_SECTIONS), source=source
            )
        if not isinstance(values, Mapping):
            raise SimulationConfigError(
                "expected a table of keys", key=section, allowed=f"[{section}]", source=source
            )
        known = [f.name for f in dataclasses.fields(_SECTIONS[section])]
        for name, value in values.items():
            if name not in known:
                raise SimulationConfigError(
                    "unknown key",
                    key=f"{section}.{name}",
                    allowed=f"keys of [{section}]: {', '.join(known)}",
                    source=source,
                )
            merged.setdefault(section, {})[name] = value
    return merged


def _build(values: dict[str, Any], source: str) -> SimulationConfig:
    sections = {}
    for name, cls in _SECTIONS.items():
        given = values.get(name, {})
        kwargs = {}
        for f in dataclasses.fields(cls):
            key = f"{name}.{f.name}"
            if f.name not in given:
                raise SimulationConfigError("missing", key=key, source=source)
            kwargs[f.name] = _check(key, f.metadata, given[f.name], source)
        sections[name] = cls(**kwargs)
    config = SimulationConfig(**sections, source=source)
    _cross_check(config, source)
    return config


def _check(key: str, meta: Mapping[str, Any], value: Any, source: str) -> Any:
    """``value`` converted to the knob's kind, or a SimulationConfigError."""
    kind = meta["kind"]
    if kind == "date":
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise SimulationConfigError(
                f"expected a date, got {value!r}",
                key=key,
                allowed="a TOML date like 2023-01-01",
                source=source,
            )
        return value
    if kind in ("int", "float"):
        valid_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        number_range: _Range = meta["range"]
        if isinstance(value, bool) or not valid_type:
            expected = "a whole number" if kind == "int" else "a number"
            raise SimulationConfigError(
                f"expected {expected}, got {value!r}",
                key=key,
                allowed=number_range.describe(),
                source=source,
            )
        if not number_range.admits(float(value)):
            raise SimulationConfigError(
                f"{value!r} is out of range",
                key=key,
                allowed=number_range.describe(),
                source=source,
            )
        return int(value) if kind == "int" else float(value)
    return _check_shares(key, kind, value, source)


def _check_shares(key: str, kind: str, value: Any, source: str) -> dict[str, float]:
    """A table of ``name = share``: names valid for the kind, shares in [0, 1] summing to 1."""
    if not isinstance(value, Mapping) or not value:
        raise SimulationConfigError(
            f"expected a table of shares, got {value!r}",
            key=key,
            allowed="name = share, summing to 1",
            source=source,
        )
    allowed_names: tuple[str, ...] | None = None
    if kind == "plan_shares":
        allowed_names = USERS.column("plan").allowed
    elif kind == "gender_shares":
        allowed_names = USERS.column("gender").allowed
    for name, share in value.items():
        if allowed_names is not None and name not in allowed_names:
            raise SimulationConfigError(
                f"unknown name {name!r}", key=key, allowed=", ".join(allowed_names), source=source
            )
        if kind == "country_shares" and not _COUNTRY.match(name):
            raise SimulationConfigError(
                f"{name!r} is not a country code",
                key=key,
                allowed="ISO 3166-1 alpha-2 codes in capitals, like US",
                source=source,
            )
        if kind == "age_shares":
            band = _AGE_BAND.match(name)
            if not band or int(band.group(1)) > int(band.group(2)):
                raise SimulationConfigError(
                    f"{name!r} is not an age band",
                    key=key,
                    allowed='"youngest-oldest" like "18-24"',
                    source=source,
                )
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise SimulationConfigError(
                f"share of {name!r} is {share!r}",
                key=key,
                allowed="numbers from 0 to 1",
                source=source,
            )
    total = float(sum(value.values()))
    if abs(total - 1) > _SHARE_TOLERANCE:
        raise SimulationConfigError(
            f"shares sum to {total:g}", key=key, allowed="shares summing to 1", source=source
        )
    if kind in ("plan_shares", "gender_shares"):
        assert allowed_names is not None
        order = [n for n in allowed_names if n in value]
    else:
        order = sorted(value)
    return {name: float(value[name]) for name in order}


def age_bands(shares: Mapping[str, float]) -> list[tuple[int, int, float]]:
    """``(youngest, oldest, share)`` for each band of ``users.age_shares``."""
    bands = []
    for name, share in shares.items():
        match = _AGE_BAND.match(name)
        assert match is not None
        bands.append((int(match.group(1)), int(match.group(2)), share))
    return bands


def _cross_check(config: SimulationConfig, source: str) -> None:
    """Rules between keys."""
    if config.period.end <= config.period.start:
        raise SimulationConfigError(
            f"end {config.period.end} is not after start {config.period.start}",
            key="period.end",
            allowed="a date after period.start",
            source=source,
        )
    birth = USERS.column("birth_year")
    assert birth.minimum is not None and birth.maximum is not None
    year = config.period.start.year
    for youngest, oldest, share in age_bands(config.users.age_shares):
        if share > 0 and (year - oldest < birth.minimum or year - youngest > birth.maximum):
            raise SimulationConfigError(
                f"ages {youngest}-{oldest} in {year} give birth years outside "
                f"{birth.minimum:g}..{birth.maximum:g}",
                key="users.age_shares",
                allowed=f"ages from {year - birth.maximum:g} to {year - birth.minimum:g}",
                source=source,
            )
    if config.binge.mean_episodes > config.binge.max_episodes:
        raise SimulationConfigError(
            f"{config.binge.mean_episodes:g} is above binge.max_episodes "
            f"({config.binge.max_episodes})",
            key="binge.mean_episodes",
            allowed=f">= 1 and <= binge.max_episodes ({config.binge.max_episodes})",
            source=source,
        )
