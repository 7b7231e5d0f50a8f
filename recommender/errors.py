"""The exceptions the recommender raises; the ``recdb`` command shows each as one line.

:class:`RecommenderError`, :class:`UnknownTitleError` and :class:`ModelNotFoundError` live in
:mod:`recdb.core.errors`, beside the run artefacts (:mod:`recdb.core.runs`) that raise them
too; they are the same classes here."""

from __future__ import annotations

from recdb.core.config import ConfigError
from recdb.core.errors import ModelNotFoundError, RecommenderError, UnknownTitleError

__all__ = [
    "EmptyMartsError",
    "ModelNotFoundError",
    "RecommenderConfigError",
    "RecommenderError",
    "UnknownTitleError",
    "UnknownUserError",
]


class EmptyMartsError(RecommenderError):
    """The marts hold nothing to learn from: no sessions (or no titles) yet."""

    def __init__(self, what: str = "marts.fact_sessions has no sessions") -> None:
        super().__init__(f"{what}: run `recdb simulate` and `recdb build` first")


class UnknownUserError(RecommenderError):
    """A user id that the warehouse (or the model of a run) does not know."""

    def __init__(self, user_id: object, where: str = "marts.dim_users") -> None:
        self.user_id = user_id
        super().__init__(f"unknown user {user_id!r}: not in {where}")


class RecommenderConfigError(RecommenderError, ConfigError):
    """A recommender config is invalid: an unknown key, a wrong type or a value out of range
    (``key``, ``allowed`` and ``source`` as :class:`recdb.core.config.ConfigError`
    says)."""

    label = "recommender config"
