"""``/v1/genres`` and ``/v1/countries``: the catalogue's genres and production countries,
each with how many titles it has, to browse or to filter ``/v1/titles`` by."""

from __future__ import annotations

from fastapi import APIRouter, Request
from psycopg import sql

from web_api.auth import Reader
from web_api.routes.common import (
    READ_ERRORS,
    Limit,
    NameWords,
    Offset,
    database,
    like_pattern,
    page,
)
from web_api.schemas import CountryPage, GenrePage

router = APIRouter(tags=["genres and countries"], responses=READ_ERRORS)


def facet_query(
    dimension: str, key: str, name: str, bridge: str, q: str | None
) -> tuple[sql.Composed, list[object]]:
    """Each row of ``marts.<dimension>`` with the number of titles ``marts.<bridge>`` gives
    it, the most titles first; with ``q``, only those whose name or key contains it. The
    names come from this module only, never from a request."""
    where, params = sql.SQL(""), []
    if q is not None:
        where = sql.SQL("where d.{name} ilike %s or d.{key} ilike %s").format(
            name=sql.Identifier(name), key=sql.Identifier(key)
        )
        params = [like_pattern(q)] * 2
    query = sql.SQL(
        "select d.{key}, d.{name}, count(b.title_id) as title_count "
        "from marts.{dimension} as d left join marts.{bridge} as b on b.{key} = d.{key} "
        "{where} group by d.{key}, d.{name} order by title_count desc, d.{key} "
        "limit %s offset %s"
    ).format(
        key=sql.Identifier(key),
        name=sql.Identifier(name),
        dimension=sql.Identifier(dimension),
        bridge=sql.Identifier(bridge),
        where=where,
    )
    return query, params


@router.get("/v1/genres", response_model=GenrePage, summary="Genres")
async def genres(
    request: Request, who: Reader, q: NameWords = None, limit: Limit = 20, offset: Offset = 0
) -> dict:
    """Genres (`genre_id` is what `/v1/titles?genre=` takes) with their title counts, the
    largest first; `q` filters by name or id. Paginated."""
    query, params = facet_query("dim_genres", "genre_id", "genre_name", "bridge_title_genres", q)
    rows = await database(request).dicts(who.role, query, [*params, limit + 1, offset])
    return page(rows, limit, offset)


@router.get("/v1/countries", response_model=CountryPage, summary="Production countries")
async def countries(
    request: Request, who: Reader, q: NameWords = None, limit: Limit = 20, offset: Offset = 0
) -> dict:
    """Production countries (`country_code` is what `/v1/titles?country=` takes) with their
    title counts, the largest first; `q` filters by name or code. Paginated."""
    query, params = facet_query(
        "dim_prod_countries", "country_code", "country_name", "bridge_title_prod_countries", q
    )
    rows = await database(request).dicts(who.role, query, [*params, limit + 1, offset])
    return page(rows, limit, offset)
