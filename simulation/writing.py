"""Persisting a population through python_api: the next free ids, and writing a chunk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pandas as pd

import python_api
from simulation.errors import BIGINT_MAX, IdOverflowError
from simulation.releases import NewTitles

logger = logging.getLogger(__name__)

#: Rows per ``write`` call for the big tables (the transaction still covers them all).
CHUNK_ROWS = 1_000_000

#: Tables in the order they are written (foreign keys point backwards).
WRITE_ORDER = ("users", "user_tastes", "sessions", "ratings")


def next_ids(warehouse: python_api.Warehouse) -> tuple[int, int]:
    """The first free user_id and session_id: one past the largest in sim.users / sim.sessions.

    Python ints, so one past a bigint maximum already there is 2^63, not a wrapped
    negative number: :func:`check_id_room` refuses it once new ids are actually needed.
    """
    frame = warehouse.read(
        "select (select coalesce(max(user_id), 0) from sim.users) as max_user_id, "
        "(select coalesce(max(session_id), 0) from sim.sessions) as max_session_id"
    )
    return int(frame["max_user_id"].iloc[0]) + 1, int(frame["max_session_id"].iloc[0]) + 1


def check_id_room(table: str, column: str, first_id: int, needed: int) -> None:
    """Raise IdOverflowError unless ``needed`` ids from ``first_id`` on all fit in a bigint.

    ``first_id`` is one past the largest id already in ``table`` (as :func:`next_ids`
    gives it), so the error can name that largest id.
    """
    if needed > 0 and first_id + needed - 1 > BIGINT_MAX:
        raise IdOverflowError(table, column, first_id - 1, needed)


def write_chunk(
    warehouse: python_api.Warehouse,
    frames: dict[str, pd.DataFrame],
    *,
    on_table: Callable[[str, float], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Write users, user_tastes, sessions and ratings, in that order (foreign keys).

    Call it inside ``warehouse.transaction()`` for all or nothing.
    ``on_table(table, seconds)`` is called after each table. Errors are
    python_api's (``recdb.core.errors.RecdbError`` subclasses).
    """
    for table in WRITE_ORDER:
        frame = frames[table]
        started = time.perf_counter()
        for start in range(0, len(frame), chunk_rows):
            warehouse.write(table, frame.iloc[start : start + chunk_rows])
        seconds = time.perf_counter() - started
        logger.debug("wrote %d rows to sim.%s in %.1f s", len(frame), table, seconds)
        if on_table is not None:
            on_table(table, seconds)


def write_titles(warehouse: python_api.Warehouse, titles: NewTitles) -> None:
    """Write new titles to sim.titles, then their credits to sim.credits.

    Call it inside ``warehouse.transaction()``, before the sessions that name them.
    """
    started = time.perf_counter()
    warehouse.write("titles", titles.titles)
    if not titles.credits.empty:
        warehouse.write("credits", titles.credits)
    logger.debug(
        "wrote %d titles and %d credits in %.1f s",
        len(titles.titles),
        len(titles.credits),
        time.perf_counter() - started,
    )
