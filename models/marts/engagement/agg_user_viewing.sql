{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=kept_per_user_pre_hooks(),
        post_hook=kept_per_user_post_hooks('agg_user_title_viewing')
    )
}}

-- Read by the pre-hook that gathers the users whose viewing changed:
-- depends_on: {{ ref('stg_sim__sessions') }}
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}
-- depends_on: {{ ref('stg_sim__ratings') }}
-- depends_on: {{ ref('stg_sim__deleted_ratings') }}

with

{% if is_incremental() -%}

    -- The pairs of the users whose sessions were written, rated or deleted
    -- since the last build (see incremental_by_commit); each user
    -- recomputed whole.
    pairs as (

        {{ rows_of_users_with_changed_viewing(ref('agg_user_title_viewing')) }}

    ),

{%- else -%}

    pairs as (

        select * from {{ ref('agg_user_title_viewing') }}

    ),

{%- endif %}

final as (

    select
        user_id,
        count(*) as title_count,
        cast(sum(session_count) as bigint) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
    from pairs
    group by user_id

)

select * from final
