"""The synthetic catalogue generator: determinism, layouts, and every quirk of the real files."""

from __future__ import annotations

import ast
import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from recdb.catalog.generate import (
    ALL_TIME_MIN_VOTES,
    ALL_TIME_SHARE,
    BEST_OF_GENRE_LABELS,
    BY_YEAR_MIN_VOTES,
    GENRES,
    MIN_TITLES,
    MOVIE_CERTIFICATIONS,
    SHOW_CERTIFICATIONS,
    generate_catalog,
)
from recdb.core.raw_tables import KAGGLE_FILE_NAMES, RAW_TABLES

PROJECT_DIR = Path(__file__).resolve().parents[2]
NETFLIX_SEEDS = PROJECT_DIR / "seeds" / "netflix"
REFERENCE_SEEDS = PROJECT_DIR / "seeds" / "reference"
TABLES = {t.name: t for t in RAW_TABLES}
BEST_TABLES = ("best_movies", "best_movies_by_year", "best_shows", "best_shows_by_year")
BEST_KIND = {
    "best_movies": "MOVIE",
    "best_movies_by_year": "MOVIE",
    "best_shows": "SHOW",
    "best_shows_by_year": "SHOW",
}
INTEGER = re.compile(r"^-?\d+$")
FLOAT_INTEGER = re.compile(r"^\d+\.0$")
SCORE = re.compile(r"^\d\.\d$")


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def literal(text: str) -> list[str]:
    value = ast.literal_eval(text)
    assert isinstance(value, list), text
    return value


@dataclass
class Catalog:
    """The six files of a seed-layout folder, parsed with the csv module."""

    tables: dict[str, list[dict[str, str]]]

    @classmethod
    def read(cls, folder: Path) -> Catalog:
        return cls({name: read_csv(folder / f"{name}.csv")[1] for name in TABLES})

    @property
    def titles(self) -> list[dict[str, str]]:
        return self.tables["titles"]

    @property
    def credits(self) -> list[dict[str, str]]:
        return self.tables["credits"]

    def titles_by_key(self) -> dict[tuple[str, str, str], list[dict[str, str]]]:
        found: dict[tuple[str, str, str], list[dict[str, str]]] = {}
        for t in self.titles:
            found.setdefault((t["title"], t["release_year"], t["type"]), []).append(t)
        return found


@pytest.fixture(scope="module")
def default_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default")
    generate_catalog(out)
    return out


@pytest.fixture(scope="module")
def kaggle_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kaggle")
    generate_catalog(out, layout="kaggle")
    return out


@pytest.fixture(scope="module")
def catalog(default_dir) -> Catalog:
    return Catalog.read(default_dir)


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("layout", ["seed", "kaggle"])
def test_same_arguments_write_identical_bytes(tmp_path, layout):
    first = generate_catalog(tmp_path / "a", titles=150, seed=3, layout=layout)
    second = generate_catalog(tmp_path / "b", titles=150, seed=3, layout=layout)
    assert list(first) == list(second)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_another_seed_writes_another_catalogue(tmp_path):
    first = generate_catalog(tmp_path / "a", titles=150, seed=3)
    second = generate_catalog(tmp_path / "b", titles=150, seed=4)
    assert first["titles"].read_bytes() != second["titles"].read_bytes()
    assert first["credits"].read_bytes() != second["credits"].read_bytes()


def test_committed_seeds_equal_a_fresh_generation(default_dir):
    """seeds/netflix is generator output: regenerate it, never edit it by hand."""
    for name in TABLES:
        committed = (NETFLIX_SEEDS / f"{name}.csv").read_bytes()
        assert committed == (default_dir / f"{name}.csv").read_bytes(), (
            f"seeds/netflix/{name}.csv differs from `recdb catalog generate --out "
            "seeds/netflix`; regenerate it"
        )


def test_committed_catalogue_stays_small():
    assert sum((NETFLIX_SEEDS / f"{n}.csv").stat().st_size for n in TABLES) < 1_500_000


def test_too_few_titles_or_unknown_layout_are_refused(tmp_path):
    with pytest.raises(ValueError, match="too few"):
        generate_catalog(tmp_path, titles=MIN_TITLES - 1)
    with pytest.raises(ValueError, match="unknown layout"):
        generate_catalog(tmp_path, layout="excel")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- layouts


def test_seed_layout_files_and_headers(default_dir):
    written = sorted(p.name for p in default_dir.iterdir())
    assert written == sorted(f"{name}.csv" for name in TABLES)
    for table in RAW_TABLES:
        data = (default_dir / f"{table.name}.csv").read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in data
        assert data.endswith(b"\n")
        data.decode("utf-8")
        header, rows = read_csv(default_dir / f"{table.name}.csv")
        assert header == list(table.column_names)
        assert rows, table.name


def test_return_value_names_every_file(tmp_path):
    written = generate_catalog(tmp_path / "k", titles=120, layout="kaggle")
    assert list(written) == [t.name for t in RAW_TABLES]
    for name, path in written.items():
        assert path == tmp_path / "k" / KAGGLE_FILE_NAMES[name]
        assert path.is_file()


def test_seed_layout_writes_plain_integers_and_one_decimal_scores(catalog):
    for table in RAW_TABLES:
        for row in catalog.tables[table.name]:
            for column in table.columns:
                value = row[column.name]
                if value == "":
                    continue
                if column.is_integer:
                    assert INTEGER.match(value), (table.name, column.name, value)
                elif column.is_numeric:
                    assert SCORE.match(value), (table.name, column.name, value)
                    assert 1.5 <= float(value) <= 9.6


def test_kaggle_layout_is_the_download_shape(kaggle_dir):
    assert sorted(p.name for p in kaggle_dir.iterdir()) == sorted(KAGGLE_FILE_NAMES.values())
    for table in RAW_TABLES:
        header, rows = read_csv(kaggle_dir / KAGGLE_FILE_NAMES[table.name])
        expected = list(table.column_names)
        if table.name in BEST_TABLES:
            expected = [name.upper() for name in expected]
        assert header == ["index", *expected]
        assert [row["index"] for row in rows] == [str(i) for i in range(len(rows))]


def test_kaggle_layout_writes_seasons_and_votes_as_floats(kaggle_dir):
    _, rows = read_csv(kaggle_dir / KAGGLE_FILE_NAMES["titles"])
    for column in ("seasons", "imdb_votes"):
        values = [row[column] for row in rows]
        assert "" in values
        assert all(v == "" or FLOAT_INTEGER.match(v) for v in values), column
    assert "1.0" in {row["seasons"] for row in rows}
    for column in ("release_year", "runtime"):
        assert all(INTEGER.match(row[column]) for row in rows)


def test_both_layouts_hold_the_same_data(default_dir, kaggle_dir):
    for table in RAW_TABLES:
        _, seed_rows = read_csv(default_dir / f"{table.name}.csv")
        _, kaggle_rows = read_csv(kaggle_dir / KAGGLE_FILE_NAMES[table.name])
        assert len(seed_rows) == len(kaggle_rows)
        for seed_row, kaggle_row in zip(seed_rows, kaggle_rows, strict=True):
            for column in table.column_names:
                kaggle_value = kaggle_row[column.upper() if table.name in BEST_TABLES else column]
                if table.name == "titles" and column in ("seasons", "imdb_votes") and kaggle_value:
                    assert FLOAT_INTEGER.match(kaggle_value)
                    kaggle_value = kaggle_value.removesuffix(".0")
                assert seed_row[column] == kaggle_value, (table.name, column)


# --------------------------------------------------------------------------- quirks


def check_titles(cat: Catalog) -> None:
    titles = cat.titles
    ids = [t["id"] for t in titles]
    assert len(set(ids)) == len(ids)
    for t in titles:
        assert re.fullmatch(r"tm\d+" if t["type"] == "MOVIE" else r"ts\d+", t["id"]), t["id"]
        assert t["type"] in ("MOVIE", "SHOW")
        assert 1945 <= int(t["release_year"]) <= 2022
        assert t["imdb_id"] == "" or re.fullmatch(r"tt\d{7,8}", t["imdb_id"])
        if t["type"] == "MOVIE":
            assert t["seasons"] == ""
            assert t["age_certification"] in ("", *MOVIE_CERTIFICATIONS)
        else:
            assert int(t["seasons"]) >= 1
            assert t["age_certification"] in ("", *SHOW_CERTIFICATIONS)
        genres = literal(t["genres"])
        assert t["genres"] == str(genres)  # the Python list literal, as pandas wrote it
        assert len(set(genres)) == len(genres)
        assert set(genres) <= set(GENRES)
        countries = literal(t["production_countries"])
        assert t["production_countries"] == str(countries)
        assert all(re.fullmatch(r"[A-Z]{2}", c) or c == "Lebanon" for c in countries)
        if t["imdb_score"] == "":
            assert t["imdb_votes"] == ""

    assert sum(t["title"] == "" for t in titles) == 1
    names = Counter(t["title"] for t in titles if t["title"])
    assert any(count > 1 for count in names.values()), "no repeated title names"
    assert any(ord(ch) > 127 for t in titles for ch in t["title"]), "no non-ASCII title"
    keys = cat.titles_by_key()
    assert all(len(found) == 1 for found in keys.values()), "ambiguous (title, year, type)"
    pairs = Counter((t["title"], t["release_year"]) for t in titles)
    assert any(
        count == 2 and {k[2] for k in keys if k[:2] == pair} == {"MOVIE", "SHOW"}
        for pair, count in pairs.items()
    ), "no (title, year) that is both a movie and a show"
    assert any(t["genres"] == "[]" and t["title"] for t in titles)
    assert any(t["production_countries"] == "[]" and t["title"] for t in titles)
    all_countries = Counter(c for t in titles for c in literal(t["production_countries"]))
    assert all_countries["XX"] >= 1
    assert all_countries["SU"] >= 1
    assert all_countries["NA"] >= 1
    assert all_countries["Lebanon"] == 1
    assert sum("Lebanon" in t["production_countries"] for t in titles) == 1
    assert any(t["runtime"] == "0" for t in titles)
    assert any(t["imdb_score"] == "" for t in titles if t["title"])
    assert any(t["imdb_score"] != "" and t["imdb_votes"] == "" for t in titles)
    assert any(t["age_certification"] == "" for t in titles)


def test_titles_have_the_real_quirks(catalog):
    check_titles(catalog)


def test_titles_distributions_are_plausible(catalog):
    titles = catalog.titles
    n = len(titles)
    assert n == 1200
    assert 0.6 < sum(t["type"] == "MOVIE" for t in titles) / n < 0.7
    assert 0.35 < sum(t["age_certification"] == "" for t in titles) / n < 0.55
    assert 0.005 < sum(t["genres"] == "[]" for t in titles) / n < 0.03
    assert 0.02 < sum(t["production_countries"] == "[]" for t in titles) / n < 0.07
    assert sum(t["imdb_id"] != "" for t in titles) / n > 0.85
    years = sorted(int(t["release_year"]) for t in titles)
    assert years[n // 2] >= 2015
    assert min(years) < 1980
    assert sum(t["imdb_score"] != "" and t["imdb_votes"] == "" for t in titles) < 0.01 * n
    main = Counter(literal(t["production_countries"])[0] for t in titles if t["title"] and
                   t["production_countries"] != "[]")  # fmt: skip
    assert main.most_common(1)[0][0] == "US"
    genres = Counter(g for t in titles for g in literal(t["genres"]))
    assert set(genres) == set(GENRES)


def check_credits(cat: Catalog) -> None:
    title_ids = {t["id"] for t in cat.titles}
    credits = cat.credits
    assert {c["role"] for c in credits} == {"ACTOR", "DIRECTOR"}
    assert all(c["id"] in title_ids for c in credits)
    assert all(INTEGER.match(c["person_id"]) for c in credits)
    keys = Counter((c["person_id"], c["id"], c["role"], c["character"]) for c in credits)
    assert max(keys.values()) == 1, "duplicate (person_id, id, role, character)"
    names: dict[str, set[str]] = {}
    for c in credits:
        names.setdefault(c["person_id"], set()).add(c["name"])
    assert all(len(n) == 1 for n in names.values()), "a person_id with several names"
    assert all(c["character"] == "" for c in credits if c["role"] == "DIRECTOR")
    actors = [c for c in credits if c["role"] == "ACTOR"]
    assert any(c["character"] == "" for c in actors)
    assert any(c["character"] != "" for c in actors)
    per_title_role = Counter((c["person_id"], c["id"], c["role"]) for c in credits)
    assert any(count > 1 for count in per_title_role.values()), "no one plays two characters"
    titles_per_person = Counter(p for p, _ in {(c["person_id"], c["id"]) for c in credits})
    assert any(count > 1 for count in titles_per_person.values()), "no one on two titles"
    assert any('"' in c["name"] for c in credits)
    assert any('"' in c["character"] for c in credits)
    assert any("'" in c["name"] or "'" in c["character"] for c in credits)


def test_credits_have_the_real_quirks(catalog, default_dir):
    check_credits(catalog)
    assert b'""' in (default_dir / "credits.csv").read_bytes()  # CSV quote escaping is used


def test_credits_distributions_are_plausible(catalog):
    credits = catalog.credits
    assert 8 <= len(credits) / len(catalog.titles) <= 12
    directors = sum(c["role"] == "DIRECTOR" for c in credits) / len(credits)
    assert 0.03 < directors < 0.10
    empty_actor = [c["character"] == "" for c in credits if c["role"] == "ACTOR"]
    assert 0.02 < sum(empty_actor) / len(empty_actor) < 0.2
    people = {c["person_id"] for c in credits}
    assert 1.2 < len(credits) / len(people) < 2.0


def check_best_of(cat: Catalog) -> None:
    keys = cat.titles_by_key()
    for name in BEST_TABLES:
        rows = cat.tables[name]
        assert rows, name
        for row in rows:
            found = keys.get((row["title"], row["release_year"], BEST_KIND[name]), [])
            assert len(found) == 1, (name, row)
            title = found[0]
            assert title["title"] != ""
            genres = literal(title["genres"])
            countries = literal(title["production_countries"])
            assert row["score"] == title["imdb_score"] != ""
            assert row["main_genre"] == BEST_OF_GENRE_LABELS[genres[0]]
            assert row["main_production"] == countries[0]
            if "number_of_votes" in row:
                assert row["number_of_votes"] == title["imdb_votes"]
                assert int(row["number_of_votes"]) >= ALL_TIME_MIN_VOTES
                assert row["duration"] == title["runtime"]
            if "number_of_seasons" in row:
                assert row["number_of_seasons"] == title["seasons"] != ""
            assert row["main_genre"] not in ("documentation", "music", "sport")

    for all_time in ("best_movies", "best_shows"):
        rows = cat.tables[all_time]
        scores = [(float(r["score"]), int(r["number_of_votes"])) for r in rows]
        assert scores == sorted(scores, reverse=True)
        of_kind = sum(t["type"] == BEST_KIND[all_time] for t in cat.titles)
        assert len(rows) <= round(ALL_TIME_SHARE[BEST_KIND[all_time]] * of_kind) + 1

    winners_missing = 0
    for by_year, all_time in (("best_movies_by_year", "best_movies"),
                              ("best_shows_by_year", "best_shows")):  # fmt: skip
        years = [int(r["release_year"]) for r in cat.tables[by_year]]
        assert years == sorted(set(years))
        listed = {(r["title"], r["release_year"]) for r in cat.tables[all_time]}
        for row in cat.tables[by_year]:
            winners_missing += (row["title"], row["release_year"]) not in listed
            title = keys[(row["title"], row["release_year"], BEST_KIND[by_year])][0]
            assert int(title["imdb_votes"]) >= BY_YEAR_MIN_VOTES
    assert winners_missing > 0, "every by-year winner is in an all-time list"


def test_best_of_rows_match_exactly_one_title(catalog):
    check_best_of(catalog)


def test_best_of_traps_for_loose_matching(catalog):
    names = Counter(t["title"] for t in catalog.titles)
    year_pairs = Counter((t["title"], t["release_year"]) for t in catalog.titles)
    best_rows = [r for name in BEST_TABLES for r in catalog.tables[name]]
    assert any(names[r["title"]] > 1 for r in best_rows), "title alone always matches"
    assert any(year_pairs[(r["title"], r["release_year"])] > 1 for r in best_rows), (
        "(title, year) without the type always matches"
    )
    labels = {r["main_genre"] for r in best_rows}
    assert labels & {"documentary", "musical", "sports"}, "no renamed genre label in use"


def test_by_year_winners_missing_from_all_time_lists_per_type(catalog):
    for by_year, all_time in (("best_movies_by_year", "best_movies"),
                              ("best_shows_by_year", "best_shows")):  # fmt: skip
        listed = {(r["title"], r["release_year"]) for r in catalog.tables[all_time]}
        assert any((r["title"], r["release_year"]) not in listed for r in catalog.tables[by_year])


@pytest.mark.parametrize(("titles", "seed"), [(MIN_TITLES, 1), (150, 99), (300, 7), (500, 2024)])
def test_quirks_hold_for_other_sizes_and_seeds(tmp_path, titles, seed):
    generate_catalog(tmp_path, titles=titles, seed=seed)
    cat = Catalog.read(tmp_path)
    assert len(cat.titles) == titles
    check_titles(cat)
    check_credits(cat)
    check_best_of(cat)


# --------------------------------------------------------------------------- reference seeds


def test_genres_seed_matches_the_generator():
    header, rows = read_csv(REFERENCE_SEEDS / "genres.csv")
    assert header == ["genre_id", "genre_name", "best_of_label"]
    assert [r["genre_id"] for r in rows] == list(GENRES)
    assert {r["genre_id"]: r["best_of_label"] for r in rows} == BEST_OF_GENRE_LABELS
    assert len({r["best_of_label"] for r in rows}) == len(rows)
    assert all(r["genre_name"] for r in rows)
    names = {r["genre_id"]: r["genre_name"] for r in rows}
    assert names["documentation"] == "Documentation"
    assert names["scifi"] == "Sci-Fi"


def test_countries_seed_covers_every_generated_code(catalog):
    header, rows = read_csv(REFERENCE_SEEDS / "countries.csv")
    assert header == ["country_code", "country_name"]
    codes = [r["country_code"] for r in rows]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in codes)
    assert all(r["country_name"] for r in rows)
    by_code = {r["country_code"]: r["country_name"] for r in rows}
    assert by_code["NA"] == "Namibia"
    assert by_code["SU"] == "Soviet Union"
    assert by_code["XX"] == "Unknown"
    assert by_code["LB"] == "Lebanon"  # the spelled-out country is looked up by name
    assert len(by_code) >= 249 + 2
    used = {c for t in catalog.titles for c in literal(t["production_countries"])}
    assert used - set(by_code) == {"Lebanon"}
