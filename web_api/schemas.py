"""Request and response bodies. Request fields take their rules from the landing tables'
spec (:mod:`recdb.core.landing`), the same rules python_api checks, so a bad value is a 422
naming the field before anything reaches PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from recdb.core.landing import (
    CREDITS,
    RATINGS,
    RECOMMENDATION_ROWS,
    RETIRED_TITLES,
    SESSIONS,
    TITLES,
    USERS,
    LandingTable,
)

#: Free text: no NUL (PostgreSQL text cannot hold it), bounded length.
NO_NUL = r"^[^\x00]*$"
MAX_TEXT = 200
MAX_BATCH = 10_000
#: The most elements of a list written over HTTP (a title's genres or countries).
MAX_LIST = 50


def landing_type(table: LandingTable, name: str) -> Any:
    """The pydantic type of landing column ``table.name``: its kind, range, allowed values,
    pattern and description; Optional when the column is nullable."""
    column = table.column(name)
    extra: dict[str, Any] = {"description": column.description}
    kind = column.kind
    if kind == "integer":
        extra["ge"], extra["le"] = column.integer_range
        base: Any = StrictInt
    elif kind == "float":
        if column.minimum is not None:
            extra["ge"] = column.minimum
        if column.maximum is not None:
            extra["le"] = column.maximum
        extra["allow_inf_nan"] = False
        base = StrictFloat
    elif kind == "text" and column.allowed:
        base = Literal[column.allowed]
    elif kind == "text":
        extra["pattern"] = f"^(?:{column.pattern})$" if column.pattern else NO_NUL
        extra["max_length"] = MAX_TEXT
        base = str
    elif kind == "boolean":
        base = StrictBool
    elif kind == "timestamp":
        base = AwareDatetime
    elif kind == "text_array":
        # each element a value of its own (a genre id); what it must name, PostgreSQL checks
        element = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)]
        extra["max_length"] = MAX_LIST
        base = list[element]
    else:  # pragma: no cover - the web API writes no number arrays
        raise ValueError(f"no web type for {table.qualified_name}.{name} ({kind})")
    annotated = Annotated[base, Field(**extra)]
    return annotated | None if column.nullable else annotated


class _Body(BaseModel):
    """Request bodies: unknown fields refused; numbers and booleans strict (``"1"`` is not 1,
    ``1`` is not true). Not ``strict=True`` on the model: FastAPI validates parsed JSON, where
    timestamps are still text."""

    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------
class FieldError(BaseModel):
    """One field that was refused."""

    field: str = Field(description="Where: `body.user_id`, `body[2].rating`, `query.year`.")
    message: str


class ErrorDetail(BaseModel):
    """What went wrong."""

    status: int
    code: str = Field(description="`validation_error`, `not_found`, `unauthorized`, ...")
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


# -- titles ------------------------------------------------------------------------
TitleType = Literal["movie", "show"]
#: Where a catalogue row comes from: the loaded catalogue (raw) or a scientist (sim).
Source = Literal["catalog", "simulation"]


class Page(BaseModel):
    """What every page of a search has besides its items."""

    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")


class TitleSummary(BaseModel):
    """A title of marts.dim_titles."""

    title_id: str
    title_name: str | None
    title_type: TitleType
    release_year: int | None
    runtime_minutes: int | None
    imdb_score: float | None
    is_year_best: bool
    is_all_time_best: bool
    is_retired: bool = Field(
        description="Taken off the service (sim.retired_titles, as of the last `recdb "
        "build`): no longer recommended."
    )
    source: Source = Field(
        description="`catalog` (the loaded catalogue) or `simulation` (added by a scientist: "
        "`POST /v1/titles`)."
    )


class TitleGenre(BaseModel):
    """A genre of a title (marts.bridge_title_genres with dim_genres)."""

    genre_id: str
    genre_name: str | None
    is_main_genre: bool


class TitleCountry(BaseModel):
    """A production country of a title (marts.bridge_title_prod_countries)."""

    country_code: str
    country_name: str | None
    is_main_country: bool


class TitleCredit(BaseModel):
    """A credit of a title (marts.dim_credits with dim_persons)."""

    person_id: int
    person_name: str | None
    credit_role: str
    character_name: str | None
    source: Source = Field(description="`catalog`, or `simulation` (`POST .../credits`).")


class TitleDetail(TitleSummary):
    """A title with its genres, countries and credits."""

    age_certification: str | None
    season_count: int | None
    imdb_id: str | None
    imdb_vote_count: int | None
    released_at: dt.datetime | None = Field(
        description="When a simulated title became available on the service; null for the "
        "loaded catalogue's."
    )
    retired_at: dt.datetime | None = Field(description="When it was retired; null if it is not.")
    genres: list[TitleGenre]
    countries: list[TitleCountry]
    credits: list[TitleCredit]


class TitlePage(Page):
    """One page of a title search."""

    items: list[TitleSummary]


# -- simulated titles, credits and retirements (sim.titles, sim.credits, ...) ------------
class TitleCreate(_Body):
    """A new title of sim.titles: a simulation's release, beside the loaded catalogue."""

    title_id: landing_type(TITLES, "title_id")
    title_name: landing_type(TITLES, "title_name")
    title_type: landing_type(TITLES, "title_type")
    release_year: landing_type(TITLES, "release_year")
    released_at: landing_type(TITLES, "released_at")
    genres: landing_type(TITLES, "genres")
    production_countries: landing_type(TITLES, "production_countries")
    runtime_minutes: landing_type(TITLES, "runtime_minutes")
    season_count: landing_type(TITLES, "season_count") = None
    age_certification: landing_type(TITLES, "age_certification") = None
    imdb_score: landing_type(TITLES, "imdb_score") = None
    imdb_vote_count: landing_type(TITLES, "imdb_vote_count") = None


class TitlePatch(_Body):
    """New values for some fields of a simulated title (a list is replaced whole; `null`
    clears a field that may be empty, such as `season_count`)."""

    title_name: landing_type(TITLES, "title_name") = None
    title_type: landing_type(TITLES, "title_type") = None
    release_year: landing_type(TITLES, "release_year") = None
    released_at: landing_type(TITLES, "released_at") = None
    genres: landing_type(TITLES, "genres") = None
    production_countries: landing_type(TITLES, "production_countries") = None
    runtime_minutes: landing_type(TITLES, "runtime_minutes") = None
    season_count: landing_type(TITLES, "season_count") = None
    age_certification: landing_type(TITLES, "age_certification") = None
    imdb_score: landing_type(TITLES, "imdb_score") = None
    imdb_vote_count: landing_type(TITLES, "imdb_vote_count") = None


class SimulatedTitle(BaseModel):
    """A title of sim.titles, as it is there."""

    title_id: str
    title_name: str
    title_type: TitleType
    release_year: int
    released_at: dt.datetime
    genres: list[str]
    production_countries: list[str]
    runtime_minutes: int
    season_count: int | None
    age_certification: str | None
    imdb_score: float | None
    imdb_vote_count: int | None


class CreditCreate(_Body):
    """A credit of the title in the path, to sim.credits: a person of the catalogue (under
    the catalogue's name) or a new one."""

    person_id: landing_type(CREDITS, "person_id")
    person_name: landing_type(CREDITS, "person_name")
    credit_role: landing_type(CREDITS, "credit_role")
    character_name: landing_type(CREDITS, "character_name") = None


class Credit(BaseModel):
    """A credit of sim.credits."""

    title_id: str
    person_id: int
    person_name: str
    credit_role: Literal["actor", "director"]
    character_name: str | None


class RetirementCreate(_Body):
    """When the title left the service; now when not given."""

    retired_at: landing_type(RETIRED_TITLES, "retired_at") | None = None


class Retirement(BaseModel):
    """A retired title (sim.retired_titles)."""

    title_id: str
    retired_at: dt.datetime


# -- persons, genres, countries -------------------------------------------------------
CreditRole = Literal["actor", "director"]


class PersonSummary(BaseModel):
    """A person of marts.dim_persons, with the number of titles credited."""

    person_id: int
    person_name: str | None
    title_count: int = Field(description="Titles the person is credited on (in any role).")


class PersonPage(Page):
    """One page of a person search."""

    items: list[PersonSummary]


class PersonCredit(BaseModel):
    """A credit of a person (marts.dim_credits with dim_titles)."""

    title_id: str
    title_name: str | None
    title_type: TitleType
    release_year: int | None
    credit_role: CreditRole
    character_name: str | None


class PersonDetail(BaseModel):
    """A person with every credit, the newest titles first."""

    person_id: int
    person_name: str | None
    credits: list[PersonCredit]


class GenreSummary(BaseModel):
    """A genre of marts.dim_genres, with the number of titles of it."""

    genre_id: str
    genre_name: str | None
    title_count: int


class GenrePage(Page):
    """One page of genres."""

    items: list[GenreSummary]


class CountrySummary(BaseModel):
    """A production country of marts.dim_prod_countries, with the number of its titles."""

    country_code: str
    country_name: str | None
    title_count: int


class CountryPage(Page):
    """One page of production countries."""

    items: list[CountrySummary]


# -- users -------------------------------------------------------------------------
def path_field(table: LandingTable, name: str) -> dict[str, Any]:
    """What FastAPI's ``Path`` takes for a URL segment holding landing column
    ``table.name``: its range or pattern and its description."""
    column = table.column(name)
    if column.kind == "integer":
        low, high = column.integer_range
        return {"ge": low, "le": high, "description": column.description}
    return {"pattern": f"^(?:{column.pattern})$", "description": column.description}


class UserCreate(_Body):
    """A new user of sim.users."""

    user_id: landing_type(USERS, "user_id")
    signup_at: landing_type(USERS, "signup_at")
    birth_year: landing_type(USERS, "birth_year")
    gender: landing_type(USERS, "gender")
    country_code: landing_type(USERS, "country_code")
    plan: landing_type(USERS, "plan")
    churned_at: landing_type(USERS, "churned_at") = None


class UserPatch(_Body):
    """New values for some of a user's fields (``churned_at: null`` un-churns)."""

    signup_at: landing_type(USERS, "signup_at") = None
    birth_year: landing_type(USERS, "birth_year") = None
    gender: landing_type(USERS, "gender") = None
    country_code: landing_type(USERS, "country_code") = None
    plan: landing_type(USERS, "plan") = None
    churned_at: landing_type(USERS, "churned_at") = None


class User(BaseModel):
    """A user."""

    user_id: int
    signup_at: dt.datetime
    birth_year: int
    gender: str
    country_code: str
    plan: str
    churned_at: dt.datetime | None


# -- sessions ----------------------------------------------------------------------
class SessionCreate(_Body):
    """A viewing session of sim.sessions, with the rating given at its end if any."""

    session_id: landing_type(SESSIONS, "session_id")
    user_id: landing_type(SESSIONS, "user_id")
    title_id: landing_type(SESSIONS, "title_id")
    started_at: landing_type(SESSIONS, "started_at")
    ended_at: landing_type(SESSIONS, "ended_at")
    minutes_watched: landing_type(SESSIONS, "minutes_watched")
    completion_ratio: landing_type(SESSIONS, "completion_ratio")
    # optional here, though a rating's columns are required in sim.ratings: a session
    # may have none, and a rating comes with its time (the route checks the pair)
    rating: landing_type(RATINGS, "rating") | None = None
    rated_at: landing_type(RATINGS, "rated_at") | None = None


class Session(BaseModel):
    """A viewing session."""

    session_id: int
    user_id: int
    title_id: str
    started_at: dt.datetime
    ended_at: dt.datetime
    minutes_watched: float
    completion_ratio: float
    rating: int | None
    rated_at: dt.datetime | None


class SessionsWritten(BaseModel):
    """What a POST /v1/sessions wrote."""

    written: int
    sessions: list[Session]


class SessionPage(Page):
    """One page of a user's sessions, newest first."""

    items: list[Session]


# -- recommendations ---------------------------------------------------------------
class RecommendedTitle(BaseModel):
    """One title of a user's list."""

    rank: int
    title_id: str
    title_name: str | None
    title_type: str | None
    release_year: int | None
    imdb_score: float | None
    score: float


class Recommendations(BaseModel):
    """A user's list: the newest run's, or the cold-start list when that run has none."""

    user_id: int
    run_id: str | None = Field(description="The run the list comes from; null when computed.")
    published_at: dt.datetime | None = Field(
        description="When that run was published (the newest published run is served); "
        "null when computed."
    )
    is_cold_start: bool
    items: list[RecommendedTitle]


class SimilarTitle(BaseModel):
    """A title near another by the title vectors of a run (cosine)."""

    rank: int
    title_id: str
    title_name: str | None
    title_type: str | None
    release_year: int | None
    similarity: float


class SimilarTitles(BaseModel):
    """The titles nearest one title."""

    title_id: str
    run_id: str
    items: list[SimilarTitle]


class RecommendationRow(_Body):
    """One recommended title of a user's list (the run id is the batch's)."""

    user_id: landing_type(RECOMMENDATION_ROWS, "user_id")
    title_id: landing_type(RECOMMENDATION_ROWS, "title_id")
    rank: landing_type(RECOMMENDATION_ROWS, "rank")
    score: landing_type(RECOMMENDATION_ROWS, "score")
    is_cold_start: landing_type(RECOMMENDATION_ROWS, "is_cold_start")


class RecommendationBatch(_Body):
    """Rows of one run, written together (all or none): each user's whole list, ranks 1
    to n (recs.recommendations keeps a user's list of a run as one row)."""

    run_id: landing_type(RECOMMENDATION_ROWS, "run_id")
    rows: list[RecommendationRow] = Field(min_length=1, max_length=MAX_BATCH)


class RunToBegin(_Body):
    """A run to begin (or to begin again, dropping its rows)."""

    run_id: landing_type(RECOMMENDATION_ROWS, "run_id")


class RunBegun(BaseModel):
    """A run begun, unpublished."""

    run_id: str
    replaced: int = Field(description="Recommended titles the run had before (now dropped).")


class RunPublished(BaseModel):
    """A run published."""

    run_id: str
    published: bool


class Written(BaseModel):
    """How many rows a write wrote."""

    written: int


class Deleted(BaseModel):
    """How many rows a delete deleted."""

    deleted: int


# -- health ------------------------------------------------------------------------
class Health(BaseModel):
    """Whether the API reaches the database as each role it uses."""

    status: Literal["ok", "unavailable"]
    database: dict[str, str] = Field(description="`ok`, or why not, by role.")
