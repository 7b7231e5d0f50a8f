"""The fast path from catalogue CSV files to the ``raw`` schema, through COPY.

Accepts every layout the catalogue is found in: with or without pandas'
leading index column, with or without a byte-order mark, CRLF or LF, upper- or
lower-case headers, integers written as floats (``795222.0``), and any file
names: each file is recognised by its header, not its name.

The whole load is one transaction: a malformed file raises
:class:`~recdb.core.errors.CatalogLoadError` naming the file, line, column and
value, and the raw tables keep what they held before.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
from psycopg import sql

from recdb.catalog.parse import read_catalog_file
from recdb.core.connection import connect
from recdb.core.errors import CatalogLoadError
from recdb.core.raw_tables import RAW_SCHEMA, RAW_TABLES, RawTable
from recdb.core.settings import default_catalog_dir
from recdb.core.spark import on_spark, replace_table, session
from recdb.warehouse.roles import prepare_warehouse

logger = logging.getLogger(__name__)

#: Header names pandas gives its index column.
INDEX_COLUMN_NAMES = {"", "index", "unnamed: 0"}
COPY_CHUNK_BYTES = 1 << 20
INTEGER_CHECK_PREFIX = "whole_number_"
_COPY_LINE = re.compile(r"\bline (\d+)")
_COPY_VALUE = re.compile(r'\bcolumn (?P<column>\w+)(?:: "(?P<value>.*)")?$', re.DOTALL)


@dataclass(frozen=True)
class CatalogFile:
    """A CSV file recognised as the source of one raw table."""

    path: Path
    table: RawTable
    header: tuple[str, ...]  # the file's columns, normalised, index column included

    @property
    def has_index_column(self) -> bool:
        """Whether the file starts with pandas' index column."""
        return len(self.header) == len(self.table.columns) + 1


@dataclass(frozen=True)
class LoadReport:
    """What a load did: rows per raw table and the time it took."""

    rows: dict[str, int]
    seconds: float
    source_dir: Path


def read_header(path: Path) -> tuple[str, ...]:
    """The file's header, lower-cased and trimmed (BOM and CRLF removed)."""
    try:
        with open(path, "rb") as handle:
            first_line = handle.readline().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogLoadError(
            f"the header is not UTF-8 text ({error.reason})", path=path, line=1
        ) from None
    except OSError as error:
        raise CatalogLoadError(f"cannot read the file: {error.strerror}", path=path) from None
    if not first_line.strip():
        raise CatalogLoadError("the file is empty: expected a CSV header", path=path, line=1)
    fields = next(csv.reader([first_line.rstrip("\r\n")]))
    return tuple(field.strip().lower() for field in fields)


def match_table(path: Path, header: tuple[str, ...]) -> RawTable | None:
    """The raw table whose columns are exactly the header's (after an optional index column)."""
    columns = header[1:] if header and header[0] in INDEX_COLUMN_NAMES else header
    for table in RAW_TABLES:
        if set(columns) == set(table.column_names) and len(columns) == len(table.columns):
            return table
    return None


def find_catalog_files(source_dir: Path) -> dict[str, CatalogFile]:
    """Recognise the six catalogue files in ``source_dir`` by their headers."""
    if not source_dir.is_dir():
        raise CatalogLoadError("no such folder", path=source_dir)
    found: dict[str, CatalogFile] = {}
    for path in sorted(source_dir.iterdir()):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        header = read_header(path)
        table = match_table(path, header)
        if table is None:
            logger.warning("ignoring %s: its header matches no catalogue file", path.name)
            continue
        if table.name in found:
            raise CatalogLoadError(
                f"two files hold {RAW_SCHEMA}.{table.name}: {found[table.name].path.name!r} "
                f"and {path.name!r}; keep one of them in the folder",
                path=source_dir,
            )
        found[table.name] = CatalogFile(path=path, table=table, header=header)
    missing = [table for table in RAW_TABLES if table.name not in found]
    if missing:
        expected = "; ".join(f"{t.description} ({','.join(t.column_names)})" for t in missing)
        raise CatalogLoadError(f"no file found for: {expected}", path=source_dir)
    return found


def load_catalog(
    source_dir: Path | None = None,
    *,
    conn: psycopg.Connection | None = None,
    allow_empty: bool = False,
) -> LoadReport:
    """Load the six catalogue files of ``source_dir`` into schema ``raw``, replacing its rows.

    ``source_dir`` defaults to the project's own generated catalogue. Runs as
    the owner unless ``conn`` is given. All or nothing. A file with a header
    and no rows would empty its table: it is refused unless ``allow_empty``.
    """
    source_dir = (source_dir or default_catalog_dir()).absolute()
    files = find_catalog_files(source_dir)
    started = time.perf_counter()
    if on_spark():
        rows = _load_into_spark(files, allow_empty=allow_empty)
        return _report(rows, started, source_dir)
    own_connection = conn is None
    conn = conn or connect("owner")
    try:
        with conn.transaction():
            prepare_warehouse(conn)
            rows = {
                name: _load_file(conn, files[name], allow_empty=allow_empty)
                for name in (t.name for t in RAW_TABLES)
            }
            # statistics at once: simulated titles and credits are checked against
            # raw.titles and raw.credits, and a check planned blind loops over them
            for table in RAW_TABLES:
                conn.execute(sql.SQL("analyze {}").format(sql.Identifier(RAW_SCHEMA, table.name)))
    finally:
        if own_connection:
            conn.close()
    return _report(rows, started, source_dir)


def _report(rows: dict[str, int], started: float, source_dir: Path) -> LoadReport:
    seconds = time.perf_counter() - started
    logger.info("loaded %s rows from %s in %.2f s", sum(rows.values()), source_dir, seconds)
    return LoadReport(rows=rows, seconds=seconds, source_dir=source_dir)


def read_catalog(
    source_dir: Path | None = None, *, allow_empty: bool = False
) -> dict[str, pa.Table]:
    """The six catalogue files of ``source_dir`` as Arrow tables named like the raw tables,
    each value checked as COPY checks it (:mod:`recdb.catalog.parse`): the load of an
    engine without COPY. Raises CatalogLoadError as :func:`load_catalog` does."""
    files = find_catalog_files((source_dir or default_catalog_dir()).absolute())
    return _read_files(files, allow_empty=allow_empty)


def _read_files(files: dict[str, CatalogFile], *, allow_empty: bool) -> dict[str, pa.Table]:
    tables = {}
    for name in (t.name for t in RAW_TABLES):
        catalog_file = files[name]
        table = read_catalog_file(
            catalog_file.path, catalog_file.table.columns, catalog_file.header
        )
        if table.num_rows == 0 and not allow_empty:
            raise _empty_file_error(catalog_file)
        tables[name] = table
    return tables


def _load_into_spark(files: dict[str, CatalogFile], *, allow_empty: bool) -> dict[str, int]:
    """Every file read and checked first, then each raw table replaced by its file's rows
    as Parquet: a bad file leaves raw as it was. Spark has no transaction over several
    tables: a failure while writing (a full disk) can leave some tables replaced; load
    again."""
    tables = _read_files(files, allow_empty=allow_empty)
    spark = session()
    spark.sql(f"create schema if not exists {RAW_SCHEMA}")
    for name, table in tables.items():
        replace_table(spark, RAW_SCHEMA, name, table)
    return {name: table.num_rows for name, table in tables.items()}


def _staging_name(table: RawTable) -> sql.Identifier:
    return sql.Identifier(f"load_{table.name}")


def _load_file(conn: psycopg.Connection, catalog_file: CatalogFile, *, allow_empty: bool) -> int:
    """Replace the rows of one raw table by the file's.

    The fast attempt COPYs with the final column types: straight into the raw
    table, or through a temporary table when pandas' index column must be
    dropped. Files with integers written as floats (``1.0``) fail it and take
    the lenient path, which also names the line of a truly bad value. A file
    without rows is an error unless ``allow_empty`` (a truncated download would
    otherwise empty its table, and the marts with it at the next build).
    """
    rows = _replace_rows(conn, catalog_file)
    if rows == 0 and not allow_empty:
        raise _empty_file_error(catalog_file)
    return rows


def _empty_file_error(catalog_file: CatalogFile) -> CatalogLoadError:
    return CatalogLoadError(
        f"the file has only a header, no rows: loading it would empty raw."
        f"{catalog_file.table.name}; nothing was loaded (pass --allow-empty, or "
        "allow_empty=True, to load an empty table)",
        path=catalog_file.path,
    )


def _replace_rows(conn: psycopg.Connection, catalog_file: CatalogFile) -> int:
    table = catalog_file.table
    target = sql.Identifier(RAW_SCHEMA, table.name)
    _ensure_raw_table(conn, table)
    conn.execute(sql.SQL("truncate {}").format(target))
    try:
        with conn.transaction():
            return _copy_into(conn, catalog_file, target, lenient=False)
    except CatalogLoadError as strict_error:
        logger.debug("%s: strict COPY failed (%s), trying lenient", catalog_file.path, strict_error)
    return _copy_into(conn, catalog_file, target, lenient=True)


def _copy_into(
    conn: psycopg.Connection, catalog_file: CatalogFile, target: sql.Identifier, *, lenient: bool
) -> int:
    table = catalog_file.table
    if not lenient and not catalog_file.has_index_column:
        return _copy_file(conn, catalog_file, target, catalog_file.header)
    staging = sql.Identifier(f"load_{table.name}_{'lenient' if lenient else 'strict'}")
    _create_staging_table(conn, catalog_file, staging, lenient=lenient)
    file_columns = (
        ["_index", *catalog_file.header[1:]]
        if catalog_file.has_index_column
        else list(catalog_file.header)
    )
    _copy_file(conn, catalog_file, staging, file_columns)
    casts = [
        sql.SQL("{}::{}").format(sql.Identifier(c.name), sql.SQL(c.pg_type))
        if lenient and c.is_integer
        else sql.Identifier(c.name)
        for c in table.columns
    ]
    return conn.execute(
        sql.SQL("insert into {} ({}) select {} from {}").format(
            target,
            sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names),
            sql.SQL(", ").join(casts),
            staging,
        )
    ).rowcount


def _create_staging_table(
    conn: psycopg.Connection,
    catalog_file: CatalogFile,
    staging: sql.Identifier,
    *,
    lenient: bool,
) -> None:
    """A temporary table shaped like the file, whose types make COPY check every value.

    Leniently, integer columns are numeric, so pandas' ``795222.0`` is accepted,
    and a check constraint rejects fractions and overflow, with COPY naming the line.
    """
    types = {c.name: c for c in catalog_file.table.columns}
    definitions = []
    for position, name in enumerate(catalog_file.header):
        if catalog_file.has_index_column and position == 0:
            definitions.append(sql.SQL("_index text"))
            continue
        column = types[name]
        if lenient and column.is_integer:
            definitions.append(
                sql.SQL(
                    "{name} numeric constraint {check} check ({name} = trunc({name}) "
                    "and {name} between -2147483648 and 2147483647)"
                ).format(
                    name=sql.Identifier(name),
                    check=sql.Identifier(f"{INTEGER_CHECK_PREFIX}{name}"),
                )
            )
        else:
            definitions.append(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(column.pg_type))
            )
    conn.execute(
        sql.SQL("create temporary table {} ({}) on commit drop").format(
            staging, sql.SQL(", ").join(definitions)
        )
    )


def _copy_file(
    conn: psycopg.Connection,
    catalog_file: CatalogFile,
    destination: sql.Identifier,
    file_columns: Sequence[str],
) -> int:
    statement = sql.SQL("copy {} ({}) from stdin with (format csv, header true)").format(
        destination, sql.SQL(", ").join(sql.Identifier(c) for c in file_columns)
    )
    try:
        with open(catalog_file.path, "rb") as handle, conn.cursor() as cursor:
            with cursor.copy(statement) as copy:
                while chunk := handle.read(COPY_CHUNK_BYTES):
                    copy.write(chunk)
            return cursor.rowcount
    except psycopg.Error as error:
        raise _copy_error(catalog_file, error) from None


def _copy_error(catalog_file: CatalogFile, error: psycopg.Error) -> CatalogLoadError:
    """Turn PostgreSQL's COPY complaint into an error naming file, line, column and value."""
    diag = error.diag
    context = diag.context or ""
    problem = diag.message_primary or str(error).strip()
    line_match = _COPY_LINE.search(context)
    column_match = _COPY_VALUE.search(context)
    column = column_match.group("column") if column_match else None
    value = column_match.group("value") if column_match else None
    if diag.constraint_name and diag.constraint_name.startswith(INTEGER_CHECK_PREFIX):
        column = diag.constraint_name.removeprefix(INTEGER_CHECK_PREFIX)
        problem = "not a whole number within the integer range"
        value = _field_of_failing_row(catalog_file, column, diag.message_detail)
    elif "extra data after last expected column" in problem or "missing data for column" in problem:
        problem = (
            f"{problem}: expected {len(catalog_file.header)} fields like the header "
            f"({','.join(catalog_file.header)})"
        )
        column = None
    return CatalogLoadError(
        problem,
        path=catalog_file.path,
        line=int(line_match.group(1)) if line_match else None,
        column=column,
        value=value,
    )


def _field_of_failing_row(catalog_file: CatalogFile, column: str, detail: str | None) -> str | None:
    """The value of ``column`` in PostgreSQL's 'Failing row contains (...)' detail."""
    if not detail or "(" not in detail:
        return None
    row_text = detail[detail.index("(") + 1 : detail.rindex(")")]
    fields = next(csv.reader([row_text], skipinitialspace=True))
    try:
        return fields[catalog_file.header.index(column)]
    except (ValueError, IndexError):
        return None


def _ensure_raw_table(conn: psycopg.Connection, table: RawTable) -> None:
    """Create the raw table as tables.py describes it, or check an existing one matches."""
    existing = conn.execute(
        "select attname from pg_attribute "
        "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
        (f"{RAW_SCHEMA}.{table.name}",),
    ).fetchall()
    if not existing:
        conn.execute(
            sql.SQL("create table {} ({})").format(
                sql.Identifier(RAW_SCHEMA, table.name),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type))
                    for c in table.columns
                ),
            )
        )
        return
    if tuple(row[0] for row in existing) != table.column_names:
        raise CatalogLoadError(
            f"{RAW_SCHEMA}.{table.name} exists with columns {[row[0] for row in existing]}, "
            f"not {list(table.column_names)}: drop it (and the views over it) or rebuild it "
            "with dbt seed --full-refresh",
        )
