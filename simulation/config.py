"""The simulation's knobs: a TOML file, validated into frozen pydantic models.

The defaults live in ``simulation/simulation.toml`` (each key documented
there). A file of your own overrides any subset of keys; tables of shares are
replaced whole. Every problem is a :class:`SimulationConfigError` naming the
dotted key and what it allows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from recdb.core.config import Section, SectionedConfig, invalid
from recdb.core.landing import TITLES, USERS
from simulation.errors import SimulationConfigError

DEFAULT_CONFIG_NAME = "simulation.toml"
_SHARE_TOLERANCE = 1e-6
_AGE_BAND = re.compile(r"^(\d{1,3})-(\d{1,3})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_RELEASE_YEARS = (
    int(TITLES.column("release_year").minimum or 0),
    int(TITLES.column("release_year").maximum or 0),
)


class PeriodConfig(Section):
    """When sessions happen: ``[start, end)``, midnight UTC."""

    start: dt.date
    end: dt.date


class UsersConfig(Section):
    """Who the users are: signup spread and demographic mixes (shares sum to 1)."""

    existing_share: float = Field(ge=0, le=1)
    prior_signup_days: int = Field(ge=1, le=36500)
    age_shares: dict[str, float]
    plan_shares: dict[str, float]
    gender_shares: dict[str, float]
    country_shares: dict[str, float]

    @field_validator("age_shares", "plan_shares", "gender_shares", "country_shares", mode="before")
    @classmethod
    def _check_shares(cls, value: Any, info: ValidationInfo) -> dict[str, float]:
        return _check_shares(str(info.field_name), value)


class ChurnConfig(Section):
    """How many users cancel during the period, and how soon."""

    share: float = Field(ge=0, le=1)
    mean_tenure_days: float = Field(ge=1, le=36500)


class TastesConfig(Section):
    """How peaked users' genre tastes are, and how much they stray from them."""

    dirichlet_alpha: float = Field(gt=0, le=1000)
    taste_floor: float = Field(gt=0, le=100)


class PopularityConfig(Section):
    """How much choice follows IMDb vote counts (per user) and scores (for all)."""

    bias_mean: float = Field(ge=0, le=10)
    bias_shape: float = Field(gt=0, le=1000)
    bias_max: float = Field(gt=0, le=20)
    quality_weight: float = Field(ge=-5, le=5)


class SessionsConfig(Section):
    """How many sessions users have: negative binomial with this mean and dispersion."""

    mean: float = Field(gt=0, le=10000)
    dispersion: float = Field(ge=0, le=100)


class BingeConfig(Section):
    """Episodes of a show watched in a row."""

    mean_episodes: float = Field(ge=1, le=1000)
    max_episodes: int = Field(ge=1, le=1000)
    max_gap_minutes: float = Field(ge=0, le=1440)


class CompletionConfig(Section):
    """How much of a title a session watches, by runtime."""

    full_share: float = Field(ge=0, le=1)
    halving_minutes: float = Field(gt=0, le=100000)
    partial_mean: float = Field(gt=0, lt=1)
    partial_concentration: float = Field(gt=0, le=1000)


class RatingsConfig(Section):
    """How often sessions are rated, and how stars follow utility."""

    share: float = Field(ge=0, le=1)
    mean: float = Field(ge=1, le=5)
    utility_slope: float = Field(ge=-5, le=5)
    noise_sd: float = Field(ge=0, le=10)


class ReleasesConfig(Section):
    """New titles released during the period (sim.titles), and how many."""

    rate: float = Field(ge=0, le=10000)


class SimulationConfig(SectionedConfig):
    """Every knob of the simulation, validated. Build with :func:`load_config`.

    ``source`` says where it came from (``defaults``, a file path, ``overrides``).
    """

    error = SimulationConfigError
    package = "simulation"
    default_file = DEFAULT_CONFIG_NAME

    period: PeriodConfig
    users: UsersConfig
    churn: ChurnConfig
    tastes: TastesConfig
    popularity: PopularityConfig
    sessions: SessionsConfig
    binge: BingeConfig
    completion: CompletionConfig
    ratings: RatingsConfig
    releases: ReleasesConfig

    @model_validator(mode="after")
    def _rules_between_keys(self) -> Self:
        _cross_check(self)
        return self


def default_config_text() -> str:
    """The documented default config file, as text (a starting point for your own)."""
    return SimulationConfig.default_text()


def load_config(
    path: Path | str | None = None, *, overrides: Mapping[str, Any] | None = None
) -> SimulationConfig:
    """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``.

    Raises :class:`SimulationConfigError` for a missing or malformed file, an
    unknown section or key, a value of the wrong type or out of range, or
    shares that do not sum to 1.
    """
    return SimulationConfig.load(path, overrides)


def as_config(config: SimulationConfig | Path | str | None) -> SimulationConfig:
    """A config from a config, a TOML path, or None (the defaults)."""
    if isinstance(config, SimulationConfig):
        return config
    return load_config(config)


# -- validation ---------------------------------------------------------------
def _check_shares(kind: str, value: Any) -> dict[str, float]:
    """A table of ``name = share``: names valid for the kind, shares in [0, 1] summing to 1."""
    if not isinstance(value, Mapping) or not value:
        raise invalid(f"expected a table of shares, got {value!r}", "name = share, summing to 1")
    allowed_names: tuple[str, ...] | None = None
    if kind == "plan_shares":
        allowed_names = USERS.column("plan").allowed
    elif kind == "gender_shares":
        allowed_names = USERS.column("gender").allowed
    for name, share in value.items():
        if allowed_names is not None and name not in allowed_names:
            raise invalid(f"unknown name {name!r}", ", ".join(allowed_names))
        if kind == "country_shares" and not _COUNTRY.match(name):
            raise invalid(
                f"{name!r} is not a country code", "ISO 3166-1 alpha-2 codes in capitals, like US"
            )
        if kind == "age_shares":
            band = _AGE_BAND.match(name)
            if not band or int(band.group(1)) > int(band.group(2)):
                raise invalid(f"{name!r} is not an age band", '"youngest-oldest" like "18-24"')
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise invalid(f"share of {name!r} is {share!r}", "numbers from 0 to 1")
    total = float(sum(value.values()))
    if abs(total - 1) > _SHARE_TOLERANCE:
        raise invalid(f"shares sum to {total:g}", "shares summing to 1")
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


def _cross_check(config: SimulationConfig) -> None:
    """Rules between keys."""
    if config.period.end <= config.period.start:
        raise invalid(
            f"end {config.period.end} is not after start {config.period.start}",
            "a date after period.start",
            key="period.end",
        )
    birth = USERS.column("birth_year")
    assert birth.minimum is not None and birth.maximum is not None
    year = config.period.start.year
    for youngest, oldest, share in age_bands(config.users.age_shares):
        if share > 0 and (year - oldest < birth.minimum or year - youngest > birth.maximum):
            raise invalid(
                f"ages {youngest}-{oldest} in {year} give birth years outside "
                f"{birth.minimum:g}..{birth.maximum:g}",
                f"ages from {year - birth.maximum:g} to {year - birth.minimum:g}",
                key="users.age_shares",
            )
    if config.releases.rate > 0:
        first, last = config.period.start.year, (config.period.end - dt.timedelta(days=1)).year
        low, high = _RELEASE_YEARS
        if first < low or last > high:
            raise invalid(
                f"titles released from {first} to {last} would have release years outside "
                f"{low}..{high}",
                f"0, or a period from {low} to {high}",
                key="releases.rate",
            )
    if config.binge.mean_episodes > config.binge.max_episodes:
        raise invalid(
            f"{config.binge.mean_episodes:g} is above binge.max_episodes "
            f"({config.binge.max_episodes})",
            f">= 1 and <= binge.max_episodes ({config.binge.max_episodes})",
            key="binge.mean_episodes",
        )
