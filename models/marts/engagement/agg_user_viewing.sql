{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=kept_per_user_pre_hooks('agg_plan_viewing', 'plan', grain='subscriber'),
        post_hook=kept_per_user_post_hooks(
            'agg_user_title_viewing', 'agg_plan_viewing', 'plan', grain='subscriber'
        )
    )
}}

-- Read by the pre-hook that gathers the users whose viewing or subscription
-- changed:
-- depends_on: {{ ref('stg_sim__sessions') }}
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}
-- depends_on: {{ ref('stg_sim__ratings') }}
-- depends_on: {{ ref('stg_sim__deleted_ratings') }}
-- depends_on: {{ ref('stg_sim__users') }}
-- depends_on: {{ ref('stg_sim__deleted_users') }}

with

users as (

    {% if is_incremental() -%}
        -- The users whose sessions were written, rated or deleted since the
        -- last build, or who signed up, changed plan, churned or left since
        -- (see incremental_by_commit), each looked up by key and recomputed
        -- whole: the pre-hook deleted their rows, and these are appended.
        {{ rows_of_users_with_changed_viewing(ref('dim_users')) }}
    {%- else -%}
        select * from {{ ref('dim_users') }}
    {%- endif %}

),

pairs as (

    select * from {{ ref('agg_user_title_viewing') }}

),

{% if is_incremental() -%}

    -- Each user's pairs summed by key: joined to the users' aggregate,
    -- PostgreSQL summed every changed user's pairs again for each user
    -- (110 s at 10M sessions). (noqa ST05: a lateral subquery cannot be a
    -- CTE.)
    final as (

        select
            users.user_id,
            users.plan,
            users.is_churned,
            users_viewing.title_count,
            users_viewing.session_count,
            users_viewing.minutes_watched
        from users
        cross join lateral (  -- noqa: ST05
            select
                count(*) as title_count,
                cast(coalesce(sum(session_count), 0) as bigint) as session_count,
                coalesce({{ exact_sum('minutes_watched', '1e-6') }}, 0) as minutes_watched
            from pairs
            where pairs.user_id = users.user_id  -- noqa: RF03
        ) as users_viewing

    )

{%- else -%}

    viewing as (

        select
            user_id,
            count(*) as title_count,
            cast(sum(session_count) as bigint) as session_count,
            {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
        from pairs
        group by user_id

    ),

    -- Every user, those without sessions watching nothing.
    final as (

        select
            users.user_id,
            users.plan,
            users.is_churned,
            coalesce(viewing.title_count, 0) as title_count,
            coalesce(viewing.session_count, 0) as session_count,
            coalesce(viewing.minutes_watched, 0) as minutes_watched
        from users
        left join viewing
            on users.user_id = viewing.user_id

    )

{%- endif %}

select * from final
