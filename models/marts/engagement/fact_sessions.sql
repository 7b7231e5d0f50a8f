{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='session_id',
        on_schema_change='fail',
        indexes=[{'columns': ['loaded_seq']}, {'columns': ['user_id']}],
        pre_hook="{{ lock_for_consistent_read([ref('stg_sim__sessions'), ref('stg_sim__ratings')]) }}",
        post_hook="{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}"
    )
}}

{%- set watermark = incremental_watermark('loaded_seq') %}

with

{% if is_incremental() -%}

    -- Sessions written or updated since the fact's last build, and sessions
    -- whose rating was: each found through its landing table's loaded_seq index.
    changed_sessions as (

        select session_id as changed_session_id
        from {{ ref('stg_sim__sessions') }}
        where loaded_seq > {{ watermark }}

        union

        select session_id as changed_session_id
        from {{ ref('stg_sim__ratings') }}
        where loaded_seq > {{ watermark }}

    ),

    -- Their session and rating rows, looked up by key: a lateral subquery per
    -- changed session (changed_session_id is the outer row's), so the work
    -- grows with the change, not with the table. `limit 1` (a key has one
    -- row) also keeps PostgreSQL from turning the lookup into a join, which
    -- it would answer by scanning the whole table. (noqa ST05: a lateral
    -- subquery cannot be a CTE.)
    sessions as (

        select session_by_key.*
        from changed_sessions
        cross join lateral (  -- noqa: ST05
            select *
            from {{ ref('stg_sim__sessions') }}
            where session_id = changed_session_id
            order by session_id
            limit 1
        ) as session_by_key

    ),

    ratings as (

        select rating_by_key.*
        from changed_sessions
        cross join lateral (  -- noqa: ST05
            select *
            from {{ ref('stg_sim__ratings') }}
            where session_id = changed_session_id
            order by session_id
            limit 1
        ) as rating_by_key

    ),

{%- else -%}

    sessions as (

        select * from {{ ref('stg_sim__sessions') }}

    ),

    ratings as (

        select * from {{ ref('stg_sim__ratings') }}

    ),

{%- endif %}

final as (

    select
        sessions.session_id,
        sessions.user_id,
        sessions.title_id,
        sessions.started_at,
        sessions.ended_at,
        sessions.minutes_watched,
        sessions.completion_ratio,
        ratings.rating,
        ratings.rated_at,
        case
            when ratings.loaded_seq > sessions.loaded_seq then ratings.loaded_seq
            else sessions.loaded_seq
        end as loaded_seq,
        cast({{ watermark }} as {{ dbt.type_bigint() }}) as load_watermark_seq
    from sessions
    left join ratings
        on sessions.session_id = ratings.session_id

)

select * from final
