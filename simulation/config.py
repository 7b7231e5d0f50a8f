"""The simulation's knobs: a TOML file, validated into frozen dataclasses.

The defaults live in ``simulation/simulation.toml`` (each key documented
there). A file of your own overrides any subset of keys; tables of shares are
replaced whole. Every problem is a :class:`SimulationConfigError` naming the
dotted key and what it allows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recdb.core.landing import USERS
from recdb.core.sectioned_config import ConfigSchema, knob
from simulation.errors import SimulationConfigError

DEFAULT_CONFIG_NAME = "simulation.toml"
_SHARE_TOLERANCE = 1e-6
_AGE_BAND = re.compile(r"^(\d{1,3})-(\d{1,3})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _shares(kind: str) -> Any:
    return field(metadata={"kind": kind})


@dataclass(frozen=True)
class PeriodConfig:
    """When sessions happen: ``[start, end)``, midnight UTC."""

    start: dt.date = knob("date")
    end: dt.date = knob("date")


@dataclass(frozen=True)
class UsersConfig:
    """Who the users are: signup spread and demographic mixes (shares sum to 1)."""

    existing_share: float = knob("float", 0, 1)
    prior_signup_days: int = knob("int", 1, 36500)
    age_shares: dict[str, float] = _shares("age_shares")
    plan_shares: dict[str, float] = _shares("plan_shares")
    gender_shares: dict[str, float] = _shares("gender_shares")
    country_shares: dict[str, float] = _shares("country_shares")


@dataclass(frozen=True)
class ChurnConfig:
    """How many users cancel during the period, and how soon."""

    share: float = knob("float", 0, 1)
    mean_tenure_days: float = knob("float", 1, 36500)


@dataclass(frozen=True)
class TastesConfig:
    """How peaked users' genre tastes are, and how much they stray from them."""

    dirichlet_alpha: float = knob("float", 0, 1000, low_open=True)
    taste_floor: float = knob("float", 0, 100, low_open=True)


@dataclass(frozen=True)
class PopularityConfig:
    """How much choice follows IMDb vote counts (per user) and scores (for all)."""

    bias_mean: float = knob("float", 0, 10)
    bias_shape: float = knob("float", 0, 1000, low_open=True)
    bias_max: float = knob("float", 0, 20, low_open=True)
    quality_weight: float = knob("float", -5, 5)


@dataclass(frozen=True)
class SessionsConfig:
    """How many sessions users have: negative binomial with this mean and dispersion."""

    mean: float = knob("float", 0, 10000, low_open=True)
    dispersion: float = knob("float", 0, 100)


@dataclass(frozen=True)
class BingeConfig:
    """Episodes of a show watched in a row."""

    mean_episodes: float = knob("float", 1, 1000)
    max_episodes: int = knob("int", 1, 1000)
    max_gap_minutes: float = knob("float", 0, 1440)


@dataclass(frozen=True)
class CompletionConfig:
    """How much of a title a session watches, by runtime."""

    full_share: float = knob("float", 0, 1)
    halving_minutes: float = knob("float", 0, 100000, low_open=True)
    partial_mean: float = knob("float", 0, 1, low_open=True, high_open=True)
    partial_concentration: float = knob("float", 0, 1000, low_open=True)


@dataclass(frozen=True)
class RatingsConfig:
    """How often sessions are rated, and how stars follow utility."""

    share: float = knob("float", 0, 1)
    mean: float = knob("float", 1, 5)
    utility_slope: float = knob("float", -5, 5)
    noise_sd: float = knob("float", 0, 10)


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
_SCHEMA = ConfigSchema(_SECTIONS, SimulationConfigError, "simulation", DEFAULT_CONFIG_NAME)


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
            _SCHEMA.merge(self.to_dict(), _SCHEMA.nest(overrides, "overrides"), "overrides"),
            "overrides",
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
    return _SCHEMA.default_text()


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> SimulationConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`SimulationConfigError` for a missing or malformed file, an
    unknown section or key, a value of the wrong type or out of range, or
    shares that do not sum to 1.
    """
    merged, source = _SCHEMA.load(path, overrides)
    return _build(merged, source)


def as_config(config: SimulationConfig | Path | str | None) -> SimulationConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, SimulationConfig):
        return config
    return load_config(config)


# -- validation ---------------------------------------------------------------
def _build(values: dict[str, Any], source: str) -> SimulationConfig:
    config = SimulationConfig(**_SCHEMA.build_sections(values, source, _check), source=source)
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
        return _SCHEMA.check_number(key, meta, value, source, named_kind=False)
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
