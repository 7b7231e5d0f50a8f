"""Recognising catalogue files by header, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from recdb.catalog.load import find_catalog_files, match_table, read_header
from recdb.core.errors import CatalogLoadError
from recdb.core.raw_tables import KAGGLE_FILE_NAMES, RAW_TABLES


def write(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    data = text.replace("\n", "\r\n") if crlf else text
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode())
    return path


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_header_is_normalised(tmp_path, bom, crlf):
    path = write(
        tmp_path / "x.csv", "index,TITLE, Release_Year ,SCORE\n1,a,2,3\n", bom=bom, crlf=crlf
    )
    assert read_header(path) == ("index", "title", "release_year", "score")


@pytest.mark.parametrize("table", RAW_TABLES, ids=lambda t: t.name)
@pytest.mark.parametrize("index_name", [None, "index", "", "Unnamed: 0"])
def test_each_table_is_recognised_with_or_without_index(tmp_path, table, index_name):
    columns = [c.upper() if table.name.startswith("best") else c for c in table.column_names]
    header = ([index_name] if index_name is not None else []) + columns
    path = write(tmp_path / "anything.csv", ",".join(header) + "\n")
    assert match_table(path, read_header(path)) == table


def test_best_movies_and_shows_are_told_apart_by_columns(tmp_path):
    movies = write(tmp_path / "a.csv", "TITLE,RELEASE_YEAR,SCORE,MAIN_GENRE,MAIN_PRODUCTION\n")
    shows = write(
        tmp_path / "b.csv",
        "TITLE,RELEASE_YEAR,SCORE,NUMBER_OF_SEASONS,MAIN_GENRE,MAIN_PRODUCTION\n",
    )
    assert match_table(movies, read_header(movies)).name == "best_movies_by_year"
    assert match_table(shows, read_header(shows)).name == "best_shows_by_year"


def test_unknown_header_matches_nothing(tmp_path):
    path = write(tmp_path / "notes.csv", "title,comment\n")
    assert match_table(path, read_header(path)) is None


def test_empty_file_is_named(tmp_path):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(CatalogLoadError, match=r"empty\.csv, line 1: the file is empty"):
        read_header(path)


def test_missing_folder(tmp_path):
    with pytest.raises(CatalogLoadError, match="no such folder"):
        find_catalog_files(tmp_path / "nope")


def test_missing_files_are_listed(tmp_path):
    write(tmp_path / KAGGLE_FILE_NAMES["titles"], ",".join(RAW_TABLES[0].column_names) + "\n")
    with pytest.raises(CatalogLoadError) as caught:
        find_catalog_files(tmp_path)
    assert "raw_credits.csv" in str(caught.value)
    assert "raw_titles.csv: one row per title" not in str(caught.value)


def test_error_message_names_every_part():
    error = CatalogLoadError("bad", path="f.csv", line=3, column="runtime", value="x")
    assert str(error) == "f.csv, line 3, column 'runtime': bad (value 'x')"
