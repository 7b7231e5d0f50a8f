"""The exceptions the recommender raises; the ``recdb`` command shows each as one line."""

from __future__ import annotations

from recdb.core.config import ConfigError
from recdb.core.errors import RecdbError


class RecommenderError(RecdbError):
    """The recommender cannot do what was asked (base class of the errors below)."""


class EmptyMartsError(RecommenderError):
    """The marts hold nothing to learn from: no sessions (or no titles) yet."""

    def __init__(self, what: str = "marts.fact_sessions has no sessions") -> None:
        super().__init__(f"{what}: run `recdb simulate` and `recdb build` first")


class UnknownUserError(RecommenderError):
    """A user id that the warehouse (or the model of a run) does not know."""

    def __init__(self, user_id: object, where: str = "marts.dim_users") -> None:
        self.user_id = user_id
        super().__init__(f"unknown user {user_id!r}: not in {where}")


class UnknownTitleError(RecommenderError):
    """A title id that the catalogue (or the model of a run) does not know."""

    def __init__(self, title_id: object, where: str = "marts.dim_titles") -> None:
        self.title_id = title_id
        super().__init__(f"unknown title {title_id!r}: not in {where}")


class ModelNotFoundError(RecommenderError):
    """No saved model for a run id (or no run at all) under ``$RECDB_HOME/models``."""


class RecommenderConfigError(RecommenderError, ConfigError):
    """A recommender config is invalid: an unknown key, a wrong type or a value out of range
    (``key``, ``allowed`` and ``source`` as :class:`recdb.core.config.ConfigError`
    says)."""

    label = "recommender config"
