"""Rows of one list element each, gathered into one row per list.

recs.recommendations holds each user's list of a run as one row of arrays
(``title_ids``, ``scores``), where callers write one row per recommended title
(``rank``, ``title_id``, ``score``): :func:`gather_lists` checks those rows as the
table's ``rows`` spec says, then that each list is whole (ranks 1 to n, one
``is_cold_start``), and returns the lists as Arrow of the table's types. Pure
functions, no database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_api.errors import ValidationError
from python_api.validate import ARROW_TYPES, row_at, to_arrow_table
from recdb.core.landing import LandingTable

#: Where each list column's elements come from, in the rows callers write.
ELEMENTS = {"title_ids": "title_id", "scores": "score"}
#: The rows' column that orders each list (1 first); the list's position replaces it.
ORDER = "rank"


def gather_lists(table: LandingTable, frame: pd.DataFrame) -> pa.Table:
    """``frame``, rows of ``table.rows``, as one row per key of ``table`` (its lists).

    Raises what :func:`~python_api.validate.to_arrow_table` raises for the rows, and a
    ValidationError, naming the first row concerned, for a list whose ranks are not
    1 to n or whose rows disagree on a column of the list (``is_cold_start``).
    """
    if table.rows is None:
        raise AssertionError(f"{table.qualified_name} is not written as rows of lists")
    rows = to_arrow_table(table.rows, frame)
    frame = frame.reset_index(drop=True)
    if rows.num_rows == 0:
        return pa.table({c.name: pa.array([], type=ARROW_TYPES[c.pg_type]) for c in table.columns})
    keys = list(table.primary_key)
    order = pc.sort_indices(rows, [(k, "ascending") for k in [*keys, ORDER]]).to_numpy()
    ordered = rows.take(order).combine_chunks()
    starts = list_starts(*(ordered.column(k).to_numpy(zero_copy_only=False) for k in keys))
    lengths = np.diff(np.append(starts, ordered.num_rows))
    position = np.arange(ordered.num_rows) - np.repeat(starts, lengths) + 1
    gap = np.flatnonzero(ordered.column(ORDER).to_numpy() != position)
    if gap.size:
        first = int(order[gap[0]])
        missing = int(position[gap[0]])
        raise _whole_list_error(table, frame, first, f"{ORDER} {missing} is missing", ORDER)
    shared = [c for c in table.column_names if c not in keys and c not in ELEMENTS]
    for column in shared:
        values = ordered.column(column).to_numpy(zero_copy_only=False)
        differs = np.flatnonzero(values != np.repeat(values[starts], lengths))
        if differs.size:
            first = int(order[differs[0]])
            raise _whole_list_error(table, frame, first, f"its rows disagree on {column}", column)
    offsets = pa.array(np.append(starts, ordered.num_rows), type=pa.int32())
    columns = {}
    for column in table.column_names:
        if column in ELEMENTS:
            elements = ordered.column(ELEMENTS[column]).chunk(0)  # one chunk: combined
            columns[column] = pa.ListArray.from_arrays(offsets, elements)
        else:
            columns[column] = ordered.column(column).take(pa.array(starts))
    return pa.table(columns)


def list_starts(*keys: np.ndarray) -> np.ndarray:
    """Where each list starts in rows sorted by ``keys`` (arrays of equal length, one per
    key column): the positions whose key differs from the row before."""
    changed = np.zeros(len(keys[0]), dtype=bool)
    changed[:1] = True
    for values in keys:
        changed[1:] |= values[1:] != values[:-1]
    return np.flatnonzero(changed)


def _whole_list_error(
    table: LandingTable, frame: pd.DataFrame, position: int, problem: str, column: str
) -> ValidationError:
    row = row_at(frame, position)
    keys = ", ".join(f"{k}={_plain(row[k])!r}" for k in table.primary_key)
    return ValidationError(
        f"the list of {keys} is not whole: {problem}; write each list whole in one batch, "
        f"{ORDER}s 1 to n",
        table=table.qualified_name,
        column=column,
        row_number=position,
        row=row,
    )


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value
