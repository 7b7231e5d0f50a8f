"""The six raw catalogue tables: names, columns and PostgreSQL types.

This is the single description of the raw layer. The COPY loader creates the
tables from it, the generator writes its columns in this order, and the dbt
seeds in ``seeds/netflix`` declare the same ``column_types`` (a test checks
that both paths produce identical tables).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One raw column: its name in the table and its PostgreSQL type."""

    name: str
    pg_type: str

    @property
    def is_integer(self) -> bool:
        """Whether the column holds integers (pandas may have written them as ``1.0``)."""
        return self.pg_type in {"integer", "bigint"}

    @property
    def is_numeric(self) -> bool:
        """Whether the column holds a decimal number."""
        return self.pg_type.startswith("numeric")


@dataclass(frozen=True)
class RawTable:
    """A raw table in schema ``raw``, fed by one catalogue file."""

    name: str
    columns: tuple[Column, ...]
    description: str

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names, in table order."""
        return tuple(c.name for c in self.columns)


RAW_SCHEMA = "raw"

_TEXT = "text"
_INT = "integer"
_SCORE = "numeric(3,1)"

TITLES = RawTable(
    "titles",
    (
        Column("id", _TEXT),
        Column("title", _TEXT),
        Column("type", _TEXT),
        Column("release_year", _INT),
        Column("age_certification", _TEXT),
        Column("runtime", _INT),
        Column("genres", _TEXT),
        Column("production_countries", _TEXT),
        Column("seasons", _INT),
        Column("imdb_id", _TEXT),
        Column("imdb_score", _SCORE),
        Column("imdb_votes", _INT),
    ),
    "raw_titles.csv: one row per title",
)
CREDITS = RawTable(
    "credits",
    (
        Column("person_id", _INT),
        Column("id", _TEXT),
        Column("name", _TEXT),
        Column("character", _TEXT),
        Column("role", _TEXT),
    ),
    "raw_credits.csv: one row per credit of a person on a title",
)
BEST_MOVIES = RawTable(
    "best_movies",
    (
        Column("title", _TEXT),
        Column("release_year", _INT),
        Column("score", _SCORE),
        Column("number_of_votes", _INT),
        Column("duration", _INT),
        Column("main_genre", _TEXT),
        Column("main_production", _TEXT),
    ),
    "Best Movies Netflix.csv: the all-time best movies",
)
BEST_MOVIES_BY_YEAR = RawTable(
    "best_movies_by_year",
    (
        Column("title", _TEXT),
        Column("release_year", _INT),
        Column("score", _SCORE),
        Column("main_genre", _TEXT),
        Column("main_production", _TEXT),
    ),
    "Best Movie by Year Netflix.csv: the best movie of each year",
)
BEST_SHOWS = RawTable(
    "best_shows",
    (
        Column("title", _TEXT),
        Column("release_year", _INT),
        Column("score", _SCORE),
        Column("number_of_votes", _INT),
        Column("duration", _INT),
        Column("number_of_seasons", _INT),
        Column("main_genre", _TEXT),
        Column("main_production", _TEXT),
    ),
    "Best Shows Netflix.csv: the all-time best shows",
)
BEST_SHOWS_BY_YEAR = RawTable(
    "best_shows_by_year",
    (
        Column("title", _TEXT),
        Column("release_year", _INT),
        Column("score", _SCORE),
        Column("number_of_seasons", _INT),
        Column("main_genre", _TEXT),
        Column("main_production", _TEXT),
    ),
    "Best Show by Year Netflix.csv: the best show of each year",
)

RAW_TABLES: tuple[RawTable, ...] = (
    TITLES,
    CREDITS,
    BEST_MOVIES,
    BEST_MOVIES_BY_YEAR,
    BEST_SHOWS,
    BEST_SHOWS_BY_YEAR,
)

#: File names of the Kaggle download, for the generator's Kaggle layout.
KAGGLE_FILE_NAMES: dict[str, str] = {
    "titles": "raw_titles.csv",
    "credits": "raw_credits.csv",
    "best_movies": "Best Movies Netflix.csv",
    "best_movies_by_year": "Best Movie by Year Netflix.csv",
    "best_shows": "Best Shows Netflix.csv",
    "best_shows_by_year": "Best Show by Year Netflix.csv",
}
