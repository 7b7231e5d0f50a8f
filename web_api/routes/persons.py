"""``/v1/persons``: search persons by name, with how many titles each is credited on; a
person with every credit."""

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
from web_api.schemas import CreditRole, PersonDetail, PersonPage

router = APIRouter(prefix="/v1/persons", tags=["persons"], responses=READ_ERRORS)

PersonId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A person id.")]

_SEARCH = sql.SQL(
    "select p.person_id, p.person_name, count(distinct c.title_id) as title_count "
    "from marts.dim_persons as p join marts.dim_credits as c on c.person_id = p.person_id "
    "{where} group by p.person_id, p.person_name "
    "order by title_count desc, p.person_id limit %s offset %s"
)

_PERSON_QUERY = """
select
    p.person_id, p.person_name,
    coalesce((
        select json_agg(json_build_object(
            'title_id', c.title_id, 'title_name', t.title_name, 'title_type', t.title_type,
            'release_year', t.release_year, 'credit_role', c.credit_role,
            'character_name', c.character_name
        ) order by t.release_year desc nulls last, c.title_id, c.credit_role, c.character_name)
        from marts.dim_credits as c
        join marts.dim_titles as t on c.title_id = t.title_id
        where c.person_id = p.person_id
    ), '[]') as credits
from marts.dim_persons as p
where p.person_id = %s
"""


@router.get("", response_model=PersonPage, summary="Search persons")
async def search_persons(
    request: Request,
    who: Reader,
    q: NameWords = None,
    role: Annotated[
        CreditRole | None, Query(description="Only credits in this role: actor or director.")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict:
    """Persons whose name contains `q` (any case), those credited on the most titles (in
    `role`, when given) first. Paginated: `next_offset` is null on the last page."""
    where: list[str] = []
    params: list[object] = []
    if q is not None:
        where.append("p.person_name ilike %s")
        params.append(like_pattern(q))
    if role is not None:
        where.append("c.credit_role = %s")
        params.append(role)
    query = _SEARCH.format(where=where_clause(where))
    rows = await database(request).dicts(who.role, query, [*params, limit + 1, offset])
    return page(rows, limit, offset)


@router.get("/{person_id}", response_model=PersonDetail, summary="A person")
async def get_person(request: Request, who: Reader, person_id: PersonId) -> dict:
    """A person of marts.dim_persons with every credit, the newest titles first (a title's
    list: `/v1/titles?person=`)."""
    rows = await database(request).dicts(who.role, _PERSON_QUERY, [person_id])
    if not rows:
        raise ApiHttpError(404, f"no person {person_id}")
    return rows[0]
