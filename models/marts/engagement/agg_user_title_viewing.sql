{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=kept_per_user_pre_hooks('agg_title_viewing', 'title_id', grain='pair'),
        post_hook=kept_per_user_post_hooks('fact_sessions', 'agg_title_viewing', 'title_id', grain='pair')
    )
}}

-- Read by the pre-hook that gathers the pairs whose viewing changed:
-- depends_on: {{ ref('stg_sim__sessions') }}
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}
-- depends_on: {{ ref('stg_sim__ratings') }}
-- depends_on: {{ ref('stg_sim__deleted_ratings') }}

with

{% if is_incremental() -%}

    -- The sessions of the (user, title) pairs of sessions written, rated or
    -- deleted since the last build (see incremental_by_commit), read by user.
    -- Each pair is recomputed whole: the pre-hook deleted its row, and these
    -- are appended.
    sessions as (

        {{ rows_of_users_with_changed_viewing(ref('fact_sessions'), grain='pair') }}

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
        cast(sum(rating) as {{ type_double() }}) / nullif(count(rating), 0) as mean_rating,
        min(started_at) as first_started_at,
        max(started_at) as last_started_at
    from sessions
    group by user_id, title_id

)

select * from final
