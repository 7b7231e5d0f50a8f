"""New titles: what the simulation releases during the period, and the simulated titles users
may discover.

:func:`generate_titles` makes ``releases.rate`` titles a week (rows of ``sim.titles``, and
of ``sim.credits``), each modelled on a title of the loaded catalogue (a
:class:`CatalogueMix`):

* **type**: movie or show in the catalogue's proportion;
* **genres and countries**: the whole lists of a catalogue title of that type drawn at
  random (the "template"), main first, so that the mix of genres, their combinations and
  their number, and the countries that go with them, are the catalogue's;
* **runtime, age certification, IMDb score**: the template's (the runtime within ±10%,
  its type's median when unknown; the score within ±0.5). A new show has one season.
  No IMDb vote count: a new title's popularity is its own viewing history
  (:mod:`simulation.discovery`), not a prior it does not have;
* **name**: invented, never a catalogue or simulated title's (name, release year, type);
* **released_at**: uniform over the period, after its start; ``release_year`` its year;
* **ids**: ``sim-000001``, ``sim-000002``, ... in release order, continuing after the
  largest such number in sim.titles and the marts, so that a second run never reuses one;
* **credits**: a director and two to five actors, each a new person whose ``person_id``
  continues after the largest in ``marts.dim_persons`` and ``sim.credits``.

:class:`Releases` are the simulated titles as the discovery sees them (new ones and those
sim.titles already holds), as arrays on the catalogue's scales.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import python_api
from recdb.core.landing import CREDITS, INTEGER_RANGES, TITLES
from simulation.catalogue import (
    CATALOG_SOURCE,
    FALLBACK_RUNTIME,
    Catalogue,
    read_catalogue_frames,
)
from simulation.config import SimulationConfig
from simulation.errors import IdOverflowError, SimulationError
from simulation.frames import timestamps
from simulation.users import epoch_seconds

logger = logging.getLogger(__name__)

#: Ids of the titles the simulation releases: this prefix and a number, zero-padded.
TITLE_ID_PREFIX = "sim-"
TITLE_ID_DIGITS = 6
_TITLE_NUMBER = re.compile(rf"^{re.escape(TITLE_ID_PREFIX)}([0-9]{{1,18}})$")
#: ``retired_at`` of a title that is not retired: never.
NEVER = np.iinfo(np.int64).max
#: Actors credited on a new title: from ... to ... (inclusive); and one director.
ACTORS = (2, 5)
#: A new title's runtime is its template's times a factor uniform in this range.
RUNTIME_JITTER = (0.9, 1.1)
#: A new title's IMDb score is its template's plus a uniform shift of at most this.
SCORE_JITTER = 0.5
#: Draws of a fresh name before a taken one gets a number (" 2", " 3", ...).
NAME_ATTEMPTS = 20
_PERSON_ID_MAX = INTEGER_RANGES["integer"][1]

_ADJECTIVES = (
    "Amber", "Ashen", "Bright", "Brittle", "Copper", "Cosmic", "Crooked", "Daring", "Deep",
    "Drifting", "Dusty", "Fading", "Fierce", "Gentle", "Gilded", "Hazy", "Heavy", "Humble",
    "Icy", "Kind", "Loud", "Lunar", "Mellow", "Misty", "Modern", "Nameless", "Narrow",
    "Open", "Pale", "Proud", "Rapid", "Rising", "Rusty", "Salted", "Shining", "Sleepless",
    "Solar", "Stubborn", "Sunken", "Tender", "Upside", "Violet", "Wandering", "Winding",
)  # fmt: skip
_NOUNS = (
    "Anchor", "Archive", "Atlas", "Avenue", "Beacon", "Bridge", "Canyon", "Caravan", "Cipher",
    "Compass", "Comet", "Corridor", "Courier", "Delta", "Echo", "Ember", "Engine", "Estate",
    "Festival", "Flight", "Foundry", "Gallery", "Glacier", "Harbor", "Hotel", "Kitchen",
    "Lantern", "Ledger", "Machine", "Meadow", "Mountain", "Network", "Notebook", "Parade",
    "Passage", "Pilgrim", "Quarry", "Radio", "Railway", "Reckoning", "Reunion", "Satellite",
    "Season", "Sentinel", "Shelter", "Skyline", "Station", "Summit", "Tailor", "Tunnel",
    "Uprising", "Vineyard", "Voyage", "Waltz", "Workshop",
)  # fmt: skip
_PLACES = (
    "Accra", "Antwerp", "Baku", "Bergen", "Bilbao", "Bordeaux", "Cebu", "Cusco", "Galway",
    "Hobart", "Izmir", "Kochi", "Leeds", "Lyon", "Malaga", "Montevideo", "Nagoya", "Odessa",
    "Porto", "Quito", "Sapporo", "Seville", "Tbilisi", "Trieste", "Turin", "Valparaiso",
    "Windhoek", "Yangon", "Zanzibar", "Zagreb",
)  # fmt: skip
_FIRST_NAMES = (
    "Ada", "Alma", "Anton", "Aria", "Bruno", "Carmen", "Dario", "Dina", "Elias", "Esme",
    "Farah", "Felix", "Greta", "Hamid", "Ida", "Ivo", "Jonah", "Kaya", "Leon", "Lina",
    "Malik", "Mina", "Nils", "Noa", "Oskar", "Petra", "Quentin", "Rosa", "Sami", "Selma",
    "Tariq", "Thea", "Umar", "Vera", "Wanda", "Yara", "Yuki", "Zane",
)  # fmt: skip
_SURNAMES = (
    "Abara", "Bellini", "Castellanos", "Dahl", "Ekwueme", "Falk", "Gallo", "Hartmann",
    "Ishikawa", "Jovanovic", "Kiplagat", "Lindgren", "Moretti", "Nakashima", "Oduya",
    "Petrova", "Quist", "Rasmussen", "Salazar", "Takeda", "Ulloa", "Valdivia", "Wexler",
    "Yilmazer", "Zelenko",
)  # fmt: skip


@dataclass(frozen=True)
class CatalogueMix:
    """The loaded catalogue's titles as templates for new ones: aligned per title.

    ``genres`` and ``countries`` are tuples, main first; ``runtime_minutes`` 0 when
    unknown; ``imdb_score`` NaN when unknown; ``age_certification`` None when unrated.
    """

    is_show: np.ndarray
    genres: tuple[tuple[str, ...], ...]
    countries: tuple[tuple[str, ...], ...]
    runtime_minutes: np.ndarray
    age_certification: tuple[str | None, ...]
    imdb_score: np.ndarray

    @property
    def size(self) -> int:
        """Number of template titles."""
        return len(self.is_show)


@dataclass(frozen=True)
class NewTitles:
    """Rows of ``sim.titles`` and ``sim.credits`` (exactly their columns), in release order."""

    titles: pd.DataFrame
    credits: pd.DataFrame

    @property
    def title_ids(self) -> tuple[str, str] | None:
        """The first and last title_id, or None when there are none."""
        if self.titles.empty:
            return None
        ids = self.titles["title_id"]
        return str(ids.iloc[0]), str(ids.iloc[-1])


@dataclass(frozen=True)
class Releases:
    """Simulated titles as the discovery sees them: aligned arrays, on a catalogue's scales.

    Times are seconds since the epoch; ``retired_at`` is :data:`NEVER` for a title that is
    not retired. ``genre_weights`` are in the catalogue's genre order and ``quality`` is
    its standardised IMDb score (:meth:`Catalogue.quality_of`).
    """

    title_ids: np.ndarray
    is_show: np.ndarray
    runtime_minutes: np.ndarray
    genre_weights: np.ndarray
    quality: np.ndarray
    released_at: np.ndarray
    retired_at: np.ndarray

    @property
    def size(self) -> int:
        """Number of titles."""
        return len(self.title_ids)


@dataclass(frozen=True)
class ReleaseState:
    """What the warehouse says before new titles are made: the simulated titles there are,
    the first free numbers, and the (name, release year, type) keys already taken."""

    titles: pd.DataFrame
    retired: pd.DataFrame
    first_number: int
    first_person_id: int
    taken: frozenset[tuple[str, int, str]]


# -- reading ------------------------------------------------------------------------------
def _lists(values: Iterable[Iterable[object] | None]) -> list[tuple[str, ...]]:
    """Array cells (lists, numpy arrays, None) as tuples of text."""
    return [() if v is None else tuple(str(x) for x in v) for v in values]


def mix_from_frames(
    titles: pd.DataFrame,
    title_genres: pd.DataFrame,
    title_countries: pd.DataFrame | None = None,
    *,
    genres: Iterable[str] | None = None,
    countries: Iterable[str] | None = None,
) -> CatalogueMix:
    """A :class:`CatalogueMix` from ``dim_titles``, ``bridge_title_genres`` and
    ``bridge_title_prod_countries`` rows.

    Titles need ``title_id``, ``title_type``, ``runtime_minutes`` and ``imdb_score``
    (``age_certification`` and ``source`` if there: only the loaded catalogue's titles
    are templates). The bridges need ``title_id`` and ``genre_id`` / ``country_code``,
    ordered by ``is_main_genre``/``is_main_country`` then ``genre_position``/
    ``country_position`` when there; ``genres``/``countries`` keep only those ids.
    """
    if "source" in titles.columns:
        titles = titles[titles["source"].astype(str) == CATALOG_SOURCE]
    if titles.empty:
        raise SimulationError(
            "the catalogue is empty (marts.dim_titles has no rows): run `recdb load` and "
            "`recdb build` first"
        )
    ordered = titles.sort_values("title_id", kind="stable").reset_index(drop=True)
    ids = ordered["title_id"].astype(str)

    def listed(
        bridge: pd.DataFrame | None, column: str, kind: str, keep: Iterable[str] | None
    ) -> list[tuple[str, ...]]:
        if bridge is None or bridge.empty:
            return [()] * len(ids)
        frame = bridge.assign(
            title_id=bridge["title_id"].astype(str), **{column: bridge[column].astype(str)}
        )
        if keep is not None:
            frame = frame[frame[column].isin(set(keep))]
        keys, ascending = ["title_id"], [True]
        if f"is_main_{kind}" in frame.columns:
            keys.append(f"is_main_{kind}")
            ascending.append(False)
        if f"{kind}_position" in frame.columns:
            keys.append(f"{kind}_position")
            ascending.append(True)
        frame = frame.sort_values(keys, ascending=ascending, kind="stable")
        frame = frame.drop_duplicates(["title_id", column])
        owners = frame["title_id"].to_numpy(dtype=object)
        values = frame[column].to_numpy(dtype=object)
        cuts = np.flatnonzero(owners[1:] != owners[:-1]) + 1 if len(owners) else owners
        starts, ends = np.r_[0, cuts], np.r_[cuts, len(owners)]
        groups = {owners[a]: tuple(values[a:b]) for a, b in zip(starts, ends, strict=True) if b > a}
        return [groups.get(title, ()) for title in ids]

    certification = (
        ordered["age_certification"]
        if "age_certification" in ordered.columns
        else pd.Series([None] * len(ordered))
    )
    return CatalogueMix(
        is_show=(ordered["title_type"].astype(str) == "show").to_numpy(),
        genres=tuple(listed(title_genres, "genre_id", "genre", genres)),
        countries=tuple(listed(title_countries, "country_code", "country", countries)),
        runtime_minutes=pd.to_numeric(ordered["runtime_minutes"])
        .fillna(0)
        .to_numpy(dtype=np.float64),
        age_certification=tuple(
            None if pd.isna(value) or value == "" else str(value) for value in certification
        ),
        imdb_score=pd.to_numeric(ordered["imdb_score"]).to_numpy(dtype=np.float64, na_value=np.nan),
    )


def read_catalogue_mix(
    warehouse: python_api.Warehouse,
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None,
) -> CatalogueMix:
    """The loaded catalogue's titles as templates, from the marts (``frames``: the
    titles, title-genre and genre rows :func:`simulation.catalogue.read_catalogue_frames`
    read already)."""
    titles, title_genres, genres = frames or read_catalogue_frames(warehouse)
    title_countries = warehouse.read(
        "select title_id, country_code, country_position, is_main_country "
        "from marts.bridge_title_prod_countries"
    )
    countries = warehouse.read("select country_code from marts.dim_prod_countries")
    return mix_from_frames(
        titles,
        title_genres,
        title_countries,
        genres=genres["genre_id"].astype(str),
        countries=countries["country_code"].astype(str),
    )


def title_number(title_id: str) -> int | None:
    """The number of an id of :data:`TITLE_ID_PREFIX`'s scheme, or None for another id."""
    match = _TITLE_NUMBER.match(title_id)
    return int(match.group(1)) if match else None


def read_release_state(warehouse: python_api.Warehouse, config: SimulationConfig) -> ReleaseState:
    """The simulated titles of sim.titles (with sim.retired_titles), the first free title
    number and person_id, and the keys taken in the period's years."""
    titles = warehouse.read(
        "select title_id, title_name, title_type, release_year, released_at, genres, "
        "runtime_minutes, imdb_score from sim.titles order by title_id"
    )
    retired = warehouse.read("select title_id, retired_at from sim.retired_titles")
    like = TITLE_ID_PREFIX + "%"
    numbered = warehouse.read(
        "select title_id from sim.titles where title_id like %(like)s union all "
        "select title_id from marts.dim_titles where title_id like %(like)s",
        params={"like": like},
    )
    numbers = [n for n in map(title_number, numbered["title_id"].astype(str)) if n is not None]
    persons = warehouse.read(
        "select (select coalesce(max(person_id), 0) from marts.dim_persons) as catalogue, "
        "(select coalesce(max(person_id), 0) from sim.credits) as simulated"
    )
    first_year, last_year = config.period.start.year, config.period.end.year
    keys = warehouse.read(
        "select title_name, release_year, title_type from marts.dim_titles "
        "where release_year between %(first)s and %(last)s union all "
        "select title_name, release_year, title_type from sim.titles "
        "where release_year between %(first)s and %(last)s",
        params={"first": first_year, "last": last_year},
    )
    return ReleaseState(
        titles=titles,
        retired=retired,
        first_number=max(numbers, default=0) + 1,
        first_person_id=int(persons.max(axis=1).iloc[0]) + 1,
        taken=frozenset(
            (str(name), int(year), str(kind))
            for name, year, kind in keys.itertuples(index=False)
            if not pd.isna(name) and not pd.isna(year)
        ),
    )


def releases_from_titles(
    titles: pd.DataFrame, catalogue: Catalogue, retired: pd.DataFrame | None = None
) -> Releases:
    """:class:`Releases` from ``sim.titles``-shaped rows (``title_id``, ``title_type``,
    ``released_at``, ``genres``, ``runtime_minutes``, ``imdb_score``) and
    ``sim.retired_titles`` rows (``title_id``, ``retired_at``)."""
    ids = titles["title_id"].astype(str).to_numpy(dtype=object)
    clash = np.isin(ids, catalogue.title_ids)
    if clash.any():
        raise SimulationError(
            f"simulated title {ids[clash][0]} has a catalogue title's id: delete it from sim.titles"
        )
    is_show = (titles["title_type"].astype(str) == "show").to_numpy()
    runtime = pd.to_numeric(titles["runtime_minutes"]).fillna(0).to_numpy(dtype=np.float64)
    fallback = np.where(is_show, FALLBACK_RUNTIME["show"], FALLBACK_RUNTIME["movie"])
    runtime = np.where(runtime > 0, runtime, fallback)
    released = _seconds(titles["released_at"], default=np.iinfo(np.int64).min)
    retired_at = np.full(len(ids), NEVER, dtype=np.int64)
    if retired is not None and not retired.empty:
        when = pd.Series(
            _seconds(retired["retired_at"], default=NEVER),
            index=retired["title_id"].astype(str).to_numpy(),
        )
        found = pd.Index(when.index).get_indexer(ids)
        retired_at = np.where(found >= 0, when.to_numpy()[np.maximum(found, 0)], NEVER)
    scores = pd.to_numeric(titles["imdb_score"]).to_numpy(dtype=np.float64, na_value=np.nan)
    return Releases(
        title_ids=ids,
        is_show=is_show,
        runtime_minutes=runtime,
        genre_weights=catalogue.genre_weights_of(_lists(titles["genres"])),
        quality=catalogue.quality_of(scores),
        released_at=released,
        retired_at=retired_at.astype(np.int64),
    )


def _seconds(values: pd.Series, *, default: int) -> np.ndarray:
    """Timestamps as whole seconds since the epoch (UTC); missing ones are ``default``."""
    stamps = pd.to_datetime(values, utc=True)
    seconds = np.full(len(stamps), default, dtype=np.int64)
    known = stamps.notna().to_numpy()
    if known.any():
        seconds[known] = (
            stamps[known].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
        ).astype(np.int64)
    return seconds


# -- generating ---------------------------------------------------------------------------
def release_count(config: SimulationConfig) -> int:
    """How many titles a run releases: ``releases.rate`` times the period's weeks, rounded."""
    days = (config.period.end - config.period.start).days
    return int(np.floor(config.releases.rate * days / 7 + 0.5))


def release_stream(seed: int, first_user_id: int, first_number: int) -> np.random.Generator:
    """The random stream of a run's new titles: its own, apart from every chunk's."""
    sequence = np.random.SeedSequence([seed, first_user_id, first_number], spawn_key=(1_000,))
    return np.random.default_rng(sequence)


def _name(rng: np.random.Generator) -> str:
    def pick(words: Sequence[str]) -> str:
        return words[int(rng.integers(len(words)))]

    pattern = int(rng.integers(6))
    if pattern == 0:
        return f"{pick(_ADJECTIVES)} {pick(_NOUNS)}"
    if pattern == 1:
        return f"The {pick(_ADJECTIVES)} {pick(_NOUNS)}"
    if pattern == 2:
        return f"The {pick(_NOUNS)} of {pick(_PLACES)}"
    if pattern == 3:
        return f"{pick(_PLACES)} {pick(_NOUNS)}"
    if pattern == 4:
        return f"{pick(_NOUNS)}: {pick(_ADJECTIVES)} {pick(_NOUNS)}"
    return f"{pick(_FIRST_NAMES)} and the {pick(_ADJECTIVES)} {pick(_NOUNS)}"


def _free_name(rng: np.random.Generator, year: int, kind: str, taken: set) -> str:
    """A name whose (name, year, type) is not taken, and takes it."""
    name = _name(rng)
    for _ in range(NAME_ATTEMPTS):
        if (name, year, kind) not in taken:
            break
        name = _name(rng)
    base, number = name, 1
    while (name, year, kind) in taken:
        number += 1
        name = f"{base} {number}"
    taken.add((name, year, kind))
    return name


def generate_titles(
    count: int,
    mix: CatalogueMix,
    config: SimulationConfig,
    rng: np.random.Generator,
    *,
    first_number: int = 1,
    first_person_id: int = 1,
    taken: Iterable[tuple[str, int, str]] = (),
) -> NewTitles:
    """``count`` new titles released during the period, with their credits. Pure.

    ``first_number``: the number of the first ``sim-`` id; ``first_person_id``: the first
    new person's id; ``taken``: (name, release year, type) keys no new title may have.
    """
    if count < 0:
        raise SimulationError(f"count must be >= 0, got {count}")
    credits_needed = count * (ACTORS[1] + 1)
    if count and first_person_id + credits_needed - 1 > _PERSON_ID_MAX:
        raise IdOverflowError(
            "sim.credits", "person_id", first_person_id - 1, credits_needed, _PERSON_ID_MAX
        )
    if count and mix.size == 0:
        raise SimulationError("no catalogue titles to model new titles on: run `recdb build`")
    start = epoch_seconds(config.period.start)
    end = epoch_seconds(config.period.end)

    released = np.sort(rng.integers(start + 1, end, count, dtype=np.int64))
    is_show = rng.random(count) < float(mix.is_show.mean())
    template = np.zeros(count, dtype=np.int64)
    for kind in (True, False):
        rows = np.flatnonzero(is_show == kind)
        pool = np.flatnonzero(mix.is_show == kind)  # not empty: its share is > 0
        if rows.size:
            template[rows] = pool[rng.integers(len(pool), size=rows.size)]

    base = mix.runtime_minutes[template]
    for kind, shows in (("movie", False), ("show", True)):
        known = mix.runtime_minutes[(mix.is_show == shows) & (mix.runtime_minutes > 0)]
        median = float(np.median(known)) if known.size else FALLBACK_RUNTIME[kind]
        base = np.where((base > 0) | (is_show != shows), base, median)
    runtime = np.clip(np.rint(base * rng.uniform(*RUNTIME_JITTER, count)), 1, 1000)
    score = mix.imdb_score[template] + rng.uniform(-SCORE_JITTER, SCORE_JITTER, count)
    score = np.where(np.isfinite(score), np.clip(np.round(score, 1), 1.0, 10.0), np.nan)

    years = [dt.datetime.fromtimestamp(int(s), dt.UTC).year for s in released]
    kinds = ["show" if s else "movie" for s in is_show]
    names_taken = set(taken)
    names = [_free_name(rng, y, k, names_taken) for y, k in zip(years, kinds, strict=True)]
    ids = [
        f"{TITLE_ID_PREFIX}{number:0{TITLE_ID_DIGITS}d}"
        for number in range(first_number, first_number + count)
    ]
    titles = pd.DataFrame(
        {
            "title_id": ids,
            "title_name": names,
            "title_type": kinds,
            "release_year": np.asarray(years, dtype=np.int16),
            "released_at": timestamps(released),
            "genres": pd.Series([list(mix.genres[t]) for t in template], dtype=object),
            "production_countries": pd.Series(
                [list(mix.countries[t]) for t in template], dtype=object
            ),
            "runtime_minutes": runtime.astype(np.int32),
            "season_count": pd.array([1 if s else None for s in is_show], dtype="Int16"),
            "age_certification": pd.array(
                [mix.age_certification[t] for t in template], dtype="string"
            ),
            "imdb_score": score.astype(np.float64),
            "imdb_vote_count": pd.array([None] * count, dtype="Int32"),
        }
    )[list(TITLES.column_names)]
    return NewTitles(titles, _credits(ids, rng, first_person_id))


def _credits(
    title_ids: Sequence[str], rng: np.random.Generator, first_person_id: int
) -> pd.DataFrame:
    """A director and a few actors for each title, every one a new person."""
    rows: list[tuple[str, int, str, str, str | None]] = []
    person = first_person_id

    def pick(words: Sequence[str]) -> str:
        return words[int(rng.integers(len(words)))]

    for title in title_ids:
        actors = int(rng.integers(ACTORS[0], ACTORS[1] + 1))
        for role in ["director"] + ["actor"] * actors:
            character = pick(_FIRST_NAMES) if role == "actor" else None
            rows.append((title, person, f"{pick(_FIRST_NAMES)} {pick(_SURNAMES)}", role, character))
            person += 1
    frame = pd.DataFrame(rows, columns=list(CREDITS.column_names))
    return frame.astype({"person_id": np.int64, "character_name": "string"})


def new_titles(
    count: int,
    mix: CatalogueMix,
    config: SimulationConfig,
    seed: int,
    first_user_id: int,
    state: ReleaseState,
) -> NewTitles:
    """The run's new titles after what the warehouse holds (``state``), on the run's stream."""
    return generate_titles(
        count,
        mix,
        config,
        release_stream(seed, first_user_id, state.first_number),
        first_number=state.first_number,
        first_person_id=state.first_person_id,
        taken=state.taken,
    )
