{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='user_id',
        on_schema_change='fail',
        pre_hook=[read_from_one_snapshot()],
        post_hook=[
            "{% if is_incremental() %}{{ delete_deleted_rows('user_id', [ref('stg_sim__deleted_sessions')], ref('fact_sessions'), deletions_watermark()) }}{% endif %}",
            "{{ record_viewing_watermarks('fact_sessions') }}",
            "{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}",
        ]
    )
}}

-- Read only by incremental builds and the post-hook, which removes the users
-- left without sessions:
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}

with

{% if is_incremental() -%}

    -- Users whose sessions changed since the last build (see
    -- incremental_by_commit): sessions fact_sessions wrote or rewrote (a new
    -- rating rewrites its session), and sessions deleted. Each is recomputed
    -- whole: delete+insert on user_id replaces the user's rows.
    changed_users as (

        {{ users_with_changed_viewing(ref('fact_sessions')) }}

    ),

    -- Their sessions, looked up by user (a lateral subquery on fact_sessions'
    -- user_id index), as PostgreSQL cannot estimate how few users the xmin
    -- filters keep and would otherwise hash every session (at 10 million
    -- sessions, 49 s where the look-ups take 1 s). `offset 0` keeps the
    -- subquery a look-up: without it PostgreSQL flattens it into that hash
    -- join. (noqa ST05: a lateral subquery cannot be a CTE.)
    sessions as (

        select users_sessions.*
        from changed_users
        cross join lateral (  -- noqa: ST05
            select *
            from {{ ref('fact_sessions') }} as facts
            where facts.user_id = changed_users.user_id  -- noqa: RF03
            offset 0  -- noqa: AM09
        ) as users_sessions

    ),

{%- else -%}

    sessions as (

        select * from {{ ref('fact_sessions') }}

    ),

{%- endif %}

-- Minutes and completion ratios summed exactly, in the units the recommender
-- sums them in (recommender/confidence.py), so both give the same pairs.
final as (

    select
        user_id,
        title_id,
        count(*) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched,
        {{ exact_sum('completion_ratio', '1e-9') }} / count(*) as mean_completion_ratio,
        count(rating) as rated_session_count,
        cast(sum(rating) as double precision) / nullif(count(rating), 0) as mean_rating,
        min(started_at) as first_started_at,
        max(started_at) as last_started_at
    from sessions
    group by user_id, title_id

)

select * from final
