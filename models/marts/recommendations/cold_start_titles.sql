{{
    config(
        materialized='table',
        tags=['recommendations']
    )
}}

-- The recommender's cold-start list (recommender.model.cold_start_list), built
-- once per build so that the web API reads 100 rows instead of aggregating
-- fact_sessions inside a request: all-time best first, then year best, then
-- the rest; within each, by distinct viewers, ties by title_id.

with

-- Titles on the service: a retired one is recommended no more.
titles as (

    select * from {{ ref('dim_titles') }}
    where not is_retired

),

-- Distinct users per title, counted once per build in agg_title_viewing.
title_viewers as (

    select
        title_id,
        viewer_count
    from {{ ref('agg_title_viewing') }}

),

title_counts as (

    select
        titles.title_id,
        titles.title_name,
        titles.title_type,
        titles.release_year,
        titles.imdb_score,
        titles.is_all_time_best,
        titles.is_year_best,
        coalesce(title_viewers.viewer_count, 0) as viewer_count
    from titles
    left join title_viewers
        on titles.title_id = title_viewers.title_id

),

-- The recommender's arithmetic, in double precision as numpy's: 2, 1 or 0
-- for the best-of group, plus viewers over (1 + the most viewers of a title).
scored as (

    select
        *,
        case
            when is_all_time_best then 2
            when is_year_best then 1
            else 0
        end
        + cast(viewer_count as {{ type_double() }})
        / (1 + max(viewer_count) over ()) as cold_start_score
    from title_counts

),

-- Ties by title_id in byte order, as the recommender orders its titles,
-- whatever the database's default collation.
ranked as (

    select
        *,
        cast(row_number() over (
            order by cold_start_score desc, {{ in_byte_order('title_id') }}
        ) as {{ dbt.type_int() }}) as cold_start_rank
    from scored

),

final as (

    select
        cold_start_rank,
        title_id,
        title_name,
        title_type,
        release_year,
        imdb_score,
        is_all_time_best,
        is_year_best,
        viewer_count,
        cold_start_score
    from ranked
    where cold_start_rank <= 100

)

select * from final
