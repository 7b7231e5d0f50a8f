"""python_api: read the warehouse into pandas, write simulated data back.

    import python_api

    wh = python_api.connect(role="scientist")      # embedded server, or PG* settings
    titles = wh.read("dim_titles")                  # a mart, raw, sim or recs table
    recent = wh.read("select * from marts.dim_titles where release_year >= %(year)s",
                     params={"year": 2020})
    for chunk in wh.read_chunks("fact_sessions", rows=1_000_000):  # never held whole
        ...
    wh.write("users", users_df)                     # sim.users, validated, COPY, atomic
    wh.update("users", {"user_id": 42, "plan": "premium"})
    wh.delete("sessions", [1, 2, 3])
    with wh.transaction():                          # several writes, all or nothing
        wh.write("users", users_df)
        wh.write("sessions", sessions_df)

Every failure is a :class:`python_api.ApiError`: ValidationError (a bad value; with
ConflictError: a key that exists), NotFoundError (a key or a reference that does not
exist), PermissionDeniedError or DatabaseError (with BusyError: a lock held longer than
``lock_timeout``; retry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from python_api.client import Warehouse
from python_api.errors import (
    ApiError,
    BusyError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from recdb.core.errors import EngineError
from recdb.core.landing import LANDING_TABLES
from recdb.core.spark import on_spark

if TYPE_CHECKING:
    from python_api.spark import SparkWarehouse

__all__ = [
    "LANDING_TABLES",
    "ApiError",
    "BusyError",
    "ConflictError",
    "DatabaseError",
    "NotFoundError",
    "PermissionDeniedError",
    "ValidationError",
    "Warehouse",
    "connect",
]


def connect(
    role: str = "scientist", *, lock_timeout: float | None = None
) -> Warehouse | SparkWarehouse:
    """A :class:`Warehouse` connected as ``role`` (``scientist``, ``analyst`` or ``owner``).

    ``lock_timeout``: seconds a statement may wait for a lock another transaction holds
    (``recdb build`` holds the landing tables while it reads them) before it gives up
    with a :class:`BusyError`; None (the default) waits as long as it takes.

    With ``RECDB_ENGINE=spark``, a :class:`~python_api.spark.SparkWarehouse`, which reads
    and writes the same way (reads through Arrow).
    """
    try:
        spark = on_spark()
    except EngineError as error:
        raise ApiError(str(error)) from None
    if spark:
        from python_api.spark import SparkWarehouse

        return SparkWarehouse(role)
    return Warehouse(role, lock_timeout=lock_timeout)
