{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='merge',
        unique_key='genre_id',
        on_schema_change='fail',
        pre_hook=[read_from_one_snapshot()],
        post_hook=viewing_per_group_post_hooks('dim_genres', 'genre_id')
    )
}}

-- Viewing per genre, each session counted toward its title's main genre only
-- (so no minute counts twice), every genre (zeros where nobody watched), from
-- agg_user_genre_viewing, one row per viewer and genre, so that distinct
-- viewers are a count, not a distinct. Incremental builds add the changes
-- agg_user_genre_viewing recorded (see viewing_deltas.sql).

{{ viewing_per_group(ref('dim_genres'), 'genre_id', ref('agg_user_genre_viewing')) }}
