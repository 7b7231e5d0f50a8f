{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='session_id',
        on_schema_change='fail',
        indexes=[{'columns': ['loaded_seq']}],
        pre_hook="{{ lock_for_consistent_read([ref('stg_sim__sessions'), ref('stg_sim__ratings')]) }}"
    )
}}

{%- if is_incremental() %}
    {%- set watermark = incremental_watermark('loaded_seq') %}
{%- else %}
    {%- set watermark = 0 %}
{%- endif %}

with

sessions as (

    select * from {{ ref('stg_sim__sessions') }}

),

ratings as (

    select * from {{ ref('stg_sim__ratings') }}

),

{% if is_incremental() -%}

    -- Sessions written or updated since the fact's last build, and sessions
    -- whose rating was: each read through its landing table's loaded_seq index.
    -- The staging views are named again rather than through the CTEs above: a
    -- CTE referenced twice is materialised (scanned in full) by PostgreSQL.
    changed_sessions as (

        select session_id
        from {{ ref('stg_sim__sessions') }}
        where loaded_seq > {{ watermark }}

        union

        select session_id
        from {{ ref('stg_sim__ratings') }}
        where loaded_seq > {{ watermark }}

    ),

{% endif -%}

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
    {%- if is_incremental() %}
    inner join changed_sessions
        on sessions.session_id = changed_sessions.session_id
    {%- endif %}
    left join ratings
        on sessions.session_id = ratings.session_id

)

select * from final
