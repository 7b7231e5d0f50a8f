{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='run_id',
        on_schema_change='fail',
        tags=['recommendations'],
        indexes=[{'columns': ['run_published_at']}, {'columns': ['user_id']}],
        pre_hook=[read_from_one_snapshot()],
        post_hook=[
            "{% if is_incremental() %}{{ delete_deleted_rows('run_id', [ref('stg_recs__deleted_recommendations'), ref('stg_recs__deleted_runs'), ref('stg_recs__runs')], published_runs_with_rows()) }}{% endif %}",
            "{{ record_build_watermark() }}",
            "{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}",
        ]
    )
}}

-- Read only by incremental builds and the post-hook, which removes deleted rows:
-- depends_on: {{ ref('stg_recs__deleted_recommendations') }}
-- depends_on: {{ ref('stg_recs__deleted_runs') }}

with

published_runs as (

    select
        run_id,
        published_at
    from {{ ref('stg_recs__runs') }}
    where published_at is not null

),

{% if is_incremental() -%}

    -- Runs that changed since the last build (see incremental_by_commit): rows
    -- written (a new run, or a run id written again), a run published, or rows
    -- deleted. Each is rebuilt whole: delete+insert on run_id drops the rows
    -- this table had for it; a run left with no published rows leaves in the
    -- post-hook.
    changed_runs as (

        select run_id from {{ ref('stg_recs__recommendations') }}
        where {{ changed_since_last_build('row_xid') }}

        union

        select run_id from {{ ref('stg_recs__runs') }}
        where {{ changed_since_last_build('row_xid') }}

        union

        select run_id from {{ ref('stg_recs__deleted_recommendations') }}
        where {{ changed_since_last_build('row_xid') }}

    ),

    recommendations as (

        select recommendations.*
        from {{ ref('stg_recs__recommendations') }} as recommendations
        inner join changed_runs
            on recommendations.run_id = changed_runs.run_id

    ),

{%- else -%}

    recommendations as (

        select * from {{ ref('stg_recs__recommendations') }}

    ),

{%- endif %}

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
