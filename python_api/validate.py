"""Checking a DataFrame against a landing table, and turning it into Arrow of the exact types.

Pure functions, no database: every check that needs only the rows themselves
happens here, vectorised, before anything is sent. Keys that must exist in the
database (users, titles) and keys already there are checked by the writer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_api.errors import ConflictError, ValidationError
from recdb.core.landing import INTEGER_RANGES, LandingColumn, LandingTable

ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "boolean": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "double precision[]": pa.list_(pa.float64()),
    "text[]": pa.list_(pa.string()),
}


def row_at(frame: pd.DataFrame, position: int) -> dict[str, Any]:
    """Row ``position`` of ``frame`` as a plain dict, for error messages."""
    return {str(k): v for k, v in frame.iloc[position].to_dict().items()}


def _fail(
    table: LandingTable, column: str | None, problem: str, frame: pd.DataFrame, position: int | None
) -> ValidationError:
    return ValidationError(
        problem,
        table=table.qualified_name,
        column=column,
        row_number=position,
        row=row_at(frame, position) if position is not None else None,
    )


def _first(mask: np.ndarray | pd.Series | pa.Array | pa.ChunkedArray) -> int | None:
    """Position of the first True in a boolean mask (nulls count as False), or None."""
    if isinstance(mask, pa.Array | pa.ChunkedArray):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    values = np.asarray(mask, dtype=bool)
    hits = np.flatnonzero(values)
    return int(hits[0]) if hits.size else None


def check_columns(
    table: LandingTable, columns: Iterable[str], *, required: Sequence[str] | None = None
) -> None:
    """Unknown, repeated or missing columns raise ValidationError naming them."""
    names = [str(c) for c in columns]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise ValidationError(f"repeated columns {repeated}", table=table.qualified_name)
    unknown = [c for c in names if c not in table.column_names]
    if unknown:
        raise ValidationError(
            f"unknown columns {unknown}; the table has {list(table.column_names)}",
            table=table.qualified_name,
        )
    needed = required if required is not None else [c.name for c in table.columns if not c.nullable]
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValidationError(f"missing columns {missing}", table=table.qualified_name)


def _to_arrow(table: LandingTable, column: LandingColumn, frame: pd.DataFrame) -> pa.Array:
    """One column converted to its exact Arrow type, or a ValidationError showing a bad row."""
    series = frame[column.name]
    kind = column.kind
    target = ARROW_TYPES[column.pg_type]
    if kind == "integer":
        return _integers(table, column, series, frame, target)
    if kind == "float":
        if series.isna().all():  # pandas gives a column of None no number dtype
            series = series.astype("float64")
        if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
            _raise_wrong_type(table, column, series, frame, "numbers")
        values = pd.to_numeric(series).astype("float64")
        position = _first(np.isinf(values.to_numpy(na_value=np.nan)))
        if position is not None:
            raise _fail(table, column.name, "infinite value", frame, position)
        return pa.array(values, type=target, from_pandas=True)
    if kind == "text":
        if not (
            pd.api.types.is_string_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
            or series.isna().all()  # pandas gives a column of None no text dtype
        ):
            _raise_wrong_type(table, column, series, frame, "text")
        try:
            return pa.array(series.astype(object), type=target, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            _raise_wrong_type(table, column, series, frame, "text")
    if kind == "boolean":
        if not pd.api.types.is_bool_dtype(series) and pd.api.types.infer_dtype(
            series, skipna=True
        ) not in ("boolean", "empty"):
            _raise_wrong_type(table, column, series, frame, "True/False")
        return pa.array(series, type=target, from_pandas=True)
    if kind == "timestamp":
        return _timestamps(table, column, series, frame, target)
    if kind == "float_array":
        return _float_arrays(table, column, series, frame, target)
    if kind == "text_array":
        try:
            return pa.array([None if v is None else list(v) for v in series], type=target)
        except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise _fail(
                table, column.name, f"expected lists of text ({error})", frame, None
            ) from None
    raise AssertionError(kind)


def _raise_wrong_type(
    table: LandingTable,
    column: LandingColumn,
    series: pd.Series,
    frame: pd.DataFrame,
    expected: str,
) -> None:
    position = None
    checks = {
        "text": lambda v: isinstance(v, str),
        "numbers": lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool),
        "whole numbers": lambda v: (
            isinstance(v, int | np.integer | float | np.floating)
            and not isinstance(v, bool | np.bool_)
        ),
        "True/False": lambda v: isinstance(v, bool | np.bool_),
    }
    accept = checks.get(expected)
    if accept is not None and (series.dtype == object or pd.api.types.is_string_dtype(series)):
        for index, value in enumerate(series.to_numpy()):
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            if not missing and not accept(value):
                position = index
                break
    got = f"dtype {series.dtype}"
    raise _fail(
        table, column.name, f"expected {expected} ({column.pg_type}), got {got}", frame, position
    )


#: The largest magnitude a float may have to be taken as an integer. Every whole float up
#: to 2^53 - 1 (JavaScript's MAX_SAFE_INTEGER) stands for exactly one integer; from 2^53
#: on, neighbouring integers share a float (2^53 + 1 is stored as 2^53), so a float there
#: may already be a rounded id and is refused rather than guessed at.
MAX_EXACT_FLOAT = 2**53 - 1


def _integers(
    table: LandingTable,
    column: LandingColumn,
    series: pd.Series,
    frame: pd.DataFrame,
    target: pa.DataType,
) -> pa.Array:
    """Whole numbers of any dtype as exact integers, never through float64.

    Integer dtypes (numpy, nullable, Arrow, unsigned) are range-checked as they
    are; floats must be whole and at most :data:`MAX_EXACT_FLOAT` in magnitude;
    object columns (Python ints of any size, numpy scalars, whole floats,
    Decimals) are checked value by value. Anything else is a ValidationError
    at the first bad row.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if series.dtype == object:
        return _object_integers(table, column, series, frame, target)
    if pd.api.types.is_bool_dtype(series) or not (
        pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series)
    ):
        _raise_wrong_type(table, column, series, frame, "whole numbers")
    low, high = INTEGER_RANGES[column.pg_type]
    missing = series.isna().to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series):
        signed = pd.api.types.is_signed_integer_dtype(series)
        # int64 or uint64 hold every value of their kind exactly; no float on the way.
        raw = series.to_numpy(dtype=np.int64 if signed else np.uint64, na_value=0)
        position = _first(~missing & ((raw < low) | (raw > high)))
        if position is not None:
            raise _fail(table, column.name, f"outside the {column.pg_type} range", frame, position)
        values = raw.astype(np.int64)
    else:
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~missing & ~np.isnan(raw)
        position = _first(present & np.isfinite(raw) & (np.floor(raw) != raw))
        if position is not None:
            raise _fail(table, column.name, "not a whole number", frame, position)
        # high + 1 is a power of two, so this float comparison is exact.
        position = _first(present & ((raw < low) | (raw >= float(high + 1))))
        if position is not None:
            raise _fail(table, column.name, f"outside the {column.pg_type} range", frame, position)
        position = _first(present & (np.abs(raw) > MAX_EXACT_FLOAT))
        if position is not None:
            raise _fail(table, column.name, _AMBIGUOUS_FLOAT, frame, position)
        missing = ~present
        values = np.where(present, raw, 0.0).astype(np.int64)
    return pa.array(values, type=target, mask=missing if missing.any() else None)


_AMBIGUOUS_FLOAT = (
    "a float beyond 2^53 - 1 may be a rounded integer (2^53 + 1 is stored as 2^53): "
    "pass ids as integers (int64, Int64 or Python ints), not floats"
)


def _object_integers(
    table: LandingTable,
    column: LandingColumn,
    series: pd.Series,
    frame: pd.DataFrame,
    target: pa.DataType,
) -> pa.Array:
    """An object column value by value: Python ints keep every digit."""
    low, high = INTEGER_RANGES[column.pg_type]
    if pd.api.types.infer_dtype(series, skipna=False) == "integer":
        # Only ints: numpy converts each exactly or raises OverflowError (then the loop
        # below finds the row), many times faster than the loop.
        try:
            values = series.to_numpy(dtype=object).astype(np.int64)
        except OverflowError:
            pass
        else:
            position = _first((values < low) | (values > high))
            if position is None:
                return pa.array(values, type=target)
    values = np.zeros(len(series), dtype=np.int64)
    missing = np.zeros(len(series), dtype=bool)
    for position, value in enumerate(series.to_numpy(dtype=object)):
        if value is None or value is pd.NA or value is pd.NaT:
            missing[position] = True
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | np.integer | float | np.floating | Decimal
        ):
            raise _fail(
                table,
                column.name,
                f"expected whole numbers ({column.pg_type}), got {type(value).__name__}",
                frame,
                position,
            )
        if isinstance(value, float | np.floating | Decimal):
            if value != value:  # NaN: a missing value, as pandas treats it
                missing[position] = True
                continue
            if not (math.isfinite(value) and value == math.floor(value)):
                raise _fail(table, column.name, "not a whole number", frame, position)
            whole = int(value)
            floating = isinstance(value, float | np.floating)
            if floating and low <= whole <= high and abs(whole) > MAX_EXACT_FLOAT:
                raise _fail(table, column.name, _AMBIGUOUS_FLOAT, frame, position)
        else:
            whole = int(value)
        if not low <= whole <= high:
            raise _fail(table, column.name, f"outside the {column.pg_type} range", frame, position)
        values[position] = whole
    return pa.array(values, type=target, mask=missing if missing.any() else None)


def _timestamps(
    table: LandingTable,
    column: LandingColumn,
    series: pd.Series,
    frame: pd.DataFrame,
    target: pa.DataType,
) -> pa.Array:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        # PostgreSQL keeps microseconds: finer digits are truncated, as psql would.
        utc = pa.array(series.dt.tz_convert("UTC"), from_pandas=True)
        return utc.cast(target, safe=False)
    if pd.api.types.is_datetime64_dtype(series):
        raise _fail(
            table,
            column.name,
            "timestamps without a time zone: localise them, e.g. "
            f"df[{column.name!r}] = df[{column.name!r}].dt.tz_localize('UTC')",
            frame,
            None,
        )
    if series.isna().all():
        return pa.nulls(len(series), type=target)
    raise _fail(
        table,
        column.name,
        f"expected UTC timestamps (datetime64[..., UTC]), got dtype {series.dtype}",
        frame,
        None,
    )


def _float_arrays(
    table: LandingTable,
    column: LandingColumn,
    series: pd.Series,
    frame: pd.DataFrame,
    target: pa.DataType,
) -> pa.Array:
    try:
        array = pa.array(
            [None if v is None else np.asarray(v, dtype="float64") for v in series],
            type=target,
        )
    except (TypeError, ValueError, pa.ArrowInvalid) as error:
        raise _fail(
            table, column.name, f"expected lists of numbers ({error})", frame, None
        ) from None
    flat = pc.list_flatten(array)
    if len(flat):
        parents = pc.list_parent_indices(array).to_numpy()
        values = flat.to_numpy(zero_copy_only=False)
        position = _first(~np.isfinite(values))
        if position is not None:
            raise _fail(
                table, column.name, "NaN or infinite element", frame, int(parents[position])
            )
        if column.minimum is not None:
            position = _first(values < column.minimum)
            if position is not None:
                raise _fail(
                    table,
                    column.name,
                    f"an element below the minimum {column.minimum}",
                    frame,
                    int(parents[position]),
                )
    return array


def _check_values(
    table: LandingTable, column: LandingColumn, array: pa.Array, frame: pd.DataFrame
) -> None:
    """Nulls, ranges, enumerations and patterns of one converted column."""
    name = column.name
    if not column.nullable and array.null_count:
        raise _fail(
            table, name, "null in a column that needs a value", frame, _first(array.is_null())
        )
    if column.kind.endswith("_array"):
        return
    if column.minimum is not None:
        position = _first(pc.less(array, column.minimum))
        if position is not None:
            raise _fail(table, name, f"below the minimum {column.minimum:g}", frame, position)
    if column.maximum is not None:
        position = _first(pc.greater(array, column.maximum))
        if position is not None:
            raise _fail(table, name, f"above the maximum {column.maximum:g}", frame, position)
    if column.allowed is not None:
        outside = pc.and_(array.is_valid(), pc.invert(pc.is_in(array, pa.array(column.allowed))))
        position = _first(outside)
        if position is not None:
            raise _fail(table, name, f"not one of {list(column.allowed)}", frame, position)
    if column.pattern is not None:
        position = _first(pc.invert(pc.match_substring_regex(array, f"^(?:{column.pattern})$")))
        if position is not None:
            raise _fail(
                table, name, f"does not match the pattern {column.pattern}", frame, position
            )


def to_arrow_table(
    table: LandingTable,
    frame: pd.DataFrame,
    *,
    required: Sequence[str] | None = None,
    key_columns: Sequence[str] | None = None,
) -> pa.Table:
    """Validate ``frame`` for ``table`` and return it as Arrow of the table's exact types.

    ``required`` overrides which columns must be present (updates send a key
    and the columns they change); ``key_columns`` (default: the primary key)
    must be unique within the batch. Raises ValidationError (ConflictError for
    repeated keys) naming the column and showing the first bad row.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"expected a pandas DataFrame, got {type(frame).__name__}", table=table.qualified_name
        )
    check_columns(table, frame.columns, required=required)
    frame = frame.reset_index(drop=True)
    present = [c for c in table.columns if c.name in frame.columns]
    arrays = {}
    for column in present:
        try:
            array = _to_arrow(table, column, frame)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise ValidationError(
                f"cannot be stored as {column.pg_type}: {error}",
                table=table.qualified_name,
                column=column.name,
            ) from None
        _check_values(table, column, array, frame)
        arrays[column.name] = array
    for check in table.row_checks:
        if check.left in arrays and check.right in arrays:
            compare = {">=": pc.greater_equal, ">": pc.greater, "<=": pc.less_equal}[check.op]
            position = _first(pc.invert(compare(arrays[check.left], arrays[check.right])))
            if position is not None:
                raise _fail(
                    table, check.left, f"breaks the rule {check.describe()}", frame, position
                )
    keys = list(key_columns if key_columns is not None else table.primary_key)
    for unique in [keys, *[list(u) for u in table.unique]]:
        if all(k in frame.columns for k in unique):
            repeated = frame.duplicated(subset=unique, keep=False).to_numpy()
            position = _first(repeated)
            if position is not None:
                raise ConflictError(
                    f"key ({', '.join(unique)}) repeated within the DataFrame",
                    table=table.qualified_name,
                    column=unique[0] if len(unique) == 1 else None,
                    row_number=position,
                    row=row_at(frame, position),
                )
    return pa.table(arrays)
