{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='merge',
        unique_key='session_id',
        on_schema_change='fail',
        indexes=[{'columns': ['user_id']}],
        pre_hook=[read_from_one_snapshot()],
        post_hook=[
            "{% if is_incremental() %}{{ delete_deleted_rows('session_id', [ref('stg_sim__deleted_sessions')], ref('stg_sim__sessions')) }}{% endif %}",
            "{{ record_build_watermark(also_before=['dim_users']) }}",
            "{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}",
        ]
    )
}}

-- Read only by incremental builds and the post-hook, which removes deleted rows:
-- depends_on: {{ ref('stg_sim__deleted_ratings') }}
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}

with

{% if is_incremental() -%}

    -- Sessions written since the last build (see incremental_by_commit),
    -- through the index of their stamps. Deleted sessions leave in the
    -- post-hook.
    written_sessions as (

        select * from {{ ref('stg_sim__sessions') }}
        where {{ changed_since_last_build('row_xid') }}

    ),

    -- Sessions whose rating was written or deleted since, and not the session:
    -- each looked up by key (a lateral subquery, `limit 1` as a key has one
    -- row), never a hash of every session. (noqa ST05: a lateral subquery
    -- cannot be a CTE.)
    rerated_session_ids as (

        {{ sessions_rerated_since_last_build() }}

        except

        select session_id from written_sessions

    ),

    rerated_sessions as (

        select session_by_key.*
        from rerated_session_ids
        cross join lateral (  -- noqa: ST05
            select *
            from {{ ref('stg_sim__sessions') }} as landing
            where landing.session_id = rerated_session_ids.session_id  -- noqa: RF03
            limit 1  -- noqa: AM09
        ) as session_by_key

    ),

    sessions as (

        select * from written_sessions
        union all
        select * from rerated_sessions

    ),

    -- Their ratings, each looked up by key: a hash join read every rating
    -- (1.1 s for 100,000 changed sessions of 10 million, 2 million ratings;
    -- the look-ups 0.2 s), and PostgreSQL, costing a look-up as a disk read,
    -- chose it whatever the size of the change. (noqa ST05: a lateral
    -- subquery cannot be a CTE.)
    ratings as (

        select rating_by_key.*
        from sessions
        cross join lateral (  -- noqa: ST05
            select *
            from {{ ref('stg_sim__ratings') }} as landing
            where landing.session_id = sessions.session_id  -- noqa: RF03
            limit 1  -- noqa: AM09
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

-- Only sessions of users dim_users has: it was built from an older snapshot,
-- and a session of a newer user waits for the next build (the watermark
-- recorded is then dim_users', so that build takes it again).
users as (

    select user_id from {{ ref('dim_users') }}

),

{% if is_incremental() -%}

    -- Each session's user looked up by key: hashing every user grew with them
    -- (0.3 s at 1 million users). (noqa ST05: a lateral subquery cannot be a
    -- CTE.)
    sessions_of_known_users as (

        select sessions.*
        from sessions
        cross join lateral (  -- noqa: ST05
            select users.user_id  -- noqa: RF03
            from users
            where users.user_id = sessions.user_id  -- noqa: RF03
            offset 0  -- noqa: AM09
        ) as known_user

    ),

{%- else -%}

    sessions_of_known_users as (

        select sessions.*
        from sessions
        inner join users
            on sessions.user_id = users.user_id

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
        ratings.rated_at
    from sessions_of_known_users as sessions
    left join ratings
        on sessions.session_id = ratings.session_id

)

select * from final
