"""The COPY loader against a real PostgreSQL: every format of the wild, and clean failures."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from recdb.catalog.generate import generate_catalog
from recdb.catalog.load import read_catalog
from recdb.core.errors import CatalogLoadError
from recdb.core.raw_tables import KAGGLE_FILE_NAMES, RAW_TABLES

pytestmark = pytest.mark.integration

SEED_ROWS_QUERY = "select count(*) from raw.{}"


def table_fingerprint(warehouse, table: str) -> tuple[int, str]:
    """Row count and an order-independent digest of a raw table's content."""
    rows = warehouse.query(f"select t::text from raw.{table} as t order by 1")
    digest = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()
    return len(rows), digest


def fingerprints(warehouse) -> dict[str, tuple[int, str]]:
    return {t.name: table_fingerprint(warehouse, t.name) for t in RAW_TABLES}


def column_types(warehouse) -> list[tuple]:
    return warehouse.query(
        "select table_name, ordinal_position, column_name, data_type, numeric_precision, "
        "numeric_scale from information_schema.columns where table_schema = 'raw' "
        "and table_name = any(%s) order by 1, 2",
        ([t.name for t in RAW_TABLES],),
    )


@pytest.fixture(scope="module")
def kaggle_dir(tmp_path_factory) -> Path:
    """The generator's catalogue in the Kaggle download's exact shape."""
    out = tmp_path_factory.mktemp("kaggle")
    generate_catalog(out, titles=300, seed=7, layout="kaggle")
    return out


@pytest.fixture(scope="module")
def seed_layout_dir(tmp_path_factory) -> Path:
    """The same catalogue in the seed layout (no index column, lower-case, integers)."""
    out = tmp_path_factory.mktemp("seedlayout")
    generate_catalog(out, titles=300, seed=7, layout="seed")
    return out


def rewrite(folder: Path, transform) -> None:
    for path in folder.glob("*.csv"):
        path.write_bytes(transform(path.read_bytes()))


def variant(tmp_path: Path, source: Path, transform=None, rename=None) -> Path:
    out = tmp_path / "variant"
    shutil.copytree(source, out)
    if transform:
        rewrite(out, transform)
    if rename:
        for old, new in rename.items():
            (out / old).rename(out / new)
    return out


def test_kaggle_layout_loads_every_row(fresh_warehouse, kaggle_dir):
    report = fresh_warehouse.load(kaggle_dir)
    for table in RAW_TABLES:
        lines = (kaggle_dir / KAGGLE_FILE_NAMES[table.name]).read_text().count("\n")
        assert report.rows[table.name] > 0
        assert fresh_warehouse.scalar(SEED_ROWS_QUERY.format(table.name)) == report.rows[table.name]
        assert report.rows[table.name] <= lines  # header excluded, quoted newlines allowed
    assert_the_arrow_reader_reads_what_copy_loaded(fresh_warehouse, kaggle_dir)


def test_float_integers_become_integers(fresh_warehouse, kaggle_dir):
    fresh_warehouse.load(kaggle_dir)
    kaggle_text = (kaggle_dir / "raw_titles.csv").read_text()
    assert ".0," in kaggle_text  # the generator writes pandas-style floats
    assert (
        fresh_warehouse.scalar(
            "select count(*) from raw.titles where seasons is not null and type = 'MOVIE'"
        )
        == 0
    )
    assert fresh_warehouse.scalar("select pg_typeof(imdb_votes)::text from raw.titles limit 1") == (
        "integer"
    )


@pytest.mark.parametrize(
    "name, transform",
    [
        ("bom", lambda data: b"\xef\xbb\xbf" + data),
        ("crlf", lambda data: data.replace(b"\n", b"\r\n")),
        ("no final newline", lambda data: data.rstrip(b"\n")),
        (
            "bom crlf no final newline",
            lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n").rstrip(b"\r\n"),
        ),
    ],
)
def test_every_encoding_variant_gives_the_same_tables(
    fresh_warehouse, kaggle_dir, tmp_path, name, transform
):
    fresh_warehouse.load(kaggle_dir)
    expected = fingerprints(fresh_warehouse)
    folder = variant(tmp_path, kaggle_dir, transform)
    fresh_warehouse.load(folder)
    assert fingerprints(fresh_warehouse) == expected, name
    assert_the_arrow_reader_reads_what_copy_loaded(fresh_warehouse, folder)


def test_files_are_recognised_by_header_not_name(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    expected = fingerprints(fresh_warehouse)
    renamed = variant(
        tmp_path,
        kaggle_dir,
        rename={
            "Best Shows Netflix.csv": "best_shows.csv",
            "Best Movie by Year Netflix.csv": "BEST-MOVIE-BY-YEAR.CSV",
            "raw_titles.csv": "titles.csv",
        },
    )
    fresh_warehouse.load(renamed)
    assert fingerprints(fresh_warehouse) == expected


def test_seed_layout_and_kaggle_layout_give_the_same_tables(
    fresh_warehouse, kaggle_dir, seed_layout_dir
):
    kaggle_report = fresh_warehouse.load(kaggle_dir)
    expected = fingerprints(fresh_warehouse)
    seed_report = fresh_warehouse.load(seed_layout_dir)
    assert fingerprints(fresh_warehouse) == expected
    assert_the_arrow_reader_reads_what_copy_loaded(fresh_warehouse, seed_layout_dir)
    assert seed_report.rows == kaggle_report.rows
    assert seed_report.rows == {name: count for name, (count, _) in expected.items()}


def assert_load_fails_and_keeps(warehouse, folder, *fragments):
    before = fingerprints(warehouse)
    with pytest.raises(CatalogLoadError) as caught:
        warehouse.load(folder)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert fingerprints(warehouse) == before
    assert_the_arrow_reader_refuses_it_alike(folder, caught.value)
    return caught.value


def assert_the_arrow_reader_refuses_it_alike(folder, copy_error: CatalogLoadError) -> None:
    """The load of engines without COPY (Spark) refuses the same value in the same place."""
    with pytest.raises(CatalogLoadError) as caught:
        read_catalog(folder)
    where = ("path", "line", "column", "value")
    assert {k: getattr(caught.value, k) for k in where} == {
        k: getattr(copy_error, k) for k in where
    }, (str(caught.value), str(copy_error))


def _row_key(row: tuple) -> tuple:
    return tuple((value is None, str(value)) for value in row)


def assert_the_arrow_reader_reads_what_copy_loaded(warehouse, folder) -> None:
    """read_catalog (the load of engines without COPY) gives raw's rows and types."""
    tables = read_catalog(folder)
    for table in RAW_TABLES:
        loaded = sorted(warehouse.query(f"select * from raw.{table.name}"), key=_row_key)
        read = sorted((tuple(row.values()) for row in tables[table.name].to_pylist()), key=_row_key)
        assert read == loaded, table.name
        assert tables[table.name].schema.names == list(table.column_names)


def break_line(path: Path, line_number: int, transform) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line_number - 1] = transform(lines[line_number - 1])
    path.write_bytes(b"\n".join(lines))


def test_extra_field_names_file_and_line(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    break_line(broken / "raw_credits.csv", 5, lambda line: line + b",surplus")
    error = assert_load_fails_and_keeps(
        fresh_warehouse, broken, "raw_credits.csv", "line 5", "extra data"
    )
    assert error.line == 5


def test_missing_field_names_file_and_line(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    break_line(broken / "Best Shows Netflix.csv", 3, lambda line: line.rsplit(b",", 1)[0])
    assert_load_fails_and_keeps(
        fresh_warehouse, broken, "Best Shows Netflix.csv", "line 3", "missing data"
    )


def set_field(path: Path, line_number: int, column: str, value: bytes) -> None:
    """Replace one field of one line (fields without quoted commas only)."""
    header = path.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    position = header.index(column)

    def replace(line: bytes) -> bytes:
        fields = line.split(b",")
        fields[position] = value
        return b",".join(fields)

    break_line(path, line_number, replace)


@pytest.mark.parametrize(
    "bad_value, fragment",
    [(b"nineteen", "nineteen"), (b"1999.5", "1999.5"), (b"99999999999", "99999999999")],
)
def test_bad_integer_names_file_line_column_value(
    fresh_warehouse, kaggle_dir, tmp_path, bad_value, fragment
):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    set_field(broken / "Best Movies Netflix.csv", 4, "RELEASE_YEAR", bad_value)
    error = assert_load_fails_and_keeps(
        fresh_warehouse, broken, "Best Movies Netflix.csv", "line 4", "release_year", fragment
    )
    assert error.column == "release_year"
    assert error.value == fragment


def test_score_out_of_range_is_rejected(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    set_field(broken / "Best Show by Year Netflix.csv", 2, "SCORE", b"123.4")
    assert_load_fails_and_keeps(
        fresh_warehouse, broken, "Best Show by Year Netflix.csv", "line 2", "score"
    )


def test_invalid_utf8_is_rejected(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    break_line(broken / "raw_titles.csv", 6, lambda line: line.replace(b",", b",\xff", 1))
    assert_load_fails_and_keeps(fresh_warehouse, broken, "raw_titles.csv", "line 6")


def test_a_missing_file_is_named(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    (broken / "Best Show by Year Netflix.csv").unlink()
    assert_load_fails_and_keeps(fresh_warehouse, broken, "best show of each year", "no file")


def test_two_files_for_one_table_are_refused(fresh_warehouse, kaggle_dir, tmp_path):
    fresh_warehouse.load(kaggle_dir)
    broken = variant(tmp_path, kaggle_dir)
    shutil.copy(broken / "raw_credits.csv", broken / "credits copy.csv")
    assert_load_fails_and_keeps(fresh_warehouse, broken, "two files", "raw.credits")


def test_seeds_and_loader_build_identical_tables(fresh_warehouse):
    """`dbt seed` of the project's catalogue and `recdb load` of it give the same raw tables."""
    fresh_warehouse.load()
    loaded_types, loaded = column_types(fresh_warehouse), fingerprints(fresh_warehouse)
    fresh_warehouse.dbt("seed", "--full-refresh", "--vars", "{load_source_data: true}")
    assert column_types(fresh_warehouse) == loaded_types
    assert fingerprints(fresh_warehouse) == loaded
    fresh_warehouse.load()  # and the loader accepts the tables dbt seed made
    assert fingerprints(fresh_warehouse) == loaded


def test_a_header_only_file_is_refused_and_raw_keeps_its_rows(
    fresh_warehouse, seed_layout_dir, tmp_path
):
    fresh_warehouse.load(seed_layout_dir)
    before = fingerprints(fresh_warehouse)
    emptied = variant(tmp_path, seed_layout_dir)
    titles = emptied / "titles.csv"
    titles.write_text(titles.read_text().splitlines()[0] + "\n")
    with pytest.raises(CatalogLoadError, match=r"titles\.csv.*only a header.*--allow-empty"):
        fresh_warehouse.load(emptied)
    assert fingerprints(fresh_warehouse) == before
    assert_the_arrow_reader_refuses_it_alike(emptied, CatalogLoadError("", path=titles))


def test_an_empty_table_loads_when_asked_for(fresh_warehouse, seed_layout_dir, tmp_path):
    emptied = variant(tmp_path, seed_layout_dir)
    best = emptied / "best_shows.csv"
    best.write_text(best.read_text().splitlines()[0] + "\n")
    result = fresh_warehouse.recdb("load", "--from", str(emptied), "--allow-empty")
    assert "raw.best_shows: 0 rows" in result.stdout
    assert fresh_warehouse.scalar("select count(*) from raw.best_shows") == 0
    refused = fresh_warehouse.recdb("load", "--from", str(emptied), check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "--allow-empty" in refused.stderr
