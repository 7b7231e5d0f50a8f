{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='merge',
        unique_key='plan',
        on_schema_change='fail',
        pre_hook=[read_from_one_snapshot()],
        post_hook=viewing_per_group_post_hooks(none, 'plan', 'user_count')
    )
}}

-- Viewing per subscription plan (users' current plan), users without any
-- session counted as watching nothing, from agg_user_viewing, one row per
-- user with their plan. Incremental builds add the changes agg_user_viewing
-- recorded (see viewing_deltas.sql); a plan nobody is on any more leaves.

{{ viewing_per_group(
    none, 'plan', ref('agg_user_viewing'),
    count_column='user_count', churned_column='churned_user_count'
) }}
