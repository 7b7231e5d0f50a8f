{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='run_id',
        on_schema_change='fail',
        tags=['recommendations'],
        indexes=[{'columns': ['loaded_seq']}, {'columns': ['user_id']}],
        pre_hook="{{ lock_for_consistent_read([ref('stg_recs__recommendations')]) }}",
        post_hook="{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}"
    )
}}

{%- set watermark = incremental_watermark('loaded_seq') %}

with

{% if is_incremental() -%}

    -- Runs with a row written since the last build (a new run, or a run id
    -- written again, which replaces all its rows): each is rebuilt whole,
    -- and delete+insert on run_id drops the rows it had here before.
    changed_runs as (

        select distinct run_id as changed_run_id
        from {{ ref('stg_recs__recommendations') }}
        where loaded_seq > {{ watermark }}

    ),

    recommendations as (

        select recommendations.*
        from {{ ref('stg_recs__recommendations') }} as recommendations
        inner join changed_runs
            on recommendations.run_id = changed_runs.changed_run_id

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
        recommendations.loaded_seq,
        cast({{ watermark }} as {{ dbt.type_bigint() }}) as load_watermark_seq
    from recommendations
    left join titles
        on recommendations.title_id = titles.title_id
    left join main_genres
        on recommendations.title_id = main_genres.title_id

)

select * from final
