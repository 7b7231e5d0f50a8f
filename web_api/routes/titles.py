"""``/v1/titles``: a title with its genres, countries and credits; search; similar titles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from psycopg import sql

from web_api.auth import Reader
from web_api.errors import ApiHttpError
from web_api.routes.common import (
    READ_ERRORS,
    Limit,
    NameWords,
    Offset,
    database,
    like_pattern,
    page,
    where_clause,
)
from web_api.schemas import NO_NUL, SimilarTitles, Source, TitleDetail, TitlePage, TitleType

router = APIRouter(prefix="/v1/titles", tags=["titles"], responses=READ_ERRORS)

TitleId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="A title id (tm…, ts…).")
]

_SEARCH = sql.SQL(
    "select t.title_id, t.title_name, t.title_type, t.release_year, t.runtime_minutes, "
    "t.imdb_score::float8 as imdb_score, t.is_year_best, t.is_all_time_best, "
    "t.is_retired, t.source "
    "from marts.dim_titles as t {where} "
    "order by t.imdb_vote_count desc nulls last, t.title_id limit %s offset %s"
)

_TITLE_QUERY = """
select
    t.title_id, t.title_name, t.title_type, t.release_year, t.runtime_minutes,
    t.imdb_score::float8 as imdb_score, t.is_year_best, t.is_all_time_best,
    t.is_retired, t.source,
    t.age_certification, t.season_count, t.imdb_id, t.imdb_vote_count,
    t.released_at, t.retired_at,
    coalesce((
        select json_agg(json_build_object(
            'genre_id', g.genre_id, 'genre_name', d.genre_name, 'is_main_genre', g.is_main_genre
        ) order by g.genre_position)
        from marts.bridge_title_genres as g
        left join marts.dim_genres as d on g.genre_id = d.genre_id
        where g.title_id = t.title_id
    ), '[]') as genres,
    coalesce((
        select json_agg(json_build_object(
            'country_code', c.country_code, 'country_name', d.country_name,
            'is_main_country', c.is_main_country
        ) order by c.country_position)
        from marts.bridge_title_prod_countries as c
        left join marts.dim_prod_countries as d on c.country_code = d.country_code
        where c.title_id = t.title_id
    ), '[]') as countries,
    coalesce((
        select json_agg(json_build_object(
            'person_id', c.person_id, 'person_name', p.person_name,
            'credit_role', c.credit_role, 'character_name', c.character_name,
            'source', c.source
        ) order by c.credit_role, p.person_name, c.person_id, c.character_name)
        from marts.dim_credits as c
        left join marts.dim_persons as p on c.person_id = p.person_id
        where c.title_id = t.title_id
    ), '[]') as credits
from marts.dim_titles as t
where t.title_id = %s
"""


def search_query(
    *,
    q: str | None,
    genre: str | None,
    country: str | None,
    year: int | None,
    title_type: str | None,
    is_all_time_best: bool | None,
    limit: int,
    offset: int,
    person: int | None = None,
    source: str | None = None,
    is_retired: bool | None = None,
) -> tuple[sql.Composed, list[object]]:
    """The search's SQL and its parameters: fixed fragments for the filters given, every
    value bound by PostgreSQL (never pasted into the text)."""
    where: list[str] = []
    params: list[object] = []
    if q is not None:
        where.append("t.title_name ilike %s")
        params.append(like_pattern(q))
    if genre is not None:
        where.append(
            "exists (select 1 from marts.bridge_title_genres as g "
            "where g.title_id = t.title_id and g.genre_id = %s)"
        )
        params.append(genre.lower())
    if country is not None:
        where.append(
            "exists (select 1 from marts.bridge_title_prod_countries as c "
            "where c.title_id = t.title_id and c.country_code = %s)"
        )
        params.append(country.upper())
    if person is not None:
        where.append(
            "exists (select 1 from marts.dim_credits as c "
            "where c.title_id = t.title_id and c.person_id = %s)"
        )
        params.append(person)
    if year is not None:
        where.append("t.release_year = %s")
        params.append(year)
    if title_type is not None:
        where.append("t.title_type = %s")
        params.append(title_type)
    if is_all_time_best is not None:
        where.append("t.is_all_time_best = %s")
        params.append(is_all_time_best)
    if source is not None:
        where.append("t.source = %s")
        params.append(source)
    if is_retired is not None:
        where.append("t.is_retired = %s")
        params.append(is_retired)
    query = _SEARCH.format(where=where_clause(where))
    return query, [*params, limit + 1, offset]


@router.get("", response_model=TitlePage, summary="Search titles")
async def search_titles(
    request: Request,
    who: Reader,
    q: NameWords = None,
    genre: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=NO_NUL, description="A genre id: `drama`."),
    ] = None,
    country: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z]{2}$", description="A production country code: `US`."),
    ] = None,
    year: Annotated[int | None, Query(ge=1900, le=2100, description="Release year.")] = None,
    person: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="A person id (`/v1/persons`): their titles."),
    ] = None,
    title_type: Annotated[TitleType | None, Query(alias="type", description="movie or show.")] = (
        None
    ),
    is_all_time_best: Annotated[
        bool | None, Query(description="Only titles on (or off) an all-time best list.")
    ] = None,
    source: Annotated[
        Source | None,
        Query(description="`catalog` (the loaded catalogue) or `simulation` (scientists')."),
    ] = None,
    is_retired: Annotated[
        bool | None,
        Query(description="`false`: leave retired titles out; `true`: only those."),
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict:
    """Titles whose name contains `q` (any case), with every other filter given; the most
    voted on IMDb first. Paginated: `next_offset` is null on the last page."""
    query, params = search_query(
        q=q,
        genre=genre,
        country=country,
        year=year,
        title_type=title_type,
        is_all_time_best=is_all_time_best,
        limit=limit,
        offset=offset,
        person=person,
        source=source,
        is_retired=is_retired,
    )
    rows = await database(request).dicts(who.role, query, params)
    return page(rows, limit, offset)


@router.get("/{title_id}", response_model=TitleDetail, summary="A title")
async def get_title(request: Request, who: Reader, title_id: TitleId) -> dict:
    """A title of marts.dim_titles with its genres, production countries and credits, where
    it comes from (`source`) and whether it is retired (as of the last `recdb build`)."""
    rows = await database(request).dicts(who.role, _TITLE_QUERY, [title_id])
    if not rows:
        raise ApiHttpError(404, f"no title {title_id!r}")
    return rows[0]


@router.get("/{title_id}/similar", response_model=SimilarTitles, summary="Similar titles")
async def similar_titles(
    request: Request,
    who: Reader,
    title_id: TitleId,
    k: Annotated[int, Query(ge=1, le=100, description="How many titles.")] = 10,
) -> dict:
    """The `k` titles nearest this one by cosine of the newest saved run's title vectors,
    retired titles left out."""
    db = database(request)
    found = await db.rows(
        who.role, "select 1 from marts.dim_titles where title_id = %s", [title_id]
    )
    if not found:
        raise ApiHttpError(404, f"no title {title_id!r}")
    # retired titles are recommended no more: left out, and as many more asked for
    retired = await request.app.state.retired.ids(db, who.role)
    run_id, similar = await request.app.state.similar.similar(title_id, k + len(retired))
    similar = [row for row in similar if row["title_id"] not in retired][:k]
    similar = [{**row, "rank": rank} for rank, row in enumerate(similar, start=1)]
    names = await db.dicts(
        who.role,
        "select title_id, title_name, title_type, release_year from marts.dim_titles "
        "where title_id = any(%s)",
        [[row["title_id"] for row in similar]],
    )
    by_id = {row["title_id"]: row for row in names}
    items = [
        {**by_id.get(row["title_id"], {"title_name": None, "title_type": None,
                                       "release_year": None}), **row}
        for row in similar
    ]  # fmt: skip
    return {"title_id": title_id, "run_id": run_id, "items": items}
