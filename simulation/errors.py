"""The exceptions the simulation raises; the ``recdb`` command shows them as one line."""

from __future__ import annotations

from recdb.errors import RecdbError


class SimulationError(RecdbError):
    """The simulation cannot run (no catalogue, a warehouse that refuses the rows, ...)."""


class SimulationConfigError(SimulationError):
    """A simulation config is invalid: an unknown key, a wrong type or a value out of range.

    ``key`` is the dotted key (``tastes.dirichlet_alpha``) when the problem has
    one, ``allowed`` what the key accepts (a range, a set of names), and
    ``source`` the file (or ``defaults``/``overrides``) it came from.
    """

    def __init__(
        self,
        problem: str,
        *,
        key: str | None = None,
        allowed: str | None = None,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.key = key
        self.allowed = allowed
        self.source = source
        text = problem
        if key is not None:
            text = f"{key}: {text}"
        if allowed is not None:
            text = f"{text} (allowed: {allowed})"
        if source is not None:
            text = f"simulation config {source}: {text}"
        super().__init__(text)
