"""The exceptions the simulation raises; the ``recdb`` command shows them as one line."""

from __future__ import annotations

from recdb.core.config import ConfigError
from recdb.core.errors import RecdbError
from recdb.core.landing import BIGINT_MAX


class SimulationError(RecdbError):
    """The simulation cannot run (no catalogue, a warehouse that refuses the rows, ...)."""


class SimulationConfigError(SimulationError, ConfigError):
    """A simulation config is invalid: an unknown key, a wrong type or a value out of range
    (``key``, ``allowed`` and ``source`` as :class:`recdb.core.config.ConfigError` says;
    ``allowed`` may also be a set of names)."""

    label = "simulation config"


class IdOverflowError(SimulationError):
    """New users, sessions or persons would need ids past their column's maximum
    (PostgreSQL's bigint maximum; the integer maximum for ``person_id``).

    ``column`` (``user_id``, ``session_id`` or ``person_id``), ``largest`` (the largest
    id already there, which new ids continue after) and ``needed`` (how many new
    ids the run wants) say which and by how much.
    """

    def __init__(
        self, table: str, column: str, largest: int, needed: int, maximum: int = BIGINT_MAX
    ) -> None:
        self.table, self.column, self.largest, self.needed = table, column, largest, needed
        self.maximum = maximum
        entity = column.removesuffix("_id")
        kind = "bigint" if maximum == BIGINT_MAX else "integer"
        super().__init__(
            f"cannot number {needed:,} new {entity}s: the largest {column} in {table} is "
            f"{largest} and new ids continue after it, past the {kind} maximum {maximum}; "
            f"delete the rows with the largest {column}s (python_api delete) "
            "or simulate into a fresh warehouse"
        )
