{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=var('refresh_genre_viewing', none),
        pre_hook=kept_per_user_pre_hooks('agg_genre_viewing', 'genre_id'),
        post_hook=kept_per_user_post_hooks('agg_user_title_viewing', 'agg_genre_viewing', 'genre_id')
    )
}}

-- Read by the pre-hook that gathers the users whose viewing changed. A
-- catalogue that gives a watched title another main genre makes `recdb
-- build` rebuild this model whole (var refresh_genre_viewing,
-- recdb/warehouse/build.py):
-- depends_on: {{ ref('stg_sim__sessions') }}
-- depends_on: {{ ref('stg_sim__deleted_sessions') }}
-- depends_on: {{ ref('stg_sim__ratings') }}
-- depends_on: {{ ref('stg_sim__deleted_ratings') }}

with

{% if is_incremental() -%}

    -- The pairs of the users whose sessions were written, rated or deleted
    -- since the last build (see incremental_by_commit); each user
    -- recomputed whole. Materialized, so that they are joined to the genres
    -- once: taking each user for hundreds of pairs, PostgreSQL joined the
    -- genres to every user's pairs apart (175 s for 184,624 users at 100M
    -- sessions).
    pairs as materialized (

        {{ rows_of_users_with_changed_viewing(ref('agg_user_title_viewing')) }}

    ),

{%- else -%}

    pairs as (

        select * from {{ ref('agg_user_title_viewing') }}

    ),

{%- endif %}

-- Each pair counts toward its title's main genre only (a title without
-- genres toward none).
main_genres as (

    select
        title_id,
        genre_id
    from {{ ref('bridge_title_genres') }}
    where is_main_genre

),

final as (

    select
        pairs.user_id,
        main_genres.genre_id,
        count(*) as title_count,
        cast(sum(pairs.session_count) as bigint) as session_count,
        {{ exact_sum('pairs.minutes_watched', '1e-6') }} as minutes_watched
    from pairs
    inner join main_genres
        on pairs.title_id = main_genres.title_id
    group by pairs.user_id, main_genres.genre_id

)

select * from final
