{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='merge',
        unique_key='title_id',
        on_schema_change='fail',
        pre_hook=[read_from_one_snapshot()],
        post_hook=viewing_per_group_post_hooks('dim_titles', 'title_id')
    )
}}

-- Viewing per title, every title of the catalogue (zeros where nobody
-- watched), from agg_user_title_viewing, one row per viewer and title, so
-- that distinct viewers are a count, not a distinct. Incremental builds add
-- the changes agg_user_title_viewing recorded (see viewing_deltas.sql).

{{ viewing_per_group(ref('dim_titles'), 'title_id', ref('agg_user_title_viewing')) }}
