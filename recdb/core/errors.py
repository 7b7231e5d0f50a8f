"""The exceptions recdb raises: each says what went wrong and what to do about it."""

from __future__ import annotations


class RecdbError(Exception):
    """Base class of every error recdb raises on purpose."""


class ServerError(RecdbError):
    """The embedded PostgreSQL could not be initialised, started or stopped."""


class ConnectionSettingsError(RecdbError):
    """The settings needed to reach PostgreSQL are missing or inconsistent."""


class ProjectNotFoundError(ConnectionSettingsError):
    """Neither ``$RECDB_HOME`` is set nor is the working directory inside a recdb project."""


class RolesError(RecdbError):
    """The warehouse's roles, their grants or their settings could not be changed."""


class HomeError(RecdbError):
    """recdb's home folder (``$RECDB_HOME``) cannot be created, read or made private."""


class DatabaseUnavailableError(RecdbError):
    """PostgreSQL refused or could not take a connection (server down, wrong password, ...).

    ``host``, ``port``, ``user`` and ``reason`` say which connection and why;
    the message ends with what to do.
    """

    def __init__(self, message: str, *, host: str, port: int, user: str, reason: str) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.reason = reason
        super().__init__(message)


class CatalogLoadError(RecdbError):
    """A catalogue file could not be loaded; nothing of the load was kept.

    ``path``, ``line``, ``column`` and ``value`` locate the problem when known.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: object = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        self.column = column
        self.value = value
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        detail = f" (value {value!r})" if value is not None else ""
        super().__init__(f"{prefix}: {problem}{detail}" if prefix else f"{problem}{detail}")


class DbtError(RecdbError):
    """A dbt command failed; dbt's own output above says which node and why."""


class BuildError(RecdbError):
    """`recdb build` built and tested the catalogue but could not publish it."""


class EngineError(RecdbError):
    """The engine the warehouse runs on (RECDB_ENGINE) is unknown, not installed or not
    reachable."""


class RecommenderError(RecdbError):
    """The recommender cannot do what was asked (base class of its errors: recommender.errors)."""


class UnknownTitleError(RecommenderError):
    """A title id that the catalogue (or the model of a run) does not know."""

    def __init__(self, title_id: object, where: str = "marts.dim_titles") -> None:
        self.title_id = title_id
        super().__init__(f"unknown title {title_id!r}: not in {where}")


class ModelNotFoundError(RecommenderError):
    """No saved model for a run id (or no run at all) under ``$RECDB_HOME/models``."""
