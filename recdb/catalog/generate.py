"""Deterministic generator of a synthetic catalogue shaped like the Kaggle download.

The project ships its own catalogue so that it builds and tests with no outside
data. :func:`generate_catalog` writes the six raw files of
"The Ultimate Netflix TV Shows and Movies Dataset" with invented content that
keeps the real files' shape and quirks: list literals in ``genres`` and
``production_countries``, ``[]`` lists, the ``XX``/``SU``/``Lebanon`` country
codes, repeated title names, a (title, year) that is both a movie and a show,
an empty title, missing certifications, ids, scores and votes, runtimes of 0,
directors without characters, people playing several characters on one title,
quotes in names and characters, and best-of lists that carry no ids and must be
matched to titles on (title, release_year, type).

Two layouts:

``seed``
    The project's default catalogue (``seeds/netflix``): files named after the
    raw tables, lower-case headers in the order of :mod:`recdb.core.raw_tables`,
    integers written as integers.
``kaggle``
    Exactly the Kaggle download: its file names, a leading pandas ``index``
    column, upper-case headers in the Best files, and ``seasons`` /
    ``imdb_votes`` written as floats (``1.0``) as pandas writes columns with
    missing values.

Output depends only on ``(titles, seed, layout)``: every draw comes from
``random.Random(seed).random()`` (the Mersenne Twister stream, stable across
Python versions) through plain arithmetic, with no wall clock, no set
iteration and no string hashing.
"""

from __future__ import annotations

import bisect
import csv
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

from recdb.core.raw_tables import (
    BEST_MOVIES,
    BEST_MOVIES_BY_YEAR,
    BEST_SHOWS,
    BEST_SHOWS_BY_YEAR,
    CREDITS,
    KAGGLE_FILE_NAMES,
    RAW_TABLES,
    TITLES,
    RawTable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

Layout = Literal["seed", "kaggle"]
LAYOUTS: tuple[str, ...] = ("seed", "kaggle")

#: The fewest titles the generator accepts: below this the planted quirks crowd
#: out the ordinary titles.
MIN_TITLES = 100

#: The 19 genre labels of raw_titles.csv.
GENRES: tuple[str, ...] = (
    "action",
    "animation",
    "comedy",
    "crime",
    "documentation",
    "drama",
    "european",
    "family",
    "fantasy",
    "history",
    "horror",
    "music",
    "reality",
    "romance",
    "scifi",
    "sport",
    "thriller",
    "war",
    "western",
)

#: Genre label of raw_titles.csv -> label that the Best files use for it.
BEST_OF_GENRE_LABELS: dict[str, str] = {
    genre: {"documentation": "documentary", "music": "musical", "sport": "sports"}.get(genre, genre)
    for genre in GENRES
}

MOVIE_CERTIFICATIONS: tuple[str, ...] = ("G", "PG", "PG-13", "R", "NC-17")
SHOW_CERTIFICATIONS: tuple[str, ...] = ("TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA")

#: All-time lists keep titles with at least this many IMDb votes ...
ALL_TIME_MIN_VOTES = 10_000
#: ... and this share of all titles of the type, best scores first.
ALL_TIME_SHARE: dict[str, float] = {"MOVIE": 0.065, "SHOW": 0.12}
#: By-year lists keep, for each year, the best title with at least this many votes.
BY_YEAR_MIN_VOTES = 25_000

MOVIE = "MOVIE"
SHOW = "SHOW"
ACTOR = "ACTOR"
DIRECTOR = "DIRECTOR"


# --------------------------------------------------------------------------- draws


class _Weighted(Generic[T]):
    """A discrete distribution: items with (relative) weights."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items: tuple[T, ...] = tuple(item for item, _ in pairs)
        self.weights: tuple[float, ...] = tuple(float(weight) for _, weight in pairs)
        cumulative: list[float] = []
        total = 0.0
        for weight in self.weights:
            total += weight
            cumulative.append(total)
        self.cumulative = cumulative
        self.total = total


class _Draw:
    """Random draws built only on ``Random.random()`` and exact arithmetic.

    ``random.Random(seed).random()`` yields the same stream on every Python
    version and platform; the helpers avoid library methods whose algorithms
    have changed between versions and transcendental functions whose last bit
    may differ between C libraries.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 (simulation, not security)

    def unit(self) -> float:
        """A float in [0, 1)."""
        return self._rng.random()

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self._rng.random() < probability

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high], uniformly."""
        return low + int(self._rng.random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        """One item, uniformly."""
        return items[int(self._rng.random() * len(items))]

    def weighted(self, table: _Weighted[T]) -> T:
        """One item of a weighted table."""
        index = bisect.bisect_right(table.cumulative, self._rng.random() * table.total)
        return table.items[min(index, len(table.items) - 1)]

    def weighted_sample(self, table: _Weighted[T], count: int) -> list[T]:
        """``count`` distinct items of a weighted table, in the order drawn."""
        items = list(table.items)
        weights = list(table.weights)
        chosen: list[T] = []
        for _ in range(min(count, len(items))):
            target = self._rng.random() * sum(weights)
            running = 0.0
            index = len(items) - 1
            for position, weight in enumerate(weights):
                running += weight
                if target < running:
                    index = position
                    break
            chosen.append(items.pop(index))
            weights.pop(index)
        return chosen

    def normal(self, mean: float, sd: float) -> float:
        """An approximately normal float (Irwin-Hall: sum of 12 uniforms)."""
        total = 0.0
        for _ in range(12):
            total += self._rng.random()
        return mean + sd * (total - 6.0)

    def quantile(self, knots: Sequence[tuple[float, float]], shift: float = 0.0) -> float:
        """A float from a piecewise-linear inverse CDF given as (p, value) knots.

        ``shift`` moves the uniform draw up (or down), clamped to [0, 1).
        """
        u = min(0.99999, max(0.0, self._rng.random() + shift))
        for (p0, v0), (p1, v1) in zip(knots, knots[1:], strict=False):
            if u < p1:
                return v0 + (v1 - v0) * (u - p0) / (p1 - p0)
        return knots[-1][1]

    def permutation(self, count: int) -> list[int]:
        """A random order of ``range(count)`` (Fisher-Yates)."""
        order = list(range(count))
        for i in range(count - 1, 0, -1):
            j = self.integer(0, i)
            order[i], order[j] = order[j], order[i]
        return order


# --------------------------------------------------------------------------- vocabulary

_YEAR_WEIGHTS = _Weighted(
    [(year, 1) for year in range(1945, 1970)]
    + [(year, 2) for year in range(1970, 1980)]
    + [(year, 5) for year in range(1980, 1990)]
    + [(year, 12) for year in range(1990, 2000)]
    + [(year, 30) for year in range(2000, 2005)]
    + [(year, 55) for year in range(2005, 2010)]
    + [
        (2010, 75),
        (2011, 105),
        (2012, 110),
        (2013, 140),
        (2014, 160),
        (2015, 235),
        (2016, 370),
        (2017, 580),
        (2018, 775),
        (2019, 850),
        (2020, 805),
        (2021, 760),
        (2022, 220),
    ]
)

_GENRE_WEIGHTS: dict[str, _Weighted[str]] = {
    MOVIE: _Weighted(
        [
            ("drama", 2900),
            ("comedy", 2300),
            ("thriller", 1350),
            ("action", 1100),
            ("romance", 1150),
            ("documentation", 800),
            ("crime", 850),
            ("animation", 450),
            ("fantasy", 550),
            ("family", 600),
            ("scifi", 450),
            ("european", 500),
            ("horror", 500),
            ("music", 260),
            ("history", 220),
            ("reality", 40),
            ("sport", 170),
            ("war", 160),
            ("western", 50),
        ]
    ),
    SHOW: _Weighted(
        [
            ("drama", 2900),
            ("comedy", 2200),
            ("thriller", 900),
            ("action", 1000),
            ("romance", 650),
            ("documentation", 1100),
            ("crime", 950),
            ("animation", 1050),
            ("fantasy", 800),
            ("family", 650),
            ("scifi", 850),
            ("european", 380),
            ("horror", 200),
            ("music", 200),
            ("history", 260),
            ("reality", 650),
            ("sport", 160),
            ("war", 130),
            ("western", 30),
        ]
    ),
}
_GENRE_COUNTS = _Weighted([(1, 1540), (2, 1700), (3, 1250), (4, 680), (5, 345), (6, 140), (7, 78)])

_COUNTRY_WEIGHTS = _Weighted(
    [
        ("US", 2330),
        ("IN", 630),
        ("GB", 405),
        ("JP", 290),
        ("FR", 250),
        ("CA", 215),
        ("KR", 215),
        ("ES", 210),
        ("DE", 140),
        ("MX", 125),
        ("CN", 105),
        ("BR", 100),
        ("PH", 85),
        ("AU", 85),
        ("IT", 80),
        ("TR", 80),
        ("NG", 75),
        ("AR", 70),
        ("TW", 60),
        ("ID", 58),
        ("EG", 50),
        ("BE", 50),
        ("CO", 45),
        ("ZA", 42),
        ("PL", 42),
        ("HK", 41),
        ("NL", 38),
        ("TH", 38),
        ("LB", 36),
        ("SE", 30),
        ("DK", 29),
        ("SG", 28),
        ("XX", 25),
        ("NO", 22),
        ("PS", 21),
        ("AE", 21),
        ("CL", 20),
        ("MY", 19),
        ("IE", 18),
        ("IL", 16),
        ("RU", 15),
        ("SA", 15),
        ("CH", 13),
        ("AT", 13),
        ("PE", 12),
        ("NZ", 12),
        ("IS", 11),
        ("QA", 11),
        ("KW", 9),
        ("CZ", 9),
        ("BG", 8),
        ("UY", 7),
        ("HU", 7),
        ("FI", 7),
        ("LU", 7),
        ("RO", 6),
        ("JO", 6),
        ("MA", 5),
        ("PT", 5),
        ("GH", 4),
        ("KE", 4),
        ("GR", 4),
        ("VN", 4),
        ("PK", 3),
        ("UA", 3),
        ("NA", 3),
        ("SN", 2),
        ("IR", 2),
        ("CU", 2),
        ("TZ", 2),
    ]
)
_COUNTRY_COUNTS = _Weighted([(1, 4930), (2, 450), (3, 135), (4, 33), (5, 14), (6, 5)])

_SEASON_WEIGHTS = _Weighted(
    [
        (1, 1187),
        (2, 374),
        (3, 181),
        (4, 116),
        (5, 76),
        (6, 40),
        (7, 16),
        (8, 14),
        (9, 9),
        (10, 5),
        (11, 7),
        (12, 4),
        (13, 2),
        (14, 2),
        (15, 4),
        (18, 1),
        (21, 1),
        (24, 3),
        (29, 1),
    ]
)
_CERTIFICATION_WEIGHTS: dict[str, _Weighted[str]] = {
    MOVIE: _Weighted([("G", 131), ("PG", 246), ("PG-13", 440), ("R", 575), ("NC-17", 14)]),
    SHOW: _Weighted(
        [
            ("TV-Y", 105),
            ("TV-Y7", 112),
            ("TV-G", 76),
            ("TV-PG", 186),
            ("TV-14", 470),
            ("TV-MA", 841),
        ]
    ),
}
_CERTIFICATION_MISSING: dict[str, float] = {MOVIE: 0.626, SHOW: 0.126}

#: IMDb votes: inverse CDF (share of titles, votes), after the real spread.
_VOTE_KNOTS: tuple[tuple[float, float], ...] = (
    (0.0, 5.0),
    (0.05, 40.0),
    (0.10, 125.0),
    (0.25, 520.0),
    (0.50, 2280.0),
    (0.75, 10150.0),
    (0.80, 15600.0),
    (0.90, 48500.0),
    (0.95, 116000.0),
    (0.98, 260000.0),
    (0.99, 390000.0),
    (0.997, 900000.0),
    (1.0, 2300000.0),
)
#: Credited actors per title: inverse CDF (share of titles, actors).
_ACTOR_KNOTS: tuple[tuple[float, float], ...] = (
    (0.0, 1.0),
    (0.25, 4.0),
    (0.50, 8.0),
    (0.75, 13.0),
    (0.90, 19.0),
    (0.97, 28.0),
    (1.0, 50.0),
)

_ADJECTIVES: tuple[str, ...] = (
    "Silent", "Broken", "Hidden", "Last", "Lost", "Golden", "Wild", "Dark", "Little",
    "Secret", "Eternal", "Crimson", "Midnight", "Forgotten", "Burning", "Frozen", "Endless",
    "Savage", "Electric", "Quiet", "Sweet", "Bitter", "Restless", "Perfect", "Fearless",
    "Hollow", "Velvet", "Neon", "Paper", "Iron", "Glass", "Blue", "Scarlet", "Wicked",
    "Brave", "Lonely", "Stolen", "Sacred", "Fallen", "Final", "Crazy", "Happy", "Tiny",
    "Royal", "Rebel", "Strange", "Invisible", "Twisted", "Young", "Distant", "Seventh",
    "Northern", "Hungry", "Lucky", "Dangerous", "Beautiful", "Accidental", "Naked", "Dirty",
)  # fmt: skip
_NOUNS: tuple[str, ...] = (
    "Road", "River", "Kingdom", "Game", "Heart", "City", "Summer", "Night", "Promise",
    "Storm", "Family", "Shadow", "Queen", "Empire", "Island", "Mirror", "Garden", "Journey",
    "Secret", "Voice", "Dream", "Border", "Frontier", "House", "Horizon", "Letter", "Legend",
    "Sky", "Winter", "Heist", "Detective", "Wedding", "Academy", "Planet", "Ocean", "Dragon",
    "Tide", "Circle", "Code", "Crown", "Fortune", "Harvest", "Hunter", "Knight", "Melody",
    "Orchard", "Paradise", "Puzzle", "Signal", "Spell", "Stranger", "Truth", "Valley",
    "Witness", "Rhythm", "Ghost", "Fiesta", "Bakery", "Lighthouse", "Detour", "Alibi",
    "Orbit", "Runaway", "Rescue", "Sisters", "Brothers", "Outlaw", "Monsoon", "Carnival",
    "Verdict", "Affair", "Ballad", "Bride", "Chase", "Dynasty", "Exile", "Feast", "Gambit",
    "Hideout", "Inheritance", "Jungle", "Lullaby", "Masquerade", "Miracle", "Mission",
    "Odyssey", "Pact", "Prophecy", "Revenge", "Riddle", "Saga", "Sanctuary", "Scandal",
    "Showdown", "Sinner", "Song", "Target", "Throne", "Tournament", "Treasure", "Vow",
)  # fmt: skip
#: Accented words, drawn now and then (the real titles have Pokémon, Bāhubali ...).
_ACCENTED_NOUNS: tuple[str, ...] = (
    "Café", "Mañana", "Niño", "Fiancé", "Déjà Vu", "Soirée", "Piñata", "Señorita", "Pokémon",
    "Crème Brûlée", "Naïve", "Über",
)  # fmt: skip
_PLACES: tuple[str, ...] = (
    "Mumbai", "Seoul", "Lagos", "Tokyo", "Madrid", "Paris", "Berlin", "Istanbul", "Cairo",
    "Lima", "Manila", "Chennai", "Osaka", "Busan", "Nairobi", "Texas", "Brooklyn", "Harlem",
    "Kyoto", "Goa", "Havana", "Marrakech", "Oaxaca", "Delhi", "Beirut", "Jakarta", "Lisbon",
    "Naples", "Alaska", "Mars", "Dublin", "Glasgow", "Hanoi", "Karachi", "Lahore", "Accra",
    "Santiago", "Sydney", "Vancouver", "Shanghai", "Taipei", "Bangkok", "Dakar", "Rome",
)  # fmt: skip
_ACCENTED_PLACES: tuple[str, ...] = (
    "Bogotá", "São Paulo", "Zürich", "Kraków", "Malmö", "Reykjavík", "Montréal",
    "Düsseldorf", "Medellín", "Cancún", "Ürümqi", "Tromsø",
)  # fmt: skip
_INVENTED: tuple[str, ...] = (
    "Pokétopia", "Kaimōn", "Zōrak", "Rūpavali", "Mahārāja", "Éclairo", "Bāhuvira",
    "Ñandú", "Ødegaard", "Quetzalía", "Tōkaidō", "Yūrei",
)  # fmt: skip
_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "F": (
        "Ana", "Amara", "Beatriz", "Chloé", "Daniela", "Elif", "Emma", "Fatima", "Grace",
        "Hana", "Ingrid", "Isabel", "Jasmine", "Julia", "Kavya", "Keiko", "Lena", "Lucía",
        "Maya", "Mei", "Mónica", "Nadia", "Naledi", "Olivia", "Priya", "Renée", "Rosa",
        "Sakura", "Sara", "Seo-yeon", "Sofia", "Tanvi", "Valentina", "Yasmin", "Zoë", "Ayşe",
        "Marta", "Noor", "Camille", "Aisha", "Ji-woo", "Freya", "Clara", "Elena", "Leila",
        "Bianca", "Chiara", "Deepika", "Esther", "Funmi", "Gabriela", "Hélène", "Ines",
        "Joanna", "Kirsten", "Linnea", "Mariana", "Nora", "Paula", "Rania",
    ),
    "M": (
        "Adrián", "Ahmed", "Alejandro", "Arjun", "Ben", "Björn", "Carlos", "Chen", "Daniel",
        "David", "Emeka", "Felipe", "François", "Hiroshi", "Ibrahim", "Jae-won", "James",
        "Jonas", "Kenji", "Kwame", "Liam", "Luca", "Łukasz", "Mateo", "Min-ho", "Mohammed",
        "Nikhil", "Oliver", "Omar", "Pablo", "Rahul", "Rafael", "Ravi", "Samuel", "Søren",
        "Takeshi", "Tomás", "Victor", "Wei", "Yusuf", "Marcus", "Tunde", "Hugo", "Ethan",
        "Diego", "Andrés", "Bilal", "Cédric", "Dmitri", "Eduardo", "Farhan", "Gustavo",
        "Henrik", "Ikechukwu", "Joaquín", "Karan", "Lars", "Matteo", "Nicolás", "Owen",
    ),
}  # fmt: skip
_SURNAMES: tuple[str, ...] = (
    "Adeyemi", "Alvarez", "Andersen", "Bakshi", "Banerjee", "Becker", "Bianchi", "Brooks",
    "Carter", "Castillo", "Chandra", "Chen", "Choi", "Cohen", "D'Amato", "D'Souza", "Dubois",
    "Duarte", "Eriksson", "Fernández", "Fischer", "Fujita", "García", "Gómez", "Gupta",
    "Haddad", "Hansen", "Hayes", "Herrera", "Hoffmann", "Ibáñez", "Ito", "Jansen", "Kapoor",
    "Kato", "Khan", "Kim", "Kowalski", "Kumar", "Larsen", "Lee", "Lopez", "Mahmoud",
    "Mendoza", "Meyer", "Moreau", "Müller", "Murphy", "Nakamura", "Navarro", "Nguyen",
    "Núñez", "O'Brien", "O'Connor", "Okafor", "Okoye", "Olsen", "Park", "Patel", "Pereira",
    "Petrov", "Quinn", "Rahman", "Reddy", "Reyes", "Rossi", "Saito", "Santos", "Schmidt",
    "Sharma", "Silva", "Singh", "Sokolov", "Suzuki", "Tanaka", "Torres", "Tran", "Varga",
    "Vega", "Walsh", "Wang", "Watanabe", "Weber", "Williams", "Wójcik", "Yamamoto",
    "Yilmaz", "Zhang", "Öztürk", "Ramírez", "Acheampong", "Bergström", "Castro", "Dlamini",
    "Estévez", "Ferreira", "Guerrero", "Hashemi", "Iyer", "Jiménez", "Kaur", "Lindqvist",
    "Mwangi", "N'Diaye", "Oyelaran", "Pham", "Rinaldi", "Sato", "Takahashi", "Usman",
)  # fmt: skip
_NICKNAMES: tuple[str, ...] = (
    "Ace", "Doc", "Red", "Tiny", "Boom", "The Hammer", "Sunny", "Chip", "Kid", "Smokey",
    "Lucky", "Bones", "The Wall", "Sparky", "Jo", "Bibi",
)  # fmt: skip
_ROLE_NAMES: tuple[str, ...] = (
    "Nurse", "Police Officer", "Reporter", "Bartender", "Doctor", "Teacher", "Waiter",
    "Taxi Driver", "Security Guard", "Neighbor", "Student", "Soldier", "Priest", "Judge",
    "Receptionist", "Thug", "Villager", "Party Guest", "Narrator", "Host",
)  # fmt: skip
_TITLE_PREFIXES: tuple[str, ...] = (
    "Detective", "Captain", "Dr.", "Mrs.", "Mr.", "Agent", "Officer", "Uncle", "Aunt", "Young",
)  # fmt: skip


# --------------------------------------------------------------------------- model


@dataclass
class _Title:
    """One generated title (score in tenths, to stay in exact arithmetic)."""

    title_id: str
    name: str
    kind: str
    release_year: int
    age_certification: str | None
    runtime: int
    genres: list[str]
    countries: list[str]
    seasons: int | None
    imdb_id: str | None
    score: int | None
    votes: int | None

    @property
    def key(self) -> tuple[str, int, str]:
        """What the Best files match on."""
        return (self.name, self.release_year, self.kind)


@dataclass
class _Person:
    """A person who can appear in many credits, always under one name."""

    person_id: int
    name: str
    gender: str


@dataclass(frozen=True)
class _Credit:
    person_id: int
    title_id: str
    character: str
    role: str


@dataclass
class _Catalog:
    """The generated catalogue, before formatting."""

    titles: list[_Title]
    people: dict[int, _Person]
    credits: list[_Credit]
    best: dict[str, list[_Title]] = field(default_factory=dict)


# --------------------------------------------------------------------------- titles


class _TitleFactory:
    """Draws titles and keeps (name, year, type) and ids unique."""

    def __init__(self, draw: _Draw) -> None:
        self.draw = draw
        self.keys: dict[tuple[str, int, str], int] = {}
        self.ids: dict[str, int] = {}
        self.imdb_ids: dict[str, int] = {}
        self.names: list[str] = []
        self.name_seen: dict[str, bool] = {}

    def new_id(self, kind: str) -> str:
        prefix = "tm" if kind == MOVIE else "ts"
        while True:
            digits = self.draw.integer(1000, 1_200_000) if self.draw.chance(0.97) else 0
            if digits == 0:
                digits = self.draw.integer(10, 999)
            candidate = f"{prefix}{digits}"
            if candidate not in self.ids:
                self.ids[candidate] = 1
                return candidate

    def new_imdb_id(self) -> str:
        while True:
            if self.draw.chance(0.64):
                candidate = f"tt{self.draw.integer(1, 9_999_999):07d}"
            else:
                candidate = f"tt{self.draw.integer(10_000_000, 21_000_000)}"
            if candidate not in self.imdb_ids:
                self.imdb_ids[candidate] = 1
                return candidate

    def person_name(self) -> str:
        draw = self.draw
        return f"{draw.pick(_FIRST_NAMES[draw.pick(('F', 'M'))])} {draw.pick(_SURNAMES)}"

    def fresh_name(self) -> str:
        draw = self.draw
        adj = draw.pick(_ADJECTIVES)
        noun = draw.pick(_ACCENTED_NOUNS) if draw.chance(0.02) else draw.pick(_NOUNS)
        place = draw.pick(_ACCENTED_PLACES) if draw.chance(0.04) else draw.pick(_PLACES)
        pattern = draw.integer(0, 99)
        if pattern < 20:
            return f"The {adj} {noun}"
        if pattern < 33:
            return f"{adj} {noun}"
        if pattern < 41:
            return f"The {noun} of {place}"
        if pattern < 48:
            return f"{place} {noun}"
        if pattern < 52:
            return noun
        if pattern < 55:
            return f"{adj} {noun} {draw.integer(2, 4)}"
        if pattern < 60:
            return f"{draw.pick(_FIRST_NAMES[draw.pick(('F', 'M'))])}'s {noun}"
        if pattern < 64:
            return f"{self.person_name()}: Live in {place}"
        if pattern < 68:
            return f"{noun}: The {draw.pick(_ADJECTIVES)} {draw.pick(_NOUNS)}"
        if pattern < 74:
            return f"{draw.pick(('Love', 'Murder', 'Midnight', 'Chaos', 'Lost'))} in {place}"
        if pattern < 78:
            return f"My {adj} {noun}"
        if pattern < 79:
            return f"{draw.pick(_INVENTED)}: The {noun}"
        if pattern < 84:
            return f"The {noun} Diaries"
        if pattern < 86:
            return f"Love, {place}"
        if pattern < 88:
            return f"{adj} {noun}… Why?"
        if pattern < 92:
            return f"{noun} & {draw.pick(_NOUNS)}"
        return f"The {adj} {noun}s of {place}"

    def claim(self, title: _Title) -> bool:
        """Register a title's (name, year, type); False if taken."""
        if title.key in self.keys:
            return False
        self.keys[title.key] = 1
        if title.name not in self.name_seen:
            self.name_seen[title.name] = True
            self.names.append(title.name)
        return True

    def rename(self, title: _Title, name: str, year: int) -> bool:
        """Give a registered title another (name, year) if that key is free."""
        new_key = (name, year, title.kind)
        if new_key in self.keys:
            return False
        del self.keys[title.key]
        self.keys[new_key] = 1
        title.name, title.release_year = name, year
        return True

    def new_title(self) -> _Title:
        draw = self.draw
        kind = MOVIE if draw.chance(0.65) else SHOW
        year = draw.weighted(_YEAR_WEIGHTS)
        age = (
            None
            if draw.chance(_CERTIFICATION_MISSING[kind])
            else draw.weighted(_CERTIFICATION_WEIGHTS[kind])
        )
        if kind == MOVIE:
            runtime = max(3, min(251, round(draw.normal(99.0, 30.0))))
            seasons = None
        else:
            runtime = 0 if draw.chance(0.008) else max(2, min(225, round(draw.normal(39.0, 18.0))))
            seasons = draw.weighted(_SEASON_WEIGHTS)
        genres = (
            []
            if draw.chance(0.011)
            else draw.weighted_sample(_GENRE_WEIGHTS[kind], draw.weighted(_GENRE_COUNTS))
        )
        countries = (
            []
            if draw.chance(0.04)
            else draw.weighted_sample(_COUNTRY_WEIGHTS, draw.weighted(_COUNTRY_COUNTS))
        )
        imdb_id = None if draw.chance(0.076) else self.new_imdb_id()
        score: int | None = None
        votes: int | None = None
        if imdb_id is not None and not draw.chance(0.015):
            mean, sd = (62.7, 11.2) if kind == MOVIE else (70.2, 10.8)
            raw = draw.normal(mean, sd)
            if raw > 82.0:  # a short upper tail: 9+ is rare, as on IMDb
                raw = 82.0 + (raw - 82.0) * 0.7
            score = max(15, min(96, round(raw)))
            # Well-liked titles draw more votes.
            votes = int(draw.quantile(_VOTE_KNOTS, shift=(score - 65) / 200))
            if draw.chance(0.003):
                votes = None
        title = _Title(
            title_id=self.new_id(kind),
            name="",
            kind=kind,
            release_year=year,
            age_certification=age,
            runtime=runtime,
            genres=genres,
            countries=countries,
            seasons=seasons,
            imdb_id=imdb_id,
            score=score,
            votes=votes,
        )
        while True:
            if self.names and draw.chance(0.008):
                title.name = draw.pick(self.names)  # a repeated title name
            else:
                for _ in range(20):  # other repeats stay rare: retry names already used
                    title.name = self.fresh_name()
                    if title.name not in self.name_seen:
                        break
            if self.claim(title):
                return title


class _Planter:
    """Forces each quirk onto at least one title, whatever the size and seed."""

    def __init__(self, factory: _TitleFactory, titles: list[_Title]) -> None:
        self.factory = factory
        self.titles = titles
        self.order = factory.draw.permutation(len(titles))
        self.used: dict[int, bool] = {}

    def take(self, accept: Callable[[_Title], bool]) -> _Title:
        """An untouched title that ``accept`` approves, in a random order."""
        for index in self.order:
            if index not in self.used and accept(self.titles[index]):
                self.used[index] = True
                return self.titles[index]
        raise RuntimeError("no title left to plant a quirk on; generate more titles")

    def take_renamed(self, accept: Callable[[_Title], bool], name: str, year: int | None) -> _Title:
        """An untouched title that ``accept`` approves, renamed to ``name`` (and ``year``)."""
        for index in self.order:
            title = self.titles[index]
            if index in self.used or not accept(title):
                continue
            new_year = title.release_year if year is None else year
            if self.factory.rename(title, name, new_year):
                self.used[index] = True
                return title
        raise RuntimeError(f"could not give another title the name {name!r}")

    def plant_all(self) -> None:
        draw = self.factory.draw

        def is_movie(t: _Title) -> bool:
            return t.kind == MOVIE

        def is_show(t: _Title) -> bool:
            return t.kind == SHOW

        def complete(t: _Title) -> None:
            if not t.genres:
                t.genres = draw.weighted_sample(_GENRE_WEIGHTS[t.kind], 2)
            if not t.countries:
                t.countries = [draw.weighted(_COUNTRY_WEIGHTS)]
            if t.imdb_id is None:
                t.imdb_id = self.factory.new_imdb_id()

        # The obsolete SU, on an old co-production (first: old titles are few).
        soviet = self.take(lambda t: t.release_year <= 1991)
        soviet.countries = ["IN", "SU"] if draw.chance(0.5) else ["SU"]

        # One title with an empty name, no genres, no countries, no score.
        empty = self.take_renamed(is_movie, "", None)
        empty.genres, empty.countries, empty.score, empty.votes = [], [], None, None
        empty.age_certification = None

        # A (title, year) that is both a movie and a show; one such pair famous
        # enough for the all-time lists, so that matching the Best files without
        # the type fails.
        for famous in (True, False):
            movie = self.take(is_movie)
            show = self.take_renamed(is_show, movie.name, movie.release_year)
            if famous:
                for t in (movie, show):
                    complete(t)
                    t.score = draw.integer(83, 89)
                    t.votes = draw.integer(60_000, 400_000)

        # A best movie whose name an obscure movie of another year repeats.
        best = self.take(is_movie)
        complete(best)
        best.score, best.votes = draw.integer(86, 92), draw.integer(200_000, 900_000)
        twin = self.take_renamed(
            lambda t: is_movie(t) and t.release_year != best.release_year, best.name, None
        )
        twin.score, twin.votes = draw.integer(40, 55), draw.integer(50, 900)

        # Exactly one spelled-out country (on an obscure title, as in the real
        # files), and at least one XX and one NA (Namibia).
        self.take(lambda t: (t.votes or 0) < ALL_TIME_MIN_VOTES).countries = ["Lebanon"]
        self.take(lambda t: True).countries = ["XX"]
        self.take(lambda t: True).countries = ["NA", "ZA"]

        # Empty lists on titles that have a name.
        self.take(lambda t: t.genres != []).genres = []
        self.take(lambda t: t.countries != []).countries = []

        # A show with runtime 0, a score without votes, a title without score.
        self.take(is_show).runtime = 0
        self.take(lambda t: t.score is not None).votes = None
        unscored = self.take(lambda t: t.score is not None)
        unscored.score, unscored.votes = None, None

    def ensure_old_title(self) -> None:
        """Make sure a pre-1992 title exists for the SU co-production."""
        if any(t.release_year <= 1991 for t in self.titles):
            return
        for index in self.order:
            title = self.titles[index]
            if self.factory.rename(title, title.name, 1985):
                return
        raise RuntimeError("could not make a pre-1992 title")


def _build_titles(draw: _Draw, count: int) -> tuple[_TitleFactory, list[_Title]]:
    factory = _TitleFactory(draw)
    titles = [factory.new_title() for _ in range(count)]
    planter = _Planter(factory, titles)
    planter.ensure_old_title()
    planter.plant_all()
    # Roughly chronological, like the download; ties keep the drawing order.
    titles.sort(key=lambda t: t.release_year)
    return factory, titles


# --------------------------------------------------------------------------- credits


class _CreditFactory:
    """Draws people and their credits; people recur across titles."""

    def __init__(self, draw: _Draw) -> None:
        self.draw = draw
        self.people: dict[int, _Person] = {}
        self.actor_pool: list[int] = []
        self.director_pool: list[int] = []
        self.credits: list[_Credit] = []
        self.seen: dict[tuple[int, str, str, str], bool] = {}

    def new_person(self) -> _Person:
        draw = self.draw
        while True:
            person_id = draw.integer(1, 2_400_000)
            if person_id not in self.people:
                break
        gender = draw.pick(("F", "M"))
        first, last = draw.pick(_FIRST_NAMES[gender]), draw.pick(_SURNAMES)
        shape = draw.unit()
        if shape < 0.006:
            name = f'{first} "{draw.pick(_NICKNAMES)}" {last}'
        elif shape < 0.10:
            name = f"{first} {draw.pick('ABCDEFGHJKLMNPRSTW')}. {last}"
        elif shape < 0.16:
            name = f"{first} {last}-{draw.pick(_SURNAMES)}"
        elif shape < 0.20:
            name = f"{first} {draw.pick(_SURNAMES)} {last}"
        else:
            name = f"{first} {last}"
        person = _Person(person_id, name, gender)
        self.people[person_id] = person
        return person

    def character(self, person: _Person, title: _Title) -> str:
        draw = self.draw
        main_genre = title.genres[0] if title.genres else ""
        if main_genre in ("documentation", "reality") and draw.chance(0.7):
            return draw.pick(("Self", "Self", "Himself" if person.gender == "M" else "Herself"))
        gender = draw.pick(("F", "M"))
        first, last = draw.pick(_FIRST_NAMES[gender]), draw.pick(_SURNAMES)
        shape = draw.unit()
        if shape < 0.012:
            name = f'{first} "{draw.pick(_NICKNAMES)}" {last}'
        elif shape < 0.018:
            name = f"{first} '{draw.pick(_NICKNAMES)}' {last}"
        elif shape < 0.35:
            name = first
        elif shape < 0.70:
            name = f"{first} {last}"
        elif shape < 0.85:
            name = f"{draw.pick(_TITLE_PREFIXES)} {last}"
        elif shape < 0.93:
            name = f"{draw.pick(_ROLE_NAMES)} #{draw.integer(1, 4)}"
        else:
            name = draw.pick(_ROLE_NAMES)
        if main_genre == "animation" and draw.chance(0.5):
            name = f"{name} (voice)"
        return name

    def add(self, person: _Person, title: _Title, character: str, role: str) -> bool:
        key = (person.person_id, title.title_id, role, character)
        if key in self.seen:
            return False
        self.seen[key] = True
        self.credits.append(_Credit(person.person_id, title.title_id, character, role))
        return True

    def cast_person(self, pool: list[int], reuse: float, on_title: dict[int, bool]) -> _Person:
        draw = self.draw
        if pool and draw.chance(reuse):
            candidate = self.people[draw.pick(pool)]  # busy people get picked more
            if candidate.person_id not in on_title:
                return candidate
        return self.new_person()

    def credit_title(self, title: _Title) -> None:
        draw = self.draw
        if draw.chance(0.05):
            return  # some titles have no credits at all
        on_title: dict[int, bool] = {}
        for _ in range(int(draw.quantile(_ACTOR_KNOTS))):
            person = self.cast_person(self.actor_pool, 0.3, on_title)
            on_title[person.person_id] = True
            self.actor_pool.append(person.person_id)
            character = "" if draw.chance(0.075) else self.character(person, title)
            self.add(person, title, character, ACTOR)
            if character and draw.chance(0.003):
                self.add(person, title, self.character(person, title), ACTOR)
        directors = 0
        if title.kind == MOVIE:
            directors = (1 if draw.chance(0.85) else 0) + (1 if draw.chance(0.08) else 0)
        elif draw.chance(0.15):
            directors = 1
        directing: dict[int, bool] = {}
        for _ in range(directors):
            if self.actor_pool and draw.chance(0.05):
                person = self.people[draw.pick(self.actor_pool)]  # an actor who directs
            else:
                person = self.cast_person(self.director_pool, 0.25, directing)
            if person.person_id in directing:
                continue
            directing[person.person_id] = True
            self.director_pool.append(person.person_id)
            self.add(person, title, "", DIRECTOR)

    def plant_all(self, titles: list[_Title]) -> None:
        """Force the credit quirks onto at least one credit each."""
        draw = self.draw
        actors = [c for c in self.credits if c.role == ACTOR and c.character]
        if not actors:
            raise RuntimeError("no actor credits to plant quirks on")
        by_id = {t.title_id: t for t in titles}
        # A person playing three characters on one title.
        multi = actors[draw.integer(0, len(actors) - 1)]
        person, title = self.people[multi.person_id], by_id[multi.title_id]
        first = draw.pick(_FIRST_NAMES[person.gender])
        for character in (f"{first} (1985)", f"Old {first}"):
            self.add(person, title, character, ACTOR)
        # Quotes in a name and in a character.
        quoted = self.people[actors[draw.integer(0, len(actors) - 1)].person_id]
        first, _, last = quoted.name.partition(" ")
        quoted.name = f'{first} "{draw.pick(_NICKNAMES)}" {last}'
        title = by_id[actors[draw.integer(0, len(actors) - 1)].title_id]
        self.add(self.new_person(), title, 'Josephine "Jo" March', ACTOR)
        self.add(self.new_person(), title, "Matthew 'Sport' Higgins", ACTOR)


def _build_credits(draw: _Draw, titles: list[_Title]) -> _CreditFactory:
    factory = _CreditFactory(draw)
    for title in titles:
        factory.credit_title(title)
    factory.plant_all(titles)
    order = {t.title_id: i for i, t in enumerate(titles)}
    role_rank = {ACTOR: 0, DIRECTOR: 1}
    # Grouped by title in file order, actors before directors; stable otherwise.
    factory.credits.sort(key=lambda c: (order[c.title_id], role_rank[c.role]))
    return factory


# --------------------------------------------------------------------------- best-of


def _best_lists(titles: list[_Title]) -> dict[str, list[_Title]]:
    """The four best-of lists, each title matching exactly one title row."""
    key_count: dict[tuple[str, int, str], int] = {}
    for t in titles:
        key_count[t.key] = key_count.get(t.key, 0) + 1

    def eligible(t: _Title) -> bool:
        return (
            t.name != ""
            and key_count[t.key] == 1
            and bool(t.genres)
            and bool(t.countries)
            and t.score is not None
            and t.votes is not None
        )

    def rank(t: _Title) -> tuple[int, int, str]:
        return (-(t.score or 0), -(t.votes or 0), t.title_id)

    lists: dict[str, list[_Title]] = {}
    for kind, all_time, by_year in (
        (MOVIE, BEST_MOVIES.name, BEST_MOVIES_BY_YEAR.name),
        (SHOW, BEST_SHOWS.name, BEST_SHOWS_BY_YEAR.name),
    ):
        of_kind = [t for t in titles if t.kind == kind]
        candidates = sorted((t for t in of_kind if eligible(t)), key=rank)
        size = int(ALL_TIME_SHARE[kind] * len(of_kind) + 0.5)
        lists[all_time] = [t for t in candidates if (t.votes or 0) >= ALL_TIME_MIN_VOTES][:size]
        winners: dict[int, _Title] = {}
        for t in candidates:
            if (t.votes or 0) >= BY_YEAR_MIN_VOTES and t.release_year not in winners:
                winners[t.release_year] = t
        lists[by_year] = [winners[year] for year in sorted(winners)]
    return lists


def _build_catalog(titles: int, seed: int) -> _Catalog:
    draw = _Draw(seed)
    _, title_rows = _build_titles(draw, titles)
    credits = _build_credits(draw, title_rows)
    catalog = _Catalog(title_rows, credits.people, credits.credits)
    catalog.best = _best_lists(title_rows)
    return catalog


# --------------------------------------------------------------------------- writing


def _score(tenths: int | None) -> str:
    return "" if tenths is None else f"{tenths // 10}.{tenths % 10}"


def _integer(value: int | None, *, as_float: bool = False) -> str:
    if value is None:
        return ""
    return f"{value}.0" if as_float else str(value)


def _title_values(t: _Title, layout: Layout) -> dict[str, str]:
    floats = layout == "kaggle"  # pandas writes int columns with gaps as floats
    return {
        "id": t.title_id,
        "title": t.name,
        "type": t.kind,
        "release_year": str(t.release_year),
        "age_certification": t.age_certification or "",
        "runtime": str(t.runtime),
        "genres": str(t.genres),
        "production_countries": str(t.countries),
        "seasons": _integer(t.seasons, as_float=floats),
        "imdb_id": t.imdb_id or "",
        "imdb_score": _score(t.score),
        "imdb_votes": _integer(t.votes, as_float=floats),
    }


def _best_values(t: _Title) -> dict[str, str]:
    return {
        "title": t.name,
        "release_year": str(t.release_year),
        "score": _score(t.score),
        "number_of_votes": _integer(t.votes),
        "duration": str(t.runtime),
        "number_of_seasons": _integer(t.seasons),
        "main_genre": BEST_OF_GENRE_LABELS[t.genres[0]],
        "main_production": t.countries[0],
    }


def _table_rows(catalog: _Catalog, table: RawTable, layout: Layout) -> list[list[str]]:
    if table.name == TITLES.name:
        values = [_title_values(t, layout) for t in catalog.titles]
    elif table.name == CREDITS.name:
        values = [
            {
                "person_id": str(c.person_id),
                "id": c.title_id,
                "name": catalog.people[c.person_id].name,
                "character": c.character,
                "role": c.role,
            }
            for c in catalog.credits
        ]
    else:
        values = [_best_values(t) for t in catalog.best[table.name]]
    return [[row[name] for name in table.column_names] for row in values]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def generate_catalog(
    out_dir: Path,
    *,
    titles: int = 1200,
    seed: int = 42,
    layout: Literal["seed", "kaggle"] = "seed",
) -> dict[str, Path]:
    """Write a synthetic catalogue of the six raw files into ``out_dir``.

    Args:
        out_dir: Folder to write into (created if missing); existing files of
            the same names are replaced.
        titles: Number of titles (at least :data:`MIN_TITLES`); credits come to
            about ten per title, and the best-of lists follow from the titles.
        seed: Seed of the random stream; the same ``(titles, seed, layout)``
            always writes byte-identical files.
        layout: ``"seed"`` for the project's own layout (files named after the
            raw tables, lower-case headers, integers as integers) or
            ``"kaggle"`` for the Kaggle download's (its file names, a leading
            ``index`` column, upper-case Best headers, float ``seasons`` and
            ``imdb_votes``). Both hold the same data.

    Returns:
        Raw table name -> path of the file written, in the order of
        :data:`recdb.core.raw_tables.RAW_TABLES`.

    Raises:
        ValueError: ``titles`` below :data:`MIN_TITLES` or an unknown layout.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if titles < MIN_TITLES:
        raise ValueError(f"titles={titles} is too few: generate at least {MIN_TITLES}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = _build_catalog(titles, seed)
    written: dict[str, Path] = {}
    for table in RAW_TABLES:
        rows = _table_rows(catalog, table, layout)
        if layout == "kaggle":
            path = out_dir / KAGGLE_FILE_NAMES[table.name]
            header = ["index"] + [
                name if table.name in (TITLES.name, CREDITS.name) else name.upper()
                for name in table.column_names
            ]
            rows = [[str(index), *row] for index, row in enumerate(rows)]
        else:
            path = out_dir / f"{table.name}.csv"
            header = list(table.column_names)
        _write_csv(path, header, rows)
        logger.info("wrote %s: %d rows", path, len(rows))
        written[table.name] = path
    return written
