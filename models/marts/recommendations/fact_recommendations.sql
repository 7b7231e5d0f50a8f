{{
    config(
        materialized='view',
        tags=['recommendations']
    )
}}

-- A view, not a copy: a run is ten titles per user, so a table would hold
-- every run twice (at a million users a build took 106 s and 2.1 GB to copy
-- one run of 10 million rows). recs.recommendations, one partition per run,
-- already holds the keys and constraints; a user's list in a run is a look-up
-- of its primary key (run_id, user_id), unnested here, and each title's
-- attributes a look-up of dim_titles.

with

published_runs as (

    select
        run_id,
        published_at
    from {{ ref('stg_recs__runs') }}
    where published_at is not null

),

lists as (

    select * from {{ ref('stg_recs__recommendations') }}

),

-- Each list a row per title: its position is its rank, and its score is at
-- the same position of the scores.
recommendations as (

    select
        run_id,
        user_id,
        cast(listed.recommendation_rank as smallint) as recommendation_rank,
        listed.title_id,
        {{ list_element_at('recommendation_scores', 'listed.recommendation_rank') }}
            as recommendation_score,
        is_cold_start
    from lists
    {{ numbered_list_elements('recommended_title_ids', 'title_id', 'recommendation_rank') }}

),

titles as (

    select * from {{ ref('dim_titles') }}

),

main_genres as (

    select
        title_id,
        genre_id as main_genre_id
    from {{ ref('bridge_title_genres') }}
    where is_main_genre

),

final as (

    select
        recommendations.run_id,
        recommendations.user_id,
        recommendations.recommendation_rank,
        recommendations.title_id,
        titles.title_name,
        titles.title_type,
        titles.release_year,
        main_genres.main_genre_id,
        titles.imdb_score,
        titles.is_all_time_best,
        titles.is_year_best,
        recommendations.recommendation_score,
        recommendations.is_cold_start,
        published_runs.published_at as run_published_at
    from recommendations
    inner join published_runs
        on recommendations.run_id = published_runs.run_id
    left join titles
        on recommendations.title_id = titles.title_id
    left join main_genres
        on recommendations.title_id = main_genres.title_id

)

select * from final
