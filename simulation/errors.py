"""The exceptions the simulation raises; the ``recdb`` command shows them as one line."""

from __future__ import annotations

from recdb.errors import RecdbError
from recdb.sectioned_config import ConfigError


class SimulationError(RecdbError):
    """The simulation cannot run (no catalogue, a warehouse that refuses the rows, ...)."""


class SimulationConfigError(SimulationError, ConfigError):
    """A simulation config is invalid: an unknown key, a wrong type or a value out of range
    (``key``, ``allowed`` and ``source`` as :class:`recdb.sectioned_config.ConfigError` says;
    ``allowed`` may also be a set of names)."""

    label = "simulation config"
