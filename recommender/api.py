"""Looking results up: a user's list of a run, and titles similar to a title."""

from __future__ import annotations

import numpy as np
import pandas as pd

import python_api
from recdb.core.runs import check_run_id, latest_run_id
from recommender.errors import RecommenderError, UnknownTitleError, UnknownUserError
from recommender.model import load_model

_USER_QUERY = "select count(*) as n from marts.dim_users where user_id = %s"
_LIST_QUERY = """
select
    listed.rank,
    listed.title_id,
    titles.title_name,
    recs.scores[listed.rank] as score,
    recs.is_cold_start
from recs.recommendations as recs
cross join lateral unnest(recs.title_ids) with ordinality as listed (title_id, rank)
left join marts.dim_titles as titles
    on listed.title_id = titles.title_id
where recs.run_id = %s and recs.user_id = %s
order by listed.rank
"""
_RUN_QUERY = "select exists (select 1 from recs.recommendations where run_id = %s) as found"
_NAMES_QUERY = 'select title_id, title_name from marts.dim_titles order by title_id collate "C"'


def _connected(
    warehouse: python_api.Warehouse | None,
) -> tuple[python_api.Warehouse, bool]:
    if warehouse is not None:
        return warehouse, False
    return python_api.connect(role="scientist"), True


def user_recommendations(
    user_id: int, run_id: str | None = None, *, warehouse: python_api.Warehouse | None = None
) -> pd.DataFrame:
    """User ``user_id``'s list in run ``run_id`` (default: the newest saved run), from
    recs.recommendations: columns rank, title_id, title_name, score, is_cold_start.

    UnknownUserError when marts.dim_users has no such user.
    """
    if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer):
        raise UnknownUserError(user_id)
    run_id = latest_run_id() if run_id is None else check_run_id(run_id)
    warehouse, own = _connected(warehouse)
    try:
        if int(warehouse.read(_USER_QUERY, [int(user_id)])["n"].iloc[0]) == 0:
            raise UnknownUserError(int(user_id))
        rows = warehouse.read(_LIST_QUERY, [run_id, int(user_id)])
        run_exists = rows.empty and bool(warehouse.read(_RUN_QUERY, [run_id])["found"].iloc[0])
    finally:
        if own:
            warehouse.close()
    if rows.empty and not run_exists:
        raise RecommenderError(
            f"no run {run_id!r} in recs.recommendations: run `recdb recommend --run-id {run_id}`"
        )
    if rows.empty:
        raise RecommenderError(
            f"run {run_id!r} has no list for user {user_id} (a user added after the run?): "
            "run `recdb recommend` again"
        )
    return rows


def similar_titles(
    title_id: str,
    k: int = 10,
    run_id: str | None = None,
    *,
    with_names: bool = True,
    warehouse: python_api.Warehouse | None = None,
) -> pd.DataFrame:
    """The ``k`` titles nearest ``title_id`` by the title vectors of run ``run_id`` (default:
    the newest saved run), by cosine similarity: columns rank, title_id, (title_name,)
    similarity.

    UnknownTitleError when the model has no such title.
    """
    model = load_model(run_id)
    try:
        similar = model.similar_titles(str(title_id), k)
    except UnknownTitleError:
        raise UnknownTitleError(title_id, where=f"the titles of run {model.run_id}") from None
    if not with_names:
        return similar
    warehouse, own = _connected(warehouse)
    try:
        names = warehouse.read(_NAMES_QUERY)
    finally:
        if own:
            warehouse.close()
    named = similar.merge(names, on="title_id", how="left")
    return named[["rank", "title_id", "title_name", "similarity"]]
