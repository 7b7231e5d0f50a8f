"""Persisting a population through python_api: next free ids, and one all-or-nothing write."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from simulation.errors import SimulationError

logger = logging.getLogger(__name__)

#: Rows per ``write`` call for the big tables (the transaction still covers them all).
CHUNK_ROWS = 1_000_000

#: Tables in the order they are written (foreign keys point backwards).
WRITE_ORDER = ("users", "user_tastes", "sessions", "ratings")


def next_ids(warehouse: Any) -> tuple[int, int]:
    """The first free user_id and session_id: one past the largest in sim.users / sim.sessions."""
    frame = warehouse.read(
        "select (select coalesce(max(user_id), 0) from sim.users) as max_user_id, "
        "(select coalesce(max(session_id), 0) from sim.sessions) as max_session_id"
    )
    return int(frame["max_user_id"].iloc[0]) + 1, int(frame["max_session_id"].iloc[0]) + 1


def write_frames(
    warehouse: Any,
    frames: dict[str, pd.DataFrame],
    *,
    on_chunk: Callable[[str, int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, float]:
    """Write users, user_tastes, sessions and ratings in one transaction; seconds per table.

    ``on_chunk(table, rows)`` is called after each chunk. Any failure rolls
    everything back and is raised as the python_api error (a
    ``recdb.errors.RecdbError``); a key conflict (another writer took the same
    ids meanwhile) says so.
    """
    import python_api

    seconds: dict[str, float] = {}
    try:
        with warehouse.transaction():
            for table in WRITE_ORDER:
                frame = frames[table]
                started = time.perf_counter()
                for start in range(0, len(frame), chunk_rows):
                    chunk = frame.iloc[start : start + chunk_rows]
                    warehouse.write(table, chunk)
                    if on_chunk is not None:
                        on_chunk(table, len(chunk))
                seconds[table] = time.perf_counter() - started
                logger.info("wrote %d rows to sim.%s in %.1f s", len(frame), table, seconds[table])
    except python_api.ConflictError as error:
        raise SimulationError(
            f"{error} — another writer added users or sessions while this simulation ran; "
            "nothing was written, run it again"
        ) from None
    return seconds
