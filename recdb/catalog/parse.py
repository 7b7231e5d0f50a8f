"""Catalogue files as typed Arrow tables, checked as PostgreSQL's COPY checks them.

The PostgreSQL loader lets COPY check each value; an engine without COPY (Spark)
loads these tables instead, so every file passes the same checks and fails with
the same :class:`~recdb.core.errors.CatalogLoadError` (file, line, column, value):
a row with too many or too few fields, text that is not UTF-8, an integer that is
not a whole number within PostgreSQL's integer range (pandas' ``795222.0`` is one),
a score that does not fit ``numeric(3,1)``. An unquoted empty field is NULL and a
quoted one an empty string, as in COPY's CSV format.
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from recdb.core.errors import CatalogLoadError
from recdb.core.raw_tables import Column

#: PostgreSQL's integer range, which the raw tables' integer columns hold.
INTEGER_RANGE = (-(2**31), 2**31 - 1)
_INDEX_COLUMN = "_index"


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type of a raw column (its PostgreSQL type's equivalent)."""
    if column.is_integer:
        return pa.int32()
    if column.is_numeric:
        precision, scale = _precision_and_scale(column.pg_type)
        return pa.decimal128(precision, scale)
    return pa.string()


def read_catalog_file(path: Path, columns: tuple[Column, ...], header: tuple[str, ...]) -> pa.Table:
    """The rows of one catalogue file as an Arrow table of ``columns``, in their order.

    ``header`` is the file's normalised header (see :func:`recdb.catalog.load.read_header`),
    with pandas' index column first when the file has one (it is dropped).
    """
    has_index = len(header) == len(columns) + 1
    names = [_INDEX_COLUMN, *header[1:]] if has_index else list(header)
    invalid_rows: list[str] = []

    def note_invalid_row(row: pa_csv.InvalidRow) -> str:
        invalid_rows.append(row.text)
        return "skip"

    try:
        text_table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=note_invalid_row
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        if "utf8" in str(error).lower():
            line = _first_non_utf8_line(path)
            raise CatalogLoadError(
                "invalid byte sequence for encoding UTF8", path=path, line=line
            ) from None
        raise CatalogLoadError(f"cannot parse the file as CSV: {error}", path=path) from None
    if invalid_rows:
        raise _field_count_error(path, header)
    arrays = []
    for column in columns:
        values = text_table.column(column.name)
        arrays.append(_convert(path, column, values.to_pylist()))
    return pa.Table.from_arrays(
        arrays, schema=pa.schema([pa.field(c.name, arrow_type(c)) for c in columns])
    )


def _convert(path: Path, column: Column, values: list[str | None]) -> pa.Array:
    if column.is_integer:
        converted = [_integer(path, column, row, value) for row, value in enumerate(values)]
    elif column.is_numeric:
        precision, scale = _precision_and_scale(column.pg_type)
        converted = [
            _decimal(path, column, row, value, precision, scale) for row, value in enumerate(values)
        ]
    else:
        return pa.array(values, type=pa.string())
    return pa.array(converted, type=arrow_type(column))


def _integer(path: Path, column: Column, row: int, value: str | None) -> int | None:
    """``value`` as an integer: whole numbers, also written as floats (``1999.0``)."""
    if value is None:
        return None
    number = _parsed(path, column, row, value, "integer")
    low, high = INTEGER_RANGE
    if not number.is_finite() or number != number.to_integral_value() or not low <= number <= high:
        raise _value_error(path, column, row, value, "not a whole number within the integer range")
    return int(number)


def _decimal(
    path: Path, column: Column, row: int, value: str | None, precision: int, scale: int
) -> Decimal | None:
    """``value`` rounded to ``scale`` places as PostgreSQL's numeric rounds (half away
    from zero), and refused when it then has more than ``precision`` digits."""
    if value is None:
        return None
    number = _parsed(path, column, row, value, "numeric")
    if not number.is_finite():
        raise _value_error(path, column, row, value, f"{column.pg_type} holds no {value}")
    rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** (precision - scale):
        raise _value_error(
            path,
            column,
            row,
            value,
            f"numeric field overflow: {column.pg_type} holds less than "
            f"10^{precision - scale} in absolute value",
        )
    return rounded


def _parsed(path: Path, column: Column, row: int, value: str, type_name: str) -> Decimal:
    """``value`` as a number, or the error PostgreSQL gives for text that is none."""
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise _value_error(
            path, column, row, value, f'invalid input syntax for type {type_name}: "{value}"'
        ) from None


def _precision_and_scale(pg_type: str) -> tuple[int, int]:
    precision, scale = pg_type.removeprefix("numeric(").removesuffix(")").split(",")
    return int(precision), int(scale)


def _value_error(
    path: Path, column: Column, row: int, value: str, problem: str
) -> CatalogLoadError:
    return CatalogLoadError(
        problem, path=path, line=_line_of_record(path, row), column=column.name, value=value
    )


def _records(path: Path) -> csv.reader:
    handle = io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")
    return csv.reader(handle)


def _line_of_record(path: Path, row: int) -> int:
    """The line that record ``row`` (0-based, after the header) starts on, as COPY counts."""
    reader = _records(path)
    next(reader)
    line = reader.line_num
    for index, _ in enumerate(reader):
        if index == row:
            return line + 1
        line = reader.line_num
    return line + 1


def _field_count_error(path: Path, header: tuple[str, ...]) -> CatalogLoadError:
    """The first record with more or fewer fields than the header, as COPY reports it."""
    reader = _records(path)
    next(reader)
    line = reader.line_num
    for record in reader:
        if len(record) != len(header):
            problem = (
                "extra data after last expected column"
                if len(record) > len(header)
                else f"missing data for column {header[len(record)]!r}"
            )
            return CatalogLoadError(
                f"{problem}: expected {len(header)} fields like the header ({','.join(header)})",
                path=path,
                line=line + 1,
            )
        line = reader.line_num
    return CatalogLoadError("a row's fields do not match the header", path=path)


def _first_non_utf8_line(path: Path) -> int | None:
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None
